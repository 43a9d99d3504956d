//! Deterministic simulation: 700 seeds per `cargo test` (400 with 3 replicas, 300 with 5),
//! and exact replay of any one seed.

use sim::{self, SimReport};

/// Runs `seeds` and panics with the replay line of the first failing seed.
fn run_range(seeds: std::ops::Range<u64>, replicas: u64) -> Vec<SimReport> {
    match sim::run_seeds(seeds, replicas) {
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
        "no durable-SM restart"
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
}

#[test]
fn sim_seeds_3_replicas_first_half() {
    assert_faults_exercised(&run_range(0..200, 3));
}

#[test]
fn sim_seeds_3_replicas_second_half() {
    assert_faults_exercised(&run_range(200..400, 3));
}

#[test]
fn sim_seeds_5_replicas_first_half() {
    assert_faults_exercised(&run_range(1_000..1_150, 5));
}

#[test]
fn sim_seeds_5_replicas_second_half() {
    assert_faults_exercised(&run_range(1_150..1_300, 5));
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
