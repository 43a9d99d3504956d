//! The operations listener (`opsListen` in a node's configuration): plain HTTP for the
//! operator's scraper and tools, on a loopback or private address.
//!
//! ```text
//! GET  /metrics   Prometheus metrics (OpenMetrics text, through `prometheus-client`)
//! GET  /livez     200 while the process runs and its data directory takes a write + fsync
//! GET  /readyz    200 when a leader is known, the applied index is within
//!                 `ledger::client::APPLY_LAG_ENTRIES_MAX` of the commit index and the node's
//!                 certificates are valid now; else 503 naming every failing check
//! GET  /version   the binary's version, the node and its network, as JSON
//! POST /backup    a consistent backup of the ledger state at one applied index (`backup.rs`)
//! ```
//!
//! What it is not: an API. It has no TLS and authenticates no one (as etcd's and CockroachDB's
//! metrics ports), so a configuration puts it where only the operator reaches it; `dev up` puts
//! it on 127.0.0.1, a production configuration has none unless asked (`member node-config
//! --ops`). It reads what the node already knows, at each request: the replica's status, the
//! transport's and the API's counters, the replica's timings (`replication::metrics`) and the
//! committed blocks' outcomes, counted by [`TxCounter`] off the apply path. No label ever names
//! a document or a party; refusal codes are the only label with more than a few values, and
//! they are the ledger's fixed set of rule codes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ledger::LedgerReader;
use ledger::client::APPLY_LAG_ENTRIES_MAX;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use replication::metrics::{HistogramSnapshot, ReplicaMetrics};
use replication::runtime::ReplicaStatus;
use replication::transport::TlsTransport;
use tokio::sync::{Semaphore, watch};

/// Requests the listener serves at once; more are answered 503 at once. A scraper sends one at
/// a time, and a backup holds a slot for as long as it streams.
pub const OPS_CONCURRENT_REQUESTS_MAX: usize = 8;

/// Longest a request may take, a backup excepted (it streams the whole state): a scrape or a
/// probe that takes longer is a symptom, and its connection should not linger.
pub const OPS_REQUEST_TIMEOUT_MS: u64 = 10_000;

/// Bytes of a request body the listener reads: no route takes a body.
pub const OPS_REQUEST_BODY_BYTES_MAX: usize = 1024;

/// The probe `/livez` writes and syncs in the data directory.
const LIVENESS_PROBE_FILE: &str = "ops-probe";

/// What the operations listener reads. Built once by `run`, shared by every request.
pub struct OpsContext {
    /// The node id (`node1`, ...).
    pub node_id: String,
    /// The network id of the genesis.
    pub network_id: String,
    /// The genesis hash, lowercase hex.
    pub genesis_hash: String,
    /// The data directory (the liveness probe's, the state's size).
    pub data_dir: PathBuf,
    /// The ledger state's directory inside it.
    pub state_dir: PathBuf,
    pub status: watch::Receiver<ReplicaStatus>,
    pub transport: TlsTransport,
    pub replica: Arc<ReplicaMetrics>,
    pub api: Arc<graphql::ApiMetrics>,
    pub transactions: Arc<TxCounter>,
    /// The certificates this node presents, by kind (`node`, `public`), with their validity:
    /// replaced when they are reloaded (SIGHUP).
    pub certificates: Arc<RwLock<Vec<CertificateValidity>>>,
    /// Backups: how a request reaches the replica's thread (`backup.rs`).
    pub backups: Option<crate::backup::BackupSource>,
}

/// A certificate's validity, in Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateValidity {
    /// `node` (the transport's and API's), `public` (the verification page's).
    pub kind: &'static str,
    pub not_before: i64,
    pub not_after: i64,
}

impl CertificateValidity {
    /// The validity of the leaf (the first certificate) of the PEM chain in `path`.
    pub fn of_pem_file(kind: &'static str, path: &Path) -> anyhow::Result<CertificateValidity> {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("read the {kind} certificate {}", path.display()))?;
        let ders = pki::pem::certificates(&pem).map_err(anyhow::Error::msg)?;
        let leaf = ders
            .first()
            .with_context(|| format!("no certificate in {}", path.display()))?;
        let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
            .map_err(|e| anyhow::anyhow!("parse {}: {e}", path.display()))?;
        Ok(CertificateValidity {
            kind,
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        })
    }
}

/// Committed and refused transactions, counted from the applied blocks by a task that follows
/// the chain (never inside apply): per block, one lock to add its refusals by code.
#[derive(Debug, Default)]
pub struct TxCounter {
    committed: AtomicU64,
    refused: Mutex<BTreeMap<String, u64>>,
    /// The last block counted.
    height: AtomicU64,
}

impl TxCounter {
    /// Counts the outcomes of `block`.
    pub fn count(&self, block: &ledger::Block) {
        let mut committed = 0;
        let mut refused: BTreeMap<&str, u64> = BTreeMap::new();
        for tx in &block.transactions {
            match &tx.outcome {
                ledger::Outcome::Committed { .. } => committed += 1,
                ledger::Outcome::Refused { code, .. } => {
                    *refused.entry(code.as_str()).or_default() += 1
                }
            }
        }
        self.committed.fetch_add(committed, Ordering::Relaxed);
        if !refused.is_empty() {
            let mut all = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
            for (code, n) in refused {
                *all.entry(code.to_owned()).or_default() += n;
            }
        }
        self.height.store(block.header.height, Ordering::Relaxed);
    }

    /// Follows the chain from the block after `reader`'s tip as of now, until `stop` turns
    /// true. The broadcast of blocks only wakes it; blocks are read by height from the store,
    /// so a follower that fell behind the broadcast misses none.
    pub async fn follow(self: Arc<Self>, reader: LedgerReader, mut stop: watch::Receiver<bool>) {
        let mut blocks = reader.subscribe_blocks();
        self.height.store(reader.tip().height, Ordering::Relaxed);
        loop {
            tokio::select! {
                received = blocks.recv() => {
                    if let Err(tokio::sync::broadcast::error::RecvError::Closed) = received {
                        return;
                    }
                }
                _ = stop.changed() => return,
            }
            let tip = reader.tip().height;
            let mut next = self.height.load(Ordering::Relaxed) + 1;
            while next <= tip {
                match reader.block(next) {
                    Ok(Some(block)) => self.count(&block),
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, height = next, "cannot read a block to count its transactions");
                        break;
                    }
                }
                next += 1;
            }
        }
    }
}

/// Serves the operations listener on `listener` until `stop` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    context: Arc<OpsContext>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let slots = Arc::new(Semaphore::new(OPS_CONCURRENT_REQUESTS_MAX));
    let app = router(context).layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let slots = slots.clone();
            async move {
                let Ok(_slot) = slots.try_acquire_owned() else {
                    return plain(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(
                            "busy: {OPS_CONCURRENT_REQUESTS_MAX} requests already in progress\n"
                        ),
                    );
                };
                let is_backup = request.uri().path() == "/backup";
                let answer = next.run(request);
                if is_backup {
                    // The slot is held while the handler prepares the backup; its body streams
                    // after (bounded by the backup's own limits).
                    return answer.await;
                }
                match tokio::time::timeout(Duration::from_millis(OPS_REQUEST_TIMEOUT_MS), answer)
                    .await
                {
                    Ok(response) => response,
                    Err(_) => plain(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("no answer within {OPS_REQUEST_TIMEOUT_MS} ms\n"),
                    ),
                }
            }
        },
    ));
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
        .context("the operations listener")
}

fn router(context: Arc<OpsContext>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/version", get(version))
        .route("/backup", post(crate::backup::serve_backup))
        .layer(axum::extract::DefaultBodyLimit::max(
            OPS_REQUEST_BODY_BYTES_MAX,
        ))
        .with_state(context)
}

fn plain(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn metrics(State(context): State<Arc<OpsContext>>) -> Response {
    let state_bytes = {
        let dir = context.state_dir.clone();
        tokio::task::spawn_blocking(move || dir_bytes(&dir))
            .await
            .unwrap_or(0)
    };
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Collector {
        context: context.clone(),
        state_bytes,
        now_s: now_s(),
    }));
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the metrics: {e}\n"),
        ),
    }
}

async fn livez(State(context): State<Arc<OpsContext>>) -> Response {
    let mut failing = Vec::new();
    if context.status.has_changed().is_err() {
        failing.push("replica: the replica's thread has stopped".to_owned());
    }
    let probe = context.data_dir.join(LIVENESS_PROBE_FILE);
    match tokio::task::spawn_blocking(move || write_probe(&probe)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => failing.push(format!("storage: the data directory takes no write: {e:#}")),
        Err(e) => failing.push(format!("storage: the probe did not finish: {e}")),
    }
    health("alive", failing)
}

/// Writes, syncs and removes a small file: a full disk, a read-only remount or a lost volume
/// fail here.
fn write_probe(path: &Path) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::File::create(path).context("create the probe")?;
    file.write_all(&now_s().to_be_bytes())
        .context("write the probe")?;
    file.sync_all().context("fsync the probe")?;
    drop(file);
    std::fs::remove_file(path).context("remove the probe")
}

async fn readyz(State(context): State<Arc<OpsContext>>) -> Response {
    let status = context.status.borrow().clone();
    let certificates = context
        .certificates
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    health(
        "ready",
        readiness(
            &status,
            &certificates,
            now_s(),
            context.status.has_changed().is_err(),
        ),
    )
}

/// The failing readiness checks (none: ready), each a line that names its check.
pub fn readiness(
    status: &ReplicaStatus,
    certificates: &[CertificateValidity],
    now_s: i64,
    stopped: bool,
) -> Vec<String> {
    let mut failing = Vec::new();
    if stopped {
        failing.push("replica: the replica's thread has stopped".to_owned());
    }
    if status.leader_id == 0 {
        failing.push(format!("leader: no leader known in term {}", status.term));
    }
    let lag = status.apply_lag();
    if lag > APPLY_LAG_ENTRIES_MAX {
        failing.push(format!(
            "applied: {lag} committed entries not applied yet (at most {APPLY_LAG_ENTRIES_MAX})"
        ));
    }
    for c in certificates {
        if now_s < c.not_before {
            failing.push(format!(
                "certificates: the {} certificate is valid only from {} (Unix seconds)",
                c.kind, c.not_before
            ));
        } else if now_s > c.not_after {
            failing.push(format!(
                "certificates: the {} certificate expired at {} (Unix seconds)",
                c.kind, c.not_after
            ));
        }
    }
    failing
}

fn health(what: &str, failing: Vec<String>) -> Response {
    if failing.is_empty() {
        plain(StatusCode::OK, format!("{what}\n"))
    } else {
        plain(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not {what}:\n{}\n", failing.join("\n")),
        )
    }
}

async fn version(State(context): State<Arc<OpsContext>>) -> Response {
    let body = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "node": context.node_id,
        "network": context.network_id,
        "genesisHash": context.genesis_hash,
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn now_s() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
}

/// Bytes of the regular files under `dir` (the sled state: a handful of files), 0 if unreadable.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Encodes every metric from the context, at the scrape.
#[derive(Debug)]
struct Collector {
    context: Arc<OpsContext>,
    state_bytes: u64,
    now_s: i64,
}

impl std::fmt::Debug for OpsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpsContext")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

/// `name` without `_total`: the encoder appends it to a counter's samples.
fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, MetricType::Counter)?)
}

fn histogram(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    h: &HistogramSnapshot,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(
        name,
        help,
        Some(&prometheus_client::registry::Unit::Seconds),
        MetricType::Histogram,
    )?;
    // The encoder adds the buckets up itself: it takes each bucket's own count.
    let mut below = 0;
    let per_bucket: Vec<(f64, u64)> = h
        .buckets
        .iter()
        .map(|&(bound, cumulative)| {
            let own = cumulative.saturating_sub(below);
            below = cumulative;
            (bound, own)
        })
        .collect();
    metric.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
        h.sum_seconds,
        h.count,
        &per_bucket,
        None,
    )
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl prometheus_client::collector::Collector for Collector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let c = &self.context;
        let status = c.status.borrow().clone();
        let transport = c.transport.stats();
        gauge(
            &mut e,
            "silkline_raft_has_leader",
            "1 when this node knows a leader, else 0.",
            i64::from(status.leader_id != 0),
        )?;
        gauge(
            &mut e,
            "silkline_raft_term",
            "The current Raft term.",
            as_i64(status.term),
        )?;
        counter(
            &mut e,
            "silkline_raft_leader_changes",
            "Times the known leader changed to another node.",
            ReplicaMetrics::get(&c.replica.leader_changes),
        )?;
        gauge(
            &mut e,
            "silkline_raft_commit_index",
            "The Raft commit index this node knows.",
            as_i64(status.commit_index),
        )?;
        gauge(
            &mut e,
            "silkline_raft_applied_index",
            "The last log index applied to the ledger state.",
            as_i64(status.applied_index),
        )?;
        gauge(
            &mut e,
            "silkline_raft_proposals_pending",
            "Client proposals waiting for their outcome on this node.",
            as_i64(status.proposals_pending as u64),
        )?;
        gauge(
            &mut e,
            "silkline_raft_apply_lag_entries",
            "Committed entries this node has still to apply, counting those the leader announced and this node has not received.",
            as_i64(status.apply_lag()),
        )?;
        gauge(
            &mut e,
            "silkline_raft_cluster_apply_lag_entries",
            "Committed entries the network's slowest live voter has still to apply, as this node knows it (its followers' reports as leader, the leader's word as follower); past ledger's CLUSTER_APPLY_LAG_ENTRIES_MAX every node refuses new transactions until it catches up.",
            as_i64(status.cluster_apply_lag),
        )?;
        gauge(
            &mut e,
            "silkline_raft_last_commit_wait_ms",
            "How long the last of this node's own proposals to be applied had waited from proposal to apply; past ledger's QUEUE_WAIT_MAX_MS the node refuses new transactions for a while.",
            as_i64(status.last_commit.map_or(0, |c| c.waited_ms)),
        )?;
        histogram(
            &mut e,
            "silkline_storage_fsync",
            "Durable writes of the Raft log (one fdatasync each).",
            &c.replica.fsync.snapshot(),
        )?;
        histogram(
            &mut e,
            "silkline_block_apply",
            "Applying one committed entry (a block) to the ledger state.",
            &c.replica.apply.snapshot(),
        )?;
        counter(
            &mut e,
            "silkline_tx_committed",
            "Transactions committed in the blocks this node applied since it started.",
            c.transactions.committed.load(Ordering::Relaxed),
        )?;
        {
            let refused = c
                .transactions
                .refused
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let mut family = e.encode_descriptor(
                "silkline_tx_refused",
                "Transactions refused in the blocks this node applied since it started, by rule code.",
                None,
                MetricType::Counter,
            )?;
            for (code, n) in &refused {
                let labels = [("code", code.as_str())];
                ConstCounter::new(*n).encode(family.encode_family(&labels)?)?;
            }
        }
        counter(
            &mut e,
            "silkline_api_requests",
            "GraphQL requests this node's API ran.",
            c.api.requests(),
        )?;
        counter(
            &mut e,
            "silkline_transport_dropped",
            "Raft messages dropped: a full peer queue, a full inbound channel, an unknown peer, oversized.",
            transport.dropped_queue_full
                + transport.dropped_inbound_full
                + transport.dropped_unknown_peer
                + transport.dropped_oversized,
        )?;
        counter(
            &mut e,
            "silkline_snapshot_sent",
            "Snapshots this node sent to peers.",
            ReplicaMetrics::get(&c.replica.snapshots_sent),
        )?;
        gauge(
            &mut e,
            "silkline_state_bytes",
            "Bytes of the ledger state's files on disk.",
            as_i64(self.state_bytes),
        )?;
        {
            let certificates = c
                .certificates
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let mut family = e.encode_descriptor(
                "silkline_certificate_expiry_timestamp",
                "When each certificate this node presents expires, by kind.",
                Some(&prometheus_client::registry::Unit::Seconds),
                MetricType::Gauge,
            )?;
            for cert in &certificates {
                let labels = [("kind", cert.kind)];
                ConstGauge::new(cert.not_after).encode(family.encode_family(&labels)?)?;
            }
        }
        {
            let mut family = e.encode_descriptor(
                "silkline_build_info",
                "The binary's version (always 1).",
                None,
                MetricType::Gauge,
            )?;
            let labels = [("version", env!("CARGO_PKG_VERSION"))];
            ConstGauge::new(1i64).encode(family.encode_family(&labels)?)?;
        }
        gauge(
            &mut e,
            "silkline_scrape_timestamp_seconds",
            "When this scrape was answered (Unix seconds).",
            self.now_s,
        )?;
        Ok(())
    }
}

/// The address the listener is bound to, for the log line.
pub fn url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(kind: &'static str, not_before: i64, not_after: i64) -> CertificateValidity {
        CertificateValidity {
            kind,
            not_before,
            not_after,
        }
    }

    #[test]
    fn a_histogram_is_encoded_with_cumulative_buckets_ending_at_its_count() {
        #[derive(Debug)]
        struct One(HistogramSnapshot);
        impl prometheus_client::collector::Collector for One {
            fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
                histogram(&mut e, "silkline_test", "A test.", &self.0)
            }
        }
        let h = replication::metrics::DurationHistogram::default();
        for ms in [3, 3, 40, 20_000] {
            h.observe(Duration::from_millis(ms));
        }
        let mut registry = Registry::default();
        registry.register_collector(Box::new(One(h.snapshot())));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("silkline_test_seconds_count 4\n"), "{text}");
        assert!(
            text.contains("silkline_test_seconds_bucket{le=\"0.001\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("silkline_test_seconds_bucket{le=\"0.005\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("silkline_test_seconds_bucket{le=\"0.05\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("silkline_test_seconds_bucket{le=\"10.0\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("silkline_test_seconds_bucket{le=\"+Inf\"} 4\n"),
            "{text}"
        );
    }

    #[test]
    fn ready_needs_a_leader_an_applied_index_near_commit_and_valid_certificates() {
        let ok = ReplicaStatus {
            leader_id: 2,
            term: 3,
            commit_index: 1_000,
            applied_index: 1_000 - APPLY_LAG_ENTRIES_MAX,
            ..ReplicaStatus::default()
        };
        let certs = [cert("node", 10, 1_000), cert("public", 10, 2_000)];
        assert!(readiness(&ok, &certs, 500, false).is_empty());

        let no_leader = ReplicaStatus {
            leader_id: 0,
            ..ok.clone()
        };
        let failing = readiness(&no_leader, &certs, 500, false);
        assert_eq!(failing.len(), 1);
        assert!(failing[0].starts_with("leader: "), "{failing:?}");

        let lagging = ReplicaStatus {
            applied_index: 1_000 - APPLY_LAG_ENTRIES_MAX - 1,
            ..ok.clone()
        };
        let failing = readiness(&lagging, &certs, 500, false);
        assert_eq!(failing.len(), 1);
        assert!(failing[0].starts_with("applied: "), "{failing:?}");

        let failing = readiness(&ok, &certs, 1_500, false);
        assert_eq!(failing.len(), 1);
        assert!(
            failing[0].contains("node certificate expired"),
            "{failing:?}"
        );
        let failing = readiness(&ok, &certs, 5, false);
        assert_eq!(failing.len(), 2, "{failing:?}");

        let failing = readiness(&no_leader, &certs, 1_500, true);
        assert_eq!(failing.len(), 3, "{failing:?}");
        assert!(failing[0].starts_with("replica: "), "{failing:?}");
    }
}
