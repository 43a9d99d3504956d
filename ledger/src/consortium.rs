//! The consortium's configuration as the ledger holds it, and the rules of voting on it.
//!
//! Genesis fixes where a network starts; after that the members govern it by vote
//! (`apply::proposals`). Everything a vote can change is here: the members and their CA
//! certificates ([`MemberRecord`]), the [`Parameters`], the workflow versions in force
//! ([`WorkflowVersion`]), whether document actions are paused, and the configuration's
//! [`version`](ConsortiumRecord::version), which every accepted proposal increments.
//!
//! A proposal ([`ProposalRecord`]) names the version it was made against. It can be accepted
//! only while the configuration is still at that version: a proposal written against a
//! configuration that has since changed is `SUPERSEDED`, never applied to one its voters did
//! not see.
//!
//! Votes are counted per member, never per node ([`Tally`]). Who may vote on what, and how many
//! approvals each action needs, is [`ProposalAction::threshold`] and [`eligible_voters`].
//!
//! What this module is not: it reads no store and applies nothing; `apply::proposals` does,
//! with these types and pure functions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use doc_workflow::PartyCode;
use doc_workflow::definition::RawDefinition;

use crate::Hash32;
use crate::genesis::{Genesis, MemberRole};

/// Longest proposal description: a paragraph or two that members read before they vote.
pub const DESCRIPTION_CHARS_MAX: usize = 2_000;

/// Most actions one proposal carries: a proposal is voted as a whole, so it stays small enough
/// to read; a larger change is several proposals.
pub const PROPOSAL_ACTIONS_MAX: usize = 16;

/// Most proposals one member may have open at once: bounds what every node keeps in memory
/// (open proposals are part of the in-memory configuration) against a member that floods.
pub const OPEN_PROPOSALS_PER_MEMBER_MAX: usize = 16;

/// Most CA certificates a member holds at once: the current one and the next, during a
/// rotation, with room for an intermediate step.
pub const MEMBER_CAS_MAX: usize = 4;

/// Most other eBL platforms one network trusts (DCSA PINT): every node keeps them in memory.
pub const PLATFORMS_MAX: usize = 64;

/// Most signing certificates one platform has trusted at once: its current ones and the next,
/// while it rotates.
pub const PLATFORM_CERTIFICATES_MAX: usize = 8;

/// Longest platform URL.
pub const PLATFORM_URL_CHARS_MAX: usize = 256;

/// Largest PEM certificate a `TRUST_PLATFORM` carries.
pub const PLATFORM_CERTIFICATE_BYTES_MAX: usize = 16 * 1024;

/// Whether `code` is an eBL platform code as PINT names platforms: 4 characters, capital letters
/// or digits (`WAVE`, `CARX`, `BOLE`...).
pub fn is_platform_code(code: &str) -> bool {
    code.len() == 4
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// SHA-256 of one PEM certificate's DER, lowercase hex; an error unless the PEM holds exactly
/// one certificate that parses as X.509.
pub fn platform_fingerprint(pem: &str) -> Result<String, String> {
    if pem.len() > PLATFORM_CERTIFICATE_BYTES_MAX {
        return Err(format!(
            "a platform certificate is at most {PLATFORM_CERTIFICATE_BYTES_MAX} bytes of PEM"
        ));
    }
    let certs = pki::pem::certificates(pem).map_err(|e| format!("platform certificate: {e}"))?;
    let [cert] = certs.as_slice() else {
        return Err(format!(
            "one PEM certificate per entry, got {}",
            certs.len()
        ));
    };
    x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| format!("platform certificate is not X.509: {e}"))?;
    Ok(hex::encode(crate::sha256(cert.as_ref())))
}

/// Another eBL platform this network accepts bills from and sends bills to (DCSA PINT), with
/// the certificates its signatures are checked against: added and removed by member vote
/// (`TRUST_PLATFORM`, `DISTRUST_PLATFORM`), so every node agrees, at every block, which
/// signatures are valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformRecord {
    pub code: String,
    pub name: String,
    /// The base URL of its PINT endpoints (`{url}/v3/envelopes`), where this network's nodes
    /// deliver bills sent to it.
    pub url: String,
    /// PEM, one certificate each: a platform's signing certificate (its key is pinned) or a
    /// CA whose chains (`x5c`) its signatures carry (how Silkline networks trust each other:
    /// their members' root CAs).
    pub certificates: Vec<String>,
    /// The block that last changed it.
    pub since_height: u64,
}

/// A member's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MemberStatus {
    Active,
    /// Removed by vote: its CAs are no longer trusted, its nodes are removed, and it counts in
    /// no vote. Its record stays, so its code is never reused and history still names it.
    Removed,
}

/// A consortium member as the ledger holds it: a genesis member, or one admitted by vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberRecord {
    pub code: PartyCode,
    pub name: String,
    pub role: MemberRole,
    /// Its root CA certificates, PEM, one per entry: every certificate of the member chains to
    /// one of them. More than one while the member rotates its CA (`ADD_CA`, then
    /// `RETIRE_CA`). Empty after an emergency `REVOKE_MEMBER_CA` of its last CA: nothing of
    /// the member can sign any more, and the others decide by vote whether to remove it.
    pub ca_certificates: Vec<String>,
    pub status: MemberStatus,
    /// The block that last changed it; 0 for a genesis member never changed.
    pub since_height: u64,
}

impl MemberRecord {
    /// The genesis members as records.
    pub fn of_genesis(genesis: &Genesis) -> BTreeMap<PartyCode, MemberRecord> {
        genesis
            .members
            .iter()
            .map(|m| {
                let record = MemberRecord {
                    code: m.code.clone(),
                    name: m.name.clone(),
                    role: m.role,
                    ca_certificates: vec![m.ca_certificate_pem.clone()],
                    status: MemberStatus::Active,
                    since_height: 0,
                };
                (m.code.clone(), record)
            })
            .collect()
    }

    pub fn is_active(&self) -> bool {
        self.status == MemberStatus::Active
    }
}

/// The parameters members set by vote (`SET_PARAMETER`), each with its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Parameters {
    /// Longest time a proposal stays open (`expiresAt` at most this far after its block).
    pub proposal_lifetime_max_ms: u64,
    /// Fewest blocks between a workflow upgrade's acceptance and its activation, so every
    /// member's integrations see the new rules coming.
    pub workflow_activation_blocks_min: u64,
    /// 1: accept, from other platforms, the DCSA conformance tool's known deviations from PINT
    /// 3.0 (`pint::Leniency::CONFORMANCE_TOOL`); 0 (the default): the standard to the letter.
    /// Every node checks envelopes under the same setting, so it is the consortium's.
    #[serde(default)]
    pub pint_conformance_leniency: u64,
}

impl Default for Parameters {
    fn default() -> Self {
        Parameters {
            proposal_lifetime_max_ms: 30 * 24 * 3_600_000,
            workflow_activation_blocks_min: 10,
            pint_conformance_leniency: 0,
        }
    }
}

/// A parameter's name, bounds and where it lives: the one table `SET_PARAMETER` checks.
struct ParameterSpec {
    name: &'static str,
    min: u64,
    max: u64,
    field: fn(&mut Parameters) -> &mut u64,
}

const PARAMETERS: &[ParameterSpec] = &[
    ParameterSpec {
        name: "proposalLifetimeMaxMs",
        // An hour: less and members in other time zones cannot vote.
        min: 3_600_000,
        // A year: longer and a proposal outlives the people who read it.
        max: 365 * 24 * 3_600_000,
        field: |p| &mut p.proposal_lifetime_max_ms,
    },
    ParameterSpec {
        name: "workflowActivationBlocksMin",
        min: 1,
        max: 10_000_000,
        field: |p| &mut p.workflow_activation_blocks_min,
    },
    ParameterSpec {
        name: "pintConformanceLeniency",
        min: 0,
        max: 1,
        field: |p| &mut p.pint_conformance_leniency,
    },
];

impl Parameters {
    /// Sets parameter `name` to `value`, within its bounds.
    pub fn set(&mut self, name: &str, value: u64) -> Result<(), String> {
        let spec = PARAMETERS.iter().find(|p| p.name == name).ok_or_else(|| {
            let names: Vec<&str> = PARAMETERS.iter().map(|p| p.name).collect();
            format!("unknown parameter {name:?}; the parameters are {names:?}")
        })?;
        if !(spec.min..=spec.max).contains(&value) {
            return Err(format!(
                "{name} must be {} to {}, got {value}",
                spec.min, spec.max
            ));
        }
        *(spec.field)(self) = value;
        Ok(())
    }
}

/// A set of workflow definitions in force from a height on. Version 1 is genesis's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowVersion {
    pub version: u32,
    /// Documents created at this height or later run under it; 0 for genesis's.
    pub activate_at: u64,
    /// SHA-256 of the definitions' canonical JSON, lowercase hex (`Engine::definitions_hash`).
    pub hash: String,
    /// The definitions; empty for version 1, which is genesis's `workflowDefinitions`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub definitions: Vec<RawDefinition>,
}

/// What votes change besides the members: stored at one key, changed only by accepted
/// proposals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsortiumRecord {
    /// 0 at genesis; every accepted proposal increments it.
    pub version: u64,
    /// Document actions are refused (`NETWORK_PAUSED`) while set; governance goes on.
    pub paused: bool,
    pub parameters: Parameters,
    /// Every workflow version, oldest first; the first is genesis's.
    pub workflows: Vec<WorkflowVersion>,
    /// The other eBL platforms this network trusts, by platform code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub platforms: BTreeMap<String, PlatformRecord>,
}

impl ConsortiumRecord {
    pub fn of_genesis(genesis_definitions_hash: String) -> ConsortiumRecord {
        ConsortiumRecord {
            version: 0,
            paused: false,
            parameters: Parameters::default(),
            workflows: vec![WorkflowVersion {
                version: 1,
                activate_at: 0,
                hash: genesis_definitions_hash,
                definitions: Vec::new(),
            }],
            platforms: BTreeMap::new(),
        }
    }

    /// The workflow version a document created at `height` runs under: the newest one active
    /// by then.
    pub fn workflow_at(&self, height: u64) -> u32 {
        self.workflows
            .iter()
            .filter(|w| w.activate_at <= height)
            .map(|w| w.version)
            .max()
            .unwrap_or(1)
    }
}

/// One change a proposal asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum ProposalAction {
    /// A new member, from its public bundle: its own party is created with it.
    AdmitMember {
        code: PartyCode,
        name: String,
        role: MemberRole,
        /// Its root CA certificate, PEM.
        ca_certificate_pem: String,
        /// Its CRL at admission, DER in standard base64.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        initial_crl: Option<String>,
    },
    /// Removes a member. Its CAs stop being trusted and its nodes are removed. The parties it
    /// sponsored move to `successor`, whose CA then certifies their users, so no document
    /// strands with a party nobody can act for; a member that sponsors parties other than its
    /// own cannot be removed without one.
    RemoveMember {
        code: PartyCode,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        successor: Option<PartyCode>,
    },
    /// Emergency: stops trusting one of another member's CA certificates (by the SHA-256 of
    /// its DER, lowercase hex), e.g. after its key leaked.
    RevokeMemberCa {
        code: PartyCode,
        fingerprint: String,
    },
    /// Emergency: removes another member's node.
    RevokeNode {
        raft_id: u64,
    },
    SetParameter {
        name: String,
        value: u64,
    },
    /// New workflow definitions (the whole set), for documents created from `activateAt` on.
    UpgradeWorkflow {
        definitions: Vec<RawDefinition>,
        activate_at: u64,
    },
    /// Trusts another eBL platform's signing certificates (DCSA PINT): bills may arrive from
    /// it and leave for it. Adds to the certificates it already has, if any.
    TrustPlatform {
        /// Its PINT platform code: 4 capital letters or digits, not this network's own.
        code: String,
        name: String,
        /// The base URL of its PINT endpoints: `https://...` (or `http://` for a platform
        /// reached through a local proxy), without `/v3`.
        url: String,
        /// PEM certificates, one per entry.
        certificates: Vec<String>,
    },
    /// Stops trusting one of a platform's certificates (by the SHA-256 of its DER, lowercase
    /// hex), or, without a fingerprint, the platform itself.
    DistrustPlatform {
        code: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fingerprint: Option<String>,
    },
    /// Refuses every document action until `RESUME`.
    Pause,
    Resume,
}

/// How many approvals an action needs, of the members eligible to vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Threshold {
    /// More than half.
    Majority,
    /// At least two thirds.
    TwoThirds,
}

impl Threshold {
    /// Whether `approvals` of `eligible` meet it.
    pub fn met(self, approvals: usize, eligible: usize) -> bool {
        match self {
            Threshold::Majority => approvals * 2 > eligible,
            Threshold::TwoThirds => eligible > 0 && approvals * 3 >= eligible * 2,
        }
    }
}

impl ProposalAction {
    /// The stable name, as serialized.
    pub fn code(&self) -> &'static str {
        match self {
            ProposalAction::AdmitMember { .. } => "ADMIT_MEMBER",
            ProposalAction::RemoveMember { .. } => "REMOVE_MEMBER",
            ProposalAction::RevokeMemberCa { .. } => "REVOKE_MEMBER_CA",
            ProposalAction::RevokeNode { .. } => "REVOKE_NODE",
            ProposalAction::SetParameter { .. } => "SET_PARAMETER",
            ProposalAction::UpgradeWorkflow { .. } => "UPGRADE_WORKFLOW",
            ProposalAction::TrustPlatform { .. } => "TRUST_PLATFORM",
            ProposalAction::DistrustPlatform { .. } => "DISTRUST_PLATFORM",
            ProposalAction::Pause => "PAUSE",
            ProposalAction::Resume => "RESUME",
        }
    }

    /// What it needs: a workflow upgrade changes the rules every document lives by (what
    /// insurers approve per version), so it needs two thirds; everything else a majority.
    pub fn threshold(&self) -> Threshold {
        match self {
            ProposalAction::UpgradeWorkflow { .. } => Threshold::TwoThirds,
            _ => Threshold::Majority,
        }
    }

    /// The member this action removes, who is never counted in its own removal.
    pub fn removes(&self) -> Option<&PartyCode> {
        match self {
            ProposalAction::RemoveMember { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A proposal's lifecycle. `Expired` and `Superseded` are not stored: they are what an `Open`
/// proposal *is* once its time or its base version has passed ([`ProposalRecord::state_at`]),
/// so no block has to sweep proposals and every node sees the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProposalState {
    Open,
    /// Applied in the block of the vote that completed it.
    Accepted,
    /// Acceptance is no longer possible (too many rejections, or its actions could no longer
    /// apply when its last vote came).
    Rejected,
    Withdrawn,
    Expired,
    Superseded,
}

impl ProposalState {
    pub fn code(self) -> &'static str {
        match self {
            ProposalState::Open => "OPEN",
            ProposalState::Accepted => "ACCEPTED",
            ProposalState::Rejected => "REJECTED",
            ProposalState::Withdrawn => "WITHDRAWN",
            ProposalState::Expired => "EXPIRED",
            ProposalState::Superseded => "SUPERSEDED",
        }
    }
}

/// A proposal and its votes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProposalRecord {
    /// The hash of the transaction that made it.
    pub id: Hash32,
    /// The proposing member.
    pub proposer: PartyCode,
    pub actions: Vec<ProposalAction>,
    pub description: String,
    pub base_config_version: u64,
    pub expires_at_ms: u64,
    pub created_height: u64,
    pub created_ms: u64,
    /// The block of its last change (made, voted, closed): readers that follow the chain find
    /// a block's proposal events by it.
    pub updated_height: u64,
    /// The stored state: `Open` until a vote accepts or rejects it, or it is withdrawn.
    pub state: ProposalState,
    /// Each member's latest vote: `true` approves. The proposer's proposal is its approval.
    pub votes: BTreeMap<PartyCode, bool>,
    /// The block that closed it (accepted, rejected, withdrawn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_height: Option<u64>,
    /// Why it was rejected when that was not the votes' doing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ProposalRecord {
    /// The strictest threshold of its actions.
    pub fn threshold(&self) -> Threshold {
        self.actions
            .iter()
            .map(ProposalAction::threshold)
            .max()
            .unwrap_or(Threshold::Majority)
    }

    /// Its state at `time_ms` under configuration `version`: an open proposal past its expiry
    /// is expired, one whose base version is not the current one is superseded.
    pub fn state_at(&self, time_ms: u64, version: u64) -> ProposalState {
        match self.state {
            ProposalState::Open if time_ms > self.expires_at_ms => ProposalState::Expired,
            ProposalState::Open if version != self.base_config_version => ProposalState::Superseded,
            state => state,
        }
    }

    /// The count of its votes among `members`.
    pub fn tally(&self, members: &BTreeMap<PartyCode, MemberRecord>) -> Tally {
        let eligible = eligible_voters(members, &self.actions);
        let count = |approve: bool| {
            eligible
                .iter()
                .filter(|m| self.votes.get(*m) == Some(&approve))
                .count()
        };
        Tally {
            eligible: eligible.len(),
            approvals: count(true),
            rejections: count(false),
            threshold: self.threshold(),
        }
    }
}

/// The members who may vote on `actions`: every active member, except one the proposal would
/// remove.
pub fn eligible_voters<'m>(
    members: &'m BTreeMap<PartyCode, MemberRecord>,
    actions: &[ProposalAction],
) -> Vec<&'m PartyCode> {
    members
        .values()
        .filter(|m| m.is_active())
        .filter(|m| !actions.iter().any(|a| a.removes() == Some(&m.code)))
        .map(|m| &m.code)
        .collect()
}

/// A proposal's vote count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    pub eligible: usize,
    pub approvals: usize,
    pub rejections: usize,
    pub threshold: Threshold,
}

impl Tally {
    pub fn accepted(&self) -> bool {
        self.threshold.met(self.approvals, self.eligible)
    }

    /// Whether acceptance is out of reach: even if every member yet to vote approved, the
    /// threshold would not be met.
    pub fn rejected(&self) -> bool {
        !self
            .threshold
            .met(self.eligible - self.rejections, self.eligible)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_strict_majority_and_two_thirds() {
        assert!(!Threshold::Majority.met(1, 3));
        assert!(Threshold::Majority.met(2, 3));
        assert!(!Threshold::Majority.met(2, 4), "half is not a majority");
        assert!(Threshold::Majority.met(3, 4));
        assert!(Threshold::Majority.met(1, 1));
        assert!(!Threshold::TwoThirds.met(1, 3));
        assert!(Threshold::TwoThirds.met(2, 3));
        assert!(!Threshold::TwoThirds.met(2, 4));
        assert!(Threshold::TwoThirds.met(3, 4));
        assert!(!Threshold::TwoThirds.met(0, 0));
    }

    #[test]
    fn rejection_means_acceptance_is_out_of_reach() {
        let tally = |approvals, rejections, eligible| Tally {
            eligible,
            approvals,
            rejections,
            threshold: Threshold::Majority,
        };
        assert!(
            !tally(1, 1, 3).rejected(),
            "the third member can still decide"
        );
        assert!(tally(1, 2, 3).rejected());
        assert!(
            tally(0, 2, 4).rejected(),
            "2 of 4 cannot reach a strict majority"
        );
        assert!(!tally(0, 1, 4).rejected());
    }

    #[test]
    fn parameters_are_bounded_and_named() {
        let mut p = Parameters::default();
        p.set("proposalLifetimeMaxMs", 7_200_000).unwrap();
        assert_eq!(p.proposal_lifetime_max_ms, 7_200_000);
        assert!(
            p.set("proposalLifetimeMaxMs", 1)
                .unwrap_err()
                .contains("must be")
        );
        assert!(p.set("nope", 1).unwrap_err().contains("unknown parameter"));
    }

    #[test]
    fn open_proposals_expire_and_are_superseded_by_derivation() {
        let record = ProposalRecord {
            id: Hash32([0; 32]),
            proposer: PartyCode::new("CARRIER").unwrap(),
            actions: vec![ProposalAction::Pause],
            description: String::new(),
            base_config_version: 3,
            expires_at_ms: 1_000,
            created_height: 1,
            created_ms: 0,
            updated_height: 1,
            state: ProposalState::Open,
            votes: BTreeMap::new(),
            closed_height: None,
            reason: None,
        };
        assert_eq!(record.state_at(1_000, 3), ProposalState::Open);
        assert_eq!(record.state_at(1_001, 3), ProposalState::Expired);
        assert_eq!(record.state_at(10, 4), ProposalState::Superseded);
        let accepted = ProposalRecord {
            state: ProposalState::Accepted,
            ..record
        };
        assert_eq!(accepted.state_at(5_000, 9), ProposalState::Accepted);
    }
}
