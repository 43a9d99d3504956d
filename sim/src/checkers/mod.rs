//! One checker per property. Each is a small value that is fed observations (what a replica
//! did or holds, as the runner sees it) and answers with a [`Violation`] naming its property;
//! none reads the simulation itself, so each is unit-tested with a violating history.
//!
//! - [`election_safety`] checks at most one leader per term (Raft paper, figure 3).
//! - [`committed`] checks `committed_never_changes`.
//! - [`state_agreement`] checks replicas at the same applied index have the same state hash.
//! - [`possessor`] checks `exactly_one_possessor`.
//! - [`acknowledged`] checks `acknowledged_in_every_chain`.
//! - [`linearizable_read`] checks `linearizable_read` and `read_needs_a_leader`.
//! - [`liveness`] checks the healed cluster converges within a bound.
//! - [`answered`] checks `answered_once`, `no_answer_after_stop` and `committed_own_entry`
//!   (the request layer's answers).

pub mod acknowledged;
pub mod answered;
pub mod committed;
pub mod election_safety;
pub mod linearizable_read;
pub mod liveness;
pub mod possessor;
pub mod state_agreement;

use std::fmt;

/// A property a history broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The property's name, as the failure prints it.
    pub property: &'static str,
    /// What was seen.
    pub detail: String,
}

impl Violation {
    pub(crate) fn new(property: &'static str, detail: String) -> Violation {
        Violation { property, detail }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.property, self.detail)
    }
}

/// Every checker of one run.
#[derive(Default)]
pub struct Checkers {
    pub election_safety: election_safety::ElectionSafety,
    pub committed: committed::CommittedNeverChanges,
    pub state_agreement: state_agreement::StateAgreement,
    pub possessor: possessor::ExactlyOnePossessor,
    pub acknowledged: acknowledged::AcknowledgedInEveryChain,
    pub reads: linearizable_read::LinearizableReads,
    pub answered: answered::AnsweredOnce,
}
