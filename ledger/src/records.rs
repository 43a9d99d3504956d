//! The records the ledger stores (their keys are in `keys`), and how every one of them is
//! encoded: [`Tip`], [`PartyRecord`], [`CrlRecord`], [`NodeRecord`] with [`NodeRole`],
//! [`HistoryEntry`], [`TxRecord`], the nonce record, and [`DocumentPage`], the page a read
//! returns.
//!
//! Types and their bytes only: nothing here opens the store, applies a transaction or decides
//! anything.

use serde::{Deserialize, Serialize};

use doc_workflow::{Action, DocumentKey, DocumentState, Event, PartyCode, Role};

use crate::block::{Outcome, TxLocation};
use crate::{ChainError, Hash32, codec};

/// The end of the chain: the last block (or genesis, at height 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tip {
    pub height: u64,
    /// The last block's hash; the genesis hash at height 0.
    pub hash: Hash32,
    pub time_ms: u64,
    pub state_hash: Hash32,
}

/// A party on the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartyRecord {
    pub code: PartyCode,
    pub name: String,
    /// The member whose CA certifies its users.
    pub sponsor: PartyCode,
    /// The workflow role it acts with: the member's role for a member's own party, `TRADER`
    /// for an onboarded party.
    pub role: Role,
    /// The block that onboarded it; 0 for genesis.
    pub since_height: u64,
}

/// A member's current CRL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrlRecord {
    pub member: PartyCode,
    /// DER, standard base64.
    pub der_base64: String,
    /// The CRL's `thisUpdate`, ms since the Unix epoch.
    pub this_update_ms: u64,
    /// The block that installed it; 0 for genesis.
    pub since_height: u64,
}

/// What a node is in the Raft configuration the ledger prescribes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NodeRole {
    /// Votes and counts for the quorum.
    Voter,
    /// Receives the log but does not vote (`ADD_NODE`, until `PROMOTE_NODE`).
    Learner,
    /// Removed (`REMOVE_NODE`); kept so that its raft id and node id are never reused.
    Removed,
}

/// A node of the network: a genesis node, or one added by `ADD_NODE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRecord {
    pub raft_id: u64,
    /// The node id its TLS certificate names. `None` for a genesis node: genesis pins a node
    /// by its certificate's hash, and each node's configuration file names its peers' ids.
    pub node_id: Option<String>,
    /// `ip:port` of its Raft transport.
    pub address: String,
    /// The member that runs it (whose CA its certificate chains to).
    pub member: PartyCode,
    pub role: NodeRole,
    /// The block that last changed it; 0 for a genesis node never changed.
    pub since_height: u64,
}

/// How a history entry's envelope is stored: its header segment (`alg` and the signer's `x5c`,
/// about 1.7 KiB of a transfer's 2.2) apart, once per distinct header under
/// [`keys::jws_header`](crate::keys::jws_header), and the entry's `jws` holds
/// `sha256:<hex of the header segment's SHA-256>.<payload>.<signature>`. A base64url segment
/// never holds `:`, so a stored entry with the whole envelope (written before this form) still
/// reads as it is. Readers get the envelope back byte for byte ([`StoredJws::restore`]).
pub(crate) struct StoredJws;

const STORED_HEADER_TAG: &str = "sha256:";

impl StoredJws {
    /// The stored form of a compact JWS and its header segment with the segment's digest;
    /// `None` when `jws` has no `.` (never for an envelope that passed its checks).
    pub(crate) fn split(jws: &str) -> Option<(String, &str, [u8; 32])> {
        let (header, rest) = jws.split_once('.')?;
        let digest = crate::sha256(header.as_bytes());
        Some((
            format!("{STORED_HEADER_TAG}{}.{rest}", hex::encode(digest)),
            header,
            digest,
        ))
    }

    /// The header digest a stored form names, if it names one.
    pub(crate) fn header_digest(stored: &str) -> Result<Option<[u8; 32]>, ChainError> {
        let Some(rest) = stored.strip_prefix(STORED_HEADER_TAG) else {
            return Ok(None);
        };
        let hex_digest = rest.split('.').next().unwrap_or_default();
        let mut digest = [0u8; 32];
        hex::decode_to_slice(hex_digest, &mut digest)
            .map_err(|e| corrupt("his/", format!("a stored envelope's header digest: {e}")))?;
        Ok(Some(digest))
    }

    /// The envelope from its stored form and its header segment (as [`Self::split`] gave it).
    pub(crate) fn restore(stored: &str, header: &str) -> Result<String, ChainError> {
        let rest = stored
            .strip_prefix(STORED_HEADER_TAG)
            .and_then(|r| r.split_once('.'))
            .map(|(_, rest)| rest)
            .ok_or_else(|| corrupt("his/", "a stored envelope without its header digest"))?;
        Ok(format!("{header}.{rest}"))
    }
}

/// How a document's state is stored: its content's canonical text (about 2 KiB of a bill's
/// 2.5 KiB state, and the part no transfer, endorsement or surrender changes) apart, once per
/// distinct content under [`keys::content`](crate::keys::content), and the state under
/// `doc/` with an empty `canonicalJson` beside the content's `sha256`, which names it. A
/// transfer then rewrites a few hundred bytes instead of the whole bill. A state stored whole
/// (before this form) still reads as it is: canonical text is never empty.
pub(crate) struct StoredDocument;

impl StoredDocument {
    /// The bytes to store under `doc/` for `state` (its content's text, if any, goes under
    /// `dct/`: the caller's). `state` is as it was when this returns.
    pub(crate) fn state_bytes(state: &mut DocumentState) -> Vec<u8> {
        let Some(content) = state.content.as_mut() else {
            return state.canonical_json().into_bytes();
        };
        let text = std::mem::take(&mut content.canonical_json);
        let bytes = state.canonical_json().into_bytes();
        if let Some(content) = state.content.as_mut() {
            content.canonical_json = text;
        }
        bytes
    }

    /// A stored state with its content's text put back; `content_of` reads a `dct/` value
    /// (already decompressed) by its key.
    pub(crate) fn join(
        key: &[u8],
        bytes: &[u8],
        content_of: impl FnOnce(&[u8]) -> Result<Option<Vec<u8>>, ChainError>,
    ) -> Result<DocumentState, ChainError> {
        let mut state: DocumentState = decode(key, bytes)?;
        if let Some(content) = state.content.as_mut()
            && content.canonical_json.is_empty()
        {
            let text = content_of(&crate::keys::content(&content.sha256))?
                .ok_or_else(|| corrupt(String::from_utf8_lossy(key), "its content is missing"))?;
            content.canonical_json = String::from_utf8(text)
                .map_err(|_| corrupt(String::from_utf8_lossy(key), "its content is not text"))?;
        }
        Ok(state)
    }
}

/// One committed transaction in a document's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// The document's sequence number after this entry (1 for the first).
    pub sequence: u64,
    pub tx_hash: Hash32,
    pub height: u64,
    pub position: u32,
    pub time_ms: u64,
    /// The acting party (the certificate's party).
    pub actor: PartyCode,
    /// The member whose CA issued the signer's certificate.
    pub member: PartyCode,
    /// SHA-256 of the signer's certificate DER, lowercase hex.
    pub signer_fingerprint: String,
    pub action: Action,
    /// The party the command handed something to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<PartyCode>,
    /// What happened to this document.
    pub event: Event,
    /// The signed transaction itself (JWS compact), so anyone can re-verify the record.
    pub jws: String,
}

/// Where a transaction went and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TxRecord {
    pub tx_hash: Hash32,
    pub location: TxLocation,
    pub time_ms: u64,
    pub outcome: Outcome,
}

/// A page of documents and the cursor of the next page, if there may be one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentPage {
    pub documents: Vec<DocumentState>,
    /// Pass it back as `after` for the next page; opaque to callers.
    pub next_cursor: Option<String>,
}

/// What the nonce store remembers: which transaction used the nonce, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NonceRecord {
    pub(crate) tx_hash: Hash32,
    pub(crate) not_after_ms: u64,
}

pub(crate) fn corrupt(what: impl Into<String>, reason: impl ToString) -> ChainError {
    ChainError::Corrupt {
        what: what.into(),
        reason: reason.to_string(),
    }
}

/// A ledger record's stored bytes: serde_json's encoding of the record's type. It is
/// deterministic without canonicalization -- struct fields in declaration order, maps ordered
/// (`BTreeMap`/`BTreeSet`), no floats, no free-form JSON values -- so every replica writes the
/// same bytes, and canonicalizing (several times slower) would buy nothing. Documents are the
/// exception: they are stored in RFC 8785 form, whose SHA-256 is their workflow state hash.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("ledger records serialize to JSON")
}

/// Decodes the value stored (or about to be stored) under the key `what`.
pub(crate) fn decode<T: for<'de> Deserialize<'de>>(
    what: &[u8],
    bytes: &[u8],
) -> Result<T, ChainError> {
    let bytes = codec::decode(what, bytes)?;
    serde_json::from_slice(&bytes).map_err(|e| corrupt(String::from_utf8_lossy(what), e))
}

pub(crate) fn u64_value(what: &str, bytes: &[u8]) -> Result<u64, ChainError> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| corrupt(what, "not 8 bytes"))?;
    Ok(u64::from_be_bytes(arr))
}

/// A bill's DCSA PINT transfer chain as this network holds it (`pch/<document checksum>`): every entry,
/// oldest first, as received (byte for byte) or as this network signed it when the bill left.
/// A returning bill's envelope is checked against it (`DUPE`, `DISE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PintChainRecord {
    /// The bill here.
    pub document: DocumentKey,
    /// Compact JWS, oldest first.
    pub entries: Vec<String>,
    /// Checksums of the additional documents its last import delivered (their bytes are kept
    /// by the nodes, off the ledger).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<String>,
}

/// Where a transfer to another platform stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExportStage {
    /// `PINT_SEND` committed: the sender's nodes are to sign and record the envelope.
    Requested,
    /// `PINT_DISPATCH` committed: the envelope's entry and manifest are fixed; a node delivers
    /// them (again, byte for byte, after any unsigned failure).
    Dispatched,
    /// A signed `RECE` or `DUPE` is on the ledger: the bill is held on the other platform.
    Delivered,
    /// A signed `BENV`, `BSIG` or `DISE` is on the ledger: the bill stayed here.
    Returned,
}

impl ExportStage {
    pub fn code(self) -> &'static str {
        match self {
            ExportStage::Requested => "REQUESTED",
            ExportStage::Dispatched => "DISPATCHED",
            ExportStage::Delivered => "DELIVERED",
            ExportStage::Returned => "RETURNED",
        }
    }

    /// Whether the bill is, or is being handed, to another platform: every local action on
    /// it is refused.
    pub fn holds_bill(self) -> bool {
        !matches!(self, ExportStage::Returned)
    }
}

/// A bill's latest transfer to another platform (`pxo/<doc>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportRecord {
    /// The bill.
    pub document: DocumentKey,
    pub stage: ExportStage,
    /// The receiving platform.
    pub platform: String,
    /// `TRANSFER`, `ENDORSE`, `SURRENDER_FOR_DELIVERY`, `SURRENDER_FOR_AMENDMENT`.
    pub action_code: String,
    /// The receiving party, as PINT names it.
    pub recipient: serde_json::Value,
    /// The recipient as this ledger names a party of another platform (`PLATFORM:code`).
    pub recipient_code: PartyCode,
    /// The party that sent it (the possessor then).
    pub sender: PartyCode,
    /// The sender's sponsor: its nodes deliver the envelope and record the answer.
    pub member: PartyCode,
    /// The `PINT_SEND`.
    pub requested_height: u64,
    pub requested_ms: u64,
    /// The supporting documents the transfer carries, as its envelope manifest lists them;
    /// their bytes are at `pdo/<checksum>\0<doc>` until the receiving platform answered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<pint::DocumentMetadata>,
    /// The chain entry and envelope manifest delivered (compact JWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// The receiving platform's signed answer, and its code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
mod stored_jws_tests {
    use super::StoredJws;

    #[test]
    fn a_split_envelope_is_restored_byte_for_byte() {
        let jws = "eyJhbGciOiJFZERTQSJ9.eyJhIjoxfQ.c2lnbmF0dXJl";
        let (stored, header, digest) = StoredJws::split(jws).unwrap();
        assert_eq!(header, "eyJhbGciOiJFZERTQSJ9");
        assert_eq!(digest, crate::sha256(header.as_bytes()));
        assert!(stored.starts_with("sha256:") && stored.ends_with(".eyJhIjoxfQ.c2lnbmF0dXJl"));
        assert_eq!(StoredJws::header_digest(&stored).unwrap(), Some(digest));
        assert_eq!(StoredJws::restore(&stored, header).unwrap(), jws);
        // An entry stored whole (before this form) names no header.
        assert_eq!(StoredJws::header_digest(jws).unwrap(), None);
        assert!(StoredJws::header_digest("sha256:zz.a.b").is_err());
    }
}
