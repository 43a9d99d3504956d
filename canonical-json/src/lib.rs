//! RFC 8785 (JSON Canonicalization Scheme) written straight from a `serde_json::Value`.
//!
//! Every signed transaction, every document's content checksum and every document state hash in
//! Silkline is over canonical JSON, so canonicalization runs several times per transaction on
//! every replica. `serde_json_canonicalizer` (which this crate is tested against, value for
//! value) serializes each object member into its own buffer and re-parses every key to sort it;
//! on a 4 KiB bill of lading that was the largest single cost of applying a transaction. This
//! writer walks the value once into one buffer: members sorted by their keys' UTF-16 code units
//! (RFC 8785 section 3.2.3), numbers as ECMAScript's `Number.prototype.toString` gives them (the
//! `ryu-js` crate, section 3.2.2.3; every JSON number is an IEEE 754 double there, so integers
//! beyond 2^53 print as their nearest double does), strings with only the escapes of section
//! 3.2.2.2.
//!
//! What it is not: a parser, or a validator of foreign input. [`is_canonical`] compares bytes
//! with what this writer makes of their parse.

use std::cmp::Ordering;

use serde::Serialize;
use serde_json::{Map, Number, Value};

/// The canonical form of `value`.
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value);
    out
}

/// The canonical form of `value`, as text.
pub fn to_string(value: &Value) -> String {
    String::from_utf8(to_vec(value)).expect("the writer emits UTF-8 only")
}

/// The canonical form of anything serde_json can represent (through its `Value`).
pub fn to_string_of<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    Ok(to_string(&serde_json::to_value(value)?))
}

/// Whether `bytes` are exactly the canonical form of the JSON they parse to; the parsed value
/// if so.
pub fn is_canonical(bytes: &[u8]) -> Result<Option<Value>, serde_json::Error> {
    let value: Value = serde_json::from_slice(bytes)?;
    Ok((to_vec(&value) == bytes).then_some(value))
}

/// Appends the canonical form of `value` to `out`.
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

fn write_object(out: &mut Vec<u8>, map: &Map<String, Value>) {
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    // A map iterates in byte order (or insertion order with serde_json's `preserve_order`);
    // canonical order is by UTF-16 code units, which differs from byte order only where a
    // character above U+FFFF meets one in U+E000..=U+FFFF. Sorting an already sorted vector is
    // one linear pass.
    members.sort_by(|a, b| utf16_cmp(a.0, b.0));
    out.push(b'{');
    for (i, (key, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, key);
        out.push(b':');
        write_value(out, value);
    }
    out.push(b'}');
}

fn utf16_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.as_bytes().cmp(b.as_bytes());
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

fn write_number(out: &mut Vec<u8>, n: &Number) {
    // serde_json holds finite numbers only; as in ECMAScript, every number is a double.
    let double = n.as_f64().expect("serde_json numbers convert to f64");
    let mut buffer = ryu_js::Buffer::new();
    out.extend_from_slice(buffer.format_finite(double).as_bytes());
}

/// RFC 8785 section 3.2.2.2: `"` and `\` escaped, control characters as the short escapes
/// where JSON has one and `\u00xx` (lowercase) otherwise, everything else as it is.
fn write_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut unicode = *b"\\u00xx";
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x09 => b"\\t",
            0x0A => b"\\n",
            0x0C => b"\\f",
            0x0D => b"\\r",
            0x00..=0x1F => {
                unicode[4] = HEX[usize::from(b >> 4)];
                unicode[5] = HEX[usize::from(b & 0xF)];
                &unicode
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}
