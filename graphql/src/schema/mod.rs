//! The GraphQL schema: queries, the one mutation, the subscription, and their types.
//!
//! Every resolver that touches a document first asks [`Caller::may_read`]; a document the caller
//! may not read is answered exactly like one that does not exist ([`error::not_found`]).
//!
//! One module per root (`query`, `mutation`, `subscription`) and per group of types
//! (`document`, `block`, `network`, `consortium`, `outcome`, `release`); `input` parses and checks the arguments. This
//! module builds the schema and holds what every resolver shares: the limits, the [`Api`] data,
//! and the caller of the request.
//!
//! [`error::not_found`]: crate::error::not_found

mod block;
mod consortium;
mod document;
mod input;
mod mutation;
mod network;
mod outcome;
mod query;
mod release;
mod subscription;

use std::sync::Arc;

use async_graphql::{Context, Schema};
use ledger::LedgerReader;
use ledger::client::LedgerClient;
use ledger::state::PAGE_SIZE_MAX;
use serde::Serialize;

use crate::caller::{Caller, Session};
use crate::error::{FORBIDDEN, api_error};

pub use block::{BlockOut, BlockTx};
pub use consortium::{ConsortiumOut, ProposalEvent, ProposalOut};
pub use document::{Document, DocumentPage, HistoryItem, Verification};
pub use input::{Consistency, DocumentClassArg};
pub use mutation::Mutation;
pub use network::{HeightSource, Member, Network, NetworkNode, NodeInfo, Party};
pub use outcome::{DocumentKeyOut, SubmitResult, TxStatus};
pub use query::Query;
pub use release::{ContainerRelease, ReleaseConditionOut, ReleaseEvent, ReleasePage};
pub use subscription::{DocumentEvent, SubscriptionRoot};

/// The time a gate check is answered at: this node's clock, never before the last block's time
/// (the time the next block will carry at the earliest).
fn gate_time(reader: &LedgerReader) -> doc_workflow::BlockTime {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    doc_workflow::BlockTime(now_ms.max(reader.tip().time_ms))
}

/// Most envelopes one request submits: two full blocks. More belong in more requests, so that
/// one request cannot hold a node's proposal queue. The bound is the request's, not the
/// field's: `submitTransactions` under several aliases shares it
/// (`crate::cost::RequestBudget::take_envelopes`).
pub const SUBMIT_ENVELOPES_MAX: usize = 128;

/// Most nested selections a query may have. The deepest useful query (a document's history's
/// event) is 5 deep; 12 leaves room without allowing pathological nesting.
pub const QUERY_DEPTH_MAX: usize = 12;

/// Most a query may cost: a list counts its page size times the fields under it, a PDF or an
/// export what it costs (`crate::cost`). A query beyond it is refused before anything runs,
/// with `extensions.code` `QUERY_TOO_COMPLEX`.
pub use crate::cost::QUERY_COMPLEXITY_MAX;

/// Default page size of `documents`.
pub const PAGE_SIZE_DEFAULT: usize = 20;

/// Most recent blocks `blocks` returns.
pub const RECENT_BLOCKS_MAX: u64 = 100;

/// Most history entries one `history` field returns; more are paged with `afterSequence`.
pub const HISTORY_PAGE_MAX: usize = PAGE_SIZE_MAX;

/// What every resolver shares: this node's ledger client and its identity.
#[derive(Clone)]
pub struct Api {
    /// The write path, the reads, and the stream of applied blocks.
    pub client: LedgerClient,
    /// This node's id (`node1`, ...).
    pub node_id: String,
    /// The base URL of the verification page (the public listener's, `graphql::public`): the
    /// QR code of a PDF leads there. `None`: the QR code carries the reference and checksum.
    pub verify_base_url: Option<String>,
}

impl Api {
    fn reader(&self) -> &LedgerReader {
        self.client.reader()
    }
}

/// The schema type.
pub type ApiSchema = Schema<Query, Mutation, SubscriptionRoot>;

/// The schema, with `api` as its shared data and the limits applied.
pub fn build_schema(api: Api) -> ApiSchema {
    build_observed_schema(api, Arc::default())
}

/// [`build_schema`], counting its requests into `metrics` (the node's `/metrics` reads them).
pub fn build_observed_schema(api: Api, metrics: Arc<crate::metrics::ApiMetrics>) -> ApiSchema {
    Schema::build(Query, Mutation, SubscriptionRoot)
        .data(api)
        .extension(crate::metrics::CountRequests(metrics))
        .limit_depth(QUERY_DEPTH_MAX)
        // The price limit, the answer's size and the PDFs a request renders (not the schema's
        // own `limit_complexity`, whose refusal carries no code and no reason).
        .extension(crate::cost::CostLimits)
        .extension(crate::error::ErrorCodes)
        .finish()
}

/// The schema in GraphQL SDL, as `graphql/schema.graphql` holds it.
pub fn schema_sdl() -> String {
    Schema::build(Query, Mutation, SubscriptionRoot)
        .finish()
        .sdl()
}

fn api<'a>(ctx: &Context<'a>) -> &'a Api {
    ctx.data_unchecked::<Api>()
}

/// The caller of a request: its connection's [`Session`], checked again now (sponsorship, and
/// revocation once the ledger's revocation lists changed), so every query, mutation and
/// subscription of a WebSocket is held to the same rule as an HTTP request; or a [`Caller`]
/// put in the request by hand (tests of the schema without a server).
fn caller<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Caller> {
    if let Some(session) = ctx.data_opt::<Arc<Session>>() {
        return session.authorize().map_err(|refusal| refusal.to_error());
    }
    ctx.data::<Caller>()
        .map_err(|_| api_error(FORBIDDEN, "a client certificate is required"))
}

/// The SCREAMING_SNAKE code serde gives a unit enum variant.
fn code_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}
