//! `silkline dev up` as a user runs it: it creates the network, starts the node processes,
//! writes `network.json` once they serve, stops them all on SIGTERM, and resumes the same
//! network (same genesis, same data) when run again on the same directory.

use crate::common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, ensure};
use common::{DEADLINE, POLL, wait_for};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

/// `silkline dev up`, killed with its nodes if the test fails half-way.
struct DevUp(Child);

impl DevUp {
    fn start(dir: &Path) -> Result<DevUp> {
        let child = common::silkline()
            .args(["dev", "up", "--dir"])
            .arg(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawn silkline dev up")?;
        Ok(DevUp(child))
    }
}

impl Drop for DevUp {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = kill(Pid::from_raw(self.0.id() as i32), Signal::SIGTERM);
        }
        let start = Instant::now();
        while matches!(self.0.try_wait(), Ok(None)) && start.elapsed() < DEADLINE {
            std::thread::sleep(POLL);
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether the process a `network.json` names (its pid as JSON gives it) still runs.
fn alive(pid: u64) -> bool {
    u32::try_from(pid).is_ok_and(common::alive)
}

/// The network file, once it names node processes other than `previous`.
fn network(dir: &Path, previous: &[u64]) -> Option<Value> {
    let v: Value = serde_json::from_slice(&std::fs::read(dir.join("network.json")).ok()?).ok()?;
    let pids = pids(&v);
    (!pids.is_empty() && pids.iter().all(|p| !previous.contains(p))).then_some(v)
}

fn pids(network: &Value) -> Vec<u64> {
    network["nodes"]
        .as_array()
        .map(|nodes| nodes.iter().filter_map(|n| n["pid"].as_u64()).collect())
        .unwrap_or_default()
}

/// Runs `dev up` until it has written its network file, checks it, stops it with SIGTERM and
/// checks that it and its nodes are gone. Returns the network file.
fn up_and_down(dir: &Path, previous: &[u64]) -> Result<Value> {
    let mut up = DevUp::start(dir)?;
    let net = wait_for("network.json of this run", || network(dir, previous))?;
    ensure!(net["nodes"].as_array().map(Vec::len) == Some(3), "{net}");
    ensure!(net["network_id"] == "silkline-dev", "{net}");
    for node in net["nodes"].as_array().unwrap() {
        let status: Value =
            serde_json::from_slice(&std::fs::read(node["status"].as_str().unwrap())?)?;
        ensure!(status["leaderId"].as_u64().unwrap_or(0) != 0, "{status}");
        ensure!(
            alive(node["pid"].as_u64().unwrap()),
            "node {node} is not running"
        );
    }
    let identities = net["identities"].as_array().context("identities")?;
    for name in [
        "carrier",
        "shipper",
        "consignee",
        "bank",
        "port",
        "haulier",
        "bank-admin",
    ] {
        let id = identities
            .iter()
            .find(|i| i["name"] == name)
            .with_context(|| format!("identity {name}"))?;
        ensure!(Path::new(id["cert"].as_str().unwrap()).exists());
        ensure!(Path::new(id["key"].as_str().unwrap()).exists());
    }
    ensure!(Path::new(net["ca_bundle"].as_str().unwrap()).exists());

    kill(Pid::from_raw(up.0.id() as i32), Signal::SIGTERM)?;
    let status = wait_for("dev up to exit", || up.0.try_wait().ok().flatten())?;
    ensure!(status.success(), "dev up exited with {status}");
    for pid in pids(&net) {
        wait_for("a node to exit", || (!alive(pid)).then_some(()))?;
    }
    Ok(net)
}

#[test]
fn dev_up_runs_a_network_stops_it_on_sigterm_and_resumes_it() -> Result<()> {
    let _one_at_a_time = common::exclusive();
    let dir = tempfile::tempdir()?;
    let first = up_and_down(dir.path(), &[])?;
    let genesis = std::fs::read(dir.path().join("genesis.json"))?;

    let second = up_and_down(dir.path(), &pids(&first))?;
    ensure!(
        std::fs::read(dir.path().join("genesis.json"))? == genesis,
        "a resumed network keeps its genesis"
    );
    ensure!(first["nodes"][0]["address"] == second["nodes"][0]["address"]);
    Ok(())
}
