//! The record on the ledger: its status and holders, the endorsement chain with each entry's
//! ledger coordinates, and the marking (a copy, or the change-of-medium statement of a paper
//! original).

use doc_workflow::PartyCode;

use super::{CHANGE_OF_MEDIUM_STATEMENT, Record};
use crate::COPY_NOTICE;
use crate::dcsa::{ChainLink, PartyNames};
use crate::pdf::layout::{Block, BoxSpec, Para, Row, Table};
use crate::pdf::paper::ChainLinkAt;
use crate::time::iso8601_utc;

/// `ENDORSE_TO_ORDER` as "Endorse to order".
fn words(code: &str) -> String {
    let lower = code.replace('_', " ").to_lowercase();
    let mut chars = lower.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A party of the record: its name, and its code beneath when the name differs.
fn who(code: &PartyCode, names: &PartyNames) -> Vec<Para> {
    let name = names.name(code);
    if name == code.as_str() {
        vec![Para::value(code.as_str())]
    } else {
        vec![Para::value(name), Para::detail(code.as_str())]
    }
}

pub(super) fn ledger_row(blocks: &mut Vec<Block>, record: &Record<'_>) {
    let doc = record.doc;
    let mut status = vec![
        Para::strong(words(doc.status.code())),
        Para::detail(doc.status.code()),
        Para::detail(format!("since {}", iso8601_utc(doc.updated_at.ms()))),
        Para::detail(format!("{} actions recorded", doc.sequence)),
    ];
    if let Some(mode) = doc.mode {
        status.push(Para::detail(format!("Title: {}", words(&mode.to_string()))));
    }
    if let Some(amends) = &doc.amends {
        status.push(Para::detail(format!("Amends {amends}")));
    }
    if let Some(by) = &doc.amended_by {
        status.push(Para::detail(format!("Replaced by {by}")));
    }
    let held = doc
        .possessor
        .as_ref()
        .map(|p| who(p, record.names))
        .unwrap_or_default();
    let title = doc
        .endorsee
        .as_ref()
        .map(|p| who(p, record.names))
        .unwrap_or_default();
    if let Some(row) = Row::boxes(vec![
        BoxSpec::new(0.34, "Status", status),
        BoxSpec::new(0.33, "Held by (in control)", held),
        BoxSpec::new(0.33, "Title holder (endorsee)", title),
    ]) {
        blocks.push(Block::Row(row));
    }
}

/// The endorsement chain, oldest first, with each entry's ledger coordinates.
pub(super) fn chain(links: &[ChainLink], names: &PartyNames) -> Option<Table> {
    let columns = [
        (0.04, "No."),
        (0.14, "Date (UTC)"),
        (0.18, "Action"),
        (0.17, "By"),
        (0.17, "To"),
        // Wide enough for half a transaction hash on one line.
        (0.30, "Ledger entry"),
    ];
    let rows = links
        .iter()
        .enumerate()
        .map(|(i, link)| {
            let at = iso8601_utc(link.time_ms);
            let (date, time) = at.split_once('T').unwrap_or((&at, ""));
            let mut action = vec![
                Para::value(words(link.action_code)),
                Para::detail(link.action_code),
            ];
            if let Some(code) = link.reason_code {
                action.push(Para::detail(format!("reason {code}")));
            }
            if let Some(comment) = &link.comment {
                action.push(Para::detail(format!("comment: {comment}")));
            }
            let (first, second) = link.tx_hash.split_at(link.tx_hash.len() / 2);
            vec![
                vec![vec![Para::value((i + 1).to_string())]],
                vec![vec![
                    Para::value(date),
                    Para::detail(time.trim_end_matches('Z')),
                ]],
                vec![action],
                vec![who(&link.actor, names)],
                vec![
                    link.recipient
                        .as_ref()
                        .map(|r| who(r, names))
                        .unwrap_or_default(),
                ],
                vec![vec![
                    Para::detail(format!(
                        "block {}, position {}, transaction",
                        link.height, link.position
                    )),
                    Para::detail(first),
                    Para::detail(second),
                ]],
            ]
        })
        .collect();
    Table::new(&columns, rows)
}

fn party_label(code: &PartyCode, names: &PartyNames) -> String {
    let name = names.name(code);
    if name == code.as_str() {
        code.to_string()
    } else {
        format!("{name} ({code})")
    }
}

pub(super) fn marking(record: &Record<'_>) -> (&'static str, Vec<Para>) {
    let doc = record.doc;
    let Some(paper) = record.paper else {
        let mut lines = vec![
            Para::strong(COPY_NOTICE),
            Para::value(format!(
                "This is a rendering of an electronic record on the Silkline ledger as it stood at {}. It gives no title to the goods and no right to take delivery of them.",
                iso8601_utc(doc.updated_at.ms())
            )),
        ];
        if record.verify_url.is_some() {
            lines.push(Para::value(
                "Scan the QR code, or open the address printed beside it, to see whether the document is genuine and what state the record is in now.",
            ));
        }
        return ("Copy", lines);
    };
    let evidence = |what: &str, link: &ChainLinkAt| {
        Para::value(format!(
            "{what} by {} at {}, block {}, transaction {}.",
            party_label(&link.actor, record.names),
            iso8601_utc(link.time_ms),
            link.height,
            link.tx_hash
        ))
    };
    (
        "Change of medium",
        vec![
            Para::strong(CHANGE_OF_MEDIUM_STATEMENT),
            evidence(
                "Surrender for amendment (SWITCH_TO_PAPER)",
                &paper.requested,
            ),
            evidence("Surrender accepted", &paper.accepted),
        ],
    )
}
