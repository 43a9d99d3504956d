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
//! This module reads the boxes in page order; `parties` reads parties, addresses and locations,
//! `cargo` the cargo, containers and charges tables, `record` the ledger's record, its
//! endorsement chain and the marking, `particulars` the working copy and "Further particulars".
//!
//! Not here: placing text on pages (`layout`) or the PDF itself (`draw`).

mod cargo;
mod particulars;
mod parties;
mod record;

use doc_workflow::{DocumentKind, DocumentState};
use serde_json::Value;

use super::layout::{Block, BoxSpec, GAP_PT, Para, Row};
use super::paper::PaperEvidence;
use crate::dcsa::{ChainLink, PartyNames};

use cargo::{cargo, charges, containers};
use particulars::Particulars;
use parties::{booking_references, carrier, consignee, location, party};
use record::{chain, ledger_row, marking};

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
