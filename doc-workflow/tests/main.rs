//! doc-workflow's integration tests: the engine's API, architecture invariants, content, definitions, properties, release rights, scenarios and the rule table.
//!
//! One test binary for the crate (`cargo test -p doc-workflow --test integration`); each file
//! below is a module, run one with its name as the filter (`-- module::`).

mod common;

mod api;
mod architecture;
mod content;
mod definitions;
mod properties;
mod release_rights;
mod scenarios;
mod table;
