//! The client write path and linearizable reads ([`ledger::client::LedgerClient`]) on three
//! replicas of the real document ledger (redb logs, sled states) in one tokio runtime, joined
//! by in-memory channels.

use crate::chain_common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chain_common::*;
use ledger::client::{LedgerClient, SubmitError, Submitted};
use ledger::{LedgerState, Outcome};
use replication::eraftpb::MessageType;
use replication::logging::tracing_logger;
use replication::runtime::{self, PEER_CHANNEL_CAPACITY, ReplicaHandle, RuntimeConfig};
use replication::{LogStore, RedbLog, Replica, ReplicaConfig};
use serde_json::json;
use sim::ChannelTransport;
use tokio::sync::{mpsc, watch};

/// The fixture's reference.
const ORDER: &str = "SLK-ORDER-001";

/// Upper bound on each scenario; elections take 100-200 ms at a 10 ms tick.
const DEADLINE: Duration = Duration::from_secs(60);

struct Cluster {
    handles: Vec<ReplicaHandle>,
    clients: Vec<LedgerClient>,
    /// One per replica, open at first: closed, the replica's inbound messages are held back
    /// (the first in the forwarder, the next ones queued, then dropped like a congested link),
    /// so it falls behind without losing its place in the cluster.
    gates: Vec<watch::Sender<bool>>,
    /// The next this many forwarded proposals (`MsgPropose`, to any node) are lost on the way.
    lose_proposals: Arc<AtomicUsize>,
}

/// Three replicas of `net`'s genesis, block times on the clock from `GENESIS_MS + 1 s`.
fn cluster(net: &Net) -> anyhow::Result<Cluster> {
    let ids = [1u64, 2, 3];
    let mut senders = BTreeMap::new();
    let mut receivers = BTreeMap::new();
    let mut gates = Vec::new();
    let lose_proposals = Arc::new(AtomicUsize::new(0));
    for id in ids {
        let (tx, mut held) = mpsc::channel::<replication::eraftpb::Message>(PEER_CHANNEL_CAPACITY);
        let (forward, rx) = mpsc::channel(PEER_CHANNEL_CAPACITY);
        let (gate, mut open) = watch::channel(true);
        let lose = lose_proposals.clone();
        // Ends when the peers' senders or the replica's receiver are gone.
        tokio::spawn(async move {
            while let Some(message) = held.recv().await {
                if message.get_msg_type() == MessageType::MsgPropose
                    && lose
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok()
                {
                    continue;
                }
                if open.wait_for(|o| *o).await.is_err() || forward.send(message).await.is_err() {
                    return;
                }
            }
        });
        senders.insert(id, tx);
        receivers.insert(id, rx);
        gates.push(gate);
    }
    let mut handles = Vec::new();
    let mut clients = Vec::new();
    for id in ids {
        let log = RedbLog::open(net.dir.path().join(format!("raft-{id}.redb")))?;
        let mut store = LogStore::open(Box::new(log))?;
        let founding = net.state(&format!("genesis-{id}"))?;
        Replica::bootstrap(&mut store, founding, &ids)?;
        let state: LedgerState = net.state(&format!("state-{id}"))?;
        let reader = state.reader();
        let replica = Replica::open(ReplicaConfig::new(id), store, state, &tracing_logger(id))?;
        let peers = senders
            .iter()
            .filter(|(peer, _)| **peer != id)
            .map(|(peer, tx)| (*peer, tx.clone()))
            .collect();
        let handle = runtime::spawn(
            replica,
            ChannelTransport::new(peers),
            receivers.remove(&id).expect("one receiver per id"),
            RuntimeConfig {
                tick_interval: Duration::from_millis(10),
                epoch_ms: GENESIS_MS + 1_000,
            },
        );
        clients.push(LedgerClient::new(
            reader,
            handle.proposals.clone(),
            handle.reads.clone(),
            handle.status.clone(),
        ));
        handles.push(handle);
    }
    Ok(Cluster {
        handles,
        clients,
        gates,
        lose_proposals,
    })
}

impl Cluster {
    /// Stops every replica; an error if one had stopped on a fatal error.
    async fn shutdown(self) -> anyhow::Result<()> {
        for handle in self.handles {
            handle.shutdown().await?;
        }
        Ok(())
    }
}

fn refusal(s: &Submitted) -> Option<&str> {
    s.outcome.refusal_code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_commits_once_refuses_early_and_reads_linearizably() -> anyhow::Result<()> {
    let mut net = net()?;
    let c = cluster(&net)?;
    let at = GENESIS_MS + 1_000;
    let content = fixture("to-order-bill.json")?;
    let issue = net.doc_tx(
        "carrier",
        at,
        ORDER,
        json!({"action": "ISSUE", "content": content, "issueTo": "SHIPPER"}),
    )?;
    let scenario = async {
        // Through a replica that may well be a follower: proposals are forwarded.
        let first = c.clients[2].submit(issue.clone(), at).await?;
        assert_eq!(refusal(&first), None, "{first:?}");
        let location = first.location.expect("a committed transaction has a block");
        assert!(location.height >= 1);
        let Outcome::Committed { documents } = &first.outcome else {
            unreachable!()
        };
        assert_eq!(documents, &vec![bill_key(ORDER)]);

        // The same bytes again, through another node once it has caught up: the original
        // outcome, nothing proposed. (A node that has not applied the original yet proposes
        // it, and the block refuses it as DUPLICATE: the client still gets the original.)
        let height = c.clients[2].reader().tip().height;
        c.clients[0].linearizable().await?;
        let again = c.clients[0].submit(issue.clone(), at).await?;
        assert_eq!(again, first);
        c.clients[0].linearizable().await?;
        assert_eq!(c.clients[0].reader().tip().height, height);

        // A transfer by a party that does not hold the bill is refused before proposing.
        let steal = net.doc_tx(
            "bank",
            at,
            ORDER,
            json!({"action": "TRANSFER", "to": "BANK"}),
        )?;
        let refused = c.clients[1].submit(steal, at).await?;
        assert!(
            refused.location.is_none(),
            "refused at precheck: {refused:?}"
        );
        // BANK is not party to the bill: it learns exactly what a missing bill would tell it.
        assert_eq!(refusal(&refused), Some("DOCUMENT_NOT_FOUND"));
        let missing = net.doc_tx(
            "bank",
            at,
            "NO-SUCH-BILL",
            json!({"action": "TRANSFER", "to": "BANK"}),
        )?;
        let missing = c.clients[1].submit(missing, at).await?;
        let message = |s: &Submitted| match &s.outcome {
            Outcome::Refused { message, .. } => message.clone(),
            Outcome::Committed { .. } => String::new(),
        };
        assert_eq!(refusal(&missing), Some("DOCUMENT_NOT_FOUND"));
        assert_eq!(
            message(&refused).replace(ORDER, "NO-SUCH-BILL"),
            message(&missing)
        );
        // Nor does an ISSUE of the bill's reference: it is refused exactly as BANK's ISSUE of a
        // reference nobody used is, by the ISSUE rules.
        let mut reissue = |reference: &str| -> anyhow::Result<Vec<u8>> {
            let mut content = fixture("to-order-bill.json")?;
            content["transportDocumentReference"] = json!(reference);
            net.doc_tx(
                "bank",
                at,
                reference,
                json!({"action": "ISSUE", "content": content, "issueTo": "BANK"}),
            )
        };
        let existing = c.clients[1].submit(reissue(ORDER)?, at).await?;
        let fresh = c.clients[1].submit(reissue("NO-SUCH-BILL")?, at).await?;
        assert_eq!(refusal(&fresh), Some("MISSING_ROLE"), "{fresh:?}");
        assert_eq!(refusal(&existing), refusal(&fresh));
        assert_eq!(
            message(&existing).replace(ORDER, "NO-SUCH-BILL"),
            message(&fresh)
        );
        c.clients[1].linearizable().await?;
        assert_eq!(c.clients[1].reader().tip().height, height);

        // Garbage is refused with the rule, and the node keeps serving.
        let garbage = c.clients[1].submit(b"not a jws".to_vec(), at).await?;
        assert_eq!(refusal(&garbage), Some("MALFORMED_ENVELOPE"));

        // A linearizable read on every node sees the committed bill.
        for client in &c.clients {
            let index = client.linearizable().await?;
            assert!(client.reader().applied_index() >= index);
            let bill = client.reader().document(&bill_key(ORDER))?.expect("bill");
            assert_eq!(bill.possessor, Some(party("SHIPPER")));
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(DEADLINE, scenario).await??;
    c.shutdown().await
}

/// Linearizable reads in flight on every node at once all get their read point. The leader
/// keeps one pending ReadIndex request per context and drops a second one with the same
/// context, so contexts numbered per node collided across nodes, and the dropped read failed
/// after its timeout. (A read that raft-rs drops because leadership changed is asked again, so
/// every read must be answered even if the loaded machine holds an election meanwhile.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_in_flight_on_every_node_at_once_all_complete() -> anyhow::Result<()> {
    let net = net()?;
    let c = cluster(&net)?;
    let scenario = async {
        for _round in 0..3 {
            let mut reads = tokio::task::JoinSet::new();
            for client in &c.clients {
                for _ in 0..4 {
                    let client = client.clone();
                    reads.spawn(async move { client.linearizable().await });
                }
            }
            while let Some(read) = reads.join_next().await {
                read??;
            }
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(DEADLINE, scenario).await??;
    c.shutdown().await
}

/// A read asked while no node knows a leader (raft-rs drops it on a follower that knows none)
/// is asked again and answered once a leader is elected, instead of failing after its timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_asked_before_any_leader_is_answered_after_the_election() -> anyhow::Result<()> {
    let net = net()?;
    let c = cluster(&net)?;
    // No message moves: no election can finish.
    for gate in &c.gates {
        gate.send_replace(false);
    }
    let scenario = async {
        let client = c.clients[1].clone();
        let read = tokio::spawn(async move { client.linearizable().await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        for handle in &c.handles {
            anyhow::ensure!(
                handle.status.borrow().leader_id == 0,
                "a leader without messages?"
            );
        }
        anyhow::ensure!(!read.is_finished(), "answered without a leader");
        for gate in &c.gates {
            gate.send_replace(true);
        }
        let index = read.await??;
        anyhow::ensure!(index >= 1, "read point {index}");
        anyhow::Ok(())
    };
    tokio::time::timeout(DEADLINE, scenario).await??;
    c.shutdown().await
}

/// A node one block behind must not refuse what the block it has not applied yet allows: the
/// client saw the issue committed through another node and acts on the bill at once. The
/// lagging node's precheck finds no bill; before answering it catches up (ReadIndex) and
/// checks again, so the transaction commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_node_catches_up_before_it_refuses() -> anyhow::Result<()> {
    let mut net = net()?;
    let c = cluster(&net)?;
    let at = GENESIS_MS + 1_000;
    let issue = net.doc_tx(
        "carrier",
        at,
        ORDER,
        json!({"action": "ISSUE", "content": fixture("to-order-bill.json")?, "issueTo": "SHIPPER"}),
    )?;
    let sign = net.doc_tx("shipper", at, ORDER, json!({"action": "SIGN"}))?;
    let scenario = async {
        let mut status = c.handles[0].status.clone();
        let leader = status.wait_for(|s| s.leader_id != 0).await?.leader_id;
        let leader = usize::try_from(leader)? - 1;
        let lagging = (leader + 1) % c.clients.len();
        c.gates[lagging].send_replace(false);
        let first = c.clients[leader].submit(issue, at).await?;
        assert_eq!(refusal(&first), None, "{first:?}");
        assert!(
            c.clients[lagging]
                .reader()
                .document(&bill_key(ORDER))?
                .is_none(),
            "the lagging node has not applied the issue"
        );

        // One poll runs the precheck, which refuses on the lagging state; the submission must
        // then wait to catch up rather than answer.
        let mut signed = std::pin::pin!(c.clients[lagging].submit(sign, at));
        tokio::select! {
            biased;
            early = &mut signed => panic!("answered from a lagging state: {early:?}"),
            () = std::future::ready(()) => {}
        }
        c.gates[lagging].send_replace(true);
        let signed = signed.await?;
        assert_eq!(refusal(&signed), None, "{signed:?}");
        assert!(signed.location.is_some(), "{signed:?}");
        let bill = c.clients[lagging].reader().document(&bill_key(ORDER))?;
        assert_eq!(bill.map(|b| b.sequence), Some(2));
        anyhow::Ok(())
    };
    tokio::time::timeout(DEADLINE, scenario).await??;
    c.shutdown().await
}

/// A node cut off from the others cannot confirm a refusal its own state gives: the bill was
/// issued through the majority, and the cut-off node, which has not applied the issue, must not
/// answer the holder's next action with `DOCUMENT_NOT_FOUND`, but that it is unavailable
/// (`scripts/cluster-test` found this answer during a partition). Nothing is proposed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_answers_unavailable_not_a_stale_refusal() -> anyhow::Result<()> {
    let mut net = net()?;
    let c = cluster(&net)?;
    let at = GENESIS_MS + 1_000;
    let issue = net.doc_tx(
        "carrier",
        at,
        ORDER,
        json!({"action": "ISSUE", "content": fixture("to-order-bill.json")?, "issueTo": "SHIPPER"}),
    )?;
    let sign = net.doc_tx("shipper", at, ORDER, json!({"action": "SIGN"}))?;
    let scenario = async {
        let mut status = c.handles[0].status.clone();
        let leader = status.wait_for(|s| s.leader_id != 0).await?.leader_id;
        let leader = usize::try_from(leader)? - 1;
        let cut_off = (leader + 1) % c.clients.len();
        c.gates[cut_off].send_replace(false);
        let first = c.clients[leader].submit(issue, at).await?;
        assert_eq!(refusal(&first), None, "{first:?}");
        let answer = c.clients[cut_off].submit(sign.clone(), at).await;
        assert!(
            matches!(answer, Err(SubmitError::Unavailable(_))),
            "a cut-off node answered {answer:?}"
        );
        // What no state could change it refuses at once, leader or not.
        let garbage = c.clients[cut_off].submit(b"not a jws".to_vec(), at).await?;
        assert_eq!(refusal(&garbage), Some("MALFORMED_ENVELOPE"));
        let mut foreign = net.payload(
            at,
            json!({"document": {"carrier": "CARRIER", "reference": ORDER},
                   "command": {"action": "SIGN"}}),
        );
        foreign["network"] = json!("another-network");
        let foreign = c.clients[cut_off]
            .submit(net.sign("shipper", &foreign)?, at)
            .await?;
        assert_eq!(refusal(&foreign), Some("WRONG_NETWORK"), "{foreign:?}");
        // Healed, the same envelope commits.
        c.gates[cut_off].send_replace(true);
        let signed = c.clients[cut_off].submit(sign, at).await?;
        assert_eq!(refusal(&signed), None, "{signed:?}");
        anyhow::Ok(())
    };
    tokio::time::timeout(DEADLINE, scenario).await??;
    c.shutdown().await
}

/// A proposal a follower forwarded to the leader and lost on the way (a leader over its
/// uncommitted bound drops it without a word, and so does a congested link) is proposed again:
/// the transaction commits once, and the client gets its outcome instead of "unknown".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_proposal_lost_on_the_way_is_proposed_again() -> anyhow::Result<()> {
    let mut net = net()?;
    let c = cluster(&net)?;
    let scenario = async {
        let mut status = c.handles[0].status.clone();
        let leader = status.wait_for(|s| s.leader_id != 0).await?.leader_id;
        let follower = (0..3)
            .find(|i| *i as u64 + 1 != leader)
            .expect("a follower");
        let content = fixture("to-order-bill.json")?;
        let tx = net.doc_tx(
            "carrier",
            GENESIS_MS + 1_000,
            ORDER,
            json!({"action": "ISSUE", "content": content, "issueTo": "SHIPPER"}),
        )?;
        c.lose_proposals.store(1, Ordering::SeqCst);
        let submitted = c.clients[follower]
            .submit(tx.clone(), GENESIS_MS + 1_000)
            .await?;
        anyhow::ensure!(
            c.lose_proposals.load(Ordering::SeqCst) == 0,
            "no proposal was forwarded"
        );
        anyhow::ensure!(submitted.outcome.is_committed(), "{submitted:?}");
        // Once: submitting it again answers the same block.
        let again = c.clients[follower].submit(tx, GENESIS_MS + 1_000).await?;
        anyhow::ensure!(again.location == submitted.location, "{again:?}");
        anyhow::Ok(())
    };
    tokio::time::timeout(DEADLINE, scenario).await??;
    c.shutdown().await
}
