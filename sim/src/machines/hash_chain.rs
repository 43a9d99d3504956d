//! The simulator's state machine: a SHA-256 hash chain over every applied payload, plus bills
//! of lading run through the real workflow engine (`doc-workflow`), so that the simulator's
//! `exactly_one_possessor` checker judges the real rules under replication faults.
//!
//! Payloads starting with [`WORKFLOW_PREFIX`] carry a [`SimCommand`] as JSON: a party acting on
//! one of a few bills. They are unsigned (signatures are `ledger`'s business, tested on
//! their own); what the simulator checks is that every replica applies the same decisions at
//! the same index and that no bill ever has two possessors or none while issued.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use doc_workflow::{
    Actor, BlockTime, Command, DocumentId, DocumentKey, DocumentRef, DocumentState, Engine,
    PartyCode, Role, fold_state_hashes,
};

use serde::{Deserialize, Serialize};

use replication::batch::Attestation;
use replication::rng::SplitMix64;

use super::{MachineKind, MembershipRequest, Possessors, SimMachine, TxId};
use replication::error::StateMachineError;
use replication::replica::expect_next_index;
use replication::state_machine::{
    CommittedEntry, EntryKind, LogIndex, StateHash, StateMachine, StateSnapshot, sha256,
};

/// Payloads of the form `wf:<json SimCommand>` go through the workflow engine; anything else
/// only extends the hash chain.
pub const WORKFLOW_PREFIX: &str = "wf:";

/// The carrier of every simulated bill.
pub const SIM_CARRIER: &str = "CARRIER";

/// The parties that act in the simulation, with their roles.
pub const SIM_PARTIES: [(&str, Role); 4] = [
    (SIM_CARRIER, Role::Carrier),
    ("SHIPPER", Role::Trader),
    ("CONSIGNEE", Role::Trader),
    ("BANK", Role::Bank),
];

/// One party's command on bill `SIM<bill>` of [`SIM_CARRIER`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimCommand {
    pub party: String,
    pub bill: u8,
    pub command: Command,
}

impl SimCommand {
    /// The payload that carries it.
    pub fn payload(&self) -> Vec<u8> {
        let json = serde_json::to_string(self).expect("a SimCommand serializes");
        format!("{WORKFLOW_PREFIX}{json}").into_bytes()
    }

    /// The bill's id.
    pub fn document(bill: u8) -> DocumentId {
        DocumentId {
            carrier: PartyCode::new(SIM_CARRIER).expect("static code"),
            reference: DocumentRef::new(format!("SIM{bill}")).expect("short reference"),
        }
    }

    /// A valid blank-endorsed bill (the fixture) for bill `bill`, to issue.
    pub fn blank_bill_content(bill: u8) -> serde_json::Value {
        static FIXTURE: OnceLock<serde_json::Value> = OnceLock::new();
        let mut content = FIXTURE
            .get_or_init(|| {
                serde_json::from_str(include_str!("../../../fixtures/documents/blank-bill.json"))
                    .expect("the fixture is JSON")
            })
            .clone();
        content["transportDocumentReference"] = format!("SIM{bill}").into();
        content
    }
}

/// JSON object keys must be strings; a map with struct keys goes into a snapshot as pairs.
mod as_pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, K: Serialize, V: Serialize>(
        map: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        D: Deserializer<'de>,
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

/// Chain heads a [`ChainMachine`] remembers, by index, to check the attestations of batches
/// proposed by replicas that lag behind. A proposer attests its latest applied index; one that
/// lags more than this many entries behind the replica applying its batch goes unchecked there.
pub const ATTESTED_HEADS_RETAINED: usize = 256;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(Engine::standard)
}

/// In-memory, so the applied index is trivially atomic with the state. The simulator keeps or
/// drops the whole value across a crash, modelling a durable or a volatile state machine; a
/// machine made [`ChainMachine::durable`] also reports itself durable to the replica (whose
/// routine snapshots then hold no state) and remembers, at each `sync`, the state a crash falls
/// back to at worst.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainMachine {
    /// Last applied index.
    applied_index: LogIndex,
    /// Hash chain head: `sha256(previous || index || id || len || payload)` per payload.
    chain: [u8; 32],
    /// The bills, as the workflow engine left them; ordered, so the state hash is too.
    #[serde(with = "as_pairs")]
    documents: BTreeMap<DocumentKey, DocumentState>,
    /// Each bill's `state_hash()`, kept as bills change: the simulator hashes the state after
    /// every `Ready`, and re-canonicalizing every bill each time dominated its run time.
    #[serde(skip)]
    document_hashes: BTreeMap<DocumentKey, doc_workflow::StateHash>,
    /// Workflow commands committed and refused (refusals are values, like in the ledger).
    workflow_committed: u64,
    workflow_refused: u64,
    /// Payloads applied, all entries included.
    payloads_applied: u64,
    /// The chain head after each of the last [`ATTESTED_HEADS_RETAINED`] applied entries, to
    /// check attestations against (the same on every replica at the same applied index).
    #[serde(with = "as_pairs")]
    heads: BTreeMap<LogIndex, [u8; 32]>,
    /// Durable model: see the type's docs.
    #[serde(skip)]
    durable: bool,
    /// Durable model: the state as of the last `sync`.
    #[serde(skip)]
    synced: Option<Box<ChainMachine>>,
}

impl ChainMachine {
    /// An empty machine of the durable model (see the type's docs).
    pub fn durable() -> ChainMachine {
        ChainMachine {
            durable: true,
            ..ChainMachine::default()
        }
    }

    /// What a crash leaves of a durable-model machine at worst: the state of its last sync
    /// (an empty machine if it never synced), still durable. `None` for a volatile machine.
    pub fn synced_state(&self) -> Option<ChainMachine> {
        if !self.durable {
            return None;
        }
        let mut kept = self
            .synced
            .as_deref()
            .cloned()
            .unwrap_or_else(ChainMachine::durable);
        kept.synced = Some(Box::new(kept.clone()));
        Some(kept)
    }

    /// Head of the hash chain.
    pub fn chain(&self) -> [u8; 32] {
        self.chain
    }

    /// The bills and their states.
    pub fn documents(&self) -> &BTreeMap<DocumentKey, DocumentState> {
        &self.documents
    }

    /// Workflow commands that took effect, and that were refused.
    pub fn workflow_counts(&self) -> (u64, u64) {
        (self.workflow_committed, self.workflow_refused)
    }

    /// Whether the proposer's attestation (its applied index and chain head) matches this
    /// machine's record at that index; one older than the retained heads is not checked.
    fn check_attestation(
        &self,
        index: LogIndex,
        attestation: &Attestation,
    ) -> Result<(), StateMachineError> {
        if attestation.is_none() {
            return Ok(());
        }
        let ours = if attestation.height > self.applied_index {
            None
        } else {
            match self.heads.get(&attestation.height) {
                Some(head) => Some(*head),
                None => return Ok(()),
            }
        };
        if ours == Some(attestation.digest) {
            return Ok(());
        }
        Err(StateMachineError::Diverged {
            index,
            detail: format!(
                "chain head at index {}: ours {}, the proposer's {}",
                attestation.height,
                ours.map_or_else(|| "(not applied)".to_owned(), hex::encode),
                hex::encode(attestation.digest)
            ),
        })
    }

    /// Runs one workflow payload through the engine at `time_ms`.
    fn apply_workflow(&mut self, json: &str, time_ms: u64) {
        let Ok(cmd) = serde_json::from_str::<SimCommand>(json) else {
            self.workflow_refused += 1;
            return;
        };
        let Some((party, role)) = SIM_PARTIES.iter().find(|(p, _)| *p == cmd.party) else {
            self.workflow_refused += 1;
            return;
        };
        let actor = Actor {
            party: PartyCode::new(*party).expect("static code"),
            roles: BTreeSet::from([*role]),
        };
        let id = SimCommand::document(cmd.bill);
        let parties: BTreeMap<PartyCode, Role> = SIM_PARTIES
            .iter()
            .map(|(p, r)| (PartyCode::new(*p).expect("static code"), *r))
            .collect();
        match engine().decide(
            &self.documents,
            &parties,
            &actor,
            BlockTime(time_ms),
            &id,
            &cmd.command,
        ) {
            Ok(decision) => {
                for (key, state) in decision.changes {
                    self.document_hashes.insert(key.clone(), state.state_hash());
                    self.documents.insert(key, state);
                }
                self.workflow_committed += 1;
            }
            Err(_) => self.workflow_refused += 1,
        }
    }

    /// Payloads applied so far.
    pub fn payloads_applied(&self) -> u64 {
        self.payloads_applied
    }
}

impl StateMachine for ChainMachine {
    /// The chain head after the entry.
    type Output = [u8; 32];

    fn apply(&mut self, entry: CommittedEntry<'_>) -> Result<[u8; 32], StateMachineError> {
        expect_next_index(self.applied_index, entry.index)?;
        if let EntryKind::Proposals {
            time_ms,
            attestation,
            proposals,
        } = entry.kind
        {
            self.check_attestation(entry.index, &attestation)?;
            for p in proposals {
                let mut buf = Vec::with_capacity(32 + 20 + p.payload.len());
                buf.extend_from_slice(&self.chain);
                buf.extend_from_slice(&entry.index.to_le_bytes());
                buf.extend_from_slice(&p.id.0.to_le_bytes());
                buf.extend_from_slice(&(p.payload.len() as u32).to_le_bytes());
                buf.extend_from_slice(&p.payload);
                self.chain = sha256(&buf);
                self.payloads_applied += 1;
                if let Some(json) = std::str::from_utf8(&p.payload)
                    .ok()
                    .and_then(|s| s.strip_prefix(WORKFLOW_PREFIX))
                {
                    self.apply_workflow(json, time_ms);
                }
            }
        }
        self.applied_index = entry.index;
        self.heads.insert(entry.index, self.chain);
        while self.heads.len() > ATTESTED_HEADS_RETAINED {
            self.heads.pop_first();
        }
        Ok(self.chain)
    }

    fn attestation(&self) -> Attestation {
        Attestation {
            height: self.applied_index,
            digest: self.chain,
        }
    }

    fn is_durable(&self) -> bool {
        self.durable
    }

    fn sync(&mut self) -> Result<(), StateMachineError> {
        if self.durable {
            let mut copy = self.clone();
            copy.synced = None;
            self.synced = Some(Box::new(copy));
        }
        Ok(())
    }

    fn snapshot(&self) -> Result<StateSnapshot, StateMachineError> {
        let data = serde_json::to_vec(self).map_err(|e| StateMachineError::InvalidSnapshot {
            index: self.applied_index,
            reason: e.to_string(),
        })?;
        Ok(StateSnapshot {
            applied_index: self.applied_index,
            data,
        })
    }

    /// Its snapshots always hold the state.
    fn can_restore(&self, _data: &[u8]) -> bool {
        true
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), StateMachineError> {
        let invalid = |reason: String| StateMachineError::InvalidSnapshot {
            index: snapshot.applied_index,
            reason,
        };
        let restored: ChainMachine =
            serde_json::from_slice(&snapshot.data).map_err(|e| invalid(e.to_string()))?;
        if restored.applied_index != snapshot.applied_index {
            return Err(invalid(format!(
                "data describes index {}",
                restored.applied_index
            )));
        }
        let (durable, synced) = (self.durable, self.synced.take());
        *self = restored;
        (self.durable, self.synced) = (durable, synced);
        self.document_hashes = self
            .documents
            .iter()
            .map(|(k, d)| (k.clone(), d.state_hash()))
            .collect();
        Ok(())
    }

    fn applied_index(&self) -> LogIndex {
        self.applied_index
    }

    fn state_hash(&self) -> StateHash {
        let mut buf = Vec::new();
        buf.extend_from_slice(&self.applied_index.to_le_bytes());
        buf.extend_from_slice(&self.chain);
        buf.extend_from_slice(&self.payloads_applied.to_le_bytes());
        buf.extend_from_slice(&self.workflow_committed.to_le_bytes());
        buf.extend_from_slice(&self.workflow_refused.to_le_bytes());
        debug_assert_eq!(self.document_hashes.len(), self.documents.len());
        buf.extend_from_slice(&fold_state_hashes(&self.document_hashes).0);
        sha256(&buf)
    }
}

/// The bills the workflow payloads act on: few, so that commands collide on the same bill.
pub const SIM_BILLS: u64 = 3;

/// A random party's random command on one of [`SIM_BILLS`] bills: issues, transfers,
/// rejections and surrenders, most of them by someone the rules will refuse.
pub fn workflow_payload(rng: &mut SplitMix64) -> Vec<u8> {
    let bill = rng.below(SIM_BILLS) as u8;
    let pick = |rng: &mut SplitMix64| SIM_PARTIES[rng.below(SIM_PARTIES.len() as u64) as usize].0;
    let mut party = pick(rng);
    let command = match rng.below(8) {
        0 => {
            // Issuing is the carrier's; a random issuer would almost never succeed.
            party = SIM_CARRIER;
            serde_json::json!({
                "action": "ISSUE",
                "issueTo": pick(rng),
                "content": SimCommand::blank_bill_content(bill),
            })
        }
        1..=3 => serde_json::json!({"action": "TRANSFER", "to": pick(rng)}),
        4 => serde_json::json!({"action": "REJECT_TRANSFER"}),
        5 => serde_json::json!({"action": "SURRENDER_FOR_DELIVERY"}),
        6 => serde_json::json!({"action": "ACCEPT_SURRENDER"}),
        _ => serde_json::json!({"action": "REJECT_SURRENDER", "comment": "not yet"}),
    };
    SimCommand {
        party: party.to_string(),
        bill,
        command: serde_json::from_value(command).expect("the simulator's commands parse"),
    }
    .payload()
}

impl SimMachine for ChainMachine {
    type World = ();
    const KIND: MachineKind = MachineKind::HashChain;
    const GOVERNS_MEMBERSHIP: bool = false;

    fn world(_seed: u64, _replicas: u64) -> Result<(), String> {
        Ok(())
    }

    fn fresh(_world: &mut (), _node: u64, durable: bool) -> Result<ChainMachine, String> {
        Ok(if durable {
            ChainMachine::durable()
        } else {
            ChainMachine::default()
        })
    }

    /// In memory: the value itself survives, or the copy taken at its last sync.
    fn after_crash(
        self,
        _world: &mut (),
        _node: u64,
        keep_all: bool,
    ) -> Result<Option<ChainMachine>, String> {
        Ok(if keep_all {
            Some(self)
        } else {
            self.synced_state()
        })
    }

    /// Workflow commands (60%) and opaque payloads that only extend the chain.
    fn client_request(_world: &mut (), rng: &mut SplitMix64, sequence: u64) -> Vec<u8> {
        if rng.chance(600) {
            workflow_payload(rng)
        } else {
            format!("payload-{sequence}-{}", rng.next_u64()).into_bytes()
        }
    }

    fn membership_request(_world: &mut (), _request: MembershipRequest) -> Option<Vec<u8>> {
        None
    }

    fn possessors(&self) -> Result<Possessors, String> {
        let mut possessors = Possessors::new();
        for (key, doc) in self.documents() {
            doc_workflow::check_invariants(doc)?;
            possessors.insert(
                key.id.to_string(),
                doc.possessor.as_ref().map(|p| p.as_str().to_string()),
            );
        }
        Ok(possessors)
    }

    /// Every payload extends the chain: each is acknowledged, with no id to look up later.
    fn acknowledged(_output: &[u8; 32], _proposals: usize) -> Vec<Option<TxId>> {
        Vec::new()
    }

    fn holds(&self, _id: &TxId) -> Result<bool, String> {
        Ok(false)
    }

    fn workflow_counts(&self) -> (u64, u64) {
        ChainMachine::workflow_counts(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use replication::batch::{Proposal, ProposalId};

    fn apply(m: &mut ChainMachine, index: u64, payloads: &[&str]) {
        let proposals: Vec<Proposal> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| Proposal {
                id: ProposalId(index * 100 + i as u64),
                payload: p.as_bytes().to_vec(),
            })
            .collect();
        m.apply(CommittedEntry {
            index,
            term: 1,
            kind: EntryKind::Proposals {
                time_ms: 0,
                attestation: Attestation::NONE,
                proposals: &proposals,
            },
        })
        .unwrap();
    }

    #[test]
    fn a_batch_attesting_another_chain_head_is_a_divergence() {
        let mut a = ChainMachine::default();
        apply(&mut a, 1, &["x"]);
        let attested = a.attestation();
        assert_eq!(attested.height, 1);
        let mut b = ChainMachine::default();
        apply(&mut b, 1, &["y"]);
        let entry = |attestation| CommittedEntry {
            index: 2,
            term: 1,
            kind: EntryKind::Proposals {
                time_ms: 0,
                attestation,
                proposals: &[],
            },
        };
        a.clone().apply(entry(attested)).unwrap();
        let err = b.apply(entry(attested)).unwrap_err();
        assert!(
            matches!(err, StateMachineError::Diverged { index: 2, .. }),
            "{err}"
        );
        assert_eq!(b.applied_index(), 1, "nothing applied");
        // Beyond what it applied: diverged too. Attesting nothing: unchecked.
        let ahead = Attestation {
            height: 5,
            ..attested
        };
        assert!(a.clone().apply(entry(ahead)).is_err());
        b.apply(entry(Attestation::NONE)).unwrap();
    }

    #[test]
    fn deterministic_snapshot_round_trip_and_order_check() {
        let mut a = ChainMachine::default();
        let issue = SimCommand {
            party: SIM_CARRIER.into(),
            bill: 1,
            command: serde_json::from_value(serde_json::json!({
                "action": "ISSUE",
                "issueTo": "SHIPPER",
                "content": SimCommand::blank_bill_content(1),
            }))
            .unwrap(),
        };
        let transfer = |party: &str, to: &str| SimCommand {
            party: party.into(),
            bill: 1,
            command: serde_json::from_value(serde_json::json!({"action": "TRANSFER", "to": to}))
                .unwrap(),
        };
        let text = |c: &SimCommand| String::from_utf8(c.payload()).unwrap();
        apply(&mut a, 1, &[&text(&issue), "x"]);
        // BANK does not possess the bill: refused, nothing changes.
        apply(&mut a, 2, &[&text(&transfer("BANK", "CONSIGNEE"))]);
        apply(&mut a, 3, &[&text(&transfer("SHIPPER", "BANK"))]);
        assert_eq!(a.workflow_counts(), (2, 1));
        let bill = &a.documents()[&DocumentKey::transport_document(SimCommand::document(1))];
        assert_eq!(bill.possessor.as_ref().map(|p| p.as_str()), Some("BANK"));
        let mut b = ChainMachine::default();
        b.restore(&a.snapshot().unwrap()).unwrap();
        assert_eq!(a.state_hash(), b.state_hash());
        apply(&mut a, 4, &["y"]);
        apply(&mut b, 4, &["y"]);
        assert_eq!(a, b);
        let err = a
            .apply(CommittedEntry {
                index: 9,
                term: 1,
                kind: EntryKind::Noop,
            })
            .unwrap_err();
        assert!(matches!(
            err,
            StateMachineError::OutOfOrder { applied: 4, got: 9 }
        ));
        let mut c = ChainMachine::default();
        apply(&mut c, 1, &["x", "y"]);
        assert_ne!(c.chain(), {
            let mut d = ChainMachine::default();
            apply(&mut d, 1, &["y", "x"]);
            d.chain()
        });
    }
}
