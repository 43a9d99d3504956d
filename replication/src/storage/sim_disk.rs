//! The simulator's [`DurableLog`]: a synced layer that survives crashes, and crash injection.
//!
//! The model is redb's: a write either commits whole or not at all. Everything a replica holds
//! that has not been through [`DurableLog::persist`] — its in-memory log store, Raft's unstable
//! entries, the `Ready` being handled — is the unsynced layer, and a crash loses all of it. A
//! crash armed with [`SimDisk::crash_on_next_write`] makes the next `persist` fail; the seed
//! decides whether that write reached the synced layer before the "power cut" (the commit
//! happened but was never acknowledged) or not (torn writes are discarded by redb's recovery,
//! so the synced layer shows the previous commit).

use std::sync::{Arc, Mutex, MutexGuard};

use super::{DurableLog, LogCore, LogWrite};
use crate::error::StorageError;

/// Shared between the simulator (which outlives crashes) and the replica's [`super::LogStore`].
#[derive(Debug, Clone, Default)]
pub struct SimDisk {
    inner: Arc<Mutex<SimDiskState>>,
}

#[derive(Debug, Default)]
struct SimDiskState {
    /// What survives a crash.
    synced: LogCore,
    /// `Some(lands)`: the next write crashes; `lands` says whether it reached the synced layer.
    crash_next_write: Option<bool>,
    /// Successful durable writes.
    syncs: u64,
}

impl SimDisk {
    /// An empty disk.
    pub fn new() -> SimDisk {
        SimDisk::default()
    }

    fn state(&self) -> MutexGuard<'_, SimDiskState> {
        // The simulator is single-threaded; a poisoned lock means a checker already panicked.
        self.inner.lock().expect("sim disk lock poisoned")
    }

    /// Makes the next write fail as a crash; `lands` decides whether it was synced anyway.
    pub fn crash_on_next_write(&self, lands: bool) {
        self.state().crash_next_write = Some(lands);
    }

    /// Cancels an armed crash (the replica crashed some other way first).
    pub fn disarm(&self) {
        self.state().crash_next_write = None;
    }

    /// A copy of the synced layer.
    pub fn synced(&self) -> LogCore {
        self.state().synced.clone()
    }

    /// Successful durable writes so far.
    pub fn syncs(&self) -> u64 {
        self.state().syncs
    }
}

impl DurableLog for SimDisk {
    fn load(&mut self) -> Result<LogCore, StorageError> {
        Ok(self.state().synced.clone())
    }

    fn persist(&mut self, write: &LogWrite<'_>) -> Result<(), StorageError> {
        let mut s = self.state();
        if let Some(lands) = s.crash_next_write.take() {
            if lands {
                s.synced.apply(write);
            }
            return Err(StorageError::SimulatedCrash);
        }
        s.synced.apply(write);
        s.syncs += 1;
        Ok(())
    }
}
