//! Rendering of reports: human text on stdout, or one JSON document for machines. Errors go to
//! stderr (and, with `--format json`, also as a JSON object on stdout so pipelines can parse
//! every outcome).

use ativo_backup::error::Error;
use ativo_backup::model::Counts;
use ativo_backup::model::validate::{Finding, Severity};
use ativo_backup::ops::admins::{AdminsReport, SetAdminsReport};
use ativo_backup::ops::diff::{DiffReport, Plan};
use ativo_backup::ops::export::ExportReport;
use ativo_backup::ops::import::ImportReport;
use ativo_backup::ops::init::InitReport;
use ativo_backup::ops::inspect::InspectReport;
use ativo_backup::ops::migrate::{
    Checked, MigrateReport, MigrationState, NamespaceTotal, ReferencesReport, ResetReport, StatusReport,
};
use ativo_backup::ops::validate::ValidateReport;
use ativo_backup::store::HostRecord;
use serde::Serialize;

use crate::args::Format;

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--quiet`: human reports are not printed (errors and JSON still are).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

fn json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot render the report as JSON: {e}"),
    }
}

/// An error: message on stderr; with `--format json`, a JSON object on stdout too.
pub fn error(error: &Error, format: Format) {
    eprintln!("error: {error}");
    if let Error::Invalid { findings, .. } = error {
        for f in findings.iter().take(50) {
            eprintln!("  {}", finding_line(f));
        }
        if findings.len() > 50 {
            eprintln!("  ... and {} more (use --format json for all)", findings.len() - 50);
        }
    }
    if format == Format::Json {
        let findings = match error {
            Error::Invalid { findings, .. } => findings.clone(),
            _ => Vec::new(),
        };
        json(&serde_json::json!({
            "error": { "exit_code": error.exit_code(), "message": error.to_string(), "findings": findings }
        }));
    }
}

/// The serialized (SPEC.md) name of an enum value, e.g. `full` or `scope_emptied`, so that human
/// output uses the same words as the JSON output and the docs.
fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::from("?"),
    }
}

fn finding_line(f: &Finding) -> String {
    let level = match f.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    format!(
        "{level}[{}] {}: {} (hint: {})",
        f.code,
        if f.pointer.is_empty() { "/" } else { &f.pointer },
        f.message,
        f.hint
    )
}

fn counts_line(c: &Counts) -> String {
    format!(
        "{} teams, {} programs, {} periods ({} sprints), {} PIs, {} capacity, {} sprint mappings, {} objectives, {} milestones, {} admin users, {} admin groups",
        c.teams,
        c.programs,
        c.periods,
        c.sprints,
        c.pis,
        c.capacity,
        c.sprint_mappings,
        c.objectives,
        c.milestones,
        c.admin_users,
        c.admin_groups
    )
}

/// `init`.
pub fn init(r: &InitReport, format: Format) {
    if format == Format::Json {
        return json(r);
    }
    if quiet() {
        return;
    }
    println!("created store {} for {}", r.store, r.host.base_url);
    println!("  fingerprint {}", r.fingerprint);
    println!("  holds {}", counts_line(&r.counts));
}

/// `host`.
pub fn host(h: &HostRecord, location: &str, format: Format) {
    if format == Format::Json {
        let aliases: Vec<_> =
            h.aliases.iter().map(|a| serde_json::json!({ "identity": a, "fingerprint": a.fingerprint() })).collect();
        return json(&serde_json::json!({
            "store": location,
            "identity": h.identity,
            "fingerprint": h.identity.fingerprint(),
            "aliases": aliases,
        }));
    }
    if quiet() {
        return;
    }
    println!("store       {location}");
    println!("base url    {}", h.identity.base_url);
    println!("deployment  {}", h.identity.deployment);
    println!("server id   {}", h.identity.server_id);
    println!("fingerprint {}", h.identity.fingerprint());
    for alias in &h.aliases {
        println!("alias       {alias}");
    }
}

/// `export`.
pub fn export(r: &ExportReport, format: Format) {
    for warning in &r.warnings {
        eprintln!("warning: {warning}");
    }
    if format == Format::Json {
        // With `-o -` stdout carries the archive: the report must not be appended to it.
        if r.path == "-" {
            return match serde_json::to_string_pretty(r) {
                Ok(text) => eprintln!("{text}"),
                Err(e) => eprintln!("error: cannot render the report as JSON: {e}"),
            };
        }
        return json(r);
    }
    if quiet() {
        return;
    }
    // With `-o -` the archive is on stdout: the summary goes to stderr.
    let text = format!(
        "wrote {} ({} bytes, {}, scope {}), verified by reading it back\n  {}\n  content digest   {}\n  integrity digest {}",
        r.path,
        r.bytes,
        name(&r.encoding),
        name(&r.scope),
        counts_line(&r.counts),
        r.content_digest,
        r.integrity_digest
    );
    if r.path == "-" {
        // The archive itself is on stdout.
        eprintln!("{text}")
    } else {
        println!("{text}")
    }
    for removed in &r.removed {
        println!("  removed older archive {removed} (--keep)");
    }
}

/// A plan, as indented lines.
fn plan_lines(plan: &Plan) -> Vec<String> {
    let mut lines = Vec::new();
    for k in &plan.kinds {
        if k.added + k.removed + k.changed == 0 {
            continue;
        }
        let mut line =
            format!("  {:<16} +{} -{} ~{} ({} unchanged)", k.kind, k.added, k.removed, k.changed, k.unchanged);
        for (sign, keys, n) in
            [("+", &k.added_keys, k.added), ("-", &k.removed_keys, k.removed), ("~", &k.changed_keys, k.changed)]
        {
            if !keys.is_empty() {
                let more = if n > keys.len() { format!(" ... {} more", n - keys.len()) } else { String::new() };
                line.push_str(&format!("\n      {sign} {}{more}", keys.join(", ")));
            }
        }
        lines.push(line);
    }
    if lines.is_empty() {
        lines.push("  no changes: the configurations are identical".into());
    }
    lines
}

/// The plan on stderr, before a confirmation question.
pub fn plan_to_stderr(plan: &Plan) {
    eprintln!("changes:");
    for line in plan_lines(plan) {
        eprintln!("{line}");
    }
}

/// `import`.
pub fn import(r: &ImportReport, format: Format) {
    if format == Format::Json {
        return json(r);
    }
    if quiet() {
        return;
    }
    for w in &r.warnings {
        eprintln!("{}", finding_line(w));
    }
    if r.dry_run {
        println!(
            "dry run: {} passed every check (host matched by {}); importing it would change:",
            r.input, r.host_match
        );
    } else {
        println!("imported {} (host matched by {}); changes:", r.input, r.host_match);
    }
    for line in plan_lines(&r.plan) {
        println!("{line}");
    }
    if let Some(backup) = &r.safety_backup {
        println!("safety backup of the replaced configuration: {backup}");
    }
    println!("content digest {} -> {}", r.content_digest_before, r.content_digest_after);
}

/// `validate`.
pub fn validate(r: &ValidateReport, format: Format) {
    match format {
        Format::Json => json(r),
        Format::Github => {
            for file in &r.files {
                for f in &file.findings {
                    let level = match f.severity {
                        Severity::Error => "error",
                        Severity::Warning => "warning",
                    };
                    println!(
                        "::{level} file={},title={}::{}",
                        escape_property(&file.file),
                        escape_property(f.code),
                        escape_data(&format!("{} {} (hint: {})", f.pointer, f.message, f.hint))
                    );
                }
            }
            let failed = r.files.iter().filter(|f| !f.ok).count();
            println!("{} file(s) checked, {} failed, exit code {}", r.files.len(), failed, r.exit_code);
        }
        Format::Human => {
            if quiet() {
                return;
            }
            for file in &r.files {
                if file.ok {
                    let counts = file.counts.as_ref().map(counts_line).unwrap_or_default();
                    println!("ok    {} ({counts})", file.file);
                } else {
                    println!("FAIL  {} (exit {})", file.file, file.exit_code);
                }
                for f in &file.findings {
                    println!("      {}", finding_line(f));
                }
            }
        }
    }
}

/// GitHub workflow command escaping of a message.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// GitHub workflow command escaping of a property value.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// `inspect`.
pub fn inspect(r: &InspectReport, format: Format) {
    if format == Format::Json {
        return json(r);
    }
    if quiet() {
        return;
    }
    let h = &r.header;
    println!("file             {}", r.file);
    println!("format version   {}", r.format_version);
    println!("created at       {}", h.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    println!("tool             {} {}", h.tool.name, h.tool.version);
    println!("scope            {}", name(&h.scope));
    println!("source           {} ({}, server id {})", h.source.base_url, h.source.deployment, h.source.server_id);
    println!("fingerprint      {}", h.source.fingerprint);
    if !r.fingerprint_consistent {
        println!(
            "warning          the fingerprint does not match the host fields beside it: the header was edited (import refuses it)"
        );
    }
    println!("content digest   {}", h.content_digest);
    println!("integrity digest {} (verified)", h.integrity_digest);
    println!("counts           {}", counts_line(&h.counts));
    for t in &h.api_tokens {
        println!("api token        {} (created {} by {}; not restored)", t.name, t.created_at, t.created_by);
    }
}

/// `diff`.
pub fn diff(r: &DiffReport, format: Format) {
    if format == Format::Json {
        return json(r);
    }
    if quiet() {
        return;
    }
    println!("from {} ({})", r.from, r.from_digest);
    println!("to   {} ({})", r.to, r.to_digest);
    for line in plan_lines(&r.plan) {
        println!("{line}");
    }
}

/// `log`.
pub fn log(ops: &[ativo_backup::store::Operation], format: Format) {
    if format == Format::Json {
        return json(&ops);
    }
    if quiet() {
        return;
    }
    if ops.is_empty() {
        println!("the operations log is empty");
    }
    for op in ops {
        let digest = op.archive_digest.as_deref().or(op.content_digest.as_deref()).unwrap_or("-");
        println!(
            "{:>5}  {}  {:<12} {:<10} {:<8} {}",
            op.id,
            op.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            op.kind,
            op.os_user,
            op.outcome,
            digest
        );
    }
}

/// `migration references --skeleton`: the mappings skeleton, whatever `--format` says (it is the
/// `--mappings` file to fill in).
pub fn skeleton(r: &ReferencesReport) {
    json(&r.skeleton());
}

/// `migration references`: grouped and counted; with `--format json`, the counts and the
/// skeleton.
pub fn references(r: &ReferencesReport, format: Format) {
    if format == Format::Json {
        return json(&r.with_skeleton());
    }
    if quiet() {
        return;
    }
    let scope = name(&r.scope);
    println!("{} ({scope} archive from {}, {})", r.input, r.source.base_url, r.source.deployment);
    if r.namespaces.is_empty() {
        println!("  refers to no Jira object");
    }
    for count in &r.namespaces {
        let required = if count.required { "  (required before migrate)" } else { "" };
        println!("  {:<34} {:>6} id(s), {} use(s){required}", count.namespace, count.ids, count.uses);
        let ids = r.references.ids_in_order(count.namespace);
        let shown: Vec<String> = ids
            .iter()
            .take(12)
            .map(|i| match &i.label {
                Some(label) => format!("{} ({label})", i.id),
                None => i.id.clone(),
            })
            .collect();
        let more = if ids.len() > 12 { format!(" ... {} more", ids.len() - 12) } else { String::new() };
        println!("      {}{more}", shown.join(", "));
        println!("      unmapped: {}", count.if_unmapped);
    }
    if !r.references.system_fields.is_empty() {
        let fields: Vec<&str> = r.references.system_fields.iter().map(String::as_str).collect();
        println!("  system fields (same id on cloud, no mapping needed): {}", fields.join(", "));
    }
    if !r.references.groups.is_empty() {
        let groups: Vec<&str> = r.references.groups.iter().map(String::as_str).collect();
        println!("  supplier groups (kept by name, no mapping needed): {}", groups.join(", "));
    }
    println!("  admins are never migrated: set them on the cloud site with `admins set` afterwards");
    println!(
        "next: `--skeleton > mappings.json`, fill in the cloud ids (or give Atlassian's mapping pages with --mappings NAMESPACE=FILE), then `migrate ARCHIVE --mappings mappings.json --dry-run`"
    );
}

fn state(s: MigrationState) -> &'static str {
    s.as_str()
}

/// One line of totals: `namespace  mapped/ids mapped  summary`.
fn total_line(t: &NamespaceTotal) -> String {
    let consent = if t.lost() == 0 {
        ""
    } else if t.allowed {
        "  (accepted: --allow-unmapped)"
    } else {
        "  (NOT accepted: needs --allow-unmapped)"
    };
    format!("  {:<34} {:>6} of {:>6} ids mapped; {}{consent}", t.namespace, t.mapped, t.ids, t.summary)
}

/// The checked migration on stderr, before the confirmation question.
pub fn migration_plan_to_stderr(c: &Checked) {
    eprintln!("migrating {} ({}) -> {}", c.header.source.base_url, c.header.source.deployment, c.target.base_url);
    for t in &c.totals {
        eprintln!("{}", total_line(t));
    }
    eprintln!("  {}", counts_line(&c.config.counts()));
    eprintln!("  {} reference(s) rewritten, {} without a mapping", c.rewritten, c.unmapped.len());
    if c.overwrites_cloud_changes {
        eprintln!("  the cloud configuration has changes that this run OVERWRITES (--overwrite-cloud-changes)");
    }
}

/// How many unmapped ids per namespace the human report lists.
const IDS_SHOWN: usize = 20;

/// `migrate` (and `migrate --dry-run`).
pub fn migrate(r: &MigrateReport, format: Format) {
    if let Some(refusal) = &r.refusal {
        eprintln!("error: {}", refusal.message);
    }
    if format == Format::Json {
        return json(r);
    }
    if quiet() {
        return;
    }
    for w in &r.warnings {
        eprintln!("{}", finding_line(w));
    }
    let verb = if r.dry_run { "dry run: would migrate" } else { "migrated" };
    println!("{verb} {} from {} ({}) to {}", r.input, r.source.base_url, r.source.deployment, r.target.base_url);
    println!("totals:");
    for t in &r.totals {
        println!("{}", total_line(t));
    }
    println!("  {}", counts_line(&r.counts));
    println!("  {} reference(s) rewritten to cloud ids", r.rewritten);
    for input in &r.mappings {
        let ns = input.namespace.as_deref().map_or_else(String::new, |ns| format!("{ns}="));
        println!("  mappings {ns}{}: {} document(s), {} mapping(s)", input.file, input.documents, input.entries);
    }
    if let Some(left) = &r.admins_left_behind {
        println!(
            "  the archive is a full backup: its {} admin user(s) and {} admin group(s) were not migrated",
            left.users, left.groups
        );
    }
    if !r.unmapped_summary.is_empty() {
        println!("  without a mapping (never guessed):");
        for (namespace, ids) in &r.unmapped_summary {
            let more = if ids.len() > IDS_SHOWN {
                format!(" ... {} more (--format json lists every one)", ids.len() - IDS_SHOWN)
            } else {
                String::new()
            };
            let shown: Vec<&str> = ids.iter().take(IDS_SHOWN).map(String::as_str).collect();
            println!("    {namespace:<34} {}{more}", shown.join(", "));
        }
    }
    for ignored in &r.ignored_namespaces {
        println!("  ignored mappings of {} ({} mapping(s)): {}", ignored.namespace, ignored.entries, ignored.reason);
    }
    if r.overwrote_cloud_changes {
        let verb = if r.dry_run { "would overwrite" } else { "overwrote" };
        println!("  {verb} changes made on the cloud (--overwrite-cloud-changes)");
    }
    if let Some(backup) = &r.safety_backup {
        println!("safety backup of the cloud configuration: {backup}");
    }
    match &r.content_digest_after {
        Some(after) => println!("content digest {} -> {after}", r.content_digest_before),
        None => println!("content digest {} (unchanged: nothing was written)", r.content_digest_before),
    }
    println!("status: {}", state(r.status));
    println!("next: {}", r.next_step);
}

/// `migration status`.
pub fn migration_status(r: &StatusReport, format: Format) {
    if format == Format::Json {
        return json(r);
    }
    if quiet() {
        return;
    }
    println!("status     {}", state(r.status));
    println!("store      {} ({}, {})", r.store, r.host.base_url, r.host.deployment);
    if let Some(reset) = &r.reset {
        println!(
            "reset      #{} at {} by {}",
            reset.id,
            reset.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            reset.os_user
        );
    }
    if let Some(run) = &r.last_run {
        let d = &run.detail;
        println!(
            "last run   #{} at {} by {} ({} run(s) since the last reset)",
            run.id,
            run.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            run.os_user,
            r.runs
        );
        println!(
            "source     server id {} ({}, {}, {})",
            d.source.server_id, d.source.base_url, d.source.deployment, d.source.fingerprint
        );
        println!(
            "archive    {} ({}, {})",
            d.input,
            name(&d.archive_scope),
            run.archive_digest.as_deref().unwrap_or("-")
        );
        println!("migrated   {}", counts_line(&d.counts));
        println!("digest     {} (admins aside)", d.migrated_content_digest);
        for t in &d.totals {
            println!("totals   {}", total_line(t));
        }
    }
    if let Some(a) = &r.admins_set {
        println!(
            "admins set #{} at {} by {}",
            a.id,
            a.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            a.os_user
        );
    }
    for p in &r.pending {
        let required = if p.required { "required" } else { "to check" };
        println!("pending    [{}, {required}] {}", p.code, p.message);
    }
}

/// `migration reset`.
pub fn migration_reset(r: &ResetReport, format: Format) {
    if format == Format::Json {
        return json(r);
    }
    if quiet() {
        return;
    }
    if !r.reset {
        println!("nothing to reset: {} records no migration since the last reset ({})", r.store, state(r.status));
        return;
    }
    let source = r
        .previous_source
        .as_ref()
        .map_or_else(String::new, |s| format!(" from server id {} ({})", s.server_id, s.base_url));
    println!("reset {}: forgot {} migration run(s){source}", r.store, r.runs_cleared);
    if let Some(backup) = &r.safety_backup {
        println!("safety backup of the site: {backup}");
    }
    println!("status: {}", state(r.status));
}

fn admins_lines(a: &ativo_backup::model::Admins) {
    if a.users.is_empty() && a.groups.is_empty() {
        println!("  no admins");
    }
    for u in &a.users {
        match (&u.account_id, &u.user_key) {
            (Some(id), _) => println!("  user  {id} (account id)"),
            (None, Some(key)) => println!("  user  {key} (user key)"),
            (None, None) => {}
        }
    }
    for g in &a.groups {
        match &g.group_id {
            Some(id) => println!("  group {} (id {id})", g.name),
            None => println!("  group {}", g.name),
        }
    }
}

/// `admins show`.
pub fn admins(r: &AdminsReport, format: Format) {
    if format == Format::Json {
        return json(r);
    }
    if quiet() {
        return;
    }
    println!("Ativo admins of {} ({}):", r.store, r.deployment);
    admins_lines(&r.admins);
    if r.migration_status == MigrationState::Incomplete {
        println!("migration status INCOMPLETE: `admins set` completes it");
    }
}

/// `admins set`.
pub fn admins_set(r: &SetAdminsReport, format: Format) {
    if format == Format::Json {
        return json(r);
    }
    if quiet() {
        return;
    }
    println!("saved the Ativo admins of {} ({}):", r.store, r.deployment);
    admins_lines(&r.after);
    println!("content digest {} -> {}", r.content_digest_before, r.content_digest_after);
    if r.migration_status != MigrationState::NotMigrated {
        println!("migration status: {}", state(r.migration_status));
        for p in r.pending.iter().filter(|p| p.required) {
            println!("  still required: [{}] {}", p.code, p.message);
        }
    }
}
