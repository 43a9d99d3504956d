//! Deterministic simulation, 500 seeds per `cargo test`: 400 on the hash-chain stand-in (200
//! with 3 replicas, 200 with 5) and 100 on the real ledger (60 with 3 replicas, 40 with 5);
//! exact replay of any one seed; and a sweep of as many seeds as asked.
//!
//! ```text
//! SILKLINE_SIM_SEEDS=100000 cargo test -p sim --release --test sim sim_sweep -- --nocapture
//! ```

use sim::{self, MachineKind, SimReport};

/// Runs `seeds` and panics with the replay line of the first failing seed.
fn run_range(seeds: std::ops::Range<u64>, replicas: u64, machine: MachineKind) -> Vec<SimReport> {
    match sim::run_seeds_on(seeds, replicas, machine) {
        Ok(reports) => reports,
        Err(failure) => panic!("{failure}"),
    }
}

fn total(reports: &[SimReport], f: impl Fn(&SimReport) -> u64) -> u64 {
    reports.iter().map(f).sum()
}

/// Every fault the simulator claims to inject did happen somewhere in the range: a checker
/// that never sees a crash proves nothing about crashes.
fn assert_faults_exercised(reports: &[SimReport]) {
    assert!(total(reports, |r| r.crashes) > 0, "no crash injected");
    assert!(
        total(reports, |r| r.crashes_in_write) > 0,
        "no crash inside a write"
    );
    assert!(
        total(reports, |r| r.restarts_with_state) > 0,
        "no restart with the whole state"
    );
    assert!(
        total(reports, |r| r.restarts_from_sync) > 0,
        "no restart from the last sync (writes after it lost)"
    );
    assert!(
        total(reports, |r| r.snapshots_taken) > 0,
        "no local snapshot"
    );
    assert!(
        total(reports, |r| r.snapshots_without_state) > 0,
        "no snapshot without state (durable state machine)"
    );
    assert!(
        total(reports, |r| r.entries_skipped) > 0,
        "no replay over a surviving SM"
    );
    assert!(
        total(reports, |r| r.snapshots_restored) > 0,
        "no snapshot catch-up"
    );
    assert!(total(reports, |r| r.dropped) > 0, "no message dropped");
    assert!(
        reports.iter().any(|r| r.joiner_caught_up),
        "no empty joiner caught up"
    );
    assert!(
        reports.iter().all(|r| r.final_applied > 0),
        "a run committed nothing"
    );
    // The exactly_one_possessor checker judged real decisions, both ways.
    assert!(
        total(reports, |r| r.workflow_committed) > 0,
        "no workflow command took effect"
    );
    assert!(
        total(reports, |r| r.workflow_refused) > 0,
        "no workflow command was refused"
    );
    // The linearizable_read checker judged reads, some asked again after a silent drop.
    assert!(total(reports, |r| r.reads_served) > 0, "no read served");
    assert!(total(reports, |r| r.reads_retried) > 0, "no read retried");
    // The answered_once checker judged the request layer's answers, to proposals and reads.
    assert!(
        total(reports, |r| r.requests_answered) > 0,
        "no request answered"
    );
}

/// On the ledger, also: acknowledgements to check against every chain, and membership
/// changes through governance (the joiner above; a removal here, where there are enough
/// voters for the ledger to allow one: with 3 founders it needs the joiner promoted first).
fn assert_ledger_exercised(reports: &[SimReport], removal: bool) {
    assert_faults_exercised(reports);
    assert!(
        reports
            .iter()
            .all(|r| r.machine == Some(MachineKind::Ledger)),
        "ran the ledger"
    );
    assert!(
        total(reports, |r| r.acknowledged) > 0,
        "no transaction acknowledged"
    );
    if removal {
        assert!(
            total(reports, |r| r.removed) > 0,
            "no founder removed by REMOVE_NODE"
        );
    }
}

#[test]
fn sim_hash_chain_3_replicas_first_half() {
    assert_faults_exercised(&run_range(0..100, 3, MachineKind::HashChain));
}

#[test]
fn sim_hash_chain_3_replicas_second_half() {
    assert_faults_exercised(&run_range(100..200, 3, MachineKind::HashChain));
}

#[test]
fn sim_hash_chain_5_replicas_first_half() {
    assert_faults_exercised(&run_range(1_000..1_100, 5, MachineKind::HashChain));
}

#[test]
fn sim_hash_chain_5_replicas_second_half() {
    assert_faults_exercised(&run_range(1_100..1_200, 5, MachineKind::HashChain));
}

#[test]
fn sim_ledger_3_replicas_first_half() {
    assert_ledger_exercised(&run_range(0..30, 3, MachineKind::Ledger), false);
}

#[test]
fn sim_ledger_3_replicas_second_half() {
    assert_ledger_exercised(&run_range(30..60, 3, MachineKind::Ledger), false);
}

#[test]
fn sim_ledger_5_replicas_first_half() {
    assert_ledger_exercised(&run_range(1_000..1_020, 5, MachineKind::Ledger), true);
}

#[test]
fn sim_ledger_5_replicas_second_half() {
    assert_ledger_exercised(&run_range(1_020..1_040, 5, MachineKind::Ledger), true);
}

/// Replays one seed (from `SILKLINE_SIM_SEED`, default 42; `SILKLINE_SIM_REPLICAS`, default 3;
/// `SILKLINE_SIM_MACHINE`, default hash-chain) twice and checks that both runs produced the
/// same event trace: a seed that does not replay exactly is a bug of its own.
#[test]
fn sim_replay() {
    let (seed, replicas, machine) = sim::replay_from_env();
    let first = sim::run_seed_on(seed, replicas, machine).unwrap_or_else(|f| panic!("{f}"));
    let second = sim::run_seed_on(seed, replicas, machine).unwrap_or_else(|f| panic!("{f}"));
    println!("{first:#?}");
    assert_eq!(first, second, "seed {seed} did not replay identically");
}

/// A sweep of `SILKLINE_SIM_SEEDS` seeds (default 20, so that `cargo test` keeps it short)
/// from `SILKLINE_SIM_SEED` (default 1,000,000, clear of the fixed ranges above), alternating
/// 3 and 5 replicas, one in four on the ledger. Every failure is printed with its replay line.
#[test]
fn sim_sweep() {
    let var = |name: &str| std::env::var(name).ok().and_then(|s| s.parse::<u64>().ok());
    let count = var(sim::SEEDS_ENV).unwrap_or(20);
    let first = var(sim::SEED_ENV).unwrap_or(1_000_000);
    let started = std::time::Instant::now();
    let summary = sim::sweep(first, count, 4);
    println!(
        "sweep of {count} seeds from {first}: {} hash-chain, {} ledger, {} failures, {:.1} s",
        summary.hash_chain_seeds,
        summary.ledger_seeds,
        summary.failures.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        summary.failures.is_empty(),
        "{} failing seeds; the first: {}",
        summary.failures.len(),
        summary.failures[0]
    );
}
