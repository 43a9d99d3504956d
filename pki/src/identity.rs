//! Who signed: certificate chains checked against the members' CAs at an explicit time, with
//! revocation lists given as data, and the Silkline profile read from the leaf (`PROFILE.md`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, TrustAnchor, UnixTime};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use webpki::{
    CertRevocationList, EndEntityCert, ExpirationPolicy, KeyUsage, OwnedCertRevocationList,
    RevocationCheckDepth, RevocationOptionsBuilder, UnknownStatusPolicy,
};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_SIG_ED25519};
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::jws::Alg;

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
/// Most accepted chains a [`TrustStore`] remembers. A user signs many transactions with one
/// certificate, so a network of a few thousand active users verifies each chain once; past the
/// limit the memory is dropped whole (bounded, and a miss only costs a full verification).
pub const VERIFIED_CHAINS_MAX: usize = 4096;

/// The signature algorithms accepted in certificates (and CRLs): Ed25519 and ECDSA P-256 with
/// SHA-256. Anything else fails with [`IdentityError::UnsupportedAlgorithm`].
static SIGNATURE_ALGORITHMS: &[&dyn rustls_pki_types::SignatureVerificationAlgorithm] = &[
    webpki::aws_lc_rs::ED25519,
    webpki::aws_lc_rs::ECDSA_P256_SHA256,
];

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

/// One member's trust material.
#[derive(Debug, Clone)]
struct MemberTrust {
    root: CertificateDer<'static>,
    crls: Vec<Vec<u8>>,
}

/// The members' CA certificates and current revocation lists: everything needed to decide
/// whether a chain is a member's identity at a given time. Pure data; no clock, no I/O.
///
/// It remembers the chains it accepted (see [`VerifiedChains`]); clones share that memory, and
/// any change of trust material ([`add_member`](Self::add_member),
/// [`set_revocations`](Self::set_revocations)) starts a new one, so a remembered answer is
/// always one the current material gave.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    members: BTreeMap<MemberCode, MemberTrust>,
    verified: Arc<VerifiedChains>,
}

/// Chains a [`TrustStore`] accepted, with the span of time over which the answer holds.
///
/// [`TrustStore::verify_identity`] is a pure function of the store, the chain, the purpose and
/// the time, and the time enters only through the validity periods of the certificates of the
/// path (revocation lists are read with their expiry ignored, and trust anchors have no period
/// that webpki checks). An answer is remembered only when every presented certificate was valid
/// at the time asked, with the span over which all of them stay valid: at any other time in that
/// span every certificate compares with the time exactly as it did, so path building takes the
/// same steps and gives the same identity. Outside the span, or for a chain never accepted, the
/// full verification runs and gives the precise error. So remembering changes how long a
/// verification takes, never its answer: replicas stay deterministic.
#[derive(Debug, Default)]
struct VerifiedChains {
    entries: Mutex<HashMap<[u8; 32], VerifiedChain>>,
}

#[derive(Debug, Clone)]
struct VerifiedChain {
    identity: Identity,
    /// Latest notBefore of the presented certificates, Unix seconds.
    valid_from_s: i64,
    /// Earliest notAfter of the presented certificates, Unix seconds.
    valid_until_s: i64,
}

impl VerifiedChains {
    /// The key of a (chain, purpose) pair: SHA-256 over a tag, the purpose and each
    /// certificate's length-prefixed DER.
    fn key(chain: &[CertificateDer<'_>], purpose: Purpose) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"silkline-verified-chain-v1");
        h.update([purpose as u8]);
        for cert in chain {
            h.update((cert.as_ref().len() as u64).to_be_bytes());
            h.update(cert.as_ref());
        }
        h.finalize().into()
    }

    fn get(&self, key: &[u8; 32], at_unix_s: u64) -> Option<Identity> {
        let at = i64::try_from(at_unix_s).ok()?;
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let found = entries.get(key)?;
        (found.valid_from_s <= at && at <= found.valid_until_s).then(|| found.identity.clone())
    }

    fn remember(&self, key: [u8; 32], chain: VerifiedChain) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= VERIFIED_CHAINS_MAX {
            entries.clear();
        }
        entries.insert(key, chain);
    }

    /// How many chains are remembered (for tests and metrics).
    fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl TrustStore {
    /// An empty store.
    pub fn new() -> TrustStore {
        TrustStore::default()
    }

    /// Trusts `root_der` as `member`'s root CA. The certificate must parse, be a CA and use an
    /// accepted algorithm.
    pub fn add_member(
        &mut self,
        member: MemberCode,
        root_der: Vec<u8>,
    ) -> Result<(), IdentityError> {
        let (_, cert) = x509_parser::parse_x509_certificate(&root_der)
            .map_err(|e| IdentityError::Malformed(e.to_string()))?;
        if !cert.is_ca() {
            return Err(IdentityError::Profile(format!(
                "{member}'s root certificate is not a CA certificate"
            )));
        }
        key_algorithm(cert.public_key()).map_err(IdentityError::UnsupportedAlgorithm)?;
        anchor_of(&CertificateDer::from(root_der.as_slice()))?;
        let same_subject = |der: &[u8]| {
            x509_parser::parse_x509_certificate(der)
                .is_ok_and(|(_, other)| other.subject().as_raw() == cert.subject().as_raw())
        };
        if let Some((other, _)) = self.members.iter().find(|(code, t)| {
            **code != member && (t.root.as_ref() == root_der.as_slice() || same_subject(&t.root))
        }) {
            // The member is whoever's root a chain reaches: one root must name one member. Names
            // must differ too: revocation lists are found by issuer name, so a look-alike root
            // would have its list checked (and fail) for the other member's certificates.
            return Err(IdentityError::Profile(format!(
                "this root CA (or its subject name) is already {other}'s; a root belongs to one member"
            )));
        }
        self.members.insert(
            member,
            MemberTrust {
                root: CertificateDer::from(root_der),
                crls: Vec::new(),
            },
        );
        self.verified = Arc::default();
        Ok(())
    }

    /// Replaces `member`'s revocation lists (DER X.509 CRLs, one per CA of the member). Each
    /// must parse; its signature is checked against the issuing CA when a chain is verified.
    pub fn set_revocations(
        &mut self,
        member: &MemberCode,
        crls_der: Vec<Vec<u8>>,
    ) -> Result<(), IdentityError> {
        for crl in &crls_der {
            OwnedCertRevocationList::from_der(crl)
                .map_err(|e| IdentityError::BadRevocationList(format!("{e:?}")))?;
        }
        let trust = self.members.get_mut(member).ok_or_else(|| {
            IdentityError::BadRevocationList(format!("{member} is not a member of this store"))
        })?;
        trust.crls = crls_der;
        self.verified = Arc::default();
        Ok(())
    }

    /// The members, in code order.
    pub fn members(&self) -> impl Iterator<Item = &MemberCode> {
        self.members.keys()
    }

    /// A member's current revocation lists (DER), as the store checks chains with them; `None`
    /// if `member` is not a member of this store.
    pub fn revocations(&self, member: &MemberCode) -> Option<&[Vec<u8>]> {
        self.members.get(member).map(|t| t.crls.as_slice())
    }

    /// A member's root CA certificate.
    pub fn member_root(&self, member: &MemberCode) -> Option<&CertificateDer<'static>> {
        self.members.get(member).map(|t| &t.root)
    }

    /// Every member's root CA, for a rustls client or server verifier.
    pub fn roots(&self) -> Vec<CertificateDer<'static>> {
        self.members.values().map(|t| t.root.clone()).collect()
    }

    /// Every member's revocation lists, for a rustls verifier.
    pub fn crls(&self) -> Vec<CertificateRevocationListDer<'static>> {
        self.members
            .values()
            .flat_map(|t| {
                t.crls
                    .iter()
                    .map(|c| CertificateRevocationListDer::from(c.clone()))
            })
            .collect()
    }

    /// Verifies `chain` (leaf first, then intermediates; a trailing root is tolerated) at
    /// `at_unix_s`, for `purpose`, and reads the identity it names.
    pub fn verify_identity(
        &self,
        chain: &[CertificateDer<'_>],
        at_unix_s: u64,
        purpose: Purpose,
    ) -> Result<Identity, IdentityError> {
        if chain.is_empty() || chain.len() > CHAIN_CERTS_MAX {
            return self.verify_identity_fully(chain, at_unix_s, purpose);
        }
        let key = VerifiedChains::key(chain, purpose);
        if let Some(identity) = self.verified.get(&key, at_unix_s) {
            return Ok(identity);
        }
        let identity = self.verify_identity_fully(chain, at_unix_s, purpose)?;
        if let Some((valid_from_s, valid_until_s)) = common_validity(chain)
            && i64::try_from(at_unix_s).is_ok_and(|at| valid_from_s <= at && at <= valid_until_s)
        {
            self.verified.remember(
                key,
                VerifiedChain {
                    identity: identity.clone(),
                    valid_from_s,
                    valid_until_s,
                },
            );
        }
        Ok(identity)
    }

    /// How many accepted chains this store remembers (see [`VerifiedChains`]).
    pub fn verified_chains(&self) -> usize {
        self.verified.len()
    }

    /// [`verify_identity`](Self::verify_identity) without the memory of accepted chains.
    fn verify_identity_fully(
        &self,
        chain: &[CertificateDer<'_>],
        at_unix_s: u64,
        purpose: Purpose,
    ) -> Result<Identity, IdentityError> {
        let Some((leaf_der, intermediates)) = chain.split_first() else {
            return Err(IdentityError::EmptyChain);
        };
        if chain.len() > CHAIN_CERTS_MAX {
            return Err(IdentityError::ChainTooLong {
                len: chain.len(),
                max: CHAIN_CERTS_MAX,
            });
        }
        let (_, leaf) = x509_parser::parse_x509_certificate(leaf_der.as_ref())
            .map_err(|e| IdentityError::Malformed(e.to_string()))?;
        if let Err(what) = key_algorithm(leaf.public_key()) {
            return Err(self.unless_stranger(chain, IdentityError::UnsupportedAlgorithm(what)));
        }

        let members: Vec<(&MemberCode, TrustAnchor<'_>)> = self
            .members
            .iter()
            .map(|(code, t)| anchor_of(&t.root).map(|a| (code, a)))
            .collect::<Result<_, _>>()?;
        let anchors: Vec<TrustAnchor<'_>> = members.iter().map(|(_, a)| a.clone()).collect();
        let owned_crls: Vec<CertRevocationList<'static>> = self
            .members
            .values()
            .flat_map(|t| t.crls.iter())
            .map(|der| {
                OwnedCertRevocationList::from_der(der)
                    .map(CertRevocationList::from)
                    .map_err(|e| IdentityError::BadRevocationList(format!("{e:?}")))
            })
            .collect::<Result<_, _>>()?;
        let crl_refs: Vec<&CertRevocationList<'_>> = owned_crls.iter().collect();
        let revocation = if crl_refs.is_empty() {
            None
        } else {
            Some(
                RevocationOptionsBuilder::new(&crl_refs)
                    .map_err(|_| IdentityError::BadRevocationList("no lists".into()))?
                    .with_depth(RevocationCheckDepth::Chain)
                    // A CA that has published no list has revoked nothing yet.
                    .with_status_policy(UnknownStatusPolicy::Allow)
                    // Freshness of a list is governance's business (a newer list replaces it
                    // by transaction), not a reason to refuse every signature after nextUpdate.
                    .with_expiration_policy(ExpirationPolicy::Ignore)
                    .build(),
            )
        };

        let end_entity = EndEntityCert::try_from(leaf_der)
            .map_err(|e| IdentityError::Malformed(format!("{e:?}")))?;
        let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(at_unix_s));
        let usage = match purpose {
            Purpose::SignTransaction | Purpose::TlsClient => KeyUsage::client_auth(),
            Purpose::NodeServer => KeyUsage::server_auth(),
        };
        let path = end_entity
            .verify_for_usage(
                SIGNATURE_ALGORITHMS,
                &anchors,
                intermediates,
                at,
                usage,
                revocation,
                None,
            )
            .map_err(|e| {
                // webpki checks each certificate's dates and extended key usage before it looks
                // for the issuer, so a stranger's expired or serverAuth-only certificate would be
                // reported as such; PROFILE.md promises `UnknownIssuer` for any chain that
                // reaches no member's CA, whatever else is wrong with it.
                if let Some(not_ours) = self.stranger_error(chain) {
                    return not_ours;
                }
                // A certificate of the wrong kind usually lacks the EKU too; its kind is the
                // more useful thing to say.
                if matches!(e, webpki::Error::RequiredEkuNotFoundContext(_))
                    && let Ok(profile) = read_profile(&leaf)
                    && let Err(wrong_kind) = check_purpose(profile.kind, purpose)
                {
                    return wrong_kind;
                }
                map_webpki_error(e, &leaf, at_unix_s)
            })?;

        // The profile is read only from a certificate that chains to a member: a stranger's
        // certificate is an unknown issuer, whatever it claims inside.
        let profile = read_profile(&leaf)?;
        check_purpose(profile.kind, purpose)?;

        let anchor = path.anchor();
        let member = members
            .iter()
            .find(|(_, a)| {
                a.subject.as_ref() == anchor.subject.as_ref()
                    && a.subject_public_key_info.as_ref() == anchor.subject_public_key_info.as_ref()
            })
            .map(|(code, _)| (*code).clone())
            .ok_or(IdentityError::UnknownIssuer)?;

        Ok(Identity {
            member,
            party: profile.party,
            party_name: profile.party_name,
            name: profile.name,
            kind: profile.kind,
            node_id: profile.node_id,
            fingerprint: Fingerprint::of(leaf_der.as_ref()),
            serial: leaf.raw_serial_as_string().replace(':', ""),
            not_after: leaf.validity().not_after.timestamp(),
        })
    }
}

/// How far a presented chain gets towards the members' roots on issuer names and signatures
/// alone: no dates, key usages or revocation (the half of path building that says whose chain
/// it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// A member's root signed the last certificate of the walk.
    Member,
    /// A certificate names a member's root as its issuer, but that root's key did not sign it:
    /// a CA that copied a member CA's name.
    Impostor,
    /// No certificate of the walk names a member's root.
    Stranger,
}

impl TrustStore {
    /// The error for a chain that does not reach a member's root, whatever else is wrong
    /// with it: `UnknownIssuer` for a stranger's, `BadSignature` for an impostor's; `None`
    /// for a chain that does reach one.
    fn stranger_error(&self, chain: &[CertificateDer<'_>]) -> Option<IdentityError> {
        match self.reach(chain) {
            Reach::Member => None,
            Reach::Impostor => Some(IdentityError::BadSignature),
            Reach::Stranger => Some(IdentityError::UnknownIssuer),
        }
    }

    /// `error`, unless the chain reaches no member's root (see [`Self::stranger_error`]).
    fn unless_stranger(&self, chain: &[CertificateDer<'_>], error: IdentityError) -> IdentityError {
        self.stranger_error(chain).unwrap_or(error)
    }

    /// Walks from the leaf to the certificate that issued it -- a member's root, else a
    /// presented certificate not used yet -- at most [`CHAIN_CERTS_MAX`] steps. Runs only on
    /// the refusal path, so an accepted chain costs no extra signature check.
    fn reach(&self, chain: &[CertificateDer<'_>]) -> Reach {
        let roots: Vec<X509Certificate<'_>> = self
            .members
            .values()
            .filter_map(|t| x509_parser::parse_x509_certificate(t.root.as_ref()).ok())
            .map(|(_, root)| root)
            .collect();
        let presented: Vec<Option<X509Certificate<'_>>> = chain
            .iter()
            .take(CHAIN_CERTS_MAX)
            .map(|c| {
                x509_parser::parse_x509_certificate(c.as_ref())
                    .ok()
                    .map(|(_, cert)| cert)
            })
            .collect();
        let Some(Some(leaf)) = presented.first() else {
            return Reach::Stranger;
        };
        let mut current = leaf;
        let mut used = vec![false; presented.len()];
        used[0] = true;
        let mut impostor = false;
        for _ in 0..CHAIN_CERTS_MAX {
            for root in &roots {
                if current.issuer().as_raw() == root.subject().as_raw() {
                    if signed_by(current, root) {
                        return Reach::Member;
                    }
                    impostor = true;
                }
            }
            let next = presented.iter().enumerate().find_map(|(i, cert)| {
                let cert = cert.as_ref()?;
                (!used[i]
                    && cert.subject().as_raw() == current.issuer().as_raw()
                    && signed_by(current, cert))
                .then_some((i, cert))
            });
            match next {
                Some((i, issuer)) => {
                    used[i] = true;
                    current = issuer;
                }
                None => break,
            }
        }
        if impostor {
            Reach::Impostor
        } else {
            Reach::Stranger
        }
    }
}

/// Whether `issuer`'s key made `cert`'s signature, with an accepted algorithm.
fn signed_by(cert: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> bool {
    x509_signature_verifies(
        issuer.public_key(),
        cert.tbs_certificate.as_ref(),
        &cert.signature_value.data,
    )
}

/// Whether `signature` over `signed` (the to-be-signed part of a certificate or revocation
/// list; ECDSA signatures in their X.509 DER form) verifies under `key`, with an accepted
/// algorithm.
pub(crate) fn x509_signature_verifies(
    key: &SubjectPublicKeyInfo<'_>,
    signed: &[u8],
    signature: &[u8],
) -> bool {
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_ASN1, ED25519, UnparsedPublicKey, VerificationAlgorithm,
    };
    let algorithm: &dyn VerificationAlgorithm = match key_algorithm(key) {
        Ok(Alg::EdDSA) => &ED25519,
        Ok(Alg::ES256) => &ECDSA_P256_SHA256_ASN1,
        Err(_) => return false,
    };
    UnparsedPublicKey::new(algorithm, &key.subject_public_key.data)
        .verify(signed, signature)
        .is_ok()
}

/// The span during which every certificate of `chain` is valid, `[latest notBefore, earliest
/// notAfter]` in Unix seconds; `None` if one does not parse.
fn common_validity(chain: &[CertificateDer<'_>]) -> Option<(i64, i64)> {
    let mut span = (i64::MIN, i64::MAX);
    for cert in chain {
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
        let validity = parsed.validity();
        span.0 = span.0.max(validity.not_before.timestamp());
        span.1 = span.1.min(validity.not_after.timestamp());
    }
    Some(span)
}

fn anchor_of<'a>(root: &'a CertificateDer<'a>) -> Result<TrustAnchor<'a>, IdentityError> {
    webpki::anchor_from_trusted_cert(root)
        .map_err(|e| IdentityError::Malformed(format!("member CA certificate: {e:?}")))
}

fn check_purpose(kind: IdentityKind, purpose: Purpose) -> Result<(), IdentityError> {
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
struct Profile {
    party: PartyCode,
    party_name: String,
    name: String,
    kind: IdentityKind,
    node_id: Option<NodeId>,
}

fn read_profile(leaf: &X509Certificate<'_>) -> Result<Profile, IdentityError> {
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

/// The JWS algorithm a certificate's key is for, or what the key is if it is not accepted.
pub(crate) fn key_algorithm(spki: &SubjectPublicKeyInfo<'_>) -> Result<Alg, String> {
    let oid = &spki.algorithm.algorithm;
    if *oid == OID_SIG_ED25519 {
        return Ok(Alg::EdDSA);
    }
    if *oid == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        return match curve {
            Some(c) if c == OID_EC_P256 => Ok(Alg::ES256),
            Some(c) => Err(format!("EC key on curve {c}")),
            None => Err("EC key without a named curve".into()),
        };
    }
    Err(format!("key algorithm {oid}"))
}

fn map_webpki_error(e: webpki::Error, leaf: &X509Certificate<'_>, at: u64) -> IdentityError {
    use webpki::Error as E;
    let at = at as i64;
    match e {
        // webpki reports the dates of whichever certificate of the chain failed.
        E::CertExpired { not_after, .. } => IdentityError::Expired {
            not_after: not_after.as_secs() as i64,
            at,
        },
        E::CertNotValidYet { not_before, .. } => IdentityError::NotYetValid {
            not_before: not_before.as_secs() as i64,
            at,
        },
        E::CertRevoked => IdentityError::Revoked {
            serial: leaf.raw_serial_as_string().replace(':', ""),
        },
        E::UnknownIssuer => IdentityError::UnknownIssuer,
        E::InvalidSignatureForPublicKey => IdentityError::BadSignature,
        E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            IdentityError::UnsupportedAlgorithm(format!("{e:?}"))
        }
        E::RequiredEkuNotFoundContext(_) => {
            IdentityError::KeyUsage(format!("required extended key usage missing: {e:?}"))
        }
        E::InvalidCrlSignatureForPublicKey
        | E::IssuerNotCrlSigner
        | E::UnsupportedCrlSignatureAlgorithmContext(_) => {
            IdentityError::BadRevocationList(format!("{e:?}"))
        }
        E::CaUsedAsEndEntity | E::EndEntityUsedAsCa => IdentityError::Profile(format!("{e:?}")),
        other => IdentityError::Other(format!("{other:?}")),
    }
}

/// What a revocation list says, read without trusting it: the ledger uses it to refuse an
/// update that is older than the list it has, or that names another member. Its signature is
/// checked against the issuing CA whenever a chain is verified with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationListInfo {
    /// The issuer's subject O: by the profile, the member code.
    pub issuer_member: String,
    /// The cRLNumber extension (required by Silkline: it orders a member's lists).
    pub crl_number: u64,
    /// thisUpdate, seconds since the Unix epoch.
    pub this_update: i64,
    /// Revoked serial numbers, lowercase hex.
    pub revoked_serials: Vec<String>,
}

/// Most revoked entries in one list: a member revoking more than this re-keys its CA instead.
pub const CRL_ENTRIES_MAX: usize = 100_000;

/// Parses a DER revocation list and reads what the ledger needs from it.
pub fn inspect_revocation_list(der: &[u8]) -> Result<RevocationListInfo, IdentityError> {
    let (rest, crl) = x509_parser::parse_x509_crl(der)
        .map_err(|e| IdentityError::BadRevocationList(format!("does not parse: {e}")))?;
    if !rest.is_empty() {
        return Err(IdentityError::BadRevocationList(
            "trailing bytes after the list".into(),
        ));
    }
    OwnedCertRevocationList::from_der(der)
        .map_err(|e| IdentityError::BadRevocationList(format!("{e:?}")))?;
    let issuer_member = crl
        .issuer()
        .iter_organization()
        .next()
        .and_then(|a| a.as_str().ok())
        .ok_or_else(|| IdentityError::BadRevocationList("issuer has no O (member code)".into()))?
        .to_string();
    let crl_number = crl
        .crl_number()
        .ok_or_else(|| IdentityError::BadRevocationList("cRLNumber is missing".into()))?;
    let bytes = crl_number.to_bytes_be();
    if bytes.len() > 8 {
        return Err(IdentityError::BadRevocationList(
            "cRLNumber is larger than 64 bits".into(),
        ));
    }
    let crl_number = bytes.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b));
    let count = crl.iter_revoked_certificates().count();
    if count > CRL_ENTRIES_MAX {
        return Err(IdentityError::BadRevocationList(format!(
            "{count} entries, more than the {CRL_ENTRIES_MAX} accepted"
        )));
    }
    Ok(RevocationListInfo {
        issuer_member,
        crl_number,
        this_update: crl.last_update().timestamp(),
        revoked_serials: crl
            .iter_revoked_certificates()
            .map(|r| r.raw_serial_as_string().replace(':', ""))
            .collect(),
    })
}
