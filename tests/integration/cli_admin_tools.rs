//! Issue 7 through the real binary: scheduled backups with rotation, the operations log,
//! completions and the man page, quiet and verbose, and silence on a non-terminal stderr.

use std::path::Path;

use crate::commands::{self, bin, names};

use predicates::prelude::*;
use tempfile::TempDir;

fn init(store: &Path, base_url: &str) {
    commands::init(store, "B8E7", base_url, Some("demo"));
}

#[test]
fn export_dir_keep_rotates_only_this_hosts_archives() {
    let work = TempDir::new().unwrap();
    let store = work.path().join("ativo.db");
    init(&store, "https://jira.example.com");
    let backups = work.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    // Files that must survive: someone else's notes, a file that only looks like ours, and an
    // archive of another host with our naming scheme.
    std::fs::write(backups.join("notes.txt"), "keep me").unwrap();
    std::fs::write(backups.join("ativo-jira.example.com-20200101T000000Z.json.zst"), "not an archive").unwrap();
    let other = work.path().join("other.db");
    init(&other, "https://jira.other.example.com");
    bin().arg("--store").arg(&other).arg("export").arg("--dir").arg(&backups).assert().success();
    // Three archives of ours, with distinct names: older ones are copies renamed into the past.
    bin().arg("--store").arg(&store).arg("export").arg("--dir").arg(&backups).assert().success();
    let ours: Vec<String> = names(&backups)
        .into_iter()
        .filter(|n| n.starts_with("ativo-jira.example.com-") && !n.starts_with("ativo-jira.example.com-2020"))
        .collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    for stamp in ["20240101T000000Z", "20250101T000000Z"] {
        std::fs::copy(backups.join(&ours[0]), backups.join(format!("ativo-jira.example.com-{stamp}.json.zst")))
            .unwrap();
    }
    let out = bin()
        .arg("--store")
        .arg(&store)
        .args(["--format", "json", "export", "--keep", "2", "--dir"])
        .arg(&backups)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let removed: Vec<&str> = report["removed"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(removed.len(), 2, "{removed:?}");
    let left = names(&backups);
    assert!(left.contains(&"notes.txt".to_owned()));
    assert!(left.contains(&"ativo-jira.example.com-20200101T000000Z.json.zst".to_owned()), "look-alike removed");
    assert!(left.iter().any(|n| n.starts_with("ativo-jira.other.example.com-")), "other host's archive removed");
    assert!(!left.contains(&"ativo-jira.example.com-20240101T000000Z.json.zst".to_owned()));
    assert!(!left.contains(&"ativo-jira.example.com-20250101T000000Z.json.zst".to_owned()));
    // The two newest remain: the first export and the one just written (a `-2` name when both
    // fell in the same second).
    let ours_left = left.iter().filter(|n| n.starts_with("ativo-jira.example.com-") && !n.contains("-2020")).count();
    assert_eq!(ours_left, 2, "{left:?}");
    bin().args(["export", "--keep", "0", "--dir", "x"]).assert().code(2);
    bin().args(["export", "--keep", "2"]).assert().code(2);
}

#[test]
fn log_shows_what_happened_with_user_digest_and_outcome() {
    let work = TempDir::new().unwrap();
    let store = work.path().join("ativo.db");
    init(&store, "https://jira.example.com");
    let archive = work.path().join("a.json.zst");
    bin().arg("--store").arg(&store).arg("export").arg("-o").arg(&archive).assert().success();
    bin()
        .env("USER", "jira-admin")
        .arg("--store")
        .arg(&store)
        .arg("import")
        .arg(&archive)
        .arg("--yes")
        .assert()
        .success();
    let out = bin().arg("--store").arg(&store).args(["--format", "json", "log"]).output().unwrap();
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = log.as_array().unwrap().iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"init"));
    assert!(kinds.ends_with(&["export", "import"]), "{kinds:?}");
    let import = log.as_array().unwrap().last().unwrap();
    // The OS user is the real user id's name, whatever $USER says (it was set to `jira-admin`).
    let real = ativo_backup::store::current_os_user();
    assert_ne!(real, "jira-admin");
    assert_eq!(import["os_user"], real.as_str());
    assert_eq!(import["outcome"], "ok");
    assert!(import["archive_digest"].as_str().unwrap().starts_with("sha256:"));
    bin()
        .arg("--store")
        .arg(&store)
        .args(["log", "--limit", "1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("import").and(predicate::str::contains(real.as_str())));
}

#[test]
fn completions_and_the_man_page_are_printed_and_an_unknown_shell_is_a_usage_error() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        bin().args(["completions", shell]).assert().success().stdout(predicate::str::contains("validate"));
    }
    bin().args(["completions", "tcsh"]).assert().code(2);
    bin().arg("man").assert().success().stdout(predicate::str::starts_with(".ie").or(predicate::str::contains(".TH")));
    // With --dir, a page per command, which the main page names: import's documents --only.
    let pages = tempfile::TempDir::new().unwrap();
    bin().args(["man", "--dir"]).arg(pages.path()).assert().success();
    let import = std::fs::read_to_string(pages.path().join("ativo-backup-import.1")).unwrap();
    assert!(import.contains("\\-\\-only"), "{import}");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(pages.path().join("ativo-backup-import.1")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644, "a man page is readable by every user");
    // Not a directory, or a directory where a page goes: usage errors that say so.
    bin()
        .args(["man", "--dir"])
        .arg(pages.path().join("ativo-backup.1"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a directory"));
    let odd = tempfile::TempDir::new().unwrap();
    std::fs::create_dir(odd.path().join("ativo-backup-init.1")).unwrap();
    bin()
        .args(["man", "--dir"])
        .arg(odd.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is a directory, not a man page"));
    let main = std::fs::read_to_string(pages.path().join("ativo-backup.1")).unwrap();
    assert!(main.contains("ativo\\-backup\\-import(1)"));
}

/// The commit HEAD names when the crate is the top of a git work tree, as build.rs sees it.
fn checkout_commit() -> Option<String> {
    let dir = env!("CARGO_MANIFEST_DIR");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let top = git(&["rev-parse", "--show-toplevel"])?;
    (std::fs::canonicalize(top).ok()? == std::fs::canonicalize(dir).ok()?).then_some(())?;
    git(&["rev-parse", "--verify", "HEAD"])
}

#[test]
fn version_names_the_commit_and_the_archive_formats() {
    let long = bin().arg("--version").assert().success().get_output().stdout.clone();
    let long = String::from_utf8(long).unwrap();
    let lines: Vec<&str> = long.lines().collect();
    assert_eq!(lines[0], format!("ativo-backup {}", env!("CARGO_PKG_VERSION")), "{long}");
    // Built in a checkout (as the tests are), the commit is HEAD's; elsewhere it says so.
    let commit = checkout_commit().unwrap_or_else(|| "unknown".into());
    assert_eq!(lines[1], format!("commit: {commit}"), "{long}");
    assert_eq!(lines[2], "archive format: writes version 1, reads version 1", "{long}");
    assert_eq!(lines.len(), 3, "{long}");

    let short = bin().arg("-V").assert().success().get_output().stdout.clone();
    let expected = match commit.as_str() {
        "unknown" => format!("ativo-backup {} (commit unknown)\n", env!("CARGO_PKG_VERSION")),
        full => format!("ativo-backup {} ({})\n", env!("CARGO_PKG_VERSION"), &full[..12]),
    };
    assert_eq!(String::from_utf8(short).unwrap(), expected);
}

#[test]
fn quiet_prints_nothing_verbose_adds_timing_and_no_progress_without_a_terminal() {
    let work = TempDir::new().unwrap();
    let store = work.path().join("ativo.db");
    init(&store, "https://jira.example.com");
    let archive = work.path().join("a.json.zst");
    bin()
        .arg("--store")
        .arg(&store)
        .args(["--quiet", "export", "-o"])
        .arg(&archive)
        .assert()
        .success()
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::is_empty());
    // stderr is a pipe here, so no progress bar may appear on it.
    bin().args(["validate"]).arg(&archive).assert().success().stderr(predicate::str::is_empty());
    bin().args(["--verbose", "validate"]).arg(&archive).assert().success().stderr(predicate::str::contains("took"));
    bin().args(["--quiet", "--verbose", "validate"]).arg(&archive).assert().code(2);
}

#[test]
fn a_closed_pipe_ends_the_output_quietly_not_with_a_panic() {
    use std::io::Read;
    use std::process::Stdio;
    let work = TempDir::new().unwrap();
    let store = work.path().join("ativo.db");
    init(&store, "https://jira.example.com");
    let archive = work.path().join("a.json.zst");
    bin().arg("--store").arg(&store).arg("export").arg("-o").arg(&archive).assert().success();
    // A JSON report on 200 files is far more than a pipe buffer holds, so the writer meets the
    // closed pipe while printing.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ativo-backup"))
        .args(["--format", "json", "validate"])
        .args(std::iter::repeat_n(&archive, 200))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap(); // then the pipe closes
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!status.success());
}
