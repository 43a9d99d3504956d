//! replication's integration tests: the replica, the runtime, the transport and the crate's architecture invariants.
//!
//! One test binary for the crate (`cargo test -p replication --test integration`); each file
//! below is a module, run one with its name as the filter (`-- module::`).

mod architecture;
mod replica;
mod runtime;
mod transport;
