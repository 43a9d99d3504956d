//! The `silkline` binary as real processes on loopback: `dev init`, three `node run`s that elect
//! a leader and agree, kill -9 of the leader, re-election, rejoin after restart, refusal of a
//! node of another genesis, and a clean exit on SIGTERM. Observed through each node's
//! `status.json`. Then hostile input against a `dev up` network (the end-to-end helpers of
//! `e2e/common`): a peer with a foreign CA's certificate, bad frames on the Raft port, a garbage
//! JWS and a foreign member's transaction through GraphQL; each refused with a clear line in
//! the node's log while the network keeps serving.

use crate::common;
use crate::common as e2e;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, ensure};
use common::{DEADLINE, NodeProcess, silkline, wait_for};
use nix::sys::signal::Signal;
use pki::dev::{Consortium, ConsortiumSpec, generate_consortium};
use pki::{NodeId, TrustStore};
use replication::transport::wire::{self, Hello};
use replication::transport::{Counters, NodeCredentials, tls};
use serde_json::{Value, json};

/// `silkline node run` of a node of a `dev init` directory, its output in `node.log` beside its
/// configuration.
fn node_process(config: &Path) -> Result<NodeProcess> {
    NodeProcess::start(config, &config.with_file_name("node.log"))
}

fn dev_init(dir: &Path, nodes: usize) -> Result<()> {
    let out = silkline()
        .args(["dev", "init", "--dir"])
        .arg(dir)
        .args(["--nodes", &nodes.to_string()])
        .output()?;
    ensure!(
        out.status.success(),
        "dev init failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn config_of(dir: &Path, node: usize) -> PathBuf {
    dir.join(format!("nodes/node{node}/config.json"))
}

/// The agreed view of `nodes`: every one has a status, exactly one is leader, all name it, and
/// all have the same term, applied index and state hash. Returns (leader raft id, term,
/// applied index, state hash).
fn agreement(nodes: &[&NodeProcess]) -> Option<(u64, u64, u64, String)> {
    let statuses: Vec<Value> = nodes.iter().map(|n| n.status()).collect::<Option<_>>()?;
    let leaders: Vec<&Value> = statuses.iter().filter(|s| s["role"] == "leader").collect();
    let [leader] = leaders[..] else { return None };
    let first = &statuses[0];
    let agreed = statuses.iter().all(|s| {
        s["leaderId"] == leader["raftId"]
            && s["term"] == first["term"]
            && s["appliedIndex"] == first["appliedIndex"]
            && s["stateHash"] == first["stateHash"]
    });
    agreed.then(|| {
        (
            leader["raftId"].as_u64().unwrap_or(0),
            first["term"].as_u64().unwrap_or(0),
            first["appliedIndex"].as_u64().unwrap_or(0),
            first["stateHash"].as_str().unwrap_or("").to_owned(),
        )
    })
}

#[test]
fn three_nodes_agree_survive_a_leader_kill_rejoin_and_stop_on_sigterm() -> Result<()> {
    let _one_at_a_time = common::exclusive();
    let dir = tempfile::tempdir()?;
    dev_init(dir.path(), 3)?;
    let mut nodes = (1..=3)
        .map(|k| node_process(&config_of(dir.path(), k)))
        .collect::<Result<Vec<_>>>()?;

    let (leader, term, applied, _) = wait_for("a leader and agreement of 3 nodes", || {
        agreement(&nodes.iter().collect::<Vec<_>>())
    })?;
    // Genesis is index 1; a new leader's first entry (an empty one) commits at 2 or later.
    assert!(applied >= 2, "applied {applied}");

    let leader_at = usize::try_from(leader)? - 1;
    nodes[leader_at].kill9()?;
    let survivors: Vec<usize> = (0..3).filter(|i| *i != leader_at).collect();
    let (new_leader, _, new_applied, new_hash) =
        wait_for("a new leader among the 2 survivors", || {
            let live: Vec<&NodeProcess> = survivors.iter().map(|i| &nodes[*i]).collect();
            agreement(&live).filter(|(_, t, a, _)| *t > term && *a > applied)
        })?;
    assert_ne!(new_leader, leader);

    nodes[leader_at] = node_process(&config_of(dir.path(), leader_at + 1))?;
    let (_, _, rejoined_applied, rejoined_hash) =
        wait_for("the restarted node to rejoin and agree", || {
            agreement(&nodes.iter().collect::<Vec<_>>()).filter(|(_, _, a, _)| *a >= new_applied)
        })?;
    if rejoined_applied == new_applied {
        assert_eq!(rejoined_hash, new_hash);
    }
    let restarted = nodes[leader_at].status().context("status")?;
    assert!(restarted["blockHeight"].is_u64(), "{restarted}");

    for node in &mut nodes {
        common::signal(node.pid(), Signal::SIGTERM)?;
        let status = node.wait_exit()?;
        assert!(status.success(), "exit status {status:?}");
    }
    Ok(())
}

#[test]
fn a_node_with_another_genesis_is_refused_by_its_peers() -> Result<()> {
    let _one_at_a_time = common::exclusive();
    let dir = tempfile::tempdir()?;
    dev_init(dir.path(), 3)?;
    // Nodes 1 and 2 are a quorum of 3.
    let nodes = (1..=2)
        .map(|k| node_process(&config_of(dir.path(), k)))
        .collect::<Result<Vec<_>>>()?;
    wait_for("a leader between nodes 1 and 2", || {
        agreement(&nodes.iter().collect::<Vec<_>>())
    })?;

    // Node 3's identity and certificate, but a genesis of another network.
    let rogue_dir = dir.path().join("nodes/rogue");
    std::fs::create_dir_all(&rogue_dir)?;
    let mut genesis: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("genesis.json"))?)?;
    genesis["networkId"] = "silkline-rogue".into();
    std::fs::write(rogue_dir.join("genesis.json"), genesis.to_string())?;
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(config_of(dir.path(), 3))?)?;
    config["genesis"] = "genesis.json".into();
    // Its other files are node 3's, one directory over.
    for key in ["publicCertificateChain", "publicPrivateKey"] {
        if let Some(file) = config[key].as_str() {
            config[key] = format!("../node3/{file}").into();
        }
    }
    let free = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    config["listen"] = free.to_string().into();
    std::fs::write(rogue_dir.join("config.json"), config.to_string())?;
    let rogue = node_process(&rogue_dir.join("config.json"))?;

    wait_for("both peers to refuse the rogue's genesis", || {
        nodes
            .iter()
            .all(|n| {
                n.status()
                    .is_some_and(|s| s["transport"]["refusedGenesis"].as_u64() > Some(0))
            })
            .then_some(())
    })?;
    let status = wait_for("the rogue's status", || rogue.status())?;
    assert!(
        status["appliedIndex"].as_u64() <= Some(1),
        "beyond its own genesis: {status}"
    );
    assert_ne!(status["role"], "leader", "{status}");
    assert_eq!(status["transport"]["connectionsOutbound"], 0, "{status}");
    Ok(())
}

#[test]
fn dev_init_refuses_a_directory_that_holds_a_genesis() -> Result<()> {
    let _one_at_a_time = common::exclusive();
    let dir = tempfile::tempdir()?;
    dev_init(dir.path(), 1)?;
    let before = std::fs::read(dir.path().join("genesis.json"))?;
    let out = silkline()
        .args(["dev", "init", "--dir"])
        .arg(dir.path())
        .output()?;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refusing to overwrite"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(dir.path().join("genesis.json"))?, before);
    Ok(())
}

// ----- hostile input against a running network ------------------------------------------------

/// A node certificate's chain and key from a `pki::dev` consortium directory.
pub(crate) fn node_credentials(consortium: &Consortium, name: &str) -> Result<NodeCredentials> {
    let id = consortium
        .identity(name)
        .with_context(|| format!("no identity {name}"))?;
    Ok(NodeCredentials::from_pem_files(
        &consortium.path(&id.cert),
        &consortium.path(&id.key),
    )?)
}

/// Where node `i` of `net` listens for its peers.
pub(crate) fn raft_address(net: &e2e::DevNet, i: usize) -> Result<SocketAddr> {
    let config: Value = serde_json::from_slice(&std::fs::read(net.config(i))?)?;
    Ok(config["listen"].as_str().context("listen")?.parse()?)
}

/// The network's genesis hash, as the transport hello carries it.
fn genesis_hash(net: &e2e::DevNet) -> Result<[u8; 32]> {
    let genesis: ledger::Genesis =
        serde_json::from_slice(&std::fs::read(net.dir().join("genesis.json"))?)?;
    Ok(genesis.genesis_hash().0)
}

/// A Raft-port connection spoken by hand: TLS 1.3 as a node dialing `server` (verified through
/// `trust`), presenting `credentials`. Blocking, every read bounded by [`DEADLINE`].
pub(crate) struct RawPeer {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    /// Our end of the connection: how the node's log names it.
    local: SocketAddr,
}

impl RawPeer {
    pub(crate) fn dial(
        addr: SocketAddr,
        credentials: &NodeCredentials,
        trust: &TrustStore,
        server: &str,
    ) -> Result<RawPeer> {
        let config = tls::client_config(
            &tls::identity(credentials)?,
            &tls::shared(trust),
            NodeId::new(server).map_err(anyhow::Error::msg)?,
            None,
            Arc::new(Counters::default()),
        )?;
        let tcp = TcpStream::connect(addr)?;
        tcp.set_read_timeout(Some(DEADLINE))?;
        tcp.set_write_timeout(Some(DEADLINE))?;
        let local = tcp.local_addr()?;
        let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
        let conn = rustls::ClientConnection::new(Arc::new(config), name)?;
        Ok(RawPeer {
            tls: rustls::StreamOwned::new(conn, tcp),
            local,
        })
    }

    /// The leaf certificate the node presented, once the handshake is complete.
    pub(crate) fn presented_leaf(&mut self) -> Result<Vec<u8>> {
        while self.tls.conn.is_handshaking() {
            self.tls.conn.complete_io(&mut self.tls.sock)?;
        }
        Ok(self
            .tls
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .context("no certificate presented")?
            .as_ref()
            .to_vec())
    }

    /// Sends `hello` as a frame and reads the node's; `Err` if the node refused us on the way
    /// (TLS 1.3 lets a client finish its handshake before the server has judged its
    /// certificate, so a refusal arrives as an alert on the first read).
    fn hello(&mut self, hello: &Hello) -> Result<Hello> {
        let body = hello.encode();
        self.tls.write_all(&(body.len() as u32).to_be_bytes())?;
        self.tls.write_all(&body)?;
        self.tls.flush()?;
        let mut header = [0u8; wire::FRAME_HEADER_BYTES];
        self.tls.read_exact(&mut header)?;
        let len = u32::from_be_bytes(header) as usize;
        ensure!(len <= wire::HELLO_BYTES_MAX, "hello of {len} bytes");
        let mut body = vec![0u8; len];
        self.tls.read_exact(&mut body)?;
        Ok(Hello::decode(&body)?)
    }

    /// Whether the node closed the connection (end of stream or an error) within the deadline.
    fn closed_by_node(&mut self) -> bool {
        let mut buf = [0u8; 64];
        match self.tls.read(&mut buf) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }
}

/// Whether `line` contains every one of `needles`, and `token` (if any) as a whole
/// whitespace-separated word: `addr=127.0.0.1:4000` must not match `addr=127.0.0.1:40001`.
fn log_line_matches(line: &str, needles: &[&str], token: Option<&str>) -> bool {
    needles.iter().all(|n| line.contains(n))
        && token.is_none_or(|t| line.split_whitespace().any(|w| w == t))
}

/// The first line of `log` that [matches](log_line_matches), once one does.
fn wait_for_log_line(
    log: &Path,
    what: &str,
    needles: &[&str],
    token: Option<&str>,
) -> Result<String> {
    wait_for(what, || {
        let text = std::fs::read_to_string(log).ok()?;
        text.lines()
            .find(|l| log_line_matches(l, needles, token))
            .map(str::to_owned)
    })
    .with_context(|| format!("in {}", log.display()))
}

/// Issues a new bill `reference` through node `i` and requires it committed: the network serves.
fn issue_committed(net: &e2e::DevNet, api: &e2e::Api, i: usize, reference: &str) -> Result<u64> {
    let mut content = e2e::fixture("to-order-bill.json")?;
    content["transportDocumentReference"] = json!(reference);
    let envelope = net.sign(
        "carrier",
        e2e::doc_body(
            "CARRIER",
            reference,
            json!({"action": "ISSUE", "content": content, "issueTo": "SHIPPER"}),
        ),
    )?;
    let result = api.submit_one(i, &envelope)?;
    ensure!(result["status"] == "COMMITTED", "{reference}: {result}");
    result["height"].as_u64().context("height")
}

fn now_unix_s() -> i64 {
    i64::try_from(e2e::now_ms() / 1000).unwrap_or(i64::MAX)
}

#[test]
fn a_peer_with_a_certificate_from_a_foreign_ca_is_refused_and_the_network_keeps_serving()
-> Result<()> {
    let _one_at_a_time = common::exclusive();
    let net = e2e::DevNet::start(3)?;
    let api = net.api("carrier")?;
    let before = issue_committed(&net, &api, 0, "SLK-FOREIGN-PEER-1")?;

    // A second consortium with the same member codes and node ids: its "node3" certificate
    // names node3, but chains to a CA that is no member of this network.
    let foreign_dir = tempfile::tempdir()?;
    let foreign = generate_consortium(&ConsortiumSpec::dev(3), foreign_dir.path(), now_unix_s())?;
    let impostor = node_credentials(&foreign, "node3")?;
    // It trusts the network's CAs, so it gets as far as presenting its certificate.
    let trust = Consortium::open(&net.pki_dir())?.trust_store()?;
    let node1 = raft_address(&net, 0)?;
    let mut peer = RawPeer::dial(node1, &impostor, &trust, "node1")?;
    let hello = Hello {
        raft_id: 3,
        node_id: NodeId::new("node3").map_err(anyhow::Error::msg)?,
        genesis_hash: genesis_hash(&net)?,
    };
    let answered = peer.hello(&hello);
    ensure!(
        answered.is_err() || peer.closed_by_node(),
        "node1 answered a foreign certificate's hello: {answered:?}"
    );

    // node1 says why, and names the connection it refused.
    let log = net.log(0);
    let reason = wait_for_log_line(
        &log,
        "node1 logging the refused certificate",
        &["WARN", "refused a connecting client", "certificate refused"],
        None,
    )?;
    // The foreign CA bears the same name as the member's: the path reaches the member's CA by
    // name, and then the signature on the impostor's certificate does not verify.
    assert!(
        reason.contains("a signature in the chain does not verify")
            || reason.contains("does not lead to the CA of any member"),
        "{reason}"
    );
    let addr = format!("addr={}", peer.local);
    wait_for_log_line(
        &log,
        "node1 logging the refused connection",
        &["WARN", "refused an inbound connection"],
        Some(&addr),
    )?;
    let status = wait_for("node1 counting the refusal", || {
        net.status(0)
            .filter(|s| s["transport"]["refusedCertificate"].as_u64() >= Some(1))
    })?;
    assert!(
        status["transport"]["handshakesFailed"].as_u64() >= Some(1),
        "{status}"
    );

    // The network keeps serving: a new transaction commits and every node agrees.
    let after = issue_committed(&net, &api, 1, "SLK-FOREIGN-PEER-2")?;
    assert!(after > before, "height {after} after {before}");
    net.converged(&api, after)?;
    // The impostor never became a connected peer.
    let text = std::fs::read_to_string(&log)?;
    let connected: Vec<&str> = text
        .lines()
        .filter(|l| log_line_matches(l, &["peer connected"], Some(&addr)))
        .collect();
    assert!(connected.is_empty(), "{connected:?}");
    Ok(())
}

#[test]
fn bad_frames_a_garbage_jws_and_a_foreign_transaction_are_refused_and_the_node_keeps_serving()
-> Result<()> {
    let _one_at_a_time = common::exclusive();
    let net = e2e::DevNet::start(3)?;
    let api = net.api("carrier")?;
    let before = issue_committed(&net, &api, 0, "SLK-BAD-INPUT-1")?;
    let log = net.log(0);

    // Bad frames on node1's Raft port, each on a connection that is otherwise genuine (node3's
    // certificate and hello): node1 closes that connection, and only that one.
    let ours = Consortium::open(&net.pki_dir())?;
    let trust = ours.trust_store()?;
    let node3 = node_credentials(&ours, "node3")?;
    let node1 = raft_address(&net, 0)?;
    let hello = Hello {
        raft_id: 3,
        node_id: NodeId::new("node3").map_err(anyhow::Error::msg)?,
        genesis_hash: genesis_hash(&net)?,
    };
    let frames: [(&str, Vec<u8>, &str); 2] = [
        // A header announcing 100 bytes, then 10 and the end of the stream.
        (
            "truncated",
            [&100u32.to_be_bytes()[..], &[0u8; 10]].concat(),
            "connection ended inside a frame",
        ),
        // A length far over the frame limit.
        (
            "oversized",
            u32::MAX.to_be_bytes().to_vec(),
            "exceeds the limit",
        ),
    ];
    for (what, bytes, reason) in frames {
        let mut peer = RawPeer::dial(node1, &node3, &trust, "node1")?;
        let answer = peer
            .hello(&hello)
            .with_context(|| format!("{what}: hello"))?;
        assert_eq!(answer.raft_id, 1, "{what}");
        peer.tls.write_all(&bytes)?;
        if what == "truncated" {
            peer.tls.conn.send_close_notify();
            peer.tls.flush()?;
            peer.tls.sock.shutdown(std::net::Shutdown::Write)?;
        } else {
            peer.tls.flush()?;
            assert!(peer.closed_by_node(), "{what}: connection left open");
        }
        let addr = format!("addr={}", peer.local);
        let line = wait_for_log_line(
            &log,
            &format!("node1 logging the {what} frame"),
            &["WARN", "closing connection from peer: bad frame"],
            Some(&addr),
        )?;
        assert!(line.contains(reason), "{what}: {line}");
    }
    let status = wait_for("node1 counting both bad frames", || {
        net.status(0)
            .filter(|s| s["transport"]["closedBadFrame"].as_u64() == Some(2))
    })?;
    assert_eq!(
        status["pid"].as_u64(),
        Some(u64::from(net.pid(0))),
        "{status}"
    );

    // Through GraphQL: a garbage JWS, and a transaction signed by the user "carrier" of another
    // consortium with the same member codes (so only the CA tells them apart).
    let foreign_dir = tempfile::tempdir()?;
    let foreign = generate_consortium(&ConsortiumSpec::dev(3), foreign_dir.path(), now_unix_s())?;
    let foreign_user = foreign.identity("carrier").context("foreign carrier")?;
    let foreign_tx = e2e::sign_pem(
        &std::fs::read_to_string(foreign.path(&foreign_user.key))?,
        &std::fs::read_to_string(foreign.path(&foreign_user.cert))?,
        net.network_id(),
        e2e::doc_body("CARRIER", "SLK-BAD-INPUT-2", json!({"action": "SIGN"})),
        &e2e::nonce(),
    )?;
    let garbage = "eyJhbGciOiJFZERTQSJ9.not-base64!.garbage".to_owned();
    let results = api.submit(0, &[garbage.clone(), foreign_tx.clone()])?;
    for (result, envelope, code) in [
        (&results[0], &garbage, "MALFORMED_ENVELOPE"),
        (&results[1], &foreign_tx, "UNKNOWN_ISSUER"),
    ] {
        assert_eq!(result["status"], "REFUSED", "{result}");
        assert_eq!(result["code"], code, "{result}");
        assert!(result["height"].is_null(), "nothing proposed: {result}");
        let tx = result["txHash"].as_str().context("txHash")?;
        let line = wait_for_log_line(
            &log,
            &format!("node1 logging the {code} refusal"),
            &[
                "refused a submitted transaction at precheck",
                &format!("code={code}"),
            ],
            Some(&format!("tx={tx}")),
        )?;
        // The refusal is one line naming the transaction, not a dump of the envelope.
        assert!(!line.contains(envelope.as_str()), "{line}");
    }

    // node1 keeps serving: it takes a transaction, and the network agrees past it.
    let after = issue_committed(&net, &api, 0, "SLK-BAD-INPUT-3")?;
    assert!(after > before, "height {after} after {before}");
    net.converged(&api, after)?;
    Ok(())
}
