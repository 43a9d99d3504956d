//! DCSA content validation: the fixtures are valid DCSA eBL 3.0 documents that the engine
//! issues, the standard's schema refuses what it refuses with the field's JSON pointer, and
//! Silkline's own rules are the only ones added in Rust.

use crate::common;

use anyhow::Context as _;
use common::*;
use doc_workflow::content::{self, CONTENT_BYTES_MAX, Stage};
use doc_workflow::{Command, DocumentKind, DocumentRef, Mode, schema};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn problems_at(value: &Value, reference: &str, stage: Stage) -> Vec<(String, String)> {
    let reference = DocumentRef::new(reference).unwrap();
    match content::validate(value, &party("CARRIER"), Some(&reference), stage) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.into_iter().map(|p| (p.path, p.message)).collect(),
    }
}

fn problems(value: &Value, reference: &str) -> Vec<(String, String)> {
    problems_at(value, reference, Stage::Issued)
}

fn paths(value: &Value, reference: &str) -> Vec<String> {
    problems(value, reference)
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

fn fixture(file: &str) -> anyhow::Result<Value> {
    let path = fixtures_dir().join(file);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {file}"))
}

/// Every fixture, the kind and mode it is issued as, and whether it carries a warning.
const FIXTURES: [(&str, DocumentKind, Mode, bool); 8] = [
    (
        "straight-bill.json",
        DocumentKind::BillOfLading,
        Mode::Straight,
        false,
    ),
    (
        "to-order-bill.json",
        DocumentKind::BillOfLading,
        Mode::ToOrder,
        false,
    ),
    (
        "blank-bill.json",
        DocumentKind::BillOfLading,
        Mode::Blank,
        false,
    ),
    (
        "sea-waybill.json",
        DocumentKind::SeaWaybill,
        Mode::Straight,
        false,
    ),
    (
        "received-for-shipment-bill.json",
        DocumentKind::BillOfLading,
        Mode::Straight,
        false,
    ),
    // DCSA's own dangerous-goods container number, whose ISO 6346 check digit is wrong.
    (
        "dangerous-goods-bill.json",
        DocumentKind::BillOfLading,
        Mode::Blank,
        true,
    ),
    (
        "reefer-bill.json",
        DocumentKind::BillOfLading,
        Mode::ToOrder,
        false,
    ),
    (
        "bill-with-charges.json",
        DocumentKind::BillOfLading,
        Mode::Straight,
        false,
    ),
];

#[test]
fn every_fixture_is_valid_against_the_standard_and_silklines_rules() -> anyhow::Result<()> {
    for (file, kind, mode, warns) in FIXTURES {
        let value = fixture(file)?;
        assert_eq!(schema::problems(&value), [], "{file} against the schema");
        let valid = content::validate(&value, &party("CARRIER"), None, Stage::Issued)
            .map_err(|p| anyhow::anyhow!("{file} is invalid: {p:?}"))?;
        assert_eq!(
            (valid.document.kind, valid.document.mode()),
            (kind, mode),
            "{file}"
        );
        assert_eq!(
            !valid.warnings.is_empty(),
            warns,
            "{file}: {:?}",
            valid.warnings
        );
        assert_eq!(valid.document.shipper, party("SHIPPER"));
        assert_eq!(valid.document.issuing_party, party("CARRIER"));
        assert_eq!(valid.record.sha256.len(), 64);
        // The canonical text is a fixed point of the reference canonicalizer too.
        let again: Value = serde_json::from_str(&valid.record.canonical_json)?;
        assert_eq!(
            serde_json_canonicalizer::to_string(&again)?,
            valid.record.canonical_json
        );
    }
    Ok(())
}

#[test]
fn every_fixture_is_issued_by_the_engine_and_stored_verbatim() -> anyhow::Result<()> {
    let mut w = World::default();
    for (file, kind, mode, _) in FIXTURES {
        let value = fixture(file)?;
        let reference = value["transportDocumentReference"].as_str().unwrap();
        let bl = id(reference);
        w.ok(
            &carrier(),
            &bl,
            Command::Issue {
                content: Some(value.clone()),
                issue_to: party("SHIPPER"),
            },
        );
        let bill = w.bill(&bl);
        assert_eq!((bill.kind, bill.mode), (kind, Some(mode)), "{file}");
        let record = bill.content.as_ref().unwrap();
        assert_eq!(record.canonical_json, canonical_json::to_string(&value));
        assert_eq!(
            record.sha256,
            hex::encode(Sha256::digest(record.canonical_json.as_bytes()))
        );
    }
    Ok(())
}

#[test]
fn the_sample_builder_is_valid_for_every_kind() {
    for kind in [
        Sample::Straight,
        Sample::ToOrder,
        Sample::Blank,
        Sample::Waybill,
    ] {
        assert_eq!(
            problems(&sample("BL-1", kind), "BL-1"),
            Vec::<(String, String)>::new(),
            "{kind:?}"
        );
        assert_eq!(
            problems_at(&draft("BL-1", kind), "BL-1", Stage::Draft),
            Vec::<(String, String)>::new(),
            "{kind:?}"
        );
    }
}

/// The four fixtures as they were before they followed the standard: each of the fields the
/// standard requires and they lacked is named, and a weight written as a string is refused.
#[test]
fn the_old_fixtures_fourteen_problems_are_each_reported() {
    let mut doc = sample("BL-1", Sample::Straight);
    for field in [
        "transportDocumentStatus",
        "isShippedOnBoardType",
        "invoicePayableAt",
        "partyContactDetails",
        "termsAndConditions",
        "receiptTypeAtOrigin",
        "deliveryTypeAtDestination",
        "cargoMovementTypeAtOrigin",
        "cargoMovementTypeAtDestination",
    ] {
        doc.as_object_mut().unwrap().remove(field);
    }
    let transports = doc["transports"].as_object_mut().unwrap();
    transports.remove("plannedArrivalDate");
    transports.remove("plannedDepartureDate");
    doc["documentParties"]["issuingParty"]
        .as_object_mut()
        .unwrap()
        .remove("address");
    doc["consignmentItems"][0]
        .as_object_mut()
        .unwrap()
        .remove("carrierBookingReference");
    doc["consignmentItems"][0]["cargoItems"][0]["cargoGrossWeight"]["value"] = json!("12000.5");
    let found = problems(&doc, "BL-1");
    let expected = [
        ("/transportDocumentStatus", "is required"),
        ("/isShippedOnBoardType", "is required"),
        ("/invoicePayableAt", "is required"),
        ("/partyContactDetails", "is required"),
        ("/termsAndConditions", "is required"),
        ("/receiptTypeAtOrigin", "is required"),
        ("/deliveryTypeAtDestination", "is required"),
        ("/cargoMovementTypeAtOrigin", "is required"),
        ("/cargoMovementTypeAtDestination", "is required"),
        ("/transports/plannedArrivalDate", "is required"),
        ("/transports/plannedDepartureDate", "is required"),
        ("/documentParties/issuingParty/address", "is required"),
        ("/consignmentItems/0/carrierBookingReference", "is required"),
        (
            "/consignmentItems/0/cargoItems/0/cargoGrossWeight/value",
            "must be a number",
        ),
    ];
    for (path, message) in expected {
        assert!(
            found.iter().any(|(p, m)| p == path && m == message),
            "{path}: {message} missing from {found:#?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
}

#[test]
fn every_problem_is_listed_field_by_field() {
    let mut doc = sample("BL-1", Sample::Straight);
    doc["transportDocumentReference"] = json!("BL-2");
    doc["isElectronic"] = json!(false);
    doc["numberOfOriginalsWithoutCharges"] = json!(2);
    doc["carrierCodeListProvider"] = json!("IATA");
    doc["issueDate"] = json!("2025-02-30");
    doc["documentParties"]["shipper"]["identifyingCodes"] = json!([]);
    doc["documentParties"]["consignee"]["partyName"] = json!("");
    doc["transports"]["portOfDischarge"]["UNLocationCode"] = json!("NLRT0");
    doc["utilizedTransportEquipments"][1]["equipment"]["equipmentReference"] = json!("CARU1000003");
    doc["utilizedTransportEquipments"][0]["seals"] = json!([]);
    doc["consignmentItems"][0]["HSCodes"] = json!(["87"]);
    assert_eq!(
        paths(&doc, "BL-1"),
        [
            // The standard's schema, by pointer: an HS code too short and not all digits, a
            // blank name, an impossible date, a bad UN/LOCODE, a container without seals.
            "/carrierCodeListProvider",
            "/consignmentItems/0/HSCodes/0",
            "/consignmentItems/0/HSCodes/0",
            "/documentParties/consignee/partyName",
            "/issueDate",
            "/transports/portOfDischarge/UNLocationCode",
            "/utilizedTransportEquipments/0/seals",
            // Silkline's rules, in document order.
            "/transportDocumentReference",
            "/isElectronic",
            "/numberOfOriginalsWithCharges",
            "/documentParties/shipper/identifyingCodes",
            "/utilizedTransportEquipments/1/equipment/equipmentReference",
            "/consignmentItems/0/cargoItems/1/equipmentReference",
        ]
    );
    let all = problems(&doc, "BL-1");
    let date = all.iter().find(|(p, _)| p == "/issueDate").unwrap();
    assert_eq!(date.1, "must be a calendar date yyyy-mm-dd");
    let twice = &all[all.len() - 2];
    assert!(twice.1.contains("listed twice"), "{twice:?}");
    let unlisted = all.last().unwrap();
    assert!(
        unlisted
            .1
            .contains("is not one of the utilizedTransportEquipments"),
        "{unlisted:?}"
    );
}

#[test]
fn missing_required_fields_are_each_named() {
    let doc = json!({"transportDocumentReference": "BL-1"});
    let found = paths(&doc, "BL-1");
    for required in [
        "/transportDocumentTypeCode",
        "/transportDocumentStatus",
        "/isToOrder",
        "/isElectronic",
        "/carrierCode",
        "/carrierCodeListProvider",
        "/issueDate",
        "/shippedOnBoardDate",
        "/documentParties",
        "/transports",
        "/utilizedTransportEquipments",
        "/consignmentItems",
    ] {
        assert!(
            found.iter().any(|p| p == required),
            "{required} missing from {found:?}"
        );
    }
    assert_eq!(paths(&json!([1, 2]), "BL-1"), [""]);
}

#[test]
fn a_weight_written_as_a_string_is_refused() {
    let mut doc = sample("BL-1", Sample::Straight);
    doc["consignmentItems"][0]["cargoItems"][1]["cargoGrossWeight"]["value"] = json!("12000.5");
    assert_eq!(
        problems(&doc, "BL-1"),
        [(
            "/consignmentItems/0/cargoItems/1/cargoGrossWeight/value".to_owned(),
            "must be a number".to_owned()
        )]
    );
}

/// RFC 8785 writes a number as ECMAScript prints the double it denotes, so however a decimal
/// is spelled, every replica stores the same text, and the checksum is the same.
#[test]
fn decimal_numbers_are_accepted_and_canonicalize_identically() {
    let cases: [(&[&str], &str); 5] = [
        (&["0.1", "0.10", "1e-1", "0.100000000000000005551"], "0.1"),
        (&["1e21", "1E+21", "1000000000000000000000"], "1e+21"),
        (&["5e-324", "4.9406564584124654e-324"], "5e-324"),
        (&["-0", "-0.0", "0", "0e7"], "0"),
        (&["12000.5", "1.20005e4", "12000.50"], "12000.5"),
    ];
    for (spellings, canonical) in cases {
        let mut records = Vec::new();
        for spelling in spellings {
            // A reefer setpoint has no lower bound, so every value above is allowed there. The
            // number is spliced into the text as written, so the parser sees that spelling.
            let mut doc = sample("BL-1", Sample::Straight);
            doc["utilizedTransportEquipments"][0]["activeReeferSettings"] =
                json!({"temperatureSetpoint": "PROBE", "temperatureUnit": "CEL"});
            let text = serde_json::to_string(&doc)
                .unwrap()
                .replace(r#""PROBE""#, spelling);
            let doc: Value = serde_json::from_str(&text).unwrap();
            let valid = content::validate(&doc, &party("CARRIER"), None, Stage::Issued)
                .unwrap_or_else(|p| panic!("{spelling}: {p:?}"));
            let record = valid.record;
            assert!(
                record
                    .canonical_json
                    .contains(&format!(r#""temperatureSetpoint":{canonical},"#)),
                "{spelling} -> {}",
                record.canonical_json
            );
            // The reference canonicalizer agrees byte for byte, and so does the checksum.
            assert_eq!(
                serde_json_canonicalizer::to_string(&doc).unwrap(),
                record.canonical_json,
                "{spelling}"
            );
            assert_eq!(
                record.sha256,
                hex::encode(Sha256::digest(record.canonical_json.as_bytes()))
            );
            records.push(record);
        }
        assert!(
            records.windows(2).all(|w| w[0] == w[1]),
            "{spellings:?} canonicalize to different texts"
        );
    }
}

/// Decimal weights, charges and declared values go through the engine on two replicas and
/// reach the same state hash; the state holds them only inside the canonical text.
#[test]
fn replicas_issuing_decimal_content_agree() -> anyhow::Result<()> {
    let mut doc = fixture("bill-with-charges.json")?;
    doc["consignmentItems"][0]["cargoItems"][0]["cargoGrossWeight"]["value"] = json!(0.1);
    doc["charges"][0]["currencyAmount"] = json!(1e21);
    doc["charges"][1]["unitPrice"] = json!(5e-324);
    doc["declaredValue"] = json!(-0.0);
    let pretty = serde_json::to_string_pretty(&doc)?;
    let reparsed: Value = serde_json::from_str(&pretty)?;
    let (mut a, mut b) = (World::default(), World::default());
    let bl = id("SLK-CHARGES-001");
    for (world, content) in [(&mut a, doc), (&mut b, reparsed)] {
        world.ok(
            &carrier(),
            &bl,
            Command::Issue {
                content: Some(content),
                issue_to: party("SHIPPER"),
            },
        );
    }
    assert_eq!(a.root_hash(), b.root_hash());
    let text = &a.bill(&bl).content.as_ref().unwrap().canonical_json;
    for written in [
        r#""value":0.1}"#,
        r#""currencyAmount":1e+21,"#,
        r#""unitPrice":5e-324}"#,
        r#""declaredValue":0,"#,
    ] {
        assert!(text.contains(written), "{written} not in {text}");
    }
    Ok(())
}

#[test]
fn received_for_shipment_date_is_the_dcsa_field() {
    let mut doc = sample("BL-1", Sample::Straight);
    doc["isShippedOnBoardType"] = json!(false);
    doc.as_object_mut().unwrap().remove("shippedOnBoardDate");
    doc["receivedForShipmentDate"] = json!("2025-03-12");
    assert_eq!(paths(&doc, "BL-1"), Vec::<String>::new());

    // Both dates: not exactly one.
    doc["shippedOnBoardDate"] = json!("2025-03-13");
    assert_eq!(paths(&doc, "BL-1"), ["/receivedForShipmentDate"]);

    // A field DCSA does not define is no date at all.
    let obj = doc.as_object_mut().unwrap();
    obj.remove("shippedOnBoardDate");
    obj.remove("receivedForShipmentDate");
    obj.insert("receivedForShipmentOnBoardDate".into(), json!("2025-03-12"));
    assert_eq!(paths(&doc, "BL-1"), ["/shippedOnBoardDate"]);
}

#[test]
fn the_on_board_type_agrees_with_the_date_given() {
    let mut doc = sample("BL-1", Sample::Straight);
    doc["isShippedOnBoardType"] = json!(false);
    assert_eq!(paths(&doc, "BL-1"), ["/isShippedOnBoardType"]);
}

#[test]
fn the_status_inside_is_the_one_the_content_is_stored_under() {
    for status in ["DRAFT", "APPROVED", "SURRENDERED_FOR_DELIVERY"] {
        let mut doc = sample("BL-1", Sample::Straight);
        doc["transportDocumentStatus"] = json!(status);
        let found = problems(&doc, "BL-1");
        assert_eq!(found.len(), 1, "{status}: {found:?}");
        assert_eq!(found[0].0, "/transportDocumentStatus");
        assert!(found[0].1.contains("must say ISSUED"), "{found:?}");
    }
    assert_eq!(
        problems_at(&sample("BL-1", Sample::Straight), "BL-1", Stage::Draft)
            .into_iter()
            .map(|(p, _)| p)
            .collect::<Vec<_>>(),
        ["/transportDocumentStatus"]
    );
    // Through the engine: issuing content that says DRAFT is refused.
    let mut w = World::default();
    let refusal = w.refused(
        &carrier(),
        &id("BL-1"),
        Command::Issue {
            content: Some(draft("BL-1", Sample::Straight)),
            issue_to: party("SHIPPER"),
        },
    );
    assert_eq!(refusal.code(), "INVALID_CONTENT");
}

#[test]
fn a_port_may_be_named_without_a_un_locode() {
    let mut doc = sample("BL-1", Sample::Straight);
    doc["transports"]["portOfDischarge"] =
        json!({"locationName": "Europoort", "city": {"city": "Rotterdam", "countryCode": "NL"}});
    let valid = content::validate(&doc, &party("CARRIER"), None, Stage::Issued).unwrap();
    assert_eq!(valid.document.port_of_discharge, "Europoort, Rotterdam, NL");
    // A name alone is not a location the standard allows.
    doc["transports"]["portOfDischarge"] = json!({"locationName": "Europoort"});
    let found = problems(&doc, "BL-1");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "/transports/portOfDischarge");
    assert!(
        found[0].1.contains("needs one of UNLocationCode, city"),
        "{found:?}"
    );
}

#[test]
fn a_wrong_iso_6346_check_digit_is_a_warning_not_a_refusal() {
    let mut doc = sample("BL-1", Sample::Straight);
    doc["utilizedTransportEquipments"][0]["equipment"]["equipmentReference"] = json!("HLXU1234567");
    doc["consignmentItems"][0]["cargoItems"][0]["equipmentReference"] = json!("HLXU1234567");
    let valid = content::validate(&doc, &party("CARRIER"), None, Stage::Issued).unwrap();
    assert_eq!(valid.warnings.len(), 1, "{:?}", valid.warnings);
    assert_eq!(
        valid.warnings[0].path,
        "/utilizedTransportEquipments/0/equipment/equipmentReference"
    );
    assert!(valid.warnings[0].message.contains("check digit"));
    assert!(
        valid
            .document
            .containers
            .iter()
            .any(|c| c.as_str() == "HLXU1234567")
    );
}

#[test]
fn references_may_hold_what_the_standard_allows() {
    for reference in ["HHL 718/00", "Ö-€ #2", "A/B/C"] {
        let mut doc = sample(reference, Sample::Straight);
        doc["transportDocumentReference"] = json!(reference);
        assert_eq!(paths(&doc, reference), Vec::<String>::new(), "{reference}");
    }
    let mut doc = sample("BL-1", Sample::Straight);
    doc["transportDocumentReference"] = json!(" BL-1");
    assert!(
        paths(&doc, "BL-1")
            .iter()
            .all(|p| p == "/transportDocumentReference")
    );
}

#[test]
fn sea_waybill_is_never_to_order() {
    let mut doc = sample("SWB-1", Sample::Waybill);
    doc["isToOrder"] = json!(true);
    let found = problems(&doc, "SWB-1");
    assert!(found.iter().any(|(p, _)| p == "/isToOrder"), "{found:?}");
    doc["isToOrder"] = json!(false);
    doc["numberOfOriginalsWithCharges"] = json!(1);
    assert_eq!(paths(&doc, "SWB-1"), ["/numberOfOriginalsWithCharges"]);
}

#[test]
fn party_codes_come_from_the_silkline_identifying_code() {
    let mut doc = sample("BL-1", Sample::ToOrder);
    doc["documentParties"]["endorsee"]["identifyingCodes"] = json!([
        {"codeListProvider": "GLEIF", "partyCode": "5493001KJTIIGC8Y1R12"},
        {"codeListProvider": "SILKLINE", "partyCode": "BANK"}
    ]);
    let valid = content::validate(&doc, &party("CARRIER"), None, Stage::Issued).unwrap();
    assert_eq!(valid.document.endorsee, Some(party("BANK")));

    doc["documentParties"]["endorsee"]["identifyingCodes"][0]["codeListProvider"] =
        json!("SILKLINE");
    let found = problems(&doc, "BL-1");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, "/documentParties/endorsee/identifyingCodes");
    assert!(found[0].1.contains("exactly one"), "{found:?}");
    doc["documentParties"]["endorsee"]["identifyingCodes"][0]["partyCode"] =
        json!("no spaces allowed");
    assert_eq!(
        paths(&doc, "BL-1"),
        ["/documentParties/endorsee/identifyingCodes/0/partyCode"]
    );

    // The issuing party must be the document's carrier.
    let doc = sample("BL-1", Sample::Straight);
    let err = content::validate(&doc, &party("CARRIER2"), None, Stage::Issued).unwrap_err();
    assert_eq!(
        err[0].path,
        "/documentParties/issuingParty/identifyingCodes"
    );
}

#[test]
fn straight_bills_need_a_consignee_and_no_endorsee() {
    let mut doc = sample("BL-1", Sample::Straight);
    doc["documentParties"]
        .as_object_mut()
        .unwrap()
        .remove("consignee");
    doc["documentParties"]["endorsee"] = doc["documentParties"]["shipper"].clone();
    let found = problems(&doc, "BL-1");
    assert_eq!(
        found.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        ["/documentParties", "/documentParties/consignee"],
        "{found:?}"
    );
    assert!(found[0].1.contains("must not give endorsee"), "{found:?}");
    assert!(found[1].1.contains("non-negotiable"), "{found:?}");
}

#[test]
fn oversized_content_is_refused_whole() {
    let mut doc = sample("BL-1", Sample::Straight);
    doc["remarks"] = json!("x".repeat(CONTENT_BYTES_MAX));
    let found = problems(&doc, "BL-1");
    assert_eq!(found.len(), 1);
    assert!(found[0].1.contains("bytes"), "{found:?}");
}

#[test]
fn the_standards_array_limits_are_enforced() {
    let mut doc = sample("BL-1", Sample::Straight);
    doc["documentParties"]["notifyParties"] = json!(vec![json!({"partyName": "N"}); 4]);
    assert_eq!(paths(&doc, "BL-1"), ["/documentParties/notifyParties"]);
}

#[test]
fn canonical_content_is_independent_of_key_order_and_whitespace() {
    let doc = sample("BL-1", Sample::Blank);
    let text = serde_json::to_string_pretty(&doc).unwrap();
    let reordered: Value = serde_json::from_str(&text).unwrap();
    let a = content::validate(&doc, &party("CARRIER"), None, Stage::Issued).unwrap();
    let b = content::validate(&reordered, &party("CARRIER"), None, Stage::Issued).unwrap();
    assert_eq!(a.record, b.record);
}
