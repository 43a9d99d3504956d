//! Test support (feature `testkit`, and `pint`'s own tests): a small PINT world with three
//! platforms and an envelope that moves a bill from the carrier's platform (BOLE), through the
//! shipper's (WAVE), to a bank hosted here (SLKA); generated certificates (rcgen). Never in a
//! production build: the node does not enable the feature.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use pint::jws::Signer;
use pint::model::{IdentifyingCode, Party, Transaction};
use pint::{
    CheckContext, CheckedTransfer, Leniency, Refusal, TrustedPlatforms, action_date_time,
    build_entry, build_envelope, json_checksum, sign_issuance_manifest,
};
use rcgen::{
    BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, PKCS_ED25519,
};
use serde_json::{Value, json};

/// The carrier's platform.
pub const CARRIER_PLATFORM: &str = "BOLE";
/// The shipper's platform, which sends the envelope.
pub const SENDER_PLATFORM: &str = "WAVE";
/// This platform.
pub const HERE: &str = "SLKA";
/// 2026-12-04T00:00:00Z.
pub const NOW: i64 = 1_796_342_400;

/// A signing identity: the signer and the certificate(s) to trust it with.
pub struct Identity {
    pub signer: Signer,
    /// What the platform publishes: the leaf (pinned) or the root CA (chained).
    pub trust_der: Vec<u8>,
}

/// A self-signed ECDSA P-256 certificate, pinned by the receiver; the JWS names it by
/// `x5t#S256` only.
pub fn pinned_es256(name: &str) -> Identity {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = CertificateParams::new(vec![format!("{name}.example")])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der = cert.der().to_vec();
    Identity {
        signer: Signer::from_pkcs8(&key.serialize_der(), vec![cert.der().clone()])
            .unwrap()
            .without_x5c(),
        trust_der: der,
    }
}

/// An Ed25519 leaf under a CA (as a Silkline member signs): trusted through `x5c` by the root.
pub fn chained_ed25519(name: &str, leaf_not_after_year: i32) -> Identity {
    let ca_key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} root CA"));
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let mut leaf_params = CertificateParams::new(vec![format!("node.{name}.example")]).unwrap();
    leaf_params.not_after = rcgen::date_time_ymd(leaf_not_after_year, 1, 1);
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    Identity {
        signer: Signer::from_pkcs8(
            &leaf_key.serialize_der(),
            vec![leaf.der().clone(), ca_cert.der().clone()],
        )
        .unwrap(),
        trust_der: ca_cert.der().to_vec(),
    }
}

pub fn party(platform: &str, code: &str, name: &str) -> Party {
    Party {
        party_name: name.into(),
        ebl_platform: platform.into(),
        identifying_codes: vec![IdentifyingCode {
            code_list_provider: platform.into(),
            party_code: code.into(),
            code_list_name: None,
        }],
        tax_legal_references: None,
        represented_party: None,
    }
}

pub fn carrier() -> Party {
    party(CARRIER_PLATFORM, "MSC", "Mediterranean Shipping Company")
}
pub fn shipper() -> Party {
    party(SENDER_PLATFORM, "SHIPPER", "DCSA CTK shipper")
}
pub fn bank() -> Party {
    party(HERE, "BANK", "Bank here")
}

pub fn tx(code: &str, actor: &Party, recipient: Option<&Party>, minute: i64) -> Transaction {
    Transaction {
        action_code: code.into(),
        actor: actor.clone(),
        recipient: recipient.cloned(),
        action_date_time: action_date_time((NOW - 3600 + minute * 60) * 1000),
        reason_code: None,
        comments: None,
        audit_reference: None,
        action: None,
    }
}

/// A DCSA eBL 3.0 transport document that passes the standard's schema (the repository's
/// to-order fixture), as reference `TDREF0001` of carrier `MSC`.
pub fn document() -> Value {
    let mut document: Value =
        serde_json::from_str(include_str!("../../fixtures/documents/to-order-bill.json")).unwrap();
    document["transportDocumentReference"] = json!("TDREF0001");
    document["carrierCode"] = json!("MSC");
    document
}

/// The three platforms and the envelope's pieces.
pub struct World {
    pub carrier: Identity,
    pub sender: Identity,
    pub here: Identity,
    pub trusted: TrustedPlatforms,
    pub document: Value,
    pub issuance_manifest: String,
}

impl Default for World {
    fn default() -> World {
        World::new()
    }
}

impl World {
    pub fn new() -> World {
        let carrier = pinned_es256("bole");
        let sender = pinned_es256("wave");
        let here = chained_ed25519("slka", 4000);
        let trusted = TrustedPlatforms::from_der([
            (CARRIER_PLATFORM, carrier.trust_der.as_slice()),
            (SENDER_PLATFORM, sender.trust_der.as_slice()),
            (HERE, here.trust_der.as_slice()),
        ])
        .unwrap();
        let document = document();
        let issuance_manifest =
            sign_issuance_manifest(&carrier.signer, &document, &shipper(), None).unwrap();
        World {
            carrier,
            sender,
            here,
            trusted,
            document,
            issuance_manifest,
        }
    }

    pub fn document_checksum(&self) -> String {
        json_checksum(&self.document)
    }

    /// Entry 0: the carrier issues to the shipper on WAVE.
    pub fn entry0(&self) -> String {
        self.entry0_with(vec![tx("ISSUE", &carrier(), Some(&shipper()), 0)])
    }

    pub fn entry0_with(&self, transactions: Vec<Transaction>) -> String {
        build_entry(
            &self.carrier.signer,
            CARRIER_PLATFORM,
            &self.document_checksum(),
            None,
            Some(&self.issuance_manifest),
            &transactions,
        )
        .unwrap()
    }

    /// An entry by the sender (WAVE) after `previous`.
    pub fn sender_entry(&self, previous: &str, transactions: Vec<Transaction>) -> String {
        build_entry(
            &self.sender.signer,
            SENDER_PLATFORM,
            &self.document_checksum(),
            Some(previous),
            None,
            &transactions,
        )
        .unwrap()
    }

    /// The usual chain: issue to the shipper, then the shipper transfers to the bank here.
    pub fn chain(&self) -> Vec<String> {
        let e0 = self.entry0();
        let e1 = self.sender_entry(&e0, vec![tx("TRANSFER", &shipper(), Some(&bank()), 5)]);
        vec![e0, e1]
    }

    pub fn envelope(&self, chain: &[String]) -> Vec<u8> {
        build_envelope(&self.sender.signer, &self.document, chain, None, &[]).unwrap()
    }

    pub fn check(&self, envelope: &[u8], known: &[String]) -> Result<CheckedTransfer, Refusal> {
        self.check_with(envelope, known, Leniency::STRICT)
    }

    pub fn check_with(
        &self,
        envelope: &[u8],
        known: &[String],
        leniency: Leniency,
    ) -> Result<CheckedTransfer, Refusal> {
        let ctx = CheckContext {
            trusted: &self.trusted,
            at_unix_s: NOW,
            platform: HERE,
            known_chain: known,
            leniency,
        };
        pint::check_envelope(envelope, &ctx, &hosted)
    }
}

/// This platform hosts BANK (and CARRIER, for surrenders coming home).
pub fn hosted(code: &IdentifyingCode) -> Option<String> {
    match (code.code_list_provider.as_str(), code.party_code.as_str()) {
        (HERE, "BANK") => Some("BANK".into()),
        (HERE, "CARRIER") => Some("CARRIER".into()),
        _ => None,
    }
}

/// The response code a refusal carries, with its rule, for assertions.
pub fn refused(result: Result<CheckedTransfer, Refusal>) -> (String, &'static str) {
    match result {
        Ok(t) => panic!(
            "expected a refusal, got a transfer of {}",
            t.document_reference
        ),
        Err(r) => (
            r.response_code()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_else(|| "400".into()),
            r.rule(),
        ),
    }
}

/// Replaces a JWS payload without re-signing (a change after signing).
pub fn tamper_payload(compact: &str, edit: impl FnOnce(&mut Value)) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = compact.split('.');
    let (h, p, s) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let mut value: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
    edit(&mut value);
    let p2 = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&value).unwrap());
    format!("{h}.{p2}.{s}")
}
