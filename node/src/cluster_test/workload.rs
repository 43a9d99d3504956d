//! The clients of a cluster-test run and the history they record.
//!
//! Writers: each owns its bills (no other client acts on them), issues a to-order bill from the
//! carrier to the shipper, then endorses it to order back and forth between the shipper and the
//! bank, [`OPS_PER_BILL`] actions per bill. Each action is signed once; its envelope is sent to
//! one node, and, without a definite answer (no connection, a timeout, `UNAVAILABLE`), sent
//! again, the same bytes, to the next node, at most [`ATTEMPTS`] times. The ledger answers a
//! resubmission of a committed envelope with its record, so a retry never applies an action
//! twice (that is one of the checks). An action that ends without a definite answer is
//! `Unknown`, and its bill is left (its possessor is not known); so is a bill whose action was
//! refused.
//!
//! Readers: linearizable reads (`consistency: LINEARIZABLE`) of the writers' bills on random
//! nodes, recording which transactions each read saw.
//!
//! Every operation records when it was invoked and when it completed, in milliseconds since the
//! run's start, for [`super::check`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::client::{ApiClient, Target, data};

/// Actions per bill: the issue, then endorsements. Bounded so a bill's history is one page.
pub const OPS_PER_BILL: usize = 20;
/// Sends of one envelope, one node after another, before its outcome is called unknown.
pub const ATTEMPTS: usize = 4;
/// Pause before sending an envelope again to the next node.
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Pause between a reader's reads: keeps reads a minority of the requests.
const READ_PAUSE: Duration = Duration::from_millis(40);
/// Most operations one run records (writes and reads together): bounds the history's memory
/// whatever the run's length.
pub const HISTORY_MAX: usize = 400_000;

/// The fixture a writer issues (its reference replaced), compiled in.
const TO_ORDER_BILL: &str = include_str!("../../../fixtures/documents/to-order-bill.json");

/// How an operation ended.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum Outcome {
    /// The API answered `COMMITTED`: applied in the block at `height` of the node that answered.
    Acknowledged { height: u64 },
    /// The API answered `REFUSED` with the rule's code.
    Refused { code: String },
    /// No definite answer: it may or may not have been applied.
    Unknown { error: String },
}

/// One write: an action on a bill.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteOp {
    pub worker: usize,
    pub bill: String,
    pub action: &'static str,
    /// The party that signed it.
    pub actor: &'static str,
    /// The party that holds the bill once it is applied.
    pub to: &'static str,
    /// SHA-256 of the JWS signing input, hex (the ledger's transaction id).
    pub tx_hash: String,
    pub invoked_ms: u64,
    pub completed_ms: u64,
    pub attempts: usize,
    /// The fault phase running when it was invoked.
    pub phase: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// One linearizable read of a bill.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadOp {
    pub bill: String,
    /// The node asked, 0-based.
    pub node: usize,
    pub invoked_ms: u64,
    pub completed_ms: u64,
    pub phase: String,
    /// The transactions of the bill's history it saw, or why it failed.
    pub seen: Result<Vec<String>, String>,
}

/// Everything the clients did.
#[derive(Debug, Default)]
pub struct History {
    pub writes: Vec<WriteOp>,
    pub reads: Vec<ReadOp>,
}

/// The identities the clients act as, from the members' directories `deploy/init` made.
pub const IDENTITIES: [(&str, &str, &str); 3] = [
    ("CARRIER", "carrier", "carrier-desk"),
    ("SHIPPER", "carrier", "sam-shipper"),
    ("BANK", "bank", "bank-desk"),
];

/// A client per identity per node.
pub struct Clients {
    /// `(party, node)` → client talking to that node only.
    by: BTreeMap<(&'static str, usize), ApiClient>,
    pub nodes: usize,
    network_id: String,
}

impl Clients {
    /// Clients for `endpoints` (GraphQL URLs, one per node) as the identities of `members`.
    pub async fn new(members: &Path, endpoints: &[String]) -> anyhow::Result<Clients> {
        let mut by = BTreeMap::new();
        for (party, member, name) in IDENTITIES {
            for (i, endpoint) in endpoints.iter().enumerate() {
                let dir = members.join(member).join("identities");
                let target = Target {
                    network: None,
                    as_identity: None,
                    endpoint: vec![endpoint.clone()],
                    cert: Some(dir.join(format!("{name}.crt"))),
                    key: Some(dir.join(format!("{name}.key"))),
                    ca: Some(members.join("exchange").join("ca.pem")),
                };
                by.insert((party, i), ApiClient::new(&target)?);
            }
        }
        let mut clients = Clients {
            by,
            nodes: endpoints.len(),
            network_id: String::new(),
        };
        clients.network_id = clients.get("CARRIER", 0).network_id().await?;
        Ok(clients)
    }

    pub fn get(&self, party: &str, node: usize) -> &ApiClient {
        self.by
            .iter()
            .find(|((p, n), _)| *p == party && *n == node)
            .map(|(_, c)| c)
            .expect("a client for every identity and node")
    }

    /// Signs `body` as `party`.
    fn sign(&self, party: &str, body: Value) -> anyhow::Result<String> {
        let client = self.get(party, 0);
        client.sign_with(&client.signer()?, &self.network_id, body)
    }
}

/// The transaction id of a compact JWS: SHA-256 of its signing input (all before the last dot).
pub fn tx_hash(envelope: &str) -> String {
    let input = envelope
        .rsplit_once('.')
        .map_or(envelope, |(input, _)| input);
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, input.as_bytes()).as_ref())
}

/// What the clients share: the clock, the phase, the stop flag, the history.
pub struct Shared {
    pub start: Instant,
    pub phase: std::sync::Mutex<String>,
    pub stop: AtomicBool,
    pub history: Mutex<History>,
    /// Bills with at least one action invoked, for the readers.
    pub bills: Mutex<Vec<String>>,
}

impl Shared {
    pub fn new() -> Shared {
        Shared {
            start: Instant::now(),
            phase: std::sync::Mutex::new("start".into()),
            stop: AtomicBool::new(false),
            history: Mutex::new(History::default()),
            bills: Mutex::new(Vec::new()),
        }
    }

    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub fn phase(&self) -> String {
        self.phase.lock().expect("not poisoned").clone()
    }

    pub fn set_phase(&self, phase: &str) {
        *self.phase.lock().expect("not poisoned") = phase.to_owned();
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    async fn full(&self) -> bool {
        let h = self.history.lock().await;
        h.writes.len() + h.reads.len() >= HISTORY_MAX
    }
}

/// A small deterministic generator (SplitMix64): which node, which bill.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        usize::try_from(z % u64::try_from(n.max(1)).unwrap_or(1)).unwrap_or(0)
    }
}

/// One writer: bills `CT<worker><n>` (each run has a network of its own), until told to stop.
pub async fn writer(
    shared: Arc<Shared>,
    clients: Arc<Clients>,
    worker: usize,
    seed: u64,
) -> anyhow::Result<()> {
    let content: Value = serde_json::from_str(TO_ORDER_BILL).context("the fixture bill")?;
    let mut rng = Rng::new(seed);
    let mut serial = 0usize;
    while !shared.stopping() && !shared.full().await {
        serial += 1;
        let bill = format!("CT{worker:02}{serial:06}");
        shared.bills.lock().await.push(bill.clone());
        let mut holder = "SHIPPER";
        for step in 0..OPS_PER_BILL {
            if shared.stopping() {
                break;
            }
            let (action, actor, to, command) = if step == 0 {
                let mut doc = content.clone();
                doc["transportDocumentReference"] = json!(bill);
                (
                    "ISSUE",
                    "CARRIER",
                    "SHIPPER",
                    json!({"action": "ISSUE", "issueTo": "SHIPPER", "content": doc}),
                )
            } else {
                let to = if holder == "SHIPPER" {
                    "BANK"
                } else {
                    "SHIPPER"
                };
                (
                    "ENDORSE_TO_ORDER",
                    holder,
                    to,
                    json!({"action": "ENDORSE_TO_ORDER", "to": to}),
                )
            };
            let envelope = clients.sign(
                actor,
                json!({"document": {"carrier": "CARRIER", "reference": bill}, "command": command}),
            )?;
            let op = submit(
                &shared, &clients, &mut rng, worker, &bill, action, actor, to, envelope,
            )
            .await;
            let acknowledged = matches!(op.outcome, Outcome::Acknowledged { .. });
            shared.history.lock().await.writes.push(op);
            if !acknowledged {
                // Refused (unexpected: this writer alone acts on the bill) or unknown: who holds
                // it is not known here; the checker reads it from the chains.
                break;
            }
            holder = to;
        }
    }
    Ok(())
}

/// Sends one signed envelope until a definite answer, at most [`ATTEMPTS`] times.
#[allow(clippy::too_many_arguments)]
async fn submit(
    shared: &Shared,
    clients: &Clients,
    rng: &mut Rng,
    worker: usize,
    bill: &str,
    action: &'static str,
    actor: &'static str,
    to: &'static str,
    envelope: String,
) -> WriteOp {
    let tx_hash = tx_hash(&envelope);
    let phase = shared.phase();
    let invoked_ms = shared.now_ms();
    let first = rng.below(clients.nodes);
    let mut outcome = Outcome::Unknown {
        error: "not sent".into(),
    };
    let mut attempts = 0;
    for attempt in 0..ATTEMPTS {
        attempts = attempt + 1;
        let node = (first + attempt) % clients.nodes;
        let answer = clients
            .get(actor, node)
            .graphql(
                "mutation($e: [String!]!) { submitTransactions(envelopes: $e) { txHash status code height } }",
                json!({"e": [envelope]}),
            )
            .await;
        let result = answer.and_then(|v| {
            let d = data(&v)?;
            Ok(d["submitTransactions"][0].clone())
        });
        match result {
            Ok(r) if r["status"] == "COMMITTED" => {
                outcome = Outcome::Acknowledged {
                    height: r["height"].as_u64().unwrap_or(0),
                };
                break;
            }
            Ok(r) if r["status"] == "REFUSED" => {
                outcome = Outcome::Refused {
                    code: r["code"].as_str().unwrap_or("?").to_owned(),
                };
                break;
            }
            Ok(r) => {
                outcome = Outcome::Unknown {
                    error: format!("an answer without a status: {r}"),
                };
            }
            Err(e) => {
                outcome = Outcome::Unknown {
                    error: format!("node {}: {e:#}", node + 1),
                };
            }
        }
        if shared.stopping() {
            break;
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
    WriteOp {
        worker,
        bill: bill.to_owned(),
        action,
        actor,
        to,
        tx_hash,
        invoked_ms,
        completed_ms: shared.now_ms(),
        attempts,
        phase,
        outcome,
    }
}

/// One reader: linearizable reads of random bills on random nodes, until told to stop.
pub async fn reader(shared: Arc<Shared>, clients: Arc<Clients>, seed: u64) -> anyhow::Result<()> {
    let mut rng = Rng::new(seed);
    while !shared.stopping() && !shared.full().await {
        tokio::time::sleep(READ_PAUSE).await;
        let bill = {
            let bills = shared.bills.lock().await;
            if bills.is_empty() {
                continue;
            }
            bills[rng.below(bills.len())].clone()
        };
        let node = rng.below(clients.nodes);
        let phase = shared.phase();
        let invoked_ms = shared.now_ms();
        let answer = clients
            .get("CARRIER", node)
            .graphql(
                "query($r: String!) { document(carrierCode: \"CARRIER\", reference: $r, consistency: LINEARIZABLE) { history(first: 100) { txHash } } }",
                json!({"r": bill}),
            )
            .await;
        let seen = match answer.and_then(|v| Ok(data(&v)?.clone())) {
            Ok(d) => Ok(d["document"]["history"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|h| h["txHash"].as_str().map(str::to_owned))
                .collect()),
            // A bill whose issue has not committed yet: a read that saw nothing of it.
            Err(e) if format!("{e:#}").contains("(NOT_FOUND)") => Ok(Vec::new()),
            Err(e) => Err(format!("{e:#}")),
        };
        let op = ReadOp {
            bill,
            node,
            invoked_ms,
            completed_ms: shared.now_ms(),
            phase,
            seen,
        };
        shared.history.lock().await.reads.push(op);
    }
    Ok(())
}
