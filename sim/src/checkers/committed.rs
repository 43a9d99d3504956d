//! `committed_never_changes`: what any replica ever holds as committed at an index, and what
//! any replica applies there, is the same entry, across crashes and restarts (Raft paper,
//! figure 3: state machine safety and leader completeness).

use std::collections::BTreeMap;

use replication::state_machine::LogIndex;

use super::Violation;

/// `(term, sha256(data))` of the entry committed at each index.
#[derive(Debug, Default)]
pub struct CommittedNeverChanges {
    committed: BTreeMap<LogIndex, (u64, [u8; 32])>,
}

impl CommittedNeverChanges {
    /// Node `node` holds as committed (or applied: `how`) entry `(term, hash)` at `index`.
    pub fn entry(
        &mut self,
        node: u64,
        index: LogIndex,
        term: u64,
        hash: [u8; 32],
        how: &str,
    ) -> Result<(), Violation> {
        match self.committed.get(&index) {
            Some(&(t, h)) if (t, h) != (term, hash) => Err(Violation::new(
                "committed_never_changes",
                format!(
                    "node {node} {how} index {index} term {term} data {}, but term {t} data {} \
                     was committed there",
                    hex::encode(&hash[..8]),
                    hex::encode(&h[..8])
                ),
            )),
            Some(_) => Ok(()),
            None => {
                self.committed.insert(index, (term, hash));
                Ok(())
            }
        }
    }

    /// The highest index seen committed.
    pub fn highest(&self) -> Option<LogIndex> {
        self.committed.keys().next_back().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_entry_at_a_committed_index_fails() {
        let mut c = CommittedNeverChanges::default();
        c.entry(1, 5, 2, [1; 32], "applied").unwrap();
        c.entry(2, 5, 2, [1; 32], "holds as committed").unwrap();
        assert_eq!(c.highest(), Some(5));
        let v = c.entry(3, 5, 3, [1; 32], "applied").unwrap_err();
        assert_eq!(v.property, "committed_never_changes");
        assert!(c.entry(3, 5, 2, [2; 32], "applied").is_err());
    }
}
