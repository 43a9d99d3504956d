//! The clients' requests in flight on one replica, as a sans-IO state machine: which proposals
//! and which linearizable reads wait for an answer, until when, and what answers them.
//!
//! Architecture invariant: nothing here touches tokio, a channel, a thread or a clock. Time is
//! a parameter (`now_ms`, any monotonic millisecond count the caller chooses), and every method
//! *returns* the answers due instead of sending them. A reply is an opaque token chosen by the
//! caller (`P` for proposals, `R` for reads): the tokio driver ([`super`]) uses oneshot senders,
//! the deterministic simulator (crate `sim`) uses plain ids. Both run this same code, so the
//! simulator's checkers judge the answers production gives.
//!
//! # How a driver uses it
//!
//! ```text
//! let mut requests = Requests::new(replica.id(), epoch_ms);
//! // a client proposes:         requests.propose(&mut replica, payload, token, now_ms)
//! //                            -> Ok(id) (pending) or Err((token, why)): answer it now
//! // a client asks a read point: requests.read(&mut replica, token, now_ms)
//! //                            -> Ok(sequence) (pending) or Err((token, why)): answer it now
//! // inside handle_ready's ReadyEffects:
//! //   applied(a)            -> requests.applied(&a.proposals, Committed { index, term })
//! //   proposals_dropped(ids) -> requests.dropped(&ids)
//! //   read_states(states)    -> requests.read_states(&states)
//! // after each round of Readies: requests.term_seen(replica.term())
//! // at every tick:               requests.expire(now_ms)
//! // when the driver stops:       requests.stop()
//! // each call returns the `Answer`s to deliver, in order.
//! ```
//!
//! The rules it keeps:
//!
//! - A proposal gets a [`ProposalId`] unique in the cluster (the raft id in the high bits) and
//!   across this node's restarts (its counter starts past the previous run's, see
//!   [`Requests::new`]), and is answered [`Committed`] when its entry is applied, [`ProposalFailed::Dropped`] when
//!   raft-rs drops it, [`ProposalFailed::TimedOut`] after [`PROPOSAL_TIMEOUT_MS`], or
//!   [`ProposalFailed::Refused`] at once (queue full, replica stopped, payload refused).
//! - A read gets a ReadIndex context unique across the cluster and across this node's
//!   restarts ([`read_context`]); it is answered with its read index when raft-rs returns its
//!   `ReadState`, and `Dropped` (the caller asks again, see [`ReadAttempts`]) when raft-rs
//!   would drop it (no leader known, a leader that has not committed in its term), when the
//!   term changes while it is in flight, or after [`READ_ATTEMPT_TIMEOUT_MS`].
//!
//! Answers come out in a fixed order (pending requests are kept in ordered maps, by id), so
//! that a deterministic driver replays exactly.
//!
//! What it is not: it decides nothing about consensus (that is [`Replica`]'s), and it does not
//! wait for a read point to be applied (the caller watches the applied index).

use std::collections::BTreeMap;

use crate::batch::ProposalId;
use crate::error::ProposeError;
use crate::replica::Replica;
use crate::state_machine::{LogIndex, StateMachine};

/// Proposals waiting for their outcome before new ones are refused with `QueueFull`.
pub const PENDING_PROPOSALS_MAX: usize = 16 * 1024;

/// A proposal not committed within this time is answered `TimedOut`: it may still commit (the
/// client must check before retrying), but a client never waits forever, e.g. when its entry was
/// forwarded to a leader that lost leadership before appending it.
pub const PROPOSAL_TIMEOUT_MS: u64 = 10_000;

/// Linearizable read requests waiting for their read point before new ones are refused.
pub const PENDING_READS_MAX: usize = 4096;

/// A read point not confirmed within this time is answered `TimedOut` (no quorum reachable).
/// [`ReadAttempts`] asks again, within this same bound, for a read raft-rs would drop or
/// dropped: one asked of a node that knows no leader or of a leader that has not committed in
/// its term yet, one in flight across a change of term, and one not answered within
/// [`READ_ATTEMPT_TIMEOUT_MS`] (a leader drops, silently, a read a follower forwarded to it
/// before its first commit).
pub const READ_INDEX_TIMEOUT_MS: u64 = 5_000;

/// A read request not answered within this time is answered `Dropped`, and asked again.
pub const READ_ATTEMPT_TIMEOUT_MS: u64 = 1_000;

/// Pause before [`ReadAttempts`] asks again for a read point that was dropped.
pub const READ_RETRY_PAUSE_MS: u64 = 20;

/// Bits of a [`ProposalId`] left for the per-replica counter; the replica id fills the rest.
const PROPOSAL_COUNTER_BITS: u32 = 48;

/// A run's proposal counter starts at `epoch_ms << PROPOSALS_PER_MS_BITS` (within the counter's
/// bits, wrapping): ids stay unique across restarts as long as a run proposed at most
/// 2^7 = 128 payloads per ms it lasted (128,000/s, far over what a replica commits:
/// BATCH_PAYLOADS_MAX payloads per durable write). Without it, a restarted node numbered its
/// proposals from 1 again, and an entry of its previous run applied after the restart (one it
/// had forwarded to the leader) answered a new, different proposal `Committed`. 7 bits keep
/// today's Unix time in ms (about 2^40.7) within the 48 counter bits until 2039; after that
/// the start wraps, which keeps the same guarantee (ids are compared modulo 2^48).
const PROPOSALS_PER_MS_BITS: u32 = 7;

/// The counter bits of a [`ProposalId`].
const PROPOSAL_COUNTER_MASK: u64 = (1 << PROPOSAL_COUNTER_BITS) - 1;

/// How long a proposal of this replica waited from [`Requests::propose`] to its answer
/// `Committed` (its entry applied here), and when that answer was given; both on the driver's
/// clock. The proposer's own clock at both ends, so no other node's clock enters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitDelay {
    /// When it was answered.
    pub answered_at_ms: u64,
    /// How long it had waited.
    pub waited_ms: u64,
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

/// A proposal's outcome.
pub type ProposalOutcome = Result<Committed, ProposalFailed>;

/// A read request's outcome: the read index, confirmed by a quorum.
pub type ReadOutcome = Result<LogIndex, ProposalFailed>;

/// An answer due to a client: its reply token and its outcome.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer<P, R> {
    /// To a proposal.
    Proposal(P, ProposalOutcome),
    /// To a read request.
    Read(R, ReadOutcome),
}

/// The requests in flight on one replica (see the module docs).
#[derive(Debug)]
pub struct Requests<P, R> {
    /// This replica's raft id: the high bits of its proposal ids, the first half of its read
    /// contexts.
    raft_id: u64,
    /// Proposals waiting for an outcome: deadline (`now_ms` scale) and reply.
    proposals: BTreeMap<ProposalId, (u64, P)>,
    /// Read requests waiting for their read point, by the sequence number in the context sent
    /// to raft (see [`read_context`]): deadline and reply.
    reads: BTreeMap<u64, (u64, R)>,
    /// The last proposal counter handed out (modulo 2^[`PROPOSAL_COUNTER_BITS`]).
    next_proposal: u64,
    /// The last read sequence number handed out.
    next_read: u64,
    /// The last entry of this replica's proposals applied: when, and its longest wait.
    last_commit: Option<CommitDelay>,
    /// The term the pending reads were asked in.
    reads_term: u64,
}

impl<P, R> Requests<P, R> {
    /// No request in flight. `epoch_ms` is the clock reading at the driver's start (the Unix
    /// time in ms in production; it must grow from one run of a node to the next): read
    /// sequence numbers start past `epoch_ms << 20`, so that a leader still holding a read of
    /// this node's previous run never mistakes a new one for it (it would drop the new one
    /// silently); proposal counters past `epoch_ms << PROPOSALS_PER_MS_BITS`, so that an entry
    /// of the previous run applied after the restart answers none of this run's proposals.
    pub fn new(raft_id: u64, epoch_ms: u64) -> Requests<P, R> {
        Requests {
            raft_id,
            proposals: BTreeMap::new(),
            reads: BTreeMap::new(),
            next_proposal: (epoch_ms << PROPOSALS_PER_MS_BITS) & PROPOSAL_COUNTER_MASK,
            next_read: epoch_ms << 20,
            last_commit: None,
            reads_term: 0,
        }
    }

    /// Proposals waiting for an outcome.
    pub fn pending_proposals(&self) -> usize {
        self.proposals.len()
    }

    /// When the oldest proposal still waiting for its outcome was proposed (`now_ms` scale),
    /// if any: how far behind its proposals this replica is. The oldest is the one of the
    /// smallest id (ids grow within a run).
    pub fn oldest_pending_since_ms(&self) -> Option<u64> {
        self.proposals
            .values()
            .next()
            .map(|(deadline, _)| deadline.saturating_sub(PROPOSAL_TIMEOUT_MS))
    }

    /// Read requests waiting for their read point.
    pub fn pending_reads(&self) -> usize {
        self.reads.len()
    }

    /// Hands `payload` to `replica` (its batcher) under a fresh [`ProposalId`], which is
    /// returned; `reply` waits until [`PROPOSAL_TIMEOUT_MS`] after `now_ms` at most. A
    /// proposal refused at once (queue full, replica stopped, payload refused by the batcher)
    /// gives its token back with the reason, to be answered now.
    pub fn propose<S: StateMachine>(
        &mut self,
        replica: &mut Replica<S>,
        payload: Vec<u8>,
        reply: P,
        now_ms: u64,
    ) -> Result<ProposalId, (P, ProposalFailed)> {
        if self.proposals.len() >= PENDING_PROPOSALS_MAX {
            let full = ProposeError::QueueFull {
                pending: self.proposals.len(),
                max: PENDING_PROPOSALS_MAX,
            };
            return Err((reply, ProposalFailed::Refused(full)));
        }
        self.next_proposal = (self.next_proposal + 1) & PROPOSAL_COUNTER_MASK;
        let id = ProposalId((self.raft_id << PROPOSAL_COUNTER_BITS) | self.next_proposal);
        match replica.propose(id, payload, now_ms) {
            Ok(()) => {
                self.proposals
                    .insert(id, (now_ms + PROPOSAL_TIMEOUT_MS, reply));
                Ok(id)
            }
            Err(e) => Err((reply, ProposalFailed::Refused(e))),
        }
    }

    /// Asks `replica` for a read point (Raft's ReadIndex, thesis section 6.4) under a fresh
    /// context, and returns its sequence number; `reply` waits until
    /// [`READ_ATTEMPT_TIMEOUT_MS`] after `now_ms` at most. A read raft-rs would drop silently
    /// (see [`Replica::can_read`]) gives its token back `Dropped`, one over
    /// [`PENDING_READS_MAX`] `Refused`, one asked of a stopped replica `Stopped`.
    pub fn read<S: StateMachine>(
        &mut self,
        replica: &mut Replica<S>,
        reply: R,
        now_ms: u64,
    ) -> Result<u64, (R, ProposalFailed)> {
        // raft-rs drops, silently, a read asked of a follower that knows no leader or of a
        // leader that has not committed in its term: say so at once, and the caller asks again.
        if !replica.can_read() {
            return Err((reply, ProposalFailed::Dropped));
        }
        if self.reads.len() >= PENDING_READS_MAX {
            let full = ProposeError::QueueFull {
                pending: self.reads.len(),
                max: PENDING_READS_MAX,
            };
            return Err((reply, ProposalFailed::Refused(full)));
        }
        self.next_read += 1;
        let sequence = self.next_read;
        match replica.read_index(read_context(self.raft_id, sequence).to_vec()) {
            Ok(()) => {
                self.reads
                    .insert(sequence, (now_ms + READ_ATTEMPT_TIMEOUT_MS, reply));
                Ok(sequence)
            }
            Err(_) => Err((reply, ProposalFailed::Stopped)),
        }
    }

    /// An entry carrying `proposals` was applied at `committed`, at `now_ms`: those of them
    /// proposed here are answered, and the longest wait among them becomes
    /// [`Requests::last_commit`].
    pub fn applied(
        &mut self,
        proposals: &[ProposalId],
        committed: Committed,
        now_ms: u64,
    ) -> Vec<Answer<P, R>> {
        let mut waited_ms = None;
        let answers = proposals
            .iter()
            .filter_map(|id| self.proposals.remove(id))
            .map(|(deadline, reply)| {
                let proposed_at = deadline.saturating_sub(PROPOSAL_TIMEOUT_MS);
                let waited = now_ms.saturating_sub(proposed_at);
                waited_ms = Some(waited_ms.unwrap_or(0).max(waited));
                Answer::Proposal(reply, Ok(committed))
            })
            .collect();
        if let Some(waited_ms) = waited_ms {
            self.last_commit = Some(CommitDelay {
                answered_at_ms: now_ms,
                waited_ms,
            });
        }
        answers
    }

    /// The last entry of this replica's proposals applied here: when it was, and how long the
    /// longest-waiting of them had waited from proposal to answer. Together with the proposals
    /// still waiting ([`Requests::oldest_pending_since_ms`]) it tells how far behind this
    /// replica's commits are even when nothing of its own is in flight: a follower whose log
    /// trails the leader's cannot count the entries it has not received, but its proposals
    /// come back that much later.
    pub fn last_commit(&self) -> Option<CommitDelay> {
        self.last_commit
    }

    /// raft-rs dropped these proposals: answered `Dropped` (never committed; safe to retry).
    pub fn dropped(&mut self, ids: &[ProposalId]) -> Vec<Answer<P, R>> {
        ids.iter()
            .filter_map(|id| self.proposals.remove(id))
            .map(|(_, reply)| Answer::Proposal(reply, Err(ProposalFailed::Dropped)))
            .collect()
    }

    /// raft-rs confirmed these read points: the reads of this replica among them are answered
    /// with their index; any other context (another node's, a previous run's) is ignored.
    pub fn read_states(&mut self, states: &[raft::ReadState]) -> Vec<Answer<P, R>> {
        states
            .iter()
            .filter_map(|state| {
                let sequence = read_sequence(self.raft_id, &state.request_ctx)?;
                let (_, reply) = self.reads.remove(&sequence)?;
                Some(Answer::Read(reply, Ok(state.index)))
            })
            .collect()
    }

    /// The replica is now in `term`. raft-rs forgets the reads in flight when the term changes
    /// (a leader that steps down, a follower whose leader did): they are answered `Dropped`
    /// now, and the callers ask again, instead of letting them wait out their timeout.
    pub fn term_seen(&mut self, term: u64) -> Vec<Answer<P, R>> {
        if term == self.reads_term {
            return Vec::new();
        }
        self.reads_term = term;
        std::mem::take(&mut self.reads)
            .into_values()
            .map(|(_, reply)| Answer::Read(reply, Err(ProposalFailed::Dropped)))
            .collect()
    }

    /// Answers every request whose deadline is at or before `now_ms`: a proposal `TimedOut`
    /// (it may still commit), a read `Dropped` (raft-rs may forget one silently, a forwarded
    /// one its leader dropped or a lost message: the caller asks again within its bound).
    pub fn expire(&mut self, now_ms: u64) -> Vec<Answer<P, R>> {
        let mut answers = Vec::new();
        let expired: Vec<ProposalId> = self
            .proposals
            .iter()
            .filter(|(_, (deadline, _))| *deadline <= now_ms)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some((_, reply)) = self.proposals.remove(&id) {
                answers.push(Answer::Proposal(reply, Err(ProposalFailed::TimedOut)));
            }
        }
        let expired: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, (deadline, _))| *deadline <= now_ms)
            .map(|(sequence, _)| *sequence)
            .collect();
        for sequence in expired {
            if let Some((_, reply)) = self.reads.remove(&sequence) {
                answers.push(Answer::Read(reply, Err(ProposalFailed::Dropped)));
            }
        }
        answers
    }

    /// The driver stops: nobody will answer the waiting clients any more, so every one is
    /// answered `Stopped`.
    pub fn stop(&mut self) -> Vec<Answer<P, R>> {
        let proposals = std::mem::take(&mut self.proposals)
            .into_values()
            .map(|(_, reply)| Answer::Proposal(reply, Err(ProposalFailed::Stopped)));
        let reads = std::mem::take(&mut self.reads)
            .into_values()
            .map(|(_, reply)| Answer::Read(reply, Err(ProposalFailed::Stopped)));
        proposals.chain(reads).collect()
    }
}

/// What a client does next after an answer to its read request ([`ReadAttempts::next`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadStep {
    /// The read point: wait until the state machine has applied it, then read.
    Done(LogIndex),
    /// Ask again after this pause.
    RetryAfter {
        /// The pause, in ms.
        pause_ms: u64,
    },
    /// Give up with this error.
    Fail(ProposalFailed),
}

/// One client's attempts at a read point: a read answered `Dropped` is asked again after
/// [`READ_RETRY_PAUSE_MS`] until [`READ_INDEX_TIMEOUT_MS`] after the first attempt, then
/// answered `TimedOut`. Time is a parameter, on any monotonic millisecond scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadAttempts {
    /// No attempt starts at or after this time.
    deadline_ms: u64,
}

impl ReadAttempts {
    /// The first attempt starts at `now_ms`.
    pub fn new(now_ms: u64) -> ReadAttempts {
        ReadAttempts {
            deadline_ms: now_ms + READ_INDEX_TIMEOUT_MS,
        }
    }

    /// What to do with the `outcome` of an attempt, answered at `now_ms`.
    pub fn next(&self, outcome: ReadOutcome, now_ms: u64) -> ReadStep {
        match outcome {
            Ok(index) => ReadStep::Done(index),
            Err(ProposalFailed::Dropped) if now_ms < self.deadline_ms => ReadStep::RetryAfter {
                pause_ms: READ_RETRY_PAUSE_MS,
            },
            Err(ProposalFailed::Dropped) => ReadStep::Fail(ProposalFailed::TimedOut),
            Err(e) => ReadStep::Fail(e),
        }
    }
}

/// The context of a ReadIndex request: the requesting replica's raft id, then its sequence
/// number. The leader keeps one pending read per context and silently drops a request whose
/// context it already holds (raft-rs's `ReadOnly::add_request`), so contexts must be unique
/// across the cluster, not only within a node: with bare per-node counters, two nodes' reads
/// in flight at once collided and one of them waited out its timeout.
pub fn read_context(raft_id: u64, sequence: u64) -> [u8; 16] {
    let mut context = [0u8; 16];
    context[..8].copy_from_slice(&raft_id.to_be_bytes());
    context[8..].copy_from_slice(&sequence.to_be_bytes());
    context
}

/// The sequence number of a context [`read_context`] made for `raft_id`; `None` for any other.
pub fn read_sequence(raft_id: u64, context: &[u8]) -> Option<u64> {
    let context = <[u8; 16]>::try_from(context).ok()?;
    let (id, sequence) = context.split_at(8);
    (id == raft_id.to_be_bytes()).then(|| u64::from_be_bytes(sequence.try_into().expect("8 bytes")))
}

#[cfg(test)]
mod tests {
    //! The bookkeeping driven with fake time over a real single-node [`Replica`] (on the
    //! simulator's in-memory disk), as the tokio driver and the simulator drive it.

    use super::*;
    use crate::batch::Attestation;
    use crate::logging::discard_logger;
    use crate::replica::{CollectEffects, ReplicaConfig};
    use crate::state_machine::{CommittedEntry, StateHash, StateSnapshot};
    use crate::storage::{LogStore, SimDisk};
    use crate::{Replica, StateMachineError};

    /// The smallest state machine: it only counts.
    #[derive(Debug, Default)]
    struct Counter {
        applied: LogIndex,
    }

    impl StateMachine for Counter {
        type Output = ();
        fn apply(&mut self, entry: CommittedEntry<'_>) -> Result<(), StateMachineError> {
            self.applied = entry.index;
            Ok(())
        }
        fn snapshot(&self) -> Result<StateSnapshot, StateMachineError> {
            Ok(StateSnapshot {
                applied_index: self.applied,
                data: self.applied.to_be_bytes().to_vec(),
            })
        }
        fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), StateMachineError> {
            self.applied = snapshot.applied_index;
            Ok(())
        }
        fn can_restore(&self, _data: &[u8]) -> bool {
            true
        }
        fn applied_index(&self) -> LogIndex {
            self.applied
        }
        fn is_durable(&self) -> bool {
            false
        }
        fn sync(&mut self) -> Result<(), StateMachineError> {
            Ok(())
        }
        fn state_hash(&self) -> StateHash {
            crate::state_machine::sha256(&self.applied.to_be_bytes())
        }
        fn attestation(&self) -> Attestation {
            Attestation::NONE
        }
    }

    type Tracked = Requests<&'static str, &'static str>;

    /// Replica 1 of a one-voter cluster, not yet leader.
    fn follower() -> Replica<Counter> {
        let mut store = LogStore::open(Box::new(SimDisk::new())).unwrap();
        Replica::bootstrap(&mut store, Counter::default(), &[1]).unwrap();
        Replica::open(
            ReplicaConfig::new(1),
            store,
            Counter::default(),
            &discard_logger(),
        )
        .unwrap()
    }

    /// Handles Readies until there are none; returns what they did.
    fn settle(replica: &mut Replica<Counter>) -> CollectEffects<()> {
        let mut fx = CollectEffects::default();
        for _ in 0..16 {
            if !replica.has_ready() {
                return fx;
            }
            replica.handle_ready(&mut fx).unwrap();
        }
        panic!("still a Ready after 16 rounds");
    }

    /// Replica 1, leader of its one-voter cluster, with an entry of its term committed (so it
    /// can serve reads).
    fn leader() -> Replica<Counter> {
        let mut replica = follower();
        replica.campaign().unwrap();
        settle(&mut replica);
        assert!(replica.is_leader() && replica.can_read());
        replica
    }

    /// A follower learns how far the cluster has committed from its leader's appends, even
    /// before it holds the entries: admission counts those as lag (`ReplicaStatus::apply_lag`).
    #[test]
    fn a_leaders_append_tells_a_follower_the_clusters_commit_index() {
        let mut replica = follower();
        let own = replica.commit_index();
        assert_eq!(replica.leader_commit_index(), own);
        let mut append = raft::eraftpb::Message::default();
        append.set_msg_type(raft::eraftpb::MessageType::MsgAppend);
        append.from = 2;
        append.to = 1;
        append.term = 5;
        append.log_term = 4;
        append.index = own + 40;
        append.commit = own + 90;
        replica.step(append).unwrap();
        // Its log does not reach there (the append does not match it), so its own commit index
        // stays; the cluster's, as announced, is 90 entries on.
        assert_eq!(replica.commit_index(), own);
        assert_eq!(replica.leader_commit_index(), own + 90);
        // A heartbeat's commit is no such announcement.
        let mut heartbeat = raft::eraftpb::Message::default();
        heartbeat.set_msg_type(raft::eraftpb::MessageType::MsgHeartbeat);
        heartbeat.from = 2;
        heartbeat.to = 1;
        heartbeat.term = 5;
        heartbeat.commit = own + 500;
        replica.step(heartbeat).unwrap();
        assert_eq!(replica.leader_commit_index(), own + 90);
    }

    #[test]
    fn a_proposal_is_answered_committed_once_applied() {
        let mut replica = leader();
        let mut requests = Tracked::new(1, 0);
        let id = requests
            .propose(&mut replica, b"a".to_vec(), "p", 1_000)
            .unwrap();
        assert_eq!(
            id.0 >> PROPOSAL_COUNTER_BITS,
            1,
            "the raft id is in the high bits"
        );
        replica.flush_proposals_now(1_000);
        let fx = settle(&mut replica);
        let applied = fx
            .applied
            .iter()
            .find(|a| a.proposals.contains(&id))
            .expect("the proposal's entry was applied");
        let committed = Committed {
            index: applied.index,
            term: applied.term,
        };
        assert_eq!(requests.last_commit(), None);
        assert_eq!(
            requests.applied(&applied.proposals, committed, 1_250),
            vec![Answer::Proposal("p", Ok(committed))]
        );
        assert_eq!(requests.pending_proposals(), 0);
        assert_eq!(
            requests.last_commit(),
            Some(CommitDelay {
                answered_at_ms: 1_250,
                waited_ms: 250
            })
        );
        // Answered once: a second report of the same entry answers nobody, and dates nothing.
        assert!(
            requests
                .applied(&applied.proposals, committed, 9_000)
                .is_empty()
        );
        assert_eq!(requests.last_commit().unwrap().answered_at_ms, 1_250);
    }

    #[test]
    fn a_previous_runs_entry_answers_none_of_the_next_runs_proposals() {
        let mut replica = leader();
        // The first run proposes, then stops (a crash) before its entry is applied.
        let epoch = 1_700_000_000_000;
        let mut before = Tracked::new(1, epoch);
        let old = requests_propose(&mut before, &mut replica, "old", epoch);
        assert_eq!(
            before.stop(),
            vec![Answer::Proposal("old", Err(ProposalFailed::Stopped))]
        );
        // The next run starts 20 ms later and proposes before the old entry is applied.
        let mut after = Tracked::new(1, epoch + 20);
        let new = requests_propose(&mut after, &mut replica, "new", epoch + 20);
        assert_ne!(old, new, "a restarted node reused a proposal id");
        assert_eq!(
            old.0 >> PROPOSAL_COUNTER_BITS,
            new.0 >> PROPOSAL_COUNTER_BITS
        );
        let committed = Committed { index: 9, term: 2 };
        assert!(after.applied(&[old], committed, epoch + 30).is_empty());
        assert_eq!(
            after.applied(&[new], committed, epoch + 30),
            vec![Answer::Proposal("new", Ok(committed))]
        );
        // Past 2039 the counter's start wraps within its bits, ids keep the raft id.
        let late = u64::MAX >> PROPOSALS_PER_MS_BITS;
        let mut wrapped = Tracked::new(3, late);
        let id = requests_propose(&mut wrapped, &mut replica, "late", 0);
        assert_eq!(id.0 >> PROPOSAL_COUNTER_BITS, 3);
    }

    /// Proposes `payload` through `requests`, which must accept it.
    fn requests_propose(
        requests: &mut Tracked,
        replica: &mut Replica<Counter>,
        reply: &'static str,
        now_ms: u64,
    ) -> ProposalId {
        requests
            .propose(replica, reply.as_bytes().to_vec(), reply, now_ms)
            .unwrap()
    }

    #[test]
    fn answers_come_in_the_order_of_the_requests() {
        let mut replica = leader();
        let mut requests = Tracked::new(1, 0);
        for reply in ["p1", "p2", "p3"] {
            requests_propose(&mut requests, &mut replica, reply, 0);
        }
        for reply in ["r1", "r2", "r3"] {
            requests.read(&mut replica, reply, 0).unwrap();
        }
        let order = |answers: Vec<Answer<&'static str, &'static str>>| -> Vec<&'static str> {
            answers
                .into_iter()
                .map(|a| match a {
                    Answer::Proposal(r, _) | Answer::Read(r, _) => r,
                })
                .collect()
        };
        assert_eq!(
            order(requests.expire(PROPOSAL_TIMEOUT_MS)),
            ["p1", "p2", "p3", "r1", "r2", "r3"]
        );
        for reply in ["r4", "r5"] {
            requests.read(&mut replica, reply, 0).unwrap();
        }
        requests.term_seen(replica.term());
        for reply in ["r6", "r7"] {
            requests.read(&mut replica, reply, 0).unwrap();
        }
        assert_eq!(order(requests.term_seen(replica.term() + 1)), ["r6", "r7"]);
    }

    #[test]
    fn a_proposal_times_out_at_its_deadline_and_not_before() {
        let mut replica = leader();
        let mut requests = Tracked::new(1, 0);
        assert_eq!(requests.oldest_pending_since_ms(), None);
        requests
            .propose(&mut replica, b"a".to_vec(), "p", 1_000)
            .unwrap();
        requests
            .propose(&mut replica, b"b".to_vec(), "q", 1_500)
            .unwrap();
        // The back-pressure rule reads how long the oldest has waited.
        assert_eq!(requests.oldest_pending_since_ms(), Some(1_000));
        assert!(requests.expire(1_000 + PROPOSAL_TIMEOUT_MS - 1).is_empty());
        assert_eq!(requests.pending_proposals(), 2);
        assert_eq!(
            requests.expire(1_000 + PROPOSAL_TIMEOUT_MS),
            vec![Answer::Proposal("p", Err(ProposalFailed::TimedOut))]
        );
        assert_eq!(requests.oldest_pending_since_ms(), Some(1_500));
        assert_eq!(
            requests.expire(1_500 + PROPOSAL_TIMEOUT_MS),
            vec![Answer::Proposal("q", Err(ProposalFailed::TimedOut))]
        );
        assert_eq!(requests.pending_proposals(), 0);
    }

    #[test]
    fn dropped_proposals_are_answered_dropped() {
        let mut replica = leader();
        let mut requests = Tracked::new(1, 0);
        let id = requests
            .propose(&mut replica, b"a".to_vec(), "p", 0)
            .unwrap();
        assert_eq!(
            requests.dropped(&[id, ProposalId(7)]),
            vec![Answer::Proposal("p", Err(ProposalFailed::Dropped))]
        );
    }

    #[test]
    fn a_read_of_a_node_that_cannot_serve_it_is_dropped_at_once() {
        let mut replica = follower();
        assert!(!replica.can_read());
        let mut requests = Tracked::new(1, 0);
        assert_eq!(
            requests.read(&mut replica, "r", 0),
            Err(("r", ProposalFailed::Dropped))
        );
        assert_eq!(requests.pending_reads(), 0);
    }

    #[test]
    fn a_read_is_answered_with_its_read_state() {
        let mut replica = leader();
        let mut requests = Tracked::new(1, 0);
        requests.read(&mut replica, "r", 0).unwrap();
        let fx = settle(&mut replica);
        assert_eq!(fx.read_states.len(), 1);
        assert_eq!(
            requests.read_states(&fx.read_states),
            vec![Answer::Read("r", Ok(replica.commit_index()))]
        );
        assert_eq!(requests.pending_reads(), 0);
    }

    #[test]
    fn reads_in_flight_are_dropped_when_the_term_changes() {
        let mut replica = leader();
        let mut requests = Tracked::new(1, 0);
        // The first term seen drops nothing that was asked in it.
        assert!(requests.term_seen(replica.term()).is_empty());
        requests.read(&mut replica, "r1", 0).unwrap();
        requests.read(&mut replica, "r2", 0).unwrap();
        assert!(requests.term_seen(replica.term()).is_empty());
        assert_eq!(requests.pending_reads(), 2);
        let mut answers = requests.term_seen(replica.term() + 1);
        answers.sort_by_key(|a| match a {
            Answer::Read(r, _) | Answer::Proposal(r, _) => *r,
        });
        assert_eq!(
            answers,
            vec![
                Answer::Read("r1", Err(ProposalFailed::Dropped)),
                Answer::Read("r2", Err(ProposalFailed::Dropped)),
            ]
        );
        assert_eq!(requests.pending_reads(), 0);
    }

    #[test]
    fn a_read_unanswered_for_an_attempt_timeout_is_dropped() {
        let mut replica = leader();
        let mut requests = Tracked::new(1, 0);
        requests.read(&mut replica, "r", 500).unwrap();
        assert!(
            requests
                .expire(500 + READ_ATTEMPT_TIMEOUT_MS - 1)
                .is_empty()
        );
        assert_eq!(
            requests.expire(500 + READ_ATTEMPT_TIMEOUT_MS),
            vec![Answer::Read("r", Err(ProposalFailed::Dropped))]
        );
    }

    #[test]
    fn stopping_answers_everyone_stopped() {
        let mut replica = leader();
        let mut requests = Tracked::new(1, 0);
        requests
            .propose(&mut replica, b"a".to_vec(), "p", 0)
            .unwrap();
        requests.read(&mut replica, "r", 0).unwrap();
        assert_eq!(
            requests.stop(),
            vec![
                Answer::Proposal("p", Err(ProposalFailed::Stopped)),
                Answer::Read("r", Err(ProposalFailed::Stopped)),
            ]
        );
        assert_eq!(
            (requests.pending_proposals(), requests.pending_reads()),
            (0, 0)
        );
    }

    #[test]
    fn read_contexts_are_unique_across_nodes_and_restarts() {
        let mut replica = leader();
        // Another node's context with the same sequence number is not ours.
        assert_ne!(read_context(1, 5), read_context(2, 5));
        assert_eq!(read_sequence(1, &read_context(1, 5)), Some(5));
        assert_eq!(read_sequence(1, &read_context(2, 5)), None);
        assert_eq!(read_sequence(1, b"short"), None);
        // A run started 1 ms after a previous one numbers its reads past all of the previous
        // run's (up to 2^20 reads per ms).
        let epoch = 1_700_000_000_000;
        let mut before = Tracked::new(1, epoch);
        let mut last = 0;
        for _ in 0..100 {
            last = before.read(&mut replica, "old", 0).unwrap();
        }
        let mut after = Tracked::new(1, epoch + 1);
        let first = after.read(&mut replica, "new", 0).unwrap();
        assert!(first > last, "{first} after a restart must exceed {last}");
        // A read state for another node's (or an earlier run's) context answers nobody here.
        let foreign = raft::ReadState {
            index: 9,
            request_ctx: read_context(2, first).to_vec(),
        };
        assert!(after.read_states(&[foreign]).is_empty());
        assert_eq!(after.pending_reads(), 1);
    }

    #[test]
    fn a_dropped_read_is_retried_until_the_read_deadline() {
        let attempts = ReadAttempts::new(100);
        let retry = ReadStep::RetryAfter {
            pause_ms: READ_RETRY_PAUSE_MS,
        };
        assert_eq!(attempts.next(Ok(42), 100), ReadStep::Done(42));
        assert_eq!(attempts.next(Err(ProposalFailed::Dropped), 100), retry);
        assert_eq!(
            attempts.next(
                Err(ProposalFailed::Dropped),
                100 + READ_INDEX_TIMEOUT_MS - 1
            ),
            retry
        );
        assert_eq!(
            attempts.next(Err(ProposalFailed::Dropped), 100 + READ_INDEX_TIMEOUT_MS),
            ReadStep::Fail(ProposalFailed::TimedOut)
        );
        // Anything but a drop ends the attempts with that error.
        assert_eq!(
            attempts.next(Err(ProposalFailed::Stopped), 100),
            ReadStep::Fail(ProposalFailed::Stopped)
        );
    }
}
