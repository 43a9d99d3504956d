//! `silkline node run`: opens the stores, bootstraps or reopens the replica (or, for a node
//! that is not in the genesis, waits to be brought up by the leader's snapshot), starts the
//! TLS transport and the runtime, keeps the transport's peers equal to the ledger's node set,
//! publishes `status.json`, and shuts down cleanly on SIGTERM/SIGINT.
//!
//! A node joins an existing network once a member admin's `ADD_NODE` for its raft id has
//! committed: started with an empty data directory and a configuration whose `raftId` is not
//! a genesis node, it bootstraps nothing; the leader adds it as a Raft learner, finds its log
//! empty and sends a snapshot (ARCHITECTURE.md, "Genesis is a snapshot at index 1").

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use std::collections::BTreeMap;

use ledger::client::LedgerClient;
use ledger::{Genesis, LedgerReader, LedgerState, NodeRole};
use pki::{MemberCode, NodeId, TrustStore};
use replication::error::StateMachineError;
use replication::logging::tracing_logger;
use replication::runtime::{self, PEER_CHANNEL_CAPACITY, ReplicaStatus, RuntimeConfig};
use replication::state_machine::{
    CommittedEntry, LogIndex, Membership, StateHash, StateMachine, StateSnapshot,
};
use replication::stream::SnapshotStreams;
use replication::transport::{
    NodeCredentials, PEER_QUEUE_MESSAGES_MAX, PeerAddress, TlsTransport, TransportConfig,
    TransportStats,
};
use replication::{Attestation, LogStore, RedbLog, Replica, ReplicaConfig, StateRole};
use serde::Serialize;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

use crate::config::NodeFileConfig;
use crate::ops::{self, CertificateValidity, OpsContext, TxCounter};
use replication::metrics::ReplicaMetrics;

/// How often `status.json` is rewritten: fast enough for tests to observe an election (1-2 s)
/// without polling for long, rare enough to cost nothing.
pub const STATUS_INTERVAL_MS: u64 = 200;

/// How long shutdown waits for the API's open requests to finish.
const API_DRAIN_MS: u64 = 3_000;

/// The Raft log, inside the data directory.
const RAFT_LOG_FILE: &str = "raft.redb";
/// The sled ledger state, inside the data directory.
const STATE_DIR: &str = "state";
/// The observation point, inside the data directory.
pub const STATUS_FILE: &str = "status.json";
/// Scratch state used once, to compute the genesis snapshot of a new replica.
const GENESIS_SCRATCH_DIR: &str = "genesis.scratch";

/// Why a running node stops: a signal asks it to (a clean shutdown), or its replica stopped by
/// itself (an error, even if the replica's own result is `Ok`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopReason {
    Sigterm,
    Sigint,
    /// The runtime task ended: the status channel's sender is gone.
    ReplicaStopped,
}

impl StopReason {
    /// The reason as the shutdown log line gives it.
    fn as_str(self) -> &'static str {
        match self {
            StopReason::Sigterm => "SIGTERM",
            StopReason::Sigint => "SIGINT",
            StopReason::ReplicaStopped => "replica stopped",
        }
    }

    /// Whether the node was asked to stop; otherwise `run` fails after shutting down.
    fn requested(self) -> bool {
        match self {
            StopReason::Sigterm | StopReason::Sigint => true,
            StopReason::ReplicaStopped => false,
        }
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stable code a node stops with when its data directory's file system is full.
pub const STORAGE_FULL: &str = "STORAGE_FULL";

/// Runs a node until SIGTERM or SIGINT. `Ok` after a clean shutdown. A node whose storage
/// fails stops (the replica stops before acknowledging anything it could not write, and the
/// node shuts down behind it); when the cause is a full file system the error starts with
/// [`STORAGE_FULL`] and says what to do: the stores are crash-safe, so the node starts again
/// once there is space.
pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    run_node(config_path).await.map_err(|e| {
        if storage_full(&e) {
            e.context(format!(
                "{STORAGE_FULL}: the file system of the node's data directory is full; free \
                 space there, then start the node again (its stores are intact: it catches up \
                 from its peers)"
            ))
        } else {
            e
        }
    })
}

/// Whether `e` comes from a full file system (ENOSPC, or EDQUOT), as an `io::Error` in its
/// chain or, for the stores that report their I/O errors as text, by the OS error's number.
fn storage_full(e: &anyhow::Error) -> bool {
    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = 122;
    e.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| {
            io.kind() == std::io::ErrorKind::StorageFull
                || matches!(io.raw_os_error(), Some(ENOSPC | EDQUOT))
        }) || {
            let text = cause.to_string();
            text.contains("(os error 28)") || text.contains("(os error 122)")
        }
    })
}

async fn run_node(config_path: &Path) -> anyhow::Result<()> {
    let config = NodeFileConfig::load(config_path)?;
    let genesis_json = std::fs::read_to_string(&config.genesis)
        .with_context(|| format!("read genesis {}", config.genesis.display()))?;
    let genesis = Genesis::from_json(&genesis_json)
        .with_context(|| format!("genesis {}", config.genesis.display()))?;
    let joining = check_against_genesis(&config, &genesis)?;
    let genesis_hash = genesis.genesis_hash();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("create data dir {}", config.data_dir.display()))?;

    let store = open_log(&config, &genesis, joining)?;
    let state = LedgerState::open(config.data_dir.join(STATE_DIR), &genesis)
        .context("open the ledger state")?;
    let reader = state.reader();
    // The ledger's trust as of its last block: the active members' CAs and current CRLs.
    let trust = reader.trust_store();
    // Snapshots for peers are streamed from a view of the store, whatever its size.
    state.enable_streamed_snapshots();
    let streams = state.snapshot_streams();
    let machine = Observed { state };
    let mut replica_config = ReplicaConfig::new(config.raft_id);
    if let Some(n) = config.snapshot_interval_entries {
        replica_config.snapshot_interval_entries = n.max(1);
    }
    if let Some(n) = config.log_retain_entries {
        replica_config.log_retain_entries = n;
    }
    let mut replica = Replica::open(
        replica_config,
        store,
        machine,
        &tracing_logger(config.raft_id),
    )
    .context("open the replica")?;
    let replica_metrics = Arc::new(ReplicaMetrics::default());
    replica.set_metrics(replica_metrics.clone());
    let api_metrics = Arc::new(graphql::ApiMetrics::default());

    let (inbound, peer_messages) = mpsc::channel(PEER_CHANNEL_CAPACITY);
    let transport_config = transport_config(&config, &reader, trust, genesis_hash.0, streams)?;
    let api_credentials = NodeCredentials {
        chain: transport_config.credentials.chain.clone(),
        key: transport_config.credentials.key.clone_key(),
    };
    // The API presents the node certificate too; SIGHUP replaces it in both.
    let api_certificate: pki::tls::SharedCertificate = Arc::new(std::sync::RwLock::new(
        pki::tls::certified_key(api_credentials.chain, api_credentials.key)
            .context("the node certificate and key")?,
    ));
    let transport = TlsTransport::start(transport_config, inbound)
        .await
        .context("start the transport")?;
    let handle = runtime::spawn(
        replica,
        transport.clone(),
        peer_messages,
        RuntimeConfig::wall_clock(),
    );
    let (api_stop, api_stopped) = watch::channel(false);
    let api_task = match config.api_listen {
        Some(listen) => {
            let client = LedgerClient::new(
                reader.clone(),
                handle.proposals.clone(),
                handle.reads.clone(),
                handle.status.clone(),
            );
            let schema = graphql::build_observed_schema(
                graphql::Api {
                    client,
                    node_id: config.node_id.clone(),
                    verify_base_url: config.verify_base_url(),
                },
                api_metrics.clone(),
            );
            let tls = graphql::renewable_tls_config(api_certificate.clone(), reader.clone())
                .context("the API's TLS configuration")?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("bind the API to {listen}"))?;
            tracing::info!(api = %format!("https://{}/graphql", listener.local_addr()?), "GraphQL API serving");
            Some(tokio::spawn(graphql::serve(
                listener,
                tls,
                schema,
                reader.clone(),
                api_stopped,
            )))
        }
        None => None,
    };
    let public_task = match config.public_listen {
        Some(listen) => {
            Some(start_public(&config, listen, reader.clone(), api_stop.subscribe()).await?)
        }
        None => None,
    };
    let pint_tasks = start_pint(
        &config,
        LedgerClient::new(
            reader.clone(),
            handle.proposals.clone(),
            handle.reads.clone(),
            handle.status.clone(),
        ),
        &api_stop,
    )
    .await?;
    let certificates = Arc::new(std::sync::RwLock::new(certificate_validities(&config)?));
    let transactions = Arc::new(TxCounter::default());
    let counter_task = tokio::spawn(
        transactions
            .clone()
            .follow(reader.clone(), api_stop.subscribe()),
    );
    let ops_task = match config.ops_listen {
        Some(listen) => {
            let context = Arc::new(OpsContext {
                node_id: config.node_id.clone(),
                network_id: genesis.network_id.clone(),
                genesis_hash: genesis_hash.to_string(),
                data_dir: config.data_dir.clone(),
                state_dir: config.data_dir.join(STATE_DIR),
                status: handle.status.clone(),
                transport: transport.clone(),
                replica: replica_metrics.clone(),
                api: api_metrics.clone(),
                transactions: transactions.clone(),
                certificates: certificates.clone(),
                backups: Some(handle.backups.clone()),
            });
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("bind the operations listener to {listen}"))?;
            tracing::info!(ops = %ops::url(listener.local_addr()?), "operations listener serving (/metrics, /livez, /readyz, /version, /backup)");
            let stop = api_stop.subscribe();
            Some(tokio::spawn(async move {
                if let Err(e) = ops::serve(listener, context, stop).await {
                    tracing::error!(error = %format!("{e:#}"), "the operations listener stopped");
                }
            }))
        }
        None => None,
    };
    let notifier = match config.email.clone() {
        Some(email) => Some(crate::notify::start(
            email,
            config.raft_id,
            &config.data_dir,
            reader.clone(),
            handle.status.clone(),
        )?),
        None => None,
    };
    tracing::info!(
        node = %config.node_id,
        raft_id = config.raft_id,
        listen = %transport.local_addr(),
        genesis = %genesis_hash,
        "node started"
    );

    let status_path = config.data_dir.join(STATUS_FILE);
    let mut status = handle.status.clone();
    let mut sigterm = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut sighup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    let mut ticker = tokio::time::interval(Duration::from_millis(STATUS_INTERVAL_MS));
    let mut trust_epoch = reader.revocation_epoch();
    let stopped_by = loop {
        tokio::select! {
            _ = sigterm.recv() => break StopReason::Sigterm,
            _ = sigint.recv() => break StopReason::Sigint,
            _ = sighup.recv() => {
                match reload_certificate(&config, &transport, &api_certificate, &certificates) {
                    Ok(not_after) => tracing::info!(not_after, "SIGHUP: reloaded the node certificate and key; new connections present them"),
                    Err(e) => tracing::error!(error = %format!("{e:#}"), "SIGHUP: the node certificate was not reloaded; the node keeps the one it had"),
                }
            }
            changed = status.changed() => {
                // The sender lives in the runtime task: gone means the replica stopped.
                if changed.is_err() {
                    break StopReason::ReplicaStopped;
                }
            }
            _ = ticker.tick() => {
                sync_peers(&config, &reader, &transport);
                // Members admitted or removed, CAs rotated, lists replaced: new handshakes
                // are checked with the ledger's trust as of its last block.
                let epoch = reader.revocation_epoch();
                if epoch != trust_epoch {
                    transport.set_trust(reader.trust_store());
                    trust_epoch = epoch;
                    tracing::info!(epoch, "the network's trust changed; transport trust updated");
                }
                let report = StatusFile::new(
                    &config.node_id,
                    &status.borrow(),
                    reader.tip().height,
                    transport.stats(),
                    transport.peers().into_keys().collect(),
                );
                if let Err(e) = report.write(&status_path) {
                    tracing::warn!(error = %e, "cannot write {}", status_path.display());
                }
            }
        }
    };
    // As a string, so the log line reads as it always has (`reason="SIGTERM"`).
    tracing::info!(reason = stopped_by.as_str(), "shutting down");
    let _ = api_stop.send(true);
    if let Some(notifier) = notifier {
        notifier.stop().await;
    }
    if let Some(task) = api_task {
        // Connections finish their requests; waiting clients get `Stopped` from the runtime.
        let _ = tokio::time::timeout(Duration::from_millis(API_DRAIN_MS), task).await;
    }
    if let Some(task) = public_task {
        let _ = tokio::time::timeout(Duration::from_millis(API_DRAIN_MS), task).await;
    }
    for task in pint_tasks {
        let _ = tokio::time::timeout(Duration::from_millis(API_DRAIN_MS), task).await;
    }
    if let Some(task) = ops_task {
        let _ = tokio::time::timeout(Duration::from_millis(API_DRAIN_MS), task).await;
    }
    let _ = counter_task.await;
    // The runtime's task drops the replica, and with it the state, which flushes sled
    // (`Observed::drop`), before `shutdown` returns.
    let replica_result = handle.shutdown().await;
    transport.shutdown().await;
    replica_result.context("the replica stopped on a fatal error")?;
    if !stopped_by.requested() {
        bail!("the replica stopped unexpectedly");
    }
    tracing::info!("stopped cleanly");
    Ok(())
}

/// On a network with a platform code: the PINT outbox, and the PINT endpoints if the node
/// has `pintListen` (HTTPS with the node's certificate, no client certificate). Both stop when
/// `stop` turns true.
async fn start_pint(
    config: &NodeFileConfig,
    client: LedgerClient,
    stop: &watch::Sender<bool>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    if client.reader().platform().is_none() {
        if config.pint_listen.is_some() {
            tracing::warn!(
                "pintListen is set but the genesis names no platform: no PINT endpoints"
            );
        }
        return Ok(Vec::new());
    }
    let key_pem = std::fs::read_to_string(&config.private_key)
        .with_context(|| format!("read {}", config.private_key.display()))?;
    let chain_pem = std::fs::read_to_string(&config.certificate_chain)
        .with_context(|| format!("read {}", config.certificate_chain.display()))?;
    let node = Arc::new(crate::pint_node::PintNode::new(
        client,
        config.raft_id,
        &key_pem,
        &chain_pem,
        &config.data_dir,
    )?);
    let mut tasks = vec![tokio::spawn(crate::pint_node::run_outbox(
        node.clone(),
        stop.subscribe(),
    ))];
    if let Some(listen) = config.pint_listen {
        let credentials =
            NodeCredentials::from_pem_files(&config.certificate_chain, &config.private_key)
                .context("the PINT listener's certificate and key")?;
        let tls = graphql::public_tls_config(credentials.chain, credentials.key)
            .context("the PINT listener's TLS configuration")?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("bind the PINT endpoints to {listen}"))?;
        tracing::info!(pint = %format!("https://{}/v3", listener.local_addr()?), "PINT endpoints serving");
        let routes = adapters::pint::router(node);
        let shutdown = stop.subscribe();
        tasks.push(tokio::spawn(graphql::serve_routes(
            listener, tls, routes, shutdown,
        )));
    }
    Ok(tasks)
}

/// Starts the public verification page (`graphql::public`) on `listen` with the configured
/// public certificate (the node's own by default); it stops when `stop` turns true.
async fn start_public(
    config: &NodeFileConfig,
    listen: std::net::SocketAddr,
    reader: LedgerReader,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let (chain, key) = match (&config.public_certificate_chain, &config.public_private_key) {
        (Some(chain), Some(key)) => (chain, key),
        _ => (&config.certificate_chain, &config.private_key),
    };
    let credentials = NodeCredentials::from_pem_files(chain, key)
        .context("the public listener's certificate and key")?;
    let tls = graphql::public_tls_config(credentials.chain, credentials.key)
        .context("the public listener's TLS configuration")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("bind the public listener to {listen}"))?;
    let base_url = config
        .verify_base_url()
        .unwrap_or_else(|| format!("https://{listen}"));
    tracing::info!(
        verify = %format!("https://{}/verify", listener.local_addr()?),
        base = %base_url,
        "public verification page serving"
    );
    Ok(tokio::spawn(async move {
        if let Err(e) = graphql::serve_public(listener, tls, reader, &base_url, stop).await {
            tracing::error!(error = %e, "the public verification page stopped");
        }
    }))
}

/// Reads the node certificate and key again from the configured files (a member renewed it:
/// the same node id, a new validity or key) and presents them on every new connection, of the
/// transport and of the API; refused, and nothing changes, if the transport would not accept
/// the chain as this node's now (another node id, not yet valid or expired, revoked, a foreign
/// CA) or the key is not its leaf's. Returns the new certificate's end of validity.
fn reload_certificate(
    config: &NodeFileConfig,
    transport: &TlsTransport,
    api: &pki::tls::SharedCertificate,
    certificates: &std::sync::RwLock<Vec<CertificateValidity>>,
) -> anyhow::Result<i64> {
    let credentials =
        NodeCredentials::from_pem_files(&config.certificate_chain, &config.private_key)
            .context("read the node certificate and key")?;
    let validity = CertificateValidity::of_pem_file("node", &config.certificate_chain)?;
    transport
        .set_credentials(&credentials)
        .context("the transport refused the certificate")?;
    let certified = pki::tls::certified_key(credentials.chain, credentials.key)
        .context("the API refused the certificate")?;
    *api.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = certified;
    let mut all = certificates
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    all.retain(|c| c.kind != "node");
    all.insert(0, validity.clone());
    Ok(validity.not_after)
}

/// The validity of every certificate this node presents: its node certificate (transport and
/// API) and, with a public listener, the verification page's.
fn certificate_validities(config: &NodeFileConfig) -> anyhow::Result<Vec<CertificateValidity>> {
    let mut all = vec![CertificateValidity::of_pem_file(
        "node",
        &config.certificate_chain,
    )?];
    if config.public_listen.is_some() {
        let chain = config
            .public_certificate_chain
            .as_ref()
            .unwrap_or(&config.certificate_chain);
        all.push(CertificateValidity::of_pem_file("public", chain)?);
    }
    Ok(all)
}

/// Whether this node joins an existing network (its raft id is not a genesis node). A joining
/// node must name at least one peer to be reached from.
fn check_against_genesis(config: &NodeFileConfig, genesis: &Genesis) -> anyhow::Result<bool> {
    let joining = !genesis.nodes.iter().any(|n| n.id == config.raft_id);
    if joining && config.peers.is_empty() {
        bail!(
            "raftId {} is not a node of the genesis, so it joins an existing network: its configuration must name peers",
            config.raft_id
        );
    }
    Ok(joining)
}

/// The transport's peers as the ledger's node set makes them: none once this node is removed;
/// otherwise every node that is not removed, except this one, pinned to its member's CA; a genesis node's id and address come from the
/// configuration file's `peers` (the genesis pins a node by certificate hash, not by id), so a
/// genesis node that file does not name is left out. A peer of the file that the ledger does
/// not know yet (a node added after the block this node has applied) is kept, so that a
/// joining node hears from whoever leads.
fn desired_peers(
    config: &NodeFileConfig,
    reader: &LedgerReader,
) -> anyhow::Result<BTreeMap<u64, PeerAddress>> {
    let node_id = |s: &str| NodeId::new(s).map_err(anyhow::Error::msg);
    let nodes = reader.nodes();
    let mut peers = BTreeMap::new();
    if nodes
        .iter()
        .any(|n| n.raft_id == config.raft_id && n.role == NodeRole::Removed)
    {
        // Removed by governance: this node takes no further part, and stops dialing peers
        // that refuse it anyway.
        return Ok(peers);
    }
    for (id, p) in &config.peers {
        if !nodes.iter().any(|n| n.raft_id == *id) {
            peers.insert(
                *id,
                PeerAddress {
                    node_id: node_id(&p.node_id)?,
                    member: None,
                    addr: p.address.clone(),
                },
            );
        }
    }
    for n in nodes {
        if n.role == NodeRole::Removed || n.raft_id == config.raft_id {
            continue;
        }
        let member = Some(MemberCode::new(n.member.as_str()).map_err(anyhow::Error::msg)?);
        let peer = match (&n.node_id, config.peers.get(&n.raft_id)) {
            (Some(id), _) => PeerAddress {
                node_id: node_id(id)?,
                member,
                // Checked when the ADD_NODE applied.
                addr: n.address.clone(),
            },
            (None, Some(p)) => PeerAddress {
                node_id: node_id(&p.node_id)?,
                member,
                addr: p.address.clone(),
            },
            (None, None) => continue,
        };
        peers.insert(n.raft_id, peer);
    }
    Ok(peers)
}

/// Gives the transport the peers the applied node set prescribes, when they changed.
fn sync_peers(config: &NodeFileConfig, reader: &LedgerReader, transport: &TlsTransport) {
    let peers = match desired_peers(config, reader) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cannot derive the transport's peers from the node set");
            return;
        }
    };
    if peers == transport.peers() {
        return;
    }
    let ids: Vec<u64> = peers.keys().copied().collect();
    if ids.is_empty() {
        tracing::warn!(
            "this node was removed from the network by governance: it no longer talks to peers"
        );
    }
    match transport.set_peers(peers) {
        Ok(()) => {
            tracing::info!(peers = ?ids, "the network's nodes changed; transport peers updated")
        }
        Err(e) => tracing::warn!(error = %e, "the node set gives peers the transport refuses"),
    }
}

/// Opens the Raft log; a new one is bootstrapped with the genesis' nodes as founding voters,
/// unless this node joins an existing network (then the leader's snapshot initializes it).
fn open_log(config: &NodeFileConfig, genesis: &Genesis, joining: bool) -> anyhow::Result<LogStore> {
    let path = config.data_dir.join(RAFT_LOG_FILE);
    let log = RedbLog::open(&path).with_context(|| format!("open {}", path.display()))?;
    let mut store = LogStore::open(Box::new(log)).context("read the Raft log")?;
    if store.is_initialized() {
        tracing::info!(
            last_index = store.core().last_index(),
            "reopened the Raft log"
        );
        return Ok(store);
    }
    if joining {
        tracing::info!(
            raft_id = config.raft_id,
            "not a genesis node: joining, waiting for the leader's snapshot"
        );
        return Ok(store);
    }
    // The genesis snapshot is computed on a scratch state so that the real one starts empty and
    // is restored from the snapshot by `Replica::open`, the same path as a crash right after
    // bootstrapping.
    let mut voters: Vec<u64> = genesis.nodes.iter().map(|n| n.id).collect();
    voters.sort_unstable();
    let scratch = config.data_dir.join(GENESIS_SCRATCH_DIR);
    remove_dir_if_present(&scratch)?;
    {
        let founding = LedgerState::open(&scratch, genesis).context("genesis state")?;
        Replica::bootstrap(&mut store, founding, &voters).context("bootstrap the Raft log")?;
    }
    remove_dir_if_present(&scratch)?;
    tracing::info!(?voters, "bootstrapped a new replica from genesis");
    Ok(store)
}

fn remove_dir_if_present(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

fn transport_config(
    config: &NodeFileConfig,
    reader: &LedgerReader,
    trust: TrustStore,
    genesis_hash: [u8; 32],
    streams: Arc<dyn SnapshotStreams>,
) -> anyhow::Result<TransportConfig> {
    let node_id = |s: &str| NodeId::new(s).map_err(anyhow::Error::msg);
    let peers = desired_peers(config, reader)?;
    Ok(TransportConfig {
        raft_id: config.raft_id,
        node_id: node_id(&config.node_id)?,
        listen: config.listen,
        peers,
        trust,
        credentials: NodeCredentials::from_pem_files(
            &config.certificate_chain,
            &config.private_key,
        )?,
        genesis_hash,
        peer_queue_messages_max: PEER_QUEUE_MESSAGES_MAX,
        streams: Some(streams),
    })
}

/// The ledger state as the replica's state machine, flushing sled when the replica drops it.
struct Observed {
    state: LedgerState,
}

impl StateMachine for Observed {
    type Output = <LedgerState as StateMachine>::Output;

    fn apply(&mut self, entry: CommittedEntry<'_>) -> Result<Self::Output, StateMachineError> {
        self.state.apply(entry)
    }

    fn snapshot(&self) -> Result<StateSnapshot, StateMachineError> {
        self.state.snapshot()
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), StateMachineError> {
        self.state.restore(snapshot)
    }

    fn can_restore(&self, data: &[u8]) -> bool {
        StateMachine::can_restore(&self.state, data)
    }

    fn open_backup(
        &self,
    ) -> Result<Option<Box<dyn replication::stream::ChunkReader>>, StateMachineError> {
        StateMachine::open_backup(&self.state)
    }

    fn applied_index(&self) -> LogIndex {
        StateMachine::applied_index(&self.state)
    }

    fn state_hash(&self) -> StateHash {
        StateMachine::state_hash(&self.state)
    }

    fn attestation(&self) -> Attestation {
        StateMachine::attestation(&self.state)
    }

    fn membership(&self) -> Option<Membership> {
        StateMachine::membership(&self.state)
    }

    fn is_durable(&self) -> bool {
        self.state.is_durable()
    }

    fn sync(&mut self) -> Result<(), StateMachineError> {
        self.state.sync()
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        // The log is compacted only behind a synced state, so a state behind the Raft log is
        // caught up by replay and a lost flush loses nothing; flushing still makes a clean
        // restart replay nothing.
        match self.state.flush() {
            Ok(()) => tracing::info!("ledger state flushed"),
            Err(e) => tracing::error!(error = %e, "ledger state flush failed"),
        }
    }
}

/// What `status.json` holds: the node as the runtime and the transport see it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusFile {
    /// The node id.
    id: String,
    raft_id: u64,
    /// The writing process: a reader can tell a fresh status from a dead process's last one.
    pid: u32,
    /// `leader`, `follower`, `candidate` or `pre-candidate`.
    role: &'static str,
    leader_id: u64,
    term: u64,
    commit_index: LogIndex,
    applied_index: LogIndex,
    block_height: u64,
    /// The state machine's hash (chain state hash and applied index), lowercase hex.
    state_hash: String,
    /// Local snapshots taken since the process started.
    snapshots_taken: u64,
    /// Of those, the ones that record only their position: the ledger state is on disk, so
    /// compaction serialized nothing.
    snapshots_without_state: u64,
    /// Snapshots received from a leader and restored since the process started.
    snapshots_restored: u64,
    /// Raft's voters as this node last applied them, by raft id.
    voters: Vec<u64>,
    /// Raft's learners as this node last applied them, by raft id.
    learners: Vec<u64>,
    /// Whether this node is among the voters.
    voter: bool,
    /// The transport's current peers, by raft id (the applied node set, minus this node).
    peers: Vec<u64>,
    transport: TransportStatus,
}

/// The transport counters a test or an operator looks at first.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TransportStatus {
    sent: u64,
    received: u64,
    connections_outbound: u64,
    connections_inbound: u64,
    refused_certificate: u64,
    refused_identity: u64,
    refused_genesis: u64,
    /// Inbound connections that failed before being established, refusals included.
    handshakes_failed: u64,
    /// Connections closed for a truncated, oversized or undecodable frame.
    closed_bad_frame: u64,
    /// Connections closed for a part frame over their peer's partial-message budget.
    closed_over_budget: u64,
    /// Inbound connections closed because a newer one of the same peer replaced them.
    closed_replaced: u64,
    /// Bytes of partial messages (snapshots in parts) held now, all peers together.
    buffered_bytes: u64,
    /// Messages dropped from a full peer queue (the oldest go) and from a full inbound channel
    /// (the runtime behind): Raft retransmits what matters, but not a forwarded proposal.
    dropped_queue_full: u64,
    dropped_inbound_full: u64,
}

impl StatusFile {
    fn new(
        node_id: &str,
        status: &ReplicaStatus,
        block_height: u64,
        t: TransportStats,
        peers: Vec<u64>,
    ) -> StatusFile {
        StatusFile {
            id: node_id.to_owned(),
            raft_id: status.id,
            pid: std::process::id(),
            role: match status.role {
                StateRole::Leader => "leader",
                StateRole::Follower => "follower",
                StateRole::Candidate => "candidate",
                StateRole::PreCandidate => "pre-candidate",
            },
            leader_id: status.leader_id,
            term: status.term,
            commit_index: status.commit_index,
            applied_index: status.applied_index,
            block_height,
            state_hash: hex::encode(status.state_hash),
            snapshots_taken: status.snapshots_taken,
            snapshots_without_state: status.snapshots_without_state,
            snapshots_restored: status.snapshots_restored,
            voters: status.voters.clone(),
            learners: status.learners.clone(),
            voter: status.voters.contains(&status.id),
            peers,
            transport: TransportStatus {
                sent: t.sent,
                received: t.received,
                connections_outbound: t.connections_outbound,
                connections_inbound: t.connections_inbound,
                refused_certificate: t.refused_certificate,
                refused_identity: t.refused_identity,
                refused_genesis: t.refused_genesis,
                handshakes_failed: t.handshakes_failed,
                closed_bad_frame: t.closed_bad_frame,
                closed_over_budget: t.closed_over_budget,
                closed_replaced: t.closed_replaced,
                buffered_bytes: t.buffered_bytes,
                dropped_queue_full: t.dropped_queue_full,
                dropped_inbound_full: t.dropped_inbound_full,
            },
        }
    }

    /// Writes a temporary file and renames it over `path`: a reader sees the old or the new
    /// status, never half of one.
    fn write(&self, path: &Path) -> anyhow::Result<()> {
        let mut tmp = PathBuf::from(path);
        tmp.set_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{StopReason, storage_full};

    #[test]
    fn stop_reasons_read_as_before_and_only_signals_are_requested() {
        let all = [
            StopReason::Sigterm,
            StopReason::Sigint,
            StopReason::ReplicaStopped,
        ];
        let texts: Vec<String> = all.iter().map(ToString::to_string).collect();
        assert_eq!(texts, ["SIGTERM", "SIGINT", "replica stopped"]);
        for reason in all {
            assert_eq!(reason.as_str(), reason.to_string());
        }
        let requested: Vec<bool> = all.iter().map(|r| r.requested()).collect();
        assert_eq!(requested, [true, true, false]);
    }

    #[test]
    fn a_full_file_system_is_told_apart_from_other_storage_failures() {
        let enospc = anyhow::Error::from(std::io::Error::from_raw_os_error(28))
            .context("append to the raft log");
        assert!(storage_full(&enospc));
        // sled and redb report some I/O errors as text only.
        let text =
            anyhow::anyhow!("state machine storage: Io(No space left on device (os error 28))");
        assert!(storage_full(&text));
        let other = anyhow::Error::from(std::io::Error::from_raw_os_error(5)).context("read");
        assert!(!storage_full(&other));
    }
}
