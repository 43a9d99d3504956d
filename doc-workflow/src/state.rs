//! What the ledger stores per document, and its canonical hash.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::command::AmendmentReason;
use crate::content::ContentRecord;
use crate::ids::{BlockTime, DocumentId, DocumentKey, DocumentRef, PartyCode};
pub use crate::release::CargoReleaseDetails;

/// What a document is; each kind has its own workflow definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DocumentKind {
    /// A document of title (DCSA `BOL`).
    BillOfLading,
    /// Not a document of title (DCSA `SWB`).
    SeaWaybill,
    /// A delivery order from the carrier to a port or terminal.
    CargoRelease,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 3] = [
        DocumentKind::BillOfLading,
        DocumentKind::SeaWaybill,
        DocumentKind::CargoRelease,
    ];

    pub fn code(self) -> &'static str {
        match self {
            DocumentKind::BillOfLading => "BILL_OF_LADING",
            DocumentKind::SeaWaybill => "SEA_WAYBILL",
            DocumentKind::CargoRelease => "CARGO_RELEASE",
        }
    }

    pub fn from_code(code: &str) -> Option<DocumentKind> {
        DocumentKind::ALL.into_iter().find(|k| k.code() == code)
    }
}

impl fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The closed vocabulary of document states; a definition declares which ones it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Draft,
    Approved,
    Issued,
    PendingSurrenderForDelivery,
    SurrenderedForDelivery,
    PendingSurrenderForAmendment,
    SurrenderedForAmendment,
    Voided,
    /// A cargo release waiting for its containers to gate out.
    Released,
    /// Every container of a cargo release has gated out.
    Completed,
}

impl Status {
    pub const ALL: [Status; 10] = [
        Status::Draft,
        Status::Approved,
        Status::Issued,
        Status::PendingSurrenderForDelivery,
        Status::SurrenderedForDelivery,
        Status::PendingSurrenderForAmendment,
        Status::SurrenderedForAmendment,
        Status::Voided,
        Status::Released,
        Status::Completed,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Status::Draft => "DRAFT",
            Status::Approved => "APPROVED",
            Status::Issued => "ISSUED",
            Status::PendingSurrenderForDelivery => "PENDING_SURRENDER_FOR_DELIVERY",
            Status::SurrenderedForDelivery => "SURRENDERED_FOR_DELIVERY",
            Status::PendingSurrenderForAmendment => "PENDING_SURRENDER_FOR_AMENDMENT",
            Status::SurrenderedForAmendment => "SURRENDERED_FOR_AMENDMENT",
            Status::Voided => "VOIDED",
            Status::Released => "RELEASED",
            Status::Completed => "COMPLETED",
        }
    }

    pub fn from_code(code: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.code() == code)
    }

    /// Whether a transport document in this status has been issued and so has a possessor.
    pub fn is_issued_or_later(self) -> bool {
        !matches!(self, Status::Draft | Status::Approved)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// How title passes (DOMAIN.md section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Mode {
    /// Only the named consignee can take delivery.
    Straight,
    /// The named endorsee holds title.
    ToOrder,
    /// Whoever possesses the bill holds title.
    Blank,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Straight => "STRAIGHT",
            Mode::ToOrder => "TO_ORDER",
            Mode::Blank => "BLANK",
        })
    }
}

/// The holders a transfer or endorsement replaced, kept so the appointee may reject it. Present
/// only until the next committed action on the document: the engine clears it first thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingTransfer {
    /// The party just appointed; only it may reject, and only as its very next action.
    pub appointee: PartyCode,
    pub previous_possessor: Option<PartyCode>,
    pub previous_endorsee: Option<PartyCode>,
    pub previous_mode: Option<Mode>,
    pub previous_endorsee_may_endorse: bool,
}

/// A surrender asked for and not yet answered (or accepted, kept for the record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SurrenderRequest {
    /// Who surrendered; possession returns to it if the carrier rejects.
    pub requester: PartyCode,
    /// `None` for delivery, the reason for an amendment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amendment_reason: Option<AmendmentReason>,
}

/// A `SIGN` on the record. The cryptographic signature is the ledger's transaction signature;
/// this says who signed at which point in the document's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureRecord {
    pub party: PartyCode,
    pub at: BlockTime,
    /// The document's sequence number that this signature created.
    pub sequence: u64,
}

/// One document's state. Every field that can be absent is an `Option`, so "exactly one
/// possessor" is a property of the type: there is one `possessor` slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentState {
    pub kind: DocumentKind,
    pub id: DocumentId,
    pub status: Status,
    /// `None` for a cargo release, which carries no title.
    pub mode: Option<Mode>,
    /// The issuing carrier (the id's carrier).
    pub carrier: PartyCode,
    pub shipper: Option<PartyCode>,
    pub consignee: Option<PartyCode>,
    /// The one party in control of the document (MLETR exclusive control).
    pub possessor: Option<PartyCode>,
    /// The title holder of a to-order bill.
    pub endorsee: Option<PartyCode>,
    /// Whether the endorsee may endorse again (false after `ENDORSE`, true after
    /// `ENDORSE_TO_ORDER` and at issue).
    pub endorsee_may_endorse: bool,
    pub pending_transfer: Option<PendingTransfer>,
    pub surrender: Option<SurrenderRequest>,
    /// The DCSA content; `None` for a cargo release.
    pub content: Option<ContentRecord>,
    /// The reference of the voided bill this one replaces.
    pub amends: Option<DocumentRef>,
    /// The reference of the bill that replaced this voided one.
    pub amended_by: Option<DocumentRef>,
    pub release: Option<CargoReleaseDetails>,
    pub signatures: Vec<SignatureRecord>,
    /// How many committed actions the document has seen; the first is 1.
    pub sequence: u64,
    pub created_at: BlockTime,
    pub updated_at: BlockTime,
}

/// A SHA-256 digest of state, shown as lowercase hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct StateHash(pub [u8; 32]);

impl From<StateHash> for String {
    fn from(h: StateHash) -> String {
        hex::encode(h.0)
    }
}

impl TryFrom<String> for StateHash {
    type Error = hex::FromHexError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out)?;
        Ok(StateHash(out))
    }
}

impl fmt::Display for StateHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl DocumentState {
    /// SHA-256 of the RFC 8785 (JCS) canonical JSON of this state's serde form (camelCase field
    /// names, absent options as `null`, enums as their SCREAMING_SNAKE codes, integers exact).
    /// JCS sorts object keys and fixes number and string encoding, so every replica and every
    /// implementation that follows RFC 8785 gets the same bytes.
    pub fn state_hash(&self) -> StateHash {
        StateHash(Sha256::digest(self.canonical_json().as_bytes()).into())
    }

    /// The bytes [`state_hash`](Self::state_hash) hashes.
    pub fn canonical_json(&self) -> String {
        canonical_json::to_string_of(self).expect("document state serializes to JSON")
    }
}

/// Folds documents' hashes into one, for the ledger's state root: SHA-256 over the ASCII tag
/// `silkline-documents-v1`, then, for each entry in key order, the key's display form
/// (`CLASS/carrier/reference`) as UTF-8 prefixed by its length as a 4-byte big-endian integer,
/// followed by the 32 hash bytes. The map fixes the order; the length prefix keeps the encoding
/// unambiguous; the tag keeps it from colliding with any other hash Silkline computes.
pub fn fold_state_hashes(hashes: &BTreeMap<DocumentKey, StateHash>) -> StateHash {
    let mut hasher = Sha256::new();
    hasher.update(b"silkline-documents-v1");
    for (key, hash) in hashes {
        let key = key.to_string();
        let len = u32::try_from(key.len()).expect("keys are short");
        hasher.update(len.to_be_bytes());
        hasher.update(key.as_bytes());
        hasher.update(hash.0);
    }
    StateHash(hasher.finalize().into())
}
