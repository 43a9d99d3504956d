//! Three replicas in one tokio runtime over in-memory channels, each on a real redb log.

use std::collections::BTreeMap;
use std::time::Duration;

use replication::logging::tracing_logger;
use replication::runtime::{
    self, PEER_CHANNEL_CAPACITY, ProposalFailed, ReplicaHandle, ReplicaStatus, RuntimeConfig,
};
use replication::{LogStore, RedbLog, Replica, ReplicaConfig};
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
