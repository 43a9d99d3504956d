//! Errors of the replication core. A refused *document* action is never one of these: it is a
//! deterministic value the state machine records. These are failures of the machinery itself.

use crate::state_machine::LogIndex;

/// The durable Raft log could not be read or written, or what it holds is not what was written.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// redb failed (I/O, corruption detected by its checksums, ...).
    #[error("redb: {0}")]
    Redb(#[from] redb::Error),
    /// A stored record does not decode.
    #[error("corrupt stored record `{what}`: {reason}")]
    Corrupt {
        /// Which record (table or key).
        what: &'static str,
        /// Why it failed to decode.
        reason: String,
    },
    /// A write asked for something that would break the log's invariants (a gap, a rewrite of
    /// compacted entries, a compaction past the snapshot). Always a bug in the caller.
    #[error("log invariant violated: {0}")]
    Invariant(String),
    /// The simulator crashed the replica in the middle of a durable write. Whether the write
    /// reached the synced layer is decided by the simulator's seed.
    #[error("simulated crash during a durable write")]
    SimulatedCrash,
}

/// The state machine failed in a way that must stop the replica: its own storage failed, or a
/// snapshot does not decode. Deterministic refusals are *outputs*, never this error.
#[derive(Debug, thiserror::Error)]
pub enum StateMachineError {
    /// A snapshot handed to `restore` does not decode or does not match its index.
    #[error("invalid snapshot at index {index}: {reason}")]
    InvalidSnapshot {
        /// The snapshot's applied index.
        index: LogIndex,
        /// What is wrong with it.
        reason: String,
    },
    /// The state machine's own durable store failed.
    #[error("state machine storage: {0}")]
    Storage(String),
    /// The entry's proposer attested a state this replica does not hold (contract, 5): the
    /// replicas that applied the same log disagree. Nothing of the entry was applied.
    #[error("entry {index}: this replica diverged from the entry's proposer: {detail}")]
    Diverged {
        /// The entry whose attestation did not match.
        index: LogIndex,
        /// Both sides' digests, for the operator.
        detail: String,
    },
    /// An entry arrived out of order (not `applied_index + 1`).
    #[error("entry {got} applied out of order: state machine is at {applied}")]
    OutOfOrder {
        /// The state machine's applied index.
        applied: LogIndex,
        /// The index of the entry handed to it.
        got: LogIndex,
    },
}

/// A replica stopped, or could not start. Every variant except `Raft` (from `step`) and
/// `Stopped` means the replica is now stopped and must be restarted from durable state.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// The durable log failed inside the `Ready` loop. The replica stops loudly: continuing
    /// would acknowledge writes that may not be on disk.
    #[error("replica {id}: durable log failed, replica stopped: {source}")]
    Storage {
        /// The replica's Raft id.
        id: u64,
        /// The storage failure.
        #[source]
        source: StorageError,
    },
    /// The state machine failed while applying or restoring.
    #[error("replica {id}: state machine failed, replica stopped: {source}")]
    StateMachine {
        /// The replica's Raft id.
        id: u64,
        /// The state machine failure.
        #[source]
        source: StateMachineError,
    },
    /// raft-rs refused an operation (for `step`: a message from an unknown peer, say).
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    /// A committed entry does not decode: the log holds bytes this code did not write.
    #[error("replica {id}: committed entry {index} is corrupt: {reason}")]
    CorruptEntry {
        /// The replica's Raft id.
        id: u64,
        /// The entry's index.
        index: LogIndex,
        /// Why it failed to decode.
        reason: String,
    },
    /// Durable state read at start-up is inconsistent (the state machine is ahead of the log).
    #[error("replica {id}: recovery failed: {reason}")]
    Recovery {
        /// The replica's Raft id.
        id: u64,
        /// What is inconsistent.
        reason: String,
    },
    /// A Raft or state-machine invariant does not hold (a bug, or a tampered store).
    #[error("replica {id}: invariant violated: {reason}")]
    Invariant {
        /// The replica's Raft id.
        id: u64,
        /// Which invariant.
        reason: String,
    },
    /// An earlier fatal error stopped this replica; it refuses all further work.
    #[error("replica {id} is stopped after a fatal error; restart it from durable state")]
    Stopped {
        /// The replica's Raft id.
        id: u64,
    },
}

impl ReplicaError {
    /// Whether this error stops the replica (as opposed to refusing one input).
    pub fn is_fatal(&self) -> bool {
        !matches!(self, ReplicaError::Raft(_))
    }
}

/// A client payload was not accepted for proposal. Nothing was proposed; the client may retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// The payload alone exceeds the per-payload limit.
    #[error("payload of {bytes} bytes exceeds the limit of {max} bytes")]
    PayloadTooLarge {
        /// Size of the refused payload.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// Too many proposals are waiting for their outcome: back-pressure.
    #[error("{pending} proposals already waiting (limit {max})")]
    QueueFull {
        /// Proposals waiting.
        pending: usize,
        /// The limit.
        max: usize,
    },
    /// The replica has stopped after a fatal error.
    #[error("replica stopped")]
    Stopped,
}
