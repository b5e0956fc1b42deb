//! "Nothing lost" on PostgreSQL under three faults, spread over the measured length of an import
//! (the SQLite trials are `crash_import.rs`; both use `crash_common`'s [`Backend`] seam):
//!
//! * **kill**: SIGKILL of the tool (no ROLLBACK is sent: the server notices the closed socket);
//! * **terminate**: `pg_terminate_backend` of the tool's backend (the server ends the session);
//! * **restart**: a fast restart of the server (`pg_ctlcluster ... restart -m fast`), only when
//!   `ATIVO_CRASH_PG_RESTART=1`: it ends every session on the server, so it must not run beside
//!   other tests (`.ci/run` runs these trials on their own, selected by `pg_crash_`).
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

use crate::crash_common;
use crate::pg_support;

use std::collections::BTreeMap;
use std::path::Path;
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
    /// A template database of the test host holding `fill`, imported through the binary.
    fn template(dir: &Path, fill: &Path) -> Self {
        let template = format!("ativo_crash_tpl_{}", std::process::id());
        let mut admin = pg_support::connect(&pg_support::admin_url());
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {template}")).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {template}")).unwrap();
        let url = pg_support::url_for(&template);
        init_store(&url, false, Some(fill), &dir.join("template-safety"));
        let schema = schema_of(&url);
        assert!(schema.len() > 40, "{schema:?}");
        Postgres { template, made: Mutex::new(Vec::new()), schema }
    }

    fn template_url(&self) -> String {
        pg_support::url_for(&self.template)
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

    /// Drops a trial's database now (a drop takes about 0.6 s: done by the trial's own thread).
    fn discard(&self, location: &str) {
        let db = db_name(location);
        let mut admin = pg_support::connect(&pg_support::admin_url());
        if admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).is_ok() {
            self.made.lock().unwrap().retain(|d| *d != db);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    Kill,
    Terminate,
    Restart,
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

struct Trial {
    phase: Phase,
    leftovers: bool,
}

fn trial(
    setup: &ImportTrials<Postgres>,
    dir: &Path,
    fault: Fault,
    (anchor, delay): (Anchor, Duration),
) -> Result<Trial, String> {
    let backend = &setup.backend;
    let location = backend.fresh(dir);
    let safety = dir.join("safety");
    let mut child = setup.import(&location, &safety).spawn().unwrap();
    let finished = match fault {
        Fault::Kill => kill_when(child, || anchor.reached(&safety), delay).finished,
        Fault::Terminate | Fault::Restart => {
            // Wait for the anchor and the delay, then end the session from the server's side.
            let start = Instant::now();
            let mut at = None;
            let ended_alone = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break Some(status);
                }
                if at.is_none() && anchor.reached(&safety) {
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
    let (phase, leftovers) = setup.check_after_fault(&location, &safety, finished.is_some())?;
    // The next import through the binary is not blocked and restores the archive.
    setup.import_again(&location, &safety)?;
    std::fs::remove_dir_all(dir).ok();
    backend.discard(&location);
    Ok(Trial { phase, leftovers: !leftovers.is_empty() })
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
    // A selective import of one program of the same archive over the same store.
    let (expected, only) = program_restored(&slice(500..530), &slice(0..30));
    drop(large);
    let selective_new = ativo_backup::archive::content_digest(&expected);
    let setup = ImportTrials { backend, archive, old, new, logged_before, lock_timeout_ms: "10000", only: Vec::new() };

    let timing = setup.measure(dir, "medium", 4);
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
    // Selective imports, killed and terminated: a quarter as many.
    let selective = ImportTrials { new: selective_new, only: vec![only], ..setup };
    let selective_timing = selective.measure(dir, "selective", 4);
    let n_selective = (n / 4).max(2);
    let mut selective_faults: Vec<(Fault, (Anchor, Duration))> = Vec::new();
    selective_faults.extend(plan(n_selective / 2, selective_timing, &mut rng).into_iter().map(|d| (Fault::Kill, d)));
    selective_faults.extend(
        plan(n_selective - n_selective / 2, selective_timing, &mut rng).into_iter().map(|d| (Fault::Terminate, d)),
    );
    results.extend(parallel(selective_faults.len(), 2, |i| {
        let (fault, delay) = selective_faults[i];
        (fault, delay, trial(&selective, &dir.join(format!("selective-{i}")), fault, delay))
    }));
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
        n + restarts + n_selective,
        seed(),
        timing.total,
        timing.writes_from,
        timing.rows_from,
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
