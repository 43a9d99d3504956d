//! [`Replica`]: one Raft member, its log store and its state machine, and the ONE
//! implementation of `Ready` handling that the simulator and the tokio runtime both call.
//!
//! Architecture invariant: nothing here does I/O except through [`LogStore::write`], reads a
//! clock, or spawns anything. Time comes in as `now_ms`; messages go out through
//! [`ReadyEffects`]. That is what lets the simulator run this exact code deterministically.

use std::collections::BTreeMap;

use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeV2, ConfState, Entry, EntryType, Message, Snapshot};
use raft::eraftpb::{ConfChangeType, MessageType};
use raft::{RawNode, ReadState, SnapshotStatus, StateRole};

use crate::batch::{Batch, Batcher, ProposalId};
use crate::error::{ProposeError, ReplicaError, StateMachineError};
use crate::rng::SplitMix64;
use crate::state_machine::{
    CommittedEntry, EntryKind, LogIndex, Membership, StateMachine, StateSnapshot,
};
use crate::storage::{GENESIS_INDEX, GENESIS_TERM, LogCore, LogStore, WriteBatch};

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
/// one pass of the apply loop after a long catch-up.
pub const RAFT_COMMITTED_BYTES_PER_READY_MAX: u64 = 16 * 1024 * 1024;

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
            shed_snapshot_state: false,
            jitter: config.election_jitter_seed.map(SplitMix64::new),
            election_timeout_range,
            dropped: Vec::new(),
            stopped: false,
            stats: ReplicaStats::default(),
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
        self.rejitter();
        self.tick_snapshots_in_flight();
    }

    /// Ends the wait for each snapshot in flight whose peer installed it (raft-rs moved it out
    /// of snapshot state on its acknowledgement), and reports as lost one whose wait ran out,
    /// so that raft-rs probes the peer again and, if it still needs one, sends a new snapshot.
    /// Once none is in flight, the stored snapshot sheds the state it holds.
    fn tick_snapshots_in_flight(&mut self) {
        if self.snapshots_in_flight.is_empty() {
            return;
        }
        let leader = self.node.raft.state == StateRole::Leader;
        let mut lost = Vec::new();
        let prs = self.node.raft.prs();
        self.snapshots_in_flight.retain(|&to, ticks_left| {
            let waiting = leader
                && prs
                    .get(to)
                    .is_some_and(|p| p.state == raft::ProgressState::Snapshot);
            if !waiting {
                return false;
            }
            *ticks_left = ticks_left.saturating_sub(1);
            if *ticks_left == 0 {
                lost.push(to);
                return false;
            }
            true
        });
        for to in lost {
            self.snapshot_lost(
                to,
                "the snapshot sent to this peer was not installed in time",
            );
        }
        if self.snapshots_in_flight.is_empty() {
            self.shed_snapshot_state = true;
        }
    }

    /// Reports the snapshot in flight to `to` lost to raft-rs (which probes the peer again and,
    /// if it still needs one, sends a new snapshot) and stops waiting for it.
    fn snapshot_lost(&mut self, to: u64, why: &str) {
        self.snapshots_in_flight.remove(&to);
        if self.node.raft.state == StateRole::Leader {
            tracing::warn!(replica = self.id, peer = to, "{why}; it will be sent again");
            self.node.report_snapshot(to, SnapshotStatus::Failure);
        }
        if self.snapshots_in_flight.is_empty() {
            self.shed_snapshot_state = true;
        }
    }

    /// What the transport says of a snapshot it streams to `to` ([`crate::stream`]): while
    /// chunks move the leader keeps waiting for the peer to install it, however long the state
    /// takes to send; once it was delivered the peer has the usual time to acknowledge it; a
    /// stream that broke is reported lost to raft-rs at once, so that the peer is probed again
    /// and, if it still needs one, sent a fresh snapshot.
    pub fn snapshot_stream_report(&mut self, to: u64, report: crate::stream::StreamReport) {
        use crate::stream::StreamReport;
        let Some(ticks_left) = self.snapshots_in_flight.get_mut(&to) else {
            return;
        };
        match report {
            StreamReport::Progress => *ticks_left = (*ticks_left).max(SNAPSHOT_WAIT_TICKS_MIN),
            StreamReport::Delivered => *ticks_left = SNAPSHOT_WAIT_TICKS_MIN,
            StreamReport::Failed => {
                self.snapshot_lost(to, "the snapshot streamed to this peer was lost");
            }
        }
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

    /// Handles one `Ready`, in raft-rs's order:
    ///
    /// 1. send the messages that need no persistence (a leader's appends, in parallel with its
    ///    own write: Raft thesis 10.2.1);
    /// 2. take the snapshot the leader sent, if any, into this Ready's write;
    /// 3. persist the snapshot, the new entries (truncating a conflicting suffix), the hard
    ///    state, and a local snapshot + compaction when due: ONE durable write;
    ///    then restore the state machine from the leader's snapshot (see below);
    /// 4. send the messages that must follow persistence (votes, append acknowledgements);
    /// 5. apply the committed entries (conf changes included) to the state machine;
    /// 6. `advance`;
    /// 7. handle the `LightReady`: record the commit index, send, apply, `advance_apply`.
    ///
    /// The state machine is restored from a leader's snapshot *after* the durable write rather
    /// than before it, so that a durable state machine is never ahead of the durable log (the
    /// crash between the two would otherwise leave it with no log to continue from). raft-rs
    /// guarantees that a `Ready` carrying a snapshot carries no committed entries, so nothing
    /// else moves.
    ///
    /// Committed entries are applied after the acknowledgements leave, not before: they are
    /// durable already (raft-rs hands out only persisted ones), and applying a block is the
    /// slowest step, so a follower that applied first would hold back the acknowledgement the
    /// leader needs to commit the next block. Applying in parallel with the next round trip is
    /// Raft thesis 10.2.1's pipelining on the follower side.
    ///
    /// Any error is fatal for this replica: it is stopped and must be reopened from durable
    /// state. In particular a failed durable write never lets a vote or acknowledgement out.
    pub fn handle_ready<E: ReadyEffects<S::Output>>(
        &mut self,
        effects: &mut E,
    ) -> Result<(), ReplicaError> {
        self.ensure_running()?;
        let result = self.handle_ready_inner(effects);
        if let Err(e) = &result {
            self.stopped = true;
            tracing::error!(replica = self.id, error = %e, "replica stopped");
        } else {
            self.reconcile_membership();
        }
        result
    }

    /// On the leader, brings Raft's configuration one step closer to the membership the state
    /// machine prescribes ([`StateMachine::membership`]; the ledger's node set): at most one
    /// single-node change is proposed, and only when no conf change is pending (raft-rs's
    /// `pending_conf_index`, which a new leader sets to the end of its log) and the replica is
    /// not replaying entries its state machine already holds. Both sides are compared as of
    /// the same applied index, so a change is proposed again only if it was lost, by this
    /// leader or by the next one, and a change already in the configuration is never proposed:
    /// each committed `ADD_NODE`/`PROMOTE_NODE`/`REMOVE_NODE` takes effect exactly once.
    ///
    /// Removing the leader itself is not proposed by it: it hands leadership to a voter that
    /// stays (raft-rs would leave a removed leader leading without a vote), and the new leader
    /// proposes the removal.
    fn reconcile_membership(&mut self) {
        if self.stopped
            || !self.is_leader()
            || self.applied_through != self.sm.applied_index()
            || self.node.raft.has_pending_conf()
        {
            return;
        }
        let Some(want) = self.sm.membership() else {
            return;
        };
        let Some((change, node)) = next_conf_change(&self.conf_state, &want) else {
            return;
        };
        if change == ConfChangeType::RemoveNode && node == self.id {
            if self.node.raft.lead_transferee.is_some() {
                return;
            }
            let successor = want
                .voters
                .iter()
                .copied()
                .find(|v| *v != self.id && self.conf_state.voters.contains(v));
            if let Some(to) = successor {
                tracing::info!(
                    replica = self.id,
                    to,
                    "this leader is removed from the network; transferring leadership"
                );
                self.node.transfer_leader(to);
            }
            return;
        }
        tracing::info!(
            replica = self.id,
            ?change,
            node,
            "proposing a membership change"
        );
        if let Err(e) = self
            .node
            .propose_conf_change(Vec::new(), conf_change(change, node))
        {
            tracing::debug!(replica = self.id, error = %e, "membership change not proposed");
        }
    }

    fn handle_ready_inner<E: ReadyEffects<S::Output>>(
        &mut self,
        fx: &mut E,
    ) -> Result<(), ReplicaError> {
        if !self.dropped.is_empty() {
            fx.proposals_dropped(std::mem::take(&mut self.dropped));
        }
        if !self.node.has_ready() {
            // A peer may be waiting for a fresher snapshot even when Raft has nothing to say.
            let mut batch = WriteBatch::default();
            self.stage_local_snapshot(&mut batch)?;
            return self.persist(batch);
        }
        let mut rd = self.node.ready();
        if let Some(ss) = rd.ss() {
            fx.role_changed(ss.leader_id, ss.raft_state);
        }

        // 1. Messages that may leave before persistence.
        let mut snapshots_sent = Vec::new();
        if !rd.messages().is_empty() {
            let messages = rd.take_messages();
            note_snapshots(&messages, &mut snapshots_sent);
            fx.send(messages);
        }

        // 2. The leader's snapshot joins this Ready's write.
        let mut batch = WriteBatch::default();
        let installed = (!rd.snapshot().is_empty()).then(|| rd.snapshot().clone());
        batch.install_snapshot.clone_from(&installed);

        // 3. One durable write: snapshot, entries, hard state, local snapshot + compaction.
        batch.entries = rd.take_entries();
        batch.hard_state = rd.hs().cloned();
        self.defer_commit_only_hard_state(&mut batch);
        if installed.is_none() {
            self.stage_local_snapshot(&mut batch)?;
        }
        self.persist(batch)?;
        if let Some(snapshot) = &installed {
            self.restore_from(snapshot, fx)?;
        }

        // 4. Messages that must follow persistence.
        if !rd.persisted_messages().is_empty() {
            fx.send(rd.take_persisted_messages());
        }

        // 5. Apply committed entries (none when a snapshot is being installed).
        let committed = rd.take_committed_entries();
        assert!(installed.is_none() || committed.is_empty());
        self.apply_entries(committed, fx)?;
        if !rd.read_states().is_empty() {
            fx.read_states(rd.take_read_states());
        }

        // 6. Advance.
        let mut light = self.node.advance(rd);

        // 7. Light ready.
        if let Some(commit) = light.commit_index() {
            self.node.mut_store().note_commit(commit);
        }
        if !light.messages().is_empty() {
            let messages = light.take_messages();
            note_snapshots(&messages, &mut snapshots_sent);
            fx.send(messages);
        }
        self.apply_entries(light.take_committed_entries(), fx)?;
        self.node.advance_apply();

        // A leader keeps a peer in snapshot state (sending it nothing) until the peer
        // acknowledges the installed snapshot or the leader reports it lost. Reporting it
        // finished as soon as it was handed to the transport made a large one (hundreds of MB,
        // seconds on the wire and in the import) look lost at the peer's next rejection: it was
        // taken and sent again and again. It is now given time in proportion to its size.
        for (to, bytes) in snapshots_sent {
            let ticks = SNAPSHOT_WAIT_TICKS_MIN + bytes / SNAPSHOT_BYTES_PER_TICK;
            self.snapshots_in_flight.insert(to, ticks);
        }
        self.rejitter();
        Ok(())
    }

    /// A hard state that moved only its commit index is not worth a durable write of its own:
    /// the commit index is volatile state in Raft (a restarted replica learns it again from the
    /// leader, and one whose durable state machine applied further skips what it holds), so it
    /// is kept as the store's commit floor and written with the next write. Without this, every
    /// round on a quiet network cost the leader a second fdatasync, after the acknowledgement
    /// and before the apply the client waits for.
    fn defer_commit_only_hard_state(&mut self, batch: &mut WriteBatch) {
        let Some(hs) = &batch.hard_state else { return };
        let stored = &self.node.store().core().hard_state;
        let commit_only = hs.term == stored.term && hs.vote == stored.vote;
        if commit_only && batch.entries.is_empty() && batch.install_snapshot.is_none() {
            let commit = hs.commit;
            self.node.mut_store().note_commit(commit);
            batch.hard_state = None;
        }
    }

    fn persist(&mut self, batch: WriteBatch) -> Result<(), ReplicaError> {
        let wrote = self
            .node
            .mut_store()
            .write(batch)
            .map_err(|source| ReplicaError::Storage {
                id: self.id,
                source,
            })?;
        if wrote {
            self.stats.durable_writes += 1;
        }
        Ok(())
    }

    fn apply_entries<E: ReadyEffects<S::Output>>(
        &mut self,
        entries: Vec<Entry>,
        fx: &mut E,
    ) -> Result<(), ReplicaError> {
        for entry in entries {
            if entry.index != self.applied_through + 1 {
                return Err(self.invariant(format!(
                    "committed entry {} handed out after {}",
                    entry.index, self.applied_through
                )));
            }
            self.applied_through = entry.index;
            self.bytes_since_snapshot += entry.data.len() as u64;
            let batch;
            let mut conf_state = None;
            let kind = match entry.get_entry_type() {
                EntryType::EntryNormal if entry.data.is_empty() => EntryKind::Noop,
                EntryType::EntryNormal => {
                    batch = Batch::decode(&entry.data).map_err(|e| self.corrupt(&entry, e))?;
                    EntryKind::Proposals {
                        time_ms: batch.time_ms,
                        attestation: batch.attestation,
                        proposals: &batch.proposals,
                    }
                }
                EntryType::EntryConfChange => {
                    let cc = ConfChange::parse_from_bytes(&entry.data)
                        .map_err(|e| self.corrupt(&entry, e))?;
                    self.conf_state = self.node.apply_conf_change(&cc)?;
                    tracing::info!(replica = self.id, index = entry.index, change = ?cc.get_change_type(), node = cc.node_id, voters = ?self.conf_state.voters, learners = ?self.conf_state.learners, "membership changed");
                    if cc.get_change_type() == ConfChangeType::RemoveNode && cc.node_id == self.id {
                        tracing::warn!(
                            replica = self.id,
                            "this node was removed from the network: it no longer votes or receives the log"
                        );
                    }
                    conf_state = Some(self.conf_state.clone());
                    EntryKind::ConfChange
                }
                EntryType::EntryConfChangeV2 => {
                    let cc = ConfChangeV2::parse_from_bytes(&entry.data)
                        .map_err(|e| self.corrupt(&entry, e))?;
                    self.conf_state = self.node.apply_conf_change(&cc)?;
                    conf_state = Some(self.conf_state.clone());
                    EntryKind::ConfChange
                }
            };
            if entry.index <= self.sm.applied_index() {
                // Applied before a restart (the state machine is durable); Raft replays from the
                // stored snapshot, so only conf changes (done above) need redoing.
                self.stats.entries_skipped += 1;
                continue;
            }
            let output = self
                .sm
                .apply(CommittedEntry {
                    index: entry.index,
                    term: entry.term,
                    kind,
                })
                .map_err(|source| ReplicaError::StateMachine {
                    id: self.id,
                    source,
                })?;
            if self.sm.applied_index() != entry.index {
                return Err(self.invariant(format!(
                    "state machine at {} after applying entry {}",
                    self.sm.applied_index(),
                    entry.index
                )));
            }
            self.stats.entries_applied += 1;
            let proposals: Vec<ProposalId> = match kind {
                EntryKind::Proposals { proposals: ps, .. } => ps.iter().map(|p| p.id).collect(),
                _ => Vec::new(),
            };
            if let Some(&first) = proposals.first() {
                self.batcher.settled(first);
            }
            fx.applied(Applied {
                index: entry.index,
                term: entry.term,
                proposals,
                conf_state,
                output,
                data_hash: crate::state_machine::sha256(&entry.data),
            });
        }
        Ok(())
    }

    /// Takes a local snapshot into `batch` when enough entries (or bytes of entries) were
    /// applied since the stored one, or a peer needs a fresher one or one that holds the state;
    /// compacts the log behind it. A durable state machine's snapshot holds only its position
    /// (after a sync) unless a peer needs the state.
    fn stage_local_snapshot(&mut self, batch: &mut WriteBatch) -> Result<(), ReplicaError> {
        self.snapshot_wanted |= self.node.store().take_snapshot_wanted();
        let applied = self.sm.applied_index();
        if applied != self.applied_through {
            // Right after a restart, Raft is still replaying entries the state machine has;
            // its membership is not yet known as of `applied`.
            return Ok(());
        }
        let core = self.node.store().core();
        let stored = core.snapshot.get_metadata().index;
        let shed = self.shed_snapshot_state
            && !self.snapshot_wanted
            && self.snapshots_in_flight.is_empty()
            && self.sm.is_durable()
            && !core.snapshot.data.is_empty();
        let due = applied >= stored + self.snapshot_interval_entries
            || (self.bytes_since_snapshot >= self.snapshot_interval_bytes && applied > stored)
            || (self.snapshot_wanted && (applied > stored || core.snapshot.data.is_empty()))
            || shed;
        if !due {
            return Ok(());
        }
        let Some(term) = core.term_of(applied) else {
            return Err(self.invariant(format!("no term for applied index {applied}")));
        };
        let first_index = core.first_index();
        let compact_to = retained_from(
            core,
            applied,
            self.log_retain_entries,
            self.log_retain_bytes,
        );
        let sm_error = |id, source| ReplicaError::StateMachine { id, source };
        let data = if self.snapshot_wanted || !self.sm.is_durable() {
            let data = self.sm.snapshot().map_err(|e| sm_error(self.id, e))?;
            if data.applied_index != applied {
                return Err(self.invariant(format!(
                    "state machine snapshot at {} while applied is {applied}",
                    data.applied_index
                )));
            }
            data.data
        } else {
            // The log behind `applied` may go once the state it produced is on disk.
            self.sm.sync().map_err(|e| sm_error(self.id, e))?;
            self.stats.snapshots_without_state += 1;
            Vec::new()
        };
        let mut snapshot = Snapshot {
            data: data.into(),
            ..Snapshot::default()
        };
        let meta = snapshot.mut_metadata();
        meta.index = applied;
        meta.term = term;
        meta.set_conf_state(self.conf_state.clone());
        tracing::info!(
            replica = self.id,
            index = applied,
            with_state = !snapshot.data.is_empty(),
            bytes = snapshot.data.len(),
            compact_to = compact_to.max(first_index),
            "local snapshot taken"
        );
        batch.local_snapshot = Some(snapshot);
        if compact_to > first_index {
            batch.compact_to = Some(compact_to);
        }
        self.bytes_since_snapshot = 0;
        self.snapshot_wanted = false;
        self.shed_snapshot_state = false;
        self.stats.snapshots_taken += 1;
        Ok(())
    }

    fn restore_from<E: ReadyEffects<S::Output>>(
        &mut self,
        snapshot: &Snapshot,
        fx: &mut E,
    ) -> Result<(), ReplicaError> {
        let meta = snapshot.get_metadata();
        self.conf_state = meta.get_conf_state().clone();
        self.applied_through = meta.index;
        self.bytes_since_snapshot = 0;
        self.shed_snapshot_state = true;
        if self.sm.applied_index() >= meta.index {
            // A durable state machine already past the snapshot: it applied a prefix of the same
            // committed log, so it stays; Raft replays and the replica skips up to it.
            return Ok(());
        }
        self.sm
            .restore(&StateSnapshot {
                applied_index: meta.index,
                data: snapshot.data.to_vec(),
            })
            .map_err(|source| ReplicaError::StateMachine {
                id: self.id,
                source,
            })?;
        if self.sm.applied_index() != meta.index {
            return Err(self.invariant(format!(
                "state machine at {} after restoring snapshot {}",
                self.sm.applied_index(),
                meta.index
            )));
        }
        self.stats.snapshots_restored += 1;
        fx.snapshot_restored(meta.index);
        Ok(())
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

    /// The state machine's applied index.
    pub fn applied_index(&self) -> LogIndex {
        self.sm.applied_index()
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

    /// Counters.
    pub fn stats(&self) -> ReplicaStats {
        self.stats
    }

    /// Tears the replica down, keeping only the state machine (a durable one survives crashes).
    pub fn into_state_machine(self) -> S {
        self.sm
    }
}

/// Records the destinations of the snapshot messages among `messages`.
/// The peers `messages` send a snapshot to, with the snapshot's size.
fn note_snapshots(messages: &[Message], to: &mut Vec<(u64, u64)>) {
    to.extend(
        messages
            .iter()
            .filter(|m| m.get_msg_type() == MessageType::MsgSnapshot)
            .map(|m| (m.to, m.get_snapshot().get_data().len() as u64)),
    );
}

/// The first single-node change that brings `current` closer to `want`, in a fixed order:
/// new learners, then promotions (or voters added directly), then removals. Demoting a voter
/// to a learner is never prescribed by the ledger and is not done. `None` when they agree.
pub fn next_conf_change(current: &ConfState, want: &Membership) -> Option<(ConfChangeType, u64)> {
    let present = |id: &u64| current.voters.contains(id) || current.learners.contains(id);
    if let Some(&id) = want.learners.iter().find(|id| !present(id)) {
        return Some((ConfChangeType::AddLearnerNode, id));
    }
    if let Some(&id) = want.voters.iter().find(|id| !current.voters.contains(id)) {
        return Some((ConfChangeType::AddNode, id));
    }
    let wanted = |id: &u64| want.voters.contains(id) || want.learners.contains(id);
    let mut members: Vec<u64> = current
        .voters
        .iter()
        .chain(&current.learners)
        .copied()
        .collect();
    members.sort_unstable();
    members
        .into_iter()
        .find(|id| !wanted(id))
        .map(|id| (ConfChangeType::RemoveNode, id))
}

/// Builds a single-node conf change.
pub fn conf_change(change_type: raft::eraftpb::ConfChangeType, node_id: u64) -> ConfChange {
    let mut cc = ConfChange::default();
    cc.set_change_type(change_type);
    cc.node_id = node_id;
    cc
}

/// Checks a state machine postcondition shared by implementations and tests.
pub fn expect_next_index(applied: LogIndex, got: LogIndex) -> Result<(), StateMachineError> {
    if got == applied + 1 {
        Ok(())
    } else {
        Err(StateMachineError::OutOfOrder { applied, got })
    }
}

/// The first index to keep when compacting behind `applied`: at most `max_entries` entries
/// ending at `applied`, holding at most `max_bytes` bytes of data.
fn retained_from(core: &LogCore, applied: LogIndex, max_entries: u64, max_bytes: u64) -> u64 {
    let first = core.first_index();
    let mut keep_from = applied + 1;
    let mut bytes = 0u64;
    while keep_from > first && applied + 1 - keep_from < max_entries {
        let entry = &core.entries[(keep_from - 1 - first) as usize];
        bytes += entry.data.len() as u64;
        if bytes > max_bytes {
            break;
        }
        keep_from -= 1;
    }
    keep_from
}
