//! A thin tokio driver around a [`Replica`]: ticks on an interval, feeds peer messages and
//! client proposals from bounded channels, and calls the same `handle_ready` as the simulator.
//!
//! Architecture invariant: this module adds *no* consensus or apply logic. It only turns
//! channels and timers into calls on [`Replica`], and effects into transport sends and client
//! replies. The network lives behind [`Transport`]: [`crate::transport::TlsTransport`] between
//! nodes (mutual TLS over TCP); the `sim` crate's `ChannelTransport` connects replicas of one
//! process, for tests.
//!
//! The replica's durable write (one `fdatasync`, about 0.2 ms here) runs on the task's worker
//! thread: one replica per process, so it blocks nothing else that matters.

use std::collections::HashMap;
use std::time::Duration;

use raft::StateRole;
use raft::eraftpb::{Message, MessageType};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::batch::{BATCH_PAYLOADS_MAX, ProposalId};
use crate::error::{ProposeError, ReplicaError};
use crate::replica::{Applied, PeerProgress, ReadyEffects, Replica};
use crate::state_machine::{LogIndex, StateHash, StateMachine};

/// Real time per Raft tick. With `replica::ELECTION_TICKS` = 10, a failed leader is replaced
/// after 1-2 s; heartbeats every 300 ms cost nothing on a consortium network.
pub const TICK_INTERVAL_MS: u64 = 100;

/// Peer messages buffered between the transport and the replica. Beyond this the transport
/// drops (Raft retransmits); 4,096 covers a full window of in-flight appends from a leader
/// (`RAFT_INFLIGHT_MESSAGES_MAX` = 256) to each of up to 16 peers.
pub const PEER_CHANNEL_CAPACITY: usize = 4096;

/// Client proposals buffered before senders wait: 16 full batches, enough to keep the replica
/// busy while bounding memory.
pub const CLIENT_CHANNEL_CAPACITY: usize = 16 * BATCH_PAYLOADS_MAX;

/// Proposals waiting for their outcome before new ones are refused with `QueueFull`.
pub const PENDING_PROPOSALS_MAX: usize = 16 * 1024;

/// A proposal not committed within this time is answered `TimedOut`: it may still commit (the
/// client must check before retrying), but a client never waits forever, e.g. when its entry was
/// forwarded to a leader that lost leadership before appending it.
pub const PROPOSAL_TIMEOUT_MS: u64 = 10_000;

/// Messages or proposals taken from a channel per wake-up, so that a flood on one channel
/// cannot starve ticks and `Ready` handling.
pub const DRAIN_PER_WAKEUP_MAX: usize = 4 * BATCH_PAYLOADS_MAX;

/// `handle_ready` rounds per wake-up. raft-rs needs at most two or three in a row; more means
/// a livelock, which stops the replica loudly.
pub const READY_ROUNDS_MAX: usize = 64;

/// Linearizable read requests waiting for their read point before new ones are refused.
pub const PENDING_READS_MAX: usize = 4096;

/// A read point not confirmed within this time is answered `TimedOut` (no quorum reachable).
/// [`read_index`] asks again, within this same bound, for a read raft-rs would drop or
/// dropped: one asked of a node that knows no leader or of a leader that has not committed in
/// its term yet, one in flight across a change of term, and one not answered within
/// [`READ_ATTEMPT_TIMEOUT_MS`] (a leader drops, silently, a read a follower forwarded to it
/// before its first commit).
pub const READ_INDEX_TIMEOUT_MS: u64 = 5_000;

/// A read request not answered within this time is answered `Dropped`, and asked again.
pub const READ_ATTEMPT_TIMEOUT_MS: u64 = 1_000;

/// Pause before [`read_index`] asks again for a read point that was dropped.
const READ_RETRY_PAUSE_MS: u64 = 20;

/// Bits of a [`ProposalId`] left for the per-replica counter; the replica id fills the rest.
const PROPOSAL_COUNTER_BITS: u32 = 48;

/// Sends Raft messages to peers. Must not block; may drop (Raft retransmits what matters).
pub trait Transport: Send + 'static {
    /// Sends `message` to `message.to`.
    fn send(&mut self, message: Message);

    /// How the snapshots it streams ([`crate::stream`]) are going, by peer, since the last
    /// call: the driver asks at every tick. A transport that streams nothing reports nothing.
    fn snapshot_reports(&mut self) -> Vec<(u64, crate::stream::StreamReport)> {
        Vec::new()
    }
}

/// Where a committed proposal landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// Log index of the entry (the batch) holding the proposal.
    pub index: LogIndex,
    /// Its term.
    pub term: u64,
}

/// Why a proposal has no [`Committed`] answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalFailed {
    /// Refused before being proposed.
    #[error("refused: {0}")]
    Refused(#[from] ProposeError),
    /// raft-rs dropped it (no leader known, or back-pressure): it was never committed.
    #[error("dropped by raft (no leader, or back-pressure); safe to retry")]
    Dropped,
    /// No outcome within `PROPOSAL_TIMEOUT_MS`: it may or may not commit later.
    #[error("no outcome within {PROPOSAL_TIMEOUT_MS} ms; it may still commit")]
    TimedOut,
    /// The replica stopped.
    #[error("replica stopped")]
    Stopped,
}

/// A client's request to append a payload.
#[derive(Debug)]
pub struct ClientProposal {
    /// The payload.
    pub payload: Vec<u8>,
    /// Where the outcome goes.
    pub reply: oneshot::Sender<Result<Committed, ProposalFailed>>,
}

/// A request for a linearizable read point (Raft's ReadIndex, thesis section 6.4).
#[derive(Debug)]
pub struct ReadRequest {
    /// Gets the commit index confirmed by a quorum for this request: once the local state
    /// machine has applied it, a read of local state reflects every write acknowledged before
    /// the request was made.
    pub reply: oneshot::Sender<Result<LogIndex, ProposalFailed>>,
}

/// What the replica publishes after each wake-up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// Raft id.
    pub id: u64,
    /// Leader, follower, candidate or pre-candidate.
    pub role: StateRole,
    /// Known leader (0: none).
    pub leader_id: u64,
    /// Current term.
    pub term: u64,
    /// Known commit index.
    pub commit_index: LogIndex,
    /// State machine's applied index.
    pub applied_index: LogIndex,
    /// State machine's hash.
    pub state_hash: StateHash,
    /// Local snapshots taken (each followed by log compaction).
    pub snapshots_taken: u64,
    /// Of those, the ones that hold no state (a durable state machine's routine snapshots).
    pub snapshots_without_state: u64,
    /// Snapshots received from a leader and restored into the state machine.
    pub snapshots_restored: u64,
    /// Each member's match index as this replica knows it when it leads; empty otherwise
    /// ([`Replica::peer_progress`]).
    pub peers: Vec<PeerProgress>,
    /// Raft's voters as of the last applied entry, by raft id.
    pub voters: Vec<u64>,
    /// Raft's learners as of the last applied entry, by raft id.
    pub learners: Vec<u64>,
}

/// Driver settings.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// See [`TICK_INTERVAL_MS`]; tests use a shorter one.
    pub tick_interval: Duration,
    /// The clock reading, in ms, when the driver starts. The driver's `now_ms` is this plus the
    /// monotonic time elapsed since, so it never goes backwards within a process. A batch
    /// carries `now_ms` as its block time: a node passes the Unix time in ms (see
    /// [`RuntimeConfig::wall_clock`]); tests that do not care about block time pass 0.
    pub epoch_ms: u64,
}

impl RuntimeConfig {
    /// The default tick, with block times on the Unix clock.
    pub fn wall_clock() -> RuntimeConfig {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        RuntimeConfig {
            epoch_ms: u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX),
            ..RuntimeConfig::default()
        }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            tick_interval: Duration::from_millis(TICK_INTERVAL_MS),
            epoch_ms: 0,
        }
    }
}

/// The client side of a running replica.
#[derive(Debug)]
pub struct ReplicaHandle {
    /// Submit proposals here.
    pub proposals: mpsc::Sender<ClientProposal>,
    /// Ask for linearizable read points here.
    pub reads: mpsc::Sender<ReadRequest>,
    /// Watch progress here.
    pub status: watch::Receiver<ReplicaStatus>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<Result<(), ReplicaError>>,
}

impl ReplicaHandle {
    /// Proposes `payload` and waits for its outcome.
    pub async fn propose(&self, payload: Vec<u8>) -> Result<Committed, ProposalFailed> {
        let (reply, outcome) = oneshot::channel();
        self.proposals
            .send(ClientProposal { payload, reply })
            .await
            .map_err(|_| ProposalFailed::Stopped)?;
        outcome.await.map_err(|_| ProposalFailed::Stopped)?
    }

    /// A linearizable read point: returns once this replica has applied everything committed
    /// before the call, with that index.
    pub async fn read_index(&self) -> Result<LogIndex, ProposalFailed> {
        read_index(&self.reads, &self.status).await
    }

    /// Stops the driver and returns how it ended (`Err` if the replica had stopped on a fatal
    /// error).
    pub async fn shutdown(self) -> Result<(), ReplicaError> {
        let _ = self.shutdown.send(true);
        match self.task.await {
            Ok(result) => result,
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        }
    }
}

/// Asks the driver behind `reads` for a read point and waits until `status` shows it applied.
/// A read point dropped for want of a leader (an election) is asked for again until
/// [`READ_INDEX_TIMEOUT_MS`] has passed.
pub async fn read_index(
    reads: &mpsc::Sender<ReadRequest>,
    status: &watch::Receiver<ReplicaStatus>,
) -> Result<LogIndex, ProposalFailed> {
    let deadline = Instant::now() + Duration::from_millis(READ_INDEX_TIMEOUT_MS);
    let index = loop {
        let (reply, point) = oneshot::channel();
        reads
            .send(ReadRequest { reply })
            .await
            .map_err(|_| ProposalFailed::Stopped)?;
        match point.await.map_err(|_| ProposalFailed::Stopped)? {
            Ok(index) => break index,
            Err(ProposalFailed::Dropped) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(READ_RETRY_PAUSE_MS)).await;
            }
            Err(ProposalFailed::Dropped) => return Err(ProposalFailed::TimedOut),
            Err(e) => return Err(e),
        }
    };
    let mut status = status.clone();
    let applied = tokio::time::timeout(
        Duration::from_millis(READ_INDEX_TIMEOUT_MS),
        status.wait_for(|s| s.applied_index >= index),
    )
    .await;
    match applied {
        Ok(Ok(_)) => Ok(index),
        Ok(Err(_)) => Err(ProposalFailed::Stopped),
        Err(_) => Err(ProposalFailed::TimedOut),
    }
}

type Reply = oneshot::Sender<Result<Committed, ProposalFailed>>;
type ReadReply = oneshot::Sender<Result<LogIndex, ProposalFailed>>;

/// Spawns the driver of `replica` on the current tokio runtime. `peer_messages` is fed by the
/// transport's receiving side.
pub fn spawn<S, T>(
    replica: Replica<S>,
    transport: T,
    peer_messages: mpsc::Receiver<Message>,
    config: RuntimeConfig,
) -> ReplicaHandle
where
    S: StateMachine + Send + 'static,
    S::Output: Send,
    T: Transport,
{
    let (proposals_tx, proposals_rx) = mpsc::channel(CLIENT_CHANNEL_CAPACITY);
    let (reads_tx, reads_rx) = mpsc::channel(PENDING_READS_MAX);
    let (status_tx, status_rx) = watch::channel(ReplicaStatus {
        id: replica.id(),
        ..ReplicaStatus::default()
    });
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let driver = Driver {
        replica,
        transport,
        peer_messages,
        proposals: proposals_rx,
        reads: reads_rx,
        status: status_tx,
        shutdown: shutdown_rx,
        pending: HashMap::new(),
        pending_reads: HashMap::new(),
        next_proposal: 0,
        // A leader may still hold a read of this node's previous run: start past its numbers.
        next_read: config.epoch_ms << 20,
        reads_term: 0,
        proposals_refused: 0,
        proposals_refused_said: Instant::now(),
        config,
        start: Instant::now(),
    };
    ReplicaHandle {
        proposals: proposals_tx,
        reads: reads_tx,
        status: status_rx,
        shutdown: shutdown_tx,
        task: tokio::spawn(driver.run()),
    }
}

struct Driver<S: StateMachine, T> {
    replica: Replica<S>,
    transport: T,
    peer_messages: mpsc::Receiver<Message>,
    proposals: mpsc::Receiver<ClientProposal>,
    reads: mpsc::Receiver<ReadRequest>,
    status: watch::Sender<ReplicaStatus>,
    shutdown: watch::Receiver<bool>,
    /// Proposals waiting for an outcome: deadline (ms since `start`) and reply.
    pending: HashMap<ProposalId, (u64, Reply)>,
    /// Read requests waiting for their read point, by the sequence number in the context sent
    /// to raft (see [`read_context`]).
    pending_reads: HashMap<u64, (u64, ReadReply)>,
    next_proposal: u64,
    next_read: u64,
    /// The term the pending reads were asked in.
    reads_term: u64,
    /// Forwarded proposals refused since the last time it was logged, and when that was.
    proposals_refused: u64,
    proposals_refused_said: Instant,
    config: RuntimeConfig,
    /// When the driver started: `now_ms` is `config.epoch_ms` plus the time since (time is a
    /// parameter of the replica).
    start: Instant,
}

impl<S, T> Driver<S, T>
where
    S: StateMachine + Send + 'static,
    S::Output: Send,
    T: Transport,
{
    fn now_ms(&self) -> u64 {
        let elapsed = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.config.epoch_ms.saturating_add(elapsed)
    }

    async fn run(mut self) -> Result<(), ReplicaError> {
        let mut ticker = tokio::time::interval(self.config.tick_interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let result = self.run_loop(&mut ticker).await;
        // Whatever ended the loop, nobody will answer the waiting clients any more.
        for (_, (_, reply)) in self.pending.drain() {
            let _ = reply.send(Err(ProposalFailed::Stopped));
        }
        for (_, (_, reply)) in self.pending_reads.drain() {
            let _ = reply.send(Err(ProposalFailed::Stopped));
        }
        result
    }

    async fn run_loop(&mut self, ticker: &mut tokio::time::Interval) -> Result<(), ReplicaError> {
        let mut proposals_open = true;
        let mut reads_open = true;
        loop {
            let batch_deadline = self.replica.next_batch_deadline_ms().map(|ms| {
                self.start + Duration::from_millis(ms.saturating_sub(self.config.epoch_ms))
            });
            tokio::select! {
                _ = ticker.tick() => {
                    for (to, report) in self.transport.snapshot_reports() {
                        self.replica.snapshot_stream_report(to, report);
                    }
                    self.replica.tick();
                    self.expire_pending();
                }
                message = self.peer_messages.recv() => {
                    let Some(message) = message else { return Ok(()) };
                    self.step(message);
                    for _ in 1..DRAIN_PER_WAKEUP_MAX {
                        let Ok(message) = self.peer_messages.try_recv() else { break };
                        self.step(message);
                    }
                }
                proposal = self.proposals.recv(), if proposals_open => {
                    match proposal {
                        Some(p) => {
                            self.accept(p);
                            for _ in 1..DRAIN_PER_WAKEUP_MAX {
                                let Ok(p) = self.proposals.try_recv() else { break };
                                self.accept(p);
                            }
                        }
                        None => proposals_open = false,
                    }
                }
                read = self.reads.recv(), if reads_open => {
                    match read {
                        Some(r) => {
                            self.accept_read(r);
                            for _ in 1..DRAIN_PER_WAKEUP_MAX {
                                let Ok(r) = self.reads.try_recv() else { break };
                                self.accept_read(r);
                            }
                        }
                        None => reads_open = false,
                    }
                }
                _ = until(batch_deadline), if batch_deadline.is_some() => {}
                _ = self.shutdown.changed() => return Ok(()),
            }
            let now = self.now_ms();
            self.replica.flush_proposals(now);
            self.handle_readies()?;
            self.drop_reads_of_an_old_term();
            self.publish();
        }
    }

    fn step(&mut self, message: Message) {
        let forwarded_proposal = message.get_msg_type() == MessageType::MsgPropose;
        if let Err(e) = self.replica.step(message) {
            if !forwarded_proposal {
                tracing::debug!(replica = self.replica.id(), error = %e, "message refused");
                return;
            }
            // A follower's proposal this leader drops (over its uncommitted bound): the
            // follower is not told and proposes it again after a while. Said at most once a
            // second, with how many.
            self.proposals_refused += 1;
            if self.proposals_refused_said.elapsed() >= Duration::from_secs(1) {
                tracing::info!(replica = self.replica.id(), count = self.proposals_refused, error = %e, "refused proposals forwarded by followers");
                self.proposals_refused = 0;
                self.proposals_refused_said = Instant::now();
            }
        }
    }

    fn accept(&mut self, p: ClientProposal) {
        if self.pending.len() >= PENDING_PROPOSALS_MAX {
            let _ = p
                .reply
                .send(Err(ProposalFailed::Refused(ProposeError::QueueFull {
                    pending: self.pending.len(),
                    max: PENDING_PROPOSALS_MAX,
                })));
            return;
        }
        self.next_proposal += 1;
        assert!(self.next_proposal < 1 << PROPOSAL_COUNTER_BITS);
        let id = ProposalId((self.replica.id() << PROPOSAL_COUNTER_BITS) | self.next_proposal);
        let now = self.now_ms();
        match self.replica.propose(id, p.payload, now) {
            Ok(()) => {
                self.pending
                    .insert(id, (now + PROPOSAL_TIMEOUT_MS, p.reply));
            }
            Err(e) => {
                let _ = p.reply.send(Err(ProposalFailed::Refused(e)));
            }
        }
    }

    fn accept_read(&mut self, r: ReadRequest) {
        // raft-rs drops, silently, a read asked of a follower that knows no leader or of a
        // leader that has not committed in its term: say so at once, and the caller asks again.
        if !self.replica.can_read() {
            let _ = r.reply.send(Err(ProposalFailed::Dropped));
            return;
        }
        if self.pending_reads.len() >= PENDING_READS_MAX {
            let _ = r
                .reply
                .send(Err(ProposalFailed::Refused(ProposeError::QueueFull {
                    pending: self.pending_reads.len(),
                    max: PENDING_READS_MAX,
                })));
            return;
        }
        self.next_read += 1;
        let sequence = self.next_read;
        match self
            .replica
            .read_index(read_context(self.replica.id(), sequence).to_vec())
        {
            Ok(()) => {
                let deadline = self.now_ms() + READ_ATTEMPT_TIMEOUT_MS;
                self.pending_reads.insert(sequence, (deadline, r.reply));
            }
            Err(_) => {
                let _ = r.reply.send(Err(ProposalFailed::Stopped));
            }
        }
    }

    /// raft-rs forgets the reads in flight when the term changes (a leader that steps down, a
    /// follower whose leader did): answer them `Dropped` now, and the callers ask again, instead
    /// of letting them wait out their timeout.
    fn drop_reads_of_an_old_term(&mut self) {
        let term = self.replica.term();
        if term == self.reads_term {
            return;
        }
        self.reads_term = term;
        for (_, (_, reply)) in self.pending_reads.drain() {
            let _ = reply.send(Err(ProposalFailed::Dropped));
        }
    }

    fn expire_pending(&mut self) {
        let now = self.now_ms();
        let expired: Vec<ProposalId> = self
            .pending
            .iter()
            .filter(|(_, (deadline, _))| *deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some((_, reply)) = self.pending.remove(&id) {
                let _ = reply.send(Err(ProposalFailed::TimedOut));
            }
        }
        // raft-rs may forget a read request silently (a forwarded one its leader dropped, a
        // lost message): answer it `Dropped`, and `read_index` asks again within its bound.
        let expired: Vec<u64> = self
            .pending_reads
            .iter()
            .filter(|(_, (deadline, _))| *deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some((_, reply)) = self.pending_reads.remove(&id) {
                let _ = reply.send(Err(ProposalFailed::Dropped));
            }
        }
    }

    fn handle_readies(&mut self) -> Result<(), ReplicaError> {
        let mut fx = DriverEffects {
            raft_id: self.replica.id(),
            transport: &mut self.transport,
            pending: &mut self.pending,
            pending_reads: &mut self.pending_reads,
        };
        // One call even without a Ready: a peer may be waiting for a fresher snapshot.
        self.replica.handle_ready(&mut fx)?;
        for _ in 0..READY_ROUNDS_MAX {
            if !self.replica.has_ready() {
                return Ok(());
            }
            self.replica.handle_ready(&mut fx)?;
        }
        Err(ReplicaError::Invariant {
            id: self.replica.id(),
            reason: format!("still a Ready after {READY_ROUNDS_MAX} rounds"),
        })
    }

    fn publish(&self) {
        let r = &self.replica;
        let status = ReplicaStatus {
            id: r.id(),
            role: r.role(),
            leader_id: r.leader_id(),
            term: r.term(),
            commit_index: r.commit_index(),
            applied_index: r.applied_index(),
            state_hash: r.state_machine().state_hash(),
            snapshots_taken: r.stats().snapshots_taken,
            snapshots_without_state: r.stats().snapshots_without_state,
            snapshots_restored: r.stats().snapshots_restored,
            peers: r.peer_progress(),
            voters: sorted(&r.conf_state().voters),
            learners: sorted(&r.conf_state().learners),
        };
        self.status.send_if_modified(|s| {
            let changed = *s != status;
            *s = status;
            changed
        });
    }
}

fn sorted(ids: &[u64]) -> Vec<u64> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids
}

async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

struct DriverEffects<'a, T> {
    /// This replica's raft id: the first half of its read contexts.
    raft_id: u64,
    transport: &'a mut T,
    pending: &'a mut HashMap<ProposalId, (u64, Reply)>,
    pending_reads: &'a mut HashMap<u64, (u64, ReadReply)>,
}

impl<O, T: Transport> ReadyEffects<O> for DriverEffects<'_, T> {
    fn send(&mut self, messages: Vec<Message>) {
        for m in messages {
            self.transport.send(m);
        }
    }

    fn applied(&mut self, applied: Applied<O>) {
        for id in &applied.proposals {
            if let Some((_, reply)) = self.pending.remove(id) {
                let _ = reply.send(Ok(Committed {
                    index: applied.index,
                    term: applied.term,
                }));
            }
        }
    }

    fn proposals_dropped(&mut self, ids: Vec<ProposalId>) {
        for id in ids {
            if let Some((_, reply)) = self.pending.remove(&id) {
                let _ = reply.send(Err(ProposalFailed::Dropped));
            }
        }
    }

    fn read_states(&mut self, states: Vec<raft::ReadState>) {
        for state in states {
            let Some(sequence) = read_sequence(self.raft_id, &state.request_ctx) else {
                continue;
            };
            if let Some((_, reply)) = self.pending_reads.remove(&sequence) {
                let _ = reply.send(Ok(state.index));
            }
        }
    }
}

/// The context of a ReadIndex request: the requesting replica's raft id, then its sequence
/// number. The leader keeps one pending read per context and silently drops a request whose
/// context it already holds (raft-rs's `ReadOnly::add_request`), so contexts must be unique
/// across the cluster, not only within a node: with bare per-node counters, two nodes' reads
/// in flight at once collided and one of them waited out its timeout.
fn read_context(raft_id: u64, sequence: u64) -> [u8; 16] {
    let mut context = [0u8; 16];
    context[..8].copy_from_slice(&raft_id.to_be_bytes());
    context[8..].copy_from_slice(&sequence.to_be_bytes());
    context
}

/// The sequence number of a context [`read_context`] made for `raft_id`; `None` for any other.
fn read_sequence(raft_id: u64, context: &[u8]) -> Option<u64> {
    let context = <[u8; 16]>::try_from(context).ok()?;
    let (id, sequence) = context.split_at(8);
    (id == raft_id.to_be_bytes()).then(|| u64::from_be_bytes(sequence.try_into().expect("8 bytes")))
}
