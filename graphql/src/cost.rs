//! What one request may cost the node, and how much its answer may weigh.
//!
//! Each bound is checked where it can first be known:
//!
//! - As soon as it is parsed, how many fields it selects once its fragments are expanded
//!   ([`expanded_fields`]), counted in time proportional to its text: fragments that spread
//!   each other twice over would otherwise make async-graphql's own checks, the price among
//!   them, exponential work.
//! - Before anything runs, the query's price ([`QUERY_COMPLEXITY_MAX`]): a field counts one, a
//!   list counts its page size times the fields under it ([`list_cost`]), a PDF
//!   [`PDF_COMPLEXITY`], a DCSA export [`DCSA_COMPLEXITY`], a content, state or signature
//!   [`LARGE_VALUE_COMPLEXITY`]. The schema's `#[graphql(complexity)]` attributes say which
//!   field costs what; [`CostLimits`] refuses a query over the limit with `QUERY_TOO_COMPLEX`.
//! - While it runs, the bytes of its large values and the PDFs it renders ([`RequestBudget`]):
//!   a list whose length no argument gives (`verifyDocument`'s matches, `network`'s parties)
//!   still stops before the request builds an answer it may not send.
//! - After it ran, the answer's exact size as JSON ([`RESPONSE_BYTES_MAX`]): an answer over it
//!   is replaced by one `RESPONSE_TOO_LARGE` error, never sent in part.
//!
//! PDFs render on tokio's blocking threads, at most [`PDF_RENDERS_CONCURRENT_MAX`] at once on
//! the node ([`render_pdf`]), so that no request's renderings hold the async workers that serve
//! every other client.
//!
//! What it is not: a rate limit. It bounds what one request costs; how many requests and
//! connections a client may have is the server's business.

use std::sync::atomic::{AtomicUsize, Ordering};

use std::collections::{HashMap, HashSet};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextPrepareRequest, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Context, Request, Response, ServerError, ServerResult, ValidationResult};
use ledger::state::PAGE_SIZE_MAX;

use crate::schema::SUBMIT_ENVELOPES_MAX;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::error::{
    BAD_REQUEST, INTERNAL, QUERY_TOO_COMPLEX, RESPONSE_TOO_LARGE, UNAVAILABLE, api_error,
    request_error,
};

/// Most a query may cost, priced as the module says, checked before anything runs. The heaviest
/// legitimate queries fit: `silkline doc show` (a document, its content and a page of 100
/// history entries with their signatures) costs 2,127, a `documents(first: 100)` page of every
/// field but history, PDF and export 3,901, and the heaviest, an explorer's `blocks(last: 100)`
/// with every field of every block and transaction, 52,201 (each block priced as full: 64
/// transactions). At about a microsecond of work per field value, the limit is tens of
/// milliseconds of the node's time.
pub const QUERY_COMPLEXITY_MAX: usize = 60_000;

/// Most PDFs one request may render. A rendering is about 10 KiB and a few milliseconds of CPU;
/// `silkline doc pdf` asks for one, and a client that wants many asks in several requests. The
/// price of `pdf` enforces it before anything runs for every list whose length an argument
/// gives; [`RequestBudget`] enforces it at run time for the others.
pub const PDF_RENDERS_PER_REQUEST_MAX: usize = 8;

/// The price of `pdf`: so high that a query naming more PDFs than
/// [`PDF_RENDERS_PER_REQUEST_MAX`] (a page of documents with `pdf`, or aliases) costs more than
/// [`QUERY_COMPLEXITY_MAX`] and is refused before anything runs, while one document's `pdf`, or
/// eight, leaves room for the rest of a query.
pub const PDF_COMPLEXITY: usize = QUERY_COMPLEXITY_MAX / (PDF_RENDERS_PER_REQUEST_MAX + 1);

// Every `pdf` sits under at least one field (its document): as many PDFs as one request may
// render fit under the limit, with room for the rest of a query; one more cannot.
const _: () = assert!(
    (PDF_COMPLEXITY + 1) * PDF_RENDERS_PER_REQUEST_MAX < QUERY_COMPLEXITY_MAX
        && (PDF_COMPLEXITY + 1) * (PDF_RENDERS_PER_REQUEST_MAX + 1) > QUERY_COMPLEXITY_MAX
);

/// The price of a content, a state or a signed transaction (`content`, `state`, `signature`):
/// kilobytes each (up to 64 KiB of content, 128 KiB of envelope) where another field is a few
/// bytes, so ten fields' worth. Their real sizes count against [`RESPONSE_BYTES_MAX`] as they
/// are produced.
pub const LARGE_VALUE_COMPLEXITY: usize = 10;

/// The price of `dcsa`: the export reads the document's whole history and builds its
/// endorsement chain, so it costs what a full page of history with its signatures costs.
pub const DCSA_COMPLEXITY: usize = PAGE_SIZE_MAX * (1 + LARGE_VALUE_COMPLEXITY);

/// Largest answer, as JSON, that one request may have; a larger one is replaced by a
/// `RESPONSE_TOO_LARGE` error. The largest legitimate answers fit: a document with 100 history
/// entries of envelopes at the ledger's 128 KiB limit is under 13 MiB, a page of 100 documents
/// with their contents and states at the 64 KiB content limit about 14 MiB. It is the size of
/// the largest request the node accepts (a full `submitTransactions`), so one request costs
/// the node no more memory to answer than to read.
pub const RESPONSE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Deepest that fields, fragment spreads and inline fragments may nest, counted along every path
/// of a query with its fragments expanded: async-graphql's own limit (its default
/// `limit_recursive_depth`), checked here first because its check walks the whole expansion.
pub const NESTING_DEPTH_MAX: usize = 32;

/// PDF renderings running at once on the node, whatever the number of clients asking. A
/// rendering is CPU-bound: one at a time keeps PDFs to one core's worth of the node's time, and
/// the async workers, which serve every other request, never run one. At a few milliseconds each
/// that is still hundreds of PDFs a second.
pub const PDF_RENDERS_CONCURRENT_MAX: usize = 1;

/// The renderings under way on this node (see [`PDF_RENDERS_CONCURRENT_MAX`]).
static PDF_RENDERS: Semaphore = Semaphore::const_new(PDF_RENDERS_CONCURRENT_MAX);

/// The price of a list field: one for the field, plus `items` (its page size, or the most it
/// can hold) times `child_complexity` (the price of the selection under it). Saturating, and
/// capped just over [`QUERY_COMPLEXITY_MAX`], so that a query summing many refused lists cannot
/// overflow the total.
pub fn list_cost(items: usize, child_complexity: usize) -> usize {
    items
        .saturating_mul(child_complexity)
        .saturating_add(1)
        .min(QUERY_COMPLEXITY_MAX + 1)
}

/// What one request has used of what it may: the bytes of the large values its resolvers
/// produced and the PDFs they rendered. One per request, put into the request's data by
/// [`CostLimits`]; resolvers charge it before (PDFs) and after (bytes) the work.
#[derive(Debug, Default)]
pub struct RequestBudget {
    /// Bytes of PDFs, contents, states, exports, signatures and party lists produced so far.
    bytes: AtomicUsize,
    /// PDFs rendered or about to be.
    pdfs: AtomicUsize,
    /// Envelopes submitted, over every `submitTransactions` field of the request.
    envelopes: AtomicUsize,
}

impl RequestBudget {
    /// Counts `bytes` more of the answer; an error once the answer is over
    /// [`RESPONSE_BYTES_MAX`] (the whole answer is then replaced by that error).
    pub fn charge(&self, bytes: usize) -> async_graphql::Result<()> {
        let before = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_add(bytes))
            })
            .unwrap_or_else(|b| b);
        if before.saturating_add(bytes) > RESPONSE_BYTES_MAX {
            return Err(api_error(RESPONSE_TOO_LARGE, too_large_message()));
        }
        Ok(())
    }

    /// An error if the answer is already over [`RESPONSE_BYTES_MAX`]: work that would only add to
    /// it is not started.
    pub fn check(&self) -> async_graphql::Result<()> {
        self.charge(0)
    }

    /// Counts one PDF more; an error, before it is rendered, if the request would render more
    /// than [`PDF_RENDERS_PER_REQUEST_MAX`] or its answer is already too large.
    pub fn start_pdf(&self) -> async_graphql::Result<()> {
        self.check()?;
        let before = self
            .pdfs
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add(1))
            })
            .unwrap_or_else(|n| n);
        if before >= PDF_RENDERS_PER_REQUEST_MAX {
            return Err(api_error(QUERY_TOO_COMPLEX, too_many_pdfs_message()));
        }
        Ok(())
    }

    /// Counts `count` envelopes more; an error, before any is submitted, if the request would
    /// submit more than [`SUBMIT_ENVELOPES_MAX`] in all (one `submitTransactions` under many
    /// aliases must not multiply the bound).
    pub fn take_envelopes(&self, count: usize) -> async_graphql::Result<()> {
        let before = self
            .envelopes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add(count))
            })
            .unwrap_or_else(|n| n);
        if before.saturating_add(count) > SUBMIT_ENVELOPES_MAX {
            return Err(api_error(
                BAD_REQUEST,
                format!(
                    "envelopes: at most {SUBMIT_ENVELOPES_MAX} per request, over all its \
                     submitTransactions fields (SUBMIT_ENVELOPES_MAX); submit the others in \
                     further requests"
                ),
            ));
        }
        Ok(())
    }

    /// Why the request's answer may not be sent, if it may not: the one error that replaces it.
    fn overrun(&self) -> Option<ServerError> {
        if self.bytes.load(Ordering::Relaxed) > RESPONSE_BYTES_MAX {
            Some(request_error(RESPONSE_TOO_LARGE, too_large_message()))
        } else if self.pdfs.load(Ordering::Relaxed) > PDF_RENDERS_PER_REQUEST_MAX {
            Some(request_error(QUERY_TOO_COMPLEX, too_many_pdfs_message()))
        } else {
            None
        }
    }
}

fn too_large_message() -> String {
    format!(
        "the answer is larger than the {RESPONSE_BYTES_MAX} bytes one response may have \
         (RESPONSE_BYTES_MAX); ask for fewer documents or fields per request"
    )
}

fn too_many_pdfs_message() -> String {
    format!(
        "one request may render at most {PDF_RENDERS_PER_REQUEST_MAX} PDFs \
         (PDF_RENDERS_PER_REQUEST_MAX); ask for the others in further requests"
    )
}

/// The request's budget (every request executed by a schema that [`CostLimits`] extends has one).
pub(crate) fn budget<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a RequestBudget> {
    ctx.data::<RequestBudget>().map_err(|_| {
        tracing::error!("a request without a RequestBudget: the schema lacks CostLimits");
        api_error(
            INTERNAL,
            "the request has no cost budget; see the node's log",
        )
    })
}

/// The length of `value` as JSON, counted without building the text; counting stops soon
/// after it passes `limit` (the answer is then only known to be over it).
pub fn json_len(value: &impl Serialize, limit: usize) -> usize {
    struct Counter {
        bytes: usize,
        limit: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.bytes = self.bytes.saturating_add(buf.len());
            if self.bytes > self.limit {
                // Stops the serializer: the rest cannot bring the count back under the limit.
                return Err(std::io::Error::other("over the limit"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter { bytes: 0, limit };
    // An error is either the stop above or a value JSON cannot hold, which the HTTP layer
    // refuses on its own; the count so far is the answer in both cases.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.bytes
}

/// Renders a PDF (or any CPU-bound `work`) on tokio's blocking threads, once fewer than
/// [`PDF_RENDERS_CONCURRENT_MAX`] renderings run on the node.
pub(crate) async fn render_pdf<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> async_graphql::Result<T> {
    off_workers(&PDF_RENDERS, work).await
}

/// Runs `work` on tokio's blocking threads while holding one of `slots`' permits. The permit
/// goes with the work, not with the request: a client that hangs up does not free a slot
/// whose rendering still runs.
async fn off_workers<T: Send + 'static>(
    slots: &'static Semaphore,
    work: impl FnOnce() -> T + Send + 'static,
) -> async_graphql::Result<T> {
    let permit = slots
        .acquire()
        .await
        .map_err(|_| api_error(UNAVAILABLE, "the node is stopping"))?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "a PDF rendering failed");
        api_error(INTERNAL, "the rendering failed; see the node's log")
    })
}

/// How many fields `document` selects once its fragments are expanded, in the largest of its
/// operations: what async-graphql's own checks visit, one by one. Each fragment is counted once
/// and its count reused, so this takes time proportional to the document's text, however its
/// fragments spread one another. Every field costs at least one, so a document over
/// [`QUERY_COMPLEXITY_MAX`] here costs more than the limit too. `None` if fields and fragments
/// nest more than [`NESTING_DEPTH_MAX`] deep.
pub fn expanded_fields(document: &ExecutableDocument) -> Option<usize> {
    let mut counted = HashMap::new();
    let mut most = 0;
    for (_, operation) in document.operations.iter() {
        let fields = selection_fields(
            &operation.node.selection_set.node,
            document,
            0,
            &mut counted,
            &mut HashSet::new(),
        )?;
        most = most.max(fields);
    }
    Some(most)
}

/// The fields `set`, at nesting `depth`, selects with fragments expanded; `counted` holds the
/// fragments already counted, `open` those being counted (a cycle counts nothing here:
/// validation refuses it).
fn selection_fields<'d>(
    set: &'d SelectionSet,
    document: &'d ExecutableDocument,
    depth: usize,
    counted: &mut HashMap<&'d str, usize>,
    open: &mut HashSet<&'d str>,
) -> Option<usize> {
    if depth > NESTING_DEPTH_MAX {
        return None;
    }
    let mut fields = 0usize;
    for item in &set.items {
        let more = match &item.node {
            // A leaf adds no depth (as async-graphql counts it).
            Selection::Field(field) if field.node.selection_set.node.items.is_empty() => 1,
            Selection::Field(field) => 1usize.saturating_add(selection_fields(
                &field.node.selection_set.node,
                document,
                depth + 1,
                counted,
                open,
            )?),
            Selection::InlineFragment(inline) => selection_fields(
                &inline.node.selection_set.node,
                document,
                depth + 1,
                counted,
                open,
            )?,
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                if let Some(n) = counted.get(name) {
                    *n
                } else if let Some(fragment) = document.fragments.get(name)
                    && open.insert(name)
                {
                    // Counted from this depth; nested deeper elsewhere, it is refused there
                    // (async-graphql checks every path's depth).
                    let n = selection_fields(
                        &fragment.node.selection_set.node,
                        document,
                        depth + 1,
                        counted,
                        open,
                    )?;
                    open.remove(name);
                    counted.insert(name, n);
                    n
                } else {
                    // An unknown fragment or a cycle: validation refuses either.
                    0
                }
            }
        };
        fields = fields.saturating_add(more);
    }
    Some(fields)
}

/// The schema extension that applies the limits of this module to every request: it gives the
/// request its [`RequestBudget`], refuses a query over [`QUERY_COMPLEXITY_MAX`] (its fields
/// counted with fragments expanded, then its price) before it runs, and replaces an answer
/// over its budget or over [`RESPONSE_BYTES_MAX`] by one error.
pub struct CostLimits;

impl ExtensionFactory for CostLimits {
    fn create(&self) -> std::sync::Arc<dyn Extension> {
        std::sync::Arc::new(CostLimits)
    }
}

#[async_trait::async_trait]
impl Extension for CostLimits {
    /// Parses the query (async-graphql keeps the parse) and counts its fields, fragments
    /// expanded, before async-graphql's own checks, which visit the expansion field by field.
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        match expanded_fields(request.parsed_query()?) {
            None => {
                return Err(request_error(
                    BAD_REQUEST,
                    format!(
                        "the query nests fields and fragments more than {NESTING_DEPTH_MAX} \
                         deep"
                    ),
                ));
            }
            Some(fields) if fields > QUERY_COMPLEXITY_MAX => {
                return Err(request_error(
                    QUERY_TOO_COMPLEX,
                    format!(
                        "the query selects {fields} fields once its fragments are expanded, \
                         more than the {QUERY_COMPLEXITY_MAX} one request may cost \
                         (QUERY_COMPLEXITY_MAX); ask for fewer fields per request"
                    ),
                ));
            }
            Some(_) => {}
        }
        next.run(ctx, request.data(RequestBudget::default())).await
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        if result.complexity > QUERY_COMPLEXITY_MAX {
            return Err(vec![request_error(
                QUERY_TOO_COMPLEX,
                format!(
                    "the query costs {} or more, over the {QUERY_COMPLEXITY_MAX} one request may \
                     cost (QUERY_COMPLEXITY_MAX): a list counts its page size (`first`, `last`) \
                     times the fields under it, `pdf` {PDF_COMPLEXITY}, `dcsa` \
                     {DCSA_COMPLEXITY}; ask for fewer items or fields per request",
                    result.complexity
                ),
            )]);
        }
        Ok(result)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let response = next.run(ctx, operation_name).await;
        if let Some(error) = ctx
            .data_opt::<RequestBudget>()
            .and_then(RequestBudget::overrun)
        {
            return Response::from_errors(vec![error]);
        }
        let bytes = json_len(&response, RESPONSE_BYTES_MAX);
        if bytes > RESPONSE_BYTES_MAX {
            return Response::from_errors(vec![request_error(
                RESPONSE_TOO_LARGE,
                too_large_message(),
            )]);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    use super::*;

    /// Bounds every wait of these tests.
    const DEADLINE: Duration = Duration::from_secs(30);

    /// The work runs on a blocking thread, not on the async worker: on a runtime with one worker
    /// thread, work that waits for a message sent by another task of that runtime gets it. Run
    /// on the worker, it would hold the only thread the sender could run on, and wait in vain.
    #[tokio::test(flavor = "current_thread")]
    async fn work_runs_off_the_async_workers() {
        static SLOTS: Semaphore = Semaphore::const_new(1);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let sender = tokio::spawn(async move {
            tx.send(()).expect("the work listens");
        });
        let heard = off_workers(&SLOTS, move || rx.recv_timeout(DEADLINE).is_ok())
            .await
            .expect("the work ran");
        assert!(
            heard,
            "the work held the async worker that the sender needed"
        );
        sender.await.expect("the sender ran");
    }

    /// However many requests render at once, at most the slots' number of renderings run; the
    /// others wait for a slot, and all finish.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn renderings_are_bounded_node_wide() {
        const SLOTS_MAX: usize = 2;
        const REQUESTS: usize = 8;
        static SLOTS: Semaphore = Semaphore::const_new(SLOTS_MAX);
        static RUNNING: AtomicUsize = AtomicUsize::new(0);
        static MOST: AtomicUsize = AtomicUsize::new(0);
        // Each rendering lasts until the test releases them all.
        static RELEASED: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());
        let mut tasks = Vec::new();
        for _ in 0..REQUESTS {
            tasks.push(tokio::spawn(off_workers(&SLOTS, || {
                let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
                MOST.fetch_max(now, Ordering::SeqCst);
                let (released, wake) = &RELEASED;
                let guard = released.lock().expect("not poisoned");
                drop(wake.wait_timeout_while(guard, DEADLINE, |r| !*r));
                RUNNING.fetch_sub(1, Ordering::SeqCst);
            })));
        }
        // The slots fill up; then no further rendering starts while they are held.
        let filled = tokio::time::timeout(DEADLINE, async {
            while RUNNING.load(Ordering::SeqCst) < SLOTS_MAX {
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert!(filled.is_ok(), "the slots never filled");
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(MOST.load(Ordering::SeqCst), SLOTS_MAX);
        {
            let (released, wake) = &RELEASED;
            *released.lock().expect("not poisoned") = true;
            wake.notify_all();
        }
        for task in tasks {
            task.await.expect("joined").expect("rendered");
        }
        assert_eq!(MOST.load(Ordering::SeqCst), SLOTS_MAX);
        assert_eq!(RUNNING.load(Ordering::SeqCst), 0);
    }

    /// An answer over the limit that no resolver charged to the budget is still refused whole,
    /// by its measured size; one under it is sent as it is.
    #[tokio::test]
    async fn an_answer_over_the_limit_is_replaced_by_one_error() {
        struct Tiny;
        #[async_graphql::Object]
        impl Tiny {
            async fn text(&self, bytes: usize) -> String {
                "x".repeat(bytes)
            }
        }
        let schema = async_graphql::Schema::build(
            Tiny,
            async_graphql::EmptyMutation,
            async_graphql::EmptySubscription,
        )
        .extension(CostLimits)
        .finish();
        let small = schema.execute("{ text(bytes: 1000) }").await;
        assert!(small.errors.is_empty(), "{:?}", small.errors);
        let big = schema
            .execute(format!("{{ text(bytes: {RESPONSE_BYTES_MAX}) }}"))
            .await;
        assert_eq!(big.data, async_graphql::Value::Null);
        assert_eq!(big.errors.len(), 1, "{:?}", big.errors);
        let code = big.errors[0]
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"));
        assert_eq!(code, Some(&async_graphql::Value::from(RESPONSE_TOO_LARGE)));
    }

    /// Fragments that spread the next one twice, 20 deep, select a million fields: refused
    /// as soon as the query is parsed, counted without expanding it (async-graphql's own checks
    /// would visit every one of them; at 30 deep, a billion). Fragments used once pass.
    #[tokio::test]
    async fn fragments_are_counted_expanded_before_anything_else() {
        struct Tiny;
        #[async_graphql::Object]
        impl Tiny {
            async fn text(&self) -> &str {
                "x"
            }
        }
        let schema = async_graphql::Schema::build(
            Tiny,
            async_graphql::EmptyMutation,
            async_graphql::EmptySubscription,
        )
        .extension(CostLimits)
        .finish();
        const DEPTH: usize = 20;
        let mut bomb = String::from("{ ...F0 }\n");
        for i in 0..DEPTH {
            let next = i + 1;
            bomb.push_str(&format!(
                "fragment F{i} on Tiny {{ ...F{next} ...F{next} }}\n"
            ));
        }
        bomb.push_str(&format!("fragment F{DEPTH} on Tiny {{ text }}\n"));
        let document = async_graphql::parser::parse_query(&bomb).expect("parses");
        assert_eq!(expanded_fields(&document), Some(1 << DEPTH));
        let refused = schema.execute(bomb).await;
        assert_eq!(refused.data, async_graphql::Value::Null);
        let error = &refused.errors[0];
        let code = error.extensions.as_ref().and_then(|e| e.get("code"));
        assert_eq!(code, Some(&async_graphql::Value::from(QUERY_TOO_COMPLEX)));
        assert!(
            error.message.contains("once its fragments are expanded"),
            "{}",
            error.message
        );
        let served = schema
            .execute("{ ...A } fragment A on Tiny { text ...B } fragment B on Tiny { text }")
            .await;
        assert!(served.errors.is_empty(), "{:?}", served.errors);
        // A chain of fragments as deep as async-graphql allows is served; one deeper is refused
        // here, as async-graphql would refuse it, as a bad request.
        let chain = |spreads: usize| {
            let mut chain = String::from("{ ...F0 }\n");
            for i in 0..spreads {
                let next = i + 1;
                chain.push_str(&format!("fragment F{i} on Tiny {{ ...F{next} }}\n"));
            }
            chain.push_str(&format!("fragment F{spreads} on Tiny {{ text }}\n"));
            chain
        };
        let deepest = schema.execute(chain(NESTING_DEPTH_MAX - 1)).await;
        assert!(deepest.errors.is_empty(), "{:?}", deepest.errors);
        let deeper = schema.execute(chain(NESTING_DEPTH_MAX)).await;
        let code = deeper.errors[0]
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"));
        assert_eq!(code, Some(&async_graphql::Value::from(BAD_REQUEST)));
        assert!(
            deeper.errors[0].message.contains("more than 32 deep"),
            "{:?}",
            deeper.errors
        );
    }

    #[test]
    fn list_prices_saturate_just_over_the_limit() {
        assert_eq!(list_cost(100, 3), 301);
        assert_eq!(list_cost(0, 3), 1);
        assert_eq!(list_cost(usize::MAX, usize::MAX), QUERY_COMPLEXITY_MAX + 1);
    }

    #[test]
    fn json_len_counts_exactly_and_stops_past_the_limit() {
        let value = serde_json::json!({"a": "x".repeat(100), "b": [1, 2, 3]});
        let text = serde_json::to_string(&value).expect("json");
        assert_eq!(json_len(&value, usize::MAX), text.len());
        let stopped = json_len(&value, 10);
        assert!(stopped > 10 && stopped <= text.len(), "{stopped}");
    }
}
