//! The tables of the goods: cargo (marks, packages, goods, weights), containers and seals, and
//! charges.

use super::particulars::Particulars;
use crate::pdf::layout::{Para, Table};

/// `{"value": "12000.5", "unit": "KGM"}` as `12000.5 KGM`.
fn measure(p: &mut Particulars, at: &str) -> Option<String> {
    let value = p.text(&format!("{at}/value"))?;
    Some(match p.text(&format!("{at}/unit")) {
        Some(unit) => format!("{value} {unit}"),
        None => value,
    })
}

/// Marks and numbers, packages, goods and weights: one row per consignment item; each cargo
/// item's packages beside its weight.
pub(super) fn cargo(p: &mut Particulars) -> Option<Table> {
    let columns = [
        (0.22, "Marks and numbers"),
        (0.22, "Number and kind of packages"),
        (0.36, "Description of goods"),
        (0.2, "Gross weight"),
    ];
    let mut rows = Vec::new();
    for i in 0..p.len("/consignmentItems") {
        let at = format!("/consignmentItems/{i}");
        let marks: Vec<Para> = p
            .texts(&format!("{at}/shippingMarks"))
            .into_iter()
            .map(Para::value)
            .collect();
        let mut goods: Vec<Para> = p
            .texts(&format!("{at}/descriptionOfGoods"))
            .into_iter()
            .map(Para::value)
            .collect();
        let hs = p.texts(&format!("{at}/HSCodes"));
        if !hs.is_empty() {
            goods.push(Para::detail(format!("HS code {}", hs.join(", "))));
        }
        let mut packages = Vec::new();
        let mut weights = Vec::new();
        for j in 0..p.len(&format!("{at}/cargoItems")) {
            let item = format!("{at}/cargoItems/{j}");
            let pack = format!("{item}/outerPackaging");
            let count = p.text(&format!("{pack}/numberOfPackages"));
            let kind = p.text(&format!("{pack}/description"));
            let code = p.text(&format!("{pack}/packageCode"));
            let mut text = [count, kind]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            if let Some(code) = code {
                text = if text.is_empty() {
                    code
                } else {
                    format!("{text} ({code})")
                };
            }
            let mut group = Vec::new();
            if !text.is_empty() {
                group.push(Para::value(text));
            }
            if let Some(container) = p.text(&format!("{item}/equipmentReference")) {
                group.push(Para::detail(format!("in {container}")));
            }
            packages.push(group);
            weights.push(
                measure(p, &format!("{item}/cargoGrossWeight"))
                    .map(Para::value)
                    .into_iter()
                    .collect(),
            );
        }
        rows.push(vec![vec![marks], packages, vec![goods], weights]);
    }
    Table::new(&columns, rows)
}

pub(super) fn containers(p: &mut Particulars) -> Option<Table> {
    let columns = [(0.3, "Container"), (0.25, "Size and type"), (0.45, "Seals")];
    let mut rows = Vec::new();
    for i in 0..p.len("/utilizedTransportEquipments") {
        let at = format!("/utilizedTransportEquipments/{i}");
        let number: Vec<Para> = p
            .text(&format!("{at}/equipment/equipmentReference"))
            .map(Para::strong)
            .into_iter()
            .collect();
        let mut kind: Vec<Para> = p
            .text(&format!("{at}/equipment/ISOEquipmentCode"))
            .map(Para::value)
            .into_iter()
            .collect();
        if p.flag(&format!("{at}/isShipperOwned")) == Some(true) {
            kind.push(Para::detail("Shipper-owned"));
        }
        if let Some(tare) = measure(p, &format!("{at}/equipment/tareWeight")) {
            kind.push(Para::detail(format!("Tare {tare}")));
        }
        let mut seals = Vec::new();
        for s in 0..p.len(&format!("{at}/seals")) {
            let seal = format!("{at}/seals/{s}");
            match (
                p.text(&format!("{seal}/number")),
                p.text(&format!("{seal}/source")),
            ) {
                (Some(n), Some(source)) => seals.push(Para::value(format!("{n} ({source})"))),
                (Some(n), None) => seals.push(Para::value(n)),
                _ => {}
            }
        }
        rows.push(vec![vec![number], vec![kind], vec![seals]]);
    }
    Table::new(&columns, rows)
}

pub(super) fn charges(p: &mut Particulars) -> Option<Table> {
    let columns = [
        (0.26, "Charge"),
        (0.18, "Basis"),
        (0.13, "Rate"),
        (0.1, "Quantity"),
        (0.19, "Amount"),
        (0.14, "Prepaid or collect"),
    ];
    let mut rows = Vec::new();
    for i in 0..p.len("/charges") {
        let at = format!("/charges/{i}");
        let mut cell = |field: &str| -> Vec<Vec<Para>> {
            vec![
                p.text(&format!("{at}/{field}"))
                    .map(Para::value)
                    .into_iter()
                    .collect(),
            ]
        };
        let name = cell("chargeName");
        let basis = cell("calculationBasis");
        let rate = cell("unitPrice");
        let quantity = cell("quantity");
        let amount = match (
            p.text(&format!("{at}/currencyAmount")),
            p.text(&format!("{at}/currencyCode")),
        ) {
            (Some(a), Some(c)) => vec![Para::value(format!("{a} {c}"))],
            (Some(a), None) => vec![Para::value(a)],
            (None, Some(c)) => vec![Para::value(c)],
            (None, None) => Vec::new(),
        };
        let terms = match p.text(&format!("{at}/paymentTermCode")).as_deref() {
            Some("PRE") => vec![Para::value("Prepaid")],
            Some("COL") => vec![Para::value("Collect")],
            Some(other) => vec![Para::value(other)],
            None => Vec::new(),
        };
        rows.push(vec![name, basis, rate, quantity, vec![amount], vec![terms]]);
    }
    Table::new(&columns, rows)
}
