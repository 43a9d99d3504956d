//! What the end-to-end tests share: a dev network run by `silkline dev up` in a temporary
//! directory, the `silkline` CLI as a user types it, a raw GraphQL client over mutual TLS, signed
//! transactions made with the `pki` crate, node processes restarted by hand, and waiting for a
//! condition with a deadline (never a sleep as synchronization).
//!
//! Every process a test starts is stopped when its owner is dropped, so a failing test leaves
//! nothing running. Set `SILKLINE_E2E_KEEP=1` to keep the network's directory (logs, data) after
//! a run; its path is printed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail, ensure};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

/// Upper bound on any one wait. Generous: the 2-core machine may be compiling meanwhile, a first
/// start takes a few seconds, an election 1-2 s of ticks.
pub const DEADLINE: Duration = Duration::from_secs(90);
/// How often a condition is re-checked (status files change every 200 ms).
pub const POLL: Duration = Duration::from_millis(50);
/// How long one GraphQL request may take: a submission waits for its block (at most 15 s on the
/// node's side) plus a margin.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A transaction's validity window, as the CLI makes it: from a little before now to an hour
/// after.
const NOT_BEFORE_SLACK_MS: u64 = 5 * 60 * 1000;
const VALIDITY_MS: u64 = 60 * 60 * 1000;

/// One scenario at a time: each starts its own network of node processes, and two of them on
/// the 2-core machine would only slow each other down towards their deadlines. Every test takes
/// this first; a test that failed (a poisoned lock) does not stop the next.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static SCENARIO: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SCENARIO
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Polls `condition` until it returns `Some`, or fails after [`DEADLINE`] naming `what`.
pub fn wait_for<T>(what: &str, mut condition: impl FnMut() -> Option<T>) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = condition() {
            return Ok(v);
        }
        if start.elapsed() > DEADLINE {
            bail!("timed out after {DEADLINE:?} waiting for {what}");
        }
        std::thread::sleep(POLL);
    }
}

/// As [`wait_for`], but `condition` may also give up at once with an `Err` (a process that
/// died will not bring the awaited state).
pub fn try_wait_for<T>(what: &str, mut condition: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = condition().with_context(|| format!("while waiting for {what}"))? {
            return Ok(v);
        }
        if start.elapsed() > DEADLINE {
            bail!("timed out after {DEADLINE:?} waiting for {what}");
        }
        std::thread::sleep(POLL);
    }
}

/// The last lines of a log that say why a process stopped (panics, errors), for failure
/// messages.
pub fn log_excerpt(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.contains("panicked")
                || l.contains("ERROR")
                || l.contains("out of range")
                || l.contains("shutting down")
        })
        .collect();
    lines[lines.len().saturating_sub(6)..].join("\n")
}

pub fn silkline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_silkline"))
}

pub fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// 128 random bits, hex.
pub fn nonce() -> String {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system's random source works");
    hex::encode(bytes)
}

pub fn alive(pid: u32) -> bool {
    kill(Pid::from_raw(pid as i32), None).is_ok()
}

pub fn signal(pid: u32, signal: Signal) -> Result<()> {
    kill(Pid::from_raw(pid as i32), signal).with_context(|| format!("{signal} to {pid}"))
}

/// The workspace's fixture documents.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/documents")
}

/// A fixture document (`to-order-bill.json`, ...), parsed.
pub fn fixture(name: &str) -> Result<Value> {
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    Ok(serde_json::from_str(&text)?)
}

/// A copy of a fixture under another reference, written to `dir/REFERENCE.json`: a new bill with
/// the same parties and cargo.
pub fn fixture_as(name: &str, reference: &str, dir: &Path) -> Result<PathBuf> {
    let mut doc = fixture(name)?;
    doc["transportDocumentReference"] = json!(reference);
    let path = dir.join(format!("{reference}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&doc)?)?;
    Ok(path)
}

/// The container numbers a fixture lists, in order.
pub fn containers_of(document: &Value) -> Vec<String> {
    document["utilizedTransportEquipments"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|u| u["equipment"]["equipmentReference"].as_str())
        .map(str::to_owned)
        .collect()
}

/// What one CLI run gave: its exit code, stdout parsed as JSON when it is, and stderr.
#[derive(Debug)]
pub struct CliOut {
    pub exit: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliOut {
    pub fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.stdout).with_context(|| format!("stdout is not JSON: {self:?}"))
    }
}

/// Runs the CLI with `args` and returns what it printed.
pub fn cli(args: &[&str]) -> Result<CliOut> {
    let out = silkline()
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .context("run silkline")?;
    Ok(CliOut {
        exit: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// `silkline status --network` for `net`: its exit status and one JSON object per line; `None`
/// if it could not run or printed something else.
pub fn cli_status(net: &DevNet) -> Option<(i32, Vec<Value>)> {
    let out = cli(&["status", "--network", net.network_file.to_str()?]).ok()?;
    let lines = out
        .stdout
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .ok()?;
    Some((out.exit, lines))
}

/// The outcome `silkline tx` printed.
#[derive(Debug, Clone)]
pub struct TxOut {
    pub exit: i32,
    pub json: Value,
}

impl TxOut {
    pub fn status(&self) -> &str {
        self.json["status"].as_str().unwrap_or("")
    }
    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("")
    }
    pub fn tx(&self) -> &str {
        self.json["tx"].as_str().unwrap_or("")
    }
    pub fn height(&self) -> Option<u64> {
        self.json["height"].as_u64()
    }
}

/// `silkline dev up` on a temporary directory, with the network it serves. Dropping it stops
/// the network (SIGTERM to `dev up`, which stops its nodes; SIGKILL if that takes too long).
pub struct DevNet {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    up: Child,
    /// `network.json` as `dev up` wrote it.
    pub network: Value,
    pub network_file: PathBuf,
}

impl DevNet {
    /// A new network of `nodes` nodes.
    pub fn start(nodes: usize) -> Result<DevNet> {
        DevNet::start_with(nodes, |_| Ok(()))
    }

    /// A new network of `nodes` nodes, `configure`d between `dev init` and `dev up` (the
    /// directory is passed; node configurations are `nodes/nodeK/config.json`).
    pub fn start_with(nodes: usize, configure: impl FnOnce(&Path) -> Result<()>) -> Result<DevNet> {
        DevNet::start_full(nodes, None, configure)
    }

    /// A new network of `nodes` nodes with DCSA PINT platform code `platform`.
    pub fn start_on_platform(nodes: usize, platform: &str) -> Result<DevNet> {
        DevNet::start_full(nodes, Some(platform), |_| Ok(()))
    }

    fn start_full(
        nodes: usize,
        platform: Option<&str>,
        configure: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<DevNet> {
        let dir = tempfile::Builder::new().prefix("silkline-e2e-").tempdir()?;
        let path = dir.path().canonicalize()?;
        let (dir, path) = if std::env::var_os("SILKLINE_E2E_KEEP").is_some() {
            eprintln!("e2e: keeping the network directory {}", path.display());
            let _ = dir.keep();
            (None, path)
        } else {
            (Some(dir), path)
        };
        let mut init = silkline();
        init.args(["dev", "init", "--dir"])
            .arg(&path)
            .args(["--nodes", &nodes.to_string()]);
        if let Some(platform) = platform {
            init.args(["--platform", platform]);
        }
        let out = init.output()?;
        ensure!(
            out.status.success(),
            "dev init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        configure(&path)?;
        let up = silkline()
            .args(["dev", "up", "--dir"])
            .arg(&path)
            .env("RUST_LOG", "info,raft=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawn silkline dev up")?;
        let network_file = path.join("network.json");
        let mut net = DevNet {
            dir,
            path,
            up,
            network: Value::Null,
            network_file,
        };
        let start = Instant::now();
        net.network = loop {
            if let Some(v) = std::fs::read(&net.network_file)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            {
                break v;
            }
            if let Some(status) = net.up.try_wait()? {
                bail!(
                    "dev up exited early ({status}); see {}/nodes/*/node.log",
                    net.path.display()
                );
            }
            ensure!(
                start.elapsed() < DEADLINE,
                "no network.json within {DEADLINE:?}"
            );
            std::thread::sleep(POLL);
        };
        ensure!(
            net.network["nodes"].as_array().map(Vec::len) == Some(nodes),
            "{}",
            net.network
        );
        Ok(net)
    }

    pub fn dir(&self) -> &Path {
        &self.path
    }

    pub fn network_id(&self) -> &str {
        self.network["network_id"].as_str().unwrap_or_default()
    }

    pub fn node_count(&self) -> usize {
        self.network["nodes"].as_array().map_or(0, Vec::len)
    }

    fn node(&self, i: usize) -> &Value {
        &self.network["nodes"][i]
    }

    pub fn endpoint(&self, i: usize) -> String {
        self.node(i)["graphql"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn endpoints(&self) -> Vec<String> {
        (0..self.node_count()).map(|i| self.endpoint(i)).collect()
    }

    pub fn config(&self, i: usize) -> PathBuf {
        PathBuf::from(self.node(i)["config"].as_str().unwrap_or_default())
    }

    pub fn data_dir(&self, i: usize) -> PathBuf {
        PathBuf::from(self.node(i)["data_dir"].as_str().unwrap_or_default())
    }

    pub fn log(&self, i: usize) -> PathBuf {
        PathBuf::from(self.node(i)["log"].as_str().unwrap_or_default())
    }

    /// The pid `dev up` started node `i` with.
    pub fn pid(&self, i: usize) -> u32 {
        self.node(i)["pid"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or(0)
    }

    /// Node `i`'s `status.json`, whichever process wrote it.
    pub fn status(&self, i: usize) -> Option<Value> {
        let path = self.node(i)["status"].as_str()?;
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    /// The certificate and key files of an identity of `network.json`.
    pub fn identity(&self, name: &str) -> Result<(PathBuf, PathBuf)> {
        let id = self.network["identities"]
            .as_array()
            .and_then(|ids| ids.iter().find(|i| i["name"] == name))
            .with_context(|| format!("no identity {name}"))?;
        Ok((
            PathBuf::from(id["cert"].as_str().unwrap_or_default()),
            PathBuf::from(id["key"].as_str().unwrap_or_default()),
        ))
    }

    pub fn ca_bundle(&self) -> PathBuf {
        PathBuf::from(self.network["ca_bundle"].as_str().unwrap_or_default())
    }

    /// The dev consortium's directory (`pki::dev` layout).
    pub fn pki_dir(&self) -> PathBuf {
        self.path.join("pki")
    }

    /// `silkline ARGS... --network NET --as IDENTITY`.
    pub fn cli_as(&self, identity: &str, args: &[&str]) -> Result<CliOut> {
        let net = self.network_file.to_string_lossy().into_owned();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--network", &net, "--as", identity]);
        cli(&all)
    }

    /// `silkline tx --network NET --as IDENTITY ACTION DOCUMENT EXTRA...`; fails unless the CLI
    /// printed an outcome (exit 0 committed or 3 refused).
    pub fn tx(
        &self,
        identity: &str,
        action: &str,
        document: &str,
        extra: &[&str],
    ) -> Result<TxOut> {
        let mut args = vec!["tx", action, document];
        args.extend(extra);
        let out = self.cli_as(identity, &args)?;
        ensure!(
            out.exit == 0 || out.exit == 3,
            "silkline tx {identity} {action} {document} {extra:?}: exit {}: {}",
            out.exit,
            out.stderr
        );
        let json = out.json()?;
        let status = json["status"].as_str().unwrap_or_default();
        ensure!(
            (out.exit == 0) == (status == "COMMITTED"),
            "exit {} with status {status}",
            out.exit
        );
        Ok(TxOut {
            exit: out.exit,
            json,
        })
    }

    /// As [`DevNet::tx`], and the ledger must have committed it.
    pub fn commit(
        &self,
        identity: &str,
        action: &str,
        document: &str,
        extra: &[&str],
    ) -> Result<TxOut> {
        let out = self.tx(identity, action, document, extra)?;
        ensure!(
            out.status() == "COMMITTED",
            "{identity} {action} {document} {extra:?} was not committed: {}",
            out.json
        );
        ensure!(
            out.tx().len() == 64 && out.height().is_some(),
            "{}",
            out.json
        );
        Ok(out)
    }

    /// As [`DevNet::tx`], and the ledger must have refused it with `code`.
    pub fn refuse(
        &self,
        identity: &str,
        action: &str,
        document: &str,
        extra: &[&str],
        code: &str,
    ) -> Result<TxOut> {
        let out = self.tx(identity, action, document, extra)?;
        ensure!(
            out.status() == "REFUSED" && out.code() == code && out.exit == 3,
            "{identity} {action} {document} {extra:?}: expected REFUSED {code}, got {}",
            out.json
        );
        Ok(out)
    }

    /// `silkline doc show` as `identity`: the document, or the CLI's failure.
    pub fn show(&self, identity: &str, document: &str, cargo_release: bool) -> Result<Value> {
        let mut args = vec!["doc", "show", document];
        if cargo_release {
            args.push("--cargo-release");
        }
        let out = self.cli_as(identity, &args)?;
        ensure!(
            out.exit == 0,
            "doc show {document} as {identity}: {}",
            out.stderr
        );
        out.json()
    }

    /// A GraphQL client acting as `identity`.
    pub fn api(&self, identity: &str) -> Result<Api> {
        let (cert, key) = self.identity(identity)?;
        Api::new(
            &std::fs::read_to_string(self.ca_bundle())?,
            &std::fs::read_to_string(cert)?,
            &std::fs::read_to_string(key)?,
            self.endpoints(),
        )
    }

    /// A transaction `body` (document and command, or governance) signed by `identity` with a
    /// fresh nonce and the CLI's validity window.
    pub fn sign(&self, identity: &str, body: Value) -> Result<String> {
        self.sign_with_nonce(identity, body, &nonce())
    }

    pub fn sign_with_nonce(&self, identity: &str, body: Value, nonce: &str) -> Result<String> {
        let (cert, key) = self.identity(identity)?;
        sign_pem(
            &std::fs::read_to_string(key)?,
            &std::fs::read_to_string(cert)?,
            self.network_id(),
            body,
            nonce,
        )
    }

    /// Waits until every node answers `node` with the same height, block hash and state hash
    /// (at least `min_height`); returns (height, state hash).
    pub fn converged(&self, api: &Api, min_height: u64) -> Result<(u64, String)> {
        wait_for("every node at the same height and state hash", || {
            let mut seen = Vec::new();
            for i in 0..self.node_count() {
                let d = api
                    .data(i, "{ node { height blockHash stateHash } }", json!({}))
                    .ok()?;
                seen.push((
                    d["node"]["height"].as_u64()?,
                    d["node"]["blockHash"].as_str()?.to_owned(),
                    d["node"]["stateHash"].as_str()?.to_owned(),
                ));
            }
            let first = seen[0].clone();
            (first.0 >= min_height && seen.iter().all(|s| *s == first))
                .then_some((first.0, first.2))
        })
    }
}

impl Drop for DevNet {
    fn drop(&mut self) {
        if let Ok(None) = self.up.try_wait() {
            let _ = signal(self.up.id(), Signal::SIGTERM);
        }
        let start = Instant::now();
        while matches!(self.up.try_wait(), Ok(None)) && start.elapsed() < DEADLINE {
            std::thread::sleep(POLL);
        }
        if matches!(self.up.try_wait(), Ok(None)) {
            // dev up did not stop: kill it, and the nodes it started.
            let _ = self.up.kill();
            for i in 0..self.node_count() {
                let pid = self.pid(i);
                if pid != 0 && alive(pid) {
                    let _ = signal(pid, Signal::SIGKILL);
                }
            }
        }
        let _ = self.up.wait();
        drop(self.dir.take());
    }
}

/// Signs `body` with the given key and chain (PEM) for `network`, as the CLI does.
pub fn sign_pem(
    key_pem: &str,
    chain_pem: &str,
    network: &str,
    body: Value,
    nonce: &str,
) -> Result<String> {
    let now = now_ms();
    let mut payload = json!({
        "network": network,
        "nonce": nonce,
        "notBefore": now.saturating_sub(NOT_BEFORE_SLACK_MS),
        "notAfter": now + VALIDITY_MS,
    });
    for (k, v) in body
        .as_object()
        .context("a transaction body is an object")?
    {
        payload[k] = v.clone();
    }
    let signer = pki::jws::Signer::from_pem(key_pem, chain_pem)
        .map_err(|e| anyhow::anyhow!("signing key: {e}"))?;
    Ok(pki::jws::sign(&payload, &signer)?)
}

/// A document command body for `sign`.
pub fn doc_body(carrier: &str, reference: &str, command: Value) -> Value {
    json!({"document": {"carrier": carrier, "reference": reference}, "command": command})
}

/// A node started by the test with `silkline node run --config` (a restart by hand), its output
/// appended to the node's log. Killed (SIGKILL) and reaped when dropped.
pub struct NodeProcess {
    pub child: Child,
    status_file: PathBuf,
}

impl NodeProcess {
    pub fn start(config: &Path, log: &Path) -> Result<NodeProcess> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| log.display().to_string())?;
        let child = silkline()
            .args(["node", "run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info,raft=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("spawn silkline node run")?;
        let status_file = config
            .parent()
            .context("config dir")?
            .join("data/status.json");
        Ok(NodeProcess { child, status_file })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and reap.
    pub fn kill9(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// An `Err` naming the exit status if the process has exited.
    pub fn still_running(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => bail!("the node process exited ({status})"),
        }
    }

    /// This process's status, once it has written one (an earlier process's is ignored).
    pub fn status(&self) -> Option<Value> {
        let v: Value = serde_json::from_slice(&std::fs::read(&self.status_file).ok()?).ok()?;
        (v["pid"].as_u64() == Some(u64::from(self.child.id()))).then_some(v)
    }

    pub fn wait_exit(&mut self) -> Result<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            ensure!(start.elapsed() < DEADLINE, "no exit within {DEADLINE:?}");
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GraphQL client over HTTPS with a client certificate, talking to one node at a time.
pub struct Api {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    /// The same TLS configuration as `http`'s, for WebSocket connections.
    tls: std::sync::Arc<rustls::ClientConfig>,
    pub endpoints: Vec<String>,
}

/// The WebSocket subprotocol of GraphQL subscriptions (graphql-ws's `graphql-transport-ws`).
pub const GRAPHQL_TRANSPORT_WS: &str = "graphql-transport-ws";

/// Most protocol messages (pings, completions of others) read while waiting for one event: a
/// bound on the loop, far above what a server sends between two events.
const WS_MESSAGES_PER_EVENT_MAX: usize = 1_000;

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// One `graphql-transport-ws` subscription over a WebSocket on mutual TLS, driven by the
/// [`Api`] that opened it (its runtime polls the socket only inside [`Api::next_event`]).
pub struct Subscription {
    ws: WsStream,
    id: String,
}

impl Api {
    /// A client trusting `ca_pem`, presenting `cert_pem` (chain, leaf first) with `key_pem`.
    pub fn new(ca_pem: &str, cert_pem: &str, key_pem: &str, endpoints: Vec<String>) -> Result<Api> {
        let mut roots = rustls::RootCertStore::empty();
        for ca in pki::pem::certificates(ca_pem).map_err(anyhow::Error::msg)? {
            roots.add(ca)?;
        }
        let chain = pki::pem::certificates(cert_pem).map_err(anyhow::Error::msg)?;
        let key = pki::pem::private_key_der(key_pem).map_err(anyhow::Error::msg)?;
        let tls = rustls::ClientConfig::builder_with_provider(pki::tls::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()))?;
        // A WebSocket upgrade is an HTTP/1.1 request.
        let mut ws_tls = tls.clone();
        ws_tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let http = {
            let _guard = rt.enter();
            reqwest::Client::builder()
                .tls_backend_preconfigured(tls)
                .timeout(REQUEST_TIMEOUT)
                .connect_timeout(Duration::from_secs(5))
                .build()?
        };
        Ok(Api {
            rt,
            http,
            tls: std::sync::Arc::new(ws_tls),
            endpoints,
        })
    }

    /// Opens a WebSocket to node `i`'s `GET /graphql` over mutual TLS with this client's
    /// certificate, speaks `graphql-transport-ws` (`connection_init`, waits for
    /// `connection_ack`) and subscribes to `query`. The server starts the subscription
    /// asynchronously: a caller that must not miss an event first waits for one it provokes.
    pub fn subscribe(&self, i: usize, query: &str) -> Result<Subscription> {
        use futures_util::SinkExt as _;
        use tokio_tungstenite::tungstenite::Message;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

        let endpoint = &self.endpoints[i];
        let rest = endpoint
            .strip_prefix("https://")
            .with_context(|| format!("not an https URL: {endpoint}"))?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, _port) = authority
            .rsplit_once(':')
            .with_context(|| format!("no port in {endpoint}"))?;
        let server_name = rustls::pki_types::ServerName::try_from(host.to_owned())?;
        let mut request = format!("wss://{authority}/{path}").into_client_request()?;
        request.headers_mut().insert(
            "sec-websocket-protocol",
            GRAPHQL_TRANSPORT_WS.parse().context("header value")?,
        );
        let connector = tokio_rustls::TlsConnector::from(self.tls.clone());
        self.rt.block_on(async {
            let opened = async {
                let tcp = tokio::net::TcpStream::connect(authority).await?;
                let tls = connector.connect(server_name, tcp).await?;
                let (mut ws, response) = tokio_tungstenite::client_async(request, tls).await?;
                let protocol = response
                    .headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                ensure!(
                    protocol == GRAPHQL_TRANSPORT_WS,
                    "the server chose the subprotocol {protocol:?}"
                );
                ws.send(Message::text(
                    json!({"type": "connection_init", "payload": {}}).to_string(),
                ))
                .await?;
                let mut sub = Subscription {
                    ws,
                    id: "1".to_owned(),
                };
                let ack = next_ws_message(&mut sub.ws).await?;
                ensure!(
                    ack["type"] == "connection_ack",
                    "expected connection_ack: {ack}"
                );
                sub.ws
                    .send(Message::text(
                        json!({"id": sub.id, "type": "subscribe", "payload": {"query": query}})
                            .to_string(),
                    ))
                    .await?;
                anyhow::Ok(sub)
            };
            tokio::time::timeout(REQUEST_TIMEOUT, opened)
                .await
                .context("opening a subscription timed out")?
        })
    }

    /// The next `next` payload of `sub` (`data` and/or `errors`), or `None` if none came within
    /// `within`. An `error` or `complete` message for the subscription is an `Err`.
    pub fn next_event(&self, sub: &mut Subscription, within: Duration) -> Result<Option<Value>> {
        self.rt.block_on(async {
            let read = async {
                for _ in 0..WS_MESSAGES_PER_EVENT_MAX {
                    let message = next_ws_message(&mut sub.ws).await?;
                    match message["type"].as_str() {
                        Some("next") if message["id"] == sub.id.as_str() => {
                            return Ok(message["payload"].clone());
                        }
                        Some("error" | "complete") if message["id"] == sub.id.as_str() => {
                            bail!("the subscription ended: {message}");
                        }
                        _ => {}
                    }
                }
                bail!("{WS_MESSAGES_PER_EVENT_MAX} messages without an event")
            };
            match tokio::time::timeout(within, read).await {
                Ok(result) => result.map(Some),
                Err(_) => Ok(None),
            }
        })
    }

    /// Posts raw bytes as a JSON body to node `i`; returns the HTTP status and the body.
    pub fn post_bytes(&self, i: usize, body: Vec<u8>) -> Result<(u16, Vec<u8>)> {
        let endpoint = &self.endpoints[i];
        self.rt.block_on(async {
            let response = self
                .http
                .post(endpoint)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await?;
            let status = response.status().as_u16();
            let bytes = response.bytes().await?;
            Ok((status, bytes.to_vec()))
        })
    }

    /// A GraphQL request to node `i`: the whole response (`data` and/or `errors`).
    pub fn query(&self, i: usize, query: &str, variables: Value) -> Result<Value> {
        let body = serde_json::to_vec(&json!({"query": query, "variables": variables}))?;
        let (status, bytes) = self.post_bytes(i, body)?;
        serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "HTTP {status}: not JSON: {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    }

    /// `data` of a request to node `i`; an `errors` answer is an `Err`.
    pub fn data(&self, i: usize, query: &str, variables: Value) -> Result<Value> {
        let v = self.query(i, query, variables)?;
        if v.get("errors").is_some_and(|e| !e.is_null()) {
            bail!("node {i}: {}", v["errors"]);
        }
        v.get("data").cloned().context("no data")
    }

    /// `submitTransactions` on node `i`: one result per envelope.
    pub fn submit(&self, i: usize, envelopes: &[String]) -> Result<Vec<Value>> {
        let d = self.data(i, SUBMIT, json!({ "envelopes": envelopes }))?;
        d["submitTransactions"]
            .as_array()
            .cloned()
            .context("no results")
    }

    /// Submits one envelope to node `i`, then to the next nodes while a node does not answer
    /// or is unavailable. Resubmitting the same bytes is always safe: a committed transaction
    /// answers with its original outcome.
    pub fn submit_one(&self, first: usize, envelope: &str) -> Result<Value> {
        let mut failures = Vec::new();
        let n = self.endpoints.len();
        for attempt in 0..(3 * n) {
            let i = (first + attempt) % n;
            match self.submit(i, &[envelope.to_owned()]) {
                Ok(results) => return Ok(results[0].clone()),
                Err(e) => failures.push(format!("{e:#}")),
            }
        }
        bail!("no node took the transaction: {failures:#?}")
    }

    /// `node { height }` of node `i`.
    pub fn height(&self, i: usize) -> Result<u64> {
        self.data(i, "{ node { height } }", json!({}))?["node"]["height"]
            .as_u64()
            .context("height")
    }
}

/// The next text message of a WebSocket, as JSON; answers a `ping` with a `pong` on the way.
async fn next_ws_message(ws: &mut WsStream) -> Result<Value> {
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;
    for _ in 0..WS_MESSAGES_PER_EVENT_MAX {
        let message = ws.next().await.context("the WebSocket closed")??;
        let text = match message {
            Message::Text(text) => text,
            Message::Close(frame) => bail!("the server closed the WebSocket: {frame:?}"),
            _ => continue,
        };
        let value: Value = serde_json::from_str(text.as_str())?;
        if value["type"] == "ping" {
            ws.send(Message::text(json!({"type": "pong"}).to_string()))
                .await?;
            continue;
        }
        return Ok(value);
    }
    bail!("{WS_MESSAGES_PER_EVENT_MAX} control frames without a message")
}

pub const SUBMIT: &str = "mutation Submit($envelopes: [String!]!) {
  submitTransactions(envelopes: $envelopes) {
    txHash status code message height position time
    documents { class carrierCode reference }
  }
}";

pub const DOCUMENT: &str = "query Document($carrier: String!, $reference: String!, $class: DocumentClassArg!, $consistency: Consistency!) {
  document(carrierCode: $carrier, reference: $reference, class: $class, consistency: $consistency) {
    status mode possessor endorsee sequence checksum state
    history { sequence txHash height action actor recipient event }
  }
}";

pub const TRANSACTION: &str = "query Tx($hash: String!) {
  transaction(txHash: $hash) { txHash status code height position }
}";

/// The variables of [`DOCUMENT`].
pub fn document_vars(carrier: &str, reference: &str, class: &str, consistency: &str) -> Value {
    json!({"carrier": carrier, "reference": reference, "class": class, "consistency": consistency})
}
