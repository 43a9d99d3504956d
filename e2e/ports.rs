//! A port releases a container (DOMAIN.md section 10), on a real three-node dev network, through
//! the CLI and raw GraphQL: release rights for two containers once the bill is surrendered, a
//! haulier nominated and re-nominated, a condition met, the gate check's yes and its every no
//! (wrong haulier, conditions unmet, expired, revoked, already collected), one gate-out; two
//! gate-outs of one container sent to two nodes at once, of which exactly one commits; what the
//! terminal, the haulier and strangers see; and the haulier's `releaseEvents`.

use crate::common;

use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use common::{DevNet, doc_body, fixture_as, now_ms, wait_for};
use serde_json::{Value, json};

const BILL: &str = "CARRIER/SLK-PORT-001";
const WAYBILL: &str = "CARRIER/SLK-PORT-SWB";
const C1: &str = "CARU1000003";
const C2: &str = "CARU1000019";
const C3: &str = "CARU1000024";
/// A valid ISO 6346 number no bill on the network lists.
const UNKNOWN: &str = "CSQU3054383";

/// Rounds of the subscription's warm-up, each one committed nomination and one wait.
const WARM_UP_ROUNDS_MAX: usize = 20;
/// Pages of `releases` the test follows at most (it needs three: one per phase, one empty).
const PAGES_MAX: usize = 10;
/// How long one warm-up round waits for the event.
const ROUND: Duration = Duration::from_secs(2);

/// `silkline doc container` as `identity`: the gate check's JSON.
fn gate_check(net: &DevNet, identity: &str, container: &str, extra: &[&str]) -> Result<Value> {
    let mut args = vec!["doc", "container", "--container", container];
    args.extend(extra);
    let out = net.cli_as(identity, &args)?;
    ensure!(
        out.exit == 0,
        "doc container {container} as {identity}: {}",
        out.stderr
    );
    out.json()
}

fn expect_gate(answer: &Value, may: bool, reason: Option<&str>) -> Result<()> {
    ensure!(
        answer["mayCollect"] == may && answer["reason"].as_str() == reason,
        "expected mayCollect {may} reason {reason:?}: {answer:#}"
    );
    Ok(())
}

#[test]
fn a_port_releases_a_container() -> Result<()> {
    let _one_at_a_time = common::exclusive();
    let net = DevNet::start(3)?;
    let docs = tempfile::tempdir()?;

    // A straight bill, surrendered by the consignee: no release before the carrier accepts.
    let reference = BILL.split_once('/').context("bill")?.1;
    let file = fixture_as("straight-bill.json", reference, docs.path())?;
    let file = file.to_str().context("path")?;
    net.commit(
        "carrier",
        "issue",
        BILL,
        &["--document", file, "--to", "CONSIGNEE"],
    )?;
    net.commit("consignee", "surrender-for-delivery", BILL, &[])?;
    let release = [
        "--container",
        C1,
        "--container",
        C2,
        "--to",
        "CONSIGNEE",
        "--terminal",
        "PORT",
    ];
    net.refuse(
        "carrier",
        "release-container",
        BILL,
        &release,
        "BILL_NOT_DELIVERABLE",
    )?;
    net.commit("carrier", "accept-surrender", BILL, &[])?;
    // Only to a terminal, and only by the carrier.
    let mut to_bank = release.to_vec();
    to_bank[7] = "BANK";
    net.refuse("carrier", "release-container", BILL, &to_bank, "NOT_A_PORT")?;
    net.refuse(
        "consignee",
        "release-container",
        BILL,
        &release,
        "MISSING_ROLE",
    )?;
    // C1 subject to freight paid; C2 without conditions.
    net.commit(
        "carrier",
        "release-container",
        BILL,
        &[
            "--container",
            C1,
            "--to",
            "CONSIGNEE",
            "--terminal",
            "PORT",
            "--condition",
            "FREIGHT_PAID",
        ],
    )?;
    net.commit(
        "carrier",
        "release-container",
        BILL,
        &["--container", C2, "--to", "CONSIGNEE", "--terminal", "PORT"],
    )?;
    net.refuse(
        "carrier",
        "release-container",
        BILL,
        &["--container", C2, "--to", "CONSIGNEE", "--terminal", "PORT"],
        "CONTAINER_ALREADY_RELEASED",
    )?;

    // The holder nominates the bank by mistake, then the haulier, letting it name its truck.
    let nominate = |haulier: &str, extra: &[&str]| {
        let mut args = vec!["--container", C1, "--haulier", haulier];
        args.extend(extra);
        net.commit("consignee", "nominate-haulier", BILL, &args)
    };
    net.refuse(
        "shipper",
        "nominate-haulier",
        BILL,
        &["--container", C1, "--haulier", "HAULIER"],
        "DOCUMENT_NOT_FOUND",
    )?;
    nominate("BANK", &[])?;
    nominate("HAULIER", &["--truck", "TRK-1", "--haulier-may-renominate"])?;
    net.refuse(
        "bank",
        "nominate-truck",
        BILL,
        &["--container", C1, "--truck", "TRK-9"],
        "NOT_NOMINATED_HAULIER",
    )?;
    net.commit(
        "haulier",
        "nominate-truck",
        BILL,
        &["--container", C1, "--truck", "TRK-2"],
    )?;

    // The gate: the condition is not met yet.
    let check = gate_check(
        &net,
        "port",
        C1,
        &["--haulier", "HAULIER", "--truck", "TRK-2"],
    )?;
    expect_gate(&check, false, Some("CONDITIONS_UNMET"))?;
    ensure!(
        check["bill"] == BILL
            && check["holder"] == "CONSIGNEE"
            && check["haulier"] == "HAULIER"
            && check["status"] == "RELEASED",
        "{check:#}"
    );
    net.refuse(
        "port",
        "mark-condition",
        BILL,
        &["--container", C1, "--condition", "FREIGHT_PAID"],
        "MAY_NOT_MARK_CONDITION",
    )?;
    net.commit(
        "carrier",
        "mark-condition",
        BILL,
        &["--container", C1, "--condition", "FREIGHT_PAID"],
    )?;
    expect_gate(
        &gate_check(
            &net,
            "port",
            C1,
            &["--haulier", "HAULIER", "--truck", "TRK-2"],
        )?,
        true,
        None,
    )?;
    // The haulier asks for itself; a wrong haulier and a wrong truck are told why not.
    expect_gate(&gate_check(&net, "haulier", C1, &[])?, true, None)?;
    expect_gate(
        &gate_check(&net, "port", C1, &["--haulier", "BANK"])?,
        false,
        Some("WRONG_HAULIER"),
    )?;
    expect_gate(
        &gate_check(
            &net,
            "port",
            C1,
            &["--haulier", "HAULIER", "--truck", "TRK-1"],
        )?,
        false,
        Some("WRONG_TRUCK"),
    )?;
    net.refuse(
        "port",
        "gate-out",
        BILL,
        &["--container", C1, "--haulier", "BANK", "--truck", "TRK-2"],
        "WRONG_HAULIER",
    )?;
    net.refuse(
        "haulier",
        "gate-out",
        BILL,
        &["--container", C1, "--truck", "TRK-2"],
        "MISSING_ROLE",
    )?;

    visibility(&net)?;
    let events = haulier_events(&net)?;

    // Two gate-outs of C1, signed by the terminal, sent to two nodes at the same moment: the
    // ledger decides at apply, so exactly one commits.
    let gate_out = json!({"action": "GATE_OUT", "containers": [C1], "haulier": "HAULIER",
                          "truck": "TRK-2"});
    let (carrier_code, reference) = BILL.split_once('/').context("bill")?;
    let envelopes = [
        net.sign("port", doc_body(carrier_code, reference, gate_out.clone()))?,
        net.sign("port", doc_body(carrier_code, reference, gate_out))?,
    ];
    let clients = [net.api("port")?, net.api("port")?];
    let results: Vec<Result<Value>> = std::thread::scope(|scope| {
        let handles: Vec<_> = clients
            .iter()
            .zip(&envelopes)
            .enumerate()
            .map(|(i, (api, envelope))| scope.spawn(move || api.submit_one(i, envelope)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a submitting thread panicked"))
            .collect()
    });
    let mut outcomes: Vec<(String, String)> = Vec::new();
    for result in results {
        let r = result?;
        outcomes.push((
            r["status"].as_str().unwrap_or_default().to_owned(),
            r["code"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    outcomes.sort();
    ensure!(
        outcomes
            == [
                ("COMMITTED".to_owned(), String::new()),
                (
                    "REFUSED".to_owned(),
                    "CONTAINER_ALREADY_GATED_OUT".to_owned()
                )
            ]
            || outcomes
                == [
                    ("COMMITTED".to_owned(), "COMMITTED".to_owned()),
                    (
                        "REFUSED".to_owned(),
                        "CONTAINER_ALREADY_GATED_OUT".to_owned()
                    )
                ],
        "{outcomes:?}"
    );
    // Later, through the CLI: refused; the gate says collected; no nomination after it.
    net.refuse(
        "port",
        "gate-out",
        BILL,
        &["--container", C1, "--truck", "TRK-2"],
        "CONTAINER_ALREADY_GATED_OUT",
    )?;
    let check = gate_check(&net, "port", C1, &[])?;
    expect_gate(&check, false, Some("ALREADY_COLLECTED"))?;
    ensure!(check["collectedBy"] == "HAULIER", "{check:#}");
    net.refuse(
        "consignee",
        "nominate-haulier",
        BILL,
        &["--container", C1, "--haulier", "BANK"],
        "CONTAINER_ALREADY_GATED_OUT",
    )?;
    haulier_heard_gate_out(&net, events)?;

    // C2: the holder's own truck, no haulier; the release completes.
    net.commit("port", "gate-out", BILL, &["--container", C2])?;
    ensure!(net.show("port", BILL, true)?["status"] == "COMPLETED");
    // The terminal lists what left, across its cargo releases' pages (a completed release too).
    let port = net.api("port")?;
    let mut collected = Vec::new();
    let mut after = Value::Null;
    for _ in 0..PAGES_MAX {
        let d = port.data(
            0,
            "query($a: String) { releases(status: \"COLLECTED\", after: $a, first: 1) {
               releases { container collectedBy } nextCursor } }",
            json!({ "a": after }),
        )?;
        for r in d["releases"]["releases"].as_array().context("releases")? {
            collected.push(r["container"].as_str().unwrap_or_default().to_owned());
        }
        after = d["releases"]["nextCursor"].clone();
        if after.is_null() {
            break;
        }
    }
    ensure!(after.is_null() && collected == [C1, C2], "{collected:?}");

    expired_and_revoked(&net, docs.path())?;
    let api = net.api("carrier")?;
    let height = api.height(0)?;
    net.converged(&api, height)?;
    Ok(())
}

/// Who sees what: the haulier only what it is nominated for, a stranger the same answer for an
/// existing container as for one no bill lists, the terminal and the haulier through raw
/// GraphQL (`containerRelease`, `releases`).
fn visibility(net: &DevNet) -> Result<()> {
    // The haulier is nominated for C1, not C2.
    expect_gate(
        &gate_check(net, "haulier", C2, &[])?,
        false,
        Some("NOT_RELEASED"),
    )?;
    ensure!(gate_check(net, "haulier", C2, &[])?["holder"].is_null());
    // Strangers: identical answers for an existing and a missing container.
    for stranger in ["bank", "shipper"] {
        let existing = gate_check(net, stranger, C1, &[])?;
        let missing = gate_check(net, stranger, UNKNOWN, &[])?;
        expect_gate(&existing, false, Some("NOT_RELEASED"))?;
        let mut existing_as_missing = existing.clone();
        existing_as_missing["container"] = json!(UNKNOWN);
        ensure!(
            existing_as_missing == missing,
            "{stranger}: {existing:#} vs {missing:#}"
        );
    }
    // A malformed reference is refused without reading the ledger; a number that is not ISO
    // 6346 is warned of (a bill may list one) and answered like any other.
    let bad = net.cli_as("port", &["doc", "container", "--container", " CARU1000003"])?;
    ensure!(bad.exit != 0, "a malformed number was accepted");
    let mistyped = net.cli_as("port", &["doc", "container", "--container", "CARU1000004"])?;
    ensure!(
        mistyped.exit == 0 && mistyped.stderr.contains("check digit"),
        "{mistyped:?}"
    );
    expect_gate(&mistyped.json()?, false, Some("NOT_RELEASED"))?;

    const CONTAINER: &str = "query($c: String!) { containerRelease(container: $c) {
        container mayCollect reason bill holder haulier terminal status } }";
    const RELEASES: &str = "query($s: String) { releases(status: $s) {
        releases { container status holder haulier } nextCursor } }";
    let port = net.api("port")?;
    let answer = port.data(1, CONTAINER, json!({"c": C2}))?;
    ensure!(
        answer["containerRelease"]["mayCollect"] == true
            && answer["containerRelease"]["terminal"] == "PORT",
        "{answer:#}"
    );
    let listed = |identity: &str| -> Result<Vec<String>> {
        let d = net
            .api(identity)?
            .data(2, RELEASES, json!({"s": "RELEASED"}))?;
        Ok(d["releases"]["releases"]
            .as_array()
            .context("releases")?
            .iter()
            .filter_map(|r| r["container"].as_str().map(str::to_owned))
            .collect())
    };
    ensure!(listed("port")? == [C1, C2], "{:?}", listed("port")?);
    ensure!(listed("haulier")? == [C1], "{:?}", listed("haulier")?);
    ensure!(listed("bank")?.is_empty(), "{:?}", listed("bank")?);
    // The document itself: the haulier reads the release, and only its own right in it.
    let doc = port.data(
        0,
        "query($c: String!, $r: String!) { document(carrierCode: $c, reference: $r,
           class: CARGO_RELEASE) { status state } }",
        json!({"c": "CARRIER", "r": "SLK-PORT-001"}),
    )?;
    ensure!(doc["document"]["status"] == "RELEASED", "{doc:#}");
    let haulier_doc = net.api("haulier")?.data(
        0,
        "query($c: String!, $r: String!) { document(carrierCode: $c, reference: $r,
           class: CARGO_RELEASE) { state } }",
        json!({"c": "CARRIER", "r": "SLK-PORT-001"}),
    )?;
    let rights = &haulier_doc["document"]["state"]["release"]["rights"];
    ensure!(
        rights.get(C1).is_some() && rights.get(C2).is_none(),
        "{haulier_doc:#}"
    );
    // And of its history, the entries about C1 only: not C2's release.
    let history = |identity: &str| -> Result<usize> {
        let d = net.api(identity)?.data(
            0,
            "query($c: String!, $r: String!) { document(carrierCode: $c, reference: $r,
               class: CARGO_RELEASE) { history { action } } }",
            json!({"c": "CARRIER", "r": "SLK-PORT-001"}),
        )?;
        Ok(d["document"]["history"].as_array().map_or(0, Vec::len))
    };
    // Two releases, two nominations, a truck, a condition: the haulier sees all but C2's release.
    ensure!(history("port")? == 6 && history("haulier")? == 5);
    Ok(())
}

/// The haulier subscribes to `releaseEvents` and is heard: it names its truck again until an
/// event arrives (a subscription starts on the server after it is sent, with no answer).
fn haulier_events(net: &DevNet) -> Result<(common::Api, common::Subscription)> {
    let haulier = net.api("haulier")?;
    let mut sub = haulier.subscribe(
        1,
        "subscription { releaseEvents { event actor release { container haulier truck status } } }",
    )?;
    for _ in 0..WARM_UP_ROUNDS_MAX {
        net.commit(
            "haulier",
            "nominate-truck",
            BILL,
            &["--container", C1, "--truck", "TRK-2"],
        )?;
        if let Some(event) = haulier.next_event(&mut sub, ROUND)? {
            let e = &event["data"]["releaseEvents"];
            ensure!(
                e["event"] == "TRUCK_NOMINATED" && e["release"]["container"] == C1,
                "{event:#}"
            );
            return Ok((haulier, sub));
        }
    }
    anyhow::bail!("the haulier's releaseEvents were not live after {WARM_UP_ROUNDS_MAX} rounds")
}

/// The haulier hears of its container's gate-out (after any warm-up events still queued).
fn haulier_heard_gate_out(
    _net: &DevNet,
    (haulier, mut sub): (common::Api, common::Subscription),
) -> Result<()> {
    for _ in 0..WARM_UP_ROUNDS_MAX + 1 {
        let event = haulier
            .next_event(&mut sub, common::DEADLINE)?
            .context("the haulier heard of no gate-out")?;
        let e = &event["data"]["releaseEvents"];
        if e["event"] == "GATED_OUT" {
            ensure!(
                e["release"]["container"] == C1 && e["release"]["status"] == "COLLECTED",
                "{event:#}"
            );
            return Ok(());
        }
    }
    anyhow::bail!("no GATED_OUT among the haulier's events")
}

/// A sea waybill (released on the carrier's word, no surrender): a right that expires is
/// refused at the gate once its window is over; a revoked one is refused at once.
fn expired_and_revoked(net: &DevNet, dir: &std::path::Path) -> Result<()> {
    let reference = WAYBILL.split_once('/').context("waybill")?.1;
    let file = fixture_as("sea-waybill.json", reference, dir)?;
    net.commit(
        "carrier",
        "issue",
        WAYBILL,
        &[
            "--document",
            file.to_str().context("path")?,
            "--to",
            "CONSIGNEE",
        ],
    )?;
    // A window a few seconds long: the gate says yes, then, once it is over, expired.
    let until = (now_ms() + 4_000).to_string();
    net.commit(
        "carrier",
        "release-container",
        WAYBILL,
        &[
            "--container",
            C1,
            "--to",
            "CONSIGNEE",
            "--terminal",
            "PORT",
            "--valid-until",
            &until,
        ],
    )?;
    wait_for("the right to expire at the gate", || {
        let check = gate_check(net, "port", C1, &[]).ok()?;
        (check["reason"] == "EXPIRED").then_some(())
    })?;
    net.refuse(
        "port",
        "gate-out",
        WAYBILL,
        &["--container", C1],
        "RELEASE_EXPIRED",
    )?;
    net.refuse(
        "consignee",
        "nominate-haulier",
        WAYBILL,
        &["--container", C1, "--haulier", "HAULIER"],
        "RELEASE_EXPIRED",
    )?;
    // Revoked: with a reason, before use.
    net.commit(
        "carrier",
        "release-container",
        WAYBILL,
        &["--container", C3, "--to", "CONSIGNEE", "--terminal", "PORT"],
    )?;
    net.refuse(
        "carrier",
        "revoke-release",
        WAYBILL,
        &["--container", C3, "--reason", " "],
        "COMMENT_REQUIRED",
    )?;
    net.commit(
        "carrier",
        "revoke-release",
        WAYBILL,
        &["--container", C3, "--reason", "released to the wrong party"],
    )?;
    let check = gate_check(net, "port", C3, &[])?;
    expect_gate(&check, false, Some("REVOKED"))?;
    ensure!(
        check["revocationReason"] == "released to the wrong party",
        "{check:#}"
    );
    net.refuse(
        "port",
        "gate-out",
        WAYBILL,
        &["--container", C3],
        "RELEASE_REVOKED",
    )?;
    Ok(())
}
