//! Snapshots on the replica's side: local snapshots and the log compaction behind them, a
//! leader's snapshot restored into the state machine, and the leader's wait for a peer to
//! install the snapshot it was sent (reported lost to raft-rs when the wait runs out or its
//! stream breaks).
//!
//! Not the transfer itself: the transport sends the snapshot message, or streams the state
//! beside it ([`crate::stream`]).

use raft::eraftpb::Snapshot;
use raft::{SnapshotStatus, StateRole};

use super::{ReadyEffects, Replica, SNAPSHOT_WAIT_TICKS_MIN};
use crate::error::ReplicaError;
use crate::metrics::SLOW_STEP_WARN;
use crate::state_machine::{LogIndex, StateMachine, StateSnapshot};
use crate::storage::{LogCore, WriteBatch};

impl<S: StateMachine> Replica<S> {
    /// Ends the wait for each snapshot in flight whose peer installed it (raft-rs moved it out
    /// of snapshot state on its acknowledgement), and reports as lost one whose wait ran out,
    /// so that raft-rs probes the peer again and, if it still needs one, sends a new snapshot.
    /// Once none is in flight, the stored snapshot sheds the state it holds.
    pub(super) fn tick_snapshots_in_flight(&mut self) {
        if self.snapshots_in_flight.is_empty() {
            return;
        }
        let leader = self.node.raft.state == StateRole::Leader;
        let mut lost = Vec::new();
        let prs = self.node.raft.prs();
        self.snapshots_in_flight.retain(|&to, ticks_left| {
            let waiting = leader
                && prs
                    .get(to)
                    .is_some_and(|p| p.state == raft::ProgressState::Snapshot);
            if !waiting {
                return false;
            }
            *ticks_left = ticks_left.saturating_sub(1);
            if *ticks_left == 0 {
                lost.push(to);
                return false;
            }
            true
        });
        for to in lost {
            self.snapshot_lost(
                to,
                "the snapshot sent to this peer was not installed in time",
            );
        }
        if self.snapshots_in_flight.is_empty() {
            self.shed_snapshot_state = true;
        }
    }

    /// Reports the snapshot in flight to `to` lost to raft-rs (which probes the peer again and,
    /// if it still needs one, sends a new snapshot) and stops waiting for it.
    fn snapshot_lost(&mut self, to: u64, why: &str) {
        self.snapshots_in_flight.remove(&to);
        if self.node.raft.state == StateRole::Leader {
            tracing::warn!(replica = self.id, peer = to, "{why}; it will be sent again");
            self.node.report_snapshot(to, SnapshotStatus::Failure);
        }
        if self.snapshots_in_flight.is_empty() {
            self.shed_snapshot_state = true;
        }
    }

    /// What the transport says of a snapshot it streams to `to` ([`crate::stream`]): while
    /// chunks move the leader keeps waiting for the peer to install it, however long the state
    /// takes to send; once it was delivered the peer has the usual time to acknowledge it; a
    /// stream that broke is reported lost to raft-rs at once, so that the peer is probed again
    /// and, if it still needs one, sent a fresh snapshot.
    pub fn snapshot_stream_report(&mut self, to: u64, report: crate::stream::StreamReport) {
        use crate::stream::StreamReport;
        let Some(ticks_left) = self.snapshots_in_flight.get_mut(&to) else {
            return;
        };
        match report {
            StreamReport::Progress => *ticks_left = (*ticks_left).max(SNAPSHOT_WAIT_TICKS_MIN),
            StreamReport::Delivered => *ticks_left = SNAPSHOT_WAIT_TICKS_MIN,
            StreamReport::Failed => {
                self.snapshot_lost(to, "the snapshot streamed to this peer was lost");
            }
        }
    }

    /// Takes a local snapshot into `batch` when enough entries (or bytes of entries) were
    /// applied since the stored one, or a peer needs a fresher one or one that holds the state;
    /// compacts the log behind it. A durable state machine's snapshot holds only its position
    /// (after a sync) unless a peer needs the state.
    pub(super) fn stage_local_snapshot(
        &mut self,
        batch: &mut WriteBatch,
    ) -> Result<(), ReplicaError> {
        self.snapshot_wanted |= self.node.store().take_snapshot_wanted();
        let applied = self.sm.applied_index();
        if applied != self.applied_through {
            // Right after a restart, Raft is still replaying entries the state machine has;
            // its membership is not yet known as of `applied`.
            return Ok(());
        }
        let core = self.node.store().core();
        let stored = core.snapshot.get_metadata().index;
        let shed = self.shed_snapshot_state
            && !self.snapshot_wanted
            && self.snapshots_in_flight.is_empty()
            && self.sm.is_durable()
            && !core.snapshot.data.is_empty();
        let due = applied >= stored + self.snapshot_interval_entries
            || (self.bytes_since_snapshot >= self.snapshot_interval_bytes && applied > stored)
            || (self.snapshot_wanted && (applied > stored || core.snapshot.data.is_empty()))
            || shed;
        if !due {
            return Ok(());
        }
        let Some(term) = core.term_of(applied) else {
            return Err(self.invariant(format!("no term for applied index {applied}")));
        };
        let first_index = core.first_index();
        let compact_to = retained_from(
            core,
            applied,
            self.log_retain_entries,
            self.log_retain_bytes,
        );
        let sm_error = |id, source| ReplicaError::StateMachine { id, source };
        let data = if self.snapshot_wanted || !self.sm.is_durable() {
            let data = self.sm.snapshot().map_err(|e| sm_error(self.id, e))?;
            if data.applied_index != applied {
                return Err(self.invariant(format!(
                    "state machine snapshot at {} while applied is {applied}",
                    data.applied_index
                )));
            }
            data.data
        } else {
            // The log behind `applied` may go once the state it produced is on disk.
            let started = self.metrics.as_ref().map(|_| std::time::Instant::now());
            self.sm.sync().map_err(|e| sm_error(self.id, e))?;
            if let Some(took) = started.map(|t| t.elapsed())
                && took >= SLOW_STEP_WARN
            {
                tracing::warn!(
                    replica = self.id,
                    index = applied,
                    ms = took.as_millis() as u64,
                    "slow sync of the state machine before compacting the log"
                );
            }
            self.stats.snapshots_without_state += 1;
            Vec::new()
        };
        let mut snapshot = Snapshot {
            data: data.into(),
            ..Snapshot::default()
        };
        let meta = snapshot.mut_metadata();
        meta.index = applied;
        meta.term = term;
        meta.set_conf_state(self.conf_state.clone());
        tracing::info!(
            replica = self.id,
            index = applied,
            with_state = !snapshot.data.is_empty(),
            bytes = snapshot.data.len(),
            compact_to = compact_to.max(first_index),
            "local snapshot taken"
        );
        batch.local_snapshot = Some(snapshot);
        if compact_to > first_index {
            batch.compact_to = Some(compact_to);
        }
        self.bytes_since_snapshot = 0;
        self.snapshot_wanted = false;
        self.shed_snapshot_state = false;
        self.stats.snapshots_taken += 1;
        Ok(())
    }

    pub(super) fn restore_from<E: ReadyEffects<S::Output>>(
        &mut self,
        snapshot: &Snapshot,
        fx: &mut E,
    ) -> Result<(), ReplicaError> {
        let meta = snapshot.get_metadata();
        self.conf_state = meta.get_conf_state().clone();
        self.applied_through = meta.index;
        self.bytes_since_snapshot = 0;
        self.shed_snapshot_state = true;
        if self.sm.applied_index() >= meta.index {
            // A durable state machine already past the snapshot: it applied a prefix of the same
            // committed log, so it stays; Raft replays and the replica skips up to it.
            return Ok(());
        }
        self.sm
            .restore(&StateSnapshot {
                applied_index: meta.index,
                data: snapshot.data.to_vec(),
            })
            .map_err(|source| ReplicaError::StateMachine {
                id: self.id,
                source,
            })?;
        if self.sm.applied_index() != meta.index {
            return Err(self.invariant(format!(
                "state machine at {} after restoring snapshot {}",
                self.sm.applied_index(),
                meta.index
            )));
        }
        self.stats.snapshots_restored += 1;
        fx.snapshot_restored(meta.index);
        Ok(())
    }
}

/// The first index to keep when compacting behind `applied`: at most `max_entries` entries
/// ending at `applied`, holding at most `max_bytes` bytes of data.
fn retained_from(core: &LogCore, applied: LogIndex, max_entries: u64, max_bytes: u64) -> u64 {
    let first = core.first_index();
    let mut keep_from = applied + 1;
    let mut bytes = 0u64;
    while keep_from > first && applied + 1 - keep_from < max_entries {
        let entry = &core.entries[(keep_from - 1 - first) as usize];
        bytes += entry.data.len() as u64;
        if bytes > max_bytes {
            break;
        }
        keep_from -= 1;
    }
    keep_from
}
