//! Why a command was refused. A refusal is a deterministic value the ledger records in the block,
//! not an error: every replica refuses the same command for the same reason.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codes::ContainerNumber;
use crate::command::Action;
use crate::content::ContentProblem;
use crate::ids::{BlockTime, DocumentKey, PartyCode, Role};
use crate::release::{GateReason, ReleaseCondition};
use crate::state::{DocumentKind, Mode, Status};

/// The rule that refused a command. Serialized with its [`code`](Refusal::code) as `refusal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "refusal",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase"
)]
pub enum Refusal {
    DocumentNotFound {
        document: DocumentKey,
    },
    ReferenceAlreadyUsed {
        document: DocumentKey,
    },
    NoWorkflowForKind {
        kind: DocumentKind,
    },
    TerminalState {
        document: DocumentKey,
        status: Status,
    },
    ActionNotAllowed {
        action: Action,
        status: Status,
    },
    ObserverCannotWrite {
        actor: PartyCode,
    },
    MissingRole {
        actor: PartyCode,
        role: Role,
    },
    NotCarrier {
        document: DocumentKey,
        actor: PartyCode,
    },
    NotPossessor {
        document: DocumentKey,
        actor: PartyCode,
    },
    NotEndorsee {
        document: DocumentKey,
        actor: PartyCode,
    },
    NotShipper {
        document: DocumentKey,
        actor: PartyCode,
    },
    NotConsignee {
        document: DocumentKey,
        actor: PartyCode,
    },
    NotNamedParty {
        actor: PartyCode,
        party: PartyCode,
    },
    NotAppointee {
        document: DocumentKey,
        actor: PartyCode,
    },
    RejectionNotNextAction {
        document: DocumentKey,
    },
    TransferToSelf {
        actor: PartyCode,
    },
    RecipientNotConsigneeOrCarrier {
        recipient: PartyCode,
    },
    WrongMode {
        action: Action,
        mode: Option<Mode>,
        required: Mode,
    },
    EndorseeMayNotEndorse {
        document: DocumentKey,
        actor: PartyCode,
    },
    NoSurrenderRight {
        document: DocumentKey,
        actor: PartyCode,
        mode: Option<Mode>,
    },
    InvalidContent {
        problems: Vec<ContentProblem>,
    },
    ContentRequired,
    ContentAlreadyApproved,
    CommentRequired,
    CommentTooLong {
        chars: usize,
        max: usize,
    },
    ReplacementRequired,
    BillNotDeliverable {
        bill: DocumentKey,
        kind: Option<DocumentKind>,
        status: Option<Status>,
    },
    NotReleasePort {
        actor: PartyCode,
        port: PartyCode,
    },
    /// A command would make a party the network does not know a holder (possessor, endorsee or
    /// release port).
    UnknownParty {
        party: PartyCode,
    },
    /// A cargo release addressed to a party that does not act with the PORT role.
    NotAPort {
        party: PartyCode,
    },
    NoContainers,
    TooManyContainers {
        count: usize,
        max: usize,
    },
    ContainerNotReleased {
        container: ContainerNumber,
    },
    ContainerAlreadyGatedOut {
        container: ContainerNumber,
    },
    TooManySignatures {
        max: usize,
    },
    /// A container the bill does not list.
    ContainerNotOnBill {
        container: ContainerNumber,
    },
    /// A container named twice in one command.
    ContainerNamedTwice {
        container: ContainerNumber,
    },
    /// A container that already has a right not revoked (released or collected).
    ContainerAlreadyReleased {
        container: ContainerNumber,
    },
    /// A validity window that is empty or already over at the block's time.
    InvalidValidityWindow {
        valid_from: Option<BlockTime>,
        valid_until: Option<BlockTime>,
        at: BlockTime,
    },
    NotRightHolder {
        container: ContainerNumber,
        actor: PartyCode,
    },
    NotNominatedHaulier {
        container: ContainerNumber,
        actor: PartyCode,
    },
    RenominationNotAllowed {
        container: ContainerNumber,
    },
    /// The actor may not mark this condition met (the carrier marks any, the terminal customs).
    MayNotMarkCondition {
        condition: ReleaseCondition,
        actor: PartyCode,
    },
    /// The right carries no such condition.
    ConditionNotRequired {
        container: ContainerNumber,
        condition: ReleaseCondition,
    },
    TruckRefInvalid {
        chars: usize,
        max: usize,
    },
    ReleaseRevoked {
        container: ContainerNumber,
    },
    ReleaseExpired {
        container: ContainerNumber,
    },
    ReleaseNotYetValid {
        container: ContainerNumber,
    },
    ConditionsUnmet {
        container: ContainerNumber,
    },
    WrongHaulier {
        container: ContainerNumber,
        haulier: PartyCode,
    },
    WrongTruck {
        container: ContainerNumber,
    },
    /// The stored state or the definition broke an invariant; nothing was changed.
    InconsistentState {
        detail: String,
    },
}

impl Refusal {
    /// Stable SCREAMING_SNAKE code for APIs; equal to the serialized `refusal` tag.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::DocumentNotFound { .. } => "DOCUMENT_NOT_FOUND",
            Refusal::ReferenceAlreadyUsed { .. } => "REFERENCE_ALREADY_USED",
            Refusal::NoWorkflowForKind { .. } => "NO_WORKFLOW_FOR_KIND",
            Refusal::TerminalState { .. } => "TERMINAL_STATE",
            Refusal::ActionNotAllowed { .. } => "ACTION_NOT_ALLOWED",
            Refusal::ObserverCannotWrite { .. } => "OBSERVER_CANNOT_WRITE",
            Refusal::MissingRole { .. } => "MISSING_ROLE",
            Refusal::NotCarrier { .. } => "NOT_CARRIER",
            Refusal::NotPossessor { .. } => "NOT_POSSESSOR",
            Refusal::NotEndorsee { .. } => "NOT_ENDORSEE",
            Refusal::NotShipper { .. } => "NOT_SHIPPER",
            Refusal::NotConsignee { .. } => "NOT_CONSIGNEE",
            Refusal::NotNamedParty { .. } => "NOT_NAMED_PARTY",
            Refusal::NotAppointee { .. } => "NOT_APPOINTEE",
            Refusal::RejectionNotNextAction { .. } => "REJECTION_NOT_NEXT_ACTION",
            Refusal::TransferToSelf { .. } => "TRANSFER_TO_SELF",
            Refusal::RecipientNotConsigneeOrCarrier { .. } => "RECIPIENT_NOT_CONSIGNEE_OR_CARRIER",
            Refusal::WrongMode { .. } => "WRONG_MODE",
            Refusal::EndorseeMayNotEndorse { .. } => "ENDORSEE_MAY_NOT_ENDORSE",
            Refusal::NoSurrenderRight { .. } => "NO_SURRENDER_RIGHT",
            Refusal::InvalidContent { .. } => "INVALID_CONTENT",
            Refusal::ContentRequired => "CONTENT_REQUIRED",
            Refusal::ContentAlreadyApproved => "CONTENT_ALREADY_APPROVED",
            Refusal::CommentRequired => "COMMENT_REQUIRED",
            Refusal::CommentTooLong { .. } => "COMMENT_TOO_LONG",
            Refusal::ReplacementRequired => "REPLACEMENT_REQUIRED",
            Refusal::BillNotDeliverable { .. } => "BILL_NOT_DELIVERABLE",
            Refusal::NotReleasePort { .. } => "NOT_RELEASE_PORT",
            Refusal::UnknownParty { .. } => "UNKNOWN_PARTY",
            Refusal::NotAPort { .. } => "NOT_A_PORT",
            Refusal::NoContainers => "NO_CONTAINERS",
            Refusal::TooManyContainers { .. } => "TOO_MANY_CONTAINERS",
            Refusal::ContainerNotReleased { .. } => "CONTAINER_NOT_RELEASED",
            Refusal::ContainerAlreadyGatedOut { .. } => "CONTAINER_ALREADY_GATED_OUT",
            Refusal::TooManySignatures { .. } => "TOO_MANY_SIGNATURES",
            Refusal::ContainerNotOnBill { .. } => "CONTAINER_NOT_ON_BILL",
            Refusal::ContainerNamedTwice { .. } => "CONTAINER_NAMED_TWICE",
            Refusal::ContainerAlreadyReleased { .. } => "CONTAINER_ALREADY_RELEASED",
            Refusal::InvalidValidityWindow { .. } => "INVALID_VALIDITY_WINDOW",
            Refusal::NotRightHolder { .. } => "NOT_RIGHT_HOLDER",
            Refusal::NotNominatedHaulier { .. } => "NOT_NOMINATED_HAULIER",
            Refusal::RenominationNotAllowed { .. } => "RENOMINATION_NOT_ALLOWED",
            Refusal::MayNotMarkCondition { .. } => "MAY_NOT_MARK_CONDITION",
            Refusal::ConditionNotRequired { .. } => "CONDITION_NOT_REQUIRED",
            Refusal::TruckRefInvalid { .. } => "TRUCK_REF_INVALID",
            Refusal::ReleaseRevoked { .. } => "RELEASE_REVOKED",
            Refusal::ReleaseExpired { .. } => "RELEASE_EXPIRED",
            Refusal::ReleaseNotYetValid { .. } => "RELEASE_NOT_YET_VALID",
            Refusal::ConditionsUnmet { .. } => "CONDITIONS_UNMET",
            Refusal::WrongHaulier { .. } => "WRONG_HAULIER",
            Refusal::WrongTruck { .. } => "WRONG_TRUCK",
            Refusal::InconsistentState { .. } => "INCONSISTENT_STATE",
        }
    }
}

fn opt<T: fmt::Display>(value: &Option<T>) -> String {
    value
        .as_ref()
        .map_or_else(|| "none".to_owned(), ToString::to_string)
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::DocumentNotFound { document } => {
                write!(f, "document {document} does not exist")
            }
            Refusal::ReferenceAlreadyUsed { document } => {
                write!(
                    f,
                    "reference already used: {document} exists, and a reference is issued once"
                )
            }
            Refusal::NoWorkflowForKind { kind } => write!(f, "no workflow is defined for {kind}"),
            Refusal::TerminalState { document, status } => {
                write!(
                    f,
                    "{document} is {status}, a terminal state: nothing may follow it"
                )
            }
            Refusal::ActionNotAllowed { action, status } => {
                write!(f, "{action} is not allowed while the document is {status}")
            }
            Refusal::ObserverCannotWrite { actor } => {
                write!(f, "{actor} is an observer: observers read and never write")
            }
            Refusal::MissingRole { actor, role } => {
                write!(f, "only a {role} may do this; {actor} is not one")
            }
            Refusal::NotCarrier { document, actor } => {
                write!(
                    f,
                    "only the carrier of {document} may do this; {actor} is not it"
                )
            }
            Refusal::NotPossessor { document, actor } => {
                write!(
                    f,
                    "only the possessor of {document} may do this; {actor} does not possess it"
                )
            }
            Refusal::NotEndorsee { document, actor } => {
                write!(
                    f,
                    "only the endorsee of {document} may endorse it; {actor} is not the endorsee"
                )
            }
            Refusal::NotShipper { document, actor } => {
                write!(
                    f,
                    "only the shipper named in {document} may do this; {actor} is not it"
                )
            }
            Refusal::NotConsignee { document, actor } => {
                write!(
                    f,
                    "only the consignee named in {document} may do this; {actor} is not it"
                )
            }
            Refusal::NotNamedParty { actor, party } => {
                write!(f, "only {party} may do this; {actor} is not it")
            }
            Refusal::NotAppointee { document, actor } => write!(
                f,
                "only the party just appointed on {document} may reject the transfer; {actor} is not it"
            ),
            Refusal::RejectionNotNextAction { document } => write!(
                f,
                "no transfer of {document} can be rejected: rejection must be the appointee's very next action"
            ),
            Refusal::TransferToSelf { actor } => {
                write!(f, "{actor} cannot transfer or endorse to itself")
            }
            Refusal::RecipientNotConsigneeOrCarrier { recipient } => write!(
                f,
                "a straight bill passes only to its consignee or its carrier; {recipient} is neither"
            ),
            Refusal::WrongMode {
                action,
                mode,
                required,
            } => {
                write!(
                    f,
                    "{action} needs a {required} bill; this one is {}",
                    opt(mode)
                )
            }
            Refusal::EndorseeMayNotEndorse { document, actor } => write!(
                f,
                "{actor} received {document} by ENDORSE and may not endorse further"
            ),
            Refusal::NoSurrenderRight {
                document,
                actor,
                mode,
            } => write!(
                f,
                "{actor} has no right to surrender {document} ({} bill): straight -> shipper or consignee, to order -> the endorsee, blank -> the possessor",
                opt(mode)
            ),
            Refusal::InvalidContent { problems } => {
                let n = problems.len();
                let noun = if n == 1 { "problem" } else { "problems" };
                write!(f, "the document content is invalid ({n} {noun})")?;
                for p in problems {
                    write!(f, "; {p}")?;
                }
                Ok(())
            }
            Refusal::ContentRequired => write!(f, "this action needs the document content"),
            Refusal::ContentAlreadyApproved => {
                write!(
                    f,
                    "an approved draft is issued with its approved content; do not send content"
                )
            }
            Refusal::CommentRequired => write!(f, "a comment is required"),
            Refusal::CommentTooLong { chars, max } => {
                write!(
                    f,
                    "the comment is {chars} characters long; at most {max} are allowed"
                )
            }
            Refusal::ReplacementRequired => write!(f, "this action needs a replacement document"),
            Refusal::BillNotDeliverable { bill, kind, status } => write!(
                f,
                "cargo is released only for a bill of lading SURRENDERED_FOR_DELIVERY or an ISSUED sea waybill; {bill} is a {} in {}",
                opt(kind),
                opt(status)
            ),
            Refusal::NotReleasePort { actor, port } => {
                write!(f, "the cargo release is addressed to {port}, not {actor}")
            }
            Refusal::UnknownParty { party } => write!(
                f,
                "{party} is not a party on this network: title, possession and cargo releases go only to parties the network knows"
            ),
            Refusal::NotAPort { party } => write!(
                f,
                "cargo is released only to a port (a party with the PORT role); {party} is not one"
            ),
            Refusal::NoContainers => write!(f, "the command names no container"),
            Refusal::TooManyContainers { count, max } => {
                write!(f, "{count} containers named; at most {max} are allowed")
            }
            Refusal::ContainerNotReleased { container } => {
                write!(
                    f,
                    "container {container} is not covered by this cargo release"
                )
            }
            Refusal::ContainerAlreadyGatedOut { container } => {
                write!(f, "container {container} has already gated out")
            }
            Refusal::TooManySignatures { max } => {
                write!(f, "the document already has {max} signatures")
            }
            Refusal::ContainerNotOnBill { container } => {
                write!(f, "container {container} is not listed on the bill")
            }
            Refusal::ContainerNamedTwice { container } => {
                write!(f, "container {container} is named twice")
            }
            Refusal::ContainerAlreadyReleased { container } => write!(
                f,
                "container {container} already has a release right; one right per container unless the carrier revoked it"
            ),
            Refusal::InvalidValidityWindow {
                valid_from,
                valid_until,
                at,
            } => write!(
                f,
                "the validity window {}..{} is empty or over at block time {}",
                opt(&valid_from.map(|t| t.0)),
                opt(&valid_until.map(|t| t.0)),
                at.0
            ),
            Refusal::NotRightHolder { container, actor } => write!(
                f,
                "only the holder of the release right for {container} may do this; {actor} is not it"
            ),
            Refusal::NotNominatedHaulier { container, actor } => write!(
                f,
                "only the haulier nominated for {container} may do this; {actor} is not it"
            ),
            Refusal::RenominationNotAllowed { container } => write!(
                f,
                "the holder of {container}'s release right did not let the haulier change the truck"
            ),
            Refusal::MayNotMarkCondition { condition, actor } => write!(
                f,
                "{actor} may not mark {condition} met: the carrier marks any condition, the terminal CUSTOMS_CLEARED"
            ),
            Refusal::ConditionNotRequired {
                container,
                condition,
            } => write!(
                f,
                "the release right for {container} carries no {condition} condition"
            ),
            Refusal::TruckRefInvalid { chars, max } => write!(
                f,
                "a truck reference is 1 to {max} characters of printable text; got {chars}"
            ),
            Refusal::ReleaseRevoked { container } => {
                write!(f, "the release right for {container} was revoked")
            }
            Refusal::ReleaseExpired { container } => {
                write!(f, "the release right for {container} has expired")
            }
            Refusal::ReleaseNotYetValid { container } => {
                write!(f, "the release right for {container} is not valid yet")
            }
            Refusal::ConditionsUnmet { container } => write!(
                f,
                "the conditions of the release right for {container} are not all met"
            ),
            Refusal::WrongHaulier { container, haulier } => write!(
                f,
                "{haulier} is not the party nominated to collect {container}"
            ),
            Refusal::WrongTruck { container } => write!(
                f,
                "the truck presented is not the one nominated to collect {container}"
            ),
            Refusal::InconsistentState { detail } => {
                write!(f, "refused to break an invariant of the record: {detail}")
            }
        }
    }
}

impl Refusal {
    /// The refusal of a gate-out (or a nomination) for `container` by the gate rule's reason.
    pub fn from_gate(
        container: &ContainerNumber,
        haulier: &PartyCode,
        reason: GateReason,
    ) -> Refusal {
        let container = container.clone();
        match reason {
            GateReason::NotReleased => Refusal::ContainerNotReleased { container },
            GateReason::Revoked => Refusal::ReleaseRevoked { container },
            GateReason::AlreadyCollected => Refusal::ContainerAlreadyGatedOut { container },
            GateReason::NotYetValid => Refusal::ReleaseNotYetValid { container },
            GateReason::Expired => Refusal::ReleaseExpired { container },
            GateReason::ConditionsUnmet => Refusal::ConditionsUnmet { container },
            GateReason::WrongHaulier => Refusal::WrongHaulier {
                container,
                haulier: haulier.clone(),
            },
            GateReason::WrongTruck => Refusal::WrongTruck { container },
        }
    }
}
