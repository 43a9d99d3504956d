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
    /// The carrier granted release rights to this party (the party entitled to the cargo).
    ReleaseGranted,
    /// The holder nominated this haulier to collect containers.
    HaulierNominated,
    /// A release right at this terminal, or one this haulier is nominated for, changed: a
    /// nomination, a truck, a condition met, a revocation, a gate-out.
    ReleaseChanged,
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
            Reason::ReleaseGranted => "the holder of the release rights",
            Reason::HaulierNominated => "the haulier nominated to collect",
            Reason::ReleaseChanged => "the terminal or haulier of the release rights",
        }
    }

    pub(super) fn subject(self) -> &'static str {
        match self {
            Reason::BillReceived => "is now in your control",
            Reason::SurrenderRequested => "surrender requested",
            Reason::SurrenderAccepted => "your surrender was accepted",
            Reason::SurrenderRejected => "your surrender was rejected",
            Reason::CargoReleased => "cargo released to you",
            Reason::ReleaseGranted => "release rights granted to you",
            Reason::HaulierNominated => "you are nominated to collect",
            Reason::ReleaseChanged => "a container release changed",
        }
    }
}

/// A party to tell about an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub party: PartyCode,
    pub reason: Reason,
}

/// Who must hear of `event`. The acting party is never told of its own action, and a party is
/// told once per event. On a cargo release, the terminal and the nominated haulier hear of every
/// change to the rights they act on (DOMAIN.md section 10).
pub fn notifications(event: &CommittedEvent) -> Vec<Notification> {
    let state = &event.state;
    let one = |party: Option<PartyCode>, reason| party.map(|p| (p, reason)).into_iter().collect();
    let changed = |parties: &mut dyn Iterator<Item = PartyCode>| -> Vec<(PartyCode, Reason)> {
        parties.map(|p| (p, Reason::ReleaseChanged)).collect()
    };
    let told: Vec<(PartyCode, Reason)> = match &event.event.kind {
        EventKind::Issued { possessor, .. } => one(Some(possessor.clone()), Reason::BillReceived),
        EventKind::Transferred { to, .. } | EventKind::Endorsed { to, .. } => {
            one(Some(to.clone()), Reason::BillReceived)
        }
        EventKind::TransferRejected {
            restored_possessor, ..
        } => one(restored_possessor.clone(), Reason::BillReceived),
        EventKind::ReceivedFromPlatform { to, .. } => one(Some(to.clone()), Reason::BillReceived),
        EventKind::ReturnedByPlatform { possessor, .. } => {
            one(Some(possessor.clone()), Reason::BillReceived)
        }
        EventKind::SurrenderedForDelivery | EventKind::SurrenderedForAmendment { .. } => {
            one(Some(state.carrier.clone()), Reason::SurrenderRequested)
        }
        EventKind::SurrenderAccepted { .. } => one(
            state.surrender.as_ref().map(|s| s.requester.clone()),
            Reason::SurrenderAccepted,
        ),
        EventKind::SurrenderRejected { possessor, .. } => {
            one(Some(possessor.clone()), Reason::SurrenderRejected)
        }
        EventKind::CargoReleased { port, holder, .. } => vec![
            (port.clone(), Reason::CargoReleased),
            (holder.clone(), Reason::ReleaseGranted),
        ],
        EventKind::HaulierNominated {
            haulier, terminals, ..
        } => std::iter::once((haulier.clone(), Reason::HaulierNominated))
            .chain(changed(&mut terminals.iter().cloned()))
            .collect(),
        EventKind::TruckNominated {
            containers,
            terminals,
            ..
        }
        | EventKind::ConditionMet {
            containers,
            terminals,
            ..
        } => changed(
            &mut terminals
                .iter()
                .cloned()
                .chain(hauliers_of(state, containers)),
        ),
        EventKind::ReleaseRevoked {
            terminals,
            hauliers,
            ..
        } => changed(&mut terminals.iter().chain(hauliers).cloned()),
        EventKind::GatedOut { containers, .. } => {
            changed(&mut hauliers_of(state, containers).into_iter())
        }
        EventKind::DraftPublished { .. }
        | EventKind::DraftApproved
        | EventKind::BlankEndorsed
        | EventKind::Signed
        | EventKind::Voided { .. }
        | EventKind::SentToPlatform { .. } => Vec::new(),
    };
    let mut seen = std::collections::BTreeSet::new();
    told.into_iter()
        .filter(|(p, _)| *p != event.event.actor && seen.insert(p.clone()))
        .map(|(party, reason)| Notification { party, reason })
        .collect()
}

/// The hauliers nominated, in `state`, for the named containers' rights.
fn hauliers_of(
    state: &DocumentState,
    containers: &[doc_workflow::ContainerNumber],
) -> Vec<PartyCode> {
    let Some(release) = &state.release else {
        return Vec::new();
    };
    containers
        .iter()
        .filter_map(|c| release.rights.get(c)?.haulier.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}
