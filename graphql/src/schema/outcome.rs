//! What became of a transaction: its status, its block, the documents it changed. The answer
//! of `submitTransactions` and of `transaction`.

use async_graphql::{Enum, SimpleObject};
use doc_workflow::DocumentKey;
use ledger::Outcome;
use ledger::client::Submitted;

use adapters::time::iso8601_utc;

/// What became of a submitted transaction.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum TxStatus {
    /// In a block, applied.
    Committed,
    /// Refused, with the rule; nothing changed.
    Refused,
}

/// A document's identity.
#[derive(SimpleObject, Clone, Debug)]
pub struct DocumentKeyOut {
    /// `TRANSPORT_DOCUMENT` or `CARGO_RELEASE`.
    pub class: String,
    pub carrier_code: String,
    pub reference: String,
}

impl From<&DocumentKey> for DocumentKeyOut {
    fn from(k: &DocumentKey) -> Self {
        DocumentKeyOut {
            class: k.class.code().to_owned(),
            carrier_code: k.id.carrier.as_str().to_owned(),
            reference: k.id.reference.as_str().to_owned(),
        }
    }
}

/// The answer to one submitted transaction.
#[derive(SimpleObject, Clone, Debug)]
pub struct SubmitResult {
    /// SHA-256 of the JWS signing input, lowercase hex: the transaction's id.
    pub tx_hash: String,
    pub status: TxStatus,
    /// `COMMITTED`, or the refusal's stable code (`NOT_POSSESSOR`, `CERTIFICATE_REVOKED`, ...).
    pub code: String,
    /// A sentence naming the rule (for a refusal) or what was done.
    pub message: String,
    /// The block that recorded it; absent for a refusal found before proposing.
    pub height: Option<u64>,
    /// Its position within the block.
    pub position: Option<u32>,
    /// The block's time, RFC 3339.
    pub time: Option<String>,
    /// The documents it changed.
    pub documents: Vec<DocumentKeyOut>,
}

impl From<Submitted> for SubmitResult {
    fn from(s: Submitted) -> Self {
        let (status, code, message, documents) = match &s.outcome {
            Outcome::Committed { documents } => (
                TxStatus::Committed,
                "COMMITTED".to_owned(),
                match s.location {
                    Some(l) => {
                        format!("committed in block {} at position {}", l.height, l.position)
                    }
                    None => "committed".to_owned(),
                },
                documents.iter().map(DocumentKeyOut::from).collect(),
            ),
            Outcome::Refused { code, message, .. } => {
                (TxStatus::Refused, code.clone(), message.clone(), Vec::new())
            }
        };
        SubmitResult {
            tx_hash: s.tx_hash.to_string(),
            status,
            code,
            message,
            height: s.location.map(|l| l.height),
            position: s.location.map(|l| l.position),
            time: s.time_ms.map(iso8601_utc),
            documents,
        }
    }
}
