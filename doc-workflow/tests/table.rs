//! Table-driven: every action by every actor relation in every state, with the exact outcome.
//! A refusal must leave the store unchanged (checked by `World::run` for every cell).
//!
//! Columns are the actor's relation to the document in that state; `-` marks a relation the
//! state does not have. Cells are `ok` or a refusal's short name from `LEGEND`.

use crate::common;

use common::*;
use doc_workflow::{
    Action, AmendmentReason, Command, ContainerNumber, DocumentId, ReleaseCondition, Role,
};

const LEGEND: &[(&str, &str)] = &[
    ("NF", "DOCUMENT_NOT_FOUND"),
    ("RU", "REFERENCE_ALREADY_USED"),
    ("TS", "TERMINAL_STATE"),
    ("NA", "ACTION_NOT_ALLOWED"),
    ("OBS", "OBSERVER_CANNOT_WRITE"),
    ("ROLE", "MISSING_ROLE"),
    ("NC", "NOT_CARRIER"),
    ("NP", "NOT_POSSESSOR"),
    ("NE", "NOT_ENDORSEE"),
    ("NS", "NOT_SHIPPER"),
    ("NAP", "NOT_APPOINTEE"),
    ("RNN", "REJECTION_NOT_NEXT_ACTION"),
    ("SELF", "TRANSFER_TO_SELF"),
    ("RCC", "RECIPIENT_NOT_CONSIGNEE_OR_CARRIER"),
    ("MODE", "WRONG_MODE"),
    ("EME", "ENDORSEE_MAY_NOT_ENDORSE"),
    ("NSR", "NO_SURRENDER_RIGHT"),
    ("CAA", "CONTENT_ALREADY_APPROVED"),
    ("CR", "COMMENT_REQUIRED"),
    ("BND", "BILL_NOT_DELIVERABLE"),
    ("NRP", "NOT_RELEASE_PORT"),
    ("CAR", "CONTAINER_ALREADY_RELEASED"),
    ("NRH", "NOT_RIGHT_HOLDER"),
    ("NNH", "NOT_NOMINATED_HAULIER"),
    ("CNR", "CONDITION_NOT_REQUIRED"),
    ("MNC", "MAY_NOT_MARK_CONDITION"),
];

const RELATIONS: [&str; 9] = [
    "carrier",
    "possessor",
    "endorsee",
    "appointee",
    "shipper",
    "consignee",
    "port",
    "observer",
    "other",
];

/// The worlds the table runs in, each built by a short accepted history.
fn state(name: &str) -> (World, DocumentId) {
    let mut w = World::default();
    let holder = holder();
    let reference = "T-1";
    let id = id(reference);
    let issue = |w: &mut World, kind, to: &doc_workflow::Actor| {
        w.issue(reference, kind, to);
    };
    match name {
        "NONE" => {}
        "DRAFT" | "APPROVED" => {
            w.ok(
                &carrier(),
                &id,
                Command::PublishDraft {
                    content: draft(reference, Sample::Straight),
                },
            );
            if name == "APPROVED" {
                w.ok(&shipper(), &id, Command::ApproveDraft);
            }
        }
        // Straight, issued to a bank: possessor BANK, shipper SHIPPER, consignee CONSIGNEE.
        "ISSUED_STRAIGHT" => issue(&mut w, Sample::Straight, &bank()),
        // To order: endorsee HOLDER, possession just transferred to BANK (the appointee).
        "ISSUED_TO_ORDER_APPOINTED" => {
            issue(&mut w, Sample::ToOrder, &shipper());
            w.ok(
                &shipper(),
                &id,
                Command::EndorseToOrder {
                    to: holder.party.clone(),
                },
            );
            w.ok(&holder, &id, Command::Transfer { to: party("BANK") });
        }
        // To order: HOLDER is endorsee and possessor and may endorse.
        "ISSUED_TO_ORDER" => {
            issue(&mut w, Sample::ToOrder, &shipper());
            w.ok(
                &shipper(),
                &id,
                Command::EndorseToOrder {
                    to: holder.party.clone(),
                },
            );
            w.ok(&holder, &id, Command::Sign);
        }
        // To order: HOLDER received by ENDORSE and may not endorse further.
        "ISSUED_ENDORSED" => {
            issue(&mut w, Sample::ToOrder, &shipper());
            w.ok(
                &shipper(),
                &id,
                Command::Endorse {
                    to: holder.party.clone(),
                },
            );
            w.ok(&holder, &id, Command::Sign);
        }
        // Blank: BANK possesses.
        "ISSUED_BLANK" => {
            issue(&mut w, Sample::Blank, &shipper());
            w.ok(&shipper(), &id, Command::Transfer { to: party("BANK") });
            w.ok(&bank(), &id, Command::Sign);
        }
        "PENDING_SURRENDER_FOR_DELIVERY"
        | "SURRENDERED_FOR_DELIVERY"
        | "RELEASED"
        | "COMPLETED" => {
            issue(&mut w, Sample::Straight, &consignee());
            w.ok(&consignee(), &id, Command::SurrenderForDelivery);
            if name != "PENDING_SURRENDER_FOR_DELIVERY" {
                w.ok(&carrier(), &id, Command::AcceptSurrender);
            }
            if name == "RELEASED" || name == "COMPLETED" {
                w.ok(
                    &carrier(),
                    &id,
                    Command::ReleaseCargo {
                        port: party("PORT"),
                    },
                );
            }
            if name == "COMPLETED" {
                let all = CONTAINERS
                    .iter()
                    .map(|c| ContainerNumber::new(*c).unwrap())
                    .collect();
                w.ok(
                    &port(),
                    &id,
                    Command::GateOut {
                        containers: all,
                        haulier: None,
                        truck: None,
                    },
                );
            }
        }
        "PENDING_SURRENDER_FOR_AMENDMENT" | "SURRENDERED_FOR_AMENDMENT" | "VOIDED" => {
            issue(&mut w, Sample::Straight, &consignee());
            w.ok(
                &consignee(),
                &id,
                Command::SurrenderForAmendment {
                    reason: AmendmentReason::SwitchBill,
                },
            );
            if name != "PENDING_SURRENDER_FOR_AMENDMENT" {
                w.ok(&carrier(), &id, Command::AcceptSurrender);
            }
            if name == "VOIDED" {
                w.ok(&carrier(), &id, Command::Void { replacement: None });
            }
        }
        // Sea waybill issued to BANK.
        "SWB_ISSUED" => issue(&mut w, Sample::Waybill, &bank()),
        other => panic!("unknown table state {other}"),
    }
    (w, id)
}

/// The actor standing in `relation` to the document, if the state has one.
fn relation_actor(w: &World, id: &DocumentId, relation: &str) -> Option<doc_workflow::Actor> {
    let doc = w
        .store
        .get(&doc_workflow::DocumentKey::transport_document(id.clone()));
    let trader = |p: Option<&doc_workflow::PartyCode>| {
        p.map(|p| {
            let role = match p.as_str() {
                "CARRIER" => Role::Carrier,
                "BANK" => Role::Bank,
                _ => Role::Trader,
            };
            actor(p.as_str(), role)
        })
    };
    match relation {
        "carrier" => Some(carrier()),
        "possessor" => trader(doc.and_then(|d| d.possessor.as_ref())),
        "endorsee" => trader(doc.and_then(|d| d.endorsee.as_ref())),
        "appointee" => trader(
            doc.and_then(|d| d.pending_transfer.as_ref())
                .map(|p| &p.appointee),
        ),
        "shipper" => Some(shipper()),
        "consignee" => Some(consignee()),
        "port" => Some(port()),
        "observer" => Some(observer()),
        "other" => Some(other()),
        _ => unreachable!(),
    }
}

fn command(action: Action, id: &DocumentId) -> Command {
    let content = || sample(id.reference.as_str(), Sample::Straight);
    match action {
        Action::PublishDraft => Command::PublishDraft {
            content: draft(id.reference.as_str(), Sample::Straight),
        },
        Action::ApproveDraft => Command::ApproveDraft,
        Action::Issue => Command::Issue {
            content: Some(content()),
            issue_to: party("SHIPPER"),
        },
        Action::Transfer => Command::Transfer {
            to: party("CONSIGNEE"),
        },
        Action::Endorse => Command::Endorse {
            to: party("CONSIGNEE"),
        },
        Action::EndorseToOrder => Command::EndorseToOrder {
            to: party("CONSIGNEE"),
        },
        Action::BlankEndorse => Command::BlankEndorse,
        Action::Sign => Command::Sign,
        Action::RejectTransfer => Command::RejectTransfer { reason: None },
        Action::SurrenderForDelivery => Command::SurrenderForDelivery,
        Action::SurrenderForAmendment => Command::SurrenderForAmendment {
            reason: AmendmentReason::SwitchToPaper,
        },
        Action::AcceptSurrender => Command::AcceptSurrender,
        Action::RejectSurrender => Command::RejectSurrender {
            comment: "documents incomplete".into(),
        },
        Action::Void => Command::Void { replacement: None },
        Action::ReleaseCargo => Command::ReleaseCargo {
            port: party("PORT"),
        },
        Action::ReleaseContainers => Command::ReleaseContainers {
            containers: vec![ContainerNumber::new(CONTAINERS[1]).unwrap()],
            to: party("CONSIGNEE"),
            terminal: party("PORT"),
            valid_from: None,
            valid_until: None,
            conditions: vec![],
        },
        Action::NominateHaulier => Command::NominateHaulier {
            containers: vec![ContainerNumber::new(CONTAINERS[0]).unwrap()],
            haulier: party("HAULIER"),
            truck: None,
            haulier_may_renominate: false,
        },
        Action::NominateTruck => Command::NominateTruck {
            containers: vec![ContainerNumber::new(CONTAINERS[0]).unwrap()],
            truck: "TRUCK-1".into(),
        },
        Action::MarkConditionMet => Command::MarkConditionMet {
            containers: vec![ContainerNumber::new(CONTAINERS[0]).unwrap()],
            condition: ReleaseCondition::CustomsCleared,
        },
        Action::RevokeRelease => Command::RevokeRelease {
            containers: vec![ContainerNumber::new(CONTAINERS[0]).unwrap()],
            reason: "wrong consignee".into(),
        },
        Action::GateOut => Command::GateOut {
            containers: vec![ContainerNumber::new(CONTAINERS[0]).unwrap()],
            haulier: None,
            truck: None,
        },
    }
}

fn short(code: &str) -> &str {
    LEGEND
        .iter()
        .find(|(_, full)| *full == code)
        .map_or(code, |(s, _)| s)
}

/// The outcome of every cell of one state's table, by action (in `Action::ALL` order).
fn outcomes(name: &str) -> Vec<[String; 9]> {
    let (w, id) = state(name);
    Action::ALL
        .iter()
        .map(|action| {
            RELATIONS.map(|relation| match relation_actor(&w, &id, relation) {
                None => "-".to_owned(),
                Some(actor) => {
                    let mut world = w.clone();
                    match world.run(&actor, &id, command(*action, &id)) {
                        Ok(_) => "ok".to_owned(),
                        Err(refusal) => {
                            assert_eq!(world.store, w.store, "a refusal changes nothing");
                            short(refusal.code()).to_owned()
                        }
                    }
                }
            })
        })
        .collect()
}

include!("data/table.rs");

/// The outcomes of one state in the layout of `data/table.rs`, to paste after reviewing a change.
fn render(name: &str) -> String {
    let mut out = format!("    (\"{name}\", &[\n");
    for (action, row) in Action::ALL.iter().zip(outcomes(name)) {
        let cells: Vec<String> = row
            .iter()
            .map(|c| format!("{:>5}", format!("\"{c}\"")))
            .collect();
        out += &format!(
            "        /* {:<23} */ [{}],\n",
            action.code(),
            cells.join(", ")
        );
    }
    out + "    ]),\n"
}

#[test]
fn every_action_by_every_relation_in_every_state() {
    let mut mismatches = Vec::new();
    for (name, rows) in TABLE {
        assert_eq!(rows.len(), Action::ALL.len(), "{name}: one row per action");
        let actual = outcomes(name);
        let differs = rows
            .iter()
            .zip(&actual)
            .any(|(expected, got)| expected.iter().zip(got).any(|(e, g)| e != g));
        if differs {
            mismatches.push(render(name));
        }
    }
    assert!(
        mismatches.is_empty(),
        "outcomes differ from data/table.rs; now:\n{}",
        mismatches.concat()
    );
}

#[test]
fn the_table_covers_every_state_of_every_definition() {
    let names: Vec<&str> = TABLE.iter().map(|(name, _)| *name).collect();
    let engine = doc_workflow::Engine::standard();
    for kind in doc_workflow::DocumentKind::ALL {
        for status in &engine.definition(kind).unwrap().states {
            let covered = names
                .iter()
                .any(|n| n.ends_with(status.code()) || n.starts_with(status.code()));
            assert!(covered, "{kind} {status} has no row in the table");
        }
    }
}
