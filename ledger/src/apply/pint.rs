//! Bills crossing to and from other eBL platforms (DCSA PINT 3.0): `PINT_SEND`,
//! `PINT_DISPATCH`, `PINT_RECEIPT` and `PINT_IMPORT` ([`crate::tx::Pint`]).
//!
//! Leaving: the possessor's `SEND` marks the bill as being handed to another platform
//! ([`ExportRecord`], stage `REQUESTED`); from that block every local action on it is refused
//! (`HELD_ON_OTHER_PLATFORM`). A node of the sender's member signs the chain entry and the
//! envelope manifest and records them (`DISPATCH`), so that every delivery attempt, by any of
//! its nodes and after any restart, sends the same bytes. The receiving platform's signed
//! answer is recorded by `RECEIPT`, whose signature every node checks against the platform's
//! certificates on the ledger: `RECE`/`DUPE` and the bill has left (its chain, with this
//! network's entry, is kept for its return); `BENV`/`BSIG`/`DISE` and it stays here.
//!
//! Arriving: `IMPORT` carries the envelope a node received. Every node runs
//! `pint::check_envelope` on it again, against the platforms the ledger trusts at this block
//! (this network's own entries against its members' root CAs) and the chain it holds for the
//! reference, before the bill exists here with the recipient as possessor. Nothing is accepted
//! on one node's word.
//!
//! Parties of other platforms are not parties of this network: the ledger names them
//! `PLATFORM:code` ([`foreign_party`]), a form no local party may take.

use doc_workflow::{
    Action, AmendmentReason, BlockTime, ContentRecord, DocumentClass, DocumentId, DocumentKey,
    DocumentKind, DocumentRef, DocumentState, Event, EventKind, Mode, PartyCode, Status,
    SurrenderRequest,
};
use pint::{ActionCode, IdentifyingCode, Party, TrustedPlatforms};

use super::{TxContext, Work};
use crate::consortium::is_platform_code;
use crate::records::{ExportRecord, ExportStage, HistoryEntry, PintChainRecord, decode, encode};
use crate::state::{Gov, Rules};
use crate::tx::{
    PINT_DOCUMENT_LABEL_CHARS_MAX, PINT_DOCUMENTS_BYTES_MAX, PINT_DOCUMENTS_MAX,
    PINT_ENVELOPE_BYTES_MAX, PINT_MESSAGE_BYTES_MAX, Pint, SupportingDocument,
};
use crate::validate::{Checked, TxRefusal};
use crate::{ChainError, keys};

type Applied = Result<Result<Vec<DocumentKey>, TxRefusal>, ChainError>;

fn refuse(code: &'static str, reason: impl Into<String>) -> Applied {
    Ok(Err(TxRefusal::Pint {
        code,
        reason: reason.into(),
    }))
}

/// How this ledger names a party of another platform: `PLATFORM:code`, from its first
/// identifying code (the code's SHA-256, shortened, when it would not fit a party code). A
/// local party code never takes this form ([`is_foreign_code`]), so two networks' `CARRIER`s
/// stay apart.
pub fn foreign_party(party: &Party) -> PartyCode {
    let code = party
        .identifying_codes
        .first()
        .map(|c| c.party_code.as_str())
        .unwrap_or(party.party_name.as_str());
    let platform = if is_platform_code(&party.ebl_platform) {
        party.ebl_platform.as_str()
    } else {
        "XXXX"
    };
    PartyCode::new(format!("{platform}:{code}")).unwrap_or_else(|_| {
        let digest = hex::encode(crate::sha256(code.as_bytes()));
        PartyCode::new(format!("{platform}:{}", &digest[..30]))
            .expect("a platform code and 30 hex digits form a party code")
    })
}

/// Whether `code` has the form of a party of another platform (`ABCD:...`): `ONBOARD_PARTY`
/// refuses it (`RESERVED_PARTY_CODE`).
pub(super) fn is_foreign_code(code: &str) -> bool {
    code.len() > 5 && code.as_bytes()[4] == b':' && is_platform_code(&code[..4])
}

/// This network's trust for checking PINT signatures at a block: every platform trusted by
/// vote, and this network's own code anchored on its active members' root CAs (the entries it
/// made when a bill left, met again when the bill returns).
pub(crate) fn trusted_platforms(gov: &Gov) -> TrustedPlatforms {
    let mut trusted = TrustedPlatforms::new();
    for platform in gov.consortium.platforms.values() {
        for pem in &platform.certificates {
            // Checked when trusted by vote; a certificate that does not load trusts nothing.
            let _ = trusted.add_certificates_pem(&platform.code, pem);
        }
    }
    if let Some(own) = &gov.platform {
        for member in gov.members.values().filter(|m| m.is_active()) {
            for pem in &member.ca_certificates {
                let _ = trusted.add_certificates_pem(own, pem);
            }
        }
    }
    trusted
}

/// The PINT party of a party of this network (platform `platform`): its name, this platform,
/// and its code under this platform's own code list. How every Silkline message names a local
/// party: the transactions of the chain entries this network signs, and the `issueTo` whose
/// checksum an issuance manifest carries, so the carrier (signing at issue) and the node
/// (building the first entry when the bill leaves) name the issued-to party alike.
pub fn pint_party(platform: &str, code: &PartyCode, name: &str) -> Party {
    Party {
        party_name: name.to_owned(),
        ebl_platform: platform.to_owned(),
        identifying_codes: vec![IdentifyingCode {
            code_list_provider: platform.to_owned(),
            party_code: code.as_str().to_owned(),
            code_list_name: None,
        }],
        tax_legal_references: None,
        represented_party: None,
    }
}

fn invalid_manifest(reason: impl Into<String>) -> TxRefusal {
    TxRefusal::Pint {
        code: "INVALID_ISSUANCE_MANIFEST",
        reason: reason.into(),
    }
}

/// Whether an `ISSUE`'s `issuanceManifest` may be checked further: this network has a
/// platform code and the command is an `ISSUE`. Checked before the workflow decides.
pub(super) fn issuance_manifest_applies(
    gov: &Gov,
    command: &doc_workflow::Command,
    compact: &str,
) -> Result<(), TxRefusal> {
    if gov.platform.is_none() {
        return Err(invalid_manifest(
            "this network has no platform code (genesis `platform`): its bills carry no PINT issuance manifest",
        ));
    }
    if !matches!(command, doc_workflow::Command::Issue { .. }) {
        return Err(invalid_manifest(format!(
            "only an ISSUE carries an issuance manifest, not {}",
            command.action().code()
        )));
    }
    if compact.len() > PINT_MESSAGE_BYTES_MAX {
        return Err(invalid_manifest(format!(
            "the issuance manifest is {} bytes, over {PINT_MESSAGE_BYTES_MAX}",
            compact.len()
        )));
    }
    Ok(())
}

/// Checks a carrier's issuance manifest against the bill its `ISSUE` made (`issued`, to
/// `issue_to`), at the block's time: a compact JWS, `EdDSA` or `ES256`, whose `x5c` leaf is the
/// certificate that signed the transaction (the ledger verified its chain, validity and
/// revocation already) and whose key made the signature; its payload a PINT `IssuanceManifest`
/// whose `documentChecksum` is the issued content's (SHA-256 of its RFC 8785 form),
/// `issueToChecksum` that of the issued-to party as this platform names it ([`pint_party`]),
/// and no `eBLVisualisationByCarrier` (a bill issued here has none). Each failure names what
/// failed (`INVALID_ISSUANCE_MANIFEST`).
pub(super) fn check_issuance_manifest(
    gov: &Gov,
    checked: &Checked,
    compact: &str,
    issued: &DocumentState,
    issue_to: &PartyCode,
    time_ms: u64,
) -> Result<(), TxRefusal> {
    let own = gov
        .platform
        .as_deref()
        .ok_or_else(|| invalid_manifest("this network has no platform code"))?;
    if issued.kind != DocumentKind::BillOfLading {
        return Err(invalid_manifest(format!(
            "only a bill of lading crosses platforms; this is a {}",
            issued.kind.code()
        )));
    }
    let parsed = pint::jws::parse(compact)
        .map_err(|e| invalid_manifest(format!("not a compact JWS PINT accepts: {e}")))?;
    if !matches!(parsed.alg, pint::Alg::EdDSA | pint::Alg::ES256) {
        return Err(invalid_manifest(format!(
            "signed with {}; a carrier here signs with EdDSA or ES256",
            parsed.alg.name()
        )));
    }
    let Some(leaf) = parsed.x5c.first() else {
        return Err(invalid_manifest(
            "its header has no x5c: the receiving platform could not check it",
        ));
    };
    if hex::encode(crate::sha256(leaf.as_ref())) != checked.signer.fingerprint {
        return Err(invalid_manifest(
            "its x5c leaf is not the certificate that signed this ISSUE: the carrier signs both",
        ));
    }
    // Pinned to the signer's own certificate: its key made the signature, and the certificate
    // is valid at the block's time.
    let signer = TrustedPlatforms::from_der([(own, leaf.as_ref())])
        .map_err(|e| invalid_manifest(format!("its x5c leaf: {e}")))?;
    signer
        .verify_parsed(own, &parsed, (time_ms / 1000) as i64)
        .map_err(|e| invalid_manifest(format!("its signature: {e}")))?;
    let manifest: pint::IssuanceManifest = serde_json::from_slice(&parsed.payload)
        .map_err(|e| invalid_manifest(format!("its payload is not an IssuanceManifest: {e}")))?;
    let content = issued
        .content
        .as_ref()
        .ok_or_else(|| invalid_manifest("the issued bill has no content"))?;
    if manifest.document_checksum != content.sha256 {
        return Err(invalid_manifest(format!(
            "its documentChecksum {} is not the issued document's {} (SHA-256 of its RFC 8785 form)",
            manifest.document_checksum, content.sha256
        )));
    }
    let name = gov
        .parties
        .get(issue_to)
        .map_or_else(|| issue_to.as_str().to_owned(), |p| p.name.clone());
    let party =
        serde_json::to_value(pint_party(own, issue_to, &name)).expect("a PINT party serializes");
    let expected = pint::json_checksum(&party);
    if manifest.issue_to_checksum != expected {
        return Err(invalid_manifest(format!(
            "its issueToChecksum {} is not {expected}, that of {issue_to} as platform {own} names it",
            manifest.issue_to_checksum
        )));
    }
    if let Some(v) = &manifest.ebl_visualisation_by_carrier_checksum {
        return Err(invalid_manifest(format!(
            "it names an eBLVisualisationByCarrier ({v}) this ledger does not hold"
        )));
    }
    Ok(())
}

/// The local party an identifying code names, if this network hosts it: the code list is this
/// platform's own, and the party is on the network (its sponsor an active member).
pub(crate) fn hosted_party(
    gov_platform: &str,
    code: &IdentifyingCode,
    gov: &Gov,
) -> Option<String> {
    if code.code_list_provider != gov_platform {
        return None;
    }
    let party = gov.parties.get(&PartyCode::new(&code.party_code).ok()?)?;
    gov.members
        .get(&party.sponsor)
        .filter(|m| m.is_active())
        .map(|_| party.code.as_str().to_owned())
}

/// The local party of a PINT party named by this platform, if any.
fn local_party(own: &str, party: &Party, gov: &Gov) -> Option<PartyCode> {
    if party.ebl_platform != own {
        return None;
    }
    party
        .identifying_codes
        .iter()
        .find_map(|c| hosted_party(own, c, gov))
        .and_then(|c| PartyCode::new(c).ok())
}

/// A party as this ledger names it: local if this platform hosts it, else `PLATFORM:code`.
fn ledger_party(own: &str, party: &Party, gov: &Gov) -> PartyCode {
    local_party(own, party, gov).unwrap_or_else(|| foreign_party(party))
}

/// The workflow action a PINT action is recorded under in a document's history.
fn history_action(action: ActionCode) -> Action {
    match action {
        ActionCode::Issue => Action::Issue,
        ActionCode::Transfer => Action::Transfer,
        ActionCode::Endorse => Action::Endorse,
        ActionCode::EndorseToOrder => Action::EndorseToOrder,
        ActionCode::BlankEndorse => Action::BlankEndorse,
        ActionCode::Sign => Action::Sign,
        ActionCode::SurrenderForAmendment => Action::SurrenderForAmendment,
        ActionCode::SurrenderForDelivery => Action::SurrenderForDelivery,
        ActionCode::Sacc => Action::AcceptSurrender,
        ActionCode::Srej => Action::RejectSurrender,
    }
}

impl Rules {
    pub(super) fn apply_pint(
        &self,
        work: &mut Work<'_>,
        ctx: TxContext,
        checked: &Checked,
        command: &Pint,
    ) -> Applied {
        let Some(own) = work.gov().platform.clone() else {
            return refuse(
                "PINT_NOT_ENABLED",
                "this network has no platform code (genesis `platform`): bills neither leave nor arrive",
            );
        };
        if work.gov().consortium.paused {
            return Ok(Err(TxRefusal::NetworkPaused));
        }
        match command {
            Pint::Send {
                document,
                platform,
                action_code,
                recipient,
                documents,
            } => self.send(
                work,
                ctx,
                checked,
                document,
                platform,
                action_code,
                recipient,
                documents,
            ),
            Pint::Dispatch {
                document,
                entry,
                manifest,
            } => dispatch(work, checked, &own, document, entry, manifest),
            Pint::Receipt { document, response } => {
                self.receipt(work, ctx, checked, document, response)
            }
            Pint::Import {
                envelope,
                documents,
            } => self.import(work, ctx, checked, &own, envelope, documents),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send(
        &self,
        work: &mut Work<'_>,
        ctx: TxContext,
        checked: &Checked,
        document: &DocumentId,
        platform: &str,
        action_code: &str,
        recipient: &serde_json::Value,
        documents: &[SupportingDocument],
    ) -> Applied {
        let key = DocumentKey::transport_document(document.clone());
        let actor = checked.party.code.clone();
        work.load_doc(&key)?;
        // Who may learn that the bill exists: as for every document command.
        let parties_ever: std::collections::BTreeSet<PartyCode> =
            match work.get(&keys::parties_ever(&key))? {
                Some(bytes) => decode(&keys::parties_ever(&key), &bytes)?,
                None => Default::default(),
            };
        let Some(state) = work.docs[&key]
            .clone()
            .filter(|_| parties_ever.contains(&actor))
        else {
            return Ok(Err(TxRefusal::Workflow(
                doc_workflow::Refusal::DocumentNotFound { document: key },
            )));
        };
        if let Some(export) = export_of(work, &key)?
            && export.stage.holds_bill()
        {
            return refuse(
                "HELD_ON_OTHER_PLATFORM",
                format!(
                    "{key} is held by platform {} ({}): nothing is done with it here until it comes back",
                    export.platform,
                    export.stage.code()
                ),
            );
        }
        if !work.gov().consortium.platforms.contains_key(platform) {
            return refuse(
                "PINT_UNKNOWN_PLATFORM",
                format!("platform {platform:?} is not trusted by this network (TRUST_PLATFORM)"),
            );
        }
        let recipient_party: Party = match serde_json::from_value(recipient.clone()) {
            Ok(p) => p,
            Err(e) => return refuse("PINT_INVALID_RECIPIENT", format!("recipient: {e}")),
        };
        if recipient_party.ebl_platform != platform || recipient_party.identifying_codes.is_empty()
        {
            return refuse(
                "PINT_INVALID_RECIPIENT",
                format!(
                    "the recipient must be a party of platform {platform} with at least one identifying code"
                ),
            );
        }
        if state.kind != DocumentKind::BillOfLading || state.status != Status::Issued {
            return refuse(
                "PINT_NOT_TRANSFERABLE",
                format!(
                    "only an issued bill of lading crosses platforms; {key} is {}",
                    state.status.code()
                ),
            );
        }
        // A possessor just appointed (a transfer it may still reject) is the possessor: sending
        // the bill on is its next action, as any local one would be.
        if state.possessor.as_ref() != Some(&actor) {
            return refuse(
                "PINT_NOT_POSSESSOR",
                format!("{actor} is not in possession of {key}: only its possessor sends it"),
            );
        }
        let Some(action) = ActionCode::parse(action_code) else {
            return refuse(
                "PINT_INVALID_ACTION",
                format!("{action_code:?} is not a PINT action code"),
            );
        };
        let recipient_code = foreign_party(&recipient_party);
        match action {
            ActionCode::Transfer => {}
            ActionCode::Endorse => {
                if state.mode != Some(Mode::ToOrder)
                    || state.endorsee.as_ref() != Some(&actor)
                    || !state.endorsee_may_endorse
                {
                    return refuse(
                        "PINT_INVALID_ACTION",
                        format!("{actor} is not an endorsee of {key} that may endorse it"),
                    );
                }
            }
            ActionCode::SurrenderForDelivery | ActionCode::SurrenderForAmendment => {
                if state.carrier != recipient_code {
                    return refuse(
                        "PINT_SURRENDER_NOT_TO_ISSUER",
                        format!(
                            "a surrender goes to the bill's issuing carrier {}; {recipient_code} is not it",
                            state.carrier
                        ),
                    );
                }
            }
            other => {
                return refuse(
                    "PINT_INVALID_ACTION",
                    format!(
                        "{other} does not hand a bill to another platform; use TRANSFER, ENDORSE, SURRENDER_FOR_DELIVERY or SURRENDER_FOR_AMENDMENT"
                    ),
                );
            }
        }
        let supporting = match supporting_documents(documents) {
            Ok(d) => d,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let record = ExportRecord {
            document: key.clone(),
            stage: ExportStage::Requested,
            platform: platform.to_owned(),
            action_code: action.as_str().to_owned(),
            recipient: recipient.clone(),
            recipient_code,
            sender: actor,
            member: checked.party.sponsor.clone(),
            requested_height: ctx.location.height,
            requested_ms: ctx.time_ms,
            documents: supporting.iter().map(|(m, _)| m.clone()).collect(),
            entry: None,
            manifest: None,
            response: None,
            response_code: None,
            reason: None,
        };
        work.put(keys::pint_export(&key), encode(&record));
        work.put(keys::pint_outbox(&key), Vec::new());
        for (metadata, bytes) in supporting {
            work.put(
                keys::pint_outgoing_document(&metadata.document_checksum, &key),
                bytes,
            );
        }
        Ok(Ok(vec![key]))
    }

    fn receipt(
        &self,
        work: &mut Work<'_>,
        ctx: TxContext,
        checked: &Checked,
        document: &DocumentId,
        response: &str,
    ) -> Applied {
        let key = DocumentKey::transport_document(document.clone());
        let mut export = match sending_export(work, checked, &key)? {
            Ok(export) => export,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if export.stage != ExportStage::Dispatched {
            return refuse(
                "PINT_NO_TRANSFER",
                format!(
                    "{key}'s transfer is {}, not waiting for an answer",
                    export.stage.code()
                ),
            );
        }
        if response.len() > PINT_MESSAGE_BYTES_MAX {
            return refuse(
                "PINT_MESSAGE_TOO_LARGE",
                format!("the answer is over {PINT_MESSAGE_BYTES_MAX} bytes"),
            );
        }
        let entry = export.entry.clone().unwrap_or_default();
        let trusted = trusted_platforms(work.gov());
        let answer = match pint::check_response(
            &trusted,
            &export.platform,
            response,
            (ctx.time_ms / 1000) as i64,
            &pint::signed_content_checksum(&entry),
        ) {
            Ok(a) => a,
            Err(e) => return refuse(e.rule(), e.to_string()),
        };
        let code = answer.response_code;
        if code.keeps_transfer_open() {
            return refuse(
                "PINT_TRANSFER_OPEN",
                format!(
                    "{} leaves the transfer open; only a final answer is recorded",
                    code.as_str()
                ),
            );
        }
        work.load_doc(&key)?;
        let Some(mut state) = work.docs[&key].clone() else {
            return Err(crate::records::corrupt(
                "pxo/",
                format!("{key} is being sent but does not exist"),
            ));
        };
        export.response = Some(response.to_owned());
        export.response_code = Some(code.as_str().to_owned());
        export.reason = answer.reason.clone();
        let kind = if code.is_accepted() {
            export.stage = ExportStage::Delivered;
            // The chain as the receiver accepted it: what the bill is checked against when it
            // comes back.
            let chain_key = keys::pint_chain(&content_checksum(&state));
            let mut chain = match work.get(&chain_key)? {
                Some(bytes) => decode::<PintChainRecord>(&chain_key, &bytes)?,
                None => PintChainRecord {
                    document: key.clone(),
                    entries: Vec::new(),
                    documents: Vec::new(),
                },
            };
            chain.entries.push(entry);
            work.put(chain_key, encode(&chain));
            let action = ActionCode::parse(&export.action_code);
            match action {
                Some(ActionCode::Endorse) => state.endorsee = Some(export.recipient_code.clone()),
                Some(a) if a.is_surrender() => {
                    state.status = if a == ActionCode::SurrenderForDelivery {
                        Status::PendingSurrenderForDelivery
                    } else {
                        Status::PendingSurrenderForAmendment
                    };
                }
                _ => {}
            }
            state.possessor = Some(export.recipient_code.clone());
            EventKind::SentToPlatform {
                platform: export.platform.clone(),
                to: export.recipient_code.clone(),
                action: export.action_code.clone(),
                response_code: code.as_str().to_owned(),
            }
        } else {
            export.stage = ExportStage::Returned;
            EventKind::ReturnedByPlatform {
                platform: export.platform.clone(),
                response_code: code.as_str().to_owned(),
                possessor: export.sender.clone(),
            }
        };
        // The answer is final: the receiver has the documents, or refused the transfer (a new
        // SEND carries them again).
        for d in &export.documents {
            work.remove(keys::pint_outgoing_document(&d.document_checksum, &key));
        }
        work.put(keys::pint_export(&key), encode(&export));
        work.remove(keys::pint_outbox(&key));
        let action = ActionCode::parse(&export.action_code)
            .map(history_action)
            .unwrap_or(Action::Transfer);
        self.record(
            work,
            ctx,
            checked,
            &key,
            state,
            export.sender.clone(),
            action,
            kind,
        )?;
        Ok(Ok(vec![key]))
    }

    /// Writes a document changed by a PINT transaction with its history entry.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        work: &mut Work<'_>,
        ctx: TxContext,
        checked: &Checked,
        key: &DocumentKey,
        mut state: DocumentState,
        actor: PartyCode,
        action: Action,
        kind: EventKind,
    ) -> Result<(), ChainError> {
        state.sequence += 1;
        state.updated_at = BlockTime(ctx.time_ms);
        // A committed action on the bill closes a transfer its possessor could have rejected
        // (as the workflow engine does first thing on every action); once the bill has left,
        // the appointee no longer possesses it.
        state.pending_transfer = None;
        let recipient = match &kind {
            EventKind::ReceivedFromPlatform { to, .. } | EventKind::SentToPlatform { to, .. } => {
                Some(to.clone())
            }
            _ => None,
        };
        let event = Event {
            document: key.clone(),
            sequence: state.sequence,
            actor: actor.clone(),
            at: BlockTime(ctx.time_ms),
            kind,
        };
        let entry = HistoryEntry {
            sequence: state.sequence,
            tx_hash: ctx.tx_hash,
            height: ctx.location.height,
            position: ctx.location.position,
            time_ms: ctx.time_ms,
            actor,
            member: checked.signer.member.clone(),
            signer_fingerprint: checked.signer.fingerprint.clone(),
            action,
            recipient,
            event,
            jws: checked.jws.clone(),
        };
        self.write_document(work, key, state, entry)
    }

    fn import(
        &self,
        work: &mut Work<'_>,
        ctx: TxContext,
        checked: &Checked,
        own: &str,
        envelope: &serde_json::Value,
        documents: &[String],
    ) -> Applied {
        let bytes = serde_json::to_vec(envelope).expect("a JSON value serializes");
        if bytes.len() > PINT_ENVELOPE_BYTES_MAX {
            return refuse(
                "PINT_ENVELOPE_TOO_LARGE",
                format!(
                    "the envelope is {} bytes; a ledger transaction carries at most {PINT_ENVELOPE_BYTES_MAX}",
                    bytes.len()
                ),
            );
        }
        let reference = envelope
            .get("transportDocument")
            .and_then(|d| d.get("transportDocumentReference"))
            .and_then(|r| r.as_str())
            .unwrap_or_default()
            .to_owned();
        // The chain held for this bill: by its document's checksum, which two bills that share
        // a reference (two carriers', say) never share.
        let checksum = envelope
            .get("transportDocument")
            .map(pint::json_checksum)
            .unwrap_or_default();
        let chain_key = keys::pint_chain(&checksum);
        let held = match work.get(&chain_key)? {
            Some(bytes) => Some(decode::<PintChainRecord>(&chain_key, &bytes)?),
            None => None,
        };
        let known: &[String] = held.as_ref().map_or(&[], |h| h.entries.as_slice());
        let trusted = trusted_platforms(work.gov());
        let leniency = if work.gov().consortium.parameters.pint_conformance_leniency == 1 {
            pint::Leniency::CONFORMANCE_TOOL
        } else {
            pint::Leniency::STRICT
        };
        let context = pint::CheckContext {
            trusted: &trusted,
            at_unix_s: (ctx.time_ms / 1000) as i64,
            platform: own,
            known_chain: known,
            leniency,
        };
        // Imports are rare beside document commands: a copy of the configuration keeps it
        // readable while the block's documents are loaded.
        let gov_copy = work.gov().clone();
        let gov = &gov_copy;
        let hosted = |code: &IdentifyingCode| hosted_party(own, code, gov);
        let transfer = match pint::check_envelope(&bytes, &context, &hosted) {
            Ok(t) => t,
            Err(refusal) => return refuse(refusal.rule(), refusal.to_string()),
        };
        if let Some(duplicate) = &transfer.duplicate_of {
            return refuse(
                "PINT_DUPLICATE",
                format!(
                    "entry {} of this bill's chain was accepted before (DUPE)",
                    duplicate.index
                ),
            );
        }
        let problems = doc_workflow::schema::problems(&transfer.document);
        if let Some(first) = problems.first() {
            return refuse(
                "PINT_INVALID_DOCUMENT",
                format!(
                    "the transport document breaks the DCSA eBL 3.0 schema ({} problem(s)): {first}",
                    problems.len()
                ),
            );
        }
        let expected = transfer.expected_document_checksums();
        if let Some(missing) = expected.iter().find(|c| !documents.contains(c)) {
            return refuse(
                "PINT_DOCUMENT_MISSING",
                format!("additional document {missing} was not received (MDOC)"),
            );
        }
        let recipient = PartyCode::new(&transfer.recipient_party)
            .expect("a hosted party's code is a party code");
        let last = transfer
            .entries
            .last()
            .and_then(|e| e.transactions.last())
            .expect("a checked chain has a last transaction");
        let from = ledger_party(own, &last.transaction.actor, gov);
        let content = ContentRecord {
            sha256: transfer.document_checksum.clone(),
            canonical_json: canonical_json::to_string(&transfer.document),
        };

        // Where the bill is now: every transaction of the chain, oldest first.
        let all: Vec<&pint::CheckedTransaction> = transfer
            .entries
            .iter()
            .flat_map(|e| e.transactions.iter())
            .collect();
        let issue = all
            .iter()
            .find(|t| t.action == ActionCode::Issue)
            .expect("a checked chain starts with ISSUE");
        let carrier = ledger_party(own, &issue.transaction.actor, gov);
        let to_order = transfer
            .document
            .get("isToOrder")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let mut mode = if to_order {
            Mode::ToOrder
        } else {
            Mode::Straight
        };
        let mut endorsee = None;
        let mut may_endorse = true;
        let mut surrender = None;
        for t in &all {
            let party = |p: &Option<Party>| p.as_ref().map(|p| ledger_party(own, p, gov));
            match t.action {
                ActionCode::Issue if to_order => endorsee = party(&t.transaction.recipient),
                ActionCode::Endorse => {
                    endorsee = party(&t.transaction.recipient);
                    may_endorse = false;
                }
                ActionCode::EndorseToOrder => {
                    endorsee = party(&t.transaction.recipient);
                    may_endorse = true;
                }
                ActionCode::BlankEndorse => {
                    mode = Mode::Blank;
                    endorsee = None;
                }
                ActionCode::SurrenderForDelivery | ActionCode::SurrenderForAmendment => {
                    let reason = match t.transaction.reason_code.as_deref() {
                        Some("SWI") => Some(AmendmentReason::SwitchToPaper),
                        Some("COD") => Some(AmendmentReason::ChangeOfDestination),
                        Some("SWB") => Some(AmendmentReason::SwitchBill),
                        _ => None,
                    };
                    if t.action == ActionCode::SurrenderForAmendment && reason.is_none() {
                        return refuse(
                            "PINT_INVALID_REASON",
                            "a surrender for amendment names its reasonCode: SWI, COD or SWB",
                        );
                    }
                    surrender = Some((reason, ledger_party(own, &t.transaction.actor, gov)));
                }
                ActionCode::Srej => surrender = None,
                _ => {}
            }
        }
        let status = match surrender {
            Some((None, _)) => Status::PendingSurrenderForDelivery,
            Some(_) => Status::PendingSurrenderForAmendment,
            None => Status::Issued,
        };
        let local_reference = match DocumentRef::new(reference.clone()) {
            Ok(r) => r,
            Err(e) => return refuse("PINT_INVALID_DOCUMENT", e.to_string()),
        };

        // A bill that left and comes back is the same document; any other is new here.
        let key = match &held {
            Some(h) => h.document.clone(),
            None => {
                DocumentKey::transport_document(DocumentId::new(carrier.clone(), local_reference))
            }
        };
        work.load_doc(&key)?;
        let previous = work.docs[&key].clone();
        if let Some(state) = &previous {
            match export_of(work, &key)? {
                Some(e) if e.stage == ExportStage::Delivered => {}
                _ => {
                    return refuse(
                        "PINT_DOCUMENT_EXISTS",
                        format!(
                            "{key} already exists here and is not held by another platform ({})",
                            state.status.code()
                        ),
                    );
                }
            }
        }
        if surrender.is_some() && local_party(own, &issue.transaction.actor, gov).is_none() {
            return refuse(
                "PINT_SURRENDER_NOT_TO_ISSUER",
                "a surrender goes to the issuing carrier's platform, which is not this one",
            );
        }
        let now = BlockTime(ctx.time_ms);
        let state = DocumentState {
            kind: DocumentKind::BillOfLading,
            id: key.id.clone(),
            status,
            mode: Some(mode),
            carrier: previous.as_ref().map_or(carrier, |p| p.carrier.clone()),
            shipper: previous.as_ref().and_then(|p| p.shipper.clone()),
            consignee: previous.as_ref().and_then(|p| p.consignee.clone()),
            possessor: Some(recipient.clone()),
            endorsee: if mode == Mode::ToOrder {
                endorsee
            } else {
                None
            },
            endorsee_may_endorse: may_endorse,
            pending_transfer: None,
            surrender: surrender.map(|(amendment_reason, requester)| SurrenderRequest {
                requester,
                amendment_reason,
            }),
            content: Some(content),
            amends: previous.as_ref().and_then(|p| p.amends.clone()),
            amended_by: None,
            release: None,
            signatures: previous
                .as_ref()
                .map(|p| p.signatures.clone())
                .unwrap_or_default(),
            sequence: previous.as_ref().map_or(0, |p| p.sequence),
            created_at: previous.as_ref().map_or(now, |p| p.created_at),
            updated_at: now,
        };
        if previous.is_some() {
            work.remove(keys::pint_export(&key));
        }
        work.put(
            chain_key,
            encode(&PintChainRecord {
                document: key.clone(),
                entries: transfer
                    .entries
                    .iter()
                    .map(|e| e.signed_content.clone())
                    .collect(),
                documents: expected,
            }),
        );
        let kind = EventKind::ReceivedFromPlatform {
            platform: transfer.sending_platform.clone(),
            from: from.clone(),
            to: recipient,
            action: transfer.last_action.as_str().to_owned(),
        };
        self.record(
            work,
            ctx,
            checked,
            &key,
            state,
            from,
            history_action(transfer.last_action),
            kind,
        )?;
        Ok(Ok(vec![key]))
    }
}

/// `DISPATCH`: the entry and manifest a node of the sender's member signed, fixed before it
/// delivers them.
fn dispatch(
    work: &mut Work<'_>,
    checked: &Checked,
    own: &str,
    document: &DocumentId,
    entry: &str,
    manifest: &str,
) -> Applied {
    let key = DocumentKey::transport_document(document.clone());
    let mut export = match sending_export(work, checked, &key)? {
        Ok(export) => export,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if export.stage != ExportStage::Requested {
        return refuse(
            "PINT_ALREADY_DISPATCHED",
            format!(
                "{key}'s transfer is {}: its envelope is fixed",
                export.stage.code()
            ),
        );
    }
    if entry.len() > PINT_MESSAGE_BYTES_MAX || manifest.len() > PINT_MESSAGE_BYTES_MAX {
        return refuse(
            "PINT_MESSAGE_TOO_LARGE",
            format!("an entry or manifest is over {PINT_MESSAGE_BYTES_MAX} bytes"),
        );
    }
    // The entry must be this network's, hand the bill to the requested party, and extend the
    // chain held for it; the manifest must name that entry. Their signatures are checked by
    // the receiving platform, and by this network when the bill comes back.
    let parsed: pint::EnvelopeTransferChainEntry = match pint::jws::unverified_payload(entry)
        .ok()
        .and_then(|p| serde_json::from_slice(&p).ok())
    {
        Some(e) => e,
        None => {
            return refuse(
                "PINT_INVALID_ENTRY",
                "the entry is not a signed chain entry",
            );
        }
    };
    let recipient: Option<Party> = serde_json::from_value(export.recipient.clone()).ok();
    let last = parsed.transactions.last();
    if parsed.ebl_platform != own
        || last.and_then(|t| t.recipient.as_ref()) != recipient.as_ref()
        || last.map(|t| t.action_code.as_str()) != Some(export.action_code.as_str())
    {
        return refuse(
            "PINT_INVALID_ENTRY",
            "the entry is not this platform's, or does not end with the requested transfer",
        );
    }
    work.load_doc(&key)?;
    let checksum = work.docs[&key]
        .as_ref()
        .map(content_checksum)
        .unwrap_or_default();
    let chain_key = keys::pint_chain(&checksum);
    let held_last = match work.get(&chain_key)? {
        Some(bytes) => decode::<PintChainRecord>(&chain_key, &bytes)?
            .entries
            .last()
            .cloned(),
        None => None,
    };
    if parsed.previous_envelope_transfer_chain_entry_signed_content_checksum
        != held_last.as_deref().map(pint::signed_content_checksum)
    {
        return refuse(
            "PINT_INVALID_ENTRY",
            "the entry does not follow the chain held for the bill",
        );
    }
    let named: Option<pint::EnvelopeManifest> = pint::jws::unverified_payload(manifest)
        .ok()
        .and_then(|p| serde_json::from_slice(&p).ok());
    let Some(named) = named else {
        return refuse(
            "PINT_INVALID_ENTRY",
            "the manifest is not a signed envelope manifest",
        );
    };
    if named.last_envelope_transfer_chain_entry_signed_content_checksum
        != pint::signed_content_checksum(entry)
    {
        return refuse("PINT_INVALID_ENTRY", "the manifest does not name the entry");
    }
    if named.supporting_documents.unwrap_or_default() != export.documents {
        return refuse(
            "PINT_INVALID_ENTRY",
            format!(
                "the manifest does not list the transfer's {} supporting document(s) as sent",
                export.documents.len()
            ),
        );
    }
    export.stage = ExportStage::Dispatched;
    export.entry = Some(entry.to_owned());
    export.manifest = Some(manifest.to_owned());
    work.put(keys::pint_export(&key), encode(&export));
    Ok(Ok(vec![key]))
}

/// A `SEND`'s supporting documents, checked: each named (1 to
/// [`PINT_DOCUMENT_LABEL_CHARS_MAX`] characters, no control character) with a media type of
/// the form `type/subtype`, its content standard base64 of at least one byte, no two alike,
/// at most [`PINT_DOCUMENTS_MAX`] and [`PINT_DOCUMENTS_BYTES_MAX`] bytes together. Gives each
/// document's manifest metadata and its bytes.
fn supporting_documents(
    documents: &[SupportingDocument],
) -> Result<Vec<(pint::DocumentMetadata, Vec<u8>)>, TxRefusal> {
    use base64::Engine as _;
    let invalid = |reason: String| TxRefusal::Pint {
        code: "PINT_INVALID_DOCUMENTS",
        reason,
    };
    if documents.len() > PINT_DOCUMENTS_MAX {
        return Err(invalid(format!(
            "{} supporting documents; a transfer carries at most {PINT_DOCUMENTS_MAX}",
            documents.len()
        )));
    }
    let label_ok = |s: &str| {
        let n = s.chars().count();
        (1..=PINT_DOCUMENT_LABEL_CHARS_MAX).contains(&n) && !s.chars().any(char::is_control)
    };
    let mut out: Vec<(pint::DocumentMetadata, Vec<u8>)> = Vec::with_capacity(documents.len());
    let mut total = 0usize;
    for (i, d) in documents.iter().enumerate() {
        if !label_ok(&d.name) {
            return Err(invalid(format!(
                "document {i}: a name of 1 to {PINT_DOCUMENT_LABEL_CHARS_MAX} characters, without control characters"
            )));
        }
        let media_type_ok = label_ok(&d.media_type)
            && d.media_type
                .split_once('/')
                .is_some_and(|(t, s)| !t.is_empty() && !s.is_empty())
            && !d.media_type.contains(char::is_whitespace);
        if !media_type_ok {
            return Err(invalid(format!(
                "document {:?}: media type {:?} is not of the form type/subtype",
                d.name, d.media_type
            )));
        }
        // Decoded only while the total allows: base64 is 4 characters per 3 bytes.
        if total + d.content.len() / 4 * 3 > PINT_DOCUMENTS_BYTES_MAX + 2 {
            return Err(too_large());
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&d.content)
            .map_err(|e| {
                invalid(format!(
                    "document {:?}: its content is not base64: {e}",
                    d.name
                ))
            })?;
        if bytes.is_empty() {
            return Err(invalid(format!("document {:?} is empty", d.name)));
        }
        total += bytes.len();
        if total > PINT_DOCUMENTS_BYTES_MAX {
            return Err(too_large());
        }
        let metadata = pint::document_metadata(&d.name, &d.media_type, &bytes);
        if out
            .iter()
            .any(|(m, _)| m.document_checksum == metadata.document_checksum)
        {
            return Err(invalid(format!(
                "document {:?} is sent twice (checksum {})",
                d.name, metadata.document_checksum
            )));
        }
        out.push((metadata, bytes));
    }
    Ok(out)
}

fn too_large() -> TxRefusal {
    TxRefusal::Pint {
        code: "PINT_DOCUMENTS_TOO_LARGE",
        reason: format!(
            "the supporting documents are over {PINT_DOCUMENTS_BYTES_MAX} bytes together (ledger::tx::PINT_DOCUMENTS_BYTES_MAX): they ride in the signed PINT_SEND"
        ),
    }
}

/// The checksum a bill's PINT chain is kept under: its content's (SHA-256 of the RFC 8785 form,
/// PINT's `transportDocumentChecksum`).
fn content_checksum(state: &DocumentState) -> String {
    state
        .content
        .as_ref()
        .map(|c| c.sha256.clone())
        .unwrap_or_default()
}

/// The bill's latest transfer to another platform, if any.
/// The bill's transfer out, for a transaction by a node of the member that sends it (a dispatch
/// or a receipt); refused when there is none or another member sends it.
fn sending_export(
    work: &Work<'_>,
    checked: &Checked,
    key: &DocumentKey,
) -> Result<Result<ExportRecord, TxRefusal>, ChainError> {
    let refusal = |code, reason: String| Ok(Err(TxRefusal::Pint { code, reason }));
    let Some(export) = export_of(work, key)? else {
        return refusal("PINT_NO_TRANSFER", format!("{key} is not being sent"));
    };
    if export.member != checked.signer.member {
        return refusal(
            "PINT_NOT_SENDING_MEMBER",
            format!("{key} is sent by {}'s nodes", export.member),
        );
    }
    Ok(Ok(export))
}

pub(super) fn export_of(
    work: &Work<'_>,
    key: &DocumentKey,
) -> Result<Option<ExportRecord>, ChainError> {
    let k = keys::pint_export(key);
    Ok(match work.get(&k)? {
        Some(bytes) => Some(decode(&k, &bytes)?),
        None => None,
    })
}

/// Refuses a document command on a bill another platform holds.
pub(super) fn held_elsewhere(
    work: &Work<'_>,
    key: &DocumentKey,
) -> Result<Option<TxRefusal>, ChainError> {
    if key.class != DocumentClass::TransportDocument {
        return Ok(None);
    }
    Ok(export_of(work, key)?
        .filter(|e| e.stage.holds_bill())
        .map(|e| TxRefusal::Pint {
            code: "HELD_ON_OTHER_PLATFORM",
            reason: format!(
                "{key} is held by platform {} ({}): nothing is done with it here until it comes back",
                e.platform,
                e.stage.code()
            ),
        }))
}
