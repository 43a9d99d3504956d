//! `silkline bench --workload reads`: how long the two reads a client makes most take on a
//! network that already holds documents, `--queries` of each:
//!
//! - `document`: one document by key, the query `silkline doc show` sends (state, content and
//!   the full signed history);
//! - `documents`: one page of the caller's documents ([`PAGE_SIZE`]), starting right after a
//!   document of the sample.
//!
//! The documents are the carrier's (it is party to every bill it issued), found the way the
//! chain records them: for each query a block at a random height, and a random committed
//! transaction's document in it. The heights come from a generator seeded with `--seed`, so the
//! same seed on the same network reads the same documents; and they are spread over the whole
//! chain, not bunched at the start of the key order where a listing would begin (a node's cache
//! holds the first thousand documents, not a million). The draw is uniform over blocks, not
//! over documents: a document of a small block is likelier to be read than one of a full block. Reads are linearizable, the API's
//! default: each first asks the leader's quorum (Raft ReadIndex).
//!
//! A query the API answers with an error (`NOT_FOUND`, ...) is counted as failed with its code,
//! and the run goes on; a node that does not answer at all stops the run.

use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use doc_workflow::{DocumentClass, DocumentId, DocumentKey, DocumentRef, PartyCode};
use serde_json::{Value, json};

use super::{BenchArgs, Pace, clients, cpu_seconds, drive, latency_summary, peak_rss_mib, target};
use crate::client::{ApiClient, data};

/// Most queries of each kind: each one's document is found by a block read first, and the
/// sample is held in memory.
const QUERIES_MAX: usize = 100_000;
/// Documents per `documents` page: the API's default `first`.
const PAGE_SIZE: usize = 20;
/// A block may hold no committed document (governance only, or refusals). Heights that found
/// none are drawn again at most this many times; then the chain holds too few documents.
const SAMPLE_ROUNDS_MAX: usize = 16;
/// Who reads: the carrier is party to every bill it issued, so it sees every document the
/// write workloads made.
const READER: &str = "carrier";

const BLOCK: &str = "query Block($height: Int!) {
  block(height: $height) { transactions { status documents { class carrierCode reference } } }
}";

const PAGE: &str = "query Page($after: String, $first: Int!) {
  documents(after: $after, first: $first) {
    documents { key { class carrierCode reference } status possessor sequence updatedAt }
    nextCursor
  }
}";

/// SplitMix64 (Steele, Lea and Flood, 2014): the sample only needs to be repeatable and spread
/// evenly, not unpredictable, so a few lines do.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`, for `n > 0` (Lemire's multiply-shift).
    fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

/// A document's key as the API gives it (`DocumentKeyOut`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    class: String,
    carrier: String,
    reference: String,
}

impl Key {
    fn of(v: &Value) -> Option<Key> {
        Some(Key {
            class: v["class"].as_str()?.to_owned(),
            carrier: v["carrierCode"].as_str()?.to_owned(),
            reference: v["reference"].as_str()?.to_owned(),
        })
    }

    /// The `documents` cursor that starts a page right after this document. The API documents
    /// the cursor only as "pass as `after`"; it is the ledger's document key, and
    /// [`check_cursor`] stops the run if that ever changes.
    fn cursor(&self) -> anyhow::Result<String> {
        let class: DocumentClass = serde_json::from_value(json!(self.class))
            .with_context(|| format!("document class {}", self.class))?;
        let id = DocumentId::new(
            PartyCode::new(self.carrier.as_str())?,
            DocumentRef::new(self.reference.as_str())?,
        );
        Ok(DocumentKey { class, id }.to_string())
    }
}

/// What one kind of query measured.
struct KindResult {
    kind: &'static str,
    queries: usize,
    answered: usize,
    failed: usize,
    codes: Vec<String>,
    /// Documents the answered queries returned (pages may be short near the end).
    documents: usize,
    wall: Duration,
    latencies_ms: Vec<f64>,
    waited: usize,
}

/// Runs the reads workload and prints the table; writes the JSON report.
pub(super) async fn bench(
    args: &BenchArgs,
    endpoints: &[String],
    pids: &[u32],
) -> anyhow::Result<()> {
    if args.queries == 0 || args.queries > QUERIES_MAX {
        bail!("--queries must be 1 to {QUERIES_MAX}");
    }
    // Every node must hold a block before it is asked for it: the lowest height of all.
    let mut height = u64::MAX;
    for endpoint in endpoints {
        let client =
            ApiClient::new(&target(&args.network, READER))?.with_endpoints(vec![endpoint.clone()]);
        let v = client.graphql("{ node { height } }", json!({})).await?;
        let h = data(&v)?["node"]["height"]
            .as_u64()
            .context("node.height")?;
        height = height.min(h);
    }
    ensure!(
        height > 0,
        "the network holds no block yet: run a write workload first (--workload issue)"
    );
    eprintln!(
        "sampling {} documents from blocks 1 to {height} (seed {})...",
        args.queries, args.seed
    );
    let (keys, blocks_read) = sample(args, endpoints, height).await?;
    check_cursor(args, endpoints).await?;
    let mut distinct = keys.clone();
    distinct.sort();
    distinct.dedup();

    eprintln!("reading...");
    let cpu_before = cpu_seconds(pids);
    let document = measure(
        args,
        endpoints,
        ("document", crate::cli::DOCUMENT),
        keys.iter()
            .map(|k| json!({"carrier": k.carrier, "reference": k.reference, "class": k.class}))
            .collect(),
        |d| usize::from(d["document"].is_object()),
    )
    .await?;
    let pages = keys
        .iter()
        .map(|k| Ok(json!({"after": k.cursor()?, "first": PAGE_SIZE})))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let documents = measure(args, endpoints, ("documents", PAGE), pages, |d| {
        d["documents"]["documents"].as_array().map_or(0, Vec::len)
    })
    .await?;
    let cpu = cpu_seconds(pids) - cpu_before;
    let results = [document, documents];

    crate::out(format_args!(
        "{:<10} {:>8} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "query", "queries", "answered", "failed", "per s", "p50 ms", "p99 ms", "max ms"
    ))?;
    let mut kinds = Vec::new();
    for r in &results {
        let per_s = r.answered as f64 / r.wall.as_secs_f64().max(f64::EPSILON);
        let (p50, p99, max) = latency_summary(&r.latencies_ms);
        crate::out(format_args!(
            "{:<10} {:>8} {:>9} {:>7} {:>9.0} {:>9.1} {:>9.1} {:>9.1}",
            r.kind, r.queries, r.answered, r.failed, per_s, p50, p99, max
        ))?;
        kinds.push(json!({
            "query": r.kind, "queries": r.queries, "answered": r.answered, "failed": r.failed,
            "failedShare": r.failed as f64 / r.queries.max(1) as f64,
            "failureCodes": r.codes, "documentsReturned": r.documents,
            "wallSeconds": r.wall.as_secs_f64(), "perSecond": per_s,
            "latencyMs": {"p50": p50, "p99": p99, "max": max},
            "requestsWaited": r.waited,
        }));
    }
    crate::out(format_args!(
        "sample: {} documents ({} distinct) from {blocks_read} blocks of 1 to {height}, seed {}; pages of {PAGE_SIZE} after a sampled document; linearizable reads as {READER}",
        keys.len(),
        distinct.len(),
        args.seed
    ))?;
    if let Some(rate) = args.rate_per_s {
        let waited: usize = results.iter().map(|r| r.waited).sum();
        crate::out(format_args!(
            "open loop: {rate:.1} queries/s offered per kind; {waited} of {} queries found no free client (--concurrency {})",
            2 * args.queries,
            args.concurrency
        ))?;
    }
    crate::out(format_args!("nodes' CPU: {cpu:.1} s in all"))?;
    let peak_rss = peak_rss_mib(pids);
    let report = json!({
        "workload": "reads", "queries": args.queries, "concurrency": args.concurrency,
        "nodes": endpoints.len(),
        "pace": if args.rate_per_s.is_some() { "open" } else { "closed" },
        "offeredRate": args.rate_per_s, "seed": args.seed, "reader": READER,
        "consistency": "LINEARIZABLE", "pageSize": PAGE_SIZE, "chainHeight": height,
        "blocksRead": blocks_read, "documentsSampled": keys.len(),
        "distinctDocuments": distinct.len(),
        "nodesCpuSeconds": cpu, "nodePeakRssMiB": peak_rss,
        "kinds": kinds,
    });
    std::fs::write(&args.out, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("write {}", args.out.display()))?;
    crate::out(format_args!("report: {}", args.out.display()))?;
    Ok(())
}

/// `args.queries` documents (with repeats, rarely) of committed transactions in blocks at
/// random heights in `1..=height`, and how many blocks were read to find them.
async fn sample(
    args: &BenchArgs,
    endpoints: &[String],
    height: u64,
) -> anyhow::Result<(Vec<Key>, usize)> {
    let mut rng = SplitMix64(args.seed);
    let mut keys = Vec::with_capacity(args.queries);
    let mut blocks_read = 0;
    for _ in 0..SAMPLE_ROUNDS_MAX {
        let missing = args.queries - keys.len();
        if missing == 0 {
            break;
        }
        // Drawn in order before any block is read, so the sample does not depend on which
        // answer comes first.
        let draws: Vec<(u64, u64)> = (0..missing)
            .map(|_| (1 + rng.below(height), rng.next()))
            .collect();
        let found = drive(
            clients(args, endpoints, READER)?,
            draws,
            Pace::Closed,
            |client, (h, pick)| async move {
                let v = client.graphql(BLOCK, json!({ "height": h })).await?;
                let in_block: Vec<Key> =
                    data(&v).with_context(|| format!("block {h}"))?["block"]["transactions"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or_default()
                        .iter()
                        .filter(|tx| tx["status"] == "COMMITTED")
                        .flat_map(|tx| tx["documents"].as_array().cloned().unwrap_or_default())
                        .filter_map(|d| Key::of(&d))
                        .collect();
                let n = in_block.len() as u64;
                anyhow::Ok((n > 0).then(|| in_block[(pick % n.max(1)) as usize].clone()))
            },
        )
        .await?;
        blocks_read += missing;
        keys.extend(found.answers.into_iter().filter_map(|(k, _)| k));
    }
    ensure!(
        keys.len() == args.queries,
        "found only {} documents in {blocks_read} blocks: the chain holds too few of the carrier's documents (run --workload issue first)",
        keys.len()
    );
    Ok((keys, blocks_read))
}

/// Stops the run if a page's cursor is not its last document's key: [`Key::cursor`] would then
/// start pages somewhere else than after the sampled documents.
async fn check_cursor(args: &BenchArgs, endpoints: &[String]) -> anyhow::Result<()> {
    let client = clients(args, endpoints, READER)?
        .into_iter()
        .next()
        .context("a client")?;
    let v = client
        .graphql(PAGE, json!({"after": null, "first": 2}))
        .await?;
    let page = &data(&v)?["documents"];
    let (Some(cursor), Some(last)) = (
        page["nextCursor"].as_str(),
        page["documents"]
            .as_array()
            .and_then(|d| d.last())
            .and_then(|d| Key::of(&d["key"])),
    ) else {
        // A single page: nothing to compare, and no page to start elsewhere either.
        return Ok(());
    };
    ensure!(
        last.cursor()? == cursor,
        "the API's page cursor ({cursor}) is no longer the last document's key ({}): the reads workload cannot start pages after a sampled document",
        last.cursor()?
    );
    Ok(())
}

/// Sends `query` (named `kind`) once with each of `requests` (its variables) and measures each;
/// `returned` counts the documents an answer holds.
async fn measure(
    args: &BenchArgs,
    endpoints: &[String],
    (kind, query): (&'static str, &'static str),
    requests: Vec<Value>,
    returned: impl Fn(&Value) -> usize + Clone + Send + 'static,
) -> anyhow::Result<KindResult> {
    let queries = requests.len();
    let driven = drive(
        clients(args, endpoints, READER)?,
        requests,
        Pace::of(args, 1),
        |client, variables| {
            let returned = returned.clone();
            async move {
                let v = client.graphql(query, variables).await?;
                // An answer with errors is a failed query, not a failed run.
                anyhow::Ok(match data(&v) {
                    Ok(d) => Ok(returned(d)),
                    Err(_) => Err(v["errors"][0]["extensions"]["code"]
                        .as_str()
                        .unwrap_or("?")
                        .to_owned()),
                })
            }
        },
    )
    .await?;
    let mut result = KindResult {
        kind,
        queries,
        answered: 0,
        failed: 0,
        codes: Vec::new(),
        documents: 0,
        wall: driven.wall,
        latencies_ms: Vec::with_capacity(queries),
        waited: driven.waited,
    };
    for (answer, latency) in driven.answers {
        result.latencies_ms.push(latency.as_secs_f64() * 1000.0);
        match answer {
            Ok(n) => {
                result.answered += 1;
                result.documents += n;
            }
            Err(code) => {
                result.failed += 1;
                if result.codes.len() < super::CODES_KEPT {
                    result.codes.push(code);
                }
            }
        }
    }
    result.latencies_ms.sort_by(f64::total_cmp);
    Ok(result)
}
