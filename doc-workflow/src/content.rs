//! The DCSA eBL 3.0 Transport Document content a bill or waybill carries, and its validation.
//!
//! Content is checked in two parts, and every problem of both is listed with its JSON pointer,
//! so that a carrier can fix a document in one round trip:
//!
//! 1. **The standard's rules, as data** ([`schema`](crate::schema)): the DCSA eBL 3.0.4
//!    `TransportDocument` schema with every reference resolved (required fields, types,
//!    patterns, lengths, enumerations and the conditions the standard states in prose).
//! 2. **What a schema cannot say**, here in Rust: the rules that depend on the ledger (the
//!    document's reference and carrier, the status the content may carry when it is stored,
//!    party codes), and the ones that compare fields with each other (exactly one on-board or
//!    received-for-shipment date, at most one original, containers that cargo items name).
//!
//! Silkline keeps the document exactly as submitted: the persisted form is the RFC 8785 (JCS)
//! canonical text of the submitted JSON plus its SHA-256, never a re-serialization of these
//! structs, so fields Silkline does not read survive untouched.
//!
//! # Numbers
//!
//! Any JSON number the standard allows is accepted: weights, volumes, charges and declared
//! values are decimals (`12000.5`). They never reach the workflow's state as numbers: the state
//! holds the canonical text, in which RFC 8785 writes every number as ECMAScript prints the
//! double it denotes (`0.1`, `1e+21`, `5e-324`, `0` for `-0`), so every replica stores, and
//! hashes, the same bytes. The typed view below holds no number at all.
//!
//! # Party codes in DCSA content
//!
//! A DCSA party is a name plus `identifyingCodes`. Silkline takes a party's code from the one
//! identifying code whose `codeListProvider` is [`SILKLINE_CODE_LIST_PROVIDER`] (`"SILKLINE"`):
//! `{"codeListProvider": "SILKLINE", "partyCode": "SHIPPER"}`. The issuing party, the shipper,
//! the consignee and the endorsee must each carry exactly one; the issuing party's code must be
//! the carrier of the document's [`DocumentId`]. Other identifying codes (LEI, DID, ...) are kept
//! but not interpreted. `carrierCode` stays the carrier's SCAC or SMDG code, as in DCSA.
//!
//! # Where Silkline is deliberately stricter than the standard
//!
//! - The content's `transportDocumentStatus` must be the status it is stored under: `DRAFT` when
//!   published as a draft, `ISSUED` when issued (an approved draft is issued as the shipper
//!   approved it, so its text keeps `DRAFT`). The ledger's status, which changes with every
//!   surrender, is what an export shows.
//! - A draft already carries the `issueDate` and the on-board or received-for-shipment date:
//!   an approved draft becomes the issued bill without a change.
//! - `isElectronic` is `true`; a bill has at most one original, a sea waybill none.
//! - At most [`CONTENT_BYTES_MAX`] bytes, [`CONTENT_DEPTH_MAX`] levels and [`EQUIPMENTS_MAX`]
//!   containers, listed once each.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::codes::ContainerNumber;
use crate::ids::{DocumentId, DocumentRef, PartyCode};
use crate::schema;
use crate::state::{DocumentKind, Mode};

/// Largest content accepted, in bytes of canonical JSON. A transport document with a few dozen
/// containers is well under 20 KiB; 64 KiB bounds the block and what every replica stores.
pub const CONTENT_BYTES_MAX: usize = 64 * 1024;
/// Deepest nesting accepted. The DCSA document nests at most 9 levels (a dangerous good's
/// limits inside a cargo item); deeper input is abuse.
pub const CONTENT_DEPTH_MAX: usize = 16;
/// Most containers per document: a large shipment is a few dozen; 200 leaves room. A cargo
/// release holds one record per container, and a gate-out names at most this many.
pub const EQUIPMENTS_MAX: usize = 200;
/// Most problems listed in one refusal: enough to fix a document, bounded so a refusal is small.
pub const PROBLEMS_MAX: usize = 100;
/// The `codeListProvider` whose `partyCode` is the party's Silkline party code.
pub const SILKLINE_CODE_LIST_PROVIDER: &str = "SILKLINE";

/// One thing wrong with submitted content, or one thing worth a warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentProblem {
    /// JSON pointer to the field, e.g. `/documentParties/shipper/partyName`; empty for the whole.
    pub path: String,
    pub message: String,
}

impl fmt::Display for ContentProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)
    }
}

/// Content as persisted: canonical text and its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentRecord {
    /// The submitted JSON in RFC 8785 (JCS) canonical form.
    pub canonical_json: String,
    /// Lowercase hex SHA-256 of `canonical_json`'s UTF-8 bytes.
    pub sha256: String,
}

impl ContentRecord {
    /// Parses the stored text back into JSON (for adapters and for reading the typed view).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.canonical_json).expect("stored content is canonical JSON")
    }
}

/// The status content is stored under, which its own `transportDocumentStatus` must name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Published as a draft (`PUBLISH_DRAFT`): the content says `DRAFT`.
    Draft,
    /// Issued with content (`ISSUE`, or a `VOID`'s replacement): the content says `ISSUED`.
    Issued,
}

impl Stage {
    /// The `transportDocumentStatus` content stored at this stage carries.
    pub fn status_code(self) -> &'static str {
        match self {
            Stage::Draft => "DRAFT",
            Stage::Issued => "ISSUED",
        }
    }
}

/// The typed view of the fields the workflow needs, read from valid content. It holds no
/// number: the workflow needs none, and numbers stay in the canonical text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportDocument {
    pub reference: DocumentRef,
    pub kind: DocumentKind,
    pub is_to_order: bool,
    pub carrier_code: String,
    pub issuing_party: PartyCode,
    pub shipper: PartyCode,
    pub consignee: Option<PartyCode>,
    pub endorsee: Option<PartyCode>,
    /// The port of loading: its UN/LOCODE, or, where the document gives none, its name and
    /// city as written ([`location_label`]).
    pub port_of_loading: String,
    /// The port of discharge, as [`port_of_loading`](Self::port_of_loading).
    pub port_of_discharge: String,
    pub containers: BTreeSet<ContainerNumber>,
}

impl TransportDocument {
    /// The mode at issue (DOMAIN.md section 2): `isToOrder = false` is straight; to-order with an
    /// endorsee is `TO_ORDER` with that endorsee; to-order without one is blank-endorsed.
    pub fn mode(&self) -> Mode {
        match (self.is_to_order, &self.endorsee) {
            (false, _) => Mode::Straight,
            (true, Some(_)) => Mode::ToOrder,
            (true, None) => Mode::Blank,
        }
    }
}

/// Content that passed validation: the typed view, the record to persist, and warnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidContent {
    pub document: TransportDocument,
    pub record: ContentRecord,
    /// What is allowed but probably a mistake (a container reference whose ISO 6346 check
    /// digit is wrong). Shown to whoever submits the content; never stored, never a refusal.
    pub warnings: Vec<ContentProblem>,
}

/// Reads only `transportDocumentTypeCode`, to choose the workflow before full validation.
pub fn peek_kind(content: &Value) -> Option<DocumentKind> {
    kind_of(content.as_object()?)
}

fn kind_of(root: &Map<String, Value>) -> Option<DocumentKind> {
    match root.get("transportDocumentTypeCode")?.as_str()? {
        "BOL" => Some(DocumentKind::BillOfLading),
        "SWB" => Some(DocumentKind::SeaWaybill),
        _ => None,
    }
}

/// Canonicalizes and validates `content` for the carrier `carrier`, to be stored at `stage`.
/// When `reference` is given, the content's `transportDocumentReference` must equal it. Every
/// problem is listed (up to [`PROBLEMS_MAX`]): the standard's schema first, sorted by pointer,
/// then Silkline's own rules in document order.
pub fn validate(
    content: &Value,
    carrier: &PartyCode,
    reference: Option<&DocumentRef>,
    stage: Stage,
) -> Result<ValidContent, Vec<ContentProblem>> {
    let canonical = canonical_json::to_string(content);
    if canonical.len() > CONTENT_BYTES_MAX {
        return Err(vec![ContentProblem {
            path: String::new(),
            message: format!(
                "content is {} bytes; at most {CONTENT_BYTES_MAX} are accepted",
                canonical.len()
            ),
        }]);
    }
    let mut c = Checker::default();
    if !c.depth(content, "", 0) {
        return Err(c.finish());
    }
    for problem in schema::problems(content) {
        c.push(problem);
    }
    let document = match content.as_object() {
        Some(root) => {
            c.silkline_rules(root, carrier, reference, stage);
            c.document(root)
        }
        // The schema said so already.
        None => None,
    };
    if !c.problems.is_empty() {
        return Err(c.finish());
    }
    let document = document.expect("no problems means every field was read");
    let sha256 = hex::encode(Sha256::digest(canonical.as_bytes()));
    Ok(ValidContent {
        document,
        record: ContentRecord {
            canonical_json: canonical,
            sha256,
        },
        warnings: c.warnings,
    })
}

/// Convenience for callers that hold an id.
pub fn validate_for(
    content: &Value,
    id: &DocumentId,
    stage: Stage,
) -> Result<ValidContent, Vec<ContentProblem>> {
    validate(content, &id.carrier, Some(&id.reference), stage)
}

/// The typed view of content already stored. Stored content was validated when it was stored,
/// under the rules of its day; reading it again applies no rule, so a later, stricter rule
/// never makes a stored bill unreadable. Problems mean the text lacks what the view needs.
pub fn read_stored(record: &ContentRecord) -> Result<TransportDocument, Vec<ContentProblem>> {
    let json: Value = serde_json::from_str(&record.canonical_json).map_err(|e| {
        vec![ContentProblem {
            path: String::new(),
            message: format!("stored content is not JSON: {e}"),
        }]
    })?;
    let mut c = Checker::default();
    let document = json.as_object().and_then(|root| c.document(root));
    match document {
        Some(document) if c.problems.is_empty() => Ok(document),
        _ => {
            if c.problems.is_empty() {
                c.problem("", "stored content is not a transport document");
            }
            Err(c.finish())
        }
    }
}

/// The label of a DCSA location: its UN/LOCODE when given, else its `locationName` and
/// `city` (city name and country code) as written, joined by ", ".
pub fn location_label(location: &Map<String, Value>) -> Option<String> {
    if let Some(code) = location.get("UNLocationCode").and_then(Value::as_str) {
        return Some(code.to_owned());
    }
    let city = location.get("city");
    let parts: Vec<&str> = [
        location.get("locationName"),
        city.and_then(|c| c.get("city")),
        city.and_then(|c| c.get("countryCode")),
    ]
    .into_iter()
    .flatten()
    .filter_map(Value::as_str)
    .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Collects problems and warnings while walking the document.
#[derive(Default)]
struct Checker {
    problems: Vec<ContentProblem>,
    warnings: Vec<ContentProblem>,
}

fn join(path: &str, field: &str) -> String {
    format!("{path}/{field}")
}

impl Checker {
    fn push(&mut self, problem: ContentProblem) {
        // Keep one past the limit so `finish` knows the list was cut.
        if self.problems.len() <= PROBLEMS_MAX {
            self.problems.push(problem);
        }
    }

    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.push(ContentProblem {
            path: path.into(),
            message: message.into(),
        });
    }

    fn warning(&mut self, path: impl Into<String>, message: impl Into<String>) {
        if self.warnings.len() < PROBLEMS_MAX {
            self.warnings.push(ContentProblem {
                path: path.into(),
                message: message.into(),
            });
        }
    }

    fn finish(mut self) -> Vec<ContentProblem> {
        if self.problems.len() > PROBLEMS_MAX {
            self.problems.truncate(PROBLEMS_MAX - 1);
            self.problems.push(ContentProblem {
                path: String::new(),
                message: format!(
                    "more problems were found; only the first {} are listed",
                    PROBLEMS_MAX - 1
                ),
            });
        }
        self.problems
    }

    /// Nesting is bounded, before anything walks the document further. `false` when too deep.
    fn depth(&mut self, value: &Value, path: &str, depth: usize) -> bool {
        if depth > CONTENT_DEPTH_MAX {
            self.problem(
                path,
                format!("nested deeper than {CONTENT_DEPTH_MAX} levels"),
            );
            return false;
        }
        match value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .all(|(i, item)| self.depth(item, &join(path, &i.to_string()), depth + 1)),
            Value::Object(map) => map
                .iter()
                .all(|(key, item)| self.depth(item, &join(path, key), depth + 1)),
            _ => true,
        }
    }

    /// Silkline's rules beyond the schema. Each reads only fields of the right type: a field
    /// missing or mistyped was reported by the schema already.
    fn silkline_rules(
        &mut self,
        root: &Map<String, Value>,
        carrier: &PartyCode,
        reference: Option<&DocumentRef>,
        stage: Stage,
    ) {
        if let Some(text) = root
            .get("transportDocumentReference")
            .and_then(Value::as_str)
        {
            match DocumentRef::new(text) {
                Err(e) => self.problem("/transportDocumentReference", e.to_string()),
                Ok(r) if reference.is_some_and(|want| *want != r) => self.problem(
                    "/transportDocumentReference",
                    format!(
                        "is {r} but the command names document {}",
                        reference.map(DocumentRef::as_str).unwrap_or_default()
                    ),
                ),
                Ok(_) => {}
            }
        }

        if let Some(status) = root.get("transportDocumentStatus").and_then(Value::as_str)
            && status != stage.status_code()
        {
            self.problem(
                "/transportDocumentStatus",
                format!(
                    "is {status}, but content stored as {} must say {}: the content's status is the one it is stored under; the ledger's status, which changes later, is the document's status",
                    stage.status_code().to_lowercase(),
                    stage.status_code()
                ),
            );
        }

        self.dates(root);

        let kind = kind_of(root);
        if root.get("isElectronic") == Some(&Value::Bool(false)) {
            self.problem(
                "/isElectronic",
                "must be true: the ledger holds electronic records only (switching to paper voids the record)",
            );
        }
        let count = |field: &str| root.get(field).and_then(Value::as_u64).unwrap_or(0);
        let originals =
            count("numberOfOriginalsWithCharges") + count("numberOfOriginalsWithoutCharges");
        match kind {
            Some(DocumentKind::BillOfLading) if originals > 1 => self.problem(
                "/numberOfOriginalsWithCharges",
                format!(
                    "an electronic bill has at most one original; {originals} were given in total"
                ),
            ),
            Some(DocumentKind::SeaWaybill) if originals > 0 => self.problem(
                "/numberOfOriginalsWithCharges",
                "a sea waybill has no originals",
            ),
            _ => {}
        }

        if let Some(Value::Object(parties)) = root.get("documentParties") {
            if let Some(issuing) = self.party_code(parties, "issuingParty", true)
                && issuing != *carrier
            {
                self.problem(
                    "/documentParties/issuingParty/identifyingCodes",
                    format!(
                        "the issuing party's SILKLINE code must be the document's carrier {carrier}"
                    ),
                );
            }
            self.party_code(parties, "shipper", true);
            self.party_code(parties, "consignee", true);
            self.party_code(parties, "endorsee", true);
            for list in ["notifyParties", "other"] {
                if let Some(Value::Array(items)) = parties.get(list) {
                    for (i, party) in items.iter().enumerate() {
                        // `other` entries wrap the party in `party`.
                        let (party, path) = match list {
                            "other" => (
                                party.get("party"),
                                format!("/documentParties/other/{i}/party"),
                            ),
                            _ => (Some(party), format!("/documentParties/{list}/{i}")),
                        };
                        if let Some(Value::Object(map)) = party {
                            self.silkline_codes(map, &path, false);
                        }
                    }
                }
            }
        }

        self.equipments(root);
    }

    /// Exactly one of `shippedOnBoardDate` and `receivedForShipmentDate`, agreeing with
    /// `isShippedOnBoardType`, and an `issueDate`: DCSA asks them of an issued bill, and an
    /// approved draft is issued as it stands.
    fn dates(&mut self, root: &Map<String, Value>) {
        if root.get("issueDate").is_none() {
            self.problem(
                "/issueDate",
                "is required: DCSA asks it of an issued document, and a draft on the ledger is issued as approved",
            );
        }
        let shipped = root.get("shippedOnBoardDate").is_some();
        let received = root.get("receivedForShipmentDate").is_some();
        match (shipped, received) {
            (true, true) => self.problem(
                "/receivedForShipmentDate",
                "give shippedOnBoardDate or receivedForShipmentDate, not both (DCSA: exactly one on an issued B/L)",
            ),
            (false, false) => self.problem(
                "/shippedOnBoardDate",
                "shippedOnBoardDate or receivedForShipmentDate is required (DCSA: exactly one on an issued B/L)",
            ),
            _ => {}
        }
        if let Some(Value::Bool(on_board)) = root.get("isShippedOnBoardType")
            && shipped != received
            && *on_board != shipped
        {
            let date = if shipped {
                "shippedOnBoardDate"
            } else {
                "receivedForShipmentDate"
            };
            self.problem(
                "/isShippedOnBoardType",
                format!("is {on_board} but the document gives {date}"),
            );
        }
    }

    /// The SILKLINE code of the party `field` of `documentParties`, reporting a missing or
    /// duplicated one when `needs_code`. `None` when the party is absent.
    fn party_code(
        &mut self,
        parties: &Map<String, Value>,
        field: &str,
        needs_code: bool,
    ) -> Option<PartyCode> {
        let Some(Value::Object(party)) = parties.get(field) else {
            return None;
        };
        self.silkline_codes(party, &format!("/documentParties/{field}"), needs_code)
    }

    fn silkline_codes(
        &mut self,
        party: &Map<String, Value>,
        path: &str,
        needs_code: bool,
    ) -> Option<PartyCode> {
        let mut silkline = Vec::new();
        if let Some(Value::Array(codes)) = party.get("identifyingCodes") {
            for (i, code) in codes.iter().enumerate() {
                let provider = code.get("codeListProvider").and_then(Value::as_str);
                let value = code.get("partyCode").and_then(Value::as_str);
                if provider == Some(SILKLINE_CODE_LIST_PROVIDER)
                    && let Some(value) = value
                {
                    match PartyCode::new(value) {
                        Ok(code) => silkline.push(code),
                        Err(e) => self.problem(
                            format!("{path}/identifyingCodes/{i}/partyCode"),
                            e.to_string(),
                        ),
                    }
                }
            }
        }
        match silkline.len() {
            1 => silkline.pop(),
            0 if needs_code => {
                self.problem(
                    format!("{path}/identifyingCodes"),
                    format!("needs one identifying code with codeListProvider {SILKLINE_CODE_LIST_PROVIDER} naming the party"),
                );
                None
            }
            0 => None,
            n => {
                self.problem(
                    format!("{path}/identifyingCodes"),
                    format!("has {n} {SILKLINE_CODE_LIST_PROVIDER} codes; exactly one is allowed"),
                );
                None
            }
        }
    }

    /// Containers are listed once, at most [`EQUIPMENTS_MAX`]; every cargo item names one of
    /// them; a reference that is not a correct ISO 6346 number is a warning.
    fn equipments(&mut self, root: &Map<String, Value>) {
        let equipments = match root.get("utilizedTransportEquipments") {
            Some(Value::Array(items)) => items.as_slice(),
            _ => &[],
        };
        if equipments.len() > EQUIPMENTS_MAX {
            self.problem(
                "/utilizedTransportEquipments",
                format!(
                    "has {} containers; at most {EQUIPMENTS_MAX} are accepted",
                    equipments.len()
                ),
            );
            return;
        }
        let mut listed = BTreeSet::new();
        for (i, item) in equipments.iter().enumerate() {
            let path = format!("/utilizedTransportEquipments/{i}/equipment/equipmentReference");
            let Some(text) = item
                .pointer("/equipment/equipmentReference")
                .and_then(Value::as_str)
            else {
                continue;
            };
            match ContainerNumber::new(text) {
                Ok(number) => {
                    if let Err(e) = number.iso6346() {
                        self.warning(
                            &path,
                            format!("{text} is not an ISO 6346 container number: it {e}"),
                        );
                    }
                    if !listed.insert(number) {
                        self.problem(&path, format!("container {text} is listed twice"));
                    }
                }
                // The schema reports the same pattern and length.
                Err(_) => continue,
            }
        }
        if let Some(Value::Array(items)) = root.get("consignmentItems") {
            for (i, item) in items.iter().enumerate() {
                let Some(Value::Array(cargo)) = item.get("cargoItems") else {
                    continue;
                };
                for (j, cargo) in cargo.iter().enumerate() {
                    if let Some(text) = cargo.get("equipmentReference").and_then(Value::as_str)
                        && !listed.iter().any(|c| c.as_str() == text)
                    {
                        self.problem(
                            format!("/consignmentItems/{i}/cargoItems/{j}/equipmentReference"),
                            format!("{text} is not one of the utilizedTransportEquipments"),
                        );
                    }
                }
            }
        }
    }

    /// The typed view. Reports only what it needs and cannot find, so on validated content it
    /// reports nothing.
    fn document(&mut self, root: &Map<String, Value>) -> Option<TransportDocument> {
        let text = |field: &str| root.get(field).and_then(Value::as_str);
        let reference = text("transportDocumentReference").and_then(|r| DocumentRef::new(r).ok());
        let kind = kind_of(root);
        let is_to_order = root.get("isToOrder").and_then(Value::as_bool);
        let carrier_code = text("carrierCode").map(str::to_owned);
        let parties = match root.get("documentParties") {
            Some(Value::Object(parties)) => Some(parties),
            _ => None,
        };
        // Codes were checked by `silkline_rules`; here they are only read.
        let mut quiet = Checker::default();
        let mut code = |field: &str| parties.and_then(|p| quiet.party_code(p, field, false));
        let issuing = code("issuingParty");
        let shipper = code("shipper");
        let consignee = code("consignee");
        let endorsee = code("endorsee");
        let port = |field: &str| {
            root.get("transports")
                .and_then(|t| t.get(field))
                .and_then(Value::as_object)
                .and_then(location_label)
        };
        let (loading, discharge) = (port("portOfLoading"), port("portOfDischarge"));
        let containers: BTreeSet<ContainerNumber> = match root.get("utilizedTransportEquipments") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|item| item.pointer("/equipment/equipmentReference")?.as_str())
                .filter_map(|text| ContainerNumber::new(text).ok())
                .collect(),
            _ => BTreeSet::new(),
        };
        let missing = [
            ("/transportDocumentReference", reference.is_none()),
            ("/transportDocumentTypeCode", kind.is_none()),
            ("/isToOrder", is_to_order.is_none()),
            ("/carrierCode", carrier_code.is_none()),
            ("/documentParties/issuingParty", issuing.is_none()),
            ("/documentParties/shipper", shipper.is_none()),
            ("/transports/portOfLoading", loading.is_none()),
            ("/transports/portOfDischarge", discharge.is_none()),
        ];
        for (path, is_missing) in missing {
            if is_missing && self.problems.is_empty() {
                self.problem(path, "is needed by the workflow and could not be read");
            }
        }
        Some(TransportDocument {
            reference: reference?,
            kind: kind?,
            is_to_order: is_to_order?,
            carrier_code: carrier_code?,
            issuing_party: issuing?,
            shipper: shipper?,
            consignee,
            endorsee,
            port_of_loading: loading?,
            port_of_discharge: discharge?,
            containers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn problems_are_capped() {
        let mut c = Checker::default();
        for i in 0..500 {
            c.problem(format!("/{i}"), "bad");
        }
        let problems = c.finish();
        assert_eq!(problems.len(), PROBLEMS_MAX);
        assert!(problems.last().unwrap().message.contains("more problems"));
    }

    #[test]
    fn nesting_is_bounded_before_the_schema_runs() {
        let mut deep = json!(1);
        for _ in 0..=CONTENT_DEPTH_MAX {
            deep = json!([deep]);
        }
        let err = validate(
            &json!({"remarks": deep}),
            &PartyCode::new("CARRIER").unwrap(),
            None,
            Stage::Issued,
        )
        .unwrap_err();
        assert_eq!(err.len(), 1);
        assert!(err[0].message.contains("nested deeper"), "{err:?}");
    }

    #[test]
    fn a_location_is_labelled_by_its_code_or_its_name_and_city() {
        let code = json!({"UNLocationCode": "NLRTM", "locationName": "Rotterdam"});
        assert_eq!(location_label(code.as_object().unwrap()).unwrap(), "NLRTM");
        let named = json!({"locationName": "Europoort", "city": {"city": "Rotterdam", "countryCode": "NL"}});
        assert_eq!(
            location_label(named.as_object().unwrap()).unwrap(),
            "Europoort, Rotterdam, NL"
        );
        assert_eq!(location_label(json!({}).as_object().unwrap()), None);
    }
}
