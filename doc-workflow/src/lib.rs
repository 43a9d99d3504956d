//! Silkline's document workflow engine: the pure, deterministic state machines of electronic
//! bills of lading, sea waybills and cargo releases (see `shared/DOMAIN.md`, section 3).
//!
//! Given the current documents (read through [`DocumentStore`]), the acting party with its
//! roles, the block's time and a [`Command`], [`Engine::decide`] returns the new state of every
//! document the command touches and the events it produced ([`Decision`]), or the [`Refusal`]
//! naming the rule that refused it. The workflows are data ([`definition`]): JSON definitions
//! built from a closed vocabulary of guards and effects, shipped in `definitions/` and validated
//! when loaded. [`DocumentState::state_hash`] is the canonical hash every replica must agree on.
//!
//! What it deliberately is not:
//! - **No I/O, no clock, no randomness, no async.** Time is the block's [`BlockTime`]; the same
//!   inputs give byte-identical outputs on every replica. No floats reach persisted state and
//!   every collection that reaches state is ordered (`BTreeMap`, sorted `Vec`).
//! - **No identity checks.** The ledger verifies signatures, certificates, revocation and
//!   replay (with `pki`) and hands the engine an already-authenticated [`Actor`].
//! - **No storage and no history.** The ledger stores states and appends [`Event`]s; the engine
//!   only reads through a trait.
//! - **No visibility rules.** Who may *read* a document is the API's concern.
//! - **Not a hand-written DCSA validator.** The standard's eBL 3.0 Transport Document rules are
//!   data ([`schema`]: a JSON Schema checked by the `jsonschema` crate); [`content`] adds in Rust
//!   only what a schema cannot say, and keeps the document verbatim.
//!
//! Architecture invariant: this crate depends on no other crate of the workspace.

pub mod codes;
pub mod command;
pub mod content;
pub mod definition;
pub mod engine;
pub mod event;
pub mod ids;
pub mod refusal;
pub mod release;
pub mod schema;
pub mod state;

pub use codes::{ContainerNumber, Iso6346Error};
pub use command::{Action, AmendmentReason, Command, Replacement};
pub use content::{ContentProblem, ContentRecord, Stage, TransportDocument, ValidContent};
pub use definition::{Definition, DefinitionError};
pub use engine::{
    Decision, DocumentStore, Engine, PartyDirectory, STANDARD_DEFINITIONS, check_invariants,
};
pub use event::{Event, EventKind};
pub use ids::{
    Actor, BlockTime, DocumentClass, DocumentId, DocumentKey, DocumentRef, PartyCode, Role,
};
pub use refusal::Refusal;
pub use release::{
    Collection, ConditionMet, GateReason, ReleaseCondition, ReleaseRight, Revocation, RightStatus,
};
pub use state::{
    CargoReleaseDetails, DocumentKind, DocumentState, Mode, PendingTransfer, SignatureRecord,
    StateHash, Status, SurrenderRequest, fold_state_hashes,
};
