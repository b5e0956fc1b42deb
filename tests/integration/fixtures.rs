//! Golden archives in `fixtures/`: one good demo archive and one archive per defect, each with
//! its expected exit code and finding code in `fixtures/expected.json`, run through the real
//! binary. The fixtures are generated deterministically by this file: `UPDATE_FIXTURES=1 cargo
//! test --test integration fixtures::` rewrites them, and `fixtures_are_reproducible` fails when the code
//! would write different bytes than the committed ones (a format change needs a new fixture
//! set and a format_version bump, not a silent rewrite).

use crate::archive_common::{self, encode, json_doc};
use crate::commands::{bin, init};
use crate::golden::{self, pretty};

use std::io::Write;
use std::path::{Path, PathBuf};

use archive_common::resealed;
use ativo_backup::archive::{self, Encoding, Scope};
use ativo_backup::host::{Deployment, HostIdentity};
use ativo_backup::sample::{SampleSize, generate};
use chrono::{TimeZone, Utc};
use serde_json::Value;

/// Decompressed size of the zstd bomb: just over the default 4 GiB cap.
const BOMB_SIZE: u64 = (4 << 30) + (1 << 20);

fn dir() -> PathBuf {
    golden::dir("")
}

fn good_archive() -> archive::Archive {
    golden::seal(generate(SampleSize::Demo).0)
}

fn plain_doc() -> Value {
    json_doc(&good_archive())
}

/// Every fixture but the bomb: (file name, bytes).
fn fixtures() -> Vec<(&'static str, Vec<u8>)> {
    let good = good_archive();
    let zst = encode(&good, Encoding::Zstd);
    let mut out = vec![("good-demo.json.zst", zst.clone()), ("good-demo.json", encode(&good, Encoding::Json))];

    out.push(("truncated.json.zst", zst[..zst.len() * 2 / 3].to_vec()));
    let mut flipped = zst.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x10;
    out.push(("bit-flip.json.zst", flipped));

    let mut doc = plain_doc();
    doc["data"]["teams"][0]["name"] = "Edited without a new digest".into();
    out.push(("digest-mismatch.json", pretty(&doc)));

    let mut doc = plain_doc();
    doc["format_version"] = 2.into();
    out.push(("newer-version.json", pretty(&doc)));

    let mut doc = plain_doc();
    doc["data"]["teams"][0]["colour"] = "red".into();
    out.push(("unknown-member.json", pretty(&resealed(doc))));

    let mut doc = plain_doc();
    doc["data"]["programs"][0]["teams"].as_array_mut().unwrap().push("GHOST".into());
    out.push(("dangling-reference.json", pretty(&resealed(doc))));

    let mut doc = plain_doc();
    let first_team = doc["data"]["teams"][0].clone();
    doc["data"]["teams"].as_array_mut().unwrap().insert(1, first_team);
    doc["header"]["counts"]["teams"] = (doc["header"]["counts"]["teams"].as_u64().unwrap() + 1).into();
    out.push(("duplicate-key.json", pretty(&resealed(doc))));

    let other =
        HostIdentity::new(Deployment::Datacenter, "B8E7-9F2A-3C4D-5E6F", "https://jira-staging.example.com").unwrap();
    let (config, tokens) = generate(SampleSize::Demo);
    let at = Utc.with_ymd_and_hms(2026, 1, 15, 9, 30, 0).unwrap();
    out.push(("other-host.json.zst", encode(&archive::seal(config, &other, Scope::Full, tokens, at), Encoding::Zstd)));

    out.push(("not-an-archive.txt", b"PK\x03\x04 this is a zip file, not an ativo archive\n".to_vec()));
    out
}

/// A zstd frame that declares (and really has) just over 4 GiB of content: spaces inside an
/// otherwise plausible document.
fn write_bomb(path: &Path) {
    let head = br#"{"format":"ativo-backup","format_version":1,"data":{"teams":["#;
    let tail = b"]}}";
    let file = std::fs::File::create(path).unwrap();
    let mut enc = zstd::stream::Encoder::new(file, 3).unwrap();
    enc.include_checksum(true).unwrap();
    enc.include_contentsize(true).unwrap();
    enc.set_pledged_src_size(Some(BOMB_SIZE)).unwrap();
    enc.write_all(head).unwrap();
    let spaces = vec![b' '; 1 << 20];
    let mut left = BOMB_SIZE - head.len() as u64 - tail.len() as u64;
    while left > 0 {
        let n = left.min(spaces.len() as u64) as usize;
        enc.write_all(&spaces[..n]).unwrap();
        left -= n as u64;
    }
    enc.write_all(tail).unwrap();
    enc.finish().unwrap();
}

#[test]
fn fixtures_are_reproducible() {
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        write_bomb(&dir().join("zstd-bomb.json.zst"));
    }
    for (name, bytes) in fixtures() {
        golden::reproduce(
            &dir().join(name),
            &bytes,
            "UPDATE_FIXTURES",
            "regenerate with UPDATE_FIXTURES=1 cargo test --test integration fixtures:: (and bump format_version if the format changed)",
        );
    }
    // The bomb is too slow to rebuild on every run; check its frame declares more than the cap.
    let bomb = std::fs::read(dir().join("zstd-bomb.json.zst")).unwrap();
    let declared = zstd::zstd_safe::get_frame_content_size(&bomb).unwrap().unwrap();
    assert_eq!(declared, BOMB_SIZE);
    assert!(bomb.len() < 1 << 20, "the bomb is {} bytes compressed", bomb.len());
}

#[test]
fn every_fixture_gives_its_documented_outcome() {
    let expected: Value = serde_json::from_slice(&std::fs::read(dir().join("expected.json")).unwrap()).unwrap();
    let expected = expected.as_object().unwrap();
    let on_disk: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap())
        // Subdirectories (hostile/, fuzz/) have their own expected outcomes and tests.
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "expected.json" && n != "README.md" && !n.starts_with("fuzz"))
        .collect();
    for name in &on_disk {
        assert!(expected.contains_key(name), "fixtures/{name} has no entry in fixtures/expected.json");
    }
    let work = tempfile::TempDir::new().unwrap();
    let store = work.path().join("ativo.db");
    let h = archive_common::host();
    init(&store, &h.server_id, &h.base_url, None);
    for (name, want) in expected {
        let path = dir().join(name);
        let out = bin().args(["--format", "json", "validate"]).arg(&path).output().unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(out.status.code(), want["validate"].as_i64().map(|c| c as i32), "validate {name}: {report}");
        if let Some(code) = want.get("finding") {
            let codes: Vec<&Value> =
                report["files"][0]["findings"].as_array().unwrap().iter().map(|f| &f["code"]).collect();
            assert!(codes.contains(&code), "validate {name}: expected finding {code}, got {codes:?}");
        }
        let import = bin().arg("--store").arg(&store).args(["import", "--dry-run"]).arg(&path).output().unwrap();
        assert_eq!(
            import.status.code(),
            want["import"].as_i64().map(|c| c as i32),
            "import {name}: {}",
            String::from_utf8_lossy(&import.stderr)
        );
    }
}
