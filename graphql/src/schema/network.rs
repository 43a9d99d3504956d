//! The network and this node: members, parties, the node set with each node's height as far as
//! the answering node knows it, and this node's Raft role and chain tip.

use async_graphql::{Enum, SimpleObject};
use ledger::{LedgerReader, NodeRecord};
use replication::StateRole;
use replication::runtime::ReplicaStatus;

use super::code_of;
use crate::error::internal;

/// A member of the consortium.
#[derive(SimpleObject)]
pub struct Member {
    pub code: String,
    pub name: String,
    /// `CARRIER`, `PORT`, `BANK` or `OBSERVER`.
    pub role: String,
}

/// A party that may act on documents.
#[derive(SimpleObject)]
pub struct Party {
    pub code: String,
    pub name: String,
    /// The member whose CA certifies its users.
    pub sponsor: String,
    /// The workflow role it acts with.
    pub role: String,
}

impl Party {
    /// About what it weighs in an answer with every field selected: its strings and the JSON
    /// around them.
    pub(super) fn json_bytes(&self) -> usize {
        const FIELD_NAMES_AND_PUNCTUATION: usize = 48;
        FIELD_NAMES_AND_PUNCTUATION
            + self.code.len()
            + self.name.len()
            + self.sponsor.len()
            + self.role.len()
    }
}

/// Where a node's height in `network` comes from: never a guess.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum HeightSource {
    /// The node answering: its own applied chain tip.
    ThisNode,
    /// The node answering leads, and its Raft progress says how far the node's log matches its
    /// own (`matchIndex`): `height` is the last block of the answering node's chain within it.
    /// Those blocks are durably in the node's log; it applies them once committed, so its own
    /// applied height may be lower.
    LeaderReplication,
    /// The node answering does not lead, so it does not track the others; or, just after an
    /// election, the leader has not heard from the node yet. Ask the node itself.
    Unknown,
}

/// A node of the network (a genesis node or one added by governance, removed ones included),
/// with what the answering node knows of its progress.
#[derive(SimpleObject)]
pub struct NetworkNode {
    pub raft_id: u64,
    /// The node id its certificate names; none for a genesis node (the genesis pins it by
    /// its certificate's hash).
    pub node_id: Option<String>,
    pub address: String,
    pub member: String,
    /// `VOTER`, `LEARNER` or `REMOVED`: what the ledger's node set makes it (genesis nodes,
    /// then `ADD_NODE`, `PROMOTE_NODE`, `REMOVE_NODE`).
    pub membership: String,
    /// Whether the answering node believes this node is the leader.
    pub is_leader: bool,
    /// Whether this is the node answering.
    pub is_this_node: bool,
    /// The node's block height as far as the answering node knows it (see `heightSource`);
    /// absent when unknown.
    pub height: Option<u64>,
    /// How `height` is known.
    pub height_source: HeightSource,
    /// The Raft log index the leader knows the node's log matches through (`matchIndex`);
    /// absent unless the answering node leads and has heard from it.
    pub match_index: Option<u64>,
}

/// The network as this node knows it.
#[derive(SimpleObject)]
pub struct Network {
    pub id: String,
    pub genesis_hash: String,
    pub members: Vec<Member>,
    pub parties: Vec<Party>,
    pub nodes: Vec<NetworkNode>,
    /// The leader's raft id as this node knows it (0: none).
    pub leader_raft_id: u64,
    /// This node's block height (each node's, as far as this node knows it: `nodes`).
    pub height: u64,
    /// This node's commit index.
    pub commit_index: u64,
}

/// A node of the ledger's node set as the answering node (`status`, chain tip at
/// `tip_height`) knows it.
pub(super) fn network_node(
    reader: &LedgerReader,
    status: &ReplicaStatus,
    tip_height: u64,
    node: &NodeRecord,
) -> async_graphql::Result<NetworkNode> {
    let is_this_node = node.raft_id == status.id;
    let match_index = status
        .peers
        .iter()
        .find(|p| p.id == node.raft_id && p.matched > 0)
        .map(|p| p.matched);
    let (height, height_source) = if is_this_node {
        (Some(tip_height), HeightSource::ThisNode)
    } else if let Some(matched) = match_index {
        (
            Some(height_within(reader, tip_height, matched)?),
            HeightSource::LeaderReplication,
        )
    } else {
        (None, HeightSource::Unknown)
    };
    Ok(NetworkNode {
        raft_id: node.raft_id,
        node_id: node.node_id.clone(),
        address: node.address.clone(),
        member: node.member.as_str().to_owned(),
        membership: code_of(&node.role),
        is_leader: node.raft_id == status.leader_id,
        is_this_node,
        height,
        height_source,
        match_index,
    })
}

/// The last block, at most `tip_height`, whose Raft entry is at or below `log_index` (0 if
/// none): block log indices grow with height, so a binary search over at most 64 halvings.
pub(super) fn height_within(
    reader: &LedgerReader,
    tip_height: u64,
    log_index: u64,
) -> async_graphql::Result<u64> {
    // Invariant: block `low` is within (or is the genesis, 0); blocks above `high` are not.
    let (mut low, mut high) = (0u64, tip_height);
    for _ in 0..u64::BITS {
        if low >= high {
            break;
        }
        let mid = low + (high - low).div_ceil(2);
        let within = match reader.block(mid).map_err(internal)? {
            Some(block) => block.header.log_index <= log_index,
            None => false,
        };
        if within {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    Ok(low)
}

/// This node.
#[derive(SimpleObject)]
pub struct NodeInfo {
    pub id: String,
    pub raft_id: u64,
    /// `LEADER`, `FOLLOWER`, `CANDIDATE` or `PRE_CANDIDATE`.
    pub role: String,
    pub leader_raft_id: u64,
    pub term: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    /// The last block's height.
    pub height: u64,
    /// The last block's hash.
    pub block_hash: String,
    /// The state hash after the last block: equal on nodes at equal heights.
    pub state_hash: String,
    /// Whether this node votes in Raft's configuration as this node last applied it.
    pub voter: bool,
    /// Raft's voters as this node last applied them, by raft id.
    pub voters: Vec<u64>,
    /// Raft's learners as this node last applied them, by raft id.
    pub learners: Vec<u64>,
}

pub(super) fn role_code(role: StateRole) -> &'static str {
    match role {
        StateRole::Leader => "LEADER",
        StateRole::Follower => "FOLLOWER",
        StateRole::Candidate => "CANDIDATE",
        StateRole::PreCandidate => "PRE_CANDIDATE",
    }
}
