//! E-mail from a network where a member runs two nodes (issue 19). A four-node dev network
//! (CARRIER runs node1 and node4, PORT node2, BANK node3) with an `email` section on every node,
//! each listing its own member's parties, and one real SMTP server (Python's aiosmtpd, the
//! adapters' `tests/support/smtp_sink.py`) on 127.0.0.1.
//!
//! A bill's life from issue to cargo release tells each party once per event: six events, six
//! messages, each from the node of the told party's member, and none from node4, which follows
//! the same chain as node1. CARRIER's mailing node (node1, its lowest raft id) is then killed:
//! node4 follows the chain past the next event without mailing it, and node1, restarted, sends it,
//! once. Stopped, every node's outbox is read back: nothing pending, nothing planned twice. A node
//! whose contacts name another member's party refuses to start.

use crate::common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use adapters::email::Outbox;
use anyhow::{Context as _, Result, bail, ensure};
use common::{DevNet, NodeProcess, fixture_as, log_excerpt, try_wait_for, wait_for};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

/// The members of the dev network's nodes, by index: `pki::dev` spreads node k over CARRIER,
/// PORT and BANK in turn.
const MEMBERS: [&str; 4] = ["CARRIER", "PORT", "BANK", "CARRIER"];

/// The contacts each member's nodes list: its own parties only (SHIPPER and CONSIGNEE are
/// CARRIER's onboarded parties).
fn contacts(member: &str) -> Value {
    match member {
        "CARRIER" => json!({
            "CARRIER": ["docs@carrier.example.test"],
            "SHIPPER": ["exports@shipper.example.test"],
            "CONSIGNEE": ["imports@consignee.example.test"],
        }),
        "PORT" => json!({"PORT": ["gate@port.example.test"]}),
        "BANK" => json!({"BANK": ["desk@bank.example.test"]}),
        other => panic!("no member {other}"),
    }
}

/// Adds an `email` section to node `k`'s (1-based) configuration: the sink's port, a sender
/// that names the node (so a test can tell which node sent a message), `contacts`.
fn configure_email(dir: &Path, k: usize, port: u16, contacts: Value) -> Result<()> {
    let path = dir.join(format!("nodes/node{k}/config.json"));
    let mut config: Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    config["email"] = json!({
        "smtpHost": "127.0.0.1",
        "smtpPort": port,
        "tls": "none",
        "sender": format!("node{k} <ebl@node{k}.example.test>"),
        "contacts": contacts,
        "retry": {"initialMs": 50, "maxMs": 500},
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
    Ok(())
}

/// The SMTP sink, killed when dropped.
struct Sink {
    child: Child,
}

impl Sink {
    fn start(port: u16, dir: &Path) -> Result<Sink> {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../adapters/tests/support/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(dir)
            .stdout(Stdio::piped())
            .spawn()
            .context("python3 must be installed")?;
        let stdout = child.stdout.take().context("piped stdout")?;
        let mut line = String::new();
        // Returns at READY, or at end of output if the sink failed (aiosmtpd missing, port busy).
        BufReader::new(stdout).read_line(&mut line)?;
        if line.trim() != "READY" {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the SMTP sink did not start (is aiosmtpd installed? scripts/test installs it)");
        }
        Ok(Sink { child })
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A received message: envelope recipient, the headers the test reads, body.
#[derive(Debug)]
struct Mail {
    to: String,
    from: String,
    subject: String,
    message_id: String,
    body: String,
}

/// Every message the sink stored, oldest first.
fn received(dir: &Path) -> Result<Vec<Mail>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for path in names {
        let text = std::fs::read_to_string(&path)?.replace("\r\n", "\n");
        let (head, body) = text.split_once("\n\n").context("headers end")?;
        let unfolded = head.replace("\n ", " ").replace("\n\t", " ");
        let mut headers = BTreeMap::new();
        for line in unfolded.lines() {
            let (name, value) = line.split_once(':').context("header line")?;
            headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
        }
        let header = |name: &str| headers.get(name).cloned().unwrap_or_default();
        out.push(Mail {
            to: header("x-envelope-to"),
            from: header("from"),
            subject: header("subject"),
            message_id: header("message-id"),
            body: body.to_owned(),
        });
    }
    Ok(out)
}

/// The last block node `i`'s notifier has queued (`DATA/notified-height`).
fn notified(net: &DevNet, i: usize) -> Option<u64> {
    std::fs::read_to_string(net.data_dir(i).join("notified-height"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Waits until each of `nodes` has queued the mail of every block up to `height`.
fn all_notified(net: &DevNet, nodes: &[usize], height: u64) -> Result<()> {
    wait_for(&format!("nodes {nodes:?} to queue block {height}"), || {
        nodes
            .iter()
            .all(|&i| notified(net, i).is_some_and(|h| h >= height))
            .then_some(())
    })
}

/// Waits until the sink holds `count` messages; fails at once if it holds more.
fn mails(dir: &Path, count: usize) -> Result<Vec<Mail>> {
    try_wait_for(&format!("{count} messages"), || {
        let got = received(dir)?;
        ensure!(
            got.len() <= count,
            "{} messages, expected {count}: {:#?}",
            got.len(),
            got
        );
        Ok((got.len() == count).then_some(got))
    })
}

#[test]
fn a_member_with_two_nodes_sends_each_notification_once() -> Result<()> {
    let _one_at_a_time = common::exclusive();
    let mail_dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let _sink = Sink::start(port, mail_dir.path())?;
    let net = DevNet::start_with(4, |dir| {
        for (i, member) in MEMBERS.iter().enumerate() {
            configure_email(dir, i + 1, port, contacts(member))?;
        }
        Ok(())
    })?;
    let docs = tempfile::tempdir()?;
    let all: Vec<usize> = (0..4).collect();

    // 1. A to-order bill from issue to cargo release: six events, each told to one party but
    //    the release, told to the terminal and to the holder of the release rights.
    const BILL: &str = "CARRIER/SLK-MAIL-001";
    let file = fixture_as("to-order-bill.json", "SLK-MAIL-001", docs.path())?;
    let file = file.to_str().context("path")?;
    net.commit(
        "carrier",
        "issue",
        BILL,
        &["--to", "SHIPPER", "--document", file],
    )?;
    net.commit("shipper", "endorse-to-order", BILL, &["--to", "BANK"])?;
    net.commit("bank", "endorse", BILL, &["--to", "CONSIGNEE"])?;
    net.commit("consignee", "surrender-for-delivery", BILL, &[])?;
    net.commit("carrier", "accept-surrender", BILL, &[])?;
    let release = net.commit("carrier", "release-cargo", BILL, &["--to", "PORT"])?;
    all_notified(&net, &all, release.height().context("height")?)?;
    let got = mails(mail_dir.path(), 7)?;
    let mut seen: Vec<(&str, &str)> = got
        .iter()
        .map(|m| (m.to.as_str(), m.from.as_str()))
        .collect();
    seen.sort();
    // Each from its member's node; CARRIER's parties from node1 (its lowest raft id), never
    // node4.
    let from_node1 = "node1 <ebl@node1.example.test>";
    assert_eq!(
        seen,
        [
            ("desk@bank.example.test", "node3 <ebl@node3.example.test>"),
            ("docs@carrier.example.test", from_node1),
            ("exports@shipper.example.test", from_node1),
            ("gate@port.example.test", "node2 <ebl@node2.example.test>"),
            ("imports@consignee.example.test", from_node1),
            ("imports@consignee.example.test", from_node1),
            ("imports@consignee.example.test", from_node1),
        ]
    );
    let shipper = got
        .iter()
        .find(|m| m.to == "exports@shipper.example.test")
        .context("the shipper's message")?;
    // The told party and why, in words.
    ensure!(
        shipper
            .body
            .starts_with("To: SHIPPER, the bill's new holder\n"),
        "{}",
        shipper.body
    );

    // 2. CARRIER's mailing node is killed. node4 follows the chain past the next event for the
    //    shipper without mailing it: the message waits for node1.
    let node1_pid = net.pid(0);
    common::signal(node1_pid, Signal::SIGKILL)?;
    wait_for("node1 to be gone", || {
        (!common::alive(node1_pid)).then_some(())
    })?;
    const BILL2: &str = "CARRIER/SLK-MAIL-002";
    let file = fixture_as("straight-bill.json", "SLK-MAIL-002", docs.path())?;
    let issue = net.commit(
        "carrier",
        "issue",
        BILL2,
        &[
            "--to",
            "SHIPPER",
            "--document",
            file.to_str().context("path")?,
        ],
    )?;
    let height = issue.height().context("height")?;
    all_notified(&net, &[1, 2, 3], height)?;
    ensure!(received(mail_dir.path())?.len() == 7);

    // 3. node1 comes back, catches up and sends it, once.
    let mut node1 = NodeProcess::start(&net.config(0), &net.log(0))?;
    all_notified(&net, &all, height)?;
    let got = mails(mail_dir.path(), 8)?;
    let late = got
        .iter()
        .find(|m| m.subject.contains("SLK-MAIL-002"))
        .context("the message for the second bill")?;
    ensure!(
        late.to == "exports@shipper.example.test" && late.from == from_node1,
        "{late:?}"
    );
    let mut ids: Vec<&str> = got.iter().map(|m| m.message_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    ensure!(ids.len() == 8, "{ids:?}");

    // 4. Stopped, each outbox holds exactly what its node sent: nothing pending, no message
    //    planned by two nodes.
    common::signal(node1.pid(), Signal::SIGTERM)?;
    ensure!(node1.wait_exit()?.success(), "{}", log_excerpt(&net.log(0)));
    for i in 1..4 {
        let pid = net.pid(i);
        common::signal(pid, Signal::SIGTERM)?;
        wait_for(&format!("node{} to stop", i + 1), || {
            (!common::alive(pid)).then_some(())
        })?;
    }
    let mut sent_by = Vec::new();
    for i in all {
        let outbox = Outbox::open(&net.data_dir(i).join("outbox.redb"))?;
        ensure!(outbox.pending()?.is_empty() && outbox.failed()?.is_empty());
        sent_by.push(outbox.sent()?.len());
    }
    assert_eq!(sent_by, [6, 1, 1, 0]);
    ensure!(received(mail_dir.path())?.len() == 8);

    // 5. A node whose contacts name another member's party refuses to start, saying which.
    configure_email(
        net.dir(),
        2,
        port,
        json!({"PORT": ["gate@port.example.test"], "SHIPPER": ["exports@shipper.example.test"]}),
    )?;
    let mut node2 = NodeProcess::start(&net.config(1), &net.log(1))?;
    ensure!(!node2.wait_exit()?.success());
    let log = std::fs::read_to_string(net.log(1))?;
    ensure!(
        log.contains("party SHIPPER, which member CARRIER sponsors"),
        "{}",
        log_excerpt(&net.log(1))
    );
    Ok(())
}
