//! E-mail notifications of committed events, through a persistent outbox.
//!
//! Three parts, each testable alone:
//!
//! 1. [`notifications`] (pure): who must hear of a committed event, and why. The new possessor
//!    or endorsee when a bill reaches it, the carrier when a surrender is requested, the
//!    requester when the carrier accepts or rejects it, the port when cargo is released to it.
//!    [`plan`] turns that into messages for the contacts this node's configuration lists, and
//!    only for its own member's parties ([`EmailConfig::check_contacts`] refuses a contact of
//!    another member's party). [`mails_block`] says which one of a member's nodes mails a
//!    block, so that a member running several nodes sends each message once (below).
//! 2. [`Outbox`] (one redb file): enqueue is idempotent by event id (height, position,
//!    document, recipient address) and costs one local commit; it never waits on SMTP. Entries
//!    move from `pending` to `sent` only after the SMTP server accepted the message, in one
//!    commit, so a restart neither loses nor resends a notification. A crash in the instant
//!    between the server's acceptance and that commit resends once, with the same Message-ID,
//!    which a receiving system can use to drop the duplicate.
//! 3. [`spawn_sender`]: a tokio task that sends due messages, retries transient failures with
//!    bounded exponential backoff, and sets permanently refused ones aside as `failed` for an
//!    operator to see.
//!
//! # One sender per member and block
//!
//! Every node of a member follows the same chain, so each would plan the same messages for the
//! member's parties. Which node sends a block's messages is decided from the chain alone, with no
//! exchange between the nodes: the member's *mailing node* for block `h` is the lowest raft id
//! among the member's voters as of block `h` ([`mailing_node`]). Every node computes the same
//! answer whenever it looks, because a node's record only moves forward (learner, voter,
//! removed) and records the height of its last change: a record changed at or before `h` shows
//! its role at `h`; a learner or voter changed after `h` was no voter at `h`; a node removed
//! after `h` is counted as a voter at `h` (true for a genesis node; a node added by governance
//! and removed before it was ever promoted is counted too, which can only make the member send
//! nothing for that block, never twice). A node that has itself been removed mails no further
//! block.
//!
//! The failure mode is delay, not duplication. If the mailing node is down, its member's mail
//! for the blocks it owns waits: it follows the chain from where it stopped when it comes back
//! (its progress is on disk) and sends them then. Another node cannot take over without a record
//! both agree on, since a slow node and a dead one look alike from outside; a node that never
//! comes back is removed by its member's admin (`REMOVE_NODE`), and the next voter owns the blocks
//! from that height on. Mail of blocks the removed node owned and had not sent is not sent, so
//! an operator lets a node catch up before removing it. Every node of a member needs the same
//! `email` section: a block owned by a node without one is not mailed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use doc_workflow::{DocumentKey, DocumentState, Event, EventKind, PartyCode};
use ledger::{Hash32, NodeRecord, NodeRole, PartyRecord};
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials as SmtpCredentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, watch};

use crate::time::iso8601_utc;

/// Messages waiting to be sent, by [`MailId`] bytes (height first, so oldest first).
const PENDING: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pending");
/// Messages the SMTP server accepted: id -> Message-ID and when. Kept so a re-enqueue of an old
/// event (a node replaying committed blocks after a restart) is recognised and dropped.
const SENT: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sent");
/// Messages the SMTP server refused permanently (5xx): kept for an operator, never retried.
const FAILED: TableDefinition<&[u8], &[u8]> = TableDefinition::new("failed");

/// Most messages waiting in the outbox. An SMTP server down for days while the ledger is busy
/// must not fill the disk; past this, enqueue fails loudly and the node reports it.
pub const PENDING_MAX: u64 = 100_000;
/// Most contact addresses per party: a desk, a few people and a system mailbox.
pub const CONTACTS_PER_PARTY_MAX: usize = 10;
/// Messages the sender takes from the outbox per round, so one round's work is bounded.
pub const SEND_BATCH_MAX: usize = 32;
/// How long one SMTP exchange may take before it counts as a transient failure.
pub const SMTP_TIMEOUT_MS: u64 = 30_000;
/// Default first retry delay; each further failure doubles it.
pub const RETRY_INITIAL_MS_DEFAULT: u64 = 1_000;
/// Default longest retry delay: five minutes keeps a recovered server's backlog moving.
pub const RETRY_MAX_MS_DEFAULT: u64 = 300_000;

/// Why e-mail could not be configured, queued or sent.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("e-mail configuration: {0}")]
    Config(String),
    #[error("outbox storage: {0}")]
    Storage(#[from] redb::Error),
    #[error("outbox record is corrupt: {0}")]
    Corrupt(String),
    #[error("the outbox holds {pending} messages; at most {PENDING_MAX} may wait")]
    Full { pending: u64 },
}

fn storage(e: impl Into<redb::Error>) -> EmailError {
    EmailError::Storage(e.into())
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain SMTP; only for a relay on the same host or in tests.
    None,
    /// Plain connection upgraded with STARTTLS (submission port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// Retry timing for transient SMTP failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    pub initial_ms: u64,
    pub max_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_ms: RETRY_INITIAL_MS_DEFAULT,
            max_ms: RETRY_MAX_MS_DEFAULT,
        }
    }
}

impl RetryPolicy {
    /// The delay after `failures` failed attempts: initial, doubled each time, capped.
    pub fn delay_ms(&self, failures: u32) -> u64 {
        let doublings = failures.saturating_sub(1).min(32);
        self.initial_ms
            .saturating_mul(1u64 << doublings)
            .min(self.max_ms)
    }
}

/// A node's e-mail configuration (JSON, camelCase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailConfig {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub tls: TlsMode,
    #[serde(default)]
    pub credentials: Option<Credentials>,
    /// The From mailbox, e.g. `Silkline <ebl@carrier.example>`.
    pub sender: String,
    /// Addresses per party code, for this node's member's parties only.
    pub contacts: BTreeMap<PartyCode, Vec<String>>,
    #[serde(default)]
    pub retry: RetryPolicy,
}

/// What a check of the contacts against the ledger's parties found acceptable but worth a
/// warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactWarnings {
    /// Contacts of parties the ledger does not know (yet): an `ONBOARD_PARTY` may still come;
    /// until then nothing is mailed to them.
    pub unknown_parties: Vec<PartyCode>,
}

impl EmailConfig {
    /// Parses and checks a configuration: the sender and every contact must be a valid address.
    pub fn from_json(text: &str) -> Result<EmailConfig, EmailError> {
        let config: EmailConfig =
            serde_json::from_str(text).map_err(|e| EmailError::Config(e.to_string()))?;
        config.check()?;
        Ok(config)
    }

    /// Checks what serde cannot: addresses parse, contact lists are bounded, retry is sane.
    pub fn check(&self) -> Result<(), EmailError> {
        self.sender
            .parse::<Mailbox>()
            .map_err(|e| EmailError::Config(format!("sender {:?}: {e}", self.sender)))?;
        for (party, addresses) in &self.contacts {
            if addresses.len() > CONTACTS_PER_PARTY_MAX {
                return Err(EmailError::Config(format!(
                    "party {party} has {} contacts; at most {CONTACTS_PER_PARTY_MAX} are allowed",
                    addresses.len()
                )));
            }
            for address in addresses {
                address.parse::<Mailbox>().map_err(|e| {
                    EmailError::Config(format!("contact {address:?} of {party}: {e}"))
                })?;
            }
        }
        if self.retry.initial_ms == 0 || self.retry.max_ms < self.retry.initial_ms {
            return Err(EmailError::Config(
                "retry needs 0 < initialMs <= maxMs".into(),
            ));
        }
        Ok(())
    }

    /// Checks the contacts of a node of `member` against the ledger's `parties`: a contact of a
    /// party that another member sponsors is refused, since that member's nodes tell it (and a
    /// node that mailed it too would send each of its messages twice). Contacts of parties the
    /// ledger does not know are returned as warnings.
    pub fn check_contacts(
        &self,
        member: &PartyCode,
        parties: &[PartyRecord],
    ) -> Result<ContactWarnings, EmailError> {
        let mut unknown_parties = Vec::new();
        for party in self.contacts.keys() {
            match parties.iter().find(|p| p.code == *party) {
                Some(record) if record.sponsor != *member => {
                    return Err(EmailError::Config(format!(
                        "contacts list party {party}, which member {} sponsors; a node of {member} mails only {member}'s parties",
                        record.sponsor
                    )));
                }
                Some(_) => {}
                None => unknown_parties.push(party.clone()),
            }
        }
        Ok(ContactWarnings { unknown_parties })
    }
}

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

// ---------------------------------------------------------------------------------------------
// Deciding who hears of what (pure)
// ---------------------------------------------------------------------------------------------

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

    fn subject(self) -> &'static str {
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

    fn to_bytes(&self) -> Vec<u8> {
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
pub struct MailIdBytes(Vec<u8>);

/// The messages `event` calls for under `config`: one per contact address of each notified
/// party that is one of `own_parties` (this node's member's, [`member_parties`]) and that the
/// configuration lists. Parties of other members are their own nodes' to tell.
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
        EventKind::CargoReleased { containers, .. } => {
            let list: Vec<&str> = containers.iter().map(|c| c.as_str()).collect();
            lines.push(format!("Containers: {}", list.join(", ")));
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

// ---------------------------------------------------------------------------------------------
// The outbox
// ---------------------------------------------------------------------------------------------

/// A message waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingMail {
    pub mail: OutgoingMail,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Wall-clock time (ms) before which it is not retried; 0 when new.
    pub next_attempt_ms: u64,
    pub last_error: Option<String>,
}

/// A message the server accepted or refused for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DoneMail {
    pub message_id: String,
    pub to: String,
    pub at_ms: u64,
    pub attempts: u32,
    pub error: Option<String>,
}

/// The persistent outbox: one redb file. Cheap to clone; all clones share the file and wake the
/// same sender.
#[derive(Clone)]
pub struct Outbox {
    db: Arc<Database>,
    wake: Arc<Notify>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("outbox records serialize")
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, EmailError> {
    serde_json::from_slice(bytes).map_err(|e| EmailError::Corrupt(e.to_string()))
}

impl Outbox {
    /// Opens (or creates) the outbox file.
    pub fn open(path: &Path) -> Result<Outbox, EmailError> {
        let db = Database::create(path).map_err(storage)?;
        let tx = db.begin_write().map_err(storage)?;
        tx.open_table(PENDING).map_err(storage)?;
        tx.open_table(SENT).map_err(storage)?;
        tx.open_table(FAILED).map_err(storage)?;
        tx.commit().map_err(storage)?;
        Ok(Outbox {
            db: Arc::new(db),
            wake: Arc::new(Notify::new()),
        })
    }

    /// Queues `mails` in one commit and wakes the sender. A message whose id is already pending,
    /// sent or failed is skipped, so replaying committed events is harmless. Returns how many
    /// were new. Never touches the network.
    pub fn enqueue(&self, mails: &[OutgoingMail]) -> Result<usize, EmailError> {
        let tx = self.db.begin_write().map_err(storage)?;
        let mut added = 0;
        {
            let mut pending = tx.open_table(PENDING).map_err(storage)?;
            let sent = tx.open_table(SENT).map_err(storage)?;
            let failed = tx.open_table(FAILED).map_err(storage)?;
            let waiting = pending.len().map_err(storage)?;
            for mail in mails {
                let Some(MailIdBytes(key)) = &mail.id else {
                    return Err(EmailError::Corrupt(format!(
                        "message {} has no outbox id; build mails with plan()",
                        mail.message_id
                    )));
                };
                let key = key.as_slice();
                if pending.get(key).map_err(storage)?.is_some()
                    || sent.get(key).map_err(storage)?.is_some()
                    || failed.get(key).map_err(storage)?.is_some()
                {
                    continue;
                }
                if waiting + added >= PENDING_MAX {
                    return Err(EmailError::Full {
                        pending: waiting + added,
                    });
                }
                let entry = PendingMail {
                    mail: mail.clone(),
                    attempts: 0,
                    next_attempt_ms: 0,
                    last_error: None,
                };
                pending
                    .insert(key, encode(&entry).as_slice())
                    .map_err(storage)?;
                added += 1;
            }
        }
        tx.commit().map_err(storage)?;
        if added > 0 {
            self.wake.notify_one();
        }
        Ok(usize::try_from(added).unwrap_or(usize::MAX))
    }

    /// Plans and queues the messages for each event of a committed block, in one commit.
    pub fn enqueue_events(
        &self,
        events: &[CommittedEvent],
        config: &EmailConfig,
        own_parties: &BTreeSet<PartyCode>,
    ) -> Result<usize, EmailError> {
        let mails: Vec<OutgoingMail> = events
            .iter()
            .flat_map(|e| plan(e, config, own_parties))
            .collect();
        self.enqueue(&mails)
    }

    /// Messages waiting, oldest first.
    pub fn pending(&self) -> Result<Vec<PendingMail>, EmailError> {
        Ok(self.scan(PENDING)?.into_iter().map(|(_, v)| v).collect())
    }

    /// Messages the SMTP server accepted.
    pub fn sent(&self) -> Result<Vec<DoneMail>, EmailError> {
        Ok(self.scan(SENT)?.into_iter().map(|(_, v)| v).collect())
    }

    /// Messages the SMTP server refused for good.
    pub fn failed(&self) -> Result<Vec<DoneMail>, EmailError> {
        Ok(self.scan(FAILED)?.into_iter().map(|(_, v)| v).collect())
    }

    fn scan<T: for<'de> Deserialize<'de>>(
        &self,
        table: TableDefinition<&[u8], &[u8]>,
    ) -> Result<Vec<(Vec<u8>, T)>, EmailError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let table = tx.open_table(table).map_err(storage)?;
        let mut out = Vec::new();
        for row in table.iter().map_err(storage)? {
            let (k, v) = row.map_err(storage)?;
            out.push((k.value().to_vec(), decode(v.value())?));
        }
        Ok(out)
    }

    /// Up to `limit` pending messages due at `now`, oldest first.
    fn due(&self, now: u64, limit: usize) -> Result<Vec<(Vec<u8>, PendingMail)>, EmailError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let table = tx.open_table(PENDING).map_err(storage)?;
        let mut due = Vec::new();
        for row in table.iter().map_err(storage)? {
            let (k, v) = row.map_err(storage)?;
            let entry: PendingMail = decode(v.value())?;
            if entry.next_attempt_ms <= now {
                due.push((k.value().to_vec(), entry));
                if due.len() == limit {
                    break;
                }
            }
        }
        Ok(due)
    }

    /// When the earliest pending message is due (possibly already), if any is pending.
    fn next_due(&self) -> Result<Option<u64>, EmailError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let table = tx.open_table(PENDING).map_err(storage)?;
        let mut next: Option<u64> = None;
        for row in table.iter().map_err(storage)? {
            let (_, v) = row.map_err(storage)?;
            let entry: PendingMail = decode(v.value())?;
            next = Some(next.map_or(entry.next_attempt_ms, |n| n.min(entry.next_attempt_ms)));
        }
        Ok(next)
    }

    fn mark_done(
        &self,
        key: &[u8],
        entry: &PendingMail,
        error: Option<String>,
    ) -> Result<(), EmailError> {
        let done = DoneMail {
            message_id: entry.mail.message_id.clone(),
            to: entry.mail.to.clone(),
            at_ms: now_ms(),
            attempts: entry.attempts + 1,
            error: error.clone(),
        };
        let tx = self.db.begin_write().map_err(storage)?;
        {
            let mut pending = tx.open_table(PENDING).map_err(storage)?;
            pending.remove(key).map_err(storage)?;
            let mut done_table = tx
                .open_table(if error.is_some() { FAILED } else { SENT })
                .map_err(storage)?;
            done_table
                .insert(key, encode(&done).as_slice())
                .map_err(storage)?;
        }
        tx.commit().map_err(storage)
    }

    fn mark_retry(
        &self,
        key: &[u8],
        entry: &PendingMail,
        error: String,
        policy: &RetryPolicy,
    ) -> Result<(), EmailError> {
        let attempts = entry.attempts.saturating_add(1);
        let next = PendingMail {
            mail: entry.mail.clone(),
            attempts,
            next_attempt_ms: now_ms().saturating_add(policy.delay_ms(attempts)),
            last_error: Some(error),
        };
        let tx = self.db.begin_write().map_err(storage)?;
        {
            let mut pending = tx.open_table(PENDING).map_err(storage)?;
            pending
                .insert(key, encode(&next).as_slice())
                .map_err(storage)?;
        }
        tx.commit().map_err(storage)
    }
}

// ---------------------------------------------------------------------------------------------
// The sender
// ---------------------------------------------------------------------------------------------

/// The running sender task; stop it with [`SenderHandle::stop`].
pub struct SenderHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl SenderHandle {
    /// Asks the task to stop after the message in flight, and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn transport(config: &EmailConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, EmailError> {
    let builder = match config.tls {
        TlsMode::None => {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.smtp_host.as_str())
        }
        TlsMode::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.smtp_host)
                .map_err(|e| EmailError::Config(e.to_string()))?
        }
        TlsMode::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.smtp_host)
            .map_err(|e| EmailError::Config(e.to_string()))?,
    };
    let mut builder = builder
        .port(config.smtp_port)
        .timeout(Some(Duration::from_millis(SMTP_TIMEOUT_MS)));
    if let Some(c) = &config.credentials {
        builder = builder.credentials(SmtpCredentials::new(c.username.clone(), c.password.clone()));
    }
    Ok(builder.build())
}

fn message(config: &EmailConfig, mail: &OutgoingMail) -> Result<Message, String> {
    let from: Mailbox = config.sender.parse().map_err(|e| format!("sender: {e}"))?;
    let to: Mailbox = mail.to.parse().map_err(|e| format!("recipient: {e}"))?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .message_id(Some(mail.message_id.clone()))
        .date(UNIX_EPOCH + Duration::from_millis(mail.time_ms))
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .map_err(|e| e.to_string())
}

/// Starts the sender on the current tokio runtime. It drains due messages oldest first, sleeps
/// until the next retry is due or [`Outbox::enqueue`] wakes it, and stops on
/// [`SenderHandle::stop`]. An outbox storage error is logged and retried after the longest
/// backoff rather than ending the task: mail is a side effect, never a reason to stop a node.
pub fn spawn_sender(outbox: Outbox, config: &EmailConfig) -> Result<SenderHandle, EmailError> {
    config.check()?;
    let transport = transport(config)?;
    let config = config.clone();
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            if *stop_rx.borrow() {
                return;
            }
            let wait_ms = match send_round(&outbox, &transport, &config, &stop_rx).await {
                Ok(Some(next_ms)) => next_ms.saturating_sub(now_ms()),
                // Nothing pending: sleep until woken. The bound is only a safety net.
                Ok(None) => config.retry.max_ms,
                Err(e) => {
                    tracing::error!(error = %e, "e-mail outbox");
                    config.retry.max_ms
                }
            };
            if wait_ms == 0 {
                continue;
            }
            tokio::select! {
                _ = outbox.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(wait_ms)) => {}
                _ = stop_rx.changed() => {}
            }
        }
    });
    Ok(SenderHandle {
        stop: stop_tx,
        task,
    })
}

/// Sends what is due; returns when the next not-yet-due message becomes due, if any.
async fn send_round(
    outbox: &Outbox,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    config: &EmailConfig,
    stop: &watch::Receiver<bool>,
) -> Result<Option<u64>, EmailError> {
    let due = outbox.due(now_ms(), SEND_BATCH_MAX)?;
    for (key, entry) in due {
        if *stop.borrow() {
            break;
        }
        let message = match message(config, &entry.mail) {
            Ok(m) => m,
            Err(e) => {
                outbox.mark_done(&key, &entry, Some(e))?;
                continue;
            }
        };
        match transport.send(message).await {
            Ok(_) => {
                tracing::debug!(message_id = %entry.mail.message_id, to = %entry.mail.to, "e-mail sent");
                outbox.mark_done(&key, &entry, None)?;
            }
            Err(e) if e.is_permanent() => {
                tracing::warn!(message_id = %entry.mail.message_id, error = %e, "e-mail refused for good");
                outbox.mark_done(&key, &entry, Some(e.to_string()))?;
            }
            Err(e) => {
                tracing::debug!(message_id = %entry.mail.message_id, error = %e, "e-mail will be retried");
                // Each message keeps its own backoff; the others of the batch are still tried.
                outbox.mark_retry(&key, &entry, e.to_string(), &config.retry)?;
            }
        }
    }
    outbox.next_due()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            initial_ms: 100,
            max_ms: 1_000,
        };
        let delays: Vec<u64> = (1..=6).map(|n| p.delay_ms(n)).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(p.delay_ms(u32::MAX), 1_000);
    }
}
