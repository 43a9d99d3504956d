//! Governance by vote on real node processes, through `silkline gov` (issue 14): a bank that
//! made its own CA in its own directory is admitted by 2 of the 3 members, after which its user
//! holds and endorses a bill through the API; a pause refuses document actions with their own
//! code until a resume; every node agrees on the configuration.

use crate::common;

use anyhow::{Context as _, Result, ensure};
use common::{CliOut, DevNet, cli, fixture_as, wait_for};
use pki::dev::{ConsortiumSpec, KeyAlgorithm, MemberSpec, generate_consortium};
use pki::identity::MemberCode;
use serde_json::{Value, json};

/// `silkline gov ...` as `identity`; the ledger must have answered `code`.
fn gov(net: &DevNet, identity: &str, args: &[&str], code: &str) -> Result<Value> {
    let mut all = vec!["gov"];
    all.extend(args);
    let out: CliOut = net.cli_as(identity, &all)?;
    gov_outcome(out, args, code)
}

fn gov_outcome(out: CliOut, args: &[&str], code: &str) -> Result<Value> {
    let json = out.json().with_context(|| out.stderr.clone())?;
    let got = json["code"].as_str().unwrap_or("COMMITTED");
    let expected_exit = if code == "COMMITTED" { 0 } else { 3 };
    ensure!(
        out.exit == expected_exit && got == code,
        "gov {args:?}: expected {code}, got exit {} {json} {}",
        out.exit,
        out.stderr
    );
    Ok(json)
}

/// `silkline gov propose --network NET --as IDENTITY [--description D] ACTION...`: prints the
/// proposal id.
fn propose(net: &DevNet, identity: &str, action: &[&str]) -> Result<String> {
    let network = net.dir().join("network.json");
    let network = network.to_str().context("path")?;
    let mut args = vec![
        "gov",
        "propose",
        "--network",
        network,
        "--as",
        identity,
        "--description",
        "e2e",
    ];
    args.extend(action);
    let json = gov_outcome(cli(&args)?, action, "COMMITTED")?;
    Ok(json["tx"].as_str().context("the proposal id")?.to_owned())
}

fn proposal(net: &DevNet, identity: &str, id: &str) -> Result<Value> {
    let out = net.cli_as(identity, &["gov", "show", id])?;
    ensure!(out.exit == 0, "gov show: {}", out.stderr);
    out.json()
}

#[test]
fn a_member_is_admitted_by_vote_and_pause_and_resume_hold_on_every_node() -> Result<()> {
    let _one_at_a_time = common::exclusive();
    let net = DevNet::start(3)?;
    let work = tempfile::tempdir()?;

    // NEWBANK makes its own CA and users, in its own directory; only its public bundle leaves.
    let spec = ConsortiumSpec {
        members: vec![MemberSpec {
            code: MemberCode::new("NEWBANK").map_err(anyhow::Error::msg)?,
            name: "New Trade Bank".into(),
            role: "BANK".into(),
            algorithm: KeyAlgorithm::Ed25519,
            intermediate: false,
        }],
        parties: Vec::new(),
        nodes: Vec::new(),
    };
    let now_s = i64::try_from(common::now_ms() / 1000)? - 3_600;
    let newbank = generate_consortium(&spec, &work.path().join("newbank"), now_s)?;
    let member = newbank
        .member(&MemberCode::new("NEWBANK").map_err(anyhow::Error::msg)?)
        .context("member")?;
    let bundle = json!({
        "code": "NEWBANK", "name": "New Trade Bank", "role": "BANK",
        "caCertificatePem": std::fs::read_to_string(newbank.path(&member.root_cert))?,
        "crlPem": std::fs::read_to_string(newbank.path(&member.crl))?,
    });
    let bundle_file = work.path().join("newbank.json");
    std::fs::write(&bundle_file, serde_json::to_vec_pretty(&bundle)?)?;

    // 1 of 3 does nothing.
    let id = propose(
        &net,
        "carrier-admin",
        &[
            "admit-member",
            "--bundle",
            bundle_file.to_str().context("path")?,
        ],
    )?;
    let open = proposal(&net, "bank", &id)?;
    ensure!(open["state"] == "OPEN", "{open}");
    ensure!(
        open["tally"]["approvals"] == 1 && open["tally"]["eligible"] == 3,
        "{open}"
    );
    // A user's vote is not a vote.
    gov(
        &net,
        "bank",
        &["vote", &id, "--approve"],
        "WRONG_CERTIFICATE_KIND",
    )?;
    // The second member's approval decides: 2 of 3.
    gov(&net, "bank-admin", &["vote", &id, "--approve"], "COMMITTED")?;
    let accepted = proposal(&net, "carrier", &id)?;
    ensure!(accepted["state"] == "ACCEPTED", "{accepted}");
    gov(
        &net,
        "port-admin",
        &["vote", &id, "--approve"],
        "PROPOSAL_CLOSED",
    )?;

    // Every node knows the new member.
    let api = net.api("port")?;
    for i in 0..net.node_count() {
        wait_for(&format!("node {i} knows NEWBANK"), || {
            let d = api
                .data(
                    i,
                    "{ consortium { version members { code status } } }",
                    json!({}),
                )
                .ok()?;
            let known = d["consortium"]["members"]
                .as_array()?
                .iter()
                .any(|m| m["code"] == "NEWBANK" && m["status"] == "ACTIVE");
            (known && d["consortium"]["version"] == 1).then_some(())
        })?;
    }

    // Its user holds and endorses a bill, through the API, with its own certificate.
    let reference = "SLK-GOV-001";
    let file = fixture_as("to-order-bill.json", reference, work.path())?;
    let bill = format!("CARRIER/{reference}");
    net.commit(
        "carrier",
        "issue",
        &bill,
        &[
            "--to",
            "SHIPPER",
            "--document",
            file.to_str().context("path")?,
        ],
    )?;
    net.commit("shipper", "endorse-to-order", &bill, &["--to", "NEWBANK"])?;
    let user = newbank.identity("newbank").context("newbank's user")?;
    let (cert, key) = (newbank.path(&user.cert), newbank.path(&user.key));
    let ca = net.ca_bundle();
    let endpoint = net.endpoint(1);
    let out = cli(&[
        "tx",
        "endorse",
        &bill,
        "--to",
        "CONSIGNEE",
        "--endpoint",
        &endpoint,
        "--cert",
        cert.to_str().context("path")?,
        "--key",
        key.to_str().context("path")?,
        "--ca",
        ca.to_str().context("path")?,
    ])?;
    ensure!(
        out.exit == 0,
        "NEWBANK endorses: {} {}",
        out.stdout,
        out.stderr
    );
    let shown = net.show("consignee", &bill, false)?;
    ensure!(shown["possessor"] == "CONSIGNEE", "{shown}");

    // Pause: with four members, two approvals are not a majority, three are. Document actions
    // are then refused with their own code; resume restores them.
    let pause = propose(&net, "port-admin", &["pause"])?;
    gov(
        &net,
        "carrier-admin",
        &["vote", &pause, "--approve"],
        "COMMITTED",
    )?;
    ensure!(
        proposal(&net, "port", &pause)?["state"] == "OPEN",
        "2 of 4 is not a majority"
    );
    gov(
        &net,
        "bank-admin",
        &["vote", &pause, "--approve"],
        "COMMITTED",
    )?;
    net.refuse(
        "consignee",
        "surrender-for-delivery",
        &bill,
        &[],
        "NETWORK_PAUSED",
    )?;
    let resume = propose(&net, "bank-admin", &["resume"])?;
    gov(
        &net,
        "carrier-admin",
        &["vote", &resume, "--approve"],
        "COMMITTED",
    )?;
    gov(
        &net,
        "port-admin",
        &["vote", &resume, "--approve"],
        "COMMITTED",
    )?;
    net.commit("consignee", "surrender-for-delivery", &bill, &[])?;
    Ok(())
}
