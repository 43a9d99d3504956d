//! `exactly_one_possessor`: every bill a replica holds satisfies the workflow's invariants (an
//! issued bill has exactly one possessor), and every replica names the same possessor of each
//! bill at the same applied index. The machine reads its bills from its own store (the
//! ledger's stored document states), so this judges what was persisted, not a side copy.

use std::collections::BTreeMap;

use replication::state_machine::LogIndex;

use super::Violation;
use crate::machines::Possessors;

/// Who possessed each bill at each applied index.
#[derive(Debug, Default)]
pub struct ExactlyOnePossessor {
    possessors: BTreeMap<LogIndex, Possessors>,
}

impl ExactlyOnePossessor {
    /// Node `node`'s bills at `applied`: their possessors, or the invariant a bill broke.
    pub fn bills(
        &mut self,
        node: u64,
        applied: LogIndex,
        bills: Result<Possessors, String>,
    ) -> Result<(), Violation> {
        let possessors = bills.map_err(|broken| {
            Violation::new(
                "exactly_one_possessor",
                format!("node {node} at applied index {applied}: {broken}"),
            )
        })?;
        match self.possessors.get(&applied) {
            Some(seen) if *seen != possessors => Err(Violation::new(
                "exactly_one_possessor",
                format!(
                    "node {node} at applied index {applied} has possessors {possessors:?}, \
                     another replica had {seen:?}"
                ),
            )),
            Some(_) => Ok(()),
            None => {
                self.possessors.insert(applied, possessors);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bill: &str, who: Option<&str>) -> Possessors {
        Possessors::from([(bill.to_owned(), who.map(str::to_owned))])
    }

    #[test]
    fn a_broken_bill_or_two_possessors_at_one_index_fail() {
        let mut c = ExactlyOnePossessor::default();
        c.bills(1, 4, Ok(one("CARRIER/SIM1", Some("SHIPPER"))))
            .unwrap();
        c.bills(2, 4, Ok(one("CARRIER/SIM1", Some("SHIPPER"))))
            .unwrap();
        let v = c
            .bills(3, 4, Ok(one("CARRIER/SIM1", Some("BANK"))))
            .unwrap_err();
        assert_eq!(v.property, "exactly_one_possessor");
        let v = c
            .bills(3, 5, Err("CARRIER/SIM1: issued without a possessor".into()))
            .unwrap_err();
        assert_eq!(v.property, "exactly_one_possessor");
    }
}
