//! `silkline dev up`: the main job of a developer's machine. It creates a dev network in a
//! directory if there is none ([`crate::dev::init`]), starts one `silkline node run` process per
//! node, waits until every node serves and they agree on a leader, writes `DIR/network.json`,
//! and runs until SIGINT (Ctrl-C) or SIGTERM, when it stops the nodes with SIGTERM. Run again on
//! the same directory, it resumes the same network with its data. A node that dies is reported
//! and not restarted: a dev network should show failures, not hide them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Serialize;
use serde_json::Value;
use tokio::signal::unix::{SignalKind, signal};

use crate::dev::GENESIS_FILE;
use crate::run::STATUS_FILE;

/// The file `dev up` writes once every node serves.
pub const NETWORK_FILE: &str = "network.json";
/// How long the nodes have to start and agree on a leader: an election takes 1-2 s, a first
/// start on a busy 2-core machine a few more.
const SERVE_DEADLINE: Duration = Duration::from_secs(60);
/// How long a node has to exit after SIGTERM before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(15);
/// How often child processes and status files are looked at.
const POLL: Duration = Duration::from_millis(100);

/// One node of `network.json`.
#[derive(Debug, Serialize)]
struct NetworkNode {
    id: String,
    raft_id: u64,
    /// Raft transport address (mutual TLS).
    address: String,
    /// The GraphQL endpoint (HTTPS; a client certificate of `identities` is required).
    graphql: Option<String>,
    /// The base URL of this node's verification page (HTTPS, no client certificate), where
    /// `{public}/verify/...` answers. (The QR codes of every node's PDFs name one of them, the
    /// configuration's `publicBaseUrl`.) `None` for a node configured without one (a network
    /// made before the page existed).
    public: Option<String>,
    /// The base URL of this node's DCSA PINT endpoints (`{pint}/v3/envelopes`; HTTPS, no
    /// client certificate, every message signed), on a network with a platform code.
    pint: Option<String>,
    /// The base URL of this node's operations listener (plain HTTP on loopback: `/metrics`,
    /// `/livez`, `/readyz`, `/version`); `None` for a node configured without one.
    ops: Option<String>,
    pid: u32,
    config: PathBuf,
    data_dir: PathBuf,
    /// Where the node's log goes.
    log: PathBuf,
    /// The node's status file (role, term, indexes, state hash).
    status: PathBuf,
}

/// One identity of `network.json`: a certificate and key to sign transactions with.
#[derive(Debug, Serialize)]
struct NetworkIdentity {
    name: String,
    party: String,
    member: String,
    kind: String,
    cert: PathBuf,
    key: PathBuf,
}

/// `network.json`: how to reach and act on the dev network.
#[derive(Debug, Serialize)]
struct NetworkFile {
    network_id: String,
    genesis: PathBuf,
    /// The PEM bundle of every member's root CA: what a client trusts.
    ca_bundle: PathBuf,
    /// The network's DCSA PINT platform code, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<String>,
    /// The certificates another platform checks this network's PINT signatures against (its
    /// members' root CAs: every entry, manifest and answer is signed by a node whose chain
    /// rides in `x5c`). Another network trusts them by vote (`gov propose ... trust-platform`).
    #[serde(rename = "platformCertificates")]
    platform_certificates: Vec<PathBuf>,
    nodes: Vec<NetworkNode>,
    identities: Vec<NetworkIdentity>,
}

struct Running {
    config: PathBuf,
    status: PathBuf,
    child: Child,
    exited: bool,
}

/// Runs the dev network in `dir` until a signal.
pub async fn up(dir: &Path, nodes: usize, platform: Option<&str>) -> anyhow::Result<()> {
    if !dir.join(GENESIS_FILE).exists() {
        crate::dev::init(dir, nodes, platform)?;
    }
    let dir = dir
        .canonicalize()
        .with_context(|| format!("{}", dir.display()))?;
    let configs = node_configs(&dir)?;
    let exe = std::env::current_exe().context("find the silkline executable")?;
    // Before any node starts: a signal from now on stops the nodes too, however early it
    // comes (a caller may stop `dev up` the moment network.json appears).
    let mut stop_signals = StopSignals {
        term: signal(SignalKind::terminate())?,
        int: signal(SignalKind::interrupt())?,
    };
    let mut running = Vec::with_capacity(configs.len());
    for config in configs {
        let node_dir = config.parent().context("config dir")?.to_path_buf();
        let log_path = node_dir.join("node.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("open {}", log_path.display()))?;
        let child = Command::new(&exe)
            .args(["node", "run", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("start the node of {}", config.display()))?;
        running.push(Running {
            status: node_dir.join("data").join(STATUS_FILE),
            config,
            child,
            exited: false,
        });
    }
    let result = serve(&dir, &mut running, &mut stop_signals).await;
    stop(&mut running).await;
    result
}

/// SIGTERM and SIGINT, which stop the dev network.
struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

async fn serve(
    dir: &Path,
    running: &mut [Running],
    signals: &mut StopSignals,
) -> anyhow::Result<()> {
    let statuses = tokio::select! {
        statuses = wait_until_serving(running) => statuses?,
        _ = signals.recv() => {
            crate::out("stopping the dev network before it served")?;
            return Ok(());
        }
    };
    let network = network_file(dir, running, &statuses)?;
    let path = dir.join(NETWORK_FILE);
    let tmp = dir.join(format!("{NETWORK_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(&network)?)?;
    std::fs::rename(&tmp, &path)?;
    crate::out(format_args!(
        "silkline dev network {} is up: {} nodes, leader {}",
        network.network_id,
        network.nodes.len(),
        statuses[0]["leaderId"]
    ))?;
    for n in &network.nodes {
        crate::out(format_args!(
            "  {} (raft {}) pid {}: GraphQL {}, verification page {}, raft {}",
            n.id,
            n.raft_id,
            n.pid,
            n.graphql.as_deref().unwrap_or("(none)"),
            n.public.as_deref().unwrap_or("(none)"),
            n.address,
        ))?;
    }
    crate::out(format_args!("network file: {}", path.display()))?;
    crate::out(format_args!(
        "try: silkline status --network {0}; silkline tx --network {0} --as carrier issue CARRIER/REF --to SHIPPER --document FILE",
        path.display()
    ))?;
    crate::out("stop with Ctrl-C")?;

    let mut tick = tokio::time::interval(POLL);
    loop {
        tokio::select! {
            _ = signals.recv() => break,
            _ = tick.tick() => report_deaths(running),
        }
    }
    crate::out("stopping the dev network")?;
    Ok(())
}

/// Waits until every node has written a status of its own process and all name the same
/// leader. Returns their statuses.
async fn wait_until_serving(running: &mut [Running]) -> anyhow::Result<Vec<Value>> {
    let start = Instant::now();
    loop {
        for r in running.iter_mut() {
            if let Some(code) = r.child.try_wait()? {
                bail!(
                    "the node of {} exited during start-up ({code}); see node.log beside it",
                    r.config.display()
                );
            }
        }
        let statuses: Option<Vec<Value>> = running.iter().map(own_status).collect();
        if let Some(statuses) = statuses {
            let leader = &statuses[0]["leaderId"];
            let agreed = leader.as_u64().is_some_and(|l| l != 0)
                && statuses.iter().all(|s| s["leaderId"] == *leader);
            if agreed {
                return Ok(statuses);
            }
        }
        ensure!(
            start.elapsed() < SERVE_DEADLINE,
            "the nodes did not agree on a leader within {SERVE_DEADLINE:?}; see nodes/*/node.log"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The status a node's current process wrote (not one left by an earlier run).
fn own_status(r: &Running) -> Option<Value> {
    let v: Value = serde_json::from_slice(&std::fs::read(&r.status).ok()?).ok()?;
    (v["pid"].as_u64() == Some(u64::from(r.child.id()))).then_some(v)
}

fn report_deaths(running: &mut [Running]) {
    for r in running.iter_mut().filter(|r| !r.exited) {
        if let Ok(Some(code)) = r.child.try_wait() {
            r.exited = true;
            eprintln!(
                "the node of {} exited ({code}); it is not restarted (see node.log beside it)",
                r.config.display()
            );
        }
    }
}

/// SIGTERM to every node still running, then SIGKILL to any that outlives [`STOP_DEADLINE`].
async fn stop(running: &mut [Running]) {
    for r in running.iter_mut() {
        if let Ok(None) = r.child.try_wait() {
            let _ = kill(Pid::from_raw(r.child.id() as i32), Signal::SIGTERM);
        }
    }
    let start = Instant::now();
    for r in running.iter_mut() {
        loop {
            match r.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if start.elapsed() > STOP_DEADLINE => {
                    eprintln!("the node of {} did not stop: killed", r.config.display());
                    let _ = r.child.kill();
                    let _ = r.child.wait();
                    break;
                }
                Ok(None) => tokio::time::sleep(POLL).await,
            }
        }
    }
}

/// `DIR/nodes/*/config.json`, in node order.
fn node_configs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut configs: Vec<PathBuf> = std::fs::read_dir(dir.join("nodes"))
        .with_context(|| format!("{}/nodes", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path().join("config.json")))
        .filter(|p| p.exists())
        .collect();
    configs.sort();
    ensure!(
        !configs.is_empty(),
        "no node configuration under {}/nodes",
        dir.display()
    );
    Ok(configs)
}

fn network_file(
    dir: &Path,
    running: &[Running],
    statuses: &[Value],
) -> anyhow::Result<NetworkFile> {
    let genesis_path = dir.join(GENESIS_FILE);
    let genesis: Value = serde_json::from_slice(&std::fs::read(&genesis_path)?)?;
    let manifest: Value = serde_json::from_slice(&std::fs::read(
        dir.join("pki").join(pki::dev::MANIFEST_FILE),
    )?)?;
    let pki_path = |v: &Value| dir.join("pki").join(v.as_str().unwrap_or_default());
    let mut nodes = Vec::new();
    for (r, status) in running.iter().zip(statuses) {
        let config: Value = serde_json::from_slice(&std::fs::read(&r.config)?)?;
        let node_dir = r.config.parent().context("config dir")?;
        nodes.push(NetworkNode {
            id: config["nodeId"].as_str().unwrap_or_default().to_string(),
            raft_id: status["raftId"].as_u64().unwrap_or_default(),
            address: config["listen"].as_str().unwrap_or_default().to_string(),
            graphql: config["apiListen"]
                .as_str()
                .map(|a| format!("https://{a}/graphql")),
            public: config["publicListen"]
                .as_str()
                .map(|a| format!("https://{a}")),
            pint: config["pintListen"]
                .as_str()
                .map(|a| format!("https://{a}")),
            ops: config["opsListen"].as_str().map(|a| format!("http://{a}")),
            pid: r.child.id(),
            config: r.config.clone(),
            data_dir: node_dir.join("data"),
            log: node_dir.join("node.log"),
            status: r.status.clone(),
        });
    }
    let identities = manifest["identities"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|i| i["kind"] != "node")
        .map(|i| NetworkIdentity {
            name: i["name"].as_str().unwrap_or_default().to_string(),
            party: i["party"].as_str().unwrap_or_default().to_string(),
            member: i["member"].as_str().unwrap_or_default().to_string(),
            kind: i["kind"].as_str().unwrap_or_default().to_string(),
            cert: pki_path(&i["cert"]),
            key: pki_path(&i["key"]),
        })
        .collect();
    Ok(NetworkFile {
        network_id: genesis["networkId"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        genesis: genesis_path,
        ca_bundle: pki_path(&manifest["ca_bundle"]),
        platform: genesis["platform"].as_str().map(str::to_owned),
        platform_certificates: if genesis["platform"].is_string() {
            vec![pki_path(&manifest["ca_bundle"])]
        } else {
            Vec::new()
        },
        nodes,
        identities,
    })
}
