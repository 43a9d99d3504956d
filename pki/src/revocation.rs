//! A member's next revocation list: what `silkline tx revoke` signs and publishes with
//! `UPDATE_REVOCATIONS`.
//!
//! The ledger holds one list per member and replaces it whole, refusing a list older than the
//! current one (`CRL_OUTDATED`). So a new list is made from the current one: every entry carried
//! forward with its revocation date and reason, the new serial numbers added, the cRLNumber one
//! past the current one's, thisUpdate never before the current one's, signed by the CA that
//! signed the current list.
//!
//! What it is not: a CA. It issues no certificates and keeps no state; the current list comes
//! from the ledger, the CA's key from whoever holds it, and the time is a parameter.

use rcgen::{
    CertificateRevocationListParams, Issuer, KeyIdMethod, KeyPair, RevocationReason,
    RevokedCertParams, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;

use crate::crl::{CRL_ENTRIES_MAX, Crl};
use crate::signature;

/// Longest serial number, in bytes: RFC 5280 section 4.1.2.2 allows certificate users to refuse
/// longer ones, and no conforming CA issues them.
pub const SERIAL_BYTES_MAX: usize = 20;

/// Why a list could not be made. Each variant names what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
    #[error("serial number {given:?}: {reason}")]
    BadSerial { given: String, reason: String },
    #[error("the CA certificate: {0}")]
    BadCa(String),
    #[error("the CA key: {0}")]
    BadKey(String),
    #[error("the current revocation list: {0}")]
    BadCurrentList(String),
    #[error("the certificate to revoke: {0}")]
    BadCertificate(String),
    #[error("the new list would hold {count} entries, more than the {max} accepted")]
    TooManyEntries { count: usize, max: usize },
    #[error("signing the list: {0}")]
    Sign(String),
}

/// A certificate's serial number: the value of its DER INTEGER, without leading zero bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Serial(Vec<u8>);

impl Serial {
    /// A serial number in hex, as `openssl x509 -serial`, `Identity::serial` or a dev
    /// manifest print it: upper or lower case, optionally with `:` between bytes, leading
    /// zeros allowed.
    pub fn from_hex(text: &str) -> Result<Serial, RevocationError> {
        let bad = |reason: &str| RevocationError::BadSerial {
            given: text.to_owned(),
            reason: reason.to_owned(),
        };
        let digits: String = text.trim().chars().filter(|c| *c != ':').collect();
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad("not a hexadecimal number"));
        }
        let even = if digits.len() % 2 == 1 {
            format!("0{digits}")
        } else {
            digits
        };
        let bytes = hex::decode(even).map_err(|e| bad(&e.to_string()))?;
        Serial::from_bytes(bytes).map_err(|reason| bad(&reason))
    }

    /// The serial number of a certificate (DER).
    pub fn of_certificate(der: &[u8]) -> Result<Serial, RevocationError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| RevocationError::BadCertificate(e.to_string()))?;
        Serial::from_bytes(cert.raw_serial().to_vec()).map_err(RevocationError::BadCertificate)
    }

    fn from_bytes(mut bytes: Vec<u8>) -> Result<Serial, String> {
        let zeros = bytes.iter().take_while(|b| **b == 0).count();
        bytes.drain(..zeros);
        if bytes.is_empty() {
            return Err("a serial number is positive".into());
        }
        if bytes.len() > SERIAL_BYTES_MAX {
            return Err(format!(
                "{} bytes; at most {SERIAL_BYTES_MAX} (RFC 5280 4.1.2.2)",
                bytes.len()
            ));
        }
        Ok(Serial(bytes))
    }

    /// Lowercase hex of the DER INTEGER's content (a `00` first when the top bit is set), the
    /// form `Identity::serial` and `RevocationListInfo::revoked_serials` use.
    pub fn to_hex(&self) -> String {
        if self.0[0] & 0x80 != 0 {
            format!("00{}", hex::encode(&self.0))
        } else {
            hex::encode(&self.0)
        }
    }
}

impl std::fmt::Display for Serial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A member's CA that signs its revocation lists: its certificate and the matching key.
pub struct RevocationSigner {
    cert_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for RevocationSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationSigner")
            .field("subject", &self.subject())
            .finish_non_exhaustive()
    }
}

/// The entries of a new list and what it says, as the caller reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextList {
    /// The list, DER.
    pub der: Vec<u8>,
    /// Its cRLNumber: one past the current list's.
    pub crl_number: u64,
    /// Its thisUpdate, seconds since the Unix epoch.
    pub this_update: i64,
    /// The serials this list adds (those asked for that the current list did not hold).
    pub added: Vec<Serial>,
    /// Every serial it revokes, the current list's first.
    pub revoked: Vec<Serial>,
}

impl RevocationSigner {
    /// The CA of `cert_der` with its private key (PKCS#8 PEM). The key must be the one the
    /// certificate certifies, and the certificate a CA's.
    pub fn new(cert_der: &[u8], key_pem: &str) -> Result<RevocationSigner, RevocationError> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| RevocationError::BadKey(e.to_string()))?;
        let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
            .map_err(|e| RevocationError::BadCa(e.to_string()))?;
        if !cert.is_ca() {
            return Err(RevocationError::BadCa(format!(
                "{} is not a CA certificate",
                cert.subject()
            )));
        }
        if key.public_key_raw() != cert.public_key().subject_public_key.data.as_ref() {
            return Err(RevocationError::BadKey(format!(
                "it is not the key of {}",
                cert.subject()
            )));
        }
        let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(cert_der), key)
            .map_err(|e| RevocationError::BadCa(e.to_string()))?;
        Ok(RevocationSigner {
            cert_der: cert_der.to_vec(),
            issuer,
        })
    }

    /// The CA among `candidates` (DER certificates: a chain, a CA bundle) whose key is
    /// `key_pem`.
    pub fn among(
        candidates: &[CertificateDer<'_>],
        key_pem: &str,
    ) -> Result<RevocationSigner, RevocationError> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| RevocationError::BadKey(e.to_string()))?;
        let found = candidates.iter().find(|c| {
            x509_parser::parse_x509_certificate(c.as_ref()).is_ok_and(|(_, cert)| {
                cert.is_ca()
                    && cert.public_key().subject_public_key.data.as_ref() == key.public_key_raw()
            })
        });
        match found {
            Some(cert) => RevocationSigner::new(cert.as_ref(), key_pem),
            None => Err(RevocationError::BadKey(format!(
                "none of the {} CA certificates at hand (the identity's chain, the CA bundle) \
                 certifies it",
                candidates.len()
            ))),
        }
    }

    /// The CA certificate's subject, as text.
    pub fn subject(&self) -> String {
        self.cert()
            .map(|c| c.subject().to_string())
            .unwrap_or_default()
    }

    /// The member code the CA certificate's subject O names (pki/PROFILE.md), if it names one.
    pub fn member(&self) -> Option<String> {
        let cert = self.cert()?;
        let o = cert.subject().iter_organization().next()?.as_str().ok()?;
        Some(o.to_owned())
    }

    fn cert(&self) -> Option<X509Certificate<'_>> {
        x509_parser::parse_x509_certificate(&self.cert_der)
            .ok()
            .map(|(_, c)| c)
    }

    /// Whether this CA issued `cert_der`: its issuer is the CA's subject and the CA's key
    /// signed it.
    pub fn issued(&self, cert_der: &[u8]) -> Result<bool, RevocationError> {
        let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
            .map_err(|e| RevocationError::BadCertificate(e.to_string()))?;
        let ca = self
            .cert()
            .ok_or_else(|| RevocationError::BadCa("does not parse".into()))?;
        Ok(cert.issuer().as_raw() == ca.subject().as_raw()
            && signature::verify_x509(
                ca.public_key(),
                &cert.signature_algorithm,
                cert.tbs_certificate.as_ref(),
                &cert.signature_value.data,
            )
            .is_ok())
    }

    /// The list that follows `current` (DER; `None`: the member has none yet) with `add`
    /// revoked at `at_unix_s`. The current list must be this CA's own; its entries are kept as
    /// they are. thisUpdate is `at_unix_s`, or the current list's if that is later, so the new
    /// list is never older than the one it replaces.
    pub fn next_list(
        &self,
        current: Option<&[u8]>,
        add: &[Serial],
        at_unix_s: i64,
    ) -> Result<NextList, RevocationError> {
        let ca = self
            .cert()
            .ok_or_else(|| RevocationError::BadCa("does not parse".into()))?;
        let mut entries: Vec<RevokedCertParams> = Vec::new();
        let mut revoked: Vec<Serial> = Vec::new();
        let mut crl_number = 1u64;
        let mut this_update = at_unix_s;
        if let Some(der) = current {
            let bad = |reason: String| RevocationError::BadCurrentList(reason);
            let crl = Crl::parse(der).map_err(|e| bad(e.to_string()))?;
            check_signed_by(&crl, &ca)?;
            let list = crl.list();
            crl_number = match list.crl_number() {
                Some(n) => {
                    let bytes = n.to_bytes_be();
                    (bytes.len() <= 8)
                        .then(|| bytes.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)))
                        .and_then(|n| n.checked_add(1))
                        .ok_or_else(|| bad("its cRLNumber has no successor in 64 bits".into()))?
                }
                None => 1,
            };
            this_update = this_update.max(list.last_update().timestamp());
            for entry in list.iter_revoked_certificates() {
                let serial = Serial::from_bytes(entry.raw_serial().to_vec())
                    .map_err(|e| bad(format!("an entry's serial: {e}")))?;
                entries.push(RevokedCertParams {
                    serial_number: SerialNumber::from(serial.0.clone()),
                    revocation_time: at(entry.revocation_date.timestamp())?,
                    reason_code: entry
                        .reason_code()
                        .map(|(_, code)| {
                            revocation_reason(code.0).ok_or_else(|| {
                                bad(format!(
                                    "entry {serial} has reason code {}, which RFC 5280 does not \
                                     define",
                                    code.0
                                ))
                            })
                        })
                        .transpose()?,
                    invalidity_date: entry
                        .invalidity_date()
                        .map(|(_, date)| at(date.timestamp()))
                        .transpose()?,
                });
                revoked.push(serial);
            }
        }
        let mut added = Vec::new();
        for serial in add {
            if revoked.contains(serial) {
                continue;
            }
            entries.push(RevokedCertParams {
                serial_number: SerialNumber::from(serial.0.clone()),
                revocation_time: at(at_unix_s)?,
                // RFC 5280 5.3.1: better absent than `unspecified`.
                reason_code: None,
                invalidity_date: None,
            });
            revoked.push(serial.clone());
            added.push(serial.clone());
        }
        if entries.len() > CRL_ENTRIES_MAX {
            return Err(RevocationError::TooManyEntries {
                count: entries.len(),
                max: CRL_ENTRIES_MAX,
            });
        }
        let params = CertificateRevocationListParams {
            this_update: at(this_update)?,
            next_update: at(this_update + crate::ca::CRL_VALIDITY_S)?,
            crl_number: SerialNumber::from(crl_number),
            issuing_distribution_point: None,
            revoked_certs: entries,
            key_identifier_method: key_identifier(&ca),
        };
        let der = params
            .signed_by(&self.issuer)
            .map_err(|e| RevocationError::Sign(e.to_string()))?
            .der()
            .to_vec();
        // Lists are matched to certificates by the issuer's name, byte for byte: a name that
        // did not survive the round trip through rcgen would make a list nobody consults.
        let (_, made) = x509_parser::parse_x509_crl(&der)
            .map_err(|e| RevocationError::Sign(format!("the new list does not parse: {e}")))?;
        if made.issuer().as_raw() != ca.subject().as_raw() {
            return Err(RevocationError::BadCa(format!(
                "its subject name {} cannot be written back exactly",
                ca.subject()
            )));
        }
        Ok(NextList {
            der,
            crl_number,
            this_update,
            added,
            revoked,
        })
    }
}

/// The current list must be this CA's own: the ledger keeps one list per member, and carrying
/// another CA's entries over would revoke this CA's certificates that happen to share their
/// serial numbers.
fn check_signed_by(crl: &Crl<'_>, ca: &X509Certificate<'_>) -> Result<(), RevocationError> {
    crl.check_signed_by(ca).map_err(|e| {
        RevocationError::BadCurrentList(format!(
            "it is issued by {}, not signed by {} ({e}); sign with the key of the CA that issued it",
            crl.issuer_name(),
            ca.subject()
        ))
    })
}

/// The list's authorityKeyIdentifier: the CA certificate's subjectKeyIdentifier, as RFC 5280
/// 4.2.1.1 asks; a SHA-256 of its key if it has none.
fn key_identifier(ca: &X509Certificate<'_>) -> KeyIdMethod {
    ca.iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => {
                Some(KeyIdMethod::PreSpecified(id.0.to_vec()))
            }
            _ => None,
        })
        .unwrap_or(KeyIdMethod::Sha256)
}

/// RFC 5280 5.3.1 reason codes as rcgen names them; `None` for a code RFC 5280 does not define
/// (7, or above 10).
fn revocation_reason(code: u8) -> Option<RevocationReason> {
    Some(match code {
        0 => RevocationReason::Unspecified,
        1 => RevocationReason::KeyCompromise,
        2 => RevocationReason::CaCompromise,
        3 => RevocationReason::AffiliationChanged,
        4 => RevocationReason::Superseded,
        5 => RevocationReason::CessationOfOperation,
        6 => RevocationReason::CertificateHold,
        8 => RevocationReason::RemoveFromCrl,
        9 => RevocationReason::PrivilegeWithdrawn,
        10 => RevocationReason::AaCompromise,
        _ => return None,
    })
}

fn at(unix_s: i64) -> Result<OffsetDateTime, RevocationError> {
    OffsetDateTime::from_unix_timestamp(unix_s)
        .map_err(|e| RevocationError::Sign(format!("time {unix_s}: {e}")))
}
