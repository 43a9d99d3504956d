//! What a running replica counts for its operator: durations of its durable writes and of its
//! applies, leader changes, snapshots sent. Plain atomics, updated on the Ready loop's thread and
//! read by whoever exports them (the node's `/metrics`).
//!
//! What this module is not: an exporter. It knows no metric format and no crate of one, so the
//! replication core carries no dependency for being observed; the node reads [`ReplicaMetrics`]
//! at each scrape and writes it in Prometheus' format. Nothing here takes a lock: an update is a
//! few relaxed atomic adds, on a path that already does an `fdatasync` or applies a block.
//!
//! Time is measured only when a [`ReplicaMetrics`] is attached ([`crate::Replica::set_metrics`]);
//! the simulator attaches none, and what is measured never reaches the replica's decisions.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds, in seconds, of the buckets of every duration histogram here: from 100 µs (an
/// fdatasync on a fast disk) to 10 s (a heavy block on an overloaded node).
pub const DURATION_BUCKETS_SECONDS: [f64; 12] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0, 10.0,
];

/// A durable write, a block's apply, or the state machine's sync before log compaction that
/// took this long or longer is also logged (a warning naming the entry and the time), so that
/// an operator can tell a slow disk from a heavy block when clients see their transactions
/// wait; the histograms only count them.
pub const SLOW_STEP_WARN: Duration = Duration::from_secs(1);

/// A histogram of durations with fixed buckets ([`DURATION_BUCKETS_SECONDS`]), in atomics.
#[derive(Debug, Default)]
pub struct DurationHistogram {
    /// Observations per bucket (not cumulative); the last is the `+Inf` bucket.
    buckets: [AtomicU64; DURATION_BUCKETS_SECONDS.len() + 1],
    /// Sum of all observations, in nanoseconds.
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

/// A histogram's values at one moment, cumulative as Prometheus wants them.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Sum of the observations, in seconds.
    pub sum_seconds: f64,
    /// Number of observations.
    pub count: u64,
    /// `(upper bound in seconds, observations at or under it)`, the last bound `+Inf`.
    pub buckets: Vec<(f64, u64)>,
}

impl DurationHistogram {
    /// Counts one duration.
    pub fn observe(&self, d: Duration) {
        let seconds = d.as_secs_f64();
        let bucket = DURATION_BUCKETS_SECONDS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(DURATION_BUCKETS_SECONDS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The values now (each read on its own: a scrape during an update may be one apart).
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(self.buckets.len());
        for (i, b) in self.buckets.iter().enumerate() {
            cumulative += b.load(Ordering::Relaxed);
            let bound = DURATION_BUCKETS_SECONDS
                .get(i)
                .copied()
                .unwrap_or(f64::INFINITY);
            buckets.push((bound, cumulative));
        }
        HistogramSnapshot {
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            count: cumulative,
            buckets,
        }
    }
}

/// A replica's counters (module docs). Shared as an `Arc` between the Ready loop and readers.
#[derive(Debug, Default)]
pub struct ReplicaMetrics {
    /// Durations of the durable writes of the Raft log (one `fdatasync` each).
    pub fsync: DurationHistogram,
    /// Durations of applying one committed entry (a block) to the state machine.
    pub apply: DurationHistogram,
    /// Times the known leader changed to another node (a leader lost counts when a new one is
    /// known).
    pub leader_changes: AtomicU64,
    /// The last leader seen, to count changes.
    last_leader: AtomicU64,
    /// Snapshots this replica handed to the transport for a peer.
    pub snapshots_sent: AtomicU64,
}

impl ReplicaMetrics {
    /// Notes the leader Raft reports now (0: none known).
    pub fn leader_seen(&self, leader_id: u64) {
        if leader_id == 0 {
            return;
        }
        let before = self.last_leader.swap(leader_id, Ordering::Relaxed);
        if before != leader_id {
            self.leader_changes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Reads a counter of this struct.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_infinity() {
        let h = DurationHistogram::default();
        h.observe(Duration::from_micros(50)); // first bucket
        h.observe(Duration::from_millis(3)); // 5 ms bucket
        h.observe(Duration::from_secs(20)); // +Inf
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        assert_eq!(s.buckets.len(), DURATION_BUCKETS_SECONDS.len() + 1);
        assert_eq!(s.buckets[0], (0.000_1, 1));
        let five_ms = s.buckets.iter().find(|(b, _)| *b == 0.005).unwrap();
        assert_eq!(five_ms.1, 2);
        assert_eq!(s.buckets.last().unwrap(), &(f64::INFINITY, 3));
        assert!((s.sum_seconds - 20.003_05).abs() < 1e-9);
    }

    #[test]
    fn leader_changes_count_new_leaders_only() {
        let m = ReplicaMetrics::default();
        for leader in [0, 1, 1, 0, 1, 2, 2, 0, 3] {
            m.leader_seen(leader);
        }
        // 1, then 2, then 3: a lost leader (0) is no change, nor the same one seen again.
        assert_eq!(ReplicaMetrics::get(&m.leader_changes), 3);
    }
}
