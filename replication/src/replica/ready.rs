//! The ONE `Ready` handling ([`Replica::handle_ready`]) that the tokio runtime and the
//! deterministic simulator both call: send, persist in one durable write, send what must follow
//! persistence, apply, advance; in raft-rs's order, with the departures from it documented on
//! `handle_ready`.
//!
//! Not I/O: the durable write goes through [`crate::storage::LogStore::write`] and everything
//! else through [`ReadyEffects`]; no clock, no thread, no channel.

use raft::eraftpb::{Entry, EntryType, Message, MessageType};

use super::{Applied, ReadyEffects, Replica, SNAPSHOT_BYTES_PER_TICK, SNAPSHOT_WAIT_TICKS_MIN};
use crate::batch::{Batch, ProposalId};
use crate::error::ReplicaError;
use crate::metrics::SLOW_STEP_WARN;
use crate::state_machine::{CommittedEntry, EntryKind, StateMachine};
use crate::storage::WriteBatch;

impl<S: StateMachine> Replica<S> {
    /// Handles one `Ready`, in raft-rs's order:
    ///
    /// 1. send the messages that need no persistence (a leader's appends, in parallel with its
    ///    own write: Raft thesis 10.2.1);
    /// 2. take the snapshot the leader sent, if any, into this Ready's write;
    /// 3. persist the snapshot, the new entries (truncating a conflicting suffix), the hard
    ///    state, and a local snapshot + compaction when due: ONE durable write;
    ///    then restore the state machine from the leader's snapshot (see below);
    /// 4. send the messages that must follow persistence (votes, append acknowledgements);
    /// 5. apply the committed entries (conf changes included) to the state machine;
    /// 6. `advance`;
    /// 7. handle the `LightReady`: record the commit index, send, apply, `advance_apply`.
    ///
    /// The state machine is restored from a leader's snapshot *after* the durable write rather
    /// than before it, so that a durable state machine is never ahead of the durable log (the
    /// crash between the two would otherwise leave it with no log to continue from). raft-rs
    /// guarantees that a `Ready` carrying a snapshot carries no committed entries, so nothing
    /// else moves.
    ///
    /// Committed entries are applied after the acknowledgements leave, not before: they are
    /// durable already (raft-rs hands out only persisted ones), and applying a block is the
    /// slowest step, so a follower that applied first would hold back the acknowledgement the
    /// leader needs to commit the next block. Applying in parallel with the next round trip is
    /// Raft thesis 10.2.1's pipelining on the follower side.
    ///
    /// Any error is fatal for this replica: it is stopped and must be reopened from durable
    /// state. In particular a failed durable write never lets a vote or acknowledgement out.
    pub fn handle_ready<E: ReadyEffects<S::Output>>(
        &mut self,
        effects: &mut E,
    ) -> Result<(), ReplicaError> {
        self.ensure_running()?;
        let result = self.handle_ready_inner(effects);
        if let Err(e) = &result {
            self.stopped = true;
            tracing::error!(replica = self.id, error = %e, "replica stopped");
        } else {
            self.reconcile_membership();
        }
        result
    }

    fn handle_ready_inner<E: ReadyEffects<S::Output>>(
        &mut self,
        fx: &mut E,
    ) -> Result<(), ReplicaError> {
        if !self.dropped.is_empty() {
            fx.proposals_dropped(std::mem::take(&mut self.dropped));
        }
        if !self.node.has_ready() {
            // A peer may be waiting for a fresher snapshot even when Raft has nothing to say.
            let mut batch = WriteBatch::default();
            self.stage_local_snapshot(&mut batch)?;
            return self.persist(batch);
        }
        let mut rd = self.node.ready();
        if let Some(ss) = rd.ss() {
            if let Some(m) = &self.metrics {
                m.leader_seen(ss.leader_id);
            }
            fx.role_changed(ss.leader_id, ss.raft_state);
        }

        // 1. Messages that may leave before persistence.
        let mut snapshots_sent = Vec::new();
        if !rd.messages().is_empty() {
            let mut messages = rd.take_messages();
            note_snapshots(&messages, &mut snapshots_sent);
            self.stamp(&mut messages);
            fx.send(messages);
        }

        // 2. The leader's snapshot joins this Ready's write.
        let mut batch = WriteBatch::default();
        let installed = (!rd.snapshot().is_empty()).then(|| rd.snapshot().clone());
        batch.install_snapshot.clone_from(&installed);

        // 3. One durable write: snapshot, entries, hard state, local snapshot + compaction.
        batch.entries = rd.take_entries();
        batch.hard_state = rd.hs().cloned();
        self.defer_commit_only_hard_state(&mut batch);
        if installed.is_none() {
            self.stage_local_snapshot(&mut batch)?;
        }
        self.persist(batch)?;
        if let Some(snapshot) = &installed {
            self.restore_from(snapshot, fx)?;
        }

        // 4. Messages that must follow persistence.
        if !rd.persisted_messages().is_empty() {
            let mut messages = rd.take_persisted_messages();
            self.stamp(&mut messages);
            fx.send(messages);
        }

        // 5. Apply committed entries (none when a snapshot is being installed).
        let committed = rd.take_committed_entries();
        assert!(installed.is_none() || committed.is_empty());
        self.apply_entries(committed, fx)?;
        if !rd.read_states().is_empty() {
            fx.read_states(rd.take_read_states());
        }

        // 6. Advance.
        let mut light = self.node.advance(rd);

        // 7. Light ready.
        if let Some(commit) = light.commit_index() {
            self.node.mut_store().note_commit(commit);
        }
        if !light.messages().is_empty() {
            let mut messages = light.take_messages();
            note_snapshots(&messages, &mut snapshots_sent);
            self.stamp(&mut messages);
            fx.send(messages);
        }
        self.apply_entries(light.take_committed_entries(), fx)?;
        self.node.advance_apply();

        // A leader keeps a peer in snapshot state (sending it nothing) until the peer
        // acknowledges the installed snapshot or the leader reports it lost. Reporting it
        // finished as soon as it was handed to the transport made a large one (hundreds of MB,
        // seconds on the wire and in the import) look lost at the peer's next rejection: it was
        // taken and sent again and again. It is now given time in proportion to its size.
        if let Some(m) = &self.metrics {
            m.snapshots_sent.fetch_add(
                snapshots_sent.len() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        for (to, bytes) in snapshots_sent {
            let ticks = SNAPSHOT_WAIT_TICKS_MIN + bytes / SNAPSHOT_BYTES_PER_TICK;
            self.snapshots_in_flight.insert(to, ticks);
        }
        self.rejitter();
        Ok(())
    }

    /// A hard state that moved only its commit index is not worth a durable write of its own:
    /// the commit index is volatile state in Raft (a restarted replica learns it again from the
    /// leader, and one whose durable state machine applied further skips what it holds), so it
    /// is kept as the store's commit floor and written with the next write. Without this, every
    /// round on a quiet network cost the leader a second fdatasync, after the acknowledgement
    /// and before the apply the client waits for.
    fn defer_commit_only_hard_state(&mut self, batch: &mut WriteBatch) {
        let Some(hs) = &batch.hard_state else { return };
        let stored = &self.node.store().core().hard_state;
        let commit_only = hs.term == stored.term && hs.vote == stored.vote;
        if commit_only && batch.entries.is_empty() && batch.install_snapshot.is_none() {
            let commit = hs.commit;
            self.node.mut_store().note_commit(commit);
            batch.hard_state = None;
        }
    }

    fn persist(&mut self, batch: WriteBatch) -> Result<(), ReplicaError> {
        let started = self.metrics.as_ref().map(|_| std::time::Instant::now());
        let wrote = self
            .node
            .mut_store()
            .write(batch)
            .map_err(|source| ReplicaError::Storage {
                id: self.id,
                source,
            })?;
        if wrote {
            self.stats.durable_writes += 1;
            if let (Some(m), Some(t)) = (&self.metrics, started) {
                let took = t.elapsed();
                m.fsync.observe(took);
                if took >= SLOW_STEP_WARN {
                    tracing::warn!(
                        replica = self.id,
                        ms = took.as_millis() as u64,
                        "slow durable write of the Raft log"
                    );
                }
            }
        }
        Ok(())
    }

    fn apply_entries<E: ReadyEffects<S::Output>>(
        &mut self,
        entries: Vec<Entry>,
        fx: &mut E,
    ) -> Result<(), ReplicaError> {
        for entry in entries {
            if entry.index != self.applied_through + 1 {
                return Err(self.invariant(format!(
                    "committed entry {} handed out after {}",
                    entry.index, self.applied_through
                )));
            }
            self.applied_through = entry.index;
            self.bytes_since_snapshot += entry.data.len() as u64;
            let batch;
            let mut conf_state = None;
            let kind = match entry.get_entry_type() {
                EntryType::EntryNormal if entry.data.is_empty() => EntryKind::Noop,
                EntryType::EntryNormal => {
                    batch = Batch::decode(&entry.data).map_err(|e| self.corrupt(&entry, e))?;
                    EntryKind::Proposals {
                        time_ms: batch.time_ms,
                        attestation: batch.attestation,
                        proposals: &batch.proposals,
                    }
                }
                EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
                    conf_state = Some(self.apply_conf_change_entry(&entry)?);
                    EntryKind::ConfChange
                }
            };
            if entry.index <= self.sm.applied_index() {
                // Applied before a restart (the state machine is durable); Raft replays from the
                // stored snapshot, so only conf changes (done above) need redoing.
                self.stats.entries_skipped += 1;
                continue;
            }
            let started = self.metrics.as_ref().map(|_| std::time::Instant::now());
            let output = self
                .sm
                .apply(CommittedEntry {
                    index: entry.index,
                    term: entry.term,
                    kind,
                })
                .map_err(|source| ReplicaError::StateMachine {
                    id: self.id,
                    source,
                })?;
            if self.sm.applied_index() != entry.index {
                return Err(self.invariant(format!(
                    "state machine at {} after applying entry {}",
                    self.sm.applied_index(),
                    entry.index
                )));
            }
            self.stats.entries_applied += 1;
            if let (Some(m), Some(t)) = (&self.metrics, started) {
                let took = t.elapsed();
                m.apply.observe(took);
                if took >= SLOW_STEP_WARN {
                    tracing::warn!(
                        replica = self.id,
                        index = entry.index,
                        bytes = entry.data.len(),
                        ms = took.as_millis() as u64,
                        "slow apply of a committed entry"
                    );
                }
            }
            let proposals: Vec<ProposalId> = match kind {
                EntryKind::Proposals { proposals: ps, .. } => ps.iter().map(|p| p.id).collect(),
                _ => Vec::new(),
            };
            if let Some(&first) = proposals.first() {
                self.batcher.settled(first);
            }
            fx.applied(Applied {
                index: entry.index,
                term: entry.term,
                proposals,
                conf_state,
                output,
                data_hash: crate::state_machine::sha256(&entry.data),
            });
        }
        Ok(())
    }
}

/// The peers `messages` send a snapshot to, with the snapshot's size.
fn note_snapshots(messages: &[Message], to: &mut Vec<(u64, u64)>) {
    to.extend(
        messages
            .iter()
            .filter(|m| m.get_msg_type() == MessageType::MsgSnapshot)
            .map(|m| (m.to, m.get_snapshot().get_data().len() as u64)),
    );
}
