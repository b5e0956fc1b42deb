//! The mappings of a migration in the shapes Atlassian's app migration platform returns them,
//! through the real binary on the demo sample (issue 20): every shape gives the same cloud
//! configuration; repeats, conflicts and ids of the wrong shape are refused naming both places;
//! the size cap, devices and FIFOs are refused before reading; a large file is read in bounded
//! memory.

use crate::memory::run_measured;
use crate::migration_common;

use std::io::Write;
use std::path::Path;

use migration_common::*;
use serde_json::{Value, json};

/// Migrates onto a fresh cloud store of the scene and returns its content digest.
fn migrated_digest(s: &Scene, name: &str, mappings: &[&str]) -> String {
    let cloud = s.dir.path().join(format!("{name}.db"));
    init(&cloud, "cloud", CLOUD_ID, CLOUD_URL, None);
    let mut cmd = on(&cloud);
    cmd.args(["--format", "json", "migrate", "--yes"]).arg(&s.archive);
    for m in mappings {
        cmd.arg("--mappings").arg(m);
    }
    let out = cmd.arg("--safety-dir").arg(s.dir.path().join("safety")).output().unwrap();
    assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    digest(&cloud)
}

fn file(s: &Scene, name: &str, text: &str) -> String {
    let path = s.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn every_shape_atlassian_returns_gives_the_same_cloud_configuration() {
    let s = scene();
    let reference = migrated_digest(&s, "whole", &[s.mappings.to_str().unwrap()]);
    let namespaces: Vec<String> = s.skeleton.as_object().unwrap().keys().cloned().collect();
    // One file per namespace: flat objects, with a byte order mark and numeric ids.
    let mut args = Vec::new();
    for ns in &namespaces {
        let numeric: serde_json::Map<String, Value> = ids(&s.skeleton, ns)
            .iter()
            .map(|id| (id.clone(), cloud_of(id).parse::<u64>().map_or_else(|_| json!(cloud_of(id)), |n| json!(n))))
            .collect();
        let text = format!("\u{feff}{}", Value::Object(numeric));
        args.push(format!("{ns}={}", file(&s, &format!("flat-{}.json", ns.replace(['/', ':'], "_")), &text)));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(migrated_digest(&s, "flat", &args), reference);
    // REST pages of 5 items: sprints as one file per page, issues as JSON lines, filters
    // concatenated without newlines, the rest in the whole document.
    let sprint_pages = rest_pages(&s.skeleton, SPRINT, 5);
    assert!(sprint_pages.len() > 3, "the demo should need several pages of sprints");
    let mut args: Vec<String> = sprint_pages
        .iter()
        .enumerate()
        .map(|(n, page)| format!("{SPRINT}={}", file(&s, &format!("sprints-{n}.json"), &page.to_string())))
        .collect();
    args.push(format!("{ISSUE}={}", file(&s, "issues.jsonl", &lines(&rest_pages(&s.skeleton, ISSUE, 5)))));
    let filters: String = rest_pages(&s.skeleton, FILTER, 5).iter().map(Value::to_string).collect();
    args.push(format!("{FILTER}={}", file(&s, "filters.json", &filters)));
    // Projects as Forge results, in two pages with a cursor.
    let projects = ids(&s.skeleton, PROJECT);
    let (a, b) = projects.split_at(projects.len() / 2);
    let forge = |ids: &[String], cursor: Value| json!({ "results": ids.iter().map(|id| json!({ "key": id, "value": cloud_of(id) })).collect::<Vec<_>>(), "nextCursor": cursor });
    args.push(format!(
        "{PROJECT}={}",
        file(&s, "projects.json", &lines(&[forge(a, json!("c1")), forge(b, Value::Null)]))
    ));
    let rest = fill(&s.skeleton, &[SPRINT, ISSUE, FILTER, PROJECT]);
    args.push(file(&s, "rest.json", &rest.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(migrated_digest(&s, "pages", &args), reference);
    // Standard input is an input like any other.
    let cloud = s.dir.path().join("stdin.db");
    init(&cloud, "cloud", CLOUD_ID, CLOUD_URL, None);
    on(&cloud)
        .args(["migrate", "--yes", "--mappings", "-"])
        .arg(&s.archive)
        .arg("--safety-dir")
        .arg(s.dir.path().join("safety"))
        .write_stdin(std::fs::read(&s.mappings).unwrap())
        .assert()
        .success();
    assert_eq!(digest(&cloud), reference);
}

#[test]
fn repeats_and_conflicts_are_refused_naming_both_places() {
    let s = scene();
    let before = (digest(&s.cloud), log_len(&s.cloud));
    let project = ids(&s.skeleton, PROJECT);
    let board = ids(&s.skeleton, BOARD);
    let mut two_projects = fill(&s.skeleton, &[]);
    two_projects[PROJECT][&project[1]] = json!(cloud_of(&project[0]));
    let mut two_boards = fill(&s.skeleton, &[]);
    two_boards[BOARD][&board[1]] = json!(cloud_of(&board[0]));
    let two_projects = file(&s, "two-projects.json", &two_projects.to_string());
    let two_boards = file(&s, "two-boards.json", &two_boards.to_string());
    fails(
        &mut migrate_with(&s, &s.archive, &[&two_projects]),
        2,
        &["both mapped onto cloud id", "projects", "two-projects.json at /jira~1classic:project/"],
    );
    fails(&mut migrate_with(&s, &s.archive, &[&two_boards]), 2, &["boards", "both mapped onto cloud id"]);
    // The same whole file twice: every namespace is given twice.
    let m = s.mappings.to_str().unwrap();
    fails(&mut migrate_with(&s, &s.archive, &[m, m]), 2, &["is given twice (first in", "mappings.json"]);
    // A duplicate member (JSON parsers usually keep the last one silently).
    let sprint = &ids(&s.skeleton, SPRINT)[0];
    let text = std::fs::read_to_string(&s.mappings).unwrap().replacen(
        &format!("\"{sprint}\": \"{}\"", cloud_of(sprint)),
        &format!("\"{sprint}\": \"{}\", \"{sprint}\": \"42\"", cloud_of(sprint)),
        1,
    );
    let dup = file(&s, "dup.json", &text);
    fails(
        &mut migrate_with(&s, &s.archive, &[&dup]),
        2,
        &[
            &format!("server id \"{sprint}\" of {SPRINT} is mapped twice (first in"),
            "dup.json at /jira~1classic~1software:sprint/",
        ],
    );
    // A custom field in both spellings, mapped differently.
    let field = ids(&s.skeleton, CUSTOM_FIELD)[0].clone();
    let mut both = fill(&s.skeleton, &[]);
    both[CUSTOM_FIELD][field.trim_start_matches("customfield_")] = json!("customfield_777");
    let both = file(&s, "both.json", &both.to_string());
    fails(&mut migrate_with(&s, &s.archive, &[&both]), 2, &["are one custom field, mapped differently"]);
    // A namespace both in a whole document and on its own.
    let sprints = file(&s, "sprints.json", &lines(&rest_pages(&s.skeleton, SPRINT, 1000)));
    fails(
        &mut migrate_with(&s, &s.archive, &[m, &format!("{SPRINT}={sprints}")]),
        2,
        &["namespace jira/classic/software:sprint is given twice"],
    );
    // Only the first page of a namespace: incomplete, and the message says how to go on.
    let first = file(&s, "first.json", &rest_pages(&s.skeleton, SPRINT, 5)[0].to_string());
    let rest = file(&s, "rest.json", &fill(&s.skeleton, &[SPRINT]).to_string());
    fails(
        &mut migrate_with(&s, &s.archive, &[&rest, &format!("{SPRINT}={first}")]),
        2,
        &["the pages of jira/classic/software:sprint are incomplete", "lastEntity"],
    );
    assert_eq!((digest(&s.cloud), log_len(&s.cloud)), before);
}

#[test]
fn cloud_ids_of_the_wrong_shape_are_refused_with_their_pointer() {
    let s = scene();
    let before = digest(&s.cloud);
    let issue = ids(&s.skeleton, ISSUE)[0].clone();
    for (ns, id, cloud, says) in [
        (ISSUE, issue.as_str(), json!("PAA-12"), "is not a positive integer written in decimal"),
        (ISSUE, issue.as_str(), json!("10 42"), "whitespace"),
        (ISSUE, issue.as_str(), json!(-3), "a negative number"),
        (ISSUE, issue.as_str(), json!(0), "not a positive integer"),
        (CUSTOM_FIELD, "customfield_10016", json!("story points"), "whitespace"),
        (CUSTOM_FIELD, "customfield_10016", json!("summary"), "not a custom field id"),
    ] {
        let mut m = fill(&s.skeleton, &[]);
        m[ns][id] = cloud;
        let path = file(&s, "shape.json", &m.to_string());
        let pointer = format!("at /{}/{id}:", ns.replace('/', "~1"));
        fails(&mut migrate_with(&s, &s.archive, &[&path]), 2, &[&pointer, says]);
    }
    assert_eq!(digest(&s.cloud), before);
}

#[test]
fn group_mappings_are_reported_and_never_applied_to_supplier_group_names() {
    let s = scene();
    let mut m = fill(&s.skeleton, &[]);
    m["identity:group"] = json!({ "identity:group:name/suppliers-acme": "5c8e1b2a-cloud-group-id" });
    m["jira:comment"] = json!({ "1": "2" });
    let path = file(&s, "groups.json", &m.to_string());
    let report = json_of(&mut migrate_with(&s, &s.archive, &[&path]));
    let ignored: Vec<&str> =
        report["ignored_namespaces"].as_array().unwrap().iter().map(|i| i["namespace"].as_str().unwrap()).collect();
    assert_eq!(ignored, ["identity:group", "jira:comment"]);
    assert!(report["ignored_namespaces"][0]["reason"].as_str().unwrap().contains("supplier groups by name"));
    let data = exported_data(&s.cloud, s.dir.path());
    assert_eq!(data["settings"]["supplier_groups"], json!(["suppliers-acme", "suppliers-globex"]));
}

#[test]
fn the_size_cap_devices_and_fifos_are_refused_before_reading() {
    let s = scene();
    let before = digest(&s.cloud);
    fails(
        migrate(&s, &s.archive, &s.mappings).args(["--mappings-max-size", "100"]),
        2,
        &["larger than the 100-byte limit", "--mappings-max-size"],
    );
    fails(
        &mut migrate(&s, &s.archive, Path::new("/dev/zero")),
        2,
        &["/dev/zero is a character device, not a regular file"],
    );
    let fifo = s.dir.path().join("fifo");
    let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo takes a NUL-terminated path and a mode; nothing else is touched.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    fails(&mut migrate(&s, &s.archive, &fifo), 2, &["is a fifo (named pipe), not a regular file"]);
    // Zeros through standard input: not JSON, found at the first byte, in bounded memory.
    fails(
        on(&s.cloud).args(["migrate", "--yes", "--mappings", "-"]).arg(&s.archive).write_stdin(vec![0u8; 1 << 20]),
        2,
        &["<stdin>: not JSON"],
    );
    fails(&mut migrate_with(&s, &s.archive, &["jira:sprint=x.json"]), 2, &["not a namespace this tool knows"]);
    assert_eq!(digest(&s.cloud), before);
}

#[test]
fn a_large_mappings_file_is_read_in_bounded_memory() {
    // Regression (issue 20): the file was read whole and parsed into a tree (a 158 MB file took
    // 1.1 GB). Here 40 MB of issue mappings the configuration does not use, then its own.
    let s = scene();
    let big = s.dir.path().join("issues-big.json");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
    write!(out, "{{").unwrap();
    for n in 0..1_800_000u64 {
        write!(out, "\"{}\": \"{}\", ", 50_000_000 + n, 70_000_000 + n).unwrap();
    }
    let own: Vec<String> = ids(&s.skeleton, ISSUE).iter().map(|id| format!("\"{id}\": \"{}\"", cloud_of(id))).collect();
    write!(out, "{}}}", own.join(", ")).unwrap();
    out.into_inner().unwrap().sync_all().unwrap();
    let size = std::fs::metadata(&big).unwrap().len();
    assert!(size > 40 << 20, "{size}");
    let rest = s.dir.path().join("rest.json");
    write_json(&rest, &fill(&s.skeleton, &[ISSUE]));
    let run = |issues: &Path, cloud: &str| {
        let store = s.dir.path().join(cloud);
        init(&store, "cloud", CLOUD_ID, CLOUD_URL, None);
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("ativo-backup"));
        cmd.arg("--store").arg(&store).args(["migrate", "--yes", "--dry-run"]).arg(&s.archive);
        cmd.arg("--mappings").arg(&rest).arg("--mappings").arg(format!("{ISSUE}={}", issues.display()));
        run_measured(&mut cmd)
    };
    let small = s.dir.path().join("issues-small.json");
    std::fs::write(&small, format!("{{{}}}", own.join(", "))).unwrap();
    let (code, stderr, baseline) = run(&small, "small.db");
    assert_eq!(code, Ok(0), "{stderr}");
    let (code, stderr, peak) = run(&big, "big.db");
    assert_eq!(code, Ok(0), "{stderr}");
    eprintln!("peak memory: {baseline} KiB with the small file, {peak} KiB with {} MiB of mappings", size >> 20);
    assert!(peak < baseline + 16 * 1024, "{peak} KiB against {baseline} KiB");
}
