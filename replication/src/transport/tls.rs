//! Mutual TLS between nodes: rustls configurations on `pki::tls`'s provider, and the checks on
//! a presented chain that pin the peer's node identity.
//!
//! Both checks verify the presented chain with [`pki::tls::verify_presented`] at the current
//! time (rustls passes its clock in; the transport may read the clock, the apply path may not):
//! chain to a member's root, validity, revocation by the members' CRLs, extended key usage, the
//! Silkline profile. Then they require a node certificate and pin its node id:
//!
//! - dialing out, the server must be exactly the node the configuration names for that peer;
//! - accepting, the client must be one of the configured peers (which one, by raft id, is
//!   pinned after the hello, see `transport`).
//!
//! The provider, the handshake signature algorithms (Ed25519 and ECDSA P-256/SHA-256 only, the
//! profile's two) and the rustls verifier plumbing are `pki::tls`'s, shared with the API's
//! servers and the CLI's client. This module keeps the transport's own choices: only TLS 1.3 is
//! offered, since both ends are Silkline nodes; sessions are never resumed, so every
//! connection's certificates are verified afresh.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, RwLock};

use pki::tls::{ChainCheck, ClientVerifier, ServerVerifier};
use pki::{Identity, IdentityError, IdentityKind, MemberCode, NodeId, Purpose, TrustStore};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

use super::{Counters, NodeCredentials, PeerAddress, TransportError};

use pki::tls::provider;

/// Only TLS 1.3: both ends are Silkline nodes, so there is no older peer to serve.
static PROTOCOL_VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// Why a peer's certificate was refused.
#[derive(Debug, thiserror::Error)]
pub enum PeerRefusal {
    #[error("certificate refused: {0}")]
    Certificate(#[from] IdentityError),
    #[error("a {0} certificate is not a node certificate")]
    NotANode(IdentityKind),
    #[error("certificate names node {found}, expected {expected}")]
    WrongNode { expected: NodeId, found: NodeId },
    #[error("certificate names node {0}, which is not a peer of this node")]
    NotAPeer(NodeId),
    #[error(
        "node {node}'s certificate is issued by member {found}; the configuration gives it to {expected}"
    )]
    WrongMember {
        node: NodeId,
        expected: MemberCode,
        found: MemberCode,
    },
}

impl PeerRefusal {
    fn into_rustls(self) -> rustls::Error {
        let cause = match &self {
            PeerRefusal::Certificate(e) => Some(e.clone()),
            _ => None,
        };
        pki::tls::refused(cause.as_ref(), self)
    }
}

/// Checks a presented chain at `now` and reads the node id out of it.
fn node_identity(
    trust: &TrustStore,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    now: UnixTime,
    purpose: Purpose,
) -> Result<(Identity, NodeId), PeerRefusal> {
    let identity = pki::tls::verify_presented(trust, end_entity, intermediates, now, purpose)?;
    if identity.kind != IdentityKind::Node {
        return Err(PeerRefusal::NotANode(identity.kind));
    }
    let node_id = identity
        .node_id
        .clone()
        .ok_or(PeerRefusal::NotANode(identity.kind))?;
    Ok((identity, node_id))
}

/// Checks the server when dialing one peer: a node certificate of exactly `expected`. The
/// server name (the peer's address) is not matched (see [`ServerVerifier`]): the node id is
/// pinned instead.
#[derive(Debug)]
pub struct PinnedServerVerifier {
    trust: SharedTrust,
    expected: NodeId,
    /// The member whose CA must have issued it; `None`: any member's.
    expected_member: Option<MemberCode>,
    counters: Arc<Counters>,
}

impl ChainCheck for PinnedServerVerifier {
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let result = node_identity(
            &current(&self.trust),
            end_entity,
            intermediates,
            now,
            Purpose::NodeServer,
        )
        .and_then(|(identity, found)| {
            if found != self.expected {
                return Err(PeerRefusal::WrongNode {
                    expected: self.expected.clone(),
                    found,
                });
            }
            check_member(&found, self.expected_member.as_ref(), &identity.member)
        });
        result.map_err(|refusal| {
            self.counters.record_refusal(&refusal);
            tracing::warn!(peer = %self.expected, reason = %refusal, "refused the server we dialed");
            refusal.into_rustls()
        })
    }
}

/// Checks a client that dials us: a node certificate naming one of the configured peers.
#[derive(Debug)]
pub struct PeerClientVerifier {
    trust: SharedTrust,
    /// The transport's current peers (they change with the network's membership).
    peers: SharedPeers,
    counters: Arc<Counters>,
}

/// The peers a transport talks to, by raft id, shared by its verifiers and connection tasks.
pub type SharedPeers = Arc<RwLock<BTreeMap<u64, PeerAddress>>>;

/// The trust store a transport checks certificates with, shared by its verifiers and
/// connection tasks, and replaced as a whole when the network's trust changes
/// ([`TlsTransport::set_trust`](super::TlsTransport::set_trust)): every handshake from then on
/// uses the new one.
pub type SharedTrust = Arc<RwLock<TrustStore>>;

/// A shared trust store holding `trust` (for a transport's start, or a test's raw connection).
pub fn shared(trust: &TrustStore) -> SharedTrust {
    Arc::new(RwLock::new(trust.clone()))
}

/// The trust store as of now (a cheap clone: its material is shared).
pub fn current(trust: &SharedTrust) -> TrustStore {
    trust.read().unwrap_or_else(PoisonError::into_inner).clone()
}

/// A node's certificate must come from the member the configuration gives the node, if any.
fn check_member(
    node: &NodeId,
    expected: Option<&MemberCode>,
    found: &MemberCode,
) -> Result<(), PeerRefusal> {
    match expected {
        Some(expected) if expected != found => Err(PeerRefusal::WrongMember {
            node: node.clone(),
            expected: expected.clone(),
            found: found.clone(),
        }),
        _ => Ok(()),
    }
}

impl ChainCheck for PeerClientVerifier {
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let result = node_identity(
            &current(&self.trust),
            end_entity,
            intermediates,
            now,
            Purpose::TlsClient,
        )
        .and_then(|(identity, found)| {
            let peers = self.peers.read().unwrap_or_else(PoisonError::into_inner);
            match peers.values().find(|p| p.node_id == found) {
                Some(peer) => check_member(&found, peer.member.as_ref(), &identity.member),
                None => Err(PeerRefusal::NotAPeer(found)),
            }
        });
        result.map_err(|refusal| {
            self.counters.record_refusal(&refusal);
            tracing::warn!(reason = %refusal, "refused a connecting client");
            refusal.into_rustls()
        })
    }
}

impl Counters {
    fn record_refusal(&self, refusal: &PeerRefusal) {
        let counter = match refusal {
            PeerRefusal::Certificate(_) | PeerRefusal::NotANode(_) => &self.refused_certificate,
            PeerRefusal::WrongNode { .. }
            | PeerRefusal::NotAPeer(_)
            | PeerRefusal::WrongMember { .. } => &self.refused_identity,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The node id that the certificate of an established connection names, checked again through
/// the trust store (the verifier cannot hand its result to the connection). Used after the
/// handshake to bind the connection to a raft id.
pub fn peer_node_id(
    trust: &TrustStore,
    certs: Option<&[CertificateDer<'static>]>,
    now: UnixTime,
    purpose: Purpose,
) -> Result<NodeId, PeerRefusal> {
    let (leaf, intermediates) = certs
        .and_then(<[_]>::split_first)
        .ok_or(PeerRefusal::Certificate(IdentityError::EmptyChain))?;
    node_identity(trust, leaf, intermediates, now, purpose).map(|(_, id)| id)
}

/// The certificate and key a transport presents, shared by its server configuration and every
/// dialer's client configuration, and replaced as a whole when the node's certificate is
/// renewed ([`TlsTransport::set_credentials`](super::TlsTransport::set_credentials)).
pub type SharedIdentity = pki::tls::SharedCertificate;

/// `credentials` as rustls presents them; refused if the key is not the leaf's.
pub fn certified_key(
    credentials: &NodeCredentials,
) -> Result<Arc<rustls::sign::CertifiedKey>, TransportError> {
    pki::tls::certified_key(credentials.chain.clone(), credentials.key.clone_key())
        .map_err(TransportError::Tls)
}

/// A [`SharedIdentity`] holding `credentials` (a transport's start, or a test's raw
/// connection).
pub fn identity(credentials: &NodeCredentials) -> Result<SharedIdentity, TransportError> {
    Ok(Arc::new(RwLock::new(certified_key(credentials)?)))
}

/// The server side of a node: presents the current `identity`, requires a node certificate of one of
/// `peers` (as they are at each handshake).
pub fn server_config(
    identity: &SharedIdentity,
    trust: &SharedTrust,
    peers: SharedPeers,
    counters: Arc<Counters>,
) -> Result<rustls::ServerConfig, TransportError> {
    let verifier = PeerClientVerifier {
        trust: trust.clone(),
        peers,
        counters,
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .map_err(TransportError::Tls)?
        .with_client_cert_verifier(Arc::new(ClientVerifier(verifier)))
        .with_cert_resolver(Arc::new(pki::tls::CurrentCertificate(identity.clone())));
    // No session resumption: a resumed session skips certificate verification, and every
    // connection must be checked against the trust store (and its CRLs) as of now. A full
    // handshake per connection costs nothing for a handful of long-lived peer links.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(config)
}

/// The client side of a node dialing `expected`: presents the current `identity`, requires `expected`'s
/// node certificate (issued by `expected_member`'s CA, if given).
pub fn client_config(
    identity: &SharedIdentity,
    trust: &SharedTrust,
    expected: NodeId,
    expected_member: Option<MemberCode>,
    counters: Arc<Counters>,
) -> Result<rustls::ClientConfig, TransportError> {
    let verifier = PinnedServerVerifier {
        trust: trust.clone(),
        expected,
        expected_member,
        counters,
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .map_err(TransportError::Tls)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ServerVerifier(verifier)))
        .with_client_cert_resolver(Arc::new(pki::tls::CurrentCertificate(identity.clone())));
    // No session resumption (see `server_config`): the pin is checked on every connection.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// Reads a PKCS#8 key for rustls.
pub(super) fn pkcs8_key(der: Vec<u8>) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(der.into())
}
