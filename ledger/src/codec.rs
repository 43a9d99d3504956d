//! How the largest values sit in the store: a document's state and a history entry (the
//! signed transaction with it) are zstd-compressed when written and decompressed when read.
//!
//! They are two thirds of what a transaction adds to the store (about 2.5 KiB of canonical
//! JSON and 4.3 KiB of history entry for a bill's issue), and compress to ~40 % and ~55 %.
//! Compression is of the stored bytes only: the state hash covers the values themselves
//! (`chain_state_hash` runs on the block's writes before they are encoded here), so two
//! replicas agree whatever their zstd, and a stored value is read back byte for byte. A value
//! stored before this encoding (uncompressed JSON) still reads as it is: a compressed value is
//! told apart by the zstd frame magic, which no JSON text starts with.

use std::borrow::Cow;
use std::cell::RefCell;

use super::ChainError;
use super::keys;

/// zstd's fastest level: the values are small and written once per transaction on every
/// replica, on the apply path.
pub const LEVEL: i32 = 1;

/// Largest value a stored frame may decompress to (a document or a history entry holds at
/// most one envelope of `ENVELOPE_BYTES_MAX` and its content): a frame that claims more is
/// corrupt, and nothing that large is allocated for it.
pub const VALUE_BYTES_MAX: usize = 8 * 1024 * 1024;

thread_local! {
    /// One compression and one decompression context per thread, reused for every value:
    /// `zstd::bulk::compress` and `decompress` make (and zero) a fresh context per call, which
    /// under load was a tenth of the nodes' CPU, more than the compression itself
    /// (BENCHMARKS.md, issue 17).
    static COMPRESSOR: RefCell<zstd::bulk::Compressor<'static>> = RefCell::new(
        zstd::bulk::Compressor::new(LEVEL).expect("a zstd compression context at level 1"),
    );
    static DECOMPRESSOR: RefCell<zstd::bulk::Decompressor<'static>> = RefCell::new(
        zstd::bulk::Decompressor::new().expect("a zstd decompression context"),
    );
}

/// The first bytes of a zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// Whether values under `key` are stored compressed.
pub fn compressed(key: &[u8]) -> bool {
    key.starts_with(keys::DOC) || key.starts_with(keys::HISTORY) || key.starts_with(keys::CONTENT)
}

/// The bytes to store for `value` under `key`.
pub fn encode(key: &[u8], value: Vec<u8>) -> Vec<u8> {
    if !compressed(key) {
        return value;
    }
    // Compressing a buffer in memory fails only for want of memory.
    COMPRESSOR.with(|c| {
        c.borrow_mut()
            .compress(&value)
            .expect("zstd compresses a buffer in memory")
    })
}

/// The value stored as `stored` under `key` (borrowed when it is stored as it is).
pub fn decode<'a>(key: &[u8], stored: &'a [u8]) -> Result<Cow<'a, [u8]>, ChainError> {
    if !compressed(key) || !stored.starts_with(&ZSTD_MAGIC) {
        return Ok(Cow::Borrowed(stored));
    }
    let corrupt = |reason: String| ChainError::Corrupt {
        what: String::from_utf8_lossy(key).into_owned(),
        reason,
    };
    let size = match zstd::zstd_safe::get_frame_content_size(stored) {
        Ok(Some(size)) => size,
        Ok(None) => return Err(corrupt("a compressed value without its size".into())),
        Err(e) => return Err(corrupt(format!("not a zstd frame: {e:?}"))),
    };
    let size = usize::try_from(size)
        .ok()
        .filter(|s| *s <= VALUE_BYTES_MAX)
        .ok_or_else(|| corrupt(format!("a compressed value of {size} bytes")))?;
    DECOMPRESSOR
        .with(|d| d.borrow_mut().decompress(stored, size))
        .map(Cow::Owned)
        .map_err(|e| corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_and_history_round_trip_compressed_and_other_values_stay_as_they_are() {
        let value = br#"{"a":"some JSON that repeats, repeats, repeats, repeats"}"#.to_vec();
        for key in [&b"doc/X"[..], b"his/X\0\0\0\0\0\0\0\0\x01"] {
            let stored = encode(key, value.clone());
            assert!(stored.starts_with(&ZSTD_MAGIC));
            assert!(stored.len() < value.len());
            assert_eq!(decode(key, &stored).unwrap().as_ref(), value.as_slice());
            // A value stored uncompressed (before this encoding) reads as it is.
            assert_eq!(decode(key, &value).unwrap().as_ref(), value.as_slice());
        }
        assert_eq!(encode(b"txn/X", value.clone()), value);
        assert!(matches!(decode(b"txn/X", &value).unwrap(), Cow::Borrowed(v) if v == value));
    }

    #[test]
    fn a_corrupt_or_oversized_frame_is_refused() {
        let stored = encode(b"doc/X", vec![b'x'; 1000]);
        let mut cut = stored.clone();
        cut.truncate(stored.len() - 2);
        assert!(decode(b"doc/X", &cut).is_err());
        let huge = zstd::bulk::compress(&vec![0u8; VALUE_BYTES_MAX + 1], 1).unwrap();
        let refused = decode(b"doc/X", &huge).unwrap_err().to_string();
        assert!(refused.contains("bytes"), "{refused}");
        assert!(decode(b"doc/X", &ZSTD_MAGIC).is_err());
    }
}
