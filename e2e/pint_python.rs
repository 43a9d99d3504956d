//! DCSA PINT from a sender that is not Silkline's code (issue 16): the independent Python
//! client `pint/tests/python/pint_client.py` (ES256 with `cryptography`, written from the
//! standard's text) sends a bill over HTTPS to a real Silkline network's node, verifying the
//! node's certificate with the network's CA bundle. Untrusted, it gets a signed BSIG and nothing
//! exists; trusted by a member vote, its envelope is RECE, the identical retry DUPE, and a new
//! envelope for the same bill (other signatures and times) DISE. The bill exists on every node,
//! held by the recipient, its carrier named `PYTH:PYCARRIER` (the ISSUE actor's first code).
//!
//! Skipped, with the reason printed, only when python3 or its `cryptography` package is missing
//! (CI installs it: `pip install cryptography`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, ensure};
use serde_json::Value;

use crate::common::{self, CliOut, DOCUMENT, DevNet, cli, document_vars, fixture_as, wait_for};

/// The Python client's platform code, and how the receiving ledger names its carrier.
const PLATFORM: &str = "PYTH";
const CARRIER: &str = "PYTH:PYCARRIER";
const REFERENCE: &str = "PY-E2E-0001";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pint/tests/python/pint_client.py")
}

fn python_ready() -> Result<(), String> {
    match Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
    {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "python3 has no `cryptography` package ({}); install it with `pip install cryptography`",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("python3 is not available: {e}")),
    }
}

/// `python3 pint_client.py ARGS...`: its exit code, stdout (trimmed) and stderr.
fn client(args: &[&str]) -> Result<CliOut> {
    let out = Command::new("python3")
        .arg(script())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("run python3")?;
    Ok(CliOut {
        exit: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// The client's signed answers (one line each) to one envelope sent to node `node`.
fn send(net: &DevNet, keys: &Path, document: &Path, node: usize, extra: &[&str]) -> Result<String> {
    let url = net.network["nodes"][node]["pint"]
        .as_str()
        .context("the node's PINT URL")?;
    ensure!(url.starts_with("https://"), "{url}");
    let key = keys.join("key.pem");
    let cert = keys.join("cert.pem");
    let ca = net.ca_bundle();
    let mut args = vec![
        "send",
        "--key",
        key.to_str().context("path")?,
        "--cert",
        cert.to_str().context("path")?,
        "--ca",
        ca.to_str().context("path")?,
        "--url",
        url,
        "--platform",
        PLATFORM,
        "--to-platform",
        "SLKB",
        "--to-party",
        "BANK",
        "--document",
        document.to_str().context("path")?,
    ];
    args.extend(extra);
    let out = client(&args)?;
    ensure!(
        out.exit == 0,
        "the client failed (exit {}): {} {}",
        out.exit,
        out.stdout,
        out.stderr
    );
    Ok(out.stdout)
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

/// `TRUST_PLATFORM` for the Python client's certificate, proposed and approved by two members.
/// Its URL is never called: the client only sends.
fn trust(net: &DevNet, cert: &Path) -> Result<()> {
    let out = cli(&[
        "gov",
        "propose",
        "--network",
        net.network_file.to_str().context("path")?,
        "--as",
        "carrier-admin",
        "--description",
        "trust the independent Python platform",
        "trust-platform",
        "--code",
        PLATFORM,
        "--name",
        "Independent Python platform",
        "--url",
        "http://127.0.0.1:9",
        "--cert",
        cert.to_str().context("path")?,
    ])?;
    let proposed = committed(&out)?;
    let id = proposed["tx"].as_str().context("proposal id")?;
    committed(&net.cli_as("bank-admin", &["gov", "vote", id, "--approve"])?)?;
    let show = net.cli_as("port", &["gov", "show", id])?.json()?;
    ensure!(show["state"] == "ACCEPTED", "{show}");
    Ok(())
}

#[test]
fn the_independent_python_client_sends_a_bill_to_a_real_network() -> Result<()> {
    if let Err(why) = python_ready() {
        eprintln!("SKIPPED the_independent_python_client_sends_a_bill_to_a_real_network: {why}");
        return Ok(());
    }
    let _one_at_a_time = common::exclusive();
    let net = DevNet::start_on_platform(3, "SLKB")?;
    let work = tempfile::tempdir()?;
    let keys = work.path().join("python-platform");
    let keygen = client(&["keygen", keys.to_str().context("path")?])?;
    ensure!(keygen.exit == 0, "{}", keygen.stderr);
    let document = fixture_as("straight-bill.json", REFERENCE, work.path())?;
    let bill = format!("{CARRIER}/{REFERENCE}");

    // Not trusted yet: a signed BSIG, and nothing exists here.
    let answer = send(&net, &keys, &document, 0, &[])?;
    ensure!(answer == "BSIG", "untrusted: {answer}");
    let absent = net.cli_as("bank", &["doc", "show", &bill])?;
    ensure!(
        absent.exit == 1 && absent.stderr.contains("NOT_FOUND"),
        "{absent:?}"
    );

    trust(&net, &keys.join("cert.pem"))?;

    // The transfer to another node than the one that refused, then the very same bytes again.
    let answers = send(&net, &keys, &document, 1, &["--twice"])?;
    ensure!(answers == "RECE\nDUPE", "trusted: {answers}");
    let doc = wait_for("the imported bill", || {
        let out = net.cli_as("bank", &["doc", "show", &bill]).ok()?;
        out.json().ok().filter(|d| d["possessor"] == "BANK")
    })?;
    ensure!(
        doc["status"] == "ISSUED" && doc["mode"] == "STRAIGHT",
        "{doc:#}"
    );

    // Every node verified and applied the import: each one, asked alone, has the bill.
    let api = net.api("bank")?;
    for i in 0..net.node_count() {
        wait_for(&format!("the bill on node {i}"), || {
            let d = api
                .data(
                    i,
                    DOCUMENT,
                    document_vars(CARRIER, REFERENCE, "TRANSPORT_DOCUMENT", "LOCAL"),
                )
                .ok()?;
            (d["document"]["possessor"] == "BANK").then_some(())
        })?;
    }
    net.converged(&api, 1)?;

    // A new envelope for the same bill (new signatures and times): it contradicts the chain
    // accepted before.
    let again = send(&net, &keys, &document, 2, &[])?;
    ensure!(again == "DISE", "a second chain: {again}");
    let still = net.show("bank", &bill, false)?;
    ensure!(
        still["possessor"] == "BANK" && still["sequence"] == doc["sequence"],
        "{still:#}"
    );
    Ok(())
}
