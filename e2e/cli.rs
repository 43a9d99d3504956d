//! The `silkline` CLI as a member's admin and its users meet it, on a real three-node dev
//! network: `tx revoke` publishes the member's next revocation list with no key handled by hand
//! on a dev network (and with `--ca-key` anywhere else), and every node then refuses the revoked
//! certificates, the earlier ones included; output into a pipe whose reader has gone ends
//! quietly with the command's own exit status; an error is printed once. And, at the API, two
//! refusals a black-box test found mislabelled: a JWS header that names a member twice
//! (`MALFORMED_ENVELOPE`), and a chain from a CA no member's name points to, whatever else is
//! wrong with it (`UNKNOWN_ISSUER`).
//!
//! One network for the whole file (a start costs seconds on the test machine): the checks run
//! as phases of one test, revocation last since it takes users away.

use crate::common;

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context as _, Result, anyhow, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{Api, CliOut, DevNet, doc_body, fixture_as, now_ms, silkline, wait_for};
use pki::dev::{Consortium, ConsortiumSpec, IdentityRequest, generate_consortium};
use pki::{IdentityKind, MemberCode, PartyCode};
use serde_json::{Value, json};

/// The bill every phase acts on: the carrier issues it to the shipper.
const BILL: &str = "CARRIER/SLK-CLI-001";

#[test]
fn the_cli_revokes_prints_and_fails_as_a_user_expects() -> Result<()> {
    let _one_at_a_time = common::exclusive();
    let net = DevNet::start(3)?;
    let carrier = net.api("carrier")?;
    let started = std::time::Instant::now();
    let docs = tempfile::tempdir()?;
    let file = fixture_as("to-order-bill.json", "SLK-CLI-001", docs.path())?;
    let file = file.to_str().context("path")?;
    net.commit(
        "carrier",
        "issue",
        BILL,
        &["--to", "SHIPPER", "--document", file],
    )?;
    net.commit("shipper", "sign", BILL, &[])?;

    output_into_a_closed_pipe_ends_quietly(&net)?;
    an_error_is_printed_once(&net)?;
    a_header_that_names_a_member_twice_is_a_malformed_envelope(&net, &carrier)?;
    a_chain_from_a_ca_of_no_member_is_an_unknown_issuer(&net, &carrier)?;
    an_admin_revokes_with_the_cli_and_earlier_revocations_stay(&net, &carrier)?;
    eprintln!("cli phases took {:?}", started.elapsed());
    Ok(())
}

/// Runs the CLI with `args` and its stdout a pipe whose reader closed before it started, so
/// that its first write meets a closed pipe (EPIPE), as under `silkline doc show ... | head`
/// once `head` has exited. The log filter is the default one, as a user has it.
fn cli_into_a_closed_pipe(args: &[&str]) -> Result<CliOut> {
    let (reader, writer) = std::io::pipe()?;
    drop(reader);
    let out = silkline()
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .context("run silkline")?;
    Ok(CliOut {
        exit: out.status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// `args` with `--network NET --as IDENTITY` appended.
fn as_identity<'a>(net: &'a DevNet, identity: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend([
        "--network",
        net.network_file.to_str().unwrap_or_default(),
        "--as",
        identity,
    ]);
    all
}

/// `println!` panics on a closed stdout ("failed printing to stdout: Broken pipe", a backtrace,
/// exit 101). Every command prints through one writer that stops quietly instead, and the exit
/// status is the command's own: 0 for a document shown or a transaction committed, 3 for a
/// refusal.
fn output_into_a_closed_pipe_ends_quietly(net: &DevNet) -> Result<()> {
    let quiet = |what: &str, out: &CliOut, exit: i32| {
        ensure!(
            out.exit == exit
                && !out.stderr.contains("panicked")
                && !out.stderr.contains("Broken pipe")
                && !out.stderr.contains("backtrace"),
            "{what} into a closed pipe: exit {} (expected {exit}), stderr:\n{}",
            out.exit,
            out.stderr
        );
        Ok(())
    };
    let shown = cli_into_a_closed_pipe(&as_identity(net, "carrier", &["doc", "show", BILL]))?;
    quiet("doc show", &shown, 0)?;
    let status = cli_into_a_closed_pipe(&[
        "status",
        "--network",
        net.network_file.to_str().context("path")?,
    ])?;
    quiet("status", &status, 0)?;
    let signed = cli_into_a_closed_pipe(&as_identity(net, "shipper", &["tx", "sign", BILL]))?;
    quiet("tx sign", &signed, 0)?;
    // The PORT is no party to the bill: refused, exit 3, whether or not anyone reads why.
    let refused = cli_into_a_closed_pipe(&as_identity(
        net,
        "port",
        &["tx", "transfer", BILL, "--to", "BANK"],
    ))?;
    quiet("a refused tx", &refused, 3)?;
    // The signature went in although nobody read its outcome.
    let history = net.show("carrier", BILL, false)?["history"].clone();
    ensure!(
        history.as_array().map(Vec::len) == Some(3),
        "ISSUE, SIGN, SIGN: {history:#}"
    );
    Ok(())
}

/// An error was printed twice on stderr, as a log line and as a message; it is printed once.
fn an_error_is_printed_once(net: &DevNet) -> Result<()> {
    let run = |args: &[&str]| -> Result<CliOut> {
        let out = silkline()
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()?;
        Ok(CliOut {
            exit: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    };
    let once = |what: &str, out: &CliOut, needle: &str| {
        let lines: Vec<&str> = out.stderr.lines().filter(|l| l.contains(needle)).collect();
        ensure!(
            out.exit == 1 && lines.len() == 1 && lines[0].starts_with("silkline: "),
            "{what}: exit {}, expected one `silkline: ` line naming {needle:?}; stderr:\n{}",
            out.exit,
            out.stderr
        );
        Ok(())
    };
    // From the API: a bill that does not exist.
    let missing = run(&as_identity(
        net,
        "bank",
        &["doc", "show", "CARRIER/SLK-CLI-404"],
    ))?;
    once("doc show of a missing bill", &missing, "NOT_FOUND")?;
    // From the CLI itself: a network file that does not exist.
    let nowhere = net.dir().join("no-such-network.json");
    let nowhere = nowhere.to_str().context("path")?;
    let unread = run(&["tx", "--network", nowhere, "--as", "carrier", "sign", BILL])?;
    once("a missing network file", &unread, "no-such-network.json")?;
    Ok(())
}

/// An envelope with `header` (JSON text as given) and `payload`, signed with `identity`'s
/// Ed25519 key.
fn with_header(net: &DevNet, identity: &str, header: &str, payload: &Value) -> Result<String> {
    let (_, key) = net.identity(identity)?;
    let der =
        pki::pem::private_key_der(&std::fs::read_to_string(key)?).map_err(anyhow::Error::msg)?;
    let key = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
        .map_err(|e| anyhow!("the dev key is Ed25519: {e}"))?;
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(pki::jcs::canonicalize(payload)?)
    );
    let signature = URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()));
    Ok(format!("{input}.{signature}"))
}

/// A transaction payload as the CLI makes it: this network, a fresh nonce, valid from five
/// minutes ago to an hour from now.
fn payload(net: &DevNet, body: Value) -> Value {
    let now = now_ms();
    let mut p = json!({
        "network": net.network_id(),
        "nonce": common::nonce(),
        "notBefore": now - 5 * 60 * 1000,
        "notAfter": now + 60 * 60 * 1000,
    });
    for (k, v) in body.as_object().into_iter().flatten() {
        p[k] = v.clone();
    }
    p
}

fn outcome(result: &Value, status: &str, code: &str) -> Result<()> {
    ensure!(
        result["status"] == status && result["code"] == code,
        "expected {status} {code}: {result:#}"
    );
    Ok(())
}

/// RFC 7515 section 4: `{"alg":"none","alg":"EdDSA",...}` reads as EdDSA to serde_json (the last
/// wins) and as `none` to a verifier that keeps the first. Every node refuses it as malformed,
/// naming the member.
fn a_header_that_names_a_member_twice_is_a_malformed_envelope(
    net: &DevNet,
    carrier: &Api,
) -> Result<()> {
    let (cert, _) = net.identity("carrier")?;
    let x5c: Vec<String> = pki::pem::certificates(&std::fs::read_to_string(cert)?)
        .map_err(anyhow::Error::msg)?
        .iter()
        .map(|c| STANDARD.encode(c.as_ref()))
        .collect();
    let x5c = serde_json::to_string(&x5c)?;
    let body = doc_body("CARRIER", "SLK-CLI-001", json!({"action": "SIGN"}));
    for header in [
        format!(r#"{{"alg":"none","alg":"EdDSA","x5c":{x5c}}}"#),
        format!(r#"{{"alg":"EdDSA","x5c":{x5c},"alg":"EdDSA"}}"#),
    ] {
        let envelope = with_header(net, "carrier", &header, &payload(net, body.clone()))?;
        for i in 0..net.node_count() {
            let result = &carrier.submit(i, std::slice::from_ref(&envelope))?[0];
            outcome(result, "REFUSED", "MALFORMED_ENVELOPE")
                .with_context(|| format!("node {i}: {header}"))?;
            let message = result["message"].as_str().unwrap_or_default();
            ensure!(
                message.contains("\"alg\"") && message.contains("more than once"),
                "the refusal names the member: {message}"
            );
        }
    }
    // The same header with `alg` once gets past the envelope checks to the workflow (which
    // refuses the carrier's signature on a bill the shipper holds: that is not the point).
    let once = format!(r#"{{"alg":"EdDSA","x5c":{x5c}}}"#);
    let envelope = with_header(net, "carrier", &once, &payload(net, body))?;
    let result = &carrier.submit(0, &[envelope])?[0];
    ensure!(
        result["code"] != "MALFORMED_ENVELOPE",
        "a header with each member once: {result:#}"
    );
    Ok(())
}

/// PROFILE.md: a chain that reaches no member's CA is `UNKNOWN_ISSUER`, whatever else is wrong
/// with it. The stranger's certificate here has also expired, which webpki notices first; it
/// was refused `CERTIFICATE_EXPIRED`, telling the stranger about a CA the network never trusted.
fn a_chain_from_a_ca_of_no_member_is_an_unknown_issuer(net: &DevNet, carrier: &Api) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let now_s = i64::try_from(now_ms() / 1000)?;
    let day = 24 * 3600;
    let elsewhere = MemberCode::new("ELSEWHERE").map_err(anyhow::Error::msg)?;
    let mut spec = ConsortiumSpec::dev(1);
    spec.members.truncate(1);
    spec.members[0].code = elsewhere.clone();
    spec.members[0].name = "Elsewhere Lines".into();
    for party in &mut spec.parties {
        party.sponsor = elsewhere.clone();
    }
    spec.nodes.clear();
    let mut stranger = generate_consortium(&spec, &tmp.path().join("stranger"), now_s - 3 * day)?;
    stranger.issue(&IdentityRequest {
        name: "stranger-expired".into(),
        member: elsewhere,
        party: PartyCode::new("SHIPPER").map_err(anyhow::Error::msg)?,
        party_name: "Silk Road Exporters Ltd".into(),
        kind: IdentityKind::User,
        node_id: None,
        ips: Vec::new(),
        not_before: now_s - 2 * day,
        not_after: now_s - day,
    })?;
    let signer = stranger.signer("stranger-expired")?;
    let body = doc_body("CARRIER", "SLK-CLI-001", json!({"action": "SIGN"}));
    let envelope = pki::jws::sign(&payload(net, body), &signer)?;
    for i in 0..net.node_count() {
        let result = &carrier.submit(i, std::slice::from_ref(&envelope))?[0];
        outcome(result, "REFUSED", "UNKNOWN_ISSUER").with_context(|| format!("node {i}"))?;
    }
    Ok(())
}

/// The current revocation list of the caller's member, as node `i` serves it, inspected.
fn current_list(api: &Api, i: usize) -> Result<pki::RevocationListInfo> {
    let d = api.data(i, "{ revocationList }", json!({}))?;
    let der = STANDARD.decode(d["revocationList"].as_str().context("a list")?)?;
    Ok(pki::inspect_revocation_list(&der)?)
}

/// `silkline tx ... revoke`, which must commit: its printed outcome.
fn revoke(args: &[&str]) -> Result<Value> {
    let out = common::cli(args)?;
    ensure!(
        out.exit == 0,
        "revoke {args:?}: exit {}: {}{}",
        out.exit,
        out.stdout,
        out.stderr
    );
    let json = out.json()?;
    ensure!(json["status"] == "COMMITTED", "{json:#}");
    Ok(json)
}

/// Every node at `height` or beyond.
fn all_at(net: &DevNet, api: &Api, height: u64) -> Result<()> {
    wait_for(&format!("every node at height {height}"), || {
        (0..net.node_count())
            .all(|i| api.height(i).is_ok_and(|h| h >= height))
            .then_some(())
    })
}

/// A transaction signed by `identity` as the CLI signs it (`tx --sign-only`: signing needs no
/// connection), submitted to every node through the carrier's connection: the signature is
/// what counts, so each node must refuse it as revoked.
fn refused_as_revoked_everywhere(net: &DevNet, carrier: &Api, identity: &str) -> Result<()> {
    for i in 0..net.node_count() {
        let out = net.cli_as(identity, &["tx", "sign", BILL, "--sign-only"])?;
        ensure!(out.exit == 0, "sign-only as {identity}: {}", out.stderr);
        let result = &carrier.submit(i, &[out.stdout.trim().to_owned()])?[0];
        outcome(result, "REFUSED", "CERTIFICATE_REVOKED")
            .with_context(|| format!("{identity} at node {i}"))?;
    }
    Ok(())
}

/// DOMAIN 6.7 from a shell. The carrier's admin revokes the shipper by serial number on the dev
/// network, where the CLI finds CARRIER's CA key by itself; the shipper's next transaction is
/// refused `CERTIFICATE_REVOKED` on every node and its CLI cannot even connect. Then, as against
/// any deployment (`--endpoint ... --ca-key`), it revokes the consignee by certificate file:
/// the new list keeps the shipper (cRLNumber 1, 2, 3), and both stay refused. A user
/// certificate cannot publish a list, nor can one member's admin revoke another's certificate.
fn an_admin_revokes_with_the_cli_and_earlier_revocations_stay(
    net: &DevNet,
    carrier: &Api,
) -> Result<()> {
    let network = net.network_file.to_str().context("path")?;
    let consortium = Consortium::open(&net.pki_dir())?;
    let serial = |name: &str| -> Result<String> {
        Ok(consortium
            .identity(name)
            .with_context(|| format!("no identity {name}"))?
            .serial
            .clone())
    };
    let before = current_list(carrier, 0)?;
    ensure!(
        before.crl_number == 1 && before.revoked_serials.is_empty(),
        "the genesis list: {before:?}"
    );

    // A user certificate signs no governance: the ledger refuses, exit 3.
    let by_user = net.cli_as(
        "carrier",
        &["tx", "revoke", "--serial", &serial("shipper")?],
    )?;
    ensure!(
        by_user.exit == 3 && by_user.json()?["code"] == "WRONG_CERTIFICATE_KIND",
        "{by_user:?}"
    );

    let shipper = serial("shipper")?;
    let first = revoke(&[
        "tx",
        "--network",
        network,
        "--as",
        "carrier-admin",
        "revoke",
        "--serial",
        &shipper,
    ])?;
    ensure!(
        first["crlNumber"] == 2
            && first["revoked"] == json!([shipper])
            && first["revokedTotal"] == 1,
        "{first:#}"
    );
    all_at(net, carrier, first["height"].as_u64().context("height")?)?;
    refused_as_revoked_everywhere(net, carrier, "shipper")?;
    // The shipper's own CLI is turned away at the TLS handshake on every node.
    let locked_out = net.cli_as("shipper", &["tx", "sign", BILL])?;
    ensure!(
        locked_out.exit == 1 && locked_out.stdout.is_empty(),
        "a revoked certificate connected: {locked_out:?}"
    );

    // The second list, signed with an explicit CA key through explicit endpoints.
    let (admin_cert, admin_key) = net.identity("carrier-admin")?;
    let (consignee_cert, _) = net.identity("consignee")?;
    let carrier_member = consortium
        .member(&MemberCode::new("CARRIER").map_err(anyhow::Error::msg)?)
        .context("CARRIER")?;
    let ca_key = consortium.path(&carrier_member.root_key);
    let path = |p: &Path| p.to_str().map(str::to_owned).context("path");
    let mut args: Vec<String> = vec!["tx".into()];
    for endpoint in net.endpoints() {
        args.extend(["--endpoint".into(), endpoint]);
    }
    args.extend([
        "--cert".into(),
        path(&admin_cert)?,
        "--key".into(),
        path(&admin_key)?,
        "--ca".into(),
        path(&net.ca_bundle())?,
        "revoke".into(),
        "--certificate".into(),
        path(&consignee_cert)?,
        "--ca-key".into(),
        path(&ca_key)?,
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let consignee = serial("consignee")?;
    let second = revoke(&args)?;
    ensure!(
        second["crlNumber"] == 3
            && second["revoked"] == json!([consignee])
            && second["revokedTotal"] == 2,
        "{second:#}"
    );
    all_at(net, carrier, second["height"].as_u64().context("height")?)?;
    for i in 0..net.node_count() {
        let list = current_list(carrier, i)?;
        ensure!(
            list.crl_number == 3
                && list.revoked_serials == vec![shipper.clone(), consignee.clone()],
            "node {i}: {list:?}"
        );
    }
    refused_as_revoked_everywhere(net, carrier, "shipper")?;
    refused_as_revoked_everywhere(net, carrier, "consignee")?;

    // PORT's admin cannot revoke a certificate CARRIER's CA issued: refused before signing.
    let consignee_cert = path(&consignee_cert)?;
    let foreign = net.cli_as(
        "port-admin",
        &["tx", "revoke", "--certificate", &consignee_cert],
    )?;
    ensure!(
        foreign.exit == 1 && foreign.stderr.contains("not issued by"),
        "{foreign:?}"
    );
    // The carrier's own user acts on as before, and every node agrees on the outcome.
    let docs = tempfile::tempdir()?;
    let file = fixture_as("to-order-bill.json", "SLK-CLI-002", docs.path())?;
    let issued = net.commit(
        "carrier",
        "issue",
        "CARRIER/SLK-CLI-002",
        &[
            "--to",
            "SHIPPER",
            "--document",
            file.to_str().context("path")?,
        ],
    )?;
    net.converged(carrier, issued.height().context("height")?)?;
    Ok(())
}
