//! # ledger: Silkline's document ledger
//!
//! The application the `replication` crate replicates: the deterministic document apply path
//! (an implementation of [`replication::StateMachine`]), and [`client::LedgerClient`], one node's
//! write path (precheck, propose, the outcome the block recorded) and linearizable reads
//! (ReadIndex), for the API.
//!
//! A committed Raft entry carries signed transactions (JWS compact envelopes, [`tx`]). Every
//! node applies them, in order, as one [`block::Block`] with [`LedgerState::apply_block`]:
//!
//! ```text
//! envelope size -> pki JWS verify -> chain to a member CA at block time, not revoked
//!   -> certificate kind -> member sponsors the named party -> network id -> validity window
//!   -> nonce unseen -> doc_workflow::Engine::decide (or a governance command)
//! ```
//!
//! ([`validate`]). Before any of it, the entry's [`replication::Attestation`] (the proposer's last
//! block when it opened the batch) is compared with this replica's block at that height: a
//! mismatch is [`ChainError::Diverged`], which stops the replica. Every failure is a deterministic [`Outcome::Refused`] with a stable code,
//! recorded in the block; the other transactions of the block still apply. The resulting
//! documents, histories, indexes, nonces, the block and the applied index are written to sled in
//! ONE atomic batch (`apply`), so a crash leaves the state exactly at a block boundary.
//!
//! - [`tx`]: the transaction payload format and its limits.
//! - [`genesis`]: the network configuration and its hash.
//! - [`merkle`]: RFC 6962 Merkle root of a block's transaction hashes.
//! - [`block`]: headers, their hash encoding, outcomes, block time.
//! - [`validate`]: the checks, their refusal codes, and the identity seam to `pki` ([`trust`]).
//! - `keys`: the store layout, every key of the sled tree; [`records`]: what is stored under
//!   them and its encoding ([`codec`] compresses documents and histories); `state_hash`: the
//!   chained hash of each block's writes.
//! - [`state`]: [`LedgerState`]: the store opened and loaded, and the view it publishes.
//! - `apply`: a block (`apply/mod.rs`), a document transaction (`apply/document.rs`), a
//!   governance transaction (`apply/governance.rs`), into one batch.
//! - [`reader`]: [`LedgerReader`], the reads and the precheck other tasks make meanwhile.
//! - `snapshot`: the state's Raft snapshots and their restore; [`stream`]: streamed ones.
//! - [`machine`]: `impl StateMachine for LedgerState`; [`client`]: one node's write path.
//!
//! Module dependencies point one way: `keys` <- `codec` <- `records` <- `validate`, `stream` <-
//! `state` <- `apply`, `reader`, `snapshot`, `machine`. Nothing below `state` imports it; `state`
//! only re-exports, under the paths other crates use (`ledger::state::PAGE_SIZE_MAX`, ...), names
//! that now live in `apply`, `reader` and `records`.
//!
//! What this module deliberately is not:
//!
//! - It never reads the clock or a random source: time is the block's ([`block::block_time`]),
//!   and [`LedgerState::precheck`] takes `now_ms` from its caller.
//! - It does not decide visibility (who may read a document); the API does, with the party
//!   index this module maintains.
//! - It performs no side effects (PDF, e-mail, webhooks): adapters react to committed blocks.

use std::fmt;

use serde::{Deserialize, Serialize};

mod apply;
pub mod block;
pub mod client;
pub mod codec;
pub mod consortium;
pub mod genesis;
mod keys;
pub mod machine;
pub mod merkle;
pub mod reader;
pub mod records;
pub mod signatures;
mod snapshot;
pub mod state;
mod state_hash;
pub mod stream;
pub mod trust;
pub mod tx;
pub mod validate;

pub use apply::VOTERS_MIN;
pub use apply::pint::pint_party;
pub use block::{Block, BlockHeader, Outcome, TxLocation, TxResult};
pub use genesis::{Genesis, MemberConfig, MemberRole, NodeConfig, PartyConfig};
pub use reader::LedgerReader;
pub use records::{
    CrlRecord, DocumentPage, ExportRecord, ExportStage, HistoryEntry, NodeRecord, NodeRole,
    PartyRecord, PintChainRecord, Tip, TxRecord,
};
pub use state::LedgerState;
pub use tx::{Governance, Transaction, TxBody};
pub use validate::TxRefusal;

/// A SHA-256 digest (block, transaction, state or genesis hash), lowercase hex in JSON.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    /// Parses 64 hex characters.
    pub fn from_hex(hex_str: &str) -> Result<Hash32, hex::FromHexError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_str, &mut out)?;
        Ok(Hash32(out))
    }
}

impl From<Hash32> for String {
    fn from(h: Hash32) -> String {
        hex::encode(h.0)
    }
}

impl TryFrom<String> for Hash32 {
    type Error = hex::FromHexError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Hash32::from_hex(&s)
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash32({self})")
    }
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    replication::state_machine::sha256(bytes)
}

/// A failure of the apply machinery itself (storage, corrupt data, a broken precondition).
/// A refused *transaction* is never one of these: it is an [`Outcome::Refused`] in the block.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// sled failed.
    #[error("state store: {0}")]
    Storage(#[from] sled::Error),
    /// A stored record does not decode: the store holds bytes this code did not write.
    #[error("corrupt stored record {what}: {reason}")]
    Corrupt {
        /// Which record.
        what: String,
        /// Why it failed to decode.
        reason: String,
    },
    /// The store belongs to another network.
    #[error("the state store was created for genesis {stored}, not {expected}")]
    GenesisMismatch {
        /// The hash the store holds.
        stored: Hash32,
        /// The hash of the configuration given.
        expected: Hash32,
    },
    /// The genesis configuration is unusable.
    #[error(transparent)]
    Genesis(#[from] genesis::GenesisError),
    /// An entry was applied out of order.
    #[error("index {got} applied out of order: the state is at {applied}")]
    OutOfOrder {
        /// The state's applied index.
        applied: u64,
        /// The index given.
        got: u64,
    },
    /// This replica's block at `height` is not the one the entry's proposer applied there: the
    /// two replicas applied the same log and reached different states. Fatal: the replica
    /// stops rather than build on a state its peers do not hold. Nothing of the entry applied.
    #[error(
        "state diverged at block {height}: our block hash is {ours}, the proposer's is {proposer}"
    )]
    Diverged {
        /// The attested height.
        height: u64,
        /// This replica's block hash at that height.
        ours: Hash32,
        /// The hash the proposer attested.
        proposer: Hash32,
    },
    /// The entry's proposer attested a block beyond this replica's tip, though the attested
    /// block precedes the entry in the log: the replicas count blocks differently. Fatal.
    #[error(
        "state diverged: the proposer attested block {height} ({proposer}) but our chain ends at {tip}"
    )]
    AttestedBeyondTip {
        /// The attested height.
        height: u64,
        /// This replica's tip height.
        tip: u64,
        /// The hash the proposer attested.
        proposer: Hash32,
    },
    /// A block carries more transactions than any block may.
    #[error("a block carries {count} transactions; at most {max} are allowed")]
    TooManyTransactions {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A snapshot does not decode or does not belong to this network.
    #[error("invalid snapshot: {0}")]
    InvalidSnapshot(String),
    /// A trust anchor (a member CA or CRL at genesis) is unusable.
    #[error("trust store: {0}")]
    Trust(String),
}
