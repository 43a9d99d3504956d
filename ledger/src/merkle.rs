//! The Merkle root of a block's transactions, RFC 6962 (Certificate Transparency) style.
//!
//! `MTH({}) = SHA-256()`, `MTH({d}) = SHA-256(0x00 || d)`, and for `n > 1` leaves
//! `MTH(D[n]) = SHA-256(0x01 || MTH(D[0..k]) || MTH(D[k..n]))` with `k` the largest power of two
//! smaller than `n`. The 0x00/0x01 prefixes separate leaves from inner nodes, so no inner node can
//! be passed off as a leaf (the second-preimage attack on naive Merkle trees); the split rule
//! makes the tree shape a function of `n` alone, without duplicating odd leaves (which would let
//! `[a, b, c]` and `[a, b, c, c]` share a root, as in Bitcoin). The leaves here are the
//! transactions' hashes, so a client holding its transaction hash can be given an inclusion proof.

use super::Hash32;

/// Prefix of a leaf hash (RFC 6962 section 2.1).
const LEAF_PREFIX: u8 = 0x00;
/// Prefix of an inner node hash (RFC 6962 section 2.1).
const NODE_PREFIX: u8 = 0x01;

/// The RFC 6962 Merkle tree hash of `leaves`, in order.
pub fn merkle_root(leaves: &[Hash32]) -> Hash32 {
    use sha2::Digest as _;
    match leaves {
        [] => Hash32(sha2::Sha256::digest([]).into()),
        [leaf] => {
            let mut h = sha2::Sha256::new();
            h.update([LEAF_PREFIX]);
            h.update(leaf.0);
            Hash32(h.finalize().into())
        }
        _ => {
            let k = split_point(leaves.len());
            let left = merkle_root(&leaves[..k]);
            let right = merkle_root(&leaves[k..]);
            let mut h = sha2::Sha256::new();
            h.update([NODE_PREFIX]);
            h.update(left.0);
            h.update(right.0);
            Hash32(h.finalize().into())
        }
    }
}

/// The largest power of two strictly smaller than `n` (`n >= 2`). The recursion depth is
/// therefore `ceil(log2 n)`: at most 7 for a batch of 64 transactions.
fn split_point(n: usize) -> usize {
    debug_assert!(n >= 2);
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Leaf `i` of the vectors: SHA-256 of the ASCII decimal `i` ("0", "1", ...).
    fn leaf(i: usize) -> Hash32 {
        Hash32(super::super::sha256(i.to_string().as_bytes()))
    }

    fn root_hex(n: usize) -> String {
        let leaves: Vec<Hash32> = (0..n).map(leaf).collect();
        merkle_root(&leaves).to_string()
    }

    /// Vectors computed independently (Python `hashlib`, the RFC 6962 definition written out).
    #[test]
    fn rfc6962_vectors() {
        assert_eq!(
            root_hex(0),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(root_hex(1), VECTOR_1);
        assert_eq!(root_hex(2), VECTOR_2);
        assert_eq!(root_hex(3), VECTOR_3);
        assert_eq!(root_hex(5), VECTOR_5);
    }

    #[test]
    fn split_points() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(64), 32);
        assert_eq!(split_point(65), 64);
    }

    #[test]
    fn odd_leaf_is_not_duplicated() {
        let three: Vec<Hash32> = (0..3).map(leaf).collect();
        let four = vec![leaf(0), leaf(1), leaf(2), leaf(2)];
        assert_ne!(merkle_root(&three), merkle_root(&four));
    }

    const VECTOR_1: &str = "13a77175e35eb1d9da91ee14df0d7772cea71289800206e2b45c882ecb06efbf";
    const VECTOR_2: &str = "bbb441530bdded54e6e2bfcdc829819ff39b30768eb9f023071dffc16b410f10";
    const VECTOR_3: &str = "8be871f13785b4c81a1700459c76ac2b3ae2caebb7876c376e223c6adff98c47";
    const VECTOR_5: &str = "4e23fb40d8876f1299cca9b3c28432a01b11d1a20126606914612892ff2e09a7";
}
