//! The schema against a one-node ledger in this process (real redb log, sled state, runtime):
//! writes, visibility, limits and the subscription, without TLS (the e2e suite covers TLS).

use std::time::Duration;

use async_graphql::{Request, Variables};
use futures_util::StreamExt as _;
use graphql::{Api, ApiSchema, Caller, build_schema};
use ledger::chain::{Genesis, LedgerState};
use ledger::client::LedgerClient;
use ledger::logging::tracing_logger;
use ledger::runtime::{self, ChannelTransport, ReplicaHandle, RuntimeConfig};
use ledger::{LogStore, RedbLog, Replica, ReplicaConfig};
use pki::IdentityKind;
use pki::dev::{Consortium, ConsortiumSpec, generate_consortium};
use serde_json::{Value, json};
use tokio::sync::mpsc;

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
    handle: ReplicaHandle,
    /// Held so the runtime's peer channel stays open (a closed one stops the driver).
    _peers: mpsc::Sender<ledger::eraftpb::Message>,
}

fn node() -> anyhow::Result<Node> {
    let dir = tempfile::tempdir()?;
    let consortium = generate_consortium(&ConsortiumSpec::dev(1), &dir.path().join("pki"), T0_S)?;
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
    });
    Ok(Node {
        _dir: dir,
        consortium,
        schema,
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
