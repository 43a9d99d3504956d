//! [`LedgerState`] as the replication core's [`StateMachine`].
//!
//! # Block time (read this before wiring a runtime)
//!
//! A block's time is the proposer's clock, stamped into the log, never read at apply
//! (TigerBeetle's rule). [`EntryKind::Proposals`] carries payloads but, today, no leader time.
//! Until it does, the proposer stamps the time as a payload of its own: a batch whose FIRST
//! proposal is [`time_stamp_payload`]`(now_ms)` is applied at
//! `max(previous block time, now_ms)`; a batch without one is applied at the previous block's
//! time. The stamp cannot be confused with a transaction: a JWS compact serialization is
//! base64url and dots, and the stamp starts with a NUL byte. The node's client API must refuse
//! client payloads that start with [`TIME_STAMP_MAGIC`] (it would anyway: they are not JWS).
//! The clean fix is a `time_ms` on `EntryKind::Proposals`, set by the leader when it closes the
//! batch; then this module's [`split_time_stamp`] goes away.

use crate::batch::Proposal;
use crate::error::StateMachineError;
use crate::state_machine::{
    CommittedEntry, EntryKind, LogIndex, StateHash, StateMachine, StateSnapshot,
};

use super::block::Block;
use super::state::{BLOCK_TRANSACTIONS_MAX, LedgerState};
use super::{ChainError, sha256};

/// First bytes of a time-stamp payload (module docs): NUL, then ASCII `silkline-time`.
pub const TIME_STAMP_MAGIC: &[u8; 14] = b"\0silkline-time";

/// The payload a proposer puts first in a batch to stamp its time.
pub fn time_stamp_payload(now_ms: u64) -> Vec<u8> {
    [TIME_STAMP_MAGIC.as_slice(), &now_ms.to_be_bytes()].concat()
}

/// Splits a batch into its time stamp (if its first payload is one) and its transactions.
pub fn split_time_stamp(proposals: &[Proposal]) -> (Option<u64>, Vec<&[u8]>) {
    let mut envelopes: Vec<&[u8]> = proposals.iter().map(|p| p.payload.as_slice()).collect();
    let stamp = envelopes.first().and_then(|first| {
        let rest = first.strip_prefix(TIME_STAMP_MAGIC.as_slice())?;
        Some(u64::from_be_bytes(rest.try_into().ok()?))
    });
    if stamp.is_some() {
        envelopes.remove(0);
    }
    (stamp, envelopes)
}

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
            EntryKind::Proposals(proposals) => {
                let (stamp, envelopes) = split_time_stamp(proposals);
                // The batcher closes at BLOCK_TRANSACTIONS_MAX payloads, the stamp included.
                debug_assert!(envelopes.len() <= BLOCK_TRANSACTIONS_MAX);
                let time_ms = stamp.unwrap_or(self.tip().time_ms);
                self.apply_block(entry.index, time_ms, &envelopes)
                    .map(Some)
                    .map_err(storage)
            }
        }
    }

    fn snapshot(&self) -> Result<StateSnapshot, StateMachineError> {
        Ok(StateSnapshot {
            applied_index: self.applied_index(),
            data: self.export_snapshot().map_err(storage)?,
        })
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), StateMachineError> {
        let index = self.import_snapshot(&snapshot.data).map_err(|e| match e {
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

    fn applied_index(&self) -> LogIndex {
        LedgerState::applied_index(self)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::ProposalId;

    #[test]
    fn time_stamp_is_split_off_only_when_first() {
        let p = |payload: Vec<u8>| Proposal {
            id: ProposalId(1),
            payload,
        };
        let batch = [p(time_stamp_payload(42)), p(b"a.b.c".to_vec())];
        let (stamp, envelopes) = split_time_stamp(&batch);
        assert_eq!(stamp, Some(42));
        assert_eq!(envelopes, vec![b"a.b.c".as_slice()]);
        let batch = [p(b"a.b.c".to_vec()), p(time_stamp_payload(42))];
        let (stamp, envelopes) = split_time_stamp(&batch);
        assert_eq!(stamp, None);
        assert_eq!(envelopes.len(), 2);
    }
}
