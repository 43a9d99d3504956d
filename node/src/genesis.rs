//! `silkline genesis ...`: the network's founding configuration, assembled from the members'
//! public bundles (`pki::member`, `member.json`) and their nodes' certificates, and its hash,
//! which every member checks before it starts a node.
//!
//! - `genesis assemble`: verifies every bundle (a self-consistent CA, admins that chain to it,
//!   a role), refuses duplicates (members, CAs, parties, nodes, addresses, certificates),
//!   verifies every node certificate against its member's CA, writes `ledger::Genesis` JSON
//!   and, beside it, the node directory `nodes.json` (raft id, node id, member, address,
//!   fingerprint: what a node's configuration needs and the genesis does not say), and prints
//!   the genesis hash.
//! - `genesis hash`: the hash of a genesis file (`Genesis::genesis_hash`).
//! - `genesis ca-bundle`: the members' root CAs of a genesis, PEM, for API clients.
//!
//! What it is not: a vote. Whoever runs `assemble` holds no key of anyone; the members agree by
//! comparing the hash it prints, and a node refuses a peer of another genesis.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail, ensure};
use base64::Engine as _;
use ledger::{Genesis, MemberConfig, MemberRole, NodeConfig, PartyConfig};
use pki::member::MemberBundle;
use pki::{MemberCode, Purpose, TrustStore};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The node directory's file name, beside the genesis.
pub const NODES_FILE: &str = "nodes.json";

/// `silkline genesis` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum GenesisCommand {
    /// Build the genesis from the members' bundles and nodes; prints its hash.
    Assemble {
        /// The network id every transaction names.
        #[arg(long)]
        network_id: String,
        /// A member's bundle (member.json); repeat for every founding member.
        #[arg(long = "member", value_name = "FILE", required = true)]
        members: Vec<PathBuf>,
        /// A founding node: RAFT_ID=MEMBER@HOST:PORT=CERTFILE (its raft id, the member that
        /// runs it, where its Raft transport is reached, its TLS certificate from
        /// `member issue-node`); repeat for every node.
        #[arg(
            long = "node",
            value_name = "RAFT_ID=MEMBER@HOST:PORT=CERTFILE",
            required = true
        )]
        nodes: Vec<String>,
        /// The genesis time (default: now); no block is ever earlier.
        #[arg(long)]
        genesis_time_ms: Option<u64>,
        /// The network's DCSA PINT platform code (4 capital letters or digits), so that bills
        /// may cross to and from other eBL platforms.
        #[arg(long)]
        platform: Option<String>,
        /// The genesis file to write (refused if it exists); nodes.json is written beside it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the hash of a genesis file: every member compares it before starting a node.
    Hash {
        #[arg(long)]
        file: PathBuf,
    },
    /// Print the members' root CA certificates of a genesis (PEM): the CA bundle an API
    /// client (`silkline tx --ca`) trusts the nodes by.
    CaBundle {
        #[arg(long)]
        file: PathBuf,
    },
}

/// Runs one `silkline genesis` command.
pub fn run(command: &GenesisCommand) -> anyhow::Result<()> {
    match command {
        GenesisCommand::Assemble {
            network_id,
            members,
            nodes,
            genesis_time_ms,
            platform,
            out,
        } => assemble(
            network_id,
            members,
            nodes,
            *genesis_time_ms,
            platform.as_deref(),
            out,
        ),
        GenesisCommand::Hash { file } => {
            let genesis = load(file)?;
            crate::out(genesis.genesis_hash())?;
            Ok(())
        }
        GenesisCommand::CaBundle { file } => {
            let genesis = load(file)?;
            for m in &genesis.members {
                crate::out(m.ca_certificate_pem.trim_end())?;
            }
            Ok(())
        }
    }
}

/// Seconds since the Unix epoch, now.
pub fn now_s() -> anyhow::Result<i64> {
    Ok(i64::try_from(
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs(),
    )?)
}

fn load(file: &Path) -> anyhow::Result<Genesis> {
    let text = std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
    Genesis::from_json(&text).with_context(|| format!("the genesis {}", file.display()))
}

/// One entry of the node directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DirectoryNode {
    pub raft_id: u64,
    /// The node id its certificate names: what a peer pins it to.
    pub node_id: String,
    pub member: String,
    pub address: String,
    pub tls_certificate_sha256: String,
}

/// `nodes.json`: the genesis nodes with the node ids their certificates name. The genesis pins
/// each node by its certificate's fingerprint; a node's configuration names its peers by node
/// id, which only the certificates say. Checked against the genesis before use
/// ([`check_against`](Self::check_against)), so it adds nothing a member must trust beyond
/// the genesis hash it agreed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeDirectory {
    pub network_id: String,
    pub genesis_hash: String,
    pub nodes: Vec<DirectoryNode>,
}

impl NodeDirectory {
    pub fn load(path: &Path) -> anyhow::Result<NodeDirectory> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))
    }

    /// The entry of raft id `id`.
    pub fn node(&self, id: u64) -> Option<&DirectoryNode> {
        self.nodes.iter().find(|n| n.raft_id == id)
    }

    /// The directory describes exactly this genesis: its hash, and for every genesis node an
    /// entry with the same raft id, member, address and fingerprint (and no other entry).
    pub fn check_against(&self, genesis: &Genesis) -> anyhow::Result<()> {
        let hash = genesis.genesis_hash().to_string();
        ensure!(
            self.genesis_hash == hash,
            "it is for genesis {}, not {hash}",
            self.genesis_hash
        );
        ensure!(
            self.nodes.len() == genesis.nodes.len(),
            "it lists {} nodes, the genesis {}",
            self.nodes.len(),
            genesis.nodes.len()
        );
        for n in &genesis.nodes {
            let entry = self
                .node(n.id)
                .with_context(|| format!("no entry for node {}", n.id))?;
            ensure!(
                entry.member == n.member.as_str()
                    && entry.address == n.address
                    && entry.tls_certificate_sha256 == n.tls_certificate_sha256,
                "node {}'s entry differs from the genesis",
                n.id
            );
            pki::NodeId::new(entry.node_id.as_str()).map_err(anyhow::Error::msg)?;
        }
        Ok(())
    }
}

/// A `--node` argument, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NodeArg {
    raft_id: u64,
    member: String,
    address: String,
    cert: PathBuf,
}

/// `RAFT_ID=MEMBER@HOST:PORT=CERTFILE`.
fn parse_node(arg: &str) -> anyhow::Result<NodeArg> {
    let syntax = || format!("--node {arg:?}: expected RAFT_ID=MEMBER@HOST:PORT=CERTFILE");
    let (raft_id, rest) = arg.split_once('=').with_context(syntax)?;
    let (located, cert) = rest.split_once('=').with_context(syntax)?;
    let (member, address) = located.split_once('@').with_context(syntax)?;
    let raft_id: u64 = raft_id
        .parse()
        .ok()
        .filter(|id| *id != 0)
        .with_context(|| format!("{}: the raft id is a number from 1", syntax()))?;
    replication::transport::split_host_port(address)
        .map_err(anyhow::Error::msg)
        .with_context(syntax)?;
    ensure!(!member.is_empty() && !cert.is_empty(), "{}", syntax());
    Ok(NodeArg {
        raft_id,
        member: member.to_owned(),
        address: address.to_owned(),
        cert: PathBuf::from(cert),
    })
}

/// A refusal of `assemble`, with a stable code naming the rule.
fn refuse(code: &str, message: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{code}: {message}")
}

fn assemble(
    network_id: &str,
    member_files: &[PathBuf],
    node_args: &[String],
    genesis_time_ms: Option<u64>,
    platform: Option<&str>,
    out: &Path,
) -> anyhow::Result<()> {
    let now = now_s()?;
    let mut trust = TrustStore::new();
    let mut members = Vec::new();
    let mut parties = Vec::new();
    let mut own_parties = Vec::new();
    let mut party_codes = BTreeSet::new();
    for file in member_files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
        let bundle = MemberBundle::from_json(&text)
            .map_err(|e| refuse(e.code(), format!("{}: {e}", file.display())))?;
        let verified = bundle
            .verify(now)
            .map_err(|e| refuse(e.code(), format!("{}: {e}", file.display())))?;
        let role: MemberRole = serde_json::from_value(json!(bundle.role)).map_err(|_| {
            refuse(
                "BUNDLE_ROLE",
                format!(
                    "{}: role {:?} is not CARRIER, PORT, BANK or OBSERVER",
                    file.display(),
                    bundle.role
                ),
            )
        })?;
        if trust.members().any(|m| *m == bundle.code) {
            return Err(refuse(
                "DUPLICATE_MEMBER",
                format!("member {} is given twice ({})", bundle.code, file.display()),
            ));
        }
        trust
            .add_member(bundle.code.clone(), verified.root_der.clone())
            .map_err(|e| refuse("DUPLICATE_CA", format!("{}: {e}", file.display())))?;
        trust
            .set_revocations(&bundle.code, vec![verified.crl_der.clone()])
            .map_err(|e| refuse("BUNDLE_CRL_INVALID", format!("{}: {e}", file.display())))?;
        let code = ledger_code(bundle.code.as_str())?;
        for p in std::iter::once((code.clone(), bundle.name.clone())).chain(
            bundle
                .parties
                .iter()
                .map(|p| Ok::<_, anyhow::Error>((ledger_code(p.code.as_str())?, p.name.clone())))
                .collect::<anyhow::Result<Vec<_>>>()?,
        ) {
            if !party_codes.insert(p.0.clone()) {
                return Err(refuse(
                    "DUPLICATE_PARTY",
                    format!(
                        "party {} is a member or sponsored by two members ({})",
                        p.0,
                        file.display()
                    ),
                ));
            }
            let party = PartyConfig {
                code: p.0,
                name: p.1,
                sponsor: code.clone(),
            };
            if party.code == code {
                own_parties.push(party);
            } else {
                parties.push(party);
            }
        }
        members.push(MemberConfig {
            code,
            role,
            name: bundle.name.clone(),
            ca_certificate_pem: bundle.ca_certificate_pem.clone(),
            // A list signed by an intermediate is the member's to publish by governance, with
            // the intermediate in its admin's chain: the genesis checks lists against roots.
            initial_crl: verified
                .crl_by_root
                .then(|| base64::engine::general_purpose::STANDARD.encode(&verified.crl_der)),
        });
    }
    // A member's own party after a sponsored party of the same code would have been refused
    // above; the members' own parties first reads better.
    own_parties.extend(parties);

    let mut nodes = Vec::new();
    let mut directory = Vec::new();
    let mut seen_ids = BTreeSet::new();
    let mut seen_nodes = BTreeSet::new();
    let mut seen_addresses = BTreeSet::new();
    let mut seen_certs = BTreeSet::new();
    for arg in node_args {
        let n = parse_node(arg)?;
        let member = MemberCode::new(n.member.as_str()).map_err(anyhow::Error::msg)?;
        if !trust.members().any(|m| *m == member) {
            return Err(refuse(
                "UNKNOWN_MEMBER",
                format!(
                    "--node {arg}: {} is not a member given by --member",
                    n.member
                ),
            ));
        }
        let pem = std::fs::read_to_string(&n.cert)
            .with_context(|| format!("read {}", n.cert.display()))?;
        let chain = pki::pem::certificates(&pem)
            .map_err(anyhow::Error::msg)
            .with_context(|| n.cert.display().to_string())?;
        let at = u64::try_from(now)?;
        let identity = trust
            .verify_identity(&chain, at, Purpose::NodeServer)
            .map_err(|e| refuse("NODE_CERTIFICATE_INVALID", format!("--node {arg}: {e}")))?;
        let node_id = identity
            .node_id
            .clone()
            .with_context(|| format!("--node {arg}: the certificate is not a node certificate"))?;
        if identity.member != member {
            return Err(refuse(
                "NODE_CERTIFICATE_INVALID",
                format!(
                    "--node {arg}: the certificate was issued by {}'s CA, not {member}'s",
                    identity.member
                ),
            ));
        }
        let fingerprint = identity.fingerprint.to_string();
        for (fresh, what) in [
            (seen_ids.insert(n.raft_id), format!("raft id {}", n.raft_id)),
            (
                seen_nodes.insert(node_id.clone()),
                format!("node id {node_id}"),
            ),
            (
                seen_addresses.insert(n.address.clone()),
                format!("address {}", n.address),
            ),
            (
                seen_certs.insert(fingerprint.clone()),
                format!("certificate {}", n.cert.display()),
            ),
        ] {
            if !fresh {
                return Err(refuse("DUPLICATE_NODE", format!("{what} is given twice")));
            }
        }
        nodes.push(NodeConfig {
            id: n.raft_id,
            address: n.address.clone(),
            member: ledger_code(member.as_str())?,
            tls_certificate_sha256: fingerprint.clone(),
        });
        directory.push(DirectoryNode {
            raft_id: n.raft_id,
            node_id: node_id.as_str().to_owned(),
            member: member.as_str().to_owned(),
            address: n.address,
            tls_certificate_sha256: fingerprint,
        });
    }
    nodes.sort_by_key(|n| n.id);
    directory.sort_by_key(|n| n.raft_id);

    let genesis = Genesis {
        network_id: network_id.to_owned(),
        genesis_time_ms: match genesis_time_ms {
            Some(t) => t,
            None => u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?,
        },
        members,
        parties: own_parties,
        nodes,
        workflow_definitions: Genesis::definitions_of(&doc_workflow::Engine::standard()),
        platform: platform.map(str::to_owned),
    };
    genesis
        .validate()
        .map_err(|e| refuse("GENESIS_INVALID", e))?;
    let hash = genesis.genesis_hash().to_string();
    let nodes_path = out.parent().unwrap_or(Path::new(".")).join(NODES_FILE);
    for path in [out, nodes_path.as_path()] {
        if path.exists() {
            bail!(
                "{} already exists: refusing to overwrite it",
                path.display()
            );
        }
    }
    write_new(out, &serde_json::to_string_pretty(&genesis)?)?;
    let node_directory = NodeDirectory {
        network_id: network_id.to_owned(),
        genesis_hash: hash.clone(),
        nodes: directory,
    };
    write_new(&nodes_path, &serde_json::to_string_pretty(&node_directory)?)?;
    let nodes_out: BTreeMap<u64, &DirectoryNode> = node_directory
        .nodes
        .iter()
        .map(|n| (n.raft_id, n))
        .collect();
    crate::out(serde_json::to_string_pretty(&json!({
        "genesisHash": hash,
        "networkId": network_id,
        "genesis": out,
        "nodes": nodes_path,
        "members": genesis.members.iter().map(|m| m.code.as_str()).collect::<Vec<_>>(),
        "parties": genesis.parties.iter().map(|p| p.code.as_str()).collect::<Vec<_>>(),
        "nodeIds": nodes_out.values().map(|n| json!({"raftId": n.raft_id, "nodeId": n.node_id, "member": n.member, "address": n.address})).collect::<Vec<_>>(),
    }))?)?;
    Ok(())
}

fn ledger_code(code: &str) -> anyhow::Result<doc_workflow::PartyCode> {
    doc_workflow::PartyCode::new(code).map_err(|e| anyhow::anyhow!("code {code:?}: {e}"))
}

/// Writes a new file (never replacing one) and syncs it.
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_arguments_parse_or_name_their_syntax() {
        assert_eq!(
            parse_node("2=PORT@port-node.example.org:7001=port/nodes/p1.crt").unwrap(),
            NodeArg {
                raft_id: 2,
                member: "PORT".into(),
                address: "port-node.example.org:7001".into(),
                cert: PathBuf::from("port/nodes/p1.crt"),
            }
        );
        assert_eq!(
            parse_node("1=BANK@[::1]:7001=b.crt").unwrap().address,
            "[::1]:7001"
        );
        for bad in [
            "PORT@h:1=c.crt",
            "0=PORT@h:1=c.crt",
            "1=PORT=c.crt",
            "1=PORT@h=c.crt",
            "1=PORT@h:1",
            "1=@h:1=c.crt",
        ] {
            let err = parse_node(bad).unwrap_err();
            assert!(
                format!("{err:#}").contains("RAFT_ID=MEMBER@HOST:PORT=CERTFILE"),
                "{bad}: {err:#}"
            );
        }
    }
}
