//! [`LedgerReader`]: the reads the API, the adapters and a node's write path make while the
//! replica applies -- documents and their histories, the index pages, blocks, transaction
//! records, the configuration as last published -- and [`LedgerReader::precheck`].
//!
//! What this module is not: it never writes the store (a precheck applies into a `Work` it then
//! drops), and it does not decide who may read what; the API does, with the party index.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;

use doc_workflow::{ContainerNumber, DocumentKey, DocumentState, PartyCode, Status};
use pki::TrustStore;

use crate::apply::{Signatures, TxContext, Work};
use crate::block::{self, Block, Outcome, TxLocation};
use crate::consortium::{ConsortiumRecord, MemberRecord, ProposalRecord, ProposalState, Tally};
use crate::genesis::Genesis;
use crate::records::{
    DocumentPage, ExportRecord, HistoryEntry, NodeRecord, PartyRecord, PintChainRecord,
    StoredDocument, StoredJws, Tip, TxRecord, corrupt, decode,
};
use crate::state::{LedgerState, Published, Rules};
use crate::validate::{self, Envelope, TxRefusal};
use crate::{ChainError, Hash32, codec, keys};

/// Largest page a read returns. A document is at most about 70 KiB of JSON; 100 of them keep a
/// response under 8 MiB and a sled scan short, and a UI page shows far fewer.
pub const PAGE_SIZE_MAX: usize = 100;

/// A proposal as a reader sees it: the record, its state as of the last block, its tally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalView {
    pub record: ProposalRecord,
    pub state: ProposalState,
    pub tally: Tally,
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

impl LedgerState {
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
}

impl LedgerReader {
    /// The tree that holds the state (a restore from a streamed snapshot switches it).
    fn tree(&self) -> sled::Tree {
        live_tree(&self.live)
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

    /// A number that changes whenever the trust material changes: the height of the block
    /// that installed the newest current revocation list or last changed a member (admitted,
    /// removed, a CA added, retired or revoked); 0 while only genesis's hold. Each such change
    /// commits at a height above every one before it, so a holder of a certificate verified at
    /// epoch N needs to verify it again only once this is not N.
    pub fn revocation_epoch(&self) -> u64 {
        let view = self.view();
        let crls = view.gov.crls.values().map(|crl| crl.since_height);
        let members = view.gov.members.values().map(|m| m.since_height);
        crls.chain(members).max().unwrap_or(0)
    }

    /// This network's DCSA PINT platform code, if it has one.
    pub fn platform(&self) -> Option<&str> {
        self.rules.genesis.platform.as_deref()
    }

    /// The certificates PINT signatures are checked against as of the last block: every
    /// platform trusted by vote, and this one anchored on its members' root CAs.
    pub fn pint_trusted_platforms(&self) -> pint::TrustedPlatforms {
        crate::apply::pint::trusted_platforms(&self.view().gov)
    }

    /// The local party a PINT identifying code names, with its name, if this network hosts
    /// it (receiver validation).
    pub fn pint_hosted_party(&self, code: &pint::IdentifyingCode) -> Option<PartyRecord> {
        let own = self.platform()?;
        let view = self.view();
        let party = crate::apply::pint::hosted_party(own, code, &view.gov)?;
        view.gov.parties.get(&PartyCode::new(party).ok()?).cloned()
    }

    /// A bill's PINT transfer chain as this network holds it, by its transport document
    /// checksum (SHA-256 of the RFC 8785 form of its content).
    pub fn pint_chain(
        &self,
        document_checksum: &str,
    ) -> Result<Option<PintChainRecord>, ChainError> {
        let k = keys::pint_chain(document_checksum);
        Ok(match self.tree().get(&k)? {
            Some(bytes) => Some(decode(&k, &bytes)?),
            None => None,
        })
    }

    /// A bill's PINT issuance manifest (compact JWS): the one its carrier signed at issue here
    /// (checked at apply), else, for a bill that came from another platform, the one its first
    /// chain entry carries; `None` for a bill issued here without one.
    pub fn pint_issuance_manifest(
        &self,
        key: &DocumentKey,
        document_checksum: &str,
    ) -> Result<Option<String>, ChainError> {
        let k = keys::pint_issuance_manifest(key);
        if let Some(bytes) = self.tree().get(&k)? {
            return String::from_utf8(bytes.to_vec())
                .map(Some)
                .map_err(|_| corrupt("pim/", "an issuance manifest that is not text"));
        }
        Ok(self
            .pint_chain(document_checksum)?
            .and_then(|chain| chain.entries.into_iter().next())
            .and_then(|first| pint::jws::unverified_payload(&first).ok())
            .and_then(|payload| {
                serde_json::from_slice::<pint::EnvelopeTransferChainEntry>(&payload).ok()
            })
            .and_then(|entry| entry.issuance_manifest_signed_content))
    }

    /// The bytes of a supporting document the transfer of bill `key` to another platform
    /// carries, by its checksum: what the delivering node sends, from any node of the member.
    pub fn pint_outgoing_document(
        &self,
        key: &DocumentKey,
        checksum: &str,
    ) -> Result<Option<Vec<u8>>, ChainError> {
        Ok(self
            .tree()
            .get(keys::pint_outgoing_document(checksum, key))?
            .map(|bytes| bytes.to_vec()))
    }

    /// A bill's latest transfer to another platform.
    pub fn pint_export(&self, key: &DocumentKey) -> Result<Option<ExportRecord>, ChainError> {
        let k = keys::pint_export(key);
        Ok(match self.tree().get(&k)? {
            Some(bytes) => Some(decode(&k, &bytes)?),
            None => None,
        })
    }

    /// The transfers to other platforms not yet answered (`REQUESTED` or `DISPATCHED`), at
    /// most `limit`, in document order: the senders' outbox.
    pub fn pint_outbox(
        &self,
        limit: usize,
    ) -> Result<Vec<(DocumentKey, ExportRecord)>, ChainError> {
        let tree = self.tree();
        let mut out = Vec::new();
        for item in tree.scan_prefix(keys::PINT_OUTBOX).take(limit) {
            let (k, _) = item?;
            let export_key = [keys::PINT_EXPORT, &k[keys::PINT_OUTBOX.len()..]].concat();
            let Some(bytes) = tree.get(&export_key)? else {
                return Err(corrupt("pxq/", "an outbox entry without its export"));
            };
            let record: ExportRecord = decode(&export_key, &bytes)?;
            out.push((record.document.clone(), record));
        }
        Ok(out)
    }

    /// Every member ever (removed ones included), by code, as of the last applied block.
    pub fn members(&self) -> Vec<MemberRecord> {
        self.view().gov.members.values().cloned().collect()
    }

    /// The consortium's configuration record (version, pause, parameters, workflow versions).
    pub fn consortium(&self) -> Arc<ConsortiumRecord> {
        self.view().gov.consortium.clone()
    }

    /// A proposal with its votes, its state as of the last block (an open proposal past its
    /// expiry or base version reads `EXPIRED` or `SUPERSEDED`) and its tally.
    pub fn proposal(&self, id: &Hash32) -> Result<Option<ProposalView>, ChainError> {
        let k = keys::proposal(id);
        let Some(bytes) = self.tree().get(&k)? else {
            return Ok(None);
        };
        let record: ProposalRecord = decode(&k, &bytes)?;
        Ok(Some(self.proposal_view(record)))
    }

    /// Proposals, at most [`PAGE_SIZE_MAX`], newest first (by the block that made them).
    pub fn proposals(&self) -> Result<Vec<ProposalView>, ChainError> {
        let mut records = Vec::new();
        for item in self.tree().scan_prefix(keys::PROPOSAL) {
            let (k, v) = item?;
            records.push(decode::<ProposalRecord>(&k, &v)?);
        }
        records.sort_by_key(|r| std::cmp::Reverse((r.created_height, r.id)));
        records.truncate(PAGE_SIZE_MAX);
        Ok(records.into_iter().map(|r| self.proposal_view(r)).collect())
    }

    fn proposal_view(&self, record: ProposalRecord) -> ProposalView {
        let view = self.view();
        let state = record.state_at(view.tip.time_ms, view.gov.consortium.version);
        let tally = record.tally(&view.gov.members);
        ProposalView {
            state,
            tally,
            record,
        }
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
        work.signatures = Signatures::Door(&self.rules.signatures);
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
        let tree = self.tree();
        match tree.get(&k)? {
            Some(bytes) => Ok(Some(stored_document(&tree, &k, &bytes)?)),
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
        checksum_documents(&self.live, sha256_hex)
    }

    /// The cargo releases that grant, or granted, a right for `container` (a container is
    /// reused, bill after bill), at most [`PAGE_SIZE_MAX`]: what the gate check reads. Who may
    /// learn of them is the API's to decide.
    pub fn container_releases(
        &self,
        container: &ContainerNumber,
    ) -> Result<Vec<DocumentState>, ChainError> {
        prefix_documents(&self.live, &keys::container_prefix(container))
    }

    /// Blocks as they are committed from now on. A subscriber that falls more than
    /// [`BLOCK_SUBSCRIBERS_BUFFER`] blocks behind is told how many it missed (`Lagged`).
    pub fn subscribe_blocks(&self) -> broadcast::Receiver<Arc<Block>> {
        self.blocks.subscribe()
    }

    /// The active members' roots with the ledger's current revocation lists.
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
        let tree = self.tree();
        let mut out = Vec::new();
        for item in tree.range((start, Bound::Unbounded)) {
            let (k, v) = item?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            let mut entry: HistoryEntry = decode(&k, &v)?;
            if let Some(digest) = StoredJws::header_digest(&entry.jws)? {
                let header_key = keys::jws_header(&digest);
                let header = tree.get(&header_key)?.ok_or_else(|| {
                    corrupt("jwh/", "a history entry's envelope header is missing")
                })?;
                let header = std::str::from_utf8(&header)
                    .map_err(|_| corrupt("jwh/", "an envelope header that is not text"))?;
                entry.jws = StoredJws::restore(&entry.jws, header)?;
            }
            out.push(entry);
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

    /// One page of an index whose keys are `prefix || document key` ([`index_page`]).
    fn page(
        &self,
        prefix: &[u8],
        after: Option<&str>,
        limit: usize,
    ) -> Result<DocumentPage, ChainError> {
        index_page(&self.live, prefix, after, limit)
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

/// The tree that holds the state now (a restore from a streamed snapshot switches it).
fn live_tree(live: &RwLock<sled::Tree>) -> sled::Tree {
    live.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// One page of an index whose keys are `prefix || document key`, starting after the cursor
/// `after`, at most `limit` documents (capped at [`PAGE_SIZE_MAX`]).
///
/// The page is read from one tree, the live one when it starts: each index entry and the
/// document it names come from the same state. Were the live tree taken again per row, a
/// restore that switches it mid-page would pair an index entry of the old state with the new
/// state's documents: a document missing there reads as a corrupt store ("indexed document
/// missing"), and one that moved on is listed under an index it has left.
fn index_page(
    live: &RwLock<sled::Tree>,
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
    let tree = live_tree(live);
    for item in tree.range((start, Bound::Unbounded)) {
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
        let bytes = tree
            .get(&doc_key)?
            .ok_or_else(|| corrupt(String::from_utf8_lossy(&k), "indexed document missing"))?;
        documents.push(stored_document(&tree, &doc_key, &bytes)?);
        last_suffix = Some(suffix.to_vec());
    }
    Ok(DocumentPage {
        documents,
        next_cursor,
    })
}

/// The documents indexed under a content checksum, at most [`PAGE_SIZE_MAX`], read from one
/// tree as [`index_page`] is.
fn checksum_documents(
    live: &RwLock<sled::Tree>,
    sha256_hex: &str,
) -> Result<Vec<DocumentState>, ChainError> {
    prefix_documents(live, &keys::checksum_prefix(sha256_hex))
}

/// A document's state as stored under `key` in `tree`, its content put back.
fn stored_document(
    tree: &sled::Tree,
    key: &[u8],
    bytes: &[u8],
) -> Result<DocumentState, ChainError> {
    StoredDocument::join(key, bytes, |ck| {
        tree.get(ck)?
            .map(|v| codec::decode(ck, &v).map(|c| c.into_owned()))
            .transpose()
    })
}

/// The documents of an index whose keys are `prefix || document key`, at most
/// [`PAGE_SIZE_MAX`], read from one tree as [`index_page`] is.
fn prefix_documents(
    live: &RwLock<sled::Tree>,
    prefix: &[u8],
) -> Result<Vec<DocumentState>, ChainError> {
    let prefix = prefix.to_vec();
    let mut out = Vec::new();
    let tree = live_tree(live);
    for item in tree.scan_prefix(&prefix).keys().take(PAGE_SIZE_MAX) {
        let k = item?;
        let doc_key = keys::doc_from_suffix(&k[prefix.len()..]);
        let bytes = tree
            .get(&doc_key)?
            .ok_or_else(|| corrupt(String::from_utf8_lossy(&k), "indexed document missing"))?;
        out.push(stored_document(&tree, &doc_key, &bytes)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use doc_workflow::{BlockTime, DocumentId, DocumentKind, DocumentRef, Mode};

    use super::*;

    /// Pages read while the live tree keeps switching, at most.
    const PAGES_MAX: usize = 20_000;
    /// Pages of each tree a run must have seen: proof that the switch happened between pages,
    /// so that it also fell inside some.
    const PAGES_OF_EACH_MIN: usize = 200;
    const DOCS_PER_TREE: usize = 20;

    fn bill(reference: &str) -> DocumentState {
        let carrier = PartyCode::new("CARRIER").unwrap();
        DocumentState {
            kind: DocumentKind::BillOfLading,
            id: DocumentId::new(carrier.clone(), DocumentRef::new(reference).unwrap()),
            status: Status::Issued,
            mode: Some(Mode::Blank),
            carrier: carrier.clone(),
            shipper: None,
            consignee: None,
            possessor: Some(carrier),
            endorsee: None,
            endorsee_may_endorse: false,
            pending_transfer: None,
            surrender: None,
            content: None,
            amends: None,
            amended_by: None,
            release: None,
            signatures: Vec::new(),
            sequence: 1,
            created_at: BlockTime(1),
            updated_at: BlockTime(1),
        }
    }

    /// A state of `DOCS_PER_TREE` issued bills `<prefix>-NN`, each in the status index and
    /// under the content checksum `sum`.
    fn state_tree(db: &sled::Db, prefix: &str, sum: &str) -> sled::Tree {
        let tree = db.open_tree(prefix).unwrap();
        for n in 0..DOCS_PER_TREE {
            let state = bill(&format!("{prefix}-{n:02}"));
            let key = DocumentKey::transport_document(state.id.clone());
            tree.insert(keys::doc(&key), state.canonical_json().into_bytes())
                .unwrap();
            tree.insert(keys::by_status(Status::Issued, &key), b"")
                .unwrap();
            tree.insert(keys::by_checksum(sum, &key), b"").unwrap();
        }
        tree
    }

    /// Which tree a page came from; fails if it mixes both.
    fn origin(documents: &[DocumentState]) -> &'static str {
        let of = |d: &DocumentState| {
            if d.id.reference.as_str().starts_with("OLD-") {
                "OLD"
            } else {
                "NEW"
            }
        };
        let first = of(&documents[0]);
        assert!(
            documents.iter().all(|d| of(d) == first),
            "a page mixes two states: {:?}",
            documents
                .iter()
                .map(|d| d.id.reference.as_str())
                .collect::<Vec<_>>()
        );
        first
    }

    /// A restore from a streamed snapshot switches the live tree while readers page. Every page
    /// is read from one tree: it lists the documents of one state, never reports an indexed
    /// document missing because its index entry and its document were read from two states.
    #[test]
    fn a_page_reads_one_tree_while_a_restore_switches_it() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let sum = "ab".repeat(32);
        let old = state_tree(&db, "OLD", &sum);
        let new = state_tree(&db, "NEW", &sum);
        let live = Arc::new(RwLock::new(old.clone()));

        let stop = Arc::new(AtomicBool::new(false));
        let switches = Arc::new(AtomicU64::new(0));
        let switcher = {
            let (live, stop, switches) = (live.clone(), stop.clone(), switches.clone());
            std::thread::spawn(move || {
                // Bounded by the reader's pages: it stops this once it is done.
                while !stop.load(Ordering::Relaxed) {
                    let next = if switches.load(Ordering::Relaxed) % 2 == 0 {
                        new.clone()
                    } else {
                        old.clone()
                    };
                    *live.write().unwrap() = next;
                    switches.fetch_add(1, Ordering::Relaxed);
                    std::thread::yield_now();
                }
            })
        };

        let prefix = keys::status_prefix(Status::Issued);
        let (mut olds, mut news) = (0, 0);
        let mut result = Ok(());
        for _ in 0..PAGES_MAX {
            let page = index_page(&live, &prefix, None, DOCS_PER_TREE);
            let by_sum = checksum_documents(&live, &sum);
            let (page, by_sum) = match (page, by_sum) {
                (Ok(p), Ok(s)) => (p, s),
                (Err(e), _) | (_, Err(e)) => {
                    result = Err(e);
                    break;
                }
            };
            assert_eq!(page.documents.len(), DOCS_PER_TREE);
            assert_eq!(by_sum.len(), DOCS_PER_TREE);
            origin(&by_sum);
            match origin(&page.documents) {
                "OLD" => olds += 1,
                _ => news += 1,
            }
            if olds >= PAGES_OF_EACH_MIN && news >= PAGES_OF_EACH_MIN {
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        switcher.join().unwrap();
        if let Err(e) = result {
            panic!("a page read while the tree switched failed: {e}");
        }
        assert!(
            olds >= PAGES_OF_EACH_MIN && news >= PAGES_OF_EACH_MIN,
            "the tree did not switch between pages often enough: {olds} old and {news} new \
             pages in {} switches",
            switches.load(Ordering::Relaxed)
        );
    }
}
