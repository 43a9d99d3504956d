//! Boxes, tables and text placed on pages: what is drawn where, before anything is drawn.
//!
//! A rendering is a column of [`Block`]s: rows of labelled boxes side by side (the form of a
//! bill of lading), tables whose column heads repeat on every page they continue on, and section
//! headings. Text is wrapped with the embedded face's advance widths ([`Face::width_pt`]), so a
//! line never runs out of its box. A row or table that does not fit continues on the next page
//! at a line boundary, each box labelled "(continued)"; a heading never ends a page.
//!
//! Not here: what the document says (`bill`) or how items become PDF operators (`draw`). This
//! module does no I/O and reads no clock; its output depends on its input only.

use super::PAGES_MAX;
use super::fonts::Face;

/// A4 portrait, in points (210 x 297 mm).
pub(super) const PAGE_WIDTH_PT: f32 = 595.28;
pub(super) const PAGE_HEIGHT_PT: f32 = 841.89;
/// 12.7 mm margins: inside what office printers can print.
pub(super) const MARGIN_PT: f32 = 36.0;
/// The width boxes and text share.
pub(super) const CONTENT_WIDTH_PT: f32 = PAGE_WIDTH_PT - 2.0 * MARGIN_PT;
/// Space inside a box, left and right of its text.
const PAD_X_PT: f32 = 3.5;
/// Space inside a box above its label and below its last line.
const PAD_TOP_PT: f32 = 2.5;
const PAD_BOTTOM_PT: f32 = 3.0;
/// Space between two groups of boxes.
pub(super) const GAP_PT: f32 = 6.0;
/// Fewest lines of a box placed before a page break: a box is not split to leave one line.
const LINES_BEFORE_BREAK_MIN: usize = 2;
/// Grey of the fill behind table heads and the marking band (1.0 is white).
pub(super) const SHADE: f32 = 0.9;

/// How a line of text looks: its face, size and the height of the line it occupies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    /// The document type at the head of the first page.
    Title,
    /// Plain text in a box.
    Value,
    /// The principal line of a box: a name, a number.
    Strong,
    /// Secondary detail: codes, addresses, hashes.
    Detail,
    /// A box's label, and a table's column heads.
    Label,
    /// A section heading between groups of boxes.
    Heading,
    /// The copy marking (or paper-original marking) at the head of every page.
    Band,
    /// The page footer.
    Footer,
}

impl Style {
    pub(super) fn face(self) -> Face {
        match self {
            Style::Title | Style::Strong | Style::Label | Style::Heading | Style::Band => {
                Face::Bold
            }
            Style::Value | Style::Detail | Style::Footer => Face::Regular,
        }
    }

    pub(super) fn size_pt(self) -> f32 {
        match self {
            Style::Title => 17.0,
            Style::Value | Style::Strong => 8.5,
            Style::Detail => 7.0,
            Style::Label => 6.2,
            Style::Heading => 9.5,
            Style::Band => 8.0,
            Style::Footer => 6.5,
        }
    }

    pub(super) fn line_pt(self) -> f32 {
        match self {
            Style::Title => 21.0,
            Style::Value | Style::Strong => 10.5,
            Style::Detail => 8.8,
            Style::Label => 8.0,
            Style::Heading => 15.0,
            Style::Band => 10.0,
            Style::Footer => 8.0,
        }
    }

    /// Text grey (0.0 is black): labels recede so that values read first.
    pub(super) fn grey(self) -> f32 {
        match self {
            Style::Label | Style::Footer => 0.3,
            _ => 0.0,
        }
    }

    /// Where the baseline sits below the top of a line: the text is centred in its line
    /// (DejaVu Sans rises 0.93 em above the baseline and falls 0.24 em below it).
    pub(super) fn baseline_pt(self) -> f32 {
        let size = self.size_pt();
        (self.line_pt() - 1.17 * size) / 2.0 + 0.93 * size
    }
}

/// Text before wrapping.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Para {
    pub style: Style,
    pub text: String,
}

impl Para {
    pub(super) fn new(style: Style, text: impl Into<String>) -> Para {
        Para {
            style,
            text: text.into(),
        }
    }
    pub(super) fn value(text: impl Into<String>) -> Para {
        Para::new(Style::Value, text)
    }
    pub(super) fn strong(text: impl Into<String>) -> Para {
        Para::new(Style::Strong, text)
    }
    pub(super) fn detail(text: impl Into<String>) -> Para {
        Para::new(Style::Detail, text)
    }
}

/// One placed line: printable text (possibly empty) and the height it takes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Line {
    pub style: Style,
    pub text: String,
    pub height_pt: f32,
}

impl Line {
    fn spacer(height_pt: f32) -> Line {
        Line {
            style: Style::Value,
            text: String::new(),
            height_pt,
        }
    }
}

/// Characters after which a word too wide for its line is broken first.
const BREAK_AFTER: &str = "_-/";

/// Splits `para` into lines no wider than `width_pt`, at spaces where it can; a word wider
/// than a line (a hash, a long code) is broken between characters.
pub(super) fn wrap(para: &Para, width_pt: f32) -> Vec<Line> {
    let style = para.style;
    let face = style.face();
    let size = style.size_pt();
    let fits = |s: &str| face.width_pt(s, size) <= width_pt;
    let line = |text: String| Line {
        style,
        text,
        height_pt: style.line_pt(),
    };
    let text = face.printable(&para.text);
    let mut out = Vec::new();
    let mut current = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let candidate = if current.is_empty() {
            word.to_owned()
        } else {
            format!("{current} {word}")
        };
        if fits(&candidate) {
            current = candidate;
            continue;
        }
        if !current.is_empty() {
            out.push(line(std::mem::take(&mut current)));
        }
        // The word alone: break it while it is too wide, after the last `_`, `-` or `/` that
        // fits (codes, references, URLs), else between characters. Each piece holds at least
        // one character, so this ends.
        let mut rest: Vec<char> = word.chars().collect();
        while !fits(&rest.iter().collect::<String>()) && rest.len() > 1 {
            let mut take = 1;
            while take < rest.len() && fits(&rest[..=take].iter().collect::<String>()) {
                take += 1;
            }
            if let Some(at) = rest[..take].iter().rposition(|c| BREAK_AFTER.contains(*c))
                && at > 0
            {
                take = at + 1;
            }
            out.push(line(rest.drain(..take).collect()));
        }
        current = rest.into_iter().collect();
    }
    if !current.is_empty() || out.is_empty() {
        out.push(line(current));
    }
    out
}

/// One box: an optional label over lines of text.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Cell {
    pub label: Option<String>,
    /// The label wrapped to the box's width.
    pub label_lines: Vec<Line>,
    pub lines: Vec<Line>,
}

impl Cell {
    fn new(label: Option<String>, lines: Vec<Line>, width_pt: f32) -> Cell {
        let label_lines = label
            .as_ref()
            .map(|l| wrap_all(&[Para::new(Style::Label, l.as_str())], width_pt))
            .unwrap_or_default();
        Cell {
            label,
            label_lines,
            lines,
        }
    }

    fn label_pt(&self) -> f32 {
        self.label_lines.iter().map(|l| l.height_pt).sum()
    }

    fn height_pt(&self) -> f32 {
        PAD_TOP_PT
            + self.label_pt()
            + self.lines.iter().map(|l| l.height_pt).sum::<f32>()
            + PAD_BOTTOM_PT
    }

    /// How many of the lines fit in `height_pt`.
    fn lines_within(&self, height_pt: f32) -> usize {
        let mut room = height_pt - PAD_TOP_PT - self.label_pt() - PAD_BOTTOM_PT;
        let mut count = 0;
        for line in &self.lines {
            if line.height_pt > room {
                break;
            }
            room -= line.height_pt;
            count += 1;
        }
        count
    }
}

/// Boxes side by side, all as tall as the tallest.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Row {
    pub widths_pt: Vec<f32>,
    pub cells: Vec<Cell>,
    /// Filled grey: a table's column heads.
    pub shaded: bool,
}

/// One box of a row before wrapping: its share of the width, its label and its paragraphs.
pub(super) struct BoxSpec {
    pub share: f32,
    pub label: String,
    pub paras: Vec<Para>,
}

impl BoxSpec {
    pub(super) fn new(share: f32, label: impl Into<String>, paras: Vec<Para>) -> BoxSpec {
        BoxSpec {
            share,
            label: label.into(),
            paras,
        }
    }
}

/// Column widths in points for `shares`, scaled to fill the content width: a row whose other
/// boxes are absent lets the present ones take their room.
fn widths(shares: &[f32]) -> Vec<f32> {
    let total: f32 = shares.iter().sum();
    shares
        .iter()
        .map(|s| CONTENT_WIDTH_PT * s / total)
        .collect()
}

fn wrap_all(paras: &[Para], width_pt: f32) -> Vec<Line> {
    let inner = width_pt - 2.0 * PAD_X_PT;
    paras.iter().flat_map(|p| wrap(p, inner)).collect()
}

impl Row {
    /// A row of the boxes that have something to say; `None` when none has.
    pub(super) fn boxes(specs: Vec<BoxSpec>) -> Option<Row> {
        let specs: Vec<BoxSpec> = specs.into_iter().filter(|s| !s.paras.is_empty()).collect();
        if specs.is_empty() {
            return None;
        }
        let widths_pt = widths(&specs.iter().map(|s| s.share).collect::<Vec<_>>());
        let cells = specs
            .iter()
            .zip(&widths_pt)
            .map(|(spec, width)| {
                Cell::new(
                    Some(spec.label.clone()),
                    wrap_all(&spec.paras, *width),
                    *width,
                )
            })
            .collect();
        Some(Row {
            widths_pt,
            cells,
            shaded: false,
        })
    }

    pub(super) fn height_pt(&self) -> f32 {
        self.cells.iter().map(Cell::height_pt).fold(0.0, f32::max)
    }

    /// The smallest part of this row worth placing before a page break.
    fn min_height_pt(&self) -> f32 {
        let head = self.cells.iter().map(|cell| {
            let lines = cell.lines.len().min(LINES_BEFORE_BREAK_MIN);
            PAD_TOP_PT
                + cell.label_pt()
                + cell.lines[..lines].iter().map(|l| l.height_pt).sum::<f32>()
                + PAD_BOTTOM_PT
        });
        head.fold(0.0, f32::max)
    }

    /// Splits the row so that its first part fits in `height_pt`; `None` when nothing fits or,
    /// unless `forced`, when the part that fits is not worth placing (fewer than
    /// [`LINES_BEFORE_BREAK_MIN`] lines of a box). The second part's boxes are labelled
    /// "(continued)".
    fn split(&self, height_pt: f32, forced: bool) -> Option<(Row, Row)> {
        let counts: Vec<usize> = self
            .cells
            .iter()
            .map(|c| c.lines_within(height_pt))
            .collect();
        let worthwhile = self
            .cells
            .iter()
            .zip(&counts)
            .all(|(cell, n)| *n >= cell.lines.len().min(LINES_BEFORE_BREAK_MIN));
        if (!worthwhile && !forced) || counts.iter().sum::<usize>() == 0 {
            return None;
        }
        let mut head = self.clone();
        let mut tail = self.clone();
        for (((h, t), n), width) in head
            .cells
            .iter_mut()
            .zip(&mut tail.cells)
            .zip(counts)
            .zip(&self.widths_pt)
        {
            h.lines.truncate(n);
            let rest = t.lines.split_off(n);
            let label = match (&t.label, rest.is_empty()) {
                (Some(label), false) => Some(format!("{label} (continued)")),
                _ => None,
            };
            *t = Cell::new(label, rest, *width);
        }
        Some((head, tail))
    }
}

/// A table: column heads, then one row per entry; the heads repeat on every page it continues on.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Table {
    pub head: Row,
    pub rows: Vec<Row>,
}

impl Table {
    /// A table of `columns` (share of the width, head) and `rows` of cells, each cell a list of
    /// groups of paragraphs. Groups at the same position line up across the cells of a row (a
    /// cargo item's packages beside its weight). Columns with nothing in any row are left out;
    /// `None` when no row has anything.
    pub(super) fn new(columns: &[(f32, &str)], rows: Vec<Vec<Vec<Vec<Para>>>>) -> Option<Table> {
        let present: Vec<usize> = (0..columns.len())
            .filter(|c| {
                rows.iter().any(|row| {
                    row.get(*c)
                        .is_some_and(|groups| groups.iter().any(|g| !g.is_empty()))
                })
            })
            .collect();
        if present.is_empty() {
            return None;
        }
        let widths_pt = widths(&present.iter().map(|c| columns[*c].0).collect::<Vec<_>>());
        let head = Row {
            widths_pt: widths_pt.clone(),
            cells: present
                .iter()
                .zip(&widths_pt)
                .map(|(c, width)| Cell::new(Some(columns[*c].1.to_owned()), Vec::new(), *width))
                .collect(),
            shaded: true,
        };
        let rows = rows
            .into_iter()
            .map(|row| {
                let wrapped: Vec<Vec<Vec<Line>>> = present
                    .iter()
                    .zip(&widths_pt)
                    .map(|(c, width)| {
                        row.get(*c)
                            .map(|groups| groups.iter().map(|g| wrap_all(g, *width)).collect())
                            .unwrap_or_default()
                    })
                    .collect();
                Row {
                    widths_pt: widths_pt.clone(),
                    cells: align_groups(wrapped)
                        .into_iter()
                        .map(|lines| Cell {
                            label: None,
                            label_lines: Vec::new(),
                            lines,
                        })
                        .collect(),
                    shaded: false,
                }
            })
            .collect();
        Some(Table { head, rows })
    }
}

/// Pads each cell's groups so that group `k` starts at the same height in every cell.
fn align_groups(cells: Vec<Vec<Vec<Line>>>) -> Vec<Vec<Line>> {
    let groups = cells.iter().map(Vec::len).max().unwrap_or(0);
    let height = |g: &[Line]| g.iter().map(|l| l.height_pt).sum::<f32>();
    let tallest: Vec<f32> = (0..groups)
        .map(|k| {
            cells
                .iter()
                .filter_map(|c| c.get(k))
                .map(|g| height(g))
                .fold(0.0, f32::max)
        })
        .collect();
    cells
        .into_iter()
        .map(|cell| {
            let count = cell.len();
            let mut lines = Vec::new();
            for (k, group) in cell.into_iter().enumerate() {
                let short = tallest[k] - height(&group);
                lines.extend(group);
                // The last group needs no padding: nothing follows it.
                if short > 0.01 && k + 1 < count {
                    lines.push(Line::spacer(short));
                }
            }
            lines
        })
        .collect()
}

/// What the body of a rendering is made of, top to bottom.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Block {
    Row(Row),
    Table(Table),
    /// A section heading; it stays on the page of what it heads.
    Heading(String),
    /// Vertical space; dropped at the top of a page.
    Gap(f32),
}

/// Something drawn, in page coordinates (points from the bottom left).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Item {
    Text {
        x: f32,
        baseline: f32,
        style: Style,
        text: String,
    },
    /// A box outline, filled grey first when `fill` is given.
    Frame {
        x: f32,
        y: f32,
        width: f32,
        height: f32,
        fill: Option<f32>,
    },
}

/// Where the body may go: from `first_top` (page 1, below its header) or `next_top` (later
/// pages, below theirs) down to `bottom`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Frame {
    pub first_top: f32,
    pub next_top: f32,
    pub bottom: f32,
}

/// The layout needed more than [`PAGES_MAX`] pages.
#[derive(Debug)]
pub(super) struct TooManyPages;

struct Cursor {
    frame: Frame,
    pages: Vec<Vec<Item>>,
    y: f32,
}

impl Cursor {
    fn top(&self) -> f32 {
        if self.pages.len() == 1 {
            self.frame.first_top
        } else {
            self.frame.next_top
        }
    }

    fn room(&self) -> f32 {
        self.y - self.frame.bottom
    }

    fn at_top(&self) -> bool {
        (self.y - self.top()).abs() < 0.01
    }

    fn new_page(&mut self) -> Result<(), TooManyPages> {
        if self.pages.len() >= PAGES_MAX {
            return Err(TooManyPages);
        }
        self.pages.push(Vec::new());
        self.y = self.frame.next_top;
        Ok(())
    }

    fn place_row(&mut self, row: &Row) {
        let height = row.height_pt();
        let page = self.pages.last_mut().expect("a page is open");
        let mut x = MARGIN_PT;
        for (cell, width) in row.cells.iter().zip(&row.widths_pt) {
            page.push(Item::Frame {
                x,
                y: self.y - height,
                width: *width,
                height,
                fill: row.shaded.then_some(SHADE),
            });
            let mut top = self.y - PAD_TOP_PT;
            for line in cell.label_lines.iter().chain(&cell.lines) {
                if !line.text.is_empty() {
                    page.push(Item::Text {
                        x: x + PAD_X_PT,
                        baseline: top - line.style.baseline_pt(),
                        style: line.style,
                        text: line.text.clone(),
                    });
                }
                top -= line.height_pt;
            }
            x += width;
        }
        self.y -= height;
    }

    /// Places `row`, splitting it over as many pages as it needs; `head` (a table's column
    /// heads) is placed first on every page the row continues on.
    fn flow_row(&mut self, row: &Row, head: Option<&Row>) -> Result<(), TooManyPages> {
        let head_pt = head.map_or(0.0, Row::height_pt);
        let mut rest = row.clone();
        // Each round places at least one line (a fresh page holds two lines of every box) or
        // opens a page; both are bounded, by the row's lines and by PAGES_MAX.
        loop {
            let room = self.room();
            if rest.height_pt() <= room {
                self.place_row(&rest);
                return Ok(());
            }
            // On an empty page, place whatever fits, however little: waiting would not help.
            if let Some((first, second)) = rest.split(room, self.at_top()) {
                self.place_row(&first);
                rest = second;
            }
            self.new_page()?;
            if let Some(head) = head {
                self.place_row(head);
            }
            debug_assert!(self.room() > head_pt);
        }
    }
}

/// The smallest height `block` needs to start on a page.
fn min_height_pt(block: &Block) -> f32 {
    match block {
        Block::Row(row) => row.min_height_pt(),
        Block::Table(table) => {
            table.head.height_pt() + table.rows.first().map_or(0.0, Row::min_height_pt)
        }
        Block::Heading(_) => Style::Heading.line_pt(),
        Block::Gap(_) => 0.0,
    }
}

/// Places `blocks` on pages: the items of each page's body.
pub(super) fn paginate(blocks: &[Block], frame: Frame) -> Result<Vec<Vec<Item>>, TooManyPages> {
    let mut cursor = Cursor {
        frame,
        pages: vec![Vec::new()],
        y: frame.first_top,
    };
    for (i, block) in blocks.iter().enumerate() {
        match block {
            Block::Gap(pt) => {
                if !cursor.at_top() {
                    cursor.y -= pt.min(cursor.room());
                }
            }
            Block::Heading(text) => {
                // A heading moves to the next page with what it heads.
                let next = blocks.get(i + 1).map_or(0.0, min_height_pt);
                if Style::Heading.line_pt() + next > cursor.room() && !cursor.at_top() {
                    cursor.new_page()?;
                }
                let page = cursor.pages.last_mut().expect("a page is open");
                page.push(Item::Text {
                    x: MARGIN_PT,
                    baseline: cursor.y - Style::Heading.line_pt() + 4.0,
                    style: Style::Heading,
                    text: Style::Heading.face().printable(text),
                });
                cursor.y -= Style::Heading.line_pt();
            }
            Block::Row(row) => {
                if row.min_height_pt() > cursor.room() && !cursor.at_top() {
                    cursor.new_page()?;
                }
                cursor.flow_row(row, None)?;
            }
            Block::Table(table) => {
                if min_height_pt(block) > cursor.room() && !cursor.at_top() {
                    cursor.new_page()?;
                }
                cursor.place_row(&table.head);
                for row in &table.rows {
                    if row.min_height_pt() > cursor.room() {
                        cursor.new_page()?;
                        cursor.place_row(&table.head);
                    }
                    cursor.flow_row(row, Some(&table.head))?;
                }
            }
        }
    }
    Ok(cursor.pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(page: &[Item]) -> Vec<String> {
        page.iter()
            .filter_map(|item| match item {
                Item::Text { text, .. } => Some(text.clone()),
                Item::Frame { .. } => None,
            })
            .collect()
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_hard_breaks_long_words() {
        let width = Face::Regular.width_pt("Port of loading", 8.5) + 0.01;
        let lines = wrap(&Para::value("Port of loading Port of discharge"), width);
        let text: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(text, ["Port of loading", "Port of", "discharge"]);
        let hash = "0123456789abcdef".repeat(4);
        let narrow = Face::Regular.width_pt("0123456789", 8.5) + 0.01;
        let lines = wrap(&Para::value(hash.clone()), narrow);
        assert!(lines.len() >= 6);
        assert_eq!(
            lines.iter().map(|l| l.text.as_str()).collect::<String>(),
            hash
        );
        for line in &lines {
            assert!(Face::Regular.width_pt(&line.text, 8.5) <= narrow);
        }
        assert_eq!(wrap(&Para::value(""), 10.0).len(), 1);
        let code = Face::Regular.width_pt("SURRENDER_FOR_AMEN", 7.0);
        let lines = wrap(&Para::detail("SURRENDER_FOR_AMENDMENT"), code);
        let text: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(text, ["SURRENDER_FOR_", "AMENDMENT"]);
    }

    #[test]
    fn absent_boxes_give_their_room_to_the_present_ones() {
        let row = Row::boxes(vec![
            BoxSpec::new(0.5, "Shipper", vec![Para::value("A")]),
            BoxSpec::new(0.25, "Booking", vec![]),
            BoxSpec::new(0.25, "Number", vec![Para::value("B")]),
        ])
        .unwrap();
        assert_eq!(row.cells.len(), 2);
        let total: f32 = row.widths_pt.iter().sum();
        assert!((total - CONTENT_WIDTH_PT).abs() < 0.01);
        assert!(Row::boxes(vec![BoxSpec::new(1.0, "Empty", vec![])]).is_none());
    }

    #[test]
    fn a_label_wider_than_its_box_wraps_inside_it() {
        let table = Table::new(
            &[
                (0.1, "Prepaid or collect, with a long head"),
                (0.9, "Charge"),
            ],
            vec![vec![
                vec![vec![Para::value("Prepaid")]],
                vec![vec![Para::value("Freight")]],
            ]],
        )
        .unwrap();
        let head = &table.head.cells[0];
        assert!(head.label_lines.len() > 1);
        let inner = table.head.widths_pt[0] - 2.0 * PAD_X_PT;
        for line in &head.label_lines {
            assert!(Face::Bold.width_pt(&line.text, Style::Label.size_pt()) <= inner);
        }
        assert!(table.head.height_pt() > table.head.cells[1].height_pt());
    }

    #[test]
    fn groups_line_up_across_cells() {
        let table = Table::new(
            &[(0.5, "Packages"), (0.5, "Weight"), (0.5, "Never")],
            vec![vec![
                vec![
                    vec![Para::value("120 Cartons"), Para::detail("CARU1000003")],
                    vec![Para::value("80 Crates")],
                ],
                vec![
                    vec![Para::value("12000 KGM")],
                    vec![Para::value("9800 KGM")],
                ],
            ]],
        )
        .unwrap();
        assert_eq!(table.head.cells.len(), 2, "the empty column is left out");
        let row = &table.rows[0];
        let offset = |cell: &Cell, text: &str| {
            let at = cell.lines.iter().position(|l| l.text == text).unwrap();
            cell.lines[..at].iter().map(|l| l.height_pt).sum::<f32>()
        };
        assert_eq!(
            offset(&row.cells[0], "80 Crates"),
            offset(&row.cells[1], "9800 KGM")
        );
    }

    #[test]
    fn a_long_table_continues_with_its_heads_and_a_heading_never_ends_a_page() {
        let rows = (0..200)
            .map(|i| vec![vec![vec![Para::value(format!("line {i}"))]]])
            .collect();
        let table = Table::new(&[(1.0, "Description of goods")], rows).unwrap();
        let frame = Frame {
            first_top: 700.0,
            next_top: 780.0,
            bottom: 40.0,
        };
        let blocks = vec![
            Block::Table(table),
            Block::Heading("Record".into()),
            Block::Row(
                Row::boxes(vec![BoxSpec::new(
                    1.0,
                    "Status",
                    vec![Para::value("ISSUED")],
                )])
                .unwrap(),
            ),
        ];
        let pages = paginate(&blocks, frame).unwrap();
        assert!(pages.len() > 2);
        for page in &pages {
            let texts = texts(page);
            assert_eq!(
                texts
                    .iter()
                    .filter(|t| *t == "Description of goods")
                    .count(),
                usize::from(texts.iter().any(|t| t.starts_with("line ")))
            );
            for item in page {
                if let Item::Frame { y, .. } = item {
                    assert!(*y >= frame.bottom - 0.01, "a box runs past the bottom");
                }
            }
        }
        let all: Vec<String> = pages.iter().flat_map(|p| texts(p)).collect();
        for i in [0, 99, 199] {
            assert!(all.contains(&format!("line {i}")));
        }
        let last = texts(pages.last().unwrap());
        let heading = last.iter().position(|t| t == "Record");
        let status = last.iter().position(|t| t == "ISSUED");
        assert!(heading.is_some() && status.is_some() && heading < status);
    }

    #[test]
    fn a_box_taller_than_a_page_is_split_and_labelled_continued() {
        let paras = (0..150).map(|i| Para::value(format!("mark {i}"))).collect();
        let row = Row::boxes(vec![BoxSpec::new(1.0, "Marks and numbers", paras)]).unwrap();
        let frame = Frame {
            first_top: 800.0,
            next_top: 800.0,
            bottom: 40.0,
        };
        let pages = paginate(&[Block::Row(row)], frame).unwrap();
        assert_eq!(pages.len(), 3);
        assert!(texts(&pages[0]).contains(&"Marks and numbers".to_owned()));
        assert!(texts(&pages[1]).contains(&"Marks and numbers (continued)".to_owned()));
        let count: usize = pages
            .iter()
            .map(|p| texts(p).iter().filter(|t| t.starts_with("mark ")).count())
            .sum();
        assert_eq!(count, 150);
    }
}
