//! `answered_once`: every client request a replica's request layer
//! (`replication::runtime::requests`) took is answered exactly once, by the incarnation that
//! took it, no later than its deadline (the layer's `expire` runs at every tick), and a
//! replica that stops answers all of its pending requests as it stops. And
//! `no_answer_after_stop`: once an incarnation stopped (a crash), no answer comes from it.
//! And `committed_own_entry`: a proposal answered `Committed` at an index is in the entry there
//! (its id, its payload): not another proposal that happens to carry its id, such as one of
//! the node's previous run.
//!
//! What it is not: it does not judge what a read point or a transaction's outcome says (the
//! read and acknowledgement checkers do).

use std::collections::{BTreeMap, BTreeSet};

use replication::state_machine::LogIndex;

use super::Violation;

/// A request waiting for its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Waiting {
    /// The node and incarnation that took it.
    node: u64,
    incarnation: u64,
    /// By when the request layer must have answered it (the replica's clock).
    deadline_ms: u64,
}

/// Every request of a run, by its token.
#[derive(Debug, Default)]
pub struct AnsweredOnce {
    /// Requests not answered yet.
    waiting: BTreeMap<u64, Waiting>,
    /// Tokens answered, with the node and incarnation that took them.
    answered: BTreeMap<u64, (u64, u64)>,
    /// Incarnations that stopped: `(node, incarnation)`.
    stopped: BTreeSet<(u64, u64)>,
}

impl AnsweredOnce {
    /// Node `node` (incarnation `incarnation`) took request `token`, due by `deadline_ms`.
    pub fn asked(&mut self, token: u64, node: u64, incarnation: u64, deadline_ms: u64) {
        self.waiting.insert(
            token,
            Waiting {
                node,
                incarnation,
                deadline_ms,
            },
        );
    }

    /// Requests not answered yet.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Request `token` was answered.
    pub fn answered(&mut self, token: u64) -> Result<(), Violation> {
        if let Some(&(node, incarnation)) = self.answered.get(&token) {
            return Err(Violation::new(
                "answered_once",
                format!("request {token} (node {node}, incarnation {incarnation}) answered twice"),
            ));
        }
        let Some(w) = self.waiting.remove(&token) else {
            return Err(Violation::new(
                "answered_once",
                format!("an answer to request {token}, which no replica took"),
            ));
        };
        if self.stopped.contains(&(w.node, w.incarnation)) {
            return Err(Violation::new(
                "no_answer_after_stop",
                format!(
                    "request {token} answered by node {} incarnation {} after it stopped",
                    w.node, w.incarnation
                ),
            ));
        }
        self.answered.insert(token, (w.node, w.incarnation));
        Ok(())
    }

    /// Node `node` (incarnation `incarnation`) stopped, after delivering its last answers: none
    /// of its requests may be left waiting, and none answered from now on.
    pub fn stopped(&mut self, node: u64, incarnation: u64) -> Result<(), Violation> {
        self.stopped.insert((node, incarnation));
        match self
            .waiting
            .iter()
            .find(|(_, w)| (w.node, w.incarnation) == (node, incarnation))
        {
            Some((token, _)) => Err(Violation::new(
                "answered_once",
                format!(
                    "node {node} incarnation {incarnation} stopped without answering request \
                     {token}"
                ),
            )),
            None => Ok(()),
        }
    }

    /// Node `node` (incarnation `incarnation`) expired its requests at `now_ms` (its clock):
    /// none of them may still wait past its deadline.
    pub fn expired(&self, node: u64, incarnation: u64, now_ms: u64) -> Result<(), Violation> {
        match self.waiting.iter().find(|(_, w)| {
            (w.node, w.incarnation) == (node, incarnation) && w.deadline_ms <= now_ms
        }) {
            Some((token, w)) => Err(Violation::new(
                "answered_once",
                format!(
                    "request {token} of node {node} incarnation {incarnation} still unanswered \
                     at {now_ms} ms, past its deadline {} ms",
                    w.deadline_ms
                ),
            )),
            None => Ok(()),
        }
    }
}

/// `committed_own_entry`: node `node` answered a proposal whose payload hashes to `payload`
/// `Committed` at `index`, where its log holds, under the proposal's id, a payload hashing to
/// `held` (`None`: no proposal of that id there).
pub fn committed_own_entry(
    node: u64,
    index: LogIndex,
    payload: [u8; 32],
    held: Option<[u8; 32]>,
) -> Result<(), Violation> {
    if held == Some(payload) {
        return Ok(());
    }
    Err(Violation::new(
        "committed_own_entry",
        format!(
            "node {node} answered a proposal (payload {}) committed at index {index}, whose \
             entry holds {} under its id",
            hex::encode(&payload[..8]),
            held.map_or_else(|| "nothing".to_owned(), |h| hex::encode(&h[..8]))
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_committed_answer_naming_another_payload_fails() {
        committed_own_entry(1, 5, [1; 32], Some([1; 32])).unwrap();
        let v = committed_own_entry(1, 5, [1; 32], Some([2; 32])).unwrap_err();
        assert_eq!(v.property, "committed_own_entry");
        assert!(committed_own_entry(1, 5, [1; 32], None).is_err());
    }

    #[test]
    fn a_request_answered_twice_or_never_taken_fails() {
        let mut c = AnsweredOnce::default();
        c.asked(1, 2, 1, 100);
        c.answered(1).unwrap();
        assert_eq!(c.answered(1).unwrap_err().property, "answered_once");
        assert_eq!(c.answered(7).unwrap_err().property, "answered_once");
        assert_eq!(c.waiting(), 0);
    }

    #[test]
    fn a_request_past_its_deadline_or_left_by_a_stop_fails() {
        let mut c = AnsweredOnce::default();
        c.asked(1, 2, 1, 100);
        c.asked(2, 3, 1, 50);
        // Not due yet; another node's request does not count.
        c.expired(2, 1, 99).unwrap();
        c.expired(3, 1, 49).unwrap();
        assert_eq!(c.expired(2, 1, 100).unwrap_err().property, "answered_once");
        // Node 2 stops with request 1 unanswered.
        assert_eq!(c.stopped(2, 1).unwrap_err().property, "answered_once");
        // Node 3 answers, stops, then answers again from that incarnation: after its stop.
        c.answered(2).unwrap();
        c.stopped(3, 1).unwrap();
        c.asked(3, 3, 1, 200);
        assert_eq!(c.answered(3).unwrap_err().property, "no_answer_after_stop");
        // Its next incarnation answers as usual.
        c.asked(4, 3, 2, 200);
        c.answered(4).unwrap();
    }
}
