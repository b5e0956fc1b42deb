//! `migration references`, `migrate` and `migration status`: a Server / Data Center
//! configuration onto a cloud site, the way Ativo documents it (SPEC.md, section 11).
//!
//! Like `import`, [`check`] runs every precondition without writing, in a fixed order (target
//! deployment, archive, archive source, mappings file, unmapped projects and boards, validity of
//! the rewrite, other source server, cloud changes since the last run); [`apply`] then takes the
//! store's write lock, re-checks under it that the cloud configuration is still the one checked,
//! writes a safety backup, and replaces everything but the admins in one transaction together
//! with the `migrate` log entry. The migration status is never stored: [`status`] derives it from
//! the operations log, so it cannot disagree with what happened.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Input;
use crate::archive::{self, Header, Limits, Scope, SourceHost};
use crate::error::{Error, Result};
use crate::host::{Deployment, HostIdentity};
use crate::migration::mappings::Mappings;
use crate::migration::references::References;
use crate::migration::rewrite::{self, Unmapped};
use crate::migration::{BOARD, PROJECT, REQUIRED};
use crate::model::validate::Finding;
use crate::model::{Configuration, Counts, Settings};
use crate::progress::SharedProgress;
use crate::store::{Operation, Store};

/// Ativo's documented warning, quoted when a run would overwrite changes made on the cloud.
pub const CLOUD_CHANGES_WARNING: &str = "Do not run a migration of Ativo Programs data when you already started to make changes in Ativo on the cloud. The migration overwrites the configuration changes each time.";

/// Log entry kind of a migration run.
pub const MIGRATE_KIND: &str = "migrate";
/// Log entry kind of `admins set`.
pub const ADMINS_SET_KIND: &str = "admins-set";

/// What to list the references of.
#[derive(Debug, Clone)]
pub struct ReferencesOptions {
    /// The archive.
    pub input: Input,
    /// Limits against hostile input.
    pub limits: Limits,
    /// Progress receiver.
    pub progress: SharedProgress,
}

/// Every Jira object an archive's configuration refers to, by namespace.
#[derive(Debug, Clone, Serialize)]
pub struct ReferencesReport {
    /// The archive.
    pub input: String,
    /// Where it was exported from.
    pub source: SourceHost,
    /// Its scope.
    pub scope: Scope,
    /// The references.
    pub references: References,
    /// Namespaces that must be mapped completely before `migrate` runs.
    pub required: Vec<&'static str>,
}

impl ReferencesReport {
    /// The mappings skeleton (`--format json` output and the `--mappings` file format).
    pub fn skeleton(&self) -> serde_json::Value {
        self.references.skeleton()
    }
}

/// Lists the references of an archive (any archive; nothing is written).
///
/// # Errors
///
/// As [`super::read_valid_archive`]: exit 3, 5 or 6 for a bad archive.
pub fn references(options: &ReferencesOptions) -> Result<ReferencesReport> {
    let (archive, _) = super::read_valid_archive(&options.input, &options.limits, &options.progress)?;
    options.progress.finish();
    Ok(ReferencesReport {
        input: options.input.to_string(),
        source: archive.header.source.clone(),
        scope: archive.header.scope,
        references: References::of(&archive.data),
        required: REQUIRED.to_vec(),
    })
}

/// What to migrate, and how.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// The archive (`export --scope migration` of the Server / Data Center store).
    pub input: Input,
    /// The ID mappings file.
    pub mappings: PathBuf,
    /// Limits against hostile input.
    pub limits: Limits,
    /// Where the safety backup of the cloud configuration goes.
    pub safety_dir: PathBuf,
    /// Run even though the cloud configuration changed since the last run (or holds
    /// configuration that no migration wrote).
    pub overwrite_cloud_changes: bool,
    /// Progress receiver.
    pub progress: SharedProgress,
}

/// Admins that a `full` archive carried and that the migration left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminsLeftBehind {
    /// Admin users in the archive.
    pub users: u64,
    /// Admin groups in the archive.
    pub groups: u64,
}

/// The `detail` of a `migrate` log entry: what `status` and the next run's checks read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MigrateDetail {
    /// The archive, as named on the command line.
    pub input: String,
    /// The mappings file.
    pub mappings: String,
    /// The source host (its fingerprint is what "another source server" compares).
    pub source: SourceHost,
    /// Scope of the archive.
    pub archive_scope: Scope,
    /// Content digest of the migrated configuration without the admins: what "the cloud
    /// configuration changed since the last run" compares.
    pub migrated_content_digest: String,
    /// Content digest of the cloud configuration before the run (admins included).
    pub content_digest_before: String,
    /// The safety backup of the cloud configuration before the run.
    pub safety_backup: String,
    /// Entities written.
    pub counts: Counts,
    /// References rewritten to a cloud id.
    pub rewritten: u64,
    /// Unmapped server ids, per namespace (distinct, sorted).
    pub unmapped: BTreeMap<String, Vec<String>>,
    /// Whether the run overwrote changes made on the cloud (`--overwrite-cloud-changes`).
    pub overwrote_cloud_changes: bool,
    /// Admins of a `full` archive that were not migrated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admins_left_behind: Option<AdminsLeftBehind>,
}

/// A migration that passed every check, ready to be applied.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The archive's header.
    pub header: Header,
    /// The cloud site.
    pub target: HostIdentity,
    /// The rewritten configuration, without admins.
    pub config: Configuration,
    /// Unmapped uses (none refused).
    pub unmapped: Vec<Unmapped>,
    /// Uses rewritten.
    pub rewritten: u64,
    /// Warnings of the rewritten configuration.
    pub warnings: Vec<Finding>,
    /// Namespaces of the mappings file that this tool does not use.
    pub unknown_namespaces: Vec<String>,
    /// Admins of a `full` archive, left behind.
    pub admins_left_behind: Option<AdminsLeftBehind>,
    /// Migrated content digest of the cloud configuration when it was checked.
    pub cloud_basis: String,
    /// Whether the cloud had changes that this run overwrites.
    pub overwrites_cloud_changes: bool,
}

/// Migration status of a store, derived from its operations log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MigrationState {
    /// No successful `migrate` run.
    NotMigrated,
    /// Migrated, but the admins were not set since the last run.
    Incomplete,
    /// The admins were set after the last run.
    Complete,
}

/// What a migration run did.
#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    /// The archive.
    pub input: String,
    /// The mappings file.
    pub mappings: String,
    /// Where the configuration came from.
    pub source: SourceHost,
    /// The cloud site.
    pub target: HostIdentity,
    /// The cloud site's fingerprint.
    pub target_fingerprint: String,
    /// Scope of the archive.
    pub archive_scope: Scope,
    /// Admins of a `full` archive that were not migrated.
    pub admins_left_behind: Option<AdminsLeftBehind>,
    /// Entities written.
    pub counts: Counts,
    /// References rewritten to a cloud id.
    pub rewritten: u64,
    /// Every unmapped use and what was done with it.
    pub unmapped: Vec<Unmapped>,
    /// Unmapped server ids per namespace (distinct, sorted).
    pub unmapped_summary: BTreeMap<String, Vec<String>>,
    /// Namespaces of the mappings file that this tool does not use (ignored).
    pub unknown_namespaces: Vec<String>,
    /// Warnings of the migrated configuration.
    pub warnings: Vec<Finding>,
    /// Whether changes made on the cloud were overwritten (`--overwrite-cloud-changes`).
    pub overwrote_cloud_changes: bool,
    /// The safety backup of the cloud configuration before the run.
    pub safety_backup: String,
    /// Content digest of the cloud configuration before (admins included).
    pub content_digest_before: String,
    /// Content digest of the cloud configuration after (admins included).
    pub content_digest_after: String,
    /// Content digest of the migrated configuration without the admins.
    pub migrated_content_digest: String,
    /// Always INCOMPLETE after a run: the admins must be set on the cloud side.
    pub status: MigrationState,
    /// What to do next.
    pub next_step: String,
}

fn refused(reason: String, hint: String) -> Error {
    Error::MigrationRefused { reason, hint }
}

/// The content digest of `config` without its admins: what a migration writes and compares.
pub fn migrated_digest(config: &Configuration) -> String {
    let mut without = config.clone();
    without.admins = None;
    archive::content_digest(&without)
}

/// Whether `config` holds any configuration besides admins (a fresh install holds none).
fn holds_configuration(config: &Configuration) -> bool {
    !(config.teams.is_empty()
        && config.programs.is_empty()
        && config.periods.is_empty()
        && config.pis.is_empty()
        && config.settings == Settings::default())
}

/// The last successful `migrate` entry of the log, with its detail.
///
/// # Errors
///
/// [`Error::MigrationRefused`] when that entry's detail cannot be read (the guard depends on it).
pub fn last_migration(ops: &[Operation]) -> Result<Option<(&Operation, MigrateDetail)>> {
    let Some(op) = ops.iter().rev().find(|op| op.kind == MIGRATE_KIND && op.outcome == "ok") else {
        return Ok(None);
    };
    let detail = serde_json::from_value(op.detail.clone()).map_err(|e| {
        refused(
            format!("the operations log entry #{} of the last migration cannot be read: {e}", op.id),
            "the store's log was edited or written by an incompatible tool; see `ativo-backup log --format json`"
                .into(),
        )
    })?;
    Ok(Some((op, detail)))
}

/// Checks a migration without writing anything (see the module docs for the order).
///
/// # Errors
///
/// [`Error::MigrationRefused`] (exit 8) for every precondition; [`Error::Archive`] or
/// [`Error::Invalid`] (3, 5, 6) for a bad archive; [`Error::Usage`] (2) for an unusable mappings
/// file; [`Error::Store`] (7).
pub fn check(store: &mut dyn Store, options: &MigrateOptions) -> Result<Checked> {
    // 1. The target is a cloud site.
    let target = store.host()?.identity;
    if target.deployment != Deployment::Cloud {
        return Err(refused(
            format!(
                "store {} is a {} store ({}), not a cloud site",
                store.location(),
                target.deployment,
                target.base_url
            ),
            "point --store at the cloud site's store, created with `ativo-backup init --deployment cloud --server-id CLOUD_ID --base-url https://SITE.atlassian.net`".into(),
        ));
    }
    // 2. The archive reads, verifies and is semantically valid.
    let (archive, _) = super::read_valid_archive(&options.input, &options.limits, &options.progress)?;
    // 3. It comes from Server or Data Center.
    let source = &archive.header.source;
    if source.deployment == Deployment::Cloud {
        return Err(refused(
            format!("archive {} was exported from a cloud site ({})", options.input, source.base_url),
            "migration moves a Server or Data Center configuration to a cloud site; restore a cloud backup on its own site with `import`".into(),
        ));
    }
    // Text the cloud store cannot hold is refused as the archive's (exit 3) before anything else.
    if store.refuses_nul_in_text()
        && let Some(f) = super::nul_in_text(&archive.data, "/data", &store.location())
    {
        return Err(Error::Invalid { context: options.input.to_string(), findings: vec![f] });
    }
    // A full archive is accepted: its admins are left behind, as for any migration.
    let mut data = archive.data;
    let admins_left_behind =
        data.admins.take().map(|a| AdminsLeftBehind { users: a.users.len() as u64, groups: a.groups.len() as u64 });
    // 4. The mappings file is usable.
    options.progress.phase("reading the mappings", None);
    // `-` is standard input, as everywhere a file is expected (unless the archive already is).
    let from_stdin = options.mappings.as_os_str() == "-";
    if from_stdin && options.input == Input::Stdin {
        return Err(Error::Usage("the archive and the mappings cannot both come from standard input (-)".into()));
    }
    let read = if from_stdin {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut text).map(|_| text)
    } else {
        std::fs::read(&options.mappings)
    };
    let text = read.map_err(|e| {
        Error::Usage(format!(
            "cannot read mappings file {}: {e}; create it from `ativo-backup migration references ARCHIVE --format json`",
            options.mappings.display()
        ))
    })?;
    let mappings = Mappings::parse(&text, &options.mappings.display().to_string())?;
    // 5. Every project and board is mapped.
    options.progress.phase("rewriting the references", None);
    let rewritten = rewrite::rewrite(&data, &mappings);
    refuse_unmapped_required(&rewritten, &options.mappings)?;
    // The archive had no NUL: one in the rewritten configuration came from a cloud id.
    if store.refuses_nul_in_text()
        && let Some(f) = super::nul_in_text(&rewritten.config, "/data", &store.location())
    {
        return Err(Error::Usage(format!(
            "mappings file {} maps a reference to a cloud id holding the NUL character, which would be written at {}; {}",
            options.mappings.display(),
            f.pointer,
            "fix that cloud id in the mappings file"
        )));
    }
    // 6. The rewrite is a valid configuration.
    let findings = crate::model::validate::validate(&rewritten.config);
    if let Some(first) = findings.iter().find(|f| f.is_error()) {
        return Err(refused(
            format!(
                "the configuration rewritten through {} would be invalid, first at {}: {} ({} error(s))",
                options.mappings.display(),
                first.pointer,
                first.message,
                findings.iter().filter(|f| f.is_error()).count()
            ),
            "check the mappings for ids mapped to the wrong cloud object (two server objects mapped to one cloud object, for instance)".into(),
        ));
    }
    // 7 and 8. The cloud site: same source server as before, no changes since the last run.
    options.progress.phase("comparing with the cloud site", None);
    let current = store.snapshot()?;
    let ops = store.operations()?;
    let (cloud_basis, overwrites_cloud_changes) =
        guard(&current.config, &ops, source, options.overwrite_cloud_changes)?;
    Ok(Checked {
        header: archive.header,
        target,
        config: rewritten.config,
        unmapped: rewritten.unmapped,
        rewritten: rewritten.rewritten,
        warnings: findings,
        unknown_namespaces: mappings.unknown_namespaces(),
        admins_left_behind,
        cloud_basis,
        overwrites_cloud_changes,
    })
}

fn refuse_unmapped_required(rewritten: &rewrite::Rewritten, mappings: &std::path::Path) -> Result<()> {
    let mut projects: BTreeMap<&str, &str> = BTreeMap::new();
    let mut boards: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for u in rewritten.refusing() {
        match u.namespace {
            PROJECT => {
                projects.insert(&u.id, u.label.as_deref().unwrap_or("?"));
            }
            BOARD => boards.entry(&u.id).or_default().extend(u.label.as_deref()),
            _ => {}
        }
    }
    if projects.is_empty() && boards.is_empty() {
        return Ok(());
    }
    let mut parts = Vec::new();
    if !projects.is_empty() {
        let list: Vec<String> = projects.iter().map(|(id, key)| format!("{key} (id {id})")).collect();
        parts.push(format!(
            "{} Jira project(s) used by the configuration have no mapping in {PROJECT}: {}",
            projects.len(),
            list.join(", ")
        ));
    }
    if !boards.is_empty() {
        let list: Vec<String> =
            boards.iter().map(|(id, teams)| format!("board {id} (team {})", teams.join(", "))).collect();
        parts.push(format!("{} board(s) of BOARD teams have no mapping in {BOARD}: {}", boards.len(), list.join(", ")));
    }
    Err(refused(
        format!("{} (mappings file {})", parts.join("; "), mappings.display()),
        "Ativo's rule: migrate Ativo Programs data after all Jira projects used in Ativo are migrated (or run it again afterwards); migrate those projects (and their boards) first, add their cloud ids to the mappings file, then run migrate again".into(),
    ))
}

/// The store-state preconditions: another source server (refused), and changes on the cloud
/// since the last run (refused unless `overwrite`). Returns the migrated content digest of the
/// cloud configuration and whether the run overwrites changes.
fn guard(current: &Configuration, ops: &[Operation], source: &SourceHost, overwrite: bool) -> Result<(String, bool)> {
    let basis = migrated_digest(current);
    let last = last_migration(ops)?;
    if let Some((op, detail)) = &last
        && detail.source.fingerprint != source.fingerprint
    {
        return Err(refused(
            format!(
                "this site already holds configuration migrated from another server: {} ({}, server id {}, {}) in run #{} on {}; this archive comes from {} ({}, server id {}, {})",
                detail.source.base_url,
                detail.source.deployment,
                detail.source.server_id,
                detail.source.fingerprint,
                op.id,
                op.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                source.base_url,
                source.deployment,
                source.server_id,
                source.fingerprint
            ),
            "an Ativo migration overwrites the site's configuration, it never merges two servers: migrate again from the server it came from, or migrate this server into another cloud site".into(),
        ));
    }
    let changed = match &last {
        Some((op, detail)) if detail.migrated_content_digest != basis => Some(format!(
            "the cloud configuration changed since the last migration run #{} on {} (its content digest, admins aside, was {}, it is now {basis})",
            op.id,
            op.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            detail.migrated_content_digest
        )),
        Some(_) => None,
        None if holds_configuration(current) => Some(format!(
            "the cloud site already holds Ativo configuration that no migration wrote (content digest, admins aside, {basis})"
        )),
        None => None,
    };
    match changed {
        Some(reason) if !overwrite => Err(refused(
            reason,
            format!(
                "Ativo's documentation warns: \"{CLOUD_CHANGES_WARNING}\" Keep the cloud configuration (do not migrate again), or overwrite it on purpose with --overwrite-cloud-changes (a safety backup of the cloud configuration is written first)"
            ),
        )),
        Some(_) => Ok((basis, true)),
        None => Ok((basis, false)),
    }
}

/// Writes the checked migration: under the store's write lock, re-checks that the cloud
/// configuration is the one [`check`] saw, writes a safety backup of it, then replaces
/// everything but the admins (the cloud's own admins are kept) in one transaction with the
/// `migrate` log entry.
///
/// # Errors
///
/// [`Error::MigrationRefused`] when the cloud configuration changed since [`check`];
/// [`Error::Store`] (locked, write failed); [`Error::File`] when the safety backup cannot be
/// written. In every case the store is unchanged.
pub fn apply(store: &mut dyn Store, options: &MigrateOptions, checked: Checked) -> Result<MigrateReport> {
    let location = store.location();
    let mut unmapped_summary: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for u in &checked.unmapped {
        let ids = unmapped_summary.entry(u.namespace.to_owned()).or_default();
        if !ids.contains(&u.id) {
            ids.push(u.id.clone());
        }
    }
    unmapped_summary.values_mut().for_each(|ids| ids.sort());
    let migrated_content_digest = migrated_digest(&checked.config);
    let mut outcome: Option<(String, String, String)> = None;
    options.progress.phase("waiting for the store's write lock", None);
    store.replace(&mut |current| {
        if migrated_digest(&current.config) != checked.cloud_basis {
            return Err(refused(
                "the cloud configuration changed while this migration was being prepared".into(),
                "someone is changing Ativo on the cloud site right now; run migrate again to see what changed".into(),
            ));
        }
        options.progress.phase("writing the safety backup", None);
        let backup = super::import::write_safety_backup(&options.safety_dir, &checked.target, current)?;
        let before = archive::content_digest(&current.config);
        let mut config = checked.config.clone();
        config.admins.clone_from(&current.config.admins);
        let after = archive::content_digest(&config);
        let detail = MigrateDetail {
            input: options.input.to_string(),
            mappings: options.mappings.display().to_string(),
            source: checked.header.source.clone(),
            archive_scope: checked.header.scope,
            migrated_content_digest: migrated_content_digest.clone(),
            content_digest_before: before.clone(),
            safety_backup: backup.display().to_string(),
            counts: checked.config.counts(),
            rewritten: checked.rewritten,
            unmapped: unmapped_summary.clone(),
            overwrote_cloud_changes: checked.overwrites_cloud_changes,
            admins_left_behind: checked.admins_left_behind,
        };
        let op = Operation {
            id: 0,
            at: Utc::now(),
            kind: MIGRATE_KIND.into(),
            os_user: crate::store::current_os_user(),
            archive_digest: Some(checked.header.integrity_digest.clone()),
            content_digest: Some(after.clone()),
            outcome: "ok".into(),
            detail: serde_json::to_value(&detail).unwrap_or_default(),
        };
        options.progress.phase("replacing the configuration", None);
        outcome = Some((backup.display().to_string(), before, after));
        Ok((config, op))
    })?;
    options.progress.finish();
    let (safety_backup, content_digest_before, content_digest_after) =
        outcome.ok_or_else(|| Error::Usage("the store did not run the migration".into()))?;
    Ok(MigrateReport {
        input: options.input.to_string(),
        mappings: options.mappings.display().to_string(),
        source: checked.header.source,
        target_fingerprint: checked.target.fingerprint(),
        target: checked.target,
        archive_scope: checked.header.scope,
        admins_left_behind: checked.admins_left_behind,
        counts: checked.config.counts(),
        rewritten: checked.rewritten,
        unmapped: checked.unmapped,
        unmapped_summary,
        unknown_namespaces: checked.unknown_namespaces,
        warnings: checked.warnings,
        overwrote_cloud_changes: checked.overwrites_cloud_changes,
        safety_backup,
        content_digest_before,
        content_digest_after,
        migrated_content_digest,
        status: MigrationState::Incomplete,
        next_step: admins_next_step(&location),
    })
}

/// The command that completes a migration.
pub fn admins_next_step(location: &str) -> String {
    format!(
        "set the Ativo admins on the cloud site (the migration never carries them over): ativo-backup --store {location} admins set --user ACCOUNT_ID --group NAME"
    )
}

/// The last migration run, as `status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    /// Log entry id.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who ran it.
    pub os_user: String,
    /// Integrity digest of the archive.
    pub archive_digest: Option<String>,
    /// Content digest of the cloud configuration after the run.
    pub content_digest: Option<String>,
    /// Everything the run recorded.
    pub detail: MigrateDetail,
}

/// When the admins were last set after the last run.
#[derive(Debug, Clone, Serialize)]
pub struct AdminsSet {
    /// Log entry id.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub os_user: String,
}

/// The migration status of a store.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// The store.
    pub store: String,
    /// Its host.
    pub host: HostIdentity,
    /// NOT_MIGRATED, INCOMPLETE or COMPLETE.
    pub status: MigrationState,
    /// Successful migration runs in the log.
    pub runs: usize,
    /// The last successful run.
    pub last_run: Option<LastRun>,
    /// The admins were set after it.
    pub admins_set: Option<AdminsSet>,
    /// Whether the configuration (admins aside) differs from what the last run wrote; a new
    /// run would be refused without `--overwrite-cloud-changes`.
    pub changed_since_last_run: Option<bool>,
    /// What is left to do.
    pub pending: Vec<String>,
}

/// Derives the migration status from the store's log (COMPLETE iff an `admins-set` entry
/// follows the last successful `migrate` entry).
///
/// # Errors
///
/// [`Error::Store`] when the store cannot be read; [`Error::MigrationRefused`] when the last
/// run's log entry cannot be read.
pub fn status(store: &mut dyn Store) -> Result<StatusReport> {
    let host = store.host()?.identity;
    let ops = store.operations()?;
    let location = store.location();
    let runs = ops.iter().filter(|op| op.kind == MIGRATE_KIND && op.outcome == "ok").count();
    let Some((op, detail)) = last_migration(&ops)? else {
        let mut pending = Vec::new();
        if host.deployment == Deployment::Cloud {
            pending.push("migrate the Server / Data Center configuration: see `ativo-backup migrate --help`".into());
        }
        return Ok(StatusReport {
            store: location,
            host,
            status: MigrationState::NotMigrated,
            runs,
            last_run: None,
            admins_set: None,
            changed_since_last_run: None,
            pending,
        });
    };
    let admins_set = ops
        .iter()
        .rfind(|a| a.kind == ADMINS_SET_KIND && a.outcome == "ok" && a.id > op.id)
        .map(|a| AdminsSet { id: a.id, at: a.at, os_user: a.os_user.clone() });
    let current = store.snapshot()?;
    let changed = migrated_digest(&current.config) != detail.migrated_content_digest;
    let mut pending = Vec::new();
    if admins_set.is_none() {
        pending.push(admins_next_step(&location));
    }
    let unmapped: usize = detail.unmapped.values().map(Vec::len).sum();
    if unmapped > 0 {
        let list: Vec<String> = detail.unmapped.iter().map(|(ns, ids)| format!("{ns}: {}", ids.join(", "))).collect();
        pending.push(format!(
            "{unmapped} reference(s) had no mapping in the last run ({}); set them in Ativo on the cloud, or map them and migrate again before anyone changes Ativo on the cloud",
            list.join("; ")
        ));
    }
    if changed {
        pending.push("the cloud configuration changed since the last run: migrating again would overwrite those changes and is refused without --overwrite-cloud-changes".into());
    }
    Ok(StatusReport {
        store: location,
        host,
        status: if admins_set.is_some() { MigrationState::Complete } else { MigrationState::Incomplete },
        runs,
        last_run: Some(LastRun {
            id: op.id,
            at: op.at,
            os_user: op.os_user.clone(),
            archive_digest: op.archive_digest.clone(),
            content_digest: op.content_digest.clone(),
            detail,
        }),
        admins_set,
        changed_since_last_run: Some(changed),
        pending,
    })
}
