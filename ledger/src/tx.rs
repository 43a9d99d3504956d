//! The transaction a user signs: the JWS payload format, its limits, and its parsing.
//!
//! A transaction is the payload of a JWS compact serialization (`pki::jws`) whose header carries
//! the signer's certificate chain (`x5c`). The payload is RFC 8785 canonical JSON, camelCase:
//!
//! ```json
//! {"command":{"action":"TRANSFER","to":"BANK"},
//!  "document":{"carrier":"CARRIER","reference":"ABC123"},
//!  "network":"silkline-dev","nonce":"3f9a0c1e5b7d2a4c",
//!  "notAfter":1741950000000,"notBefore":1741946400000}
//! ```
//!
//! (shown wrapped; canonical JSON has no whitespace and sorted keys). `command` is a
//! [`doc_workflow::Command`]. A governance transaction, signed by a member's admin, carries
//! `governance` instead of `document` and `command`:
//!
//! ```json
//! {"governance":{"action":"ONBOARD_PARTY","code":"SHIPPER","name":"Shipper Exports Ltd"}, ...}
//! {"governance":{"action":"UPDATE_REVOCATIONS","crl":"<CRL DER, standard base64>"}, ...}
//! {"governance":{"action":"ADD_NODE","raftId":4,"nodeId":"node4","address":"127.0.0.1:7104"}, ...}
//! {"governance":{"action":"PROMOTE_NODE","raftId":4}, ...}
//! {"governance":{"action":"REMOVE_NODE","raftId":1}, ...}
//! {"governance":{"action":"ADD_CA","caCertificatePem":"-----BEGIN CERTIFICATE-----..."}, ...}
//! {"governance":{"action":"RETIRE_CA","fingerprint":"<sha256 of the CA's DER, hex>"}, ...}
//! {"governance":{"action":"PROPOSE","actions":[{"type":"PAUSE"}],"description":"...",
//!                "baseConfigVersion":3,"expiresAt":1741950000000}, ...}
//! {"governance":{"action":"VOTE","proposal":"<proposal id, hex>","approve":true}, ...}
//! {"governance":{"action":"WITHDRAW","proposal":"<proposal id, hex>"}, ...}
//! ```
//!
//! The first seven change only what belongs to the signer's member; `PROPOSE`, `VOTE` and
//! `WITHDRAW` are governance by vote ([`crate::consortium`]).
//!
//! A carrier's `ISSUE` of a bill of lading may carry, beside `command`, `issuanceManifest`: the
//! DCSA PINT issuance manifest of the bill, a compact JWS signed by the same certificate as the
//! transaction (`EdDSA` or `ES256`, the chain in `x5c`). Every replica checks it at apply
//! (`apply::pint::check_issuance_manifest`) and keeps it with the bill: it is what the bill's
//! first PINT chain entry carries when the bill leaves for another platform.
//!
//! `network` binds the signature to one network; `nonce` with the validity window
//! `[notBefore, notAfter]` (milliseconds since the Unix epoch, inclusive) makes a signed
//! transaction usable once, and only for a bounded time.

use serde::{Deserialize, Serialize};

use doc_workflow::{Command, DocumentId, PartyCode};

use crate::Hash32;
use crate::consortium::ProposalAction;

/// Largest signed envelope (the JWS compact form) a node accepts. The largest document payload
/// is a `VOID` with its replacement or an `ISSUE`: one DCSA document of at most
/// `doc_workflow::content::CONTENT_BYTES_MAX` (64 KiB), which base64url grows to about 86 KiB;
/// the header's `x5c` chain adds a few KiB. 128 KiB holds that with room, also holds a CRL of
/// some 3,000 revoked certificates, and keeps a block of 64 transactions under 8 MiB.
pub const ENVELOPE_BYTES_MAX: usize = 128 * 1024;
const _: () = assert!(ENVELOPE_BYTES_MAX <= replication::batch::PAYLOAD_BYTES_MAX);

/// Longest validity window (`notAfter - notBefore`). A nonce must be remembered until its
/// transaction's window has passed, so the window bounds the nonce store: 24 hours covers a
/// client that signs and submits later the same day (or retries across a node restart), and
/// keeps at most a day of nonces.
pub const VALIDITY_WINDOW_MS_MAX: u64 = 24 * 60 * 60 * 1000;

/// Shortest nonce: 16 hex characters are 64 random bits, so that two honest clients of one
/// party colliding within a 24-hour window is negligible.
pub const NONCE_CHARS_MIN: usize = 16;

/// Longest nonce: 64 characters hold 256 bits in hex or 384 bits in base64url; nonces are kept
/// by every replica for a day, so they stay short.
pub const NONCE_CHARS_MAX: usize = 64;

/// Longest network id: a short name such as `silkline-prod-2025`.
pub const NETWORK_ID_CHARS_MAX: usize = 64;

/// Longest party name an `ONBOARD_PARTY` may give: DCSA eBL 3.0 `partyName` maxLength.
pub const PARTY_NAME_CHARS_MAX: usize = 70;

/// A signed transaction's payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    /// The network the signer meant; must equal the genesis `networkId`.
    pub network: String,
    /// Unique per party within the validity window.
    pub nonce: String,
    /// First block time (ms) at which the transaction may commit.
    pub not_before_ms: u64,
    /// Last block time (ms) at which the transaction may commit.
    pub not_after_ms: u64,
    /// What it asks for.
    pub body: TxBody,
}

/// What a transaction asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum TxBody {
    /// A workflow command on one document, for the party the signer's certificate names.
    Document {
        /// The document the command is about.
        document: DocumentId,
        /// The workflow command.
        command: Command,
        /// The carrier's signed PINT issuance manifest (an `ISSUE` only; see the module docs).
        issuance_manifest: Option<String>,
    },
    /// A change to the network's configuration, by a member's admin.
    Governance(Governance),
    /// A bill crossing to or from another eBL platform (DCSA PINT): [`Pint`].
    Pint(Pint),
}

/// Largest PINT envelope an `IMPORT` carries (its JSON, as the receiving node re-serialized
/// it): the transport document (at most `CONTENT_BYTES_MAX`, 64 KiB) and a chain of signed
/// entries, inside the 128 KiB signed transaction once base64url has grown it by a third.
pub const PINT_ENVELOPE_BYTES_MAX: usize = 88 * 1024;

/// Largest signed PINT message (a chain entry, a manifest, a receipt) a `DISPATCH` or
/// `RECEIPT` carries.
pub const PINT_MESSAGE_BYTES_MAX: usize = 32 * 1024;

/// Most supporting documents one `SEND` carries: as many as a receiver takes in one manifest
/// (`pint::check::MANIFEST_DOCUMENTS_MAX`).
pub const PINT_DOCUMENTS_MAX: usize = pint::check::MANIFEST_DOCUMENTS_MAX;

/// Most bytes (decoded) of a `SEND`'s supporting documents together. They ride in the signed
/// transaction, at most [`ENVELOPE_BYTES_MAX`]: base64 in the payload, then base64url of the
/// payload, grow them by 16/9, so 64 KiB take about 114 KiB and leave room for the header's
/// certificate chain, the recipient and the rest.
pub const PINT_DOCUMENTS_BYTES_MAX: usize = 64 * 1024;
const _: () = assert!(PINT_DOCUMENTS_BYTES_MAX * 16 / 9 + 8 * 1024 <= ENVELOPE_BYTES_MAX);

/// Longest name and media type of a supporting document, in characters: a file name and a
/// MIME type, which the manifest lists (a receiver shows them; they need not be long).
pub const PINT_DOCUMENT_LABEL_CHARS_MAX: usize = 100;

/// A supporting document a `SEND` carries to the other platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SupportingDocument {
    /// Its name, as the manifest lists it (a file name).
    pub name: String,
    /// Its media type (`application/pdf`).
    pub media_type: String,
    /// Its bytes, standard base64.
    pub content: String,
}

/// A bill crossing platforms (DCSA PINT). `SEND` is the possessor's (a user or admin of its
/// party); the others are a node's, for its member (`DISPATCH` and `RECEIPT` by a node of the
/// sending party's sponsor). Every node checks every signature they carry again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "action",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Pint {
    /// The possessor hands the bill to a party on another platform. From this block on the
    /// bill is held by that platform: every local action on it is refused
    /// (`HELD_ON_OTHER_PLATFORM`) unless the other platform refuses it.
    Send {
        document: DocumentId,
        /// The receiving platform's code; it must be trusted by vote.
        platform: String,
        /// `TRANSFER`, `ENDORSE` (a to-order bill's endorsee endorses it across), or
        /// `SURRENDER_FOR_DELIVERY` / `SURRENDER_FOR_AMENDMENT` (to the issuing carrier of a
        /// bill that came from another platform).
        action_code: String,
        /// The receiving party as PINT names it (`partyName`, `eblPlatform`,
        /// `identifyingCodes`).
        recipient: serde_json::Value,
        /// Supporting documents that travel with the envelope (PINT additional documents),
        /// their bytes in the transaction so that any node of the sender's member can deliver
        /// them: at most [`PINT_DOCUMENTS_MAX`], [`PINT_DOCUMENTS_BYTES_MAX`] together.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        documents: Vec<SupportingDocument>,
    },
    /// The chain entry and the envelope manifest the sending node delivers (signed by this
    /// network's node), recorded before delivery so every retry sends the same bytes.
    Dispatch {
        document: DocumentId,
        entry: String,
        manifest: String,
    },
    /// The receiving platform's signed answer. `RECE` or `DUPE`: the bill has left. `BENV`,
    /// `BSIG` or `DISE`: it stays with its possessor here.
    Receipt {
        document: DocumentId,
        response: String,
    },
    /// An envelope another platform sent, for a party hosted here: every node verifies it
    /// again (`pint::check_envelope`) before the bill exists here. `documents`: the
    /// checksums of the additional documents the receiving node holds (their bytes stay off
    /// the ledger).
    Import {
        envelope: serde_json::Value,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        documents: Vec<String>,
    },
}

impl Pint {
    pub fn code(&self) -> &'static str {
        match self {
            Pint::Send { .. } => "PINT_SEND",
            Pint::Dispatch { .. } => "PINT_DISPATCH",
            Pint::Receipt { .. } => "PINT_RECEIPT",
            Pint::Import { .. } => "PINT_IMPORT",
        }
    }
}

/// Governance commands: each changes only what belongs to the signer's own member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "action",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Governance {
    /// Replaces the member's current CRL. The CRL must be issued and signed by the member's own
    /// CA and be no older than the one it replaces, so revocations cannot be rolled back.
    UpdateRevocations {
        /// The CRL, DER, standard base64.
        crl: String,
    },
    /// Adds a party the member sponsors (a shipper, consignee, trader, forwarder).
    OnboardParty {
        /// The new party's code; must not exist yet.
        code: PartyCode,
        /// Its legal name, 1 to [`PARTY_NAME_CHARS_MAX`] characters.
        name: String,
    },
    /// Adds a node of the signer's member as a Raft learner: it receives the log (a snapshot
    /// first) but does not vote. The leader turns the committed change into a Raft
    /// `AddLearnerNode` (`Replica`'s membership reconciliation).
    AddNode {
        /// Its Raft id: nonzero, never used before on this network (removed ids stay retired).
        raft_id: u64,
        /// The node id its TLS certificate's profile names; peers pin its certificate to it
        /// and to the signer's member.
        node_id: String,
        /// `host:port` of its Raft transport (a DNS name is resolved at each connection).
        address: String,
    },
    /// Makes a learner of the signer's member a voter (Raft `AddNode`). Promote a learner
    /// once it has caught up (its height equals the others'), or the quorum waits for it.
    PromoteNode {
        /// The learner's Raft id.
        raft_id: u64,
    },
    /// Removes a node of the signer's member (Raft `RemoveNode`); its raft id is retired.
    RemoveNode {
        /// The node's Raft id.
        raft_id: u64,
    },
    /// Adds a root CA certificate to the signer's member (a CA rotation: add the new one,
    /// reissue, then `RETIRE_CA` the old one; both are trusted in between).
    AddCa {
        /// The new root CA certificate, PEM.
        ca_certificate_pem: String,
    },
    /// Stops trusting one of the signer's member's CA certificates; the member keeps at least
    /// one.
    RetireCa {
        /// SHA-256 of the CA certificate's DER, lowercase hex.
        fingerprint: String,
    },
    /// Proposes changes to the consortium's configuration, voted by the members' admins. Its
    /// id is this transaction's hash; it counts as the proposing member's approval.
    Propose {
        actions: Vec<ProposalAction>,
        description: String,
        /// The configuration version the proposal was written against; it cannot be accepted
        /// once the configuration has changed.
        base_config_version: u64,
        /// Block time (ms) after which it can no longer be voted.
        expires_at: u64,
    },
    /// The signer's member's vote on an open proposal; a later vote replaces its earlier one.
    Vote { proposal: Hash32, approve: bool },
    /// Withdraws an open proposal of the signer's member.
    Withdraw { proposal: Hash32 },
}

impl Governance {
    /// The stable action name, as serialized.
    pub fn code(&self) -> &'static str {
        match self {
            Governance::UpdateRevocations { .. } => "UPDATE_REVOCATIONS",
            Governance::OnboardParty { .. } => "ONBOARD_PARTY",
            Governance::AddNode { .. } => "ADD_NODE",
            Governance::PromoteNode { .. } => "PROMOTE_NODE",
            Governance::RemoveNode { .. } => "REMOVE_NODE",
            Governance::AddCa { .. } => "ADD_CA",
            Governance::RetireCa { .. } => "RETIRE_CA",
            Governance::Propose { .. } => "PROPOSE",
            Governance::Vote { .. } => "VOTE",
            Governance::Withdraw { .. } => "WITHDRAW",
        }
    }
}

/// The wire form: every field optional, so that a missing or contradictory field is a precise
/// refusal rather than serde's first complaint.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Wire {
    network: String,
    nonce: String,
    not_before: u64,
    not_after: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    document: Option<DocumentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    command: Option<Command>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    governance: Option<Governance>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pint: Option<Pint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issuance_manifest: Option<String>,
}

/// Why a payload is not a transaction. Deterministic: it depends on the bytes only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxFormatError {
    /// Not JSON, or not of the transaction's shape.
    #[error("the payload is not a transaction: {0}")]
    Json(String),
    /// Neither (`document` and `command`) nor `governance`, or both.
    #[error(
        "a transaction carries either `document` with `command` (and an ISSUE's `issuanceManifest`), or `governance`, or `pint`, and nothing else"
    )]
    Shape,
}

impl Transaction {
    /// Parses a (verified) JWS payload.
    pub fn from_payload(payload: &[u8]) -> Result<Transaction, TxFormatError> {
        let wire: Wire =
            serde_json::from_slice(payload).map_err(|e| TxFormatError::Json(e.to_string()))?;
        let body = match (
            wire.document,
            wire.command,
            wire.governance,
            wire.pint,
            wire.issuance_manifest,
        ) {
            (Some(document), Some(command), None, None, issuance_manifest) => TxBody::Document {
                document,
                command,
                issuance_manifest,
            },
            (None, None, Some(governance), None, None) => TxBody::Governance(governance),
            (None, None, None, Some(pint), None) => TxBody::Pint(pint),
            _ => return Err(TxFormatError::Shape),
        };
        Ok(Transaction {
            network: wire.network,
            nonce: wire.nonce,
            not_before_ms: wire.not_before,
            not_after_ms: wire.not_after,
            body,
        })
    }

    /// The RFC 8785 canonical JSON a client signs (the JWS payload).
    pub fn to_canonical_json(&self) -> String {
        let (document, command, governance, pint, issuance_manifest) = match &self.body {
            TxBody::Document {
                document,
                command,
                issuance_manifest,
            } => (
                Some(document.clone()),
                Some(command.clone()),
                None,
                None,
                issuance_manifest.clone(),
            ),
            TxBody::Governance(g) => (None, None, Some(g.clone()), None, None),
            TxBody::Pint(p) => (None, None, None, Some(p.clone()), None),
        };
        let wire = Wire {
            network: self.network.clone(),
            nonce: self.nonce.clone(),
            not_before: self.not_before_ms,
            not_after: self.not_after_ms,
            document,
            command,
            governance,
            pint,
            issuance_manifest,
        };
        canonical_json::to_string_of(&wire).expect("a transaction serializes to JSON")
    }

    /// The action name: the workflow action's or the governance command's.
    pub fn action_code(&self) -> &'static str {
        match &self.body {
            TxBody::Document { command, .. } => command.action().code(),
            TxBody::Governance(g) => g.code(),
            TxBody::Pint(p) => p.code(),
        }
    }
}

/// Whether `nonce` has an acceptable length and alphabet: hex and base64url characters only, so
/// that it is printable and never needs escaping in a storage key.
pub fn nonce_is_well_formed(nonce: &str) -> bool {
    (NONCE_CHARS_MIN..=NONCE_CHARS_MAX).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_transaction_round_trips_canonically() {
        let json = r#"{"command":{"action":"TRANSFER","to":"BANK"},"document":{"carrier":"CARRIER","reference":"ABC123"},"network":"silkline-dev","nonce":"00112233445566778899aabb","notAfter":2000,"notBefore":1000}"#;
        let tx = Transaction::from_payload(json.as_bytes()).unwrap();
        assert_eq!(tx.action_code(), "TRANSFER");
        assert_eq!(tx.to_canonical_json(), json);
    }

    #[test]
    fn governance_transaction_parses() {
        let json = r#"{"governance":{"action":"ONBOARD_PARTY","code":"SHIPPER","name":"Shipper Exports Ltd"},"network":"n","nonce":"00112233445566778899aabb","notAfter":2000,"notBefore":1000}"#;
        let tx = Transaction::from_payload(json.as_bytes()).unwrap();
        assert_eq!(tx.action_code(), "ONBOARD_PARTY");
        assert_eq!(tx.to_canonical_json(), json);
    }

    #[test]
    fn membership_transactions_parse() {
        let json = r#"{"governance":{"action":"ADD_NODE","address":"127.0.0.1:7104","nodeId":"node4","raftId":4},"network":"n","nonce":"00112233445566778899aabb","notAfter":2000,"notBefore":1000}"#;
        let tx = Transaction::from_payload(json.as_bytes()).unwrap();
        assert_eq!(tx.action_code(), "ADD_NODE");
        assert_eq!(tx.to_canonical_json(), json);
        let json = r#"{"governance":{"action":"REMOVE_NODE","raftId":1},"network":"n","nonce":"00112233445566778899aabb","notAfter":2000,"notBefore":1000}"#;
        let tx = Transaction::from_payload(json.as_bytes()).unwrap();
        assert_eq!(
            tx.body,
            TxBody::Governance(Governance::RemoveNode { raft_id: 1 })
        );
    }

    #[test]
    fn shape_is_enforced() {
        let both = r#"{"command":{"action":"SIGN"},"document":{"carrier":"C","reference":"R"},"governance":{"action":"ONBOARD_PARTY","code":"X","name":"X"},"network":"n","nonce":"0011223344556677","notAfter":2,"notBefore":1}"#;
        assert_eq!(
            Transaction::from_payload(both.as_bytes()),
            Err(TxFormatError::Shape)
        );
        let extra =
            r#"{"extra":1,"network":"n","nonce":"0011223344556677","notAfter":2,"notBefore":1}"#;
        assert!(matches!(
            Transaction::from_payload(extra.as_bytes()),
            Err(TxFormatError::Json(_))
        ));
    }

    #[test]
    fn only_a_document_command_carries_an_issuance_manifest() {
        let issue = r#"{"command":{"action":"ISSUE","issueTo":"SHIPPER"},"document":{"carrier":"C","reference":"R"},"issuanceManifest":"h.p.s","network":"n","nonce":"0011223344556677","notAfter":2,"notBefore":1}"#;
        let tx = Transaction::from_payload(issue.as_bytes()).unwrap();
        assert!(matches!(
            &tx.body,
            TxBody::Document { issuance_manifest: Some(m), .. } if m == "h.p.s"
        ));
        assert_eq!(tx.to_canonical_json(), issue);
        let governance = r#"{"governance":{"action":"ONBOARD_PARTY","code":"X","name":"X"},"issuanceManifest":"h.p.s","network":"n","nonce":"0011223344556677","notAfter":2,"notBefore":1}"#;
        assert_eq!(
            Transaction::from_payload(governance.as_bytes()),
            Err(TxFormatError::Shape)
        );
    }

    #[test]
    fn nonces_are_checked() {
        assert!(nonce_is_well_formed("0011223344556677"));
        assert!(nonce_is_well_formed("AbC-_0123456789xyz"));
        assert!(!nonce_is_well_formed("short"));
        assert!(!nonce_is_well_formed(&"a".repeat(65)));
        assert!(!nonce_is_well_formed("0011223344556677/"));
    }
}
