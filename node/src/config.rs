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
    /// The address this node's DCSA PINT endpoints listen on (HTTPS with the node's
    /// certificate, no client certificate: other eBL platforms send bills here, every message
    /// signed); none: this node receives no bills from other platforms. Needs the genesis
    /// `platform`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pint_listen: Option<SocketAddr>,
    /// The address the public verification page listens on (HTTPS, no client certificate:
    /// `graphql::public`); none: no public page on this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_listen: Option<SocketAddr>,
    /// The address the operations listener listens on (plain HTTP: `/metrics`, `/livez`,
    /// `/readyz`, `/version`, `POST /backup`; `node::ops`); none (the default): no operations
    /// listener. It has no TLS and no client authentication, so it belongs on a loopback or
    /// private address that only the operator's scraper and tools reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ops_listen: Option<SocketAddr>,
    /// The base URL visitors reach the verification page at (`https://host[:port][/path]`):
    /// the QR code of every PDF this node renders leads to `{publicBaseUrl}/verify/...`.
    /// Default: `https://{publicListen}`. It may name another node's page, or a reverse proxy's
    /// public name; with neither, QR codes carry the reference and checksum only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_base_url: Option<String>,
    /// The certificate chain (PEM, leaf first) the public listener presents; default: the
    /// node's `certificateChain`. Browsers accept ECDSA and RSA certificates only (not
    /// Ed25519), and a page for the public is best served with a certificate browsers trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_certificate_chain: Option<PathBuf>,
    /// The private key (PKCS#8 PEM) of `publicCertificateChain`'s leaf; default: the node's
    /// `privateKey`. Given together with the chain, or not at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_private_key: Option<PathBuf>,
    /// Compaction: a local snapshot every this many applied entries (default
    /// `replication::replica::SNAPSHOT_INTERVAL_ENTRIES`). Lower it to see snapshot catch-up sooner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_interval_entries: Option<u64>,
    /// Compaction keeps this many entries behind a snapshot for slow followers (default
    /// `replication::replica::LOG_RETAIN_ENTRIES`).
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
    /// The network's genesis (`ledger::Genesis` JSON). Its hash is exchanged in the
    /// transport hello: a peer with another genesis is refused.
    pub genesis: PathBuf,
}

/// Where a peer is and who it must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PeerConfig {
    /// The node id the peer's certificate must name.
    pub node_id: String,
    /// Where the peer's Raft transport listens: `host:port`, the host a DNS name or an IP
    /// address (IPv6 in brackets). A name is resolved again at every (re)connect, so a peer
    /// that moves keeps its name.
    pub address: String,
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
        ]
        .into_iter()
        .chain(config.public_certificate_chain.as_mut())
        .chain(config.public_private_key.as_mut())
        {
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
        for (id, peer) in &config.peers {
            replication::transport::split_host_port(&peer.address)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("peers.{id}.address in {}", path.display()))?;
        }
        if config.public_certificate_chain.is_some() != config.public_private_key.is_some() {
            bail!("publicCertificateChain and publicPrivateKey go together: give both or neither");
        }
        if let Some(base) = config.verify_base_url() {
            graphql::public::base_path(&base)
                .with_context(|| format!("publicBaseUrl in {}", path.display()))?;
        }
        Ok(config)
    }

    /// The base URL of the verification page the QR codes of this node's PDFs lead to:
    /// `publicBaseUrl`, else `https://{publicListen}`, else none.
    pub fn verify_base_url(&self) -> Option<String> {
        self.public_base_url
            .clone()
            .or_else(|| self.public_listen.map(|a| format!("https://{a}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration as `dev init` wrote it before the verification page existed, with
    /// `extra` members added.
    fn write(dir: &Path, extra: serde_json::Value) -> PathBuf {
        let mut config = serde_json::json!({
            "nodeId": "node1",
            "raftId": 1,
            "dataDir": "data",
            "listen": "127.0.0.1:7001",
            "apiListen": "127.0.0.1:7002",
            "peers": {},
            "certificateChain": "../../pki/nodes/node1.crt",
            "privateKey": "../../pki/nodes/node1.key",
            "genesis": "../../genesis.json"
        });
        for (k, v) in extra.as_object().unwrap() {
            config[k] = v.clone();
        }
        let path = dir.join("config.json");
        std::fs::write(&path, config.to_string()).unwrap();
        path
    }

    #[test]
    fn a_configuration_from_before_the_public_page_still_loads_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let config = NodeFileConfig::load(&write(dir.path(), serde_json::json!({}))).unwrap();
        assert_eq!(config.public_listen, None);
        assert_eq!(config.verify_base_url(), None);
    }

    #[test]
    fn the_public_page_defaults_to_its_listen_address_and_the_node_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            serde_json::json!({"publicListen": "127.0.0.1:7003"}),
        );
        let config = NodeFileConfig::load(&path).unwrap();
        assert_eq!(
            config.verify_base_url().as_deref(),
            Some("https://127.0.0.1:7003")
        );
        assert_eq!(config.public_certificate_chain, None);

        let path = write(
            dir.path(),
            serde_json::json!({
                "publicListen": "127.0.0.1:7003",
                "publicBaseUrl": "https://verify.example.org/silkline",
                "publicCertificateChain": "public.crt",
                "publicPrivateKey": "public.key"
            }),
        );
        let config = NodeFileConfig::load(&path).unwrap();
        assert_eq!(
            config.verify_base_url().as_deref(),
            Some("https://verify.example.org/silkline")
        );
        assert_eq!(
            config.public_certificate_chain,
            Some(dir.path().join("public.crt"))
        );
    }

    #[test]
    fn peers_are_host_and_port_and_anything_else_is_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let peers = |address: &str| serde_json::json!({"peers": {"2": {"nodeId": "node2", "address": address}}});
        for good in [
            "localhost:7001",
            "node2.example.org:7001",
            "127.0.0.2:7001",
            "[::1]:7001",
        ] {
            let config = NodeFileConfig::load(&write(dir.path(), peers(good))).unwrap();
            assert_eq!(config.peers[&2].address, good);
        }
        for bad in ["localhost", "node2.example.org:0", "::1:7001", ":7001"] {
            let err = NodeFileConfig::load(&write(dir.path(), peers(bad))).unwrap_err();
            assert!(
                format!("{err:#}").contains("peers.2.address"),
                "{bad}: {err:#}"
            );
        }
    }

    #[test]
    fn a_bad_base_url_or_a_chain_without_its_key_is_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        for extra in [
            serde_json::json!({"publicBaseUrl": "ftp://verify.example.org"}),
            serde_json::json!({"publicBaseUrl": "https://verify.example.org/?q=1"}),
            serde_json::json!({"publicCertificateChain": "public.crt"}),
        ] {
            let path = write(dir.path(), extra.clone());
            assert!(NodeFileConfig::load(&path).is_err(), "{extra}");
        }
    }
}
