//! Issue 5, failed writes: a file-size limit (RLIMIT_FSIZE), a full file system (a small tmpfs),
//! a read-only destination, a missing directory and a read-only store. Each must give a clear
//! message naming the file, the documented exit code (1 for an output file that cannot be
//! written, 7 for a store that cannot be written), no file, partial or temporary, at the
//! destination, and the store untouched (same content digest, no import in its log, whole).
//!
//! The tests run as root in CI, where permission bits do not stop a write, so "read-only" is made
//! by a tmpfs mounted and remounted read-only, else `chattr +i`, else (not root) mode 0555; the
//! mechanism is probed before use and a test fails, never skips, when none works. A full disk is
//! a small tmpfs where mounting is allowed, else RLIMIT_FSIZE stands in for it (and says so).

use crate::crash_common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ativo_backup::archive::Encoding;
use crash_common::*;

/// Runs `cmd` with RLIMIT_FSIZE set to `bytes` in the child.
fn with_file_size_limit(cmd: &mut Command, bytes: u64) -> &mut Command {
    // SAFETY: setrlimit is async-signal-safe, touches no memory of the parent and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
        })
    }
}

fn sh(args: &[&str]) -> bool {
    Command::new(args[0]).args(&args[1..]).output().is_ok_and(|o| o.status.success())
}

/// A tmpfs mounted at a directory for the life of the value.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `64k`) at `dir`, or None where mounting is not allowed.
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let d = dir.to_str().unwrap();
        sh(&["mount", "-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "tmpfs", d]).then(|| Tmpfs(dir.into()))
    }

    fn read_only(&self) -> bool {
        sh(&["mount", "-o", "remount,ro", self.0.to_str().unwrap()])
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        sh(&["umount", "-l", self.0.to_str().unwrap()]);
    }
}

/// A directory nothing can be written into, and how that was done.
struct ReadOnly {
    dir: PathBuf,
    how: &'static str,
    _mount: Option<Tmpfs>,
}

impl ReadOnly {
    /// Makes `dir` (created, with `fill` copied in first) read-only by the first mechanism that
    /// works here; panics when none does.
    fn new(dir: &Path, fill: &[(&Path, &str)]) -> ReadOnly {
        let copy_in = |dir: &Path| {
            for (from, name) in fill {
                std::fs::copy(from, dir.join(name)).unwrap();
            }
        };
        let mut made = None;
        if let Some(mount) = Tmpfs::mount(dir, "16m") {
            copy_in(dir);
            if mount.read_only() {
                made = Some(ReadOnly { dir: dir.into(), how: "a tmpfs remounted read-only", _mount: Some(mount) });
            }
        }
        let made = made.unwrap_or_else(|| {
            std::fs::create_dir_all(dir).unwrap();
            copy_in(dir);
            let d = dir.to_str().unwrap();
            let files: Vec<String> = fill.iter().map(|(_, n)| dir.join(n).display().to_string()).collect();
            if files.iter().all(|f| sh(&["chattr", "+i", f])) && sh(&["chattr", "+i", d]) {
                ReadOnly { dir: dir.into(), how: "chattr +i", _mount: None }
            } else {
                sh(&["chmod", "0555", d]);
                ReadOnly { dir: dir.into(), how: "mode 0555", _mount: None }
            }
        });
        // The probe: a mechanism that does not stop this process must not pass for one that does.
        assert!(
            std::fs::File::create(made.dir.join("probe")).is_err(),
            "{} did not make {} read-only",
            made.how,
            made.dir.display()
        );
        made
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        if self.how == "chattr +i" {
            sh(&["chattr", "-R", "-i", self.dir.to_str().unwrap()]);
        } else if self.how == "mode 0555" {
            sh(&["chmod", "0755", self.dir.to_str().unwrap()]);
        }
    }
}

/// A store holding a medium configuration, its content digest and its imports logged.
struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    store: String,
    digest: String,
    /// A valid archive of the same host holding another configuration.
    other: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::TempDir::new().unwrap();
    let dir = tmp.path().to_path_buf();
    let fill = dir.join("fill.json.zst");
    write_archive(&fill, slice_config(0..60), Encoding::Zstd);
    let backend = Sqlite::template(&dir, Some(&fill));
    let store = backend.fresh(&dir.join("store"));
    let digest = store_digest(&store).unwrap();
    let other = dir.join("other.json.zst");
    write_archive(&other, slice_config(60..90), Encoding::Zstd);
    Fixture { _tmp: tmp, dir, store, digest, other }
}

impl Fixture {
    fn export(&self, out: &Path) -> Command {
        let mut cmd = cli();
        cmd.args(["--store", &self.store, "export", "-o"]).arg(out);
        cmd
    }

    fn import(&self, store: &str, safety: &Path) -> Command {
        let mut cmd = cli();
        cmd.args(["--store", store, "import"]).arg(&self.other).arg("--yes").arg("--safety-dir").arg(safety);
        cmd
    }

    /// The store holds what it held, is whole, and logged no import.
    fn assert_untouched(&self, store: &str) {
        assert_eq!(store_digest(store).unwrap(), self.digest, "the store changed");
        Sqlite::template_free_check(store);
        assert_eq!(imports_logged(store).unwrap(), 1, "an import was logged");
    }
}

impl Sqlite {
    fn template_free_check(store: &str) {
        let backend = Sqlite::at(Path::new(store));
        backend.integrity(store).unwrap();
        backend.write_lock_free(store).unwrap();
    }
}

#[track_caller]
fn assert_refused(out: &Output, code: i32, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(crash_common::code(&out.status), Ok(code), "stderr: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{stderr:?} does not mention {needle:?}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[track_caller]
fn assert_nothing_in(dir: &Path, except: &[&str]) {
    let left: Vec<String> = entries(dir).into_iter().filter(|n| !except.contains(&n.as_str())).collect();
    assert!(left.is_empty(), "left in {}: {left:?}", dir.display());
}

#[test]
fn export_over_a_file_size_limit_fails_cleanly() {
    let f = fixture();
    // Above what opening the store writes (its 32 KiB -shm, a few WAL pages for the log entry),
    // below either archive (checked, so that the limit cannot be too generous to matter).
    let limit = 48 << 10;
    for (name, encoding) in [("a.json.zst", "zstd"), ("a.json", "json")] {
        let whole = f.dir.join(name);
        assert!(run(&mut f.export(&whole)).status.success());
        assert!(std::fs::metadata(&whole).unwrap().len() > limit, "the {encoding} archive fits in the limit");
        let out_dir = f.dir.join(format!("out-{encoding}"));
        std::fs::create_dir_all(&out_dir).unwrap();
        let dest = out_dir.join(name);
        let out = run(with_file_size_limit(&mut f.export(&dest), limit));
        assert_refused(&out, 1, &["cannot write", name, "File too large"]);
        assert_nothing_in(&out_dir, &[]);
    }
    f.assert_untouched(&f.store);
}

#[test]
fn export_to_a_full_file_system_fails_cleanly_and_keeps_the_previous_archive() {
    let f = fixture();
    let out_dir = f.dir.join("small");
    let mount = Tmpfs::mount(&out_dir, "256k");
    let how = if mount.is_some() { "a 256 KiB tmpfs" } else { "RLIMIT_FSIZE of 256 KiB (tmpfs not mountable here)" };
    eprintln!("full disk: {how}");
    // An earlier, small archive at the destination must survive the failed export whole.
    let dest = out_dir.join("backup.json");
    let previous = write_archive(&dest, slice_config(0..1), Encoding::Json);
    let mut cmd = f.export(&dest);
    if mount.is_none() {
        with_file_size_limit(&mut cmd, 256 << 10);
    }
    let out = run(&mut cmd);
    let expected = if mount.is_some() { "No space left on device" } else { "File too large" };
    assert_refused(&out, 1, &["backup.json", expected]);
    assert_nothing_in(&out_dir, &["backup.json"]);
    assert_eq!(archive_digest(&dest).unwrap(), previous, "the previous archive was damaged");
    f.assert_untouched(&f.store);
}

#[test]
fn export_to_a_read_only_directory_fails_cleanly() {
    let f = fixture();
    let ro = ReadOnly::new(&f.dir.join("ro"), &[]);
    eprintln!("read-only destination: {}", ro.how);
    let out = run(&mut f.export(&ro.dir.join("backup.json.zst")));
    assert_refused(&out, 1, &["cannot create a temporary file beside", "backup.json.zst"]);
    assert_nothing_in(&ro.dir, &[]);
    f.assert_untouched(&f.store);
}

#[test]
fn export_to_a_missing_directory_fails_cleanly_and_creates_nothing() {
    let f = fixture();
    let missing = f.dir.join("no/such/dir");
    let out = run(&mut f.export(&missing.join("backup.json.zst")));
    assert_refused(&out, 1, &["no/such/dir/backup.json.zst", "missing directory", "create the directory first"]);
    assert!(!f.dir.join("no").exists(), "the export created directories");
    f.assert_untouched(&f.store);
}

#[test]
fn import_into_a_read_only_store_is_exit_7_and_changes_nothing() {
    let f = fixture();
    let ro = ReadOnly::new(&f.dir.join("ro-store"), &[(Path::new(&f.store), "ativo.db")]);
    eprintln!("read-only store: {}", ro.how);
    let store = ro.dir.join("ativo.db").display().to_string();
    let safety = f.dir.join("safety");
    let out = run(&mut f.import(&store, &safety));
    assert_refused(&out, 7, &["ativo.db", "writable"]);
    assert_nothing_in(&safety, &[]);
    // A store on a read-only file system cannot even be read in WAL mode (no -shm can be made):
    // compare its bytes, then read a copy.
    assert_eq!(std::fs::read(&store).unwrap(), std::fs::read(&f.store).unwrap());
    assert_nothing_in(&ro.dir, &["ativo.db"]);
}

#[test]
fn import_into_a_store_on_a_full_file_system_is_exit_7_and_changes_nothing() {
    let f = fixture();
    let db_size = std::fs::metadata(&f.store).unwrap().len();
    let dir = f.dir.join("small-store");
    // Room for the store and a little more: the WAL of the new rows cannot fit.
    let room = db_size + (192 << 10);
    let mount = Tmpfs::mount(&dir, &format!("{}k", room.div_ceil(4096) * 4));
    eprintln!("store on a full disk: {}", if mount.is_some() { "a small tmpfs" } else { "RLIMIT_FSIZE" });
    std::fs::create_dir_all(&dir).unwrap();
    let store = dir.join("ativo.db");
    std::fs::copy(&f.store, &store).unwrap();
    let store = store.display().to_string();
    let safety = f.dir.join("safety");
    let mut cmd = f.import(&store, &safety);
    if mount.is_none() {
        with_file_size_limit(&mut cmd, db_size + (192 << 10));
    }
    let out = run(&mut cmd);
    assert_refused(&out, 7, &["full"]);
    f.assert_untouched(&store);
    // The next import, with room, succeeds.
    let out = run(&mut f.import(&f.store, &safety));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn import_whose_safety_backup_cannot_be_written_changes_nothing() {
    let f = fixture();
    let ro = ReadOnly::new(&f.dir.join("ro-safety"), &[]);
    let out = run(&mut f.import(&f.store, &ro.dir));
    assert_refused(&out, 1, &["ro-safety"]);
    assert_nothing_in(&ro.dir, &[]);
    f.assert_untouched(&f.store);
}

#[test]
fn import_over_a_file_size_limit_changes_nothing() {
    let f = fixture();
    // Below the safety backup's size (about 80 KiB), then below the WAL the new rows need (MiBs),
    // both above what opening the store writes.
    for limit in [48 << 10, 256 << 10] {
        let safety = f.dir.join(format!("safety-{limit}"));
        let out = run(with_file_size_limit(&mut f.import(&f.store, &safety), limit));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = crash_common::code(&out.status);
        assert!(code == Ok(1) || code == Ok(7), "limit {limit}: {code:?} {stderr}");
        assert!(stderr.contains("too large") || stderr.contains("file-size limit"), "limit {limit}: {stderr}");
        // A safety backup written before the rows failed is kept: whole, of the old configuration.
        for name in entries(&safety) {
            assert_eq!(archive_digest(&safety.join(&name)).as_ref(), Ok(&f.digest), "limit {limit}: {name}");
        }
        f.assert_untouched(&f.store);
    }
}
