//! What queries cost under the schema's prices (`graphql::cost`), measured without a ledger:
//! the queries Silkline's own clients send cost well under the limit, and the queries that once
//! made a node render thousands of PDFs cost over it. The limit's refusal itself, and the run-time
//! bounds, are checked against a running ledger in `api.rs`.

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation};
use async_graphql::{Request, Schema, ServerError, ValidationResult, Variables};
use graphql::cost::{PDF_COMPLEXITY, PDF_RENDERS_PER_REQUEST_MAX, QUERY_COMPLEXITY_MAX};
use graphql::schema::{Mutation, Query, SubscriptionRoot};
use serde_json::{Value, json};

use crate::queries;

/// Records the price async-graphql computes for a query, then stops it: nothing runs, so no
/// ledger is needed.
struct Measure(Arc<Mutex<Option<usize>>>);

impl ExtensionFactory for Measure {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Measure(self.0.clone()))
    }
}

#[async_trait::async_trait]
impl Extension for Measure {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        *self.0.lock().expect("not poisoned") = Some(result.complexity);
        Err(vec![ServerError::new("measured; not run", None)])
    }
}

/// The price of `query` with `variables`.
async fn price(query: &str, variables: Value) -> usize {
    let measured = Arc::new(Mutex::new(None));
    let schema = Schema::build(Query, Mutation, SubscriptionRoot)
        .extension(Measure(measured.clone()))
        .finish();
    let response = schema
        .execute(Request::new(query).variables(Variables::from_json(variables)))
        .await;
    let price = *measured.lock().expect("not poisoned");
    price.unwrap_or_else(|| panic!("{query}: not valid: {:?}", response.errors))
}

#[tokio::test]
async fn the_clients_heaviest_queries_cost_under_the_limit() {
    let cases = queries::cases("SLK-ORDER-001", &json!({}));
    for (name, query, variables) in cases {
        let cost = price(query, variables).await;
        eprintln!("{name}: {cost}");
        assert!(
            cost <= QUERY_COMPLEXITY_MAX,
            "{name} costs {cost}, over {QUERY_COMPLEXITY_MAX}"
        );
    }
}

#[tokio::test]
async fn lists_count_their_page_size_and_pdfs_their_price() {
    // A list of N costs N times what is under it: one field per document, plus the list's one.
    for first in [1, 20, 100] {
        let query = format!("{{ documents(first: {first}) {{ documents {{ reference }} }} }}");
        assert_eq!(price(&query, json!({})).await, 1 + first * 2, "{query}");
    }
    // The default page size, and one passed as a variable, count the same way.
    assert_eq!(
        price("{ documents { documents { reference } } }", json!({})).await,
        1 + 20 * 2
    );
    assert_eq!(
        price(
            "query($n: Int!) { documents(first: $n) { documents { reference } } }",
            json!({"n": 50})
        )
        .await,
        1 + 50 * 2
    );
    // One document's PDF costs its price; as many as one request may render still pass, one
    // more does not, nor does a page of documents with theirs.
    let pdfs = |n: usize| format!("{{ documents(first: {n}) {{ documents {{ pdf }} }} }}");
    assert_eq!(
        price(
            "{ document(carrierCode: \"C\", reference: \"R\") { pdf } }",
            json!({})
        )
        .await,
        1 + PDF_COMPLEXITY
    );
    assert!(price(&pdfs(PDF_RENDERS_PER_REQUEST_MAX), json!({})).await <= QUERY_COMPLEXITY_MAX);
    assert!(price(&pdfs(PDF_RENDERS_PER_REQUEST_MAX + 1), json!({})).await > QUERY_COMPLEXITY_MAX);
    assert!(price(&pdfs(100), json!({})).await > QUERY_COMPLEXITY_MAX);
    // The query of the report: 200 aliases of a full page of PDFs. Once 600 (each field counted
    // once), now far over the limit.
    let attack = (0..200)
        .map(|i| format!("a{i}: documents(first: 100) {{ documents {{ pdf }} }}"))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(price(&format!("{{ {attack} }}"), json!({})).await > QUERY_COMPLEXITY_MAX);
    // Huge page sizes, nested, saturate rather than overflow.
    let nested = "{ documents(first: 2147483647) { documents { history(first: 2147483647) { signature } } } }";
    assert_eq!(price(nested, json!({})).await, QUERY_COMPLEXITY_MAX + 1);
}

#[test]
fn a_request_renders_at_most_its_share_of_pdfs() {
    let budget = graphql::cost::RequestBudget::default();
    for _ in 0..PDF_RENDERS_PER_REQUEST_MAX {
        budget.start_pdf().expect("within the limit");
    }
    let refused = budget.start_pdf().expect_err("one too many");
    let code = refused.extensions.as_ref().and_then(|e| e.get("code"));
    assert_eq!(
        code,
        Some(&async_graphql::Value::from("QUERY_TOO_COMPLEX")),
        "{refused:?}"
    );
    // Bytes beyond the answer's limit are refused, and so is any further work.
    budget
        .charge(graphql::cost::RESPONSE_BYTES_MAX)
        .expect("exactly at the limit");
    assert!(budget.charge(1).is_err());
    assert!(budget.check().is_err());
}
