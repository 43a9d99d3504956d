//! Deterministic simulation of a Silkline cluster: N replicas (3 or 5, plus an optional
//! late joiner) on one thread, in virtual time, over a seeded network that drops, duplicates,
//! reorders, delays and partitions, with crashes that lose whatever was not synced.
//!
//! Everything random comes from one [`SplitMix64`] seeded by the run's seed, including raft-rs's
//! election timeouts (see `ReplicaConfig::election_jitter_seed`); nothing reads the wall clock;
//! every loop is bounded. A failing seed therefore replays exactly:
//!
//! ```text
//! SILKLINE_SIM_SEED=1234 SILKLINE_SIM_REPLICAS=3 cargo test -p sim --test sim sim_replay -- --nocapture
//! ```
//!
//! The replicas run the real [`Replica`] (the same `handle_ready` as the tokio runtime) over the
//! real [`LogStore`], whose durable layer is a [`SimDisk`].
//!
//! One checker per property, each named in the failure:
//! - `election_safety`: at most one leader per term (Raft paper, figure 3).
//! - `committed_never_changes`: what any replica ever holds as committed at an index, and what
//!   any replica applies there, is the same entry, across crashes and restarts (figure 3, state
//!   machine safety and leader completeness).
//! - `state_agreement`: replicas at the same applied index have the same state hash.
//! - `liveness`: once the network heals and every replica is back, all members apply
//!   everything committed within a bounded number of steps.

pub mod chain;
pub mod channel;

use std::collections::BTreeMap;
use std::fmt;

use raft::eraftpb::{ConfChangeType, Message};

pub use chain::ChainMachine;
pub use channel::ChannelTransport;

use replication::batch::ProposalId;
use replication::error::{ReplicaError, StorageError};
use replication::logging::discard_logger;
use replication::replica::{CollectEffects, Replica, ReplicaConfig, conf_change};
use replication::rng::SplitMix64;
use replication::state_machine::{LogIndex, StateHash, StateMachine, sha256};
use replication::storage::{LogStore, SimDisk, conf_state_contains};

/// Virtual milliseconds per Raft tick.
const TICK_MS: u64 = 10;
/// Election timeout in ticks (100-200 virtual ms).
const ELECTION_TICKS: usize = 10;
/// Heartbeat every 3 ticks.
const HEARTBEAT_TICKS: usize = 3;
/// Length of the faulty phase. Long enough for several elections, crashes and partitions; short
/// enough that 500 seeds run in seconds in a debug build.
const CHAOS_MS: u64 = 1_500;
/// Budget for the healed cluster to converge. Elections take at most a few hundred virtual ms
/// and catch-up a few round trips; 10 s of virtual time is a generous bound.
const LIVENESS_MS_MAX: u64 = 10_000;
/// Hard bound on loop iterations of one run, whatever happens to virtual time.
const SIM_STEPS_MAX: u64 = 500_000;
/// Rounds of `handle_ready` per replica per step: a replica with more successive Readies than
/// this in one step is livelocked, which a checker must report rather than spin on.
const READY_ROUNDS_MAX: usize = 64;
/// Client payloads proposed per run: small, to keep 500 seeds fast in a debug build.
const PROPOSALS_MAX: u64 = 60;
/// Bills the workflow payloads act on: few, so that commands collide on the same bill.
const SIM_BILLS: u64 = 3;
/// Messages in flight at once. Raft's own flow control keeps far below this; reaching it means
/// a message storm, which is reported.
const IN_FLIGHT_MAX: usize = 100_000;

/// The environment variable naming the seed `sim_replay` runs.
pub const SEED_ENV: &str = "SILKLINE_SIM_SEED";
/// The environment variable naming the replica count `sim_replay` runs (default 3).
pub const REPLICAS_ENV: &str = "SILKLINE_SIM_REPLICAS";

/// What a run is made of. Everything is derived from `seed` by [`SimConfig::from_seed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// The seed.
    pub seed: u64,
    /// Founding voters (ids `1..=replicas`).
    pub replicas: u64,
    /// Whether a replica `replicas + 1` joins later (empty log: it catches up by snapshot).
    pub joiner: bool,
    /// Local snapshot every this many applied entries (small, so that compaction happens).
    pub snapshot_interval_entries: u64,
    /// Entries retained behind a snapshot.
    pub log_retain_entries: u64,
    /// Per-mille chance to drop a message.
    pub drop_per_mille: u64,
    /// Per-mille chance to duplicate a message.
    pub duplicate_per_mille: u64,
    /// Per-mille chance, per tick, to crash a replica.
    pub crash_per_mille: u64,
    /// Per-mille chance, per tick, to start a partition.
    pub partition_per_mille: u64,
    /// Whether the replicas' state machines are durable: their routine snapshots hold no
    /// state, and a crash leaves the state of the last sync or a later one.
    pub durable_state: bool,
    /// Local snapshot also once the entries applied since the last one hold this many bytes.
    pub snapshot_interval_bytes: u64,
    /// Most bytes of entries retained behind a snapshot.
    pub log_retain_bytes: u64,
}

impl SimConfig {
    /// Derives a run from a seed.
    pub fn from_seed(seed: u64, replicas: u64) -> SimConfig {
        assert!((1..=7).contains(&replicas), "1..=7 replicas");
        let mut rng = SplitMix64::new(seed ^ 0x5111_C0DE);
        SimConfig {
            seed,
            replicas,
            joiner: rng.chance(500),
            snapshot_interval_entries: rng.range(3, 12),
            log_retain_entries: rng.range(0, 3),
            drop_per_mille: rng.range(0, 120),
            duplicate_per_mille: rng.range(0, 50),
            crash_per_mille: rng.range(0, 25),
            partition_per_mille: rng.range(0, 20),
            durable_state: rng.chance(500),
            snapshot_interval_bytes: rng.range(1_000, 20_000),
            log_retain_bytes: rng.range(0, 2_000),
        }
    }
}

/// What a successful run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimReport {
    /// The seed.
    pub seed: u64,
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
    /// Restarts whose state machine survived (durable-state-machine model).
    pub restarts_with_state: u64,
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
    /// Workflow commands that took effect and that were refused, on the final state.
    pub workflow_committed: u64,
    pub workflow_refused: u64,
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
            "simulation seed {} ({} replicas) violated `{}` at {}: {}\n  replay exactly: \
             {}={} {}={} cargo test -p sim --test sim sim_replay -- --nocapture",
            self.seed,
            self.replicas,
            self.property,
            self.at_ms.map_or_else(
                || "an unknown time".to_owned(),
                |t| format!("{t} virtual ms")
            ),
            self.detail,
            SEED_ENV,
            self.seed,
            REPLICAS_ENV,
            self.replicas
        )
    }
}

impl std::error::Error for SimFailure {}

/// Runs one seed with `replicas` founding voters. A panic inside the run (raft-rs panics on
/// an inconsistency it detects, e.g. a commit index beyond its log) is reported as a failure
/// of the property `no_panic`, with the seed, like any other.
pub fn run_seed(seed: u64, replicas: u64) -> Result<SimReport, SimFailure> {
    let config = SimConfig::from_seed(seed, replicas);
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Simulation::new(config).run()
    }));
    run.unwrap_or_else(|panic| {
        let detail = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "non-string panic".to_owned());
        Err(SimFailure {
            seed,
            replicas,
            property: "no_panic",
            detail,
            at_ms: None,
        })
    })
}

/// Runs every seed in `seeds`; returns the reports, or the first failure.
pub fn run_seeds(
    seeds: impl IntoIterator<Item = u64>,
    replicas: u64,
) -> Result<Vec<SimReport>, SimFailure> {
    seeds.into_iter().map(|s| run_seed(s, replicas)).collect()
}

/// One replica slot: survives the replica's crashes.
struct SimNode {
    id: u64,
    /// The synced layer.
    disk: SimDisk,
    /// `None` while crashed.
    replica: Option<Replica<ChainMachine>>,
    /// A state machine that survived the last crash (durable model), handed to the restart.
    kept_sm: Option<ChainMachine>,
    /// When a crashed replica restarts.
    restart_at_ms: u64,
    /// Index up to which this incarnation's committed entries were checked.
    checked_commit: LogIndex,
}

/// A message on the wire.
struct InFlight {
    from: u64,
    message: Message,
}

/// The checkers' memory.
#[derive(Default)]
struct Checkers {
    /// `election_safety`: the leader seen in each term.
    leaders: BTreeMap<u64, u64>,
    /// `committed_never_changes`: `(term, sha256(data))` of the entry committed at each index.
    committed: BTreeMap<LogIndex, (u64, [u8; 32])>,
    /// `state_agreement`: the state hash seen at each applied index.
    state_hashes: BTreeMap<LogIndex, StateHash>,
    /// `exactly_one_possessor`: who possessed each bill at each applied index.
    possessors: BTreeMap<LogIndex, BTreeMap<String, Option<String>>>,
}

/// One simulated cluster.
pub struct Simulation {
    config: SimConfig,
    rng: SplitMix64,
    nodes: Vec<SimNode>,
    now_ms: u64,
    /// Messages by `(delivery time, sequence)`: the sequence breaks ties deterministically.
    network: BTreeMap<(u64, u64), InFlight>,
    sequence: u64,
    /// `(side of each node, until)`: nodes on different sides cannot talk.
    partition: Option<(Vec<bool>, u64)>,
    healed: bool,
    proposals: u64,
    checkers: Checkers,
    report: SimReport,
    trace: Vec<u8>,
    logger: slog::Logger,
    /// When the joiner's conf change is proposed (next attempt).
    join_at_ms: u64,
    /// When the joiner is promoted from learner to voter, if it is.
    promote_at_ms: Option<u64>,
}

impl Simulation {
    /// Builds the cluster: founding voters bootstrapped, the joiner (if any) with an empty disk.
    pub fn new(config: SimConfig) -> Simulation {
        let mut rng = SplitMix64::new(config.seed);
        let count = config.replicas + u64::from(config.joiner);
        let nodes = (1..=count)
            .map(|id| SimNode {
                id,
                disk: SimDisk::new(),
                replica: None,
                kept_sm: None,
                restart_at_ms: 0,
                checked_commit: 0,
            })
            .collect();
        let join_at_ms = rng.range(200, CHAOS_MS);
        let promote_at_ms = rng
            .chance(500)
            .then(|| join_at_ms + rng.range(100, CHAOS_MS));
        Simulation {
            report: SimReport {
                seed: config.seed,
                ..SimReport::default()
            },
            config,
            rng,
            nodes,
            now_ms: 0,
            network: BTreeMap::new(),
            sequence: 0,
            partition: None,
            healed: false,
            proposals: 0,
            checkers: Checkers::default(),
            trace: Vec::new(),
            logger: discard_logger(),
            join_at_ms,
            promote_at_ms,
        }
    }

    fn fail(&self, property: &'static str, detail: String) -> SimFailure {
        SimFailure {
            seed: self.config.seed,
            replicas: self.config.replicas,
            property,
            detail,
            at_ms: Some(self.now_ms),
        }
    }

    fn trace(&mut self, what: &[u64]) {
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

    /// Runs to the end: chaos, heal, convergence. Returns the first violated property.
    pub fn run(mut self) -> Result<SimReport, SimFailure> {
        let voters: Vec<u64> = (1..=self.config.replicas).collect();
        for i in 0..self.nodes.len() {
            if self.nodes[i].id <= self.config.replicas {
                let mut store = LogStore::open(Box::new(self.nodes[i].disk.clone()))
                    .map_err(|e| self.fail("setup", e.to_string()))?;
                Replica::bootstrap(&mut store, ChainMachine::default(), &voters)
                    .map_err(|e| self.fail("setup", e.to_string()))?;
            }
            self.start(i)?;
        }
        let mut next_tick = TICK_MS;
        for step in 0..SIM_STEPS_MAX {
            self.report.steps = step;
            let next_message = self.network.keys().next().map(|k| k.0);
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
                self.trace(&[self.now_ms]);
                self.report.trace_hash = sha256(&self.trace);
                return Ok(self.report);
            }
            if self.now_ms > CHAOS_MS + LIVENESS_MS_MAX {
                return Err(self.fail("liveness", self.progress_summary()));
            }
        }
        Err(self.fail(
            "liveness",
            format!("{SIM_STEPS_MAX} steps: {}", self.progress_summary()),
        ))
    }

    fn progress_summary(&self) -> String {
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
    fn start(&mut self, i: usize) -> Result<(), SimFailure> {
        let config = self.replica_config(self.nodes[i].id);
        let node = &mut self.nodes[i];
        let durable = self.config.durable_state;
        let sm = node.kept_sm.take().unwrap_or_else(|| {
            if durable {
                ChainMachine::durable()
            } else {
                ChainMachine::default()
            }
        });
        let store = LogStore::open(Box::new(node.disk.clone()))
            .map_err(|e| e.to_string())
            .and_then(|store| {
                Replica::open(config, store, sm, &self.logger).map_err(|e| e.to_string())
            });
        match store {
            Ok(replica) => {
                node.replica = Some(replica);
                node.checked_commit = 0;
                self.check_replica(i)
            }
            Err(e) => Err(self.fail("recovery", format!("node {}: {e}", self.nodes[i].id))),
        }
    }

    fn crash(&mut self, i: usize, in_write: bool) {
        let keep_sm = self.rng.chance(500);
        let restart_in = self.rng.range(20, 400);
        let node = &mut self.nodes[i];
        let Some(replica) = node.replica.take() else {
            return;
        };
        self.report.snapshots_taken += replica.stats().snapshots_taken;
        self.report.snapshots_without_state += replica.stats().snapshots_without_state;
        self.report.snapshots_restored += replica.stats().snapshots_restored;
        self.report.entries_skipped += replica.stats().entries_skipped;
        let sm = replica.into_state_machine();
        // A durable machine keeps at least what it synced; a volatile one, nothing.
        node.kept_sm = if keep_sm { Some(sm) } else { sm.synced_state() };
        node.disk.disarm();
        node.restart_at_ms = self.now_ms + restart_in;
        self.report.crashes += 1;
        self.report.crashes_in_write += u64::from(in_write);
        if keep_sm {
            self.report.restarts_with_state += 1;
        }
        let id = node.id;
        self.trace(&[1, self.now_ms, id]);
    }

    fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].replica.is_some())
    }

    fn leader_index(&self) -> Option<usize> {
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
        for i in 0..self.nodes.len() {
            if let Some(r) = self.nodes[i].replica.as_mut() {
                r.tick();
            } else if self.nodes[i].restart_at_ms <= self.now_ms {
                self.start(i)?;
                let id = self.nodes[i].id;
                self.trace(&[2, self.now_ms, id]);
            }
        }
        if !self.healed {
            self.chaos();
        }
        self.membership();
        let now = self.now_ms;
        for i in 0..self.nodes.len() {
            if let Some(r) = self.nodes[i].replica.as_mut() {
                r.flush_proposals(now);
            }
        }
        Ok(())
    }

    /// A random party's random command on one of [`SIM_BILLS`] bills: issues, transfers,
    /// rejections and surrenders, most of them by someone the rules will refuse.
    fn workflow_payload(&mut self) -> Vec<u8> {
        let bill = self.rng.below(SIM_BILLS) as u8;
        let parties = chain::SIM_PARTIES;
        let pick = |rng: &mut SplitMix64| parties[rng.below(parties.len() as u64) as usize].0;
        let mut party = pick(&mut self.rng);
        let command = match self.rng.below(8) {
            0 => {
                // Issuing is the carrier's; a random issuer would almost never succeed.
                party = chain::SIM_CARRIER;
                serde_json::json!({
                    "action": "ISSUE",
                    "issueTo": pick(&mut self.rng),
                    "content": chain::SimCommand::blank_bill_content(bill),
                })
            }
            1..=3 => serde_json::json!({"action": "TRANSFER", "to": pick(&mut self.rng)}),
            4 => serde_json::json!({"action": "REJECT_TRANSFER"}),
            5 => serde_json::json!({"action": "SURRENDER_FOR_DELIVERY"}),
            6 => serde_json::json!({"action": "ACCEPT_SURRENDER"}),
            _ => serde_json::json!({"action": "REJECT_SURRENDER", "comment": "not yet"}),
        };
        chain::SimCommand {
            party: party.to_string(),
            bill,
            command: serde_json::from_value(command).expect("the simulator's commands parse"),
        }
        .payload()
    }

    /// Faults and client load, during the chaos phase only.
    fn chaos(&mut self) {
        let n = self.nodes.len();
        if self.proposals < PROPOSALS_MAX && self.rng.chance(300) {
            let i = self.rng.below(n as u64) as usize;
            let count = self.rng.range(1, 3);
            for _ in 0..count {
                self.proposals += 1;
                let id = ProposalId(self.proposals);
                let payload = if self.rng.chance(600) {
                    self.workflow_payload()
                } else {
                    format!("payload-{}-{}", self.proposals, self.rng.next_u64()).into_bytes()
                };
                if let Some(r) = self.nodes[i].replica.as_mut() {
                    // Refusals (stopped replica, oversized payload) cannot happen here.
                    let _ = r.propose(id, payload, self.now_ms);
                }
            }
        }
        if self.rng.chance(self.config.crash_per_mille) {
            let i = self.rng.below(n as u64) as usize;
            match self.rng.below(3) {
                0 => self.crash(i, false),
                lands => self.nodes[i].disk.crash_on_next_write(lands == 2),
            }
        }
        let partition_over = self
            .partition
            .as_ref()
            .is_some_and(|(_, until)| *until <= self.now_ms);
        if partition_over {
            self.partition = None;
        }
        if self.partition.is_none() && self.rng.chance(self.config.partition_per_mille) {
            let sides = (0..n).map(|_| self.rng.chance(500)).collect();
            let until = self.now_ms + self.rng.range(50, 600);
            self.partition = Some((sides, until));
        }
    }

    /// Adds the joiner as a learner, then maybe promotes it, through the leader.
    fn membership(&mut self) {
        if !self.config.joiner || self.now_ms < self.join_at_ms {
            return;
        }
        let joiner = self.config.replicas + 1;
        let Some(l) = self.leader_index() else {
            return;
        };
        let leader = self.nodes[l].replica.as_mut().expect("live");
        let cs = leader.conf_state().clone();
        let change = if !conf_state_contains(&cs, joiner) {
            ConfChangeType::AddLearnerNode
        } else if self.promote_at_ms.is_some_and(|t| t <= self.now_ms)
            && !cs.voters.contains(&joiner)
        {
            ConfChangeType::AddNode
        } else {
            return;
        };
        // A dropped or superseded proposal is simply retried at the next attempt.
        let _ = leader.propose_conf_change(conf_change(change, joiner));
        self.join_at_ms = self.now_ms + 300;
    }

    fn partitioned(&self, a: u64, b: u64) -> bool {
        match &self.partition {
            Some((sides, _)) => sides[(a - 1) as usize] != sides[(b - 1) as usize],
            None => false,
        }
    }

    fn send(&mut self, from: u64, messages: Vec<Message>) -> Result<(), SimFailure> {
        for message in messages {
            let to = message.to;
            if to == 0 || to > self.nodes.len() as u64 {
                return Err(self.fail("well_formed", format!("message to unknown node {to}")));
            }
            if self.partitioned(from, to)
                || (!self.healed && self.rng.chance(self.config.drop_per_mille))
            {
                self.report.dropped += 1;
                continue;
            }
            let copies = if self.rng.chance(self.config.duplicate_per_mille) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let delay = if self.rng.chance(50) {
                    self.rng.range(20, 150)
                } else {
                    self.rng.range(1, 15)
                };
                self.sequence += 1;
                self.network.insert(
                    (self.now_ms + delay, self.sequence),
                    InFlight {
                        from,
                        message: message.clone(),
                    },
                );
            }
        }
        if self.network.len() > IN_FLIGHT_MAX {
            return Err(self.fail(
                "bounded_network",
                format!("{} messages in flight", self.network.len()),
            ));
        }
        Ok(())
    }

    fn deliver_due(&mut self) -> Result<(), SimFailure> {
        while let Some(entry) = self.network.first_entry() {
            if entry.key().0 > self.now_ms {
                break;
            }
            let InFlight { from, message } = entry.remove();
            let to = message.to;
            let i = (to - 1) as usize;
            if self.partitioned(from, to) || self.nodes[i].replica.is_none() {
                self.report.dropped += 1;
                continue;
            }
            self.report.delivered += 1;
            self.trace(&[3, self.now_ms, from, to, message.get_msg_type() as u64]);
            let replica = self.nodes[i].replica.as_mut().expect("live");
            // Messages from unknown peers or stale terms are refused by raft-rs; not a failure.
            let _ = replica.step(message);
            // Rarely, crash right after the step: whatever the message changed in memory (say,
            // appended entries not yet in a Ready) is lost.
            if !self.healed && self.rng.chance(self.config.crash_per_mille / 5) {
                self.crash(i, false);
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
        }
        Ok(())
    }

    fn after_ready(
        &mut self,
        i: usize,
        fx: CollectEffects<[u8; 32]>,
        result: Result<(), ReplicaError>,
    ) -> Result<(), SimFailure> {
        let id = self.nodes[i].id;
        // Effects produced before a failure happened for real (messages sent before the write).
        for a in &fx.applied {
            self.trace(&[4, self.now_ms, id, a.index]);
            self.check_committed(id, a.index, a.term, a.data_hash, "applied")?;
        }
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
                self.crash(i, true);
                return Ok(());
            }
            Err(e) => return Err(self.fail("no_fatal_error", format!("node {id}: {e}"))),
        }
        self.check_replica(i)
    }

    /// `committed_never_changes` for one entry.
    fn check_committed(
        &mut self,
        node: u64,
        index: LogIndex,
        term: u64,
        hash: [u8; 32],
        how: &str,
    ) -> Result<(), SimFailure> {
        match self.checkers.committed.get(&index) {
            Some(&(t, h)) if (t, h) != (term, hash) => Err(self.fail(
                "committed_never_changes",
                format!(
                    "node {node} {how} index {index} term {term} data {}, but term {t} data {} \
                     was committed there",
                    hex::encode(&hash[..8]),
                    hex::encode(&h[..8])
                ),
            )),
            Some(_) => Ok(()),
            None => {
                self.checkers.committed.insert(index, (term, hash));
                Ok(())
            }
        }
    }

    /// The per-replica checkers, after every Ready and restart.
    fn check_replica(&mut self, i: usize) -> Result<(), SimFailure> {
        let node = &self.nodes[i];
        let Some(r) = node.replica.as_ref() else {
            return Ok(());
        };
        let id = node.id;
        let leader_term = r.is_leader().then(|| r.term());
        let applied = r.applied_index();
        let hash = r.state_machine().state_hash();
        // exactly_one_possessor: every bill satisfies the workflow's invariants (an issued bill
        // has exactly one possessor), and every replica names the same possessor at an index.
        let mut possessors = BTreeMap::new();
        let mut broken_bill = None;
        for (key, doc) in r.state_machine().documents() {
            if let Err(broken) = doc_workflow::check_invariants(doc) {
                broken_bill = Some(broken);
            }
            possessors.insert(
                key.id.to_string(),
                doc.possessor.as_ref().map(|p| p.as_str().to_string()),
            );
        }
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

        // election_safety
        if let Some(term) = leader_term {
            self.report.max_term = self.report.max_term.max(term);
            match self.checkers.leaders.get(&term) {
                Some(&other) if other != id => {
                    return Err(self.fail(
                        "election_safety",
                        format!("nodes {other} and {id} both leader in term {term}"),
                    ));
                }
                Some(_) => {}
                None => {
                    self.checkers.leaders.insert(term, id);
                    self.trace(&[6, self.now_ms, id, term]);
                }
            }
        }
        // state_agreement
        match self.checkers.state_hashes.get(&applied) {
            Some(h) if *h != hash => {
                return Err(self.fail(
                    "state_agreement",
                    format!(
                        "node {id} at applied index {applied} has state {}, another replica had {}",
                        hex::encode(&hash[..8]),
                        hex::encode(&h[..8])
                    ),
                ));
            }
            Some(_) => {}
            None => {
                self.checkers.state_hashes.insert(applied, hash);
            }
        }
        if let Some(broken) = broken_bill {
            return Err(self.fail(
                "exactly_one_possessor",
                format!("node {id} at applied index {applied}: {broken}"),
            ));
        }
        match self.checkers.possessors.get(&applied) {
            Some(seen) if *seen != possessors => {
                return Err(self.fail(
                    "exactly_one_possessor",
                    format!(
                        "node {id} at applied index {applied} has possessors {possessors:?}, \
                         another replica had {seen:?}"
                    ),
                ));
            }
            Some(_) => {}
            None => {
                self.checkers.possessors.insert(applied, possessors);
            }
        }
        // committed_never_changes
        for (index, term, hash) in held {
            self.check_committed(id, index, term, hash, "holds as committed")?;
        }
        Ok(())
    }

    fn heal(&mut self) {
        self.healed = true;
        self.partition = None;
        for i in 0..self.nodes.len() {
            self.nodes[i].disk.disarm();
            if self.nodes[i].replica.is_none() {
                self.nodes[i].restart_at_ms = self.now_ms;
            }
        }
        // Close any open batch so convergence does not wait on a proposal deadline.
        for i in 0..self.nodes.len() {
            if let Some(r) = self.nodes[i].replica.as_mut() {
                r.flush_proposals_now(self.now_ms);
            }
        }
        self.trace(&[7, self.now_ms]);
    }

    /// `liveness`: all members up, a leader, and every member has applied the highest commit.
    fn converged(&mut self) -> Result<bool, SimFailure> {
        if self.nodes.iter().any(|n| n.replica.is_none()) {
            return Ok(false);
        }
        let Some(l) = self.leader_index() else {
            return Ok(false);
        };
        let leader = self.nodes[l].replica.as_ref().expect("live");
        let target = leader.commit_index();
        // Until a leader has committed an entry of its own term, its commit index may lag.
        let committed_max = self.checkers.committed.keys().next_back().copied();
        if committed_max.is_some_and(|m| m > target) {
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
                self.nodes[i]
                    .replica
                    .as_ref()
                    .expect("live")
                    .state_machine()
                    .state_hash()
            })
            .collect();
        if hashes.windows(2).any(|w| w[0] != w[1]) {
            return Err(self.fail(
                "state_agreement",
                format!("members differ at index {target}"),
            ));
        }
        if self.config.joiner {
            self.report.joiner_caught_up = conf_state_contains(&cs, self.config.replicas + 1);
        }
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
