//! RFC 8785 JSON Canonicalization Scheme (JCS).
//!
//! A transaction is signed over its canonical JSON so that it has exactly one byte form, and so
//! one hash, whatever produced it. The canonicalization itself is the workspace's
//! `canonical-json` (ECMAScript number formatting via ryu-js, UTF-16 key ordering); this module
//! adds the check that bytes received from elsewhere are already canonical.

use serde::Serialize;
use serde_json::Value;

/// Why bytes are not canonical JSON.
#[derive(Debug, thiserror::Error)]
pub enum CanonicalError {
    /// Not JSON at all (or not UTF-8).
    #[error("not valid JSON: {0}")]
    NotJson(String),
    /// Valid JSON, but not in RFC 8785 form (whitespace, key order, number or string form).
    #[error("JSON is not in RFC 8785 canonical form")]
    NotCanonical,
}

/// The RFC 8785 canonical text of any serializable value.
pub fn canonicalize<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    canonical_json::to_string_of(value)
}

/// Parses `bytes` as JSON and checks that they are exactly the canonical form of what they
/// encode. Returns the parsed value.
pub fn parse_canonical(bytes: &[u8]) -> Result<Value, CanonicalError> {
    canonical_json::is_canonical(bytes)
        .map_err(|e| CanonicalError::NotJson(e.to_string()))?
        .ok_or(CanonicalError::NotCanonical)
}
