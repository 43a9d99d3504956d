//! `silkline bench`: confirmed transactions per second through the public GraphQL API.
//!
//! Every transaction is signed before the clock starts. Requests (`--batch` envelopes per
//! `submitTransactions`) go out over `--concurrency` clients spread over the network's nodes; a
//! transaction counts as confirmed when the API answered `COMMITTED`, i.e. once it was
//! committed, applied and recorded in a block on the node that received it. Workloads run in
//! phases (a bill's second action needs its first), each phase timed as a whole. The nodes' CPU
//! time is read from /proc before and after.
//!
//! Two ways to pace the requests ([`Pace`]). Closed loop (the default): each client sends its
//! next request as soon as its last one is answered, which finds the peak. Open loop
//! (`--rate`): request `i` of a phase is due `i * batch / rate` seconds after the phase starts,
//! whatever the answers, which measures latency at a chosen load. A request that finds no
//! client free waits for one, and its latency still counts from when it was due: a slow answer
//! cannot hide the requests it held up (no coordinated omission).
//!
//! `--workload reads` ([`reads`]) measures queries instead, on a network that already holds
//! documents.

mod reads;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::client::{ApiClient, Target, data};

/// Most bills one run may create: bounds the run's memory (all transactions are pre-signed).
const BILLS_MAX: usize = 200_000;
/// Most concurrent workers.
const CONCURRENCY_MAX: usize = 1024;
/// Highest `--rate`: far above what any network of this code commits, so only a typo hits it
/// (an interval of a microsecond would schedule faster than the timer can wake).
const RATE_MAX: f64 = 1_000_000.0;

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
    /// Queries, no transactions: `document` (one bill by key) and `documents` (one page of the
    /// caller's documents), `--queries` of each, as the carrier on documents the network
    /// already holds (run an issue workload first). See `--queries` and `--seed`.
    Reads,
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
    /// Open loop: offer this many transactions per second (reads: queries per second), one
    /// request every `batch / rate` seconds from each phase's start, whatever the answers; at
    /// most `--concurrency` in flight, and a request that waits for a free one counts its
    /// latency from when it was due. Without it, closed loop: each of `--concurrency` clients
    /// sends its next request when its last one is answered.
    #[arg(long = "rate", value_name = "TX_PER_S")]
    pub rate_per_s: Option<f64>,
    /// Reads workload: how many queries of each kind.
    #[arg(long, default_value_t = 1_000)]
    pub queries: usize,
    /// Reads workload: the seed that picks which documents are read (the same seed on the
    /// same network reads the same documents).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
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
        Workload::Reads => bail!("the reads workload signs nothing"),
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

/// When requests are sent.
#[derive(Debug, Clone, Copy)]
enum Pace {
    /// Each client sends its next request as soon as its last one is answered.
    Closed,
    /// Request `i` is due `i * interval` after the start, whatever the answers.
    Open { interval: Duration },
}

impl Pace {
    /// The pace `--rate` asks for, with `per_request` transactions (or queries) per request.
    fn of(args: &BenchArgs, per_request: usize) -> Pace {
        match args.rate_per_s {
            None => Pace::Closed,
            Some(rate) => Pace::Open {
                interval: Duration::from_secs_f64(per_request as f64 / rate),
            },
        }
    }
}

/// What became of the requests of one [`drive`].
struct Driven<T> {
    /// Each request's answer with its latency, in the order of the requests.
    answers: Vec<(T, Duration)>,
    /// From the start to the last answer.
    wall: Duration,
    /// Requests that were due while every client was busy (open loop only): a share far above
    /// zero means `--concurrency` held the offered rate back.
    waited: usize,
}

/// Sends `requests` through `clients`, at most one request in flight per client, paced by
/// `pace`; `send` makes the request's future with the client it gets. Latency counts from when
/// a request was due (open loop) or sent (closed loop) to its answer. The first error stops the
/// run (the requests still in flight are dropped).
async fn drive<R, T, Fut>(
    clients: Vec<ApiClient>,
    requests: Vec<R>,
    pace: Pace,
    mut send: impl FnMut(Arc<ApiClient>, R) -> Fut,
) -> anyhow::Result<Driven<T>>
where
    T: Send + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    ensure!(!clients.is_empty(), "no client to send with");
    // The free clients: a client is taken for each request and given back with its answer, so
    // this queue never holds more than the clients there are.
    let (give_back, mut free) = mpsc::channel(clients.len());
    for client in clients {
        give_back.send(Arc::new(client)).await?;
    }
    let count = requests.len();
    let mut in_flight = tokio::task::JoinSet::new();
    let mut answers: Vec<Option<(T, Duration)>> = (0..count).map(|_| None).collect();
    let mut keep = |done: Result<anyhow::Result<(usize, T, Duration)>, tokio::task::JoinError>| {
        let (i, value, latency) = done??;
        answers[i] = Some((value, latency));
        anyhow::Ok(())
    };
    let start = Instant::now();
    let mut waited = 0;
    for (i, request) in requests.into_iter().enumerate() {
        let due = match pace {
            Pace::Closed => None,
            Pace::Open { interval } => Some(start + interval.mul_f64(i as f64)),
        };
        if let Some(due) = due {
            tokio::time::sleep_until(due).await;
        }
        let client = match free.try_recv() {
            Ok(client) => client,
            Err(_) => {
                waited += usize::from(due.is_some());
                free.recv().await.context("the client pool closed")?
            }
        };
        let from = due.unwrap_or_else(Instant::now);
        let request = send(client.clone(), request);
        let give_back = give_back.clone();
        in_flight.spawn(async move {
            let value = request.await;
            let latency = from.elapsed();
            // The pool outlives every request; a full pool would mean a client was given back
            // twice, which `drive` never does.
            let _ = give_back.send(client).await;
            value.map(|v| (i, v, latency))
        });
        // Finished requests are collected as the run goes, so their tasks do not pile up.
        while let Some(done) = in_flight.try_join_next() {
            keep(done)?;
        }
    }
    while let Some(done) = in_flight.join_next().await {
        keep(done)?;
    }
    let wall = start.elapsed();
    let answers = answers
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .context("a request was never answered")?;
    Ok(Driven {
        answers,
        wall,
        waited,
    })
}

/// One client per in-flight request, spread over `endpoints` in turn, as `who`.
fn clients(args: &BenchArgs, endpoints: &[String], who: &str) -> anyhow::Result<Vec<ApiClient>> {
    (0..args.concurrency)
        .map(|w| {
            Ok(ApiClient::new(&target(&args.network, who))?
                .with_endpoints(vec![endpoints[w % endpoints.len()].clone()]))
        })
        .collect()
}

struct PhaseResult {
    name: String,
    transactions: usize,
    requests: usize,
    committed: u64,
    refused: u64,
    codes: Vec<String>,
    /// Times a node refused a request at once for overload (`UNAVAILABLE` with a retry hint),
    /// each sent again after the hint.
    overloaded: u64,
    /// Times a node answered a request without an outcome (a transaction proposed but not
    /// applied within the node's wait; [`UNCONFIRMED_RESENDS_MAX`]), each sent again: every
    /// such request's latency counts the wait.
    unconfirmed: u64,
    wall: Duration,
    latencies_ms: Vec<f64>,
    /// Requests due while every client was busy (open loop).
    waited: usize,
    /// The same, by the node the requests went to.
    by_node: BTreeMap<String, NodeTally>,
}

/// One node's share of a phase's requests: which node's clients waited, and why.
#[derive(Default)]
struct NodeTally {
    requests: u64,
    overloaded: u64,
    unconfirmed: u64,
    /// What the node said when it answered without an outcome (the first few).
    unconfirmed_said: Vec<String>,
    /// Each request's latency (not each envelope's).
    latencies_ms: Vec<f64>,
}

/// How one `submitTransactions` was answered.
#[derive(Default)]
struct Tally {
    /// The endpoint the request was sent to (the bench gives each client one).
    node: String,
    envelopes: usize,
    committed: u64,
    refused: u64,
    /// The first few refusal codes, to say why.
    codes: Vec<String>,
    /// Times the request was refused for overload and sent again.
    overloaded: u64,
    /// Times the request was answered without an outcome and sent again.
    unconfirmed: u64,
    /// What the node said each time (the first few), to tell a lost proposal from a lost leader.
    unconfirmed_said: Vec<String>,
}

/// Most times one request is sent again after an overloaded node's retry hint: with hints of
/// 100-500 ms, about a minute, beyond which the run stops on the error as before.
const OVERLOAD_RETRIES_MAX: u64 = 200;

/// Most times one request is sent again after a node answered it without an outcome (some
/// envelope proposed but not applied within the node's `SUBMIT_WAIT_MS`: it may still commit).
/// Resending the same envelopes is what such an answer asks for: a committed one is answered
/// with its original outcome, and a copy of one still pending is refused `DUPLICATE` at apply,
/// so the answer is the first copy's record. Four resends are about a minute, beyond which the
/// run stops on the error as before.
const UNCONFIRMED_RESENDS_MAX: u64 = 4;

/// What an `UNAVAILABLE` answer asks of the client.
enum Unavailable {
    /// An overloaded node refused the request at once: nothing was proposed; come back after
    /// the hint (`extensions.retryAfterMs`).
    Overloaded(Duration),
    /// No outcome in time, or no leader: the same envelopes are sent again at once.
    NoOutcome,
}

/// Whether `response` is an `UNAVAILABLE` answer, and which kind.
fn unavailable(response: &serde_json::Value) -> Option<Unavailable> {
    let e = &response["errors"][0];
    if e["extensions"]["code"] != "UNAVAILABLE" {
        return None;
    }
    Some(match e["extensions"]["retryAfterMs"].as_u64() {
        Some(ms) => Unavailable::Overloaded(Duration::from_millis(ms)),
        None => Unavailable::NoOutcome,
    })
}

/// Most refusal codes a request keeps: enough to say why, without copying every refusal.
const CODES_KEPT: usize = 8;

/// Most answers without an outcome a request, and a node's tally, keep word for word.
const SAID_KEPT: usize = 4;

async fn run_phase(
    args: &BenchArgs,
    endpoints: &[String],
    name: String,
    envelopes: Vec<String>,
    progress: Arc<AtomicU64>,
) -> anyhow::Result<PhaseResult> {
    let transactions = envelopes.len();
    let batches: Vec<Vec<String>> = envelopes
        .chunks(args.batch)
        .map(<[String]>::to_vec)
        .collect();
    let requests = batches.len();
    let driven = drive(
        clients(args, endpoints, "carrier")?,
        batches,
        Pace::of(args, args.batch),
        |client, batch| {
            let progress = progress.clone();
            async move {
                let mut tally = Tally {
                    node: client.endpoints().first().cloned().unwrap_or_default(),
                    envelopes: batch.len(),
                    ..Tally::default()
                };
                // Back-pressure: a node over its bounds answers at once with when to come back;
                // the same envelopes are sent again then (resubmitting is idempotent).
                let response = loop {
                    let response = client
                        .graphql_resendable(
                            "mutation($e: [String!]!) { submitTransactions(envelopes: $e) { status code } }",
                            json!({ "e": batch }),
                        )
                        .await?;
                    match unavailable(&response) {
                        Some(Unavailable::Overloaded(pause))
                            if tally.overloaded < OVERLOAD_RETRIES_MAX =>
                        {
                            tally.overloaded += 1;
                            tokio::time::sleep(pause).await;
                        }
                        Some(Unavailable::NoOutcome)
                            if tally.unconfirmed < UNCONFIRMED_RESENDS_MAX =>
                        {
                            tally.unconfirmed += 1;
                            if tally.unconfirmed_said.len() < SAID_KEPT {
                                let said = response["errors"][0]["message"].as_str();
                                tally.unconfirmed_said.push(said.unwrap_or("?").to_owned());
                            }
                        }
                        _ => break response,
                    }
                };
                for r in data(&response)?["submitTransactions"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    if r["status"] == "COMMITTED" {
                        tally.committed += 1;
                    } else {
                        tally.refused += 1;
                        if tally.codes.len() < CODES_KEPT {
                            tally.codes.push(r["code"].as_str().unwrap_or("?").to_owned());
                        }
                    }
                }
                progress.fetch_add(tally.envelopes as u64, Ordering::Relaxed);
                anyhow::Ok(tally)
            }
        },
    )
    .await?;
    let mut result = PhaseResult {
        name,
        transactions,
        requests,
        committed: 0,
        refused: 0,
        codes: Vec::new(),
        overloaded: 0,
        unconfirmed: 0,
        wall: driven.wall,
        latencies_ms: Vec::with_capacity(transactions),
        waited: driven.waited,
        by_node: BTreeMap::new(),
    };
    for (tally, latency) in driven.answers {
        // Every envelope of a request gets that request's latency.
        let ms = latency.as_secs_f64() * 1000.0;
        let node = result.by_node.entry(tally.node).or_default();
        node.requests += 1;
        node.overloaded += tally.overloaded;
        node.unconfirmed += tally.unconfirmed;
        let room = SAID_KEPT.saturating_sub(node.unconfirmed_said.len());
        node.unconfirmed_said
            .extend(tally.unconfirmed_said.into_iter().take(room));
        node.latencies_ms.push(ms);
        result
            .latencies_ms
            .extend(std::iter::repeat_n(ms, tally.envelopes));
        result.committed += tally.committed;
        result.refused += tally.refused;
        result.overloaded += tally.overloaded;
        result.unconfirmed += tally.unconfirmed;
        result.codes.extend(tally.codes);
        result.codes.truncate(CODES_KEPT);
    }
    Ok(result)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Each node's requests, overload refusals, resends and request latencies (sorted here): a
/// node whose clients wait far longer than the others' is one that fell behind.
fn nodes_report(by_node: &mut BTreeMap<String, NodeTally>) -> Vec<Value> {
    by_node
        .iter_mut()
        .map(|(endpoint, n)| {
            n.latencies_ms.sort_by(f64::total_cmp);
            let (p50, p99, max) = latency_summary(&n.latencies_ms);
            json!({
                "endpoint": endpoint, "requests": n.requests,
                "requestsOverloaded": n.overloaded, "requestsUnconfirmed": n.unconfirmed,
                "unconfirmedSaid": n.unconfirmed_said,
                "requestLatencyMs": {"p50": p50, "p99": p99, "max": max},
            })
        })
        .collect()
}

/// p50, p99 and max of latencies sorted ascending (zeros for none): what every report gives.
fn latency_summary(sorted: &[f64]) -> (f64, f64, f64) {
    (
        percentile(sorted, 50.0),
        percentile(sorted, 99.0),
        sorted.last().copied().unwrap_or(0.0),
    )
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
    if let Some(rate) = args.rate_per_s
        && !(rate > 0.0 && rate <= RATE_MAX)
    {
        bail!("--rate must be above 0 and at most {RATE_MAX}");
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
    if args.workload == Workload::Reads {
        return reads::bench(args, &endpoints, &pids).await;
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
    crate::out(format_args!(
        "{:<22} {:>8} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "phase", "txs", "committed", "refused", "CTPS", "p50 ms", "p99 ms", "max ms"
    ))?;
    let mut phase_reports = Vec::new();
    for r in &mut results {
        r.latencies_ms.sort_by(f64::total_cmp);
        let phase_ctps = r.committed as f64 / r.wall.as_secs_f64().max(f64::EPSILON);
        let (p50, p99, max) = latency_summary(&r.latencies_ms);
        crate::out(format_args!(
            "{:<22} {:>8} {:>9} {:>8} {:>9.0} {:>9.1} {:>9.1} {:>9.1}",
            r.name, r.transactions, r.committed, r.refused, phase_ctps, p50, p99, max
        ))?;
        let by_node = nodes_report(&mut r.by_node);
        for n in &by_node {
            crate::out(format_args!(
                "  via {}: {} requests, {} refused overloaded, {} resent; per request p50 {:.1} p99 {:.1} max {:.1} ms",
                n["endpoint"].as_str().unwrap_or("?"),
                n["requests"],
                n["requestsOverloaded"],
                n["requestsUnconfirmed"],
                n["requestLatencyMs"]["p50"].as_f64().unwrap_or(0.0),
                n["requestLatencyMs"]["p99"].as_f64().unwrap_or(0.0),
                n["requestLatencyMs"]["max"].as_f64().unwrap_or(0.0),
            ))?;
        }
        phase_reports.push(json!({
            "byNode": by_node,
            "phase": r.name, "transactions": r.transactions, "committed": r.committed,
            "refused": r.refused, "refusalCodes": r.codes, "wallSeconds": r.wall.as_secs_f64(),
            "ctps": phase_ctps, "latencyMs": {"p50": p50, "p99": p99, "max": max},
            "requests": r.requests, "requestsWaited": r.waited,
            "requestsOverloaded": r.overloaded, "requestsUnconfirmed": r.unconfirmed,
        }));
    }
    let (p50, p99, max) = latency_summary(&all);
    crate::out(format_args!(
        "{:<22} {:>8} {:>9} {:>8} {:>9.0} {:>9.1} {:>9.1} {:>9.1}",
        "all", total, committed, refused, ctps, p50, p99, max
    ))?;
    let requests: usize = results.iter().map(|r| r.requests).sum();
    let waited: usize = results.iter().map(|r| r.waited).sum();
    if let Some(rate) = args.rate_per_s {
        crate::out(format_args!(
            "open loop: {rate:.1} tx/s offered (a request of {} every {:.2} ms), {ctps:.0} CTPS achieved; {waited} of {requests} requests found no free client (--concurrency {})",
            args.batch,
            args.batch as f64 * 1000.0 / rate,
            args.concurrency
        ))?;
    }
    let unconfirmed: u64 = results.iter().map(|r| r.unconfirmed).sum();
    if unconfirmed > 0 {
        crate::out(format_args!(
            "{unconfirmed} of {requests} requests were answered without an outcome (a transaction not applied within the node's wait) and sent again; their latency counts the wait"
        ))?;
    }
    let cpu_ms_per_tx = cpu * 1000.0 / (committed.max(1) as f64);
    crate::out(format_args!(
        "nodes' CPU: {cpu:.1} s in all, {cpu_ms_per_tx:.3} ms per confirmed transaction; refused share {:.4}",
        refused as f64 / total.max(1) as f64
    ))?;
    let peak_rss = peak_rss_mib(&pids);
    if let Some(mib) = peak_rss {
        crate::out(format_args!(
            "largest node peak memory (VmHWM): {mib:.0} MiB"
        ))?;
    }
    let report = json!({
        "workload": format!("{:?}", args.workload).to_lowercase(),
        "bills": args.bills, "transactions": total, "committed": committed, "refused": refused,
        "refusedShare": refused as f64 / total.max(1) as f64,
        "concurrency": args.concurrency, "batch": args.batch, "nodes": endpoints.len(),
        "pace": if args.rate_per_s.is_some() { "open" } else { "closed" },
        "offeredRate": args.rate_per_s, "requests": requests, "requestsWaited": waited,
        "requestsUnconfirmed": unconfirmed,
        "wallSeconds": wall, "ctps": ctps,
        "latencyMs": {"p50": p50, "p99": p99, "max": max},
        "nodesCpuSeconds": cpu, "cpuMsPerTransaction": cpu_ms_per_tx,
        "nodePeakRssMiB": peak_rss,
        "phases": phase_reports,
    });
    std::fs::write(&args.out, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("write {}", args.out.display()))?;
    crate::out(format_args!("report: {}", args.out.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_answer_is_sent_again_after_its_hint_or_at_once_without_one() {
        let overloaded = json!({"errors": [{"message": "node overloaded", "extensions": {"code": "UNAVAILABLE", "retryAfterMs": 100}}]});
        assert!(matches!(
            unavailable(&overloaded),
            Some(Unavailable::Overloaded(d)) if d == Duration::from_millis(100)
        ));
        // No hint: no outcome in time (it may still commit), so the same bytes go again.
        let unknown =
            json!({"errors": [{"message": "no outcome", "extensions": {"code": "UNAVAILABLE"}}]});
        assert!(matches!(
            unavailable(&unknown),
            Some(Unavailable::NoOutcome)
        ));
        let bad = json!({"errors": [{"message": "x", "extensions": {"code": "BAD_REQUEST", "retryAfterMs": 5}}]});
        assert!(unavailable(&bad).is_none());
        assert!(unavailable(&json!({"data": {}})).is_none());
    }
}
