//! A printable rendering of a bill of lading or sea waybill: every field of its DCSA content, the
//! full endorsement chain, the document checksum and a QR code carrying the reference and the
//! checksum.
//!
//! An ordinary rendering is a copy and says so on every page ([`COPY_NOTICE`]): under MLETR the
//! ledger record is the one original. A *switch-to-paper* rendering is the paper that replaces
//! the electronic record (MLETR art. 17-18, change of medium); it is allowed only for a bill
//! whose holder surrendered it for amendment with reason `SWITCH_TO_PAPER` and whose carrier
//! accepted that surrender, and it carries the change-of-medium statement.
//!
//! Layout is deliberately simple and exact: body text is Courier (every character is 0.6 em
//! wide), so wrapping needs no font metrics; the content is walked generically, so a DCSA field
//! Silkline does not model is printed all the same. The same input gives the same bytes: the
//! PDF's dates are the document's last block time and its file identifier is derived from the
//! document, never from a clock or a random source.

use doc_workflow::{AmendmentReason, DocumentKey, DocumentKind, DocumentState, EventKind, Status};
use ledger::chain::HistoryEntry;
use printpdf::{
    BuiltinFont, Color, Op, PaintMode, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point,
    Pt, Rect, Rgb, TextItem,
};
use qrcode::QrCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::COPY_NOTICE;
use crate::dcsa::{self, ChainLink, ExportError, PartyNames};
use crate::time::iso8601_utc;

/// Most pages one rendering may have. The content is bounded (64 KiB of canonical JSON is about
/// 40 pages) but a history is not; 500 pages bounds the memory and time of one request.
pub const PAGES_MAX: usize = 500;

/// A4 portrait, in points (210 x 297 mm).
const PAGE_WIDTH_PT: f32 = 595.28;
const PAGE_HEIGHT_PT: f32 = 841.89;
/// 15 mm margins.
const MARGIN_PT: f32 = 42.5;
/// Body text size. Courier's advance is 0.6 em, so 8.5 pt gives 5.1 pt per character.
const BODY_PT: f32 = 8.5;
/// Characters per body line: the text width (510 pt) over Courier's 5.1 pt advance.
const BODY_CHARS: usize = 100;
/// Characters per line beside the QR code on the first page.
const BESIDE_QR_CHARS: usize = 76;
/// Side of the QR code, including its 4-module quiet zone.
const QR_SIDE_PT: f32 = 96.0;
/// Space kept at the foot of each page for the page footer.
const FOOTER_PT: f32 = 24.0;
/// Deepest nesting printed; content is at most 16 deep (`content::CONTENT_DEPTH_MAX`).
const DEPTH_MAX: usize = 16;

/// The MLETR change-of-medium statement a switch-to-paper rendering carries (art. 18: the paper
/// must carry all the information of the record and a statement of the change of medium).
pub const CHANGE_OF_MEDIUM_STATEMENT: &str = "CHANGE OF MEDIUM (UNCITRAL MLETR art. 18): this paper document replaces the electronic transferable record identified below. It carries all the information of that record. The electronic record was surrendered for amendment with reason SWITCH_TO_PAPER, the surrender was accepted by the issuing carrier, and the electronic record is made inoperative: it can no longer be transferred, endorsed or surrendered on the ledger.";

/// How to render.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// Render the paper original that replaces the electronic record (change of medium) instead
    /// of a copy. Refused unless the switch to paper was requested and accepted.
    pub switch_to_paper: bool,
    /// Names for parties the content does not name (e.g. from the ledger's party records).
    pub names: PartyNames,
}

/// Why a rendering was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfError {
    /// Only bills of lading and sea waybills have a printable form.
    #[error("document {document} is a {kind}; only bills of lading and sea waybills are rendered")]
    NotATransportDocument {
        document: DocumentKey,
        kind: DocumentKind,
    },
    /// The history could not be read as this document's chain.
    #[error(transparent)]
    History(#[from] ExportError),
    /// A switch-to-paper rendering was asked for a document that may not leave the ledger.
    #[error("switch to paper refused for {document}: {rule}")]
    SwitchToPaperRefused { document: DocumentKey, rule: String },
    #[error("the rendering of {document} needs {pages} pages; at most {PAGES_MAX} are produced")]
    TooManyPages { document: DocumentKey, pages: usize },
    #[error("the QR code could not be encoded: {0}")]
    Qr(String),
    #[error("the PDF could not be written: {0}")]
    Write(String),
}

/// What the QR code says: the document's key and its content checksum, enough for a reader to
/// look the record up and check that the paper matches it.
pub fn qr_payload(doc: &DocumentState, checksum: &str) -> String {
    format!("silkline:{}?sha256={checksum}", doc.id)
}

/// Renders `doc` and its `history` (oldest first, as the ledger returns it) as PDF bytes.
pub fn render(
    doc: &DocumentState,
    history: &[HistoryEntry],
    options: &RenderOptions,
) -> Result<Vec<u8>, PdfError> {
    let key = dcsa::document_key(doc);
    if doc.kind == DocumentKind::CargoRelease {
        return Err(PdfError::NotATransportDocument {
            document: key,
            kind: doc.kind,
        });
    }
    let Some(record) = &doc.content else {
        return Err(ExportError::NoContent { document: key }.into());
    };
    let links = dcsa::chain_links(&key, &doc.carrier, history)?;
    let paper = if options.switch_to_paper {
        Some(switch_to_paper_evidence(doc, &key, history)?)
    } else {
        None
    };
    let content = record.json();
    let checksum = dcsa::checksum(&content);
    let mut names = PartyNames::from_content(&content);
    names.extend(&options.names);

    let mut lines = Lines::default();
    header(&mut lines, doc, &checksum, paper.as_ref(), &names);
    current_state(&mut lines, doc, &names);
    content_sections(&mut lines, &content);
    chain_section(&mut lines, &links, &names);

    let qr = QrCode::new(qr_payload(doc, &checksum).as_bytes())
        .map_err(|e| PdfError::Qr(e.to_string()))?;
    let marking = match paper {
        Some(_) => "PAPER ORIGINAL BY CHANGE OF MEDIUM - the electronic record is inoperative",
        None => COPY_NOTICE,
    };
    let pages = paginate(&lines.0);
    if pages.len() > PAGES_MAX {
        return Err(PdfError::TooManyPages {
            document: key,
            pages: pages.len(),
        });
    }
    let count = pages.len();
    let pdf_pages = pages
        .into_iter()
        .enumerate()
        .map(|(i, page)| {
            let footer = format!(
                "{} - {} - page {} of {count}",
                doc.id,
                &checksum[..16],
                i + 1
            );
            let mut ops = page_ops(&page, marking, &footer);
            if i == 0 {
                qr_ops(&qr, &mut ops);
            }
            PdfPage::new(
                printpdf::Mm::from(Pt(PAGE_WIDTH_PT)),
                printpdf::Mm::from(Pt(PAGE_HEIGHT_PT)),
                ops,
            )
        })
        .collect();

    let title = format!("{} {}", kind_title(doc.kind), doc.id);
    let mut pdf = PdfDocument::new(&title);
    // Fixed metadata: the document's last block time, never the clock.
    let at = i64::try_from(doc.updated_at.ms() / 1000).unwrap_or(i64::MAX);
    let date = printpdf::OffsetDateTime::from_unix_timestamp(at)
        .map_err(|e| PdfError::Write(e.to_string()))?;
    pdf.metadata.info.creation_date = date;
    pdf.metadata.info.modification_date = date;
    pdf.metadata.info.metadata_date = date;
    pdf.metadata.info.identifier = checksum.clone();
    pdf.metadata.info.creator = "Silkline".into();
    pdf.metadata.info.producer = "Silkline adapters".into();
    pdf.metadata.info.subject = marking.into();
    pdf.with_pages(pdf_pages);

    let mut warnings = Vec::new();
    let mut lo = pdf.to_lopdf_document(&PdfSaveOptions::default(), &mut warnings);
    // printpdf fills the trailer's file identifier from a process-wide counter; replace it with
    // one derived from what is rendered, so the same input gives the same bytes.
    let file_id = file_identifier(doc, &checksum, paper.is_some());
    lo.trailer.set(
        "ID",
        lopdf::Object::Array(vec![
            lopdf::Object::String(file_id.clone(), lopdf::StringFormat::Hexadecimal),
            lopdf::Object::String(file_id, lopdf::StringFormat::Hexadecimal),
        ]),
    );
    lo.compress();
    let mut bytes = Vec::new();
    lo.save_to(&mut bytes)
        .map_err(|e| PdfError::Write(e.to_string()))?;
    Ok(bytes)
}

fn file_identifier(doc: &DocumentState, checksum: &str, paper: bool) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(b"silkline-pdf-v1");
    hasher.update(doc.state_hash().0);
    hasher.update(checksum.as_bytes());
    hasher.update([u8::from(paper)]);
    hasher.finalize()[..16].to_vec()
}

/// The accepted switch-to-paper surrender that allows a paper original.
struct PaperEvidence {
    requested: ChainLinkAt,
    accepted: ChainLinkAt,
}

struct ChainLinkAt {
    actor: doc_workflow::PartyCode,
    time_ms: u64,
    height: u64,
    tx_hash: String,
}

impl From<&HistoryEntry> for ChainLinkAt {
    fn from(entry: &HistoryEntry) -> Self {
        ChainLinkAt {
            actor: entry.event.actor.clone(),
            time_ms: entry.time_ms,
            height: entry.height,
            tx_hash: entry.tx_hash.to_string(),
        }
    }
}

/// The rule: a bill of lading, surrendered for amendment with reason `SWITCH_TO_PAPER`, that
/// surrender accepted by the carrier (status `SURRENDERED_FOR_AMENDMENT`, or `VOIDED` afterwards
/// without a replacement electronic bill), as both the state and the history show.
fn switch_to_paper_evidence(
    doc: &DocumentState,
    key: &DocumentKey,
    history: &[HistoryEntry],
) -> Result<PaperEvidence, PdfError> {
    let refuse = |rule: String| PdfError::SwitchToPaperRefused {
        document: key.clone(),
        rule,
    };
    if doc.kind != DocumentKind::BillOfLading {
        return Err(refuse(format!(
            "only a bill of lading can change medium; this is a {}",
            doc.kind
        )));
    }
    if !matches!(doc.status, Status::SurrenderedForAmendment | Status::Voided) {
        return Err(refuse(format!(
            "the bill must have been surrendered for amendment with reason SWITCH_TO_PAPER and the surrender accepted; its status is {}",
            doc.status
        )));
    }
    let reason = doc.surrender.as_ref().and_then(|s| s.amendment_reason);
    if reason != Some(AmendmentReason::SwitchToPaper) {
        return Err(refuse(format!(
            "the accepted surrender for amendment gave reason {}, not SWITCH_TO_PAPER",
            reason.map_or("none".to_owned(), |r| dcsa::reason_code(r).to_owned())
        )));
    }
    if let Some(replacement) = &doc.amended_by {
        return Err(refuse(format!(
            "the bill was replaced by the electronic bill {replacement}; it cannot also go to paper"
        )));
    }
    // The history must show the request and, after it, the acceptance.
    let mut requested = None;
    let mut accepted = None;
    for entry in history {
        match &entry.event.kind {
            EventKind::SurrenderedForAmendment { reason } => {
                requested = (*reason == AmendmentReason::SwitchToPaper).then_some(entry);
                accepted = None;
            }
            EventKind::SurrenderAccepted {
                status: Status::SurrenderedForAmendment,
            } if requested.is_some() => accepted = Some(entry),
            EventKind::SurrenderRejected { .. } => {
                requested = None;
                accepted = None;
            }
            _ => {}
        }
    }
    match (requested, accepted) {
        (Some(requested), Some(accepted)) => Ok(PaperEvidence {
            requested: requested.into(),
            accepted: accepted.into(),
        }),
        _ => Err(refuse(
            "the history given does not show a SWITCH_TO_PAPER surrender and its acceptance"
                .to_owned(),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Lines: what is printed, before it is placed on pages.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Title,
    Heading,
    Body,
    Statement,
    Gap,
}

impl Style {
    fn font(self) -> BuiltinFont {
        match self {
            Style::Title | Style::Heading | Style::Statement => BuiltinFont::HelveticaBold,
            Style::Body | Style::Gap => BuiltinFont::Courier,
        }
    }

    fn size_pt(self) -> f32 {
        match self {
            Style::Title => 16.0,
            Style::Heading => 10.5,
            Style::Statement => 8.5,
            Style::Body | Style::Gap => BODY_PT,
        }
    }

    fn height_pt(self) -> f32 {
        match self {
            Style::Title => 22.0,
            Style::Heading => 18.0,
            Style::Statement => 11.0,
            Style::Body => 10.5,
            Style::Gap => 6.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Line {
    style: Style,
    text: String,
}

#[derive(Default)]
struct Lines(Vec<Line>);

impl Lines {
    fn push(&mut self, style: Style, text: impl Into<String>) {
        self.0.push(Line {
            style,
            text: text.into(),
        });
    }

    fn heading(&mut self, text: &str) {
        self.push(Style::Heading, text);
    }

    /// A body line, wrapped at `width` characters; continuation lines are indented two more.
    fn body(&mut self, indent: usize, text: &str, width: usize) {
        for (i, piece) in wrap(text, width.saturating_sub(indent + 2).max(20))
            .into_iter()
            .enumerate()
        {
            let pad = if i == 0 { indent } else { indent + 2 };
            self.push(Style::Body, format!("{}{piece}", " ".repeat(pad)));
        }
    }

    fn field(&mut self, indent: usize, label: &str, value: &str) {
        self.body(indent, &format!("{label}: {value}"), BODY_CHARS);
    }
}

/// Splits `text` into pieces of at most `width` characters, at spaces where it can.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        let mut word = word.to_owned();
        loop {
            let used = current.chars().count();
            let needed = word.chars().count() + usize::from(used > 0);
            if used + needed <= width {
                if used > 0 {
                    current.push(' ');
                }
                current.push_str(&word);
                break;
            }
            if used > 0 {
                out.push(std::mem::take(&mut current));
                continue;
            }
            // A word longer than a line (a hash, a long code): break it hard.
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            out.push(head);
            if word.is_empty() {
                break;
            }
        }
    }
    if !current.is_empty() || out.is_empty() {
        out.push(current);
    }
    out
}

fn kind_title(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::BillOfLading => "BILL OF LADING",
        DocumentKind::SeaWaybill => "SEA WAYBILL",
        DocumentKind::CargoRelease => "CARGO RELEASE",
    }
}

fn party_label(code: &doc_workflow::PartyCode, names: &PartyNames) -> String {
    let name = names.name(code);
    if name == code.as_str() {
        code.to_string()
    } else {
        format!("{name} ({code})")
    }
}

fn header(
    lines: &mut Lines,
    doc: &DocumentState,
    checksum: &str,
    paper: Option<&PaperEvidence>,
    names: &PartyNames,
) {
    lines.push(Style::Title, kind_title(doc.kind));
    let beside = |lines: &mut Lines, text: &str| lines.body(0, text, BESIDE_QR_CHARS);
    beside(
        lines,
        &format!(
            "Transport document reference: {}   Carrier: {}",
            doc.id.reference, doc.id.carrier
        ),
    );
    beside(
        lines,
        "Document checksum (SHA-256 of RFC 8785 canonical JSON):",
    );
    beside(lines, checksum);
    match paper {
        None => {
            beside(
                lines,
                "This is a rendering of an electronic record on the Silkline ledger.",
            );
            beside(lines, COPY_NOTICE);
        }
        Some(evidence) => {
            beside(lines, "Paper original issued by change of medium.");
            lines.push(Style::Gap, "");
            for piece in wrap(CHANGE_OF_MEDIUM_STATEMENT, 110) {
                lines.push(Style::Statement, piece);
            }
            lines.body(
                0,
                &format!(
                    "Surrender for amendment (SWITCH_TO_PAPER) by {} at {}, block {}, transaction {}.",
                    party_label(&evidence.requested.actor, names),
                    iso8601_utc(evidence.requested.time_ms),
                    evidence.requested.height,
                    evidence.requested.tx_hash
                ),
                BODY_CHARS,
            );
            lines.body(
                0,
                &format!(
                    "Surrender accepted by {} at {}, block {}, transaction {}.",
                    party_label(&evidence.accepted.actor, names),
                    iso8601_utc(evidence.accepted.time_ms),
                    evidence.accepted.height,
                    evidence.accepted.tx_hash
                ),
                BODY_CHARS,
            );
        }
    }
    // Keep the QR code clear of the full-width text that follows.
    let used: f32 = lines.0.iter().map(|l| l.style.height_pt()).sum();
    if used < QR_SIDE_PT {
        lines.push(Style::Gap, "");
        let mut filled = used + Style::Gap.height_pt();
        while filled < QR_SIDE_PT {
            lines.push(Style::Gap, "");
            filled += Style::Gap.height_pt();
        }
    }
}

fn current_state(lines: &mut Lines, doc: &DocumentState, names: &PartyNames) {
    lines.heading("Record on the ledger");
    let opt = |p: &Option<doc_workflow::PartyCode>| {
        p.as_ref().map_or("-".to_owned(), |p| party_label(p, names))
    };
    lines.field(0, "Status", doc.status.code());
    lines.field(
        0,
        "Mode",
        &doc.mode.map_or("-".to_owned(), |m| m.to_string()),
    );
    lines.field(0, "Possessor (in control)", &opt(&doc.possessor));
    lines.field(0, "Endorsee (title holder)", &opt(&doc.endorsee));
    lines.field(0, "Issuing carrier", &party_label(&doc.carrier, names));
    if let Some(amends) = &doc.amends {
        lines.field(0, "Amends (voided bill)", amends.as_str());
    }
    if let Some(by) = &doc.amended_by {
        lines.field(0, "Amended by", by.as_str());
    }
    lines.field(0, "Actions recorded", &doc.sequence.to_string());
    lines.field(0, "Last change", &iso8601_utc(doc.updated_at.ms()));
}

/// The content's sections, in the order a bill is read; whatever else the content holds follows
/// under "Other fields", so nothing is left out.
const SECTIONS: [(&str, &[&str]); 6] = [
    (
        "Document",
        &[
            "transportDocumentReference",
            "transportDocumentTypeCode",
            "transportDocumentStatus",
            "isToOrder",
            "isElectronic",
            "shippingInstructionsReference",
            "carrierCode",
            "carrierCodeListProvider",
            "freightPaymentTermCode",
            "numberOfOriginalsWithCharges",
            "numberOfOriginalsWithoutCharges",
            "numberOfCopiesWithCharges",
            "numberOfCopiesWithoutCharges",
        ],
    ),
    (
        "Dates",
        &[
            "issueDate",
            "shippedOnBoardDate",
            "receivedForShipmentOnBoardDate",
            "termsAndConditions",
        ],
    ),
    ("Parties", &["documentParties", "partyContactDetails"]),
    (
        "Vessel, voyage, ports and places",
        &[
            "transports",
            "receiptTypeAtOrigin",
            "deliveryTypeAtDestination",
            "cargoMovementTypeAtOrigin",
            "cargoMovementTypeAtDestination",
            "issuingParty",
            "placeOfIssue",
        ],
    ),
    ("Containers and seals", &["utilizedTransportEquipments"]),
    ("Consignment items", &["consignmentItems"]),
];

fn content_sections(lines: &mut Lines, content: &Value) {
    let Some(root) = content.as_object() else {
        lines.heading("Content");
        walk(lines, 0, "Value", content, 0);
        return;
    };
    let mut printed = std::collections::BTreeSet::new();
    let mut sections: Vec<(&str, Vec<&str>)> =
        SECTIONS.iter().map(|(t, f)| (*t, f.to_vec())).collect();
    sections.push(("Charges", vec!["charges"]));
    for (title, fields) in sections {
        let present: Vec<&str> = fields
            .into_iter()
            .filter(|f| root.get(*f).is_some_and(|v| !v.is_null()))
            .collect();
        if present.is_empty() {
            continue;
        }
        lines.heading(title);
        for field in present {
            printed.insert(field);
            walk(lines, 0, &label(field), &root[field], 0);
        }
    }
    let others: Vec<(&String, &Value)> = root
        .iter()
        .filter(|(k, v)| !printed.contains(k.as_str()) && !v.is_null())
        .collect();
    if !others.is_empty() {
        lines.heading("Other fields");
        for (key, value) in others {
            walk(lines, 0, &label(key), value, 0);
        }
    }
}

/// Prints `value` under `name`: scalars as `name: value`, objects as a header and their fields
/// indented, arrays of objects as numbered items, arrays of scalars joined on one line.
fn walk(lines: &mut Lines, indent: usize, name: &str, value: &Value, depth: usize) {
    if depth > DEPTH_MAX {
        lines.field(indent, name, "(nested too deep to print)");
        return;
    }
    match value {
        Value::Object(map) => {
            lines.body(indent, name, BODY_CHARS);
            for (key, item) in map {
                walk(lines, indent + 2, &label(key), item, depth + 1);
            }
        }
        Value::Array(items) if items.iter().all(|v| !v.is_object() && !v.is_array()) => {
            let joined: Vec<String> = items.iter().map(scalar).collect();
            lines.field(indent, name, &joined.join("; "));
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(lines, indent, &format!("{name} {}", i + 1), item, depth + 1);
            }
        }
        other => lines.field(indent, name, &scalar(other)),
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// `UNLocationCode` -> `UN Location Code`, `vesselName` -> `Vessel Name`.
fn label(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let mut out = String::with_capacity(key.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && c.is_ascii_uppercase() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push(' ');
            }
        }
        if i == 0 {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn chain_section(lines: &mut Lines, links: &[ChainLink], names: &PartyNames) {
    lines.heading("Endorsement chain (oldest first)");
    if links.is_empty() {
        lines.body(0, "No action since issue is recorded.", BODY_CHARS);
    }
    for (i, link) in links.iter().enumerate() {
        let to = link
            .recipient
            .as_ref()
            .map(|r| format!(" -> {}", party_label(r, names)))
            .unwrap_or_default();
        lines.body(
            0,
            &format!(
                "{}. {} by {}{to}",
                i + 1,
                link.action_code,
                party_label(&link.actor, names)
            ),
            BODY_CHARS,
        );
        let mut detail = format!(
            "at {}, block height {}, position {}",
            iso8601_utc(link.time_ms),
            link.height,
            link.position
        );
        if let Some(code) = link.reason_code {
            detail.push_str(&format!(", reason {code}"));
        }
        lines.body(4, &detail, BODY_CHARS);
        lines.body(4, &format!("transaction {}", link.tx_hash), BODY_CHARS);
        if let Some(comment) = &link.comment {
            lines.body(4, &format!("comment: {comment}"), BODY_CHARS);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------------------------

/// Space the marking takes at the head of every page.
const MARKING_PT: f32 = 20.0;

fn paginate(lines: &[Line]) -> Vec<Vec<Line>> {
    let usable = PAGE_HEIGHT_PT - 2.0 * MARGIN_PT - MARKING_PT - FOOTER_PT;
    let mut pages = vec![Vec::new()];
    let mut used = 0.0;
    for line in lines {
        let h = line.style.height_pt();
        // A heading never ends a page: it moves to the next one with what it heads.
        let keep = if line.style == Style::Heading {
            3.0 * Style::Body.height_pt()
        } else {
            0.0
        };
        if used + h + keep > usable && used > 0.0 {
            pages.push(Vec::new());
            used = 0.0;
        }
        used += h;
        pages
            .last_mut()
            .expect("at least one page")
            .push(line.clone());
    }
    pages
}

fn black() -> Color {
    Color::Rgb(Rgb {
        r: 0.0,
        g: 0.0,
        b: 0.0,
        icc_profile: None,
    })
}

fn text_op(ops: &mut Vec<Op>, font: BuiltinFont, size: f32, x: f32, y: f32, text: &str) {
    ops.push(Op::StartTextSection);
    ops.push(Op::SetFont {
        font: PdfFontHandle::Builtin(font),
        size: Pt(size),
    });
    ops.push(Op::SetTextCursor {
        pos: Point { x: Pt(x), y: Pt(y) },
    });
    ops.push(Op::ShowText {
        items: vec![TextItem::Text(text.to_owned())],
    });
    ops.push(Op::EndTextSection);
}

fn page_ops(lines: &[Line], marking: &str, footer: &str) -> Vec<Op> {
    let mut ops = vec![Op::SaveGraphicsState, Op::SetFillColor { col: black() }];
    let top = PAGE_HEIGHT_PT - MARGIN_PT;
    text_op(
        &mut ops,
        BuiltinFont::HelveticaBold,
        10.0,
        MARGIN_PT,
        top - 10.0,
        marking,
    );
    let mut y = top - MARKING_PT;
    for line in lines {
        y -= line.style.height_pt();
        if line.style != Style::Gap && !line.text.is_empty() {
            text_op(
                &mut ops,
                line.style.font(),
                line.style.size_pt(),
                MARGIN_PT,
                y + 2.0,
                &line.text,
            );
        }
    }
    text_op(
        &mut ops,
        BuiltinFont::Helvetica,
        7.5,
        MARGIN_PT,
        MARGIN_PT - 10.0,
        footer,
    );
    ops.push(Op::RestoreGraphicsState);
    ops
}

/// Draws the QR code at the top right of the first page: one filled square per dark module.
fn qr_ops(qr: &QrCode, ops: &mut Vec<Op>) {
    let modules = qr.width();
    let quiet = 4;
    let module_pt = QR_SIDE_PT / (modules + 2 * quiet) as f32;
    let left = PAGE_WIDTH_PT - MARGIN_PT - QR_SIDE_PT;
    let top = PAGE_HEIGHT_PT - MARGIN_PT - MARKING_PT;
    ops.push(Op::SaveGraphicsState);
    ops.push(Op::SetFillColor { col: black() });
    for (i, color) in qr.to_colors().into_iter().enumerate() {
        if color != qrcode::Color::Dark {
            continue;
        }
        let (row, col) = (i / modules, i % modules);
        let x = left + (col + quiet) as f32 * module_pt;
        let y = top - (row + quiet + 1) as f32 * module_pt;
        let mut module = Rect::from_xywh(Pt(x), Pt(y), Pt(module_pt), Pt(module_pt));
        // printpdf paints nothing for a rectangle without a mode.
        module.mode = Some(PaintMode::Fill);
        ops.push(Op::DrawRectangle { rectangle: module });
    }
    ops.push(Op::RestoreGraphicsState);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_split_camel_case_and_acronyms() {
        assert_eq!(label("UNLocationCode"), "UN Location Code");
        assert_eq!(label("vesselName"), "Vessel Name");
        assert_eq!(label("HSCodes"), "HS Codes");
        assert_eq!(label("ISOEquipmentCode"), "ISO Equipment Code");
        assert_eq!(
            label("numberOfOriginalsWithCharges"),
            "Number Of Originals With Charges"
        );
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_hard_breaks_long_words() {
        assert_eq!(wrap("aa bb cc", 5), ["aa bb", "cc"]);
        assert_eq!(wrap(&"x".repeat(12), 5), ["xxxxx", "xxxxx", "xx"]);
        assert_eq!(wrap("", 5), [""]);
        for piece in wrap(CHANGE_OF_MEDIUM_STATEMENT, 40) {
            assert!(piece.chars().count() <= 40);
        }
    }

    #[test]
    fn every_dark_module_is_drawn() {
        let qr = QrCode::new(b"silkline:CARRIER/SLK-1?sha256=00").unwrap();
        let dark = qr
            .to_colors()
            .iter()
            .filter(|c| **c == qrcode::Color::Dark)
            .count();
        let mut ops = Vec::new();
        qr_ops(&qr, &mut ops);
        let drawn = ops
            .iter()
            .filter(|op| {
                matches!(op, Op::DrawRectangle { rectangle } if rectangle.mode == Some(PaintMode::Fill))
            })
            .count();
        assert_eq!(drawn, dark);
    }
}
