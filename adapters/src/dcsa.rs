//! DCSA eBL 3.0 JSON in and out.
//!
//! - [`checksum`]: the document checksum DCSA's PINT API uses, SHA-256 over the RFC 8785
//!   canonical JSON of the transport document. For stored content it equals
//!   [`ContentRecord::sha256`](doc_workflow::ContentRecord), because the ledger hashes the same
//!   canonical text.
//! - Import ([`parse_transport_document`], [`parse_issuance_request`]): bytes from a carrier's
//!   system become content the workflow accepts, or the full list of problems, each with its JSON
//!   pointer. The rules are the workflow's own ([`doc_workflow::content::validate`]: the DCSA
//!   standard's schema plus Silkline's rules), the very ones every node applies, so an import
//!   that passes here is not refused for its content on the ledger; this module adds only the
//!   raw-byte and syntax checks and the issuance request's `issueTo` party. Warnings (a container
//!   number whose ISO 6346 check digit is wrong) come back in [`ValidContent::warnings`].
//! - Export ([`export`]): a document and its history as the transport document plus DCSA's
//!   endorsement chain (`GET /endorsement-chains/{transportDocumentReference}`), each link
//!   carrying the block height and transaction hash that prove it. [`ChainAction`] holds the one
//!   table of which ledger action is which code in the endorsement chain and in PINT.

use std::collections::BTreeMap;

use doc_workflow::content::{self, SILKLINE_CODE_LIST_PROVIDER, Stage};
use doc_workflow::{
    AmendmentReason, Command, ContentProblem, DocumentId, DocumentKey, DocumentKind, DocumentRef,
    DocumentState, EventKind, PartyCode, ValidContent,
};
use ledger::HistoryEntry;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::time::iso8601_utc;

/// Largest import accepted, in raw bytes. The canonical content may be at most
/// [`content::CONTENT_BYTES_MAX`] (64 KiB); pretty-printed JSON with indentation is typically two
/// to three times its canonical size, so four times leaves room without reading unbounded input.
pub const IMPORT_BYTES_MAX: usize = 4 * content::CONTENT_BYTES_MAX;

/// The `eblPlatform` Silkline writes into exported actor and recipient parties. DCSA's schema
/// asks for a platform code of at most 4 characters from its list of registered platforms;
/// Silkline is not on that list, so this is a private code, not a DCSA-registered one.
pub const EBL_PLATFORM: &str = "SLKN";

/// Action codes an exported chain may carry that no DCSA API defines. DCSA lets each
/// platform's rulebook add its own; Silkline records every committed action, so a rejected
/// transfer and the voiding of a surrendered bill appear in the chain rather than leaving gaps in
/// who held the bill.
pub const SILKLINE_ACTION_CODES: [&str; 2] = ["REJECT_TRANSFER", "VOID"];

/// Why a document could not be exported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// Cargo releases carry no DCSA content.
    #[error("document {document} has no transport document content to export")]
    NoContent { document: DocumentKey },
    /// A history entry that belongs to another document was passed in.
    #[error("history entry {sequence} belongs to {found}, not to {document}")]
    ForeignEntry {
        document: DocumentKey,
        found: DocumentKey,
        sequence: u64,
    },
    /// History entries must come in increasing sequence order, as the ledger returns them.
    #[error("history of {document} is out of order: sequence {sequence} follows {previous}")]
    OutOfOrder {
        document: DocumentKey,
        previous: u64,
        sequence: u64,
    },
}

/// SHA-256, lowercase hex, over the RFC 8785 canonical JSON of `content`.
pub fn checksum(content: &Value) -> String {
    hex::encode(Sha256::digest(canonical_json::to_vec(content)))
}

// ---------------------------------------------------------------------------------------------
// Import
// ---------------------------------------------------------------------------------------------

/// A validated DCSA issuance request: what the carrier's `ISSUE` transaction will carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Issuance {
    /// The document's identity: the carrier and the content's `transportDocumentReference`.
    pub id: DocumentId,
    /// The transport document exactly as submitted; the command carries this, not a re-encoding.
    pub document: Value,
    /// The workflow's typed view and the canonical record, as validation produced them.
    pub content: ValidContent,
    /// The party that becomes the first possessor (`issueTo`'s SILKLINE code).
    pub issue_to: PartyCode,
}

impl Issuance {
    /// The workflow command a carrier signs to issue this document.
    pub fn command(&self) -> Command {
        Command::Issue {
            content: Some(self.document.clone()),
            issue_to: self.issue_to.clone(),
        }
    }
}

/// Parses and validates a bare DCSA 3.0 transport document for `carrier`, to be stored at
/// `stage` (its `transportDocumentStatus` must say so: `ISSUED` to issue, `DRAFT` for a draft).
/// Every problem is listed with its JSON pointer; the list is empty only on success.
pub fn parse_transport_document(
    bytes: &[u8],
    carrier: &PartyCode,
    stage: Stage,
) -> Result<(Value, ValidContent), Vec<ContentProblem>> {
    let document = parse_json(bytes)?;
    let valid = validate_document(&document, carrier, None, stage, "")?;
    Ok((document, valid))
}

/// As [`parse_transport_document`], for the document `id` names: its
/// `transportDocumentReference` must be `id`'s reference too, as the ledger requires of a draft
/// or an issue. What a client checks before it signs an `ISSUE` or `PUBLISH_DRAFT` for `id`.
pub fn parse_transport_document_for(
    bytes: &[u8],
    id: &DocumentId,
    stage: Stage,
) -> Result<(Value, ValidContent), Vec<ContentProblem>> {
    let document = parse_json(bytes)?;
    let valid = validate_document(&document, &id.carrier, Some(&id.reference), stage, "")?;
    Ok((document, valid))
}

/// Parses and validates a DCSA 3.0 issuance request, `{"document": {...}, "issueTo": {...}}`,
/// for `carrier`. Problems inside the document are reported under `/document`; the document is
/// issued, so its `transportDocumentStatus` must say `ISSUED`.
pub fn parse_issuance_request(
    bytes: &[u8],
    carrier: &PartyCode,
) -> Result<Issuance, Vec<ContentProblem>> {
    let request = parse_json(bytes)?;
    let Some(root) = request.as_object() else {
        return Err(vec![problem(
            "",
            "an issuance request must be a JSON object",
        )]);
    };
    let mut problems = Vec::new();
    let issue_to = issue_to_party(root.get("issueTo"), &mut problems);
    let document = root.get("document");
    let valid = match document {
        None | Some(Value::Null) => {
            problems.push(problem("/document", "is required"));
            None
        }
        Some(document) => {
            match validate_document(document, carrier, None, Stage::Issued, "/document") {
                Ok(valid) => Some(valid),
                Err(found) => {
                    problems.extend(found);
                    None
                }
            }
        }
    };
    match (valid, issue_to, document) {
        (Some(content), Some(issue_to), Some(document)) if problems.is_empty() => Ok(Issuance {
            id: DocumentId::new(carrier.clone(), content.document.reference.clone()),
            document: document.clone(),
            content,
            issue_to,
        }),
        _ => Err(cap(problems)),
    }
}

fn problem(path: impl Into<String>, message: impl Into<String>) -> ContentProblem {
    ContentProblem {
        path: path.into(),
        message: message.into(),
    }
}

/// Keeps a merged list within the workflow's bound, saying when it was cut.
fn cap(mut problems: Vec<ContentProblem>) -> Vec<ContentProblem> {
    if problems.len() > content::PROBLEMS_MAX {
        problems.truncate(content::PROBLEMS_MAX - 1);
        problems.push(problem(
            "",
            format!(
                "more problems were found; only the first {} are listed",
                content::PROBLEMS_MAX - 1
            ),
        ));
    }
    problems
}

fn parse_json(bytes: &[u8]) -> Result<Value, Vec<ContentProblem>> {
    if bytes.len() > IMPORT_BYTES_MAX {
        return Err(vec![problem(
            "",
            format!(
                "the import is {} bytes; at most {IMPORT_BYTES_MAX} are accepted",
                bytes.len()
            ),
        )]);
    }
    serde_json::from_slice(bytes).map_err(|e| {
        vec![problem(
            "",
            format!("not JSON at line {}, column {}: {e}", e.line(), e.column()),
        )]
    })
}

/// The workflow's validation (for `reference` when given), its problems under `prefix`.
fn validate_document(
    document: &Value,
    carrier: &PartyCode,
    reference: Option<&DocumentRef>,
    stage: Stage,
    prefix: &str,
) -> Result<ValidContent, Vec<ContentProblem>> {
    content::validate(document, carrier, reference, stage).map_err(|p| cap(prefixed(p, prefix)))
}

fn prefixed(problems: Vec<ContentProblem>, prefix: &str) -> Vec<ContentProblem> {
    problems
        .into_iter()
        .map(|p| ContentProblem {
            path: format!("{prefix}{}", p.path),
            message: p.message,
        })
        .collect()
}

/// `issueTo`: a DCSA party with a name, an eBL platform and exactly one SILKLINE identifying code.
fn issue_to_party(value: Option<&Value>, problems: &mut Vec<ContentProblem>) -> Option<PartyCode> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        problems.push(problem("/issueTo", "is required"));
        return None;
    };
    let Some(party) = value.as_object() else {
        problems.push(problem("/issueTo", "must be an object"));
        return None;
    };
    match party.get("partyName") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 70 => {}
        _ => problems.push(problem(
            "/issueTo/partyName",
            "is required: a non-blank string of at most 70 characters",
        )),
    }
    if let Some(platform) = party.get("eblPlatform")
        && !platform
            .as_str()
            .is_some_and(|s| (1..=4).contains(&s.len()) && !s.contains(char::is_whitespace))
    {
        problems.push(problem(
            "/issueTo/eblPlatform",
            "must be a platform code of 1 to 4 characters",
        ));
    }
    let codes = match party.get("identifyingCodes") {
        Some(Value::Array(codes)) => codes.as_slice(),
        Some(_) => {
            problems.push(problem("/issueTo/identifyingCodes", "must be an array"));
            return None;
        }
        None => &[],
    };
    let mut found = Vec::new();
    for (i, code) in codes.iter().enumerate() {
        let provider = code.get("codeListProvider").and_then(Value::as_str);
        let value = code.get("partyCode").and_then(Value::as_str);
        match (provider, value) {
            (Some(SILKLINE_CODE_LIST_PROVIDER), Some(value)) => match PartyCode::new(value) {
                Ok(code) => found.push(code),
                Err(e) => problems.push(problem(
                    format!("/issueTo/identifyingCodes/{i}/partyCode"),
                    e.to_string(),
                )),
            },
            (Some(_), Some(_)) => {}
            _ => problems.push(problem(
                format!("/issueTo/identifyingCodes/{i}"),
                "needs codeListProvider and partyCode strings",
            )),
        }
    }
    if found.len() != 1 {
        problems.push(problem(
            "/issueTo/identifyingCodes",
            format!(
                "needs exactly one identifying code with codeListProvider {SILKLINE_CODE_LIST_PROVIDER} naming the first possessor; {} found",
                found.len()
            ),
        ));
        return None;
    }
    found.pop()
}

// ---------------------------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------------------------

/// Party names for exported parties, by party code. Names printed on the document win: the
/// export shows each party as the bill names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartyNames(BTreeMap<PartyCode, String>);

impl PartyNames {
    /// The names the DCSA content gives to every party with a SILKLINE identifying code.
    pub fn from_content(content: &Value) -> PartyNames {
        let mut names = PartyNames::default();
        if let Some(Value::Object(parties)) = content.get("documentParties") {
            for party in parties.values() {
                match party {
                    Value::Array(list) => list.iter().for_each(|p| names.add_dcsa_party(p)),
                    other => names.add_dcsa_party(other),
                }
            }
        }
        names
    }

    /// Adds `name` for `code` unless a name is already known.
    pub fn insert(&mut self, code: PartyCode, name: impl Into<String>) {
        self.0.entry(code).or_insert_with(|| name.into());
    }

    /// Adds every name of `other` whose code has none yet.
    pub fn extend(&mut self, other: &PartyNames) {
        for (code, name) in &other.0 {
            self.insert(code.clone(), name.clone());
        }
    }

    /// The name for `code`, or the code itself when no name is known.
    pub fn name<'a>(&'a self, code: &'a PartyCode) -> &'a str {
        self.0.get(code).map_or(code.as_str(), String::as_str)
    }

    fn add_dcsa_party(&mut self, party: &Value) {
        let Some(name) = party.get("partyName").and_then(Value::as_str) else {
            return;
        };
        let Some(Value::Array(codes)) = party.get("identifyingCodes") else {
            return;
        };
        for code in codes {
            if code.get("codeListProvider").and_then(Value::as_str)
                == Some(SILKLINE_CODE_LIST_PROVIDER)
                && let Some(Ok(code)) = code
                    .get("partyCode")
                    .and_then(Value::as_str)
                    .map(PartyCode::new)
            {
                self.insert(code, name);
            }
        }
    }
}

/// What one link of a bill's chain records, in Silkline's terms. DCSA names the same actions in
/// two vocabularies that differ only for the carrier's answer to a surrender; each action's code
/// in both is fixed here, in one place:
///
/// | ledger event                        | [`ChainAction`]         | endorsement chain (`actionCode`) | PINT 3.0 transaction |
/// |-------------------------------------|-------------------------|----------------------------------|----------------------|
/// | `ISSUED`                            | `Issue`                 | `ISSUE`                          | `ISSUE`              |
/// | `TRANSFERRED`                       | `Transfer`              | `TRANSFER`                       | `TRANSFER`           |
/// | `ENDORSED` (may not endorse further)| `Endorse`               | `ENDORSE`                        | `ENDORSE`            |
/// | `ENDORSED` (may endorse further)    | `EndorseToOrder`        | `ENDORSE_TO_ORDER`               | `ENDORSE_TO_ORDER`   |
/// | `BLANK_ENDORSED`                    | `BlankEndorse`          | `BLANK_ENDORSE`                  | `BLANK_ENDORSE`      |
/// | `SIGNED`                            | `Sign`                  | `SIGN`                           | `SIGN`               |
/// | `SURRENDERED_FOR_DELIVERY`          | `SurrenderForDelivery`  | `SURRENDER_FOR_DELIVERY`         | `SURRENDER_FOR_DELIVERY` |
/// | `SURRENDERED_FOR_AMENDMENT`         | `SurrenderForAmendment` | `SURRENDER_FOR_AMENDMENT`        | `SURRENDER_FOR_AMENDMENT` |
/// | `SURRENDER_ACCEPTED`                | `SurrenderAccepted`     | `SURRENDERED`                    | `SACC`               |
/// | `SURRENDER_REJECTED`                | `SurrenderRejected`     | `SREJ`                           | `SREJ`               |
/// | `TRANSFER_REJECTED`                 | `TransferRejected`      | `REJECT_TRANSFER` (Silkline's)   | none                 |
/// | `VOIDED`                            | `Void`                  | `VOID` (Silkline's)              | none                 |
///
/// The endorsement-chain column is the eBL 3.0 Endorsement Chain API's `actionCode` list
/// (`GET /endorsement-chains/{transportDocumentReference}`, EBL_END 3.0.4), whose shape
/// [`export`] writes: it calls an accepted surrender `SURRENDERED` and has no code for a rejected
/// one, so a rejection carries `SREJ`, the code both DCSA APIs that name it (PINT's transaction
/// and the eBL Surrender API's answer) give it, rather than a code of Silkline's own. The PINT
/// column is PINT 3.0's `Transaction.actionCode`; each exported link carries it as
/// `pintActionCode`. PINT has no transaction for a rejected transfer (a platform refuses the
/// envelope instead) nor for voiding (nothing may follow `SACC`), so those links carry none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChainAction {
    Issue,
    Transfer,
    Endorse,
    EndorseToOrder,
    BlankEndorse,
    Sign,
    SurrenderForDelivery,
    SurrenderForAmendment,
    SurrenderAccepted,
    SurrenderRejected,
    TransferRejected,
    Void,
}

impl ChainAction {
    /// Every action, in the table's order.
    pub const ALL: [ChainAction; 12] = [
        ChainAction::Issue,
        ChainAction::Transfer,
        ChainAction::Endorse,
        ChainAction::EndorseToOrder,
        ChainAction::BlankEndorse,
        ChainAction::Sign,
        ChainAction::SurrenderForDelivery,
        ChainAction::SurrenderForAmendment,
        ChainAction::SurrenderAccepted,
        ChainAction::SurrenderRejected,
        ChainAction::TransferRejected,
        ChainAction::Void,
    ];

    /// The `actionCode` of DCSA's endorsement chain (eBL 3.0 Endorsement Chain API), or one of
    /// [`SILKLINE_ACTION_CODES`] where no DCSA API names the action.
    pub fn endorsement_chain_code(self) -> &'static str {
        match self {
            ChainAction::Issue => "ISSUE",
            ChainAction::Transfer => "TRANSFER",
            ChainAction::Endorse => "ENDORSE",
            ChainAction::EndorseToOrder => "ENDORSE_TO_ORDER",
            ChainAction::BlankEndorse => "BLANK_ENDORSE",
            ChainAction::Sign => "SIGN",
            ChainAction::SurrenderForDelivery => "SURRENDER_FOR_DELIVERY",
            ChainAction::SurrenderForAmendment => "SURRENDER_FOR_AMENDMENT",
            ChainAction::SurrenderAccepted => "SURRENDERED",
            ChainAction::SurrenderRejected => "SREJ",
            ChainAction::TransferRejected => "REJECT_TRANSFER",
            ChainAction::Void => "VOID",
        }
    }

    /// PINT 3.0's `Transaction.actionCode` for the action, if PINT has one.
    pub fn pint_code(self) -> Option<&'static str> {
        Some(match self {
            ChainAction::Issue => "ISSUE",
            ChainAction::Transfer => "TRANSFER",
            ChainAction::Endorse => "ENDORSE",
            ChainAction::EndorseToOrder => "ENDORSE_TO_ORDER",
            ChainAction::BlankEndorse => "BLANK_ENDORSE",
            ChainAction::Sign => "SIGN",
            ChainAction::SurrenderForDelivery => "SURRENDER_FOR_DELIVERY",
            ChainAction::SurrenderForAmendment => "SURRENDER_FOR_AMENDMENT",
            ChainAction::SurrenderAccepted => "SACC",
            ChainAction::SurrenderRejected => "SREJ",
            ChainAction::TransferRejected | ChainAction::Void => return None,
        })
    }
}

/// One entry of the endorsement chain, in Silkline's terms: the action, the parties and the
/// ledger coordinates that prove it. [`export`] turns these into DCSA JSON; the PDF prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLink {
    pub action: ChainAction,
    /// `action`'s endorsement-chain code ([`ChainAction::endorsement_chain_code`]), the code a
    /// printed chain shows.
    pub action_code: &'static str,
    pub actor: PartyCode,
    pub recipient: Option<PartyCode>,
    pub time_ms: u64,
    pub height: u64,
    pub position: u32,
    pub sequence: u64,
    pub tx_hash: String,
    pub signer_fingerprint: String,
    /// DCSA's surrender-for-amendment reason code (`SWTP`, `COD`, `SWI`).
    pub reason_code: Option<&'static str>,
    /// A rejection's comment or reason.
    pub comment: Option<String>,
}

/// DCSA's reason code for a surrender for amendment (PINT `reasonCode`).
pub fn reason_code(reason: AmendmentReason) -> &'static str {
    match reason {
        AmendmentReason::SwitchToPaper => "SWTP",
        AmendmentReason::ChangeOfDestination => "COD",
        AmendmentReason::SwitchBill => "SWI",
    }
}

/// The chain links of `history`, oldest first, after checking that every entry belongs to `key`
/// and that sequences increase. Events before issue (draft publication and approval) are not part
/// of a title chain and are left out.
pub fn chain_links(
    key: &DocumentKey,
    carrier: &PartyCode,
    history: &[HistoryEntry],
) -> Result<Vec<ChainLink>, ExportError> {
    let mut links = Vec::with_capacity(history.len());
    let mut previous = 0;
    for entry in history {
        if entry.event.document != *key {
            return Err(ExportError::ForeignEntry {
                document: key.clone(),
                found: entry.event.document.clone(),
                sequence: entry.sequence,
            });
        }
        if entry.sequence <= previous {
            return Err(ExportError::OutOfOrder {
                document: key.clone(),
                previous,
                sequence: entry.sequence,
            });
        }
        previous = entry.sequence;
        let actor = entry.event.actor.clone();
        let (action, recipient, reason_code, comment) = match &entry.event.kind {
            EventKind::DraftPublished { .. } | EventKind::DraftApproved => continue,
            // Cargo-release events live on the release's own record; they name no title holder.
            EventKind::CargoReleased { .. }
            | EventKind::HaulierNominated { .. }
            | EventKind::TruckNominated { .. }
            | EventKind::ConditionMet { .. }
            | EventKind::ReleaseRevoked { .. }
            | EventKind::GatedOut { .. } => continue,
            // A bill's moves between platforms are in its PINT transfer chain (`pint`), whose
            // entries carry the transactions of every platform it passed through.
            EventKind::ReceivedFromPlatform { .. }
            | EventKind::SentToPlatform { .. }
            | EventKind::ReturnedByPlatform { .. } => continue,
            EventKind::Issued { possessor, .. } => {
                (ChainAction::Issue, Some(possessor.clone()), None, None)
            }
            EventKind::Transferred { to, .. } => {
                (ChainAction::Transfer, Some(to.clone()), None, None)
            }
            EventKind::Endorsed {
                to,
                may_endorse_further,
                ..
            } => (
                if *may_endorse_further {
                    ChainAction::EndorseToOrder
                } else {
                    ChainAction::Endorse
                },
                Some(to.clone()),
                None,
                None,
            ),
            EventKind::BlankEndorsed => (ChainAction::BlankEndorse, None, None, None),
            EventKind::Signed => (ChainAction::Sign, None, None, None),
            EventKind::TransferRejected {
                restored_possessor,
                reason,
            } => (
                ChainAction::TransferRejected,
                restored_possessor.clone(),
                None,
                reason.clone(),
            ),
            EventKind::SurrenderedForDelivery => (
                ChainAction::SurrenderForDelivery,
                Some(carrier.clone()),
                None,
                None,
            ),
            EventKind::SurrenderedForAmendment { reason } => (
                ChainAction::SurrenderForAmendment,
                Some(carrier.clone()),
                Some(reason_code(*reason)),
                None,
            ),
            EventKind::SurrenderAccepted { .. } => {
                (ChainAction::SurrenderAccepted, None, None, None)
            }
            EventKind::SurrenderRejected {
                comment, possessor, ..
            } => (
                ChainAction::SurrenderRejected,
                Some(possessor.clone()),
                None,
                Some(comment.clone()),
            ),
            EventKind::Voided { .. } => (ChainAction::Void, None, None, None),
        };
        links.push(ChainLink {
            action,
            action_code: action.endorsement_chain_code(),
            actor,
            recipient,
            time_ms: entry.time_ms,
            height: entry.height,
            position: entry.position,
            sequence: entry.sequence,
            tx_hash: entry.tx_hash.to_string(),
            signer_fingerprint: entry.signer_fingerprint.clone(),
            reason_code,
            comment,
        });
    }
    Ok(links)
}

fn dcsa_party(code: &PartyCode, names: &PartyNames) -> Value {
    json!({
        "partyName": names.name(code),
        "eblPlatform": EBL_PLATFORM,
        "identifyingCodes": [{
            "codeListProvider": SILKLINE_CODE_LIST_PROVIDER,
            "partyCode": code.as_str(),
        }],
    })
}

/// The code list of Standard Carrier Alpha Codes: NMFTA's. A transport document's `carrierCode`
/// is a SCAC when its `carrierCodeListProvider` says `NMFTA`, and an SMDG liner code when it says
/// `SMDG`.
pub const SCAC_CODE_LIST_PROVIDER: &str = "NMFTA";

/// The carrier's SCAC as DCSA's endorsement chain wants it (`carrierSCACCode`): the content's
/// `carrierCode` when its list is NMFTA's. An SMDG code is not a SCAC and no table maps one to
/// the other, so a document that names its carrier by SMDG code exports no `carrierSCACCode`
/// (the field is optional); the code stays in the transport document itself.
pub fn carrier_scac(content: &Value) -> Option<&str> {
    let provider = content.get("carrierCodeListProvider")?.as_str()?;
    let code = content.get("carrierCode")?.as_str()?;
    (provider == SCAC_CODE_LIST_PROVIDER).then_some(code)
}

/// A document and its history as DCSA JSON:
///
/// ```text
/// { "transportDocument": <the content as issued, its transportDocumentStatus the ledger's>,
///   "documentChecksum": checksum(the content as issued),
///   "endorsementChain": { "transportDocumentReference", "carrierSCACCode"?, "endorsementChain": [links] },
///   "silkline": { carrier, documentKind, mode, possessor, endorsee, amends, amendedBy, sequence, copyNotice } }
/// ```
///
/// `endorsementChain` is one `EndorsementChain` of DCSA's Endorsement Chain API (eBL 3.0,
/// `GET /endorsement-chains/{transportDocumentReference}`): the reference, the carrier's SCAC
/// where the content gives one ([`carrier_scac`]), and the links newest first, each with
/// `actionDateTime` (UTC, milliseconds), `actionCode` ([`ChainAction`] says which), `actor`,
/// `recipient` where there is one, and `auditReference` (the transaction hash). Silkline adds
/// to each link `pintActionCode` (PINT 3.0's code for the action, where PINT has one),
/// `blockHeight`, `transactionHash`, `position`, `sequence` and `signerFingerprint`, plus
/// `reasonCode` and `comments` as PINT's transaction has them. `names` supplies party names
/// beyond those the content gives.
///
/// The status inside the exported transport document is the ledger's (`SURRENDERED_FOR_DELIVERY`,
/// `VOIDED`, ...), never the one the content was issued with: the standard defines no status
/// beside the document, and a reader of the document alone must not see `ISSUED` for a bill that
/// was surrendered. `documentChecksum` stays the checksum of the content as issued (and so as
/// stored, printed on the PDF and asked for by the verification page), which is the exported
/// document with `transportDocumentStatus` set back to `ISSUED`.
pub fn export(
    doc: &DocumentState,
    history: &[HistoryEntry],
    names: &PartyNames,
) -> Result<Value, ExportError> {
    let key = document_key(doc);
    let Some(record) = &doc.content else {
        return Err(ExportError::NoContent { document: key });
    };
    let content = record.json();
    let mut all_names = PartyNames::from_content(&content);
    all_names.extend(names);
    let links = chain_links(&key, &doc.carrier, history)?;
    let chain: Vec<Value> = links
        .iter()
        .rev()
        .map(|link| {
            let mut v = json!({
                "actionDateTime": iso8601_utc(link.time_ms),
                "actionCode": link.action_code,
                "actor": dcsa_party(&link.actor, &all_names),
                "auditReference": link.tx_hash,
                "blockHeight": link.height,
                "position": link.position,
                "sequence": link.sequence,
                "transactionHash": link.tx_hash,
                "signerFingerprint": link.signer_fingerprint,
            });
            if let Some(code) = link.action.pint_code() {
                v["pintActionCode"] = json!(code);
            }
            if let Some(recipient) = &link.recipient {
                v["recipient"] = dcsa_party(recipient, &all_names);
            }
            if let Some(code) = link.reason_code {
                v["reasonCode"] = json!(code);
            }
            if let Some(comment) = &link.comment {
                v["comments"] = json!(comment);
            }
            v
        })
        .collect();
    let mut endorsement_chain = json!({
        "transportDocumentReference": doc.id.reference.as_str(),
        "endorsementChain": chain,
    });
    if let Some(scac) = carrier_scac(&content) {
        endorsement_chain["carrierSCACCode"] = json!(scac);
    }
    let opt = |p: &Option<PartyCode>| p.as_ref().map(|c| json!(c.as_str())).unwrap_or(Value::Null);
    let checksum_as_issued = checksum(&content);
    let mut document = content;
    if let Some(fields) = document.as_object_mut() {
        fields.insert("transportDocumentStatus".into(), json!(doc.status.code()));
    }
    Ok(json!({
        "documentChecksum": checksum_as_issued,
        "transportDocument": document,
        "endorsementChain": endorsement_chain,
        "silkline": {
            "carrier": doc.carrier.as_str(),
            "documentKind": doc.kind.code(),
            "mode": doc.mode.map(|m| m.to_string()),
            "possessor": opt(&doc.possessor),
            "endorsee": opt(&doc.endorsee),
            "amends": doc.amends.as_ref().map(|r| r.as_str()),
            "amendedBy": doc.amended_by.as_ref().map(|r| r.as_str()),
            "sequence": doc.sequence,
            "copyNotice": crate::COPY_NOTICE,
        },
    }))
}

/// The key a document's history is stored under.
pub fn document_key(doc: &DocumentState) -> DocumentKey {
    match doc.kind {
        DocumentKind::CargoRelease => DocumentKey::cargo_release(doc.id.clone()),
        DocumentKind::BillOfLading | DocumentKind::SeaWaybill => {
            DocumentKey::transport_document(doc.id.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_ignores_key_order_and_whitespace() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": [true, "x"]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":[true,"x"],"b":1}"#).unwrap();
        assert_eq!(checksum(&a), checksum(&b));
        // SHA-256 of the canonical text `{"a":[true,"x"],"b":1}`.
        assert_eq!(
            checksum(&a),
            hex::encode(Sha256::digest(br#"{"a":[true,"x"],"b":1}"#))
        );
    }
}
