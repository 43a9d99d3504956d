//! Container release rights (DOMAIN.md section 10): granted per container once the bill is
//! deliverable, one holder, a haulier nominated and re-nominated, conditions marked met, the
//! gate rule's every reason, and a right spent exactly once.

use crate::common;

use common::*;
use doc_workflow::{
    BlockTime, Command, ContainerNumber, DocumentId, EventKind, ReleaseCondition, RightStatus,
    Status,
};

fn c(number: &str) -> Vec<ContainerNumber> {
    vec![ContainerNumber::new(number).unwrap()]
}

fn gate(number: &str, haulier: Option<&str>, truck: Option<&str>) -> Command {
    Command::GateOut {
        containers: c(number),
        haulier: haulier.map(party),
        truck: truck.map(str::to_owned),
    }
}

/// A straight bill surrendered by the consignee and accepted: deliverable.
fn delivered(w: &mut World, reference: &str) -> DocumentId {
    let bl = w.issue(reference, Sample::Straight, &consignee());
    w.ok(&consignee(), &bl, Command::SurrenderForDelivery);
    w.ok(&carrier(), &bl, Command::AcceptSurrender);
    bl
}

fn release(containers: &[&str], until: Option<u64>, conditions: Vec<ReleaseCondition>) -> Command {
    Command::ReleaseContainers {
        containers: containers
            .iter()
            .map(|n| ContainerNumber::new(*n).unwrap())
            .collect(),
        to: party("CONSIGNEE"),
        terminal: party("PORT"),
        valid_from: None,
        valid_until: until.map(BlockTime),
        conditions,
    }
}

#[test]
fn the_whole_chain_from_release_to_a_single_gate_out() {
    let mut w = World::default();
    let [c1, c2] = CONTAINERS;
    let sw = w.issue("SWB-R1", Sample::Waybill, &consignee());
    // Before the bill is deliverable nothing is released: a bill of lading not surrendered.
    let bl = w.issue("BL-R0", Sample::Straight, &consignee());
    assert_eq!(
        w.refused(&carrier(), &bl, release(&[c1], None, vec![]))
            .code(),
        "BILL_NOT_DELIVERABLE"
    );

    // Two rights, one with a condition.
    w.ok(
        &carrier(),
        &sw,
        release(&[c1], None, vec![ReleaseCondition::FreightPaid]),
    );
    w.ok(&carrier(), &sw, release(&[c2], None, vec![]));
    assert_eq!(
        w.refused(&carrier(), &sw, release(&[c2], None, vec![]))
            .code(),
        "CONTAINER_ALREADY_RELEASED"
    );
    assert_eq!(
        w.refused(&carrier(), &sw, release(&["CSQU3054383"], None, vec![]))
            .code(),
        "CONTAINER_NOT_ON_BILL"
    );
    // Only the holder nominates; the haulier, then another one.
    let nominate = |haulier: &str, may: bool| Command::NominateHaulier {
        containers: c(c1),
        haulier: party(haulier),
        truck: Some("TRUCK-1".into()),
        haulier_may_renominate: may,
    };
    assert_eq!(
        w.refused(&bank(), &sw, nominate("HAULIER", true)).code(),
        "NOT_RIGHT_HOLDER"
    );
    w.ok(&consignee(), &sw, nominate("OTHER", false));
    w.ok(&consignee(), &sw, nominate("HAULIER", true));
    let truck = |t: &str| Command::NominateTruck {
        containers: c(c1),
        truck: t.into(),
    };
    assert_eq!(
        w.refused(&other(), &sw, truck("TRUCK-9")).code(),
        "NOT_NOMINATED_HAULIER"
    );
    w.ok(&haulier(), &sw, truck("TRUCK-2"));

    // The gate: conditions first, then who and which truck.
    assert_eq!(
        w.refused(&port(), &sw, gate(c1, None, Some("TRUCK-2")))
            .code(),
        "CONDITIONS_UNMET"
    );
    let met = Command::MarkConditionMet {
        containers: c(c1),
        condition: ReleaseCondition::FreightPaid,
    };
    assert_eq!(
        w.refused(&port(), &sw, met.clone()).code(),
        "MAY_NOT_MARK_CONDITION"
    );
    w.ok(&carrier(), &sw, met);
    assert_eq!(
        w.refused(&port(), &sw, gate(c1, Some("OTHER"), Some("TRUCK-2")))
            .code(),
        "WRONG_HAULIER"
    );
    assert_eq!(
        w.refused(&port(), &sw, gate(c1, None, Some("TRUCK-1")))
            .code(),
        "WRONG_TRUCK"
    );
    let right = &w.release(&sw).release.as_ref().unwrap().rights[&c(c1)[0]];
    assert_eq!(
        right.may_collect(&party("HAULIER"), Some("TRUCK-2"), BlockTime(w.time_ms + 1)),
        Ok(())
    );
    w.ok(&port(), &sw, gate(c1, Some("HAULIER"), Some("TRUCK-2")));
    assert_eq!(
        w.refused(&port(), &sw, gate(c1, Some("HAULIER"), Some("TRUCK-2")))
            .code(),
        "CONTAINER_ALREADY_GATED_OUT"
    );
    // Nothing follows collection: no nomination, no revocation.
    assert_eq!(
        w.refused(&consignee(), &sw, nominate("OTHER", false))
            .code(),
        "CONTAINER_ALREADY_GATED_OUT"
    );
    let right = &w.release(&sw).release.as_ref().unwrap().rights[&c(c1)[0]];
    assert_eq!(right.status, RightStatus::Collected);
    assert_eq!(right.collected.as_ref().unwrap().by, party("HAULIER"));
    assert_eq!(w.release(&sw).status, Status::Released);

    // The second container: no haulier nominated, the holder's own truck.
    w.ok(&port(), &sw, gate(c2, None, None));
    assert_eq!(w.release(&sw).status, Status::Completed);
    let codes: Vec<_> = w
        .events
        .iter()
        .filter(|e| e.document.class == doc_workflow::DocumentClass::CargoRelease)
        .map(|e| e.kind.code())
        .collect();
    assert_eq!(
        codes,
        [
            "CARGO_RELEASED",
            "CARGO_RELEASED",
            "HAULIER_NOMINATED",
            "HAULIER_NOMINATED",
            "TRUCK_NOMINATED",
            "CONDITION_MET",
            "GATED_OUT",
            "GATED_OUT"
        ]
    );
}

#[test]
fn an_expired_or_revoked_right_does_not_open_the_gate() {
    let mut w = World::default();
    let [c1, c2] = CONTAINERS;
    let bl = delivered(&mut w, "BL-R2");
    let until = w.time_ms + 2_500;
    assert_eq!(
        w.refused(&carrier(), &bl, release(&[c1], Some(w.time_ms), vec![]))
            .code(),
        "INVALID_VALIDITY_WINDOW"
    );
    w.ok(&carrier(), &bl, release(&[c1], Some(until), vec![]));
    w.ok(&carrier(), &bl, release(&[c2], None, vec![]));
    // Each step is one second: the window is over two steps later.
    w.refused(&observer(), &bl, Command::Sign);
    assert_eq!(
        w.refused(&port(), &bl, gate(c1, None, None)).code(),
        "RELEASE_EXPIRED"
    );
    let nominate = Command::NominateHaulier {
        containers: c(c1),
        haulier: party("HAULIER"),
        truck: None,
        haulier_may_renominate: false,
    };
    assert_eq!(
        w.refused(&consignee(), &bl, nominate).code(),
        "RELEASE_EXPIRED"
    );

    let revoke = |reason: &str| Command::RevokeRelease {
        containers: c(c2),
        reason: reason.into(),
    };
    assert_eq!(
        w.refused(&carrier(), &bl, revoke(" ")).code(),
        "COMMENT_REQUIRED"
    );
    assert_eq!(
        w.refused(&consignee(), &bl, revoke("no")).code(),
        "MISSING_ROLE"
    );
    let decision = w.ok(&carrier(), &bl, revoke("released to the wrong party"));
    assert!(matches!(
        &decision.events[0].kind,
        EventKind::ReleaseRevoked { terminals, .. } if terminals == &[party("PORT")]
    ));
    assert_eq!(
        w.refused(&port(), &bl, gate(c2, None, None)).code(),
        "RELEASE_REVOKED"
    );
    assert_eq!(
        w.refused(&carrier(), &bl, revoke("again")).code(),
        "RELEASE_REVOKED"
    );
    // A revoked right may be granted again, to the right party.
    w.ok(&carrier(), &bl, release(&[c2], None, vec![]));
    w.ok(&port(), &bl, gate(c2, None, None));
}

#[test]
fn rights_go_only_to_known_parties_and_terminals_that_are_ports() {
    let mut w = World::default();
    let bl = delivered(&mut w, "BL-R3");
    let mut to_bank = release(&CONTAINERS[..1], None, vec![]);
    if let Command::ReleaseContainers { terminal, .. } = &mut to_bank {
        *terminal = party("BANK");
    }
    assert_eq!(w.refused(&carrier(), &bl, to_bank).code(), "NOT_A_PORT");
    let mut to_nobody = release(&CONTAINERS[..1], None, vec![]);
    if let Command::ReleaseContainers { to, .. } = &mut to_nobody {
        *to = nobody();
    }
    assert_eq!(
        w.refused(&carrier(), &bl, to_nobody).code(),
        "UNKNOWN_PARTY"
    );
    w.ok(&carrier(), &bl, release(&CONTAINERS[..1], None, vec![]));
    let nominate = Command::NominateHaulier {
        containers: c(CONTAINERS[0]),
        haulier: nobody(),
        truck: None,
        haulier_may_renominate: false,
    };
    assert_eq!(
        w.refused(&consignee(), &bl, nominate).code(),
        "UNKNOWN_PARTY"
    );
    // The terminal may mark customs clearance only, and only where the condition was set.
    let customs = Command::MarkConditionMet {
        containers: c(CONTAINERS[0]),
        condition: ReleaseCondition::CustomsCleared,
    };
    assert_eq!(
        w.refused(&port(), &bl, customs).code(),
        "CONDITION_NOT_REQUIRED"
    );
    // The gate check for a container without a right: not released.
    assert_eq!(
        w.refused(&port(), &bl, gate(CONTAINERS[1], None, None))
            .code(),
        "CONTAINER_NOT_RELEASED"
    );
}
