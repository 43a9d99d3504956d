//! Three replicas in one tokio runtime over in-memory channels, each on a real redb log; and
//! one replica whose Ready loop is watched: on its own thread, joined and reporting its errors.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use replication::eraftpb::Message;
use replication::logging::tracing_logger;
use replication::runtime::{
    self, PEER_CHANNEL_CAPACITY, ProposalFailed, ReplicaHandle, ReplicaStatus, RuntimeConfig,
};
use replication::state_machine::StateSnapshot;
use replication::{
    Attestation, CommittedEntry, EntryKind, LogIndex, LogStore, RedbLog, Replica, ReplicaConfig,
    ReplicaError, StateHash, StateMachine, StateMachineError,
};
use sim::{ChainMachine, ChannelTransport};
use tokio::sync::mpsc;

/// Upper bound on the whole scenario. Elections take 100-200 ms at a 10 ms tick; the rest is
/// a few hundred fdatasyncs. Generous because the 2-core machine is shared.
const DEADLINE: Duration = Duration::from_secs(30);
/// Payloads proposed.
const PROPOSALS: usize = 40;
/// Attempts per payload: a proposal is dropped while no leader is known.
const ATTEMPTS_MAX: usize = 200;

/// Waits until `condition` holds for the status of every replica.
async fn wait_all(handles: &[ReplicaHandle], condition: impl Fn(&[ReplicaStatus]) -> bool) {
    let mut watches: Vec<_> = handles.iter().map(|h| h.status.clone()).collect();
    loop {
        let statuses: Vec<ReplicaStatus> = watches.iter().map(|w| w.borrow().clone()).collect();
        if condition(&statuses) {
            return;
        }
        // Wake on any change; a closed watch means a driver ended, which must not happen here.
        let changed = watches.iter_mut().map(|w| Box::pin(w.changed()));
        futures_select_any(changed.collect())
            .await
            .expect("a replica driver ended early");
    }
}

/// Resolves with the output of the first of `futures` to complete (a tiny stand-in for
/// `futures::select_all`, to avoid a dependency).
async fn futures_select_any<F: std::future::Future + Unpin>(mut futures: Vec<F>) -> F::Output {
    std::future::poll_fn(|cx| {
        for f in futures.iter_mut() {
            if let std::task::Poll::Ready(out) = std::pin::Pin::new(f).poll(cx) {
                return std::task::Poll::Ready(out);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_over_channels_apply_everything() {
    let dir = tempfile::tempdir().unwrap();
    let ids = [1u64, 2, 3];
    let mut senders = BTreeMap::new();
    let mut receivers = BTreeMap::new();
    for id in ids {
        let (tx, rx) = mpsc::channel(PEER_CHANNEL_CAPACITY);
        senders.insert(id, tx);
        receivers.insert(id, rx);
    }
    let mut handles = Vec::new();
    for id in ids {
        let log = RedbLog::open(dir.path().join(format!("replica-{id}.redb"))).unwrap();
        let mut store = LogStore::open(Box::new(log)).unwrap();
        Replica::bootstrap(&mut store, ChainMachine::default(), &ids).unwrap();
        let replica = Replica::open(
            ReplicaConfig::new(id),
            store,
            ChainMachine::default(),
            &tracing_logger(id),
        )
        .unwrap();
        let peers = senders
            .iter()
            .filter(|(peer, _)| **peer != id)
            .map(|(peer, tx)| (*peer, tx.clone()))
            .collect();
        handles.push(runtime::spawn(
            replica,
            ChannelTransport::new(peers),
            receivers.remove(&id).unwrap(),
            RuntimeConfig {
                tick_interval: Duration::from_millis(10),
                epoch_ms: 0,
            },
        ));
    }
    drop(senders);

    let scenario = async {
        wait_all(&handles, |s| s.iter().all(|s| s.leader_id != 0)).await;
        // Propose through every replica, followers included (they forward to the leader).
        let mut highest = 0;
        for i in 0..PROPOSALS {
            let handle = &handles[i % handles.len()];
            let payload = format!("set:bl-{}:party-{i}", i % 5).into_bytes();
            let mut attempts = 0;
            let committed = loop {
                attempts += 1;
                assert!(attempts <= ATTEMPTS_MAX, "proposal {i} never accepted");
                match handle.propose(payload.clone()).await {
                    Ok(c) => break c,
                    // No leader known at that instant: wait for the status to move, then retry.
                    Err(ProposalFailed::Dropped) => {
                        let mut w = handle.status.clone();
                        let _ = w.changed().await;
                    }
                    Err(e) => panic!("proposal {i}: {e}"),
                }
            };
            highest = highest.max(committed.index);
        }
        wait_all(&handles, |s| {
            s.iter().all(|s| s.applied_index >= highest)
                && s.windows(2).all(|w| {
                    w[0].applied_index == w[1].applied_index && w[0].state_hash == w[1].state_hash
                })
        })
        .await;
        highest
    };
    let highest = tokio::time::timeout(DEADLINE, scenario)
        .await
        .expect("cluster did not apply everything before the deadline");
    assert!(highest >= 3);
    for handle in handles {
        handle.shutdown().await.expect("replica ended cleanly");
    }
}

/// A [`ChainMachine`] that records the name of the thread each entry is applied on, can be
/// told to fail on the next batch of proposals, and holds `alive` until it is dropped.
struct Probe {
    inner: ChainMachine,
    threads: Arc<Mutex<Vec<String>>>,
    fail: bool,
    _alive: Arc<()>,
}

impl StateMachine for Probe {
    type Output = <ChainMachine as StateMachine>::Output;
    fn apply(&mut self, entry: CommittedEntry<'_>) -> Result<Self::Output, StateMachineError> {
        let name = std::thread::current().name().unwrap_or("").to_string();
        self.threads.lock().unwrap().push(name);
        if self.fail && matches!(entry.kind, EntryKind::Proposals { .. }) {
            return Err(StateMachineError::Storage("the probe fails as told".into()));
        }
        self.inner.apply(entry)
    }
    fn snapshot(&self) -> Result<StateSnapshot, StateMachineError> {
        self.inner.snapshot()
    }
    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), StateMachineError> {
        self.inner.restore(snapshot)
    }
    fn can_restore(&self, data: &[u8]) -> bool {
        self.inner.can_restore(data)
    }
    fn applied_index(&self) -> LogIndex {
        self.inner.applied_index()
    }
    fn is_durable(&self) -> bool {
        self.inner.is_durable()
    }
    fn sync(&mut self) -> Result<(), StateMachineError> {
        self.inner.sync()
    }
    fn state_hash(&self) -> StateHash {
        self.inner.state_hash()
    }
    fn attestation(&self) -> Attestation {
        self.inner.attestation()
    }
}

/// A running [`Probe`] replica and what the test watches of it.
struct Probed {
    handle: ReplicaHandle,
    /// The names of the threads entries were applied on.
    threads: Arc<Mutex<Vec<String>>>,
    /// Held by the probe while it exists.
    alive: Arc<()>,
    /// Keeps the replica's peer channel open (the driver ends when it closes).
    _peers: mpsc::Sender<Message>,
}

/// One replica of a one-voter cluster with a [`Probe`], driven by [`runtime::spawn`].
fn spawn_probe(dir: &tempfile::TempDir, fail: bool) -> Probed {
    let log = RedbLog::open(dir.path().join("replica-7.redb")).unwrap();
    let mut store = LogStore::open(Box::new(log)).unwrap();
    Replica::bootstrap(&mut store, ChainMachine::default(), &[7]).unwrap();
    let threads = Arc::new(Mutex::new(Vec::new()));
    let alive = Arc::new(());
    let probe = Probe {
        inner: ChainMachine::default(),
        threads: threads.clone(),
        fail,
        _alive: alive.clone(),
    };
    let replica = Replica::open(ReplicaConfig::new(7), store, probe, &tracing_logger(7)).unwrap();
    // Nobody sends to it; the sender stays open (the driver ends when its peer channel closes).
    let (peers, peer_messages) = mpsc::channel(PEER_CHANNEL_CAPACITY);
    let handle = runtime::spawn(
        replica,
        ChannelTransport::new(BTreeMap::new()),
        peer_messages,
        RuntimeConfig {
            tick_interval: Duration::from_millis(10),
            epoch_ms: 0,
        },
    );
    Probed {
        handle,
        threads,
        alive,
        _peers: peers,
    }
}

/// Proposes `payload` until a leader accepts it (the lone voter elects itself within a few
/// ticks), within [`DEADLINE`].
async fn propose_until_led(
    handle: &ReplicaHandle,
    payload: &[u8],
) -> Result<runtime::Committed, ProposalFailed> {
    let attempt = async {
        loop {
            match handle.propose(payload.to_vec()).await {
                Err(ProposalFailed::Dropped) => {
                    let mut w = handle.status.clone();
                    let _ = w.changed().await;
                }
                outcome => return outcome,
            }
        }
    };
    tokio::time::timeout(DEADLINE, attempt)
        .await
        .expect("an outcome before the deadline")
}

// A current-thread test runtime: the replica must make progress on a thread of its own.
#[tokio::test]
async fn the_ready_loop_runs_on_its_own_thread_and_shutdown_joins_it() {
    let dir = tempfile::tempdir().unwrap();
    let Probed {
        handle,
        threads,
        alive,
        _peers,
    } = spawn_probe(&dir, false);
    let committed = propose_until_led(&handle, b"set:bl-1:party-1")
        .await
        .expect("committed");
    assert!(committed.index >= 2);
    let index = handle.read_index().await.expect("a read point");
    assert!(index >= committed.index);
    handle.shutdown().await.expect("replica ended cleanly");
    let threads = threads.lock().unwrap().clone();
    assert!(!threads.is_empty());
    assert!(
        threads.iter().all(|t| t == "raft-7"),
        "applied on {threads:?}"
    );
    // The thread ended (and dropped the replica with its state machine) before shutdown returned.
    assert_eq!(Arc::strong_count(&alive), 1);
}

#[tokio::test]
async fn a_fatal_apply_error_stops_the_thread_and_shutdown_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let Probed {
        handle,
        alive,
        _peers,
        ..
    } = spawn_probe(&dir, true);
    let outcome = propose_until_led(&handle, b"set:bl-1:party-1").await;
    assert_eq!(outcome, Err(ProposalFailed::Stopped));
    let ended = handle.shutdown().await;
    assert!(
        matches!(ended, Err(ReplicaError::StateMachine { id: 7, .. })),
        "{ended:?}"
    );
    assert_eq!(Arc::strong_count(&alive), 1);
}
