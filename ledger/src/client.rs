//! The write path from a client's signed transaction to its outcome in a block, and the
//! linearizable read, as one node offers them to its API.
//!
//! ```text
//! submit(envelope)
//!   -> committed before?           yes: the original outcome, nothing proposed
//!   -> admission                   apply lagging its commit, or the proposal queue full:
//!                                  `Overloaded` at once, with a retry hint (back-pressure)
//!   -> precheck on current state   refused: checked again after catching up with the leader
//!                                  (ReadIndex); still refused: answered, nothing proposed;
//!                                  no leader to catch up with: unavailable, nothing proposed
//!   -> propose (batched, Raft)     dropped (no leader yet), or no outcome within the runtime's
//!                                  10 s (a forwarded proposal lost): proposed again until the
//!                                  deadline
//!   -> applied on this node        the outcome recorded in the block, read back
//! ```
//!
//! The precheck is advice, not the decision: every node decides again when it applies the
//! block, at the block's time, against the state the block sees. What a client gets back is
//! always what the block recorded (or, for an early refusal, what the precheck found), never a
//! guess.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use crate::reader::LedgerReader;
use crate::trust::Envelope;
use crate::{ChainError, Hash32, Outcome, TxLocation, validate};
use replication::runtime::{self, ClientProposal, ProposalFailed, ReadRequest, ReplicaStatus};
use replication::state_machine::LogIndex;

/// How long [`LedgerClient::submit`] keeps trying to get a transaction committed. Covers an
/// election (1-2 s) and a proposal's own timeout; a client then checks the transaction by hash
/// before signing a new one.
pub const SUBMIT_WAIT_MS: u64 = 15_000;

/// Pause before proposing again a transaction raft dropped (no leader known yet).
const RETRY_PAUSE_MS: u64 = 100;

/// Most committed entries a node may have left to apply and still take new submissions (and
/// be ready, `/readyz`), counting the ones a follower whose log lags the leader's has not
/// received yet (`ReplicaStatus::apply_lag`: counted against the follower's own commit index
/// only, which is never past its last entry, such a follower looked current). A node further
/// behind (a follower catching up, a disk slower than its peers') would only make a new
/// transaction wait behind all of them, past the client's timeout: it refuses at once instead,
/// and the client tries another node or again later. An entry is a batch of up to
/// `replication::batch::BATCH_PAYLOADS_MAX` transactions, so 256 is seconds of work on this
/// machine, far more than a healthy node ever lags (a few entries).
pub const APPLY_LAG_ENTRIES_MAX: u64 = 256;

/// Most committed entries the network's slowest live voter may have left to apply for any node
/// to take a new submission (`ReplicaStatus::cluster_apply_lag`, `replication::replica::flow`).
/// The leader commits with the fastest majority, so without it a voter that applies more slowly
/// than the others commit falls behind for as long as the load lasts (at a million documents
/// on this 2-core machine, 700 entries in four minutes, its clients refused throughout:
/// BENCHMARKS.md). Half of [`APPLY_LAG_ENTRIES_MAX`], so that the network holds back before the
/// slow node's own bound refuses its clients; the same as the bound within which a voter counts
/// as in step (`replication::replica::IN_SYNC_LAG_ENTRIES`: a node back from an outage catches
/// up without holding the others back).
pub const CLUSTER_APPLY_LAG_ENTRIES_MAX: u64 = replication::replica::IN_SYNC_LAG_ENTRIES;
const _: () = assert!(CLUSTER_APPLY_LAG_ENTRIES_MAX == APPLY_LAG_ENTRIES_MAX / 2);

/// Longest the oldest proposal waiting on this node may have waited for a new submission to be
/// taken: a third of [`SUBMIT_WAIT_MS`]. A node whose queue is that far behind is saturated, and
/// a transaction taken now would wait behind all of it, past the client's deadline; refused at
/// once, it is retried later or elsewhere. Measured in time, not in entries, so the bound holds
/// whatever a node's speed.
pub const QUEUE_WAIT_MAX_MS: u64 = SUBMIT_WAIT_MS / 3;

/// How long a commit of this node's that waited more than [`QUEUE_WAIT_MAX_MS`] keeps it
/// refusing new submissions (`ReplicaStatus::last_commit`). After that the slow answer says
/// nothing more (the node has answered nothing since: it is idle, or refused everything), and
/// the next submission is taken, as a probe of whether the node has caught up.
pub const SLOW_COMMIT_REFUSES_MS: u64 = 2_000;

/// The retry hint of a refusal for a full proposal queue: the replica drains a batch per
/// durable write (milliseconds), so soon.
pub const RETRY_AFTER_QUEUE_FULL_MS: u64 = 100;

/// The retry hint of a refusal for an apply lag: catching up takes longer than a queue drains.
pub const RETRY_AFTER_APPLY_LAG_MS: u64 = 500;

/// Whether a node takes a new submission now: the back-pressure rule, a pure function of the
/// replica's status and the free places of its proposal channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Take it.
    Admit,
    /// Refuse it at once: nothing is proposed.
    Refuse {
        /// Which bound is passed, for people.
        reason: String,
        /// When a retry may succeed.
        retry_after_ms: u64,
    },
}

/// The back-pressure rule (module docs): refuse when the proposal channel has no free place,
/// when the replica already has [`runtime::PENDING_PROPOSALS_MAX`] proposals waiting, when the
/// oldest of them has waited more than [`QUEUE_WAIT_MAX_MS`] at `now_ms` (the Unix time in ms,
/// the runtime's clock on a node), when this node's last answered proposals had waited more
/// than that, at most [`SLOW_COMMIT_REFUSES_MS`] ago, when this node has more than
/// [`APPLY_LAG_ENTRIES_MAX`] committed entries left to apply, or when the network's slowest
/// live voter has more than [`CLUSTER_APPLY_LAG_ENTRIES_MAX`].
///
/// The slow-commit rule closes a gap the other two leave. A follower whose log trails the
/// leader's by hundreds of entries cannot count them (it has not received them), and between
/// two waves of its clients' requests nothing of its own is waiting: it looked current and took
/// the next wave, which then waited behind the whole lag, past [`SUBMIT_WAIT_MS`]
/// (BENCHMARKS.md, the million run: a follower 700 entries, 20 s, behind the leader with an
/// apply lag of 0). Its own proposals coming back late is what it can see.
pub fn admission(status: &ReplicaStatus, channel_free: usize, now_ms: u64) -> Admission {
    if channel_free == 0 {
        return Admission::Refuse {
            reason: "the proposal queue is full".into(),
            retry_after_ms: RETRY_AFTER_QUEUE_FULL_MS,
        };
    }
    if status.proposals_pending >= runtime::PENDING_PROPOSALS_MAX {
        return Admission::Refuse {
            reason: format!(
                "{} proposals already wait for their outcome (at most {})",
                status.proposals_pending,
                runtime::PENDING_PROPOSALS_MAX
            ),
            retry_after_ms: RETRY_AFTER_QUEUE_FULL_MS,
        };
    }
    if let Some(since) = status.oldest_proposal_since_ms {
        let waited = now_ms.saturating_sub(since);
        if waited > QUEUE_WAIT_MAX_MS {
            return Admission::Refuse {
                reason: format!(
                    "the oldest of {} proposals has waited {waited} ms for its outcome (at most {QUEUE_WAIT_MAX_MS})",
                    status.proposals_pending
                ),
                retry_after_ms: RETRY_AFTER_APPLY_LAG_MS,
            };
        }
    }
    if let Some(last) = status.last_commit {
        let since = now_ms.saturating_sub(last.answered_at_ms);
        if last.waited_ms > QUEUE_WAIT_MAX_MS && since <= SLOW_COMMIT_REFUSES_MS {
            return Admission::Refuse {
                reason: format!(
                    "this node's last transactions waited {} ms from proposal to apply (at most {QUEUE_WAIT_MAX_MS}): it is behind its network",
                    last.waited_ms
                ),
                retry_after_ms: RETRY_AFTER_APPLY_LAG_MS,
            };
        }
    }
    let lag = status.apply_lag();
    if lag > APPLY_LAG_ENTRIES_MAX {
        return Admission::Refuse {
            reason: format!(
                "this node has {lag} committed entries left to apply (at most {APPLY_LAG_ENTRIES_MAX})"
            ),
            retry_after_ms: RETRY_AFTER_APPLY_LAG_MS,
        };
    }
    if status.cluster_apply_lag > CLUSTER_APPLY_LAG_ENTRIES_MAX {
        return Admission::Refuse {
            reason: format!(
                "the network's slowest node has {} committed entries left to apply (at most \
                 {CLUSTER_APPLY_LAG_ENTRIES_MAX}); new work waits until it catches up",
                status.cluster_apply_lag
            ),
            retry_after_ms: RETRY_AFTER_APPLY_LAG_MS,
        };
    }
    Admission::Admit
}

/// What became of a submitted transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The transaction hash (SHA-256 of the JWS signing input).
    pub tx_hash: Hash32,
    /// Where the block recorded it; `None` for a refusal found before proposing.
    pub location: Option<TxLocation>,
    /// The block's time, if it reached a block.
    pub time_ms: Option<u64>,
    /// Committed (with the documents it changed) or refused (with the rule).
    pub outcome: Outcome,
}

/// Why a submission has no outcome. Only `Unknown` leaves the fate of the transaction open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The node cannot take transactions now (stopping, overloaded, or no leader in time).
    /// Nothing was committed.
    #[error("node unavailable: {0}")]
    Unavailable(String),
    /// Proposed, but no outcome within [`SUBMIT_WAIT_MS`]: it may still commit. Look it up by
    /// hash before signing it again (resubmitting the same bytes is always safe).
    #[error("no outcome for {tx_hash} within {SUBMIT_WAIT_MS} ms; it may still commit")]
    Unknown {
        /// The transaction.
        tx_hash: Hash32,
    },
    /// Back-pressure ([`admission`]): the node is over one of its bounds and refused the
    /// transaction at once. Nothing was proposed; try again after `retry_after_ms`, or on
    /// another node.
    #[error("node overloaded: {reason}; retry after {retry_after_ms} ms")]
    Overloaded {
        /// Which bound.
        reason: String,
        /// When a retry may succeed.
        retry_after_ms: u64,
    },
    /// The node's state store failed.
    #[error("state store: {0}")]
    Storage(String),
}

/// Why a linearizable read could not be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no linearizable read point: {0}")]
pub struct ReadError(pub String);

/// One node's client side: reads through a [`LedgerReader`], writes through the replica's
/// runtime. Cheap to clone; one per API server.
#[derive(Debug, Clone)]
pub struct LedgerClient {
    reader: LedgerReader,
    proposals: mpsc::Sender<ClientProposal>,
    reads: mpsc::Sender<ReadRequest>,
    status: watch::Receiver<ReplicaStatus>,
}

impl LedgerClient {
    /// A client of the replica whose runtime handle gave `proposals`, `reads` and `status`,
    /// applying to the state `reader` views.
    pub fn new(
        reader: LedgerReader,
        proposals: mpsc::Sender<ClientProposal>,
        reads: mpsc::Sender<ReadRequest>,
        status: watch::Receiver<ReplicaStatus>,
    ) -> LedgerClient {
        LedgerClient {
            reader,
            proposals,
            reads,
            status,
        }
    }

    /// The state, for reads.
    pub fn reader(&self) -> &LedgerReader {
        &self.reader
    }

    /// The replica as of its last wake-up.
    pub fn status(&self) -> ReplicaStatus {
        self.status.borrow().clone()
    }

    /// Waits until this node has applied every write committed before the call (Raft
    /// ReadIndex), so that a read of [`LedgerClient::reader`] afterwards is linearizable.
    pub async fn linearizable(&self) -> Result<LogIndex, ReadError> {
        runtime::read_index(&self.reads, &self.status)
            .await
            .map_err(|e| ReadError(e.to_string()))
    }

    /// Submits one signed transaction and waits for its outcome (module docs). `now_ms` is this
    /// node's clock, for the precheck; the block's time is its proposer's.
    pub async fn submit(&self, envelope: Vec<u8>, now_ms: u64) -> Result<Submitted, SubmitError> {
        let tx_hash = Envelope::parse(&envelope).tx_hash;
        if let Some(done) = self.recorded(&tx_hash, true)? {
            return Ok(done);
        }
        self.admit(now_ms)?;
        let precheck = self.reader.precheck(&envelope, now_ms).map_err(storage)?;
        match precheck {
            Outcome::Refused { ref code, .. } if code == validate::DUPLICATE => {
                // Committed between the lookup above and the precheck.
                if let Some(done) = self.recorded(&tx_hash, true)? {
                    return Ok(done);
                }
            }
            Outcome::Refused { ref code, .. }
                if validate::STATELESS_REFUSALS.contains(&code.as_str()) =>
            {
                // No state could change it: answered at once, without a ReadIndex.
                tracing::info!(tx = %tx_hash, code = %code, "refused a submitted transaction at precheck; nothing proposed");
                return Ok(Submitted {
                    tx_hash,
                    location: None,
                    time_ms: None,
                    outcome: precheck,
                });
            }
            Outcome::Refused { .. } => {
                // This node may lag the leader by a block: a client that just saw a transaction
                // committed elsewhere (the issue of the document it now acts on) must not get a
                // refusal from state older than that. Catch up to every committed write
                // (ReadIndex) and check again. Without a leader (this node cut off from the
                // majority) it cannot tell whether its state is current, so it does not refuse:
                // scripts/cluster-test caught a partitioned node answering DOCUMENT_NOT_FOUND
                // for a bill whose issue the majority had acknowledged. Nothing was proposed.
                let precheck = match self.linearizable().await {
                    Ok(_) => self.reader.precheck(&envelope, now_ms).map_err(storage)?,
                    Err(e) => {
                        return Err(SubmitError::Unavailable(format!(
                            "this node's state refuses the transaction, but with no leader to \
                             confirm that state is current the refusal could be stale ({e}); \
                             try again, or another node"
                        )));
                    }
                };
                if let Outcome::Refused {
                    ref code,
                    ref message,
                    ..
                } = precheck
                {
                    if code != validate::DUPLICATE {
                        // One line per refusal, naming the transaction by hash: the envelope
                        // itself (a signed document, possibly large) stays out of the log.
                        tracing::info!(tx = %tx_hash, code = %code, reason = %message, "refused a submitted transaction at precheck; nothing proposed");
                        return Ok(Submitted {
                            tx_hash,
                            location: None,
                            time_ms: None,
                            outcome: precheck,
                        });
                    }
                    // Committed meanwhile, as above.
                    if let Some(done) = self.recorded(&tx_hash, true)? {
                        return Ok(done);
                    }
                }
            }
            Outcome::Committed { .. } => {}
        }
        self.propose_until_applied(tx_hash, envelope).await?;
        self.recorded(&tx_hash, false)?.ok_or_else(|| {
            SubmitError::Storage(format!(
                "transaction {tx_hash} was applied but has no record"
            ))
        })
    }

    /// [`admission`] of a new submission now, as an error when refused. [`submit`](Self::submit)
    /// asks it for every envelope; a caller with many envelopes asks it once first, so that an
    /// overloaded node refuses the lot before parsing any of them (under four times the peak
    /// load, parsing the envelopes of requests that were then refused was a large part of the
    /// nodes' CPU: BENCHMARKS.md).
    pub fn admit(&self, now_ms: u64) -> Result<(), SubmitError> {
        match admission(&self.status.borrow(), self.proposals.capacity(), now_ms) {
            Admission::Admit => Ok(()),
            Admission::Refuse {
                reason,
                retry_after_ms,
            } => Err(SubmitError::Overloaded {
                reason,
                retry_after_ms,
            }),
        }
    }

    /// The block's record of `tx_hash`; with `committed_only`, only a committed one (a refused
    /// transaction may be resubmitted once the state allows it).
    fn recorded(
        &self,
        tx_hash: &Hash32,
        committed_only: bool,
    ) -> Result<Option<Submitted>, SubmitError> {
        let Some(record) = self.reader.transaction(tx_hash).map_err(storage)? else {
            return Ok(None);
        };
        if committed_only && !record.outcome.is_committed() {
            return Ok(None);
        }
        Ok(Some(Submitted {
            tx_hash: *tx_hash,
            location: Some(record.location),
            time_ms: Some(record.time_ms),
            outcome: record.outcome,
        }))
    }

    async fn propose_until_applied(
        &self,
        tx_hash: Hash32,
        envelope: Vec<u8>,
    ) -> Result<(), SubmitError> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(SUBMIT_WAIT_MS);
        loop {
            let (reply, outcome) = oneshot::channel();
            let proposal = ClientProposal {
                payload: envelope.clone(),
                reply,
            };
            // Never waits for a place: a full queue is answered at once (back-pressure).
            match self.proposals.try_send(proposal) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    return Err(SubmitError::Overloaded {
                        reason: "the proposal queue is full".into(),
                        retry_after_ms: RETRY_AFTER_QUEUE_FULL_MS,
                    });
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    return Err(SubmitError::Unavailable("the replica stopped".into()));
                }
            }
            let answer = match tokio::time::timeout_at(deadline, outcome).await {
                Err(_) => {
                    tracing::info!(tx = %tx_hash, last_commit = ?self.status.borrow().last_commit, "no outcome for a proposed transaction within the submission deadline; the client is told to ask again");
                    return Err(SubmitError::Unknown { tx_hash });
                }
                Ok(Err(_)) => return Err(SubmitError::Unavailable("the replica stopped".into())),
                Ok(Ok(answer)) => answer,
            };
            match answer {
                Ok(_committed) => return Ok(()),
                Err(ProposalFailed::Dropped) => {
                    // Never committed: safe to propose again once a leader is known.
                    if tokio::time::Instant::now() + Duration::from_millis(RETRY_PAUSE_MS)
                        >= deadline
                    {
                        tracing::info!(tx = %tx_hash, "a proposed transaction was dropped (no leader) until the submission deadline");
                        return Err(SubmitError::Unavailable(
                            "no leader within the submission deadline".into(),
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(RETRY_PAUSE_MS)).await;
                }
                Err(ProposalFailed::TimedOut) => {
                    // It may commit later; it may also have committed through another path
                    // (a duplicate submission): the record says. Without one, and with time
                    // left, it is proposed again: a proposal a follower forwards can be lost
                    // without a word (the leader drops it when its uncommitted entries are over
                    // their bound), and a second copy is refused `DUPLICATE` at apply, leaving
                    // the first's record. Only after the runtime's own timeout, so that a
                    // proposal that is merely slow (an overloaded node) is not sent twice.
                    if self
                        .reader
                        .transaction(&tx_hash)
                        .map_err(storage)?
                        .is_some()
                    {
                        return Ok(());
                    }
                    if tokio::time::Instant::now() >= deadline {
                        return Err(SubmitError::Unknown { tx_hash });
                    }
                    tracing::info!(tx = %tx_hash, "no outcome for a proposed transaction; proposing it again");
                }
                Err(ProposalFailed::Refused(e @ replication::ProposeError::QueueFull { .. })) => {
                    return Err(SubmitError::Overloaded {
                        reason: e.to_string(),
                        retry_after_ms: RETRY_AFTER_QUEUE_FULL_MS,
                    });
                }
                Err(ProposalFailed::Refused(e)) => {
                    return Err(SubmitError::Unavailable(e.to_string()));
                }
                Err(ProposalFailed::Stopped) => {
                    return Err(SubmitError::Unavailable("the replica stopped".into()));
                }
            }
        }
    }
}

fn storage(e: ChainError) -> SubmitError {
    SubmitError::Storage(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any Unix time in ms.
    const NOW: u64 = 1_780_000_000_000;

    fn status(commit: u64, applied: u64, pending: usize) -> ReplicaStatus {
        ReplicaStatus {
            leader_id: 1,
            commit_index: commit,
            applied_index: applied,
            proposals_pending: pending,
            ..ReplicaStatus::default()
        }
    }

    #[test]
    fn admits_within_every_bound() {
        assert_eq!(admission(&status(10, 10, 0), 1, NOW), Admission::Admit);
        let mut busy = status(
            APPLY_LAG_ENTRIES_MAX + 5,
            5,
            runtime::PENDING_PROPOSALS_MAX - 1,
        );
        busy.oldest_proposal_since_ms = Some(NOW - QUEUE_WAIT_MAX_MS);
        assert_eq!(admission(&busy, 1, NOW), Admission::Admit);
        // A follower whose commit index is behind what it applied (it learns commits late)
        // is not lagging; a proposal stamped after `now` (two clocks) has not waited.
        let mut ahead = status(3, 7, 1);
        ahead.oldest_proposal_since_ms = Some(NOW + 10);
        assert_eq!(admission(&ahead, 1, NOW), Admission::Admit);
    }

    #[test]
    fn refuses_at_once_a_full_channel_a_full_queue_a_stale_queue_and_an_apply_lag() {
        let refused = |a: Admission| match a {
            Admission::Refuse {
                reason,
                retry_after_ms,
            } => (reason, retry_after_ms),
            Admission::Admit => panic!("admitted"),
        };
        let (reason, retry) = refused(admission(&status(10, 10, 0), 0, NOW));
        assert_eq!(retry, RETRY_AFTER_QUEUE_FULL_MS);
        assert!(reason.contains("queue is full"), "{reason}");

        let (reason, retry) = refused(admission(
            &status(10, 10, runtime::PENDING_PROPOSALS_MAX),
            5,
            NOW,
        ));
        assert_eq!(retry, RETRY_AFTER_QUEUE_FULL_MS);
        assert!(reason.contains("proposals already wait"), "{reason}");

        let (reason, retry) = refused(admission(&status(APPLY_LAG_ENTRIES_MAX + 6, 5, 0), 5, NOW));
        assert_eq!(retry, RETRY_AFTER_APPLY_LAG_MS);
        assert!(
            reason.contains(&format!("{} committed entries", APPLY_LAG_ENTRIES_MAX + 1)),
            "{reason}"
        );

        // A follower whose log lags the leader's: its own commit index is its last entry, yet
        // the leader's appends announced a commit that many entries further on.
        let mut behind = status(100, 100, 0);
        behind.leader_commit_index = 100 + APPLY_LAG_ENTRIES_MAX + 1;
        let (reason, retry) = refused(admission(&behind, 5, NOW));
        assert_eq!(retry, RETRY_AFTER_APPLY_LAG_MS);
        assert!(
            reason.contains(&format!("{} committed entries", APPLY_LAG_ENTRIES_MAX + 1)),
            "{reason}"
        );
        behind.leader_commit_index = 100 + APPLY_LAG_ENTRIES_MAX;
        assert_eq!(admission(&behind, 5, NOW), Admission::Admit);

        // This node is current, but the network's slowest voter is behind: every node holds
        // new work back until it catches up.
        let mut slow_peer = status(10, 10, 0);
        slow_peer.cluster_apply_lag = CLUSTER_APPLY_LAG_ENTRIES_MAX + 1;
        let (reason, retry) = refused(admission(&slow_peer, 5, NOW));
        assert_eq!(retry, RETRY_AFTER_APPLY_LAG_MS);
        assert!(
            reason.contains(&format!(
                "slowest node has {} committed entries",
                CLUSTER_APPLY_LAG_ENTRIES_MAX + 1
            )),
            "{reason}"
        );
        slow_peer.cluster_apply_lag = CLUSTER_APPLY_LAG_ENTRIES_MAX;
        assert_eq!(admission(&slow_peer, 5, NOW), Admission::Admit);

        // Nothing of its own waits and no lag it can count, but its last proposals came back
        // late, and just now: refused, until that answer is older than the rule's window.
        let mut late = status(10, 10, 0);
        late.last_commit = Some(runtime::CommitDelay {
            answered_at_ms: NOW - 100,
            waited_ms: QUEUE_WAIT_MAX_MS + 1,
        });
        let (reason, retry) = refused(admission(&late, 5, NOW));
        assert_eq!(retry, RETRY_AFTER_APPLY_LAG_MS);
        assert!(
            reason.contains(&format!(
                "last transactions waited {} ms from proposal to apply",
                QUEUE_WAIT_MAX_MS + 1
            )),
            "{reason}"
        );
        assert_eq!(
            admission(&late, 5, NOW - 100 + SLOW_COMMIT_REFUSES_MS + 1),
            Admission::Admit,
            "an old slow answer is no evidence: the next submission probes"
        );
        late.last_commit = Some(runtime::CommitDelay {
            answered_at_ms: NOW - 100,
            waited_ms: QUEUE_WAIT_MAX_MS,
        });
        assert_eq!(admission(&late, 5, NOW), Admission::Admit);

        let mut stuck = status(10, 10, 40);
        stuck.oldest_proposal_since_ms = Some(NOW - QUEUE_WAIT_MAX_MS - 1);
        let (reason, retry) = refused(admission(&stuck, 5, NOW));
        assert_eq!(retry, RETRY_AFTER_APPLY_LAG_MS);
        assert!(
            reason.contains(&format!(
                "oldest of 40 proposals has waited {} ms",
                QUEUE_WAIT_MAX_MS + 1
            )),
            "{reason}"
        );
    }
}
