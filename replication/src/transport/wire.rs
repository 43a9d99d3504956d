//! The byte format between two nodes, inside TLS: length-prefixed frames, the first of which, in
//! each direction, is a [`Hello`]; every later frame carries a protobuf-encoded raft `Message`,
//! whole or, for one larger than a frame (a Raft snapshot of a big ledger), in parts.
//!
//! ```text
//! frame   = length: u32 big-endian, then `length` bytes (at most the kind's limit)
//! hello   = "SLKN" | version: u8 | raft id: u64 BE | genesis hash: [u8; 32]
//!           | node id length: u8 | node id: UTF-8
//! message = 0x00 | protobuf                       (a whole message)
//!         | 0x01 | bytes                           (a part, a full frame; more follow)
//!         | 0x02 | bytes                           (the last part: the parts concatenated
//!                                                    are the protobuf, at most 64 MiB)
//! ```
//!
//! A snapshot whose data is a descriptor ([`crate::stream`]) travels on a connection of its
//! own, opened for it and closed after it, so that the Raft messages of the peer's main
//! connection (heartbeats) are not held up behind the state:
//!
//! ```text
//! stream  = 0x03 | protobuf                       (first frame: the snapshot message)
//!           (0x04 | chunk bytes)*                  (the state, in order)
//!           0x05 | chunk count: u64 BE | SHA-256 over every (length u32 BE || chunk)
//! answer  = 0x06                                   (receiver to sender: imported, and the
//!                                                    message handed to Raft)
//! ```
//!
//! Pure functions and async read/write helpers over any byte stream; nothing here knows TLS.

use pki::NodeId;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::replica::RAFT_MESSAGE_BYTES_MAX;

/// Largest frame accepted or sent. raft-rs counts only the entries' own sizes against
/// [`RAFT_MESSAGE_BYTES_MAX`] and always sends at least one entry; each entry's field tag and
/// length (up to 6 bytes) and the message's own fields ride on top, which for many tiny entries
/// adds tens of percent. Twice the Raft limit covers that with room to spare while bounding a
/// connection's read buffer at 2 MiB. A larger message (a snapshot) is sent in parts.
pub const FRAME_BYTES_MAX: usize = 2 * RAFT_MESSAGE_BYTES_MAX as usize;

/// Bytes of the length prefix of a frame.
pub const FRAME_HEADER_BYTES: usize = 4;

/// Identifies a Silkline node-to-node stream, so that a stray client of another protocol is
/// refused at its first frame with a clear reason.
pub const HELLO_MAGIC: [u8; 4] = *b"SLKN";

/// Version of this wire format. A node refuses a peer speaking another version.
pub const WIRE_VERSION: u8 = 3;

/// First byte of a message frame: a whole message.
pub const KIND_WHOLE: u8 = 0;
/// First byte of a message frame: a part of a message, more parts follow.
pub const KIND_PART: u8 = 1;
/// First byte of a message frame: the last part of a message.
pub const KIND_LAST: u8 = 2;

/// First byte of a stream's first frame: the snapshot message whose state follows.
pub const KIND_STREAM_BEGIN: u8 = 3;
/// First byte of a stream frame: a chunk of the state.
pub const KIND_STREAM_CHUNK: u8 = 4;
/// First byte of a stream's last frame: how many chunks and their digest.
pub const KIND_STREAM_END: u8 = 5;
/// The receiver's only frame on a stream: the state was imported and the message delivered.
pub const KIND_STREAM_DONE: u8 = 6;

/// Bytes of a stream's end frame.
pub const STREAM_END_BYTES: usize = 1 + 8 + 32;

/// Largest message (its protobuf) sent in parts. Only a snapshot that holds its state travels
/// in parts: the genesis (the members, their CAs and CRLs, the node set: kilobytes), or the
/// whole state of a state machine that does not stream ([`crate::stream`]), which both sides
/// hold in memory and the leader serializes on its Raft thread. The node streams every other
/// snapshot from disk, one chunk at a time, whatever the state's size. 64 MiB is about 8,000
/// documents of a non-streaming ledger (BENCHMARKS.md: 841 MB at 100,000), far past where
/// streaming pays; and it is what one peer may make this node hold
/// ([`super::PEER_BUFFERED_BYTES_MAX`]), so the worst case is this times the peers.
pub const LARGE_MESSAGE_BYTES_MAX: usize = 64 << 20;

/// Bytes of the part frames of a message of [`LARGE_MESSAGE_BYTES_MAX`]: its protobuf, and the
/// kind byte of each part (every part but the last fills a frame).
pub const LARGE_MESSAGE_PART_BYTES_MAX: usize =
    LARGE_MESSAGE_BYTES_MAX + LARGE_MESSAGE_BYTES_MAX.div_ceil(FRAME_BYTES_MAX - 1);

/// Largest hello frame: magic, version, raft id, genesis hash, node id length and the longest
/// node id the certificate profile allows (`pki::identity::CODE_BYTES_MAX`).
pub const HELLO_BYTES_MAX: usize = 4 + 1 + 8 + 32 + 1 + pki::identity::CODE_BYTES_MAX;

/// What each side says first, after TLS: who it is in the Raft group and which network it
/// belongs to. The certificate already proved the node id; the hello binds it to a raft id and
/// to the network's genesis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The sender's Raft id.
    pub raft_id: u64,
    /// The sender's node id (must equal the node id in its certificate).
    pub node_id: NodeId,
    /// Hash of the network's genesis: two networks never exchange Raft messages.
    pub genesis_hash: [u8; 32],
}

/// Why a frame or a hello was not accepted. The connection it came on is closed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame length {len} exceeds the limit of {max} bytes")]
    Oversized { len: usize, max: usize },
    #[error("connection ended inside a frame (header or body truncated)")]
    Truncated,
    #[error("frame is not a raft message: {0}")]
    Undecodable(String),
    #[error("bad hello: {0}")]
    BadHello(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl Hello {
    /// The hello's bytes (a frame body).
    pub fn encode(&self) -> Vec<u8> {
        let id = self.node_id.as_str().as_bytes();
        let mut out = Vec::with_capacity(HELLO_BYTES_MAX);
        out.extend_from_slice(&HELLO_MAGIC);
        out.push(WIRE_VERSION);
        out.extend_from_slice(&self.raft_id.to_be_bytes());
        out.extend_from_slice(&self.genesis_hash);
        // A NodeId is at most CODE_BYTES_MAX (35) bytes, so its length fits a byte.
        out.push(u8::try_from(id.len()).expect("node id longer than 255 bytes"));
        out.extend_from_slice(id);
        out
    }

    /// Parses a hello frame body.
    pub fn decode(bytes: &[u8]) -> Result<Hello, FrameError> {
        let bad = |why: &str| FrameError::BadHello(why.to_string());
        let rest = bytes
            .strip_prefix(&HELLO_MAGIC)
            .ok_or_else(|| bad("not a Silkline node stream (magic)"))?;
        let (&version, rest) = rest.split_first().ok_or_else(|| bad("too short"))?;
        if version != WIRE_VERSION {
            return Err(FrameError::BadHello(format!(
                "wire version {version}, this node speaks {WIRE_VERSION}"
            )));
        }
        let (raft_id, rest) = rest
            .split_first_chunk::<8>()
            .ok_or_else(|| bad("too short"))?;
        let (genesis_hash, rest) = rest
            .split_first_chunk::<32>()
            .ok_or_else(|| bad("too short"))?;
        let (&len, rest) = rest.split_first().ok_or_else(|| bad("too short"))?;
        if rest.len() != usize::from(len) {
            return Err(bad("node id length does not match the frame"));
        }
        let node_id = std::str::from_utf8(rest)
            .map_err(|_| bad("node id is not UTF-8"))
            .and_then(|s| NodeId::new(s).map_err(FrameError::BadHello))?;
        Ok(Hello {
            raft_id: u64::from_be_bytes(*raft_id),
            node_id,
            genesis_hash: *genesis_hash,
        })
    }
}

/// Writes one frame (length prefix and body). Does not flush.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, body: &[u8]) -> std::io::Result<()> {
    debug_assert!(body.len() <= FRAME_BYTES_MAX);
    let len = u32::try_from(body.len()).expect("frame body over 4 GiB");
    w.write_all(&len.to_be_bytes()).await?;
    w.write_all(body).await
}

/// Reads one frame of at most `max` bytes. `Ok(None)` is a clean end of stream between frames;
/// an end inside a frame is [`FrameError::Truncated`]. An oversized length is refused before
/// anything is allocated or read.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Option<Vec<u8>>, FrameError> {
    let mut header = [0u8; FRAME_HEADER_BYTES];
    let mut filled = 0;
    while filled < header.len() {
        match r.read(&mut header[filled..]).await {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => filled += n,
            // rustls reports a TCP close without close_notify as UnexpectedEof: between
            // frames that is an ordinary end of stream, inside one it is a truncation.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return if filled == 0 {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated)
                };
            }
            Err(e) => return Err(e.into()),
        }
    }
    let len = u32::from_be_bytes(header) as usize;
    if len > max {
        return Err(FrameError::Oversized { len, max });
    }
    let mut body = vec![0u8; len];
    match r.read_exact(&mut body).await {
        Ok(_) => Ok(Some(body)),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(FrameError::Truncated),
        Err(e) => Err(e.into()),
    }
}

/// Encodes a raft message as one whole-message frame body (`0x00 | protobuf`). The message
/// must fit in a frame; [`encode_frames`] splits one that does not.
pub fn encode_message(message: &raft::eraftpb::Message) -> Result<Vec<u8>, FrameError> {
    let mut body = vec![KIND_WHOLE];
    protobuf::Message::write_to_vec(message, &mut body)
        .map_err(|e| FrameError::Undecodable(e.to_string()))?;
    Ok(body)
}

/// Encodes a raft message as frame bodies of at most [`FRAME_BYTES_MAX`]: one whole-message
/// frame, or parts. A message over [`LARGE_MESSAGE_BYTES_MAX`] is refused.
pub fn encode_frames(message: &raft::eraftpb::Message) -> Result<Vec<Vec<u8>>, FrameError> {
    let body = encode_message(message)?;
    if body.len() <= FRAME_BYTES_MAX {
        return Ok(vec![body]);
    }
    let protobuf = &body[1..];
    if protobuf.len() > LARGE_MESSAGE_BYTES_MAX {
        return Err(FrameError::Oversized {
            len: protobuf.len(),
            max: LARGE_MESSAGE_BYTES_MAX,
        });
    }
    let parts: Vec<&[u8]> = protobuf.chunks(FRAME_BYTES_MAX - 1).collect();
    let last = parts.len() - 1;
    Ok(parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let kind = if i == last { KIND_LAST } else { KIND_PART };
            [&[kind][..], part].concat()
        })
        .collect())
}

/// The first frame of a stream: the snapshot message (its data a descriptor, so small).
pub fn encode_stream_begin(message: &raft::eraftpb::Message) -> Result<Vec<u8>, FrameError> {
    let mut body = vec![KIND_STREAM_BEGIN];
    protobuf::Message::write_to_vec(message, &mut body)
        .map_err(|e| FrameError::Undecodable(e.to_string()))?;
    if body.len() > FRAME_BYTES_MAX {
        return Err(FrameError::Oversized {
            len: body.len(),
            max: FRAME_BYTES_MAX,
        });
    }
    Ok(body)
}

/// The message of a stream's first frame.
pub fn decode_stream_begin(body: &[u8]) -> Result<raft::eraftpb::Message, FrameError> {
    match body.split_first() {
        Some((&KIND_STREAM_BEGIN, protobuf)) => parse(protobuf),
        _ => Err(FrameError::Undecodable("not a stream's first frame".into())),
    }
}

/// The running count and digest of a stream's chunks, kept alike on both ends.
#[derive(Default)]
pub struct StreamDigest {
    chunks: u64,
    hasher: sha2::Sha256,
}

impl StreamDigest {
    pub fn add(&mut self, chunk: &[u8]) {
        use sha2::Digest as _;
        let len = u32::try_from(chunk.len()).expect("a chunk fits a frame");
        self.hasher.update(len.to_be_bytes());
        self.hasher.update(chunk);
        self.chunks += 1;
    }

    pub fn chunks(&self) -> u64 {
        self.chunks
    }

    /// The end frame for the chunks added so far.
    pub fn end_frame(self) -> Vec<u8> {
        use sha2::Digest as _;
        let mut body = Vec::with_capacity(STREAM_END_BYTES);
        body.push(KIND_STREAM_END);
        body.extend_from_slice(&self.chunks.to_be_bytes());
        body.extend_from_slice(&self.hasher.finalize());
        body
    }

    /// Whether `end` (an end frame) matches the chunks added so far.
    pub fn matches(self, end: &[u8]) -> bool {
        end.len() == STREAM_END_BYTES && self.end_frame() == end
    }
}

/// Decodes a whole-message frame body.
pub fn decode_message(body: &[u8]) -> Result<raft::eraftpb::Message, FrameError> {
    match body.split_first() {
        Some((&KIND_WHOLE, protobuf)) => parse(protobuf),
        Some((kind, _)) => Err(FrameError::Undecodable(format!(
            "frame kind {kind:#04x} where a whole message was expected"
        ))),
        None => Err(FrameError::Undecodable("empty frame".into())),
    }
}

fn parse(protobuf: &[u8]) -> Result<raft::eraftpb::Message, FrameError> {
    <raft::eraftpb::Message as protobuf::Message>::parse_from_bytes(protobuf)
        .map_err(|e| FrameError::Undecodable(e.to_string()))
}

/// Reassembles the messages of one connection from its frames. It keeps each part frame as read
/// (no copy, no growing buffer) until the last one, so what it holds is exactly the sum of the
/// part frames' lengths ([`Reassembly::held_bytes`]). It does not bound that sum itself: its
/// owner charges each frame ([`Reassembly::bytes_held_by`]) to a budget before pushing it, and
/// frees everything by dropping it.
#[derive(Debug, Default)]
pub struct Reassembly {
    /// The part frames of the message in progress, kind byte included.
    parts: Vec<Vec<u8>>,
    /// Sum of the parts' lengths (each part's capacity: see [`Reassembly::push`]).
    held: usize,
}

impl Reassembly {
    /// What pushing `body` adds to what a reassembly holds, until the message is complete: the
    /// whole body of a part or of the last part, nothing for any other frame.
    pub fn bytes_held_by(body: &[u8]) -> usize {
        match body.first() {
            Some(&(KIND_PART | KIND_LAST)) => body.len(),
            _ => 0,
        }
    }

    /// Bytes of the part frames held now (0 between messages).
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// Takes one frame body: a whole message, the last part of one, or a part (`Ok(None)`). A
    /// part that does not fill a frame (an honest sender's always do: see [`encode_frames`]),
    /// a whole message inside a partial one or an unknown kind is an error, and the connection
    /// is closed. A body is held at its capacity, which [`read_frame`] makes its length.
    pub fn push(
        &mut self,
        mut body: Vec<u8>,
    ) -> Result<Option<raft::eraftpb::Message>, FrameError> {
        let Some(&kind) = body.first() else {
            return Err(FrameError::Undecodable("empty frame".into()));
        };
        match kind {
            KIND_WHOLE if self.parts.is_empty() => parse(&body[1..]).map(Some),
            // A short part would cost a part's bookkeeping for a byte of data: refused.
            KIND_PART if body.len() != FRAME_BYTES_MAX => Err(FrameError::Undecodable(format!(
                "a part of {} bytes: every part but the last fills a frame of {FRAME_BYTES_MAX}",
                body.len()
            ))),
            KIND_PART => {
                body.shrink_to_fit();
                self.held += body.capacity();
                self.parts.push(body);
                Ok(None)
            }
            KIND_LAST => {
                self.parts.push(body);
                // Taken, not cleared: the parts' memory goes back as they are copied.
                let parts = std::mem::take(&mut self.parts);
                self.held = 0;
                let len = parts.iter().map(|p| p.len() - 1).sum();
                let mut whole = Vec::with_capacity(len);
                for part in parts {
                    whole.extend_from_slice(&part[1..]);
                }
                // The message's byte fields (the snapshot's data) share `whole`, uncopied.
                <raft::eraftpb::Message as protobuf::Message>::parse_from_carllerche_bytes(
                    &whole.into(),
                )
                .map(Some)
                .map_err(|e| FrameError::Undecodable(e.to_string()))
            }
            KIND_WHOLE => Err(FrameError::Undecodable(
                "a whole message inside a message sent in parts".into(),
            )),
            other => Err(FrameError::Undecodable(format!(
                "unknown frame kind {other:#04x}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> Hello {
        Hello {
            raft_id: 7,
            node_id: NodeId::new("node7").unwrap(),
            genesis_hash: [9; 32],
        }
    }

    #[test]
    fn hello_round_trips_and_fits_its_limit() {
        let bytes = hello().encode();
        assert!(bytes.len() <= HELLO_BYTES_MAX);
        assert_eq!(Hello::decode(&bytes).unwrap(), hello());
        let longest = Hello {
            node_id: NodeId::new("n".repeat(pki::identity::CODE_BYTES_MAX)).unwrap(),
            ..hello()
        };
        assert_eq!(longest.encode().len(), HELLO_BYTES_MAX);
    }

    #[test]
    fn bad_hellos_are_refused() {
        let good = hello().encode();
        let mut wrong_magic = good.clone();
        wrong_magic[0] = b'X';
        let mut wrong_version = good.clone();
        wrong_version[4] = WIRE_VERSION + 1;
        let mut long_id = good.clone();
        long_id.push(b'x');
        for bad in [
            wrong_magic,
            wrong_version,
            long_id,
            good[..10].to_vec(),
            Vec::new(),
        ] {
            assert!(matches!(Hello::decode(&bad), Err(FrameError::BadHello(_))));
        }
    }

    #[tokio::test]
    async fn frames_round_trip_and_limits_hold() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"abc").await.unwrap();
        write_frame(&mut buf, b"").await.unwrap();
        let mut r = buf.as_slice();
        assert_eq!(read_frame(&mut r, 16).await.unwrap(), Some(b"abc".to_vec()));
        assert_eq!(read_frame(&mut r, 16).await.unwrap(), Some(Vec::new()));
        assert_eq!(read_frame(&mut r, 16).await.unwrap(), None);

        let mut r: &[u8] = &[0, 0, 0, 17];
        assert!(matches!(
            read_frame(&mut r, 16).await,
            Err(FrameError::Oversized { len: 17, max: 16 })
        ));
        let mut r: &[u8] = &[0, 0, 0, 5, 1, 2];
        assert!(matches!(
            read_frame(&mut r, 16).await,
            Err(FrameError::Truncated)
        ));
        let mut r: &[u8] = &[0, 0];
        assert!(matches!(
            read_frame(&mut r, 16).await,
            Err(FrameError::Truncated)
        ));
    }

    #[test]
    fn messages_round_trip_and_garbage_is_undecodable() {
        let m = raft::eraftpb::Message {
            from: 1,
            to: 2,
            term: 3,
            ..Default::default()
        };
        let body = encode_message(&m).unwrap();
        assert_eq!(decode_message(&body).unwrap(), m);
        assert!(matches!(
            decode_message(&[0xff; 16]),
            Err(FrameError::Undecodable(_))
        ));
    }

    #[test]
    fn a_message_larger_than_a_frame_travels_in_parts() {
        let mut m = raft::eraftpb::Message::default();
        m.set_msg_type(raft::eraftpb::MessageType::MsgSnapshot);
        m.from = 1;
        m.to = 2;
        let data: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        m.mut_snapshot().set_data(data.into());
        let frames = encode_frames(&m).unwrap();
        assert!(frames.len() >= 3, "{} frames", frames.len());
        assert!(frames.iter().all(|f| f.len() <= FRAME_BYTES_MAX));
        let mut r = Reassembly::default();
        let mut held = 0;
        for f in &frames[..frames.len() - 1] {
            assert_eq!(Reassembly::bytes_held_by(f), f.len());
            assert!(r.push(f.clone()).unwrap().is_none());
            held += f.len();
            assert_eq!(r.held_bytes(), held);
        }
        assert_eq!(
            r.push(frames.last().unwrap().clone()).unwrap(),
            Some(m.clone())
        );
        // The reassembly is reset and holds nothing: a whole message decodes again.
        assert_eq!(r.held_bytes(), 0);
        let small = encode_message(&raft::eraftpb::Message::default()).unwrap();
        assert_eq!(Reassembly::bytes_held_by(&small), 0);
        assert!(r.push(small.clone()).unwrap().is_some());
        // A whole message inside a partial one, an unknown kind, an empty frame: refused.
        assert!(r.push(frames[0].clone()).unwrap().is_none());
        assert!(r.push(small).is_err());
        assert!(Reassembly::default().push(vec![9, 1, 2]).is_err());
        assert!(Reassembly::default().push(Vec::new()).is_err());
        // A part that does not fill a frame: refused, held nothing.
        let mut short = Reassembly::default();
        assert!(short.push(vec![KIND_PART, 1, 2]).is_err());
        assert_eq!(short.held_bytes(), 0);
    }
}
