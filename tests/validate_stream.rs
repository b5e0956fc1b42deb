//! The streaming validation (`archive::stream`) against the full reader: over every fixture and
//! over damaged and edited variants, the fast path either gives up (and the full reader decides)
//! or gives exactly the full reader's header and findings. It must never accept what the full
//! reader refuses, and it must not give up on archives as the writer writes them.

mod archive_common;

use std::path::{Path, PathBuf};

use archive_common::*;
use ativo_backup::archive::{self, Encoding, Limits, stream};
use ativo_backup::model::validate::validate;
use serde_json::Value;

/// Runs both paths over `bytes`; returns whether the fast path gave a verdict.
fn compare(bytes: &[u8], what: &str) -> bool {
    compare_with(bytes, what, &Limits::default())
}

fn compare_with(bytes: &[u8], what: &str, limits: &Limits) -> bool {
    let fast = stream::validate(|| Ok(bytes), limits);
    let slow = archive::read(bytes, limits);
    match (fast, slow) {
        (None, _) => false,
        (Some(fast), Ok(archive)) => {
            assert_eq!(fast.header, archive.header, "{what}: header");
            assert_eq!(fast.has_admins, archive.data.admins.is_some(), "{what}: admins");
            assert_eq!(fast.findings, validate(&archive.data), "{what}: findings");
            true
        }
        (Some(_), Err(e)) => panic!("{what}: the fast path accepts what the full reader refuses: {e}"),
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

#[test]
fn every_fixture_gets_the_full_readers_verdict() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut accepted = Vec::new();
    for dir in [root.clone(), root.join("hostile"), root.join("fuzz")] {
        for file in files_under(&dir) {
            let bytes = std::fs::read(&file).unwrap();
            if compare(&bytes, &file.display().to_string()) {
                accepted.push(file.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
    }
    // The writer's own archives take the fast path.
    for name in ["good-demo.json", "good-demo.json.zst", "other-host.json.zst"] {
        assert!(accepted.iter().any(|a| a == name), "{name} fell back; accepted: {accepted:?}");
    }
}

/// An archive in the writer's layout whose data breaks semantic rules, re-sealed so that it reads.
fn edited_with_findings() -> Vec<u8> {
    let mut doc = json_doc(&sealed());
    let pis = doc["data"]["pis"].as_array_mut().unwrap();
    pis[0]["capacity"][0]["team"] = "NOBODY".into();
    pis[0]["milestones"][0]["name"] = " ".into();
    let last = pis.len() - 1;
    pis[last]["key"] = "WRONG-KEY".into();
    doc["data"]["teams"][0]["key"] = "lower case".into();
    reseal(&mut doc);
    writer_layout(&doc)
}

/// `doc` with its members in the writer's order (`serde_json::Value` sorts them) and its data
/// in canonical form, as the writer compresses it.
fn writer_layout(doc: &Value) -> Vec<u8> {
    let data = String::from_utf8(ativo_backup::model::canonical::to_canonical_vec(&doc["data"])).unwrap();
    format!(
        r#"{{"format":{},"format_version":{},"header":{},"data":{data}}}"#,
        doc["format"], doc["format_version"], doc["header"]
    )
    .into_bytes()
}

#[test]
fn semantic_findings_are_exactly_the_full_validators() {
    let bytes = edited_with_findings();
    assert!(compare(&bytes, "edited"), "the edited archive fell back");
    let fast = stream::validate(|| Ok(&bytes[..]), &Limits::default()).unwrap();
    assert!(fast.findings.len() >= 4, "{:?}", fast.findings);
    let pretty = serde_json::to_vec_pretty(&serde_json::from_slice::<Value>(&bytes).unwrap()).unwrap();
    // Pretty-printed with sorted members: `data` first, so the fast path gives up.
    assert!(!compare(&pretty, "sorted"));
}

#[test]
fn migration_archives_and_both_encodings_take_the_fast_path() {
    let mut migration = sealed();
    migration.data.admins = None;
    let migration = archive::seal(migration.data, &host(), archive::Scope::Migration, tokens(), created_at());
    for archive in [sealed(), migration] {
        for encoding in [Encoding::Json, Encoding::Zstd] {
            assert!(compare(&encode(&archive, encoding), "encoded"), "{encoding:?} fell back");
        }
    }
}

/// Truncations and bit flips of good and edited archives, in both encodings.
#[test]
fn damaged_archives_get_the_full_readers_verdict() {
    let edited = edited_with_findings();
    let edited_zst = zstd::encode_all(&edited[..], 3).unwrap();
    let inputs = [encode(&sealed(), Encoding::Json), encode(&sealed(), Encoding::Zstd), edited, edited_zst];
    for (n, input) in inputs.iter().enumerate() {
        let len = input.len();
        // Every truncation for small inputs would be slow in a debug build: a spread of them.
        let step = (len / 97).max(1);
        for cut in (0..len).step_by(step) {
            compare(&input[..cut], &format!("input {n} cut at {cut}"));
        }
        for at in (0..len).step_by(step.max(3) / 3 + 1) {
            for bit in [0x01u8, 0x20, 0x80] {
                let mut flipped = input.clone();
                flipped[at] ^= bit;
                compare(&flipped, &format!("input {n} byte {at} ^ {bit:#x}"));
            }
        }
    }
}

#[test]
fn tight_limits_are_the_full_readers() {
    let bytes = encode(&sealed(), Encoding::Json);
    for limits in [
        Limits { max_size: bytes.len() as u64 - 1, ..Limits::default() },
        Limits { max_depth: 4, ..Limits::default() },
        Limits { max_string: 8, ..Limits::default() },
    ] {
        assert!(!compare_with(&bytes, "limited", &limits), "{limits:?}");
    }
    assert!(compare_with(&bytes, "exact size", &Limits { max_size: bytes.len() as u64, ..Limits::default() }));
}

#[test]
fn a_fake_end_of_the_pi_array_inside_a_pi_is_not_taken_for_the_real_one() {
    // Pass 1 skips a compact PI array by searching for `],"programs":[`; a PI can hold that
    // sequence outside strings (here as an unknown member of an objective, after its epics).
    let good = writer_layout(&json_doc(&sealed()));
    let text = String::from_utf8(good).unwrap();
    assert!(text.contains(r#"],"level":"#), "the fixture has objectives with epics");
    let forged = text.replacen(r#"],"level":"#, r#"],"programs":[],"level":"#, 1).into_bytes();
    assert!(archive::read(&forged[..], &Limits::default()).is_err(), "the full reader refuses the unknown member");
    assert!(!compare(&forged, "forged"), "the fast path must give up");
    let compressed = zstd::encode_all(&forged[..], 3).unwrap();
    assert!(!compare(&compressed, "forged, compressed"));
}
