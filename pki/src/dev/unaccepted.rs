//! Revocation lists that a member's issuing CA could sign, but with a signature algorithm the
//! profile does not accept: for tests of the refusals (pki's trust store, the ledger's
//! governance checks). A looser verifier than webpki would take them; Silkline must refuse them
//! where they enter.

use rcgen::{CertificateRevocationListParams, Issuer, KeyIdMethod, KeyPair, SerialNumber};
use rustls_pki_types::CertificateDer;

use super::{CRL_VALIDITY_S, Consortium, DevError, KeyAlgorithm, at, read, unknown_member};
use crate::identity::MemberCode;
use crate::revocation::RevocationSigner;

/// An algorithm a member's list may not be signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnacceptedAlgorithm {
    /// ECDSA with SHA-384 by the member's own P-256 key: a genuine signature of its CA that
    /// x509-parser (and OpenSSL) verify, but webpki, given the profile's algorithms, does not.
    EcdsaP256Sha384,
    /// sha256WithRSAEncryption, by a fresh RSA key under the issuing CA's name.
    RsaSha256,
}

/// `AlgorithmIdentifier` of ecdsa-with-SHA256 (1.2.840.10045.4.3.2), parameters absent.
const ECDSA_WITH_SHA256: [u8; 12] = [
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];
/// `AlgorithmIdentifier` of ecdsa-with-SHA384 (1.2.840.10045.4.3.3), parameters absent.
const ECDSA_WITH_SHA384: [u8; 12] = [
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
];

impl Consortium {
    /// A first list (cRLNumber 1, nothing revoked, thisUpdate `at_unix_s`) in `member`'s
    /// issuing CA's name, signed with `algorithm`. For
    /// [`EcdsaP256Sha384`](UnacceptedAlgorithm::EcdsaP256Sha384) the member's CA must be P-256.
    pub fn crl_with_unaccepted_algorithm(
        &self,
        member: &MemberCode,
        algorithm: UnacceptedAlgorithm,
        at_unix_s: i64,
    ) -> Result<Vec<u8>, DevError> {
        let m = self.member(member).ok_or_else(|| unknown_member(member))?;
        let (cert, key) = match (&m.intermediate_cert, &m.intermediate_key) {
            (Some(cert), Some(key)) => (cert, key),
            _ => (&m.root_cert, &m.root_key),
        };
        let ca_der = self.der_of(cert)?;
        let key_pem = read(&self.path(key))?;
        match algorithm {
            UnacceptedAlgorithm::EcdsaP256Sha384 => {
                if m.algorithm != KeyAlgorithm::P256 {
                    return Err(DevError::Invalid(format!(
                        "{member}'s CA has an {:?} key, not P-256",
                        m.algorithm
                    )));
                }
                p256_sha384_list(&ca_der, &key_pem, at_unix_s)
            }
            UnacceptedAlgorithm::RsaSha256 => {
                let rsa = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)?;
                let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(ca_der), rsa)?;
                let params = CertificateRevocationListParams {
                    this_update: at(at_unix_s)?,
                    next_update: at(at_unix_s + CRL_VALIDITY_S)?,
                    crl_number: SerialNumber::from(1u64),
                    issuing_distribution_point: None,
                    revoked_certs: Vec::new(),
                    key_identifier_method: KeyIdMethod::Sha256,
                };
                Ok(params.signed_by(&issuer)?.der().to_vec())
            }
        }
    }
}

/// The CA's ordinary P-256/SHA-256 list, its algorithm renamed ecdsa-with-SHA384 and signed
/// again over SHA-384 with the same key.
fn p256_sha384_list(ca_der: &[u8], key_pem: &str, at_unix_s: i64) -> Result<Vec<u8>, DevError> {
    use aws_lc_rs::digest::{self, Digest};
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};

    let invalid = |what: &str| DevError::Invalid(format!("P-256/SHA-384 list: {what}"));
    let signer =
        RevocationSigner::new(ca_der, key_pem).map_err(|e| DevError::Invalid(e.to_string()))?;
    let list = signer
        .next_list(None, &[], at_unix_s)
        .map_err(|e| DevError::Invalid(e.to_string()))?
        .der;
    // CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue }
    let body = der_content(&list).ok_or_else(|| invalid("the list is not a SEQUENCE"))?;
    let tbs_len = der_element_len(body).ok_or_else(|| invalid("no tbsCertList"))?;
    let mut tbs = body[..tbs_len].to_vec();
    let at = tbs
        .windows(ECDSA_WITH_SHA256.len())
        .position(|w| w == ECDSA_WITH_SHA256)
        .ok_or_else(|| invalid("tbsCertList names no ecdsa-with-SHA256"))?;
    tbs[at..at + ECDSA_WITH_SHA384.len()].copy_from_slice(&ECDSA_WITH_SHA384);

    let pkcs8 = crate::pem::private_key_der(key_pem).map_err(DevError::Invalid)?;
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8)
        .map_err(|e| invalid(&e.to_string()))?;
    // ECDSA on P-256 signs the leftmost 256 bits of a longer digest (SEC 1 4.1.3, step 5).
    let sha384 = digest::digest(&digest::SHA384, &tbs);
    let leftmost = Digest::import_less_safe(&sha384.as_ref()[..32], &digest::SHA256)
        .map_err(|e| invalid(&e.to_string()))?;
    let signature = key
        .sign_digest(&leftmost)
        .map_err(|e| invalid(&e.to_string()))?;

    let mut bits = vec![0u8]; // no unused bits
    bits.extend_from_slice(signature.as_ref());
    let mut body = tbs;
    body.extend_from_slice(&ECDSA_WITH_SHA384);
    body.extend(der_tlv(0x03, &bits));
    Ok(der_tlv(0x30, &body))
}

/// The content of the DER SEQUENCE `der`.
fn der_content(der: &[u8]) -> Option<&[u8]> {
    let (header, len) = der_header(der)?;
    (der.first() == Some(&0x30) && der.len() == header + len).then(|| &der[header..])
}

/// The length (header included) of the DER element that starts `der`.
fn der_element_len(der: &[u8]) -> Option<usize> {
    let (header, len) = der_header(der)?;
    (der.len() >= header + len).then_some(header + len)
}

/// The header length and content length of the DER element that starts `der` (definite
/// lengths of at most four bytes, as in any certificate or list).
fn der_header(der: &[u8]) -> Option<(usize, usize)> {
    let first = *der.get(1)?;
    if first < 0x80 {
        return Some((2, usize::from(first)));
    }
    let count = usize::from(first & 0x7f);
    if count == 0 || count > 4 {
        return None;
    }
    let bytes = der.get(2..2 + count)?;
    let len = bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b));
    Some((2 + count, len))
}

/// A DER element of `tag` around `content`.
fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}
