//! The subscription root: committed changes to the documents and the container release rights
//! the caller may see, as blocks are applied on this node.

use std::sync::Arc;

use async_graphql::{Context, SimpleObject, Subscription};
use futures_util::Stream;
use ledger::{Block, Outcome};
use tokio::sync::broadcast;

use adapters::time::iso8601_utc;

use super::consortium::{ProposalEvent, proposal_events};
use doc_workflow::{BlockTime, DocumentClass};

use super::document::visible_document;
use super::outcome::DocumentKeyOut;
use super::release::{ReleaseEvent, describe, event_containers, may_see};
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
        block_stream(ctx, events_of)
    }

    /// Every proposal made, voted, withdrawn or closed, as blocks are applied on this node
    /// (every member's users may follow governance). Lagging works as for `documentEvents`.
    async fn proposal_events(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<ProposalEvent>> + use<>>
    {
        block_stream(ctx, proposal_events_of)
    }

    /// Every committed change to a container release right the caller may see (its terminal's,
    /// those it holds or is nominated for): one event per container, with the right as it is
    /// after the block. Same delivery rules as `documentEvents`.
    async fn release_events(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<ReleaseEvent>> + use<>>
    {
        block_stream(ctx, release_events_of)
    }
}

/// A stream of what `of` makes of each block applied from now on, for the caller of `ctx`.
fn block_stream<T: Send + 'static>(
    ctx: &Context<'_>,
    of: fn(&Api, &Caller, &Block) -> Vec<T>,
) -> async_graphql::Result<futures_util::stream::BoxStream<'static, async_graphql::Result<T>>> {
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
                    queue.extend(of(&api, &caller, &block));
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

/// The proposal events of `block` (every member's users see governance).
fn proposal_events_of(api: &Api, _caller: &Caller, block: &Block) -> Vec<ProposalEvent> {
    if !block.transactions.iter().any(|t| t.outcome.is_committed()) {
        return Vec::new();
    }
    proposal_events(api.reader(), block.header.height).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "proposal events unreadable");
        Vec::new()
    })
}

/// The release events of `block`, one per container a committed change named, for the rights
/// the caller may see (as they are after the block).
fn release_events_of(api: &Api, caller: &Caller, block: &Block) -> Vec<ReleaseEvent> {
    let reader = api.reader();
    let at = BlockTime(block.header.time_ms);
    let mut out = Vec::new();
    for (position, tx) in block.transactions.iter().enumerate() {
        let Outcome::Committed { documents } = &tx.outcome else {
            continue;
        };
        let position = u32::try_from(position).unwrap_or(u32::MAX);
        for key in documents {
            if key.class != DocumentClass::CargoRelease {
                continue;
            }
            let Ok(Some(state)) = visible_document(reader, caller, key) else {
                continue;
            };
            let Ok(history) = reader.history_through(key, state.sequence) else {
                continue;
            };
            let Some(entry) = history
                .iter()
                .find(|e| e.height == block.header.height && e.position == position)
            else {
                continue;
            };
            let Some(containers) = event_containers(&entry.event.kind) else {
                continue;
            };
            for container in containers {
                let Some(right) = state.release.as_ref().and_then(|r| r.rights.get(container))
                else {
                    continue;
                };
                if !may_see(caller, &state, right) {
                    continue;
                }
                out.push(ReleaseEvent {
                    height: block.header.height,
                    position,
                    tx_hash: tx.tx_hash.to_string(),
                    time: iso8601_utc(block.header.time_ms),
                    event: entry.event.kind.code().to_owned(),
                    actor: entry.actor.as_str().to_owned(),
                    release: describe(container, &state, right, None, None, at),
                });
            }
        }
    }
    out
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
