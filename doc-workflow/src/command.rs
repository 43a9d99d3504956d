//! What a party asks the engine to do. A command names no document: the ledger's transaction
//! carries the [`DocumentId`](crate::DocumentId) next to it, and the command's action decides the
//! key space ([`Command::class`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codes::ContainerNumber;
use crate::ids::{BlockTime, DocumentClass, PartyCode};
use crate::release::ReleaseCondition;

/// Longest free-text comment or reason, in characters. A comment explains a refusal to a person;
/// 500 characters is a paragraph, and bounds what every replica stores forever.
pub const COMMENT_CHARS_MAX: usize = 500;

/// Most containers one command on release rights (release, nomination, condition, revocation,
/// gate-out) may name: the most a bill may list
/// ([`EQUIPMENTS_MAX`](crate::content::EQUIPMENTS_MAX)).
pub const GATE_OUT_CONTAINERS_MAX: usize = crate::content::EQUIPMENTS_MAX;

/// Why a bill is surrendered for amendment (DCSA eBL 3.0 surrender request reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AmendmentReason {
    SwitchToPaper,
    ChangeOfDestination,
    SwitchBill,
}

/// The new bill issued in the same transaction that voids the old one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Replacement {
    /// The new DCSA transport document; its `transportDocumentReference` names the new bill.
    pub content: serde_json::Value,
    /// The party that becomes the new bill's first possessor.
    pub issue_to: PartyCode,
}

/// A request to change one document. Serialized as `{"action": "TRANSFER", "to": "BANK"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "action",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase"
)]
pub enum Command {
    /// A carrier publishes a draft for the shipper named in it to approve.
    PublishDraft {
        content: serde_json::Value,
    },
    /// The shipper named in the draft approves it.
    ApproveDraft,
    /// The carrier issues the document: with `content` directly, or without it from `APPROVED`
    /// using the approved content.
    Issue {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<serde_json::Value>,
        issue_to: PartyCode,
    },
    /// Possession passes to `to`; title is unchanged.
    Transfer {
        to: PartyCode,
    },
    /// Title and possession pass to `to`, which may not endorse further.
    Endorse {
        to: PartyCode,
    },
    /// Title and possession pass to `to`, which may endorse again.
    EndorseToOrder {
        to: PartyCode,
    },
    /// The bill becomes blank-endorsed: possession alone confers title from then on.
    BlankEndorse,
    /// The possessor signs the record; nothing else changes.
    Sign,
    /// The party just appointed refuses the transfer or endorsement, as its very next action.
    RejectTransfer {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    SurrenderForDelivery,
    SurrenderForAmendment {
        reason: AmendmentReason,
    },
    AcceptSurrender,
    RejectSurrender {
        comment: String,
    },
    /// Voids a bill surrendered for amendment and, atomically, issues its replacement.
    Void {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replacement: Option<Replacement>,
    },
    /// The carrier releases every container of a delivered bill at the terminal `port`, to the
    /// party entitled to the cargo (the surrendering party of a bill of lading, the consignee
    /// of a sea waybill): [`ReleaseContainers`](Command::ReleaseContainers) for the whole bill.
    ReleaseCargo {
        port: PartyCode,
    },
    /// The carrier grants a release right for each named container of a delivered bill to
    /// `to`, collectable at `terminal`, optionally within a window and subject to conditions.
    ReleaseContainers {
        containers: Vec<ContainerNumber>,
        to: PartyCode,
        terminal: PartyCode,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        valid_from: Option<BlockTime>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        valid_until: Option<BlockTime>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        conditions: Vec<ReleaseCondition>,
    },
    /// The holder of the rights names the haulier (and optionally the truck) that collects.
    NominateHaulier {
        containers: Vec<ContainerNumber>,
        haulier: PartyCode,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        truck: Option<String>,
        /// Whether the haulier may change the truck reference itself.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        haulier_may_renominate: bool,
    },
    /// The nominated haulier, if the holder allows it, names another truck or driver.
    NominateTruck {
        containers: Vec<ContainerNumber>,
        truck: String,
    },
    /// The carrier (any condition) or the terminal (customs clearance) records a condition met.
    MarkConditionMet {
        containers: Vec<ContainerNumber>,
        condition: ReleaseCondition,
    },
    /// The carrier withdraws unused rights.
    RevokeRelease {
        containers: Vec<ContainerNumber>,
        reason: String,
    },
    /// The terminal records containers leaving it, each spending its right.
    GateOut {
        containers: Vec<ContainerNumber>,
        /// The haulier whose truck presented; the right's collector if not given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        haulier: Option<PartyCode>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        truck: Option<String>,
    },
}

/// The closed vocabulary of action names, one per [`Command`] variant; definitions name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    PublishDraft,
    ApproveDraft,
    Issue,
    Transfer,
    Endorse,
    EndorseToOrder,
    BlankEndorse,
    Sign,
    RejectTransfer,
    SurrenderForDelivery,
    SurrenderForAmendment,
    AcceptSurrender,
    RejectSurrender,
    Void,
    ReleaseCargo,
    ReleaseContainers,
    NominateHaulier,
    NominateTruck,
    MarkConditionMet,
    RevokeRelease,
    GateOut,
}

impl Action {
    pub const ALL: [Action; 21] = [
        Action::PublishDraft,
        Action::ApproveDraft,
        Action::Issue,
        Action::Transfer,
        Action::Endorse,
        Action::EndorseToOrder,
        Action::BlankEndorse,
        Action::Sign,
        Action::RejectTransfer,
        Action::SurrenderForDelivery,
        Action::SurrenderForAmendment,
        Action::AcceptSurrender,
        Action::RejectSurrender,
        Action::Void,
        Action::ReleaseCargo,
        Action::ReleaseContainers,
        Action::NominateHaulier,
        Action::NominateTruck,
        Action::MarkConditionMet,
        Action::RevokeRelease,
        Action::GateOut,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Action::PublishDraft => "PUBLISH_DRAFT",
            Action::ApproveDraft => "APPROVE_DRAFT",
            Action::Issue => "ISSUE",
            Action::Transfer => "TRANSFER",
            Action::Endorse => "ENDORSE",
            Action::EndorseToOrder => "ENDORSE_TO_ORDER",
            Action::BlankEndorse => "BLANK_ENDORSE",
            Action::Sign => "SIGN",
            Action::RejectTransfer => "REJECT_TRANSFER",
            Action::SurrenderForDelivery => "SURRENDER_FOR_DELIVERY",
            Action::SurrenderForAmendment => "SURRENDER_FOR_AMENDMENT",
            Action::AcceptSurrender => "ACCEPT_SURRENDER",
            Action::RejectSurrender => "REJECT_SURRENDER",
            Action::Void => "VOID",
            Action::ReleaseCargo => "RELEASE_CARGO",
            Action::ReleaseContainers => "RELEASE_CONTAINERS",
            Action::NominateHaulier => "NOMINATE_HAULIER",
            Action::NominateTruck => "NOMINATE_TRUCK",
            Action::MarkConditionMet => "MARK_CONDITION_MET",
            Action::RevokeRelease => "REVOKE_RELEASE",
            Action::GateOut => "GATE_OUT",
        }
    }

    pub fn from_code(code: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.code() == code)
    }

    /// Whether the command names a recipient party (`to`, `issue_to`, `port` or `haulier`).
    pub fn has_recipient(self) -> bool {
        matches!(
            self,
            Action::Issue
                | Action::Transfer
                | Action::Endorse
                | Action::EndorseToOrder
                | Action::ReleaseCargo
                | Action::ReleaseContainers
                | Action::NominateHaulier
        )
    }

    /// The key space the action works in.
    pub fn class(self) -> DocumentClass {
        match self {
            Action::ReleaseCargo
            | Action::ReleaseContainers
            | Action::NominateHaulier
            | Action::NominateTruck
            | Action::MarkConditionMet
            | Action::RevokeRelease
            | Action::GateOut => DocumentClass::CargoRelease,
            _ => DocumentClass::TransportDocument,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Command {
    pub fn action(&self) -> Action {
        match self {
            Command::PublishDraft { .. } => Action::PublishDraft,
            Command::ApproveDraft => Action::ApproveDraft,
            Command::Issue { .. } => Action::Issue,
            Command::Transfer { .. } => Action::Transfer,
            Command::Endorse { .. } => Action::Endorse,
            Command::EndorseToOrder { .. } => Action::EndorseToOrder,
            Command::BlankEndorse => Action::BlankEndorse,
            Command::Sign => Action::Sign,
            Command::RejectTransfer { .. } => Action::RejectTransfer,
            Command::SurrenderForDelivery => Action::SurrenderForDelivery,
            Command::SurrenderForAmendment { .. } => Action::SurrenderForAmendment,
            Command::AcceptSurrender => Action::AcceptSurrender,
            Command::RejectSurrender { .. } => Action::RejectSurrender,
            Command::Void { .. } => Action::Void,
            Command::ReleaseCargo { .. } => Action::ReleaseCargo,
            Command::ReleaseContainers { .. } => Action::ReleaseContainers,
            Command::NominateHaulier { .. } => Action::NominateHaulier,
            Command::NominateTruck { .. } => Action::NominateTruck,
            Command::MarkConditionMet { .. } => Action::MarkConditionMet,
            Command::RevokeRelease { .. } => Action::RevokeRelease,
            Command::GateOut { .. } => Action::GateOut,
        }
    }

    pub fn class(&self) -> DocumentClass {
        self.action().class()
    }

    /// The party the command hands something to, if any.
    pub fn recipient(&self) -> Option<&PartyCode> {
        match self {
            Command::Issue { issue_to, .. } => Some(issue_to),
            Command::Transfer { to } | Command::Endorse { to } | Command::EndorseToOrder { to } => {
                Some(to)
            }
            Command::ReleaseCargo { port } => Some(port),
            Command::ReleaseContainers { to, .. } => Some(to),
            Command::NominateHaulier { haulier, .. } => Some(haulier),
            _ => None,
        }
    }

    /// The containers a command on release rights names, if it is one (`RELEASE_CARGO` names
    /// none: it releases the whole bill).
    pub fn containers(&self) -> Option<&[ContainerNumber]> {
        match self {
            Command::ReleaseContainers { containers, .. }
            | Command::NominateHaulier { containers, .. }
            | Command::NominateTruck { containers, .. }
            | Command::MarkConditionMet { containers, .. }
            | Command::RevokeRelease { containers, .. }
            | Command::GateOut { containers, .. } => Some(containers),
            _ => None,
        }
    }

    /// The truck or driver reference a command names, if any.
    pub fn truck(&self) -> Option<&str> {
        match self {
            Command::NominateHaulier { truck, .. } | Command::GateOut { truck, .. } => {
                truck.as_deref()
            }
            Command::NominateTruck { truck, .. } => Some(truck),
            _ => None,
        }
    }

    /// The DCSA content the command carries, if any (the replacement's for `VOID`).
    pub fn content(&self) -> Option<&serde_json::Value> {
        match self {
            Command::PublishDraft { content } => Some(content),
            Command::Issue { content, .. } => content.as_ref(),
            Command::Void { replacement } => replacement.as_ref().map(|r| &r.content),
            _ => None,
        }
    }

    /// Free text the command carries (a comment or reason), if any.
    pub fn comment(&self) -> Option<&str> {
        match self {
            Command::RejectTransfer { reason } => reason.as_deref(),
            Command::RejectSurrender { comment } => Some(comment),
            Command::RevokeRelease { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_use_screaming_snake_action_names() {
        let c: Command =
            serde_json::from_str(r#"{"action":"ENDORSE_TO_ORDER","to":"BANK"}"#).unwrap();
        assert_eq!(c.action(), Action::EndorseToOrder);
        let json = serde_json::to_string(&Command::SurrenderForAmendment {
            reason: AmendmentReason::SwitchToPaper,
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"action":"SURRENDER_FOR_AMENDMENT","reason":"SWITCH_TO_PAPER"}"#
        );
        let issue: Command =
            serde_json::from_str(r#"{"action":"ISSUE","issueTo":"SHIPPER"}"#).unwrap();
        assert_eq!(issue.recipient().map(PartyCode::as_str), Some("SHIPPER"));
    }

    #[test]
    fn action_codes_round_trip() {
        for action in Action::ALL {
            assert_eq!(Action::from_code(action.code()), Some(action));
            let json = serde_json::to_string(&action).unwrap();
            assert_eq!(json, format!("\"{}\"", action.code()));
        }
    }
}
