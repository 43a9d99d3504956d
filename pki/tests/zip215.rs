//! The two Ed25519 rules (`pki::jws::Ed25519Rule`): strict RFC 8032 at the door, ZIP 215 at
//! apply, and ZIP 215's batch verification agreeing with its single verification.
//!
//! The crafted case: a public key `A = aB + T` with `T` of order 2. A signature made with `a`
//! satisfies the cofactored equation `8SB = 8R + 8kA` but not the cofactorless `SB = R + kA`
//! whenever `k` is odd: ZIP 215 accepts it and the strict rule refuses it.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::scalar::Scalar;
use pki::jws::{self, Alg, JwsError, zip215};
use sha2::{Digest, Sha512};

/// `(public key, signature)` over `message` by the key with a torsion component.
fn torsion_signed(message: &[u8]) -> ([u8; 32], [u8; 64]) {
    // (0, -1): y = p - 1, the point of order 2.
    let mut order_two = [0xffu8; 32];
    order_two[0] = 0xec;
    order_two[31] = 0x7f;
    let t = CompressedEdwardsY(order_two).decompress().expect("a point");
    let a = Scalar::from_bytes_mod_order([0x2a; 32]);
    let public = (a * B + t).compress().to_bytes();
    let r = Scalar::from_bytes_mod_order([0x17; 32]);
    let big_r = (r * B).compress().to_bytes();
    let digest: [u8; 64] = Sha512::new()
        .chain_update(big_r)
        .chain_update(public)
        .chain_update(message)
        .finalize()
        .into();
    let k = Scalar::from_bytes_mod_order_wide(&digest);
    let s = r + k * a;
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&big_r);
    signature[32..].copy_from_slice(s.as_bytes());
    (public, signature)
}

fn strict(key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), JwsError> {
    jws::verify_signature(Alg::EdDSA, key, message, signature)
}

/// A message for which the crafted signature's `k` is odd: the strict rule refuses it.
fn strict_refused() -> (Vec<u8>, [u8; 32], [u8; 64]) {
    (0u32..64)
        .map(|n| format!("message {n}").into_bytes())
        .find_map(|m| {
            let (key, sig) = torsion_signed(&m);
            strict(&key, &m, &sig).is_err().then_some((m, key, sig))
        })
        .expect("half of all messages give an odd k")
}

#[test]
fn zip215_accepts_a_cofactored_signature_the_strict_rule_refuses() {
    let (message, key, signature) = strict_refused();
    assert!(matches!(
        strict(&key, &message, &signature),
        Err(JwsError::BadSignature)
    ));
    zip215::verify(&key, &message, &signature).expect("ZIP 215 accepts it");
}

#[test]
fn zip215_accepts_whatever_the_strict_rule_accepts() {
    for n in 0u8..16 {
        let pair = Ed25519KeyPair::from_seed_unchecked(&[n; 32]).unwrap();
        let message = format!("ordinary {n}");
        let signature = pair.sign(message.as_bytes());
        let key = pair.public_key().as_ref();
        strict(key, message.as_bytes(), signature.as_ref()).unwrap();
        zip215::verify(key, message.as_bytes(), signature.as_ref()).unwrap();
    }
}

#[test]
fn zip215_batch_agrees_with_single_verification() {
    let pairs: Vec<Ed25519KeyPair> = (0u8..8)
        .map(|n| Ed25519KeyPair::from_seed_unchecked(&[n + 100; 32]).unwrap())
        .collect();
    let messages: Vec<Vec<u8>> = (0..8).map(|n| format!("batch {n}").into_bytes()).collect();
    let keys: Vec<Vec<u8>> = pairs
        .iter()
        .map(|p| p.public_key().as_ref().to_vec())
        .collect();
    let signatures: Vec<Vec<u8>> = pairs
        .iter()
        .zip(&messages)
        .map(|(p, m)| p.sign(m).as_ref().to_vec())
        .collect();
    let (crafted_message, crafted_key, crafted_signature) = strict_refused();

    let batch = |extra: Option<(&[u8], &[u8], &[u8])>| {
        let items = keys
            .iter()
            .zip(&messages)
            .zip(&signatures)
            .map(|((k, m), s)| (k.as_slice(), m.as_slice(), s.as_slice()))
            .chain(extra);
        zip215::verify_batch(items)
    };
    assert!(batch(None));
    // The crafted signature verifies alone under ZIP 215, so it verifies in a batch too: the
    // disagreement a cofactored batch and a cofactorless single check would have.
    assert!(batch(Some((
        &crafted_key,
        &crafted_message,
        &crafted_signature
    ))));

    // One bad signature fails the batch, and only it fails alone.
    let mut bad = signatures[3].clone();
    bad[40] ^= 1;
    assert!(!batch(Some((&keys[3], &messages[3], &bad))));
    assert!(zip215::verify(&keys[3], &messages[3], &bad).is_err());
    assert!(zip215::verify_batch(std::iter::empty()), "an empty batch");
}

#[test]
fn both_rules_refuse_a_non_canonical_s_and_malformed_input() {
    let pair = Ed25519KeyPair::from_seed_unchecked(&[9; 32]).unwrap();
    let message = b"malleable";
    let mut signature = pair.sign(message).as_ref().to_vec();
    // S + l: the same point equation, a non-canonical scalar.
    let l: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = signature[32 + i] as u16 + l[i] as u16 + carry;
        signature[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    let key = pair.public_key().as_ref();
    assert!(strict(key, message, &signature).is_err());
    assert!(zip215::verify(key, message, &signature).is_err());
    assert!(
        zip215::verify(&key[..31], message, &signature).is_err(),
        "a short key"
    );
    assert!(
        zip215::verify(key, message, &signature[..63]).is_err(),
        "a short signature"
    );
    assert!(!zip215::verify_batch([(
        key,
        message.as_slice(),
        &signature[..63]
    )]));
}
