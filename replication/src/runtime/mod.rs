//! A thin driver around a [`Replica`]: ticks on an interval, feeds peer messages, client
//! proposals and read requests from bounded channels, calls the same `handle_ready` as the
//! simulator, and answers clients through oneshot channels and a watch of [`ReplicaStatus`].
//!
//! Architecture invariant: this module adds *no* consensus or apply logic. It only turns
//! channels and timers into calls on [`Replica`], and effects into transport sends and client
//! replies; which request is answered what, and when, is decided by [`requests`], a sans-IO
//! state machine the simulator drives too. The network lives behind [`Transport`]:
//! [`crate::transport::TlsTransport`] between nodes (mutual TLS over TCP); the `sim` crate's
//! `ChannelTransport` connects replicas of one process, for tests.
//!
//! The Ready loop runs on a thread of its own (`raft-<id>`), not on a worker of the caller's
//! tokio runtime: the durable write (one `fdatasync`) and the state machine's apply (signature
//! checks, the state store's writes) block, and on a shared worker they held up the API's and
//! the transport's tasks, and were held up by them. The thread runs a current-thread tokio
//! runtime with the timer only, so that the driver waits on the same bounded tokio channels as
//! before (their senders live on the caller's runtime) and on its ticker, in one `select!`.
//! [`Transport::send`] is called on that thread: it must not block, and must not spawn tasks
//! (they would run on the Ready loop's thread).

pub mod requests;

use std::time::Duration;

use raft::StateRole;
use raft::eraftpb::{Message, MessageType};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};

use crate::batch::BATCH_PAYLOADS_MAX;
use crate::error::ReplicaError;
use crate::replica::{Applied, BackupPoint, PeerProgress, ReadyEffects, Replica};
use crate::state_machine::{LogIndex, StateHash, StateMachine};
use requests::{Answer, ReadAttempts, ReadStep, Requests};

pub use requests::{
    CommitDelay, Committed, PENDING_PROPOSALS_MAX, PENDING_READS_MAX, PROPOSAL_TIMEOUT_MS,
    ProposalFailed, READ_ATTEMPT_TIMEOUT_MS, READ_INDEX_TIMEOUT_MS,
};

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

/// Messages or proposals taken from a channel per wake-up, so that a flood on one channel
/// cannot starve ticks and `Ready` handling.
pub const DRAIN_PER_WAKEUP_MAX: usize = 4 * BATCH_PAYLOADS_MAX;

/// `handle_ready` rounds per wake-up. raft-rs needs at most two or three in a row; more means
/// a livelock, which stops the replica loudly.
pub const READY_ROUNDS_MAX: usize = 64;

/// `handle_ready` rounds that applied entries per wake-up; the rest of the committed entries
/// wait for the next wake-up, which comes at once (the loop's `select!` has a branch for work
/// left), after the clients' proposals, the ticks and the peers' messages have had their
/// turn. A follower behind its leader steps a few hundred appends in one wake-up; applying all
/// they committed at once (hundreds of blocks, seconds at scale) held its clients' proposals
/// in the channel that long, and they came back past the client's deadline (BENCHMARKS.md,
/// the million run). One round applies at most `replica::RAFT_COMMITTED_BYTES_PER_READY_MAX`.
pub const APPLYING_ROUNDS_PER_WAKEUP_MAX: usize = 1;

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

/// An operator's request for a backup ([`Replica::backup`]), answered on the Ready loop's
/// thread between two Readies; `None` if the state machine offers no backups.
#[derive(Debug)]
pub struct BackupRequest {
    /// Gets the backup point, or why there is none.
    pub reply: oneshot::Sender<Result<Option<BackupPoint>, String>>,
}

/// Backup requests buffered: an operator asks for one at a time.
pub const BACKUP_CHANNEL_CAPACITY: usize = 4;

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
    /// The cluster's commit index as far as this replica knows it
    /// ([`Replica::leader_commit_index`]): at least `commit_index`; above it on a follower
    /// whose log lags the leader's.
    pub leader_commit_index: LogIndex,
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
    /// Client proposals waiting for their outcome on this replica (at most
    /// [`PENDING_PROPOSALS_MAX`]).
    pub proposals_pending: usize,
    /// When the oldest of them was proposed, on the driver's clock (`RuntimeConfig::epoch_ms`
    /// plus time since: the Unix time in ms on a node).
    pub oldest_proposal_since_ms: Option<u64>,
    /// The last of this replica's proposals answered committed: when, on the driver's clock,
    /// and how long it had waited ([`requests::Requests::last_commit`]).
    pub last_commit: Option<CommitDelay>,
    /// Committed entries the cluster's slowest live voter has still to apply, this replica
    /// aside ([`Replica::cluster_apply_lag`]): what node admission holds new work back on, so
    /// that the network runs no faster than its slowest voter applies.
    pub cluster_apply_lag: u64,
}

impl ReplicaStatus {
    /// Committed entries this replica has still to apply, counting those it has not even
    /// received ([`ReplicaStatus::leader_commit_index`]): how far behind the cluster its state is.
    pub fn apply_lag(&self) -> u64 {
        self.leader_commit_index
            .max(self.commit_index)
            .saturating_sub(self.applied_index)
    }
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
    /// Ask for backups here.
    pub backups: mpsc::Sender<BackupRequest>,
    shutdown: watch::Sender<bool>,
    /// The Ready loop's thread; it returns how the loop ended.
    thread: std::thread::JoinHandle<Result<(), ReplicaError>>,
    /// Resolves (with `Ok` or, if the thread panicked, `Err`) when the thread is about to end,
    /// so that `shutdown` awaits it instead of blocking in `join`.
    finished: oneshot::Receiver<()>,
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

    /// Stops the driver, waits for its thread to end, and returns how it ended (`Err` if the
    /// replica had stopped on a fatal error). A panic of the thread is resumed here.
    pub async fn shutdown(self) -> Result<(), ReplicaError> {
        let _ = self.shutdown.send(true);
        // Either the thread's last act, or its sender dropped by a panic: either way it is
        // ending, and `join` below waits for no more than that.
        let _ = self.finished.await;
        let thread = self.thread;
        let joined = tokio::task::spawn_blocking(move || thread.join()).await;
        match joined {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
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
    let start = Instant::now();
    let elapsed_ms = || u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    let attempts = ReadAttempts::new(0);
    let index = loop {
        let (reply, point) = oneshot::channel();
        reads
            .send(ReadRequest { reply })
            .await
            .map_err(|_| ProposalFailed::Stopped)?;
        let outcome = point.await.map_err(|_| ProposalFailed::Stopped)?;
        match attempts.next(outcome, elapsed_ms()) {
            ReadStep::Done(index) => break index,
            ReadStep::RetryAfter { pause_ms } => {
                tokio::time::sleep(Duration::from_millis(pause_ms)).await;
            }
            ReadStep::Fail(e) => return Err(e),
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

/// Starts the driver of `replica` on a thread of its own, named `raft-<id>` (see the module
/// docs). `peer_messages` is fed by the transport's receiving side. Panics if the thread or its
/// timer cannot be created, as `std::thread::spawn` does.
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
    let id = replica.id();
    let (proposals_tx, proposals_rx) = mpsc::channel(CLIENT_CHANNEL_CAPACITY);
    let (reads_tx, reads_rx) = mpsc::channel(PENDING_READS_MAX);
    let (backups_tx, backups_rx) = mpsc::channel(BACKUP_CHANNEL_CAPACITY);
    let (status_tx, status_rx) = watch::channel(ReplicaStatus {
        id,
        ..ReplicaStatus::default()
    });
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (finished_tx, finished_rx) = oneshot::channel();
    let driver = Driver {
        requests: Requests::new(id, config.epoch_ms),
        replica,
        transport,
        peer_messages,
        proposals: proposals_rx,
        reads: reads_rx,
        backups: backups_rx,
        status: status_tx,
        shutdown: shutdown_rx,
        proposals_refused: 0,
        proposals_refused_said: Instant::now(),
        config,
        start: Instant::now(),
    };
    // The timer only: the thread waits on channels and a ticker, and does no network I/O.
    let timer = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("build the Ready loop's timer runtime");
    let thread = std::thread::Builder::new()
        .name(format!("raft-{id}"))
        .spawn(move || {
            let result = timer.block_on(driver.run());
            drop(timer);
            let _ = finished_tx.send(());
            result
        })
        .expect("spawn the Ready loop's thread");
    ReplicaHandle {
        proposals: proposals_tx,
        reads: reads_tx,
        status: status_rx,
        backups: backups_tx,
        shutdown: shutdown_tx,
        thread,
        finished: finished_rx,
    }
}

struct Driver<S: StateMachine, T> {
    replica: Replica<S>,
    transport: T,
    peer_messages: mpsc::Receiver<Message>,
    proposals: mpsc::Receiver<ClientProposal>,
    reads: mpsc::Receiver<ReadRequest>,
    backups: mpsc::Receiver<BackupRequest>,
    status: watch::Sender<ReplicaStatus>,
    shutdown: watch::Receiver<bool>,
    /// The proposals and reads waiting for an answer (sans-IO: [`requests`]).
    requests: Requests<Reply, ReadReply>,
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
        clock_ms(self.start, self.config.epoch_ms)
    }

    async fn run(mut self) -> Result<(), ReplicaError> {
        let mut ticker = tokio::time::interval(self.config.tick_interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let result = self.run_loop(&mut ticker).await;
        // Whatever ended the loop, nobody will answer the waiting clients any more.
        for answer in self.requests.stop() {
            deliver(answer);
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
            // Committed entries left from the last wake-up: come back at once.
            let work_left = self.replica.has_ready();
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
                        // The rest waiting: `take_waiting_requests` below.
                        Some(p) => self.accept(p),
                        None => proposals_open = false,
                    }
                }
                read = self.reads.recv(), if reads_open => {
                    match read {
                        Some(r) => self.accept_read(r),
                        None => reads_open = false,
                    }
                }
                Some(backup) = self.backups.recv() => {
                    let point = self.replica.backup().map_err(|e| e.to_string());
                    let _ = backup.reply.send(point);
                }
                _ = until(batch_deadline), if batch_deadline.is_some() => {}
                // Yields first: tokio's cooperative budget makes the channels and the ticker
                // answer "not yet" to a task that never yields, so an always-ready branch
                // here would starve every other one until the catch-up is over.
                () = tokio::task::yield_now(), if work_left => {}
                _ = self.shutdown.changed() => return Ok(()),
            }
            self.take_waiting_requests();
            let now = self.now_ms();
            self.replica.flush_proposals(now);
            self.handle_readies()?;
            for answer in self.requests.term_seen(self.replica.term()) {
                deliver(answer);
            }
            self.publish();
        }
    }

    /// Takes the proposals and read requests already waiting, whatever woke the loop.
    /// `select!` runs one ready branch per wake-up, chosen at random, and while a follower
    /// catches up its peer messages are always ready: its clients' proposals waited many
    /// wake-ups of a second or more each for their branch's turn, up to 15 s at scale
    /// (BENCHMARKS.md, issue 17's third session). Proposals and reads are cheap to take (into
    /// the batcher; a ReadIndex request), so each wake-up takes them all, up to its bound.
    fn take_waiting_requests(&mut self) {
        for _ in 0..DRAIN_PER_WAKEUP_MAX {
            let Ok(p) = self.proposals.try_recv() else {
                break;
            };
            self.accept(p);
        }
        for _ in 0..DRAIN_PER_WAKEUP_MAX {
            let Ok(r) = self.reads.try_recv() else { break };
            self.accept_read(r);
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
        let now = self.now_ms();
        if let Err((reply, failed)) =
            self.requests
                .propose(&mut self.replica, p.payload, p.reply, now)
        {
            let _ = reply.send(Err(failed));
        }
    }

    fn accept_read(&mut self, r: ReadRequest) {
        let now = self.now_ms();
        if let Err((reply, failed)) = self.requests.read(&mut self.replica, r.reply, now) {
            let _ = reply.send(Err(failed));
        }
    }

    fn expire_pending(&mut self) {
        for answer in self.requests.expire(self.now_ms()) {
            deliver(answer);
        }
    }

    /// Handles Readies until there is none, or until [`APPLYING_ROUNDS_PER_WAKEUP_MAX`] rounds
    /// have applied entries (the rest is for the next wake-up). A round that applied something
    /// publishes the status at once, so that admission sees a replica catching up move as it goes.
    fn handle_readies(&mut self) -> Result<(), ReplicaError> {
        let mut applying_rounds = 0;
        // One call even without a Ready: a peer may be waiting for a fresher snapshot.
        applying_rounds += usize::from(self.ready_round()?);
        for _ in 0..READY_ROUNDS_MAX {
            if !self.replica.has_ready() || applying_rounds >= APPLYING_ROUNDS_PER_WAKEUP_MAX {
                return Ok(());
            }
            applying_rounds += usize::from(self.ready_round()?);
        }
        Err(ReplicaError::Invariant {
            id: self.replica.id(),
            reason: format!("still a Ready after {READY_ROUNDS_MAX} rounds"),
        })
    }

    /// One `handle_ready`; whether it applied entries.
    fn ready_round(&mut self) -> Result<bool, ReplicaError> {
        let applied_before = self.replica.applied_index();
        let mut fx = DriverEffects {
            transport: &mut self.transport,
            requests: &mut self.requests,
            start: self.start,
            epoch_ms: self.config.epoch_ms,
        };
        self.replica.handle_ready(&mut fx)?;
        let applied = self.replica.applied_index() != applied_before;
        if applied {
            self.publish();
        }
        Ok(applied)
    }

    fn publish(&self) {
        let r = &self.replica;
        let status = ReplicaStatus {
            id: r.id(),
            role: r.role(),
            leader_id: r.leader_id(),
            term: r.term(),
            commit_index: r.commit_index(),
            leader_commit_index: r.leader_commit_index(),
            applied_index: r.applied_index(),
            state_hash: r.state_machine().state_hash(),
            snapshots_taken: r.stats().snapshots_taken,
            snapshots_without_state: r.stats().snapshots_without_state,
            snapshots_restored: r.stats().snapshots_restored,
            peers: r.peer_progress(),
            voters: sorted(&r.conf_state().voters),
            learners: sorted(&r.conf_state().learners),
            proposals_pending: self.requests.pending_proposals(),
            oldest_proposal_since_ms: self.requests.oldest_pending_since_ms(),
            last_commit: self.requests.last_commit(),
            cluster_apply_lag: r.cluster_apply_lag(),
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

/// The driver's clock: `epoch_ms` plus the monotonic time since `start`, so it never goes
/// backwards within a process.
fn clock_ms(start: Instant, epoch_ms: u64) -> u64 {
    let elapsed = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    epoch_ms.saturating_add(elapsed)
}

async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Sends `answer` to the client waiting for it (gone clients are ignored).
fn deliver(answer: Answer<Reply, ReadReply>) {
    match answer {
        Answer::Proposal(reply, outcome) => {
            let _ = reply.send(outcome);
        }
        Answer::Read(reply, outcome) => {
            let _ = reply.send(outcome);
        }
    }
}

/// The runtime's [`ReadyEffects`]: messages to the transport, and the clients' answers, which
/// [`requests`] decides, sent as soon as they are known.
struct DriverEffects<'a, T> {
    transport: &'a mut T,
    requests: &'a mut Requests<Reply, ReadReply>,
    /// The driver's clock ([`clock_ms`]), which dates the answers.
    start: Instant,
    epoch_ms: u64,
}

impl<O, T: Transport> ReadyEffects<O> for DriverEffects<'_, T> {
    fn send(&mut self, messages: Vec<Message>) {
        for m in messages {
            self.transport.send(m);
        }
    }

    fn applied(&mut self, applied: Applied<O>) {
        let committed = Committed {
            index: applied.index,
            term: applied.term,
        };
        for answer in self.requests.applied(
            &applied.proposals,
            committed,
            clock_ms(self.start, self.epoch_ms),
        ) {
            deliver(answer);
        }
    }

    fn proposals_dropped(&mut self, ids: Vec<crate::batch::ProposalId>) {
        for answer in self.requests.dropped(&ids) {
            deliver(answer);
        }
    }

    fn read_states(&mut self, states: Vec<raft::ReadState>) {
        for answer in self.requests.read_states(&states) {
            deliver(answer);
        }
    }
}
