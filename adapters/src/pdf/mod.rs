//! A printable bill of lading or sea waybill in the boxed layout a trade-finance desk reads at a
//! glance: shipper, consignee (or "To order of ..."), notify party, carrier and booking
//! reference, vessel and voyage, ports and places, marks, packages, goods, weights, containers and
//! seals, freight terms, originals, place and date of issue, shipped-on-board date; then the
//! record on the ledger (status, holder, the endorsement chain with dates) and the marking. A QR
//! code leads to the verification page, and every footer carries the page number and the
//! document checksum. The DCSA document itself is attached to the PDF
//! ([`ATTACHMENT_NAME`]), byte for byte as the ledger stores it.
//!
//! An ordinary rendering is a copy and says so on every page ([`COPY_NOTICE`]): under MLETR the
//! ledger record is the one original. A *switch-to-paper* rendering is the paper that replaces
//! the electronic record (MLETR art. 17-18, change of medium); it is allowed only for a bill
//! whose holder surrendered it for amendment with reason `SWITCH_TO_PAPER` and whose carrier
//! accepted that surrender, and it carries the change-of-medium statement.
//!
//! The same input gives the same bytes: text is set in an embedded DejaVu Sans subset named
//! after its glyphs, the PDF's dates are the document's last block time and its file identifier
//! is derived from the document, never from a clock or a random source.
//!
//! Modules: `bill` reads the content into boxes, `layout` places them on pages, `draw` turns pages
//! into PDF operators, `fonts` measures and embeds the typeface, `paper` holds the switch-to-paper
//! rule.

mod bill;
mod draw;
mod fonts;
mod layout;
mod paper;

use doc_workflow::{DocumentId, DocumentKey, DocumentKind, DocumentState};
use ledger::HistoryEntry;
use printpdf::{PdfDocument, PdfPage, PdfParseErrorSeverity, PdfSaveOptions, Pt};
use qrcode::QrCode;
use sha2::{Digest, Sha256};

pub use bill::CHANGE_OF_MEDIUM_STATEMENT;

use crate::COPY_NOTICE;
use crate::dcsa::{self, ExportError, PartyNames};

/// Most pages one rendering may have. The content is bounded (64 KiB of canonical JSON fills a
/// few dozen pages at most) but a history is not; 500 pages bounds the memory and time of one
/// request.
pub const PAGES_MAX: usize = 500;

/// The name of the DCSA document attached to every rendering: the content exactly as the ledger
/// stores it (RFC 8785 canonical JSON), so its SHA-256 is the checksum printed on every page.
pub const ATTACHMENT_NAME: &str = "transport-document.json";

/// The marking of a switch-to-paper rendering, at the head of every page.
pub const PAPER_ORIGINAL_MARKING: &str =
    "PAPER ORIGINAL BY CHANGE OF MEDIUM - the electronic record is inoperative";

/// How to render.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// Render the paper original that replaces the electronic record (change of medium) instead
    /// of a copy. Refused unless the switch to paper was requested and accepted.
    pub switch_to_paper: bool,
    /// Names for parties the content does not name (e.g. from the ledger's party records).
    pub names: PartyNames,
    /// The verification page's base URL (`https://host[:port][/path]`, the node's public
    /// listener). With it, the QR code is `{base}/verify/{carrier}/{reference}/{sha256}`;
    /// without it, the QR code says `silkline:{carrier}/{reference}?sha256={sha256}`.
    pub verify_base_url: Option<String>,
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
    #[error("the rendering of {document} needs more than {PAGES_MAX} pages")]
    TooManyPages { document: DocumentKey },
    /// The verification page's address cannot be made from the configured base URL and this
    /// document's identifiers.
    #[error("no verification URL from {base:?}: {rule}")]
    VerifyUrl { base: String, rule: &'static str },
    #[error("the QR code could not be encoded: {0}")]
    Qr(String),
    #[error("the PDF could not be written: {0}")]
    Write(String),
}

/// What the QR code says: the verification page's URL when `options` has a base URL, otherwise
/// the document's key and its content checksum.
pub fn qr_payload(
    doc: &DocumentState,
    checksum: &str,
    options: &RenderOptions,
) -> Result<String, PdfError> {
    match &options.verify_base_url {
        Some(base) => verify_url(base, &doc.id, checksum),
        None => Ok(format!("silkline:{}?sha256={checksum}", doc.id)),
    }
}

/// `{base}/verify/{carrier}/{reference}/{sha256}`, each identifier one percent-encoded path
/// segment ([`path_segment`]). `base` is an absolute `http` or `https` URL without query or
/// fragment; a trailing `/` is dropped.
pub fn verify_url(base: &str, id: &DocumentId, checksum: &str) -> Result<String, PdfError> {
    let refuse = |rule| PdfError::VerifyUrl {
        base: base.to_owned(),
        rule,
    };
    let Some(rest) = base
        .strip_prefix("https://")
        .or_else(|| base.strip_prefix("http://"))
    else {
        return Err(refuse("the base URL must start with https:// or http://"));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(refuse("the base URL has no host"));
    }
    if base
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
    {
        return Err(refuse(
            "the base URL may not hold spaces, control characters, a query or a fragment",
        ));
    }
    let segments = [id.carrier.as_str(), id.reference.as_str(), checksum];
    // Browsers resolve "." and ".." segments (even percent-encoded) before sending the request.
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Err(refuse(
            "a carrier code or reference of only dots cannot be a URL path segment",
        ));
    }
    let path: Vec<String> = segments.iter().map(|s| path_segment(s)).collect();
    Ok(format!(
        "{}/verify/{}",
        base.trim_end_matches('/'),
        path.join("/")
    ))
}

/// `s` as one URL path segment: RFC 3986 unreserved characters as they are, every other byte of
/// its UTF-8 as `%XX`.
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
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
        Some(paper::switch_to_paper_evidence(doc, &key, history)?)
    } else {
        None
    };
    let content = record.json();
    let checksum = dcsa::checksum(&content);
    let mut names = PartyNames::from_content(&content);
    names.extend(&options.names);
    let qr_text = qr_payload(doc, &checksum, options)?;
    let qr = QrCode::new(qr_text.as_bytes()).map_err(|e| PdfError::Qr(e.to_string()))?;
    let is_url = options.verify_base_url.is_some();

    let bill = bill::read(
        &content,
        &bill::Record {
            doc,
            names: &names,
            links: &links,
            paper: paper.as_ref(),
            verify_url: is_url.then_some(qr_text.as_str()),
        },
    );
    let marking = match paper {
        Some(_) => PAPER_ORIGINAL_MARKING,
        None => COPY_NOTICE,
    };
    let document = doc.id.to_string();
    let furniture = draw::Furniture {
        marking,
        title: bill.heading.title,
        subtitle: &bill.heading.subtitle,
        document: &document,
        checksum: &checksum,
        qr_text: &qr_text,
        qr_is_url: is_url,
    };
    let bodies = layout::paginate(&bill.blocks, draw::frame(&furniture)).map_err(|_| {
        PdfError::TooManyPages {
            document: key.clone(),
        }
    })?;
    let pages = draw::compose(bodies, &furniture);

    let title = format!("{} {}", bill.heading.title, doc.id);
    let mut pdf = PdfDocument::new(&title);
    fonts::embed(&mut pdf, &draw::characters(&pages)).map_err(PdfError::Write)?;
    let pdf_pages = pages
        .iter()
        .enumerate()
        .map(|(i, items)| {
            let mut ops = draw::ops(items);
            if i == 0 {
                draw::qr_ops(&qr, &mut ops);
            }
            PdfPage::new(
                printpdf::Mm::from(Pt(layout::PAGE_WIDTH_PT)),
                printpdf::Mm::from(Pt(layout::PAGE_HEIGHT_PT)),
                ops,
            )
        })
        .collect();
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
    if let Some(error) = warnings
        .iter()
        .find(|w| w.severity == PdfParseErrorSeverity::Error)
    {
        return Err(PdfError::Write(error.msg.clone()));
    }
    attach_content(&mut lo, record.canonical_json.as_bytes())?;
    // printpdf fills the trailer's file identifier from a process-wide counter; replace it with
    // one derived from what is rendered, so the same input gives the same bytes.
    let file_id = file_identifier(doc, &checksum, paper.is_some(), &qr_text);
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

fn file_identifier(doc: &DocumentState, checksum: &str, paper: bool, qr_text: &str) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(b"silkline-pdf-v2");
    hasher.update(doc.state_hash().0);
    hasher.update(checksum.as_bytes());
    hasher.update([u8::from(paper)]);
    hasher.update(qr_text.as_bytes());
    hasher.finalize()[..16].to_vec()
}

/// Attaches the DCSA document as an embedded file (ISO 32000-1 7.11.4), listed in the catalog's
/// `EmbeddedFiles` name tree and as an associated file (`AF`, relationship `Source`), so that a
/// reader or the verification page can take it out and check it against the record.
fn attach_content(lo: &mut lopdf::Document, json: &[u8]) -> Result<(), PdfError> {
    use lopdf::{Dictionary, Object, Stream, StringFormat};
    let name = |s: &str| Object::Name(s.as_bytes().to_vec());
    let text = |s: &str| Object::String(s.as_bytes().to_vec(), StringFormat::Literal);
    let mut params = Dictionary::new();
    params.set(
        "Size",
        Object::Integer(i64::try_from(json.len()).unwrap_or(i64::MAX)),
    );
    let mut stream = Dictionary::new();
    stream.set("Type", name("EmbeddedFile"));
    stream.set("Subtype", name("application/json"));
    stream.set("Params", params);
    let file = lo.add_object(Stream::new(stream, json.to_vec()));
    let mut ef = Dictionary::new();
    ef.set("F", Object::Reference(file));
    let mut spec = Dictionary::new();
    spec.set("Type", name("Filespec"));
    spec.set("F", text(ATTACHMENT_NAME));
    spec.set("UF", text(ATTACHMENT_NAME));
    spec.set(
        "Desc",
        text("The DCSA eBL 3.0 transport document as the Silkline ledger records it (RFC 8785 canonical JSON; its SHA-256 is the document checksum)"),
    );
    spec.set("AFRelationship", name("Source"));
    spec.set("EF", ef);
    let spec = lo.add_object(spec);
    let mut tree = Dictionary::new();
    tree.set(
        "Names",
        Object::Array(vec![text(ATTACHMENT_NAME), Object::Reference(spec)]),
    );
    let catalog = lo
        .catalog_mut()
        .map_err(|e| PdfError::Write(format!("no catalog: {e}")))?;
    if catalog.has(b"Names") {
        return Err(PdfError::Write(
            "the catalog already has a name dictionary".to_owned(),
        ));
    }
    let mut names = Dictionary::new();
    names.set("EmbeddedFiles", tree);
    catalog.set("Names", names);
    catalog.set("AF", Object::Array(vec![Object::Reference(spec)]));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use doc_workflow::{DocumentRef, PartyCode};

    fn id(carrier: &str, reference: &str) -> DocumentId {
        DocumentId::new(
            PartyCode::new(carrier).unwrap(),
            DocumentRef::new(reference).unwrap(),
        )
    }

    #[test]
    fn the_verification_url_encodes_each_segment() {
        let sum = "ab".repeat(32);
        assert_eq!(
            verify_url("https://verify.example.org/", &id("CARRIER", "SLK-1"), &sum).unwrap(),
            format!("https://verify.example.org/verify/CARRIER/SLK-1/{sum}")
        );
        assert_eq!(
            verify_url("http://127.0.0.1:8443/base", &id("LEI:5493", "a_b.c"), &sum).unwrap(),
            format!("http://127.0.0.1:8443/base/verify/LEI%3A5493/a_b.c/{sum}")
        );
        assert_eq!(path_segment("a b/é"), "a%20b%2F%C3%A9");
    }

    #[test]
    fn an_unusable_base_url_or_dot_segment_is_refused() {
        let sum = "00";
        for base in [
            "ftp://x",
            "https://",
            "https:///path",
            "https://x/?q",
            "https://x/#f",
            "https://x y",
        ] {
            assert!(
                matches!(
                    verify_url(base, &id("CARRIER", "SLK-1"), sum),
                    Err(PdfError::VerifyUrl { .. })
                ),
                "{base}"
            );
        }
        assert!(verify_url("https://x", &id("CARRIER", ".."), sum).is_err());
        assert!(verify_url("https://x", &id("CARRIER", "..."), sum).is_ok());
    }
}
