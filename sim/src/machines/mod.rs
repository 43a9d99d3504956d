//! The state machines the simulator can run, behind one seam ([`SimMachine`]): what a run
//! needs from a machine besides [`StateMachine`] itself (how it is born, what a crash leaves of
//! it, what its clients ask, what the checkers read from it).
//!
//! - [`hash_chain`]: the stand-in ([`ChainMachine`]), cheap: a hash chain plus unsigned
//!   workflow commands. It runs most seeds, because it is fast.
//! - [`ledger`]: the production machine, [`::ledger::LedgerState`] on sled, fed signed
//!   transactions of a dev consortium; its membership drives Raft.

pub mod hash_chain;
pub mod ledger;

use std::collections::BTreeMap;
use std::fmt;

use replication::rng::SplitMix64;
use replication::state_machine::StateMachine;

pub use hash_chain::ChainMachine;
pub use ledger::LedgerMachine;

/// A transaction's identity, as the machine records it (the ledger's transaction hash).
pub type TxId = [u8; 32];

/// The bills a replica holds at one applied index: each bill's possessor, by bill id.
pub type Possessors = BTreeMap<String, Option<String>>;

/// Which machine a run drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MachineKind {
    /// [`ChainMachine`].
    HashChain,
    /// [`LedgerMachine`].
    Ledger,
}

impl MachineKind {
    /// The name `SILKLINE_SIM_MACHINE` takes.
    pub fn name(self) -> &'static str {
        match self {
            MachineKind::HashChain => "hash-chain",
            MachineKind::Ledger => "ledger",
        }
    }

    /// Parses [`MachineKind::name`].
    pub fn from_name(name: &str) -> Option<MachineKind> {
        match name {
            "hash-chain" => Some(MachineKind::HashChain),
            "ledger" => Some(MachineKind::Ledger),
            _ => None,
        }
    }
}

impl fmt::Display for MachineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A membership change a client asks of the machine (the ledger's governance transactions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipRequest {
    /// Add `raft_id` as a learner (`ADD_NODE`).
    Add(u64),
    /// Make learner `raft_id` a voter (`PROMOTE_NODE`).
    Promote(u64),
    /// Remove `raft_id` (`REMOVE_NODE`).
    Remove(u64),
}

/// What the simulator needs of a state machine besides [`StateMachine`]. Every method is
/// deterministic given its inputs: randomness comes in as the run's `rng`.
pub trait SimMachine: StateMachine + Sized {
    /// What one run shares between its replicas (a temp dir, the signing identities, ...).
    type World;

    /// Which machine this is.
    const KIND: MachineKind;

    /// Whether membership changes go through the machine ([`StateMachine::membership`]),
    /// proposed as client requests ([`SimMachine::membership_request`]), rather than as Raft
    /// conf changes proposed by the simulator.
    const GOVERNS_MEMBERSHIP: bool;

    /// Sets up a run of `replicas` founding voters.
    fn world(seed: u64, replicas: u64) -> Result<Self::World, String>;

    /// A fresh machine for replica `node`: the genesis a founder bootstraps its store with, or
    /// the empty state a replica starts from when nothing of its state survived. `durable`
    /// asks for the durable model where the machine offers both.
    fn fresh(world: &mut Self::World, node: u64, durable: bool) -> Result<Self, String>;

    /// What a crash of replica `node` leaves of this machine: everything it applied
    /// (`keep_all`, a crash right after the storage flushed by itself), or only what its last
    /// [`StateMachine::sync`] made durable. `None`: nothing (a volatile machine).
    fn after_crash(
        self,
        world: &mut Self::World,
        node: u64,
        keep_all: bool,
    ) -> Result<Option<Self>, String>;

    /// One client request: a payload to propose; `sequence` numbers the run's requests.
    fn client_request(world: &mut Self::World, rng: &mut SplitMix64, sequence: u64) -> Vec<u8>;

    /// A membership change as a client request, for machines that govern membership.
    fn membership_request(world: &mut Self::World, request: MembershipRequest) -> Option<Vec<u8>>;

    /// Added to the simulator's virtual clock in the times given to the replica (block time):
    /// the ledger's certificates and genesis live in 2026, the virtual clock starts at 0.
    fn clock_offset_ms() -> u64 {
        0
    }

    /// The bills this replica holds, after checking each against the workflow's invariants
    /// (an issued bill has exactly one possessor): `Err` names the first broken bill.
    fn possessors(&self) -> Result<Possessors, String>;

    /// For each proposal of an applied batch, in order: `Some(id)` if the machine recorded it
    /// as taking effect (what a client is acknowledged with), `None` if it refused it.
    /// Machines without such records acknowledge nothing.
    fn acknowledged(output: &Self::Output, proposals: usize) -> Vec<Option<TxId>>;

    /// Whether the machine's chain holds transaction `id` as committed.
    fn holds(&self, id: &TxId) -> Result<bool, String>;

    /// Workflow commands that took effect, and that were refused.
    fn workflow_counts(&self) -> (u64, u64);
}
