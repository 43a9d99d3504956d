//! Deterministic simulation of a Silkline cluster: N replicas (3 or 5, plus an optional
//! late joiner) on one thread, in virtual time, over a seeded network that drops, duplicates,
//! reorders, delays and partitions, with crashes that lose whatever was not synced.
//!
//! What runs: the real [`Replica`](replication::replica::Replica) (the same `handle_ready` as
//! the tokio runtime) over the real [`LogStore`](replication::storage::LogStore), whose durable
//! layer is a [`SimDisk`](replication::storage::SimDisk), driving one of two state machines
//! ([`machines`]):
//!
//! - the production ledger, [`ledger::LedgerState`] on sled ([`LedgerMachine`]): clients submit
//!   transactions signed by a dev consortium's identities (issues, transfers, surrenders of a
//!   few bills, most refused by the rules; replays and reused nonces), so validation, blocks,
//!   state hashes and stored documents are the real ones; membership changes are signed
//!   `ADD_NODE`/`PROMOTE_NODE`/`REMOVE_NODE` transactions whose node set drives Raft; a crash
//!   reopens the replica's sled store as of its last sync (or whole);
//! - the stand-in [`ChainMachine`], a hash chain with unsigned workflow commands: fast, so it
//!   runs most seeds.
//!
//! Everything random comes from one [`SplitMix64`](replication::rng::SplitMix64) seeded by the
//! run's seed, including raft-rs's election timeouts (see
//! `ReplicaConfig::election_jitter_seed`); nothing reads the wall clock; every loop is bounded.
//! A failing seed prints the line that replays it exactly:
//!
//! ```text
//! SILKLINE_SIM_SEED=1234 SILKLINE_SIM_REPLICAS=3 SILKLINE_SIM_MACHINE=ledger \
//!   cargo test -p sim --test sim sim_replay -- --nocapture
//! ```
//!
//! and a long sweep runs as many seeds as asked (one in four on the ledger):
//!
//! ```text
//! SILKLINE_SIM_SEEDS=100000 cargo test -p sim --release --test sim sim_sweep -- --nocapture
//! ```
//!
//! One checker per property ([`checkers`]), each named in the failure: `election_safety`,
//! `committed_never_changes`, `state_agreement`, `exactly_one_possessor` (judged from the
//! machine's stored bills), `acknowledged_in_every_chain`, `linearizable_read` and
//! `read_needs_a_leader`, `answered_once`, `no_answer_after_stop` and `committed_own_entry` (the
//! answers of each replica's request layer, the production
//! [`Requests`](replication::runtime::requests::Requests), which the clients go through),
//! `liveness`.
//!
//! Layout: [`runner`] (the step loop, [`SimReport`]), [`config`] (a run's parameters),
//! [`seeds`] (running, replaying and sweeping seeds), `network` (the simulated network),
//! `faults` (crashes, partitions, heal), `clients` (proposals and reads through each replica's
//! request layer, membership requests), [`checkers`], [`machines`];
//! [`channel`] is the tokio runtime's in-process transport for other crates' tests.
//!
//! What this crate is not: part of the `silkline` binary. It is a dependency of tests only.

pub mod channel;
pub mod checkers;
mod clients;
pub mod config;
mod faults;
pub mod machines;
mod network;
pub mod runner;
pub mod seeds;

/// The stand-in machine's module, by its former path (`sim::chain::SimCommand`).
pub use machines::hash_chain as chain;

pub use channel::ChannelTransport;
pub use machines::{ChainMachine, LedgerMachine, MachineKind, SimMachine};
pub use runner::{SimConfig, SimFailure, SimReport, Simulation};
pub use seeds::{
    MACHINE_ENV, REPLICAS_ENV, SEED_ENV, SEEDS_ENV, SweepSummary, replay_from_env, run_config,
    run_seed, run_seed_on, run_seeds, run_seeds_on, sweep,
};
