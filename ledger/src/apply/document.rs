//! A document transaction: the engine (`doc_workflow::Engine::decide`) on the block's documents
//! and parties, then the document's new state, its history entry and its index entries written
//! into the block's [`Work`].
//!
//! What this module is not: it decides nothing itself -- every rule of a document's life is the
//! workflow engine's -- except who may learn that a document exists (a party that never was
//! party to it is refused as if it did not).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use doc_workflow::{
    DocumentClass, DocumentKey, DocumentState, DocumentStore, Event, EventKind, PartyCode,
};

use super::{TxContext, Work};
use crate::consortium::MemberRecord;
use crate::records::{
    HistoryEntry, PartyRecord, StoredDocument, StoredJws, corrupt, decode, encode,
};
use crate::state::Rules;
use crate::tx::TxBody;
use crate::validate::{Checked, TxRefusal};
use crate::{ChainError, keys};

/// How many times one transaction's decision may be retried after the engine asked for a
/// document that was not loaded yet. The engine reads at most three documents (the target, the
/// bill a cargo release reads, a replacement's reference), and each retry loads at least one.
const DECIDE_ATTEMPTS_MAX: usize = 4;

/// The engine's view of the block's documents; records what it asked for and did not find
/// loaded, so the caller can load it and decide again.
struct DocView<'w> {
    docs: &'w BTreeMap<DocumentKey, Option<DocumentState>>,
    /// Documents shown as not existing: those the actor may not learn of.
    hidden: &'w [DocumentKey],
    misses: RefCell<BTreeSet<DocumentKey>>,
}

impl DocumentStore for DocView<'_> {
    fn get(&self, key: &DocumentKey) -> Option<&DocumentState> {
        if self.hidden.contains(key) {
            return None;
        }
        match self.docs.get(key) {
            Some(state) => state.as_ref(),
            None => {
                self.misses.borrow_mut().insert(key.clone());
                None
            }
        }
    }
}

/// The engine's view of the parties on the network at this block (DOMAIN.md section 6,
/// scenario 8). A party is on the network while its record exists and its sponsor is a member.
///
/// Party records are never deleted, so a party that holds a document stays a party and keeps
/// what it holds. When members can leave (governance), a member's departure makes its parties
/// *unsponsored*: they are then off the network for this check (nothing new is handed to a
/// party no certificate can act for) and their users cannot act, until governance gives them a
/// new sponsor; what they already hold stays theirs and is never reassigned by anyone else.
struct PartyView<'g> {
    parties: &'g BTreeMap<PartyCode, PartyRecord>,
    members: &'g BTreeMap<PartyCode, MemberRecord>,
}

impl doc_workflow::PartyDirectory for PartyView<'_> {
    fn role_of(&self, party: &PartyCode) -> Option<doc_workflow::Role> {
        let record = self.parties.get(party)?;
        if !self.members.get(&record.sponsor)?.is_active() {
            return None;
        }
        Some(record.role)
    }
}

/// The parties a document state names: all of them are, from now on, parties to it.
fn parties_of(state: &DocumentState, event: &Event, into: &mut BTreeSet<PartyCode>) {
    let mut add = |p: &Option<PartyCode>| {
        if let Some(p) = p {
            into.insert(p.clone());
        }
    };
    add(&Some(state.carrier.clone()));
    add(&state.shipper);
    add(&state.consignee);
    add(&state.possessor);
    add(&state.endorsee);
    if let Some(t) = &state.pending_transfer {
        add(&Some(t.appointee.clone()));
        add(&t.previous_possessor);
        add(&t.previous_endorsee);
    }
    if let Some(s) = &state.surrender {
        add(&Some(s.requester.clone()));
    }
    if let Some(r) = &state.release {
        for right in r.rights.values() {
            add(&Some(right.holder.clone()));
            add(&Some(right.terminal.clone()));
            add(&right.haulier);
        }
    }
    for s in &state.signatures {
        add(&Some(s.party.clone()));
    }
    add(&Some(event.actor.clone()));
    match &event.kind {
        EventKind::Issued { possessor, .. } | EventKind::SurrenderRejected { possessor, .. } => {
            add(&Some(possessor.clone()))
        }
        EventKind::Transferred { from, to } | EventKind::Endorsed { from, to, .. } => {
            add(&Some(from.clone()));
            add(&Some(to.clone()));
        }
        EventKind::CargoReleased { port, holder, .. } => {
            add(&Some(port.clone()));
            add(&Some(holder.clone()));
        }
        EventKind::HaulierNominated { haulier, .. } => add(&Some(haulier.clone())),
        EventKind::TransferRejected {
            restored_possessor, ..
        } => add(restored_possessor),
        _ => {}
    }
}

impl Rules {
    pub(super) fn apply_document(
        &self,
        work: &mut Work<'_>,
        ctx: TxContext,
        checked: &Checked,
    ) -> Result<Result<Vec<DocumentKey>, TxRefusal>, ChainError> {
        let TxBody::Document {
            document,
            command,
            issuance_manifest,
        } = &checked.tx.body
        else {
            unreachable!("called for document transactions only");
        };
        if work.gov().consortium.paused {
            return Ok(Err(TxRefusal::NetworkPaused));
        }
        if let Some(compact) = issuance_manifest
            && let Err(refusal) =
                super::pint::issuance_manifest_applies(work.gov(), command, compact)
        {
            return Ok(Err(refusal));
        }
        let actor = doc_workflow::Actor::new(checked.party.code.clone(), [checked.party.role]);
        let time = doc_workflow::BlockTime(ctx.time_ms);
        let key = DocumentKey {
            class: command.class(),
            id: document.clone(),
        };
        work.load_doc(&key)?;
        // A party that is not, and never was, party to an existing document learns nothing of
        // it: it is refused exactly as if the document did not exist, before any rule could
        // tell it who holds the document (`HELD_ON_OTHER_PLATFORM` included) or what state it
        // is in. A cargo release that does not exist yet is guarded by the bill it would
        // release.
        // - A command that creates a bill (ISSUE, PUBLISH_DRAFT) is decided as if the bill did
        //   not exist, so a stranger's ISSUE of a used reference gets the ISSUE rules' refusal
        //   a new reference gets (`MISSING_ROLE`, `NOT_CARRIER`), not a different one.
        // - Any other command gets `DOCUMENT_NOT_FOUND`, which is what the engine answers for a
        //   document that does not exist; and a cargo release of a bill that does not exist
        //   gets it too from anyone but the bill's carrier, as it does for a bill the actor is
        //   no party to.
        let guard = if work.docs[&key].is_none() && key.class == DocumentClass::CargoRelease {
            DocumentKey::transport_document(document.clone())
        } else {
            key.clone()
        };
        work.load_doc(&guard)?;
        let not_found = || {
            Ok(Err(TxRefusal::Workflow(
                doc_workflow::Refusal::DocumentNotFound {
                    document: guard.clone(),
                },
            )))
        };
        let mut hidden: Vec<DocumentKey> = Vec::new();
        if work.docs[&guard].is_some() {
            let ever_key = keys::parties_ever(&guard);
            let parties: BTreeSet<PartyCode> = match work.get(&ever_key)? {
                Some(bytes) => decode(&ever_key, &bytes)?,
                None => BTreeSet::new(),
            };
            if !parties.contains(&checked.party.code) {
                let creates_a_bill = matches!(
                    command.action(),
                    doc_workflow::Action::Issue | doc_workflow::Action::PublishDraft
                );
                if !creates_a_bill || key != guard {
                    return not_found();
                }
                hidden.push(key.clone());
            }
        } else if key != guard && checked.party.code != key.id.carrier {
            return not_found();
        }
        if hidden.is_empty()
            && let Some(refusal) = super::pint::held_elsewhere(work, &key)?
        {
            return Ok(Err(refusal));
        }
        // The rules the document lives by: the workflow version it was created under, or for a
        // new document the newest version active at this height.
        let version_key = keys::doc_workflow_version(&key);
        let exists = work.docs[&key].is_some() && hidden.is_empty();
        let version = match (exists, work.get(&version_key)?) {
            (true, Some(bytes)) => workflow_version(&version_key, &bytes)?,
            (true, None) => 1,
            (false, _) => work.gov().consortium.workflow_at(ctx.location.height),
        };
        let engine = match version {
            1 => self.engine.clone(),
            v => work.gov().engines.get(&v).cloned().ok_or_else(|| {
                corrupt(
                    "dwv/",
                    format!("{key} runs under workflow version {v}, which is unknown"),
                )
            })?,
        };
        let mut attempts = 0;
        let decision = loop {
            attempts += 1;
            let view = DocView {
                docs: &work.docs,
                hidden: &hidden,
                misses: RefCell::new(BTreeSet::new()),
            };
            let parties = PartyView {
                parties: &work.gov().parties,
                members: &work.gov().members,
            };
            let result = engine.decide(&view, &parties, &actor, time, document, command);
            let misses = view.misses.into_inner();
            if misses.is_empty() {
                break result;
            }
            if attempts >= DECIDE_ATTEMPTS_MAX {
                return Err(corrupt(
                    "decide",
                    format!("the engine kept asking for unloaded documents: {misses:?}"),
                ));
            }
            for key in &misses {
                work.load_doc(key)?;
            }
        };
        let decision = match decision {
            // Not reached under the rules as they are: only a bill's carrier may create it, and
            // the carrier is always its party. Should a workflow version ever let a stranger
            // create one, a bill hidden from it is still not changed by it.
            Ok(_) if !hidden.is_empty() => return not_found(),
            Ok(d) => d,
            Err(refusal) => return Ok(Err(TxRefusal::Workflow(refusal))),
        };
        // The carrier's PINT issuance manifest, checked against the bill the ISSUE made and
        // kept with it for when it leaves for another platform.
        if let (Some(compact), doc_workflow::Command::Issue { issue_to, .. }) =
            (issuance_manifest, command)
        {
            let issued = decision
                .changes
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, state)| state)
                .ok_or_else(|| corrupt("decide", format!("an ISSUE that did not change {key}")))?;
            if let Err(refusal) = super::pint::check_issuance_manifest(
                work.gov(),
                checked,
                compact,
                issued,
                issue_to,
                ctx.time_ms,
            ) {
                return Ok(Err(refusal));
            }
            work.put(
                keys::pint_issuance_manifest(&key),
                compact.as_bytes().to_vec(),
            );
        }

        let mut touched = Vec::with_capacity(decision.changes.len());
        for (key, new_state) in decision.changes {
            if version > 1 && work.docs.get(&key).is_none_or(|d| d.is_none()) {
                work.put(
                    keys::doc_workflow_version(&key),
                    version.to_be_bytes().to_vec(),
                );
            }
            let event = decision
                .events
                .iter()
                .find(|e| e.document == key)
                .cloned()
                .ok_or_else(|| corrupt("decide", format!("no event for changed {key}")))?;
            let entry = HistoryEntry {
                sequence: new_state.sequence,
                tx_hash: ctx.tx_hash,
                height: ctx.location.height,
                position: ctx.location.position,
                time_ms: ctx.time_ms,
                actor: checked.party.code.clone(),
                member: checked.signer.member.clone(),
                signer_fingerprint: checked.signer.fingerprint.clone(),
                action: command.action(),
                recipient: command.recipient().cloned(),
                event,
                jws: checked.jws.clone(),
            };
            self.write_document(work, &key, new_state, entry)?;
            touched.push(key);
        }
        Ok(Ok(touched))
    }

    /// Writes a document's new state, its history entry and its index entries.
    pub(super) fn write_document(
        &self,
        work: &mut Work<'_>,
        key: &DocumentKey,
        state: DocumentState,
        entry: HistoryEntry,
    ) -> Result<(), ChainError> {
        work.load_doc(key)?;
        let old_status = work.docs[key].as_ref().map(|s| s.status);
        let old_checksum = work.docs[key]
            .as_ref()
            .and_then(|s| s.content.as_ref())
            .map(|c| c.sha256.clone());
        let new_checksum = state.content.as_ref().map(|c| c.sha256.clone());
        if old_checksum != new_checksum {
            if let Some(old) = &old_checksum {
                work.remove(keys::by_checksum(old, key));
            }
            if let Some(new) = &new_checksum {
                work.put(keys::by_checksum(new, key), Vec::new());
            }
        }
        let ever_key = keys::parties_ever(key);
        let old_parties: BTreeSet<PartyCode> = match work.get(&ever_key)? {
            Some(bytes) => decode(&ever_key, &bytes)?,
            None => BTreeSet::new(),
        };
        let mut parties = old_parties.clone();
        parties_of(&state, &entry.event, &mut parties);
        let status = state.status;

        // Only the index entries that change are written: a transfer or an endorsement keeps the
        // status, so it touches the entries of new parties alone. (Each write costs a sled node
        // rewrite; rewriting an entry with the bytes it holds would change nothing stored.)
        let status_changed = old_status != Some(status);
        if status_changed {
            if let Some(old) = old_status {
                work.remove(keys::by_status(old, key));
                for p in &old_parties {
                    work.remove(keys::by_party_status(p, old, key));
                }
            }
            work.put(keys::by_status(status, key), Vec::new());
        }
        for p in parties
            .iter()
            .filter(|p| status_changed || !old_parties.contains(*p))
        {
            work.put(keys::by_party_status(p, status, key), Vec::new());
            work.put(keys::by_party(p, key), status.code().as_bytes().to_vec());
        }
        if parties != old_parties {
            work.put(ever_key, encode(&parties));
        }
        // The gate finds a release by container number: one index entry per container that
        // has (or had) a right on this release, written when the right is first granted.
        if let Some(release) = &state.release {
            let before = work.docs[key].as_ref().and_then(|s| s.release.as_ref());
            let granted: Vec<Vec<u8>> = release
                .rights
                .keys()
                .filter(|c| before.is_none_or(|b| !b.rights.contains_key(*c)))
                .map(|c| keys::by_container(c, key))
                .collect();
            for index_key in granted {
                work.put(index_key, Vec::new());
            }
        }
        // The envelope's header (the signer's `x5c`) is stored once per distinct header.
        let mut entry = entry;
        if let Some((stored, header, digest)) = StoredJws::split(&entry.jws) {
            let header_key = keys::jws_header(&digest);
            if !work.contains(&header_key)? {
                work.put(header_key, header.as_bytes().to_vec());
            }
            entry.jws = stored;
        }
        work.put(keys::history(key, entry.sequence), encode(&entry));
        // The content's text once per distinct content; the state without it.
        let mut state = state;
        if let Some(content) = &state.content {
            let content_key = keys::content(&content.sha256);
            if !work.contains(&content_key)? {
                work.put(content_key, content.canonical_json.clone().into_bytes());
            }
        }
        work.put(keys::doc(key), StoredDocument::state_bytes(&mut state));
        work.docs.insert(key.clone(), Some(state));
        Ok(())
    }
}

/// A stored workflow version (u32 BE).
fn workflow_version(key: &[u8], bytes: &[u8]) -> Result<u32, ChainError> {
    let array: [u8; 4] = bytes
        .try_into()
        .map_err(|_| corrupt(String::from_utf8_lossy(key).into_owned(), "not a u32"))?;
    Ok(u32::from_be_bytes(array))
}
