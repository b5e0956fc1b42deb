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

/// `println!` for human output: text from an archive or a store never drives the terminal.
macro_rules! say {
    ($($arg:tt)*) => {
        println!("{}", crate::render::terminal_safe(&format!($($arg)*), true))
    };
}

/// `eprintln!` for human output, as [`say!`].
macro_rules! tell {
    ($($arg:tt)*) => {
        eprintln!("{}", crate::render::terminal_safe(&format!($($arg)*), true))
    };
}

/// `s` with every character that could drive a terminal escaped, as git and systemd do when
/// they print names they did not choose: C0 controls (`\x1b`), DEL, C1 controls and the
/// bidirectional controls U+202A..U+202E and U+2066..U+2069 (`\u{202e}`), which can rewrite what
/// a line seems to say. With `keep_newlines`, a line feed stays (our own multi-line text); without,
/// it is escaped too (a value printed inside a line). JSON output is never passed through this:
/// it stays exact.
pub fn terminal_safe(s: &str, keep_newlines: bool) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && !(keep_newlines && c == '\n'))
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !unsafe_char(c) {
            out.push(c);
        } else if u32::from(c) < 0x80 {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            out.push_str(&format!("\\u{{{:04x}}}", u32::from(c)));
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A value from an archive or a store, printed inside a line: nothing in it drives the terminal,
/// not even a line feed.
fn text(s: &str) -> std::borrow::Cow<'_, str> {
    terminal_safe(s, false)
}

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--quiet`: human reports are not printed (errors and JSON still are).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

static VERBOSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--verbose`: human reports say more (why an archive was read whole, say).
pub fn set_verbose(verbose: bool) {
    VERBOSE.store(verbose, std::sync::atomic::Ordering::Relaxed);
}

fn verbose() -> bool {
    VERBOSE.load(std::sync::atomic::Ordering::Relaxed)
}

fn json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot render the report as JSON: {e}"),
    }
}

/// An error: message on stderr; with `--format json`, a JSON object on stdout too.
pub fn error(error: &Error, format: Format) {
    tell!("error: {error}");
    if let Error::Invalid { findings, .. } = error {
        for f in findings.iter().take(50) {
            tell!("  {}", finding_line(f));
        }
        if findings.len() > 50 {
            tell!("  ... and {} more (use --format json for all)", findings.len() - 50);
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
    say!("created store {} for {}", r.store, r.host.base_url);
    say!("  fingerprint {}", r.fingerprint);
    say!("  holds {}", counts_line(&r.counts));
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
    say!("store       {location}");
    say!("base url    {}", text(&h.identity.base_url));
    say!("deployment  {}", h.identity.deployment);
    say!("server id   {}", text(&h.identity.server_id));
    say!("fingerprint {}", h.identity.fingerprint());
    for alias in &h.aliases {
        say!("alias       {alias}");
    }
}

/// `export`.
pub fn export(r: &ExportReport, format: Format) {
    for warning in &r.warnings {
        tell!("warning: {warning}");
    }
    if format != Format::Json {
        for f in &r.findings {
            tell!("{}", finding_line(f));
        }
        let errors = r.findings.iter().filter(|f| f.is_error()).count();
        if errors > 0 {
            tell!(
                "warning: the configuration breaks {errors} semantic rule(s) of SPEC.md section 10; the archive was written all the same (a backup is never refused for its content) and restores with `import --allow-invalid`"
            );
        }
    }
    if format == Format::Json {
        // With `-o -` stdout carries the archive: the report must not be appended to it.
        if r.to_stdout {
            return match serde_json::to_string_pretty(r) {
                Ok(text) => eprintln!("{text}"),
                Err(e) => tell!("error: cannot render the report as JSON: {e}"),
            };
        }
        return json(r);
    }
    if quiet() {
        return;
    }
    // With `-o -` the archive is on stdout: the summary goes to stderr.
    let text = format!(
        "wrote {} ({} bytes, {}, scope {}), {}\n  {}\n  content digest   {}\n  integrity digest {}",
        r.path,
        r.bytes,
        name(&r.encoding),
        name(&r.scope),
        if r.read_back { "verified by reading it back" } else { "verified before it was copied there" },
        counts_line(&r.counts),
        r.content_digest,
        r.integrity_digest
    );
    if r.to_stdout {
        // The archive itself is on stdout.
        tell!("{text}")
    } else {
        say!("{text}")
    }
    for removed in &r.removed {
        say!("  removed older archive {removed} (--keep)");
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
                let keys: Vec<_> = keys.iter().map(|k| text(k)).collect();
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
    tell!("changes:");
    for line in plan_lines(plan) {
        tell!("{line}");
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
        tell!("{}", finding_line(w));
    }
    if let Some(why) = r.read_whole.as_ref().filter(|_| verbose()) {
        tell!("note: {} was read whole, not streamed: {why}", r.input);
    }
    let only = if r.only.is_empty() { String::new() } else { format!(" --only {}", r.only.join(" --only ")) };
    if r.dry_run {
        say!(
            "dry run: {}{only} passed every check (host matched by {}); importing it would change:",
            r.input,
            r.host_match
        );
    } else {
        say!("imported {}{only} (host matched by {}); changes:", r.input, r.host_match);
    }
    if r.allowed_errors > 0 {
        say!("  {} semantic error(s) let through by --allow-invalid (listed above)", r.allowed_errors);
    }
    for line in plan_lines(&r.plan) {
        say!("{line}");
    }
    if let Some(backup) = &r.safety_backup {
        say!("safety backup of the replaced configuration: {backup}");
    }
    for note in &r.safety_backup_notes {
        say!("  note: {note}");
    }
    say!("content digest {} -> {}", r.content_digest_before, r.content_digest_after);
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
                    say!(
                        "::{level} file={},title={}::{}",
                        escape_property(&file.file),
                        escape_property(f.code),
                        escape_data(&format!("{} {} (hint: {})", f.pointer, f.message, f.hint))
                    );
                }
            }
            let failed = r.files.iter().filter(|f| !f.ok).count();
            say!("{} file(s) checked, {} failed, exit code {}", r.files.len(), failed, r.exit_code);
        }
        Format::Human => {
            if quiet() {
                return;
            }
            for file in &r.files {
                if file.ok {
                    let counts = file.counts.as_ref().map(counts_line).unwrap_or_default();
                    say!("ok    {} ({counts})", file.file);
                } else {
                    say!("FAIL  {} (exit {})", file.file, file.exit_code);
                }
                for f in &file.findings {
                    say!("      {}", finding_line(f));
                }
                if let Some(why) = file.read_whole.as_ref().filter(|_| verbose()) {
                    say!("      read whole, not streamed: {why}");
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
    say!("file             {}", r.file);
    say!("format version   {}", r.format_version);
    say!("created at       {}", h.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    say!("tool             {} {}", text(&h.tool.name), text(&h.tool.version));
    say!("scope            {}", name(&h.scope));
    say!(
        "source           {} ({}, server id {})",
        text(&h.source.base_url),
        h.source.deployment,
        text(&h.source.server_id)
    );
    say!("fingerprint      {}", h.source.fingerprint);
    if !r.fingerprint_consistent {
        say!(
            "warning          the fingerprint does not match the host fields beside it: the header was edited (import refuses it)"
        );
    }
    say!("content digest   {}", h.content_digest);
    say!("integrity digest {} (verified)", h.integrity_digest);
    say!("counts           {}", counts_line(&h.counts));
    for t in &h.api_tokens {
        say!(
            "api token        {} (created {} by {}; not restored)",
            text(&t.name),
            text(&t.created_at),
            text(&t.created_by)
        );
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
    say!("from {} ({})", r.from, r.from_digest);
    if r.only.is_empty() {
        say!("to   {} ({})", r.to, r.to_digest);
    } else {
        say!("to   {} restored from {} ({})", r.from, r.to, r.to_digest);
        say!("only {}", r.only.join(", "));
    }
    for line in plan_lines(&r.plan) {
        say!("{line}");
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
        say!("the operations log is empty");
    }
    for op in ops {
        let digest = op.archive_digest.as_deref().or(op.content_digest.as_deref()).unwrap_or("-");
        // A selective import names its selectors.
        let only = match op.detail.get("only").and_then(|o| o.as_array()) {
            Some(list) => {
                let names: Vec<&str> = list.iter().filter_map(|s| s.as_str()).collect();
                format!(" --only {}", text(&names.join(" --only ")))
            }
            None => String::new(),
        };
        say!(
            "{:>5}  {}  {:<12} {:<10} {:<8} {}{only}",
            op.id,
            op.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            text(op.kind.as_str()),
            text(&op.os_user),
            text(op.outcome.as_str()),
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
    say!("{} ({scope} archive from {}, {})", r.input, r.source.base_url, r.source.deployment);
    if r.namespaces.is_empty() {
        say!("  refers to no Jira object");
    }
    for count in &r.namespaces {
        let required = if count.required { "  (required before migrate)" } else { "" };
        say!("  {:<34} {:>6} id(s), {} use(s){required}", count.namespace, count.ids, count.uses);
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
        say!("      {}{more}", shown.join(", "));
        say!("      unmapped: {}", count.if_unmapped);
    }
    if !r.references.system_fields.is_empty() {
        let fields: Vec<&str> = r.references.system_fields.iter().map(String::as_str).collect();
        say!("  system fields (same id on cloud, no mapping needed): {}", fields.join(", "));
    }
    if !r.references.groups.is_empty() {
        let groups: Vec<&str> = r.references.groups.iter().map(String::as_str).collect();
        say!("  supplier groups (kept by name, no mapping needed): {}", groups.join(", "));
    }
    say!("  admins are never migrated: set them on the cloud site with `admins set` afterwards");
    say!(
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
    tell!("migrating {} ({}) -> {}", c.header.source.base_url, c.header.source.deployment, c.target.base_url);
    for t in &c.totals {
        tell!("{}", total_line(t));
    }
    tell!("  {}", counts_line(&c.config.counts()));
    tell!("  {} reference(s) rewritten, {} without a mapping", c.rewritten, c.unmapped.len());
    if c.overwrites_cloud_changes {
        tell!("  the cloud configuration has changes that this run OVERWRITES (--overwrite-cloud-changes)");
    }
}

/// How many unmapped ids per namespace the human report lists.
const IDS_SHOWN: usize = 20;

/// `migrate` (and `migrate --dry-run`).
pub fn migrate(r: &MigrateReport, format: Format) {
    if let Some(refusal) = &r.refusal {
        tell!("error: {}", refusal.message);
    }
    if format == Format::Json {
        return json(r);
    }
    if quiet() {
        return;
    }
    for w in &r.warnings {
        tell!("{}", finding_line(w));
    }
    let verb = if r.dry_run { "dry run: would migrate" } else { "migrated" };
    say!("{verb} {} from {} ({}) to {}", r.input, r.source.base_url, r.source.deployment, r.target.base_url);
    say!("totals:");
    for t in &r.totals {
        say!("{}", total_line(t));
    }
    say!("  {}", counts_line(&r.counts));
    say!("  {} reference(s) rewritten to cloud ids", r.rewritten);
    for input in &r.mappings {
        let ns = input.namespace.as_deref().map_or_else(String::new, |ns| format!("{ns}="));
        say!("  mappings {ns}{}: {} document(s), {} mapping(s)", input.file, input.documents, input.entries);
    }
    if let Some(left) = &r.admins_left_behind {
        say!(
            "  the archive is a full backup: its {} admin user(s) and {} admin group(s) were not migrated",
            left.users,
            left.groups
        );
    }
    if !r.unmapped_summary.is_empty() {
        say!("  without a mapping (never guessed):");
        for (namespace, ids) in &r.unmapped_summary {
            let more = if ids.len() > IDS_SHOWN {
                format!(" ... {} more (--format json lists every one)", ids.len() - IDS_SHOWN)
            } else {
                String::new()
            };
            let shown: Vec<&str> = ids.iter().take(IDS_SHOWN).map(String::as_str).collect();
            say!("    {namespace:<34} {}{more}", shown.join(", "));
        }
    }
    for ignored in &r.ignored_namespaces {
        say!("  ignored mappings of {} ({} mapping(s)): {}", ignored.namespace, ignored.entries, ignored.reason);
    }
    if r.overwrote_cloud_changes {
        let verb = if r.dry_run { "would overwrite" } else { "overwrote" };
        say!("  {verb} changes made on the cloud (--overwrite-cloud-changes)");
    }
    if let Some(backup) = &r.safety_backup {
        say!("safety backup of the cloud configuration: {backup}");
    }
    match &r.content_digest_after {
        Some(after) => say!("content digest {} -> {after}", r.content_digest_before),
        None => say!("content digest {} (unchanged: nothing was written)", r.content_digest_before),
    }
    say!("status: {}", state(r.status));
    say!("next: {}", r.next_step);
}

/// `migration status`.
pub fn migration_status(r: &StatusReport, format: Format) {
    if format == Format::Json {
        return json(r);
    }
    if quiet() {
        return;
    }
    say!("status     {}", state(r.status));
    say!("store      {} ({}, {})", r.store, r.host.base_url, r.host.deployment);
    if let Some(reset) = &r.reset {
        say!(
            "reset      #{} at {} by {}",
            reset.id,
            reset.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            reset.os_user
        );
    }
    if let Some(run) = &r.last_run {
        let d = &run.detail;
        say!(
            "last run   #{} at {} by {} ({} run(s) since the last reset)",
            run.id,
            run.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            run.os_user,
            r.runs
        );
        say!(
            "source     server id {} ({}, {}, {})",
            d.source.server_id,
            d.source.base_url,
            d.source.deployment,
            d.source.fingerprint
        );
        say!("archive    {} ({}, {})", d.input, name(&d.archive_scope), run.archive_digest.as_deref().unwrap_or("-"));
        say!("migrated   {}", counts_line(&d.counts));
        say!("digest     {} (admins aside)", d.migrated_content_digest);
        for t in &d.totals {
            say!("totals   {}", total_line(t));
        }
    }
    if let Some(a) = &r.admins_set {
        say!("admins set #{} at {} by {}", a.id, a.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), a.os_user);
    }
    for p in &r.pending {
        let required = if p.required { "required" } else { "to check" };
        say!("pending    [{}, {required}] {}", p.code, p.message);
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
        say!("nothing to reset: {} records no migration since the last reset ({})", r.store, state(r.status));
        return;
    }
    let source = r
        .previous_source
        .as_ref()
        .map_or_else(String::new, |s| format!(" from server id {} ({})", s.server_id, s.base_url));
    say!("reset {}: forgot {} migration run(s){source}", r.store, r.runs_cleared);
    if let Some(backup) = &r.safety_backup {
        say!("safety backup of the site: {backup}");
    }
    say!("status: {}", state(r.status));
}

fn admins_lines(a: &ativo_backup::model::Admins) {
    if a.users.is_empty() && a.groups.is_empty() {
        say!("  no admins");
    }
    for u in &a.users {
        match (&u.account_id, &u.user_key) {
            (Some(id), _) => say!("  user  {id} (account id)"),
            (None, Some(key)) => say!("  user  {key} (user key)"),
            (None, None) => {}
        }
    }
    for g in &a.groups {
        match &g.group_id {
            Some(id) => say!("  group {} (id {id})", g.name),
            None => say!("  group {}", g.name),
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
    say!("Ativo admins of {} ({}):", r.store, r.deployment);
    admins_lines(&r.admins);
    if r.migration_status == MigrationState::Incomplete {
        say!("migration status INCOMPLETE: `admins set` completes it");
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
    say!("saved the Ativo admins of {} ({}):", r.store, r.deployment);
    admins_lines(&r.after);
    say!("content digest {} -> {}", r.content_digest_before, r.content_digest_after);
    if r.migration_status != MigrationState::NotMigrated {
        say!("migration status: {}", state(r.migration_status));
        for p in r.pending.iter().filter(|p| p.required) {
            say!("  still required: [{}] {}", p.code, p.message);
        }
    }
}
