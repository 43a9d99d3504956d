//! The simulator's state machine: a SHA-256 hash chain over every applied payload, plus a
//! small key -> owner map (the model a later "exactly one possessor" checker will use).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::StateMachineError;
use crate::replica::expect_next_index;
use crate::state_machine::{
    CommittedEntry, EntryKind, LogIndex, StateHash, StateMachine, StateSnapshot, sha256,
};

/// Payloads of the form `set:<key>:<owner>` assign a key; anything else only extends the chain.
const SET_PREFIX: &str = "set:";

/// In-memory, so the applied index is trivially atomic with the state. The simulator keeps or
/// drops the whole value across a crash, modelling a durable or a volatile state machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainMachine {
    /// Last applied index.
    applied_index: LogIndex,
    /// Hash chain head: `sha256(previous || index || id || len || payload)` per payload.
    chain: [u8; 32],
    /// Who owns each key; `BTreeMap` so iteration (and the state hash) is ordered.
    owners: BTreeMap<String, String>,
    /// Payloads applied, all entries included.
    payloads_applied: u64,
}

impl ChainMachine {
    /// Head of the hash chain.
    pub fn chain(&self) -> [u8; 32] {
        self.chain
    }

    /// The key -> owner map.
    pub fn owners(&self) -> &BTreeMap<String, String> {
        &self.owners
    }

    /// Payloads applied so far.
    pub fn payloads_applied(&self) -> u64 {
        self.payloads_applied
    }
}

impl StateMachine for ChainMachine {
    /// The chain head after the entry.
    type Output = [u8; 32];

    fn apply(&mut self, entry: CommittedEntry<'_>) -> Result<[u8; 32], StateMachineError> {
        expect_next_index(self.applied_index, entry.index)?;
        if let EntryKind::Proposals { proposals, .. } = entry.kind {
            for p in proposals {
                let mut buf = Vec::with_capacity(32 + 20 + p.payload.len());
                buf.extend_from_slice(&self.chain);
                buf.extend_from_slice(&entry.index.to_le_bytes());
                buf.extend_from_slice(&p.id.0.to_le_bytes());
                buf.extend_from_slice(&(p.payload.len() as u32).to_le_bytes());
                buf.extend_from_slice(&p.payload);
                self.chain = sha256(&buf);
                self.payloads_applied += 1;
                if let Some((key, owner)) = std::str::from_utf8(&p.payload)
                    .ok()
                    .and_then(|s| s.strip_prefix(SET_PREFIX))
                    .and_then(|s| s.split_once(':'))
                {
                    self.owners.insert(key.to_owned(), owner.to_owned());
                }
            }
        }
        self.applied_index = entry.index;
        Ok(self.chain)
    }

    fn snapshot(&self) -> Result<StateSnapshot, StateMachineError> {
        let data = serde_json::to_vec(self).map_err(|e| StateMachineError::InvalidSnapshot {
            index: self.applied_index,
            reason: e.to_string(),
        })?;
        Ok(StateSnapshot {
            applied_index: self.applied_index,
            data,
        })
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), StateMachineError> {
        let invalid = |reason: String| StateMachineError::InvalidSnapshot {
            index: snapshot.applied_index,
            reason,
        };
        let restored: ChainMachine =
            serde_json::from_slice(&snapshot.data).map_err(|e| invalid(e.to_string()))?;
        if restored.applied_index != snapshot.applied_index {
            return Err(invalid(format!(
                "data describes index {}",
                restored.applied_index
            )));
        }
        *self = restored;
        Ok(())
    }

    fn applied_index(&self) -> LogIndex {
        self.applied_index
    }

    fn state_hash(&self) -> StateHash {
        let mut buf = Vec::new();
        buf.extend_from_slice(&self.applied_index.to_le_bytes());
        buf.extend_from_slice(&self.chain);
        buf.extend_from_slice(&self.payloads_applied.to_le_bytes());
        for (k, v) in &self.owners {
            for s in [k, v] {
                buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
                buf.extend_from_slice(s.as_bytes());
            }
        }
        sha256(&buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Proposal, ProposalId};

    fn apply(m: &mut ChainMachine, index: u64, payloads: &[&str]) {
        let proposals: Vec<Proposal> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| Proposal {
                id: ProposalId(index * 100 + i as u64),
                payload: p.as_bytes().to_vec(),
            })
            .collect();
        m.apply(CommittedEntry {
            index,
            term: 1,
            kind: EntryKind::Proposals {
                time_ms: 0,
                proposals: &proposals,
            },
        })
        .unwrap();
    }

    #[test]
    fn deterministic_snapshot_round_trip_and_order_check() {
        let mut a = ChainMachine::default();
        apply(&mut a, 1, &["set:k1:alice", "x"]);
        apply(&mut a, 2, &["set:k1:bob"]);
        assert_eq!(a.owners().get("k1").map(String::as_str), Some("bob"));
        let mut b = ChainMachine::default();
        b.restore(&a.snapshot().unwrap()).unwrap();
        assert_eq!(a.state_hash(), b.state_hash());
        apply(&mut a, 3, &["y"]);
        apply(&mut b, 3, &["y"]);
        assert_eq!(a, b);
        let err = a
            .apply(CommittedEntry {
                index: 9,
                term: 1,
                kind: EntryKind::Noop,
            })
            .unwrap_err();
        assert!(matches!(
            err,
            StateMachineError::OutOfOrder { applied: 3, got: 9 }
        ));
        let mut c = ChainMachine::default();
        apply(&mut c, 1, &["x", "set:k1:alice"]);
        assert_ne!(c.chain(), {
            let mut d = ChainMachine::default();
            apply(&mut d, 1, &["set:k1:alice", "x"]);
            d.chain()
        });
    }
}
