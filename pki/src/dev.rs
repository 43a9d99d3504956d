//! The dev-consortium generator: member CAs, node TLS certificates, user and admin certificates
//! and revocation lists for a given set of members and parties, written into a directory.
//!
//! Used by tests, fixtures and `silkline dev up`. It is the only part of the crate that does I/O
//! (it writes files); time is still a parameter (`now_unix_s`), so tests can make expired and
//! not-yet-valid certificates. Serial numbers are a counter kept in the manifest, so a
//! consortium is reproducible apart from its keys.
//!
//! Layout of the directory:
//! ```text
//! consortium.json              the manifest (Manifest): every member, party, identity and file
//! ca-bundle.pem                every member's root CA
//! members/CODE/root.crt|.key   the member's root CA
//! members/CODE/issuing.crt|.key  its intermediate, when the member has one
//! members/CODE/crl.pem         the issuing CA's revocation list
//! identities/NAME.crt|.key     user and admin certificates (chain, leaf first) and keys
//! nodes/ID.crt|.key            node TLS certificates (chain) and keys
//! ```

use std::fs;
use std::io::Write as _;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use rcgen::{
    CertificateRevocationListParams, Issuer, KeyIdMethod, KeyPair, RevokedCertParams, SerialNumber,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ca::{self, CaError, EndEntity, Validity};
use crate::identity::{IdentityKind, MemberCode, NodeId, PartyCode, TrustStore};
use crate::jws::Signer;

pub use crate::ca::{CRL_VALIDITY_S, KeyAlgorithm};

mod unaccepted;
pub use unaccepted::UnacceptedAlgorithm;

/// Name of the manifest file in a consortium directory.
pub const MANIFEST_FILE: &str = "consortium.json";
/// Default validity of generated certificates: long enough for any dev network's life.
pub const DEFAULT_VALIDITY_S: i64 = 5 * 365 * 24 * 3600;
/// First serial number handed out.
const FIRST_SERIAL: u64 = 0x1000;

/// A member to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberSpec {
    pub code: MemberCode,
    pub name: String,
    /// CARRIER, PORT, BANK or OBSERVER (carried into the manifest for the network config).
    pub role: String,
    #[serde(default)]
    pub algorithm: KeyAlgorithm,
    /// Whether the member issues from an intermediate CA under its root.
    #[serde(default)]
    pub intermediate: bool,
}

/// A party a member onboards (the member's own party is created implicitly).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartySpec {
    pub code: PartyCode,
    pub name: String,
    pub sponsor: MemberCode,
}

/// A node to certify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    pub id: NodeId,
    pub member: MemberCode,
    /// IP SANs besides 127.0.0.1.
    #[serde(default)]
    pub ips: Vec<IpAddr>,
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsortiumSpec {
    pub members: Vec<MemberSpec>,
    pub parties: Vec<PartySpec>,
    pub nodes: Vec<NodeSpec>,
}

impl ConsortiumSpec {
    /// The dev network of `silkline dev up`: members CARRIER, PORT and BANK, onboarded parties
    /// SHIPPER and CONSIGNEE (sponsored by CARRIER) and HAULIER (by PORT), and `nodes` nodes
    /// `node1..` spread over the members.
    pub fn dev(nodes: usize) -> ConsortiumSpec {
        let code = |s: &str| MemberCode::new(s).expect("static member code");
        let members = [
            ("CARRIER", "Silkline Shipping Line", "CARRIER"),
            ("PORT", "Silkline Container Terminal", "PORT"),
            ("BANK", "Silkline Trade Bank", "BANK"),
        ];
        let member_codes: Vec<MemberCode> = members.iter().map(|(c, _, _)| code(c)).collect();
        ConsortiumSpec {
            members: members
                .iter()
                .map(|(c, name, role)| MemberSpec {
                    code: code(c),
                    name: (*name).into(),
                    role: (*role).into(),
                    algorithm: KeyAlgorithm::Ed25519,
                    intermediate: false,
                })
                .collect(),
            parties: vec![
                PartySpec {
                    code: PartyCode::new("SHIPPER").expect("static"),
                    name: "Silk Road Exporters Ltd".into(),
                    sponsor: code("CARRIER"),
                },
                PartySpec {
                    code: PartyCode::new("CONSIGNEE").expect("static"),
                    name: "Rotterdam Importers BV".into(),
                    sponsor: code("CARRIER"),
                },
                // The haulier a holder of release rights nominates to collect containers.
                PartySpec {
                    code: PartyCode::new("HAULIER").expect("static"),
                    name: "Maasvlakte Haulage BV".into(),
                    sponsor: code("PORT"),
                },
            ],
            nodes: (1..=nodes)
                .map(|i| NodeSpec {
                    id: NodeId::new(format!("node{i}")).expect("node id"),
                    member: member_codes[(i - 1) % member_codes.len()].clone(),
                    ips: Vec::new(),
                })
                .collect(),
        }
    }
}

/// A member as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberEntry {
    pub code: MemberCode,
    pub name: String,
    pub role: String,
    pub algorithm: KeyAlgorithm,
    /// Root CA certificate (PEM), relative to the consortium directory.
    pub root_cert: PathBuf,
    pub root_key: PathBuf,
    /// Intermediate (issuing) CA, if any.
    pub intermediate_cert: Option<PathBuf>,
    pub intermediate_key: Option<PathBuf>,
    /// The issuing CA's current revocation list (PEM).
    pub crl: PathBuf,
    pub crl_number: u64,
    /// Revoked serials (lowercase hex) with their revocation time.
    pub revoked: Vec<(String, i64)>,
}

/// A certificate and key as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityEntry {
    /// Unique name in the consortium, e.g. `shipper` or `carrier-admin` or `node1`.
    pub name: String,
    pub member: MemberCode,
    pub party: PartyCode,
    pub kind: IdentityKind,
    pub node_id: Option<NodeId>,
    /// The chain, leaf first (PEM), relative to the consortium directory.
    pub cert: PathBuf,
    /// The PKCS#8 private key (PEM), mode 0600.
    pub key: PathBuf,
    /// Lowercase hex serial number.
    pub serial: String,
    pub not_before: i64,
    pub not_after: i64,
}

/// The manifest `consortium.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub members: Vec<MemberEntry>,
    pub parties: Vec<PartySpec>,
    pub identities: Vec<IdentityEntry>,
    /// Every member's root CA (PEM).
    pub ca_bundle: PathBuf,
    pub next_serial: u64,
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("{0}")]
    Invalid(String),
}

impl From<CaError> for DevError {
    fn from(e: CaError) -> DevError {
        match e {
            CaError::Rcgen(e) => DevError::Rcgen(e),
            CaError::Invalid(m) => DevError::Invalid(m),
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DevError + '_ {
    move |source| DevError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What to issue with [`Consortium::issue`].
#[derive(Debug, Clone)]
pub struct IdentityRequest {
    pub name: String,
    pub member: MemberCode,
    pub party: PartyCode,
    pub party_name: String,
    pub kind: IdentityKind,
    pub node_id: Option<NodeId>,
    pub ips: Vec<IpAddr>,
    pub not_before: i64,
    pub not_after: i64,
}

/// A generated consortium directory, opened.
#[derive(Debug)]
pub struct Consortium {
    dir: PathBuf,
    manifest: Manifest,
}

/// Generates a consortium into `dir` (created if missing; must not already hold a manifest).
/// Certificates are valid from `now_unix_s` for [`DEFAULT_VALIDITY_S`].
pub fn generate_consortium(
    spec: &ConsortiumSpec,
    dir: &Path,
    now_unix_s: i64,
) -> Result<Consortium, DevError> {
    if dir.join(MANIFEST_FILE).exists() {
        return Err(DevError::Invalid(format!(
            "{} already holds a consortium",
            dir.display()
        )));
    }
    for sub in ["members", "identities", "nodes"] {
        fs::create_dir_all(dir.join(sub)).map_err(io_err(dir))?;
    }
    let not_after = now_unix_s + DEFAULT_VALIDITY_S;
    let mut c = Consortium {
        dir: dir.to_path_buf(),
        manifest: Manifest {
            members: Vec::new(),
            parties: Vec::new(),
            identities: Vec::new(),
            ca_bundle: PathBuf::from("ca-bundle.pem"),
            next_serial: FIRST_SERIAL,
        },
    };
    let mut bundle = String::new();
    for m in &spec.members {
        let entry = c.create_member(m, now_unix_s, not_after)?;
        bundle.push_str(&read(&dir.join(&entry.root_cert))?);
        c.manifest.members.push(entry);
        c.manifest.parties.push(PartySpec {
            code: PartyCode::new(m.code.as_str()).map_err(DevError::Invalid)?,
            name: m.name.clone(),
            sponsor: m.code.clone(),
        });
    }
    write_file(&dir.join(&c.manifest.ca_bundle), bundle.as_bytes(), 0o644)?;
    for p in &spec.parties {
        if c.member(&p.sponsor).is_none() {
            return Err(DevError::Invalid(format!(
                "party {} is sponsored by unknown member {}",
                p.code, p.sponsor
            )));
        }
        c.manifest.parties.push(p.clone());
    }
    // A user for every party, an admin for every member.
    for p in c.manifest.parties.clone() {
        c.issue(&IdentityRequest {
            name: p.code.as_str().to_ascii_lowercase(),
            member: p.sponsor.clone(),
            party: p.code.clone(),
            party_name: p.name.clone(),
            kind: IdentityKind::User,
            node_id: None,
            ips: Vec::new(),
            not_before: now_unix_s,
            not_after,
        })?;
    }
    for m in c.manifest.members.clone() {
        c.issue(&IdentityRequest {
            name: format!("{}-admin", m.code.as_str().to_ascii_lowercase()),
            member: m.code.clone(),
            party: PartyCode::new(m.code.as_str()).map_err(DevError::Invalid)?,
            party_name: m.name.clone(),
            kind: IdentityKind::Admin,
            node_id: None,
            ips: Vec::new(),
            not_before: now_unix_s,
            not_after,
        })?;
    }
    for n in &spec.nodes {
        let member = c
            .member(&n.member)
            .ok_or_else(|| DevError::Invalid(format!("node {} of unknown member", n.id)))?
            .clone();
        c.issue(&IdentityRequest {
            name: n.id.as_str().to_string(),
            member: member.code.clone(),
            party: PartyCode::new(member.code.as_str()).map_err(DevError::Invalid)?,
            party_name: member.name.clone(),
            kind: IdentityKind::Node,
            node_id: Some(n.id.clone()),
            ips: n.ips.clone(),
            not_before: now_unix_s,
            not_after,
        })?;
    }
    c.save()?;
    Ok(c)
}

impl Consortium {
    /// Opens a generated directory.
    pub fn open(dir: &Path) -> Result<Consortium, DevError> {
        let path = dir.join(MANIFEST_FILE);
        let manifest: Manifest = serde_json::from_str(&read(&path)?)
            .map_err(|e| DevError::Invalid(format!("{}: {e}", path.display())))?;
        Ok(Consortium {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// A member's entry.
    pub fn member(&self, code: &MemberCode) -> Option<&MemberEntry> {
        self.manifest.members.iter().find(|m| &m.code == code)
    }

    /// An identity's entry by name.
    pub fn identity(&self, name: &str) -> Option<&IdentityEntry> {
        self.manifest.identities.iter().find(|i| i.name == name)
    }

    /// Absolute path of a manifest-relative path.
    pub fn path(&self, relative: &Path) -> PathBuf {
        self.dir.join(relative)
    }

    /// A trust store with every member's root and current revocation list.
    pub fn trust_store(&self) -> Result<TrustStore, DevError> {
        let mut store = TrustStore::new();
        for m in &self.manifest.members {
            store
                .add_member(m.code.clone(), self.der_of(&m.root_cert)?)
                .map_err(|e| DevError::Invalid(e.to_string()))?;
            store
                .set_revocations(&m.code, vec![self.crl_der(&m.code)?])
                .map_err(|e| DevError::Invalid(e.to_string()))?;
        }
        Ok(store)
    }

    /// The DER of a member's current revocation list.
    pub fn crl_der(&self, member: &MemberCode) -> Result<Vec<u8>, DevError> {
        let m = self.member(member).ok_or_else(|| unknown_member(member))?;
        crate::pem::crl_der(&read(&self.path(&m.crl))?).map_err(DevError::Invalid)
    }

    /// The DER of a member's root CA certificate.
    pub fn root_der(&self, member: &MemberCode) -> Result<Vec<u8>, DevError> {
        let m = self.member(member).ok_or_else(|| unknown_member(member))?;
        self.der_of(&m.root_cert)
    }

    /// A JWS signer for the named identity.
    pub fn signer(&self, name: &str) -> Result<Signer, DevError> {
        let id = self
            .identity(name)
            .ok_or_else(|| DevError::Invalid(format!("no identity named {name:?}")))?;
        Signer::from_pem(&read(&self.path(&id.key))?, &read(&self.path(&id.cert))?)
            .map_err(|e| DevError::Invalid(e.to_string()))
    }

    /// The certificate chain (DER, leaf first) of the named identity.
    pub fn chain_der(&self, name: &str) -> Result<Vec<Vec<u8>>, DevError> {
        let id = self
            .identity(name)
            .ok_or_else(|| DevError::Invalid(format!("no identity named {name:?}")))?;
        let certs =
            crate::pem::certificates(&read(&self.path(&id.cert))?).map_err(DevError::Invalid)?;
        Ok(certs.into_iter().map(|c| c.as_ref().to_vec()).collect())
    }

    /// The issuing CA of a member (its intermediate if it has one), to sign certificates that
    /// the profile-following [`Consortium::issue`] would not make (tests of refusals).
    pub fn issuer(&self, member: &MemberCode) -> Result<Issuer<'static, KeyPair>, DevError> {
        let m = self.member(member).ok_or_else(|| unknown_member(member))?;
        let (key_path, params) = match &m.intermediate_key {
            Some(k) => (k, ca::intermediate_params(&m.code, &m.name)),
            None => (&m.root_key, ca::root_params(&m.code, &m.name)),
        };
        let key = KeyPair::from_pem(&read(&self.path(key_path))?)?;
        Ok(Issuer::new(params, key))
    }

    /// The PEM of the issuing CA's certificate when it is an intermediate (to append to chains).
    fn intermediate_pem(&self, m: &MemberEntry) -> Result<Option<String>, DevError> {
        m.intermediate_cert
            .as_ref()
            .map(|p| read(&self.path(p)))
            .transpose()
    }

    /// Issues a certificate following the profile, writes it and its key, and records it.
    pub fn issue(&mut self, req: &IdentityRequest) -> Result<IdentityEntry, DevError> {
        if self.identity(&req.name).is_some() {
            return Err(DevError::Invalid(format!(
                "identity {:?} already exists",
                req.name
            )));
        }
        let m = self
            .member(&req.member)
            .ok_or_else(|| unknown_member(&req.member))?
            .clone();
        let serial = self.take_serial();
        let (cert, key) = ca::issue_end_entity(
            &EndEntity {
                holder: &req.name,
                party: &req.party,
                party_name: &req.party_name,
                kind: req.kind,
                node_id: req.node_id.as_ref(),
                dns_names: &[],
                ips: &req.ips,
                serial: SerialNumber::from(serial),
                validity: Validity {
                    not_before: req.not_before,
                    not_after: req.not_after,
                },
            },
            m.algorithm,
            &self.issuer(&m.code)?,
        )?;
        let mut chain = cert.pem();
        if let Some(intermediate) = self.intermediate_pem(&m)? {
            chain.push_str(&intermediate);
        }
        let folder = if req.kind == IdentityKind::Node {
            "nodes"
        } else {
            "identities"
        };
        let cert_path = PathBuf::from(format!("{folder}/{}.crt", req.name));
        let key_path = PathBuf::from(format!("{folder}/{}.key", req.name));
        write_file(&self.path(&cert_path), chain.as_bytes(), 0o644)?;
        write_file(&self.path(&key_path), key.serialize_pem().as_bytes(), 0o600)?;
        let entry = IdentityEntry {
            name: req.name.clone(),
            member: m.code.clone(),
            party: req.party.clone(),
            kind: req.kind,
            node_id: req.node_id.clone(),
            cert: cert_path,
            key: key_path,
            serial: serial_hex(serial),
            not_before: req.not_before,
            not_after: req.not_after,
        };
        self.manifest.identities.push(entry.clone());
        self.save()?;
        Ok(entry)
    }

    /// Revokes the named identity at `at_unix_s`: the member's issuing CA publishes a new list
    /// (crlNumber + 1) with it. Returns the new list's DER.
    pub fn revoke(&mut self, name: &str, at_unix_s: i64) -> Result<Vec<u8>, DevError> {
        let id = self
            .identity(name)
            .ok_or_else(|| DevError::Invalid(format!("no identity named {name:?}")))?
            .clone();
        let idx = self
            .manifest
            .members
            .iter()
            .position(|m| m.code == id.member)
            .ok_or_else(|| unknown_member(&id.member))?;
        {
            let m = &mut self.manifest.members[idx];
            if !m.revoked.iter().any(|(s, _)| *s == id.serial) {
                m.revoked.push((id.serial.clone(), at_unix_s));
            }
            m.crl_number += 1;
        }
        let m = self.manifest.members[idx].clone();
        let der = self.write_crl(&m, at_unix_s)?;
        self.save()?;
        Ok(der)
    }

    fn take_serial(&mut self) -> u64 {
        let s = self.manifest.next_serial;
        self.manifest.next_serial += 1;
        s
    }

    fn der_of(&self, relative: &Path) -> Result<Vec<u8>, DevError> {
        let certs =
            crate::pem::certificates(&read(&self.path(relative))?).map_err(DevError::Invalid)?;
        Ok(certs[0].as_ref().to_vec())
    }

    fn create_member(
        &mut self,
        spec: &MemberSpec,
        now: i64,
        not_after: i64,
    ) -> Result<MemberEntry, DevError> {
        let folder = PathBuf::from(format!("members/{}", spec.code));
        fs::create_dir_all(self.path(&folder)).map_err(io_err(&self.dir))?;
        let mut entry = MemberEntry {
            code: spec.code.clone(),
            name: spec.name.clone(),
            role: spec.role.clone(),
            algorithm: spec.algorithm,
            root_cert: folder.join("root.crt"),
            root_key: folder.join("root.key"),
            intermediate_cert: None,
            intermediate_key: None,
            crl: folder.join("crl.pem"),
            crl_number: 1,
            revoked: Vec::new(),
        };
        let validity = Validity {
            not_before: now,
            not_after,
        };
        let root = ca::new_root(
            &spec.code,
            &spec.name,
            spec.algorithm,
            SerialNumber::from(self.take_serial()),
            validity,
        )?;
        write_file(
            &self.path(&entry.root_cert),
            root.cert.pem().as_bytes(),
            0o644,
        )?;
        write_file(&self.path(&entry.root_key), root.key_pem.as_bytes(), 0o600)?;
        if spec.intermediate {
            let issuing = ca::new_intermediate(
                &spec.code,
                &spec.name,
                spec.algorithm,
                SerialNumber::from(self.take_serial()),
                validity,
                &root.issuer,
            )?;
            let cert_path = folder.join("issuing.crt");
            let key_path = folder.join("issuing.key");
            write_file(&self.path(&cert_path), issuing.cert.pem().as_bytes(), 0o644)?;
            write_file(&self.path(&key_path), issuing.key_pem.as_bytes(), 0o600)?;
            entry.intermediate_cert = Some(cert_path);
            entry.intermediate_key = Some(key_path);
        }
        // The member must exist in the manifest before its issuer can sign the first list.
        self.manifest.members.push(entry.clone());
        let result = self.write_crl(&entry, now);
        self.manifest.members.pop();
        result?;
        Ok(entry)
    }

    fn write_crl(&self, m: &MemberEntry, now: i64) -> Result<Vec<u8>, DevError> {
        let params = CertificateRevocationListParams {
            this_update: at(now)?,
            next_update: at(now + CRL_VALIDITY_S)?,
            crl_number: SerialNumber::from(m.crl_number),
            issuing_distribution_point: None,
            revoked_certs: m
                .revoked
                .iter()
                .map(|(serial, when)| {
                    Ok(RevokedCertParams {
                        serial_number: SerialNumber::from(
                            hex::decode(serial)
                                .map_err(|e| DevError::Invalid(format!("serial {serial}: {e}")))?,
                        ),
                        revocation_time: at(*when)?,
                        reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                        invalidity_date: None,
                    })
                })
                .collect::<Result<_, DevError>>()?,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&self.issuer(&m.code)?)?;
        write_file(&self.path(&m.crl), crl.pem()?.as_bytes(), 0o644)?;
        Ok(crl.der().to_vec())
    }

    fn save(&self) -> Result<(), DevError> {
        let json = serde_json::to_string_pretty(&self.manifest)
            .map_err(|e| DevError::Invalid(e.to_string()))?;
        write_file(&self.path(Path::new(MANIFEST_FILE)), json.as_bytes(), 0o644)
    }
}

fn unknown_member(code: &MemberCode) -> DevError {
    DevError::Invalid(format!("no member {code} in this consortium"))
}

fn at(unix_s: i64) -> Result<OffsetDateTime, DevError> {
    OffsetDateTime::from_unix_timestamp(unix_s)
        .map_err(|e| DevError::Invalid(format!("time {unix_s}: {e}")))
}

fn serial_hex(serial: u64) -> String {
    // The DER integer encoding of the serial, as x509-parser prints it (minimal big-endian).
    let bytes = serial.to_be_bytes();
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(7);
    let mut minimal = bytes[first..].to_vec();
    if minimal[0] & 0x80 != 0 {
        minimal.insert(0, 0);
    }
    hex::encode(minimal)
}

fn read(path: &Path) -> Result<String, DevError> {
    fs::read_to_string(path).map_err(io_err(path))
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), DevError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))
}
