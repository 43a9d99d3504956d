//! JWS compact serialization (RFC 7515) as PINT uses it: `ES256`, `PS256`, `RS256` and `EdDSA`,
//! verified against the certificates a platform is trusted with ([`TrustedPlatforms`]).
//!
//! Unlike `pki::jws` (Silkline's own transactions), the payload need not be canonical JSON: other
//! platforms sign whatever serialization their JOSE library produces, and the bytes signed are
//! the bytes kept. What this module is not: a general JOSE library. Headers that change how the
//! payload is read (`crit`, `b64`) or point verification at a key outside the trust store (`jku`,
//! `jwk`, `x5u`) are refused.
//!
//! # How a platform's signature is trusted
//!
//! A platform code maps to a list of X.509 certificates (from the on-ledger consortium
//! configuration). A JWS from platform P verifies if either
//! 1. **pinned**: its key is the key of one of P's certificates. The certificate is picked by the
//!    `x5t#S256` header, else by `kid` when it equals a certificate's `x5t#S256` thumbprint, else
//!    by the `x5c` leaf when that is one of P's certificates, else each of P's certificates is
//!    tried. This is how most platforms publish a signing certificate (often self-signed).
//! 2. **chained**: its `x5c` chain (leaf first) validates with rustls-webpki to one of P's
//!    certificates used as a trust anchor, at the given time, for any of the extended key
//!    usages clientAuth or serverAuth or none declared. This is how Silkline networks trust each
//!    other: P's certificates are its members' root CAs, and Silkline signs with Ed25519
//!    node or user keys whose chain rides in `x5c`.
//!
//! In both cases the certificate that vouches for the key must be valid at the given time (the
//! caller chooses it: see `check` for which time each signature is checked at). The
//! signing key's algorithm must fit `alg`: an EC P-256 key for `ES256`, an RSA key of 2048 to
//! 8192 bits for `PS256`/`RS256`, an Ed25519 key for `EdDSA`.

use std::collections::BTreeMap;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair as _, RsaKeyPair, UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, SignatureVerificationAlgorithm, UnixTime};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use webpki::{EndEntityCert, KeyUsage};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519,
};

/// Largest compact JWS accepted, in bytes. A chain entry holds a few transactions and an
/// issuance manifest; a manifest lists documents by checksum. With an `x5c` of a few
/// certificates, 256 KiB is far more than any honest message and bounds what one parses.
pub const JWS_BYTES_MAX: usize = 256 * 1024;
/// Largest decoded protected header.
pub const HEADER_BYTES_MAX: usize = 32 * 1024;
/// Most certificates in `x5c`.
pub const X5C_CERTS_MAX: usize = 6;

/// Header members that would change how the payload is read or where the key comes from.
const FORBIDDEN_HEADER_MEMBERS: [&str; 5] = ["crit", "b64", "jku", "jwk", "x5u"];

/// Signature algorithms webpki may meet in another platform's certificate chain.
static CHAIN_ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::aws_lc_rs::ED25519,
    webpki::aws_lc_rs::ECDSA_P256_SHA256,
    webpki::aws_lc_rs::ECDSA_P256_SHA384,
    webpki::aws_lc_rs::ECDSA_P384_SHA256,
    webpki::aws_lc_rs::ECDSA_P384_SHA384,
    webpki::aws_lc_rs::ECDSA_P521_SHA512,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA384,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA512,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
];

/// The JWS algorithms PINT messages may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// ECDSA P-256 / SHA-256, signature `r || s` (RFC 7518 3.4).
    ES256,
    /// RSASSA-PSS / SHA-256, MGF1 SHA-256, salt 32 (RFC 7518 3.5).
    PS256,
    /// RSASSA-PKCS1-v1_5 / SHA-256.
    RS256,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

impl Alg {
    /// The `alg` header value.
    pub fn name(self) -> &'static str {
        match self {
            Alg::ES256 => "ES256",
            Alg::PS256 => "PS256",
            Alg::RS256 => "RS256",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// The algorithm an `alg` header names, if accepted.
    pub fn from_name(name: &str) -> Option<Alg> {
        match name {
            "ES256" => Some(Alg::ES256),
            "PS256" => Some(Alg::PS256),
            "RS256" => Some(Alg::RS256),
            "EdDSA" => Some(Alg::EdDSA),
            _ => None,
        }
    }

    fn key_kind(self) -> KeyKind {
        match self {
            Alg::ES256 => KeyKind::P256,
            Alg::PS256 | Alg::RS256 => KeyKind::Rsa,
            Alg::EdDSA => KeyKind::Ed25519,
        }
    }
}

/// Why a JWS was not accepted. Each variant names the rule (see [`JwsError::rule`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("the JWS is {len} bytes, more than the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("not JWS compact serialization: {0}")]
    Malformed(String),
    #[error("protected header: {0}")]
    BadHeader(String),
    #[error("alg {0:?} is not accepted (ES256, PS256, RS256, EdDSA)")]
    UnsupportedAlg(String),
    #[error("platform {0:?} is not trusted: no certificate is known for it")]
    UnknownPlatform(String),
    #[error("no certificate of platform {platform:?} vouches for the signing key: {detail}")]
    UntrustedKey { platform: String, detail: String },
    #[error("the signature does not verify")]
    BadSignature,
    #[error("certificate: {0}")]
    BadCertificate(String),
    #[error("key: {0}")]
    BadKey(String),
}

impl JwsError {
    /// A stable code for the rule that refused the JWS.
    pub fn rule(&self) -> &'static str {
        match self {
            JwsError::TooLarge { .. } => "PINT_JWS_TOO_LARGE",
            JwsError::Malformed(_) => "PINT_JWS_MALFORMED",
            JwsError::BadHeader(_) => "PINT_JWS_BAD_HEADER",
            JwsError::UnsupportedAlg(_) => "PINT_JWS_UNSUPPORTED_ALG",
            JwsError::UnknownPlatform(_) => "PINT_JWS_UNKNOWN_PLATFORM",
            JwsError::UntrustedKey { .. } => "PINT_JWS_UNTRUSTED_KEY",
            JwsError::BadSignature => "PINT_JWS_BAD_SIGNATURE",
            JwsError::BadCertificate(_) => "PINT_JWS_BAD_CERTIFICATE",
            JwsError::BadKey(_) => "PINT_JWS_BAD_KEY",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    P256,
    Rsa,
    Ed25519,
}

/// A certificate's public key as aws-lc-rs verifies with it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CertKey {
    kind: KeyKind,
    /// P-256: the uncompressed point; RSA: the PKCS#1 `RSAPublicKey` DER; Ed25519: 32 bytes.
    bytes: Vec<u8>,
}

/// What [`certificate_info`] reads from a certificate.
struct CertInfo {
    key: Option<CertKey>,
    not_before: i64,
    not_after: i64,
}

fn certificate_info(der: &[u8]) -> Result<CertInfo, JwsError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| JwsError::BadCertificate(format!("does not parse: {e}")))?;
    let spki = cert.public_key();
    let oid = &spki.algorithm.algorithm;
    let kind = if *oid == OID_SIG_ED25519 {
        Some(KeyKind::Ed25519)
    } else if *oid == OID_PKCS1_RSAENCRYPTION {
        Some(KeyKind::Rsa)
    } else if *oid == OID_KEY_TYPE_EC_PUBLIC_KEY
        && spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .is_some_and(|c| c == OID_EC_P256)
    {
        Some(KeyKind::P256)
    } else {
        None
    };
    Ok(CertInfo {
        key: kind.map(|kind| CertKey {
            kind,
            bytes: spki.subject_public_key.data.to_vec(),
        }),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// One certificate a platform is trusted with.
#[derive(Debug, Clone)]
struct TrustedCert {
    der: CertificateDer<'static>,
    /// SHA-256 of the DER (`x5t#S256`).
    thumbprint: [u8; 32],
    /// `None` if the key is of a kind no accepted `alg` uses (it may still anchor chains).
    key: Option<CertKey>,
    not_before: i64,
    not_after: i64,
}

/// Which platforms this network trusts, and with which certificates (see the module docs for
/// the two ways a certificate vouches for a key). Built by the ledger from its consortium
/// configuration at each block; pure data.
#[derive(Debug, Clone, Default)]
pub struct TrustedPlatforms {
    platforms: BTreeMap<String, Vec<TrustedCert>>,
}

impl TrustedPlatforms {
    /// No platform trusted.
    pub fn new() -> TrustedPlatforms {
        TrustedPlatforms::default()
    }

    /// Trusts `platform` with one more certificate (DER).
    pub fn add_certificate_der(&mut self, platform: &str, der: &[u8]) -> Result<(), JwsError> {
        let info = certificate_info(der)?;
        self.platforms
            .entry(platform.to_owned())
            .or_default()
            .push(TrustedCert {
                der: CertificateDer::from(der.to_vec()),
                thumbprint: Sha256::digest(der).into(),
                key: info.key,
                not_before: info.not_before,
                not_after: info.not_after,
            });
        Ok(())
    }

    /// Trusts `platform` with every `CERTIFICATE` in `pem`; returns how many.
    pub fn add_certificates_pem(&mut self, platform: &str, pem: &str) -> Result<usize, JwsError> {
        let certs = certificates_from_pem(pem)?;
        for c in &certs {
            self.add_certificate_der(platform, c.as_ref())?;
        }
        Ok(certs.len())
    }

    /// A trust store from `(platform code, certificate DER)` pairs.
    pub fn from_der<'a>(
        certs: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<TrustedPlatforms, JwsError> {
        let mut t = TrustedPlatforms::new();
        for (platform, der) in certs {
            t.add_certificate_der(platform, der)?;
        }
        Ok(t)
    }

    /// Whether any certificate is known for `platform`.
    pub fn is_trusted(&self, platform: &str) -> bool {
        self.platforms.get(platform).is_some_and(|c| !c.is_empty())
    }

    /// The trusted platform codes.
    pub fn platforms(&self) -> impl Iterator<Item = &str> {
        self.platforms.keys().map(String::as_str)
    }

    /// Verifies `compact` as signed by `platform` at `at_unix_s` and returns its payload.
    pub fn verify(
        &self,
        platform: &str,
        compact: &str,
        at_unix_s: i64,
    ) -> Result<VerifiedJws, JwsError> {
        let parsed = parse(compact)?;
        self.verify_parsed(platform, &parsed, at_unix_s)?;
        Ok(VerifiedJws {
            alg: parsed.alg,
            payload: parsed.payload,
        })
    }

    /// The signature check of [`TrustedPlatforms::verify`] on a parsed JWS.
    pub fn verify_parsed(
        &self,
        platform: &str,
        jws: &ParsedJws,
        at_unix_s: i64,
    ) -> Result<(), JwsError> {
        let certs = self
            .platforms
            .get(platform)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| JwsError::UnknownPlatform(platform.to_owned()))?;
        let valid_at = |c: &TrustedCert| c.not_before <= at_unix_s && at_unix_s <= c.not_after;
        let kind = jws.alg.key_kind();

        // Pinned: pick the certificate by thumbprint if the header names one of P's.
        let known = |t: &[u8; 32]| certs.iter().any(|c| c.thumbprint == *t);
        let kid_thumbprint: Option<[u8; 32]> = jws
            .kid
            .as_deref()
            .and_then(|k| URL_SAFE_NO_PAD.decode(k).ok())
            .and_then(|b| <[u8; 32]>::try_from(b).ok());
        let leaf_thumbprint: Option<[u8; 32]> =
            jws.x5c.first().map(|l| Sha256::digest(l.as_ref()).into());
        let pick = [jws.x5t_s256, kid_thumbprint, leaf_thumbprint]
            .into_iter()
            .flatten()
            .find(known);
        let pinned: Vec<&TrustedCert> = match pick {
            Some(t) => certs.iter().filter(|c| c.thumbprint == t).collect(),
            // Named by a thumbprint none of P's certificates has, and no chain to follow.
            None if jws.x5c.is_empty() && jws.x5t_s256.is_some() => Vec::new(),
            None if jws.x5c.is_empty() => certs.iter().collect(),
            None => Vec::new(),
        };
        let mut saw_key = false;
        for cert in &pinned {
            let Some(key) = cert.key.as_ref().filter(|k| k.kind == kind) else {
                continue;
            };
            saw_key = true;
            if verify_with_key(jws.alg, key, &jws.signing_input, &jws.signature).is_ok() {
                if !valid_at(cert) {
                    return Err(JwsError::UntrustedKey {
                        platform: platform.to_owned(),
                        detail: format!(
                            "the pinned certificate is valid from {} to {} (unix seconds), not at {at_unix_s}",
                            cert.not_before, cert.not_after
                        ),
                    });
                }
                return Ok(());
            }
        }
        if pick.is_some() || jws.x5c.is_empty() {
            return Err(if saw_key {
                JwsError::BadSignature
            } else {
                JwsError::UntrustedKey {
                    platform: platform.to_owned(),
                    detail: format!(
                        "none of its certificates holds a key for {}",
                        jws.alg.name()
                    ),
                }
            });
        }

        // Chained: the x5c leaf's key signed, and the chain reaches one of P's certificates.
        let leaf = &jws.x5c[0];
        let info = certificate_info(leaf.as_ref())?;
        let key = info.key.filter(|k| k.kind == kind).ok_or_else(|| {
            JwsError::BadHeader(format!("the x5c leaf holds no {} key", jws.alg.name()))
        })?;
        verify_with_key(jws.alg, &key, &jws.signing_input, &jws.signature)?;
        let anchors: Vec<_> = certs
            .iter()
            .filter_map(|c| webpki::anchor_from_trusted_cert(&c.der).ok())
            .collect();
        let end_entity = EndEntityCert::try_from(leaf)
            .map_err(|e| JwsError::BadCertificate(format!("x5c leaf: {e:?}")))?;
        let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(at_unix_s).unwrap_or(0),
        ));
        let mut last_error = String::new();
        for usage in [
            KeyUsage::client_auth(),
            KeyUsage::server_auth(),
            // Certificates that declare no extended key usage at all.
            KeyUsage::required_if_present(&[]),
        ] {
            match end_entity.verify_for_usage(
                CHAIN_ALGORITHMS,
                &anchors,
                &jws.x5c[1..],
                at,
                usage,
                None,
                None,
            ) {
                Ok(_) => return Ok(()),
                Err(e) => last_error = format!("{e:?}"),
            }
        }
        Err(JwsError::UntrustedKey {
            platform: platform.to_owned(),
            detail: format!("the x5c chain does not validate to its certificates: {last_error}"),
        })
    }
}

/// The certificates in a PEM text, in order.
pub fn certificates_from_pem(pem: &str) -> Result<Vec<CertificateDer<'static>>, JwsError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| JwsError::BadCertificate(format!("PEM: {e:?}")))?;
    if certs.is_empty() {
        return Err(JwsError::BadCertificate(
            "no CERTIFICATE in the PEM text".into(),
        ));
    }
    Ok(certs)
}

fn verify_with_key(
    alg: Alg,
    key: &CertKey,
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), JwsError> {
    let algorithm: &dyn signature::VerificationAlgorithm = match alg {
        Alg::ES256 => &ECDSA_P256_SHA256_FIXED,
        Alg::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Alg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Alg::EdDSA => &ED25519,
    };
    UnparsedPublicKey::new(algorithm, &key.bytes)
        .verify(signing_input, signature)
        .map_err(|_| JwsError::BadSignature)
}

/// A JWS split and decoded; its signature not yet checked.
#[derive(Debug, Clone)]
pub struct ParsedJws {
    pub alg: Alg,
    pub kid: Option<String>,
    pub x5t_s256: Option<[u8; 32]>,
    /// `x5c`, leaf first (may be empty).
    pub x5c: Vec<CertificateDer<'static>>,
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`.
    pub signing_input: Vec<u8>,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

/// A JWS whose signature a trusted platform's certificate vouched for.
#[derive(Debug, Clone)]
pub struct VerifiedJws {
    pub alg: Alg,
    /// The payload bytes, as signed.
    pub payload: Vec<u8>,
}

/// The payload of a compact JWS, decoded but NOT verified: only to learn which platform claims
/// to have signed it, before verifying with that platform's certificates.
pub fn unverified_payload(compact: &str) -> Result<Vec<u8>, JwsError> {
    Ok(parse(compact)?.payload)
}

/// Splits and decodes a compact JWS, enforcing the structural rules and limits.
pub fn parse(compact: &str) -> Result<ParsedJws, JwsError> {
    if compact.len() > JWS_BYTES_MAX {
        return Err(JwsError::TooLarge {
            len: compact.len(),
            max: JWS_BYTES_MAX,
        });
    }
    let mut parts = compact.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed(
            "expected three base64url parts separated by '.'".into(),
        ));
    };
    let decode = |part: &str, what: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|e| JwsError::Malformed(format!("{what} is not unpadded base64url: {e}")))
    };
    let header_bytes = decode(h, "header")?;
    if header_bytes.len() > HEADER_BYTES_MAX {
        return Err(JwsError::BadHeader(format!(
            "{} bytes, more than {HEADER_BYTES_MAX}",
            header_bytes.len()
        )));
    }
    let payload = decode(p, "payload")?;
    let signature = decode(s, "signature")?;
    let header: Map<String, Value> = match serde_json::from_slice(&header_bytes) {
        Ok(Value::Object(m)) => m,
        _ => return Err(JwsError::BadHeader("not a JSON object".into())),
    };
    if let Some(m) = FORBIDDEN_HEADER_MEMBERS
        .iter()
        .find(|m| header.contains_key(**m))
    {
        return Err(JwsError::BadHeader(format!("member {m:?} is not accepted")));
    }
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| JwsError::BadHeader("alg is missing or not a string".into()))?;
    let alg = Alg::from_name(alg_name).ok_or_else(|| JwsError::UnsupportedAlg(alg_name.into()))?;
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(JwsError::BadHeader("kid is not a string".into())),
    };
    let x5t_s256 = match header.get("x5t#S256") {
        None => None,
        Some(Value::String(t)) => Some(
            URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    JwsError::BadHeader("x5t#S256 is not a SHA-256 thumbprint".into())
                })?,
        ),
        Some(_) => return Err(JwsError::BadHeader("x5t#S256 is not a string".into())),
    };
    let x5c = match header.get("x5c") {
        None => Vec::new(),
        Some(Value::Array(items)) => {
            if items.is_empty() || items.len() > X5C_CERTS_MAX {
                return Err(JwsError::BadHeader(format!(
                    "x5c holds {} certificates (1 to {X5C_CERTS_MAX})",
                    items.len()
                )));
            }
            items
                .iter()
                .map(|v| {
                    v.as_str()
                        // RFC 7515 4.1.6: base64 (not base64url) DER.
                        .and_then(|s| STANDARD.decode(s).ok())
                        .map(CertificateDer::from)
                        .ok_or_else(|| JwsError::BadHeader("x5c holds a non-base64 entry".into()))
                })
                .collect::<Result<_, _>>()?
        }
        Some(_) => return Err(JwsError::BadHeader("x5c is not an array".into())),
    };
    if let (Some(t), Some(leaf)) = (x5t_s256, x5c.first()) {
        let leaf_digest: [u8; 32] = Sha256::digest(leaf.as_ref()).into();
        if leaf_digest != t {
            return Err(JwsError::BadHeader(
                "x5t#S256 is not the thumbprint of the x5c leaf".into(),
            ));
        }
    }
    Ok(ParsedJws {
        alg,
        kid,
        x5t_s256,
        x5c,
        signing_input: compact.as_bytes()[..h.len() + 1 + p.len()].to_vec(),
        payload,
        signature,
    })
}

/// A private key and its certificate chain (leaf first): how a platform signs its chain
/// entries, manifests and answers. Ed25519 (Silkline's node and user keys), ECDSA P-256, or RSA
/// (RS256).
pub struct Signer {
    key: SignerKey,
    chain: Vec<CertificateDer<'static>>,
    /// Whether the chain rides in `x5c` (chained trust) or only its leaf's thumbprint
    /// (`x5t#S256`, for a receiver that pinned the leaf).
    send_x5c: bool,
}

enum SignerKey {
    Ed25519(Ed25519KeyPair),
    P256(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("alg", &self.alg())
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer from a PKCS#8 private key (Ed25519, ECDSA P-256 or RSA) and its chain, leaf
    /// first. The leaf must certify the key.
    pub fn from_pkcs8(
        pkcs8_der: &[u8],
        chain: Vec<CertificateDer<'static>>,
    ) -> Result<Signer, JwsError> {
        let key = if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8_der) {
            SignerKey::Ed25519(k)
        } else if let Ok(k) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8_der)
        {
            SignerKey::P256(k)
        } else if let Ok(k) = RsaKeyPair::from_pkcs8(pkcs8_der) {
            SignerKey::Rsa(k)
        } else {
            return Err(JwsError::BadKey(
                "not a PKCS#8 Ed25519, ECDSA P-256 or RSA private key".into(),
            ));
        };
        if chain.is_empty() || chain.len() > X5C_CERTS_MAX {
            return Err(JwsError::BadCertificate(format!(
                "a signer needs 1 to {X5C_CERTS_MAX} certificates, got {}",
                chain.len()
            )));
        }
        let signer = Signer {
            key,
            chain,
            send_x5c: true,
        };
        let leaf = certificate_info(signer.chain[0].as_ref())?;
        let own = match &signer.key {
            SignerKey::Ed25519(k) => k.public_key().as_ref().to_vec(),
            SignerKey::P256(k) => k.public_key().as_ref().to_vec(),
            SignerKey::Rsa(k) => k.public_key().as_ref().to_vec(),
        };
        if leaf.key.as_ref().map(|k| &k.bytes) != Some(&own) {
            return Err(JwsError::BadKey(
                "the private key does not match the leaf certificate".into(),
            ));
        }
        Ok(signer)
    }

    /// A signer from PEM: a PKCS#8 `PRIVATE KEY` and one or more `CERTIFICATE`s, leaf first.
    pub fn from_pem(key_pem: &str, chain_pem: &str) -> Result<Signer, JwsError> {
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| JwsError::BadKey(format!("PEM: {e:?}")))?;
        let PrivateKeyDer::Pkcs8(key) = key else {
            return Err(JwsError::BadKey("the private key is not PKCS#8".into()));
        };
        Signer::from_pkcs8(key.secret_pkcs8_der(), certificates_from_pem(chain_pem)?)
    }

    /// Leave `x5c` out of the header and name the leaf by `x5t#S256` only: for a receiver that
    /// pinned this very certificate (as most PINT platforms do).
    pub fn without_x5c(mut self) -> Signer {
        self.send_x5c = false;
        self
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Alg {
        match self.key {
            SignerKey::Ed25519(_) => Alg::EdDSA,
            SignerKey::P256(_) => Alg::ES256,
            SignerKey::Rsa(_) => Alg::RS256,
        }
    }

    /// The chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// Signs `payload` bytes as they are; returns the compact JWS. The header is
    /// `{"alg":..,"kid":<x5t#S256>,"x5t#S256":..,"x5c":[..]}` in RFC 8785 form.
    pub fn sign_bytes(&self, payload: &[u8]) -> Result<String, JwsError> {
        let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(self.chain[0].as_ref()));
        let mut header = Map::new();
        header.insert("alg".into(), Value::String(self.alg().name().into()));
        header.insert("kid".into(), Value::String(thumbprint.clone()));
        header.insert("x5t#S256".into(), Value::String(thumbprint));
        if self.send_x5c {
            header.insert(
                "x5c".into(),
                Value::Array(
                    self.chain
                        .iter()
                        .map(|c| Value::String(STANDARD.encode(c.as_ref())))
                        .collect(),
                ),
            );
        }
        let header = canonical_json::to_vec(&Value::Object(header));
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let message = signing_input.as_bytes();
        let signature = match &self.key {
            SignerKey::Ed25519(k) => k.sign(message).as_ref().to_vec(),
            SignerKey::P256(k) => k
                .sign(&SystemRandom::new(), message)
                .map_err(|_| JwsError::BadKey("ECDSA signing failed".into()))?
                .as_ref()
                .to_vec(),
            SignerKey::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut sig,
                )
                .map_err(|_| JwsError::BadKey("RSA signing failed".into()))?;
                sig
            }
        };
        let compact = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature));
        if compact.len() > JWS_BYTES_MAX {
            return Err(JwsError::TooLarge {
                len: compact.len(),
                max: JWS_BYTES_MAX,
            });
        }
        Ok(compact)
    }

    /// Signs a value serialized in RFC 8785 form.
    pub fn sign_json<T: serde::Serialize>(&self, payload: &T) -> Result<String, JwsError> {
        let value = serde_json::to_value(payload)
            .map_err(|e| JwsError::Malformed(format!("payload does not serialize: {e}")))?;
        self.sign_bytes(&canonical_json::to_vec(&value))
    }
}
