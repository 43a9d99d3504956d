//! One member's own certificate authority, in a directory only that member holds: what
//! `silkline member init|issue-node|issue-user|revoke` run, and the member's public *bundle*
//! (`member.json`) that the other members read to form a consortium with it.
//!
//! A consortium is formed from its members' bundles, never from their keys: each member runs
//! these commands on its own machine, keeps its private keys in its directory (mode 0600), and
//! hands out only `member.json` and node certificates. Certificates are made by [`crate::ca`],
//! the same functions the dev generator ([`crate::dev`]) uses, so they follow `PROFILE.md`
//! exactly as a dev network's do. Revocation lists after the first are made by
//! [`crate::revocation`], the code `silkline tx revoke` uses.
//!
//! What it is not: a network configuration. Roles are carried as the member states them and
//! checked by whoever builds the genesis; whether a member sponsors a party is the ledger's
//! rule. Time is a parameter.
//!
//! Layout of a member directory:
//! ```text
//! member.json                   the public bundle (MemberBundle)
//! ca/root.crt   ca/root.key     the member's root CA (key 0600)
//! ca/issuing.crt ca/issuing.key its issuing intermediate, with --intermediate
//! crl.pem                       the issuing CA's current revocation list
//! identities/NAME.crt|.key      admin and user certificates (chain, leaf first) and keys
//! nodes/ID.crt|.key             node TLS certificates (chain) and keys
//! ```

use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use rcgen::{Issuer, KeyPair};
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

use crate::ca::{self, CaError, EndEntity, KeyAlgorithm, Validity};
use crate::identity::{Fingerprint, IdentityKind, MemberCode, NodeId, PartyCode, Purpose};
use crate::pem::{certificate_pem, crl_pem};
use crate::revocation::{NextList, RevocationSigner, Serial};
use crate::trust_store::TrustStore;

/// The bundle's file name inside a member directory.
pub const BUNDLE_FILE: &str = "member.json";

/// The bundle format this code writes and reads. A reader refuses another version rather than
/// guess what its fields mean.
pub const BUNDLE_VERSION: u32 = 1;

/// How long a member's certificates are valid: a CA's life is a consortium's, and its users'
/// and nodes' as long, since rotating them is governance's job (revocation, new certificates).
pub const MEMBER_VALIDITY_S: i64 = 5 * 365 * 24 * 3600;

/// Longest holder name (a certificate's CN): RFC 5280's upper bound for a common name
/// (ub-common-name, 64).
pub const HOLDER_NAME_CHARS_MAX: usize = 64;

/// Longest member or party name (a certificate's O): RFC 5280's ub-organization-name.
pub const ORGANIZATION_NAME_CHARS_MAX: usize = 64;

/// Most parties a bundle may list: the ledger's own bound on parties at genesis is far higher,
/// but a member's bundle is read by hand, and its sponsored parties beyond the first few are
/// onboarded by governance.
pub const BUNDLE_PARTIES_MAX: usize = 1_000;

/// Most admin certificates a bundle may list: a member has a few administrators.
pub const BUNDLE_ADMINS_MAX: usize = 16;

/// Most host names or addresses on one node certificate.
pub const NODE_NAMES_MAX: usize = 16;

/// The name of the admin identity `init` makes (`identities/admin.crt`).
pub const FIRST_ADMIN: &str = "admin";

/// A party a member sponsors, named in its bundle so that the genesis lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SponsoredParty {
    pub code: PartyCode,
    pub name: String,
}

/// `member.json`: everything the other members need to admit this member, and nothing secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberBundle {
    /// [`BUNDLE_VERSION`].
    pub bundle_version: u32,
    /// The member's code: its root CA's subject O, and its own party's code.
    pub code: MemberCode,
    /// The member's name: its own party's name and its CAs' CN.
    pub name: String,
    /// CARRIER, PORT, BANK or OBSERVER, as the member states it (checked by the genesis).
    pub role: String,
    /// The root CA certificate (PEM, self-signed): the trust anchor every chain of the member
    /// reaches.
    pub ca_certificate_pem: String,
    /// The issuing intermediate (PEM), if the member issues from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intermediate_certificate_pem: Option<String>,
    /// The member's admin certificates (PEM, each the leaf alone; the intermediate, if any, is
    /// `intermediateCertificatePem`): who may sign the member's governance transactions.
    pub admin_certificates_pem: Vec<String>,
    /// The issuing CA's current revocation list (PEM `X509 CRL`).
    pub crl_pem: String,
    /// Parties the member sponsors besides its own, for the genesis.
    #[serde(default)]
    pub parties: Vec<SponsoredParty>,
}

/// What `init` makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInit {
    pub code: MemberCode,
    pub name: String,
    pub role: String,
    pub algorithm: KeyAlgorithm,
    /// Issue from an intermediate under the root, so the root key can stay offline.
    pub intermediate: bool,
}

/// A certificate `issue_*` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The chain (leaf first), PEM.
    pub cert: PathBuf,
    /// Its key, PKCS#8 PEM, mode 0600.
    pub key: PathBuf,
    /// Lowercase hex, as `Identity::serial` prints it.
    pub serial: String,
    /// SHA-256 of the leaf's DER, lowercase hex: what a genesis pins a node by.
    pub fingerprint: String,
}

/// Why a member directory could not be made, read or used. `code()` is stable.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error("{}: the directory is not empty; a member directory is made once (it holds private keys)", .0.display())]
    DirectoryNotEmpty(PathBuf),
    #[error("{}: already exists; a certificate and key are never overwritten", .0.display())]
    Exists(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    UnknownParty(String),
    #[error("{0}")]
    NotIssuedHere(String),
    #[error("{0}")]
    Bundle(#[from] BundleError),
    #[error("certificate generation: {0}")]
    Ca(#[from] CaError),
    #[error("revocation list: {0}")]
    Revocation(#[from] crate::revocation::RevocationError),
}

impl MemberError {
    /// A stable code naming the rule.
    pub fn code(&self) -> &'static str {
        match self {
            MemberError::DirectoryNotEmpty(_) => "MEMBER_DIR_NOT_EMPTY",
            MemberError::Exists(_) => "FILE_EXISTS",
            MemberError::Io { .. } => "IO",
            MemberError::Invalid(_) => "INVALID_ARGUMENT",
            MemberError::UnknownParty(_) => "UNKNOWN_PARTY",
            MemberError::NotIssuedHere(_) => "NOT_ISSUED_BY_THIS_MEMBER",
            MemberError::Bundle(e) => e.code(),
            MemberError::Ca(_) => "CERTIFICATE_GENERATION",
            MemberError::Revocation(_) => "REVOCATION_LIST",
        }
    }
}

/// Why a bundle is not one a consortium can admit. `code()` is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("bundle JSON: {0}")]
    Json(String),
    #[error("bundleVersion {found}: this silkline reads version {BUNDLE_VERSION}")]
    Version { found: u32 },
    #[error("member {member}: name: {reason}")]
    Name { member: String, reason: String },
    #[error("member {member}: CA certificate: {reason}")]
    Ca { member: String, reason: String },
    #[error("member {member}: intermediate certificate: {reason}")]
    Intermediate { member: String, reason: String },
    #[error("member {member}: revocation list: {reason}")]
    Crl { member: String, reason: String },
    #[error("member {member}: admin certificate {index}: {reason}")]
    Admin {
        member: String,
        index: usize,
        reason: String,
    },
    #[error("member {member}: parties: {reason}")]
    Parties { member: String, reason: String },
}

impl BundleError {
    /// A stable code naming the rule.
    pub fn code(&self) -> &'static str {
        match self {
            BundleError::Json(_) => "BUNDLE_MALFORMED",
            BundleError::Version { .. } => "BUNDLE_VERSION",
            BundleError::Name { .. } => "BUNDLE_NAME",
            BundleError::Ca { .. } => "BUNDLE_CA_INVALID",
            BundleError::Intermediate { .. } => "BUNDLE_INTERMEDIATE_INVALID",
            BundleError::Crl { .. } => "BUNDLE_CRL_INVALID",
            BundleError::Admin { .. } => "BUNDLE_ADMIN_INVALID",
            BundleError::Parties { .. } => "BUNDLE_PARTIES_INVALID",
        }
    }
}

/// What [`MemberBundle::verify`] read out of a bundle, in DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBundle {
    pub root_der: Vec<u8>,
    pub intermediate_der: Option<Vec<u8>>,
    pub crl_der: Vec<u8>,
    /// Whether the root signed the list (else the intermediate did): a genesis takes only a
    /// root's list as the member's first (`pki::crl::verify_member_list` without a chain).
    pub crl_by_root: bool,
    /// The admins' fingerprints (SHA-256 of each leaf's DER), in the bundle's order.
    pub admin_fingerprints: Vec<Fingerprint>,
}

impl MemberBundle {
    /// Parses a bundle's JSON (structure and version only; [`verify`](Self::verify) checks it).
    pub fn from_json(text: &str) -> Result<MemberBundle, BundleError> {
        let bundle: MemberBundle =
            serde_json::from_str(text).map_err(|e| BundleError::Json(e.to_string()))?;
        if bundle.bundle_version != BUNDLE_VERSION {
            return Err(BundleError::Version {
                found: bundle.bundle_version,
            });
        }
        Ok(bundle)
    }

    /// Checks that the bundle is self-consistent at `at_unix_s`: a self-signed CA certificate
    /// of the profile naming the member's code, an intermediate it certifies (if any), a
    /// revocation list of the member's issuing CA, at least one admin certificate chaining to
    /// the CA that is an admin of the member's own party and not revoked, names within bounds
    /// and parties listed once, none the member's own.
    pub fn verify(&self, at_unix_s: i64) -> Result<VerifiedBundle, BundleError> {
        let member = self.code.as_str().to_owned();
        if self.bundle_version != BUNDLE_VERSION {
            return Err(BundleError::Version {
                found: self.bundle_version,
            });
        }
        check_name(&self.name, ORGANIZATION_NAME_CHARS_MAX).map_err(|reason| {
            BundleError::Name {
                member: member.clone(),
                reason,
            }
        })?;
        let ca_err = |reason: String| BundleError::Ca {
            member: member.clone(),
            reason,
        };
        let root_der = single_certificate(&self.ca_certificate_pem).map_err(ca_err)?;
        check_root(&root_der, &self.code).map_err(ca_err)?;
        let mut store = TrustStore::new();
        store
            .add_member(self.code.clone(), root_der.clone())
            .map_err(|e| ca_err(e.to_string()))?;
        let intermediate_der = match &self.intermediate_certificate_pem {
            None => None,
            Some(pem) => {
                let int_err = |reason: String| BundleError::Intermediate {
                    member: member.clone(),
                    reason,
                };
                let der = single_certificate(pem).map_err(int_err)?;
                check_intermediate(&der, &root_der, &self.code).map_err(int_err)?;
                Some(der)
            }
        };
        let crl_err = |reason: String| BundleError::Crl {
            member: member.clone(),
            reason,
        };
        let crl_der = crate::pem::crl_der(&self.crl_pem).map_err(crl_err)?;
        let presented: Vec<&[u8]> = intermediate_der.iter().map(Vec::as_slice).collect();
        crate::crl::verify_member_list(&crl_der, &self.code, &root_der, &presented)
            .map_err(|e| crl_err(e.to_string()))?;
        let crl_by_root =
            crate::crl::verify_member_list(&crl_der, &self.code, &root_der, &[]).is_ok();
        store
            .set_revocations(&self.code, vec![crl_der.clone()])
            .map_err(|e| crl_err(e.to_string()))?;
        if self.admin_certificates_pem.is_empty()
            || self.admin_certificates_pem.len() > BUNDLE_ADMINS_MAX
        {
            return Err(BundleError::Admin {
                member,
                index: 0,
                reason: format!("a bundle lists 1 to {BUNDLE_ADMINS_MAX} admin certificates"),
            });
        }
        let at = u64::try_from(at_unix_s).map_err(|_| ca_err(format!("time {at_unix_s}")))?;
        let mut admin_fingerprints = Vec::new();
        for (index, pem) in self.admin_certificates_pem.iter().enumerate() {
            let admin_err = |reason: String| BundleError::Admin {
                member: member.clone(),
                index,
                reason,
            };
            let leaf = single_certificate(pem).map_err(admin_err)?;
            let mut chain = vec![CertificateDer::from(leaf.clone())];
            chain.extend(intermediate_der.iter().cloned().map(CertificateDer::from));
            let identity = store
                .verify_identity(&chain, at, Purpose::SignTransaction)
                .map_err(|e| admin_err(e.to_string()))?;
            if identity.kind != IdentityKind::Admin {
                return Err(admin_err(format!("a {} certificate", identity.kind)));
            }
            if identity.party.as_str() != self.code.as_str() {
                return Err(admin_err(format!(
                    "acts for party {}, not the member's own party {}",
                    identity.party, self.code
                )));
            }
            admin_fingerprints.push(Fingerprint::of(&leaf));
        }
        if self.parties.len() > BUNDLE_PARTIES_MAX {
            return Err(BundleError::Parties {
                member,
                reason: format!("at most {BUNDLE_PARTIES_MAX}"),
            });
        }
        let mut seen = BTreeSet::new();
        for p in &self.parties {
            let reason = if p.code.as_str() == self.code.as_str() {
                Some(format!(
                    "{} is the member's own party, listed implicitly",
                    p.code
                ))
            } else if !seen.insert(p.code.as_str()) {
                Some(format!("{} is listed twice", p.code))
            } else {
                check_name(&p.name, ORGANIZATION_NAME_CHARS_MAX)
                    .err()
                    .map(|r| format!("{}: {r}", p.code))
            };
            if let Some(reason) = reason {
                return Err(BundleError::Parties { member, reason });
            }
        }
        Ok(VerifiedBundle {
            root_der,
            intermediate_der,
            crl_der,
            crl_by_root,
            admin_fingerprints,
        })
    }
}

/// One member's directory, opened.
#[derive(Debug)]
pub struct MemberDir {
    dir: PathBuf,
    bundle: MemberBundle,
}

const ROOT_CERT: &str = "ca/root.crt";
const ROOT_KEY: &str = "ca/root.key";
const ISSUING_CERT: &str = "ca/issuing.crt";
const ISSUING_KEY: &str = "ca/issuing.key";
const CRL_FILE: &str = "crl.pem";

impl MemberDir {
    /// Makes a member's CA in `dir` (created mode 0700 if missing; refused if it holds anything):
    /// its root (and intermediate), an admin certificate (`identities/admin.crt`), its first
    /// revocation list and `member.json`. Certificates are valid from `now_unix_s` for
    /// [`MEMBER_VALIDITY_S`].
    pub fn init(dir: &Path, spec: &MemberInit, now_unix_s: i64) -> Result<MemberDir, MemberError> {
        check_name(&spec.name, ORGANIZATION_NAME_CHARS_MAX)
            .map_err(|r| MemberError::Invalid(format!("member name: {r}")))?;
        if spec.role.is_empty() {
            return Err(MemberError::Invalid("a member states its role".into()));
        }
        match fs::read_dir(dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(MemberError::DirectoryNotEmpty(dir.to_path_buf()));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(io_err(dir))?;
            }
            Err(e) => return Err(io_err(dir)(e)),
        }
        for sub in ["ca", "identities", "nodes"] {
            let path = dir.join(sub);
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&path)
                .map_err(io_err(&path))?;
        }
        let validity = Validity {
            not_before: now_unix_s,
            not_after: now_unix_s + MEMBER_VALIDITY_S,
        };
        let root = ca::new_root(
            &spec.code,
            &spec.name,
            spec.algorithm,
            ca::random_serial()?,
            validity,
        )?;
        let root_pem = root.cert.pem();
        write_public(&dir.join(ROOT_CERT), root_pem.as_bytes())?;
        write_secret(&dir.join(ROOT_KEY), root.key_pem.as_bytes())?;
        let (issuing_pem, issuing_key) = if spec.intermediate {
            let issuing = ca::new_intermediate(
                &spec.code,
                &spec.name,
                spec.algorithm,
                ca::random_serial()?,
                validity,
                &root.issuer,
            )?;
            let pem = issuing.cert.pem();
            write_public(&dir.join(ISSUING_CERT), pem.as_bytes())?;
            write_secret(&dir.join(ISSUING_KEY), issuing.key_pem.as_bytes())?;
            (pem, issuing.key_pem)
        } else {
            (root_pem.clone(), root.key_pem.clone())
        };
        let signer = RevocationSigner::new(&single_certificate(&issuing_pem)?, &issuing_key)?;
        let first = signer.next_list(None, &[], now_unix_s)?;
        let crl_pem = crl_pem(&first.der);
        write_public(&dir.join(CRL_FILE), crl_pem.as_bytes())?;
        let mut member = MemberDir {
            dir: dir.to_path_buf(),
            bundle: MemberBundle {
                bundle_version: BUNDLE_VERSION,
                code: spec.code.clone(),
                name: spec.name.clone(),
                role: spec.role.clone(),
                ca_certificate_pem: root_pem,
                intermediate_certificate_pem: spec.intermediate.then_some(issuing_pem),
                admin_certificates_pem: Vec::new(),
                crl_pem,
                parties: Vec::new(),
            },
        };
        let own = member.own_party()?;
        member.issue_identity(FIRST_ADMIN, &own, &spec.name.clone(), true, now_unix_s)?;
        member.save()?;
        Ok(member)
    }

    /// Opens a member directory made by [`init`](Self::init).
    pub fn open(dir: &Path) -> Result<MemberDir, MemberError> {
        let path = dir.join(BUNDLE_FILE);
        let bundle = MemberBundle::from_json(&read(&path)?)?;
        Ok(MemberDir {
            dir: dir.to_path_buf(),
            bundle,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The public bundle.
    pub fn bundle(&self) -> &MemberBundle {
        &self.bundle
    }

    /// The chain and key files of node `node_id`'s certificate (whether issued or not).
    pub fn node_files(&self, node_id: &NodeId) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("nodes/{node_id}.crt")),
            self.dir.join(format!("nodes/{node_id}.key")),
        )
    }

    /// The chain and key files of a user or admin identity named `file_stem`.
    pub fn identity_files(&self, file_stem: &str) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("identities/{file_stem}.crt")),
            self.dir.join(format!("identities/{file_stem}.key")),
        )
    }

    /// Issues a node TLS certificate for `node_id` with DNS names `hosts` and IP addresses
    /// `ips` (besides `localhost` and 127.0.0.1, which the profile always names).
    pub fn issue_node(
        &mut self,
        node_id: &NodeId,
        hosts: &[String],
        ips: &[IpAddr],
        now_unix_s: i64,
    ) -> Result<Issued, MemberError> {
        if hosts.len() + ips.len() > NODE_NAMES_MAX {
            return Err(MemberError::Invalid(format!(
                "at most {NODE_NAMES_MAX} host names and addresses on one node certificate"
            )));
        }
        for host in hosts {
            ca::check_host_name(host).map_err(MemberError::Invalid)?;
        }
        let (cert, key) = self.node_files(node_id);
        let own = self.own_party()?;
        let name = self.bundle.name.clone();
        self.issue(
            &cert,
            &key,
            &EndEntity {
                holder: node_id.as_str(),
                party: &own,
                party_name: &name,
                kind: IdentityKind::Node,
                node_id: Some(node_id),
                dns_names: hosts,
                ips,
                serial: ca::random_serial()?,
                validity: validity_from(now_unix_s),
            },
        )
    }

    /// Issues a user (or, with `admin`, an admin) certificate for `holder` acting for `party`:
    /// the member's own party, or a party it sponsors. A party not in the bundle yet needs its
    /// name (`party_name`) and is added to the bundle's parties; an admin acts for the member's
    /// own party only and is added to the bundle's admins. The files are
    /// `identities/STEM.crt|.key`, STEM the holder's name in lower case with every character
    /// outside `a-z 0-9 . _ -` replaced by `-`.
    pub fn issue_user(
        &mut self,
        party: &PartyCode,
        holder: &str,
        party_name: Option<&str>,
        admin: bool,
        now_unix_s: i64,
    ) -> Result<Issued, MemberError> {
        let own = self.own_party()?;
        if admin && *party != own {
            return Err(MemberError::Invalid(format!(
                "an admin acts for the member's own party {own}, not {party}"
            )));
        }
        let name = if *party == own {
            self.bundle.name.clone()
        } else if let Some(p) = self.bundle.parties.iter().find(|p| p.code == *party) {
            if let Some(given) = party_name
                && given != p.name
            {
                return Err(MemberError::Invalid(format!(
                    "party {party} is named {:?} in this member's bundle, not {given:?}",
                    p.name
                )));
            }
            p.name.clone()
        } else {
            let name = party_name.ok_or_else(|| {
                MemberError::UnknownParty(format!(
                    "{party} is neither this member's own party nor one it sponsors: give its \
                     name (--party-name) to sponsor it"
                ))
            })?;
            check_name(name, ORGANIZATION_NAME_CHARS_MAX)
                .map_err(|r| MemberError::Invalid(format!("party name: {r}")))?;
            if self.bundle.parties.len() >= BUNDLE_PARTIES_MAX {
                return Err(MemberError::Invalid(format!(
                    "a bundle lists at most {BUNDLE_PARTIES_MAX} parties"
                )));
            }
            self.bundle.parties.push(SponsoredParty {
                code: party.clone(),
                name: name.to_owned(),
            });
            name.to_owned()
        };
        let issued = self.issue_identity(holder, party, &name, admin, now_unix_s)?;
        self.save()?;
        Ok(issued)
    }

    /// Revokes the certificate `cert_pem` (its leaf), which this member's issuing CA must have
    /// issued: writes the member's next revocation list to `crl.pem` (every entry of the
    /// current one kept, cRLNumber one past, `pki::revocation`) and into the bundle. Publishing
    /// it on a running network is `silkline tx revoke --crl crl.pem`.
    pub fn revoke(&mut self, cert_pem: &str, now_unix_s: i64) -> Result<NextList, MemberError> {
        let leaf = first_certificate(cert_pem)?;
        let signer = self.revocation_signer()?;
        if !signer.issued(&leaf)? {
            return Err(MemberError::NotIssuedHere(format!(
                "the certificate was not issued by {}, this member's issuing CA",
                signer.subject()
            )));
        }
        let current =
            crate::pem::crl_der(&read(&self.dir.join(CRL_FILE))?).map_err(MemberError::Invalid)?;
        let next = signer.next_list(
            Some(&current),
            &[Serial::of_certificate(&leaf)?],
            now_unix_s,
        )?;
        let pem = crl_pem(&next.der);
        replace_public(&self.dir.join(CRL_FILE), pem.as_bytes())?;
        self.bundle.crl_pem = pem;
        self.save()?;
        Ok(next)
    }

    /// The member's own party code (its member code).
    fn own_party(&self) -> Result<PartyCode, MemberError> {
        PartyCode::new(self.bundle.code.as_str()).map_err(MemberError::Invalid)
    }

    /// The issuing CA's certificate (PEM) and key file.
    fn issuing_ca(&self) -> (PathBuf, PathBuf) {
        if self.bundle.intermediate_certificate_pem.is_some() {
            (self.dir.join(ISSUING_CERT), self.dir.join(ISSUING_KEY))
        } else {
            (self.dir.join(ROOT_CERT), self.dir.join(ROOT_KEY))
        }
    }

    fn issuer(&self) -> Result<Issuer<'static, KeyPair>, MemberError> {
        let (cert, key) = self.issuing_ca();
        Ok(ca::issuer_from_pem(&read(&cert)?, &read(&key)?)?)
    }

    fn revocation_signer(&self) -> Result<RevocationSigner, MemberError> {
        let (cert, key) = self.issuing_ca();
        Ok(RevocationSigner::new(
            &single_certificate(&read(&cert)?)?,
            &read(&key)?,
        )?)
    }

    fn issue_identity(
        &mut self,
        holder: &str,
        party: &PartyCode,
        party_name: &str,
        admin: bool,
        now_unix_s: i64,
    ) -> Result<Issued, MemberError> {
        check_name(holder, HOLDER_NAME_CHARS_MAX)
            .map_err(|r| MemberError::Invalid(format!("holder name: {r}")))?;
        let (cert, key) = self.identity_files(&file_stem(holder));
        let issued = self.issue(
            &cert,
            &key,
            &EndEntity {
                holder,
                party,
                party_name,
                kind: if admin {
                    IdentityKind::Admin
                } else {
                    IdentityKind::User
                },
                node_id: None,
                dns_names: &[],
                ips: &[],
                serial: ca::random_serial()?,
                validity: validity_from(now_unix_s),
            },
        )?;
        if admin {
            if self.bundle.admin_certificates_pem.len() >= BUNDLE_ADMINS_MAX {
                return Err(MemberError::Invalid(format!(
                    "a bundle lists at most {BUNDLE_ADMINS_MAX} admin certificates"
                )));
            }
            let leaf = first_certificate(&read(&issued.cert)?)?;
            self.bundle
                .admin_certificates_pem
                .push(certificate_pem(&leaf));
        }
        Ok(issued)
    }

    /// Issues `req` with the member's issuing CA into `cert` (the chain) and `key` (0600); both
    /// must not exist.
    fn issue(&self, cert: &Path, key: &Path, req: &EndEntity<'_>) -> Result<Issued, MemberError> {
        for path in [cert, key] {
            if path.exists() {
                return Err(MemberError::Exists(path.to_path_buf()));
            }
        }
        let algorithm = self.algorithm()?;
        let (certificate, key_pair) = ca::issue_end_entity(req, algorithm, &self.issuer()?)?;
        let mut chain = certificate.pem();
        if let Some(intermediate) = &self.bundle.intermediate_certificate_pem {
            chain.push_str(intermediate);
        }
        write_secret(key, key_pair.serialize_pem().as_bytes())?;
        write_public(cert, chain.as_bytes())?;
        Ok(Issued {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            serial: Serial::of_certificate(certificate.der())?.to_hex(),
            fingerprint: Fingerprint::of(certificate.der()).to_string(),
        })
    }

    /// The key algorithm of the member's issuing CA, which its certificates use too.
    fn algorithm(&self) -> Result<KeyAlgorithm, MemberError> {
        let (_, key) = self.issuing_ca();
        let key = KeyPair::from_pem(&read(&key)?).map_err(CaError::from)?;
        if key.algorithm() == &rcgen::PKCS_ED25519 {
            Ok(KeyAlgorithm::Ed25519)
        } else if key.algorithm() == &rcgen::PKCS_ECDSA_P256_SHA256 {
            Ok(KeyAlgorithm::P256)
        } else {
            Err(MemberError::Invalid(
                "the issuing CA's key is neither Ed25519 nor P-256".into(),
            ))
        }
    }

    fn save(&self) -> Result<(), MemberError> {
        let json = serde_json::to_string_pretty(&self.bundle)
            .map_err(|e| MemberError::Invalid(e.to_string()))?;
        replace_public(&self.dir.join(BUNDLE_FILE), json.as_bytes())
    }
}

fn validity_from(now_unix_s: i64) -> Validity {
    Validity {
        not_before: now_unix_s,
        not_after: now_unix_s + MEMBER_VALIDITY_S,
    }
}

/// A holder's name as a file name: lower case, `a-z 0-9 . _ -` kept, anything else `-`.
pub fn file_stem(holder: &str) -> String {
    let stem: String = holder
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    // No hidden files, no `.` or `..`.
    stem.trim_start_matches('.').to_owned()
}

fn check_name(name: &str, max: usize) -> Result<(), String> {
    let chars = name.chars().count();
    if name.trim().is_empty() || chars > max {
        return Err(format!("must be 1 to {max} characters, not blank"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// The DER of the one certificate in `pem`.
fn single_certificate(pem: &str) -> Result<Vec<u8>, String> {
    let certs = crate::pem::certificates(pem)?;
    if certs.len() != 1 {
        return Err(format!(
            "{} certificates where one was expected",
            certs.len()
        ));
    }
    Ok(certs[0].as_ref().to_vec())
}

/// The DER of the first certificate in `pem` (a chain's leaf).
fn first_certificate(pem: &str) -> Result<Vec<u8>, String> {
    Ok(crate::pem::certificates(pem)?[0].as_ref().to_vec())
}

impl From<String> for MemberError {
    fn from(e: String) -> MemberError {
        MemberError::Invalid(e)
    }
}

/// A root of the profile for `code`: a CA, self-issued and self-signed, subject O the code.
fn check_root(der: &[u8], code: &MemberCode) -> Result<(), String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    if !cert.is_ca() {
        return Err("not a CA certificate".into());
    }
    if cert.issuer().as_raw() != cert.subject().as_raw() {
        return Err(format!("not self-issued: issued by {}", cert.issuer()));
    }
    crate::signature::verify_x509(
        cert.public_key(),
        &cert.signature_algorithm,
        cert.tbs_certificate.as_ref(),
        &cert.signature_value.data,
    )
    .map_err(|e| format!("its own key does not verify its signature: {e:?}"))?;
    check_organization(&cert, code)
}

fn check_intermediate(der: &[u8], root_der: &[u8], code: &MemberCode) -> Result<(), String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let (_, root) = x509_parser::parse_x509_certificate(root_der).map_err(|e| e.to_string())?;
    if !cert.is_ca() {
        return Err("not a CA certificate".into());
    }
    if cert.issuer().as_raw() != root.subject().as_raw() {
        return Err(format!(
            "issued by {}, not by the member's root",
            cert.issuer()
        ));
    }
    crate::signature::verify_x509(
        root.public_key(),
        &cert.signature_algorithm,
        cert.tbs_certificate.as_ref(),
        &cert.signature_value.data,
    )
    .map_err(|e| format!("the member's root did not sign it: {e:?}"))?;
    check_organization(&cert, code)
}

fn check_organization(
    cert: &x509_parser::certificate::X509Certificate<'_>,
    code: &MemberCode,
) -> Result<(), String> {
    let o = cert
        .subject()
        .iter_organization()
        .next()
        .and_then(|o| o.as_str().ok());
    if o != Some(code.as_str()) {
        return Err(format!(
            "its subject O is {o:?}, not the member's code {code} (pki/PROFILE.md)"
        ));
    }
    Ok(())
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> MemberError + '_ {
    move |source| MemberError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read(path: &Path) -> Result<String, MemberError> {
    fs::read_to_string(path).map_err(io_err(path))
}

/// A private key: created (never replaced) with mode 0600 from the start, so it is never
/// readable by others, not even for a moment.
fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), MemberError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                MemberError::Exists(path.to_path_buf())
            } else {
                io_err(path)(e)
            }
        })?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

/// A new public file (certificates): never replaces one.
fn write_public(path: &Path, bytes: &[u8]) -> Result<(), MemberError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                MemberError::Exists(path.to_path_buf())
            } else {
                io_err(path)(e)
            }
        })?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

/// A public file that changes (the bundle, the current list): written beside it and renamed
/// over it, so a reader sees the old or the new one, never half of one.
fn replace_public(path: &Path, bytes: &[u8]) -> Result<(), MemberError> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    write_public(&tmp, bytes)?;
    fs::rename(&tmp, path).map_err(io_err(path))
}
