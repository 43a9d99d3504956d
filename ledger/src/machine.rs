//! [`LedgerState`] as the replication core's [`StateMachine`].
//!
//! A block's time is the proposer's clock when it opened the batch, carried in the log entry
//! ([`replication::Batch::time_ms`]) and never read at apply (TigerBeetle's rule); `apply_block`
//! keeps it from going backwards. The entry's attestation (the proposer's last block) is
//! checked against this replica's block at that height; a mismatch is
//! [`StateMachineError::Diverged`], logged at error level with both hashes, and stops the
//! replica.

use replication::batch::Attestation;
use replication::error::StateMachineError;
use replication::state_machine::{
    CommittedEntry, EntryKind, LogIndex, Membership, StateHash, StateMachine, StateSnapshot,
};

use super::apply::BLOCK_TRANSACTIONS_MAX;
use super::block::Block;
use super::state::LedgerState;
use super::{ChainError, sha256};

fn storage(e: ChainError) -> StateMachineError {
    StateMachineError::Storage(e.to_string())
}

impl StateMachine for LedgerState {
    /// The block a batch became; `None` for no-ops and membership changes.
    type Output = Option<Block>;

    fn apply(&mut self, entry: CommittedEntry<'_>) -> Result<Option<Block>, StateMachineError> {
        if entry.index != self.applied_index() + 1 {
            return Err(StateMachineError::OutOfOrder {
                applied: self.applied_index(),
                got: entry.index,
            });
        }
        match entry.kind {
            EntryKind::Noop | EntryKind::ConfChange => {
                self.advance_applied_index(entry.index).map_err(storage)?;
                Ok(None)
            }
            EntryKind::Proposals {
                time_ms,
                attestation,
                proposals,
            } => {
                let envelopes: Vec<&[u8]> =
                    proposals.iter().map(|p| p.payload.as_slice()).collect();
                // The batcher closes at BATCH_PAYLOADS_MAX payloads.
                debug_assert!(envelopes.len() <= BLOCK_TRANSACTIONS_MAX);
                self.apply_block(entry.index, time_ms, attestation, &envelopes)
                    .map(Some)
                    .map_err(|e| match e {
                        e
                        @ (ChainError::Diverged { .. } | ChainError::AttestedBeyondTip { .. }) => {
                            tracing::error!(
                                index = entry.index,
                                error = %e,
                                "STATE DIVERGED from the entry's proposer: this replica stops"
                            );
                            StateMachineError::Diverged {
                                index: entry.index,
                                detail: e.to_string(),
                            }
                        }
                        other => storage(other),
                    })
            }
        }
    }

    /// The state is a sled tree that holds its applied index (contract, 2).
    fn is_durable(&self) -> bool {
        true
    }

    /// Also closes the view the stored snapshot named: the replica syncs before it replaces
    /// that snapshot with one that holds no state.
    fn sync(&mut self) -> Result<(), StateMachineError> {
        self.close_snapshot_view();
        self.flush().map_err(storage)
    }

    /// With streamed snapshots, a descriptor of a view at the applied index (cheap, whatever
    /// the state's size); otherwise the whole state, serialized.
    fn snapshot(&self) -> Result<StateSnapshot, StateMachineError> {
        if self.streams_snapshots() {
            tracing::info!(
                index = self.applied_index(),
                "snapshot view opened, to be streamed"
            );
            return Ok(StateSnapshot {
                applied_index: self.applied_index(),
                data: self.open_snapshot_view(),
            });
        }
        // Serializing the whole state is the one slow step a peer's catch-up costs this node
        // (seconds at 100,000 documents): say how slow.
        let started = std::time::Instant::now();
        let data = self.export_snapshot().map_err(storage)?;
        tracing::info!(
            index = self.applied_index(),
            bytes = data.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "ledger state serialized for a snapshot"
        );
        Ok(StateSnapshot {
            applied_index: self.applied_index(),
            data,
        })
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), StateMachineError> {
        let index = self.restore_snapshot(&snapshot.data).map_err(|e| match e {
            ChainError::InvalidSnapshot(reason) => StateMachineError::InvalidSnapshot {
                index: snapshot.applied_index,
                reason,
            },
            other => storage(other),
        })?;
        if index != snapshot.applied_index {
            return Err(StateMachineError::InvalidSnapshot {
                index: snapshot.applied_index,
                reason: format!("the data describes index {index}"),
            });
        }
        Ok(())
    }

    /// A storage error reads as "not now": the message is dropped, and the restore, if it is
    /// tried again, reports the error.
    /// A view of the store at the applied index (`crate::stream`): read on another thread
    /// while blocks go on applying.
    fn open_backup(
        &self,
    ) -> Result<Option<Box<dyn replication::stream::ChunkReader>>, StateMachineError> {
        Ok(Some(self.open_backup_reader()))
    }

    fn can_restore(&self, data: &[u8]) -> bool {
        LedgerState::is_restorable(self, data).unwrap_or(false)
    }

    fn applied_index(&self) -> LogIndex {
        LedgerState::applied_index(self)
    }

    /// The last block (height and hash), which the batches this replica proposes attest.
    fn attestation(&self) -> Attestation {
        LedgerState::attestation(self)
    }

    /// The node set of the ledger: genesis nodes and the committed `ADD_NODE`, `PROMOTE_NODE`
    /// and `REMOVE_NODE` transactions.
    fn membership(&self) -> Option<Membership> {
        Some(LedgerState::membership(self))
    }

    /// SHA-256 over the tag `silkline-sm-v1`, the chain's state hash and the applied index
    /// (u64 BE): no-ops move the applied index without a block.
    fn state_hash(&self) -> StateHash {
        let mut bytes = b"silkline-sm-v1".to_vec();
        bytes.extend_from_slice(&LedgerState::state_hash(self).0);
        bytes.extend_from_slice(&LedgerState::applied_index(self).to_be_bytes());
        sha256(&bytes)
    }
}
