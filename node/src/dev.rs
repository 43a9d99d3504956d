//! `silkline dev init`: a dev network in one directory, ready for `silkline node run`.
//!
//! ```text
//! DIR/pki/                    the dev consortium (pki::dev layout)
//! DIR/genesis.json            members CARRIER, PORT, BANK; parties SHIPPER, CONSIGNEE (CARRIER),
//!                             HAULIER (PORT); the nodes
//! DIR/nodes/nodeK/config.json one node's configuration (paths relative to it; Raft, API and
//!                             verification page ports on 127.0.0.1; the QR codes of every
//!                             node's PDFs lead to node1's page)
//! DIR/nodes/nodeK/public.crt  the verification page's certificate (ECDSA P-256, which browsers
//! DIR/nodes/nodeK/public.key  accept, unlike the dev network's Ed25519), from the member's CA
//! DIR/nodes/nodeK/data/       created by `node run`: raft.redb, state/, status.json
//! ```
//!
//! `silkline dev add-node --dir DIR [--member CODE]` prepares one more node for a running dev
//! network: a node certificate from the member's CA (`pki::dev`) and `nodes/nodeK/config.json`
//! (K the next raft id, free loopback ports, every existing node as a peer). It starts nothing
//! and changes no genesis: the node joins once the member's admin commits `tx add-node` with
//! the raft id, node id and address it prints, and `silkline node run --config` starts it.
//!
//! `silkline tx revoke` on a dev network finds the member's CA key here
//! ([`revocation_signer`]).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail, ensure};
use ledger::Genesis;
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
pub fn init(dir: &Path, nodes: usize, platform: Option<&str>) -> anyhow::Result<()> {
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
    let all = free_loopback_addresses(5 * nodes)?;
    let (addresses, rest) = all.split_at(nodes);
    let (api_addresses, rest) = rest.split_at(nodes);
    let (public_addresses, rest) = rest.split_at(nodes);
    let (ops_addresses, pint_addresses) = rest.split_at(nodes);
    let addresses: Vec<String> = addresses.iter().map(SocketAddr::to_string).collect();
    let mut genesis = Genesis::of_dev_consortium(
        &consortium,
        DEV_NETWORK_ID,
        &addresses,
        u64::try_from(now.as_millis())?,
    )
    .context("the generated genesis")?;
    genesis.platform = platform.map(str::to_owned);
    genesis.validate().context("the generated genesis")?;
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
    for (((((node, identity), api), public), ops), pint) in genesis
        .nodes
        .iter()
        .zip(&identities)
        .zip(api_addresses)
        .zip(public_addresses)
        .zip(ops_addresses)
        .zip(pint_addresses)
    {
        let node_dir = dir.join("nodes").join(&identity.name);
        std::fs::create_dir_all(&node_dir)?;
        write_public_certificate(&consortium, &identity.member, &node_dir, now_s)?;
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
                        address: other.address.clone(),
                    },
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        write_node_config(
            &node_dir,
            node_id_of(identity)?,
            node.id,
            Ports {
                listen: node.address.parse()?,
                api: *api,
                public: *public,
                ops: *ops,
                pint: genesis.platform.is_some().then_some(*pint),
                // One verification address for the network: node1's page.
                public_base_url: format!("https://{}", public_addresses[0]),
            },
            peers,
            identity,
        )?;
    }
    crate::out(format_args!(
        "created a dev network of {nodes} nodes in {}: start it with `silkline dev up --dir {0}`, \
         or one node with `silkline node run --config {}`",
        dir.display(),
        dir.join("nodes/node1/config.json").display()
    ))?;
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
    // The network's verification address, as the first node's configuration gives it.
    let mut base_urls: BTreeMap<u64, String> = BTreeMap::new();
    let nodes_dir = dir.join("nodes");
    for entry in std::fs::read_dir(&nodes_dir)
        .with_context(|| format!("read {}", nodes_dir.display()))?
        .take(DEV_NODES_MAX * 4)
    {
        let path = entry?.path().join("config.json");
        if path.exists() {
            let c = NodeFileConfig::load(&path)?;
            if let Some(base) = c.verify_base_url() {
                base_urls.insert(c.raft_id, base);
            }
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
    let ports = free_loopback_addresses(5)?;
    let has_platform = Genesis::from_json(&std::fs::read_to_string(dir.join(GENESIS_FILE))?)
        .map(|g| g.platform.is_some())
        .unwrap_or(false);
    let peers = existing
        .into_iter()
        .map(|(id, (node_id, address))| {
            (
                id,
                PeerConfig {
                    node_id,
                    address: address.to_string(),
                },
            )
        })
        .collect();
    std::fs::create_dir_all(&node_dir)?;
    write_public_certificate(&consortium, &member, &node_dir, now_s)?;
    let config_path = write_node_config(
        &node_dir,
        name.clone(),
        raft_id,
        Ports {
            listen: ports[0],
            api: ports[1],
            public: ports[2],
            ops: ports[3],
            pint: has_platform.then_some(ports[4]),
            public_base_url: base_urls
                .into_values()
                .next()
                .unwrap_or_else(|| format!("https://{}", ports[2])),
        },
        peers,
        &identity,
    )?;
    let out = serde_json::json!({
        "raftId": raft_id,
        "nodeId": name,
        "address": ports[0].to_string(),
        "api": format!("https://{}/graphql", ports[1]),
        "public": format!("https://{}", ports[2]),
        "ops": format!("http://{}", ports[3]),
        "member": member.as_str(),
        "config": config_path,
    });
    crate::out(serde_json::to_string_pretty(&out)?)?;
    Ok(())
}

/// The CA that signs the revocation list of `identity`'s member on the dev network of
/// `network_file` (`network.json`): the member's issuing CA (its intermediate if it has one,
/// else its root) with its key, from the dev consortium whose `ca-bundle.pem` the file names
/// (`DIR/pki`). So `silkline tx revoke` on a dev network needs no key by hand.
pub fn revocation_signer(
    network_file: &Path,
    identity: &str,
) -> anyhow::Result<pki::revocation::RevocationSigner> {
    let text = std::fs::read_to_string(network_file)
        .with_context(|| format!("read {}", network_file.display()))?;
    let network: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parse {}", network_file.display()))?;
    let bundle = PathBuf::from(network["ca_bundle"].as_str().unwrap_or_default());
    let pki_dir = bundle
        .parent()
        .filter(|d| d.join(pki::dev::MANIFEST_FILE).exists())
        .with_context(|| {
            format!(
                "{} names no dev consortium (no {} beside its CA bundle): give --ca-key FILE",
                network_file.display(),
                pki::dev::MANIFEST_FILE
            )
        })?;
    let consortium = Consortium::open(pki_dir).context("open the dev consortium")?;
    let entry = consortium
        .identity(identity)
        .with_context(|| format!("no identity `{identity}` in {}", pki_dir.display()))?;
    let member = consortium
        .member(&entry.member)
        .with_context(|| format!("no member {} in {}", entry.member, pki_dir.display()))?;
    let (cert, key) = match (&member.intermediate_cert, &member.intermediate_key) {
        (Some(cert), Some(key)) => (cert, key),
        _ => (&member.root_cert, &member.root_key),
    };
    let read = |relative: &Path| {
        let path = consortium.path(relative);
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))
    };
    let cert_der = pki::pem::certificates(&read(cert)?)
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .next()
        .with_context(|| format!("no certificate in {}", cert.display()))?;
    Ok(pki::revocation::RevocationSigner::new(
        cert_der.as_ref(),
        &read(key)?,
    )?)
}

/// Where a dev node listens.
struct Ports {
    /// The Raft transport.
    listen: SocketAddr,
    /// The GraphQL API.
    api: SocketAddr,
    /// The verification page.
    public: SocketAddr,
    /// The operations listener (`node::ops`): on for a dev network, on loopback.
    ops: SocketAddr,
    /// The PINT endpoints, on a network with a platform code.
    pint: Option<SocketAddr>,
    /// The address the QR codes of its PDFs lead to: the same for every node of the network,
    /// so that any node renders a document's PDF to the same bytes (node1's page, which every
    /// node's page answers alike).
    public_base_url: String,
}

/// The verification page's certificate and key inside a dev node's directory.
const PUBLIC_CERT_FILE: &str = "public.crt";
const PUBLIC_KEY_FILE: &str = "public.key";

/// Writes `node_dir/config.json` for a dev node: data in `data/`, the certificate and key from
/// the dev consortium (`DIR/pki`), the network's genesis (`DIR/genesis.json`), the verification
/// page's certificate ([`write_public_certificate`]), all relative to `node_dir` so that the
/// directory can move. Returns the file's path.
fn write_node_config(
    node_dir: &Path,
    node_id: String,
    raft_id: u64,
    ports: Ports,
    peers: BTreeMap<u64, PeerConfig>,
    identity: &pki::dev::IdentityEntry,
) -> anyhow::Result<PathBuf> {
    let pki_dir = PathBuf::from("../../pki");
    let config = NodeFileConfig {
        node_id,
        raft_id,
        data_dir: PathBuf::from("data"),
        listen: ports.listen,
        api_listen: Some(ports.api),
        pint_listen: ports.pint,
        public_listen: Some(ports.public),
        ops_listen: Some(ports.ops),
        public_base_url: Some(ports.public_base_url),
        public_certificate_chain: Some(PathBuf::from(PUBLIC_CERT_FILE)),
        public_private_key: Some(PathBuf::from(PUBLIC_KEY_FILE)),
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

/// Writes the verification page's certificate and key into `node_dir`: ECDSA P-256 (browsers
/// do not accept the dev network's Ed25519 certificates for a web server), issued by `member`'s
/// issuing CA for `localhost` and 127.0.0.1, server authentication only, valid as long as the
/// dev consortium's certificates. `curl --cacert` with the network's CA bundle verifies it; a
/// browser is told to trust it by its key (`--ignore-certificate-errors-spki-list`).
fn write_public_certificate(
    consortium: &Consortium,
    member: &MemberCode,
    node_dir: &Path,
    now_s: i64,
) -> anyhow::Result<()> {
    let entry = consortium
        .member(member)
        .with_context(|| format!("no member {member} in the dev consortium"))?;
    let (cert, key) = pki::ca::issue_web_server(
        "Silkline verification page (dev)",
        &entry.name,
        &[],
        &[],
        pki::ca::random_serial()?,
        pki::ca::Validity {
            not_before: now_s,
            not_after: now_s + pki::dev::DEFAULT_VALIDITY_S,
        },
        &consortium.issuer(member)?,
    )?;
    let mut chain = cert.pem();
    if let Some(intermediate) = &entry.intermediate_cert {
        let path = consortium.path(intermediate);
        chain.push_str(
            &std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?,
        );
    }
    std::fs::write(node_dir.join(PUBLIC_CERT_FILE), chain)?;
    let key_path = node_dir.join(PUBLIC_KEY_FILE);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key_path)
        .with_context(|| format!("create {}", key_path.display()))?;
    file.write_all(key.serialize_pem().as_bytes())?;
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
