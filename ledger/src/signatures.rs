//! How a transaction's signature is decided, at the door and at apply (pki/PROFILE.md).
//!
//! - **At the door** (a receiving node's precheck), Ed25519 signatures are checked by RFC 8032's
//!   strict rule (aws-lc). A client never gets a signature outside that rule accepted.
//! - **At apply**, on every replica, Ed25519 signatures are decided by ZIP 215
//!   (`pki::jws::zip215`), under which one batch verification of a block's signatures agrees
//!   exactly with verifying each alone. Every replica applies the same rule, so a replica that
//!   verified a block in one batch and one that fell back to single checks cannot disagree.
//!   Everything the strict rule accepts, ZIP 215 accepts.
//! - **Once per node.** A signature that passed the strict check at the door is remembered
//!   ([`SignatureMemory`], bounded), and the same node's apply does not verify it again: the
//!   strict rule's acceptance implies ZIP 215's, so the answer is the one it would compute.
//!   The other replicas, which never saw the envelope at their door, verify it.
//!
//! ES256 has one rule (aws-lc's), checked singly wherever it is checked.

use std::collections::HashMap;
use std::sync::Mutex;

use pki::jws::{Alg, Ed25519Rule, ParsedJws, zip215};

use super::Hash32;
use super::trust::Envelope;

/// How many good signatures a node remembers from its door until its apply, per generation
/// (two generations: between 4,096 and 8,192 in all, ~1 MiB). The window between a precheck
/// and the apply of its block is at most the requests in flight (64 x 32 in the benchmark);
/// one forgotten is verified again, nothing worse.
pub const REMEMBERED_PER_GENERATION: usize = 4096;

/// The good signatures this node checked at its door: transaction hash (SHA-256 of the signing
/// input) to the signature bytes that verified over it. A different signature over the same
/// input (a re-encoding, a second signature by the same key) is not remembered by it.
#[derive(Debug, Default)]
pub struct SignatureMemory {
    generations: Mutex<Generations>,
}

#[derive(Debug, Default)]
struct Generations {
    current: HashMap<Hash32, Vec<u8>>,
    previous: HashMap<Hash32, Vec<u8>>,
}

impl SignatureMemory {
    /// Remembers a signature that verified over the input whose hash is `tx_hash`.
    pub fn remember(&self, tx_hash: Hash32, signature: &[u8]) {
        let mut g = self.lock();
        if g.current.len() >= REMEMBERED_PER_GENERATION {
            g.previous = std::mem::take(&mut g.current);
        }
        g.current.insert(tx_hash, signature.to_vec());
    }

    /// Whether exactly this signature over `tx_hash`'s input verified here.
    pub fn knows(&self, tx_hash: &Hash32, signature: &[u8]) -> bool {
        let g = self.lock();
        g.current
            .get(tx_hash)
            .or_else(|| g.previous.get(tx_hash))
            .is_some_and(|s| s.as_slice() == signature)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // A panic elsewhere while holding it leaves two maps of good signatures: still true.
        self.generations.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What the checks of one transaction know of its signature, and by which rule they decide it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SignatureCheck<'a> {
    /// At the door: the strict rule, and a good signature remembered under the envelope's
    /// transaction hash (computed once, when it was parsed).
    Door {
        memory: &'a SignatureMemory,
        tx_hash: Hash32,
    },
    /// At apply: already verified under ZIP 215 (or strictly, at this node's door).
    Verified,
    /// At apply: verify now, under ZIP 215.
    Apply,
}

impl SignatureCheck<'_> {
    /// Verifies (or accepts as verified) the envelope's signature, then its payload's form.
    pub(crate) fn verify(
        self,
        parsed: ParsedJws,
    ) -> Result<pki::jws::VerifiedJws, pki::jws::JwsError> {
        match self {
            SignatureCheck::Door { memory, tx_hash } => {
                let signature = parsed.signature.clone();
                let verified = parsed.verify_by(Ed25519Rule::Strict)?;
                memory.remember(tx_hash, &signature);
                Ok(verified)
            }
            SignatureCheck::Verified => parsed.signature_verified(),
            SignatureCheck::Apply => parsed.verify_by(Ed25519Rule::Zip215),
        }
    }
}

/// For each envelope of a block, whether its signature is already known good, so that its
/// checks need not verify it: the Ed25519 signatures this node remembers from its door, and
/// the others verified together in one ZIP 215 batch. When the batch fails, each of its
/// signatures is marked unknown and its own check finds which (the answer each gets is the
/// single verification's, which the batch's agrees with). ES256 signatures and envelopes that
/// did not parse are unknown.
pub(crate) fn verify_ahead(envelopes: &[Envelope<'_>], memory: &SignatureMemory) -> Vec<bool> {
    let mut known = vec![false; envelopes.len()];
    let mut batch = Vec::new();
    for (i, envelope) in envelopes.iter().enumerate() {
        let Ok((_, parsed)) = &envelope.parsed else {
            continue;
        };
        if parsed.alg != Alg::EdDSA {
            continue;
        }
        if memory.knows(&envelope.tx_hash, &parsed.signature) {
            known[i] = true;
        } else {
            batch.push(i);
        }
    }
    // One signature alone gains nothing from a batch: its check verifies it.
    if batch.len() >= 2 {
        let items = batch.iter().map(|&i| {
            let (_, parsed) = envelopes[i].parsed.as_ref().expect("filtered above");
            (
                parsed.leaf_key.bytes.as_slice(),
                parsed.signing_input.as_slice(),
                parsed.signature.as_slice(),
            )
        });
        if zip215::verify_batch(items) {
            for i in batch {
                known[i] = true;
            }
        }
    }
    known
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_knows_only_the_signature_it_was_given() {
        let memory = SignatureMemory::default();
        let tx = Hash32([7; 32]);
        memory.remember(tx, b"good");
        assert!(memory.knows(&tx, b"good"));
        assert!(
            !memory.knows(&tx, b"other"),
            "another signature, same input"
        );
        assert!(!memory.knows(&Hash32([8; 32]), b"good"), "another input");
    }

    #[test]
    fn memory_is_bounded_to_two_generations() {
        let memory = SignatureMemory::default();
        let total = 2 * REMEMBERED_PER_GENERATION + 1;
        for n in 0..total {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&(n as u64).to_be_bytes());
            memory.remember(Hash32(h), b"s");
        }
        let g = memory.lock();
        assert!(g.current.len() + g.previous.len() <= 2 * REMEMBERED_PER_GENERATION);
        let mut first = [0u8; 32];
        first[..8].copy_from_slice(&0u64.to_be_bytes());
        drop(g);
        assert!(
            !memory.knows(&Hash32(first), b"s"),
            "the oldest is forgotten"
        );
        let mut last = [0u8; 32];
        last[..8].copy_from_slice(&((total - 1) as u64).to_be_bytes());
        assert!(memory.knows(&Hash32(last), b"s"));
    }
}
