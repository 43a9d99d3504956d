//! # graphql: Silkline's API
//!
//! One GraphQL API per node (async-graphql on axum), served over HTTPS with mutual TLS:
//!
//! - [`schema`]: the schema. Writes are signed transactions (`submitTransactions`), answered
//!   once the block that holds them is applied on this node; reads are documents with their
//!   full signed history, document lists, blocks, content verification, the network and this
//!   node; a subscription streams events on the documents the caller may see.
//! - [`caller`]: who is asking (from the client certificate) and what they may read. A party
//!   sees the documents it is or was party to, an observer member sees all; anyone else gets
//!   exactly the not-found a document that does not exist gets.
//! - [`server`]: the HTTPS listener: rustls with the node's certificate, client certificates
//!   verified against the ledger's current trust store (members' CAs and CRLs), request limits.
//!
//! What it deliberately is not: it decides nothing about documents. Every write goes through
//! `ledger::client` (precheck, propose, the block's outcome); every read is of state the ledger
//! applied. The API knows no workflow rule, and signs nothing.
//!
//! The schema's text is `graphql/schema.graphql`; a test fails when the code and the file
//! differ.

#![forbid(unsafe_code)]

pub mod caller;
pub mod error;
pub mod schema;
pub mod server;

pub use caller::Caller;
pub use schema::{Api, ApiSchema, build_schema, schema_sdl};
pub use server::{ServeError, serve, tls_config};
