//! [`LedgerState`]: the replicated document state of one node -- its sled store, opened and
//! loaded, and the in-memory view (configuration, tip, applied index) it publishes to its
//! readers after every commit. `impl StateMachine for LedgerState` is in [`crate::machine`].
//!
//! The rest of the state is in modules of its own:
//!
//! - `keys`: the store layout (every key, and which the state hash covers);
//! - [`records`](crate::records): the stored records and their encoding;
//! - `state_hash`: the chained hash of every block's writes;
//! - `apply`: a block ([`LedgerState::apply_block`]), a document transaction, a governance
//!   transaction;
//! - [`reader`](crate::reader): [`LedgerReader`], the reads other tasks make while the replica
//!   applies, and the precheck;
//! - `snapshot`: Raft snapshots of the state and their restore ([`crate::stream`] streams them).
//!
//! The names other crates used from this module are re-exported here.
//!
//! What this module is not: it applies no transaction and serves no read; it owns the store and
//! the view that `apply` moves and `reader` reads.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;

use doc_workflow::{Engine, PartyCode, Role};

use crate::block::Block;
use crate::consortium::{ConsortiumRecord, MemberRecord, ProposalRecord, ProposalState};
use crate::genesis::Genesis;
use crate::records::{corrupt, decode, encode, u64_value};
use crate::signatures::SignatureMemory;
use crate::stream::{self as streamed, Streams};
use crate::validate::Trust;
use crate::{ChainError, Hash32, keys, state_hash};

pub use crate::apply::{
    BLOCK_TRANSACTIONS_MAX, NONCE_PRUNE_PER_BLOCK_MAX, VOTERS_MIN, WORKFLOW_VERSIONS_MAX,
};
pub use crate::reader::{LedgerReader, PAGE_SIZE_MAX};
pub use crate::records::{
    CrlRecord, DocumentPage, HistoryEntry, NodeRecord, NodeRole, PartyRecord, Tip, TxRecord,
};

/// Blocks buffered for each subscriber of [`LedgerReader::subscribe_blocks`] before it is told
/// it missed some: a few seconds of full-speed blocks.
pub const BLOCK_SUBSCRIBERS_BUFFER: usize = 256;

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

/// The configuration that governance changes: members, parties, CRLs and the trust store built
/// from them, nodes, the consortium record and its open proposals. Small (tens of members,
/// their parties, a bounded number of open proposals), kept in memory and copied only by a
/// block that changes it.
#[derive(Clone)]
pub(crate) struct Gov {
    /// Every member ever: genesis members overlaid with the governance changes.
    pub(crate) members: BTreeMap<PartyCode, MemberRecord>,
    pub(crate) parties: BTreeMap<PartyCode, PartyRecord>,
    pub(crate) crls: BTreeMap<PartyCode, CrlRecord>,
    /// Every node ever: genesis nodes overlaid with the governance changes.
    pub(crate) nodes: BTreeMap<u64, NodeRecord>,
    pub(crate) trust: Arc<Trust>,
    pub(crate) consortium: Arc<ConsortiumRecord>,
    /// The engine of each workflow version after genesis's (version 1 is [`Rules::engine`]).
    pub(crate) engines: BTreeMap<u32, Arc<Engine>>,
    /// The proposals whose stored state is `OPEN` (some may be expired or superseded by now).
    pub(crate) open_proposals: BTreeMap<Hash32, ProposalRecord>,
    /// This network's own PINT platform code (genesis's; never changes).
    pub(crate) platform: Option<String>,
}

/// The replicated document ledger of one node: the only writer of its store.
pub struct LedgerState {
    pub(crate) db: sled::Db,
    /// The tree that holds the state; `live` is the same tree, as readers see it.
    pub(crate) tree: sled::Tree,
    pub(crate) live: Arc<RwLock<sled::Tree>>,
    /// Streamed snapshots: the views this state offers and the imports it takes.
    pub(crate) streams: Arc<Streams>,
    pub(crate) genesis_hash: Hash32,
    pub(crate) rules: Arc<Rules>,
    pub(crate) gov: Arc<Gov>,
    pub(crate) applied_index: u64,
    pub(crate) tip: Tip,
    /// What this state last published to its readers.
    pub(crate) published: Arc<RwLock<Arc<Published>>>,
    /// Every block after its commit, for readers that follow the chain (API subscriptions).
    pub(crate) blocks: broadcast::Sender<Arc<Block>>,
}

/// What readers need besides the store, swapped as one value after every commit: the
/// configuration, the tip and the applied index of the same block.
pub(crate) struct Published {
    pub(crate) gov: Arc<Gov>,
    pub(crate) tip: Tip,
    pub(crate) applied_index: u64,
}

/// The rules a transaction is checked and applied by: the network configuration and the workflow
/// engine it names. Shared by the replica's apply and every reader's precheck.
pub(crate) struct Rules {
    pub(crate) genesis: Genesis,
    pub(crate) engine: Arc<Engine>,
    /// The good signatures this node's door (precheck) verified, which its apply need not
    /// verify again.
    pub(crate) signatures: SignatureMemory,
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
            state_hash: state_hash::genesis_state_hash(&genesis_hash),
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
            rules: Arc::new(Rules {
                genesis,
                engine: Arc::new(engine),
                signatures: SignatureMemory::default(),
            }),
            gov,
            applied_index,
            tip,
            published,
            blocks: broadcast::channel(BLOCK_SUBSCRIBERS_BUFFER).0,
        })
    }

    /// The configuration, tip and applied index the store holds.
    pub(crate) fn load_view(
        tree: &sled::Tree,
        genesis: &Genesis,
    ) -> Result<(Gov, Tip, u64), ChainError> {
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
        let mut members = MemberRecord::of_genesis(genesis);
        for item in tree.scan_prefix(keys::MEMBER) {
            let (k, v) = item?;
            let record: MemberRecord = decode(&k, &v)?;
            members.insert(record.code.clone(), record);
        }
        let consortium = match tree.get(keys::CONSORTIUM)? {
            Some(v) => decode(keys::CONSORTIUM, &v)?,
            None => {
                ConsortiumRecord::of_genesis(String::from(genesis.engine()?.definitions_hash()))
            }
        };
        let mut engines = BTreeMap::new();
        for workflow in consortium.workflows.iter().filter(|w| w.version > 1) {
            let engine = crate::genesis::engine_of(&workflow.definitions)?;
            engines.insert(workflow.version, Arc::new(engine));
        }
        let mut open_proposals = BTreeMap::new();
        for item in tree.scan_prefix(keys::PROPOSAL) {
            let (k, v) = item?;
            let record: ProposalRecord = decode(&k, &v)?;
            if record.state == ProposalState::Open {
                open_proposals.insert(record.id, record);
            }
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
        let trust = Trust::new(&members, &crls).map_err(ChainError::Trust)?;
        let gov = Gov {
            members,
            parties,
            crls,
            nodes,
            trust: Arc::new(trust),
            consortium: Arc::new(consortium),
            engines,
            open_proposals,
            platform: genesis.platform.clone(),
        };
        Ok((gov, tip, applied_index))
    }

    /// Shows readers the state as of now (after a commit, or a snapshot's restore).
    pub(crate) fn publish(&self) {
        let view = Arc::new(Published {
            gov: self.gov.clone(),
            tip: self.tip,
            applied_index: self.applied_index,
        });
        *self.published.write().unwrap_or_else(|p| p.into_inner()) = view;
    }

    /// Makes everything applied so far durable (sled's flush, not an fsync: see `apply`'s docs).
    pub fn flush(&self) -> Result<(), ChainError> {
        self.db.flush()?;
        Ok(())
    }
}

impl Gov {
    /// The Raft membership the nodes prescribe.
    pub(crate) fn membership(&self) -> replication::state_machine::Membership {
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

    /// The state hash after the last block (`state_hash`'s docs).
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
