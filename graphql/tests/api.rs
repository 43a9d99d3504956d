//! The schema against a one-node ledger in this process (real redb log, sled state, runtime):
//! writes, visibility, limits and the subscription, without TLS (the e2e suite covers TLS).
//! The consortium is the dev one plus an observer member, AUDITOR, that reads everything.

use std::time::Duration;

use anyhow::Context as _;
use async_graphql::{Request, Variables};
use futures_util::StreamExt as _;
use graphql::{Api, ApiSchema, Caller, build_schema};
use ledger::client::LedgerClient;
use ledger::{Genesis, LedgerReader, LedgerState};
use pki::IdentityKind;
use pki::dev::{Consortium, ConsortiumSpec, KeyAlgorithm, MemberSpec, generate_consortium};
use replication::logging::tracing_logger;
use replication::runtime::{self, ReplicaHandle, RuntimeConfig};
use replication::{LogStore, RedbLog, Replica, ReplicaConfig};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use sim::ChannelTransport;
use tokio::sync::mpsc;

use crate::queries;

/// 2026-01-01T00:00:00Z: when the certificates start being valid.
const T0_S: i64 = 1_767_225_600;
const GENESIS_MS: u64 = (T0_S as u64 + 60) * 1000;
const NETWORK: &str = "silkline-test";
const ORDER: &str = "SLK-ORDER-001";
const DEADLINE: Duration = Duration::from_secs(60);

struct Node {
    _dir: tempfile::TempDir,
    consortium: Consortium,
    schema: ApiSchema,
    reader: LedgerReader,
    handle: ReplicaHandle,
    /// Held so the runtime's peer channel stays open (a closed one stops the driver).
    _peers: mpsc::Sender<replication::eraftpb::Message>,
}

fn node() -> anyhow::Result<Node> {
    let dir = tempfile::tempdir()?;
    let mut spec = ConsortiumSpec::dev(1);
    spec.members.push(MemberSpec {
        code: pki::MemberCode::new("AUDITOR").map_err(anyhow::Error::msg)?,
        name: "Silkline Trade Regulator".into(),
        role: "OBSERVER".into(),
        algorithm: KeyAlgorithm::Ed25519,
        intermediate: false,
    });
    let consortium = generate_consortium(&spec, &dir.path().join("pki"), T0_S)?;
    let genesis =
        Genesis::of_dev_consortium(&consortium, NETWORK, &["127.0.0.1:7101".into()], GENESIS_MS)?;
    let log = RedbLog::open(dir.path().join("raft.redb"))?;
    let mut store = LogStore::open(Box::new(log))?;
    Replica::bootstrap(
        &mut store,
        LedgerState::open(dir.path().join("genesis"), &genesis)?,
        &[1],
    )?;
    let state = LedgerState::open(dir.path().join("state"), &genesis)?;
    let reader = state.reader();
    let reader_for_tests = reader.clone();
    let replica = Replica::open(ReplicaConfig::new(1), store, state, &tracing_logger(1))?;
    let (peers, inbound) = mpsc::channel(16);
    let handle = runtime::spawn(
        replica,
        ChannelTransport::default(),
        inbound,
        // The API prechecks at the wall clock, so blocks are on it too.
        RuntimeConfig {
            tick_interval: Duration::from_millis(10),
            ..RuntimeConfig::wall_clock()
        },
    );
    let client = LedgerClient::new(
        reader,
        handle.proposals.clone(),
        handle.reads.clone(),
        handle.status.clone(),
    );
    let schema = build_schema(Api {
        client,
        node_id: "node1".into(),
        verify_base_url: None,
    });
    Ok(Node {
        _dir: dir,
        consortium,
        schema,
        reader: reader_for_tests,
        handle,
        _peers: peers,
    })
}

fn caller(party: &str, member: &str) -> Caller {
    Caller {
        party: doc_workflow::PartyCode::new(party).unwrap(),
        member: doc_workflow::PartyCode::new(member).unwrap(),
        kind: IdentityKind::User,
        observer: false,
        fingerprint: String::new(),
    }
}

fn fixture(name: &str) -> anyhow::Result<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/documents")
        .join(name);
    Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
}

fn now_ms() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    u64::try_from(since.as_millis()).unwrap()
}

fn sign(c: &Consortium, who: &str, nonce: u64, body: Value) -> anyhow::Result<String> {
    let mut payload = json!({
        "network": NETWORK,
        "nonce": format!("{nonce:032x}"),
        "notBefore": now_ms() - 300_000,
        "notAfter": now_ms() + 3_600_000,
    });
    for (k, v) in body.as_object().unwrap() {
        payload[k] = v.clone();
    }
    Ok(pki::jws::sign(&payload, &c.signer(who)?)?)
}

async fn run(schema: &ApiSchema, who: &Caller, query: &str, vars: Value) -> Value {
    let request = Request::new(query)
        .variables(Variables::from_json(vars))
        .data(who.clone());
    serde_json::to_value(schema.execute(request).await).unwrap()
}

const SUBMIT: &str =
    "mutation($e: [String!]!) { submitTransactions(envelopes: $e) { txHash status code height } }";
const DOC: &str = "query($r: String!) { document(carrierCode: \"CARRIER\", reference: $r) { status possessor history { action actor } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_reads_visibility_limits_and_events() -> anyhow::Result<()> {
    let n = node()?;
    let carrier = caller("CARRIER", "CARRIER");
    let shipper = caller("SHIPPER", "CARRIER");
    let port = caller("PORT", "PORT");
    let issue = sign(
        &n.consortium,
        "carrier",
        1,
        json!({"document": {"carrier": "CARRIER", "reference": ORDER},
               "command": {"action": "ISSUE", "content": fixture("to-order-bill.json")?, "issueTo": "SHIPPER"}}),
    )?;
    let scenario = async {
        let first = run(&n.schema, &carrier, SUBMIT, json!({"e": [issue.clone()]})).await;
        let result = &first["data"]["submitTransactions"][0];
        assert_eq!(result["status"], "COMMITTED", "{first}");
        let again = run(&n.schema, &carrier, SUBMIT, json!({"e": [issue.clone()]})).await;
        assert_eq!(again["data"]["submitTransactions"][0], *result);

        // The shipper subscribes (the stream subscribes when first polled), then signs the bill
        // while it waits: it hears of its own signature. Rounds bound the wait on a slow machine.
        let mut events = Box::pin(n.schema.execute_stream(
            Request::new(
                "subscription { documentEvents { height document { reference } status possessor } }",
            )
            .data(shipper.clone()),
        ));
        let mut heard = None;
        for nonce in 100..110u64 {
            let sign_tx = sign(
                &n.consortium,
                "shipper",
                nonce,
                json!({"document": {"carrier": "CARRIER", "reference": ORDER},
                       "command": {"action": "SIGN"}}),
            )?;
            let (event, signed) = tokio::join!(
                tokio::time::timeout(Duration::from_secs(5), events.next()),
                run(&n.schema, &shipper, SUBMIT, json!({"e": [sign_tx]})),
            );
            assert_eq!(
                signed["data"]["submitTransactions"][0]["status"], "COMMITTED",
                "{signed}"
            );
            if let Ok(Some(event)) = event {
                heard = Some(serde_json::to_value(event)?);
                break;
            }
        }
        let event = heard.expect("the subscriber heard of a committed change");
        assert_eq!(
            event["data"]["documentEvents"]["document"]["reference"], ORDER,
            "{event}"
        );
        assert_eq!(event["data"]["documentEvents"]["possessor"], "SHIPPER");

        // Parties read the bill with its history; a stranger gets the same not-found as for a
        // reference that does not exist.
        let doc = run(&n.schema, &shipper, DOC, json!({"r": ORDER})).await;
        assert_eq!(doc["data"]["document"]["possessor"], "SHIPPER", "{doc}");
        assert_eq!(doc["data"]["document"]["history"][0]["action"], "ISSUE");
        let hidden = run(&n.schema, &port, DOC, json!({"r": ORDER})).await;
        let missing = run(&n.schema, &port, DOC, json!({"r": "NO-SUCH-BILL"})).await;
        assert_eq!(hidden["errors"][0]["extensions"]["code"], "NOT_FOUND");
        assert_eq!(
            hidden["errors"][0]["message"]
                .as_str()
                .unwrap()
                .replace(ORDER, "NO-SUCH-BILL"),
            missing["errors"][0]["message"].as_str().unwrap()
        );
        let listed = run(
            &n.schema,
            &port,
            "{ documents { documents { reference } } }",
            json!({}),
        )
        .await;
        assert_eq!(listed["data"]["documents"]["documents"], json!([]));
        let verified = run(
            &n.schema,
            &port,
            "query($d: JSON!) { verifyDocument(document: $d) { matches } }",
            json!({"d": fixture("to-order-bill.json")?}),
        )
        .await;
        assert_eq!(verified["data"]["verifyDocument"]["matches"], false);
        let verified = run(
            &n.schema,
            &shipper,
            "query($d: JSON!) { verifyDocument(document: $d) { matches documents { status } } }",
            json!({"d": fixture("to-order-bill.json")?}),
        )
        .await;
        assert_eq!(
            verified["data"]["verifyDocument"]["matches"], true,
            "{verified}"
        );

        // Garbage is refused with the rule; limits answer with codes.
        let garbage = run(&n.schema, &carrier, SUBMIT, json!({"e": ["not.a.jws"]})).await;
        assert_eq!(
            garbage["data"]["submitTransactions"][0]["status"],
            "REFUSED"
        );
        let too_many = run(
            &n.schema,
            &carrier,
            SUBMIT,
            json!({"e": vec!["x"; graphql::schema::SUBMIT_ENVELOPES_MAX + 1]}),
        )
        .await;
        assert_eq!(too_many["errors"][0]["extensions"]["code"], "BAD_REQUEST");
        // The bound is the request's: the same field under two aliases shares it, and the
        // second alias's envelopes are refused before any of them is submitted.
        let half = graphql::schema::SUBMIT_ENVELOPES_MAX / 2 + 1;
        let aliased = run(
            &n.schema,
            &carrier,
            "mutation($e: [String!]!) { a: submitTransactions(envelopes: $e) { status } \
             b: submitTransactions(envelopes: $e) { status } }",
            json!({"e": vec!["x"; half]}),
        )
        .await;
        assert_eq!(aliased["errors"][0]["path"], json!(["b"]), "{aliased}");
        assert_eq!(aliased["errors"][0]["extensions"]["code"], "BAD_REQUEST");
        assert!(
            aliased["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("over all its submitTransactions fields")),
            "{aliased}"
        );
        let page = run(
            &n.schema,
            &carrier,
            "{ documents(first: 1000) { nextCursor } }",
            json!({}),
        )
        .await;
        assert_eq!(page["errors"][0]["extensions"]["code"], "BAD_REQUEST");
        let nested = format!(
            "{{ __schema {{ types {{ fields {{ type {{ {}name{} }} }} }} }} }}",
            "ofType { ".repeat(12),
            " }".repeat(12)
        );
        let too_deep = run(&n.schema, &carrier, &nested, json!({})).await;
        assert!(
            too_deep["errors"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("nested too deep"),
            "{too_deep}"
        );
        let node = run(&n.schema, &carrier, "{ node { role height } }", json!({})).await;
        assert_eq!(node["data"]["node"]["role"], "LEADER");
        anyhow::Ok(())
    };
    tokio::time::timeout(DEADLINE, scenario).await??;
    n.handle.shutdown().await?;
    Ok(())
}

/// The caller a dev identity's certificate makes, verified by the node's trust store as the
/// server verifies a client (so an observer is one because the genesis says so).
fn caller_of(n: &Node, identity: &str) -> anyhow::Result<Caller> {
    let chain: Vec<rustls::pki_types::CertificateDer<'static>> = n
        .consortium
        .chain_der(identity)?
        .into_iter()
        .map(rustls::pki_types::CertificateDer::from)
        .collect();
    let verified = n.reader.trust_store().verify_identity(
        &chain,
        u64::try_from(T0_S)? + 3600,
        pki::Purpose::TlsClient,
    )?;
    Caller::of(&verified, &n.reader).context("a usable party")
}

fn code(response: &Value) -> &Value {
    &response["errors"][0]["extensions"]["code"]
}

/// `verifyDocument(checksum:)`, `blocks(last:)`, `transaction(txHash:)`, the complexity limit,
/// `network`, and an observer member reading what no party of it is party to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksums_blocks_transactions_complexity_network_and_observers() -> anyhow::Result<()> {
    let n = node()?;
    let carrier = caller_of(&n, "carrier")?;
    let shipper = caller_of(&n, "shipper")?;
    let port = caller_of(&n, "port")?;
    let auditor = caller_of(&n, "auditor")?;
    assert!(auditor.observer && !shipper.observer, "{auditor:?}");
    let content = fixture("to-order-bill.json")?;
    let checksum = hex::encode(Sha256::digest(
        serde_json_canonicalizer::to_string(&content)?.as_bytes(),
    ));
    let scenario = async {
        let issue = sign(
            &n.consortium,
            "carrier",
            1,
            json!({"document": {"carrier": "CARRIER", "reference": ORDER},
                   "command": {"action": "ISSUE", "content": content, "issueTo": "SHIPPER"}}),
        )?;
        let issued = run(&n.schema, &carrier, SUBMIT, json!({"e": [issue]})).await;
        let issued = issued["data"]["submitTransactions"][0].clone();
        assert_eq!(issued["status"], "COMMITTED", "{issued}");
        let tx_hash = issued["txHash"].as_str().unwrap().to_owned();
        let height = issued["height"].as_u64().unwrap();
        let sign_tx = sign(
            &n.consortium,
            "shipper",
            2,
            json!({"document": {"carrier": "CARRIER", "reference": ORDER},
                   "command": {"action": "SIGN"}}),
        )?;
        let signed = run(&n.schema, &shipper, SUBMIT, json!({"e": [sign_tx]})).await;
        let signed = signed["data"]["submitTransactions"][0].clone();
        assert_eq!(signed["status"], "COMMITTED", "{signed}");
        let tip = signed["height"].as_u64().unwrap();
        assert!(tip > height, "{signed}");

        // verifyDocument by checksum: the stored content's, in either case, matches for a
        // party and an observer; another checksum, or a non-party, does not.
        const VERIFY: &str = "query($c: String!) { verifyDocument(checksum: $c) { matches checksum documents { reference status possessor checksum history { action } } } }";
        for (who, sum) in [
            (&shipper, checksum.clone()),
            (&auditor, checksum.to_uppercase()),
        ] {
            let v = run(&n.schema, who, VERIFY, json!({"c": sum})).await;
            let v = &v["data"]["verifyDocument"];
            assert_eq!(v["matches"], true, "{v}");
            assert_eq!(v["checksum"], checksum.as_str(), "{v}");
            assert_eq!(
                v["documents"],
                json!([{"reference": ORDER, "status": "ISSUED", "possessor": "SHIPPER",
                        "checksum": checksum, "history": [{"action": "ISSUE"}, {"action": "SIGN"}]}]),
                "{v}"
            );
        }
        let other = "0".repeat(64);
        let v = run(&n.schema, &shipper, VERIFY, json!({"c": other})).await;
        assert_eq!(
            v["data"]["verifyDocument"],
            json!({"matches": false, "checksum": other, "documents": []}),
            "{v}"
        );
        let v = run(&n.schema, &port, VERIFY, json!({"c": checksum})).await;
        assert_eq!(v["data"]["verifyDocument"]["matches"], false, "{v}");
        assert_eq!(v["data"]["verifyDocument"]["documents"], json!([]), "{v}");
        let v = run(&n.schema, &shipper, VERIFY, json!({"c": "abc"})).await;
        assert_eq!(*code(&v), "BAD_REQUEST", "{v}");
        let v = run(
            &n.schema,
            &shipper,
            "query($c: String!, $d: JSON!) { verifyDocument(checksum: $c, document: $d) { matches } }",
            json!({"c": checksum, "d": fixture("to-order-bill.json")?}),
        )
        .await;
        assert_eq!(*code(&v), "BAD_REQUEST", "{v}");

        // blocks(last:): newest first, hash-linked, bounded; documents a caller may not see
        // are left out of the transactions, the transactions themselves are not.
        const BLOCKS: &str = "query($l: Int!) { blocks(last: $l) { height hash previousHash txCount transactions { txHash status code documents { reference } } } }";
        let b = run(&n.schema, &shipper, BLOCKS, json!({"l": 2})).await;
        let blocks = b["data"]["blocks"].as_array().cloned().unwrap_or_default();
        assert_eq!(blocks.len(), 2, "{b}");
        assert_eq!(blocks[0]["height"], tip, "{b}");
        assert_eq!(blocks[1]["height"], tip - 1, "{b}");
        assert_eq!(blocks[0]["previousHash"], blocks[1]["hash"], "{b}");
        assert_eq!(
            blocks[0]["transactions"],
            json!([{"txHash": signed["txHash"], "status": "COMMITTED", "code": "COMMITTED",
                    "documents": [{"reference": ORDER}]}]),
            "{b}"
        );
        let all = run(&n.schema, &shipper, BLOCKS, json!({"l": 100})).await;
        let all = all["data"]["blocks"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let heights: Vec<u64> = all.iter().filter_map(|b| b["height"].as_u64()).collect();
        assert_eq!(heights, (1..=tip).rev().collect::<Vec<_>>(), "{all:?}");
        let issue_block = all.iter().find(|b| b["height"] == height).unwrap();
        let hidden = run(&n.schema, &port, BLOCKS, json!({"l": 100})).await;
        let hidden_issue = hidden["data"]["blocks"]
            .as_array()
            .and_then(|bs| bs.iter().find(|b| b["height"] == height))
            .cloned()
            .unwrap_or_default();
        assert_eq!(hidden_issue["hash"], issue_block["hash"], "{hidden}");
        assert_eq!(
            hidden_issue["transactions"][0]["documents"],
            json!([]),
            "{hidden}"
        );
        assert_eq!(
            issue_block["transactions"][0]["documents"],
            json!([{"reference": ORDER}])
        );
        for last in [0, graphql::schema::RECENT_BLOCKS_MAX + 1] {
            let b = run(&n.schema, &shipper, BLOCKS, json!({"l": last})).await;
            assert_eq!(*code(&b), "BAD_REQUEST", "{b}");
        }

        // transaction(txHash:): the outcome as recorded, for a party and an observer; the same
        // not-found for a non-party as for a hash never seen.
        const TX: &str = "query($h: String!) { transaction(txHash: $h) { txHash status code height position documents { reference } } }";
        for who in [&carrier, &shipper, &auditor] {
            let t = run(&n.schema, who, TX, json!({"h": tx_hash})).await;
            assert_eq!(
                t["data"]["transaction"],
                json!({"txHash": tx_hash, "status": "COMMITTED", "code": "COMMITTED",
                       "height": height, "position": 0,
                       "documents": [{"reference": ORDER}]}),
                "{t}"
            );
        }
        let hidden = run(&n.schema, &port, TX, json!({"h": tx_hash})).await;
        let unknown = "ab".repeat(32);
        let never = run(&n.schema, &port, TX, json!({"h": unknown})).await;
        assert_eq!(*code(&hidden), "NOT_FOUND", "{hidden}");
        assert_eq!(
            hidden["errors"][0]["message"]
                .as_str()
                .unwrap()
                .replace(&tx_hash, &unknown),
            never["errors"][0]["message"].as_str().unwrap()
        );
        let bad = run(&n.schema, &shipper, TX, json!({"h": "xyz"})).await;
        assert_eq!(*code(&bad), "BAD_REQUEST", "{bad}");

        // The complexity limit: each aliased `node` with nine fields counts 10, so a tenth of
        // the limit of them is at the limit and served, one more is refused before anything
        // runs, with the rule.
        let aliases = |count: usize| -> String {
            let fields: Vec<String> = (0..count)
                .map(|i| {
                    format!(
                        "n{i}: node {{ id raftId role leaderRaftId term commitIndex \
                         appliedIndex height blockHash }}"
                    )
                })
                .collect();
            format!("{{ {} }}", fields.join(" "))
        };
        let at_limit = graphql::schema::QUERY_COMPLEXITY_MAX / 10;
        let served = run(&n.schema, &carrier, &aliases(at_limit), json!({})).await;
        assert!(served.get("errors").is_none(), "{}", served["errors"]);
        assert_eq!(served["data"]["n0"]["id"], "node1");
        let refused = run(&n.schema, &carrier, &aliases(at_limit + 1), json!({})).await;
        assert_eq!(refused["data"], Value::Null, "{}", refused["errors"]);
        assert_eq!(
            *code(&refused),
            "QUERY_TOO_COMPLEX",
            "{}",
            refused["errors"]
        );
        assert!(
            refused["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("QUERY_COMPLEXITY_MAX")),
            "{}",
            refused["errors"]
        );
        // Other errors async-graphql raises itself carry a code too.
        let unknown_field = run(&n.schema, &carrier, "{ node { noSuchField } }", json!({})).await;
        assert_eq!(*code(&unknown_field), "BAD_REQUEST", "{unknown_field}");

        // The observer reads every document and lists them by status or by party, though none
        // of its parties is party to them; a party may not list another's.
        let doc = run(&n.schema, &auditor, DOC, json!({"r": ORDER})).await;
        assert_eq!(doc["data"]["document"]["possessor"], "SHIPPER", "{doc}");
        assert_eq!(doc["data"]["document"]["history"][1]["action"], "SIGN");
        for query in [
            "{ documents(status: \"ISSUED\") { documents { reference } } }",
            "{ documents(party: \"SHIPPER\") { documents { reference } } }",
        ] {
            let list = run(&n.schema, &auditor, query, json!({})).await;
            assert_eq!(
                list["data"]["documents"]["documents"],
                json!([{"reference": ORDER}]),
                "{query}: {list}"
            );
        }
        let own = run(
            &n.schema,
            &auditor,
            "{ documents { documents { reference } } }",
            json!({}),
        )
        .await;
        assert_eq!(own["data"]["documents"]["documents"], json!([]), "{own}");
        let forbidden = run(
            &n.schema,
            &port,
            "{ documents(party: \"SHIPPER\") { documents { reference } } }",
            json!({}),
        )
        .await;
        assert_eq!(*code(&forbidden), "FORBIDDEN", "{forbidden}");

        // network: members (the observer among them), the one node, its own height.
        let net = run(
            &n.schema,
            &port,
            "{ network { members { code role } leaderRaftId height nodes { raftId isLeader isThisNode height heightSource matchIndex } } }",
            json!({}),
        )
        .await;
        let net = &net["data"]["network"];
        assert!(
            net["members"]
                .as_array()
                .unwrap()
                .contains(&json!({"code": "AUDITOR", "role": "OBSERVER"})),
            "{net}"
        );
        assert_eq!(net["height"], tip, "{net}");
        assert_eq!(net["leaderRaftId"], 1, "{net}");
        let me = &net["nodes"][0];
        assert_eq!(me["isThisNode"], true, "{net}");
        assert_eq!(me["isLeader"], true, "{net}");
        assert_eq!(me["height"], tip, "{net}");
        assert_eq!(me["heightSource"], "THIS_NODE", "{net}");
        assert!(me["matchIndex"].as_u64().is_some_and(|m| m > 0), "{net}");
        anyhow::Ok(())
    };
    tokio::time::timeout(DEADLINE, scenario).await??;
    n.handle.shutdown().await?;
    Ok(())
}

/// What one request may cost (`graphql::cost`). The report's query (200 aliases of a page of
/// 100 PDFs: it rendered 20,000) is refused before anything runs, and so is any page of
/// documents with more PDFs than one request may render; an answer over the size limit is
/// replaced by one error; a cursor the API did not issue is `BAD_REQUEST`, not an empty page;
/// and the heavy queries Silkline's own clients send are all served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_cost_answer_size_pdfs_and_cursors() -> anyhow::Result<()> {
    use graphql::cost::{PDF_RENDERS_PER_REQUEST_MAX, QUERY_COMPLEXITY_MAX, RESPONSE_BYTES_MAX};
    const REFERENCES: [&str; 3] = ["SLK-COST-001", "SLK-COST-002", "SLK-COST-003"];
    let n = node()?;
    let carrier = caller_of(&n, "carrier")?;
    let scenario = async {
        let mut envelopes = Vec::new();
        let mut contents = Vec::new();
        for (nonce, reference) in (1..).zip(REFERENCES) {
            let mut content = fixture("to-order-bill.json")?;
            content["transportDocumentReference"] = json!(reference);
            envelopes.push(sign(
                &n.consortium,
                "carrier",
                nonce,
                json!({"document": {"carrier": "CARRIER", "reference": reference},
                       "command": {"action": "ISSUE", "content": content, "issueTo": "SHIPPER"}}),
            )?);
            contents.push(content);
        }
        let issued = run(&n.schema, &carrier, SUBMIT, json!({"e": envelopes})).await;
        let results = issued["data"]["submitTransactions"]
            .as_array()
            .context("results")?;
        assert_eq!(results.len(), REFERENCES.len(), "{issued}");
        for r in results {
            assert_eq!(r["status"], "COMMITTED", "{issued}");
        }

        // The report's query: refused with the rule before anything runs, so no data at all.
        let attack = (0..200)
            .map(|i| format!("a{i}: documents(first: 100) {{ documents {{ pdf }} }}"))
            .collect::<Vec<_>>()
            .join(" ");
        let refused = run(&n.schema, &carrier, &format!("{{ {attack} }}"), json!({})).await;
        assert_eq!(refused["data"], Value::Null, "{refused}");
        assert_eq!(refused["errors"].as_array().map(Vec::len), Some(1));
        assert_eq!(*code(&refused), "QUERY_TOO_COMPLEX", "{refused}");

        // A page of documents with their PDFs: refused once it asks for more than one request
        // may render, served (every document's PDF) up to that.
        let pdfs = |first: usize| {
            format!("{{ documents(first: {first}) {{ documents {{ reference pdf }} }} }}")
        };
        let refused = run(
            &n.schema,
            &carrier,
            &pdfs(PDF_RENDERS_PER_REQUEST_MAX + 1),
            json!({}),
        )
        .await;
        assert_eq!(*code(&refused), "QUERY_TOO_COMPLEX", "{refused}");
        let served = run(
            &n.schema,
            &carrier,
            &pdfs(PDF_RENDERS_PER_REQUEST_MAX),
            json!({}),
        )
        .await;
        assert!(served.get("errors").is_none(), "{}", served["errors"]);
        let page = served["data"]["documents"]["documents"]
            .as_array()
            .context("a page")?;
        assert_eq!(page.len(), REFERENCES.len(), "{served}");
        for d in page {
            // Base64 of `%PDF`.
            assert!(
                d["pdf"].as_str().is_some_and(|p| p.starts_with("JVBER")),
                "{d}"
            );
        }

        // An answer over RESPONSE_BYTES_MAX: aliases of one signed transaction, each cheap
        // (13) but kilobytes long, enough of them to weigh more than the limit while costing
        // less than the price limit. Refused whole, with the rule; half as many are served.
        let alias = |i: usize| {
            format!(
                "s{i}: document(carrierCode: \"CARRIER\", reference: \"SLK-COST-001\", \
                 consistency: LOCAL) {{ history(first: 1) {{ signature }} }}"
            )
        };
        let aliases = |count: usize| {
            let all: Vec<String> = (0..count).map(alias).collect();
            format!("{{ {} }}", all.join(" "))
        };
        let one = run(&n.schema, &carrier, &aliases(1), json!({})).await;
        let one_bytes = serde_json::to_vec(&one["data"]["s0"])?.len();
        let count = RESPONSE_BYTES_MAX / one_bytes + 1;
        assert!(
            count * 13 <= QUERY_COMPLEXITY_MAX,
            "{count} aliases of {one_bytes} bytes cost more than the price limit"
        );
        let refused = run(&n.schema, &carrier, &aliases(count), json!({})).await;
        assert_eq!(refused["data"], Value::Null, "{}", refused["errors"]);
        assert_eq!(refused["errors"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            *code(&refused),
            "RESPONSE_TOO_LARGE",
            "{}",
            refused["errors"]
        );
        let half = run(&n.schema, &carrier, &aliases(count / 2), json!({})).await;
        assert!(half.get("errors").is_none(), "{}", half["errors"]);
        assert_eq!(half["data"]["s0"], one["data"]["s0"]);

        // Cursors: the pages walk every document in key order; anything the API did not issue
        // is refused with the rule, not answered as an empty page.
        const PAGE: &str = "query($a: String) { documents(first: 1, after: $a) { documents { reference } nextCursor } }";
        let mut seen = Vec::new();
        let mut after = Value::Null;
        for _ in 0..=REFERENCES.len() {
            let page = run(&n.schema, &carrier, PAGE, json!({"a": after})).await;
            assert!(page.get("errors").is_none(), "{page}");
            let page = &page["data"]["documents"];
            seen.extend(
                page["documents"]
                    .as_array()
                    .context("documents")?
                    .iter()
                    .map(|d| d["reference"].clone()),
            );
            after = page["nextCursor"].clone();
            if after.is_null() {
                break;
            }
        }
        assert_eq!(seen, REFERENCES.map(|r| json!(r)), "{seen:?}");
        for bad in [
            "garbage",
            "",
            "TRANSPORT_DOCUMENT/CARRIER",
            "INVOICE/CARRIER/SLK-COST-001",
            // A reference may hold `/` (DCSA allows it), but never lead with a space, nor run
            // past 20 characters.
            "TRANSPORT_DOCUMENT/CARRIER/ SLK-COST-001",
            "TRANSPORT_DOCUMENT/CARRIER/SLK-COST-001-TOO-LONG-A-REFERENCE",
            "TRANSPORT_DOCUMENT/carrier!/SLK-COST-001",
        ] {
            let page = run(&n.schema, &carrier, PAGE, json!({"a": bad})).await;
            assert_eq!(*code(&page), "BAD_REQUEST", "{bad:?}: {page}");
            assert!(
                page["errors"][0]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("not a cursor this API issued")),
                "{bad:?}: {page}"
            );
        }

        // The heavy queries Silkline's own clients send are served.
        for (name, query, variables) in queries::cases(REFERENCES[0], &contents[0]) {
            let answer = run(&n.schema, &carrier, query, variables).await;
            assert!(answer.get("errors").is_none(), "{name}: {answer}");
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(DEADLINE, scenario).await??;
    n.handle.shutdown().await?;
    Ok(())
}
