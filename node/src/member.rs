//! `silkline member ...`: one member's side of forming a consortium, run by that member on its
//! own machine in its own directory (`pki::member`), never touching another member's files.
//!
//! - `member init`: the member's root CA (optionally an issuing intermediate), an admin
//!   certificate, its first revocation list and its public bundle `DIR/member.json`.
//! - `member issue-node`: a node TLS certificate (DNS and IP SANs); prints the SHA-256
//!   fingerprint the genesis pins.
//! - `member issue-user`: a user or admin certificate for a party the member sponsors.
//! - `member revoke`: the member's next revocation list in `DIR/crl.pem`, for
//!   `silkline tx revoke --crl` to publish.
//! - `member node-config`: a node's configuration file from the member's directory and the
//!   agreed genesis (and the node directory `genesis assemble` wrote beside it).
//!
//! What it is not: a CA service. Nothing here talks to a network or reads another member's
//! directory; what crosses between members is `member.json`, node certificates, the genesis and
//! its node directory, all public.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail, ensure};
use ledger::Genesis;
use pki::member::{MemberDir, MemberInit};
use pki::{MemberCode, NodeId, PartyCode};
use serde_json::json;

use crate::config::{NodeFileConfig, PeerConfig};
use crate::genesis::{NodeDirectory, now_s};

/// `silkline member` subcommands.
// Parsed once per process from the command line: the size of its largest variant (a node's
// configuration, many optional addresses) costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, clap::Subcommand)]
pub enum MemberCommand {
    /// Make this member's own CA in DIR (which must be new or empty): root CA (and issuing
    /// intermediate), an admin certificate, the first revocation list, and the public bundle
    /// DIR/member.json to send to the other members.
    Init {
        /// The member's directory: it holds private keys, so it is made once, mode 0700.
        #[arg(long)]
        dir: PathBuf,
        /// The member's code (its own party's code too), e.g. an LEI or SCAC.
        #[arg(long)]
        code: String,
        /// The member's name.
        #[arg(long)]
        name: String,
        /// The member's role on the network.
        #[arg(long, value_parser = ["CARRIER", "PORT", "BANK", "OBSERVER"])]
        role: String,
        /// Issue from an intermediate under the root, so that the root key can be kept offline.
        #[arg(long)]
        intermediate: bool,
        /// The key algorithm of the CA and of what it issues.
        #[arg(long, value_enum, default_value = "ed25519")]
        algorithm: Algorithm,
    },
    /// Issue a node TLS certificate (DIR/nodes/ID.crt, key 0600) and print its SHA-256
    /// fingerprint, which the genesis pins.
    IssueNode {
        #[arg(long)]
        dir: PathBuf,
        /// The node id its certificate names (peers pin it).
        #[arg(long)]
        node_id: String,
        /// A DNS name the node is reached at; repeat for several.
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// An IP address the node is reached at; repeat for several.
        #[arg(long = "ip")]
        ips: Vec<IpAddr>,
    },
    /// Issue a user certificate (an admin with --admin) for a party this member sponsors:
    /// its own, or one named with --party-name the first time, which joins member.json's
    /// parties.
    IssueUser {
        #[arg(long)]
        dir: PathBuf,
        /// The party the holder acts for.
        #[arg(long)]
        party: String,
        /// The holder's name (the certificate's CN; the files are named after it).
        #[arg(long)]
        name: String,
        /// The party's name, the first time this member issues for it.
        #[arg(long)]
        party_name: Option<String>,
        /// An admin of the member (its own party only): signs governance transactions.
        #[arg(long)]
        admin: bool,
    },
    /// Revoke a certificate this member issued: writes the member's next revocation list to
    /// DIR/crl.pem. Publish it with `silkline tx revoke --crl DIR/crl.pem` as the member's
    /// admin.
    Revoke {
        #[arg(long)]
        dir: PathBuf,
        /// The certificate (PEM; a chain's leaf) to revoke.
        #[arg(long)]
        cert: PathBuf,
    },
    /// Write the configuration of one of this member's nodes from its directory and the
    /// agreed genesis: the node is the genesis node whose pinned fingerprint is its
    /// certificate's, its peers every other genesis node.
    NodeConfig {
        #[arg(long)]
        dir: PathBuf,
        /// The agreed genesis (check its hash with `silkline genesis hash` first).
        #[arg(long)]
        genesis: PathBuf,
        /// The node directory `genesis assemble` wrote (default: nodes.json beside the genesis).
        #[arg(long)]
        nodes: Option<PathBuf>,
        /// The node, as `issue-node` named it.
        #[arg(long)]
        node_id: String,
        /// Where its Raft transport listens (default: the genesis address when it is an IP
        /// address, else 0.0.0.0 on its port).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Where its GraphQL API listens (none: no API).
        #[arg(long)]
        api: Option<SocketAddr>,
        /// Where its public verification page listens (none: no page).
        #[arg(long)]
        public: Option<SocketAddr>,
        /// Where its DCSA PINT endpoints listen (none: it receives no bills from other
        /// platforms); needs a genesis with a platform code.
        #[arg(long)]
        pint: Option<SocketAddr>,
        /// Where its operations listener listens: plain HTTP for metrics, health and backups,
        /// so a loopback or private address (none, the default: no operations listener).
        #[arg(long)]
        ops: Option<SocketAddr>,
        /// Its data directory (default: `data` beside the configuration file).
        #[arg(long)]
        data: Option<PathBuf>,
        /// The configuration file to write (refused if it exists).
        #[arg(long)]
        out: PathBuf,
    },
}

/// The key algorithm `member init` gives the CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Algorithm {
    Ed25519,
    P256,
}

/// Runs one `silkline member` command.
pub fn run(command: &MemberCommand) -> anyhow::Result<()> {
    match command {
        MemberCommand::Init {
            dir,
            code,
            name,
            role,
            intermediate,
            algorithm,
        } => init(dir, code, name, role, *intermediate, *algorithm),
        MemberCommand::IssueNode {
            dir,
            node_id,
            hosts,
            ips,
        } => issue_node(dir, node_id, hosts, ips),
        MemberCommand::IssueUser {
            dir,
            party,
            name,
            party_name,
            admin,
        } => issue_user(dir, party, name, party_name.as_deref(), *admin),
        MemberCommand::Revoke { dir, cert } => revoke(dir, cert),
        MemberCommand::NodeConfig {
            dir,
            genesis,
            nodes,
            node_id,
            listen,
            api,
            public,
            pint,
            ops,
            data,
            out,
        } => node_config(&NodeConfigArgs {
            dir,
            genesis,
            nodes: nodes.as_deref(),
            node_id,
            listen: *listen,
            api: *api,
            public: *public,
            pint: *pint,
            ops: *ops,
            data: data.as_deref(),
            out,
        }),
    }
}

/// A `pki::member` error as the CLI prints it: its stable code first.
fn coded(e: pki::member::MemberError) -> anyhow::Error {
    anyhow::anyhow!("{}: {e}", e.code())
}

fn init(
    dir: &Path,
    code: &str,
    name: &str,
    role: &str,
    intermediate: bool,
    algorithm: Algorithm,
) -> anyhow::Result<()> {
    let member = MemberDir::init(
        dir,
        &MemberInit {
            code: MemberCode::new(code).map_err(anyhow::Error::msg)?,
            name: name.to_owned(),
            role: role.to_owned(),
            algorithm: match algorithm {
                Algorithm::Ed25519 => pki::dev::KeyAlgorithm::Ed25519,
                Algorithm::P256 => pki::dev::KeyAlgorithm::P256,
            },
            intermediate,
        },
        now_s()?,
    )
    .map_err(coded)?;
    let (admin_cert, admin_key) = member.identity_files(pki::member::FIRST_ADMIN);
    crate::out(serde_json::to_string_pretty(&json!({
        "member": code,
        "bundle": member.dir().join(pki::member::BUNDLE_FILE),
        "admin": {"cert": admin_cert, "key": admin_key},
        "next": "send member.json to the other members; issue your nodes with `silkline member issue-node`",
    }))?)?;
    Ok(())
}

fn issue_node(dir: &Path, node_id: &str, hosts: &[String], ips: &[IpAddr]) -> anyhow::Result<()> {
    let mut member = MemberDir::open(dir).map_err(coded)?;
    let node = NodeId::new(node_id).map_err(anyhow::Error::msg)?;
    let issued = member
        .issue_node(&node, hosts, ips, now_s()?)
        .map_err(coded)?;
    crate::out(serde_json::to_string_pretty(&json!({
        "nodeId": node_id,
        "member": member.bundle().code.as_str(),
        "cert": issued.cert,
        "key": issued.key,
        "serial": issued.serial,
        "tlsCertificateSha256": issued.fingerprint,
    }))?)?;
    Ok(())
}

fn issue_user(
    dir: &Path,
    party: &str,
    name: &str,
    party_name: Option<&str>,
    admin: bool,
) -> anyhow::Result<()> {
    let mut member = MemberDir::open(dir).map_err(coded)?;
    let party_code = PartyCode::new(party).map_err(anyhow::Error::msg)?;
    let issued = member
        .issue_user(&party_code, name, party_name, admin, now_s()?)
        .map_err(coded)?;
    crate::out(serde_json::to_string_pretty(&json!({
        "party": party,
        "name": name,
        "kind": if admin { "admin" } else { "user" },
        "cert": issued.cert,
        "key": issued.key,
        "serial": issued.serial,
        "fingerprint": issued.fingerprint,
    }))?)?;
    Ok(())
}

fn revoke(dir: &Path, cert: &Path) -> anyhow::Result<()> {
    let mut member = MemberDir::open(dir).map_err(coded)?;
    let pem = std::fs::read_to_string(cert).with_context(|| format!("read {}", cert.display()))?;
    let next = member.revoke(&pem, now_s()?).map_err(coded)?;
    crate::out(serde_json::to_string_pretty(&json!({
        "crl": dir.join("crl.pem"),
        "crlNumber": next.crl_number,
        "revoked": next.added.iter().map(|s| s.to_hex()).collect::<Vec<_>>(),
        "revokedTotal": next.revoked.len(),
        "next": "publish it: silkline tx revoke --crl CRL as this member's admin",
    }))?)?;
    Ok(())
}

struct NodeConfigArgs<'a> {
    dir: &'a Path,
    genesis: &'a Path,
    nodes: Option<&'a Path>,
    node_id: &'a str,
    listen: Option<SocketAddr>,
    api: Option<SocketAddr>,
    public: Option<SocketAddr>,
    pint: Option<SocketAddr>,
    ops: Option<SocketAddr>,
    data: Option<&'a Path>,
    out: &'a Path,
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("the absolute path of {}", path.display()))
}

fn node_config(args: &NodeConfigArgs<'_>) -> anyhow::Result<()> {
    let member = MemberDir::open(args.dir).map_err(coded)?;
    let genesis_text = std::fs::read_to_string(args.genesis)
        .with_context(|| format!("read {}", args.genesis.display()))?;
    let genesis = Genesis::from_json(&genesis_text)
        .with_context(|| format!("the genesis {}", args.genesis.display()))?;
    let nodes_path = match args.nodes {
        Some(p) => p.to_path_buf(),
        None => args
            .genesis
            .parent()
            .unwrap_or(Path::new("."))
            .join(crate::genesis::NODES_FILE),
    };
    let directory = NodeDirectory::load(&nodes_path)?;
    directory.check_against(&genesis).with_context(|| {
        format!(
            "{} against {}",
            nodes_path.display(),
            args.genesis.display()
        )
    })?;

    let node = NodeId::new(args.node_id).map_err(anyhow::Error::msg)?;
    let (cert, key) = member.node_files(&node);
    let chain = std::fs::read_to_string(&cert).with_context(|| {
        format!(
            "read {} (issue it with `silkline member issue-node`)",
            cert.display()
        )
    })?;
    let leaf = pki::pem::certificates(&chain).map_err(anyhow::Error::msg)?;
    let fingerprint = pki::Fingerprint::of(leaf[0].as_ref()).to_string();
    let own = genesis
        .nodes
        .iter()
        .find(|n| n.tls_certificate_sha256 == fingerprint)
        .with_context(|| {
            format!(
                "the genesis pins no node to {}'s certificate (SHA-256 {fingerprint}): it is not a \
                 genesis node",
                args.node_id
            )
        })?;
    ensure!(
        own.member.as_str() == member.bundle().code.as_str(),
        "the genesis gives node {} to member {}, not to {}",
        own.id,
        own.member,
        member.bundle().code
    );
    let peers: BTreeMap<u64, PeerConfig> = genesis
        .nodes
        .iter()
        .filter(|n| n.id != own.id)
        .map(|n| {
            let entry = directory
                .node(n.id)
                .with_context(|| format!("{} names no node {}", nodes_path.display(), n.id))?;
            Ok((
                n.id,
                PeerConfig {
                    node_id: entry.node_id.clone(),
                    address: n.address.clone(),
                },
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let listen = match args.listen {
        Some(l) => l,
        None => default_listen(&own.address)?,
    };
    if args.out.exists() {
        bail!(
            "{} already exists: refusing to overwrite a node's configuration",
            args.out.display()
        );
    }
    let out_dir = args.out.parent().unwrap_or(Path::new("."));
    let data_dir = match args.data {
        Some(d) => absolute(d)?,
        None => absolute(out_dir)?.join("data"),
    };
    let config = NodeFileConfig {
        node_id: args.node_id.to_owned(),
        raft_id: own.id,
        data_dir,
        listen,
        api_listen: args.api,
        public_listen: args.public,
        pint_listen: args.pint,
        ops_listen: args.ops,
        public_base_url: None,
        public_certificate_chain: None,
        public_private_key: None,
        snapshot_interval_entries: None,
        log_retain_entries: None,
        email: None,
        peers,
        certificate_chain: absolute(&cert)?,
        private_key: absolute(&key)?,
        genesis: absolute(args.genesis)?,
    };
    if !out_dir.as_os_str().is_empty() {
        std::fs::create_dir_all(out_dir)
            .with_context(|| format!("create {}", out_dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&config)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(args.out)
        .with_context(|| format!("create {}", args.out.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    // Loaded back as `node run` will: a configuration this writes is one a node accepts.
    NodeFileConfig::load(args.out)?;
    crate::out(serde_json::to_string_pretty(&json!({
        "config": args.out,
        "raftId": own.id,
        "nodeId": args.node_id,
        "listen": listen.to_string(),
        "peers": config.peers.len(),
        "genesisHash": genesis.genesis_hash().to_string(),
        "next": format!("silkline node run --config {}", args.out.display()),
    }))?)?;
    Ok(())
}

/// Where a node listens by default: its genesis address when that is an IP address, else
/// every interface on the genesis address's port.
fn default_listen(address: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(addr) = address.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (_, port) = replication::transport::split_host_port(address).map_err(anyhow::Error::msg)?;
    Ok(SocketAddr::from(([0, 0, 0, 0], port)))
}
