//! How a member's CA makes its keys and certificates, following `PROFILE.md`: the one
//! certificate builder of the workspace. [`dev`](crate::dev) (a whole dev consortium in one
//! directory) and [`member`](crate::member) (one member's own CA, `silkline member ...`) both
//! issue through these functions, so a dev network and a consortium formed by its members carry
//! certificates of exactly the same shape.
//!
//! What it is not: a store. It writes no file and keeps no state (serial numbers, revocations);
//! its callers do. Time is a parameter.

use std::net::{IpAddr, Ipv4Addr};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, SanType,
    SerialNumber, SignatureAlgorithm,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::identity::{
    IdentityKind, KIND_URI_PREFIX, MEMBER_URI_PREFIX, MemberCode, NODE_URI_PREFIX, NodeId,
    PARTY_URI_PREFIX, PartyCode,
};

/// How long a generated revocation list claims to be current. Silkline does not refuse a list
/// past its nextUpdate (governance replaces lists), so this is informational.
pub const CRL_VALIDITY_S: i64 = 365 * 24 * 3600;

/// Bytes of randomness in a serial number a member's CA draws ([`random_serial`]): RFC 5280
/// 4.1.2.2 allows 20 octets, and the CA/Browser Forum asks for at least 64 bits of entropy so
/// that two CAs (or one CA twice) never hand out the same serial by chance.
pub const RANDOM_SERIAL_BYTES: usize = 16;

/// Key algorithm of a member's CA and of the certificates it issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KeyAlgorithm {
    /// Ed25519: fast, deterministic signatures.
    #[default]
    Ed25519,
    /// ECDSA P-256 with SHA-256: what many banks' HSMs issue.
    P256,
}

impl KeyAlgorithm {
    fn rcgen(self) -> &'static SignatureAlgorithm {
        match self {
            KeyAlgorithm::Ed25519 => &rcgen::PKCS_ED25519,
            KeyAlgorithm::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        }
    }
}

/// Why a key or certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("{0}")]
    Invalid(String),
}

/// A certificate's validity, seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: i64,
    pub not_after: i64,
}

/// A fresh key. Ed25519 keys are written as PKCS#8 v1 (seed only), the form every toolkit
/// reads; some (Python's `cryptography`) refuse the v2 form that carries the public key too.
pub fn generate_key(alg: KeyAlgorithm) -> Result<KeyPair, CaError> {
    match alg {
        KeyAlgorithm::Ed25519 => {
            let doc = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8v1(
                &aws_lc_rs::rand::SystemRandom::new(),
            )
            .map_err(|_| CaError::Invalid("Ed25519 key generation failed".into()))?;
            Ok(KeyPair::try_from(doc.as_ref())?)
        }
        KeyAlgorithm::P256 => Ok(KeyPair::generate_for(alg.rcgen())?),
    }
}

/// A positive serial number of [`RANDOM_SERIAL_BYTES`] random bytes (top bit clear, so its DER
/// INTEGER needs no leading zero).
pub fn random_serial() -> Result<SerialNumber, CaError> {
    let mut bytes = [0u8; RANDOM_SERIAL_BYTES];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| CaError::Invalid("no random source".into()))?;
    bytes[0] &= 0x7f;
    // A serial number is positive: an all-zero draw (2^-127) becomes 1.
    if bytes.iter().all(|b| *b == 0) {
        bytes[RANDOM_SERIAL_BYTES - 1] = 1;
    }
    Ok(SerialNumber::from(bytes.to_vec()))
}

/// The root CA's parameters (`PROFILE.md`, "Member CA"). Deterministic from the member, so an
/// issuer can be rebuilt from the key alone.
pub fn root_params(code: &MemberCode, name: &str) -> CertificateParams {
    ca_params(
        code,
        &format!("{name} Root CA"),
        BasicConstraints::Unconstrained,
    )
}

/// The issuing intermediate's parameters: under the root, path length 0.
pub fn intermediate_params(code: &MemberCode, name: &str) -> CertificateParams {
    ca_params(
        code,
        &format!("{name} Issuing CA"),
        BasicConstraints::Constrained(0),
    )
}

fn ca_params(code: &MemberCode, cn: &str, constraints: BasicConstraints) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(&[
        (DnType::CommonName, cn),
        (DnType::OrganizationName, code.as_str()),
    ]);
    params.is_ca = IsCa::Ca(constraints);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.key_identifier_method = KeyIdMethod::Sha256;
    if let Ok(u) = uri(&format!("{MEMBER_URI_PREFIX}{code}")) {
        params.subject_alt_names = vec![u];
    }
    params
}

/// A member's CA as it comes out of [`new_root`] or [`new_intermediate`]: the certificate, its
/// key, and the issuer that signs with them.
pub struct NewCa {
    pub cert: Certificate,
    pub key_pem: String,
    pub issuer: Issuer<'static, KeyPair>,
}

/// A new self-signed root CA for the member.
pub fn new_root(
    code: &MemberCode,
    name: &str,
    alg: KeyAlgorithm,
    serial: SerialNumber,
    validity: Validity,
) -> Result<NewCa, CaError> {
    let mut params = root_params(code, name);
    params.serial_number = Some(serial);
    params.not_before = at(validity.not_before)?;
    params.not_after = at(validity.not_after)?;
    let key = generate_key(alg)?;
    let cert = params.self_signed(&key)?;
    let key_pem = key.serialize_pem();
    Ok(NewCa {
        cert,
        key_pem,
        issuer: Issuer::new(root_params(code, name), key),
    })
}

/// A new issuing intermediate for the member, signed by `root`.
pub fn new_intermediate(
    code: &MemberCode,
    name: &str,
    alg: KeyAlgorithm,
    serial: SerialNumber,
    validity: Validity,
    root: &Issuer<'_, KeyPair>,
) -> Result<NewCa, CaError> {
    let mut params = intermediate_params(code, name);
    params.serial_number = Some(serial);
    params.not_before = at(validity.not_before)?;
    params.not_after = at(validity.not_after)?;
    params.use_authority_key_identifier_extension = true;
    let key = generate_key(alg)?;
    let cert = params.signed_by(&key, root)?;
    let key_pem = key.serialize_pem();
    Ok(NewCa {
        cert,
        key_pem,
        issuer: Issuer::new(intermediate_params(code, name), key),
    })
}

/// An issuer rebuilt from a CA's certificate (PEM, first block) and key (PKCS#8 PEM): how a
/// member's CA signs again after its files were written.
pub fn issuer_from_pem(cert_pem: &str, key_pem: &str) -> Result<Issuer<'static, KeyPair>, CaError> {
    let key = KeyPair::from_pem(key_pem)?;
    let cert = crate::pem::certificates(cert_pem)
        .map_err(CaError::Invalid)?
        .into_iter()
        .next()
        .ok_or_else(|| CaError::Invalid("no CA certificate".into()))?;
    Ok(Issuer::from_ca_cert_der(&cert, key)?)
}

/// What an end-entity certificate says (`PROFILE.md`, "End-entity certificates").
#[derive(Debug, Clone)]
pub struct EndEntity<'a> {
    /// The subject's CN: the person, system or node.
    pub holder: &'a str,
    pub party: &'a PartyCode,
    /// The subject's O.
    pub party_name: &'a str,
    pub kind: IdentityKind,
    /// Nodes only (required for them).
    pub node_id: Option<&'a NodeId>,
    /// Nodes only: DNS names besides `localhost`.
    pub dns_names: &'a [String],
    /// Nodes only: IP addresses besides 127.0.0.1.
    pub ips: &'a [IpAddr],
    pub serial: SerialNumber,
    pub validity: Validity,
}

/// Issues an end-entity certificate with a fresh key of `alg`, signed by `issuer`. Returns the
/// certificate and its key.
pub fn issue_end_entity(
    req: &EndEntity<'_>,
    alg: KeyAlgorithm,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<(Certificate, KeyPair), CaError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(&[
        (DnType::CommonName, req.holder),
        (DnType::OrganizationName, req.party_name),
    ]);
    params.serial_number = Some(req.serial.clone());
    params.not_before = at(req.validity.not_before)?;
    params.not_after = at(req.validity.not_after)?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    let mut sans = vec![
        uri(&format!("{PARTY_URI_PREFIX}{}", req.party))?,
        uri(&format!("{KIND_URI_PREFIX}{}", req.kind))?,
    ];
    if req.kind == IdentityKind::Node {
        let id = req
            .node_id
            .ok_or_else(|| CaError::Invalid("a node certificate needs a node id".into()))?;
        sans.push(uri(&format!("{NODE_URI_PREFIX}{id}"))?);
        sans.push(SanType::DnsName("localhost".try_into()?));
        sans.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        for name in req.dns_names.iter().filter(|n| n.as_str() != "localhost") {
            check_host_name(name).map_err(CaError::Invalid)?;
            sans.push(SanType::DnsName(name.as_str().try_into()?));
        }
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        sans.extend(
            req.ips
                .iter()
                .filter(|ip| **ip != loopback)
                .map(|ip| SanType::IpAddress(*ip)),
        );
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
    } else {
        if req.node_id.is_some() || !req.dns_names.is_empty() || !req.ips.is_empty() {
            return Err(CaError::Invalid(format!(
                "a {} certificate names no node, host or address",
                req.kind
            )));
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    }
    params.subject_alt_names = sans;
    let key = generate_key(alg)?;
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert, key))
}

/// A certificate for a web server that browsers accept (the verification page): ECDSA P-256
/// whatever the member's own algorithm (browsers refuse Ed25519), server authentication only,
/// subject `CN=holder, O=organization`, for `localhost`, 127.0.0.1 and the given names and
/// addresses. Not a profile identity: no Silkline URI, so no node, user or admin can use it.
pub fn issue_web_server(
    holder: &str,
    organization: &str,
    dns_names: &[String],
    ips: &[IpAddr],
    serial: SerialNumber,
    validity: Validity,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<(Certificate, KeyPair), CaError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(&[
        (DnType::CommonName, holder),
        (DnType::OrganizationName, organization),
    ]);
    let mut sans = vec![
        SanType::DnsName("localhost".try_into()?),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    ];
    for name in dns_names.iter().filter(|n| n.as_str() != "localhost") {
        check_host_name(name).map_err(CaError::Invalid)?;
        sans.push(SanType::DnsName(name.as_str().try_into()?));
    }
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    sans.extend(
        ips.iter()
            .filter(|ip| **ip != loopback)
            .map(|ip| SanType::IpAddress(*ip)),
    );
    params.subject_alt_names = sans;
    params.serial_number = Some(serial);
    params.not_before = at(validity.not_before)?;
    params.not_after = at(validity.not_after)?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let key = generate_key(KeyAlgorithm::P256)?;
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert, key))
}

/// Longest DNS name (RFC 1035 2.3.4, in its text form).
pub const HOST_NAME_BYTES_MAX: usize = 253;
/// Longest label of a DNS name (RFC 1035 2.3.4).
const HOST_LABEL_BYTES_MAX: usize = 63;

/// A host name a node certificate may carry as a DNS SAN: RFC 1123 labels (letters, digits,
/// hyphens, not at either end of a label) separated by dots; no wildcard, since a node
/// certificate names one node.
pub fn check_host_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("host name {name:?}: {why}"));
    if name.is_empty() || name.len() > HOST_NAME_BYTES_MAX {
        return bad(&format!("must be 1 to {HOST_NAME_BYTES_MAX} bytes"));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > HOST_LABEL_BYTES_MAX {
            return bad(&format!(
                "every label is 1 to {HOST_LABEL_BYTES_MAX} characters"
            ));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            || label.starts_with('-')
            || label.ends_with('-')
        {
            return bad("a label is letters, digits and inner hyphens (RFC 1123)");
        }
    }
    if name.parse::<IpAddr>().is_ok() {
        return bad("an IP address goes in --ip, not as a host name");
    }
    Ok(())
}

fn dn(parts: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (t, v) in parts {
        dn.push(t.clone(), *v);
    }
    dn
}

fn uri(s: &str) -> Result<SanType, CaError> {
    Ok(SanType::URI(s.to_string().try_into()?))
}

/// A Unix time as rcgen takes it.
pub(crate) fn at(unix_s: i64) -> Result<OffsetDateTime, CaError> {
    OffsetDateTime::from_unix_timestamp(unix_s)
        .map_err(|e| CaError::Invalid(format!("time {unix_s}: {e}")))
}
