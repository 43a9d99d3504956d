//! The apply side of the log: what every replica runs, identically, on every committed entry.

use crate::batch::{Attestation, Proposal};
use crate::error::StateMachineError;

/// A position in the Raft log (1-based; 0 means "nothing").
pub type LogIndex = u64;

/// SHA-256 of a state machine's complete state, including its applied index.
pub type StateHash = [u8; 32];

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

/// What a committed entry carries, as seen by the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind<'a> {
    /// An empty entry (a new leader's no-op). It changes nothing but the applied index.
    Noop,
    /// A membership change. The replica applies it to Raft itself; the state machine only
    /// advances its applied index (membership is not part of the replicated state).
    ConfChange,
    /// A batch of client payloads, applied as one unit: a ledger block. The whole batch is
    /// applied, or (on a crash) none of it.
    Proposals {
        /// The proposer's clock when the batch opened ([`crate::Batch::time_ms`]): the only
        /// time the state machine may use.
        time_ms: u64,
        /// The proposer's state when the batch opened ([`crate::Batch::attestation`]): the
        /// state machine compares it with its own and fails on a mismatch (contract, 5).
        attestation: Attestation,
        /// The payloads, in order.
        proposals: &'a [Proposal],
    },
}

/// One committed entry, handed to [`StateMachine::apply`] exactly once per index, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommittedEntry<'a> {
    /// The entry's log index: always `applied_index() + 1`.
    pub index: LogIndex,
    /// The term the entry was proposed in.
    pub term: u64,
    /// What the entry carries.
    pub kind: EntryKind<'a>,
}

/// A point-in-time copy of a state machine's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSnapshot {
    /// The applied index the data describes.
    pub applied_index: LogIndex,
    /// The serialized state; opaque to the replica, shipped to lagging followers as-is.
    pub data: Vec<u8>,
}

/// The Raft membership a state machine prescribes (the ledger's node set): the leader brings
/// Raft's configuration to it one change at a time (`Replica`'s membership reconciliation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    /// Raft ids that vote.
    pub voters: std::collections::BTreeSet<u64>,
    /// Raft ids that receive the log without voting.
    pub learners: std::collections::BTreeSet<u64>,
}

/// The deterministic apply side of the replicated log.
///
/// # Contract
///
/// 1. **Determinism.** `apply` depends only on the state and the entry: no clock, no
///    randomness, no I/O whose result can differ between replicas, no iteration over hash maps
///    where order reaches the state. Two replicas that applied the same entries have the same
///    `state_hash()`, byte for byte.
/// 2. **Atomic applied index.** The applied index is written atomically with the state it
///    describes: after a crash, the state found on restart is exactly the state after applying
///    `1..=applied_index()`, never a mix. A durable implementation writes the index in the same
///    transaction as the effects of the entry; an in-memory one trivially satisfies this.
/// 3. **Order.** `apply` is called with `index == applied_index() + 1` only. After a restart the
///    replica skips entries at or below `applied_index()`, so a durable state machine may be
///    ahead of the Raft log's durable commit index, never behind its snapshot.
/// 4. **Errors stop the replica.** An `Err` from any method is a broken machine (its storage
///    failed, a snapshot is corrupt): the replica stops. A refused action is an `Output`.
/// 5. **Divergence is an error.** A batch carries its proposer's [`Attestation`] (the
///    proposer's [`StateMachine::attestation`] when the batch opened). A state machine that
///    can check it compares it with its own record at that height and returns
///    [`StateMachineError::Diverged`] when they differ, before changing anything: a replica
///    whose state differs from its peers' stops rather than serve a state nobody else holds.
pub trait StateMachine {
    /// What applying one entry produces (receipts, refusals with reasons, ...).
    type Output;

    /// Applies one committed entry. Precondition: `entry.index == self.applied_index() + 1`.
    /// Postcondition: `self.applied_index() == entry.index`.
    fn apply(&mut self, entry: CommittedEntry<'_>) -> Result<Self::Output, StateMachineError>;

    /// Serializes the whole state at `applied_index()`, or, for a machine that streams its
    /// snapshots ([`crate::stream`]), opens a consistent view of it and returns a descriptor
    /// that names the view.
    fn snapshot(&self) -> Result<StateSnapshot, StateMachineError>;

    /// Replaces the whole state with a snapshot's (for a descriptor: with the state streamed
    /// for it). Postcondition: `self.applied_index() == snapshot.applied_index`.
    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), StateMachineError>;

    /// Whether a leader's snapshot with this data can be restored now: `false` for a
    /// descriptor whose streamed state was not (completely) received, so that the replica drops
    /// the message instead of failing on it. (No default: a wrapper that forgot to forward it
    /// would fail on every streamed snapshot.)
    fn can_restore(&self, data: &[u8]) -> bool;

    /// The index of the last applied entry (0 before the first).
    fn applied_index(&self) -> LogIndex;

    /// Whether the state survives a restart by itself, as of at least its last
    /// [`StateMachine::sync`] (a store on disk). For such a machine the replica compacts the log
    /// behind a snapshot that records only its position and membership, and serializes the
    /// state only when a peer needs it: a node's memory and each compaction's cost then no
    /// longer grow with the state. A machine that is not durable is restored from the stored
    /// snapshot's data after a restart, so every snapshot carries it. (No default: a wrapper
    /// that forgot to forward it would make a durable machine serialize its whole state at
    /// every compaction.)
    fn is_durable(&self) -> bool;

    /// Makes the state at `applied_index()` survive a crash: after it returns, a restart finds
    /// this state or a later one (contract, 2). The replica calls it on a durable machine before
    /// compacting the log behind `applied_index()`; a machine that is not durable does nothing.
    fn sync(&mut self) -> Result<(), StateMachineError>;

    /// SHA-256 over the whole state, applied index included.
    fn state_hash(&self) -> StateHash;

    /// What this replica vouches for in the batches it proposes (contract, 5): its latest
    /// checkable point, or [`Attestation::NONE`] for a machine that keeps no record to check
    /// an attestation against.
    fn attestation(&self) -> Attestation;

    /// The membership the replicated state prescribes, as of `applied_index()`; `None` for a
    /// machine that leaves membership to whoever drives the replica (the simulator proposes
    /// its conf changes itself).
    fn membership(&self) -> Option<Membership> {
        None
    }

    /// A reader of the whole state as of `applied_index()` now, for an operator's backup: it
    /// must stay consistent while the replica goes on applying, and is read on another thread.
    /// `None` (the default): this machine offers no backups.
    fn open_backup(
        &self,
    ) -> Result<Option<Box<dyn crate::stream::ChunkReader>>, StateMachineError> {
        Ok(None)
    }
}
