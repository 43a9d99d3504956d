//! What the verification page may say, and how it is looked up: only ever through the content
//! checksum the visitor holds.
//!
//! A request names a document and a checksum (the QR code's URL), or brings the document itself
//! (an upload, whose checksum is computed here). Either way the one lookup is the ledger's
//! checksum index ([`LedgerReader::documents_by_checksum`]); the document's key is compared only
//! among the documents that index returns. So a wrong checksum for a bill that exists and any
//! checksum for a bill that does not take the same path, read the same index entries (none),
//! and end in the same [`Verdict::NoMatch`]: nothing tells the two apart, neither the answer nor
//! the work done. Only a visitor who holds the content learns anything, and then only the
//! record's public facts ([`Record`]): never its parties, its holder or its content.
//!
//! What it is not: a renderer (`page` turns a verdict into HTML) nor a server.

use doc_workflow::{
    AmendmentReason, DocumentId, DocumentKind, DocumentRef, DocumentState, EventKind, Mode,
    PartyCode, Status,
};
use ledger::ChainError;
use ledger::{HistoryEntry, LedgerReader};
use serde_json::Value;

/// Most bytes the `transport-document.json` attached to an uploaded PDF may decompress to: the
/// ledger stores at most this much content (`doc_workflow::content::CONTENT_BYTES_MAX`), so a
/// larger attachment cannot be a record's and is not inflated further.
pub const ATTACHMENT_BYTES_MAX: usize = doc_workflow::content::CONTENT_BYTES_MAX;

/// Most bytes any one stream of an uploaded PDF may decompress to while the PDF is read (object
/// and cross-reference streams are decoded as it loads). A Silkline rendering's largest such
/// stream is a few KiB; one MiB bounds what a crafted stream (a "decompression bomb") costs.
pub const PDF_STREAM_BYTES_MAX: usize = 1024 * 1024;

/// Most entries of the PDF's `EmbeddedFiles` name tree that are looked at. Silkline attaches
/// one file; a PDF that lists more than a few is not one of its renderings.
pub const ATTACHMENTS_MAX: usize = 16;

/// What the page says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No record has this content: the copy was altered, the address is wrong, or the document
    /// does not exist. Deliberately one answer for all three.
    NoMatch,
    /// A record has exactly this content.
    Authentic(Box<Record>),
}

/// A party named by the page: only the carrier and the member whose CA signed the issue, both
/// consortium members or their sponsored carrier, never a trading party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub code: PartyCode,
    /// The name the ledger's party records give it, if any.
    pub name: Option<String>,
}

/// Who issued the document on the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// The member whose certificate authority issued the signer's certificate (the history
    /// entry's `member`: the chain reached that member's root).
    pub member: Named,
    /// The block time of the issue.
    pub time_ms: u64,
    pub height: u64,
}

/// The public facts of a record whose content the visitor holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: DocumentId,
    pub kind: DocumentKind,
    pub mode: Option<Mode>,
    pub status: Status,
    /// Why it was surrendered for amendment, if it was.
    pub amendment_reason: Option<AmendmentReason>,
    /// Whether an amended bill replaced it (`VOID` with a replacement); which one is not said.
    pub replaced: bool,
    pub carrier: Named,
    /// `None` only for a record without history, which the ledger never writes.
    pub issue: Option<Issue>,
    /// The block time of the last change of status (creation, if it never changed).
    pub status_since_ms: u64,
    /// The content's SHA-256 (RFC 8785 form), lowercase hex.
    pub checksum: String,
    /// The ledger as read: its height and that block's time.
    pub as_of_height: u64,
    pub as_of_ms: u64,
}

impl Record {
    /// Whether the document is in force: issued, not surrendered, voided or gone to paper.
    pub fn in_force(&self) -> bool {
        self.status == Status::Issued
    }
}

/// `s` as a checksum: 64 hexadecimal digits, answered in lowercase.
pub fn parse_checksum(s: &str) -> Option<String> {
    (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

/// The verdict for a document named by its carrier and reference and the checksum a copy
/// carries (the QR code's URL). Malformed identifiers are `NoMatch` without a lookup: they name
/// no document, whatever the ledger holds.
pub fn by_reference(
    reader: &LedgerReader,
    carrier: &str,
    reference: &str,
    checksum: &str,
) -> Result<Verdict, ChainError> {
    let (Ok(carrier), Ok(reference), Some(checksum)) = (
        PartyCode::new(carrier),
        DocumentRef::new(reference),
        parse_checksum(checksum),
    ) else {
        return Ok(Verdict::NoMatch);
    };
    let id = DocumentId::new(carrier, reference);
    lookup(reader, &checksum, Some(&id))
}

/// The verdict for a document's content as the visitor brings it (DCSA JSON).
pub fn by_content(reader: &LedgerReader, content: &Value) -> Result<Verdict, ChainError> {
    let checksum = adapters::dcsa::checksum(content);
    lookup(reader, &checksum, None)
}

/// The one lookup: the checksum index, then (for a named document) the key among its results.
fn lookup(
    reader: &LedgerReader,
    checksum: &str,
    id: Option<&DocumentId>,
) -> Result<Verdict, ChainError> {
    let tip = reader.tip();
    let found = reader
        .documents_by_checksum(checksum)?
        .into_iter()
        .find(|doc| {
            doc.kind != DocumentKind::CargoRelease
                && doc.content.as_ref().is_some_and(|c| c.sha256 == checksum)
                && id.is_none_or(|id| doc.id == *id)
        });
    let Some(doc) = found else {
        return Ok(Verdict::NoMatch);
    };
    let key = adapters::dcsa::document_key(&doc);
    let history = reader.history_through(&key, doc.sequence)?;
    Ok(Verdict::Authentic(Box::new(record(
        reader,
        &doc,
        &history,
        checksum,
        (tip.height, tip.time_ms),
    ))))
}

fn named(reader: &LedgerReader, code: &PartyCode) -> Named {
    Named {
        code: code.clone(),
        name: reader.party(code).map(|p| p.name),
    }
}

fn record(
    reader: &LedgerReader,
    doc: &DocumentState,
    history: &[HistoryEntry],
    checksum: &str,
    (as_of_height, as_of_ms): (u64, u64),
) -> Record {
    let issued = history
        .iter()
        .find(|e| matches!(e.event.kind, EventKind::Issued { .. }))
        .or_else(|| history.first());
    let status_since_ms = history
        .iter()
        .rev()
        .find(|e| sets_status(&e.event.kind))
        .map_or(doc.created_at.ms(), |e| e.time_ms);
    Record {
        id: doc.id.clone(),
        kind: doc.kind,
        mode: doc.mode,
        status: doc.status,
        amendment_reason: doc.surrender.as_ref().and_then(|s| s.amendment_reason),
        replaced: doc.amended_by.is_some(),
        carrier: named(reader, &doc.carrier),
        issue: issued.map(|e| Issue {
            member: named(reader, &e.member),
            time_ms: e.time_ms,
            height: e.height,
        }),
        status_since_ms,
        checksum: checksum.to_owned(),
        as_of_height,
        as_of_ms,
    }
}

/// Whether an event leaves the document in another status. Transfers, endorsements, signatures
/// and rejected transfers change who holds it, never its status; the match names every event so
/// that a new one must be placed here.
fn sets_status(kind: &EventKind) -> bool {
    match kind {
        EventKind::DraftPublished { .. }
        | EventKind::DraftApproved
        | EventKind::Issued { .. }
        | EventKind::SurrenderedForDelivery
        | EventKind::SurrenderedForAmendment { .. }
        | EventKind::SurrenderAccepted { .. }
        | EventKind::SurrenderRejected { .. }
        | EventKind::Voided { .. }
        | EventKind::CargoReleased { .. }
        | EventKind::ReceivedFromPlatform { .. } => true,
        EventKind::GatedOut { completed, .. } => *completed,
        EventKind::Transferred { .. }
        | EventKind::Endorsed { .. }
        | EventKind::BlankEndorsed
        | EventKind::Signed
        | EventKind::TransferRejected { .. }
        | EventKind::HaulierNominated { .. }
        | EventKind::TruckNominated { .. }
        | EventKind::ConditionMet { .. }
        | EventKind::ReleaseRevoked { .. }
        | EventKind::SentToPlatform { .. }
        | EventKind::ReturnedByPlatform { .. } => false,
    }
}

// ----- uploads -----------------------------------------------------------------------------

/// Why an uploaded file could not be checked. Says nothing about the ledger: only the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    #[error("the file is empty")]
    Empty,
    #[error("the PDF could not be read: {0}")]
    Pdf(String),
    #[error(
        "the PDF carries no {} attachment: only a PDF that Silkline rendered can be checked",
        adapters::pdf::ATTACHMENT_NAME
    )]
    NoAttachment,
    #[error("the attached document is larger than any record ({ATTACHMENT_BYTES_MAX} bytes)")]
    AttachmentTooLarge,
    #[error("the file is neither a PDF nor JSON: {0}")]
    NotJson(String),
    #[error("the JSON is not a DCSA transport document (an object)")]
    NotADocument,
}

/// What an upload was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadKind {
    /// A PDF whose attached transport document was checked (not its printed pages).
    Pdf,
    Json,
}

/// The transport document an upload holds: a PDF's attached `transport-document.json`, or DCSA
/// JSON (the transport document itself, or `silkline doc export`'s output, whose
/// `transportDocument` it is).
pub fn content_of_upload(bytes: &[u8]) -> Result<(Value, UploadKind), Unreadable> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Unreadable::Empty);
    }
    let (json, kind) = if bytes.starts_with(b"%PDF-") {
        (attached_document(bytes)?, UploadKind::Pdf)
    } else {
        (bytes.to_vec(), UploadKind::Json)
    };
    let value: Value =
        serde_json::from_slice(&json).map_err(|e| Unreadable::NotJson(e.to_string()))?;
    let document = match value {
        Value::Object(mut object)
            if !object.contains_key("transportDocumentReference")
                && object
                    .get("transportDocument")
                    .is_some_and(Value::is_object) =>
        {
            object.remove("transportDocument").unwrap_or_default()
        }
        Value::Object(_) => value,
        _ => return Err(Unreadable::NotADocument),
    };
    Ok((document, kind))
}

/// The bytes of the PDF's [`adapters::pdf::ATTACHMENT_NAME`] embedded file: the catalog's
/// `Names` / `EmbeddedFiles` name tree (a flat `Names` array, as Silkline writes it), its file
/// specification's `EF` / `F` stream, decompressed within [`ATTACHMENT_BYTES_MAX`].
pub fn attached_document(pdf: &[u8]) -> Result<Vec<u8>, Unreadable> {
    use lopdf::Object;
    let bad = |e: lopdf::Error| Unreadable::Pdf(e.to_string());
    let options = lopdf::LoadOptions {
        max_decompressed_size: Some(PDF_STREAM_BYTES_MAX),
        ..lopdf::LoadOptions::default()
    };
    let doc = lopdf::Document::load_mem_with_options(pdf, options).map_err(bad)?;
    let missing = |_| Unreadable::NoAttachment;
    let names = doc
        .catalog()
        .map_err(bad)?
        .get_deref(b"Names", &doc)
        .and_then(Object::as_dict)
        .map_err(missing)?;
    let tree = names
        .get_deref(b"EmbeddedFiles", &doc)
        .and_then(Object::as_dict)
        .map_err(missing)?;
    let entries = tree
        .get_deref(b"Names", &doc)
        .and_then(Object::as_array)
        .map_err(missing)?;
    for pair in entries.chunks(2).take(ATTACHMENTS_MAX) {
        let [name, spec] = pair else {
            break;
        };
        let Ok((_, name)) = doc.dereference(name) else {
            continue;
        };
        if name.as_str().ok() != Some(adapters::pdf::ATTACHMENT_NAME.as_bytes()) {
            continue;
        }
        let stream = doc
            .dereference(spec)
            .and_then(|(_, spec)| spec.as_dict())
            .and_then(|spec| spec.get_deref(b"EF", &doc))
            .and_then(Object::as_dict)
            .and_then(|ef| ef.get_deref(b"F", &doc))
            .and_then(Object::as_stream)
            .map_err(missing)?;
        return stream
            .decompressed_content_with_limit(ATTACHMENT_BYTES_MAX)
            .map_err(|e| match e {
                lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded {
                    ..
                }) => Unreadable::AttachmentTooLarge,
                other => Unreadable::Pdf(other.to_string()),
            });
    }
    Err(Unreadable::NoAttachment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_are_64_hex_digits_in_lowercase() {
        let upper = "AB".repeat(32);
        assert_eq!(parse_checksum(&upper), Some("ab".repeat(32)));
        assert_eq!(parse_checksum(&"ab".repeat(31)), None);
        assert_eq!(parse_checksum(&format!("{}zz", "ab".repeat(31))), None);
        assert_eq!(parse_checksum(""), None);
    }

    #[test]
    fn status_changes_are_told_from_changes_of_holder() {
        let p = PartyCode::new("BANK").unwrap();
        assert!(!sets_status(&EventKind::Transferred {
            from: p.clone(),
            to: p.clone()
        }));
        assert!(!sets_status(&EventKind::Signed));
        assert!(sets_status(&EventKind::SurrenderedForDelivery));
        assert!(sets_status(&EventKind::Voided { replaced_by: None }));
        assert!(!sets_status(&EventKind::GatedOut {
            containers: Vec::new(),
            completed: false
        }));
    }

    #[test]
    fn an_upload_is_json_an_export_or_a_pdf_with_the_attachment() {
        let doc = serde_json::json!({"transportDocumentReference": "SLK-1", "x": [1, 2]});
        let (value, kind) = content_of_upload(doc.to_string().as_bytes()).unwrap();
        assert_eq!((value, kind), (doc.clone(), UploadKind::Json));
        let export = serde_json::json!({"transportDocument": doc, "documentChecksum": "00"});
        let (value, _) = content_of_upload(export.to_string().as_bytes()).unwrap();
        assert_eq!(value, doc);
        assert_eq!(content_of_upload(b"  \n"), Err(Unreadable::Empty));
        assert_eq!(content_of_upload(b"[1]"), Err(Unreadable::NotADocument));
        assert!(matches!(
            content_of_upload(b"not json"),
            Err(Unreadable::NotJson(_))
        ));
        assert!(matches!(
            content_of_upload(b"%PDF-1.7\nnot really"),
            Err(Unreadable::Pdf(_))
        ));
    }

    /// A PDF with the attachment where Silkline puts it, built with lopdf as a renderer would.
    fn pdf_with_attachment(name: &str, json: &[u8], compress: bool) -> Vec<u8> {
        use lopdf::{Dictionary, Object, Stream, StringFormat};
        let mut doc = lopdf::Document::with_version("1.7");
        let pages = doc.new_object_id();
        let mut pages_dict = Dictionary::new();
        pages_dict.set("Type", Object::Name(b"Pages".to_vec()));
        pages_dict.set("Kids", Object::Array(Vec::new()));
        pages_dict.set("Count", Object::Integer(0));
        doc.objects.insert(pages, Object::Dictionary(pages_dict));
        let mut stream = Stream::new(Dictionary::new(), json.to_vec());
        if compress {
            stream.compress().unwrap();
        }
        let file = doc.add_object(stream);
        let mut ef = Dictionary::new();
        ef.set("F", Object::Reference(file));
        let mut spec = Dictionary::new();
        spec.set("Type", Object::Name(b"Filespec".to_vec()));
        spec.set("EF", ef);
        let spec = doc.add_object(spec);
        let mut tree = Dictionary::new();
        tree.set(
            "Names",
            Object::Array(vec![
                Object::String(name.as_bytes().to_vec(), StringFormat::Literal),
                Object::Reference(spec),
            ]),
        );
        let mut names = Dictionary::new();
        names.set("EmbeddedFiles", tree);
        let mut catalog = Dictionary::new();
        catalog.set("Type", Object::Name(b"Catalog".to_vec()));
        catalog.set("Pages", Object::Reference(pages));
        catalog.set("Names", names);
        let catalog = doc.add_object(catalog);
        doc.trailer.set("Root", Object::Reference(catalog));
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    #[test]
    fn the_attachment_is_taken_out_of_a_pdf_within_its_bound() {
        let json = br#"{"transportDocumentReference":"SLK-1"}"#;
        for compress in [false, true] {
            let pdf = pdf_with_attachment(adapters::pdf::ATTACHMENT_NAME, json, compress);
            assert_eq!(attached_document(&pdf).unwrap(), json.to_vec());
            let (value, kind) = content_of_upload(&pdf).unwrap();
            assert_eq!(value["transportDocumentReference"], "SLK-1");
            assert_eq!(kind, UploadKind::Pdf);
        }
        let other = pdf_with_attachment("invoice.json", json, true);
        assert_eq!(attached_document(&other), Err(Unreadable::NoAttachment));
        // A compressed attachment that inflates past any record is not inflated further.
        let bomb = vec![b' '; ATTACHMENT_BYTES_MAX + 1];
        let pdf = pdf_with_attachment(adapters::pdf::ATTACHMENT_NAME, &bomb, true);
        assert!(pdf.len() < ATTACHMENT_BYTES_MAX / 10);
        assert_eq!(attached_document(&pdf), Err(Unreadable::AttachmentTooLarge));
    }
}
