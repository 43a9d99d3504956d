//! ledger's integration tests: applying blocks, security of the apply path, the client, compaction, container release rights (ports), bills crossing platforms (pint) and streamed snapshots.
//!
//! One test binary for the crate (`cargo test -p ledger --test integration`); each file
//! below is a module, run one with its name as the filter (`-- module::`).

mod chain_common;

mod chain_apply;
mod chain_security;
mod chain_signatures;
mod client;
mod compaction;
mod governance;
mod pint;
mod ports;
mod stream;
