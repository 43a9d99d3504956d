//! PEM reading, through rustls-pki-types' parser.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivatePkcs8KeyDer};

/// Every `CERTIFICATE` block in `pem`, in order. At least one is required.
pub fn certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad PEM certificate: {e}"))?;
    if certs.is_empty() {
        return Err("no CERTIFICATE block found".into());
    }
    Ok(certs)
}

/// The DER of the one PKCS#8 `PRIVATE KEY` block in `pem`.
pub fn private_key_der(pem: &str) -> Result<Vec<u8>, String> {
    PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
        .map(|k| k.secret_pkcs8_der().to_vec())
        .map_err(|e| format!("no PKCS#8 PRIVATE KEY block: {e}"))
}

/// The DER of the one `X509 CRL` block in `pem`.
pub fn crl_der(pem: &str) -> Result<Vec<u8>, String> {
    CertificateRevocationListDer::from_pem_slice(pem.as_bytes())
        .map(|c| c.as_ref().to_vec())
        .map_err(|e| format!("no X509 CRL block: {e}"))
}

/// A `CERTIFICATE` block of `der`.
pub fn certificate_pem(der: &[u8]) -> String {
    pem_block("CERTIFICATE", der)
}

/// An `X509 CRL` block of `der`.
pub fn crl_pem(der: &[u8]) -> String {
    pem_block("X509 CRL", der)
}

/// RFC 7468 text: base64 in lines of 64 characters.
fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
