//! `liveness`: once the network heals and every replica is back, all members apply everything
//! committed (and every read is answered) within a bounded virtual time.

use super::Violation;

/// The deadline of convergence.
#[derive(Debug, Clone, Copy)]
pub struct Liveness {
    /// Virtual ms by which the cluster must have converged.
    pub deadline_ms: u64,
}

impl Liveness {
    /// At `now_ms`, not converged yet; `progress` says where each replica is.
    pub fn waiting(&self, now_ms: u64, progress: impl FnOnce() -> String) -> Result<(), Violation> {
        if now_ms > self.deadline_ms {
            return Err(Violation::new(
                "liveness",
                format!(
                    "not converged by {} virtual ms: {}",
                    self.deadline_ms,
                    progress()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_past_the_deadline_fails() {
        let c = Liveness { deadline_ms: 100 };
        assert!(c.waiting(100, || unreachable!()).is_ok());
        let v = c.waiting(101, || "[1 down]".into()).unwrap_err();
        assert_eq!(v.property, "liveness");
        assert!(v.detail.contains("[1 down]"));
    }
}
