//! A transition's effects, applied to a copy of the state, and the event it records.

use std::collections::BTreeSet;

use crate::codes::ContainerNumber;
use crate::command::Command;
use crate::content::{self, ContentProblem, TransportDocument, ValidContent};
use crate::definition::{Effect, PartyRef, Transition};
use crate::event::{Event, EventKind};
use crate::ids::{DocumentId, DocumentKey, PartyCode};
use crate::refusal::Refusal;
use crate::release::{Collection, ConditionMet, ReleaseRight, Revocation, RightStatus};
use crate::state::{
    CargoReleaseDetails, DocumentKind, DocumentState, Mode, PendingTransfer, SignatureRecord,
    Status, SurrenderRequest,
};

use super::decide::{Context, inconsistent};
use super::{Decision, DocumentStore};

impl<S: DocumentStore> Context<'_, S> {
    fn new_state(&self, kind: DocumentKind, id: DocumentId, status: Status) -> DocumentState {
        DocumentState {
            kind,
            status,
            mode: None,
            carrier: id.carrier.clone(),
            id,
            shipper: None,
            consignee: None,
            possessor: None,
            endorsee: None,
            endorsee_may_endorse: false,
            pending_transfer: None,
            surrender: None,
            content: None,
            amends: None,
            amended_by: None,
            release: None,
            signatures: Vec::new(),
            sequence: 1,
            created_at: self.time,
            updated_at: self.time,
        }
    }

    pub(super) fn apply(
        &self,
        kind: DocumentKind,
        transition: &Transition,
    ) -> Result<Decision, Refusal> {
        let mut next = match self.current {
            Some(current) => {
                let mut next = current.clone();
                next.sequence += 1;
                next.updated_at = self.time;
                next
            }
            None => self.new_state(kind, self.key.id.clone(), transition.to),
        };
        // Any committed action on the document closes the window for rejecting a transfer:
        // rejection must be the appointee's very next action.
        let closed_transfer = next.pending_transfer.take();
        let mut others: Vec<(DocumentKey, DocumentState, EventKind)> = Vec::new();
        // Content this transition stored: its typed view is the one the stored text gives (the
        // text is the canonical form of the value the view was read from), so reading the text
        // back and validating it again would only repeat the work.
        let mut stored_now: Option<&ValidContent> = None;

        for effect in &transition.effects {
            match *effect {
                Effect::SetStatus => next.status = transition.to,
                Effect::SetStatusWhenAllGatedOut => {
                    if next
                        .release
                        .as_ref()
                        .is_some_and(CargoReleaseDetails::all_gated_out)
                    {
                        next.status = transition.to;
                    }
                }
                Effect::StoreContent => {
                    let valid = self.valid_content()?;
                    store_content(&mut next, valid);
                    stored_now = Some(valid);
                }
                Effect::SetTitleFromContent => match stored_now {
                    Some(valid) => set_title(&mut next, &valid.document),
                    None => {
                        let document = stored_document(&next)?;
                        set_title(&mut next, &document);
                    }
                },
                Effect::SetPossessor(who) => next.possessor = Some(self.resolve(who, &next)?),
                Effect::SetEndorsee(who) => next.endorsee = Some(self.resolve(who, &next)?),
                Effect::ClearEndorsee => next.endorsee = None,
                Effect::SetEndorseeMayEndorse(may) => next.endorsee_may_endorse = may,
                Effect::SetMode(mode) => next.mode = Some(mode),
                Effect::AppointRecipient => {
                    next.pending_transfer = Some(PendingTransfer {
                        appointee: self.recipient()?.clone(),
                        previous_possessor: next.possessor.clone(),
                        previous_endorsee: next.endorsee.clone(),
                        previous_mode: next.mode,
                        previous_endorsee_may_endorse: next.endorsee_may_endorse,
                    });
                }
                Effect::RestorePreviousHolders => {
                    let previous = closed_transfer
                        .clone()
                        .ok_or_else(|| inconsistent("no transfer to restore"))?;
                    next.possessor = previous.previous_possessor;
                    next.endorsee = previous.previous_endorsee;
                    next.mode = previous.previous_mode;
                    next.endorsee_may_endorse = previous.previous_endorsee_may_endorse;
                }
                Effect::RecordSignature => next.signatures.push(SignatureRecord {
                    party: self.party().clone(),
                    at: self.time,
                    sequence: next.sequence,
                }),
                Effect::RecordSurrenderRequest => {
                    let amendment_reason = match self.command {
                        Command::SurrenderForAmendment { reason } => Some(*reason),
                        _ => None,
                    };
                    next.surrender = Some(SurrenderRequest {
                        requester: self.party().clone(),
                        amendment_reason,
                    });
                }
                Effect::ClearSurrenderRequest => next.surrender = None,
                Effect::IssueReplacement => {
                    if let Some((valid, issue_to)) = self.replacement()? {
                        let id =
                            DocumentId::new(next.carrier.clone(), valid.document.reference.clone());
                        let mut new =
                            self.new_state(valid.document.kind, id.clone(), Status::Issued);
                        store_content(&mut new, valid);
                        set_title(&mut new, &valid.document);
                        new.possessor = Some(issue_to.clone());
                        new.amends = Some(next.id.reference.clone());
                        next.amended_by = Some(id.reference.clone());
                        let event = issued_event(&new);
                        others.push((DocumentKey::transport_document(id), new, event));
                    }
                }
                Effect::GrantReleaseRights => self.grant_release_rights(&mut next)?,
                Effect::NominateHaulier => {
                    let Command::NominateHaulier {
                        haulier,
                        truck,
                        haulier_may_renominate,
                        ..
                    } = self.command
                    else {
                        return Err(inconsistent("nominate_haulier needs a NOMINATE_HAULIER"));
                    };
                    for right in self.rights_mut(&mut next)? {
                        right.haulier = Some(haulier.clone());
                        right.truck = truck.clone();
                        right.haulier_may_renominate = *haulier_may_renominate;
                    }
                }
                Effect::NominateTruck => {
                    let Command::NominateTruck { truck, .. } = self.command else {
                        return Err(inconsistent("nominate_truck needs a NOMINATE_TRUCK"));
                    };
                    for right in self.rights_mut(&mut next)? {
                        right.truck = Some(truck.clone());
                    }
                }
                Effect::MarkConditionMet => {
                    let Command::MarkConditionMet { condition, .. } = self.command else {
                        return Err(inconsistent(
                            "mark_condition_met needs a MARK_CONDITION_MET",
                        ));
                    };
                    let met = ConditionMet {
                        by: self.party().clone(),
                        at: self.time,
                    };
                    for right in self.rights_mut(&mut next)? {
                        // The first marking is the record; marking again changes nothing.
                        if let Some(slot @ None) = right.conditions.get_mut(condition) {
                            *slot = Some(met.clone());
                        }
                    }
                }
                Effect::RevokeReleaseRights => {
                    let Command::RevokeRelease { reason, .. } = self.command else {
                        return Err(inconsistent("revoke_release_rights needs a REVOKE_RELEASE"));
                    };
                    for right in self.rights_mut(&mut next)? {
                        right.status = RightStatus::Revoked;
                        right.revoked = Some(Revocation {
                            at: self.time,
                            reason: reason.clone(),
                        });
                    }
                }
                Effect::RecordGateOut => {
                    let Command::GateOut { haulier, truck, .. } = self.command else {
                        return Err(inconsistent("record_gate_out needs a GATE_OUT"));
                    };
                    for right in self.rights_mut(&mut next)? {
                        let by = haulier.clone().unwrap_or_else(|| right.collector().clone());
                        right.status = RightStatus::Collected;
                        right.collected = Some(Collection {
                            at: self.time,
                            by,
                            truck: truck.clone(),
                        });
                    }
                }
            }
        }

        let event = self.event(&next, closed_transfer.as_ref(), &others)?;
        let mut events = vec![Event {
            document: self.key.clone(),
            sequence: next.sequence,
            actor: self.party().clone(),
            at: self.time,
            kind: event,
        }];
        let mut changes = vec![(self.key.clone(), next)];
        for (key, state, kind) in others {
            events.push(Event {
                document: key.clone(),
                sequence: state.sequence,
                actor: self.party().clone(),
                at: self.time,
                kind,
            });
            changes.push((key, state));
        }
        changes.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Decision { changes, events })
    }

    fn resolve(&self, who: PartyRef, next: &DocumentState) -> Result<PartyCode, Refusal> {
        match who {
            PartyRef::Recipient => self.recipient().cloned(),
            PartyRef::Carrier => Ok(next.carrier.clone()),
            PartyRef::Requester => next
                .surrender
                .as_ref()
                .map(|s| s.requester.clone())
                .ok_or_else(|| inconsistent("no surrender is pending")),
        }
    }

    /// The event for the target document, in the past tense of the command.
    fn event(
        &self,
        next: &DocumentState,
        closed_transfer: Option<&PendingTransfer>,
        others: &[(DocumentKey, DocumentState, EventKind)],
    ) -> Result<EventKind, Refusal> {
        let before_possessor = self.current.and_then(|d| d.possessor.clone());
        Ok(match self.command {
            Command::PublishDraft { .. } => EventKind::DraftPublished {
                content_sha256: next
                    .content
                    .as_ref()
                    .map(|c| c.sha256.clone())
                    .unwrap_or_default(),
            },
            Command::ApproveDraft => EventKind::DraftApproved,
            Command::Issue { .. } => issued_event(next),
            Command::Transfer { to } => EventKind::Transferred {
                from: before_possessor.ok_or_else(|| inconsistent("transfer without possessor"))?,
                to: to.clone(),
            },
            Command::Endorse { to } | Command::EndorseToOrder { to } => EventKind::Endorsed {
                from: self.party().clone(),
                to: to.clone(),
                may_endorse_further: next.endorsee_may_endorse,
            },
            Command::BlankEndorse => EventKind::BlankEndorsed,
            Command::Sign => EventKind::Signed,
            Command::RejectTransfer { reason } => {
                debug_assert!(closed_transfer.is_some(), "a rejection closes a transfer");
                EventKind::TransferRejected {
                    restored_possessor: next.possessor.clone(),
                    reason: reason.clone(),
                }
            }
            Command::SurrenderForDelivery => EventKind::SurrenderedForDelivery,
            Command::SurrenderForAmendment { reason } => {
                EventKind::SurrenderedForAmendment { reason: *reason }
            }
            Command::AcceptSurrender => EventKind::SurrenderAccepted {
                status: next.status,
            },
            Command::RejectSurrender { comment } => EventKind::SurrenderRejected {
                comment: comment.clone(),
                possessor: next
                    .possessor
                    .clone()
                    .ok_or_else(|| inconsistent("no possessor after rejection"))?,
            },
            Command::Void { .. } => EventKind::Voided {
                replaced_by: others.first().map(|(k, _, _)| k.id.reference.clone()),
            },
            Command::ReleaseCargo { port } => {
                let granted = next
                    .release
                    .as_ref()
                    .map(|r| r.rights.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default();
                let bill = self
                    .store
                    .get(&self.bill_key())
                    .ok_or_else(|| inconsistent("a released bill is missing"))?;
                let holder = entitled_party(bill)?;
                EventKind::CargoReleased {
                    port: port.clone(),
                    holder,
                    containers: granted,
                }
            }
            Command::ReleaseContainers {
                containers,
                to,
                terminal,
                ..
            } => EventKind::CargoReleased {
                port: terminal.clone(),
                holder: to.clone(),
                containers: containers.clone(),
            },
            Command::NominateHaulier {
                containers,
                haulier,
                truck,
                ..
            } => EventKind::HaulierNominated {
                containers: containers.clone(),
                haulier: haulier.clone(),
                truck: truck.clone(),
                terminals: self.terminals_of(containers),
            },
            Command::NominateTruck { containers, truck } => EventKind::TruckNominated {
                containers: containers.clone(),
                truck: truck.clone(),
                terminals: self.terminals_of(containers),
            },
            Command::MarkConditionMet {
                containers,
                condition,
            } => EventKind::ConditionMet {
                containers: containers.clone(),
                condition: *condition,
                terminals: self.terminals_of(containers),
            },
            Command::RevokeRelease { containers, reason } => EventKind::ReleaseRevoked {
                containers: containers.clone(),
                reason: reason.clone(),
                terminals: self.terminals_of(containers),
                hauliers: containers
                    .iter()
                    .filter_map(|c| self.right(c).ok()?.haulier.clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
            },
            Command::GateOut { containers, .. } => EventKind::GatedOut {
                containers: containers.clone(),
                completed: next.status == Status::Completed,
            },
        })
    }
}

impl<S: DocumentStore> Context<'_, S> {
    /// The terminals of the named containers' current rights, sorted and distinct.
    fn terminals_of(&self, containers: &[ContainerNumber]) -> Vec<PartyCode> {
        containers
            .iter()
            .filter_map(|c| self.right(c).ok().map(|r| r.terminal.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// The rights of the named containers in `next`, to change.
    fn rights_mut<'n>(
        &self,
        next: &'n mut DocumentState,
    ) -> Result<Vec<&'n mut ReleaseRight>, Refusal> {
        let named: BTreeSet<&ContainerNumber> = self.named_containers()?.iter().collect();
        let release = next
            .release
            .as_mut()
            .ok_or_else(|| inconsistent("a cargo release without details"))?;
        let rights: Vec<_> = release
            .rights
            .iter_mut()
            .filter(|(c, _)| named.contains(c))
            .map(|(_, r)| r)
            .collect();
        if rights.len() != named.len() {
            return Err(inconsistent("a named container has no right"));
        }
        Ok(rights)
    }

    /// `RELEASE_CARGO` (every container of the bill, to the party entitled to the cargo, at the
    /// port) or `RELEASE_CONTAINERS` (the named ones, as the command says): one right each. A
    /// new cargo release is first filled from the bill it releases.
    fn grant_release_rights(&self, next: &mut DocumentState) -> Result<(), Refusal> {
        let bill_key = self.bill_key();
        let bill = self
            .store
            .get(&bill_key)
            .ok_or_else(|| Refusal::DocumentNotFound {
                document: bill_key.clone(),
            })?;
        let document = stored_document(bill)?;
        let release = next.release.get_or_insert_with(|| CargoReleaseDetails {
            release_of: bill_key.clone(),
            port_of_discharge: document.port_of_discharge.clone(),
            bill_containers: document.containers.iter().cloned().collect(),
            rights: Default::default(),
        });
        let blank = |holder: PartyCode, terminal: PartyCode| ReleaseRight {
            holder,
            terminal,
            valid_from: None,
            valid_until: None,
            conditions: Default::default(),
            haulier: None,
            truck: None,
            haulier_may_renominate: false,
            status: RightStatus::Released,
            granted_at: self.time,
            collected: None,
            revoked: None,
        };
        match self.command {
            Command::ReleaseCargo { port } => {
                let holder = entitled_party(bill)?;
                for container in &release.bill_containers {
                    release
                        .rights
                        .insert(container.clone(), blank(holder.clone(), port.clone()));
                }
            }
            Command::ReleaseContainers {
                containers,
                to,
                terminal,
                valid_from,
                valid_until,
                conditions,
            } => {
                for container in containers {
                    let mut right = blank(to.clone(), terminal.clone());
                    right.valid_from = *valid_from;
                    right.valid_until = *valid_until;
                    right.conditions = conditions.iter().map(|c| (*c, None)).collect();
                    release.rights.insert(container.clone(), right);
                }
            }
            _ => return Err(inconsistent("grant_release_rights needs a release command")),
        }
        Ok(())
    }
}

/// The party entitled to a delivered bill's cargo: the party whose surrender for delivery the
/// carrier accepted (a bill of lading), or the consignee (a sea waybill, which is not
/// surrendered), else the waybill's possessor.
fn entitled_party(bill: &DocumentState) -> Result<PartyCode, Refusal> {
    let party = match bill.kind {
        DocumentKind::BillOfLading => bill.surrender.as_ref().map(|s| s.requester.clone()),
        _ => bill.consignee.clone().or_else(|| bill.possessor.clone()),
    };
    party.ok_or_else(|| inconsistent("a deliverable bill names no party entitled to the cargo"))
}

fn issued_event(state: &DocumentState) -> EventKind {
    EventKind::Issued {
        possessor: state
            .possessor
            .clone()
            .unwrap_or_else(|| state.carrier.clone()),
        mode: state.mode.unwrap_or(Mode::Straight),
        content_sha256: state
            .content
            .as_ref()
            .map(|c| c.sha256.clone())
            .unwrap_or_default(),
        amends: state.amends.clone(),
    }
}

fn store_content(state: &mut DocumentState, valid: &ValidContent) {
    state.content = Some(valid.record.clone());
    state.shipper = Some(valid.document.shipper.clone());
    state.consignee = valid.document.consignee.clone();
}

/// Mode and endorsee as at issue (DOMAIN.md section 2).
fn set_title(state: &mut DocumentState, document: &TransportDocument) {
    let mode = document.mode();
    state.mode = Some(mode);
    state.endorsee = if mode == Mode::ToOrder {
        document.endorsee.clone()
    } else {
        None
    };
    state.endorsee_may_endorse = mode == Mode::ToOrder;
}

/// The typed view of a stored document's content. Stored content was valid when stored and is
/// read without applying today's rules again (`content::read_stored`), so a failure here means
/// the state was tampered with.
pub(super) fn stored_document(state: &DocumentState) -> Result<TransportDocument, Refusal> {
    let record = state
        .content
        .as_ref()
        .ok_or_else(|| inconsistent("the document has no content"))?;
    content::read_stored(record).map_err(|problems| {
        inconsistent(format!(
            "stored content cannot be read: {}",
            problems
                .first()
                .map_or_else(String::new, ContentProblem::to_string)
        ))
    })
}
