//! DCSA PINT between two Silkline networks with different platform codes (issue 16), on real
//! node processes: each trusts the other by vote; a to-order bill issued on SLKA is endorsed
//! across to a bank on SLKB, which surrenders it back to the issuing carrier, who accepts.
//! While the bill is away nothing is done with it at home; the other network names the
//! carrier `SLKA:CARRIER`, never its own `CARRIER`. The bill carries its carrier's issuance
//! manifest and two supporting documents; the surrender back is sent through GraphQL's
//! `submitTransactions`; a second bill, issued without a manifest, gets one a node signed.

use crate::common;

use anyhow::{Context as _, Result, ensure};
use common::{CliOut, DevNet, cli, fixture_as, wait_for};
use serde_json::{Value, json};

/// `silkline gov propose ... trust-platform` on `net` for `other`, approved by a second member.
fn trust(net: &DevNet, other: &DevNet, code: &str) -> Result<()> {
    let network = net.network_file.to_str().context("path")?;
    let url = other.network["nodes"][0]["pint"]
        .as_str()
        .context("the other network's PINT URL")?;
    let certs = other.network["platformCertificates"][0]
        .as_str()
        .context("the other network's platform certificates")?;
    let out = cli(&[
        "gov",
        "propose",
        "--network",
        network,
        "--as",
        "carrier-admin",
        "--description",
        "trust the other network",
        "trust-platform",
        "--code",
        code,
        "--name",
        "Other Silkline",
        "--url",
        url,
        "--cert",
        certs,
    ])?;
    let proposed = committed(&out)?;
    let id = proposed["tx"].as_str().context("proposal id")?;
    committed(&net.cli_as("bank-admin", &["gov", "vote", id, "--approve"])?)?;
    let show = net.cli_as("port", &["gov", "show", id])?.json()?;
    ensure!(show["state"] == "ACCEPTED", "{show}");
    Ok(())
}

fn committed(out: &CliOut) -> Result<Value> {
    let json = out.json().with_context(|| out.stderr.clone())?;
    ensure!(
        out.exit == 0 && json["status"] == "COMMITTED",
        "expected COMMITTED: {json} {}",
        out.stderr
    );
    Ok(json)
}

fn send(net: &DevNet, identity: &str, document: &str, args: &[&str]) -> Result<CliOut> {
    let mut all = vec!["pint", "send", document];
    all.extend(args);
    net.cli_as(identity, &all)
}

/// The bill as `identity` sees it on `net`, once `check` holds.
fn settle(
    net: &DevNet,
    identity: &str,
    document: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Result<Value> {
    wait_for(what, || {
        let out = net.cli_as(identity, &["doc", "show", document]).ok()?;
        let doc = out.json().ok()?;
        check(&doc).then_some(doc)
    })
}

#[test]
fn a_bill_crosses_to_another_network_and_is_surrendered_back_to_its_carrier() -> Result<()> {
    let _one_at_a_time = common::exclusive();
    let a = DevNet::start_on_platform(3, "SLKA")?;
    let b = DevNet::start_on_platform(3, "SLKB")?;
    ensure!(a.network["platform"] == "SLKA", "{}", a.network);
    ensure!(
        a.network["nodes"][0]["pint"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://")),
        "{}",
        a.network
    );

    const BILL: &str = "CARRIER/PINT-0001";
    let work = tempfile::tempdir()?;
    let file = fixture_as("to-order-bill.json", "PINT-0001", work.path())?;
    let file = file.to_str().context("path")?;
    a.commit(
        "carrier",
        "issue",
        BILL,
        &["--to", "SHIPPER", "--document", file],
    )?;

    // Not trusted yet: the ledger refuses to hand the bill to an unknown platform.
    let refused = send(
        &a,
        "shipper",
        BILL,
        &[
            "--platform",
            "SLKB",
            "--to-party",
            "BANK",
            "--action",
            "ENDORSE",
        ],
    )?;
    let json = refused.json()?;
    ensure!(
        refused.exit == 3 && json["code"] == "PINT_UNKNOWN_PLATFORM",
        "{json}"
    );

    trust(&a, &b, "SLKB")?;
    trust(&b, &a, "SLKA")?;

    // Only the possessor sends it.
    let refused = send(
        &a,
        "bank",
        BILL,
        &[
            "--platform",
            "SLKB",
            "--to-party",
            "BANK",
            "--action",
            "ENDORSE",
        ],
    )?;
    ensure!(refused.exit == 3, "{:?}", refused.json());

    // Supporting documents travel with the bill: refused before signing over the limit.
    let packing = work.path().join("packing-list.pdf");
    std::fs::write(&packing, b"%PDF-1.7 packing list of PINT-0001")?;
    let invoice = work.path().join("invoice.json");
    std::fs::write(&invoice, br#"{"invoice": "INV-0001", "bill": "PINT-0001"}"#)?;
    let big = work.path().join("big.bin");
    std::fs::write(&big, vec![1u8; 40 * 1024])?;
    let (packing_path, invoice_path, big_path) = (
        packing.to_str().context("path")?,
        invoice.to_str().context("path")?,
        big.to_str().context("path")?,
    );
    let too_large = send(
        &a,
        "shipper",
        BILL,
        &[
            "--platform",
            "SLKB",
            "--to-party",
            "BANK",
            "--action",
            "ENDORSE",
            "--document",
            big_path,
            "--document",
            big_path,
        ],
    )?;
    ensure!(
        too_large.exit != 0
            && too_large.stderr.contains("PINT_DOCUMENTS_TOO_LARGE")
            && too_large.stderr.contains("65536"),
        "{too_large:?}"
    );

    let sent = send(
        &a,
        "shipper",
        BILL,
        &[
            "--platform",
            "SLKB",
            "--to-party",
            "BANK",
            "--action",
            "ENDORSE",
            "--document",
            packing_path,
            "--document",
            invoice_path,
        ],
    )?;
    committed(&sent)?;
    let checksums: Vec<String> = [&packing, &invoice]
        .iter()
        .map(|f| Ok(pint::sha256_hex(&std::fs::read(f)?)))
        .collect::<Result<_>>()?;
    // From now on the bill is the other platform's: nothing is done with it here.
    a.refuse(
        "shipper",
        "endorse",
        BILL,
        &["--to", "CONSIGNEE"],
        "HELD_ON_OTHER_PLATFORM",
    )?;

    // It arrives on SLKB: the bank holds it, as the endorsee; the carrier is SLKA's.
    const THERE: &str = "SLKA:CARRIER/PINT-0001";
    let doc = settle(&b, "bank", THERE, "the bill on SLKB", |d| {
        d["possessor"] == "BANK"
    })?;
    ensure!(
        doc["status"] == "ISSUED" && doc["endorsee"] == "BANK" && doc["mode"] == "TO_ORDER",
        "{doc:#}"
    );
    // Its first chain entry carries the issuance manifest SLKA's carrier signed with its own
    // user certificate when it issued (`tx issue` signs both), not one a node signed later;
    // SLKB checked it against SLKA's member roots.
    const MANIFEST: &str = "query($c: String!, $r: String!) {
      document(carrierCode: $c, reference: $r) { issuanceManifest } }";
    let there = b
        .api("bank")?
        .data(0, MANIFEST, json!({"c": "SLKA:CARRIER", "r": "PINT-0001"}))?;
    let manifest = there["document"]["issuanceManifest"]
        .as_str()
        .with_context(|| format!("no issuance manifest on SLKB: {there}"))?;
    let issued = a
        .api("carrier")?
        .data(0, MANIFEST, json!({"c": "CARRIER", "r": "PINT-0001"}))?;
    ensure!(
        issued["document"]["issuanceManifest"] == manifest,
        "SLKB holds another manifest than the one issued: {issued}"
    );
    let leaf = pint::jws::parse(manifest)?
        .x5c
        .first()
        .cloned()
        .context("the manifest names no x5c")?;
    let (carrier_cert, _) = a.identity("carrier")?;
    let carrier_chain = pki::pem::certificates(&std::fs::read_to_string(carrier_cert)?)
        .map_err(anyhow::Error::msg)?;
    ensure!(
        leaf.as_ref() == carrier_chain[0].as_ref(),
        "the issuance manifest was not signed by the carrier's user certificate"
    );
    // SLKB's own CARRIER is another party: it is told the bill does not exist.
    let hidden = b.cli_as("carrier", &["doc", "show", THERE])?;
    ensure!(
        hidden.exit == 1 && hidden.stderr.contains("NOT_FOUND"),
        "{hidden:?}"
    );
    // At home it is recorded as held by SLKB's bank.
    let home = settle(&a, "shipper", BILL, "the receipt on SLKA", |d| {
        d["possessor"] == "SLKB:BANK"
    })?;
    ensure!(home["endorsee"] == "SLKB:BANK", "{home:#}");
    let listed: Vec<&str> = home["platformTransfer"]["documents"]
        .as_array()
        .map(|d| d.iter().filter_map(|d| d["checksum"].as_str()).collect())
        .unwrap_or_default();
    ensure!(
        listed == checksums.iter().map(String::as_str).collect::<Vec<_>>()
            && home["platformTransfer"]["documents"][0]["mediaType"] == "application/pdf",
        "{home:#}"
    );
    // SLKB's ledger recorded both as received (its nodes refuse an import missing one), and the
    // node the envelope went to holds their bytes: 201 with both missing, 204, 204, then RECE.
    let received = b.api("bank")?.data(
        0,
        "query($c: String!, $r: String!) { document(carrierCode: $c, reference: $r) { receivedDocuments } }",
        json!({"c": "SLKA:CARRIER", "r": "PINT-0001"}),
    )?;
    let mut expected = checksums.clone();
    expected.sort();
    let mut got: Vec<String> =
        serde_json::from_value(received["document"]["receivedDocuments"].clone())?;
    got.sort();
    ensure!(got == expected, "{received}");
    for (checksum, file) in checksums.iter().zip([&packing, &invoice]) {
        let kept = b.data_dir(0).join("pint-documents").join(checksum);
        ensure!(
            std::fs::read(&kept)? == std::fs::read(file)?,
            "{} is not the document sent",
            kept.display()
        );
    }
    let transfer = &home["platformTransfer"];
    ensure!(
        transfer["stage"] == "DELIVERED"
            && transfer["responseCode"] == "RECE"
            && transfer["platform"] == "SLKB"
            && transfer["actionCode"] == "ENDORSE",
        "{home:#}"
    );

    // The bank surrenders it back to the issuing carrier on SLKA, as a GraphQL client does:
    // the PINT_SEND it signs itself, through the one write, `submitTransactions`.
    let bank = b.api("bank")?;
    let signed = b.sign(
        "bank",
        json!({"pint": {
            "action": "SEND",
            "document": {"carrier": "SLKA:CARRIER", "reference": "PINT-0001"},
            "platform": "SLKA",
            "actionCode": "SURRENDER_FOR_DELIVERY",
            "recipient": {
                "partyName": "CARRIER",
                "eblPlatform": "SLKA",
                "identifyingCodes": [{"codeListProvider": "SLKA", "partyCode": "CARRIER"}],
            },
        }}),
    )?;
    let outcome = bank.submit_one(0, &signed)?;
    ensure!(outcome["status"] == "COMMITTED", "{outcome}");
    let transfer = bank.data(
        0,
        "query($c: String!, $r: String!) { document(carrierCode: $c, reference: $r) {
           platformTransfer { platform actionCode recipient sender } } }",
        json!({"c": "SLKA:CARRIER", "r": "PINT-0001"}),
    )?;
    let transfer = &transfer["document"]["platformTransfer"];
    ensure!(
        transfer["platform"] == "SLKA"
            && transfer["actionCode"] == "SURRENDER_FOR_DELIVERY"
            && transfer["recipient"] == "SLKA:CARRIER"
            && transfer["sender"] == "BANK",
        "{transfer}"
    );
    let back = settle(&a, "carrier", BILL, "the surrender on SLKA", |d| {
        d["status"] == "PENDING_SURRENDER_FOR_DELIVERY"
    })?;
    ensure!(back["possessor"] == "CARRIER", "{back:#}");
    a.commit("carrier", "accept-surrender", BILL, &[])?;
    let done = a.show("carrier", BILL, false)?;
    ensure!(done["status"] == "SURRENDERED_FOR_DELIVERY", "{done:#}");
    // On SLKB the bill has left for good.
    settle(&b, "bank", THERE, "the receipt on SLKB", |d| {
        d["possessor"] == "SLKA:CARRIER"
    })?;

    // A bill issued without the carrier's manifest (as before carriers signed them): the node
    // that first sends it signs one for the network, which SLKB accepts as SLKA's too.
    const OLDER: &str = "CARRIER/PINT-0002";
    let older = fixture_as("straight-bill.json", "PINT-0002", work.path())?;
    a.commit(
        "carrier",
        "issue",
        OLDER,
        &[
            "--to",
            "SHIPPER",
            "--document",
            older.to_str().context("path")?,
            "--no-issuance-manifest",
        ],
    )?;
    let unsigned =
        a.api("carrier")?
            .data(0, MANIFEST, json!({"c": "CARRIER", "r": "PINT-0002"}))?;
    ensure!(
        unsigned["document"]["issuanceManifest"].is_null(),
        "{unsigned}"
    );
    committed(&send(
        &a,
        "shipper",
        OLDER,
        &["--platform", "SLKB", "--to-party", "BANK"],
    )?)?;
    settle(
        &b,
        "bank",
        "SLKA:CARRIER/PINT-0002",
        "the older bill on SLKB",
        |d| d["possessor"] == "BANK",
    )?;
    let there = b
        .api("bank")?
        .data(0, MANIFEST, json!({"c": "SLKA:CARRIER", "r": "PINT-0002"}))?;
    let leaf = pint::jws::parse(
        there["document"]["issuanceManifest"]
            .as_str()
            .with_context(|| format!("no issuance manifest on SLKB: {there}"))?,
    )?
    .x5c
    .first()
    .cloned()
    .context("the manifest names no x5c")?;
    // A node's certificate: `certificateChain` in its configuration, relative to it.
    let node_signed = (0..a.node_count()).any(|i| {
        let config = a.config(i);
        std::fs::read_to_string(&config)
            .ok()
            .and_then(|c| serde_json::from_str::<Value>(&c).ok())
            .and_then(|c| {
                let chain = config.parent()?.join(c["certificateChain"].as_str()?);
                std::fs::read_to_string(chain).ok()
            })
            .and_then(|pem| pki::pem::certificates(&pem).ok())
            .is_some_and(|chain| chain[0].as_ref() == leaf.as_ref())
    });
    ensure!(
        node_signed,
        "the older bill's issuance manifest was not signed by a node of SLKA"
    );

    // Every node of each network agrees.
    for net in [&a, &b] {
        let api = net.api("port")?;
        net.converged(&api, 1)?;
    }
    Ok(())
}
