//! The state's Raft snapshots and their restore: a whole serialized state
//! ([`LedgerState::export_snapshot`], [`LedgerState::import_snapshot`]; the genesis snapshot, and
//! a state machine that does not stream), or, once streaming is enabled, a descriptor of a view
//! that [`crate::stream`] streams and imports, which [`LedgerState::restore_snapshot`] then
//! switches to.
//!
//! What this module is not: the streaming itself (views, pre-images, chunks, imports) is
//! [`crate::stream`]'s; this is where the state hands over and takes back its store.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::records::{corrupt, u64_value};
use crate::state::LedgerState;
use crate::stream::{self as streamed, Descriptor};
use crate::{ChainError, keys, sha256};

/// First bytes of a snapshot, with the format version.
const SNAPSHOT_MAGIC: &[u8; 8] = b"SLKSNAP1";

impl LedgerState {
    /// Every key and value of the store, with the applied index and the genesis hash:
    ///
    /// ```text
    /// "SLKSNAP1" || applied index u64 || genesis hash (32) || count u64 ||
    ///   count x (key length u32 || key || value length u32 || value) || SHA-256 of all before
    /// ```
    ///
    /// All integers big-endian. It is held in memory (the replica's snapshot type is bytes).
    pub fn export_snapshot(&self) -> Result<Vec<u8>, ChainError> {
        let mut out = Vec::new();
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(&self.applied_index.to_be_bytes());
        out.extend_from_slice(&self.genesis_hash.0);
        let count_at = out.len();
        out.extend_from_slice(&0u64.to_be_bytes());
        let mut count = 0u64;
        // One sled snapshot-consistent pass: apply_block never runs concurrently (&mut self).
        for item in self.tree.iter() {
            let (k, v) = item?;
            let klen = u32::try_from(k.len()).map_err(|_| corrupt("snapshot", "key too long"))?;
            let vlen = u32::try_from(v.len()).map_err(|_| corrupt("snapshot", "value too long"))?;
            out.extend_from_slice(&klen.to_be_bytes());
            out.extend_from_slice(&k);
            out.extend_from_slice(&vlen.to_be_bytes());
            out.extend_from_slice(&v);
            count += 1;
        }
        out[count_at..count_at + 8].copy_from_slice(&count.to_be_bytes());
        let digest = sha256(&out);
        out.extend_from_slice(&digest);
        Ok(out)
    }

    /// Replaces the whole state with a snapshot's, in one atomic batch, then reloads.
    /// Returns the snapshot's applied index.
    pub fn import_snapshot(&mut self, bytes: &[u8]) -> Result<u64, ChainError> {
        let invalid = |m: &str| ChainError::InvalidSnapshot(m.to_owned());
        if bytes.len() < 8 + 8 + 32 + 8 + 32 {
            return Err(invalid("too short"));
        }
        let (body, digest) = bytes.split_at(bytes.len() - 32);
        if sha256(body) != digest {
            return Err(invalid("checksum mismatch"));
        }
        if &body[..8] != SNAPSHOT_MAGIC {
            return Err(invalid("unknown format"));
        }
        let applied = u64::from_be_bytes(body[8..16].try_into().expect("8 bytes"));
        if body[16..48] != self.genesis_hash.0 {
            return Err(invalid("the snapshot belongs to another genesis"));
        }
        let count = u64::from_be_bytes(body[48..56].try_into().expect("8 bytes"));
        let mut rest = &body[56..];
        let mut take = |n: usize| -> Result<&[u8], ChainError> {
            if rest.len() < n {
                return Err(invalid("truncated entry"));
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        let mut entries = BTreeMap::new();
        for _ in 0..count {
            let klen = u32::from_be_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
            let key = take(klen)?.to_vec();
            let vlen = u32::from_be_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
            let value = take(vlen)?.to_vec();
            entries.insert(key, value);
        }
        if !rest.is_empty() {
            return Err(invalid("trailing bytes"));
        }
        let stored_applied = entries
            .get(keys::APPLIED)
            .ok_or_else(|| invalid("no applied index"))?;
        if u64_value("m:applied", stored_applied)? != applied {
            return Err(invalid("applied index does not match the header"));
        }

        // The whole state changes under any view of it.
        self.streams.close_all();
        let mut batch = sled::Batch::default();
        for item in self.tree.iter().keys() {
            let k = item?;
            if !entries.contains_key(k.as_ref()) {
                batch.remove(k);
            }
        }
        for (k, v) in entries {
            batch.insert(k, v);
        }
        self.tree.apply_batch(batch)?;
        self.tree.flush()?;
        let (gov, tip, applied_index) = Self::load_view(&self.tree, &self.rules.genesis)?;
        self.gov = Arc::new(gov);
        self.tip = tip;
        self.applied_index = applied_index;
        self.publish();
        Ok(applied)
    }

    /// From now on [`StateMachine::snapshot`](replication::StateMachine::snapshot) opens a view of
    /// the store and returns its descriptor, to be streamed by a transport that has
    /// [`LedgerState::snapshot_streams`], instead of serializing the whole state.
    pub fn enable_streamed_snapshots(&self) {
        self.streams.enable();
    }

    /// This store's views and imports, for the transport.
    pub fn snapshot_streams(&self) -> Arc<dyn replication::stream::SnapshotStreams> {
        self.streams.clone()
    }

    /// Whether snapshots are streamed ([`LedgerState::enable_streamed_snapshots`]).
    pub(super) fn streams_snapshots(&self) -> bool {
        self.streams.enabled()
    }

    /// Opens a consistent view of the store at the applied index; returns its descriptor.
    pub(super) fn open_snapshot_view(&self) -> Vec<u8> {
        self.streams
            .open_view(&self.tree, self.applied_index)
            .encode()
    }

    /// A reader of the store as it is now, at the applied index, for a backup.
    pub(super) fn open_backup_reader(&self) -> Box<dyn replication::stream::ChunkReader> {
        self.streams
            .open_backup_reader(&self.tree, self.applied_index)
    }

    /// The stored snapshot no longer names the current view (it was replaced by one without
    /// state): no new peer may start reading it.
    pub(super) fn close_snapshot_view(&self) {
        self.streams.close_current();
    }

    /// Whether a snapshot's data can be restored: a descriptor only once its state was
    /// imported completely.
    pub fn is_restorable(&self, data: &[u8]) -> Result<bool, ChainError> {
        match Descriptor::decode(data) {
            Some(d) => streamed::import_complete(&self.db, &d),
            None => Ok(true),
        }
    }

    /// Restores from a snapshot's data: a descriptor switches to its imported tree, anything
    /// else is a serialized state ([`LedgerState::import_snapshot`]). Returns the applied index.
    pub fn restore_snapshot(&mut self, data: &[u8]) -> Result<u64, ChainError> {
        let Some(descriptor) = Descriptor::decode(data) else {
            return self.import_snapshot(data);
        };
        if descriptor.genesis_hash != self.genesis_hash {
            return Err(ChainError::InvalidSnapshot(
                "the snapshot belongs to another genesis".into(),
            ));
        }
        self.streams.close_all();
        let tree = streamed::switch_to_import(&self.db, &descriptor)?;
        let (gov, tip, applied_index) = Self::load_view(&tree, &self.rules.genesis)?;
        if applied_index != descriptor.applied {
            return Err(ChainError::InvalidSnapshot(format!(
                "the imported state is at {applied_index}, the snapshot at {}",
                descriptor.applied
            )));
        }
        let old = std::mem::replace(&mut self.tree, tree.clone());
        *self.live.write().unwrap_or_else(|p| p.into_inner()) = tree;
        self.gov = Arc::new(gov);
        self.tip = tip;
        self.applied_index = applied_index;
        self.publish();
        self.db.drop_tree(old.name())?;
        Ok(applied_index)
    }
}
