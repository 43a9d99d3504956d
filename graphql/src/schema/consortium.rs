//! The consortium's configuration and its proposals, as the answering node has applied them:
//! `consortium`, `proposals`, `proposal`, and the `proposalEvents` subscription's events.
//!
//! Every member's users may read them: governance is the consortium's own business, done in
//! the open among its members. What a proposal changes is shown as the JSON its transaction
//! carries (`actions`), so a reader sees exactly what it votes on.

use async_graphql::{Json, SimpleObject};
use ledger::LedgerReader;
use ledger::consortium::{ConsortiumRecord, MemberRecord, ProposalState, platform_fingerprint};
use ledger::reader::ProposalView;

use adapters::time::iso8601_utc;

use super::code_of;

/// The consortium's configuration.
#[derive(SimpleObject)]
pub struct ConsortiumOut {
    /// 0 at genesis; every accepted proposal increments it. A proposal names the version it
    /// was written against (`baseConfigVersion`).
    pub version: u64,
    /// Whether document actions are paused by vote.
    pub paused: bool,
    pub parameters: ParametersOut,
    /// Every member ever, removed ones included.
    pub members: Vec<MemberOut>,
    /// Every workflow version, oldest first.
    pub workflows: Vec<WorkflowOut>,
    /// This network's own DCSA PINT platform code, if it has one (genesis fixes it).
    pub platform: Option<String>,
    /// The other eBL platforms it trusts (by vote), whose bills it accepts and to which it
    /// sends.
    pub platforms: Vec<PlatformOut>,
}

/// Another eBL platform the network trusts, and the certificates its PINT signatures are
/// checked against.
#[derive(SimpleObject)]
pub struct PlatformOut {
    pub code: String,
    pub name: String,
    /// The base URL of its PINT endpoints.
    pub url: String,
    /// SHA-256 of each certificate's DER, lowercase hex (what `DISTRUST_PLATFORM` names).
    pub certificate_fingerprints: Vec<String>,
    /// PEM.
    pub certificates: Vec<String>,
    pub since_height: u64,
}

#[derive(SimpleObject)]
pub struct ParametersOut {
    pub proposal_lifetime_max_ms: u64,
    pub workflow_activation_blocks_min: u64,
}

/// A member as the ledger holds it.
#[derive(SimpleObject)]
pub struct MemberOut {
    pub code: String,
    pub name: String,
    /// `CARRIER`, `PORT`, `BANK` or `OBSERVER`.
    pub role: String,
    /// `ACTIVE` or `REMOVED`.
    pub status: String,
    /// SHA-256 of each of its CA certificates' DER, lowercase hex (what `RETIRE_CA` and
    /// `REVOKE_MEMBER_CA` name).
    pub ca_fingerprints: Vec<String>,
    /// Its CA certificates, PEM.
    pub ca_certificates: Vec<String>,
    /// The block that last changed it (0: genesis).
    pub since_height: u64,
}

/// A set of workflow definitions and the height from which new documents run under it.
#[derive(SimpleObject)]
pub struct WorkflowOut {
    pub version: u32,
    pub activate_at: u64,
    /// SHA-256 of the definitions' canonical JSON.
    pub hash: String,
}

/// A proposal, its votes and their count.
#[derive(SimpleObject, Clone)]
pub struct ProposalOut {
    /// The hash of the transaction that made it.
    pub id: String,
    pub proposer: String,
    pub description: String,
    /// What it changes, as its transaction carries it.
    pub actions: Json<serde_json::Value>,
    pub base_config_version: u64,
    pub expires_at: String,
    pub expires_at_ms: u64,
    pub created_height: u64,
    /// `OPEN`, `ACCEPTED`, `REJECTED`, `WITHDRAWN`, `EXPIRED` or `SUPERSEDED`, as of this
    /// node's last block.
    pub state: String,
    pub votes: Vec<VoteOut>,
    pub tally: TallyOut,
    pub closed_height: Option<u64>,
    /// Why it was rejected, when that was not the votes' doing.
    pub reason: Option<String>,
}

#[derive(SimpleObject, Clone)]
pub struct VoteOut {
    pub member: String,
    pub approve: bool,
}

/// The votes of the members eligible on a proposal.
#[derive(SimpleObject, Clone)]
pub struct TallyOut {
    /// Active members, less one the proposal would remove.
    pub eligible: u64,
    pub approvals: u64,
    pub rejections: u64,
    /// `MAJORITY` (more than half) or `TWO_THIRDS`.
    pub threshold: String,
}

/// A proposal made, voted, withdrawn or closed in a block.
#[derive(SimpleObject, Clone)]
pub struct ProposalEvent {
    pub height: u64,
    /// `OPENED`, `VOTED`, or the state it closed in (`ACCEPTED`, `REJECTED`, `WITHDRAWN`).
    pub kind: String,
    pub proposal: ProposalOut,
}

impl ConsortiumOut {
    pub fn of(
        record: &ConsortiumRecord,
        members: Vec<MemberRecord>,
        platform: Option<String>,
    ) -> ConsortiumOut {
        ConsortiumOut {
            version: record.version,
            paused: record.paused,
            parameters: ParametersOut {
                proposal_lifetime_max_ms: record.parameters.proposal_lifetime_max_ms,
                workflow_activation_blocks_min: record.parameters.workflow_activation_blocks_min,
            },
            members: members.into_iter().map(MemberOut::of).collect(),
            workflows: record
                .workflows
                .iter()
                .map(|w| WorkflowOut {
                    version: w.version,
                    activate_at: w.activate_at,
                    hash: w.hash.clone(),
                })
                .collect(),
            platform,
            platforms: record
                .platforms
                .values()
                .map(|p| PlatformOut {
                    code: p.code.clone(),
                    name: p.name.clone(),
                    url: p.url.clone(),
                    certificate_fingerprints: p
                        .certificates
                        .iter()
                        .map(|pem| platform_fingerprint(pem).unwrap_or_default())
                        .collect(),
                    certificates: p.certificates.clone(),
                    since_height: p.since_height,
                })
                .collect(),
        }
    }
}

impl MemberOut {
    fn of(m: MemberRecord) -> MemberOut {
        let ca_fingerprints = m
            .ca_certificates
            .iter()
            .map(|pem| {
                ledger::trust::root_der(&m.code, pem)
                    .map(|der| hex::encode(ledger::sha256(&der)))
                    .unwrap_or_default()
            })
            .collect();
        MemberOut {
            code: m.code.as_str().to_owned(),
            name: m.name,
            role: code_of(&m.role),
            status: code_of(&m.status),
            ca_fingerprints,
            ca_certificates: m.ca_certificates,
            since_height: m.since_height,
        }
    }
}

impl From<ProposalView> for ProposalOut {
    fn from(view: ProposalView) -> ProposalOut {
        let r = view.record;
        ProposalOut {
            id: r.id.to_string(),
            proposer: r.proposer.as_str().to_owned(),
            description: r.description,
            actions: Json(serde_json::to_value(&r.actions).unwrap_or_default()),
            base_config_version: r.base_config_version,
            expires_at: iso8601_utc(r.expires_at_ms),
            expires_at_ms: r.expires_at_ms,
            created_height: r.created_height,
            state: view.state.code().to_owned(),
            votes: r
                .votes
                .into_iter()
                .map(|(member, approve)| VoteOut {
                    member: member.as_str().to_owned(),
                    approve,
                })
                .collect(),
            tally: TallyOut {
                eligible: view.tally.eligible as u64,
                approvals: view.tally.approvals as u64,
                rejections: view.tally.rejections as u64,
                threshold: code_of(&view.tally.threshold),
            },
            closed_height: r.closed_height,
            reason: r.reason,
        }
    }
}

/// The proposal events of the block at `height`: every proposal it changed.
pub fn proposal_events(
    reader: &LedgerReader,
    height: u64,
) -> Result<Vec<ProposalEvent>, ledger::ChainError> {
    let mut events = Vec::new();
    for view in reader.proposals()? {
        if view.record.updated_height != height {
            continue;
        }
        let kind = match view.record.state {
            ProposalState::Open if view.record.created_height == height => "OPENED",
            ProposalState::Open => "VOTED",
            state => state.code(),
        };
        events.push(ProposalEvent {
            height,
            kind: kind.to_owned(),
            proposal: ProposalOut::from(view),
        });
    }
    Ok(events)
}
