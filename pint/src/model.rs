//! The PINT 3.0 messages, as `pint/v3/EBL_PINT_v3.0.0.yaml` (DCSA-OpenAPI) defines them: field
//! names in the standard's camelCase, required members as plain fields, optional ones as
//! `Option` left out of the output when absent (the standard: "the optional property should be
//! left out of the payload if it is `null`").
//!
//! What this module is not: the transport document's model. A `transportDocument` stays a
//! `serde_json::Value`, checksummed in its RFC 8785 form; its schema is DCSA eBL 3.0's, which
//! `doc-workflow` and `adapters` know. Unknown members are ignored when reading, as the standard
//! adds fields in patches; what is kept and forwarded is always the signed compact JWS, byte for
//! byte, never a re-serialization of these structs.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `EblEnvelope`: the body of `POST /v3/envelopes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EblEnvelope {
    /// The DCSA eBL 3.0 transport document, unchanged for the bill's lifetime.
    pub transport_document: Value,
    /// A compact JWS whose payload is an [`EnvelopeManifest`], signed by the sending platform.
    pub envelope_manifest_signed_content: String,
    /// Compact JWS strings whose payloads are [`EnvelopeTransferChainEntry`]s, oldest first.
    pub envelope_transfer_chain: Vec<String>,
    /// Not in the standard: the DCSA conformance tool sends the issuance manifest here instead of
    /// in the first chain entry. Read only under [`crate::Leniency::issuance_manifest_at_root`];
    /// never written by Silkline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuance_manifest_signed_content: Option<String>,
}

/// `EnvelopeManifest`: the payload of `envelopeManifestSignedContent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeManifest {
    /// SHA-256 of the RFC 8785 form of the transport document, lowercase hex.
    pub transport_document_checksum: String,
    /// SHA-256 of the last chain entry's compact JWS string.
    pub last_envelope_transfer_chain_entry_signed_content_checksum: String,
    /// The carrier's visualisation of the bill, if it was issued with one.
    #[serde(
        rename = "eBLVisualisationByCarrier",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ebl_visualisation_by_carrier: Option<DocumentMetadata>,
    /// The supporting documents this transfer carries (chosen by the sender, per transfer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supporting_documents: Option<Vec<DocumentMetadata>>,
}

/// `DocumentMetadata`: an additional document announced in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentMetadata {
    pub name: String,
    /// Size of the decoded document in bytes.
    pub size: u64,
    pub media_type: String,
    /// SHA-256 of the decoded document, lowercase hex.
    pub document_checksum: String,
}

/// `IssuanceManifest`: the payload of `issuanceManifestSignedContent`, signed by the carrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuanceManifest {
    /// SHA-256 of the RFC 8785 form of the transport document.
    pub document_checksum: String,
    /// SHA-256 of the RFC 8785 form of the `issueTo` party. A receiver cannot check it (it has
    /// no `issueTo`); Silkline writes the checksum of the ISSUE transaction's recipient.
    pub issue_to_checksum: String,
    #[serde(
        rename = "eBLVisualisationByCarrierChecksum",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ebl_visualisation_by_carrier_checksum: Option<String>,
}

/// `EnvelopeTransferChainEntry`: the payload of one element of `envelopeTransferChain`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeTransferChainEntry {
    /// The platform that made (and signed) this entry.
    pub ebl_platform: String,
    /// SHA-256 of the RFC 8785 form of the transport document.
    pub transport_document_checksum: String,
    /// SHA-256 of the previous entry's compact JWS; absent in the first entry only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_envelope_transfer_chain_entry_signed_content_checksum: Option<String>,
    /// The carrier-signed issuance manifest; in the first entry only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuance_manifest_signed_content: Option<String>,
    /// The Control Tracking Registry's base URI, in the first entry only if the bill uses one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_tracking_registry: Option<String>,
    /// At least one.
    pub transactions: Vec<Transaction>,
}

/// `Transaction`: one action recorded in a chain entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    /// A pseudo-enum: see [`ActionCode`]. Kept as text so that an unknown code is refused by
    /// the rules (`BENV`), not by the parser.
    pub action_code: String,
    pub actor: Party,
    /// Absent for `SIGN`, `BLANK_ENDORSE` (and allowed absent for surrenders by the schema).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<Party>,
    /// RFC 3339, UTC, milliseconds.
    pub action_date_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_reference: Option<String>,
    /// Not in PINT 3.0: the pre-3.0 name of `actionCode` (`ISSU`, `TRNS`, ...), which the DCSA
    /// conformance tool still sends beside `actionCode: ISSUE`. Read only under
    /// [`crate::Leniency::legacy_action_field`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// `ActorParty` / `RecipientParty` (the same structure in the standard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Party {
    pub party_name: String,
    /// The platform hosting the party (4 characters at most).
    pub ebl_platform: String,
    /// At least one.
    pub identifying_codes: Vec<IdentifyingCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_legal_references: Option<Vec<TaxLegalReference>>,
    /// The party on whose behalf the action was performed or directed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub represented_party: Option<RepresentedParty>,
}

/// The standard's names for [`Party`] in its two roles.
pub type ActorParty = Party;
/// See [`ActorParty`].
pub type RecipientParty = Party;

/// `RepresentedActorParty` / `RepresentedRecipientParty`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepresentedParty {
    pub party_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifying_codes: Option<Vec<IdentifyingCode>>,
}

/// `IdentifyingCode`: how a party is named across platforms. Also the body of
/// `POST /v3/receiver-validation`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentifyingCode {
    /// `WAVE`, `BOLE`, ..., `GLEIF`, `DNB`, `ZZZ`, or this platform's own code.
    pub code_list_provider: String,
    pub party_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_list_name: Option<String>,
}

/// `TaxLegalReference`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaxLegalReference {
    #[serde(rename = "type")]
    pub kind: String,
    pub country_code: String,
    pub value: String,
}

/// `EnvelopeTransferStartedResponse`: the unsigned 201 answer to a start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeTransferStartedResponse {
    pub envelope_reference: String,
    pub transport_document_checksum: String,
    pub last_envelope_transfer_chain_entry_signed_content_checksum: String,
    /// At least one (otherwise the answer is a signed RECE).
    pub missing_additional_document_checksums: Vec<String>,
}

/// `EnvelopeTransferFinishedResponse`: the payload of every signed answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeTransferFinishedResponse {
    pub last_envelope_transfer_chain_entry_signed_content_checksum: String,
    pub response_code: ResponseCode,
    /// With `DUPE` only: the last chain entry of the transfer accepted before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of_accepted_envelope_transfer_chain_entry_signed_content: Option<String>,
    /// Free text, 255 characters at most; omitted with `RECE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// With `MDOC` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_additional_document_checksums: Option<Vec<String>>,
    /// With `RECE` and `DUPE`: every additional document of the transfer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_additional_document_checksums: Option<Vec<String>>,
}

/// `ReceiverValidationResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverValidationResponse {
    pub party_name: String,
}

/// `ErrorResponse`: every unsigned error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    pub http_method: String,
    pub request_uri: String,
    pub status_code: u16,
    pub status_code_text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_correlation_reference: Option<String>,
    pub error_date_time: String,
    /// At least one.
    pub errors: Vec<DetailedError>,
}

/// `DetailedError`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetailedError {
    /// 7000 to 9999, implementor-defined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u16>,
    pub error_code_text: String,
    pub error_code_message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `EnvelopeTransferFinishedResponse.responseCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ResponseCode {
    /// Received: the transfer is accepted.
    #[serde(rename = "RECE")]
    Rece,
    /// Duplicated envelope: accepted before.
    #[serde(rename = "DUPE")]
    Dupe,
    /// Bad signature.
    #[serde(rename = "BSIG")]
    Bsig,
    /// Bad envelope.
    #[serde(rename = "BENV")]
    Benv,
    /// Inconclusive document: the transfer stays open.
    #[serde(rename = "INCD")]
    Incd,
    /// Missing document: the transfer stays open.
    #[serde(rename = "MDOC")]
    Mdoc,
    /// Disputed envelope: it contradicts the chain this platform holds.
    #[serde(rename = "DISE")]
    Dise,
}

impl ResponseCode {
    /// The four letters.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseCode::Rece => "RECE",
            ResponseCode::Dupe => "DUPE",
            ResponseCode::Bsig => "BSIG",
            ResponseCode::Benv => "BENV",
            ResponseCode::Incd => "INCD",
            ResponseCode::Mdoc => "MDOC",
            ResponseCode::Dise => "DISE",
        }
    }

    /// The HTTP status the standard pairs with the code: 200 for RECE/DUPE, 422 for BSIG/BENV,
    /// 409 for INCD/MDOC/DISE. The signed code decides, never the status.
    pub fn http_status(self) -> u16 {
        match self {
            ResponseCode::Rece | ResponseCode::Dupe => 200,
            ResponseCode::Bsig | ResponseCode::Benv => 422,
            ResponseCode::Incd | ResponseCode::Mdoc | ResponseCode::Dise => 409,
        }
    }

    /// Whether the receiving platform took the bill (RECE, DUPE).
    pub fn is_accepted(self) -> bool {
        matches!(self, ResponseCode::Rece | ResponseCode::Dupe)
    }

    /// Whether the transfer is still open on the receiver (INCD, MDOC): the sender should
    /// resend documents, not give up.
    pub fn keeps_transfer_open(self) -> bool {
        matches!(self, ResponseCode::Incd | ResponseCode::Mdoc)
    }
}

impl std::fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Transaction.actionCode`, as PINT 3.0 lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionCode {
    Issue,
    Transfer,
    Endorse,
    EndorseToOrder,
    BlankEndorse,
    Sign,
    SurrenderForAmendment,
    SurrenderForDelivery,
    /// The carrier accepted a surrender: nothing may follow.
    #[serde(rename = "SACC")]
    Sacc,
    /// The carrier rejected a surrender: possession returns to the surrendering party.
    #[serde(rename = "SREJ")]
    Srej,
}

impl ActionCode {
    /// Every code, in the standard's order.
    pub const ALL: [ActionCode; 10] = [
        ActionCode::Issue,
        ActionCode::Transfer,
        ActionCode::Endorse,
        ActionCode::EndorseToOrder,
        ActionCode::BlankEndorse,
        ActionCode::Sign,
        ActionCode::SurrenderForAmendment,
        ActionCode::SurrenderForDelivery,
        ActionCode::Sacc,
        ActionCode::Srej,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionCode::Issue => "ISSUE",
            ActionCode::Transfer => "TRANSFER",
            ActionCode::Endorse => "ENDORSE",
            ActionCode::EndorseToOrder => "ENDORSE_TO_ORDER",
            ActionCode::BlankEndorse => "BLANK_ENDORSE",
            ActionCode::Sign => "SIGN",
            ActionCode::SurrenderForAmendment => "SURRENDER_FOR_AMENDMENT",
            ActionCode::SurrenderForDelivery => "SURRENDER_FOR_DELIVERY",
            ActionCode::Sacc => "SACC",
            ActionCode::Srej => "SREJ",
        }
    }

    /// The code a wire name denotes, if PINT 3.0 defines it.
    pub fn parse(name: &str) -> Option<ActionCode> {
        ActionCode::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The code a pre-3.0 `action` value denotes (`ISSU`, `TRNS`, `ENDO`, `RESD`, `RESA`,
    /// `SACC`, `SREJ`), as the 2025-11 changelog renamed them.
    pub fn parse_legacy(name: &str) -> Option<ActionCode> {
        match name {
            "ISSU" => Some(ActionCode::Issue),
            "TRNS" => Some(ActionCode::Transfer),
            "ENDO" => Some(ActionCode::Endorse),
            "RESD" => Some(ActionCode::SurrenderForDelivery),
            "RESA" => Some(ActionCode::SurrenderForAmendment),
            "SACC" => Some(ActionCode::Sacc),
            "SREJ" => Some(ActionCode::Srej),
            other => ActionCode::parse(other),
        }
    }

    /// A surrender request (to the issuing carrier).
    pub fn is_surrender(self) -> bool {
        matches!(
            self,
            ActionCode::SurrenderForAmendment | ActionCode::SurrenderForDelivery
        )
    }
}

impl std::fmt::Display for ActionCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
