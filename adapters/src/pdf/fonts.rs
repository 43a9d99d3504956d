//! The typeface every rendering embeds: DejaVu Sans, regular and bold (`adapters/fonts/`, the
//! Bitstream Vera license in `adapters/fonts/LICENSE`).
//!
//! A proportional face, measured with its own advance widths: the boxes of a bill of lading are
//! narrow, and a monospace face would fit about a third fewer characters into each. printpdf
//! applies no kerning to plain text, so the sum of the advances is exactly the width drawn, and
//! wrapping stays exact.
//!
//! Each rendering embeds a subset holding only the glyphs it draws (a few dozen kilobytes instead
//! of 1.4 MB), with a `ToUnicode` map, so its text stays searchable and copyable. A character
//! the face lacks (CJK, for instance) is drawn as U+FFFD; the DCSA document embedded in the PDF
//! keeps it exactly.
//!
//! Not here: layout (see `layout`), or any font found on the machine: a rendering depends on
//! nothing but its input.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use allsorts::binary::read::ReadScope;
use allsorts::font_data::FontData;
use allsorts::subset::{CmapTarget, SubsetProfile};
use printpdf::{FontId, ParsedFont, PdfDocument, PdfFont};
use sha2::{Digest, Sha256};

const REGULAR_TTF: &[u8] = include_bytes!("../../fonts/DejaVuSans.ttf");
const BOLD_TTF: &[u8] = include_bytes!("../../fonts/DejaVuSans-Bold.ttf");

/// What a character the face cannot draw is drawn as.
const REPLACEMENT: char = '\u{FFFD}';

/// One embedded face.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Face {
    Regular,
    Bold,
}

impl Face {
    fn ttf(self) -> &'static [u8] {
        match self {
            Face::Regular => REGULAR_TTF,
            Face::Bold => BOLD_TTF,
        }
    }

    fn postscript_name(self) -> &'static str {
        match self {
            Face::Regular => "DejaVuSans",
            Face::Bold => "DejaVuSans-Bold",
        }
    }

    /// The page resource name. Fixed, not printpdf's generated one, which comes from a
    /// process-wide counter and would make the same input give different bytes.
    pub(super) fn resource(self) -> FontId {
        FontId(
            match self {
                Face::Regular => "F1",
                Face::Bold => "F2",
            }
            .to_owned(),
        )
    }

    /// The whole face, parsed once per process.
    fn parsed(self) -> &'static ParsedFont {
        static REGULAR: OnceLock<ParsedFont> = OnceLock::new();
        static BOLD: OnceLock<ParsedFont> = OnceLock::new();
        let cell = match self {
            Face::Regular => &REGULAR,
            Face::Bold => &BOLD,
        };
        cell.get_or_init(|| {
            ParsedFont::from_bytes(self.ttf(), 0, &mut Vec::new())
                .expect("the embedded DejaVu Sans parses (checked by a unit test)")
        })
    }

    fn glyph(self, c: char) -> Option<u16> {
        self.parsed()
            .lookup_glyph_index(u32::from(c))
            .filter(|gid| *gid != 0)
    }

    /// `text` with what this face cannot draw replaced: control characters by a space, missing
    /// glyphs by U+FFFD. Measuring and drawing the result agree exactly.
    pub(super) fn printable(self, text: &str) -> String {
        text.chars()
            .map(|c| {
                if c.is_control() {
                    ' '
                } else if self.glyph(c).is_some() {
                    c
                } else {
                    REPLACEMENT
                }
            })
            .collect()
    }

    /// The width of `text` (already [`Face::printable`]) at `size_pt`, from the face's advance
    /// widths.
    pub(super) fn width_pt(self, text: &str, size_pt: f32) -> f32 {
        let font = self.parsed();
        let units: u32 = text
            .chars()
            .map(|c| {
                let gid = font.lookup_glyph_index(u32::from(c)).unwrap_or(0);
                u32::from(font.get_glyph_width(gid).unwrap_or(0))
            })
            .sum();
        units as f32 * size_pt / f32::from(font.units_per_em)
    }
}

/// Embeds, for each face, the subset of glyphs `used` draws, under the face's fixed resource
/// name.
pub(super) fn embed(
    pdf: &mut PdfDocument,
    used: &BTreeMap<Face, BTreeSet<char>>,
) -> Result<(), String> {
    for (face, chars) in used {
        let glyphs: BTreeSet<u16> = chars.iter().filter_map(|c| face.glyph(*c)).collect();
        // Glyph 0 (.notdef) must come first, as the subsetter requires.
        let ids: Vec<u16> = std::iter::once(0).chain(glyphs).collect();
        let data = ReadScope::new(face.ttf())
            .read::<FontData<'_>>()
            .map_err(|e| format!("{}: {e:?}", face.postscript_name()))?;
        let provider = data
            .table_provider(0)
            .map_err(|e| format!("{}: {e:?}", face.postscript_name()))?;
        let bytes =
            allsorts::subset::subset(&provider, &ids, &SubsetProfile::Pdf, CmapTarget::Unicode)
                .map_err(|e| format!("subsetting {}: {e:?}", face.postscript_name()))?;
        let mut subset = ParsedFont::from_bytes(&bytes, 0, &mut Vec::new())
            .ok_or_else(|| format!("the subset of {} does not parse", face.postscript_name()))?;
        // ISO 32000-1 9.6.4: a subset's name starts with a six-letter tag, here derived from
        // the glyphs it holds so that the same text gives the same name.
        subset.font_name = Some(format!(
            "{}+{}",
            subset_tag(*face, &ids),
            face.postscript_name()
        ));
        pdf.resources
            .fonts
            .map
            .insert(face.resource(), PdfFont::new(subset));
    }
    Ok(())
}

fn subset_tag(face: Face, ids: &[u16]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(face.postscript_name().as_bytes());
    for id in ids {
        hasher.update(id.to_be_bytes());
    }
    hasher.finalize()[..6]
        .iter()
        .map(|b| char::from(b'A' + b % 26))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_faces_parse_and_measure_proportionally() {
        for face in [Face::Regular, Face::Bold] {
            let narrow = face.width_pt("iiii", 10.0);
            let wide = face.width_pt("WWWW", 10.0);
            assert!(narrow > 0.0 && wide > 2.0 * narrow, "{face:?}");
            // Widths add up: no kerning, no shaping.
            let sum = face.width_pt("ii", 10.0) + face.width_pt("WW", 10.0);
            assert!((face.width_pt("iiWW", 10.0) - sum).abs() < 1e-3);
        }
        assert!(Face::Bold.width_pt("Shipper", 10.0) > Face::Regular.width_pt("Shipper", 10.0));
    }

    #[test]
    fn what_the_face_cannot_draw_is_replaced() {
        assert_eq!(Face::Regular.printable("Gdańsk\tŁódź"), "Gdańsk Łódź");
        assert_eq!(Face::Regular.printable("上海"), "\u{FFFD}\u{FFFD}");
        assert!(Face::Regular.glyph(REPLACEMENT).is_some());
    }

    #[test]
    fn the_subset_tag_is_six_capitals_and_follows_the_glyphs() {
        let a = subset_tag(Face::Regular, &[0, 36, 37]);
        assert_eq!(a.len(), 6);
        assert!(a.chars().all(|c| c.is_ascii_uppercase()));
        assert_eq!(a, subset_tag(Face::Regular, &[0, 36, 37]));
        assert_ne!(a, subset_tag(Face::Regular, &[0, 36, 38]));
    }
}
