//! [`TlsTransport`]: Raft messages between nodes over TCP with mutual TLS, behind
//! [`runtime::Transport`](crate::runtime::Transport).
//!
//! What it is:
//!
//! - One listener that accepts peers, and one task per peer that dials it, owns that outbound
//!   connection, and reconnects with bounded exponential backoff
//!   ([`RECONNECT_BACKOFF_MIN_MS`] to [`RECONNECT_BACKOFF_MAX_MS`]). Each node sends on the
//!   connections it dialed and receives on the ones it accepted.
//! - Mutual TLS 1.3 on the aws-lc-rs provider, with verifiers built on [`pki::TrustStore`]
//!   ([`tls`]): chain to a member's CA, validity at the current time, the members' CRLs, a node
//!   certificate, and the node id pinned to the one the configuration gives for that peer.
//! - After TLS, each side sends a [`wire::Hello`] (raft id, node id, genesis hash); a peer of
//!   another network, or whose raft id does not belong to its certificate's node id, is refused.
//! - Length-prefixed frames of protobuf-encoded `raft::eraftpb::Message`s, at most
//!   [`wire::FRAME_BYTES_MAX`]. A truncated, oversized or undecodable frame closes that one
//!   connection with a warning; every other peer is served as before.
//! - Per peer raft id (`inbound`): one main inbound connection, the newest to have spoken (a
//!   newer one replaces it and it is closed, so a peer reconnecting past its own half-open
//!   connection is never locked out); at most [`PEER_SILENT_CONNECTIONS_MAX`] that have not
//!   spoken yet; and at most [`PEER_BUFFERED_BYTES_MAX`] of partial messages held across all
//!   of them, freed when their connection closes. A part frame past that budget closes its
//!   connection, counted in [`TransportStats::closed_over_budget`].
//! - [`Transport::send`] never blocks: it puts the message in the peer's bounded queue
//!   ([`PEER_QUEUE_MESSAGES_MAX`]), dropping the oldest when full, and counts the drop. A slow or
//!   dead peer only fills its own queue.
//! - Received messages go to the runtime's bounded peer channel with `try_send` (dropped and
//!   counted when full, as the runtime expects); a message whose `from` is not the
//!   authenticated peer, or whose `to` is not this node, is dropped with a warning.
//! - [`TransportStats`] counts deliveries, drops and refusals, so tests and operators need not
//!   parse logs.
//!
//! What it is not:
//!
//! - Not reliable delivery: messages may be dropped (full queue, broken connection); Raft
//!   retransmits what matters.
//! - No snapshot streaming of its own: a message larger than a frame (a snapshot that holds its
//!   state) is sent in parts of [`wire::FRAME_BYTES_MAX`] and reassembled in memory, up to
//!   [`wire::LARGE_MESSAGE_BYTES_MAX`]; a larger one is dropped and counted in
//!   [`TransportStats::dropped_oversized`]. A state machine with [`SnapshotStreams`] has its
//!   snapshots streamed ([`stream`]) instead.
//! - Not membership: the peers are given at start and replaced with
//!   [`TlsTransport::set_peers`] by whoever follows the network's node set (the node, from the
//!   ledger's applied `ADD_NODE`/`REMOVE_NODE`); a new peer is dialed and accepted from then on,
//!   a removed one's dialer stops and its inbound connection closes at its next message. The
//!   trust store is given at start and replaced with [`TlsTransport::set_trust`] when the
//!   ledger's trust changes (members, their CAs, revocation lists); a connection already
//!   established is not re-checked when a certificate is revoked later.
//! - Not the client-facing API; no knowledge of blocks or documents.
//!
//! Architecture invariant: this module only moves opaque Raft messages; it never calls into the
//! replica, and the replica never waits on it.
//!
//! The module's files: this one holds the public types, [`TlsTransport`] (start, `set_peers`,
//! `send`, shutdown) and the hello shared by both directions; `dialer` the outbound side (one
//! queue and one redialing task per peer); `listener` the inbound side (accept, handshake,
//! identity pinning, hello, frames to the runtime); `inbound` each peer's inbound connections
//! and their buffer budget; `stream` streamed snapshots; `stats` the counters; `tls` the
//! verifiers; `wire` the frames.

mod dialer;
pub use dialer::{DIAL_ADDRESSES_MAX, split_host_port};
mod inbound;
mod listener;
mod stats;
pub mod stream;
pub mod tls;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use pki::{MemberCode, NodeId, Purpose, TrustStore};
use raft::eraftpb::Message;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::runtime::Transport;
use crate::stream::{SnapshotStreams, StreamReport};
use dialer::{Dialer, PeerQueue};
use inbound::InboundPeers;
use listener::{AcceptContext, listen};
use stats::bump;
pub use stats::{Counters, TransportStats};
use tls::{PeerRefusal, SharedPeers};
use wire::{FrameError, HELLO_BYTES_MAX, Hello};

/// Messages waiting for one peer before the oldest is dropped. A leader keeps at most
/// `replica::RAFT_INFLIGHT_MESSAGES_MAX` (256) appends in flight to a follower; four windows'
/// worth rides out a reconnect without drops, and bounds a dead peer's queue.
pub const PEER_QUEUE_MESSAGES_MAX: usize = 1024;

/// Messages written to a connection before one flush: enough to fill TLS records and TCP
/// segments under load, few enough that a flush (and the shutdown check) comes regularly.
pub const SEND_BATCH_MESSAGES_MAX: usize = 64;

/// First wait before redialing a peer: short, so a restarted peer is back within a tick.
pub const RECONNECT_BACKOFF_MIN_MS: u64 = 50;

/// Longest wait between two dials of a dead peer: a returning peer waits at most this long
/// (about one election timeout), and a dead one costs one failed dial every 2 s.
pub const RECONNECT_BACKOFF_MAX_MS: u64 = 2_000;

/// Time allowed for the TCP connect, the TLS handshake and the hellos. A peer (or a stranger)
/// that stalls longer is dropped, so a half-open connection never holds a task.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 5_000;

/// Time allowed to write one batch. A peer that stops reading fills its TCP window; past this
/// the connection is dropped and redialed rather than kept blocked forever.
pub const WRITE_TIMEOUT_MS: u64 = 10_000;

/// Extra write time allowed per KiB of a batch: 1 ms per KiB is 1 MiB/s, the slowest link a
/// large snapshot is expected to cross without the connection being declared stalled.
pub const WRITE_MS_PER_KIB: u64 = 1;

/// Inbound connections (established or in handshake) at once. A node has, per peer, one main
/// inbound connection, at most [`PEER_SILENT_CONNECTIONS_MAX`] that have not spoken yet (one
/// replacing a broken main one, a snapshot stream about to begin) and one snapshot stream; the
/// cap stops a flood of unauthenticated connections from spawning unbounded tasks.
pub const INBOUND_CONNECTIONS_MAX: usize = 64;

/// Inbound connections at once whose handshake (TLS, certificate, hellos) has not completed:
/// half of [`INBOUND_CONNECTIONS_MAX`]. Opening a TCP connection needs no certificate, so
/// without this bound connections that never finish a handshake, each held up to
/// [`HANDSHAKE_TIMEOUT_MS`], could take every slot and close the established peers' way back
/// in; with it, the other half stays for connections whose peer proved its identity. (Strangers
/// from many addresses can still keep the handshake half full and so delay a peer's new
/// connection: a firewall that admits only the members' addresses to the peer port is the
/// operator's part, README.)
pub const INBOUND_HANDSHAKES_MAX: usize = INBOUND_CONNECTIONS_MAX / 2;

/// Inbound connections at once from one source address whose handshake has not completed. A
/// peer has at most a main connection and a snapshot stream in handshake at a time, and on a
/// single host (a dev network, tests) every peer shares the address 127.0.0.1; an address
/// holding more is idling them on purpose. At this bound one address cannot take more than a
/// quarter of [`INBOUND_HANDSHAKES_MAX`].
pub const INBOUND_HANDSHAKES_PER_SOURCE_MAX: usize = 8;

/// Bytes of partial messages (part frames not yet completed by their last part) held for one
/// peer, across all its inbound connections. Only a snapshot that holds its state travels in
/// parts, and a peer has one main connection with one message in parts at a time, so this is
/// one message of the largest size a sender sends: [`wire::LARGE_MESSAGE_PART_BYTES_MAX`]. It
/// is the most a peer whose certificate is valid can make this node hold in partial messages,
/// whatever it sends on however many connections.
pub const PEER_BUFFERED_BYTES_MAX: usize = wire::LARGE_MESSAGE_PART_BYTES_MAX;

/// Inbound connections of one peer that have not sent a frame yet. An honest peer has at most
/// three: its main connection while it has had nothing to send (between two followers, until
/// an election), its replacement after the peer restarted (the old one half-open), and a
/// snapshot stream whose first frame is on its way. A newer one closes the oldest.
pub const PEER_SILENT_CONNECTIONS_MAX: usize = 3;

/// Longest a new main connection waits for the one it replaced to free its partial message,
/// before it holds anything of its own. The replaced one's task lets go at its next wake-up,
/// well within this; past it, the new one goes on and the budget decides.
pub const REPLACED_RELEASE_TIMEOUT_MS: u64 = 1_000;

/// Pause after a failed `accept` (e.g. out of file descriptors), so the listener does not spin.
pub const ACCEPT_ERROR_PAUSE_MS: u64 = 100;

/// Time allowed for sending TLS close_notify at shutdown.
const CLOSE_TIMEOUT_MS: u64 = 500;

/// A node's own certificate chain (leaf first) and private key.
pub struct NodeCredentials {
    /// Leaf first, then intermediates.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
}

impl fmt::Debug for NodeCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeCredentials")
            .field("chain_len", &self.chain.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Clone for NodeCredentials {
    fn clone(&self) -> Self {
        NodeCredentials {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl NodeCredentials {
    /// From DER: the chain (leaf first) and a PKCS#8 private key.
    pub fn from_der(chain: Vec<Vec<u8>>, pkcs8_key: Vec<u8>) -> NodeCredentials {
        NodeCredentials {
            chain: chain.into_iter().map(CertificateDer::from).collect(),
            key: tls::pkcs8_key(pkcs8_key),
        }
    }

    /// From PEM files: the chain (`CERTIFICATE` blocks, leaf first) and a PKCS#8 `PRIVATE KEY`.
    pub fn from_pem_files(chain: &Path, key: &Path) -> Result<NodeCredentials, TransportError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .map_err(|e| TransportError::Credentials(format!("{}: {e}", p.display())))
        };
        let certs = pki::pem::certificates(&read(chain)?)
            .map_err(|e| TransportError::Credentials(format!("{}: {e}", chain.display())))?;
        let key_der = pki::pem::private_key_der(&read(key)?)
            .map_err(|e| TransportError::Credentials(format!("{}: {e}", key.display())))?;
        Ok(NodeCredentials {
            chain: certs,
            key: tls::pkcs8_key(key_der),
        })
    }
}

/// Where a peer is and who it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddress {
    /// The node id its certificate must name.
    pub node_id: NodeId,
    /// The member whose CA must have issued its certificate; `None`: any member's (a peer of
    /// the node's configuration file, whose member the genesis pins by certificate hash).
    pub member: Option<MemberCode>,
    /// Where it listens: `host:port`, the host a DNS name or an IP address (IPv6 in
    /// brackets). A name is resolved again at every dial attempt ([`dialer`]), so a peer that
    /// moves to a new address under the same name is found at its next reconnect.
    pub addr: String,
}

/// Everything a [`TlsTransport`] needs.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// This node's Raft id.
    pub raft_id: u64,
    /// This node's id: its certificate must name it.
    pub node_id: NodeId,
    /// Where to listen ([`TlsTransport::start`]; [`TlsTransport::start_on`] takes a bound
    /// listener instead).
    pub listen: SocketAddr,
    /// Every other voter: raft id to node id and address.
    pub peers: BTreeMap<u64, PeerAddress>,
    /// The members' CAs and revocation lists.
    pub trust: TrustStore,
    /// This node's certificate chain and key.
    pub credentials: NodeCredentials,
    /// Hash of the network's genesis; peers with another are refused.
    pub genesis_hash: [u8; 32],
    /// See [`PEER_QUEUE_MESSAGES_MAX`].
    pub peer_queue_messages_max: usize,
    /// The state machine's streamed snapshots ([`crate::stream`]): snapshots whose data it
    /// names are sent and received as streams. `None`: every snapshot travels whole.
    pub streams: Option<Arc<dyn SnapshotStreams>>,
}

/// Why the transport could not start.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("credentials: {0}")]
    Credentials(String),
    #[error("this node's own certificate is not usable: {0}")]
    OwnCertificate(PeerRefusal),
    #[error("TLS configuration: {0}")]
    Tls(rustls::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Why one connection ended or was refused. Logged, never returned to a caller.
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("timed out after {HANDSHAKE_TIMEOUT_MS} ms in connect, TLS handshake or hello")]
    HandshakeTimeout,
    #[error("{0}")]
    Frame(#[from] FrameError),
    #[error("{0}")]
    Refused(#[from] PeerRefusal),
    #[error("peer closed the connection during the hello (it may have refused us)")]
    ClosedInHello,
    #[error("genesis hash mismatch: this network is {ours}, the peer's is {theirs}")]
    GenesisMismatch { ours: String, theirs: String },
    #[error("hello names {claimed}, but {reason}")]
    IdentityMismatch { claimed: String, reason: String },
}

/// Resolves when shutdown is signalled or every sender of the signal is gone.
async fn cancelled(shutdown: &mut watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

/// Sends our hello, then reads and parses the peer's. Both sides write first, so each can
/// refuse the other with a precise reason.
async fn exchange_hello<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    ours: &Hello,
) -> Result<Hello, ConnectionError> {
    wire::write_frame(stream, &ours.encode()).await?;
    stream.flush().await?;
    match wire::read_frame(stream, HELLO_BYTES_MAX).await? {
        Some(body) => Ok(Hello::decode(&body)?),
        None => Err(ConnectionError::ClosedInHello),
    }
}

fn check_genesis(
    ours: &[u8; 32],
    theirs: &Hello,
    counters: &Counters,
) -> Result<(), ConnectionError> {
    if theirs.genesis_hash == *ours {
        return Ok(());
    }
    bump(&counters.refused_genesis);
    Err(ConnectionError::GenesisMismatch {
        ours: hex::encode(ours),
        theirs: hex::encode(theirs.genesis_hash),
    })
}

/// The node-to-node transport. Cheap to clone: every clone sends through the same queues. Give
/// one clone to the runtime and keep one to read [`stats`](Self::stats) and to
/// [`shutdown`](Self::shutdown). When every clone is dropped, its tasks end too.
#[derive(Debug, Clone)]
pub struct TlsTransport {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    raft_id: u64,
    local_addr: SocketAddr,
    /// The current peers, as the verifiers and inbound connections see them.
    peers: SharedPeers,
    /// One dialer (and its queue) per current peer.
    dialers: Mutex<BTreeMap<u64, DialerHandle>>,
    /// What a new dialer needs.
    dial: DialContext,
    counters: Arc<Counters>,
    /// What the snapshot streams report, for the runtime.
    reports: stream::Reports,
    shutdown: watch::Sender<bool>,
    /// The listener.
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// What every dialer is made from.
#[derive(Debug)]
struct DialContext {
    /// The certificate and key presented, replaced by [`TlsTransport::set_credentials`].
    identity: tls::SharedIdentity,
    trust: tls::SharedTrust,
    own_hello: Hello,
    queue_capacity: usize,
    streams: Option<Arc<dyn SnapshotStreams>>,
}

/// A running dialer: its peer, its queue, and how to stop it.
#[derive(Debug)]
struct DialerHandle {
    peer: PeerAddress,
    queue: Arc<PeerQueue>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl TlsTransport {
    /// Binds `config.listen` and starts the transport; received messages go to `inbound`.
    pub async fn start(
        config: TransportConfig,
        inbound: mpsc::Sender<Message>,
    ) -> Result<TlsTransport, TransportError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| TransportError::Bind {
                    addr: config.listen,
                    source,
                })?;
        TlsTransport::start_on(config, listener, inbound)
    }

    /// Starts the transport on an already bound listener (`config.listen` is ignored), e.g. one
    /// bound to port 0 whose address was handed to the peers. Must run inside a tokio runtime.
    pub fn start_on(
        config: TransportConfig,
        listener: TcpListener,
        inbound: mpsc::Sender<Message>,
    ) -> Result<TlsTransport, TransportError> {
        validate(&config)?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| TransportError::Bind {
                addr: config.listen,
                source,
            })?;
        let counters = Arc::new(Counters::default());
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let own_hello = Hello {
            raft_id: config.raft_id,
            node_id: config.node_id.clone(),
            genesis_hash: config.genesis_hash,
        };
        // The peers are known before the listener accepts anyone.
        let peers: SharedPeers = Arc::new(RwLock::new(config.peers.clone()));
        let trust = tls::shared(&config.trust);
        let identity = tls::identity(&config.credentials)?;
        let server = tls::server_config(&identity, &trust, peers.clone(), counters.clone())?;
        let accept = Arc::new(AcceptContext {
            raft_id: config.raft_id,
            acceptor: TlsAcceptor::from(Arc::new(server)),
            trust: trust.clone(),
            peers: peers.clone(),
            own_hello: own_hello.clone(),
            counters: counters.clone(),
            inbound,
            streams: config.streams.clone(),
            importing: tokio::sync::Mutex::new(()),
            inbound_peers: Arc::new(InboundPeers::new(counters.clone())),
        });
        let listener_task = tokio::spawn(listen(listener, accept, shutdown_rx));
        let transport = TlsTransport {
            inner: Arc::new(Inner {
                raft_id: config.raft_id,
                local_addr,
                peers,
                dialers: Mutex::new(BTreeMap::new()),
                dial: DialContext {
                    identity,
                    trust,
                    own_hello,
                    queue_capacity: config.peer_queue_messages_max,
                    streams: config.streams.clone(),
                },
                counters,
                reports: Arc::default(),
                shutdown: shutdown_tx,
                tasks: Mutex::new(vec![listener_task]),
            }),
        };
        transport.set_peers(config.peers.clone())?;
        tracing::info!(raft_id = config.raft_id, node = %config.node_id, addr = %local_addr, peers = config.peers.len(), "transport started");
        Ok(transport)
    }

    /// Replaces the trust store (the network admitted or removed a member, a member rotated
    /// its CA, a revocation list changed): every handshake from now on, inbound and outbound,
    /// is checked with it. Connections already established are not checked again.
    pub fn set_trust(&self, trust: TrustStore) {
        *self
            .inner
            .dial
            .trust
            .write()
            .unwrap_or_else(PoisonError::into_inner) = trust;
    }

    /// Replaces the certificate and key this node presents (a renewed node certificate): every
    /// handshake from now on, inbound and outbound, presents them; connections already
    /// established keep the old ones until they close. Refused, and nothing changes, if the
    /// trust store as of now does not accept the new chain as this node's certificate (another
    /// node id, expired, revoked, a foreign CA) or the key is not its leaf's.
    pub fn set_credentials(&self, credentials: &NodeCredentials) -> Result<(), TransportError> {
        let trust = tls::current(&self.inner.dial.trust);
        check_own_certificate(&trust, &self.inner.dial.own_hello.node_id, credentials)?;
        let certified = tls::certified_key(credentials)?;
        *self
            .inner
            .dial
            .identity
            .write()
            .unwrap_or_else(PoisonError::into_inner) = certified;
        Ok(())
    }

    /// Replaces the peer set (the network's membership changed). A new peer gets a queue and a
    /// dialer, and its certificate is accepted from now on; a peer no longer listed has its
    /// dialer stopped, its queued messages dropped, and its inbound connection closed at its
    /// next message; a peer whose node id, member or address changed is redialed. The whole
    /// set is refused (and nothing changes) if it names this node, raft id 0, or one node id
    /// twice. Must run inside a tokio runtime.
    pub fn set_peers(&self, peers: BTreeMap<u64, PeerAddress>) -> Result<(), TransportError> {
        validate_peers(
            self.inner.raft_id,
            &self.inner.dial.own_hello.node_id,
            &peers,
        )?;
        let inner = &self.inner;
        let mut dialers = inner.dialers.lock().unwrap_or_else(PoisonError::into_inner);
        if *inner.shutdown.borrow() {
            return Ok(());
        }
        let stale: Vec<u64> = dialers
            .iter()
            .filter(|(id, d)| peers.get(id) != Some(&d.peer))
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if let Some(d) = dialers.remove(&id) {
                tracing::info!(raft_id = id, peer = %d.peer.node_id, "peer removed from the transport");
                let _ = d.stop.send(true);
            }
        }
        *inner.peers.write().unwrap_or_else(PoisonError::into_inner) = peers.clone();
        for (peer_raft_id, peer) in peers {
            if dialers.contains_key(&peer_raft_id) {
                continue;
            }
            let queue = Arc::new(PeerQueue {
                messages: Mutex::new(VecDeque::new()),
                ready: Notify::new(),
                capacity: inner.dial.queue_capacity,
            });
            let client = tls::client_config(
                &inner.dial.identity,
                &inner.dial.trust,
                peer.node_id.clone(),
                peer.member.clone(),
                inner.counters.clone(),
            )?;
            let dialer = Dialer {
                peer_raft_id,
                peer: peer.clone(),
                queue: queue.clone(),
                connector: TlsConnector::from(Arc::new(client)),
                own_hello: inner.dial.own_hello.clone(),
                counters: inner.counters.clone(),
                streams: inner.dial.streams.clone(),
                reports: inner.reports.clone(),
                streaming: Arc::new(AtomicBool::new(false)),
            };
            let (stop, stopped) = watch::channel(false);
            tracing::debug!(raft_id = peer_raft_id, peer = %peer.node_id, addr = %peer.addr, "peer added to the transport");
            let task = tokio::spawn(dialer.run(stopped));
            dialers.insert(
                peer_raft_id,
                DialerHandle {
                    peer,
                    queue,
                    stop,
                    task,
                },
            );
        }
        Ok(())
    }

    /// The current peers, by raft id.
    pub fn peers(&self) -> BTreeMap<u64, PeerAddress> {
        self.inner
            .peers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// The counters so far.
    pub fn stats(&self) -> TransportStats {
        self.inner.counters.snapshot()
    }

    /// Stops every task (listener, dialers, connections) and waits for them to end. Later sends
    /// are queued and never delivered.
    pub async fn shutdown(&self) {
        let mut tasks = {
            let mut dialers = self
                .inner
                .dialers
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let _ = self.inner.shutdown.send(true);
            std::mem::take(&mut *dialers)
                .into_values()
                .map(|d| {
                    let _ = d.stop.send(true);
                    d.task
                })
                .collect::<Vec<_>>()
        };
        tasks.extend(std::mem::take(
            &mut *self
                .inner
                .tasks
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        ));
        for task in tasks {
            if let Err(e) = task.await
                && e.is_panic()
            {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        tracing::info!(raft_id = self.inner.raft_id, "transport stopped");
    }
}

impl Transport for TlsTransport {
    fn send(&mut self, message: Message) {
        let counters = &self.inner.counters;
        let queue = self
            .inner
            .dialers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&message.to)
            .map(|d| d.queue.clone());
        let Some(queue) = queue else {
            bump(&counters.dropped_unknown_peer);
            tracing::debug!(to = message.to, "message to an unknown peer dropped");
            return;
        };
        bump(&counters.queued);
        if queue.push(message) {
            bump(&counters.dropped_queue_full);
        }
    }

    fn snapshot_reports(&mut self) -> Vec<(u64, StreamReport)> {
        std::mem::take(
            &mut *self
                .inner
                .reports
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
        .into_iter()
        .collect()
    }
}

fn validate(config: &TransportConfig) -> Result<(), TransportError> {
    let bad = |s: String| Err(TransportError::Config(s));
    if config.raft_id == 0 {
        return bad("raft id 0 is reserved by raft-rs".into());
    }
    if config.peer_queue_messages_max == 0 {
        return bad("peer_queue_messages_max must be at least 1".into());
    }
    validate_peers(config.raft_id, &config.node_id, &config.peers)?;
    // Fail at start, not at the first handshake, if our own certificate will be refused.
    check_own_certificate(&config.trust, &config.node_id, &config.credentials)
}

/// Whether `trust` accepts `credentials`' chain now as `node_id`'s, as a server and a client.
fn check_own_certificate(
    trust: &TrustStore,
    node_id: &NodeId,
    credentials: &NodeCredentials,
) -> Result<(), TransportError> {
    let now = UnixTime::now();
    for purpose in [Purpose::NodeServer, Purpose::TlsClient] {
        let own = tls::peer_node_id(trust, Some(&credentials.chain), now, purpose)
            .map_err(TransportError::OwnCertificate)?;
        if own != *node_id {
            return Err(TransportError::OwnCertificate(PeerRefusal::WrongNode {
                expected: node_id.clone(),
                found: own,
            }));
        }
    }
    Ok(())
}

/// A peer set must not name this node, raft id 0, or one node id twice.
fn validate_peers(
    raft_id: u64,
    node_id: &NodeId,
    peers: &BTreeMap<u64, PeerAddress>,
) -> Result<(), TransportError> {
    let bad = |s: String| Err(TransportError::Config(s));
    let mut seen = BTreeSet::from([node_id]);
    for (id, peer) in peers {
        if *id == 0 || *id == raft_id {
            return bad(format!("peer raft id {id} is 0 or this node's own"));
        }
        if let Err(reason) = dialer::split_host_port(&peer.addr) {
            return bad(format!("peer raft id {id}: {reason}"));
        }
        if !seen.insert(&peer.node_id) {
            return bad(format!("node id {} appears twice", peer.node_id));
        }
    }
    Ok(())
}
