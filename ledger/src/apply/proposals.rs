//! Governance by vote: `PROPOSE`, `VOTE` and `WITHDRAW`, and the actions an accepted proposal
//! applies ([`crate::consortium`] holds the records and the counting rules).
//!
//! A proposal's actions are checked when it is made, by running them on a copy of the
//! configuration that is then dropped, so a proposal that could never apply is refused at once
//! (`INVALID_PROPOSAL`, naming the action and why). When a vote completes it, the actions run
//! again, in order, on a copy: if every one applies, the copy becomes the block's
//! configuration and the proposal is `ACCEPTED`; if one no longer applies (its activation
//! height has passed, the voters it would remove are gone), nothing changes and the proposal is
//! `REJECTED` with that reason. Either way the vote itself commits.
//!
//! What this module is not: it does not decide thresholds or eligibility (that is
//! `consortium`), and it changes no Raft configuration (removed nodes are acted on by the
//! replication core after the block, as for `REMOVE_NODE`).

use std::collections::BTreeMap;
use std::sync::Arc;

use doc_workflow::{DocumentKey, PartyCode};

use super::governance::VOTERS_MIN;
use super::{TxContext, Work};
use crate::consortium::{
    DESCRIPTION_CHARS_MAX, MEMBER_CAS_MAX, MemberRecord, MemberStatus,
    OPEN_PROPOSALS_PER_MEMBER_MAX, PLATFORM_CERTIFICATES_MAX, PLATFORM_URL_CHARS_MAX,
    PLATFORMS_MAX, PROPOSAL_ACTIONS_MAX, PlatformRecord, ProposalAction, ProposalRecord,
    ProposalState, WorkflowVersion, is_platform_code, platform_fingerprint,
};
use crate::genesis::{MEMBERS_MAX, MemberRole, engine_of};
use crate::records::{CrlRecord, NodeRecord, NodeRole, PartyRecord, decode, encode};
use crate::state::Gov;
use crate::trust::Trust;
use crate::tx::PARTY_NAME_CHARS_MAX;
use crate::validate::TxRefusal;
use crate::{ChainError, Hash32, keys};

/// Most workflow versions a network keeps: every document names one, so none is ever dropped;
/// an upgrade a month for five years fits.
pub const WORKFLOW_VERSIONS_MAX: usize = 64;

/// A configuration being changed, with the records to write if the change is kept.
pub(super) struct Draft {
    pub(super) gov: Gov,
    pub(super) writes: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Draft {
    pub(super) fn new(gov: &Gov) -> Draft {
        Draft {
            gov: gov.clone(),
            writes: Vec::new(),
        }
    }

    fn put_member(&mut self, record: MemberRecord) {
        self.writes
            .push((keys::member(&record.code), encode(&record)));
        self.gov.members.insert(record.code.clone(), record);
    }

    fn put_party(&mut self, record: PartyRecord) {
        self.writes
            .push((keys::party(&record.code), encode(&record)));
        self.gov.parties.insert(record.code.clone(), record);
    }

    fn put_node(&mut self, record: NodeRecord) {
        self.writes
            .push((keys::node(record.raft_id), encode(&record)));
        self.gov.nodes.insert(record.raft_id, record);
    }

    /// Rebuilds the trust store from the members and CRLs.
    pub(super) fn retrust(&mut self) -> Result<(), String> {
        let trust = Trust::new(&self.gov.members, &self.gov.crls)?;
        self.gov.trust = Arc::new(trust);
        Ok(())
    }

    /// Keeps the draft: its records into the block, its configuration as the block's.
    pub(super) fn commit(self, work: &mut Work<'_>) {
        for (key, value) in self.writes {
            work.put(key, value);
        }
        *work.gov_mut() = self.gov;
    }
}

/// Where a transaction applies: the block's height and time.
#[derive(Clone, Copy)]
struct At {
    height: u64,
    time_ms: u64,
}

/// The voters `nodes` would keep without `leaving`, against the floor `REMOVE_NODE` keeps.
fn check_voters_left(gov: &Gov, leaving: &[u64]) -> Result<(), String> {
    let voters = gov
        .nodes
        .values()
        .filter(|n| n.role == NodeRole::Voter)
        .count();
    let removed = gov
        .nodes
        .values()
        .filter(|n| n.role == NodeRole::Voter && leaving.contains(&n.raft_id))
        .count();
    let min = VOTERS_MIN.min(voters);
    if removed > 0 && voters - removed < min {
        return Err(format!(
            "it would leave {} voters; at least {min} must remain so that one failed node does not stop the ledger (LAST_VOTER)",
            voters - removed
        ));
    }
    Ok(())
}

fn active_member<'g>(gov: &'g Gov, code: &PartyCode) -> Result<&'g MemberRecord, String> {
    match gov.members.get(code) {
        Some(m) if m.is_active() => Ok(m),
        Some(_) => Err(format!("member {code} was removed")),
        None => Err(format!("{code} is not a member")),
    }
}

/// Applies one action to `draft` (a proposal's check, or its acceptance).
fn execute(draft: &mut Draft, action: &ProposalAction, at: At) -> Result<(), String> {
    match action {
        ProposalAction::AdmitMember {
            code,
            name,
            role,
            ca_certificate_pem,
            initial_crl,
        } => {
            if draft.gov.members.contains_key(code) || draft.gov.parties.contains_key(code) {
                return Err(format!(
                    "{code} is already a member or party code on this network"
                ));
            }
            let chars = name.chars().count();
            if chars == 0 || chars > PARTY_NAME_CHARS_MAX || name.trim() != name {
                return Err(format!(
                    "a member name is 1 to {PARTY_NAME_CHARS_MAX} characters without surrounding spaces"
                ));
            }
            let active = draft.gov.members.values().filter(|m| m.is_active()).count();
            if active >= MEMBERS_MAX {
                return Err(format!("the network already has {MEMBERS_MAX} members"));
            }
            draft.put_member(MemberRecord {
                code: code.clone(),
                name: name.clone(),
                role: *role,
                ca_certificates: vec![ca_certificate_pem.clone()],
                status: MemberStatus::Active,
                since_height: at.height,
            });
            draft.put_party(PartyRecord {
                code: code.clone(),
                name: name.clone(),
                sponsor: code.clone(),
                role: role.workflow_role(),
                since_height: at.height,
            });
            draft
                .retrust()
                .map_err(|e| format!("its CA certificate is not acceptable: {e}"))?;
            if let Some(crl) = initial_crl {
                let info = draft
                    .gov
                    .trust
                    .check_crl_update(code, crl, &[], None, at.time_ms)
                    .map_err(|e| format!("its CRL is not acceptable: {e}"))?;
                let record = CrlRecord {
                    member: code.clone(),
                    der_base64: crl.clone(),
                    this_update_ms: info.this_update_ms,
                    since_height: at.height,
                };
                draft.writes.push((keys::crl(code), encode(&record)));
                draft.gov.crls.insert(code.clone(), record);
                draft.retrust()?;
            }
        }
        ProposalAction::RemoveMember { code, successor } => {
            let target = active_member(&draft.gov, code)?.clone();
            let remaining = draft
                .gov
                .members
                .values()
                .filter(|m| m.is_active() && m.code != *code)
                .count();
            if remaining == 0 {
                return Err("the last member cannot be removed".into());
            }
            let sponsored: Vec<PartyRecord> = draft
                .gov
                .parties
                .values()
                .filter(|p| p.sponsor == *code && p.code != *code)
                .cloned()
                .collect();
            match successor {
                Some(s) if s == code => {
                    return Err("a member cannot be its own successor".into());
                }
                Some(s) => {
                    let s = active_member(&draft.gov, s)?;
                    if s.role == MemberRole::Observer {
                        return Err(format!(
                            "successor {} is an observer: observers sponsor no parties",
                            s.code
                        ));
                    }
                }
                None if !sponsored.is_empty() => {
                    return Err(format!(
                        "{code} sponsors {} parties ({}...): name a successor member to sponsor them (SUCCESSOR_REQUIRED)",
                        sponsored.len(),
                        sponsored[0].code
                    ));
                }
                None => {}
            }
            let leaving: Vec<u64> = draft
                .gov
                .nodes
                .values()
                .filter(|n| n.member == *code && n.role != NodeRole::Removed)
                .map(|n| n.raft_id)
                .collect();
            check_voters_left(&draft.gov, &leaving)?;
            for raft_id in leaving {
                let node = draft.gov.nodes[&raft_id].clone();
                draft.put_node(NodeRecord {
                    role: NodeRole::Removed,
                    since_height: at.height,
                    ..node
                });
            }
            if let Some(successor) = successor {
                for party in sponsored {
                    draft.put_party(PartyRecord {
                        sponsor: successor.clone(),
                        since_height: at.height,
                        ..party
                    });
                }
            }
            draft.put_member(MemberRecord {
                status: MemberStatus::Removed,
                since_height: at.height,
                ..target
            });
            draft.retrust()?;
        }
        ProposalAction::RevokeMemberCa { code, fingerprint } => {
            let mut member = active_member(&draft.gov, code)?.clone();
            if !remove_ca(&mut member, fingerprint) {
                return Err(format!("{code} has no CA certificate {fingerprint}"));
            }
            member.since_height = at.height;
            draft.put_member(member);
            draft.retrust()?;
        }
        ProposalAction::RevokeNode { raft_id } => {
            let node = match draft.gov.nodes.get(raft_id) {
                Some(n) if n.role != NodeRole::Removed => n.clone(),
                _ => return Err(format!("node {raft_id} is not a node of the network")),
            };
            check_voters_left(&draft.gov, &[*raft_id])?;
            draft.put_node(NodeRecord {
                role: NodeRole::Removed,
                since_height: at.height,
                ..node
            });
        }
        ProposalAction::SetParameter { name, value } => {
            let consortium = Arc::make_mut(&mut draft.gov.consortium);
            consortium.parameters.set(name, *value)?;
        }
        ProposalAction::UpgradeWorkflow {
            definitions,
            activate_at,
        } => {
            let engine = engine_of(definitions).map_err(|e| e.to_string())?;
            let consortium = Arc::make_mut(&mut draft.gov.consortium);
            let min = consortium.parameters.workflow_activation_blocks_min;
            if *activate_at < at.height.saturating_add(min) {
                return Err(format!(
                    "activation height {activate_at} is less than {min} blocks after block {} (workflowActivationBlocksMin)",
                    at.height
                ));
            }
            if consortium.workflows.len() >= WORKFLOW_VERSIONS_MAX {
                return Err(format!(
                    "the network already has {WORKFLOW_VERSIONS_MAX} workflow versions"
                ));
            }
            if let Some(last) = consortium.workflows.last()
                && last.activate_at > *activate_at
            {
                return Err(format!(
                    "version {} activates at {}; a newer version activates later",
                    last.version, last.activate_at
                ));
            }
            let version = consortium.workflows.last().map_or(1, |w| w.version) + 1;
            consortium.workflows.push(WorkflowVersion {
                version,
                activate_at: *activate_at,
                hash: String::from(engine.definitions_hash()),
                definitions: definitions.clone(),
            });
            draft.gov.engines.insert(version, Arc::new(engine));
        }
        ProposalAction::TrustPlatform {
            code,
            name,
            url,
            certificates,
        } => trust_platform(draft, code, name, url, certificates, at)?,
        ProposalAction::DistrustPlatform { code, fingerprint } => {
            let consortium = Arc::make_mut(&mut draft.gov.consortium);
            let Some(platform) = consortium.platforms.get_mut(code) else {
                return Err(format!("platform {code} is not trusted"));
            };
            match fingerprint {
                None => {
                    consortium.platforms.remove(code);
                }
                Some(fingerprint) => {
                    let before = platform.certificates.len();
                    platform
                        .certificates
                        .retain(|pem| platform_fingerprint(pem).as_deref() != Ok(fingerprint));
                    if platform.certificates.len() == before {
                        return Err(format!(
                            "platform {code} has no certificate with fingerprint {fingerprint}"
                        ));
                    }
                    if platform.certificates.is_empty() {
                        return Err(format!(
                            "that is platform {code}'s last certificate: distrust the platform itself (no fingerprint)"
                        ));
                    }
                    platform.since_height = at.height;
                }
            }
        }
        ProposalAction::Pause => {
            let consortium = Arc::make_mut(&mut draft.gov.consortium);
            if consortium.paused {
                return Err("document actions are already paused".into());
            }
            consortium.paused = true;
        }
        ProposalAction::Resume => {
            let consortium = Arc::make_mut(&mut draft.gov.consortium);
            if !consortium.paused {
                return Err("document actions are not paused".into());
            }
            consortium.paused = false;
        }
    }
    Ok(())
}

/// `TRUST_PLATFORM`: a new platform, or more certificates for one already trusted.
fn trust_platform(
    draft: &mut Draft,
    code: &str,
    name: &str,
    url: &str,
    certificates: &[String],
    at: At,
) -> Result<(), String> {
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    if !scheme_ok
        || url.chars().count() > PLATFORM_URL_CHARS_MAX
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
        || url.contains(['?', '#'])
    {
        return Err(format!(
            "url must be an https:// (or http://) base URL of at most {PLATFORM_URL_CHARS_MAX} characters, without spaces, query or fragment"
        ));
    }
    if !is_platform_code(code) {
        return Err(format!(
            "platform code {code:?} must be 4 capital letters or digits"
        ));
    }
    if draft.gov.platform.as_deref() == Some(code) {
        return Err(format!("{code} is this network's own platform code"));
    }
    let chars = name.chars().count();
    if chars == 0 || chars > PARTY_NAME_CHARS_MAX {
        return Err(format!(
            "platform name must be 1 to {PARTY_NAME_CHARS_MAX} characters"
        ));
    }
    if certificates.is_empty() {
        return Err("at least one certificate is required".into());
    }
    let consortium = Arc::make_mut(&mut draft.gov.consortium);
    if !consortium.platforms.contains_key(code) && consortium.platforms.len() >= PLATFORMS_MAX {
        return Err(format!(
            "the network already trusts {PLATFORMS_MAX} platforms"
        ));
    }
    let platform = consortium
        .platforms
        .entry(code.to_owned())
        .or_insert_with(|| PlatformRecord {
            code: code.to_owned(),
            name: name.to_owned(),
            url: url.to_owned(),
            certificates: Vec::new(),
            since_height: at.height,
        });
    let mut known: Vec<String> = platform
        .certificates
        .iter()
        .filter_map(|pem| platform_fingerprint(pem).ok())
        .collect();
    for pem in certificates {
        let fingerprint = platform_fingerprint(pem)?;
        if known.contains(&fingerprint) {
            return Err(format!(
                "platform {code} already has the certificate {fingerprint}"
            ));
        }
        known.push(fingerprint);
        platform.certificates.push(pem.clone());
    }
    if platform.certificates.len() > PLATFORM_CERTIFICATES_MAX {
        return Err(format!(
            "a platform has at most {PLATFORM_CERTIFICATES_MAX} certificates"
        ));
    }
    platform.name = name.to_owned();
    platform.url = url.trim_end_matches('/').to_owned();
    platform.since_height = at.height;
    Ok(())
}

/// SHA-256 of a PEM CA certificate's DER, lowercase hex.
pub(super) fn ca_fingerprint(member: &PartyCode, pem: &str) -> Result<String, String> {
    let der = crate::trust::root_der(member, pem)?;
    Ok(hex::encode(crate::sha256(&der)))
}

/// Runs every action on a copy of `gov`; `Err` names the first that does not apply.
fn execute_all(gov: &Gov, actions: &[ProposalAction], at: At) -> Result<Draft, String> {
    let mut draft = Draft::new(gov);
    for (i, action) in actions.iter().enumerate() {
        execute(&mut draft, action, at)
            .map_err(|e| format!("action {i} ({}): {e}", action.code()))?;
    }
    Ok(draft)
}

/// The proposal `id` as the block sees it.
fn load(work: &Work<'_>, id: &Hash32) -> Result<Option<ProposalRecord>, ChainError> {
    let key = keys::proposal(id);
    Ok(match work.get(&key)? {
        Some(bytes) => Some(decode(&key, &bytes)?),
        None => None,
    })
}

/// Refuses a vote or withdrawal on a proposal that is no longer open.
fn require_open(record: &ProposalRecord, time_ms: u64, version: u64) -> Result<(), TxRefusal> {
    match record.state_at(time_ms, version) {
        ProposalState::Open => Ok(()),
        state => Err(TxRefusal::ProposalNotOpen {
            id: record.id,
            state,
        }),
    }
}

/// Writes `record` (changed at `height`) and keeps the block's open proposals in step.
fn store(work: &mut Work<'_>, mut record: ProposalRecord, height: u64, time_ms: u64) {
    record.updated_height = height;
    work.put(keys::proposal(&record.id), encode(&record));
    let gov = work.gov_mut();
    let version = gov.consortium.version;
    // Proposals that expired or were superseded leave the in-memory set here (they stay
    // `OPEN` in the store and read as expired or superseded); nothing but this set's size
    // depends on when that happens.
    gov.open_proposals
        .retain(|_, p| p.state_at(time_ms, version) == ProposalState::Open);
    if record.state_at(time_ms, version) == ProposalState::Open {
        gov.open_proposals.insert(record.id, record);
    } else {
        gov.open_proposals.remove(&record.id);
    }
}

/// Accepts or rejects `record` if its votes decide it; applies it if accepted.
fn decide(work: &mut Work<'_>, mut record: ProposalRecord, at: At) -> ProposalRecord {
    let tally = record.tally(&work.gov().members);
    if tally.accepted() {
        match execute_all(work.gov(), &record.actions, at) {
            Ok(mut draft) => {
                Arc::make_mut(&mut draft.gov.consortium).version += 1;
                let consortium = draft.gov.consortium.clone();
                draft
                    .writes
                    .push((keys::CONSORTIUM.to_vec(), encode(&*consortium)));
                draft.commit(work);
                record.state = ProposalState::Accepted;
            }
            Err(reason) => {
                record.state = ProposalState::Rejected;
                record.reason = Some(format!("accepted by vote, but no longer applies: {reason}"));
            }
        }
        record.closed_height = Some(at.height);
    } else if tally.rejected() {
        record.state = ProposalState::Rejected;
        record.closed_height = Some(at.height);
    }
    record
}

pub(super) fn propose(
    work: &mut Work<'_>,
    ctx: TxContext,
    member: &PartyCode,
    actions: &[ProposalAction],
    description: &str,
    base_config_version: u64,
    expires_at: u64,
) -> Result<Result<Vec<DocumentKey>, TxRefusal>, ChainError> {
    let at = At {
        height: ctx.location.height,
        time_ms: ctx.time_ms,
    };
    let invalid = |why: String| Ok(Err(TxRefusal::InvalidProposal(why)));
    if actions.is_empty() || actions.len() > PROPOSAL_ACTIONS_MAX {
        return invalid(format!(
            "a proposal has 1 to {PROPOSAL_ACTIONS_MAX} actions, got {}",
            actions.len()
        ));
    }
    if description.chars().count() > DESCRIPTION_CHARS_MAX {
        return invalid(format!(
            "the description is longer than {DESCRIPTION_CHARS_MAX} characters"
        ));
    }
    let gov = work.gov();
    let version = gov.consortium.version;
    if base_config_version != version {
        return Ok(Err(TxRefusal::StaleConfigVersion {
            given: base_config_version,
            current: version,
        }));
    }
    let lifetime_max = gov.consortium.parameters.proposal_lifetime_max_ms;
    if expires_at <= at.time_ms || expires_at - at.time_ms > lifetime_max {
        return invalid(format!(
            "expiresAt must be after the block time {} and at most {lifetime_max} ms after it (proposalLifetimeMaxMs)",
            at.time_ms
        ));
    }
    let open = gov
        .open_proposals
        .values()
        .filter(|p| &p.proposer == member && p.state_at(at.time_ms, version) == ProposalState::Open)
        .count();
    if open >= OPEN_PROPOSALS_PER_MEMBER_MAX {
        return Ok(Err(TxRefusal::TooManyOpenProposals {
            member: member.clone(),
            max: OPEN_PROPOSALS_PER_MEMBER_MAX,
        }));
    }
    if let Err(why) = execute_all(gov, actions, at) {
        return invalid(why);
    }
    let record = ProposalRecord {
        id: ctx.tx_hash,
        proposer: member.clone(),
        actions: actions.to_vec(),
        description: description.to_owned(),
        base_config_version,
        expires_at_ms: expires_at,
        created_height: at.height,
        created_ms: at.time_ms,
        updated_height: at.height,
        state: ProposalState::Open,
        votes: BTreeMap::from([(member.clone(), true)]),
        closed_height: None,
        reason: None,
    };
    // A member removing itself does not approve by proposing: it is not eligible.
    let record = decide(work, record, at);
    store(work, record, at.height, at.time_ms);
    Ok(Ok(Vec::new()))
}

pub(super) fn vote(
    work: &mut Work<'_>,
    ctx: TxContext,
    member: &PartyCode,
    id: &Hash32,
    approve: bool,
) -> Result<Result<Vec<DocumentKey>, TxRefusal>, ChainError> {
    let at = At {
        height: ctx.location.height,
        time_ms: ctx.time_ms,
    };
    let Some(mut record) = load(work, id)? else {
        return Ok(Err(TxRefusal::UnknownProposal { id: *id }));
    };
    if let Err(refusal) = require_open(&record, at.time_ms, work.gov().consortium.version) {
        return Ok(Err(refusal));
    }
    let eligible = crate::consortium::eligible_voters(&work.gov().members, &record.actions);
    if !eligible.contains(&member) {
        return Ok(Err(TxRefusal::NotEligibleToVote {
            member: member.clone(),
            id: *id,
        }));
    }
    record.votes.insert(member.clone(), approve);
    let record = decide(work, record, at);
    store(work, record, at.height, at.time_ms);
    Ok(Ok(Vec::new()))
}

pub(super) fn withdraw(
    work: &mut Work<'_>,
    ctx: TxContext,
    member: &PartyCode,
    id: &Hash32,
) -> Result<Result<Vec<DocumentKey>, TxRefusal>, ChainError> {
    let Some(mut record) = load(work, id)? else {
        return Ok(Err(TxRefusal::UnknownProposal { id: *id }));
    };
    if let Err(refusal) = require_open(&record, ctx.time_ms, work.gov().consortium.version) {
        return Ok(Err(refusal));
    }
    if &record.proposer != member {
        return Ok(Err(TxRefusal::NotTheProposer {
            id: *id,
            proposer: record.proposer.clone(),
        }));
    }
    record.state = ProposalState::Withdrawn;
    record.closed_height = Some(ctx.location.height);
    store(work, record, ctx.location.height, ctx.time_ms);
    Ok(Ok(Vec::new()))
}

/// Writes a member whose CA certificates changed and rebuilds the trust store from it; a set
/// the trust store does not accept is refused and changes nothing.
fn install_cas(
    work: &mut Work<'_>,
    record: MemberRecord,
) -> Result<Result<Vec<DocumentKey>, TxRefusal>, ChainError> {
    let mut draft = Draft::new(work.gov());
    draft.put_member(record);
    if let Err(e) = draft.retrust() {
        return Ok(Err(TxRefusal::InvalidMemberCa(e)));
    }
    draft.commit(work);
    Ok(Ok(Vec::new()))
}

/// Removes the CA certificate whose DER has SHA-256 `fingerprint` from `member`; whether one
/// was there.
fn remove_ca(member: &mut MemberRecord, fingerprint: &str) -> bool {
    let before = member.ca_certificates.len();
    let code = member.code.clone();
    member
        .ca_certificates
        .retain(|pem| ca_fingerprint(&code, pem).as_deref() != Ok(fingerprint));
    member.ca_certificates.len() != before
}

/// `ADD_CA`: the member's own new root, trusted beside its others.
pub(super) fn add_ca(
    work: &mut Work<'_>,
    ctx: TxContext,
    member: &PartyCode,
    pem: &str,
) -> Result<Result<Vec<DocumentKey>, TxRefusal>, ChainError> {
    let mut record = work.gov().members[member].clone();
    if record.ca_certificates.len() >= MEMBER_CAS_MAX {
        return Ok(Err(TxRefusal::InvalidMemberCa(format!(
            "{member} already has {MEMBER_CAS_MAX} CA certificates; retire one first"
        ))));
    }
    record.ca_certificates.push(pem.to_owned());
    record.since_height = ctx.location.height;
    install_cas(work, record)
}

/// `RETIRE_CA`: stops trusting one of the member's own roots; one must remain.
pub(super) fn retire_ca(
    work: &mut Work<'_>,
    ctx: TxContext,
    member: &PartyCode,
    fingerprint: &str,
) -> Result<Result<Vec<DocumentKey>, TxRefusal>, ChainError> {
    let mut record = work.gov().members[member].clone();
    if !remove_ca(&mut record, fingerprint) {
        return Ok(Err(TxRefusal::InvalidMemberCa(format!(
            "{member} has no CA certificate with fingerprint {fingerprint}"
        ))));
    }
    if record.ca_certificates.is_empty() {
        return Ok(Err(TxRefusal::InvalidMemberCa(format!(
            "{fingerprint} is {member}'s last CA certificate: add its successor first (ADD_CA)"
        ))));
    }
    record.since_height = ctx.location.height;
    install_cas(work, record)
}
