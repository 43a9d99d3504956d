//! The scenarios of DOMAIN.md section 6 that are workflow matters (1-6), each as its own test,
//! plus the draft path, sea waybills and cargo-release edge cases.

use crate::common;

use common::*;
use doc_workflow::{
    AmendmentReason, Command, ContainerNumber, DocumentKey, EventKind, Mode, Replacement, Status,
};

fn containers(list: &[&str]) -> Vec<ContainerNumber> {
    list.iter()
        .map(|c| ContainerNumber::new(*c).unwrap())
        .collect()
}

/// Scenario 1: a to-order bill travels shipper -> bank -> consignee, is surrendered, accepted,
/// released to the port and gated out; the history shows every step in order.
#[test]
fn scenario_1_to_order_bill_from_issue_to_gate_out() {
    let mut w = World::default();
    let bl = w.issue("BL-S1", Sample::ToOrder, &shipper());
    assert_eq!(w.bill(&bl).mode, Some(Mode::ToOrder));
    assert_eq!(w.bill(&bl).endorsee, Some(party("SHIPPER")));

    w.ok(
        &shipper(),
        &bl,
        Command::EndorseToOrder { to: party("BANK") },
    );
    w.ok(&bank(), &bl, Command::Sign);
    w.ok(
        &bank(),
        &bl,
        Command::Endorse {
            to: party("CONSIGNEE"),
        },
    );
    let b = w.bill(&bl);
    assert_eq!(
        (b.possessor.clone(), b.endorsee.clone()),
        (Some(party("CONSIGNEE")), Some(party("CONSIGNEE")))
    );
    assert!(
        !b.endorsee_may_endorse,
        "after ENDORSE the recipient may not endorse further"
    );

    w.ok(&consignee(), &bl, Command::SurrenderForDelivery);
    assert_eq!(
        w.bill(&bl).possessor,
        Some(party("CARRIER")),
        "the carrier holds it while pending"
    );
    w.ok(&carrier(), &bl, Command::AcceptSurrender);
    assert_eq!(w.bill(&bl).status, Status::SurrenderedForDelivery);
    let bill_after_surrender = w.bill(&bl).clone();

    w.ok(
        &carrier(),
        &bl,
        Command::ReleaseCargo {
            port: party("PORT"),
        },
    );
    let done = w.ok(
        &port(),
        &bl,
        Command::GateOut {
            containers: containers(&CONTAINERS[..1]),
            haulier: None,
            truck: None,
        },
    );
    assert_eq!(
        w.release(&bl).status,
        Status::Released,
        "one container is still in the terminal"
    );
    assert!(matches!(
        done.events[0].kind,
        EventKind::GatedOut {
            completed: false,
            ..
        }
    ));
    w.ok(
        &port(),
        &bl,
        Command::GateOut {
            containers: containers(&CONTAINERS[1..]),
            haulier: None,
            truck: None,
        },
    );
    assert_eq!(w.release(&bl).status, Status::Completed);
    assert_eq!(
        w.bill(&bl),
        &bill_after_surrender,
        "releasing cargo never touches the bill"
    );

    assert_eq!(
        w.history(&DocumentKey::transport_document(bl.clone())),
        [
            "ISSUED by CARRIER",
            "ENDORSED by SHIPPER",
            "SIGNED by BANK",
            "ENDORSED by BANK",
            "SURRENDERED_FOR_DELIVERY by CONSIGNEE",
            "SURRENDER_ACCEPTED by CARRIER",
        ]
    );
    assert_eq!(
        w.history(&DocumentKey::cargo_release(bl.clone())),
        [
            "CARGO_RELEASED by CARRIER",
            "GATED_OUT by PORT",
            "GATED_OUT by PORT"
        ]
    );
    let sequences: Vec<u64> = w
        .events
        .iter()
        .filter(|e| e.document.class == doc_workflow::DocumentClass::TransportDocument)
        .map(|e| e.sequence)
        .collect();
    assert_eq!(sequences, [1, 2, 3, 4, 5, 6]);
    assert_eq!(w.bill(&bl).signatures.len(), 1);
}

/// Scenario 2: a bank that holds a straight bill but is not its consignee cannot surrender it;
/// the consignee can.
#[test]
fn scenario_2_straight_bill_only_shipper_or_consignee_surrenders() {
    let mut w = World::default();
    let bl = w.issue("BL-S2", Sample::Straight, &bank());
    let refusal = w.refused(&bank(), &bl, Command::SurrenderForDelivery);
    assert_eq!(refusal.code(), "NO_SURRENDER_RIGHT");
    assert_eq!(
        w.refused(&bank(), &bl, Command::Transfer { to: party("OTHER") })
            .code(),
        "RECIPIENT_NOT_CONSIGNEE_OR_CARRIER"
    );
    w.ok(
        &bank(),
        &bl,
        Command::Transfer {
            to: party("CONSIGNEE"),
        },
    );
    w.ok(&consignee(), &bl, Command::SurrenderForDelivery);
    assert_eq!(w.bill(&bl).status, Status::PendingSurrenderForDelivery);
}

/// Scenario 3: any possessor of a blank-endorsed bill may surrender it; ENDORSE is refused.
#[test]
fn scenario_3_blank_bill_possession_is_title() {
    let mut w = World::default();
    let bl = w.issue("BL-S3", Sample::Blank, &shipper());
    assert_eq!(
        (w.bill(&bl).mode, w.bill(&bl).endorsee.clone()),
        (Some(Mode::Blank), None)
    );
    assert_eq!(
        w.refused(&shipper(), &bl, Command::Endorse { to: party("BANK") })
            .code(),
        "WRONG_MODE"
    );
    w.ok(&shipper(), &bl, Command::Transfer { to: party("OTHER") });
    w.ok(&other(), &bl, Command::SurrenderForDelivery);
    w.ok(&carrier(), &bl, Command::AcceptSurrender);
    assert_eq!(w.bill(&bl).status, Status::SurrenderedForDelivery);
}

/// A to-order bill blank-endorsed by its endorsee becomes a blank bill.
#[test]
fn blank_endorsement_turns_a_to_order_bill_into_a_bearer_bill() {
    let mut w = World::default();
    let bl = w.issue("BL-BE", Sample::ToOrder, &shipper());
    w.ok(&shipper(), &bl, Command::BlankEndorse);
    assert_eq!(
        (w.bill(&bl).mode, w.bill(&bl).endorsee.clone()),
        (Some(Mode::Blank), None)
    );
    assert_eq!(
        w.refused(
            &shipper(),
            &bl,
            Command::EndorseToOrder { to: party("BANK") }
        )
        .code(),
        "WRONG_MODE"
    );
    w.ok(&shipper(), &bl, Command::Transfer { to: party("BANK") });
    w.ok(&bank(), &bl, Command::SurrenderForDelivery);
}

/// Scenario 4: the carrier rejects a surrender with a comment; the bill is ISSUED again and the
/// requester possesses it. Without a comment the rejection is refused.
#[test]
fn scenario_4_surrender_rejected_returns_possession_to_requester() {
    let mut w = World::default();
    let bl = w.issue("BL-S4", Sample::Straight, &consignee());
    w.ok(&consignee(), &bl, Command::SurrenderForDelivery);
    let refusal = w.refused(
        &carrier(),
        &bl,
        Command::RejectSurrender {
            comment: "  ".into(),
        },
    );
    assert_eq!(refusal.code(), "COMMENT_REQUIRED");
    w.ok(
        &carrier(),
        &bl,
        Command::RejectSurrender {
            comment: "freight unpaid".into(),
        },
    );
    let b = w.bill(&bl);
    assert_eq!(
        (b.status, b.possessor.clone(), b.surrender.clone()),
        (Status::Issued, Some(party("CONSIGNEE")), None)
    );
    assert_eq!(
        w.history(&DocumentKey::transport_document(bl.clone())),
        [
            "ISSUED by CARRIER",
            "SURRENDERED_FOR_DELIVERY by CONSIGNEE",
            "SURRENDER_REJECTED by CARRIER"
        ]
    );
    w.ok(&consignee(), &bl, Command::SurrenderForDelivery);
}

/// Scenario 5: surrender for amendment, accepted, voided with a replacement that links to the
/// old reference; every action on the voided bill is refused and leaves it unchanged.
#[test]
fn scenario_5_amendment_voids_and_reissues_with_links() {
    let mut w = World::default();
    let old = w.issue("BL-S5", Sample::Straight, &consignee());
    w.ok(
        &consignee(),
        &old,
        Command::SurrenderForAmendment {
            reason: AmendmentReason::ChangeOfDestination,
        },
    );
    assert_eq!(w.bill(&old).status, Status::PendingSurrenderForAmendment);
    w.ok(&carrier(), &old, Command::AcceptSurrender);
    assert_eq!(w.bill(&old).status, Status::SurrenderedForAmendment);

    let replacement = Replacement {
        content: sample("BL-S5-A1", Sample::Straight),
        issue_to: party("CONSIGNEE"),
    };
    let decision = w.ok(
        &carrier(),
        &old,
        Command::Void {
            replacement: Some(replacement),
        },
    );
    let new = id("BL-S5-A1");
    assert_eq!(decision.changes.len(), 2);
    assert!(
        decision.changes.windows(2).all(|p| p[0].0 < p[1].0),
        "changes are sorted by key"
    );
    assert_eq!(w.bill(&old).status, Status::Voided);
    assert_eq!(
        w.bill(&old).amended_by.as_ref().map(|r| r.as_str()),
        Some("BL-S5-A1")
    );
    let n = w.bill(&new);
    assert_eq!(
        (
            n.status,
            n.amends.as_ref().map(|r| r.as_str()),
            n.possessor.clone()
        ),
        (Status::Issued, Some("BL-S5"), Some(party("CONSIGNEE")))
    );
    assert!(
        matches!(&decision.events[1].kind, EventKind::Issued { amends: Some(r), .. } if r.as_str() == "BL-S5")
    );

    let voided = w.bill(&old).clone();
    for (actor, command) in [
        (consignee(), Command::SurrenderForDelivery),
        (carrier(), Command::AcceptSurrender),
        (carrier(), Command::Void { replacement: None }),
        (consignee(), Command::Sign),
        (
            carrier(),
            Command::Issue {
                content: None,
                issue_to: party("SHIPPER"),
            },
        ),
    ] {
        assert_eq!(w.refused(&actor, &old, command).code(), "TERMINAL_STATE");
    }
    assert_eq!(
        w.bill(&old),
        &voided,
        "a terminal bill stays byte-identical"
    );
    w.ok(&consignee(), &new, Command::SurrenderForDelivery);
}

#[test]
fn switch_to_paper_voids_without_replacement() {
    let mut w = World::default();
    let bl = w.issue("BL-PAPER", Sample::ToOrder, &shipper());
    w.ok(
        &shipper(),
        &bl,
        Command::SurrenderForAmendment {
            reason: AmendmentReason::SwitchToPaper,
        },
    );
    assert_eq!(
        w.bill(&bl)
            .surrender
            .as_ref()
            .and_then(|s| s.amendment_reason),
        Some(AmendmentReason::SwitchToPaper)
    );
    w.ok(&carrier(), &bl, Command::AcceptSurrender);
    let decision = w.ok(&carrier(), &bl, Command::Void { replacement: None });
    assert_eq!(decision.changes.len(), 1);
    assert!(matches!(
        decision.events[0].kind,
        EventKind::Voided { replaced_by: None }
    ));
}

#[test]
fn replacement_reusing_a_reference_is_refused() {
    let mut w = World::default();
    let taken = w.issue("BL-TAKEN", Sample::Straight, &consignee());
    let bl = w.issue("BL-R", Sample::Straight, &consignee());
    w.ok(
        &consignee(),
        &bl,
        Command::SurrenderForAmendment {
            reason: AmendmentReason::SwitchBill,
        },
    );
    w.ok(&carrier(), &bl, Command::AcceptSurrender);
    for reference in [taken.reference.as_str(), "BL-R"] {
        let replacement = Replacement {
            content: sample(reference, Sample::Straight),
            issue_to: party("CONSIGNEE"),
        };
        let refusal = w.refused(
            &carrier(),
            &bl,
            Command::Void {
                replacement: Some(replacement),
            },
        );
        assert_eq!(refusal.code(), "REFERENCE_ALREADY_USED", "{reference}");
    }
}

/// Scenario 6a: issuing a reference twice is refused, whatever state the first one is in.
#[test]
fn scenario_6_issuing_a_reference_twice_is_refused() {
    let mut w = World::default();
    let bl = w.issue("BL-S6", Sample::Straight, &consignee());
    let again = Command::Issue {
        content: Some(sample("BL-S6", Sample::Blank)),
        issue_to: party("SHIPPER"),
    };
    assert_eq!(
        w.refused(&carrier(), &bl, again).code(),
        "REFERENCE_ALREADY_USED"
    );
    let again_draft = Command::PublishDraft {
        content: draft("BL-S6", Sample::Straight),
    };
    assert_eq!(
        w.refused(&carrier(), &bl, again_draft).code(),
        "REFERENCE_ALREADY_USED"
    );
}

/// Scenario 6b: an action by a party that is not the possessor is refused.
#[test]
fn scenario_6_non_possessor_is_refused() {
    let mut w = World::default();
    let bl = w.issue("BL-S6B", Sample::Blank, &shipper());
    let refusal = w.refused(&other(), &bl, Command::Transfer { to: party("BANK") });
    assert_eq!(refusal.code(), "NOT_POSSESSOR");
    assert_eq!(
        refusal.to_string(),
        "only the possessor of TRANSPORT_DOCUMENT/CARRIER/BL-S6B may do this; OTHER does not possess it"
    );
}

/// Scenario 6c: a transfer to oneself is refused.
#[test]
fn scenario_6_transfer_to_self_is_refused() {
    let mut w = World::default();
    let bl = w.issue("BL-S6C", Sample::ToOrder, &shipper());
    assert_eq!(
        w.refused(
            &shipper(),
            &bl,
            Command::Transfer {
                to: party("SHIPPER")
            }
        )
        .code(),
        "TRANSFER_TO_SELF"
    );
    assert_eq!(
        w.refused(
            &shipper(),
            &bl,
            Command::EndorseToOrder {
                to: party("SHIPPER")
            }
        )
        .code(),
        "TRANSFER_TO_SELF"
    );
}

/// Scenario 6d: a rejection that is not the appointee's very next action is refused; as its
/// very next action it restores the previous possessor, endorsee and mode.
#[test]
fn scenario_6_rejection_only_as_the_appointees_next_action() {
    let mut w = World::default();
    let bl = w.issue("BL-S6D", Sample::ToOrder, &shipper());
    w.ok(&shipper(), &bl, Command::Endorse { to: party("BANK") });
    assert_eq!(
        w.refused(&other(), &bl, Command::RejectTransfer { reason: None })
            .code(),
        "NOT_APPOINTEE"
    );
    w.ok(&bank(), &bl, Command::Sign);
    let refusal = w.refused(&bank(), &bl, Command::RejectTransfer { reason: None });
    assert_eq!(refusal.code(), "REJECTION_NOT_NEXT_ACTION");

    let bl2 = w.issue("BL-S6D2", Sample::ToOrder, &shipper());
    let before = w.bill(&bl2).clone();
    w.ok(&shipper(), &bl2, Command::Endorse { to: party("BANK") });
    w.ok(
        &bank(),
        &bl2,
        Command::RejectTransfer {
            reason: Some("not our customer".into()),
        },
    );
    let after = w.bill(&bl2);
    assert_eq!(
        (
            &after.possessor,
            &after.endorsee,
            after.mode,
            after.endorsee_may_endorse,
            &after.pending_transfer
        ),
        (
            &before.possessor,
            &before.endorsee,
            before.mode,
            before.endorsee_may_endorse,
            &None
        )
    );
    assert_eq!(
        w.refused(&bank(), &bl2, Command::RejectTransfer { reason: None })
            .code(),
        "REJECTION_NOT_NEXT_ACTION"
    );
}

/// Another party acting in between also closes the appointee's window.
#[test]
fn any_committed_action_closes_the_rejection_window() {
    let mut w = World::default();
    let bl = w.issue("BL-WIN", Sample::Blank, &shipper());
    w.ok(&shipper(), &bl, Command::Transfer { to: party("BANK") });
    w.ok(&bank(), &bl, Command::Transfer { to: party("OTHER") });
    assert_eq!(
        w.refused(&bank(), &bl, Command::RejectTransfer { reason: None })
            .code(),
        "NOT_APPOINTEE"
    );
    w.ok(&other(), &bl, Command::RejectTransfer { reason: None });
    assert_eq!(w.bill(&bl).possessor, Some(party("BANK")));
}

#[test]
fn draft_approve_issue_uses_the_approved_content() {
    let mut w = World::default();
    let bl = id("BL-DRAFT");
    let content = draft("BL-DRAFT", Sample::ToOrder);
    w.ok(
        &carrier(),
        &bl,
        Command::PublishDraft {
            content: content.clone(),
        },
    );
    assert_eq!(
        w.refused(&consignee(), &bl, Command::ApproveDraft).code(),
        "NOT_SHIPPER"
    );
    assert_eq!(
        w.refused(
            &carrier(),
            &bl,
            Command::Issue {
                content: None,
                issue_to: party("SHIPPER")
            }
        )
        .code(),
        "ACTION_NOT_ALLOWED"
    );
    w.ok(&shipper(), &bl, Command::ApproveDraft);
    let with_content = Command::Issue {
        content: Some(content),
        issue_to: party("SHIPPER"),
    };
    assert_eq!(
        w.refused(&carrier(), &bl, with_content).code(),
        "CONTENT_ALREADY_APPROVED"
    );
    let approved_hash = w.bill(&bl).content.clone();
    w.ok(
        &carrier(),
        &bl,
        Command::Issue {
            content: None,
            issue_to: party("SHIPPER"),
        },
    );
    let b = w.bill(&bl);
    assert_eq!(
        (b.status, b.mode, b.possessor.clone(), b.content.clone()),
        (
            Status::Issued,
            Some(Mode::ToOrder),
            Some(party("SHIPPER")),
            approved_hash
        )
    );
    assert_eq!(
        w.history(&DocumentKey::transport_document(bl)),
        [
            "DRAFT_PUBLISHED by CARRIER",
            "DRAFT_APPROVED by SHIPPER",
            "ISSUED by CARRIER"
        ]
    );
}

#[test]
fn only_the_documents_own_carrier_issues() {
    let mut w = World::default();
    let command = Command::Issue {
        content: Some(sample("BL-X", Sample::Straight)),
        issue_to: party("SHIPPER"),
    };
    assert_eq!(
        w.refused(&other_carrier(), &id("BL-X"), command.clone())
            .code(),
        "NOT_CARRIER"
    );
    assert_eq!(
        w.refused(&shipper(), &id("BL-X"), command.clone()).code(),
        "MISSING_ROLE"
    );
    assert_eq!(
        w.refused(&observer(), &id("BL-X"), command).code(),
        "OBSERVER_CANNOT_WRITE"
    );
    assert_eq!(
        w.refused(
            &carrier(),
            &id("BL-Y"),
            Command::Issue {
                content: None,
                issue_to: party("SHIPPER")
            }
        )
        .code(),
        "DOCUMENT_NOT_FOUND"
    );
}

#[test]
fn content_for_another_reference_is_invalid() {
    let mut w = World::default();
    let command = Command::Issue {
        content: Some(sample("BL-OTHER", Sample::Straight)),
        issue_to: party("SHIPPER"),
    };
    let refusal = w.refused(&carrier(), &id("BL-THIS"), command);
    let doc_workflow::Refusal::InvalidContent { problems } = refusal else {
        panic!("{refusal:?}")
    };
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, "/transportDocumentReference");
}

#[test]
fn sea_waybill_is_released_while_issued_and_never_endorsed_or_surrendered() {
    let mut w = World::default();
    let swb = w.issue("SWB-1", Sample::Waybill, &shipper());
    assert_eq!(w.bill(&swb).mode, Some(Mode::Straight));
    for command in [
        Command::Endorse { to: party("BANK") },
        Command::Transfer {
            to: party("CONSIGNEE"),
        },
        Command::SurrenderForDelivery,
        Command::BlankEndorse,
    ] {
        assert_eq!(
            w.refused(&shipper(), &swb, command).code(),
            "ACTION_NOT_ALLOWED"
        );
    }
    w.ok(
        &carrier(),
        &swb,
        Command::ReleaseCargo {
            port: party("PORT"),
        },
    );
    assert_eq!(w.bill(&swb).status, Status::Issued);
    assert_eq!(
        w.refused(
            &carrier(),
            &swb,
            Command::ReleaseCargo {
                port: party("PORT")
            }
        )
        .code(),
        "ACTION_NOT_ALLOWED"
    );
}

#[test]
fn cargo_release_needs_a_delivered_bill_and_the_addressed_port() {
    let mut w = World::default();
    let bl = w.issue("BL-CR", Sample::Straight, &consignee());
    let release = Command::ReleaseCargo {
        port: party("PORT"),
    };
    assert_eq!(
        w.refused(&carrier(), &bl, release.clone()).code(),
        "BILL_NOT_DELIVERABLE"
    );
    assert_eq!(
        w.refused(&carrier(), &id("BL-NONE"), release.clone())
            .code(),
        "BILL_NOT_DELIVERABLE"
    );
    w.ok(&consignee(), &bl, Command::SurrenderForDelivery);
    assert_eq!(
        w.refused(&carrier(), &bl, release.clone()).code(),
        "BILL_NOT_DELIVERABLE"
    );
    w.ok(&carrier(), &bl, Command::AcceptSurrender);
    assert_eq!(
        w.refused(&port(), &bl, release.clone()).code(),
        "MISSING_ROLE"
    );
    w.ok(&carrier(), &bl, release);

    let gate = |list: &[&str]| Command::GateOut {
        containers: containers(list),
        haulier: None,
        truck: None,
    };
    assert_eq!(
        w.refused(
            &actor("PORT2", doc_workflow::Role::Port),
            &bl,
            gate(&CONTAINERS[..1])
        )
        .code(),
        "NOT_RELEASE_PORT"
    );
    assert_eq!(
        w.refused(&carrier(), &bl, gate(&CONTAINERS[..1])).code(),
        "MISSING_ROLE"
    );
    assert_eq!(w.refused(&port(), &bl, gate(&[])).code(), "NO_CONTAINERS");
    assert_eq!(
        w.refused(&port(), &bl, gate(&["CSQU3054383"])).code(),
        "CONTAINER_NOT_RELEASED"
    );
    assert_eq!(
        w.refused(&port(), &bl, gate(&[CONTAINERS[0], CONTAINERS[0]]))
            .code(),
        "CONTAINER_NAMED_TWICE"
    );
    w.ok(&port(), &bl, gate(&CONTAINERS));
    assert_eq!(
        w.refused(&port(), &bl, gate(&CONTAINERS[..1])).code(),
        "TERMINAL_STATE"
    );
    let r = w.release(&bl).release.clone().unwrap();
    assert_eq!(r.port_of_discharge, "NLRTM");
    assert!(r.all_gated_out());
}

#[test]
fn input_bounds_are_refusals() {
    let mut w = World::default();
    let bl = w.issue("BL-BOUND", Sample::Straight, &consignee());
    let long = "x".repeat(doc_workflow::command::COMMENT_CHARS_MAX + 1);
    assert_eq!(
        w.refused(&carrier(), &bl, Command::RejectSurrender { comment: long })
            .code(),
        "COMMENT_TOO_LONG"
    );
    for _ in 0..doc_workflow::engine::SIGNATURES_MAX {
        w.ok(&consignee(), &bl, Command::Sign);
    }
    assert_eq!(
        w.refused(&consignee(), &bl, Command::Sign).code(),
        "TOO_MANY_SIGNATURES"
    );
}

/// Scenario 8: title, possession and a cargo release go only to parties the network knows, and
/// a cargo release only to a port. Each refusal names the party and changes nothing.
#[test]
fn scenario_8_holders_are_parties_of_the_network_and_releases_go_to_ports() {
    let mut w = World::default();
    let id_nobody = id("BL-S8-0");
    let refusal = w.refused(
        &carrier(),
        &id_nobody,
        Command::Issue {
            content: Some(sample("BL-S8-0", Sample::Straight)),
            issue_to: nobody(),
        },
    );
    assert_eq!(refusal.code(), "UNKNOWN_PARTY");
    assert!(refusal.to_string().contains("NOBODY"), "{refusal}");
    assert!(w.store.is_empty(), "a refused issue creates nothing");

    // The endorsee a to-order bill takes from its content must be known too.
    let mut content = sample("BL-S8-1", Sample::ToOrder);
    content["documentParties"]["endorsee"]["identifyingCodes"][0]["partyCode"] =
        serde_json::json!("NOBODY");
    let refusal = w.refused(
        &carrier(),
        &id("BL-S8-1"),
        Command::Issue {
            content: Some(content),
            issue_to: party("SHIPPER"),
        },
    );
    assert_eq!(refusal.code(), "UNKNOWN_PARTY");

    let bl = w.issue("BL-S8-2", Sample::ToOrder, &shipper());
    let before = w.bill(&bl).clone();
    for command in [
        Command::Transfer { to: nobody() },
        Command::Endorse { to: nobody() },
        Command::EndorseToOrder { to: nobody() },
    ] {
        let refusal = w.refused(&shipper(), &bl, command);
        assert_eq!(refusal.code(), "UNKNOWN_PARTY", "{refusal}");
        assert_eq!(w.bill(&bl), &before, "a refusal changes nothing");
    }

    // Delivered: the cargo release goes to a port, never to a bank, a trader or nobody.
    w.ok(&shipper(), &bl, Command::SurrenderForDelivery);
    w.ok(&carrier(), &bl, Command::AcceptSurrender);
    for (to, code) in [
        (party("BANK"), "NOT_A_PORT"),
        (party("SHIPPER"), "NOT_A_PORT"),
        (nobody(), "UNKNOWN_PARTY"),
    ] {
        let refusal = w.refused(&carrier(), &bl, Command::ReleaseCargo { port: to });
        assert_eq!(refusal.code(), code, "{refusal}");
    }
    assert!(
        !w.store
            .contains_key(&DocumentKey::cargo_release(bl.clone())),
        "no release was created"
    );
    w.ok(
        &carrier(),
        &bl,
        Command::ReleaseCargo {
            port: party("PORT"),
        },
    );
    assert_eq!(w.release(&bl).status, Status::Released);
}
