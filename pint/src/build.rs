//! The sending side: Silkline's chain entry, the envelope, the issuance manifest, and the
//! signed answer a receiver gives. Every payload Silkline signs is in RFC 8785 form, so that the
//! same inputs give the same bytes (Ed25519 signatures are deterministic too; ECDSA's are not).

use serde_json::Value;

use crate::checksum::{json_checksum, sha256_hex, signed_content_checksum};
use crate::jws::{JwsError, Signer};
use crate::model::{
    DocumentMetadata, EblEnvelope, EnvelopeManifest, EnvelopeTransferChainEntry,
    EnvelopeTransferFinishedResponse, IssuanceManifest, Party, Transaction,
};

/// Why a message could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("signing: {0}")]
    Sign(#[from] JwsError),
    #[error("{0}")]
    Invalid(String),
}

impl BuildError {
    /// A stable code for the rule.
    pub fn rule(&self) -> &'static str {
        match self {
            BuildError::Sign(e) => e.rule(),
            BuildError::Invalid(_) => "PINT_BUILD_INVALID",
        }
    }
}

/// Signs the issuance manifest for a bill: the carrier's platform does it at issuance, and it
/// rides in the first chain entry for the bill's lifetime. `issue_to` is the party the bill was
/// issued to (the ISSUE transaction's recipient); its RFC 8785 form is what `issueToChecksum`
/// covers.
pub fn sign_issuance_manifest(
    carrier_signer: &Signer,
    document: &Value,
    issue_to: &Party,
    visualisation_checksum: Option<&str>,
) -> Result<String, BuildError> {
    let issue_to = serde_json::to_value(issue_to)
        .map_err(|e| BuildError::Invalid(format!("issueTo does not serialize: {e}")))?;
    let manifest = IssuanceManifest {
        document_checksum: json_checksum(document),
        issue_to_checksum: json_checksum(&issue_to),
        ebl_visualisation_by_carrier_checksum: visualisation_checksum.map(str::to_owned),
    };
    Ok(carrier_signer.sign_json(&manifest)?)
}

/// A new chain entry made by `platform`, holding `transactions` (oldest first), signed by
/// `signer`. `previous_entry` is the chain's last entry as held (`None` for the first entry,
/// which must then carry `issuance_manifest`).
pub fn build_entry(
    signer: &Signer,
    platform: &str,
    document_checksum: &str,
    previous_entry: Option<&str>,
    issuance_manifest: Option<&str>,
    transactions: &[Transaction],
) -> Result<String, BuildError> {
    if transactions.is_empty() {
        return Err(BuildError::Invalid(
            "a chain entry needs at least one transaction".into(),
        ));
    }
    if previous_entry.is_none() != issuance_manifest.is_some() {
        return Err(BuildError::Invalid(
            "the first chain entry, and only it, carries the issuance manifest".into(),
        ));
    }
    let entry = EnvelopeTransferChainEntry {
        ebl_platform: platform.to_owned(),
        transport_document_checksum: document_checksum.to_owned(),
        previous_envelope_transfer_chain_entry_signed_content_checksum: previous_entry
            .map(signed_content_checksum),
        issuance_manifest_signed_content: issuance_manifest.map(str::to_owned),
        control_tracking_registry: None,
        transactions: transactions.to_vec(),
    };
    Ok(signer.sign_json(&entry)?)
}

/// The metadata of an additional document from its bytes.
pub fn document_metadata(name: &str, media_type: &str, bytes: &[u8]) -> DocumentMetadata {
    DocumentMetadata {
        name: name.to_owned(),
        size: bytes.len() as u64,
        media_type: media_type.to_owned(),
        document_checksum: sha256_hex(bytes),
    }
}

/// An envelope (the body of `POST /v3/envelopes`): the document, the chain (`chain`, forwarded
/// byte for byte, ending with this platform's new entry), and the manifest signed by `signer`.
/// Returns the body's bytes; send exactly these on every retry.
pub fn build_envelope(
    signer: &Signer,
    document: &Value,
    chain: &[String],
    visualisation: Option<&DocumentMetadata>,
    supporting_documents: &[DocumentMetadata],
) -> Result<Vec<u8>, BuildError> {
    let last = chain
        .last()
        .ok_or_else(|| BuildError::Invalid("an envelope needs a chain entry".into()))?;
    let manifest = EnvelopeManifest {
        transport_document_checksum: json_checksum(document),
        last_envelope_transfer_chain_entry_signed_content_checksum: signed_content_checksum(last),
        ebl_visualisation_by_carrier: visualisation.cloned(),
        supporting_documents: (!supporting_documents.is_empty())
            .then(|| supporting_documents.to_vec()),
    };
    let envelope = EblEnvelope {
        transport_document: document.clone(),
        envelope_manifest_signed_content: signer.sign_json(&manifest)?,
        envelope_transfer_chain: chain.to_vec(),
        issuance_manifest_signed_content: None,
    };
    serde_json::to_vec(&envelope)
        .map_err(|e| BuildError::Invalid(format!("the envelope does not serialize: {e}")))
}

/// Signs an answer (`EnvelopeTransferFinishedResponseSignedContent`) with the receiving
/// platform's key.
pub fn sign_response(
    signer: &Signer,
    response: &EnvelopeTransferFinishedResponse,
) -> Result<String, BuildError> {
    if let Some(reason) = &response.reason
        && reason.chars().count() > 255
    {
        return Err(BuildError::Invalid(
            "a response's reason is 255 characters at most".into(),
        ));
    }
    Ok(signer.sign_json(response)?)
}

/// An RFC 3339 UTC timestamp with milliseconds (`actionDateTime`) from Unix milliseconds.
pub fn action_date_time(unix_ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}
