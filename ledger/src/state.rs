//! [`LedgerState`]: the replicated document state, its sled store, the apply path, snapshots
//! and the reads the API needs.
//!
//! # Store layout
//!
//! One sled tree; every key starts with a keyspace tag. `<doc>` is a document key's display form
//! (`CLASS/carrier/reference`) and `<party>`, `<STATUS>` are codes; none of them can contain
//! `\0`, so `\0` ends a variable-length component and prefix scans are exact.
//!
//! | key | value |
//! |---|---|
//! | `m:applied`, `m:tip`, `m:genesis` | applied index (u64 BE), [`Tip`], genesis JSON |
//! | `doc/<doc>` | `DocumentState`, RFC 8785 canonical JSON (so its SHA-256 is its state hash), zstd-compressed ([`super::codec`]) |
//! | `his/<doc>\0<sequence u64 BE>` | [`HistoryEntry`], zstd-compressed |
//! | `dpt/<doc>` | every party that is or was party to the document |
//! | `sta/<STATUS>\0<doc>`, `pty/<party>\0<doc>`, `pst/<party>\0<STATUS>\0<doc>` | indexes |
//! | `non/<party>\0<nonce>`, `nex/<notAfter u64 BE><party>\0<nonce>` | nonce, its expiry |
//! | `txn/<tx hash>` | [`TxRecord`] |
//! | `blk/<height u64 BE>` | [`Block`] |
//! | `crl/<member>`, `par/<party>` | [`CrlRecord`], [`PartyRecord`] |
//! | `nod/<raft id u64 BE>` | [`NodeRecord`] of a node added, promoted or removed by governance |
//! | `sum/<content sha256 hex>\0<doc>` | index: documents by content checksum (verification) |
//!
//! All the writes of a block -- documents, histories, indexes, nonces, transaction records,
//! parties, CRLs, the block itself, the tip and the applied index -- go to sled in ONE
//! `apply_batch`, which sled applies atomically: after a crash the store is exactly at a block
//! boundary. sled's durability is not an fsync per batch (STACK.md): a crash may lose the last
//! blocks, which is safe because the Raft log (redb, fsynced) replays them.
//!
//! # State hash
//!
//! ```text
//! state_hash(0) = SHA-256("silkline-state-v1" || "genesis" || genesis_hash)
//! state_hash(h) = SHA-256("silkline-state-v1" || state_hash(h-1) || h (u64 BE) ||
//!                   for each key written by block h, in byte order, except m:*, blk/*, txn/*:
//!                     len(key) (u32 BE) || key || 0x00                      (removed)
//!                                              || 0x01 || SHA-256(value)    (written))
//! ```
//!
//! It costs O(changes in the block), not O(documents): a million documents do not slow a
//! block down. It detects divergence at the first differing block: if two replicas agree on
//! `state_hash(h-1)` they agree (up to SHA-256 collisions) on genesis and on every write of
//! blocks `1..h-1`, hence on the state before block `h`; any difference in what block `h` writes
//! -- a document's state (whose value hash is exactly its `doc_workflow` state hash), an index
//! entry, a nonce, a party, a CRL -- changes `state_hash(h)`, and the chaining carries the
//! difference into every later hash. It is a hash of the history of writes, not of the stored
//! bytes: corruption at rest is found by [`LedgerReader::content_digest`] (O(state), for audits
//! and tests), not per block.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use doc_workflow::{
    Action, DocumentClass, DocumentKey, DocumentState, DocumentStore, Engine, Event, EventKind,
    PartyCode, Role, Status,
};

use super::block::{self, BLOCK_FORMAT_VERSION, Block, BlockHeader, Outcome, TxLocation, TxResult};
use super::codec;
use super::genesis::{Genesis, MemberRole};
use super::stream::{self as streamed, Descriptor, Streams};
use super::tx::{Governance, PARTY_NAME_CHARS_MAX, TxBody};
use super::validate::{self, Checked, Envelope, IdentityKind, Trust, TxRefusal};
use super::{ChainError, Hash32, merkle, sha256};
use pki::TrustStore;
use replication::batch::Attestation;

/// Most transactions one block may carry: a block is one Raft entry, which the batcher closes
/// at this many payloads.
pub const BLOCK_TRANSACTIONS_MAX: usize = replication::batch::BATCH_PAYLOADS_MAX;

/// Largest page a read returns. A document is at most about 70 KiB of JSON; 100 of them keep a
/// response under 8 MiB and a sled scan short, and a UI page shows far fewer.
pub const PAGE_SIZE_MAX: usize = 100;

/// Blocks buffered for each subscriber of [`LedgerReader::subscribe_blocks`] before it is told
/// it missed some: a few seconds of full-speed blocks.
pub const BLOCK_SUBSCRIBERS_BUFFER: usize = 256;

/// Most expired nonces one block deletes. Pruning is work the block pays for; bounding it keeps
/// block latency flat after a burst. Expired nonces left behind are ignored by the replay check
/// (it compares `notAfter` with the block time) and pruned by later blocks.
pub const NONCE_PRUNE_PER_BLOCK_MAX: usize = 4096;

/// How many times one transaction's decision may be retried after the engine asked for a
/// document that was not loaded yet. The engine reads at most three documents (the target, the
/// bill a cargo release reads, a replacement's reference), and each retry loads at least one.
const DECIDE_ATTEMPTS_MAX: usize = 4;

/// Domain tag of the state-hash chain.
const STATE_TAG: &[u8] = b"silkline-state-v1";

/// First bytes of a snapshot, with the format version.
const SNAPSHOT_MAGIC: &[u8; 8] = b"SLKSNAP1";

/// Key encodings (module docs).
pub(super) mod keys {
    use doc_workflow::{DocumentKey, PartyCode, Status};

    pub const APPLIED: &[u8] = b"m:applied";
    pub const TIP: &[u8] = b"m:tip";
    pub const GENESIS: &[u8] = b"m:genesis";
    pub const META: &[u8] = b"m:";
    pub const DOC: &[u8] = b"doc/";
    pub const HISTORY: &[u8] = b"his/";
    pub const STATUS: &[u8] = b"sta/";
    pub const PARTY_DOCS: &[u8] = b"pty/";
    pub const PARTY_STATUS: &[u8] = b"pst/";
    pub const NONCE_EXPIRY: &[u8] = b"nex/";
    pub const BLOCK: &[u8] = b"blk/";
    pub const TX: &[u8] = b"txn/";
    pub const CRL: &[u8] = b"crl/";
    pub const PARTY: &[u8] = b"par/";
    pub const CHECKSUM: &[u8] = b"sum/";
    pub const NODE: &[u8] = b"nod/";

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// A document key as it appears inside store keys: `CLASS/carrier/reference`, with `%` and
    /// NUL written `%25` and `%00`. A DCSA reference may hold any character but a line break,
    /// NUL included, and NUL ends a document's part of a history key (`history_prefix`): left
    /// as it is, reference `A` would own reference `A<NUL>B`'s history. Neither character was
    /// allowed in a reference before, so no stored key changes.
    pub fn doc_text(key: &DocumentKey) -> String {
        let text = key.to_string();
        if !text.contains(['%', '\0']) {
            return text;
        }
        let mut out = String::with_capacity(text.len() + 4);
        for c in text.chars() {
            match c {
                '%' => out.push_str("%25"),
                '\0' => out.push_str("%00"),
                c => out.push(c),
            }
        }
        out
    }

    pub fn doc(key: &DocumentKey) -> Vec<u8> {
        cat(&[DOC, doc_text(key).as_bytes()])
    }
    pub fn doc_from_suffix(suffix: &[u8]) -> Vec<u8> {
        cat(&[DOC, suffix])
    }
    pub fn history_prefix(key: &DocumentKey) -> Vec<u8> {
        cat(&[HISTORY, doc_text(key).as_bytes(), b"\0"])
    }
    pub fn history(key: &DocumentKey, sequence: u64) -> Vec<u8> {
        cat(&[&history_prefix(key), &sequence.to_be_bytes()])
    }
    pub fn parties_ever(key: &DocumentKey) -> Vec<u8> {
        cat(&[b"dpt/", doc_text(key).as_bytes()])
    }
    /// Documents by their content's SHA-256 (lowercase hex).
    pub fn checksum_prefix(sha256_hex: &str) -> Vec<u8> {
        cat(&[CHECKSUM, sha256_hex.as_bytes(), b"\0"])
    }
    pub fn by_checksum(sha256_hex: &str, key: &DocumentKey) -> Vec<u8> {
        cat(&[&checksum_prefix(sha256_hex), doc_text(key).as_bytes()])
    }
    pub fn status_prefix(status: Status) -> Vec<u8> {
        cat(&[STATUS, status.code().as_bytes(), b"\0"])
    }
    pub fn by_status(status: Status, key: &DocumentKey) -> Vec<u8> {
        cat(&[&status_prefix(status), doc_text(key).as_bytes()])
    }
    pub fn party_prefix(party: &PartyCode) -> Vec<u8> {
        cat(&[PARTY_DOCS, party.as_str().as_bytes(), b"\0"])
    }
    pub fn by_party(party: &PartyCode, key: &DocumentKey) -> Vec<u8> {
        cat(&[&party_prefix(party), doc_text(key).as_bytes()])
    }
    pub fn party_status_prefix(party: &PartyCode, status: Status) -> Vec<u8> {
        cat(&[
            PARTY_STATUS,
            party.as_str().as_bytes(),
            b"\0",
            status.code().as_bytes(),
            b"\0",
        ])
    }
    pub fn by_party_status(party: &PartyCode, status: Status, key: &DocumentKey) -> Vec<u8> {
        cat(&[
            &party_status_prefix(party, status),
            doc_text(key).as_bytes(),
        ])
    }
    pub fn nonce(party: &PartyCode, nonce: &str) -> Vec<u8> {
        cat(&[b"non/", party.as_str().as_bytes(), b"\0", nonce.as_bytes()])
    }
    pub fn nonce_expiry(not_after_ms: u64, party: &PartyCode, nonce: &str) -> Vec<u8> {
        cat(&[
            NONCE_EXPIRY,
            &not_after_ms.to_be_bytes(),
            party.as_str().as_bytes(),
            b"\0",
            nonce.as_bytes(),
        ])
    }
    pub fn tx(hash: &super::Hash32) -> Vec<u8> {
        cat(&[TX, &hash.0])
    }
    pub fn block(height: u64) -> Vec<u8> {
        cat(&[BLOCK, &height.to_be_bytes()])
    }
    pub fn crl(member: &PartyCode) -> Vec<u8> {
        cat(&[CRL, member.as_str().as_bytes()])
    }
    pub fn party(code: &PartyCode) -> Vec<u8> {
        cat(&[PARTY, code.as_str().as_bytes()])
    }
    pub fn node(raft_id: u64) -> Vec<u8> {
        cat(&[NODE, &raft_id.to_be_bytes()])
    }
    /// Whether a key is part of the hashed replicated state. Left out: meta; the blocks, which
    /// carry the state hash themselves; and the transaction records, an index of the blocks
    /// whose outcomes the block hash already covers (and whose messages must stay rewordable).
    pub fn is_hashed(key: &[u8]) -> bool {
        !key.starts_with(META) && !key.starts_with(BLOCK) && !key.starts_with(TX)
    }

    #[cfg(test)]
    mod tests {
        use doc_workflow::{DocumentId, DocumentRef};

        use super::*;

        fn bill(reference: &str) -> DocumentKey {
            DocumentKey::transport_document(DocumentId::new(
                PartyCode::new("CARRIER").unwrap(),
                DocumentRef::new(reference).unwrap(),
            ))
        }

        #[test]
        fn a_documents_history_prefix_covers_no_other_document() {
            for (a, b) in [
                ("A", "A\0B"),
                ("A", "A/B"),
                ("A B", "A B%"),
                ("A%00", "A\0"),
            ] {
                let (a, b) = (bill(a), bill(b));
                assert!(!history(&b, 1).starts_with(&history_prefix(&a)), "{a} {b}");
                assert!(!history(&a, 1).starts_with(&history_prefix(&b)), "{a} {b}");
                assert_ne!(doc(&a), doc(&b));
            }
        }

        #[test]
        fn references_that_were_allowed_before_keep_their_keys() {
            assert_eq!(
                doc(&bill("SLK-ORDER-001.a_1")),
                b"doc/TRANSPORT_DOCUMENT/CARRIER/SLK-ORDER-001.a_1"
            );
            assert_eq!(
                doc(&bill("A%\0/B")),
                b"doc/TRANSPORT_DOCUMENT/CARRIER/A%25%00/B"
            );
        }
    }
}

/// Bytes of sled's page cache. sled's default is 1 GiB per process; a node also holds Raft's
/// log, the API and its buffers, so the cache is what bounds a node's memory under sustained
/// load (BENCHMARKS.md), and 256 MiB keeps a million documents' hot pages.
pub const STATE_CACHE_BYTES: u64 = 256 * 1024 * 1024;

/// Opens sled the way the ledger uses it: with a bounded cache.
fn open_store(path: &Path) -> Result<sled::Db, ChainError> {
    Ok(sled::Config::new()
        .path(path)
        .cache_capacity(STATE_CACHE_BYTES)
        .open()?)
}

/// The end of the chain: the last block (or genesis, at height 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tip {
    pub height: u64,
    /// The last block's hash; the genesis hash at height 0.
    pub hash: Hash32,
    pub time_ms: u64,
    pub state_hash: Hash32,
}

/// A party on the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartyRecord {
    pub code: PartyCode,
    pub name: String,
    /// The member whose CA certifies its users.
    pub sponsor: PartyCode,
    /// The workflow role it acts with: the member's role for a member's own party, `TRADER`
    /// for an onboarded party.
    pub role: Role,
    /// The block that onboarded it; 0 for genesis.
    pub since_height: u64,
}

/// A member's current CRL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrlRecord {
    pub member: PartyCode,
    /// DER, standard base64.
    pub der_base64: String,
    /// The CRL's `thisUpdate`, ms since the Unix epoch.
    pub this_update_ms: u64,
    /// The block that installed it; 0 for genesis.
    pub since_height: u64,
}

/// Fewest voters a `REMOVE_NODE` may leave: with 3 voters one node can fail and the ledger
/// still commits (a quorum of 2). A network that has fewer (a dev network of 1 or 2) cannot
/// shrink at all; a removed voter is replaced by adding and promoting a node first. This also
/// keeps removals from ever reaching 0 voters, which no Raft cluster survives.
pub const VOTERS_MIN: usize = 3;

/// What a node is in the Raft configuration the ledger prescribes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NodeRole {
    /// Votes and counts for the quorum.
    Voter,
    /// Receives the log but does not vote (`ADD_NODE`, until `PROMOTE_NODE`).
    Learner,
    /// Removed (`REMOVE_NODE`); kept so that its raft id and node id are never reused.
    Removed,
}

/// A node of the network: a genesis node, or one added by `ADD_NODE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRecord {
    pub raft_id: u64,
    /// The node id its TLS certificate names. `None` for a genesis node: genesis pins a node
    /// by its certificate's hash, and each node's configuration file names its peers' ids.
    pub node_id: Option<String>,
    /// `ip:port` of its Raft transport.
    pub address: String,
    /// The member that runs it (whose CA its certificate chains to).
    pub member: PartyCode,
    pub role: NodeRole,
    /// The block that last changed it; 0 for a genesis node never changed.
    pub since_height: u64,
}

/// One committed transaction in a document's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// The document's sequence number after this entry (1 for the first).
    pub sequence: u64,
    pub tx_hash: Hash32,
    pub height: u64,
    pub position: u32,
    pub time_ms: u64,
    /// The acting party (the certificate's party).
    pub actor: PartyCode,
    /// The member whose CA issued the signer's certificate.
    pub member: PartyCode,
    /// SHA-256 of the signer's certificate DER, lowercase hex.
    pub signer_fingerprint: String,
    pub action: Action,
    /// The party the command handed something to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<PartyCode>,
    /// What happened to this document.
    pub event: Event,
    /// The signed transaction itself (JWS compact), so anyone can re-verify the record.
    pub jws: String,
}

/// Where a transaction went and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TxRecord {
    pub tx_hash: Hash32,
    pub location: TxLocation,
    pub time_ms: u64,
    pub outcome: Outcome,
}

/// A page of documents and the cursor of the next page, if there may be one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentPage {
    pub documents: Vec<DocumentState>,
    /// Pass it back as `after` for the next page; opaque to callers.
    pub next_cursor: Option<String>,
}

/// The configuration that governance changes: parties, CRLs and the trust store built from
/// them. Small (parties and members), kept in memory and copied only by a block that changes it.
#[derive(Clone)]
struct Gov {
    parties: BTreeMap<PartyCode, PartyRecord>,
    crls: BTreeMap<PartyCode, CrlRecord>,
    /// Every node ever: genesis nodes overlaid with the governance changes.
    nodes: BTreeMap<u64, NodeRecord>,
    trust: Arc<Trust>,
}

/// The replicated document ledger of one node: the only writer of its store.
pub struct LedgerState {
    db: sled::Db,
    /// The tree that holds the state; `live` is the same tree, as readers see it.
    tree: sled::Tree,
    live: Arc<RwLock<sled::Tree>>,
    /// Streamed snapshots: the views this state offers and the imports it takes.
    streams: Arc<Streams>,
    genesis_hash: Hash32,
    rules: Arc<Rules>,
    gov: Arc<Gov>,
    applied_index: u64,
    tip: Tip,
    /// What this state last published to its readers.
    published: Arc<RwLock<Arc<Published>>>,
    /// Every block after its commit, for readers that follow the chain (API subscriptions).
    blocks: broadcast::Sender<Arc<Block>>,
}

/// What readers need besides the store, swapped as one value after every commit: the
/// configuration, the tip and the applied index of the same block.
struct Published {
    gov: Arc<Gov>,
    tip: Tip,
    applied_index: u64,
}

/// A read-only view of a [`LedgerState`] that other tasks and threads hold (the API, adapters,
/// a precheck), while the replica keeps applying. Cheap to clone.
///
/// Consistency: each block reaches sled in one atomic batch, so a single key always reads as of
/// some block boundary. A read of several keys may straddle a block; [`LedgerReader::document_with_history`]
/// reads a document and then exactly the history entries up to its sequence, which are
/// immutable once written, so it is consistent.
#[derive(Clone)]
pub struct LedgerReader {
    live: Arc<RwLock<sled::Tree>>,
    genesis_hash: Hash32,
    rules: Arc<Rules>,
    published: Arc<RwLock<Arc<Published>>>,
    blocks: broadcast::Sender<Arc<Block>>,
}

impl std::fmt::Debug for LedgerReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerReader")
            .field("network", &self.rules.genesis.network_id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for LedgerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerState")
            .field("network", &self.rules.genesis.network_id)
            .field("applied_index", &self.applied_index)
            .field("tip", &self.tip)
            .finish_non_exhaustive()
    }
}

fn corrupt(what: impl Into<String>, reason: impl ToString) -> ChainError {
    ChainError::Corrupt {
        what: what.into(),
        reason: reason.to_string(),
    }
}

/// A ledger record's stored bytes: serde_json's encoding of the record's type. It is
/// deterministic without canonicalization -- struct fields in declaration order, maps ordered
/// (`BTreeMap`/`BTreeSet`), no floats, no free-form JSON values -- so every replica writes the
/// same bytes, and canonicalizing (several times slower) would buy nothing. Documents are the
/// exception: they are stored in RFC 8785 form, whose SHA-256 is their workflow state hash.
fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("ledger records serialize to JSON")
}

/// Decodes the value stored (or about to be stored) under the key `what`.
fn decode<T: for<'de> Deserialize<'de>>(what: &[u8], bytes: &[u8]) -> Result<T, ChainError> {
    let bytes = codec::decode(what, bytes)?;
    serde_json::from_slice(&bytes).map_err(|e| corrupt(String::from_utf8_lossy(what), e))
}

fn u64_value(what: &str, bytes: &[u8]) -> Result<u64, ChainError> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| corrupt(what, "not 8 bytes"))?;
    Ok(u64::from_be_bytes(arr))
}

/// `state_hash(0)` (module docs).
fn genesis_state_hash(genesis_hash: &Hash32) -> Hash32 {
    let mut bytes = STATE_TAG.to_vec();
    bytes.extend_from_slice(b"genesis");
    bytes.extend_from_slice(&genesis_hash.0);
    Hash32(sha256(&bytes))
}

/// `state_hash(h)` from `state_hash(h-1)` and block `h`'s writes (module docs).
fn chain_state_hash(
    previous: &Hash32,
    height: u64,
    writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
) -> Hash32 {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(STATE_TAG);
    h.update(previous.0);
    h.update(height.to_be_bytes());
    for (key, value) in writes.iter().filter(|(k, _)| keys::is_hashed(k)) {
        let len = u32::try_from(key.len()).expect("keys are short");
        h.update(len.to_be_bytes());
        h.update(key);
        match value {
            None => h.update([0u8]),
            Some(v) => {
                h.update([1u8]);
                h.update(sha256(v));
            }
        }
    }
    Hash32(h.finalize().into())
}

/// The parties a document state names: all of them are, from now on, parties to it.
fn parties_of(state: &DocumentState, event: &Event, into: &mut BTreeSet<PartyCode>) {
    let mut add = |p: &Option<PartyCode>| {
        if let Some(p) = p {
            into.insert(p.clone());
        }
    };
    add(&Some(state.carrier.clone()));
    add(&state.shipper);
    add(&state.consignee);
    add(&state.possessor);
    add(&state.endorsee);
    if let Some(t) = &state.pending_transfer {
        add(&Some(t.appointee.clone()));
        add(&t.previous_possessor);
        add(&t.previous_endorsee);
    }
    if let Some(s) = &state.surrender {
        add(&Some(s.requester.clone()));
    }
    if let Some(r) = &state.release {
        add(&Some(r.port.clone()));
    }
    for s in &state.signatures {
        add(&Some(s.party.clone()));
    }
    add(&Some(event.actor.clone()));
    match &event.kind {
        EventKind::Issued { possessor, .. } | EventKind::SurrenderRejected { possessor, .. } => {
            add(&Some(possessor.clone()))
        }
        EventKind::Transferred { from, to } | EventKind::Endorsed { from, to, .. } => {
            add(&Some(from.clone()));
            add(&Some(to.clone()));
        }
        EventKind::CargoReleased { port, .. } => add(&Some(port.clone())),
        EventKind::TransferRejected {
            restored_possessor, ..
        } => add(restored_possessor),
        _ => {}
    }
}

/// The writes of the block being applied, over the committed store: reads see the block's own
/// earlier writes first. Nothing reaches sled until the block commits as one batch.
struct Work<'s> {
    tree: &'s sled::Tree,
    base: &'s Gov,
    /// A modified copy of the configuration, made by the first governance change.
    gov: Option<Gov>,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Documents read or written by the block: `None` = known absent.
    docs: BTreeMap<DocumentKey, Option<DocumentState>>,
}

impl<'s> Work<'s> {
    fn new(tree: &'s sled::Tree, base: &'s Gov) -> Self {
        Work {
            tree,
            base,
            gov: None,
            writes: BTreeMap::new(),
            docs: BTreeMap::new(),
        }
    }

    fn gov(&self) -> &Gov {
        self.gov.as_ref().unwrap_or(self.base)
    }

    fn gov_mut(&mut self) -> &mut Gov {
        let base = self.base;
        self.gov.get_or_insert_with(|| base.clone())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ChainError> {
        match self.writes.get(key) {
            Some(v) => Ok(v.clone()),
            None => Ok(self.tree.get(key)?.map(|v| v.to_vec())),
        }
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    fn remove(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    /// Makes sure `key` is in `docs` (loaded from sled if needed).
    fn load_doc(&mut self, key: &DocumentKey) -> Result<(), ChainError> {
        if self.docs.contains_key(key) {
            return Ok(());
        }
        let k = keys::doc(key);
        let state = match self.get(&k)? {
            Some(bytes) => Some(decode::<DocumentState>(&k, &bytes)?),
            None => None,
        };
        self.docs.insert(key.clone(), state);
        Ok(())
    }
}

/// The engine's view of the block's documents; records what it asked for and did not find
/// loaded, so the caller can load it and decide again.
struct DocView<'w> {
    docs: &'w BTreeMap<DocumentKey, Option<DocumentState>>,
    misses: RefCell<BTreeSet<DocumentKey>>,
}

impl DocumentStore for DocView<'_> {
    fn get(&self, key: &DocumentKey) -> Option<&DocumentState> {
        match self.docs.get(key) {
            Some(state) => state.as_ref(),
            None => {
                self.misses.borrow_mut().insert(key.clone());
                None
            }
        }
    }
}

/// The engine's view of the parties on the network at this block (DOMAIN.md section 6,
/// scenario 8). A party is on the network while its record exists and its sponsor is a member.
///
/// Party records are never deleted, so a party that holds a document stays a party and keeps
/// what it holds. When members can leave (governance), a member's departure makes its parties
/// *unsponsored*: they are then off the network for this check (nothing new is handed to a
/// party no certificate can act for) and their users cannot act, until governance gives them a
/// new sponsor; what they already hold stays theirs and is never reassigned by anyone else.
struct PartyView<'g> {
    parties: &'g BTreeMap<PartyCode, PartyRecord>,
    genesis: &'g Genesis,
}

impl doc_workflow::PartyDirectory for PartyView<'_> {
    fn role_of(&self, party: &PartyCode) -> Option<doc_workflow::Role> {
        let record = self.parties.get(party)?;
        self.genesis.member(&record.sponsor)?;
        Some(record.role)
    }
}

/// The context of one transaction within its block.
#[derive(Clone, Copy)]
struct TxContext {
    tx_hash: Hash32,
    time_ms: u64,
    location: TxLocation,
}

impl LedgerState {
    /// Opens (or creates) the state store at `path` for the network `genesis` describes. An
    /// existing store must have been created from the same genesis.
    pub fn open(path: impl AsRef<Path>, genesis: &Genesis) -> Result<LedgerState, ChainError> {
        genesis.validate()?;
        let db = open_store(path.as_ref())?;
        let tree = db.open_tree(streamed::live_tree_name(&db)?)?;
        let genesis_hash = genesis.genesis_hash();
        match tree.get(keys::GENESIS)? {
            Some(stored) => {
                let stored: Genesis = decode(keys::GENESIS, &stored)?;
                let stored_hash = stored.genesis_hash();
                if stored_hash != genesis_hash {
                    return Err(ChainError::GenesisMismatch {
                        stored: stored_hash,
                        expected: genesis_hash,
                    });
                }
            }
            None => {
                let batch = Self::genesis_batch(genesis)?;
                tree.apply_batch(batch)?;
                tree.flush()?;
            }
        }
        Self::load(db, tree, genesis.clone())
    }

    /// Opens an existing store, taking the genesis it was created with.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<LedgerState, ChainError> {
        let db = open_store(path.as_ref())?;
        let tree = db.open_tree(streamed::live_tree_name(&db)?)?;
        let stored = tree
            .get(keys::GENESIS)?
            .ok_or_else(|| corrupt("m:genesis", "the store has no genesis"))?;
        let genesis: Genesis = decode(keys::GENESIS, &stored)?;
        Self::load(db, tree, genesis)
    }

    /// The genesis state: parties, CRLs, tip at height 0, applied index 0.
    fn genesis_batch(genesis: &Genesis) -> Result<sled::Batch, ChainError> {
        let genesis_hash = genesis.genesis_hash();
        let mut batch = sled::Batch::default();
        for party in &genesis.parties {
            let member = genesis
                .member(&party.sponsor)
                .expect("validated: sponsors are members");
            let role = if party.code == member.code {
                member.role.workflow_role()
            } else {
                Role::Trader
            };
            let record = PartyRecord {
                code: party.code.clone(),
                name: party.name.clone(),
                sponsor: party.sponsor.clone(),
                role,
                since_height: 0,
            };
            batch.insert(keys::party(&party.code), encode(&record));
        }
        for member in &genesis.members {
            if let Some(der_base64) = &member.initial_crl {
                let info = Trust::inspect_genesis_crl(genesis, member, der_base64)
                    .map_err(ChainError::Trust)?;
                let record = CrlRecord {
                    member: member.code.clone(),
                    der_base64: der_base64.clone(),
                    this_update_ms: info.this_update_ms,
                    since_height: 0,
                };
                batch.insert(keys::crl(&member.code), encode(&record));
            }
        }
        let tip = Tip {
            height: 0,
            hash: genesis_hash,
            time_ms: genesis.genesis_time_ms,
            state_hash: genesis_state_hash(&genesis_hash),
        };
        batch.insert(keys::TIP, encode(&tip));
        batch.insert(keys::APPLIED, &0u64.to_be_bytes());
        batch.insert(keys::GENESIS, encode(genesis));
        Ok(batch)
    }

    /// Builds the in-memory view (configuration, tip, applied index) from the store.
    fn load(db: sled::Db, tree: sled::Tree, genesis: Genesis) -> Result<LedgerState, ChainError> {
        let engine = genesis.engine()?;
        let genesis_hash = genesis.genesis_hash();
        let (gov, tip, applied_index) = Self::load_view(&tree, &genesis)?;
        streamed::discard_stale_imports(
            &db,
            &String::from_utf8_lossy(&tree.name()),
            applied_index,
        )?;
        let gov = Arc::new(gov);
        let live = Arc::new(RwLock::new(tree.clone()));
        let streams = Arc::new(Streams::new(db.clone(), genesis_hash, live.clone()));
        let published = Arc::new(RwLock::new(Arc::new(Published {
            gov: gov.clone(),
            tip,
            applied_index,
        })));
        Ok(LedgerState {
            db,
            tree,
            live,
            streams,
            genesis_hash,
            rules: Arc::new(Rules { genesis, engine }),
            gov,
            applied_index,
            tip,
            published,
            blocks: broadcast::channel(BLOCK_SUBSCRIBERS_BUFFER).0,
        })
    }

    /// The configuration, tip and applied index the store holds.
    fn load_view(tree: &sled::Tree, genesis: &Genesis) -> Result<(Gov, Tip, u64), ChainError> {
        let applied_index = match tree.get(keys::APPLIED)? {
            Some(v) => u64_value("m:applied", &v)?,
            None => return Err(corrupt("m:applied", "missing")),
        };
        let tip: Tip = match tree.get(keys::TIP)? {
            Some(v) => decode(keys::TIP, &v)?,
            None => return Err(corrupt("m:tip", "missing")),
        };
        let mut parties = BTreeMap::new();
        for item in tree.scan_prefix(keys::PARTY) {
            let (k, v) = item?;
            let record: PartyRecord = decode(&k, &v)?;
            parties.insert(record.code.clone(), record);
        }
        let mut crls = BTreeMap::new();
        for item in tree.scan_prefix(keys::CRL) {
            let (k, v) = item?;
            let record: CrlRecord = decode(&k, &v)?;
            crls.insert(record.member.clone(), record);
        }
        let mut nodes: BTreeMap<u64, NodeRecord> = genesis
            .nodes
            .iter()
            .map(|n| {
                let record = NodeRecord {
                    raft_id: n.id,
                    node_id: None,
                    address: n.address.clone(),
                    member: n.member.clone(),
                    role: NodeRole::Voter,
                    since_height: 0,
                };
                (n.id, record)
            })
            .collect();
        for item in tree.scan_prefix(keys::NODE) {
            let (k, v) = item?;
            let record: NodeRecord = decode(&k, &v)?;
            nodes.insert(record.raft_id, record);
        }
        let trust = Trust::new(genesis, &crls).map_err(ChainError::Trust)?;
        let gov = Gov {
            parties,
            crls,
            nodes,
            trust: Arc::new(trust),
        };
        Ok((gov, tip, applied_index))
    }

    /// Shows readers the state as of now (after a commit, or a snapshot's restore).
    fn publish(&self) {
        let view = Arc::new(Published {
            gov: self.gov.clone(),
            tip: self.tip,
            applied_index: self.applied_index,
        });
        *self.published.write().unwrap_or_else(|p| p.into_inner()) = view;
    }

    /// A read-only view for other tasks and threads; it follows this state as it applies.
    pub fn reader(&self) -> LedgerReader {
        LedgerReader {
            live: self.live.clone(),
            genesis_hash: self.genesis_hash,
            rules: self.rules.clone(),
            published: self.published.clone(),
            blocks: self.blocks.clone(),
        }
    }

    /// Makes everything applied so far durable (sled's flush; see the module docs).
    pub fn flush(&self) -> Result<(), ChainError> {
        self.db.flush()?;
        Ok(())
    }

    // ----- apply -------------------------------------------------------------------------

    /// Applies the transactions of the Raft entry at `index` as the next block.
    ///
    /// `proposed_time_ms` is the proposer's clock; the block's time is
    /// `max(previous block time, proposed_time_ms)`. `attestation` is the proposer's last block
    /// when it opened the batch; it is checked first ([`LedgerState::check_attestation`]).
    /// Each envelope is checked and applied in order; a refused one changes nothing and the
    /// others still apply. Everything the block writes, with the block and `index`, is
    /// committed in one atomic sled batch.
    ///
    /// Precondition: `index == self.applied_index() + 1`. An `Err` means the store failed,
    /// holds data this code did not write, or differs from the proposer's: the replica must
    /// stop. Nothing was written.
    pub fn apply_block(
        &mut self,
        index: u64,
        proposed_time_ms: u64,
        attestation: Attestation,
        envelopes: &[&[u8]],
    ) -> Result<Block, ChainError> {
        if index != self.applied_index + 1 {
            return Err(ChainError::OutOfOrder {
                applied: self.applied_index,
                got: index,
            });
        }
        self.check_attestation(&attestation)?;
        if envelopes.len() > BLOCK_TRANSACTIONS_MAX {
            return Err(ChainError::TooManyTransactions {
                count: envelopes.len(),
                max: BLOCK_TRANSACTIONS_MAX,
            });
        }
        let height = self.tip.height + 1;
        let time_ms = block::block_time(self.tip.time_ms, proposed_time_ms);

        let mut work = Work::new(&self.tree, &self.gov);
        self.prune_nonces(&mut work, time_ms)?;
        let rules = &self.rules;
        let mut results = Vec::with_capacity(envelopes.len());
        for (position, envelope) in envelopes.iter().enumerate() {
            let position = u32::try_from(position).expect("bounded by BLOCK_TRANSACTIONS_MAX");
            let envelope = Envelope::parse(envelope);
            let ctx = TxContext {
                tx_hash: envelope.tx_hash,
                time_ms,
                location: TxLocation { height, position },
            };
            let outcome = rules.apply_tx(&mut work, envelope, ctx)?;
            let is_duplicate = outcome.refusal_code() == Some(validate::DUPLICATE);
            if !is_duplicate {
                let record = TxRecord {
                    tx_hash: ctx.tx_hash,
                    location: ctx.location,
                    time_ms,
                    outcome: outcome.clone(),
                };
                work.put(keys::tx(&ctx.tx_hash), encode(&record));
            }
            results.push(TxResult {
                tx_hash: ctx.tx_hash,
                outcome,
            });
        }

        // Documents go to the store as canonical JSON: their value hash is their state hash.
        let Work {
            gov, mut writes, ..
        } = work;
        let state_hash = chain_state_hash(&self.tip.state_hash, height, &writes);
        let leaves: Vec<Hash32> = results.iter().map(|r| r.tx_hash).collect();
        let header = BlockHeader {
            version: BLOCK_FORMAT_VERSION,
            height,
            log_index: index,
            time_ms,
            previous_hash: self.tip.hash,
            tx_root: merkle::merkle_root(&leaves),
            outcomes_hash: block::outcomes_hash(&results),
            state_hash,
            tx_count: u32::try_from(results.len()).expect("bounded by BLOCK_TRANSACTIONS_MAX"),
        };
        let block = Block {
            header,
            hash: header.hash(),
            transactions: results,
        };
        let tip = Tip {
            height,
            hash: block.hash,
            time_ms,
            state_hash,
        };
        writes.insert(keys::block(height), Some(encode(&block)));
        writes.insert(keys::TIP.to_vec(), Some(encode(&tip)));
        writes.insert(keys::APPLIED.to_vec(), Some(index.to_be_bytes().to_vec()));

        // A view being streamed to a peer keeps what these writes replace.
        self.streams.record_pre_images(&self.tree, &writes)?;
        let mut batch = sled::Batch::default();
        for (key, value) in writes {
            match value {
                Some(v) => {
                    let stored = codec::encode(&key, v);
                    batch.insert(key, stored);
                }
                None => batch.remove(key),
            }
        }
        self.tree.apply_batch(batch)?;

        // Only after the commit does the in-memory view move.
        if let Some(gov) = gov {
            self.gov = Arc::new(gov);
        }
        self.tip = tip;
        self.applied_index = index;
        self.publish();
        if self.blocks.receiver_count() > 0 {
            // Nobody listening, or a subscriber too slow: neither concerns apply.
            let _ = self.blocks.send(Arc::new(block.clone()));
        }
        Ok(block)
    }

    /// What this replica's proposals attest: its last block (height and block hash, which
    /// covers the state hash). At height 0 (genesis) it attests nothing.
    pub fn attestation(&self) -> Attestation {
        Attestation {
            height: self.tip.height,
            digest: self.tip.hash.0,
        }
    }

    /// Compares a proposer's attestation with this replica's own block at the attested height.
    /// Height 0 (genesis, or an entry from before attestations) checks nothing. The attested
    /// block precedes the entry in the log, so this replica has applied it: one beyond the tip
    /// is a divergence too.
    pub fn check_attestation(&self, attestation: &Attestation) -> Result<(), ChainError> {
        if attestation.is_none() {
            return Ok(());
        }
        let height = attestation.height;
        let proposer = Hash32(attestation.digest);
        let ours = if height == self.tip.height {
            self.tip.hash
        } else if height < self.tip.height {
            let k = keys::block(height);
            let bytes = self
                .tree
                .get(&k)?
                .ok_or_else(|| corrupt(format!("block {height}"), "missing below the tip"))?;
            decode::<Block>(&k, &bytes)?.hash
        } else {
            return Err(ChainError::AttestedBeyondTip {
                height,
                tip: self.tip.height,
                proposer,
            });
        };
        if ours != proposer {
            return Err(ChainError::Diverged {
                height,
                ours,
                proposer,
            });
        }
        Ok(())
    }

    /// Advances the applied index over an entry that carries no transactions (a leader's no-op,
    /// a membership change): no block, same state hash, one atomic write.
    pub fn advance_applied_index(&mut self, index: u64) -> Result<(), ChainError> {
        if index != self.applied_index + 1 {
            return Err(ChainError::OutOfOrder {
                applied: self.applied_index,
                got: index,
            });
        }
        let value = index.to_be_bytes().to_vec();
        let write = BTreeMap::from([(keys::APPLIED.to_vec(), Some(value.clone()))]);
        self.streams.record_pre_images(&self.tree, &write)?;
        self.tree.insert(keys::APPLIED, value)?;
        self.applied_index = index;
        self.publish();
        Ok(())
    }

    /// Deletes nonces whose window ended before `time_ms`, oldest first, at most
    /// [`NONCE_PRUNE_PER_BLOCK_MAX`]. Reads the committed store only (the block has written
    /// nothing yet), in key order: the same on every replica.
    fn prune_nonces(&self, work: &mut Work<'_>, time_ms: u64) -> Result<(), ChainError> {
        let end = [keys::NONCE_EXPIRY, &time_ms.to_be_bytes()].concat();
        let range = self.tree.range(keys::NONCE_EXPIRY.to_vec()..end);
        for item in range.take(NONCE_PRUNE_PER_BLOCK_MAX) {
            let (k, _) = item?;
            let rest = &k[keys::NONCE_EXPIRY.len() + 8..];
            let nul = rest
                .iter()
                .position(|b| *b == 0)
                .ok_or_else(|| corrupt("nex/", "no party terminator"))?;
            let nonce_key = [b"non/".as_slice(), rest].concat();
            debug_assert!(nul > 0);
            work.remove(nonce_key);
            work.remove(k.to_vec());
        }
        Ok(())
    }
}

/// The rules a transaction is checked and applied by: the network configuration and the workflow
/// engine it names. Shared by the replica's apply and every reader's precheck.
struct Rules {
    genesis: Genesis,
    engine: Engine,
}

impl Rules {
    /// One transaction: a refusal is an `Ok(Outcome::Refused)`, only store failures are `Err`.
    fn apply_tx(
        &self,
        work: &mut Work<'_>,
        envelope: Envelope<'_>,
        ctx: TxContext,
    ) -> Result<Outcome, ChainError> {
        match self.try_tx(work, envelope, ctx)? {
            Ok(documents) => Ok(Outcome::Committed { documents }),
            Err(refusal) => Ok(refusal.into_outcome()),
        }
    }

    fn try_tx(
        &self,
        work: &mut Work<'_>,
        envelope: Envelope<'_>,
        ctx: TxContext,
    ) -> Result<Result<Vec<DocumentKey>, TxRefusal>, ChainError> {
        // The same bytes committed before: point at the original (the API returns its outcome).
        if let Some(bytes) = work.get(&keys::tx(&ctx.tx_hash))? {
            let record: TxRecord = decode(b"txn/", &bytes)?;
            if record.outcome.is_committed() {
                return Ok(Err(TxRefusal::Duplicate {
                    original: record.location,
                }));
            }
        }
        let (jws, parsed) = match envelope.parsed {
            Ok(p) => p,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let gov = work.gov();
        let checked = match validate::check(
            jws,
            parsed,
            &gov.trust,
            &gov.parties,
            &self.genesis.network_id,
            ctx.time_ms,
        ) {
            Ok(c) => c,
            Err(refusal) => return Ok(Err(refusal)),
        };

        // Replay: a nonce seen within its window, for this party.
        let party = checked.party.code.clone();
        let nonce_key = keys::nonce(&party, &checked.tx.nonce);
        if let Some(bytes) = work.get(&nonce_key)? {
            let seen: NonceRecord = decode(&nonce_key, &bytes)?;
            if seen.not_after_ms >= ctx.time_ms {
                return Ok(Err(TxRefusal::NonceReused {
                    original: seen.tx_hash,
                }));
            }
        }

        let result = match &checked.tx.body {
            TxBody::Document { .. } => self.apply_document(work, ctx, &checked)?,
            TxBody::Governance(g) => self.apply_governance(work, ctx, &checked, g)?,
        };
        if result.is_ok() {
            let not_after = checked.tx.not_after_ms;
            // A later transaction may reuse an expired nonce: drop the old expiry entry.
            if let Some(bytes) = work.get(&nonce_key)? {
                let old: NonceRecord = decode(&nonce_key, &bytes)?;
                work.remove(keys::nonce_expiry(
                    old.not_after_ms,
                    &party,
                    &checked.tx.nonce,
                ));
            }
            let record = NonceRecord {
                tx_hash: ctx.tx_hash,
                not_after_ms: not_after,
            };
            work.put(nonce_key, encode(&record));
            work.put(
                keys::nonce_expiry(not_after, &party, &checked.tx.nonce),
                Vec::new(),
            );
        }
        Ok(result)
    }

    fn apply_document(
        &self,
        work: &mut Work<'_>,
        ctx: TxContext,
        checked: &Checked,
    ) -> Result<Result<Vec<DocumentKey>, TxRefusal>, ChainError> {
        let TxBody::Document { document, command } = &checked.tx.body else {
            unreachable!("called for document transactions only");
        };
        let actor = doc_workflow::Actor::new(checked.party.code.clone(), [checked.party.role]);
        let time = doc_workflow::BlockTime(ctx.time_ms);
        let key = DocumentKey {
            class: command.class(),
            id: document.clone(),
        };
        work.load_doc(&key)?;
        // A party that is not, and never was, party to an existing document learns nothing of
        // it: it is refused exactly as if the document did not exist, before any rule could
        // tell it who holds the document or what state it is in. A cargo release that does not
        // exist yet is guarded by the bill it would release.
        let guard = if work.docs[&key].is_none() && key.class == DocumentClass::CargoRelease {
            DocumentKey::transport_document(document.clone())
        } else {
            key.clone()
        };
        work.load_doc(&guard)?;
        if work.docs[&guard].is_some() {
            let ever_key = keys::parties_ever(&guard);
            let parties: BTreeSet<PartyCode> = match work.get(&ever_key)? {
                Some(bytes) => decode(&ever_key, &bytes)?,
                None => BTreeSet::new(),
            };
            if !parties.contains(&checked.party.code) {
                return Ok(Err(TxRefusal::Workflow(
                    doc_workflow::Refusal::DocumentNotFound { document: guard },
                )));
            }
        }
        let mut attempts = 0;
        let decision = loop {
            attempts += 1;
            let view = DocView {
                docs: &work.docs,
                misses: RefCell::new(BTreeSet::new()),
            };
            let parties = PartyView {
                parties: &work.gov().parties,
                genesis: &self.genesis,
            };
            let result = self
                .engine
                .decide(&view, &parties, &actor, time, document, command);
            let misses = view.misses.into_inner();
            if misses.is_empty() {
                break result;
            }
            if attempts >= DECIDE_ATTEMPTS_MAX {
                return Err(corrupt(
                    "decide",
                    format!("the engine kept asking for unloaded documents: {misses:?}"),
                ));
            }
            for key in &misses {
                work.load_doc(key)?;
            }
        };
        let decision = match decision {
            Ok(d) => d,
            Err(refusal) => return Ok(Err(TxRefusal::Workflow(refusal))),
        };

        let mut touched = Vec::with_capacity(decision.changes.len());
        for (key, new_state) in decision.changes {
            let event = decision
                .events
                .iter()
                .find(|e| e.document == key)
                .cloned()
                .ok_or_else(|| corrupt("decide", format!("no event for changed {key}")))?;
            let entry = HistoryEntry {
                sequence: new_state.sequence,
                tx_hash: ctx.tx_hash,
                height: ctx.location.height,
                position: ctx.location.position,
                time_ms: ctx.time_ms,
                actor: checked.party.code.clone(),
                member: checked.signer.member.clone(),
                signer_fingerprint: checked.signer.fingerprint.clone(),
                action: command.action(),
                recipient: command.recipient().cloned(),
                event,
                jws: checked.jws.clone(),
            };
            self.write_document(work, &key, new_state, entry)?;
            touched.push(key);
        }
        Ok(Ok(touched))
    }

    /// Writes a document's new state, its history entry and its index entries.
    fn write_document(
        &self,
        work: &mut Work<'_>,
        key: &DocumentKey,
        state: DocumentState,
        entry: HistoryEntry,
    ) -> Result<(), ChainError> {
        work.load_doc(key)?;
        let old_status = work.docs[key].as_ref().map(|s| s.status);
        let old_checksum = work.docs[key]
            .as_ref()
            .and_then(|s| s.content.as_ref())
            .map(|c| c.sha256.clone());
        let new_checksum = state.content.as_ref().map(|c| c.sha256.clone());
        if old_checksum != new_checksum {
            if let Some(old) = &old_checksum {
                work.remove(keys::by_checksum(old, key));
            }
            if let Some(new) = &new_checksum {
                work.put(keys::by_checksum(new, key), Vec::new());
            }
        }
        let ever_key = keys::parties_ever(key);
        let old_parties: BTreeSet<PartyCode> = match work.get(&ever_key)? {
            Some(bytes) => decode(&ever_key, &bytes)?,
            None => BTreeSet::new(),
        };
        let mut parties = old_parties.clone();
        parties_of(&state, &entry.event, &mut parties);
        let status = state.status;

        // Only the index entries that change are written: a transfer or an endorsement keeps the
        // status, so it touches the entries of new parties alone. (Each write costs a sled node
        // rewrite; rewriting an entry with the bytes it holds would change nothing stored.)
        let status_changed = old_status != Some(status);
        if status_changed {
            if let Some(old) = old_status {
                work.remove(keys::by_status(old, key));
                for p in &old_parties {
                    work.remove(keys::by_party_status(p, old, key));
                }
            }
            work.put(keys::by_status(status, key), Vec::new());
        }
        for p in parties
            .iter()
            .filter(|p| status_changed || !old_parties.contains(*p))
        {
            work.put(keys::by_party_status(p, status, key), Vec::new());
            work.put(keys::by_party(p, key), status.code().as_bytes().to_vec());
        }
        if parties != old_parties {
            work.put(ever_key, encode(&parties));
        }
        work.put(keys::history(key, entry.sequence), encode(&entry));
        work.put(keys::doc(key), state.canonical_json().into_bytes());
        work.docs.insert(key.clone(), Some(state));
        Ok(())
    }

    fn apply_governance(
        &self,
        work: &mut Work<'_>,
        ctx: TxContext,
        checked: &Checked,
        command: &Governance,
    ) -> Result<Result<Vec<DocumentKey>, TxRefusal>, ChainError> {
        debug_assert_eq!(checked.signer.kind, IdentityKind::Admin);
        let member_code = checked.signer.member.clone();
        let member = self
            .genesis
            .member(&member_code)
            .expect("validated: the signer's member is a genesis member");
        match command {
            Governance::OnboardParty { code, name } => {
                if member.role == MemberRole::Observer {
                    return Ok(Err(TxRefusal::ObserverCannotSponsor {
                        member: member_code,
                    }));
                }
                if work.gov().parties.contains_key(code) {
                    return Ok(Err(TxRefusal::PartyAlreadyExists {
                        party: code.clone(),
                    }));
                }
                let chars = name.chars().count();
                if chars == 0 || chars > PARTY_NAME_CHARS_MAX || name.trim() != name {
                    return Ok(Err(TxRefusal::InvalidPartyName {
                        chars,
                        max: PARTY_NAME_CHARS_MAX,
                    }));
                }
                let record = PartyRecord {
                    code: code.clone(),
                    name: name.clone(),
                    sponsor: member_code,
                    role: Role::Trader,
                    since_height: ctx.location.height,
                };
                work.put(keys::party(code), encode(&record));
                work.gov_mut().parties.insert(code.clone(), record);
            }
            Governance::UpdateRevocations { crl } => {
                let current = work.gov().crls.get(&member_code).map(|c| c.this_update_ms);
                // The admin's x5c after its leaf: where a member's issuing intermediate, the
                // signer of its users' revocation list, is found. The envelope parsed before.
                let chain = pki::jws::parse(&checked.jws)
                    .map(|p| p.chain)
                    .unwrap_or_default();
                let presented: Vec<&[u8]> = chain.iter().skip(1).map(|c| c.as_ref()).collect();
                let info = match work.gov().trust.check_crl_update(
                    &member_code,
                    crl,
                    &presented,
                    current,
                    ctx.time_ms,
                ) {
                    Ok(info) => info,
                    Err(refusal) => return Ok(Err(refusal)),
                };
                let record = CrlRecord {
                    member: member_code.clone(),
                    der_base64: crl.clone(),
                    this_update_ms: info.this_update_ms,
                    since_height: ctx.location.height,
                };
                work.put(keys::crl(&member_code), encode(&record));
                let gov = work.gov_mut();
                gov.crls.insert(member_code, record);
                let trust = Trust::new(&self.genesis, &gov.crls).map_err(ChainError::Trust)?;
                gov.trust = Arc::new(trust);
            }
            Governance::AddNode {
                raft_id,
                node_id,
                address,
            } => {
                if *raft_id == 0 {
                    return Ok(Err(TxRefusal::InvalidNode(
                        "raft id 0 is reserved by Raft".into(),
                    )));
                }
                if let Err(e) = pki::NodeId::new(node_id.as_str()) {
                    return Ok(Err(TxRefusal::InvalidNode(e)));
                }
                if address.parse::<std::net::SocketAddr>().is_err() {
                    return Ok(Err(TxRefusal::InvalidNode(format!(
                        "address {address:?} is not an ip:port"
                    ))));
                }
                let nodes = &work.gov().nodes;
                if nodes.contains_key(raft_id)
                    || nodes
                        .values()
                        .any(|n| n.node_id.as_deref() == Some(node_id.as_str()))
                {
                    return Ok(Err(TxRefusal::NodeAlreadyExists {
                        raft_id: *raft_id,
                        node_id: node_id.clone(),
                    }));
                }
                let current = nodes
                    .values()
                    .filter(|n| n.role != NodeRole::Removed)
                    .count();
                if current >= super::genesis::NODES_MAX {
                    return Ok(Err(TxRefusal::TooManyNodes {
                        max: super::genesis::NODES_MAX,
                    }));
                }
                let record = NodeRecord {
                    raft_id: *raft_id,
                    node_id: Some(node_id.clone()),
                    address: address.clone(),
                    member: member_code,
                    role: NodeRole::Learner,
                    since_height: ctx.location.height,
                };
                work.put(keys::node(*raft_id), encode(&record));
                work.gov_mut().nodes.insert(*raft_id, record);
            }
            Governance::PromoteNode { raft_id } => {
                let record = match own_node(work.gov(), *raft_id, &member_code) {
                    Ok(r) => r,
                    Err(refusal) => return Ok(Err(refusal)),
                };
                if record.role != NodeRole::Learner {
                    return Ok(Err(TxRefusal::NotALearner { raft_id: *raft_id }));
                }
                let record = NodeRecord {
                    role: NodeRole::Voter,
                    since_height: ctx.location.height,
                    ..record
                };
                work.put(keys::node(*raft_id), encode(&record));
                work.gov_mut().nodes.insert(*raft_id, record);
            }
            Governance::RemoveNode { raft_id } => {
                let record = match own_node(work.gov(), *raft_id, &member_code) {
                    Ok(r) => r,
                    Err(refusal) => return Ok(Err(refusal)),
                };
                if record.role == NodeRole::Voter {
                    let voters = work
                        .gov()
                        .nodes
                        .values()
                        .filter(|n| n.role == NodeRole::Voter)
                        .count();
                    let min = VOTERS_MIN.min(voters);
                    if voters - 1 < min {
                        return Ok(Err(TxRefusal::LastVoter {
                            raft_id: *raft_id,
                            remaining: voters - 1,
                            min,
                        }));
                    }
                }
                let record = NodeRecord {
                    role: NodeRole::Removed,
                    since_height: ctx.location.height,
                    ..record
                };
                work.put(keys::node(*raft_id), encode(&record));
                work.gov_mut().nodes.insert(*raft_id, record);
            }
        }
        Ok(Ok(Vec::new()))
    }
}

/// The node `raft_id`, if it is a current (not removed) node of `member`.
fn own_node(gov: &Gov, raft_id: u64, member: &PartyCode) -> Result<NodeRecord, TxRefusal> {
    let record = match gov.nodes.get(&raft_id) {
        Some(r) if r.role != NodeRole::Removed => r,
        _ => return Err(TxRefusal::UnknownNode { raft_id }),
    };
    if &record.member != member {
        return Err(TxRefusal::NodeOfAnotherMember {
            raft_id,
            owner: record.member.clone(),
            member: member.clone(),
        });
    }
    Ok(record.clone())
}

impl Gov {
    /// The Raft membership the nodes prescribe.
    fn membership(&self) -> replication::state_machine::Membership {
        let ids = |role| {
            self.nodes
                .values()
                .filter(|n| n.role == role)
                .map(|n| n.raft_id)
                .collect()
        };
        replication::state_machine::Membership {
            voters: ids(NodeRole::Voter),
            learners: ids(NodeRole::Learner),
        }
    }
}

impl LedgerState {
    /// The network configuration.
    pub fn genesis(&self) -> &Genesis {
        &self.rules.genesis
    }

    /// The genesis hash, for the transport handshake.
    pub fn genesis_hash(&self) -> Hash32 {
        self.genesis_hash
    }

    /// The Raft index of the last applied entry (0 before the first).
    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }

    /// The last block (height 0 = genesis).
    pub fn tip(&self) -> Tip {
        self.tip
    }

    /// The state hash after the last block (module docs).
    pub fn state_hash(&self) -> Hash32 {
        self.tip.state_hash
    }

    /// A party on the network.
    pub fn party(&self, code: &PartyCode) -> Option<&PartyRecord> {
        self.gov.parties.get(code)
    }

    /// All parties, by code.
    pub fn parties(&self) -> impl Iterator<Item = &PartyRecord> {
        self.gov.parties.values()
    }

    /// A member's current CRL, if it has one.
    pub fn crl(&self, member: &PartyCode) -> Option<&CrlRecord> {
        self.gov.crls.get(member)
    }

    /// Every node ever (removed ones included), by raft id.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeRecord> {
        self.gov.nodes.values()
    }

    /// The Raft membership the ledger prescribes (its voters and learners).
    pub fn membership(&self) -> replication::state_machine::Membership {
        self.gov.membership()
    }
}

impl LedgerReader {
    /// The tree that holds the state (a restore from a streamed snapshot switches it).
    fn tree(&self) -> sled::Tree {
        self.live.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn view(&self) -> Arc<Published> {
        self.published
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The network configuration.
    pub fn genesis(&self) -> &Genesis {
        &self.rules.genesis
    }

    /// The genesis hash.
    pub fn genesis_hash(&self) -> Hash32 {
        self.genesis_hash
    }

    /// The Raft index of the last applied entry, as last published.
    pub fn applied_index(&self) -> u64 {
        self.view().applied_index
    }

    /// The last block, as last published.
    pub fn tip(&self) -> Tip {
        self.view().tip
    }

    /// The party a certificate of `member` naming `party` acts for, by the parties as last
    /// published: [`validate::acting_party`], the rule a transaction's signer is held to, for
    /// holders of a certificate outside a block (the API).
    pub fn acting_party(
        &self,
        party: &PartyCode,
        member: &PartyCode,
    ) -> Result<PartyRecord, TxRefusal> {
        validate::acting_party(&self.view().gov.parties, party, member).cloned()
    }

    /// A number that changes exactly when a member's revocation list changes: the height of
    /// the block that installed the newest current list (0 while only genesis lists exist).
    /// Every `UPDATE_REVOCATIONS` commits at a height above every list before it, so a holder
    /// of a certificate verified at epoch N needs to verify it again only once this is not N.
    pub fn revocation_epoch(&self) -> u64 {
        let view = self.view();
        view.gov
            .crls
            .values()
            .map(|crl| crl.since_height)
            .max()
            .unwrap_or(0)
    }

    /// A party on the network.
    pub fn party(&self, code: &PartyCode) -> Option<PartyRecord> {
        self.view().gov.parties.get(code).cloned()
    }

    /// Every node ever (removed ones included), by raft id, as of the last applied block.
    pub fn nodes(&self) -> Vec<NodeRecord> {
        self.view().gov.nodes.values().cloned().collect()
    }

    /// All parties, by code.
    pub fn parties(&self) -> Vec<PartyRecord> {
        self.view().gov.parties.values().cloned().collect()
    }

    /// Checks a transaction a client just submitted against the current state, as if it were
    /// the only transaction of a block at `max(last block time, now_ms)`. Changes nothing. The
    /// committed outcome may still differ: the state and the block time move before it commits.
    pub fn precheck(&self, envelope: &[u8], now_ms: u64) -> Result<Outcome, ChainError> {
        let view = self.view();
        let time_ms = block::block_time(view.tip.time_ms, now_ms);
        let tree = self.tree();
        let mut work = Work::new(&tree, &view.gov);
        let envelope = Envelope::parse(envelope);
        let ctx = TxContext {
            tx_hash: envelope.tx_hash,
            time_ms,
            location: TxLocation {
                height: view.tip.height + 1,
                position: 0,
            },
        };
        self.rules.apply_tx(&mut work, envelope, ctx)
    }

    /// A document's current state.
    pub fn document(&self, key: &DocumentKey) -> Result<Option<DocumentState>, ChainError> {
        let k = keys::doc(key);
        match self.tree().get(&k)? {
            Some(bytes) => Ok(Some(decode(&k, &bytes)?)),
            None => Ok(None),
        }
    }

    /// Every party that is or was party to the document (empty if it does not exist): who may
    /// read it.
    pub fn parties_ever(&self, key: &DocumentKey) -> Result<BTreeSet<PartyCode>, ChainError> {
        let k = keys::parties_ever(key);
        match self.tree().get(&k)? {
            Some(bytes) => decode(&k, &bytes),
            None => Ok(BTreeSet::new()),
        }
    }

    /// The documents whose content's SHA-256 (over its RFC 8785 form) is `sha256_hex`, at most
    /// [`PAGE_SIZE_MAX`].
    pub fn documents_by_checksum(
        &self,
        sha256_hex: &str,
    ) -> Result<Vec<DocumentState>, ChainError> {
        let prefix = keys::checksum_prefix(sha256_hex);
        let mut out = Vec::new();
        for item in self.tree().scan_prefix(&prefix).keys().take(PAGE_SIZE_MAX) {
            let k = item?;
            let doc_key = keys::doc_from_suffix(&k[prefix.len()..]);
            let bytes = self
                .tree()
                .get(&doc_key)?
                .ok_or_else(|| corrupt(String::from_utf8_lossy(&k), "indexed document missing"))?;
            out.push(decode(&doc_key, &bytes)?);
        }
        Ok(out)
    }

    /// Blocks as they are committed from now on. A subscriber that falls more than
    /// [`BLOCK_SUBSCRIBERS_BUFFER`] blocks behind is told how many it missed (`Lagged`).
    pub fn subscribe_blocks(&self) -> broadcast::Receiver<Arc<Block>> {
        self.blocks.subscribe()
    }

    /// The members' roots with the ledger's current revocation lists.
    pub fn trust_store(&self) -> TrustStore {
        self.view().gov.trust.store().clone()
    }

    /// A document's history, oldest first: entries with a sequence after `after_sequence`, at
    /// most `limit` (capped at [`PAGE_SIZE_MAX`]).
    pub fn history(
        &self,
        key: &DocumentKey,
        after_sequence: Option<u64>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, ChainError> {
        let limit = limit.min(PAGE_SIZE_MAX);
        let prefix = keys::history_prefix(key);
        let start = match after_sequence {
            Some(seq) => Bound::Excluded(keys::history(key, seq)),
            None => Bound::Included(prefix.clone()),
        };
        let mut out = Vec::new();
        for item in self.tree().range((start, Bound::Unbounded)) {
            let (k, v) = item?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            out.push(decode(&k, &v)?);
        }
        Ok(out)
    }

    /// A document's whole history up to `sequence` (its state's), oldest first, read page by
    /// page. A document's history is short (the workflow allows a bounded number of actions);
    /// the loop ends when a page adds nothing.
    pub fn history_through(
        &self,
        key: &DocumentKey,
        sequence: u64,
    ) -> Result<Vec<HistoryEntry>, ChainError> {
        let mut out: Vec<HistoryEntry> = Vec::new();
        while (out.len() as u64) < sequence {
            let after = out.last().map(|e| e.sequence);
            let before = out.len();
            out.extend(
                self.history(key, after, PAGE_SIZE_MAX)?
                    .into_iter()
                    .filter(|e| e.sequence <= sequence),
            );
            if out.len() == before {
                break;
            }
        }
        Ok(out)
    }

    /// Documents that `party` is or was party to, optionally only those in `status`, in key
    /// order, starting after the cursor `after`; at most `limit` (capped at [`PAGE_SIZE_MAX`]).
    pub fn documents_by_party(
        &self,
        party: &PartyCode,
        status: Option<Status>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<DocumentPage, ChainError> {
        let prefix = match status {
            Some(s) => keys::party_status_prefix(party, s),
            None => keys::party_prefix(party),
        };
        self.page(&prefix, after, limit)
    }

    /// Documents in `status` (for observers, who see all), as [`documents_by_party`](Self::documents_by_party).
    pub fn documents_by_status(
        &self,
        status: Status,
        after: Option<&str>,
        limit: usize,
    ) -> Result<DocumentPage, ChainError> {
        self.page(&keys::status_prefix(status), after, limit)
    }

    /// One page of an index whose keys are `prefix || document key`.
    fn page(
        &self,
        prefix: &[u8],
        after: Option<&str>,
        limit: usize,
    ) -> Result<DocumentPage, ChainError> {
        let limit = limit.clamp(1, PAGE_SIZE_MAX);
        let start = match after {
            Some(cursor) => Bound::Excluded([prefix, cursor.as_bytes()].concat()),
            None => Bound::Included(prefix.to_vec()),
        };
        let mut documents = Vec::new();
        let mut next_cursor = None;
        let mut last_suffix: Option<Vec<u8>> = None;
        for item in self.tree().range((start, Bound::Unbounded)) {
            let (k, _) = item?;
            if !k.starts_with(prefix) {
                break;
            }
            if documents.len() == limit {
                // One more exists: the page is full and the cursor is its last key.
                next_cursor = last_suffix
                    .as_deref()
                    .map(|s| String::from_utf8_lossy(s).into_owned());
                break;
            }
            let suffix = &k[prefix.len()..];
            let doc_key = keys::doc_from_suffix(suffix);
            let bytes = self
                .tree()
                .get(&doc_key)?
                .ok_or_else(|| corrupt(String::from_utf8_lossy(&k), "indexed document missing"))?;
            documents.push(decode(&doc_key, &bytes)?);
            last_suffix = Some(suffix.to_vec());
        }
        Ok(DocumentPage {
            documents,
            next_cursor,
        })
    }

    /// The block at `height` (1 for the first).
    pub fn block(&self, height: u64) -> Result<Option<Block>, ChainError> {
        let k = keys::block(height);
        match self.tree().get(&k)? {
            Some(bytes) => Ok(Some(decode(&k, &bytes)?)),
            None => Ok(None),
        }
    }

    /// Where a transaction went and its outcome (the latest, for one refused and resubmitted).
    pub fn transaction(&self, tx_hash: &Hash32) -> Result<Option<TxRecord>, ChainError> {
        let k = keys::tx(tx_hash);
        match self.tree().get(&k)? {
            Some(bytes) => Ok(Some(decode(&k, &bytes)?)),
            None => Ok(None),
        }
    }

    /// SHA-256 over every replicated key and value (meta and blocks excluded), in key order.
    /// O(state): for audits and tests that compare two replicas' stored bytes.
    pub fn content_digest(&self) -> Result<Hash32, ChainError> {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        for item in self.tree().iter() {
            let (k, v) = item?;
            if keys::is_hashed(&k) {
                // The values, not how they are stored (compressed or not).
                let v = codec::decode(&k, &v)?;
                h.update((k.len() as u64).to_be_bytes());
                h.update(&k);
                h.update((v.len() as u64).to_be_bytes());
                h.update(&v);
            }
        }
        Ok(Hash32(h.finalize().into()))
    }
}

impl LedgerState {
    // ----- snapshots ---------------------------------------------------------------------

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

/// What the nonce store remembers: which transaction used the nonce, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NonceRecord {
    tx_hash: Hash32,
    not_after_ms: u64,
}
