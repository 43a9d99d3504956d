//! # graphql: Silkline's API
//!
//! One GraphQL API per node (async-graphql on axum), served over HTTPS with mutual TLS:
//!
//! - [`schema`]: the schema. Writes are signed transactions (`submitTransactions`), answered
//!   once the block that holds them is applied on this node; reads are documents with their
//!   full signed history, document lists, blocks, content verification, the network and this
//!   node; a subscription streams events on the documents the caller may see.
//! - [`caller`]: who is asking (from the client certificate), for whom it may act (the party it
//!   names, if its member sponsors it: the ledger's rule for signers) and what it may read. A
//!   party sees the documents it is or was party to, an observer member sees all; anyone else
//!   gets exactly the not-found a document that does not exist gets. A connection's session
//!   checks its certificate again for every request, so a revocation also shuts out
//!   connections and subscriptions opened before it.
//! - [`cost`]: what one request may cost and weigh: the query's price (lists by their page
//!   size, PDFs and exports by what they cost), the answer's size, PDFs rendered off the async
//!   workers.
//! - [`server`]: the HTTPS listener: rustls with the node's certificate, client certificates
//!   verified against the ledger's current trust store (members' CAs and CRLs), request limits,
//!   and connection slots that connections which never finish a TLS handshake cannot exhaust.
//! - [`metrics`]: the requests it counts for the node's `/metrics` (an atomic; no exporter).
//! - [`public`]: the verification page behind a printed copy's QR code, on a listener of its
//!   own for anyone (no client certificate): whether a copy matches a record and the record's
//!   public facts, found only through the content checksum the visitor holds; rate-limited per
//!   source.
//!
//! What it deliberately is not: it decides nothing about documents. Every write goes through
//! `ledger::client` (precheck, propose, the block's outcome); every read is of state the ledger
//! applied. The API knows no workflow rule, and signs nothing.
//!
//! The schema's text is `graphql/schema.graphql`; a test fails when the code and the file
//! differ.

pub mod caller;
pub mod cost;
pub mod error;
pub mod metrics;
pub mod public;
pub mod schema;
pub mod server;

pub use caller::Caller;
pub use metrics::ApiMetrics;
pub use public::{PublicError, public_tls_config, serve_public, serve_routes};
pub use schema::{Api, ApiSchema, build_observed_schema, build_schema, schema_sdl};
pub use server::{ServeError, renewable_tls_config, serve, tls_config};
