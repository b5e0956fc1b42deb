//! Issue 5, hostile archives: one fixture per attack in `fixtures/hostile/`, each with its
//! expected exit codes and a word of the expected message in `fixtures/hostile/expected.json`,
//! replayed through the real binary (`validate`, then `import` into a store that must stay
//! untouched). Every run also has its peak memory measured at the CLI level (the child's
//! `VmHWM`), which must stay under 64 MiB above a run on a good archive.
//!
//! The fixtures are generated here, deterministically, from a small slice of the demo sample, and
//! stay small (bombs are a few KiB of zstd): `UPDATE_HOSTILE=1 cargo test --test integration
//! hostile::` rewrites them, and `hostile_fixtures_are_reproducible` fails when the code would write
//! other bytes. Edits that a digest would catch first are resealed (both digests recomputed as
//! SPEC.md §5 defines them), so that each fixture reaches the check it is about.

use crate::archive_common::{self, json_doc};
use crate::golden::{self, pretty_text, small_config};

use crate::crash_common;
use crate::memory::run_measured;

use std::io::Write;
use std::path::PathBuf;

use archive_common::resealed;
use ativo_backup::archive::{self};
use crash_common::*;
use serde_json::Value;

fn dir() -> PathBuf {
    golden::dir("hostile")
}

fn small_doc() -> Value {
    let sealed = golden::seal(small_config());
    assert!(ativo_backup::ops::check_semantics(&sealed).iter().all(|f| !f.is_error()));
    json_doc(&sealed)
}

/// zstd of `head`, then `fill` repeated to `size` bytes, then `tail`, declaring no size.
fn zstd_bomb(head: &[u8], fill: u8, size: usize, tail: &[u8]) -> Vec<u8> {
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 19).unwrap();
    enc.include_checksum(true).unwrap();
    enc.write_all(head).unwrap();
    let chunk = vec![fill; 1 << 20];
    for _ in 0..size >> 20 {
        enc.write_all(&chunk).unwrap();
    }
    enc.write_all(tail).unwrap();
    enc.finish().unwrap()
}

/// Every hostile fixture: (file name, bytes).
fn fixtures() -> Vec<(&'static str, Vec<u8>)> {
    let good = pretty_text(&small_doc());
    let mut out: Vec<(&'static str, Vec<u8>)> = vec![("good-small.json", good.clone().into_bytes())];

    // 256 MiB of one string, and 64 Mi opening brackets, in a few KiB of zstd.
    out.push(("string-bomb.json.zst", zstd_bomb(br#"{"format":""#, b'a', 256 << 20, b"\"}")));
    out.push((
        "nesting-bomb.json.zst",
        zstd_bomb(br#"{"format":"ativo-backup","format_version":1,"header":"#, b'[', 64 << 20, b""),
    ));
    // A frame header asking for a 1 GiB window.
    let mut window = archive::ZSTD_MAGIC.to_vec();
    window.extend_from_slice(&[0b0000_0100, 20 << 3, 0, 0, 0, 0]);
    out.push(("window-bomb.json.zst", window));

    // 40 levels of arrays where an array is allowed.
    let mut doc = small_doc();
    let mut deep = Value::Array(vec![]);
    for _ in 0..40 {
        deep = Value::Array(vec![deep]);
    }
    doc["data"]["settings"]["supplier_groups"] = deep;
    out.push(("deep-nesting.json", pretty_text(&doc).into_bytes()));

    // A 2 MiB team name, compressed.
    let mut doc = small_doc();
    doc["data"]["teams"][0]["name"] = "x".repeat(2 << 20).into();
    out.push(("huge-string.json.zst", zstd::bulk::compress(pretty_text(&resealed(doc)).as_bytes(), 19).unwrap()));

    // A member twice in one object (serde_json's Value would keep the last: edit the text).
    let dup = good.replacen("\"archived\": false,", "\"archived\": false,\n      \"archived\": true,", 1);
    assert_ne!(dup, good);
    out.push(("duplicate-member.json", dup.into_bytes()));

    // Two teams with one key, counts and digests fixed so that only the semantic rule can catch it.
    let mut doc = small_doc();
    let team = doc["data"]["teams"][0].clone();
    doc["data"]["teams"].as_array_mut().unwrap().insert(1, team);
    doc["header"]["counts"]["teams"] = (doc["header"]["counts"]["teams"].as_u64().unwrap() + 1).into();
    out.push(("duplicate-entity-key.json", pretty_text(&resealed(doc)).into_bytes()));

    // A raw 0xFF byte inside a string.
    let mut doc = small_doc();
    doc["data"]["teams"][0]["name"] = "INVALID-UTF8-HERE".into();
    let text = pretty_text(&resealed(doc)).into_bytes();
    let at = text.windows(17).position(|w| w == b"INVALID-UTF8-HERE").unwrap();
    let mut bad = text.clone();
    bad[at + 7] = 0xFF;
    out.push(("invalid-utf8.json", bad));

    // A lone surrogate escape: valid JSON syntax, not a Unicode string.
    let surrogate =
        good.replacen(&format!("\"name\": \"{}\"", small_config().teams[0].name), "\"name\": \"\\ud800\"", 1);
    assert_ne!(surrogate, good);
    out.push(("lone-surrogate.json", surrogate.into_bytes()));

    // Numbers out of range: a sprint index past u32, a negative business value, 1e400 capacity.
    let mut doc = small_doc();
    doc["data"]["periods"][0]["sprints"][0]["index"] = (1u64 << 32).into();
    out.push(("index-out-of-range.json", pretty_text(&resealed(doc)).into_bytes()));
    let mut doc = small_doc();
    let objective = doc["data"]["pis"][0]["objectives"].as_array_mut().unwrap().iter_mut().next().unwrap();
    objective["business_value_planned"] = (-1).into();
    out.push(("negative-number.json", pretty_text(&resealed(doc)).into_bytes()));
    let doc = small_doc();
    let value = &doc["data"]["pis"][0]["capacity"][0]["value"];
    let text = pretty_text(&doc);
    let needle = format!("\"value\": {value}");
    assert!(text.contains(&needle));
    out.push(("number-overflow.json", text.replacen(&needle, "\"value\": 1e400", 1).into_bytes()));

    // A date that does not exist, digests fixed.
    let mut doc = small_doc();
    doc["data"]["periods"][0]["sprints"][0]["start"] = "2023-02-29".into();
    out.push(("date-does-not-exist.json", pretty_text(&resealed(doc)).into_bytes()));

    // Counts that lie, digests fixed: the header says one team more than the data holds.
    let mut doc = small_doc();
    doc["header"]["counts"]["teams"] = (doc["header"]["counts"]["teams"].as_u64().unwrap() + 1).into();
    out.push(("counts-lie.json", pretty_text(&resealed(doc)).into_bytes()));
    out
}

#[test]
fn hostile_fixtures_are_reproducible() {
    for (name, bytes) in fixtures() {
        assert!(bytes.len() < 64 << 10, "{name} is {} bytes: keep fixtures small", bytes.len());
        let regenerate = "regenerate with UPDATE_HOSTILE=1 cargo test --test integration hostile::";
        golden::reproduce(&dir().join(name), &bytes, "UPDATE_HOSTILE", regenerate);
    }
}

#[test]
fn every_hostile_archive_gives_its_documented_outcome_and_leaves_the_store_untouched() {
    let expected: Value = serde_json::from_slice(&std::fs::read(dir().join("expected.json")).unwrap()).unwrap();
    let expected = expected.as_object().unwrap();
    let on_disk: Vec<String> = entries(&dir()).into_iter().filter(|n| n != "expected.json").collect();
    let listed: Vec<String> = expected.keys().filter(|k| !k.starts_with("../")).cloned().collect();
    assert_eq!(on_disk, listed, "fixtures/hostile/ and its expected.json list different files");

    let tmp = tempfile::TempDir::new().unwrap();
    let backend = Sqlite::template(tmp.path(), None);
    let store = backend.fresh(&tmp.path().join("store"));
    let before = store_digest(&store).unwrap();
    let safety = tmp.path().join("safety");
    let (_, _, baseline) = run_measured(cli().arg("validate").arg(dir().join("good-small.json")));
    let mut report = Vec::new();
    for (name, want) in expected {
        let path = dir().join(name);
        let (code, stderr, rss) = run_measured(cli().args(["--format", "json", "validate"]).arg(&path));
        assert_eq!(code, Ok(want["validate"].as_i64().unwrap() as i32), "validate {name}: {stderr}");
        let (code, stderr, import_rss) = run_measured(
            cli().args(["--store", &store, "import"]).arg(&path).args(["--yes", "--safety-dir"]).arg(&safety),
        );
        assert_eq!(code, Ok(want["import"].as_i64().unwrap() as i32), "import {name}: {stderr}");
        let needle = want["message"].as_str().unwrap();
        assert!(stderr.contains(needle), "import {name}: {stderr:?} does not mention {needle:?}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let extra = rss.max(import_rss).saturating_sub(baseline) / 1024;
        assert!(extra < 64, "{name} took {extra} MiB more than a good archive");
        report.push(format!("{name}: {} (+{extra} MiB)", want["import"]));
    }
    // good-small is the one archive that imports; everything else left the store as it was.
    let good = archive_digest(&dir().join("good-small.json")).unwrap();
    assert_eq!(store_digest(&store).unwrap(), good);
    assert_eq!(imports_logged(&store).unwrap(), 1);
    assert_ne!(before, good);
    eprintln!("hostile: {} archives, baseline {} MiB: {}", expected.len(), baseline / 1024, report.join(", "));
}

/// The document of issue 14, item 4: the small sample whose one PI holds 1,000 objectives, each
/// with a description just under the 1 MiB string limit, as compact canonical JSON with both
/// digests right (about 1 GB of JSON, a few KB of zstd). Written piece by piece into `out`
/// (never held whole); the digests are computed by a first pass over the same pieces.
fn write_entity_bomb(out: &mut impl Write, objectives: usize) {
    use sha2::{Digest, Sha256};
    let description = "d".repeat((1 << 20) - 16);
    let mut doc = small_doc();
    let pi = doc["data"]["pis"][0].as_object_mut().unwrap();
    pi.insert("objectives".into(), Value::Array(vec![]));
    let canonical = |v: &Value| serde_json_canonicalizer::to_vec(v).unwrap();
    let data = canonical(&doc["data"]);
    let data = String::from_utf8(data).unwrap();
    let (before, after) = data.split_once(r#""objectives":[]"#).unwrap();
    let objective = |k: usize| {
        format!(
            r#"{}{{"committed":false,"description":"{description}","epics":[],"level":"PROGRAM","order":{},"title":"Goal {k}"}}"#,
            if k == 0 { "" } else { "," },
            k + 1
        )
    };
    let each_data_piece = |f: &mut dyn FnMut(&[u8])| {
        f(before.as_bytes());
        f(br#""objectives":["#);
        for k in 0..objectives {
            f(objective(k).as_bytes());
        }
        f(b"]");
        f(after.as_bytes());
    };
    let (mut content, mut integrity) = (Sha256::new(), Sha256::new());
    integrity.update(br#"{"data":"#);
    each_data_piece(&mut |piece| {
        content.update(piece);
        integrity.update(piece);
    });
    let header = doc["header"].as_object_mut().unwrap();
    header["counts"]["objectives"] = objectives.into();
    header["content_digest"] = format!("sha256:{}", hex::encode(content.finalize())).into();
    header.remove("integrity_digest");
    integrity.update(br#","format":"ativo-backup","format_version":1,"header":"#);
    integrity.update(canonical(&doc["header"]));
    integrity.update(b"}");
    doc["header"]["integrity_digest"] = format!("sha256:{}", hex::encode(integrity.finalize())).into();
    out.write_all(br#"{"format":"ativo-backup","format_version":1,"header":"#).unwrap();
    out.write_all(&canonical(&doc["header"])).unwrap();
    out.write_all(br#","data":"#).unwrap();
    each_data_piece(&mut |piece| out.write_all(piece).unwrap());
    out.write_all(b"}").unwrap();
}

/// A regression test (issue 14, item 4): that archive (digest-valid, 1 GB of JSON in a few KB of zstd) made
/// `validate` and `import` hold 1.09 GB. One entity is now bounded (SPEC.md 7, 8 MiB of
/// canonical JSON): both refuse it with exit 3, naming the PI, in under 256 MiB of peak memory.
#[test]
fn one_pi_over_the_entity_limit_is_refused_in_bounded_memory() {
    let tmp = tempfile::TempDir::new().unwrap();
    let path = tmp.path().join("entity-bomb.json.zst");
    let file = std::fs::File::create(&path).unwrap();
    let mut encoder = zstd::stream::write::Encoder::new(file, 3).unwrap();
    encoder.include_checksum(true).unwrap();
    write_entity_bomb(&mut encoder, 1000);
    encoder.finish().unwrap();
    // The same construction with 3 objectives (3 MiB, under the limit) is a valid archive: the
    // digests are right, so the limit is what refuses the large one.
    let mut small = Vec::new();
    write_entity_bomb(&mut small, 3);
    let read = archive::read(&small[..], &archive::Limits::default()).unwrap();
    assert_eq!(read.data.pis[0].objectives.len(), 3);
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size < 256 << 10, "the archive is {size} bytes of zstd");
    let backend = Sqlite::template(tmp.path(), None);
    let store = backend.fresh(&tmp.path().join("store"));
    let before = store_digest(&store).unwrap();
    let (code, stderr, validate_rss) = run_measured(cli().args(["validate"]).arg(&path));
    assert_eq!(code, Ok(3), "validate: {stderr}");
    let (code, stderr, import_rss) = run_measured(
        cli().args(["--store", &store, "import"]).arg(&path).args(["--yes", "--safety-dir"]).arg(tmp.path().join("s")),
    );
    assert_eq!(code, Ok(3), "import: {stderr}");
    assert!(stderr.contains("/data/pis/0") && stderr.contains("limit of one entity"), "{stderr}");
    assert_eq!(store_digest(&store).unwrap(), before);
    let peak = validate_rss.max(import_rss) / 1024;
    eprintln!(
        "entity bomb: {size} bytes of zstd; peak memory: validate {} MiB, import {} MiB",
        validate_rss / 1024,
        import_rss / 1024
    );
    assert!(peak < 256, "peak memory {peak} MiB");
}
