//! The outbox: one redb file of messages pending, sent and failed. Enqueue is idempotent by
//! [`MailId`](super::MailId); an entry leaves `pending` only in the commit that records its fate.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use doc_workflow::PartyCode;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::config::{EmailConfig, RetryPolicy};
use super::message::{MailIdBytes, OutgoingMail, plan};
use super::recipients::CommittedEvent;
use super::{EmailError, PENDING_MAX, storage};

/// Messages waiting to be sent, by [`MailId`](super::MailId) bytes (height first, so oldest
/// first).
const PENDING: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pending");
/// Messages the SMTP server accepted: id -> Message-ID and when. Kept so a re-enqueue of an old
/// event (a node replaying committed blocks after a restart) is recognised and dropped.
const SENT: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sent");
/// Messages the SMTP server refused permanently (5xx): kept for an operator, never retried.
const FAILED: TableDefinition<&[u8], &[u8]> = TableDefinition::new("failed");

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
    pub(super) wake: Arc<Notify>,
}

pub(super) fn now_ms() -> u64 {
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
    pub(super) fn due(
        &self,
        now: u64,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, PendingMail)>, EmailError> {
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
    pub(super) fn next_due(&self) -> Result<Option<u64>, EmailError> {
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

    pub(super) fn mark_done(
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

    pub(super) fn mark_retry(
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
