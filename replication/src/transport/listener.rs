//! Inbound: the listener accepts connections (at most [`INBOUND_CONNECTIONS_MAX`] at once),
//! and each connection's task does the TLS handshake, reads which node the certificate names,
//! exchanges hellos, pins the raft id to that node, then reads frames and hands the messages to
//! the runtime's peer channel (or the connection to a snapshot stream).
//!
//! Not the sending side: this node never writes Raft messages on a connection it accepted
//! (see `dialer`).

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use pki::{NodeId, Purpose};
use raft::eraftpb::Message;
use rustls::pki_types::UnixTime;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::inbound::{InboundPeers, PushError};
use super::tls::{self, SharedPeers};
use super::wire::{self, FRAME_BYTES_MAX, FrameError, Hello};
use super::{
    ACCEPT_ERROR_PAUSE_MS, ConnectionError, Counters, HANDSHAKE_TIMEOUT_MS,
    INBOUND_CONNECTIONS_MAX, REPLACED_RELEASE_TIMEOUT_MS, bump, cancelled, check_genesis,
    exchange_hello, stream,
};
use crate::stream::SnapshotStreams;

/// What every inbound connection task shares.
pub(super) struct AcceptContext {
    pub(super) raft_id: u64,
    pub(super) acceptor: TlsAcceptor,
    pub(super) trust: tls::SharedTrust,
    /// Raft id to the node its certificate must name; changes with the membership.
    pub(super) peers: SharedPeers,
    pub(super) own_hello: Hello,
    pub(super) counters: Arc<Counters>,
    pub(super) inbound: mpsc::Sender<Message>,
    pub(super) streams: Option<Arc<dyn SnapshotStreams>>,
    /// Held by the snapshot stream being imported.
    pub(super) importing: tokio::sync::Mutex<()>,
    /// Each peer's main and silent connections and the partial messages they hold.
    pub(super) inbound_peers: Arc<InboundPeers>,
}

pub(super) async fn listen(
    listener: TcpListener,
    ctx: Arc<AcceptContext>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(INBOUND_CONNECTIONS_MAX));
    let mut connections = JoinSet::new();
    loop {
        // Reap finished connection tasks so the set stays bounded.
        while let Some(done) = connections.try_join_next() {
            if let Err(e) = done
                && e.is_panic()
            {
                tracing::error!(error = %e, "an inbound connection task panicked");
            }
        }
        let accepted = tokio::select! {
            _ = cancelled(&mut shutdown) => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((tcp, addr)) => {
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    tracing::warn!(%addr, max = INBOUND_CONNECTIONS_MAX, "too many inbound connections; closing this one");
                    continue;
                };
                connections.spawn(serve(ctx.clone(), tcp, addr, permit, shutdown.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::select! {
                    _ = cancelled(&mut shutdown) => break,
                    _ = tokio::time::sleep(Duration::from_millis(ACCEPT_ERROR_PAUSE_MS)) => {}
                }
            }
        }
    }
    // Every connection task watches the same signal; wait for them to end.
    while connections.join_next().await.is_some() {}
}

/// One inbound connection: handshake, hellos, then frames until it ends.
async fn serve(
    ctx: Arc<AcceptContext>,
    tcp: TcpStream,
    addr: SocketAddr,
    _permit: OwnedSemaphorePermit,
    mut shutdown: watch::Receiver<bool>,
) {
    let established = tokio::select! {
        _ = cancelled(&mut shutdown) => return,
        r = tokio::time::timeout(Duration::from_millis(HANDSHAKE_TIMEOUT_MS), handshake(&ctx, tcp)) => {
            r.unwrap_or(Err(ConnectionError::HandshakeTimeout))
        }
    };
    let (mut stream, peer_raft_id, peer_node) = match established {
        Ok(e) => e,
        Err(e) => {
            bump(&ctx.counters.handshakes_failed);
            tracing::warn!(%addr, reason = %e, "refused an inbound connection");
            return;
        }
    };
    // Dropped whenever this task ends: the partial message goes, and its charge with it.
    // Registered before it is counted, so that whoever sees the count sees it registered.
    let mut connection = ctx.inbound_peers.register(peer_raft_id);
    bump(&ctx.counters.connections_inbound);
    tracing::info!(peer = %peer_node, raft_id = peer_raft_id, %addr, "peer connected");
    let replaced = || {
        tracing::info!(peer = %peer_node, raft_id = peer_raft_id, %addr, "closing connection from peer: a newer connection from the same peer replaced it");
    };
    let mut first = true;
    loop {
        let frame = tokio::select! {
            _ = cancelled(&mut shutdown) => return,
            _ = connection.replaced() => return replaced(),
            f = wire::read_frame(&mut stream, FRAME_BYTES_MAX) => f,
        };
        let body = match frame {
            Ok(Some(body)) => body,
            Ok(None) => {
                tracing::info!(peer = %peer_node, raft_id = peer_raft_id, %addr, "peer closed the connection");
                return;
            }
            Err(FrameError::Io(e)) => {
                tracing::info!(peer = %peer_node, raft_id = peer_raft_id, %addr, error = %e, "connection from peer failed");
                return;
            }
            Err(e) => {
                bump(&ctx.counters.closed_bad_frame);
                tracing::warn!(peer = %peer_node, raft_id = peer_raft_id, %addr, reason = %e, "closing connection from peer: bad frame");
                return;
            }
        };
        if std::mem::take(&mut first) {
            if body.first() == Some(&wire::KIND_STREAM_BEGIN) {
                if !connection.become_stream() {
                    return replaced();
                }
                let peer = stream::StreamPeer {
                    raft_id: peer_raft_id,
                    node: peer_node,
                    addr,
                };
                return stream::receive(&ctx, stream, &body, peer, shutdown).await;
            }
            let Some(mut held) = connection.become_main() else {
                return replaced();
            };
            // The connection this one replaced frees its partial message before this one
            // holds anything, so that the peer's budget is this connection's alone.
            let released = tokio::time::timeout(
                Duration::from_millis(REPLACED_RELEASE_TIMEOUT_MS),
                held.wait_for(|bytes| *bytes == 0),
            );
            tokio::select! {
                _ = cancelled(&mut shutdown) => return,
                _ = connection.replaced() => return replaced(),
                _ = released => {}
            }
        }
        let message = match connection.push(body) {
            Ok(Some(m)) => m,
            Ok(None) => continue,
            Err(e @ PushError::OverBudget { .. }) => {
                bump(&ctx.counters.closed_over_budget);
                tracing::warn!(peer = %peer_node, raft_id = peer_raft_id, %addr, reason = %e, "closing connection from peer: a part frame over the peer's buffer budget");
                return;
            }
            Err(PushError::Frame(e)) => {
                bump(&ctx.counters.closed_bad_frame);
                tracing::warn!(peer = %peer_node, raft_id = peer_raft_id, %addr, reason = %e, "closing connection from peer: bad frame");
                return;
            }
        };
        let still_peer = ctx
            .peers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&peer_raft_id)
            .is_some_and(|p| p.node_id == peer_node);
        if !still_peer {
            tracing::info!(peer = %peer_node, raft_id = peer_raft_id, %addr, "closing connection from a node that is no longer a peer");
            return;
        }
        if message.from != peer_raft_id || message.to != ctx.raft_id {
            bump(&ctx.counters.dropped_misaddressed);
            tracing::warn!(peer = %peer_node, raft_id = peer_raft_id, %addr, from = message.from, to = message.to, "dropped a message not from this peer or not to this node");
            continue;
        }
        match ctx.inbound.try_send(message) {
            Ok(()) => bump(&ctx.counters.received),
            Err(mpsc::error::TrySendError::Full(_)) => bump(&ctx.counters.dropped_inbound_full),
            // The runtime is gone: nobody will read what this peer sends.
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

async fn handshake(
    ctx: &AcceptContext,
    tcp: TcpStream,
) -> Result<(tokio_rustls::server::TlsStream<TcpStream>, u64, NodeId), ConnectionError> {
    tcp.set_nodelay(true)?;
    let mut stream = ctx.acceptor.accept(tcp).await?;
    // The verifier accepted a configured peer's node certificate; read which node it named.
    let node = tls::peer_node_id(
        &tls::current(&ctx.trust),
        stream.get_ref().1.peer_certificates(),
        UnixTime::now(),
        Purpose::TlsClient,
    )?;
    let hello = exchange_hello(&mut stream, &ctx.own_hello).await?;
    check_genesis(&ctx.own_hello.genesis_hash, &hello, &ctx.counters)?;
    // Pin the raft id: a valid certificate of one node cannot speak for another raft id.
    let expected = ctx
        .peers
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&hello.raft_id)
        .map(|p| p.node_id.clone());
    let expected = expected.as_ref();
    if expected != Some(&node) || hello.node_id != node {
        bump(&ctx.counters.refused_identity);
        return Err(ConnectionError::IdentityMismatch {
            claimed: format!("raft id {} / node {}", hello.raft_id, hello.node_id),
            reason: match expected {
                Some(e) => format!(
                    "raft id {} belongs to node {e} and the certificate names node {node}",
                    hello.raft_id
                ),
                None => format!(
                    "raft id {} is not a peer (certificate names node {node})",
                    hello.raft_id
                ),
            },
        });
    }
    Ok((stream, hello.raft_id, node))
}
