//! `linearizable_read`: a read served through Raft's ReadIndex (the replica's request layer
//! answers a read point, then the client serves once that replica has applied that far) never
//! returns a state older than a write acknowledged before the read began. And
//! `read_needs_a_leader`: a read point only ever comes after some replica was seen leading
//! since the read began (the leader that confirmed it with a quorum). ledger/tests/client.rs
//! asserts with a timed sleep that a read asked while no node knows a leader is not answered;
//! here it is checked on every read of every seed, and `liveness` requires every read to end in
//! the end, served or failed as the production caller fails it (see `clients`).

use std::collections::BTreeMap;

use replication::state_machine::LogIndex;

use super::Violation;
use super::acknowledged::Ack;
use crate::machines::TxId;

/// One client read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// When the client asked (virtual ms).
    pub started_ms: u64,
    /// How many acknowledgements the clients had seen when it began.
    pub acks_before: usize,
    /// The read point a replica gave, `(node, incarnation, index)`, and when (virtual ms).
    pub answer: Option<(u64, u64, LogIndex, u64)>,
}

/// The reads in flight.
#[derive(Debug, Default)]
pub struct LinearizableReads {
    reads: BTreeMap<u64, Read>,
    next_id: u64,
    /// Reads served and checked.
    pub served: u64,
    /// Reads that ended in an error to their client (no read point in time, their replica
    /// stopped, or it did not apply the read point in time).
    pub failed: u64,
    /// The last virtual time a replica was seen leading.
    leader_seen_ms: Option<u64>,
}

impl LinearizableReads {
    /// A client begins a read at `now_ms`, after `acks_before` acknowledgements.
    pub fn start(&mut self, now_ms: u64, acks_before: usize) -> u64 {
        self.next_id += 1;
        self.reads.insert(
            self.next_id,
            Read {
                started_ms: now_ms,
                acks_before,
                answer: None,
            },
        );
        self.next_id
    }

    /// Read `id` ended in an error to its client: it leaves the set, unchecked.
    pub fn failed(&mut self, id: u64) {
        if self.reads.remove(&id).is_some() {
            self.failed += 1;
        }
    }

    /// Reads begun so far.
    pub fn started(&self) -> u64 {
        self.next_id
    }

    /// Reads not served yet.
    pub fn pending(&self) -> usize {
        self.reads.len()
    }

    /// A replica is leading at `now_ms`.
    pub fn leader_seen(&mut self, now_ms: u64) {
        self.leader_seen_ms = Some(now_ms);
    }

    /// Node `node` (incarnation `incarnation`) gave read `id` the read point `index` at
    /// `now_ms`. A second read point for a read already given one is ignored.
    pub fn read_point(
        &mut self,
        id: u64,
        node: u64,
        incarnation: u64,
        index: LogIndex,
        now_ms: u64,
    ) -> Result<(), Violation> {
        let Some(r) = self.reads.get_mut(&id) else {
            return Ok(());
        };
        if self.leader_seen_ms.is_none_or(|t| t < r.started_ms) {
            return Err(Violation::new(
                "read_needs_a_leader",
                format!(
                    "node {node} gave read {id} (begun at {} virtual ms) the read point {index}, \
                     but no replica has led since",
                    r.started_ms
                ),
            ));
        }
        if r.answer.is_none() {
            r.answer = Some((node, incarnation, index, now_ms));
        }
        Ok(())
    }

    /// Node `node` crashed: the reads waiting for it to apply their read point fail (their
    /// caller's wait ends `Stopped`). Returns how many.
    pub fn crashed(&mut self, node: u64) -> usize {
        self.fail_where(|(n, _, _, _)| n == node)
    }

    /// The reads whose read point came at or before `before_ms` and is not applied yet fail
    /// (their caller's wait ends `TimedOut`). Returns how many.
    pub fn waited_out(&mut self, before_ms: u64) -> usize {
        self.fail_where(|(_, _, _, at)| at <= before_ms)
    }

    fn fail_where(&mut self, f: impl Fn((u64, u64, LogIndex, u64)) -> bool) -> usize {
        let ids: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, r)| r.answer.is_some_and(&f))
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            self.failed(*id);
        }
        ids.len()
    }

    /// The reads node `node` (incarnation `incarnation`, applied through `applied`) can serve
    /// now; they leave the set.
    pub fn due(&mut self, node: u64, incarnation: u64, applied: LogIndex) -> Vec<(u64, Read)> {
        let ids: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, r)| {
                r.answer.is_some_and(|(n, i, index, _)| {
                    n == node && i == incarnation && index <= applied
                })
            })
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .map(|id| (id, self.reads.remove(&id).expect("listed")))
            .collect()
    }

    /// Read `id` served by node `node` from its state at `applied`: every write acknowledged
    /// before the read began is at or below `applied` and held (`holds`).
    pub fn served(
        &mut self,
        id: u64,
        read: &Read,
        node: u64,
        applied: LogIndex,
        acks: &[Ack],
        mut holds: impl FnMut(&TxId) -> Result<bool, String>,
    ) -> Result<(), Violation> {
        self.served += 1;
        for ack in &acks[..read.acks_before] {
            let held = ack.index <= applied
                && holds(&ack.id).map_err(|e| {
                    Violation::new("linearizable_read", format!("node {node}: {e}"))
                })?;
            if !held {
                return Err(Violation::new(
                    "linearizable_read",
                    format!(
                        "read {id} (begun at {} virtual ms) served by node {node} at applied \
                         index {applied} misses transaction {} acknowledged at index {} \
                         ({} virtual ms)",
                        read.started_ms,
                        hex::encode(&ack.id[..8]),
                        ack.index,
                        ack.at_ms
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(id: u8, index: LogIndex) -> Ack {
        Ack {
            id: [id; 32],
            index,
            node: 1,
            at_ms: 5,
        }
    }

    #[test]
    fn a_read_older_than_an_acknowledged_write_fails() {
        let acks = [ack(1, 4), ack(2, 9)];
        let mut c = LinearizableReads::default();
        // Begun after the first acknowledgement only.
        let id = c.start(10, 1);
        c.leader_seen(12);
        c.read_point(id, 2, 1, 3, 13).unwrap();
        assert!(c.due(2, 1, 2).is_empty(), "not applied that far yet");
        let (_, read) = c.due(2, 1, 3).pop().unwrap();
        // Served at 3, below the acknowledged write at 4: stale.
        let v = c.served(id, &read, 2, 3, &acks, |_| Ok(true)).unwrap_err();
        assert_eq!(v.property, "linearizable_read");
        // At 4 but the state does not hold it: stale too. At 4 holding it: fine, and the
        // second acknowledgement (after the read began) does not count.
        assert!(c.served(id, &read, 2, 4, &acks, |_| Ok(false)).is_err());
        c.served(id, &read, 2, 4, &acks, |id| Ok(id[0] == 1))
            .unwrap();
    }

    #[test]
    fn a_read_point_without_a_leader_fails_and_a_crash_fails_the_reads_waiting() {
        let mut c = LinearizableReads::default();
        let id = c.start(20, 0);
        let v = c.read_point(id, 1, 1, 2, 21).unwrap_err();
        assert_eq!(v.property, "read_needs_a_leader");
        // A leader seen before the read began does not count; one since does.
        c.leader_seen(19);
        assert!(c.read_point(id, 1, 1, 2, 22).is_err());
        c.leader_seen(25);
        c.read_point(id, 1, 1, 2, 26).unwrap();
        let other = c.start(30, 0);
        c.leader_seen(30);
        c.read_point(other, 2, 1, 2, 31).unwrap();
        assert_eq!(c.crashed(1), 1);
        assert!(c.due(1, 1, 5).is_empty(), "the read failed with the crash");
        assert_eq!((c.pending(), c.failed), (1, 1));
        // The other waits for node 2 until its client gives up.
        assert_eq!(c.waited_out(30), 0);
        assert_eq!(c.waited_out(31), 1);
        assert_eq!((c.pending(), c.failed), (0, 2));
    }
}
