//! Shared test harness: the cast of parties, a sample-document builder and a tiny in-memory
//! ledger (`World`) that applies decisions and keeps each accepted command and event in order.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::collections::BTreeMap;
use std::path::PathBuf;

use doc_workflow::{
    Actor, BlockTime, Command, Decision, DocumentId, DocumentKey, DocumentRef, DocumentState,
    Engine, Event, PartyCode, Refusal, Role, StateHash, check_invariants, fold_state_hashes,
};
use serde_json::{Value, json};

pub fn party(code: &str) -> PartyCode {
    PartyCode::new(code).expect("test party codes are valid")
}

pub fn actor(code: &str, role: Role) -> Actor {
    Actor::new(party(code), [role])
}

pub fn carrier() -> Actor {
    actor("CARRIER", Role::Carrier)
}
pub fn other_carrier() -> Actor {
    actor("CARRIER2", Role::Carrier)
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
pub fn other() -> Actor {
    actor("OTHER", Role::Trader)
}
pub fn observer() -> Actor {
    actor("AUDITOR", Role::Observer)
}

/// A party code no one on the test network has: title or a release addressed to it is refused.
pub fn nobody() -> PartyCode {
    party("NOBODY")
}

/// The haulier the holder of release rights nominates.
pub fn haulier() -> Actor {
    actor("HAULIER", Role::Trader)
}

/// A trader the table tests hand bills to.
pub fn holder() -> Actor {
    actor("HOLDER", Role::Trader)
}

/// The test network's parties: every actor above, with its role.
pub fn directory() -> BTreeMap<PartyCode, Role> {
    [
        carrier(),
        holder(),
        other_carrier(),
        shipper(),
        consignee(),
        bank(),
        port(),
        other(),
        observer(),
        haulier(),
    ]
    .into_iter()
    .map(|a| {
        let role = *a.roles.first().expect("every test actor has a role");
        (a.party, role)
    })
    .collect()
}

pub fn id(reference: &str) -> DocumentId {
    DocumentId::new(
        party("CARRIER"),
        DocumentRef::new(reference).expect("valid test reference"),
    )
}

/// Which sample document to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sample {
    Straight,
    /// To order, with SHIPPER as the named endorsee.
    ToOrder,
    Blank,
    Waybill,
}

pub const CONTAINERS: [&str; 2] = ["CARU1000003", "CARU1000019"];

fn party_json(name: &str, code: &str) -> Value {
    json!({"partyName": name, "identifyingCodes": [{"codeListProvider": "SILKLINE", "partyCode": code}]})
}

/// A valid DCSA eBL 3.0 transport document for carrier CARRIER, as issued (`ISSUED`).
pub fn sample(reference: &str, kind: Sample) -> Value {
    let mut parties = json!({
        "issuingParty": {
            "partyName": "Carrier Line A/S",
            "address": {"street": "Havnegade", "city": "Copenhagen", "countryCode": "DK"},
            "identifyingCodes": [{"codeListProvider": "SILKLINE", "partyCode": "CARRIER"}]
        },
        "shipper": party_json("Shipper Exports Ltd", "SHIPPER"),
    });
    if matches!(kind, Sample::Straight | Sample::Waybill) {
        parties["consignee"] = party_json("Consignee Imports GmbH", "CONSIGNEE");
    }
    if kind == Sample::ToOrder {
        parties["endorsee"] = party_json("Shipper Exports Ltd", "SHIPPER");
    }
    let mut doc = json!({
        "transportDocumentReference": reference,
        "transportDocumentStatus": "ISSUED",
        "transportDocumentTypeCode": if kind == Sample::Waybill { "SWB" } else { "BOL" },
        "isShippedOnBoardType": true,
        "isToOrder": matches!(kind, Sample::ToOrder | Sample::Blank),
        "isElectronic": true,
        "receiptTypeAtOrigin": "CY",
        "deliveryTypeAtDestination": "CY",
        "cargoMovementTypeAtOrigin": "FCL",
        "cargoMovementTypeAtDestination": "FCL",
        "termsAndConditions": "Sample terms.",
        "carrierCode": "CARR",
        "carrierCodeListProvider": "SMDG",
        "issueDate": "2025-03-14",
        "shippedOnBoardDate": "2025-03-13",
        "invoicePayableAt": {"UNLocationCode": "CNSHA"},
        "partyContactDetails": [{"name": "Documentation desk", "email": "docs@carrier.example"}],
        "documentParties": parties,
        "transports": {
            "plannedDepartureDate": "2025-03-13",
            "plannedArrivalDate": "2025-04-18",
            "vesselVoyages": [{"vesselName": "Silkline Voyager", "carrierExportVoyageNumber": "2511W"}],
            "portOfLoading": {"UNLocationCode": "CNSHA"},
            "portOfDischarge": {"UNLocationCode": "NLRTM"}
        },
        "utilizedTransportEquipments": CONTAINERS.iter().map(|c| json!({
            "equipment": {"equipmentReference": c}, "isShipperOwned": false, "seals": [{"number": "SEAL1"}]
        })).collect::<Vec<_>>(),
        "consignmentItems": [{
            "carrierBookingReference": "BKG1",
            "descriptionOfGoods": ["Bicycles"],
            "HSCodes": ["871200"],
            "cargoItems": CONTAINERS.iter().map(|c| json!({
                "equipmentReference": c,
                "cargoGrossWeight": {"value": 1000.5, "unit": "KGM"},
                "outerPackaging": {"numberOfPackages": 10, "description": "Cartons"}
            })).collect::<Vec<_>>()
        }]
    });
    if kind != Sample::Waybill {
        doc["numberOfOriginalsWithCharges"] = json!(1);
    }
    doc
}

/// [`sample`] as a draft (`DRAFT`), for `PUBLISH_DRAFT`.
pub fn draft(reference: &str, kind: Sample) -> Value {
    let mut doc = sample(reference, kind);
    doc["transportDocumentStatus"] = json!("DRAFT");
    doc
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/documents")
}

/// An in-memory ledger: applies decisions, keeps the accepted commands and the events.
#[derive(Debug, Clone)]
pub struct World {
    pub engine: Engine,
    /// The parties on the network ([`directory`]).
    pub parties: BTreeMap<PartyCode, Role>,
    pub store: BTreeMap<DocumentKey, DocumentState>,
    pub events: Vec<Event>,
    pub accepted: Vec<(Actor, BlockTime, DocumentId, Command)>,
    pub time_ms: u64,
}

impl Default for World {
    fn default() -> Self {
        World {
            engine: Engine::standard(),
            parties: directory(),
            store: BTreeMap::new(),
            events: Vec::new(),
            accepted: Vec::new(),
            time_ms: 1_741_000_000_000,
        }
    }
}

impl World {
    /// Decides and, if accepted, commits. A refusal must change nothing.
    pub fn run(
        &mut self,
        actor: &Actor,
        id: &DocumentId,
        command: Command,
    ) -> Result<Decision, Refusal> {
        self.time_ms += 1_000;
        let time = BlockTime(self.time_ms);
        let before = self.store.clone();
        let outcome = self
            .engine
            .decide(&self.store, &self.parties, actor, time, id, &command);
        assert_eq!(before, self.store, "decide never mutates the store");
        if let Ok(decision) = &outcome {
            for (key, state) in &decision.changes {
                check_invariants(state).expect("accepted states hold the invariants");
                self.store.insert(key.clone(), state.clone());
            }
            self.events.extend(decision.events.iter().cloned());
            self.accepted
                .push((actor.clone(), time, id.clone(), command));
        }
        outcome
    }

    #[track_caller]
    pub fn ok(&mut self, actor: &Actor, id: &DocumentId, command: Command) -> Decision {
        let shown = format!("{command:?}");
        match self.run(actor, id, command) {
            Ok(decision) => decision,
            Err(refusal) => panic!(
                "{} {shown} refused: {refusal} ({})",
                actor.party,
                refusal.code()
            ),
        }
    }

    #[track_caller]
    pub fn refused(&mut self, actor: &Actor, id: &DocumentId, command: Command) -> Refusal {
        let shown = format!("{command:?}");
        match self.run(actor, id, command) {
            Ok(_) => panic!("{} {shown} was accepted", actor.party),
            Err(refusal) => refusal,
        }
    }

    pub fn bill(&self, id: &DocumentId) -> &DocumentState {
        &self.store[&DocumentKey::transport_document(id.clone())]
    }

    pub fn release(&self, id: &DocumentId) -> &DocumentState {
        &self.store[&DocumentKey::cargo_release(id.clone())]
    }

    /// The events of one document, as `EVENT_CODE by PARTY`.
    pub fn history(&self, key: &DocumentKey) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| &e.document == key)
            .map(|e| format!("{} by {}", e.kind.code(), e.actor))
            .collect()
    }

    pub fn root_hash(&self) -> StateHash {
        let hashes = self
            .store
            .iter()
            .map(|(k, s)| (k.clone(), s.state_hash()))
            .collect();
        fold_state_hashes(&hashes)
    }

    /// Issues a sample document of `kind` to `issue_to` directly.
    pub fn issue(&mut self, reference: &str, kind: Sample, issue_to: &Actor) -> DocumentId {
        let id = id(reference);
        self.ok(
            &carrier(),
            &id,
            Command::Issue {
                content: Some(sample(reference, kind)),
                issue_to: issue_to.party.clone(),
            },
        );
        id
    }
}
