//! Streamed snapshots on the wire ([`crate::stream`], frames in [`super::wire`]).
//!
//! The sender: a peer's dialer that dequeues a snapshot message whose data is a descriptor
//! hands it to a task of its own, which dials a second connection to the peer (the same mutual
//! TLS, pinning and hello as the main one), sends the message, the state's chunks as the
//! state machine's reader produces them, and the count and digest of the chunks, then waits
//! for the peer's answer. It reports to the runtime as it goes (progress, delivered, failed).
//! One stream per peer at a time.
//!
//! The receiver: an inbound connection whose first frame begins a stream is that stream. The
//! chunks go to the state machine's importer as they arrive (nothing is held in memory beyond
//! one chunk); a count or digest that does not match, a frame out of place, a stall of
//! [`STREAM_IDLE_TIMEOUT_MS`], or an import error ends it, and nothing is handed to Raft. Only
//! a complete import is followed by the message, and then by the answer.
//!
//! What a stream may hold on the receiver: one frame at a time, and none of its peer's
//! partial-message budget ([`super::PEER_BUFFERED_BYTES_MAX`]). Until its first frame it is
//! one of its peer's silent connections ([`super::PEER_SILENT_CONNECTIONS_MAX`]); after it, a
//! node imports one stream at a time, and another stream, of any peer, is closed at its first
//! frame.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use pki::NodeId;
use raft::eraftpb::{Message, MessageType};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::watch;

use super::wire::{self, FRAME_BYTES_MAX, StreamDigest};
use super::{AcceptContext, Dialer, HANDSHAKE_TIMEOUT_MS, WRITE_TIMEOUT_MS, cancelled};
use crate::stream::{ChunkImporter, ChunkReader, StreamReport};

/// Bytes of state in one chunk: half a frame, so that a chunk (which may run one record over)
/// always fits one.
pub const STREAM_CHUNK_BYTES: usize = FRAME_BYTES_MAX / 2;

/// Longest the receiver waits for the next frame of a stream, and the sender for its chunk
/// to be written.
pub const STREAM_IDLE_TIMEOUT_MS: u64 = 60_000;

/// Longest the sender waits, after the last chunk, for the receiver's answer: it flushes the
/// whole imported state to disk first.
pub const STREAM_ANSWER_TIMEOUT_MS: u64 = 300_000;

/// How often a stream in progress tells the runtime it is alive.
const PROGRESS_REPORT_MS: u64 = 500;

/// What the streams of a transport report, by peer, until the runtime takes it.
pub(super) type Reports = Arc<Mutex<BTreeMap<u64, StreamReport>>>;

impl Dialer {
    fn report(&self, report: StreamReport) {
        self.reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(self.peer_raft_id, report);
    }

    /// Takes a snapshot message the dialer would otherwise send whole: `true` if it streams it
    /// (or has reported why it cannot).
    pub(super) fn stream_if_named(
        &self,
        message: &Message,
        shutdown: &watch::Receiver<bool>,
    ) -> bool {
        if message.get_msg_type() != MessageType::MsgSnapshot {
            return false;
        }
        let Some(streams) = &self.streams else {
            return false;
        };
        let reader = match streams.reader(message.get_snapshot().get_data()) {
            None => return false,
            Some(Ok(reader)) => reader,
            Some(Err(reason)) => {
                tracing::warn!(peer = %self.peer.node_id, raft_id = self.peer_raft_id, %reason, "cannot stream a snapshot");
                self.report(StreamReport::Failed);
                return true;
            }
        };
        if self.streaming.swap(true, Ordering::AcqRel) {
            // The one in progress will report; Raft sends another only after it.
            tracing::debug!(peer = %self.peer.node_id, "a snapshot is already streaming to this peer; the newer one is dropped");
            return true;
        }
        tokio::spawn(
            self.clone()
                .stream_snapshot(message.clone(), reader, shutdown.clone()),
        );
        true
    }

    async fn stream_snapshot(
        self,
        message: Message,
        reader: Box<dyn ChunkReader>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let index = message.get_snapshot().get_metadata().index;
        let started = Instant::now();
        self.report(StreamReport::Progress);
        tracing::info!(peer = %self.peer.node_id, raft_id = self.peer_raft_id, index, "streaming a snapshot");
        let outcome = tokio::select! {
            _ = cancelled(&mut shutdown) => Err("the transport stopped".to_owned()),
            r = self.send_stream(&message, reader) => r,
        };
        match outcome {
            Ok((chunks, bytes)) => {
                tracing::info!(peer = %self.peer.node_id, raft_id = self.peer_raft_id, index, chunks, bytes, elapsed_ms = started.elapsed().as_millis() as u64, "snapshot streamed and imported by the peer");
                self.report(StreamReport::Delivered);
            }
            Err(reason) => {
                tracing::warn!(peer = %self.peer.node_id, raft_id = self.peer_raft_id, index, %reason, "streaming a snapshot failed");
                self.report(StreamReport::Failed);
            }
        }
        self.streaming.store(false, Ordering::Release);
    }

    /// The stream itself: returns the chunks and bytes sent.
    async fn send_stream(
        &self,
        message: &Message,
        mut reader: Box<dyn ChunkReader>,
    ) -> Result<(u64, u64), String> {
        let mut stream =
            tokio::time::timeout(Duration::from_millis(HANDSHAKE_TIMEOUT_MS), self.connect())
                .await
                .map_err(|_| format!("no connection within {HANDSHAKE_TIMEOUT_MS} ms"))?
                .map_err(|e| format!("connect: {e}"))?;
        let begin = wire::encode_stream_begin(message).map_err(|e| e.to_string())?;
        write(&mut stream, &begin).await?;
        let mut digest = StreamDigest::default();
        let mut bytes = 0u64;
        let mut reported = Instant::now();
        loop {
            let (back, chunk) = tokio::task::spawn_blocking(move || {
                let chunk = reader.next_chunk(STREAM_CHUNK_BYTES);
                (reader, chunk)
            })
            .await
            .map_err(|e| format!("the state reader failed: {e}"))?;
            reader = back;
            let Some(chunk) = chunk.map_err(|e| format!("reading the state: {e}"))? else {
                break;
            };
            if chunk.len() >= FRAME_BYTES_MAX {
                return Err(format!(
                    "a chunk of {} bytes does not fit a frame of {FRAME_BYTES_MAX}",
                    chunk.len()
                ));
            }
            digest.add(&chunk);
            bytes += chunk.len() as u64;
            let mut frame = Vec::with_capacity(1 + chunk.len());
            frame.push(wire::KIND_STREAM_CHUNK);
            frame.extend_from_slice(&chunk);
            write(&mut stream, &frame).await?;
            if reported.elapsed() >= Duration::from_millis(PROGRESS_REPORT_MS) {
                self.report(StreamReport::Progress);
                reported = Instant::now();
            }
        }
        let chunks = digest.chunks();
        write(&mut stream, &digest.end_frame()).await?;
        self.report(StreamReport::Progress);
        let answer = tokio::time::timeout(
            Duration::from_millis(STREAM_ANSWER_TIMEOUT_MS),
            wire::read_frame(&mut stream, 1),
        )
        .await
        .map_err(|_| format!("no answer within {STREAM_ANSWER_TIMEOUT_MS} ms of the last chunk"))?
        .map_err(|e| format!("reading the answer: {e}"))?;
        if answer.as_deref() != Some(&[wire::KIND_STREAM_DONE][..]) {
            return Err("the peer closed the stream without taking the snapshot".into());
        }
        let _ = tokio::time::timeout(Duration::from_millis(500), stream.shutdown()).await;
        Ok((chunks, bytes))
    }
}

/// Writes and flushes one frame, within [`WRITE_TIMEOUT_MS`].
async fn write<S: AsyncWrite + Unpin>(stream: &mut S, frame: &[u8]) -> Result<(), String> {
    let write = async {
        wire::write_frame(stream, frame).await?;
        stream.flush().await
    };
    match tokio::time::timeout(Duration::from_millis(WRITE_TIMEOUT_MS), write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("write failed: {e}")),
        Err(_) => Err(format!("write stalled for {WRITE_TIMEOUT_MS} ms")),
    }
}

/// The peer an inbound stream came from.
pub(super) struct StreamPeer {
    pub raft_id: u64,
    pub node: NodeId,
    pub addr: SocketAddr,
}

/// An inbound connection whose first frame, `begin`, began a stream: imports it, then hands
/// the snapshot message to the runtime and answers.
pub(super) async fn receive<S: AsyncRead + AsyncWrite + Unpin>(
    ctx: &AcceptContext,
    mut stream: S,
    begin: &[u8],
    peer: StreamPeer,
    mut shutdown: watch::Receiver<bool>,
) {
    // One import at a time: they would write the same tree.
    let Ok(_importing) = ctx.importing.try_lock() else {
        tracing::warn!(peer = %peer.node, raft_id = peer.raft_id, addr = %peer.addr, "refused a snapshot stream: another one is being imported");
        return;
    };
    let started = Instant::now();
    let outcome = tokio::select! {
        _ = cancelled(&mut shutdown) => return,
        r = import(ctx, &mut stream, begin, peer.raft_id) => r,
    };
    let (message, chunks, bytes) = match outcome {
        Ok(imported) => imported,
        Err(reason) => {
            tracing::warn!(peer = %peer.node, raft_id = peer.raft_id, addr = %peer.addr, %reason, "a snapshot stream from this peer failed; nothing of it is used");
            return;
        }
    };
    let index = message.get_snapshot().get_metadata().index;
    let delivered = tokio::time::timeout(
        Duration::from_millis(WRITE_TIMEOUT_MS),
        ctx.inbound.send(message),
    )
    .await;
    if !matches!(delivered, Ok(Ok(()))) {
        tracing::warn!(peer = %peer.node, index, "a streamed snapshot was imported but the runtime did not take its message");
        return;
    }
    tracing::info!(peer = %peer.node, raft_id = peer.raft_id, index, chunks, bytes, elapsed_ms = started.elapsed().as_millis() as u64, "streamed snapshot received");
    if let Err(reason) = write(&mut stream, &[wire::KIND_STREAM_DONE]).await {
        tracing::info!(peer = %peer.node, %reason, "could not answer a snapshot stream");
    }
}

async fn import<S: AsyncRead + AsyncWrite + Unpin>(
    ctx: &AcceptContext,
    stream: &mut S,
    begin: &[u8],
    peer_raft_id: u64,
) -> Result<(Message, u64, u64), String> {
    let message = wire::decode_stream_begin(begin).map_err(|e| e.to_string())?;
    if message.from != peer_raft_id
        || message.to != ctx.raft_id
        || message.get_msg_type() != MessageType::MsgSnapshot
    {
        return Err(
            "a stream's first message is not a snapshot from this peer to this node".into(),
        );
    }
    let streams = ctx
        .streams
        .clone()
        .ok_or("this node takes no streamed snapshots")?;
    let data = message.get_snapshot().get_data().to_vec();
    let mut importer: Box<dyn ChunkImporter> =
        tokio::task::spawn_blocking(move || streams.importer(&data))
            .await
            .map_err(|e| format!("the importer failed: {e}"))??;
    let mut digest = StreamDigest::default();
    let mut bytes = 0u64;
    loop {
        let frame = tokio::time::timeout(
            Duration::from_millis(STREAM_IDLE_TIMEOUT_MS),
            wire::read_frame(stream, FRAME_BYTES_MAX),
        )
        .await
        .map_err(|_| format!("no frame for {STREAM_IDLE_TIMEOUT_MS} ms"))?
        .map_err(|e| e.to_string())?
        .ok_or("the peer closed the stream before its end")?;
        match frame.first() {
            Some(&wire::KIND_STREAM_CHUNK) => {
                digest.add(&frame[1..]);
                bytes += (frame.len() - 1) as u64;
                let (back, result) = tokio::task::spawn_blocking(move || {
                    let result = importer.chunk(&frame[1..]);
                    (importer, result)
                })
                .await
                .map_err(|e| format!("the importer failed: {e}"))?;
                importer = back;
                result.map_err(|e| format!("importing a chunk: {e}"))?;
            }
            Some(&wire::KIND_STREAM_END) => {
                let chunks = digest.chunks();
                if !digest.matches(&frame) {
                    return Err(
                        "the chunks' count or digest does not match the stream's end".into(),
                    );
                }
                tokio::task::spawn_blocking(move || importer.finish())
                    .await
                    .map_err(|e| format!("the importer failed: {e}"))?
                    .map_err(|e| format!("finishing the import: {e}"))?;
                return Ok((message, chunks, bytes));
            }
            other => {
                return Err(format!("frame kind {other:?} inside a snapshot stream"));
            }
        }
    }
}
