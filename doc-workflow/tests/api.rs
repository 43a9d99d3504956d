//! The API surface the ledger relies on: stable codes, serialized forms and hashes.

use crate::common;

use std::collections::BTreeMap;

use common::*;
use doc_workflow::{Command, DocumentKey, Refusal, StateHash, Status, fold_state_hashes};
use sha2::{Digest, Sha256};

#[test]
fn refusal_codes_are_the_serialized_tag() {
    let mut w = World::default();
    let bl = w.issue("BL-API", Sample::ToOrder, &shipper());
    let refusals: Vec<Refusal> = vec![
        w.refused(&other(), &bl, Command::Sign),
        w.refused(
            &shipper(),
            &bl,
            Command::Transfer {
                to: party("SHIPPER"),
            },
        ),
        w.refused(&shipper(), &bl, Command::RejectTransfer { reason: None }),
        w.refused(&carrier(), &bl, Command::AcceptSurrender),
        w.refused(
            &carrier(),
            &id("BL-API2"),
            Command::Issue {
                content: Some(serde_json::json!({"transportDocumentTypeCode": "BOL"})),
                issue_to: party("SHIPPER"),
            },
        ),
        Refusal::CommentRequired,
    ];
    for refusal in refusals {
        let json = serde_json::to_value(&refusal).unwrap();
        assert_eq!(json["refusal"], refusal.code(), "{json}");
        let back: Refusal = serde_json::from_value(json).unwrap();
        assert_eq!(back, refusal);
        assert!(!refusal.to_string().is_empty());
    }
}

#[test]
fn state_hash_is_sha256_of_the_jcs_form() {
    let mut w = World::default();
    let bl = w.issue("BL-HASH", Sample::Straight, &consignee());
    let state = w.bill(&bl);
    let canonical = state.canonical_json();
    assert!(canonical.starts_with(r#"{"amendedBy":null,"amends":null,"carrier":"CARRIER","consignee":"CONSIGNEE","content":{"canonicalJson":"#), "{canonical}");
    let expected: [u8; 32] = Sha256::digest(canonical.as_bytes()).into();
    assert_eq!(state.state_hash(), StateHash(expected));
    assert_eq!(state.state_hash().to_string().len(), 64);

    // Any change changes the hash; serde round trip keeps it.
    let mut changed = state.clone();
    changed.sequence += 1;
    assert_ne!(changed.state_hash(), state.state_hash());
    let round: doc_workflow::DocumentState =
        serde_json::from_str(&serde_json::to_string(state).unwrap()).unwrap();
    assert_eq!(round.state_hash(), state.state_hash());
}

#[test]
fn folded_hash_depends_on_every_entry_but_not_on_insertion_order() {
    let mut w = World::default();
    w.issue("BL-F1", Sample::Straight, &consignee());
    w.issue("BL-F2", Sample::Blank, &shipper());
    let entries: Vec<(DocumentKey, StateHash)> = w
        .store
        .iter()
        .map(|(k, s)| (k.clone(), s.state_hash()))
        .collect();
    let forward: BTreeMap<_, _> = entries.iter().cloned().collect();
    let backward: BTreeMap<_, _> = entries.iter().rev().cloned().collect();
    assert_eq!(fold_state_hashes(&forward), fold_state_hashes(&backward));
    let mut fewer = forward.clone();
    fewer.pop_first();
    assert_ne!(fold_state_hashes(&fewer), fold_state_hashes(&forward));
    assert_ne!(
        fold_state_hashes(&BTreeMap::new()),
        fold_state_hashes(&forward)
    );
}

#[test]
fn events_and_commands_serialize_with_screaming_snake_names() {
    let mut w = World::default();
    let bl = w.issue("BL-EV", Sample::ToOrder, &shipper());
    let decision = w.ok(
        &shipper(),
        &bl,
        Command::EndorseToOrder { to: party("BANK") },
    );
    let event = serde_json::to_value(&decision.events[0]).unwrap();
    assert_eq!(event["kind"]["event"], "ENDORSED");
    assert_eq!(event["kind"]["mayEndorseFurther"], true);
    assert_eq!(event["document"]["class"], "TRANSPORT_DOCUMENT");
    assert_eq!(event["sequence"], 2);
    let status = serde_json::to_value(Status::PendingSurrenderForDelivery).unwrap();
    assert_eq!(status, "PENDING_SURRENDER_FOR_DELIVERY");
    for s in Status::ALL {
        assert_eq!(serde_json::to_value(s).unwrap(), s.code());
    }
}
