//! E-mail notifications of a node: follows the applied chain, block by block, and queues the
//! mails `adapters::email` plans for each committed event into the node's durable outbox
//! (`DATA/outbox.redb`), which a sender task delivers over SMTP.
//!
//! Nothing here runs inside apply: it reads blocks the ledger already committed, on its own
//! task, so a slow or failing mail server never slows the ledger. Progress is the height of the
//! last block queued (`DATA/notified-height`), written after the outbox commit: a crash between
//! the two re-queues that block, which the outbox ignores (enqueue is idempotent), so no mail is
//! lost or sent twice across a restart.

use std::path::{Path, PathBuf};
use std::time::Duration;

use adapters::email::{CommittedEvent, EmailConfig, Outbox, SenderHandle, spawn_sender};
use anyhow::Context as _;
use ledger::chain::{Block, LedgerReader, Outcome};
use ledger::runtime::ReplicaStatus;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The outbox, inside the data directory.
const OUTBOX_FILE: &str = "outbox.redb";
/// The last block queued, inside the data directory.
const PROGRESS_FILE: &str = "notified-height";
/// Blocks read per round before progress is saved.
const BLOCKS_PER_ROUND_MAX: u64 = 64;
/// How often the tip is looked at when nothing wakes the task.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// The running notifier.
pub struct Notifier {
    follower: JoinHandle<()>,
    sender: SenderHandle,
    stop: watch::Sender<bool>,
}

impl Notifier {
    /// Stops following the chain and lets the sender finish the mail in flight.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.follower.await;
        self.sender.stop().await;
    }
}

/// Starts the notifier of a node whose data directory is `data_dir`. On its first start it
/// begins at the current tip: the history before e-mail was configured is not mailed.
pub fn start(
    config: EmailConfig,
    data_dir: &Path,
    reader: LedgerReader,
    status: watch::Receiver<ReplicaStatus>,
) -> anyhow::Result<Notifier> {
    config.check().context("the e-mail configuration")?;
    let outbox = Outbox::open(&data_dir.join(OUTBOX_FILE)).context("open the outbox")?;
    let sender = spawn_sender(outbox.clone(), &config).context("start the mail sender")?;
    let progress = data_dir.join(PROGRESS_FILE);
    let done = match std::fs::read_to_string(&progress) {
        Ok(text) => text
            .trim()
            .parse::<u64>()
            .with_context(|| format!("{} holds no height", progress.display()))?,
        Err(_) => reader.tip().height,
    };
    let (stop, stopped) = watch::channel(false);
    let follower = tokio::spawn(follow(
        config, outbox, reader, status, progress, done, stopped,
    ));
    Ok(Notifier {
        follower,
        sender,
        stop,
    })
}

async fn follow(
    config: EmailConfig,
    outbox: Outbox,
    reader: LedgerReader,
    mut status: watch::Receiver<ReplicaStatus>,
    progress: PathBuf,
    mut done: u64,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let tip = reader.tip().height;
        if tip > done {
            let until = tip.min(done + BLOCKS_PER_ROUND_MAX);
            let job = {
                let (config, outbox, reader, progress) = (
                    config.clone(),
                    outbox.clone(),
                    reader.clone(),
                    progress.clone(),
                );
                tokio::task::spawn_blocking(move || {
                    queue_blocks(&config, &outbox, &reader, &progress, done + 1, until)
                })
            };
            match job.await {
                Ok(Ok(())) => done = until,
                Ok(Err(e)) => {
                    tracing::warn!(error = %format!("{e:#}"), "queueing notifications failed; retrying");
                }
                Err(e) => tracing::error!(error = %e, "the notification task panicked"),
            }
            continue;
        }
        tokio::select! {
            _ = stopped.changed() => return,
            changed = status.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(IDLE_POLL) => {}
        }
        if *stopped.borrow() {
            return;
        }
    }
}

/// Queues the mails of blocks `from..=until` in one outbox commit, then records `until`.
fn queue_blocks(
    config: &EmailConfig,
    outbox: &Outbox,
    reader: &LedgerReader,
    progress: &Path,
    from: u64,
    until: u64,
) -> anyhow::Result<()> {
    let mut events = Vec::new();
    for height in from..=until {
        let block = reader
            .block(height)?
            .with_context(|| format!("block {height} is missing"))?;
        events.extend(events_of(reader, &block)?);
    }
    outbox.enqueue_events(&events, config)?;
    let tmp = progress.with_extension("tmp");
    std::fs::write(&tmp, until.to_string())?;
    std::fs::rename(&tmp, progress)?;
    Ok(())
}

/// The committed events of a block, each with the document's state as it is now.
fn events_of(reader: &LedgerReader, block: &Block) -> anyhow::Result<Vec<CommittedEvent>> {
    let mut out = Vec::new();
    for (position, tx) in block.transactions.iter().enumerate() {
        let Outcome::Committed { documents } = &tx.outcome else {
            continue;
        };
        for key in documents {
            let Some(state) = reader.document(key)? else {
                continue;
            };
            for entry in reader
                .history_through(key, state.sequence)?
                .into_iter()
                .filter(|e| e.tx_hash == tx.tx_hash)
            {
                out.push(CommittedEvent {
                    height: block.header.height,
                    position: u32::try_from(position).unwrap_or(u32::MAX),
                    tx_hash: tx.tx_hash,
                    time_ms: block.header.time_ms,
                    document: key.clone(),
                    event: entry.event,
                    state: state.clone(),
                });
            }
        }
    }
    Ok(out)
}
