//! The receiving platform's four endpoints, over a [`PintBackend`] the node implements.
//!
//! - `POST /v3/receiver-validation`: `IdentifyingCode` -> 200 `{partyName}`, or a deliberately
//!   vague 404.
//! - `POST /v3/envelopes`: [`pint::check_envelope`]; 201 (unsigned) with the documents still
//!   missing, or a signed answer at once: `RECE` (nothing missing, and the node accepted),
//!   `DUPE`, `BSIG`, `BENV`, `DISE`. A body that is no envelope: 400 with an `ErrorResponse`.
//! - `PUT /v3/envelopes/{ref}/additional-documents/{checksum}`: body a JSON string, base64 of the
//!   document. 204 (unsigned), or a signed `INCD` for bytes that do not match or a document not
//!   announced (the transfer stays open).
//! - `PUT /v3/envelopes/{ref}/finish-transfer`: signed `MDOC` with the documents still missing
//!   (the transfer stays open), else the node accepts: signed `RECE`. A retried finish gets the
//!   same signed answer again while it is remembered ([`FINISHED_KEPT_MAX`]).
//!
//! An unknown envelope reference is 404; a failure of the node (the ledger unavailable) is an
//! unsigned 500, which the sender retries. Every answer carries `API-Version: 3.0.0`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use base64::Engine as _;
use pint::check::ENVELOPE_BYTES_MAX;
use pint::model::{
    DetailedError, EnvelopeTransferFinishedResponse, EnvelopeTransferStartedResponse,
    ErrorResponse, IdentifyingCode, ReceiverValidationResponse, ResponseCode,
};
use pint::{CheckContext, CheckedTransfer, Leniency, Refusal, Signer, TrustedPlatforms};
use sha2::{Digest, Sha256};

use super::API_VERSION_HEADER;

/// Most transfers open at once. Each holds its envelope and documents in memory until it is
/// finished or expires; a sender that opens more waits (503) for others to finish.
pub const OPEN_TRANSFERS_MAX: usize = 64;
/// Largest additional document, decoded. Supporting documents are invoices, certificates,
/// packing lists: PDFs of a few MB.
pub const DOCUMENT_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Most bytes (envelopes and documents) held by all open transfers together.
pub const STAGED_BYTES_MAX: usize = 256 * 1024 * 1024;
/// How long an open transfer waits for its documents and its finish, in seconds. The standard
/// sets no limit; an hour is many retries' worth for a sender that is still there.
pub const OPEN_TRANSFER_LIFETIME_S: i64 = 3600;
/// How many finished transfers' signed answers are remembered for a retried finish.
pub const FINISHED_KEPT_MAX: usize = 256;

/// Most of the recipient's identifying codes looked up before a check; a party has one or a
/// few, and each lookup is a read of the node's state.
const RECIPIENT_CODES_MAX: usize = 16;

/// A base64 body grows by a third, plus the JSON string's quotes.
const DOCUMENT_BODY_BYTES_MAX: usize = DOCUMENT_BYTES_MAX / 3 * 4 + 1024;

/// A party this platform hosts, as receiver validation and acceptance name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedParty {
    /// The local party's code.
    pub code: String,
    /// Its name, as receiver validation shows it.
    pub name: String,
}

/// Why the node could not do what the endpoint asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The ledger (every replica, at apply) refused the transfer: answered signed, with the
    /// refusal's code.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// Not available now (no leader, timeout, storage): an unsigned 500 the sender retries.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// What the node provides to the endpoints.
#[async_trait]
pub trait PintBackend: Send + Sync + 'static {
    /// This platform's code (4 characters).
    fn platform(&self) -> String;
    /// The key and chain this platform signs its answers with.
    fn signer(&self) -> Arc<Signer>;
    /// The conformance tool's deviations accepted (off by default).
    fn leniency(&self) -> Leniency {
        Leniency::STRICT
    }
    /// Checks the transport document against the DCSA eBL 3.0 rules before anything else (the
    /// node runs `doc_workflow`'s content validation): an invalid document is answered 400 with
    /// an `ErrorResponse`, unsigned, as the standard's examples (and the conformance tool) do.
    /// Every problem is one message. Default: no check.
    fn validate_document(&self, document: &serde_json::Value) -> Result<(), Vec<String>> {
        let _ = document;
        Ok(())
    }
    /// The time now, in Unix milliseconds (the node's clock; the ledger checks again at the
    /// block's time).
    fn now_unix_ms(&self) -> i64;
    /// The platforms trusted now, from the ledger's consortium configuration.
    async fn trusted_platforms(&self) -> Result<TrustedPlatforms, BackendError>;
    /// The local party an identifying code names, if this platform hosts it and it may receive
    /// bills from other platforms.
    async fn hosted_party(
        &self,
        code: &IdentifyingCode,
    ) -> Result<Option<HostedParty>, BackendError>;
    /// The chain this network holds for the bill with this transport document reference and
    /// checksum (SHA-256 of its RFC 8785 form, the same for the bill's whole life), oldest
    /// first; empty if none. Two bills of different carriers may share a reference; they never
    /// share a checksum.
    async fn known_chain(
        &self,
        document_reference: &str,
        document_checksum: &str,
    ) -> Result<Vec<String>, BackendError>;
    /// Accepts a checked transfer with its envelope (the bytes received) and its additional
    /// documents (checksum -> bytes, every expected one): the node submits the ledger
    /// transaction and waits for its commit.
    async fn accept(
        &self,
        transfer: &CheckedTransfer,
        envelope: &[u8],
        documents: &BTreeMap<String, Vec<u8>>,
    ) -> Result<(), BackendError>;
}

/// An envelope waiting for its documents.
struct OpenTransfer {
    transfer: CheckedTransfer,
    envelope: Vec<u8>,
    documents: BTreeMap<String, Vec<u8>>,
    opened_unix_ms: i64,
}

impl OpenTransfer {
    fn bytes(&self) -> usize {
        self.envelope.len() + self.documents.values().map(Vec::len).sum::<usize>()
    }

    fn missing(&self) -> Vec<String> {
        self.transfer
            .expected_document_checksums()
            .into_iter()
            .filter(|c| !self.documents.contains_key(c))
            .collect()
    }
}

#[derive(Default)]
struct Staging {
    open: BTreeMap<String, OpenTransfer>,
    /// Finished transfers' signed answers (reference, HTTP status, answer), oldest first.
    finished: VecDeque<(String, StatusCode, String)>,
    next_id: u64,
}

impl Staging {
    fn expire(&mut self, now_ms: i64) {
        self.open
            .retain(|_, t| now_ms - t.opened_unix_ms <= OPEN_TRANSFER_LIFETIME_S * 1000);
    }

    fn staged_bytes(&self) -> usize {
        self.open.values().map(OpenTransfer::bytes).sum()
    }

    fn remember(&mut self, reference: String, status: StatusCode, answer: String) {
        if self.finished.len() >= FINISHED_KEPT_MAX {
            self.finished.pop_front();
        }
        self.finished.push_back((reference, status, answer));
    }
}

struct AppState<B> {
    backend: Arc<B>,
    staging: Mutex<Staging>,
    /// Makes envelope references unpredictable across restarts.
    salt: u64,
}

impl<B> AppState<B> {
    /// Whether a transfer of the document with this reference is open.
    fn open_for(&self, document_reference: &str) -> bool {
        let staging = self.staging.lock().unwrap_or_else(|p| p.into_inner());
        staging
            .open
            .values()
            .any(|t| t.transfer.document_reference == document_reference)
    }
}

/// The PINT 3.0 receiving endpoints over `backend`.
pub fn router<B: PintBackend>(backend: Arc<B>) -> Router {
    use std::hash::{BuildHasher, Hasher};
    let salt = {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x5049_4e54);
        h.finish()
    };
    let state = Arc::new(AppState {
        backend,
        staging: Mutex::new(Staging::default()),
        salt,
    });
    Router::new()
        .route(
            "/v3/receiver-validation",
            post(receiver_validation::<B>).layer(DefaultBodyLimit::max(64 * 1024)),
        )
        .route(
            "/v3/envelopes",
            post(start_transfer::<B>).layer(DefaultBodyLimit::max(ENVELOPE_BYTES_MAX)),
        )
        .route(
            "/v3/envelopes/{envelope_reference}/additional-documents/{document_checksum}",
            // No DefaultBodyLimit: the handler reads the body itself, within the size the
            // manifest announced (`read_within`).
            put(transfer_document::<B>),
        )
        .route(
            "/v3/envelopes/{envelope_reference}/finish-transfer",
            put(finish_transfer::<B>),
        )
        .layer(axum::middleware::map_response(add_api_version))
        .with_state(state)
}

async fn add_api_version(mut response: Response) -> Response {
    response.headers_mut().insert(
        API_VERSION_HEADER,
        HeaderValue::from_static(pint::API_VERSION),
    );
    response
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn error_response(
    now_ms: i64,
    method: &Method,
    uri: &Uri,
    status: StatusCode,
    text: &str,
    message: String,
) -> Response {
    let body = ErrorResponse {
        http_method: method.as_str().to_owned(),
        request_uri: uri.path().to_owned(),
        status_code: status.as_u16(),
        status_code_text: status.canonical_reason().unwrap_or("Error").to_owned(),
        status_code_message: None,
        provider_correlation_reference: None,
        error_date_time: pint::action_date_time(now_ms),
        errors: vec![DetailedError {
            error_code: None,
            error_code_text: text.to_owned(),
            error_code_message: message,
            json_path: None,
            property: None,
            value: None,
        }],
    };
    json_response(status, serde_json::to_vec(&body).unwrap_or_default())
}

/// 400 for a transport document the node's rules refuse: one `DetailedError` per problem.
fn invalid_document(now_ms: i64, method: &Method, uri: &Uri, problems: Vec<String>) -> Response {
    let mut response = ErrorResponse {
        http_method: method.as_str().to_owned(),
        request_uri: uri.path().to_owned(),
        status_code: 400,
        status_code_text: "Bad Request".into(),
        status_code_message: Some("the transport document is not valid".into()),
        provider_correlation_reference: None,
        error_date_time: pint::action_date_time(now_ms),
        errors: Vec::new(),
    };
    for problem in problems.into_iter().take(100) {
        response.errors.push(DetailedError {
            error_code: None,
            error_code_text: "invalidData".into(),
            error_code_message: problem,
            json_path: None,
            property: None,
            value: None,
        });
    }
    if response.errors.is_empty() {
        response.errors.push(DetailedError {
            error_code: None,
            error_code_text: "invalidData".into(),
            error_code_message: "the transport document is not valid".into(),
            json_path: None,
            property: None,
            value: None,
        });
    }
    json_response(
        StatusCode::BAD_REQUEST,
        serde_json::to_vec(&response).unwrap_or_default(),
    )
}

/// A signed answer: the compact JWS as a JSON string, with the status the standard pairs with
/// its code.
fn signed<B: PintBackend>(
    backend: &B,
    response: &EnvelopeTransferFinishedResponse,
) -> Result<(StatusCode, String), String> {
    let jws = pint::sign_response(&backend.signer(), response).map_err(|e| e.to_string())?;
    let status = StatusCode::from_u16(response.response_code.http_status())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Ok((status, jws))
}

fn signed_response(status: StatusCode, jws: &str) -> Response {
    json_response(status, serde_json::to_vec(jws).unwrap_or_default())
}

fn answer(
    last_entry_checksum: &str,
    code: ResponseCode,
    reason: Option<String>,
) -> EnvelopeTransferFinishedResponse {
    EnvelopeTransferFinishedResponse {
        last_envelope_transfer_chain_entry_signed_content_checksum: last_entry_checksum.to_owned(),
        response_code: code,
        duplicate_of_accepted_envelope_transfer_chain_entry_signed_content: None,
        reason: reason.map(|r| r.chars().take(255).collect()),
        missing_additional_document_checksums: None,
        received_additional_document_checksums: None,
    }
}

/// Sends a signed answer, or a 500 if this platform cannot sign.
fn respond_signed<B: PintBackend>(
    backend: &B,
    method: &Method,
    uri: &Uri,
    response: &EnvelopeTransferFinishedResponse,
) -> Response {
    match signed(backend, response) {
        Ok((status, jws)) => signed_response(status, &jws),
        Err(e) => internal(backend, method, uri, format!("signing the answer: {e}")),
    }
}

fn internal<B: PintBackend>(backend: &B, method: &Method, uri: &Uri, message: String) -> Response {
    tracing::warn!(%uri, "PINT: {message}");
    error_response(
        backend.now_unix_ms(),
        method,
        uri,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal error",
        message,
    )
}

async fn receiver_validation<B: PintBackend>(
    State(state): State<Arc<AppState<B>>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let backend = &*state.backend;
    let Ok(code) = serde_json::from_slice::<IdentifyingCode>(&body) else {
        return error_response(
            backend.now_unix_ms(),
            &method,
            &uri,
            StatusCode::BAD_REQUEST,
            "invalidData",
            "the body is not an IdentifyingCode".into(),
        );
    };
    match backend.hosted_party(&code).await {
        Ok(Some(p)) => json_response(
            StatusCode::OK,
            serde_json::to_vec(&ReceiverValidationResponse { party_name: p.name })
                .unwrap_or_default(),
        ),
        // Deliberately vague: the same answer for unknown, ambiguous or not accepting.
        Ok(None) | Err(BackendError::Refused(_)) => error_response(
            backend.now_unix_ms(),
            &method,
            &uri,
            StatusCode::NOT_FOUND,
            "Unknown party",
            "Unknown party".into(),
        ),
        Err(BackendError::Unavailable(e)) => internal(backend, &method, &uri, e),
    }
}

/// The last chain entry's checksum and the recipient's identifying codes, read before the
/// checks so that the hosted-party lookup (async) can be answered up front.
fn preview(
    envelope: &[u8],
) -> (
    Option<(String, String)>,
    Option<String>,
    Vec<IdentifyingCode>,
) {
    let Ok(e) = serde_json::from_slice::<pint::model::EblEnvelope>(envelope) else {
        return (None, None, Vec::new());
    };
    let reference = e
        .transport_document
        .get("transportDocumentReference")
        .and_then(serde_json::Value::as_str)
        .map(|r| (r.to_owned(), pint::json_checksum(&e.transport_document)));
    let Some(last) = e.envelope_transfer_chain.last() else {
        return (reference, None, Vec::new());
    };
    let codes = pint::jws::unverified_payload(last)
        .ok()
        .and_then(|p| serde_json::from_slice::<pint::model::EnvelopeTransferChainEntry>(&p).ok())
        .and_then(|entry| entry.transactions.last().and_then(|t| t.recipient.clone()))
        .map(|r| r.identifying_codes)
        .unwrap_or_default();
    (reference, Some(pint::signed_content_checksum(last)), codes)
}

async fn start_transfer<B: PintBackend>(
    State(state): State<Arc<AppState<B>>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let backend = &*state.backend;
    let now_ms = backend.now_unix_ms();
    if let Ok(e) = serde_json::from_slice::<pint::model::EblEnvelope>(&body)
        && let Err(problems) = backend.validate_document(&e.transport_document)
    {
        return invalid_document(now_ms, &method, &uri, problems);
    }
    let (reference, last_checksum, codes) = preview(&body);
    let mut hosted: BTreeMap<IdentifyingCode, String> = BTreeMap::new();
    for code in codes.iter().take(RECIPIENT_CODES_MAX) {
        match backend.hosted_party(code).await {
            Ok(Some(p)) => {
                hosted.insert(code.clone(), p.code);
            }
            Ok(None) | Err(BackendError::Refused(_)) => {}
            Err(BackendError::Unavailable(e)) => return internal(backend, &method, &uri, e),
        }
    }
    let trusted = match backend.trusted_platforms().await {
        Ok(t) => t,
        Err(e) => return internal(backend, &method, &uri, e.to_string()),
    };
    let known = match &reference {
        Some((r, checksum)) => match backend.known_chain(r, checksum).await {
            Ok(k) => k,
            Err(e) => return internal(backend, &method, &uri, e.to_string()),
        },
        None => Vec::new(),
    };
    let platform = backend.platform();
    let ctx = CheckContext {
        trusted: &trusted,
        at_unix_s: now_ms.div_euclid(1000),
        platform: &platform,
        known_chain: &known,
        leniency: backend.leniency(),
    };
    let lookup = |c: &IdentifyingCode| hosted.get(c).cloned();
    let transfer = match pint::check_envelope(&body, &ctx, &lookup) {
        Ok(t) => t,
        Err(Refusal::Malformed { rule, reason }) => {
            return error_response(now_ms, &method, &uri, StatusCode::BAD_REQUEST, rule, reason);
        }
        Err(Refusal::Refused { code, rule, reason }) => {
            // The standard: a refusal also rejects the transfer open for the document, if any.
            // Only its sender may end it: the refused envelope must be that platform's, signed
            // and bound to the same document, and continue the same chain.
            if let Some((r, _)) = &reference
                && state.open_for(r)
                && let Some(sender) = pint::verified_sender(&body, &ctx)
            {
                let mut staging = state.staging.lock().unwrap_or_else(|p| p.into_inner());
                staging.open.retain(|_, t| {
                    let ended = t.transfer.document_reference == *r
                        && t.transfer.sending_platform == sender.platform
                        && t.transfer.document_checksum == sender.document_checksum
                        && t.transfer.entries.len() == sender.earlier_entries.len() + 1
                        && t.transfer
                            .entries
                            .iter()
                            .zip(&sender.earlier_entries)
                            .all(|(held, sent)| held.signed_content == *sent);
                    !ended
                });
            }
            let last = last_checksum.unwrap_or_default();
            return respond_signed(
                backend,
                &method,
                &uri,
                &answer(&last, code, Some(format!("{rule}: {reason}"))),
            );
        }
    };

    if let Some(d) = &transfer.duplicate_of {
        let mut a = answer(
            &transfer.last_entry_checksum,
            ResponseCode::Dupe,
            Some("this envelope transfer was accepted before".into()),
        );
        a.duplicate_of_accepted_envelope_transfer_chain_entry_signed_content =
            Some(d.signed_content.clone());
        a.received_additional_document_checksums = Some(transfer.expected_document_checksums());
        return respond_signed(backend, &method, &uri, &a);
    }

    // A start for a document with a transfer of the same sender already open is that sender
    // retrying: the old one is dropped, keeping the documents it received that this one
    // expects too. Another platform's open transfer of it stays (accept decides between them).
    let mut carried: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    {
        let mut staging = state.staging.lock().unwrap_or_else(|p| p.into_inner());
        staging.expire(now_ms);
        let old: Vec<String> = staging
            .open
            .iter()
            .filter(|(_, t)| {
                t.transfer.document_reference == transfer.document_reference
                    && t.transfer.document_checksum == transfer.document_checksum
                    && t.transfer.sending_platform == transfer.sending_platform
            })
            .map(|(r, _)| r.clone())
            .collect();
        for r in old {
            if let Some(t) = staging.open.remove(&r) {
                carried.extend(t.documents);
            }
        }
    }
    let expected = transfer.expected_document_checksums();
    carried.retain(|c, _| expected.contains(c));
    let missing: Vec<String> = expected
        .iter()
        .filter(|c| !carried.contains_key(*c))
        .cloned()
        .collect();

    if missing.is_empty() {
        return accept_now(backend, &method, &uri, &transfer, &body, &carried)
            .await
            .1;
    }

    let mut staging = state.staging.lock().unwrap_or_else(|p| p.into_inner());
    if staging.open.len() >= OPEN_TRANSFERS_MAX
        || staging.staged_bytes() + body.len() > STAGED_BYTES_MAX
    {
        return error_response(
            now_ms,
            &method,
            &uri,
            StatusCode::SERVICE_UNAVAILABLE,
            "Busy",
            format!(
                "{OPEN_TRANSFERS_MAX} transfers or {STAGED_BYTES_MAX} bytes are open; retry later"
            ),
        );
    }
    staging.next_id += 1;
    let reference = {
        let mut h = Sha256::new();
        h.update(state.salt.to_be_bytes());
        h.update(staging.next_id.to_be_bytes());
        h.update(transfer.last_entry_checksum.as_bytes());
        hex::encode(&h.finalize()[..20])
    };
    let started = EnvelopeTransferStartedResponse {
        envelope_reference: reference.clone(),
        transport_document_checksum: transfer.document_checksum.clone(),
        last_envelope_transfer_chain_entry_signed_content_checksum: transfer
            .last_entry_checksum
            .clone(),
        missing_additional_document_checksums: missing,
    };
    staging.open.insert(
        reference,
        OpenTransfer {
            transfer,
            envelope: body.to_vec(),
            documents: carried,
            opened_unix_ms: now_ms,
        },
    );
    json_response(
        StatusCode::CREATED,
        serde_json::to_vec(&started).unwrap_or_default(),
    )
}

/// Asks the node to accept; the answer, and whether it is final (not a retryable failure).
async fn accept_now<B: PintBackend>(
    backend: &B,
    method: &Method,
    uri: &Uri,
    transfer: &CheckedTransfer,
    envelope: &[u8],
    documents: &BTreeMap<String, Vec<u8>>,
) -> (Option<(StatusCode, String)>, Response) {
    let response = match backend.accept(transfer, envelope, documents).await {
        Ok(()) => {
            let mut a = answer(&transfer.last_entry_checksum, ResponseCode::Rece, None);
            a.received_additional_document_checksums = Some(transfer.expected_document_checksums());
            a
        }
        Err(BackendError::Refused(r)) => answer(
            &transfer.last_entry_checksum,
            r.response_code().unwrap_or(ResponseCode::Benv),
            Some(format!("{}: {}", r.rule(), r.reason())),
        ),
        Err(BackendError::Unavailable(e)) => {
            return (None, internal(backend, method, uri, e));
        }
    };
    match signed(backend, &response) {
        Ok((status, jws)) => {
            let r = signed_response(status, &jws);
            (Some((status, jws)), r)
        }
        Err(e) => (
            None,
            internal(backend, method, uri, format!("signing the answer: {e}")),
        ),
    }
}

fn unknown_reference(now_ms: i64, method: &Method, uri: &Uri) -> Response {
    error_response(
        now_ms,
        method,
        uri,
        StatusCode::NOT_FOUND,
        "Unknown envelope",
        "no open envelope transfer has this reference".into(),
    )
}

/// Bytes of body that carry a document of `size` bytes: its base64 as a JSON string, with room
/// for whitespace and for encoders that escape `/` as `\/` (a sixteenth more: base64 is about
/// 1.6 % slashes); never more than [`DOCUMENT_BODY_BYTES_MAX`].
fn document_body_limit(size: u64) -> usize {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let base64 = size.div_ceil(3).saturating_mul(4);
    base64
        .saturating_add(base64 / 16)
        .saturating_add(1024)
        .min(DOCUMENT_BODY_BYTES_MAX)
}

/// The body, if it ends within `limit` bytes. Past the limit nothing more is kept: the rest is
/// read and dropped, up to [`DOCUMENT_BODY_BYTES_MAX`] in all, so that the sender is not cut off
/// in the middle of its upload and does receive the answer; `None` then, or if the body broke.
/// What is kept is never more than `limit`, whatever the sender sends.
async fn read_within(body: Body, limit: usize) -> Option<Bytes> {
    use futures_util::StreamExt as _;
    let mut stream = body.into_data_stream();
    let mut kept: Vec<u8> = Vec::new();
    let mut read = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.ok()?;
        read = read.saturating_add(chunk.len());
        if read > DOCUMENT_BODY_BYTES_MAX {
            return None;
        }
        if read <= limit {
            kept.extend_from_slice(&chunk);
        }
    }
    (read <= limit).then(|| Bytes::from(kept))
}

async fn transfer_document<B: PintBackend>(
    State(state): State<Arc<AppState<B>>>,
    Path((reference, checksum)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    body: Body,
) -> Response {
    let backend = &*state.backend;
    let now_ms = backend.now_unix_ms();
    // The open transfer and what it lists are looked at before a byte of the body is read: a
    // request for an unknown reference costs nothing to send, so it must cost the node nothing
    // to refuse, and a listed document's body may be no larger than the manifest announces.
    let (listed_size, last) = {
        let mut staging = state.staging.lock().unwrap_or_else(|p| p.into_inner());
        staging.expire(now_ms);
        let Some(open) = staging.open.get(&reference) else {
            return unknown_reference(now_ms, &method, &uri);
        };
        let listed_size = open
            .transfer
            .expected_documents
            .iter()
            .find(|d| d.document_checksum == checksum)
            .map(|d| d.size);
        (listed_size, open.transfer.last_entry_checksum.clone())
    };
    // An unlisted document is refused whatever it holds (below): its body is read and dropped.
    let bytes = match listed_size {
        None => {
            read_within(body, 0).await;
            Vec::new()
        }
        Some(size) => {
            let Some(body) = read_within(body, document_body_limit(size)).await else {
                let reason = format!(
                    "the body is larger than a document of the {size} bytes the envelope \
                     manifest announces, or ended early"
                );
                return respond_signed(
                    backend,
                    &method,
                    &uri,
                    &answer(&last, ResponseCode::Incd, Some(reason)),
                );
            };
            let decoded = serde_json::from_slice::<String>(&body)
                .ok()
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok());
            let Some(bytes) = decoded else {
                return error_response(
                    now_ms,
                    &method,
                    &uri,
                    StatusCode::BAD_REQUEST,
                    "invalidData",
                    "the body must be a JSON string holding the document in base64".into(),
                );
            };
            bytes
        }
    };
    // Hashed before the staging lock is taken: a document may be 16 MiB.
    let digest = pint::sha256_hex(&bytes);
    let mut staging = state.staging.lock().unwrap_or_else(|p| p.into_inner());
    staging.expire(now_ms);
    let staged_bytes = staging.staged_bytes();
    let Some(open) = staging.open.get_mut(&reference) else {
        return unknown_reference(now_ms, &method, &uri);
    };
    let listed = open
        .transfer
        .expected_documents
        .iter()
        .find(|d| d.document_checksum == checksum)
        .cloned();
    let incd = |reason: String| answer(&last, ResponseCode::Incd, Some(reason));
    let problem = match &listed {
        None => Some(format!(
            "document {checksum} is not listed in the envelope manifest"
        )),
        Some(_) if bytes.len() > DOCUMENT_BYTES_MAX => Some(format!(
            "the document is {} bytes, more than {DOCUMENT_BYTES_MAX}",
            bytes.len()
        )),
        Some(_) if digest != checksum => Some(format!(
            "the document's SHA-256 is {digest}, not {checksum}"
        )),
        Some(d) if d.size != bytes.len() as u64 => Some(format!(
            "the document is {} bytes, the manifest says {}",
            bytes.len(),
            d.size
        )),
        Some(_) => None,
    };
    if let Some(reason) = problem {
        drop(staging);
        return respond_signed(backend, &method, &uri, &incd(reason));
    }
    if !open.documents.contains_key(&checksum) && staged_bytes + bytes.len() > STAGED_BYTES_MAX {
        return error_response(
            now_ms,
            &method,
            &uri,
            StatusCode::SERVICE_UNAVAILABLE,
            "Busy",
            format!("{STAGED_BYTES_MAX} bytes are staged; retry later"),
        );
    }
    open.documents.insert(checksum, bytes);
    StatusCode::NO_CONTENT.into_response()
}

async fn finish_transfer<B: PintBackend>(
    State(state): State<Arc<AppState<B>>>,
    Path(reference): Path<String>,
    method: Method,
    uri: Uri,
) -> Response {
    let backend = &*state.backend;
    let now_ms = backend.now_unix_ms();
    let (transfer, envelope, documents) = {
        let mut staging = state.staging.lock().unwrap_or_else(|p| p.into_inner());
        staging.expire(now_ms);
        if let Some((_, status, jws)) = staging.finished.iter().find(|(r, _, _)| *r == reference) {
            return signed_response(*status, jws);
        }
        let Some(open) = staging.open.get(&reference) else {
            return unknown_reference(now_ms, &method, &uri);
        };
        let missing = open.missing();
        if !missing.is_empty() {
            let mut a = answer(
                &open.transfer.last_entry_checksum,
                ResponseCode::Mdoc,
                Some(format!(
                    "{} additional documents are missing",
                    missing.len()
                )),
            );
            a.missing_additional_document_checksums = Some(missing);
            drop(staging);
            return respond_signed(backend, &method, &uri, &a);
        }
        (
            open.transfer.clone(),
            open.envelope.clone(),
            open.documents.clone(),
        )
    };
    let (final_answer, response) =
        accept_now(backend, &method, &uri, &transfer, &envelope, &documents).await;
    if let Some((status, jws)) = final_answer {
        let mut staging = state.staging.lock().unwrap_or_else(|p| p.into_inner());
        staging.open.remove(&reference);
        staging.remember(reference, status, jws);
    }
    response
}
