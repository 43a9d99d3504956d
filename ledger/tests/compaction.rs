//! Log compaction over the real document ledger (sled state, redb log), one replica driven
//! by hand: a durable state machine's routine snapshots record only their position, so the
//! stored snapshot does not grow with the ledger; the state still survives a restart; a peer
//! that needs the state gets one that holds it; and a state store that lost what the
//! compacted log no longer holds is refused at start, naming the cause.

use crate::chain_common;

use chain_common::*;
use ledger::LedgerState;
use raft::Storage as _;
use replication::error::ReplicaError;
use replication::logging::discard_logger;
use replication::{CollectEffects, LogStore, ProposalId, RedbLog, Replica, ReplicaConfig};
use serde_json::json;

const BLOCKS: u64 = 9;

fn config() -> ReplicaConfig {
    ReplicaConfig {
        snapshot_interval_entries: 3,
        log_retain_entries: 1,
        ..ReplicaConfig::new(1)
    }
}

fn drain(replica: &mut Replica<LedgerState>) {
    let mut fx = CollectEffects::default();
    for _ in 0..16 {
        replica.handle_ready(&mut fx).expect("handle_ready");
        if !replica.has_ready() {
            return;
        }
    }
    panic!("still a Ready after 16 rounds");
}

/// The carrier issues straight bill `reference` as the only transaction of a block, at `now`.
fn issue_block(
    net: &mut Net,
    r: &mut Replica<LedgerState>,
    reference: &str,
    id: u64,
    now: u64,
) -> anyhow::Result<()> {
    let content = fixture("straight-bill.json")?;
    let tx = net.doc_tx(
        "carrier",
        GENESIS_MS + 1_000,
        reference,
        json!({"action": "ISSUE", "content": content, "issueTo": "SHIPPER"}),
    )?;
    r.propose(ProposalId(id), tx, now)?;
    r.flush_proposals_now(now);
    drain(r);
    Ok(())
}

fn open(net: &Net, state: LedgerState) -> Result<Replica<LedgerState>, ReplicaError> {
    let log = RedbLog::open(net.dir.path().join("raft.redb")).expect("redb");
    let mut store = LogStore::open(Box::new(log)).expect("log store");
    Replica::bootstrap(&mut store, net.state("genesis").expect("genesis"), &[1])?;
    Replica::open(config(), store, state, &discard_logger())
}

#[test]
fn a_durable_ledger_compacts_behind_snapshots_without_state_and_restarts_to_the_same_state()
-> anyhow::Result<()> {
    // One node: the ledger's node set is Raft's membership, and this replica runs alone.
    let mut net = net_with(&pki::dev::ConsortiumSpec::dev(1))?;
    let at = GENESIS_MS + 1_000;
    let (hash, applied) = {
        let mut r = open(&net, net.state("state")?)?;
        r.campaign()?;
        drain(&mut r);
        assert!(r.is_leader());
        for i in 0..BLOCKS {
            issue_block(
                &mut net,
                &mut r,
                &format!("SLK-COMPACT-{i:03}"),
                i + 1,
                at + i,
            )?;
        }
        assert_eq!(
            r.state_machine().tip().height,
            BLOCKS,
            "every issue made a block"
        );
        let stats = r.stats();
        assert!(stats.snapshots_without_state >= 2, "{stats:?}");
        assert_eq!(
            stats.snapshots_without_state, stats.snapshots_taken,
            "{stats:?}"
        );
        let core = r.store().core();
        assert!(
            core.snapshot.data.is_empty(),
            "the routine snapshot holds no state"
        );
        assert!(
            core.truncated_index > 2,
            "the log was compacted: {}",
            core.truncated_index
        );

        // A peer that needs the state is not sent the empty snapshot: the store asks for one
        // that holds it, and the next Ready takes it.
        let index = core.snapshot.get_metadata().index;
        assert!(r.store().snapshot(index, 1).is_err());
        drain(&mut r);
        let core = r.store().core();
        assert!(
            !core.snapshot.data.is_empty(),
            "a snapshot with the state for the peer"
        );
        let sent = r.store().snapshot(index, 1)?;
        assert_eq!(sent.get_metadata().index, r.applied_index());
        assert!(
            r.stats().snapshots_taken > r.stats().snapshots_without_state,
            "{:?}",
            r.stats()
        );
        (r.state_machine().state_hash(), r.applied_index())
    };

    // Restart on the same sled state and redb log: nothing is restored, nothing lost.
    let mut r = open(&net, net.reopen("state")?)?;
    assert_eq!(r.state_machine().applied_index(), applied);
    assert_eq!(r.state_machine().state_hash(), hash);
    assert_eq!(r.stats().snapshots_restored, 0);
    r.campaign()?;
    drain(&mut r);
    assert!(r.is_leader());
    drop(r);

    // One more routine snapshot (stateless again), then a state store that never saw the
    // compacted entries: refused, since neither the log nor the snapshot can rebuild it.
    let mut r = open(&net, net.reopen("state")?)?;
    r.campaign()?;
    drain(&mut r);
    for i in 0..3 {
        issue_block(
            &mut net,
            &mut r,
            &format!("SLK-COMPACT-MORE-{i}"),
            100 + i,
            at + 100 + i,
        )?;
    }
    assert!(r.store().core().snapshot.data.is_empty());
    drop(r);
    let err = open(&net, net.state("lost")?).expect_err("an empty store behind a compacted log");
    assert!(
        matches!(&err, ReplicaError::Recovery { reason, .. } if reason.contains("holds no state")),
        "{err}"
    );
    Ok(())
}
