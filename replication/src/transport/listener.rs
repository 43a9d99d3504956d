//! Inbound: the listener accepts connections (at most [`INBOUND_CONNECTIONS_MAX`] at once, of
//! which at most [`INBOUND_HANDSHAKES_MAX`] in handshake, [`INBOUND_HANDSHAKES_PER_SOURCE_MAX`]
//! from one source address), and each connection's task does the TLS handshake, reads which node the certificate names,
//! exchanges hellos, pins the raft id to that node, then reads frames and hands the messages to
//! the runtime's peer channel (or the connection to a snapshot stream).
//!
//! Not the sending side: this node never writes Raft messages on a connection it accepted
//! (see `dialer`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
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
    INBOUND_CONNECTIONS_MAX, INBOUND_HANDSHAKES_MAX, INBOUND_HANDSHAKES_PER_SOURCE_MAX,
    REPLACED_RELEASE_TIMEOUT_MS, bump, cancelled, check_genesis, exchange_hello, stream,
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

/// Why a new connection was closed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum Crowded {
    #[error(
        "its source address already has {INBOUND_HANDSHAKES_PER_SOURCE_MAX} handshakes in progress"
    )]
    Source,
    #[error("{INBOUND_HANDSHAKES_MAX} handshakes are already in progress")]
    Handshakes,
    #[error("{INBOUND_CONNECTIONS_MAX} inbound connections are already open")]
    Connections,
}

/// Connections still in their handshake, in all and by source address (no entry at zero).
#[derive(Debug, Default)]
struct HandshakeCounts {
    all: usize,
    by_source: HashMap<IpAddr, usize>,
}

/// The listener's slots: every connection holds a permit of `connections`; one still in its
/// handshake also a [`HandshakeSlot`].
#[derive(Debug)]
struct Slots {
    connections: Arc<Semaphore>,
    handshakes: Mutex<HandshakeCounts>,
}

impl Slots {
    fn new() -> Arc<Slots> {
        Arc::new(Slots {
            connections: Arc::new(Semaphore::new(INBOUND_CONNECTIONS_MAX)),
            handshakes: Mutex::new(HandshakeCounts::default()),
        })
    }

    fn handshakes(&self) -> std::sync::MutexGuard<'_, HandshakeCounts> {
        self.handshakes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Slots for a connection from `source` about to start its handshake.
    fn admit(
        self: &Arc<Slots>,
        source: IpAddr,
    ) -> Result<(OwnedSemaphorePermit, HandshakeSlot), Crowded> {
        let source = source.to_canonical();
        let mut counts = self.handshakes();
        if counts.by_source.get(&source).copied().unwrap_or(0) >= INBOUND_HANDSHAKES_PER_SOURCE_MAX
        {
            return Err(Crowded::Source);
        }
        if counts.all >= INBOUND_HANDSHAKES_MAX {
            return Err(Crowded::Handshakes);
        }
        let permit = self
            .connections
            .clone()
            .try_acquire_owned()
            .map_err(|_| Crowded::Connections)?;
        counts.all += 1;
        *counts.by_source.entry(source).or_insert(0) += 1;
        let slot = HandshakeSlot {
            slots: self.clone(),
            source,
        };
        Ok((permit, slot))
    }
}

/// A connection's place among those in handshake, given back when dropped: once the handshake
/// completes, or the connection ends before it does.
#[derive(Debug)]
struct HandshakeSlot {
    slots: Arc<Slots>,
    source: IpAddr,
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        let mut counts = self.slots.handshakes();
        counts.all = counts.all.saturating_sub(1);
        if let Some(n) = counts.by_source.get_mut(&self.source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.by_source.remove(&self.source);
            }
        }
    }
}

pub(super) async fn listen(
    listener: TcpListener,
    ctx: Arc<AcceptContext>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Slots::new();
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
                let (permit, handshake) = match slots.admit(addr.ip()) {
                    Ok(slots) => slots,
                    Err(crowded) => {
                        // Counted, and logged at debug only: a flood must not become a flood
                        // of log lines.
                        bump(&ctx.counters.handshakes_failed);
                        tracing::debug!(%addr, reason = %crowded, "closed a new inbound connection at once");
                        continue;
                    }
                };
                connections.spawn(serve(
                    ctx.clone(),
                    tcp,
                    addr,
                    (permit, handshake),
                    shutdown.clone(),
                ));
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
    (_permit, handshake_slot): (OwnedSemaphorePermit, HandshakeSlot),
    mut shutdown: watch::Receiver<bool>,
) {
    let established = tokio::select! {
        _ = cancelled(&mut shutdown) => return,
        r = tokio::time::timeout(Duration::from_millis(HANDSHAKE_TIMEOUT_MS), handshake(&ctx, tcp)) => {
            r.unwrap_or(Err(ConnectionError::HandshakeTimeout))
        }
    };
    drop(handshake_slot);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n))
    }

    #[test]
    fn one_source_holds_at_most_its_share_of_handshakes() {
        let slots = Slots::new();
        let held: Vec<_> = (0..INBOUND_HANDSHAKES_PER_SOURCE_MAX)
            .map(|_| slots.admit(ip(1)).expect("under the source's bound"))
            .collect();
        assert_eq!(slots.admit(ip(1)).err(), Some(Crowded::Source));
        // The same address written as IPv4-mapped IPv6 is the same source.
        let mapped = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0001).to_ipv6_mapped());
        assert_eq!(slots.admit(mapped).err(), Some(Crowded::Source));
        assert!(slots.admit(ip(2)).is_ok(), "another source is admitted");
        drop(held);
        assert!(
            slots.admit(ip(1)).is_ok(),
            "released when the connections end"
        );
    }

    #[test]
    fn handshakes_leave_the_other_half_to_established_peers() {
        let slots = Slots::new();
        let mut in_handshake: Vec<_> = (0..INBOUND_HANDSHAKES_MAX)
            .map(|n| slots.admit(ip(n as u32)).expect("under the bound"))
            .collect();
        assert_eq!(
            slots.admit(ip(9_999)).err(),
            Some(Crowded::Handshakes),
            "strangers that never finish their handshake take half the slots at most"
        );
        // Those handshakes complete: the connections keep their slots, the handshake room is
        // free again, up to the connections' bound.
        let mut established: Vec<_> = in_handshake
            .drain(..)
            .map(|(permit, handshake)| {
                drop(handshake);
                permit
            })
            .collect();
        while established.len() < INBOUND_CONNECTIONS_MAX {
            let (permit, handshake) = slots
                .admit(ip(established.len() as u32))
                .expect("room for established connections");
            drop(handshake);
            established.push(permit);
        }
        assert_eq!(slots.admit(ip(9_999)).err(), Some(Crowded::Connections));
        established.pop();
        assert!(slots.admit(ip(9_999)).is_ok());
    }
}
