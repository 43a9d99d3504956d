//! Silkline's adapters: how the ledger meets the way the trade already works. They turn committed
//! documents and events into what people and other systems read — DCSA eBL 3.0 JSON ([`dcsa`]),
//! printable copies ([`pdf`]) and e-mail notifications ([`email`]) — bring DCSA JSON in for
//! issuance, and carry DCSA PINT 3.0 between eBL platforms over HTTP ([`pint`]).
//!
//! What this crate deliberately is not:
//! - **Not on the apply path.** Adapters react to *committed* events, after the block is durable.
//!   Nothing here runs inside `apply`, and a slow or failing adapter never slows or stops the
//!   ledger: e-mail goes through a persistent outbox whose enqueue never waits on SMTP.
//! - **Not a source of truth.** A PDF or an export is a copy, marked as one (MLETR singularity);
//!   the ledger record is the original. Nothing here writes to the ledger.
//! - **Not a second workflow.** Content validation is `doc_workflow::content`'s; import only adds
//!   the DCSA checks the workflow does not need. Which transitions exist is the engine's business.
//! - **No access control.** Callers decide who may read which document before asking for a
//!   rendering; e-mail goes only to the contacts the node's own configuration lists.
//!
//! It reads `doc-workflow`'s and `ledger`'s data types (`DocumentState`, `Event`,
//! `HistoryEntry`) and nothing else of theirs.

pub mod dcsa;
pub mod email;
pub mod pdf;
pub mod pint;
pub mod time;

/// The marking every rendering that is not the record itself carries (MLETR art. 10, singularity:
/// exactly one authoritative record is *the* bill).
pub const COPY_NOTICE: &str = "COPY - NOT THE ORIGINAL; the ledger record is the original";
