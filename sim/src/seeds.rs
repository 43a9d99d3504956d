//! Running seeds: one ([`run_seed`]), a range ([`run_seeds`]), the replay of the seed the
//! environment names ([`replay_from_env`]), and long sweeps ([`sweep`]). A failure carries its
//! seed, replica count and machine, and prints the command that replays it exactly.

use crate::machines::{ChainMachine, LedgerMachine, MachineKind, SimMachine};
use crate::runner::{SimConfig, SimFailure, SimReport, Simulation};

/// The environment variable naming the seed `sim_replay` runs.
pub const SEED_ENV: &str = "SILKLINE_SIM_SEED";
/// The environment variable naming the replica count `sim_replay` runs (default 3).
pub const REPLICAS_ENV: &str = "SILKLINE_SIM_REPLICAS";
/// The environment variable naming the machine `sim_replay` runs: `hash-chain` (default) or
/// `ledger`.
pub const MACHINE_ENV: &str = "SILKLINE_SIM_MACHINE";
/// The environment variable naming how many seeds `sim_sweep` runs.
pub const SEEDS_ENV: &str = "SILKLINE_SIM_SEEDS";

/// Runs one seed of the hash-chain machine with `replicas` founding voters.
pub fn run_seed(seed: u64, replicas: u64) -> Result<SimReport, SimFailure> {
    run_config(SimConfig::from_seed(seed, replicas))
}

/// Runs one seed on `machine`.
pub fn run_seed_on(
    seed: u64,
    replicas: u64,
    machine: MachineKind,
) -> Result<SimReport, SimFailure> {
    run_config(SimConfig::from_seed(seed, replicas).with_machine(machine))
}

/// Runs one configuration. A panic inside the run (raft-rs panics on an inconsistency it
/// detects, e.g. a commit index beyond its log) is reported as a failure of the property
/// `no_panic`, with the seed, like any other.
pub fn run_config(config: SimConfig) -> Result<SimReport, SimFailure> {
    let (seed, replicas, machine) = (config.seed, config.replicas, config.machine);
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match machine {
        MachineKind::HashChain => run_on::<ChainMachine>(config),
        MachineKind::Ledger => run_on::<LedgerMachine>(config),
    }));
    run.unwrap_or_else(|panic| {
        let detail = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "non-string panic".to_owned());
        Err(SimFailure {
            seed,
            replicas,
            machine,
            property: "no_panic",
            detail,
            at_ms: None,
        })
    })
}

fn run_on<M: SimMachine>(config: SimConfig) -> Result<SimReport, SimFailure> {
    Simulation::<M>::new(config)?.run()
}

/// Runs every seed in `seeds` of the hash-chain machine; the reports, or the first failure.
pub fn run_seeds(
    seeds: impl IntoIterator<Item = u64>,
    replicas: u64,
) -> Result<Vec<SimReport>, SimFailure> {
    run_seeds_on(seeds, replicas, MachineKind::HashChain)
}

/// Runs every seed in `seeds` on `machine`; the reports, or the first failure.
pub fn run_seeds_on(
    seeds: impl IntoIterator<Item = u64>,
    replicas: u64,
    machine: MachineKind,
) -> Result<Vec<SimReport>, SimFailure> {
    seeds
        .into_iter()
        .map(|s| run_seed_on(s, replicas, machine))
        .collect()
}

/// The seed, replica count and machine the environment names (defaults: 42, 3, hash-chain).
pub fn replay_from_env() -> (u64, u64, MachineKind) {
    let var = |name: &str| std::env::var(name).ok();
    let seed = var(SEED_ENV).map_or(42, |s| {
        s.parse()
            .unwrap_or_else(|_| panic!("{SEED_ENV} must be a u64"))
    });
    let replicas = var(REPLICAS_ENV).map_or(3, |s| {
        s.parse()
            .unwrap_or_else(|_| panic!("{REPLICAS_ENV} must be a u64"))
    });
    let machine = var(MACHINE_ENV).map_or(MachineKind::HashChain, |s| {
        MachineKind::from_name(&s)
            .unwrap_or_else(|| panic!("{MACHINE_ENV} must be hash-chain or ledger"))
    });
    (seed, replicas, machine)
}

/// A sweep's tally.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepSummary {
    /// Seeds run, by machine: hash chain, ledger.
    pub hash_chain_seeds: u64,
    pub ledger_seeds: u64,
    /// The failures, each with its replay line.
    pub failures: Vec<SimFailure>,
}

/// Seeds between two progress lines of a sweep.
const SWEEP_PROGRESS_SEEDS: u64 = 1_000;

/// Runs `count` seeds from `first`, alternating 3 and 5 replicas, one in `ledger_every` on
/// the ledger (the rest on the hash chain); keeps going past failures and returns them all.
pub fn sweep(first: u64, count: u64, ledger_every: u64) -> SweepSummary {
    let mut summary = SweepSummary::default();
    for seed in first..first + count {
        if seed > first && (seed - first).is_multiple_of(SWEEP_PROGRESS_SEEDS) {
            eprintln!(
                "sweep: {} seeds run, {} failures",
                seed - first,
                summary.failures.len()
            );
        }
        let replicas = if seed.is_multiple_of(2) { 3 } else { 5 };
        let machine = if ledger_every > 0 && seed.is_multiple_of(ledger_every) {
            summary.ledger_seeds += 1;
            MachineKind::Ledger
        } else {
            summary.hash_chain_seeds += 1;
            MachineKind::HashChain
        };
        if let Err(failure) = run_seed_on(seed, replicas, machine) {
            eprintln!("{failure}");
            summary.failures.push(failure);
        }
    }
    summary
}
