//! The GraphQL schema: queries, the one mutation, the subscription, and their types.
//!
//! Every resolver that touches a document first asks [`Caller::may_read`]; a document the caller
//! may not read is answered exactly like one that does not exist ([`error::not_found`]).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_graphql::{Context, Enum, Json, Object, Schema, SimpleObject, Subscription};
use doc_workflow::{
    DocumentClass, DocumentId, DocumentKey, DocumentKind, DocumentRef, DocumentState, PartyCode,
    Status,
};
use futures_util::Stream;
use ledger::client::{LedgerClient, SubmitError, Submitted};
use ledger::state::{BLOCK_TRANSACTIONS_MAX, PAGE_SIZE_MAX};
use ledger::{Block, HistoryEntry, LedgerReader, NodeRecord, Outcome};
use replication::StateRole;
use replication::runtime::ReplicaStatus;
use serde::Serialize;
use tokio::sync::broadcast;

use adapters::time::iso8601_utc;

use crate::caller::{Caller, Session};
use crate::cost::{DCSA_COMPLEXITY, LARGE_VALUE_COMPLEXITY, PDF_COMPLEXITY, budget, list_cost};
use crate::error::{BAD_REQUEST, FORBIDDEN, UNAVAILABLE, api_error, internal, not_found};

/// Most envelopes one `submitTransactions` takes: two full blocks. More belong in more
/// requests, so that one request cannot hold a node's proposal queue.
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
    Schema::build(Query, Mutation, SubscriptionRoot)
        .data(api)
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

fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// The SCREAMING_SNAKE code serde gives a unit enum variant.
fn code_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

fn parse_party(field: &str, code: &str) -> async_graphql::Result<PartyCode> {
    PartyCode::new(code).map_err(|e| api_error(BAD_REQUEST, format!("{field}: {e}")))
}

fn parse_key(
    class: DocumentClassArg,
    carrier: &str,
    reference: &str,
) -> async_graphql::Result<DocumentKey> {
    let carrier = parse_party("carrierCode", carrier)?;
    let reference = DocumentRef::new(reference)
        .map_err(|e| api_error(BAD_REQUEST, format!("reference: {e}")))?;
    Ok(DocumentKey {
        class: class.into(),
        id: DocumentId::new(carrier, reference),
    })
}

/// A page cursor as `documents` issues it (`nextCursor`: the last key of the page, as
/// `CLASS/carrier/reference`). Anything else is refused rather than read as a position in the
/// index, which would answer a wrong or empty page as if it were the real one.
fn parse_cursor(cursor: &str) -> async_graphql::Result<&str> {
    let refused = || {
        api_error(
            BAD_REQUEST,
            "after: not a cursor this API issued; pass the `nextCursor` of the previous page",
        )
    };
    let mut parts = cursor.splitn(3, '/');
    let (Some(class), Some(carrier), Some(reference)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(refused());
    };
    let class = match class {
        "TRANSPORT_DOCUMENT" => DocumentClass::TransportDocument,
        "CARGO_RELEASE" => DocumentClass::CargoRelease,
        _ => return Err(refused()),
    };
    let (Ok(carrier), Ok(reference)) = (PartyCode::new(carrier), DocumentRef::new(reference))
    else {
        return Err(refused());
    };
    let key = DocumentKey {
        class,
        id: DocumentId::new(carrier, reference),
    };
    // Only the one spelling the ledger writes.
    if key.to_string() != cursor {
        return Err(refused());
    }
    Ok(cursor)
}

/// The key a document state is stored under.
fn key_of(state: &DocumentState) -> DocumentKey {
    let class = match state.kind {
        DocumentKind::CargoRelease => DocumentClass::CargoRelease,
        _ => DocumentClass::TransportDocument,
    };
    DocumentKey {
        class,
        id: state.id.clone(),
    }
}

/// Every history entry of `state`, up to its sequence.
fn full_history(
    reader: &LedgerReader,
    state: &DocumentState,
) -> async_graphql::Result<Vec<HistoryEntry>> {
    reader
        .history_through(&key_of(state), state.sequence)
        .map_err(internal)
}

/// The ledger's names for its parties, for renderings.
fn party_names(reader: &LedgerReader) -> adapters::dcsa::PartyNames {
    let mut names = adapters::dcsa::PartyNames::default();
    for p in reader.parties() {
        names.insert(p.code, p.name);
    }
    names
}

/// Reads a document if it exists and the caller may read it; `None` for both "no" answers.
fn visible_document(
    reader: &LedgerReader,
    caller: &Caller,
    key: &DocumentKey,
) -> async_graphql::Result<Option<DocumentState>> {
    let parties = reader.parties_ever(key).map_err(internal)?;
    if !caller.may_read(&parties) {
        return Ok(None);
    }
    reader.document(key).map_err(internal)
}

// ----- enums and small types ---------------------------------------------------------------

/// Which kind of document a key names.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum DocumentClassArg {
    /// Bills of lading and sea waybills.
    TransportDocument,
    /// Cargo releases (delivery orders), keyed by the bill they release.
    CargoRelease,
}

impl From<DocumentClassArg> for DocumentClass {
    fn from(c: DocumentClassArg) -> DocumentClass {
        match c {
            DocumentClassArg::TransportDocument => DocumentClass::TransportDocument,
            DocumentClassArg::CargoRelease => DocumentClass::CargoRelease,
        }
    }
}

/// How fresh a read must be.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum Consistency {
    /// Reflects every transaction acknowledged anywhere before the query (Raft ReadIndex: one
    /// round trip to the leader's quorum).
    #[default]
    Linearizable,
    /// This node's applied state as it is, without asking the leader: may lag by a block.
    Local,
}

/// What became of a submitted transaction.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum TxStatus {
    /// In a block, applied.
    Committed,
    /// Refused, with the rule; nothing changed.
    Refused,
}

/// A document's identity.
#[derive(SimpleObject, Clone, Debug)]
pub struct DocumentKeyOut {
    /// `TRANSPORT_DOCUMENT` or `CARGO_RELEASE`.
    pub class: String,
    pub carrier_code: String,
    pub reference: String,
}

impl From<&DocumentKey> for DocumentKeyOut {
    fn from(k: &DocumentKey) -> Self {
        DocumentKeyOut {
            class: k.class.code().to_owned(),
            carrier_code: k.id.carrier.as_str().to_owned(),
            reference: k.id.reference.as_str().to_owned(),
        }
    }
}

/// The answer to one submitted transaction.
#[derive(SimpleObject, Clone, Debug)]
pub struct SubmitResult {
    /// SHA-256 of the JWS signing input, lowercase hex: the transaction's id.
    pub tx_hash: String,
    pub status: TxStatus,
    /// `COMMITTED`, or the refusal's stable code (`NOT_POSSESSOR`, `CERTIFICATE_REVOKED`, ...).
    pub code: String,
    /// A sentence naming the rule (for a refusal) or what was done.
    pub message: String,
    /// The block that recorded it; absent for a refusal found before proposing.
    pub height: Option<u64>,
    /// Its position within the block.
    pub position: Option<u32>,
    /// The block's time, RFC 3339.
    pub time: Option<String>,
    /// The documents it changed.
    pub documents: Vec<DocumentKeyOut>,
}

impl From<Submitted> for SubmitResult {
    fn from(s: Submitted) -> Self {
        let (status, code, message, documents) = match &s.outcome {
            Outcome::Committed { documents } => (
                TxStatus::Committed,
                "COMMITTED".to_owned(),
                match s.location {
                    Some(l) => {
                        format!("committed in block {} at position {}", l.height, l.position)
                    }
                    None => "committed".to_owned(),
                },
                documents.iter().map(DocumentKeyOut::from).collect(),
            ),
            Outcome::Refused { code, message, .. } => {
                (TxStatus::Refused, code.clone(), message.clone(), Vec::new())
            }
        };
        SubmitResult {
            tx_hash: s.tx_hash.to_string(),
            status,
            code,
            message,
            height: s.location.map(|l| l.height),
            position: s.location.map(|l| l.position),
            time: s.time_ms.map(iso8601_utc),
            documents,
        }
    }
}

// ----- documents ---------------------------------------------------------------------------

/// A document as the ledger holds it now.
pub struct Document {
    state: DocumentState,
}

#[Object]
impl Document {
    async fn key(&self) -> DocumentKeyOut {
        DocumentKeyOut::from(&key_of(&self.state))
    }

    async fn carrier_code(&self) -> &str {
        self.state.id.carrier.as_str()
    }

    async fn reference(&self) -> &str {
        self.state.id.reference.as_str()
    }

    /// `BILL_OF_LADING`, `SEA_WAYBILL` or `CARGO_RELEASE`.
    async fn kind(&self) -> String {
        self.state.kind.code().to_owned()
    }

    /// `DRAFT`, `ISSUED`, `SURRENDERED_FOR_DELIVERY`, ...
    async fn status(&self) -> String {
        self.state.status.code().to_owned()
    }

    /// `STRAIGHT`, `TO_ORDER` or `BLANK`; absent for a cargo release.
    async fn mode(&self) -> Option<String> {
        self.state.mode.as_ref().map(code_of)
    }

    /// The one party in control of the document (MLETR exclusive control).
    async fn possessor(&self) -> Option<&str> {
        self.state.possessor.as_ref().map(PartyCode::as_str)
    }

    /// The title holder of a to-order bill.
    async fn endorsee(&self) -> Option<&str> {
        self.state.endorsee.as_ref().map(PartyCode::as_str)
    }

    async fn shipper(&self) -> Option<&str> {
        self.state.shipper.as_ref().map(PartyCode::as_str)
    }

    async fn consignee(&self) -> Option<&str> {
        self.state.consignee.as_ref().map(PartyCode::as_str)
    }

    /// How many committed actions the document has seen.
    async fn sequence(&self) -> u64 {
        self.state.sequence
    }

    async fn created_at(&self) -> String {
        iso8601_utc(self.state.created_at.0)
    }

    async fn updated_at(&self) -> String {
        iso8601_utc(self.state.updated_at.0)
    }

    /// SHA-256 over the content's RFC 8785 canonical JSON, lowercase hex (DCSA's checksum).
    async fn checksum(&self) -> Option<&str> {
        self.state.content.as_ref().map(|c| c.sha256.as_str())
    }

    /// The DCSA eBL 3.0 transport document, as issued.
    #[graphql(complexity = "LARGE_VALUE_COMPLEXITY")]
    async fn content(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Json<serde_json::Value>>> {
        let Some(content) = &self.state.content else {
            return Ok(None);
        };
        budget(ctx)?.charge(content.canonical_json.len())?;
        Ok(Some(Json(content.json())))
    }

    /// The whole state, as the ledger stores and hashes it.
    #[graphql(complexity = "LARGE_VALUE_COMPLEXITY")]
    async fn state(&self, ctx: &Context<'_>) -> async_graphql::Result<Json<serde_json::Value>> {
        budget(ctx)?.charge(crate::cost::json_len(&self.state, usize::MAX))?;
        Ok(Json(serde_json::to_value(&self.state).unwrap_or_default()))
    }

    /// The document and its endorsement chain as DCSA eBL 3.0 JSON (content, checksum, and the
    /// chain in the shape of DCSA's endorsement-chain API).
    #[graphql(complexity = "DCSA_COMPLEXITY")]
    async fn dcsa(&self, ctx: &Context<'_>) -> async_graphql::Result<Json<serde_json::Value>> {
        let budget = budget(ctx)?;
        budget.check()?;
        let reader = api(ctx).reader();
        let history = full_history(reader, &self.state)?;
        let export = adapters::dcsa::export(&self.state, &history, &party_names(reader))
            .map_err(|e| api_error(BAD_REQUEST, e.to_string()))?;
        budget.charge(crate::cost::json_len(&export, usize::MAX))?;
        Ok(Json(export))
    }

    /// A PDF rendering, base64. An ordinary rendering is marked as a copy (the ledger record is
    /// the original); `switchToPaper` renders the paper original that replaces the record, only
    /// after an accepted surrender for amendment with reason `SWITCH_TO_PAPER`. One request
    /// renders at most 8 (`QUERY_TOO_COMPLEX` beyond).
    #[graphql(complexity = "PDF_COMPLEXITY")]
    async fn pdf(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] switch_to_paper: bool,
    ) -> async_graphql::Result<String> {
        use base64::Engine as _;
        let budget = budget(ctx)?;
        budget.start_pdf()?;
        let reader = api(ctx).reader();
        let history = full_history(reader, &self.state)?;
        let options = adapters::pdf::RenderOptions {
            switch_to_paper,
            names: party_names(reader),
            verify_base_url: api(ctx).verify_base_url.clone(),
        };
        let state = self.state.clone();
        let encoded = crate::cost::render_pdf(move || {
            adapters::pdf::render(&state, &history, &options)
                .map(|bytes| base64::engine::general_purpose::STANDARD.encode(bytes))
        })
        .await?
        .map_err(|e| api_error(BAD_REQUEST, e.to_string()))?;
        budget.charge(encoded.len())?;
        Ok(encoded)
    }

    /// The document's history, oldest first: every committed transaction with its signer,
    /// action, recipient, block and signed JWS. At most 100 per page.
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        after_sequence: Option<u64>,
        #[graphql(default = 100)] first: usize,
    ) -> async_graphql::Result<Vec<HistoryItem>> {
        if first == 0 || first > HISTORY_PAGE_MAX {
            return Err(api_error(
                BAD_REQUEST,
                format!("first must be between 1 and {HISTORY_PAGE_MAX}"),
            ));
        }
        let key = key_of(&self.state);
        let entries = api(ctx)
            .reader()
            .history(&key, after_sequence, first)
            .map_err(internal)?;
        // Only what the state we read had: a block applied since is not half-shown.
        Ok(entries
            .into_iter()
            .filter(|e| e.sequence <= self.state.sequence)
            .map(|entry| HistoryItem { entry })
            .collect())
    }
}

/// One committed transaction in a document's history.
pub struct HistoryItem {
    entry: HistoryEntry,
}

#[Object]
impl HistoryItem {
    async fn sequence(&self) -> u64 {
        self.entry.sequence
    }

    async fn tx_hash(&self) -> String {
        self.entry.tx_hash.to_string()
    }

    async fn height(&self) -> u64 {
        self.entry.height
    }

    async fn position(&self) -> u32 {
        self.entry.position
    }

    async fn time(&self) -> String {
        iso8601_utc(self.entry.time_ms)
    }

    /// The acting party.
    async fn actor(&self) -> &str {
        self.entry.actor.as_str()
    }

    /// The member whose CA certified the signer.
    async fn member(&self) -> &str {
        self.entry.member.as_str()
    }

    /// SHA-256 of the signer's certificate.
    async fn signer_fingerprint(&self) -> &str {
        &self.entry.signer_fingerprint
    }

    /// `ISSUE`, `TRANSFER`, `ENDORSE`, ...
    async fn action(&self) -> String {
        self.entry.action.code().to_owned()
    }

    /// The party the action handed the document to, if any.
    async fn recipient(&self) -> Option<&str> {
        self.entry.recipient.as_ref().map(PartyCode::as_str)
    }

    /// What happened (`ISSUED`, `TRANSFERRED`, ...).
    async fn event(&self) -> String {
        self.entry.event.kind.code().to_owned()
    }

    /// The event with its details.
    async fn event_detail(&self) -> Json<serde_json::Value> {
        Json(serde_json::to_value(&self.entry.event).unwrap_or_default())
    }

    /// The signed transaction (JWS compact, with the signer's chain in `x5c`): anyone can
    /// verify it again.
    #[graphql(complexity = "LARGE_VALUE_COMPLEXITY")]
    async fn signature(&self, ctx: &Context<'_>) -> async_graphql::Result<&str> {
        budget(ctx)?.charge(self.entry.jws.len())?;
        Ok(&self.entry.jws)
    }
}

/// A page of documents.
#[derive(SimpleObject)]
pub struct DocumentPage {
    pub documents: Vec<Document>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// What `verifyDocument` found.
#[derive(SimpleObject)]
pub struct Verification {
    /// Whether the ledger holds a document with exactly this content (and the caller may see
    /// it).
    pub matches: bool,
    /// The checksum looked up: SHA-256 over RFC 8785 canonical JSON, lowercase hex.
    pub checksum: String,
    /// The documents holding that content, with their status, possessor and history.
    pub documents: Vec<Document>,
}

// ----- blocks ------------------------------------------------------------------------------

/// A block of the chain.
pub struct BlockOut {
    block: Arc<Block>,
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

// ----- network and node --------------------------------------------------------------------

/// A member of the consortium.
#[derive(SimpleObject)]
pub struct Member {
    pub code: String,
    pub name: String,
    /// `CARRIER`, `PORT`, `BANK` or `OBSERVER`.
    pub role: String,
}

/// A party that may act on documents.
#[derive(SimpleObject)]
pub struct Party {
    pub code: String,
    pub name: String,
    /// The member whose CA certifies its users.
    pub sponsor: String,
    /// The workflow role it acts with.
    pub role: String,
}

impl Party {
    /// About what it weighs in an answer with every field selected: its strings and the JSON
    /// around them.
    fn json_bytes(&self) -> usize {
        const FIELD_NAMES_AND_PUNCTUATION: usize = 48;
        FIELD_NAMES_AND_PUNCTUATION
            + self.code.len()
            + self.name.len()
            + self.sponsor.len()
            + self.role.len()
    }
}

/// Where a node's height in `network` comes from: never a guess.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum HeightSource {
    /// The node answering: its own applied chain tip.
    ThisNode,
    /// The node answering leads, and its Raft progress says how far the node's log matches its
    /// own (`matchIndex`): `height` is the last block of the answering node's chain within it.
    /// Those blocks are durably in the node's log; it applies them once committed, so its own
    /// applied height may be lower.
    LeaderReplication,
    /// The node answering does not lead, so it does not track the others; or, just after an
    /// election, the leader has not heard from the node yet. Ask the node itself.
    Unknown,
}

/// A node of the network (a genesis node or one added by governance, removed ones included),
/// with what the answering node knows of its progress.
#[derive(SimpleObject)]
pub struct NetworkNode {
    pub raft_id: u64,
    /// The node id its certificate names; none for a genesis node (the genesis pins it by
    /// its certificate's hash).
    pub node_id: Option<String>,
    pub address: String,
    pub member: String,
    /// `VOTER`, `LEARNER` or `REMOVED`: what the ledger's node set makes it (genesis nodes,
    /// then `ADD_NODE`, `PROMOTE_NODE`, `REMOVE_NODE`).
    pub membership: String,
    /// Whether the answering node believes this node is the leader.
    pub is_leader: bool,
    /// Whether this is the node answering.
    pub is_this_node: bool,
    /// The node's block height as far as the answering node knows it (see `heightSource`);
    /// absent when unknown.
    pub height: Option<u64>,
    /// How `height` is known.
    pub height_source: HeightSource,
    /// The Raft log index the leader knows the node's log matches through (`matchIndex`);
    /// absent unless the answering node leads and has heard from it.
    pub match_index: Option<u64>,
}

/// The network as this node knows it.
#[derive(SimpleObject)]
pub struct Network {
    pub id: String,
    pub genesis_hash: String,
    pub members: Vec<Member>,
    pub parties: Vec<Party>,
    pub nodes: Vec<NetworkNode>,
    /// The leader's raft id as this node knows it (0: none).
    pub leader_raft_id: u64,
    /// This node's block height (each node's, as far as this node knows it: `nodes`).
    pub height: u64,
    /// This node's commit index.
    pub commit_index: u64,
}

/// A node of the ledger's node set as the answering node (`status`, chain tip at
/// `tip_height`) knows it.
fn network_node(
    reader: &LedgerReader,
    status: &ReplicaStatus,
    tip_height: u64,
    node: &NodeRecord,
) -> async_graphql::Result<NetworkNode> {
    let is_this_node = node.raft_id == status.id;
    let match_index = status
        .peers
        .iter()
        .find(|p| p.id == node.raft_id && p.matched > 0)
        .map(|p| p.matched);
    let (height, height_source) = if is_this_node {
        (Some(tip_height), HeightSource::ThisNode)
    } else if let Some(matched) = match_index {
        (
            Some(height_within(reader, tip_height, matched)?),
            HeightSource::LeaderReplication,
        )
    } else {
        (None, HeightSource::Unknown)
    };
    Ok(NetworkNode {
        raft_id: node.raft_id,
        node_id: node.node_id.clone(),
        address: node.address.clone(),
        member: node.member.as_str().to_owned(),
        membership: code_of(&node.role),
        is_leader: node.raft_id == status.leader_id,
        is_this_node,
        height,
        height_source,
        match_index,
    })
}

/// The last block, at most `tip_height`, whose Raft entry is at or below `log_index` (0 if
/// none): block log indices grow with height, so a binary search over at most 64 halvings.
fn height_within(
    reader: &LedgerReader,
    tip_height: u64,
    log_index: u64,
) -> async_graphql::Result<u64> {
    // Invariant: block `low` is within (or is the genesis, 0); blocks above `high` are not.
    let (mut low, mut high) = (0u64, tip_height);
    for _ in 0..u64::BITS {
        if low >= high {
            break;
        }
        let mid = low + (high - low).div_ceil(2);
        let within = match reader.block(mid).map_err(internal)? {
            Some(block) => block.header.log_index <= log_index,
            None => false,
        };
        if within {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    Ok(low)
}

/// This node.
#[derive(SimpleObject)]
pub struct NodeInfo {
    pub id: String,
    pub raft_id: u64,
    /// `LEADER`, `FOLLOWER`, `CANDIDATE` or `PRE_CANDIDATE`.
    pub role: String,
    pub leader_raft_id: u64,
    pub term: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    /// The last block's height.
    pub height: u64,
    /// The last block's hash.
    pub block_hash: String,
    /// The state hash after the last block: equal on nodes at equal heights.
    pub state_hash: String,
    /// Whether this node votes in Raft's configuration as this node last applied it.
    pub voter: bool,
    /// Raft's voters as this node last applied them, by raft id.
    pub voters: Vec<u64>,
    /// Raft's learners as this node last applied them, by raft id.
    pub learners: Vec<u64>,
}

fn role_code(role: StateRole) -> &'static str {
    match role {
        StateRole::Leader => "LEADER",
        StateRole::Follower => "FOLLOWER",
        StateRole::Candidate => "CANDIDATE",
        StateRole::PreCandidate => "PRE_CANDIDATE",
    }
}

// ----- roots -------------------------------------------------------------------------------

/// Reads.
pub struct Query;

#[Object]
impl Query {
    /// One document with its full history. A document the caller is not party to is answered
    /// exactly like one that does not exist (`NOT_FOUND`).
    async fn document(
        &self,
        ctx: &Context<'_>,
        carrier_code: String,
        reference: String,
        #[graphql(default_with = "DocumentClassArg::TransportDocument")] class: DocumentClassArg,
        #[graphql(default)] consistency: Consistency,
    ) -> async_graphql::Result<Document> {
        let caller = caller(ctx)?;
        let api = api(ctx);
        let key = parse_key(class, &carrier_code, &reference)?;
        linearize(api, consistency).await?;
        match visible_document(api.reader(), caller, &key)? {
            Some(state) => Ok(Document { state }),
            None => Err(not_found(&format!("document {key}"))),
        }
    }

    /// Documents the caller's party is or was party to, optionally in one status, in key order.
    /// Observers may list any party's documents (`party`), or all documents in a `status`.
    /// `after` is the `nextCursor` of the previous page; anything else is refused
    /// (`BAD_REQUEST`).
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn documents(
        &self,
        ctx: &Context<'_>,
        party: Option<String>,
        status: Option<String>,
        after: Option<String>,
        #[graphql(default = 20)] first: usize,
        #[graphql(default)] consistency: Consistency,
    ) -> async_graphql::Result<DocumentPage> {
        let caller = caller(ctx)?;
        let api = api(ctx);
        if first == 0 || first > PAGE_SIZE_MAX {
            return Err(api_error(
                BAD_REQUEST,
                format!("first must be between 1 and {PAGE_SIZE_MAX}"),
            ));
        }
        let status = match status {
            Some(code) => Some(Status::from_code(&code).ok_or_else(|| {
                api_error(BAD_REQUEST, format!("status: unknown status `{code}`"))
            })?),
            None => None,
        };
        let party = match party {
            Some(p) => Some(parse_party("party", &p)?),
            None => None,
        };
        let after = after.as_deref().map(parse_cursor).transpose()?;
        if let Some(p) = &party
            && *p != caller.party
            && !caller.observer
        {
            return Err(api_error(
                FORBIDDEN,
                "only observers may list another party's documents",
            ));
        }
        linearize(api, consistency).await?;
        let reader = api.reader();
        let page = match (party, status) {
            (Some(p), s) => reader.documents_by_party(&p, s, after, first),
            (None, Some(s)) if caller.observer => reader.documents_by_status(s, after, first),
            (None, s) => reader.documents_by_party(&caller.party, s, after, first),
        }
        .map_err(internal)?;
        Ok(DocumentPage {
            documents: page
                .documents
                .into_iter()
                .map(|state| Document { state })
                .collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// The block at `height` (1 is the first after genesis).
    async fn block(&self, ctx: &Context<'_>, height: u64) -> async_graphql::Result<BlockOut> {
        caller(ctx)?;
        match api(ctx).reader().block(height).map_err(internal)? {
            Some(block) => Ok(BlockOut {
                block: Arc::new(block),
            }),
            None => Err(not_found(&format!("block {height}"))),
        }
    }

    /// The most recent blocks, newest first.
    #[graphql(
        complexity = "list_cost(usize::try_from(last).unwrap_or(usize::MAX), child_complexity)"
    )]
    async fn blocks(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10)] last: u64,
    ) -> async_graphql::Result<Vec<BlockOut>> {
        caller(ctx)?;
        if last == 0 || last > RECENT_BLOCKS_MAX {
            return Err(api_error(
                BAD_REQUEST,
                format!("last must be between 1 and {RECENT_BLOCKS_MAX}"),
            ));
        }
        let reader = api(ctx).reader();
        let tip = reader.tip().height;
        let mut out = Vec::new();
        for height in (tip.saturating_sub(last - 1).max(1)..=tip).rev() {
            if let Some(block) = reader.block(height).map_err(internal)? {
                out.push(BlockOut {
                    block: Arc::new(block),
                });
            }
        }
        Ok(out)
    }

    /// The recorded outcome of a transaction, by hash, if it touched a document the caller
    /// may see (observers: any).
    async fn transaction(
        &self,
        ctx: &Context<'_>,
        tx_hash: String,
    ) -> async_graphql::Result<SubmitResult> {
        let caller = caller(ctx)?;
        let reader = api(ctx).reader();
        let hash = ledger::Hash32::from_hex(&tx_hash)
            .map_err(|_| api_error(BAD_REQUEST, "txHash: 64 lowercase hex characters"))?;
        let Some(record) = reader.transaction(&hash).map_err(internal)? else {
            return Err(not_found(&format!("transaction {tx_hash}")));
        };
        let visible = caller.observer
            || match &record.outcome {
                Outcome::Committed { documents } => {
                    let mut any = false;
                    for key in documents {
                        if caller.may_read(&reader.parties_ever(key).map_err(internal)?) {
                            any = true;
                            break;
                        }
                    }
                    any
                }
                Outcome::Refused { .. } => false,
            };
        if !visible {
            return Err(not_found(&format!("transaction {tx_hash}")));
        }
        Ok(SubmitResult::from(Submitted {
            tx_hash: hash,
            location: Some(record.location),
            time_ms: Some(record.time_ms),
            outcome: record.outcome,
        }))
    }

    /// Whether the ledger holds exactly this content: pass the DCSA transport document's JSON
    /// (`document`) or its SHA-256 over RFC 8785 canonical JSON (`checksum`), not both.
    // Its `documents` are priced as one: one content is one document in practice, and no
    // argument says how many match. Their PDFs and large values are bounded at run time by the
    // request's budget instead (`crate::cost::RequestBudget`).
    async fn verify_document(
        &self,
        ctx: &Context<'_>,
        document: Option<Json<serde_json::Value>>,
        checksum: Option<String>,
        #[graphql(default)] consistency: Consistency,
    ) -> async_graphql::Result<Verification> {
        let caller = caller(ctx)?;
        let api = api(ctx);
        let checksum = match (document, checksum) {
            (Some(Json(doc)), None) => adapters::dcsa::checksum(&doc),
            (None, Some(sum)) => {
                let sum = sum.to_ascii_lowercase();
                if sum.len() != 64 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(api_error(
                        BAD_REQUEST,
                        "checksum: 64 hex characters (SHA-256)",
                    ));
                }
                sum
            }
            _ => {
                return Err(api_error(
                    BAD_REQUEST,
                    "pass exactly one of `document` and `checksum`",
                ));
            }
        };
        linearize(api, consistency).await?;
        let reader = api.reader();
        let mut documents = Vec::new();
        for state in reader.documents_by_checksum(&checksum).map_err(internal)? {
            let parties = reader.parties_ever(&key_of(&state)).map_err(internal)?;
            if caller.may_read(&parties) {
                documents.push(Document { state });
            }
        }
        Ok(Verification {
            matches: !documents.is_empty(),
            checksum,
            documents,
        })
    }

    /// The network: members, parties, nodes, the leader, and the nodes' heights as far as this
    /// node knows them (its own always; the others' only while it leads, from its Raft
    /// progress; `NetworkNode.heightSource` says which).
    async fn network(&self, ctx: &Context<'_>) -> async_graphql::Result<Network> {
        caller(ctx)?;
        let api = api(ctx);
        let reader = api.reader();
        let genesis = reader.genesis();
        let status = api.client.status();
        let tip = reader.tip();
        let parties: Vec<Party> = reader
            .parties()
            .into_iter()
            .map(|p| Party {
                code: p.code.as_str().to_owned(),
                name: p.name,
                sponsor: p.sponsor.as_str().to_owned(),
                role: code_of(&p.role),
            })
            .collect();
        // No argument bounds this list (every party ever onboarded): what it weighs counts
        // against the answer's size as soon as it is read.
        budget(ctx)?.charge(
            parties
                .iter()
                .map(Party::json_bytes)
                .fold(0, usize::saturating_add),
        )?;
        Ok(Network {
            id: genesis.network_id.clone(),
            genesis_hash: reader.genesis_hash().to_string(),
            members: genesis
                .members
                .iter()
                .map(|m| Member {
                    code: m.code.as_str().to_owned(),
                    name: m.name.clone(),
                    role: code_of(&m.role),
                })
                .collect(),
            parties,
            nodes: reader
                .nodes()
                .iter()
                .map(|n| network_node(reader, &status, tip.height, n))
                .collect::<async_graphql::Result<Vec<_>>>()?,
            leader_raft_id: status.leader_id,
            height: tip.height,
            commit_index: status.commit_index,
        })
    }

    /// The current revocation list of `member` (default: the caller's own member) as this
    /// node has applied it: an X.509 CRL, DER, standard base64; null if the member has
    /// published none. A member's next list must keep its entries (`silkline tx revoke`
    /// builds it from this one).
    async fn revocation_list(
        &self,
        ctx: &Context<'_>,
        member: Option<String>,
    ) -> async_graphql::Result<Option<String>> {
        use base64::Engine as _;
        let caller = caller(ctx)?;
        let code = member.unwrap_or_else(|| caller.member.as_str().to_owned());
        let code = pki::MemberCode::new(code)
            .map_err(|e| api_error(BAD_REQUEST, format!("member: {e}")))?;
        let store = api(ctx).reader().trust_store();
        let lists = store
            .revocations(&code)
            .ok_or_else(|| not_found(&format!("member {code}")))?;
        Ok(lists
            .first()
            .map(|der| base64::engine::general_purpose::STANDARD.encode(der)))
    }

    /// This node: its Raft role and progress, its chain tip.
    async fn node(&self, ctx: &Context<'_>) -> async_graphql::Result<NodeInfo> {
        caller(ctx)?;
        let api = api(ctx);
        let status = api.client.status();
        let tip = api.reader().tip();
        Ok(NodeInfo {
            id: api.node_id.clone(),
            raft_id: status.id,
            role: role_code(status.role).to_owned(),
            leader_raft_id: status.leader_id,
            term: status.term,
            commit_index: status.commit_index,
            applied_index: status.applied_index,
            height: tip.height,
            block_hash: tip.hash.to_string(),
            state_hash: tip.state_hash.to_string(),
            voter: status.voters.contains(&status.id),
            voters: status.voters,
            learners: status.learners,
        })
    }
}

async fn linearize(api: &Api, consistency: Consistency) -> async_graphql::Result<()> {
    if consistency == Consistency::Linearizable {
        api.client
            .linearizable()
            .await
            .map_err(|e| api_error(UNAVAILABLE, e.to_string()))?;
    }
    Ok(())
}

/// Writes.
pub struct Mutation;

#[Object]
impl Mutation {
    /// Submits signed transactions (JWS compact strings, at most 128) and answers, for each in
    /// order, its outcome once its block is applied on this node: `COMMITTED` with the block,
    /// or `REFUSED` with the rule. Submitting a committed transaction again returns its original
    /// outcome and commits nothing.
    async fn submit_transactions(
        &self,
        ctx: &Context<'_>,
        envelopes: Vec<String>,
    ) -> async_graphql::Result<Vec<SubmitResult>> {
        caller(ctx)?;
        if envelopes.is_empty() || envelopes.len() > SUBMIT_ENVELOPES_MAX {
            return Err(api_error(
                BAD_REQUEST,
                format!("envelopes: between 1 and {SUBMIT_ENVELOPES_MAX} per request"),
            ));
        }
        let client = &api(ctx).client;
        let now = now_ms();
        // Concurrently, so that they share blocks.
        let results = futures_util::future::join_all(
            envelopes
                .into_iter()
                .map(|e| client.submit(e.into_bytes(), now)),
        )
        .await;
        let mut out = Vec::with_capacity(results.len());
        for result in results {
            match result {
                Ok(submitted) => out.push(SubmitResult::from(submitted)),
                Err(SubmitError::Storage(e)) => return Err(internal(e)),
                Err(e @ SubmitError::Unknown { .. }) => {
                    return Err(api_error(UNAVAILABLE, e.to_string()));
                }
                Err(e @ SubmitError::Unavailable(_)) => {
                    return Err(api_error(UNAVAILABLE, e.to_string()));
                }
            }
        }
        Ok(out)
    }
}

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
