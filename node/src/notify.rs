//! E-mail notifications of a node: follows the applied chain, block by block, and queues the
//! mails `adapters::email` plans for each committed event, and for each proposal opened,
//! nearing its expiry or closed (to the member's own party: its admins), into the node's
//! durable outbox
//! (`DATA/outbox.redb`), which a sender task delivers over SMTP.
//!
//! Nothing here runs inside apply: it reads blocks the ledger already committed, on its own
//! task, so a slow or failing mail server never slows the ledger. Progress is the height of the
//! last block queued (`DATA/notified-height`), written after the outbox commit: a crash between
//! the two re-queues that block, which the outbox ignores (enqueue is idempotent), so no mail is
//! lost or sent twice across a restart.
//!
//! A node mails only its own member's parties, and only the blocks it is its member's mailing
//! node for (`adapters::email::mails_block`: the lowest raft id among the member's voters as of
//! the block), so a member running several nodes, each with the `email` section, sends each
//! message once. The module docs of `adapters::email` say what happens when that node is down.

use std::path::{Path, PathBuf};
use std::time::Duration;

use adapters::email::{
    CommittedEvent, EmailConfig, Outbox, ProposalNotice, SenderHandle, mails_block, member_parties,
    plan_proposal, spawn_sender,
};
use anyhow::Context as _;
use ledger::{Block, LedgerReader, Outcome};
use replication::runtime::ReplicaStatus;
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

/// Starts the notifier of node `raft_id`, whose data directory is `data_dir`. On its first
/// start it begins at the current tip: the history before e-mail was configured is not mailed.
/// Refuses a configuration whose contacts name another member's party, once the ledger knows
/// this node's member (a joining node learns it from its first snapshot; until then, and for
/// parties not onboarded yet, `plan` leaves out every party its member does not sponsor).
pub fn start(
    config: EmailConfig,
    raft_id: u64,
    data_dir: &Path,
    reader: LedgerReader,
    status: watch::Receiver<ReplicaStatus>,
) -> anyhow::Result<Notifier> {
    config.check().context("the e-mail configuration")?;
    if let Some(own) = reader.nodes().into_iter().find(|n| n.raft_id == raft_id) {
        let warnings = config
            .check_contacts(&own.member, &reader.parties())
            .context("the e-mail configuration")?;
        for party in warnings.unknown_parties {
            tracing::warn!(%party, "e-mail contacts list a party the ledger does not know yet; it is mailed once its member onboards it");
        }
    }
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
    let queue = Queue {
        config,
        raft_id,
        outbox,
        reader,
        progress,
    };
    let follower = tokio::spawn(follow(queue, status, done, stopped));
    Ok(Notifier {
        follower,
        sender,
        stop,
    })
}

/// What queueing a round of blocks needs; cloned into each blocking round.
#[derive(Clone)]
struct Queue {
    config: EmailConfig,
    /// This node's raft id: which blocks it mails depends on it.
    raft_id: u64,
    outbox: Outbox,
    reader: LedgerReader,
    /// The file that holds the last block queued.
    progress: PathBuf,
}

async fn follow(
    queue: Queue,
    mut status: watch::Receiver<ReplicaStatus>,
    mut done: u64,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let tip = queue.reader.tip().height;
        if tip > done {
            let until = tip.min(done + BLOCKS_PER_ROUND_MAX);
            let job = {
                let queue = queue.clone();
                tokio::task::spawn_blocking(move || queue.blocks(done + 1, until))
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

impl Queue {
    /// Queues the mails of blocks `from..=until` that this node mails, in one outbox commit,
    /// then records `until`. `until` is at most the tip, and the node set and parties are read
    /// after it, so they are as of a block at or after every block judged here, which is what
    /// `mails_block` needs to answer as every other node does.
    fn blocks(&self, from: u64, until: u64) -> anyhow::Result<()> {
        let nodes = self.reader.nodes();
        let own_member = nodes
            .iter()
            .find(|n| n.raft_id == self.raft_id)
            .map(|n| n.member.clone());
        let own_parties = match &own_member {
            Some(member) => member_parties(member, &self.reader.parties()),
            None => Default::default(),
        };
        let proposals = self.reader.proposals()?;
        let mut events = Vec::new();
        let mut governance_mails = Vec::new();
        for height in (from..=until).filter(|h| mails_block(self.raft_id, &nodes, *h)) {
            let block = self
                .reader
                .block(height)?
                .with_context(|| format!("block {height} is missing"))?;
            events.extend(events_of(&self.reader, &block)?);
            // The member's admins hear of every proposal opened, nearing expiry or closed.
            if let Some(member) = &own_member {
                for view in &proposals {
                    let time_ms = block.header.time_ms;
                    if let Some(notice) = ProposalNotice::of(view, height, time_ms) {
                        governance_mails.extend(plan_proposal(
                            view,
                            notice,
                            time_ms,
                            &self.config,
                            member,
                        ));
                    }
                }
            }
        }
        self.outbox
            .enqueue_events(&events, &self.config, &own_parties)?;
        self.outbox.enqueue(&governance_mails)?;
        let tmp = self.progress.with_extension("tmp");
        std::fs::write(&tmp, until.to_string())?;
        std::fs::rename(&tmp, &self.progress)?;
        Ok(())
    }
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
