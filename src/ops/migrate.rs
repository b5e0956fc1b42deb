//! `migration references`, `migrate`, `migration status` and `migration reset`: a Server / Data
//! Center configuration onto a cloud site, the way Ativo documents it (SPEC.md, section 11).
//!
//! Like `import`, [`check`] runs every precondition without writing, in a fixed order (target
//! deployment, archive, archive source, mappings, unmapped projects, boards and sprints of mapped
//! boards, validity of the rewrite, same source server, cloud changes since the last run);
//! [`consent`] then refuses losses nobody accepted (`--allow-unmapped`). [`apply`] takes the
//! store's write lock, re-checks under it that the cloud configuration is still the one checked,
//! writes a safety backup, and replaces everything but the admins in one transaction together
//! with the `migrate` log entry. A dry run stops before [`apply`] and writes nothing at all.
//!
//! The migration status is never stored: [`status`] derives it from the operations log and from
//! what the site holds now, so it cannot disagree with what happened (a run, the admins set after
//! it, a rollback by importing the safety backup, a `migration reset`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Input;
use crate::archive::{self, Header, Limits, Scope, SourceHost};
use crate::error::{Error, Result};
use crate::host::{Deployment, HostIdentity};
use crate::migration::mappings::{
    IgnoredNamespace, Layout, Mappings, MappingsInput, MappingsLimits, MappingsReader, Wanted,
};
use crate::migration::references::{References, Skeleton};
use crate::migration::rewrite::{self, Treatment, Unmapped};
use crate::migration::{
    BOARD, NAMESPACES, NOT_APPLIED, PROJECT, REQUIRED, SPRINT, id_order, if_unmapped, known_namespace, uses_noun,
};
use crate::model::validate::Finding;
use crate::model::{Configuration, Counts, Settings};
use crate::progress::SharedProgress;
use crate::store::{Operation, OperationKind, Outcome, Store};

/// Ativo's documented warning, quoted when a run would overwrite changes made on the cloud.
pub const CLOUD_CHANGES_WARNING: &str = "Do not run a migration of Ativo Programs data when you already started to make changes in Ativo on the cloud. The migration overwrites the configuration changes each time.";

/// The layout version of the JSON reports of `migrate`, `migration status`, `migration reset`
/// and `migration references` (SPEC.md, 12.2): a change that removes or renames a member
/// increments it.
pub const REPORT_VERSION: u32 = 1;

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

/// One namespace of [`ReferencesReport`], counted.
#[derive(Debug, Clone, Serialize)]
pub struct ReferenceCount {
    /// The namespace.
    pub namespace: &'static str,
    /// Distinct server ids the configuration uses.
    pub ids: usize,
    /// Their uses (places in the configuration).
    pub uses: usize,
    /// Whether every id must be mapped before `migrate` runs.
    pub required: bool,
    /// What happens to an id without a mapping.
    pub if_unmapped: &'static str,
}

/// Every Jira object an archive's configuration refers to, by namespace.
#[derive(Debug, Clone, Serialize)]
pub struct ReferencesReport {
    /// [`REPORT_VERSION`].
    pub report_version: u32,
    /// The archive.
    pub input: String,
    /// Where it was exported from.
    pub source: SourceHost,
    /// Its scope.
    pub scope: Scope,
    /// Per namespace: how many ids and uses, whether required, what an unmapped id becomes.
    pub namespaces: Vec<ReferenceCount>,
    /// Namespaces that must be mapped completely before `migrate` runs.
    pub required: Vec<&'static str>,
    /// The references with every place they are used (human output only: too large for JSON).
    #[serde(skip)]
    pub references: References,
}

impl ReferencesReport {
    /// The mappings skeleton (`--skeleton` output, the whole `--mappings` file format).
    pub fn skeleton(&self) -> Skeleton<'_> {
        self.references.skeleton()
    }

    /// The report with the skeleton beside it, as `--format json` prints it.
    pub fn with_skeleton(&self) -> impl Serialize + '_ {
        #[derive(Serialize)]
        struct WithSkeleton<'a> {
            #[serde(flatten)]
            report: &'a ReferencesReport,
            system_fields: &'a BTreeSet<String>,
            supplier_groups: &'a BTreeSet<String>,
            skeleton: Skeleton<'a>,
        }
        WithSkeleton {
            report: self,
            system_fields: &self.references.system_fields,
            supplier_groups: &self.references.groups,
            skeleton: self.skeleton(),
        }
    }
}

/// Lists the references of an archive (any archive; nothing is written).
///
/// # Errors
///
/// As [`crate::archive::read_valid`]: exit 3, 5 or 6 for a bad archive.
pub fn references(options: &ReferencesOptions) -> Result<ReferencesReport> {
    let (archive, _) = crate::archive::read_valid(&options.input, &options.limits, &options.progress)?;
    options.progress.finish();
    let references = References::of(&archive.data);
    let namespaces = references
        .namespaces
        .keys()
        .map(|ns| ReferenceCount {
            namespace: ns,
            ids: references.count(ns),
            uses: references.uses(ns),
            required: REQUIRED.contains(ns),
            if_unmapped: if_unmapped(ns),
        })
        .collect();
    Ok(ReferencesReport {
        report_version: REPORT_VERSION,
        input: options.input.to_string(),
        source: archive.header.source.clone(),
        scope: archive.header.scope,
        namespaces,
        required: REQUIRED.to_vec(),
        references,
    })
}

/// One `--mappings` argument: `FILE` (a whole document) or `NAMESPACE=FILE` (one namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingsSource {
    /// The namespace of a `NAMESPACE=FILE` argument.
    pub namespace: Option<&'static str>,
    /// The file; `-` is standard input.
    pub path: PathBuf,
}

impl MappingsSource {
    /// Parses `[NAMESPACE=]FILE`. The part before the first `=` is a namespace when it has a
    /// colon and only the characters namespaces use (`jira/classic:project=p.json`); any other
    /// argument is a file name (a file whose name looks like that is given as `./NAME`).
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] for an empty file name or a namespace this tool does not know.
    pub fn parse(arg: &str) -> Result<Self> {
        if let Some((prefix, file)) = arg.split_once('=')
            && prefix.contains(':')
            && !prefix.starts_with(['.', '/'])
            && prefix.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | ':' | '.' | '_' | '-'))
        {
            let Some(namespace) = known_namespace(prefix) else {
                return Err(Error::Usage(format!(
                    "--mappings {arg}: {prefix:?} is not a namespace this tool knows ({}); a file whose name looks like NAMESPACE=FILE is given as ./{arg}",
                    NAMESPACES.join(", ")
                )));
            };
            if file.is_empty() {
                return Err(Error::Usage(format!("--mappings {arg}: the file name after `=` is empty")));
            }
            return Ok(MappingsSource { namespace: Some(namespace), path: PathBuf::from(file) });
        }
        if arg.is_empty() {
            return Err(Error::Usage("--mappings needs a file name".into()));
        }
        Ok(MappingsSource { namespace: None, path: PathBuf::from(arg) })
    }

    fn is_stdin(&self) -> bool {
        self.path.as_os_str() == "-"
    }
}

/// Which losses the admin accepted (`--allow-unmapped NAMESPACE`, or `all`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowUnmapped {
    /// `all`: every namespace whose unmapped ids can be dropped.
    pub all: bool,
    /// The namespaces named.
    pub namespaces: BTreeSet<&'static str>,
}

impl AllowUnmapped {
    /// Parses the values of `--allow-unmapped`.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] for an unknown namespace, or one whose unmapped ids are never dropped
    /// (projects and boards are required; groups and users are not applied).
    pub fn parse(values: &[String]) -> Result<Self> {
        let mut allowed = AllowUnmapped::default();
        for value in values {
            if value == "all" {
                allowed.all = true;
                continue;
            }
            let Some(ns) = known_namespace(value) else {
                return Err(Error::Usage(format!(
                    "--allow-unmapped {value}: not a namespace this tool knows; give one of {} or `all`",
                    NAMESPACES
                        .iter()
                        .filter(|n| !REQUIRED.contains(n) && !NOT_APPLIED.contains(n))
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            if REQUIRED.contains(&ns) {
                return Err(Error::Usage(format!(
                    "--allow-unmapped {ns}: unmapped ids of {ns} cannot be accepted: they are required (migrate those Jira projects first and add their mappings)"
                )));
            }
            if NOT_APPLIED.contains(&ns) {
                return Err(Error::Usage(format!(
                    "--allow-unmapped {ns}: nothing of {ns} is ever dropped (its mappings are not applied)"
                )));
            }
            allowed.namespaces.insert(ns);
        }
        Ok(allowed)
    }

    /// Whether losses in `namespace` are accepted.
    pub fn allows(&self, namespace: &str) -> bool {
        self.all || self.namespaces.contains(namespace)
    }

    /// The values, as given (`all` first).
    pub fn names(&self) -> Vec<String> {
        let all = self.all.then(|| "all".to_owned());
        all.into_iter().chain(self.namespaces.iter().map(|n| (*n).to_owned())).collect()
    }
}

/// What to migrate, and how.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// The archive (`export --scope migration` of the Server / Data Center store).
    pub input: Input,
    /// The ID mappings.
    pub mappings: Vec<MappingsSource>,
    /// Limits on each mappings input.
    pub mappings_limits: MappingsLimits,
    /// Limits against hostile archives.
    pub limits: Limits,
    /// Where the safety backup of the cloud configuration goes.
    pub safety_dir: PathBuf,
    /// Run even though the cloud configuration changed since the last run (or holds
    /// configuration that no migration wrote).
    pub overwrite_cloud_changes: bool,
    /// Losses accepted.
    pub allow_unmapped: AllowUnmapped,
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

/// The totals of one namespace: what the configuration uses, what was mapped, and what happens
/// to the rest. The report lists these first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceTotal {
    /// The namespace.
    pub namespace: String,
    /// Whether every id must be mapped (projects, boards).
    pub required: bool,
    /// Distinct server ids the configuration uses.
    pub ids: u64,
    /// Of those, ids with a cloud id.
    pub mapped: u64,
    /// Of those, ids without one.
    pub unmapped: u64,
    /// Uses of those ids in the configuration.
    pub uses: u64,
    /// Uses of unmapped ids.
    pub unmapped_uses: u64,
    /// Unmapped uses per treatment (`dropped`, `scope_emptied`, `cleared`, `refused`).
    pub outcomes: BTreeMap<Treatment, u64>,
    /// Whether the losses of this namespace were accepted (`--allow-unmapped`).
    pub allowed: bool,
    /// One line: "41304 of 42504 sprint mappings dropped".
    pub summary: String,
}

impl NamespaceTotal {
    /// Unmapped uses whose treatment loses something (and so needs consent).
    pub fn lost(&self) -> u64 {
        self.outcomes.iter().filter(|(t, _)| t.loses()).map(|(_, n)| n).sum()
    }
}

/// The totals of every namespace the configuration uses, in code-point order.
fn totals(refs: &References, unmapped: &[Unmapped], allowed: &AllowUnmapped) -> Vec<NamespaceTotal> {
    refs.namespaces
        .keys()
        .map(|ns| {
            let mine: Vec<&Unmapped> = unmapped.iter().filter(|u| u.namespace == *ns).collect();
            let distinct: BTreeSet<&str> = mine.iter().map(|u| u.id.as_str()).collect();
            let mut outcomes: BTreeMap<Treatment, u64> = BTreeMap::new();
            for u in &mine {
                *outcomes.entry(u.treatment).or_default() += 1;
            }
            let (ids, uses) = (refs.count(ns) as u64, refs.uses(ns) as u64);
            let noun = uses_noun(ns);
            let summary = if outcomes.is_empty() {
                format!("all {uses} {noun} mapped")
            } else {
                let parts: Vec<String> = outcomes
                    .iter()
                    .map(|(t, n)| match t {
                        Treatment::Refused => format!("{n} of {uses} {noun} unmapped: refused"),
                        Treatment::Dropped => format!("{n} of {uses} {noun} dropped"),
                        Treatment::ScopeEmptied => {
                            format!("{n} of {uses} {noun} unmapped: their scope filters select nothing")
                        }
                        Treatment::Cleared => format!("{n} of {uses} {noun} cleared"),
                    })
                    .collect();
                parts.join("; ")
            };
            NamespaceTotal {
                namespace: (*ns).to_owned(),
                required: REQUIRED.contains(ns),
                ids,
                mapped: ids - distinct.len() as u64,
                unmapped: distinct.len() as u64,
                uses,
                unmapped_uses: mine.len() as u64,
                outcomes,
                allowed: allowed.allows(ns),
                summary,
            }
        })
        .collect()
}

/// Deserializes a list of strings, or one string (log entries written before several mappings
/// inputs existed).
fn one_or_many<'de, D: serde::Deserializer<'de>>(de: D) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(de)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// The `detail` of a `migrate` log entry: what `status` and the next run's checks read back.
/// Members added after the first release have defaults, so older entries still read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MigrateDetail {
    /// The archive (an absolute path, or `<stdin>`).
    pub input: String,
    /// The mappings inputs: absolute paths, `NAMESPACE=PATH` for one namespace.
    #[serde(deserialize_with = "one_or_many")]
    pub mappings: Vec<String>,
    /// The source host (its server id is what "another source server" compares).
    pub source: SourceHost,
    /// Scope of the archive.
    pub archive_scope: Scope,
    /// Content digest of the migrated configuration without the admins: what "the cloud
    /// configuration changed since the last run" compares.
    pub migrated_content_digest: String,
    /// Content digest of the cloud configuration before the run (admins included).
    pub content_digest_before: String,
    /// Content digest of the cloud configuration before the run, admins aside: what "rolled
    /// back" compares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrated_content_digest_before: Option<String>,
    /// The safety backup of the cloud configuration before the run (an absolute path).
    pub safety_backup: String,
    /// Entities written.
    pub counts: Counts,
    /// References rewritten to a cloud id.
    pub rewritten: u64,
    /// Totals per namespace.
    #[serde(default)]
    pub totals: Vec<NamespaceTotal>,
    /// Unmapped server ids, per namespace (distinct, in numeric order).
    pub unmapped: BTreeMap<String, Vec<String>>,
    /// The losses accepted (`--allow-unmapped`).
    #[serde(default)]
    pub allowed_unmapped: Vec<String>,
    /// Whether the run overwrote changes made on the cloud (`--overwrite-cloud-changes`).
    pub overwrote_cloud_changes: bool,
    /// Admins of a `full` archive that were not migrated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admins_left_behind: Option<AdminsLeftBehind>,
}

/// A migration that passed every check, ready to be applied (or shown by a dry run).
#[derive(Debug, Clone)]
pub struct Checked {
    /// The archive's header.
    pub header: Header,
    /// The cloud site.
    pub target: HostIdentity,
    /// The rewritten configuration, without admins.
    pub config: Configuration,
    /// Unmapped uses, none refused; by namespace, id (numeric order), pointer.
    pub unmapped: Vec<Unmapped>,
    /// Uses rewritten.
    pub rewritten: u64,
    /// Totals per namespace.
    pub totals: Vec<NamespaceTotal>,
    /// The losses accepted.
    pub allowed_unmapped: AllowUnmapped,
    /// Warnings of the rewritten configuration.
    pub warnings: Vec<Finding>,
    /// The mappings inputs read.
    pub mappings: Vec<MappingsInput>,
    /// Namespaces of the mappings that are not applied.
    pub ignored_namespaces: Vec<IgnoredNamespace>,
    /// Admins of a `full` archive, left behind.
    pub admins_left_behind: Option<AdminsLeftBehind>,
    /// Migrated content digest of the cloud configuration when it was checked.
    pub cloud_basis: String,
    /// Content digest of the cloud configuration when it was checked (admins included).
    pub cloud_digest: String,
    /// Whether the cloud had changes that this run overwrites.
    pub overwrites_cloud_changes: bool,
    /// The newest log entry when it was checked: a migration logged after it ran concurrently.
    pub log_basis: Option<i64>,
}

/// Migration status of a store, derived from its operations log and what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MigrationState {
    /// No successful `migrate` run (since the last `migration reset`).
    NotMigrated,
    /// Migrated, but something required is pending (the admins, for one).
    Incomplete,
    /// The admins were set after the last run and nothing required is pending.
    Complete,
    /// The site holds again what it held before the first run (its safety backup was imported).
    RolledBack,
}

impl MigrationState {
    /// The serialized name (`NOT_MIGRATED`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationState::NotMigrated => "NOT_MIGRATED",
            MigrationState::Incomplete => "INCOMPLETE",
            MigrationState::Complete => "COMPLETE",
            MigrationState::RolledBack => "ROLLED_BACK",
        }
    }
}

/// Why a dry run's migration would be refused.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    /// The exit code a real run would end with.
    pub exit_code: u8,
    /// Its message.
    pub message: String,
}

/// What a migration run did, or (dry run) would do.
#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    /// [`REPORT_VERSION`].
    pub report_version: u32,
    /// Nothing was written (`--dry-run`).
    pub dry_run: bool,
    /// After a run: INCOMPLETE (the admins must be set on the cloud side). After a dry run: the
    /// site's status now.
    pub status: MigrationState,
    /// Totals per namespace: mapped, unmapped, and what happens to the unmapped.
    pub totals: Vec<NamespaceTotal>,
    /// Dry run only: why a real run would be refused (the losses were not accepted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
    /// The archive.
    pub input: String,
    /// The mappings inputs.
    pub mappings: Vec<MappingsInput>,
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
    /// Entities written (or to be written).
    pub counts: Counts,
    /// References rewritten to a cloud id.
    pub rewritten: u64,
    /// The losses accepted (`--allow-unmapped`).
    pub allowed_unmapped: Vec<String>,
    /// Unmapped server ids per namespace (distinct, in numeric order).
    pub unmapped_summary: BTreeMap<String, Vec<String>>,
    /// Every unmapped use and what was done with it.
    pub unmapped: Vec<Unmapped>,
    /// Namespaces of the mappings that are not applied (unknown, groups, users).
    pub ignored_namespaces: Vec<IgnoredNamespace>,
    /// Warnings of the migrated configuration.
    pub warnings: Vec<Finding>,
    /// Whether changes made on the cloud were (or would be) overwritten.
    pub overwrote_cloud_changes: bool,
    /// The safety backup of the cloud configuration before the run (none in a dry run).
    pub safety_backup: Option<String>,
    /// Content digest of the cloud configuration before (admins included).
    pub content_digest_before: String,
    /// Content digest of the cloud configuration after (admins included; none in a dry run).
    pub content_digest_after: Option<String>,
    /// Content digest of the migrated configuration without the admins.
    pub migrated_content_digest: String,
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

/// Whether two sources are the same Jira installation: the same server id (compared without
/// regard to ASCII case, as Jira shows it upper-case and people type it either way). Deployment
/// and base URL may differ: a Server upgraded to Data Center, a new base URL (and so any alias
/// the source declared) are the same source.
pub fn same_source(a: &SourceHost, b: &SourceHost) -> bool {
    a.fingerprint == b.fingerprint || a.server_id.eq_ignore_ascii_case(&b.server_id)
}

/// The successful `migrate` entries since the last `migration reset`, oldest first.
fn runs_since_reset(ops: &[Operation]) -> impl Iterator<Item = &Operation> {
    let since = ops
        .iter()
        .rev()
        .find(|op| op.kind == OperationKind::MigrationReset && op.outcome == Outcome::Ok)
        .map_or(i64::MIN, |op| op.id);
    ops.iter().filter(move |op| op.kind == OperationKind::Migrate && op.outcome == Outcome::Ok && op.id > since)
}

fn read_detail(op: &Operation) -> Result<MigrateDetail> {
    serde_json::from_value(op.detail.clone()).map_err(|e| {
        refused(
            format!("the operations log entry #{} of a migration cannot be read: {e}", op.id),
            "the store's log was edited or written by an incompatible tool; see `ativo-backup log --format json`"
                .into(),
        )
    })
}

/// The last successful `migrate` entry of the log since the last `migration reset`, with its
/// detail.
///
/// # Errors
///
/// [`Error::MigrationRefused`] when that entry's detail cannot be read (the guard depends on it).
pub fn last_migration(ops: &[Operation]) -> Result<Option<(&Operation, MigrateDetail)>> {
    match runs_since_reset(ops).last() {
        None => Ok(None),
        Some(op) => Ok(Some((op, read_detail(op)?))),
    }
}

/// Whether `current` is what the site held before `first`, the first run since the last reset:
/// its safety backup was imported (the documented way back).
fn rolled_back(first: &MigrateDetail, current: &Configuration) -> bool {
    match &first.migrated_content_digest_before {
        Some(before) => *before == migrated_digest(current),
        None => archive::content_digest(current) == first.content_digest_before || !holds_configuration(current),
    }
}

/// Checks a migration without writing anything (see the module docs for the order).
///
/// # Errors
///
/// [`Error::MigrationRefused`] (exit 8) for every precondition; [`Error::Archive`] or
/// [`Error::Invalid`] (3, 5, 6) for a bad archive; [`Error::Usage`] (2) for unusable mappings;
/// [`Error::Store`] (7).
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
    let (archive, _) = crate::archive::read_valid(&options.input, &options.limits, &options.progress)?;
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
    // 4. The mappings are usable; only the ids the configuration uses are kept.
    options.progress.phase("reading the mappings", None);
    let refs = References::of(&data);
    let mappings = read_mappings(options, &Wanted::of(&refs))?;
    // 5. Every project and board is mapped, and every sprint of a mapped board.
    options.progress.phase("rewriting the references", None);
    let mut rewritten = rewrite::rewrite(&data, &mappings);
    refuse_unmapped_required(&rewritten)?;
    // The archive had no NUL (checked with it): one in the rewritten configuration came from a
    // cloud id, which the mappings reader refuses already; this keeps the store's rule whole.
    if store.refuses_nul_in_text()
        && let Some(f) = super::nul_in_text(&rewritten.config, "/data", &store.location())
    {
        return Err(Error::Usage(format!(
            "a mapping's cloud id holds the NUL character, which would be written at {}; fix that cloud id in the mappings",
            f.pointer
        )));
    }
    // 6. The rewrite is a valid configuration.
    let findings = crate::model::validate::validate(&rewritten.config);
    if let Some(first) = findings.iter().find(|f| f.is_error()) {
        return Err(refused(
            format!(
                "the configuration rewritten through the mappings would be invalid, first at {}: {} ({} error(s))",
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
    rewritten.unmapped.sort_by(|a, b| {
        a.namespace.cmp(b.namespace).then_with(|| id_order(&a.id, &b.id)).then_with(|| a.pointer.cmp(&b.pointer))
    });
    Ok(Checked {
        totals: totals(&refs, &rewritten.unmapped, &options.allow_unmapped),
        header: archive.header,
        target,
        config: rewritten.config,
        unmapped: rewritten.unmapped,
        rewritten: rewritten.rewritten,
        allowed_unmapped: options.allow_unmapped.clone(),
        warnings: findings,
        mappings: mappings.inputs().to_vec(),
        ignored_namespaces: mappings.ignored_namespaces().to_vec(),
        admins_left_behind,
        cloud_basis,
        cloud_digest: archive::content_digest(&current.config),
        overwrites_cloud_changes,
        log_basis: ops.last().map(|op| op.id),
    })
}

/// Precondition 9: nothing is lost without consent. Every namespace whose unmapped ids would be
/// dropped (or empty a scope filter, or unset the story points field) must be named by
/// `--allow-unmapped` (or `all`).
///
/// # Errors
///
/// [`Error::MigrationRefused`] (exit 8) naming every such namespace with its totals.
pub fn consent(checked: &Checked) -> Result<()> {
    let refused_totals: Vec<&NamespaceTotal> = checked.totals.iter().filter(|t| t.lost() > 0 && !t.allowed).collect();
    if refused_totals.is_empty() {
        return Ok(());
    }
    let parts: Vec<String> = refused_totals
        .iter()
        .map(|t| format!("{}: {} of {} ids unmapped, {}", t.namespace, t.unmapped, t.ids, t.summary))
        .collect();
    let flags: Vec<String> = refused_totals.iter().map(|t| format!("--allow-unmapped {}", t.namespace)).collect();
    Err(refused(
        format!("references without a mapping would be lost, and nobody accepted it ({})", parts.join("; ")),
        format!(
            "nothing is dropped without consent: give every page of those mappings (`--mappings NAMESPACE=FILE` for each page; `migrate --dry-run` shows the totals), or accept these losses with {} (or --allow-unmapped all)",
            flags.join(" ")
        ),
    ))
}

/// Reads every mappings input (SPEC.md, 11.2): regular files or standard input only, each under
/// the size cap.
fn read_mappings(options: &MigrateOptions, wanted: &Wanted) -> Result<Mappings> {
    if options.mappings.is_empty() {
        return Err(Error::Usage(
            "migrate needs --mappings: write the skeleton with `ativo-backup migration references ARCHIVE --skeleton` and fill it in"
                .into(),
        ));
    }
    let stdin_uses = options.mappings.iter().filter(|m| m.is_stdin()).count();
    if stdin_uses > 1 || (stdin_uses == 1 && options.input == Input::Stdin) {
        return Err(Error::Usage("only one input can come from standard input (-)".into()));
    }
    let mut reader = MappingsReader::new(Some(wanted), options.mappings_limits);
    for source in &options.mappings {
        let layout = source.namespace.map_or(Layout::Whole, Layout::Namespace);
        if source.is_stdin() {
            reader.read("<stdin>", layout, std::io::stdin().lock())?;
            continue;
        }
        let path = &source.path;
        let name = super::absolute(path).display().to_string();
        let cannot = |e: std::io::Error| {
            Error::Usage(format!(
                "cannot read mappings file {name}: {e}; create it from `ativo-backup migration references ARCHIVE --skeleton`"
            ))
        };
        let meta = std::fs::metadata(path).map_err(cannot)?;
        if !meta.is_file() {
            return Err(Error::Usage(format!(
                "mappings file {name} is {}, not a regular file: give a regular file, or - for standard input",
                super::file_kind(&meta)
            )));
        }
        if meta.len() > options.mappings_limits.max_size {
            return Err(Error::Usage(format!(
                "mappings file {name} is larger than the {}-byte limit ({} bytes); refused before reading it (raise it with --mappings-max-size if the file is trusted)",
                options.mappings_limits.max_size,
                meta.len()
            )));
        }
        let file = std::fs::File::open(path).map_err(cannot)?;
        reader.read(&name, layout, file)?;
    }
    reader.finish()
}

/// How many items of a list a message shows before "... N more".
const LISTED: usize = 20;

fn listed(items: &[String]) -> String {
    let mut text = items.iter().take(LISTED).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > LISTED {
        text.push_str(&format!(" ... {} more", items.len() - LISTED));
    }
    text
}

fn refuse_unmapped_required(rewritten: &rewrite::Rewritten) -> Result<()> {
    let mut projects: BTreeMap<&str, &str> = BTreeMap::new();
    let mut boards: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut sprints: BTreeMap<&str, &str> = BTreeMap::new();
    for u in rewritten.refusing() {
        match u.namespace {
            PROJECT => {
                projects.insert(&u.id, u.label.as_deref().unwrap_or("?"));
            }
            BOARD => boards.entry(&u.id).or_default().extend(u.label.as_deref()),
            SPRINT => {
                sprints.insert(&u.id, u.label.as_deref().unwrap_or("?"));
            }
            _ => {}
        }
    }
    if projects.is_empty() && boards.is_empty() && sprints.is_empty() {
        return Ok(());
    }
    let in_order = |ids: Vec<(&str, String)>| {
        let mut ids = ids;
        ids.sort_by(|a, b| id_order(a.0, b.0));
        ids.into_iter().map(|(_, text)| text).collect::<Vec<_>>()
    };
    let mut parts = Vec::new();
    if !projects.is_empty() {
        let list = in_order(projects.iter().map(|(id, key)| (*id, format!("{key} (id {id})"))).collect());
        parts.push(format!(
            "{} Jira project(s) used by the configuration have no mapping in {PROJECT}: {}",
            projects.len(),
            list.join(", ")
        ));
    }
    if !boards.is_empty() {
        let list = in_order(
            boards.iter().map(|(id, teams)| (*id, format!("board {id} (team {})", teams.join(", ")))).collect(),
        );
        parts.push(format!("{} board(s) of BOARD teams have no mapping in {BOARD}: {}", boards.len(), listed(&list)));
    }
    let mut hints = Vec::new();
    if !projects.is_empty() || !boards.is_empty() {
        hints.push("Ativo's rule: migrate Ativo Programs data after all Jira projects used in Ativo are migrated (or run it again afterwards); migrate those projects (and their boards) first, add their cloud ids to the mappings, then run migrate again".to_owned());
    }
    if !sprints.is_empty() {
        let list = in_order(sprints.iter().map(|(id, label)| (*id, format!("{id} ({label})"))).collect());
        parts.push(format!(
            "{} sprint(s) of mapped boards have no mapping in {SPRINT}: {}",
            sprints.len(),
            listed(&list)
        ));
        hints.push(format!(
            "a board's sprints move with it, so a missing sprint means missing mappings: give every page of {SPRINT} (the mapping endpoint returns at most 1,200 a page)"
        ));
    }
    let hint = hints.join("; ");
    Err(refused(parts.join("; "), hint))
}

/// The store-state preconditions: another source server (refused), and changes on the cloud
/// since the last run (refused unless `overwrite`). Returns the migrated content digest of the
/// cloud configuration and whether the run overwrites changes.
fn guard(current: &Configuration, ops: &[Operation], source: &SourceHost, overwrite: bool) -> Result<(String, bool)> {
    let basis = migrated_digest(current);
    let last = last_migration(ops)?;
    if let Some((op, detail)) = &last
        && !same_source(&detail.source, source)
    {
        let empty = !holds_configuration(current);
        return Err(refused(
            format!(
                "this site holds configuration migrated from another Jira server: server id {} ({}, {}) in run #{} on {}; this archive comes from server id {} ({}, {})",
                detail.source.server_id,
                detail.source.base_url,
                detail.source.deployment,
                op.id,
                op.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                source.server_id,
                source.base_url,
                source.deployment,
            ),
            if empty {
                "a source is identified by its Jira server id; this site no longer holds that configuration (it was rolled back): if it is to start over from another server, clear the record with `ativo-backup migration reset` (confirmation and a safety backup first), then migrate".into()
            } else {
                "a source is identified by its Jira server id, and an Ativo migration overwrites the site's configuration, it never merges two servers: migrate again from server id ".to_owned()
                    + &detail.source.server_id
                    + ", or migrate this server into another cloud site; to start this site over, restore the safety backup of its first run (`ativo-backup import`) and run `ativo-backup migration reset`"
            },
        ));
    }
    let changed = if !holds_configuration(current) {
        // Nothing to overwrite (a new site, or one rolled back to empty).
        None
    } else {
        match &last {
            Some((op, detail)) if detail.migrated_content_digest != basis => Some(format!(
                "the cloud configuration changed since the last migration run #{} on {} (its content digest, admins aside, was {}, it is now {basis})",
                op.id,
                op.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                detail.migrated_content_digest
            )),
            Some(_) => None,
            None => Some(format!(
                "the cloud site already holds Ativo configuration that no migration wrote (content digest, admins aside, {basis})"
            )),
        }
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

/// Unmapped server ids per namespace, distinct, in numeric order.
fn unmapped_summary(unmapped: &[Unmapped]) -> BTreeMap<String, Vec<String>> {
    let mut summary: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for u in unmapped {
        summary.entry(u.namespace.to_owned()).or_default().push(u.id.clone());
    }
    for ids in summary.values_mut() {
        ids.sort_by(|a, b| id_order(a, b));
        ids.dedup();
    }
    summary
}

/// The report of a dry run: what [`apply`] would do, with `refusal` set when [`consent`] (or
/// anything else) would refuse the run. Nothing is written, not even to the log.
///
/// # Errors
///
/// [`Error::Store`] when the store's status cannot be read.
pub fn dry_run_report(
    store: &mut dyn Store,
    options: &MigrateOptions,
    checked: Checked,
    refusal: Option<&Error>,
) -> Result<MigrateReport> {
    let status = status(store)?.status;
    let location = store.location();
    Ok(report(options, checked, true, status, None, None, refusal, &location))
}

#[allow(clippy::too_many_arguments)]
fn report(
    options: &MigrateOptions,
    checked: Checked,
    dry_run: bool,
    status: MigrationState,
    safety_backup: Option<String>,
    content_digest_after: Option<String>,
    refusal: Option<&Error>,
    location: &str,
) -> MigrateReport {
    let migrated_content_digest = migrated_digest(&checked.config);
    MigrateReport {
        report_version: REPORT_VERSION,
        dry_run,
        status,
        refusal: refusal.map(|e| Refusal { exit_code: e.exit_code(), message: e.to_string() }),
        input: options.input.to_string(),
        mappings: checked.mappings,
        source: checked.header.source,
        target_fingerprint: checked.target.fingerprint(),
        target: checked.target,
        archive_scope: checked.header.scope,
        admins_left_behind: checked.admins_left_behind,
        counts: checked.config.counts(),
        rewritten: checked.rewritten,
        allowed_unmapped: checked.allowed_unmapped.names(),
        unmapped_summary: unmapped_summary(&checked.unmapped),
        unmapped: checked.unmapped,
        totals: checked.totals,
        ignored_namespaces: checked.ignored_namespaces,
        warnings: checked.warnings,
        overwrote_cloud_changes: checked.overwrites_cloud_changes,
        safety_backup,
        content_digest_before: checked.cloud_digest,
        content_digest_after,
        migrated_content_digest,
        next_step: if dry_run {
            "run the same command without --dry-run to migrate".into()
        } else {
            admins_next_step(location)
        },
    }
}

/// Writes the checked migration: under the store's write lock, re-checks that the cloud
/// configuration is the one [`check`] saw, writes a safety backup of it, then replaces
/// everything but the admins (the cloud's own admins are kept) in one transaction with the
/// `migrate` log entry. Call [`consent`] first.
///
/// # Errors
///
/// [`Error::MigrationRefused`] when the cloud configuration changed since [`check`] (naming the
/// migration or import that held the lock meanwhile, when one did); [`Error::Store`] (locked,
/// write failed); [`Error::File`] when the safety backup cannot be written. In every case the
/// store is unchanged.
pub fn apply(store: &mut dyn Store, options: &MigrateOptions, checked: Checked) -> Result<MigrateReport> {
    let location = store.location();
    let summary = unmapped_summary(&checked.unmapped);
    let migrated_content_digest = migrated_digest(&checked.config);
    let mut outcome: Option<(String, String)> = None;
    options.progress.phase("waiting for the store's write lock", None);
    let applied = store.replace(&mut |current| {
        if migrated_digest(&current.config) != checked.cloud_basis {
            return Err(refused(
                "the cloud configuration changed while this migration was being prepared".into(),
                "someone is changing Ativo on the cloud site right now; run migrate again to see what changed".into(),
            ));
        }
        options.progress.phase("writing the safety backup", None);
        let backup = super::import::write_safety_backup(&options.safety_dir, &checked.target, current)?.path;
        let before = archive::content_digest(&current.config);
        let mut config = checked.config.clone();
        config.admins.clone_from(&current.config.admins);
        let after = archive::content_digest(&config);
        let detail = MigrateDetail {
            input: options.input.absolute(),
            mappings: checked
                .mappings
                .iter()
                .map(|m| match &m.namespace {
                    Some(ns) => format!("{ns}={}", m.file),
                    None => m.file.clone(),
                })
                .collect(),
            source: checked.header.source.clone(),
            archive_scope: checked.header.scope,
            migrated_content_digest: migrated_content_digest.clone(),
            content_digest_before: before.clone(),
            migrated_content_digest_before: Some(migrated_digest(&current.config)),
            safety_backup: backup.display().to_string(),
            counts: checked.config.counts(),
            rewritten: checked.rewritten,
            totals: checked.totals.clone(),
            unmapped: summary.clone(),
            allowed_unmapped: checked.allowed_unmapped.names(),
            overwrote_cloud_changes: checked.overwrites_cloud_changes,
            admins_left_behind: checked.admins_left_behind,
        };
        let op = Operation {
            id: 0,
            at: Utc::now(),
            kind: OperationKind::Migrate,
            os_user: crate::store::current_os_user(),
            archive_digest: Some(checked.header.integrity_digest.clone()),
            content_digest: Some(after.clone()),
            outcome: Outcome::Ok,
            detail: serde_json::to_value(&detail).unwrap_or_default(),
        };
        options.progress.phase("replacing the configuration", None);
        outcome = Some((backup.display().to_string(), after));
        Ok((config, op))
    });
    if let Err(Error::MigrationRefused { .. }) = &applied
        && let Some(concurrent) = concurrent_writer(store, checked.log_basis)?
    {
        return Err(concurrent);
    }
    applied?;
    options.progress.finish();
    let (safety_backup, after) =
        outcome.ok_or_else(|| Error::Internal("the store did not run the migration".into()))?;
    Ok(report(options, checked, false, MigrationState::Incomplete, Some(safety_backup), Some(after), None, &location))
}

/// When the re-check under the lock failed: the migration or import that wrote the site since
/// `log_basis`, as the refusal to give (two runs at once: the loser waited for the lock while
/// the winner wrote).
fn concurrent_writer(store: &mut dyn Store, log_basis: Option<i64>) -> Result<Option<Error>> {
    let ops = store.operations()?;
    let after = log_basis.unwrap_or(i64::MIN);
    let Some(op) = ops.iter().rev().find(|op| {
        op.id > after && op.outcome == Outcome::Ok && matches!(op.kind, OperationKind::Migrate | OperationKind::Import)
    }) else {
        return Ok(None);
    };
    let what = if op.kind == OperationKind::Migrate { "another migration" } else { "an import" };
    Ok(Some(refused(
        format!(
            "{what} (log entry #{}, at {}, by {}) held the store's write lock and replaced the cloud configuration while this migration was waiting for it; nothing was written by this run",
            op.id,
            op.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            op.os_user
        ),
        "see what the site holds now with `ativo-backup migration status`; if this run's archive and mappings are the ones to keep, run migrate again".into(),
    )))
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

/// A log entry, as `status` names it (admins set, a reset).
#[derive(Debug, Clone, Serialize)]
pub struct LogRef {
    /// Log entry id.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub os_user: String,
}

impl LogRef {
    fn of(op: &Operation) -> Self {
        LogRef { id: op.id, at: op.at, os_user: op.os_user.clone() }
    }
}

/// Stable codes of [`Pending`] (SPEC.md, 12.2).
pub mod pending {
    /// Nothing migrated yet onto a cloud site (required).
    pub const NOT_RUN: &str = "migration.not-run";
    /// The admins were not set since the last run (required).
    pub const ADMINS: &str = "admins.not-set";
    /// The site holds what it held before the first run (required: migrate again, or reset).
    pub const ROLLED_BACK: &str = "migration.rolled-back";
    /// References of one namespace had no mapping and were dropped (with consent).
    pub const DROPPED: &str = "references.dropped";
    /// The cloud configuration changed since the last run: a new run would be refused.
    pub const CLOUD_CHANGED: &str = "cloud.changed";
}

/// One thing left to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pending {
    /// A stable code ([`pending`]).
    pub code: &'static str,
    /// Whether the migration stays INCOMPLETE until it is done.
    pub required: bool,
    /// The namespace, for `references.dropped`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// How many (dropped uses, for `references.dropped`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Out of how many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub of: Option<u64>,
    /// What to do, in words.
    pub message: String,
}

/// The migration status of a store.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// [`REPORT_VERSION`].
    pub report_version: u32,
    /// The store.
    pub store: String,
    /// Its host.
    pub host: HostIdentity,
    /// NOT_MIGRATED, INCOMPLETE, COMPLETE or ROLLED_BACK.
    pub status: MigrationState,
    /// Successful migration runs since the last reset.
    pub runs: usize,
    /// The last successful run.
    pub last_run: Option<LastRun>,
    /// The admins were set after it.
    pub admins_set: Option<LogRef>,
    /// The last `migration reset`.
    pub reset: Option<LogRef>,
    /// Whether the configuration (admins aside) differs from what the last run wrote; a new
    /// run would be refused without `--overwrite-cloud-changes`, unless the site is empty.
    pub changed_since_last_run: Option<bool>,
    /// What is left to do; the `required` ones keep the status from COMPLETE.
    pub pending: Vec<Pending>,
}

/// Derives the migration status from the store's log and configuration (SPEC.md, 11.5).
///
/// # Errors
///
/// [`Error::Store`] when the store cannot be read; [`Error::MigrationRefused`] when a run's log
/// entry cannot be read.
pub fn status(store: &mut dyn Store) -> Result<StatusReport> {
    let host = store.host()?.identity;
    let ops = store.operations()?;
    let location = store.location();
    let reset = ops
        .iter()
        .rev()
        .find(|op| op.kind == OperationKind::MigrationReset && op.outcome == Outcome::Ok)
        .map(LogRef::of);
    let runs: Vec<&Operation> = runs_since_reset(&ops).collect();
    let (Some(first), Some(op)) = (runs.first(), runs.last()) else {
        let mut pending = Vec::new();
        if host.deployment == Deployment::Cloud {
            pending.push(Pending {
                code: pending::NOT_RUN,
                required: true,
                namespace: None,
                count: None,
                of: None,
                message: "migrate the Server / Data Center configuration: see `ativo-backup migrate --help`".into(),
            });
        }
        return Ok(StatusReport {
            report_version: REPORT_VERSION,
            store: location,
            host,
            status: MigrationState::NotMigrated,
            runs: 0,
            last_run: None,
            admins_set: None,
            reset,
            changed_since_last_run: None,
            pending,
        });
    };
    let detail = read_detail(op)?;
    let first_detail = read_detail(first)?;
    let admins_set = ops
        .iter()
        .rfind(|a| a.kind == OperationKind::AdminsSet && a.outcome == Outcome::Ok && a.id > op.id)
        .map(LogRef::of);
    let current = store.snapshot()?.config;
    let changed = migrated_digest(&current) != detail.migrated_content_digest;
    let is_rolled_back = changed && rolled_back(&first_detail, &current);
    let mut pending = Vec::new();
    let mut add = |code, required, message: String| {
        pending.push(Pending { code, required, namespace: None, count: None, of: None, message });
    };
    if is_rolled_back {
        add(
            pending::ROLLED_BACK,
            true,
            format!(
                "the site holds again what it held before the first run #{} (its safety backup was imported): migrate again, or run `ativo-backup migration reset` before migrating another server",
                first.id
            ),
        );
    } else if changed {
        add(
            pending::CLOUD_CHANGED,
            false,
            "the cloud configuration changed since the last run: migrating again would overwrite those changes and is refused without --overwrite-cloud-changes".into(),
        );
    }
    if admins_set.is_none() {
        add(pending::ADMINS, true, admins_next_step(&location));
    }
    if detail.totals.is_empty() {
        // An entry written before totals were recorded: its unmapped ids, counted.
        for (ns, ids) in detail.unmapped.iter().filter(|(_, ids)| !ids.is_empty()) {
            pending.push(Pending {
                code: pending::DROPPED,
                required: false,
                namespace: Some(ns.clone()),
                count: Some(ids.len() as u64),
                of: None,
                message: format!("{} id(s) of {ns} had no mapping in the last run", ids.len()),
            });
        }
    }
    for total in detail.totals.iter().filter(|t| t.lost() > 0) {
        pending.push(Pending {
            code: pending::DROPPED,
            required: false,
            namespace: Some(total.namespace.clone()),
            count: Some(total.lost()),
            of: Some(total.uses),
            message: format!(
                "{} in the last run: set them in Ativo on the cloud site, or map them and migrate again before anyone changes Ativo there",
                total.summary
            ),
        });
    }
    let state = if is_rolled_back {
        MigrationState::RolledBack
    } else if admins_set.is_some() && !pending.iter().any(|p| p.required) {
        MigrationState::Complete
    } else {
        MigrationState::Incomplete
    };
    Ok(StatusReport {
        report_version: REPORT_VERSION,
        store: location,
        host,
        status: state,
        runs: runs.len(),
        last_run: Some(LastRun {
            id: op.id,
            at: op.at,
            os_user: op.os_user.clone(),
            archive_digest: op.archive_digest.clone(),
            content_digest: op.content_digest.clone(),
            detail,
        }),
        admins_set,
        reset,
        changed_since_last_run: Some(changed),
        pending,
    })
}

/// A `migration reset` that passed its checks.
#[derive(Debug, Clone)]
pub struct ResetPlan {
    /// The site.
    pub target: HostIdentity,
    /// The runs since the last reset (none: nothing to reset).
    pub runs: usize,
    /// The last of them.
    pub last: Option<(i64, MigrateDetail)>,
    /// The content digest of the site when it was checked (admins included).
    pub basis: String,
}

/// What `migration reset` did.
#[derive(Debug, Clone, Serialize)]
pub struct ResetReport {
    /// [`REPORT_VERSION`].
    pub report_version: u32,
    /// The store.
    pub store: String,
    /// Whether a reset was recorded (false: there was nothing to reset).
    pub reset: bool,
    /// The source of the runs it cleared.
    pub previous_source: Option<SourceHost>,
    /// How many runs it cleared.
    pub runs_cleared: usize,
    /// The safety backup written first.
    pub safety_backup: Option<String>,
    /// The status now (NOT_MIGRATED).
    pub status: MigrationState,
}

/// Checks a `migration reset`: allowed when the site holds no migrated configuration any more,
/// i.e. nothing besides admins, or what it held before the first run since the last reset (its
/// safety backup was imported).
///
/// # Errors
///
/// [`Error::MigrationRefused`] (exit 8) when the site still holds configuration a migration
/// wrote (or that was changed since); [`Error::Store`] (7).
pub fn reset_check(store: &mut dyn Store) -> Result<ResetPlan> {
    let target = store.host()?.identity;
    let ops = store.operations()?;
    let runs: Vec<&Operation> = runs_since_reset(&ops).collect();
    let current = store.snapshot()?.config;
    let basis = archive::content_digest(&current);
    let (Some(first), Some(last)) = (runs.first(), runs.last()) else {
        return Ok(ResetPlan { target, runs: 0, last: None, basis });
    };
    let first_detail = read_detail(first)?;
    let detail = read_detail(last)?;
    let back = migrated_digest(&current) != detail.migrated_content_digest && rolled_back(&first_detail, &current);
    if holds_configuration(&current) && !back {
        return Err(refused(
            format!(
                "this site still holds Ativo configuration migrated from server id {} ({}) in run #{}, or changed since: a reset would let a migration from another server overwrite it",
                detail.source.server_id, detail.source.base_url, last.id
            ),
            format!(
                "to start over, first restore what the site held before the first run #{}: `ativo-backup --store {} import {}`, then run `migration reset` again",
                first.id,
                store.location(),
                first_detail.safety_backup
            ),
        ));
    }
    Ok(ResetPlan { target, runs: runs.len(), last: Some((last.id, detail)), basis })
}

/// Records the reset (after a safety backup of the site), in one transaction under the write
/// lock; the configuration itself is not changed. Nothing is written when there is nothing to
/// reset.
///
/// # Errors
///
/// [`Error::MigrationRefused`] when the site changed since [`reset_check`]; [`Error::Store`];
/// [`Error::File`] when the safety backup cannot be written.
pub fn reset(store: &mut dyn Store, safety_dir: &Path, plan: ResetPlan) -> Result<ResetReport> {
    let location = store.location();
    let Some((last_id, detail)) = plan.last else {
        return Ok(ResetReport {
            report_version: REPORT_VERSION,
            store: location,
            reset: false,
            previous_source: None,
            runs_cleared: 0,
            safety_backup: None,
            status: status(store)?.status,
        });
    };
    let mut written = None;
    store.replace(&mut |current| {
        if archive::content_digest(&current.config) != plan.basis {
            return Err(refused(
                "the site changed while the reset was being prepared".into(),
                "run `ativo-backup migration status`, then `migration reset` again".into(),
            ));
        }
        let backup = super::import::write_safety_backup(safety_dir, &plan.target, current)?.path;
        let op = Operation {
            id: 0,
            at: Utc::now(),
            kind: OperationKind::MigrationReset,
            os_user: crate::store::current_os_user(),
            archive_digest: None,
            content_digest: Some(plan.basis.clone()),
            outcome: Outcome::Ok,
            detail: serde_json::json!({
                "previous_source": detail.source,
                "last_run": last_id,
                "runs_cleared": plan.runs,
                "safety_backup": backup.display().to_string(),
            }),
        };
        written = Some(backup.display().to_string());
        Ok((current.config.clone(), op))
    })?;
    Ok(ResetReport {
        report_version: REPORT_VERSION,
        store: location,
        reset: true,
        previous_source: Some(detail.source),
        runs_cleared: plan.runs,
        safety_backup: written,
        status: status(store)?.status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_arguments_name_a_namespace_or_a_file() {
        let ns = MappingsSource::parse("jira/classic/software:sprint=pages/sprints-1.json").unwrap();
        assert_eq!(ns.namespace, Some(SPRINT));
        assert_eq!(ns.path, PathBuf::from("pages/sprints-1.json"));
        for file in ["mappings.json", "./jira:issue=x.json", "/tmp/a=b.json", "a=b.json", "-"] {
            let whole = MappingsSource::parse(file).unwrap();
            assert_eq!((whole.namespace, whole.path), (None, PathBuf::from(file)), "{file}");
        }
        for bad in ["jira:sprint=x.json", "jira:issue=", ""] {
            assert!(matches!(MappingsSource::parse(bad), Err(Error::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn only_losses_can_be_allowed() {
        let ok = AllowUnmapped::parse(&["jira:issue".into(), "all".into()]).unwrap();
        assert!(ok.all && ok.allows(SPRINT) && ok.names() == ["all", "jira:issue"]);
        for bad in ["jira/classic:project", "jira/classic/software:rapidView", "identity:group", "jira:comment"] {
            assert!(matches!(AllowUnmapped::parse(&[bad.into()]), Err(Error::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn a_source_is_its_server_id() {
        let host = |deployment, id: &str, url: &str| SourceHost::from(&HostIdentity::new(deployment, id, url).unwrap());
        let dc = host(Deployment::Datacenter, "B8E7-9F2A", "https://jira.example.com");
        assert!(same_source(&dc, &host(Deployment::Server, "b8e7-9f2a", "https://jira.new.example.com")));
        assert!(!same_source(&dc, &host(Deployment::Datacenter, "OTHER", "https://jira.example.com")));
    }
}
