//! Shared by the crash, failed-write, concurrency and hostile-input tests (issue 5): the real
//! binary, the host every store and archive here belongs to, deterministic archives of several
//! sizes, and a [`Backend`] seam so that the same trials can run against another store backend.
//!
//! The SQLite backend is implemented here. A PostgreSQL variant implements [`Backend`] with a
//! database cloned from a template (`CREATE DATABASE trial_n TEMPLATE old`), `amcheck` for
//! integrity and `pg_locks` for the lock check; the trial loops take any backend.
#![allow(dead_code)]

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use ativo_backup::archive::{self, Encoding, Limits, Scope};
use ativo_backup::host::{Deployment, HostIdentity};
use ativo_backup::model::Configuration;
use ativo_backup::sample::{SampleSize, generate};
use ativo_backup::store::{self, Location};
use chrono::{TimeZone, Utc};

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

pub fn host() -> HostIdentity {
    HostIdentity::new(Deployment::Datacenter, SERVER_ID, BASE_URL).unwrap()
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

/// Seals `config` for the test host at a fixed time and writes it to `path`; returns its content
/// digest.
pub fn write_archive(path: &Path, config: Configuration, encoding: Encoding) -> String {
    let (_, tokens) = generate(SampleSize::Demo);
    let at = Utc.with_ymd_and_hms(2026, 1, 15, 9, 30, 0).unwrap();
    let sealed = archive::seal(config, &host(), Scope::Full, tokens, at);
    let mut out = Vec::new();
    archive::write(&sealed, &mut out, encoding).unwrap();
    std::fs::write(path, out).unwrap();
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
        let out = run(cli().arg("--store").arg(&template).args([
            "init",
            "--server-id",
            SERVER_ID,
            "--base-url",
            BASE_URL,
            "--sample",
            "demo",
        ]));
        assert!(out.status.success(), "init: {}", String::from_utf8_lossy(&out.stderr));
        if let Some(fill) = fill {
            let out = run(cli()
                .arg("--store")
                .arg(&template)
                .arg("import")
                .arg(fill)
                .arg("--yes")
                .arg("--safety-dir")
                .arg(dir.join("template-safety")));
            assert!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr));
        }
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
