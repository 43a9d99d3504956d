//! Documents: their state, their signed history, their renderings (DCSA JSON, PDF), and the
//! pages and verifications that list them. Plus the reads every document resolver shares:
//! a document only if the caller may read it, its full history, the parties' names.

use async_graphql::{Context, Json, Object, SimpleObject};
use doc_workflow::{DocumentClass, DocumentKey, DocumentKind, DocumentState, PartyCode};
use ledger::{HistoryEntry, LedgerReader};

use adapters::time::iso8601_utc;

use super::outcome::DocumentKeyOut;
use super::release::entry_visible;
use super::{HISTORY_PAGE_MAX, api, code_of};
use crate::caller::Caller;
use crate::cost::{DCSA_COMPLEXITY, LARGE_VALUE_COMPLEXITY, PDF_COMPLEXITY, budget, list_cost};
use crate::error::{BAD_REQUEST, api_error, internal};

/// The key a document state is stored under.
pub(super) fn key_of(state: &DocumentState) -> DocumentKey {
    let class = match state.kind {
        DocumentKind::CargoRelease => DocumentClass::CargoRelease,
        _ => DocumentClass::TransportDocument,
    };
    DocumentKey {
        class,
        id: state.id.clone(),
    }
}

/// Every history entry of `state`, up to its sequence.
pub(super) fn full_history(
    reader: &LedgerReader,
    state: &DocumentState,
) -> async_graphql::Result<Vec<HistoryEntry>> {
    reader
        .history_through(&key_of(state), state.sequence)
        .map_err(internal)
}

/// The ledger's names for its parties, for renderings.
pub(super) fn party_names(reader: &LedgerReader) -> adapters::dcsa::PartyNames {
    let mut names = adapters::dcsa::PartyNames::default();
    for p in reader.parties() {
        names.insert(p.code, p.name);
    }
    names
}

/// Reads a document if it exists and the caller may read it; `None` for both "no" answers.
pub(super) fn visible_document(
    reader: &LedgerReader,
    caller: &Caller,
    key: &DocumentKey,
) -> async_graphql::Result<Option<DocumentState>> {
    let parties = reader.parties_ever(key).map_err(internal)?;
    if !caller.may_read(&parties) {
        return Ok(None);
    }
    let mut state = reader.document(key).map_err(internal)?;
    // A terminal sees the rights at its terminal, a haulier those it is nominated for, a holder
    // its own: not the other rights of the same bill (`release`).
    if let Some(state) = &mut state
        && !caller.observer
        && let Some(release) = &state.release
    {
        state.release = Some(release.visible_to(&caller.party, &state.carrier));
    }
    Ok(state)
}

/// A transfer of a bill to another eBL platform (DCSA PINT).
#[derive(async_graphql::SimpleObject)]
pub struct PlatformTransferOut {
    /// `REQUESTED`, `DISPATCHED`, `DELIVERED` (a signed `RECE` or `DUPE` came back) or
    /// `RETURNED` (a signed `BENV`, `BSIG` or `DISE`: the bill stayed here).
    pub stage: String,
    /// The receiving platform's code.
    pub platform: String,
    pub action_code: String,
    /// The receiving party, as this ledger names a party of another platform
    /// (`PLATFORM:code`).
    pub recipient: String,
    pub sender: String,
    pub requested_height: u64,
    /// The receiving platform's signed answer code, and its reason.
    pub response_code: Option<String>,
    pub reason: Option<String>,
    /// The signed answer itself (compact JWS): the sender's receipt.
    pub receipt: Option<String>,
    /// The supporting documents the transfer carries (PINT additional documents).
    pub documents: Vec<SupportingDocumentOut>,
}

/// A supporting document of a transfer to another platform, as its envelope manifest lists it.
#[derive(async_graphql::SimpleObject)]
pub struct SupportingDocumentOut {
    pub name: String,
    pub media_type: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256 of its bytes, lowercase hex.
    pub checksum: String,
}

/// A document as the ledger holds it now.
pub struct Document {
    pub(super) state: DocumentState,
}

#[Object]
impl Document {
    async fn key(&self) -> DocumentKeyOut {
        DocumentKeyOut::from(&key_of(&self.state))
    }

    async fn carrier_code(&self) -> &str {
        self.state.id.carrier.as_str()
    }

    async fn reference(&self) -> &str {
        self.state.id.reference.as_str()
    }

    /// `BILL_OF_LADING`, `SEA_WAYBILL` or `CARGO_RELEASE`.
    async fn kind(&self) -> String {
        self.state.kind.code().to_owned()
    }

    /// `DRAFT`, `ISSUED`, `SURRENDERED_FOR_DELIVERY`, ...
    async fn status(&self) -> String {
        self.state.status.code().to_owned()
    }

    /// `STRAIGHT`, `TO_ORDER` or `BLANK`; absent for a cargo release.
    async fn mode(&self) -> Option<String> {
        self.state.mode.as_ref().map(code_of)
    }

    /// The one party in control of the document (MLETR exclusive control).
    async fn possessor(&self) -> Option<&str> {
        self.state.possessor.as_ref().map(PartyCode::as_str)
    }

    /// The title holder of a to-order bill.
    async fn endorsee(&self) -> Option<&str> {
        self.state.endorsee.as_ref().map(PartyCode::as_str)
    }

    async fn shipper(&self) -> Option<&str> {
        self.state.shipper.as_ref().map(PartyCode::as_str)
    }

    async fn consignee(&self) -> Option<&str> {
        self.state.consignee.as_ref().map(PartyCode::as_str)
    }

    /// How many committed actions the document has seen.
    async fn sequence(&self) -> u64 {
        self.state.sequence
    }

    async fn created_at(&self) -> String {
        iso8601_utc(self.state.created_at.0)
    }

    async fn updated_at(&self) -> String {
        iso8601_utc(self.state.updated_at.0)
    }

    /// SHA-256 over the content's RFC 8785 canonical JSON, lowercase hex (DCSA's checksum).
    async fn checksum(&self) -> Option<&str> {
        self.state.content.as_ref().map(|c| c.sha256.as_str())
    }

    /// The DCSA eBL 3.0 transport document, as issued.
    #[graphql(complexity = "LARGE_VALUE_COMPLEXITY")]
    async fn content(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Json<serde_json::Value>>> {
        let Some(content) = &self.state.content else {
            return Ok(None);
        };
        budget(ctx)?.charge(content.canonical_json.len())?;
        Ok(Some(Json(content.json())))
    }

    /// The bill's latest transfer to another eBL platform (DCSA PINT), if it has one: while it
    /// is `REQUESTED`, `DISPATCHED` or `DELIVERED` the bill is held there and nothing is done
    /// with it here.
    async fn platform_transfer(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<PlatformTransferOut>> {
        let reader = api(ctx).reader();
        let export = reader.pint_export(&key_of(&self.state)).map_err(internal)?;
        Ok(export.map(|e| PlatformTransferOut {
            stage: e.stage.code().to_owned(),
            platform: e.platform,
            action_code: e.action_code,
            recipient: e.recipient_code.as_str().to_owned(),
            sender: e.sender.as_str().to_owned(),
            requested_height: e.requested_height,
            response_code: e.response_code,
            reason: e.reason,
            receipt: e.response,
            documents: e
                .documents
                .into_iter()
                .map(|d| SupportingDocumentOut {
                    name: d.name,
                    media_type: d.media_type,
                    size: d.size,
                    checksum: d.document_checksum,
                })
                .collect(),
        }))
    }

    /// The checksums of the additional documents (DCSA PINT) that came with the bill when it
    /// last arrived from another platform; every node checked they were received, and the node
    /// that received the envelope keeps their bytes. Empty for a bill that never arrived.
    async fn received_documents(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        let Some(content) = &self.state.content else {
            return Ok(Vec::new());
        };
        if self.state.kind != doc_workflow::DocumentKind::BillOfLading {
            return Ok(Vec::new());
        }
        Ok(api(ctx)
            .reader()
            .pint_chain(&content.sha256)
            .map_err(internal)?
            .map(|chain| chain.documents)
            .unwrap_or_default())
    }

    /// The bill's DCSA PINT issuance manifest (compact JWS): the one its carrier signed when
    /// it issued the bill here, or for a bill from another platform the one its first chain
    /// entry carries. Absent for a bill issued here without one (its first node to send it
    /// signs one then).
    async fn issuance_manifest(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        let Some(content) = &self.state.content else {
            return Ok(None);
        };
        if self.state.kind != doc_workflow::DocumentKind::BillOfLading {
            return Ok(None);
        }
        api(ctx)
            .reader()
            .pint_issuance_manifest(&key_of(&self.state), &content.sha256)
            .map_err(internal)
    }

    /// The whole state, as the ledger stores and hashes it.
    #[graphql(complexity = "LARGE_VALUE_COMPLEXITY")]
    async fn state(&self, ctx: &Context<'_>) -> async_graphql::Result<Json<serde_json::Value>> {
        budget(ctx)?.charge(crate::cost::json_len(&self.state, usize::MAX))?;
        Ok(Json(serde_json::to_value(&self.state).unwrap_or_default()))
    }

    /// The document and its endorsement chain as DCSA eBL 3.0 JSON (content, checksum, and the
    /// chain in the shape of DCSA's endorsement-chain API).
    #[graphql(complexity = "DCSA_COMPLEXITY")]
    async fn dcsa(&self, ctx: &Context<'_>) -> async_graphql::Result<Json<serde_json::Value>> {
        let budget = budget(ctx)?;
        budget.check()?;
        let reader = api(ctx).reader();
        let history = full_history(reader, &self.state)?;
        let export = adapters::dcsa::export(&self.state, &history, &party_names(reader))
            .map_err(|e| api_error(BAD_REQUEST, e.to_string()))?;
        budget.charge(crate::cost::json_len(&export, usize::MAX))?;
        Ok(Json(export))
    }

    /// A PDF rendering, base64. An ordinary rendering is marked as a copy (the ledger record is
    /// the original); `switchToPaper` renders the paper original that replaces the record, only
    /// after an accepted surrender for amendment with reason `SWITCH_TO_PAPER`. One request
    /// renders at most 8 (`QUERY_TOO_COMPLEX` beyond).
    #[graphql(complexity = "PDF_COMPLEXITY")]
    async fn pdf(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] switch_to_paper: bool,
    ) -> async_graphql::Result<String> {
        use base64::Engine as _;
        let budget = budget(ctx)?;
        budget.start_pdf()?;
        let reader = api(ctx).reader();
        let history = full_history(reader, &self.state)?;
        let options = adapters::pdf::RenderOptions {
            switch_to_paper,
            names: party_names(reader),
            verify_base_url: api(ctx).verify_base_url.clone(),
        };
        let state = self.state.clone();
        let encoded = crate::cost::render_pdf(move || {
            adapters::pdf::render(&state, &history, &options)
                .map(|bytes| base64::engine::general_purpose::STANDARD.encode(bytes))
        })
        .await?
        .map_err(|e| api_error(BAD_REQUEST, e.to_string()))?;
        budget.charge(encoded.len())?;
        Ok(encoded)
    }

    /// The document's history, oldest first: every committed transaction with its signer,
    /// action, recipient, block and signed JWS. At most 100 per page. Of a cargo release, the
    /// entries about the rights the caller sees.
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        after_sequence: Option<u64>,
        #[graphql(default = 100)] first: usize,
    ) -> async_graphql::Result<Vec<HistoryItem>> {
        if first == 0 || first > HISTORY_PAGE_MAX {
            return Err(api_error(
                BAD_REQUEST,
                format!("first must be between 1 and {HISTORY_PAGE_MAX}"),
            ));
        }
        let key = key_of(&self.state);
        let entries = api(ctx)
            .reader()
            .history(&key, after_sequence, first)
            .map_err(internal)?;
        // Only what the state we read had: a block applied since is not half-shown. Of a cargo
        // release, only the entries about rights the caller sees (`release::entry_visible`).
        Ok(entries
            .into_iter()
            .filter(|e| e.sequence <= self.state.sequence)
            .filter(|e| entry_visible(&self.state, &e.event.kind))
            .map(|entry| HistoryItem { entry })
            .collect())
    }
}

/// One committed transaction in a document's history.
pub struct HistoryItem {
    entry: HistoryEntry,
}

#[Object]
impl HistoryItem {
    async fn sequence(&self) -> u64 {
        self.entry.sequence
    }

    async fn tx_hash(&self) -> String {
        self.entry.tx_hash.to_string()
    }

    async fn height(&self) -> u64 {
        self.entry.height
    }

    async fn position(&self) -> u32 {
        self.entry.position
    }

    async fn time(&self) -> String {
        iso8601_utc(self.entry.time_ms)
    }

    /// The acting party.
    async fn actor(&self) -> &str {
        self.entry.actor.as_str()
    }

    /// The member whose CA certified the signer.
    async fn member(&self) -> &str {
        self.entry.member.as_str()
    }

    /// SHA-256 of the signer's certificate.
    async fn signer_fingerprint(&self) -> &str {
        &self.entry.signer_fingerprint
    }

    /// `ISSUE`, `TRANSFER`, `ENDORSE`, ...
    async fn action(&self) -> String {
        self.entry.action.code().to_owned()
    }

    /// The party the action handed the document to, if any.
    async fn recipient(&self) -> Option<&str> {
        self.entry.recipient.as_ref().map(PartyCode::as_str)
    }

    /// What happened (`ISSUED`, `TRANSFERRED`, ...).
    async fn event(&self) -> String {
        self.entry.event.kind.code().to_owned()
    }

    /// The event with its details.
    async fn event_detail(&self) -> Json<serde_json::Value> {
        Json(serde_json::to_value(&self.entry.event).unwrap_or_default())
    }

    /// The signed transaction (JWS compact, with the signer's chain in `x5c`): anyone can
    /// verify it again.
    #[graphql(complexity = "LARGE_VALUE_COMPLEXITY")]
    async fn signature(&self, ctx: &Context<'_>) -> async_graphql::Result<&str> {
        budget(ctx)?.charge(self.entry.jws.len())?;
        Ok(&self.entry.jws)
    }
}

/// A page of documents.
#[derive(SimpleObject)]
pub struct DocumentPage {
    pub documents: Vec<Document>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// What `verifyDocument` found.
#[derive(SimpleObject)]
pub struct Verification {
    /// Whether the ledger holds a document with exactly this content (and the caller may see
    /// it).
    pub matches: bool,
    /// The checksum looked up: SHA-256 over RFC 8785 canonical JSON, lowercase hex.
    pub checksum: String,
    /// The documents holding that content, with their status, possessor and history.
    pub documents: Vec<Document>,
}

// ----- blocks ------------------------------------------------------------------------------
