//! DCSA PINT 3.0 over HTTP: the receiving platform's endpoints ([`router`]) and the sending
//! platform's client ([`deliver`]). The protocol itself -- what is verified, what is signed --
//! is the `pint` crate's; this module only carries it.
//!
//! What this module is not: the ledger. A transfer is accepted only when the node's
//! [`PintBackend::accept`] says so (the node submits a ledger transaction that every replica
//! verifies again); open transfers live in memory, bounded, and are lost on restart, which the
//! standard allows (the sender retries from the start and gets `DUPE` if it had been accepted).

mod client;
mod server;

pub use client::{Delivered, DeliveryError, DeliveryPolicy, deliver};
pub use server::{
    BackendError, DOCUMENT_BYTES_MAX, FINISHED_KEPT_MAX, HostedParty, OPEN_TRANSFER_LIFETIME_S,
    OPEN_TRANSFERS_MAX, PintBackend, STAGED_BYTES_MAX, router,
};

/// The header every answer carries.
pub const API_VERSION_HEADER: &str = "API-Version";
