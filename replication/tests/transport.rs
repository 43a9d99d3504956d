//! `TlsTransport` on loopback with the dev consortium's node certificates: delivery both ways,
//! a Raft cluster over it, and every refusal (foreign CA, wrong node, wrong genesis, bad frames)
//! observed through the transport's counters, a peer set replaced at run time, streamed
//! snapshots (delivered after their import, or not at all), and the bounds on what one peer
//! may hold open (one main connection, few silent ones, one budget for partial messages, freed
//! on close). Every wait has a deadline.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use pki::dev::{Consortium, ConsortiumSpec, KeyAlgorithm, generate_consortium};
use pki::{MemberCode, NodeId, TrustStore};
use replication::eraftpb::{Message, MessageType};
use replication::logging::tracing_logger;
use replication::runtime::{
    self, PEER_CHANNEL_CAPACITY, ProposalFailed, ReplicaHandle, RuntimeConfig,
};
use replication::runtime::{ReplicaStatus, Transport as _};
use replication::stream::{ChunkImporter, ChunkReader, SnapshotStreams, StreamReport};
use replication::transport::wire::{self, Hello};
use replication::transport::{
    Counters, NodeCredentials, PEER_BUFFERED_BYTES_MAX, PEER_QUEUE_MESSAGES_MAX,
    PEER_SILENT_CONNECTIONS_MAX, PeerAddress, TlsTransport, TransportConfig, TransportStats, tls,
};
use replication::{LogStore, RedbLog, Replica, ReplicaConfig};
use sim::ChainMachine;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Upper bound on any one wait. Generous: the 2-core machine is shared with other builds.
const DEADLINE: Duration = Duration::from_secs(30);
/// How often a counter condition is re-checked while waiting for it.
const POLL: Duration = Duration::from_millis(10);
const GENESIS: [u8; 32] = [7; 32];

fn now_unix_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// A generated consortium and the material to configure its nodes.
struct Net {
    _dir: tempfile::TempDir,
    consortium: Consortium,
    trust: TrustStore,
}

impl Net {
    fn new(nodes: usize) -> Result<Net> {
        Net::with_spec(ConsortiumSpec::dev(nodes))
    }

    fn with_spec(spec: ConsortiumSpec) -> Result<Net> {
        let dir = tempfile::tempdir()?;
        let consortium = generate_consortium(&spec, dir.path(), now_unix_s())?;
        let trust = consortium.trust_store()?;
        Ok(Net {
            _dir: dir,
            consortium,
            trust,
        })
    }

    fn credentials(&self, node: &str) -> Result<NodeCredentials> {
        let id = self
            .consortium
            .identity(node)
            .with_context(|| format!("no identity {node}"))?;
        Ok(NodeCredentials::from_pem_files(
            &self.consortium.path(&id.cert),
            &self.consortium.path(&id.key),
        )?)
    }
}

fn node_id(raft_id: u64) -> NodeId {
    NodeId::new(format!("node{raft_id}")).expect("node id")
}

async fn bind() -> Result<TcpListener> {
    Ok(TcpListener::bind("127.0.0.1:0").await?)
}

/// The configuration of node `raft_id` (certificate `node{raft_id}`) with the given peers.
fn config(net: &Net, raft_id: u64, peers: &BTreeMap<u64, SocketAddr>) -> Result<TransportConfig> {
    Ok(TransportConfig {
        raft_id,
        node_id: node_id(raft_id),
        listen: "127.0.0.1:0".parse()?,
        peers: peers
            .iter()
            .filter(|(id, _)| **id != raft_id)
            .map(|(id, addr)| {
                (
                    *id,
                    PeerAddress {
                        node_id: node_id(*id),
                        member: None,
                        addr: addr.to_string(),
                    },
                )
            })
            .collect(),
        trust: net.trust.clone(),
        credentials: net.credentials(&format!("node{raft_id}"))?,
        genesis_hash: GENESIS,
        peer_queue_messages_max: PEER_QUEUE_MESSAGES_MAX,
        streams: None,
    })
}

/// A started node: its transport and the channel the runtime would read.
struct Node {
    transport: TlsTransport,
    inbox: mpsc::Receiver<Message>,
}

fn start(config: TransportConfig, listener: TcpListener) -> Result<Node> {
    let (tx, inbox) = mpsc::channel(PEER_CHANNEL_CAPACITY);
    let transport = TlsTransport::start_on(config, listener, tx)?;
    Ok(Node { transport, inbox })
}

/// Starts nodes `1..=n` of `net`, all peers of each other.
async fn start_cluster(net: &Net, n: u64) -> Result<Vec<Node>> {
    let mut listeners = BTreeMap::new();
    for id in 1..=n {
        listeners.insert(id, bind().await?);
    }
    let addrs: BTreeMap<u64, SocketAddr> = listeners
        .iter()
        .map(|(id, l)| Ok((*id, l.local_addr()?)))
        .collect::<Result<_>>()?;
    let mut nodes = Vec::new();
    for (id, listener) in listeners {
        nodes.push(start(config(net, id, &addrs)?, listener)?);
    }
    Ok(nodes)
}

fn heartbeat(from: u64, to: u64, marker: u64) -> Message {
    let mut m = Message::default();
    m.set_msg_type(MessageType::MsgHeartbeat);
    m.from = from;
    m.to = to;
    m.commit = marker;
    m
}

/// Waits until `condition` holds on `transport`'s counters.
async fn wait_stats(
    what: &str,
    transport: &TlsTransport,
    condition: impl Fn(&TransportStats) -> bool,
) -> Result<TransportStats> {
    let start = Instant::now();
    loop {
        let stats = transport.stats();
        if condition(&stats) {
            return Ok(stats);
        }
        if start.elapsed() > DEADLINE {
            bail!("timed out waiting for {what}; stats: {stats:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Receives messages until one from `from` with commit `marker` arrives.
async fn receive_marker(inbox: &mut mpsc::Receiver<Message>, from: u64, marker: u64) -> Result<()> {
    tokio::time::timeout(DEADLINE, async {
        loop {
            let m = inbox.recv().await.context("inbox closed")?;
            if m.from == from && m.commit == marker {
                return Ok(());
            }
        }
    })
    .await
    .with_context(|| format!("message {marker} from {from} never arrived"))?
}

/// A raw TLS client presenting `credentials`, for tests that speak the wire format by hand.
/// A peer table holding only node `raft_id` (at an address nobody dials).
fn only_peer(raft_id: u64) -> tls::SharedPeers {
    let peer = PeerAddress {
        node_id: node_id(raft_id),
        member: None,
        addr: "127.0.0.1:9".to_owned(),
    };
    Arc::new(std::sync::RwLock::new([(raft_id, peer)].into()))
}

async fn raw_dial(
    credentials: &NodeCredentials,
    trust: &TrustStore,
    expect: NodeId,
    addr: SocketAddr,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let config = tls::client_config(
        &tls::identity(credentials).expect("credentials"),
        &tls::shared(trust),
        expect,
        None,
        Arc::new(Counters::default()),
    )
    .expect("client config");
    let tcp = TcpStream::connect(addr).await?;
    TlsConnector::from(Arc::new(config))
        .connect(addr.ip().into(), tcp)
        .await
}

/// Sends our hello and reads the peer's.
async fn raw_hello(
    stream: &mut tokio_rustls::client::TlsStream<TcpStream>,
    hello: &Hello,
) -> Result<Option<Hello>> {
    wire::write_frame(stream, &hello.encode()).await?;
    stream.flush().await?;
    Ok(
        match wire::read_frame(stream, wire::HELLO_BYTES_MAX).await? {
            Some(body) => Some(Hello::decode(&body)?),
            None => None,
        },
    )
}

/// Whether the peer closed `stream` (end of stream or an error) within the deadline.
async fn closed_by_peer(stream: &mut tokio_rustls::client::TlsStream<TcpStream>) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(DEADLINE, stream.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

async fn shutdown_all(nodes: &[Node]) {
    for n in nodes {
        n.transport.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_transports_exchange_messages_both_ways() -> Result<()> {
    const PER_PAIR: u64 = 20;
    // node1 on Ed25519, node2 on ECDSA P-256, node3 issued from an intermediate CA.
    let mut spec = ConsortiumSpec::dev(3);
    spec.members[1].algorithm = KeyAlgorithm::P256;
    spec.members[2].intermediate = true;
    let net = Net::with_spec(spec)?;
    let mut nodes = start_cluster(&net, 3).await?;
    for from in 1..=3u64 {
        let mut t = nodes[from as usize - 1].transport.clone();
        for to in (1..=3).filter(|to| *to != from) {
            for i in 0..PER_PAIR {
                t.send(heartbeat(from, to, i));
            }
        }
    }
    for (idx, node) in nodes.iter_mut().enumerate() {
        let me = idx as u64 + 1;
        let mut got: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        tokio::time::timeout(DEADLINE, async {
            while got.values().map(Vec::len).sum::<usize>() < 2 * PER_PAIR as usize {
                let m = node.inbox.recv().await.expect("inbox open");
                assert_eq!(m.to, me);
                got.entry(m.from).or_default().push(m.commit);
            }
        })
        .await
        .with_context(|| format!("node{me} received only {got:?}"))?;
        for (from, markers) in &got {
            // One connection per direction: messages of one peer arrive in order.
            assert_eq!(markers, &(0..PER_PAIR).collect::<Vec<_>>(), "from {from}");
        }
        // The counter moves just after the hand-over, so it may trail the inbox by a moment.
        let stats = wait_stats("received counted", &node.transport, |s| {
            s.received == 2 * PER_PAIR
        })
        .await?;
        assert_eq!(stats.refused_certificate + stats.refused_identity, 0);
    }
    shutdown_all(&nodes).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_over_tls_elect_a_leader_and_apply_proposals() -> Result<()> {
    const PROPOSALS: usize = 30;
    let net = Net::new(3)?;
    let dir = tempfile::tempdir()?;
    let ids = [1u64, 2, 3];
    let nodes = start_cluster(&net, 3).await?;
    let mut handles = Vec::new();
    for (node, id) in nodes.into_iter().zip(ids) {
        let log = RedbLog::open(dir.path().join(format!("replica-{id}.redb")))?;
        let mut store = LogStore::open(Box::new(log))?;
        Replica::bootstrap(&mut store, ChainMachine::default(), &ids)?;
        let replica = Replica::open(
            ReplicaConfig::new(id),
            store,
            ChainMachine::default(),
            &tracing_logger(id),
        )?;
        let handle = runtime::spawn(
            replica,
            node.transport.clone(),
            node.inbox,
            RuntimeConfig {
                tick_interval: Duration::from_millis(10),
                epoch_ms: 0,
            },
        );
        handles.push((handle, node.transport));
    }
    let replicas: Vec<&ReplicaHandle> = handles.iter().map(|(h, _)| h).collect();
    wait_replicas(&replicas, |s| s.iter().all(|s| s.leader_id != 0)).await?;
    let mut highest = 0;
    for i in 0..PROPOSALS {
        let handle = replicas[i % replicas.len()];
        let payload = format!("set:bl-{}:party-{i}", i % 5).into_bytes();
        let start = Instant::now();
        let committed = loop {
            match handle.propose(payload.clone()).await {
                Ok(c) => break c,
                // No leader known at that instant: wait for the status to move, then retry.
                Err(ProposalFailed::Dropped) if start.elapsed() < DEADLINE => {
                    let mut w = handle.status.clone();
                    let _ = tokio::time::timeout(DEADLINE, w.changed()).await;
                }
                Err(e) => bail!("proposal {i}: {e}"),
            }
        };
        highest = highest.max(committed.index);
    }
    wait_replicas(&replicas, |s| {
        s.iter().all(|s| s.applied_index >= highest)
            && s.windows(2).all(|w| {
                w[0].applied_index == w[1].applied_index && w[0].state_hash == w[1].state_hash
            })
    })
    .await?;
    for (handle, transport) in handles {
        handle.shutdown().await?;
        let stats = transport.stats();
        assert!(stats.received > 0 && stats.sent > 0, "{stats:?}");
        assert_eq!(stats.closed_bad_frame + stats.dropped_misaddressed, 0);
        transport.shutdown().await;
    }
    Ok(())
}

/// Waits until `condition` holds for the status of every replica.
async fn wait_replicas(
    handles: &[&ReplicaHandle],
    condition: impl Fn(&[ReplicaStatus]) -> bool,
) -> Result<()> {
    let start = Instant::now();
    loop {
        let statuses: Vec<ReplicaStatus> =
            handles.iter().map(|h| h.status.borrow().clone()).collect();
        if condition(&statuses) {
            return Ok(());
        }
        if start.elapsed() > DEADLINE {
            bail!("replicas did not get there: {statuses:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The leaf certificate node1's listener presents to a new connection from node3.
async fn presented_by_node1(net: &Net, addr: SocketAddr) -> Result<Vec<u8>> {
    let stream = raw_dial(&net.credentials("node3")?, &net.trust, node_id(1), addr).await?;
    let presented = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .context("no certificate presented")?;
    Ok(presented.as_ref().to_vec())
}

fn leaf_der(credentials: &NodeCredentials) -> Vec<u8> {
    credentials.chain[0].as_ref().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_of_the_same_node_is_presented_on_new_connections() -> Result<()> {
    let mut net = Net::new(3)?;
    let listener = bind().await?;
    let addr = listener.local_addr()?;
    let peers: BTreeMap<u64, SocketAddr> = [(1, addr), (3, "127.0.0.1:9".parse()?)]
        .into_iter()
        .collect();
    let node1 = start(config(&net, 1, &peers)?, listener)?;
    let original = net.credentials("node1")?;
    assert_eq!(presented_by_node1(&net, addr).await?, leaf_der(&original));

    // node1's member renews its certificate: the same node id, a new key and validity.
    let entry = net.consortium.identity("node1").context("node1")?.clone();
    let now = now_unix_s();
    net.consortium.issue(&pki::dev::IdentityRequest {
        name: "node1-renewed".into(),
        member: entry.member.clone(),
        party: entry.party.clone(),
        party_name: "renewed".into(),
        kind: pki::IdentityKind::Node,
        node_id: entry.node_id.clone(),
        ips: Vec::new(),
        not_before: now - 60,
        not_after: now + 2 * 24 * 3600,
    })?;
    let renewed = net.credentials("node1-renewed")?;
    assert_ne!(leaf_der(&renewed), leaf_der(&original));
    node1.transport.set_credentials(&renewed)?;
    assert_eq!(presented_by_node1(&net, addr).await?, leaf_der(&renewed));

    // Another node's certificate is not this node's: refused, and nothing changes.
    let refused = node1.transport.set_credentials(&net.credentials("node2")?);
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("node2")),
        "{refused:?}"
    );
    assert_eq!(presented_by_node1(&net, addr).await?, leaf_der(&renewed));
    node1.transport.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_a_foreign_consortium_is_refused() -> Result<()> {
    let net = Net::new(3)?;
    let foreign = Net::new(3)?;
    let foreign_node1 = foreign.credentials("node1")?;

    // A foreign "node1" listens where node3 expects node1; node3 dials it and must refuse.
    let impostor = bind().await?;
    let impostor_addr = impostor.local_addr()?;
    let impostor_server = tls::server_config(
        &tls::identity(&foreign_node1)?,
        &tls::shared(&net.trust),
        only_peer(3),
        Arc::new(Counters::default()),
    )?;
    let impostor_task = tokio::spawn(async move {
        // Serve handshakes until the test ends; each one is refused by node3.
        let acceptor = TlsAcceptor::from(Arc::new(impostor_server));
        loop {
            let Ok((tcp, _)) = impostor.accept().await else {
                return;
            };
            let _ = acceptor.accept(tcp).await;
        }
    });
    let addrs = BTreeMap::from([(1, impostor_addr), (3, "127.0.0.1:1".parse()?)]);
    let listener = bind().await?;
    let node3_addr = listener.local_addr()?;
    let mut node3 = start(config(&net, 3, &addrs)?, listener)?;
    let mut t3 = node3.transport.clone();
    t3.send(heartbeat(3, 1, 1));
    let stats = wait_stats("node3 refusing the foreign server", &node3.transport, |s| {
        s.refused_certificate >= 1
    })
    .await?;
    assert_eq!(stats.sent, 0, "nothing may reach a foreign node: {stats:?}");
    assert_eq!(stats.connections_outbound, 0);

    // The foreign "node1" dials node3 (trusting our CAs, so it gets as far as presenting its
    // certificate): node3 refuses it, and nothing it could send is delivered.
    let refused_before = node3.transport.stats().refused_certificate;
    let dialed = raw_dial(&foreign_node1, &net.trust, node_id(3), node3_addr).await;
    if let Ok(mut stream) = dialed {
        // TLS 1.3 lets the client finish before the server has checked its certificate; the
        // server's refusal then arrives as an alert on the first read.
        let hello = Hello {
            raft_id: 1,
            node_id: node_id(1),
            genesis_hash: GENESIS,
        };
        assert!(raw_hello(&mut stream, &hello).await.is_err() || closed_by_peer(&mut stream).await);
    }
    let stats = wait_stats("node3 refusing the foreign client", &node3.transport, |s| {
        s.refused_certificate > refused_before
    })
    .await?;
    assert_eq!(stats.connections_inbound, 0);
    assert_eq!(stats.received, 0);
    assert!(node3.inbox.try_recv().is_err());
    node3.transport.shutdown().await;
    impostor_task.abort();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_node_certificate_is_refused_both_ways() -> Result<()> {
    let mut net = Net::new(3)?;
    // node1 still runs on the trust store from before its revocation; node3 has the new CRL.
    let before = net.trust.clone();
    net.consortium.revoke("node1", now_unix_s() - 60)?;
    let after = net.consortium.trust_store()?;
    let l1 = bind().await?;
    let l3 = bind().await?;
    let addrs = BTreeMap::from([(1, l1.local_addr()?), (3, l3.local_addr()?)]);
    let node1 = start(config(&net, 1, &addrs)?, l1)?;
    net.trust = after;
    let mut node3 = start(config(&net, 3, &addrs)?, l3)?;
    net.trust = before;
    node1.transport.clone().send(heartbeat(1, 3, 1));
    node3.transport.clone().send(heartbeat(3, 1, 1));
    // node3 refuses node1 as a client (inbound) and as a server (outbound).
    let stats = wait_stats("node3 refusing node1 both ways", &node3.transport, |s| {
        s.refused_certificate >= 2 && s.dial_failures >= 1 && s.handshakes_failed >= 1
    })
    .await?;
    assert_eq!(
        (
            stats.connections_inbound,
            stats.connections_outbound,
            stats.received
        ),
        (0, 0, 0),
        "{stats:?}"
    );
    assert!(node3.inbox.try_recv().is_err());
    shutdown_all(&[node1, node3]).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_node_certificate_claiming_another_node_is_refused() -> Result<()> {
    let net = Net::new(3)?;

    // Inbound: node2's certificate dials node3 and says it is raft id 1 (node1).
    let listener = bind().await?;
    let node3_addr = listener.local_addr()?;
    let unused: SocketAddr = "127.0.0.1:1".parse()?;
    let mut node3 = start(
        config(&net, 3, &BTreeMap::from([(1, unused), (2, unused)]))?,
        listener,
    )?;
    let node2 = net.credentials("node2")?;
    for claim in [node_id(1), node_id(2)] {
        let before = node3.transport.stats().refused_identity;
        let mut stream = raw_dial(&node2, &net.trust, node_id(3), node3_addr).await?;
        let hello = Hello {
            raft_id: 1,
            node_id: claim.clone(),
            genesis_hash: GENESIS,
        };
        // node3 says its own hello, then refuses ours and closes.
        let theirs = raw_hello(&mut stream, &hello).await?;
        assert_eq!(theirs.map(|h| h.raft_id), Some(3));
        let mut m = wire::encode_message(&heartbeat(1, 3, 99))?;
        let _ = wire::write_frame(&mut stream, &std::mem::take(&mut m)).await;
        let _ = stream.flush().await;
        assert!(
            closed_by_peer(&mut stream).await,
            "node3 kept a connection claiming {claim}"
        );
        wait_stats("node3 refusing the impersonation", &node3.transport, |s| {
            s.refused_identity > before
        })
        .await?;
    }
    let stats = node3.transport.stats();
    assert_eq!(
        (stats.connections_inbound, stats.received),
        (0, 0),
        "{stats:?}"
    );
    assert!(node3.inbox.try_recv().is_err());
    node3.transport.shutdown().await;

    // Outbound: node3 dials "node1", but node2's valid certificate answers there, with a hello
    // that claims raft id 1 / node1: only the certificate pin can refuse it.
    let impostor = bind().await?;
    let impostor_addr = impostor.local_addr()?;
    let server = tls::server_config(
        &tls::identity(&node2)?,
        &tls::shared(&net.trust),
        only_peer(3),
        Arc::new(Counters::default()),
    )?;
    let frames_after_hello = Arc::new(AtomicU64::new(0));
    let impostor_task = tokio::spawn({
        let frames = frames_after_hello.clone();
        async move {
            let acceptor = TlsAcceptor::from(Arc::new(server));
            loop {
                let Ok((tcp, _)) = impostor.accept().await else {
                    return;
                };
                let Ok(mut stream) = acceptor.accept(tcp).await else {
                    continue;
                };
                let claim = Hello {
                    raft_id: 1,
                    node_id: node_id(1),
                    genesis_hash: GENESIS,
                };
                if wire::write_frame(&mut stream, &claim.encode())
                    .await
                    .is_err()
                {
                    continue;
                }
                let _ = stream.flush().await;
                while let Ok(Some(_)) = wire::read_frame(&mut stream, wire::FRAME_BYTES_MAX).await {
                    frames.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    let l3 = bind().await?;
    let node3 = start(
        config(&net, 3, &BTreeMap::from([(1, impostor_addr), (2, unused)]))?,
        l3,
    )?;
    node3.transport.clone().send(heartbeat(3, 1, 1));
    let stats = wait_stats(
        "node3 refusing node2 posing as node1",
        &node3.transport,
        |s| s.refused_identity >= 2,
    )
    .await?;
    assert_eq!(
        (stats.connections_outbound, stats.sent),
        (0, 0),
        "{stats:?}"
    );
    node3.transport.shutdown().await;
    impostor_task.abort();
    // Not even our hello reached the impostor.
    assert_eq!(frames_after_hello.load(Ordering::Relaxed), 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_of_another_genesis_is_refused() -> Result<()> {
    let net = Net::new(3)?;
    let l1 = bind().await?;
    let l3 = bind().await?;
    let addrs = BTreeMap::from([(1, l1.local_addr()?), (3, l3.local_addr()?)]);
    let mut other = config(&net, 1, &addrs)?;
    other.genesis_hash = [8; 32];
    let node1 = start(other, l1)?;
    let mut node3 = start(config(&net, 3, &addrs)?, l3)?;
    node1.transport.clone().send(heartbeat(1, 3, 1));
    node3.transport.clone().send(heartbeat(3, 1, 1));
    // Both sides see the other's hello and refuse it, on both connections.
    for node in [&node1, &node3] {
        wait_stats("a genesis refusal on each side", &node.transport, |s| {
            s.refused_genesis >= 2
        })
        .await?;
    }
    for node in [&node1, &node3] {
        let stats = node.transport.stats();
        assert_eq!(
            (
                stats.connections_inbound,
                stats.connections_outbound,
                stats.received,
                stats.sent
            ),
            (0, 0, 0, 0),
            "{stats:?}"
        );
    }
    assert!(node3.inbox.try_recv().is_err());
    shutdown_all(&[node1, node3]).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_close_only_their_connection() -> Result<()> {
    let net = Net::new(3)?;
    let mut nodes = start_cluster(&net, 3).await?;
    let node3_addr = nodes[2].transport.local_addr();
    let node1 = net.credentials("node1")?;
    let hello = Hello {
        raft_id: 1,
        node_id: node_id(1),
        genesis_hash: GENESIS,
    };
    let mut t2 = nodes[1].transport.clone();
    let mut marker = 0;
    let attacks: [(&str, Vec<u8>); 3] = [
        // A frame whose body is not a protobuf message at all.
        ("garbage", [&16u32.to_be_bytes()[..], &[0xff; 16]].concat()),
        // A header announcing 100 bytes, then 10 and the end of the stream.
        (
            "truncated",
            [&100u32.to_be_bytes()[..], &[0u8; 10]].concat(),
        ),
        // A length far over the frame limit.
        ("oversized", u32::MAX.to_be_bytes().to_vec()),
    ];
    for (i, (what, bytes)) in attacks.into_iter().enumerate() {
        // An authenticated connection (node1's real certificate and hello) that works...
        let mut stream = raw_dial(&node1, &net.trust, node_id(3), node3_addr).await?;
        assert!(raw_hello(&mut stream, &hello).await?.is_some());
        marker += 1;
        wire::write_frame(
            &mut stream,
            &wire::encode_message(&heartbeat(1, 3, marker))?,
        )
        .await?;
        stream.flush().await?;
        receive_marker(&mut nodes[2].inbox, 1, marker).await?;
        // ...until it sends a bad frame: node3 closes that connection.
        stream.write_all(&bytes).await?;
        if what == "truncated" {
            stream.shutdown().await?;
        } else {
            stream.flush().await?;
        }
        if what != "truncated" {
            assert!(
                closed_by_peer(&mut stream).await,
                "{what}: connection left open"
            );
        }
        wait_stats(what, &nodes[2].transport, |s| {
            s.closed_bad_frame == i as u64 + 1
        })
        .await?;
        // node2's own connection to node3 is untouched and keeps delivering.
        marker += 1;
        t2.send(heartbeat(2, 3, marker));
        receive_marker(&mut nodes[2].inbox, 2, marker).await?;
    }
    let stats = nodes[2].transport.stats();
    assert_eq!(stats.closed_bad_frame, 3, "{stats:?}");
    shutdown_all(&nodes).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_peer_never_blocks_sends_and_gets_new_messages_when_it_returns() -> Result<()> {
    let net = Net::new(3)?;
    let l1 = bind().await?;
    let l2 = bind().await?;
    // node3's port is reserved, then released: nothing listens there until node3 starts.
    let l3 = bind().await?;
    let addrs = BTreeMap::from([
        (1, l1.local_addr()?),
        (2, l2.local_addr()?),
        (3, l3.local_addr()?),
    ]);
    drop(l3);
    let node1 = start(config(&net, 1, &addrs)?, l1)?;
    let mut node2 = start(config(&net, 2, &addrs)?, l2)?;
    let mut t1 = node1.transport.clone();

    // Far more than a queue holds, to a dead peer: every send returns at once.
    let burst = 2 * PEER_QUEUE_MESSAGES_MAX as u64;
    let start_sends = Instant::now();
    for i in 0..burst {
        t1.send(heartbeat(1, 3, i));
    }
    let elapsed = start_sends.elapsed();
    assert!(
        elapsed < Duration::from_secs(2),
        "{burst} sends took {elapsed:?}"
    );
    let stats = wait_stats("redials of the dead peer", &node1.transport, |s| {
        s.dial_failures >= 3
    })
    .await?;
    assert_eq!(
        stats.dropped_queue_full,
        burst - PEER_QUEUE_MESSAGES_MAX as u64
    );

    // Meanwhile node2 is served as usual.
    t1.send(heartbeat(1, 2, 1));
    receive_marker(&mut node2.inbox, 1, 1).await?;

    // node3 comes up on its address; node1 reconnects and a new message gets through.
    let l3 = TcpListener::bind(addrs[&3]).await?;
    let mut node3 = start(config(&net, 3, &addrs)?, l3)?;
    let fresh = 1_000_000;
    t1.send(heartbeat(1, 3, fresh));
    receive_marker(&mut node3.inbox, 1, fresh).await?;
    assert!(node1.transport.stats().connections_outbound >= 2);
    shutdown_all(&[node1, node2, node3]).await;
    Ok(())
}

/// A peer named by host name (`localhost:PORT`, as a node configuration written by
/// `silkline member node-config` names peers) is resolved and reached; an address that is no
/// `host:port` is refused when the peers are set, naming the peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_named_by_host_name_is_resolved_and_reached() -> Result<()> {
    let net = Net::new(2)?;
    let (l1, l2) = (bind().await?, bind().await?);
    let by_name =
        |l: &TcpListener| -> Result<String> { Ok(format!("localhost:{}", l.local_addr()?.port())) };
    let named = |raft_id: u64, addr: String| -> Result<TransportConfig> {
        let mut c = config(&net, raft_id, &BTreeMap::new())?;
        let other = 3 - raft_id;
        c.peers = BTreeMap::from([(
            other,
            PeerAddress {
                node_id: node_id(other),
                member: None,
                addr,
            },
        )]);
        Ok(c)
    };
    let (a1, a2) = (by_name(&l1)?, by_name(&l2)?);
    let mut node1 = start(named(1, a2)?, l1)?;
    let mut node2 = start(named(2, a1)?, l2)?;
    let (mut t1, mut t2) = (node1.transport.clone(), node2.transport.clone());
    t1.send(heartbeat(1, 2, 7));
    receive_marker(&mut node2.inbox, 1, 7).await?;
    t2.send(heartbeat(2, 1, 8));
    receive_marker(&mut node1.inbox, 2, 8).await?;
    assert!(node1.transport.stats().connections_outbound >= 1);

    for bad in [
        "localhost",
        "localhost:0",
        ":7000",
        "::1:7000",
        "localhost:http",
    ] {
        let mut peers = node1.transport.peers();
        peers.get_mut(&2).expect("peer 2").addr = bad.to_owned();
        let err = node1.transport.set_peers(peers).unwrap_err();
        assert!(err.to_string().contains("peer raft id 2"), "{bad}: {err}");
    }
    shutdown_all(&[node1, node2]).await;
    Ok(())
}

#[test]
fn host_and_port_are_split_as_a_dialer_resolves_them() {
    use replication::transport::split_host_port;
    assert_eq!(split_host_port("localhost:7001"), Ok(("localhost", 7001)));
    assert_eq!(
        split_host_port("node1.example.org:443"),
        Ok(("node1.example.org", 443))
    );
    assert_eq!(split_host_port("127.0.0.2:9"), Ok(("127.0.0.2", 9)));
    assert_eq!(split_host_port("[::1]:9"), Ok(("::1", 9)));
    assert!(split_host_port("::1:9").is_err());
    assert!(split_host_port("localhost:65536").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_every_task_and_misaddressed_messages_are_dropped() -> Result<()> {
    let net = Net::new(3)?;
    let mut nodes = start_cluster(&net, 3).await?;
    // node1 forwards a message claiming to come from node2: node3 drops it, keeps the link.
    let mut t1 = nodes[0].transport.clone();
    t1.send(heartbeat(2, 3, 1));
    t1.send(heartbeat(1, 3, 2));
    receive_marker(&mut nodes[2].inbox, 1, 2).await?;
    let stats = nodes[2].transport.stats();
    assert_eq!(stats.dropped_misaddressed, 1, "{stats:?}");
    tokio::time::timeout(DEADLINE, shutdown_all(&nodes))
        .await
        .context("shutdown did not finish")?;
    // Every task has ended, so every sender of every inbox is gone.
    for node in &mut nodes {
        let end = tokio::time::timeout(DEADLINE, async {
            while node.inbox.recv().await.is_some() {}
        });
        end.await.context("an inbox stayed open after shutdown")?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_larger_than_a_frame_arrives_whole() -> Result<()> {
    let net = Net::new(2)?;
    let mut nodes = start_cluster(&net, 2).await?;
    let mut snapshot = Message::default();
    snapshot.set_msg_type(MessageType::MsgSnapshot);
    snapshot.from = 1;
    snapshot.to = 2;
    snapshot.commit = 4242;
    // 5 MiB: more than two frames' worth, the size of a ledger of a few thousand bills.
    let data: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    snapshot.mut_snapshot().set_data(data.into());
    let mut t1 = nodes[0].transport.clone();
    t1.send(snapshot.clone());
    // A small message after it arrives after it: the parts do not interleave.
    t1.send(heartbeat(1, 2, 7));
    let received = tokio::time::timeout(DEADLINE, nodes[1].inbox.recv())
        .await
        .context("no snapshot before the deadline")?
        .context("inbox closed")?;
    assert_eq!(received, snapshot);
    receive_marker(&mut nodes[1].inbox, 1, 7).await?;
    let stats = nodes[0].transport.stats();
    assert_eq!(stats.dropped_oversized, 0, "{stats:?}");
    shutdown_all(&nodes).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_peers_adds_a_peer_pinned_to_its_member_and_forgets_a_removed_one() -> Result<()> {
    // node1 is CARRIER's, node2 PORT's, node3 BANK's.
    let net = Net::new(3)?;
    let (l1, l2, l3) = (bind().await?, bind().await?, bind().await?);
    let addrs = BTreeMap::from([
        (1, l1.local_addr()?),
        (2, l2.local_addr()?),
        (3, l3.local_addr()?),
    ]);
    let without_3: BTreeMap<u64, SocketAddr> = addrs
        .iter()
        .filter(|(id, _)| **id != 3)
        .map(|(id, addr)| (*id, *addr))
        .collect();
    let mut node1 = start(config(&net, 1, &without_3)?, l1)?;
    let node2 = start(config(&net, 2, &without_3)?, l2)?;
    let mut node3 = start(config(&net, 3, &addrs)?, l3)?;
    let (mut t1, mut t3) = (node1.transport.clone(), node3.transport.clone());
    let peer = |id: u64, member: &str| PeerAddress {
        node_id: node_id(id),
        member: Some(MemberCode::new(member).expect("member code")),
        addr: addrs[&id].to_string(),
    };

    // node1 does not know node3 yet: what it sends there is dropped, node3's dial is refused.
    t1.send(heartbeat(1, 3, 1));
    assert_eq!(node1.transport.stats().dropped_unknown_peer, 1);
    t3.send(heartbeat(3, 1, 1));
    wait_stats("node3 refused by node1", &node1.transport, |s| {
        s.refused_identity >= 1
    })
    .await?;

    // Added, pinned to BANK's CA: both directions work (node3's queued message arrives too).
    let mut peers = node1.transport.peers();
    peers.insert(3, peer(3, "BANK"));
    node1.transport.set_peers(peers.clone())?;
    t1.send(heartbeat(1, 3, 2));
    receive_marker(&mut node3.inbox, 1, 2).await?;
    t3.send(heartbeat(3, 1, 3));
    receive_marker(&mut node1.inbox, 3, 3).await?;

    // Pinned to another member's CA, node3's certificate is refused when node1 redials it.
    let refused = node1.transport.stats().refused_identity;
    peers.insert(3, peer(3, "CARRIER"));
    node1.transport.set_peers(peers.clone())?;
    t1.send(heartbeat(1, 3, 4));
    wait_stats("node3 refused: not CARRIER's node", &node1.transport, |s| {
        s.refused_identity > refused
    })
    .await?;

    // Removed: nothing goes to node3, and its connection is closed and refused again.
    peers.remove(&3);
    node1.transport.set_peers(peers)?;
    assert!(!node1.transport.peers().contains_key(&3));
    let stats = node1.transport.stats();
    t1.send(heartbeat(1, 3, 5));
    assert_eq!(
        node1.transport.stats().dropped_unknown_peer,
        stats.dropped_unknown_peer + 1
    );
    t3.send(heartbeat(3, 1, 6));
    wait_stats("node3 shut out after its removal", &node1.transport, |s| {
        s.refused_identity > stats.refused_identity
    })
    .await?;

    // A peer set naming this node itself is refused whole.
    let own = BTreeMap::from([(1, peer(1, "CARRIER"))]);
    assert!(node1.transport.set_peers(own).is_err());
    assert_eq!(node1.transport.peers().len(), 1);
    shutdown_all(&[node1, node2, node3]).await;
    Ok(())
}

/// Streamed snapshots in memory: the descriptor `STREAM` names `chunks`; what a node imports
/// is kept, and its importer fails at chunk `fail_at` if set.
struct MemoryStreams {
    chunks: Vec<Vec<u8>>,
    imported: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    finished: Arc<std::sync::atomic::AtomicBool>,
    fail_at: Option<usize>,
}

struct MemoryReader(std::vec::IntoIter<Vec<u8>>);

impl ChunkReader for MemoryReader {
    fn next_chunk(&mut self, _max_bytes: usize) -> Result<Option<Vec<u8>>, String> {
        Ok(self.0.next())
    }
}

struct MemoryImporter {
    imported: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    finished: Arc<std::sync::atomic::AtomicBool>,
    fail_at: Option<usize>,
}

impl ChunkImporter for MemoryImporter {
    fn chunk(&mut self, bytes: &[u8]) -> Result<(), String> {
        let mut imported = self.imported.lock().unwrap();
        if self.fail_at == Some(imported.len()) {
            return Err("disk full".into());
        }
        imported.push(bytes.to_vec());
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<(), String> {
        self.finished.store(true, Ordering::SeqCst);
        Ok(())
    }
}

impl SnapshotStreams for MemoryStreams {
    fn reader(&self, data: &[u8]) -> Option<Result<Box<dyn ChunkReader>, String>> {
        (data == b"STREAM")
            .then(|| Ok(Box::new(MemoryReader(self.chunks.clone().into_iter())) as Box<_>))
    }

    fn importer(&self, data: &[u8]) -> Result<Box<dyn ChunkImporter>, String> {
        if data != b"STREAM" {
            return Err("unknown descriptor".into());
        }
        self.imported.lock().unwrap().clear();
        Ok(Box::new(MemoryImporter {
            imported: self.imported.clone(),
            finished: self.finished.clone(),
            fail_at: self.fail_at,
        }))
    }
}

/// Two nodes whose transports stream snapshots named `STREAM` (node 2's importer failing at
/// `fail_at`), and what node 2 imports.
async fn streaming_pair(
    net: &Net,
    chunks: &[Vec<u8>],
    fail_at: Option<usize>,
) -> Result<(
    Vec<Node>,
    Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    Arc<std::sync::atomic::AtomicBool>,
)> {
    let listeners = [bind().await?, bind().await?];
    let addrs: BTreeMap<u64, SocketAddr> = [
        (1, listeners[0].local_addr()?),
        (2, listeners[1].local_addr()?),
    ]
    .into();
    let imported = Arc::new(std::sync::Mutex::new(Vec::new()));
    let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut nodes = Vec::new();
    for (id, listener) in (1..=2).zip(listeners) {
        let mut config = config(net, id, &addrs)?;
        config.streams = Some(Arc::new(MemoryStreams {
            chunks: chunks.to_vec(),
            imported: imported.clone(),
            finished: finished.clone(),
            fail_at,
        }));
        nodes.push(start(config, listener)?);
    }
    Ok((nodes, imported, finished))
}

fn streamed_snapshot() -> Message {
    let mut m = Message::default();
    m.set_msg_type(MessageType::MsgSnapshot);
    m.from = 1;
    m.to = 2;
    m.mut_snapshot().set_data(b"STREAM".to_vec().into());
    m.mut_snapshot().mut_metadata().index = 99;
    m
}

/// Waits until `transport` reports `expected` for peer 2.
async fn wait_report(transport: &mut TlsTransport, expected: StreamReport) -> Result<()> {
    let start = Instant::now();
    loop {
        let reports = transport.snapshot_reports();
        if reports.contains(&(2, expected)) {
            return Ok(());
        }
        if start.elapsed() > DEADLINE {
            bail!("no {expected:?} report; last reports {reports:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_snapshot_arrives_after_its_chunks_beside_the_raft_messages() -> Result<()> {
    let net = Net::new(2)?;
    // 3 MiB in 24 chunks of 128 KiB: several frames' worth, each chunk distinct.
    let chunks: Vec<Vec<u8>> = (0..24u8).map(|i| vec![i; 128 * 1024]).collect();
    let (mut nodes, imported, finished) = streaming_pair(&net, &chunks, None).await?;
    let mut t1 = nodes[0].transport.clone();
    t1.send(streamed_snapshot());
    t1.send(heartbeat(1, 2, 7));
    // The snapshot message comes only after the whole import; the heartbeat is not held back
    // by it (it may come before or after).
    let received = tokio::time::timeout(DEADLINE, async {
        loop {
            let m = nodes[1].inbox.recv().await.context("inbox closed")?;
            if m.get_msg_type() == MessageType::MsgSnapshot {
                return anyhow::Ok(m);
            }
        }
    })
    .await
    .context("no snapshot before the deadline")??;
    assert!(
        finished.load(Ordering::SeqCst),
        "delivered before the import finished"
    );
    assert_eq!(received, streamed_snapshot());
    assert_eq!(*imported.lock().unwrap(), chunks);
    wait_report(&mut t1, StreamReport::Delivered).await?;
    t1.send(heartbeat(1, 2, 8));
    receive_marker(&mut nodes[1].inbox, 1, 8).await?;
    shutdown_all(&nodes).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_snapshot_whose_import_fails_is_not_delivered_and_is_reported_lost() -> Result<()>
{
    let net = Net::new(2)?;
    let chunks: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 64 * 1024]).collect();
    let (mut nodes, imported, finished) = streaming_pair(&net, &chunks, Some(3)).await?;
    let mut t1 = nodes[0].transport.clone();
    t1.send(streamed_snapshot());
    wait_report(&mut t1, StreamReport::Failed).await?;
    assert!(!finished.load(Ordering::SeqCst));
    assert_eq!(imported.lock().unwrap().len(), 3);
    // The main connection still works, and no snapshot message was handed on.
    t1.send(heartbeat(1, 2, 9));
    receive_marker(&mut nodes[1].inbox, 1, 9).await?;
    while let Ok(m) = nodes[1].inbox.try_recv() {
        assert_ne!(m.get_msg_type(), MessageType::MsgSnapshot);
    }
    shutdown_all(&nodes).await;
    Ok(())
}

// Resource bounds per peer: one main inbound connection, a few silent ones, and one budget for
// partial messages, freed when their connection closes.

/// node2 and node3, peers of each other, and node1 at an address where nothing listens: only a
/// raw client presenting node1's certificate speaks as node1 to node3.
async fn node2_and_node3(net: &Net) -> Result<(Node, Node)> {
    let (l2, l3) = (bind().await?, bind().await?);
    let addrs = BTreeMap::from([
        (1, "127.0.0.1:1".parse()?),
        (2, l2.local_addr()?),
        (3, l3.local_addr()?),
    ]);
    let node2 = start(config(net, 2, &addrs)?, l2)?;
    let node3 = start(config(net, 3, &addrs)?, l3)?;
    Ok((node2, node3))
}

type RawStream = tokio_rustls::client::TlsStream<TcpStream>;

/// A raw connection to node3 as node1 (its valid certificate and hello), counted by node3 as an
/// established inbound connection before this returns.
async fn raw_node1(net: &Net, node3: &TlsTransport) -> Result<RawStream> {
    let before = node3.stats().connections_inbound;
    let mut stream = raw_dial(
        &net.credentials("node1")?,
        &net.trust,
        node_id(3),
        node3.local_addr(),
    )
    .await?;
    let hello = Hello {
        raft_id: 1,
        node_id: node_id(1),
        genesis_hash: GENESIS,
    };
    ensure!(
        raw_hello(&mut stream, &hello).await?.is_some(),
        "node3 refused node1's hello"
    );
    wait_stats("node3 establishing node1's connection", node3, |s| {
        s.connections_inbound > before
    })
    .await?;
    Ok(stream)
}

async fn send_frame(stream: &mut RawStream, body: &[u8]) -> Result<()> {
    wire::write_frame(stream, body).await?;
    stream.flush().await?;
    Ok(())
}

/// A part frame as a sender that never sends the last one would: a full frame of zeros.
fn part_frame() -> Vec<u8> {
    let mut body = vec![0u8; wire::FRAME_BYTES_MAX];
    body[0] = wire::KIND_PART;
    body
}

/// Sends a heartbeat from node1 with `marker` on `stream` and waits for node3 to hand it on.
async fn node1_says(stream: &mut RawStream, node3: &mut Node, marker: u64) -> Result<()> {
    send_frame(stream, &wire::encode_message(&heartbeat(1, 3, marker))?).await?;
    receive_marker(&mut node3.inbox, 1, marker).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn part_frames_past_the_peer_budget_close_the_connection_and_other_peers_are_served()
-> Result<()> {
    let net = Net::new(3)?;
    let (node2, mut node3) = node2_and_node3(&net).await?;
    let mut t2 = node2.transport.clone();
    let part = part_frame();
    let fit = PEER_BUFFERED_BYTES_MAX / wire::FRAME_BYTES_MAX;
    assert!(fit >= 2, "the budget holds {fit} frames");

    // node1 sends parts up to its budget and never the last one: node3 holds them all...
    let mut stream = raw_node1(&net, &node3.transport).await?;
    for _ in 0..fit {
        send_frame(&mut stream, &part).await?;
    }
    let held = (fit * wire::FRAME_BYTES_MAX) as u64;
    wait_stats("node3 holding node1's parts", &node3.transport, |s| {
        s.buffered_bytes == held
    })
    .await?;
    // ...while node2's messages keep arriving.
    t2.send(heartbeat(2, 3, 1));
    receive_marker(&mut node3.inbox, 2, 1).await?;

    // One part more would exceed the budget: node3 closes the connection, counts it, and
    // frees what it held.
    send_frame(&mut stream, &part).await?;
    assert!(
        closed_by_peer(&mut stream).await,
        "a part over the budget left the connection open"
    );
    let stats = wait_stats("node3 closing node1 over budget", &node3.transport, |s| {
        s.closed_over_budget == 1 && s.buffered_bytes == 0
    })
    .await?;
    assert_eq!(
        (stats.closed_bad_frame, stats.received),
        (0, 1),
        "{stats:?}"
    );

    // node2 is still served, and node1 is not locked out: a new connection delivers.
    t2.send(heartbeat(2, 3, 2));
    receive_marker(&mut node3.inbox, 2, 2).await?;
    let mut again = raw_node1(&net, &node3.transport).await?;
    node1_says(&mut again, &mut node3, 3).await?;
    shutdown_all(&[node2, node3]).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_keeps_one_main_connection_the_newest_and_few_silent_ones() -> Result<()> {
    let net = Net::new(3)?;
    let (node2, mut node3) = node2_and_node3(&net).await?;
    let mut t2 = node2.transport.clone();

    // node1 connects four times, each connection speaking: each newer one replaces the one
    // before it, which node3 closes.
    let mut previous: Option<RawStream> = None;
    for marker in 1..=4 {
        let mut stream = raw_node1(&net, &node3.transport).await?;
        node1_says(&mut stream, &mut node3, marker).await?;
        if let Some(mut old) = previous.take() {
            assert!(
                closed_by_peer(&mut old).await,
                "connection {} kept beside a newer one",
                marker - 1
            );
        }
        previous = Some(stream);
    }
    let mut main = previous.context("a main connection")?;
    wait_stats("three replaced connections", &node3.transport, |s| {
        s.closed_replaced == 3
    })
    .await?;
    node1_says(&mut main, &mut node3, 5).await?;

    // An older connection that speaks after a newer one is closed; the newer one stays.
    let mut older = raw_node1(&net, &node3.transport).await?;
    let mut newer = raw_node1(&net, &node3.transport).await?;
    node1_says(&mut newer, &mut node3, 6).await?;
    assert!(
        closed_by_peer(&mut main).await,
        "the replaced main stayed open"
    );
    send_frame(&mut older, &wire::encode_message(&heartbeat(1, 3, 7))?).await?;
    assert!(
        closed_by_peer(&mut older).await,
        "an older connection took over from a newer one"
    );
    wait_stats("the older connection closed", &node3.transport, |s| {
        s.closed_replaced == 5
    })
    .await?;
    node1_says(&mut newer, &mut node3, 8).await?;

    // Silent connections (no frame yet): a newer one past the bound closes the oldest, and
    // the main connection is not one of them.
    let mut silent = Vec::new();
    for _ in 0..=PEER_SILENT_CONNECTIONS_MAX {
        silent.push(raw_node1(&net, &node3.transport).await?);
    }
    assert!(
        closed_by_peer(&mut silent[0]).await,
        "{} silent connections kept",
        PEER_SILENT_CONNECTIONS_MAX + 1
    );
    let stats = wait_stats(
        "the oldest silent connection closed",
        &node3.transport,
        |s| s.closed_replaced == 6,
    )
    .await?;
    assert_eq!(
        (stats.closed_bad_frame, stats.closed_over_budget),
        (0, 0),
        "{stats:?}"
    );
    node1_says(&mut newer, &mut node3, 9).await?;
    // Through all of it, node2 is served.
    t2.send(heartbeat(2, 3, 10));
    receive_marker(&mut node3.inbox, 2, 10).await?;
    shutdown_all(&[node2, node3]).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_messages_are_freed_when_complete_closed_or_replaced() -> Result<()> {
    let net = Net::new(3)?;
    let (node2, mut node3) = node2_and_node3(&net).await?;
    let part = part_frame();
    let three_parts = 3 * wire::FRAME_BYTES_MAX as u64;

    // A message in parts: held until its last part, then handed on whole and freed.
    let mut snapshot = Message::default();
    snapshot.set_msg_type(MessageType::MsgSnapshot);
    snapshot.from = 1;
    snapshot.to = 3;
    snapshot.commit = 4343;
    let data: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    snapshot.mut_snapshot().set_data(data.into());
    let frames = wire::encode_frames(&snapshot)?;
    let (last, parts) = frames.split_last().context("no frames")?;
    let mut stream = raw_node1(&net, &node3.transport).await?;
    for p in parts {
        send_frame(&mut stream, p).await?;
    }
    let held: u64 = parts.iter().map(|p| p.len() as u64).sum();
    wait_stats("node3 holding the parts", &node3.transport, |s| {
        s.buffered_bytes == held
    })
    .await?;
    send_frame(&mut stream, last).await?;
    receive_marker(&mut node3.inbox, 1, 4343).await?;
    wait_stats("the completed message freed", &node3.transport, |s| {
        s.buffered_bytes == 0
    })
    .await?;

    // The peer closes its connection in the middle of a message: freed.
    send_frame(&mut stream, &part).await?;
    send_frame(&mut stream, &part).await?;
    send_frame(&mut stream, &part).await?;
    wait_stats("node3 holding three parts", &node3.transport, |s| {
        s.buffered_bytes == three_parts
    })
    .await?;
    stream.shutdown().await?;
    drop(stream);
    wait_stats(
        "the closed connection's parts freed",
        &node3.transport,
        |s| s.buffered_bytes == 0,
    )
    .await?;

    // A newer connection of the peer replaces one in the middle of a message: freed too.
    let mut stale = raw_node1(&net, &node3.transport).await?;
    for _ in 0..3 {
        send_frame(&mut stale, &part).await?;
    }
    wait_stats("node3 holding the stale parts", &node3.transport, |s| {
        s.buffered_bytes == three_parts
    })
    .await?;
    let mut fresh = raw_node1(&net, &node3.transport).await?;
    node1_says(&mut fresh, &mut node3, 1).await?;
    assert!(
        closed_by_peer(&mut stale).await,
        "the stale connection stayed"
    );
    let stats = wait_stats(
        "the replaced connection's parts freed",
        &node3.transport,
        |s| s.buffered_bytes == 0,
    )
    .await?;
    assert_eq!(
        (
            stats.closed_replaced,
            stats.closed_over_budget,
            stats.closed_bad_frame
        ),
        (1, 0, 0),
        "{stats:?}"
    );
    shutdown_all(&[node2, node3]).await;
    Ok(())
}
