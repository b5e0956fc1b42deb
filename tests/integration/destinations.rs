//! Where archives are written, tried as a hostile but realistic admin would (issue 14): devices,
//! FIFOs, sockets, symbolic links, existing files with their modes and owners, the store itself,
//! empty names; and rotation (`export --dir --keep`) against archives dated in the future, links
//! and FIFOs named like archives, and several exports in the same second. Every case runs the
//! real binary against a real SQLite store.

use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use ativo_backup::archive::{self, Encoding, Limits, Scope};
use ativo_backup::host::{Deployment, HostIdentity};
use tempfile::TempDir;

use crate::commands;

const SERVER_ID: &str = "B8E7";
const BASE_URL: &str = "https://jira.example.com";

/// The binary, killed if it runs for a minute (a write into a FIFO nobody reads would hang).
fn bin() -> Command {
    let mut cmd = commands::bin();
    cmd.timeout(Duration::from_secs(60));
    cmd
}

fn store_in(dir: &Path) -> PathBuf {
    let store = dir.join("ativo.db");
    commands::init(&store, SERVER_ID, BASE_URL, Some("demo"));
    store
}

fn export(store: &Path) -> Command {
    let mut cmd = bin();
    cmd.arg("--store").arg(store).arg("export");
    cmd
}

fn is_archive(bytes: &[u8]) -> bool {
    archive::read(bytes, &Limits::default()).is_ok()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn make_fifo(path: &Path) {
    let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo {}", path.display());
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn a_character_device_is_written_into_and_stays_a_device() {
    let dir = TempDir::new().unwrap();
    let store = store_in(dir.path());
    // A private copy of /dev/null where the process may make one (root, as on CI); elsewhere the
    // system's own, which only root could have replaced.
    let null = dir.path().join("null");
    let c_path = std::ffi::CString::new(null.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; makedev(1, 3) is /dev/null's device number.
    let made = unsafe { libc::mknod(c_path.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) } == 0;
    let null = if made { null } else { PathBuf::from("/dev/null") };
    let out = export(&store).arg("-o").arg(&null).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot be read back"), "{}", stderr(&out));
    let meta = std::fs::symlink_metadata(&null).unwrap();
    assert!(meta.file_type().is_char_device(), "{} is no longer a device", null.display());
}

#[test]
fn a_fifo_is_written_into_and_its_reader_gets_the_archive() {
    let dir = TempDir::new().unwrap();
    let store = store_in(dir.path());
    let fifo = dir.path().join("pipe");
    make_fifo(&fifo);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let out = export(&store).arg("-o").arg(&fifo).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let received = reader.join().unwrap();
    assert!(is_archive(&received), "the FIFO's reader got {} bytes that are not an archive", received.len());
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn dev_stdout_sends_the_archive_down_the_pipe_and_nothing_else() {
    let dir = TempDir::new().unwrap();
    let store = store_in(dir.path());
    for format in ["human", "json"] {
        let out = export(&store).args(["--format", format, "-o", "/dev/stdout"]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(is_archive(&out.stdout), "{format}: stdout holds {} bytes that are not an archive", out.stdout.len());
    }
}

#[test]
fn a_socket_a_directory_and_an_empty_name_are_usage_errors() {
    let dir = TempDir::new().unwrap();
    let store = store_in(dir.path());
    let socket = dir.path().join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    for (output, says) in
        [(socket.to_str().unwrap(), "socket"), (dir.path().to_str().unwrap(), "is a directory"), ("", "empty")]
    {
        let out = export(&store).arg("-o").arg(output).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{output:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{output:?}: {}", stderr(&out));
    }
    assert!(std::fs::symlink_metadata(&socket).unwrap().file_type().is_socket());
}

#[test]
fn a_symbolic_link_stays_a_link_and_its_target_is_replaced() {
    let dir = TempDir::new().unwrap();
    let store = store_in(dir.path());
    let real_dir = dir.path().join("real");
    std::fs::create_dir(&real_dir).unwrap();
    let real = real_dir.join("backup.json.zst");
    std::fs::write(&real, b"old").unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.path().join("latest.json.zst");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let out = export(&store).arg("-o").arg(&link).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
    assert!(is_archive(&std::fs::read(&real).unwrap()));
    assert_eq!(std::fs::metadata(&real).unwrap().mode() & 0o7777, 0o640);
    // The temporary file was made beside the target, and nothing is left beside the link.
    let beside_link: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(beside_link.iter().all(|n| !n.to_string_lossy().starts_with(".ativo-tmp")), "{beside_link:?}");
}

#[test]
fn a_dangling_symbolic_link_is_refused_naming_the_link() {
    let dir = TempDir::new().unwrap();
    let store = store_in(dir.path());
    let link = dir.path().join("latest.json.zst");
    std::os::unix::fs::symlink(dir.path().join("nowhere/backup.json.zst"), &link).unwrap();
    let out = export(&store).arg("-o").arg(&link).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("latest.json.zst") && stderr(&out).contains("does not exist"), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
}

#[test]
fn replacing_a_file_keeps_its_mode_owner_and_group_and_a_new_file_is_private() {
    let dir = TempDir::new().unwrap();
    let store = store_in(dir.path());
    let existing = dir.path().join("backup.json.zst");
    std::fs::write(&existing, b"old").unwrap();
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o640)).unwrap();
    // As root (CI), give it another owner and group, as `0640 root:daemon` was in the report.
    let (uid, gid) = if is_root() { (1, 1) } else { (unsafe { libc::geteuid() }, unsafe { libc::getegid() }) };
    std::os::unix::fs::chown(&existing, Some(uid), Some(gid)).unwrap();
    export(&store).arg("-o").arg(&existing).assert().success();
    let meta = std::fs::metadata(&existing).unwrap();
    assert_eq!((meta.mode() & 0o7777, meta.uid(), meta.gid()), (0o640, uid, gid));
    assert!(is_archive(&std::fs::read(&existing).unwrap()));
    let new = dir.path().join("new.json.zst");
    export(&store).arg("-o").arg(&new).assert().success();
    assert_eq!(std::fs::metadata(&new).unwrap().mode() & 0o7777, 0o600);
}

#[test]
fn the_store_and_its_files_are_never_a_destination() {
    let dir = TempDir::new().unwrap();
    let store = store_in(dir.path());
    let before = std::fs::read(&store).unwrap();
    let hard_link = dir.path().join("other-name.db");
    std::fs::hard_link(&store, &hard_link).unwrap();
    let sym_link = dir.path().join("link.json.zst");
    std::os::unix::fs::symlink(&store, &sym_link).unwrap();
    let sidecars = ["ativo.db-wal", "ativo.db-shm", "ativo.db-journal"].map(|n| dir.path().join(n));
    for output in [&store, &hard_link, &sym_link].into_iter().chain(&sidecars) {
        let out = export(&store).arg("-o").arg(output).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}: {}", output.display(), stderr(&out));
        assert!(stderr(&out).contains("is the store"), "{}", stderr(&out));
    }
    assert_eq!(std::fs::read(&store).unwrap(), before, "the store changed");
    for sidecar in &sidecars {
        if sidecar.exists() {
            assert!(!is_archive(&std::fs::read(sidecar).unwrap()), "{} holds an archive", sidecar.display());
        }
    }
    bin().arg("--store").arg(&store).arg("host").assert().success();
}

/// A zstd archive of the test host written by the library, dated `created_at`.
fn archive_dated(created_at: chrono::DateTime<chrono::Utc>) -> Vec<u8> {
    let host = HostIdentity::new(Deployment::Datacenter, SERVER_ID, BASE_URL).unwrap();
    let (config, tokens) = ativo_backup::sample::generate(ativo_backup::sample::SampleSize::Demo);
    let sealed = archive::seal(config, &host, Scope::Full, tokens, created_at);
    let mut bytes = Vec::new();
    archive::write(&sealed, &mut bytes, Encoding::Zstd).unwrap();
    bytes
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn rotate(store: &Path, backups: &Path, keep: &str) -> (serde_json::Value, String) {
    let out = export(store).args(["--format", "json", "--dir"]).arg(backups).args(["--keep", keep]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    (serde_json::from_slice(&out.stdout).unwrap(), stderr(&out))
}

#[test]
fn rotation_never_removes_the_archive_it_just_wrote_even_beside_one_dated_in_the_future() {
    let dir = TempDir::new().unwrap();
    let store = store_in(dir.path());
    let backups = dir.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let future = backups.join("ativo-jira.example.com-20991231T000000Z.json.zst");
    std::fs::write(&future, archive_dated(chrono::Utc::now() + chrono::Duration::days(365))).unwrap();
    let past = backups.join("ativo-jira.example.com-20200101T000000Z.json.zst");
    std::fs::write(&past, archive_dated(chrono::Utc::now() - chrono::Duration::days(365))).unwrap();
    let mut written = Vec::new();
    for _ in 0..3 {
        let (report, warnings) = rotate(&store, &backups, "2");
        let path = report["path"].as_str().unwrap().to_owned();
        assert!(Path::new(&path).exists(), "the archive just written was removed: {report}");
        assert!(warnings.contains("in the future"), "{warnings}");
        written.push(path);
    }
    // Kept: the archive dated in the future (not counted) and the two newest real ones.
    assert!(future.exists());
    assert!(!past.exists(), "the oldest archive should have been rotated out");
    let left = names(&backups);
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(Path::new(&written[2]).exists() && Path::new(&written[1]).exists(), "{left:?}");
}

#[test]
fn links_and_fifos_named_like_archives_are_left_alone_and_do_not_count() {
    let dir = TempDir::new().unwrap();
    let store = store_in(dir.path());
    let backups = dir.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let (first, _) = rotate(&store, &backups, "5");
    let first = PathBuf::from(first["path"].as_str().unwrap());
    // Two links named like newer archives, one to the real archive and one dangling, and a FIFO.
    let link = backups.join("ativo-jira.example.com-20990101T000000Z.json.zst");
    std::os::unix::fs::symlink(&first, &link).unwrap();
    let dangling = backups.join("ativo-jira.example.com-20990102T000000Z.json.zst");
    std::os::unix::fs::symlink(backups.join("gone.json.zst"), &dangling).unwrap();
    let fifo = backups.join("ativo-jira.example.com-20990103T000000Z.json.zst");
    make_fifo(&fifo);
    std::thread::sleep(Duration::from_millis(1100));
    let (second, warnings) = rotate(&store, &backups, "2");
    assert!(warnings.contains("not a regular file"), "{warnings}");
    // Both real archives are kept (the new one and the first), the three look-alikes untouched.
    assert!(first.exists() && Path::new(second["path"].as_str().unwrap()).exists(), "{:?}", names(&backups));
    for path in [&link, &dangling, &fifo] {
        assert!(std::fs::symlink_metadata(path).is_ok(), "{} was removed", path.display());
    }
    assert_eq!(second["removed"].as_array().unwrap().len(), 0, "{second}");
}

#[test]
fn exports_started_in_the_same_second_never_overwrite_each_other() {
    let dir = TempDir::new().unwrap();
    let store = store_in(dir.path());
    let backups = dir.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let exe = assert_cmd::cargo::cargo_bin("ativo-backup");
    let children: Vec<_> = (0..5)
        .map(|_| {
            std::process::Command::new(&exe)
                .arg("--store")
                .arg(&store)
                .args(["--quiet", "export", "--dir"])
                .arg(&backups)
                .env_remove("ATIVO_STORE")
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let archives: Vec<String> = names(&backups).into_iter().filter(|n| n.starts_with("ativo-")).collect();
    assert_eq!(archives.len(), 5, "{archives:?}");
    for name in &archives {
        assert!(is_archive(&std::fs::read(backups.join(name)).unwrap()), "{name}");
    }
}

#[test]
fn a_safety_dir_is_created_but_never_its_parents() {
    let dir = TempDir::new().unwrap();
    let store = store_in(dir.path());
    let archive = dir.path().join("a.json.zst");
    export(&store).arg("-o").arg(&archive).assert().success();
    let missing_parent = dir.path().join("missing/safety");
    let out = bin()
        .arg("--store")
        .arg(&store)
        .arg("import")
        .arg(&archive)
        .arg("--yes")
        .arg("--safety-dir")
        .arg(&missing_parent)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(missing_parent.to_str().unwrap()), "{}", stderr(&out));
    assert!(!dir.path().join("missing").exists(), "the parent was created");
    let last_only = dir.path().join("safety");
    bin()
        .arg("--store")
        .arg(&store)
        .arg("import")
        .arg(&archive)
        .arg("--yes")
        .arg("--safety-dir")
        .arg(&last_only)
        .assert()
        .success();
    assert_eq!(names(&last_only).len(), 1);
}
