//! The sample bill the PDF reference renderings and the README's picture show: a to-order bill of
//! lading with every box of the form filled (`adapters/tests/data/pdf/sample-bill.json`), issued
//! to its shipper and endorsed to order of a bank, the state in which a bank is presented with it.
//! Shared by `tests/pdf.rs` and `examples/sample_bill.rs` (what `scripts/readme-images` runs).

use std::path::PathBuf;

use adapters::dcsa::PartyNames;
use adapters::pdf::RenderOptions;
use doc_workflow::{Command, DocumentId};
use serde_json::Value;

use crate::common::{World, carrier, id, party, shipper};

/// The sample's `transportDocumentReference`.
pub const SAMPLE_REFERENCE: &str = "SLK-SAMPLE-001";
/// The verification page's base URL the sample's QR code points at (RFC 2606's example domain).
pub const VERIFY_BASE_URL: &str = "https://verify.example.org";

/// Where the sample and the reference renderings live.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/pdf")
}

pub fn sample_content() -> Value {
    let path = data_dir().join("sample-bill.json");
    let text = std::fs::read_to_string(&path).expect("the sample bill is in tests/data/pdf");
    serde_json::from_str(&text).expect("the sample bill is JSON")
}

/// Issues the sample to the shipper, who endorses it to order of the bank.
pub fn sample_bill(world: &mut World) -> DocumentId {
    let id = id(SAMPLE_REFERENCE);
    world.ok(
        &carrier(),
        &id,
        Command::Issue {
            content: Some(sample_content()),
            issue_to: party("SHIPPER"),
        },
    );
    world.ok(
        &shipper(),
        &id,
        Command::EndorseToOrder { to: party("BANK") },
    );
    id
}

/// A copy with the bank's name from the node's party records and the QR code leading to the
/// verification page.
pub fn sample_options() -> RenderOptions {
    let mut names = PartyNames::default();
    names.insert(party("BANK"), "First Trade Bank");
    RenderOptions {
        switch_to_paper: false,
        names,
        verify_base_url: Some(VERIFY_BASE_URL.to_owned()),
    }
}
