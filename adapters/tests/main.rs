//! adapters' integration tests: DCSA import and export, e-mail, PDF.
//!
//! One test binary for the crate (`cargo test -p adapters --test integration`); each file
//! below is a module, run one with its name as the filter (`-- module::`).

mod common;

mod dcsa;
mod email;
mod pdf;
