//! The checksums PINT names things by: SHA-256 in lowercase hex (64 characters).

use serde_json::Value;
use sha2::{Digest, Sha256};

/// SHA-256 of `bytes`, lowercase hex: an additional document's checksum, and a chain entry's or
/// a manifest's (over the compact JWS string's bytes).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 of the RFC 8785 (JCS) form of a JSON value: the transport document's checksum
/// (`transportDocumentChecksum`, the issuance manifest's `documentChecksum`) and `issueToChecksum`.
pub fn json_checksum(value: &Value) -> String {
    sha256_hex(&canonical_json::to_vec(value))
}

/// The checksum of a chain entry (or any signed content): SHA-256 of the compact JWS string.
pub fn signed_content_checksum(compact: &str) -> String {
    sha256_hex(compact.as_bytes())
}

/// Whether `s` has the form of a PINT checksum (64 lowercase hex digits).
pub fn is_checksum(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
