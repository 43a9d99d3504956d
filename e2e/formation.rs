//! A consortium formed by its members, each from its own directory (issue 14): CARRIER, PORT
//! and BANK each run `silkline member init`, `issue-node` and `issue-user` on their own
//! directory while the other two members' directories are not there at all (moved away), so a
//! command that read another member's file would fail; they exchange only public files
//! (`member.json`, node certificates); `silkline genesis assemble` runs with no member
//! directory present, from those files alone; every member checks the genesis hash and writes
//! its node's configuration with `member node-config`. Three nodes on 127.0.0.2-4 (PORT's
//! named `localhost:PORT` in the genesis, a DNS name its peers resolve) elect a leader; a user
//! of CARRIER issues a bill to SHIPPER (a party CARRIER sponsors), SHIPPER's user endorses it
//! to BANK, and BANK's own user endorses it on; CARRIER revokes SHIPPER's user with
//! `member revoke` and publishes the list with `tx revoke --crl`, and that user is refused.

use crate::common;

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, ensure};
use common::{Api, CliOut, NodeProcess, cli, wait_for};
use serde_json::{Value, json};

/// The founding members: code, name, role, loopback address of their node, whether they
/// issue from an intermediate, their CA's algorithm.
const MEMBERS: [(&str, &str, &str, Ipv4Addr, bool, &str); 3] = [
    (
        "CARRIER",
        "Silkline Shipping Line",
        "CARRIER",
        Ipv4Addr::new(127, 0, 0, 2),
        false,
        "ed25519",
    ),
    (
        "PORT",
        "Silkline Container Terminal",
        "PORT",
        Ipv4Addr::new(127, 0, 0, 3),
        true,
        "ed25519",
    ),
    (
        "BANK",
        "Silkline Trade Bank",
        "BANK",
        Ipv4Addr::new(127, 0, 0, 4),
        false,
        "p256",
    ),
];

/// Where a member's node listens for Raft: PORT's is named `localhost` in the genesis, so it
/// listens where `localhost` leads; the others on their own loopback address.
fn raft_ip(code: &str, ip: Ipv4Addr) -> Ipv4Addr {
    if code == "PORT" {
        Ipv4Addr::LOCALHOST
    } else {
        ip
    }
}

/// Where the members' directories live, and where the others' go while one member works.
struct Workspace {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Workspace {
    fn new() -> Result<Workspace> {
        let tmp = tempfile::Builder::new()
            .prefix("silkline-e2e-formation-")
            .tempdir()?;
        let root = tmp.path().canonicalize()?;
        for sub in ["home", "away", "exchange"] {
            std::fs::create_dir(root.join(sub))?;
        }
        Ok(Workspace { _tmp: tmp, root })
    }

    /// A member's directory, where it works.
    fn home(&self, code: &str) -> PathBuf {
        self.root.join("home").join(code.to_ascii_lowercase())
    }

    fn away(&self, code: &str) -> PathBuf {
        self.root.join("away").join(code.to_ascii_lowercase())
    }

    /// The public files the members send each other.
    fn exchange(&self) -> PathBuf {
        self.root.join("exchange")
    }

    /// Runs `work` with only `present` members' directories at home (the others moved away, so
    /// no path to their files exists while it runs), then brings everyone back.
    fn with_only(&self, present: &[&str], work: impl FnOnce() -> Result<()>) -> Result<()> {
        let absent: Vec<&str> = MEMBERS
            .iter()
            .map(|m| m.0)
            .filter(|c| !present.contains(c) && self.home(c).exists())
            .collect();
        for code in &absent {
            std::fs::rename(self.home(code), self.away(code))?;
        }
        let result = work();
        for code in &absent {
            std::fs::rename(self.away(code), self.home(code))?;
        }
        result
    }
}

/// Runs the CLI; it must succeed and print JSON.
fn ok_json(args: &[&str]) -> Result<Value> {
    let out = cli(args)?;
    ensure!(
        out.exit == 0,
        "silkline {args:?}: exit {}: {}",
        out.exit,
        out.stderr
    );
    out.json()
}

fn s(p: &Path) -> Result<&str> {
    p.to_str().context("a UTF-8 path")
}

/// A free port on `ip`, released for the node to bind (another process could take it in
/// between; a test on loopback accepts that).
fn free_port(ip: Ipv4Addr) -> Result<u16> {
    Ok(TcpListener::bind((ip, 0))?.local_addr()?.port())
}

/// An identity of a member's directory and the endpoints to talk through.
struct Client<'a> {
    cert: PathBuf,
    key: PathBuf,
    ca: &'a Path,
    endpoints: &'a [String],
}

impl Client<'_> {
    /// `silkline tx --endpoint ... --cert --key --ca ACTION DOCUMENT EXTRA...`.
    fn tx(&self, action: &str, document: Option<&str>, extra: &[&str]) -> Result<CliOut> {
        let mut args = vec!["tx"];
        for e in self.endpoints {
            args.extend(["--endpoint", e.as_str()]);
        }
        args.extend([
            "--cert",
            s(&self.cert)?,
            "--key",
            s(&self.key)?,
            "--ca",
            s(self.ca)?,
            action,
        ]);
        args.extend(document);
        args.extend(extra);
        cli(&args)
    }

    fn commit(&self, action: &str, document: Option<&str>, extra: &[&str]) -> Result<Value> {
        let out = self.tx(action, document, extra)?;
        let json = out.json().with_context(|| format!("{out:?}"))?;
        ensure!(
            out.exit == 0 && json["status"] == "COMMITTED",
            "{action} {document:?} {extra:?}: {json} {}",
            out.stderr
        );
        Ok(json)
    }

    fn api(&self) -> Result<Api> {
        Api::new(
            &std::fs::read_to_string(self.ca)?,
            &std::fs::read_to_string(&self.cert)?,
            &std::fs::read_to_string(&self.key)?,
            self.endpoints.to_vec(),
        )
    }
}

#[test]
fn three_members_form_a_consortium_from_their_own_directories_and_trade_a_bill() -> Result<()> {
    let _one_at_a_time = common::exclusive();
    let ws = Workspace::new()?;
    let exchange = ws.exchange();

    // Each member, alone: its CA, its node's certificate, its users.
    let mut raft_ports = Vec::new();
    let mut api_ports = Vec::new();
    for (code, name, role, ip, intermediate, algorithm) in MEMBERS {
        let dir = ws.home(code);
        ws.with_only(&[code], || {
            let mut init = vec![
                "member",
                "init",
                "--dir",
                s(&dir)?,
                "--code",
                code,
                "--name",
                name,
                "--role",
                role,
                "--algorithm",
                algorithm,
            ];
            if intermediate {
                init.push("--intermediate");
            }
            ok_json(&init)?;
            // A second init on the same directory is refused: it holds keys.
            let again = cli(&init)?;
            ensure!(
                again.exit == 1 && again.stderr.contains("MEMBER_DIR_NOT_EMPTY"),
                "{again:?}"
            );
            let node_id = format!("{}-1", code.to_ascii_lowercase());
            let ip_text = ip.to_string();
            let node = ok_json(&[
                "member",
                "issue-node",
                "--dir",
                s(&dir)?,
                "--node-id",
                &node_id,
                "--ip",
                &ip_text,
                "--host",
                "localhost",
            ])?;
            ensure!(
                node["tlsCertificateSha256"].as_str().map(str::len) == Some(64),
                "{node}"
            );
            ok_json(&[
                "member",
                "issue-user",
                "--dir",
                s(&dir)?,
                "--party",
                code,
                "--name",
                &format!("{name} desk"),
            ])?;
            if code == "CARRIER" {
                ok_json(&[
                    "member",
                    "issue-user",
                    "--dir",
                    s(&dir)?,
                    "--party",
                    "SHIPPER",
                    "--name",
                    "Sam Shipper",
                    "--party-name",
                    "Silk Road Exporters Ltd",
                ])?;
            }
            // What the member sends the others: its bundle and its node's certificate.
            let lower = code.to_ascii_lowercase();
            std::fs::copy(
                dir.join("member.json"),
                exchange.join(format!("{lower}.json")),
            )?;
            std::fs::copy(
                dir.join(format!("nodes/{node_id}.crt")),
                exchange.join(format!("{node_id}.crt")),
            )?;
            Ok(())
        })?;
        raft_ports.push(free_port(raft_ip(code, ip))?);
        api_ports.push(free_port(ip)?);
    }
    // Nothing secret crossed.
    for entry in std::fs::read_dir(&exchange)? {
        let path = entry?.path();
        let text = std::fs::read_to_string(&path)?;
        ensure!(!text.contains("PRIVATE KEY"), "{}", path.display());
    }

    // The genesis, from the public files alone: no member's directory is there.
    let genesis = exchange.join("genesis.json");
    let nodes: Vec<String> = MEMBERS
        .iter()
        .zip(&raft_ports)
        .enumerate()
        .map(|(i, ((code, _, _, ip, _, _), port))| {
            // PORT's node is named by a host name its peers resolve at each dial.
            let host = if *code == "PORT" {
                "localhost".to_owned()
            } else {
                ip.to_string()
            };
            let lower = code.to_ascii_lowercase();
            Ok(format!(
                "{}={code}@{host}:{port}={}",
                i + 1,
                s(&exchange.join(format!("{lower}-1.crt")))?
            ))
        })
        .collect::<Result<_>>()?;
    let mut assemble = vec!["genesis", "assemble", "--network-id", "silkline-formed"];
    let bundles: Vec<PathBuf> = MEMBERS
        .iter()
        .map(|m| exchange.join(format!("{}.json", m.0.to_ascii_lowercase())))
        .collect();
    for b in &bundles {
        assemble.extend(["--member", s(b)?]);
    }
    for n in &nodes {
        assemble.extend(["--node", n.as_str()]);
    }
    assemble.extend(["--out", s(&genesis)?]);
    let mut hash = String::new();
    ws.with_only(&[], || {
        // A bundle given twice is refused, naming the rule, and writes nothing.
        let mut twice = assemble.clone();
        twice.extend(["--member", s(&bundles[0])?]);
        let refused = cli(&twice)?;
        ensure!(
            refused.exit == 1 && refused.stderr.contains("DUPLICATE_MEMBER"),
            "{refused:?}"
        );
        ensure!(!genesis.exists());
        let assembled = ok_json(&assemble)?;
        hash = assembled["genesisHash"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        ensure!(
            assembled["parties"] == json!(["CARRIER", "PORT", "BANK", "SHIPPER"]),
            "{assembled}"
        );
        Ok(())
    })?;
    ensure!(hash.len() == 64, "{hash}");
    let ca_bundle = exchange.join("ca.pem");
    let ca = cli(&["genesis", "ca-bundle", "--file", s(&genesis)?])?;
    ensure!(ca.exit == 0, "{ca:?}");
    std::fs::write(&ca_bundle, &ca.stdout)?;

    // Every member checks the hash and configures its own node.
    let mut configs = Vec::new();
    for (i, (code, _, _, ip, _, _)) in MEMBERS.iter().enumerate() {
        let dir = ws.home(code);
        let config = dir.join("node/config.json");
        ws.with_only(&[code], || {
            let checked = cli(&["genesis", "hash", "--file", s(&genesis)?])?;
            ensure!(checked.stdout.trim() == hash, "{checked:?}");
            let listen = format!("{}:{}", raft_ip(code, *ip), raft_ports[i]);
            let api = format!("{ip}:{}", api_ports[i]);
            ok_json(&[
                "member",
                "node-config",
                "--dir",
                s(&dir)?,
                "--genesis",
                s(&genesis)?,
                "--node-id",
                &format!("{}-1", code.to_ascii_lowercase()),
                "--listen",
                &listen,
                "--api",
                &api,
                "--out",
                s(&config)?,
            ])?;
            Ok(())
        })?;
        let text = std::fs::read_to_string(&config)?;
        // Only this member's key is named.
        for (other, ..) in MEMBERS.iter().filter(|m| m.0 != *code) {
            ensure!(
                !text.contains(&format!("/{}/", other.to_ascii_lowercase())),
                "{code}'s configuration names {other}'s directory: {text}"
            );
        }
        configs.push(config);
    }
    let carrier_config: Value = serde_json::from_str(&std::fs::read_to_string(&configs[0])?)?;
    ensure!(
        carrier_config["peers"]["2"]["address"] == format!("localhost:{}", raft_ports[1]),
        "{carrier_config}"
    );

    // Three nodes, each from its member's configuration.
    let mut processes = Vec::new();
    for config in &configs {
        let log = config.with_file_name("node.log");
        processes.push(NodeProcess::start(config, &log)?);
    }
    wait_for("a leader every node knows", || {
        let leaders: Vec<u64> = processes
            .iter()
            .map(|p| p.status().and_then(|s| s["leaderId"].as_u64()))
            .collect::<Option<_>>()?;
        (leaders[0] != 0 && leaders.iter().all(|l| *l == leaders[0])).then_some(())
    })
    .with_context(|| {
        configs
            .iter()
            .map(|c| common::log_excerpt(&c.with_file_name("node.log")))
            .collect::<Vec<_>>()
            .join("\n")
    })?;

    // A bill between the members' users.
    let endpoints: Vec<String> = MEMBERS
        .iter()
        .zip(&api_ports)
        .map(|(m, port)| format!("https://{}:{port}/graphql", m.3))
        .collect();
    let identity = |code: &str, stem: &str| Client {
        cert: ws.home(code).join(format!("identities/{stem}.crt")),
        key: ws.home(code).join(format!("identities/{stem}.key")),
        ca: &ca_bundle,
        endpoints: &endpoints,
    };
    let carrier = identity("CARRIER", "silkline-shipping-line-desk");
    let shipper = identity("CARRIER", "sam-shipper");
    let bank = identity("BANK", "silkline-trade-bank-desk");
    let carrier_admin = identity("CARRIER", "admin");
    const BILL: &str = "CARRIER/FORMED-001";
    let document = common::fixture_as("to-order-bill.json", "FORMED-001", &exchange)?;
    let issued = carrier.commit(
        "issue",
        Some(BILL),
        &["--to", "SHIPPER", "--document", s(&document)?],
    )?;
    ensure!(
        issued["documents"][0]["reference"] == "FORMED-001",
        "{issued}"
    );
    shipper.commit("endorse-to-order", Some(BILL), &["--to", "BANK"])?;
    bank.commit("endorse-to-order", Some(BILL), &["--to", "SHIPPER"])?;
    let shown = cli(&[
        "doc",
        "show",
        BILL,
        "--endpoint",
        &endpoints[2],
        "--cert",
        s(&bank.cert)?,
        "--key",
        s(&bank.key)?,
        "--ca",
        s(&ca_bundle)?,
    ])?;
    ensure!(shown.exit == 0, "{shown:?}");
    let doc = shown.json()?;
    ensure!(
        doc["possessor"] == "SHIPPER" && doc["endorsee"] == "SHIPPER",
        "{doc:#}"
    );
    let actors: Vec<&str> = doc["history"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|h| h["actor"].as_str())
        .collect();
    ensure!(actors == ["CARRIER", "SHIPPER", "BANK"], "{doc:#}");

    // CARRIER revokes its shipper user on its own machine and publishes the list.
    let mut revoked = Value::Null;
    ws.with_only(&["CARRIER"], || {
        revoked = ok_json(&[
            "member",
            "revoke",
            "--dir",
            s(&ws.home("CARRIER"))?,
            "--cert",
            s(&shipper.cert)?,
        ])?;
        Ok(())
    })?;
    ensure!(revoked["crlNumber"] == 2, "{revoked}");
    let crl = ws.home("CARRIER").join("crl.pem");
    let published = carrier_admin.commit("revoke", None, &["--crl", s(&crl)?])?;
    ensure!(published["crlNumber"] == 2, "{published}");
    // Its transactions are refused by every node, and its CLI is turned away at the handshake.
    let api = carrier.api()?;
    for i in 0..3 {
        let jws = common::sign_pem(
            &std::fs::read_to_string(&shipper.key)?,
            &std::fs::read_to_string(&shipper.cert)?,
            "silkline-formed",
            common::doc_body("CARRIER", "FORMED-001", json!({"action": "SIGN"})),
            &common::nonce(),
        )?;
        let result = &api.submit(i, &[jws])?[0];
        ensure!(
            result["status"] == "REFUSED" && result["code"] == "CERTIFICATE_REVOKED",
            "node {i}: {result:#}"
        );
    }
    let locked_out = shipper.tx("sign", Some(BILL), &[])?;
    ensure!(
        locked_out.exit == 1 && locked_out.stdout.is_empty(),
        "a revoked certificate connected: {locked_out:?}"
    );

    // Every node holds the same chain.
    wait_for("every node at the same height and state hash", || {
        let seen: Vec<Value> = (0..3)
            .map(|i| {
                api.data(i, "{ node { height blockHash stateHash } }", json!({}))
                    .ok()
                    .map(|d| d["node"].clone())
            })
            .collect::<Option<_>>()?;
        (seen[0]["height"].as_u64()? >= 4 && seen.iter().all(|n| *n == seen[0])).then_some(())
    })?;
    for p in &mut processes {
        p.still_running()?;
    }
    Ok(())
}
