//! The receiver's rules, one test per rule and per response code, on envelopes built by the
//! crate's own sender side and by hand where the sender side would refuse to build them.

#[path = "../src/testkit.rs"]
mod support;

use pint::model::{EnvelopeTransferFinishedResponse, ResponseCode};
use pint::{
    Leniency, ResponseError, TrustedPlatforms, build_entry, build_envelope, check_response,
    document_metadata, json_checksum, sign_response, signed_content_checksum,
};
use serde_json::{Value, json};
use support::*;

#[test]
fn rece_for_a_valid_envelope() {
    let w = World::new();
    let chain = w.chain();
    let t = w.check(&w.envelope(&chain), &[]).unwrap();
    assert_eq!(t.document_reference, "TDREF0001");
    assert_eq!(t.document_checksum, w.document_checksum());
    assert_eq!(t.last_entry_checksum, signed_content_checksum(&chain[1]));
    assert_eq!(t.sending_platform, SENDER_PLATFORM);
    assert_eq!(t.recipient_party, "BANK");
    assert_eq!(t.last_action, pint::ActionCode::Transfer);
    assert_eq!(t.entries.len(), 2);
    assert_eq!(t.entries[0].transactions[0].action, pint::ActionCode::Issue);
    assert_eq!(t.entries[1].signed_content, chain[1]);
    assert!(t.duplicate_of.is_none());
    assert_eq!(t.acceptance_code(), ResponseCode::Rece);
    assert!(t.expected_documents.is_empty());
}

#[test]
fn expected_documents_are_the_visualisation_then_the_supporting_ones() {
    let w = World::new();
    let chain = w.chain();
    let a = document_metadata("invoice.pdf", "application/pdf", b"invoice bytes");
    let b = document_metadata("packing.txt", "text/plain", b"packing list");
    let envelope = build_envelope(
        &w.sender.signer,
        &w.document,
        &chain,
        None,
        &[a.clone(), b.clone()],
    )
    .unwrap();
    let t = w.check(&envelope, &[]).unwrap();
    assert_eq!(
        t.expected_document_checksums(),
        vec![a.document_checksum, b.document_checksum]
    );
}

#[test]
fn dupe_for_an_identical_retry() {
    let w = World::new();
    let chain = w.chain();
    let envelope = w.envelope(&chain);
    let t = w.check(&envelope, &chain).unwrap();
    let d = t.duplicate_of.clone().expect("a duplicate");
    assert_eq!((d.index, d.identical), (1, true));
    assert_eq!(d.signed_content, chain[1]);
    assert_eq!(t.acceptance_code(), ResponseCode::Dupe);
}

#[test]
fn dupe_for_a_re_signed_last_entry() {
    let w = World::new();
    let chain = w.chain();
    // The same payload signed again (ECDSA: another signature, another checksum).
    let resigned = w
        .sender
        .signer
        .sign_bytes(&pint::jws::unverified_payload(&chain[1]).unwrap())
        .unwrap();
    assert_ne!(resigned, chain[1]);
    let new_chain = vec![chain[0].clone(), resigned];
    let t = w.check(&w.envelope(&new_chain), &chain).unwrap();
    let d = t.duplicate_of.expect("a duplicate");
    assert_eq!((d.index, d.identical), (1, false));
    assert_eq!(
        d.signed_content, chain[1],
        "DUPE names the entry accepted before"
    );
}

#[test]
fn dise_for_an_inserted_transaction() {
    let w = World::new();
    let chain = w.chain();
    // The conformance tool's "manipulate": a transaction inserted in the last entry, re-signed.
    let mut txs = vec![tx(
        "TRANSFER",
        &shipper(),
        Some(&party(SENDER_PLATFORM, "OTHER", "Other")),
        4,
    )];
    txs.push(tx("TRANSFER", &shipper(), Some(&bank()), 5));
    let manipulated = w.sender_entry(&chain[0], txs);
    let new_chain = vec![chain[0].clone(), manipulated];
    assert_eq!(
        refused(w.check(&w.envelope(&new_chain), &chain)),
        ("DISE".into(), "PINT_CHAIN_CONTRADICTS_HELD")
    );
}

#[test]
fn dise_for_a_different_earlier_entry() {
    let w = World::new();
    let chain = w.chain();
    let other0 = w.entry0_with(vec![tx("ISSUE", &carrier(), Some(&shipper()), 1)]);
    let other1 = w.sender_entry(&other0, vec![tx("TRANSFER", &shipper(), Some(&bank()), 5)]);
    assert_eq!(
        refused(w.check(&w.envelope(&[other0, other1]), &chain)).0,
        "DISE"
    );
}

#[test]
fn a_longer_chain_than_the_one_held_is_a_new_transfer() {
    // The bill left and came back: what is held is a prefix of what arrives.
    let w = World::new();
    let chain = w.chain();
    let held = vec![chain[0].clone()];
    let t = w.check(&w.envelope(&chain), &held).unwrap();
    assert!(t.duplicate_of.is_none());
}

#[test]
fn bsig_for_a_manifest_changed_after_signing() {
    let w = World::new();
    let chain = w.chain();
    let mut envelope: Value = serde_json::from_slice(&w.envelope(&chain)).unwrap();
    let manifest = envelope["envelopeManifestSignedContent"].as_str().unwrap();
    let tampered = tamper_payload(manifest, |m| {
        m["supportingDocuments"] = json!([{"name": "x", "size": 1, "mediaType": "text/plain",
            "documentChecksum": "0".repeat(64)}]);
    });
    envelope["envelopeManifestSignedContent"] = Value::String(tampered);
    let (code, rule) = refused(w.check(&serde_json::to_vec(&envelope).unwrap(), &[]));
    assert_eq!((code.as_str(), rule), ("BSIG", "PINT_JWS_BAD_SIGNATURE"));
}

#[test]
fn bsig_for_an_entry_signed_by_an_untrusted_key() {
    let w = World::new();
    let stranger = pinned_es256("stranger");
    let e0 = w.entry0();
    let e1 = build_entry(
        &stranger.signer,
        SENDER_PLATFORM,
        &w.document_checksum(),
        Some(&e0),
        None,
        &[tx("TRANSFER", &shipper(), Some(&bank()), 5)],
    )
    .unwrap();
    let envelope = build_envelope(&w.sender.signer, &w.document, &[e0, e1], None, &[]).unwrap();
    assert_eq!(refused(w.check(&envelope, &[])).0, "BSIG");
}

#[test]
fn bsig_for_an_unknown_platform() {
    let w = World::new();
    let e0 = w.entry0();
    let e1 = build_entry(
        &w.sender.signer,
        "ZZZZ",
        &w.document_checksum(),
        Some(&e0),
        None,
        &[tx("TRANSFER", &shipper(), Some(&bank()), 5)],
    )
    .unwrap();
    let envelope = build_envelope(&w.sender.signer, &w.document, &[e0, e1], None, &[]).unwrap();
    assert_eq!(
        refused(w.check(&envelope, &[])),
        ("BSIG".into(), "PINT_JWS_UNKNOWN_PLATFORM")
    );
}

#[test]
fn bsig_for_an_issuance_manifest_not_signed_by_the_carrier_platform() {
    let mut w = World::new();
    w.issuance_manifest =
        pint::sign_issuance_manifest(&w.sender.signer, &w.document, &shipper(), None).unwrap();
    let chain = w.chain();
    assert_eq!(refused(w.check(&w.envelope(&chain), &[])).0, "BSIG");
}

#[test]
fn benv_for_a_wrong_recipient_platform() {
    let w = World::new();
    let e0 = w.entry0();
    let elsewhere = party("CARX", "BANK", "Bank elsewhere");
    let e1 = w.sender_entry(&e0, vec![tx("TRANSFER", &shipper(), Some(&elsewhere), 5)]);
    assert_eq!(
        refused(w.check(&w.envelope(&[e0, e1]), &[])),
        ("BENV".into(), "PINT_WRONG_RECIPIENT_PLATFORM")
    );
}

#[test]
fn benv_for_an_unknown_party() {
    let w = World::new();
    let e0 = w.entry0();
    let nobody = party(HERE, "NOBODY", "Nobody");
    let e1 = w.sender_entry(&e0, vec![tx("TRANSFER", &shipper(), Some(&nobody), 5)]);
    assert_eq!(
        refused(w.check(&w.envelope(&[e0, e1]), &[])),
        ("BENV".into(), "PINT_UNKNOWN_RECIPIENT")
    );
}

#[test]
fn benv_for_a_broken_previous_entry_checksum() {
    let w = World::new();
    let e0 = w.entry0();
    let unrelated = w.entry0_with(vec![tx("ISSUE", &carrier(), Some(&shipper()), 2)]);
    // Entry 1 points at another entry 0 than the one in the chain.
    let e1 = w.sender_entry(
        &unrelated,
        vec![tx("TRANSFER", &shipper(), Some(&bank()), 5)],
    );
    assert_eq!(
        refused(w.check(&w.envelope(&[e0, e1]), &[])),
        ("BENV".into(), "PINT_PREVIOUS_ENTRY_CHECKSUM")
    );
}

#[test]
fn benv_for_a_manifest_document_checksum_mismatch() {
    let w = World::new();
    let chain = w.chain();
    // The manifest is signed over another document than the one sent.
    let other = json!({"transportDocumentReference": "TDREF0001", "changed": true});
    let mut envelope: Value = serde_json::from_slice(
        &build_envelope(&w.sender.signer, &other, &chain, None, &[]).unwrap(),
    )
    .unwrap();
    envelope["transportDocument"] = w.document.clone();
    assert_eq!(
        refused(w.check(&serde_json::to_vec(&envelope).unwrap(), &[])),
        ("BENV".into(), "PINT_MANIFEST_DOCUMENT_CHECKSUM")
    );
}

#[test]
fn benv_for_a_document_changed_under_the_chain() {
    let w = World::new();
    let chain = w.chain();
    let changed = json!({"transportDocumentReference": "TDREF0001", "changed": true});
    // The sender signs a manifest for the changed document; the chain still names the original.
    let envelope = build_envelope(&w.sender.signer, &changed, &chain, None, &[]).unwrap();
    assert_eq!(
        refused(w.check(&envelope, &[])),
        ("BENV".into(), "PINT_ISSUANCE_DOCUMENT_CHECKSUM")
    );
}

#[test]
fn benv_for_a_manifest_last_entry_mismatch() {
    let w = World::new();
    let chain = w.chain();
    let mut envelope: Value = serde_json::from_slice(&w.envelope(&chain[..1])).unwrap();
    envelope["envelopeTransferChain"] = json!(chain);
    // Signed by the carrier platform (the last entry's), over entry 0: the sender is WAVE.
    let r = refused(w.check(&serde_json::to_vec(&envelope).unwrap(), &[]));
    assert_eq!(r.0, "BENV");
    assert_eq!(r.1, "PINT_MANIFEST_LAST_ENTRY_CHECKSUM");
}

#[test]
fn benv_for_a_transaction_after_sacc() {
    let w = World::new();
    let e0 = w.entry0();
    let e1 = w.sender_entry(
        &e0,
        vec![
            tx("SURRENDER_FOR_DELIVERY", &shipper(), Some(&carrier()), 3),
            tx("SACC", &carrier(), Some(&shipper()), 4),
            tx("TRANSFER", &shipper(), Some(&bank()), 5),
        ],
    );
    assert_eq!(
        refused(w.check(&w.envelope(&[e0, e1]), &[])),
        ("BENV".into(), "PINT_TRANSACTION_AFTER_SACC")
    );
}

#[test]
fn benv_for_a_surrender_not_addressed_to_the_issuer() {
    let w = World::new();
    let e0 = w.entry0();
    let e1 = w.sender_entry(
        &e0,
        vec![tx("SURRENDER_FOR_DELIVERY", &shipper(), Some(&bank()), 5)],
    );
    assert_eq!(
        refused(w.check(&w.envelope(&[e0, e1]), &[])),
        ("BENV".into(), "PINT_SURRENDER_NOT_TO_ISSUER")
    );
}

#[test]
fn a_surrender_to_the_issuer_hosted_here_is_accepted() {
    // The bill comes home: the carrier is a party of this platform and issued it here.
    let w = World::new();
    let carrier_here = party(HERE, "CARRIER", "Carrier here");
    let here_signer = &w.here.signer;
    let manifest =
        pint::sign_issuance_manifest(here_signer, &w.document, &shipper(), None).unwrap();
    let e0 = build_entry(
        here_signer,
        HERE,
        &w.document_checksum(),
        None,
        Some(&manifest),
        &[tx("ISSUE", &carrier_here, Some(&shipper()), 0)],
    )
    .unwrap();
    let e1 = w.sender_entry(
        &e0,
        vec![tx(
            "SURRENDER_FOR_DELIVERY",
            &shipper(),
            Some(&carrier_here),
            5,
        )],
    );
    let t = w.check(&w.envelope(&[e0.clone(), e1]), &[e0]).unwrap();
    assert_eq!(t.recipient_party, "CARRIER");
    assert_eq!(t.last_action, pint::ActionCode::SurrenderForDelivery);
}

#[test]
fn benv_for_an_unknown_action_code_and_for_issue_out_of_place() {
    let w = World::new();
    let e0 = w.entry0();
    let e1 = w.sender_entry(&e0, vec![tx("TRNS", &shipper(), Some(&bank()), 5)]);
    assert_eq!(
        refused(w.check(&w.envelope(&[e0.clone(), e1]), &[])),
        ("BENV".into(), "PINT_UNKNOWN_ACTION_CODE")
    );
    let e1 = w.sender_entry(&e0, vec![tx("ISSUE", &shipper(), Some(&bank()), 5)]);
    assert_eq!(
        refused(w.check(&w.envelope(&[e0, e1]), &[])),
        ("BENV".into(), "PINT_ISSUE_NOT_FIRST")
    );
}

#[test]
fn benv_when_the_first_transaction_is_not_issue() {
    let w = World::new();
    let e0 = w.entry0_with(vec![tx("TRANSFER", &carrier(), Some(&bank()), 0)]);
    let envelope = build_envelope(&w.carrier.signer, &w.document, &[e0], None, &[]).unwrap();
    assert_eq!(
        refused(w.check(&envelope, &[])).1,
        "PINT_FIRST_TRANSACTION_NOT_ISSUE"
    );
}

#[test]
fn an_invalid_body_is_malformed_not_signed() {
    let w = World::new();
    assert_eq!(refused(w.check(b"{\"nope\":1}", &[])).0, "400");
    let mut envelope: Value = serde_json::from_slice(&w.envelope(&w.chain())).unwrap();
    envelope["transportDocument"]
        .as_object_mut()
        .unwrap()
        .remove("transportDocumentReference");
    assert_eq!(
        refused(w.check(&serde_json::to_vec(&envelope).unwrap(), &[])),
        ("400".into(), "PINT_DOCUMENT_WITHOUT_REFERENCE")
    );
}

#[test]
fn conformance_tool_deviations_need_the_switch() {
    let w = World::new();
    // The issuance manifest at the root, none in entry 0; every transaction says ISSUE with
    // the real action in the legacy `action` member.
    let mut t0 = tx("ISSUE", &carrier(), Some(&shipper()), 0);
    t0.action = Some("ISSU".into());
    let mut t1 = tx("ISSUE", &shipper(), Some(&bank()), 5);
    t1.action = Some("TRNS".into());
    let e0 = build_entry_unchecked(&w, None, vec![t0]);
    let e1 = build_entry_unchecked(&w, Some(&e0), vec![t1]);
    let mut envelope: Value = serde_json::from_slice(&w.envelope(&[e0, e1])).unwrap();
    envelope["issuanceManifestSignedContent"] = Value::String(w.issuance_manifest.clone());
    let bytes = serde_json::to_vec(&envelope).unwrap();

    assert_eq!(
        refused(w.check(&bytes, &[])).1,
        "PINT_ISSUANCE_MANIFEST_MISSING"
    );
    let only_root = Leniency {
        issuance_manifest_at_root: true,
        ..Leniency::STRICT
    };
    assert_eq!(
        refused(w.check_with(&bytes, &[], only_root)).1,
        "PINT_ISSUE_NOT_FIRST"
    );
    let t = w
        .check_with(&bytes, &[], Leniency::CONFORMANCE_TOOL)
        .unwrap();
    assert_eq!(t.last_action, pint::ActionCode::Transfer);
    assert_eq!(t.issuance_manifest_signed_content, w.issuance_manifest);
}

/// A chain entry as the conformance tool makes it: entry 0 without the issuance manifest
/// (which `build_entry` would refuse to build). Entry 0 by the carrier, others by the sender.
fn build_entry_unchecked(
    w: &World,
    previous: Option<&str>,
    transactions: Vec<pint::model::Transaction>,
) -> String {
    let (signer, platform) = match previous {
        None => (&w.carrier.signer, CARRIER_PLATFORM),
        Some(_) => (&w.sender.signer, SENDER_PLATFORM),
    };
    let entry = pint::model::EnvelopeTransferChainEntry {
        ebl_platform: platform.into(),
        transport_document_checksum: w.document_checksum(),
        previous_envelope_transfer_chain_entry_signed_content_checksum: previous
            .map(signed_content_checksum),
        issuance_manifest_signed_content: None,
        control_tracking_registry: None,
        transactions,
    };
    signer.sign_json(&entry).unwrap()
}

#[test]
fn chained_trust_checks_the_certificate_at_the_given_time() {
    // A Silkline network as sender: Ed25519 leaf with x5c, trusted by its root CA.
    let mut w = World::new();
    let expired = chained_ed25519("old", 2020);
    w.trusted
        .add_certificate_der("OLDS", &expired.trust_der)
        .unwrap();
    let e0 = w.entry0();
    let e1 = build_entry(
        &expired.signer,
        "OLDS",
        &w.document_checksum(),
        Some(&e0),
        None,
        &[tx("TRANSFER", &party("OLDS", "X", "X"), Some(&bank()), 5)],
    )
    .unwrap();
    let envelope =
        build_envelope(&expired.signer, &w.document, &[e0.clone(), e1], None, &[]).unwrap();
    assert_eq!(
        refused(w.check(&envelope, &[])),
        ("BSIG".into(), "PINT_JWS_UNTRUSTED_KEY")
    );

    let fresh = chained_ed25519("new", 4000);
    w.trusted
        .add_certificate_der("NEWS", &fresh.trust_der)
        .unwrap();
    let e1 = build_entry(
        &fresh.signer,
        "NEWS",
        &w.document_checksum(),
        Some(&e0),
        None,
        &[tx("TRANSFER", &party("NEWS", "X", "X"), Some(&bank()), 5)],
    )
    .unwrap();
    let envelope = build_envelope(&fresh.signer, &w.document, &[e0, e1], None, &[]).unwrap();
    assert_eq!(w.check(&envelope, &[]).unwrap().sending_platform, "NEWS");
}

#[test]
fn a_signature_verifies_only_for_the_platform_that_holds_the_certificate() {
    let w = World::new();
    let jws = w.sender.signer.sign_bytes(b"{\"a\":1}").unwrap();
    assert!(w.trusted.verify(SENDER_PLATFORM, &jws, NOW).is_ok());
    assert_eq!(
        w.trusted
            .verify(CARRIER_PLATFORM, &jws, NOW)
            .unwrap_err()
            .rule(),
        "PINT_JWS_UNTRUSTED_KEY"
    );
    let mut other = TrustedPlatforms::new();
    other
        .add_certificate_der(SENDER_PLATFORM, &pinned_es256("x").trust_der)
        .unwrap();
    assert!(other.verify(SENDER_PLATFORM, &jws, NOW).is_err());
}

#[test]
fn rs256_and_ps256_from_a_pinned_rsa_certificate() {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaKeyPair};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["rsa.example".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let mut trusted = TrustedPlatforms::new();
    trusted.add_certificate_der("RSAP", cert.der()).unwrap();
    let rsa = RsaKeyPair::from_pkcs8(&key.serialize_der()).unwrap();
    for (alg, padding) in [("RS256", &RSA_PKCS1_SHA256), ("PS256", &RSA_PSS_SHA256)] {
        let header = URL_SAFE_NO_PAD.encode(format!("{{\"alg\":\"{alg}\",\"kid\":\"anything\"}}"));
        let payload = URL_SAFE_NO_PAD.encode(b"{\"x\":1}");
        let input = format!("{header}.{payload}");
        let mut sig = vec![0; rsa.public_modulus_len()];
        rsa.sign(padding, &SystemRandom::new(), input.as_bytes(), &mut sig)
            .unwrap();
        let jws = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&sig));
        let v = trusted.verify("RSAP", &jws, NOW).unwrap();
        assert_eq!(v.payload, b"{\"x\":1}");
        let bad = format!("{input}.{}", URL_SAFE_NO_PAD.encode(vec![0u8; sig.len()]));
        assert_eq!(
            trusted.verify("RSAP", &bad, NOW).unwrap_err().rule(),
            "PINT_JWS_BAD_SIGNATURE"
        );
    }
}

#[test]
fn a_signed_answer_is_checked_against_the_receiving_platform() {
    let w = World::new();
    let chain = w.chain();
    let last = signed_content_checksum(&chain[1]);
    let response = EnvelopeTransferFinishedResponse {
        last_envelope_transfer_chain_entry_signed_content_checksum: last.clone(),
        response_code: ResponseCode::Rece,
        duplicate_of_accepted_envelope_transfer_chain_entry_signed_content: None,
        reason: None,
        missing_additional_document_checksums: None,
        received_additional_document_checksums: Some(vec![]),
    };
    let signed = sign_response(&w.here.signer, &response).unwrap();
    assert_eq!(
        check_response(&w.trusted, HERE, &signed, NOW, &last).unwrap(),
        response
    );
    assert!(matches!(
        check_response(&w.trusted, HERE, &signed, NOW, &"0".repeat(64)),
        Err(ResponseError::OtherEntry { .. })
    ));
    assert!(matches!(
        check_response(&w.trusted, SENDER_PLATFORM, &signed, NOW, &last),
        Err(ResponseError::Signature(_))
    ));
}

#[test]
fn the_document_checksum_is_sha256_of_rfc8785() {
    let doc = json!({"b": [1, 2.5, "x"], "a": {"z": null, "y": true}});
    assert_eq!(
        json_checksum(&doc),
        pint::sha256_hex(br#"{"a":{"y":true,"z":null},"b":[1,2.5,"x"]}"#)
    );
}

#[test]
fn response_codes_map_to_the_standard_http_statuses() {
    use ResponseCode::*;
    let got: Vec<(&str, u16)> = [Rece, Dupe, Bsig, Benv, Incd, Mdoc, Dise]
        .iter()
        .map(|c| (c.as_str(), c.http_status()))
        .collect();
    assert_eq!(
        got,
        [
            ("RECE", 200),
            ("DUPE", 200),
            ("BSIG", 422),
            ("BENV", 422),
            ("INCD", 409),
            ("MDOC", 409),
            ("DISE", 409)
        ]
    );
}

#[test]
fn documents_are_checked_against_the_manifest() {
    use std::collections::BTreeMap;
    let w = World::new();
    let chain = w.chain();
    let a = b"invoice bytes".to_vec();
    let b = b"packing list".to_vec();
    let ma = document_metadata("invoice.pdf", "application/pdf", &a);
    let mb = document_metadata("packing.txt", "text/plain", &b);
    let envelope = build_envelope(
        &w.sender.signer,
        &w.document,
        &chain,
        None,
        &[ma.clone(), mb.clone()],
    )
    .unwrap();
    let t = w.check(&envelope, &[]).unwrap();
    let mut docs = BTreeMap::new();
    docs.insert(ma.document_checksum.clone(), a.clone());
    let missing = pint::check_documents(&t, &docs).unwrap_err();
    assert_eq!(
        (missing.response_code(), missing.rule()),
        (ResponseCode::Mdoc, "PINT_DOCUMENTS_MISSING")
    );
    docs.insert(
        mb.document_checksum.clone(),
        b"not the packing list".to_vec(),
    );
    assert_eq!(
        pint::check_documents(&t, &docs).unwrap_err().rule(),
        "PINT_DOCUMENT_MISMATCH"
    );
    docs.insert(mb.document_checksum.clone(), b.clone());
    assert_eq!(pint::check_documents(&t, &docs), Ok(()));
    docs.insert(pint::sha256_hex(b"stray"), b"stray".to_vec());
    assert_eq!(
        pint::check_documents(&t, &docs)
            .unwrap_err()
            .response_code(),
        ResponseCode::Incd
    );
}

#[test]
fn the_verdict_is_the_same_on_every_call() {
    // What every replica relies on: the same inputs, the same verdict, field for field.
    let w = World::new();
    let chain = w.chain();
    let envelope = w.envelope(&chain);
    assert_eq!(w.check(&envelope, &[]), w.check(&envelope, &[]));
    assert_eq!(w.check(&envelope, &chain), w.check(&envelope, &chain));
    let tampered = {
        let mut e: Value = serde_json::from_slice(&envelope).unwrap();
        e["transportDocument"]["carrierCode"] = json!("XXX");
        serde_json::to_vec(&e).unwrap()
    };
    assert_eq!(w.check(&tampered, &[]), w.check(&tampered, &[]));
}

#[test]
fn conformance_tool_retries_keep_the_first_manifest_under_the_switch() {
    // The tool's RESIGN and MANIPULATE retries change the last entry but resend the manifest of
    // the first attempt, which names the entry accepted then.
    let w = World::new();
    let chain = w.chain();
    let first = w.envelope(&chain);
    let first_manifest =
        serde_json::from_slice::<Value>(&first).unwrap()["envelopeManifestSignedContent"].clone();
    let with_first_manifest = |new_chain: &[String]| {
        let mut e: Value = serde_json::from_slice(&w.envelope(new_chain)).unwrap();
        e["envelopeManifestSignedContent"] = first_manifest.clone();
        serde_json::to_vec(&e).unwrap()
    };
    let resigned = w
        .sender
        .signer
        .sign_bytes(&pint::jws::unverified_payload(&chain[1]).unwrap())
        .unwrap();
    let resign = with_first_manifest(&[chain[0].clone(), resigned]);
    assert_eq!(
        refused(w.check(&resign, &chain)).1,
        "PINT_MANIFEST_LAST_ENTRY_CHECKSUM"
    );
    let t = w
        .check_with(&resign, &chain, Leniency::CONFORMANCE_TOOL)
        .unwrap();
    assert_eq!(
        t.duplicate_of.map(|d| d.signed_content),
        Some(chain[1].clone())
    );

    let manipulated = w.sender_entry(
        &chain[0],
        vec![
            tx("SIGN", &shipper(), None, 4),
            tx("TRANSFER", &shipper(), Some(&bank()), 5),
        ],
    );
    let manipulate = with_first_manifest(&[chain[0].clone(), manipulated]);
    assert_eq!(
        refused(w.check_with(&manipulate, &chain, Leniency::CONFORMANCE_TOOL)).0,
        "DISE"
    );
    // Without a held chain, the switch changes nothing: the manifest must name the last entry.
    assert_eq!(
        refused(w.check_with(&manipulate, &[], Leniency::CONFORMANCE_TOOL)).1,
        "PINT_MANIFEST_LAST_ENTRY_CHECKSUM"
    );
}
