//! Who must hear of a committed event, and why (pure); and which of a member's nodes mails a
//! block (module docs of `email`, "One sender per member and block").

use std::collections::BTreeSet;

use doc_workflow::{DocumentKey, DocumentState, Event, EventKind, PartyCode};
use ledger::{Hash32, NodeRecord, NodeRole, PartyRecord};

/// The parties `member` sponsors: the only ones its nodes mail.
pub fn member_parties(member: &PartyCode, parties: &[PartyRecord]) -> BTreeSet<PartyCode> {
    parties
        .iter()
        .filter(|p| p.sponsor == *member)
        .map(|p| p.code.clone())
        .collect()
}

/// Whether `record` was a voter once block `height` had applied, judged from its current state
/// (module docs, "One sender per member and block").
fn voter_at(record: &NodeRecord, height: u64) -> bool {
    match record.role {
        // Promoted at `since_height`: a learner (or not yet added) before that.
        NodeRole::Voter => record.since_height <= height,
        // A learner has never voted.
        NodeRole::Learner => false,
        // Removed after `height`: counted as a voter then; removed by then: gone.
        NodeRole::Removed => record.since_height > height,
    }
}

/// The raft id of `member`'s mailing node for block `height`: the lowest raft id among its
/// voters as of that block, judged from `nodes` (the ledger's node records, as of any block at
/// or after `height`). `None` if the member had no voter then.
pub fn mailing_node(member: &PartyCode, nodes: &[NodeRecord], height: u64) -> Option<u64> {
    nodes
        .iter()
        .filter(|n| n.member == *member && voter_at(n, height))
        .map(|n| n.raft_id)
        .min()
}

/// Whether node `raft_id` mails the events of block `height`: it is its member's mailing node
/// for that block and has not been removed since. `false` for a node the records do not know
/// yet (a joining node before its first snapshot).
pub fn mails_block(raft_id: u64, nodes: &[NodeRecord], height: u64) -> bool {
    let Some(own) = nodes.iter().find(|n| n.raft_id == raft_id) else {
        return false;
    };
    own.role != NodeRole::Removed && mailing_node(&own.member, nodes, height) == Some(raft_id)
}

/// One document event after its block committed, as the node reports it to adapters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedEvent {
    pub height: u64,
    /// The transaction's position in its block.
    pub position: u32,
    pub tx_hash: Hash32,
    /// The block's time.
    pub time_ms: u64,
    pub document: DocumentKey,
    pub event: Event,
    /// The document's state after the event.
    pub state: DocumentState,
}

/// Why a party is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// The bill was issued, transferred or endorsed to the party, or came back to it after a
    /// rejected transfer: it is now in its control.
    BillReceived,
    /// A holder surrendered the carrier's bill, for delivery or amendment.
    SurrenderRequested,
    SurrenderAccepted,
    SurrenderRejected,
    /// The carrier released cargo to this port or terminal.
    CargoReleased,
}

impl Reason {
    /// Who the told party is for this event, as the mail's `To:` line says it.
    pub fn role(self) -> &'static str {
        match self {
            Reason::BillReceived => "the bill's new holder",
            Reason::SurrenderRequested => "the carrier that issued the bill",
            Reason::SurrenderAccepted | Reason::SurrenderRejected => {
                "the party that requested the surrender"
            }
            Reason::CargoReleased => "the terminal the cargo is released to",
        }
    }

    pub(super) fn subject(self) -> &'static str {
        match self {
            Reason::BillReceived => "is now in your control",
            Reason::SurrenderRequested => "surrender requested",
            Reason::SurrenderAccepted => "your surrender was accepted",
            Reason::SurrenderRejected => "your surrender was rejected",
            Reason::CargoReleased => "cargo released to you",
        }
    }
}

/// A party to tell about an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub party: PartyCode,
    pub reason: Reason,
}

/// Who must hear of `event`. The acting party is never told of its own action.
pub fn notifications(event: &CommittedEvent) -> Vec<Notification> {
    let state = &event.state;
    let (party, reason) = match &event.event.kind {
        EventKind::Issued { possessor, .. } => (Some(possessor.clone()), Reason::BillReceived),
        EventKind::Transferred { to, .. } | EventKind::Endorsed { to, .. } => {
            (Some(to.clone()), Reason::BillReceived)
        }
        EventKind::TransferRejected {
            restored_possessor, ..
        } => (restored_possessor.clone(), Reason::BillReceived),
        EventKind::SurrenderedForDelivery | EventKind::SurrenderedForAmendment { .. } => {
            (Some(state.carrier.clone()), Reason::SurrenderRequested)
        }
        EventKind::SurrenderAccepted { .. } => (
            state.surrender.as_ref().map(|s| s.requester.clone()),
            Reason::SurrenderAccepted,
        ),
        EventKind::SurrenderRejected { possessor, .. } => {
            (Some(possessor.clone()), Reason::SurrenderRejected)
        }
        EventKind::CargoReleased { port, .. } => (Some(port.clone()), Reason::CargoReleased),
        EventKind::DraftPublished { .. }
        | EventKind::DraftApproved
        | EventKind::BlankEndorsed
        | EventKind::Signed
        | EventKind::Voided { .. }
        | EventKind::GatedOut { .. } => (None, Reason::BillReceived),
    };
    party
        .filter(|p| *p != event.event.actor)
        .map(|party| Notification { party, reason })
        .into_iter()
        .collect()
}
