//! What the process tests share: waiting for a condition with a deadline.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// Upper bound on any one wait. Generous: the 2-core machine may be compiling meanwhile, a first
/// start takes a few seconds, and an election 1-2 s of ticks.
pub const DEADLINE: Duration = Duration::from_secs(90);
/// How often a condition is re-checked (status files change every 200 ms).
pub const POLL: Duration = Duration::from_millis(50);

/// Polls `condition` until it returns `Some`, or fails after [`DEADLINE`] naming `what`.
pub fn wait_for<T>(what: &str, mut condition: impl FnMut() -> Option<T>) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = condition() {
            return Ok(v);
        }
        if start.elapsed() > DEADLINE {
            bail!("timed out after {DEADLINE:?} waiting for {what}");
        }
        std::thread::sleep(POLL);
    }
}
