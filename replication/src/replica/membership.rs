//! Membership: the conf changes a committed entry carries, applied to Raft (and reported),
//! and, on the leader, the reconciliation of Raft's configuration with the membership the state
//! machine prescribes, one single-node change at a time.
//!
//! Not membership policy: who may join is the state machine's business
//! ([`StateMachine::membership`]); this module only replicates and applies the changes.

use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, ConfChangeV2, ConfState, Entry, EntryType};

use super::Replica;
use crate::error::ReplicaError;
use crate::state_machine::{Membership, StateMachine};

impl<S: StateMachine> Replica<S> {
    /// Applies the conf change that committed `entry` carries (a `ConfChange` or a
    /// `ConfChangeV2`) to Raft, and returns the membership after it.
    pub(super) fn apply_conf_change_entry(
        &mut self,
        entry: &Entry,
    ) -> Result<ConfState, ReplicaError> {
        if entry.get_entry_type() == EntryType::EntryConfChangeV2 {
            let cc =
                ConfChangeV2::parse_from_bytes(&entry.data).map_err(|e| self.corrupt(entry, e))?;
            self.conf_state = self.node.apply_conf_change(&cc)?;
            return Ok(self.conf_state.clone());
        }
        let cc = ConfChange::parse_from_bytes(&entry.data).map_err(|e| self.corrupt(entry, e))?;
        self.conf_state = self.node.apply_conf_change(&cc)?;
        tracing::info!(replica = self.id, index = entry.index, change = ?cc.get_change_type(), node = cc.node_id, voters = ?self.conf_state.voters, learners = ?self.conf_state.learners, "membership changed");
        if cc.get_change_type() == ConfChangeType::RemoveNode && cc.node_id == self.id {
            tracing::warn!(
                replica = self.id,
                "this node was removed from the network: it no longer votes or receives the log"
            );
        }
        Ok(self.conf_state.clone())
    }

    /// On the leader, brings Raft's configuration one step closer to the membership the state
    /// machine prescribes ([`StateMachine::membership`]; the ledger's node set): at most one
    /// single-node change is proposed, and only when no conf change is pending (raft-rs's
    /// `pending_conf_index`, which a new leader sets to the end of its log) and the replica is
    /// not replaying entries its state machine already holds. Both sides are compared as of
    /// the same applied index, so a change is proposed again only if it was lost, by this
    /// leader or by the next one, and a change already in the configuration is never proposed:
    /// each committed `ADD_NODE`/`PROMOTE_NODE`/`REMOVE_NODE` takes effect exactly once.
    ///
    /// Removing the leader itself is not proposed by it: it hands leadership to a voter that
    /// stays (raft-rs would leave a removed leader leading without a vote), and the new leader
    /// proposes the removal.
    pub(super) fn reconcile_membership(&mut self) {
        if self.stopped
            || !self.is_leader()
            || self.applied_through != self.sm.applied_index()
            || self.node.raft.has_pending_conf()
        {
            return;
        }
        let Some(want) = self.sm.membership() else {
            return;
        };
        let Some((change, node)) = next_conf_change(&self.conf_state, &want) else {
            return;
        };
        if change == ConfChangeType::RemoveNode && node == self.id {
            if self.node.raft.lead_transferee.is_some() {
                return;
            }
            let successor = want
                .voters
                .iter()
                .copied()
                .find(|v| *v != self.id && self.conf_state.voters.contains(v));
            if let Some(to) = successor {
                tracing::info!(
                    replica = self.id,
                    to,
                    "this leader is removed from the network; transferring leadership"
                );
                self.node.transfer_leader(to);
            }
            return;
        }
        tracing::info!(
            replica = self.id,
            ?change,
            node,
            "proposing a membership change"
        );
        if let Err(e) = self
            .node
            .propose_conf_change(Vec::new(), conf_change(change, node))
        {
            tracing::debug!(replica = self.id, error = %e, "membership change not proposed");
        }
    }
}

/// The first single-node change that brings `current` closer to `want`, in a fixed order:
/// new learners, then promotions (or voters added directly), then removals. Demoting a voter
/// to a learner is never prescribed by the ledger and is not done. `None` when they agree.
pub fn next_conf_change(current: &ConfState, want: &Membership) -> Option<(ConfChangeType, u64)> {
    let present = |id: &u64| current.voters.contains(id) || current.learners.contains(id);
    if let Some(&id) = want.learners.iter().find(|id| !present(id)) {
        return Some((ConfChangeType::AddLearnerNode, id));
    }
    if let Some(&id) = want.voters.iter().find(|id| !current.voters.contains(id)) {
        return Some((ConfChangeType::AddNode, id));
    }
    let wanted = |id: &u64| want.voters.contains(id) || want.learners.contains(id);
    let mut members: Vec<u64> = current
        .voters
        .iter()
        .chain(&current.learners)
        .copied()
        .collect();
    members.sort_unstable();
    members
        .into_iter()
        .find(|id| !wanted(id))
        .map(|id| (ConfChangeType::RemoveNode, id))
}

/// Builds a single-node conf change.
pub fn conf_change(change_type: raft::eraftpb::ConfChangeType, node_id: u64) -> ConfChange {
    let mut cc = ConfChange::default();
    cc.set_change_type(change_type);
    cc.node_id = node_id;
    cc
}
