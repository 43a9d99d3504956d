//! The network's configuration as agreed at genesis: who the members are, which parties exist,
//! which nodes run, and which workflow rules every replica applies.
//!
//! Loaded from JSON (camelCase). [`Genesis::genesis_hash`] is SHA-256 over its RFC 8785
//! canonical JSON: two nodes with different genesis hashes are on different networks and must
//! refuse each other in the transport handshake; the hash is also block 1's previous hash and
//! the seed of the state-hash chain, so every block commits to the configuration.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use doc_workflow::{Definition, Engine, PartyCode, Role, definition::RawDefinition};

use super::Hash32;
use super::tx::{NETWORK_ID_CHARS_MAX, PARTY_NAME_CHARS_MAX};

/// Most members a network may have. A consortium is tens of members; the bound keeps the trust
/// store and every node's per-block membership checks small.
pub const MEMBERS_MAX: usize = 256;

/// Most parties at genesis. Further parties are onboarded by governance transactions.
pub const GENESIS_PARTIES_MAX: usize = 10_000;

/// Most nodes in the configuration: Raft wants few voters, 3 to 7; 64 leaves room for learners.
pub const NODES_MAX: usize = 64;

/// A member's role on the network (DOMAIN.md section 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MemberRole {
    Carrier,
    Port,
    Bank,
    /// Reads everything, writes nothing.
    Observer,
}

impl MemberRole {
    /// The workflow role the member's own party acts with.
    pub fn workflow_role(self) -> Role {
        match self {
            MemberRole::Carrier => Role::Carrier,
            MemberRole::Port => Role::Port,
            MemberRole::Bank => Role::Bank,
            MemberRole::Observer => Role::Observer,
        }
    }
}

/// A consortium member: runs nodes, has its own CA, sponsors parties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberConfig {
    /// The member's code; also the party code of the member's own party.
    pub code: PartyCode,
    pub role: MemberRole,
    pub name: String,
    /// The member's CA certificate, PEM. Every user, admin and node certificate of the member
    /// chains to it.
    pub ca_certificate_pem: String,
    /// The member's CRL at genesis, DER in standard base64; `None` until its first
    /// `UPDATE_REVOCATIONS`.
    #[serde(default)]
    pub initial_crl: Option<String>,
}

/// A legal entity that acts on documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PartyConfig {
    pub code: PartyCode,
    pub name: String,
    /// The member whose CA certifies this party's users.
    pub sponsor: PartyCode,
}

/// A node of the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeConfig {
    /// Raft id; nonzero.
    pub id: u64,
    /// `host:port` of its peer endpoint.
    pub address: String,
    /// The member that runs it.
    pub member: PartyCode,
    /// SHA-256 of its TLS certificate's DER, lowercase hex: peers pin it in mutual TLS.
    pub tls_certificate_sha256: String,
}

/// The network configuration at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Genesis {
    /// Every transaction names it; a transaction for another network is refused.
    pub network_id: String,
    /// The time of the genesis state: no block is ever earlier.
    pub genesis_time_ms: u64,
    pub members: Vec<MemberConfig>,
    /// Every party, each member's own party included.
    pub parties: Vec<PartyConfig>,
    pub nodes: Vec<NodeConfig>,
    /// The workflow definitions every replica applies (`Engine::definitions_json()`).
    pub workflow_definitions: Vec<RawDefinition>,
    /// This network's eBL platform code for DCSA PINT (4 capital letters or digits; none is
    /// registered for Silkline, each network picks its own). Without one, bills neither leave
    /// for other platforms nor arrive from them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

/// The workflow engine of a set of definitions (genesis's, or a workflow upgrade's).
pub fn engine_of(definitions: &[RawDefinition]) -> Result<Engine, GenesisError> {
    let definitions = definitions
        .iter()
        .cloned()
        .map(Definition::from_raw)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| GenesisError::Definitions(e.to_string()))?;
    Engine::from_definitions(definitions).map_err(|e| GenesisError::Definitions(e.to_string()))
}

/// Why a genesis configuration is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    #[error("genesis JSON: {0}")]
    Json(String),
    #[error("genesis is invalid: {0}")]
    Invalid(String),
    #[error("genesis workflow definitions: {0}")]
    Definitions(String),
}

impl Genesis {
    /// The genesis of a consortium made by `pki::dev`: its members (root CA, and the initial
    /// revocation list of members that issue from their root), parties, one node per node
    /// certificate at the given addresses (in manifest order, raft ids from 1), and the standard
    /// workflow definitions. Used by `silkline dev init` and by tests.
    pub fn of_dev_consortium(
        c: &pki::dev::Consortium,
        network_id: &str,
        node_addresses: &[String],
        genesis_time_ms: u64,
    ) -> Result<Genesis, GenesisError> {
        use base64::Engine as _;
        let invalid = |e: &dyn std::fmt::Display| GenesisError::Invalid(e.to_string());
        let code = |s: &str| PartyCode::new(s).map_err(|e| invalid(&e));
        let m = c.manifest();
        let members = m
            .members
            .iter()
            .map(|member| {
                let role: MemberRole = serde_json::from_value(serde_json::json!(member.role))
                    .map_err(|e| invalid(&e))?;
                Ok(MemberConfig {
                    code: code(member.code.as_str())?,
                    role,
                    name: member.name.clone(),
                    ca_certificate_pem: std::fs::read_to_string(c.path(&member.root_cert))
                        .map_err(|e| invalid(&e))?,
                    // A member issuing from an intermediate publishes that CA's list by
                    // governance (UPDATE_REVOCATIONS), with the intermediate in its chain.
                    initial_crl: match member.intermediate_cert {
                        None => Some(
                            base64::engine::general_purpose::STANDARD
                                .encode(c.crl_der(&member.code).map_err(|e| invalid(&e))?),
                        ),
                        Some(_) => None,
                    },
                })
            })
            .collect::<Result<Vec<_>, GenesisError>>()?;
        let parties = m
            .parties
            .iter()
            .map(|p| {
                Ok(PartyConfig {
                    code: code(p.code.as_str())?,
                    name: p.name.clone(),
                    sponsor: code(p.sponsor.as_str())?,
                })
            })
            .collect::<Result<Vec<_>, GenesisError>>()?;
        let node_identities: Vec<_> = m
            .identities
            .iter()
            .filter(|i| i.kind == pki::IdentityKind::Node)
            .collect();
        if node_identities.len() != node_addresses.len() {
            return Err(GenesisError::Invalid(format!(
                "{} node certificates but {} addresses",
                node_identities.len(),
                node_addresses.len()
            )));
        }
        let nodes = node_identities
            .into_iter()
            .zip(node_addresses)
            .zip(1u64..)
            .map(|((i, address), id)| {
                let chain = c.chain_der(&i.name).map_err(|e| invalid(&e))?;
                Ok(NodeConfig {
                    id,
                    address: address.clone(),
                    member: code(i.member.as_str())?,
                    tls_certificate_sha256: hex::encode(super::sha256(&chain[0])),
                })
            })
            .collect::<Result<Vec<_>, GenesisError>>()?;
        let genesis = Genesis {
            network_id: network_id.to_string(),
            genesis_time_ms,
            members,
            parties,
            nodes,
            workflow_definitions: Genesis::definitions_of(&Engine::standard()),
            platform: None,
        };
        genesis.validate()?;
        Ok(genesis)
    }

    /// Parses and validates a genesis file's JSON.
    pub fn from_json(json: &str) -> Result<Genesis, GenesisError> {
        let genesis: Genesis =
            serde_json::from_str(json).map_err(|e| GenesisError::Json(e.to_string()))?;
        genesis.validate()?;
        Ok(genesis)
    }

    /// The definitions of an engine, in the form genesis stores them.
    pub fn definitions_of(engine: &Engine) -> Vec<RawDefinition> {
        serde_json::from_str(&engine.definitions_json())
            .expect("Engine::definitions_json is an array of raw definitions")
    }

    /// RFC 8785 canonical JSON of the configuration: the bytes [`genesis_hash`](Self::genesis_hash) hashes.
    pub fn canonical_json(&self) -> String {
        canonical_json::to_string_of(self).expect("genesis serializes to JSON")
    }

    /// SHA-256 of [`canonical_json`](Self::canonical_json). Nodes exchange it in the transport
    /// handshake and refuse a peer whose hash differs.
    pub fn genesis_hash(&self) -> Hash32 {
        Hash32(super::sha256(self.canonical_json().as_bytes()))
    }

    /// The workflow engine the configuration prescribes.
    pub fn engine(&self) -> Result<Engine, GenesisError> {
        engine_of(&self.workflow_definitions)
    }

    /// The member with this code.
    pub fn member(&self, code: &PartyCode) -> Option<&MemberConfig> {
        self.members.iter().find(|m| &m.code == code)
    }

    /// Structural checks: unique codes, sponsors that exist, each member's own party present
    /// and sponsored by itself, nodes of known members, limits respected, definitions valid.
    /// Certificates and CRLs are checked when the trust store is built from them.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let invalid = |m: String| Err(GenesisError::Invalid(m));
        if self.network_id.is_empty() || self.network_id.chars().count() > NETWORK_ID_CHARS_MAX {
            return invalid(format!(
                "networkId must be 1 to {NETWORK_ID_CHARS_MAX} characters"
            ));
        }
        if let Some(code) = &self.platform
            && !crate::consortium::is_platform_code(code)
        {
            return invalid(format!(
                "platform {code:?} must be 4 capital letters or digits (a DCSA PINT platform code)"
            ));
        }
        if self.members.is_empty() || self.members.len() > MEMBERS_MAX {
            return invalid(format!("1 to {MEMBERS_MAX} members are required"));
        }
        if self.parties.len() > GENESIS_PARTIES_MAX {
            return invalid(format!("at most {GENESIS_PARTIES_MAX} parties at genesis"));
        }
        if self.nodes.len() > NODES_MAX {
            return invalid(format!("at most {NODES_MAX} nodes"));
        }
        let mut members = BTreeSet::new();
        for m in &self.members {
            if !members.insert(&m.code) {
                return invalid(format!("member {} is listed twice", m.code));
            }
        }
        let mut parties = BTreeSet::new();
        for p in &self.parties {
            if !parties.insert(&p.code) {
                return invalid(format!("party {} is listed twice", p.code));
            }
            if !members.contains(&p.sponsor) {
                return invalid(format!(
                    "party {} is sponsored by {}, which is not a member",
                    p.code, p.sponsor
                ));
            }
            if members.contains(&p.code) && p.sponsor != p.code {
                return invalid(format!(
                    "party {} is a member's own party and must be sponsored by it",
                    p.code
                ));
            }
            let chars = p.name.chars().count();
            if chars == 0 || chars > PARTY_NAME_CHARS_MAX {
                return invalid(format!(
                    "party {} name must be 1 to {PARTY_NAME_CHARS_MAX} characters",
                    p.code
                ));
            }
        }
        for m in &self.members {
            if !parties.contains(&m.code) {
                return invalid(format!("member {} has no party of its own", m.code));
            }
        }
        let mut ids = BTreeSet::new();
        for n in &self.nodes {
            if n.id == 0 || !ids.insert(n.id) {
                return invalid(format!("node id {} is zero or listed twice", n.id));
            }
            if !members.contains(&n.member) {
                return invalid(format!(
                    "node {} belongs to unknown member {}",
                    n.id, n.member
                ));
            }
            if n.tls_certificate_sha256.len() != 64
                || !n
                    .tls_certificate_sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return invalid(format!(
                    "node {} tlsCertificateSha256 must be 64 lowercase hex characters",
                    n.id
                ));
            }
        }
        self.engine().map(|_| ())
    }
}
