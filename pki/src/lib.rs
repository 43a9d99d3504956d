//! # pki: who signed, and what they signed
//!
//! Silkline's X.509 identities and signed transactions:
//!
//! - [`identity`]: the certificate profile (`PROFILE.md`: a certificate names the party it acts
//!   for and its kind, user, admin or node), read into a typed [`Identity`].
//! - [`trust_store`]: [`TrustStore::verify_identity`], which checks a chain against the members'
//!   CAs at an explicit time, with revocation lists given as data, and returns an [`Identity`]
//!   or a precise [`IdentityError`].
//! - [`crl`]: revocation lists where they enter (the ledger's governance checks, the trust
//!   store): parsed, signature algorithm held to the profile, signature verified.
//! - [`signature`]: the accepted X.509 signature algorithms and how a signature is verified
//!   (webpki's algorithms on aws-lc-rs): one list for certificates, lists and TLS.
//! - [`tls`]: the rustls crypto provider, handshake signature algorithms and the certificate
//!   verifiers every TLS endpoint of the workspace builds on.
//! - [`jws`]: transactions as JWS compact serialization (RFC 7515), `alg` `EdDSA` or `ES256`,
//!   the signer's chain in `x5c`, over an RFC 8785 canonical JSON payload ([`jcs`]).
//! - [`revocation`]: a member's next revocation list, made from its current one (every entry
//!   kept, new serials added, cRLNumber one past), signed with the member's CA key.
//! - [`ca`]: the one certificate builder (keys, member CAs, user, admin and node certificates,
//!   following `PROFILE.md`), which [`dev`] and [`member`] both issue through.
//! - [`dev`]: the dev-consortium generator (CAs, node TLS certificates, users, admins, CRLs).
//! - [`member`]: one member's own CA in its own directory, and its public bundle
//!   (`member.json`) from which the members form a consortium.
//!
//! What it deliberately is not:
//! - **No clock.** Every check takes the time as a parameter; the ledger passes the block time.
//! - **No I/O** except [`dev`], which writes a consortium directory, and [`member`], which
//!   writes one member's directory.
//! - **Not a general X.509 toolkit.** Only Ed25519 and ECDSA P-256/SHA-256 are accepted, in
//!   certificates, revocation lists, TLS handshakes and JWS; one crypto provider (aws-lc-rs).
//! - **Not a transport.** [`tls`] decides whose certificate a TLS endpoint accepts; sockets,
//!   protocol versions and sessions are the endpoints' own.
//! - **No knowledge of documents or members' roles.** Whether a party may act is the workflow's
//!   question; whether a member sponsors a party is the ledger's network configuration.
//!
//! Architecture invariant: this crate depends on no other crate of the workspace.

pub mod ca;
pub mod crl;
pub mod dev;
pub mod identity;
pub mod jcs;
pub mod jws;
pub mod member;
pub mod pem;
pub mod revocation;
pub mod signature;
pub mod tls;
pub mod trust_store;

pub use crl::{CrlError, RevocationListInfo, inspect_revocation_list};
pub use identity::{
    Fingerprint, Identity, IdentityError, IdentityKind, MemberCode, NodeId, PartyCode, Purpose,
};
pub use jws::{Alg, JwsError, Signer, VerifiedJws};
pub use rustls_pki_types::CertificateDer;
pub use trust_store::TrustStore;
