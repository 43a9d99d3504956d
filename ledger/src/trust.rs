//! The seam between the apply path and `pki`: envelope parsing and the transaction hash, JWS and
//! identity verification at block time, and the checks on a member's new CRL.
//!
//! Everything here is a pure function of its inputs (the block time is a parameter); `pki`
//! never reads the clock either.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use doc_workflow::PartyCode;
use pki::identity::{IdentityError, IdentityKind, MemberCode, Purpose, TrustStore};
use pki::jws::{JwsError, ParsedJws};

use super::consortium::MemberRecord;
use super::genesis::{Genesis, MemberConfig};
use super::records::CrlRecord;
use super::signatures::SignatureCheck;
use super::tx::ENVELOPE_BYTES_MAX;
use super::validate::TxRefusal;
use super::{Hash32, sha256};

/// Who signed a transaction, as verified at block time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signatory {
    /// The member whose root CA the chain reaches (never a field of the leaf).
    pub member: PartyCode,
    /// The party the certificate acts for.
    pub party: PartyCode,
    pub kind: IdentityKind,
    /// SHA-256 of the leaf certificate's DER, lowercase hex.
    pub fingerprint: String,
}

/// What the ledger reads from a CRL it accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrlInfo {
    /// `thisUpdate`, ms since the Unix epoch.
    pub this_update_ms: u64,
}

/// An envelope as received: its hash, and its JWS structure if it has one.
#[derive(Debug)]
pub struct Envelope<'a> {
    /// The transaction hash: `pki`'s (SHA-256 of the JWS signing input, so a re-encoded ECDSA
    /// signature is the same transaction) when the envelope parses as a JWS; otherwise SHA-256
    /// of the raw bytes, so that garbage too has a stable hash to record.
    pub tx_hash: Hash32,
    /// The envelope as text and parsed, or why it is not a JWS.
    pub parsed: Result<(&'a str, ParsedJws), TxRefusal>,
}

impl<'a> Envelope<'a> {
    /// Checks the size, then parses (no signature check yet).
    pub fn parse(bytes: &'a [u8]) -> Envelope<'a> {
        let parsed = Self::parse_inner(bytes);
        let tx_hash = match &parsed {
            Ok((_, jws)) => Hash32(jws.tx_hash()),
            Err(_) => Hash32(sha256(bytes)),
        };
        Envelope { tx_hash, parsed }
    }

    fn parse_inner(bytes: &'a [u8]) -> Result<(&'a str, ParsedJws), TxRefusal> {
        if bytes.is_empty() {
            return Err(TxRefusal::EnvelopeEmpty);
        }
        if bytes.len() > ENVELOPE_BYTES_MAX {
            return Err(TxRefusal::EnvelopeTooLarge {
                bytes: bytes.len(),
                max: ENVELOPE_BYTES_MAX,
            });
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| TxRefusal::MalformedEnvelope("not ASCII text".into()))?;
        let parsed = pki::jws::parse(text).map_err(jws_refusal)?;
        Ok((text, parsed))
    }
}

fn jws_refusal(e: JwsError) -> TxRefusal {
    match e {
        JwsError::BadSignature => TxRefusal::BadSignature(e.to_string()),
        JwsError::BadPayload(_) => TxRefusal::MalformedTransaction(e.to_string()),
        other => TxRefusal::MalformedEnvelope(other.to_string()),
    }
}

/// The refusal (and so the stable code) for a certificate the trust store did not accept: the
/// same for a transaction's signer and for a client of the API.
pub fn identity_refusal(e: IdentityError) -> TxRefusal {
    let message = e.to_string();
    match e {
        // A chain whose signatures do not verify under any member's CA (typically a foreign CA
        // that copied a member CA's name) does not chain to this network.
        IdentityError::UnknownIssuer | IdentityError::BadSignature => {
            TxRefusal::UnknownIssuer(message)
        }
        IdentityError::Expired { .. } => TxRefusal::CertificateExpired(message),
        IdentityError::NotYetValid { .. } => TxRefusal::CertificateNotYetValid(message),
        IdentityError::Revoked { .. } => TxRefusal::CertificateRevoked(message),
        IdentityError::WrongKind { kind, .. } => TxRefusal::WrongCertificateKind {
            kind,
            required: "a user or admin certificate",
        },
        _ => TxRefusal::CertificateInvalid(message),
    }
}

fn member_code(code: &PartyCode) -> Result<MemberCode, String> {
    MemberCode::new(code.as_str())
}

fn to_party(code: &str) -> Result<PartyCode, TxRefusal> {
    PartyCode::new(code).map_err(|e| TxRefusal::CertificateInvalid(e.to_string()))
}

/// The members' roots and current CRLs, ready to verify chains.
#[derive(Debug, Clone)]
pub struct Trust {
    store: TrustStore,
    /// Each active member's root CA certificates, DER: its CRLs must be issued and signed by
    /// one of them.
    roots: BTreeMap<PartyCode, Vec<Vec<u8>>>,
}

impl Trust {
    /// The members' roots and current CRLs, for verifying certificates outside a block (a TLS
    /// client of the API, say) as of the ledger's latest revocation lists.
    pub fn store(&self) -> &TrustStore {
        &self.store
    }

    /// The trust store of the active `members` (each of their CA certificates) with the given
    /// current CRLs. A removed member's CAs are not in it, so nothing it signs verifies.
    pub fn new(
        members: &BTreeMap<PartyCode, MemberRecord>,
        crls: &BTreeMap<PartyCode, CrlRecord>,
    ) -> Result<Trust, String> {
        let mut store = TrustStore::new();
        let mut roots = BTreeMap::new();
        for member in members.values().filter(|m| m.is_active()) {
            let code = member_code(&member.code)?;
            let mut ders = Vec::new();
            for pem in &member.ca_certificates {
                let root = root_der(&member.code, pem)?;
                store
                    .add_member(code.clone(), root.clone())
                    .map_err(|e| format!("member {}: {e}", member.code))?;
                ders.push(root);
            }
            // A member whose every CA was revoked by vote is trusted for nothing.
            if !ders.is_empty() {
                roots.insert(member.code.clone(), ders);
            }
        }
        for (member, record) in crls {
            if !roots.contains_key(member) {
                continue;
            }
            let der = STANDARD
                .decode(&record.der_base64)
                .map_err(|e| format!("CRL of {member}: {e}"))?;
            store
                .set_revocations(&member_code(member)?, vec![der])
                .map_err(|e| format!("CRL of {member}: {e}"))?;
        }
        Ok(Trust { store, roots })
    }

    /// Checks a member's CRL given at genesis (issued and signed by its root).
    pub fn inspect_genesis_crl(
        genesis: &Genesis,
        member: &MemberConfig,
        der_base64: &str,
    ) -> Result<CrlInfo, String> {
        let trust = Trust::new(&MemberRecord::of_genesis(genesis), &BTreeMap::new())?;
        trust
            .check_crl(&member.code, der_base64)
            .map_err(|r| format!("initial CRL of {}: {r}", member.code))
    }

    /// Verifies the JWS signature (as `signature` says) and the signer's chain at `time_ms` (step 3-4 of
    /// `validate`). Returns who signed and the payload bytes.
    pub(crate) fn verify(
        &self,
        parsed: ParsedJws,
        signature: SignatureCheck<'_>,
        time_ms: u64,
    ) -> Result<(Signatory, Vec<u8>), TxRefusal> {
        let verified = signature.verify(parsed).map_err(jws_refusal)?;
        // Certificates are valid to the second; the block time's milliseconds round down.
        // Any Silkline certificate with the clientAuth usage: which kind may sign what (users
        // and admins documents, admins governance, nodes their PINT transactions) is step 6 of
        // `validate::check`, on the parsed transaction.
        let identity = self
            .store
            .verify_identity(&verified.chain, time_ms / 1000, Purpose::TlsClient)
            .map_err(identity_refusal)?;
        let signatory = Signatory {
            member: to_party(identity.member.as_str())?,
            party: to_party(identity.party.as_str())?,
            kind: identity.kind,
            fingerprint: identity.fingerprint.to_string(),
        };
        Ok((signatory, verified.payload))
    }

    /// Checks an `UPDATE_REVOCATIONS` CRL for `member` at `time_ms`: it decodes, it is issued
    /// and signed by the member's root CA or by its issuing intermediate (one of `presented`,
    /// the CA certificates of the admin's `x5c`, that the root itself certifies), it is not from
    /// the future, and it is not older than the member's current CRL (`current_ms`), so
    /// revocations cannot be rolled back.
    pub fn check_crl_update(
        &self,
        member: &PartyCode,
        der_base64: &str,
        presented: &[&[u8]],
        current_ms: Option<u64>,
        time_ms: u64,
    ) -> Result<CrlInfo, TxRefusal> {
        let info = self.check_crl_from(member, der_base64, presented)?;
        if info.this_update_ms > time_ms {
            return Err(TxRefusal::CrlNotYetValid {
                this_update_ms: info.this_update_ms,
                time_ms,
            });
        }
        if let Some(current_ms) = current_ms
            && info.this_update_ms < current_ms
        {
            return Err(TxRefusal::CrlOutdated {
                current_ms,
                given_ms: info.this_update_ms,
            });
        }
        Ok(info)
    }

    fn check_crl(&self, member: &PartyCode, der_base64: &str) -> Result<CrlInfo, TxRefusal> {
        self.check_crl_from(member, der_base64, &[])
    }

    /// [`check_crl`](Self::check_crl), also accepting a list issued by one of `presented` that
    /// is an intermediate of the member (`pki::crl::verify_member_list`: a CA certificate
    /// issued and signed by the member's root whose subject O is the member's code). A member
    /// that issues its users from an intermediate revokes them with the intermediate's list;
    /// without this, its users could never be revoked.
    ///
    /// The ledger's part is which member's root to check against and what to record; parsing,
    /// the accepted signature algorithms and the signature are `pki::crl`'s, the same rules the
    /// trust store applies, so a list committed here is one every chain check can use.
    fn check_crl_from(
        &self,
        member: &PartyCode,
        der_base64: &str,
        presented: &[&[u8]],
    ) -> Result<CrlInfo, TxRefusal> {
        let der = STANDARD
            .decode(der_base64)
            .map_err(|e| TxRefusal::CrlInvalid(format!("not standard base64: {e}")))?;
        let wrong = |reason: String| TxRefusal::CrlWrongIssuer {
            member: member.clone(),
            reason,
        };
        let roots = self
            .roots
            .get(member)
            .ok_or_else(|| wrong("not a member of this network".into()))?;
        let code = member_code(member).map_err(TxRefusal::CrlInvalid)?;
        // Any of the member's roots may have issued it (during a CA rotation, both do).
        let mut verified = Err(wrong("the member has no CA certificate".into()));
        for root in roots {
            verified =
                pki::crl::verify_member_list(&der, &code, root, presented).map_err(|e| match e {
                    pki::crl::CrlError::WrongIssuer(_)
                    | pki::crl::CrlError::BadSignature { .. } => wrong(e.to_string()),
                    pki::crl::CrlError::Malformed(_)
                    | pki::crl::CrlError::UnsupportedAlgorithm(_) => {
                        TxRefusal::CrlInvalid(e.to_string())
                    }
                });
            if verified.is_ok() {
                break;
            }
        }
        let crl = verified?;
        // The trust store must accept it too, or installing it would stop the replica.
        self.store
            .clone()
            .set_revocations(&code, vec![der.clone()])
            .map_err(|e| TxRefusal::CrlInvalid(e.to_string()))?;
        let seconds = crl.this_update();
        let this_update_ms = u64::try_from(seconds)
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .ok_or_else(|| TxRefusal::CrlInvalid(format!("thisUpdate {seconds} out of range")))?;
        Ok(CrlInfo { this_update_ms })
    }
}

/// The DER of a member's root CA certificate (the first certificate of its PEM).
pub fn root_der(member: &PartyCode, pem: &str) -> Result<Vec<u8>, String> {
    let certs =
        pki::pem::certificates(pem).map_err(|e| format!("member {member} CA certificate: {e}"))?;
    certs
        .first()
        .map(|c| c.as_ref().to_vec())
        .ok_or_else(|| format!("member {member} CA certificate: no certificate in PEM"))
}
