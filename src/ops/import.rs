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
//! The archive is read by [`archive::Reader`] in passes, so memory does not grow with the
//! configuration: the check gets the PIs as they are verified while the store's PIs are
//! streamed beside them to compute the plan by key (a merge of two key-ordered sides; see
//! [`diff::Planner`]); under the lock, the safety backup is written from the store's rows as
//! they are read, and the archive's PIs go into the store as another pass reads them. Every pass
//! is verified again, so the rows written are exactly those checked: a file changed since the
//! check makes the import fail before its commit, with the store unchanged.

use std::path::PathBuf;

use chrono::Utc;
use serde::Serialize;

use super::Input;
use super::diff::{self, Plan};
use super::select::{self, Selection};
use crate::archive::{self, ContentDigester, Header, Limits, Scope};
use crate::error::{ArchiveError, Error, Result};
use crate::host::{HostIdentity, HostMatch};
use crate::model::validate::Finding;
use crate::model::{Configuration, Pi};
use crate::progress::SharedProgress;
use crate::sink::ConfigSink;
use crate::store::{Operation, OperationKind, Outcome, ReadCurrent, Replacement, Store};

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
    /// Restore only these entities (`--only`), keeping the rest of the store as it is; `None`
    /// restores everything.
    pub only: Option<Selection>,
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
    pub host_match: HostMatch,
    /// Content digest of what the store held when the plan was made.
    pub content_digest_before: String,
    /// Why the archive is read whole rather than streamed, if it is.
    pub read_whole: Option<String>,
    /// How many rows the archive's configuration has ([`Configuration::row_count`]).
    rows: u64,
    /// The archive, read again when it is written.
    reader: archive::Reader,
    /// For a selective import, the content digest the store will have.
    selected_digest: Option<String>,
}

/// What an import did, or would do (`dry_run`).
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// The archive.
    pub input: String,
    /// Nothing was written.
    pub dry_run: bool,
    /// `identity` or `alias`.
    pub host_match: HostMatch,
    /// The selectors of a selective import (`--only`); empty for a full one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub only: Vec<String>,
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
    /// Content digest of the store's configuration after (the archive's, unless selective).
    pub content_digest_after: String,
    /// Why the archive was read whole rather than streamed, when it was; informative.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_whole: Option<String>,
}

/// Reads and checks the archive against the store; writes nothing.
///
/// # Errors
///
/// [`Error::Archive`] (exit 3, 5, 6), [`Error::Invalid`] (3), [`Error::Usage`] for a migration
/// archive, [`Error::OtherHost`] (4), [`Error::Store`] (7).
pub fn check(store: &mut dyn Store, options: &ImportOptions) -> Result<Checked> {
    let mut reader = archive::Reader::open(&options.input, &options.limits, &options.progress)?;
    if let Some(selection) = &options.only {
        return check_selected(store, options, selection, reader);
    }
    let skeleton = reader.data().clone();
    // A store that cannot hold a NUL has every PI of the archive looked at as the plan is made.
    let refuses_nul = store.refuses_nul_in_text().then(|| store.location());
    let (verified, (planned, nul)) = reader.pass("checking", |archive_pis| {
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
        // The plan's own errors (the store's) come after the archive's and the host's.
        let planned = plan_against(&mut |sink| store.stream_snapshot(sink), &skeleton, &mut checked);
        Ok((planned, nul))
    })?;
    let findings = verified.accept(&options.input.to_string(), options.allow_invalid)?;
    let host_match = check_scope_and_host(store, options, &verified.header)?;
    let planned = planned?;
    let skeleton_nul = refuses_nul.as_ref().and_then(|location| super::nul_in_text(&skeleton, "/data", location));
    if let Some(f) = skeleton_nul.or(nul) {
        return Err(Error::Invalid { context: options.input.to_string(), findings: vec![f] });
    }
    Ok(Checked {
        header: verified.header,
        findings,
        plan: planned.plan,
        host_match,
        content_digest_before: planned.content_digest_before,
        read_whole: reader.fallback().map(str::to_owned),
        rows: planned.archive_rows,
        reader,
        selected_digest: None,
    })
}

/// [`check`] of a selective import: the archive as for a full one, then the result of restoring
/// the selection over what the store holds, which must be valid as a whole.
fn check_selected(
    store: &mut dyn Store,
    options: &ImportOptions,
    selection: &Selection,
    mut reader: archive::Reader,
) -> Result<Checked> {
    let verified = reader.verify()?;
    // The archive is checked as for a full import; the report's findings are then the result's
    // (what the store will hold), not those of the archive's parts left out.
    verified.accept(&options.input.to_string(), options.allow_invalid)?;
    let host_match = check_scope_and_host(store, options, &verified.header)?;
    options.progress.phase("comparing with the store", None);
    // The store's side as an archive in a temporary file, so that both sides stream alike.
    let host = store.host()?.identity;
    let mut current = spool_store(store, &host)?;
    let refuses_nul = store.refuses_nul_in_text().then(|| store.location());
    let (outcome, content_digest_before) =
        check_result(options, selection, &verified.header, &mut current, &mut reader, refuses_nul)?;
    Ok(Checked {
        header: verified.header,
        findings: outcome.findings,
        plan: outcome.plan,
        host_match,
        content_digest_before,
        read_whole: reader.fallback().map(str::to_owned),
        rows: outcome.rows,
        reader,
        selected_digest: Some(outcome.content_digest_after),
    })
}

/// The result of restoring `selection` from `archive` over the store's side `current` (an
/// archive of what it holds), checked: refused with its findings and the selectors that would
/// complete it when it breaks a rule, unless `--allow-invalid`. Returns it with the store's
/// content digest.
fn check_result(
    options: &ImportOptions,
    selection: &Selection,
    checked: &Header,
    current: &mut archive::Reader,
    archive: &mut archive::Reader,
    refuses_nul: Option<String>,
) -> Result<(select::Outcome, String)> {
    let current_skeleton = current.data().clone();
    let archive_skeleton = archive.data().clone();
    let nul = |pi: &Pi, i: usize| {
        refuses_nul.as_ref().and_then(|location| super::nul_in_text(pi, &format!("/data/pis/{i}"), location))
    };
    let (current_verified, (archive_verified, outcome)) = current.pass("comparing", |current_pis| {
        archive.pass("comparing", |archive_pis| {
            select::check(selection, &current_skeleton, current_pis, &archive_skeleton, archive_pis, &nul)
        })
    })?;
    let skeleton_nul = refuses_nul.as_ref().and_then(|location| {
        super::nul_in_text(&selection.skeleton(&current_skeleton, &archive_skeleton), "/data", location)
    });
    if let Some(f) = skeleton_nul {
        return Err(Error::Invalid { context: options.input.to_string(), findings: vec![f] });
    }
    same_archive(checked, &archive_verified.header, archive.input())?;
    let context = if outcome.completions.is_empty() {
        format!(
            "the store after restoring {} from {} (no selector completes it: restore the whole backup, or correct the store first)",
            selection.names().join(", "),
            options.input
        )
    } else {
        let words: Vec<String> = outcome.completions.iter().map(|s| format!("--only {s}")).collect();
        format!(
            "the store after restoring {} from {} (add {} to complete the selection)",
            selection.names().join(", "),
            options.input,
            words.join(" ")
        )
    };
    let findings = archive::refuse_invalid(&context, outcome.findings, options.allow_invalid)?;
    Ok((select::Outcome { findings, ..outcome }, current_verified.header.content_digest))
}

/// What the store holds now, as a verified archive in an anonymous temporary file.
fn spool_store(store: &mut dyn Store, host: &HostIdentity) -> Result<archive::Reader> {
    let dir = std::env::temp_dir();
    let io = |source| Error::File { action: "cannot write a temporary file in", path: dir.clone(), source };
    let mut spooled = archive::spool(&dir, host, Scope::Full, Utc::now(), |stream| store.stream_snapshot(stream))?;
    let mut file = tempfile::tempfile_in(&dir).map_err(io)?;
    let mut out = std::io::BufWriter::new(&mut file);
    spooled.write_to(&mut out)?;
    std::io::Write::flush(&mut out).map_err(io)?;
    drop(out);
    let input = Input::File(PathBuf::from(format!("{} (spooled)", store.location())));
    archive::Reader::open_file(file, &input, &own_archive_limits(), &crate::progress::silent())
}

/// Limits for reading back an archive this process wrote from the store (its spool, its safety
/// backup): the store's entities may exceed the defaults, and nothing hostile is in between.
fn own_archive_limits() -> Limits {
    Limits { max_size: u64::MAX, max_string: usize::MAX, max_entity: u64::MAX, ..Limits::default() }
}

/// The rules after the archive itself: a full archive (not a migration archive), of this host
/// or of one of its accepted aliases. Returns how the host matched.
fn check_scope_and_host(store: &mut dyn Store, options: &ImportOptions, header: &Header) -> Result<HostMatch> {
    if header.scope != Scope::Full {
        return Err(Error::Usage(format!(
            "{} is a migration archive (without admins): it is input for `migrate` on a cloud site, not a backup to restore",
            options.input
        )));
    }
    let host = store.host()?;
    let source = header.source.identity();
    if source == host.identity {
        Ok(HostMatch::Identity)
    } else if host.aliases.contains(&source) {
        Ok(HostMatch::Alias)
    } else {
        Err(other_host(&source, &host.identity))
    }
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
    let mut sink = PlanSink { skeleton, archive_pis: archive_pis.peekable(), started: None, archive_rows: 0 };
    read_current(&mut sink)?;
    let (mut planner, digest) = sink.started.take().ok_or_else(not_started)?;
    let mut archive_rows = skeleton.row_count() + sink.archive_rows;
    for added in sink.archive_pis {
        archive_rows += added.row_count();
        planner.pi(None, Some(&added));
    }
    Ok(Planned { plan: planner.finish(), content_digest_before: digest.finish(), archive_rows })
}

fn not_started() -> Error {
    Error::Internal("the store handed over PIs before the rest of its configuration".into())
}

/// The store's side of [`plan_against`]: each PI of the store is planned against the archive's
/// PIs up to its key, and digested.
struct PlanSink<'a, I: Iterator<Item = Pi>> {
    skeleton: &'a Configuration,
    archive_pis: std::iter::Peekable<I>,
    started: Option<(diff::Planner, ContentDigester)>,
    archive_rows: u64,
}

impl<I: Iterator<Item = Pi>> ConfigSink for PlanSink<'_, I> {
    fn start(&mut self, current: &Configuration, _: &[crate::model::ApiToken]) -> Result<()> {
        self.started = Some((diff::Planner::new(current, self.skeleton), ContentDigester::new(current)));
        Ok(())
    }

    fn pi(&mut self, pi: Pi) -> Result<()> {
        let (planner, digest) = self.started.as_mut().ok_or_else(not_started)?;
        digest.pi(&pi);
        while let Some(added) = self.archive_pis.next_if(|a| a.key < pi.key) {
            self.archive_rows += added.row_count();
            planner.pi(None, Some(&added));
        }
        let same = self.archive_pis.next_if(|a| a.key == pi.key);
        self.archive_rows += same.as_ref().map_or(0, Pi::row_count);
        planner.pi(Some(&pi), same.as_ref());
        Ok(())
    }
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
        only: options.only.as_ref().map(Selection::names).unwrap_or_default(),
        plan: checked.plan,
        allowed_errors: checked.findings.iter().filter(|f| f.is_error()).count(),
        warnings: checked.findings,
        safety_backup: None,
        safety_backup_notes: Vec::new(),
        content_digest_before: checked.content_digest_before,
        content_digest_after: checked.selected_digest.unwrap_or(checked.header.content_digest),
        read_whole: checked.read_whole,
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
    let Checked {
        header,
        findings,
        host_match,
        content_digest_before,
        plan,
        rows,
        reader,
        read_whole,
        selected_digest,
    } = checked;
    options.progress.phase("waiting for the store's write lock", None);
    let mut replacement = Import {
        options,
        host,
        header: &header,
        host_match,
        reader,
        rows,
        checked_before: content_digest_before,
        plan,
        after: selected_digest.unwrap_or_else(|| header.content_digest.clone()),
        current: None,
        refuses_nul: store.refuses_nul_in_text().then(|| store.location()),
        outcome: None,
    };
    store.replace_streamed(&mut replacement)?;
    options.progress.finish();
    let (backup, plan) =
        replacement.outcome.ok_or_else(|| Error::Internal("the store did not run the import".into()))?;
    Ok(ImportReport {
        input: options.input.to_string(),
        dry_run: false,
        host_match,
        only: options.only.as_ref().map(Selection::names).unwrap_or_default(),
        plan,
        allowed_errors: findings.iter().filter(|f| f.is_error()).count(),
        warnings: findings,
        safety_backup: Some(backup.path.display().to_string()),
        safety_backup_notes: backup.notes,
        content_digest_before: backup.content_digest,
        content_digest_after: replacement.after,
        read_whole,
    })
}

/// The import as a [`Replacement`]: under the store's write lock, the safety backup and the plan
/// from what the store holds now, then the archive's configuration.
struct Import<'a> {
    options: &'a ImportOptions,
    host: HostIdentity,
    header: &'a Header,
    host_match: HostMatch,
    reader: archive::Reader,
    rows: u64,
    /// The store's content digest when the plan was made by [`check`].
    checked_before: String,
    /// That plan, still right if the store has not changed since.
    plan: Plan,
    /// The content digest the store will have (the archive's, unless selective).
    after: String,
    /// A selective import's store side under the lock: its safety backup, read back.
    current: Option<archive::Reader>,
    /// The store's location when it cannot hold a NUL in text (a re-check must look).
    refuses_nul: Option<String>,
    /// The safety backup, the content digest before and the plan, once prepared.
    outcome: Option<(SafetyBackup, Plan)>,
}

impl Replacement for Import<'_> {
    fn prepare(&mut self, current: &mut ReadCurrent<'_>) -> Result<(Operation, u64)> {
        let options = self.options;
        options.progress.phase("writing the safety backup", None);
        let backup = write_safety_backup_from(&options.safety_dir, &self.host, current)?;
        let before = backup.content_digest.clone();
        // A selective import merges what the lock protects, as its safety backup holds it, with
        // the archive; the result is checked again when the store changed since `check`.
        if let Some(selection) = &options.only {
            let mut current = archive::Reader::open(
                &Input::File(backup.path.clone()),
                &own_archive_limits(),
                &crate::progress::silent(),
            )?;
            if before != self.checked_before {
                options.progress.phase("comparing with the store", None);
                let refuses_nul = self.refuses_nul.clone();
                let (outcome, _) =
                    check_result(options, selection, self.header, &mut current, &mut self.reader, refuses_nul)?;
                self.plan = outcome.plan;
                self.rows = outcome.rows;
                self.after = outcome.content_digest_after;
            }
            self.current = Some(current);
        }
        // The plan from `check` holds unless the store changed since; then it is made again from
        // what the lock now protects.
        let plan = if before == self.checked_before || options.only.is_some() {
            std::mem::take(&mut self.plan)
        } else {
            options.progress.phase("comparing with the store", None);
            let skeleton = self.reader.data().clone();
            let (verified, planned) = self.reader.pass("comparing", |pis| plan_against(current, &skeleton, pis))?;
            same_archive(self.header, &verified.header, self.reader.input())?;
            planned.plan
        };
        let header = self.header;
        let mut op = Operation {
            id: 0,
            at: Utc::now(),
            kind: OperationKind::Import,
            os_user: crate::store::current_os_user(),
            archive_digest: Some(header.integrity_digest.clone()),
            content_digest: Some(self.after.clone()),
            outcome: Outcome::Ok,
            detail: serde_json::json!({
                "input": options.input.absolute(),
                "source_fingerprint": header.source.fingerprint,
                "host_match": self.host_match,
                "safety_backup": backup.path.display().to_string(),
                "content_digest_before": before,
            }),
        };
        if let Some(selection) = &options.only {
            op.detail["only"] = serde_json::json!(selection.names());
        }
        self.outcome = Some((backup, plan));
        let rows = self.rows;
        options.progress.phase("replacing the configuration", None);
        Ok((op, rows))
    }

    fn write(&mut self, out: &mut dyn ConfigSink) -> Result<()> {
        if let (Some(selection), Some(current)) = (&self.options.only, &mut self.current) {
            return write_selected(selection, current, &mut self.reader, self.header, out);
        }
        out.start(self.reader.data(), &[])?;
        let (verified, ()) = self.reader.pass("importing", |pis| {
            for pi in pis {
                out.pi(pi)?;
            }
            Ok(())
        })?;
        out.finish()?;
        same_archive(self.header, &verified.header, self.reader.input())
    }
}

/// Writes the result of restoring `selection` from `archive` over `current` (the store's safety
/// backup) into `out`.
fn write_selected(
    selection: &Selection,
    current: &mut archive::Reader,
    archive: &mut archive::Reader,
    checked: &Header,
    out: &mut dyn ConfigSink,
) -> Result<()> {
    out.start(&selection.skeleton(current.data(), archive.data()), &[])?;
    let (_, (verified, ())) = current.pass("importing", |current_pis| {
        archive.pass("importing", |archive_pis| {
            select::pair_pis(selection, current_pis, archive_pis, |pair| match pair.into_result() {
                Some(pi) => out.pi(pi),
                None => Ok(()),
            })
        })
    })?;
    out.finish()?;
    same_archive(checked, &verified.header, archive.input())
}

/// Whether a later pass read the archive that was checked (`checked`): the reader verified it
/// again, and it has the same digests.
fn same_archive(checked: &Header, read: &Header, input: &Input) -> Result<()> {
    if read.integrity_digest == checked.integrity_digest && read.content_digest == checked.content_digest {
        return Ok(());
    }
    Err(changed(input))
}

/// The archive file no longer reads as it did when it was checked.
fn changed(input: &Input) -> Error {
    Error::Archive(ArchiveError::Integrity(format!(
        "{input} changed or became unreadable after it was checked; nothing was imported (check it and run the import again)"
    )))
}

pub use super::safety::{SafetyBackup, write_safety_backup, write_safety_backup_from};
