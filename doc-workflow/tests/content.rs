//! DCSA content validation: the fixtures are valid, and an invalid document lists every problem
//! field by field.

mod common;

use common::*;
use doc_workflow::content::{self, CONTENT_BYTES_MAX};
use doc_workflow::{DocumentKind, DocumentRef, Mode};
use serde_json::{Value, json};

fn problems(value: &Value, reference: &str) -> Vec<(String, String)> {
    let reference = DocumentRef::new(reference).unwrap();
    match content::validate(value, &party("CARRIER"), Some(&reference)) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.into_iter().map(|p| (p.path, p.message)).collect(),
    }
}

fn paths(value: &Value, reference: &str) -> Vec<String> {
    problems(value, reference)
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

#[test]
fn every_fixture_loads_and_validates() -> anyhow::Result<()> {
    use anyhow::Context;
    let expected = [
        (
            "straight-bill.json",
            DocumentKind::BillOfLading,
            Mode::Straight,
        ),
        (
            "to-order-bill.json",
            DocumentKind::BillOfLading,
            Mode::ToOrder,
        ),
        ("blank-bill.json", DocumentKind::BillOfLading, Mode::Blank),
        ("sea-waybill.json", DocumentKind::SeaWaybill, Mode::Straight),
    ];
    for (file, kind, mode) in expected {
        let path = fixtures_dir().join(file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let value: Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {file}"))?;
        let valid = content::validate(&value, &party("CARRIER"), None)
            .map_err(|p| anyhow::anyhow!("{file} is invalid: {p:?}"))?;
        assert_eq!(
            (valid.document.kind, valid.document.mode()),
            (kind, mode),
            "{file}"
        );
        assert_eq!(valid.document.shipper, party("SHIPPER"));
        assert_eq!(valid.document.issuing_party, party("CARRIER"));
        assert_eq!(valid.record.sha256.len(), 64);
        // The canonical text is a fixed point of canonicalization.
        let again: Value = serde_json::from_str(&valid.record.canonical_json)?;
        assert_eq!(
            serde_json_canonicalizer::to_string(&again)?,
            valid.record.canonical_json
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
    }
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
    doc["utilizedTransportEquipments"][1]["equipment"]["equipmentReference"] = json!("CARU1000010");
    doc["utilizedTransportEquipments"][0]["seals"] = json!([]);
    doc["consignmentItems"][0]["HSCodes"] = json!(["87"]);
    doc["consignmentItems"][0]["cargoItems"][0]["cargoGrossWeight"]["value"] = json!(1000.5);
    assert_eq!(
        paths(&doc, "BL-1"),
        [
            "/consignmentItems/0/cargoItems/0/cargoGrossWeight/value",
            "/transportDocumentReference",
            "/isElectronic",
            "/numberOfOriginalsWithCharges",
            "/carrierCodeListProvider",
            "/issueDate",
            "/documentParties/shipper/identifyingCodes",
            "/documentParties/consignee/partyName",
            "/transports/portOfDischarge/UNLocationCode",
            "/utilizedTransportEquipments/0/seals",
            "/utilizedTransportEquipments/1/equipment/equipmentReference",
            "/consignmentItems/0/HSCodes/0",
            "/consignmentItems/0/cargoItems/1/equipmentReference",
        ]
    );
    let all = problems(&doc, "BL-1");
    assert!(
        all[0].1.contains("write decimals as strings"),
        "{:?}",
        all[0]
    );
    assert!(all[10].1.contains("check digit"), "{:?}", all[10]);
}

#[test]
fn missing_required_fields_are_each_named() {
    let doc = json!({"transportDocumentReference": "BL-1"});
    let found = paths(&doc, "BL-1");
    for required in [
        "/transportDocumentTypeCode",
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
fn sea_waybill_is_never_to_order() {
    let mut doc = sample("SWB-1", Sample::Waybill);
    doc["isToOrder"] = json!(true);
    assert_eq!(paths(&doc, "SWB-1"), ["/isToOrder"]);
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
    let valid = content::validate(&doc, &party("CARRIER"), None).unwrap();
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
    let err = content::validate(&doc, &party("CARRIER2"), None).unwrap_err();
    assert_eq!(
        err[0].path,
        "/documentParties/issuingParty/identifyingCodes"
    );
}

#[test]
fn straight_bills_need_a_consignee_and_no_endorsee() {
    let mut doc = sample("BL-1", Sample::Straight);
    doc["documentParties"]["consignee"] = Value::Null;
    doc["documentParties"]["endorsee"] = doc["documentParties"]["shipper"].clone();
    assert_eq!(
        paths(&doc, "BL-1"),
        ["/documentParties/consignee", "/documentParties/endorsee"]
    );
}

#[test]
fn dates_need_exactly_one_on_board_date() {
    let mut doc = sample("BL-1", Sample::Straight);
    doc["receivedForShipmentOnBoardDate"] = json!("2025-03-12");
    assert_eq!(paths(&doc, "BL-1"), ["/receivedForShipmentOnBoardDate"]);
    doc["shippedOnBoardDate"] = Value::Null;
    assert!(paths(&doc, "BL-1").is_empty());
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
fn array_limits_are_enforced() {
    let mut doc = sample("BL-1", Sample::Straight);
    doc["documentParties"]["notifyParties"] = json!(vec![json!({"partyName": "N"}); 11]);
    assert_eq!(paths(&doc, "BL-1"), ["/documentParties/notifyParties"]);
}

#[test]
fn canonical_content_is_independent_of_key_order_and_whitespace() {
    let doc = sample("BL-1", Sample::Blank);
    let text = serde_json::to_string_pretty(&doc).unwrap();
    let reordered: Value = serde_json::from_str(&text).unwrap();
    let a = content::validate(&doc, &party("CARRIER"), None).unwrap();
    let b = content::validate(&reordered, &party("CARRIER"), None).unwrap();
    assert_eq!(a.record, b.record);
}
