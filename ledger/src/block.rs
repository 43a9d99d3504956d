//! Blocks: what one applied batch of transactions became, hash-linked to the block before it.
//!
//! # Header encoding (version 1)
//!
//! The block hash is SHA-256 over this fixed-width, big-endian encoding of the header, chosen so
//! that any implementation can recompute it without a JSON canonicalizer:
//!
//! ```text
//! "silkline-block-v1"      17 ASCII bytes (domain separation from every other Silkline hash)
//! version                  u32
//! height                   u64   (1 for the first block; 0 is genesis, which has no block)
//! log_index                u64   (the Raft log index the block was applied at)
//! time_ms                  u64   (block time, ms since the Unix epoch)
//! previous_hash            32 bytes (the genesis hash for block 1)
//! tx_root                  32 bytes (RFC 6962 Merkle root of the transaction hashes, see merkle)
//! outcomes_hash            32 bytes (see [`outcomes_hash`])
//! state_hash               32 bytes (the state hash after the block, see chain::state)
//! tx_count                 u32
//! ```
//!
//! Every field is fixed-width, so the encoding is unambiguous without length prefixes.

use serde::{Deserialize, Serialize};

use doc_workflow::DocumentKey;

use super::Hash32;

/// The header format this code writes.
pub const BLOCK_FORMAT_VERSION: u32 = 1;

/// Domain tag in front of the header encoding.
const BLOCK_TAG: &[u8] = b"silkline-block-v1";

/// Domain tag in front of the outcomes encoding.
const OUTCOMES_TAG: &[u8] = b"silkline-outcomes-v1";

/// The time of a block: the proposer's clock, but never earlier than the previous block, so
/// block time never runs backwards even when the leader changes to a node whose clock is behind.
pub fn block_time(previous_ms: u64, proposed_ms: u64) -> u64 {
    previous_ms.max(proposed_ms)
}

/// A block's header: everything its hash covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockHeader {
    pub version: u32,
    pub height: u64,
    pub log_index: u64,
    pub time_ms: u64,
    pub previous_hash: Hash32,
    pub tx_root: Hash32,
    pub outcomes_hash: Hash32,
    pub state_hash: Hash32,
    pub tx_count: u32,
}

impl BlockHeader {
    /// The documented encoding (module docs) the block hash is computed over.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BLOCK_TAG.len() + 4 + 8 * 3 + 32 * 4 + 4);
        out.extend_from_slice(BLOCK_TAG);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(&self.log_index.to_be_bytes());
        out.extend_from_slice(&self.time_ms.to_be_bytes());
        out.extend_from_slice(&self.previous_hash.0);
        out.extend_from_slice(&self.tx_root.0);
        out.extend_from_slice(&self.outcomes_hash.0);
        out.extend_from_slice(&self.state_hash.0);
        out.extend_from_slice(&self.tx_count.to_be_bytes());
        out
    }

    /// SHA-256 of [`encode`](Self::encode).
    pub fn hash(&self) -> Hash32 {
        Hash32(super::sha256(&self.encode()))
    }
}

/// Where a transaction was included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TxLocation {
    pub height: u64,
    /// Index of the transaction within its block.
    pub position: u32,
}

/// What became of one transaction. Every replica computes the same outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "result",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase"
)]
pub enum Outcome {
    /// Accepted and applied.
    Committed {
        /// The documents it changed, sorted (empty for governance).
        documents: Vec<DocumentKey>,
    },
    /// Refused; nothing changed.
    Refused {
        /// Stable SCREAMING_SNAKE code (see `chain::validate` and `doc_workflow::Refusal::code`).
        code: String,
        /// A sentence naming the rule, for people. Not hashed: codes are the contract.
        message: String,
        /// For `DUPLICATE`: where the identical transaction committed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        original: Option<TxLocation>,
    },
}

impl Outcome {
    pub fn is_committed(&self) -> bool {
        matches!(self, Outcome::Committed { .. })
    }

    /// `None` if committed, else the refusal code.
    pub fn refusal_code(&self) -> Option<&str> {
        match self {
            Outcome::Committed { .. } => None,
            Outcome::Refused { code, .. } => Some(code),
        }
    }
}

/// One transaction of a block and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TxResult {
    /// SHA-256 of the envelope bytes exactly as proposed (garbage included).
    pub tx_hash: Hash32,
    pub outcome: Outcome,
}

/// A block: its header, its hash, and each transaction's outcome in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Block {
    pub header: BlockHeader,
    /// `header.hash()`, stored for readers.
    pub hash: Hash32,
    pub transactions: Vec<TxResult>,
}

/// SHA-256 over the tag `silkline-outcomes-v1` then, per transaction in order: its hash (32
/// bytes), `0x00` if committed or `0x01` if refused, and for a refusal the code's length (u16,
/// big-endian) and ASCII bytes. Messages are left out on purpose: they explain, codes decide,
/// and rewording a message must not fork the chain.
pub fn outcomes_hash(results: &[TxResult]) -> Hash32 {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(OUTCOMES_TAG);
    for r in results {
        h.update(r.tx_hash.0);
        match &r.outcome {
            Outcome::Committed { .. } => h.update([0u8]),
            Outcome::Refused { code, .. } => {
                h.update([1u8]);
                let len = u16::try_from(code.len()).expect("refusal codes are short");
                h.update(len.to_be_bytes());
                h.update(code.as_bytes());
            }
        }
    }
    Hash32(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_time_never_runs_backwards() {
        assert_eq!(block_time(1_000, 900), 1_000);
        assert_eq!(block_time(1_000, 1_500), 1_500);
    }

    #[test]
    fn header_encoding_is_fixed_width_and_every_field_counts() {
        let header = BlockHeader {
            version: BLOCK_FORMAT_VERSION,
            height: 1,
            log_index: 2,
            time_ms: 3,
            previous_hash: Hash32([1; 32]),
            tx_root: Hash32([2; 32]),
            outcomes_hash: Hash32([3; 32]),
            state_hash: Hash32([4; 32]),
            tx_count: 5,
        };
        assert_eq!(header.encode().len(), 17 + 4 + 24 + 128 + 4);
        let mut other = header;
        other.tx_count = 6;
        assert_ne!(header.hash(), other.hash());
        let mut other = header;
        other.state_hash = Hash32([5; 32]);
        assert_ne!(header.hash(), other.hash());
    }

    #[test]
    fn outcome_messages_are_not_hashed_but_codes_are() {
        let refused = |code: &str, message: &str| TxResult {
            tx_hash: Hash32([9; 32]),
            outcome: Outcome::Refused {
                code: code.into(),
                message: message.into(),
                original: None,
            },
        };
        assert_eq!(
            outcomes_hash(&[refused("NOT_POSSESSOR", "a")]),
            outcomes_hash(&[refused("NOT_POSSESSOR", "b")])
        );
        assert_ne!(
            outcomes_hash(&[refused("NOT_POSSESSOR", "a")]),
            outcomes_hash(&[refused("NOT_CARRIER", "a")])
        );
    }
}
