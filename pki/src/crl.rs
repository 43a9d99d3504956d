//! Revocation lists as they enter a Silkline network: parsed, their signature algorithm held to
//! the profile's two, their signature verified under the issuing CA's key.
//!
//! Every door a list comes in by goes through [`Crl::parse`]: the ledger's checks of a genesis
//! list and of `UPDATE_REVOCATIONS` ([`verify_member_list`], called by `ledger::trust`),
//! [`TrustStore::set_revocations`](crate::TrustStore::set_revocations),
//! [`inspect_revocation_list`], and the current list a
//! [`RevocationSigner`](crate::revocation::RevocationSigner) continues. Signatures are checked
//! with [`crate::signature`], the algorithms webpki is given when it consults a list for a
//! chain. So no door accepts a list that webpki would then refuse: a list signed with
//! ECDSA P-256/SHA-384 or RSA, which a looser verifier would take, is refused where it enters
//! (`UnsupportedAlgorithm`) instead of failing every chain of its member later.
//!
//! What it is not: policy. Which member's list a transaction may replace, and whether it is
//! newer than the current one, is the ledger's decision; this module only says who issued a
//! list and that its signature holds.

use webpki::OwnedCertRevocationList;
use x509_parser::certificate::X509Certificate;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::identity::{IdentityError, MemberCode};
use crate::signature::{self, SignatureError};

/// Most revoked entries in one list: a member revoking more than this re-keys its CA instead.
pub const CRL_ENTRIES_MAX: usize = 100_000;

/// Why a revocation list was not accepted. Each variant names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrlError {
    #[error("not a DER X.509 revocation list: {0}")]
    Malformed(String),
    #[error("{0}")]
    UnsupportedAlgorithm(String),
    #[error("{0}")]
    WrongIssuer(String),
    #[error("signature does not verify under {issuer}'s key: {reason}")]
    BadSignature { issuer: String, reason: String },
}

impl CrlError {
    fn from_signature(issuer: &X509Certificate<'_>, e: SignatureError) -> CrlError {
        match e {
            SignatureError::Unsupported(_) => {
                CrlError::UnsupportedAlgorithm(format!("the issuer's key: {e}"))
            }
            SignatureError::KeyMismatch { .. } => CrlError::UnsupportedAlgorithm(e.to_string()),
            SignatureError::Invalid => CrlError::BadSignature {
                issuer: issuer.subject().to_string(),
                reason: e.to_string(),
            },
        }
    }
}

/// A revocation list that parses, as webpki reads it too, and whose signature algorithm is
/// accepted. Who signed it is not known yet: see [`Crl::check_signed_by`].
pub struct Crl<'a> {
    der: &'a [u8],
    list: CertificateRevocationList<'a>,
}

impl std::fmt::Debug for Crl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crl")
            .field("issuer", &self.issuer_name())
            .field("this_update", &self.this_update())
            .finish_non_exhaustive()
    }
}

impl<'a> Crl<'a> {
    /// Parses `der`: one DER list and nothing after it, readable by webpki, signed (by whoever)
    /// with an accepted algorithm named alike inside and outside the signed part.
    pub fn parse(der: &'a [u8]) -> Result<Crl<'a>, CrlError> {
        let (rest, list) =
            x509_parser::parse_x509_crl(der).map_err(|e| CrlError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CrlError::Malformed("trailing bytes after the list".into()));
        }
        signature::accepted(&list.signature_algorithm)
            .map_err(|e| CrlError::UnsupportedAlgorithm(format!("signature algorithm {e}")))?;
        if list.tbs_cert_list.signature != list.signature_algorithm {
            return Err(CrlError::Malformed(
                "the signed part names another signature algorithm than the signature".into(),
            ));
        }
        // The trust store hands lists to webpki: one it cannot read would fail every chain of
        // the member.
        OwnedCertRevocationList::from_der(der)
            .map_err(|e| CrlError::Malformed(format!("{e:?}")))?;
        Ok(Crl { der, list })
    }

    /// The list as given.
    pub fn der(&self) -> &'a [u8] {
        self.der
    }

    /// The issuer's name, as text.
    pub fn issuer_name(&self) -> String {
        self.list.issuer().to_string()
    }

    /// thisUpdate, seconds since the Unix epoch.
    pub fn this_update(&self) -> i64 {
        self.list.last_update().timestamp()
    }

    /// The parsed list, for the revocation-list writer.
    pub(crate) fn list(&self) -> &CertificateRevocationList<'a> {
        &self.list
    }

    /// Whether `ca` issued the list (by name, byte for byte, as webpki matches lists to
    /// certificates) and its key made the signature.
    pub fn check_signed_by(&self, ca: &X509Certificate<'_>) -> Result<(), CrlError> {
        if self.list.issuer().as_raw() != ca.subject().as_raw() {
            return Err(CrlError::WrongIssuer(format!(
                "issued by {}, not by {}",
                self.list.issuer(),
                ca.subject()
            )));
        }
        signature::verify_x509(
            ca.public_key(),
            &self.list.signature_algorithm,
            self.list.tbs_cert_list.as_ref(),
            &self.list.signature_value.data,
        )
        .map_err(|e| CrlError::from_signature(ca, e))
    }
}

/// Checks `der` as `member`'s revocation list: it parses ([`Crl::parse`]) and is issued and
/// signed by the member's root CA `root_der`, or by one of `presented` (the CA certificates an
/// admin's chain carries) that is an intermediate of the member: a CA certificate issued and
/// signed by the root whose subject O is the member's code (`PROFILE.md`). A member that issues
/// its users from an intermediate revokes them with the intermediate's list; the O rule keeps
/// one member's list from naming another member's CA.
pub fn verify_member_list<'a>(
    der: &'a [u8],
    member: &MemberCode,
    root_der: &[u8],
    presented: &[&[u8]],
) -> Result<Crl<'a>, CrlError> {
    let crl = Crl::parse(der)?;
    let (_, root) = x509_parser::parse_x509_certificate(root_der)
        .map_err(|e| CrlError::WrongIssuer(format!("member CA does not parse: {e}")))?;
    let intermediate = presented.iter().find_map(|der| {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let of_member = cert.is_ca()
            && cert.issuer().as_raw() == root.subject().as_raw()
            && signature::verify_x509(
                root.public_key(),
                &cert.signature_algorithm,
                cert.tbs_certificate.as_ref(),
                &cert.signature_value.data,
            )
            .is_ok()
            && cert
                .subject()
                .iter_organization()
                .next()
                .and_then(|o| o.as_str().ok())
                == Some(member.as_str());
        (of_member && crl.list.issuer().as_raw() == cert.subject().as_raw()).then_some(cert)
    });
    match &intermediate {
        Some(cert) => crl.check_signed_by(cert)?,
        None if crl.list.issuer().as_raw() == root.subject().as_raw() => {
            crl.check_signed_by(&root)?
        }
        None => {
            return Err(CrlError::WrongIssuer(format!(
                "issued by {}, not by {} or an intermediate it certifies",
                crl.list.issuer(),
                root.subject()
            )));
        }
    }
    Ok(crl)
}

/// What a revocation list says, read without trusting its issuer: the ledger uses it to refuse
/// an update that is older than the list it has, or that names another member. Its signature
/// is checked against the issuing CA whenever a chain is verified with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationListInfo {
    /// The issuer's subject O: by the profile, the member code.
    pub issuer_member: String,
    /// The cRLNumber extension (required by Silkline: it orders a member's lists).
    pub crl_number: u64,
    /// thisUpdate, seconds since the Unix epoch.
    pub this_update: i64,
    /// Revoked serial numbers, lowercase hex.
    pub revoked_serials: Vec<String>,
}

/// Parses a DER revocation list ([`Crl::parse`]: an unaccepted signature algorithm is refused
/// here too) and reads what the ledger needs from it.
pub fn inspect_revocation_list(der: &[u8]) -> Result<RevocationListInfo, IdentityError> {
    let bad = IdentityError::BadRevocationList;
    let crl = Crl::parse(der).map_err(|e| bad(e.to_string()))?;
    let list = crl.list();
    let issuer_member = list
        .issuer()
        .iter_organization()
        .next()
        .and_then(|a| a.as_str().ok())
        .ok_or_else(|| bad("issuer has no O (member code)".into()))?
        .to_string();
    let crl_number = list
        .crl_number()
        .ok_or_else(|| bad("cRLNumber is missing".into()))?;
    let bytes = crl_number.to_bytes_be();
    if bytes.len() > 8 {
        return Err(bad("cRLNumber is larger than 64 bits".into()));
    }
    let crl_number = bytes.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b));
    let count = list.iter_revoked_certificates().count();
    if count > CRL_ENTRIES_MAX {
        return Err(bad(format!(
            "{count} entries, more than the {CRL_ENTRIES_MAX} accepted"
        )));
    }
    Ok(RevocationListInfo {
        issuer_member,
        crl_number,
        this_update: crl.this_update(),
        revoked_serials: list
            .iter_revoked_certificates()
            .map(|r| r.raw_serial_as_string().replace(':', ""))
            .collect(),
    })
}
