//! Container release rights: the right to collect one container from a terminal, granted by the
//! carrier once the bill is deliverable, held by exactly one party, handed to a haulier by a
//! signed nomination and spent exactly once by the gate-out (DOMAIN.md section 10).
//!
//! A cargo release document ([`CargoReleaseDetails`], one per bill) holds one [`ReleaseRight`]
//! per released container. [`ReleaseRight::may_collect`] is the one gate rule: the engine's
//! `GATE_OUT` guard and the API's gate check ("may this haulier collect container X now?") both
//! ask it, so the answer a terminal sees and the rule the ledger applies cannot drift apart.
//!
//! What this module is not: it does not decide who may read a right (the API filters with
//! [`CargoReleaseDetails::visible_to`]), and it reads no clock: `at` is always an argument.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codes::ContainerNumber;
use crate::ids::{BlockTime, DocumentKey, PartyCode};

/// Longest truck or driver reference, in characters. A licence plate or a terminal's truck
/// appointment id is far shorter; 35 matches the longest party code and bounds the state.
pub const TRUCK_REF_CHARS_MAX: usize = 35;

/// A condition the carrier may attach to a release; the container leaves only once every
/// condition of its right is marked met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReleaseCondition {
    /// Customs has released the goods for import.
    CustomsCleared,
    /// The freight and charges due to the carrier are paid.
    FreightPaid,
}

impl ReleaseCondition {
    pub const ALL: [ReleaseCondition; 2] = [
        ReleaseCondition::CustomsCleared,
        ReleaseCondition::FreightPaid,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ReleaseCondition::CustomsCleared => "CUSTOMS_CLEARED",
            ReleaseCondition::FreightPaid => "FREIGHT_PAID",
        }
    }

    pub fn from_code(code: &str) -> Option<ReleaseCondition> {
        ReleaseCondition::ALL.into_iter().find(|c| c.code() == code)
    }
}

impl fmt::Display for ReleaseCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Who marked a condition met, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionMet {
    pub by: PartyCode,
    pub at: BlockTime,
}

/// Where a right is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RightStatus {
    /// Granted and not used: the container may be collected once its checks pass.
    Released,
    /// Spent: the container has left the terminal.
    Collected,
    /// Withdrawn by the carrier before use.
    Revoked,
}

impl RightStatus {
    pub const ALL: [RightStatus; 3] = [
        RightStatus::Released,
        RightStatus::Collected,
        RightStatus::Revoked,
    ];

    pub fn code(self) -> &'static str {
        match self {
            RightStatus::Released => "RELEASED",
            RightStatus::Collected => "COLLECTED",
            RightStatus::Revoked => "REVOKED",
        }
    }

    pub fn from_code(code: &str) -> Option<RightStatus> {
        RightStatus::ALL.into_iter().find(|s| s.code() == code)
    }
}

impl fmt::Display for RightStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The gate-out that spent a right.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Collection {
    pub at: BlockTime,
    /// The party whose truck took the container: the nominated haulier, or the holder itself
    /// when it nominated none.
    pub by: PartyCode,
    pub truck: Option<String>,
}

/// The carrier's withdrawal of an unused right.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revocation {
    pub at: BlockTime,
    pub reason: String,
}

/// The right to collect one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseRight {
    /// The one party the right belongs to: the party entitled to the cargo.
    pub holder: PartyCode,
    /// The terminal (a PORT member's party) the container is collected from.
    pub terminal: PartyCode,
    /// Not collectable before this block time, if set.
    pub valid_from: Option<BlockTime>,
    /// Not collectable after this block time, if set.
    pub valid_until: Option<BlockTime>,
    /// The conditions the carrier attached, each `None` until marked met.
    pub conditions: BTreeMap<ReleaseCondition, Option<ConditionMet>>,
    /// The haulier the holder nominated to collect; `None`: the holder collects itself.
    pub haulier: Option<PartyCode>,
    /// The truck or driver reference the gate must see, if one was nominated.
    pub truck: Option<String>,
    /// Whether the holder lets the haulier change the truck reference.
    pub haulier_may_renominate: bool,
    pub status: RightStatus,
    pub granted_at: BlockTime,
    pub collected: Option<Collection>,
    pub revoked: Option<Revocation>,
}

/// Why a container may not be collected now. The gate check's answer and, through
/// [`Refusal`](crate::Refusal), the `GATE_OUT` rule's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GateReason {
    /// No right exists for the container (or the asker may not know of one).
    NotReleased,
    Revoked,
    AlreadyCollected,
    NotYetValid,
    Expired,
    ConditionsUnmet,
    WrongHaulier,
    WrongTruck,
}

impl GateReason {
    pub fn code(self) -> &'static str {
        match self {
            GateReason::NotReleased => "NOT_RELEASED",
            GateReason::Revoked => "REVOKED",
            GateReason::AlreadyCollected => "ALREADY_COLLECTED",
            GateReason::NotYetValid => "NOT_YET_VALID",
            GateReason::Expired => "EXPIRED",
            GateReason::ConditionsUnmet => "CONDITIONS_UNMET",
            GateReason::WrongHaulier => "WRONG_HAULIER",
            GateReason::WrongTruck => "WRONG_TRUCK",
        }
    }
}

impl fmt::Display for GateReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl ReleaseRight {
    /// The party whose truck may collect: the nominated haulier, else the holder.
    pub fn collector(&self) -> &PartyCode {
        self.haulier.as_ref().unwrap_or(&self.holder)
    }

    /// Whether the right is still usable at `at`: neither spent, withdrawn nor expired.
    pub fn open_at(&self, at: BlockTime) -> Result<(), GateReason> {
        match self.status {
            RightStatus::Revoked => return Err(GateReason::Revoked),
            RightStatus::Collected => return Err(GateReason::AlreadyCollected),
            RightStatus::Released => {}
        }
        if self.valid_until.is_some_and(|until| at > until) {
            return Err(GateReason::Expired);
        }
        Ok(())
    }

    /// The gate rule: may `haulier`'s truck `truck` collect the container at `at`? Checked in a
    /// fixed order (spent or withdrawn, window, conditions, who, which truck) so that every
    /// replica and the API give the same first reason.
    pub fn may_collect(
        &self,
        haulier: &PartyCode,
        truck: Option<&str>,
        at: BlockTime,
    ) -> Result<(), GateReason> {
        self.open_at(at)?;
        if self.valid_from.is_some_and(|from| at < from) {
            return Err(GateReason::NotYetValid);
        }
        if self.conditions.values().any(Option::is_none) {
            return Err(GateReason::ConditionsUnmet);
        }
        if haulier != self.collector() {
            return Err(GateReason::WrongHaulier);
        }
        if let Some(nominated) = &self.truck
            && truck != Some(nominated.as_str())
        {
            return Err(GateReason::WrongTruck);
        }
        Ok(())
    }

    /// Whether `party` may see this right: its holder, its terminal and its current haulier.
    pub fn is_visible_to(&self, party: &PartyCode) -> bool {
        self.holder == *party || self.terminal == *party || self.haulier.as_ref() == Some(party)
    }
}

/// What a cargo release covers: the bill's containers and the rights granted for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CargoReleaseDetails {
    /// The transport document whose cargo is released (same id, transport-document key space).
    pub release_of: DocumentKey,
    /// The bill's port of discharge (UN/LOCODE).
    pub port_of_discharge: String,
    /// Every container the bill lists: the release is complete when each has been collected.
    pub bill_containers: BTreeSet<ContainerNumber>,
    /// One right per released container.
    pub rights: BTreeMap<ContainerNumber, ReleaseRight>,
}

impl CargoReleaseDetails {
    /// Whether every container of the bill has left the terminal.
    pub fn all_gated_out(&self) -> bool {
        self.bill_containers.iter().all(|c| {
            self.rights
                .get(c)
                .is_some_and(|r| r.status == RightStatus::Collected)
        })
    }

    /// The details as `party` may see them: only the rights it holds, collects from its
    /// terminal or is nominated to collect. The carrier sees every right it granted.
    pub fn visible_to(&self, party: &PartyCode, carrier: &PartyCode) -> CargoReleaseDetails {
        let mut out = self.clone();
        if party != carrier {
            out.rights.retain(|_, r| r.is_visible_to(party));
        }
        out
    }

    /// The terminals the rights are addressed to.
    pub fn terminals(&self) -> BTreeSet<&PartyCode> {
        self.rights.values().map(|r| &r.terminal).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn party(code: &str) -> PartyCode {
        PartyCode::new(code).unwrap()
    }

    fn right() -> ReleaseRight {
        ReleaseRight {
            holder: party("CONSIGNEE"),
            terminal: party("PORT"),
            valid_from: Some(BlockTime(100)),
            valid_until: Some(BlockTime(200)),
            conditions: [(ReleaseCondition::FreightPaid, None)]
                .into_iter()
                .collect(),
            haulier: Some(party("HAULIER")),
            truck: Some("TRUCK-1".into()),
            haulier_may_renominate: false,
            status: RightStatus::Released,
            granted_at: BlockTime(50),
            collected: None,
            revoked: None,
        }
    }

    #[test]
    fn the_gate_rule_gives_its_reasons_in_order() {
        let mut r = right();
        let h = party("HAULIER");
        let at = BlockTime(150);
        assert_eq!(
            r.may_collect(&h, Some("TRUCK-1"), BlockTime(99)),
            Err(GateReason::NotYetValid)
        );
        assert_eq!(
            r.may_collect(&h, Some("TRUCK-1"), BlockTime(201)),
            Err(GateReason::Expired)
        );
        assert_eq!(
            r.may_collect(&h, Some("TRUCK-1"), at),
            Err(GateReason::ConditionsUnmet)
        );
        r.conditions.insert(
            ReleaseCondition::FreightPaid,
            Some(ConditionMet {
                by: party("CARRIER"),
                at: BlockTime(120),
            }),
        );
        assert_eq!(
            r.may_collect(&party("OTHER"), Some("TRUCK-1"), at),
            Err(GateReason::WrongHaulier)
        );
        assert_eq!(
            r.may_collect(&h, Some("TRUCK-2"), at),
            Err(GateReason::WrongTruck)
        );
        assert_eq!(r.may_collect(&h, None, at), Err(GateReason::WrongTruck));
        assert_eq!(r.may_collect(&h, Some("TRUCK-1"), at), Ok(()));
        // The bounds are inclusive.
        assert_eq!(r.may_collect(&h, Some("TRUCK-1"), BlockTime(100)), Ok(()));
        assert_eq!(r.may_collect(&h, Some("TRUCK-1"), BlockTime(200)), Ok(()));
        r.status = RightStatus::Collected;
        assert_eq!(
            r.may_collect(&h, Some("TRUCK-1"), at),
            Err(GateReason::AlreadyCollected)
        );
        r.status = RightStatus::Revoked;
        assert_eq!(
            r.may_collect(&h, Some("TRUCK-1"), at),
            Err(GateReason::Revoked)
        );
    }

    #[test]
    fn without_a_haulier_the_holder_collects() {
        let mut r = right();
        r.haulier = None;
        r.truck = None;
        r.conditions.clear();
        let at = BlockTime(150);
        assert_eq!(r.may_collect(&party("CONSIGNEE"), None, at), Ok(()));
        assert_eq!(
            r.may_collect(&party("HAULIER"), None, at),
            Err(GateReason::WrongHaulier)
        );
    }
}
