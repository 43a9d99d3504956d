//! The node's configuration file (`silkline node run --config FILE`), JSON in camelCase.
//!
//! Relative paths are resolved against the directory of the configuration file, so that a
//! directory made by `silkline dev init` can be moved as a whole.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

/// One node's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeFileConfig {
    /// The node id its TLS certificate names (`node1`, ...): peers pin the certificate to it.
    pub node_id: String,
    /// This node's Raft id: nonzero. A genesis node's, or (to join an existing network, with an
    /// empty data directory) the raft id a committed `ADD_NODE` gave this node.
    pub raft_id: u64,
    /// Where the node keeps its durable state: `raft.redb` (the Raft log and hard state),
    /// `state/` (the sled ledger state) and `status.json` (the observation point).
    pub data_dir: PathBuf,
    /// The address the Raft transport listens on (mutual TLS); normally the address the
    /// genesis gives for this node.
    pub listen: SocketAddr,
    /// The address the GraphQL API listens on (HTTPS, client certificates required); none: no
    /// API on this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_listen: Option<SocketAddr>,
    /// Compaction: a local snapshot every this many applied entries (default
    /// `ledger::replica::SNAPSHOT_INTERVAL_ENTRIES`). Lower it to see snapshot catch-up sooner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_interval_entries: Option<u64>,
    /// Compaction keeps this many entries behind a snapshot for slow followers (default
    /// `ledger::replica::LOG_RETAIN_ENTRIES`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_retain_entries: Option<u64>,
    /// E-mail notifications to this member's parties (`adapters::email::EmailConfig`: SMTP
    /// server, TLS mode, sender, contacts per party); none: no mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<adapters::email::EmailConfig>,
    /// Other nodes: Raft id, the node id its certificate must name, and its address. The
    /// genesis nodes' ids come from here; nodes added later are learned from the ledger.
    pub peers: BTreeMap<u64, PeerConfig>,
    /// This node's certificate chain, PEM, leaf first (a `node` certificate of its member).
    pub certificate_chain: PathBuf,
    /// The private key of the leaf certificate, PKCS#8 PEM.
    pub private_key: PathBuf,
    /// The network's genesis (`ledger::chain::Genesis` JSON). Its hash is exchanged in the
    /// transport hello: a peer with another genesis is refused.
    pub genesis: PathBuf,
}

/// Where a peer is and who it must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PeerConfig {
    /// The node id the peer's certificate must name.
    pub node_id: String,
    /// Where the peer's Raft transport listens.
    pub address: SocketAddr,
}

impl NodeFileConfig {
    /// Reads `path` and resolves its relative paths against the file's directory.
    pub fn load(path: &Path) -> anyhow::Result<NodeFileConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("read configuration {}", path.display()))?;
        let mut config: NodeFileConfig = serde_json::from_str(&text)
            .with_context(|| format!("parse configuration {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut config.data_dir,
            &mut config.certificate_chain,
            &mut config.private_key,
            &mut config.genesis,
        ] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if config.raft_id == 0 {
            bail!("raftId must be nonzero");
        }
        if config.peers.contains_key(&config.raft_id) {
            bail!("peers must not list this node's own raftId");
        }
        Ok(config)
    }
}
