//! The subscription root: committed changes to the documents the caller may see, as blocks are
//! applied on this node.

use std::sync::Arc;

use async_graphql::{Context, SimpleObject, Subscription};
use futures_util::Stream;
use ledger::{Block, Outcome};
use tokio::sync::broadcast;

use adapters::time::iso8601_utc;

use super::consortium::{ProposalEvent, proposal_events};
use super::document::visible_document;
use super::outcome::DocumentKeyOut;
use super::{Api, api, caller};
use crate::caller::{Caller, Session};

/// A committed change to a document the subscriber may see.
#[derive(SimpleObject, Clone)]
pub struct DocumentEvent {
    pub height: u64,
    pub position: u32,
    pub tx_hash: String,
    pub time: String,
    pub document: DocumentKeyOut,
    /// The document's status and possessor after the block.
    pub status: String,
    pub possessor: Option<String>,
}

/// Events.
pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// Every committed change to a document the caller may see, as blocks are applied on this
    /// node. A subscriber that falls more than 256 blocks behind misses the oldest (the stream
    /// goes on from the newest).
    async fn document_events(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<DocumentEvent>> + use<>>
    {
        let caller = caller(ctx)?.clone();
        // Over a connection, the stream ends with the refusal (`FORBIDDEN`, its `reason`) once
        // the certificate may no longer act: revoked, or its party no longer sponsored.
        let session = ctx.data_opt::<Arc<Session>>().cloned();
        let api = api(ctx).clone();
        let blocks = api.reader().subscribe_blocks();
        let stream = futures_util::stream::unfold(
            (blocks, std::collections::VecDeque::new()),
            move |(mut blocks, mut queue)| {
                let caller = caller.clone();
                let api = api.clone();
                async move {
                    loop {
                        if let Some(event) = queue.pop_front() {
                            return Some((event, (blocks, queue)));
                        }
                        let block = match blocks.recv().await {
                            Ok(block) => block,
                            Err(broadcast::error::RecvError::Lagged(n)) => {
                                tracing::warn!(missed = n, "a subscriber fell behind");
                                continue;
                            }
                            Err(broadcast::error::RecvError::Closed) => return None,
                        };
                        queue.extend(events_of(&api, &caller, &block));
                    }
                }
            },
        );
        use futures_util::StreamExt as _;
        Ok(match session {
            Some(session) => session.until_refused(stream).boxed(),
            None => stream.map(Ok).boxed(),
        })
    }

    /// Every proposal made, voted, withdrawn or closed, as blocks are applied on this node
    /// (every member's users may follow governance). Lagging works as for `documentEvents`.
    async fn proposal_events(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<ProposalEvent>> + use<>>
    {
        caller(ctx)?;
        let session = ctx.data_opt::<Arc<Session>>().cloned();
        let api = api(ctx).clone();
        let blocks = api.reader().subscribe_blocks();
        let stream = futures_util::stream::unfold(
            (blocks, std::collections::VecDeque::new()),
            move |(mut blocks, mut queue)| {
                let api = api.clone();
                async move {
                    loop {
                        if let Some(event) = queue.pop_front() {
                            return Some((event, (blocks, queue)));
                        }
                        let block = match blocks.recv().await {
                            Ok(block) => block,
                            Err(broadcast::error::RecvError::Lagged(n)) => {
                                tracing::warn!(missed = n, "a subscriber fell behind");
                                continue;
                            }
                            Err(broadcast::error::RecvError::Closed) => return None,
                        };
                        if !block.transactions.iter().any(|t| t.outcome.is_committed()) {
                            continue;
                        }
                        match proposal_events(api.reader(), block.header.height) {
                            Ok(events) => queue.extend(events),
                            Err(e) => tracing::warn!(error = %e, "proposal events unreadable"),
                        }
                    }
                }
            },
        );
        use futures_util::StreamExt as _;
        Ok(match session {
            Some(session) => session.until_refused(stream).boxed(),
            None => stream.map(Ok).boxed(),
        })
    }
}

fn events_of(api: &Api, caller: &Caller, block: &Block) -> Vec<DocumentEvent> {
    let reader = api.reader();
    let mut out = Vec::new();
    for (position, tx) in block.transactions.iter().enumerate() {
        let Outcome::Committed { documents } = &tx.outcome else {
            continue;
        };
        for key in documents {
            let Ok(Some(state)) = visible_document(reader, caller, key) else {
                continue;
            };
            out.push(DocumentEvent {
                height: block.header.height,
                position: u32::try_from(position).unwrap_or(u32::MAX),
                tx_hash: tx.tx_hash.to_string(),
                time: iso8601_utc(block.header.time_ms),
                document: DocumentKeyOut::from(key),
                status: state.status.code().to_owned(),
                possessor: state.possessor.as_ref().map(|p| p.as_str().to_owned()),
            });
        }
    }
    out
}
