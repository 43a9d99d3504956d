//! Shared test harness: a tiny ledger that runs commands through the real workflow engine and
//! records what the real ledger would: document states and `HistoryEntry`s with block height,
//! position, time and a transaction hash.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::collections::BTreeMap;
use std::path::PathBuf;

use doc_workflow::{
    Actor, BlockTime, Command, DocumentId, DocumentKey, DocumentRef, DocumentState, Engine,
    PartyCode, Role,
};
use ledger::{Hash32, HistoryEntry};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub fn party(code: &str) -> PartyCode {
    PartyCode::new(code).expect("test party codes are valid")
}

pub fn actor(code: &str, role: Role) -> Actor {
    Actor::new(party(code), [role])
}

pub fn carrier() -> Actor {
    actor("CARRIER", Role::Carrier)
}
pub fn shipper() -> Actor {
    actor("SHIPPER", Role::Trader)
}
pub fn consignee() -> Actor {
    actor("CONSIGNEE", Role::Trader)
}
pub fn bank() -> Actor {
    actor("BANK", Role::Bank)
}
pub fn port() -> Actor {
    actor("PORT", Role::Port)
}

pub fn id(reference: &str) -> DocumentId {
    DocumentId::new(
        party("CARRIER"),
        DocumentRef::new(reference).expect("valid test reference"),
    )
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/documents")
}

/// A fixture document from `fixtures/documents/`, e.g. `"to-order-bill"`.
pub fn fixture(name: &str) -> Value {
    let path = fixtures_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).expect("fixture exists");
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// A fixture with its reference replaced, so one test can issue several documents.
pub fn fixture_as(name: &str, reference: &str) -> Value {
    let mut doc = fixture(name);
    doc["transportDocumentReference"] = Value::String(reference.to_owned());
    doc
}

/// One committed event as the ledger would report it.
#[derive(Debug, Clone)]
pub struct Committed {
    pub height: u64,
    pub position: u32,
    pub tx_hash: Hash32,
    pub time_ms: u64,
    pub event: doc_workflow::Event,
    pub state: DocumentState,
}

/// The test network's parties and their roles: every party the adapters' tests name.
pub fn directory() -> BTreeMap<PartyCode, Role> {
    [
        ("CARRIER", Role::Carrier),
        ("CARRIER2", Role::Carrier),
        ("SHIPPER", Role::Trader),
        ("CONSIGNEE", Role::Trader),
        ("BANK", Role::Bank),
        ("PORT", Role::Port),
    ]
    .into_iter()
    .map(|(code, role)| (party(code), role))
    .collect()
}

/// Documents, histories and a block counter: one accepted command per block.
pub struct World {
    pub engine: Engine,
    /// The parties on the network ([`directory`]).
    pub parties: BTreeMap<PartyCode, Role>,
    pub store: BTreeMap<DocumentKey, DocumentState>,
    pub histories: BTreeMap<DocumentKey, Vec<HistoryEntry>>,
    pub height: u64,
    pub time_ms: u64,
}

impl Default for World {
    fn default() -> Self {
        World {
            engine: Engine::standard(),
            parties: directory(),
            store: BTreeMap::new(),
            histories: BTreeMap::new(),
            height: 10,
            // 2025-03-14T08:53:20.000Z
            time_ms: 1_741_942_400_000,
        }
    }
}

impl World {
    /// Runs `command` in a new block and returns what it committed; panics on a refusal.
    #[track_caller]
    pub fn ok(&mut self, actor: &Actor, id: &DocumentId, command: Command) -> Vec<Committed> {
        self.height += 1;
        self.time_ms += 60_000;
        let time = BlockTime(self.time_ms);
        let decision =
            match self
                .engine
                .decide(&self.store, &self.parties, actor, time, id, &command)
            {
                Ok(decision) => decision,
                Err(refusal) => panic!("{} {command:?} refused: {refusal}", actor.party),
            };
        let tx_hash = Hash32(Sha256::digest(self.height.to_be_bytes()).into());
        for (key, state) in &decision.changes {
            self.store.insert(key.clone(), state.clone());
        }
        let mut committed = Vec::new();
        for event in decision.events {
            let state = self.store[&event.document].clone();
            let entry = HistoryEntry {
                sequence: event.sequence,
                tx_hash,
                height: self.height,
                position: 0,
                time_ms: self.time_ms,
                actor: actor.party.clone(),
                member: actor.party.clone(),
                signer_fingerprint: hex::encode(Sha256::digest(actor.party.as_str())),
                action: command.action(),
                recipient: command.recipient().cloned(),
                event: event.clone(),
                jws: "eyJhbGciOiJFZERTQSJ9.e30.c2ln".to_owned(),
            };
            self.histories
                .entry(event.document.clone())
                .or_default()
                .push(entry);
            committed.push(Committed {
                height: self.height,
                position: 0,
                tx_hash,
                time_ms: self.time_ms,
                event,
                state,
            });
        }
        committed
    }

    pub fn bill(&self, id: &DocumentId) -> &DocumentState {
        &self.store[&DocumentKey::transport_document(id.clone())]
    }

    pub fn bill_history(&self, id: &DocumentId) -> &[HistoryEntry] {
        &self.histories[&DocumentKey::transport_document(id.clone())]
    }
}

/// Scenario 1 of DOMAIN.md: a to-order bill issued to the shipper, endorsed to the bank (to
/// order), endorsed to the consignee, surrendered for delivery, accepted, cargo released.
pub fn to_order_lifecycle(world: &mut World, reference: &str) -> DocumentId {
    let id = id(reference);
    world.ok(
        &carrier(),
        &id,
        Command::Issue {
            content: Some(fixture_as("to-order-bill", reference)),
            issue_to: party("SHIPPER"),
        },
    );
    world.ok(
        &shipper(),
        &id,
        Command::EndorseToOrder { to: party("BANK") },
    );
    world.ok(
        &bank(),
        &id,
        Command::Endorse {
            to: party("CONSIGNEE"),
        },
    );
    world.ok(&consignee(), &id, Command::SurrenderForDelivery);
    world.ok(&carrier(), &id, Command::AcceptSurrender);
    id
}
