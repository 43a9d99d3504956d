//! The DCSA eBL 3.0 Transport Document content a bill or waybill carries, and its validation.
//!
//! Silkline validates the subset of the standard that the workflow and the law depend on, and
//! keeps the document exactly as submitted otherwise: the persisted form is the RFC 8785 (JCS)
//! canonical text of the submitted JSON plus its SHA-256, never a re-serialization of these
//! structs, so fields Silkline does not model survive untouched.
//!
//! Validation lists every problem it finds, field by field, with a JSON-pointer path, so that a
//! carrier can fix a document in one round trip.
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
//! # Numbers
//!
//! JSON numbers in content must be integers of magnitude below 2^53, so the canonical text is
//! exact on every replica and no float is ever persisted. Write decimals as strings, e.g. a
//! weight `{"value": "1234.5", "unit": "KGM"}`.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::codes::{ContainerNumber, is_iso_date, is_un_locode};
use crate::ids::{DocumentId, DocumentRef, PartyCode};
use crate::state::{DocumentKind, Mode};

/// Largest content accepted, in bytes of canonical JSON. A transport document with a few dozen
/// containers is well under 20 KiB; 64 KiB bounds the block and what every replica stores.
pub const CONTENT_BYTES_MAX: usize = 64 * 1024;
/// Deepest nesting accepted. The DCSA document nests about 6 levels; deeper input is abuse.
pub const CONTENT_DEPTH_MAX: usize = 16;
/// Most consignment items per document; more belongs on several documents.
pub const CONSIGNMENT_ITEMS_MAX: usize = 100;
/// Most cargo items per consignment item.
pub const CARGO_ITEMS_MAX: usize = 200;
/// Most containers per document: a large shipment is a few dozen; 200 leaves room.
pub const EQUIPMENTS_MAX: usize = 200;
/// Most seals per container: carrier, shipper, customs, veterinary and a few spares.
pub const SEALS_MAX: usize = 10;
/// Most notify parties per document.
pub const NOTIFY_PARTIES_MAX: usize = 10;
/// Most identifying codes per party.
pub const IDENTIFYING_CODES_MAX: usize = 20;
/// Most vessel voyages per document (feeder plus mother vessel, and some).
pub const VESSEL_VOYAGES_MAX: usize = 10;
/// Most lines of goods description or HS codes per consignment item.
pub const LINES_MAX: usize = 50;
/// Most problems listed in one refusal: enough to fix a document, bounded so a refusal is small.
pub const PROBLEMS_MAX: usize = 100;
/// Largest integer accepted in content: 2^53 - 1, the largest integer every JSON reader
/// (JCS reads numbers as IEEE doubles) represents exactly.
pub const CONTENT_INTEGER_MAX: u64 = (1 << 53) - 1;
/// The `codeListProvider` whose `partyCode` is the party's Silkline party code.
pub const SILKLINE_CODE_LIST_PROVIDER: &str = "SILKLINE";

/// One thing wrong with submitted content.
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

/// The typed view of the fields the workflow needs, read from valid content.
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
    pub port_of_loading: String,
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

/// Content that passed validation: the typed view and the record to persist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidContent {
    pub document: TransportDocument,
    pub record: ContentRecord,
}

/// Reads only `transportDocumentTypeCode`, to choose the workflow before full validation.
pub fn peek_kind(content: &Value) -> Option<DocumentKind> {
    match content.get("transportDocumentTypeCode")?.as_str()? {
        "BOL" => Some(DocumentKind::BillOfLading),
        "SWB" => Some(DocumentKind::SeaWaybill),
        _ => None,
    }
}

/// Canonicalizes and validates `content` for the carrier `carrier`. When `reference` is given,
/// the content's `transportDocumentReference` must equal it. Every problem is listed (up to
/// [`PROBLEMS_MAX`]).
pub fn validate(
    content: &Value,
    carrier: &PartyCode,
    reference: Option<&DocumentRef>,
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
    c.numbers(content, "", 0);
    let document = c.document(content, carrier, reference);
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
    })
}

/// Collects problems while walking the document.
#[derive(Default)]
struct Checker {
    problems: Vec<ContentProblem>,
}

fn join(path: &str, field: &str) -> String {
    format!("{path}/{field}")
}

impl Checker {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        // Keep one past the limit so `finish` knows the list was cut.
        if self.problems.len() <= PROBLEMS_MAX {
            self.problems.push(ContentProblem {
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

    /// Every number anywhere must be an exact integer; nesting is bounded.
    fn numbers(&mut self, value: &Value, path: &str, depth: usize) {
        if depth > CONTENT_DEPTH_MAX {
            self.problem(
                path,
                format!("nested deeper than {CONTENT_DEPTH_MAX} levels"),
            );
            return;
        }
        match value {
            Value::Number(n) => {
                let exact = n
                    .as_u64()
                    .map(|u| u <= CONTENT_INTEGER_MAX)
                    .or_else(|| n.as_i64().map(|i| i.unsigned_abs() <= CONTENT_INTEGER_MAX));
                if exact != Some(true) {
                    self.problem(
                        path,
                        format!("{n} is not an integer below 2^53; write decimals as strings, e.g. \"1234.5\""),
                    );
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.numbers(item, &join(path, &i.to_string()), depth + 1);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    self.numbers(item, &join(path, key), depth + 1);
                }
            }
            _ => {}
        }
    }

    fn object<'a>(
        &mut self,
        parent: &'a Map<String, Value>,
        field: &str,
        path: &str,
        required: bool,
    ) -> Option<&'a Map<String, Value>> {
        let here = join(path, field);
        match parent.get(field) {
            None | Some(Value::Null) => {
                if required {
                    self.problem(here, "is required");
                }
                None
            }
            Some(Value::Object(map)) => Some(map),
            Some(_) => {
                self.problem(here, "must be an object");
                None
            }
        }
    }

    fn string<'a>(
        &mut self,
        parent: &'a Map<String, Value>,
        field: &str,
        path: &str,
        required: bool,
        chars_max: usize,
    ) -> Option<&'a str> {
        let here = join(path, field);
        match parent.get(field) {
            None | Some(Value::Null) => {
                if required {
                    self.problem(here, "is required");
                }
                None
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.problem(here, "must not be blank");
                None
            }
            Some(Value::String(s)) if s.chars().count() > chars_max => {
                self.problem(
                    here,
                    format!(
                        "is {} characters long; at most {chars_max} are allowed",
                        s.chars().count()
                    ),
                );
                None
            }
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.problem(here, "must be a string");
                None
            }
        }
    }

    fn boolean(&mut self, parent: &Map<String, Value>, field: &str, path: &str) -> Option<bool> {
        match parent.get(field) {
            Some(Value::Bool(b)) => Some(*b),
            None | Some(Value::Null) => {
                self.problem(join(path, field), "is required");
                None
            }
            Some(_) => {
                self.problem(join(path, field), "must be true or false");
                None
            }
        }
    }

    /// An optional count: a non-negative integer, 0 when absent.
    fn count(&mut self, parent: &Map<String, Value>, field: &str, path: &str) -> u64 {
        match parent.get(field) {
            None | Some(Value::Null) => 0,
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64().unwrap_or(0),
            Some(_) => {
                self.problem(join(path, field), "must be a non-negative integer");
                0
            }
        }
    }

    /// An array field; returns its items (none when absent or malformed).
    fn array<'a>(
        &mut self,
        parent: &'a Map<String, Value>,
        field: &str,
        path: &str,
        required: bool,
        items_max: usize,
    ) -> &'a [Value] {
        let here = join(path, field);
        match parent.get(field) {
            None | Some(Value::Null) => {
                if required {
                    self.problem(here, "is required and must not be empty");
                }
                &[]
            }
            Some(Value::Array(items)) if items.is_empty() && required => {
                self.problem(here, "must not be empty");
                &[]
            }
            Some(Value::Array(items)) if items.len() > items_max => {
                self.problem(
                    here,
                    format!("has {} items; at most {items_max} are allowed", items.len()),
                );
                &[]
            }
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.problem(here, "must be an array");
                &[]
            }
        }
    }

    fn as_object<'a>(&mut self, value: &'a Value, path: &str) -> Option<&'a Map<String, Value>> {
        let map = value.as_object();
        if map.is_none() {
            self.problem(path, "must be an object");
        }
        map
    }

    fn document(
        &mut self,
        content: &Value,
        carrier: &PartyCode,
        reference: Option<&DocumentRef>,
    ) -> Option<TransportDocument> {
        let root = self.as_object(content, "")?;
        let p = "";

        let doc_ref = self
            .string(root, "transportDocumentReference", p, true, usize::MAX)
            .and_then(|s| match DocumentRef::new(s) {
                Err(e) => {
                    self.problem("/transportDocumentReference", e.to_string());
                    None
                }
                Ok(r) if reference.is_some_and(|want| *want != r) => {
                    self.problem(
                        "/transportDocumentReference",
                        format!(
                            "is {r} but the command names document {}",
                            reference.map(DocumentRef::as_str).unwrap_or_default()
                        ),
                    );
                    None
                }
                Ok(r) => Some(r),
            });
        let kind = match root.get("transportDocumentTypeCode") {
            Some(Value::String(s)) if s == "BOL" => Some(DocumentKind::BillOfLading),
            Some(Value::String(s)) if s == "SWB" => Some(DocumentKind::SeaWaybill),
            _ => {
                self.problem("/transportDocumentTypeCode", "must be BOL or SWB");
                None
            }
        };
        let is_to_order = self.boolean(root, "isToOrder", p);
        if kind == Some(DocumentKind::SeaWaybill) && is_to_order == Some(true) {
            self.problem("/isToOrder", "a sea waybill is never to order");
        }
        if self.boolean(root, "isElectronic", p) == Some(false) {
            self.problem(
                "/isElectronic",
                "must be true: the ledger holds electronic records only (switching to paper voids the record)",
            );
        }
        let originals = self.count(root, "numberOfOriginalsWithCharges", p)
            + self.count(root, "numberOfOriginalsWithoutCharges", p);
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
        let carrier_code = self.string(root, "carrierCode", p, true, 4);
        match self.string(root, "carrierCodeListProvider", p, true, 5) {
            Some("SMDG" | "NMFTA") | None => {}
            Some(_) => self.problem("/carrierCodeListProvider", "must be SMDG or NMFTA"),
        }
        self.dates(root);

        // Parties.
        let parties = self.object(root, "documentParties", p, true);
        let (mut issuing, mut shipper, mut consignee, mut endorsee) = (None, None, None, None);
        if let Some(parties) = parties {
            let pp = "/documentParties";
            issuing = self.party(parties, "issuingParty", pp, true, true);
            if issuing.as_ref().is_some_and(|code| code != carrier) {
                self.problem(
                    "/documentParties/issuingParty/identifyingCodes",
                    format!(
                        "the issuing party's SILKLINE code must be the document's carrier {carrier}"
                    ),
                );
            }
            shipper = self.party(parties, "shipper", pp, true, true);
            let consignee_required = is_to_order == Some(false);
            consignee = self.party(parties, "consignee", pp, consignee_required, true);
            endorsee = self.party(parties, "endorsee", pp, false, true);
            if endorsee.is_some() && is_to_order == Some(false) {
                self.problem(
                    "/documentParties/endorsee",
                    "only a to-order document has an endorsee",
                );
            }
            for (i, party) in self
                .array(parties, "notifyParties", pp, false, NOTIFY_PARTIES_MAX)
                .iter()
                .enumerate()
            {
                let here = format!("{pp}/notifyParties/{i}");
                if let Some(map) = self.as_object(party, &here) {
                    self.party_fields(map, &here, false);
                }
            }
        }

        // Transports.
        let (mut loading, mut discharge) = (None, None);
        if let Some(transports) = self.object(root, "transports", p, true) {
            let tp = "/transports";
            for (i, voyage) in self
                .array(transports, "vesselVoyages", tp, true, VESSEL_VOYAGES_MAX)
                .iter()
                .enumerate()
            {
                let here = format!("{tp}/vesselVoyages/{i}");
                if let Some(map) = self.as_object(voyage, &here) {
                    self.string(map, "vesselName", &here, true, 50);
                    self.string(map, "carrierExportVoyageNumber", &here, true, 50);
                    if let Some(uvr) =
                        self.string(map, "universalExportVoyageReference", &here, false, 5)
                        && !is_universal_voyage_reference(uvr)
                    {
                        self.problem(
                            format!("{here}/universalExportVoyageReference"),
                            "must be 2 digits, 2 of [0-9A-Z] and N, E, W, S or R",
                        );
                    }
                }
            }
            loading = self.location(transports, "portOfLoading", tp);
            discharge = self.location(transports, "portOfDischarge", tp);
        }

        let containers = self.equipments(root);
        self.consignment_items(root, &containers);

        Some(TransportDocument {
            reference: doc_ref?,
            kind: kind?,
            is_to_order: is_to_order?,
            carrier_code: carrier_code?.to_owned(),
            issuing_party: issuing?,
            shipper: shipper?,
            consignee,
            endorsee,
            port_of_loading: loading?,
            port_of_discharge: discharge?,
            containers,
        })
    }

    fn dates(&mut self, root: &Map<String, Value>) {
        let date = |c: &mut Self, field: &str, required: bool| -> bool {
            match c.string(root, field, "", required, 10) {
                Some(d) if !is_iso_date(d) => {
                    c.problem(format!("/{field}"), "must be a calendar date yyyy-mm-dd");
                    true
                }
                Some(_) => true,
                // Present but malformed was reported already; it still counts as given.
                None => root.get(field).is_some_and(|v| !v.is_null()),
            }
        };
        date(self, "issueDate", true);
        let shipped = date(self, "shippedOnBoardDate", false);
        let received = date(self, "receivedForShipmentOnBoardDate", false);
        match (shipped, received) {
            (true, true) => self.problem(
                "/receivedForShipmentOnBoardDate",
                "give shippedOnBoardDate or receivedForShipmentOnBoardDate, not both",
            ),
            (false, false) => self.problem(
                "/shippedOnBoardDate",
                "shippedOnBoardDate or receivedForShipmentOnBoardDate is required",
            ),
            _ => {}
        }
    }

    /// A document party; returns its Silkline party code when `needs_code`.
    fn party(
        &mut self,
        parties: &Map<String, Value>,
        field: &str,
        path: &str,
        required: bool,
        needs_code: bool,
    ) -> Option<PartyCode> {
        let map = self.object(parties, field, path, required)?;
        self.party_fields(map, &join(path, field), needs_code)
    }

    fn party_fields(
        &mut self,
        party: &Map<String, Value>,
        path: &str,
        needs_code: bool,
    ) -> Option<PartyCode> {
        self.string(party, "partyName", path, true, 70);
        let mut silkline = Vec::new();
        for (i, code) in self
            .array(
                party,
                "identifyingCodes",
                path,
                false,
                IDENTIFYING_CODES_MAX,
            )
            .iter()
            .enumerate()
        {
            let here = format!("{path}/identifyingCodes/{i}");
            let Some(map) = self.as_object(code, &here) else {
                continue;
            };
            let provider = self.string(map, "codeListProvider", &here, true, 100);
            let value = self.string(map, "partyCode", &here, true, 150);
            self.string(map, "codeListName", &here, false, 100);
            if provider == Some(SILKLINE_CODE_LIST_PROVIDER)
                && let Some(value) = value
            {
                match PartyCode::new(value) {
                    Ok(code) => silkline.push(code),
                    Err(e) => self.problem(format!("{here}/partyCode"), e.to_string()),
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

    fn location(&mut self, parent: &Map<String, Value>, field: &str, path: &str) -> Option<String> {
        let here = join(path, field);
        let map = self.object(parent, field, path, true)?;
        let code = self.string(map, "UNLocationCode", &here, true, 5)?;
        if is_un_locode(code) {
            Some(code.to_owned())
        } else {
            self.problem(
                format!("{here}/UNLocationCode"),
                "must be a UN/LOCODE: 2 letters and 3 of A-Z or 2-9",
            );
            None
        }
    }

    fn equipments(&mut self, root: &Map<String, Value>) -> BTreeSet<ContainerNumber> {
        let mut containers = BTreeSet::new();
        for (i, item) in self
            .array(
                root,
                "utilizedTransportEquipments",
                "",
                true,
                EQUIPMENTS_MAX,
            )
            .iter()
            .enumerate()
        {
            let here = format!("/utilizedTransportEquipments/{i}");
            let Some(map) = self.as_object(item, &here) else {
                continue;
            };
            if let Some(equipment) = self.object(map, "equipment", &here, true) {
                let eq_path = format!("{here}/equipment");
                if let Some(reference) =
                    self.string(equipment, "equipmentReference", &eq_path, true, 11)
                {
                    match ContainerNumber::new(reference) {
                        Ok(number) => {
                            if !containers.insert(number) {
                                self.problem(
                                    format!("{eq_path}/equipmentReference"),
                                    format!("container {reference} is listed twice"),
                                );
                            }
                        }
                        Err(e) => self.problem(
                            format!("{eq_path}/equipmentReference"),
                            format!("{reference} is not an ISO 6346 container number: {e}"),
                        ),
                    }
                }
            }
            for (j, seal) in self
                .array(map, "seals", &here, true, SEALS_MAX)
                .iter()
                .enumerate()
            {
                let seal_path = format!("{here}/seals/{j}");
                if let Some(seal) = self.as_object(seal, &seal_path) {
                    self.string(seal, "number", &seal_path, true, 15);
                }
            }
        }
        containers
    }

    fn consignment_items(
        &mut self,
        root: &Map<String, Value>,
        containers: &BTreeSet<ContainerNumber>,
    ) {
        for (i, item) in self
            .array(root, "consignmentItems", "", true, CONSIGNMENT_ITEMS_MAX)
            .iter()
            .enumerate()
        {
            let here = format!("/consignmentItems/{i}");
            let Some(map) = self.as_object(item, &here) else {
                continue;
            };
            for (j, line) in self
                .array(map, "descriptionOfGoods", &here, true, LINES_MAX)
                .iter()
                .enumerate()
            {
                match line.as_str() {
                    Some(s) if !s.trim().is_empty() && s.chars().count() <= 5000 => {}
                    _ => self.problem(
                        format!("{here}/descriptionOfGoods/{j}"),
                        "must be a non-blank string of at most 5000 characters",
                    ),
                }
            }
            for (j, code) in self
                .array(map, "HSCodes", &here, true, LINES_MAX)
                .iter()
                .enumerate()
            {
                let ok = code.as_str().is_some_and(|s| {
                    (6..=10).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
                });
                if !ok {
                    self.problem(format!("{here}/HSCodes/{j}"), "must be 6 to 10 digits");
                }
            }
            for (j, cargo) in self
                .array(map, "cargoItems", &here, true, CARGO_ITEMS_MAX)
                .iter()
                .enumerate()
            {
                let cargo_path = format!("{here}/cargoItems/{j}");
                let Some(cargo) = self.as_object(cargo, &cargo_path) else {
                    continue;
                };
                if let Some(reference) =
                    self.string(cargo, "equipmentReference", &cargo_path, true, 11)
                    && !containers.iter().any(|c| c.as_str() == reference)
                {
                    self.problem(
                        format!("{cargo_path}/equipmentReference"),
                        format!("{reference} is not one of the utilizedTransportEquipments"),
                    );
                }
                if let Some(weight) = self.object(cargo, "cargoGrossWeight", &cargo_path, true) {
                    let weight_path = format!("{cargo_path}/cargoGrossWeight");
                    match weight.get("value") {
                        Some(Value::Number(n)) if n.as_u64().is_some() => {}
                        // Non-integers were reported by `numbers` already.
                        Some(Value::Number(n)) if n.as_i64().is_none() => {}
                        Some(Value::String(s)) if is_decimal(s) => {}
                        _ => self.problem(
                            format!("{weight_path}/value"),
                            "must be a non-negative integer or a decimal string such as \"1234.5\"",
                        ),
                    }
                    match self.string(weight, "unit", &weight_path, true, 3) {
                        Some("KGM" | "LBR") | None => {}
                        Some(_) => {
                            self.problem(format!("{weight_path}/unit"), "must be KGM or LBR")
                        }
                    }
                }
            }
        }
    }
}

/// A non-negative decimal: up to 15 integer digits and up to 6 fraction digits.
fn is_decimal(s: &str) -> bool {
    let (int, frac) = s.split_once('.').unwrap_or((s, "1"));
    (1..=15).contains(&int.len())
        && (1..=6).contains(&frac.len())
        && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
}

/// DCSA universal voyage reference: `\d{2}[0-9A-Z]{2}[NEWSR]`.
fn is_universal_voyage_reference(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 5
        && b[..2].iter().all(u8::is_ascii_digit)
        && b[2..4]
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        && matches!(b[4], b'N' | b'E' | b'W' | b'S' | b'R')
}

/// Convenience for callers that hold an id.
pub fn validate_for(content: &Value, id: &DocumentId) -> Result<ValidContent, Vec<ContentProblem>> {
    validate(content, &id.carrier, Some(&id.reference))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        assert!(is_decimal("1234.5"));
        assert!(is_decimal("0"));
        assert!(!is_decimal("1."));
        assert!(!is_decimal(".5"));
        assert!(!is_decimal("-1"));
        assert!(!is_decimal("1e3"));
    }

    #[test]
    fn voyage_references() {
        assert!(is_universal_voyage_reference("2301W"));
        assert!(!is_universal_voyage_reference("2301X"));
    }

    #[test]
    fn floats_and_huge_integers_are_problems_everywhere() {
        let mut c = Checker::default();
        c.numbers(
            &serde_json::json!({"a": [1.5, 9007199254740992u64, -3, 7]}),
            "",
            0,
        );
        let paths: Vec<_> = c.problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["/a/0", "/a/1"]);
    }

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
}
