//! The node's DCSA PINT side: the receiving endpoints' backend ([`PintNode`], served by
//! `adapters::pint::router`), the sender's outbox ([`run_outbox`]) and `silkline pint send`.
//!
//! How this network signs: every PINT message it makes (a chain entry, an envelope manifest,
//! a signed answer) is signed by the node that makes it, with its Ed25519 node key (`EdDSA`),
//! its certificate chain in `x5c`. The issuance manifest of a bill issued here is the
//! carrier's, signed with the carrier user's key when it issued (`silkline tx issue` signs both
//! the `ISSUE` and the manifest; the ledger checks it and keeps it); only a bill issued without
//! one gets a manifest signed by the node that first sends it. Another
//! platform checks them against this network's `platformCertificates` (`network.json`): its
//! members' root CAs, which another Silkline network trusts by vote (`TRUST_PLATFORM`).
//!
//! Receiving: the endpoints check the envelope (`pint::check_envelope`, against the
//! platforms the ledger trusts now) and [`PintNode::accept`] submits `PINT_IMPORT`, which every
//! node checks again at apply; additional documents are kept in `DATA/pint-documents/`, by
//! checksum, off the ledger.
//!
//! Sending: the outbox follows the ledger's transfers to other platforms (`pxq/`). For one of
//! its member's: `REQUESTED` -> the node builds and signs the chain entry (the bill's
//! transactions here since it last arrived, or since its issue, then the transfer) and the
//! envelope manifest, and records them (`PINT_DISPATCH`); `DISPATCHED` -> it delivers those
//! very bytes (`adapters::pint::deliver`, which retries unsigned failures), with the supporting
//! documents the `PINT_SEND` carried (their bytes on the ledger, so any node of the member has
//! them), and records the signed answer (`PINT_RECEIPT`). The ledger is the durable outbox: after a restart, or from
//! another node of the member, delivery resumes with the same bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use adapters::pint::{BackendError, DeliveryPolicy, HostedParty, PintBackend};
use anyhow::Context as _;
use async_trait::async_trait;
use doc_workflow::{DocumentKey, EventKind, PartyCode};
use ledger::client::{LedgerClient, SubmitError};
use ledger::{ExportRecord, ExportStage, LedgerReader, Outcome};
use pint::{
    CheckedTransfer, EblEnvelope, IdentifyingCode, Leniency, Party, Refusal, ResponseCode,
    TrustedPlatforms,
};
use serde_json::{Value, json};
use tokio::sync::watch;

/// How often the outbox looks for transfers to make progress on.
pub const OUTBOX_INTERVAL_MS: u64 = 1_000;
/// Most transfers the outbox takes up per turn.
pub const OUTBOX_BATCH_MAX: usize = 16;
/// How long a transfer waits for the member's first node before any other of its nodes takes
/// it up (the first may be down).
pub const OUTBOX_TAKEOVER_MS: u64 = 30_000;
/// Where a node keeps the additional documents of the envelopes it received.
pub const DOCUMENTS_DIR: &str = "pint-documents";

/// The node as the PINT endpoints and the outbox see it.
pub struct PintNode {
    client: LedgerClient,
    /// Signs the node's ledger transactions (`PINT_IMPORT`, `PINT_DISPATCH`, `PINT_RECEIPT`).
    tx_signer: pki::jws::Signer,
    /// Signs PINT messages: the same key and chain.
    signer: Arc<pint::Signer>,
    network_id: String,
    platform: String,
    raft_id: u64,
    documents: PathBuf,
}

impl PintNode {
    /// The node of `client`, signing with the key and chain of the PEM files.
    pub fn new(
        client: LedgerClient,
        raft_id: u64,
        key_pem: &str,
        chain_pem: &str,
        data_dir: &Path,
    ) -> anyhow::Result<PintNode> {
        let reader = client.reader();
        let platform = reader
            .platform()
            .context("the genesis names no platform code: PINT needs one")?
            .to_owned();
        let network_id = reader.genesis().network_id.clone();
        let tx_signer = pki::jws::Signer::from_pem(key_pem, chain_pem)
            .map_err(|e| anyhow::anyhow!("the node's signing key: {e}"))?;
        let signer = pint::Signer::from_pem(key_pem, chain_pem)
            .map_err(|e| anyhow::anyhow!("the node's PINT signing key: {e}"))?;
        let documents = data_dir.join(DOCUMENTS_DIR);
        std::fs::create_dir_all(&documents)
            .with_context(|| format!("create {}", documents.display()))?;
        Ok(PintNode {
            client,
            tx_signer,
            signer: Arc::new(signer),
            network_id,
            platform,
            raft_id,
            documents,
        })
    }

    fn reader(&self) -> &LedgerReader {
        self.client.reader()
    }

    /// Signs and submits a PINT transaction of this node; waits for its outcome.
    async fn submit(&self, body: Value) -> Result<(Outcome, Option<u64>), String> {
        let jws =
            crate::client::sign_body(&self.tx_signer, &self.network_id, json!({"pint": body}))
                .map_err(|e| e.to_string())?;
        match self
            .client
            .submit(jws.into_bytes(), crate::client::now_ms())
            .await
        {
            Ok(submitted) => Ok((submitted.outcome, submitted.location.map(|l| l.height))),
            Err(e @ (SubmitError::Unavailable(_) | SubmitError::Unknown { .. })) => {
                Err(e.to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// The member this node belongs to, as the ledger knows it now.
    fn member(&self) -> Option<PartyCode> {
        self.reader()
            .nodes()
            .into_iter()
            .find(|n| n.raft_id == self.raft_id)
            .map(|n| n.member)
    }

    /// Whether this node takes up `export` now: the member's lowest-numbered node at once,
    /// the others once it has waited [`OUTBOX_TAKEOVER_MS`].
    fn takes(&self, export: &ExportRecord, member: &PartyCode, now_ms: u64) -> bool {
        if &export.member != member {
            return false;
        }
        let first = self
            .reader()
            .nodes()
            .into_iter()
            .filter(|n| &n.member == member && n.role != ledger::NodeRole::Removed)
            .map(|n| n.raft_id)
            .min();
        first == Some(self.raft_id)
            || now_ms.saturating_sub(export.requested_ms) > OUTBOX_TAKEOVER_MS
    }
}

#[async_trait]
impl PintBackend for PintNode {
    fn platform(&self) -> String {
        self.platform.clone()
    }

    fn signer(&self) -> Arc<pint::Signer> {
        self.signer.clone()
    }

    fn leniency(&self) -> Leniency {
        if self
            .reader()
            .consortium()
            .parameters
            .pint_conformance_leniency
            == 1
        {
            Leniency::CONFORMANCE_TOOL
        } else {
            Leniency::STRICT
        }
    }

    /// The DCSA eBL 3.0 `TransportDocument` schema, as the ledger checks it again at apply.
    fn validate_document(&self, document: &Value) -> Result<(), Vec<String>> {
        let problems = doc_workflow::schema::problems(document);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.iter().map(ToString::to_string).collect())
        }
    }

    fn now_unix_ms(&self) -> i64 {
        i64::try_from(crate::client::now_ms()).unwrap_or(i64::MAX)
    }

    async fn trusted_platforms(&self) -> Result<TrustedPlatforms, BackendError> {
        Ok(self.reader().pint_trusted_platforms())
    }

    async fn hosted_party(
        &self,
        code: &IdentifyingCode,
    ) -> Result<Option<HostedParty>, BackendError> {
        Ok(self.reader().pint_hosted_party(code).map(|p| HostedParty {
            code: p.code.as_str().to_owned(),
            name: p.name,
        }))
    }

    async fn known_chain(
        &self,
        _document_reference: &str,
        document_checksum: &str,
    ) -> Result<Vec<String>, BackendError> {
        self.reader()
            .pint_chain(document_checksum)
            .map(|c| c.map(|c| c.entries).unwrap_or_default())
            .map_err(|e| BackendError::Unavailable(e.to_string()))
    }

    async fn accept(
        &self,
        transfer: &CheckedTransfer,
        envelope: &[u8],
        documents: &BTreeMap<String, Vec<u8>>,
    ) -> Result<(), BackendError> {
        let envelope: Value = serde_json::from_slice(envelope).map_err(|e| {
            BackendError::Refused(Refusal::Malformed {
                rule: "PINT_MALFORMED_ENVELOPE",
                reason: e.to_string(),
            })
        })?;
        if serde_json::to_vec(&envelope).map_or(0, |b| b.len())
            > ledger::tx::PINT_ENVELOPE_BYTES_MAX
        {
            return Err(BackendError::Refused(Refusal::Refused {
                code: ResponseCode::Benv,
                rule: "PINT_ENVELOPE_TOO_LARGE",
                reason: format!(
                    "this platform takes envelopes of at most {} bytes",
                    ledger::tx::PINT_ENVELOPE_BYTES_MAX
                ),
            }));
        }
        // The documents first: once the ledger says the bill is here, its documents are.
        for (checksum, bytes) in documents {
            if !pint::checksum::is_checksum(checksum) {
                continue;
            }
            let path = self.documents.join(checksum);
            if !path.exists() {
                let tmp = self.documents.join(format!("{checksum}.tmp"));
                std::fs::write(&tmp, bytes)
                    .and_then(|()| std::fs::rename(&tmp, &path))
                    .map_err(|e| BackendError::Unavailable(format!("keep a document: {e}")))?;
            }
        }
        let checksums: Vec<&String> = documents.keys().collect();
        let body = json!({"action": "IMPORT", "envelope": envelope, "documents": checksums});
        match self.submit(body).await {
            Ok((Outcome::Committed { .. }, _)) => Ok(()),
            Ok((Outcome::Refused { code, message, .. }, _)) => {
                tracing::info!(
                    reference = %transfer.document_reference,
                    %code,
                    %message,
                    "PINT envelope refused by the ledger"
                );
                Err(ledger_refusal(&code, &message))
            }
            Err(e) => Err(BackendError::Unavailable(e)),
        }
    }
}

/// A ledger refusal of `PINT_IMPORT` as the endpoint answers it: the envelope's own check
/// (every node ran it again) as its signed code, anything else (paused, a passing failure) as
/// an unsigned error the sender retries.
fn ledger_refusal(code: &str, message: &str) -> BackendError {
    let response = message
        .split_whitespace()
        .next()
        .and_then(|first| match first {
            "BSIG" => Some(ResponseCode::Bsig),
            "BENV" => Some(ResponseCode::Benv),
            "DISE" => Some(ResponseCode::Dise),
            _ => None,
        });
    match (code, response) {
        ("PINT_DUPLICATE", _) => BackendError::Refused(Refusal::Refused {
            code: ResponseCode::Dupe,
            rule: "PINT_DUPLICATE",
            reason: message.to_owned(),
        }),
        (_, Some(response)) => BackendError::Refused(Refusal::Refused {
            code: response,
            rule: "PINT_LEDGER_REFUSED",
            reason: format!("{code}: {message}"),
        }),
        (c, None) if c.starts_with("PINT_") || c == "UNKNOWN_PARTY" => {
            BackendError::Refused(Refusal::Refused {
                code: ResponseCode::Benv,
                rule: "PINT_LEDGER_REFUSED",
                reason: format!("{code}: {message}"),
            })
        }
        _ => BackendError::Unavailable(format!("{code}: {message}")),
    }
}

/// The PINT party of a local party (`ledger::pint_party`, as the ledger checks an issuance
/// manifest's `issueToChecksum`).
fn local_party(platform: &str, reader: &LedgerReader, code: &PartyCode) -> Party {
    let name = reader
        .party(code)
        .map(|p| p.name)
        .unwrap_or_else(|| code.as_str().to_owned());
    ledger::pint_party(platform, code, &name)
}

fn transaction(
    action: &str,
    actor: Party,
    recipient: Option<Party>,
    time_ms: u64,
) -> pint::Transaction {
    pint::Transaction {
        action_code: action.to_owned(),
        actor,
        recipient,
        action_date_time: pint::action_date_time(i64::try_from(time_ms).unwrap_or(i64::MAX)),
        reason_code: None,
        comments: None,
        audit_reference: None,
        action: None,
    }
}

/// The chain entry and envelope manifest of `export`, signed by this node: the bill's
/// transactions here since it last arrived (or since its issue), then the transfer.
fn build_dispatch(node: &PintNode, export: &ExportRecord) -> anyhow::Result<(String, String)> {
    let reader = node.reader();
    let key = &export.document;
    let state = reader
        .document(key)?
        .with_context(|| format!("{key} does not exist"))?;
    let content = state.content.as_ref().context("the bill has no content")?;
    let document = content.json();
    let held = reader.pint_chain(&content.sha256)?;
    let chain: Vec<String> = held.map(|h| h.entries).unwrap_or_default();
    let history = reader.history(key, None, 10_000)?;
    let since = history
        .iter()
        .rposition(|h| matches!(h.event.kind, EventKind::ReceivedFromPlatform { .. }))
        .map_or(0, |i| i + 1);
    let platform = &node.platform;
    let party = |code: &PartyCode| local_party(platform, reader, code);
    let mut transactions = Vec::new();
    let mut issue_to = None;
    for h in &history[since..] {
        let actor = party(&h.event.actor);
        let t = match &h.event.kind {
            EventKind::Issued { possessor, .. } => {
                let to = party(possessor);
                issue_to = Some(to.clone());
                transaction("ISSUE", actor, Some(to), h.time_ms)
            }
            EventKind::Transferred { to, .. } => {
                transaction("TRANSFER", actor, Some(party(to)), h.time_ms)
            }
            EventKind::Endorsed {
                to,
                may_endorse_further,
                ..
            } => transaction(
                if *may_endorse_further {
                    "ENDORSE_TO_ORDER"
                } else {
                    "ENDORSE"
                },
                actor,
                Some(party(to)),
                h.time_ms,
            ),
            EventKind::BlankEndorsed => transaction("BLANK_ENDORSE", actor, None, h.time_ms),
            EventKind::Signed => transaction("SIGN", actor, None, h.time_ms),
            _ => continue,
        };
        transactions.push(t);
    }
    let recipient: Party =
        serde_json::from_value(export.recipient.clone()).context("the recorded recipient")?;
    transactions.push(transaction(
        &export.action_code,
        party(&export.sender),
        Some(recipient),
        export.requested_ms,
    ));
    // The first entry carries the issuance manifest: the carrier's, signed when it issued
    // the bill and checked by the ledger then; for a bill issued without one (before carriers
    // signed them, or by a client that did not), this node signs it for the network.
    let issuance_manifest = if chain.is_empty() {
        match reader.pint_issuance_manifest(key, &content.sha256)? {
            Some(carrier_signed) => Some(carrier_signed),
            None => {
                let issue_to = issue_to.context("the bill's issue is not in its history")?;
                Some(pint::sign_issuance_manifest(
                    &node.signer,
                    &document,
                    &issue_to,
                    None,
                )?)
            }
        }
    } else {
        None
    };
    let entry = pint::build_entry(
        &node.signer,
        platform,
        &content.sha256,
        chain.last().map(String::as_str),
        issuance_manifest.as_deref(),
        &transactions,
    )?;
    let mut full = chain;
    full.push(entry.clone());
    let envelope: EblEnvelope = serde_json::from_slice(&pint::build_envelope(
        &node.signer,
        &document,
        &full,
        None,
        &export.documents,
    )?)?;
    Ok((entry, envelope.envelope_manifest_signed_content))
}

/// The envelope of a dispatched transfer: the same bytes at every attempt.
fn envelope_of(reader: &LedgerReader, export: &ExportRecord) -> anyhow::Result<Vec<u8>> {
    let state = reader
        .document(&export.document)?
        .context("the bill does not exist")?;
    let content = state.content.context("the bill has no content")?;
    let document = content.json();
    let mut chain = reader
        .pint_chain(&content.sha256)?
        .map(|h| h.entries)
        .unwrap_or_default();
    chain.push(export.entry.clone().context("not dispatched")?);
    let envelope = EblEnvelope {
        transport_document: document,
        envelope_manifest_signed_content: export.manifest.clone().context("not dispatched")?,
        envelope_transfer_chain: chain,
        issuance_manifest_signed_content: None,
    };
    Ok(serde_json::to_vec(&envelope)?)
}

/// An HTTPS client for another platform: its trusted certificates are the roots (another
/// Silkline network's are its members' root CAs, which certify its nodes' TLS certificates).
fn http_client(reader: &LedgerReader, platform: &str) -> anyhow::Result<reqwest::Client> {
    let consortium = reader.consortium();
    let record = consortium
        .platforms
        .get(platform)
        .with_context(|| format!("platform {platform} is no longer trusted"))?;
    let mut roots = rustls::RootCertStore::empty();
    for pem in &record.certificates {
        for cert in pki::pem::certificates(pem).map_err(anyhow::Error::msg)? {
            // A pinned signing certificate that is no CA is simply no root.
            let _ = roots.add(cert);
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(pki::tls::public_provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(5))
        .build()?)
}

/// One step of one transfer of the outbox.
async fn progress(node: &PintNode, export: &ExportRecord) -> anyhow::Result<()> {
    match export.stage {
        ExportStage::Requested => {
            let (entry, manifest) = build_dispatch(node, export)?;
            let (outcome, _) = node
                .submit(json!({
                    "action": "DISPATCH",
                    "document": export.document.id,
                    "entry": entry,
                    "manifest": manifest,
                }))
                .await
                .map_err(anyhow::Error::msg)?;
            if let Outcome::Refused { code, message, .. } = outcome {
                anyhow::bail!("PINT_DISPATCH refused: {code}: {message}");
            }
            Ok(())
        }
        ExportStage::Dispatched => {
            let reader = node.reader();
            let envelope = envelope_of(reader, export)?;
            let url = reader
                .consortium()
                .platforms
                .get(&export.platform)
                .map(|p| p.url.clone())
                .with_context(|| format!("platform {} is no longer trusted", export.platform))?;
            let client = http_client(reader, &export.platform)?;
            let last = pint::signed_content_checksum(export.entry.as_deref().unwrap_or_default());
            let trusted = reader.pint_trusted_platforms();
            let platform = export.platform.clone();
            let verify = move |signed: &str| {
                pint::check_response(
                    &trusted,
                    &platform,
                    signed,
                    i64::try_from(crate::client::now_ms() / 1000).unwrap_or(i64::MAX),
                    &last,
                )
            };
            // The supporting documents, from the ledger: any node of the member has them.
            let mut documents = Vec::with_capacity(export.documents.len());
            for d in &export.documents {
                let bytes = reader
                    .pint_outgoing_document(&export.document, &d.document_checksum)?
                    .with_context(|| {
                        format!(
                            "supporting document {} is not on the ledger",
                            d.document_checksum
                        )
                    })?;
                documents.push((d.document_checksum.clone(), bytes));
            }
            let delivered = adapters::pint::deliver(
                &client,
                &url,
                &envelope,
                &documents,
                &DeliveryPolicy::default(),
                &verify,
            )
            .await?;
            tracing::info!(
                document = %export.document,
                platform = %export.platform,
                code = delivered.response_code().as_str(),
                documents = documents.len(),
                "PINT transfer answered"
            );
            let (outcome, _) = node
                .submit(json!({
                    "action": "RECEIPT",
                    "document": export.document.id,
                    "response": delivered.signed_response,
                }))
                .await
                .map_err(anyhow::Error::msg)?;
            if let Outcome::Refused { code, message, .. } = outcome {
                anyhow::bail!("PINT_RECEIPT refused: {code}: {message}");
            }
            Ok(())
        }
        ExportStage::Delivered | ExportStage::Returned => Ok(()),
    }
}

/// Runs the outbox until `stop` turns true.
pub async fn run_outbox(node: Arc<PintNode>, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(Duration::from_millis(OUTBOX_INTERVAL_MS));
    // Per transfer: when to try again after a failure (backoff doubles up to a minute).
    let mut retry: BTreeMap<DocumentKey, (u64, u64)> = BTreeMap::new();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let Some(member) = node.member() else {
            continue;
        };
        let pending = match node.reader().pint_outbox(OUTBOX_BATCH_MAX) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "PINT outbox: cannot read the ledger");
                continue;
            }
        };
        retry.retain(|k, _| pending.iter().any(|(p, _)| p == k));
        for (key, export) in pending {
            let now = crate::client::now_ms();
            if !node.takes(&export, &member, now) {
                continue;
            }
            if retry.get(&key).is_some_and(|(at, _)| *at > now) {
                continue;
            }
            let step = tokio::select! {
                r = progress(&node, &export) => r,
                _ = stop.changed() => return,
            };
            if let Err(e) = step {
                let backoff = retry.get(&key).map_or(1_000, |(_, b)| (b * 2).min(60_000));
                tracing::warn!(document = %key, error = %format!("{e:#}"), backoff_ms = backoff, "PINT outbox: will retry");
                retry.insert(key, (now + backoff, backoff));
            } else {
                retry.remove(&key);
            }
        }
    }
}

/// `silkline pint send`: the possessor hands the bill to a party on another platform.
pub async fn send(args: &SendArgs) -> anyhow::Result<bool> {
    let (carrier, reference) = args
        .document
        .split_once('/')
        .context("the document is CARRIER/REFERENCE")?;
    let client = crate::client::ApiClient::new(&args.target)?;
    let recipient = json!({
        "partyName": args.party_name.clone().unwrap_or_else(|| args.to_party.clone()),
        "eblPlatform": args.platform,
        "identifyingCodes": [{
            "codeListProvider": args.code_list_provider.clone().unwrap_or_else(|| args.platform.clone()),
            "partyCode": args.to_party,
        }],
    });
    let documents = supporting_documents(&args.documents)?;
    let mut body = json!({
        "action": "SEND",
        "document": {"carrier": carrier, "reference": reference},
        "platform": args.platform,
        "actionCode": args.action,
        "recipient": recipient,
    });
    if !documents.is_empty() {
        body["documents"] = json!(documents);
    }
    let jws = client.sign(json!({ "pint": body })).await?;
    crate::cli::submit(&client, args.sign_only, jws, json!({}), &[]).await
}

/// The `--document` files as a `PINT_SEND` carries them (name, media type from the extension,
/// base64 content), refused before anything is signed when the ledger would refuse them: more
/// than `ledger::tx::PINT_DOCUMENTS_MAX`, an empty file, or more than
/// `ledger::tx::PINT_DOCUMENTS_BYTES_MAX` bytes together.
fn supporting_documents(files: &[PathBuf]) -> anyhow::Result<Vec<ledger::tx::SupportingDocument>> {
    use base64::Engine as _;
    use ledger::tx::{PINT_DOCUMENTS_BYTES_MAX, PINT_DOCUMENTS_MAX};
    if files.len() > PINT_DOCUMENTS_MAX {
        anyhow::bail!(
            "PINT_INVALID_DOCUMENTS: {} documents; a transfer carries at most {PINT_DOCUMENTS_MAX}; nothing was signed",
            files.len()
        );
    }
    let mut total = 0usize;
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let size = std::fs::metadata(file)
            .with_context(|| format!("read {}", file.display()))?
            .len();
        total = total.saturating_add(usize::try_from(size).unwrap_or(usize::MAX));
        if total > PINT_DOCUMENTS_BYTES_MAX {
            anyhow::bail!(
                "PINT_DOCUMENTS_TOO_LARGE: the documents are over {PINT_DOCUMENTS_BYTES_MAX} bytes together \
                 (ledger::tx::PINT_DOCUMENTS_BYTES_MAX), the most one signed PINT_SEND carries; nothing was signed"
            );
        }
        let bytes = std::fs::read(file).with_context(|| format!("read {}", file.display()))?;
        if bytes.is_empty() {
            anyhow::bail!(
                "{}: an empty document is not sent; nothing was signed",
                file.display()
            );
        }
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .with_context(|| format!("{}: no file name", file.display()))?;
        out.push(ledger::tx::SupportingDocument {
            media_type: media_type(file).to_owned(),
            name,
            content: base64::engine::general_purpose::STANDARD.encode(&bytes),
        });
    }
    Ok(out)
}

/// A document's media type, from its file name's extension.
fn media_type(file: &Path) -> &'static str {
    let extension = file
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "pdf" => "application/pdf",
        "json" => "application/json",
        "xml" => "application/xml",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "tif" | "tiff" => "image/tiff",
        _ => "application/octet-stream",
    }
}

/// `silkline pint send` arguments.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub target: crate::client::Target,
    /// The bill: CARRIER/REFERENCE.
    pub document: String,
    /// The receiving platform's code (trusted by vote).
    #[arg(long)]
    pub platform: String,
    /// The receiving party's code on that platform.
    #[arg(long)]
    pub to_party: String,
    /// The code list the party code is from (default: the receiving platform's own).
    #[arg(long)]
    pub code_list_provider: Option<String>,
    /// The receiving party's name (default: its code).
    #[arg(long)]
    pub party_name: Option<String>,
    /// `TRANSFER`, `ENDORSE` (a to-order bill's endorsee endorses it across),
    /// `SURRENDER_FOR_DELIVERY` or `SURRENDER_FOR_AMENDMENT` (to the issuing carrier of a bill
    /// from another platform).
    #[arg(long, default_value = "TRANSFER")]
    pub action: String,
    /// A supporting document to send with the bill (a PINT additional document: its name is
    /// the file's, its media type from the extension); repeat for several. They ride in the
    /// signed transaction: at most `ledger::tx::PINT_DOCUMENTS_BYTES_MAX` bytes together.
    #[arg(long = "document", value_name = "FILE")]
    pub documents: Vec<PathBuf>,
    /// Print the signed transaction instead of submitting it.
    #[arg(long)]
    pub sign_only: bool,
}
