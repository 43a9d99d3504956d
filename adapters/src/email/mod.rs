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
//!
//! Modules: `config` (the `email` section of a node's configuration), `recipients` (who hears
//! of an event, and which node mails a block), `message` (the messages an event calls for, their
//! ids, subjects and bodies), `outbox` (the redb file) and `sender` (the SMTP task). Their items
//! are re-exported here.

mod config;
mod governance;
mod message;
mod outbox;
mod recipients;
mod sender;

pub use config::{ContactWarnings, Credentials, EmailConfig, RetryPolicy, TlsMode};
pub use governance::{EXPIRY_NOTICE_MS, ProposalNotice, plan_proposal};
pub use message::{MailId, MailIdBytes, OutgoingMail, plan};
pub use outbox::{DoneMail, Outbox, PendingMail};
pub use recipients::{
    CommittedEvent, Notification, Reason, mailing_node, mails_block, member_parties, notifications,
};
pub use sender::{SenderHandle, spawn_sender};

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
