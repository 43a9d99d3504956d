//! `silkline cluster-test`: a Jepsen-style fault suite of our own, against three node
//! containers (`scripts/cluster-test` builds the image, the members and the genesis, then runs
//! this; RELIABILITY.md has the schedule and the figures).
//!
//! The run makes its own Docker objects, all labelled with its run id ([`docker`]): an
//! internal network for the nodes' Raft traffic, on which they reach each other as
//! `node1.carrier`, `node2.bank`, `node3.port`; a second network on which each node's GraphQL
//! port is published on 127.0.0.1 only, for the clients on the host; a volume per node, node 3's
//! a size-limited tmpfs that a helper container (`cluster-test disk`, which also keeps the tmpfs
//! mounted while node 3 is down) fills and frees on signal.
//!
//! Clients ([`workload`]) issue and endorse bills and read them linearizably throughout, while
//! the schedule injects one fault at a time, each for a bounded time, waiting between faults
//! until every node follows one leader again. Then the clients stop, the nodes must converge,
//! and [`check`] compares the history with every node's chain and documents.

mod check;
mod docker;
mod workload;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::client::data;
use check::{ChainTx, NodeEnd};
use docker::Docker;
use workload::{Clients, Outcome, Shared};

/// The nodes: container name suffix, member directory, DNS name on the Raft network.
const NODES: [(&str, &str, &str); 3] = [
    ("node1", "carrier", "node1.carrier"),
    ("node2", "bank", "node2.bank"),
    ("node3", "port", "node3.port"),
];
/// The node whose volume is the tmpfs that fills (index into [`NODES`]).
const DISK_NODE: usize = 2;
/// Most time to wait for every node to follow one leader (after a start, a heal, a restart).
const HEALTHY_WAIT: Duration = Duration::from_secs(120);
/// Most time one status query may take: a paused node must not hold the schedule up.
const STATUS_TIMEOUT: Duration = Duration::from_secs(3);
/// Most time the node on the full disk may take to stop once its disk is full.
const DISK_STOP_WAIT: Duration = Duration::from_secs(90);
/// Most time for the nodes to reach one height and state hash once the clients stop.
const CONVERGE_WAIT: Duration = Duration::from_secs(180);
/// Most time for the clients to finish their last operations once told to stop: a request
/// takes at most the client's timeout (30 s), an operation at most [`workload::ATTEMPTS`] of
/// them.
const CLIENTS_STOP_WAIT: Duration = Duration::from_secs(150);
/// The election timeout the pause must outlast: raft's election ticks times the tick
/// (`replication`: 10 x 100 ms), randomized up to twice that.
const ELECTION_TIMEOUT_MAX: Duration = Duration::from_secs(2);
/// Blocks read per request when collecting a chain (GraphQL aliases).
const BLOCKS_PER_REQUEST: u64 = 8;

/// `silkline cluster-test` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ClusterTestCommand {
    /// Run the suite (scripts/cluster-test prepares the image and the members first).
    Run(RunArgs),
    /// Inside a helper container: keep DIR's volume mounted; on SIGUSR1 fill it until the
    /// file system is full, on SIGUSR2 free what was written, on SIGTERM exit.
    #[command(hide = true)]
    Disk {
        #[arg(long)]
        dir: PathBuf,
    },
}

/// `silkline cluster-test run` arguments.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The members' directories and genesis `deploy/init` made (absolute: it is mounted into
    /// the containers).
    #[arg(long)]
    pub members: PathBuf,
    /// The image to run (`scripts/docker-image`).
    #[arg(long, default_value = "silkline:dev")]
    pub image: String,
    /// The prefix of every container, network and volume, and the value of their
    /// `silkline.cluster-test` label.
    #[arg(long)]
    pub run_id: String,
    /// How long each fault lasts.
    #[arg(long, default_value_t = 15)]
    pub fault_seconds: u64,
    /// Writing clients.
    #[arg(long, default_value_t = 6)]
    pub writers: usize,
    /// Reading clients.
    #[arg(long, default_value_t = 2)]
    pub readers: usize,
    /// The size of node 3's tmpfs volume (Docker's `o=size=`).
    #[arg(long, default_value = "512m")]
    pub disk_size: String,
    /// Where to write report.json and history.jsonl.
    #[arg(long)]
    pub out: PathBuf,
    /// Leave the containers, networks and volumes in place (to look at them).
    #[arg(long)]
    pub keep: bool,
}

/// One fault of the schedule as it ran.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Phase {
    name: String,
    what: String,
    start_ms: u64,
    end_ms: u64,
    /// Client operations invoked during it, by outcome.
    acknowledged: usize,
    refused: usize,
    unknown: usize,
    reads: usize,
    reads_failed: usize,
}

/// Runs a `cluster-test` subcommand; `Ok(false)`: a check failed.
pub async fn run(command: ClusterTestCommand) -> anyhow::Result<bool> {
    match command {
        ClusterTestCommand::Run(args) => {
            let docker = Docker {
                run_id: args.run_id.clone(),
            };
            let result = suite(&args, &docker).await;
            if !args.keep {
                let failures = docker.remove_all().await;
                for f in failures {
                    eprintln!("cluster-test: cleanup: {f}");
                }
            }
            result
        }
        ClusterTestCommand::Disk { dir } => disk(&dir).await.map(|()| true),
    }
}

/// A node of the run.
struct Node {
    container: String,
    /// The host port its GraphQL API is published on (127.0.0.1).
    port: u16,
    alias: &'static str,
}

/// What the schedule needs at hand.
struct Cluster {
    docker: Docker,
    nodes: Vec<Node>,
    peers: String,
    disk_helper: String,
    clients: Arc<Clients>,
    /// Faults that did not go as they must (a node that did not stop on a full disk...).
    failures: Vec<String>,
}

fn log(shared: &Shared, line: &str) {
    eprintln!(
        "cluster-test: [{:>7.1} s] {line}",
        shared.now_ms() as f64 / 1000.0
    );
}

async fn suite(args: &RunArgs, docker: &Docker) -> anyhow::Result<bool> {
    let suite_start = Instant::now();
    let members = std::path::absolute(&args.members)?;
    std::fs::create_dir_all(&args.out)?;
    let peers = docker.network("peers", true).await?;
    let api = docker.network("api", false).await?;
    let mut nodes = Vec::new();
    let mut disk_helper = String::new();
    for (i, &(name, member, alias)) in NODES.iter().enumerate() {
        let tmpfs = (i == DISK_NODE).then_some(args.disk_size.as_str());
        let volume = docker.volume(&format!("{name}-data"), tmpfs).await?;
        if i == DISK_NODE {
            disk_helper = docker
                .create(
                    "disk",
                    &args.image,
                    &[
                        "--network".into(),
                        "none".into(),
                        "-v".into(),
                        format!("{volume}:/disk"),
                    ],
                    &["cluster-test", "disk", "--dir", "/disk"],
                )
                .await?;
            docker.run(&["start", &disk_helper]).await?;
        }
        let port = free_port()?;
        let m = members.join(member);
        let mount = |from: PathBuf, to: String| format!("{}:{to}:ro", from.display());
        let extra = vec![
            "--network".into(),
            api.clone(),
            "-p".into(),
            format!("127.0.0.1:{port}:7201"),
            "-v".into(),
            mount(m.join("node"), format!("/silkline/{member}/node")),
            "-v".into(),
            mount(m.join("nodes"), format!("/silkline/{member}/nodes")),
            "-v".into(),
            mount(members.join("exchange"), "/silkline/exchange".into()),
            "-v".into(),
            format!("{volume}:/data"),
            "-e".into(),
            "RUST_LOG=info".into(),
            "--stop-timeout".into(),
            "30".into(),
        ];
        let config = format!("/silkline/{member}/node/config.json");
        let container = docker
            .create(
                name,
                &args.image,
                &extra,
                &["node", "run", "--config", &config],
            )
            .await?;
        docker
            .run(&["network", "connect", "--alias", alias, &peers, &container])
            .await?;
        nodes.push(Node {
            container,
            port,
            alias,
        });
    }
    for n in &nodes {
        docker.run(&["start", &n.container]).await?;
    }
    let endpoints: Vec<String> = nodes
        .iter()
        .map(|n| format!("https://127.0.0.1:{}/graphql", n.port))
        .collect();
    let shared = Arc::new(Shared::new());
    log(
        &shared,
        &format!("three nodes started ({})", endpoints.join(" ")),
    );
    // The nodes answer once they serve; the clients need an answer for the network id.
    let clients = {
        let deadline = Instant::now() + HEALTHY_WAIT;
        loop {
            match Clients::new(&members, &endpoints).await {
                Ok(c) => break Arc::new(c),
                Err(e) if Instant::now() >= deadline => {
                    return Err(e.context("the nodes did not serve"));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    };
    let mut cluster = Cluster {
        docker: docker.clone(),
        nodes,
        peers,
        disk_helper,
        clients: clients.clone(),
        failures: Vec::new(),
    };
    cluster.healthy(&shared).await?;
    log(&shared, "a leader is elected; clients start");

    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..args.writers.min(64) {
        tasks.spawn(workload::writer(
            shared.clone(),
            clients.clone(),
            w,
            0x5EED + w as u64,
        ));
    }
    for r in 0..args.readers.min(16) {
        tasks.spawn(workload::reader(
            shared.clone(),
            clients.clone(),
            0xEAD + r as u64,
        ));
    }

    let fault = Duration::from_secs(args.fault_seconds);
    let mut phases = Vec::new();
    let schedule_result = schedule(&mut cluster, &shared, fault, &mut phases).await;
    if let Err(e) = &schedule_result {
        cluster
            .failures
            .push(format!("the schedule stopped: {e:#}"));
        log(&shared, &format!("the schedule stopped: {e:#}"));
    }
    // Whatever happened, heal everything before the final checks.
    cluster.heal_all().await;
    shared.set_phase("stop");
    shared.stop.store(true, Ordering::Relaxed);
    let stopping = Instant::now() + CLIENTS_STOP_WAIT;
    while let Ok(Some(joined)) = tokio::time::timeout_at(stopping, tasks.join_next()).await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => cluster.failures.push(format!("a client failed: {e:#}")),
            Err(e) => cluster.failures.push(format!("a client panicked: {e}")),
        }
    }
    if !tasks.is_empty() {
        cluster
            .failures
            .push(format!("{} clients did not stop in time", tasks.len()));
        tasks.abort_all();
    }
    log(
        &shared,
        "clients stopped; waiting for the nodes to converge",
    );
    let converged_in = cluster.converge(&shared).await;
    log(
        &shared,
        &match converged_in {
            Some(d) => format!(
                "converged in {:.1} s; reading every node's chain",
                d.as_secs_f64()
            ),
            None => "the nodes did not converge in time; reading their chains anyway".into(),
        },
    );
    let history = std::mem::take(&mut *shared.history.lock().await);
    let bills: Vec<String> = {
        let mut b: Vec<String> = history.writes.iter().map(|w| w.bill.clone()).collect();
        b.sort();
        b.dedup();
        b
    };
    let mut ends = Vec::new();
    for i in 0..cluster.nodes.len() {
        ends.push(
            node_end(&clients, i, &bills)
                .await
                .with_context(|| format!("read node {}'s chain", i + 1))?,
        );
    }
    let verdict = check::check(&history, &ends);
    for p in &mut phases {
        for w in history.writes.iter().filter(|w| w.phase == p.name) {
            match w.outcome {
                Outcome::Acknowledged { .. } => p.acknowledged += 1,
                Outcome::Refused { .. } => p.refused += 1,
                Outcome::Unknown { .. } => p.unknown += 1,
            }
        }
        for r in history.reads.iter().filter(|r| r.phase == p.name) {
            p.reads += 1;
            p.reads_failed += usize::from(r.seen.is_err());
        }
    }
    let elapsed = suite_start.elapsed();
    let report = json!({
        "runId": args.run_id,
        "faultSeconds": args.fault_seconds,
        "writers": args.writers,
        "readers": args.readers,
        "seconds": elapsed.as_secs_f64(),
        "convergedSeconds": converged_in.map(|d| d.as_secs_f64()),
        "heights": ends.iter().map(|e| e.height).collect::<Vec<_>>(),
        "stateHash": ends.first().map(|e| e.state_hash.clone()),
        "phases": phases,
        "failures": cluster.failures,
        "verdict": verdict,
        "summary": verdict.summary(),
    });
    std::fs::write(
        args.out.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    let mut lines = String::new();
    for w in &history.writes {
        lines.push_str(&serde_json::to_string(&json!({"write": w}))?);
        lines.push('\n');
    }
    for r in &history.reads {
        lines.push_str(&serde_json::to_string(&json!({"read": r}))?);
        lines.push('\n');
    }
    std::fs::write(args.out.join("history.jsonl"), lines)?;
    for p in &phases {
        eprintln!(
            "cluster-test: phase {:<18} {:>6.1} s  {:>5} acknowledged {:>3} refused {:>3} unknown  {:>5} reads ({} failed)  {}",
            p.name,
            (p.end_ms - p.start_ms) as f64 / 1000.0,
            p.acknowledged,
            p.refused,
            p.unknown,
            p.reads,
            p.reads_failed,
            p.what
        );
    }
    for list in [
        &verdict.lost,
        &verdict.duplicated,
        &verdict.phantom,
        &verdict.stale_refusals,
        &verdict.order,
        &verdict.possessor,
        &verdict.stale_reads,
    ] {
        for v in list {
            eprintln!("cluster-test: VIOLATION {v}");
        }
    }
    if let Some(d) = &verdict.divergence {
        eprintln!("cluster-test: VIOLATION {d}");
    }
    for f in &cluster.failures {
        eprintln!("cluster-test: FAULT FAILED {f}");
    }
    eprintln!(
        "cluster-test: {} s in all; heights {:?}; report in {}",
        elapsed.as_secs(),
        ends.iter().map(|e| e.height).collect::<Vec<_>>(),
        args.out.join("report.json").display()
    );
    let mut summary = verdict.summary();
    if !cluster.failures.is_empty() {
        summary.push_str(&format!(", {} faults failed", cluster.failures.len()));
    }
    crate::out(summary)?;
    Ok(!verdict.violated() && cluster.failures.is_empty())
}

/// Starts phase `name`: the clients tag what they invoke with it.
fn begin(phases: &mut Vec<Phase>, shared: &Shared, name: &str, what: String) {
    shared.set_phase(name);
    log(shared, &format!("{name}: {what}"));
    phases.push(Phase {
        name: name.into(),
        what,
        start_ms: shared.now_ms(),
        end_ms: 0,
        acknowledged: 0,
        refused: 0,
        unknown: 0,
        reads: 0,
        reads_failed: 0,
    });
}

/// Ends the phase begun last.
fn end(phases: &mut [Phase], shared: &Shared) {
    if let Some(p) = phases.last_mut() {
        p.end_ms = shared.now_ms();
    }
}

/// The fault schedule: each fault for `fault`, then healed, then until every node follows one
/// leader again.
async fn schedule(
    c: &mut Cluster,
    shared: &Shared,
    fault: Duration,
    phases: &mut Vec<Phase>,
) -> anyhow::Result<()> {
    begin(phases, shared, "baseline", "no fault".into());
    tokio::time::sleep(fault).await;
    end(phases, shared);

    let leader = c.leader().await?;
    begin(
        phases,
        shared,
        "partition-leader",
        format!("node {} (the leader) cut off from its peers", leader + 1),
    );
    c.disconnect(leader).await?;
    tokio::time::sleep(fault).await;
    c.connect(leader).await?;
    c.healthy(shared).await?;
    end(phases, shared);

    let leader = c.leader().await?;
    let minority = (leader + 1) % c.nodes.len();
    begin(
        phases,
        shared,
        "partition-minority",
        format!("node {} (a follower) cut off from its peers", minority + 1),
    );
    c.disconnect(minority).await?;
    tokio::time::sleep(fault).await;
    c.connect(minority).await?;
    c.healthy(shared).await?;
    end(phases, shared);

    let leader = c.leader().await?;
    begin(
        phases,
        shared,
        "kill-leader",
        format!(
            "docker kill (SIGKILL) node {} (the leader), restart",
            leader + 1
        ),
    );
    c.docker.run(&["kill", &c.nodes[leader].container]).await?;
    tokio::time::sleep(fault).await;
    c.docker.run(&["start", &c.nodes[leader].container]).await?;
    c.healthy(shared).await?;
    end(phases, shared);

    let leader = c.leader().await?;
    let follower = (leader + 2) % c.nodes.len();
    begin(
        phases,
        shared,
        "kill-follower",
        format!(
            "docker kill (SIGKILL) node {} (a follower), restart",
            follower + 1
        ),
    );
    c.docker
        .run(&["kill", &c.nodes[follower].container])
        .await?;
    tokio::time::sleep(fault).await;
    c.docker
        .run(&["start", &c.nodes[follower].container])
        .await?;
    c.healthy(shared).await?;
    end(phases, shared);

    begin(
        phases,
        shared,
        "rolling-restart",
        "docker restart (SIGTERM) of nodes 1, 2, 3, one at a time".into(),
    );
    for i in 0..c.nodes.len() {
        c.docker
            .run(&["restart", "-t", "30", &c.nodes[i].container])
            .await?;
        c.healthy(shared).await?;
    }
    end(phases, shared);

    let leader = c.leader().await?;
    let pause = fault.max(ELECTION_TIMEOUT_MAX * 5);
    begin(
        phases,
        shared,
        "pause-leader",
        format!(
            "docker pause node {} (the leader) for {} s, then unpause",
            leader + 1,
            pause.as_secs()
        ),
    );
    c.docker.run(&["pause", &c.nodes[leader].container]).await?;
    tokio::time::sleep(pause).await;
    c.docker
        .run(&["unpause", &c.nodes[leader].container])
        .await?;
    c.healthy(shared).await?;
    end(phases, shared);

    begin(
        phases,
        shared,
        "disk-full",
        format!(
            "node {}'s data volume (tmpfs) filled: it must stop with a clear error; freed, restarted",
            DISK_NODE + 1
        ),
    );
    c.disk_full(shared, fault).await?;
    end(phases, shared);

    begin(phases, shared, "healed", "no fault".into());
    tokio::time::sleep(fault).await;
    end(phases, shared);
    Ok(())
}

impl Cluster {
    /// `{ node { ... } }` of node `i`, within [`STATUS_TIMEOUT`].
    async fn status(&self, i: usize) -> anyhow::Result<Value> {
        let v = tokio::time::timeout(
            STATUS_TIMEOUT,
            self.clients.get("CARRIER", i).graphql(
                "{ node { raftId role term leaderRaftId height stateHash blockHash appliedIndex commitIndex } }",
                json!({}),
            ),
        )
        .await
        .context("no answer in time")??;
        Ok(data(&v)?["node"].clone())
    }

    /// The index of the node that leads (as the node itself says).
    async fn leader(&self) -> anyhow::Result<usize> {
        let deadline = Instant::now() + HEALTHY_WAIT;
        loop {
            for i in 0..self.nodes.len() {
                if let Ok(s) = self.status(i).await
                    && s["role"] == "LEADER"
                {
                    return Ok(i);
                }
            }
            if Instant::now() >= deadline {
                bail!("no node leads");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until every node answers and follows the same leader, which says it leads.
    async fn healthy(&self, shared: &Shared) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let mut leaders = Vec::new();
            let mut leading = 0;
            for i in 0..self.nodes.len() {
                if let Ok(s) = self.status(i).await {
                    leaders.push(s["leaderRaftId"].as_u64().unwrap_or(0));
                    leading += usize::from(s["role"] == "LEADER");
                }
            }
            if leaders.len() == self.nodes.len()
                && leading == 1
                && leaders[0] != 0
                && leaders.iter().all(|l| *l == leaders[0])
            {
                log(
                    shared,
                    &format!(
                        "healthy: node {} leads ({:.1} s)",
                        leaders[0],
                        start.elapsed().as_secs_f64()
                    ),
                );
                return Ok(());
            }
            if start.elapsed() >= HEALTHY_WAIT {
                bail!(
                    "the nodes did not agree on a leader within {} s (leaders seen: {leaders:?})",
                    HEALTHY_WAIT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn disconnect(&self, i: usize) -> anyhow::Result<()> {
        self.docker
            .run(&[
                "network",
                "disconnect",
                &self.peers,
                &self.nodes[i].container,
            ])
            .await
            .map(drop)
    }

    async fn connect(&self, i: usize) -> anyhow::Result<()> {
        let n = &self.nodes[i];
        self.docker
            .run(&[
                "network",
                "connect",
                "--alias",
                n.alias,
                &self.peers,
                &n.container,
            ])
            .await
            .map(drop)
    }

    /// Every node running, unpaused and on the Raft network; errors are ignored (each step
    /// only undoes a fault that may not be in place).
    async fn heal_all(&self) {
        let _ = self
            .docker
            .run(&["kill", "--signal", "USR2", &self.disk_helper])
            .await;
        for (i, n) in self.nodes.iter().enumerate() {
            let _ = self.docker.run(&["unpause", &n.container]).await;
            let _ = self.connect(i).await;
            if !self.docker.running(&n.container).await {
                let _ = self.docker.run(&["start", &n.container]).await;
            }
        }
    }

    /// Fills the disk node's volume, waits for the node to stop with a clear error, keeps the
    /// others working for `fault`, frees the space and restarts the node.
    async fn disk_full(&mut self, shared: &Shared, fault: Duration) -> anyhow::Result<()> {
        let node = &self.nodes[DISK_NODE].container.clone();
        self.docker
            .run(&["kill", "--signal", "USR1", &self.disk_helper])
            .await?;
        let deadline = Instant::now() + DISK_STOP_WAIT;
        while self.docker.running(node).await {
            if Instant::now() >= deadline {
                self.failures.push(format!(
                    "node {} still runs {} s after its disk filled",
                    DISK_NODE + 1,
                    DISK_STOP_WAIT.as_secs()
                ));
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        if !self.docker.running(node).await {
            let code = self.docker.exit_code(node).await.unwrap_or(-1);
            let logs = self.docker.logs(node, 5).await;
            let last = logs.lines().last().unwrap_or_default().to_owned();
            log(
                shared,
                &format!("node {} stopped (exit {code}): {last}", DISK_NODE + 1),
            );
            if !last.contains("STORAGE_FULL") {
                self.failures.push(format!(
                    "node {} stopped on a full disk without saying so (STORAGE_FULL): {last}",
                    DISK_NODE + 1
                ));
            }
        }
        tokio::time::sleep(fault).await;
        self.docker
            .run(&["kill", "--signal", "USR2", &self.disk_helper])
            .await?;
        // The helper says when it has freed the space.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self
            .docker
            .logs(&self.disk_helper, 1)
            .await
            .contains("freed")
        {
            if Instant::now() >= deadline {
                bail!("the disk helper did not free the volume");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if !self.docker.running(node).await {
            self.docker.run(&["start", node]).await?;
        }
        self.healthy(shared).await
    }

    /// Waits until every node is at the same height, block hash and state hash; how long it took.
    async fn converge(&self, shared: &Shared) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < CONVERGE_WAIT {
            let mut tips = Vec::new();
            for i in 0..self.nodes.len() {
                if let Ok(s) = self.status(i).await {
                    tips.push((
                        s["height"].clone(),
                        s["stateHash"].clone(),
                        s["blockHash"].clone(),
                    ));
                }
            }
            if tips.len() == self.nodes.len() && tips.iter().all(|t| *t == tips[0]) {
                log(shared, &format!("converged at height {}", tips[0].0));
                return Some(start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        None
    }
}

/// A free TCP port on 127.0.0.1 (the kernel's choice; released at once for Docker to bind).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Node `i`'s chain, tip and the possessor of each of `bills`, as it holds them.
async fn node_end(clients: &Clients, i: usize, bills: &[String]) -> anyhow::Result<NodeEnd> {
    let c = clients.get("CARRIER", i);
    let tip = data(
        &c.graphql("{ node { height blockHash stateHash } }", json!({}))
            .await?,
    )?["node"]
        .clone();
    let height = tip["height"].as_u64().context("a height")?;
    let mut chain = Vec::new();
    let mut from = 1;
    while from <= height {
        let to = (from + BLOCKS_PER_REQUEST - 1).min(height);
        let fields: String = (from..=to)
            .map(|h| format!("b{h}: block(height: {h}) {{ transactions {{ txHash status }} }} "))
            .collect();
        let query = format!("{{ {fields}}}");
        let v = retry(|| c.graphql(&query, json!({}))).await?;
        let d = data(&v)?;
        for h in from..=to {
            let block = &d[format!("b{h}")];
            for t in block["transactions"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                chain.push(ChainTx {
                    height: h,
                    tx_hash: t["txHash"].as_str().unwrap_or_default().to_owned(),
                    committed: t["status"] == "COMMITTED",
                });
            }
        }
        from = to + 1;
    }
    let mut possessors = std::collections::BTreeMap::new();
    for bill in bills {
        let v = retry(|| {
            c.graphql(
                "query($r: String!) { document(carrierCode: \"CARRIER\", reference: $r, consistency: LOCAL) { possessor } }",
                json!({"r": bill}),
            )
        })
        .await?;
        let possessor = match data(&v) {
            Ok(d) => d["document"]["possessor"].as_str().map(str::to_owned),
            Err(e) if format!("{e}").contains("(NOT_FOUND)") => None,
            Err(e) => return Err(e.context(format!("read {bill}"))),
        };
        possessors.insert(bill.clone(), possessor);
    }
    Ok(NodeEnd {
        height,
        block_hash: tip["blockHash"].as_str().unwrap_or_default().to_owned(),
        state_hash: tip["stateHash"].as_str().unwrap_or_default().to_owned(),
        chain,
        possessors,
    })
}

/// `f` until it succeeds, at most 5 times, a second apart (the final reads follow a run of
/// faults; a node may still be finishing a restart).
async fn retry<F, Fut>(f: F) -> anyhow::Result<Value>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Value>>,
{
    let mut last = None;
    for _ in 0..5 {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no attempt")))
}

/// Most one fill writes: far above any volume the suite makes, so the loop is bounded.
const FILL_MAX_BYTES: u64 = 64 << 30;

/// The disk helper: holds `dir` (its volume stays mounted while the node is down), fills it on
/// SIGUSR1, frees it on SIGUSR2, exits on SIGTERM. Says what it did on stdout (`docker logs`).
async fn disk(dir: &Path) -> anyhow::Result<()> {
    use std::io::Write as _;
    use tokio::signal::unix::{SignalKind, signal};
    let mut fill = signal(SignalKind::user_defined1())?;
    let mut free = signal(SignalKind::user_defined2())?;
    let mut term = signal(SignalKind::terminate())?;
    let path = dir.join("cluster-test-filler");
    crate::out(format!("holding {}", dir.display()))?;
    loop {
        tokio::select! {
            _ = fill.recv() => {
                let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
                let mut written = 0u64;
                // Big writes first, then small ones for the last free bytes.
                for chunk in [1usize << 20, 4096, 512] {
                    let buffer = vec![0u8; chunk];
                    while written < FILL_MAX_BYTES {
                        match file.write(&buffer) {
                            Ok(0) => break,
                            Ok(n) => written += n as u64,
                            Err(_) => break,
                        }
                    }
                }
                let synced = file.sync_all();
                crate::out(format!("filled {}: {written} bytes written ({synced:?})", dir.display()))?;
            }
            _ = free.recv() => {
                let freed = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                match std::fs::remove_file(&path) {
                    Ok(()) => crate::out(format!("freed {freed} bytes"))?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => crate::out("freed 0 bytes (nothing to free)")?,
                    Err(e) => crate::out(format!("could not free: {e}"))?,
                }
            }
            _ = term.recv() => return Ok(()),
        }
    }
}
