//! `silkline dev init`: a dev network in one directory, ready for `silkline node run`.
//!
//! ```text
//! DIR/pki/                    the dev consortium (pki::dev layout)
//! DIR/genesis.json            members CARRIER, PORT, BANK; parties SHIPPER, CONSIGNEE; the nodes
//! DIR/nodes/nodeK/config.json one node's configuration (paths relative to it; Raft and API
//!                             ports on 127.0.0.1)
//! DIR/nodes/nodeK/data/       created by `node run`: raft.redb, state/, status.json
//! ```

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail, ensure};
use ledger::chain::Genesis;
use pki::IdentityKind;
use pki::dev::{ConsortiumSpec, generate_consortium};

use crate::config::{NodeFileConfig, PeerConfig};

/// The network id of every dev network: transactions name it.
pub const DEV_NETWORK_ID: &str = "silkline-dev";

/// Most nodes of a dev network: Raft wants few voters, and each node is a process on one
/// machine.
pub const DEV_NODES_MAX: usize = 7;

/// The genesis file inside a dev directory.
pub const GENESIS_FILE: &str = "genesis.json";

/// Generates a dev network of `nodes` nodes into `dir`. Refuses a directory that already holds
/// a genesis.
pub fn init(dir: &Path, nodes: usize) -> anyhow::Result<()> {
    ensure!(
        (1..=DEV_NODES_MAX).contains(&nodes),
        "--nodes must be 1 to {DEV_NODES_MAX}"
    );
    let genesis_path = dir.join(GENESIS_FILE);
    if genesis_path.exists() {
        bail!(
            "{} already exists: refusing to overwrite a network",
            genesis_path.display()
        );
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let now_s = i64::try_from(now.as_secs())?;
    let consortium = generate_consortium(&ConsortiumSpec::dev(nodes), &dir.join("pki"), now_s)
        .context("generate the dev consortium")?;
    let all = free_loopback_addresses(2 * nodes)?;
    let (addresses, api_addresses) = all.split_at(nodes);
    let addresses: Vec<String> = addresses.iter().map(SocketAddr::to_string).collect();
    let genesis = Genesis::of_dev_consortium(
        &consortium,
        DEV_NETWORK_ID,
        &addresses,
        u64::try_from(now.as_millis())?,
    )
    .context("the generated genesis")?;
    // create_new: two concurrent inits cannot both write a genesis.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&genesis_path)
        .with_context(|| format!("create {}", genesis_path.display()))?;
    file.write_all(serde_json::to_string_pretty(&genesis)?.as_bytes())?;
    file.sync_all()?;

    let identities: Vec<_> = consortium
        .manifest()
        .identities
        .iter()
        .filter(|i| i.kind == IdentityKind::Node)
        .collect();
    for ((node, identity), api) in genesis.nodes.iter().zip(&identities).zip(api_addresses) {
        let node_dir = dir.join("nodes").join(&identity.name);
        std::fs::create_dir_all(&node_dir)?;
        let pki_dir = PathBuf::from("../../pki");
        let peers: BTreeMap<u64, PeerConfig> = genesis
            .nodes
            .iter()
            .zip(&identities)
            .filter(|(other, _)| other.id != node.id)
            .map(|(other, i)| {
                Ok((
                    other.id,
                    PeerConfig {
                        node_id: node_id_of(i)?,
                        address: other.address.parse()?,
                    },
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        let config = NodeFileConfig {
            node_id: node_id_of(identity)?,
            raft_id: node.id,
            data_dir: PathBuf::from("data"),
            listen: node.address.parse()?,
            api_listen: Some(*api),
            snapshot_interval_entries: None,
            log_retain_entries: None,
            email: None,
            peers,
            certificate_chain: pki_dir.join(&identity.cert),
            private_key: pki_dir.join(&identity.key),
            genesis: PathBuf::from("../..").join(GENESIS_FILE),
        };
        std::fs::write(
            node_dir.join("config.json"),
            serde_json::to_string_pretty(&config)?,
        )?;
    }
    println!(
        "created a dev network of {nodes} nodes in {}: start it with `silkline dev up --dir {0}`, \
         or one node with `silkline node run --config {}`",
        dir.display(),
        dir.join("nodes/node1/config.json").display()
    );
    Ok(())
}

fn node_id_of(identity: &pki::dev::IdentityEntry) -> anyhow::Result<String> {
    Ok(identity
        .node_id
        .as_ref()
        .context("a node identity without a node id")?
        .as_str()
        .to_owned())
}

/// `n` distinct free ports on 127.0.0.1: all bound at once (so distinct), then released for the
/// nodes to bind. Another process could take one in between; a dev network accepts that risk.
fn free_loopback_addresses(n: usize) -> anyhow::Result<Vec<SocketAddr>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<Result<Vec<_>, _>>()
        .context("find free loopback ports")?;
    Ok(listeners
        .iter()
        .map(|l| l.local_addr())
        .collect::<Result<_, _>>()?)
}
