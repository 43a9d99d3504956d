//! A transition's guards: each checked in order, the first that fails refuses the command with
//! its reason.

use std::collections::BTreeSet;

use crate::codes::ContainerNumber;
use crate::command::Command;
use crate::content::ValidContent;
use crate::definition::Guard;
use crate::ids::{DocumentId, DocumentKey, PartyCode, Role};
use crate::refusal::Refusal;
use crate::release::{GateReason, ReleaseCondition, ReleaseRight, RightStatus};
use crate::state::{DocumentKind, Mode, Status};

use super::decide::{Context, inconsistent};
use super::effects::stored_document;
use super::{DocumentStore, SIGNATURES_MAX};

impl<S: DocumentStore> Context<'_, S> {
    pub(super) fn check(&self, guard: &Guard) -> Result<(), Refusal> {
        let doc = self.current;
        let document = || self.key.clone();
        let actor = || self.party().clone();
        let ok = |holds: bool, refusal: &dyn Fn() -> Refusal| {
            if holds { Ok(()) } else { Err(refusal()) }
        };
        match guard {
            Guard::ActorNotObserver => ok(!self.actor.has_role(Role::Observer), &|| {
                Refusal::ObserverCannotWrite { actor: actor() }
            }),
            Guard::ActorHasRole(role) => ok(self.actor.has_role(*role), &|| Refusal::MissingRole {
                actor: actor(),
                role: *role,
            }),
            Guard::ActorIsCarrier => ok(self.key.id.carrier == *self.party(), &|| {
                Refusal::NotCarrier {
                    document: document(),
                    actor: actor(),
                }
            }),
            Guard::ActorIsPossessor => ok(
                self.is_actor(doc.and_then(|d| d.possessor.as_ref())),
                &|| Refusal::NotPossessor {
                    document: document(),
                    actor: actor(),
                },
            ),
            Guard::ActorIsEndorsee => ok(
                self.is_actor(doc.and_then(|d| d.endorsee.as_ref())),
                &|| Refusal::NotEndorsee {
                    document: document(),
                    actor: actor(),
                },
            ),
            Guard::ActorIsShipper => {
                ok(self.is_actor(doc.and_then(|d| d.shipper.as_ref())), &|| {
                    Refusal::NotShipper {
                        document: document(),
                        actor: actor(),
                    }
                })
            }
            Guard::ActorIsConsignee => ok(
                self.is_actor(doc.and_then(|d| d.consignee.as_ref())),
                &|| Refusal::NotConsignee {
                    document: document(),
                    actor: actor(),
                },
            ),
            Guard::ActorIsParty(party) => ok(party == self.party(), &|| Refusal::NotNamedParty {
                actor: actor(),
                party: party.clone(),
            }),
            Guard::TransferRejectable => {
                ok(doc.is_some_and(|d| d.pending_transfer.is_some()), &|| {
                    Refusal::RejectionNotNextAction {
                        document: document(),
                    }
                })
            }
            Guard::ActorIsAppointee => {
                let appointee = doc
                    .and_then(|d| d.pending_transfer.as_ref())
                    .map(|p| &p.appointee);
                ok(self.is_actor(appointee), &|| Refusal::NotAppointee {
                    document: document(),
                    actor: actor(),
                })
            }
            Guard::ModeIs(required) => {
                let mode = doc.and_then(|d| d.mode);
                ok(mode == Some(*required), &|| Refusal::WrongMode {
                    action: self.command.action(),
                    mode,
                    required: *required,
                })
            }
            Guard::EndorseeMayEndorse => ok(doc.is_some_and(|d| d.endorsee_may_endorse), &|| {
                Refusal::EndorseeMayNotEndorse {
                    document: document(),
                    actor: actor(),
                }
            }),
            Guard::RecipientDiffersFromActor => ok(self.recipient()? != self.party(), &|| {
                Refusal::TransferToSelf { actor: actor() }
            }),
            Guard::StraightRecipientIsConsigneeOrCarrier => {
                let recipient = self.recipient()?;
                let holds = match doc {
                    Some(d) if d.mode == Some(Mode::Straight) => {
                        d.consignee.as_ref() == Some(recipient) || d.carrier == *recipient
                    }
                    _ => true,
                };
                ok(holds, &|| Refusal::RecipientNotConsigneeOrCarrier {
                    recipient: recipient.clone(),
                })
            }
            Guard::HasSurrenderRight => {
                let holds = doc.is_some_and(|d| match d.mode {
                    Some(Mode::Straight) => {
                        self.is_actor(d.shipper.as_ref()) || self.is_actor(d.consignee.as_ref())
                    }
                    Some(Mode::ToOrder) => self.is_actor(d.endorsee.as_ref()),
                    Some(Mode::Blank) => self.is_actor(d.possessor.as_ref()),
                    None => false,
                });
                ok(holds, &|| Refusal::NoSurrenderRight {
                    document: document(),
                    actor: actor(),
                    mode: doc.and_then(|d| d.mode),
                })
            }
            Guard::ContentPresent => ok(self.command.content().is_some(), &|| {
                Refusal::ContentRequired
            }),
            Guard::ContentAbsent => ok(self.command.content().is_none(), &|| {
                Refusal::ContentAlreadyApproved
            }),
            Guard::ContentValid => self.valid_content().map(|_| ()),
            Guard::CommentPresent => {
                let present = self.command.comment().is_some_and(|c| !c.trim().is_empty());
                ok(present, &|| Refusal::CommentRequired)
            }
            Guard::ReplacementValid => self.replacement().map(|_| ()),
            Guard::BillDeliverable => {
                let bill_key = self.bill_key();
                let bill = self.store.get(&bill_key);
                let holds = bill.is_some_and(|b| {
                    matches!(
                        (b.kind, b.status),
                        (DocumentKind::BillOfLading, Status::SurrenderedForDelivery)
                            | (DocumentKind::SeaWaybill, Status::Issued)
                    )
                });
                ok(holds, &|| Refusal::BillNotDeliverable {
                    bill: bill_key.clone(),
                    kind: bill.map(|b| b.kind),
                    status: bill.map(|b| b.status),
                })
            }
            Guard::ActorIsReleasePort => {
                for container in self.named_containers()? {
                    let right = self.right(container)?;
                    if right.terminal != *self.party() {
                        return Err(Refusal::NotReleasePort {
                            actor: actor(),
                            port: right.terminal.clone(),
                        });
                    }
                }
                Ok(())
            }
            Guard::ContainersReleasable => {
                let Command::GateOut {
                    containers,
                    haulier,
                    truck,
                } = self.command
                else {
                    return Err(inconsistent("containers_releasable needs a GATE_OUT"));
                };
                for container in containers {
                    let right = self.right(container)?;
                    let presenting = haulier.as_ref().unwrap_or(right.collector());
                    right
                        .may_collect(presenting, truck.as_deref(), self.time)
                        .map_err(|reason| Refusal::from_gate(container, presenting, reason))?;
                }
                Ok(())
            }
            Guard::ContainersGrantable => {
                let Command::ReleaseContainers {
                    containers,
                    valid_from,
                    valid_until,
                    ..
                } = self.command
                else {
                    return Err(inconsistent(
                        "containers_grantable needs a RELEASE_CONTAINERS",
                    ));
                };
                let window_empty = matches!((valid_from, valid_until), (Some(f), Some(u)) if f > u);
                let window_over = valid_until.is_some_and(|u| u < self.time);
                if window_empty || window_over {
                    return Err(Refusal::InvalidValidityWindow {
                        valid_from: *valid_from,
                        valid_until: *valid_until,
                        at: self.time,
                    });
                }
                let bill_key = self.bill_key();
                let bill = self
                    .store
                    .get(&bill_key)
                    .ok_or_else(|| inconsistent("a deliverable bill is missing"))?;
                let on_bill: BTreeSet<_> = stored_document(bill)?.containers.into_iter().collect();
                let rights = doc.and_then(|d| d.release.as_ref()).map(|r| &r.rights);
                for container in containers {
                    if !on_bill.contains(container) {
                        return Err(Refusal::ContainerNotOnBill {
                            container: container.clone(),
                        });
                    }
                    if rights
                        .and_then(|r| r.get(container))
                        .is_some_and(|r| r.status != RightStatus::Revoked)
                    {
                        return Err(Refusal::ContainerAlreadyReleased {
                            container: container.clone(),
                        });
                    }
                }
                Ok(())
            }
            Guard::ActorIsRightHolder => {
                for container in self.named_containers()? {
                    if self.right(container)?.holder != *self.party() {
                        return Err(Refusal::NotRightHolder {
                            container: container.clone(),
                            actor: actor(),
                        });
                    }
                }
                Ok(())
            }
            Guard::ActorIsNominatedHaulier => {
                for container in self.named_containers()? {
                    let right = self.right(container)?;
                    if right.haulier.as_ref() != Some(self.party()) {
                        return Err(Refusal::NotNominatedHaulier {
                            container: container.clone(),
                            actor: actor(),
                        });
                    }
                    if !right.haulier_may_renominate {
                        return Err(Refusal::RenominationNotAllowed {
                            container: container.clone(),
                        });
                    }
                }
                Ok(())
            }
            Guard::ActorMayMarkCondition => {
                let Command::MarkConditionMet { condition, .. } = self.command else {
                    return Err(inconsistent(
                        "actor_may_mark_condition needs a MARK_CONDITION_MET",
                    ));
                };
                let is_carrier = self.key.id.carrier == *self.party();
                for container in self.named_containers()? {
                    let right = self.right(container)?;
                    let is_terminal = right.terminal == *self.party();
                    let may = is_carrier
                        || (is_terminal && *condition == ReleaseCondition::CustomsCleared);
                    if !may {
                        return Err(Refusal::MayNotMarkCondition {
                            condition: *condition,
                            actor: actor(),
                        });
                    }
                    if !right.conditions.contains_key(condition) {
                        return Err(Refusal::ConditionNotRequired {
                            container: container.clone(),
                            condition: *condition,
                        });
                    }
                }
                Ok(())
            }
            Guard::RightsOpen => {
                for container in self.named_containers()? {
                    self.right(container)?
                        .open_at(self.time)
                        .map_err(|reason| Refusal::from_gate(container, self.party(), reason))?;
                }
                Ok(())
            }
            Guard::RightsUnused => {
                for container in self.named_containers()? {
                    let reason = match self.right(container)?.status {
                        RightStatus::Released => continue,
                        RightStatus::Collected => GateReason::AlreadyCollected,
                        RightStatus::Revoked => GateReason::Revoked,
                    };
                    return Err(Refusal::from_gate(container, self.party(), reason));
                }
                Ok(())
            }
            Guard::SignaturesBelowLimit => ok(
                doc.is_some_and(|d| d.signatures.len() < SIGNATURES_MAX),
                &|| Refusal::TooManySignatures {
                    max: SIGNATURES_MAX,
                },
            ),
        }
    }

    /// The containers the command names (checked non-empty, bounded and distinct in `decide`).
    pub(super) fn named_containers(&self) -> Result<&[ContainerNumber], Refusal> {
        self.command
            .containers()
            .ok_or_else(|| inconsistent("the action names no containers"))
    }

    /// The current release right of `container`, or the refusal that none exists.
    pub(super) fn right(&self, container: &ContainerNumber) -> Result<&ReleaseRight, Refusal> {
        self.current
            .and_then(|d| d.release.as_ref())
            .and_then(|r| r.rights.get(container))
            .ok_or_else(|| Refusal::ContainerNotReleased {
                container: container.clone(),
            })
    }

    /// The replacement a `VOID` carries, checked: valid content, a workflow for its kind, and an
    /// unused reference (the voided bill's own reference is used, so it cannot be reused).
    pub(super) fn replacement(&self) -> Result<Option<(&ValidContent, &PartyCode)>, Refusal> {
        let Command::Void {
            replacement: Some(replacement),
        } = self.command
        else {
            return Ok(None);
        };
        let valid = self.valid_content()?;
        let kind = valid.document.kind;
        if self.engine.definition(kind).is_none() {
            return Err(Refusal::NoWorkflowForKind { kind });
        }
        let new_key = DocumentKey::transport_document(DocumentId::new(
            self.key.id.carrier.clone(),
            valid.document.reference.clone(),
        ));
        if new_key == self.key || self.store.get(&new_key).is_some() {
            return Err(Refusal::ReferenceAlreadyUsed { document: new_key });
        }
        Ok(Some((valid, &replacement.issue_to)))
    }
}
