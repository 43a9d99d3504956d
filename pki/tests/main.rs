//! pki's integration tests: identities, JWS, JCS, revocation lists and the interoperability with an independent JOSE implementation.
//!
//! One test binary for the crate (`cargo test -p pki --test integration`); each file
//! below is a module, run one with its name as the filter (`-- module::`).

mod common;

mod crl;
mod identity;
mod interop;
mod jcs;
mod jws;
mod member;
mod revocation;
mod zip215;
