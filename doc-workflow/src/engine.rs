//! The engine: finds the transition a command asks for, checks its guards in order, applies its
//! effects to a copy of the state, checks the result's invariants and returns it. It reads
//! documents only through [`DocumentStore`] and writes nothing: the ledger commits the
//! [`Decision`].

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::command::{Action, COMMENT_CHARS_MAX, Command, GATE_OUT_CONTAINERS_MAX};
use crate::content::{self, ContentProblem, Stage, TransportDocument, ValidContent};
use crate::definition::{Definition, DefinitionError, Effect, Guard, PartyRef, Transition};
use crate::event::{Event, EventKind};
use crate::ids::{Actor, BlockTime, DocumentClass, DocumentId, DocumentKey, PartyCode, Role};
use crate::refusal::Refusal;
use crate::state::{
    CargoReleaseDetails, DocumentKind, DocumentState, Mode, PendingTransfer, SignatureRecord,
    StateHash, Status, SurrenderRequest,
};

/// Most `SIGN`s one document keeps. Signatures are part of the state every replica holds
/// forever; a few per holder is normal, 64 leaves room and stops a possessor from bloating it.
pub const SIGNATURES_MAX: usize = 64;

/// The definitions Silkline ships, embedded at build time: `(file name, JSON)`.
pub const STANDARD_DEFINITIONS: [(&str, &str); 3] = [
    (
        "bill-of-lading.json",
        include_str!("../definitions/bill-of-lading.json"),
    ),
    (
        "sea-waybill.json",
        include_str!("../definitions/sea-waybill.json"),
    ),
    (
        "cargo-release.json",
        include_str!("../definitions/cargo-release.json"),
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
        if let Command::GateOut { containers } = command
            && containers.len() > GATE_OUT_CONTAINERS_MAX
        {
            return Err(Refusal::TooManyContainers {
                count: containers.len(),
                max: GATE_OUT_CONTAINERS_MAX,
            });
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

fn release_port_of(state: &DocumentState) -> Option<&PartyCode> {
    state.release.as_ref().map(|r| &r.port)
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

/// Every possessor, endorsee and cargo-release port that `decision` puts in place is a party of
/// the network, and a release port acts with the PORT role (DOMAIN.md section 6, scenario 8): a
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
        if let Some(party) = newly_set(next, before, release_port_of)
            && known(party)? != Role::Port
        {
            return Err(Refusal::NotAPort {
                party: party.clone(),
            });
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
struct Context<'a, S: DocumentStore> {
    engine: &'a Engine,
    store: &'a S,
    actor: &'a Actor,
    time: BlockTime,
    key: DocumentKey,
    current: Option<&'a DocumentState>,
    command: &'a Command,
    /// The command's content, validated at most once and only if a guard or effect needs it.
    content: OnceCell<Option<Result<ValidContent, Vec<ContentProblem>>>>,
}

fn inconsistent(detail: impl Into<String>) -> Refusal {
    Refusal::InconsistentState {
        detail: detail.into(),
    }
}

impl<S: DocumentStore> Context<'_, S> {
    fn party(&self) -> &PartyCode {
        &self.actor.party
    }

    fn is_actor(&self, party: Option<&PartyCode>) -> bool {
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

    fn valid_content(&self) -> Result<&ValidContent, Refusal> {
        match self.content() {
            None => Err(Refusal::ContentRequired),
            Some(Err(problems)) => Err(Refusal::InvalidContent {
                problems: problems.clone(),
            }),
            Some(Ok(valid)) => Ok(valid),
        }
    }

    fn recipient(&self) -> Result<&PartyCode, Refusal> {
        self.command
            .recipient()
            .ok_or_else(|| inconsistent("the action names no recipient"))
    }

    fn bill_key(&self) -> DocumentKey {
        DocumentKey::transport_document(self.key.id.clone())
    }

    fn check(&self, guard: &Guard) -> Result<(), Refusal> {
        let doc = self.current;
        let document = || self.key.clone();
        let actor = || self.party().clone();
        let ok = |holds: bool, refusal: &dyn Fn() -> Refusal| {
            if holds { Ok(()) } else { Err(refusal()) }
        };
        match guard {
            Guard::ActorNotObserver => ok(!self.actor.has_role(Role::Observer), &|| {
                Refusal::ObserverCannotWrite { actor: actor() }
            }),
            Guard::ActorHasRole(role) => ok(self.actor.has_role(*role), &|| Refusal::MissingRole {
                actor: actor(),
                role: *role,
            }),
            Guard::ActorIsCarrier => ok(self.key.id.carrier == *self.party(), &|| {
                Refusal::NotCarrier {
                    document: document(),
                    actor: actor(),
                }
            }),
            Guard::ActorIsPossessor => ok(
                self.is_actor(doc.and_then(|d| d.possessor.as_ref())),
                &|| Refusal::NotPossessor {
                    document: document(),
                    actor: actor(),
                },
            ),
            Guard::ActorIsEndorsee => ok(
                self.is_actor(doc.and_then(|d| d.endorsee.as_ref())),
                &|| Refusal::NotEndorsee {
                    document: document(),
                    actor: actor(),
                },
            ),
            Guard::ActorIsShipper => {
                ok(self.is_actor(doc.and_then(|d| d.shipper.as_ref())), &|| {
                    Refusal::NotShipper {
                        document: document(),
                        actor: actor(),
                    }
                })
            }
            Guard::ActorIsConsignee => ok(
                self.is_actor(doc.and_then(|d| d.consignee.as_ref())),
                &|| Refusal::NotConsignee {
                    document: document(),
                    actor: actor(),
                },
            ),
            Guard::ActorIsParty(party) => ok(party == self.party(), &|| Refusal::NotNamedParty {
                actor: actor(),
                party: party.clone(),
            }),
            Guard::TransferRejectable => {
                ok(doc.is_some_and(|d| d.pending_transfer.is_some()), &|| {
                    Refusal::RejectionNotNextAction {
                        document: document(),
                    }
                })
            }
            Guard::ActorIsAppointee => {
                let appointee = doc
                    .and_then(|d| d.pending_transfer.as_ref())
                    .map(|p| &p.appointee);
                ok(self.is_actor(appointee), &|| Refusal::NotAppointee {
                    document: document(),
                    actor: actor(),
                })
            }
            Guard::ModeIs(required) => {
                let mode = doc.and_then(|d| d.mode);
                ok(mode == Some(*required), &|| Refusal::WrongMode {
                    action: self.command.action(),
                    mode,
                    required: *required,
                })
            }
            Guard::EndorseeMayEndorse => ok(doc.is_some_and(|d| d.endorsee_may_endorse), &|| {
                Refusal::EndorseeMayNotEndorse {
                    document: document(),
                    actor: actor(),
                }
            }),
            Guard::RecipientDiffersFromActor => ok(self.recipient()? != self.party(), &|| {
                Refusal::TransferToSelf { actor: actor() }
            }),
            Guard::StraightRecipientIsConsigneeOrCarrier => {
                let recipient = self.recipient()?;
                let holds = match doc {
                    Some(d) if d.mode == Some(Mode::Straight) => {
                        d.consignee.as_ref() == Some(recipient) || d.carrier == *recipient
                    }
                    _ => true,
                };
                ok(holds, &|| Refusal::RecipientNotConsigneeOrCarrier {
                    recipient: recipient.clone(),
                })
            }
            Guard::HasSurrenderRight => {
                let holds = doc.is_some_and(|d| match d.mode {
                    Some(Mode::Straight) => {
                        self.is_actor(d.shipper.as_ref()) || self.is_actor(d.consignee.as_ref())
                    }
                    Some(Mode::ToOrder) => self.is_actor(d.endorsee.as_ref()),
                    Some(Mode::Blank) => self.is_actor(d.possessor.as_ref()),
                    None => false,
                });
                ok(holds, &|| Refusal::NoSurrenderRight {
                    document: document(),
                    actor: actor(),
                    mode: doc.and_then(|d| d.mode),
                })
            }
            Guard::ContentPresent => ok(self.command.content().is_some(), &|| {
                Refusal::ContentRequired
            }),
            Guard::ContentAbsent => ok(self.command.content().is_none(), &|| {
                Refusal::ContentAlreadyApproved
            }),
            Guard::ContentValid => self.valid_content().map(|_| ()),
            Guard::CommentPresent => {
                let present = self.command.comment().is_some_and(|c| !c.trim().is_empty());
                ok(present, &|| Refusal::CommentRequired)
            }
            Guard::ReplacementValid => self.replacement().map(|_| ()),
            Guard::BillDeliverable => {
                let bill_key = self.bill_key();
                let bill = self.store.get(&bill_key);
                let holds = bill.is_some_and(|b| {
                    matches!(
                        (b.kind, b.status),
                        (DocumentKind::BillOfLading, Status::SurrenderedForDelivery)
                            | (DocumentKind::SeaWaybill, Status::Issued)
                    )
                });
                ok(holds, &|| Refusal::BillNotDeliverable {
                    bill: bill_key.clone(),
                    kind: bill.map(|b| b.kind),
                    status: bill.map(|b| b.status),
                })
            }
            Guard::ActorIsReleasePort => {
                let port = doc
                    .and_then(|d| d.release.as_ref())
                    .map(|r| r.port.clone())
                    .ok_or_else(|| inconsistent("the cargo release has no release details"))?;
                ok(port == *self.party(), &|| Refusal::NotReleasePort {
                    actor: actor(),
                    port: port.clone(),
                })
            }
            Guard::ContainersReleasable => {
                let Command::GateOut { containers } = self.command else {
                    return Err(inconsistent("containers_releasable needs a GATE_OUT"));
                };
                let release = doc
                    .and_then(|d| d.release.as_ref())
                    .ok_or_else(|| inconsistent("the cargo release has no release details"))?;
                if containers.is_empty() {
                    return Err(Refusal::NoContainers);
                }
                let mut named = BTreeSet::new();
                for container in containers {
                    match release.containers.get(container) {
                        None => {
                            return Err(Refusal::ContainerNotReleased {
                                container: container.clone(),
                            });
                        }
                        Some(Some(_)) => {
                            return Err(Refusal::ContainerAlreadyGatedOut {
                                container: container.clone(),
                            });
                        }
                        Some(None) if !named.insert(container) => {
                            return Err(Refusal::ContainerAlreadyGatedOut {
                                container: container.clone(),
                            });
                        }
                        Some(None) => {}
                    }
                }
                Ok(())
            }
            Guard::SignaturesBelowLimit => ok(
                doc.is_some_and(|d| d.signatures.len() < SIGNATURES_MAX),
                &|| Refusal::TooManySignatures {
                    max: SIGNATURES_MAX,
                },
            ),
        }
    }

    /// The replacement a `VOID` carries, checked: valid content, a workflow for its kind, and an
    /// unused reference (the voided bill's own reference is used, so it cannot be reused).
    fn replacement(&self) -> Result<Option<(&ValidContent, &PartyCode)>, Refusal> {
        let Command::Void {
            replacement: Some(replacement),
        } = self.command
        else {
            return Ok(None);
        };
        let valid = self.valid_content()?;
        let kind = valid.document.kind;
        if self.engine.definition(kind).is_none() {
            return Err(Refusal::NoWorkflowForKind { kind });
        }
        let new_key = DocumentKey::transport_document(DocumentId::new(
            self.key.id.carrier.clone(),
            valid.document.reference.clone(),
        ));
        if new_key == self.key || self.store.get(&new_key).is_some() {
            return Err(Refusal::ReferenceAlreadyUsed { document: new_key });
        }
        Ok(Some((valid, &replacement.issue_to)))
    }

    fn new_state(&self, kind: DocumentKind, id: DocumentId, status: Status) -> DocumentState {
        DocumentState {
            kind,
            status,
            mode: None,
            carrier: id.carrier.clone(),
            id,
            shipper: None,
            consignee: None,
            possessor: None,
            endorsee: None,
            endorsee_may_endorse: false,
            pending_transfer: None,
            surrender: None,
            content: None,
            amends: None,
            amended_by: None,
            release: None,
            signatures: Vec::new(),
            sequence: 1,
            created_at: self.time,
            updated_at: self.time,
        }
    }

    fn apply(&self, kind: DocumentKind, transition: &Transition) -> Result<Decision, Refusal> {
        let mut next = match self.current {
            Some(current) => {
                let mut next = current.clone();
                next.sequence += 1;
                next.updated_at = self.time;
                next
            }
            None => self.new_state(kind, self.key.id.clone(), transition.to),
        };
        // Any committed action on the document closes the window for rejecting a transfer:
        // rejection must be the appointee's very next action.
        let closed_transfer = next.pending_transfer.take();
        let mut others: Vec<(DocumentKey, DocumentState, EventKind)> = Vec::new();
        // Content this transition stored: its typed view is the one the stored text gives (the
        // text is the canonical form of the value the view was read from), so reading the text
        // back and validating it again would only repeat the work.
        let mut stored_now: Option<&ValidContent> = None;

        for effect in &transition.effects {
            match *effect {
                Effect::SetStatus => next.status = transition.to,
                Effect::SetStatusWhenAllGatedOut => {
                    if next
                        .release
                        .as_ref()
                        .is_some_and(CargoReleaseDetails::all_gated_out)
                    {
                        next.status = transition.to;
                    }
                }
                Effect::StoreContent => {
                    let valid = self.valid_content()?;
                    store_content(&mut next, valid);
                    stored_now = Some(valid);
                }
                Effect::SetTitleFromContent => match stored_now {
                    Some(valid) => set_title(&mut next, &valid.document),
                    None => {
                        let document = stored_document(&next)?;
                        set_title(&mut next, &document);
                    }
                },
                Effect::SetPossessor(who) => next.possessor = Some(self.resolve(who, &next)?),
                Effect::SetEndorsee(who) => next.endorsee = Some(self.resolve(who, &next)?),
                Effect::ClearEndorsee => next.endorsee = None,
                Effect::SetEndorseeMayEndorse(may) => next.endorsee_may_endorse = may,
                Effect::SetMode(mode) => next.mode = Some(mode),
                Effect::AppointRecipient => {
                    next.pending_transfer = Some(PendingTransfer {
                        appointee: self.recipient()?.clone(),
                        previous_possessor: next.possessor.clone(),
                        previous_endorsee: next.endorsee.clone(),
                        previous_mode: next.mode,
                        previous_endorsee_may_endorse: next.endorsee_may_endorse,
                    });
                }
                Effect::RestorePreviousHolders => {
                    let previous = closed_transfer
                        .clone()
                        .ok_or_else(|| inconsistent("no transfer to restore"))?;
                    next.possessor = previous.previous_possessor;
                    next.endorsee = previous.previous_endorsee;
                    next.mode = previous.previous_mode;
                    next.endorsee_may_endorse = previous.previous_endorsee_may_endorse;
                }
                Effect::RecordSignature => next.signatures.push(SignatureRecord {
                    party: self.party().clone(),
                    at: self.time,
                    sequence: next.sequence,
                }),
                Effect::RecordSurrenderRequest => {
                    let amendment_reason = match self.command {
                        Command::SurrenderForAmendment { reason } => Some(*reason),
                        _ => None,
                    };
                    next.surrender = Some(SurrenderRequest {
                        requester: self.party().clone(),
                        amendment_reason,
                    });
                }
                Effect::ClearSurrenderRequest => next.surrender = None,
                Effect::IssueReplacement => {
                    if let Some((valid, issue_to)) = self.replacement()? {
                        let id =
                            DocumentId::new(next.carrier.clone(), valid.document.reference.clone());
                        let mut new =
                            self.new_state(valid.document.kind, id.clone(), Status::Issued);
                        store_content(&mut new, valid);
                        set_title(&mut new, &valid.document);
                        new.possessor = Some(issue_to.clone());
                        new.amends = Some(next.id.reference.clone());
                        next.amended_by = Some(id.reference.clone());
                        let event = issued_event(&new);
                        others.push((DocumentKey::transport_document(id), new, event));
                    }
                }
                Effect::CreateCargoRelease => {
                    let bill_key = self.bill_key();
                    let bill =
                        self.store
                            .get(&bill_key)
                            .ok_or_else(|| Refusal::DocumentNotFound {
                                document: bill_key.clone(),
                            })?;
                    let document = stored_document(bill)?;
                    next.release = Some(CargoReleaseDetails {
                        release_of: bill_key,
                        port: self.recipient()?.clone(),
                        port_of_discharge: document.port_of_discharge,
                        containers: document.containers.into_iter().map(|c| (c, None)).collect(),
                    });
                }
                Effect::RecordGateOut => {
                    let (Command::GateOut { containers }, Some(release)) =
                        (self.command, next.release.as_mut())
                    else {
                        return Err(inconsistent(
                            "record_gate_out needs a GATE_OUT on a cargo release",
                        ));
                    };
                    for container in containers {
                        release
                            .containers
                            .insert(container.clone(), Some(self.time));
                    }
                }
            }
        }

        let event = self.event(&next, closed_transfer.as_ref(), &others)?;
        let mut events = vec![Event {
            document: self.key.clone(),
            sequence: next.sequence,
            actor: self.party().clone(),
            at: self.time,
            kind: event,
        }];
        let mut changes = vec![(self.key.clone(), next)];
        for (key, state, kind) in others {
            events.push(Event {
                document: key.clone(),
                sequence: state.sequence,
                actor: self.party().clone(),
                at: self.time,
                kind,
            });
            changes.push((key, state));
        }
        changes.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Decision { changes, events })
    }

    fn resolve(&self, who: PartyRef, next: &DocumentState) -> Result<PartyCode, Refusal> {
        match who {
            PartyRef::Recipient => self.recipient().cloned(),
            PartyRef::Carrier => Ok(next.carrier.clone()),
            PartyRef::Requester => next
                .surrender
                .as_ref()
                .map(|s| s.requester.clone())
                .ok_or_else(|| inconsistent("no surrender is pending")),
        }
    }

    /// The event for the target document, in the past tense of the command.
    fn event(
        &self,
        next: &DocumentState,
        closed_transfer: Option<&PendingTransfer>,
        others: &[(DocumentKey, DocumentState, EventKind)],
    ) -> Result<EventKind, Refusal> {
        let before_possessor = self.current.and_then(|d| d.possessor.clone());
        Ok(match self.command {
            Command::PublishDraft { .. } => EventKind::DraftPublished {
                content_sha256: next
                    .content
                    .as_ref()
                    .map(|c| c.sha256.clone())
                    .unwrap_or_default(),
            },
            Command::ApproveDraft => EventKind::DraftApproved,
            Command::Issue { .. } => issued_event(next),
            Command::Transfer { to } => EventKind::Transferred {
                from: before_possessor.ok_or_else(|| inconsistent("transfer without possessor"))?,
                to: to.clone(),
            },
            Command::Endorse { to } | Command::EndorseToOrder { to } => EventKind::Endorsed {
                from: self.party().clone(),
                to: to.clone(),
                may_endorse_further: next.endorsee_may_endorse,
            },
            Command::BlankEndorse => EventKind::BlankEndorsed,
            Command::Sign => EventKind::Signed,
            Command::RejectTransfer { reason } => {
                debug_assert!(closed_transfer.is_some(), "a rejection closes a transfer");
                EventKind::TransferRejected {
                    restored_possessor: next.possessor.clone(),
                    reason: reason.clone(),
                }
            }
            Command::SurrenderForDelivery => EventKind::SurrenderedForDelivery,
            Command::SurrenderForAmendment { reason } => {
                EventKind::SurrenderedForAmendment { reason: *reason }
            }
            Command::AcceptSurrender => EventKind::SurrenderAccepted {
                status: next.status,
            },
            Command::RejectSurrender { comment } => EventKind::SurrenderRejected {
                comment: comment.clone(),
                possessor: next
                    .possessor
                    .clone()
                    .ok_or_else(|| inconsistent("no possessor after rejection"))?,
            },
            Command::Void { .. } => EventKind::Voided {
                replaced_by: others.first().map(|(k, _, _)| k.id.reference.clone()),
            },
            Command::ReleaseCargo { port } => EventKind::CargoReleased {
                port: port.clone(),
                containers: next
                    .release
                    .as_ref()
                    .map(|r| r.containers.keys().cloned().collect())
                    .unwrap_or_default(),
            },
            Command::GateOut { containers } => EventKind::GatedOut {
                containers: containers.clone(),
                completed: next.status == Status::Completed,
            },
        })
    }
}

fn issued_event(state: &DocumentState) -> EventKind {
    EventKind::Issued {
        possessor: state
            .possessor
            .clone()
            .unwrap_or_else(|| state.carrier.clone()),
        mode: state.mode.unwrap_or(Mode::Straight),
        content_sha256: state
            .content
            .as_ref()
            .map(|c| c.sha256.clone())
            .unwrap_or_default(),
        amends: state.amends.clone(),
    }
}

fn store_content(state: &mut DocumentState, valid: &ValidContent) {
    state.content = Some(valid.record.clone());
    state.shipper = Some(valid.document.shipper.clone());
    state.consignee = valid.document.consignee.clone();
}

/// Mode and endorsee as at issue (DOMAIN.md section 2).
fn set_title(state: &mut DocumentState, document: &TransportDocument) {
    let mode = document.mode();
    state.mode = Some(mode);
    state.endorsee = if mode == Mode::ToOrder {
        document.endorsee.clone()
    } else {
        None
    };
    state.endorsee_may_endorse = mode == Mode::ToOrder;
}

/// The typed view of a stored document's content. Stored content was valid when stored and is
/// read without applying today's rules again (`content::read_stored`), so a failure here means
/// the state was tampered with.
fn stored_document(state: &DocumentState) -> Result<TransportDocument, Refusal> {
    let record = state
        .content
        .as_ref()
        .ok_or_else(|| inconsistent("the document has no content"))?;
    content::read_stored(record).map_err(|problems| {
        inconsistent(format!(
            "stored content cannot be read: {}",
            problems
                .first()
                .map_or_else(String::new, ContentProblem::to_string)
        ))
    })
}

/// The invariants every state the engine returns must hold. Public so the ledger and the tests
/// can check stored states too.
pub fn check_invariants(state: &DocumentState) -> Result<(), String> {
    let fail = |what: &str| Err(format!("{}: {what}", state.id));
    if state.carrier != state.id.carrier {
        return fail("carrier differs from the id's carrier");
    }
    if state.kind == DocumentKind::CargoRelease {
        let Some(release) = &state.release else {
            return fail("a cargo release without details");
        };
        if state.possessor.is_some() || state.mode.is_some() || state.content.is_some() {
            return fail("a cargo release holds no title, possession or content");
        }
        if state.status == Status::Completed && !release.all_gated_out() {
            return fail("completed before every container gated out");
        }
        return Ok(());
    }
    if state.content.is_none() || state.shipper.is_none() {
        return fail("a transport document without content or shipper");
    }
    let issued = state.status.is_issued_or_later();
    if issued != state.possessor.is_some() {
        return fail("a possessor exactly when issued");
    }
    if issued != state.mode.is_some() {
        return fail("a mode exactly when issued");
    }
    if (state.mode == Some(Mode::ToOrder)) != state.endorsee.is_some() {
        return fail("an endorsee exactly when to order");
    }
    if state.kind == DocumentKind::SeaWaybill && state.mode.is_some_and(|m| m != Mode::Straight) {
        return fail("a sea waybill is straight");
    }
    let pending = matches!(
        state.status,
        Status::PendingSurrenderForDelivery | Status::PendingSurrenderForAmendment
    );
    if pending && (state.surrender.is_none() || state.possessor.as_ref() != Some(&state.carrier)) {
        return fail("the carrier holds a bill pending surrender");
    }
    if let Some(pending) = &state.pending_transfer
        && state.possessor.as_ref() != Some(&pending.appointee)
    {
        return fail("the pending appointee possesses the bill");
    }
    Ok(())
}
