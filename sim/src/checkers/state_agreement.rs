//! `state_agreement`: replicas at the same applied index have the same state hash.

use std::collections::BTreeMap;

use replication::state_machine::{LogIndex, StateHash};

use super::Violation;

/// The state hash seen at each applied index.
#[derive(Debug, Default)]
pub struct StateAgreement {
    hashes: BTreeMap<LogIndex, StateHash>,
}

impl StateAgreement {
    /// Node `node` has state `hash` at applied index `applied`.
    pub fn state(
        &mut self,
        node: u64,
        applied: LogIndex,
        hash: StateHash,
    ) -> Result<(), Violation> {
        match self.hashes.get(&applied) {
            Some(h) if *h != hash => Err(Violation::new(
                "state_agreement",
                format!(
                    "node {node} at applied index {applied} has state {}, another replica had {}",
                    hex::encode(&hash[..8]),
                    hex::encode(&h[..8])
                ),
            )),
            Some(_) => Ok(()),
            None => {
                self.hashes.insert(applied, hash);
                Ok(())
            }
        }
    }

    /// The members of a converged cluster, all at `index`, have these hashes.
    pub fn members(index: LogIndex, hashes: &[StateHash]) -> Result<(), Violation> {
        if hashes.windows(2).any(|w| w[0] != w[1]) {
            return Err(Violation::new(
                "state_agreement",
                format!("members differ at index {index}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_states_at_one_index_fail() {
        let mut c = StateAgreement::default();
        c.state(1, 3, [7; 32]).unwrap();
        c.state(2, 3, [7; 32]).unwrap();
        c.state(2, 4, [8; 32]).unwrap();
        assert_eq!(
            c.state(3, 3, [9; 32]).unwrap_err().property,
            "state_agreement"
        );
        assert!(StateAgreement::members(4, &[[1; 32], [1; 32]]).is_ok());
        assert!(StateAgreement::members(4, &[[1; 32], [2; 32]]).is_err());
    }
}
