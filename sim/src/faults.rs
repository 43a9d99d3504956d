//! Faults: crashes (a replica torn down, its state machine keeping everything, or only what
//! its last sync made durable, or nothing), crashes inside a durable write (through
//! [`SimDisk`](replication::storage::SimDisk)), partitions, and the heal that ends them. Every
//! fault is counted in the report, so that the tests can assert it happened.

use crate::machines::SimMachine;
use crate::runner::{SimFailure, Simulation};

impl<M: SimMachine> Simulation<M> {
    /// Crashes node `i` (during a durable write if `in_write`): the replica's memory goes; its
    /// state machine keeps everything (half the time) or what its machine's crash model
    /// leaves; it restarts a little later.
    pub(crate) fn crash(&mut self, i: usize, in_write: bool) -> Result<(), SimFailure> {
        let keep_all = self.rng.chance(500);
        let restart_in = self.rng.range(20, 400);
        if self.nodes[i].replica.is_none() {
            return Ok(());
        }
        let id = self.nodes[i].id;
        // The driver stops: its request layer answers every waiting client `Stopped`, and
        // nothing of this incarnation answers again.
        let answers = self.nodes[i].requests.stop();
        self.deliver(i, answers, None)?;
        self.checkers
            .answered
            .stopped(id, self.nodes[i].incarnation)
            .map_err(|v| self.violated(v))?;
        let replica = self.nodes[i].replica.take().expect("live");
        let stats = replica.stats();
        self.report.snapshots_taken += stats.snapshots_taken;
        self.report.snapshots_without_state += stats.snapshots_without_state;
        self.report.snapshots_restored += stats.snapshots_restored;
        self.report.entries_skipped += stats.entries_skipped;
        let sm = replica.into_state_machine();
        let kept = sm
            .after_crash(&mut self.world, id, keep_all)
            .map_err(|e| self.fail("recovery", e))?;
        if kept.is_some() && !keep_all {
            self.report.restarts_from_sync += 1;
        }
        let node = &mut self.nodes[i];
        node.kept_sm = kept;
        node.disk.disarm();
        node.restart_at_ms = self.now_ms + restart_in;
        self.report.crashes += 1;
        self.report.crashes_in_write += u64::from(in_write);
        if keep_all {
            self.report.restarts_with_state += 1;
        }
        // The reads waiting for this replica to apply their read point fail (`Stopped`).
        self.checkers.reads.crashed(id);
        self.trace(&[1, self.now_ms, id]);
        Ok(())
    }

    /// Crashes and partitions, during the chaos phase only.
    pub(crate) fn chaos(&mut self) -> Result<(), SimFailure> {
        let n = self.nodes.len();
        if self.rng.chance(self.config.crash_per_mille) {
            let i = self.rng.below(n as u64) as usize;
            match self.rng.below(3) {
                0 => self.crash(i, false)?,
                lands => self.nodes[i].disk.crash_on_next_write(lands == 2),
            }
        }
        if self.network.partition_over(self.now_ms) {
            self.network.heal();
        }
        if !self.network.is_partitioned() && self.rng.chance(self.config.partition_per_mille) {
            let sides = (0..n).map(|_| self.rng.chance(500)).collect();
            let until = self.now_ms + self.rng.range(50, 600);
            self.network.partition(sides, until);
        }
        Ok(())
    }

    /// Ends the chaos: no more faults, every crashed replica restarts now, open batches close.
    pub(crate) fn heal(&mut self) {
        self.healed = true;
        self.network.heal();
        for i in 0..self.nodes.len() {
            self.nodes[i].disk.disarm();
            if self.nodes[i].replica.is_none() {
                self.nodes[i].restart_at_ms = self.now_ms;
            }
        }
        // Close any open batch so convergence does not wait on a proposal deadline.
        let now = self.replica_now_ms();
        for i in 0..self.nodes.len() {
            if let Some(r) = self.nodes[i].replica.as_mut() {
                r.flush_proposals_now(now);
            }
        }
        self.trace(&[7, self.now_ms]);
    }
}
