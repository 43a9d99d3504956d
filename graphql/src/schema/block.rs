//! Blocks of the chain and their transactions' outcomes, with the documents the caller may not
//! see left out.

use std::sync::Arc;

use async_graphql::{Context, Object, SimpleObject};
use ledger::state::BLOCK_TRANSACTIONS_MAX;
use ledger::{Block, Outcome};

use adapters::time::iso8601_utc;

use super::outcome::{DocumentKeyOut, TxStatus};
use super::{api, caller};
use crate::cost::list_cost;
use crate::error::internal;

/// A block of the chain.
pub struct BlockOut {
    pub(super) block: Arc<Block>,
}

#[Object(name = "Block")]
impl BlockOut {
    async fn height(&self) -> u64 {
        self.block.header.height
    }

    async fn hash(&self) -> String {
        self.block.hash.to_string()
    }

    async fn previous_hash(&self) -> String {
        self.block.header.previous_hash.to_string()
    }

    async fn time(&self) -> String {
        iso8601_utc(self.block.header.time_ms)
    }

    /// The Raft log index of the entry that became this block.
    async fn log_index(&self) -> u64 {
        self.block.header.log_index
    }

    /// RFC 6962 Merkle root of the transaction hashes.
    async fn tx_root(&self) -> String {
        self.block.header.tx_root.to_string()
    }

    async fn outcomes_hash(&self) -> String {
        self.block.header.outcomes_hash.to_string()
    }

    /// The state hash after this block: equal on every node.
    async fn state_hash(&self) -> String {
        self.block.header.state_hash.to_string()
    }

    async fn tx_count(&self) -> u32 {
        self.block.header.tx_count
    }

    /// The transactions and their outcomes. Documents the caller may not see are left out of
    /// `documents`.
    #[graphql(complexity = "list_cost(BLOCK_TRANSACTIONS_MAX, child_complexity)")]
    async fn transactions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<BlockTx>> {
        let caller = caller(ctx)?;
        let reader = api(ctx).reader();
        let mut out = Vec::with_capacity(self.block.transactions.len());
        for (position, tx) in self.block.transactions.iter().enumerate() {
            let (status, code, documents) = match &tx.outcome {
                Outcome::Committed { documents } => {
                    let mut visible = Vec::new();
                    for key in documents {
                        let parties = reader.parties_ever(key).map_err(internal)?;
                        if caller.may_read(&parties) {
                            visible.push(DocumentKeyOut::from(key));
                        }
                    }
                    (TxStatus::Committed, "COMMITTED".to_owned(), visible)
                }
                Outcome::Refused { code, .. } => (TxStatus::Refused, code.clone(), Vec::new()),
            };
            out.push(BlockTx {
                position: u32::try_from(position).unwrap_or(u32::MAX),
                tx_hash: tx.tx_hash.to_string(),
                status,
                code,
                documents,
            });
        }
        Ok(out)
    }
}

/// One transaction of a block.
#[derive(SimpleObject)]
pub struct BlockTx {
    pub position: u32,
    pub tx_hash: String,
    pub status: TxStatus,
    pub code: String,
    pub documents: Vec<DocumentKeyOut>,
}
