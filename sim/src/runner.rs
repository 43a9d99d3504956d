//! The step loop: one simulated cluster ([`Simulation`]) from bootstrap through the chaos
//! phase, the heal and convergence, and what a run reports ([`SimReport`], [`SimFailure`]).
//!
//! The network lives in `network`, faults in `faults`, client requests in `clients`, the
//! properties in [`crate::checkers`]; this module wires them to the replicas' `Ready` handling.

use std::collections::BTreeMap;
use std::fmt;

use replication::error::{ReplicaError, StorageError};
use replication::logging::discard_logger;
use replication::replica::{CollectEffects, Replica, ReplicaConfig, next_conf_change};
use replication::rng::SplitMix64;
use replication::runtime::requests::{Committed, Requests};
use replication::state_machine::{LogIndex, StateHash, sha256};
use replication::storage::{LogStore, SimDisk, conf_state_contains};

use crate::checkers::liveness::Liveness;
use crate::checkers::state_agreement::StateAgreement;
use crate::checkers::{Checkers, Violation};
use crate::clients::{AppliedOutcomes, ClientProposal, ClientRead};
pub use crate::config::SimConfig;
use crate::machines::{MachineKind, SimMachine};
use crate::network::Network;
use crate::seeds::{MACHINE_ENV, REPLICAS_ENV, SEED_ENV};

/// Virtual milliseconds per Raft tick.
pub(crate) const TICK_MS: u64 = 10;
/// Election timeout in ticks (100-200 virtual ms).
const ELECTION_TICKS: usize = 10;
/// Heartbeat every 3 ticks.
const HEARTBEAT_TICKS: usize = 3;
/// Length of the faulty phase. Long enough for several elections, crashes and partitions; short
/// enough that 500 seeds run in seconds in a debug build.
pub(crate) const CHAOS_MS: u64 = 1_500;
/// Budget for the healed cluster to converge. Elections take at most a few hundred virtual ms
/// and catch-up a few round trips; 10 s of virtual time is a generous bound.
const LIVENESS_MS_MAX: u64 = 10_000;
/// Hard bound on loop iterations of one run, whatever happens to virtual time.
const SIM_STEPS_MAX: u64 = 500_000;
/// Rounds of `handle_ready` per replica per step: a replica with more successive Readies than
/// this in one step is livelocked, which a checker must report rather than spin on.
const READY_ROUNDS_MAX: usize = 64;

/// What a successful run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimReport {
    /// The seed.
    pub seed: u64,
    /// The machine that ran (`None` in a default report).
    pub machine: Option<MachineKind>,
    /// Highest committed index at the end (all members applied it).
    pub final_applied: LogIndex,
    /// Virtual time at the end.
    pub virtual_ms: u64,
    /// Loop iterations.
    pub steps: u64,
    /// Messages delivered.
    pub delivered: u64,
    /// Messages dropped by the network (loss and partitions).
    pub dropped: u64,
    /// Crashes injected.
    pub crashes: u64,
    /// Crashes injected during a durable write.
    pub crashes_in_write: u64,
    /// Restarts whose state machine survived whole.
    pub restarts_with_state: u64,
    /// Restarts of a durable machine from its last sync, with the writes after it lost.
    pub restarts_from_sync: u64,
    /// Local snapshots taken, over all replicas and incarnations.
    pub snapshots_taken: u64,
    /// Of those, snapshots that held no state (durable state machines' routine ones).
    pub snapshots_without_state: u64,
    /// Snapshots received from a leader and restored.
    pub snapshots_restored: u64,
    /// Entries skipped because a surviving state machine had applied them before a crash.
    pub entries_skipped: u64,
    /// Highest term reached.
    pub max_term: u64,
    /// Whether the joiner was added and caught up.
    pub joiner_caught_up: bool,
    /// Founders removed from the membership (the ledger's `REMOVE_NODE`).
    pub removed: u64,
    /// Workflow commands that took effect and that were refused, on the final state.
    pub workflow_committed: u64,
    pub workflow_refused: u64,
    /// Transactions acknowledged to their clients (the ledger's committed ones).
    pub acknowledged: u64,
    /// Proposals answered with an error (refused, dropped, timed out, stopped) or made to a
    /// crashed replica.
    pub proposals_failed: u64,
    /// Linearizable reads served and checked.
    pub reads_served: u64,
    /// Reads that ended in an error to their client (see `clients`).
    pub reads_failed: u64,
    /// Read requests asked again after a `Dropped` answer (no leader known, a change of term,
    /// no answer within the attempt's timeout).
    pub reads_retried: u64,
    /// Requests the replicas' request layers answered.
    pub requests_answered: u64,
    /// Requests still waiting at the end, their deadlines not passed (proposals whose entry
    /// was lost with a leader, say, waiting out their timeout).
    pub requests_pending_at_end: u64,
    /// SHA-256 over the run's event trace: equal for two runs of one seed, or determinism broke.
    pub trace_hash: [u8; 32],
}

/// A property violated by a seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimFailure {
    /// The seed.
    pub seed: u64,
    /// Founding voters.
    pub replicas: u64,
    /// The machine that ran.
    pub machine: MachineKind,
    /// The checker that fired.
    pub property: &'static str,
    /// What it saw.
    pub detail: String,
    /// Virtual time of the violation (`None` for a panic, whose time is not known).
    pub at_ms: Option<u64>,
}

impl fmt::Display for SimFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "simulation seed {} ({} replicas, {}) violated `{}` at {}: {}\n  replay exactly: \
             {}={} {}={} {}={} cargo test -p sim --test sim sim_replay -- --nocapture",
            self.seed,
            self.replicas,
            self.machine,
            self.property,
            self.at_ms.map_or_else(
                || "an unknown time".to_owned(),
                |t| format!("{t} virtual ms")
            ),
            self.detail,
            SEED_ENV,
            self.seed,
            REPLICAS_ENV,
            self.replicas,
            MACHINE_ENV,
            self.machine
        )
    }
}

impl std::error::Error for SimFailure {}

/// One replica slot: survives the replica's crashes.
pub(crate) struct SimNode<M: SimMachine> {
    pub(crate) id: u64,
    /// The synced layer.
    pub(crate) disk: SimDisk,
    /// `None` while crashed.
    pub(crate) replica: Option<Replica<M>>,
    /// The clients' requests in flight on this incarnation: the production driver's request
    /// layer, with client tokens for replies and the replicas' clock for time.
    pub(crate) requests: Requests<u64, u64>,
    /// A state machine that survived the last crash, handed to the restart.
    pub(crate) kept_sm: Option<M>,
    /// When a crashed replica restarts.
    pub(crate) restart_at_ms: u64,
    /// Index up to which this incarnation's committed entries were checked.
    pub(crate) checked_commit: LogIndex,
    /// Starts so far: a request is answered only by the incarnation it was made to.
    pub(crate) incarnation: u64,
    /// The applied index whose bills this incarnation last reported: the state only changes
    /// with the applied index, and reading the ledger's stored bills after every `Ready`
    /// (decompressing and parsing each) would dominate a run.
    pub(crate) bills_checked_at: Option<LogIndex>,
}

/// One simulated cluster.
pub struct Simulation<M: SimMachine> {
    pub(crate) config: SimConfig,
    pub(crate) rng: SplitMix64,
    pub(crate) world: M::World,
    pub(crate) nodes: Vec<SimNode<M>>,
    pub(crate) now_ms: u64,
    pub(crate) network: Network,
    pub(crate) healed: bool,
    /// Client payloads proposed so far.
    pub(crate) proposals: u64,
    /// The last request token handed out (proposals and read requests share them).
    pub(crate) tokens: u64,
    /// Client proposals waiting for their answer, by token.
    pub(crate) client_proposals: BTreeMap<u64, ClientProposal>,
    /// Client reads asking for a read point, by read id.
    pub(crate) client_reads: BTreeMap<u64, ClientRead>,
    /// Read requests waiting for their answer: by token, the read and the incarnation asked.
    pub(crate) read_tokens: BTreeMap<u64, (u64, u64)>,
    pub(crate) checkers: Checkers,
    pub(crate) report: SimReport,
    trace: Vec<u8>,
    logger: slog::Logger,
    /// When the joiner's membership change is asked (next attempt).
    pub(crate) join_at_ms: u64,
    /// When the joiner is promoted from learner to voter, if it is.
    pub(crate) promote_at_ms: Option<u64>,
    /// A founder removed through the machine, and from when (machines that govern
    /// membership only).
    pub(crate) remove: Option<(u64, u64)>,
    /// Removal requests sent (a refused one is asked again, a few times).
    pub(crate) remove_attempts: u64,
}

impl<M: SimMachine> Simulation<M> {
    /// Builds the cluster: founding voters bootstrapped, the joiner (if any) with an empty disk.
    pub fn new(config: SimConfig) -> Result<Simulation<M>, SimFailure> {
        assert_eq!(config.machine, M::KIND, "the config names another machine");
        let mut rng = SplitMix64::new(config.seed);
        let count = config.replicas + u64::from(config.joiner);
        let nodes = (1..=count)
            .map(|id| SimNode {
                id,
                disk: SimDisk::new(),
                replica: None,
                requests: Requests::new(id, 0),
                kept_sm: None,
                restart_at_ms: 0,
                checked_commit: 0,
                incarnation: 0,
                bills_checked_at: None,
            })
            .collect();
        let join_at_ms = rng.range(200, CHAOS_MS);
        let promote_at_ms = rng
            .chance(500)
            .then(|| join_at_ms + rng.range(100, CHAOS_MS));
        let remove = (M::GOVERNS_MEMBERSHIP && rng.chance(400))
            .then(|| (rng.range(1, config.replicas), rng.range(200, CHAOS_MS)));
        let world = M::world(config.seed, config.replicas).map_err(|e| SimFailure {
            seed: config.seed,
            replicas: config.replicas,
            machine: config.machine,
            property: "setup",
            detail: e,
            at_ms: Some(0),
        })?;
        Ok(Simulation {
            report: SimReport {
                seed: config.seed,
                machine: Some(M::KIND),
                ..SimReport::default()
            },
            config,
            rng,
            world,
            nodes,
            now_ms: 0,
            network: Network::default(),
            healed: false,
            proposals: 0,
            tokens: 0,
            client_proposals: BTreeMap::new(),
            client_reads: BTreeMap::new(),
            read_tokens: BTreeMap::new(),
            checkers: Checkers::default(),
            trace: Vec::new(),
            logger: discard_logger(),
            join_at_ms,
            promote_at_ms,
            remove,
            remove_attempts: 0,
        })
    }

    pub(crate) fn fail(&self, property: &'static str, detail: String) -> SimFailure {
        SimFailure {
            seed: self.config.seed,
            replicas: self.config.replicas,
            machine: self.config.machine,
            property,
            detail,
            at_ms: Some(self.now_ms),
        }
    }

    pub(crate) fn violated(&self, v: Violation) -> SimFailure {
        self.fail(v.property, v.detail)
    }

    pub(crate) fn trace(&mut self, what: &[u64]) {
        for w in what {
            self.trace.extend_from_slice(&w.to_le_bytes());
        }
        // Fold periodically so memory stays bounded.
        if self.trace.len() > 64 * 1024 {
            let h = sha256(&self.trace);
            self.trace.clear();
            self.trace.extend_from_slice(&h);
        }
    }

    /// The time given to the replicas (a batch's, hence a block's time).
    pub(crate) fn replica_now_ms(&self) -> u64 {
        self.now_ms + M::clock_offset_ms()
    }

    /// Runs to the end: chaos, heal, convergence. Returns the first violated property.
    pub fn run(mut self) -> Result<SimReport, SimFailure> {
        let voters: Vec<u64> = (1..=self.config.replicas).collect();
        for i in 0..self.nodes.len() {
            let id = self.nodes[i].id;
            if id <= self.config.replicas {
                let genesis =
                    M::fresh(&mut self.world, id, false).map_err(|e| self.fail("setup", e))?;
                let mut store = LogStore::open(Box::new(self.nodes[i].disk.clone()))
                    .map_err(|e| self.fail("setup", e.to_string()))?;
                Replica::bootstrap(&mut store, genesis, &voters)
                    .map_err(|e| self.fail("setup", e.to_string()))?;
            }
            self.start(i)?;
        }
        let liveness = Liveness {
            deadline_ms: CHAOS_MS + LIVENESS_MS_MAX,
        };
        let mut next_tick = TICK_MS;
        for step in 0..SIM_STEPS_MAX {
            self.report.steps = step;
            let next_message = self.network.next_delivery_ms();
            self.now_ms = next_message.map_or(next_tick, |t| t.min(next_tick));
            if self.now_ms >= next_tick {
                next_tick += TICK_MS;
                self.on_tick()?;
            }
            self.deliver_due()?;
            self.drain_readies()?;
            if self.now_ms >= CHAOS_MS && !self.healed {
                self.heal();
            }
            if self.healed && self.converged()? {
                self.report.virtual_ms = self.now_ms;
                self.report.reads_served = self.checkers.reads.served;
                self.report.reads_failed = self.checkers.reads.failed;
                self.report.requests_pending_at_end = self.checkers.answered.waiting() as u64;
                self.trace(&[self.now_ms]);
                self.report.trace_hash = sha256(&self.trace);
                return Ok(self.report);
            }
            liveness
                .waiting(self.now_ms, || self.progress_summary())
                .map_err(|v| self.violated(v))?;
        }
        Err(self.fail(
            "liveness",
            format!("{SIM_STEPS_MAX} steps: {}", self.progress_summary()),
        ))
    }

    pub(crate) fn progress_summary(&self) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            match &n.replica {
                Some(r) => s.push_str(&format!(
                    "[{} {:?} term {} commit {} applied {} leader {} voters {:?} learners {:?}] ",
                    n.id,
                    r.role(),
                    r.term(),
                    r.commit_index(),
                    r.applied_index(),
                    r.leader_id(),
                    r.conf_state().voters,
                    r.conf_state().learners
                )),
                None => s.push_str(&format!("[{} down] ", n.id)),
            }
        }
        s.push_str(&format!("reads pending {}", self.checkers.reads.pending()));
        s
    }

    fn replica_config(&mut self, id: u64) -> ReplicaConfig {
        ReplicaConfig {
            id,
            election_ticks: ELECTION_TICKS,
            heartbeat_ticks: HEARTBEAT_TICKS,
            snapshot_interval_entries: self.config.snapshot_interval_entries,
            log_retain_entries: self.config.log_retain_entries,
            snapshot_interval_bytes: self.config.snapshot_interval_bytes,
            log_retain_bytes: self.config.log_retain_bytes,
            election_jitter_seed: Some(self.rng.next_u64()),
        }
    }

    /// Starts (or restarts) node `i` from its synced layer.
    pub(crate) fn start(&mut self, i: usize) -> Result<(), SimFailure> {
        let config = self.replica_config(self.nodes[i].id);
        let id = self.nodes[i].id;
        // As the driver starts: its request layer numbers this run's requests past the
        // previous run's, from the clock reading at the start.
        let epoch_ms = self.replica_now_ms();
        let sm = match self.nodes[i].kept_sm.take() {
            Some(sm) => sm,
            None => M::fresh(&mut self.world, id, self.config.durable_state)
                .map_err(|e| self.fail("recovery", format!("node {id}: {e}")))?,
        };
        let node = &mut self.nodes[i];
        let store = LogStore::open(Box::new(node.disk.clone()))
            .map_err(|e| e.to_string())
            .and_then(|store| {
                Replica::open(config, store, sm, &self.logger).map_err(|e| e.to_string())
            });
        match store {
            Ok(replica) => {
                node.replica = Some(replica);
                node.requests = Requests::new(id, epoch_ms);
                node.checked_commit = 0;
                node.incarnation += 1;
                node.bills_checked_at = None;
                self.check_replica(i)
            }
            Err(e) => Err(self.fail("recovery", format!("node {id}: {e}"))),
        }
    }

    pub(crate) fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].replica.is_some())
    }

    pub(crate) fn leader_index(&self) -> Option<usize> {
        self.live()
            .filter(|&i| {
                self.nodes[i]
                    .replica
                    .as_ref()
                    .is_some_and(|r| r.is_leader())
            })
            .max_by_key(|&i| self.nodes[i].replica.as_ref().map(|r| r.term()))
    }

    fn on_tick(&mut self) -> Result<(), SimFailure> {
        let now = self.replica_now_ms();
        for i in 0..self.nodes.len() {
            if let Some(r) = self.nodes[i].replica.as_mut() {
                // The driver's tick: the replica's, then the request layer's deadlines.
                r.tick();
                let node = &mut self.nodes[i];
                let answers = node.requests.expire(now);
                let (id, incarnation) = (node.id, node.incarnation);
                self.deliver(i, answers, None)?;
                self.checkers
                    .answered
                    .expired(id, incarnation, now)
                    .map_err(|v| self.violated(v))?;
            } else if self.nodes[i].restart_at_ms <= self.now_ms {
                self.start(i)?;
                let id = self.nodes[i].id;
                self.trace(&[2, self.now_ms, id]);
            }
        }
        if !self.healed {
            self.client_load()?;
            self.chaos()?;
        }
        self.membership()?;
        self.retry_reads()?;
        let now = self.replica_now_ms();
        for i in 0..self.nodes.len() {
            if let Some(r) = self.nodes[i].replica.as_mut() {
                r.flush_proposals(now);
            }
        }
        Ok(())
    }

    fn drain_readies(&mut self) -> Result<(), SimFailure> {
        for i in 0..self.nodes.len() {
            for round in 0..=READY_ROUNDS_MAX {
                let Some(replica) = self.nodes[i].replica.as_mut() else {
                    break;
                };
                if !replica.has_ready() {
                    // Still call once: a peer may be waiting for a fresher snapshot.
                    if round == 0 {
                        let mut fx = CollectEffects::default();
                        let result = replica.handle_ready(&mut fx);
                        self.after_ready(i, fx, result)?;
                    }
                    break;
                }
                if round == READY_ROUNDS_MAX {
                    return Err(self.fail(
                        "bounded_ready",
                        format!("node {} still has a Ready after {round} rounds", i + 1),
                    ));
                }
                let mut fx = CollectEffects::default();
                let result = replica.handle_ready(&mut fx);
                self.after_ready(i, fx, result)?;
            }
            // As the driver after each round of Readies: reads in flight across a change of
            // term are answered `Dropped`.
            let node = &mut self.nodes[i];
            if let Some(replica) = node.replica.as_ref() {
                let answers = node.requests.term_seen(replica.term());
                self.deliver(i, answers, None)?;
            }
        }
        Ok(())
    }

    fn after_ready(
        &mut self,
        i: usize,
        fx: CollectEffects<M::Output>,
        result: Result<(), ReplicaError>,
    ) -> Result<(), SimFailure> {
        let id = self.nodes[i].id;
        // Effects produced before a failure happened for real (messages sent before the
        // write, entries applied before a later write failed): the driver has delivered their
        // answers before it learns of the failure, and so does this.
        let answers = self.nodes[i].requests.dropped(&fx.dropped);
        self.deliver(i, answers, None)?;
        for a in &fx.applied {
            self.trace(&[4, self.now_ms, id, a.index]);
            self.checkers
                .committed
                .entry(id, a.index, a.term, a.data_hash, "applied")
                .map_err(|v| self.violated(v))?;
            let committed = Committed {
                index: a.index,
                term: a.term,
            };
            let answers = self.nodes[i]
                .requests
                .applied(&a.proposals, committed, self.now_ms);
            if !answers.is_empty() {
                let outcomes = M::acknowledged(&a.output, a.proposals.len());
                let applied = AppliedOutcomes {
                    proposals: &a.proposals,
                    outcomes: &outcomes,
                };
                self.deliver(i, answers, Some(applied))?;
            }
        }
        let answers = self.nodes[i].requests.read_states(&fx.read_states);
        self.deliver(i, answers, None)?;
        for &index in &fx.restored {
            self.trace(&[5, self.now_ms, id, index]);
        }
        self.send(id, fx.messages)?;
        match result {
            Ok(()) => {}
            Err(ReplicaError::Storage {
                source: StorageError::SimulatedCrash,
                ..
            }) => {
                self.crash(i, true)?;
                return Ok(());
            }
            Err(e) => return Err(self.fail("no_fatal_error", format!("node {id}: {e}"))),
        }
        self.check_replica(i)
    }

    /// The per-replica checkers, after every Ready and restart.
    pub(crate) fn check_replica(&mut self, i: usize) -> Result<(), SimFailure> {
        let node = &self.nodes[i];
        let Some(r) = node.replica.as_ref() else {
            return Ok(());
        };
        let id = node.id;
        let incarnation = node.incarnation;
        let leader_term = r.is_leader().then(|| r.term());
        let applied = r.applied_index();
        let hash = r.state_machine().state_hash();
        let bills =
            (node.bills_checked_at != Some(applied)).then(|| r.state_machine().possessors());
        // Every entry this replica holds at or below its commit index is committed.
        let core = r.store().core();
        let commit = r.commit_index().min(core.last_index());
        let from = node.checked_commit.max(core.truncated_index) + 1;
        let held: Vec<(u64, u64, [u8; 32])> = (from..=commit)
            .map(|index| {
                let e = &core.entries[(index - core.first_index()) as usize];
                (index, e.term, sha256(&e.data))
            })
            .collect();
        self.nodes[i].checked_commit = self.nodes[i].checked_commit.max(commit);

        if let Some(term) = leader_term {
            self.checkers.reads.leader_seen(self.now_ms);
            self.report.max_term = self.report.max_term.max(term);
            let first = self
                .checkers
                .election_safety
                .leader(term, id)
                .map_err(|v| self.violated(v))?;
            if first {
                self.trace(&[6, self.now_ms, id, term]);
            }
        }
        self.checkers
            .state_agreement
            .state(id, applied, hash)
            .map_err(|v| self.violated(v))?;
        if let Some(bills) = bills {
            self.nodes[i].bills_checked_at = Some(applied);
            self.checkers
                .possessor
                .bills(id, applied, bills)
                .map_err(|v| self.violated(v))?;
        }
        for (index, term, hash) in held {
            self.checkers
                .committed
                .entry(id, index, term, hash, "holds as committed")
                .map_err(|v| self.violated(v))?;
        }
        // Reads whose read point this replica has reached are served now, from its state.
        let due = self.checkers.reads.due(id, incarnation, applied);
        let sm = self.nodes[i]
            .replica
            .as_ref()
            .expect("live")
            .state_machine();
        for (read_id, read) in due {
            self.checkers
                .reads
                .served(
                    read_id,
                    &read,
                    id,
                    applied,
                    self.checkers.acknowledged.acks(),
                    |tx| sm.holds(tx),
                )
                .map_err(|v| self.fail(v.property, v.detail))?;
        }
        Ok(())
    }

    /// `liveness`: all members up, a leader, the membership settled, every read answered, and
    /// every member has applied the highest commit. Then the end-of-run checks.
    fn converged(&mut self) -> Result<bool, SimFailure> {
        if self.nodes.iter().any(|n| n.replica.is_none()) || self.checkers.reads.pending() > 0 {
            return Ok(false);
        }
        let Some(l) = self.leader_index() else {
            return Ok(false);
        };
        let leader = self.nodes[l].replica.as_ref().expect("live");
        let target = leader.commit_index();
        // Until a leader has committed an entry of its own term, its commit index may lag.
        if self
            .checkers
            .committed
            .highest()
            .is_some_and(|m| m > target)
        {
            return Ok(false);
        }
        let cs = leader.conf_state().clone();
        if self.config.joiner {
            // Wait for the joiner to be added (and promoted, if this seed promotes it).
            let joiner = self.config.replicas + 1;
            let promoted = self.promote_at_ms.is_none() || cs.voters.contains(&joiner);
            if !conf_state_contains(&cs, joiner) || !promoted {
                return Ok(false);
            }
        }
        if let Some(want) = leader.state_machine().membership() {
            // Raft's configuration has caught up with the machine's node set.
            if next_conf_change(&cs, &want).is_some() {
                return Ok(false);
            }
        }
        let members: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| conf_state_contains(&cs, self.nodes[i].id))
            .collect();
        let all_applied = members.iter().all(|&i| {
            let r = self.nodes[i].replica.as_ref().expect("live");
            r.applied_index() == target && r.commit_index() == target
        });
        if !all_applied || self.nodes[l].replica.as_ref().expect("live").has_ready() {
            return Ok(false);
        }
        let hashes: Vec<StateHash> = members
            .iter()
            .map(|&i| {
                let r = self.nodes[i].replica.as_ref().expect("live");
                r.state_machine().state_hash()
            })
            .collect();
        StateAgreement::members(target, &hashes).map_err(|v| self.violated(v))?;
        for &i in &members {
            let r = self.nodes[i].replica.as_ref().expect("live");
            let sm = r.state_machine();
            self.checkers
                .acknowledged
                .replica(self.nodes[i].id, r.applied_index(), |tx| sm.holds(tx))
                .map_err(|v| self.fail(v.property, v.detail))?;
        }
        if self.config.joiner {
            self.report.joiner_caught_up = conf_state_contains(&cs, self.config.replicas + 1);
        }
        self.report.removed = (1..=self.config.replicas)
            .filter(|id| !conf_state_contains(&cs, *id))
            .count() as u64;
        for n in &self.nodes {
            let stats = n.replica.as_ref().expect("live").stats();
            self.report.snapshots_taken += stats.snapshots_taken;
            self.report.snapshots_without_state += stats.snapshots_without_state;
            self.report.snapshots_restored += stats.snapshots_restored;
            self.report.entries_skipped += stats.entries_skipped;
        }
        let sm = self.nodes[l]
            .replica
            .as_ref()
            .expect("live")
            .state_machine();
        (self.report.workflow_committed, self.report.workflow_refused) = sm.workflow_counts();
        self.report.final_applied = target;
        Ok(true)
    }
}
