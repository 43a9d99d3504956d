//! The operations listener of every `dev up` node (`node/src/ops.rs`): `/metrics` with the
//! metric names operators alert on, values that move with a transaction, `/livez`, `/readyz`,
//! `/version`; and `silkline node backup` of a running node restored with `silkline node
//! restore` into another node's wiped data directory, which then rejoins and converges.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::cluster::{RawPeer, node_credentials, raft_address};
use crate::common::{self, Api, DevNet, NodeProcess, doc_body, fixture, wait_for};

/// The metric names the issue asks every node to export (without the `_total`, `_bucket`...
/// suffixes of their samples).
const REQUIRED_METRICS: [&str; 19] = [
    "silkline_raft_has_leader",
    "silkline_raft_term",
    "silkline_raft_leader_changes_total",
    "silkline_raft_commit_index",
    "silkline_raft_applied_index",
    "silkline_raft_proposals_pending",
    "silkline_raft_apply_lag_entries",
    "silkline_raft_cluster_apply_lag_entries",
    "silkline_raft_last_commit_wait_ms",
    "silkline_storage_fsync_seconds_bucket",
    "silkline_block_apply_seconds_bucket",
    "silkline_tx_committed_total",
    "silkline_tx_refused",
    "silkline_api_requests_total",
    "silkline_transport_dropped_total",
    "silkline_snapshot_sent_total",
    "silkline_state_bytes",
    "silkline_certificate_expiry_timestamp_seconds{kind=\"node\"}",
    "silkline_build_info{version=",
];

/// One plain HTTP/1.1 request to the operations listener at `base` (`http://host:port`):
/// status and body.
fn http(method: &str, base: &str, path: &str) -> Result<(u16, Vec<u8>)> {
    let addr = base.strip_prefix("http://").context("an http:// URL")?;
    let mut tcp = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        tcp,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .context("no status")?
        .parse()?;
    let body = raw[split + 4..].to_vec();
    ensure!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "a chunked answer from {path}: this helper reads only sized ones"
    );
    Ok((status, body))
}

fn get(base: &str, path: &str) -> Result<(u16, String)> {
    let (status, body) = http("GET", base, path)?;
    Ok((status, String::from_utf8(body)?))
}

/// The value of the first sample of `name` (exactly, labels excluded) in a metrics text.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok())?
    })
}

fn ops_url(net: &DevNet, i: usize) -> Result<String> {
    Ok(net.network["nodes"][i]["ops"]
        .as_str()
        .with_context(|| format!("network.json names no ops URL for node {i}"))?
        .to_owned())
}

/// Issues one fresh bill through node `i`; returns its block height.
fn issue(net: &DevNet, api: &Api, i: usize, reference: &str) -> Result<u64> {
    let mut content = fixture("to-order-bill.json")?;
    content["transportDocumentReference"] = json!(reference);
    let envelope = net.sign(
        "carrier",
        doc_body(
            "CARRIER",
            reference,
            json!({"action": "ISSUE", "content": content, "issueTo": "SHIPPER"}),
        ),
    )?;
    let result = api.submit_one(i, &envelope)?;
    ensure!(result["status"] == "COMMITTED", "{result:#}");
    result["height"].as_u64().context("height")
}

#[test]
fn every_dev_node_answers_metrics_health_and_version() -> Result<()> {
    let _one = common::exclusive();
    let net = DevNet::start(3)?;
    let carrier = net.api("carrier")?;
    let mut before = Vec::new();
    for i in 0..net.node_count() {
        let base = ops_url(&net, i)?;
        ensure!(base.starts_with("http://127.0.0.1:"), "{base}");
        let (status, body) = get(&base, "/livez")?;
        ensure!(status == 200, "/livez of node {i}: {status} {body}");
        // Ready once it knows the leader `dev up` waited for.
        wait_for("/readyz to answer 200", || {
            get(&base, "/readyz").ok().filter(|(s, _)| *s == 200)
        })?;
        let (status, body) = get(&base, "/version")?;
        ensure!(status == 200, "/version: {status} {body}");
        let version: Value = serde_json::from_str(&body)?;
        ensure!(
            version["version"].as_str().is_some_and(|v| !v.is_empty())
                && version["network"] == net.network_id()
                && version["node"] == format!("node{}", i + 1),
            "{version}"
        );
        let (status, metrics) = get(&base, "/metrics")?;
        ensure!(status == 200, "/metrics: {status}");
        for name in REQUIRED_METRICS {
            ensure!(
                metrics.contains(name),
                "node {i}'s /metrics has no {name}:\n{metrics}"
            );
        }
        ensure!(
            sample(&metrics, "silkline_raft_has_leader") == Some(1.0),
            "{metrics}"
        );
        before.push(metrics);
    }

    let height = issue(&net, &carrier, 0, "SLK-OPS-METRICS-1")?;
    net.converged(&carrier, height)?;
    for (i, old) in before.iter().enumerate() {
        let base = ops_url(&net, i)?;
        let commit_before = sample(old, "silkline_raft_commit_index").context("commit index")?;
        let committed_before = sample(old, "silkline_tx_committed_total").context("committed")?;
        let fsyncs_before =
            sample(old, "silkline_storage_fsync_seconds_count").context("fsync count")?;
        let metrics = wait_for("the commit index and the committed count to grow", || {
            let (_, m) = get(&base, "/metrics").ok()?;
            let moved = sample(&m, "silkline_raft_commit_index")? > commit_before
                && sample(&m, "silkline_raft_applied_index")? > commit_before
                && sample(&m, "silkline_tx_committed_total")? >= committed_before + 1.0;
            moved.then_some(m)
        })?;
        ensure!(
            sample(&metrics, "silkline_storage_fsync_seconds_count") > Some(fsyncs_before),
            "node {i}'s durable writes were not timed:\n{metrics}"
        );
        ensure!(
            sample(&metrics, "silkline_block_apply_seconds_count") >= Some(1.0),
            "{metrics}"
        );
        // Histograms end with the +Inf bucket equal to their count.
        for h in [
            "silkline_storage_fsync_seconds",
            "silkline_block_apply_seconds",
        ] {
            ensure!(
                sample(&metrics, &format!("{h}_bucket{{le=\"+Inf\"}}"))
                    == sample(&metrics, &format!("{h}_count")),
                "{h} in node {i}'s metrics:\n{metrics}"
            );
        }
        ensure!(
            sample(&metrics, "silkline_state_bytes") > Some(0.0),
            "{metrics}"
        );
        // No document reference, no party reaches a label.
        for secret in ["SLK-OPS-METRICS-1", "SHIPPER", "CARRIER"] {
            ensure!(!metrics.contains(secret), "{secret} in node {i}'s metrics");
        }
    }
    // The API counted the submission on the node that took it.
    let (_, metrics) = get(&ops_url(&net, 0)?, "/metrics")?;
    ensure!(
        sample(&metrics, "silkline_api_requests_total") >= Some(1.0),
        "{metrics}"
    );
    Ok(())
}

#[test]
fn a_backup_of_a_running_node_restores_into_a_wiped_node_that_rejoins() -> Result<()> {
    let _one = common::exclusive();
    let net = DevNet::start(3)?;
    let carrier = net.api("carrier")?;
    for k in 0..3 {
        issue(&net, &carrier, k % 3, &format!("SLK-OPS-BACKUP-{k}"))?;
    }
    let backup = net.dir().join("node1.backup");
    let out = common::cli(&[
        "node",
        "backup",
        "--config",
        &net.config(0).to_string_lossy(),
        "--out",
        &backup.to_string_lossy(),
    ])?;
    ensure!(out.exit == 0, "node backup: {}", out.stderr);
    let taken = out.json()?;
    ensure!(
        taken["result"] == "backed up" && taken["appliedIndex"].as_u64() >= Some(4),
        "{taken}"
    );
    // The file is whole: the CLI renamed it only after its checksum matched.
    ensure!(!backup.with_extension("partial").exists());

    // node3 stops; a restore into its data directory, still full, is refused.
    let wiped = 2;
    let pid = net.pid(wiped);
    common::signal(pid, Signal::SIGTERM)?;
    wait_for("node3 to stop", || (!common::alive(pid)).then_some(()))?;
    let config = net.config(wiped);
    let restore = |from: &std::path::Path| {
        common::cli(&[
            "node",
            "restore",
            "--config",
            &config.to_string_lossy(),
            "--from",
            &from.to_string_lossy(),
        ])
    };
    let out = restore(&backup)?;
    ensure!(
        out.exit != 0 && out.stderr.contains("RESTORE_DIR_NOT_EMPTY"),
        "restore into a full directory: {} {}",
        out.exit,
        out.stderr
    );
    let data = net.data_dir(wiped);
    std::fs::remove_dir_all(&data).with_context(|| data.display().to_string())?;
    // A damaged copy is refused, and leaves nothing behind.
    let damaged = net.dir().join("damaged.backup");
    let mut bytes = std::fs::read(&backup)?;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&damaged, &bytes)?;
    let out = restore(&damaged)?;
    ensure!(
        out.exit != 0 && out.stderr.contains("BACKUP_CHECKSUM_MISMATCH"),
        "{} {}",
        out.exit,
        out.stderr
    );
    ensure!(std::fs::read_dir(&data).map_or(true, |mut d| d.next().is_none()));

    let out = restore(&backup)?;
    ensure!(out.exit == 0, "node restore: {}", out.stderr);
    let restored = out.json()?;
    ensure!(
        restored["appliedIndex"] == taken["appliedIndex"]
            && restored["stateHash"] == taken["stateHash"],
        "{restored} vs {taken}"
    );

    // The network goes on without it, then it starts from the backup and catches up.
    let mut top = 0;
    for k in 3..6 {
        top = issue(&net, &carrier, k % 2, &format!("SLK-OPS-BACKUP-{k}"))?;
    }
    let log = net.log(wiped);
    let mut node = NodeProcess::start(&config, &log)?;
    let status = common::try_wait_for("the restored node to rejoin", || {
        node.still_running().with_context(|| {
            format!(
                "the restored node died; {}:\n{}",
                log.display(),
                common::log_excerpt(&log)
            )
        })?;
        Ok(node.status().filter(|s| s["leaderId"].as_u64() > Some(0)))
    })?;
    let (height, _) = net.converged(&carrier, top)?;
    ensure!(height >= top, "{status}");
    // It went on from the backup with the entries after it, not from a leader's snapshot
    // that would have replaced the restored state.
    let status = wait_for("the restored node's status past the backup", || {
        node.status()
            .filter(|s| s["blockHeight"].as_u64() >= Some(height))
    })?;
    ensure!(
        status["snapshotsRestored"].as_u64() == Some(0)
            && status["appliedIndex"].as_u64() > taken["appliedIndex"].as_u64(),
        "{status}"
    );
    // A document of the backup and one issued while the node was down, served by it.
    for reference in ["SLK-OPS-BACKUP-1", "SLK-OPS-BACKUP-5"] {
        let document = carrier.data(
            wiped,
            common::DOCUMENT,
            common::document_vars("CARRIER", reference, "TRANSPORT_DOCUMENT", "LOCAL"),
        );
        match document {
            Ok(d) if d["document"]["status"].is_string() => {}
            Ok(d) => bail!("the restored node answers {reference} with {d}"),
            Err(e) => bail!("the restored node does not serve {reference}: {e:#}"),
        }
    }
    Ok(())
}

#[test]
fn sighup_reloads_a_renewed_node_certificate_for_new_connections() -> Result<()> {
    let _one = common::exclusive();
    let net = DevNet::start(3)?;
    let carrier = net.api("carrier")?;
    let pki_dir = net.pki_dir();
    let mut consortium = pki::dev::Consortium::open(&pki_dir)?;
    let trust = consortium.trust_store()?;
    let node2 = node_credentials(&consortium, "node2")?;
    let raft1 = raft_address(&net, 0)?;
    let original = node_credentials(&consortium, "node1")?;
    let presented = |what: &str| -> Result<Vec<u8>> {
        RawPeer::dial(raft1, &node2, &trust, "node1")
            .and_then(|mut p| p.presented_leaf())
            .with_context(|| format!("node1's Raft port {what}"))
    };
    ensure!(presented("before")? == original.chain[0].as_ref());

    // node1's member renews its certificate (same node id, new key, another validity) and
    // writes it over the files node1's configuration names.
    let entry = consortium.identity("node1").context("node1")?.clone();
    let now = i64::try_from(common::now_ms() / 1000)?;
    let not_after = now + 3 * 24 * 3600;
    let renewed = consortium.issue(&pki::dev::IdentityRequest {
        name: "node1-renewed".into(),
        member: entry.member.clone(),
        party: entry.party.clone(),
        party_name: "node1 renewed".into(),
        kind: pki::IdentityKind::Node,
        node_id: entry.node_id.clone(),
        ips: vec![std::net::Ipv4Addr::LOCALHOST.into()],
        not_before: now - 60,
        not_after,
    })?;
    ensure!(not_after != entry.not_after);
    std::fs::copy(consortium.path(&renewed.cert), consortium.path(&entry.cert))?;
    std::fs::copy(consortium.path(&renewed.key), consortium.path(&entry.key))?;
    let renewed = node_credentials(&consortium, "node1-renewed")?;

    common::signal(net.pid(0), Signal::SIGHUP)?;
    let ops = ops_url(&net, 0)?;
    let expiry = "silkline_certificate_expiry_timestamp_seconds{kind=\"node\"}";
    wait_for("node1 to report the renewed certificate's expiry", || {
        let (_, m) = get(&ops, "/metrics").ok()?;
        (sample(&m, expiry)? == not_after as f64).then_some(())
    })?;
    // A new connection gets the renewed certificate; the node kept running and serving.
    ensure!(presented("after SIGHUP")? == renewed.chain[0].as_ref());
    ensure!(common::alive(net.pid(0)));
    let height = issue(&net, &carrier, 0, "SLK-OPS-RELOAD-1")?;
    net.converged(&carrier, height)?;
    let log = std::fs::read_to_string(net.log(0))?;
    ensure!(
        log.contains("SIGHUP: reloaded the node certificate"),
        "{}",
        common::log_excerpt(&net.log(0))
    );

    // A certificate of another node is refused on reload, and the renewed one stays.
    let other = consortium.identity("node2").context("node2")?.clone();
    std::fs::copy(consortium.path(&other.cert), consortium.path(&entry.cert))?;
    std::fs::copy(consortium.path(&other.key), consortium.path(&entry.key))?;
    common::signal(net.pid(0), Signal::SIGHUP)?;
    wait_for("node1 to refuse the other node's certificate", || {
        let log = std::fs::read_to_string(net.log(0)).ok()?;
        log.contains("SIGHUP: the node certificate was not reloaded")
            .then_some(())
    })?;
    ensure!(presented("after a refused reload")? == renewed.chain[0].as_ref());
    Ok(())
}
