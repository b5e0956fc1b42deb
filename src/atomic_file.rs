//! Files that appear whole or not at all: temp file in the destination directory, fsync,
//! verification, rename, fsync of the directory.
//!
//! An export must never leave a partial archive where the archive should be, even when killed
//! or when the disk fills up: the data goes to a temporary file beside the destination (same
//! file system, so the rename is atomic), is flushed to disk, checked by the caller, and only
//! then renamed over the destination. A temporary file left by a killed process carries the
//! `.ativo-tmp` prefix and is never mistaken for an archive.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `path` atomically: `write` fills a temporary file, `verify` reads it back from the
/// start; only if both succeed is the file renamed to `path` and the directory synced.
///
/// # Errors
///
/// [`Error::File`] naming the destination when the directory is missing or read-only, the
/// disk is full, or the rename fails; any error of `write` or `verify`. In every case the
/// temporary file is removed and `path` is left as it was.
pub fn write_atomically<T>(
    path: &Path,
    write: impl FnOnce(&mut File) -> Result<()>,
    verify: impl FnOnce(&mut File) -> Result<T>,
) -> Result<T> {
    let file_error = |action: &'static str| move |source| Error::File { action, path: path.to_path_buf(), source };
    let dir = parent_dir(path);
    if !dir.is_dir() {
        let source = std::io::Error::new(std::io::ErrorKind::NotFound, "create the directory first");
        return Err(Error::File {
            action: "cannot write into the missing directory of",
            path: path.to_path_buf(),
            source,
        });
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".ativo-tmp-")
        .tempfile_in(&dir)
        // tempfile names its own random path in the message; the user knows the destination.
        .map_err(|e| std::io::Error::from(e.kind()))
        .map_err(file_error("cannot create a temporary file beside"))?;
    write(tmp.as_file_mut())?;
    tmp.as_file().sync_all().map_err(file_error("cannot flush"))?;
    tmp.as_file_mut().seek(SeekFrom::Start(0)).map_err(file_error("cannot read back"))?;
    let verified = verify(tmp.as_file_mut())?;
    tmp.persist(path).map_err(|e| Error::File {
        action: "cannot rename into place",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    sync_dir(&dir).map_err(file_error("cannot flush the directory of"))?;
    Ok(verified)
}

/// The directory a path lives in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
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
