//! The production state machine in the simulator: [`LedgerState`] (sled, the real validation,
//! blocks, state hashes and membership), fed transactions signed by the identities of a dev
//! consortium (`pki::dev`).
//!
//! The consortium is generated once per process ([`dev`], cached: generating certificates is
//! slow) with [`DEV_NODES`] node identities; a run of `n` founders uses a genesis holding the
//! first `n` of them, so that the ledger's node set is Raft's founding membership. Each replica
//! has its own sled directory under the run's temporary directory.
//!
//! Crashes. The ledger is a durable state machine: the replica calls [`StateMachine::sync`]
//! before it lets the log go behind a snapshot that holds no state, and relies on nothing
//! else. A crash must therefore leave at least the state of the last sync and at most
//! everything applied; each block is one atomic sled batch, so any block boundary in between is
//! possible. [`LedgerMachine`] models the two ends: at every `sync` it copies the flushed sled
//! directory aside, and a crash reopens either that copy (everything after the sync lost) or a
//! copy of the flushed live directory (nothing lost). A copy of a flushed, quiescent sled
//! directory is exactly what sled's own recovery starts from after a power cut at that moment;
//! opening a copy (never the crashed directory itself) also sidesteps sled's file lock, which
//! a dropped handle releases only later, from a background thread.
//!
//! What this module deliberately is not: a second implementation of any ledger rule. It signs
//! and submits; the ledger decides.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use doc_workflow::DocumentKey;
use ledger::{Block, Genesis, Hash32, LedgerState, Outcome};
use pki::dev::{ConsortiumSpec, generate_consortium};
use pki::jws::Signer;
use replication::batch::Attestation;
use replication::error::StateMachineError;
use replication::rng::SplitMix64;
use replication::state_machine::{
    CommittedEntry, LogIndex, Membership, StateHash, StateMachine, StateSnapshot,
};
use serde_json::{Value, json};

use super::hash_chain::{SIM_BILLS, SimCommand};
use super::{MachineKind, MembershipRequest, Possessors, SimMachine, TxId};

/// Node identities of the dev consortium: enough for the largest run (7 founders) and a
/// joiner's member; nodes are spread over the members CARRIER, PORT, BANK in turn.
pub const DEV_NODES: usize = 7;

/// When the consortium's certificates start being valid: 2026-01-01T00:00:00Z.
pub const T0_S: i64 = 1_767_225_600;

/// Genesis time: one minute after the certificates and the initial CRLs were made.
pub const GENESIS_MS: u64 = (T0_S as u64 + 60) * 1000;

/// The network id every transaction names.
pub const NETWORK: &str = "silkline-sim";

/// Half the validity window of every transaction: longer than any run's virtual time.
const WINDOW_HALF_MS: u64 = 3_600_000;

/// The identities that act on bills: one user per party.
const USERS: [&str; 5] = ["carrier", "shipper", "consignee", "bank", "port"];

/// The parties those users act for (the codes a `TRANSFER` names).
const PARTIES: [&str; 5] = ["CARRIER", "SHIPPER", "CONSIGNEE", "BANK", "PORT"];

/// The admins of the members, who sign governance transactions.
const ADMINS: [&str; 3] = ["carrier-admin", "port-admin", "bank-admin"];

/// One client request in this many is governance by vote (`LedgerWorld::governance_request`).
const GOVERNANCE_ONE_IN: u64 = 8;

/// Envelopes remembered for replays (an exact resubmission, a reused nonce): enough to reach
/// back over a whole run's few dozen requests.
const REPLAYABLE_MAX: usize = 64;

/// The dev consortium: signers of every identity the simulator uses and a genesis per number
/// of founders. Built once per process.
pub struct Dev {
    /// `(identity name, signer)`.
    signers: Vec<(&'static str, Signer)>,
    /// `geneses[n - 1]`: the genesis of a network founded by nodes `1..=n`.
    geneses: Vec<Genesis>,
    /// `members[raft_id - 1]`: the admin identity of the member that runs node `raft_id`.
    admins: Vec<&'static str>,
}

impl Dev {
    fn signer(&self, name: &str) -> &Signer {
        &self
            .signers
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no dev identity {name}"))
            .1
    }

    /// The genesis of a network of `founders` nodes.
    pub fn genesis(&self, founders: u64) -> &Genesis {
        &self.geneses[founders as usize - 1]
    }
}

/// The process's dev consortium (generated on first use, in a temporary directory removed
/// once its keys are loaded).
pub fn dev() -> &'static Dev {
    static DEV: OnceLock<Dev> = OnceLock::new();
    DEV.get_or_init(|| generate_dev().expect("the dev consortium generates"))
}

fn generate_dev() -> SetupResult<Dev> {
    let dir = tempfile::tempdir()?;
    let consortium = generate_consortium(
        &ConsortiumSpec::dev(DEV_NODES),
        &dir.path().join("pki"),
        T0_S,
    )?;
    let mut signers = Vec::new();
    for name in USERS.iter().chain(ADMINS.iter()) {
        signers.push((*name, consortium.signer(name)?));
    }
    let addresses: Vec<String> = (0..DEV_NODES)
        .map(|n| format!("127.0.0.1:{}", 7101 + n))
        .collect();
    let full = Genesis::of_dev_consortium(&consortium, NETWORK, &addresses, GENESIS_MS)?;
    let geneses = (1..=DEV_NODES)
        .map(|n| {
            let mut genesis = full.clone();
            genesis.nodes.truncate(n);
            // Through JSON, as a node loads it (and validated there).
            Genesis::from_json(&serde_json::to_string(&genesis)?).map_err(Into::into)
        })
        .collect::<SetupResult<Vec<_>>>()?;
    let admins = full
        .nodes
        .iter()
        .map(|n| match n.member.as_str() {
            "CARRIER" => "carrier-admin",
            "PORT" => "port-admin",
            _ => "bank-admin",
        })
        .collect();
    Ok(Dev {
        signers,
        geneses,
        admins,
    })
}

/// The setup's few error types (pki, genesis, JSON, I/O), boxed: a failed setup only panics.
type SetupResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// One run's share of the ledger: its directory, genesis, and what its clients sent.
pub struct LedgerWorld {
    /// Every replica's sled directories live under it; removed with the run.
    dir: tempfile::TempDir,
    founders: u64,
    /// Directories made so far (each incarnation of a replica gets a new one).
    dirs_made: u64,
    /// Nonces drawn so far.
    nonces: u64,
    /// `(signer, nonce, envelope)` of recent requests, for replays.
    sent: Vec<(&'static str, String, Vec<u8>)>,
    /// The ids of the proposals sent (the hashes of their `PROPOSE` transactions), to vote on.
    proposals: Vec<String>,
}

impl LedgerWorld {
    fn next_dir(&mut self, node: u64) -> PathBuf {
        self.dirs_made += 1;
        self.dir
            .path()
            .join(format!("node{node}-{}", self.dirs_made))
    }

    fn genesis(&self) -> &'static Genesis {
        dev().genesis(self.founders)
    }

    /// Signs `body` (a document command or governance) as `who`, with `nonce`.
    fn sign(&mut self, who: &'static str, nonce: String, body: Value) -> Vec<u8> {
        let mut payload = json!({
            "network": NETWORK,
            "nonce": nonce,
            "notBefore": GENESIS_MS - WINDOW_HALF_MS,
            "notAfter": GENESIS_MS + WINDOW_HALF_MS,
        });
        for (k, v) in body.as_object().expect("an object") {
            payload[k] = v.clone();
        }
        let envelope = pki::jws::sign(&payload, dev().signer(who))
            .expect("a dev identity signs")
            .into_bytes();
        if self.sent.len() == REPLAYABLE_MAX {
            self.sent.remove(0);
        }
        self.sent.push((who, nonce, envelope.clone()));
        envelope
    }

    fn fresh_nonce(&mut self) -> String {
        self.nonces += 1;
        format!("{:032x}", self.nonces)
    }

    /// Governance by vote: a member admin's proposal (a parameter, a pause or a resume, against
    /// a configuration version that may be stale) or its vote on one proposed before, so that
    /// proposals are accepted, rejected, superseded and refused under the run's faults.
    fn governance_request(&mut self, rng: &mut SplitMix64) -> Vec<u8> {
        let who = ADMINS[rng.below(ADMINS.len() as u64) as usize];
        let nonce = self.fresh_nonce();
        if !self.proposals.is_empty() && rng.below(3) > 0 {
            let id = self.proposals[rng.below(self.proposals.len() as u64) as usize].clone();
            let approve = rng.below(4) > 0;
            let body =
                json!({"governance": {"action": "VOTE", "proposal": id, "approve": approve}});
            return self.sign(who, nonce, body);
        }
        let action = match rng.below(4) {
            0 => json!({"type": "PAUSE"}),
            1 => json!({"type": "RESUME"}),
            _ => json!({"type": "SET_PARAMETER", "name": "workflowActivationBlocksMin",
                        "value": 1 + rng.below(20)}),
        };
        let body = json!({"governance": {
            "action": "PROPOSE",
            "actions": [action],
            "description": "sim",
            "baseConfigVersion": rng.below(3),
            "expiresAt": GENESIS_MS + WINDOW_HALF_MS,
        }});
        let envelope = self.sign(who, nonce, body);
        let id = ledger::trust::Envelope::parse(&envelope)
            .tx_hash
            .to_string();
        self.proposals.push(id);
        envelope
    }
}

/// A random party's command on one of [`SIM_BILLS`] bills, as the hash chain's workflow
/// payloads but signed: most are refused by the rules (a transfer by a non-holder, ...).
fn document_body(rng: &mut SplitMix64) -> (&'static str, Value) {
    let bill = rng.below(SIM_BILLS) as u8;
    let pick = |rng: &mut SplitMix64| rng.below(USERS.len() as u64) as usize;
    let mut who = USERS[pick(rng)];
    let command = match rng.below(8) {
        0 => {
            who = "carrier";
            json!({
                "action": "ISSUE",
                "issueTo": PARTIES[pick(rng)],
                "content": SimCommand::blank_bill_content(bill),
            })
        }
        1..=3 => json!({"action": "TRANSFER", "to": PARTIES[pick(rng)]}),
        4 => json!({"action": "REJECT_TRANSFER"}),
        5 => json!({"action": "SURRENDER_FOR_DELIVERY"}),
        6 => json!({"action": "ACCEPT_SURRENDER"}),
        _ => json!({"action": "REJECT_SURRENDER", "comment": "not yet"}),
    };
    let body = json!({
        "document": {"carrier": "CARRIER", "reference": format!("SIM{bill}")},
        "command": command,
    });
    (who, body)
}

/// [`LedgerState`] in its own sled directory, with the copy a crash falls back to.
pub struct LedgerMachine {
    state: LedgerState,
    /// The sled directory this incarnation writes.
    dir: PathBuf,
    /// A copy of `dir` as of the last sync; `None`: the genesis state (never synced).
    synced: Option<PathBuf>,
}

impl LedgerMachine {
    /// The ledger itself, for reads.
    pub fn state(&self) -> &LedgerState {
        &self.state
    }
}

/// Copies directory `from` to `to` (which must not exist), recursively.
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn synced_path(dir: &Path) -> PathBuf {
    dir.with_extension("synced")
}

fn storage(e: impl std::fmt::Display) -> StateMachineError {
    StateMachineError::Storage(e.to_string())
}

impl StateMachine for LedgerMachine {
    type Output = Option<Block>;

    fn apply(&mut self, entry: CommittedEntry<'_>) -> Result<Option<Block>, StateMachineError> {
        self.state.apply(entry)
    }

    fn is_durable(&self) -> bool {
        self.state.is_durable()
    }

    /// The ledger's sync, then the copy a crash falls back to.
    fn sync(&mut self) -> Result<(), StateMachineError> {
        self.state.sync()?;
        let synced = synced_path(&self.dir);
        if synced.exists() {
            std::fs::remove_dir_all(&synced).map_err(storage)?;
        }
        copy_dir(&self.dir, &synced).map_err(storage)?;
        self.synced = Some(synced);
        Ok(())
    }

    fn snapshot(&self) -> Result<StateSnapshot, StateMachineError> {
        self.state.snapshot()
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), StateMachineError> {
        self.state.restore(snapshot)
    }

    fn can_restore(&self, data: &[u8]) -> bool {
        self.state.can_restore(data)
    }

    fn applied_index(&self) -> LogIndex {
        StateMachine::applied_index(&self.state)
    }

    fn attestation(&self) -> Attestation {
        StateMachine::attestation(&self.state)
    }

    fn membership(&self) -> Option<Membership> {
        StateMachine::membership(&self.state)
    }

    fn state_hash(&self) -> StateHash {
        StateMachine::state_hash(&self.state)
    }
}

impl SimMachine for LedgerMachine {
    type World = LedgerWorld;
    const KIND: MachineKind = MachineKind::Ledger;
    const GOVERNS_MEMBERSHIP: bool = true;

    fn world(_seed: u64, replicas: u64) -> Result<LedgerWorld, String> {
        assert!(
            replicas as usize <= DEV_NODES,
            "at most {DEV_NODES} founders"
        );
        Ok(LedgerWorld {
            dir: tempfile::tempdir().map_err(|e| e.to_string())?,
            founders: replicas,
            dirs_made: 0,
            nonces: 0,
            sent: Vec::new(),
            proposals: Vec::new(),
        })
    }

    /// Always the durable model: that is what the ledger is.
    fn fresh(world: &mut LedgerWorld, node: u64, _durable: bool) -> Result<LedgerMachine, String> {
        let dir = world.next_dir(node);
        let state = LedgerState::open(&dir, world.genesis()).map_err(|e| e.to_string())?;
        Ok(LedgerMachine {
            state,
            dir,
            synced: None,
        })
    }

    fn after_crash(
        self,
        world: &mut LedgerWorld,
        node: u64,
        keep_all: bool,
    ) -> Result<Option<LedgerMachine>, String> {
        let LedgerMachine { state, dir, synced } = self;
        let err = |e: &dyn std::fmt::Display| format!("node {node} crash: {e}");
        let new_dir = world.next_dir(node);
        let new_synced = synced_path(&new_dir);
        if keep_all {
            // Everything applied reached the disk: sled flushed it by itself.
            state.flush().map_err(|e| err(&e))?;
            copy_dir(&dir, &new_dir).map_err(|e| err(&e))?;
            copy_dir(&new_dir, &new_synced).map_err(|e| err(&e))?;
        } else {
            match &synced {
                Some(s) => {
                    copy_dir(s, &new_dir).map_err(|e| err(&e))?;
                    std::fs::rename(s, &new_synced).map_err(|e| err(&e))?;
                }
                None => {
                    drop(state);
                    let _ = std::fs::remove_dir_all(&dir);
                    return LedgerMachine::fresh(world, node, true).map(Some);
                }
            }
        }
        drop(state);
        // The crashed incarnation's files are no longer anyone's.
        let _ = std::fs::remove_dir_all(&dir);
        if let Some(s) = synced.filter(|s| s.exists()) {
            let _ = std::fs::remove_dir_all(s);
        }
        let state = LedgerState::open_existing(&new_dir).map_err(|e| err(&e))?;
        Ok(Some(LedgerMachine {
            state,
            dir: new_dir,
            synced: Some(new_synced),
        }))
    }

    /// Signed document commands, one in [`GOVERNANCE_ONE_IN`] governance by vote; one in ten an invalid replay: an envelope sent before, sent
    /// again verbatim (refused `DUPLICATE` if it committed), or a new command under a nonce
    /// its signer used before.
    fn client_request(world: &mut LedgerWorld, rng: &mut SplitMix64, _sequence: u64) -> Vec<u8> {
        if rng.below(GOVERNANCE_ONE_IN) == 0 {
            return world.governance_request(rng);
        }
        if !world.sent.is_empty() && rng.chance(100) {
            let (who, nonce, envelope) =
                world.sent[rng.below(world.sent.len() as u64) as usize].clone();
            if rng.chance(500) {
                return envelope;
            }
            let (_, body) = document_body(rng);
            return world.sign(who, nonce, body);
        }
        let (who, body) = document_body(rng);
        let nonce = world.fresh_nonce();
        world.sign(who, nonce, body)
    }

    /// `ADD_NODE` and `PROMOTE_NODE` by the admin of CARRIER (the joiner's member);
    /// `REMOVE_NODE` by the admin of the member that runs the node.
    fn membership_request(world: &mut LedgerWorld, request: MembershipRequest) -> Option<Vec<u8>> {
        let (who, governance) = match request {
            MembershipRequest::Add(raft_id) => (
                "carrier-admin",
                json!({"action": "ADD_NODE", "raftId": raft_id, "nodeId": format!("node{raft_id}"),
                       "address": format!("127.0.0.1:{}", 7100 + raft_id)}),
            ),
            MembershipRequest::Promote(raft_id) => (
                "carrier-admin",
                json!({"action": "PROMOTE_NODE", "raftId": raft_id}),
            ),
            MembershipRequest::Remove(raft_id) => (
                *dev().admins.get(raft_id as usize - 1)?,
                json!({"action": "REMOVE_NODE", "raftId": raft_id}),
            ),
        };
        let nonce = world.fresh_nonce();
        Some(world.sign(who, nonce, json!({ "governance": governance })))
    }

    /// The block time: a millisecond after genesis, plus the virtual clock.
    fn clock_offset_ms() -> u64 {
        GENESIS_MS + 1
    }

    /// The bills as stored: each one's document state, checked against the workflow's
    /// invariants.
    fn possessors(&self) -> Result<Possessors, String> {
        let reader = self.state.reader();
        let mut possessors = Possessors::new();
        for bill in 0..SIM_BILLS {
            let key = DocumentKey::transport_document(SimCommand::document(bill as u8));
            let Some(doc) = reader.document(&key).map_err(|e| e.to_string())? else {
                continue;
            };
            doc_workflow::check_invariants(&doc)?;
            possessors.insert(
                key.id.to_string(),
                doc.possessor.as_ref().map(|p| p.as_str().to_string()),
            );
        }
        Ok(possessors)
    }

    fn acknowledged(output: &Option<Block>, proposals: usize) -> Vec<Option<TxId>> {
        let Some(block) = output else {
            return Vec::new();
        };
        assert_eq!(
            block.transactions.len(),
            proposals,
            "one outcome per proposal"
        );
        block
            .transactions
            .iter()
            .map(|t| matches!(t.outcome, Outcome::Committed { .. }).then_some(t.tx_hash.0))
            .collect()
    }

    /// The transaction's record says committed, and the block it names holds it there.
    fn holds(&self, id: &TxId) -> Result<bool, String> {
        let reader = self.state.reader();
        let Some(record) = reader
            .transaction(&Hash32(*id))
            .map_err(|e| e.to_string())?
        else {
            return Ok(false);
        };
        if !matches!(record.outcome, Outcome::Committed { .. }) {
            return Ok(false);
        }
        let block = reader
            .block(record.location.height)
            .map_err(|e| e.to_string())?;
        Ok(block.is_some_and(|b| {
            b.transactions
                .get(record.location.position as usize)
                .is_some_and(|t| {
                    t.tx_hash.0 == *id && matches!(t.outcome, Outcome::Committed { .. })
                })
        }))
    }

    /// Counted over the chain's blocks.
    fn workflow_counts(&self) -> (u64, u64) {
        let reader = self.state.reader();
        let (mut committed, mut refused) = (0, 0);
        for height in 1..=self.state.tip().height {
            if let Ok(Some(block)) = reader.block(height) {
                for t in &block.transactions {
                    match t.outcome {
                        Outcome::Committed { .. } => committed += 1,
                        Outcome::Refused { .. } => refused += 1,
                    }
                }
            }
        }
        (committed, refused)
    }
}

#[cfg(test)]
mod tests {
    use ledger::consortium::ProposalState;

    use super::*;

    /// The governance requests the simulator sends are well-formed and reach every outcome:
    /// proposals accepted by vote and others refused, rejected or superseded, on the real apply
    /// path. (The runs then check that every replica agrees on the result under faults.)
    #[test]
    fn governance_requests_reach_acceptance_and_refusal() {
        let mut world = LedgerMachine::world(0, 3).unwrap();
        let mut machine = LedgerMachine::fresh(&mut world, 1, true).unwrap();
        let mut rng = SplitMix64::new(7);
        let mut refused = 0;
        for i in 0..120u64 {
            let envelope = world.governance_request(&mut rng);
            let block = machine
                .state
                .apply_block(i + 1, GENESIS_MS + i, Attestation::NONE, &[&envelope])
                .unwrap();
            if !block.transactions[0].outcome.is_committed() {
                refused += 1;
            }
        }
        let states: Vec<ProposalState> = machine
            .state
            .reader()
            .proposals()
            .unwrap()
            .into_iter()
            .map(|v| v.state)
            .collect();
        assert!(states.contains(&ProposalState::Accepted), "{states:?}");
        assert!(
            states
                .iter()
                .any(|s| matches!(s, ProposalState::Rejected | ProposalState::Superseded)),
            "{states:?}"
        );
        assert!(
            refused > 0,
            "stale versions and closed proposals are refused"
        );
    }
}
