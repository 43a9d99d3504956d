//! The established inbound connections of each peer: which one is the peer's main connection,
//! which have not spoken yet, and the bytes of messages in parts they hold, charged to one
//! budget per peer.
//!
//! The rules, per peer raft id (the hello pinned it to the certificate's node id):
//!
//! - A connection that has sent no frame yet is *silent*: a main connection with nothing to
//!   send so far, its replacement after the peer restarted (the old one may be half-open), or a
//!   snapshot stream whose first frame is on its way. At most [`PEER_SILENT_CONNECTIONS_MAX`];
//!   a newer one closes the oldest.
//! - Its first frame says what it is. A stream's ([`super::wire::KIND_STREAM_BEGIN`]) leaves the
//!   registry: streams hold one frame at a time, and a node imports one at a time
//!   ([`super::stream`]). Any other frame makes it the peer's main connection if it is the
//!   newest to have spoken: the previous main one is closed (the newest wins, so a peer that
//!   reconnects is never locked out by its own half-open connection), and its partial message
//!   is freed before the new one holds anything. An older connection that speaks after a newer
//!   one is closed.
//! - Every part frame is charged to the peer's budget, [`PEER_BUFFERED_BYTES_MAX`], before it
//!   is held; one that would exceed it closes its connection. A connection that ends, for any
//!   reason, frees its partial message and gives its charge back (its `Drop`).
//!
//! What it is not: no I/O. It tells a connection's task to close (a [`Notify`]); the task
//! closes, logs why, and drops its [`InboundConnection`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use raft::eraftpb::Message;
use tokio::sync::{Notify, watch};

use super::wire::{FrameError, Reassembly};
use super::{Counters, PEER_BUFFERED_BYTES_MAX, PEER_SILENT_CONNECTIONS_MAX, bump};

/// Every peer's inbound connections. One per transport, shared by its connection tasks.
#[derive(Debug)]
pub(super) struct InboundPeers {
    registry: Mutex<Registry>,
    counters: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Registry {
    /// The number the next connection gets: numbers give the order connections were
    /// established in, so "newer" is "larger".
    next_id: u64,
    peers: BTreeMap<u64, PeerConnections>,
}

/// One peer's inbound connections.
#[derive(Debug)]
struct PeerConnections {
    /// Bytes of part frames its connections hold, at most [`PEER_BUFFERED_BYTES_MAX`]. A
    /// watch, so that a new main connection can wait for the one it replaced to let go.
    buffered: watch::Sender<usize>,
    /// The newest connection to have spoken (a frame other than a stream's first).
    main: Option<Slot>,
    /// Connections that have not sent a frame yet, oldest first.
    silent: VecDeque<Slot>,
    /// Connections of this peer alive (streams included): the entry goes with the last.
    alive: usize,
}

#[derive(Debug)]
struct Slot {
    id: u64,
    close: Arc<Notify>,
}

/// Why a frame was not taken. The connection it came on is closed.
#[derive(Debug, thiserror::Error)]
pub(super) enum PushError {
    #[error(
        "holding it would raise this peer's partial messages to {would} bytes, over its budget of {max}"
    )]
    OverBudget { would: usize, max: usize },
    #[error("{0}")]
    Frame(#[from] FrameError),
}

impl InboundPeers {
    pub(super) fn new(counters: Arc<Counters>) -> InboundPeers {
        InboundPeers {
            registry: Mutex::default(),
            counters,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A connection of `peer` was established: it is silent until its first frame. If the peer
    /// now has more than [`PEER_SILENT_CONNECTIONS_MAX`] silent ones, the oldest is closed.
    pub(super) fn register(self: &Arc<Self>, peer: u64) -> InboundConnection {
        let close = Arc::new(Notify::new());
        let mut registry = self.lock();
        let id = registry.next_id;
        registry.next_id += 1;
        let entry = registry
            .peers
            .entry(peer)
            .or_insert_with(|| PeerConnections {
                buffered: watch::Sender::new(0),
                main: None,
                silent: VecDeque::new(),
                alive: 0,
            });
        entry.alive += 1;
        entry.silent.push_back(Slot {
            id,
            close: close.clone(),
        });
        if entry.silent.len() > PEER_SILENT_CONNECTIONS_MAX
            && let Some(oldest) = entry.silent.pop_front()
        {
            self.replace(oldest);
        }
        InboundConnection {
            peers: self.clone(),
            peer,
            id,
            close,
            reassembly: Reassembly::default(),
            charged: 0,
        }
    }

    /// Tells a replaced connection to close, and counts it.
    fn replace(&self, slot: Slot) {
        bump(&self.counters.closed_replaced);
        slot.close.notify_one();
    }
}

/// One established inbound connection's place among its peer's, and its partial message.
/// Dropping it frees the partial message and gives its charge back.
#[derive(Debug)]
pub(super) struct InboundConnection {
    peers: Arc<InboundPeers>,
    peer: u64,
    id: u64,
    /// Notified when a newer connection of the same peer replaces this one.
    close: Arc<Notify>,
    reassembly: Reassembly,
    /// Bytes charged to the peer's budget: what `reassembly` holds, after each push.
    charged: usize,
}

impl InboundConnection {
    /// Resolves once a newer connection of the same peer has replaced this one (at once if
    /// that happened already).
    pub(super) async fn replaced(&self) {
        self.close.notified().await;
    }

    /// The first frame is not a stream's: this becomes the peer's main connection and the
    /// previous one is told to close. `None` if this one was replaced already (closed as
    /// the oldest silent one, or older than the main one): close it. Otherwise a watch of the
    /// bytes the peer's connections hold: wait for 0 (the replaced connection let go) before
    /// holding anything.
    pub(super) fn become_main(&self) -> Option<watch::Receiver<usize>> {
        let mut registry = self.peers.lock();
        let entry = registry.peers.get_mut(&self.peer)?;
        let at = entry.silent.iter().position(|s| s.id == self.id)?;
        let this = entry.silent.remove(at)?;
        match entry.main.take() {
            Some(newer) if newer.id > self.id => {
                entry.main = Some(newer);
                bump(&self.peers.counters.closed_replaced);
                return None;
            }
            Some(older) => self.peers.replace(older),
            None => {}
        }
        entry.main = Some(this);
        Some(entry.buffered.subscribe())
    }

    /// The first frame begins a snapshot stream: the connection leaves the registry (a node
    /// imports one stream at a time). `false` if it was replaced already: close it.
    pub(super) fn become_stream(&self) -> bool {
        let mut registry = self.peers.lock();
        let Some(entry) = registry.peers.get_mut(&self.peer) else {
            return false;
        };
        let Some(at) = entry.silent.iter().position(|s| s.id == self.id) else {
            return false;
        };
        entry.silent.remove(at);
        true
    }

    /// Takes a frame of the main connection. A part is charged to the peer's budget before it
    /// is held, and refused if it would exceed it; whatever the reassembly lets go (a message
    /// completed or refused) is given back.
    pub(super) fn push(&mut self, body: Vec<u8>) -> Result<Option<Message>, PushError> {
        let adds = Reassembly::bytes_held_by(&body);
        if adds > 0 {
            // Checked and charged under one lock: two connections of a peer cannot both fit.
            let registry = self.peers.lock();
            let entry = registry
                .peers
                .get(&self.peer)
                .expect("a peer's entry lives as long as its connections");
            let would = *entry.buffered.borrow() + adds;
            if would > PEER_BUFFERED_BYTES_MAX {
                return Err(PushError::OverBudget {
                    would,
                    max: PEER_BUFFERED_BYTES_MAX,
                });
            }
            entry.buffered.send_modify(|b| *b += adds);
            let gauge = &self.peers.counters.buffered_bytes;
            gauge.fetch_add(adds as u64, Ordering::Relaxed);
            self.charged += adds;
        }
        let pushed = self.reassembly.push(body);
        self.settle(self.reassembly.held_bytes());
        Ok(pushed?)
    }

    /// Makes the charge equal to `held`, the bytes this connection holds now.
    fn settle(&mut self, held: usize) {
        if held == self.charged {
            return;
        }
        let registry = self.peers.lock();
        if let Some(entry) = registry.peers.get(&self.peer) {
            entry
                .buffered
                .send_modify(|b| *b = *b + held - self.charged);
        }
        let gauge = &self.peers.counters.buffered_bytes;
        if held > self.charged {
            gauge.fetch_add((held - self.charged) as u64, Ordering::Relaxed);
        } else {
            gauge.fetch_sub((self.charged - held) as u64, Ordering::Relaxed);
        }
        self.charged = held;
    }
}

impl Drop for InboundConnection {
    fn drop(&mut self) {
        // Replaced, not cleared: the parts' memory goes back now, and so does their charge.
        self.reassembly = Reassembly::default();
        self.settle(0);
        let mut registry = self.peers.lock();
        let Some(entry) = registry.peers.get_mut(&self.peer) else {
            return;
        };
        if entry.main.as_ref().is_some_and(|m| m.id == self.id) {
            entry.main = None;
        }
        entry.silent.retain(|s| s.id != self.id);
        entry.alive -= 1;
        if entry.alive == 0 {
            registry.peers.remove(&self.peer);
        }
    }
}
