//! SPEC.md's worked examples are the code's: the example archive reads (so its digests are
//! right) and is byte for byte what the writer writes; the quoted canonical data, digests and
//! fingerprint are recomputed; the Python digest script in the spec runs and agrees with us,
//! on the example and on a zstd archive decompressed by the `zstd` command.

use crate::archive_common;

use std::io::Write;
use std::process::{Command, Stdio};

use archive_common::*;
use ativo_backup::archive::{self, Encoding, Scope};
use ativo_backup::host::{Deployment, HostIdentity};
use ativo_backup::model::canonical::to_canonical_vec;
use ativo_backup::model::*;

fn spec() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/SPEC.md")).unwrap()
}

/// The fenced block that follows `<!-- spec-example: NAME -->`.
fn example(name: &str) -> String {
    let spec = spec();
    let marker = format!("<!-- spec-example: {name} -->\n");
    let start = spec.find(&marker).unwrap_or_else(|| panic!("SPEC.md has no example {name}")) + marker.len();
    let body = &spec[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("\n```").unwrap()].to_string()
}

#[test]
fn the_example_archive_is_what_the_writer_writes_and_it_reads() {
    let text = example("archive") + "\n";
    let archive = decode(text.as_bytes()).unwrap();
    assert_eq!(String::from_utf8(encode(&archive, Encoding::Json)).unwrap(), text);
    let spec = spec();
    for quoted in [&archive.header.content_digest, &archive.header.integrity_digest, &archive.header.source.fingerprint]
    {
        assert!(spec.contains(&format!("`{quoted}`")), "SPEC.md does not quote {quoted}");
    }
    let canonical = example("canonical-data");
    assert_eq!(to_canonical_vec(&archive.data), canonical.as_bytes());
    assert!(spec.contains(&format!("JCS(data) is these {} bytes", canonical.len())));

    // The example is the one its prose describes, sealed by the reference writer.
    let mut config = Configuration::empty();
    config.admins.as_mut().unwrap().groups.push(AdminGroup { group_id: None, name: "jira-administrators".into() });
    config.teams.push(Team {
        archived: false,
        board: Some("42".into()),
        estimation: Estimation::StoryPoints,
        key: "LION".into(),
        mode: TeamMode::Scrum,
        name: "Lions".into(),
        scope: None,
        kind: TeamType::Board,
    });
    config.periods.push(Period {
        archived: false,
        key: "2024Q1".into(),
        name: "2024 Q1".into(),
        sprints: vec![Sprint {
            completed: true,
            end: date("2024-01-14"),
            index: 1,
            name: None,
            start: date("2024-01-01"),
        }],
    });
    config.settings.story_points_field = Some("customfield_10016".into());
    let source = HostIdentity::new(Deployment::Datacenter, "B8E7-9F2A-3C4D-5E6F", "https://Jira.Example.com/").unwrap();
    let sealed = archive::seal(config, &source, Scope::Full, vec![], archive.header.created_at);
    assert_eq!(sealed.data, archive.data);
    assert_eq!(sealed.header.content_digest, archive.header.content_digest);
    if sealed.header.tool.version == archive.header.tool.version {
        assert_eq!(sealed.header, archive.header);
    }
}

#[test]
fn the_fingerprint_example_is_right() {
    let host = HostIdentity::new(Deployment::Datacenter, "B8E7-9F2A-3C4D-5E6F", "https://Jira.Example.com/").unwrap();
    let encoding = example("fingerprint-encoding");
    use sha2::Digest;
    let from_spec = format!("sha256:{}", hex::encode(sha2::Sha256::digest(encoding.as_bytes())));
    assert_eq!(host.fingerprint(), from_spec);
    assert!(spec().contains(&format!("and the fingerprint is `{from_spec}`")));
}

#[test]
fn documents_stay_well_below_the_depth_limit() {
    fn depth(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
            serde_json::Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    assert_eq!(depth(&json_doc(&sealed())), 10, "SPEC.md, \"Limits\", gives the deepest nesting");
}

fn run_script(document: &[u8]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("digests.py");
    std::fs::write(&script, example("digests.py")).unwrap();
    let mut child = Command::new("python3")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the SPEC.md digest script; install CPython 3");
    child.stdin.take().unwrap().write_all(document).unwrap();
    let output = child.wait_with_output().unwrap();
    (output.status.success(), String::from_utf8(output.stdout).unwrap())
}

#[test]
fn the_python_script_recomputes_the_digests_of_the_example() {
    let text = example("archive");
    let archive = decode(text.as_bytes()).unwrap();
    let (ok, out) = run_script(text.as_bytes());
    assert!(ok, "{out}");
    assert!(out.contains(&archive.header.content_digest) && out.contains(&archive.header.integrity_digest), "{out}");
}

#[test]
fn zstd_dc_and_the_python_script_read_a_real_archive() {
    let mut config = config();
    let values = [5.0, 0.1 + 0.2, 1e21, 1e-7, 123.456, 1e300, 4.35, 1e-6, 1.5e-7, 1e20, 0.001];
    config.pis[0].capacity = values
        .iter()
        .enumerate()
        .map(|(i, &value)| Capacity { sprint: i as u32 + 1, team: "LION".into(), value })
        .collect();
    let sealed = archive::seal(config, &host(), Scope::Full, tokens(), created_at());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archive.json.zst");
    std::fs::write(&path, encode(&sealed, Encoding::Zstd)).unwrap();
    let decompressed = zstd_dc(&path);
    let (ok, out) = run_script(&decompressed);
    assert!(ok, "{out}");
    assert!(out.contains(&sealed.header.content_digest) && out.contains(&sealed.header.integrity_digest), "{out}");

    // And it notices tampering.
    let tampered = String::from_utf8(decompressed).unwrap().replace("Program one", "Program two");
    let (ok, out) = run_script(tampered.as_bytes());
    assert!(!ok && out.contains("MISMATCH"), "{out}");
}

/// `zstd -dc PATH`: the plain zstd command, as SPEC.md promises. `.ci/run` installs it and sets
/// `ATIVO_REQUIRE_TOOLS`, so CI always runs the real command; on a developer machine without it,
/// the archive is decoded by libzstd's own streaming decoder instead (still not our reader), and
/// the test says so.
fn zstd_dc(path: &std::path::Path) -> Vec<u8> {
    match Command::new("zstd").arg("-dc").arg(path).output() {
        Ok(output) => {
            assert!(output.status.success(), "zstd -dc: {}", String::from_utf8_lossy(&output.stderr));
            output.stdout
        }
        Err(e) => {
            assert!(
                std::env::var_os("ATIVO_REQUIRE_TOOLS").is_none(),
                "the zstd command is required here (ATIVO_REQUIRE_TOOLS is set) but cannot run: {e}"
            );
            eprintln!("note: no zstd command ({e}); decoding with libzstd's streaming decoder instead");
            zstd::stream::decode_all(std::fs::File::open(path).unwrap()).unwrap()
        }
    }
}

/// Issue 16, item 4: the script must agree with the tool on every valid archive, integers at and
/// beyond 2^53 included: every valid case of the conformance kit (decompressed here) passes it.
#[test]
fn the_python_script_accepts_every_valid_case_of_the_conformance_kit() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/conformance");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let mut checked = 0;
    for case in manifest["cases"].as_array().unwrap().iter().filter(|c| c["exit"] == 0) {
        let file = case["file"].as_str().unwrap();
        let bytes = std::fs::read(dir.join("cases").join(file)).unwrap();
        let document = if file.ends_with(".zst") { zstd::stream::decode_all(&bytes[..]).unwrap() } else { bytes };
        let (ok, output) = run_script(&document);
        assert!(ok, "{file}: {output}");
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} valid cases");
}
