//! Workflow definitions as data: states, initial and terminal states, and transitions built from
//! a closed vocabulary of guards and effects implemented in Rust (see [`Guard`] and [`Effect`]).
//!
//! A definition is JSON:
//!
//! ```json
//! { "kind": "BILL_OF_LADING",
//!   "states": ["DRAFT", "APPROVED", "ISSUED", "..."],
//!   "initial": ["DRAFT", "ISSUED"],
//!   "terminal": ["SURRENDERED_FOR_DELIVERY", "VOIDED"],
//!   "transitions": [
//!     { "action": "TRANSFER", "from": ["ISSUED"], "to": "ISSUED",
//!       "guards": ["actor_not_observer", "actor_is_possessor", "recipient_differs_from_actor"],
//!       "effects": ["appoint_recipient", "set_possessor:recipient", "set_status"] } ] }
//! ```
//!
//! `from` lists states, or `NONE` for a transition that creates the document. A guard or effect
//! with a parameter is written `name:PARAMETER`. Loading validates everything it can, so a broken
//! definition is an error at startup, never a surprise during apply.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::command::Action;
use crate::ids::{DocumentClass, PartyCode, Role};
use crate::state::{DocumentKind, Mode, Status};

/// Written in `from` for a transition that creates the document.
pub const NONE_STATE: &str = "NONE";

/// A precondition. Guards run in the order the transition lists them; the first that fails
/// refuses the command with its own [`Refusal`](crate::Refusal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// Observers read everything and write nothing.
    ActorNotObserver,
    ActorHasRole(Role),
    /// The actor is the document's carrier (the carrier in its id).
    ActorIsCarrier,
    ActorIsPossessor,
    ActorIsEndorsee,
    ActorIsShipper,
    ActorIsConsignee,
    ActorIsParty(PartyCode),
    /// A transfer is open to rejection: nothing has been committed on the document since.
    TransferRejectable,
    /// The actor is the party the open transfer appointed.
    ActorIsAppointee,
    ModeIs(Mode),
    EndorseeMayEndorse,
    RecipientDiffersFromActor,
    /// On a straight bill, the recipient is the consignee or the carrier (no-op otherwise).
    StraightRecipientIsConsigneeOrCarrier,
    /// Straight: shipper or consignee; to order: the endorsee; blank: any possessor.
    HasSurrenderRight,
    ContentPresent,
    ContentAbsent,
    /// The command's content is a valid transport document for this id.
    ContentValid,
    CommentPresent,
    /// If a replacement is given, its content is valid and its reference unused.
    ReplacementValid,
    /// The bill is a BOL in `SURRENDERED_FOR_DELIVERY` or an `ISSUED` sea waybill.
    BillDeliverable,
    /// The actor is the terminal of every named container's release right.
    ActorIsReleasePort,
    /// The gate rule ([`ReleaseRight::may_collect`](crate::ReleaseRight::may_collect)) lets
    /// every named container leave now.
    ContainersReleasable,
    /// The named containers are on the bill and have no right that is not revoked, and the
    /// validity window is not empty or over.
    ContainersGrantable,
    /// The actor holds the release right of every named container.
    ActorIsRightHolder,
    /// The actor is the haulier nominated for every named container, and may change the truck.
    ActorIsNominatedHaulier,
    /// The carrier marks any condition; the terminal of the containers, customs clearance.
    ActorMayMarkCondition,
    /// Every named container has a right neither collected, revoked nor expired.
    RightsOpen,
    /// Every named container has a right neither collected nor revoked (expired ones included).
    RightsUnused,
    SignaturesBelowLimit,
}

/// A change to the document, applied in the order the transition lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Status := the transition's `to`.
    SetStatus,
    /// Status := `to` once every container has gated out; otherwise unchanged.
    SetStatusWhenAllGatedOut,
    /// Stores the command's content (canonical text and hash) and the parties it names.
    StoreContent,
    /// Mode and endorsee from the stored content, as at issue.
    SetTitleFromContent,
    SetPossessor(PartyRef),
    SetEndorsee(PartyRef),
    ClearEndorsee,
    SetEndorseeMayEndorse(bool),
    SetMode(Mode),
    /// Keeps the current possessor, endorsee and mode as the previous holders and makes the
    /// recipient the pending appointee. Must precede effects that change the holders.
    AppointRecipient,
    /// Restores the holders kept by `appoint_recipient`.
    RestorePreviousHolders,
    RecordSignature,
    RecordSurrenderRequest,
    ClearSurrenderRequest,
    /// Links and issues the replacement of a voided bill, if the command carries one.
    IssueReplacement,
    /// Grants release rights (fills a new cargo release from the bill it releases).
    GrantReleaseRights,
    NominateHaulier,
    NominateTruck,
    MarkConditionMet,
    RevokeReleaseRights,
    RecordGateOut,
}

/// Which party an effect means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartyRef {
    /// The command's recipient (`to`, `issueTo`, `port`).
    Recipient,
    Carrier,
    /// The party whose surrender is pending.
    Requester,
}

fn parse_mode(p: &str) -> Result<Mode, String> {
    match p {
        "STRAIGHT" => Ok(Mode::Straight),
        "TO_ORDER" => Ok(Mode::ToOrder),
        "BLANK" => Ok(Mode::Blank),
        _ => Err(format!("{p:?} is not a mode (STRAIGHT, TO_ORDER, BLANK)")),
    }
}

/// Why a guard or effect name did not parse.
enum ParseError {
    Unknown,
    BadParameter(String),
}

fn split(item: &str) -> (&str, Option<&str>) {
    match item.split_once(':') {
        Some((name, parameter)) => (name, Some(parameter)),
        None => (item, None),
    }
}

fn no_parameter<T>(value: T, parameter: Option<&str>) -> Result<T, ParseError> {
    match parameter {
        None => Ok(value),
        Some(p) => Err(ParseError::BadParameter(format!(
            "takes no parameter, got {p:?}"
        ))),
    }
}

fn parameter(parameter: Option<&str>) -> Result<&str, ParseError> {
    parameter
        .ok_or_else(|| ParseError::BadParameter("needs a parameter, written name:PARAMETER".into()))
}

impl Guard {
    fn parse(item: &str) -> Result<Guard, ParseError> {
        let (name, p) = split(item);
        let guard = match name {
            "actor_not_observer" => Guard::ActorNotObserver,
            "actor_has_role" => {
                let code = parameter(p)?;
                let role = Role::from_code(code)
                    .ok_or_else(|| ParseError::BadParameter(format!("{code:?} is not a role")))?;
                return Ok(Guard::ActorHasRole(role));
            }
            "actor_is_party" => {
                let code = PartyCode::new(parameter(p)?)
                    .map_err(|e| ParseError::BadParameter(e.to_string()))?;
                return Ok(Guard::ActorIsParty(code));
            }
            "mode_is" => {
                return parse_mode(parameter(p)?)
                    .map(Guard::ModeIs)
                    .map_err(ParseError::BadParameter);
            }
            "actor_is_carrier" => Guard::ActorIsCarrier,
            "actor_is_possessor" => Guard::ActorIsPossessor,
            "actor_is_endorsee" => Guard::ActorIsEndorsee,
            "actor_is_shipper" => Guard::ActorIsShipper,
            "actor_is_consignee" => Guard::ActorIsConsignee,
            "transfer_rejectable" => Guard::TransferRejectable,
            "actor_is_appointee" => Guard::ActorIsAppointee,
            "endorsee_may_endorse" => Guard::EndorseeMayEndorse,
            "recipient_differs_from_actor" => Guard::RecipientDiffersFromActor,
            "straight_recipient_is_consignee_or_carrier" => {
                Guard::StraightRecipientIsConsigneeOrCarrier
            }
            "has_surrender_right" => Guard::HasSurrenderRight,
            "content_present" => Guard::ContentPresent,
            "content_absent" => Guard::ContentAbsent,
            "content_valid" => Guard::ContentValid,
            "comment_present" => Guard::CommentPresent,
            "replacement_valid" => Guard::ReplacementValid,
            "bill_deliverable" => Guard::BillDeliverable,
            "actor_is_release_port" => Guard::ActorIsReleasePort,
            "containers_releasable" => Guard::ContainersReleasable,
            "containers_grantable" => Guard::ContainersGrantable,
            "actor_is_right_holder" => Guard::ActorIsRightHolder,
            "actor_is_nominated_haulier" => Guard::ActorIsNominatedHaulier,
            "actor_may_mark_condition" => Guard::ActorMayMarkCondition,
            "rights_open" => Guard::RightsOpen,
            "rights_unused" => Guard::RightsUnused,
            "signatures_below_limit" => Guard::SignaturesBelowLimit,
            _ => return Err(ParseError::Unknown),
        };
        no_parameter(guard, p)
    }

    fn needs_recipient(&self) -> bool {
        matches!(
            self,
            Guard::RecipientDiffersFromActor | Guard::StraightRecipientIsConsigneeOrCarrier
        )
    }
}

impl Effect {
    fn parse(item: &str) -> Result<Effect, ParseError> {
        let (name, p) = split(item);
        let party = |p: Option<&str>| -> Result<PartyRef, ParseError> {
            match parameter(p)? {
                "recipient" => Ok(PartyRef::Recipient),
                "carrier" => Ok(PartyRef::Carrier),
                "requester" => Ok(PartyRef::Requester),
                other => Err(ParseError::BadParameter(format!(
                    "{other:?} is not a party (recipient, carrier, requester)"
                ))),
            }
        };
        let effect = match name {
            "set_possessor" => return party(p).map(Effect::SetPossessor),
            "set_endorsee" => return party(p).map(Effect::SetEndorsee),
            "set_mode" => {
                return parse_mode(parameter(p)?)
                    .map(Effect::SetMode)
                    .map_err(ParseError::BadParameter);
            }
            "set_endorsee_may_endorse" => {
                return match parameter(p)? {
                    "true" => Ok(Effect::SetEndorseeMayEndorse(true)),
                    "false" => Ok(Effect::SetEndorseeMayEndorse(false)),
                    other => Err(ParseError::BadParameter(format!(
                        "{other:?} is not true or false"
                    ))),
                };
            }
            "set_status" => Effect::SetStatus,
            "set_status_when_all_gated_out" => Effect::SetStatusWhenAllGatedOut,
            "store_content" => Effect::StoreContent,
            "set_title_from_content" => Effect::SetTitleFromContent,
            "clear_endorsee" => Effect::ClearEndorsee,
            "appoint_recipient" => Effect::AppointRecipient,
            "restore_previous_holders" => Effect::RestorePreviousHolders,
            "record_signature" => Effect::RecordSignature,
            "record_surrender_request" => Effect::RecordSurrenderRequest,
            "clear_surrender_request" => Effect::ClearSurrenderRequest,
            "issue_replacement" => Effect::IssueReplacement,
            "grant_release_rights" => Effect::GrantReleaseRights,
            "nominate_haulier" => Effect::NominateHaulier,
            "nominate_truck" => Effect::NominateTruck,
            "mark_condition_met" => Effect::MarkConditionMet,
            "revoke_release_rights" => Effect::RevokeReleaseRights,
            "record_gate_out" => Effect::RecordGateOut,
            _ => return Err(ParseError::Unknown),
        };
        no_parameter(effect, p)
    }

    fn needs_recipient(self) -> bool {
        matches!(
            self,
            Effect::SetPossessor(PartyRef::Recipient)
                | Effect::SetEndorsee(PartyRef::Recipient)
                | Effect::AppointRecipient
                | Effect::GrantReleaseRights
        )
    }

    fn changes_holders(self) -> bool {
        matches!(
            self,
            Effect::SetPossessor(_)
                | Effect::SetEndorsee(_)
                | Effect::ClearEndorsee
                | Effect::SetMode(_)
                | Effect::SetEndorseeMayEndorse(_)
                | Effect::SetTitleFromContent
                | Effect::RestorePreviousHolders
        )
    }
}

/// The JSON form of a definition, as written in `definitions/*.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefinition {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub states: Vec<String>,
    pub initial: Vec<String>,
    pub terminal: Vec<String>,
    pub transitions: Vec<RawTransition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTransition {
    pub action: String,
    pub from: Vec<String>,
    pub to: String,
    #[serde(default)]
    pub guards: Vec<String>,
    #[serde(default)]
    pub effects: Vec<String>,
}

/// A validated transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub action: Action,
    /// `None` stands for `NONE`: the transition creates the document.
    pub from: Vec<Option<Status>>,
    pub to: Status,
    pub guards: Vec<Guard>,
    pub effects: Vec<Effect>,
}

/// A validated definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub kind: DocumentKind,
    pub states: BTreeSet<Status>,
    pub initial: BTreeSet<Status>,
    pub terminal: BTreeSet<Status>,
    pub transitions: Vec<Transition>,
    /// The JSON it was loaded from, for hashing into the ledger's genesis.
    pub raw: RawDefinition,
}

/// Where in a definition a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub definition: String,
    /// Index of the transition in `transitions`, if the problem is in one.
    pub transition: Option<usize>,
    pub action: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "definition {}", self.definition)?;
        if let Some(i) = self.transition {
            write!(f, ", transition #{i}")?;
        }
        if let Some(action) = &self.action {
            write!(f, " ({action})")?;
        }
        Ok(())
    }
}

/// A broken definition. These are errors, not refusals: the node must not start with one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    #[error("definition {name} is not valid JSON for a definition: {message}")]
    Json { name: String, message: String },
    #[error("{at}: unknown document kind {name:?}")]
    UnknownKind { at: Location, name: String },
    #[error("two definitions for {kind}")]
    DuplicateKind { kind: DocumentKind },
    #[error("{at}: unknown state {name:?} in {field}")]
    UnknownState {
        at: Location,
        field: &'static str,
        name: String,
    },
    #[error("{at}: state {state} in {field} is not declared in `states`")]
    UndeclaredState {
        at: Location,
        field: &'static str,
        state: String,
    },
    #[error("{at}: unknown action {name:?}")]
    UnknownAction { at: Location, name: String },
    #[error("{at}: action {action} does not belong to a {kind} (it works on {class})")]
    ActionOfOtherClass {
        at: Location,
        action: Action,
        kind: DocumentKind,
        class: &'static str,
    },
    #[error("{at}: unknown guard {name:?}")]
    UnknownGuard { at: Location, name: String },
    #[error("{at}: unknown effect {name:?}")]
    UnknownEffect { at: Location, name: String },
    #[error("{at}: {item:?} {reason}")]
    BadParameter {
        at: Location,
        item: String,
        reason: String,
    },
    #[error("{at}: {item:?} needs a recipient, and this action names none")]
    NeedsRecipient { at: Location, item: String },
    #[error("{at}: appoint_recipient must come before effects that change the holders")]
    AppointAfterHolderChange { at: Location },
    #[error("{at}: exactly one of set_status and set_status_when_all_gated_out is required")]
    StatusEffect { at: Location },
    #[error("{at}: `from` is empty")]
    EmptyFrom { at: Location },
    #[error("{at}: no initial state")]
    NoInitialState { at: Location },
    #[error("{at}: no terminal state")]
    NoTerminalState { at: Location },
    #[error("{at}: creates the document in {state}, which is not an initial state")]
    CreatesInNonInitialState { at: Location, state: Status },
    #[error("{at}: state {state} is unreachable from the initial states")]
    UnreachableState { at: Location, state: Status },
    #[error("{at}: terminal state {state} has an outgoing transition")]
    TerminalHasOutgoing { at: Location, state: Status },
    #[error("{at}: a second transition for ({action}, {from})")]
    DuplicateTransition {
        at: Location,
        action: Action,
        from: String,
    },
}

fn from_name(from: Option<Status>) -> String {
    from.map_or_else(|| NONE_STATE.to_owned(), |s| s.code().to_owned())
}

impl Definition {
    /// Parses and validates one definition; `name` (e.g. a file name) is used in errors.
    pub fn from_json(name: &str, json: &str) -> Result<Definition, DefinitionError> {
        let raw: RawDefinition = serde_json::from_str(json).map_err(|e| DefinitionError::Json {
            name: name.to_owned(),
            message: e.to_string(),
        })?;
        Definition::from_raw(raw)
    }

    /// Validates a parsed definition.
    pub fn from_raw(raw: RawDefinition) -> Result<Definition, DefinitionError> {
        let top = Location {
            definition: raw.kind.clone(),
            transition: None,
            action: None,
        };
        let kind =
            DocumentKind::from_code(&raw.kind).ok_or_else(|| DefinitionError::UnknownKind {
                at: top.clone(),
                name: raw.kind.clone(),
            })?;

        let status = |at: &Location, field: &'static str, name: &str| {
            Status::from_code(name).ok_or_else(|| DefinitionError::UnknownState {
                at: at.clone(),
                field,
                name: name.to_owned(),
            })
        };
        let mut states = BTreeSet::new();
        for name in &raw.states {
            states.insert(status(&top, "states", name)?);
        }
        let declared = |at: &Location, field: &'static str, name: &str| {
            let s = status(at, field, name)?;
            if states.contains(&s) {
                Ok(s)
            } else {
                Err(DefinitionError::UndeclaredState {
                    at: at.clone(),
                    field,
                    state: name.to_owned(),
                })
            }
        };
        let mut initial = BTreeSet::new();
        for name in &raw.initial {
            initial.insert(declared(&top, "initial", name)?);
        }
        let mut terminal = BTreeSet::new();
        for name in &raw.terminal {
            terminal.insert(declared(&top, "terminal", name)?);
        }
        if initial.is_empty() {
            return Err(DefinitionError::NoInitialState { at: top });
        }
        if terminal.is_empty() {
            return Err(DefinitionError::NoTerminalState { at: top });
        }

        let mut transitions = Vec::with_capacity(raw.transitions.len());
        let mut seen = BTreeSet::new();
        for (i, t) in raw.transitions.iter().enumerate() {
            let mut at = Location {
                definition: raw.kind.clone(),
                transition: Some(i),
                action: None,
            };
            let action =
                Action::from_code(&t.action).ok_or_else(|| DefinitionError::UnknownAction {
                    at: at.clone(),
                    name: t.action.clone(),
                })?;
            at.action = Some(t.action.clone());
            let class_fits = (action.class() == DocumentClass::CargoRelease)
                == (kind == DocumentKind::CargoRelease);
            if !class_fits {
                return Err(DefinitionError::ActionOfOtherClass {
                    at,
                    action,
                    kind,
                    class: action.class().code(),
                });
            }
            if t.from.is_empty() {
                return Err(DefinitionError::EmptyFrom { at });
            }
            let mut from = Vec::with_capacity(t.from.len());
            for name in &t.from {
                let state = if name == NONE_STATE {
                    None
                } else {
                    Some(declared(&at, "from", name)?)
                };
                if !seen.insert((action, state)) {
                    return Err(DefinitionError::DuplicateTransition {
                        at,
                        action,
                        from: from_name(state),
                    });
                }
                if let Some(s) = state.filter(|s| terminal.contains(s)) {
                    return Err(DefinitionError::TerminalHasOutgoing { at, state: s });
                }
                from.push(state);
            }
            let to = declared(&at, "to", &t.to)?;
            if from.contains(&None) && !initial.contains(&to) {
                return Err(DefinitionError::CreatesInNonInitialState { at, state: to });
            }

            let mut guards = Vec::with_capacity(t.guards.len());
            for item in &t.guards {
                let guard = Guard::parse(item).map_err(|e| match e {
                    ParseError::Unknown => DefinitionError::UnknownGuard {
                        at: at.clone(),
                        name: item.clone(),
                    },
                    ParseError::BadParameter(reason) => DefinitionError::BadParameter {
                        at: at.clone(),
                        item: item.clone(),
                        reason,
                    },
                })?;
                if guard.needs_recipient() && !action.has_recipient() {
                    return Err(DefinitionError::NeedsRecipient {
                        at,
                        item: item.clone(),
                    });
                }
                guards.push(guard);
            }
            let mut effects = Vec::with_capacity(t.effects.len());
            for item in &t.effects {
                let effect = Effect::parse(item).map_err(|e| match e {
                    ParseError::Unknown => DefinitionError::UnknownEffect {
                        at: at.clone(),
                        name: item.clone(),
                    },
                    ParseError::BadParameter(reason) => DefinitionError::BadParameter {
                        at: at.clone(),
                        item: item.clone(),
                        reason,
                    },
                })?;
                if effect.needs_recipient() && !action.has_recipient() {
                    return Err(DefinitionError::NeedsRecipient {
                        at,
                        item: item.clone(),
                    });
                }
                if effect == Effect::AppointRecipient
                    && effects.iter().any(|e: &Effect| e.changes_holders())
                {
                    return Err(DefinitionError::AppointAfterHolderChange { at });
                }
                effects.push(effect);
            }
            let status_effects = effects
                .iter()
                .filter(|e| matches!(e, Effect::SetStatus | Effect::SetStatusWhenAllGatedOut))
                .count();
            if status_effects != 1 {
                return Err(DefinitionError::StatusEffect { at });
            }
            transitions.push(Transition {
                action,
                from,
                to,
                guards,
                effects,
            });
        }

        // Every declared state must be reachable from an initial state.
        let mut reached: BTreeSet<Status> = initial.clone();
        let mut frontier: Vec<Status> = initial.iter().copied().collect();
        let mut edges: BTreeMap<Status, BTreeSet<Status>> = BTreeMap::new();
        for t in &transitions {
            for s in t.from.iter().flatten() {
                edges.entry(*s).or_default().insert(t.to);
            }
        }
        // Each state enters the frontier once, so this loop runs at most `states.len()` times.
        while let Some(s) = frontier.pop() {
            for next in edges.get(&s).into_iter().flatten() {
                if reached.insert(*next) {
                    frontier.push(*next);
                }
            }
        }
        if let Some(state) = states.iter().find(|s| !reached.contains(s)) {
            return Err(DefinitionError::UnreachableState {
                at: top,
                state: *state,
            });
        }

        Ok(Definition {
            kind,
            states,
            initial,
            terminal,
            transitions,
            raw,
        })
    }

    /// The transition for `action` from `from` (`None` = the document does not exist).
    pub fn transition(&self, action: Action, from: Option<Status>) -> Option<&Transition> {
        self.transitions
            .iter()
            .find(|t| t.action == action && t.from.contains(&from))
    }

    /// Whether `action` can create a document of this kind.
    pub fn creates_with(&self, action: Action) -> bool {
        self.transition(action, None).is_some()
    }

    pub fn is_terminal(&self, status: Status) -> bool {
        self.terminal.contains(&status)
    }
}
