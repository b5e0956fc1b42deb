//! The CLI through the real binary: every command, every exit code of the contract, and the
//! store left untouched by every refusal.

use crate::archive_common;
use crate::commands::{bin, digest, init, json_of};

use std::path::{Path, PathBuf};

use predicates::prelude::*;
use tempfile::TempDir;

const SERVER_ID: &str = "B8E7-9F2A-3C4D-5E6F";
const BASE_URL: &str = "https://jira.example.com";

/// A temp dir with a demo-sample store for the example host.
fn demo_store() -> (TempDir, PathBuf) {
    let dir = TempDir::new().unwrap();
    let store = dir.path().join("ativo.db");
    init(&store, SERVER_ID, BASE_URL, Some("demo"));
    (dir, store)
}

fn export(store: &Path, out: &Path) {
    bin().arg("--store").arg(store).arg("export").arg("-o").arg(out).assert().success();
}

#[test]
fn demo_makes_a_verified_backup_and_restores_it() {
    let dir = TempDir::new().unwrap();
    bin()
        .args(["demo", "--dir"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("exported").and(predicate::str::contains("restored")))
        .stdout(predicate::str::contains("restored only program"))
        .stdout(predicate::str::contains("keeps its new name"));
    assert!(dir.path().join("ativo.db").exists());
    assert!(dir.path().join("backup.json.zst").exists());
}

#[test]
fn round_trip_export_import_on_a_fresh_store_of_the_same_host_is_identical() {
    let (dir, store) = demo_store();
    let first = dir.path().join("first.json.zst");
    export(&store, &first);
    let fresh = dir.path().join("fresh.db");
    init(&fresh, SERVER_ID, BASE_URL, None);
    bin().arg("--store").arg(&fresh).arg("import").arg(&first).arg("--yes").assert().success();
    let second = dir.path().join("second.json");
    export(&fresh, &second);
    let a = json_of(bin().args(["--format", "json", "inspect"]).arg(&first));
    let b = json_of(bin().args(["--format", "json", "inspect"]).arg(&second));
    assert_eq!(a["header"]["content_digest"], b["header"]["content_digest"]);
    assert_eq!(a["header"]["counts"], b["header"]["counts"]);
    let diff = json_of(bin().args(["--format", "json", "diff"]).arg(&first).arg(&second));
    assert_eq!(diff["from_digest"], diff["to_digest"]);
    assert_eq!(digest(&store), digest(&fresh));
}

#[test]
fn store_comes_from_the_option_before_or_after_the_command_or_the_environment() {
    let (_dir, store) = demo_store();
    bin().arg("--store").arg(&store).arg("host").assert().success().stdout(predicate::str::contains(BASE_URL));
    bin().arg("host").arg("--store").arg(&store).assert().success().stdout(predicate::str::contains(SERVER_ID));
    bin().env("ATIVO_STORE", &store).arg("host").assert().success().stdout(predicate::str::contains("sha256:"));
    let sqlite_url = format!("sqlite:{}", store.display());
    bin().args(["--store", &sqlite_url, "host"]).assert().success();
}

#[test]
fn commands_that_read_a_store_never_create_one_and_exit_7() {
    let dir = TempDir::new().unwrap();
    let missing = dir.path().join("nope.db");
    for args in [vec!["host"], vec!["export"], vec!["import", "x.json.zst", "--yes"]] {
        bin().arg("--store").arg(&missing).args(&args).assert().code(7).stderr(predicate::str::contains("no store"));
        assert!(!missing.exists(), "{args:?} created the store");
    }
    // The default store is ./ativo.db in the working directory.
    bin().current_dir(dir.path()).arg("host").assert().code(7);
    assert!(!dir.path().join("ativo.db").exists());
}

#[test]
fn init_refuses_to_overwrite_and_bad_identities_are_usage_errors() {
    let (_dir, store) = demo_store();
    let before = digest(&store);
    bin()
        .arg("--store")
        .arg(&store)
        .args(["init", "--server-id", "X", "--base-url", BASE_URL])
        .assert()
        .code(7)
        .stderr(predicate::str::contains("already exists"));
    assert_eq!(digest(&store), before);
    let dir = TempDir::new().unwrap();
    let new = dir.path().join("new.db");
    bin().arg("--store").arg(&new).args(["init", "--server-id", "X", "--base-url", "ftp://x"]).assert().code(2);
    bin().arg("--store").arg(&new).args(["init", "--server-id", "X"]).assert().code(2);
    bin().arg("frobnicate").assert().code(2);
    assert!(!new.exists());
}

#[test]
fn import_without_yes_and_without_a_terminal_refuses_and_changes_nothing() {
    let (dir, store) = demo_store();
    let archive = dir.path().join("a.json.zst");
    export(&store, &archive);
    let before = digest(&store);
    bin()
        .arg("--store")
        .arg(&store)
        .arg("import")
        .arg(&archive)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--yes"));
    assert_eq!(digest(&store), before);
}

#[test]
fn dry_run_shows_the_plan_and_writes_nothing() {
    let (dir, store) = demo_store();
    let archive = dir.path().join("a.json");
    export(&store, &archive);
    // Change the store by importing an edited archive? Simpler: an empty store of the same host.
    let empty = dir.path().join("empty.db");
    init(&empty, SERVER_ID, BASE_URL, None);
    let before = digest(&empty);
    let report =
        json_of(bin().arg("--store").arg(&empty).args(["--format", "json", "import"]).arg(&archive).arg("--dry-run"));
    assert_eq!(report["dry_run"], true);
    let teams = report["plan"]["kinds"].as_array().unwrap().iter().find(|k| k["kind"] == "teams").unwrap().clone();
    assert!(teams["added"].as_u64().unwrap() > 0);
    assert_eq!(digest(&empty), before);
    assert!(!dir.path().join("ativo-safety-backups").exists());
}

#[test]
fn import_writes_a_safety_backup_that_restores_the_previous_state() {
    let (dir, store) = demo_store();
    let archive = dir.path().join("a.json.zst");
    export(&store, &archive);
    let empty = dir.path().join("empty.db");
    init(&empty, SERVER_ID, BASE_URL, None);
    let empty_digest = digest(&empty);
    let report = json_of(bin().arg("--store").arg(&empty).args(["--format", "json", "import", "--yes"]).arg(&archive));
    let backup = PathBuf::from(report["safety_backup"].as_str().unwrap());
    assert!(backup.starts_with(dir.path().join("ativo-safety-backups")), "{backup:?}");
    assert_eq!(digest(&empty), digest(&store));
    // The safety backup holds the configuration that was replaced.
    bin().arg("--store").arg(&empty).arg("import").arg(&backup).arg("--yes").assert().success();
    assert_eq!(digest(&empty), empty_digest);
}

#[test]
fn an_archive_of_another_host_exits_4_naming_both_and_changes_nothing() {
    let (dir, store) = demo_store();
    let archive = dir.path().join("a.json.zst");
    export(&store, &archive);
    let staging = dir.path().join("staging.db");
    init(&staging, SERVER_ID, "https://jira-staging.example.com", None);
    let before = digest(&staging);
    bin()
        .arg("--store")
        .arg(&staging)
        .arg("import")
        .arg(&archive)
        .arg("--yes")
        .assert()
        .code(4)
        .stderr(predicate::str::contains("https://jira.example.com").and(predicate::str::contains("jira-staging")));
    assert_eq!(digest(&staging), before);
}

#[test]
fn a_base_url_change_with_keep_alias_still_accepts_older_backups() {
    let (dir, store) = demo_store();
    let archive = dir.path().join("a.json.zst");
    export(&store, &archive);
    bin().arg("--store").arg(&store).args(["host", "set-base-url", "https://jira.new.example.com"]).assert().success();
    bin().arg("--store").arg(&store).arg("import").arg(&archive).arg("--yes").assert().code(4);
    bin().arg("--store").arg(&store).args(["host", "set-base-url", "https://jira.example.com"]).assert().success();
    bin()
        .arg("--store")
        .arg(&store)
        .args(["host", "set-base-url", "https://jira.new.example.com", "--keep-alias"])
        .assert()
        .success()
        .stdout(predicate::str::contains("alias"));
    let report = json_of(bin().arg("--store").arg(&store).args(["--format", "json", "import", "--yes"]).arg(&archive));
    assert_eq!(report["host_match"], "alias");
}

#[test]
fn export_to_stdout_and_validate_from_stdin() {
    let (_dir, store) = demo_store();
    let out = bin().arg("--store").arg(&store).args(["export", "-o", "-"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(&out.stdout[..4], &[0x28, 0xB5, 0x2F, 0xFD], "zstd magic");
    bin().args(["validate", "-"]).write_stdin(out.stdout).assert().success().stdout(predicate::str::contains("ok"));
}

#[test]
fn export_default_name_has_host_and_utc_time() {
    let (dir, store) = demo_store();
    let work = dir.path().join("out");
    std::fs::create_dir(&work).unwrap();
    bin().current_dir(&work).arg("--store").arg(&store).arg("export").assert().success();
    let names: Vec<String> =
        std::fs::read_dir(&work).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("ativo-jira.example.com-2") && names[0].ends_with("Z.json.zst"), "{names:?}");
}

#[test]
fn export_to_a_missing_directory_fails_cleanly() {
    let (dir, store) = demo_store();
    let target = dir.path().join("no/such/dir/a.json.zst");
    bin()
        .arg("--store")
        .arg(&store)
        .arg("export")
        .arg("-o")
        .arg(&target)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no/such/dir"));
    assert!(!target.exists());
}

#[test]
fn validate_reports_each_file_and_the_highest_code_wins() {
    let (dir, store) = demo_store();
    let good = dir.path().join("good.json.zst");
    export(&store, &good);
    let bad = dir.path().join("bad.json.zst");
    let mut bytes = std::fs::read(&good).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&bad, bytes).unwrap();
    let junk = dir.path().join("junk.txt");
    std::fs::write(&junk, "hello").unwrap();
    bin().arg("validate").arg(&good).assert().code(0);
    bin().arg("validate").arg(&junk).assert().code(3);
    bin().arg("validate").arg(&bad).assert().code(5);
    let report = json_of(bin().args(["--format", "json", "validate"]).arg(&good).arg(&junk).arg(&bad));
    assert_eq!(report["exit_code"], 5);
    assert_eq!(report["report_version"], 1);
    assert_eq!(report["files"][0]["ok"], true);
    assert_eq!(report["files"][1]["findings"][0]["code"], "archive.not-an-archive");
    assert_eq!(report["files"][2]["findings"][0]["code"], "archive.integrity");
    bin()
        .args(["--format", "github", "validate"])
        .arg(&bad)
        .assert()
        .code(5)
        .stdout(predicate::str::contains("::error file=").and(predicate::str::contains("1 failed")));
}

#[test]
fn semantic_errors_exit_3_with_a_pointer() {
    let (dir, store) = demo_store();
    let plain = dir.path().join("a.json");
    export(&store, &plain);
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&plain).unwrap()).unwrap();
    // A program that names a team that does not exist; digests recomputed so only semantics fail.
    doc["data"]["programs"][0]["teams"].as_array_mut().unwrap().push("NO-SUCH-TEAM".into());
    let edited = dir.path().join("edited.json");
    archive_common::reseal(&mut doc);
    std::fs::write(&edited, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let report = json_of(bin().args(["--format", "json", "validate"]).arg(&edited));
    assert_eq!(report["exit_code"], 3, "{report}");
    let finding = &report["files"][0]["findings"][0];
    assert!(finding["pointer"].as_str().unwrap().starts_with("/data/programs/0/teams"), "{finding}");
    let before = digest(&store);
    bin().arg("--store").arg(&store).arg("import").arg(&edited).arg("--yes").assert().code(3);
    assert_eq!(digest(&store), before);
}

#[test]
fn a_newer_format_version_exits_6() {
    let (dir, store) = demo_store();
    let plain = dir.path().join("a.json");
    export(&store, &plain);
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&plain).unwrap()).unwrap();
    doc["format_version"] = 2.into();
    let newer = dir.path().join("newer.json");
    std::fs::write(&newer, serde_json::to_vec(&doc).unwrap()).unwrap();
    bin().arg("validate").arg(&newer).assert().code(6).stdout(predicate::str::contains("upgrade"));
    let before = digest(&store);
    bin().arg("--store").arg(&store).arg("import").arg(&newer).arg("--yes").assert().code(6);
    assert_eq!(digest(&store), before);
}

#[test]
fn an_edited_value_without_a_new_digest_exits_5() {
    let (dir, store) = demo_store();
    let plain = dir.path().join("a.json");
    export(&store, &plain);
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&plain).unwrap()).unwrap();
    doc["data"]["teams"][0]["name"] = "Renamed".into();
    let edited = dir.path().join("edited.json");
    std::fs::write(&edited, serde_json::to_vec(&doc).unwrap()).unwrap();
    bin().arg("validate").arg(&edited).assert().code(5);
    let before = digest(&store);
    bin().arg("--store").arg(&store).arg("import").arg(&edited).arg("--yes").assert().code(5);
    assert_eq!(digest(&store), before);
}

#[test]
fn inspect_schema_and_every_help_work_and_an_unknown_format_is_a_usage_error() {
    let (dir, store) = demo_store();
    let archive = dir.path().join("a.json.zst");
    export(&store, &archive);
    bin().arg("inspect").arg(&archive).assert().success().stdout(predicate::str::contains("content digest"));
    let schema = json_of(bin().arg("schema"));
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    for cmd in ["init", "host", "export", "import", "validate", "inspect", "diff", "schema", "demo"] {
        bin().args([cmd, "--help"]).assert().success().stdout(predicate::str::contains("Example"));
    }
    bin().arg("--format").arg("github").arg("host").assert().code(2);
}

#[test]
fn server_to_data_center_keeps_its_backups_with_keep_alias() {
    let dir = TempDir::new().unwrap();
    let store = dir.path().join("ativo.db");
    bin()
        .arg("--store")
        .arg(&store)
        .args(["init", "--server-id", SERVER_ID, "--base-url", BASE_URL, "--deployment", "server", "--sample", "demo"])
        .assert()
        .success();
    let archive = dir.path().join("server.json.zst");
    export(&store, &archive);
    bin()
        .arg("--store")
        .arg(&store)
        .args(["host", "set-deployment", "datacenter", "--keep-alias"])
        .assert()
        .success()
        .stdout(predicate::str::contains("datacenter"));
    let report = json_of(bin().arg("--store").arg(&store).args(["--format", "json", "import", "--yes"]).arg(&archive));
    assert_eq!(report["host_match"], "alias");
    // Cloud is a migration, not a deployment change.
    bin().arg("--store").arg(&store).args(["host", "set-deployment", "cloud"]).assert().code(2);
}

#[test]
fn the_other_host_message_suggests_an_alias_for_the_same_server_id_and_migrate_only_for_cloud() {
    let (dir, store) = demo_store();
    let archive = dir.path().join("a.json.zst");
    export(&store, &archive);
    // Same server id, another deployment: an alias is the way, never `migrate`.
    let server = dir.path().join("server.db");
    bin()
        .arg("--store")
        .arg(&server)
        .args(["init", "--server-id", SERVER_ID, "--base-url", BASE_URL, "--deployment", "server"])
        .assert()
        .success();
    let out = bin().arg("--store").arg(&server).arg("import").arg(&archive).arg("--yes").output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(message.contains("set-deployment") && message.contains("--keep-alias"), "{message}");
    assert!(!message.contains("migrate"), "{message}");
    // Another server id: back to its own host.
    let other = dir.path().join("other.db");
    init(&other, "OTHER-ID", BASE_URL, None);
    let out = bin().arg("--store").arg(&other).arg("import").arg(&archive).arg("--yes").output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(message.contains("the host it came from") && !message.contains("migrate"), "{message}");
    // A cloud site: migrate.
    let cloud = dir.path().join("cloud.db");
    bin()
        .arg("--store")
        .arg(&cloud)
        .args(["init", "--server-id", "cloud-1", "--base-url", "https://acme.atlassian.net", "--deployment", "cloud"])
        .assert()
        .success();
    let out = bin().arg("--store").arg(&cloud).arg("import").arg(&archive).arg("--yes").output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("migrate"));
}

#[test]
fn a_store_held_exclusively_by_another_program_says_so_and_how_long_it_waited() {
    let (_dir, store) = demo_store();
    // Another program (an sqlite3 shell, the app) holds the database in exclusive locking mode.
    let holder = held_exclusively_by_another_program(&store);
    let started = std::time::Instant::now();
    let out = bin().env("ATIVO_LOCK_TIMEOUT_MS", "700").arg("--store").arg(&store).arg("host").output().unwrap();
    let waited = started.elapsed();
    drop(holder);
    assert_eq!(out.status.code(), Some(7));
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(message.contains("another process holds its lock") && message.contains("another program"), "{message}");
    let said: u64 = message
        .split("waited ")
        .nth(1)
        .and_then(|rest| rest.split(" ms").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no wait in {message}"));
    assert!(said >= 650 && u128::from(said) <= waited.as_millis(), "said {said} ms, the run took {waited:?}");
}

/// Holds `store` the way `sqlite3` with `PRAGMA locking_mode = EXCLUSIVE` does, in a child
/// process (a python3 one-liner: SQLite's own locking, not ours), until the guard is dropped.
fn held_exclusively_by_another_program(store: &Path) -> impl Drop {
    struct Holder(std::process::Child);
    impl Drop for Holder {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let script = "import sqlite3,sys,time\nc=sqlite3.connect(sys.argv[1],isolation_level=None)\nc.execute('PRAGMA locking_mode=EXCLUSIVE')\nc.execute('BEGIN EXCLUSIVE')\nprint('held',flush=True)\ntime.sleep(60)\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(store)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 is needed for this test (.ci/run installs it)");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    assert_eq!(line.trim(), "held");
    Holder(child)
}

#[test]
fn an_empty_ativo_store_variable_means_the_default_store() {
    let (dir, _store) = demo_store();
    // `ativo.db` in the working directory is the default store.
    bin().current_dir(dir.path()).env("ATIVO_STORE", "").arg("host").assert().success();
}

#[test]
fn init_over_a_file_that_is_not_a_store_says_what_it_is() {
    let (dir, store) = demo_store();
    let archive = dir.path().join("a.json.zst");
    export(&store, &archive);
    let out = bin()
        .arg("--store")
        .arg(&archive)
        .args(["init", "--server-id", SERVER_ID, "--base-url", BASE_URL])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7));
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(message.contains("not a SQLite database") && !message.contains("already exists"), "{message}");
    bin()
        .arg("--store")
        .arg(&store)
        .args(["init", "--server-id", SERVER_ID, "--base-url", BASE_URL])
        .assert()
        .code(7)
        .stderr(predicate::str::contains("already exists"));
}

/// Text that would drive a terminal: set its title, erase the line, reverse what follows.
const HOSTILE_TEXT: &str = "\u{1b}]0;owned\u{7}\u{1b}[2K\u{202e}";

#[test]
fn archive_text_never_drives_the_terminal_in_human_output_and_stays_exact_in_json() {
    let (dir, store) = demo_store();
    let host =
        ativo_backup::host::HostIdentity::new(ativo_backup::host::Deployment::Datacenter, SERVER_ID, BASE_URL).unwrap();
    let (mut config, mut tokens) = ativo_backup::sample::generate(ativo_backup::sample::SampleSize::Demo);
    let mut team = config.teams[0].clone();
    team.key = format!("X{HOSTILE_TEXT}");
    team.name = format!("name{HOSTILE_TEXT}");
    config.teams.push(team);
    tokens[0].name = format!("token{HOSTILE_TEXT}");
    let sealed =
        ativo_backup::archive::seal(config, &host, ativo_backup::archive::Scope::Full, tokens, chrono::Utc::now());
    let archive = dir.path().join("hostile.json.zst");
    let mut bytes = Vec::new();
    ativo_backup::archive::write(&sealed, &mut bytes, ativo_backup::archive::Encoding::Zstd).unwrap();
    std::fs::write(&archive, bytes).unwrap();
    let runs: [&[&str]; 4] = [&["inspect"], &["-v", "diff"], &["-v", "import", "--dry-run"], &["-v", "validate"]];
    for args in runs {
        let out = bin().arg("--store").arg(&store).args(args).arg(&archive).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let text = String::from_utf8_lossy(bytes);
            assert!(
                !text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\u{202e}'),
                "{args:?} {stream}: {text:?}"
            );
        }
        let shown = String::from_utf8_lossy(&out.stdout);
        // Shown escaped: `\x1b` by the renderer, `\u{1b}` where a finding quotes the key.
        assert!(shown.contains("]0;owned\\"), "{args:?}: the escaped text is missing: {shown}");
    }
    let out = bin().args(["--format", "json", "inspect"]).arg(&archive).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["header"]["api_tokens"][0]["name"], format!("token{HOSTILE_TEXT}"), "JSON must stay exact");
}
