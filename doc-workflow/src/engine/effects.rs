//! A transition's effects, applied to a copy of the state, and the event it records.

use crate::command::Command;
use crate::content::{self, ContentProblem, TransportDocument, ValidContent};
use crate::definition::{Effect, PartyRef, Transition};
use crate::event::{Event, EventKind};
use crate::ids::{DocumentId, DocumentKey, PartyCode};
use crate::refusal::Refusal;
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
                Effect::CreateCargoRelease => {
                    let bill_key = self.bill_key();
                    let bill =
                        self.store
                            .get(&bill_key)
                            .ok_or_else(|| Refusal::DocumentNotFound {
                                document: bill_key.clone(),
                            })?;
                    let document = stored_document(bill)?;
                    next.release = Some(CargoReleaseDetails {
                        release_of: bill_key,
                        port: self.recipient()?.clone(),
                        port_of_discharge: document.port_of_discharge,
                        containers: document.containers.into_iter().map(|c| (c, None)).collect(),
                    });
                }
                Effect::RecordGateOut => {
                    let (Command::GateOut { containers }, Some(release)) =
                        (self.command, next.release.as_mut())
                    else {
                        return Err(inconsistent(
                            "record_gate_out needs a GATE_OUT on a cargo release",
                        ));
                    };
                    for container in containers {
                        release
                            .containers
                            .insert(container.clone(), Some(self.time));
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
            Command::ReleaseCargo { port } => EventKind::CargoReleased {
                port: port.clone(),
                containers: next
                    .release
                    .as_ref()
                    .map(|r| r.containers.keys().cloned().collect())
                    .unwrap_or_default(),
            },
            Command::GateOut { containers } => EventKind::GatedOut {
                containers: containers.clone(),
                completed: next.status == Status::Completed,
            },
        })
    }
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
fn stored_document(state: &DocumentState) -> Result<TransportDocument, Refusal> {
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
