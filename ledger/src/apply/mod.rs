//! Applying a block: [`LedgerState::apply_block`] checks the proposer's attestation, prunes
//! expired nonces, checks and applies each transaction in order (a document command in
//! [`document`], a governance command in [`governance`]), and commits everything the block
//! wrote -- documents, histories, indexes, nonces, transaction records, parties, CRLs, nodes,
//! the block itself, the tip and the applied index -- to sled in ONE `apply_batch`, which sled
//! applies atomically: after a crash the store is exactly at a block boundary. sled's
//! durability is not an fsync per batch (STACK.md): a crash may lose the last blocks, which is
//! safe because the Raft log (redb, fsynced) replays them.
//!
//! Until that batch, a block's writes live in a [`Work`], which reads see first; a reader's
//! precheck runs the same [`Rules::apply_tx`] on a `Work` it then drops.
//!
//! What this module is not: it never reads the clock (time is the block's), never reads
//! another replica's state, and performs no side effect beyond the one batch.

mod document;
mod governance;
pub(crate) mod pint;
mod proposals;

use std::collections::BTreeMap;
use std::sync::Arc;

use doc_workflow::{DocumentKey, DocumentState};

use crate::block::{self, BLOCK_FORMAT_VERSION, Block, BlockHeader, Outcome, TxLocation, TxResult};
use crate::records::{NonceRecord, StoredDocument, Tip, TxRecord, corrupt, decode, encode};
use crate::signatures::{self, SignatureCheck, SignatureMemory};
use crate::state::{Gov, LedgerState, Rules};
use crate::tx::TxBody;
use crate::validate::{self, Envelope, TxRefusal};
use crate::{ChainError, Hash32, codec, keys, merkle, state_hash};
use replication::batch::Attestation;

pub use governance::VOTERS_MIN;
pub use proposals::WORKFLOW_VERSIONS_MAX;

/// Most transactions one block may carry: a block is one Raft entry, which the batcher closes
/// at this many payloads.
pub const BLOCK_TRANSACTIONS_MAX: usize = replication::batch::BATCH_PAYLOADS_MAX;

/// Most expired nonces one block deletes. Pruning is work the block pays for; bounding it keeps
/// block latency flat after a burst. Expired nonces left behind are ignored by the replay check
/// (it compares `notAfter` with the block time) and pruned by later blocks.
pub const NONCE_PRUNE_PER_BLOCK_MAX: usize = 4096;

/// The writes of the block being applied, over the committed store: reads see the block's own
/// earlier writes first. Nothing reaches sled until the block commits as one batch.
pub(crate) struct Work<'s> {
    tree: &'s sled::Tree,
    base: &'s Gov,
    /// A modified copy of the configuration, made by the first governance change.
    gov: Option<Gov>,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Documents read or written by the block: `None` = known absent.
    pub(crate) docs: BTreeMap<DocumentKey, Option<DocumentState>>,
    /// How the transactions' signatures are decided (the `signatures` module).
    pub(crate) signatures: Signatures<'s>,
}

/// The signature rule of a [`Work`]: a receiving node's door, or a replica's apply with what the
/// block's batch (and this node's door) already verified, by position in the block.
#[derive(Clone, Copy)]
pub(crate) enum Signatures<'s> {
    Door(&'s SignatureMemory),
    Apply(&'s [bool]),
}

impl<'s> Work<'s> {
    pub(crate) fn new(tree: &'s sled::Tree, base: &'s Gov) -> Self {
        Work {
            tree,
            base,
            gov: None,
            writes: BTreeMap::new(),
            docs: BTreeMap::new(),
            signatures: Signatures::Apply(&[]),
        }
    }

    /// What the checks of the transaction `ctx` names know of its signature.
    pub(crate) fn signature_check(&self, ctx: &TxContext) -> SignatureCheck<'s> {
        match self.signatures {
            Signatures::Door(memory) => SignatureCheck::Door {
                memory,
                tx_hash: ctx.tx_hash,
            },
            Signatures::Apply(known)
                if known.get(ctx.location.position as usize) == Some(&true) =>
            {
                SignatureCheck::Verified
            }
            Signatures::Apply(_) => SignatureCheck::Apply,
        }
    }

    pub(crate) fn gov(&self) -> &Gov {
        self.gov.as_ref().unwrap_or(self.base)
    }

    pub(crate) fn gov_mut(&mut self) -> &mut Gov {
        let base = self.base;
        self.gov.get_or_insert_with(|| base.clone())
    }

    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ChainError> {
        match self.writes.get(key) {
            Some(v) => Ok(v.clone()),
            None => Ok(self.tree.get(key)?.map(|v| v.to_vec())),
        }
    }

    /// Whether `key` holds a value, as of this block's writes so far.
    pub(crate) fn contains(&self, key: &[u8]) -> Result<bool, ChainError> {
        match self.writes.get(key) {
            Some(v) => Ok(v.is_some()),
            None => Ok(self.tree.contains_key(key)?),
        }
    }

    pub(crate) fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    pub(crate) fn remove(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    /// Makes sure `key` is in `docs` (loaded from sled if needed).
    pub(crate) fn load_doc(&mut self, key: &DocumentKey) -> Result<(), ChainError> {
        if self.docs.contains_key(key) {
            return Ok(());
        }
        let k = keys::doc(key);
        let state = match self.get(&k)? {
            Some(bytes) => Some(StoredDocument::join(&k, &bytes, |ck| {
                self.get(ck)?
                    .map(|v| codec::decode(ck, &v).map(|c| c.into_owned()))
                    .transpose()
            })?),
            None => None,
        };
        self.docs.insert(key.clone(), state);
        Ok(())
    }
}

/// The context of one transaction within its block.
#[derive(Clone, Copy)]
pub(crate) struct TxContext {
    pub(crate) tx_hash: Hash32,
    pub(crate) time_ms: u64,
    pub(crate) location: TxLocation,
}

impl LedgerState {
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

        let rules = &self.rules;
        let envelopes: Vec<Envelope<'_>> = envelopes.iter().map(|e| Envelope::parse(e)).collect();
        let known = signatures::verify_ahead(&envelopes, &rules.signatures);
        let mut work = Work::new(&self.tree, &self.gov);
        work.signatures = Signatures::Apply(&known);
        self.prune_nonces(&mut work, time_ms)?;
        let mut results = Vec::with_capacity(envelopes.len());
        for (position, envelope) in envelopes.into_iter().enumerate() {
            let position = u32::try_from(position).expect("bounded by BLOCK_TRANSACTIONS_MAX");
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

        // Documents go to the store as canonical JSON (their content's text apart, named by its
        // hash): the state hash covers both.
        let Work {
            gov, mut writes, ..
        } = work;
        let state_hash = state_hash::chain_state_hash(&self.tip.state_hash, height, &writes);
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

impl Rules {
    /// One transaction: a refusal is an `Ok(Outcome::Refused)`, only store failures are `Err`.
    pub(crate) fn apply_tx(
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
            work.signature_check(&ctx),
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
            TxBody::Pint(p) => self.apply_pint(work, ctx, &checked, p)?,
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
}
