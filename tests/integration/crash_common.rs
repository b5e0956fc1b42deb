//! Shared by the crash, failed-write, concurrency and hostile-input tests (issue 5): the real
//! binary, the host every store and archive here belongs to, deterministic archives of several
//! sizes, and a [`Backend`] seam so that the same trials can run against another store backend.
//!
//! The SQLite backend is implemented here; `crash_import_pg.rs` implements [`Backend`] for
//! PostgreSQL with databases cloned from a template (`CREATE DATABASE ... TEMPLATE`), its
//! constraints and indexes for integrity and `pg_locks` for the lock check. The import crash
//! trials of both ([`ImportTrials`]: the timing of unkilled imports, the [`plan`] of the faults,
//! the checks after each) take any backend.
#![allow(dead_code)]

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use ativo_backup::archive::{self, Encoding, Limits};
use ativo_backup::model::Configuration;
use ativo_backup::sample::{SampleSize, generate};
use ativo_backup::store::{self, Location};

pub const SERVER_ID: &str = "B8E7-9F2A-3C4D-5E6F";
pub const BASE_URL: &str = "https://jira.example.com";

/// The binary under test, built by cargo for this test run.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ativo-backup")
}

/// A command for the binary, with no store from the environment and nothing on stdin (so an
/// import without `--yes` refuses instead of waiting for an answer).
pub fn cli() -> Command {
    let mut cmd = Command::new(bin());
    cmd.env_remove("ATIVO_STORE").env_remove("ATIVO_LOCK_TIMEOUT_MS").stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to its end, capturing its output.
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).output().expect("the binary runs")
}

/// The exit code, or a description of the signal that ended the process.
pub fn code(status: &ExitStatus) -> Result<i32, String> {
    use std::os::unix::process::ExitStatusExt;
    status.code().ok_or_else(|| format!("killed by signal {:?}", status.signal()))
}

/// The `large` sample: 50 programs, 505 teams, 1,000 PIs, about 140,000 rows.
pub fn large_config() -> Configuration {
    generate(SampleSize::Large).0
}

/// The `large` sample with only the PIs in `range` (nothing refers to a PI, so it stays valid):
/// a configuration of the same shape at a fraction of the size.
pub fn slice_config(range: std::ops::Range<usize>) -> Configuration {
    let mut config = large_config();
    config.pis = config.pis.drain(range).collect();
    config
}

/// What `import --only program:PROGRAM` of `archive` over `current` must leave, computed here
/// without the tool's merge: `current` with the program's PIs replaced by the archive's (both
/// slices of the `large` sample share their programs, teams and periods). Returns it and the
/// selector.
pub fn program_restored(current: &Configuration, archive: &Configuration) -> (Configuration, String) {
    let program = archive.pis[0].program.clone();
    let mut expected = current.clone();
    expected.pis.retain(|p| p.program != program);
    expected.pis.extend(archive.pis.iter().filter(|p| p.program == program).cloned());
    expected.sort();
    assert_ne!(&expected, current, "the selective import must change something");
    (expected, format!("program:{program}"))
}

/// Seals `config` for the test host at a fixed time and writes it to `path`; returns its content
/// digest.
pub fn write_archive(path: &Path, config: Configuration, encoding: Encoding) -> String {
    let sealed = crate::golden::seal(config);
    std::fs::write(path, crate::archive_common::encode(&sealed, encoding)).unwrap();
    sealed.header.content_digest
}

/// The content digest of an archive file, if it reads back whole and valid.
pub fn archive_digest(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let limits = Limits::default();
    let archive = archive::read(BufReader::new(file), &limits).map_err(|e| e.to_string())?;
    let findings = ativo_backup::ops::check_semantics(&archive);
    if let Some(f) = findings.iter().find(|f| f.is_error()) {
        return Err(format!("{}: {}", f.pointer, f.message));
    }
    Ok(archive.header.content_digest)
}

/// The content digest of what a store holds, read through the library.
pub fn store_digest(location: &str) -> Result<String, String> {
    let location = Location::parse(location).map_err(|e| e.to_string())?;
    let mut store = store::open(&location).map_err(|e| e.to_string())?;
    let snapshot = store.snapshot().map_err(|e| e.to_string())?;
    let mut config = snapshot.config;
    config.sort();
    Ok(archive::content_digest(&config))
}

/// Import entries in a store's operations log.
pub fn imports_logged(location: &str) -> Result<usize, String> {
    let location = Location::parse(location).map_err(|e| e.to_string())?;
    let mut store = store::open(&location).map_err(|e| e.to_string())?;
    Ok(store.operations().map_err(|e| e.to_string())?.iter().filter(|op| op.kind == "import").count())
}

/// Number of trials: `ATIVO_CRASH_TRIALS` when set (the documented longer run), else `default`.
pub fn trials(default: usize) -> usize {
    std::env::var("ATIVO_CRASH_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The seed of the trial plan: `ATIVO_CRASH_SEED` to replay a run, else fixed.
pub fn seed() -> u64 {
    std::env::var("ATIVO_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x0015_50e5)
}

/// How a killed run ended.
pub struct Killed {
    /// The process had already exited on its own when the delay was up.
    pub finished: Option<ExitStatus>,
    /// How long it ran.
    pub ran: Duration,
}

/// Lets `child` run for `delay`, then kills it with SIGKILL (what `Child::kill` sends on Unix)
/// unless it has exited on its own, and reaps it.
pub fn kill_after(child: Child, delay: Duration) -> Killed {
    kill_when(child, || true, delay)
}

/// Lets `child` run until `anchor()` holds (polled every millisecond), then for `delay`, then
/// kills it with SIGKILL unless it has exited on its own, and reaps it. Anchoring on an event the
/// process shows from outside (a file appearing) keeps kills in the intended phase whatever the
/// machine's load.
pub fn kill_when(mut child: Child, mut anchor: impl FnMut() -> bool, delay: Duration) -> Killed {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Killed { finished: Some(status), ran: started.elapsed() };
        }
        if anchor() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let anchored = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Killed { finished: Some(status), ran: started.elapsed() };
        }
        let left = delay.saturating_sub(anchored.elapsed());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(2)));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    Killed { finished: None, ran: started.elapsed() }
}

/// Delays spread uniformly over `[0, span)`: one per stratum of `span / n`, at a random point
/// inside it (stratified jitter), in a random order so that slow and fast trials interleave.
pub fn spread(n: usize, span: Duration, rng: &mut impl rand::Rng) -> Vec<Duration> {
    use rand::seq::SliceRandom;
    let mut delays: Vec<Duration> = (0..n).map(|i| span.mul_f64((i as f64 + rng.random::<f64>()) / n as f64)).collect();
    delays.shuffle(rng);
    delays
}

/// Runs `work(i)` for `0..n` on `threads` threads, collecting the results in order.
pub fn parallel<T: Send>(n: usize, threads: usize, work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        break;
                    }
                    let r = work(i);
                    results.lock().unwrap()[i] = Some(r);
                }
            });
        }
    });
    results.into_inner().unwrap().into_iter().map(|r| r.unwrap()).collect()
}

/// Names of the entries of `dir` (empty when it does not exist), sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// What the crash trials need from a store backend.
pub trait Backend: Sync {
    /// For messages.
    fn name(&self) -> &'static str;
    /// A new store in `dir` holding the template's configuration; returns its `--store` value.
    fn fresh(&self, dir: &Path) -> String;
    /// Physical consistency of the store (SQLite: `PRAGMA integrity_check`, foreign keys).
    fn integrity(&self, location: &str) -> Result<(), String>;
    /// Traces a dead writer left (SQLite: a non-empty `-wal`, a `-journal`), to report them.
    fn leftovers(&self, location: &str) -> Vec<String>;
    /// Takes and releases the write lock without waiting: fails if a dead process still holds it.
    fn write_lock_free(&self, location: &str) -> Result<(), String>;
    /// Frees a store made by [`Backend::fresh`] now rather than at the end (PostgreSQL drops its
    /// database); SQLite's files go with their directory.
    fn discard(&self, _location: &str) {}
}

/// SQLite stores copied from a template file made once per test by the real binary.
pub struct Sqlite {
    template: PathBuf,
}

impl Sqlite {
    /// A template store in `dir` for the test host: `init --sample demo`, then, when given, an
    /// import of `fill` through the binary (so the store holds that archive's configuration).
    pub fn template(dir: &Path, fill: Option<&Path>) -> Self {
        let template = dir.join("template.db");
        init_store(&template.display().to_string(), true, fill, &dir.join("template-safety"));
        // A clean close checkpoints the WAL into the file and removes it: one file to copy.
        assert!(!sidecar(&template, "-wal").exists(), "the template store was not closed cleanly");
        Sqlite { template }
    }

    /// The backend over an existing store file (its own template).
    pub fn at(path: &Path) -> Self {
        Sqlite { template: path.to_owned() }
    }

    pub fn path(&self) -> &Path {
        &self.template
    }
}

fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

impl Backend for Sqlite {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn fresh(&self, dir: &Path) -> String {
        std::fs::create_dir_all(dir).unwrap();
        let db = dir.join("ativo.db");
        std::fs::copy(&self.template, &db).unwrap();
        db.display().to_string()
    }

    fn integrity(&self, location: &str) -> Result<(), String> {
        let conn = rusqlite::Connection::open(location).map_err(|e| e.to_string())?;
        let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(|e| e.to_string())?;
        if verdict != "ok" {
            return Err(format!("integrity_check: {verdict}"));
        }
        let mut stmt = conn.prepare("PRAGMA foreign_key_check").map_err(|e| e.to_string())?;
        let broken = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(|e| e.to_string())?.count();
        if broken > 0 {
            return Err(format!("foreign_key_check: {broken} dangling rows"));
        }
        Ok(())
    }

    fn leftovers(&self, location: &str) -> Vec<String> {
        let db = Path::new(location);
        ["-wal", "-journal"]
            .into_iter()
            .filter(|s| std::fs::metadata(sidecar(db, s)).is_ok_and(|m| m.len() > 0))
            .map(str::to_owned)
            .collect()
    }

    fn write_lock_free(&self, location: &str) -> Result<(), String> {
        let conn = rusqlite::Connection::open(location).map_err(|e| e.to_string())?;
        conn.busy_timeout(Duration::ZERO).map_err(|e| e.to_string())?;
        conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;").map_err(|e| format!("write lock not free: {e}"))
    }
}

// ---------------------------------------------------------------------------------------------
// The import crash trials, for any backend (`crash_import.rs`, `crash_import_pg.rs`)

/// Initialises the store at `location` for the test host with the demo sample (`--sample demo`)
/// or empty, then imports `fill` into it when given, all through the binary.
pub fn init_store(location: &str, sample: bool, fill: Option<&Path>, safety: &Path) {
    let mut init = cli();
    init.args(["--store", location, "init", "--server-id", SERVER_ID, "--base-url", BASE_URL]);
    if sample {
        init.args(["--sample", "demo"]);
    }
    let out = run(&mut init);
    assert!(out.status.success(), "init: {}", String::from_utf8_lossy(&out.stderr));
    if let Some(fill) = fill {
        let out =
            run(cli().args(["--store", location, "import"]).arg(fill).arg("--yes").arg("--safety-dir").arg(safety));
        assert!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Where a fault landed, told by what it left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// No safety backup started: reading, checking, comparing, waiting for the lock.
    Checks,
    /// Only a temporary safety backup file exists.
    SafetyBackup,
    /// The safety backup is whole, the store still old: rows being replaced, or the commit.
    Writes,
    /// The store is new: the fault came after the commit.
    Committed,
    /// The import ended on its own before the fault.
    Finished,
}

/// What a fault waits for before its delay starts.
#[derive(Debug, Clone, Copy)]
pub enum Anchor {
    /// The start of the process.
    Start,
    /// The first file in the safety directory: the safety backup has started.
    SafetyStarted,
    /// A whole safety backup: the rows are being replaced.
    SafetyWhole,
}

impl Anchor {
    /// Whether the import writing its safety backup into `safety` has reached this point.
    pub fn reached(self, safety: &Path) -> bool {
        match self {
            Anchor::Start => true,
            Anchor::SafetyStarted => !entries(safety).is_empty(),
            Anchor::SafetyWhole => safety_whole(safety),
        }
    }
}

/// Whether `safety` holds a whole safety backup (not only a temporary file).
pub fn safety_whole(safety: &Path) -> bool {
    entries(safety).iter().any(|n| !n.starts_with(".ativo-tmp-"))
}

/// Timings of an unkilled import, seen from outside by polling the safety directory.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Its wall time.
    pub total: Duration,
    /// When its safety backup started (the first write of any kind).
    pub writes_from: Duration,
    /// When the safety backup was whole: the rows are replaced and committed from then on.
    pub rows_from: Duration,
}

/// An archive imported over a store holding another configuration, on some backend.
pub struct ImportTrials<B: Backend> {
    pub backend: B,
    pub archive: PathBuf,
    /// Content digests of the configuration before and of the archive's.
    pub old: String,
    pub new: String,
    /// Imports in the template's log (the one that filled it).
    pub logged_before: usize,
    /// `ATIVO_LOCK_TIMEOUT_MS` of every import.
    pub lock_timeout_ms: &'static str,
    /// `--only` selectors: a selective import (`new` is then the digest of its result).
    pub only: Vec<String>,
}

impl<B: Backend> ImportTrials<B> {
    /// The import under test, its stdout discarded, its stderr piped (read when it fails).
    pub fn import(&self, location: &str, safety: &Path) -> Command {
        let mut cmd = cli();
        cmd.args(["--store", location, "--quiet", "import"])
            .arg(&self.archive)
            .arg("--yes")
            .args(self.only.iter().flat_map(|s| ["--only", s.as_str()]))
            .arg("--safety-dir")
            .arg(safety)
            .env("ATIVO_LOCK_TIMEOUT_MS", self.lock_timeout_ms)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }

    /// Median timings of `runs` unkilled imports, each checked to end with the new configuration.
    /// They run two at a time, as the trials do, so that the timings hold under the trials' load.
    pub fn measure(&self, dir: &Path, label: &str, runs: usize) -> Timing {
        let mut timings: Vec<Timing> = parallel(runs, 2, |i| {
            let trial = dir.join(format!("{label}-measure-{i}"));
            let location = self.backend.fresh(&trial);
            let safety = trial.join("safety");
            let started = Instant::now();
            let mut child = self.import(&location, &safety).spawn().unwrap();
            let (mut writes_from, mut rows_from) = (None, None);
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break status;
                }
                if writes_from.is_none() && Anchor::SafetyStarted.reached(&safety) {
                    writes_from = Some(started.elapsed());
                }
                if rows_from.is_none() && Anchor::SafetyWhole.reached(&safety) {
                    rows_from = Some(started.elapsed());
                }
                std::thread::sleep(Duration::from_millis(1));
            };
            let total = started.elapsed();
            assert!(status.success(), "unkilled import failed: {status}");
            assert_eq!(store_digest(&location).unwrap(), self.new);
            self.backend.discard(&location);
            Timing { total, writes_from: writes_from.unwrap_or(total), rows_from: rows_from.unwrap_or(total) }
        });
        timings.sort_by_key(|t| t.total);
        timings.swap_remove(runs / 2)
    }

    /// What a fault left at `location` (`finished`: the import had ended on its own, successfully):
    /// the write lock free, the store whole and holding the old or the new configuration, an
    /// import logged only if it is new, every safety backup a whole archive of the old one.
    /// Returns where the fault landed, and the traces a dead writer left.
    pub fn check_after_fault(
        &self,
        location: &str,
        safety: &Path,
        finished: bool,
    ) -> Result<(Phase, Vec<String>), String> {
        let backend = &self.backend;
        let leftovers = backend.leftovers(location);
        // The next writer must not wait for the dead one.
        backend.write_lock_free(location)?;
        backend.integrity(location)?;
        let digest = store_digest(location)?;
        let new = if digest == self.old {
            false
        } else if digest == self.new {
            true
        } else {
            return Err(format!("the store holds a mix: {digest}"));
        };
        let logged = imports_logged(location)?;
        if logged != self.logged_before + usize::from(new) {
            return Err(format!(
                "{logged} import(s) in the log of a store holding the {} configuration",
                ["old", "new"][usize::from(new)]
            ));
        }
        // Safety backups: whole archives of the old configuration, or temporary files.
        let mut whole_backup = false;
        let mut temporary = false;
        for name in entries(safety) {
            if name.starts_with(".ativo-tmp-") {
                temporary = true;
            } else {
                let got = archive_digest(&safety.join(&name)).map_err(|e| format!("safety backup {name}: {e}"))?;
                if got != self.old {
                    return Err(format!("safety backup {name} holds {got}, not the old configuration"));
                }
                whole_backup = true;
            }
        }
        if new && !whole_backup {
            return Err("the store was replaced without a whole safety backup".into());
        }
        let phase = match (finished, new, whole_backup, temporary) {
            (true, _, _, _) => Phase::Finished,
            (false, true, _, _) => Phase::Committed,
            (false, false, true, _) => Phase::Writes,
            (false, false, false, true) => Phase::SafetyBackup,
            (false, false, false, false) => Phase::Checks,
        };
        Ok((phase, leftovers))
    }

    /// The next import through the binary after a fault: not blocked, done within a minute, and
    /// the store then holds the archive.
    pub fn import_again(&self, location: &str, safety: &Path) -> Result<(), String> {
        let started = Instant::now();
        let out = self.import(location, safety).output().unwrap();
        if !out.status.success() {
            return Err(format!("the import after the fault failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err(format!("the import after the fault took {:?}", started.elapsed()));
        }
        if store_digest(location)? != self.new {
            return Err("the import after the fault did not restore the archive".into());
        }
        Ok(())
    }
}

/// The delays of `n` faults over an import of `timing`: a third spread over the whole run (to a
/// tenth past its measured end), a third from the start of the safety backup, a third from a
/// whole one. That last window is where a mix could arise but, with a debug build's slow
/// decoding, only a small share of the run. The last two are anchored on the safety directory,
/// not on the clock, so that the machine's load cannot move them out of their phase. Shuffled,
/// so that slow and fast trials interleave.
pub fn plan(n: usize, timing: Timing, rng: &mut impl rand::Rng) -> Vec<(Anchor, Duration)> {
    use rand::seq::SliceRandom;
    let windows = [
        (Anchor::Start, timing.total.mul_f64(1.1)),
        (Anchor::SafetyStarted, timing.total.saturating_sub(timing.writes_from)),
        (Anchor::SafetyWhole, timing.total.saturating_sub(timing.rows_from)),
    ];
    let mut delays = Vec::new();
    for (k, (anchor, span)) in windows.into_iter().enumerate() {
        let count = if k == 0 { n - 2 * (n / 3) } else { n / 3 };
        delays.extend(spread(count, span, rng).into_iter().map(|d| (anchor, d)));
    }
    delays.shuffle(rng);
    delays
}
