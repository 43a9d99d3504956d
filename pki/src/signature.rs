//! X.509 signatures: which algorithms Silkline accepts, and how one is verified.
//!
//! One list ([`ALGORITHMS`]: Ed25519 and ECDSA P-256/SHA-256, `PROFILE.md`) and one way of
//! verifying (webpki's algorithm objects on aws-lc-rs), for every signature pki checks outside
//! a JWS: certificates in a chain (webpki's path building gets the same list), revocation lists
//! wherever they enter ([`crate::crl`]), and TLS handshakes ([`crate::tls`]). A list that one
//! of these accepted is one the others accept too.
//!
//! What it is not: a signer. Signing is rcgen's (certificates, lists) or [`crate::jws`]'s.

use rustls_pki_types::SignatureVerificationAlgorithm;
use x509_parser::objects::{oid_registry, oid2sn};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ED25519,
};
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo};

use crate::jws::Alg;

/// The signature algorithms accepted in certificates, revocation lists and TLS handshakes:
/// Ed25519 and ECDSA P-256 with SHA-256, as webpki verifies them on aws-lc-rs.
pub static ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::aws_lc_rs::ED25519,
    webpki::aws_lc_rs::ECDSA_P256_SHA256,
];

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature algorithm, or the signer's key, is not one of [`ALGORITHMS`].
    #[error("{0} is not accepted (only Ed25519 and ECDSA P-256/SHA-256)")]
    Unsupported(String),
    /// The signature algorithm does not fit the signer's key (an Ed25519 signature from a P-256
    /// key, say).
    #[error("a {signature} signature cannot come from {key}")]
    KeyMismatch { signature: String, key: String },
    /// The algorithm and key are accepted, but the signature does not verify.
    #[error("the signature does not verify")]
    Invalid,
}

/// The JWS algorithm a certificate's key is for, or what the key is if it is not accepted.
pub(crate) fn key_algorithm(spki: &SubjectPublicKeyInfo<'_>) -> Result<Alg, String> {
    let oid = &spki.algorithm.algorithm;
    if *oid == OID_SIG_ED25519 {
        return Ok(Alg::EdDSA);
    }
    if *oid == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        return match curve {
            Some(c) if c == OID_EC_P256 => Ok(Alg::ES256),
            Some(c) => Err(format!("EC key on curve {c}")),
            None => Err("EC key without a named curve".into()),
        };
    }
    Err(format!("key algorithm {}", name_of(oid)))
}

/// The accepted signature algorithm that `algorithm` (an X.509 signatureAlgorithm) names, with
/// the key algorithm it needs. Both accepted algorithms have absent parameters (RFC 8410 3,
/// RFC 5758 3.2): any parameters make it another algorithm identifier, as for webpki.
pub(crate) fn accepted(
    algorithm: &AlgorithmIdentifier<'_>,
) -> Result<(&'static dyn SignatureVerificationAlgorithm, Alg), SignatureError> {
    let oid = &algorithm.algorithm;
    let found = if *oid == OID_SIG_ED25519 {
        Some((webpki::aws_lc_rs::ED25519, Alg::EdDSA))
    } else if *oid == OID_SIG_ECDSA_WITH_SHA256 {
        Some((webpki::aws_lc_rs::ECDSA_P256_SHA256, Alg::ES256))
    } else {
        None
    };
    match found {
        Some(pair) if algorithm.parameters.is_none() => Ok(pair),
        Some(_) => Err(SignatureError::Unsupported(format!(
            "{} with parameters",
            name_of(oid)
        ))),
        None => Err(SignatureError::Unsupported(name_of(oid))),
    }
}

/// Checks that `signature` (as an X.509 structure carries it: ECDSA in its DER form) over
/// `signed` was made by `signer`'s key with `algorithm`, one of [`ALGORITHMS`].
pub(crate) fn verify_x509(
    signer: &SubjectPublicKeyInfo<'_>,
    algorithm: &AlgorithmIdentifier<'_>,
    signed: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    let (verifier, needs) = accepted(algorithm)?;
    let key = key_algorithm(signer).map_err(SignatureError::Unsupported)?;
    if key != needs {
        return Err(SignatureError::KeyMismatch {
            signature: name_of(&algorithm.algorithm),
            key: format!("{key:?} key"),
        });
    }
    verifier
        .verify_signature(&signer.subject_public_key.data, signed, signature)
        .map_err(|_| SignatureError::Invalid)
}

/// An algorithm's short name (`ecdsa-with-SHA384`, `sha256WithRSAEncryption`), or its dotted
/// OID when the registry does not know it.
fn name_of(oid: &x509_parser::oid_registry::Oid<'_>) -> String {
    oid2sn(oid, oid_registry())
        .map(str::to_owned)
        .unwrap_or_else(|_| oid.to_id_string())
}
