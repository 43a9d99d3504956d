//! PDF renderings read back with poppler's `pdftotext`/`pdfinfo`: every field, the chain, the
//! copy marking, pagination, determinism and the switch-to-paper rule.

mod common;

use std::path::Path;
use std::process::Command as Process;

use adapters::COPY_NOTICE;
use adapters::dcsa::{PartyNames, checksum};
use adapters::pdf::{PdfError, RenderOptions, render};
use anyhow::{Context, Result, ensure};
use common::*;
use doc_workflow::{AmendmentReason, Command, DocumentId, DocumentKey};
use serde_json::{Value, json};

/// The text of a PDF, as `pdftotext` reads it, with runs of whitespace collapsed to one space.
fn pdf_text(dir: &Path, name: &str, bytes: &[u8]) -> Result<String> {
    let path = dir.join(format!("{name}.pdf"));
    std::fs::write(&path, bytes)?;
    let out = Process::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .context("pdftotext (poppler-utils) must be installed; scripts/test installs it")?;
    ensure!(
        out.status.success(),
        "pdftotext failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(collapse(&String::from_utf8(out.stdout)?))
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn page_count(dir: &Path, name: &str, bytes: &[u8]) -> Result<usize> {
    let path = dir.join(format!("{name}.pdf"));
    std::fs::write(&path, bytes)?;
    let out = Process::new("pdfinfo").arg(&path).output()?;
    ensure!(out.status.success(), "pdfinfo failed");
    let info = String::from_utf8(out.stdout)?;
    let pages = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .context("pdfinfo prints Pages:")?;
    Ok(pages.trim().parse()?)
}

/// Every scalar of `value`, as the rendering prints it.
fn leaves(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => map.values().for_each(|v| leaves(v, out)),
        Value::Array(items) => items.iter().for_each(|v| leaves(v, out)),
        Value::String(s) => out.push(s.clone()),
        Value::Bool(b) => out.push(if *b { "yes" } else { "no" }.into()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Null => {}
    }
}

fn with_charges(reference: &str) -> Value {
    let mut doc = fixture_as("to-order-bill", reference);
    doc["charges"] = json!([
        {"chargeName": "Ocean freight", "currencyAmount": 2450.75, "currencyCode": "USD",
         "paymentTermCode": "PRE", "calculationBasis": "Per container", "unitPrice": 1225.375, "quantity": 2},
        {"chargeName": "Bunker adjustment factor", "currencyAmount": 310, "currencyCode": "EUR",
         "paymentTermCode": "COL", "calculationBasis": "Per shipment", "unitPrice": 310, "quantity": 1}
    ]);
    doc["transports"]["placeOfReceipt"] = json!({"UNLocationCode": "CNSGH"});
    doc["transports"]["placeOfDelivery"] = json!({"UNLocationCode": "DEDUS"});
    doc["receiptTypeAtOrigin"] = json!("CY");
    doc["deliveryTypeAtDestination"] = json!("SD");
    doc
}

fn issue(world: &mut World, reference: &str, content: Value, to: &str) -> DocumentId {
    let id = id(reference);
    world.ok(
        &carrier(),
        &id,
        Command::Issue {
            content: Some(content),
            issue_to: party(to),
        },
    );
    id
}

#[test]
fn a_copy_shows_every_field_the_chain_the_checksum_and_the_marking() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut world = World::default();
    let id = issue(
        &mut world,
        "SLK-PDF-1",
        with_charges("SLK-PDF-1"),
        "SHIPPER",
    );
    world.ok(
        &shipper(),
        &id,
        Command::EndorseToOrder { to: party("BANK") },
    );
    world.ok(
        &bank(),
        &id,
        Command::Endorse {
            to: party("CONSIGNEE"),
        },
    );
    world.ok(&consignee(), &id, Command::SurrenderForDelivery);
    world.ok(&carrier(), &id, Command::AcceptSurrender);
    let doc = world.bill(&id);
    let mut names = PartyNames::default();
    names.insert(party("BANK"), "First Trade Bank");
    let options = RenderOptions {
        switch_to_paper: false,
        names,
    };
    let bytes = render(doc, world.bill_history(&id), &options)?;
    assert!(bytes.starts_with(b"%PDF-"));
    let text = pdf_text(dir.path(), "copy", &bytes)?;

    assert!(text.contains("BILL OF LADING"), "{text}");
    assert!(text.contains(COPY_NOTICE), "{text}");
    assert!(!text.contains("CHANGE OF MEDIUM"));
    let content = doc.content.as_ref().unwrap().json();
    assert!(text.contains(&checksum(&content)), "checksum missing");

    let mut values = Vec::new();
    leaves(&content, &mut values);
    for value in values {
        assert!(
            text.contains(&collapse(&value)),
            "content value {value:?} is missing from the PDF"
        );
    }
    for label in [
        "Vessel Name",
        "Port Of Loading",
        "UN Location Code",
        "Place Of Delivery",
        "Equipment Reference",
        "Seals 1",
        "Consignment Items 1",
        "Cargo Gross Weight",
        "Charges 2",
        "Currency Amount",
        "Issue Date",
        "Shipped On Board Date",
        "Notify Parties 1",
    ] {
        assert!(text.contains(label), "label {label:?} missing");
    }

    // The chain: every action, actor, recipient, time, block height and transaction hash.
    for line in [
        "1. ISSUE by Carrier Line A/S (CARRIER) -> Shipper Exports Ltd (SHIPPER)",
        "2. ENDORSE_TO_ORDER by Shipper Exports Ltd (SHIPPER) -> First Trade Bank (BANK)",
        "3. ENDORSE by First Trade Bank (BANK) -> CONSIGNEE",
        "4. SURRENDER_FOR_DELIVERY by CONSIGNEE -> Carrier Line A/S (CARRIER)",
        "5. SURRENDERED by Carrier Line A/S (CARRIER)",
        "at 2025-03-14T08:54:20.000Z, block height 11, position 0",
        "at 2025-03-14T08:58:20.000Z, block height 15, position 0",
    ] {
        assert!(text.contains(line), "{line:?} missing from {text}");
    }
    for entry in world.bill_history(&id) {
        assert!(text.contains(&format!("transaction {}", entry.tx_hash)));
    }
    assert!(text.contains("Status: SURRENDERED_FOR_DELIVERY"));
    Ok(())
}

#[test]
fn a_long_cargo_list_flows_onto_further_pages() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut content = fixture_as("sea-waybill", "SLK-PDF-LONG");
    let item = content["consignmentItems"][0].clone();
    let items: Vec<Value> = (0..100)
        .map(|i| {
            let mut item = item.clone();
            item["descriptionOfGoods"] = json!([format!("Cargo line number {i:03}")]);
            item
        })
        .collect();
    content["consignmentItems"] = Value::Array(items);
    let mut world = World::default();
    let id = issue(&mut world, "SLK-PDF-LONG", content, "SHIPPER");
    let bytes = render(
        world.bill(&id),
        world.bill_history(&id),
        &RenderOptions::default(),
    )?;
    let pages = page_count(dir.path(), "long", &bytes)?;
    assert!(pages > 1, "{pages} page(s)");
    let text = pdf_text(dir.path(), "long", &bytes)?;
    assert!(text.contains("SEA WAYBILL"));
    // Every item is there, the last on a later page, and every page carries the marking.
    for i in [0, 57, 99] {
        assert!(text.contains(&format!("Cargo line number {i:03}")));
    }
    // The marking heads every page; the first page's header repeats it beside the QR code.
    assert_eq!(text.matches(COPY_NOTICE).count(), pages + 1);
    assert!(text.contains(&format!("page {pages} of {pages}")));
    Ok(())
}

#[test]
fn the_same_input_gives_the_same_bytes() -> Result<()> {
    let mut world = World::default();
    let a = to_order_lifecycle(&mut world, "SLK-PDF-A");
    let b = to_order_lifecycle(&mut world, "SLK-PDF-B");
    let options = RenderOptions::default();
    let first = render(world.bill(&a), world.bill_history(&a), &options)?;
    let other = render(world.bill(&b), world.bill_history(&b), &options)?;
    let again = render(world.bill(&a), world.bill_history(&a), &options)?;
    assert_eq!(first, again);
    assert_ne!(first, other);
    Ok(())
}

fn surrender_for_amendment(
    world: &mut World,
    reference: &str,
    reason: AmendmentReason,
) -> DocumentId {
    let id = issue(
        world,
        reference,
        fixture_as("straight-bill", reference),
        "SHIPPER",
    );
    world.ok(&shipper(), &id, Command::SurrenderForAmendment { reason });
    id
}

fn refusal(result: Result<Vec<u8>, PdfError>) -> String {
    match result {
        Err(e @ PdfError::SwitchToPaperRefused { .. }) => e.to_string(),
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("switch to paper was rendered"),
    }
}

#[test]
fn switch_to_paper_is_refused_unless_the_surrender_for_it_was_accepted() {
    let paper = RenderOptions {
        switch_to_paper: true,
        names: PartyNames::default(),
    };
    let mut world = World::default();

    // An issued bill: nothing was surrendered.
    let issued = issue(
        &mut world,
        "SLK-STP-1",
        fixture_as("straight-bill", "SLK-STP-1"),
        "SHIPPER",
    );
    let message = refusal(render(
        world.bill(&issued),
        world.bill_history(&issued),
        &paper,
    ));
    assert!(
        message.contains("SWITCH_TO_PAPER") && message.contains("ISSUED"),
        "{message}"
    );

    // Requested, not yet accepted.
    let pending = surrender_for_amendment(&mut world, "SLK-STP-2", AmendmentReason::SwitchToPaper);
    let message = refusal(render(
        world.bill(&pending),
        world.bill_history(&pending),
        &paper,
    ));
    assert!(
        message.contains("PENDING_SURRENDER_FOR_AMENDMENT"),
        "{message}"
    );

    // Accepted, but for a change of destination.
    let cod = surrender_for_amendment(
        &mut world,
        "SLK-STP-3",
        AmendmentReason::ChangeOfDestination,
    );
    world.ok(&carrier(), &cod, Command::AcceptSurrender);
    let message = refusal(render(world.bill(&cod), world.bill_history(&cod), &paper));
    assert!(
        message.contains("COD") && message.contains("not SWITCH_TO_PAPER"),
        "{message}"
    );

    // Rejected and back to ISSUED.
    let rejected = surrender_for_amendment(&mut world, "SLK-STP-4", AmendmentReason::SwitchToPaper);
    world.ok(
        &carrier(),
        &rejected,
        Command::RejectSurrender {
            comment: "no".into(),
        },
    );
    refusal(render(
        world.bill(&rejected),
        world.bill_history(&rejected),
        &paper,
    ));

    // A sea waybill never changes medium.
    let swb = issue(
        &mut world,
        "SLK-STP-5",
        fixture_as("sea-waybill", "SLK-STP-5"),
        "SHIPPER",
    );
    let message = refusal(render(world.bill(&swb), world.bill_history(&swb), &paper));
    assert!(message.contains("only a bill of lading"), "{message}");

    // The state says accepted but the history given does not show it.
    let accepted = surrender_for_amendment(&mut world, "SLK-STP-6", AmendmentReason::SwitchToPaper);
    world.ok(&carrier(), &accepted, Command::AcceptSurrender);
    let partial = &world.bill_history(&accepted)[..1];
    let message = refusal(render(world.bill(&accepted), partial, &paper));
    assert!(message.contains("history"), "{message}");

    // A cargo release is not rendered at all.
    let delivered = to_order_lifecycle(&mut world, "SLK-STP-7");
    world.ok(
        &carrier(),
        &delivered,
        Command::ReleaseCargo {
            port: party("PORT"),
        },
    );
    let release = &world.store[&DocumentKey::cargo_release(delivered)];
    assert!(matches!(
        render(release, &[], &RenderOptions::default()),
        Err(PdfError::NotATransportDocument { .. })
    ));
}

#[test]
fn an_accepted_switch_to_paper_renders_the_change_of_medium_statement() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let paper = RenderOptions {
        switch_to_paper: true,
        names: PartyNames::default(),
    };
    let mut world = World::default();
    let id = surrender_for_amendment(&mut world, "SLK-STP-OK", AmendmentReason::SwitchToPaper);
    world.ok(&carrier(), &id, Command::AcceptSurrender);
    let bytes = render(world.bill(&id), world.bill_history(&id), &paper)?;
    let text = pdf_text(dir.path(), "paper", &bytes)?;
    assert!(
        text.contains("CHANGE OF MEDIUM (UNCITRAL MLETR art. 18)"),
        "{text}"
    );
    assert!(text.contains("made inoperative"));
    assert!(text.contains("PAPER ORIGINAL BY CHANGE OF MEDIUM"));
    assert!(
        !text.contains(COPY_NOTICE),
        "a paper original is not marked as a copy"
    );
    assert!(
        text.contains("Surrender for amendment (SWITCH_TO_PAPER) by Shipper Exports Ltd (SHIPPER)")
    );
    assert!(text.contains("Surrender accepted by Carrier Line A/S (CARRIER)"));
    assert!(text.contains("Consignee Imports GmbH"));

    // Once the carrier voids the electronic record (no replacement), the paper may still be printed;
    // the copy and the paper original of the same state differ.
    world.ok(&carrier(), &id, Command::Void { replacement: None });
    let voided = render(world.bill(&id), world.bill_history(&id), &paper)?;
    assert!(pdf_text(dir.path(), "voided", &voided)?.contains("Status: VOIDED"));
    let copy = render(
        world.bill(&id),
        world.bill_history(&id),
        &RenderOptions::default(),
    )?;
    assert_ne!(copy, voided);
    Ok(())
}
