//! Where the archives the tool writes go: a file, a new file in a directory, standard output, or
//! a file that is not a regular file (a device, a FIFO). This module owns every write of an
//! archive to a path, so that the rules below hold for exports and safety backups alike.
//!
//! The rules, and whose habits they follow:
//!
//! * A regular file (new or existing) appears whole or not at all: the archive goes to a
//!   temporary file in the destination's directory (same file system), is flushed, verified by
//!   the caller, and renamed over the destination. An existing file keeps its mode, and its owner
//!   and group where the process may set them (as `install -C` or an editor's atomic save do);
//!   a new file is created with mode 0600, since an archive names the site's admins. A temporary
//!   file left by a killed process carries the `.ativo-tmp-` prefix and is never taken for an
//!   archive.
//! * A file that is not a regular file (a character or block device, a FIFO) is written into,
//!   never renamed over, as `pg_dump -f` and `tar -f` do: `export -o /dev/null` must not replace
//!   the system's /dev/null. Such a file cannot be read back, so the archive is written and
//!   verified in a temporary file first and then copied into it; the report says so. Standard
//!   output is handled the same way. A socket cannot be written into and is refused.
//! * A symbolic link stays a symbolic link: its target is what gets written (replaced atomically
//!   in the target's own directory when it is a regular file), as a shell redirection or
//!   `pg_dump -f` would write through it. A link whose target does not exist is refused (exit 2),
//!   naming the link: creating a file somewhere the admin did not name is not a guess to make.
//! * A new file in a directory (`export --dir`, safety backups) never replaces anything: its name
//!   is taken exclusively, with `-2`, `-3`, ... appended when two runs pick the same name in the
//!   same second (restic and borg name their snapshots uniquely for the same reason).
//! * The store itself is never a destination: its files (a SQLite database and its `-wal`,
//!   `-shm` and `-journal` files) are compared by device and inode, and by directory and name
//!   for those that do not exist yet, never by the text of the path, and refused (exit 2) before
//!   anything is written.
//!
//! Rotation of the archives in a directory (`export --dir DIR --keep N`) is [`rotate`].

use std::fs::{File, Metadata};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::archive::Header;
use crate::error::{Error, Result};
use crate::host::HostIdentity;

/// Where an archive is to be written, as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// This path: a new or existing regular file (replaced atomically), a symbolic link (its
    /// target is written), a device or a FIFO (written into).
    File(PathBuf),
    /// A new file in this directory, under a name given by the caller.
    Dir(PathBuf),
    /// Standard output.
    Stdout,
}

/// How a written archive got to its destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivered {
    /// The file written (for a symbolic link, the file it points to), or `-` for standard output.
    pub path: String,
    /// Bytes written.
    pub bytes: u64,
    /// Whether the archive was verified by reading back the destination itself. `false` for
    /// standard output, devices and FIFOs: those were verified in a temporary file first.
    pub read_back: bool,
    /// What the admin should know about the destination (it could not be read back, ...).
    pub notes: Vec<String>,
    /// Whether the archive went to this process's standard output (`-`, or a path such as
    /// `/dev/stdout` that is the same file): then nothing else may be printed there.
    pub to_stdout: bool,
    /// Device and inode of the file written, when it is a regular file (rotation keeps it).
    #[serde(skip)]
    pub file_id: Option<(u64, u64)>,
}

/// The files no archive may be written over: the store's own.
#[derive(Debug, Clone, Default)]
pub struct Protected {
    /// What each file is called in messages (the store's description).
    label: String,
    /// Device and inode of those that exist.
    existing: Vec<(u64, u64)>,
    /// Device and inode of the directory, and the name, of each (existing or not).
    named: Vec<((u64, u64), std::ffi::OsString)>,
}

impl Protected {
    /// Nothing protected (a store without local files).
    pub fn none() -> Self {
        Protected::default()
    }

    /// The files `files`, described as `label` in messages.
    pub fn files(label: &str, files: &[PathBuf]) -> Self {
        let mut protected = Protected { label: label.to_owned(), ..Protected::default() };
        for file in files {
            if let Ok(meta) = std::fs::metadata(file) {
                protected.existing.push(file_id(&meta));
            }
            if let (Some(name), Ok(dir)) = (file.file_name(), std::fs::metadata(parent_dir(file))) {
                protected.named.push((file_id(&dir), name.to_owned()));
            }
        }
        protected
    }

    /// Refuses `path` (whose metadata, following links, is `meta` when it exists).
    fn check(&self, path: &Path, meta: Option<&Metadata>) -> Result<()> {
        let is_existing = meta.is_some_and(|m| self.existing.contains(&file_id(m)));
        let is_named = match (path.file_name(), std::fs::metadata(parent_dir(path))) {
            (Some(name), Ok(dir)) => self.named.iter().any(|(d, n)| *d == file_id(&dir) && n == name),
            _ => false,
        };
        if is_existing || is_named {
            return Err(Error::Usage(format!(
                "{} is the store {} (or one of its files): an archive is never written over the store; give another output path",
                path.display(),
                self.label
            )));
        }
        Ok(())
    }
}

/// What a destination turned out to be.
#[derive(Debug)]
enum Resolved {
    /// A regular file, made whole beside it and renamed into place.
    Regular(Regular),
    /// Not a regular file: written into (`None`: standard output); `what` names its kind.
    Into { path: Option<PathBuf>, what: &'static str },
}

/// A regular file destination.
#[derive(Debug)]
enum Regular {
    /// An existing regular file (a link's target), replaced atomically; `meta` as it was seen.
    Replace { path: PathBuf, meta: Metadata },
    /// A new regular file at exactly this path.
    Create { path: PathBuf },
    /// A new regular file in `dir`, named `name` or with a `-N` suffix.
    CreateIn { dir: PathBuf, name: String },
}

/// Writes an archive to `target`: `produce` writes it into a file (it gets a scratch directory
/// on the destination's file system for its own temporary files), `verify` reads that file back
/// from its start. Only when both succeed does the archive reach the destination, by the rules in
/// the module docs. `name` is the file name for [`Target::Dir`].
///
/// # Errors
///
/// [`Error::Usage`] (exit 2) for a destination that can never be right: an empty path, a
/// directory given as a file, a socket, a dangling symbolic link, the store itself;
/// [`Error::File`] (exit 1) when the directory is missing or read-only, the disk is full, or a
/// file cannot be replaced; any error of `produce` or `verify`. In every case the destination is
/// left as it was and the temporary file is removed.
pub fn deliver<T>(
    target: &Target,
    name: &str,
    protected: &Protected,
    produce: impl FnOnce(&mut File, &Path) -> Result<T>,
    verify: impl FnOnce(&mut File, &T) -> Result<()>,
) -> Result<(Delivered, T)> {
    match resolve(target, name, protected)? {
        Resolved::Into { path, what } => write_into(path.as_deref(), what, produce, verify),
        Resolved::Regular(regular) => write_file(regular, protected, produce, verify),
    }
}

fn resolve(target: &Target, name: &str, protected: &Protected) -> Result<Resolved> {
    let path = match target {
        Target::Stdout => return Ok(Resolved::Into { path: None, what: "standard output" }),
        Target::Dir(dir) => {
            let meta = std::fs::metadata(dir).map_err(|source| Error::File {
                action: "cannot write into the directory",
                path: dir.clone(),
                source,
            })?;
            if !meta.is_dir() {
                return Err(Error::Usage(format!("{} is not a directory; --dir takes a directory", dir.display())));
            }
            return Ok(Resolved::Regular(Regular::CreateIn { dir: dir.clone(), name: name.to_owned() }));
        }
        Target::File(path) => path,
    };
    if path.as_os_str().is_empty() {
        return Err(Error::Usage(
            "the output file name is empty; give a file, - for standard output, or --dir DIR".into(),
        ));
    }
    let link = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !parent_dir(path).is_dir() {
                let source = std::io::Error::new(std::io::ErrorKind::NotFound, "create the directory first");
                return Err(Error::File {
                    action: "cannot write into the missing directory of",
                    path: path.clone(),
                    source,
                });
            }
            protected.check(path, None)?;
            return Ok(Resolved::Regular(Regular::Create { path: path.clone() }));
        }
        Err(source) => return Err(Error::File { action: "cannot look at", path: path.clone(), source }),
        Ok(meta) => meta,
    };
    let meta = if link.file_type().is_symlink() {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let to = std::fs::read_link(path).map(|t| format!(" to {}", t.display())).unwrap_or_default();
                return Err(Error::Usage(format!(
                    "{} is a symbolic link{to} whose target does not exist; give the file itself, or create it first",
                    path.display()
                )));
            }
            Err(source) => return Err(Error::File { action: "cannot follow the link", path: path.clone(), source }),
            Ok(meta) => meta,
        }
    } else {
        link
    };
    protected.check(path, Some(&meta))?;
    let kind = meta.file_type();
    if kind.is_file() {
        // A link's target is replaced in its own directory, so the link stays a link.
        let real = std::fs::canonicalize(path).map_err(|source| Error::File {
            action: "cannot follow the link",
            path: path.clone(),
            source,
        })?;
        protected.check(&real, Some(&meta))?;
        return Ok(Resolved::Regular(Regular::Replace { path: real, meta }));
    }
    if kind.is_dir() {
        return Err(Error::Usage(format!(
            "{} is a directory; give a file name, or use --dir {} for a timestamped archive in it",
            path.display(),
            path.display()
        )));
    }
    Ok(Resolved::Into { path: Some(path.clone()), what: special_kind(&meta)? })
}

/// The kind of a file that is neither regular nor a directory, for messages; sockets are refused.
#[cfg(unix)]
fn special_kind(meta: &Metadata) -> Result<&'static str> {
    use std::os::unix::fs::FileTypeExt as _;
    let kind = meta.file_type();
    if kind.is_fifo() {
        Ok("FIFO")
    } else if kind.is_char_device() {
        Ok("character device")
    } else if kind.is_block_device() {
        Ok("block device")
    } else {
        Err(Error::Usage("the output is a socket, which a file cannot be written into; give a file".into()))
    }
}

#[cfg(not(unix))]
fn special_kind(_: &Metadata) -> Result<&'static str> {
    Ok("special file")
}

/// A regular destination: temporary file, verification, then rename into place.
fn write_file<T>(
    regular: Regular,
    protected: &Protected,
    produce: impl FnOnce(&mut File, &Path) -> Result<T>,
    verify: impl FnOnce(&mut File, &T) -> Result<()>,
) -> Result<(Delivered, T)> {
    let (dir, shown) = match &regular {
        Regular::Replace { path, .. } | Regular::Create { path } => (parent_dir(path), path.clone()),
        Regular::CreateIn { dir, name } => (dir.clone(), dir.join(name)),
    };
    let file_error = |action: &'static str| {
        let shown = shown.clone();
        move |source| Error::File { action, path: shown, source }
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".ativo-tmp-")
        .tempfile_in(&dir)
        // tempfile names its own random path in the message; the user knows the destination.
        .map_err(|e| std::io::Error::from(e.kind()))
        .map_err(file_error("cannot create a temporary file beside"))?;
    let produced = produce(tmp.as_file_mut(), &dir)?;
    tmp.as_file().sync_all().map_err(file_error("cannot flush"))?;
    tmp.as_file_mut().seek(SeekFrom::Start(0)).map_err(file_error("cannot read back"))?;
    verify(tmp.as_file_mut(), &produced)?;
    let written = tmp.as_file().metadata().map_err(file_error("cannot read back"))?;
    let path = match regular {
        Regular::Replace { path, meta } => {
            keep_mode_and_owner(tmp.as_file(), &meta).map_err(file_error("cannot give the new archive the mode of"))?;
            // The destination may have changed since it was looked at; a file that is no longer
            // the one seen (now a FIFO, a link, another file) is not replaced.
            match std::fs::symlink_metadata(&path) {
                Ok(now) if now.file_type().is_file() && file_id(&now) == file_id(&meta) => {}
                _ => {
                    return Err(Error::File {
                        action: "refusing to replace",
                        path,
                        source: std::io::Error::other(
                            "it changed while the archive was being written; nothing was replaced",
                        ),
                    });
                }
            }
            tmp.persist(&path).map_err(|e| Error::File {
                action: "cannot rename into place",
                path: path.clone(),
                source: e.error,
            })?;
            path
        }
        Regular::Create { path } => {
            tmp.persist_noclobber(&path).map_err(|e| Error::File {
                action: "cannot create",
                path: path.clone(),
                source: e.error,
            })?;
            path
        }
        Regular::CreateIn { dir, name } => persist_exclusively(tmp, &dir, &name, protected)?,
    };
    sync_dir(&parent_dir(&path)).map_err(file_error("cannot flush the directory of"))?;
    let delivered = Delivered {
        path: path.display().to_string(),
        bytes: written.len(),
        read_back: true,
        notes: Vec::new(),
        to_stdout: false,
        file_id: Some(file_id(&written)),
    };
    Ok((delivered, produced))
}

/// Renames `tmp` to `dir/name`, or `dir/<stem>-2<ext>`, `-3`, ... without ever replacing a file.
fn persist_exclusively(
    mut tmp: tempfile::NamedTempFile,
    dir: &Path,
    name: &str,
    protected: &Protected,
) -> Result<PathBuf> {
    let (stem, ext) = split_extension(name);
    for n in 1..=10_000u32 {
        let path = if n == 1 { dir.join(name) } else { dir.join(format!("{stem}-{n}{ext}")) };
        protected.check(&path, std::fs::metadata(&path).ok().as_ref())?;
        match tmp.persist_noclobber(&path) {
            Ok(_) => return Ok(path),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => tmp = e.file,
            Err(e) => return Err(Error::File { action: "cannot create", path, source: e.error }),
        }
    }
    Err(Error::File {
        action: "cannot find a free name for",
        path: dir.join(name),
        source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
    })
}

/// `name` split before `.json.zst` or `.json` (or not at all).
fn split_extension(name: &str) -> (&str, &str) {
    [".json.zst", ".json"].iter().find_map(|ext| name.strip_suffix(ext).map(|stem| (stem, *ext))).unwrap_or((name, ""))
}

/// The new archive gets the mode of the file it replaces, and its owner and group where this
/// process may set them (root may; another user may give a group it belongs to).
#[cfg(unix)]
fn keep_mode_and_owner(file: &File, old: &Metadata) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let (uid, gid) = (old.uid(), old.gid());
    if std::os::unix::fs::fchown(file, Some(uid), Some(gid)).is_err() {
        // Not allowed to give the file away: the group alone may still be ours to give.
        let _ = std::os::unix::fs::fchown(file, None, Some(gid));
    }
    // After the owner: changing it clears the set-id bits.
    file.set_permissions(std::fs::Permissions::from_mode(old.mode() & 0o7777))
}

#[cfg(not(unix))]
fn keep_mode_and_owner(file: &File, old: &Metadata) -> std::io::Result<()> {
    file.set_permissions(old.permissions())
}

/// A destination that is not a regular file: the archive is made and verified in a temporary
/// file, then copied into it.
fn write_into<T>(
    path: Option<&Path>,
    what: &'static str,
    produce: impl FnOnce(&mut File, &Path) -> Result<T>,
    verify: impl FnOnce(&mut File, &T) -> Result<()>,
) -> Result<(Delivered, T)> {
    let scratch = std::env::temp_dir();
    let tmp_error =
        |source| Error::File { action: "cannot use a temporary file in", path: std::env::temp_dir(), source };
    let mut tmp = tempfile::tempfile_in(&scratch).map_err(tmp_error)?;
    let produced = produce(&mut tmp, &scratch)?;
    tmp.seek(SeekFrom::Start(0)).map_err(tmp_error)?;
    verify(&mut tmp, &produced)?;
    tmp.seek(SeekFrom::Start(0)).map_err(tmp_error)?;
    let shown = path.map_or_else(|| PathBuf::from("<stdout>"), Path::to_path_buf);
    let write_error = |source| Error::File { action: "cannot write", path: shown.clone(), source };
    let bytes = match path {
        None => {
            let mut stdout = std::io::stdout().lock();
            let bytes = std::io::copy(&mut tmp, &mut stdout).map_err(write_error)?;
            stdout.flush().map_err(write_error)?;
            bytes
        }
        Some(path) => {
            let mut out = open_for_writing_into(path).map_err(write_error)?;
            let bytes = std::io::copy(&mut tmp, &mut out).map_err(write_error)?;
            out.flush().map_err(write_error)?;
            bytes
        }
    };
    let notes = match path {
        None => Vec::new(),
        Some(path) => vec![format!(
            "{} is a {what}: the archive was written into it, not renamed over it, and verified in a temporary file before it was copied there, since a {what} cannot be read back",
            path.display()
        )],
    };
    let to_stdout = path.is_none_or(is_standard_output);
    let shown = path.map_or_else(|| "-".to_owned(), |p| p.display().to_string());
    Ok((Delivered { path: shown, bytes, read_back: false, notes, to_stdout, file_id: None }, produced))
}

/// Whether `path` is the file this process's standard output writes to.
fn is_standard_output(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd as _;
        let stdout = std::io::stdout();
        let Ok(ours) = stdout.as_fd().try_clone_to_owned().map(File::from).and_then(|f| f.metadata()) else {
            return false;
        };
        std::fs::metadata(path).is_ok_and(|theirs| file_id(&theirs) == file_id(&ours))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// Opens a device or FIFO for writing: never created, never truncated, never a controlling tty.
fn open_for_writing_into(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NOCTTY);
    }
    options.open(path)
}

/// Creates the directory `dir` if it is missing, but not its parents: a typo in a path
/// (`/bakcups/ativo`) must not make a tree nobody looks at (`mkdir`, not `mkdir -p`, as restic
/// does for a repository).
///
/// # Errors
///
/// [`Error::File`] naming `dir` when its parent is missing or it cannot be created, or when it
/// exists and is not a directory.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(Error::File {
            action: "cannot use as a directory",
            path: dir.to_path_buf(),
            source: std::io::Error::other("it exists and is not a directory"),
        }),
        Err(_) => match std::fs::create_dir(dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
            Err(source) => {
                let action = if parent_dir(dir).is_dir() {
                    "cannot create the directory"
                } else {
                    "cannot create the directory (its parent does not exist; only the last component is created)"
                };
                Err(Error::File { action, path: dir.to_path_buf(), source })
            }
        },
    }
}

/// The directory a path lives in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(unix)]
fn file_id(meta: &Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt as _;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn file_id(meta: &Metadata) -> (u64, u64) {
    (0, meta.len())
}

/// Makes a rename durable: on Linux the new directory entry is only on disk once the directory
/// itself is synced.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// What [`rotate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rotation {
    /// The archives removed.
    pub removed: Vec<String>,
    /// Files named like archives of this host that were left alone, and why.
    pub warnings: Vec<String>,
}

/// Keeps the newest `keep` archives of `host` in `dir`, counting the one just written
/// (`just_written`, by device and inode), and removes the older ones.
///
/// Candidates are the files named as this tool names archives of this host
/// (`ativo-<host>-<time>[-N].json[.zst]`). Of those, only regular files (never followed through
/// a link, opened without blocking) whose archive verifies (`header_of`: integrity and digests)
/// and whose header names this host's fingerprint are considered, ordered by the header's
/// `created_at`, never by the name. The archive just written is always kept and is one of the
/// `keep`. An archive dated in the future (a clock that was once wrong) is kept, does not count,
/// and is reported: removing archives because of a date that cannot be right is how rotations
/// lose every real backup. Anything else named like an archive is left alone and reported.
///
/// # Errors
///
/// [`Error::File`] when the directory cannot be listed or an archive cannot be removed.
pub fn rotate(
    dir: &Path,
    host: &HostIdentity,
    keep: usize,
    just_written: Option<(u64, u64)>,
    now: DateTime<Utc>,
    header_of: impl Fn(File, &Path) -> Result<Header>,
) -> Result<Rotation> {
    let prefix = format!("ativo-{}-", crate::ops::host_slug(&host.base_url));
    let fingerprint = host.fingerprint();
    let entries = std::fs::read_dir(dir).map_err(|source| Error::File {
        action: "cannot list",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut rotation = Rotation::default();
    let mut older: Vec<Candidate> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if !name.starts_with(&prefix) || split_extension(&name).1.is_empty() {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if !meta.file_type().is_file() {
            rotation
                .warnings
                .push(format!("{} is named like an archive but is not a regular file: left alone", path.display()));
            continue;
        }
        if Some(file_id(&meta)) == just_written {
            continue;
        }
        let header = match open_without_following(&path).and_then(|file| {
            // The file opened must be the one looked at (not swapped for another since).
            let opened = file.metadata()?;
            if opened.file_type().is_file() && file_id(&opened) == file_id(&meta) {
                Ok(file)
            } else {
                Err(std::io::Error::other("it changed while it was being looked at"))
            }
        }) {
            Ok(file) => header_of(file, &path),
            Err(source) => Err(Error::File { action: "cannot open", path: path.clone(), source }),
        };
        let header = match header {
            Ok(header) => header,
            Err(e) => {
                rotation
                    .warnings
                    .push(format!("{} is named like an archive but does not verify ({e}): left alone", path.display()));
                continue;
            }
        };
        if header.source.fingerprint != fingerprint {
            continue;
        }
        if header.created_at > now {
            rotation.warnings.push(format!(
                "{} is dated {}, in the future (a clock that was wrong?): kept, and not counted among the newest {keep}; remove it by hand once you have checked it",
                path.display(),
                header.created_at.format("%Y-%m-%dT%H:%M:%SZ")
            ));
            continue;
        }
        older.push(Candidate { created_at: header.created_at, name, path, id: file_id(&meta) });
    }
    // Newest first; the name breaks ties between archives of the same second (`-2` after none).
    older.sort_by(|a, b| {
        b.created_at.cmp(&a.created_at).then_with(|| natural_order(&b.name).cmp(&natural_order(&a.name)))
    });
    // The archive just written is one of the `keep`.
    let room = keep.saturating_sub(usize::from(just_written.is_some()));
    for Candidate { path, id, .. } in older.into_iter().skip(room) {
        // Removed only if it is still the file that was checked.
        match std::fs::symlink_metadata(&path) {
            Ok(now) if now.file_type().is_file() && file_id(&now) == id => {}
            _ => continue,
        }
        std::fs::remove_file(&path).map_err(|source| Error::File {
            action: "cannot remove",
            path: path.clone(),
            source,
        })?;
        rotation.removed.push(path.display().to_string());
    }
    Ok(rotation)
}

/// An archive of this host that rotation may remove.
struct Candidate {
    created_at: DateTime<Utc>,
    name: String,
    path: PathBuf,
    /// Device and inode when it was checked.
    id: (u64, u64),
}

/// Sorts `<stamp>` before `<stamp>-2` before `<stamp>-10`.
fn natural_order(name: &str) -> (String, u32) {
    let stem = split_extension(name).0;
    match stem.rsplit_once('-') {
        Some((head, n)) if n.len() < 6 && n.bytes().all(|b| b.is_ascii_digit()) => {
            (head.to_owned(), n.parse().unwrap_or(0))
        }
        _ => (stem.to_owned(), 1),
    }
}

/// Opens a file for reading without following a symbolic link and without blocking on a FIFO.
fn open_without_following(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_before_the_archive_extension() {
        assert_eq!(split_extension("a-1.json.zst"), ("a-1", ".json.zst"));
        assert_eq!(split_extension("a.json"), ("a", ".json"));
        assert_eq!(split_extension("a.txt"), ("a.txt", ""));
    }

    #[test]
    fn suffixes_sort_after_the_plain_name_and_numerically() {
        let mut names =
            vec!["x-20260101T000000Z-10.json.zst", "x-20260101T000000Z-2.json.zst", "x-20260101T000000Z.json.zst"];
        names.sort_by_key(|n| natural_order(n));
        assert_eq!(
            names,
            ["x-20260101T000000Z.json.zst", "x-20260101T000000Z-2.json.zst", "x-20260101T000000Z-10.json.zst"]
        );
    }
}
