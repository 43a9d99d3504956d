//! The Raft log store: entries, hard state, membership and the latest snapshot.
//!
//! Architecture invariant: **one `Ready`, one durable write.** The replica gathers everything a
//! `Ready` asks to persist (an installed snapshot, appended entries, the hard state, its own
//! snapshot and the compaction that follows it) into one [`WriteBatch`], and
//! [`LogStore::write`] hands it to the [`DurableLog`] as one [`LogWrite`], which the redb
//! backend commits in one write transaction (one `fdatasync`). Only when that returns does the
//! in-memory view change, and only then may the replica send votes or acknowledgements.
//!
//! The store keeps the retained log in memory as well (it is bounded by compaction) so that
//! raft-rs's reads never touch the disk; the disk is read only at start-up.
//!
//! Layout of the state: entries `truncated_index + 1 ..= last_index`; `(truncated_index,
//! truncated_term)` remembers the entry just before the first one, which Raft needs for its
//! log-matching check; `snapshot` is the latest state-machine snapshot, and its metadata carries
//! the membership (`ConfState`) as of its index. Invariant: `truncated_index <= snapshot index`,
//! so every compacted entry is covered by the snapshot.

mod redb_log;
// The simulator's disk: built for this crate's tests and for the `sim` crate (feature
// `sim-disk`), never into the `silkline` binary.
#[cfg(any(test, feature = "sim-disk"))]
mod sim_disk;

pub use redb_log::RedbLog;
#[cfg(any(test, feature = "sim-disk"))]
pub use sim_disk::SimDisk;

use std::cell::Cell;

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState};

use crate::error::StorageError;

/// Index of the genesis snapshot every founding replica starts from. Not 0: the log before it
/// counts as compacted, so a replica that joins later (with no membership of its own) can only
/// be brought up by a snapshot, never by replaying entries it could not interpret (TiKV does
/// the same with its initial log index).
pub const GENESIS_INDEX: u64 = 1;
/// Term of the genesis snapshot; the first election is for term 2.
pub const GENESIS_TERM: u64 = 1;

/// The durable layer under a [`LogStore`]. Implementations: [`RedbLog`] (production) and
/// `SimDisk` (simulator, with crashes; feature `sim-disk`).
pub trait DurableLog: Send {
    /// Reads back everything that was durably written.
    fn load(&mut self) -> Result<LogCore, StorageError>;

    /// Writes `write` atomically and durably. Returns only after the data is on stable storage;
    /// on `Err` the write may or may not have landed (the caller must stop and recover from
    /// whatever [`DurableLog::load`] then returns).
    fn persist(&mut self, write: &LogWrite<'_>) -> Result<(), StorageError>;
}

/// Everything one `Ready` asks the log store to persist. Applied in field order.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    /// A snapshot received from the leader: replaces the whole log.
    pub install_snapshot: Option<Snapshot>,
    /// Entries to append; any stored suffix from `entries[0].index` on is replaced.
    pub entries: Vec<Entry>,
    /// The new hard state (term, vote, commit).
    pub hard_state: Option<HardState>,
    /// A snapshot of the local state machine: becomes the stored snapshot, the log is kept.
    pub local_snapshot: Option<Snapshot>,
    /// Drop entries below this index (they must be covered by the stored snapshot).
    pub compact_to: Option<u64>,
}

impl WriteBatch {
    /// Whether the batch asks for nothing (then no durable write happens at all).
    pub fn is_empty(&self) -> bool {
        self.install_snapshot.is_none()
            && self.entries.is_empty()
            && self.hard_state.is_none()
            && self.local_snapshot.is_none()
            && self.compact_to.is_none()
    }
}

/// A validated [`WriteBatch`], as the durable layer must apply it, in this order:
/// clear the log (if `install`), replace the suffix from `append[0].index` with `append`,
/// drop entries below `compact`'s index, then store `hard_state` and `snapshot`.
#[derive(Debug)]
pub struct LogWrite<'a> {
    /// Clear every entry and set the truncation point to the snapshot's index and term.
    pub install: bool,
    /// Entries to append (contiguous, replacing any stored suffix from their first index).
    pub append: &'a [Entry],
    /// `(compact_to, term of compact_to - 1)`: drop entries below `compact_to`.
    pub compact: Option<(u64, u64)>,
    /// The hard state after this write (always written: it is small).
    pub hard_state: HardState,
    /// The new stored snapshot, if it changes.
    pub snapshot: Option<&'a Snapshot>,
}

/// The log's state, in memory. Also the unit a [`DurableLog`] loads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogCore {
    /// Index of the entry just before `entries[0]` (0 for a log never compacted).
    pub truncated_index: u64,
    /// Term of that entry.
    pub truncated_term: u64,
    /// Retained entries; `entries[i].index == truncated_index + 1 + i`.
    pub entries: Vec<Entry>,
    /// Last persisted hard state.
    pub hard_state: HardState,
    /// Latest stored snapshot (index 0 and empty data before the first one). A durable state
    /// machine's routine snapshots hold no data either: only their position and membership.
    pub snapshot: Snapshot,
}

impl LogCore {
    /// First retained index (`truncated_index + 1`, also when no entry is retained).
    pub fn first_index(&self) -> u64 {
        self.truncated_index + 1
    }

    /// Last index of the log (the truncation point when no entry is retained).
    pub fn last_index(&self) -> u64 {
        self.truncated_index + self.entries.len() as u64
    }

    /// Term of the entry at `index`, if known.
    pub fn term_of(&self, index: u64) -> Option<u64> {
        if index == self.truncated_index {
            return Some(self.truncated_term);
        }
        if index < self.truncated_index || index > self.last_index() {
            return None;
        }
        Some(self.entries[(index - self.first_index()) as usize].term)
    }

    /// Checks the layout invariants; used after load and in tests.
    pub fn check(&self) -> Result<(), StorageError> {
        for (i, e) in self.entries.iter().enumerate() {
            if e.index != self.first_index() + i as u64 {
                return Err(StorageError::Corrupt {
                    what: "entries",
                    reason: format!(
                        "entry {} found at position of index {}",
                        e.index,
                        self.first_index() + i as u64
                    ),
                });
            }
        }
        if self.snapshot.get_metadata().index < self.truncated_index {
            return Err(StorageError::Corrupt {
                what: "snapshot",
                reason: format!(
                    "snapshot index {} below truncation point {}",
                    self.snapshot.get_metadata().index,
                    self.truncated_index
                ),
            });
        }
        Ok(())
    }

    /// Validates `batch` against this state and resolves it into a [`LogWrite`].
    /// `commit_floor` is a commit index learned since the last write (never lowers the commit).
    pub fn plan<'a>(
        &self,
        batch: &'a WriteBatch,
        commit_floor: u64,
    ) -> Result<LogWrite<'a>, StorageError> {
        let invariant = |msg: String| Err(StorageError::Invariant(msg));
        let mut truncated = (self.truncated_index, self.truncated_term);
        let mut last = self.last_index();
        let mut snapshot: Option<&Snapshot> = None;
        let mut hard_state = batch
            .hard_state
            .clone()
            .unwrap_or_else(|| self.hard_state.clone());
        hard_state.commit = hard_state.commit.max(commit_floor);

        if let Some(snap) = &batch.install_snapshot {
            let meta = snap.get_metadata();
            if meta.index < self.truncated_index || meta.index < self.snapshot.get_metadata().index
            {
                return invariant(format!(
                    "installing snapshot {} older than the log's truncation point {}",
                    meta.index, self.truncated_index
                ));
            }
            truncated = (meta.index, meta.term);
            last = meta.index;
            snapshot = Some(snap);
            hard_state.commit = hard_state.commit.max(meta.index);
        }

        let mut first_appended = u64::MAX;
        if let Some(first) = batch.entries.first() {
            for (i, e) in batch.entries.iter().enumerate() {
                if e.index != first.index + i as u64 {
                    return invariant(format!("appended entries not contiguous at {}", e.index));
                }
            }
            if first.index <= truncated.0 {
                return invariant(format!(
                    "append at {} rewrites compacted entries (truncated at {})",
                    first.index, truncated.0
                ));
            }
            if first.index > last + 1 {
                return invariant(format!(
                    "append at {} leaves a gap after last index {last}",
                    first.index
                ));
            }
            first_appended = first.index;
            last = batch.entries.last().expect("non-empty").index;
        }

        if let Some(local) = &batch.local_snapshot {
            if snapshot.is_some() {
                return invariant("a local snapshot and an installed one in one write".into());
            }
            let meta = local.get_metadata();
            if meta.index < self.snapshot.get_metadata().index {
                return invariant(format!(
                    "local snapshot {} older than stored snapshot {}",
                    meta.index,
                    self.snapshot.get_metadata().index
                ));
            }
            if meta.index >= first_appended || self.term_of(meta.index) != Some(meta.term) {
                return invariant(format!(
                    "local snapshot at {} term {} does not match the durable log",
                    meta.index, meta.term
                ));
            }
            snapshot = Some(local);
            hard_state.commit = hard_state.commit.max(meta.index);
        }

        let mut compact = None;
        if let Some(compact_to) = batch.compact_to {
            let covered = snapshot.unwrap_or(&self.snapshot).get_metadata().index;
            if compact_to > covered + 1 {
                return invariant(format!(
                    "compaction to {compact_to} passes the snapshot at {covered}"
                ));
            }
            if compact_to > truncated.0 + 1 {
                if compact_to > first_appended || compact_to > last + 1 {
                    return invariant(format!("compaction to {compact_to} reaches new entries"));
                }
                let term = self.term_of(compact_to - 1).ok_or_else(|| {
                    StorageError::Invariant(format!("no term for index {}", compact_to - 1))
                })?;
                compact = Some((compact_to, term));
            }
        }

        Ok(LogWrite {
            install: batch.install_snapshot.is_some(),
            append: &batch.entries,
            compact,
            hard_state,
            snapshot,
        })
    }

    /// Applies a planned write. Infallible: [`LogCore::plan`] validated it.
    pub fn apply(&mut self, w: &LogWrite<'_>) {
        if w.install {
            let meta = w
                .snapshot
                .expect("install carries a snapshot")
                .get_metadata();
            self.entries.clear();
            self.truncated_index = meta.index;
            self.truncated_term = meta.term;
        }
        if let Some(first) = w.append.first() {
            let keep = (first.index - self.first_index()) as usize;
            self.entries.truncate(keep);
            self.entries.extend_from_slice(w.append);
        }
        if let Some((compact_to, term)) = w.compact {
            let drop = (compact_to - self.first_index()) as usize;
            self.entries.drain(..drop);
            self.truncated_index = compact_to - 1;
            self.truncated_term = term;
        }
        self.hard_state = w.hard_state.clone();
        if let Some(s) = w.snapshot {
            self.snapshot = s.clone();
        }
        debug_assert!(self.check().is_ok(), "{:?}", self.check());
    }
}

/// Whether `id` is a member (voter or learner, incoming or outgoing) of `cs`.
pub fn conf_state_contains(cs: &ConfState, id: u64) -> bool {
    cs.voters.contains(&id)
        || cs.learners.contains(&id)
        || cs.voters_outgoing.contains(&id)
        || cs.learners_next.contains(&id)
}

/// The Raft log store: implements `raft::Storage` over an in-memory [`LogCore`] that mirrors
/// exactly what the [`DurableLog`] holds.
pub struct LogStore {
    /// The mirror of the durable state; changed only after a durable write returned.
    core: LogCore,
    /// Where writes go.
    disk: Box<dyn DurableLog>,
    /// A commit index learned after the last write (from a `LightReady`). It need not be durable
    /// (it can be relearned from the leader), so it is written with the next write.
    commit_floor: u64,
    /// Set when raft-rs asked for a snapshot the stored one cannot serve (too old, or taken
    /// before the requesting peer joined): the replica takes a fresh one at its next `Ready`.
    snapshot_wanted: Cell<bool>,
    /// Durable writes done so far (for tests and metrics).
    writes: u64,
}

impl std::fmt::Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore")
            .field("truncated_index", &self.core.truncated_index)
            .field("last_index", &self.core.last_index())
            .field("hard_state", &self.core.hard_state)
            .field("writes", &self.writes)
            .finish()
    }
}

impl LogStore {
    /// Opens the store, reading back everything the durable layer holds.
    pub fn open(mut disk: Box<dyn DurableLog>) -> Result<LogStore, StorageError> {
        let core = disk.load()?;
        core.check()?;
        Ok(LogStore {
            core,
            disk,
            commit_floor: 0,
            snapshot_wanted: Cell::new(false),
            writes: 0,
        })
    }

    /// Whether the store holds a membership (it was bootstrapped or received a snapshot).
    pub fn is_initialized(&self) -> bool {
        self.core.snapshot.get_metadata().get_conf_state() != &ConfState::default()
    }

    /// Gives a brand-new cluster its genesis: a snapshot at [`GENESIS_INDEX`] holding the
    /// initial voters and the state machine's genesis state (see `Replica::bootstrap`).
    /// A no-op on an initialized store. A replica that joins an existing cluster must *not* be
    /// bootstrapped: it learns membership and state from the leader's snapshot.
    pub fn bootstrap(
        &mut self,
        voters: &[u64],
        genesis_state: Vec<u8>,
    ) -> Result<(), StorageError> {
        if self.is_initialized() {
            return Ok(());
        }
        if voters.is_empty() || self.core.last_index() != 0 {
            return Err(StorageError::Invariant(
                "bootstrap needs voters and an empty store".into(),
            ));
        }
        let mut snap = Snapshot {
            data: genesis_state.into(),
            ..Snapshot::default()
        };
        let meta = snap.mut_metadata();
        meta.index = GENESIS_INDEX;
        meta.term = GENESIS_TERM;
        meta.mut_conf_state().voters = voters.to_vec();
        let hard_state = HardState {
            term: GENESIS_TERM,
            commit: GENESIS_INDEX,
            ..HardState::default()
        };
        self.write(WriteBatch {
            install_snapshot: Some(snap),
            hard_state: Some(hard_state),
            ..WriteBatch::default()
        })
        .map(|_| ())
    }

    /// Initializes an empty store at a backup's position: a snapshot at `index` (of `term`, with
    /// the backup's voters and learners) that holds no state, because the state machine was
    /// restored from the backup beside it, and a hard state committed through `index`. Raft
    /// then goes on from `index + 1`, as after a compaction.
    pub fn restore_point(
        &mut self,
        index: u64,
        term: u64,
        voters: &[u64],
        learners: &[u64],
    ) -> Result<(), StorageError> {
        if self.is_initialized() || self.core.last_index() != 0 {
            return Err(StorageError::Invariant(
                "a backup is restored into an empty Raft log only".into(),
            ));
        }
        if voters.is_empty() || index < GENESIS_INDEX || term < GENESIS_TERM {
            return Err(StorageError::Invariant(
                "a restore point needs voters and a position at or past the genesis".into(),
            ));
        }
        let mut snap = Snapshot::default();
        let meta = snap.mut_metadata();
        meta.index = index;
        meta.term = term;
        meta.mut_conf_state().voters = voters.to_vec();
        meta.mut_conf_state().learners = learners.to_vec();
        let hard_state = HardState {
            term,
            commit: index,
            ..HardState::default()
        };
        self.write(WriteBatch {
            install_snapshot: Some(snap),
            hard_state: Some(hard_state),
            ..WriteBatch::default()
        })
        .map(|_| ())
    }

    /// Persists `batch` in one durable write, then updates the in-memory view. Returns whether
    /// a durable write happened (an empty batch writes nothing).
    pub fn write(&mut self, batch: WriteBatch) -> Result<bool, StorageError> {
        if batch.is_empty() {
            return Ok(false);
        }
        let plan = self.core.plan(&batch, self.commit_floor)?;
        self.disk.persist(&plan)?;
        self.core.apply(&plan);
        self.writes += 1;
        Ok(true)
    }

    /// Records a commit index learned after the last write; written with the next one.
    pub fn note_commit(&mut self, commit: u64) {
        self.commit_floor = self.commit_floor.max(commit);
    }

    /// Takes the "a peer needs a fresher snapshot" flag.
    pub fn take_snapshot_wanted(&self) -> bool {
        self.snapshot_wanted.replace(false)
    }

    /// The in-memory mirror of the durable state.
    pub fn core(&self) -> &LogCore {
        &self.core
    }

    /// Durable writes done since open.
    pub fn writes(&self) -> u64 {
        self.writes
    }
}

fn compacted() -> raft::Error {
    raft::Error::Store(raft::StorageError::Compacted)
}

fn unavailable() -> raft::Error {
    raft::Error::Store(raft::StorageError::Unavailable)
}

impl raft::Storage for LogStore {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(
            self.core.hard_state.clone(),
            self.core.snapshot.get_metadata().get_conf_state().clone(),
        ))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low <= self.core.truncated_index {
            return Err(compacted());
        }
        if high > self.core.last_index() + 1 || low > high {
            return Err(unavailable());
        }
        let first = self.core.first_index();
        let mut out = self.core.entries[(low - first) as usize..(high - first) as usize].to_vec();
        raft::util::limit_size(&mut out, max_size.into());
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx < self.core.truncated_index {
            return Err(compacted());
        }
        self.core.term_of(idx).ok_or_else(unavailable)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.core.first_index())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.core.last_index())
    }

    fn snapshot(&self, request_index: u64, to: u64) -> raft::Result<Snapshot> {
        let snap = &self.core.snapshot;
        let meta = snap.get_metadata();
        // A durable state machine's routine snapshots record only their position: a peer
        // needs one that holds the state.
        let usable = meta.index >= request_index
            && meta.index >= self.core.truncated_index
            && !snap.data.is_empty()
            && conf_state_contains(meta.get_conf_state(), to);
        if usable {
            Ok(snap.clone())
        } else {
            // raft-rs retries later; the replica takes a fresh snapshot meanwhile.
            self.snapshot_wanted.set(true);
            Err(raft::Error::Store(
                raft::StorageError::SnapshotTemporarilyUnavailable,
            ))
        }
    }
}

/// Encodes a protobuf message for storage.
pub(crate) fn encode<M: protobuf::Message>(m: &M) -> Result<Vec<u8>, StorageError> {
    m.write_to_bytes()
        .map_err(|e| StorageError::Invariant(format!("protobuf encode: {e}")))
}

/// Decodes a stored protobuf message.
pub(crate) fn decode<M: protobuf::Message>(
    what: &'static str,
    bytes: &[u8],
) -> Result<M, StorageError> {
    M::parse_from_bytes(bytes).map_err(|e| StorageError::Corrupt {
        what,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests;
