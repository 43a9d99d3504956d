//! When a bill may leave the ledger for paper (MLETR art. 17-18, change of medium): only a bill of
//! lading its holder surrendered for amendment with reason `SWITCH_TO_PAPER`, that surrender
//! accepted by the carrier, as both the state and the history show.

use doc_workflow::{AmendmentReason, DocumentKey, DocumentKind, DocumentState, EventKind, Status};
use ledger::HistoryEntry;

use super::PdfError;
use crate::dcsa;

/// The accepted switch-to-paper surrender that allows a paper original.
pub(super) struct PaperEvidence {
    pub requested: ChainLinkAt,
    pub accepted: ChainLinkAt,
}

/// Who did what when, and where the ledger recorded it.
pub(super) struct ChainLinkAt {
    pub actor: doc_workflow::PartyCode,
    pub time_ms: u64,
    pub height: u64,
    pub tx_hash: String,
}

impl From<&HistoryEntry> for ChainLinkAt {
    fn from(entry: &HistoryEntry) -> Self {
        ChainLinkAt {
            actor: entry.event.actor.clone(),
            time_ms: entry.time_ms,
            height: entry.height,
            tx_hash: entry.tx_hash.to_string(),
        }
    }
}

/// The rule: a bill of lading, surrendered for amendment with reason `SWITCH_TO_PAPER`, that
/// surrender accepted by the carrier (status `SURRENDERED_FOR_AMENDMENT`, or `VOIDED` afterwards
/// without a replacement electronic bill), as both the state and the history show.
pub(super) fn switch_to_paper_evidence(
    doc: &DocumentState,
    key: &DocumentKey,
    history: &[HistoryEntry],
) -> Result<PaperEvidence, PdfError> {
    let refuse = |rule: String| PdfError::SwitchToPaperRefused {
        document: key.clone(),
        rule,
    };
    if doc.kind != DocumentKind::BillOfLading {
        return Err(refuse(format!(
            "only a bill of lading can change medium; this is a {}",
            doc.kind
        )));
    }
    if !matches!(doc.status, Status::SurrenderedForAmendment | Status::Voided) {
        return Err(refuse(format!(
            "the bill must have been surrendered for amendment with reason SWITCH_TO_PAPER and the surrender accepted; its status is {}",
            doc.status
        )));
    }
    let reason = doc.surrender.as_ref().and_then(|s| s.amendment_reason);
    if reason != Some(AmendmentReason::SwitchToPaper) {
        return Err(refuse(format!(
            "the accepted surrender for amendment gave reason {}, not SWITCH_TO_PAPER",
            reason.map_or("none".to_owned(), |r| dcsa::reason_code(r).to_owned())
        )));
    }
    if let Some(replacement) = &doc.amended_by {
        return Err(refuse(format!(
            "the bill was replaced by the electronic bill {replacement}; it cannot also go to paper"
        )));
    }
    // The history must show the request and, after it, the acceptance.
    let mut requested = None;
    let mut accepted = None;
    for entry in history {
        match &entry.event.kind {
            EventKind::SurrenderedForAmendment { reason } => {
                requested = (*reason == AmendmentReason::SwitchToPaper).then_some(entry);
                accepted = None;
            }
            EventKind::SurrenderAccepted {
                status: Status::SurrenderedForAmendment,
            } if requested.is_some() => accepted = Some(entry),
            EventKind::SurrenderRejected { .. } => {
                requested = None;
                accepted = None;
            }
            _ => {}
        }
    }
    match (requested, accepted) {
        (Some(requested), Some(accepted)) => Ok(PaperEvidence {
            requested: requested.into(),
            accepted: accepted.into(),
        }),
        _ => Err(refuse(
            "the history given does not show a SWITCH_TO_PAPER surrender and its acceptance"
                .to_owned(),
        )),
    }
}
