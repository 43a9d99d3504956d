//! The production [`DurableLog`]: one redb database file per replica.
//!
//! redb commits a write transaction with one `fdatasync` (`Durability::Immediate`, its
//! default), and a commit is atomic: after a crash the file holds the last committed
//! transaction entirely, never part of one. sled was rejected for this role: its `flush()` is
//! not an fsync on Linux (STACK.md).

use std::path::Path;

use redb::{Database, ReadableDatabase, TableDefinition};

use super::{DurableLog, LogCore, LogWrite, decode, encode};
use crate::error::StorageError;

/// Log entries by index; values are protobuf-encoded `eraftpb::Entry`.
const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_entries");
/// Small records by name (see the `KEY_*` constants).
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");

/// protobuf `HardState`.
const KEY_HARD_STATE: &str = "hard_state";
/// protobuf `Snapshot` (metadata, membership, state-machine data).
const KEY_SNAPSHOT: &str = "snapshot";
/// 16 bytes: truncated index and term, little-endian.
const KEY_TRUNCATED: &str = "truncated";

/// A redb-backed durable Raft log.
pub struct RedbLog {
    db: Database,
}

impl std::fmt::Debug for RedbLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbLog").finish_non_exhaustive()
    }
}

fn redb_err(e: impl Into<redb::Error>) -> StorageError {
    StorageError::Redb(e.into())
}

/// Bytes of redb's page cache. redb's default is 1 GiB, and it keeps the pages it writes: under
/// sustained load a node's memory grew by that much. The log is read back only at start-up (the
/// store mirrors the retained log in memory), so a small cache costs nothing on the write path.
pub const LOG_CACHE_BYTES: usize = 32 * 1024 * 1024;

impl RedbLog {
    /// Opens (or creates) the database at `path` and makes sure both tables exist.
    pub fn open(path: impl AsRef<Path>) -> Result<RedbLog, StorageError> {
        let db = redb::Builder::new()
            .set_cache_size(LOG_CACHE_BYTES)
            .create(path)
            .map_err(redb_err)?;
        let tx = db.begin_write().map_err(redb_err)?;
        tx.open_table(ENTRIES).map_err(redb_err)?;
        tx.open_table(META).map_err(redb_err)?;
        tx.commit().map_err(redb_err)?;
        Ok(RedbLog { db })
    }
}

impl DurableLog for RedbLog {
    fn load(&mut self) -> Result<LogCore, StorageError> {
        let tx = self.db.begin_read().map_err(redb_err)?;
        let meta = tx.open_table(META).map_err(redb_err)?;
        let mut core = LogCore::default();
        if let Some(v) = meta.get(KEY_HARD_STATE).map_err(redb_err)? {
            core.hard_state = decode("hard_state", v.value())?;
        }
        if let Some(v) = meta.get(KEY_SNAPSHOT).map_err(redb_err)? {
            core.snapshot = decode("snapshot", v.value())?;
        }
        if let Some(v) = meta.get(KEY_TRUNCATED).map_err(redb_err)? {
            let b = v.value();
            if b.len() != 16 {
                return Err(StorageError::Corrupt {
                    what: "truncated",
                    reason: format!("{} bytes, expected 16", b.len()),
                });
            }
            core.truncated_index = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
            core.truncated_term = u64::from_le_bytes(b[8..].try_into().expect("8 bytes"));
        }
        let entries = tx.open_table(ENTRIES).map_err(redb_err)?;
        for row in entries.range::<u64>(..).map_err(redb_err)? {
            let (k, v) = row.map_err(redb_err)?;
            let entry: raft::eraftpb::Entry = decode("entries", v.value())?;
            if entry.index != k.value() {
                return Err(StorageError::Corrupt {
                    what: "entries",
                    reason: format!("key {} holds entry {}", k.value(), entry.index),
                });
            }
            core.entries.push(entry);
        }
        core.check()?;
        Ok(core)
    }

    fn persist(&mut self, w: &LogWrite<'_>) -> Result<(), StorageError> {
        // Encode before opening the transaction so a failure leaves nothing half-done.
        let appended = w
            .append
            .iter()
            .map(|e| Ok((e.index, encode(e)?)))
            .collect::<Result<Vec<_>, StorageError>>()?;
        let hard_state = encode(&w.hard_state)?;
        let snapshot = w.snapshot.map(encode).transpose()?;

        let tx = self.db.begin_write().map_err(redb_err)?;
        {
            let mut entries = tx.open_table(ENTRIES).map_err(redb_err)?;
            let mut meta = tx.open_table(META).map_err(redb_err)?;
            let mut truncated = None;
            if w.install {
                entries.retain(|_, _| false).map_err(redb_err)?;
                let m = w
                    .snapshot
                    .expect("install carries a snapshot")
                    .get_metadata();
                truncated = Some((m.index, m.term));
            }
            if let Some((first, _)) = appended.first() {
                entries
                    .retain_in(*first.., |_, _| false)
                    .map_err(redb_err)?;
                for (index, bytes) in &appended {
                    entries.insert(*index, bytes.as_slice()).map_err(redb_err)?;
                }
            }
            if let Some((compact_to, term)) = w.compact {
                entries
                    .retain_in(..compact_to, |_, _| false)
                    .map_err(redb_err)?;
                truncated = Some((compact_to - 1, term));
            }
            if let Some((index, term)) = truncated {
                let mut b = [0u8; 16];
                b[..8].copy_from_slice(&index.to_le_bytes());
                b[8..].copy_from_slice(&term.to_le_bytes());
                meta.insert(KEY_TRUNCATED, b.as_slice()).map_err(redb_err)?;
            }
            meta.insert(KEY_HARD_STATE, hard_state.as_slice())
                .map_err(redb_err)?;
            if let Some(s) = &snapshot {
                meta.insert(KEY_SNAPSHOT, s.as_slice()).map_err(redb_err)?;
            }
        }
        // Durability::Immediate (redb's default): returns after fdatasync.
        tx.commit().map_err(redb_err)?;
        Ok(())
    }
}
