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
//! of them, at least 4, large), then a quarter of N selective imports (`--only program:P`).

use crate::crash_common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ativo_backup::archive::Encoding;
use crash_common::*;
use rand::SeedableRng;

/// What one trial saw.
struct Trial {
    phase: Phase,
    leftovers: Vec<String>,
    resumed: bool,
}

fn trial(
    setup: &ImportTrials<Sqlite>,
    dir: &Path,
    (anchor, delay): (Anchor, Duration),
    resume: bool,
) -> Result<Trial, String> {
    let location = setup.backend.fresh(dir);
    let safety = dir.join("safety");
    let child = setup.import(&location, &safety).spawn().unwrap();
    let killed = kill_when(child, || anchor.reached(&safety), delay);
    if let Some(status) = killed.finished.filter(|s| !s.success()) {
        return Err(format!("the import failed on its own: {status}"));
    }
    let (phase, leftovers) = setup.check_after_fault(&location, &safety, killed.finished.is_some())?;
    if resume {
        // The next run through the binary: it must not be blocked, and it completes the restore.
        setup.import_again(&location, &safety)?;
    }
    std::fs::remove_dir_all(dir).ok();
    Ok(Trial { phase, leftovers, resumed: resume })
}

fn run_trials(label: &str, setup: &ImportTrials<Sqlite>, dir: &Path, n: usize, seed: u64) -> BTreeMap<Phase, usize> {
    let timing = setup.measure(dir, label, 4);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let delays = plan(n, timing, &mut rng);
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
        "crash_import {label}: {n} trials (seed {seed:#x}) over an unkilled import of {:?} (writes from {:?}, rows from {:?}), in {:?}: \
         {phases:?}; \
         {stale_wal} left a stale -wal/-journal that the next open recovered; {resumed} re-imported after the kill",
        timing.total,
        timing.writes_from,
        timing.rows_from,
        started.elapsed()
    );
    assert!(failures.is_empty(), "{} of {n} trials lost something:\n{}", failures.len(), failures.join("\n"));
    phases
}

#[test]
fn import_killed_at_any_point_leaves_the_old_or_the_new_configuration() {
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
    let setup = ImportTrials {
        backend,
        archive: medium.clone(),
        old,
        new,
        logged_before,
        lock_timeout_ms: "2000",
        only: Vec::new(),
    };
    let phases = run_trials("medium", &setup, dir, n_medium, seed());
    // Kills spread over the whole run reach every phase; if one is never hit, the spread is wrong.
    for phase in [Phase::Checks, Phase::SafetyBackup, Phase::Writes, Phase::Committed] {
        assert!(phases.get(&phase).is_some_and(|&k| k > 0), "no kill landed in {phase:?}: {phases:?}");
    }

    let large = dir.join("large.json.zst");
    let new = write_archive(&large, large_config(), Encoding::Zstd);
    let setup = ImportTrials { archive: large, new, ..setup };
    run_trials("large", &setup, dir, n_large, seed() ^ 0x1a);

    // The same guarantees for a selective import (`--only program:P` of the medium archive over
    // the same store), a quarter as many trials, after the others so that the load they measured
    // under stays the same: the store holds the old configuration or the old one with the
    // program's PIs from the archive (computed here, not by the tool), never a mix.
    let (expected, only) = program_restored(&slice_config(500..530), &slice_config(0..30));
    let n_selective = (n / 4).max(4);
    let setup = ImportTrials {
        archive: medium,
        new: ativo_backup::archive::content_digest(&expected),
        only: vec![only],
        ..setup
    };
    let phases = run_trials("selective", &setup, dir, n_selective, seed() ^ 0x5e1);
    for phase in [Phase::Checks, Phase::Writes].into_iter().filter(|_| n_selective >= 40) {
        assert!(phases.get(&phase).is_some_and(|&k| k > 0), "no kill landed in {phase:?}: {phases:?}");
    }
}
