//! The simulated network: messages in flight by delivery time, loss, duplication, delay and
//! reordering drawn from the run's seed, and partitions. No real I/O.

use std::collections::BTreeMap;

use raft::eraftpb::Message;

use crate::machines::SimMachine;
use crate::runner::{SimFailure, Simulation};

/// Messages in flight at once. Raft's own flow control keeps far below this; reaching it means
/// a message storm, which is reported.
const IN_FLIGHT_MAX: usize = 100_000;

/// A message on the wire.
pub(crate) struct InFlight {
    pub(crate) from: u64,
    pub(crate) message: Message,
}

/// What is on the wire, and who cannot talk to whom.
#[derive(Default)]
pub(crate) struct Network {
    /// Messages by `(delivery time, sequence)`: the sequence breaks ties deterministically.
    in_flight: BTreeMap<(u64, u64), InFlight>,
    sequence: u64,
    /// `(side of each node, until)`: nodes on different sides cannot talk.
    partition: Option<(Vec<bool>, u64)>,
}

impl Network {
    /// When the next message is due.
    pub(crate) fn next_delivery_ms(&self) -> Option<u64> {
        self.in_flight.keys().next().map(|k| k.0)
    }

    /// Whether `a` and `b` (node ids) are on different sides of a partition.
    pub(crate) fn partitioned(&self, a: u64, b: u64) -> bool {
        match &self.partition {
            Some((sides, _)) => sides[(a - 1) as usize] != sides[(b - 1) as usize],
            None => false,
        }
    }

    pub(crate) fn is_partitioned(&self) -> bool {
        self.partition.is_some()
    }

    /// Whether the current partition has run its time at `now_ms`.
    pub(crate) fn partition_over(&self, now_ms: u64) -> bool {
        self.partition
            .as_ref()
            .is_some_and(|(_, until)| *until <= now_ms)
    }

    /// Splits the nodes into `sides` until `until_ms`.
    pub(crate) fn partition(&mut self, sides: Vec<bool>, until_ms: u64) {
        self.partition = Some((sides, until_ms));
    }

    /// Ends any partition.
    pub(crate) fn heal(&mut self) {
        self.partition = None;
    }

    fn enqueue(&mut self, at_ms: u64, from: u64, message: Message) {
        self.sequence += 1;
        self.in_flight
            .insert((at_ms, self.sequence), InFlight { from, message });
    }

    /// The next message due at or before `now_ms`.
    fn pop_due(&mut self, now_ms: u64) -> Option<InFlight> {
        let entry = self.in_flight.first_entry()?;
        (entry.key().0 <= now_ms).then(|| entry.remove())
    }
}

impl<M: SimMachine> Simulation<M> {
    /// Puts `messages` from node `from` on the wire: each is lost (a partition, or the loss
    /// rate before the heal), or delivered once or twice after a short or, rarely, long delay.
    pub(crate) fn send(&mut self, from: u64, messages: Vec<Message>) -> Result<(), SimFailure> {
        for message in messages {
            let to = message.to;
            if to == 0 || to > self.nodes.len() as u64 {
                return Err(self.fail("well_formed", format!("message to unknown node {to}")));
            }
            if self.network.partitioned(from, to)
                || (!self.healed && self.rng.chance(self.config.drop_per_mille))
            {
                self.report.dropped += 1;
                continue;
            }
            let copies = if self.rng.chance(self.config.duplicate_per_mille) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let delay = if self.rng.chance(50) {
                    self.rng.range(20, 150)
                } else {
                    self.rng.range(1, 15)
                };
                self.network
                    .enqueue(self.now_ms + delay, from, message.clone());
            }
        }
        if self.network.in_flight.len() > IN_FLIGHT_MAX {
            return Err(self.fail(
                "bounded_network",
                format!("{} messages in flight", self.network.in_flight.len()),
            ));
        }
        Ok(())
    }

    /// Delivers every message due now (to a live replica on the same side).
    pub(crate) fn deliver_due(&mut self) -> Result<(), SimFailure> {
        while let Some(InFlight { from, message }) = self.network.pop_due(self.now_ms) {
            let to = message.to;
            let i = (to - 1) as usize;
            if self.network.partitioned(from, to) || self.nodes[i].replica.is_none() {
                self.report.dropped += 1;
                continue;
            }
            self.report.delivered += 1;
            self.trace(&[3, self.now_ms, from, to, message.get_msg_type() as u64]);
            let replica = self.nodes[i].replica.as_mut().expect("live");
            // Messages from unknown peers or stale terms are refused by raft-rs; not a failure.
            let _ = replica.step(message);
            // Rarely, crash right after the step: whatever the message changed in memory (say,
            // appended entries not yet in a Ready) is lost.
            if !self.healed && self.rng.chance(self.config.crash_per_mille / 5) {
                self.crash(i, false)?;
            }
        }
        Ok(())
    }
}
