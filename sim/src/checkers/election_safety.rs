//! `election_safety`: at most one leader per term (Raft paper, figure 3).

use std::collections::BTreeMap;

use super::Violation;

/// The leader seen in each term.
#[derive(Debug, Default)]
pub struct ElectionSafety {
    leaders: BTreeMap<u64, u64>,
}

impl ElectionSafety {
    /// Node `id` is leader in `term`. `Ok(true)` the first time this term's leader is seen.
    pub fn leader(&mut self, term: u64, id: u64) -> Result<bool, Violation> {
        match self.leaders.get(&term) {
            Some(&other) if other != id => Err(Violation::new(
                "election_safety",
                format!("nodes {other} and {id} both leader in term {term}"),
            )),
            Some(_) => Ok(false),
            None => {
                self.leaders.insert(term, id);
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_leaders_in_one_term_fail() {
        let mut c = ElectionSafety::default();
        assert_eq!(c.leader(2, 1), Ok(true));
        assert_eq!(c.leader(2, 1), Ok(false));
        assert_eq!(c.leader(3, 2), Ok(true));
        let v = c.leader(2, 3).unwrap_err();
        assert_eq!(v.property, "election_safety");
    }
}
