//! The simulated clients: proposals (the machine's requests), linearizable reads through
//! ReadIndex, and membership changes (Raft conf changes for the hash chain; signed governance
//! transactions for the ledger, whose node set then drives Raft).
//!
//! Reads use [`Replica::read_index`](replication::replica::Replica::read_index) directly: the
//! replication crate's sans-IO request layer (`runtime/requests.rs`) had not landed when this
//! was written. A client asks one replica for a read point, serves the read once that replica
//! has applied that far, and asks again (another replica) if no read point comes within
//! [`READ_RETRY_MS`], as raft-rs drops a read silently when no leader is known.

use raft::eraftpb::ConfChangeType;
use replication::batch::ProposalId;
use replication::replica::conf_change;
use replication::storage::conf_state_contains;

use crate::machines::{MembershipRequest, SimMachine};
use crate::runner::Simulation;

/// Client payloads proposed per run: small, to keep 500 seeds fast in a debug build.
const PROPOSALS_MAX: u64 = 60;
/// Reads begun per run: enough to overlap acknowledgements, crashes and elections.
const READS_MAX: u64 = 16;
/// A read not served after this long is asked again (a client's timeout).
const READ_RETRY_MS: u64 = 300;
/// A membership change not reflected by the leader's state after this long is asked again.
const MEMBERSHIP_RETRY_MS: u64 = 300;
/// A removal the ledger refuses (it would leave too few voters) is asked at most this often.
const REMOVE_ATTEMPTS_MAX: u64 = 3;

impl<M: SimMachine> Simulation<M> {
    /// Proposes `payload` at node `i` (if it is up) and waits on it.
    fn propose_at(&mut self, i: usize, payload: Vec<u8>) {
        self.proposals += 1;
        let id = ProposalId(self.proposals);
        let now = self.replica_now_ms();
        let node = &mut self.nodes[i];
        if let Some(r) = node.replica.as_mut() {
            // Refusals (stopped replica, oversized payload) cannot happen here.
            if r.propose(id, payload, now).is_ok() {
                self.pending.insert(id, (node.id, node.incarnation));
            }
        }
    }

    /// Client requests and reads, during the chaos phase.
    pub(crate) fn client_load(&mut self) {
        let n = self.nodes.len() as u64;
        if self.proposals < PROPOSALS_MAX && self.rng.chance(300) {
            let i = self.rng.below(n) as usize;
            let count = self.rng.range(1, 3);
            for _ in 0..count {
                let payload = M::client_request(&mut self.world, &mut self.rng, self.proposals + 1);
                self.propose_at(i, payload);
            }
        }
        if self.checkers.reads.started() < READS_MAX && self.rng.chance(40) {
            let acks = self.checkers.acknowledged.acks().len();
            let id = self.checkers.reads.start(self.now_ms, acks);
            self.ask_read(id);
        }
    }

    /// Asks a random replica for read `id`'s read point.
    fn ask_read(&mut self, id: u64) {
        let i = self.rng.below(self.nodes.len() as u64) as usize;
        if let Some(r) = self.nodes[i].replica.as_mut() {
            // Dropped silently by raft-rs without a known leader: the retry covers it.
            let _ = r.read_index(id.to_le_bytes().to_vec());
        }
        self.checkers.reads.asked(id, self.now_ms);
    }

    /// Asks again every read not served within [`READ_RETRY_MS`].
    pub(crate) fn retry_reads(&mut self) {
        let before = self.now_ms.saturating_sub(READ_RETRY_MS);
        for id in self.checkers.reads.unanswered(before) {
            self.report.reads_retried += 1;
            self.ask_read(id);
        }
    }

    /// Adds the joiner as a learner, then maybe promotes it; for machines that govern
    /// membership, maybe removes a founder. Through the leader.
    pub(crate) fn membership(&mut self) {
        let due =
            self.now_ms >= self.join_at_ms || self.remove.is_some_and(|(_, at)| at <= self.now_ms);
        if !due {
            return;
        }
        let Some(l) = self.leader_index() else {
            return;
        };
        if M::GOVERNS_MEMBERSHIP {
            self.govern_membership(l);
            return;
        }
        if !self.config.joiner || self.now_ms < self.join_at_ms {
            return;
        }
        let joiner = self.config.replicas + 1;
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
        self.join_at_ms = self.now_ms + MEMBERSHIP_RETRY_MS;
    }

    /// The next membership change the run wants and the leader's state does not show yet,
    /// as a signed governance transaction to the leader.
    fn govern_membership(&mut self, l: usize) {
        let leader = self.nodes[l].replica.as_ref().expect("live");
        let Some(want) = leader.state_machine().membership() else {
            return;
        };
        let present = |id: u64| want.voters.contains(&id) || want.learners.contains(&id);
        let joiner = self.config.replicas + 1;
        let joining = self.config.joiner && self.now_ms >= self.join_at_ms;
        let request = if joining && !present(joiner) {
            MembershipRequest::Add(joiner)
        } else if joining
            && self.promote_at_ms.is_some_and(|t| t <= self.now_ms)
            && !want.voters.contains(&joiner)
        {
            MembershipRequest::Promote(joiner)
        } else if let Some((node, _)) = self
            .remove
            .filter(|(node, at)| *at <= self.now_ms && present(*node))
        {
            if self.remove_attempts >= REMOVE_ATTEMPTS_MAX {
                return;
            }
            self.remove_attempts += 1;
            MembershipRequest::Remove(node)
        } else {
            return;
        };
        if let Some(payload) = M::membership_request(&mut self.world, request) {
            self.propose_at(l, payload);
        }
        let retry_at = self.now_ms + MEMBERSHIP_RETRY_MS;
        self.join_at_ms = self.join_at_ms.max(retry_at);
        if let Some((_, at)) = self.remove.as_mut() {
            *at = (*at).max(retry_at);
        }
    }
}
