//! The messages an event calls for: their ids (one per event and recipient address, also the
//! Message-ID), subjects and bodies.

use std::collections::BTreeSet;

use doc_workflow::{DocumentKey, EventKind, PartyCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::config::EmailConfig;
use super::recipients::{CommittedEvent, Notification, notifications};
use crate::time::iso8601_utc;

/// Identifies one message: the event (block height, position in the block, document) and the
/// recipient address. Its bytes sort by height, so the outbox drains oldest first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MailId {
    pub height: u64,
    pub position: u32,
    /// SHA-256 of the document key's display form, first 8 bytes.
    pub document: [u8; 8],
    /// SHA-256 of the recipient address, first 8 bytes.
    pub recipient: [u8; 8],
}

fn short_hash(text: &str) -> [u8; 8] {
    let digest = Sha256::digest(text.as_bytes());
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

impl MailId {
    pub fn new(height: u64, position: u32, document: &DocumentKey, recipient: &str) -> MailId {
        MailId {
            height,
            position,
            document: short_hash(&document.to_string()),
            recipient: short_hash(&recipient.to_ascii_lowercase()),
        }
    }

    /// The id of a message about something other than a document (a proposal): `subject`
    /// takes the document's place.
    pub fn for_subject(height: u64, position: u32, subject: &str, recipient: &str) -> MailId {
        MailId {
            height,
            position,
            document: short_hash(subject),
            recipient: short_hash(&recipient.to_ascii_lowercase()),
        }
    }

    pub(super) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(28);
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
        out.extend_from_slice(&self.document);
        out.extend_from_slice(&self.recipient);
        out
    }

    /// The stable Message-ID: `<height.position.document.recipient@silkline>`.
    pub fn message_id(&self) -> String {
        format!(
            "<{}.{}.{}.{}@silkline>",
            self.height,
            self.position,
            hex::encode(self.document),
            hex::encode(self.recipient)
        )
    }
}

/// A message ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutgoingMail {
    pub message_id: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    /// The block time of the event; the message's Date header, so a resend is byte-identical.
    pub time_ms: u64,
    #[serde(skip)]
    pub id: Option<MailIdBytes>,
}

/// The outbox key of a message (opaque).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailIdBytes(pub(super) Vec<u8>);

/// The messages `event` calls for under `config`: one per contact address of each notified
/// party that is one of `own_parties` (this node's member's,
/// [`member_parties`](super::member_parties)) and that the configuration lists. Parties of other
/// members are their own nodes' to tell.
pub fn plan(
    event: &CommittedEvent,
    config: &EmailConfig,
    own_parties: &BTreeSet<PartyCode>,
) -> Vec<OutgoingMail> {
    let mut out = Vec::new();
    for notification in notifications(event) {
        if !own_parties.contains(&notification.party) {
            continue;
        }
        let Some(addresses) = config.contacts.get(&notification.party) else {
            continue;
        };
        for address in addresses {
            let id = MailId::new(event.height, event.position, &event.document, address);
            out.push(OutgoingMail {
                message_id: id.message_id(),
                to: address.clone(),
                subject: subject(event, &notification),
                body: body(event, &notification),
                time_ms: event.time_ms,
                id: Some(MailIdBytes(id.to_bytes())),
            });
        }
    }
    out
}

fn subject(event: &CommittedEvent, notification: &Notification) -> String {
    format!(
        "[Silkline] {} {}: {}",
        event.state.kind.code().replace('_', " ").to_lowercase(),
        event.state.id,
        notification.reason.subject()
    )
}

fn body(event: &CommittedEvent, notification: &Notification) -> String {
    let state = &event.state;
    let opt = |p: &Option<PartyCode>| p.as_ref().map_or("-".to_owned(), |p| p.to_string());
    let mut lines = vec![
        format!("To: {}, {}", notification.party, notification.reason.role()),
        format!("Document: {} {}", state.kind, state.id),
        format!(
            "Event: {} by {}",
            event.event.kind.code(),
            event.event.actor
        ),
        format!("Status: {}", state.status),
        format!("Possessor: {}", opt(&state.possessor)),
    ];
    if state.endorsee.is_some() {
        lines.push(format!("Endorsee: {}", opt(&state.endorsee)));
    }
    match &event.event.kind {
        EventKind::SurrenderRejected { comment, .. } => {
            lines.push(format!("Comment: {comment}"));
        }
        EventKind::TransferRejected {
            reason: Some(reason),
            ..
        } => lines.push(format!("Reason: {reason}")),
        EventKind::SurrenderedForAmendment { reason } => {
            lines.push(format!(
                "Amendment reason: {}",
                crate::dcsa::reason_code(*reason)
            ));
        }
        EventKind::CargoReleased { containers, .. }
        | EventKind::HaulierNominated { containers, .. }
        | EventKind::TruckNominated { containers, .. }
        | EventKind::ConditionMet { containers, .. }
        | EventKind::ReleaseRevoked { containers, .. }
        | EventKind::GatedOut { containers, .. } => {
            let list: Vec<&str> = containers.iter().map(|c| c.as_str()).collect();
            lines.push(format!("Containers: {}", list.join(", ")));
            if let EventKind::ReleaseRevoked { reason, .. } = &event.event.kind {
                lines.push(format!("Reason: {reason}"));
            }
        }
        _ => {}
    }
    lines.push(format!("Time: {}", iso8601_utc(event.time_ms)));
    lines.push(format!(
        "Block height: {}, position {}",
        event.height, event.position
    ));
    // The hash on a line of its own keeps every line under 77 characters, so the body travels
    // as plain 7-bit text rather than quoted-printable.
    lines.push("Transaction:".into());
    lines.push(format!("  {}", event.tx_hash));
    lines.push(String::new());
    lines.push("This is a notification. The ledger record is the original;".into());
    lines.push("act on the document through your Silkline node.".into());
    lines.join("\n") + "\n"
}
