//! The `silkline` binary as real processes on loopback: `dev init`, three `node run`s that elect
//! a leader and agree, kill -9 of the leader, re-election, rejoin after restart, refusal of a
//! node of another genesis, and a clean exit on SIGTERM. Observed through each node's
//! `status.json`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, ensure};
use common::{DEADLINE, POLL, wait_for};
use serde_json::Value;

fn silkline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_silkline"))
}

/// A running node: killed (SIGKILL) and reaped when dropped, so a failing test leaves no process.
struct NodeProcess {
    child: Child,
    data_dir: PathBuf,
}

impl NodeProcess {
    fn start(config: &Path) -> Result<NodeProcess> {
        let child = silkline()
            .args(["node", "run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info,raft=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawn silkline node run")?;
        let data_dir = config.parent().context("config dir")?.join("data");
        Ok(NodeProcess { child, data_dir })
    }

    /// This process's status, if it has written one yet (a file left by an earlier process of
    /// the same node is ignored).
    fn status(&self) -> Option<Value> {
        let text = std::fs::read_to_string(self.data_dir.join("status.json")).ok()?;
        let v: Value = serde_json::from_str(&text).ok()?;
        (v["pid"].as_u64() == Some(u64::from(self.child.id()))).then_some(v)
    }

    fn kill9(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    fn signal(&self, name: &str) -> Result<()> {
        let ok = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()?
            .success();
        ensure!(ok, "kill -{name} failed");
        Ok(())
    }

    fn wait_exit(&mut self) -> Result<ExitStatus> {
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
    let dir = tempfile::tempdir()?;
    dev_init(dir.path(), 3)?;
    let mut nodes = (1..=3)
        .map(|k| NodeProcess::start(&config_of(dir.path(), k)))
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

    nodes[leader_at] = NodeProcess::start(&config_of(dir.path(), leader_at + 1))?;
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
        node.signal("TERM")?;
        let status = node.wait_exit()?;
        assert!(status.success(), "exit status {status:?}");
    }
    Ok(())
}

#[test]
fn a_node_with_another_genesis_is_refused_by_its_peers() -> Result<()> {
    let dir = tempfile::tempdir()?;
    dev_init(dir.path(), 3)?;
    // Nodes 1 and 2 are a quorum of 3.
    let nodes = (1..=2)
        .map(|k| NodeProcess::start(&config_of(dir.path(), k)))
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
    let free = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    config["listen"] = free.to_string().into();
    std::fs::write(rogue_dir.join("config.json"), config.to_string())?;
    let rogue = NodeProcess::start(&rogue_dir.join("config.json"))?;

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
