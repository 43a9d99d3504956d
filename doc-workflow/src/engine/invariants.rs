//! The invariants every state the engine returns must hold.

use crate::release::RightStatus;
use crate::state::{DocumentKind, DocumentState, Mode, Status};

/// The invariants every state the engine returns must hold. Public so the ledger and the tests
/// can check stored states too.
pub fn check_invariants(state: &DocumentState) -> Result<(), String> {
    let fail = |what: &str| Err(format!("{}: {what}", state.id));
    if state.carrier != state.id.carrier {
        return fail("carrier differs from the id's carrier");
    }
    if state.kind == DocumentKind::CargoRelease {
        let Some(release) = &state.release else {
            return fail("a cargo release without details");
        };
        if state.possessor.is_some() || state.mode.is_some() || state.content.is_some() {
            return fail("a cargo release holds no title, possession or content");
        }
        if state.status == Status::Completed && !release.all_gated_out() {
            return fail("completed before every container gated out");
        }
        for (container, right) in &release.rights {
            if !release.bill_containers.contains(container) {
                return fail("a release right for a container the bill does not list");
            }
            // A right is spent exactly when a collection is recorded, withdrawn exactly when
            // a revocation is: one status, never two.
            if (right.status == RightStatus::Collected) != right.collected.is_some() {
                return fail("a right is collected exactly when a collection is recorded");
            }
            if (right.status == RightStatus::Revoked) != right.revoked.is_some() {
                return fail("a right is revoked exactly when a revocation is recorded");
            }
            if right.collected.is_some() && right.revoked.is_some() {
                return fail("a right is never both collected and revoked");
            }
        }
        return Ok(());
    }
    if state.content.is_none() || state.shipper.is_none() {
        return fail("a transport document without content or shipper");
    }
    let issued = state.status.is_issued_or_later();
    if issued != state.possessor.is_some() {
        return fail("a possessor exactly when issued");
    }
    if issued != state.mode.is_some() {
        return fail("a mode exactly when issued");
    }
    if (state.mode == Some(Mode::ToOrder)) != state.endorsee.is_some() {
        return fail("an endorsee exactly when to order");
    }
    if state.kind == DocumentKind::SeaWaybill && state.mode.is_some_and(|m| m != Mode::Straight) {
        return fail("a sea waybill is straight");
    }
    let pending = matches!(
        state.status,
        Status::PendingSurrenderForDelivery | Status::PendingSurrenderForAmendment
    );
    if pending && (state.surrender.is_none() || state.possessor.as_ref() != Some(&state.carrier)) {
        return fail("the carrier holds a bill pending surrender");
    }
    if let Some(pending) = &state.pending_transfer
        && state.possessor.as_ref() != Some(&pending.appointee)
    {
        return fail("the pending appointee possesses the bill");
    }
    Ok(())
}
