//! What a bill of lading says, read from its DCSA eBL 3.0 content and its ledger record, in the
//! boxes a trade-finance desk expects: parties, carrier and references, vessel and ports, the
//! cargo (marks, packages, goods, weights), containers and seals, charges, freight terms,
//! originals, place and date of issue; then the record on the ledger and its endorsement chain.
//!
//! Every value is *taken* from a working copy of the content as it is printed ([`Particulars`]),
//! and whatever no box took is printed under "Further particulars", so nothing the document says
//! is left off the page (MLETR art. 18 requires a paper original to carry all the information
//! of the record). A field the document does not have is left out, never printed empty.
//!
//! Not here: placing text on pages (`layout`) or the PDF itself (`draw`).

use doc_workflow::{DocumentKind, DocumentState, PartyCode};
use serde_json::Value;

use super::layout::{Block, BoxSpec, GAP_PT, Para, Row, Table};
use super::paper::{ChainLinkAt, PaperEvidence};
use crate::COPY_NOTICE;
use crate::dcsa::{ChainLink, PartyNames};
use crate::time::iso8601_utc;

/// Deepest nesting "Further particulars" prints; content is at most 16 deep
/// (`doc_workflow::content::CONTENT_DEPTH_MAX`).
const DEPTH_MAX: usize = 16;

/// The MLETR change-of-medium statement a switch-to-paper rendering carries (art. 18: the paper
/// must carry all the information of the record and a statement of the change of medium).
pub const CHANGE_OF_MEDIUM_STATEMENT: &str = "CHANGE OF MEDIUM (UNCITRAL MLETR art. 18): this paper document replaces the electronic transferable record identified below. It carries all the information of that record. The electronic record was surrendered for amendment with reason SWITCH_TO_PAPER, the surrender was accepted by the issuing carrier, and the electronic record is made inoperative: it can no longer be transferred, endorsed or surrendered on the ledger.";

/// The head of the first page: what the document is.
pub(super) struct Heading {
    /// "BILL OF LADING" or "SEA WAYBILL".
    pub title: &'static str,
    /// Negotiability, shipped or received, electronic.
    pub subtitle: String,
}

/// A bill, ready to lay out.
pub(super) struct Bill {
    pub heading: Heading,
    pub blocks: Vec<Block>,
}

/// What the renderer knows besides the content.
pub(super) struct Record<'a> {
    pub doc: &'a DocumentState,
    pub names: &'a PartyNames,
    pub links: &'a [ChainLink],
    pub paper: Option<&'a PaperEvidence>,
    /// The verification page's address, when the node has one.
    pub verify_url: Option<&'a str>,
}

pub(super) fn kind_title(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::BillOfLading => "BILL OF LADING",
        DocumentKind::SeaWaybill => "SEA WAYBILL",
        DocumentKind::CargoRelease => "CARGO RELEASE",
    }
}

/// Reads the content and the record into a heading and blocks.
pub(super) fn read(content: &Value, record: &Record<'_>) -> Bill {
    let doc = record.doc;
    let mut p = Particulars::new(content);
    let to_order = p.flag("/isToOrder") == Some(true);
    let heading = Heading {
        title: kind_title(doc.kind),
        subtitle: subtitle(&mut p, doc.kind, to_order),
    };
    let mut blocks = Vec::new();

    // Parties, the document's number, the carrier.
    let number_label = match doc.kind {
        DocumentKind::SeaWaybill => "Sea waybill number",
        _ => "Bill of lading number",
    };
    let mut number = Vec::new();
    if let Some(reference) = p.text("/transportDocumentReference") {
        number.push(Para::strong(reference));
    }
    if let Some(si) = p.text("/shippingInstructionsReference") {
        number.push(Para::detail(format!("Shipping instructions {si}")));
    }
    let booking = booking_references(&mut p);
    row(
        &mut blocks,
        vec![
            BoxSpec::new(0.5, "Shipper", party(&mut p, "/documentParties/shipper")),
            BoxSpec::new(0.25, number_label, number),
            BoxSpec::new(0.25, "Carrier's booking reference", booking),
        ],
    );
    let (consignee_label, consignee, endorsee) = consignee(&mut p, to_order);
    row(
        &mut blocks,
        vec![
            BoxSpec::new(0.5, consignee_label, consignee),
            BoxSpec::new(0.5, "Carrier", carrier(&mut p, doc, record.names)),
        ],
    );
    let mut notify = Vec::new();
    for i in 0..p.len("/documentParties/notifyParties") {
        if !notify.is_empty() {
            notify.push(Para::detail(""));
        }
        notify.extend(party(
            &mut p,
            &format!("/documentParties/notifyParties/{i}"),
        ));
    }
    row(
        &mut blocks,
        vec![
            BoxSpec::new(0.5, "Notify party", notify),
            BoxSpec::new(0.5, "Endorsee", endorsee),
            BoxSpec::new(
                0.5,
                "For delivery of the goods apply to",
                party(&mut p, "/documentParties/carriersAgentAtDestination"),
            ),
        ],
    );

    // Vessel, ports and places.
    let mut vessels = Vec::new();
    for i in 0..p.len("/transports/vesselVoyages") {
        let at = format!("/transports/vesselVoyages/{i}");
        if let Some(name) = p.text(&format!("{at}/vesselName")) {
            vessels.push(Para::strong(name));
        }
        let voyage = p.text(&format!("{at}/carrierExportVoyageNumber"));
        let universal = p.text(&format!("{at}/universalExportVoyageReference"));
        match (voyage, universal) {
            (Some(v), Some(u)) => vessels.push(Para::value(format!("Voyage {v} (universal {u})"))),
            (Some(v), None) => vessels.push(Para::value(format!("Voyage {v}"))),
            (None, Some(u)) => vessels.push(Para::value(format!("Universal voyage {u}"))),
            (None, None) => {}
        }
    }
    row(
        &mut blocks,
        vec![
            BoxSpec::new(0.5, "Vessel and voyage", vessels),
            BoxSpec::new(
                0.25,
                "Port of loading",
                location(
                    &mut p,
                    "/transports/portOfLoading",
                    "/displayedNameForPortOfLoad",
                ),
            ),
            BoxSpec::new(
                0.25,
                "Port of discharge",
                location(
                    &mut p,
                    "/transports/portOfDischarge",
                    "/displayedNameForPortOfDischarge",
                ),
            ),
        ],
    );
    row(
        &mut blocks,
        vec![
            BoxSpec::new(
                0.5,
                "Place of receipt",
                location(
                    &mut p,
                    "/transports/placeOfReceipt",
                    "/displayedNameForPlaceOfReceipt",
                ),
            ),
            BoxSpec::new(
                0.5,
                "Place of delivery",
                location(
                    &mut p,
                    "/transports/placeOfDelivery",
                    "/displayedNameForPlaceOfDelivery",
                ),
            ),
        ],
    );

    // The cargo, the containers, the charges.
    for table in [cargo(&mut p), containers(&mut p), charges(&mut p)]
        .into_iter()
        .flatten()
    {
        blocks.push(Block::Gap(GAP_PT));
        blocks.push(Block::Table(table));
    }

    // Terms, originals, issue, shipment.
    blocks.push(Block::Gap(GAP_PT));
    let mut freight = Vec::new();
    if let Some(code) = p.text("/freightPaymentTermCode") {
        freight.push(Para::strong(match code.as_str() {
            "PRE" => "Freight prepaid".to_owned(),
            "COL" => "Freight collect".to_owned(),
            _ => format!("Freight {code}"),
        }));
    }
    let payable = location(&mut p, "/invoicePayableAt", "");
    if !payable.is_empty() {
        freight.push(Para::detail("Payable at"));
        freight.extend(payable);
    }
    let mut originals = Vec::new();
    for (field, what) in [
        ("numberOfOriginalsWithCharges", "original(s) with charges"),
        (
            "numberOfOriginalsWithoutCharges",
            "original(s) without charges",
        ),
        ("numberOfCopiesWithCharges", "copy(ies) with charges"),
        ("numberOfCopiesWithoutCharges", "copy(ies) without charges"),
    ] {
        if let Some(n) = p.text(&format!("/{field}")) {
            originals.push(Para::value(format!("{n} {what}")));
        }
    }
    let place = location(&mut p, "/placeOfIssue", "");
    let date = p.text("/issueDate");
    let issue_label = match (place.is_empty(), &date) {
        (false, Some(_)) => "Place and date of issue",
        (false, None) => "Place of issue",
        (true, _) => "Date of issue",
    };
    let mut issue = place;
    issue.extend(date.map(Para::strong));
    let shipped = p.text("/shippedOnBoardDate").map(Para::strong);
    let received = p.text("/receivedForShipmentDate").map(Para::strong);
    row(
        &mut blocks,
        vec![
            BoxSpec::new(0.25, "Freight terms", freight),
            BoxSpec::new(0.25, "Number of originals", originals),
            BoxSpec::new(0.25, issue_label, issue),
            BoxSpec::new(0.25, "Shipped on board date", shipped.into_iter().collect()),
            BoxSpec::new(
                0.25,
                "Received for shipment date",
                received.into_iter().collect(),
            ),
        ],
    );

    // Whatever no box took.
    let further: Vec<Para> = p
        .remaining()
        .into_iter()
        .map(|(path, value)| Para::value(format!("{path}: {value}")))
        .collect();
    if !further.is_empty() {
        blocks.push(Block::Gap(GAP_PT));
        row(
            &mut blocks,
            vec![BoxSpec::new(1.0, "Further particulars", further)],
        );
    }

    // The record on the ledger.
    blocks.push(Block::Gap(GAP_PT));
    blocks.push(Block::Heading("Record on the Silkline ledger".into()));
    ledger_row(&mut blocks, record);
    if let Some(chain) = chain(record.links, record.names) {
        blocks.push(Block::Gap(GAP_PT));
        blocks.push(Block::Table(chain));
    }

    // The marking: a copy, or the paper original that replaces the record.
    blocks.push(Block::Gap(GAP_PT));
    let (label, paras) = marking(record);
    if let Some(row) = Row::boxes(vec![BoxSpec::new(1.0, label, paras)]) {
        blocks.push(Block::Row(row));
    }
    Bill { heading, blocks }
}

/// Adds a row of the boxes that have something to say.
fn row(blocks: &mut Vec<Block>, specs: Vec<BoxSpec>) {
    if let Some(row) = Row::boxes(specs) {
        blocks.push(Block::Row(row));
    }
}

fn subtitle(p: &mut Particulars, kind: DocumentKind, to_order: bool) -> String {
    // The title says what the type code says.
    p.text("/transportDocumentTypeCode");
    let mut parts = vec![match (kind, to_order) {
        (DocumentKind::SeaWaybill, _) => "Non-negotiable",
        (_, true) => "Negotiable, to order",
        (_, false) => "Straight, non-negotiable",
    }];
    match p.flag("/isShippedOnBoardType") {
        Some(true) => parts.push("Shipped on board"),
        Some(false) => parts.push("Received for shipment"),
        None => {}
    }
    match p.flag("/isElectronic") {
        Some(false) => parts.push("Paper"),
        _ => parts.push("Electronic record on the Silkline ledger"),
    }
    parts.join(" · ")
}

fn booking_references(p: &mut Particulars) -> Vec<Para> {
    let mut seen = Vec::new();
    for i in 0..p.len("/consignmentItems") {
        if let Some(reference) = p.text(&format!("/consignmentItems/{i}/carrierBookingReference"))
            && !seen.contains(&reference)
        {
            seen.push(reference);
        }
    }
    seen.into_iter().map(Para::strong).collect()
}

/// The consignee box's label and lines, and the endorsee's lines when they need a box of their
/// own. A to-order bill reads "To order of" its consignee or, without one, its endorsee.
fn consignee(p: &mut Particulars, to_order: bool) -> (&'static str, Vec<Para>, Vec<Para>) {
    let consignee = party(p, "/documentParties/consignee");
    if !to_order {
        let endorsee = party(p, "/documentParties/endorsee");
        return ("Consignee", consignee, endorsee);
    }
    let of = |mut lines: Vec<Para>| {
        if let Some(first) = lines.first_mut() {
            first.text = format!("To order of {}", first.text);
        }
        lines
    };
    if !consignee.is_empty() {
        let endorsee = party(p, "/documentParties/endorsee");
        return ("Consignee", of(consignee), endorsee);
    }
    let endorsee = party(p, "/documentParties/endorsee");
    if endorsee.is_empty() {
        return (
            "Consignee",
            vec![Para::strong("To order (blank endorsed)")],
            Vec::new(),
        );
    }
    ("Consignee", of(endorsee), Vec::new())
}

fn carrier(p: &mut Particulars, doc: &DocumentState, names: &PartyNames) -> Vec<Para> {
    let mut lines = party(p, "/documentParties/issuingParty");
    if lines.is_empty() {
        lines.push(Para::strong(names.name(&doc.carrier).to_owned()));
    }
    match (p.text("/carrierCode"), p.text("/carrierCodeListProvider")) {
        (Some(code), Some(list)) => {
            lines.push(Para::detail(format!("Carrier code {code} ({list})")))
        }
        (Some(code), None) => lines.push(Para::detail(format!("Carrier code {code}"))),
        (None, Some(list)) => lines.push(Para::detail(format!("Carrier code list {list}"))),
        (None, None) => {}
    }
    lines
}

/// A DCSA party: its name, address, contacts, identifying codes and tax references.
fn party(p: &mut Particulars, at: &str) -> Vec<Para> {
    let mut lines = Vec::new();
    if let Some(name) = p.text(&format!("{at}/partyName")) {
        lines.push(Para::strong(name));
    }
    lines.extend(address(p, &format!("{at}/address")));
    for line in p.texts(&format!("{at}/displayedAddress")) {
        lines.push(Para::value(line));
    }
    for i in 0..p.len(&format!("{at}/partyContactDetails")) {
        let here = format!("{at}/partyContactDetails/{i}");
        let parts: Vec<String> = ["name", "phone", "email"]
            .iter()
            .filter_map(|f| p.text(&format!("{here}/{f}")))
            .collect();
        if !parts.is_empty() {
            lines.push(Para::detail(format!("Contact: {}", parts.join(", "))));
        }
    }
    let mut codes = Vec::new();
    for i in 0..p.len(&format!("{at}/identifyingCodes")) {
        let here = format!("{at}/identifyingCodes/{i}");
        let provider = p.text(&format!("{here}/codeListProvider"));
        let code = p.text(&format!("{here}/partyCode"));
        let list = p.text(&format!("{here}/codeListName"));
        let mut text = [provider, code]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(list) = list {
            text.push_str(&format!(" ({list})"));
        }
        if !text.is_empty() {
            codes.push(text);
        }
    }
    if !codes.is_empty() {
        lines.push(Para::detail(format!("Party codes: {}", codes.join("; "))));
    }
    for i in 0..p.len(&format!("{at}/taxLegalReferences")) {
        let here = format!("{at}/taxLegalReferences/{i}");
        let parts: Vec<String> = ["type", "countryCode", "value"]
            .iter()
            .filter_map(|f| p.text(&format!("{here}/{f}")))
            .collect();
        if !parts.is_empty() {
            lines.push(Para::detail(format!(
                "Tax/legal reference: {}",
                parts.join(" ")
            )));
        }
    }
    lines
}

fn address(p: &mut Particulars, at: &str) -> Vec<Para> {
    let mut field = |name: &str| p.text(&format!("{at}/{name}"));
    let street = [field("street"), field("streetNumber")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let floor = field("floor").map(|f| format!("floor {f}"));
    let po_box = field("POBox").map(|b| format!("PO Box {b}"));
    let city = [field("postCode"), field("city")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let region = [field("stateRegion"), field("countryCode")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    let locode = field("UNLocationCode").map(|c| format!("UN/LOCODE {c}"));
    let first = [Some(street).filter(|s| !s.is_empty()), floor]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    [Some(first), po_box, Some(city), Some(region), locode]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .map(Para::value)
        .collect()
}

/// A DCSA location (port, place, place of issue): displayed name, name, UN/LOCODE, facility,
/// address, country.
fn location(p: &mut Particulars, at: &str, displayed: &str) -> Vec<Para> {
    let mut lines: Vec<Para> = if displayed.is_empty() {
        Vec::new()
    } else {
        p.texts(displayed).into_iter().map(Para::strong).collect()
    };
    if let Some(name) = p.text(&format!("{at}/locationName")) {
        lines.push(Para::strong(name));
    }
    if let Some(free) = p.text(&format!("{at}/freeText")) {
        lines.push(Para::strong(free));
    }
    if let Some(code) = p.text(&format!("{at}/UNLocationCode")) {
        lines.push(if lines.is_empty() {
            Para::strong(code)
        } else {
            Para::detail(format!("UN/LOCODE {code}"))
        });
    }
    let facility = [
        p.text(&format!("{at}/facility/facilityCode")),
        p.text(&format!("{at}/facility/facilityCodeListProvider")),
    ];
    match facility {
        [Some(code), Some(list)] => lines.push(Para::detail(format!("Facility {code} ({list})"))),
        [Some(code), None] => lines.push(Para::detail(format!("Facility {code}"))),
        _ => {}
    }
    lines.extend(address(p, &format!("{at}/address")));
    if let Some(country) = p.text(&format!("{at}/countryCode")) {
        lines.push(Para::detail(format!("Country {country}")));
    }
    lines
}

/// `{"value": "12000.5", "unit": "KGM"}` as `12000.5 KGM`.
fn measure(p: &mut Particulars, at: &str) -> Option<String> {
    let value = p.text(&format!("{at}/value"))?;
    Some(match p.text(&format!("{at}/unit")) {
        Some(unit) => format!("{value} {unit}"),
        None => value,
    })
}

/// Marks and numbers, packages, goods and weights: one row per consignment item; each cargo
/// item's packages beside its weight.
fn cargo(p: &mut Particulars) -> Option<Table> {
    let columns = [
        (0.22, "Marks and numbers"),
        (0.22, "Number and kind of packages"),
        (0.36, "Description of goods"),
        (0.2, "Gross weight"),
    ];
    let mut rows = Vec::new();
    for i in 0..p.len("/consignmentItems") {
        let at = format!("/consignmentItems/{i}");
        let marks: Vec<Para> = p
            .texts(&format!("{at}/shippingMarks"))
            .into_iter()
            .map(Para::value)
            .collect();
        let mut goods: Vec<Para> = p
            .texts(&format!("{at}/descriptionOfGoods"))
            .into_iter()
            .map(Para::value)
            .collect();
        let hs = p.texts(&format!("{at}/HSCodes"));
        if !hs.is_empty() {
            goods.push(Para::detail(format!("HS code {}", hs.join(", "))));
        }
        let mut packages = Vec::new();
        let mut weights = Vec::new();
        for j in 0..p.len(&format!("{at}/cargoItems")) {
            let item = format!("{at}/cargoItems/{j}");
            let pack = format!("{item}/outerPackaging");
            let count = p.text(&format!("{pack}/numberOfPackages"));
            let kind = p.text(&format!("{pack}/description"));
            let code = p.text(&format!("{pack}/packageCode"));
            let mut text = [count, kind]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            if let Some(code) = code {
                text = if text.is_empty() {
                    code
                } else {
                    format!("{text} ({code})")
                };
            }
            let mut group = Vec::new();
            if !text.is_empty() {
                group.push(Para::value(text));
            }
            if let Some(container) = p.text(&format!("{item}/equipmentReference")) {
                group.push(Para::detail(format!("in {container}")));
            }
            packages.push(group);
            weights.push(
                measure(p, &format!("{item}/cargoGrossWeight"))
                    .map(Para::value)
                    .into_iter()
                    .collect(),
            );
        }
        rows.push(vec![vec![marks], packages, vec![goods], weights]);
    }
    Table::new(&columns, rows)
}

fn containers(p: &mut Particulars) -> Option<Table> {
    let columns = [(0.3, "Container"), (0.25, "Size and type"), (0.45, "Seals")];
    let mut rows = Vec::new();
    for i in 0..p.len("/utilizedTransportEquipments") {
        let at = format!("/utilizedTransportEquipments/{i}");
        let number: Vec<Para> = p
            .text(&format!("{at}/equipment/equipmentReference"))
            .map(Para::strong)
            .into_iter()
            .collect();
        let mut kind: Vec<Para> = p
            .text(&format!("{at}/equipment/ISOEquipmentCode"))
            .map(Para::value)
            .into_iter()
            .collect();
        if p.flag(&format!("{at}/isShipperOwned")) == Some(true) {
            kind.push(Para::detail("Shipper-owned"));
        }
        if let Some(tare) = measure(p, &format!("{at}/equipment/tareWeight")) {
            kind.push(Para::detail(format!("Tare {tare}")));
        }
        let mut seals = Vec::new();
        for s in 0..p.len(&format!("{at}/seals")) {
            let seal = format!("{at}/seals/{s}");
            match (
                p.text(&format!("{seal}/number")),
                p.text(&format!("{seal}/source")),
            ) {
                (Some(n), Some(source)) => seals.push(Para::value(format!("{n} ({source})"))),
                (Some(n), None) => seals.push(Para::value(n)),
                _ => {}
            }
        }
        rows.push(vec![vec![number], vec![kind], vec![seals]]);
    }
    Table::new(&columns, rows)
}

fn charges(p: &mut Particulars) -> Option<Table> {
    let columns = [
        (0.26, "Charge"),
        (0.18, "Basis"),
        (0.13, "Rate"),
        (0.1, "Quantity"),
        (0.19, "Amount"),
        (0.14, "Prepaid or collect"),
    ];
    let mut rows = Vec::new();
    for i in 0..p.len("/charges") {
        let at = format!("/charges/{i}");
        let mut cell = |field: &str| -> Vec<Vec<Para>> {
            vec![
                p.text(&format!("{at}/{field}"))
                    .map(Para::value)
                    .into_iter()
                    .collect(),
            ]
        };
        let name = cell("chargeName");
        let basis = cell("calculationBasis");
        let rate = cell("unitPrice");
        let quantity = cell("quantity");
        let amount = match (
            p.text(&format!("{at}/currencyAmount")),
            p.text(&format!("{at}/currencyCode")),
        ) {
            (Some(a), Some(c)) => vec![Para::value(format!("{a} {c}"))],
            (Some(a), None) => vec![Para::value(a)],
            (None, Some(c)) => vec![Para::value(c)],
            (None, None) => Vec::new(),
        };
        let terms = match p.text(&format!("{at}/paymentTermCode")).as_deref() {
            Some("PRE") => vec![Para::value("Prepaid")],
            Some("COL") => vec![Para::value("Collect")],
            Some(other) => vec![Para::value(other)],
            None => Vec::new(),
        };
        rows.push(vec![name, basis, rate, quantity, vec![amount], vec![terms]]);
    }
    Table::new(&columns, rows)
}

/// `ENDORSE_TO_ORDER` as "Endorse to order".
fn words(code: &str) -> String {
    let lower = code.replace('_', " ").to_lowercase();
    let mut chars = lower.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A party of the record: its name, and its code beneath when the name differs.
fn who(code: &PartyCode, names: &PartyNames) -> Vec<Para> {
    let name = names.name(code);
    if name == code.as_str() {
        vec![Para::value(code.as_str())]
    } else {
        vec![Para::value(name), Para::detail(code.as_str())]
    }
}

fn ledger_row(blocks: &mut Vec<Block>, record: &Record<'_>) {
    let doc = record.doc;
    let mut status = vec![
        Para::strong(words(doc.status.code())),
        Para::detail(doc.status.code()),
        Para::detail(format!("since {}", iso8601_utc(doc.updated_at.ms()))),
        Para::detail(format!("{} actions recorded", doc.sequence)),
    ];
    if let Some(mode) = doc.mode {
        status.push(Para::detail(format!("Title: {}", words(&mode.to_string()))));
    }
    if let Some(amends) = &doc.amends {
        status.push(Para::detail(format!("Amends {amends}")));
    }
    if let Some(by) = &doc.amended_by {
        status.push(Para::detail(format!("Replaced by {by}")));
    }
    let held = doc
        .possessor
        .as_ref()
        .map(|p| who(p, record.names))
        .unwrap_or_default();
    let title = doc
        .endorsee
        .as_ref()
        .map(|p| who(p, record.names))
        .unwrap_or_default();
    if let Some(row) = Row::boxes(vec![
        BoxSpec::new(0.34, "Status", status),
        BoxSpec::new(0.33, "Held by (in control)", held),
        BoxSpec::new(0.33, "Title holder (endorsee)", title),
    ]) {
        blocks.push(Block::Row(row));
    }
}

/// The endorsement chain, oldest first, with each entry's ledger coordinates.
fn chain(links: &[ChainLink], names: &PartyNames) -> Option<Table> {
    let columns = [
        (0.04, "No."),
        (0.14, "Date (UTC)"),
        (0.18, "Action"),
        (0.17, "By"),
        (0.17, "To"),
        // Wide enough for half a transaction hash on one line.
        (0.30, "Ledger entry"),
    ];
    let rows = links
        .iter()
        .enumerate()
        .map(|(i, link)| {
            let at = iso8601_utc(link.time_ms);
            let (date, time) = at.split_once('T').unwrap_or((&at, ""));
            let mut action = vec![
                Para::value(words(link.action_code)),
                Para::detail(link.action_code),
            ];
            if let Some(code) = link.reason_code {
                action.push(Para::detail(format!("reason {code}")));
            }
            if let Some(comment) = &link.comment {
                action.push(Para::detail(format!("comment: {comment}")));
            }
            let (first, second) = link.tx_hash.split_at(link.tx_hash.len() / 2);
            vec![
                vec![vec![Para::value((i + 1).to_string())]],
                vec![vec![
                    Para::value(date),
                    Para::detail(time.trim_end_matches('Z')),
                ]],
                vec![action],
                vec![who(&link.actor, names)],
                vec![
                    link.recipient
                        .as_ref()
                        .map(|r| who(r, names))
                        .unwrap_or_default(),
                ],
                vec![vec![
                    Para::detail(format!(
                        "block {}, position {}, transaction",
                        link.height, link.position
                    )),
                    Para::detail(first),
                    Para::detail(second),
                ]],
            ]
        })
        .collect();
    Table::new(&columns, rows)
}

fn party_label(code: &PartyCode, names: &PartyNames) -> String {
    let name = names.name(code);
    if name == code.as_str() {
        code.to_string()
    } else {
        format!("{name} ({code})")
    }
}

fn marking(record: &Record<'_>) -> (&'static str, Vec<Para>) {
    let doc = record.doc;
    let Some(paper) = record.paper else {
        let mut lines = vec![
            Para::strong(COPY_NOTICE),
            Para::value(format!(
                "This is a rendering of an electronic record on the Silkline ledger as it stood at {}. It gives no title to the goods and no right to take delivery of them.",
                iso8601_utc(doc.updated_at.ms())
            )),
        ];
        if record.verify_url.is_some() {
            lines.push(Para::value(
                "Scan the QR code, or open the address printed beside it, to see whether the document is genuine and what state the record is in now.",
            ));
        }
        return ("Copy", lines);
    };
    let evidence = |what: &str, link: &ChainLinkAt| {
        Para::value(format!(
            "{what} by {} at {}, block {}, transaction {}.",
            party_label(&link.actor, record.names),
            iso8601_utc(link.time_ms),
            link.height,
            link.tx_hash
        ))
    };
    (
        "Change of medium",
        vec![
            Para::strong(CHANGE_OF_MEDIUM_STATEMENT),
            evidence(
                "Surrender for amendment (SWITCH_TO_PAPER)",
                &paper.requested,
            ),
            evidence("Surrender accepted", &paper.accepted),
        ],
    )
}

/// A working copy of the content from which the boxes take what they print.
pub(super) struct Particulars {
    rest: Value,
}

impl Particulars {
    pub(super) fn new(content: &Value) -> Particulars {
        Particulars {
            rest: content.clone(),
        }
    }

    /// Takes the scalar at `pointer` as printed: strings as they are, numbers in JSON notation,
    /// booleans as yes or no. An object or array is left for "Further particulars".
    pub(super) fn text(&mut self, pointer: &str) -> Option<String> {
        let slot = self.rest.pointer_mut(pointer)?;
        let text = match &*slot {
            Value::Object(_) | Value::Array(_) | Value::Null => return None,
            scalar => printed(scalar),
        };
        *slot = Value::Null;
        Some(text)
    }

    /// Takes a boolean.
    fn flag(&mut self, pointer: &str) -> Option<bool> {
        let slot = self.rest.pointer_mut(pointer)?;
        let value = slot.as_bool()?;
        *slot = Value::Null;
        Some(value)
    }

    /// Takes an array of scalars (or one scalar) as lines.
    fn texts(&mut self, pointer: &str) -> Vec<String> {
        if let Some(one) = self.text(pointer) {
            return vec![one];
        }
        (0..self.len(pointer))
            .filter_map(|i| self.text(&format!("{pointer}/{i}")))
            .collect()
    }

    /// The length of the array at `pointer`; 0 when there is none.
    fn len(&self, pointer: &str) -> usize {
        self.rest
            .pointer(pointer)
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    }

    /// Every scalar no box took, as `(path, value)`, in document order; a
    /// `{"value", "unit"}` pair on one line.
    pub(super) fn remaining(mut self) -> Vec<(String, String)> {
        prune(&mut self.rest);
        let mut out = Vec::new();
        flatten(&self.rest, "", &mut out, 0);
        out
    }
}

fn printed(scalar: &Value) -> String {
    match scalar {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Removes nulls and emptied objects; an emptied array element stays as null, so the others
/// keep their numbers.
fn prune(value: &mut Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => {
            map.retain(|_, v| !prune(v));
            map.is_empty()
        }
        Value::Array(items) => {
            let mut empty = true;
            for item in items.iter_mut() {
                if prune(item) {
                    *item = Value::Null;
                } else {
                    empty = false;
                }
            }
            empty
        }
        _ => false,
    }
}

fn flatten(value: &Value, path: &str, out: &mut Vec<(String, String)>, depth: usize) {
    let join = |name: String| {
        if path.is_empty() {
            name
        } else {
            format!("{path} / {name}")
        }
    };
    if depth > DEPTH_MAX {
        out.push((path.to_owned(), "(nested too deep to print)".to_owned()));
        return;
    }
    match value {
        Value::Null => {}
        Value::Object(map) => {
            if let (2, Some(v), Some(Value::String(unit))) =
                (map.len(), map.get("value"), map.get("unit"))
                && !v.is_object()
                && !v.is_array()
            {
                out.push((path.to_owned(), format!("{} {unit}", printed(v))));
                return;
            }
            for (key, item) in map {
                flatten(item, &join(label(key)), out, depth + 1);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(item, &format!("{path} {}", i + 1), out, depth + 1);
            }
        }
        scalar => out.push((path.to_owned(), printed(scalar))),
    }
}

/// A DCSA field name as words: `UNLocationCode` -> `UN location code`, `vesselName` ->
/// `Vessel name`; acronyms keep their capitals.
pub(super) fn label(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && c.is_ascii_uppercase() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                words.push(std::mem::take(&mut current));
            }
        }
        current.push(c);
    }
    words.push(current);
    words
        .iter()
        .enumerate()
        .map(|(i, word)| {
            let acronym = word.len() > 1 && word.chars().all(|c| !c.is_ascii_lowercase());
            if acronym {
                word.clone()
            } else if i == 0 {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            } else {
                word.to_lowercase()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_split_camel_case_and_keep_acronyms() {
        assert_eq!(label("UNLocationCode"), "UN location code");
        assert_eq!(label("vesselName"), "Vessel name");
        assert_eq!(label("HSCodes"), "HS codes");
        assert_eq!(label("ISOEquipmentCode"), "ISO equipment code");
        assert_eq!(label("POBox"), "PO box");
        assert_eq!(
            label("numberOfOriginalsWithCharges"),
            "Number of originals with charges"
        );
    }

    #[test]
    fn what_no_box_took_remains_with_its_path() {
        let mut p = Particulars::new(&json!({
            "a": "x",
            "items": [{"b": 1, "c": true}, {"b": 2}],
            "weight": {"value": "10.5", "unit": "KGM"},
            "typeOfPerson": "ORG",
            "empty": null,
        }));
        assert_eq!(p.text("/a").as_deref(), Some("x"));
        assert_eq!(p.text("/items/0/b").as_deref(), Some("1"));
        assert_eq!(p.text("/items/1/b").as_deref(), Some("2"));
        // A taken value is gone: taking it again gives nothing.
        assert_eq!(p.text("/a"), None);
        // An object is not a scalar: it stays.
        assert_eq!(p.text("/weight"), None);
        assert_eq!(
            p.remaining(),
            [
                ("Items 1 / C".to_owned(), "yes".to_owned()),
                ("Type of person".to_owned(), "ORG".to_owned()),
                ("Weight".to_owned(), "10.5 KGM".to_owned()),
            ]
        );
    }
}
