//! Issue 5, "nothing lost" under SIGKILL: the real binary imports an archive over a store and is
//! killed with SIGKILL at delays spread uniformly (stratified, with jitter) over the measured
//! length of an unkilled import: a third over the whole run, a third over the part that writes
//! (from the start of the safety backup), a third over the replacement of the rows and the commit
//! (from a whole safety backup). So kills land in every phase: reading and checking the archive,
//! waiting for the lock, writing the safety backup, deleting and inserting rows, committing. The
//! store holds exactly the old or the new configuration (content digest), passes SQLite's
//! integrity and foreign-key checks, records an import in its log only if it holds the new
//! configuration, and its write lock is free at once (SQLite's lock is a file lock that dies with
//! the process; the next connection rolls back the dead writer's WAL frames). Any safety backup
//! that exists is a whole archive of the old configuration. Every twentieth trial, the binary then
//! runs the import again, which must succeed promptly.
//!
//! Most trials import a medium archive (the `large` sample cut to 30 of its 1,000 PIs, about
//! 4,500 rows, over a store holding another 30 PIs) so that 200 trials fit in CI; a few import the
//! whole `large` sample (about 140,000 rows). `ATIVO_CRASH_TRIALS=N` runs N trials (a fiftieth
//! of them, at least 4, large).

mod crash_common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ativo_backup::archive::Encoding;
use crash_common::*;
use rand::SeedableRng;

/// Where a kill landed, told by what it left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// No safety backup started: reading, checking, comparing, waiting for the lock.
    Checks,
    /// Only a temporary safety backup file exists.
    SafetyBackup,
    /// The safety backup is whole, the store still old: rows being replaced, or the commit.
    Writes,
    /// The store is new: killed after the commit.
    Committed,
    /// The import ended on its own before the kill.
    Finished,
}

struct Trial {
    phase: Phase,
    leftovers: Vec<String>,
    resumed: bool,
}

struct Setup {
    backend: Sqlite,
    archive: std::path::PathBuf,
    old: String,
    new: String,
    /// Imports in the template's log (the one that filled it).
    logged_before: usize,
}

fn import(location: &str, archive: &Path, safety: &Path) -> std::process::Command {
    let mut cmd = cli();
    cmd.args(["--store", location, "--quiet", "import"])
        .arg(archive)
        .arg("--yes")
        .arg("--safety-dir")
        .arg(safety)
        .env("ATIVO_LOCK_TIMEOUT_MS", "2000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}

/// Timings of an unkilled import: its wall time, when its safety backup started (the first write
/// of any kind) and when it was whole, seen from outside by polling the safety directory.
struct Timing {
    total: Duration,
    writes_from: Duration,
    /// When the safety backup was whole: the rows are replaced and committed from then on.
    rows_from: Duration,
}

/// Median timings of unkilled imports, each checked to end with the new configuration. They run
/// two at a time, as the trials do, so that the timings hold under the trials' load.
fn measure(setup: &Setup, dir: &Path, label: &str, runs: usize) -> Timing {
    let mut timings: Vec<Timing> = parallel(runs, 2, |i| {
        let trial = dir.join(format!("{label}-measure-{i}"));
        let location = setup.backend.fresh(&trial);
        let safety = trial.join("safety");
        let started = Instant::now();
        let mut child = import(&location, &setup.archive, &safety).spawn().unwrap();
        let mut writes_from = None;
        let mut rows_from = None;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            let names = entries(&safety);
            if writes_from.is_none() && !names.is_empty() {
                writes_from = Some(started.elapsed());
            }
            if rows_from.is_none() && names.iter().any(|n| !n.starts_with(".ativo-tmp-")) {
                rows_from = Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let total = started.elapsed();
        assert!(status.success(), "unkilled import failed: {status}");
        assert_eq!(store_digest(&location).unwrap(), setup.new);
        Timing { total, writes_from: writes_from.unwrap_or(total), rows_from: rows_from.unwrap_or(total) }
    });
    timings.sort_by_key(|t| t.total);
    timings.swap_remove(runs / 2)
}

/// What a kill waits for before its delay starts.
#[derive(Debug, Clone, Copy)]
enum Anchor {
    /// The start of the process.
    Start,
    /// The first file in the safety directory: the safety backup has started.
    SafetyStarted,
    /// A whole safety backup: the rows are being replaced.
    SafetyWhole,
}

fn trial(setup: &Setup, dir: &Path, (anchor, delay): (Anchor, Duration), resume: bool) -> Result<Trial, String> {
    let backend = &setup.backend;
    let location = backend.fresh(dir);
    let safety = dir.join("safety");
    let child = import(&location, &setup.archive, &safety).spawn().unwrap();
    let killed = kill_when(
        child,
        || match anchor {
            Anchor::Start => true,
            Anchor::SafetyStarted => !entries(&safety).is_empty(),
            Anchor::SafetyWhole => entries(&safety).iter().any(|n| !n.starts_with(".ativo-tmp-")),
        },
        delay,
    );
    if let Some(status) = killed.finished.filter(|s| !s.success()) {
        return Err(format!("the import failed on its own: {status}"));
    }
    let leftovers = backend.leftovers(&location);
    // The next writer must not wait for the dead one.
    backend.write_lock_free(&location)?;
    backend.integrity(&location)?;
    let digest = store_digest(&location)?;
    let new = if digest == setup.old {
        false
    } else if digest == setup.new {
        true
    } else {
        return Err(format!("the store holds a mix: {digest}"));
    };
    let logged = imports_logged(&location)?;
    if logged != setup.logged_before + usize::from(new) {
        return Err(format!(
            "{logged} import(s) in the log of a store holding the {} configuration",
            ["old", "new"][usize::from(new)]
        ));
    }
    // Safety backups: whole archives of the old configuration, or temporary files.
    let mut whole_backup = false;
    let mut temporary = false;
    for name in entries(&safety) {
        if name.starts_with(".ativo-tmp-") {
            temporary = true;
        } else {
            let got = archive_digest(&safety.join(&name)).map_err(|e| format!("safety backup {name}: {e}"))?;
            if got != setup.old {
                return Err(format!("safety backup {name} holds {got}, not the old configuration"));
            }
            whole_backup = true;
        }
    }
    let phase = match (killed.finished.is_some(), new, whole_backup, temporary) {
        (true, _, _, _) => Phase::Finished,
        (false, true, _, _) => Phase::Committed,
        (false, false, true, _) => Phase::Writes,
        (false, false, false, true) => Phase::SafetyBackup,
        (false, false, false, false) => Phase::Checks,
    };
    if new && !whole_backup {
        return Err("the store was replaced without a whole safety backup".into());
    }
    if resume {
        // The next run through the binary: it must not be blocked, and it completes the restore.
        let started = Instant::now();
        let status = import(&location, &setup.archive, &safety).status().unwrap();
        if !status.success() {
            return Err(format!("the import after the kill failed: {status}"));
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err(format!("the import after the kill took {:?}", started.elapsed()));
        }
        if store_digest(&location)? != setup.new {
            return Err("the import after the kill did not restore the archive".into());
        }
    }
    std::fs::remove_dir_all(dir).ok();
    Ok(Trial { phase, leftovers, resumed: resume })
}

fn run_trials(label: &str, setup: &Setup, dir: &Path, n: usize, seed: u64) -> BTreeMap<Phase, usize> {
    let timing = measure(setup, dir, label, 4);
    let unkilled = timing.total;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    // A third of the kills are spread over the whole run, a third over the part that writes
    // (from the start of the safety backup), a third over the replacement of the rows and the
    // commit (from a whole safety backup): that is where a mix could arise but, with a debug
    // build's slow decoding, only a small share of the run. The last two are anchored on the
    // safety directory, not on the clock, so that the machine's load cannot move them out of
    // their phase. The whole-run span reaches a tenth past the measured end.
    let windows = [
        (Anchor::Start, unkilled),
        (Anchor::SafetyStarted, unkilled.saturating_sub(timing.writes_from)),
        (Anchor::SafetyWhole, unkilled.saturating_sub(timing.rows_from)),
    ];
    let mut delays = Vec::new();
    for (k, (anchor, span)) in windows.into_iter().enumerate() {
        let count = if k == 0 { n - 2 * (n / 3) } else { n / 3 };
        delays.extend(
            spread(count, span.mul_f64(if k == 0 { 1.1 } else { 1.0 }), &mut rng).into_iter().map(|d| (anchor, d)),
        );
    }
    let started = Instant::now();
    let results = parallel(n, 2, |i| {
        let out = trial(setup, &dir.join(format!("{label}-{i}")), delays[i], i % 20 == 0);
        (delays[i], out)
    });
    let mut phases = BTreeMap::new();
    let mut stale_wal = 0;
    let mut resumed = 0;
    let mut failures = Vec::new();
    for (delay, result) in results {
        match result {
            Ok(t) => {
                *phases.entry(t.phase).or_insert(0) += 1;
                stale_wal += usize::from(!t.leftovers.is_empty());
                resumed += usize::from(t.resumed);
            }
            Err(e) => failures.push(format!("kill {delay:?}: {e}")),
        }
    }
    eprintln!(
        "crash_import {label}: {n} trials (seed {seed:#x}) over an unkilled import of {unkilled:?} (writes from {:?}, rows from {:?}), in {:?}: \
         {phases:?}; \
         {stale_wal} left a stale -wal/-journal that the next open recovered; {resumed} re-imported after the kill",
        timing.writes_from,
        timing.rows_from,
        started.elapsed()
    );
    assert!(failures.is_empty(), "{} of {n} trials lost something:\n{}", failures.len(), failures.join("\n"));
    phases
}

#[test]
fn issue5_import_killed_at_any_point_leaves_the_old_or_the_new_configuration() {
    let tmp = tempfile::TempDir::new().unwrap();
    let dir = tmp.path();
    let n = trials(200);
    let n_large = (n / 50).max(4);
    let n_medium = n - n_large;

    // The store before: another slice of PIs, so that the safety backup and the deletes take time.
    let old_archive = dir.join("old.json.zst");
    write_archive(&old_archive, slice_config(500..530), Encoding::Zstd);
    let backend = Sqlite::template(dir, Some(&old_archive));
    let old = store_digest(&backend.path().display().to_string()).unwrap();

    let medium = dir.join("medium.json.zst");
    let new = write_archive(&medium, slice_config(0..30), Encoding::Zstd);
    let logged_before = imports_logged(&backend.path().display().to_string()).unwrap();
    let setup = Setup { backend, archive: medium, old, new, logged_before };
    let phases = run_trials("medium", &setup, dir, n_medium, seed());
    // Kills spread over the whole run reach every phase; if one is never hit, the spread is wrong.
    for phase in [Phase::Checks, Phase::SafetyBackup, Phase::Writes, Phase::Committed] {
        assert!(phases.get(&phase).is_some_and(|&k| k > 0), "no kill landed in {phase:?}: {phases:?}");
    }

    let large = dir.join("large.json.zst");
    let new = write_archive(&large, large_config(), Encoding::Zstd);
    let setup = Setup { archive: large, new, ..setup };
    run_trials("large", &setup, dir, n_large, seed() ^ 0x1a);
}
