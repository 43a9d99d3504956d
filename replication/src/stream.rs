//! Streamed snapshots: a Raft snapshot whose data names the state instead of holding it, and
//! the state itself sent beside it in chunks.
//!
//! A snapshot that carries a whole ledger is one message: the leader builds it in memory on
//! the Raft thread, the transport can carry at most [`crate::transport::wire::LARGE_MESSAGE_BYTES_MAX`]
//! of it, and the receiver holds it in memory and writes it into its log. A state machine that
//! can stream instead puts a small *descriptor* into the snapshot ([`crate::StateMachine::snapshot`]
//! opens a consistent view of its state at that index and returns the descriptor). The
//! transport, seeing a snapshot message whose data [`SnapshotStreams::reader`] recognises,
//! sends the view's chunks to the peer first, on a connection of their own, and the message
//! last; the receiving transport feeds the chunks to [`SnapshotStreams::importer`] and hands the
//! message to Raft only once the import is complete. Restoring from the descriptor
//! ([`crate::StateMachine::restore`]) then switches the state machine to the imported state,
//! and [`crate::StateMachine::can_restore`] lets the replica drop a descriptor whose state was
//! never received (a duplicate or a stray message) instead of failing on it.
//!
//! The replication core stays ignorant of what a chunk holds: chunks are opaque bytes, in
//! order, with their count and SHA-256 checked by the transport.

/// Reads the state a descriptor names, in chunks. Blocking (it reads the store): the transport
/// calls it on a blocking thread.
pub trait ChunkReader: Send {
    /// The next chunk of about `max_bytes` (at most `max_bytes` plus one record), or `None`
    /// after the last one.
    fn next_chunk(&mut self, max_bytes: usize) -> Result<Option<Vec<u8>>, String>;
}

/// Writes a streamed state as its chunks arrive. Blocking, like [`ChunkReader`].
pub trait ChunkImporter: Send {
    /// Takes the next chunk, in the order the reader produced them.
    fn chunk(&mut self, bytes: &[u8]) -> Result<(), String>;
    /// The last chunk was taken: checks the whole and makes it durable, so that
    /// [`crate::StateMachine::can_restore`] accepts the descriptor from now on, also after a
    /// restart.
    fn finish(self: Box<Self>) -> Result<(), String>;
}

/// A state machine's side of streamed snapshots, shared with the transport. Its methods may be
/// called from any thread while the replica applies.
pub trait SnapshotStreams: Send + Sync + 'static {
    /// For a snapshot's data: `None` if the data holds the state itself (send the message as
    /// it is); otherwise a reader of the state the descriptor names, or why it cannot be read
    /// (the view was closed or overrun: the snapshot is reported lost and taken again).
    fn reader(&self, data: &[u8]) -> Option<Result<Box<dyn ChunkReader>, String>>;

    /// An importer for the state a descriptor names; the previous, unfinished import (if any)
    /// is discarded.
    fn importer(&self, data: &[u8]) -> Result<Box<dyn ChunkImporter>, String>;
}

impl std::fmt::Debug for dyn SnapshotStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SnapshotStreams")
    }
}

/// How a streamed snapshot to one peer is going, as the transport tells the runtime
/// ([`crate::runtime::Transport::snapshot_reports`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamReport {
    /// Chunks are moving: the leader keeps waiting.
    Progress,
    /// Every chunk and the snapshot message were written to the peer.
    Delivered,
    /// The stream broke (connection, the view, the peer's import): the snapshot is lost.
    Failed,
}
