//! The checks of a cluster-test run, over the clients' history and what every node holds at the
//! end. Pure: no I/O, so each check is tested on histories made by hand (below).
//!
//! - **Lost**: an acknowledged transaction missing, as committed, from some node's chain.
//! - **Duplicated**: a transaction committed more than once in some node's chain.
//! - **Phantom**: a transaction the API refused, committed in some node's chain.
//! - **Stale refusal**: any refusal. A writer alone acts on its bills and sends only actions
//!   that the state its acknowledged actions made allows, so a refusal was decided on a state
//!   that missed an acknowledged write (a node cut off from the majority answering from its
//!   own state).
//! - **Order**: a bill's committed actions in some chain are not exactly the first k of its
//!   writer's actions, in order (each action was signed only after the one before it was
//!   acknowledged, so anything else is an action applied out of order or from nowhere).
//! - **Possessor**: each bill has exactly one possessor on every node, the recipient of its
//!   last committed action in that node's chain (and no document where none committed).
//! - **Stale read**: a linearizable read that did not see a transaction of its bill
//!   acknowledged before the read was invoked.
//! - **Converged**: every node at the same height, block hash and state hash.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::workload::{History, Outcome, WriteOp};

/// One transaction of a node's chain.
#[derive(Debug, Clone)]
pub struct ChainTx {
    pub height: u64,
    pub tx_hash: String,
    pub committed: bool,
}

/// What one node holds at the end.
#[derive(Debug, Clone, Default)]
pub struct NodeEnd {
    pub height: u64,
    pub block_hash: String,
    pub state_hash: String,
    /// Every transaction of blocks 1..=height, in chain order.
    pub chain: Vec<ChainTx>,
    /// Each bill of the history: its possessor as this node reads it (`None`: no such
    /// document, or no possessor).
    pub possessors: BTreeMap<String, Option<String>>,
}

/// The figures and violations of a run.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub acknowledged: usize,
    pub refused: usize,
    pub unknown: usize,
    /// Of the unknown, how many every chain holds as committed.
    pub unknown_committed: usize,
    pub reads: usize,
    pub reads_failed: usize,
    pub bills: usize,
    pub lost: Vec<String>,
    pub duplicated: Vec<String>,
    pub phantom: Vec<String>,
    pub stale_refusals: Vec<String>,
    pub order: Vec<String>,
    pub possessor: Vec<String>,
    pub stale_reads: Vec<String>,
    pub converged: bool,
    pub divergence: Option<String>,
    /// Committed transactions in the chains that no client of this run sent.
    pub foreign: usize,
}

impl Verdict {
    /// Whether any check failed.
    pub fn violated(&self) -> bool {
        !(self.lost.is_empty()
            && self.duplicated.is_empty()
            && self.phantom.is_empty()
            && self.stale_refusals.is_empty()
            && self.order.is_empty()
            && self.possessor.is_empty()
            && self.stale_reads.is_empty()
            && self.converged)
    }

    /// The one summary line.
    pub fn summary(&self) -> String {
        let reads = if self.stale_reads.is_empty() {
            "reads linearizable".to_owned()
        } else {
            format!("{} stale reads", self.stale_reads.len())
        };
        let mut line = format!(
            "cluster-test: {} acknowledged, {} lost, {} duplicated, {} unknown, {} refused, {} reads ({} failed), {reads}, {}",
            self.acknowledged,
            self.lost.len(),
            self.duplicated.len(),
            self.unknown,
            self.refused,
            self.reads,
            self.reads_failed,
            if self.converged {
                "converged"
            } else {
                "DIVERGED"
            },
        );
        for (n, what) in [
            (self.phantom.len(), "refused but committed"),
            (self.stale_refusals.len(), "stale refusals"),
            (self.order.len(), "bills out of order"),
            (self.possessor.len(), "possessor violations"),
        ] {
            if n > 0 {
                line.push_str(&format!(", {n} {what}"));
            }
        }
        line
    }
}

/// Most examples a violation list keeps (the count is in the summary).
const EXAMPLES_MAX: usize = 20;

fn note(list: &mut Vec<String>, count: &mut usize, what: String) {
    *count += 1;
    if list.len() < EXAMPLES_MAX {
        list.push(what);
    }
}

/// Runs every check.
pub fn check(history: &History, nodes: &[NodeEnd]) -> Verdict {
    let mut v = Verdict::default();
    let by_hash: HashMap<&str, &WriteOp> = history
        .writes
        .iter()
        .map(|w| (w.tx_hash.as_str(), w))
        .collect();
    // Per node: how many times each transaction committed, and per bill the committed actions
    // in chain order.
    let mut committed: Vec<HashMap<&str, Vec<u64>>> = Vec::new();
    let mut per_bill: Vec<BTreeMap<&str, Vec<&WriteOp>>> = Vec::new();
    for node in nodes {
        let mut counts: HashMap<&str, Vec<u64>> = HashMap::new();
        let mut bills: BTreeMap<&str, Vec<&WriteOp>> = BTreeMap::new();
        for tx in node.chain.iter().filter(|t| t.committed) {
            counts
                .entry(tx.tx_hash.as_str())
                .or_default()
                .push(tx.height);
            match by_hash.get(tx.tx_hash.as_str()) {
                Some(op) => bills.entry(op.bill.as_str()).or_default().push(op),
                None => v.foreign += 1,
            }
        }
        committed.push(counts);
        per_bill.push(bills);
    }
    v.foreign /= nodes.len().max(1);

    let (mut lost, mut duplicated, mut phantom, mut refusals) = (0, 0, 0, 0);
    for w in &history.writes {
        match &w.outcome {
            Outcome::Acknowledged { .. } => {
                v.acknowledged += 1;
                for (i, c) in committed.iter().enumerate() {
                    if !c.contains_key(w.tx_hash.as_str()) {
                        note(
                            &mut v.lost,
                            &mut lost,
                            format!(
                                "{} {} {} acknowledged, not in node {}'s chain",
                                w.bill,
                                w.action,
                                w.tx_hash,
                                i + 1
                            ),
                        );
                    }
                }
            }
            Outcome::Refused { code } => {
                v.refused += 1;
                note(
                    &mut v.stale_refusals,
                    &mut refusals,
                    format!(
                        "{} {} {} refused {code}, which its acknowledged state allows",
                        w.bill, w.action, w.tx_hash
                    ),
                );
                for (i, c) in committed.iter().enumerate() {
                    if c.contains_key(w.tx_hash.as_str()) {
                        note(
                            &mut v.phantom,
                            &mut phantom,
                            format!(
                                "{} {} {} refused ({code}), committed in node {}'s chain",
                                w.bill,
                                w.action,
                                w.tx_hash,
                                i + 1
                            ),
                        );
                    }
                }
            }
            Outcome::Unknown { .. } => {
                v.unknown += 1;
                if !committed.is_empty()
                    && committed.iter().all(|c| c.contains_key(w.tx_hash.as_str()))
                {
                    v.unknown_committed += 1;
                }
            }
        }
    }
    for (i, c) in committed.iter().enumerate() {
        for (hash, heights) in c {
            if heights.len() > 1 {
                note(
                    &mut v.duplicated,
                    &mut duplicated,
                    format!(
                        "{hash} committed {} times in node {}'s chain, at heights {heights:?}",
                        heights.len(),
                        i + 1
                    ),
                );
            }
        }
    }

    // Each bill's actions, in the order its writer made them.
    let mut sequences: BTreeMap<&str, Vec<&WriteOp>> = BTreeMap::new();
    for w in &history.writes {
        sequences.entry(w.bill.as_str()).or_default().push(w);
    }
    v.bills = sequences.len();
    for (bill, sequence) in &sequences {
        for (i, node) in nodes.iter().enumerate() {
            let in_chain = per_bill[i].get(bill).map(Vec::as_slice).unwrap_or_default();
            let prefix = in_chain.len() <= sequence.len()
                && in_chain
                    .iter()
                    .zip(sequence.iter())
                    .all(|(a, b)| a.tx_hash == b.tx_hash);
            if !prefix {
                v.order.push(format!(
                    "{bill}: node {}'s chain commits {:?}, not a prefix of its writer's {:?}",
                    i + 1,
                    in_chain.iter().map(|o| o.action).collect::<Vec<_>>(),
                    sequence.iter().map(|o| o.action).collect::<Vec<_>>()
                ));
            }
            let expected = in_chain.last().map(|o| o.to.to_owned());
            let actual = node.possessors.get(*bill).cloned().flatten();
            if actual != expected {
                v.possessor.push(format!(
                    "{bill}: node {} says its possessor is {actual:?}, its chain says {expected:?}",
                    i + 1
                ));
            }
        }
    }
    v.order.truncate(EXAMPLES_MAX);
    v.possessor.truncate(EXAMPLES_MAX);

    // Linearizable reads.
    let mut acknowledged: BTreeMap<&str, Vec<&WriteOp>> = BTreeMap::new();
    for w in history
        .writes
        .iter()
        .filter(|w| matches!(w.outcome, Outcome::Acknowledged { .. }))
    {
        acknowledged.entry(w.bill.as_str()).or_default().push(w);
    }
    let mut stale = 0;
    for r in &history.reads {
        v.reads += 1;
        let Ok(seen) = &r.seen else {
            v.reads_failed += 1;
            continue;
        };
        let seen: BTreeSet<&str> = seen.iter().map(String::as_str).collect();
        for w in acknowledged
            .get(r.bill.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if w.completed_ms < r.invoked_ms && !seen.contains(w.tx_hash.as_str()) {
                note(
                    &mut v.stale_reads,
                    &mut stale,
                    format!(
                        "read of {} on node {} at {} ms missed {} {} acknowledged at {} ms",
                        r.bill,
                        r.node + 1,
                        r.invoked_ms,
                        w.action,
                        w.tx_hash,
                        w.completed_ms
                    ),
                );
            }
        }
    }

    // Convergence.
    let first = nodes.first();
    v.converged = !nodes.is_empty()
        && nodes.iter().all(|n| {
            first.is_some_and(|f| {
                n.height == f.height && n.state_hash == f.state_hash && n.block_hash == f.block_hash
            })
        });
    if !v.converged {
        v.divergence = Some(
            nodes
                .iter()
                .enumerate()
                .map(|(i, n)| format!("node {}: height {} state {}", i + 1, n.height, n.state_hash))
                .collect::<Vec<_>>()
                .join("; "),
        );
    }
    v
}

#[cfg(test)]
mod tests {
    use super::super::workload::ReadOp;
    use super::*;

    fn write(bill: &str, n: usize, to: &'static str, outcome: Outcome, at: u64) -> WriteOp {
        WriteOp {
            worker: 0,
            bill: bill.into(),
            action: if n == 0 { "ISSUE" } else { "ENDORSE_TO_ORDER" },
            actor: "X",
            to,
            tx_hash: format!("{bill}-{n}"),
            invoked_ms: at,
            completed_ms: at + 10,
            attempts: 1,
            phase: "p".into(),
            outcome,
        }
    }

    fn ack() -> Outcome {
        Outcome::Acknowledged { height: 1 }
    }

    fn node(txs: &[&str], possessors: &[(&str, Option<&str>)]) -> NodeEnd {
        NodeEnd {
            height: 7,
            block_hash: "b".into(),
            state_hash: "s".into(),
            chain: txs
                .iter()
                .enumerate()
                .map(|(i, t)| ChainTx {
                    height: i as u64 + 1,
                    tx_hash: (*t).into(),
                    committed: true,
                })
                .collect(),
            possessors: possessors
                .iter()
                .map(|(b, p)| ((*b).to_owned(), p.map(str::to_owned)))
                .collect(),
        }
    }

    fn read(bill: &str, at: u64, seen: &[&str]) -> ReadOp {
        ReadOp {
            bill: bill.into(),
            node: 0,
            invoked_ms: at,
            completed_ms: at + 5,
            phase: "p".into(),
            seen: Ok(seen.iter().map(|s| (*s).to_owned()).collect()),
        }
    }

    /// Two acknowledged actions, one unknown that did commit, reads that saw what they should.
    fn good() -> (History, Vec<NodeEnd>) {
        let history = History {
            writes: vec![
                write("A", 0, "SHIPPER", ack(), 0),
                write("A", 1, "BANK", ack(), 20),
                write(
                    "A",
                    2,
                    "SHIPPER",
                    Outcome::Unknown {
                        error: "timeout".into(),
                    },
                    40,
                ),
                write(
                    "B",
                    0,
                    "SHIPPER",
                    Outcome::Unknown {
                        error: "timeout".into(),
                    },
                    0,
                ),
            ],
            reads: vec![read("A", 35, &["A-0", "A-1"]), read("A", 5, &[])],
        };
        let n = node(
            &["A-0", "A-1", "A-2"],
            &[("A", Some("SHIPPER")), ("B", None)],
        );
        (history, vec![n.clone(), n.clone(), n])
    }

    #[test]
    fn a_correct_run_passes_with_its_figures() {
        let (history, nodes) = good();
        let v = check(&history, &nodes);
        assert!(!v.violated(), "{v:?}");
        assert_eq!(
            (v.acknowledged, v.unknown, v.refused, v.unknown_committed),
            (2, 2, 0, 1)
        );
        assert_eq!(
            v.summary(),
            "cluster-test: 2 acknowledged, 0 lost, 0 duplicated, 2 unknown, 0 refused, 2 reads (0 failed), reads linearizable, converged"
        );
    }

    #[test]
    fn an_acknowledged_transaction_missing_from_one_chain_is_lost() {
        let (history, mut nodes) = good();
        nodes[2] = node(&["A-0"], &[("A", Some("SHIPPER")), ("B", None)]);
        let v = check(&history, &nodes);
        assert_eq!(v.lost.len(), 1, "{v:?}");
        assert!(v.lost[0].contains("node 3"));
        assert!(v.violated());
    }

    #[test]
    fn a_transaction_committed_twice_is_duplicated() {
        let (history, mut nodes) = good();
        nodes[0] = node(
            &["A-0", "A-1", "A-1", "A-2"],
            &[("A", Some("SHIPPER")), ("B", None)],
        );
        let v = check(&history, &nodes);
        assert_eq!(v.duplicated.len(), 1, "{v:?}");
        assert!(v.violated());
    }

    #[test]
    fn a_refusal_of_an_action_the_acknowledged_state_allows_is_stale() {
        let (mut history, nodes) = good();
        history.writes[2].outcome = Outcome::Refused {
            code: "DOCUMENT_NOT_FOUND".into(),
        };
        let mut nodes = nodes;
        for n in &mut nodes {
            *n = node(&["A-0", "A-1"], &[("A", Some("BANK")), ("B", None)]);
        }
        let v = check(&history, &nodes);
        assert_eq!(v.stale_refusals.len(), 1, "{v:?}");
        assert!(v.summary().ends_with("1 stale refusals"), "{}", v.summary());
        assert!(v.violated());
    }

    #[test]
    fn a_refused_transaction_in_a_chain_is_a_phantom() {
        let (mut history, mut nodes) = good();
        history.writes[3].outcome = Outcome::Refused { code: "X".into() };
        for n in &mut nodes {
            *n = node(
                &["A-0", "A-1", "A-2", "B-0"],
                &[("A", Some("SHIPPER")), ("B", Some("SHIPPER"))],
            );
        }
        let v = check(&history, &nodes);
        assert_eq!(v.phantom.len(), 3, "{v:?}");
        assert!(v.violated());
    }

    #[test]
    fn a_possessor_other_than_the_chains_is_a_violation() {
        let (history, mut nodes) = good();
        nodes[1].possessors.insert("A".into(), Some("BANK".into()));
        let v = check(&history, &nodes);
        assert_eq!(v.possessor.len(), 1, "{v:?}");
        assert!(v.violated());
    }

    #[test]
    fn actions_committed_out_of_order_are_a_violation() {
        let (history, mut nodes) = good();
        nodes[0] = node(&["A-0", "A-2", "A-1"], &[("A", Some("BANK")), ("B", None)]);
        let v = check(&history, &nodes);
        assert_eq!(v.order.len(), 1, "{v:?}");
    }

    #[test]
    fn a_read_that_misses_an_earlier_acknowledgement_is_stale() {
        let (mut history, nodes) = good();
        // A-1 was acknowledged at 30 ms; this read began at 31 ms and did not see it.
        history.reads.push(read("A", 31, &["A-0"]));
        let v = check(&history, &nodes);
        assert_eq!(v.stale_reads.len(), 1, "{v:?}");
        assert!(v.summary().contains("1 stale reads"));
        assert!(v.violated());
    }

    #[test]
    fn nodes_at_different_state_hashes_have_not_converged() {
        let (history, mut nodes) = good();
        nodes[1].state_hash = "other".into();
        let v = check(&history, &nodes);
        assert!(!v.converged);
        assert!(v.summary().ends_with("DIVERGED"));
        assert!(v.violated());
    }
}
