//! "Nothing lost" on PostgreSQL under three faults, spread over the measured length of an import
//! (the SQLite trials are `crash_import.rs`; both use `crash_common`'s [`Backend`] seam):
//!
//! * **kill**: SIGKILL of the tool (no ROLLBACK is sent: the server notices the closed socket);
//! * **terminate**: `pg_terminate_backend` of the tool's backend (the server ends the session);
//! * **restart**: a fast restart of the server (`pg_ctlcluster ... restart -m fast`), only when
//!   `ATIVO_CRASH_PG_RESTART=1`: it ends every session on the server, so it must not run beside
//!   other tests (`.ci/run` runs this file on its own).
//!
//! Each trial imports a medium archive (30 PIs of the `large` sample, about 4,500 rows) over a
//! store holding another 30 PIs, in a database cloned from a template (`CREATE DATABASE ...
//! TEMPLATE`), and injects its fault after a delay: a third of the delays over the whole run,
//! a third from the start of the safety backup, a third from a whole safety backup (the rows
//! being replaced and the commit), as `crash_import.rs` does. Afterwards: the content digest is
//! the old or the new one; every constraint and index of the template is there and valid
//! (`pg_index.indisvalid`, `indisready`, the same definitions); no advisory lock is left; the log
//! records an import only if the store is new; every whole safety backup holds the old
//! configuration; and the next import through the binary succeeds and gives the new one.
//!
//! `ATIVO_CRASH_TRIALS=N` runs N trials (default 100: 50 kills and 50 terminations, plus a
//! twentieth of N restarts, at least 3, when they are enabled: a fast restart waits for the
//! server's shutdown checkpoint); `ATIVO_CRASH_SEED` replays another plan.

#![cfg(feature = "pg-tests")]

mod crash_common;
mod pg_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ativo_backup::archive::Encoding;
use ativo_backup::store;
use crash_common::*;
use rand::SeedableRng;

/// Databases cloned from a template, dropped at the end.
struct Postgres {
    template: String,
    made: Mutex<Vec<String>>,
    /// Every constraint and index of the template, with its definition.
    schema: Vec<String>,
}

impl Postgres {
    /// A template database holding the demo sample, then `fill` imported through the binary.
    fn template(dir: &Path, fill: &Path) -> Self {
        let template = format!("ativo_crash_tpl_{}", std::process::id());
        let mut admin = pg_support::connect(&pg_support::admin_url());
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {template}")).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {template}")).unwrap();
        let url = pg_support::url_for(&template);
        let out = run(cli().args(["--store", &url, "init", "--server-id", SERVER_ID, "--base-url", BASE_URL]));
        assert!(out.status.success(), "init: {}", String::from_utf8_lossy(&out.stderr));
        let out = run(cli()
            .args(["--store", &url, "import"])
            .arg(fill)
            .arg("--yes")
            .arg("--safety-dir")
            .arg(dir.join("template-safety")));
        assert!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr));
        let schema = schema_of(&url);
        assert!(schema.len() > 40, "{schema:?}");
        Postgres { template, made: Mutex::new(Vec::new()), schema }
    }

    fn template_url(&self) -> String {
        pg_support::url_for(&self.template)
    }

    /// Drops a trial's database now (a drop takes about 0.6 s: done by the trial's own thread).
    fn discard(&self, location: &str) {
        let db = db_name(location);
        let mut admin = pg_support::connect(&pg_support::admin_url());
        if admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).is_ok() {
            self.made.lock().unwrap().retain(|d| *d != db);
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&pg_support::admin_url(), postgres::NoTls) {
            let made = self.made.lock().map(|m| m.clone()).unwrap_or_default();
            for db in made.iter().chain([&self.template]) {
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
            }
        }
    }
}

/// Every constraint and index in the public schema: name, definition, and for indexes whether
/// they are valid and ready.
fn schema_of(url: &str) -> Vec<String> {
    let mut c = pg_support::connect(url);
    c.query(
        "SELECT format('constraint %s %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid), convalidated)
         FROM pg_constraint WHERE connamespace = 'public'::regnamespace
         UNION ALL
         SELECT format('index %s %s valid=%s ready=%s', x.indexrelid::regclass, pg_get_indexdef(x.indexrelid),
                       x.indisvalid, x.indisready)
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE i.relnamespace = 'public'::regnamespace
         ORDER BY 1",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

fn db_name(location: &str) -> String {
    location.rsplit('/').next().unwrap_or_default().to_owned()
}

impl Backend for Postgres {
    fn name(&self) -> &'static str {
        "postgresql"
    }

    fn fresh(&self, dir: &Path) -> String {
        std::fs::create_dir_all(dir).unwrap();
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let db = format!("ativo_crash_{}_{n}", std::process::id());
        let mut admin = pg_support::connect(&pg_support::admin_url());
        // Cloning needs the template to have no session: retried while a check's session ends.
        let mut tries = 0;
        while let Err(e) = admin.batch_execute(&format!("CREATE DATABASE {db} TEMPLATE {}", self.template)) {
            tries += 1;
            assert!(tries < 100, "cannot clone the template: {e}");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.made.lock().unwrap().push(db.clone());
        pg_support::url_for(&db)
    }

    fn integrity(&self, location: &str) -> Result<(), String> {
        let schema = schema_of(location);
        if schema != self.schema {
            let missing: Vec<&String> = self.schema.iter().filter(|s| !schema.contains(s)).collect();
            let extra: Vec<&String> = schema.iter().filter(|s| !self.schema.contains(s)).collect();
            return Err(format!("keys or indexes differ: missing {missing:?}, unexpected {extra:?}"));
        }
        Ok(())
    }

    fn leftovers(&self, location: &str) -> Vec<String> {
        // Sessions of the tool still on the database (a killed client's backend that has not
        // noticed yet): told, then waited for by `write_lock_free`.
        let mut admin = pg_support::connect(&pg_support::admin_url());
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'ativo-backup'",
                &[&db_name(location)],
            )
            .unwrap()
            .get(0);
        if n > 0 { vec![format!("{n} backend(s) of the tool still running")] } else { Vec::new() }
    }

    fn write_lock_free(&self, location: &str) -> Result<(), String> {
        // The server ends a dead client's session when it reads the closed socket, and a
        // terminated or restarted backend is gone at once; allow it 10 s.
        let mut admin = pg_support::connect(&pg_support::admin_url());
        let started = Instant::now();
        loop {
            let held: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                     WHERE l.locktype = 'advisory' AND d.datname = $1 AND l.classid::bigint = $2",
                    &[&db_name(location), &i64::from(store::POSTGRES_LOCK_CLASS)],
                )
                .map_err(|e| e.to_string())?
                .get(0);
            if held == 0 {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err(format!("the advisory write lock is still held {:?} after the fault", started.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    Kill,
    Terminate,
    Restart,
}

/// Where a fault landed, told by what it left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Checks,
    SafetyBackup,
    Writes,
    Committed,
    Finished,
}

#[derive(Debug, Clone, Copy)]
enum Anchor {
    Start,
    SafetyStarted,
    SafetyWhole,
}

struct Setup {
    backend: Postgres,
    archive: PathBuf,
    old: String,
    new: String,
    logged_before: usize,
}

fn import(location: &str, archive: &Path, safety: &Path) -> std::process::Command {
    let mut cmd = cli();
    cmd.args(["--store", location, "--quiet", "import"])
        .arg(archive)
        .arg("--yes")
        .arg("--safety-dir")
        .arg(safety)
        .env("ATIVO_LOCK_TIMEOUT_MS", "10000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    cmd
}

/// Ends every session of the tool on `location`'s database; whether one was found.
fn terminate(location: &str) -> bool {
    let mut admin = pg_support::connect(&pg_support::admin_url());
    admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'ativo-backup'",
            &[&db_name(location)],
        )
        .map(|rows| !rows.is_empty())
        .unwrap_or(false)
}

/// Restarts the server fast (every session ended, unfinished transactions rolled back) and
/// waits until it accepts connections again.
fn restart_server() -> Result<(), String> {
    let version = std::fs::read_dir("/etc/postgresql")
        .map_err(|e| format!("no /etc/postgresql: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .max()
        .ok_or("no cluster in /etc/postgresql")?;
    let status = std::process::Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", "restart", "-m", "fast"])
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("pg_ctlcluster: {e}"))?;
    if !status.success() {
        return Err(format!("pg_ctlcluster restart: {status}"));
    }
    let started = Instant::now();
    while postgres::Client::connect(&pg_support::admin_url(), postgres::NoTls).is_err() {
        if started.elapsed() > Duration::from_secs(60) {
            return Err("the server did not come back within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn safety_whole(safety: &Path) -> bool {
    entries(safety).iter().any(|n| !n.starts_with(".ativo-tmp-"))
}

/// Median wall time of unkilled imports, and when their safety backup started and was whole.
fn measure(setup: &Setup, dir: &Path) -> (Duration, Duration, Duration) {
    let mut timings: Vec<(Duration, Duration, Duration)> = parallel(4, 2, |i| {
        let trial = dir.join(format!("measure-{i}"));
        let location = setup.backend.fresh(&trial);
        let safety = trial.join("safety");
        let started = Instant::now();
        let mut child = import(&location, &setup.archive, &safety).spawn().unwrap();
        let (mut writes_from, mut rows_from) = (None, None);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if writes_from.is_none() && !entries(&safety).is_empty() {
                writes_from = Some(started.elapsed());
            }
            if rows_from.is_none() && safety_whole(&safety) {
                rows_from = Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let total = started.elapsed();
        assert!(status.success(), "unkilled import failed: {status}");
        assert_eq!(store_digest(&location).unwrap(), setup.new);
        setup.backend.discard(&location);
        (total, writes_from.unwrap_or(total), rows_from.unwrap_or(total))
    });
    timings.sort();
    timings.swap_remove(2)
}

struct Trial {
    phase: Phase,
    leftovers: bool,
}

fn trial(setup: &Setup, dir: &Path, fault: Fault, (anchor, delay): (Anchor, Duration)) -> Result<Trial, String> {
    let backend = &setup.backend;
    let location = backend.fresh(dir);
    let safety = dir.join("safety");
    let mut child = import(&location, &setup.archive, &safety).spawn().unwrap();
    let anchored = |safety: &Path| match anchor {
        Anchor::Start => true,
        Anchor::SafetyStarted => !entries(safety).is_empty(),
        Anchor::SafetyWhole => safety_whole(safety),
    };
    let finished = match fault {
        Fault::Kill => kill_when(child, || anchored(&safety), delay).finished,
        Fault::Terminate | Fault::Restart => {
            // Wait for the anchor and the delay, then end the session from the server's side.
            let start = Instant::now();
            let mut at = None;
            let ended_alone = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break Some(status);
                }
                if at.is_none() && anchored(&safety) {
                    at = Some(Instant::now());
                }
                if at.is_some_and(|a| a.elapsed() >= delay) {
                    break None;
                }
                assert!(start.elapsed() < Duration::from_secs(300), "the import never reached its anchor");
                std::thread::sleep(Duration::from_millis(1));
            };
            match ended_alone {
                Some(status) => Some(status),
                None => {
                    if fault == Fault::Terminate {
                        terminate(&location);
                    } else {
                        restart_server()?;
                    }
                    let out = child.wait_with_output().unwrap();
                    // The tool reports a lost connection as a store problem, or it had finished.
                    match out.status.code() {
                        Some(0) => Some(out.status),
                        Some(7) => None,
                        other => {
                            return Err(format!(
                                "the import ended with {other:?} after the fault: {}",
                                String::from_utf8_lossy(&out.stderr)
                            ));
                        }
                    }
                }
            }
        }
    };
    if let Some(status) = finished.filter(|s| !s.success()) {
        return Err(format!("the import failed on its own: {status}"));
    }
    let leftovers = !backend.leftovers(&location).is_empty();
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
            "{logged} import(s) logged in a store holding the {} configuration",
            ["old", "new"][usize::from(new)]
        ));
    }
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
    if new && !whole_backup {
        return Err("the store was replaced without a whole safety backup".into());
    }
    let phase = match (finished.is_some(), new, whole_backup, temporary) {
        (true, _, _, _) => Phase::Finished,
        (false, true, _, _) => Phase::Committed,
        (false, false, true, _) => Phase::Writes,
        (false, false, false, true) => Phase::SafetyBackup,
        (false, false, false, false) => Phase::Checks,
    };
    // The next import through the binary is not blocked and restores the archive.
    let out = import(&location, &setup.archive, &safety).output().unwrap();
    if !out.status.success() {
        return Err(format!("the import after the fault failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    if store_digest(&location)? != setup.new {
        return Err("the import after the fault did not restore the archive".into());
    }
    std::fs::remove_dir_all(dir).ok();
    backend.discard(&location);
    Ok(Trial { phase, leftovers })
}

/// The delays of `n` trials: a third over the whole run, a third from the start of the safety
/// backup, a third from a whole one.
fn plan(
    n: usize,
    timing: (Duration, Duration, Duration),
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Vec<(Anchor, Duration)> {
    let (total, writes_from, rows_from) = timing;
    let windows = [
        (Anchor::Start, total.mul_f64(1.1)),
        (Anchor::SafetyStarted, total.saturating_sub(writes_from)),
        (Anchor::SafetyWhole, total.saturating_sub(rows_from)),
    ];
    let mut delays = Vec::new();
    for (k, (anchor, span)) in windows.into_iter().enumerate() {
        let count = if k == 0 { n - 2 * (n / 3) } else { n / 3 };
        delays.extend(spread(count, span, rng).into_iter().map(|d| (anchor, d)));
    }
    use rand::seq::SliceRandom;
    delays.shuffle(rng);
    delays
}

#[test]
fn pg_crash_import_killed_terminated_or_restarted_leaves_the_old_or_the_new_configuration() {
    let tmp = tempfile::TempDir::new().unwrap();
    let dir = tmp.path();
    let n = trials(100);
    let restarts = if std::env::var("ATIVO_CRASH_PG_RESTART").is_ok_and(|v| v == "1") { (n / 20).max(3) } else { 0 };

    let clock = Instant::now();
    let large = large_config();
    let slice = |range: std::ops::Range<usize>| {
        let mut config = large.clone();
        config.pis = config.pis.drain(range).collect();
        config
    };
    let old_archive = dir.join("old.json.zst");
    write_archive(&old_archive, slice(500..530), Encoding::Zstd);
    eprintln!("archives made in {:?}", clock.elapsed());
    let backend = Postgres::template(dir, &old_archive);
    eprintln!("template made in {:?}", clock.elapsed());
    let old = store_digest(&backend.template_url()).unwrap();
    let logged_before = imports_logged(&backend.template_url()).unwrap();
    let archive = dir.join("medium.json.zst");
    let new = write_archive(&archive, slice(0..30), Encoding::Zstd);
    drop(large);
    let setup = Setup { backend, archive, old, new, logged_before };

    let timing = measure(&setup, dir);
    eprintln!("measured in {:?}", clock.elapsed());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed() ^ 0x9_0000);
    let kills = n / 2;
    let mut faults: Vec<(Fault, (Anchor, Duration))> = Vec::new();
    faults.extend(plan(kills, timing, &mut rng).into_iter().map(|d| (Fault::Kill, d)));
    faults.extend(plan(n - kills, timing, &mut rng).into_iter().map(|d| (Fault::Terminate, d)));
    let started = Instant::now();
    let mut results = parallel(faults.len(), 2, |i| {
        let (fault, delay) = faults[i];
        (fault, delay, trial(&setup, &dir.join(format!("trial-{i}")), fault, delay))
    });
    // Restarts end every session on the server: one at a time, after the others.
    let restart_plan = plan(restarts, timing, &mut rng);
    let restarts_started = Instant::now();
    for (i, delay) in restart_plan.into_iter().enumerate() {
        results.push((Fault::Restart, delay, trial(&setup, &dir.join(format!("restart-{i}")), Fault::Restart, delay)));
    }
    let restart_time = restarts_started.elapsed();
    let mut landed: BTreeMap<Fault, BTreeMap<Phase, usize>> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut lingering = 0;
    for (fault, delay, result) in results {
        match result {
            Ok(t) => {
                *landed.entry(fault).or_default().entry(t.phase).or_insert(0) += 1;
                lingering += usize::from(t.leftovers);
            }
            Err(e) => failures.push(format!("{fault:?} at {delay:?}: {e}")),
        }
    }
    eprintln!(
        "crash_import_pg: {} trials (seed {:#x}) over an unkilled import of {:?} (writes from {:?}, rows from {:?}), in {:?}: {landed:?}; \
         {lingering} left a backend that was still ending when checked; every one re-imported after the fault{}",
        n + restarts,
        seed(),
        timing.0,
        timing.1,
        timing.2,
        started.elapsed(),
        if restarts == 0 {
            "; no server restarts (ATIVO_CRASH_PG_RESTART=1 enables them)".to_owned()
        } else {
            format!("; the {restarts} restart trials took {restart_time:?}")
        }
    );
    assert!(failures.is_empty(), "{} trials lost something:\n{}", failures.len(), failures.join("\n"));
    // Faults spread over the whole run reach the checks and the writes; if one is never hit
    // (with enough trials to tell), the spread is wrong.
    for fault in [Fault::Kill, Fault::Terminate].into_iter().filter(|_| n >= 40) {
        let phases = &landed[&fault];
        for phase in [Phase::Checks, Phase::Writes] {
            assert!(phases.get(&phase).is_some_and(|&k| k > 0), "no {fault:?} landed in {phase:?}: {landed:?}");
        }
    }
}
