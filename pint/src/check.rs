//! The receiving platform's verification of an envelope ([`check_envelope`]), as the standard
//! describes it, and of a signed answer ([`check_response`]).
//!
//! Pure: the envelope bytes, the trust store, the time, this platform's code, the hosted-party
//! lookup and the chain already held are all arguments. The same call gives the same answer on
//! every replica of the ledger, which runs it again at apply.
//!
//! # The order of the checks
//! 1. The body is an `EblEnvelope` with a transport document that has a
//!    `transportDocumentReference` (else [`Refusal::Malformed`]: HTTP 400).
//! 2. Signatures (`BSIG`): every chain entry with the certificates of the platform it names in
//!    `eblPlatform`; the issuance manifest with those of the platform that made entry 0 (the
//!    carrier's); the envelope manifest with those of the platform that made the last entry (the
//!    sender). An entry byte-identical to the entry at the same position of the chain this
//!    network already holds is not verified again: it was when it was accepted (or this
//!    platform made it).
//! 3. The envelope (`BENV`): checksums (document, entries, previous entries, manifests), the
//!    transactions' order (ISSUE first and once, nothing after SACC, surrenders addressed to
//!    the issuing carrier), and the last transaction's recipient is on this platform and hosted
//!    here.
//! 4. Against the chain this network holds for the document (`DUPE`, `DISE`).
//!
//! # Which time a signature is checked at
//! The envelope manifest and the last entry are this transfer's fresh signatures: checked at
//! `at_unix_s`. An older entry was signed when it was sent, perhaps years ago with a certificate
//! since expired: it is checked at the time of its own last transaction (`actionDateTime`, never
//! later than `at_unix_s`), and the issuance manifest at the time of the ISSUE transaction.

use serde_json::Value;

use crate::checksum::{json_checksum, signed_content_checksum};
use crate::jws::{self, JwsError, TrustedPlatforms};
use crate::model::{
    ActionCode, DocumentMetadata, EblEnvelope, EnvelopeManifest, EnvelopeTransferChainEntry,
    EnvelopeTransferFinishedResponse, IdentifyingCode, IssuanceManifest, Party, ResponseCode,
    Transaction,
};

/// Largest envelope body accepted, in bytes: a transport document (doc-workflow caps its content
/// at 64 KiB) plus a chain of signed entries.
pub const ENVELOPE_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Most entries in a transfer chain: one per platform-to-platform transfer. A bill moving
/// between platforms hundreds of times is not a real trade; the cap bounds the work per check.
pub const CHAIN_ENTRIES_MAX: usize = 256;
/// Most transactions in one chain entry.
pub const ENTRY_TRANSACTIONS_MAX: usize = 1024;
/// Most additional documents in one manifest.
pub const MANIFEST_DOCUMENTS_MAX: usize = 64;

/// The conformance tool's known deviations from PINT 3.0, accepted only when switched on.
/// Silkline never produces them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Leniency {
    /// Accept `issuanceManifestSignedContent` at the envelope's root when the first chain entry
    /// has none (the DCSA conformance tool puts it there).
    pub issuance_manifest_at_root: bool,
    /// When a transaction carries the pre-3.0 `action` member (`ISSU`, `TRNS`, ...), read the
    /// action from it and ignore `actionCode` (the conformance tool sends `actionCode: ISSUE`
    /// on every transaction, with the real action in `action`).
    pub legacy_action_field: bool,
    /// On a retry, accept an envelope manifest whose `lastEnvelopeTransferChainEntrySignedContentChecksum`
    /// names the last entry this platform already holds at that position instead of the one
    /// received (the conformance tool re-signs or changes the last entry of a retry but resends
    /// the first attempt's manifest); the envelope then goes on to the `DUPE`/`DISE` comparison.
    pub manifest_may_name_held_entry: bool,
}

impl Leniency {
    /// The standard, to the letter.
    pub const STRICT: Leniency = Leniency {
        issuance_manifest_at_root: false,
        legacy_action_field: false,
        manifest_may_name_held_entry: false,
    };
    /// Everything the DCSA conformance tool needs.
    pub const CONFORMANCE_TOOL: Leniency = Leniency {
        issuance_manifest_at_root: true,
        legacy_action_field: true,
        manifest_may_name_held_entry: true,
    };
}

/// "Is this recipient a party hosted here?": an identifying code to the local party's code.
pub trait HostedParties {
    /// The local party `code` names, if this network hosts one.
    fn hosted_party(&self, code: &IdentifyingCode) -> Option<String>;
}

impl<F: Fn(&IdentifyingCode) -> Option<String>> HostedParties for F {
    fn hosted_party(&self, code: &IdentifyingCode) -> Option<String> {
        self(code)
    }
}

/// Why an envelope was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not a PINT envelope at all: answered with HTTP 400 and an `ErrorResponse`, unsigned.
    #[error("{rule}: {reason}")]
    Malformed { rule: &'static str, reason: String },
    /// A signed refusal: `BSIG`, `BENV` or `DISE`.
    #[error("{code} {rule}: {reason}")]
    Refused {
        code: ResponseCode,
        /// A stable name of the rule (`PINT_...`).
        rule: &'static str,
        reason: String,
    },
}

impl Refusal {
    /// The response code, `None` for [`Refusal::Malformed`].
    pub fn response_code(&self) -> Option<ResponseCode> {
        match self {
            Refusal::Malformed { .. } => None,
            Refusal::Refused { code, .. } => Some(*code),
        }
    }

    /// The stable rule name.
    pub fn rule(&self) -> &'static str {
        match self {
            Refusal::Malformed { rule, .. } | Refusal::Refused { rule, .. } => rule,
        }
    }

    /// The human reason.
    pub fn reason(&self) -> &str {
        match self {
            Refusal::Malformed { reason, .. } | Refusal::Refused { reason, .. } => reason,
        }
    }
}

fn malformed(rule: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal::Malformed {
        rule,
        reason: reason.into(),
    }
}

fn bsig(rule: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal::Refused {
        code: ResponseCode::Bsig,
        rule,
        reason: reason.into(),
    }
}

fn benv(rule: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal::Refused {
        code: ResponseCode::Benv,
        rule,
        reason: reason.into(),
    }
}

/// One transaction, with the action it was read as (see [`Leniency::legacy_action_field`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedTransaction {
    pub action: ActionCode,
    pub transaction: Transaction,
}

/// One chain entry, verified.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedEntry {
    /// The compact JWS, as received (forward it byte for byte).
    pub signed_content: String,
    /// SHA-256 of `signed_content`.
    pub checksum: String,
    /// The platform that made and signed it.
    pub platform: String,
    pub transactions: Vec<CheckedTransaction>,
}

/// An envelope that passed every check of the standard.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedTransfer {
    /// `transportDocument.transportDocumentReference`.
    pub document_reference: String,
    /// SHA-256 of the RFC 8785 form of the transport document.
    pub document_checksum: String,
    /// The transport document as received.
    pub document: Value,
    /// SHA-256 of the last entry's compact JWS.
    pub last_entry_checksum: String,
    /// The platform that sent it (made the last entry, signed the manifest).
    pub sending_platform: String,
    /// The whole chain, oldest first.
    pub entries: Vec<CheckedEntry>,
    /// The issuance manifest's compact JWS (from entry 0, or the root under leniency).
    pub issuance_manifest_signed_content: String,
    pub issuance_manifest: IssuanceManifest,
    /// The envelope manifest's compact JWS.
    pub envelope_manifest_signed_content: String,
    pub envelope_manifest: EnvelopeManifest,
    /// The additional documents this transfer must deliver before it is accepted: the carrier's
    /// visualisation (if announced) then the supporting documents.
    pub expected_documents: Vec<DocumentMetadata>,
    /// The last transaction's recipient, as the sender named it.
    pub recipient: Party,
    /// The local party that recipient is.
    pub recipient_party: String,
    /// The last transaction's action (TRANSFER, ENDORSE, SURRENDER_FOR_DELIVERY, SACC, ...).
    pub last_action: ActionCode,
    /// `Some` if this network accepted this transfer before (`DUPE`).
    pub duplicate_of: Option<Duplicate>,
}

impl CheckedTransfer {
    /// The checksums of [`CheckedTransfer::expected_documents`], in order, without repeats.
    pub fn expected_document_checksums(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for d in &self.expected_documents {
            if !out.contains(&d.document_checksum) {
                out.push(d.document_checksum.clone());
            }
        }
        out
    }

    /// The answer code this transfer earns once its documents are in: `DUPE` or `RECE`.
    pub fn acceptance_code(&self) -> ResponseCode {
        if self.duplicate_of.is_some() {
            ResponseCode::Dupe
        } else {
            ResponseCode::Rece
        }
    }
}

/// Which entry of the held chain an envelope duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// Its position in the chain.
    pub index: usize,
    /// The entry as accepted (`duplicateOfAcceptedEnvelopeTransferChainEntrySignedContent`).
    pub signed_content: String,
    /// Whether the received entry is byte-identical (`true`) or the same payload re-signed.
    pub identical: bool,
}

/// What the receiver is asked to check an envelope against.
#[derive(Debug, Clone, Copy)]
pub struct CheckContext<'a> {
    /// The platforms (this one included, for entries it made) and their certificates.
    pub trusted: &'a TrustedPlatforms,
    /// The time, in Unix seconds, the fresh signatures are checked at (the block's time).
    pub at_unix_s: i64,
    /// This platform's code.
    pub platform: &'a str,
    /// The chain this network holds for the same transport document reference, oldest first
    /// (entries received, and the ones it added when the bill left): empty if none.
    pub known_chain: &'a [String],
    pub leniency: Leniency,
}

/// Checks an envelope (the body of `POST /v3/envelopes`) the way the receiving platform must.
pub fn check_envelope(
    envelope_bytes: &[u8],
    ctx: &CheckContext<'_>,
    hosted: &dyn HostedParties,
) -> Result<CheckedTransfer, Refusal> {
    if envelope_bytes.len() > ENVELOPE_BYTES_MAX {
        return Err(malformed(
            "PINT_ENVELOPE_TOO_LARGE",
            format!(
                "the envelope is {} bytes, more than {ENVELOPE_BYTES_MAX}",
                envelope_bytes.len()
            ),
        ));
    }
    let envelope: EblEnvelope = serde_json::from_slice(envelope_bytes).map_err(|e| {
        malformed(
            "PINT_ENVELOPE_MALFORMED",
            format!("not an EblEnvelope: {e}"),
        )
    })?;
    let document_reference = envelope
        .transport_document
        .get("transportDocumentReference")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            malformed(
                "PINT_DOCUMENT_WITHOUT_REFERENCE",
                "transportDocument.transportDocumentReference is missing",
            )
        })?
        .to_owned();
    let chain = &envelope.envelope_transfer_chain;
    if chain.is_empty() {
        return Err(malformed(
            "PINT_CHAIN_EMPTY",
            "envelopeTransferChain has no entry",
        ));
    }
    if chain.len() > CHAIN_ENTRIES_MAX {
        return Err(benv(
            "PINT_CHAIN_TOO_LONG",
            format!(
                "{} chain entries, more than {CHAIN_ENTRIES_MAX}",
                chain.len()
            ),
        ));
    }
    let document_checksum = json_checksum(&envelope.transport_document);

    // 2. Signatures, and the payloads they cover.
    let mut payloads: Vec<EnvelopeTransferChainEntry> = Vec::with_capacity(chain.len());
    for (i, compact) in chain.iter().enumerate() {
        let raw = jws::unverified_payload(compact)
            .map_err(|e| bsig(e.rule(), format!("chain entry {i}: {e}")))?;
        let entry: EnvelopeTransferChainEntry = serde_json::from_slice(&raw).map_err(|e| {
            benv(
                "PINT_ENTRY_MALFORMED",
                format!("chain entry {i} is not an EnvelopeTransferChainEntry: {e}"),
            )
        })?;
        payloads.push(entry);
    }
    let last = chain.len() - 1;
    let mut entries: Vec<CheckedEntry> = Vec::with_capacity(chain.len());
    for (i, (compact, entry)) in chain.iter().zip(&payloads).enumerate() {
        if entry.transactions.is_empty() || entry.transactions.len() > ENTRY_TRANSACTIONS_MAX {
            return Err(benv(
                "PINT_ENTRY_TRANSACTIONS",
                format!(
                    "chain entry {i} has {} transactions (1 to {ENTRY_TRANSACTIONS_MAX})",
                    entry.transactions.len()
                ),
            ));
        }
        let already_held = ctx.known_chain.get(i) == Some(compact);
        if !already_held {
            let at = if i == last {
                ctx.at_unix_s
            } else {
                entry_time(entry)
                    .unwrap_or(ctx.at_unix_s)
                    .min(ctx.at_unix_s)
            };
            ctx.trusted
                .verify(&entry.ebl_platform, compact, at)
                .map_err(|e| {
                    bsig(
                        e.rule(),
                        format!("chain entry {i} (platform {:?}): {e}", entry.ebl_platform),
                    )
                })?;
        }
        let transactions = entry
            .transactions
            .iter()
            .enumerate()
            .map(|(t, tx)| {
                Ok(CheckedTransaction {
                    action: action_of(tx, ctx.leniency).ok_or_else(|| {
                        benv(
                            "PINT_UNKNOWN_ACTION_CODE",
                            format!(
                                "chain entry {i}, transaction {t}: actionCode {:?} is not a PINT 3.0 action",
                                tx.action_code
                            ),
                        )
                    })?,
                    transaction: tx.clone(),
                })
            })
            .collect::<Result<Vec<_>, Refusal>>()?;
        entries.push(CheckedEntry {
            signed_content: compact.clone(),
            checksum: signed_content_checksum(compact),
            platform: entry.ebl_platform.clone(),
            transactions,
        });
    }

    // The issuance manifest: in entry 0, or (lenient) at the root; signed by the carrier's
    // platform, the one that made entry 0.
    let issuance_compact = match (
        &payloads[0].issuance_manifest_signed_content,
        &envelope.issuance_manifest_signed_content,
    ) {
        (Some(m), _) => m.clone(),
        (None, Some(m)) if ctx.leniency.issuance_manifest_at_root => m.clone(),
        _ => {
            return Err(benv(
                "PINT_ISSUANCE_MANIFEST_MISSING",
                "the first chain entry carries no issuanceManifestSignedContent",
            ));
        }
    };
    let issue_time = entries[0]
        .transactions
        .first()
        .and_then(|t| rfc3339_unix_s(&t.transaction.action_date_time))
        .unwrap_or(ctx.at_unix_s)
        .min(ctx.at_unix_s);
    let issuance_verified = if ctx.known_chain.first() == Some(&chain[0]) {
        jws::unverified_payload(&issuance_compact)
            .map_err(|e| bsig(e.rule(), format!("issuance manifest: {e}")))?
    } else {
        ctx.trusted
            .verify(&payloads[0].ebl_platform, &issuance_compact, issue_time)
            .map_err(|e| {
                bsig(
                    e.rule(),
                    format!(
                        "issuance manifest (carrier platform {:?}): {e}",
                        payloads[0].ebl_platform
                    ),
                )
            })?
            .payload
    };
    let issuance_manifest: IssuanceManifest =
        serde_json::from_slice(&issuance_verified).map_err(|e| {
            benv(
                "PINT_ISSUANCE_MANIFEST_MALFORMED",
                format!("the issuance manifest is not an IssuanceManifest: {e}"),
            )
        })?;

    // The envelope manifest: signed by the sender, the platform that made the last entry.
    let sending_platform = payloads[last].ebl_platform.clone();
    let manifest_payload = ctx
        .trusted
        .verify(
            &sending_platform,
            &envelope.envelope_manifest_signed_content,
            ctx.at_unix_s,
        )
        .map_err(|e| {
            bsig(
                e.rule(),
                format!("envelope manifest (sending platform {sending_platform:?}): {e}"),
            )
        })?
        .payload;
    let manifest: EnvelopeManifest = serde_json::from_slice(&manifest_payload).map_err(|e| {
        benv(
            "PINT_MANIFEST_MALFORMED",
            format!("the envelope manifest is not an EnvelopeManifest: {e}"),
        )
    })?;

    // 3. The envelope.
    if manifest.transport_document_checksum != document_checksum {
        return Err(benv(
            "PINT_MANIFEST_DOCUMENT_CHECKSUM",
            format!(
                "the manifest's transportDocumentChecksum {} is not the document's {document_checksum}",
                manifest.transport_document_checksum
            ),
        ));
    }
    let last_entry_checksum = entries[last].checksum.clone();
    let names_held_entry = ctx.leniency.manifest_may_name_held_entry
        && ctx.known_chain.get(last).is_some_and(|held| {
            signed_content_checksum(held)
                == manifest.last_envelope_transfer_chain_entry_signed_content_checksum
        });
    if manifest.last_envelope_transfer_chain_entry_signed_content_checksum != last_entry_checksum
        && !names_held_entry
    {
        return Err(benv(
            "PINT_MANIFEST_LAST_ENTRY_CHECKSUM",
            format!(
                "the manifest's lastEnvelopeTransferChainEntrySignedContentChecksum {} is not the last entry's {last_entry_checksum}",
                manifest.last_envelope_transfer_chain_entry_signed_content_checksum
            ),
        ));
    }
    if issuance_manifest.document_checksum != document_checksum {
        return Err(benv(
            "PINT_ISSUANCE_DOCUMENT_CHECKSUM",
            format!(
                "the issuance manifest's documentChecksum {} is not the document's {document_checksum}",
                issuance_manifest.document_checksum
            ),
        ));
    }
    for (i, entry) in payloads.iter().enumerate() {
        if entry.transport_document_checksum != document_checksum {
            return Err(benv(
                "PINT_ENTRY_DOCUMENT_CHECKSUM",
                format!(
                    "chain entry {i}'s transportDocumentChecksum {} is not the document's {document_checksum}",
                    entry.transport_document_checksum
                ),
            ));
        }
        let expected_previous = (i > 0).then(|| entries[i - 1].checksum.as_str());
        let previous = entry
            .previous_envelope_transfer_chain_entry_signed_content_checksum
            .as_deref();
        if previous != expected_previous {
            return Err(benv(
                "PINT_PREVIOUS_ENTRY_CHECKSUM",
                match expected_previous {
                    None => "the first chain entry names a previous entry".to_owned(),
                    Some(expected) => format!(
                        "chain entry {i}'s previousEnvelopeTransferChainEntrySignedContentChecksum is {previous:?}, not the previous entry's {expected}"
                    ),
                },
            ));
        }
    }
    let mut expected_documents = Vec::new();
    if let Some(v) = &manifest.ebl_visualisation_by_carrier {
        if let Some(issued) = &issuance_manifest.ebl_visualisation_by_carrier_checksum
            && *issued != v.document_checksum
        {
            return Err(benv(
                "PINT_VISUALISATION_CHECKSUM",
                format!(
                    "the manifest's eBLVisualisationByCarrier {} is not the one issued ({issued})",
                    v.document_checksum
                ),
            ));
        }
        expected_documents.push(v.clone());
    }
    expected_documents.extend(manifest.supporting_documents.iter().flatten().cloned());
    if expected_documents.len() > MANIFEST_DOCUMENTS_MAX {
        return Err(benv(
            "PINT_TOO_MANY_DOCUMENTS",
            format!(
                "{} additional documents, more than {MANIFEST_DOCUMENTS_MAX}",
                expected_documents.len()
            ),
        ));
    }
    if let Some(d) = expected_documents
        .iter()
        .find(|d| !crate::checksum::is_checksum(&d.document_checksum) || d.size == 0)
    {
        return Err(benv(
            "PINT_DOCUMENT_METADATA",
            format!(
                "additional document {:?}: checksum must be 64 lowercase hex digits and size at least 1",
                d.name
            ),
        ));
    }

    check_transactions(&entries)?;

    // The last transaction's recipient: on this platform, and a party hosted here.
    let last_tx = entries[last]
        .transactions
        .last()
        .expect("entries have at least one transaction");
    let last_action = last_tx.action;
    let recipient = last_tx.transaction.recipient.clone().ok_or_else(|| {
        benv(
            "PINT_LAST_TRANSACTION_WITHOUT_RECIPIENT",
            format!("the last transaction ({last_action}) names no recipient"),
        )
    })?;
    if recipient.ebl_platform != ctx.platform {
        return Err(benv(
            "PINT_WRONG_RECIPIENT_PLATFORM",
            format!(
                "the recipient is on platform {:?}, not this platform {:?}",
                recipient.ebl_platform, ctx.platform
            ),
        ));
    }
    let recipient_party = hosted_recipient(&recipient, hosted)?;

    // 4. Against the chain already held.
    let duplicate_of = compare_with_known(chain, ctx.known_chain)?;

    Ok(CheckedTransfer {
        document_reference,
        document_checksum,
        document: envelope.transport_document,
        last_entry_checksum,
        sending_platform,
        entries,
        issuance_manifest_signed_content: issuance_compact,
        issuance_manifest,
        envelope_manifest_signed_content: envelope.envelope_manifest_signed_content,
        envelope_manifest: manifest,
        expected_documents,
        recipient,
        recipient_party,
        last_action,
        duplicate_of,
    })
}

/// The action a transaction is read as.
fn action_of(tx: &Transaction, leniency: Leniency) -> Option<ActionCode> {
    match &tx.action {
        Some(legacy) if leniency.legacy_action_field => ActionCode::parse_legacy(legacy),
        _ => ActionCode::parse(&tx.action_code),
    }
}

/// The order rules over every transaction of the chain.
fn check_transactions(entries: &[CheckedEntry]) -> Result<(), Refusal> {
    let issue = &entries[0].transactions[0];
    if issue.action != ActionCode::Issue {
        return Err(benv(
            "PINT_FIRST_TRANSACTION_NOT_ISSUE",
            format!(
                "the first transaction of the first entry is {}, not ISSUE",
                issue.action
            ),
        ));
    }
    if issue.transaction.actor.ebl_platform != entries[0].platform {
        return Err(benv(
            "PINT_ISSUER_PLATFORM",
            format!(
                "the issuing carrier is on platform {:?}, but the first entry was made by {:?}",
                issue.transaction.actor.ebl_platform, entries[0].platform
            ),
        ));
    }
    let issuer = &issue.transaction.actor;
    let mut after_sacc = false;
    for (i, entry) in entries.iter().enumerate() {
        for (t, tx) in entry.transactions.iter().enumerate() {
            if (i, t) == (0, 0) {
                continue;
            }
            if after_sacc {
                return Err(benv(
                    "PINT_TRANSACTION_AFTER_SACC",
                    format!(
                        "chain entry {i}, transaction {t} ({}) follows an accepted surrender (SACC)",
                        tx.action
                    ),
                ));
            }
            match tx.action {
                ActionCode::Issue => {
                    return Err(benv(
                        "PINT_ISSUE_NOT_FIRST",
                        format!(
                            "chain entry {i}, transaction {t} is an ISSUE; ISSUE is only the very first transaction"
                        ),
                    ));
                }
                ActionCode::Sacc => after_sacc = true,
                a if a.is_surrender() => {
                    let to_issuer = tx
                        .transaction
                        .recipient
                        .as_ref()
                        .is_some_and(|r| same_party(r, issuer));
                    if !to_issuer {
                        return Err(benv(
                            "PINT_SURRENDER_NOT_TO_ISSUER",
                            format!(
                                "chain entry {i}, transaction {t} ({a}) is not addressed to the issuing carrier {:?}",
                                issuer.party_name
                            ),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Who provably sent an envelope, and which transfer it continues ([`verified_sender`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSender {
    /// The platform that made the last chain entry and signed the envelope manifest.
    pub platform: String,
    /// SHA-256 of the RFC 8785 form of the transport document both signatures cover.
    pub document_checksum: String,
    /// The chain entries before the last, as received.
    pub earlier_entries: Vec<String>,
}

/// The platform that provably sent `envelope_bytes`, if the envelope's last chain entry and
/// its manifest both verify with the certificates of the platform that entry names, at
/// `ctx.at_unix_s`, and both are bound to this envelope: the entry and the manifest name the
/// transport document's checksum, and the manifest names the last entry's. `None` for a body
/// that is not an envelope, names no trusted platform, or is not so signed.
///
/// For what a refusal may do: the standard has a refused envelope end the transfer open for the
/// same document, and only its sender may end it. A forged envelope naming a document, a
/// genuine chain under a manifest its sender did not sign, or a sender's genuine entry and
/// manifest spliced around another document must not cancel another platform's transfer.
pub fn verified_sender(envelope_bytes: &[u8], ctx: &CheckContext<'_>) -> Option<VerifiedSender> {
    if envelope_bytes.len() > ENVELOPE_BYTES_MAX {
        return None;
    }
    let envelope: EblEnvelope = serde_json::from_slice(envelope_bytes).ok()?;
    let (last, earlier) = envelope.envelope_transfer_chain.split_last()?;
    let document_checksum = json_checksum(&envelope.transport_document);
    let platform = {
        let payload = jws::unverified_payload(last).ok()?;
        let entry: EnvelopeTransferChainEntry = serde_json::from_slice(&payload).ok()?;
        (entry.transport_document_checksum == document_checksum).then_some(entry.ebl_platform)?
    };
    ctx.trusted.verify(&platform, last, ctx.at_unix_s).ok()?;
    let manifest_payload = ctx
        .trusted
        .verify(
            &platform,
            &envelope.envelope_manifest_signed_content,
            ctx.at_unix_s,
        )
        .ok()?
        .payload;
    let manifest: EnvelopeManifest = serde_json::from_slice(&manifest_payload).ok()?;
    let bound = manifest.transport_document_checksum == document_checksum
        && manifest.last_envelope_transfer_chain_entry_signed_content_checksum
            == signed_content_checksum(last);
    bound.then(|| VerifiedSender {
        platform,
        document_checksum,
        earlier_entries: earlier.to_vec(),
    })
}

/// Whether two parties are the same: same platform and at least one identifying code in common.
pub fn same_party(a: &Party, b: &Party) -> bool {
    a.ebl_platform == b.ebl_platform
        && a.identifying_codes
            .iter()
            .any(|c| b.identifying_codes.iter().any(|d| same_code(c, d)))
}

fn same_code(a: &IdentifyingCode, b: &IdentifyingCode) -> bool {
    a.code_list_provider == b.code_list_provider
        && a.party_code == b.party_code
        && (a.code_list_name.is_none()
            || b.code_list_name.is_none()
            || a.code_list_name == b.code_list_name)
}

/// The local party the recipient is: every identifying code this network knows must name the
/// same one, and at least one must.
fn hosted_recipient(recipient: &Party, hosted: &dyn HostedParties) -> Result<String, Refusal> {
    let mut found: Option<String> = None;
    for code in &recipient.identifying_codes {
        if let Some(local) = hosted.hosted_party(code) {
            match &found {
                Some(f) if *f != local => {
                    return Err(benv(
                        "PINT_CONFLICTING_RECIPIENT_CODES",
                        format!(
                            "the recipient's identifying codes name two parties here ({f} and {local})"
                        ),
                    ));
                }
                _ => found = Some(local),
            }
        }
    }
    found.ok_or_else(|| {
        benv(
            "PINT_UNKNOWN_RECIPIENT",
            format!(
                "no party hosted on this platform has the recipient's identifying codes ({:?})",
                recipient.party_name
            ),
        )
    })
}

/// `DUPE` / `DISE` against the chain held for the document. `Ok(None)`: a new transfer.
fn compare_with_known(chain: &[String], known: &[String]) -> Result<Option<Duplicate>, Refusal> {
    if known.is_empty() {
        return Ok(None);
    }
    let last = chain.len() - 1;
    let first_difference = chain.iter().zip(known).position(|(r, k)| r != k);
    match first_difference {
        None if chain.len() <= known.len() => Ok(Some(Duplicate {
            index: last,
            signed_content: known[last].clone(),
            identical: true,
        })),
        None => Ok(None),
        Some(i) if i == last => {
            // The last entry differs: the same payload signed again is a duplicate.
            let payload_of = |compact: &str| {
                jws::unverified_payload(compact)
                    .ok()
                    .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
            };
            let same_payload =
                payload_of(&known[i]).is_some_and(|k| payload_of(&chain[i]) == Some(k));
            if same_payload {
                Ok(Some(Duplicate {
                    index: i,
                    signed_content: known[i].clone(),
                    identical: false,
                }))
            } else {
                Err(dise(i))
            }
        }
        Some(i) => Err(dise(i)),
    }
}

fn dise(i: usize) -> Refusal {
    Refusal::Refused {
        code: ResponseCode::Dise,
        rule: "PINT_CHAIN_CONTRADICTS_HELD",
        reason: format!(
            "chain entry {i} differs from the entry this platform accepted at that position"
        ),
    }
}

/// The time an entry was sent: its latest `actionDateTime`.
fn entry_time(entry: &EnvelopeTransferChainEntry) -> Option<i64> {
    entry
        .transactions
        .iter()
        .filter_map(|t| rfc3339_unix_s(&t.action_date_time))
        .max()
}

/// An RFC 3339 timestamp in Unix seconds.
pub fn rfc3339_unix_s(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// Why the additional documents of a transfer are not the ones its manifest announced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentProblem {
    /// `MDOC`: these expected documents are absent.
    #[error("additional documents missing: {0:?}")]
    Missing(Vec<String>),
    /// `INCD`: a document's bytes do not match its checksum or announced size.
    #[error("document {checksum}: {reason}")]
    Mismatch { checksum: String, reason: String },
    /// `INCD`: a document the manifest does not announce.
    #[error("document {0} is not announced in the envelope manifest")]
    Unlisted(String),
}

impl DocumentProblem {
    /// The response code the standard gives the problem.
    pub fn response_code(&self) -> ResponseCode {
        match self {
            DocumentProblem::Missing(_) => ResponseCode::Mdoc,
            DocumentProblem::Mismatch { .. } | DocumentProblem::Unlisted(_) => ResponseCode::Incd,
        }
    }

    /// A stable code for the rule.
    pub fn rule(&self) -> &'static str {
        match self {
            DocumentProblem::Missing(_) => "PINT_DOCUMENTS_MISSING",
            DocumentProblem::Mismatch { .. } => "PINT_DOCUMENT_MISMATCH",
            DocumentProblem::Unlisted(_) => "PINT_DOCUMENT_UNLISTED",
        }
    }
}

/// Checks a transfer's additional documents (checksum -> bytes) against its manifest: every
/// document announced is there, with its checksum's bytes and its announced size, and nothing
/// else is. Pure: what the ledger runs at apply beside [`check_envelope`].
pub fn check_documents(
    transfer: &CheckedTransfer,
    documents: &std::collections::BTreeMap<String, Vec<u8>>,
) -> Result<(), DocumentProblem> {
    for (checksum, bytes) in documents {
        let Some(meta) = transfer
            .expected_documents
            .iter()
            .find(|d| d.document_checksum == *checksum)
        else {
            return Err(DocumentProblem::Unlisted(checksum.clone()));
        };
        let actual = crate::checksum::sha256_hex(bytes);
        if actual != *checksum {
            return Err(DocumentProblem::Mismatch {
                checksum: checksum.clone(),
                reason: format!("the bytes' SHA-256 is {actual}"),
            });
        }
        if meta.size != bytes.len() as u64 {
            return Err(DocumentProblem::Mismatch {
                checksum: checksum.clone(),
                reason: format!("{} bytes, announced {}", bytes.len(), meta.size),
            });
        }
    }
    let missing: Vec<String> = transfer
        .expected_document_checksums()
        .into_iter()
        .filter(|c| !documents.contains_key(c))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(DocumentProblem::Missing(missing))
    }
}

/// Why a signed answer was not accepted as a receipt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("the answer's signature: {0}")]
    Signature(#[from] JwsError),
    #[error("the answer is not an EnvelopeTransferFinishedResponse: {0}")]
    Malformed(String),
    #[error("the answer is about entry {got}, not the one sent ({expected})")]
    OtherEntry { expected: String, got: String },
}

impl ResponseError {
    /// A stable code for the rule.
    pub fn rule(&self) -> &'static str {
        match self {
            ResponseError::Signature(e) => e.rule(),
            ResponseError::Malformed(_) => "PINT_RESPONSE_MALFORMED",
            ResponseError::OtherEntry { .. } => "PINT_RESPONSE_OTHER_ENTRY",
        }
    }
}

/// Checks a signed answer (`EnvelopeTransferFinishedResponseSignedContent`) from the receiving
/// platform: signed by one of its certificates at `at_unix_s`, and about the last entry sent.
pub fn check_response(
    trusted: &TrustedPlatforms,
    receiving_platform: &str,
    signed_response: &str,
    at_unix_s: i64,
    sent_last_entry_checksum: &str,
) -> Result<EnvelopeTransferFinishedResponse, ResponseError> {
    let payload = trusted
        .verify(receiving_platform, signed_response, at_unix_s)?
        .payload;
    let response: EnvelopeTransferFinishedResponse =
        serde_json::from_slice(&payload).map_err(|e| ResponseError::Malformed(e.to_string()))?;
    if response.last_envelope_transfer_chain_entry_signed_content_checksum
        != sent_last_entry_checksum
    {
        return Err(ResponseError::OtherEntry {
            expected: sent_last_entry_checksum.to_owned(),
            got: response.last_envelope_transfer_chain_entry_signed_content_checksum,
        });
    }
    Ok(response)
}
