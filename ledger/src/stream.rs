//! The ledger's streamed snapshots ([`replication::stream`]): a consistent view of the sled store at
//! one applied index, read in chunks while the replica keeps applying, and on the receiving
//! node an import into a tree of its own that replaces the live tree in one step.
//!
//! # The view
//!
//! sled has no point-in-time snapshots, so a view keeps the *pre-images* itself: from the
//! moment it opens (on the apply thread, between two blocks, at applied index `S`), every block
//! records, before its batch reaches sled, the value each key it writes had before (the first
//! time only, so that is the value at `S`; `None` for a key created since). A reader scans the
//! live tree in key order and, for each key range it has read, lets the recorded pre-images
//! override what it found: a key written since `S` reads as its pre-image (or is skipped if it
//! did not exist), a key removed since `S` reappears, every other key never changed. The
//! pre-image is recorded before the write, and the reader consults the record after its scan,
//! so whatever the scan saw of a concurrent block, the result is the state at `S`. The
//! pre-images are bounded ([`VIEW_PRE_IMAGE_BYTES_MAX`]): a view overrun by a heavy write load
//! fails its readers, and the snapshot is taken again.
//!
//! # The import
//!
//! The receiving node writes the chunks into a tree other than its live one (`state-a` and
//! `state-b` alternate; the first live tree is `chain`), recording the import in sled's default
//! tree. Finishing checks the imported applied index and genesis, flushes, and marks the import
//! complete. Restoring from the descriptor makes the imported tree live (one write of the
//! default tree, flushed) and drops the old one. Opening the store discards an unfinished
//! import, or one the live state is already past; a complete one survives a crash until the
//! restore that uses it.
//!
//! ```text
//! descriptor = "SLKSTRM1" || applied index u64 || genesis hash (32) || view id u64
//! chunk      = (key length u32 || key || value length u32 || value)*   keys ascending
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};

use serde::{Deserialize, Serialize};

use super::keys;
use super::{ChainError, Hash32};
use replication::stream::{ChunkImporter, ChunkReader, SnapshotStreams};

/// First bytes of a snapshot's data that names a view instead of holding the state.
pub const DESCRIPTOR_MAGIC: &[u8; 8] = b"SLKSTRM1";

/// Bytes of a descriptor.
const DESCRIPTOR_BYTES: usize = 8 + 8 + 32 + 8;

/// Most bytes of pre-images one view keeps: under a write load that changes more than this
/// while a peer is being sent the state, the view is given up (its readers fail) rather than
/// let the leader's memory grow with the load.
pub const VIEW_PRE_IMAGE_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Longest key an imported chunk may carry: the ledger's keys are short (a document key, a
/// party and a status at most), so a longer one is not ledger state.
pub const IMPORT_KEY_BYTES_MAX: usize = 4096;

/// In sled's default tree: the name of the tree that holds the ledger state (absent: `chain`).
const LIVE_TREE: &[u8] = b"silkline/live-tree";
/// In sled's default tree: the import in progress or complete ([`ImportRecord`]).
const IMPORT: &[u8] = b"silkline/import";
/// The first live tree of every store.
pub const FIRST_TREE: &str = "chain";
/// The trees an import alternates between.
const IMPORT_TREES: [&str; 2] = ["state-a", "state-b"];

/// What a descriptor names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptor {
    /// The applied index of the state.
    pub applied: u64,
    /// The network the state belongs to.
    pub genesis_hash: Hash32,
    /// Which view of the leader's (unique within its process).
    pub view: u64,
}

impl Descriptor {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(DESCRIPTOR_BYTES);
        out.extend_from_slice(DESCRIPTOR_MAGIC);
        out.extend_from_slice(&self.applied.to_be_bytes());
        out.extend_from_slice(&self.genesis_hash.0);
        out.extend_from_slice(&self.view.to_be_bytes());
        out
    }

    /// `None` for data that is not a descriptor (a snapshot that holds the state).
    pub fn decode(data: &[u8]) -> Option<Descriptor> {
        if data.len() != DESCRIPTOR_BYTES || !data.starts_with(DESCRIPTOR_MAGIC) {
            return None;
        }
        let u64_at = |at: usize| u64::from_be_bytes(data[at..at + 8].try_into().expect("8 bytes"));
        Some(Descriptor {
            applied: u64_at(8),
            genesis_hash: Hash32(data[16..48].try_into().expect("32 bytes")),
            view: u64_at(48),
        })
    }
}

/// An import, as recorded in sled's default tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImportRecord {
    tree: String,
    applied: u64,
    view: u64,
    complete: bool,
}

fn storage(e: sled::Error) -> String {
    format!("state store: {e}")
}

fn read_import(db: &sled::Db) -> Result<Option<ImportRecord>, ChainError> {
    match db.get(IMPORT)? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ChainError::Corrupt {
                what: "silkline/import".into(),
                reason: e.to_string(),
            }),
        None => Ok(None),
    }
}

/// The name of the tree that holds the ledger state.
pub fn live_tree_name(db: &sled::Db) -> Result<String, ChainError> {
    match db.get(LIVE_TREE)? {
        Some(name) => String::from_utf8(name.to_vec()).map_err(|e| ChainError::Corrupt {
            what: "silkline/live-tree".into(),
            reason: e.to_string(),
        }),
        None => Ok(FIRST_TREE.to_owned()),
    }
}

/// At open: drops an unfinished import, one the live state (at `live_applied`) is already
/// past, and any state tree that is neither live nor a kept import (left by a crash between a
/// restore's switch and its drop).
pub fn discard_stale_imports(
    db: &sled::Db,
    live: &str,
    live_applied: u64,
) -> Result<(), ChainError> {
    let mut keep = None;
    if let Some(record) = read_import(db)? {
        if record.complete && record.applied > live_applied && record.tree != live {
            keep = Some(record.tree);
        } else {
            tracing::info!(
                tree = %record.tree,
                applied = record.applied,
                complete = record.complete,
                "discarding a snapshot import that will not be restored"
            );
            db.remove(IMPORT)?;
        }
    }
    let existing = db.tree_names();
    for name in std::iter::once(FIRST_TREE).chain(IMPORT_TREES) {
        let exists = existing.iter().any(|n| n.as_ref() == name.as_bytes());
        if exists && name != live && keep.as_deref() != Some(name) {
            db.drop_tree(name)?;
        }
    }
    db.flush()?;
    Ok(())
}

/// Whether the import for `descriptor` is complete (so restoring from it will succeed).
pub fn import_complete(db: &sled::Db, descriptor: &Descriptor) -> Result<bool, ChainError> {
    Ok(read_import(db)?.is_some_and(|r| {
        r.complete && r.applied == descriptor.applied && r.view == descriptor.view
    }))
}

/// Makes the completed import for `descriptor` the live tree and returns it; the caller drops
/// the old tree once it no longer reads it.
pub fn switch_to_import(db: &sled::Db, descriptor: &Descriptor) -> Result<sled::Tree, ChainError> {
    let record = read_import(db)?
        .filter(|r| r.complete && r.applied == descriptor.applied && r.view == descriptor.view)
        .ok_or_else(|| {
            ChainError::InvalidSnapshot(format!(
                "the state of streamed snapshot {} (view {}) was not received completely",
                descriptor.applied, descriptor.view
            ))
        })?;
    let tree = db.open_tree(&record.tree)?;
    let mut batch = sled::Batch::default();
    batch.insert(LIVE_TREE, record.tree.as_bytes());
    batch.remove(IMPORT);
    db.apply_batch(batch)?;
    db.flush()?;
    Ok(tree)
}

/// The pre-images a view has recorded.
#[derive(Default)]
struct PreImages {
    /// Key to its value at the view's index (`None`: it did not exist).
    values: BTreeMap<Vec<u8>, Option<sled::IVec>>,
    bytes: usize,
    overrun: bool,
}

/// A consistent view of the store at one applied index.
struct View {
    descriptor: Descriptor,
    tree: sled::Tree,
    pre: Mutex<PreImages>,
}

/// The streamed snapshots of one ledger store: the views it offers (leader side) and the
/// imports it takes (receiving side). Shared by the ledger state and the transport.
pub struct Streams {
    db: sled::Db,
    genesis_hash: Hash32,
    /// The live tree, as readers of the store see it (switched by a restore).
    live: Arc<RwLock<sled::Tree>>,
    /// Whether `snapshot()` opens views (the node's transport carries them) or serializes.
    enabled: AtomicBool,
    /// The view the stored snapshot names.
    current: Mutex<Option<Arc<View>>>,
    /// Every view still open: the current one and those being read.
    open: Mutex<Vec<Weak<View>>>,
    next_view: AtomicU64,
}

impl Streams {
    pub(super) fn new(db: sled::Db, genesis_hash: Hash32, live: Arc<RwLock<sled::Tree>>) -> Self {
        Streams {
            db,
            genesis_hash,
            live,
            enabled: AtomicBool::new(false),
            current: Mutex::new(None),
            open: Mutex::new(Vec::new()),
            // Unique within the process; across restarts a descriptor is told apart by its
            // applied index too.
            next_view: AtomicU64::new(1),
        }
    }

    pub(super) fn enable(&self) {
        self.enabled.store(true, Ordering::Relaxed);
    }

    pub(super) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Opens a view of `tree` at `applied` (called between two blocks) and makes it the one
    /// the stored snapshot names.
    pub(super) fn open_view(&self, tree: &sled::Tree, applied: u64) -> Descriptor {
        let descriptor = Descriptor {
            applied,
            genesis_hash: self.genesis_hash,
            view: self.next_view.fetch_add(1, Ordering::Relaxed),
        };
        let view = Arc::new(View {
            descriptor,
            tree: tree.clone(),
            pre: Mutex::new(PreImages::default()),
        });
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.retain(|v| v.strong_count() > 0);
        open.push(Arc::downgrade(&view));
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(view);
        descriptor
    }

    /// Opens a view of `tree` at `applied` (called between two blocks) for one reader only, an
    /// operator's backup: the stored snapshot does not name it, and it closes when the reader
    /// is dropped.
    pub(super) fn open_backup_reader(
        &self,
        tree: &sled::Tree,
        applied: u64,
    ) -> Box<dyn ChunkReader> {
        let view = Arc::new(View {
            descriptor: Descriptor {
                applied,
                genesis_hash: self.genesis_hash,
                view: self.next_view.fetch_add(1, Ordering::Relaxed),
            },
            tree: tree.clone(),
            pre: Mutex::new(PreImages::default()),
        });
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.retain(|v| v.strong_count() > 0);
        open.push(Arc::downgrade(&view));
        Box::new(ViewReader {
            view,
            after: None,
            done: false,
        })
    }

    /// The stored snapshot no longer names a view: no new reader may start on it (one in
    /// progress keeps its view until it ends).
    pub(super) fn close_current(&self) {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// The whole state is replaced (a restore): every open view fails its readers.
    pub(super) fn close_all(&self) {
        self.close_current();
        let open = std::mem::take(&mut *self.open.lock().unwrap_or_else(PoisonError::into_inner));
        for view in open.iter().filter_map(Weak::upgrade) {
            view.pre
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .overrun = true;
        }
    }

    /// Called by apply before a block's writes reach `tree`: every open view records the value
    /// each written key has now, unless it already holds one for it.
    pub(super) fn record_pre_images(
        &self,
        tree: &sled::Tree,
        writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    ) -> Result<(), ChainError> {
        let views: Vec<Arc<View>> = {
            let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            if open.is_empty() {
                return Ok(());
            }
            open.retain(|v| v.strong_count() > 0);
            open.iter().filter_map(Weak::upgrade).collect()
        };
        for view in views {
            let mut pre = view.pre.lock().unwrap_or_else(PoisonError::into_inner);
            if pre.overrun {
                continue;
            }
            for key in writes.keys() {
                if pre.values.contains_key(key) {
                    continue;
                }
                let value = tree.get(key)?;
                pre.bytes += key.len() + value.as_ref().map_or(0, |v| v.len());
                pre.values.insert(key.clone(), value);
            }
            if pre.bytes > VIEW_PRE_IMAGE_BYTES_MAX {
                tracing::warn!(
                    applied = view.descriptor.applied,
                    bytes = pre.bytes,
                    "a snapshot view was overrun by writes while it was being sent; it is given up"
                );
                *pre = PreImages {
                    overrun: true,
                    ..PreImages::default()
                };
            }
        }
        Ok(())
    }

    fn view(&self, descriptor: &Descriptor) -> Option<Arc<View>> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|v| v.descriptor == *descriptor)
            .cloned()
    }

    /// The import tree that is not live.
    fn import_tree_name(&self) -> String {
        let live = self.live.read().unwrap_or_else(PoisonError::into_inner);
        let live = String::from_utf8_lossy(&live.name()).into_owned();
        let name = if live == IMPORT_TREES[0] {
            IMPORT_TREES[1]
        } else {
            IMPORT_TREES[0]
        };
        name.to_owned()
    }
}

impl SnapshotStreams for Streams {
    fn reader(&self, data: &[u8]) -> Option<Result<Box<dyn ChunkReader>, String>> {
        let descriptor = Descriptor::decode(data)?;
        Some(match self.view(&descriptor) {
            Some(view) => Ok(Box::new(ViewReader {
                view,
                after: None,
                done: false,
            })),
            None => Err(format!(
                "the view of snapshot {} (view {}) is closed",
                descriptor.applied, descriptor.view
            )),
        })
    }

    fn importer(&self, data: &[u8]) -> Result<Box<dyn ChunkImporter>, String> {
        let descriptor = Descriptor::decode(data).ok_or("not a streamed snapshot's descriptor")?;
        if descriptor.genesis_hash != self.genesis_hash {
            return Err("the snapshot belongs to another genesis".into());
        }
        let name = self.import_tree_name();
        let record = ImportRecord {
            tree: name.clone(),
            applied: descriptor.applied,
            view: descriptor.view,
            complete: false,
        };
        // Recorded before the tree is touched: a crash from here on leaves an import that
        // opening the store discards.
        self.db
            .insert(IMPORT, serde_json::to_vec(&record).expect("serializable"))
            .map_err(storage)?;
        self.db.drop_tree(name.as_bytes()).map_err(storage)?;
        let tree = self.db.open_tree(name.as_bytes()).map_err(storage)?;
        Ok(Box::new(Import {
            db: self.db.clone(),
            tree,
            record,
            genesis_hash: self.genesis_hash,
            last_key: None,
            entries: 0,
        }))
    }
}

/// Reads a view in key order.
struct ViewReader {
    view: Arc<View>,
    /// The last key returned.
    after: Option<Vec<u8>>,
    done: bool,
}

fn put_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&(value.len() as u32).to_be_bytes());
    out.extend_from_slice(value);
}

fn record_bytes(key: &[u8], value: &[u8]) -> usize {
    8 + key.len() + value.len()
}

impl ChunkReader for ViewReader {
    fn next_chunk(&mut self, max_bytes: usize) -> Result<Option<Vec<u8>>, String> {
        use std::ops::Bound;
        while !self.done {
            let start = match &self.after {
                Some(k) => Bound::Excluded(k.clone()),
                None => Bound::Unbounded,
            };
            // 1. Scan the live tree; `end` is the last key scanned (`None`: the tree ended).
            let mut range: BTreeMap<Vec<u8>, sled::IVec> = BTreeMap::new();
            let mut bytes = 0;
            let mut end = None;
            for item in self
                .view
                .tree
                .range::<Vec<u8>, _>((start.clone(), Bound::Unbounded))
            {
                let (k, v) = item.map_err(storage)?;
                bytes += record_bytes(&k, &v);
                let full = bytes >= max_bytes;
                if full {
                    end = Some(k.to_vec());
                }
                range.insert(k.to_vec(), v);
                if full {
                    break;
                }
            }
            // 2. The pre-images of the same range override the scan: `range` is now exactly
            //    the view's keys in (start, end].
            {
                let pre = self.view.pre.lock().unwrap_or_else(PoisonError::into_inner);
                if pre.overrun {
                    return Err(format!(
                        "the view of snapshot {} was overrun by writes",
                        self.view.descriptor.applied
                    ));
                }
                let upper = match &end {
                    Some(k) => Bound::Included(k.clone()),
                    None => Bound::Unbounded,
                };
                for (k, v) in pre.values.range::<Vec<u8>, _>((start, upper)) {
                    match v {
                        Some(v) => range.insert(k.clone(), v.clone()),
                        None => range.remove(k),
                    };
                }
            }
            // 3. At most `max_bytes` of it (keys that reappeared may have added some); the
            //    rest is read again from the last key given.
            let mut out = Vec::with_capacity(bytes.min(max_bytes));
            let mut given = None;
            for (k, v) in &range {
                if !out.is_empty() && out.len() + record_bytes(k, v) > max_bytes {
                    break;
                }
                put_record(&mut out, k, v);
                given = Some(k);
            }
            if given.is_some_and(|k| Some(k) != range.keys().next_back()) {
                self.after = given.cloned();
            } else if end.is_some() {
                self.after = end;
            } else {
                self.done = true;
            }
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
        Ok(None)
    }
}

/// Writes a streamed state into the import tree.
struct Import {
    db: sled::Db,
    tree: sled::Tree,
    record: ImportRecord,
    genesis_hash: Hash32,
    last_key: Option<Vec<u8>>,
    entries: u64,
}

impl ChunkImporter for Import {
    fn chunk(&mut self, mut rest: &[u8]) -> Result<(), String> {
        let mut take = |n: usize| -> Result<&[u8], String> {
            if rest.len() < n {
                return Err("truncated record in a snapshot chunk".into());
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        let mut batch = sled::Batch::default();
        while let Ok(klen) = take(4) {
            let klen = u32::from_be_bytes(klen.try_into().expect("4 bytes")) as usize;
            if klen == 0 || klen > IMPORT_KEY_BYTES_MAX {
                return Err(format!("a snapshot key of {klen} bytes"));
            }
            let key = take(klen)?.to_vec();
            let vlen = u32::from_be_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
            let value = take(vlen)?;
            if self.last_key.as_ref().is_some_and(|last| *last >= key) {
                return Err("snapshot keys out of order".into());
            }
            batch.insert(key.as_slice(), value);
            self.last_key = Some(key);
            self.entries += 1;
        }
        if !rest.is_empty() {
            return Err("truncated record in a snapshot chunk".into());
        }
        self.tree.apply_batch(batch).map_err(storage)
    }

    fn finish(self: Box<Self>) -> Result<(), String> {
        let applied = self
            .tree
            .get(keys::APPLIED)
            .map_err(storage)?
            .ok_or("the streamed state has no applied index")?;
        let applied = <[u8; 8]>::try_from(applied.as_ref())
            .map(u64::from_be_bytes)
            .map_err(|_| "the streamed state's applied index is not 8 bytes")?;
        if applied != self.record.applied {
            return Err(format!(
                "the streamed state is at index {applied}, the snapshot at {}",
                self.record.applied
            ));
        }
        let genesis = self
            .tree
            .get(keys::GENESIS)
            .map_err(storage)?
            .ok_or("the streamed state has no genesis")?;
        let genesis: super::Genesis = serde_json::from_slice(&genesis)
            .map_err(|e| format!("the streamed state's genesis: {e}"))?;
        if genesis.genesis_hash() != self.genesis_hash {
            return Err("the streamed state belongs to another genesis".into());
        }
        self.tree.flush().map_err(storage)?;
        let record = ImportRecord {
            complete: true,
            ..self.record
        };
        self.db
            .insert(IMPORT, serde_json::to_vec(&record).expect("serializable"))
            .map_err(storage)?;
        self.db.flush().map_err(storage)?;
        tracing::info!(
            applied,
            entries = self.entries,
            tree = %record.tree,
            "streamed snapshot imported"
        );
        Ok(())
    }
}
