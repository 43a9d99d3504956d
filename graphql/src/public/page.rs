//! The verification page as HTML: plain markup and one inline style sheet, no script, so it reads
//! the same with scripts disabled. Every value printed goes through [`esc`].
//!
//! The page for a copy that matches no record ([`no_match`]) is a constant: it echoes nothing of
//! the request (not the reference, not the checksum, not the time), so two visitors who ask
//! about a missing bill and about a real bill with a wrong checksum get the same bytes.
//!
//! Elements carry stable ids and `data-` attributes (`data-verdict` on `body`, `data-status` on
//! the status) for the browser tests and for anyone who scrapes the page.

use adapters::time::iso8601_utc;
use doc_workflow::{AmendmentReason, DocumentKind, Mode, Status};

use super::limits::RetryAfter;
use super::verify::{Named, Record, Unreadable, UploadKind};

/// `s` with the five characters HTML gives meaning to replaced by references: safe in text and
/// in quoted attribute values alike.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A block time as people read it: `2026-12-03 16:20:05 UTC`.
fn when(ms: u64) -> String {
    let iso = iso8601_utc(ms);
    // `YYYY-MM-DDTHH:MM:SS.mmmZ`
    match (iso.get(..10), iso.get(11..19)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => iso,
    }
}

const STYLE: &str = "
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f3f4f6; color: #1f2933;
  font: 16px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif; }
main { max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }
.brand { margin: 0 0 1rem; font-size: .9rem; letter-spacing: .04em; text-transform: uppercase;
  color: #52606d; }
.card { background: #fff; border: 1px solid #d9dee3; border-radius: .5rem; padding: 1.25rem 1.5rem;
  margin-bottom: 1.25rem; }
.card > :first-child { margin-top: 0; } .card > :last-child { margin-bottom: 0; }
.verdict { border-left-width: .5rem; }
.verdict h1 { margin: 0 0 .25rem; font-size: 1.9rem; }
.verdict p { margin: .25rem 0; }
.ok { border-left-color: #1a7f37; } .ok h1 { color: #1a7f37; }
.caution { border-left-color: #b7791f; } .caution h1 { color: #8a5300; }
.bad { border-left-color: #c62828; } .bad h1 { color: #c62828; }
.force { display: inline-block; margin-top: .5rem; padding: .15rem .6rem; border-radius: 1rem;
  font-weight: 600; font-size: .9rem; }
.in-force { background: #e6f4ea; color: #1a7f37; }
.not-in-force { background: #fdf0d5; color: #8a5300; }
dl { display: grid; grid-template-columns: 11rem 1fr; gap: .6rem 1rem; margin: 0; }
dt { font-weight: 600; color: #52606d; }
dd { margin: 0; overflow-wrap: anywhere; }
dd small { display: block; color: #52606d; }
code { font: .85rem/1.4 ui-monospace, 'DejaVu Sans Mono', monospace; overflow-wrap: anywhere; }
h2 { font-size: 1.15rem; margin: 0 0 .5rem; }
.note { color: #52606d; font-size: .92rem; }
form { display: flex; flex-wrap: wrap; gap: .75rem; align-items: center; }
button { font: inherit; padding: .4rem 1.1rem; border: 1px solid #1f2933; border-radius: .35rem;
  background: #1f2933; color: #fff; cursor: pointer; }
@media (max-width: 34rem) { dl { grid-template-columns: 1fr; } dt { margin-top: .4rem; } }
";

/// A whole page: `verdict` names the page for `data-verdict`, `title` is plain text.
fn page(verdict: &str, title: &str, body: &str, form_action: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex, nofollow\">\n\
         <link rel=\"icon\" href=\"data:,\">\n<title>{title} - Silkline verification</title>\n\
         <style>{STYLE}</style>\n</head>\n<body data-verdict=\"{verdict}\">\n<main>\n\
         <p class=\"brand\">Silkline &middot; verification of a transport document</p>\n\
         {body}\n{upload}\n</main>\n</body>\n</html>\n",
        title = esc(title),
        verdict = esc(verdict),
        upload = upload_form(form_action),
    )
}

fn upload_form(form_action: &str) -> String {
    format!(
        "<section class=\"card\" id=\"upload\">\n<h2>Check a file</h2>\n\
         <p class=\"note\">Upload the DCSA JSON of a bill of lading or sea waybill, or a PDF that \
         Silkline rendered: the transport document attached to it ({attachment}) is compared \
         with the ledger's records. The file is read, checked and forgotten.</p>\n\
         <form method=\"post\" action=\"{action}\" enctype=\"multipart/form-data\">\n\
         <input type=\"file\" name=\"document\" accept=\".json,.pdf,application/json,application/pdf\" required>\n\
         <button type=\"submit\">Check</button>\n</form>\n</section>",
        attachment = esc(adapters::pdf::ATTACHMENT_NAME),
        action = esc(form_action),
    )
}

/// The page that explains what the service does, with the upload form.
pub fn index(form_action: &str) -> String {
    let body = "<section class=\"card\" id=\"about\">\n<h1>Is this copy genuine?</h1>\n\
        <p>Scan the QR code of a bill of lading or sea waybill that Silkline printed: it leads \
        to a page that says whether the copy matches a record on the ledger and what state the \
        document is in. Or upload the document below.</p>\n</section>";
    page("index", "Verify a document", body, form_action)
}

/// The one answer for a copy that matches no record (see the module docs: a constant).
pub fn no_match(form_action: &str) -> String {
    let body = "<section class=\"card verdict bad\" id=\"verdict\">\n<h1>Not authentic</h1>\n\
        <p id=\"summary\">No record on this ledger matches this copy.</p>\n</section>\n\
        <section class=\"card\" id=\"explanation\">\n<h2>What this means</h2>\n<ul>\n\
        <li>The document may have been altered: a single changed character changes its \
        checksum.</li>\n\
        <li>The QR code or the address may have been mistyped or tampered with.</li>\n\
        <li>The document may not exist on this ledger.</li>\n</ul>\n\
        <p class=\"note\">This page reads the same in each case, and whether or not a document \
        with this reference exists: the ledger says more only to someone who holds the \
        document's exact content. Do not rely on this copy; ask the carrier.</p>\n</section>";
    page("not-authentic", "Not authentic", body, form_action)
}

/// The file could not be read as a transport document; says nothing about the ledger.
pub fn unreadable(reason: &Unreadable, form_action: &str) -> String {
    let body = format!(
        "<section class=\"card verdict bad\" id=\"verdict\">\n<h1>File not checked</h1>\n\
         <p id=\"summary\">{}.</p>\n<p>Upload the DCSA JSON of the document, or the PDF as \
         Silkline rendered it.</p>\n</section>",
        esc(&sentence(&reason.to_string()))
    );
    page("unreadable", "File not checked", &body, form_action)
}

/// `s` with its first letter in capitals.
fn sentence(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The upload is larger than any document or rendering.
pub fn too_large(limit_bytes: usize, form_action: &str) -> String {
    let body = format!(
        "<section class=\"card verdict bad\" id=\"verdict\">\n<h1>File too large</h1>\n\
         <p id=\"summary\">Files of up to {} KiB are checked: no Silkline document or rendering \
         is larger.</p>\n</section>",
        limit_bytes / 1024
    );
    page("unreadable", "File too large", &body, form_action)
}

/// A path the listener does not serve.
pub fn not_a_page(form_action: &str) -> String {
    let body = "<section class=\"card verdict bad\" id=\"verdict\">\n<h1>No such page</h1>\n\
        <p id=\"summary\">Verification addresses have the form \
        <code>/verify/CARRIER/REFERENCE/CHECKSUM</code>, as the QR code of a printed copy \
        gives them.</p>\n</section>";
    page("no-such-page", "No such page", body, form_action)
}

/// The source asked too often.
pub fn too_many_requests(retry: RetryAfter, form_action: &str) -> String {
    let body = format!(
        "<section class=\"card verdict bad\" id=\"verdict\">\n<h1>Too many requests</h1>\n\
         <p id=\"summary\">This address has made more requests than the service answers in a \
         short time. Try again in {} s.</p>\n</section>",
        retry.seconds
    );
    page("rate-limited", "Too many requests", &body, form_action)
}

/// The node could not read its ledger (a storage failure); nothing about the document.
pub fn unavailable(form_action: &str) -> String {
    let body = "<section class=\"card verdict bad\" id=\"verdict\">\n<h1>Not available</h1>\n\
        <p id=\"summary\">The ledger could not be read just now. Try again later.</p>\n</section>";
    page("unavailable", "Not available", body, form_action)
}

fn kind_words(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::BillOfLading => "Bill of lading",
        DocumentKind::SeaWaybill => "Sea waybill",
        DocumentKind::CargoRelease => "Cargo release",
    }
}

fn mode_words(mode: Mode) -> &'static str {
    match mode {
        Mode::Straight => "straight (to a named consignee)",
        Mode::ToOrder => "to order",
        Mode::Blank => "blank endorsed (to bearer)",
    }
}

/// The status in words, with what it means for a holder of the copy.
pub fn status_words(record: &Record) -> (&'static str, &'static str) {
    let to_paper = record.amendment_reason == Some(AmendmentReason::SwitchToPaper);
    match record.status {
        Status::Draft => (
            "Draft",
            "The carrier has published a draft; the document has not been issued.",
        ),
        Status::Approved => (
            "Draft approved",
            "The shipper approved the draft; the document has not been issued yet.",
        ),
        Status::Issued => (
            "Issued",
            "The document is in force on the ledger. Title passes by transfer on the ledger, \
             never by handing over a printout.",
        ),
        Status::PendingSurrenderForDelivery => (
            "Surrendered for delivery, awaiting the carrier",
            "The holder surrendered it to the carrier to take delivery of the goods; the carrier \
             has not yet accepted. It can no longer be transferred.",
        ),
        Status::SurrenderedForDelivery => (
            "Surrendered for delivery (accomplished)",
            "The carrier accepted the surrender: the goods are delivered against it. It can no \
             longer be transferred.",
        ),
        Status::PendingSurrenderForAmendment if to_paper => (
            "Surrendered to switch to paper, awaiting the carrier",
            "The holder asked the carrier to replace the electronic record with a paper \
             original; the carrier has not yet accepted.",
        ),
        Status::PendingSurrenderForAmendment => (
            "Surrendered for amendment, awaiting the carrier",
            "The holder surrendered it to the carrier to be amended; the carrier has not yet \
             accepted.",
        ),
        Status::SurrenderedForAmendment if to_paper => (
            "Switched to paper",
            "The carrier accepted the switch to paper: the electronic record is inoperative and \
             a paper original issued by the carrier replaces it.",
        ),
        Status::SurrenderedForAmendment => (
            "Surrendered for amendment",
            "The carrier accepted the surrender; the document is to be voided and replaced by an \
             amended one.",
        ),
        Status::Voided if record.replaced => (
            "Voided",
            "The document is void: an amended document replaced it.",
        ),
        Status::Voided => ("Voided", "The document is void."),
        Status::Released => ("Cargo released", "The cargo was released to the port."),
        Status::Completed => ("Completed", "Every container has left the terminal."),
    }
}

fn named(party: &Named) -> String {
    match &party.name {
        Some(name) => format!("{} ({})", esc(name), esc(party.code.as_str())),
        None => esc(party.code.as_str()),
    }
}

/// The page for a copy that matches a record: `upload` says how the visitor brought the
/// document (`None`: by the QR code's address).
pub fn authentic(record: &Record, upload: Option<UploadKind>, form_action: &str) -> String {
    let kind = kind_words(record.kind);
    let reference = esc(record.id.reference.as_str());
    let (status, meaning) = status_words(record);
    let (class, force) = if record.in_force() {
        (
            "ok",
            "<span class=\"force in-force\" id=\"force\">In force</span>".to_owned(),
        )
    } else {
        (
            "caution",
            format!(
                "<span class=\"force not-in-force\" id=\"force\">Not in force: {}</span>",
                esc(status)
            ),
        )
    };
    let type_words = match record.mode {
        Some(mode) if record.kind == DocumentKind::BillOfLading => {
            format!("{kind}, {}", mode_words(mode))
        }
        _ => kind.to_owned(),
    };
    let issued = match &record.issue {
        Some(issue) => format!(
            "Signed for the carrier with a certificate from the certificate authority of \
             member {}<small>{}, block {}</small>",
            named(&issue.member),
            when(issue.time_ms),
            issue.height
        ),
        None => "Not recorded".to_owned(),
    };
    let copy = match upload {
        None => "Yes: the content behind this copy is the content the record holds. A printout \
                 is a copy; the record on the ledger is the original, and the status above is \
                 its current one."
            .to_owned(),
        Some(UploadKind::Json) => "Yes: the uploaded document is the content the record holds. \
                 The status above is the record's current one."
            .to_owned(),
        Some(UploadKind::Pdf) => format!(
            "Yes: the transport document attached to this PDF ({}) is the content the record \
             holds. This checks the attachment, not the printed pages: the checksum in the \
             pages' footers must read as below.",
            esc(adapters::pdf::ATTACHMENT_NAME)
        ),
    };
    let body = format!(
        "<section class=\"card verdict {class}\" id=\"verdict\">\n<h1>Authentic</h1>\n\
         <p id=\"summary\">This copy matches {kind_lower} {reference} of {carrier} on the \
         Silkline ledger.</p>\n{force}\n</section>\n\
         <section class=\"card\" id=\"record\">\n<dl>\n\
         <dt>Document</dt><dd id=\"document\">{kind} {reference}</dd>\n\
         <dt>Type</dt><dd id=\"type\">{type_words}</dd>\n\
         <dt>Carrier</dt><dd id=\"carrier\">{carrier}</dd>\n\
         <dt>Issued</dt><dd id=\"issuer\">{issued}</dd>\n\
         <dt>Status</dt><dd id=\"status\" data-status=\"{status_code}\">{status}\
         <small>{meaning}</small></dd>\n\
         <dt>Status since</dt><dd id=\"status-since\">{since}</dd>\n\
         <dt>This copy</dt><dd id=\"copy\" data-matches=\"true\">{copy}</dd>\n\
         <dt>Checksum</dt><dd><code id=\"checksum\">{checksum}</code></dd>\n\
         </dl>\n</section>\n\
         <section class=\"card\" id=\"scope\">\n<p class=\"note\">Checked against block \
         {height} ({as_of}) of this node's copy of the ledger. The parties, the current holder \
         and the content of the document are not shown here: the holder of a copy already has \
         the content, and the ledger shows the rest only to the document's parties.</p>\n\
         </section>",
        kind_lower = esc(&kind.to_lowercase()),
        carrier = named(&record.carrier),
        status = esc(status),
        status_code = esc(record.status.code()),
        meaning = esc(meaning),
        since = when(record.status_since_ms),
        checksum = esc(&record.checksum),
        height = record.as_of_height,
        as_of = when(record.as_of_ms),
    );
    let title = format!("Authentic: {kind} {}", record.id.reference.as_str());
    page("authentic", &title, &body, form_action)
}

#[cfg(test)]
mod tests {
    use super::*;
    use doc_workflow::{DocumentId, DocumentRef, PartyCode};

    fn record(status: Status) -> Record {
        let code = |s: &str| PartyCode::new(s).unwrap();
        Record {
            id: DocumentId::new(code("CARRIER"), DocumentRef::new("SLK-1").unwrap()),
            kind: DocumentKind::BillOfLading,
            mode: Some(Mode::ToOrder),
            status,
            amendment_reason: None,
            replaced: false,
            carrier: Named {
                code: code("CARRIER"),
                name: Some("Lines & <Sons>".into()),
            },
            issue: Some(super::super::verify::Issue {
                member: Named {
                    code: code("CARRIER"),
                    name: Some("Lines & <Sons>".into()),
                },
                time_ms: 1_764_778_805_000,
                height: 3,
            }),
            status_since_ms: 1_764_778_805_000,
            checksum: "ab".repeat(32),
            as_of_height: 9,
            as_of_ms: 1_764_778_900_000,
        }
    }

    #[test]
    fn escaping_covers_text_and_attributes() {
        assert_eq!(
            esc(r#"<a href="x" onclick='y'>&amp;</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn an_authentic_page_escapes_every_value_and_has_no_script() {
        let html = authentic(&record(Status::Issued), None, "/base\"/verify");
        assert!(
            html.contains("Lines &amp; &lt;Sons&gt; (CARRIER)"),
            "{html}"
        );
        assert!(html.contains("action=\"/base&quot;/verify\""), "{html}");
        assert!(!html.contains("<Sons>"));
        assert!(!html.to_lowercase().contains("<script"));
        assert!(html.contains("data-status=\"ISSUED\"") && html.contains("In force"));
        assert!(html.contains("2025-12-03 16:20:05 UTC"), "{html}");
    }

    #[test]
    fn statuses_read_as_words_and_only_issued_is_in_force() {
        let mut r = record(Status::SurrenderedForAmendment);
        r.amendment_reason = Some(AmendmentReason::SwitchToPaper);
        assert_eq!(status_words(&r).0, "Switched to paper");
        assert!(!r.in_force());
        let html = authentic(&r, Some(UploadKind::Pdf), "/verify");
        assert!(html.contains("Not in force: Switched to paper"), "{html}");
        assert!(html.contains(adapters::pdf::ATTACHMENT_NAME));
        assert_eq!(
            status_words(&record(Status::SurrenderedForDelivery)).0,
            "Surrendered for delivery (accomplished)"
        );
        assert_eq!(status_words(&record(Status::Voided)).0, "Voided");
        assert!(record(Status::Issued).in_force());
    }

    #[test]
    fn the_no_match_page_is_a_constant() {
        assert_eq!(no_match("/verify"), no_match("/verify"));
        assert!(no_match("/verify").contains("data-verdict=\"not-authentic\""));
    }
}
