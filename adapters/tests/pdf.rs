//! PDF renderings read back the way a person or another program would: poppler's `pdftotext`
//! (every box label with its value beneath it), `pdftoppm` and zbar's `zbarimg` (the QR code
//! decodes to the verification URL), `pdffonts` (embedded subsets), `pdfdetach` (the attached
//! DCSA document), and the rendered pages compared with the reference images in
//! `tests/data/pdf/` so that a change of layout shows in review. Also: pagination, the copy
//! marking, determinism and the switch-to-paper rule.
//!
//! Regenerate the reference images after a deliberate layout change with
//! `SILKLINE_UPDATE_REFERENCES=1 cargo test -p adapters --test integration -- reference_images`.

use crate::common;
#[path = "support/sample_bill.rs"]
mod sample_bill;

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use adapters::COPY_NOTICE;
use adapters::dcsa::{PartyNames, checksum};
use adapters::pdf::{ATTACHMENT_NAME, PAPER_ORIGINAL_MARKING, PdfError, RenderOptions, render};
use anyhow::{Context, Result, bail, ensure};
use common::*;
use doc_workflow::{AmendmentReason, Command, DocumentId, DocumentKey};
use sample_bill::{SAMPLE_REFERENCE, VERIFY_BASE_URL, data_dir, sample_bill, sample_options};
use serde_json::{Value, json};

/// Runs a poppler or zbar tool and returns its standard output.
fn tool(program: &str, args: &[&str]) -> Result<Vec<u8>> {
    let out = Process::new(program).args(args).output().with_context(|| {
        format!(
            "{program} must be installed (poppler-utils, zbar-tools); scripts/test installs them"
        )
    })?;
    ensure!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out.stdout)
}

fn write_pdf(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let path = dir.join(format!("{name}.pdf"));
    std::fs::write(&path, bytes)?;
    Ok(path)
}

fn arg(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// The text of a PDF (or of its pages `first..=last`), with runs of whitespace collapsed.
fn pdf_text(path: &Path, pages: Option<(usize, usize)>) -> Result<String> {
    let (first, last) = pages.map_or((String::new(), String::new()), |(f, l)| {
        (f.to_string(), l.to_string())
    });
    let mut args = Vec::new();
    if pages.is_some() {
        args.extend(["-f", first.as_str(), "-l", last.as_str()]);
    }
    args.extend([arg(path), "-"]);
    Ok(collapse(&String::from_utf8(tool("pdftotext", &args)?)?))
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn page_count(path: &Path) -> Result<usize> {
    let info = String::from_utf8(tool("pdfinfo", &[arg(path)])?)?;
    let pages = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .context("pdfinfo prints Pages:")?;
    Ok(pages.trim().parse()?)
}

/// A text line of `pdftotext -layout` as its cells: runs of text separated by two or more
/// spaces, each with the column it starts at.
fn cells(line: &str) -> Vec<(usize, String)> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == ' ' {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i;
        while end < chars.len() && !(chars[end] == ' ' && chars.get(end + 1) == Some(&' ')) {
            end += 1;
        }
        out.push((
            start,
            chars[start..end]
                .iter()
                .collect::<String>()
                .trim_end()
                .to_owned(),
        ));
        i = end;
    }
    out
}

/// A rendering as `pdftotext -layout` lays it out: lines of cells.
struct Layout(Vec<Vec<(usize, String)>>);

/// How far below its label a box's value may be: the longest box of the sample has 7 lines.
const VALUE_LINES_BELOW_LABEL_MAX: usize = 8;
/// Text lines of a page as `pdftotext -layout` prints them (about 80 at most).
const PAGE_LINES_MAX: usize = 100;
/// How far a value's column may be from its label's: `pdftotext -layout` maps points to
/// character columns by the average character width, so text set at different sizes from the
/// same x can land a column or two apart.
const COLUMN_SLACK: usize = 3;

impl Layout {
    fn read(path: &Path) -> Result<Layout> {
        let text = String::from_utf8(tool("pdftotext", &["-layout", arg(path), "-"])?)?;
        Ok(Layout(text.lines().map(cells).collect()))
    }

    fn positions(&self, text: &str) -> Vec<(usize, usize)> {
        self.0
            .iter()
            .enumerate()
            .flat_map(|(line, cells)| {
                cells
                    .iter()
                    .filter(|(_, t)| t == text)
                    .map(move |(col, _)| (line, *col))
            })
            .collect()
    }

    /// Whether some cell `label` has `value` as a cell below it, in its column, within the
    /// lines of one box.
    fn has_below(&self, label: &str, value: &str) -> bool {
        self.within(label, value, VALUE_LINES_BELOW_LABEL_MAX)
    }

    /// Whether some column head `label` has `value` in its column, anywhere on its page.
    fn column_has(&self, label: &str, value: &str) -> bool {
        self.within(label, value, PAGE_LINES_MAX)
    }

    fn within(&self, label: &str, value: &str, lines: usize) -> bool {
        self.positions(label).into_iter().any(|(line, col)| {
            self.0
                .iter()
                .enumerate()
                .skip(line + 1)
                .take(lines)
                .any(|(_, cells)| {
                    cells
                        .iter()
                        .any(|(c, t)| t == value && c.abs_diff(col) <= COLUMN_SLACK)
                })
        })
    }

    fn has(&self, text: &str) -> bool {
        !self.positions(text).is_empty()
    }
}

/// Every string and number of `value`, except what the rendering prints in words (codes).
fn printed_leaves(value: &Value, key: &str, out: &mut Vec<String>) {
    const IN_WORDS: [&str; 3] = [
        "freightPaymentTermCode",
        "paymentTermCode",
        "transportDocumentTypeCode",
    ];
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| printed_leaves(v, k, out)),
        Value::Array(items) => items.iter().for_each(|v| printed_leaves(v, key, out)),
        Value::String(s) if !IN_WORDS.contains(&key) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        _ => {}
    }
}

fn issue(world: &mut World, reference: &str, content: Value, to: &str) -> DocumentId {
    let id = id(reference);
    world.ok(
        &carrier(),
        &id,
        Command::Issue {
            content: Some(content),
            issue_to: party(to),
        },
    );
    id
}

#[test]
fn every_box_of_the_form_shows_its_value_beneath_its_label() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut world = World::default();
    let id = sample_bill(&mut world);
    let bytes = render(world.bill(&id), world.bill_history(&id), &sample_options())?;
    assert!(bytes.starts_with(b"%PDF-"));
    let path = write_pdf(dir.path(), "sample", &bytes)?;
    let layout = Layout::read(&path)?;

    for (label, value) in [
        ("Shipper", "Shipper Exports Ltd"),
        ("Shipper", "Pudong Avenue 1200, floor 8"),
        ("Bill of lading number", "SLK-SAMPLE-001"),
        ("Carrier's booking reference", "BKG-SHA-558201"),
        ("Consignee", "To order of Shipper Exports Ltd"),
        ("Carrier", "Carrier Line A/S"),
        ("Carrier", "Carrier code CARR (SMDG)"),
        ("Notify party", "Notify Agent BV"),
        ("Vessel and voyage", "Silkline Voyager"),
        ("Vessel and voyage", "Voyage 2511W (universal 2511W)"),
        ("Port of loading", "CNSHA"),
        ("Port of discharge", "Rotterdam, Netherlands"),
        ("Place of receipt", "Suzhou Industrial Park depot"),
        ("Place of delivery", "Duisburg inland terminal"),
        ("Marks and numbers", "SEL/RTM 2511"),
        ("Number and kind of packages", "120 Cartons (CT)"),
        ("Description of goods", "Bicycles, unassembled, in cartons"),
        ("Gross weight", "12000.5 KGM"),
        ("Container", "CARU1000003"),
        ("Size and type", "42G1"),
        ("Seals", "SL000001 (CAR)"),
        ("Charge", "Ocean freight"),
        ("Amount", "2450.75 USD"),
        ("Prepaid or collect", "Prepaid"),
        ("Freight terms", "Freight prepaid"),
        ("Number of originals", "1 original(s) with charges"),
        ("Place and date of issue", "Shanghai"),
        ("Place and date of issue", "2025-03-14"),
        ("Shipped on board date", "2025-03-13"),
        ("Further particulars", "Receipt type at origin: CY"),
        ("Status", "Issued"),
        ("Held by (in control)", "First Trade Bank"),
        ("Title holder (endorsee)", "First Trade Bank"),
        ("Action", "Issue"),
        ("Action", "Endorse to order"),
        ("Copy", COPY_NOTICE),
    ] {
        assert!(
            layout.has_below(label, value),
            "{value:?} is not beneath {label:?}"
        );
    }
    // A field the sample does not have leaves out its box, label and all.
    for absent in [
        "Received for shipment date",
        "Endorsee",
        "For delivery of the goods apply to",
        "Date of issue",
    ] {
        assert!(
            !layout.has(absent),
            "{absent:?} printed for an absent field"
        );
    }

    // Nothing the document says is lost: every value is somewhere on the pages.
    let text = pdf_text(&path, None)?;
    let content = world.bill(&id).content.as_ref().unwrap().json();
    let mut leaves = Vec::new();
    printed_leaves(&content, "", &mut leaves);
    for leaf in leaves {
        assert!(text.contains(&collapse(&leaf)), "{leaf:?} is missing");
    }
    // The chain with its ledger coordinates; a hash is printed in two halves.
    let squeezed: String = text.split_whitespace().collect();
    for entry in world.bill_history(&id) {
        assert!(squeezed.contains(&entry.tx_hash.to_string()));
    }
    assert!(text.contains("block 12, position 0, transaction"));
    assert!(layout.column_has("Date (UTC)", "08:55:20.000"));
    Ok(())
}

#[test]
fn fields_absent_from_the_document_are_left_out() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut world = World::default();
    let id = issue(
        &mut world,
        "SLK-PDF-SWB",
        fixture_as("sea-waybill", "SLK-PDF-SWB"),
        "SHIPPER",
    );
    let path = write_pdf(
        dir.path(),
        "swb",
        &render(
            world.bill(&id),
            world.bill_history(&id),
            &RenderOptions::default(),
        )?,
    )?;
    let layout = Layout::read(&path)?;
    assert!(layout.has("SEA WAYBILL"));
    assert!(layout.has_below("Sea waybill number", "SLK-PDF-SWB"));
    assert!(layout.has_below("Consignee", "Consignee Imports GmbH"));
    assert!(layout.has_below("Date of issue", "2025-03-14"));
    // The waybill names no marks, places of receipt or delivery, charges, originals, place of
    // issue or endorsee (its booking reference and terms, which DCSA requires, it does name).
    for absent in [
        "Marks and numbers",
        "Place of receipt",
        "Place of delivery",
        "Charge",
        "Number of originals",
        "Place and date of issue",
        "Title holder (endorsee)",
        "Bill of lading number",
    ] {
        assert!(
            !layout.has(absent),
            "{absent:?} printed for an absent field"
        );
    }
    Ok(())
}

/// Decodes the QR code of the first page rendered at 150 dpi.
fn decode_qr(dir: &Path, pdf: &Path) -> Result<String> {
    let prefix = dir.join("qr");
    tool(
        "pdftoppm",
        &[
            "-r",
            "150",
            "-png",
            "-f",
            "1",
            "-l",
            "1",
            arg(pdf),
            arg(&prefix),
        ],
    )?;
    let png = dir.join("qr-1.png");
    let out = tool("zbarimg", &["--raw", "-q", arg(&png)])?;
    Ok(String::from_utf8(out)?.trim_end_matches('\n').to_owned())
}

#[test]
fn the_qr_code_decodes_to_the_verification_url() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut world = World::default();
    let id = sample_bill(&mut world);
    let doc = world.bill(&id);
    let sum = checksum(&doc.content.as_ref().unwrap().json());
    let bytes = render(doc, world.bill_history(&id), &sample_options())?;
    let path = write_pdf(dir.path(), "url", &bytes)?;
    let url = format!("{VERIFY_BASE_URL}/verify/CARRIER/{SAMPLE_REFERENCE}/{sum}");
    assert_eq!(decode_qr(dir.path(), &path)?, url);
    // The address is printed too, for a reader without a camera.
    let text = pdf_text(&path, Some((1, 1)))?;
    assert!(text.contains(&format!(
        "{VERIFY_BASE_URL}/verify/CARRIER/{SAMPLE_REFERENCE}/ {sum}"
    )));

    // Without a verification page, the QR code names the record and its checksum.
    let options = RenderOptions {
        verify_base_url: None,
        ..sample_options()
    };
    let path = write_pdf(
        dir.path(),
        "plain",
        &render(doc, world.bill_history(&id), &options)?,
    )?;
    assert_eq!(
        decode_qr(dir.path(), &path)?,
        format!("silkline:CARRIER/{SAMPLE_REFERENCE}?sha256={sum}")
    );

    // A base URL that cannot make an address is refused, not printed.
    let options = RenderOptions {
        verify_base_url: Some("verify.example.org".into()),
        ..sample_options()
    };
    assert!(matches!(
        render(doc, world.bill_history(&id), &options),
        Err(PdfError::VerifyUrl { .. })
    ));
    Ok(())
}

#[test]
fn a_long_cargo_list_continues_with_every_page_marked_numbered_and_checksummed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut content = fixture_as("sea-waybill", "SLK-PDF-LONG");
    let item = content["consignmentItems"][0].clone();
    let items: Vec<Value> = (0..100)
        .map(|i| {
            let mut item = item.clone();
            item["descriptionOfGoods"] = json!([format!("Cargo line number {i:03}")]);
            item
        })
        .collect();
    content["consignmentItems"] = Value::Array(items);
    let mut world = World::default();
    let id = issue(&mut world, "SLK-PDF-LONG", content, "SHIPPER");
    let doc = world.bill(&id);
    let sum = checksum(&doc.content.as_ref().unwrap().json());
    let bytes = render(doc, world.bill_history(&id), &RenderOptions::default())?;
    let path = write_pdf(dir.path(), "long", &bytes)?;
    let pages = page_count(&path)?;
    assert!(pages > 2, "{pages} page(s)");
    let mut seen = 0;
    for page in 1..=pages {
        let text = pdf_text(&path, Some((page, page)))?;
        assert!(text.contains(COPY_NOTICE), "page {page} is not marked");
        assert!(
            text.contains(&format!("CARRIER/SLK-PDF-LONG · SHA-256 {sum}")),
            "page {page} has no checksum"
        );
        assert!(text.contains(&format!("Page {page} of {pages}")));
        if page > 1 {
            assert!(text.contains("SEA WAYBILL CARRIER/SLK-PDF-LONG (continued)"));
        }
        let lines = (0..100)
            .filter(|i| text.contains(&format!("Cargo line number {i:03}")))
            .count();
        // A page the cargo table continues on repeats the table's column heads.
        if lines > 0 {
            assert!(text.contains("Description of goods"), "page {page}");
        }
        seen += lines;
    }
    assert_eq!(seen, 100, "every cargo line once");
    Ok(())
}

#[test]
fn the_same_input_gives_the_same_bytes() -> Result<()> {
    let mut world = World::default();
    let a = to_order_lifecycle(&mut world, "SLK-PDF-A");
    let b = to_order_lifecycle(&mut world, "SLK-PDF-B");
    let options = sample_options();
    let first = render(world.bill(&a), world.bill_history(&a), &options)?;
    let other = render(world.bill(&b), world.bill_history(&b), &options)?;
    let again = render(world.bill(&a), world.bill_history(&a), &options)?;
    assert_eq!(first, again);
    assert_ne!(first, other);
    Ok(())
}

#[test]
fn text_is_set_in_embedded_subsets_and_the_dcsa_document_is_attached() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut world = World::default();
    let id = sample_bill(&mut world);
    let doc = world.bill(&id);
    let path = write_pdf(
        dir.path(),
        "fonts",
        &render(doc, world.bill_history(&id), &sample_options())?,
    )?;
    let fonts = String::from_utf8(tool("pdffonts", &[arg(&path)])?)?;
    let faces: Vec<&str> = fonts.lines().skip(2).collect();
    assert_eq!(faces.len(), 2, "{fonts}");
    for face in faces {
        let columns: Vec<&str> = face.split_whitespace().collect();
        // name, type (2 words), encoding, emb, sub, uni, object id (2).
        assert!(columns[0].contains("+DejaVuSans"), "{face}");
        assert_eq!(columns[1..4], ["CID", "TrueType", "Identity-H"], "{face}");
        assert_eq!(
            columns[4..7],
            ["yes", "yes", "yes"],
            "embedded, subset, mapped: {face}"
        );
    }

    let list = String::from_utf8(tool("pdfdetach", &["-list", arg(&path)])?)?;
    assert!(list.contains(&format!("1: {ATTACHMENT_NAME}")), "{list}");
    let saved = dir.path().join("attached.json");
    tool("pdfdetach", &["-save", "1", "-o", arg(&saved), arg(&path)])?;
    let attached = std::fs::read(&saved)?;
    let record = doc.content.as_ref().unwrap();
    assert_eq!(attached, record.canonical_json.as_bytes());
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&attached)),
        record.sha256
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reference renderings
// ---------------------------------------------------------------------------------------------

/// Resolution of the reference images: enough to see every box and line move.
const REFERENCE_DPI: &str = "72";
/// A pixel differs when its grey level moved by more than this (of 255): a glyph or a rule
/// appearing, disappearing or moving, not a shade of antialiasing.
const INK_DIFFERENCE_MIN: u8 = 96;
/// Differing pixels tolerated per page. One changed character at 8.5 pt and 72 dpi changes about
/// 20 pixels; a moved box or line hundreds. Poppler renders the same PDF identically on the same
/// version, so the slack only absorbs rasterizer edge cases.
const PIXELS_DIFFERENT_MAX: usize = 8;

/// The pixels of a PNG as written by pdftoppm (8-bit RGB or grey, not interlaced), as grey
/// levels. Inflates with lopdf's Flate decoder, the one this crate already has.
fn png_grey(bytes: &[u8]) -> Result<(usize, usize, Vec<u8>)> {
    ensure!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let mut at = 8;
    let (mut width, mut height, mut channels) = (0, 0, 0);
    let mut idat = Vec::new();
    // Every chunk advances `at` by at least 12 bytes.
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into()?) as usize;
        let kind = &bytes[at + 4..at + 8];
        let data = bytes.get(at + 8..at + 8 + len).context("truncated PNG")?;
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(data[0..4].try_into()?) as usize;
                height = u32::from_be_bytes(data[4..8].try_into()?) as usize;
                ensure!(
                    data[8] == 8 && data[12] == 0,
                    "8-bit, non-interlaced PNG only"
                );
                channels = match data[9] {
                    0 => 1,
                    2 => 3,
                    other => bail!("PNG colour type {other} not supported"),
                };
            }
            b"IDAT" => idat.extend_from_slice(data),
            b"IEND" => break,
            _ => {}
        }
        at += 12 + len;
    }
    let mut dict = lopdf::Dictionary::new();
    dict.set("Filter", lopdf::Object::Name(b"FlateDecode".to_vec()));
    let raw = lopdf::Stream::new(dict, idat)
        .decompressed_content()
        .context("inflating the PNG")?;
    let stride = width * channels;
    ensure!(
        raw.len() == height * (stride + 1),
        "PNG data has the wrong size"
    );
    let mut pixels = vec![0u8; height * stride];
    for y in 0..height {
        let filter = raw[y * (stride + 1)];
        let line = &raw[y * (stride + 1) + 1..(y + 1) * (stride + 1)];
        for x in 0..stride {
            let a = if x >= channels {
                pixels[y * stride + x - channels]
            } else {
                0
            };
            let b = if y > 0 {
                pixels[(y - 1) * stride + x]
            } else {
                0
            };
            let c = if x >= channels && y > 0 {
                pixels[(y - 1) * stride + x - channels]
            } else {
                0
            };
            let predicted = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) = (
                        (p - i16::from(a)).abs(),
                        (p - i16::from(b)).abs(),
                        (p - i16::from(c)).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                other => bail!("PNG filter {other}"),
            };
            pixels[y * stride + x] = line[x].wrapping_add(predicted);
        }
    }
    let grey = pixels
        .chunks(channels)
        .map(|p| (p.iter().map(|v| u32::from(*v)).sum::<u32>() / channels as u32) as u8)
        .collect();
    Ok((width, height, grey))
}

/// Renders `pdf` with pdftoppm and checks each page against `tests/data/pdf/{name}-{page}.png`;
/// with `SILKLINE_UPDATE_REFERENCES=1`, rewrites those images instead. A page that differs is
/// kept under the target directory's `pdf-references/{test}/` for review.
fn compare_with_references(dir: &Path, pdf: &Path, name: &str, test: &str) -> Result<()> {
    let prefix = dir.join(name);
    tool(
        "pdftoppm",
        &["-r", REFERENCE_DPI, "-png", arg(pdf), arg(&prefix)],
    )?;
    let pages = page_count(pdf)?;
    let rendered = |page: usize| dir.join(format!("{name}-{page}.png"));
    let reference = |page: usize| data_dir().join(format!("{name}-{page}.png"));
    if std::env::var_os("SILKLINE_UPDATE_REFERENCES").is_some_and(|v| v == "1") {
        for page in 1..=pages {
            std::fs::copy(rendered(page), reference(page))?;
            eprintln!("wrote {}", reference(page).display());
        }
        // A page the rendering no longer has.
        let stale = reference(pages + 1);
        if stale.exists() {
            std::fs::remove_file(&stale)?;
        }
        return Ok(());
    }
    let regenerate = "if the change is intended, run SILKLINE_UPDATE_REFERENCES=1 cargo test -p adapters --test integration -- reference_images and review the images";
    ensure!(
        !reference(pages + 1).exists(),
        "{name} now has {pages} pages; the references have more ({regenerate})"
    );
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("pdf-references")
        .join(test);
    std::fs::create_dir_all(&out)?;
    for page in 1..=pages {
        let fresh = std::fs::read(rendered(page))?;
        let Ok(stored) = std::fs::read(reference(page)) else {
            bail!("{} is missing ({regenerate})", reference(page).display());
        };
        let (w, h, a) = png_grey(&fresh)?;
        let (sw, sh, b) = png_grey(&stored)?;
        let kept = out.join(format!("{name}-{page}.png"));
        ensure!(
            (w, h) == (sw, sh),
            "{name} page {page} is {w}x{h}, the reference {sw}x{sh}"
        );
        let different = a
            .iter()
            .zip(&b)
            .filter(|(x, y)| x.abs_diff(**y) > INK_DIFFERENCE_MIN)
            .count();
        if different > PIXELS_DIFFERENT_MAX {
            std::fs::write(&kept, &fresh)?;
            bail!(
                "{name} page {page} differs from {} in {different} pixels; this rendering is in {} ({regenerate})",
                reference(page).display(),
                kept.display()
            );
        }
    }
    Ok(())
}

#[test]
fn rendered_pages_match_the_reference_images() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut world = World::default();
    let id = sample_bill(&mut world);
    let bytes = render(world.bill(&id), world.bill_history(&id), &sample_options())?;
    let path = write_pdf(dir.path(), "sample-bill", &bytes)?;
    compare_with_references(
        dir.path(),
        &path,
        "sample-bill",
        "rendered_pages_match_the_reference_images",
    )
}

#[test]
fn the_reference_comparison_sees_a_changed_value() -> Result<()> {
    // The same sample with one word changed must not pass as the reference.
    let dir = tempfile::tempdir()?;
    let mut world = World::default();
    let mut content = sample_bill::sample_content();
    content["consignmentItems"][0]["descriptionOfGoods"][0] =
        json!("Tricycles, unassembled, in cartons");
    let id = issue(&mut world, SAMPLE_REFERENCE, content, "SHIPPER");
    world.ok(
        &shipper(),
        &id,
        Command::EndorseToOrder { to: party("BANK") },
    );
    let bytes = render(world.bill(&id), world.bill_history(&id), &sample_options())?;
    let path = write_pdf(dir.path(), "sample-bill", &bytes)?;
    if std::env::var_os("SILKLINE_UPDATE_REFERENCES").is_some() {
        return Ok(());
    }
    let message = compare_with_references(
        dir.path(),
        &path,
        "sample-bill",
        "the_reference_comparison_sees_a_changed_value",
    )
    .expect_err("a changed description passed as the reference")
    .to_string();
    assert!(message.contains("page 1 differs"), "{message}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Switch to paper
// ---------------------------------------------------------------------------------------------

fn surrender_for_amendment(
    world: &mut World,
    reference: &str,
    reason: AmendmentReason,
) -> DocumentId {
    let id = issue(
        world,
        reference,
        fixture_as("straight-bill", reference),
        "SHIPPER",
    );
    world.ok(&shipper(), &id, Command::SurrenderForAmendment { reason });
    id
}

fn refusal(result: Result<Vec<u8>, PdfError>) -> String {
    match result {
        Err(e @ PdfError::SwitchToPaperRefused { .. }) => e.to_string(),
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("switch to paper was rendered"),
    }
}

fn paper() -> RenderOptions {
    RenderOptions {
        switch_to_paper: true,
        ..RenderOptions::default()
    }
}

#[test]
fn switch_to_paper_is_refused_unless_the_surrender_for_it_was_accepted() {
    let paper = paper();
    let mut world = World::default();

    // An issued bill: nothing was surrendered.
    let issued = issue(
        &mut world,
        "SLK-STP-1",
        fixture_as("straight-bill", "SLK-STP-1"),
        "SHIPPER",
    );
    let message = refusal(render(
        world.bill(&issued),
        world.bill_history(&issued),
        &paper,
    ));
    assert!(
        message.contains("SWITCH_TO_PAPER") && message.contains("ISSUED"),
        "{message}"
    );

    // Requested, not yet accepted.
    let pending = surrender_for_amendment(&mut world, "SLK-STP-2", AmendmentReason::SwitchToPaper);
    let message = refusal(render(
        world.bill(&pending),
        world.bill_history(&pending),
        &paper,
    ));
    assert!(
        message.contains("PENDING_SURRENDER_FOR_AMENDMENT"),
        "{message}"
    );

    // Accepted, but for a change of destination.
    let cod = surrender_for_amendment(
        &mut world,
        "SLK-STP-3",
        AmendmentReason::ChangeOfDestination,
    );
    world.ok(&carrier(), &cod, Command::AcceptSurrender);
    let message = refusal(render(world.bill(&cod), world.bill_history(&cod), &paper));
    assert!(
        message.contains("COD") && message.contains("not SWITCH_TO_PAPER"),
        "{message}"
    );

    // Rejected and back to ISSUED.
    let rejected = surrender_for_amendment(&mut world, "SLK-STP-4", AmendmentReason::SwitchToPaper);
    world.ok(
        &carrier(),
        &rejected,
        Command::RejectSurrender {
            comment: "no".into(),
        },
    );
    refusal(render(
        world.bill(&rejected),
        world.bill_history(&rejected),
        &paper,
    ));

    // A sea waybill never changes medium.
    let swb = issue(
        &mut world,
        "SLK-STP-5",
        fixture_as("sea-waybill", "SLK-STP-5"),
        "SHIPPER",
    );
    let message = refusal(render(world.bill(&swb), world.bill_history(&swb), &paper));
    assert!(message.contains("only a bill of lading"), "{message}");

    // The state says accepted but the history given does not show it.
    let accepted = surrender_for_amendment(&mut world, "SLK-STP-6", AmendmentReason::SwitchToPaper);
    world.ok(&carrier(), &accepted, Command::AcceptSurrender);
    let partial = &world.bill_history(&accepted)[..1];
    let message = refusal(render(world.bill(&accepted), partial, &paper));
    assert!(message.contains("history"), "{message}");

    // A cargo release is not rendered at all.
    let delivered = to_order_lifecycle(&mut world, "SLK-STP-7");
    world.ok(
        &carrier(),
        &delivered,
        Command::ReleaseCargo {
            port: party("PORT"),
        },
    );
    let release = &world.store[&DocumentKey::cargo_release(delivered)];
    assert!(matches!(
        render(release, &[], &RenderOptions::default()),
        Err(PdfError::NotATransportDocument { .. })
    ));
}

#[test]
fn an_accepted_switch_to_paper_renders_the_change_of_medium_statement() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut world = World::default();
    let id = surrender_for_amendment(&mut world, "SLK-STP-OK", AmendmentReason::SwitchToPaper);
    world.ok(&carrier(), &id, Command::AcceptSurrender);
    let bytes = render(world.bill(&id), world.bill_history(&id), &paper())?;
    let path = write_pdf(dir.path(), "paper", &bytes)?;
    let text = pdf_text(&path, None)?;
    assert!(
        text.contains("CHANGE OF MEDIUM (UNCITRAL MLETR art. 18)"),
        "{text}"
    );
    assert!(text.contains("made inoperative"));
    assert_eq!(
        text.matches(PAPER_ORIGINAL_MARKING).count(),
        page_count(&path)?,
        "the paper-original marking heads every page"
    );
    assert!(
        !text.contains(COPY_NOTICE),
        "a paper original is not marked as a copy"
    );
    assert!(
        text.contains("Surrender for amendment (SWITCH_TO_PAPER) by Shipper Exports Ltd (SHIPPER)")
    );
    assert!(text.contains("Surrender accepted by Carrier Line A/S (CARRIER)"));
    let layout = Layout::read(&path)?;
    assert!(layout.has_below("Consignee", "Consignee Imports GmbH"));
    assert!(layout.has_below("Status", "Surrendered for amendment"));

    // Once the carrier voids the electronic record (no replacement), the paper may still be printed;
    // the copy and the paper original of the same state differ.
    world.ok(&carrier(), &id, Command::Void { replacement: None });
    let voided = render(world.bill(&id), world.bill_history(&id), &paper())?;
    let path = write_pdf(dir.path(), "voided", &voided)?;
    assert!(Layout::read(&path)?.has_below("Status", "Voided"));
    let copy = render(
        world.bill(&id),
        world.bill_history(&id),
        &RenderOptions::default(),
    )?;
    assert_ne!(copy, voided);
    Ok(())
}

#[test]
fn party_names_from_the_node_fill_in_what_the_content_does_not_name() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut world = World::default();
    let id = to_order_lifecycle(&mut world, "SLK-PDF-NAMES");
    let mut names = PartyNames::default();
    names.insert(party("BANK"), "First Trade Bank");
    let options = RenderOptions {
        names,
        ..RenderOptions::default()
    };
    let path = write_pdf(
        dir.path(),
        "names",
        &render(world.bill(&id), world.bill_history(&id), &options)?,
    )?;
    let layout = Layout::read(&path)?;
    assert!(layout.column_has("By", "First Trade Bank"));
    assert!(layout.column_has("To", "First Trade Bank"));
    assert!(layout.has_below("Status", "Surrendered for delivery"));
    // A party nobody names is shown by its code.
    assert!(layout.has("CONSIGNEE"));
    Ok(())
}
