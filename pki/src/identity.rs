//! Who a certificate names: the Silkline profile (`PROFILE.md`) read from a leaf, the codes
//! and kinds it carries, and the [`Identity`] a verified chain yields.
//!
//! Checking a chain against the members' CAs at an explicit time, with revocation lists as
//! data, is [`TrustStore`]'s ([`crate::trust_store`], re-exported here); revocation lists
//! themselves are [`crate::crl`]'s, signatures [`crate::signature`]'s.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

pub use crate::crl::{CRL_ENTRIES_MAX, RevocationListInfo, inspect_revocation_list};
pub use crate::trust_store::{TrustStore, VERIFIED_CHAINS_MAX};

/// URI SAN prefix naming the party a certificate acts for.
pub const PARTY_URI_PREFIX: &str = "urn:silkline:party:";
/// URI SAN prefix naming the certificate's kind.
pub const KIND_URI_PREFIX: &str = "urn:silkline:kind:";
/// URI SAN prefix naming a node's id (node certificates only).
pub const NODE_URI_PREFIX: &str = "urn:silkline:node:";
/// URI SAN prefix naming a member (on member CA certificates).
pub const MEMBER_URI_PREFIX: &str = "urn:silkline:member:";

/// Longest member, party or node code accepted in a certificate, in bytes. Matches the party
/// code limit of doc-workflow (35, the DCSA party-code length).
pub const CODE_BYTES_MAX: usize = 35;
/// Most certificates in a presented chain (leaf + intermediates). A member CA is a root with at
/// most one intermediate; two more is slack for a member that re-keys its intermediate.
pub const CHAIN_CERTS_MAX: usize = 4;

macro_rules! code_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates a code: 1 to [`CODE_BYTES_MAX`] characters of `[A-Za-z0-9._:-]`.
            pub fn new(code: impl Into<String>) -> Result<Self, String> {
                let code = code.into();
                let ok = !code.is_empty()
                    && code.len() <= CODE_BYTES_MAX
                    && code
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
                if ok {
                    Ok(Self(code))
                } else {
                    Err(format!(
                        "{code:?} is not a valid {}: 1 to {CODE_BYTES_MAX} characters of A-Z a-z 0-9 . _ : -",
                        stringify!($name)
                    ))
                }
            }

            /// The code as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(c: $name) -> String {
                c.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

code_newtype!(
    /// A consortium member's code (the member whose CA issued a certificate).
    MemberCode
);
code_newtype!(
    /// The code of the party a certificate acts for.
    PartyCode
);
code_newtype!(
    /// A node's id in the network configuration.
    NodeId
);

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityKind {
    /// A person or system acting for a party: signs document transactions.
    User,
    /// A member's administrator: signs governance transactions (and may act for the party too).
    Admin,
    /// A member's node: mutual TLS between nodes and with clients.
    Node,
}

impl IdentityKind {
    /// The kind's name in the `urn:silkline:kind:` URI.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::User => "user",
            IdentityKind::Admin => "admin",
            IdentityKind::Node => "node",
        }
    }

    fn parse(s: &str) -> Option<IdentityKind> {
        match s {
            "user" => Some(IdentityKind::User),
            "admin" => Some(IdentityKind::Admin),
            "node" => Some(IdentityKind::Node),
            _ => None,
        }
    }
}

impl fmt::Display for IdentityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the caller is about to accept the certificate for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Signing a transaction: a user or admin certificate with the clientAuth EKU.
    SignTransaction,
    /// A TLS client: a user, admin or node certificate with the clientAuth EKU.
    TlsClient,
    /// A node's TLS server certificate: a node certificate with the serverAuth EKU.
    NodeServer,
}

/// SHA-256 of a certificate's DER: how Silkline names one certificate.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of `der`.
    pub fn of(der: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(der).into())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// A verified identity: the certificate chained to `member`'s CA at the time asked, was not
/// revoked, and follows the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The member whose CA issued the chain.
    pub member: MemberCode,
    /// The party the certificate acts for.
    pub party: PartyCode,
    /// The party's name (subject O).
    pub party_name: String,
    /// The user's or node's name (subject CN).
    pub name: String,
    pub kind: IdentityKind,
    /// The node id, for node certificates.
    pub node_id: Option<NodeId>,
    /// SHA-256 of the leaf certificate.
    pub fingerprint: Fingerprint,
    /// The leaf's serial number, lowercase hex.
    pub serial: String,
    /// The leaf's notAfter, seconds since the Unix epoch.
    pub not_after: i64,
}

/// Why a chain was not accepted as an identity. Each variant names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("the certificate chain is empty")]
    EmptyChain,
    #[error("the chain has {len} certificates, more than the {max} accepted")]
    ChainTooLong { len: usize, max: usize },
    #[error("certificate does not parse: {0}")]
    Malformed(String),
    #[error("the chain does not lead to the CA of any member of this network")]
    UnknownIssuer,
    #[error("certificate expired at {not_after} (checked at {at})")]
    Expired { not_after: i64, at: i64 },
    #[error("certificate is not valid before {not_before} (checked at {at})")]
    NotYetValid { not_before: i64, at: i64 },
    #[error("certificate serial {serial} is revoked by its member's revocation list")]
    Revoked { serial: String },
    #[error(
        "signature algorithm or key type not accepted: {0} (only Ed25519 and ECDSA P-256/SHA-256)"
    )]
    UnsupportedAlgorithm(String),
    #[error("a signature in the chain does not verify")]
    BadSignature,
    #[error("key usage: {0}")]
    KeyUsage(String),
    #[error("certificate is a {kind} certificate; {purpose} needs {needed}")]
    WrongKind {
        kind: IdentityKind,
        purpose: &'static str,
        needed: &'static str,
    },
    #[error("certificate breaks the Silkline profile: {0}")]
    Profile(String),
    #[error("revocation list: {0}")]
    BadRevocationList(String),
    #[error("certificate chain rejected: {0}")]
    Other(String),
}

pub(crate) fn check_purpose(kind: IdentityKind, purpose: Purpose) -> Result<(), IdentityError> {
    let (ok, purpose_name, needed) = match purpose {
        Purpose::SignTransaction => (
            matches!(kind, IdentityKind::User | IdentityKind::Admin),
            "signing a transaction",
            "a user or admin certificate",
        ),
        Purpose::TlsClient => (true, "a TLS client", "any Silkline certificate"),
        Purpose::NodeServer => (
            kind == IdentityKind::Node,
            "a node's TLS server",
            "a node certificate",
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(IdentityError::WrongKind {
            kind,
            purpose: purpose_name,
            needed,
        })
    }
}

/// The profile fields of a leaf certificate.
pub(crate) struct Profile {
    pub(crate) party: PartyCode,
    pub(crate) party_name: String,
    pub(crate) name: String,
    pub(crate) kind: IdentityKind,
    pub(crate) node_id: Option<NodeId>,
}

pub(crate) fn read_profile(leaf: &X509Certificate<'_>) -> Result<Profile, IdentityError> {
    if leaf.is_ca() {
        return Err(IdentityError::Profile(
            "a CA certificate cannot act as an identity".into(),
        ));
    }
    match leaf.key_usage() {
        Ok(Some(ku)) if ku.value.digital_signature() => {}
        Ok(Some(_)) => {
            return Err(IdentityError::KeyUsage(
                "the digitalSignature key usage is required".into(),
            ));
        }
        Ok(None) => {
            return Err(IdentityError::KeyUsage(
                "the key usage extension is required".into(),
            ));
        }
        Err(e) => return Err(IdentityError::Malformed(e.to_string())),
    }
    let sans = match leaf.subject_alternative_name() {
        Ok(Some(san)) => san.value.general_names.clone(),
        Ok(None) => Vec::new(),
        Err(e) => return Err(IdentityError::Malformed(e.to_string())),
    };
    let uris: Vec<&str> = sans
        .iter()
        .filter_map(|n| match n {
            GeneralName::URI(u) => Some(*u),
            _ => None,
        })
        .collect();
    let one = |prefix: &str, what: &str| -> Result<Option<String>, IdentityError> {
        let found: Vec<&str> = uris.iter().filter_map(|u| u.strip_prefix(prefix)).collect();
        match found.as_slice() {
            [] => Ok(None),
            [value] => Ok(Some((*value).to_string())),
            _ => Err(IdentityError::Profile(format!("more than one {what} URI"))),
        }
    };
    let party = one(PARTY_URI_PREFIX, "party")?
        .ok_or_else(|| IdentityError::Profile(format!("no {PARTY_URI_PREFIX}CODE URI")))?;
    let party = PartyCode::new(party).map_err(IdentityError::Profile)?;
    let kind = one(KIND_URI_PREFIX, "kind")?
        .ok_or_else(|| IdentityError::Profile(format!("no {KIND_URI_PREFIX}KIND URI")))?;
    let kind = IdentityKind::parse(&kind)
        .ok_or_else(|| IdentityError::Profile(format!("unknown kind {kind:?}")))?;
    let node_id = one(NODE_URI_PREFIX, "node")?
        .map(NodeId::new)
        .transpose()
        .map_err(IdentityError::Profile)?;
    match (kind, &node_id) {
        (IdentityKind::Node, None) => {
            return Err(IdentityError::Profile(format!(
                "a node certificate needs a {NODE_URI_PREFIX}ID URI"
            )));
        }
        (IdentityKind::User | IdentityKind::Admin, Some(_)) => {
            return Err(IdentityError::Profile(
                "only node certificates carry a node id".into(),
            ));
        }
        _ => {}
    }
    let first = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>>| {
        it.next().and_then(|a| a.as_str().ok()).map(str::to_string)
    };
    let party_name = first(&mut leaf.subject().iter_organization())
        .ok_or_else(|| IdentityError::Profile("subject O (the party's name) is missing".into()))?;
    let name = first(&mut leaf.subject().iter_common_name()).ok_or_else(|| {
        IdentityError::Profile("subject CN (the holder's name) is missing".into())
    })?;
    Ok(Profile {
        party,
        party_name,
        name,
        kind,
        node_id,
    })
}
