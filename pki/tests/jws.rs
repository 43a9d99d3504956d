//! JWS: the RFC 8037 Ed25519 example, round trips with both algorithms, and every refusal.

use crate::common;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::consortium;
use pki::jws::{self, Alg, JwsError};
use serde_json::json;

/// RFC 8037 appendix A.1 private key `d` and public key `x`; A.4 the JWS of
/// "Example of Ed25519 signing" with header {"alg":"EdDSA"}.
const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
const RFC8037_JWS: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

#[test]
fn rfc8037_a4_signature_is_reproduced_and_verifies() {
    let d = URL_SAFE_NO_PAD.decode(RFC8037_D).unwrap();
    let x = URL_SAFE_NO_PAD.decode(RFC8037_X).unwrap();
    let key = Ed25519KeyPair::from_seed_unchecked(&d).unwrap();
    assert_eq!(key.public_key().as_ref(), x.as_slice(), "A.1 public key");

    let (signing_input, signature_b64) = RFC8037_JWS.rsplit_once('.').unwrap();
    let header = URL_SAFE_NO_PAD
        .decode(signing_input.split('.').next().unwrap())
        .unwrap();
    assert_eq!(header, br#"{"alg":"EdDSA"}"#);
    // Ed25519 is deterministic: signing the same input must give the published signature.
    let ours = URL_SAFE_NO_PAD.encode(key.sign(signing_input.as_bytes()));
    assert_eq!(ours, signature_b64);

    let sig = URL_SAFE_NO_PAD.decode(signature_b64).unwrap();
    jws::verify_signature(Alg::EdDSA, &x, signing_input.as_bytes(), &sig).unwrap();
    let mut tampered = signing_input.as_bytes().to_vec();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(matches!(
        jws::verify_signature(Alg::EdDSA, &x, &tampered, &sig),
        Err(JwsError::BadSignature)
    ));
    // The published envelope carries no certificate, so Silkline's full check refuses it.
    assert!(matches!(
        jws::verify(RFC8037_JWS),
        Err(JwsError::BadChain(_))
    ));
}

fn payload() -> serde_json::Value {
    json!({"network": "dev", "nonce": "00ff", "command": {"action": "TRANSFER", "to": "BANK"},
           "notBefore": 1, "notAfter": 2, "note": "Größe €"})
}

#[test]
fn both_algorithms_round_trip_with_their_chain() {
    let (_d, c) = consortium();
    for (name, alg) in [("shipper", Alg::EdDSA), ("bank", Alg::ES256)] {
        let signer = c.signer(name).unwrap();
        assert_eq!(signer.alg(), alg);
        let compact = jws::sign(&payload(), &signer).unwrap();
        let verified = jws::verify(&compact).unwrap();
        assert_eq!(verified.alg, alg);
        assert_eq!(verified.value, payload());
        assert_eq!(
            verified.payload,
            pki::jcs::canonicalize(&payload()).unwrap().into_bytes()
        );
        assert_eq!(verified.chain.len(), signer.chain().len());
        // The identity behind it checks out against the trust store.
        let id = c
            .trust_store()
            .unwrap()
            .verify_identity(
                &verified.chain,
                (common::T0 + 1) as u64,
                pki::Purpose::SignTransaction,
            )
            .unwrap();
        assert_eq!(id.party.as_str(), name.to_uppercase());
        // The hash covers the signing input, so it is stable across re-parsing.
        assert_eq!(jws::parse(&compact).unwrap().tx_hash(), verified.tx_hash);
    }
}

fn parts(compact: &str) -> (String, String, String) {
    let mut it = compact.split('.');
    (
        it.next().unwrap().into(),
        it.next().unwrap().into(),
        it.next().unwrap().into(),
    )
}

#[test]
fn tampering_with_payload_header_or_signature_is_caught() {
    let (_d, c) = consortium();
    let compact = jws::sign(&payload(), &c.signer("shipper").unwrap()).unwrap();
    let (h, p, s) = parts(&compact);

    let mut other = payload();
    other["command"]["to"] = json!("CARRIER");
    let p2 = URL_SAFE_NO_PAD.encode(pki::jcs::canonicalize(&other).unwrap());
    assert!(matches!(
        jws::verify(&format!("{h}.{p2}.{s}")),
        Err(JwsError::BadSignature)
    ));

    // Another member's chain in the header with the original signature.
    let bank = jws::sign(&payload(), &c.signer("carrier").unwrap()).unwrap();
    let (h2, _, _) = parts(&bank);
    assert!(matches!(
        jws::verify(&format!("{h2}.{p}.{s}")),
        Err(JwsError::BadSignature)
    ));

    let mut sig = URL_SAFE_NO_PAD.decode(&s).unwrap();
    sig[10] ^= 0x40;
    let s2 = URL_SAFE_NO_PAD.encode(sig);
    assert!(matches!(
        jws::verify(&format!("{h}.{p}.{s2}")),
        Err(JwsError::BadSignature)
    ));
}

/// Builds an envelope by hand: header JSON and payload bytes as given, signed by the shipper.
fn hand_made(c: &pki::dev::Consortium, header: serde_json::Value, payload: &[u8]) -> String {
    hand_made_raw(c, &serde_json::to_vec(&header).unwrap(), payload)
}

/// As [`hand_made`], with the header's bytes as given (a `Value` cannot repeat a member).
fn hand_made_raw(c: &pki::dev::Consortium, header: &[u8], payload: &[u8]) -> String {
    let signer_key = std::fs::read_to_string(c.path(&c.identity("shipper").unwrap().key)).unwrap();
    let der = rustls_pki_types::pem::PemObject::from_pem_slice(signer_key.as_bytes())
        .map(|k: rustls_pki_types::PrivatePkcs8KeyDer<'_>| k.secret_pkcs8_der().to_vec())
        .unwrap();
    let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).unwrap();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let sig = URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()));
    format!("{input}.{sig}")
}

fn x5c(c: &pki::dev::Consortium, name: &str) -> Vec<String> {
    c.chain_der(name)
        .unwrap()
        .iter()
        .map(|d| STANDARD.encode(d))
        .collect()
}

#[test]
fn a_non_canonical_payload_is_refused_even_when_correctly_signed() {
    let (_d, c) = consortium();
    let header = json!({"alg": "EdDSA", "x5c": x5c(&c, "shipper")});
    // Correctly signed, but with whitespace and unsorted keys.
    let compact = hand_made(&c, header.clone(), br#"{"b": 1, "a": 2}"#);
    assert!(matches!(
        jws::verify(&compact),
        Err(JwsError::BadPayload(pki::jcs::CanonicalError::NotCanonical))
    ));
    let compact = hand_made(&c, header.clone(), b"not json");
    assert!(matches!(
        jws::verify(&compact),
        Err(JwsError::BadPayload(pki::jcs::CanonicalError::NotJson(_)))
    ));
    // The same content in canonical form passes: only the payload must be canonical.
    let compact = hand_made(&c, header, br#"{"a":2,"b":1}"#);
    jws::verify(&compact).unwrap();
}

#[test]
fn algorithms_and_header_members_outside_the_profile_are_refused() {
    let (_d, c) = consortium();
    let chain = x5c(&c, "shipper");
    let body = br#"{"a":1}"#;
    for alg in ["none", "HS256", "RS256", "ES384", "Ed25519"] {
        let compact = hand_made(&c, json!({"alg": alg, "x5c": chain}), body);
        assert!(
            matches!(jws::verify(&compact), Err(JwsError::UnsupportedAlg(ref a)) if a == alg),
            "{alg}"
        );
    }
    // ES256 claimed for an Ed25519 key.
    let compact = hand_made(&c, json!({"alg": "ES256", "x5c": chain}), body);
    assert!(matches!(
        jws::verify(&compact),
        Err(JwsError::AlgKeyMismatch { .. })
    ));
    for member in ["crit", "b64", "jku", "x5u", "jwk", "zip"] {
        let compact = hand_made(
            &c,
            json!({"alg": "EdDSA", "x5c": chain, member: ["x"]}),
            body,
        );
        assert!(
            matches!(jws::verify(&compact), Err(JwsError::ForbiddenHeaderMember(ref m)) if m == member),
            "{member}"
        );
    }
    // typ and kid are fine.
    let compact = hand_made(
        &c,
        json!({"kid": "k1", "typ": "JOSE", "x5c": chain, "alg": "EdDSA"}),
        body,
    );
    jws::verify(&compact).unwrap();
    // No x5c at all.
    let compact = hand_made(&c, json!({"alg": "EdDSA"}), body);
    assert!(matches!(jws::verify(&compact), Err(JwsError::BadChain(_))));
}

#[test]
fn malformed_and_oversized_envelopes_are_refused_before_any_crypto() {
    for bad in [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "!!.e30.AA",
        "eyJhbGciOiJFZERTQSJ9=.e30.AA",
    ] {
        assert!(
            matches!(jws::verify(bad), Err(JwsError::Malformed(_))),
            "{bad:?}"
        );
    }
    let header_not_object = format!("{}.e30.AA", URL_SAFE_NO_PAD.encode("[1]"));
    assert!(matches!(
        jws::verify(&header_not_object),
        Err(JwsError::BadHeader(_))
    ));
    let huge = "a".repeat(jws::JWS_BYTES_MAX + 1);
    assert!(matches!(jws::verify(&huge), Err(JwsError::TooLarge { .. })));
}

#[test]
fn a_signer_refuses_a_key_that_its_certificate_does_not_name() {
    let (_d, c) = consortium();
    let key = std::fs::read_to_string(c.path(&c.identity("shipper").unwrap().key)).unwrap();
    let other_chain =
        std::fs::read_to_string(c.path(&c.identity("carrier").unwrap().cert)).unwrap();
    assert!(matches!(
        pki::Signer::from_pem(&key, &other_chain),
        Err(JwsError::BadKey(_))
    ));
}

#[test]
fn x5t_s256_must_be_the_leaf_thumbprint_and_header_strings_must_be_strings() {
    use sha2::Digest as _;
    let (_d, c) = consortium();
    let chain = x5c(&c, "shipper");
    let leaf = c.chain_der("shipper").unwrap().remove(0);
    let right = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&leaf));
    let body = br#"{"a":1}"#;
    let ok = hand_made(
        &c,
        json!({"alg": "EdDSA", "x5c": chain, "x5t#S256": right}),
        body,
    );
    jws::verify(&ok).unwrap();
    let wrong = URL_SAFE_NO_PAD.encode([0u8; 32]);
    let bad = hand_made(
        &c,
        json!({"alg": "EdDSA", "x5c": chain, "x5t#S256": wrong}),
        body,
    );
    assert!(matches!(jws::verify(&bad), Err(JwsError::BadHeader(_))));
    let bad = hand_made(&c, json!({"alg": "EdDSA", "x5c": chain, "kid": 7}), body);
    assert!(matches!(jws::verify(&bad), Err(JwsError::BadHeader(_))));
}

#[test]
fn too_many_certificates_or_an_oversized_header_are_refused() {
    let (_d, c) = consortium();
    let leaf = x5c(&c, "shipper").remove(0);
    let five = vec![leaf.clone(); 5];
    let compact = hand_made(&c, json!({"alg": "EdDSA", "x5c": five}), br#"{"a":1}"#);
    assert!(matches!(jws::verify(&compact), Err(JwsError::BadChain(_))));
    let padding = "x".repeat(jws::HEADER_BYTES_MAX);
    let compact = hand_made(
        &c,
        json!({"alg": "EdDSA", "x5c": [leaf], "kid": padding}),
        br#"{"a":1}"#,
    );
    assert!(matches!(jws::verify(&compact), Err(JwsError::BadHeader(_))));
}

#[test]
fn a_header_that_names_a_member_twice_is_refused() {
    // RFC 7515 section 4: serde_json keeps the last `alg`, another verifier may keep the first,
    // and the two would read the same stored envelope differently.
    let (_d, c) = consortium();
    let x5c = serde_json::to_string(&x5c(&c, "shipper")).unwrap();
    let body = br#"{"a":1}"#;
    let cases = [
        (
            format!(r#"{{"alg":"none","alg":"EdDSA","x5c":{x5c}}}"#),
            "alg",
        ),
        (
            format!(r#"{{"alg":"EdDSA","x5c":{x5c},"alg":"none"}}"#),
            "alg",
        ),
        // The same value twice is refused too: the rule is on names, not on disagreement.
        (
            format!(r#"{{"alg":"EdDSA","alg":"EdDSA","x5c":{x5c}}}"#),
            "alg",
        ),
        (
            format!(r#"{{"alg":"EdDSA","x5c":{x5c},"x5c":{x5c}}}"#),
            "x5c",
        ),
        (
            format!(r#"{{"alg":"EdDSA","x5c":{x5c},"kid":"a","kid":"b"}}"#),
            "kid",
        ),
        // A name spelled with an escape is the same name once decoded.
        (
            format!(r#"{{"alg":"EdDSA","\u0061lg":"none","x5c":{x5c}}}"#),
            "alg",
        ),
        // Nested objects too, even inside a member that is refused anyway.
        (
            format!(r#"{{"alg":"EdDSA","x5c":{x5c},"jwk":{{"kty":"OKP","kty":"EC"}}}}"#),
            "kty",
        ),
    ];
    for (header, name) in cases {
        let compact = hand_made_raw(&c, header.as_bytes(), body);
        let refused = jws::parse(&compact);
        assert!(
            matches!(refused, Err(JwsError::DuplicateHeaderMember(ref n)) if n == name),
            "{header}: {refused:?}"
        );
        let message = jws::verify(&compact).unwrap_err().to_string();
        assert!(
            message.contains(name) && message.contains("more than once"),
            "{message}"
        );
    }
    // The same header with each member once is fine.
    let once = format!(r#"{{"alg":"EdDSA","kid":"a","x5c":{x5c}}}"#);
    jws::verify(&hand_made_raw(&c, once.as_bytes(), body)).unwrap();
}

#[test]
fn a_payload_that_names_a_member_twice_is_not_canonical() {
    // RFC 8785 output never repeats a member, so the canonical-form check already refuses a
    // payload that does, at any depth, whichever value a parser would keep.
    let (_d, c) = consortium();
    let header = json!({"alg": "EdDSA", "x5c": x5c(&c, "shipper")});
    for payload in [
        &br#"{"a":1,"a":1}"#[..],
        br#"{"a":1,"a":2}"#,
        br#"{"a":{"b":1,"b":2}}"#,
        br#"{"a":[{"b":1,"b":1}]}"#,
        br#"{"command":{"action":"SIGN"},"command":{"action":"VOID"}}"#,
    ] {
        let compact = hand_made(&c, header.clone(), payload);
        assert!(
            matches!(
                jws::verify(&compact),
                Err(JwsError::BadPayload(pki::jcs::CanonicalError::NotCanonical))
            ),
            "{}",
            String::from_utf8_lossy(payload)
        );
    }
}
