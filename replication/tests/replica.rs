//! The replica core on its own: one node, real `handle_ready`, simulated and real disks.

use replication::error::{ReplicaError, StorageError};
use replication::logging::discard_logger;
use replication::state_machine::Membership;
use replication::{
    CollectEffects, LogStore, ProposalId, ProposeError, RedbLog, Replica, ReplicaConfig, SimDisk,
    StateMachine,
};
use sim::ChainMachine;
use sim::chain::SimCommand;

/// `handle_ready` until quiet, bounded; returns everything it produced.
fn drain(replica: &mut Replica<ChainMachine>) -> CollectEffects<[u8; 32]> {
    let mut fx = CollectEffects::default();
    for _ in 0..16 {
        replica.handle_ready(&mut fx).expect("handle_ready");
        if !replica.has_ready() {
            return fx;
        }
    }
    panic!("still a Ready after 16 rounds");
}

fn config(id: u64) -> ReplicaConfig {
    ReplicaConfig {
        snapshot_interval_entries: 4,
        log_retain_entries: 1,
        ..ReplicaConfig::new(id)
    }
}

fn open(disk: Box<dyn replication::DurableLog>, sm: ChainMachine) -> Replica<ChainMachine> {
    let mut store = LogStore::open(disk).unwrap();
    Replica::bootstrap(&mut store, ChainMachine::default(), &[1]).unwrap();
    Replica::open(config(1), store, sm, &discard_logger()).unwrap()
}

fn elect(replica: &mut Replica<ChainMachine>) {
    replica.campaign().unwrap();
    drain(replica);
    assert!(replica.is_leader());
}

/// A payload that issues bill `SIM<bill>` (a second issue of the same bill is refused).
fn issue(bill: u8) -> Vec<u8> {
    SimCommand {
        party: "CARRIER".into(),
        bill,
        command: serde_json::from_value(serde_json::json!({
            "action": "ISSUE",
            "issueTo": "SHIPPER",
            "content": SimCommand::blank_bill_content(bill),
        }))
        .unwrap(),
    }
    .payload()
}

#[test]
fn single_node_applies_batches_and_reports_proposals() {
    let mut r = open(Box::new(SimDisk::new()), ChainMachine::default());
    elect(&mut r);
    for i in 0..3 {
        r.propose(ProposalId(i), issue(i as u8), 0).unwrap();
    }
    // Not yet proposed: the batch waits for its deadline or for more payloads.
    assert!(drain(&mut r).applied.iter().all(|a| a.proposals.is_empty()));
    r.flush_proposals(1_000);
    let fx = drain(&mut r);
    let ids: Vec<ProposalId> = fx
        .applied
        .iter()
        .flat_map(|a| a.proposals.clone())
        .collect();
    assert_eq!(ids, vec![ProposalId(0), ProposalId(1), ProposalId(2)]);
    assert_eq!(r.state_machine().documents().len(), 3);
    assert_eq!(r.state_machine().workflow_counts(), (3, 0));
    r.read_index(b"read-1".to_vec()).unwrap();
    let fx = drain(&mut r);
    assert_eq!(fx.read_states.len(), 1);
    assert_eq!(fx.read_states[0].request_ctx, b"read-1".to_vec());
    assert!(fx.read_states[0].index <= r.applied_index());
}

#[test]
fn storage_failure_stops_the_replica_loudly() {
    let disk = SimDisk::new();
    let mut r = open(Box::new(disk.clone()), ChainMachine::default());
    elect(&mut r);
    r.propose(ProposalId(1), b"x".to_vec(), 0).unwrap();
    r.flush_proposals_now(0);
    disk.crash_on_next_write(false);
    let err = r.handle_ready(&mut CollectEffects::default()).unwrap_err();
    assert!(
        matches!(
            err,
            ReplicaError::Storage {
                id: 1,
                source: StorageError::SimulatedCrash
            }
        ),
        "{err}"
    );
    assert!(err.is_fatal());
    assert!(r.is_stopped());
    assert!(matches!(
        r.handle_ready(&mut CollectEffects::default()),
        Err(ReplicaError::Stopped { id: 1 })
    ));
    assert_eq!(
        r.propose(ProposalId(2), b"y".to_vec(), 0),
        Err(ProposeError::Stopped)
    );
    // The unsynced entry is gone; the replica restarts from what was synced.
    let applied = r.applied_index();
    drop(r);
    let r = Replica::open(
        config(1),
        LogStore::open(Box::new(disk)).unwrap(),
        ChainMachine::default(),
        &discard_logger(),
    )
    .unwrap();
    assert!(r.store().core().last_index() <= applied + 1);
}

#[test]
fn state_machine_ahead_of_the_log_is_refused_at_start() {
    let mut ahead = ChainMachine::default();
    for index in 1..=5 {
        ahead
            .apply(replication::CommittedEntry {
                index,
                term: 1,
                kind: replication::EntryKind::Noop,
            })
            .unwrap();
    }
    let mut store = LogStore::open(Box::new(SimDisk::new())).unwrap();
    Replica::bootstrap(&mut store, ChainMachine::default(), &[1]).unwrap();
    let err = Replica::open(config(1), store, ahead, &discard_logger()).unwrap_err();
    assert!(matches!(err, ReplicaError::Recovery { id: 1, .. }), "{err}");
}

#[test]
fn redb_replica_restarts_to_the_same_state_after_snapshots_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raft.redb");
    let (before, applied, writes) = {
        let mut r = open(
            Box::new(RedbLog::open(&path).unwrap()),
            ChainMachine::default(),
        );
        elect(&mut r);
        for i in 0..20u64 {
            r.propose(ProposalId(i), issue((i % 3) as u8), i).unwrap();
            r.flush_proposals_now(i);
            drain(&mut r);
        }
        assert!(r.stats().snapshots_taken >= 4, "{:?}", r.stats());
        assert!(r.store().core().truncated_index > 1, "log was compacted");
        (
            r.state_machine().clone(),
            r.applied_index(),
            r.stats().durable_writes,
        )
    };
    // One durable write per Ready that had something to persist, not one per entry or field.
    assert!(writes <= 2 * 20 + 4, "{writes} writes");
    // A volatile state machine: rebuilt from the stored snapshot plus the retained log.
    let mut r = Replica::open(
        config(1),
        LogStore::open(Box::new(RedbLog::open(&path).unwrap())).unwrap(),
        ChainMachine::default(),
        &discard_logger(),
    )
    .unwrap();
    elect(&mut r);
    assert_eq!(
        r.applied_index(),
        applied + 1,
        "everything replayed, plus the new term's no-op"
    );
    let after = r.state_machine();
    assert_eq!(after.chain(), before.chain());
    assert_eq!(after.documents(), before.documents());
    assert_eq!(after.payloads_applied(), 20);
}

/// A state machine that prescribes whatever membership the test sets (the ledger's node set
/// stands behind `membership()` in production).
struct Prescribed {
    inner: ChainMachine,
    want: std::rc::Rc<std::cell::RefCell<Option<Membership>>>,
}

impl StateMachine for Prescribed {
    type Output = <ChainMachine as StateMachine>::Output;
    fn apply(
        &mut self,
        entry: replication::CommittedEntry<'_>,
    ) -> Result<Self::Output, replication::StateMachineError> {
        self.inner.apply(entry)
    }
    fn snapshot(
        &self,
    ) -> Result<replication::state_machine::StateSnapshot, replication::StateMachineError> {
        self.inner.snapshot()
    }
    fn restore(
        &mut self,
        snapshot: &replication::state_machine::StateSnapshot,
    ) -> Result<(), replication::StateMachineError> {
        self.inner.restore(snapshot)
    }
    fn can_restore(&self, data: &[u8]) -> bool {
        self.inner.can_restore(data)
    }
    fn applied_index(&self) -> replication::LogIndex {
        self.inner.applied_index()
    }
    fn state_hash(&self) -> replication::StateHash {
        self.inner.state_hash()
    }
    fn attestation(&self) -> replication::Attestation {
        self.inner.attestation()
    }
    fn membership(&self) -> Option<Membership> {
        self.want.borrow().clone()
    }
    fn is_durable(&self) -> bool {
        self.inner.is_durable()
    }
    fn sync(&mut self) -> Result<(), replication::StateMachineError> {
        self.inner.sync()
    }
}

fn membership(voters: &[u64], learners: &[u64]) -> Membership {
    Membership {
        voters: voters.iter().copied().collect(),
        learners: learners.iter().copied().collect(),
    }
}

fn sorted(ids: &[u64]) -> Vec<u64> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids
}

#[test]
fn next_conf_change_adds_learners_then_promotes_then_removes() {
    use replication::eraftpb::{ConfChangeType, ConfState};
    let conf = |voters: &[u64], learners: &[u64]| ConfState {
        voters: voters.to_vec(),
        learners: learners.to_vec(),
        ..ConfState::default()
    };
    let cases = [
        (conf(&[1, 2, 3], &[]), membership(&[1, 2, 3], &[]), None),
        (
            conf(&[1, 2, 3], &[]),
            membership(&[1, 2, 3], &[4]),
            Some((ConfChangeType::AddLearnerNode, 4)),
        ),
        (
            conf(&[1, 2, 3], &[4]),
            membership(&[1, 2, 3, 4], &[]),
            Some((ConfChangeType::AddNode, 4)),
        ),
        (
            conf(&[3, 1, 2, 4], &[]),
            membership(&[2, 3, 4], &[]),
            Some((ConfChangeType::RemoveNode, 1)),
        ),
        (
            conf(&[1, 2, 3], &[5]),
            membership(&[1, 2, 3], &[]),
            Some((ConfChangeType::RemoveNode, 5)),
        ),
        // A new learner comes before a removal, whatever the ids.
        (
            conf(&[1, 2, 3], &[]),
            membership(&[2, 3], &[9]),
            Some((ConfChangeType::AddLearnerNode, 9)),
        ),
    ];
    for (current, want, expected) in cases {
        assert_eq!(
            replication::replica::next_conf_change(&current, &want),
            expected,
            "{current:?} -> {want:?}"
        );
    }
}

#[test]
fn leader_brings_raft_membership_to_the_state_machines_exactly_once() {
    let want = std::rc::Rc::new(std::cell::RefCell::new(None));
    let sm = Prescribed {
        inner: ChainMachine::default(),
        want: want.clone(),
    };
    let mut store = LogStore::open(Box::new(SimDisk::new())).unwrap();
    Replica::bootstrap(&mut store, ChainMachine::default(), &[1]).unwrap();
    let mut r = Replica::open(config(1), store, sm, &discard_logger()).unwrap();
    let conf_changes =
        |fx: &CollectEffects<_>| fx.applied.iter().filter(|a| a.conf_state.is_some()).count();
    r.campaign().unwrap();
    let mut fx = CollectEffects::default();
    for _ in 0..16 {
        r.handle_ready(&mut fx).unwrap();
    }
    assert!(r.is_leader());
    assert_eq!(
        conf_changes(&fx),
        0,
        "no membership prescribed, none proposed"
    );

    *want.borrow_mut() = Some(membership(&[1], &[2]));
    let mut fx = CollectEffects::default();
    for _ in 0..16 {
        r.handle_ready(&mut fx).unwrap();
    }
    assert_eq!(conf_changes(&fx), 1);
    assert_eq!(sorted(&r.conf_state().learners), vec![2]);

    *want.borrow_mut() = Some(membership(&[1, 2], &[]));
    let mut fx = CollectEffects::default();
    for _ in 0..16 {
        r.handle_ready(&mut fx).unwrap();
    }
    assert_eq!(
        conf_changes(&fx),
        1,
        "promoted once, however often Ready runs"
    );
    assert_eq!(sorted(&r.conf_state().voters), vec![1, 2]);
    assert!(r.conf_state().learners.is_empty());
}

/// Three replicas wired by hand: `handle_ready` on each, then every message delivered unless
/// it leaves or reaches an isolated replica; returns how many conf changes each applied.
struct Trio {
    replicas: Vec<Replica<Prescribed>>,
    wants: Vec<std::rc::Rc<std::cell::RefCell<Option<Membership>>>>,
    conf_changes: Vec<usize>,
}

impl Trio {
    fn new() -> Trio {
        let mut replicas = Vec::new();
        let mut wants = Vec::new();
        for id in 1..=3 {
            let want = std::rc::Rc::new(std::cell::RefCell::new(None));
            let sm = Prescribed {
                inner: ChainMachine::default(),
                want: want.clone(),
            };
            let mut store = LogStore::open(Box::new(SimDisk::new())).unwrap();
            Replica::bootstrap(&mut store, ChainMachine::default(), &[1, 2, 3]).unwrap();
            let config = ReplicaConfig {
                election_jitter_seed: Some(id),
                ..config(id)
            };
            replicas.push(Replica::open(config, store, sm, &discard_logger()).unwrap());
            wants.push(want);
        }
        Trio {
            replicas,
            wants,
            conf_changes: vec![0; 3],
        }
    }

    /// Ready handling and delivery until quiet (bounded), `isolated` cut off.
    fn settle(&mut self, isolated: Option<u64>) {
        for _ in 0..64 {
            let mut messages = Vec::new();
            for (i, r) in self.replicas.iter_mut().enumerate() {
                let mut fx = CollectEffects::default();
                r.handle_ready(&mut fx).unwrap();
                self.conf_changes[i] +=
                    fx.applied.iter().filter(|a| a.conf_state.is_some()).count();
                messages.extend(fx.messages);
            }
            if messages.is_empty() && self.replicas.iter().all(|r| !r.has_ready()) {
                return;
            }
            for m in messages {
                let cut = isolated.is_some_and(|id| m.from == id || m.to == id);
                if !cut && (1..=3).contains(&m.to) {
                    // A refused message is the network's loss; Raft retransmits.
                    let _ = self.replicas[m.to as usize - 1].step(m);
                }
            }
        }
        panic!("the replicas did not settle within 64 rounds");
    }

    /// The first replica that believes it leads (an isolated old leader may still believe it).
    fn leader(&self) -> Option<u64> {
        self.replicas.iter().find(|r| r.is_leader()).map(|r| r.id())
    }
}

/// The leader that applied a membership change crashes before proposing it (here: its state
/// machine never told it); the next leader notices that Raft's configuration lags the state
/// machine's and proposes the change itself. Proposing it once more changes nothing.
#[test]
fn a_new_leader_proposes_the_membership_change_its_predecessor_did_not() {
    let mut trio = Trio::new();
    trio.replicas[0].campaign().unwrap();
    trio.settle(None);
    assert_eq!(trio.leader(), Some(1));
    for want in &trio.wants[1..] {
        *want.borrow_mut() = Some(membership(&[1, 2, 3], &[4]));
    }
    trio.settle(None);
    assert_eq!(
        trio.conf_changes,
        vec![0, 0, 0],
        "leader 1 proposes nothing"
    );

    // Leader 1 cut off: replicas 2 and 3 elect one of them, which proposes AddLearnerNode(4).
    let mut ticks = 0;
    while !trio.replicas[1..].iter().any(|r| r.is_leader()) {
        assert!(ticks < 200, "no new leader after {ticks} ticks");
        for r in &mut trio.replicas[1..] {
            r.tick();
        }
        trio.settle(Some(1));
        ticks += 1;
    }
    let leader = trio.replicas[1..]
        .iter()
        .find(|r| r.is_leader())
        .map(|r| r.id() as usize - 1)
        .unwrap();
    trio.settle(Some(1));
    for r in &trio.replicas[1..] {
        assert_eq!(sorted(&r.conf_state().learners), vec![4]);
        assert_eq!(sorted(&r.conf_state().voters), vec![1, 2, 3]);
    }
    assert_eq!(trio.conf_changes[1..], [1, 1]);

    // Healed, replica 1 catches up with the same configuration, and the change is not
    // proposed again however often Ready runs.
    for _ in 0..20 {
        for r in &mut trio.replicas {
            r.tick();
        }
        trio.settle(None);
    }
    assert_eq!(sorted(&trio.replicas[0].conf_state().learners), vec![4]);
    assert_eq!(trio.conf_changes, vec![1, 1, 1]);

    // The same change proposed again is applied as a no-op.
    assert!(trio.replicas[leader].is_leader());
    trio.replicas[leader]
        .propose_conf_change(replication::replica::conf_change(
            replication::eraftpb::ConfChangeType::AddLearnerNode,
            4,
        ))
        .unwrap();
    trio.settle(None);
    for r in &trio.replicas {
        assert_eq!(sorted(&r.conf_state().learners), vec![4]);
        assert_eq!(sorted(&r.conf_state().voters), vec![1, 2, 3]);
    }
    assert_eq!(trio.conf_changes, vec![2, 2, 2]);
}

/// Flow control to the slowest live voter (`replica::flow`): a follower's append responses
/// carry its applied index, the leader counts the slowest voter that reported recently and
/// announces it in its appends, and a voter that falls silent (dead, cut off) stops counting,
/// as does an announcement no append renews.
#[test]
fn appends_carry_the_slowest_voters_apply_lag_and_a_silent_voter_stops_counting() {
    use replication::eraftpb::{Message, MessageType};
    use replication::replica::APPLY_REPORT_FRESH_TICKS;

    let mut trio = Trio::new();
    trio.replicas[0].campaign().unwrap();
    trio.settle(None);
    assert!(trio.replicas[0].is_leader());
    // An append response leaves before its sender applies what that append committed: at
    // most the last entry is in flight.
    for r in &trio.replicas {
        assert!(r.cluster_apply_lag() <= 1, "replica {}: caught up", r.id());
    }

    // Replica 3 reports that it has applied nothing yet.
    let commit = trio.replicas[0].commit_index();
    assert!(commit > 0);
    let mut report = Message::default();
    report.set_msg_type(MessageType::MsgAppendResponse);
    report.from = 3;
    report.to = 1;
    report.term = trio.replicas[0].term();
    report.index = commit;
    report.context = 0u64.to_be_bytes().to_vec().into();
    trio.replicas[0].step(report).unwrap();
    assert_eq!(trio.replicas[0].cluster_apply_lag(), commit);

    // The leader's next appends announce it; replica 2 hears it from the one sent to it.
    trio.replicas[0]
        .propose(ProposalId(1), issue(1), 0)
        .unwrap();
    trio.replicas[0].flush_proposals_now(1_000);
    let mut fx = CollectEffects::default();
    trio.replicas[0].handle_ready(&mut fx).unwrap();
    let to_2: Vec<Message> = fx
        .messages
        .into_iter()
        .filter(|m| m.get_msg_type() == MessageType::MsgAppend && m.to == 2)
        .collect();
    assert!(!to_2.is_empty(), "an append to replica 2");
    for m in to_2 {
        assert_eq!(m.get_context(), commit.to_be_bytes().as_slice());
        trio.replicas[1].step(m).unwrap();
    }
    assert_eq!(trio.replicas[1].cluster_apply_lag(), commit);

    // Replica 2's answer reports what it has applied.
    let mut fx = CollectEffects::default();
    trio.replicas[1].handle_ready(&mut fx).unwrap();
    let answer = fx
        .messages
        .iter()
        .find(|m| m.get_msg_type() == MessageType::MsgAppendResponse)
        .expect("an append response");
    assert_eq!(
        answer.get_context(),
        trio.replicas[1].applied_index().to_be_bytes().as_slice()
    );

    // Replica 3 falls silent. Within the freshness window it still counts; past it, neither
    // its report on the leader nor the announcement on replica 2 does (replica 2's own reports
    // age too once no append needs an answer).
    for tick in 0..2 * APPLY_REPORT_FRESH_TICKS + 1 {
        for r in &mut trio.replicas[..2] {
            r.tick();
        }
        trio.settle(Some(3));
        if tick + 1 < APPLY_REPORT_FRESH_TICKS {
            assert!(trio.replicas[0].cluster_apply_lag() > 0, "tick {tick}");
        }
    }
    assert!(trio.replicas[0].is_leader());
    assert_eq!(trio.replicas[0].cluster_apply_lag(), 0);
    assert_eq!(trio.replicas[1].cluster_apply_lag(), 0);
}
