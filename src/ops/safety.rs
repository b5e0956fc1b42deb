//! Safety backups: before `import` or `migrate` replaces a configuration, what the store holds is
//! saved as a full archive, read under the same write lock as the replacement, so that the
//! replacement can always be undone by importing it.
//!
//! A safety backup is a new file in the safety directory, never replacing one (two imports in
//! the same second get `-2`), written and verified like an export (`crate::destination`). The
//! directory is created if missing, but not its parents.

use std::path::{Path, PathBuf};

use chrono::{SubsecRound as _, Utc};

use crate::archive::{Encoding, Scope};
use crate::destination::{Protected, Target};
use crate::error::Result;
use crate::host::HostIdentity;
use crate::store::ReadCurrent;

/// A safety backup written.
#[derive(Debug)]
pub struct SafetyBackup {
    /// The file.
    pub path: PathBuf,
    /// The content digest of what it holds.
    pub content_digest: String,
    /// What the admin should know to read it back: entities over the default reader limits.
    pub notes: Vec<String>,
}

/// Saves what the store holds now (`current`) as a full archive in `dir`, verified.
///
/// # Errors
///
/// [`crate::Error::File`] when the directory or the file cannot be written.
pub fn write_safety_backup(dir: &Path, host: &HostIdentity, current: &crate::store::Snapshot) -> Result<SafetyBackup> {
    write_safety_backup_from(dir, host, &mut |sink| crate::sink::feed(&current.config, &current.api_tokens, sink))
}

/// [`write_safety_backup`] of the configuration `read` streams (the store's rows, read under its
/// write lock).
///
/// # Errors
///
/// [`crate::Error::File`] when the directory or the file cannot be written; any error of `read`.
pub fn write_safety_backup_from(dir: &Path, host: &HostIdentity, read: &mut ReadCurrent<'_>) -> Result<SafetyBackup> {
    crate::destination::ensure_dir(dir)?;
    // Absolute, so that the path in the log and the report still names the file later.
    let dir = &super::absolute(dir);
    let created_at = Utc::now().trunc_subsecs(0);
    let name = super::archive_file_name("safety", &host.base_url, created_at, Encoding::Zstd);
    // A new file with a name of its own can never be the store: nothing to protect beyond that.
    let target = Target::Dir(dir.to_path_buf());
    // The same streaming writer as `export`, fed as the rows are read: no copy of the
    // configuration is held for the backup.
    let (delivered, header) =
        super::export::write_streamed(&target, &name, &Protected::none(), host, Scope::Full, created_at, |stream| {
            read(stream)
        })?;
    Ok(SafetyBackup {
        path: PathBuf::from(delivered.path),
        content_digest: header.content_digest,
        notes: delivered.notes,
    })
}
