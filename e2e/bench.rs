//! `silkline bench` against a real three-node dev network, as `scripts/bench` and
//! `scripts/scale` run it: an open-loop issue workload (`--rate`), then the reads workload on the
//! documents it made, twice with the same seed. Only what the reports say is checked, never a
//! timing: every transaction committed and none refused, every query answered, percentiles in
//! order, and the same seed reading the same sample.

use crate::common;

use std::path::Path;

use anyhow::{Context as _, Result, ensure};
use common::{DevNet, silkline};
use serde_json::Value;

const BILLS: u64 = 48;
const BATCH: u64 = 4;
const QUERIES: u64 = 24;

#[test]
fn bench_reports_an_open_loop_and_reads() -> Result<()> {
    let _one_at_a_time = common::exclusive();
    let net = DevNet::start(3)?;
    let out = tempfile::tempdir()?;

    let issue = bench(
        &net,
        &out.path().join("open.json"),
        &[
            "--workload",
            "issue",
            "--bills",
            &BILLS.to_string(),
            "--batch",
            &BATCH.to_string(),
            "--concurrency",
            "4",
            "--rate",
            "50",
        ],
    )?;
    ensure!(
        issue["pace"] == "open" && issue["offeredRate"] == 50.0,
        "{issue}"
    );
    ensure!(
        issue["transactions"] == BILLS
            && issue["committed"] == BILLS
            && issue["refused"] == 0
            && issue["refusedShare"] == 0.0,
        "every transaction commits: {issue}"
    );
    ensure!(issue["requests"] == BILLS / BATCH, "{issue}");
    in_order(&issue["latencyMs"])?;
    for phase in issue["phases"].as_array().context("phases")? {
        ensure!(phase["committed"] == phase["transactions"], "{phase}");
        in_order(&phase["latencyMs"])?;
    }

    // Open loop first, then closed: the same seed on the same chain reads the same documents.
    // The reads sample blocks up to the lowest node's height, so every node first holds the
    // issue run's last block (a follower may apply it a moment after the leader answered).
    net.converged(&net.api("carrier")?, 1)?;
    let open = reads(
        &net,
        &out.path().join("reads-open.json"),
        &["--rate", "100"],
    )?;
    let closed = reads(&net, &out.path().join("reads-closed.json"), &[])?;
    ensure!(open["pace"] == "open" && closed["pace"] == "closed");
    for key in ["chainHeight", "blocksRead", "distinctDocuments"] {
        ensure!(open[key] == closed[key], "{key}: {open} vs {closed}");
    }
    Ok(())
}

/// Runs `silkline bench` on `net` with `args`, its report written to `out`; returns the report.
fn bench(net: &DevNet, out: &Path, args: &[&str]) -> Result<Value> {
    let run = silkline()
        .arg("bench")
        .arg("--network")
        .arg(&net.network_file)
        .arg("--out")
        .arg(out)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .context("run silkline bench")?;
    ensure!(
        run.status.success(),
        "silkline bench {args:?} failed: {}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let report = std::fs::read(out).with_context(|| format!("read {}", out.display()))?;
    Ok(serde_json::from_slice(&report)?)
}

/// The reads workload with `args`; checks what every reads report must say.
fn reads(net: &DevNet, out: &Path, args: &[&str]) -> Result<Value> {
    let queries = QUERIES.to_string();
    let mut all = vec!["--workload", "reads", "--queries", &queries];
    // Three in flight, one per node: linearizable reads on several nodes at once must not
    // collide at the leader (each node once numbered its ReadIndex contexts from 1, and the
    // leader dropped the second read of a number, which then failed after 10 s).
    all.extend(["--concurrency", "3", "--seed", "7"]);
    all.extend(args);
    let report = bench(net, out, &all)?;
    ensure!(
        report["documentsSampled"] == QUERIES && report["seed"] == 7,
        "{report}"
    );
    let kinds = report["kinds"].as_array().context("kinds")?;
    let names: Vec<&str> = kinds.iter().filter_map(|k| k["query"].as_str()).collect();
    ensure!(names == ["document", "documents"], "{report}");
    for kind in kinds {
        ensure!(
            kind["queries"] == QUERIES
                && kind["answered"] == QUERIES
                && kind["failed"] == 0
                && kind["failedShare"] == 0.0,
            "every query is answered: {kind}"
        );
        in_order(&kind["latencyMs"])?;
    }
    // One document per `document` query; pages after a sampled document are rarely all empty.
    ensure!(kinds[0]["documentsReturned"] == QUERIES, "{report}");
    ensure!(kinds[1]["documentsReturned"].as_u64() > Some(0), "{report}");
    Ok(report)
}

/// p50 <= p99 <= max, none negative.
fn in_order(latency: &Value) -> Result<()> {
    let get = |p: &str| {
        latency[p]
            .as_f64()
            .with_context(|| format!("{p} in {latency}"))
    };
    let (p50, p99, max) = (get("p50")?, get("p99")?, get("max")?);
    ensure!(0.0 <= p50 && p50 <= p99 && p99 <= max, "{latency}");
    Ok(())
}
