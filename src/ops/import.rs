//! `import`: a full, atomic overwrite of the store's configuration by an archive of the same
//! host, after every check, with a safety backup of what it replaces.
//!
//! The order is the promise of "nothing lost": [`check`] reads and verifies the whole archive
//! (integrity, version, shape, semantics, host) and computes the plan without writing anything;
//! [`apply`] then takes the store's write lock, writes a safety backup of the configuration it
//! holds *under that lock* (so nothing can change between the backup and the overwrite), and
//! replaces everything in one transaction.

use std::path::{Path, PathBuf};

use chrono::{SubsecRound as _, Utc};
use serde::Serialize;

use super::Input;
use super::diff::{self, Plan};
use crate::archive::{self, Archive, Encoding, Limits, Scope};
use crate::error::{Error, Result};
use crate::host::HostIdentity;
use crate::model::validate::Finding;
use crate::progress::SharedProgress;
use crate::store::{Operation, Store};

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The archive.
    pub input: Input,
    /// Limits against hostile input.
    pub limits: Limits,
    /// Where the safety backup goes (created if missing).
    pub safety_dir: PathBuf,
    /// Progress receiver.
    pub progress: SharedProgress,
}

/// An archive that passed every check against a store, with the plan of what importing changes.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The archive.
    pub archive: Archive,
    /// Warnings (errors would have failed the check).
    pub findings: Vec<Finding>,
    /// What importing it changes now.
    pub plan: Plan,
    /// `identity`, or `alias` when the archive comes from an accepted earlier identity.
    pub host_match: &'static str,
    /// Content digest of what the store held when the plan was made.
    pub content_digest_before: String,
}

/// What an import did, or would do (`dry_run`).
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// The archive.
    pub input: String,
    /// Nothing was written.
    pub dry_run: bool,
    /// `identity` or `alias`.
    pub host_match: &'static str,
    /// Changes per entity kind.
    pub plan: Plan,
    /// Warnings found in the archive.
    pub warnings: Vec<Finding>,
    /// Where the configuration that was replaced was saved.
    pub safety_backup: Option<String>,
    /// Content digest of the store's configuration before.
    pub content_digest_before: String,
    /// Content digest of the store's configuration after (the archive's).
    pub content_digest_after: String,
}

/// Reads and checks the archive against the store; writes nothing.
///
/// # Errors
///
/// [`Error::Archive`] (exit 3, 5, 6), [`Error::Invalid`] (3), [`Error::Usage`] for a migration
/// archive, [`Error::OtherHost`] (4), [`Error::Store`] (7).
pub fn check(store: &mut dyn Store, options: &ImportOptions) -> Result<Checked> {
    let (archive, findings) = super::read_valid_archive(&options.input, &options.limits, &options.progress)?;
    if archive.header.scope != Scope::Full {
        return Err(Error::Usage(format!(
            "{} is a migration archive (without admins): it is input for `migrate` on a cloud site, not a backup to restore",
            options.input
        )));
    }
    let host = store.host()?;
    let source = archive.header.source.identity();
    let host_match = if source == host.identity {
        "identity"
    } else if host.aliases.contains(&source) {
        "alias"
    } else {
        return Err(other_host(&source, &host.identity));
    };
    options.progress.phase("comparing with the store", None);
    let current = store.snapshot()?;
    let plan = diff::plan(&current.config, &archive.data);
    let content_digest_before = archive::content_digest(&current.config);
    Ok(Checked { archive, findings, plan, host_match, content_digest_before })
}

/// The error for an archive of another host, naming both.
pub fn other_host(archive: &HostIdentity, store: &HostIdentity) -> Error {
    Error::OtherHost { archive: archive.to_string(), store: store.to_string() }
}

/// The report of a dry run: the checks passed, nothing written.
///
/// # Errors
///
/// None today; a `Result` so that callers treat it like [`apply`].
pub fn dry_run_report(options: &ImportOptions, checked: Checked) -> Result<ImportReport> {
    Ok(ImportReport {
        input: options.input.to_string(),
        dry_run: true,
        host_match: checked.host_match,
        plan: checked.plan,
        warnings: checked.findings,
        safety_backup: None,
        content_digest_before: checked.content_digest_before,
        content_digest_after: checked.archive.header.content_digest,
    })
}

/// Replaces the store's configuration by the checked archive, after a safety backup.
///
/// # Errors
///
/// [`Error::Store`] (locked, write failed), [`Error::File`] when the safety backup cannot be
/// written. In every case the store is unchanged.
pub fn apply(store: &mut dyn Store, options: &ImportOptions, checked: Checked) -> Result<ImportReport> {
    let host = store.host()?.identity;
    let Checked { archive, findings, host_match, .. } = checked;
    let Archive { header, data } = archive;
    // Moved into the store on the one call of the plan, rather than cloned: the configuration
    // is the bulk of an import's memory.
    let mut data = Some(data);
    let mut outcome: Option<(String, String, Plan)> = None;
    options.progress.phase("waiting for the store's write lock", None);
    store.replace(&mut |current| {
        let new = data.take().ok_or_else(|| Error::Usage("the store ran the import plan twice".into()))?;
        let before = archive::content_digest(&current.config);
        let plan = diff::plan(&current.config, &new);
        options.progress.phase("writing the safety backup", None);
        let backup = write_safety_backup(&options.safety_dir, &host, current)?;
        options.progress.phase("replacing the configuration", None);
        let op = Operation {
            id: 0,
            at: Utc::now(),
            kind: "import".into(),
            os_user: crate::store::current_os_user(),
            archive_digest: Some(header.integrity_digest.clone()),
            content_digest: Some(header.content_digest.clone()),
            outcome: "ok".into(),
            detail: serde_json::json!({
                "input": options.input.to_string(),
                "source_fingerprint": header.source.fingerprint,
                "host_match": host_match,
                "safety_backup": backup.display().to_string(),
                "content_digest_before": before,
            }),
        };
        outcome = Some((backup.display().to_string(), before, plan));
        Ok((new, op))
    })?;
    options.progress.finish();
    let (backup, before, plan) = outcome.ok_or_else(|| Error::Usage("the store did not run the import".into()))?;
    Ok(ImportReport {
        input: options.input.to_string(),
        dry_run: false,
        host_match,
        plan,
        warnings: findings,
        safety_backup: Some(backup),
        content_digest_before: before,
        content_digest_after: header.content_digest,
    })
}

/// Saves what the store holds now as a full archive in `dir` (created if missing), verified.
///
/// # Errors
///
/// [`Error::File`] when the directory or the file cannot be written.
pub fn write_safety_backup(dir: &Path, host: &HostIdentity, current: &crate::store::Snapshot) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|source| Error::File {
        action: "cannot create the safety backup directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let created_at = Utc::now().trunc_subsecs(0);
    let name = super::archive_file_name("safety", &host.base_url, created_at, Encoding::Zstd);
    let path = super::unused_path(dir, &name);
    // The same streaming writer as `export`, fed from the snapshot already in memory (read
    // under the write lock): no second copy of the configuration is made for the backup.
    super::export::write_streamed_file(&path, host, Scope::Full, created_at, |stream| {
        stream.start(&current.config, &current.api_tokens)?;
        for pi in &current.config.pis {
            stream.pi(std::borrow::Cow::Borrowed(pi))?;
        }
        Ok(())
    })?;
    Ok(path)
}
