//! Issue 5, concurrency on SQLite, through the real binary: two imports at once are serialised
//! (both succeed one after the other, or one gets exit 7 after its bounded wait) and the store
//! ends holding one of the two archives, the one logged last; an export during an import sees
//! the old or the new configuration, whole (WAL readers never wait for the writer); a store whose
//! write lock is held is exit 7 after the lock timeout (`ATIVO_LOCK_TIMEOUT_MS`), not before, and
//! not much after.

use crate::crash_common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use ativo_backup::archive::Encoding;
use crash_common::*;

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    backend: Sqlite,
    old: String,
    archives: [(std::path::PathBuf, String); 2],
}

fn fixture() -> Fixture {
    let tmp = tempfile::TempDir::new().unwrap();
    let dir = tmp.path().to_path_buf();
    let fill = dir.join("fill.json.zst");
    let old = write_archive(&fill, slice_config(0..20), Encoding::Zstd);
    let backend = Sqlite::template(&dir, Some(&fill));
    let a = dir.join("a.json.zst");
    let b = dir.join("b.json.zst");
    let da = write_archive(&a, slice_config(20..40), Encoding::Zstd);
    let db = write_archive(&b, slice_config(40..60), Encoding::Zstd);
    Fixture { _tmp: tmp, dir, backend, old, archives: [(a, da), (b, db)] }
}

fn import(store: &str, archive: &Path, safety: &Path, timeout_ms: u64) -> std::process::Command {
    let mut cmd = cli();
    cmd.args(["--store", store, "import"])
        .arg(archive)
        .args(["--yes", "--safety-dir"])
        .arg(safety)
        .env("ATIVO_LOCK_TIMEOUT_MS", timeout_ms.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// The content digest the last import in the log wrote.
fn last_import(store: &str) -> String {
    let location = ativo_backup::store::Location::parse(store).unwrap();
    let ops = ativo_backup::store::open(&location).unwrap().operations().unwrap();
    ops.iter().rev().find(|op| op.kind == "import").unwrap().content_digest.clone().unwrap()
}

#[test]
fn two_imports_at_once_are_serialised_and_the_store_holds_one_archive() {
    let f = fixture();
    // A generous wait (both succeed in turn), then a short one (the loser may get 7).
    for (round, timeout_ms) in [(0, 20_000), (1, 50), (2, 50), (3, 20_000)] {
        let store = f.backend.fresh(&f.dir.join(format!("pair-{round}")));
        let safety = f.dir.join(format!("pair-{round}/safety"));
        let children: Vec<_> =
            f.archives.iter().map(|(a, _)| import(&store, a, &safety, timeout_ms).spawn().unwrap()).collect();
        let outputs: Vec<_> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
        let codes: Vec<_> = outputs.iter().map(|o| code(&o.status)).collect();
        for (out, c) in outputs.iter().zip(&codes) {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(*c == Ok(0) || (*c == Ok(7) && stderr.contains("busy")), "round {round}: {c:?} {stderr}");
        }
        if timeout_ms > 1000 {
            assert_eq!(codes, [Ok(0), Ok(0)], "round {round}: with a long wait both imports succeed in turn");
        }
        assert!(codes.contains(&Ok(0)), "round {round}: neither import succeeded");
        let digest = store_digest(&store).unwrap();
        assert!(f.archives.iter().any(|(_, d)| *d == digest), "round {round}: the store holds a mix");
        assert_eq!(digest, last_import(&store), "round {round}: the store is not what the last import wrote");
        assert_eq!(imports_logged(&store).unwrap(), 1 + codes.iter().filter(|c| **c == Ok(0)).count());
        f.backend.integrity(&store).unwrap();
    }
}

#[test]
fn an_export_during_an_import_sees_the_old_or_the_new_configuration() {
    let f = fixture();
    let (archive, new) = &f.archives[0];
    let mut seen = Vec::new();
    for (round, delay_ms) in [0u64, 5, 20, 60, 150].into_iter().enumerate() {
        let store = f.backend.fresh(&f.dir.join(format!("export-{round}")));
        let safety = f.dir.join(format!("export-{round}/safety"));
        let mut importer = import(&store, archive, &safety, 20_000).spawn().unwrap();
        // From the safety backup on, the import holds the write lock.
        while entries(&safety).is_empty() && importer.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        let dest = f.dir.join(format!("export-{round}/out.json.zst"));
        let out = run(cli().args(["--store", &store, "export", "-o"]).arg(&dest).env("ATIVO_LOCK_TIMEOUT_MS", "20000"));
        assert!(out.status.success(), "round {round}: {}", String::from_utf8_lossy(&out.stderr));
        let digest = archive_digest(&dest).unwrap();
        assert!(digest == f.old || digest == *new, "round {round}: the export saw a mix");
        seen.push(if digest == f.old { "old" } else { "new" });
        assert!(importer.wait().unwrap().success());
        assert_eq!(store_digest(&store).unwrap(), *new);
    }
    eprintln!("exports during an import saw: {seen:?}");
}

#[test]
fn a_busy_store_is_exit_7_after_a_bounded_wait() {
    let f = fixture();
    let store = f.backend.fresh(&f.dir.join("busy"));
    let safety = f.dir.join("busy/safety");
    let (archive, _) = &f.archives[0];
    // How long the import takes before it asks for the lock: a dry run does the same checks.
    let started = Instant::now();
    let dry = run(cli().args(["--store", &store, "import", "--dry-run"]).arg(archive));
    assert!(dry.status.success());
    let checks = started.elapsed();

    let holder = rusqlite::Connection::open(&store).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    for timeout_ms in [300u64, 1500] {
        let started = Instant::now();
        let out = import(&store, archive, &safety, timeout_ms).output().unwrap();
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out.status), Ok(7), "{stderr}");
        // The message names the wait in milliseconds: at least the timeout, at most the run (a
        // loaded machine overshoots the timeout, 1601 ms for 1500 once).
        let waited: Option<u64> =
            stderr.split("waited ").nth(1).and_then(|rest| rest.split(" ms").next()?.parse().ok());
        assert!(stderr.contains("busy"), "{stderr}");
        assert!(
            waited.is_some_and(|w| w >= timeout_ms && u128::from(w) <= took.as_millis()),
            "took {took:?}: {stderr}"
        );
        let timeout = Duration::from_millis(timeout_ms);
        assert!(took >= timeout, "gave up after {took:?}, before the {timeout:?} wait");
        // The checks, the wait, and a margin for a loaded machine.
        let bound = checks * 2 + timeout + Duration::from_secs(3);
        assert!(took <= bound, "took {took:?}, more than {bound:?}");
        eprintln!("busy store, lock timeout {timeout:?}: exit 7 after {took:?} (checks alone {checks:?})");
    }
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    assert_eq!(store_digest(&store).unwrap(), f.old);
    assert_eq!(imports_logged(&store).unwrap(), 1);
    // A safety backup written while waiting? None: the backup is written under the lock.
    assert!(entries(&safety).is_empty(), "{:?}", entries(&safety));
}

#[test]
fn an_export_behind_a_held_write_lock_still_delivers_its_archive() {
    let f = fixture();
    let store = f.backend.fresh(&f.dir.join("held"));
    let out_path = f.dir.join("held/backup.json.zst");
    let holder = rusqlite::Connection::open(&store).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    // The snapshot is a WAL read and never waits; only the log entry needs the write lock.
    let out = cli()
        .args(["--store", &store, "export", "-o"])
        .arg(&out_path)
        .env("ATIVO_LOCK_TIMEOUT_MS", "200")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    holder.execute_batch("ROLLBACK").unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out.status), Ok(0), "{stderr}");
    assert!(stderr.contains("warning") && stderr.contains("log entry was not written"), "{stderr}");
    let validated = run(cli().arg("validate").arg(&out_path));
    assert!(validated.status.success(), "the archive written behind the lock must be whole");
}
