//! The transport's counters: [`Counters`] shared by its tasks, read as [`TransportStats`], so
//! that tests and operators need not parse logs.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared by the transport's tasks; read them with [`Counters::snapshot`].
#[derive(Debug, Default)]
pub struct Counters {
    pub(super) queued: AtomicU64,
    pub(super) dropped_queue_full: AtomicU64,
    pub(super) dropped_unknown_peer: AtomicU64,
    pub(super) dropped_oversized: AtomicU64,
    pub(super) sent: AtomicU64,
    pub(super) received: AtomicU64,
    pub(super) dropped_inbound_full: AtomicU64,
    pub(super) dropped_misaddressed: AtomicU64,
    pub(super) connections_outbound: AtomicU64,
    pub(super) connections_inbound: AtomicU64,
    pub(super) dial_failures: AtomicU64,
    pub(super) handshakes_failed: AtomicU64,
    pub(super) refused_certificate: AtomicU64,
    pub(super) refused_identity: AtomicU64,
    pub(super) refused_genesis: AtomicU64,
    pub(super) closed_bad_frame: AtomicU64,
    pub(super) closed_over_budget: AtomicU64,
    pub(super) closed_replaced: AtomicU64,
    pub(super) buffered_bytes: AtomicU64,
}

/// A snapshot of a transport's counters, since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Messages accepted by `send` into a peer's queue.
    pub queued: u64,
    /// Messages dropped from a full peer queue (the oldest goes).
    pub dropped_queue_full: u64,
    /// Messages to a raft id that is not a configured peer.
    pub dropped_unknown_peer: u64,
    /// Messages larger than [`super::wire::LARGE_MESSAGE_BYTES_MAX`], not sent.
    pub dropped_oversized: u64,
    /// Messages written to a peer's connection.
    pub sent: u64,
    /// Messages received and handed to the runtime.
    pub received: u64,
    /// Messages received but dropped because the runtime's channel was full.
    pub dropped_inbound_full: u64,
    /// Messages received whose `from` is not the authenticated peer or `to` is not this node.
    pub dropped_misaddressed: u64,
    /// Outbound connections established (TLS and hellos done).
    pub connections_outbound: u64,
    /// Inbound connections established (TLS and hellos done).
    pub connections_inbound: u64,
    /// Dials that did not end in an established connection.
    pub dial_failures: u64,
    /// Inbound connections that failed before being established, refusals included.
    pub handshakes_failed: u64,
    /// Peer certificates refused: foreign CA, expired, revoked, not a node certificate...
    pub refused_certificate: u64,
    /// Valid node certificates refused for naming the wrong node, or a hello whose raft id or
    /// node id does not match the certificate.
    pub refused_identity: u64,
    /// Peers refused for announcing another network's genesis hash.
    pub refused_genesis: u64,
    /// Connections closed for a truncated, oversized or undecodable frame.
    pub closed_bad_frame: u64,
    /// Connections closed for a part frame that would have taken their peer's partial messages
    /// over [`super::PEER_BUFFERED_BYTES_MAX`].
    pub closed_over_budget: u64,
    /// Inbound connections closed because a newer one of the same peer replaced them: as its
    /// main connection, or as the oldest of more than [`super::PEER_SILENT_CONNECTIONS_MAX`] silent
    /// ones.
    pub closed_replaced: u64,
    /// Bytes of partial messages held now, all peers together (a gauge: it goes back to 0 as
    /// messages complete and connections close).
    pub buffered_bytes: u64,
}

impl Counters {
    /// The current values.
    pub fn snapshot(&self) -> TransportStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TransportStats {
            queued: get(&self.queued),
            dropped_queue_full: get(&self.dropped_queue_full),
            dropped_unknown_peer: get(&self.dropped_unknown_peer),
            dropped_oversized: get(&self.dropped_oversized),
            sent: get(&self.sent),
            received: get(&self.received),
            dropped_inbound_full: get(&self.dropped_inbound_full),
            dropped_misaddressed: get(&self.dropped_misaddressed),
            connections_outbound: get(&self.connections_outbound),
            connections_inbound: get(&self.connections_inbound),
            dial_failures: get(&self.dial_failures),
            handshakes_failed: get(&self.handshakes_failed),
            refused_certificate: get(&self.refused_certificate),
            refused_identity: get(&self.refused_identity),
            refused_genesis: get(&self.refused_genesis),
            closed_bad_frame: get(&self.closed_bad_frame),
            closed_over_budget: get(&self.closed_over_budget),
            closed_replaced: get(&self.closed_replaced),
            buffered_bytes: get(&self.buffered_bytes),
        }
    }
}

/// Adds one to `counter`.
pub(super) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
