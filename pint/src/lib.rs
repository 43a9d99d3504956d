//! DCSA PINT 3.0 (eBL Platform Interoperability), the protocol core: how a bill of lading moves
//! between Silkline and another eBL platform (WAVE BL, CargoX, Bolero, IQAX, essDOCS/IDT, ...,
//! or another Silkline network), as `pint/v3/EBL_PINT_v3.0.0.yaml` (DCSA-OpenAPI) defines it.
//!
//! - [`model`]: the messages, with the standard's field names and required members.
//! - [`jws`]: compact JWS (`ES256`, `PS256`, `RS256`, `EdDSA`), the [`Signer`], and
//!   [`TrustedPlatforms`]: a platform code to the certificates its signatures are checked with,
//!   pinned or as the trust anchors of an `x5c` chain (the module says which, and why).
//! - [`checksum`]: SHA-256 of the RFC 8785 form of a document, of a compact JWS string, of bytes.
//! - [`check`]: the receiver's verification of an envelope ([`check_envelope`]), whose verdict
//!   is a [`CheckedTransfer`] or a [`Refusal`] with its response code (`BSIG`, `BENV`, `DISE`),
//!   and the sender's check of a signed answer ([`check_response`]).
//! - [`build`]: the sender's chain entry, envelope and issuance manifest, and the receiver's
//!   signed answer.
//!
//! What this crate is not: I/O. No HTTP (that is `adapters::pint`), no clock (time is an
//! argument), no storage, no randomness on the checking path (only ECDSA and RSA *signing* draw
//! random numbers, which never happens at apply). The ledger runs [`check_envelope`] at apply
//! on every replica: the same inputs give the same verdict everywhere. It knows no Silkline
//! party or bill either: a hosted party is what the caller's [`HostedParties`] says it is.
//!
//! # How Silkline signs, and how another platform checks it
//! A Silkline network signs its chain entries, envelope manifests and answers with a node's (or
//! the carrier's, for the issuance manifest) Ed25519 key whose certificate chain rides in `x5c`
//! and is named by `kid` = `x5t#S256` (the leaf's SHA-256 thumbprint). Another platform trusts it
//! either by pinning the leaf certificates listed in the network's `platformCertificates`, or
//! (another Silkline network) by anchoring on the members' root CAs. See [`jws`].
//!
//! # Compatibility switch
//! [`Leniency`] accepts the DCSA conformance tool's known deviations (the issuance manifest at
//! the envelope's root; the pre-3.0 `action` member carrying the real action while `actionCode`
//! says `ISSUE`; on a retry, the first attempt's envelope manifest naming the entry held rather
//! than the one re-signed or changed). Off by default: [`Leniency::STRICT`].

// `testkit` names this crate `pint::` so that the same file also compiles inside its tests.
extern crate self as pint;

pub mod build;
pub mod check;
pub mod checksum;
pub mod jws;
pub mod model;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use build::{
    BuildError, action_date_time, build_entry, build_envelope, document_metadata,
    sign_issuance_manifest, sign_response,
};
pub use check::{
    CheckContext, CheckedEntry, CheckedTransaction, CheckedTransfer, DocumentProblem, Duplicate,
    HostedParties, Leniency, Refusal, ResponseError, VerifiedSender, check_documents,
    check_envelope, check_response, verified_sender,
};
pub use checksum::{json_checksum, sha256_hex, signed_content_checksum};
pub use jws::{Alg, JwsError, Signer, TrustedPlatforms};
pub use model::*;

/// The API version every PINT answer carries in its `API-Version` header.
pub const API_VERSION: &str = "3.0.0";
