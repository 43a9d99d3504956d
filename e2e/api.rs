//! The GraphQL API of a real three-node dev network, spoken raw over HTTPS with client
//! certificates, as an integrating system would: resubmission, what a non-party may learn,
//! malformed and oversized input, query limits, certificates of a foreign CA, expired and
//! revoked certificates (DOMAIN.md 6.7 and section 5), and subscriptions over a WebSocket on
//! mutual TLS that tell a party of its documents' events and nobody else; DOMAIN.md 6.2 and 6.4
//! through raw `submitTransactions` (status, code and message of every step); and what
//! `network` says of each node's height. After every hostile request the node must keep
//! serving.
//!
//! One network for the whole file (a start costs seconds on the test machine): the checks run
//! as phases of one test.

use crate::common;

use anyhow::{Context as _, Result, ensure};
use base64::Engine as _;
use common::{Api, DevNet, doc_body, document_vars, fixture, now_ms, wait_for};
use pki::dev::{Consortium, ConsortiumSpec, IdentityRequest, generate_consortium};
use pki::{IdentityKind, MemberCode, PartyCode};
use serde_json::{Value, json};

const ORDER: &str = "SLK-ORDER-001";

#[test]
fn graphql_api_resists_replays_probes_garbage_and_bad_certificates() -> Result<()> {
    let _one_at_a_time = common::exclusive();
    let net = DevNet::start(3)?;
    let carrier = net.api("carrier")?;
    let started = std::time::Instant::now();

    the_same_transaction_twice_commits_once(&net, &carrier)?;
    a_non_party_learns_nothing(&net, &carrier)?;
    malformed_envelopes_are_refused(&net, &carrier)?;
    an_oversized_body_gets_413(&carrier)?;
    a_too_deep_query_is_refused(&carrier)?;
    a_costly_query_and_a_bad_cursor_are_refused(&carrier)?;
    foreign_and_expired_certificates_are_refused(&net, &carrier)?;
    document_events_over_websocket_reach_parties_only(&net, &carrier)?;
    scenarios_2_and_4_through_raw_graphql(&net)?;
    a_revoked_certificate_is_refused_on_every_node(&net, &carrier)?;
    let (height, _) = net.converged(&carrier, 1)?;
    network_shows_each_nodes_height_as_known(&net, &carrier, height)?;
    eprintln!("api phases took {:?}", started.elapsed());
    Ok(())
}

/// `network` gives every node's height as far as the answering node knows it: the leader from
/// its Raft progress (so, once all have applied the same blocks, every node's height), a
/// follower only its own, the others marked unknown rather than guessed.
fn network_shows_each_nodes_height_as_known(net: &DevNet, api: &Api, height: u64) -> Result<()> {
    const NETWORK: &str = "{ network { leaderRaftId height nodes { raftId isLeader isThisNode height heightSource matchIndex } } }";
    let mut leaders = 0;
    for i in 0..net.node_count() {
        let me = api.data(i, "{ node { raftId role } }", json!({}))?;
        let raft_id = me["node"]["raftId"].as_u64().context("raftId")?;
        let leads = me["node"]["role"] == "LEADER";
        // The leader hears the followers' last acknowledgements within a heartbeat or two.
        let network = wait_for(&format!("the network as node {i} knows it"), || {
            let d = api.data(i, NETWORK, json!({})).ok()?;
            let nodes = d["network"]["nodes"].as_array()?.clone();
            let settled = nodes.iter().all(|n| {
                let this = n["raftId"] == raft_id;
                if this {
                    n["isThisNode"] == true
                        && n["heightSource"] == "THIS_NODE"
                        && n["height"] == height
                } else if leads {
                    n["isThisNode"] == false
                        && n["heightSource"] == "LEADER_REPLICATION"
                        && n["height"] == height
                        && n["matchIndex"].as_u64().is_some_and(|m| m > 0)
                } else {
                    n["isThisNode"] == false
                        && n["heightSource"] == "UNKNOWN"
                        && n["height"].is_null()
                        && n["matchIndex"].is_null()
                }
            });
            (settled && nodes.len() == net.node_count()).then_some(d)
        });
        let network = network.with_context(|| {
            format!(
                "node {i}: {:#}",
                api.data(i, NETWORK, json!({})).unwrap_or_default()
            )
        })?;
        ensure!(network["network"]["height"] == height, "{network:#}");
        leaders += usize::from(leads);
    }
    ensure!(leaders == 1, "{leaders} leaders");
    Ok(())
}

/// Whether node `i` still answers a simple query.
fn serving(api: &Api, i: usize) -> Result<()> {
    let d = api.data(i, "{ node { id height role } }", json!({}))?;
    ensure!(d["node"]["height"].is_u64(), "{d}");
    Ok(())
}

/// Whether a request failed before any HTTP answer (the TLS handshake refused the client's
/// certificate), not with an HTTP error status.
fn refused_at_handshake(attempt: &Result<Value>) -> bool {
    attempt
        .as_ref()
        .is_err_and(|e| !format!("{e:#}").contains("HTTP "))
}

fn committed(result: &Value) -> Result<(String, u64, u64)> {
    ensure!(result["status"] == "COMMITTED", "{result:#}");
    Ok((
        result["txHash"].as_str().context("txHash")?.to_owned(),
        result["height"].as_u64().context("height")?,
        result["position"].as_u64().context("position")?,
    ))
}

fn refused(result: &Value, code: &str) -> Result<()> {
    ensure!(
        result["status"] == "REFUSED" && result["code"] == code,
        "expected REFUSED {code}: {result:#}"
    );
    Ok(())
}

/// DOMAIN 6.7: the same signed transaction submitted twice (to the same node, to another node,
/// twice in one request) commits once: same hash, same block, the chain does not grow. A new
/// transaction reusing a nonce is refused.
fn the_same_transaction_twice_commits_once(net: &DevNet, carrier: &Api) -> Result<()> {
    let issue = net.sign(
        "carrier",
        doc_body(
            "CARRIER",
            ORDER,
            json!({"action": "ISSUE", "content": fixture("to-order-bill.json")?, "issueTo": "SHIPPER"}),
        ),
    )?;
    let first = carrier.submit(0, std::slice::from_ref(&issue))?;
    let (hash, height, position) = committed(&first[0])?;
    ensure!(first[0]["documents"][0]["reference"] == ORDER, "{first:#?}");
    let tip = carrier.height(0)?;
    ensure!(tip >= height, "tip {tip} below {height}");
    // Every node has applied it before it is sent again: a node that has not yet would propose
    // it, and the copy would be refused `DUPLICATE` in a block of its own (committed once all
    // the same, but the chain would grow).
    net.converged(carrier, tip)?;

    let again = carrier.submit(0, std::slice::from_ref(&issue))?;
    ensure!(
        committed(&again[0])? == (hash.clone(), height, position),
        "{again:#?}"
    );
    let elsewhere = carrier.submit(1, std::slice::from_ref(&issue))?;
    ensure!(
        committed(&elsewhere[0])? == (hash.clone(), height, position),
        "{elsewhere:#?}"
    );
    let twice = carrier.submit(2, &[issue.clone(), issue.clone()])?;
    for r in &twice {
        ensure!(
            committed(r)? == (hash.clone(), height, position),
            "{twice:#?}"
        );
    }
    ensure!(carrier.height(0)? == tip, "a resubmission made a block");

    // Recorded once, at the same place, on every node.
    net.converged(carrier, tip)?;
    for i in 0..net.node_count() {
        let d = carrier.data(i, common::TRANSACTION, json!({"hash": hash}))?;
        ensure!(
            d["transaction"]["height"] == height && d["transaction"]["status"] == "COMMITTED",
            "node {i}: {d}"
        );
        let d = carrier.data(
            i,
            common::DOCUMENT,
            document_vars("CARRIER", ORDER, "TRANSPORT_DOCUMENT", "LOCAL"),
        )?;
        ensure!(
            d["document"]["history"].as_array().map(Vec::len) == Some(1),
            "node {i}: {d}"
        );
    }

    // A different transaction under a nonce already used is a replay: refused.
    let nonce = common::nonce();
    let endorse = net.sign_with_nonce(
        "shipper",
        doc_body(
            "CARRIER",
            ORDER,
            json!({"action": "ENDORSE_TO_ORDER", "to": "BANK"}),
        ),
        &nonce,
    )?;
    committed(&carrier.submit(0, &[endorse])?[0])?;
    let sign = net.sign_with_nonce(
        "shipper",
        doc_body("CARRIER", ORDER, json!({"action": "SIGN"})),
        &nonce,
    )?;
    refused(&carrier.submit(1, &[sign])?[0], "NONCE_REUSED")?;
    Ok(())
}

/// DOMAIN section 5: a reader who is not party to a document gets the same answer as for a
/// document that does not exist; it cannot probe references, transactions or content.
fn a_non_party_learns_nothing(net: &DevNet, carrier: &Api) -> Result<()> {
    let port = net.api("port")?;
    let doc = |reference: &str| -> Result<Value> {
        port.query(
            0,
            common::DOCUMENT,
            document_vars("CARRIER", reference, "TRANSPORT_DOCUMENT", "LINEARIZABLE"),
        )
    };
    let existing = doc(ORDER)?;
    let missing = doc("SLK-NO-SUCH-BILL")?;
    ensure!(
        existing["errors"][0]["extensions"]["code"] == "NOT_FOUND",
        "{existing:#}"
    );
    // Identical but for the reference the caller itself named.
    let normalized: Value =
        serde_json::from_str(&existing.to_string().replace(ORDER, "SLK-NO-SUCH-BILL"))?;
    ensure!(
        normalized == missing,
        "a non-party's answer differs from a missing document's:\n{existing:#}\n{missing:#}"
    );
    // The carrier, a party, sees it.
    let seen = carrier.data(
        0,
        common::DOCUMENT,
        document_vars("CARRIER", ORDER, "TRANSPORT_DOCUMENT", "LINEARIZABLE"),
    )?;
    ensure!(seen["document"]["possessor"] == "BANK", "{seen:#}");

    // Transactions by hash: a hidden one is "not found" like a made-up one.
    let history = carrier.data(
        0,
        common::DOCUMENT,
        document_vars("CARRIER", ORDER, "TRANSPORT_DOCUMENT", "LOCAL"),
    )?;
    let hash = history["document"]["history"][0]["txHash"]
        .as_str()
        .context("txHash")?
        .to_owned();
    let made_up = "ab".repeat(32);
    let hidden = port.query(0, common::TRANSACTION, json!({"hash": hash}))?;
    let nothing = port.query(0, common::TRANSACTION, json!({"hash": made_up}))?;
    ensure!(
        hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND",
        "{hidden:#}"
    );
    let normalized: Value = serde_json::from_str(&hidden.to_string().replace(&hash, &made_up))?;
    ensure!(normalized == nothing, "{hidden:#}\n{nothing:#}");

    // Verifying the content: no match for a non-party, a match for a party.
    let verify = "query V($d: JSON!) { verifyDocument(document: $d) { matches checksum documents { status } } }";
    let content = fixture("to-order-bill.json")?;
    let v = port.data(0, verify, json!({"d": content}))?;
    ensure!(
        v["verifyDocument"]["matches"] == false
            && v["verifyDocument"]["documents"].as_array().map(Vec::len) == Some(0),
        "{v:#}"
    );
    let v = carrier.data(0, verify, json!({"d": content}))?;
    ensure!(v["verifyDocument"]["matches"] == true, "{v:#}");

    // Listing: nothing of it; another party's list is for observers only.
    let list = port.data(0, "{ documents { documents { reference } } }", json!({}))?;
    ensure!(
        list["documents"]["documents"].as_array().map(Vec::len) == Some(0),
        "{list:#}"
    );
    let other = port.query(
        0,
        "{ documents(party: \"SHIPPER\") { documents { reference } } }",
        json!({}),
    )?;
    ensure!(
        other["errors"][0]["extensions"]["code"] == "FORBIDDEN",
        "{other:#}"
    );
    Ok(())
}

/// Garbage in `submitTransactions` is refused as a value, and the node goes on serving.
fn malformed_envelopes_are_refused(net: &DevNet, carrier: &Api) -> Result<()> {
    let garbage = [
        "not-a-jws".to_owned(),
        "a.b.c".to_owned(),
        "eyJhbGciOiJFZERTQSJ9.e30.AAAA".to_owned(),
    ];
    let results = carrier.submit(0, &garbage)?;
    ensure!(results.len() == garbage.len(), "{results:#?}");
    for r in &results {
        refused(r, "MALFORMED_ENVELOPE")?;
    }
    // A valid envelope with a flipped signature byte.
    let good = net.sign(
        "shipper",
        doc_body("CARRIER", "SLK-NO-SUCH-BILL", json!({"action": "SIGN"})),
    )?;
    let (head, sig) = good.rsplit_once('.').context("a JWS has three parts")?;
    let mut sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sig)?;
    sig[0] ^= 1;
    let tampered = format!(
        "{head}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&sig)
    );
    refused(&carrier.submit(0, &[tampered])?[0], "BAD_SIGNATURE")?;
    // A request that is not GraphQL at all.
    let (status, _) = carrier.post_bytes(0, b"{not json".to_vec())?;
    ensure!((400..500).contains(&status), "HTTP {status}");
    for i in 0..net.node_count() {
        serving(carrier, i)?;
    }
    Ok(())
}

/// A body beyond the 17 MiB limit is answered 413 without being read, and the node serves on.
fn an_oversized_body_gets_413(carrier: &Api) -> Result<()> {
    const LIMIT: usize = 17 * 1024 * 1024;
    let filler = "A".repeat(LIMIT);
    let body = serde_json::to_vec(&json!({
        "query": common::SUBMIT,
        "variables": {"envelopes": [filler]},
    }))?;
    ensure!(body.len() > LIMIT);
    let (status, _) = carrier.post_bytes(0, body)?;
    ensure!(status == 413, "HTTP {status} for an oversized body");
    serving(carrier, 0)
}

/// A query nested beyond the depth limit (12) is refused with an error, and the node serves on.
fn a_too_deep_query_is_refused(carrier: &Api) -> Result<()> {
    let mut inner = "name".to_owned();
    for _ in 0..14 {
        inner = format!("ofType {{ {inner} }}");
    }
    let deep = format!("{{ __schema {{ types {{ fields {{ type {{ {inner} }} }} }} }} }}");
    let v = carrier.query(0, &deep, json!({}))?;
    let errors = v["errors"].as_array().context("errors")?;
    ensure!(!errors.is_empty(), "{v:#}");
    ensure!(
        v.get("data").is_none_or(Value::is_null),
        "a refused query returns no data: {v:#}"
    );
    ensure!(
        errors[0]["message"].as_str().is_some_and(
            |m| m.to_lowercase().contains("nested") || m.to_lowercase().contains("depth")
        ),
        "{v:#}"
    );
    serving(carrier, 0)
}

/// The query of the outside test, one POST of 200 aliases of a page of 100 PDFs (it once made a
/// node render 20,000 PDFs, 204 MiB, and stall every other client), is refused before anything
/// runs, with its code and rule, and so is a cursor the API did not issue; the node keeps
/// serving.
fn a_costly_query_and_a_bad_cursor_are_refused(carrier: &Api) -> Result<()> {
    let aliases: Vec<String> = (0..200)
        .map(|i| format!("a{i}: documents(first: 100) {{ documents {{ pdf }} }}"))
        .collect();
    let v = carrier.query(0, &format!("{{ {} }}", aliases.join(" ")), json!({}))?;
    ensure!(v.get("data").is_none_or(Value::is_null), "{v:#}");
    ensure!(
        v["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
            && v["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("QUERY_COMPLEXITY_MAX")),
        "{v:#}"
    );
    let v = carrier.query(
        0,
        "{ documents(after: \"garbage\") { documents { reference } nextCursor } }",
        json!({}),
    )?;
    ensure!(
        v["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
            && v["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("not a cursor this API issued")),
        "{v:#}"
    );
    serving(carrier, 0)
}

/// A client certificate of a foreign CA cannot even connect; a transaction it signs is refused
/// (`UNKNOWN_ISSUER`); a certificate of a member CA that has expired signs nothing
/// (`CERTIFICATE_EXPIRED`).
fn foreign_and_expired_certificates_are_refused(net: &DevNet, carrier: &Api) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let now_s = i64::try_from(now_ms() / 1000)?;
    let foreign = generate_consortium(&ConsortiumSpec::dev(1), &tmp.path().join("foreign"), now_s)?;
    let shipper = foreign.identity("shipper").context("foreign shipper")?;
    let cert_pem = std::fs::read_to_string(foreign.path(&shipper.cert))?;
    let key_pem = std::fs::read_to_string(foreign.path(&shipper.key))?;

    let intruder = Api::new(
        &std::fs::read_to_string(net.ca_bundle())?,
        &cert_pem,
        &key_pem,
        net.endpoints(),
    )?;
    for i in 0..net.node_count() {
        let attempt = intruder.query(i, "{ node { id } }", json!({}));
        ensure!(
            refused_at_handshake(&attempt),
            "node {i} served a client of a foreign CA: {attempt:?}"
        );
        serving(carrier, i)?;
    }

    let by_foreign = common::sign_pem(
        &key_pem,
        &cert_pem,
        net.network_id(),
        doc_body(
            "CARRIER",
            ORDER,
            json!({"action": "TRANSFER", "to": "CONSIGNEE"}),
        ),
        &common::nonce(),
    )?;
    refused(&carrier.submit(0, &[by_foreign])?[0], "UNKNOWN_ISSUER")?;

    // CARRIER's CA issues a certificate for SHIPPER that expired yesterday.
    let mut consortium = Consortium::open(&net.pki_dir())?;
    let day = 24 * 3600;
    let expired = consortium.issue(&IdentityRequest {
        name: "shipper-expired".into(),
        member: MemberCode::new("CARRIER").map_err(anyhow::Error::msg)?,
        party: PartyCode::new("SHIPPER").map_err(anyhow::Error::msg)?,
        party_name: "Silk Road Exporters Ltd".into(),
        kind: IdentityKind::User,
        node_id: None,
        ips: Vec::new(),
        not_before: now_s - 2 * day,
        not_after: now_s - day,
    })?;
    let by_expired = common::sign_pem(
        &std::fs::read_to_string(consortium.path(&expired.key))?,
        &std::fs::read_to_string(consortium.path(&expired.cert))?,
        net.network_id(),
        doc_body("CARRIER", ORDER, json!({"action": "SIGN"})),
        &common::nonce(),
    )?;
    refused(&carrier.submit(1, &[by_expired])?[0], "CERTIFICATE_EXPIRED")?;
    Ok(())
}

/// The subscription of events: `documentEvents` over a WebSocket (`graphql-transport-ws`) on
/// mutual TLS, each caller with its own client certificate. A party hears of a committed change
/// to its document, on a node other than the one that took the transaction; a party that is not
/// party to the document hears nothing of it (DOMAIN section 5), while it does hear of its own
/// documents' events before and after.
fn document_events_over_websocket_reach_parties_only(net: &DevNet, carrier: &Api) -> Result<()> {
    const SEEN_BY_BOTH: &str = "SLK-EVENTS-BOTH";
    const PORT_EXCLUDED: &str = "SLK-EVENTS-HIDDEN";
    const EVENTS: &str = "subscription { documentEvents { height position txHash status possessor document { class carrierCode reference } } }";
    /// How long a warm-up round waits for the event a live subscription gets at once.
    const ROUND: std::time::Duration = std::time::Duration::from_secs(3);
    /// Rounds of provoked events until both subscriptions are live.
    const WARM_UP_ROUNDS_MAX: usize = 20;
    /// Events read past while looking for one (the warm-up's leftovers).
    const EVENTS_SKIPPED_MAX: usize = 2 * WARM_UP_ROUNDS_MAX + 4;

    let issue = |reference: &str, to: &str| -> Result<String> {
        let mut content = fixture("to-order-bill.json")?;
        content["transportDocumentReference"] = json!(reference);
        net.sign(
            "carrier",
            doc_body(
                "CARRIER",
                reference,
                json!({"action": "ISSUE", "content": content, "issueTo": to}),
            ),
        )
    };
    // A bill the port holds and the shipper (named in it) may see: both hear of it.
    committed(&carrier.submit(0, &[issue(SEEN_BY_BOTH, "PORT")?])?[0])?;

    let shipper = net.api("shipper")?;
    let port = net.api("port")?;
    let mut shipper_events = shipper.subscribe(1, EVENTS)?;
    let mut port_events = port.subscribe(2, EVENTS)?;
    let reference_of = |payload: &Value| -> Result<String> {
        ensure!(
            payload.get("errors").is_none_or(Value::is_null),
            "{payload:#}"
        );
        Ok(payload["data"]["documentEvents"]["document"]["reference"]
            .as_str()
            .context("an event names its document")?
            .to_owned())
    };

    // A subscription starts on the server after `subscribe` is sent, with no answer: the port
    // signs the shared bill until each subscriber has heard of a signature.
    let (mut shipper_live, mut port_live) = (false, false);
    for _ in 0..WARM_UP_ROUNDS_MAX {
        let sign = net.sign(
            "port",
            doc_body("CARRIER", SEEN_BY_BOTH, json!({"action": "SIGN"})),
        )?;
        committed(&port.submit(0, &[sign])?[0])?;
        for (api, sub, live) in [
            (&shipper, &mut shipper_events, &mut shipper_live),
            (&port, &mut port_events, &mut port_live),
        ] {
            if !*live && let Some(event) = api.next_event(sub, ROUND)? {
                ensure!(reference_of(&event)? == SEEN_BY_BOTH, "{event:#}");
                *live = true;
            }
        }
        if shipper_live && port_live {
            break;
        }
    }
    ensure!(
        shipper_live && port_live,
        "subscriptions not live after {WARM_UP_ROUNDS_MAX} rounds (shipper {shipper_live}, port {port_live})"
    );

    // A bill the port is not party to: the shipper hears of its issue, with its outcome.
    let result = carrier.submit(0, &[issue(PORT_EXCLUDED, "SHIPPER")?])?;
    let (hash, height, position) = committed(&result[0])?;
    let mut heard = None;
    for _ in 0..EVENTS_SKIPPED_MAX {
        let event = shipper
            .next_event(&mut shipper_events, common::DEADLINE)?
            .context("the shipper heard of no issue")?;
        if reference_of(&event)? == PORT_EXCLUDED {
            heard = Some(event);
            break;
        }
    }
    let event = heard.context("the shipper never heard of its new bill")?;
    let event = &event["data"]["documentEvents"];
    ensure!(
        event["txHash"] == hash.as_str()
            && event["height"] == height
            && event["position"] == position
            && event["status"] == "ISSUED"
            && event["possessor"] == "SHIPPER"
            && event["document"]
                == json!({"class": "TRANSPORT_DOCUMENT", "carrierCode": "CARRIER", "reference": PORT_EXCLUDED}),
        "{event:#}"
    );

    // The port's next event of its own bill comes after that block, so any event of the hidden
    // bill would have come first: it must not have.
    let sign = net.sign(
        "port",
        doc_body("CARRIER", SEEN_BY_BOTH, json!({"action": "SIGN"})),
    )?;
    let (marker, marker_height, _) = committed(&port.submit(0, &[sign])?[0])?;
    ensure!(marker_height > height, "{marker_height} after {height}");
    let mut reached = false;
    for _ in 0..EVENTS_SKIPPED_MAX {
        let event = port
            .next_event(&mut port_events, common::DEADLINE)?
            .context("the port heard nothing of its own bill")?;
        let reference = reference_of(&event)?;
        ensure!(
            reference != PORT_EXCLUDED,
            "the port heard of a bill it is not party to: {event:#}"
        );
        if event["data"]["documentEvents"]["txHash"] == marker.as_str() {
            reached = true;
            break;
        }
    }
    ensure!(reached, "the port never heard of its own signature");
    Ok(())
}

/// A signed transaction's outcome, through raw `submitTransactions` on node `i`: its status,
/// code and message as the API answers them.
fn outcome(
    net: &DevNet,
    api: &Api,
    i: usize,
    signer: &str,
    reference: &str,
    command: Value,
) -> Result<Value> {
    let envelope = net.sign(signer, doc_body("CARRIER", reference, command))?;
    let results = api.submit(i, &[envelope])?;
    ensure!(results.len() == 1, "{results:#?}");
    Ok(results[0].clone())
}

/// `outcome`, which must be `COMMITTED` in a block.
fn commit_as(
    net: &DevNet,
    api: &Api,
    i: usize,
    signer: &str,
    reference: &str,
    command: Value,
) -> Result<()> {
    let result = outcome(net, api, i, signer, reference, command)?;
    committed(&result).with_context(|| format!("{signer} on {reference}"))?;
    ensure!(
        result["code"] == "COMMITTED"
            && result["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("committed in block ")),
        "{result:#}"
    );
    Ok(())
}

/// `outcome`, which must be `REFUSED` with `code` and exactly `message`.
#[allow(clippy::too_many_arguments)]
fn refuse_as(
    net: &DevNet,
    api: &Api,
    i: usize,
    signer: &str,
    reference: &str,
    command: Value,
    code: &str,
    message: &str,
) -> Result<()> {
    let result = outcome(net, api, i, signer, reference, command)?;
    refused(&result, code)?;
    ensure!(result["message"] == message, "message: {result:#}");
    Ok(())
}

/// DOMAIN 6.2 and 6.4 as an integrating system speaks them: envelopes signed with the users'
/// keys, submitted raw to `submitTransactions` on any node (each signer on its own connection),
/// every outcome checked for status, code and message, and the document read back.
fn scenarios_2_and_4_through_raw_graphql(net: &DevNet) -> Result<()> {
    let carrier = net.api("carrier")?;
    let shipper = net.api("shipper")?;
    let consignee = net.api("consignee")?;
    let bank = net.api("bank")?;
    let issue = |reference: &str, fixture_name: &str, to: &str| -> Result<Value> {
        let mut content = fixture(fixture_name)?;
        content["transportDocumentReference"] = json!(reference);
        Ok(json!({"action": "ISSUE", "content": content, "issueTo": to}))
    };
    let read = |api: &Api, reference: &str| -> Result<Value> {
        let d = api.data(
            2,
            common::DOCUMENT,
            document_vars("CARRIER", reference, "TRANSPORT_DOCUMENT", "LINEARIZABLE"),
        )?;
        Ok(d["document"].clone())
    };
    let last_action = |doc: &Value| -> Value {
        doc["history"]
            .as_array()
            .and_then(|h| h.last())
            .map_or(Value::Null, |h| h["action"].clone())
    };

    // 6.2: a straight bill. A bank that was never party to it is refused as if it did not
    // exist; the shipper may not pass it to the bank; a bank holding one has no right to
    // surrender it; the consignee's surrender succeeds and the carrier accepts it.
    const STRAIGHT: &str = "SLK-GQL-STRAIGHT-1";
    commit_as(
        net,
        &carrier,
        0,
        "carrier",
        STRAIGHT,
        issue(STRAIGHT, "straight-bill.json", "SHIPPER")?,
    )?;
    refuse_as(
        net,
        &bank,
        1,
        "bank",
        STRAIGHT,
        json!({"action": "SURRENDER_FOR_DELIVERY"}),
        "DOCUMENT_NOT_FOUND",
        &format!("document TRANSPORT_DOCUMENT/CARRIER/{STRAIGHT} does not exist"),
    )?;
    refuse_as(
        net,
        &shipper,
        2,
        "shipper",
        STRAIGHT,
        json!({"action": "TRANSFER", "to": "BANK"}),
        "RECIPIENT_NOT_CONSIGNEE_OR_CARRIER",
        "a straight bill passes only to its consignee or its carrier; BANK is neither",
    )?;
    const HELD_BY_BANK: &str = "SLK-GQL-STRAIGHT-2";
    commit_as(
        net,
        &carrier,
        0,
        "carrier",
        HELD_BY_BANK,
        issue(HELD_BY_BANK, "straight-bill.json", "BANK")?,
    )?;
    refuse_as(
        net,
        &bank,
        1,
        "bank",
        HELD_BY_BANK,
        json!({"action": "SURRENDER_FOR_DELIVERY"}),
        "NO_SURRENDER_RIGHT",
        &format!(
            "BANK has no right to surrender TRANSPORT_DOCUMENT/CARRIER/{HELD_BY_BANK} (STRAIGHT \
             bill): straight -> shipper or consignee, to order -> the endorsee, blank -> the \
             possessor"
        ),
    )?;
    let doc = read(&bank, HELD_BY_BANK)?;
    ensure!(
        doc["status"] == "ISSUED" && doc["possessor"] == "BANK" && doc["mode"] == "STRAIGHT",
        "a refusal changed nothing: {doc:#}"
    );
    commit_as(
        net,
        &shipper,
        2,
        "shipper",
        STRAIGHT,
        json!({"action": "TRANSFER", "to": "CONSIGNEE"}),
    )?;
    commit_as(
        net,
        &consignee,
        1,
        "consignee",
        STRAIGHT,
        json!({"action": "SURRENDER_FOR_DELIVERY"}),
    )?;
    let doc = read(&consignee, STRAIGHT)?;
    ensure!(
        doc["status"] == "PENDING_SURRENDER_FOR_DELIVERY" && doc["possessor"] == "CARRIER",
        "{doc:#}"
    );
    commit_as(
        net,
        &carrier,
        0,
        "carrier",
        STRAIGHT,
        json!({"action": "ACCEPT_SURRENDER"}),
    )?;
    let doc = read(&consignee, STRAIGHT)?;
    ensure!(
        doc["status"] == "SURRENDERED_FOR_DELIVERY"
            && doc["possessor"] == "CARRIER"
            && doc["history"].as_array().map(Vec::len) == Some(4)
            && last_action(&doc) == "ACCEPT_SURRENDER",
        "{doc:#}"
    );

    // 6.4: the carrier rejects a surrender: not without a comment, not by the requester; with
    // a comment the bill is ISSUED again in the requester's hands, and the comment is recorded.
    const REJECTED: &str = "SLK-GQL-REJSUR-1";
    commit_as(
        net,
        &carrier,
        0,
        "carrier",
        REJECTED,
        issue(REJECTED, "to-order-bill.json", "SHIPPER")?,
    )?;
    commit_as(
        net,
        &shipper,
        1,
        "shipper",
        REJECTED,
        json!({"action": "ENDORSE_TO_ORDER", "to": "BANK"}),
    )?;
    commit_as(
        net,
        &bank,
        2,
        "bank",
        REJECTED,
        json!({"action": "SURRENDER_FOR_DELIVERY"}),
    )?;
    refuse_as(
        net,
        &carrier,
        0,
        "carrier",
        REJECTED,
        json!({"action": "REJECT_SURRENDER", "comment": "   "}),
        "COMMENT_REQUIRED",
        "a comment is required",
    )?;
    refuse_as(
        net,
        &bank,
        1,
        "bank",
        REJECTED,
        json!({"action": "REJECT_SURRENDER", "comment": "not mine to reject"}),
        "MISSING_ROLE",
        "only a CARRIER may do this; BANK is not one",
    )?;
    let doc = read(&bank, REJECTED)?;
    ensure!(
        doc["status"] == "PENDING_SURRENDER_FOR_DELIVERY" && doc["possessor"] == "CARRIER",
        "refusals changed nothing: {doc:#}"
    );
    commit_as(
        net,
        &carrier,
        2,
        "carrier",
        REJECTED,
        json!({"action": "REJECT_SURRENDER", "comment": "freight not paid"}),
    )?;
    let doc = read(&bank, REJECTED)?;
    ensure!(
        doc["status"] == "ISSUED"
            && doc["possessor"] == "BANK"
            && doc["endorsee"] == "BANK"
            && doc["history"].as_array().map(Vec::len) == Some(4)
            && last_action(&doc) == "REJECT_SURRENDER",
        "{doc:#}"
    );
    let detail = bank.data(
        0,
        "query($r: String!) { document(carrierCode: \"CARRIER\", reference: $r) { history { eventDetail } } }",
        json!({"r": REJECTED}),
    )?;
    let rejection = &detail["document"]["history"][3]["eventDetail"];
    ensure!(
        rejection.to_string().contains("freight not paid")
            && rejection.to_string().contains("BANK"),
        "the rejection records its comment and the requester: {rejection:#}"
    );
    // Back in the bank's hands, it acts on it again.
    commit_as(net, &bank, 0, "bank", REJECTED, json!({"action": "SIGN"}))?;
    Ok(())
}

/// DOMAIN 6.7: CARRIER's CA revokes the shipper's certificate and its admin publishes the new
/// list on the ledger (`UPDATE_REVOCATIONS`); from then on every node refuses the shipper's
/// transactions (`CERTIFICATE_REVOKED`) and its TLS connections.
fn a_revoked_certificate_is_refused_on_every_node(net: &DevNet, carrier: &Api) -> Result<()> {
    // Before: the shipper connects, and signs a bill it holds.
    const BILL: &str = "SLK-REVOKE-001";
    let mut content = fixture("to-order-bill.json")?;
    content["transportDocumentReference"] = json!(BILL);
    let issue = net.sign(
        "carrier",
        doc_body(
            "CARRIER",
            BILL,
            json!({"action": "ISSUE", "content": content, "issueTo": "SHIPPER"}),
        ),
    )?;
    committed(&carrier.submit(0, &[issue])?[0])?;
    let shipper = net.api("shipper")?;
    let sign = net.sign(
        "shipper",
        doc_body("CARRIER", BILL, json!({"action": "SIGN"})),
    )?;
    committed(&shipper.submit(1, &[sign])?[0])?;

    let mut consortium = Consortium::open(&net.pki_dir())?;
    let crl = consortium.revoke("shipper", i64::try_from(now_ms() / 1000)?)?;
    let update = net.sign(
        "carrier-admin",
        json!({"governance": {
            "action": "UPDATE_REVOCATIONS",
            "crl": base64::engine::general_purpose::STANDARD.encode(&crl),
        }}),
    )?;
    let (_, height, _) = committed(&carrier.submit(0, &[update])?[0])?;
    wait_for("every node to apply the new revocation list", || {
        (0..net.node_count())
            .all(|i| carrier.height(i).is_ok_and(|h| h >= height))
            .then_some(())
    })?;

    for i in 0..net.node_count() {
        // Submitted through another member's connection: the signature is what counts.
        let sign = net.sign(
            "shipper",
            doc_body("CARRIER", BILL, json!({"action": "SIGN"})),
        )?;
        let result = &carrier.submit(i, &[sign])?[0];
        refused(result, "CERTIFICATE_REVOKED").with_context(|| format!("node {i}"))?;
        // A fresh connection with the revoked certificate is turned away too.
        let revoked = net.api("shipper")?;
        let attempt = revoked.query(i, "{ node { id } }", json!({}));
        ensure!(
            refused_at_handshake(&attempt),
            "node {i} served a revoked client: {attempt:?}"
        );
    }
    // The bill is as it was; others act on as before.
    net.converged(carrier, height)?;
    for i in 0..net.node_count() {
        let d = carrier.data(
            i,
            common::DOCUMENT,
            document_vars("CARRIER", BILL, "TRANSPORT_DOCUMENT", "LOCAL"),
        )?;
        ensure!(
            d["document"]["history"].as_array().map(Vec::len) == Some(2)
                && d["document"]["possessor"] == "SHIPPER",
            "node {i}: {d}"
        );
    }
    let bank = net.api("bank")?;
    let sign = net.sign(
        "bank",
        doc_body("CARRIER", ORDER, json!({"action": "SIGN"})),
    )?;
    committed(&bank.submit(2, &[sign])?[0])?;
    Ok(())
}
