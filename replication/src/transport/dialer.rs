//! Outbound: one [`Dialer`] task per peer owns the connection this node dialed to it, fed by
//! that peer's bounded, drop-oldest [`PeerQueue`], and redials with bounded exponential backoff
//! ([`RECONNECT_BACKOFF_MIN_MS`] to [`RECONNECT_BACKOFF_MAX_MS`]) when the connection fails.
//!
//! Not the receiving side: nothing is ever read from an outbound connection except its end
//! (see `listener`).

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use raft::eraftpb::Message;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio_rustls::TlsConnector;

use super::wire::{self, FrameError, Hello};
use super::{
    CLOSE_TIMEOUT_MS, ConnectionError, Counters, HANDSHAKE_TIMEOUT_MS, PeerAddress,
    RECONNECT_BACKOFF_MAX_MS, RECONNECT_BACKOFF_MIN_MS, SEND_BATCH_MESSAGES_MAX, WRITE_MS_PER_KIB,
    WRITE_TIMEOUT_MS, bump, cancelled, check_genesis, exchange_hello, stream,
};
use crate::stream::SnapshotStreams;

/// Most addresses one dial attempt tries when a peer's host name resolves to several (in the
/// resolver's order): enough for a dual-stack host and a few replicas behind one name, and a
/// bound on how long one attempt may take before the backoff.
pub const DIAL_ADDRESSES_MAX: usize = 8;

/// `host:port` split into its host (brackets of an IPv6 address removed) and port. The host
/// must not be empty and the port must be a nonzero number.
pub fn split_host_port(address: &str) -> Result<(&str, u16), String> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("{address:?} is not host:port"))?;
    let (host, bracketed) = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => (inner, true),
        None => (host, false),
    };
    let is_ipv6 = host.parse::<std::net::Ipv6Addr>().is_ok();
    if host.is_empty() || bracketed != is_ipv6 || (!bracketed && host.contains(':')) {
        return Err(format!(
            "{address:?} is not host:port (an IPv6 address goes in brackets)"
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok((host, p)),
        _ => Err(format!("{address:?}: the port must be 1 to 65535")),
    }
}

/// Resolves `address` (`host:port`) now, with the system's resolver through tokio, and
/// connects to the first of its addresses that accepts (at most [`DIAL_ADDRESSES_MAX`]). Called
/// at every attempt, so a name that now points elsewhere is followed.
pub(super) async fn dial(address: &str) -> std::io::Result<TcpStream> {
    let mut last = None;
    for addr in tokio::net::lookup_host(address)
        .await?
        .take(DIAL_ADDRESSES_MAX)
    {
        match TcpStream::connect(addr).await {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{address} resolves to no address"),
        )
    }))
}

/// One peer's outgoing queue: bounded, drop-oldest, shared by `send` and the peer's task.
#[derive(Debug)]
pub(super) struct PeerQueue {
    pub(super) messages: Mutex<VecDeque<Message>>,
    pub(super) ready: Notify,
    pub(super) capacity: usize,
}

impl PeerQueue {
    /// Queues `message`; returns whether an older message was dropped to make room.
    pub(super) fn push(&self, message: Message) -> bool {
        let dropped = {
            let mut q = self.messages.lock().unwrap_or_else(PoisonError::into_inner);
            let dropped = q.len() >= self.capacity && q.pop_front().is_some();
            q.push_back(message);
            dropped
        };
        self.ready.notify_one();
        dropped
    }

    pub(super) fn take(&self, max: usize) -> Vec<Message> {
        let mut q = self.messages.lock().unwrap_or_else(PoisonError::into_inner);
        let n = q.len().min(max);
        q.drain(..n).collect()
    }
}

/// The task that owns the outbound connection to one peer (and, cloned, a snapshot stream to
/// it).
#[derive(Clone)]
pub(super) struct Dialer {
    pub(super) peer_raft_id: u64,
    pub(super) peer: PeerAddress,
    pub(super) queue: Arc<PeerQueue>,
    pub(super) connector: TlsConnector,
    pub(super) own_hello: Hello,
    pub(super) counters: Arc<Counters>,
    pub(super) streams: Option<Arc<dyn SnapshotStreams>>,
    pub(super) reports: stream::Reports,
    /// A snapshot stream to this peer is running.
    pub(super) streaming: Arc<AtomicBool>,
}

impl Dialer {
    pub(super) async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let backoff_min = Duration::from_millis(RECONNECT_BACKOFF_MIN_MS);
        let backoff_max = Duration::from_millis(RECONNECT_BACKOFF_MAX_MS);
        let mut backoff = backoff_min;
        let mut failures: u64 = 0;
        loop {
            let attempt = tokio::select! {
                _ = cancelled(&mut shutdown) => return,
                r = tokio::time::timeout(
                    Duration::from_millis(HANDSHAKE_TIMEOUT_MS),
                    self.connect(),
                ) => r.unwrap_or(Err(ConnectionError::HandshakeTimeout)),
            };
            match attempt {
                Ok(stream) => {
                    bump(&self.counters.connections_outbound);
                    tracing::info!(peer = %self.peer.node_id, raft_id = self.peer_raft_id, addr = %self.peer.addr, "connected to peer");
                    backoff = backoff_min;
                    failures = 0;
                    match self.pump(stream, &mut shutdown).await {
                        None => return,
                        Some(reason) => {
                            tracing::info!(peer = %self.peer.node_id, raft_id = self.peer_raft_id, addr = %self.peer.addr, %reason, "connection to peer lost; redialing");
                        }
                    }
                }
                Err(e) => {
                    bump(&self.counters.dial_failures);
                    // Warn once per outage; a peer that stays down is not news every 2 s.
                    if failures == 0
                        || matches!(
                            e,
                            ConnectionError::Refused(_)
                                | ConnectionError::GenesisMismatch { .. }
                                | ConnectionError::IdentityMismatch { .. }
                        )
                    {
                        tracing::warn!(peer = %self.peer.node_id, raft_id = self.peer_raft_id, addr = %self.peer.addr, reason = %e, "cannot connect to peer; retrying with backoff");
                    } else {
                        tracing::debug!(peer = %self.peer.node_id, addr = %self.peer.addr, reason = %e, failures, "still cannot connect to peer");
                    }
                    failures += 1;
                }
            }
            tokio::select! {
                _ = cancelled(&mut shutdown) => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(backoff_max);
        }
    }

    pub(super) async fn connect(
        &self,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ConnectionError> {
        let (host, _) = split_host_port(&self.peer.addr).map_err(|reason| {
            ConnectionError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                reason,
            ))
        })?;
        let tcp = dial(&self.peer.addr).await?;
        tcp.set_nodelay(true)?;
        // The name is not what pins the peer (its node id is, `tls::PinnedServerVerifier`);
        // it is what rustls sends as SNI.
        let name = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(host.to_owned()).map_err(|e| {
                ConnectionError::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("host {host:?}: {e}"),
                ))
            })?,
        };
        let mut stream = self.connector.connect(name, tcp).await?;
        let hello = exchange_hello(&mut stream, &self.own_hello).await?;
        check_genesis(&self.own_hello.genesis_hash, &hello, &self.counters)?;
        if hello.raft_id != self.peer_raft_id || hello.node_id != self.peer.node_id {
            bump(&self.counters.refused_identity);
            return Err(ConnectionError::IdentityMismatch {
                claimed: format!("raft id {} / node {}", hello.raft_id, hello.node_id),
                reason: format!(
                    "we dialed raft id {} / node {}",
                    self.peer_raft_id, self.peer.node_id
                ),
            });
        }
        Ok(stream)
    }

    /// Writes queued messages until the connection fails (`Some(reason)`) or shutdown (`None`).
    async fn pump<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<String> {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut probe = [0u8; 1];
        loop {
            let batch = self.queue.take(SEND_BATCH_MESSAGES_MAX);
            if batch.is_empty() {
                tokio::select! {
                    _ = cancelled(shutdown) => {
                        let _ = tokio::time::timeout(
                            Duration::from_millis(CLOSE_TIMEOUT_MS),
                            writer.shutdown(),
                        ).await;
                        return None;
                    }
                    _ = self.queue.ready.notified() => continue,
                    // Nothing is ever sent back on an outbound connection: a read that returns
                    // means the peer closed it (or broke the protocol).
                    r = reader.read(&mut probe) => return Some(match r {
                        Ok(0) => "peer closed the connection".to_string(),
                        Ok(_) => "peer sent data on our outbound connection".to_string(),
                        Err(e) => format!("i/o: {e}"),
                    }),
                }
            }
            let mut encoded = Vec::with_capacity(batch.len());
            for message in batch {
                if self.stream_if_named(&message, shutdown) {
                    continue;
                }
                match wire::encode_frames(&message) {
                    Ok(frames) => encoded.push(frames),
                    Err(FrameError::Oversized { len, max }) => {
                        bump(&self.counters.dropped_oversized);
                        tracing::warn!(peer = %self.peer.node_id, bytes = len, max, msg_type = ?message.msg_type, "raft message larger than the transport carries; dropped");
                    }
                    Err(e) => {
                        tracing::warn!(peer = %self.peer.node_id, error = %e, "cannot encode a raft message; dropped");
                    }
                }
            }
            // A snapshot sent in parts may take a while: the deadline grows with the bytes.
            let bytes: usize = encoded.iter().flatten().map(Vec::len).sum();
            let deadline_ms = WRITE_TIMEOUT_MS + (bytes / 1024) as u64 * WRITE_MS_PER_KIB;
            let write = async {
                for frames in encoded {
                    for frame in frames {
                        wire::write_frame(&mut writer, &frame).await?;
                    }
                    bump(&self.counters.sent);
                }
                writer.flush().await
            };
            tokio::select! {
                _ = cancelled(shutdown) => return None,
                r = tokio::time::timeout(Duration::from_millis(deadline_ms), write) => match r {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Some(format!("write failed: {e}")),
                    Err(_) => return Some(format!("write stalled for {deadline_ms} ms")),
                },
            }
        }
    }
}
