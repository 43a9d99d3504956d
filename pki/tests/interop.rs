//! A JWS made by a different implementation (Python's `cryptography` package) verifies, and a
//! tampered one does not. CI installs the package (scripts/test); if it is missing, this test
//! fails and says so rather than passing silently.

use crate::common;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{T0, consortium};
use pki::jws::{self, Alg, JwsError};
use serde_json::json;

fn python_sign(c: &pki::dev::Consortium, name: &str, payload: &serde_json::Value) -> String {
    let id = c.identity(name).unwrap();
    let payload_file = c.dir().join(format!("{name}-payload.json"));
    std::fs::write(&payload_file, serde_json::to_vec(payload).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop_sign.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(c.path(&id.key))
        .arg(c.path(&id.cert))
        .arg(&payload_file)
        .output()
        .expect("python3 must be installed to run the JWS interoperability test");
    assert!(
        out.status.success(),
        "the Python signer failed (is the `cryptography` package installed? scripts/test \
         installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn envelopes_signed_by_python_cryptography_verify_and_tampered_ones_do_not() {
    let (_d, c) = consortium();
    let payload = json!({
        "network": "silkline-dev",
        "nonce": "4f1c2a9e0b7d4c3a",
        "notBefore": 1767225600000u64,
        "notAfter": 1767229200000u64,
        "document": {"carrier": "CARRIER", "reference": "SLK0001"},
        "command": {"action": "TRANSFER", "to": "BANK"}
    });
    for (name, alg) in [("shipper", Alg::EdDSA), ("bank", Alg::ES256)] {
        let compact = python_sign(&c, name, &payload);
        let verified = jws::verify(&compact).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(verified.alg, alg);
        assert_eq!(verified.value, payload);
        let id = c
            .trust_store()
            .unwrap()
            .verify_identity(
                &verified.chain,
                (T0 + 60) as u64,
                pki::Purpose::SignTransaction,
            )
            .unwrap();
        assert_eq!(id.party.as_str(), name.to_uppercase());

        // Change the recipient, keep the signature.
        let (h, rest) = compact.split_once('.').unwrap();
        let (_, s) = rest.split_once('.').unwrap();
        let mut forged = payload.clone();
        forged["command"]["to"] = json!("SHIPPER");
        let p = URL_SAFE_NO_PAD.encode(pki::jcs::canonicalize(&forged).unwrap());
        assert!(
            matches!(
                jws::verify(&format!("{h}.{p}.{s}")),
                Err(JwsError::BadSignature)
            ),
            "{name}: a tampered envelope must not verify"
        );
    }
}
