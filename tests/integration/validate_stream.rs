//! The streaming validation (`archive::stream`) against the full reader: over every fixture and
//! over damaged and edited variants, the fast path either gives up (and the full reader decides)
//! or gives exactly the full reader's header and findings. It must never accept what the full
//! reader refuses, and it must not give up on archives as the writer writes them.

use crate::archive_common;

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
    let fast = stream::validate(bytes, limits);
    let slow = archive::read(bytes, limits);
    match (fast, slow) {
        (Err(_), _) => false,
        (Ok(fast), Ok(archive)) => {
            assert_eq!(fast.header, archive.header, "{what}: header");
            assert_eq!(fast.has_admins, archive.data.admins.is_some(), "{what}: admins");
            assert_eq!(fast.findings, validate(&archive.data), "{what}: findings");
            true
        }
        (Ok(_), Err(e)) => panic!("{what}: the fast path accepts what the full reader refuses: {e}"),
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
    let fast = stream::validate(&bytes[..], &Limits::default()).unwrap();
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

/// `bytes` compressed as zstd frames of `frame` bytes of content each (SPEC.md 2.1: readers take
/// any number of frames), as the writer cuts a large archive but smaller, so that the ends of the
/// document span several frames.
fn in_frames(bytes: &[u8], frame: usize) -> Vec<u8> {
    bytes.chunks(frame).flat_map(|chunk| zstd::bulk::compress(chunk, 3).unwrap()).collect()
}

/// The large sample: a thousand PIs, so that pass 2 cuts the PI array into many runs, hands them
/// to several checking threads and puts their findings back in order; as compact JSON, as one
/// zstd frame and as many, the first and last PIs and one in the middle broken.
#[test]
fn a_large_archive_in_every_layout_gets_the_full_readers_verdict() {
    let (config, tokens) = ativo_backup::sample::generate(ativo_backup::sample::SampleSize::Large);
    let mut doc = json_doc(&archive::seal(config, &host(), archive::Scope::Full, tokens, created_at()));
    let pis = doc["data"]["pis"].as_array_mut().unwrap();
    let count = pis.len();
    assert!(count > 500, "{count} PIs");
    for at in [0, count / 2 + 1, count - 1] {
        pis[at]["capacity"][0]["team"] = "NOBODY".into();
        pis[at]["objectives"][0]["title"] = " ".into();
    }
    reseal(&mut doc);
    let compact = writer_layout(&doc);
    let slow = archive::read(&compact[..], &Limits::default()).unwrap();
    let expected = validate(&slow.data);
    assert!(expected.len() >= 6, "{expected:?}");
    for (what, bytes) in [
        ("compact JSON", compact.clone()),
        ("one zstd frame", zstd::bulk::compress(&compact, 3).unwrap()),
        ("zstd frames of 64 KiB", in_frames(&compact, 64 << 10)),
    ] {
        let fast =
            stream::validate(&bytes[..], &Limits::default()).unwrap_or_else(|why| panic!("{what} fell back: {why}"));
        assert_eq!(fast.header, slow.header, "{what}");
        assert_eq!(fast.findings, expected, "{what}");
    }
}

/// PIs of more than a MiB each: runs are cut by size, not only by count; a string over the limit
/// inside one is refused as the full reader refuses it.
#[test]
fn large_pis_and_long_strings_in_them_get_the_full_readers_verdict() {
    let (mut config, tokens) = ativo_backup::sample::generate(ativo_backup::sample::SampleSize::Demo);
    config.pis.truncate(3);
    let long = "x".repeat(600 << 10);
    for pi in &mut config.pis {
        for objective in pi.objectives.iter_mut().take(2) {
            objective.description = Some(long.clone());
        }
        let mut more = pi.objectives[0].clone();
        more.level = ativo_backup::model::ObjectiveLevel::Team;
        more.team = pi.capacity.first().map(|c| c.team.clone());
        more.order = 100;
        pi.objectives.push(more);
    }
    let doc = json_doc(&archive::seal(config, &host(), archive::Scope::Full, tokens, created_at()));
    let pis = doc["data"]["pis"].as_array().unwrap();
    assert!(pis.len() > 1 && pis.iter().all(|pi| pi.to_string().len() > 1 << 20), "PIs over a MiB each");
    let bytes = writer_layout(&doc);
    assert!(compare(&bytes, "large PIs"), "fell back");
    assert!(compare(&in_frames(&bytes, 1 << 20), "large PIs, in frames"), "fell back");
    let mut too_long = doc.clone();
    too_long["data"]["pis"][1]["objectives"][0]["description"] = "y".repeat((1 << 20) + 1).into();
    reseal(&mut too_long);
    let bytes = writer_layout(&too_long);
    assert!(archive::read(&bytes[..], &Limits::default()).is_err());
    assert!(!compare(&bytes, "a string over the limit"));
}

/// Counts in the header are claims to be checked, never sizes to allocate by: a header that
/// claims a quadrillion PIs is refused (exit 5 in the full reader), not a cause to reserve memory.
#[test]
fn a_header_that_claims_a_quadrillion_pis_is_refused_not_believed() {
    let mut doc = json_doc(&sealed());
    doc["header"]["counts"]["pis"] = 1_000_000_000_000_000u64.into();
    reseal(&mut doc);
    let bytes = writer_layout(&doc);
    assert!(archive::read(&bytes[..], &Limits::default()).is_err());
    assert!(!compare(&bytes, "lying counts"));
    assert!(!compare(&in_frames(&bytes, 1 << 10), "lying counts, in frames"));
}

/// The document with `data` written as `data` is (not re-serialized), its digests computed over
/// those bytes: what a tool that edits an archive and hashes its own output would write.
fn sealed_over_raw_bytes(doc: &Value, data: &str) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let digest = |bytes: &[u8]| format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
    let mut header = doc["header"].clone();
    header["content_digest"] = digest(data.as_bytes()).into();
    header.as_object_mut().unwrap().remove("integrity_digest");
    let canonical_header = String::from_utf8(serde_json_canonicalizer::to_vec(&header).unwrap()).unwrap();
    let whole = format!(r#"{{"data":{data},"format":"ativo-backup","format_version":1,"header":{canonical_header}}}"#);
    header["integrity_digest"] = digest(whole.as_bytes()).into();
    format!(r#"{{"format":"ativo-backup","format_version":1,"header":{header},"data":{data}}}"#).into_bytes()
}

/// A regression test (issue 6, review): the fast path hashed the PIs as they are in the file, so a PI written
/// otherwise than canonically (a space, `10.0`, an escape, members in another order), with
/// digests over those bytes, was accepted, while the full reader (which hashes the canonical
/// form) refuses it. Now such a PI makes the fast path give up.
#[test]
fn pis_not_in_canonical_form_with_digests_over_their_bytes_are_not_accepted() {
    let doc = json_doc(&sealed());
    let data = String::from_utf8(ativo_backup::model::canonical::to_canonical_vec(&doc["data"])).unwrap();
    let good = sealed_over_raw_bytes(&doc, &data);
    assert!(compare(&good, "canonical, sealed over its bytes"), "the canonical form fell back");
    let first_capacity = &doc["data"]["pis"][0]["capacity"][0];
    let (sprint, team) = (&first_capacity["sprint"], first_capacity["team"].as_str().unwrap());
    let member = format!(r#"{{"sprint":{sprint},"team":"{team}","#);
    assert!(data.contains(&member), "{data}");
    let value = format!(r#""value":{}"#, first_capacity["value"]);
    let variants = [
        data.replacen(r#"{"capacity":["#, r#"{"capacity": ["#, 1),
        data.replacen(&value, &format!("{value}.0"), 1),
        data.replacen(
            &format!(r#""team":"{team}""#),
            &format!(r#""team":"\u{:04x}{}""#, team.as_bytes()[0], &team[1..]),
            1,
        ),
        data.replacen(&member, &format!(r#"{{"team":"{team}","sprint":{sprint},"#), 1),
    ];
    for (n, variant) in variants.iter().enumerate() {
        assert_ne!(variant, &data, "variant {n} changes nothing");
        for bytes in [
            sealed_over_raw_bytes(&doc, variant),
            zstd::bulk::compress(&sealed_over_raw_bytes(&doc, variant), 3).unwrap(),
        ] {
            assert!(archive::read(&bytes[..], &Limits::default()).is_err(), "variant {n}: the full reader accepts it");
            assert!(!compare(&bytes, &format!("variant {n}")), "variant {n}: the fast path accepts it");
        }
    }
}
