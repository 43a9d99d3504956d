//! # ledger: Silkline's replicated log
//!
//! This crate turns tikv's `raft-rs` consensus into a replicated, durable, ordered log of
//! *batches* of client payloads, and feeds every committed batch, in order, to a deterministic
//! [`StateMachine`]. It contains:
//!
//! - [`state_machine`]: the apply-side contract (`StateMachine`) every replica runs identically.
//! - [`storage`]: the Raft log store. [`storage::LogStore`] implements `raft::Storage`; its
//!   durable layer is [`storage::RedbLog`] in production and [`storage::SimDisk`] in the
//!   simulator. All the writes of one `Ready` go to disk in ONE transaction (one `fdatasync`).
//! - [`replica`]: [`Replica`], the one and only `Ready` handling, shared by the simulator and the
//!   tokio runtime; proposal batching; snapshots and log compaction.
//! - [`sim`]: a deterministic, seeded simulator of 3-5 replicas with a hostile network, crashes
//!   that lose unsynced writes, and one checker per safety/liveness property.
//! - [`runtime`]: a thin tokio driver around a [`Replica`], with the transport behind a trait.
//!
//! What this crate deliberately is **not**:
//!
//! - It knows nothing about bills of lading, signatures, certificates or workflow rules. The
//!   document apply path (blocks of signed transactions checked through `pki` and
//!   `doc-workflow`) plugs in later as an implementation of [`StateMachine`].
//! - It has no network transport of its own: the mutual-TLS TCP transport implements
//!   [`runtime::Transport`] elsewhere.
//! - It never reads the clock inside apply, and the simulator never reads the wall clock at all:
//!   time is a parameter (`now_ms`).
//! - It does not implement membership policy (who may join); it only replicates and applies the
//!   conf changes it is given.

#![forbid(unsafe_code)]

pub mod batch;
pub mod error;
pub mod logging;
pub mod replica;
pub mod rng;
pub mod runtime;
pub mod sim;
pub mod state_machine;
pub mod storage;

pub use batch::{Batch, Proposal, ProposalId};
pub use error::{ProposeError, ReplicaError, StateMachineError, StorageError};
pub use replica::{Applied, CollectEffects, ReadyEffects, Replica, ReplicaConfig};
pub use state_machine::{CommittedEntry, EntryKind, LogIndex, StateHash, StateMachine};
pub use storage::{DurableLog, LogStore, RedbLog, SimDisk};

/// Raft's wire and log types, re-exported so callers need not depend on `raft` directly.
pub use raft::eraftpb;
