//! Proposal batching: many small client payloads become one Raft entry.
//!
//! One Raft entry costs one slot in every follower's log and, when it is the only thing in a
//! `Ready`, one `fdatasync`. STACK.md measured about 5,000 syncs/s on this machine but about
//! 100,000 values/s at 64 values per commit, so payloads are grouped into a [`Batch`] that closes
//! when it is full (count or bytes) or when its oldest payload has waited long enough.

use crate::error::ProposeError;

/// Largest single payload accepted. A signed bill-of-lading transaction is a few KiB; 512 KiB
/// leaves ample room while bounding the memory one client can pin, and, being half of
/// [`BATCH_BYTES_MAX`], guarantees that any payload fits a batch with its headers.
pub const PAYLOAD_BYTES_MAX: usize = 512 * 1024;

/// A batch closes at this many payloads. STACK.md: 64 values per durable commit reaches about
/// 100,000 values/s here; larger batches add latency for little more throughput.
pub const BATCH_PAYLOADS_MAX: usize = 64;

/// A batch closes before its payloads exceed this many bytes. Equal to the Raft message size
/// limit (`replica::RAFT_MESSAGE_BYTES_MAX`) so that one batch always fits one append message.
pub const BATCH_BYTES_MAX: usize = 1024 * 1024;

/// A batch closes once its oldest payload has waited this long. An fdatasync here costs about
/// 0.2 ms and a loopback round trip less: 2 ms of waiting buys batching under load while staying
/// far below a human-visible delay.
pub const BATCH_DEADLINE_MS: u64 = 2;

/// Bytes of the encoding before the first payload: version (1) + time (8) + count (4).
const HEADER_BYTES: usize = 13;
/// Bytes of the encoding in front of each payload: id (8) + length (4).
const ITEM_HEADER_BYTES: usize = 12;
/// Version byte of the batch encoding, so a future format can be told apart.
const BATCH_FORMAT_VERSION: u8 = 2;

/// Identifies a client proposal so that whoever proposed it can match its completion.
/// Chosen by the proposer; unique per proposer (the runtime puts the node id in the high bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProposalId(pub u64);

/// One client payload inside a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// The proposer's id for it.
    pub id: ProposalId,
    /// The opaque payload (later: a signed transaction).
    pub payload: Vec<u8>,
}

/// The contents of one Raft entry: payloads in proposal order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// The proposer's clock (ms since the Unix epoch) when the batch opened. The block made of
    /// this batch takes its time from here (never going backwards): the state machine itself
    /// never reads a clock.
    pub time_ms: u64,
    /// The payloads, applied in this order.
    pub proposals: Vec<Proposal>,
}

/// Why bytes in the log do not decode as a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchDecodeError {
    /// Fewer bytes than the header announced.
    #[error("truncated batch: {0}")]
    Truncated(&'static str),
    /// An unknown format version.
    #[error("unknown batch format version {0}")]
    Version(u8),
    /// More payloads than any batch may hold.
    #[error("batch announces {count} payloads (limit {max})")]
    TooMany {
        /// Announced count.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Bytes left over after the last payload.
    #[error("{0} trailing bytes after the last payload")]
    Trailing(usize),
}

impl Batch {
    /// Size of the encoding.
    pub fn encoded_len(&self) -> usize {
        HEADER_BYTES
            + self
                .proposals
                .iter()
                .map(|p| ITEM_HEADER_BYTES + p.payload.len())
                .sum::<usize>()
    }

    /// Encodes as: version u8, time u64 LE, count u32 LE, then per payload id u64 LE,
    /// length u32 LE, bytes.
    pub fn encode(&self) -> Vec<u8> {
        assert!(self.proposals.len() <= BATCH_PAYLOADS_MAX);
        let mut out = Vec::with_capacity(self.encoded_len());
        out.push(BATCH_FORMAT_VERSION);
        out.extend_from_slice(&self.time_ms.to_le_bytes());
        out.extend_from_slice(&(self.proposals.len() as u32).to_le_bytes());
        for p in &self.proposals {
            assert!(p.payload.len() <= PAYLOAD_BYTES_MAX);
            out.extend_from_slice(&p.id.0.to_le_bytes());
            out.extend_from_slice(&(p.payload.len() as u32).to_le_bytes());
            out.extend_from_slice(&p.payload);
        }
        debug_assert_eq!(out.len(), self.encoded_len());
        out
    }

    /// Decodes [`Batch::encode`]'s output, checking every length against the limits.
    pub fn decode(bytes: &[u8]) -> Result<Batch, BatchDecodeError> {
        let (&version, rest) = bytes
            .split_first()
            .ok_or(BatchDecodeError::Truncated("version"))?;
        if version != BATCH_FORMAT_VERSION {
            return Err(BatchDecodeError::Version(version));
        }
        let (time_ms, rest) = take_u64(rest, "time")?;
        let (count, mut rest) = take_u32(rest, "count")?;
        let count = count as usize;
        if count > BATCH_PAYLOADS_MAX {
            return Err(BatchDecodeError::TooMany {
                count,
                max: BATCH_PAYLOADS_MAX,
            });
        }
        let mut proposals = Vec::with_capacity(count);
        for _ in 0..count {
            let (id, r) = take_u64(rest, "id")?;
            let (len, r) = take_u32(r, "length")?;
            let len = len as usize;
            if r.len() < len {
                return Err(BatchDecodeError::Truncated("payload"));
            }
            let (payload, r) = r.split_at(len);
            proposals.push(Proposal {
                id: ProposalId(id),
                payload: payload.to_vec(),
            });
            rest = r;
        }
        if !rest.is_empty() {
            return Err(BatchDecodeError::Trailing(rest.len()));
        }
        Ok(Batch { time_ms, proposals })
    }
}

fn take_u32<'a>(b: &'a [u8], what: &'static str) -> Result<(u32, &'a [u8]), BatchDecodeError> {
    if b.len() < 4 {
        return Err(BatchDecodeError::Truncated(what));
    }
    let (head, rest) = b.split_at(4);
    Ok((u32::from_le_bytes(head.try_into().expect("4 bytes")), rest))
}

fn take_u64<'a>(b: &'a [u8], what: &'static str) -> Result<(u64, &'a [u8]), BatchDecodeError> {
    if b.len() < 8 {
        return Err(BatchDecodeError::Truncated(what));
    }
    let (head, rest) = b.split_at(8);
    Ok((u64::from_le_bytes(head.try_into().expect("8 bytes")), rest))
}

/// Groups payloads into batches. Pure: time is passed in, nothing is proposed here.
#[derive(Debug, Default)]
pub struct Batcher {
    /// Payloads of the batch being filled.
    open: Vec<Proposal>,
    /// Encoded size of `open`, maintained incrementally.
    open_bytes: usize,
    /// When the oldest payload of `open` arrived; `None` while `open` is empty.
    opened_at_ms: Option<u64>,
}

impl Batcher {
    /// Payloads waiting in the open batch.
    pub fn pending(&self) -> usize {
        self.open.len()
    }

    /// When the open batch must be closed, if one is open.
    pub fn deadline_ms(&self) -> Option<u64> {
        self.opened_at_ms.map(|t| t + BATCH_DEADLINE_MS)
    }

    /// Adds a payload. Returns the batches this closed (zero, one or two: the open one if the
    /// new payload does not fit, and the new one if it is then full).
    pub fn push(
        &mut self,
        id: ProposalId,
        payload: Vec<u8>,
        now_ms: u64,
    ) -> Result<Vec<Batch>, ProposeError> {
        if payload.len() > PAYLOAD_BYTES_MAX {
            return Err(ProposeError::PayloadTooLarge {
                bytes: payload.len(),
                max: PAYLOAD_BYTES_MAX,
            });
        }
        let mut closed = Vec::new();
        let item_bytes = ITEM_HEADER_BYTES + payload.len();
        if !self.open.is_empty() && HEADER_BYTES + self.open_bytes + item_bytes > BATCH_BYTES_MAX {
            closed.push(self.close());
        }
        if self.open.is_empty() {
            self.opened_at_ms = Some(now_ms);
        }
        self.open.push(Proposal { id, payload });
        self.open_bytes += item_bytes;
        if self.open.len() >= BATCH_PAYLOADS_MAX
            || HEADER_BYTES + self.open_bytes >= BATCH_BYTES_MAX
        {
            closed.push(self.close());
        }
        debug_assert!(self.open.len() < BATCH_PAYLOADS_MAX);
        Ok(closed)
    }

    /// Closes the open batch if its deadline has passed.
    pub fn poll(&mut self, now_ms: u64) -> Option<Batch> {
        match self.deadline_ms() {
            Some(deadline) if now_ms >= deadline => Some(self.close()),
            _ => None,
        }
    }

    /// Closes the open batch now, whatever its age (e.g. on shutdown or in tests).
    pub fn flush(&mut self) -> Option<Batch> {
        (!self.open.is_empty()).then(|| self.close())
    }

    fn close(&mut self) -> Batch {
        assert!(!self.open.is_empty(), "closing an empty batch");
        self.open_bytes = 0;
        let time_ms = self
            .opened_at_ms
            .take()
            .expect("an open batch has an opening time");
        Batch {
            time_ms,
            proposals: std::mem::take(&mut self.open),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip_and_rejects_garbage() {
        let batch = Batch {
            time_ms: 1_767_225_600_123,
            proposals: vec![
                Proposal {
                    id: ProposalId(7),
                    payload: b"set:k1:3".to_vec(),
                },
                Proposal {
                    id: ProposalId(u64::MAX),
                    payload: vec![],
                },
            ],
        };
        let bytes = batch.encode();
        assert_eq!(Batch::decode(&bytes).unwrap(), batch);
        assert!(Batch::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(Batch::decode(&extra), Err(BatchDecodeError::Trailing(1)));
        assert_eq!(Batch::decode(&[9]), Err(BatchDecodeError::Version(9)));
        assert!(Batch::decode(&[]).is_err());
    }

    #[test]
    fn closes_on_count_then_on_deadline() {
        let mut b = Batcher::default();
        let mut closed = Vec::new();
        for i in 0..(BATCH_PAYLOADS_MAX as u64 + 3) {
            closed.extend(b.push(ProposalId(i), vec![1, 2, 3], 10).unwrap());
        }
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].proposals.len(), BATCH_PAYLOADS_MAX);
        assert_eq!(b.pending(), 3);
        assert_eq!(b.poll(10 + BATCH_DEADLINE_MS - 1), None);
        let late = b.poll(10 + BATCH_DEADLINE_MS).unwrap();
        assert_eq!(late.proposals.len(), 3);
        assert_eq!(b.deadline_ms(), None);
    }

    #[test]
    fn closes_on_bytes_and_refuses_oversized_payloads() {
        let mut b = Batcher::default();
        let big = vec![0u8; PAYLOAD_BYTES_MAX];
        assert!(b.push(ProposalId(1), big.clone(), 0).unwrap().is_empty());
        // The second maximal payload does not fit next to the first one plus headers.
        let closed = b.push(ProposalId(2), big, 0).unwrap();
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].proposals[0].id, ProposalId(1));
        assert!(closed[0].encoded_len() <= BATCH_BYTES_MAX);
        assert_eq!(
            b.push(ProposalId(3), vec![0; PAYLOAD_BYTES_MAX + 1], 0),
            Err(ProposeError::PayloadTooLarge {
                bytes: PAYLOAD_BYTES_MAX + 1,
                max: PAYLOAD_BYTES_MAX
            })
        );
    }
}
