//! DCSA eBL 3.0 JSON: checksum, import with problems by JSON pointer, export of the endorsement
//! chain from a lifecycle run through the real workflow engine.

use crate::common;

use adapters::dcsa::{
    self, ExportError, IMPORT_BYTES_MAX, PartyNames, checksum, parse_issuance_request,
    parse_transport_document, parse_transport_document_for,
};
use common::*;
use doc_workflow::{AmendmentReason, Command, DocumentId, DocumentKey, DocumentRef, Stage};
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

/// Every fixture, one of each kind DCSA's examples show.
const FIXTURES: [&str; 8] = [
    "to-order-bill",
    "straight-bill",
    "blank-bill",
    "sea-waybill",
    "received-for-shipment-bill",
    "dangerous-goods-bill",
    "reefer-bill",
    "bill-with-charges",
];

#[test]
fn every_fixture_imports_and_the_issuance_command_is_accepted() {
    for name in FIXTURES {
        let document = fixture(name);
        let bytes = serde_json::to_vec_pretty(&document).unwrap();
        let (parsed, valid) = parse_transport_document(&bytes, &party("CARRIER"), Stage::Issued)
            .unwrap_or_else(|p| panic!("{name}: {p:?}"));
        assert_eq!(parsed, document);
        assert_eq!(valid.record.sha256, checksum(&document));
        // Only DCSA's own dangerous-goods container number has a wrong ISO 6346 check digit.
        assert_eq!(
            valid.warnings.is_empty(),
            name != "dangerous-goods-bill",
            "{name}: {:?}",
            valid.warnings
        );

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
    // Problems the standard's schema finds...
    document["transportDocumentTypeCode"] = json!("XYZ");
    document["transports"]["portOfLoading"]["UNLocationCode"] = json!("shanghai");
    document["freightPaymentTermCode"] = json!("LATER");
    document["utilizedTransportEquipments"][0]["equipment"]["ISOEquipmentCode"] = json!(" 40 ft");
    document["consignmentItems"][0]["cargoItems"][0]["outerPackaging"]["numberOfPackages"] =
        json!(0);
    // Charges as the standard writes them: decimal JSON numbers.
    document["charges"] = json!([
        {"chargeName": "Ocean freight", "currencyAmount": 1250.5, "currencyCode": "USD",
         "paymentTermCode": "PRE", "calculationBasis": "Per container", "unitPrice": 625.25, "quantity": 2},
        {"chargeName": "", "currencyAmount": "abc", "currencyCode": "usd", "paymentTermCode": "X",
         "calculationBasis": "Per container", "unitPrice": 1, "quantity": 1}
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
    // Each problem is listed once (a field may break two rules, a pattern and a length), with
    // a message a person can act on.
    let mut unique: Vec<_> = problems.iter().map(|p| (&p.path, &p.message)).collect();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), problems.len(), "{problems:?}");
    assert!(problems.iter().all(|p| !p.message.is_empty()));
}

#[test]
fn import_reports_syntax_size_and_shape_at_the_root() {
    let carrier = party("CARRIER");
    let problems = parse_transport_document(b"{\n  \"a\": 1,\n  oops\n}", &carrier, Stage::Issued)
        .unwrap_err();
    assert_eq!(paths(&problems), [""]);
    assert!(problems[0].message.contains("line 3"), "{}", problems[0]);

    let huge = vec![b' '; IMPORT_BYTES_MAX + 1];
    let problems = parse_transport_document(&huge, &carrier, Stage::Issued).unwrap_err();
    assert!(problems[0].message.contains("bytes"), "{}", problems[0]);

    let problems = parse_issuance_request(b"[1, 2]", &carrier).unwrap_err();
    assert_eq!(paths(&problems), [""]);

    let problems = parse_issuance_request(b"{}", &carrier).unwrap_err();
    assert_eq!(paths(&problems), ["/issueTo", "/document"]);

    // A document issued by another carrier names the wrong issuing party.
    let bytes = serde_json::to_vec(&fixture("straight-bill")).unwrap();
    let problems = parse_transport_document(&bytes, &party("CARRIER2"), Stage::Issued).unwrap_err();
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
    let (_, valid) =
        parse_transport_document_for(&bytes, &named("SLK-STRAIGHT-001"), Stage::Issued).unwrap();
    assert_eq!(valid.document.reference.as_str(), "SLK-STRAIGHT-001");

    // The file is another bill than the one the command names; the DCSA checks still run
    // (the standard's schema first, then Silkline's rules).
    let mut document = fixture("straight-bill");
    document["freightPaymentTermCode"] = json!("LATER");
    let bytes = serde_json::to_vec(&document).unwrap();
    let problems =
        parse_transport_document_for(&bytes, &named("SLK-OTHER-001"), Stage::Issued).unwrap_err();
    assert_eq!(
        paths(&problems),
        ["/freightPaymentTermCode", "/transportDocumentReference"]
    );
    assert!(
        problems[1].message.contains("SLK-OTHER-001"),
        "{}",
        problems[1]
    );

    // A draft says DRAFT: the issued fixture is refused as one, by its status alone.
    let bytes = serde_json::to_vec(&fixture("straight-bill")).unwrap();
    let problems =
        parse_transport_document_for(&bytes, &named("SLK-STRAIGHT-001"), Stage::Draft).unwrap_err();
    assert_eq!(paths(&problems), ["/transportDocumentStatus"]);
}

fn codes(chain: &Value) -> Vec<&str> {
    chain["endorsementChain"]["endorsementChain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["actionCode"].as_str().unwrap())
        .collect()
}

/// The eBL 3.0 Endorsement Chain API's `EndorsementChain` (EBL_END 3.0.4), written from the
/// standard's schema as strict types: a field the standard does not define fails to parse,
/// unless it is one of the link extensions Silkline documents (`dcsa::export`).
mod standard {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct EndorsementChain {
        pub transport_document_reference: String,
        #[serde(default)]
        pub transport_document_sub_reference: Option<String>,
        #[serde(rename = "carrierSCACCode", default)]
        pub carrier_scac_code: Option<String>,
        #[serde(default)]
        pub endorsement_chain: Vec<Link>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct Link {
        pub action_date_time: String,
        pub action_code: String,
        pub actor: Party,
        #[serde(default)]
        pub recipient: Option<Party>,
        #[serde(default)]
        pub audit_reference: Option<String>,
        // Silkline's extensions, each documented on `dcsa::export`.
        #[serde(default)]
        pub pint_action_code: Option<String>,
        pub block_height: u64,
        pub position: u32,
        pub sequence: u64,
        pub transaction_hash: String,
        pub signer_fingerprint: String,
        #[serde(default)]
        pub reason_code: Option<String>,
        #[serde(default)]
        pub comments: Option<String>,
    }

    /// `ActorParty` and `RecipientParty` have the same shape.
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct Party {
        pub party_name: String,
        pub ebl_platform: String,
        pub identifying_codes: Vec<IdentifyingCode>,
        #[serde(default)]
        pub tax_legal_references: Option<Vec<serde_json::Value>>,
        #[serde(default)]
        pub represented_party: Option<serde_json::Value>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct IdentifyingCode {
        pub code_list_provider: String,
        pub party_code: String,
        #[serde(default)]
        pub code_list_name: Option<String>,
    }

    /// The endorsement chain's `actionCode` list (EBL_END 3.0.4, `EndorsementChainLink`).
    pub const ACTION_CODES: [&str; 9] = [
        "ISSUE",
        "ENDORSE",
        "SIGN",
        "SURRENDER_FOR_DELIVERY",
        "SURRENDER_FOR_AMENDMENT",
        "BLANK_ENDORSE",
        "ENDORSE_TO_ORDER",
        "TRANSFER",
        "SURRENDERED",
    ];

    /// PINT 3.0's `Transaction.actionCode` list (EBL_PINT 3.0.0).
    pub const PINT_ACTION_CODES: [&str; 10] = [
        "ISSUE",
        "TRANSFER",
        "ENDORSE",
        "ENDORSE_TO_ORDER",
        "BLANK_ENDORSE",
        "SURRENDER_FOR_DELIVERY",
        "SURRENDER_FOR_AMENDMENT",
        "SACC",
        "SREJ",
        "SIGN",
    ];

    /// The standard's pattern for names, references and comments: `^\S(?:.*\S)?$`.
    pub fn trimmed(s: &str) -> bool {
        !s.is_empty()
            && !s.starts_with(char::is_whitespace)
            && !s.ends_with(char::is_whitespace)
            && !s.contains(['\n', '\r'])
    }

    /// RFC 3339 in UTC with milliseconds, as PINT asks of `actionDateTime`.
    pub fn utc_millis(s: &str) -> bool {
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        b.len() == 24
            && digits(0..4)
            && b[4] == b'-'
            && digits(5..7)
            && b[7] == b'-'
            && digits(8..10)
            && b[10] == b'T'
            && digits(11..13)
            && b[13] == b':'
            && digits(14..16)
            && b[16] == b':'
            && digits(17..19)
            && b[19] == b'.'
            && digits(20..23)
            && b[23] == b'Z'
    }
}

/// Parses the export's chain as the standard's `EndorsementChain` and checks every length,
/// pattern and code the standard gives; returns it.
fn conforming_chain(export: &Value) -> standard::EndorsementChain {
    let chain: standard::EndorsementChain =
        serde_json::from_value(export["endorsementChain"].clone())
            .unwrap_or_else(|e| panic!("not the standard's EndorsementChain: {e}"));
    let reference = &chain.transport_document_reference;
    assert!(
        standard::trimmed(reference) && reference.chars().count() <= 20,
        "{reference}"
    );
    if let Some(sub) = &chain.transport_document_sub_reference {
        assert!(
            standard::trimmed(sub) && sub.chars().count() <= 100,
            "{sub}"
        );
    }
    if let Some(scac) = &chain.carrier_scac_code {
        assert!(
            !scac.is_empty() && scac.len() <= 4 && !scac.contains(char::is_whitespace),
            "{scac}"
        );
    }
    assert!(!chain.endorsement_chain.is_empty());
    for link in &chain.endorsement_chain {
        assert!(standard::utc_millis(&link.action_date_time), "{link:?}");
        assert!(link.action_code.len() <= 50);
        assert!(
            standard::ACTION_CODES.contains(&link.action_code.as_str())
                || link.action_code == "SREJ"
                || dcsa::SILKLINE_ACTION_CODES.contains(&link.action_code.as_str()),
            "{}",
            link.action_code
        );
        if let Some(code) = &link.pint_action_code {
            assert!(
                standard::PINT_ACTION_CODES.contains(&code.as_str()),
                "{code}"
            );
        }
        assert!(
            link.audit_reference
                .as_ref()
                .is_some_and(|a| a.len() <= 100)
        );
        // Silkline's extensions: the ledger coordinates that prove the link.
        let hex64 = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
        assert!(link.block_height > 0 && link.sequence > 0, "{link:?}");
        assert!(link.position < 1_000_000, "{link:?}");
        assert_eq!(link.audit_reference.as_ref(), Some(&link.transaction_hash));
        assert!(hex64(&link.transaction_hash) && hex64(&link.signer_fingerprint));
        for party in std::iter::once(&link.actor).chain(&link.recipient) {
            assert!(
                standard::trimmed(&party.party_name) && party.party_name.chars().count() <= 70,
                "{party:?}"
            );
            assert!(
                !party.ebl_platform.is_empty()
                    && party.ebl_platform.len() <= 4
                    && !party.ebl_platform.contains(char::is_whitespace),
                "{party:?}"
            );
            assert!(!party.identifying_codes.is_empty());
            for code in &party.identifying_codes {
                assert!(code.code_list_provider.len() <= 100 && code.party_code.len() <= 150);
                assert!(code.code_list_name.as_ref().is_none_or(|n| n.len() <= 100));
            }
            // Silkline records neither tax references nor parties acting on another's behalf.
            assert!(party.tax_legal_references.is_none() && party.represented_party.is_none());
        }
        if let Some(reason) = &link.reason_code {
            assert!(
                ["SWTP", "COD", "SWI"].contains(&reason.as_str()),
                "{reason}"
            );
        }
        if let Some(comments) = &link.comments {
            assert!(standard::trimmed(comments) && comments.chars().count() <= 255);
        }
    }
    chain
}

#[test]
fn every_chain_action_has_one_code_per_vocabulary() {
    for action in dcsa::ChainAction::ALL {
        let code = action.endorsement_chain_code();
        match action.pint_code() {
            // Where PINT names the action, the chain uses the endorsement chain's own code, or
            // PINT's where the endorsement chain has none.
            Some(pint) => {
                assert!(standard::PINT_ACTION_CODES.contains(&pint), "{pint}");
                assert!(
                    standard::ACTION_CODES.contains(&code) || code == pint,
                    "{action:?}: {code}"
                );
            }
            None => assert!(dcsa::SILKLINE_ACTION_CODES.contains(&code), "{code}"),
        }
    }
    use dcsa::ChainAction::*;
    assert_eq!(SurrenderAccepted.endorsement_chain_code(), "SURRENDERED");
    assert_eq!(SurrenderAccepted.pint_code(), Some("SACC"));
    assert_eq!(SurrenderRejected.endorsement_chain_code(), "SREJ");
    assert_eq!(SurrenderRejected.pint_code(), Some("SREJ"));
    // Every PINT code is reached by some action.
    for pint in standard::PINT_ACTION_CODES {
        assert!(
            dcsa::ChainAction::ALL
                .iter()
                .any(|a| a.pint_code() == Some(pint)),
            "{pint}"
        );
    }
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

    // The document says the ledger's status; set back to ISSUED it is the content as issued,
    // whose checksum the export gives; no status stands beside it.
    let mut document = export["transportDocument"].clone();
    assert_eq!(
        document["transportDocumentStatus"],
        "SURRENDERED_FOR_DELIVERY"
    );
    assert!(
        export.get("transportDocumentStatus").is_none(),
        "{export:#}"
    );
    document["transportDocumentStatus"] = "ISSUED".into();
    assert_eq!(document, fixture_as("to-order-bill", "SLK-EXP-1"));
    assert_eq!(export["documentChecksum"], dcsa::checksum(&document));
    let chain = conforming_chain(&export);
    assert_eq!(chain.transport_document_reference, "SLK-EXP-1");
    // The fixture names its carrier by SMDG code, which is not a SCAC: no carrierSCACCode.
    assert_eq!(
        export["transportDocument"]["carrierCodeListProvider"],
        "SMDG"
    );
    assert_eq!(chain.carrier_scac_code, None);
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
    assert_eq!(links[0]["pintActionCode"], "SACC");
    assert_eq!(links[1]["pintActionCode"], "SURRENDER_FOR_DELIVERY");
    let issue = &links[4];
    assert_eq!(issue["pintActionCode"], "ISSUE");
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
fn export_gives_the_carriers_scac_when_the_content_names_it_by_nmfta_code() {
    let mut world = World::default();
    let id = id("SLK-EXP-SCAC");
    let mut content = fixture_as("straight-bill", "SLK-EXP-SCAC");
    content["carrierCode"] = json!("SLKU");
    content["carrierCodeListProvider"] = json!("NMFTA");
    world.ok(
        &carrier(),
        &id,
        Command::Issue {
            content: Some(content),
            issue_to: party("SHIPPER"),
        },
    );
    let export = dcsa::export(
        world.bill(&id),
        world.bill_history(&id),
        &PartyNames::default(),
    )
    .unwrap();
    let chain = conforming_chain(&export);
    assert_eq!(chain.carrier_scac_code.as_deref(), Some("SLKU"));
    assert_eq!(export["endorsementChain"]["carrierSCACCode"], "SLKU");
    assert!(export["endorsementChain"].get("carrierSMDGCode").is_none());
    assert_eq!(
        dcsa::carrier_scac(&json!({"carrierCode": "CARR", "carrierCodeListProvider": "SMDG"})),
        None
    );
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
    conforming_chain(&export);
    assert_eq!(
        codes(&export),
        [
            "VOID",
            "SURRENDERED",
            "SURRENDER_FOR_AMENDMENT",
            "SIGN",
            "SREJ",
            "SURRENDER_FOR_AMENDMENT",
            "REJECT_TRANSFER",
            "TRANSFER",
            "ISSUE"
        ]
    );
    let links = export["endorsementChain"]["endorsementChain"]
        .as_array()
        .unwrap();
    let pint: Vec<Option<&str>> = links
        .iter()
        .map(|l| l.get("pintActionCode").and_then(Value::as_str))
        .collect();
    assert_eq!(
        pint,
        [
            None,
            Some("SACC"),
            Some("SURRENDER_FOR_AMENDMENT"),
            Some("SIGN"),
            Some("SREJ"),
            Some("SURRENDER_FOR_AMENDMENT"),
            None,
            Some("TRANSFER"),
            Some("ISSUE")
        ]
    );
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
    assert_eq!(
        export["transportDocument"]["transportDocumentStatus"],
        "VOIDED"
    );
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
