//! The byte format between two nodes, inside TLS: length-prefixed frames, the first of which, in
//! each direction, is a [`Hello`]; every later frame is one protobuf-encoded raft `Message`.
//!
//! ```text
//! frame  = length: u32 big-endian, then `length` bytes (at most the kind's limit)
//! hello  = "SLKN" | version: u8 | raft id: u64 BE | genesis hash: [u8; 32]
//!          | node id length: u8 | node id: UTF-8
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
/// connection's read buffer at 2 MiB. Larger snapshot messages are not sent (see the module
/// docs of `transport`).
pub const FRAME_BYTES_MAX: usize = 2 * RAFT_MESSAGE_BYTES_MAX as usize;

/// Bytes of the length prefix of a frame.
pub const FRAME_HEADER_BYTES: usize = 4;

/// Identifies a Silkline node-to-node stream, so that a stray client of another protocol is
/// refused at its first frame with a clear reason.
pub const HELLO_MAGIC: [u8; 4] = *b"SLKN";

/// Version of this wire format. A node refuses a peer speaking another version.
pub const WIRE_VERSION: u8 = 1;

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

/// Encodes a raft message as a frame body.
pub fn encode_message(message: &raft::eraftpb::Message) -> Result<Vec<u8>, FrameError> {
    protobuf::Message::write_to_bytes(message).map_err(|e| FrameError::Undecodable(e.to_string()))
}

/// Decodes a frame body as a raft message.
pub fn decode_message(body: &[u8]) -> Result<raft::eraftpb::Message, FrameError> {
    <raft::eraftpb::Message as protobuf::Message>::parse_from_bytes(body)
        .map_err(|e| FrameError::Undecodable(e.to_string()))
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
}
