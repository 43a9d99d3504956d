//! The write path from a client's signed transaction to its outcome in a block, and the
//! linearizable read, as one node offers them to its API.
//!
//! ```text
//! submit(envelope)
//!   -> committed before?           yes: the original outcome, nothing proposed
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
        let precheck = self.reader.precheck(&envelope, now_ms).map_err(storage)?;
        match precheck {
            Outcome::Refused { ref code, .. } if code == validate::DUPLICATE => {
                // Committed between the lookup above and the precheck.
                if let Some(done) = self.recorded(&tx_hash, true)? {
                    return Ok(done);
                }
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
            tokio::time::timeout_at(deadline, self.proposals.send(proposal))
                .await
                .map_err(|_| SubmitError::Unavailable("the proposal queue stayed full".into()))?
                .map_err(|_| SubmitError::Unavailable("the replica stopped".into()))?;
            let answer = match tokio::time::timeout_at(deadline, outcome).await {
                Err(_) => return Err(SubmitError::Unknown { tx_hash }),
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
