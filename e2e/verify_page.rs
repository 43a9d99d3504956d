//! The public verification page (`graphql::public`) on a real dev network, as the people it is
//! for reach it: the QR code of `silkline doc pdf` decoded from the rendered page (poppler's
//! `pdftoppm`, zbar's `zbarimg`), the page loaded in headless Chromium from Debian's packages
//! (its DOM asserted, a screenshot kept per case under `target/tmp/verify-page/`), uploads of the PDF and the JSON, and the two properties a
//! visitor cannot see but must be able to rely on: a wrong checksum and a missing bill get the
//! same bytes, and the rate limit refuses one source while another is served.
//!
//! The page needs no script: it has none, and its `Content-Security-Policy` (`default-src
//! 'none'`, no `script-src`) would make Chromium refuse any. (Chromium is not run with scripts
//! switched off: its headless `--dump-dom` and `--screenshot` produce nothing then.)
//!
//! Chromium connects from 127.0.0.1, the HTTP checks from 127.0.0.3 and the rate-limit phase
//! from 127.0.0.2 and 127.0.0.4: each source has its own bucket, so no phase spends another's.
//! Chromium is told to trust the node's public certificate by its key
//! (`--ignore-certificate-errors-spki-list`), not to ignore certificate errors in general.
//!
//! The main test runs its phases on one three-node network (a network start costs seconds); a
//! second, one-node network is configured as a dev directory made before the page existed.

use crate::common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use base64::Engine as _;
use common::{DEADLINE, DevNet, fixture_as, try_wait_for};
use graphql::public::limits::REQUESTS_PER_SOURCE_BURST;
use serde_json::Value;

/// How long one HTTP request to the page may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The browser's window for screenshots: the whole verdict and record fit.
const WINDOW: &str = "1000,1250";

/// Most requests the rate-limit phase sends before it must have seen a 429: the burst, and as
/// many again for the tokens that come back while it runs (one a second; the phase takes a
/// fraction of that per request).
const RATE_PHASE_REQUESTS_MAX: u64 = REQUESTS_PER_SOURCE_BURST * 2;

#[test]
fn the_verification_page_in_a_browser_by_qr_code_and_by_upload() -> Result<()> {
    let _one_at_a_time = common::exclusive();
    let net = DevNet::start(3)?;
    let docs = tempfile::tempdir()?;
    let bills = issue_bills(&net, docs.path())?;
    let visitor = Visitor::new(&net, Ipv4Addr::new(127, 0, 0, 3))?;

    let genuine_url = qr_code_of_doc_pdf_leads_to_the_page(&net, &bills, docs.path(), &visitor)
        .context("the QR code of doc pdf")?;
    a_browser_shows_each_state(&net, &bills, &genuine_url).context("in a browser")?;
    uploads_are_checked(&bills, &visitor, docs.path()).context("uploads")?;
    a_wrong_checksum_and_a_missing_bill_look_the_same(&net, &bills, &visitor)
        .context("a wrong checksum and a missing bill")?;
    the_rate_limit_refuses_one_source_and_serves_another(&net).context("the rate limit")?;
    a_connection_that_never_starts_tls_is_dropped(&net).context("an idle connection")?;
    Ok(())
}

/// A dev directory made before the verification page existed (its node configured without
/// `publicListen` and the rest) still starts: `network.json` names no page for the node, and the
/// QR code of `doc pdf` carries the reference and checksum instead of a URL.
#[test]
fn a_network_configured_before_the_page_runs_without_one() -> Result<()> {
    let _one_at_a_time = common::exclusive();
    let net = DevNet::start_with(1, |dir| {
        let path = dir.join("nodes/node1/config.json");
        let mut config: Value = serde_json::from_slice(&std::fs::read(&path)?)?;
        let object = config.as_object_mut().context("a config is an object")?;
        for key in [
            "publicListen",
            "publicBaseUrl",
            "publicCertificateChain",
            "publicPrivateKey",
        ] {
            object.remove(key);
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
        Ok(())
    })?;
    ensure!(
        net.network["nodes"][0]["public"].is_null(),
        "{}",
        net.network
    );
    let docs = tempfile::tempdir()?;
    let file = fixture_as("straight-bill.json", "SLK-VP-OLD", docs.path())?;
    net.commit(
        "carrier",
        "issue",
        "CARRIER/SLK-VP-OLD",
        &[
            "--to",
            "SHIPPER",
            "--document",
            file.to_str().context("path")?,
        ],
    )?;
    let checksum = net.show("shipper", "CARRIER/SLK-VP-OLD", false)?["checksum"]
        .as_str()
        .context("checksum")?
        .to_owned();
    let qr = qr_code_of(&net, "CARRIER/SLK-VP-OLD", docs.path())?;
    ensure!(
        qr == format!("silkline:CARRIER/SLK-VP-OLD?sha256={checksum}"),
        "{qr}"
    );
    Ok(())
}

/// The text of the QR code on the first page of `doc pdf DOCUMENT` as the shipper prints it
/// (kept as `DIR/CARRIER-REFERENCE.pdf`), decoded from the rendered page.
fn qr_code_of(net: &DevNet, document: &str, dir: &Path) -> Result<String> {
    let name = document.replace('/', "-");
    let pdf = dir.join(format!("{name}.pdf"));
    let out = net.cli_as(
        "shipper",
        &["doc", "pdf", document, "-o", pdf.to_str().context("path")?],
    )?;
    ensure!(out.exit == 0, "doc pdf: {out:?}");
    let png = dir.join(format!("{name}-page1"));
    run(
        Command::new("pdftoppm")
            .args(["-png", "-r", "150", "-f", "1", "-l", "1", "-singlefile"])
            .arg(&pdf)
            .arg(&png),
        "pdftoppm (poppler-utils; scripts/test installs it)",
    )?;
    let decoded = run(
        Command::new("zbarimg")
            .args(["--quiet", "--raw"])
            .arg(png.with_extension("png")),
        "zbarimg (zbar-tools; scripts/test installs it)",
    )?;
    Ok(decoded.trim().to_owned())
}

/// The bills of every case, with their checksums and the block time of their last change of
/// status.
struct Bills {
    genuine: Bill,
    surrendered: Bill,
    voided: Bill,
    paper: Bill,
    /// The replacement of the voided bill: its reference must not show on the voided one's page.
    replacement: String,
}

struct Bill {
    reference: String,
    checksum: String,
    /// The document file it was issued from.
    file: PathBuf,
    /// When its status last changed, as the page prints it (`2026-12-03 16:20:05 UTC`).
    status_since: String,
}

/// `2026-12-03T16:20:05.123Z` as the page prints it.
fn page_time(iso: &str) -> String {
    format!("{} {} UTC", &iso[..10], &iso[11..19])
}

fn issue_bills(net: &DevNet, dir: &Path) -> Result<Bills> {
    let issue = |fixture: &str, reference: &str| -> Result<(PathBuf, String)> {
        let file = fixture_as(fixture, reference, dir)?;
        let doc = format!("CARRIER/{reference}");
        let out = net.commit(
            "carrier",
            "issue",
            &doc,
            &[
                "--to",
                "SHIPPER",
                "--document",
                file.to_str().context("path")?,
            ],
        )?;
        Ok((
            file,
            out.json["time"].as_str().unwrap_or_default().to_owned(),
        ))
    };
    let checksum = |reference: &str| -> Result<String> {
        let doc = net.show("carrier", &format!("CARRIER/{reference}"), false)?;
        Ok(doc["checksum"].as_str().context("checksum")?.to_owned())
    };

    let (file, issued) = issue("to-order-bill.json", "SLK-VP-GENUINE")?;
    // A transfer changes the holder, not the status: "status since" stays at the issue.
    net.commit(
        "shipper",
        "endorse",
        "CARRIER/SLK-VP-GENUINE",
        &["--to", "BANK"],
    )?;
    let genuine = Bill {
        checksum: checksum("SLK-VP-GENUINE")?,
        reference: "SLK-VP-GENUINE".into(),
        file,
        status_since: page_time(&issued),
    };

    let (file, _) = issue("straight-bill.json", "SLK-VP-SURRENDERED")?;
    const SURRENDERED: &str = "CARRIER/SLK-VP-SURRENDERED";
    net.commit("shipper", "transfer", SURRENDERED, &["--to", "CONSIGNEE"])?;
    net.commit("consignee", "surrender-for-delivery", SURRENDERED, &[])?;
    let accepted = net.commit("carrier", "accept-surrender", SURRENDERED, &[])?;
    let surrendered = Bill {
        checksum: checksum("SLK-VP-SURRENDERED")?,
        reference: "SLK-VP-SURRENDERED".into(),
        file,
        status_since: page_time(accepted.json["time"].as_str().unwrap_or_default()),
    };

    let (file, _) = issue("straight-bill.json", "SLK-VP-VOIDED")?;
    const VOIDED: &str = "CARRIER/SLK-VP-VOIDED";
    let replacement = fixture_as("straight-bill.json", "SLK-VP-REPLACEMENT", dir)?;
    net.commit(
        "shipper",
        "surrender-for-amendment",
        VOIDED,
        &["--reason", "CHANGE_OF_DESTINATION"],
    )?;
    net.commit("carrier", "accept-surrender", VOIDED, &[])?;
    let void = net.commit(
        "carrier",
        "void",
        VOIDED,
        &[
            "--to",
            "SHIPPER",
            "--document",
            replacement.to_str().context("path")?,
        ],
    )?;
    let voided = Bill {
        checksum: checksum("SLK-VP-VOIDED")?,
        reference: "SLK-VP-VOIDED".into(),
        file,
        status_since: page_time(void.json["time"].as_str().unwrap_or_default()),
    };

    let (file, _) = issue("straight-bill.json", "SLK-VP-PAPER")?;
    const PAPER: &str = "CARRIER/SLK-VP-PAPER";
    net.commit(
        "shipper",
        "surrender-for-amendment",
        PAPER,
        &["--reason", "SWITCH_TO_PAPER"],
    )?;
    let accepted = net.commit("carrier", "accept-surrender", PAPER, &[])?;
    let paper = Bill {
        checksum: checksum("SLK-VP-PAPER")?,
        reference: "SLK-VP-PAPER".into(),
        file,
        status_since: page_time(accepted.json["time"].as_str().unwrap_or_default()),
    };
    Ok(Bills {
        genuine,
        surrendered,
        voided,
        paper,
        replacement: "SLK-VP-REPLACEMENT".into(),
    })
}

/// node1's verification page base URL, as `network.json` gives it: where the QR codes of every
/// node's PDFs lead.
fn public_base(net: &DevNet) -> Result<String> {
    Ok(net.network["nodes"][0]["public"]
        .as_str()
        .context("network.json names no public page for node1")?
        .to_owned())
}

fn verify_url(net: &DevNet, reference: &str, checksum: &str) -> Result<String> {
    Ok(format!(
        "{}/verify/CARRIER/{reference}/{checksum}",
        public_base(net)?
    ))
}

/// `doc pdf` on the dev network: its QR code, decoded from the rendered first page, is the
/// page's URL for this bill and checksum, and the page answers it as authentic, on every node.
fn qr_code_of_doc_pdf_leads_to_the_page(
    net: &DevNet,
    bills: &Bills,
    dir: &Path,
    visitor: &Visitor,
) -> Result<String> {
    let bill = &bills.genuine;
    let url = qr_code_of(net, &format!("CARRIER/{}", bill.reference), dir)?;
    let expected = verify_url(net, &bill.reference, &bill.checksum)?;
    ensure!(
        url == expected,
        "the QR code says {url:?}, expected {expected:?}"
    );
    let page = visitor.get(&url)?;
    ensure!(page.status == 200, "{url}: HTTP {}", page.status);
    // No script may run on the page, whatever its markup.
    let csp = page
        .headers
        .iter()
        .find(|(k, _)| k == "content-security-policy")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    ensure!(
        csp.starts_with("default-src 'none';") && !csp.contains("script-src"),
        "{:?}",
        page.headers
    );
    ensure!(
        page.text().contains("data-verdict=\"authentic\""),
        "{}",
        page.text()
    );
    // Every node's PDF names the network's one address (node1's page), and every node's page
    // answers the same path alike.
    let path = url
        .strip_prefix(&public_base(net)?)
        .context("the URL is node1's")?
        .to_owned();
    for i in 0..net.node_count() {
        let base = net.network["nodes"][i]["public"]
            .as_str()
            .with_context(|| format!("node {i} has no public page"))?;
        let page = visitor.get(&format!("{base}{path}"))?;
        ensure!(
            page.status == 200 && page.text().contains("data-verdict=\"authentic\""),
            "node {i}'s page: HTTP {}",
            page.status
        );
        let config: Value = serde_json::from_slice(&std::fs::read(net.config(i))?)?;
        ensure!(
            config["publicBaseUrl"] == public_base(net)?,
            "node {i}'s QR codes lead elsewhere: {config}"
        );
    }
    Ok(url)
}

/// Headless Chromium, trusting the node's public certificate by its key.
struct Browser {
    spki: String,
    profile: tempfile::TempDir,
    artifacts: PathBuf,
}

impl Browser {
    fn new(net: &DevNet) -> Result<Browser> {
        // The public key the listener presents: its certificate's key, as the config names it.
        let config_path = net.config(0);
        let config: Value = serde_json::from_slice(&std::fs::read(&config_path)?)?;
        let key_file = config_path.parent().context("config dir")?.join(
            config["publicPrivateKey"]
                .as_str()
                .context("publicPrivateKey")?,
        );
        let key = rcgen::KeyPair::from_pem(&std::fs::read_to_string(&key_file)?)?;
        use rcgen::PublicKeyData as _;
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &key.subject_public_key_info());
        let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("verify-page");
        std::fs::create_dir_all(&artifacts)?;
        Ok(Browser {
            spki: base64::engine::general_purpose::STANDARD.encode(digest.as_ref()),
            profile: tempfile::tempdir()?,
            artifacts,
        })
    }

    fn chromium(&self) -> Command {
        let mut cmd = Command::new("chromium");
        cmd.args([
            "--headless",
            // Root in CI; the browser's sandbox needs user namespaces a container may not give.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", self.profile.path().display()))
        .arg(format!(
            "--ignore-certificate-errors-spki-list={}",
            self.spki
        ));
        cmd
    }

    /// The DOM Chromium built from `url`, also kept as `NAME.html` beside the screenshots.
    fn dom(&self, url: &str, name: &str) -> Result<String> {
        let mut cmd = self.chromium();
        cmd.arg("--dump-dom").arg(url);
        let dom = run(
            &mut cmd,
            "chromium (Debian's package; scripts/test installs it)",
        )?;
        std::fs::write(self.artifacts.join(format!("{name}.html")), &dom)?;
        Ok(dom)
    }

    /// A screenshot of `url`, kept as `NAME.png`.
    fn screenshot(&self, url: &str, name: &str) -> Result<PathBuf> {
        let path = self.artifacts.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&path);
        let mut cmd = self.chromium();
        cmd.arg(format!("--window-size={WINDOW}"))
            .arg(format!("--screenshot={}", path.display()))
            .arg(url);
        run(&mut cmd, "chromium")?;
        let png =
            std::fs::read(&path).with_context(|| format!("no screenshot {}", path.display()))?;
        ensure!(
            png.starts_with(b"\x89PNG"),
            "{} is not a PNG",
            path.display()
        );
        Ok(path)
    }
}

/// The text of the element with `id` in `dom`: its inner HTML up to the close of its tag, tags
/// removed, whitespace collapsed.
fn text_of(dom: &str, id: &str) -> Option<String> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let open = dom[..at].rfind('<')?;
    let tag: String = dom[open + 1..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let start = at + dom[at..].find('>')? + 1;
    let end = start + dom[start..].find(&format!("</{tag}>"))?;
    let mut text = String::new();
    let mut in_tag = false;
    for c in dom[start..end].chars() {
        match c {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// What the page of a bill must never show: its parties, their names, its content.
const NEVER_SHOWN: [&str; 10] = [
    "SHIPPER",
    "CONSIGNEE",
    "BANK",
    "Silk Road Exporters",
    "Rotterdam Importers",
    "Silkline Trade Bank",
    "Shipper Exports",
    "Notify Agent",
    "Silkline Voyager",
    "CARU1000003",
];

fn expect_authentic(
    dom: &str,
    bill: &Bill,
    status: &str,
    words: &str,
    in_force: bool,
) -> Result<()> {
    ensure!(dom.contains("data-verdict=\"authentic\""), "{dom}");
    let field = |id: &str| text_of(dom, id).with_context(|| format!("no #{id} in {dom}"));
    ensure!(field("verdict")?.starts_with("Authentic"), "{dom}");
    ensure!(
        field("document")?.ends_with(&bill.reference),
        "{}",
        field("document")?
    );
    ensure!(
        field("carrier")? == "Silkline Shipping Line (CARRIER)",
        "{}",
        field("carrier")?
    );
    ensure!(
        field("issuer")?.contains("member Silkline Shipping Line (CARRIER)"),
        "{}",
        field("issuer")?
    );
    ensure!(
        dom.contains(&format!("data-status=\"{status}\"")),
        "status {status}: {dom}"
    );
    ensure!(field("status")?.starts_with(words), "{}", field("status")?);
    ensure!(
        field("status-since")? == bill.status_since,
        "status since {} , expected {}",
        field("status-since")?,
        bill.status_since
    );
    let force = field("force")?;
    ensure!(
        (force == "In force") == in_force,
        "in force {in_force}: {force}"
    );
    ensure!(dom.contains("data-matches=\"true\""), "{dom}");
    ensure!(
        field("checksum")? == bill.checksum,
        "{}",
        field("checksum")?
    );
    for secret in NEVER_SHOWN {
        ensure!(!dom.contains(secret), "the page shows {secret:?}: {dom}");
    }
    ensure!(!dom.to_lowercase().contains("<script"), "{dom}");
    Ok(())
}

/// Chromium loads the page for a genuine bill (by the URL its QR code gave), a tampered
/// checksum, a surrendered, a voided and a switched-to-paper bill; the DOM says what each is,
/// and a screenshot of each is kept.
fn a_browser_shows_each_state(net: &DevNet, bills: &Bills, genuine_url: &str) -> Result<()> {
    let browser = Browser::new(net)?;

    let dom = browser.dom(genuine_url, "genuine")?;
    expect_authentic(&dom, &bills.genuine, "ISSUED", "Issued", true)?;
    ensure!(
        text_of(&dom, "type").as_deref() == Some("Bill of lading, to order"),
        "{dom}"
    );
    browser.screenshot(genuine_url, "genuine")?;

    // One hex digit changed: what a forger's copy of the bill would carry.
    let mut tampered = bills.genuine.checksum.clone().into_bytes();
    tampered[10] = if tampered[10] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered)?;
    let url = verify_url(net, &bills.genuine.reference, &tampered)?;
    let dom = browser.dom(&url, "tampered")?;
    ensure!(dom.contains("data-verdict=\"not-authentic\""), "{dom}");
    ensure!(
        text_of(&dom, "verdict").is_some_and(|t| t.starts_with("Not authentic")),
        "{dom}"
    );
    // Nothing of the real bill: not its reference, carrier name, status or checksum.
    for secret in [
        bills.genuine.reference.as_str(),
        bills.genuine.checksum.as_str(),
        tampered.as_str(),
        "Silkline Shipping Line",
        "ISSUED",
    ] {
        ensure!(!dom.contains(secret), "the tampered page shows {secret:?}");
    }
    browser.screenshot(&url, "tampered")?;

    let url = verify_url(
        net,
        &bills.surrendered.reference,
        &bills.surrendered.checksum,
    )?;
    let dom = browser.dom(&url, "surrendered")?;
    expect_authentic(
        &dom,
        &bills.surrendered,
        "SURRENDERED_FOR_DELIVERY",
        "Surrendered for delivery (accomplished)",
        false,
    )?;
    ensure!(
        text_of(&dom, "force").as_deref()
            == Some("Not in force: Surrendered for delivery (accomplished)"),
        "{dom}"
    );
    browser.screenshot(&url, "surrendered")?;

    let url = verify_url(net, &bills.voided.reference, &bills.voided.checksum)?;
    let dom = browser.dom(&url, "voided")?;
    expect_authentic(&dom, &bills.voided, "VOIDED", "Voided", false)?;
    ensure!(
        dom.contains("an amended document replaced it") && !dom.contains(&bills.replacement),
        "the voided bill's page says it was replaced, not by which: {dom}"
    );
    browser.screenshot(&url, "voided")?;

    let url = verify_url(net, &bills.paper.reference, &bills.paper.checksum)?;
    let dom = browser.dom(&url, "switched-to-paper")?;
    expect_authentic(
        &dom,
        &bills.paper,
        "SURRENDERED_FOR_AMENDMENT",
        "Switched to paper",
        false,
    )?;
    browser.screenshot(&url, "switched-to-paper")?;
    eprintln!("screenshots in {}", browser.artifacts.display());
    Ok(())
}

/// The PDF (from the form, and as a raw body) and the DCSA JSON are checked against the
/// records; a JSON with one changed value matches none.
fn uploads_are_checked(bills: &Bills, visitor: &Visitor, dir: &Path) -> Result<()> {
    let verify = format!("{}/verify", visitor.base);
    let pdf = std::fs::read(dir.join(format!("CARRIER-{}.pdf", bills.genuine.reference)))?;
    let json = std::fs::read(&bills.genuine.file)?;
    for (what, page) in [
        (
            "the PDF from the form",
            visitor.post_form(&verify, "bill.pdf", "application/pdf", &pdf)?,
        ),
        (
            "the PDF as the body",
            visitor.post(&verify, "application/pdf", pdf.clone())?,
        ),
        (
            "the JSON from the form",
            visitor.post_form(&verify, "bill.json", "application/json", &json)?,
        ),
        (
            "the JSON as the body",
            visitor.post(&verify, "application/json", json.clone())?,
        ),
    ] {
        let text = page.text();
        ensure!(page.status == 200, "{what}: HTTP {}: {text}", page.status);
        ensure!(
            text.contains("data-verdict=\"authentic\"")
                && text_of(&text, "checksum").as_deref() == Some(bills.genuine.checksum.as_str()),
            "{what}: {text}"
        );
    }
    // The PDF's check says it covered the attachment, not the printed pages.
    let page = visitor.post(&verify, "application/pdf", pdf)?;
    ensure!(
        page.text().contains(adapters::pdf::ATTACHMENT_NAME),
        "{}",
        page.text()
    );

    let mut altered: Value = serde_json::from_slice(&json)?;
    altered["numberOfOriginalsWithCharges"] = Value::from(2);
    let page = visitor.post_form(
        &verify,
        "bill.json",
        "application/json",
        &serde_json::to_vec(&altered)?,
    )?;
    ensure!(
        page.status == 404 && page.text().contains("data-verdict=\"not-authentic\""),
        "an altered document: HTTP {}: {}",
        page.status,
        page.text()
    );
    // Not a document at all: refused for what the file is, not for what the ledger holds.
    let page = visitor.post(&verify, "text/plain", b"hello".to_vec())?;
    ensure!(
        page.status == 400 && page.text().contains("data-verdict=\"unreadable\""),
        "HTTP {}: {}",
        page.status,
        page.text()
    );
    // Larger than any document or rendering: refused before it is read.
    let big = vec![b' '; graphql::public::UPLOAD_BYTES_MAX + 1];
    let page = visitor.post(&verify, "application/json", big)?;
    ensure!(page.status == 413, "HTTP {}: {}", page.status, page.text());
    Ok(())
}

/// A real bill with a wrong checksum, a bill that does not exist, another bill's checksum under
/// this reference, and an altered upload all get the very same answer: status, headers (but
/// the date) and body, byte for byte.
fn a_wrong_checksum_and_a_missing_bill_look_the_same(
    net: &DevNet,
    bills: &Bills,
    visitor: &Visitor,
) -> Result<()> {
    let wrong = "0".repeat(64);
    let answers = [
        (
            "a real bill, a wrong checksum",
            visitor.get(&verify_url(net, &bills.genuine.reference, &wrong)?)?,
        ),
        (
            "no such bill",
            visitor.get(&verify_url(net, "SLK-VP-NEVER-ISSUED", &wrong)?)?,
        ),
        (
            "no such bill, a real bill's checksum",
            visitor.get(&verify_url(
                net,
                "SLK-VP-NEVER-ISSUED",
                &bills.genuine.checksum,
            )?)?,
        ),
        (
            "a real bill, another real bill's checksum",
            visitor.get(&verify_url(
                net,
                &bills.genuine.reference,
                &bills.surrendered.checksum,
            )?)?,
        ),
        (
            "a malformed checksum",
            visitor.get(&verify_url(net, &bills.genuine.reference, "abc")?)?,
        ),
    ];
    let (_, first) = &answers[0];
    ensure!(first.status == 404, "HTTP {}", first.status);
    for (what, page) in &answers[1..] {
        ensure!(page.status == first.status, "{what}: HTTP {}", page.status);
        ensure!(
            page.headers == first.headers,
            "{what}: headers {:?} vs {:?}",
            page.headers,
            first.headers
        );
        ensure!(
            page.body == first.body,
            "{what}: the body differs:\n{}\n---\n{}",
            page.text(),
            first.text()
        );
    }
    Ok(())
}

/// From 127.0.0.2, requests are served up to the burst and then refused with 429 and a
/// `Retry-After`; meanwhile 127.0.0.4 is served.
fn the_rate_limit_refuses_one_source_and_serves_another(net: &DevNet) -> Result<()> {
    let flooding = Visitor::new(net, Ipv4Addr::new(127, 0, 0, 2))?;
    let index = format!("{}/verify", flooding.base);
    let mut served = 0;
    let refused = loop {
        ensure!(
            served < RATE_PHASE_REQUESTS_MAX,
            "{served} requests from one source, none refused"
        );
        let page = flooding.get(&index)?;
        match page.status {
            200 => served += 1,
            429 => break page,
            other => bail!("HTTP {other}: {}", page.text()),
        }
    };
    ensure!(
        served >= REQUESTS_PER_SOURCE_BURST,
        "refused after {served} requests, before the burst of {REQUESTS_PER_SOURCE_BURST}"
    );
    let retry = refused
        .headers
        .iter()
        .find(|(k, _)| k == "retry-after")
        .and_then(|(_, v)| v.parse::<u64>().ok());
    ensure!(retry.is_some_and(|s| s >= 1), "{:?}", refused.headers);
    ensure!(
        refused.text().contains("data-verdict=\"rate-limited\""),
        "{}",
        refused.text()
    );

    let other = Visitor::new(net, Ipv4Addr::new(127, 0, 0, 4))?;
    let page = other.get(&index)?;
    ensure!(
        page.status == 200,
        "another source is refused too: HTTP {}",
        page.status
    );
    Ok(())
}

/// A TCP connection that sends nothing is closed by the listener once its TLS handshake has had
/// its time, not before: it cannot hold its slot.
fn a_connection_that_never_starts_tls_is_dropped(net: &DevNet) -> Result<()> {
    use tokio::io::AsyncReadExt as _;
    let base = public_base(net)?;
    let authority: std::net::SocketAddr = base
        .strip_prefix("https://")
        .context("an https URL")?
        .parse()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind((Ipv4Addr::new(127, 0, 0, 5), 0).into())?;
        // Before the connection exists, so before the listener's clock for it starts.
        let opened = Instant::now();
        let mut tcp = socket.connect(authority).await?;
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(DEADLINE, tcp.read(&mut byte))
            .await
            .context("the listener kept an idle connection open")?;
        ensure!(
            matches!(read, Ok(0) | Err(_)),
            "the listener sent something: {read:?}"
        );
        let timeout = Duration::from_millis(graphql::public::PUBLIC_HANDSHAKE_TIMEOUT_MS);
        ensure!(
            opened.elapsed() >= timeout,
            "closed after {:?}, before the handshake's {timeout:?}",
            opened.elapsed()
        );
        anyhow::Ok(())
    })
}

/// One answer of the page: status, headers (names lowercase, sorted, without `date`), body.
struct Page {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Page {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// An HTTPS client of the page from one loopback source address, trusting the network's CAs
/// (the dev public certificate is issued by the member's CA) and presenting no certificate.
struct Visitor {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    base: String,
}

impl Visitor {
    fn new(net: &DevNet, source: Ipv4Addr) -> Result<Visitor> {
        let mut roots = rustls::RootCertStore::empty();
        for ca in pki::pem::certificates(&std::fs::read_to_string(net.ca_bundle())?)
            .map_err(anyhow::Error::msg)?
        {
            roots.add(ca)?;
        }
        let mut tls = rustls::ClientConfig::builder_with_provider(pki::tls::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // HTTP/2, as browsers speak it over TLS: a refused upload's answer arrives while the
        // rest of its body is still on its way (HTTP/1.1 would see the connection close).
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let http = {
            let _guard = rt.enter();
            reqwest::Client::builder()
                .tls_backend_preconfigured(tls)
                .local_address(IpAddr::V4(source))
                .timeout(REQUEST_TIMEOUT)
                .build()?
        };
        Ok(Visitor {
            rt,
            http,
            base: public_base(net)?,
        })
    }

    fn send(&self, request: reqwest::RequestBuilder) -> Result<Page> {
        self.rt.block_on(async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let mut headers: Vec<(String, String)> = response
                .headers()
                .iter()
                .filter(|(k, _)| *k != "date")
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            headers.sort();
            let body = response.bytes().await?.to_vec();
            Ok(Page {
                status,
                headers,
                body,
            })
        })
    }

    fn get(&self, url: &str) -> Result<Page> {
        self.send(self.http.get(url))
    }

    fn post(&self, url: &str, content_type: &str, body: Vec<u8>) -> Result<Page> {
        self.send(
            self.http
                .post(url)
                .header("content-type", content_type)
                .body(body),
        )
    }

    /// What the page's form sends: `multipart/form-data` with the file as field `document`.
    fn post_form(
        &self,
        url: &str,
        file_name: &str,
        content_type: &str,
        file: &[u8],
    ) -> Result<Page> {
        let boundary = format!("silkline-e2e-{}", common::nonce());
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"document\"; \
             filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.post(
            url,
            &format!("multipart/form-data; boundary={boundary}"),
            body,
        )
    }
}

/// Runs `cmd` to its end within [`DEADLINE`] (killed after it), its stdout to a file rather
/// than a pipe it could fill; returns stdout, or fails naming `what` with its stderr.
fn run(cmd: &mut Command, what: &str) -> Result<String> {
    let out = tempfile::NamedTempFile::new()?;
    let err = tempfile::NamedTempFile::new()?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.reopen()?)
        .stderr(err.reopen()?)
        .spawn()
        .with_context(|| format!("{what} must be installed"))?;
    let status = match try_wait_for(what, || Ok(child.try_wait()?)) {
        Ok(status) => status,
        Err(timed_out) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(timed_out);
        }
    };
    let stdout = std::fs::read_to_string(out.path())?;
    ensure!(
        status.success(),
        "{what}: {status}: {}",
        std::fs::read_to_string(err.path()).unwrap_or_default()
    );
    Ok(stdout)
}
