//! Proposal batching: many small client payloads become one Raft entry.
//!
//! One Raft entry costs one slot in every follower's log and, when it is the only thing in a
//! `Ready`, one `fdatasync`. STACK.md measured about 5,000 syncs/s on this machine but about
//! 100,000 values/s at 64 values per commit, so payloads are grouped into a [`Batch`] that closes
//! when it is full (count or bytes), when nothing this proposer closed before is still in flight
//! (group commit: a lone payload on an idle node goes at once, and under load the payloads that
//! arrive while one batch replicates form the next), or when its oldest payload has waited long
//! enough.
//!
//! A batch also carries two things its proposer stamps in when it opens, so that applying it
//! stays a pure function of the log: the proposer's clock (the block's time) and an
//! [`Attestation`] of the proposer's own state (the last block it had applied), which every
//! replica compares with its own when it applies the batch.

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

/// A closed batch that was neither applied nor dropped after this long is taken as lost (a
/// proposal forwarded to a leader that failed): it no longer holds back the next batch, which
/// then waits for its deadline as if the pipeline were busy. About one election timeout.
pub const IN_FLIGHT_FORGET_MS: u64 = 1_000;

/// Bytes of the encoding before the first payload: version (1) + time (8) + attestation
/// height (8) and digest (32) + count (4).
const HEADER_BYTES: usize = 53;
/// Bytes of the encoding in front of each payload: id (8) + length (4).
const ITEM_HEADER_BYTES: usize = 12;
/// Version byte of the batch encoding, so a future format can be told apart. Version 3 added
/// the attestation; version 2 entries (written before it) still decode, attesting nothing.
const BATCH_FORMAT_VERSION: u8 = 3;
/// The format before attestations: version, time, count, payloads.
const BATCH_FORMAT_VERSION_UNATTESTED: u8 = 2;

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

/// What a proposer vouches for about its own state when it opens a batch: the position of the
/// last block it had applied (`height`, in the state machine's own numbering) and that block's
/// digest. That block was committed before the batch was proposed, so it is earlier in the log
/// and every replica applying the batch has applied it too, and must hold the same digest at
/// that height. Height 0 attests nothing (nothing applied yet, or an entry from before
/// attestations).
///
/// It is part of the entry's bytes, so a replay checks exactly what the first apply checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Attestation {
    /// The attested block's height; 0 for none.
    pub height: u64,
    /// Its digest (for the ledger: the block hash, which covers the state hash).
    pub digest: [u8; 32],
}

impl Attestation {
    /// Attests nothing: checked by no one.
    pub const NONE: Attestation = Attestation {
        height: 0,
        digest: [0; 32],
    };

    /// Whether there is something to check.
    pub fn is_none(&self) -> bool {
        self.height == 0
    }
}

/// The contents of one Raft entry: payloads in proposal order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// The proposer's clock (ms since the Unix epoch) when the batch opened. The block made of
    /// this batch takes its time from here (never going backwards): the state machine itself
    /// never reads a clock.
    pub time_ms: u64,
    /// The proposer's state when the batch opened, for every replica to compare with its own.
    pub attestation: Attestation,
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

    /// Encodes as: version u8, time u64 LE, attestation height u64 LE and digest (32 bytes),
    /// count u32 LE, then per payload id u64 LE, length u32 LE, bytes.
    pub fn encode(&self) -> Vec<u8> {
        assert!(self.proposals.len() <= BATCH_PAYLOADS_MAX);
        let mut out = Vec::with_capacity(self.encoded_len());
        out.push(BATCH_FORMAT_VERSION);
        out.extend_from_slice(&self.time_ms.to_le_bytes());
        out.extend_from_slice(&self.attestation.height.to_le_bytes());
        out.extend_from_slice(&self.attestation.digest);
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

    /// Decodes [`Batch::encode`]'s output, checking every length against the limits. A
    /// version 2 entry (before attestations) decodes with [`Attestation::NONE`].
    pub fn decode(bytes: &[u8]) -> Result<Batch, BatchDecodeError> {
        let (&version, rest) = bytes
            .split_first()
            .ok_or(BatchDecodeError::Truncated("version"))?;
        if version != BATCH_FORMAT_VERSION && version != BATCH_FORMAT_VERSION_UNATTESTED {
            return Err(BatchDecodeError::Version(version));
        }
        let (time_ms, rest) = take_u64(rest, "time")?;
        let (attestation, rest) = if version == BATCH_FORMAT_VERSION {
            let (height, rest) = take_u64(rest, "attestation height")?;
            let (digest, rest) = rest
                .split_first_chunk::<32>()
                .ok_or(BatchDecodeError::Truncated("attestation digest"))?;
            (
                Attestation {
                    height,
                    digest: *digest,
                },
                rest,
            )
        } else {
            (Attestation::NONE, rest)
        };
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
        Ok(Batch {
            time_ms,
            attestation,
            proposals,
        })
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
    /// The proposer's attestation when `open` opened.
    opened_attestation: Attestation,
    /// Batches closed here and not yet settled (applied or dropped): the first proposal id of
    /// each and when it closed, oldest first.
    in_flight: std::collections::VecDeque<(ProposalId, u64)>,
}

impl Batcher {
    /// Payloads waiting in the open batch.
    pub fn pending(&self) -> usize {
        self.open.len()
    }

    /// When the open batch must be closed, if one is open: at once while no batch closed
    /// here is in flight (nothing to wait behind), else when its oldest payload has waited
    /// [`BATCH_DEADLINE_MS`].
    pub fn deadline_ms(&self) -> Option<u64> {
        let wait = if self.in_flight.is_empty() {
            0
        } else {
            BATCH_DEADLINE_MS
        };
        self.opened_at_ms.map(|t| t + wait)
    }

    /// Batches closed here and not settled yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The batch whose first proposal is `first` was applied or dropped: it no longer holds
    /// back the open one. An id this batcher did not close (another proposer's batch, or one
    /// already forgotten) changes nothing.
    pub fn settled(&mut self, first: ProposalId) {
        if let Some(i) = self.in_flight.iter().position(|(id, _)| *id == first) {
            self.in_flight.remove(i);
        }
    }

    /// Adds a payload. `now_ms` and `attestation` (the proposer's clock and state now) are
    /// stamped into the batch if this payload opens one. Returns the batches this closed (zero,
    /// one or two: the open one if the new payload does not fit, and the new one if it is then
    /// full).
    pub fn push(
        &mut self,
        id: ProposalId,
        payload: Vec<u8>,
        now_ms: u64,
        attestation: Attestation,
    ) -> Result<Vec<Batch>, ProposeError> {
        if payload.len() > PAYLOAD_BYTES_MAX {
            return Err(ProposeError::PayloadTooLarge {
                bytes: payload.len(),
                max: PAYLOAD_BYTES_MAX,
            });
        }
        self.forget_lost(now_ms);
        let mut closed = Vec::new();
        let item_bytes = ITEM_HEADER_BYTES + payload.len();
        if !self.open.is_empty() && HEADER_BYTES + self.open_bytes + item_bytes > BATCH_BYTES_MAX {
            closed.push(self.close(now_ms));
        }
        if self.open.is_empty() {
            self.opened_at_ms = Some(now_ms);
            self.opened_attestation = attestation;
        }
        self.open.push(Proposal { id, payload });
        self.open_bytes += item_bytes;
        if self.open.len() >= BATCH_PAYLOADS_MAX
            || HEADER_BYTES + self.open_bytes >= BATCH_BYTES_MAX
        {
            closed.push(self.close(now_ms));
        }
        debug_assert!(self.open.len() < BATCH_PAYLOADS_MAX);
        Ok(closed)
    }

    /// Closes the open batch if its deadline ([`Batcher::deadline_ms`]) has passed.
    pub fn poll(&mut self, now_ms: u64) -> Option<Batch> {
        self.forget_lost(now_ms);
        match self.deadline_ms() {
            Some(deadline) if now_ms >= deadline => Some(self.close(now_ms)),
            _ => None,
        }
    }

    /// Closes the open batch now, whatever its age (e.g. on shutdown or in tests).
    pub fn flush(&mut self, now_ms: u64) -> Option<Batch> {
        (!self.open.is_empty()).then(|| self.close(now_ms))
    }

    fn forget_lost(&mut self, now_ms: u64) {
        while let Some(&(_, closed_at)) = self.in_flight.front() {
            if now_ms < closed_at.saturating_add(IN_FLIGHT_FORGET_MS) {
                break;
            }
            self.in_flight.pop_front();
        }
    }

    fn close(&mut self, now_ms: u64) -> Batch {
        assert!(!self.open.is_empty(), "closing an empty batch");
        self.in_flight.push_back((self.open[0].id, now_ms));
        self.open_bytes = 0;
        let time_ms = self
            .opened_at_ms
            .take()
            .expect("an open batch has an opening time");
        Batch {
            time_ms,
            attestation: std::mem::take(&mut self.opened_attestation),
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
            attestation: Attestation {
                height: 41,
                digest: [0xab; 32],
            },
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
        assert_eq!(
            Batch::decode(&bytes[..20]),
            Err(BatchDecodeError::Truncated("attestation digest"))
        );
    }

    #[test]
    fn an_entry_from_before_attestations_decodes_attesting_nothing() {
        // Version 2: version, time, count, then the payloads; no attestation.
        let mut v2 = vec![BATCH_FORMAT_VERSION_UNATTESTED];
        v2.extend_from_slice(&5u64.to_le_bytes());
        v2.extend_from_slice(&1u32.to_le_bytes());
        v2.extend_from_slice(&7u64.to_le_bytes());
        v2.extend_from_slice(&2u32.to_le_bytes());
        v2.extend_from_slice(b"ok");
        let batch = Batch::decode(&v2).unwrap();
        assert_eq!(batch.time_ms, 5);
        assert_eq!(batch.attestation, Attestation::NONE);
        assert!(batch.attestation.is_none());
        assert_eq!(batch.proposals[0].payload, b"ok");
    }

    #[test]
    fn a_batch_carries_the_attestation_of_when_it_opened() {
        let mut b = Batcher::default();
        let at = |height| Attestation {
            height,
            digest: [height as u8; 32],
        };
        assert!(
            b.push(ProposalId(1), vec![1], 10, at(3))
                .unwrap()
                .is_empty()
        );
        // Later payloads join the open batch; the proposer's newer state does not change it.
        assert!(
            b.push(ProposalId(2), vec![2], 11, at(4))
                .unwrap()
                .is_empty()
        );
        let first = b.flush(11).unwrap();
        assert_eq!((first.time_ms, first.attestation), (10, at(3)));
        assert!(
            b.push(ProposalId(3), vec![3], 12, at(5))
                .unwrap()
                .is_empty()
        );
        assert_eq!(b.flush(12).unwrap().attestation, at(5));
    }

    #[test]
    fn closes_on_count_then_on_deadline() {
        let mut b = Batcher::default();
        let mut closed = Vec::new();
        for i in 0..(BATCH_PAYLOADS_MAX as u64 + 3) {
            closed.extend(
                b.push(ProposalId(i), vec![1, 2, 3], 10, Attestation::NONE)
                    .unwrap(),
            );
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
        assert!(
            b.push(ProposalId(1), big.clone(), 0, Attestation::NONE)
                .unwrap()
                .is_empty()
        );
        // The second maximal payload does not fit next to the first one plus headers.
        let closed = b.push(ProposalId(2), big, 0, Attestation::NONE).unwrap();
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].proposals[0].id, ProposalId(1));
        assert!(closed[0].encoded_len() <= BATCH_BYTES_MAX);
        assert_eq!(
            b.push(
                ProposalId(3),
                vec![0; PAYLOAD_BYTES_MAX + 1],
                0,
                Attestation::NONE
            ),
            Err(ProposeError::PayloadTooLarge {
                bytes: PAYLOAD_BYTES_MAX + 1,
                max: PAYLOAD_BYTES_MAX
            })
        );
    }

    #[test]
    fn an_idle_pipeline_closes_at_once_and_a_busy_one_waits_for_the_deadline() {
        let mut b = Batcher::default();
        let push = |b: &mut Batcher, id: u64, now: u64| {
            b.push(ProposalId(id), vec![0; 16], now, Attestation::NONE)
                .unwrap()
        };
        // Nothing in flight: the first payload's batch is due when it opens.
        assert!(push(&mut b, 1, 100).is_empty());
        assert_eq!(b.deadline_ms(), Some(100));
        let first = b.poll(100).expect("due at once");
        assert_eq!(first.proposals.len(), 1);
        assert_eq!(b.in_flight(), 1);

        // While it replicates, the next payloads gather and wait for the deadline.
        assert!(push(&mut b, 2, 101).is_empty());
        assert!(push(&mut b, 3, 101).is_empty());
        assert_eq!(b.deadline_ms(), Some(101 + BATCH_DEADLINE_MS));
        assert_eq!(b.poll(102), None);

        // Another proposer's batch settling changes nothing; ours settling makes the open
        // batch due at once.
        b.settled(ProposalId(99));
        assert_eq!(b.poll(102), None);
        b.settled(ProposalId(1));
        assert_eq!(b.in_flight(), 0);
        let second = b.poll(102).expect("due once the pipeline is idle");
        assert_eq!(second.proposals.len(), 2);

        // A batch never settled (lost with a failed leader) stops holding back the next one
        // after IN_FLIGHT_FORGET_MS; until then the deadline applies.
        assert!(push(&mut b, 4, 103).is_empty());
        assert_eq!(b.poll(103 + BATCH_DEADLINE_MS).unwrap().proposals.len(), 1);
        assert_eq!(b.in_flight(), 2);
        let later = 102 + IN_FLIGHT_FORGET_MS;
        assert!(push(&mut b, 5, later).is_empty());
        assert_eq!(b.in_flight(), 1, "the batch closed at 102 is forgotten");
        assert_eq!(b.poll(later), None, "the one closed at 105 still counts");
        assert!(b.poll(later + BATCH_DEADLINE_MS).is_some());
    }
}
