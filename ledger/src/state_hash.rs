//! The state hash: one SHA-256 per block, chained, over the writes the block made to the hashed
//! keys ([`keys::is_hashed`]). Every block header carries it, so replicas that applied the same
//! log and reached different states disagree at the first differing block.
//!
//! ```text
//! state_hash(0) = SHA-256("silkline-state-v1" || "genesis" || genesis_hash)
//! state_hash(h) = SHA-256("silkline-state-v1" || state_hash(h-1) || h (u64 BE) ||
//!                   for each key written by block h, in byte order, except m:*, blk/*, txn/*:
//!                     len(key) (u32 BE) || key || 0x00                      (removed)
//!                                              || 0x01 || SHA-256(value)    (written))
//! ```
//!
//! It costs O(changes in the block), not O(documents): a million documents do not slow a
//! block down. It detects divergence at the first differing block: if two replicas agree on
//! `state_hash(h-1)` they agree (up to SHA-256 collisions) on genesis and on every write of
//! blocks `1..h-1`, hence on the state before block `h`; any difference in what block `h` writes
//! -- a document's state (whose value hash is exactly its `doc_workflow` state hash), an index
//! entry, a nonce, a party, a CRL -- changes `state_hash(h)`, and the chaining carries the
//! difference into every later hash. It is a hash of the history of writes, not of the stored
//! bytes: corruption at rest is found by [`LedgerReader::content_digest`](crate::LedgerReader::content_digest) (O(state), for audits
//! and tests), not per block.

use std::collections::BTreeMap;

use crate::{Hash32, keys, sha256};

/// Domain tag of the state-hash chain.
const STATE_TAG: &[u8] = b"silkline-state-v1";

/// `state_hash(0)` (module docs).
pub(crate) fn genesis_state_hash(genesis_hash: &Hash32) -> Hash32 {
    let mut bytes = STATE_TAG.to_vec();
    bytes.extend_from_slice(b"genesis");
    bytes.extend_from_slice(&genesis_hash.0);
    Hash32(sha256(&bytes))
}

/// `state_hash(h)` from `state_hash(h-1)` and block `h`'s writes (module docs).
pub(crate) fn chain_state_hash(
    previous: &Hash32,
    height: u64,
    writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
) -> Hash32 {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(STATE_TAG);
    h.update(previous.0);
    h.update(height.to_be_bytes());
    for (key, value) in writes.iter().filter(|(k, _)| keys::is_hashed(k)) {
        let len = u32::try_from(key.len()).expect("keys are short");
        h.update(len.to_be_bytes());
        h.update(key);
        match value {
            None => h.update([0u8]),
            Some(v) => {
                h.update([1u8]);
                h.update(sha256(v));
            }
        }
    }
    Hash32(h.finalize().into())
}
