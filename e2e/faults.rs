//! Crash and recovery of real node processes under load (issue 3's process test): a three-node
//! dev network with a low snapshot interval takes transactions; its leader is killed with
//! SIGKILL while clients go on submitting through the other nodes; the killed node is restarted
//! by hand (`silkline node run --config`). Every acknowledged transaction must then be on all
//! three nodes, at the same height, and the nodes must agree block by block (hash and state
//! hash). Then a node is stopped, its data wiped, the others go on far enough to compact their
//! logs, and the wiped node must catch up through a Raft snapshot to the same state.

use crate::common;

use anyhow::{Context as _, Result, ensure};
use common::{Api, DevNet, NodeProcess, doc_body, fixture, fixture_as, wait_for};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

/// A local snapshot every this many applied entries, keeping this many behind it: low, so that
/// a few dozen transactions compact the log and a wiped node needs a snapshot.
const SNAPSHOT_INTERVAL_ENTRIES: u64 = 20;
const LOG_RETAIN_ENTRIES: u64 = 5;

/// An acknowledged transaction: its hash and the height its block was given.
#[derive(Debug, Clone)]
struct Acked {
    tx: String,
    height: u64,
}

#[test]
fn acknowledged_transactions_survive_a_leader_kill_and_a_wiped_node_catches_up_by_snapshot()
-> Result<()> {
    let _one_at_a_time = common::exclusive();
    let net = DevNet::start_with(3, |dir| {
        for k in 1..=3 {
            let path = dir.join(format!("nodes/node{k}/config.json"));
            let mut config: Value = serde_json::from_slice(&std::fs::read(&path)?)?;
            config["snapshotIntervalEntries"] = json!(SNAPSHOT_INTERVAL_ENTRIES);
            config["logRetainEntries"] = json!(LOG_RETAIN_ENTRIES);
            std::fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
        }
        Ok(())
    })?;
    let carrier = net.api("carrier")?;
    let docs = tempfile::tempdir()?;
    let started = std::time::Instant::now();
    let mut acked: Vec<Acked> = Vec::new();
    let ack = |out: common::TxOut| -> Result<Acked> {
        Ok(Acked {
            tx: out.tx().to_owned(),
            height: out.height().context("height")?,
        })
    };
    let bill = |k: usize| format!("CARRIER/SLK-FAULT-{k:03}");
    let issue = |k: usize| -> Result<common::TxOut> {
        let file = fixture_as(
            "to-order-bill.json",
            &format!("SLK-FAULT-{k:03}"),
            docs.path(),
        )?;
        net.commit(
            "carrier",
            "issue",
            &bill(k),
            &[
                "--to",
                "SHIPPER",
                "--document",
                file.to_str().context("path")?,
            ],
        )
    };

    // Phase 1: a working network takes bills and endorsements.
    for k in 0..4 {
        acked.push(ack(issue(k)?)?);
    }
    for k in 0..2 {
        acked.push(ack(net.commit(
            "shipper",
            "endorse-to-order",
            &bill(k),
            &["--to", "BANK"],
        )?)?);
    }

    // Phase 2: SIGKILL the leader; the CLI goes on through the others.
    let leader = wait_for("one leader among the nodes dev up started", || {
        let leaders: Vec<usize> = (0..3)
            .filter(|&i| {
                net.status(i).is_some_and(|s| {
                    s["role"] == "leader" && s["pid"].as_u64() == Some(u64::from(net.pid(i)))
                })
            })
            .collect();
        (leaders.len() == 1).then(|| leaders[0])
    })?;
    let pid = net.pid(leader);
    common::signal(pid, Signal::SIGKILL)?;
    wait_for("the killed leader to be gone", || {
        (!common::alive(pid)).then_some(())
    })?;
    // `silkline status` names the node that does not answer, with an error, and still reports
    // the others; its exit status says not all answered.
    status_reports_the_dead_node(&net, leader)?;
    for k in 4..8 {
        acked.push(ack(issue(k)?)?);
    }
    for k in 2..4 {
        acked.push(ack(net.commit(
            "shipper",
            "endorse-to-order",
            &bill(k),
            &["--to", "BANK"],
        )?)?);
    }
    acked.push(ack(net.commit(
        "bank",
        "endorse",
        &bill(0),
        &["--to", "CONSIGNEE"],
    )?)?);
    let survivors: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let new_leader = wait_for("a new leader among the survivors", || {
        survivors
            .iter()
            .copied()
            .find(|&i| net.status(i).is_some_and(|s| s["role"] == "leader"))
    })?;
    ensure!(new_leader != leader);

    // Phase 3: the killed node restarts from its data and catches up.
    let mut restarted = NodeProcess::start(&net.config(leader), &net.log(leader))?;
    wait_for("the restarted node's first status", || restarted.status())?;
    let top = acked.iter().map(|a| a.height).max().unwrap_or(0);
    net.converged(&carrier, top)?;
    all_acked_everywhere(&net, &carrier, &acked)?;
    blocks_agree(&net, &carrier)?;
    documents_agree(&net, &carrier, &(0..8).map(bill).collect::<Vec<_>>())?;

    // Phase 4: stop a node, wipe it, compact the others' logs, restart it empty.
    common::signal(restarted.pid(), Signal::SIGTERM)?;
    let status = restarted.wait_exit()?;
    ensure!(status.success(), "SIGTERM exit: {status}");
    let data = net.data_dir(leader);
    std::fs::remove_dir_all(&data).with_context(|| data.display().to_string())?;
    let live = survivors[0];
    let content = fixture("to-order-bill.json")?;
    let more = usize::try_from(SNAPSHOT_INTERVAL_ENTRIES + LOG_RETAIN_ENTRIES)? + 2;
    for k in 100..100 + more {
        let reference = format!("SLK-FAULT-{k:03}");
        let mut c = content.clone();
        c["transportDocumentReference"] = json!(reference);
        // One at a time: each waits for its block, so each is its own Raft entry.
        let envelope = net.sign(
            "carrier",
            doc_body(
                "CARRIER",
                &reference,
                json!({"action": "ISSUE", "content": c, "issueTo": "SHIPPER"}),
            ),
        )?;
        let result = carrier.submit_one(live, &envelope)?;
        ensure!(result["status"] == "COMMITTED", "{result:#}");
        acked.push(Acked {
            tx: result["txHash"].as_str().context("txHash")?.to_owned(),
            height: result["height"].as_u64().context("height")?,
        });
    }
    // Their routine snapshots hold no state: the ledger is on disk, so compaction serializes
    // nothing (a node that did would copy its whole state at every compaction).
    wait_for(
        "the live nodes to compact (take a snapshot without state)",
        || {
            survivors
                .iter()
                .all(|&i| {
                    net.status(i)
                        .is_some_and(|s| s["snapshotsWithoutState"].as_u64() >= Some(1))
                })
                .then_some(())
        },
    )?;

    let mut wiped = NodeProcess::start(&net.config(leader), &net.log(leader))?;
    let log = net.log(leader);
    let status = common::try_wait_for("the wiped node to restore a snapshot", || {
        wiped.still_running().with_context(|| {
            format!(
                "the wiped node died instead of catching up; {}:\n{}",
                log.display(),
                common::log_excerpt(&log)
            )
        })?;
        Ok(wiped
            .status()
            .filter(|s| s["snapshotsRestored"].as_u64() >= Some(1)))
    })?;
    let top = acked.iter().map(|a| a.height).max().unwrap_or(0);
    let (height, _) = net.converged(&carrier, top)?;
    ensure!(height >= top, "{status}");
    all_acked_everywhere(&net, &carrier, &acked)?;
    blocks_agree(&net, &carrier)?;
    documents_agree(
        &net,
        &carrier,
        &[bill(0), bill(3), bill(7), bill(100), bill(100 + more - 1)],
    )?;
    let final_status = wiped.status().context("status")?;
    ensure!(
        final_status["snapshotsRestored"].as_u64() >= Some(1),
        "{final_status}"
    );
    // The leader's compacted log held no state: the snapshot came as a stream of its view.
    let wiped_log = std::fs::read_to_string(&log)?;
    ensure!(
        wiped_log.contains("streamed snapshot imported")
            && wiped_log.contains("streamed snapshot received"),
        "the wiped node was not brought up by a streamed snapshot; {}:\n{}",
        log.display(),
        common::log_excerpt(&log)
    );
    eprintln!(
        "faults: {} acknowledged transactions, height {height}, phases took {:?}",
        acked.len(),
        started.elapsed()
    );
    Ok(())
}

/// `silkline status --network` while node `dead` is down: one line per node, an `error` (and no
/// role) for the dead one, role, term, height and state hash for the others; exit status 3.
fn status_reports_the_dead_node(net: &DevNet, dead: usize) -> Result<()> {
    let dead_endpoint = net.endpoint(dead);
    let lines = wait_for("silkline status to report the dead node", || {
        let (exit, lines) = common::cli_status(net)?;
        // A survivor may be between leaders for a moment; wait until each answers.
        let as_expected = exit == 3
            && lines.len() == net.node_count()
            && lines
                .iter()
                .all(|l| (l["graphql"] == dead_endpoint.as_str()) == l.get("error").is_some());
        as_expected.then_some(lines)
    })?;
    let dead_line = lines
        .iter()
        .find(|l| l["graphql"] == dead_endpoint.as_str())
        .context("a line for the dead node")?;
    ensure!(
        dead_line["id"] == net.network["nodes"][dead]["id"]
            && dead_line["error"].as_str().is_some_and(|e| !e.is_empty())
            && dead_line.get("role").is_none(),
        "{lines:#?}"
    );
    for line in lines
        .iter()
        .filter(|l| l["graphql"] != dead_endpoint.as_str())
    {
        ensure!(
            line["role"].is_string()
                && line["term"].is_u64()
                && line["height"].is_u64()
                && line["applied_index"].is_u64()
                && line["state_hash"].is_string(),
            "{lines:#?}"
        );
    }
    Ok(())
}

/// Every acknowledged transaction is recorded, committed, at its height, on every node.
fn all_acked_everywhere(net: &DevNet, api: &Api, acked: &[Acked]) -> Result<()> {
    for i in 0..net.node_count() {
        for a in acked {
            let d = api
                .data(i, common::TRANSACTION, json!({"hash": a.tx}))
                .with_context(|| format!("node {i}, transaction {}", a.tx))?;
            let t = &d["transaction"];
            ensure!(
                t["status"] == "COMMITTED" && t["height"] == a.height,
                "node {i} has {} as {t} (acknowledged at height {})",
                a.tx,
                a.height
            );
        }
    }
    Ok(())
}

/// Every block, from 1 to the tip, has the same hash and state hash on every node.
fn blocks_agree(net: &DevNet, api: &Api) -> Result<()> {
    let tip = api.height(0)?;
    for h in 1..=tip {
        let mut seen: Vec<Value> = Vec::new();
        for i in 0..net.node_count() {
            let d = api.data(
                i,
                "query B($h: Int!) { block(height: $h) { height hash previousHash stateHash txCount } }",
                json!({"h": h}),
            )?;
            seen.push(d["block"].clone());
        }
        ensure!(
            seen.iter().all(|b| *b == seen[0]),
            "block {h} differs between nodes: {seen:#?}"
        );
    }
    Ok(())
}

/// The given bills read the same on every node (local reads, after convergence).
fn documents_agree(net: &DevNet, api: &Api, bills: &[String]) -> Result<()> {
    for bill in bills {
        let (carrier, reference) = bill.split_once('/').context("CARRIER/REF")?;
        let mut seen: Vec<Value> = Vec::new();
        for i in 0..net.node_count() {
            let d = api.data(
                i,
                common::DOCUMENT,
                common::document_vars(carrier, reference, "TRANSPORT_DOCUMENT", "LOCAL"),
            )?;
            seen.push(d["document"].clone());
        }
        ensure!(
            seen.iter().all(|d| *d == seen[0]),
            "{bill} differs between nodes: {seen:#?}"
        );
    }
    Ok(())
}
