//! An independent sender: `pint/tests/python/pint_client.py` (Python 3 + `cryptography`, ES256),
//! written from the standard's text, sends to the router on 127.0.0.1. Skipped, with the reason
//! printed, only when python3 or its `cryptography` package is missing (CI installs it:
//! `pip install cryptography`).

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use adapters::pint::router;
use pint::testkit::{self, HERE};
use pint::{Leniency, TrustedPlatforms};

use super::{MockBackend, hosted_parties, serve};

const CLIENT_PLATFORM: &str = "PYCL";

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pint/tests/python/pint_client.py")
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

async fn run_client(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script())
            .args(&args)
            .output()
            .expect("python3 runs")
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_independent_python_client_gets_rece_dupe_and_dise() {
    if let Err(why) = python_ready() {
        eprintln!("SKIPPED the_independent_python_client_gets_rece_dupe_and_dise: {why}");
        return;
    }
    let dir = std::env::temp_dir().join(format!("silkline-pint-python-{}", std::process::id()));
    let keygen = run_client(vec!["keygen".into(), dir.display().to_string()]).await;
    assert!(
        keygen.status.success(),
        "{}",
        String::from_utf8_lossy(&keygen.stderr)
    );
    let cert_pem = std::fs::read_to_string(dir.join("cert.pem")).unwrap();

    let mut trusted = TrustedPlatforms::new();
    assert_eq!(
        trusted
            .add_certificates_pem(CLIENT_PLATFORM, &cert_pem)
            .unwrap(),
        1
    );
    let answers = testkit::chained_ed25519("slka-answers", 4000);
    let backend = Arc::new(MockBackend {
        signer: Arc::new(answers.signer),
        trusted,
        leniency: Leniency::STRICT,
        parties: hosted_parties(),
        known: Mutex::new(BTreeMap::new()),
        accepted: Mutex::new(Vec::new()),
        accept_script: Mutex::new(VecDeque::new()),
    });
    // The client's own clock stamps its transactions and its certificate: check at real time.
    let url = serve(router(Arc::new(RealTime(backend.clone())))).await;

    let send = |extra: &[&str]| {
        let mut args: Vec<String> = [
            "send",
            "--key",
            &dir.join("key.pem").display().to_string(),
            "--cert",
            &dir.join("cert.pem").display().to_string(),
            "--url",
            &url,
            "--platform",
            CLIENT_PLATFORM,
            "--to-platform",
            HERE,
            "--to-party",
            "BANK",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let out = run_client(send(&["--supporting-document", "--twice"])).await;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "client failed: {stdout} {stderr}");
    // The transfer, then the identical envelope again (a retry): accepted before.
    assert_eq!(stdout, "RECE\nDUPE", "{stderr}");
    assert!(stderr.contains("start: HTTP 201"), "{stderr}");
    assert!(stderr.contains("document: HTTP 204"), "{stderr}");
    {
        let accepted = backend.accepted.lock().unwrap();
        assert_eq!(accepted.len(), 1);
        assert_eq!(accepted[0].0, "PYTHON-TD-0001");
        assert_eq!(accepted[0].2.len(), 1, "the supporting document arrived");
    }
    // The same bill again, from the client's side a new envelope (new signatures and
    // timestamps), but the chain this platform holds differs in its only entry: DISE.
    let again = run_client(send(&[])).await;
    let code = String::from_utf8_lossy(&again.stdout).trim().to_owned();
    assert_eq!(code, "DISE", "{}", String::from_utf8_lossy(&again.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The mock backend, with the machine's clock (the Python client stamps real times).
struct RealTime(Arc<MockBackend>);

#[async_trait::async_trait]
impl adapters::pint::PintBackend for RealTime {
    fn platform(&self) -> String {
        self.0.platform()
    }
    fn signer(&self) -> Arc<pint::Signer> {
        self.0.signer()
    }
    fn now_unix_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    }
    async fn trusted_platforms(&self) -> Result<TrustedPlatforms, adapters::pint::BackendError> {
        self.0.trusted_platforms().await
    }
    async fn hosted_party(
        &self,
        code: &pint::model::IdentifyingCode,
    ) -> Result<Option<adapters::pint::HostedParty>, adapters::pint::BackendError> {
        self.0.hosted_party(code).await
    }
    async fn known_chain(
        &self,
        r: &str,
        checksum: &str,
    ) -> Result<Vec<String>, adapters::pint::BackendError> {
        self.0.known_chain(r, checksum).await
    }
    async fn accept(
        &self,
        t: &pint::CheckedTransfer,
        e: &[u8],
        d: &BTreeMap<String, Vec<u8>>,
    ) -> Result<(), adapters::pint::BackendError> {
        self.0.accept(t, e, d).await
    }
}
