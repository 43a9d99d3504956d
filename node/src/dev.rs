//! `silkline dev init`: a dev network in one directory, ready for `silkline node run`.
//!
//! ```text
//! DIR/pki/                    the dev consortium (pki::dev layout)
//! DIR/genesis.json            members CARRIER, PORT, BANK; parties SHIPPER, CONSIGNEE; the nodes
//! DIR/nodes/nodeK/config.json one node's configuration (paths relative to it; Raft and API
//!                             ports on 127.0.0.1)
//! DIR/nodes/nodeK/data/       created by `node run`: raft.redb, state/, status.json
//! ```
//!
//! `silkline dev add-node --dir DIR [--member CODE]` prepares one more node for a running dev
//! network: a node certificate from the member's CA (`pki::dev`) and `nodes/nodeK/config.json`
//! (K the next raft id, free loopback ports, every existing node as a peer). It starts nothing
//! and changes no genesis: the node joins once the member's admin commits `tx add-node` with
//! the raft id, node id and address it prints, and `silkline node run --config` starts it.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail, ensure};
use ledger::chain::Genesis;
use pki::dev::{Consortium, ConsortiumSpec, IdentityRequest, generate_consortium};
use pki::{IdentityKind, MemberCode, NodeId, PartyCode};

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
        write_node_config(
            &node_dir,
            node_id_of(identity)?,
            node.id,
            node.address.parse()?,
            *api,
            peers,
            identity,
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

/// Prepares node K+1 of the dev network in `dir` for `member` (see the module docs) and prints
/// what `tx add-node` needs, as JSON.
pub fn add_node(dir: &Path, member: &str) -> anyhow::Result<()> {
    let genesis_path = dir.join(GENESIS_FILE);
    let genesis = Genesis::from_json(
        &std::fs::read_to_string(&genesis_path)
            .with_context(|| format!("read {}", genesis_path.display()))?,
    )?;
    let member = MemberCode::new(member).map_err(anyhow::Error::msg)?;
    let member_config = genesis
        .members
        .iter()
        .find(|m| m.code.as_str() == member.as_str())
        .with_context(|| format!("{member} is not a member of this network"))?;
    // Every node prepared so far: the genesis' and those added before.
    let mut existing: BTreeMap<u64, (String, SocketAddr)> = BTreeMap::new();
    let nodes_dir = dir.join("nodes");
    for entry in std::fs::read_dir(&nodes_dir)
        .with_context(|| format!("read {}", nodes_dir.display()))?
        .take(DEV_NODES_MAX * 4)
    {
        let path = entry?.path().join("config.json");
        if path.exists() {
            let c = NodeFileConfig::load(&path)?;
            existing.insert(c.raft_id, (c.node_id, c.listen));
        }
    }
    ensure!(
        existing.len() < DEV_NODES_MAX,
        "a dev network has at most {DEV_NODES_MAX} nodes"
    );
    let raft_id = existing
        .keys()
        .chain(genesis.nodes.iter().map(|n| &n.id))
        .max()
        .copied()
        .unwrap_or(0)
        + 1;
    let name = format!("node{raft_id}");
    let node_dir = nodes_dir.join(&name);
    ensure!(!node_dir.exists(), "{} already exists", node_dir.display());
    let mut consortium = Consortium::open(&dir.join("pki")).context("open the dev consortium")?;
    let now_s = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())?;
    let identity = consortium
        .issue(&IdentityRequest {
            name: name.clone(),
            member: member.clone(),
            party: PartyCode::new(member.as_str()).map_err(anyhow::Error::msg)?,
            party_name: member_config.name.clone(),
            kind: IdentityKind::Node,
            node_id: Some(NodeId::new(name.as_str()).map_err(anyhow::Error::msg)?),
            ips: Vec::new(),
            not_before: now_s,
            not_after: now_s + pki::dev::DEFAULT_VALIDITY_S,
        })
        .context("issue the node certificate")?;
    let ports = free_loopback_addresses(2)?;
    let peers = existing
        .into_iter()
        .map(|(id, (node_id, address))| (id, PeerConfig { node_id, address }))
        .collect();
    std::fs::create_dir_all(&node_dir)?;
    let config_path = write_node_config(
        &node_dir,
        name.clone(),
        raft_id,
        ports[0],
        ports[1],
        peers,
        &identity,
    )?;
    let out = serde_json::json!({
        "raftId": raft_id,
        "nodeId": name,
        "address": ports[0].to_string(),
        "api": format!("https://{}/graphql", ports[1]),
        "member": member.as_str(),
        "config": config_path,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// Writes `node_dir/config.json` for a dev node: data in `data/`, the certificate and key from
/// the dev consortium (`DIR/pki`), the network's genesis (`DIR/genesis.json`), all relative to
/// `node_dir` so that the directory can move. Returns the file's path.
fn write_node_config(
    node_dir: &Path,
    node_id: String,
    raft_id: u64,
    listen: SocketAddr,
    api_listen: SocketAddr,
    peers: BTreeMap<u64, PeerConfig>,
    identity: &pki::dev::IdentityEntry,
) -> anyhow::Result<PathBuf> {
    let pki_dir = PathBuf::from("../../pki");
    let config = NodeFileConfig {
        node_id,
        raft_id,
        data_dir: PathBuf::from("data"),
        listen,
        api_listen: Some(api_listen),
        snapshot_interval_entries: None,
        log_retain_entries: None,
        email: None,
        peers,
        certificate_chain: pki_dir.join(&identity.cert),
        private_key: pki_dir.join(&identity.key),
        genesis: PathBuf::from("../..").join(GENESIS_FILE),
    };
    let path = node_dir.join("config.json");
    std::fs::write(&path, serde_json::to_string_pretty(&config)?)?;
    Ok(path)
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
