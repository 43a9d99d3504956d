//! Pages as PDF operators: the marking band at the head of every page, the first page's heading
//! and QR code, the continuation heading of later pages, the footer with the checksum and the
//! page number, and the laid-out body.
//!
//! Not here: what the boxes say (`bill`) or where they go (`layout`).

use std::collections::{BTreeMap, BTreeSet};

use printpdf::{Color, Greyscale, Op, PaintMode, PdfFontHandle, Point, Pt, Rect, TextItem};
use qrcode::QrCode;

use super::fonts::Face;
use super::layout::{
    CONTENT_WIDTH_PT, Frame, Item, MARGIN_PT, PAGE_HEIGHT_PT, PAGE_WIDTH_PT, Para, SHADE, Style,
    wrap,
};

/// Height of the marking band at the head of every page.
const BAND_PT: f32 = 15.0;
/// Side of the QR code, its 4-module quiet zone included: 37 mm, so that a URL of about 150
/// characters (QR version 8 or 9) still has modules of 0.6 mm, which phone cameras read from a
/// printed page.
pub(super) const QR_SIDE_PT: f32 = 104.0;
/// Modules of light margin around the QR code (ISO/IEC 18004 asks for 4).
const QR_QUIET_MODULES: usize = 4;
/// Space between the heading's text and the QR code.
const BESIDE_QR_PT: f32 = 14.0;
/// Space below the marking band and below a page's heading.
const HEAD_GAP_PT: f32 = 8.0;
/// Baseline of the footer, in the bottom margin.
const FOOTER_BASELINE_PT: f32 = MARGIN_PT - 14.0;
/// Width of box outlines.
const RULE_PT: f32 = 0.5;

/// What every page's head and foot say.
pub(super) struct Furniture<'a> {
    /// The copy marking, or the paper-original marking.
    pub marking: &'a str,
    pub title: &'a str,
    pub subtitle: &'a str,
    /// `CARRIER/REFERENCE`.
    pub document: &'a str,
    pub checksum: &'a str,
    /// What the QR code encodes.
    pub qr_text: &'a str,
    /// Whether `qr_text` is the verification page's address.
    pub qr_is_url: bool,
}

fn band(items: &mut Vec<Item>, marking: &str) -> f32 {
    let top = PAGE_HEIGHT_PT - MARGIN_PT;
    items.push(Item::Frame {
        x: MARGIN_PT,
        y: top - BAND_PT,
        width: CONTENT_WIDTH_PT,
        height: BAND_PT,
        fill: Some(SHADE),
    });
    let text = Style::Band.face().printable(marking);
    let width = Style::Band.face().width_pt(&text, Style::Band.size_pt());
    items.push(Item::Text {
        x: MARGIN_PT + ((CONTENT_WIDTH_PT - width) / 2.0).max(3.0),
        // Centred: DejaVu Sans' capitals and x-height sit about 0.35 em above the baseline.
        baseline: top - BAND_PT / 2.0 - 0.35 * Style::Band.size_pt(),
        style: Style::Band,
        text,
    });
    top - BAND_PT - HEAD_GAP_PT
}

/// Lines placed top-down from `top` at `x`; returns where they end.
fn stack(items: &mut Vec<Item>, x: f32, top: f32, paras: &[Para], width_pt: f32) -> f32 {
    let mut y = top;
    for para in paras {
        for line in wrap(para, width_pt) {
            if !line.text.is_empty() {
                items.push(Item::Text {
                    x,
                    baseline: y - line.style.baseline_pt(),
                    style: line.style,
                    text: line.text,
                });
            }
            y -= line.height_pt;
        }
    }
    y
}

/// The first page's heading beside the QR code; returns the top of the body.
fn first_heading(items: &mut Vec<Item>, top: f32, f: &Furniture<'_>) -> f32 {
    let width = CONTENT_WIDTH_PT - QR_SIDE_PT - BESIDE_QR_PT;
    let mut paras = vec![
        Para::new(Style::Title, f.title),
        Para::value(f.subtitle),
        Para::detail(""),
        Para::new(
            Style::Label,
            "Document checksum (SHA-256 of the document's RFC 8785 canonical DCSA JSON)",
        ),
        Para::detail(f.checksum),
    ];
    if f.qr_is_url {
        paras.push(Para::new(Style::Label, "Verify this document"));
        // Broken before the checksum rather than wherever the line is full, so that a reader
        // can type it.
        match f.qr_text.rsplit_once('/') {
            Some((path, last)) => {
                paras.push(Para::detail(format!("{path}/")));
                paras.push(Para::detail(last));
            }
            None => paras.push(Para::detail(f.qr_text)),
        }
    } else {
        paras.push(Para::new(Style::Label, "Ledger reference"));
        match f.qr_text.split_once('?') {
            Some((record, query)) => {
                paras.push(Para::detail(record));
                paras.push(Para::detail(format!("?{query}")));
            }
            None => paras.push(Para::detail(f.qr_text)),
        }
    }
    let text_bottom = stack(items, MARGIN_PT, top, &paras, width);
    let mut qr_bottom = top - QR_SIDE_PT;
    if f.qr_is_url {
        let caption = "Scan to verify";
        let size = Style::Label.size_pt();
        let caption_width = Style::Label.face().width_pt(caption, size);
        // Below the code, clear of its quiet zone.
        items.push(Item::Text {
            x: PAGE_WIDTH_PT - MARGIN_PT - (QR_SIDE_PT + caption_width) / 2.0,
            baseline: qr_bottom - Style::Label.baseline_pt(),
            style: Style::Label,
            text: caption.to_owned(),
        });
        qr_bottom -= Style::Label.line_pt();
    }
    text_bottom.min(qr_bottom) - HEAD_GAP_PT
}

/// A later page's heading; returns the top of the body.
fn next_heading(items: &mut Vec<Item>, top: f32, f: &Furniture<'_>) -> f32 {
    let paras = [Para::new(
        Style::Heading,
        format!("{} {} (continued)", f.title, f.document),
    )];
    stack(items, MARGIN_PT, top, &paras, CONTENT_WIDTH_PT) - HEAD_GAP_PT / 2.0
}

/// Where the body goes on the first and on later pages.
pub(super) fn frame(f: &Furniture<'_>) -> Frame {
    let mut scratch = Vec::new();
    let top = band(&mut scratch, f.marking);
    Frame {
        first_top: first_heading(&mut scratch, top, f),
        next_top: next_heading(&mut scratch, top, f),
        bottom: MARGIN_PT,
    }
}

/// Each page's items: band, heading, body, footer.
pub(super) fn compose(bodies: Vec<Vec<Item>>, f: &Furniture<'_>) -> Vec<Vec<Item>> {
    let count = bodies.len();
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let mut items = Vec::new();
            let top = band(&mut items, f.marking);
            if i == 0 {
                first_heading(&mut items, top, f);
            } else {
                next_heading(&mut items, top, f);
            }
            items.extend(body);
            let left = Style::Footer
                .face()
                .printable(&format!("{} · SHA-256 {}", f.document, f.checksum));
            items.push(Item::Text {
                x: MARGIN_PT,
                baseline: FOOTER_BASELINE_PT,
                style: Style::Footer,
                text: left,
            });
            let right = format!("Page {} of {count}", i + 1);
            let width = Style::Footer
                .face()
                .width_pt(&right, Style::Footer.size_pt());
            items.push(Item::Text {
                x: PAGE_WIDTH_PT - MARGIN_PT - width,
                baseline: FOOTER_BASELINE_PT,
                style: Style::Footer,
                text: right,
            });
            items
        })
        .collect()
}

/// The characters each face draws on `pages`: what the embedded subsets must hold.
pub(super) fn characters(pages: &[Vec<Item>]) -> BTreeMap<Face, BTreeSet<char>> {
    let mut used: BTreeMap<Face, BTreeSet<char>> = BTreeMap::new();
    for item in pages.iter().flatten() {
        if let Item::Text { style, text, .. } = item {
            used.entry(style.face()).or_default().extend(text.chars());
        }
    }
    used
}

fn grey(level: f32) -> Color {
    Color::Greyscale(Greyscale {
        percent: level,
        icc_profile: None,
    })
}

/// The operators of one page.
pub(super) fn ops(items: &[Item]) -> Vec<Op> {
    let mut ops = vec![
        Op::SaveGraphicsState,
        Op::SetOutlineColor { col: grey(0.0) },
        Op::SetOutlineThickness { pt: Pt(RULE_PT) },
    ];
    for item in items {
        match item {
            Item::Frame {
                x,
                y,
                width,
                height,
                fill,
            } => {
                let rect = |mode| {
                    let mut rect = Rect::from_xywh(Pt(*x), Pt(*y), Pt(*width), Pt(*height));
                    rect.mode = Some(mode);
                    rect
                };
                if let Some(level) = fill {
                    ops.push(Op::SetFillColor { col: grey(*level) });
                    ops.push(Op::DrawRectangle {
                        rectangle: rect(PaintMode::Fill),
                    });
                }
                ops.push(Op::DrawRectangle {
                    rectangle: rect(PaintMode::Stroke),
                });
            }
            Item::Text {
                x,
                baseline,
                style,
                text,
            } => {
                ops.push(Op::SetFillColor {
                    col: grey(style.grey()),
                });
                ops.push(Op::StartTextSection);
                ops.push(Op::SetFont {
                    font: PdfFontHandle::External(style.face().resource()),
                    size: Pt(style.size_pt()),
                });
                ops.push(Op::SetTextCursor {
                    pos: Point {
                        x: Pt(*x),
                        y: Pt(*baseline),
                    },
                });
                ops.push(Op::ShowText {
                    items: vec![TextItem::Text(text.clone())],
                });
                ops.push(Op::EndTextSection);
            }
        }
    }
    ops.push(Op::RestoreGraphicsState);
    ops
}

/// Draws the QR code at the top right of the first page, below the band: one filled square per
/// dark module, inside its quiet zone.
pub(super) fn qr_ops(qr: &QrCode, ops: &mut Vec<Op>) {
    let modules = qr.width();
    let module_pt = QR_SIDE_PT / (modules + 2 * QR_QUIET_MODULES) as f32;
    let left = PAGE_WIDTH_PT - MARGIN_PT - QR_SIDE_PT;
    let top = PAGE_HEIGHT_PT - MARGIN_PT - BAND_PT - HEAD_GAP_PT;
    ops.push(Op::SaveGraphicsState);
    ops.push(Op::SetFillColor { col: grey(0.0) });
    for (i, color) in qr.to_colors().into_iter().enumerate() {
        if color != qrcode::Color::Dark {
            continue;
        }
        let (row, col) = (i / modules, i % modules);
        let x = left + (col + QR_QUIET_MODULES) as f32 * module_pt;
        let y = top - (row + QR_QUIET_MODULES + 1) as f32 * module_pt;
        let mut module = Rect::from_xywh(Pt(x), Pt(y), Pt(module_pt), Pt(module_pt));
        // printpdf paints nothing for a rectangle without a mode.
        module.mode = Some(PaintMode::Fill);
        ops.push(Op::DrawRectangle { rectangle: module });
    }
    ops.push(Op::RestoreGraphicsState);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dark_module_is_drawn() {
        let qr = QrCode::new(b"https://verify.example.org/verify/CARRIER/SLK-1/00").unwrap();
        let dark = qr
            .to_colors()
            .iter()
            .filter(|c| **c == qrcode::Color::Dark)
            .count();
        let mut ops = Vec::new();
        qr_ops(&qr, &mut ops);
        let drawn = ops
            .iter()
            .filter(|op| {
                matches!(op, Op::DrawRectangle { rectangle } if rectangle.mode == Some(PaintMode::Fill))
            })
            .count();
        assert_eq!(drawn, dark);
    }
}
