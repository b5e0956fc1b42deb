//! The conformance kit of SPEC.md (`fixtures/conformance/`): one file per case and a JSON
//! manifest (`manifest.json`) with, per case, the exit code SPEC.md 9 gives, the finding code
//! that must be among the findings (SPEC.md 10 and 12) where there is one, and one sentence
//! saying what it tests. Every case holds under SPEC.md's default limits; nothing depends on
//! this implementation's buffer sizes, so another implementation can run the kit without our
//! code.
//!
//! The cases are generated here, deterministically, from a small valid archive (the demo sample
//! cut to one program and one PI): `UPDATE_CONFORMANCE=1 cargo test --test integration
//! conformance_kit::` rewrites them, and `the_kit_is_reproducible` fails when the code would write other bytes. Edits that a
//! digest would catch first are resealed (both digests recomputed as SPEC.md 5 defines them), so
//! that each case reaches the check it is about. Every case runs through the real binary's
//! `validate`, and a sample (every case of the order-of-checks section, one in four of the
//! others) through `import --dry-run` into a store of the archive's host.

use crate::archive_common::{self, json_doc};
use crate::commands::{bin, init};
use crate::golden::{self, pretty};

use std::io::Write;
use std::path::PathBuf;

use archive_common::resealed;
use ativo_backup::archive::{self, Encoding};
use ativo_backup::host::{Deployment, HostIdentity};
use serde_json::{Value, json};

fn dir() -> PathBuf {
    golden::dir("conformance")
}

/// The small valid document every case starts from.
fn base() -> Value {
    json_doc(&base_archive(|_| {}))
}

/// The base configuration, edited by `edit`, sealed as the reference writer seals it.
fn base_archive(edit: impl FnOnce(&mut ativo_backup::model::Configuration)) -> archive::Archive {
    let mut config = golden::small_config();
    edit(&mut config);
    let sealed = golden::seal(config);
    assert!(ativo_backup::ops::check_semantics(&sealed).iter().all(|f| !f.is_error()));
    sealed
}

/// The base archive as the reference writer writes it (canonical, one zstd frame), its PI grown
/// with objectives to a canonical size of exactly `size` bytes.
fn written_entity_sized(size: u64) -> Vec<u8> {
    let sealed = base_archive(|config| {
        let pi = &mut config.pis[0];
        let mut template = pi.objectives.iter().find(|o| o.team.is_none()).unwrap().clone();
        template.description = Some("x".repeat(1 << 19));
        let mut order = 1000;
        while archive::Limits::entity_size(pi) < size {
            template.order = order;
            order += 1;
            pi.objectives.push(template.clone());
        }
        let over = archive::Limits::entity_size(pi) - size;
        let last = pi.objectives.last_mut().unwrap().description.as_mut().unwrap();
        last.truncate(last.len() - over as usize);
        pi.sort_children();
        assert_eq!(archive::Limits::entity_size(pi), size);
    });
    let mut out = Vec::new();
    archive::write(&sealed, &mut out, Encoding::Zstd).unwrap();
    out
}

/// The document as the writer's compact form: members in writer order, no whitespace.
fn compact(doc: &Value) -> Vec<u8> {
    serde_json::to_vec(doc).unwrap()
}

/// One zstd frame of `content`, with its size and a checksum.
fn frame(content: &[u8]) -> Vec<u8> {
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    encoder.include_checksum(true).unwrap();
    encoder.set_pledged_src_size(Some(content.len() as u64)).unwrap();
    encoder.include_contentsize(true).unwrap();
    encoder.write_all(content).unwrap();
    encoder.finish().unwrap()
}

/// `content` in frames of at most `size` bytes each.
fn frames(content: &[u8], size: usize) -> Vec<u8> {
    content.chunks(size).flat_map(frame).collect()
}

fn skippable(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x50, 0x2A, 0x4D, 0x18];
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The text of `doc` with the first `from` replaced by `to` (the text must hold `from`).
fn replaced(text: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(text.to_vec()).unwrap();
    assert!(text.contains(from), "the document has no {from:?}");
    text.replacen(from, to, 1).into_bytes()
}

struct Case {
    file: String,
    bytes: Vec<u8>,
    exit: i32,
    finding: Option<&'static str>,
    what: String,
    /// Whether `import` runs it too.
    import: bool,
}

struct Kit(Vec<Case>);

impl Kit {
    fn add(&mut self, file: &str, bytes: Vec<u8>, exit: i32, finding: Option<&'static str>, what: &str) {
        let import = self.0.len().is_multiple_of(4) || file.starts_with("order-");
        self.0.push(Case { file: file.into(), bytes, exit, finding, what: what.into(), import });
    }

    /// A plain JSON case: `edit` applied to the base document, resealed.
    fn edit(
        &mut self,
        file: &str,
        exit: i32,
        finding: Option<&'static str>,
        what: &str,
        edit: impl FnOnce(&mut Value),
    ) {
        let mut doc = base();
        edit(&mut doc);
        self.add(&format!("{file}.json"), pretty(&resealed(doc)), exit, finding, what);
    }

    /// A semantic case (exit 3 or, for a warning, 0) with its code.
    fn rule(&mut self, code: &'static str, warning: bool, what: &str, edit: impl FnOnce(&mut Value)) {
        let file = format!("rule-{}", code.replace('.', "-"));
        self.edit(&file, if warning { 0 } else { 3 }, Some(code), what, edit);
    }
}

fn arr(v: &mut Value) -> &mut Vec<Value> {
    v.as_array_mut().unwrap()
}

fn obj(v: &mut Value) -> &mut serde_json::Map<String, Value> {
    v.as_object_mut().unwrap()
}

#[allow(clippy::too_many_lines)]
fn cases() -> Vec<Case> {
    let mut kit = Kit(Vec::new());
    let doc = base();
    let text = pretty(&doc);
    let tight = compact(&doc);
    let zst = frame(&tight);

    // SPEC.md 2: byte layout.
    kit.add("layout-zstd-one-frame.json.zst", zst.clone(), 0, None, "the document in one zstd frame");
    kit.add(
        "layout-plain-pretty.json",
        text.clone(),
        0,
        None,
        "plain JSON, pretty-printed as the reference writer writes it",
    );
    kit.add("layout-plain-compact.json", tight.clone(), 0, None, "plain JSON without whitespace");
    for size in [1usize, 7, 64, 1000, 4096] {
        kit.add(
            &format!("layout-frames-of-{size}.json.zst"),
            frames(&tight, size),
            0,
            None,
            &format!("the document cut into zstd frames of {size} bytes: where frames are cut carries no meaning"),
        );
    }
    kit.add(
        "layout-skippable-frames.json.zst",
        [skippable(b"ours"), frames(&tight, 2000), skippable(b""), skippable(&[0; 100])].concat().into_iter().collect(),
        0,
        None,
        "skippable frames before, between and after the frames are skipped",
    );
    let mut no_checksum = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    no_checksum.include_checksum(false).unwrap();
    no_checksum.write_all(&tight).unwrap();
    kit.add(
        "layout-frame-without-checksum.json.zst",
        no_checksum.finish().unwrap(),
        0,
        None,
        "a frame without a content checksum (or declared size) is read: writers must set the checksum, readers do not require it",
    );
    kit.add(
        "layout-leading-whitespace.json",
        [b" \t\r\n".to_vec(), text.clone()].concat(),
        0,
        None,
        "JSON whitespace before the document",
    );
    kit.add("layout-empty-file.json", Vec::new(), 3, Some("archive.not-an-archive"), "an empty file is not an archive");
    for n in 1..=3 {
        kit.add(
            &format!("layout-zstd-magic-{n}-bytes.json.zst"),
            archive::ZSTD_MAGIC[..n].to_vec(),
            5,
            Some("archive.integrity"),
            &format!("{n} byte(s) of the zstd magic number: a truncated zstd file"),
        );
        kit.add(
            &format!("layout-skippable-magic-{n}-bytes.json.zst"),
            [0x50, 0x2A, 0x4D][..n].to_vec(),
            3,
            Some("archive.not-an-archive"),
            &format!("{n} byte(s) of a skippable-frame magic number: text, not an archive (no writer starts with a skippable frame)"),
        );
    }
    kit.add(
        "layout-bom.json",
        [b"\xEF\xBB\xBF".to_vec(), text.clone()].concat(),
        3,
        Some("archive.not-an-archive"),
        "a UTF-8 byte order mark before plain JSON",
    );
    kit.add(
        "layout-bom-in-zstd.json.zst",
        frame(&[b"\xEF\xBB\xBF".to_vec(), tight.clone()].concat()),
        3,
        Some("archive.not-an-archive"),
        "a byte order mark at the start of the decompressed document",
    );
    kit.add(
        "layout-whitespace-only.json",
        b" \n\t \n".to_vec(),
        3,
        Some("archive.not-an-archive"),
        "a file of whitespace only",
    );
    kit.add(
        "layout-empty-document-in-zstd.json.zst",
        frame(b""),
        3,
        Some("archive.not-an-archive"),
        "a valid zstd frame whose content is empty: an empty document is not an archive",
    );
    kit.add(
        "layout-whitespace-document-in-zstd.json.zst",
        frame(b"  \n "),
        3,
        Some("archive.not-an-archive"),
        "a valid zstd frame holding whitespace only",
    );
    kit.add(
        "layout-only-skippable-frames.json.zst",
        [skippable(b"x"), skippable(b"y")].concat(),
        3,
        Some("archive.not-an-archive"),
        "skippable frames only: the document is empty",
    );
    kit.add(
        "layout-gzip.json.zst",
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00".to_vec(),
        3,
        Some("archive.not-an-archive"),
        "gzip data",
    );
    kit.add("layout-zip.json", b"PK\x03\x04 a zip file".to_vec(), 3, Some("archive.not-an-archive"), "a zip file");
    kit.add("layout-json-array.json", b"[1, 2]\n".to_vec(), 3, Some("archive.not-an-archive"), "a JSON array");
    kit.add(
        "layout-json-scalar.json",
        b"\"ativo-backup\"\n".to_vec(),
        3,
        Some("archive.not-an-archive"),
        "a JSON string",
    );
    kit.add(
        "layout-array-in-zstd.json.zst",
        frame(b"[1, 2]"),
        3,
        Some("archive.not-an-archive"),
        "a JSON array in a zstd frame: judged as plain JSON would be",
    );
    kit.add(
        "layout-trailing-garbage-zstd.json.zst",
        [zst.clone(), b"garbage!".to_vec()].concat(),
        5,
        Some("archive.integrity"),
        "bytes after the last frame that are no frame",
    );
    kit.add(
        "layout-trailing-document.json",
        [text.clone(), b"{}".to_vec()].concat(),
        3,
        Some("archive.schema"),
        "a second JSON value after the document",
    );
    kit.add(
        "layout-trailing-whitespace.json",
        [text.clone(), b"\n\n  \t".to_vec()].concat(),
        0,
        None,
        "whitespace after the document",
    );
    for (k, cut) in [5usize, 12, zst.len() / 3, zst.len() / 2, zst.len() - 5, zst.len() - 1].into_iter().enumerate() {
        kit.add(
            &format!("layout-truncated-zstd-{k}.json.zst"),
            zst[..cut].to_vec(),
            5,
            Some("archive.integrity"),
            &format!("the zstd file cut after {cut} of {} bytes", zst.len()),
        );
    }
    for (k, cut) in [1usize, text.len() / 2, text.len() - 2].into_iter().enumerate() {
        kit.add(
            &format!("layout-truncated-plain-{k}.json"),
            text[..cut].to_vec(),
            5,
            Some("archive.integrity"),
            &format!("the plain JSON cut after {cut} of {} bytes", text.len()),
        );
    }
    let mut flipped = zst.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    kit.add(
        "layout-bad-checksum.json.zst",
        flipped,
        5,
        Some("archive.integrity"),
        "a frame whose content checksum does not match",
    );
    let mut window = archive::ZSTD_MAGIC.to_vec();
    window.extend_from_slice(&[0b0000_0100, 20 << 3, 0, 0, 0, 0]);
    kit.add(
        "layout-window-too-large.json.zst",
        window,
        5,
        Some("archive.integrity"),
        "a frame asking for a 1 GiB window (the limit is 16 MiB)",
    );
    // Frame header: checksum, 8-byte size field, single segment; declares 5 GiB.
    let mut declared = archive::ZSTD_MAGIC.to_vec();
    declared.push(0b1110_0100);
    declared.extend_from_slice(&(5u64 << 30).to_le_bytes());
    declared.extend_from_slice(&[0x01, 0x00, 0x00]);
    kit.add(
        "layout-declared-size-over-cap.json.zst",
        declared,
        5,
        Some("archive.too-large"),
        "a first frame that declares 5 GiB of content, over the 4 GiB cap: refused before decompressing",
    );
    let mut wrong_size = frame(&tight);
    // The frame header's descriptor (byte 4) says a 2-byte size field (flag 1) here: change the
    // declared size by one.
    let descriptor = wrong_size[4];
    assert_eq!(descriptor >> 6, 1, "expected a 2-byte content size field");
    wrong_size[5] ^= 0x01;
    kit.add(
        "layout-wrong-content-size.json.zst",
        wrong_size,
        5,
        Some("archive.integrity"),
        "a frame whose content differs in size from what its header declares",
    );
    let mut reserved = frame(&tight);
    // The first block header follows the frame header (4 magic + 1 descriptor + 2 size): set
    // its block type to the reserved value 3.
    reserved[7] |= 0b110;
    kit.add(
        "layout-reserved-block-type.json.zst",
        reserved,
        5,
        Some("archive.integrity"),
        "a block of the reserved type 3",
    );

    // SPEC.md 3: strictness.
    kit.edit("strict-unknown-top-member", 3, Some("archive.schema"), "an unknown top-level member", |d| {
        obj(d).insert("extra".into(), 1.into());
    });
    kit.edit("strict-unknown-header-member", 3, Some("archive.schema"), "an unknown member in the header", |d| {
        obj(&mut d["header"]).insert("signature".into(), "x".into());
    });
    kit.edit("strict-unknown-team-member", 3, Some("archive.schema"), "an unknown member in a team", |d| {
        obj(&mut d["data"]["teams"][0]).insert("colour".into(), "red".into());
    });
    kit.edit("strict-unknown-objective-member", 3, Some("archive.schema"), "an unknown member deep in a PI", |d| {
        obj(&mut d["data"]["pis"][0]["objectives"][0]).insert("owner".into(), "x".into());
    });
    kit.edit(
        "strict-null-optional",
        3,
        Some("archive.schema"),
        "null for an optional member (absent is the only way to say none)",
        |d| {
            d["data"]["teams"][0]["board"] = Value::Null;
        },
    );
    kit.edit("strict-null-admins", 3, Some("archive.schema"), "null for the optional admins object", |d| {
        d["data"]["admins"] = Value::Null
    });
    kit.edit("strict-null-required", 3, Some("archive.schema"), "null for a required member", |d| {
        d["data"]["teams"][0]["name"] = Value::Null
    });
    kit.edit("strict-missing-required", 3, Some("archive.schema"), "a required member missing", |d| {
        obj(&mut d["data"]["teams"][0]).remove("mode");
    });
    kit.edit("strict-missing-header-member", 3, Some("archive.schema"), "a required header member missing", |d| {
        obj(&mut d["header"]).remove("counts");
    });
    kit.edit("strict-wrong-type", 3, Some("archive.schema"), "a string where a boolean belongs", |d| {
        d["data"]["teams"][0]["archived"] = "no".into()
    });
    kit.edit("strict-enum", 3, Some("archive.schema"), "a value outside an enumeration", |d| {
        d["data"]["teams"][0]["mode"] = "SCRUMBAN".into()
    });
    kit.edit("strict-enum-case", 3, Some("archive.schema"), "an enumeration value in the wrong case", |d| {
        d["data"]["teams"][0]["mode"] = "scrum".into()
    });
    kit.edit("strict-index-over-u32", 3, Some("archive.schema"), "an index of 2^32, over the 32-bit range", |d| {
        d["data"]["periods"][0]["sprints"][0]["index"] = (1u64 << 32).into();
    });
    kit.edit("strict-negative-integer", 3, Some("archive.schema"), "a negative business value", |d| {
        d["data"]["pis"][0]["objectives"][0]["business_value_planned"] = (-1).into();
    });
    kit.edit("strict-fraction-in-integer", 3, Some("archive.schema"), "a fraction in an integer position", |d| {
        d["data"]["pis"][0]["objectives"][0]["order"] = 1.5.into();
    });
    let sprint_index = |spelling: &str| replaced(&text, "\"index\": 1,", &format!("\"index\": {spelling},"));
    for (name, spelling) in [("one-point-zero", "1.0"), ("exponent", "1e0"), ("minus-zero", "-0")] {
        kit.add(
            &format!("strict-integer-spelled-{name}.json"),
            sprint_index(spelling),
            3,
            Some("archive.schema"),
            &format!(
                "an integer spelled {spelling}: integers are written as digits without sign, fraction or exponent"
            ),
        );
    }
    kit.edit("strict-count-over-2-53", 3, Some("archive.schema"), "a count above 2^53-1", |d| {
        d["header"]["counts"]["teams"] = (1u64 << 53).into();
    });
    for (name, date) in
        [("short", "2026-1-5"), ("plus-year", "+2026-01-05"), ("slashes", "2026/01/05"), ("spaces", " 2026-01-05")]
    {
        kit.edit(&format!("strict-date-{name}"), 3, Some("archive.schema"), &format!("a date spelled {date:?}"), |d| {
            d["data"]["periods"][0]["sprints"][0]["start"] = date.into();
        });
    }
    kit.edit("strict-date-does-not-exist", 3, Some("archive.schema"), "a date that does not exist (2026-02-30)", |d| {
        d["data"]["periods"][0]["sprints"][0]["start"] = "2026-02-30".into();
    });
    kit.edit("strict-date-leap-day", 0, None, "29 February of a leap year exists", |d| {
        d["data"]["pis"][0]["milestones"][0]["date"] = "2028-02-29".into();
        d["data"]["pis"][0]["milestones"][0]["kind"] = "planning".into();
    });
    for (name, at) in [
        ("offset", "2026-01-15T09:30:00+00:00"),
        ("lower-case", "2026-01-15t09:30:00z"),
        ("space", "2026-01-15 09:30:00Z"),
        ("fraction", "2026-01-15T09:30:00.5Z"),
        ("leap-second", "2016-12-31T23:59:60Z"),
        ("no-such-day", "2026-02-30T09:30:00Z"),
    ] {
        kit.edit(
            &format!("strict-created-at-{name}"),
            3,
            Some("archive.schema"),
            &format!("created_at written {at:?}: only YYYY-MM-DDTHH:MM:SSZ"),
            |d| {
                d["header"]["created_at"] = at.into();
            },
        );
    }
    let team_name = doc["data"]["teams"][0]["name"].as_str().unwrap().to_owned();
    kit.add(
        "strict-duplicate-member.json",
        replaced(
            &pretty(&resealed(doc.clone())),
            &format!("\"name\": \"{team_name}\","),
            &format!("\"name\": \"{team_name}\",\n      \"name\": \"x\","),
        ),
        3,
        Some("archive.schema"),
        "a member twice in one object",
    );
    kit.add(
        "strict-duplicate-top-member.json",
        replaced(&text, "\"format_version\": 1,", "\"format_version\": 1,\n  \"format_version\": 1,"),
        3,
        Some("archive.schema"),
        "a top-level member twice, even with the same value",
    );
    let mut numbers = base();
    numbers["data"]["pis"][0]["capacity"][0]["value"] = 0.into();
    let numbers_text = pretty(&resealed(numbers));
    kit.add(
        "strict-number-underflows-to-zero.json",
        replaced(&numbers_text, "\"value\": 0", "\"value\": 1e-400"),
        0,
        None,
        "a number that underflows reads as 0 (numbers are IEEE 754 doubles; the digest covers 0)",
    );
    kit.add(
        "strict-number-overflow.json",
        replaced(&numbers_text, "\"value\": 0", "\"value\": 1e400"),
        3,
        Some("archive.schema"),
        "a number beyond the range of doubles",
    );
    kit.add(
        "strict-lone-surrogate.json",
        replaced(&text, &format!("\"{team_name}\""), "\"\\ud800\""),
        3,
        Some("archive.schema"),
        "a string escaping a lone surrogate",
    );
    kit.add(
        "strict-invalid-utf8.json",
        replaced(&text, &format!("\"{team_name}\""), "\"\u{1}\"")
            .iter()
            .map(|&b| if b == 1 { 0xFF } else { b })
            .collect(),
        3,
        Some("archive.schema"),
        "a byte that is not UTF-8 in a string",
    );
    kit.add(
        "strict-raw-control-character.json",
        replaced(&text, &format!("\"{team_name}\""), "\"a\tb\""),
        3,
        Some("archive.schema"),
        "a raw tab inside a string (it must be escaped)",
    );
    kit.add(
        "strict-trailing-comma.json",
        replaced(&text, "\"format_version\": 1,", "\"format_version\": 1,,"),
        3,
        Some("archive.schema"),
        "a syntax error",
    );
    kit.edit(
        "strict-escapes-are-the-same-text",
        0,
        None,
        "escaped and raw spellings of the same text give the same digest",
        |_| {},
    );
    let escaped = replaced(
        &pretty(&resealed(doc.clone())),
        &format!("\"name\": \"{team_name}\""),
        &format!("\"name\": \"\\u{:04x}{}\"", team_name.chars().next().unwrap() as u32, &team_name[1..]),
    );
    kit.add(
        "strict-escaped-text.json",
        escaped,
        0,
        None,
        "a string written with a \\u escape hashes as its decoded text",
    );

    // SPEC.md 4 and 10.1: canonical order.
    kit.rule("order.unsorted", false, "teams out of key order", |d| arr(&mut d["data"]["teams"]).reverse());
    kit.edit("order-api-tokens-unsorted", 3, Some("order.unsorted"), "header.api_tokens out of canonical order", |d| {
        arr(&mut d["header"]["api_tokens"]).reverse();
    });
    kit.edit(
        "order-admin-groups-by-name-then-id",
        0,
        None,
        "admin groups ordered by (name, group_id), an absent group id first",
        |d| {
            d["data"]["admins"]["groups"] =
                json!([{"name": "a"}, {"group_id": "2", "name": "b"}, {"group_id": "1", "name": "c"}]);
            d["header"]["counts"]["admin_groups"] = 3.into();
        },
    );
    kit.edit(
        "order-admin-groups-by-id-first",
        3,
        Some("order.unsorted"),
        "admin groups ordered by group id first are out of order",
        |d| {
            d["data"]["admins"]["groups"] = json!([{"group_id": "1", "name": "b"}, {"group_id": "2", "name": "a"}]);
            d["header"]["counts"]["admin_groups"] = 2.into();
        },
    );
    kit.edit(
        "order-capacity-unsorted",
        3,
        Some("order.unsorted"),
        "a PI's capacity out of (team, sprint) order",
        |d| {
            arr(&mut d["data"]["pis"][0]["capacity"]).swap(0, 1);
        },
    );
    kit.edit(
        "order-milestones-unsorted",
        3,
        Some("order.unsorted"),
        "a PI's milestones out of (order, name) order",
        |d| {
            arr(&mut d["data"]["pis"][0]["milestones"]).swap(0, 1);
        },
    );

    // SPEC.md 5: digests.
    let mut edited = base();
    edited["data"]["teams"][0]["name"] = "Edited".into();
    kit.add(
        "digest-data-edited.json",
        pretty(&edited),
        5,
        Some("archive.integrity"),
        "data edited without new digests",
    );
    let mut edited = base();
    edited["header"]["scope"] = "migration".into();
    kit.add(
        "digest-header-edited.json",
        pretty(&edited),
        5,
        Some("archive.integrity"),
        "a header member edited: the integrity digest covers it",
    );
    let mut edited = resealed(base());
    edited["header"]["content_digest"] = format!("sha256:{}", "0".repeat(64)).into();
    let mut without = edited.clone();
    obj(&mut without["header"]).remove("integrity_digest");
    let integrity = {
        use sha2::{Digest, Sha256};
        format!("sha256:{}", hex::encode(Sha256::digest(serde_json_canonicalizer::to_vec(&without).unwrap())))
    };
    edited["header"]["integrity_digest"] = integrity.into();
    kit.add(
        "digest-content-wrong-integrity-right.json",
        pretty(&edited),
        5,
        Some("archive.integrity"),
        "a wrong content digest under a right integrity digest",
    );
    for (name, digest) in [
        ("upper-case", format!("sha256:{}", "AB".repeat(32))),
        ("63-digits", format!("sha256:{}", "a".repeat(63))),
        ("other-algorithm", format!("sha625:{}", "a".repeat(64))),
        ("trailing-newline", format!("sha256:{}\n", "a".repeat(64))),
    ] {
        let mut edited = base();
        edited["header"]["content_digest"] = digest.clone().into();
        kit.add(&format!("digest-pattern-{name}.json"), pretty(&edited), 3, Some("archive.schema"), &format!("a content digest {digest:?} that breaks its pattern: a schema error, found before the digests are checked"));
    }
    let mut edited = resealed(base());
    edited["header"]["source"]["fingerprint"] = format!("sha256:{}", "AB".repeat(32)).into();
    kit.add(
        "digest-fingerprint-pattern.json",
        pretty(&resealed(edited)),
        3,
        Some("archive.schema"),
        "a fingerprint that breaks its pattern",
    );
    let big = "9007199254740993";
    let mut exact = base();
    exact["data"]["pis"][0]["capacity"][0]["value"] = 9007199254740992u64.into();
    let exact_text = pretty(&resealed(exact));
    kit.add(
        "digest-capacity-beyond-2-53.json",
        replaced(&exact_text, "\"value\": 9007199254740992", &format!("\"value\": {big}")),
        0,
        None,
        "a capacity literal of 2^53+1 reads as the double 2^53, which the digests cover (RFC 8785)",
    );

    // SPEC.md 6: the host fingerprint.
    kit.edit(
        "host-fingerprint-mismatch",
        3,
        Some("archive.fingerprint"),
        "a fingerprint that is not that of the other source members",
        |d| {
            d["header"]["source"]["base_url"] = "https://jira-staging.example.com".into();
        },
    );
    fn raw_source(base_url: &'static str, server_id: &'static str) -> impl FnOnce(&mut Value) {
        move |d: &mut Value| {
            let fingerprint = HostIdentity {
                base_url: base_url.into(),
                deployment: Deployment::Datacenter,
                server_id: server_id.into(),
            }
            .fingerprint();
            d["header"]["source"]["base_url"] = base_url.into();
            d["header"]["source"]["server_id"] = server_id.into();
            d["header"]["source"]["fingerprint"] = fingerprint.into();
        }
    }
    kit.edit(
        "host-base-url-not-normalised",
        0,
        None,
        "a base URL not in normal form, with the fingerprint of its members as written: readers do not normalise",
        raw_source("https://Jira.Example.com/", "B8E7-9F2A-3C4D-5E6F"),
    );
    kit.edit(
        "host-server-id-with-spaces",
        0,
        None,
        "a server id with surrounding spaces, with the fingerprint of its members as written",
        raw_source("https://jira.example.com", " B8E7-9F2A-3C4D-5E6F "),
    );
    kit.edit("host-scope-full-without-admins", 3, Some("archive.scope-admins"), "a full archive without admins", |d| {
        obj(&mut d["data"]).remove("admins");
        d["header"]["counts"]["admin_groups"] = 0.into();
        d["header"]["counts"]["admin_users"] = 0.into();
    });
    kit.edit(
        "host-scope-migration-with-admins",
        3,
        Some("archive.scope-admins"),
        "a migration archive with admins",
        |d| d["header"]["scope"] = "migration".into(),
    );

    // SPEC.md 7: limits (the defaults).
    let deep = |levels: usize| {
        let mut v = Value::Array(vec![]);
        for _ in 0..levels {
            v = Value::Array(vec![v]);
        }
        v
    };
    // supplier_groups is at depth 4 (document, data, settings, the array): 28 more make 32.
    let mut d = base();
    d["data"]["settings"]["supplier_groups"] = deep(28);
    kit.add(
        "limit-depth-32.json",
        pretty(&resealed(d)),
        3,
        Some("archive.schema"),
        "32 levels of nesting pass the limit but break the schema",
    );
    let mut d = base();
    d["data"]["settings"]["supplier_groups"] = deep(29);
    kit.add(
        "limit-depth-33.json",
        pretty(&resealed(d)),
        3,
        Some("archive.schema"),
        "33 levels of nesting: over the limit of 32",
    );
    for (name, len, exit, finding) in
        [("string-1mib", 1usize << 20, 0, None), ("string-over-1mib", (1 << 20) + 1, 3, Some("archive.schema"))]
    {
        let mut d = base();
        d["data"]["teams"][0]["name"] = "n".repeat(len).into();
        kit.add(
            &format!("limit-{name}.json.zst"),
            frame(&compact(&resealed(d))),
            exit,
            finding,
            &format!("a string of {len} bytes (the limit is 1048576)"),
        );
    }
    let mut d = base();
    d["data"]["teams"][0]["name"] = "\\".repeat((1 << 19) + 1).into();
    kit.add(
        "limit-string-escapes-count.json.zst",
        frame(&compact(&resealed(d))),
        3,
        Some("archive.schema"),
        "524289 backslashes, each escaped: 1048578 bytes as written, over the limit though the text is half that",
    );
    let long_number = format!("1.{}", "0".repeat(1 << 20));
    kit.add(
        "limit-number-over-1mib.json.zst",
        frame(&replaced(&compact(&resealed(numbers_base())), "\"value\":0", &format!("\"value\":{long_number}"))),
        3,
        Some("archive.schema"),
        "a number of more than 1048576 bytes (value 1)",
    );
    for (name, over) in [("entity-at-limit", false), ("entity-over-limit", true)] {
        kit.add(
            &format!("limit-{name}.json.zst"),
            frame(&compact(&entity_sized(archive::MAX_ENTITY + u64::from(over)))),
            if over { 3 } else { 0 },
            if over { Some("archive.schema") } else { None },
            &format!(
                "a PI whose canonical form is {} bytes (the entity limit is 8388608)",
                archive::MAX_ENTITY + u64::from(over)
            ),
        );
    }

    for (name, over) in [("written-entity-at-limit", false), ("written-entity-over-limit", true)] {
        let size = archive::MAX_ENTITY + u64::from(over);
        kit.add(&format!("limit-{name}.json.zst"), written_entity_sized(size), if over { 3 } else { 0 }, if over { Some("archive.schema") } else { None }, &format!("as the reference writer writes it (canonical, so read by a streaming reader as it is), a PI of {size} canonical bytes (the limit is 8388608)"));
    }

    // SPEC.md 8: versions.
    for (name, version, exit, finding) in [
        ("2", "2", 6, "archive.version"),
        ("2-64", "18446744073709551616", 6, "archive.version"),
        ("300-digits", &"9".repeat(300)[..], 6, "archive.version"),
        ("beyond-doubles", &"9".repeat(400)[..], 3, "archive.schema"),
        ("0", "0", 3, "archive.schema"),
        ("minus-1", "-1", 3, "archive.schema"),
        ("1-point-0", "1.0", 3, "archive.schema"),
        ("2-point-0", "2.0", 3, "archive.schema"),
        ("string", "\"1\"", 3, "archive.schema"),
        ("null", "null", 3, "archive.schema"),
    ] {
        kit.add(
            &format!("version-{name}.json"),
            replaced(&text, "\"format_version\": 1,", &format!("\"format_version\": {version},")),
            exit,
            Some(finding),
            &format!("format_version {}", ativo_short(version)),
        );
    }
    kit.edit("version-missing", 3, Some("archive.schema"), "no format_version", |d| {
        obj(d).remove("format_version");
    });
    kit.edit("version-format-other", 3, Some("archive.not-an-archive"), "a format other than ativo-backup", |d| {
        d["format"] = "other".into()
    });
    kit.edit("version-format-missing", 3, Some("archive.not-an-archive"), "no format member", |d| {
        obj(d).remove("format");
    });
    kit.add(
        "version-members-in-another-order.json",
        {
            let d = base();
            let mut out = serde_json::Map::new();
            for key in ["data", "header", "format_version", "format"] {
                out.insert(key.into(), d[key].clone());
            }
            serde_json::to_vec_pretty(&Value::Object(out)).unwrap()
        },
        0,
        None,
        "members in another order than the writer's",
    );

    // SPEC.md 9: the order of checks.
    let v2 = replaced(&text, "\"format_version\": 1,", "\"format_version\": 2,");
    kit.add(
        "order-newer-version-then-cut.json",
        v2[..v2.len() / 2].to_vec(),
        5,
        Some("archive.integrity"),
        "format_version 2, then the document is cut: the text is checked before the version",
    );
    let unknown = replaced(&text, "\"format_version\": 1,", "\"format_version\": 1,\n  \"extra\": 1,");
    kit.add(
        "order-unknown-member-then-cut.json",
        unknown[..unknown.len() / 2].to_vec(),
        5,
        Some("archive.integrity"),
        "an unknown member, then the document is cut",
    );
    let cut_number = replaced(&text, "\"format_version\": 1,", "\"format_version\": 1e");
    let at = String::from_utf8_lossy(&cut_number).find("1e").unwrap() + 2;
    kit.add(
        "order-number-cut-at-end.json",
        cut_number[..at].to_vec(),
        5,
        Some("archive.integrity"),
        "the input ends inside a number (1e): truncated, not an invalid number",
    );
    kit.add(
        "order-minus-cut-at-end.json",
        replaced(&text, "\"format_version\": 1,", "\"format_version\": -")[..at - 1].to_vec(),
        5,
        Some("archive.integrity"),
        "the input ends after a minus sign",
    );
    let syntax = replaced(&tight, "\"format_version\":1,", "\"format_version\":1,,");
    // Padding keeps the document whole but large, so that one frame of it is larger than a
    // decoder's buffer.
    let padded = replaced(&syntax, "\"header\":", &format!("\"header\":{}", " ".repeat(300_000)));
    for size in [512usize, 4096, 65536, 400_000] {
        let mut bytes = frames(&padded, size);
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        kit.add(&format!("order-syntax-then-bad-checksum-frames-of-{size}.json.zst"), bytes, 5, Some("archive.integrity"), &format!("a syntax error, then a frame with a bad checksum, in frames of {size} bytes: damage anywhere is 5, whatever the text"));
        let mut bytes = frames(&padded, size);
        bytes.truncate(bytes.len() - 3);
        kit.add(
            &format!("order-syntax-then-truncated-frames-of-{size}.json.zst"),
            bytes,
            5,
            Some("archive.integrity"),
            &format!("a syntax error, then the last frame cut, in frames of {size} bytes"),
        );
        kit.add(
            &format!("order-syntax-intact-frames-of-{size}.json.zst"),
            frames(&padded, size),
            3,
            Some("archive.schema"),
            &format!("the same syntax error in intact frames of {size} bytes: 3"),
        );
    }
    let newer = replaced(&tight, "\"format_version\":1,", "\"format_version\":2,");
    let mut damaged = frames(&newer, 1000);
    let last = damaged.len() - 1;
    damaged[last] ^= 0x01;
    kit.add(
        "order-newer-version-then-bad-checksum.json.zst",
        damaged,
        5,
        Some("archive.integrity"),
        "format_version 2 and a damaged last frame: 5",
    );
    kit.add(
        "order-newer-version-then-syntax-error.json",
        replaced(&v2, "\"scope\": \"full\",", "\"scope\": \"full\",,"),
        3,
        Some("archive.schema"),
        "format_version 2 and a syntax error later in the text: 3",
    );
    kit.add(
        "order-newer-version-and-unknown-member.json",
        replaced(&v2, "\"format_version\": 2,", "\"format_version\": 2,\n  \"extra\": 1,"),
        6,
        Some("archive.version"),
        "format_version 2 and an unknown top-level member: the version comes first",
    );
    kit.add(
        "order-newer-version-and-other-format.json",
        replaced(&v2, "\"format\": \"ativo-backup\"", "\"format\": \"other\""),
        3,
        Some("archive.not-an-archive"),
        "format_version 2 but another format: not an archive",
    );
    kit.add(
        "order-duplicate-then-newer-version.json",
        replaced(&v2, "\"format_version\": 2,", "\"format_version\": 2,\n  \"format_version\": 2,"),
        3,
        Some("archive.schema"),
        "format_version twice: a member twice comes before the version",
    );
    kit.add(
        "order-format-last-and-other.json",
        {
            let mut d = base();
            obj(&mut d).remove("format");
            obj(&mut d).insert("format".into(), "other".into());
            obj(&mut d["data"]["teams"][0]).insert("colour".into(), 1.into());
            pretty(&d)
        },
        3,
        Some("archive.not-an-archive"),
        "an unknown member in data before a format that is not ativo-backup: not an archive",
    );
    kit.edit(
        "order-header-error-before-data-error",
        3,
        Some("archive.schema"),
        "a schema error in the header and one in data: the header's, first in the document, is reported",
        |d| {
            obj(&mut d["header"]).insert("zzz".into(), 1.into());
            obj(&mut d["data"]["teams"][0]).insert("colour".into(), 1.into());
        },
    );
    let mut schema_and_digest = base();
    obj(&mut schema_and_digest["data"]["teams"][0]).insert("colour".into(), 1.into());
    kit.add(
        "order-schema-before-digest.json",
        pretty(&schema_and_digest),
        3,
        Some("archive.schema"),
        "an unknown member and digests that do not match: the schema comes first",
    );
    let mut digest_and_rule = base();
    digest_and_rule["data"]["programs"][0]["teams"][0] = "GHOST".into();
    kit.add(
        "order-digest-before-semantics.json",
        pretty(&digest_and_rule),
        5,
        Some("archive.integrity"),
        "a dangling reference and digests that do not match: the digests come first",
    );
    kit.edit(
        "order-counts-before-semantics",
        3,
        Some("archive.counts"),
        "wrong counts and a dangling reference: the counts come first",
        |d| {
            d["header"]["counts"]["teams"] = 99.into();
            d["data"]["programs"][0]["teams"][0] = "GHOST".into();
        },
    );
    kit.edit("order-counts", 3, Some("archive.counts"), "counts that differ from the data", |d| {
        d["header"]["counts"]["pis"] = 2.into()
    });

    // SPEC.md 10: one case per semantic code.
    semantic_rules(&mut kit);
    kit.0
}

fn ativo_short(text: &str) -> String {
    if text.len() > 24 { format!("{}... ({} digits)", &text[..12], text.len()) } else { text.to_owned() }
}

fn numbers_base() -> Value {
    let mut numbers = base();
    numbers["data"]["pis"][0]["capacity"][0]["value"] = 0.into();
    numbers
}

/// The base document whose PI's canonical form is exactly `size` bytes: objectives with long
/// descriptions, the last one cut to size.
fn entity_sized(size: u64) -> Value {
    let mut d = base();
    let pi = &mut d["data"]["pis"][0];
    let template = pi["objectives"][0].clone();
    let measure = |pi: &Value| serde_json_canonicalizer::to_vec(pi).unwrap().len() as u64;
    assert_eq!(template["level"], "PROGRAM");
    // After the PROGRAM objectives, before the TEAM ones: canonical order.
    let at = pi["objectives"].as_array().unwrap().iter().filter(|o| o["level"] == "PROGRAM").count();
    let mut order = 1000;
    let mut added = 0;
    while measure(pi) < size {
        let mut objective = template.clone();
        objective["order"] = order.into();
        objective["description"] = "x".repeat(1 << 19).into();
        order += 1;
        arr(&mut pi["objectives"]).insert(at + added, objective);
        added += 1;
    }
    let over = measure(pi) - size;
    let last = &mut arr(&mut pi["objectives"])[at + added - 1];
    let len = last["description"].as_str().unwrap().len() as u64;
    last["description"] = "x".repeat((len - over) as usize).into();
    assert_eq!(measure(pi), size);
    let objectives = pi["objectives"].as_array().unwrap().len();
    d["header"]["counts"]["objectives"] = objectives.into();
    resealed(d)
}

#[allow(clippy::too_many_lines)]
fn semantic_rules(kit: &mut Kit) {
    kit.rule("team.key-invalid", false, "a team key with a space", |d| d["data"]["teams"][0]["key"] = "A B".into());
    kit.edit(
        "rule-team-key-invalid-ideographic-space",
        3,
        Some("team.key-invalid"),
        "a team key holding U+3000, which is Unicode White_Space",
        |d| {
            d["data"]["teams"][0]["key"] = "A\u{3000}B".into();
        },
    );
    kit.edit(
        "rule-team-key-with-bom-character",
        0,
        Some("team.key-shape"),
        "a team key holding U+FEFF, which is not White_Space: valid (with the shape warning)",
        |d| {
            let key = d["data"]["teams"][0]["key"].as_str().unwrap().to_owned();
            let new = format!("{key}\u{FEFF}");
            rename_team(d, &key, &new);
        },
    );
    kit.edit(
        "rule-team-key-64-astral-characters",
        0,
        Some("team.key-shape"),
        "a team key of 64 characters outside the BMP (128 UTF-16 units): lengths count code points",
        |d| {
            let key = d["data"]["teams"][0]["key"].as_str().unwrap().to_owned();
            let new: String = std::iter::repeat_n('𝐀', 64).collect();
            let new = format!("{}{}", &key[..0], new);
            rename_team(d, &key, &new);
        },
    );
    kit.edit("rule-team-key-65-characters", 3, Some("team.key-invalid"), "a team key of 65 characters", |d| {
        let key = d["data"]["teams"][0]["key"].as_str().unwrap().to_owned();
        rename_team(d, &key, &"Z".repeat(65));
    });
    kit.rule("team.duplicate-key", false, "two teams with one key", |d| {
        let team = d["data"]["teams"][0].clone();
        arr(&mut d["data"]["teams"]).insert(1, team);
        d["header"]["counts"]["teams"] = (d["header"]["counts"]["teams"].as_u64().unwrap() + 1).into();
    });
    kit.rule("team.key-shape", true, "a lower-case team key (a warning)", |d| {
        let key = d["data"]["teams"][0]["key"].as_str().unwrap().to_owned();
        rename_team(d, &key, "aardvark");
    });
    kit.rule("program.key-invalid", false, "a program key with a tab", |d| {
        d["data"]["programs"][0]["key"] = "P\tX".into();
    });
    kit.rule("program.duplicate-key", false, "two programs with one key", |d| {
        let p = d["data"]["programs"][0].clone();
        arr(&mut d["data"]["programs"]).push(p);
        d["header"]["counts"]["programs"] = 2.into();
    });
    kit.rule("period.key-invalid", false, "an empty period key", |d| d["data"]["periods"][0]["key"] = "".into());
    kit.rule("period.duplicate-key", false, "two periods with one key", |d| {
        let p = d["data"]["periods"][0].clone();
        arr(&mut d["data"]["periods"]).push(p.clone());
        let sprints = p["sprints"].as_array().unwrap().len() as u64;
        d["header"]["counts"]["periods"] = 2.into();
        d["header"]["counts"]["sprints"] = (2 * sprints).into();
    });
    kit.rule("pi.key-invalid", false, "a PI key with a line feed", |d| d["data"]["pis"][0]["key"] = "A\nB".into());
    kit.rule("pi.duplicate-key", false, "two PIs with one key", |d| {
        let p = d["data"]["pis"][0].clone();
        let c = &d["header"]["counts"];
        let (cap, mil, obj, map) = (
            c["capacity"].as_u64().unwrap(),
            c["milestones"].as_u64().unwrap(),
            c["objectives"].as_u64().unwrap(),
            c["sprint_mappings"].as_u64().unwrap(),
        );
        arr(&mut d["data"]["pis"]).push(p);
        let c = &mut d["header"]["counts"];
        c["pis"] = 2.into();
        c["capacity"] = (2 * cap).into();
        c["milestones"] = (2 * mil).into();
        c["objectives"] = (2 * obj).into();
        c["sprint_mappings"] = (2 * map).into();
    });
    kit.rule("team.board-missing", false, "a BOARD team without a board", |d| {
        let t = board_team(d);
        obj(&mut d["data"]["teams"][t]).remove("board");
    });
    kit.rule("team.scope-on-board", true, "a BOARD team with a scope", |d| {
        let t = board_team(d);
        d["data"]["teams"][t]["scope"] = json!({"jira_filter": {"filter_id": "1"}});
    });
    kit.rule("team.scope-missing", false, "a CUSTOM team without a scope", |d| {
        let t = board_team(d);
        d["data"]["teams"][t]["type"] = "CUSTOM".into();
        obj(&mut d["data"]["teams"][t]).remove("board");
    });
    kit.rule("team.board-on-custom", true, "a CUSTOM team with a board", |d| {
        let t = board_team(d);
        d["data"]["teams"][t]["type"] = "CUSTOM".into();
        d["data"]["teams"][t]["scope"] = json!({"jira_filter": {"filter_id": "1"}});
    });
    kit.rule("program.unknown-team", false, "a program listing a team that does not exist", |d| {
        arr(&mut d["data"]["programs"][0]["teams"]).push("GHOST".into());
    });
    kit.rule("program.duplicate-team", false, "a program listing a team twice", |d| {
        let t = d["data"]["programs"][0]["teams"][0].clone();
        arr(&mut d["data"]["programs"][0]["teams"]).push(t);
    });
    kit.rule("period.no-sprints", true, "a period without sprints", |d| {
        let n = d["data"]["periods"][0]["sprints"].as_array().unwrap().len() as u64;
        d["data"]["periods"][0]["sprints"] = json!([]);
        d["header"]["counts"]["sprints"] = (d["header"]["counts"]["sprints"].as_u64().unwrap() - n).into();
        d["data"]["pis"][0]["capacity"] = json!([]);
        d["data"]["pis"][0]["sprint_mappings"] = json!([]);
        let milestones: Vec<Value> =
            arr(&mut d["data"]["pis"][0]["milestones"]).iter().filter(|m| m.get("date").is_some()).cloned().collect();
        d["header"]["counts"]["capacity"] = 0.into();
        d["header"]["counts"]["sprint_mappings"] = 0.into();
        d["header"]["counts"]["milestones"] = milestones.len().into();
        d["data"]["pis"][0]["milestones"] = Value::Array(milestones);
    });
    kit.rule("period.sprint-index", false, "sprints numbered 1, 3", |d| {
        d["data"]["periods"][0]["sprints"][1]["index"] = 3.into()
    });
    kit.edit(
        "rule-period-sprint-index-zero",
        3,
        Some("period.sprint-index"),
        "a sprint index 0 (a semantic rule, not a schema error)",
        |d| {
            d["data"]["periods"][0]["sprints"][0]["index"] = 0.into();
        },
    );
    kit.rule("period.sprint-dates", false, "a sprint that ends before it starts", |d| {
        d["data"]["periods"][0]["sprints"][0]["end"] = "2025-12-01".into();
    });
    kit.rule("period.sprint-overlap", false, "a sprint that starts before the previous one ends", |d| {
        let end = d["data"]["periods"][0]["sprints"][0]["end"].clone();
        d["data"]["periods"][0]["sprints"][1]["start"] = end;
    });
    kit.rule("pi.unknown-program", false, "a PI of a program that does not exist", |d| {
        d["data"]["pis"][0]["program"] = "GHOST".into();
        let period = d["data"]["pis"][0]["period"].as_str().unwrap().to_owned();
        d["data"]["pis"][0]["key"] = format!("GHOST-{period}").into();
    });
    kit.rule("pi.unknown-period", false, "a PI in a period that does not exist", |d| {
        d["data"]["pis"][0]["period"] = "1999Q1".into();
        let program = d["data"]["pis"][0]["program"].as_str().unwrap().to_owned();
        d["data"]["pis"][0]["key"] = format!("{program}-1999Q1").into();
    });
    kit.rule("pi.key-mismatch", false, "a PI key that is not <program>-<period>", |d| {
        d["data"]["pis"][0]["key"] = "X".into()
    });
    kit.rule("pi.feature-filter-missing", false, "JIRA_FILTER inclusion without a feature filter", |d| {
        d["data"]["pis"][0]["feature_inclusion"] = "JIRA_FILTER".into();
        obj(&mut d["data"]["pis"][0]).remove("feature_filter");
    });
    kit.rule("pi.unknown-team", false, "a team override naming a team that does not exist", |d| {
        let mut teams = d["data"]["programs"][0]["teams"].clone();
        arr(&mut teams).push("GHOST".into());
        d["data"]["pis"][0]["teams"] = teams;
    });
    kit.rule("pi.duplicate-team", false, "a team override naming a team twice", |d| {
        let mut teams = d["data"]["programs"][0]["teams"].clone();
        let first = teams[0].clone();
        arr(&mut teams).push(first);
        d["data"]["pis"][0]["teams"] = teams;
    });
    kit.edit(
        "rule-pi-empty-team-override",
        0,
        None,
        "an empty team override []: the PI has no teams (not the program's)",
        |d| {
            d["data"]["pis"][0]["teams"] = json!([]);
            for list in ["capacity", "sprint_mappings"] {
                d["data"]["pis"][0][list] = json!([]);
                d["header"]["counts"][list] = 0.into();
            }
            let kept: Vec<Value> = arr(&mut d["data"]["pis"][0]["objectives"])
                .iter()
                .filter(|o| o.get("team").is_none())
                .cloned()
                .collect();
            d["header"]["counts"]["objectives"] = kept.len().into();
            d["data"]["pis"][0]["objectives"] = Value::Array(kept);
            let kept: Vec<Value> = arr(&mut d["data"]["pis"][0]["milestones"])
                .iter()
                .filter(|m| m.get("team").is_none())
                .cloned()
                .collect();
            d["header"]["counts"]["milestones"] = kept.len().into();
            d["data"]["pis"][0]["milestones"] = Value::Array(kept);
        },
    );
    kit.edit(
        "rule-pi-empty-override-capacity",
        3,
        Some("capacity.team-not-in-pi"),
        "an empty team override: capacity of the program's teams is no longer the PI's",
        |d| {
            d["data"]["pis"][0]["teams"] = json!([]);
        },
    );
    kit.rule("capacity.unknown-team", false, "capacity of a team that does not exist", |d| {
        d["data"]["pis"][0]["capacity"][0]["team"] = "AAA-GHOST".into()
    });
    kit.rule("capacity.team-not-in-pi", false, "capacity of a team outside the PI", |d| {
        let team = extra_team(d);
        d["data"]["pis"][0]["capacity"][0]["team"] = team.into();
    });
    kit.rule("capacity.unknown-sprint", false, "capacity in sprint 99", |d| {
        let last = arr(&mut d["data"]["pis"][0]["capacity"]).len() - 1;
        d["data"]["pis"][0]["capacity"][last]["sprint"] = 99.into();
    });
    kit.rule("capacity.value", false, "a negative capacity (a semantic rule, not a schema error)", |d| {
        d["data"]["pis"][0]["capacity"][0]["value"] = (-1).into()
    });
    kit.rule("capacity.duplicate", false, "two capacity entries for one team and sprint", |d| {
        let c = d["data"]["pis"][0]["capacity"][0].clone();
        arr(&mut d["data"]["pis"][0]["capacity"]).insert(0, c);
        d["header"]["counts"]["capacity"] = (d["header"]["counts"]["capacity"].as_u64().unwrap() + 1).into();
    });
    let mapping = |d: &mut Value| -> usize {
        assert!(
            !d["data"]["pis"][0]["sprint_mappings"].as_array().unwrap().is_empty(),
            "the base PI has sprint mappings"
        );
        0
    };
    kit.rule("mapping.unknown-team", false, "a sprint mapping of a team that does not exist", move |d| {
        let m = mapping(d);
        d["data"]["pis"][0]["sprint_mappings"][m]["team"] = "AAA-GHOST".into();
    });
    kit.rule("mapping.team-not-in-pi", false, "a sprint mapping of a team outside the PI", move |d| {
        let team = extra_team(d);
        d["data"]["pis"][0]["sprint_mappings"][0]["team"] = team.into();
    });
    kit.rule("mapping.not-scrum", false, "a sprint mapping of a KANBAN team", move |d| {
        let team = d["data"]["pis"][0]["sprint_mappings"][0]["team"].clone();
        for t in arr(&mut d["data"]["teams"]) {
            if t["key"] == team {
                t["mode"] = "KANBAN".into();
            }
        }
    });
    kit.rule("mapping.unknown-sprint", false, "a sprint mapping in sprint 99", |d| {
        let last = arr(&mut d["data"]["pis"][0]["sprint_mappings"]).len() - 1;
        d["data"]["pis"][0]["sprint_mappings"][last]["sprint"] = 99.into();
    });
    kit.rule("mapping.sprint-id-empty", false, "a blank Jira sprint id", |d| {
        d["data"]["pis"][0]["sprint_mappings"][0]["jira_sprint_id"] = " ".into()
    });
    kit.rule("mapping.duplicate", false, "two sprint mappings for one team and sprint", |d| {
        let m = d["data"]["pis"][0]["sprint_mappings"][0].clone();
        arr(&mut d["data"]["pis"][0]["sprint_mappings"]).insert(0, m);
        d["header"]["counts"]["sprint_mappings"] =
            (d["header"]["counts"]["sprint_mappings"].as_u64().unwrap() + 1).into();
    });
    kit.rule("objective.business-value", true, "a business value of 11 (a warning)", |d| {
        d["data"]["pis"][0]["objectives"][0]["business_value_planned"] = 11.into()
    });
    kit.rule("objective.team-missing", false, "a TEAM objective without a team", |d| {
        let k = team_objective(d);
        obj(&mut d["data"]["pis"][0]["objectives"][k]).remove("team");
    });
    kit.rule("objective.unknown-team", false, "a TEAM objective of a team that does not exist", |d| {
        let k = team_objective(d);
        d["data"]["pis"][0]["objectives"][k]["team"] = "ZZZ-GHOST".into();
    });
    kit.rule("objective.team-not-in-pi", false, "a TEAM objective of a team outside the PI", |d| {
        let team = extra_team(d);
        let k = team_objective(d);
        d["data"]["pis"][0]["objectives"][k]["team"] = team.into();
    });
    kit.rule("objective.team-on-program", false, "a PROGRAM objective naming a team", |d| {
        let team = d["data"]["programs"][0]["teams"][0].clone();
        d["data"]["pis"][0]["objectives"][0]["team"] = team;
    });
    kit.rule("objective.duplicate-order", false, "two PROGRAM objectives with one order", |d| {
        let o = d["data"]["pis"][0]["objectives"][0].clone();
        arr(&mut d["data"]["pis"][0]["objectives"]).insert(0, o);
        d["header"]["counts"]["objectives"] = (d["header"]["counts"]["objectives"].as_u64().unwrap() + 1).into();
    });
    kit.rule("objective.title-empty", false, "a blank objective title (whitespace only: U+00A0 is White_Space)", |d| {
        d["data"]["pis"][0]["objectives"][0]["title"] = "\u{a0} ".into()
    });
    kit.rule("milestone.date-or-sprint", false, "a milestone with a date and a sprint", |d| {
        let k = dated_milestone(d);
        d["data"]["pis"][0]["milestones"][k]["sprint"] = 1.into();
    });
    kit.rule("milestone.date-outside-period", true, "a milestone dated outside its period (a warning)", |d| {
        let k = dated_milestone(d);
        d["data"]["pis"][0]["milestones"][k]["date"] = "2001-01-01".into();
    });
    kit.rule("milestone.name-empty", false, "a blank milestone name", |d| {
        let last = arr(&mut d["data"]["pis"][0]["milestones"]).len() - 1;
        d["data"]["pis"][0]["milestones"][last]["name"] = "".into();
        d["data"]["pis"][0]["milestones"][last]["order"] = 99.into();
    });
    kit.rule("milestone.duplicate", false, "two milestones with one order and name", |d| {
        let m = d["data"]["pis"][0]["milestones"][0].clone();
        arr(&mut d["data"]["pis"][0]["milestones"]).insert(0, m);
        d["header"]["counts"]["milestones"] = (d["header"]["counts"]["milestones"].as_u64().unwrap() + 1).into();
    });
    kit.rule("milestone.unknown-sprint", false, "a milestone at sprint 99", |d| {
        let k = sprint_milestone(d);
        d["data"]["pis"][0]["milestones"][k]["sprint"] = 99.into();
    });
    kit.rule("milestone.unknown-team", false, "a milestone of a team that does not exist", |d| {
        d["data"]["pis"][0]["milestones"][0]["team"] = "GHOST".into()
    });
    kit.rule("milestone.team-not-in-pi", false, "a milestone of a team outside the PI", |d| {
        let team = extra_team(d);
        d["data"]["pis"][0]["milestones"][0]["team"] = team.into();
    });
    kit.rule("settings.story-points-field-empty", false, "a blank story points field", |d| {
        d["data"]["settings"]["story_points_field"] = "".into()
    });
    kit.rule("settings.duplicate-value", false, "a supplier group twice", |d| {
        d["data"]["settings"]["supplier_groups"] = json!(["a", "a"])
    });
    kit.rule("admin.group-name-empty", false, "an admin group with a blank name", |d| {
        arr(&mut d["data"]["admins"]["groups"])[0]["name"] = " ".into()
    });
    kit.rule("admin.duplicate-group", false, "an admin group twice", |d| {
        let g = d["data"]["admins"]["groups"][0].clone();
        arr(&mut d["data"]["admins"]["groups"]).insert(0, g);
        d["header"]["counts"]["admin_groups"] = (d["header"]["counts"]["admin_groups"].as_u64().unwrap() + 1).into();
    });
    kit.rule("admin.user-unidentified", false, "an admin user with neither user key nor account id", |d| {
        arr(&mut d["data"]["admins"]["users"]).insert(0, json!({}));
        d["header"]["counts"]["admin_users"] = (d["header"]["counts"]["admin_users"].as_u64().unwrap() + 1).into();
    });
    kit.rule("admin.duplicate-user", false, "an admin user twice", |d| {
        let u = d["data"]["admins"]["users"][0].clone();
        arr(&mut d["data"]["admins"]["users"]).insert(0, u);
        d["header"]["counts"]["admin_users"] = (d["header"]["counts"]["admin_users"].as_u64().unwrap() + 1).into();
    });
    kit.rule("scope.filter-id-empty", false, "a Jira filter scope with a blank filter id", |d| {
        d["data"]["programs"][0]["feature_scope"]["epic_filter"] = json!({"jira_filter": {"filter_id": ""}});
    });
    kit.rule("scope.empty", true, "a manual scope with no project and no field filter (a warning)", |d| {
        d["data"]["programs"][0]["feature_scope"]["epic_filter"] = json!({"manual": {"fields": [], "projects": []}});
    });
    kit.rule("scope.field-id-empty", false, "a field filter with a blank field id", |d| {
        d["data"]["programs"][0]["feature_scope"]["epic_filter"] =
            json!({"manual": {"fields": [{"field_id": "", "operator": "IN", "option_ids": ["1"], "values": []}], "projects": []}});
    });
    kit.rule("scope.field-filter-empty", false, "a field filter with no option and no value", |d| {
        d["data"]["programs"][0]["feature_scope"]["epic_filter"] =
            json!({"manual": {"fields": [{"field_id": "labels", "operator": "IN", "option_ids": [], "values": []}], "projects": []}});
    });
    kit.rule("scope.duplicate-project", false, "a manual scope listing a project twice", |d| {
        d["data"]["programs"][0]["feature_scope"]["epic_filter"] =
            json!({"manual": {"fields": [], "projects": [{"id": "1", "key": "A"}, {"id": "1", "key": "A"}]}});
    });
}

/// Renames a team everywhere it is named, keeping the teams in key order.
fn rename_team(d: &mut Value, from: &str, to: &str) {
    let text =
        serde_json::to_string(&d["data"]).unwrap().replace(&format!("\"{from}\""), &serde_json::to_string(to).unwrap());
    d["data"] = serde_json::from_str(&text).unwrap();
    let teams = arr(&mut d["data"]["teams"]);
    teams.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
    let pi = &mut d["data"]["pis"][0];
    for list in ["capacity", "sprint_mappings"] {
        arr(&mut pi[list]).sort_by(|a, b| {
            (a["team"].as_str(), a["sprint"].as_u64()).cmp(&(b["team"].as_str(), b["sprint"].as_u64()))
        });
    }
    arr(&mut pi["objectives"]).sort_by(|a, b| {
        (a["level"].as_str(), a["team"].as_str(), a["order"].as_u64()).cmp(&(
            b["level"].as_str(),
            b["team"].as_str(),
            b["order"].as_u64(),
        ))
    });
}

/// Adds a team that no program and no PI lists, and returns its key.
fn extra_team(d: &mut Value) -> String {
    let mut team = d["data"]["teams"][0].clone();
    team["key"] = "ZZZEXTRA".into();
    arr(&mut d["data"]["teams"]).push(team);
    d["header"]["counts"]["teams"] = (d["header"]["counts"]["teams"].as_u64().unwrap() + 1).into();
    "ZZZEXTRA".into()
}

fn board_team(d: &Value) -> usize {
    d["data"]["teams"].as_array().unwrap().iter().position(|t| t["type"] == "BOARD").expect("a BOARD team")
}

fn team_objective(d: &Value) -> usize {
    d["data"]["pis"][0]["objectives"]
        .as_array()
        .unwrap()
        .iter()
        .position(|o| o["level"] == "TEAM")
        .expect("a TEAM objective")
}

fn dated_milestone(d: &Value) -> usize {
    d["data"]["pis"][0]["milestones"]
        .as_array()
        .unwrap()
        .iter()
        .position(|m| m.get("date").is_some())
        .expect("a dated milestone")
}

fn sprint_milestone(d: &Value) -> usize {
    d["data"]["pis"][0]["milestones"]
        .as_array()
        .unwrap()
        .iter()
        .position(|m| m.get("sprint").is_some())
        .expect("a milestone at a sprint")
}

fn manifest(cases: &[Case]) -> Value {
    let limits = archive::Limits::default();
    json!({
        "kit": "ativo-backup archive format 1 conformance cases (SPEC.md)",
        "how": "run each file through a reader (validate); it must exit with `exit`, and when `finding` is set, report that code among its findings (SPEC.md 10 and 12). Every case holds under these limits, SPEC.md 7's defaults.",
        "limits": {
            "max_size": limits.max_size,
            "max_depth": limits.max_depth,
            "max_token": limits.max_string,
            "max_entity": limits.max_entity,
            "max_window": 1u64 << archive::MAX_WINDOW_LOG,
        },
        "cases": cases.iter().map(|c| json!({
            "file": c.file,
            "exit": c.exit,
            "finding": c.finding,
            "what": c.what,
        })).collect::<Vec<_>>(),
    })
}

#[test]
fn the_kit_is_reproducible() {
    let cases = cases();
    assert!(cases.len() >= 150, "the kit holds {} cases", cases.len());
    let mut names: Vec<&str> = cases.iter().map(|c| c.file.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "two cases share a file name");
    let manifest = golden::pretty_text(&manifest(&cases));
    let regenerate = "regenerate with UPDATE_CONFORMANCE=1 cargo test --test integration conformance_kit::";
    let update = std::env::var_os("UPDATE_CONFORMANCE").is_some();
    if update {
        std::fs::create_dir_all(dir().join("cases")).unwrap();
    }
    golden::reproduce(&dir().join("manifest.json"), manifest.as_bytes(), "UPDATE_CONFORMANCE", regenerate);
    for case in &cases {
        assert!(case.bytes.len() < 1 << 20, "{} is {} bytes", case.file, case.bytes.len());
        golden::reproduce(&dir().join("cases").join(&case.file), &case.bytes, "UPDATE_CONFORMANCE", regenerate);
    }
    if update {
        // Cases no longer generated go too.
        for entry in std::fs::read_dir(dir().join("cases")).unwrap() {
            let entry = entry.unwrap();
            if !names.contains(&entry.file_name().to_string_lossy().as_ref()) {
                std::fs::remove_file(entry.path()).unwrap();
            }
        }
    }
    let on_disk = std::fs::read_dir(dir().join("cases")).unwrap().count();
    assert_eq!(on_disk, cases.len(), "fixtures/conformance/cases holds other files than the manifest lists");
}

/// Every case of the committed manifest through the real binary: `validate` (all at once, one
/// report per file) and, for the sample marked so by the generator, `import --dry-run`.
#[test]
fn every_case_gives_its_exit_code_and_finding() {
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(dir().join("manifest.json")).unwrap()).unwrap();
    let listed = manifest["cases"].as_array().unwrap();
    let files: Vec<PathBuf> = listed.iter().map(|c| dir().join("cases").join(c["file"].as_str().unwrap())).collect();
    let out = bin().args(["--format", "json", "validate"]).args(&files).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut failures = Vec::new();
    for (case, file) in listed.iter().zip(report["files"].as_array().unwrap()) {
        let name = case["file"].as_str().unwrap();
        if file["exit_code"] != case["exit"] {
            failures
                .push(format!("{name}: exit {} instead of {}: {}", file["exit_code"], case["exit"], file["findings"]));
            continue;
        }
        if let Some(code) = case["finding"].as_str() {
            let codes: Vec<&str> =
                file["findings"].as_array().unwrap().iter().filter_map(|f| f["code"].as_str()).collect();
            if !codes.contains(&code) {
                failures.push(format!("{name}: no finding {code} among {codes:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} case(s) fail:\n{}", failures.len(), failures.join("\n"));

    let generated: std::collections::HashMap<String, bool> = cases().into_iter().map(|c| (c.file, c.import)).collect();
    let work = tempfile::TempDir::new().unwrap();
    let store = work.path().join("ativo.db");
    let h = archive_common::host();
    init(&store, &h.server_id, &h.base_url, None);
    let mut imported = 0;
    for (case, path) in listed.iter().zip(&files) {
        let name = case["file"].as_str().unwrap();
        if !generated.get(name).copied().unwrap_or(false) {
            continue;
        }
        imported += 1;
        let out = bin().arg("--store").arg(&store).args(["import", "--dry-run"]).arg(path).output().unwrap();
        // A valid archive of another host would be 4; every valid case is of the store's host,
        // or has a source that is not the store's (the raw-member cases), which import refuses.
        let want = case["exit"].as_i64().unwrap() as i32;
        let code = out.status.code().unwrap_or(-1);
        let other_host = name.starts_with("host-") && want == 0;
        assert!(
            code == want || (other_host && code == 4),
            "import {name}: exit {code} instead of {want}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(imported >= 40, "only {imported} cases through import");
}

/// The order-of-checks cases through standard input too: a pipe cannot be read twice, so there
/// the full reader alone judges, where a file goes through the streaming reader first. The exit
/// codes must be the same.
#[test]
fn the_order_of_checks_is_the_same_through_standard_input() {
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(dir().join("manifest.json")).unwrap()).unwrap();
    let mut checked = 0;
    for case in manifest["cases"].as_array().unwrap() {
        let name = case["file"].as_str().unwrap();
        if !name.starts_with("order-") {
            continue;
        }
        let bytes = std::fs::read(dir().join("cases").join(name)).unwrap();
        let out = bin().args(["validate", "-"]).write_stdin(bytes).output().unwrap();
        assert_eq!(
            out.status.code().map(i64::from),
            case["exit"].as_i64(),
            "validate - < {name}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} cases");
}
