//! `import`: a full, atomic overwrite of the store's configuration by an archive of the same
//! host, after every check, with a safety backup of what it replaces.
//!
//! The order is the promise of "nothing lost": [`check`] reads and verifies the whole archive
//! (integrity, version, shape, semantics, host) and computes the plan without writing anything;
//! [`apply`] then takes the store's write lock, writes a safety backup of the configuration it
//! holds *under that lock* (so nothing can change between the backup and the overwrite), and
//! replaces everything in one transaction.
//!
//! # Memory
//!
//! An archive file as `export` writes it is imported in streaming passes
//! (`archive::stream`), so memory does not grow with the configuration: the check reads the
//! small part of `data` (pass 1), then reads and checks the PIs on a second thread while the
//! store's PIs are streamed beside them to compute the plan by key (pass 2, a merge of two
//! key-ordered sides; see [`diff::Planner`]); under the lock, the safety backup is written from
//! the store's rows as they are read, and the archive's PIs go into the store as a third pass
//! reads them. That pass recomputes the digests and compares the bytes outside the PIs with
//! pass 1's, so the rows written are exactly those checked: a file changed since the check
//! makes the import fail before its commit, with the store unchanged.
//!
//! Standard input, and any archive the streaming reader does not take (an older format version,
//! an unusual layout, anything wrong with it), go through the whole-document path: the archive
//! is read into memory by `archive::read`, which also gives the exact error for a bad one.

use std::cell::RefCell;
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::Serialize;

use super::Input;
use super::diff::{self, Plan};
use crate::archive::stream::{self, Skeleton};
use crate::archive::{self, ContentDigester, Header, Limits, Scope};
use crate::error::{ArchiveError, Error, Result};
use crate::host::HostIdentity;
use crate::model::validate::Finding;
use crate::model::{Configuration, Pi};
use crate::progress::SharedProgress;
use crate::store::{ConfigOut, Operation, ReadCurrent, Replacement, Store};

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The archive.
    pub input: Input,
    /// Limits against hostile input.
    pub limits: Limits,
    /// Where the safety backup goes (created if missing, but not its parents).
    pub safety_dir: PathBuf,
    /// Import even when the configuration breaks semantic rules (SPEC.md section 10), after
    /// showing them: the way back for a backup of a store that held such a configuration.
    /// Integrity, version, schema, host and scope are never waived.
    pub allow_invalid: bool,
    /// Progress receiver.
    pub progress: SharedProgress,
}

/// An archive that passed every check against a store, with the plan of what importing changes.
#[derive(Debug)]
pub struct Checked {
    /// The archive's header.
    pub header: Header,
    /// Warnings, and with [`ImportOptions::allow_invalid`] the semantic errors let through.
    pub findings: Vec<Finding>,
    /// What importing it changes now.
    pub plan: Plan,
    /// `identity`, or `alias` when the archive comes from an accepted earlier identity.
    pub host_match: &'static str,
    /// Content digest of what the store held when the plan was made.
    pub content_digest_before: String,
    /// The configuration to write, or where to read it again.
    data: Data,
}

/// Where the checked configuration is.
#[derive(Debug)]
enum Data {
    /// Read whole (standard input, or an archive the streaming reader does not take).
    Whole(Configuration),
    /// In the file, read again when it is written; the small part is kept.
    File {
        /// The archive file.
        path: PathBuf,
        /// What pass 1 read.
        skeleton: Skeleton,
        /// How many rows the configuration has ([`Configuration::row_count`]).
        rows: u64,
    },
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
    /// Findings in the archive: warnings, and the semantic errors `--allow-invalid` let through.
    pub warnings: Vec<Finding>,
    /// Semantic errors that were let through by `--allow-invalid` (counted among `warnings`).
    pub allowed_errors: usize,
    /// Where the configuration that was replaced was saved.
    pub safety_backup: Option<String>,
    /// What reading the safety backup back needs: its entities over the default reader limits
    /// (SPEC.md section 7), with the options that take them.
    pub safety_backup_notes: Vec<String>,
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
    if let Some(checked) = check_streamed(store, options)? {
        return Ok(checked);
    }
    let (archive, findings) =
        super::read_checked_archive(&options.input, &options.limits, &options.progress, options.allow_invalid)?;
    let host_match = check_scope_and_host(store, options, &archive.header)?;
    if store.refuses_nul_in_text()
        && let Some(f) = super::nul_in_text(&archive.data, "/data", &store.location())
    {
        return Err(Error::Invalid { context: options.input.to_string(), findings: vec![f] });
    }
    options.progress.phase("comparing with the store", None);
    let current = store.snapshot()?;
    let plan = diff::plan(&current.config, &archive.data);
    let content_digest_before = archive::content_digest(&current.config);
    Ok(Checked {
        header: archive.header,
        findings,
        plan,
        host_match,
        content_digest_before,
        data: Data::Whole(archive.data),
    })
}

/// The rules after the archive itself: a full archive (not a migration archive), of this host
/// or of one of its accepted aliases. Returns how the host matched.
fn check_scope_and_host(store: &mut dyn Store, options: &ImportOptions, header: &Header) -> Result<&'static str> {
    if header.scope != Scope::Full {
        return Err(Error::Usage(format!(
            "{} is a migration archive (without admins): it is input for `migrate` on a cloud site, not a backup to restore",
            options.input
        )));
    }
    let host = store.host()?;
    let source = header.source.identity();
    if source == host.identity {
        Ok("identity")
    } else if host.aliases.contains(&source) {
        Ok("alias")
    } else {
        Err(other_host(&source, &host.identity))
    }
}

/// Opens the archive file for one streaming pass ([`super::open_pass`]).
fn open_pass(path: &Path, options: &ImportOptions, phase: &str) -> Option<impl Read + Send + use<>> {
    super::open_pass(path, &options.progress, phase).ok()
}

/// [`check`] in streaming passes over a regular file (see the module's "Memory"); `None` when
/// the streaming reader does not take the input, for the whole-document path to decide.
fn check_streamed(store: &mut dyn Store, options: &ImportOptions) -> Result<Option<Checked>> {
    let Input::File(path) = &options.input else { return Ok(None) };
    let Some(source) = super::file_source(path, &options.progress, "reading").ok() else { return Ok(None) };
    let Some(skeleton) = stream::read_skeleton(&source, &options.limits) else { return Ok(None) };
    let Some(reader) = open_pass(path, options, "checking") else { return Ok(None) };
    // A store that cannot hold a NUL has every PI of the archive looked at as the plan is made.
    let refuses_nul = store.refuses_nul_in_text().then(|| store.location());
    let (verdict, planned) = stream::check_pis(reader, &options.limits, &skeleton, |archive_pis| {
        let mut nul = None;
        let mut index = 0usize;
        let mut checked = archive_pis.inspect(|pi| {
            if let Some(location) = &refuses_nul
                && nul.is_none()
            {
                nul = super::nul_in_text(pi, &format!("/data/pis/{index}"), location);
            }
            index += 1;
        });
        let planned =
            plan_against(&mut |start, each_pi| store.stream_snapshot(start, each_pi), skeleton.data(), &mut checked)?;
        Ok::<_, Error>((planned, nul))
    });
    // Only a verdict makes the plan meaningful (the PIs seen were exactly the checked ones).
    let Some(streamed) = verdict else { return Ok(None) };
    let findings = super::with_header_rules(streamed.findings, &streamed.header, streamed.has_admins);
    let findings = super::refuse_invalid(&options.input.to_string(), findings, options.allow_invalid)?;
    let host_match = check_scope_and_host(store, options, &streamed.header)?;
    let (planned, nul) = planned?;
    let skeleton_nul = refuses_nul.as_ref().and_then(|location| super::nul_in_text(skeleton.data(), "/data", location));
    if let Some(f) = skeleton_nul.or(nul) {
        return Err(Error::Invalid { context: options.input.to_string(), findings: vec![f] });
    }
    Ok(Some(Checked {
        header: streamed.header,
        findings,
        plan: planned.plan,
        host_match,
        content_digest_before: planned.content_digest_before,
        data: Data::File { path: path.clone(), skeleton, rows: planned.archive_rows },
    }))
}

/// What [`plan_against`] found.
struct Planned {
    plan: Plan,
    /// The content digest of what the store held.
    content_digest_before: String,
    /// The rows of the archive's configuration.
    archive_rows: u64,
}

/// Plans replacing the configuration `read_current` streams by the archive whose small part is
/// `skeleton` and whose PIs `archive_pis` yields, both in key order: a merge by PI key, so that
/// neither side is held whole.
fn plan_against(
    read_current: &mut ReadCurrent<'_>,
    skeleton: &Configuration,
    archive_pis: &mut dyn Iterator<Item = Pi>,
) -> Result<Planned> {
    let mut archive_pis = archive_pis.peekable();
    let mut archive_rows = skeleton.row_count();
    let state: RefCell<Option<(diff::Planner, ContentDigester)>> = RefCell::new(None);
    let not_started = || Error::Usage("the store handed over PIs before the rest of its configuration".into());
    read_current(
        &mut |current, _| {
            *state.borrow_mut() = Some((diff::Planner::new(current, skeleton), ContentDigester::new(current)));
            Ok(())
        },
        &mut |pi| {
            let mut state = state.borrow_mut();
            let (planner, digest) = state.as_mut().ok_or_else(not_started)?;
            digest.pi(&pi);
            while let Some(added) = archive_pis.next_if(|a| a.key < pi.key) {
                archive_rows += added.row_count();
                planner.pi(None, Some(&added));
            }
            let same = archive_pis.next_if(|a| a.key == pi.key);
            archive_rows += same.as_ref().map_or(0, Pi::row_count);
            planner.pi(Some(&pi), same.as_ref());
            Ok(())
        },
    )?;
    let (mut planner, digest) = state.into_inner().ok_or_else(not_started)?;
    for added in archive_pis {
        archive_rows += added.row_count();
        planner.pi(None, Some(&added));
    }
    Ok(Planned { plan: planner.finish(), content_digest_before: digest.finish(), archive_rows })
}

/// The error for an archive of another host, naming both, with the way forward that fits: an
/// alias when the server id is the store's own (the same installation after a move or an
/// upgrade, or a clone of it: the admin must know which), `migrate` only onto a cloud site.
pub fn other_host(archive: &HostIdentity, store: &HostIdentity) -> Error {
    use crate::host::Deployment::Cloud;
    let hint = if store.deployment == Cloud && archive.deployment != Cloud {
        "to move a Server or Data Center configuration onto this cloud site, use `ativo-backup migrate` (README, \"Migrating to Jira Cloud\")".to_owned()
    } else if archive.server_id == store.server_id && archive.deployment != Cloud && store.deployment != Cloud {
        let mut changes = Vec::new();
        if archive.base_url != store.base_url {
            changes.push("`ativo-backup host set-base-url`");
        }
        if archive.deployment != store.deployment {
            changes.push("`ativo-backup host set-deployment`");
        }
        format!(
            "both have server id {}: if the archive is from this installation before a change of base URL or an upgrade from Server to Data Center (and not from a clone of it, such as staging), record the change with {} and --keep-alias on a store that still has the archive's identity, so that archives of both identities restore; otherwise restore it on the host it came from",
            store.server_id,
            changes.join(" and ")
        )
    } else {
        "restore it on the host it came from".to_owned()
    };
    Error::OtherHost { archive: archive.to_string(), store: store.to_string(), hint }
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
        allowed_errors: checked.findings.iter().filter(|f| f.is_error()).count(),
        warnings: checked.findings,
        safety_backup: None,
        safety_backup_notes: Vec::new(),
        content_digest_before: checked.content_digest_before,
        content_digest_after: checked.header.content_digest,
    })
}

/// Replaces the store's configuration by the checked archive, after a safety backup.
///
/// # Errors
///
/// [`Error::Store`] (locked, write failed), [`Error::File`] when the safety backup cannot be
/// written, [`Error::Archive`] when the archive file changed since the check. In every case the
/// store is unchanged.
pub fn apply(store: &mut dyn Store, options: &ImportOptions, checked: Checked) -> Result<ImportReport> {
    let host = store.host()?.identity;
    let Checked { header, findings, host_match, content_digest_before, plan, data } = checked;
    options.progress.phase("waiting for the store's write lock", None);
    let mut replacement = Import {
        options,
        host,
        header: &header,
        host_match,
        data,
        checked_before: content_digest_before,
        plan,
        outcome: None,
    };
    store.replace_streamed(&mut replacement)?;
    options.progress.finish();
    let (backup, plan) = replacement.outcome.ok_or_else(|| Error::Usage("the store did not run the import".into()))?;
    Ok(ImportReport {
        input: options.input.to_string(),
        dry_run: false,
        host_match,
        plan,
        allowed_errors: findings.iter().filter(|f| f.is_error()).count(),
        warnings: findings,
        safety_backup: Some(backup.path.display().to_string()),
        safety_backup_notes: backup.notes,
        content_digest_before: backup.content_digest,
        content_digest_after: header.content_digest,
    })
}

/// The import as a [`Replacement`]: under the store's write lock, the safety backup and the plan
/// from what the store holds now, then the archive's configuration.
struct Import<'a> {
    options: &'a ImportOptions,
    host: HostIdentity,
    header: &'a Header,
    host_match: &'static str,
    data: Data,
    /// The store's content digest when the plan was made by [`check`].
    checked_before: String,
    /// That plan, still right if the store has not changed since.
    plan: Plan,
    /// The safety backup, the content digest before and the plan, once prepared.
    outcome: Option<(SafetyBackup, Plan)>,
}

impl Replacement for Import<'_> {
    fn prepare(&mut self, current: &mut ReadCurrent<'_>) -> Result<(Operation, u64)> {
        let options = self.options;
        options.progress.phase("writing the safety backup", None);
        let backup = write_safety_backup_from(&options.safety_dir, &self.host, current)?;
        let before = backup.content_digest.clone();
        // The plan from `check` holds unless the store changed since; then it is made again from
        // what the lock now protects.
        let plan = if before == self.checked_before {
            std::mem::take(&mut self.plan)
        } else {
            options.progress.phase("comparing with the store", None);
            match &self.data {
                Data::Whole(config) => diff::plan(&crate::store::collect(current)?.config, config),
                Data::File { path, skeleton, .. } => {
                    let reader = open_pass(path, options, "comparing").ok_or_else(|| changed(path))?;
                    let (verdict, planned) = stream::check_pis(reader, &options.limits, skeleton, |pis| {
                        plan_against(current, skeleton.data(), pis)
                    });
                    let planned = planned?;
                    same_archive(self.header, verdict, path)?;
                    planned.plan
                }
            }
        };
        let header = self.header;
        let op = Operation {
            id: 0,
            at: Utc::now(),
            kind: "import".into(),
            os_user: crate::store::current_os_user(),
            archive_digest: Some(header.integrity_digest.clone()),
            content_digest: Some(header.content_digest.clone()),
            outcome: "ok".into(),
            detail: serde_json::json!({
                "input": options.input.absolute(),
                "source_fingerprint": header.source.fingerprint,
                "host_match": self.host_match,
                "safety_backup": backup.path.display().to_string(),
                "content_digest_before": before,
            }),
        };
        self.outcome = Some((backup, plan));
        let rows = match &self.data {
            Data::Whole(config) => config.row_count(),
            Data::File { rows, .. } => *rows,
        };
        options.progress.phase("replacing the configuration", None);
        Ok((op, rows))
    }

    fn write(&mut self, out: &mut dyn ConfigOut) -> Result<()> {
        let (header, options) = (self.header, self.options);
        match &mut self.data {
            Data::Whole(config) => {
                config.sort();
                let pis = std::mem::take(&mut config.pis);
                out.start(config)?;
                for pi in pis {
                    out.pi(pi)?;
                }
                Ok(())
            }
            Data::File { path, skeleton, .. } => {
                out.start(skeleton.data())?;
                let reader = open_pass(path, options, "importing").ok_or_else(|| changed(path))?;
                let (verdict, written) = stream::check_pis(reader, &options.limits, skeleton, |pis| {
                    for pi in pis {
                        out.pi(pi)?;
                    }
                    Ok::<(), Error>(())
                });
                written?;
                same_archive(header, verdict, path)
            }
        }
    }
}

/// Whether a later pass over the file read the archive that was checked (`header`): the same
/// bytes outside the PIs (compared by `check_pis`) and PIs with the same digests.
fn same_archive(header: &Header, verdict: Option<stream::Streamed>, path: &Path) -> Result<()> {
    match verdict {
        Some(s)
            if s.header.integrity_digest == header.integrity_digest
                && s.header.content_digest == header.content_digest =>
        {
            Ok(())
        }
        _ => Err(changed(path)),
    }
}

/// The archive file no longer reads as it did when it was checked.
fn changed(path: &Path) -> Error {
    Error::Archive(ArchiveError::Integrity(format!(
        "{} changed or became unreadable after it was checked; nothing was imported (check it and run the import again)",
        path.display()
    )))
}

pub use super::safety::{SafetyBackup, write_safety_backup, write_safety_backup_from};
