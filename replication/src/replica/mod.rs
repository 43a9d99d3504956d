//! [`Replica`]: one Raft member, its log store and its state machine, and the ONE
//! implementation of `Ready` handling that the simulator and the tokio runtime both call.
//!
//! Architecture invariant: nothing here does I/O except through [`LogStore::write`], reads a
//! clock, or spawns anything. Time comes in as `now_ms`; messages go out through
//! [`ReadyEffects`]. That is what lets the simulator run this exact code deterministically.
//!
//! The module's files:
//!
//! - this one: the limits, the configuration, the [`ReadyEffects`] contract, opening and
//!   bootstrapping a replica, and its inputs (`tick`, `step`, `propose`, `read_index`);
//! - `ready`: [`Replica::handle_ready`], the one `Ready` handling (persist, send, apply);
//! - `snapshots`: local snapshots and compaction, restoring a leader's snapshot, and the
//!   leader's wait for a peer to install one;
//! - `membership`: conf changes applied from the log, and the leader's reconciliation of Raft's
//!   configuration with the state machine's membership ([`next_conf_change`]).

mod flow;
mod membership;
mod ready;
mod snapshots;

pub use membership::{conf_change, next_conf_change};

use std::collections::BTreeMap;

use raft::eraftpb::{ConfChange, ConfState, Entry, Message, MessageType};
use raft::{RawNode, ReadState, StateRole};

use crate::batch::{Batch, Batcher, ProposalId};
use crate::error::{ProposeError, ReplicaError, StateMachineError};
use crate::rng::SplitMix64;
use crate::state_machine::{
    CommittedEntry, EntryKind, LogIndex, StateHash, StateMachine, StateSnapshot,
};
use crate::storage::{GENESIS_INDEX, GENESIS_TERM, LogStore};

pub use flow::{APPLY_REPORT_FRESH_TICKS, IN_SYNC_LAG_ENTRIES};

/// Largest Raft message raft-rs builds (it packs appended entries up to this size). 1 MiB keeps
/// one message well under any transport frame limit and equals `batch::BATCH_BYTES_MAX`, so a
/// batch always fits one message.
pub const RAFT_MESSAGE_BYTES_MAX: u64 = 1024 * 1024;

/// Append messages in flight to one follower before the leader waits for acknowledgements:
/// 256 x 1 MiB bounds the leader's buffered replication traffic per follower at 256 MiB worst
/// case, and is raft-rs's own default.
pub const RAFT_INFLIGHT_MESSAGES_MAX: usize = 256;

/// Bytes of proposed-but-uncommitted entries a leader accepts before dropping proposals: the
/// back-pressure that keeps a leader without a quorum from buffering without bound.
pub const RAFT_UNCOMMITTED_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// Bytes of committed entries handed out in one `Ready`: bounds the memory and the latency of
/// one pass of the apply loop after a long catch-up. Two full batches (`batch::BATCH_BYTES_MAX`;
/// raft-rs hands out at least one entry whatever its size): at 600,000 documents a block of a
/// few dozen bills takes 25-40 ms to apply, and 16 MiB (hundreds of blocks) was seconds in which
/// the driver took no proposal and no tick.
pub const RAFT_COMMITTED_BYTES_PER_READY_MAX: u64 = 2 * 1024 * 1024;

/// Election timeout in ticks (randomized by raft-rs in `[ticks, 2 x ticks)`). With the
/// runtime's 100 ms tick, a dead leader is replaced in 1-2 s: long enough not to flap under a
/// loaded 2-core machine's scheduling delays.
pub const ELECTION_TICKS: usize = 10;

/// Heartbeat interval in ticks: three heartbeats per minimum election timeout, so one lost
/// heartbeat does not start an election.
pub const HEARTBEAT_TICKS: usize = 3;

/// Take a state-machine snapshot (and compact the log) every this many applied entries.
/// Each entry is a batch of up to 64 payloads, so 10,000 entries is up to 640,000 payloads
/// between snapshots: snapshotting is rare, and replaying the tail after a restart is short.
pub const SNAPSHOT_INTERVAL_ENTRIES: u64 = 10_000;

/// Entries kept behind a snapshot when compacting, so that a follower that is only slightly
/// behind catches up from the log instead of receiving a whole snapshot.
pub const LOG_RETAIN_ENTRIES: u64 = 1_000;

/// Take a snapshot (and compact the log) also once the entries applied since the last one hold
/// this many bytes. The retained log is kept in memory and a block of 64 signed bills is about
/// 240 KiB, so counting entries alone would let the log grow to gigabytes between snapshots.
/// For a durable state machine such a snapshot is cheap: it records only its position.
pub const SNAPSHOT_INTERVAL_BYTES: u64 = 128 * 1024 * 1024;

/// Most bytes of entries kept behind a snapshot (whichever of this and [`LOG_RETAIN_ENTRIES`]
/// keeps fewer entries).
pub const LOG_RETAIN_BYTES: u64 = 64 * 1024 * 1024;

/// Ticks a leader waits, after handing a snapshot to the transport, for the peer to install it
/// before taking it as lost: a base (3 s at the runtime's 100 ms tick, three election timeouts)
/// plus one tick per [`SNAPSHOT_BYTES_PER_TICK`]. Until then the peer is left alone (raft-rs
/// sends a peer in snapshot state nothing); the peer's first acknowledgement after installing it
/// ends the wait at once.
pub const SNAPSHOT_WAIT_TICKS_MIN: u64 = 30;

/// Bytes of snapshot a peer is given one tick to receive and install: 512 KiB per 100 ms,
/// far below what loopback TLS and a sled import do, so that an 800 MB snapshot is not taken
/// as lost (and taken and sent again) while it is still on its way.
pub const SNAPSHOT_BYTES_PER_TICK: u64 = 512 * 1024;

/// Configuration of one replica.
#[derive(Debug, Clone)]
pub struct ReplicaConfig {
    /// Raft id; never 0, unique in the cluster, never reused.
    pub id: u64,
    /// See [`ELECTION_TICKS`].
    pub election_ticks: usize,
    /// See [`HEARTBEAT_TICKS`].
    pub heartbeat_ticks: usize,
    /// See [`SNAPSHOT_INTERVAL_ENTRIES`].
    pub snapshot_interval_entries: u64,
    /// See [`LOG_RETAIN_ENTRIES`].
    pub log_retain_entries: u64,
    /// See [`SNAPSHOT_INTERVAL_BYTES`].
    pub snapshot_interval_bytes: u64,
    /// See [`LOG_RETAIN_BYTES`].
    pub log_retain_bytes: u64,
    /// If set, election timeouts are drawn from this seed instead of raft-rs's thread-local
    /// RNG, so that a simulation replays exactly. `None` in production.
    pub election_jitter_seed: Option<u64>,
}

impl ReplicaConfig {
    /// Production defaults for replica `id`.
    pub fn new(id: u64) -> ReplicaConfig {
        ReplicaConfig {
            id,
            election_ticks: ELECTION_TICKS,
            heartbeat_ticks: HEARTBEAT_TICKS,
            snapshot_interval_entries: SNAPSHOT_INTERVAL_ENTRIES,
            log_retain_entries: LOG_RETAIN_ENTRIES,
            snapshot_interval_bytes: SNAPSHOT_INTERVAL_BYTES,
            log_retain_bytes: LOG_RETAIN_BYTES,
            election_jitter_seed: None,
        }
    }
}

/// What [`Replica::backup`] returns: a consistent state and where in the log it stands.
pub struct BackupPoint {
    /// The applied index the state is at.
    pub index: LogIndex,
    /// The term of the entry at `index`.
    pub term: u64,
    /// Raft's voters as of `index`, sorted.
    pub voters: Vec<u64>,
    /// Raft's learners as of `index`, sorted.
    pub learners: Vec<u64>,
    /// The state machine's hash at `index`.
    pub state_hash: StateHash,
    /// The state, in chunks.
    pub reader: Box<dyn crate::stream::ChunkReader>,
}

impl std::fmt::Debug for BackupPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupPoint")
            .field("index", &self.index)
            .field("term", &self.term)
            .field("voters", &self.voters)
            .field("learners", &self.learners)
            .finish_non_exhaustive()
    }
}

/// One applied entry, as reported to the driver.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied<O> {
    /// Log index of the entry.
    pub index: LogIndex,
    /// Term of the entry.
    pub term: u64,
    /// Ids of the proposals the entry carried (empty for no-ops and conf changes): whoever
    /// proposed them can now answer its clients.
    pub proposals: Vec<ProposalId>,
    /// The membership after the entry, if it was a conf change.
    pub conf_state: Option<ConfState>,
    /// What the state machine returned.
    pub output: O,
    /// SHA-256 of the entry's data: lets checkers compare entries without keeping them.
    pub data_hash: [u8; 32],
}

/// What a `Ready` makes the replica do to the outside world. The simulator implements this
/// with a virtual network; the runtime with a transport and client replies.
pub trait ReadyEffects<O> {
    /// Sends Raft messages to peers (`message.to`). May drop: Raft tolerates loss.
    fn send(&mut self, messages: Vec<Message>);
    /// An entry was applied to the state machine.
    fn applied(&mut self, applied: Applied<O>);
    /// The state machine was replaced by a snapshot at `index`.
    fn snapshot_restored(&mut self, _index: LogIndex) {}
    /// Proposals that raft-rs dropped (no known leader, or back-pressure): never committed.
    fn proposals_dropped(&mut self, _ids: Vec<ProposalId>) {}
    /// Linearizable reads that may now be served (see [`Replica::read_index`]).
    fn read_states(&mut self, _states: Vec<ReadState>) {}
    /// Leadership changed as seen by this replica.
    fn role_changed(&mut self, _leader_id: u64, _role: StateRole) {}
}

/// A [`ReadyEffects`] that just collects everything, for tests and simple drivers.
#[derive(Debug)]
pub struct CollectEffects<O> {
    /// Messages to send, in order.
    pub messages: Vec<Message>,
    /// Applied entries, in order.
    pub applied: Vec<Applied<O>>,
    /// Snapshot indexes restored.
    pub restored: Vec<LogIndex>,
    /// Dropped proposals.
    pub dropped: Vec<ProposalId>,
    /// Read states.
    pub read_states: Vec<ReadState>,
}

impl<O> Default for CollectEffects<O> {
    fn default() -> Self {
        CollectEffects {
            messages: Vec::new(),
            applied: Vec::new(),
            restored: Vec::new(),
            dropped: Vec::new(),
            read_states: Vec::new(),
        }
    }
}

impl<O> ReadyEffects<O> for CollectEffects<O> {
    fn send(&mut self, messages: Vec<Message>) {
        self.messages.extend(messages);
    }
    fn applied(&mut self, applied: Applied<O>) {
        self.applied.push(applied);
    }
    fn snapshot_restored(&mut self, index: LogIndex) {
        self.restored.push(index);
    }
    fn proposals_dropped(&mut self, ids: Vec<ProposalId>) {
        self.dropped.extend(ids);
    }
    fn read_states(&mut self, states: Vec<ReadState>) {
        self.read_states.extend(states);
    }
}

/// Counters, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplicaStats {
    /// Durable writes (one per `Ready` that had something to persist).
    pub durable_writes: u64,
    /// Entries applied to the state machine.
    pub entries_applied: u64,
    /// Entries skipped after a restart because the state machine had already applied them.
    pub entries_skipped: u64,
    /// Local snapshots taken (each followed by a compaction).
    pub snapshots_taken: u64,
    /// Of those, the ones that record only their position (a durable state machine's, when no
    /// peer needed the state).
    pub snapshots_without_state: u64,
    /// Snapshots received from a leader and restored into the state machine.
    pub snapshots_restored: u64,
}

/// What the leader knows of one member's log (see [`Replica::peer_progress`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerProgress {
    /// Raft id.
    pub id: u64,
    /// The highest log index known to be durably in that member's log and equal to the
    /// leader's (0: not known yet, as right after an election). The member applies it once it
    /// is committed, so its applied index may be lower.
    pub matched: LogIndex,
}

/// One Raft member: consensus, durable log, state machine.
pub struct Replica<S: StateMachine> {
    /// Raft id.
    id: u64,
    /// raft-rs's node, owning the log store.
    node: RawNode<LogStore>,
    /// The apply side.
    sm: S,
    /// Groups client payloads into entries.
    batcher: Batcher,
    /// Membership as of `applied_through`; stored with every local snapshot.
    conf_state: ConfState,
    /// Last index that went through the apply loop (Raft's applied index). Can be below
    /// `sm.applied_index()` right after a restart with a durable state machine.
    applied_through: LogIndex,
    /// See [`ReplicaConfig::snapshot_interval_entries`].
    snapshot_interval_entries: u64,
    /// See [`ReplicaConfig::log_retain_entries`].
    log_retain_entries: u64,
    /// See [`ReplicaConfig::snapshot_interval_bytes`].
    snapshot_interval_bytes: u64,
    /// See [`ReplicaConfig::log_retain_bytes`].
    log_retain_bytes: u64,
    /// Bytes of the entries applied since the stored snapshot was taken or installed.
    bytes_since_snapshot: u64,
    /// A peer needs a fresher snapshot than the stored one.
    snapshot_wanted: bool,
    /// Snapshots handed to the transport and not yet installed, by peer: the ticks left before
    /// the leader takes one as lost (see [`SNAPSHOT_WAIT_TICKS_MIN`]).
    snapshots_in_flight: BTreeMap<u64, u64>,
    /// The highest commit index a leader's append announced to this replica: a follower whose
    /// log is behind the leader's knows only `min(that, its own last entry)` as its commit
    /// index, so this is what tells it how far behind the cluster it is
    /// ([`Replica::leader_commit_index`]).
    leader_commit_seen: LogIndex,
    /// The peers' applied indexes (as leader) and the slowest voter's lag (as follower), as
    /// the append messages carry them ([`Replica::cluster_apply_lag`]).
    apply_reports: flow::ApplyReports,
    /// The stored snapshot holds a durable state machine's state only because a peer needed it
    /// (or it was installed from the leader): replace it with one that records only its
    /// position, so that the state is not kept in memory and on disk a second time.
    shed_snapshot_state: bool,
    /// Deterministic election jitter (simulator only).
    jitter: Option<SplitMix64>,
    /// `[min, max)` election timeout in ticks, for the jitter.
    election_timeout_range: (usize, usize),
    /// Proposals raft-rs refused since the last `handle_ready`.
    dropped: Vec<ProposalId>,
    /// Set by the first fatal error: the replica then refuses all work.
    stopped: bool,
    /// Counters.
    stats: ReplicaStats,
    /// The operator's counters, when attached ([`Replica::set_metrics`]).
    metrics: Option<std::sync::Arc<crate::metrics::ReplicaMetrics>>,
}

impl<S: StateMachine> std::fmt::Debug for Replica<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("id", &self.id)
            .field("role", &self.node.raft.state)
            .field("term", &self.node.raft.term)
            .field("applied_through", &self.applied_through)
            .field("stopped", &self.stopped)
            .finish_non_exhaustive()
    }
}

impl<S: StateMachine> Replica<S> {
    /// Opens a replica over a log store and a state machine, reconciling the two: a state
    /// machine behind the stored snapshot is restored from it; one ahead of the log is refused.
    /// Raft then replays every committed entry after the snapshot; the replica applies conf
    /// changes to Raft and hands the state machine only the entries it has not applied yet.
    pub fn open(
        config: ReplicaConfig,
        store: LogStore,
        mut sm: S,
        logger: &slog::Logger,
    ) -> Result<Replica<S>, ReplicaError> {
        let id = config.id;
        let snapshot = store.core().snapshot.clone();
        let snapshot_index = snapshot.get_metadata().index;
        if sm.applied_index() < snapshot_index && snapshot.data.is_empty() {
            // Only a durable machine's snapshots hold no state, and it was synced past the
            // snapshot before the log was compacted: its store was lost or replaced since.
            return Err(ReplicaError::Recovery {
                id,
                reason: format!(
                    "the state machine has applied {} but the log was compacted behind index \
                     {snapshot_index}, whose snapshot holds no state: the state store is not \
                     the one this log was written with",
                    sm.applied_index()
                ),
            });
        }
        if sm.applied_index() < snapshot_index {
            sm.restore(&StateSnapshot {
                applied_index: snapshot_index,
                data: snapshot.data.to_vec(),
            })
            .map_err(|source| ReplicaError::StateMachine { id, source })?;
        }
        if sm.applied_index() > store.core().last_index() {
            return Err(ReplicaError::Recovery {
                id,
                reason: format!(
                    "state machine applied {} but the durable log ends at {}",
                    sm.applied_index(),
                    store.core().last_index()
                ),
            });
        }
        let conf_state = snapshot.get_metadata().get_conf_state().clone();
        let raft_config = raft::Config {
            id,
            election_tick: config.election_ticks,
            heartbeat_tick: config.heartbeat_ticks,
            applied: snapshot_index,
            max_size_per_msg: RAFT_MESSAGE_BYTES_MAX,
            max_inflight_msgs: RAFT_INFLIGHT_MESSAGES_MAX,
            // A leader that cannot hear a quorum steps down, so clients stop waiting on it.
            check_quorum: true,
            // A partitioned node rejoining does not disrupt the cluster with a higher term.
            pre_vote: true,
            max_uncommitted_size: RAFT_UNCOMMITTED_BYTES_MAX,
            max_committed_size_per_ready: RAFT_COMMITTED_BYTES_PER_READY_MAX,
            ..raft::Config::default()
        };
        raft_config.validate()?;
        let election_timeout_range = (
            raft_config.min_election_tick(),
            raft_config.max_election_tick(),
        );
        let node = RawNode::new(&raft_config, store, logger)?;
        let mut replica = Replica {
            id,
            node,
            sm,
            batcher: Batcher::default(),
            conf_state,
            applied_through: snapshot_index,
            snapshot_interval_entries: config.snapshot_interval_entries.max(1),
            log_retain_entries: config.log_retain_entries,
            snapshot_interval_bytes: config.snapshot_interval_bytes.max(1),
            log_retain_bytes: config.log_retain_bytes,
            bytes_since_snapshot: 0,
            snapshot_wanted: false,
            snapshots_in_flight: BTreeMap::new(),
            leader_commit_seen: 0,
            apply_reports: flow::ApplyReports::default(),
            shed_snapshot_state: false,
            jitter: config.election_jitter_seed.map(SplitMix64::new),
            election_timeout_range,
            dropped: Vec::new(),
            stopped: false,
            stats: ReplicaStats::default(),
            metrics: None,
        };
        replica.rejitter();
        Ok(replica)
    }

    /// Writes the genesis of a new cluster into a founding replica's empty store: `genesis`
    /// (a fresh state machine) applies a no-op genesis entry, and its snapshot becomes the
    /// store's first snapshot, with `voters` as the membership. Every founder must be
    /// bootstrapped with the same voters and an equal `genesis`. A no-op if already initialized.
    pub fn bootstrap(
        store: &mut LogStore,
        mut genesis: S,
        voters: &[u64],
    ) -> Result<(), ReplicaError> {
        if store.is_initialized() {
            return Ok(());
        }
        let id = voters.first().copied().unwrap_or(0);
        if genesis.applied_index() != 0 {
            return Err(ReplicaError::Recovery {
                id,
                reason: "genesis state machine has already applied entries".into(),
            });
        }
        let sm_err = |source| ReplicaError::StateMachine { id, source };
        genesis
            .apply(CommittedEntry {
                index: GENESIS_INDEX,
                term: GENESIS_TERM,
                kind: EntryKind::Noop,
            })
            .map_err(sm_err)?;
        let state = genesis.snapshot().map_err(sm_err)?;
        store
            .bootstrap(voters, state.data)
            .map_err(|source| ReplicaError::Storage { id, source })
    }

    /// Raft id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Advances Raft's logical clock by one tick.
    pub fn tick(&mut self) {
        if self.stopped {
            return;
        }
        self.node.tick();
        self.apply_reports.tick();
        self.rejitter();
        self.tick_snapshots_in_flight();
    }

    /// Feeds a message from a peer. An error refuses that message only (e.g. unknown sender).
    /// A snapshot the state machine cannot restore now (a descriptor whose streamed state was
    /// not received: a duplicate, or a stray message) is dropped: the leader sends it again.
    pub fn step(&mut self, mut message: Message) -> Result<(), ReplicaError> {
        self.ensure_running()?;
        if message.get_msg_type() == MessageType::MsgSnapshot
            && !self.sm.can_restore(message.get_snapshot().get_data())
        {
            tracing::debug!(
                replica = self.id,
                from = message.from,
                index = message.get_snapshot().get_metadata().index,
                "a snapshot whose state was not received is dropped"
            );
            return Ok(());
        }
        match message.get_msg_type() {
            MessageType::MsgAppend => {
                // An append carries its leader's own commit index (a heartbeat carries at most
                // what the leader knows this replica has, so it says nothing about the lag),
                // and the lag of the cluster's slowest voter (`flow`).
                self.leader_commit_seen = self.leader_commit_seen.max(message.commit);
                if let Some(lag) = flow::decode(message.get_context()) {
                    self.apply_reports.note_announced(lag);
                }
            }
            MessageType::MsgAppendResponse => {
                if let Some(applied) = flow::decode(message.get_context()) {
                    let commit = self.commit_index();
                    self.apply_reports
                        .note_applied(message.from, applied, commit);
                }
            }
            _ => {}
        }
        self.clamp_heartbeat_commit(&mut message);
        let result = self.node.step(message);
        self.rejitter();
        result.map_err(ReplicaError::from)
    }

    /// A leader's heartbeat carries `min(what it last knew this replica had, its commit)`. After
    /// this replica lost its log (a wiped data directory, rebuilt from genesis), the leader's
    /// memory is stale and names an index beyond this log's end, which raft-rs treats as fatal
    /// (`to_commit is out of range`). A heartbeat's commit is only advice: beyond the log's end it
    /// is ignored (the commit stays where it is), the replica answers, the leader probes back to
    /// where the logs agree and, past its compacted prefix, sends a snapshot. Appends carry their
    /// own, checked commit and are untouched.
    fn clamp_heartbeat_commit(&self, message: &mut Message) {
        if message.get_msg_type() != MessageType::MsgHeartbeat {
            return;
        }
        let log = &self.node.raft.raft_log;
        if message.commit > log.last_index() {
            tracing::debug!(
                replica = self.id,
                heartbeat_commit = message.commit,
                last_index = log.last_index(),
                "heartbeat names a commit beyond this log; ignored until the leader catches us up"
            );
            message.commit = log.committed;
        }
    }

    /// Starts an election now (tests, leadership transfer).
    pub fn campaign(&mut self) -> Result<(), ReplicaError> {
        self.ensure_running()?;
        let result = self.node.campaign();
        self.rejitter();
        result.map_err(ReplicaError::from)
    }

    /// Queues a client payload. It is proposed when its batch closes (full now, or at its
    /// deadline through [`Replica::flush_proposals`]). Completion is reported through
    /// [`ReadyEffects::applied`] (on every replica) or [`ReadyEffects::proposals_dropped`].
    pub fn propose(
        &mut self,
        id: ProposalId,
        payload: Vec<u8>,
        now_ms: u64,
    ) -> Result<(), ProposeError> {
        if self.stopped {
            return Err(ProposeError::Stopped);
        }
        let attestation = self.sm.attestation();
        for batch in self.batcher.push(id, payload, now_ms, attestation)? {
            self.propose_batch(batch);
        }
        Ok(())
    }

    /// Proposes the open batch if its deadline has passed.
    pub fn flush_proposals(&mut self, now_ms: u64) {
        if let Some(batch) = self.batcher.poll(now_ms) {
            self.propose_batch(batch);
        }
    }

    /// Proposes the open batch now, whatever its age.
    pub fn flush_proposals_now(&mut self, now_ms: u64) {
        if let Some(batch) = self.batcher.flush(now_ms) {
            self.propose_batch(batch);
        }
    }

    /// When [`Replica::flush_proposals`] must next be called, if a batch is open.
    pub fn next_batch_deadline_ms(&self) -> Option<u64> {
        self.batcher.deadline_ms()
    }

    fn propose_batch(&mut self, batch: Batch) {
        if self.stopped {
            self.batcher.settled(batch.proposals[0].id);
            self.dropped.extend(batch.proposals.iter().map(|p| p.id));
            return;
        }
        let data = batch.encode();
        if let Err(e) = self.node.propose(Vec::new(), data) {
            tracing::debug!(replica = self.id, error = %e, "proposal dropped");
            self.batcher.settled(batch.proposals[0].id);
            self.dropped.extend(batch.proposals.iter().map(|p| p.id));
        }
    }

    /// Proposes a membership change. It takes effect on each replica when applied.
    pub fn propose_conf_change(&mut self, change: ConfChange) -> Result<(), ReplicaError> {
        self.ensure_running()?;
        self.node
            .propose_conf_change(Vec::new(), change)
            .map_err(ReplicaError::from)
    }

    /// Asks for a linearizable read point; the answer arrives as a [`ReadState`] carrying
    /// `context`, to be served once the state machine has applied its index.
    pub fn read_index(&mut self, context: Vec<u8>) -> Result<(), ReplicaError> {
        self.ensure_running()?;
        self.node.read_index(context);
        Ok(())
    }

    /// Whether [`Replica::handle_ready`] has work.
    pub fn has_ready(&self) -> bool {
        !self.stopped && (self.node.has_ready() || !self.dropped.is_empty())
    }

    /// raft-rs draws election timeouts from a thread-local RNG. In the simulator they must come
    /// from the seed: whenever raft-rs may have drawn one (it resets `election_elapsed` to 0
    /// whenever it does), draw a replacement from the seeded stream.
    fn rejitter(&mut self) {
        let Some(rng) = self.jitter.as_mut() else {
            return;
        };
        let raft = &mut self.node.raft;
        if raft.election_elapsed == 0 {
            let (min, max) = self.election_timeout_range;
            let timeout = min + rng.below((max - min) as u64) as usize;
            raft.set_randomized_election_timeout(timeout);
        }
    }

    fn ensure_running(&self) -> Result<(), ReplicaError> {
        if self.stopped {
            Err(ReplicaError::Stopped { id: self.id })
        } else {
            Ok(())
        }
    }

    fn invariant(&self, reason: String) -> ReplicaError {
        ReplicaError::Invariant {
            id: self.id,
            reason,
        }
    }

    fn corrupt(&self, entry: &Entry, e: impl std::fmt::Display) -> ReplicaError {
        ReplicaError::CorruptEntry {
            id: self.id,
            index: entry.index,
            reason: e.to_string(),
        }
    }

    /// Whether this replica has stopped after a fatal error.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// The current role.
    pub fn role(&self) -> StateRole {
        self.node.raft.state
    }

    /// Whether this replica believes it is the leader.
    pub fn is_leader(&self) -> bool {
        self.node.raft.state == StateRole::Leader
    }

    /// The leader this replica knows of (0: none).
    pub fn leader_id(&self) -> u64 {
        self.node.raft.leader_id
    }

    /// Whether a ReadIndex request asked of this replica now can be answered: raft-rs drops
    /// one, silently, on a follower that knows no leader and on a leader that has not yet
    /// committed an entry of its term (right after its election).
    pub fn can_read(&self) -> bool {
        let raft = &self.node.raft;
        raft.leader_id != 0 && (raft.state != StateRole::Leader || raft.commit_to_current_term())
    }

    /// How far each voter's and learner's log is known to match this replica's, by raft id in
    /// ascending order (this replica included): the leader's Raft progress (`matchIndex`, Raft
    /// paper section 5.3). Empty unless this replica is the leader: a follower does not track
    /// its peers, and a figure it held from an earlier term would be stale.
    pub fn peer_progress(&self) -> Vec<PeerProgress> {
        if !self.is_leader() {
            return Vec::new();
        }
        let mut peers: Vec<PeerProgress> = self
            .node
            .raft
            .prs()
            .iter()
            .map(|(id, progress)| PeerProgress {
                id: *id,
                matched: progress.matched,
            })
            .collect();
        peers.sort_by_key(|p| p.id);
        peers
    }

    /// The current term.
    pub fn term(&self) -> u64 {
        self.node.raft.term
    }

    /// The commit index this replica knows of.
    pub fn commit_index(&self) -> LogIndex {
        self.node.raft.raft_log.committed
    }

    /// The cluster's commit index as far as this replica knows it: the highest a leader's
    /// append announced, or its own commit index if that is higher (on a leader, always). A
    /// follower whose log lags the leader's has a commit index no further than its last entry;
    /// this one still counts what it has not received yet. Commit indexes never go back, across
    /// terms too, so the highest ever seen is never beyond the truth.
    pub fn leader_commit_index(&self) -> LogIndex {
        self.leader_commit_seen.max(self.commit_index())
    }

    /// The state machine's applied index.
    pub fn applied_index(&self) -> LogIndex {
        self.sm.applied_index()
    }

    /// Committed entries the cluster's slowest live voter has still to apply, this replica
    /// aside (its own lag is [`Replica::leader_commit_index`] minus its applied index): on the
    /// leader, from the applied indexes its followers' append responses reported within
    /// [`APPLY_REPORT_FRESH_TICKS`]; on a follower, what the leader's appends announced within
    /// as long; 0 when nothing recent was heard (`flow`).
    pub fn cluster_apply_lag(&self) -> u64 {
        if self.is_leader() {
            self.apply_reports.slowest_voter_lag(
                &self.conf_state.voters,
                self.id,
                self.commit_index(),
            )
        } else {
            self.apply_reports.announced_lag()
        }
    }

    /// Puts this replica's part of the flow control into outgoing messages (`flow`): its
    /// applied index into its append responses, and as leader the slowest voter's lag into its
    /// appends.
    fn stamp(&self, messages: &mut [Message]) {
        let lag = self.is_leader().then(|| self.cluster_apply_lag());
        let applied = self.applied_index();
        for m in messages {
            match (m.get_msg_type(), lag) {
                (MessageType::MsgAppendResponse, _) => m.context = flow::encode(applied).into(),
                (MessageType::MsgAppend, Some(lag)) => m.context = flow::encode(lag).into(),
                _ => {}
            }
        }
    }

    /// Membership as of the last applied entry.
    pub fn conf_state(&self) -> &ConfState {
        &self.conf_state
    }

    /// The state machine, for reads.
    pub fn state_machine(&self) -> &S {
        &self.sm
    }

    /// The log store, for reads.
    pub fn store(&self) -> &LogStore {
        self.node.store()
    }

    /// A backup of this replica now: its state machine's reader of the state at the applied
    /// index, with the Raft position a restored replica starts from (the applied entry's term,
    /// the voters and learners as of it). Called between two Readies, so the state is the one
    /// at that index. `None` if the state machine offers no backups.
    pub fn backup(&self) -> Result<Option<BackupPoint>, ReplicaError> {
        let id = self.id;
        let Some(reader) = self
            .sm
            .open_backup()
            .map_err(|source| ReplicaError::StateMachine { id, source })?
        else {
            return Ok(None);
        };
        let index = self.sm.applied_index();
        let term = self
            .node
            .raft
            .raft_log
            .term(index)
            .map_err(|e| ReplicaError::Invariant {
                id,
                reason: format!("no term for the applied index {index}: {e}"),
            })?;
        Ok(Some(BackupPoint {
            index,
            term,
            voters: {
                let mut v = self.conf_state.voters.clone();
                v.sort_unstable();
                v
            },
            learners: {
                let mut v = self.conf_state.learners.clone();
                v.sort_unstable();
                v
            },
            state_hash: self.sm.state_hash(),
            reader,
        }))
    }

    /// Attaches the operator's counters: from now on durable writes and applies are timed,
    /// leader changes and snapshots sent counted (`crate::metrics`).
    pub fn set_metrics(&mut self, metrics: std::sync::Arc<crate::metrics::ReplicaMetrics>) {
        self.metrics = Some(metrics);
    }

    /// Counters.
    pub fn stats(&self) -> ReplicaStats {
        self.stats
    }

    /// Tears the replica down, keeping only the state machine (a durable one survives crashes).
    pub fn into_state_machine(self) -> S {
        self.sm
    }
}

/// Checks a state machine postcondition shared by implementations and tests.
pub fn expect_next_index(applied: LogIndex, got: LogIndex) -> Result<(), StateMachineError> {
    if got == applied + 1 {
        Ok(())
    } else {
        Err(StateMachineError::OutOfOrder { applied, got })
    }
}
