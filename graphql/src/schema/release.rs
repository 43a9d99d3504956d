//! Container release rights as the gate, the haulier and the holder see them: the gate check by
//! container number (`containerRelease`), the caller's rights (`releases`), and their changes as
//! blocks commit (`releaseEvents`).
//!
//! Who sees a right: its terminal, its holder, its nominated haulier, the carrier that granted
//! it, and observers. A container whose rights the caller may not see is answered exactly like a
//! container never released (`mayCollect: false`, `reason: NOT_RELEASED`, nothing else), so
//! nobody learns a container's status by probing numbers.
//!
//! What this module is not: the gate rule itself is `doc_workflow::ReleaseRight::may_collect`,
//! the one the ledger applies to a `GATE_OUT`; this module only chooses which right to ask and
//! at what time.

use async_graphql::SimpleObject;
use doc_workflow::{
    BlockTime, ContainerNumber, DocumentState, EventKind, GateReason, PartyCode, ReleaseRight,
    RightStatus,
};
use ledger::LedgerReader;

use adapters::time::iso8601_utc;

use crate::caller::Caller;
use crate::error::internal;

/// One condition of a right.
#[derive(SimpleObject, Clone, Debug)]
pub struct ReleaseConditionOut {
    /// `CUSTOMS_CLEARED` or `FREIGHT_PAID`.
    pub condition: String,
    pub met: bool,
    pub met_by: Option<String>,
    pub met_at: Option<String>,
}

/// A container's release right as the caller may see it, with the gate's answer.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct ContainerRelease {
    /// The ISO 6346 container number asked about.
    pub container: String,
    /// Whether the haulier asked about (and its truck) may collect the container now.
    pub may_collect: bool,
    /// Why not: `NOT_RELEASED`, `REVOKED`, `ALREADY_COLLECTED`, `NOT_YET_VALID`, `EXPIRED`,
    /// `CONDITIONS_UNMET`, `WRONG_HAULIER`, `WRONG_TRUCK`; null when it may.
    pub reason: Option<String>,
    /// The bill whose cargo is released: `CARRIER/REFERENCE`.
    pub bill: Option<String>,
    pub carrier_code: Option<String>,
    pub reference: Option<String>,
    /// `RELEASED`, `COLLECTED` or `REVOKED`.
    pub status: Option<String>,
    pub holder: Option<String>,
    pub terminal: Option<String>,
    pub haulier: Option<String>,
    pub truck: Option<String>,
    pub haulier_may_renominate: Option<bool>,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    pub conditions: Vec<ReleaseConditionOut>,
    pub granted_at: Option<String>,
    pub collected_at: Option<String>,
    pub collected_by: Option<String>,
    pub revoked_at: Option<String>,
    pub revocation_reason: Option<String>,
}

/// Whether `caller` may see `right` of the release `state`.
pub(super) fn may_see(caller: &Caller, state: &DocumentState, right: &ReleaseRight) -> bool {
    caller.observer || caller.party == state.carrier || right.is_visible_to(&caller.party)
}

/// The answer for a container the caller may not see, or that no release names: the same.
pub(super) fn not_released(container: &str) -> ContainerRelease {
    ContainerRelease {
        container: container.to_owned(),
        may_collect: false,
        reason: Some(GateReason::NotReleased.code().to_owned()),
        ..ContainerRelease::default()
    }
}

/// `right` of `state` for `container`, asked whether `haulier` (and `truck`) may collect at
/// `at`. Without a haulier, the one the right names (or its holder) is asked about.
pub(super) fn describe(
    container: &ContainerNumber,
    state: &DocumentState,
    right: &ReleaseRight,
    haulier: Option<&PartyCode>,
    truck: Option<&str>,
    at: BlockTime,
) -> ContainerRelease {
    let haulier = haulier.unwrap_or(right.collector());
    let truck = truck.or(right.truck.as_deref());
    let answer = right.may_collect(haulier, truck, at);
    let time = |t: Option<BlockTime>| t.map(|t| iso8601_utc(t.0));
    ContainerRelease {
        container: container.as_str().to_owned(),
        may_collect: answer.is_ok(),
        reason: answer.err().map(|r| r.code().to_owned()),
        bill: Some(state.id.to_string()),
        carrier_code: Some(state.id.carrier.as_str().to_owned()),
        reference: Some(state.id.reference.as_str().to_owned()),
        status: Some(right.status.code().to_owned()),
        holder: Some(right.holder.as_str().to_owned()),
        terminal: Some(right.terminal.as_str().to_owned()),
        haulier: right.haulier.as_ref().map(|p| p.as_str().to_owned()),
        truck: right.truck.clone(),
        haulier_may_renominate: Some(right.haulier_may_renominate),
        valid_from: time(right.valid_from),
        valid_until: time(right.valid_until),
        conditions: right
            .conditions
            .iter()
            .map(|(condition, met)| ReleaseConditionOut {
                condition: condition.code().to_owned(),
                met: met.is_some(),
                met_by: met.as_ref().map(|m| m.by.as_str().to_owned()),
                met_at: met.as_ref().map(|m| iso8601_utc(m.at.0)),
            })
            .collect(),
        granted_at: Some(iso8601_utc(right.granted_at.0)),
        collected_at: right.collected.as_ref().map(|c| iso8601_utc(c.at.0)),
        collected_by: right.collected.as_ref().map(|c| c.by.as_str().to_owned()),
        revoked_at: right.revoked.as_ref().map(|r| iso8601_utc(r.at.0)),
        revocation_reason: right.revoked.as_ref().map(|r| r.reason.clone()),
    }
}

/// The gate check: the right for `container` the caller may see -- the one still open if there
/// is one (a container is reused bill after bill), else the most recently granted -- asked at
/// `at`; [`not_released`] if the caller may see none.
pub(super) fn gate_check(
    reader: &LedgerReader,
    caller: &Caller,
    container: &ContainerNumber,
    haulier: Option<&PartyCode>,
    truck: Option<&str>,
    at: BlockTime,
) -> async_graphql::Result<ContainerRelease> {
    let releases = reader.container_releases(container).map_err(internal)?;
    let best = releases
        .iter()
        .filter_map(|state| {
            let right = state.release.as_ref()?.rights.get(container)?;
            may_see(caller, state, right).then_some((state, right))
        })
        .max_by_key(|(_, right)| (right.status == RightStatus::Released, right.granted_at));
    Ok(match best {
        Some((state, right)) => describe(container, state, right, haulier, truck, at),
        None => not_released(container.as_str()),
    })
}

/// Every right of `state` the caller may see, in `status` if given.
pub(super) fn visible_rights(
    caller: &Caller,
    state: &DocumentState,
    status: Option<RightStatus>,
    at: BlockTime,
) -> Vec<ContainerRelease> {
    let Some(release) = &state.release else {
        return Vec::new();
    };
    release
        .rights
        .iter()
        .filter(|(_, right)| status.is_none_or(|s| right.status == s))
        .filter(|(_, right)| may_see(caller, state, right))
        .map(|(container, right)| describe(container, state, right, None, None, at))
        .collect()
}

/// The containers a release event names; `None` for an event of a transport document.
pub(super) fn event_containers(kind: &EventKind) -> Option<&[ContainerNumber]> {
    match kind {
        EventKind::CargoReleased { containers, .. }
        | EventKind::HaulierNominated { containers, .. }
        | EventKind::TruckNominated { containers, .. }
        | EventKind::ConditionMet { containers, .. }
        | EventKind::ReleaseRevoked { containers, .. }
        | EventKind::GatedOut { containers, .. } => Some(containers),
        _ => None,
    }
}

/// Whether a history entry of `state` (a cargo release as the caller may see it, its rights
/// already narrowed to the caller's) is one the caller may see: one that names a container whose
/// right it sees. Other documents' entries are all shown.
pub(super) fn entry_visible(state: &DocumentState, event: &EventKind) -> bool {
    match (&state.release, event_containers(event)) {
        (Some(release), Some(containers)) => {
            containers.iter().any(|c| release.rights.contains_key(c))
        }
        _ => true,
    }
}

/// A page of release rights.
#[derive(SimpleObject, Clone, Debug)]
pub struct ReleasePage {
    pub releases: Vec<ContainerRelease>,
    /// Pass it back as `after` for the next page. A page reads `first` of the caller's cargo
    /// releases, so it may hold fewer or more rights than `first`.
    pub next_cursor: Option<String>,
}

/// A committed change to a release right the subscriber may see.
#[derive(SimpleObject, Clone, Debug)]
pub struct ReleaseEvent {
    pub height: u64,
    pub position: u32,
    pub tx_hash: String,
    pub time: String,
    /// `CARGO_RELEASED`, `HAULIER_NOMINATED`, `TRUCK_NOMINATED`, `CONDITION_MET`,
    /// `RELEASE_REVOKED` or `GATED_OUT`.
    pub event: String,
    pub actor: String,
    /// The right as it is after the block.
    pub release: ContainerRelease,
}
