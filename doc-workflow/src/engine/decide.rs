//! Deciding one command: the transition it asks for, the documents it touches, and everything
//! one decision reads (`Context`), read once.

use std::cell::OnceCell;
use std::collections::BTreeSet;

use crate::codes::ContainerNumber;
use crate::release::TRUCK_REF_CHARS_MAX;

use crate::command::{Action, COMMENT_CHARS_MAX, Command, GATE_OUT_CONTAINERS_MAX};
use crate::content::{self, ContentProblem, Stage, ValidContent};
use crate::definition::Definition;
use crate::ids::{Actor, BlockTime, DocumentClass, DocumentId, DocumentKey, PartyCode, Role};
use crate::refusal::Refusal;
use crate::state::{DocumentKind, DocumentState};

use super::invariants::check_invariants;
use super::{Decision, DocumentStore, Engine, PartyDirectory};

impl Engine {
    /// Decides `command` by `actor` on document `id` at block time `time`, with the network's
    /// `parties` as of that block. Pure: the same inputs give the same output on every replica.
    /// A refusal changes nothing.
    pub fn decide(
        &self,
        store: &impl DocumentStore,
        parties: &impl PartyDirectory,
        actor: &Actor,
        time: BlockTime,
        id: &DocumentId,
        command: &Command,
    ) -> Result<Decision, Refusal> {
        let action = command.action();
        let key = DocumentKey {
            class: action.class(),
            id: id.clone(),
        };

        // Input bounds first: they hold whatever the document's state.
        if let Some(text) = command.comment() {
            let chars = text.chars().count();
            if chars > COMMENT_CHARS_MAX {
                return Err(Refusal::CommentTooLong {
                    chars,
                    max: COMMENT_CHARS_MAX,
                });
            }
        }
        if let Some(containers) = command.containers() {
            check_named_containers(containers)?;
        }
        if let Some(truck) = command.truck() {
            let chars = truck.chars().count();
            let printable = !truck.trim().is_empty() && !truck.chars().any(char::is_control);
            if chars > TRUCK_REF_CHARS_MAX || !printable {
                return Err(Refusal::TruckRefInvalid {
                    chars,
                    max: TRUCK_REF_CHARS_MAX,
                });
            }
        }

        let current = store.get(&key);
        let kind = match current {
            Some(state) => state.kind,
            None => kind_of_new_document(&key, command)?,
        };
        let definition = self
            .definitions
            .get(&kind)
            .ok_or(Refusal::NoWorkflowForKind { kind })?;
        let transition = match definition.transition(action, current.map(|s| s.status)) {
            Some(t) => t,
            None => return Err(no_transition(definition, &key, current, command)),
        };

        let context = Context {
            engine: self,
            store,
            actor,
            time,
            key,
            current,
            command,
            content: OnceCell::new(),
        };
        for guard in &transition.guards {
            context.check(guard)?;
        }
        let decision = context.apply(kind, transition)?;
        for (_, state) in &decision.changes {
            check_invariants(state).map_err(|detail| Refusal::InconsistentState { detail })?;
        }
        check_holders_known(store, parties, &decision)?;
        Ok(decision)
    }
}

fn possessor_of(state: &DocumentState) -> Option<&PartyCode> {
    state.possessor.as_ref()
}

fn endorsee_of(state: &DocumentState) -> Option<&PartyCode> {
    state.endorsee.as_ref()
}

/// A command on release rights names at least one container, at most
/// [`GATE_OUT_CONTAINERS_MAX`], each once.
fn check_named_containers(containers: &[ContainerNumber]) -> Result<(), Refusal> {
    if containers.is_empty() {
        return Err(Refusal::NoContainers);
    }
    if containers.len() > GATE_OUT_CONTAINERS_MAX {
        return Err(Refusal::TooManyContainers {
            count: containers.len(),
            max: GATE_OUT_CONTAINERS_MAX,
        });
    }
    let mut seen = BTreeSet::new();
    for container in containers {
        if !seen.insert(container) {
            return Err(Refusal::ContainerNamedTwice {
                container: container.clone(),
            });
        }
    }
    Ok(())
}

/// The party `field` names in `next` if `before` (the state before the decision) did not name
/// the same one.
fn newly_set<'a>(
    next: &'a DocumentState,
    before: Option<&DocumentState>,
    field: fn(&DocumentState) -> Option<&PartyCode>,
) -> Option<&'a PartyCode> {
    let now = field(next)?;
    (before.and_then(field) != Some(now)).then_some(now)
}

/// Every possessor, endorsee, release-right holder and haulier that `decision` puts in place is
/// a party of the network, and a right's terminal acts with the PORT role (DOMAIN.md section 6, scenario 8): a
/// title or a release addressed to a party no certificate can act for is stranded for ever.
///
/// Checked on the decision's result, not per command, so that no transition -- today's or a
/// future definition's -- can hand a document to an unknown party, whichever effect named it
/// (a recipient, an issue-to party, the endorsee of the issued content, a replacement's holder).
/// Only holders the decision changes are checked: a party never leaves the directory once it
/// is on the network (ARCHITECTURE.md), so one that was checked when it became holder still is.
fn check_holders_known(
    store: &impl DocumentStore,
    parties: &impl PartyDirectory,
    decision: &Decision,
) -> Result<(), Refusal> {
    let known = |party: &PartyCode| match parties.role_of(party) {
        Some(role) => Ok(role),
        None => Err(Refusal::UnknownParty {
            party: party.clone(),
        }),
    };
    for (key, next) in &decision.changes {
        let before = store.get(key);
        if let Some(party) = newly_set(next, before, possessor_of) {
            known(party)?;
        }
        if let Some(party) = newly_set(next, before, endorsee_of) {
            known(party)?;
        }
        let Some(release) = &next.release else {
            continue;
        };
        let rights_before = before.and_then(|b| b.release.as_ref()).map(|r| &r.rights);
        for (container, right) in &release.rights {
            let old = rights_before.and_then(|r| r.get(container));
            if old.map(|o| &o.holder) != Some(&right.holder) {
                known(&right.holder)?;
            }
            if let Some(haulier) = &right.haulier
                && old.and_then(|o| o.haulier.as_ref()) != Some(haulier)
            {
                known(haulier)?;
            }
            if old.map(|o| &o.terminal) != Some(&right.terminal)
                && known(&right.terminal)? != Role::Port
            {
                return Err(Refusal::NotAPort {
                    party: right.terminal.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The kind of a document that does not exist yet, from the command.
fn kind_of_new_document(key: &DocumentKey, command: &Command) -> Result<DocumentKind, Refusal> {
    if key.class == DocumentClass::CargoRelease {
        return Ok(DocumentKind::CargoRelease);
    }
    let stage = match command.action() {
        Action::PublishDraft => Some(Stage::Draft),
        Action::Issue => Some(Stage::Issued),
        _ => None,
    };
    match (command.content(), stage) {
        (Some(content), Some(stage)) => content::peek_kind(content).ok_or_else(|| {
            let problems =
                content::validate(content, &key.id.carrier, Some(&key.id.reference), stage)
                    .err()
                    .unwrap_or_default();
            Refusal::InvalidContent { problems }
        }),
        _ => Err(Refusal::DocumentNotFound {
            document: key.clone(),
        }),
    }
}

/// Why no transition matches: the document is missing, terminal, already created (a command
/// that carries content to create it names a taken reference), or in a state the action does not
/// apply to.
fn no_transition(
    definition: &Definition,
    key: &DocumentKey,
    current: Option<&DocumentState>,
    command: &Command,
) -> Refusal {
    let action = command.action();
    match current {
        None => Refusal::DocumentNotFound {
            document: key.clone(),
        },
        Some(state) if definition.is_terminal(state.status) => Refusal::TerminalState {
            document: key.clone(),
            status: state.status,
        },
        Some(_) if definition.creates_with(action) && command.content().is_some() => {
            Refusal::ReferenceAlreadyUsed {
                document: key.clone(),
            }
        }
        Some(state) => Refusal::ActionNotAllowed {
            action,
            status: state.status,
        },
    }
}

/// Everything one decision reads.
pub(super) struct Context<'a, S: DocumentStore> {
    pub(super) engine: &'a Engine,
    pub(super) store: &'a S,
    pub(super) actor: &'a Actor,
    pub(super) time: BlockTime,
    pub(super) key: DocumentKey,
    pub(super) current: Option<&'a DocumentState>,
    pub(super) command: &'a Command,
    /// The command's content, validated at most once and only if a guard or effect needs it.
    pub(super) content: OnceCell<Option<Result<ValidContent, Vec<ContentProblem>>>>,
}

pub(super) fn inconsistent(detail: impl Into<String>) -> Refusal {
    Refusal::InconsistentState {
        detail: detail.into(),
    }
}

impl<S: DocumentStore> Context<'_, S> {
    pub(super) fn party(&self) -> &PartyCode {
        &self.actor.party
    }

    pub(super) fn is_actor(&self, party: Option<&PartyCode>) -> bool {
        party == Some(self.party())
    }

    fn content(&self) -> Option<&Result<ValidContent, Vec<ContentProblem>>> {
        self.content
            .get_or_init(|| {
                let id = &self.key.id;
                match self.command {
                    Command::PublishDraft { content } => Some(content::validate(
                        content,
                        &id.carrier,
                        Some(&id.reference),
                        Stage::Draft,
                    )),
                    Command::Issue {
                        content: Some(content),
                        ..
                    } => Some(content::validate(
                        content,
                        &id.carrier,
                        Some(&id.reference),
                        Stage::Issued,
                    )),
                    // A replacement names its own reference.
                    Command::Void {
                        replacement: Some(r),
                    } => Some(content::validate(
                        &r.content,
                        &id.carrier,
                        None,
                        Stage::Issued,
                    )),
                    _ => None,
                }
            })
            .as_ref()
    }

    pub(super) fn valid_content(&self) -> Result<&ValidContent, Refusal> {
        match self.content() {
            None => Err(Refusal::ContentRequired),
            Some(Err(problems)) => Err(Refusal::InvalidContent {
                problems: problems.clone(),
            }),
            Some(Ok(valid)) => Ok(valid),
        }
    }

    pub(super) fn recipient(&self) -> Result<&PartyCode, Refusal> {
        self.command
            .recipient()
            .ok_or_else(|| inconsistent("the action names no recipient"))
    }

    pub(super) fn bill_key(&self) -> DocumentKey {
        DocumentKey::transport_document(self.key.id.clone())
    }
}
