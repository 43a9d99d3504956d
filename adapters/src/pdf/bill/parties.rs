//! Parties, addresses and locations as a bill prints them: the consignee box of a to-order
//! bill, the carrier, the booking references.

use doc_workflow::DocumentState;

use super::particulars::Particulars;
use crate::dcsa::PartyNames;
use crate::pdf::layout::Para;

pub(super) fn booking_references(p: &mut Particulars) -> Vec<Para> {
    let mut seen = Vec::new();
    for i in 0..p.len("/consignmentItems") {
        if let Some(reference) = p.text(&format!("/consignmentItems/{i}/carrierBookingReference"))
            && !seen.contains(&reference)
        {
            seen.push(reference);
        }
    }
    seen.into_iter().map(Para::strong).collect()
}

/// The consignee box's label and lines, and the endorsee's lines when they need a box of their
/// own. A to-order bill reads "To order of" its consignee or, without one, its endorsee.
pub(super) fn consignee(
    p: &mut Particulars,
    to_order: bool,
) -> (&'static str, Vec<Para>, Vec<Para>) {
    let consignee = party(p, "/documentParties/consignee");
    if !to_order {
        let endorsee = party(p, "/documentParties/endorsee");
        return ("Consignee", consignee, endorsee);
    }
    let of = |mut lines: Vec<Para>| {
        if let Some(first) = lines.first_mut() {
            first.text = format!("To order of {}", first.text);
        }
        lines
    };
    if !consignee.is_empty() {
        let endorsee = party(p, "/documentParties/endorsee");
        return ("Consignee", of(consignee), endorsee);
    }
    let endorsee = party(p, "/documentParties/endorsee");
    if endorsee.is_empty() {
        return (
            "Consignee",
            vec![Para::strong("To order (blank endorsed)")],
            Vec::new(),
        );
    }
    ("Consignee", of(endorsee), Vec::new())
}

pub(super) fn carrier(p: &mut Particulars, doc: &DocumentState, names: &PartyNames) -> Vec<Para> {
    let mut lines = party(p, "/documentParties/issuingParty");
    if lines.is_empty() {
        lines.push(Para::strong(names.name(&doc.carrier).to_owned()));
    }
    match (p.text("/carrierCode"), p.text("/carrierCodeListProvider")) {
        (Some(code), Some(list)) => {
            lines.push(Para::detail(format!("Carrier code {code} ({list})")))
        }
        (Some(code), None) => lines.push(Para::detail(format!("Carrier code {code}"))),
        (None, Some(list)) => lines.push(Para::detail(format!("Carrier code list {list}"))),
        (None, None) => {}
    }
    lines
}

/// A DCSA party: its name, address, contacts, identifying codes and tax references.
pub(super) fn party(p: &mut Particulars, at: &str) -> Vec<Para> {
    let mut lines = Vec::new();
    if let Some(name) = p.text(&format!("{at}/partyName")) {
        lines.push(Para::strong(name));
    }
    lines.extend(address(p, &format!("{at}/address")));
    for line in p.texts(&format!("{at}/displayedAddress")) {
        lines.push(Para::value(line));
    }
    for i in 0..p.len(&format!("{at}/partyContactDetails")) {
        let here = format!("{at}/partyContactDetails/{i}");
        let parts: Vec<String> = ["name", "phone", "email"]
            .iter()
            .filter_map(|f| p.text(&format!("{here}/{f}")))
            .collect();
        if !parts.is_empty() {
            lines.push(Para::detail(format!("Contact: {}", parts.join(", "))));
        }
    }
    let mut codes = Vec::new();
    for i in 0..p.len(&format!("{at}/identifyingCodes")) {
        let here = format!("{at}/identifyingCodes/{i}");
        let provider = p.text(&format!("{here}/codeListProvider"));
        let code = p.text(&format!("{here}/partyCode"));
        let list = p.text(&format!("{here}/codeListName"));
        let mut text = [provider, code]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(list) = list {
            text.push_str(&format!(" ({list})"));
        }
        if !text.is_empty() {
            codes.push(text);
        }
    }
    if !codes.is_empty() {
        lines.push(Para::detail(format!("Party codes: {}", codes.join("; "))));
    }
    for i in 0..p.len(&format!("{at}/taxLegalReferences")) {
        let here = format!("{at}/taxLegalReferences/{i}");
        let parts: Vec<String> = ["type", "countryCode", "value"]
            .iter()
            .filter_map(|f| p.text(&format!("{here}/{f}")))
            .collect();
        if !parts.is_empty() {
            lines.push(Para::detail(format!(
                "Tax/legal reference: {}",
                parts.join(" ")
            )));
        }
    }
    lines
}

fn address(p: &mut Particulars, at: &str) -> Vec<Para> {
    let mut field = |name: &str| p.text(&format!("{at}/{name}"));
    let street = [field("street"), field("streetNumber")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let floor = field("floor").map(|f| format!("floor {f}"));
    let po_box = field("POBox").map(|b| format!("PO Box {b}"));
    let city = [field("postCode"), field("city")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let region = [field("stateRegion"), field("countryCode")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    let locode = field("UNLocationCode").map(|c| format!("UN/LOCODE {c}"));
    let first = [Some(street).filter(|s| !s.is_empty()), floor]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    [Some(first), po_box, Some(city), Some(region), locode]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .map(Para::value)
        .collect()
}

/// A DCSA location (port, place, place of issue): displayed name, name, UN/LOCODE, facility,
/// address, country.
pub(super) fn location(p: &mut Particulars, at: &str, displayed: &str) -> Vec<Para> {
    let mut lines: Vec<Para> = if displayed.is_empty() {
        Vec::new()
    } else {
        p.texts(displayed).into_iter().map(Para::strong).collect()
    };
    if let Some(name) = p.text(&format!("{at}/locationName")) {
        lines.push(Para::strong(name));
    }
    if let Some(free) = p.text(&format!("{at}/freeText")) {
        lines.push(Para::strong(free));
    }
    if let Some(code) = p.text(&format!("{at}/UNLocationCode")) {
        lines.push(if lines.is_empty() {
            Para::strong(code)
        } else {
            Para::detail(format!("UN/LOCODE {code}"))
        });
    }
    let facility = [
        p.text(&format!("{at}/facility/facilityCode")),
        p.text(&format!("{at}/facility/facilityCodeListProvider")),
    ];
    match facility {
        [Some(code), Some(list)] => lines.push(Para::detail(format!("Facility {code} ({list})"))),
        [Some(code), None] => lines.push(Para::detail(format!("Facility {code}"))),
        _ => {}
    }
    lines.extend(address(p, &format!("{at}/address")));
    if let Some(country) = p.text(&format!("{at}/countryCode")) {
        lines.push(Para::detail(format!("Country {country}")));
    }
    lines
}
