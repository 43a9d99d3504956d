//! How far behind the cluster its slowest live voter's state is: what lets every node's
//! admission hold new work back until that voter has caught up.
//!
//! The leader commits with the fastest majority, so nothing in Raft slows a network down for a
//! voter that applies more slowly than the others commit: its committed-but-unapplied entries
//! grow without bound for as long as the load lasts, and its clients are refused (its own apply
//! lag) or wait. At a million documents on one 2-core machine a follower applied 20 entries a
//! second while the other two committed 29, and fell 700 entries behind in four minutes
//! (BENCHMARKS.md, issue 17's fourth session).
//!
//! Each follower reports its applied index to the leader in the `context` of its append
//! responses; the leader takes, over the voters that reported within
//! [`APPLY_REPORT_FRESH_TICKS`], the largest gap between its commit index and their applied
//! index, and announces it to the followers in the `context` of its appends. raft-rs 0.7 reads
//! no `context` of either message type (heartbeats carry ReadIndex contexts: untouched). A
//! voter that stopped answering (dead, cut off) stops reporting and no longer counts, so one
//! dead voter cannot stop the network; a follower that stopped hearing appends (the load ended,
//! or it lost its leader) no longer counts the announced lag. A voter counts only once it has
//! been within [`IN_SYNC_LAG_ENTRIES`] of the commit index: a node back from a restart or an
//! outage, thousands of entries behind, catches up without holding every other node's clients
//! back meanwhile; once in step it counts, and if the load then leaves it behind, the network
//! waits for it.

use std::collections::BTreeMap;

use crate::state_machine::LogIndex;

/// Ticks a voter's reported applied index (on the leader) or the leader's announced lag (on a
/// follower) counts for: 2 s at the runtime's 100 ms tick, about ten heartbeats. An append
/// response comes for every append, so under load a report is milliseconds old.
pub const APPLY_REPORT_FRESH_TICKS: u64 = 20;

/// A voter whose applied index is this close to the leader's commit index is in step with the
/// network: from then on (while it keeps reporting) its lag counts. The same bound as node
/// admission's (`ledger::client::CLUSTER_APPLY_LAG_ENTRIES_MAX`), so a voter counts as soon as
/// it would not, alone, hold the network back.
pub const IN_SYNC_LAG_ENTRIES: u64 = 128;

/// The bytes a report or an announcement travels as: a big-endian `u64`.
pub(super) fn encode(value: u64) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

/// A report or announcement from a message's `context`; `None` for any other context (an
/// older node sends none).
pub(super) fn decode(context: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(context).ok().map(u64::from_be_bytes)
}

/// A peer's applied index as its last append response said.
#[derive(Debug, Clone, Copy)]
struct Report {
    applied: LogIndex,
    /// The tick it came at.
    at: u64,
    /// Whether the peer has been within [`IN_SYNC_LAG_ENTRIES`] since it last fell silent.
    in_sync: bool,
}

/// What one replica has heard of its peers' applied indexes (as leader) and of the cluster's
/// slowest voter (as follower).
#[derive(Debug, Default)]
pub(super) struct ApplyReports {
    /// Ticks so far: the clock the freshness is counted on.
    ticks: u64,
    /// Each peer's last report.
    applied: BTreeMap<u64, Report>,
    /// The lag the leader's last append announced, and the tick it came at.
    announced: Option<(u64, u64)>,
}

impl ApplyReports {
    pub(super) fn tick(&mut self) {
        self.ticks += 1;
    }

    /// `peer`'s append response said it has applied through `applied`, this replica's commit
    /// index being `commit`.
    pub(super) fn note_applied(&mut self, peer: u64, applied: LogIndex, commit: LogIndex) {
        let was_in_sync = self
            .applied
            .get(&peer)
            .is_some_and(|r| r.in_sync && self.fresh(r.at));
        let report = Report {
            applied,
            at: self.ticks,
            in_sync: was_in_sync || commit.saturating_sub(applied) <= IN_SYNC_LAG_ENTRIES,
        };
        self.applied.insert(peer, report);
    }

    /// The leader's append announced `lag`.
    pub(super) fn note_announced(&mut self, lag: u64) {
        self.announced = Some((lag, self.ticks));
    }

    fn fresh(&self, at_tick: u64) -> bool {
        self.ticks.saturating_sub(at_tick) <= APPLY_REPORT_FRESH_TICKS
    }

    /// On a leader whose commit index is `commit`: the most committed entries any of `voters`
    /// (other than `own_id`, whose own lag its admission counts) that reported recently and is
    /// in step ([`IN_SYNC_LAG_ENTRIES`]) has still to apply.
    pub(super) fn slowest_voter_lag(&self, voters: &[u64], own_id: u64, commit: LogIndex) -> u64 {
        voters
            .iter()
            .filter(|id| **id != own_id)
            .filter_map(|id| self.applied.get(id))
            .filter(|r| r.in_sync && self.fresh(r.at))
            .map(|r| commit.saturating_sub(r.applied))
            .max()
            .unwrap_or(0)
    }

    /// On a follower: what its leader announced, while recent; 0 otherwise.
    pub(super) fn announced_lag(&self) -> u64 {
        match self.announced {
            Some((lag, at)) if self.fresh(at) => lag,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_round_trips_and_other_contexts_are_not_reports() {
        assert_eq!(decode(&encode(123_456)), Some(123_456));
        assert_eq!(decode(&[]), None);
        // A ReadIndex context is 16 bytes: never taken for a report.
        assert_eq!(decode(&[0u8; 16]), None);
    }

    #[test]
    fn the_leader_counts_the_slowest_voter_that_reported_recently() {
        let mut r = ApplyReports::default();
        assert_eq!(r.slowest_voter_lag(&[1, 2, 3], 1, 1_000), 0, "no reports");
        r.note_applied(2, 990, 1_000);
        r.note_applied(3, 980, 1_000);
        // In step, then left behind by the load: it counts.
        r.note_applied(3, 700, 1_000);
        // A learner's report does not count: it is not among the voters.
        r.note_applied(4, 10, 1_000);
        assert_eq!(r.slowest_voter_lag(&[1, 2, 3], 1, 1_000), 300);
        // Voter 2 keeps reporting, voter 3 goes silent (dead, cut off): after the freshness
        // window it no longer holds the network back.
        for _ in 0..APPLY_REPORT_FRESH_TICKS {
            r.tick();
            r.note_applied(2, 995, 1_000);
        }
        assert_eq!(r.slowest_voter_lag(&[1, 2, 3], 1, 1_000), 300);
        r.tick();
        r.note_applied(2, 995, 1_000);
        assert_eq!(r.slowest_voter_lag(&[1, 2, 3], 1, 1_000), 5);
        // Its own lag is not counted here (the leader's admission counts it).
        r.note_applied(1, 0, 1_000);
        assert_eq!(r.slowest_voter_lag(&[1, 2, 3], 1, 1_000), 5);
    }

    #[test]
    fn a_voter_back_from_an_outage_counts_only_once_it_has_caught_up() {
        let mut r = ApplyReports::default();
        r.note_applied(2, 10_000, 10_000);
        // Voter 3 returns thousands of entries behind: it catches up without holding the
        // network back.
        r.note_applied(3, 2_000, 10_000);
        assert_eq!(r.slowest_voter_lag(&[1, 2, 3], 1, 10_000), 0);
        r.note_applied(3, 9_000, 10_000);
        assert_eq!(r.slowest_voter_lag(&[1, 2, 3], 1, 10_000), 0);
        // Within the bound: in step, and from then on it counts, also when it falls back.
        r.note_applied(3, 10_000 - IN_SYNC_LAG_ENTRIES, 10_000);
        assert_eq!(
            r.slowest_voter_lag(&[1, 2, 3], 1, 10_000),
            IN_SYNC_LAG_ENTRIES
        );
        r.note_applied(3, 9_500, 10_000);
        assert_eq!(r.slowest_voter_lag(&[1, 2, 3], 1, 10_000), 500);
        // Silent past the freshness window, it is out of step again until it catches up.
        for _ in 0..=APPLY_REPORT_FRESH_TICKS {
            r.tick();
        }
        r.note_applied(3, 9_500, 10_000);
        assert_eq!(r.slowest_voter_lag(&[1, 2, 3], 1, 10_000), 0);
    }

    #[test]
    fn a_follower_counts_the_announced_lag_only_while_appends_come() {
        let mut r = ApplyReports::default();
        assert_eq!(r.announced_lag(), 0);
        r.note_announced(400);
        assert_eq!(r.announced_lag(), 400);
        for _ in 0..APPLY_REPORT_FRESH_TICKS {
            r.tick();
        }
        assert_eq!(r.announced_lag(), 400);
        r.tick();
        assert_eq!(
            r.announced_lag(),
            0,
            "no append for a while: the load ended, or the leader"
        );
    }
}
