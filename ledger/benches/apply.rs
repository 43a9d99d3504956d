//! What one replica spends applying signed transactions, without Raft, network or API: the
//! floor under every node's cost per transaction.
//!
//! `cargo bench -p ledger --bench apply [-- BILLS]` pre-signs BILLS straight bills (issue, then
//! a transfer of each to the consignee), applies them in blocks of `BLOCK_TRANSACTIONS_MAX`,
//! then prechecks a fresh set as a receiving node would, and prints microseconds per
//! transaction for each phase. Figures and the command are in BENCHMARKS.md.

#[path = "../tests/chain_common/mod.rs"]
mod chain_common;

use std::time::Instant;

use chain_common::{GENESIS_MS, apply, codes, fixture, net};
use ledger::{LedgerReader, LedgerState};
use replication::batch::BATCH_PAYLOADS_MAX as BLOCK_TRANSACTIONS_MAX;
use serde_json::json;

/// The allocator the `silkline` binary runs with, so the figures are a node's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Most bills a run takes: every envelope is held in memory.
const BILLS_MAX: usize = 100_000;

fn main() -> anyhow::Result<()> {
    let bills: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(4096)
        .min(BILLS_MAX);
    let mut net = net()?;
    let mut state = net.state("bench")?;
    let at = GENESIS_MS + 60_000;
    let bill = fixture("straight-bill.json")?;
    let reference = |i: usize| format!("AB{i:08}");

    let mut issues = Vec::with_capacity(bills);
    let mut transfers = Vec::with_capacity(bills);
    let mut fresh = Vec::with_capacity(bills);
    for i in 0..bills {
        let mut content = bill.clone();
        content["transportDocumentReference"] = json!(reference(i));
        issues.push(net.doc_tx(
            "carrier",
            at,
            &reference(i),
            json!({"action": "ISSUE", "issueTo": "SHIPPER", "content": content.clone()}),
        )?);
        transfers.push(net.doc_tx(
            "shipper",
            at,
            &reference(i),
            json!({"action": "TRANSFER", "to": "CONSIGNEE"}),
        )?);
        content["transportDocumentReference"] = json!(reference(bills + i));
        fresh.push(net.doc_tx(
            "carrier",
            at,
            &reference(bills + i),
            json!({"action": "ISSUE", "issueTo": "SHIPPER", "content": content}),
        )?);
    }
    let bytes: usize = issues.iter().map(Vec::len).sum::<usize>() / bills.max(1);
    println!("{bills} bills, issue envelopes of {bytes} bytes on average");

    let started = Instant::now();
    apply_issue(&mut state, at, &issues)?;
    report("apply issue", issues.len(), started);
    let started = Instant::now();
    apply_transfer(&mut state, at, &transfers)?;
    report("apply transfer", transfers.len(), started);
    let started = Instant::now();
    precheck_issue(&state.reader(), at, &fresh)?;
    report("precheck issue", fresh.len(), started);
    // The same node then applies what its door just checked (the receiving node's apply).
    let started = Instant::now();
    apply_prechecked(&mut state, at, &fresh)?;
    report("apply prechecked", fresh.len(), started);
    Ok(())
}

// One function per phase, never inlined, so that a profile (`valgrind --tool=callgrind`, whose
// instruction counts repeat exactly) attributes each phase's cost by name.

#[inline(never)]
fn apply_issue(state: &mut LedgerState, at: u64, envelopes: &[Vec<u8>]) -> anyhow::Result<()> {
    apply_all("issue", state, at, envelopes)
}

#[inline(never)]
fn apply_transfer(state: &mut LedgerState, at: u64, envelopes: &[Vec<u8>]) -> anyhow::Result<()> {
    apply_all("transfer", state, at, envelopes)
}

#[inline(never)]
fn apply_prechecked(state: &mut LedgerState, at: u64, envelopes: &[Vec<u8>]) -> anyhow::Result<()> {
    apply_all("prechecked issue", state, at, envelopes)
}

fn apply_all(
    name: &str,
    state: &mut LedgerState,
    at: u64,
    envelopes: &[Vec<u8>],
) -> anyhow::Result<()> {
    for block in envelopes.chunks(BLOCK_TRANSACTIONS_MAX) {
        let refs: Vec<&Vec<u8>> = block.iter().collect();
        let applied = apply(state, at, &refs)?;
        let refused: Vec<String> = codes(&applied)
            .into_iter()
            .filter(|c| c != "COMMITTED")
            .collect();
        anyhow::ensure!(refused.is_empty(), "{name}: refused {refused:?}");
    }
    Ok(())
}

#[inline(never)]
fn precheck_issue(reader: &LedgerReader, at: u64, envelopes: &[Vec<u8>]) -> anyhow::Result<()> {
    for envelope in envelopes {
        let outcome = reader.precheck(envelope, at)?;
        anyhow::ensure!(outcome.is_committed(), "precheck refused: {outcome:?}");
    }
    Ok(())
}

fn report(name: &str, count: usize, started: Instant) {
    let elapsed = started.elapsed();
    println!(
        "{name:>16}: {:>8.1} us/tx  ({:.0} tx/s on one core)",
        elapsed.as_secs_f64() * 1e6 / count as f64,
        count as f64 / elapsed.as_secs_f64()
    );
}
