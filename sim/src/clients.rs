//! The simulated clients: proposals (the machine's requests), linearizable reads through
//! ReadIndex, and membership changes (Raft conf changes for the hash chain; signed governance
//! transactions for the ledger, whose node set then drives Raft).
//!
//! Proposals and reads go through each replica's request layer,
//! [`Requests`](replication::runtime::requests::Requests), as the tokio driver's clients' do:
//! the layer hands out proposal ids and read contexts and answers each request (plain ids as
//! tokens here, oneshot senders there); the runner feeds it what the driver feeds it (applied
//! entries, dropped proposals, read states, the term after each round of Readies, `expire` at
//! every tick, `stop` at a crash), and the answers are delivered here ([`Simulation::deliver`]).
//!
//! What a client does with an answer is what the production caller does: a transaction is
//! acknowledged when its proposal is answered `Committed` (the outcome the applied block
//! recorded for it, as `ledger::client` reads it back); a read runs
//! [`runtime::read_index`](replication::runtime::read_index)'s loop on one replica: asked,
//! answered `Dropped` and asked again after a pause per
//! [`ReadAttempts`](replication::runtime::requests::ReadAttempts), given its read point, then
//! served once that replica has applied it, or failed (`Stopped` when its replica crashes,
//! `TimedOut` when attempts or the wait for apply run out). Proposals answered with an error are
//! not proposed again (the ledger client's retry is not modelled).

use raft::eraftpb::ConfChangeType;
use replication::batch::{Batch, ProposalId};
use replication::replica::conf_change;
use replication::runtime::requests::{
    Answer, PROPOSAL_TIMEOUT_MS, READ_ATTEMPT_TIMEOUT_MS, READ_INDEX_TIMEOUT_MS, ReadAttempts,
    ReadOutcome, ReadStep,
};
use replication::state_machine::{LogIndex, sha256};
use replication::storage::conf_state_contains;

use crate::checkers::acknowledged::Ack;
use crate::checkers::answered::committed_own_entry;
use crate::machines::{MembershipRequest, SimMachine, TxId};
use crate::runner::{SimFailure, Simulation};

/// Client payloads proposed per run: small, to keep 500 seeds fast in a debug build.
const PROPOSALS_MAX: u64 = 60;
/// Reads begun per run: enough to overlap acknowledgements, crashes and elections.
const READS_MAX: u64 = 16;
/// A membership change not reflected by the leader's state after this long is asked again.
const MEMBERSHIP_RETRY_MS: u64 = 300;
/// A removal the ledger refuses (it would leave too few voters) is asked at most this often.
const REMOVE_ATTEMPTS_MAX: u64 = 3;

/// A client proposal waiting for its answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientProposal {
    /// The id the request layer gave it.
    pub(crate) id: Option<ProposalId>,
    /// SHA-256 of its payload: a `Committed` answer must name an entry holding it.
    pub(crate) payload_hash: [u8; 32],
}

/// A client read still asking for its read point, on one replica (its caller's node).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientRead {
    /// The replica asked (index into the nodes).
    pub(crate) node: usize,
    /// Its incarnation when the read began: the caller holds that driver's channel, which a
    /// crash closes for good.
    pub(crate) incarnation: u64,
    /// Its attempts, on the replicas' clock.
    pub(crate) attempts: ReadAttempts,
    /// When to ask again (the replicas' clock), after a `Dropped` answer.
    pub(crate) retry_at_ms: Option<u64>,
}

/// Where an applied entry's `Committed` answers look up what the block recorded.
pub(crate) struct AppliedOutcomes<'a> {
    /// The proposals of the entry, in order.
    pub(crate) proposals: &'a [ProposalId],
    /// For each, the transaction it committed, if the machine recorded it as taking effect.
    pub(crate) outcomes: &'a [Option<TxId>],
}

impl<M: SimMachine> Simulation<M> {
    fn next_token(&mut self) -> u64 {
        self.tokens += 1;
        self.tokens
    }

    /// A client proposes `payload` at node `i`, through its request layer. At a crashed node
    /// it goes nowhere (the driver's channel is closed: its client is told `Stopped` at once).
    fn propose_at(&mut self, i: usize, payload: Vec<u8>) -> Result<(), SimFailure> {
        self.proposals += 1;
        let now = self.replica_now_ms();
        let token = self.next_token();
        let node = &mut self.nodes[i];
        let Some(replica) = node.replica.as_mut() else {
            self.report.proposals_failed += 1;
            return Ok(());
        };
        self.checkers
            .answered
            .asked(token, node.id, node.incarnation, now + PROPOSAL_TIMEOUT_MS);
        let payload_hash = sha256(&payload);
        let proposed = node.requests.propose(replica, payload, token, now);
        self.client_proposals.insert(
            token,
            ClientProposal {
                id: proposed.as_ref().ok().copied(),
                payload_hash,
            },
        );
        match proposed {
            Ok(_) => Ok(()),
            Err((token, why)) => self.deliver(i, vec![Answer::Proposal(token, Err(why))], None),
        }
    }

    /// Client requests and reads, during the chaos phase.
    pub(crate) fn client_load(&mut self) -> Result<(), SimFailure> {
        let n = self.nodes.len() as u64;
        if self.proposals < PROPOSALS_MAX && self.rng.chance(300) {
            let i = self.rng.below(n) as usize;
            let count = self.rng.range(1, 3);
            for _ in 0..count {
                let payload = M::client_request(&mut self.world, &mut self.rng, self.proposals + 1);
                self.propose_at(i, payload)?;
            }
        }
        if self.checkers.reads.started() < READS_MAX && self.rng.chance(40) {
            let acks = self.checkers.acknowledged.acks().len();
            let id = self.checkers.reads.start(self.now_ms, acks);
            let node = self.rng.below(n) as usize;
            let attempts = ReadAttempts::new(self.replica_now_ms());
            self.client_reads.insert(
                id,
                ClientRead {
                    node,
                    incarnation: self.nodes[node].incarnation,
                    attempts,
                    retry_at_ms: None,
                },
            );
            self.ask_read(id)?;
        }
        Ok(())
    }

    /// Asks read `id`'s replica for a read point, through its request layer. A replica that
    /// crashed since the read began fails it at once (`Stopped`: the driver's channel is
    /// closed), even restarted.
    fn ask_read(&mut self, id: u64) -> Result<(), SimFailure> {
        let Some(read) = self.client_reads.get_mut(&id) else {
            return Ok(());
        };
        read.retry_at_ms = None;
        let (i, incarnation) = (read.node, read.incarnation);
        let now = self.replica_now_ms();
        let token = self.next_token();
        let node = &mut self.nodes[i];
        let live = node.incarnation == incarnation;
        let Some(replica) = node.replica.as_mut().filter(|_| live) else {
            self.client_reads.remove(&id);
            self.checkers.reads.failed(id);
            return Ok(());
        };
        self.checkers.answered.asked(
            token,
            node.id,
            node.incarnation,
            now + READ_ATTEMPT_TIMEOUT_MS,
        );
        self.read_tokens.insert(token, (id, node.incarnation));
        match node.requests.read(replica, token, now) {
            Ok(_) => Ok(()),
            Err((token, why)) => self.deliver(i, vec![Answer::Read(token, Err(why))], None),
        }
    }

    /// Asks again the reads whose pause after a `Dropped` answer is over, and fails the reads
    /// whose replica has not applied their read point within [`READ_INDEX_TIMEOUT_MS`] (the
    /// production caller's wait for apply).
    pub(crate) fn retry_reads(&mut self) -> Result<(), SimFailure> {
        let now = self.replica_now_ms();
        let due: Vec<u64> = self
            .client_reads
            .iter()
            .filter(|(_, r)| r.retry_at_ms.is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.ask_read(id)?;
        }
        if let Some(before) = self.now_ms.checked_sub(READ_INDEX_TIMEOUT_MS) {
            self.checkers.reads.waited_out(before);
        }
        Ok(())
    }

    /// Delivers the answers node `i`'s request layer gave to the clients waiting for them, as
    /// the driver's `deliver` does; `applied` is the entry whose application answered them,
    /// if one did.
    pub(crate) fn deliver(
        &mut self,
        i: usize,
        answers: Vec<Answer<u64, u64>>,
        applied: Option<AppliedOutcomes<'_>>,
    ) -> Result<(), SimFailure> {
        for answer in answers {
            self.report.requests_answered += 1;
            match answer {
                Answer::Proposal(token, outcome) => {
                    self.trace(&[8, self.now_ms, token, u64::from(outcome.is_ok())]);
                    self.checkers
                        .answered
                        .answered(token)
                        .map_err(|v| self.violated(v))?;
                    let proposal = self.client_proposals.remove(&token);
                    match outcome {
                        Ok(committed) => {
                            let Some(proposal) = proposal else {
                                return Err(self.fail(
                                    "answered_once",
                                    format!("proposal {token} answered with no client waiting"),
                                ));
                            };
                            self.committed(i, proposal, committed.index, applied.as_ref())?;
                        }
                        Err(_) => self.report.proposals_failed += 1,
                    }
                }
                Answer::Read(token, outcome) => {
                    self.trace(&[9, self.now_ms, token, u64::from(outcome.is_ok())]);
                    self.checkers
                        .answered
                        .answered(token)
                        .map_err(|v| self.violated(v))?;
                    self.read_answered(i, token, outcome)?;
                }
            }
        }
        Ok(())
    }

    /// A proposal answered `Committed` at `index` by node `i`: the entry there holds its
    /// payload under its id, and the transaction the block recorded for it, if it took effect,
    /// is acknowledged to its client.
    fn committed(
        &mut self,
        i: usize,
        proposal: ClientProposal,
        index: LogIndex,
        applied: Option<&AppliedOutcomes<'_>>,
    ) -> Result<(), SimFailure> {
        let node = &self.nodes[i];
        let replica = node.replica.as_ref().expect("answered by a live replica");
        let core = replica.store().core();
        let held = index
            .checked_sub(core.first_index())
            .and_then(|k| core.entries.get(k as usize))
            .and_then(|e| Batch::decode(&e.data).ok())
            .and_then(|batch| {
                let p = batch.proposals.iter().find(|p| Some(p.id) == proposal.id)?;
                Some(sha256(&p.payload))
            });
        committed_own_entry(node.id, index, proposal.payload_hash, held)
            .map_err(|v| self.violated(v))?;
        let tx = applied.and_then(|a| {
            let k = a.proposals.iter().position(|p| Some(*p) == proposal.id)?;
            *a.outcomes.get(k)?
        });
        if let Some(tx) = tx {
            self.report.acknowledged += 1;
            self.checkers.acknowledged.acknowledge(Ack {
                id: tx,
                index,
                node: node.id,
                at_ms: self.now_ms,
            });
        }
        Ok(())
    }

    /// A read request answered by node `i`: the client's next step, per [`ReadAttempts`].
    fn read_answered(
        &mut self,
        i: usize,
        token: u64,
        outcome: ReadOutcome,
    ) -> Result<(), SimFailure> {
        let Some((id, incarnation)) = self.read_tokens.remove(&token) else {
            return Err(self.fail(
                "answered_once",
                format!("read request {token} answered with no client waiting"),
            ));
        };
        let now = self.replica_now_ms();
        let Some(read) = self.client_reads.get_mut(&id) else {
            return Ok(());
        };
        match read.attempts.next(outcome, now) {
            ReadStep::Done(index) => {
                self.client_reads.remove(&id);
                let node = self.nodes[i].id;
                self.checkers
                    .reads
                    .read_point(id, node, incarnation, index, self.now_ms)
                    .map_err(|v| self.violated(v))?;
            }
            ReadStep::RetryAfter { pause_ms } => {
                read.retry_at_ms = Some(now + pause_ms);
                self.report.reads_retried += 1;
            }
            ReadStep::Fail(_) => {
                self.client_reads.remove(&id);
                self.checkers.reads.failed(id);
            }
        }
        Ok(())
    }

    /// Adds the joiner as a learner, then maybe promotes it; for machines that govern
    /// membership, maybe removes a founder. Through the leader.
    pub(crate) fn membership(&mut self) -> Result<(), SimFailure> {
        let due =
            self.now_ms >= self.join_at_ms || self.remove.is_some_and(|(_, at)| at <= self.now_ms);
        if !due {
            return Ok(());
        }
        let Some(l) = self.leader_index() else {
            return Ok(());
        };
        if M::GOVERNS_MEMBERSHIP {
            return self.govern_membership(l);
        }
        if !self.config.joiner || self.now_ms < self.join_at_ms {
            return Ok(());
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
            return Ok(());
        };
        // A dropped or superseded proposal is simply retried at the next attempt.
        let _ = leader.propose_conf_change(conf_change(change, joiner));
        self.join_at_ms = self.now_ms + MEMBERSHIP_RETRY_MS;
        Ok(())
    }

    /// The next membership change the run wants and the leader's state does not show yet,
    /// as a signed governance transaction to the leader.
    fn govern_membership(&mut self, l: usize) -> Result<(), SimFailure> {
        let leader = self.nodes[l].replica.as_ref().expect("live");
        let Some(want) = leader.state_machine().membership() else {
            return Ok(());
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
                return Ok(());
            }
            self.remove_attempts += 1;
            MembershipRequest::Remove(node)
        } else {
            return Ok(());
        };
        if let Some(payload) = M::membership_request(&mut self.world, request) {
            self.propose_at(l, payload)?;
        }
        let retry_at = self.now_ms + MEMBERSHIP_RETRY_MS;
        self.join_at_ms = self.join_at_ms.max(retry_at);
        if let Some((_, at)) = self.remove.as_mut() {
            *at = (*at).max(retry_at);
        }
        Ok(())
    }
}
