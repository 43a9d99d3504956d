//! Renders the sample bill of lading (`adapters/tests/data/pdf/sample-bill.json`, issued and
//! endorsed to order of a bank) to the PDF file named on the command line:
//!
//! ```text
//! cargo run -p adapters --example sample_bill -- OUT.pdf
//! ```
//!
//! `scripts/readme-images` turns its first page into the README's picture. It runs the same
//! workflow engine and renderer as the node, on the test harness's in-memory ledger.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/support/sample_bill.rs"]
mod sample_bill;

use anyhow::{Context, Result};

fn main() -> Result<()> {
    let out = std::env::args()
        .nth(1)
        .context("usage: sample_bill OUT.pdf")?;
    let mut world = common::World::default();
    let id = sample_bill::sample_bill(&mut world);
    let bytes = adapters::pdf::render(
        world.bill(&id),
        world.bill_history(&id),
        &sample_bill::sample_options(),
    )?;
    std::fs::write(&out, bytes).with_context(|| format!("writing {out}"))?;
    Ok(())
}
