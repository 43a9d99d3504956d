//! The engine: finds the transition a command asks for, checks its guards in order, applies its
//! effects to a copy of the state, checks the result's invariants and returns it. It reads
//! documents only through [`DocumentStore`] and writes nothing: the ledger commits the
//! [`Decision`].
//!
//! This module holds the engine and what it is given and returns; `decide` finds the transition
//! and holds what one decision reads (its `Context`), `guards` checks a transition's guards,
//! `effects` applies its effects and writes its event, `invariants` states what every state
//! the engine returns must hold.

mod decide;
mod effects;
mod guards;
mod invariants;

pub use invariants::check_invariants;

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::definition::{Definition, DefinitionError};
use crate::event::Event;
use crate::ids::{DocumentKey, PartyCode, Role};
use crate::state::{DocumentKind, DocumentState, StateHash};

/// Most `SIGN`s one document keeps. Signatures are part of the state every replica holds
/// forever; a few per holder is normal, 64 leaves room and stops a possessor from bloating it.
pub const SIGNATURES_MAX: usize = 64;

/// The definitions Silkline ships, embedded at build time: `(file name, JSON)`.
pub const STANDARD_DEFINITIONS: [(&str, &str); 3] = [
    (
        "bill-of-lading.json",
        include_str!("../../definitions/bill-of-lading.json"),
    ),
    (
        "sea-waybill.json",
        include_str!("../../definitions/sea-waybill.json"),
    ),
    (
        "cargo-release.json",
        include_str!("../../definitions/cargo-release.json"),
    ),
];

/// Read access to the current documents. The ledger implements it over its state; tests use the
/// `BTreeMap` implementation.
pub trait DocumentStore {
    fn get(&self, key: &DocumentKey) -> Option<&DocumentState>;
}

impl DocumentStore for BTreeMap<DocumentKey, DocumentState> {
    fn get(&self, key: &DocumentKey) -> Option<&DocumentState> {
        BTreeMap::get(self, key)
    }
}

/// The parties on the network as of the block being decided: every party a command hands title,
/// possession or a cargo release to must be one of them, or the document would be stranded with
/// a holder no certificate can act for. The ledger implements it over its party records (a
/// member's own party, or one a member onboarded, whose sponsor is a member); tests use the
/// `BTreeMap` implementation.
pub trait PartyDirectory {
    /// The workflow role `party` acts with, or `None` if the network has no such party.
    fn role_of(&self, party: &PartyCode) -> Option<Role>;
}

impl PartyDirectory for BTreeMap<PartyCode, Role> {
    fn role_of(&self, party: &PartyCode) -> Option<Role> {
        BTreeMap::get(self, party).copied()
    }
}

/// What an accepted command changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The new state of every document the command touched, sorted by key.
    pub changes: Vec<(DocumentKey, DocumentState)>,
    /// One event per touched document; the target document's first.
    pub events: Vec<Event>,
}

/// The workflow engine: a set of validated definitions, one per document kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    definitions: BTreeMap<DocumentKind, Definition>,
}

impl Engine {
    /// The engine with the shipped definitions.
    pub fn standard() -> Engine {
        Engine::from_json_sources(&STANDARD_DEFINITIONS)
            .expect("the shipped definitions are valid (tested)")
    }

    /// Parses and validates `(name, json)` definitions.
    pub fn from_json_sources(sources: &[(&str, &str)]) -> Result<Engine, DefinitionError> {
        let definitions = sources
            .iter()
            .map(|(name, json)| Definition::from_json(name, json))
            .collect::<Result<Vec<_>, _>>()?;
        Engine::from_definitions(definitions)
    }

    /// Builds an engine from validated definitions; at most one per kind.
    pub fn from_definitions(
        definitions: impl IntoIterator<Item = Definition>,
    ) -> Result<Engine, DefinitionError> {
        let mut by_kind = BTreeMap::new();
        for definition in definitions {
            let kind = definition.kind;
            if by_kind.insert(kind, definition).is_some() {
                return Err(DefinitionError::DuplicateKind { kind });
            }
        }
        Ok(Engine {
            definitions: by_kind,
        })
    }

    pub fn definition(&self, kind: DocumentKind) -> Option<&Definition> {
        self.definitions.get(&kind)
    }

    /// RFC 8785 canonical JSON of the definitions, as an array in kind order. The ledger hashes
    /// it into its genesis so that every replica provably runs the same rules.
    pub fn definitions_json(&self) -> String {
        let raws: Vec<_> = self.definitions.values().map(|d| &d.raw).collect();
        canonical_json::to_string_of(&raws).expect("definitions serialize to JSON")
    }

    /// SHA-256 of [`definitions_json`](Self::definitions_json).
    pub fn definitions_hash(&self) -> StateHash {
        StateHash(Sha256::digest(self.definitions_json().as_bytes()).into())
    }
}
