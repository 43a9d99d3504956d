//! What a run is made of: [`SimConfig`], derived from the seed.

use replication::rng::SplitMix64;

use crate::machines::MachineKind;

/// What a run is made of. Everything is derived from `seed` by [`SimConfig::from_seed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// The seed.
    pub seed: u64,
    /// Founding voters (ids `1..=replicas`).
    pub replicas: u64,
    /// The state machine the replicas run.
    pub machine: MachineKind,
    /// Whether a replica `replicas + 1` joins later (empty log: it catches up by snapshot).
    pub joiner: bool,
    /// Local snapshot every this many applied entries (small, so that compaction happens).
    pub snapshot_interval_entries: u64,
    /// Entries retained behind a snapshot.
    pub log_retain_entries: u64,
    /// Per-mille chance to drop a message.
    pub drop_per_mille: u64,
    /// Per-mille chance to duplicate a message.
    pub duplicate_per_mille: u64,
    /// Per-mille chance, per tick, to crash a replica.
    pub crash_per_mille: u64,
    /// Per-mille chance, per tick, to start a partition.
    pub partition_per_mille: u64,
    /// Whether the replicas' state machines are durable: their routine snapshots hold no
    /// state, and a crash leaves the state of the last sync or a later one. (The ledger is
    /// always durable.)
    pub durable_state: bool,
    /// Local snapshot also once the entries applied since the last one hold this many bytes.
    pub snapshot_interval_bytes: u64,
    /// Most bytes of entries retained behind a snapshot.
    pub log_retain_bytes: u64,
}

impl SimConfig {
    /// Derives a run of the hash-chain machine from a seed.
    pub fn from_seed(seed: u64, replicas: u64) -> SimConfig {
        assert!((1..=7).contains(&replicas), "1..=7 replicas");
        let mut rng = SplitMix64::new(seed ^ 0x5111_C0DE);
        SimConfig {
            seed,
            replicas,
            machine: MachineKind::HashChain,
            joiner: rng.chance(500),
            snapshot_interval_entries: rng.range(3, 12),
            log_retain_entries: rng.range(0, 3),
            drop_per_mille: rng.range(0, 120),
            duplicate_per_mille: rng.range(0, 50),
            crash_per_mille: rng.range(0, 25),
            partition_per_mille: rng.range(0, 20),
            durable_state: rng.chance(500),
            snapshot_interval_bytes: rng.range(1_000, 20_000),
            log_retain_bytes: rng.range(0, 2_000),
        }
    }

    /// The same run on `machine`.
    pub fn with_machine(self, machine: MachineKind) -> SimConfig {
        SimConfig { machine, ..self }
    }
}
