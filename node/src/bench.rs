//! `silkline bench`: confirmed transactions per second through the public GraphQL API.
//!
//! Every transaction is signed before the clock starts. Workers (`--concurrency`) take batches
//! (`--batch` envelopes per `submitTransactions`) from a shared queue and spread them over the
//! network's nodes; a transaction counts as confirmed when the API answered `COMMITTED`, i.e.
//! once it was committed, applied and recorded in a block on the node that received it.
//! Workloads run in phases (a bill's second action needs its first), each phase timed as a
//! whole. The nodes' CPU time is read from /proc before and after.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::client::{ApiClient, Target, data};

/// Most bills one run may create: bounds the run's memory (all transactions are pre-signed).
const BILLS_MAX: usize = 200_000;
/// Most concurrent workers.
const CONCURRENCY_MAX: usize = 1024;

/// What the benchmark submits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// The carrier issues straight bills to the shipper: one transaction per bill.
    Issue,
    /// Title transfers: a to-order bill is issued to the shipper, endorsed to order to the
    /// bank, then endorsed to the consignee (three transactions per bill).
    Transfer,
    /// The full lifecycle of a to-order bill: issue, endorse to order, endorse, surrender for
    /// delivery, accept the surrender, release the cargo (six per bill).
    Lifecycle,
}

/// `silkline bench` arguments.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// A running network's `network.json` (`silkline dev up`).
    #[arg(long)]
    pub network: PathBuf,
    #[arg(long, value_enum, default_value_t = Workload::Issue)]
    pub workload: Workload,
    /// How many bills.
    #[arg(long, default_value_t = 2_000)]
    pub bills: usize,
    /// Requests in flight.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Envelopes per request.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Where to write the JSON report.
    #[arg(long, default_value = "bench.json")]
    pub out: PathBuf,
}

fn target(network: &Path, who: &str) -> Target {
    Target {
        network: Some(network.to_path_buf()),
        as_identity: Some(who.to_owned()),
        endpoint: Vec::new(),
        cert: None,
        key: None,
        ca: None,
    }
}

/// The fixture documents the workloads issue, compiled in: the binary runs from anywhere.
const STRAIGHT_BILL: &str = include_str!("../../fixtures/documents/straight-bill.json");
const TO_ORDER_BILL: &str = include_str!("../../fixtures/documents/to-order-bill.json");

/// The phases of signed envelopes, in order.
async fn presign(args: &BenchArgs, run: &str) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let net = &args.network;
    let signers = ["carrier", "shipper", "bank", "consignee"]
        .into_iter()
        .map(|who| Ok((who, ApiClient::new(&target(net, who))?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client = |who: &str| &signers.iter().find(|(w, _)| *w == who).expect("known").1;
    // DCSA references are at most 20 characters.
    let reference = |i: usize| format!("BN{run}{i:07}");
    let (document, steps): (&str, Vec<(&str, Value)>) = match args.workload {
        Workload::Issue => (
            STRAIGHT_BILL,
            vec![("carrier", json!({"action": "ISSUE", "issueTo": "SHIPPER"}))],
        ),
        Workload::Transfer | Workload::Lifecycle => {
            let mut steps = vec![
                ("carrier", json!({"action": "ISSUE", "issueTo": "SHIPPER"})),
                (
                    "shipper",
                    json!({"action": "ENDORSE_TO_ORDER", "to": "BANK"}),
                ),
                ("bank", json!({"action": "ENDORSE", "to": "CONSIGNEE"})),
            ];
            if args.workload == Workload::Lifecycle {
                steps.extend([
                    ("consignee", json!({"action": "SURRENDER_FOR_DELIVERY"})),
                    ("carrier", json!({"action": "ACCEPT_SURRENDER"})),
                    (
                        "carrier",
                        json!({"action": "RELEASE_CARGO", "port": "PORT"}),
                    ),
                ]);
            }
            (TO_ORDER_BILL, steps)
        }
    };
    let content: Value = serde_json::from_str(document)?;
    let mut phases = Vec::new();
    for (who, command) in steps {
        let c = client(who);
        let signer = c.signer()?;
        let network = c.network_id().await?;
        let mut envelopes = Vec::with_capacity(args.bills);
        for i in 0..args.bills {
            let mut command = command.clone();
            if command["action"] == "ISSUE" {
                let mut doc = content.clone();
                doc["transportDocumentReference"] = json!(reference(i));
                command["content"] = doc;
            }
            let body = json!({
                "document": {"carrier": "CARRIER", "reference": reference(i)},
                "command": command,
            });
            envelopes.push(c.sign_with(&signer, &network, body)?);
        }
        phases.push((
            command["action"].as_str().unwrap_or("?").to_owned(),
            envelopes,
        ));
    }
    Ok(phases)
}

/// CPU seconds (user + system) of the given processes so far.
fn cpu_seconds(pids: &[u32]) -> f64 {
    // Linux reports in clock ticks of 1/100 s (USER_HZ) on every architecture it runs on here.
    const TICKS_PER_SECOND: f64 = 100.0;
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            // Fields after the command name (which may hold spaces) in parentheses.
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split(' ').collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / TICKS_PER_SECOND)
        })
        .sum()
}

struct PhaseResult {
    name: String,
    transactions: usize,
    committed: u64,
    refused: u64,
    codes: Vec<String>,
    wall: Duration,
    latencies_ms: Vec<f64>,
}

async fn run_phase(
    args: &BenchArgs,
    endpoints: &[String],
    name: String,
    envelopes: Vec<String>,
    progress: Arc<AtomicU64>,
) -> anyhow::Result<PhaseResult> {
    let transactions = envelopes.len();
    let queue: VecDeque<Vec<String>> = envelopes
        .chunks(args.batch)
        .map(<[String]>::to_vec)
        .collect();
    let queue = Arc::new(Mutex::new(queue));
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..args.concurrency {
        let client = ApiClient::new(&target(&args.network, "carrier"))?
            .with_endpoints(vec![endpoints[w % endpoints.len()].clone()]);
        let queue = queue.clone();
        let progress = progress.clone();
        workers.spawn(async move {
            let mut latencies = Vec::new();
            let (mut committed, mut refused, mut codes) = (0u64, 0u64, Vec::new());
            loop {
                let Some(batch) = queue.lock().await.pop_front() else { break };
                let n = batch.len();
                let sent = Instant::now();
                let response = client
                    .graphql(
                        "mutation($e: [String!]!) { submitTransactions(envelopes: $e) { status code } }",
                        json!({ "e": batch }),
                    )
                    .await?;
                let ms = sent.elapsed().as_secs_f64() * 1000.0;
                for r in data(&response)?["submitTransactions"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    if r["status"] == "COMMITTED" {
                        committed += 1;
                    } else {
                        refused += 1;
                        if codes.len() < 8 {
                            codes.push(r["code"].as_str().unwrap_or("?").to_owned());
                        }
                    }
                }
                latencies.extend(std::iter::repeat_n(ms, n));
                progress.fetch_add(n as u64, Ordering::Relaxed);
            }
            anyhow::Ok((latencies, committed, refused, codes))
        });
    }
    let mut result = PhaseResult {
        name,
        transactions,
        committed: 0,
        refused: 0,
        codes: Vec::new(),
        wall: Duration::ZERO,
        latencies_ms: Vec::with_capacity(transactions),
    };
    while let Some(done) = workers.join_next().await {
        let (latencies, committed, refused, codes) = done??;
        result.latencies_ms.extend(latencies);
        result.committed += committed;
        result.refused += refused;
        result.codes.extend(codes);
    }
    result.wall = start.elapsed();
    Ok(result)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The largest peak resident set (`VmHWM`) among the given processes, in MiB: how much memory
/// the busiest node needed at most so far.
fn peak_rss_mib(pids: &[u32]) -> Option<f64> {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib / 1024.0)
        })
        .reduce(f64::max)
}

/// Runs the benchmark and prints the table; writes the JSON report.
pub async fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    if args.bills == 0 || args.bills > BILLS_MAX {
        bail!("--bills must be 1 to {BILLS_MAX}");
    }
    if args.concurrency == 0 || args.concurrency > CONCURRENCY_MAX {
        bail!("--concurrency must be 1 to {CONCURRENCY_MAX}");
    }
    if args.batch == 0 || args.batch > graphql::schema::SUBMIT_ENVELOPES_MAX {
        bail!(
            "--batch must be 1 to {}",
            graphql::schema::SUBMIT_ENVELOPES_MAX
        );
    }
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(&args.network)
            .with_context(|| format!("read {}", args.network.display()))?,
    )?;
    let nodes = file["nodes"].as_array().cloned().unwrap_or_default();
    let endpoints: Vec<String> = nodes
        .iter()
        .filter_map(|n| n["graphql"].as_str().map(str::to_owned))
        .collect();
    let pids: Vec<u32> = nodes
        .iter()
        .filter_map(|n| n["pid"].as_u64().and_then(|p| u32::try_from(p).ok()))
        .collect();
    if endpoints.is_empty() {
        bail!("{} lists no GraphQL endpoint", args.network.display());
    }
    let mut run = [0u8; 3];
    aws_lc_rs::rand::fill(&mut run).expect("the system's random source works");
    let run = hex::encode(run);
    eprintln!(
        "signing {:?} transactions for {} bills...",
        args.workload, args.bills
    );
    let phases = presign(args, &run).await?;
    let total: usize = phases.iter().map(|(_, p)| p.len()).sum();

    let progress = Arc::new(AtomicU64::new(0));
    let ticker = {
        let progress = progress.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let done = progress.load(Ordering::Relaxed);
                let width = 40usize;
                let filled = (done as usize * width) / total.max(1);
                eprint!(
                    "\r[{}{}] {done}/{total}",
                    "#".repeat(filled),
                    "-".repeat(width - filled)
                );
            }
        })
    };
    let cpu_before = cpu_seconds(&pids);
    let mut results = Vec::new();
    for (name, envelopes) in phases {
        results.push(run_phase(args, &endpoints, name, envelopes, progress.clone()).await?);
    }
    let cpu = cpu_seconds(&pids) - cpu_before;
    ticker.abort();
    eprintln!();

    let committed: u64 = results.iter().map(|r| r.committed).sum();
    let refused: u64 = results.iter().map(|r| r.refused).sum();
    let wall: f64 = results.iter().map(|r| r.wall.as_secs_f64()).sum();
    let mut all: Vec<f64> = results
        .iter()
        .flat_map(|r| r.latencies_ms.clone())
        .collect();
    all.sort_by(f64::total_cmp);
    let ctps = committed as f64 / wall.max(f64::EPSILON);
    println!(
        "{:<22} {:>8} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "phase", "txs", "committed", "refused", "CTPS", "p50 ms", "p99 ms", "max ms"
    );
    let mut phase_reports = Vec::new();
    for r in &mut results {
        r.latencies_ms.sort_by(f64::total_cmp);
        let phase_ctps = r.committed as f64 / r.wall.as_secs_f64().max(f64::EPSILON);
        let (p50, p99, max) = (
            percentile(&r.latencies_ms, 50.0),
            percentile(&r.latencies_ms, 99.0),
            r.latencies_ms.last().copied().unwrap_or(0.0),
        );
        println!(
            "{:<22} {:>8} {:>9} {:>8} {:>9.0} {:>9.1} {:>9.1} {:>9.1}",
            r.name, r.transactions, r.committed, r.refused, phase_ctps, p50, p99, max
        );
        phase_reports.push(json!({
            "phase": r.name, "transactions": r.transactions, "committed": r.committed,
            "refused": r.refused, "refusalCodes": r.codes, "wallSeconds": r.wall.as_secs_f64(),
            "ctps": phase_ctps, "latencyMs": {"p50": p50, "p99": p99, "max": max},
        }));
    }
    let (p50, p99, max) = (
        percentile(&all, 50.0),
        percentile(&all, 99.0),
        all.last().copied().unwrap_or(0.0),
    );
    println!(
        "{:<22} {:>8} {:>9} {:>8} {:>9.0} {:>9.1} {:>9.1} {:>9.1}",
        "all", total, committed, refused, ctps, p50, p99, max
    );
    let cpu_ms_per_tx = cpu * 1000.0 / (committed.max(1) as f64);
    println!(
        "nodes' CPU: {cpu:.1} s in all, {cpu_ms_per_tx:.3} ms per confirmed transaction; refused share {:.4}",
        refused as f64 / total.max(1) as f64
    );
    let peak_rss = peak_rss_mib(&pids);
    if let Some(mib) = peak_rss {
        println!("largest node peak memory (VmHWM): {mib:.0} MiB");
    }
    let report = json!({
        "workload": format!("{:?}", args.workload).to_lowercase(),
        "bills": args.bills, "transactions": total, "committed": committed, "refused": refused,
        "refusedShare": refused as f64 / total.max(1) as f64,
        "concurrency": args.concurrency, "batch": args.batch, "nodes": endpoints.len(),
        "wallSeconds": wall, "ctps": ctps,
        "latencyMs": {"p50": p50, "p99": p99, "max": max},
        "nodesCpuSeconds": cpu, "cpuMsPerTransaction": cpu_ms_per_tx,
        "nodePeakRssMiB": peak_rss,
        "phases": phase_reports,
    });
    std::fs::write(&args.out, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("write {}", args.out.display()))?;
    println!("report: {}", args.out.display());
    Ok(())
}
