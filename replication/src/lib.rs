//! # replication: Silkline's replicated log
//!
//! This crate turns tikv's `raft-rs` consensus into a replicated, durable, ordered log of
//! *batches* of client payloads, and feeds every committed batch, in order, to a deterministic
//! [`StateMachine`]. It contains:
//!
//! - [`state_machine`]: the apply-side contract (`StateMachine`) every replica runs identically.
//! - [`storage`]: the Raft log store. [`storage::LogStore`] implements `raft::Storage`; its
//!   durable layer is [`storage::RedbLog`] in production and `storage::SimDisk` (feature `sim-disk`) in the
//!   simulator. All the writes of one `Ready` go to disk in ONE transaction (one `fdatasync`).
//! - [`replica`]: [`Replica`], the one and only `Ready` handling, shared by the simulator and the
//!   tokio runtime; proposal batching; snapshots and log compaction.
//! - [`runtime`]: a thin driver around a [`Replica`], its Ready loop on a thread of its own
//!   (`raft-<id>`), with the transport behind a trait; [`runtime::requests`] is the sans-IO
//!   bookkeeping of the clients' proposals and reads (ids, deadlines, read contexts, retries)
//!   that the simulator drives too.
//! - [`metrics`]: what a running replica counts for its operator (atomics; no exporter).
//! - [`stream`]: streamed snapshots: a snapshot that names the state, and the state sent
//!   beside it in chunks, for a state too large for one message.
//! - [`transport`]: [`transport::TlsTransport`], the runtime's transport between nodes: TCP with
//!   mutual TLS, node identities pinned, length-prefixed protobuf frames, bounded queues.
//!
//! What this crate deliberately is **not**:
//!
//! - It knows nothing about bills of lading, signatures of transactions or workflow rules: it
//!   replicates opaque payloads. The `ledger` crate is the state machine that knows documents,
//!   and this crate's `Cargo.toml` has no `doc-workflow`, `sled`, `zstd` or `serde_json`.
//! - The deterministic simulator that drives [`Replica`] is the `sim` crate (tests only).
//! - It never reads the clock inside apply, and the simulator never reads the wall clock at all:
//!   time is a parameter (`now_ms`), and a block's time comes from its proposer.
//! - It does not implement membership policy (who may join); it only replicates and applies the
//!   conf changes it is given.

pub mod batch;
pub mod error;
pub mod logging;
pub mod metrics;
pub mod replica;
pub mod rng;
pub mod runtime;
pub mod state_machine;
pub mod storage;
pub mod stream;
pub mod transport;

pub use batch::{Attestation, Batch, Proposal, ProposalId};
pub use error::{ProposeError, ReplicaError, StateMachineError, StorageError};
pub use replica::{
    Applied, BackupPoint, CollectEffects, PeerProgress, ReadyEffects, Replica, ReplicaConfig,
};
pub use state_machine::{CommittedEntry, EntryKind, LogIndex, StateHash, StateMachine};
#[cfg(any(test, feature = "sim-disk"))]
pub use storage::SimDisk;
pub use storage::{DurableLog, LogStore, RedbLog};

/// A replica's Raft role, as [`runtime::ReplicaStatus`] reports it.
pub use raft::StateRole;
/// Raft's wire and log types, re-exported so callers need not depend on `raft` directly.
pub use raft::eraftpb;
