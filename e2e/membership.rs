//! Membership changes on real node processes (issue 3: "add a node (as learner, then voter)
//! and remove a node by a configuration transaction signed by a member admin"). A three-node
//! dev network takes a bill; `silkline dev add-node` prepares node4 (a certificate from
//! CARRIER's CA, a configuration); CARRIER's admin commits `tx add-node`; node4 is started
//! with an empty data directory, is brought up by the leader's snapshot as a learner and
//! reaches the others' height and state hash; `tx promote-node` makes it a voter;
//! `tx remove-node` by its member's admin removes the leader, which hands leadership over;
//! transactions keep committing through the remaining three, which agree on every hash, while
//! the removed node still runs (without peers).

use crate::common;

use anyhow::{Context as _, Result, ensure};
use common::{Api, CliOut, DevNet, NodeProcess, doc_body, fixture_as, wait_for};
use serde_json::{Value, json};

/// `silkline tx --network NET --as IDENTITY ACTION ARGS...` for a membership action; the CLI
/// must have printed an outcome, committed (exit 0) or refused with `code` (exit 3).
fn membership_tx(net: &DevNet, identity: &str, args: &[&str], code: &str) -> Result<Value> {
    let mut all = vec!["tx"];
    all.extend(args);
    let out: CliOut = net.cli_as(identity, &all)?;
    let json = out.json()?;
    let expected_exit = if code == "COMMITTED" { 0 } else { 3 };
    let got = json["code"].as_str().unwrap_or("COMMITTED");
    ensure!(
        out.exit == expected_exit && got == code,
        "tx {args:?} as {identity}: expected {code}, got exit {} {json} {}",
        out.exit,
        out.stderr
    );
    Ok(json)
}

/// `node { ... }` of every node in `nodes` equal in height, block hash and state hash, at
/// least `min_height`; returns that height.
fn agree(api: &Api, nodes: &[usize], min_height: u64) -> Result<u64> {
    wait_for(
        &format!("nodes {nodes:?} at one height and state hash >= {min_height}"),
        || {
            let mut seen = Vec::new();
            for &i in nodes {
                let d = api
                    .data(i, "{ node { height blockHash stateHash } }", json!({}))
                    .ok()?;
                seen.push(d["node"].clone());
            }
            let first = seen[0].clone();
            (first["height"].as_u64()? >= min_height && seen.iter().all(|s| *s == first))
                .then(|| first["height"].as_u64())
                .flatten()
        },
    )
}

#[test]
fn a_node_joins_as_learner_is_promoted_and_another_is_removed_by_admin_transactions() -> Result<()>
{
    let _one_at_a_time = common::exclusive();
    let net = DevNet::start(3)?;
    let docs = tempfile::tempdir()?;
    let issue = |k: usize| -> Result<u64> {
        let reference = format!("SLK-MEMBER-{k:03}");
        let file = fixture_as("to-order-bill.json", &reference, docs.path())?;
        let out = net.commit(
            "carrier",
            "issue",
            &format!("CARRIER/{reference}"),
            &[
                "--to",
                "SHIPPER",
                "--document",
                file.to_str().context("path")?,
            ],
        )?;
        out.height().context("height")
    };
    let mut height = issue(0)?;

    // node4's certificate and configuration, for CARRIER.
    let dir = net.dir().to_str().context("path")?.to_owned();
    let prepared = common::cli(&["dev", "add-node", "--dir", &dir, "--member", "CARRIER"])?;
    ensure!(prepared.exit == 0, "dev add-node: {}", prepared.stderr);
    let node4 = prepared.json()?;
    ensure!(
        node4["raftId"] == 4 && node4["nodeId"] == "node4",
        "{node4}"
    );
    let address = node4["address"].as_str().context("address")?.to_owned();
    let add = [
        "add-node",
        "--raft-id",
        "4",
        "--node-id",
        "node4",
        "--address",
        &address,
    ];

    // Refusals name their rule: a user certificate, another member's admin, a node not there.
    membership_tx(&net, "carrier", &add, "WRONG_CERTIFICATE_KIND")?;
    membership_tx(
        &net,
        "carrier-admin",
        &["promote-node", "--raft-id", "4"],
        "UNKNOWN_NODE",
    )?;
    membership_tx(
        &net,
        "port-admin",
        &["remove-node", "--raft-id", "1"],
        "NODE_OF_ANOTHER_MEMBER",
    )?;
    membership_tx(
        &net,
        "carrier-admin",
        &["remove-node", "--raft-id", "1"],
        "LAST_VOTER",
    )?;
    let added = membership_tx(&net, "carrier-admin", &add, "COMMITTED")?;
    height = height.max(added["height"].as_u64().context("height")?);
    membership_tx(&net, "carrier-admin", &add, "NODE_ALREADY_EXISTS")?;

    // node4 starts empty and is brought up by a snapshot, as a learner.
    let config = std::path::PathBuf::from(node4["config"].as_str().context("config")?);
    let log = config.with_file_name("node.log");
    let mut process = NodeProcess::start(&config, &log)?;
    let (cert, key) = net.identity("carrier")?;
    let mut endpoints = net.endpoints();
    endpoints.push(node4["api"].as_str().context("api")?.to_owned());
    let api = Api::new(
        &std::fs::read_to_string(net.ca_bundle())?,
        &std::fs::read_to_string(cert)?,
        &std::fs::read_to_string(key)?,
        endpoints,
    )?;
    let learner = wait_for("node4 a learner that restored a snapshot", || {
        let s = process.status()?;
        (s["learners"] == json!([4]) && s["snapshotsRestored"].as_u64()? >= 1).then_some(s)
    })?;
    ensure!(learner["voter"] == false, "{learner}");
    process.still_running()?;
    height = agree(&api, &[0, 1, 2, 3], height)?;
    let leader_status = net.status(0).context("node1 status")?;
    ensure!(leader_status["learners"] == json!([4]), "{leader_status}");

    // Promoted, it votes.
    let promoted = membership_tx(
        &net,
        "carrier-admin",
        &["promote-node", "--raft-id", "4"],
        "COMMITTED",
    )?;
    height = height.max(promoted["height"].as_u64().context("height")?);
    wait_for("node4 a voter", || {
        let s = process.status()?;
        (s["voter"] == true && s["voters"] == json!([1, 2, 3, 4])).then_some(())
    })?;
    let me = api.data(3, "{ node { raftId voter voters learners } }", json!({}))?;
    ensure!(
        me["node"] == json!({"raftId": 4, "voter": true, "voters": [1, 2, 3, 4], "learners": []}),
        "{me}"
    );
    let nodes = api.data(
        1,
        "{ network { nodes { raftId nodeId membership member } } }",
        json!({}),
    )?;
    ensure!(
        nodes["network"]["nodes"][3]
            == json!({"raftId": 4, "nodeId": "node4", "membership": "VOTER", "member": "CARRIER"}),
        "{nodes}"
    );
    height = agree(&api, &[0, 1, 2, 3], height)?;

    // The leader removed by its member's admin (four voters leave three): it hands leadership
    // over, the others go on without it, and it stops dialing them.
    let status_of = |i: usize| {
        if i < 3 {
            net.status(i)
        } else {
            process.status()
        }
    };
    let leader = wait_for("a leader", || {
        let id = status_of(1)?["leaderId"].as_u64()?;
        (1..=4).contains(&id).then_some(id)
    })?;
    let admin = ["carrier-admin", "port-admin", "bank-admin", "carrier-admin"][leader as usize - 1];
    let removed = membership_tx(
        &net,
        admin,
        &["remove-node", "--raft-id", &leader.to_string()],
        "COMMITTED",
    )?;
    height = height.max(removed["height"].as_u64().context("height")?);
    let remaining: Vec<u64> = (1..=4).filter(|id| *id != leader).collect();
    for &me in &remaining {
        let peers: Vec<u64> = remaining.iter().copied().filter(|p| *p != me).collect();
        wait_for(&format!("node{me} without node{leader}"), || {
            let s = status_of(me as usize - 1)?;
            (s["voters"] == json!(remaining) && s["peers"] == json!(peers)).then_some(())
        })?;
    }
    wait_for(&format!("the removed node{leader} without peers"), || {
        let s = status_of(leader as usize - 1)?;
        (s["peers"] == json!([])).then_some(())
    })?;
    let indexes: Vec<usize> = remaining.iter().map(|id| *id as usize - 1).collect();
    for (k, &first) in (1..=3).zip(indexes.iter().cycle()) {
        let reference = format!("SLK-MEMBER-{k:03}");
        let file = fixture_as("to-order-bill.json", &reference, docs.path())?;
        let content: Value = serde_json::from_slice(&std::fs::read(file)?)?;
        let envelope = net.sign(
            "carrier",
            doc_body(
                "CARRIER",
                &reference,
                json!({"action": "ISSUE", "content": content, "issueTo": "SHIPPER"}),
            ),
        )?;
        // Through a remaining node (the next ones if it does not answer).
        let result = api.submit_one(first, &envelope)?;
        ensure!(result["status"] == "COMMITTED", "{result}");
        height = height.max(result["height"].as_u64().context("height")?);
    }
    agree(&api, &indexes, height)?;
    process.still_running()?;
    Ok(())
}
