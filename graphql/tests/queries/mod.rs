//! The heaviest queries Silkline's own clients send, copied from where they are sent (each names
//! its source), and two heavy queries an integrating system may reasonably send. `cost.rs`
//! checks that each is priced under the limit; `api.rs` that a node serves each.

use serde_json::{Value, json};

/// The query `silkline doc show` sends and `silkline bench --workload reads` measures
/// (`node/src/cli.rs`, `DOCUMENT`).
pub const DOC_SHOW: &str = "query Document($carrier: String!, $reference: String!, $class: DocumentClassArg!) {
  document(carrierCode: $carrier, reference: $reference, class: $class) {
    key { class carrierCode reference }
    kind status mode possessor endorsee shipper consignee sequence createdAt updatedAt checksum
    content
    history { sequence txHash height position time actor member signerFingerprint action recipient event signature }
  }
}";

/// `silkline verify` (`node/src/cli.rs`, `VERIFY`).
pub const VERIFY: &str = "query Verify($document: JSON!) {
  verifyDocument(document: $document) {
    matches checksum
    documents {
      key { class carrierCode reference }
      status possessor endorsee
      history { sequence txHash height time actor action recipient event }
    }
  }
}";

/// `silkline doc pdf` (`node/src/cli.rs`, `PDF`).
pub const PDF: &str = "query Pdf($carrier: String!, $reference: String!, $paper: Boolean!) {
  document(carrierCode: $carrier, reference: $reference) { pdf(switchToPaper: $paper) }
}";

/// `silkline doc export` (`node/src/cli.rs`, `DCSA`).
pub const DCSA: &str = "query Dcsa($carrier: String!, $reference: String!) {
  document(carrierCode: $carrier, reference: $reference) { dcsa }
}";

/// `silkline bench --workload reads` (`node/src/bench/reads.rs`, `BLOCK`).
pub const BENCH_BLOCK: &str = "query Block($height: Int!) {
  block(height: $height) { transactions { status documents { class carrierCode reference } } }
}";

/// `silkline bench --workload reads` (`node/src/bench/reads.rs`, `PAGE`).
pub const BENCH_PAGE: &str = "query Page($after: String, $first: Int!) {
  documents(after: $after, first: $first) {
    documents { key { class carrierCode reference } status possessor sequence updatedAt }
    nextCursor
  }
}";

/// The end-to-end suite's document read (`e2e/common/mod.rs`, `DOCUMENT`).
pub const E2E_DOCUMENT: &str = "query Document($carrier: String!, $reference: String!, $class: DocumentClassArg!, $consistency: Consistency!) {
  document(carrierCode: $carrier, reference: $reference, class: $class, consistency: $consistency) {
    status mode possessor endorsee sequence checksum state
    history { sequence txHash height action actor recipient event }
  }
}";

/// A full page of documents with every field but their history, PDF and export.
pub const FULL_PAGE: &str = "{ documents(first: 100) { nextCursor documents {
  key { class carrierCode reference } carrierCode reference kind status mode possessor endorsee
  shipper consignee sequence createdAt updatedAt checksum content state } } }";

/// An explorer's view: the last 100 blocks with every field and every transaction.
pub const EXPLORER: &str = "{ blocks(last: 100) { height hash previousHash time logIndex txRoot
  outcomesHash stateHash txCount transactions { position txHash status code
  documents { class carrierCode reference } } } }";

/// Each query with a name and its variables, for the bill `CARRIER/reference` whose content is
/// `content`. (A variable that a query does not declare is ignored.)
pub fn cases(reference: &str, content: &Value) -> Vec<(&'static str, &'static str, Value)> {
    let doc = json!({"carrier": "CARRIER", "reference": reference, "paper": false,
                     "class": "TRANSPORT_DOCUMENT", "consistency": "LOCAL"});
    vec![
        ("doc show", DOC_SHOW, doc.clone()),
        ("verify", VERIFY, json!({"document": content})),
        ("doc pdf", PDF, doc.clone()),
        ("doc export", DCSA, doc.clone()),
        ("bench block", BENCH_BLOCK, json!({"height": 1})),
        ("bench page", BENCH_PAGE, json!({"first": 20})),
        ("bench page of 100", BENCH_PAGE, json!({"first": 100})),
        ("e2e document", E2E_DOCUMENT, doc),
        ("full page", FULL_PAGE, json!({})),
        ("explorer", EXPLORER, json!({})),
    ]
}
