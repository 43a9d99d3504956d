//! DCSA eBL 3.0 JSON: checksum, import with problems by JSON pointer, export of the endorsement
//! chain from a lifecycle run through the real workflow engine.

mod common;

use adapters::dcsa::{
    self, ExportError, IMPORT_BYTES_MAX, PartyNames, checksum, parse_issuance_request,
    parse_transport_document, parse_transport_document_for,
};
use common::*;
use doc_workflow::{AmendmentReason, Command, DocumentId, DocumentKey, DocumentRef};
use serde_json::{Value, json};

#[test]
fn checksum_matches_the_ledgers_content_hash() {
    let mut world = World::default();
    let id = to_order_lifecycle(&mut world, "SLK-CHK-1");
    let record = world.bill(&id).content.clone().expect("a bill has content");
    assert_eq!(checksum(&record.json()), record.sha256);
    // Key order and whitespace of the submission do not change it.
    let pretty = serde_json::to_string_pretty(&fixture_as("to-order-bill", "SLK-CHK-1")).unwrap();
    let reparsed: Value = serde_json::from_str(&pretty).unwrap();
    assert_eq!(checksum(&reparsed), record.sha256);
    assert_eq!(record.sha256.len(), 64);
}

#[test]
fn every_fixture_imports_and_the_issuance_command_is_accepted() {
    for name in [
        "to-order-bill",
        "straight-bill",
        "blank-bill",
        "sea-waybill",
    ] {
        let document = fixture(name);
        let bytes = serde_json::to_vec_pretty(&document).unwrap();
        let (parsed, valid) = parse_transport_document(&bytes, &party("CARRIER"))
            .unwrap_or_else(|p| panic!("{name}: {p:?}"));
        assert_eq!(parsed, document);
        assert_eq!(valid.record.sha256, checksum(&document));

        let request = json!({
            "document": document,
            "issueTo": {
                "partyName": "Shipper Exports Ltd",
                "eblPlatform": "SLKN",
                "identifyingCodes": [{"codeListProvider": "SILKLINE", "partyCode": "SHIPPER"}]
            }
        });
        let issuance =
            parse_issuance_request(&serde_json::to_vec(&request).unwrap(), &party("CARRIER"))
                .unwrap_or_else(|p| panic!("{name}: {p:?}"));
        assert_eq!(issuance.issue_to, party("SHIPPER"));
        assert_eq!(issuance.id.carrier, party("CARRIER"));
        let mut world = World::default();
        let committed = world.ok(&carrier(), &issuance.id, issuance.command());
        assert_eq!(committed[0].event.kind.code(), "ISSUED");
        assert_eq!(world.bill(&issuance.id).possessor, Some(party("SHIPPER")));
    }
}

fn paths(problems: &[doc_workflow::ContentProblem]) -> Vec<&str> {
    problems.iter().map(|p| p.path.as_str()).collect()
}

#[test]
fn import_lists_every_problem_with_its_json_pointer() {
    let mut document = fixture("straight-bill");
    // Problems the workflow's validation finds...
    document["transportDocumentTypeCode"] = json!("XYZ");
    document["transports"]["portOfLoading"]["UNLocationCode"] = json!("shanghai");
    // ...and DCSA code lists only import checks.
    document["freightPaymentTermCode"] = json!("LATER");
    document["utilizedTransportEquipments"][0]["equipment"]["ISOEquipmentCode"] = json!("40 foot");
    document["consignmentItems"][0]["cargoItems"][0]["outerPackaging"]["numberOfPackages"] =
        json!(0);
    document["charges"] = json!([
        {"chargeName": "Ocean freight", "currencyAmount": "1250.50", "currencyCode": "USD",
         "paymentTermCode": "PRE", "calculationBasis": "Per container", "unitPrice": "625.25", "quantity": 2},
        {"chargeName": "", "currencyAmount": "abc", "currencyCode": "usd", "paymentTermCode": "X"}
    ]);
    document["transports"]["placeOfDelivery"] = json!({"UNLocationCode": "NL1"});
    let request = json!({"document": document, "issueTo": {"partyName": "Consignee"}});

    let problems =
        parse_issuance_request(&serde_json::to_vec(&request).unwrap(), &party("CARRIER"))
            .expect_err("the request has problems");
    let found = paths(&problems);
    for want in [
        "/document/transportDocumentTypeCode",
        "/document/transports/portOfLoading/UNLocationCode",
        "/document/freightPaymentTermCode",
        "/document/utilizedTransportEquipments/0/equipment/ISOEquipmentCode",
        "/document/consignmentItems/0/cargoItems/0/outerPackaging/numberOfPackages",
        "/document/charges/1/chargeName",
        "/document/charges/1/currencyAmount",
        "/document/charges/1/currencyCode",
        "/document/charges/1/paymentTermCode",
        "/document/transports/placeOfDelivery/UNLocationCode",
        "/issueTo/identifyingCodes",
    ] {
        assert!(found.contains(&want), "{want} missing from {found:?}");
    }
    // The valid first charge raises nothing.
    assert!(!found.iter().any(|p| p.starts_with("/document/charges/0")));
    // Each problem is listed once, with a message a person can act on.
    let mut unique = found.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), found.len(), "{found:?}");
    assert!(problems.iter().all(|p| !p.message.is_empty()));
}

#[test]
fn import_reports_syntax_size_and_shape_at_the_root() {
    let carrier = party("CARRIER");
    let problems = parse_transport_document(b"{\n  \"a\": 1,\n  oops\n}", &carrier).unwrap_err();
    assert_eq!(paths(&problems), [""]);
    assert!(problems[0].message.contains("line 3"), "{}", problems[0]);

    let huge = vec![b' '; IMPORT_BYTES_MAX + 1];
    let problems = parse_transport_document(&huge, &carrier).unwrap_err();
    assert!(problems[0].message.contains("bytes"), "{}", problems[0]);

    let problems = parse_issuance_request(b"[1, 2]", &carrier).unwrap_err();
    assert_eq!(paths(&problems), [""]);

    let problems = parse_issuance_request(b"{}", &carrier).unwrap_err();
    assert_eq!(paths(&problems), ["/issueTo", "/document"]);

    // A document issued by another carrier names the wrong issuing party.
    let bytes = serde_json::to_vec(&fixture("straight-bill")).unwrap();
    let problems = parse_transport_document(&bytes, &party("CARRIER2")).unwrap_err();
    assert_eq!(
        paths(&problems),
        ["/documentParties/issuingParty/identifyingCodes"]
    );
}

#[test]
fn import_for_a_document_checks_its_reference_too() {
    let bytes = serde_json::to_vec(&fixture("straight-bill")).unwrap();
    let named =
        |reference: &str| DocumentId::new(party("CARRIER"), DocumentRef::new(reference).unwrap());
    let (_, valid) = parse_transport_document_for(&bytes, &named("SLK-STRAIGHT-001")).unwrap();
    assert_eq!(valid.document.reference.as_str(), "SLK-STRAIGHT-001");

    // The file is another bill than the one the command names; the DCSA checks still run.
    let mut document = fixture("straight-bill");
    document["freightPaymentTermCode"] = json!("LATER");
    let bytes = serde_json::to_vec(&document).unwrap();
    let problems = parse_transport_document_for(&bytes, &named("SLK-OTHER-001")).unwrap_err();
    assert_eq!(
        paths(&problems),
        ["/transportDocumentReference", "/freightPaymentTermCode"]
    );
    assert!(
        problems[0].message.contains("SLK-OTHER-001"),
        "{}",
        problems[0]
    );
}

fn codes(chain: &Value) -> Vec<&str> {
    chain["endorsementChain"]["endorsementChain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["actionCode"].as_str().unwrap())
        .collect()
}

#[test]
fn export_carries_the_document_and_its_endorsement_chain_newest_first() {
    let mut world = World::default();
    let id = to_order_lifecycle(&mut world, "SLK-EXP-1");
    let doc = world.bill(&id);
    let history = world.bill_history(&id);
    let mut names = PartyNames::default();
    names.insert(party("BANK"), "First Trade Bank");
    names.insert(party("CONSIGNEE"), "Consignee Imports GmbH");
    let export = dcsa::export(doc, history, &names).unwrap();

    assert_eq!(
        export["transportDocumentStatus"],
        "SURRENDERED_FOR_DELIVERY"
    );
    assert_eq!(
        export["transportDocument"],
        fixture_as("to-order-bill", "SLK-EXP-1")
    );
    assert_eq!(
        export["documentChecksum"],
        checksum(&export["transportDocument"])
    );
    assert_eq!(
        export["endorsementChain"]["transportDocumentReference"],
        "SLK-EXP-1"
    );
    assert_eq!(export["endorsementChain"]["carrierSMDGCode"], "CARR");
    assert_eq!(
        codes(&export),
        [
            "SURRENDERED",
            "SURRENDER_FOR_DELIVERY",
            "ENDORSE",
            "ENDORSE_TO_ORDER",
            "ISSUE"
        ]
    );

    let links = export["endorsementChain"]["endorsementChain"]
        .as_array()
        .unwrap();
    let issue = &links[4];
    assert_eq!(issue["actor"]["partyName"], "Carrier Line A/S");
    assert_eq!(
        issue["actor"]["identifyingCodes"][0]["partyCode"],
        "CARRIER"
    );
    assert_eq!(issue["actor"]["eblPlatform"], dcsa::EBL_PLATFORM);
    assert_eq!(issue["recipient"]["partyName"], "Shipper Exports Ltd");
    assert_eq!(issue["actionDateTime"], "2025-03-14T08:54:20.000Z");
    assert_eq!(issue["blockHeight"], 11);
    let entry = &history[0];
    assert_eq!(issue["transactionHash"], entry.tx_hash.to_string());
    assert_eq!(issue["auditReference"], entry.tx_hash.to_string());
    assert_eq!(issue["signerFingerprint"], entry.signer_fingerprint);

    assert_eq!(links[3]["recipient"]["partyName"], "First Trade Bank");
    assert_eq!(links[2]["actor"]["partyName"], "First Trade Bank");
    assert_eq!(links[2]["recipient"]["partyName"], "Consignee Imports GmbH");
    // Surrender goes to the issuing carrier; SURRENDERED has no recipient.
    assert_eq!(
        links[1]["recipient"]["identifyingCodes"][0]["partyCode"],
        "CARRIER"
    );
    assert!(links[0].get("recipient").is_none());
    assert_eq!(links[0]["blockHeight"], 15);
    assert_eq!(links[0]["actionDateTime"], "2025-03-14T08:58:20.000Z");
    assert_eq!(export["silkline"]["copyNotice"], adapters::COPY_NOTICE);
}

#[test]
fn export_names_rejections_and_amendment_reasons() {
    let mut world = World::default();
    let id = id("SLK-EXP-2");
    world.ok(
        &carrier(),
        &id,
        Command::Issue {
            content: Some(fixture_as("straight-bill", "SLK-EXP-2")),
            issue_to: party("SHIPPER"),
        },
    );
    world.ok(
        &shipper(),
        &id,
        Command::Transfer {
            to: party("CONSIGNEE"),
        },
    );
    world.ok(
        &consignee(),
        &id,
        Command::RejectTransfer {
            reason: Some("not expected".into()),
        },
    );
    world.ok(
        &shipper(),
        &id,
        Command::SurrenderForAmendment {
            reason: AmendmentReason::SwitchToPaper,
        },
    );
    world.ok(
        &carrier(),
        &id,
        Command::RejectSurrender {
            comment: "sign first".into(),
        },
    );
    world.ok(&shipper(), &id, Command::Sign);
    world.ok(
        &shipper(),
        &id,
        Command::SurrenderForAmendment {
            reason: AmendmentReason::SwitchToPaper,
        },
    );
    world.ok(&carrier(), &id, Command::AcceptSurrender);
    world.ok(&carrier(), &id, Command::Void { replacement: None });

    let export = dcsa::export(
        world.bill(&id),
        world.bill_history(&id),
        &PartyNames::default(),
    )
    .unwrap();
    assert_eq!(
        codes(&export),
        [
            "VOID",
            "SURRENDERED",
            "SURRENDER_FOR_AMENDMENT",
            "SIGN",
            "SURRENDER_REJECTED",
            "SURRENDER_FOR_AMENDMENT",
            "REJECT_TRANSFER",
            "TRANSFER",
            "ISSUE"
        ]
    );
    let links = export["endorsementChain"]["endorsementChain"]
        .as_array()
        .unwrap();
    assert_eq!(links[2]["reasonCode"], "SWTP");
    assert_eq!(links[4]["comments"], "sign first");
    assert_eq!(
        links[4]["recipient"]["identifyingCodes"][0]["partyCode"],
        "SHIPPER"
    );
    assert_eq!(links[6]["comments"], "not expected");
    assert_eq!(
        links[6]["recipient"]["identifyingCodes"][0]["partyCode"],
        "SHIPPER"
    );
    for code in codes(&export) {
        let dcsa_code = [
            "ISSUE",
            "TRANSFER",
            "ENDORSE",
            "ENDORSE_TO_ORDER",
            "BLANK_ENDORSE",
            "SIGN",
            "SURRENDER_FOR_DELIVERY",
            "SURRENDER_FOR_AMENDMENT",
            "SURRENDERED",
        ]
        .contains(&code);
        assert!(
            dcsa_code || dcsa::SILKLINE_ACTION_CODES.contains(&code),
            "{code}"
        );
    }
    assert_eq!(export["transportDocumentStatus"], "VOIDED");
}

#[test]
fn export_refuses_foreign_or_disordered_history_and_documents_without_content() {
    let mut world = World::default();
    let a = to_order_lifecycle(&mut world, "SLK-EXP-A");
    let b = to_order_lifecycle(&mut world, "SLK-EXP-B");
    let names = PartyNames::default();

    let mut mixed = world.bill_history(&a).to_vec();
    mixed.push(world.bill_history(&b)[1].clone());
    assert!(matches!(
        dcsa::export(world.bill(&a), &mixed, &names),
        Err(ExportError::ForeignEntry { .. })
    ));

    let mut reversed = world.bill_history(&a).to_vec();
    reversed.reverse();
    assert!(matches!(
        dcsa::export(world.bill(&a), &reversed, &names),
        Err(ExportError::OutOfOrder { .. })
    ));

    // A cargo release carries no DCSA content.
    world.ok(
        &carrier(),
        &a,
        Command::ReleaseCargo {
            port: party("PORT"),
        },
    );
    let release = &world.store[&DocumentKey::cargo_release(a.clone())];
    assert!(matches!(
        dcsa::export(release, &[], &names),
        Err(ExportError::NoContent { .. })
    ));
}
