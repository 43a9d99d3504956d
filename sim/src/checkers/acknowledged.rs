//! `acknowledged_in_every_chain`: a transaction acknowledged to its client (the block its
//! proposer applied records it as committed) is, as committed, in the chain of every replica
//! that has applied that far: crashes, lost unsynced writes and snapshot installs never take an
//! acknowledged transaction back.

use replication::state_machine::LogIndex;

use super::Violation;
use crate::machines::TxId;

/// One acknowledgement: transaction `id` committed in the entry at `index`, as applied by its
/// proposer `node`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub id: TxId,
    pub index: LogIndex,
    pub node: u64,
    pub at_ms: u64,
}

/// Every acknowledgement so far, in the order the clients saw them.
#[derive(Debug, Default)]
pub struct AcknowledgedInEveryChain {
    acks: Vec<Ack>,
}

impl AcknowledgedInEveryChain {
    /// A client was told its transaction committed.
    pub fn acknowledge(&mut self, ack: Ack) {
        self.acks.push(ack);
    }

    /// The acknowledgements, oldest first.
    pub fn acks(&self) -> &[Ack] {
        &self.acks
    }

    /// Node `node` has applied through `applied`; `holds` answers whether its chain holds a
    /// transaction as committed. Every acknowledgement at or below `applied` must be held.
    pub fn replica(
        &self,
        node: u64,
        applied: LogIndex,
        mut holds: impl FnMut(&TxId) -> Result<bool, String>,
    ) -> Result<(), Violation> {
        for ack in self.acks.iter().filter(|a| a.index <= applied) {
            let held = holds(&ack.id).map_err(|e| {
                Violation::new("acknowledged_in_every_chain", format!("node {node}: {e}"))
            })?;
            if !held {
                return Err(Violation::new(
                    "acknowledged_in_every_chain",
                    format!(
                        "node {node} applied through {applied} but does not hold transaction {} \
                         acknowledged by node {} at index {} ({} virtual ms)",
                        hex::encode(&ack.id[..8]),
                        ack.node,
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

    #[test]
    fn an_acknowledged_transaction_missing_from_a_replica_fails() {
        let mut c = AcknowledgedInEveryChain::default();
        let ack = |id: u8, index| Ack {
            id: [id; 32],
            index,
            node: 1,
            at_ms: 10,
        };
        c.acknowledge(ack(1, 3));
        c.acknowledge(ack(2, 7));
        // A replica at 5 need not hold the second yet; one at 7 must.
        c.replica(2, 5, |id| Ok(id[0] == 1)).unwrap();
        let v = c.replica(2, 7, |id| Ok(id[0] == 1)).unwrap_err();
        assert_eq!(v.property, "acknowledged_in_every_chain");
        assert!(c.replica(3, 9, |_| Err("io".into())).is_err());
    }
}
