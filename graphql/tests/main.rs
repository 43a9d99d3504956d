//! graphql's integration tests: the API over a one-process cluster, query cost, the schema.
//!
//! One test binary for the crate (`cargo test -p graphql --test integration`); each file
//! below is a module, run one with its name as the filter (`-- module::`).

mod queries;

mod api;
mod cost;
mod schema;
