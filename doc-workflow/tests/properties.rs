//! Property tests: random command sequences by random actors. Each failure prints a minimal
//! sequence (proptest shrinks it) and reproduces from the seed proptest records.

use crate::common;

use std::collections::BTreeMap;

use common::*;
use doc_workflow::{
    Action, Actor, AmendmentReason, BlockTime, Command, ContainerNumber, DocumentId, DocumentKey,
    DocumentState, Engine, PartyCode, PartyDirectory, ReleaseCondition, ReleaseRight, Replacement,
    RightStatus, Role, check_invariants,
};
use proptest::prelude::*;

const REFERENCES: [&str; 2] = ["P-1", "P-2"];

fn cast() -> Vec<Actor> {
    vec![
        carrier(),
        shipper(),
        consignee(),
        bank(),
        port(),
        other(),
        observer(),
        other_carrier(),
        haulier(),
    ]
}

/// Whom a step may name: the cast, then a party the network does not know (the last index).
fn recipients() -> Vec<PartyCode> {
    let mut all: Vec<PartyCode> = cast().into_iter().map(|a| a.party).collect();
    all.push(nobody());
    all
}

/// One random step: who acts, on which document, doing what, to whom, with which variant.
#[derive(Debug, Clone)]
struct Step {
    actor: usize,
    document: usize,
    action: usize,
    recipient: usize,
    variant: usize,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0..9usize,
        0..REFERENCES.len(),
        0..Action::ALL.len(),
        0..10usize,
        0..4usize,
    )
        .prop_map(|(actor, document, action, recipient, variant)| Step {
            actor,
            document,
            action,
            recipient,
            variant,
        })
}

/// Up to 39 random steps; `prefixed` puts them after scripted lifecycles so they start deep.
fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(step(), 1..40)
}

/// `now_ms` is the time of the block before the step's: windows are set relative to it so that
/// some rights expire, or are not valid yet, while the walk goes on (each step is one second).
fn command(step: &Step, replacements: &mut usize, now_ms: u64) -> Command {
    let reference = REFERENCES[step.document];
    let to = recipients()[step.recipient].clone();
    let kind = [
        Sample::Straight,
        Sample::ToOrder,
        Sample::Blank,
        Sample::Waybill,
    ][step.variant];
    // A to-order bill issued to nobody also names nobody as its endorsee in the content, so
    // that the endorsee a document takes from its content is tried with an unknown party too.
    let sample = |reference: &str, kind: Sample| {
        let mut content = sample(reference, kind);
        if to == nobody() && kind == Sample::ToOrder {
            content["documentParties"]["endorsee"]["identifyingCodes"][0]["partyCode"] =
                serde_json::json!(nobody().as_str());
        }
        content
    };
    // The first container, both, or the second alone: so that a step can reach the second
    // container's right when the first is already spent.
    let containers = || {
        let named: &[&str] = match step.variant {
            0 => &CONTAINERS[..1],
            1 => &CONTAINERS,
            _ => &CONTAINERS[1..],
        };
        named
            .iter()
            .map(|c| ContainerNumber::new(*c).unwrap())
            .collect()
    };
    match Action::ALL[step.action] {
        Action::PublishDraft => Command::PublishDraft {
            content: draft(reference, kind),
        },
        Action::ApproveDraft => Command::ApproveDraft,
        // Without content it issues an approved draft.
        Action::Issue if step.variant == 0 && step.recipient % 2 == 1 => Command::Issue {
            content: None,
            issue_to: to,
        },
        Action::Issue => Command::Issue {
            content: Some(sample(reference, kind)),
            issue_to: to,
        },
        Action::Transfer => Command::Transfer { to },
        Action::Endorse => Command::Endorse { to },
        Action::EndorseToOrder => Command::EndorseToOrder { to },
        Action::BlankEndorse => Command::BlankEndorse,
        Action::Sign => Command::Sign,
        Action::RejectTransfer => Command::RejectTransfer { reason: None },
        Action::SurrenderForDelivery => Command::SurrenderForDelivery,
        Action::SurrenderForAmendment => Command::SurrenderForAmendment {
            reason: AmendmentReason::ChangeOfDestination,
        },
        Action::AcceptSurrender => Command::AcceptSurrender,
        Action::RejectSurrender => Command::RejectSurrender {
            comment: ["", "no"][step.variant % 2].into(),
        },
        Action::Void if step.variant < 2 => Command::Void { replacement: None },
        Action::Void => {
            *replacements += 1;
            let new_ref = format!("R-{replacements}");
            Command::Void {
                replacement: Some(Replacement {
                    content: sample(&new_ref, kind),
                    issue_to: to,
                }),
            }
        }
        Action::ReleaseCargo => Command::ReleaseCargo { port: to },
        Action::ReleaseContainers => Command::ReleaseContainers {
            containers: containers(),
            to: [consignee().party, bank().party][step.recipient % 2].clone(),
            terminal: to,
            valid_from: (step.variant == 3).then_some(BlockTime(now_ms + 3_000)),
            valid_until: (step.variant == 1).then_some(BlockTime(now_ms + 4_000)),
            conditions: match step.variant {
                2 => vec![ReleaseCondition::FreightPaid],
                3 => vec![ReleaseCondition::CustomsCleared],
                _ => vec![],
            },
        },
        Action::NominateHaulier => Command::NominateHaulier {
            containers: containers(),
            haulier: to,
            truck: (step.variant >= 2).then(|| "TRUCK-1".to_owned()),
            haulier_may_renominate: step.variant == 3,
        },
        Action::NominateTruck => Command::NominateTruck {
            containers: containers(),
            truck: ["TRUCK-1", "TRUCK-2"][step.variant % 2].to_owned(),
        },
        Action::MarkConditionMet => Command::MarkConditionMet {
            containers: containers(),
            condition: ReleaseCondition::ALL[step.variant % 2],
        },
        Action::RevokeRelease => Command::RevokeRelease {
            containers: containers(),
            reason: ["", "wrong consignee"][step.variant % 2].into(),
        },
        Action::GateOut => Command::GateOut {
            containers: containers(),
            haulier: (step.variant >= 2).then_some(to),
            truck: (step.variant == 3).then(|| "TRUCK-1".to_owned()),
        },
    }
}

/// Runs the steps, checking the per-step properties; returns the world.
fn run(steps: &[Step]) -> Result<World, TestCaseError> {
    let mut w = World::default();
    let mut replacements = 0;
    let mut terminal: BTreeMap<DocumentKey, DocumentState> = BTreeMap::new();
    // How many accepted gate-outs named each container of each bill: a right is spent once.
    let mut gate_outs: BTreeMap<(DocumentId, ContainerNumber), usize> = BTreeMap::new();
    // Each collection, as first recorded: a spent right never changes again.
    let mut collected: BTreeMap<(DocumentKey, ContainerNumber), ReleaseRight> = BTreeMap::new();
    let cast = cast();
    for step in steps {
        let actor = &cast[step.actor];
        let id = id(REFERENCES[step.document]);
        let command = command(step, &mut replacements, w.time_ms);
        let before = w.store.clone();
        let outcome = w.run(actor, &id, command.clone());
        if outcome.is_err() {
            prop_assert_eq!(&before, &w.store, "a refusal changes nothing");
        }
        if let (
            Ok(_),
            Command::GateOut {
                containers,
                haulier,
                truck,
            },
        ) = (&outcome, &command)
        {
            check_gate_out(
                &before,
                actor,
                &id,
                containers,
                haulier.as_ref(),
                truck.as_deref(),
                BlockTime(w.time_ms),
            )?;
            for container in containers {
                let spent = gate_outs
                    .entry((id.clone(), container.clone()))
                    .or_insert(0usize);
                *spent += 1;
                prop_assert_eq!(*spent, 1, "{} gated out twice on {}", container, &id);
            }
        }
        for (key, state) in &w.store {
            prop_assert!(
                check_invariants(state).is_ok(),
                "{:?}",
                check_invariants(state)
            );
            // No reachable state hands a document to a party the network does not know, nor a
            // cargo release to a party that is not a port (DOMAIN.md section 6, scenario 8).
            for holder in [&state.possessor, &state.endorsee].into_iter().flatten() {
                prop_assert!(
                    w.parties.role_of(holder).is_some(),
                    "{} is held by {}, a party the network does not know",
                    key,
                    holder
                );
            }
            if let Some(release) = &state.release {
                for (container, right) in &release.rights {
                    prop_assert_eq!(
                        w.parties.role_of(&right.terminal),
                        Some(Role::Port),
                        "{} {} is released at {}, not a port",
                        key,
                        container,
                        &right.terminal
                    );
                    for party in [Some(&right.holder), right.haulier.as_ref()]
                        .into_iter()
                        .flatten()
                    {
                        prop_assert!(
                            w.parties.role_of(party).is_some(),
                            "{} {} names {}, a party the network does not know",
                            key,
                            container,
                            party
                        );
                    }
                    if right.status == RightStatus::Collected {
                        let first = collected
                            .entry((key.clone(), container.clone()))
                            .or_insert_with(|| right.clone());
                        prop_assert_eq!(&*first, right, "a spent right never changes");
                    }
                }
            }
            let definition = w.engine.definition(state.kind).unwrap();
            if definition.is_terminal(state.status) {
                terminal.entry(key.clone()).or_insert_with(|| state.clone());
            }
        }
        for (key, frozen) in &terminal {
            prop_assert_eq!(
                Some(frozen),
                w.store.get(key),
                "terminal states stay byte-identical"
            );
        }
    }
    Ok(w)
}

/// No container leaves without a valid right: each container an accepted gate-out named had, in
/// the state before it, a right of this terminal that was neither spent nor withdrawn, inside its
/// window, with every condition met, for the presenting haulier and truck. Stated here from the
/// right's fields, independently of the engine's `may_collect`.
fn check_gate_out(
    before: &BTreeMap<DocumentKey, DocumentState>,
    actor: &Actor,
    id: &DocumentId,
    containers: &[ContainerNumber],
    haulier: Option<&PartyCode>,
    truck: Option<&str>,
    at: BlockTime,
) -> Result<(), TestCaseError> {
    let release = before
        .get(&DocumentKey::cargo_release(id.clone()))
        .and_then(|d| d.release.as_ref());
    prop_assert!(release.is_some(), "a gate-out without a cargo release");
    for container in containers {
        let right = release.unwrap().rights.get(container);
        prop_assert!(right.is_some(), "{} left without a right", container);
        let right = right.unwrap();
        prop_assert_eq!(right.status, RightStatus::Released);
        prop_assert_eq!(&right.terminal, &actor.party);
        prop_assert!(
            right.valid_from.is_none_or(|f| f <= at),
            "left before its window"
        );
        prop_assert!(
            right.valid_until.is_none_or(|u| at <= u),
            "left after its window"
        );
        prop_assert!(
            right.conditions.values().all(Option::is_some),
            "left with conditions unmet"
        );
        let collector = right.haulier.as_ref().unwrap_or(&right.holder);
        prop_assert_eq!(
            haulier.unwrap_or(collector),
            collector,
            "left with another haulier"
        );
        if let Some(nominated) = &right.truck {
            prop_assert_eq!(truck, Some(nominated.as_str()), "left on another truck");
        }
    }
    Ok(())
}

/// Scripted prefixes that reach deep states, so random suffixes explore past them.
fn prefixed(prefix: usize, mut tail: Vec<Step>) -> Vec<Step> {
    let s = |actor, action: Action, recipient, variant| Step {
        actor,
        document: 0,
        action: Action::ALL.iter().position(|a| *a == action).unwrap(),
        recipient,
        variant,
    };
    // Cast indices: 0 carrier, 1 shipper, 2 consignee, 3 bank, 4 port, 5 other, 8 haulier.
    let mut steps = match prefix {
        0 => vec![],
        1 => vec![
            s(0, Action::Issue, 1, 1),
            s(1, Action::EndorseToOrder, 3, 0),
        ],
        2 => vec![
            s(0, Action::Issue, 2, 0),
            s(2, Action::SurrenderForAmendment, 0, 0),
            s(0, Action::AcceptSurrender, 0, 0),
        ],
        3 => vec![
            s(0, Action::Issue, 5, 2),
            s(5, Action::SurrenderForDelivery, 0, 0),
            s(0, Action::AcceptSurrender, 0, 0),
            s(0, Action::ReleaseCargo, 4, 0),
        ],
        4 => vec![
            s(0, Action::Issue, 2, 3),
            s(0, Action::ReleaseContainers, 4, 2),
            s(2, Action::NominateHaulier, 8, 3),
        ],
        // Both containers of a waybill released until three steps later; one gated out; the
        // observer's refused steps let the window pass; the holder's nomination comes too late.
        5 => vec![
            s(0, Action::Issue, 2, 3),
            s(0, Action::ReleaseContainers, 4, 1),
            s(4, Action::GateOut, 0, 0),
            s(6, Action::Sign, 0, 0),
            s(6, Action::Sign, 0, 0),
            s(2, Action::NominateHaulier, 8, 2),
        ],
        // Both containers of a waybill released, then revoked.
        6 => vec![
            s(0, Action::Issue, 2, 3),
            s(0, Action::ReleaseContainers, 4, 1),
            s(0, Action::RevokeRelease, 0, 1),
        ],
        _ => vec![
            s(0, Action::PublishDraft, 0, 3),
            s(1, Action::ApproveDraft, 0, 0),
            s(0, Action::Issue, 3, 0),
        ],
    };
    steps.append(&mut tail);
    steps
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Exactly one possessor from issue on, the invariants of `check_invariants` after every
    /// step, refusals change nothing, and terminal states stay terminal and byte-identical.
    #[test]
    fn random_sequences_keep_the_invariants(prefix in 0..8usize, tail in steps()) {
        run(&prefixed(prefix, tail))?;
    }

    /// Replaying the accepted commands from an empty store rebuilds the same states and hash.
    #[test]
    fn replaying_accepted_commands_rebuilds_the_same_state(prefix in 0..8usize, tail in steps()) {
        let w = run(&prefixed(prefix, tail))?;
        let engine = Engine::standard();
        let mut store = BTreeMap::new();
        let mut events = Vec::new();
        for (actor, time, id, command) in &w.accepted {
            let decision = engine.decide(&store, &w.parties, actor, *time, id, command);
            prop_assert!(decision.is_ok(), "replay refused: {:?}", decision);
            let decision = decision.unwrap();
            events.extend(decision.events);
            store.extend(decision.changes);
        }
        prop_assert_eq!(&store, &w.store);
        prop_assert_eq!(&events, &w.events);
        let replayed = World { store, ..World::default() };
        prop_assert_eq!(replayed.root_hash(), w.root_hash());
    }

    /// decide() is a function: the same inputs give equal outputs, from independent engines.
    #[test]
    fn decide_is_deterministic(prefix in 0..8usize, tail in steps(), last in step()) {
        let w = run(&prefixed(prefix, tail))?;
        let actor = &cast()[last.actor];
        let id = id(REFERENCES[last.document]);
        let command = command(&last, &mut 0, w.time_ms);
        let time = doc_workflow::BlockTime(w.time_ms + 1);
        let a = w.engine.decide(&w.store, &w.parties, actor, time, &id, &command);
        let b = Engine::standard().decide(&w.store.clone(), &directory(), actor, time, &id, &command);
        prop_assert_eq!(&a, &b);
        if let Ok(decision) = a {
            for (_, state) in &decision.changes {
                prop_assert_eq!(state.state_hash(), state.clone().state_hash());
            }
        }
    }
}

/// The random walk does reach deep states (a guard against a generator that only produces
/// refusals and so proves nothing).
#[test]
fn the_generator_reaches_every_status() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let mut seen = std::collections::BTreeSet::new();
    let mut rights = std::collections::BTreeSet::new();
    for round in 0..400 {
        let tail = steps().new_tree(&mut runner).unwrap().current();
        let w = run(&prefixed(round % 8, tail)).unwrap();
        seen.extend(w.store.values().map(|s| s.status));
        rights.extend(
            w.store
                .values()
                .filter_map(|s| s.release.as_ref())
                .flat_map(|r| r.rights.values().map(|r| r.status)),
        );
    }
    for status in RightStatus::ALL {
        assert!(
            rights.contains(&status),
            "no right ever reached {status}; reached {rights:?}"
        );
    }
    for status in doc_workflow::Status::ALL {
        assert!(
            seen.contains(&status),
            "never reached {status}; reached {seen:?}"
        );
    }
}

/// The walk does try to hand documents to unknown parties and cargo to non-ports, and is
/// refused for it: the holder property above is not true merely because no step tried.
#[test]
fn the_generator_tries_unknown_holders_and_non_ports() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[11; 32]),
    );
    let cast = cast();
    let mut codes = std::collections::BTreeSet::new();
    for round in 0..400 {
        let tail = steps().new_tree(&mut runner).unwrap().current();
        let mut w = World::default();
        let mut replacements = 0;
        for step in prefixed(round % 8, tail) {
            let id = id(REFERENCES[step.document]);
            let command = command(&step, &mut replacements, w.time_ms);
            if let Err(refusal) = w.run(&cast[step.actor], &id, command) {
                codes.insert(refusal.code());
            }
        }
    }
    for code in [
        "UNKNOWN_PARTY",
        "NOT_A_PORT",
        "CONTAINER_ALREADY_GATED_OUT",
        "RELEASE_EXPIRED",
        "RELEASE_REVOKED",
        "CONDITIONS_UNMET",
        "WRONG_HAULIER",
        "NOT_RIGHT_HOLDER",
    ] {
        assert!(codes.contains(code), "never refused with {code}: {codes:?}");
    }
}
