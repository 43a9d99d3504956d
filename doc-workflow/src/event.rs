//! What happened: one event per document an accepted command changed, in past tense. The ledger
//! appends them to each document's history; adapters react to them after commit.

use serde::{Deserialize, Serialize};

use crate::codes::ContainerNumber;
use crate::command::AmendmentReason;
use crate::ids::{BlockTime, DocumentKey, DocumentRef, PartyCode};
use crate::release::ReleaseCondition;
use crate::state::{Mode, Status};

/// One entry in a document's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub document: DocumentKey,
    /// The document's sequence number after this event (1 for the event that created it).
    pub sequence: u64,
    /// The acting party (the carrier, for the reissued bill of a `VOID`).
    pub actor: PartyCode,
    pub at: BlockTime,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "event",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase"
)]
pub enum EventKind {
    DraftPublished {
        content_sha256: String,
    },
    DraftApproved,
    Issued {
        possessor: PartyCode,
        mode: Mode,
        content_sha256: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        amends: Option<DocumentRef>,
    },
    Transferred {
        from: PartyCode,
        to: PartyCode,
    },
    Endorsed {
        from: PartyCode,
        to: PartyCode,
        may_endorse_further: bool,
    },
    BlankEndorsed,
    Signed,
    TransferRejected {
        /// The possessor restored by the rejection.
        restored_possessor: Option<PartyCode>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    SurrenderedForDelivery,
    SurrenderedForAmendment {
        reason: AmendmentReason,
    },
    SurrenderAccepted {
        status: Status,
    },
    SurrenderRejected {
        comment: String,
        possessor: PartyCode,
    },
    Voided {
        #[serde(skip_serializing_if = "Option::is_none")]
        replaced_by: Option<DocumentRef>,
    },
    /// Release rights granted: by `RELEASE_CARGO` (every container of the bill) or
    /// `RELEASE_CONTAINERS`; `port` is the terminal, `holder` the party the rights belong to.
    CargoReleased {
        port: PartyCode,
        holder: PartyCode,
        containers: Vec<ContainerNumber>,
    },
    HaulierNominated {
        containers: Vec<ContainerNumber>,
        haulier: PartyCode,
        #[serde(skip_serializing_if = "Option::is_none")]
        truck: Option<String>,
        /// The terminals of the containers, told of the nomination.
        terminals: Vec<PartyCode>,
    },
    TruckNominated {
        containers: Vec<ContainerNumber>,
        truck: String,
        terminals: Vec<PartyCode>,
    },
    ConditionMet {
        containers: Vec<ContainerNumber>,
        condition: ReleaseCondition,
        terminals: Vec<PartyCode>,
    },
    ReleaseRevoked {
        containers: Vec<ContainerNumber>,
        reason: String,
        terminals: Vec<PartyCode>,
        /// The hauliers that were nominated for them, told that they may no longer collect.
        hauliers: Vec<PartyCode>,
    },
    GatedOut {
        containers: Vec<ContainerNumber>,
        completed: bool,
    },
    /// Arrived from another eBL platform (DCSA PINT), the envelope verified by every node:
    /// `from` is the sender (a party of `platform`, named `PLATFORM:code`), `to` the party here
    /// that now holds it, `action` the PINT action that handed it over.
    ReceivedFromPlatform {
        platform: String,
        from: PartyCode,
        to: PartyCode,
        action: String,
    },
    /// Left for another eBL platform (DCSA PINT): its signed receipt (`RECE` or `DUPE`) is on
    /// the ledger, and every local action is refused until the bill comes back.
    SentToPlatform {
        platform: String,
        to: PartyCode,
        action: String,
        response_code: String,
    },
    /// The other platform refused the bill with a signed `BENV`, `BSIG` or `DISE`: possession
    /// stays (returns) with `possessor`.
    ReturnedByPlatform {
        platform: String,
        response_code: String,
        possessor: PartyCode,
    },
}

impl EventKind {
    /// The stable SCREAMING_SNAKE name, as serialized.
    pub fn code(&self) -> &'static str {
        match self {
            EventKind::DraftPublished { .. } => "DRAFT_PUBLISHED",
            EventKind::DraftApproved => "DRAFT_APPROVED",
            EventKind::Issued { .. } => "ISSUED",
            EventKind::Transferred { .. } => "TRANSFERRED",
            EventKind::Endorsed { .. } => "ENDORSED",
            EventKind::BlankEndorsed => "BLANK_ENDORSED",
            EventKind::Signed => "SIGNED",
            EventKind::TransferRejected { .. } => "TRANSFER_REJECTED",
            EventKind::SurrenderedForDelivery => "SURRENDERED_FOR_DELIVERY",
            EventKind::SurrenderedForAmendment { .. } => "SURRENDERED_FOR_AMENDMENT",
            EventKind::SurrenderAccepted { .. } => "SURRENDER_ACCEPTED",
            EventKind::SurrenderRejected { .. } => "SURRENDER_REJECTED",
            EventKind::Voided { .. } => "VOIDED",
            EventKind::CargoReleased { .. } => "CARGO_RELEASED",
            EventKind::HaulierNominated { .. } => "HAULIER_NOMINATED",
            EventKind::TruckNominated { .. } => "TRUCK_NOMINATED",
            EventKind::ConditionMet { .. } => "CONDITION_MET",
            EventKind::ReleaseRevoked { .. } => "RELEASE_REVOKED",
            EventKind::GatedOut { .. } => "GATED_OUT",
            EventKind::ReceivedFromPlatform { .. } => "RECEIVED_FROM_PLATFORM",
            EventKind::SentToPlatform { .. } => "SENT_TO_PLATFORM",
            EventKind::ReturnedByPlatform { .. } => "RETURNED_BY_PLATFORM",
        }
    }
}
