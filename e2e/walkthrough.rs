//! The README walkthrough and the DOMAIN.md section 6 scenarios, driven through the `silkline`
//! CLI against a real three-node dev network (`silkline dev up`) on loopback with mutual TLS, as
//! a user types them. Each step's outcome is checked (committed, or refused with the rule's
//! stable code), and after it the document as the parties see it (`silkline doc show`).
//!
//! One network for the whole file: a network start costs seconds on the test machine, so the
//! scenarios run as phases of one test, each on its own references.

use crate::common;

use std::path::Path;

use anyhow::{Context as _, Result, ensure};
use base64::Engine as _;
use common::{
    CliOut, DevNet, containers_of, document_vars, fixture, fixture_as, fixtures_dir, wait_for,
};
use serde_json::{Value, json};

/// Asserts a document's status, possessor and endorsee (`None`: absent) and history length.
fn expect_doc(
    doc: &Value,
    status: &str,
    possessor: Option<&str>,
    endorsee: Option<&str>,
    history: usize,
) -> Result<()> {
    ensure!(
        doc["status"] == status,
        "status, expected {status}: {doc:#}"
    );
    ensure!(
        doc["possessor"].as_str() == possessor,
        "possessor, expected {possessor:?}: {doc:#}"
    );
    ensure!(
        doc["endorsee"].as_str() == endorsee,
        "endorsee, expected {endorsee:?}: {doc:#}"
    );
    let len = doc["history"].as_array().map_or(0, Vec::len);
    ensure!(
        len == history,
        "history of {len}, expected {history}: {doc:#}"
    );
    Ok(())
}

/// The (action, actor) pairs of a document's history, oldest first.
fn actions(doc: &Value) -> Vec<(String, String)> {
    doc["history"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|h| {
            (
                h["action"].as_str().unwrap_or_default().to_owned(),
                h["actor"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// The error line the CLI printed (`silkline: ...`), without the log line's timestamp.
fn cli_error(out: &CliOut) -> String {
    out.stderr
        .lines()
        .filter(|l| l.starts_with("silkline: "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The text of a PDF as poppler's `pdftotext` reads it (scripts/test installs poppler-utils),
/// runs of whitespace collapsed to one space.
fn pdf_text(path: &Path) -> Result<String> {
    let out = std::process::Command::new("pdftotext")
        .arg(path)
        .arg("-")
        .output()
        .context("pdftotext (poppler-utils) must be installed; scripts/test installs it")?;
    ensure!(
        out.status.success(),
        "pdftotext {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" "))
}

#[test]
fn walkthrough_and_domain_scenarios_through_the_cli() -> Result<()> {
    let _one_at_a_time = common::exclusive();
    let net = DevNet::start(3)?;
    let docs = tempfile::tempdir()?;
    let started = std::time::Instant::now();

    scenario_1_to_order_bill_from_issue_to_gate_out(&net, docs.path())?;
    scenario_2_straight_bill(&net, docs.path())?;
    scenario_3_blank_endorsed_bills(&net, docs.path())?;
    scenario_4_surrender_rejected(&net, docs.path())?;
    scenario_5_amendment(&net, docs.path())?;
    scenario_6_refusals(&net, docs.path())?;
    sea_waybill_and_cargo_release_rules(&net, docs.path())?;
    every_kind_of_dcsa_document_and_any_reference(&net, docs.path())?;
    all_nodes_agree(&net)?;
    eprintln!("walkthrough phases took {:?}", started.elapsed());
    Ok(())
}

/// DOMAIN 6.1, the README walkthrough: issue to the shipper, endorse to the bank, the bank
/// verifies and endorses to the consignee, surrender, accept, cargo release, gate-out; then the
/// README's PDF and DCSA export. The README's commands, in its order.
fn scenario_1_to_order_bill_from_issue_to_gate_out(net: &DevNet, dir: &Path) -> Result<()> {
    const BILL: &str = "CARRIER/SLK-ORDER-001";
    /// A bill nobody issued, to compare what a non-party is told with.
    const NO_BILL: &str = "CARRIER/SLK-ORDER-404";
    let file = fixtures_dir().join("to-order-bill.json");
    let file = file.to_str().context("path")?;
    let containers = containers_of(&fixture("to-order-bill.json")?);
    // The README's gate-out names these two.
    ensure!(
        containers == ["CARU1000003", "CARU1000019"],
        "{containers:?}"
    );

    // Before anything: nobody sees it, and the CLI says so.
    let missing = net.cli_as("carrier", &["doc", "show", BILL])?;
    ensure!(
        missing.exit == 1 && missing.stderr.contains("NOT_FOUND"),
        "{missing:?}"
    );

    let issue = net.commit(
        "carrier",
        "issue",
        BILL,
        &["--to", "SHIPPER", "--document", file],
    )?;
    ensure!(
        issue.json["documents"][0]["reference"] == "SLK-ORDER-001",
        "{}",
        issue.json
    );
    let doc = net.show("shipper", BILL, false)?;
    expect_doc(&doc, "ISSUED", Some("SHIPPER"), Some("SHIPPER"), 1)?;
    ensure!(doc["mode"] == "TO_ORDER", "{doc:#}");

    // The bank is not party yet: it is told the bill does not exist.
    let hidden = net.cli_as("bank", &["doc", "show", BILL])?;
    ensure!(
        hidden.exit == 1 && hidden.stderr.contains("NOT_FOUND"),
        "{hidden:?}"
    );

    net.commit("shipper", "endorse-to-order", BILL, &["--to", "BANK"])?;
    let doc = net.show("shipper", BILL, false)?;
    expect_doc(&doc, "ISSUED", Some("BANK"), Some("BANK"), 2)?;

    // The bank checks the paper it was sent against the ledger, then looks at the record.
    let verify = net.cli_as("bank", &["doc", "verify", file])?;
    ensure!(verify.exit == 0, "{verify:?}");
    let verify = verify.json()?;
    ensure!(verify["matches"] == true, "{verify:#}");
    ensure!(
        verify["checksum"].as_str().map(str::len) == Some(64),
        "{verify:#}"
    );
    ensure!(
        verify["documents"][0]["possessor"] == "BANK"
            && verify["documents"][0]["key"]["reference"] == "SLK-ORDER-001",
        "{verify:#}"
    );
    let doc = net.show("bank", BILL, false)?;
    expect_doc(&doc, "ISSUED", Some("BANK"), Some("BANK"), 2)?;
    // A different document does not verify.
    let mut altered = fixture("to-order-bill.json")?;
    altered["transportDocumentReference"] = json!("SLK-ORDER-FAKE");
    let altered_path =
        std::env::temp_dir().join(format!("silkline-e2e-{}-altered.json", std::process::id()));
    std::fs::write(&altered_path, serde_json::to_vec(&altered)?)?;
    let forged = net.cli_as(
        "bank",
        &["doc", "verify", altered_path.to_str().context("path")?],
    )?;
    let _ = std::fs::remove_file(&altered_path);
    ensure!(forged.exit == 3, "{forged:?}");
    ensure!(forged.json()?["matches"] == false, "{forged:?}");

    // The README's refusal: the port is not party to the bill, so it is told exactly what a bill
    // that does not exist gets.
    let hidden = net.refuse(
        "port",
        "transfer",
        BILL,
        &["--to", "BANK"],
        "DOCUMENT_NOT_FOUND",
    )?;
    let missing = net.refuse(
        "port",
        "transfer",
        NO_BILL,
        &["--to", "BANK"],
        "DOCUMENT_NOT_FOUND",
    )?;
    ensure!(
        hidden.json["message"]
            .as_str()
            .map(|m| m.replace("SLK-ORDER-001", "SLK-ORDER-404"))
            .as_deref()
            == missing.json["message"].as_str(),
        "{} vs {}",
        hidden.json,
        missing.json
    );

    // The README's: title never goes to a party the network does not know.
    net.refuse(
        "bank",
        "transfer",
        BILL,
        &["--to", "NOBODY"],
        "UNKNOWN_PARTY",
    )?;

    net.commit("bank", "endorse", BILL, &["--to", "CONSIGNEE"])?;
    let doc = net.show("consignee", BILL, false)?;
    expect_doc(&doc, "ISSUED", Some("CONSIGNEE"), Some("CONSIGNEE"), 3)?;
    // ENDORSE (not to order): the consignee may not endorse further; a refusal changes nothing.
    net.refuse(
        "consignee",
        "endorse",
        BILL,
        &["--to", "BANK"],
        "ENDORSEE_MAY_NOT_ENDORSE",
    )?;

    net.commit("consignee", "surrender-for-delivery", BILL, &[])?;
    let doc = net.show("consignee", BILL, false)?;
    expect_doc(
        &doc,
        "PENDING_SURRENDER_FOR_DELIVERY",
        Some("CARRIER"),
        Some("CONSIGNEE"),
        4,
    )?;

    // The port sees nothing before the cargo release, not even a PDF: it gets the answer a bill
    // that does not exist gets, and no file. Releasing before acceptance is refused.
    let hidden = net.cli_as("port", &["doc", "show", BILL])?;
    ensure!(
        hidden.exit == 1 && hidden.stderr.contains("NOT_FOUND"),
        "{hidden:?}"
    );
    let hidden_pdf = dir.join("port-order-001.pdf");
    let missing_pdf = dir.join("port-order-404.pdf");
    let hidden = net.cli_as(
        "port",
        &[
            "doc",
            "pdf",
            BILL,
            "-o",
            hidden_pdf.to_str().context("path")?,
        ],
    )?;
    let missing = net.cli_as(
        "port",
        &[
            "doc",
            "pdf",
            NO_BILL,
            "-o",
            missing_pdf.to_str().context("path")?,
        ],
    )?;
    ensure!(
        hidden.exit == 1 && cli_error(&hidden).contains("NOT_FOUND"),
        "{hidden:?}"
    );
    ensure!(
        cli_error(&hidden).replace("SLK-ORDER-001", "SLK-ORDER-404") == cli_error(&missing)
            && missing.exit == hidden.exit,
        "{hidden:?} vs {missing:?}"
    );
    ensure!(!hidden_pdf.exists() && !missing_pdf.exists());
    net.refuse(
        "carrier",
        "release-cargo",
        BILL,
        &["--to", "PORT"],
        "BILL_NOT_DELIVERABLE",
    )?;

    net.commit("carrier", "accept-surrender", BILL, &[])?;
    let doc = net.show("carrier", BILL, false)?;
    expect_doc(
        &doc,
        "SURRENDERED_FOR_DELIVERY",
        Some("CARRIER"),
        Some("CONSIGNEE"),
        5,
    )?;

    let release = net.commit("carrier", "release-cargo", BILL, &["--to", "PORT"])?;
    ensure!(
        release.json["documents"][0]["class"] == "CARGO_RELEASE",
        "{}",
        release.json
    );
    let cargo = net.show("port", BILL, true)?;
    ensure!(cargo["status"] == "RELEASED", "{cargo:#}");
    // Only the named port may gate out.
    let mut gate_out_args: Vec<&str> = Vec::new();
    for c in &containers {
        gate_out_args.extend(["--container", c.as_str()]);
    }
    net.refuse("carrier", "gate-out", BILL, &gate_out_args, "MISSING_ROLE")?;
    // A party never party to the release learns nothing of it, not even that it exists.
    net.refuse(
        "bank",
        "gate-out",
        BILL,
        &gate_out_args,
        "DOCUMENT_NOT_FOUND",
    )?;
    net.commit("port", "gate-out", BILL, &gate_out_args)?;
    let cargo = net.show("port", BILL, true)?;
    ensure!(cargo["status"] == "COMPLETED", "{cargo:#}");
    ensure!(
        actions(&cargo) == pairs(&[("RELEASE_CARGO", "CARRIER"), ("GATE_OUT", "PORT")]),
        "{cargo:#}"
    );
    net.refuse("port", "gate-out", BILL, &gate_out_args, "TERMINAL_STATE")?;

    // The bill is accomplished: nothing may follow, and it stays as it was.
    net.refuse("consignee", "sign", BILL, &[], "TERMINAL_STATE")?;
    net.refuse(
        "carrier",
        "issue",
        BILL,
        &["--to", "SHIPPER", "--document", file],
        "TERMINAL_STATE",
    )?;
    let doc = net.show("bank", BILL, false)?;
    expect_doc(
        &doc,
        "SURRENDERED_FOR_DELIVERY",
        Some("CARRIER"),
        Some("CONSIGNEE"),
        5,
    )?;
    ensure!(
        actions(&doc)
            == pairs(&[
                ("ISSUE", "CARRIER"),
                ("ENDORSE_TO_ORDER", "SHIPPER"),
                ("ENDORSE", "BANK"),
                ("SURRENDER_FOR_DELIVERY", "CONSIGNEE"),
                ("ACCEPT_SURRENDER", "CARRIER"),
            ]),
        "{doc:#}"
    );
    // Every step is signed: the JWS in the history verifies, and the heights only go up.
    let mut last_height = 0;
    for (i, h) in doc["history"]
        .as_array()
        .context("history")?
        .iter()
        .enumerate()
    {
        ensure!(h["sequence"] == i + 1, "{h:#}");
        let height = h["height"].as_u64().context("height")?;
        ensure!(height > last_height, "{doc:#}");
        last_height = height;
        let jws = h["signature"].as_str().context("signature")?;
        pki::jws::verify(jws).with_context(|| format!("history item {i}"))?;
    }
    readme_pdf_and_dcsa_export(net, dir, BILL, &doc)
}

/// The README's `doc pdf` and `doc export` as the bank, a party, of the accomplished bill whose
/// record (`doc show`) is `doc`: the PDF names the reference and the checksum and says it is a
/// copy, it is the bytes the GraphQL `Document.pdf` field serves, and the export carries the
/// content and the endorsement chain, newest first.
fn readme_pdf_and_dcsa_export(net: &DevNet, dir: &Path, bill: &str, doc: &Value) -> Result<()> {
    let (carrier, reference) = bill.split_once('/').context("CARRIER/REFERENCE")?;
    let checksum = doc["checksum"].as_str().context("checksum")?;
    ensure!(checksum.len() == 64, "{doc:#}");

    let pdf = dir.join("bill.pdf");
    let out = net.cli_as(
        "bank",
        &["doc", "pdf", bill, "-o", pdf.to_str().context("path")?],
    )?;
    ensure!(out.exit == 0, "{out:?}");
    let printed = out.json()?;
    let bytes = std::fs::read(&pdf)?;
    ensure!(
        bytes.starts_with(b"%PDF-") && printed["bytes"] == bytes.len(),
        "{printed}"
    );
    let text = pdf_text(&pdf)?;
    for want in [reference, checksum, adapters::COPY_NOTICE] {
        ensure!(text.contains(want), "{want:?} missing from the PDF: {text}");
    }
    ensure!(!text.contains("CHANGE OF MEDIUM"), "{text}");
    // The switch-to-paper original is not for a bill surrendered for delivery.
    let paper = dir.join("paper.pdf");
    let refused = net.cli_as(
        "bank",
        &[
            "doc",
            "pdf",
            bill,
            "--switch-to-paper",
            "-o",
            paper.to_str().context("path")?,
        ],
    )?;
    ensure!(
        refused.exit == 1 && !paper.exists(),
        "a paper original of a bill surrendered for delivery: {refused:?}"
    );

    // The CLI writes what the GraphQL field serves: same state, same bytes.
    let api = net.api("bank")?;
    let served = api.data(
        1,
        "query P($c: String!, $r: String!) { document(carrierCode: $c, reference: $r) { pdf } }",
        json!({"c": carrier, "r": reference}),
    )?;
    let served = base64::engine::general_purpose::STANDARD
        .decode(served["document"]["pdf"].as_str().context("pdf")?)?;
    ensure!(served == bytes, "the API's PDF differs from the CLI's file");

    let out = net.cli_as("bank", &["doc", "export", bill])?;
    ensure!(out.exit == 0, "{out:?}");
    let export = out.json()?;
    // The exported document carries the ledger's status; as issued, it is the fixture.
    let mut as_issued = export["transportDocument"].clone();
    ensure!(
        as_issued["transportDocumentStatus"] == "SURRENDERED_FOR_DELIVERY"
            && export.get("transportDocumentStatus").is_none(),
        "{export:#}"
    );
    as_issued["transportDocumentStatus"] = "ISSUED".into();
    ensure!(
        as_issued == fixture("to-order-bill.json")? && export["documentChecksum"] == checksum,
        "{export:#}"
    );
    let chain = &export["endorsementChain"];
    ensure!(
        chain["transportDocumentReference"] == reference,
        "{chain:#}"
    );
    let codes: Vec<&str> = chain["endorsementChain"]
        .as_array()
        .context("endorsementChain")?
        .iter()
        .filter_map(|l| l["actionCode"].as_str())
        .collect();
    ensure!(
        codes
            == [
                "SURRENDERED",
                "SURRENDER_FOR_DELIVERY",
                "ENDORSE",
                "ENDORSE_TO_ORDER",
                "ISSUE"
            ],
        "{chain:#}"
    );
    // Each link is the history entry that proves it: newest first, same transaction.
    let history = doc["history"].as_array().context("history")?;
    for (link, entry) in chain["endorsementChain"]
        .as_array()
        .context("endorsementChain")?
        .iter()
        .zip(history.iter().rev())
    {
        ensure!(
            link["transactionHash"] == entry["txHash"] && link["blockHeight"] == entry["height"],
            "{link:#} vs {entry:#}"
        );
    }
    Ok(())
}

/// DOMAIN 6.2: a straight bill goes to the consignee only; the bank may not surrender it.
fn scenario_2_straight_bill(net: &DevNet, dir: &std::path::Path) -> Result<()> {
    const BILL: &str = "CARRIER/SLK-STRAIGHT-001";
    let file = fixtures_dir().join("straight-bill.json");
    let file = file.to_str().context("path")?;
    // As the README's raw GraphQL: `tx --sign-only` prints the JWS, submitted another way.
    let signed = net.cli_as(
        "carrier",
        &[
            "tx",
            "issue",
            BILL,
            "--to",
            "SHIPPER",
            "--document",
            file,
            "--sign-only",
        ],
    )?;
    ensure!(signed.exit == 0, "{signed:?}");
    let jws = signed.stdout.trim();
    pki::jws::verify(jws).context("the printed transaction")?;
    let result = net.api("carrier")?.submit_one(0, jws)?;
    ensure!(result["status"] == "COMMITTED", "{result:#}");
    let doc = net.show("shipper", BILL, false)?;
    expect_doc(&doc, "ISSUED", Some("SHIPPER"), None, 1)?;
    ensure!(doc["history"][0]["txHash"] == result["txHash"], "{doc:#}");
    ensure!(doc["mode"] == "STRAIGHT", "{doc:#}");

    net.refuse(
        "shipper",
        "transfer",
        BILL,
        &["--to", "BANK"],
        "RECIPIENT_NOT_CONSIGNEE_OR_CARRIER",
    )?;
    // The bank was never party to it: refused as if the bill did not exist.
    net.refuse(
        "bank",
        "surrender-for-delivery",
        BILL,
        &[],
        "DOCUMENT_NOT_FOUND",
    )?;
    net.refuse(
        "carrier",
        "surrender-for-delivery",
        BILL,
        &[],
        "NOT_POSSESSOR",
    )?;
    net.refuse(
        "shipper",
        "endorse",
        BILL,
        &["--to", "CONSIGNEE"],
        "WRONG_MODE",
    )?;
    net.commit("shipper", "transfer", BILL, &["--to", "CONSIGNEE"])?;
    net.commit("consignee", "surrender-for-delivery", BILL, &[])?;
    net.commit("carrier", "accept-surrender", BILL, &[])?;
    let doc = net.show("consignee", BILL, false)?;
    expect_doc(&doc, "SURRENDERED_FOR_DELIVERY", Some("CARRIER"), None, 4)?;

    // A bank holding a straight bill (issued to it) still has no right to surrender it.
    let second = fixture_as("straight-bill.json", "SLK-STRAIGHT-002", dir)?;
    let second = second.to_str().context("path")?;
    const BILL2: &str = "CARRIER/SLK-STRAIGHT-002";
    net.commit(
        "carrier",
        "issue",
        BILL2,
        &["--to", "BANK", "--document", second],
    )?;
    net.refuse(
        "bank",
        "surrender-for-delivery",
        BILL2,
        &[],
        "NO_SURRENDER_RIGHT",
    )?;
    net.commit("bank", "transfer", BILL2, &["--to", "CONSIGNEE"])?;
    net.commit("consignee", "surrender-for-delivery", BILL2, &[])?;
    let doc = net.show("bank", BILL2, false)?;
    expect_doc(
        &doc,
        "PENDING_SURRENDER_FOR_DELIVERY",
        Some("CARRIER"),
        None,
        3,
    )?;
    Ok(())
}

/// DOMAIN 6.3: a blank-endorsed bill (issued blank, or blank-endorsed later): possession alone
/// gives title, so any possessor surrenders it; an ENDORSE is refused.
fn scenario_3_blank_endorsed_bills(net: &DevNet, dir: &std::path::Path) -> Result<()> {
    const BILL: &str = "CARRIER/SLK-BLANK-001";
    let file = fixtures_dir().join("blank-bill.json");
    let file = file.to_str().context("path")?;
    net.commit(
        "carrier",
        "issue",
        BILL,
        &["--to", "SHIPPER", "--document", file],
    )?;
    let doc = net.show("shipper", BILL, false)?;
    expect_doc(&doc, "ISSUED", Some("SHIPPER"), None, 1)?;
    ensure!(doc["mode"] == "BLANK", "{doc:#}");
    net.refuse("shipper", "endorse", BILL, &["--to", "BANK"], "WRONG_MODE")?;
    net.commit("shipper", "transfer", BILL, &["--to", "BANK"])?;
    net.commit("bank", "surrender-for-delivery", BILL, &[])?;
    net.commit("carrier", "accept-surrender", BILL, &[])?;
    let doc = net.show("bank", BILL, false)?;
    expect_doc(&doc, "SURRENDERED_FOR_DELIVERY", Some("CARRIER"), None, 4)?;

    // A to-order bill that its endorsee blank-endorses.
    let order = fixture_as("to-order-bill.json", "SLK-BLANKED-002", dir)?;
    let order = order.to_str().context("path")?;
    const BILL2: &str = "CARRIER/SLK-BLANKED-002";
    net.commit(
        "carrier",
        "issue",
        BILL2,
        &["--to", "SHIPPER", "--document", order],
    )?;
    net.commit("shipper", "blank-endorse", BILL2, &[])?;
    let doc = net.show("shipper", BILL2, false)?;
    expect_doc(&doc, "ISSUED", Some("SHIPPER"), None, 2)?;
    ensure!(doc["mode"] == "BLANK", "{doc:#}");
    net.commit("shipper", "transfer", BILL2, &["--to", "CONSIGNEE"])?;
    net.refuse(
        "consignee",
        "endorse",
        BILL2,
        &["--to", "BANK"],
        "WRONG_MODE",
    )?;
    net.refuse("consignee", "blank-endorse", BILL2, &[], "WRONG_MODE")?;
    net.commit("consignee", "surrender-for-delivery", BILL2, &[])?;
    let doc = net.show("consignee", BILL2, false)?;
    expect_doc(
        &doc,
        "PENDING_SURRENDER_FOR_DELIVERY",
        Some("CARRIER"),
        None,
        4,
    )?;
    Ok(())
}

/// DOMAIN 6.4: the carrier rejects a surrender with a comment: `ISSUED` again, with the
/// requester in possession. Without a comment it is refused.
fn scenario_4_surrender_rejected(net: &DevNet, dir: &std::path::Path) -> Result<()> {
    let file = fixture_as("to-order-bill.json", "SLK-REJSUR-001", dir)?;
    let file = file.to_str().context("path")?;
    const BILL: &str = "CARRIER/SLK-REJSUR-001";
    net.commit(
        "carrier",
        "issue",
        BILL,
        &["--to", "SHIPPER", "--document", file],
    )?;
    net.commit("shipper", "endorse-to-order", BILL, &["--to", "BANK"])?;
    net.commit("bank", "surrender-for-delivery", BILL, &[])?;
    let doc = net.show("bank", BILL, false)?;
    expect_doc(
        &doc,
        "PENDING_SURRENDER_FOR_DELIVERY",
        Some("CARRIER"),
        Some("BANK"),
        3,
    )?;

    net.refuse(
        "carrier",
        "reject-surrender",
        BILL,
        &["--comment", "   "],
        "COMMENT_REQUIRED",
    )?;
    net.refuse(
        "bank",
        "reject-surrender",
        BILL,
        &["--comment", "not mine to reject"],
        "MISSING_ROLE",
    )?;
    net.commit(
        "carrier",
        "reject-surrender",
        BILL,
        &["--comment", "freight not paid"],
    )?;
    let doc = net.show("bank", BILL, false)?;
    expect_doc(&doc, "ISSUED", Some("BANK"), Some("BANK"), 4)?;
    ensure!(doc["history"][3]["action"] == "REJECT_SURRENDER", "{doc:#}");
    // Back in the bank's hands, it can act on it again. The bank signs as any deployment's user
    // would: endpoints, its certificate and key and the CA bundle, no network.json.
    let (cert, key) = net.identity("bank")?;
    let (ca, second, first) = (net.ca_bundle(), net.endpoint(2), net.endpoint(0));
    let out = common::cli(&[
        "tx",
        "--endpoint",
        &second,
        "--endpoint",
        &first,
        "--cert",
        cert.to_str().context("path")?,
        "--key",
        key.to_str().context("path")?,
        "--ca",
        ca.to_str().context("path")?,
        "sign",
        BILL,
    ])?;
    let signed = out.json()?;
    ensure!(
        out.exit == 0 && signed["status"] == "COMMITTED" && signed["height"].is_u64(),
        "{out:?}"
    );
    let doc = net.show("bank", BILL, false)?;
    expect_doc(&doc, "ISSUED", Some("BANK"), Some("BANK"), 5)?;
    ensure!(
        doc["history"][4]["action"] == "SIGN"
            && doc["history"][4]["actor"] == "BANK"
            && doc["history"][4]["txHash"] == signed["tx"],
        "{doc:#}"
    );
    Ok(())
}

/// DOMAIN 6.5: surrender for amendment, accepted, voided with a replacement that links to the
/// old bill; every action on the voided bill is refused.
fn scenario_5_amendment(net: &DevNet, dir: &std::path::Path) -> Result<()> {
    let old = fixture_as("straight-bill.json", "SLK-AMEND-001", dir)?;
    let old = old.to_str().context("path")?;
    let new = fixture_as("straight-bill.json", "SLK-AMEND-002", dir)?;
    let new = new.to_str().context("path")?;
    const OLD: &str = "CARRIER/SLK-AMEND-001";
    const NEW: &str = "CARRIER/SLK-AMEND-002";
    net.commit(
        "carrier",
        "issue",
        OLD,
        &["--to", "SHIPPER", "--document", old],
    )?;
    // Voiding an issued bill of lading without a surrender is not a transition.
    net.refuse(
        "carrier",
        "void",
        OLD,
        &["--to", "SHIPPER", "--document", new],
        "ACTION_NOT_ALLOWED",
    )?;
    net.commit(
        "shipper",
        "surrender-for-amendment",
        OLD,
        &["--reason", "CHANGE_OF_DESTINATION"],
    )?;
    let doc = net.show("shipper", OLD, false)?;
    expect_doc(
        &doc,
        "PENDING_SURRENDER_FOR_AMENDMENT",
        Some("CARRIER"),
        None,
        2,
    )?;
    net.commit("carrier", "accept-surrender", OLD, &[])?;
    let doc = net.show("shipper", OLD, false)?;
    expect_doc(&doc, "SURRENDERED_FOR_AMENDMENT", Some("CARRIER"), None, 3)?;

    // The replacement may not reuse a reference.
    net.refuse(
        "carrier",
        "void",
        OLD,
        &["--to", "SHIPPER", "--document", old],
        "REFERENCE_ALREADY_USED",
    )?;
    let void = net.commit(
        "carrier",
        "void",
        OLD,
        &["--to", "SHIPPER", "--document", new],
    )?;
    let touched: Vec<&str> = void.json["documents"]
        .as_array()
        .context("documents")?
        .iter()
        .filter_map(|d| d["reference"].as_str())
        .collect();
    ensure!(
        touched.contains(&"SLK-AMEND-001") && touched.contains(&"SLK-AMEND-002"),
        "{}",
        void.json
    );
    let doc = net.show("shipper", OLD, false)?;
    expect_doc(&doc, "VOIDED", Some("CARRIER"), None, 4)?;
    let replacement = net.show("shipper", NEW, false)?;
    expect_doc(&replacement, "ISSUED", Some("SHIPPER"), None, 1)?;

    // The link, both ways, in the state as the ledger keeps it.
    let api = net.api("shipper")?;
    let state = |reference: &str| -> Result<Value> {
        let d = api.data(
            0,
            common::DOCUMENT,
            document_vars("CARRIER", reference, "TRANSPORT_DOCUMENT", "LINEARIZABLE"),
        )?;
        Ok(d["document"]["state"].clone())
    };
    let old_state = state("SLK-AMEND-001")?;
    let new_state = state("SLK-AMEND-002")?;
    ensure!(
        old_state.to_string().contains("SLK-AMEND-002"),
        "the voided bill names its replacement: {old_state:#}"
    );
    ensure!(
        new_state.to_string().contains("SLK-AMEND-001"),
        "the replacement names the bill it amends: {new_state:#}"
    );

    // Nothing may follow VOIDED.
    net.refuse("shipper", "sign", OLD, &[], "TERMINAL_STATE")?;
    net.refuse("carrier", "accept-surrender", OLD, &[], "TERMINAL_STATE")?;
    net.refuse(
        "shipper",
        "surrender-for-delivery",
        OLD,
        &[],
        "TERMINAL_STATE",
    )?;
    let doc = net.show("shipper", OLD, false)?;
    expect_doc(&doc, "VOIDED", Some("CARRIER"), None, 4)?;
    // The replacement is a live bill.
    net.commit("shipper", "transfer", NEW, &["--to", "CONSIGNEE"])?;
    Ok(())
}

/// DOMAIN 6.6: issuing a reference twice, acting without possession, transferring to oneself,
/// and a rejection that is not the appointee's very next action are refused and change nothing.
/// A rejection that is the next action restores the previous holder.
fn scenario_6_refusals(net: &DevNet, dir: &std::path::Path) -> Result<()> {
    a_broken_document_is_refused_before_signing(net, dir)?;
    let file = fixture_as("to-order-bill.json", "SLK-RULES-001", dir)?;
    let file = file.to_str().context("path")?;
    const BILL: &str = "CARRIER/SLK-RULES-001";
    net.refuse(
        "shipper",
        "issue",
        BILL,
        &["--to", "SHIPPER", "--document", file],
        "MISSING_ROLE",
    )?;
    net.refuse(
        "carrier",
        "transfer",
        BILL,
        &["--to", "BANK"],
        "DOCUMENT_NOT_FOUND",
    )?;
    net.refuse(
        "carrier",
        "issue",
        BILL,
        &["--to", "NOBODY", "--document", file],
        "UNKNOWN_PARTY",
    )?;
    net.commit(
        "carrier",
        "issue",
        BILL,
        &["--to", "SHIPPER", "--document", file],
    )?;
    net.refuse(
        "carrier",
        "issue",
        BILL,
        &["--to", "SHIPPER", "--document", file],
        "REFERENCE_ALREADY_USED",
    )?;
    // A party that never was party to the bill learns nothing, not even who holds it.
    net.refuse(
        "bank",
        "transfer",
        BILL,
        &["--to", "CONSIGNEE"],
        "DOCUMENT_NOT_FOUND",
    )?;
    net.refuse(
        "carrier",
        "transfer",
        BILL,
        &["--to", "BANK"],
        "NOT_POSSESSOR",
    )?;
    net.refuse(
        "shipper",
        "transfer",
        BILL,
        &["--to", "SHIPPER"],
        "TRANSFER_TO_SELF",
    )?;
    net.refuse(
        "shipper",
        "endorse-to-order",
        BILL,
        &["--to", "SHIPPER"],
        "TRANSFER_TO_SELF",
    )?;
    net.refuse("shipper", "reject", BILL, &[], "REJECTION_NOT_NEXT_ACTION")?;
    // DOMAIN 6.8: title and possession go only to a party of the network; no one could ever
    // act for NOBODY, so the bill would be stranded.
    for action in ["transfer", "endorse", "endorse-to-order"] {
        net.refuse(
            "shipper",
            action,
            BILL,
            &["--to", "NOBODY"],
            "UNKNOWN_PARTY",
        )?;
    }
    let doc = net.show("shipper", BILL, false)?;
    expect_doc(&doc, "ISSUED", Some("SHIPPER"), Some("SHIPPER"), 1)?;

    // Rejected as the very next action: the previous holder is back.
    net.commit("shipper", "endorse-to-order", BILL, &["--to", "BANK"])?;
    net.refuse("shipper", "reject", BILL, &[], "NOT_APPOINTEE")?;
    net.commit("bank", "reject", BILL, &["--reason", "no credit line"])?;
    let doc = net.show("shipper", BILL, false)?;
    expect_doc(&doc, "ISSUED", Some("SHIPPER"), Some("SHIPPER"), 3)?;
    // The bank, once party, is told the rule.
    net.refuse(
        "bank",
        "transfer",
        BILL,
        &["--to", "CONSIGNEE"],
        "NOT_POSSESSOR",
    )?;
    net.refuse(
        "bank",
        "endorse",
        BILL,
        &["--to", "CONSIGNEE"],
        "NOT_ENDORSEE",
    )?;

    // Not the very next action: another action came first.
    net.commit("shipper", "transfer", BILL, &["--to", "BANK"])?;
    net.commit("bank", "sign", BILL, &[])?;
    net.refuse("bank", "reject", BILL, &[], "REJECTION_NOT_NEXT_ACTION")?;
    let doc = net.show("bank", BILL, false)?;
    expect_doc(&doc, "ISSUED", Some("BANK"), Some("SHIPPER"), 5)?;
    // A possessor who is not the endorsee of a to-order bill may not surrender it.
    net.refuse(
        "bank",
        "surrender-for-delivery",
        BILL,
        &[],
        "NO_SURRENDER_RIGHT",
    )?;
    Ok(())
}

/// `tx issue --document FILE` imports the file as DCSA JSON (`adapters::dcsa`) before it signs:
/// a broken copy of a fixture (a bad UN/LOCODE, a required field missing) is refused by the CLI
/// with every problem's JSON pointer, and nothing reaches the ledger.
fn a_broken_document_is_refused_before_signing(net: &DevNet, dir: &Path) -> Result<()> {
    const BILL: &str = "CARRIER/SLK-BROKEN-001";
    let mut broken = fixture("to-order-bill.json")?;
    broken["transportDocumentReference"] = json!("SLK-BROKEN-001");
    broken["transports"]["portOfDischarge"]["UNLocationCode"] = json!("rotterdam");
    broken
        .as_object_mut()
        .context("a transport document is an object")?
        .remove("issueDate")
        .context("the fixture has an issueDate")?;
    let file = dir.join("SLK-BROKEN-001.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&broken)?)?;
    let file = file.to_str().context("path")?;

    let api = net.api("carrier")?;
    let (before, _) = net.converged(&api, 1)?;
    let args = ["--to", "SHIPPER", "--document", file];
    let out = net.refuse("carrier", "issue", BILL, &args, "INVALID_CONTENT")?;
    let paths: Vec<&str> = out.json["problems"]
        .as_array()
        .context("problems")?
        .iter()
        .filter_map(|p| p["path"].as_str())
        .collect();
    ensure!(
        paths.contains(&"/transports/portOfDischarge/UNLocationCode")
            && paths.contains(&"/issueDate"),
        "{:#}",
        out.json
    );
    ensure!(
        out.json["submitted"] == false && out.json["tx"].is_null(),
        "{:#}",
        out.json
    );
    // Nor is there anything to sign for another tool.
    let mut sign_only = args.to_vec();
    sign_only.push("--sign-only");
    let signed = net.refuse("carrier", "issue", BILL, &sign_only, "INVALID_CONTENT")?;
    ensure!(
        signed.json["problems"] == out.json["problems"],
        "{signed:?}"
    );

    // Nothing was committed: no bill, no new block on any node.
    let missing = net.cli_as("carrier", &["doc", "show", BILL])?;
    ensure!(
        missing.exit == 1 && missing.stderr.contains("NOT_FOUND"),
        "{missing:?}"
    );
    let (after, _) = net.converged(&api, before)?;
    ensure!(after == before, "height {before} became {after}");
    Ok(())
}

/// A sea waybill is not a document of title: no transfer or surrender; the carrier releases
/// the cargo of an issued waybill, and the port gates the containers out one by one.
fn sea_waybill_and_cargo_release_rules(net: &DevNet, _dir: &std::path::Path) -> Result<()> {
    const SWB: &str = "CARRIER/SLK-SWB-001";
    let file = fixtures_dir().join("sea-waybill.json");
    let file = file.to_str().context("path")?;
    let containers = containers_of(&fixture("sea-waybill.json")?);
    ensure!(containers.len() == 3, "{containers:?}");
    net.commit(
        "carrier",
        "issue",
        SWB,
        &["--to", "CONSIGNEE", "--document", file],
    )?;
    let doc = net.show("consignee", SWB, false)?;
    ensure!(
        doc["kind"] == "SEA_WAYBILL" && doc["status"] == "ISSUED",
        "{doc:#}"
    );
    net.refuse(
        "consignee",
        "transfer",
        SWB,
        &["--to", "BANK"],
        "ACTION_NOT_ALLOWED",
    )?;
    net.refuse(
        "consignee",
        "surrender-for-delivery",
        SWB,
        &[],
        "ACTION_NOT_ALLOWED",
    )?;

    net.refuse(
        "consignee",
        "release-cargo",
        SWB,
        &["--to", "PORT"],
        "MISSING_ROLE",
    )?;
    net.refuse(
        "port",
        "release-cargo",
        SWB,
        &["--to", "PORT"],
        "DOCUMENT_NOT_FOUND",
    )?;
    net.refuse(
        "port",
        "gate-out",
        SWB,
        &["--container", &containers[0]],
        "DOCUMENT_NOT_FOUND",
    )?;
    // DOMAIN 6.8: a cargo release goes to a port, never to a bank, a trader or nobody.
    for (to, code) in [
        ("BANK", "NOT_A_PORT"),
        ("SHIPPER", "NOT_A_PORT"),
        ("NOBODY", "UNKNOWN_PARTY"),
    ] {
        net.refuse("carrier", "release-cargo", SWB, &["--to", to], code)?;
    }
    net.commit("carrier", "release-cargo", SWB, &["--to", "PORT"])?;
    net.refuse(
        "carrier",
        "release-cargo",
        SWB,
        &["--to", "PORT"],
        "ACTION_NOT_ALLOWED",
    )?;
    net.commit("port", "gate-out", SWB, &["--container", &containers[0]])?;
    let cargo = net.show("port", SWB, true)?;
    ensure!(cargo["status"] == "RELEASED", "one of three out: {cargo:#}");
    net.refuse(
        "port",
        "gate-out",
        SWB,
        &["--container", &containers[0]],
        "CONTAINER_ALREADY_GATED_OUT",
    )?;
    // A valid container number that this release does not cover.
    net.refuse(
        "port",
        "gate-out",
        SWB,
        &["--container", "MSKU1234565"],
        "CONTAINER_NOT_RELEASED",
    )?;
    net.commit(
        "port",
        "gate-out",
        SWB,
        &["--container", &containers[1], "--container", &containers[2]],
    )?;
    let cargo = net.show("port", SWB, true)?;
    ensure!(cargo["status"] == "COMPLETED", "{cargo:#}");
    Ok(())
}

/// One document of each further kind DCSA's examples show is issued through the CLI as the
/// fixture gives it; the dangerous-goods bill under a reference with a space and a `/` (DCSA
/// allows both), whose container number has a wrong ISO 6346 check digit (DCSA's own example
/// number): the CLI warns and the ledger commits, and the container is released and gated out
/// under exactly that number.
fn every_kind_of_dcsa_document_and_any_reference(net: &DevNet, dir: &Path) -> Result<()> {
    for name in [
        "received-for-shipment-bill.json",
        "reefer-bill.json",
        "bill-with-charges.json",
    ] {
        let doc = fixture(name)?;
        let reference = doc["transportDocumentReference"]
            .as_str()
            .context("reference")?;
        let file = fixtures_dir().join(name);
        let out = net.commit(
            "carrier",
            "issue",
            &format!("CARRIER/{reference}"),
            &[
                "--to",
                "SHIPPER",
                "--document",
                file.to_str().context("path")?,
            ],
        )?;
        ensure!(out.json.get("warnings").is_none(), "{name}: {}", out.json);
    }

    const REFERENCE: &str = "SLK DG/001";
    const BILL: &str = "CARRIER/SLK DG/001";
    let mut dg = fixture("dangerous-goods-bill.json")?;
    dg["transportDocumentReference"] = json!(REFERENCE);
    let file = dir.join("dangerous-goods.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&dg)?)?;
    let file = file.to_str().context("path")?;
    let out = net.commit(
        "carrier",
        "issue",
        BILL,
        &["--to", "SHIPPER", "--document", file],
    )?;
    let warnings = out.json["warnings"].as_array().context("warnings")?;
    ensure!(
        warnings.len() == 1
            && warnings[0]["path"] == "/utilizedTransportEquipments/0/equipment/equipmentReference"
            && warnings[0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("check digit")),
        "{}",
        out.json
    );
    let shown = net.show("shipper", BILL, false)?;
    ensure!(
        shown["key"]["reference"] == REFERENCE && shown["mode"] == "BLANK",
        "{shown:#}"
    );
    net.commit("shipper", "surrender-for-delivery", BILL, &[])?;
    net.commit("carrier", "accept-surrender", BILL, &[])?;
    net.commit("carrier", "release-cargo", BILL, &["--to", "PORT"])?;
    // Container identity is the exact text: a correct ISO 6346 number is another container.
    net.refuse(
        "port",
        "gate-out",
        BILL,
        &["--container", "HLXU1234560"],
        "CONTAINER_NOT_RELEASED",
    )?;
    net.commit("port", "gate-out", BILL, &["--container", "HLXU1234567"])?;
    let cargo = net.show("port", BILL, true)?;
    ensure!(cargo["status"] == "COMPLETED", "{cargo:#}");
    Ok(())
}

/// `silkline status`: every node answers, at the same height and state hash.
fn all_nodes_agree(net: &DevNet) -> Result<()> {
    let lines = wait_for("silkline status to show all nodes agreeing", || {
        let (exit, lines) = common::cli_status(net)?;
        if exit != 0 {
            return None;
        }
        let first = lines.first()?;
        let agree = lines.len() == 3
            && lines.iter().all(|l| {
                l.get("error").is_none()
                    && l["height"] == first["height"]
                    && l["state_hash"] == first["state_hash"]
                    && l["block_hash"] == first["block_hash"]
            });
        agree.then_some(lines)
    })?;
    let leaders = lines.iter().filter(|l| l["role"] == "LEADER").count();
    ensure!(leaders == 1, "{lines:#?}");
    ensure!(lines[0]["height"].as_u64() > Some(40), "{lines:#?}");
    Ok(())
}
