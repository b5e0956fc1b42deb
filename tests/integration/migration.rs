//! Server / Data Center to cloud migration, through the real binary: the documented flow end to
//! end, every refusal (exit 8, cloud store untouched), consent to losses, dry runs, re-runs and
//! idempotence, the source identified by its server id, rollback and reset, the status and its
//! pending items, two runs at once, and the admins never carried over. The shapes of the
//! mappings are in `migration_mappings.rs`, the large sample's multi-page run in
//! `migration_large.rs`.

use crate::migration_common;

use std::collections::BTreeSet;
use std::path::Path;

use migration_common::*;
use serde_json::{Value, json};

#[test]
fn the_documented_flow_ends_complete_with_every_id_rewritten_and_no_admin_carried_over() {
    let s = scene();
    assert_eq!(status(&s.cloud)["status"], "NOT_MIGRATED");
    assert_eq!(pending_codes(&status(&s.cloud)), ["migration.not-run"]);
    let skeleton = s.skeleton.as_object().unwrap();
    for ns in [PROJECT, FILTER, SPRINT, ISSUE] {
        assert!(skeleton[ns].as_object().unwrap().values().all(Value::is_null), "{ns}");
    }
    assert!(!skeleton.contains_key("identity:user"), "no migrated member refers to a user");
    assert!(!skeleton.contains_key("identity:group"), "supplier groups are kept by name");

    let out = migrate(&s, &s.archive, &s.mappings).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    // The totals come first (after the version, the kind of run and the status).
    assert!(text.find("\"totals\"").unwrap() < text.find("\"input\"").unwrap(), "{text}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["report_version"], 1);
    assert_eq!(report["dry_run"], false);
    assert_eq!(report["status"], "INCOMPLETE");
    assert!(report["next_step"].as_str().unwrap().contains("admins set --user ACCOUNT_ID --group NAME"));
    assert_eq!(report["unmapped"], json!([]));
    // The totals account for every namespace the configuration uses.
    let totals: Vec<&str> =
        report["totals"].as_array().unwrap().iter().map(|t| t["namespace"].as_str().unwrap()).collect();
    assert_eq!(totals, skeleton.keys().map(String::as_str).collect::<Vec<_>>());
    assert!(report["totals"].as_array().unwrap().iter().all(|t| t["mapped"] == t["ids"] && t["unmapped"] == 0));
    assert!(Path::new(report["safety_backup"].as_str().unwrap()).is_absolute());
    assert!(Path::new(report["safety_backup"].as_str().unwrap()).exists());
    assert_eq!(report["content_digest_after"].as_str().unwrap(), digest(&s.cloud));

    let st = status(&s.cloud);
    assert_eq!(st["report_version"], 1);
    assert_eq!(st["status"], "INCOMPLETE");
    assert_eq!(st["last_run"]["detail"]["source"]["base_url"], DC_URL);
    assert_eq!(
        st["pending"],
        json!([{
            "code": "admins.not-set",
            "required": true,
            "message": report["next_step"],
        }])
    );

    // No server-side id is left anywhere a mapping exists: every id is a cloud one.
    let data = exported_data(&s.cloud, s.dir.path());
    let cloud_ids: BTreeSet<String> =
        skeleton.values().flat_map(|ids| ids.as_object().unwrap().keys().map(|id| cloud_of(id))).collect();
    let found = ids_in_data(&data);
    assert!(found.len() > 300, "the scan found {} ids", found.len());
    for id in &found {
        assert!(cloud_ids.contains(id) || id == "labels", "server id {id} left in the cloud configuration");
    }
    // The keys embedded in Jira field values are kept exactly, and so are supplier group names.
    let dc_data = exported_data(&s.dc, s.dir.path());
    let keys = |d: &Value, kind: &str| -> Vec<Value> {
        d[kind].as_array().unwrap().iter().map(|e| e["key"].clone()).collect()
    };
    for kind in ["teams", "programs", "periods", "pis"] {
        assert_eq!(keys(&data, kind), keys(&dc_data, kind), "{kind}");
    }
    assert_eq!(data["settings"]["supplier_groups"], dc_data["settings"]["supplier_groups"]);
    // The admins were not carried over: the cloud has none until they are set.
    assert_eq!(data["admins"], json!({ "groups": [], "users": [] }));
    assert_eq!(dc_data["admins"]["users"].as_array().unwrap().len(), 3);

    let set =
        json_of(on(&s.cloud).args(["--format", "json", "admins", "set", "--user", ACCOUNT, "--group", "ativo-admins"]));
    assert_eq!(set["migration_status"], "COMPLETE");
    let st = status(&s.cloud);
    assert_eq!(st["status"], "COMPLETE");
    assert!(st["pending"].as_array().unwrap().is_empty(), "{st}");
    let shown = json_of(on(&s.cloud).args(["--format", "json", "admins", "show"]));
    assert_eq!(shown["admins"]["users"], json!([{ "account_id": ACCOUNT }]));
}

#[test]
fn the_same_archive_and_mappings_twice_give_the_same_cloud_digest_and_the_admins_survive() {
    let s = scene();
    migrate(&s, &s.archive, &s.mappings).assert().success();
    on(&s.cloud).args(["admins", "set", "--user", ACCOUNT, "--group", "ativo-admins"]).assert().success();
    let first = digest(&s.cloud);
    // Setting the admins is not a "cloud change": a re-run is allowed, and keeps them.
    let report = json_of(&mut migrate(&s, &s.archive, &s.mappings));
    assert_eq!(report["overwrote_cloud_changes"], false);
    assert_eq!(digest(&s.cloud), first, "idempotent");
    assert_eq!(report["content_digest_before"], report["content_digest_after"]);
    // A new run needs the admins confirmed again.
    assert_eq!(status(&s.cloud)["status"], "INCOMPLETE");
    assert_eq!(status(&s.cloud)["runs"], 2);
    let shown = json_of(on(&s.cloud).args(["--format", "json", "admins", "show"]));
    assert_eq!(shown["admins"]["groups"], json!([{ "name": "ativo-admins" }]));
}

#[test]
fn a_full_archive_is_migrated_without_its_admins() {
    let s = scene();
    let full = s.dir.path().join("full.json.zst");
    on(&s.dc).arg("export").arg("-o").arg(&full).assert().success();
    on(&s.cloud).args(["admins", "set", "--user", "5b10ac8d82e05b22cc7d4ef5"]).assert().success();
    let report = json_of(&mut migrate(&s, &full, &s.mappings));
    assert_eq!(report["admins_left_behind"], json!({ "users": 3, "groups": 2 }));
    let data = exported_data(&s.cloud, s.dir.path());
    assert_eq!(data["admins"], json!({ "groups": [], "users": [{ "account_id": "5b10ac8d82e05b22cc7d4ef5" }] }));
}

#[test]
fn sprints_of_mapped_boards_are_required_like_boards() {
    // Regression (issue 20): with only part of the sprint mappings, migrate exited 0 and dropped
    // them. A board's sprints move with it: a missing one is a missing page, refused.
    let s = scene();
    let partial = s.dir.path().join("no-sprints.json");
    write_json(&partial, &fill(&s.skeleton, &[SPRINT]));
    let before = (digest(&s.cloud), log_len(&s.cloud));
    let stderr = refused(
        migrate(&s, &s.archive, &partial).arg("--allow-unmapped").arg("all"),
        &["sprint(s) of mapped boards have no mapping in jira/classic/software:sprint", ", board ", "give every page"],
    );
    // Listed in numeric order.
    let listed: Vec<u64> = stderr
        .split("software:sprint: ")
        .nth(1)
        .unwrap()
        .split(", ")
        .filter_map(|part| part.split(' ').next()?.parse().ok())
        .collect();
    assert!(listed.len() > 5 && listed.windows(2).all(|w| w[0] < w[1]), "{listed:?}");
    assert_eq!((digest(&s.cloud), log_len(&s.cloud)), before);
}

#[test]
fn dropping_anything_needs_consent_naming_the_namespace() {
    let s = scene();
    let partial = s.dir.path().join("partial.json");
    // Epics and saved filters without mappings: nothing required, but both are losses.
    write_json(&partial, &fill(&s.skeleton, &[ISSUE, FILTER]));
    let before = (digest(&s.cloud), log_len(&s.cloud));
    let epics = ids(&s.skeleton, ISSUE).len();
    let stderr = refused(
        &mut migrate(&s, &s.archive, &partial),
        &[
            "would be lost, and nobody accepted it",
            &format!("jira:issue: {epics} of {epics} ids unmapped"),
            "objective epics dropped",
            "jira:filter:",
            "--allow-unmapped jira:filter --allow-unmapped jira:issue",
        ],
    );
    assert!(stderr.contains("saved-filter scopes unmapped: their scope filters select nothing"), "{stderr}");
    // Accepting one namespace is not enough; the other is still named.
    let stderr = refused(migrate(&s, &s.archive, &partial).args(["--allow-unmapped", ISSUE]), &["jira:filter:"]);
    assert!(!stderr.contains("jira:issue:"), "{stderr}");
    assert_eq!((digest(&s.cloud), log_len(&s.cloud)), before);

    let report =
        json_of(migrate(&s, &s.archive, &partial).args(["--allow-unmapped", ISSUE, "--allow-unmapped", FILTER]));
    assert_eq!(report["allowed_unmapped"], json!([FILTER, ISSUE]));
    let issue = report["totals"].as_array().unwrap().iter().find(|t| t["namespace"] == ISSUE).unwrap();
    assert_eq!(issue["unmapped"], epics);
    assert_eq!(issue["mapped"], 0);
    assert_eq!(issue["allowed"], true);
    assert_eq!(issue["outcomes"], json!({ "dropped": issue["uses"] }));
    assert_eq!(report["unmapped_summary"][ISSUE].as_array().unwrap().len(), epics);
    // Unmapped ids are listed in numeric order.
    let listed: Vec<u64> = report["unmapped_summary"][ISSUE]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().parse().unwrap())
        .collect();
    assert!(listed.windows(2).all(|w| w[0] < w[1]), "{listed:?}");

    // Dropped references stay pending, with counts, but do not keep the migration INCOMPLETE.
    on(&s.cloud).args(["admins", "set", "--group", "ativo-admins"]).assert().success();
    let st = status(&s.cloud);
    assert_eq!(st["status"], "COMPLETE", "{st}");
    let dropped: Vec<&Value> =
        st["pending"].as_array().unwrap().iter().filter(|p| p["code"] == "references.dropped").collect();
    assert_eq!(dropped.len(), 2, "{st}");
    let issue_pending = dropped.iter().find(|p| p["namespace"] == ISSUE).unwrap();
    assert_eq!(
        (issue_pending["count"].clone(), issue_pending["of"].clone(), issue_pending["required"].clone()),
        (issue["uses"].clone(), issue["uses"].clone(), json!(false))
    );
    // `all` accepts every loss; the required namespaces cannot be accepted.
    migrate(&s, &s.archive, &partial).args(["--allow-unmapped", "all"]).assert().success();
    fails(
        migrate(&s, &s.archive, &partial).args(["--allow-unmapped", PROJECT]),
        2,
        &["cannot be accepted: they are required"],
    );
}

#[test]
fn a_dry_run_shows_the_totals_and_writes_nothing_not_even_the_log() {
    let s = scene();
    let partial = s.dir.path().join("partial.json");
    write_json(&partial, &fill(&s.skeleton, &[ISSUE]));
    let before = (digest(&s.cloud), log_len(&s.cloud));
    let out = migrate(&s, &s.archive, &partial).arg("--dry-run").output().unwrap();
    assert_eq!(out.status.code(), Some(8), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["refusal"]["exit_code"], 8);
    assert!(report["refusal"]["message"].as_str().unwrap().contains("--allow-unmapped jira:issue"));
    assert_eq!(report["safety_backup"], Value::Null);
    assert_eq!(report["content_digest_after"], Value::Null);
    assert!(
        report["totals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["namespace"] == ISSUE && t["unmapped"].as_u64() > Some(0))
    );

    let report = json_of(migrate(&s, &s.archive, &partial).args(["--dry-run", "--allow-unmapped", ISSUE]));
    assert_eq!(report["dry_run"], true);
    assert!(report.get("refusal").is_none(), "{report}");
    assert_eq!(report["status"], "NOT_MIGRATED");
    // Human output: the totals first.
    let out = on(&s.cloud)
        .args(["migrate", "--dry-run", "--allow-unmapped", ISSUE, "--mappings"])
        .arg(&partial)
        .arg(&s.archive)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with("dry run: would migrate") && text.lines().nth(1) == Some("totals:"), "{text}");
    assert!(text.contains("objective epics dropped  (accepted: --allow-unmapped)"), "{text}");
    assert_eq!((digest(&s.cloud), log_len(&s.cloud)), before, "a dry run writes nothing");
    assert!(!s.dir.path().join("safety").exists(), "no safety backup either");
    assert!(!s.cloud.parent().unwrap().join("ativo-safety-backups").exists());
}

#[test]
fn refused_when_the_target_is_not_a_cloud_site() {
    let s = scene();
    let before = digest(&s.dc);
    let mut cmd = on(&s.dc);
    cmd.arg("migrate").arg(&s.archive).arg("--mappings").arg(&s.mappings).arg("--yes");
    refused(&mut cmd, &["is a datacenter store", "--deployment cloud"]);
    assert_eq!(digest(&s.dc), before);
}

#[test]
fn refused_when_the_archive_comes_from_a_cloud_site() {
    let s = scene();
    let other = s.dir.path().join("other-cloud.db");
    init(&other, "cloud", "other-cloud", "https://other.atlassian.net", Some("demo"));
    let archive = s.dir.path().join("cloud.json.zst");
    on(&other).args(["export", "--scope", "migration", "-o"]).arg(&archive).assert().success();
    let before = digest(&s.cloud);
    refused(&mut migrate(&s, &archive, &s.mappings), &["exported from a cloud site", "https://other.atlassian.net"]);
    assert_eq!(digest(&s.cloud), before);
}

#[test]
fn refused_listing_every_unmapped_project_with_the_documented_rule() {
    let s = scene();
    let partial = s.dir.path().join("no-projects.json");
    write_json(&partial, &fill(&s.skeleton, &[PROJECT]));
    let before = digest(&s.cloud);
    let stderr = refused(
        migrate(&s, &s.archive, &partial).args(["--allow-unmapped", "all"]),
        &[
            "Jira project(s) used by the configuration have no mapping",
            "after all Jira projects used in Ativo are migrated",
            "run it again afterwards",
        ],
    );
    for id in ids(&s.skeleton, PROJECT) {
        assert!(stderr.contains(&format!("(id {id})")), "project {id} not listed: {stderr}");
    }
    assert!(stderr.contains("RET (id "), "project keys are named: {stderr}");
    assert_eq!(digest(&s.cloud), before);
    assert_eq!(status(&s.cloud)["status"], "NOT_MIGRATED");
}

/// Renames a team on the cloud site, as an edit in Ativo there would.
fn edit_on_the_cloud(store: &Path) {
    let location = ativo_backup::store::Location::Sqlite(store.to_path_buf());
    let mut store = ativo_backup::store::open(&location).unwrap();
    store
        .replace(&mut |current| {
            let mut config = current.config.clone();
            config.teams[0].name = "Renamed on the cloud".into();
            let op = ativo_backup::store::Operation {
                id: 0,
                at: chrono::Utc::now(),
                kind: "edit".into(),
                os_user: "test".into(),
                archive_digest: None,
                content_digest: None,
                outcome: "ok".into(),
                detail: json!({}),
            };
            Ok((config, op))
        })
        .unwrap();
}

#[test]
fn refused_when_the_cloud_changed_since_the_last_run_unless_overwriting() {
    let s = scene();
    migrate(&s, &s.archive, &s.mappings).assert().success();
    edit_on_the_cloud(&s.cloud);
    let changed = digest(&s.cloud);
    let st = status(&s.cloud);
    assert!(st["changed_since_last_run"].as_bool().unwrap());
    assert!(pending_codes(&st).contains(&"cloud.changed".to_owned()), "{st}");
    refused(
        &mut migrate(&s, &s.archive, &s.mappings),
        &[
            "changed since the last migration run #",
            "Do not run a migration of Ativo Programs data when you already started to make changes in Ativo on the cloud. The migration overwrites the configuration changes each time.",
            "--overwrite-cloud-changes",
        ],
    );
    assert_eq!(digest(&s.cloud), changed);
    let report = json_of(migrate(&s, &s.archive, &s.mappings).arg("--overwrite-cloud-changes"));
    assert_eq!(report["overwrote_cloud_changes"], true);
    assert_ne!(digest(&s.cloud), changed);
    // The safety backup holds the overwritten cloud change.
    let backup = report["safety_backup"].as_str().unwrap();
    let inspected = json_of(bin().args(["--format", "json", "inspect", backup]));
    assert_eq!(inspected["header"]["content_digest"].as_str().unwrap(), changed);
}

#[test]
fn refused_when_the_cloud_holds_configuration_no_migration_wrote() {
    let s = scene();
    let busy = s.dir.path().join("busy-cloud.db");
    init(&busy, "cloud", CLOUD_ID, CLOUD_URL, Some("demo"));
    let before = digest(&busy);
    let mut cmd = on(&busy);
    cmd.arg("migrate").arg(&s.archive).arg("--mappings").arg(&s.mappings).arg("--yes");
    refused(&mut cmd, &["already holds Ativo configuration that no migration wrote", "Do not run a migration"]);
    assert_eq!(digest(&busy), before);
}

/// A second Data Center-side store with the demo sample, and its migration archive.
fn other_source(s: &Scene, deployment: &str, id: &str, url: &str) -> std::path::PathBuf {
    let store = s.dir.path().join(format!("{id}-{deployment}.db"));
    init(&store, deployment, id, url, Some("demo"));
    let archive = s.dir.path().join(format!("{id}-{deployment}.json.zst"));
    on(&store).args(["export", "--scope", "migration", "-o"]).arg(&archive).assert().success();
    archive
}

#[test]
fn refused_when_the_site_holds_configuration_from_another_server_naming_both_server_ids() {
    let s = scene();
    migrate(&s, &s.archive, &s.mappings).assert().success();
    let archive = other_source(&s, "server", "OTHER-SERVER", "https://jira.other.example.com");
    let before = digest(&s.cloud);
    // Even --overwrite-cloud-changes does not merge two servers into one site.
    refused(
        migrate(&s, &archive, &s.mappings).arg("--overwrite-cloud-changes"),
        &[
            "migrated from another Jira server",
            &format!("server id {DC_ID} ({DC_URL}"),
            "this archive comes from server id OTHER-SERVER (https://jira.other.example.com",
            "identified by its Jira server id",
        ],
    );
    assert_eq!(digest(&s.cloud), before);
}

#[test]
fn the_same_server_after_a_new_base_url_or_an_upgrade_to_data_center_is_the_same_source() {
    // Regression (issue 20): the source was compared by fingerprint (base URL and deployment
    // included), which locked the site out of its own server after a legitimate change.
    let s = scene();
    migrate(&s, &s.archive, &s.mappings).assert().success();
    // The same Data Center, moved to a new URL (the old identity kept as an alias).
    on(&s.dc).args(["host", "set-base-url", "https://jira.new.example.com", "--keep-alias"]).assert().success();
    let moved = s.dir.path().join("moved.json.zst");
    on(&s.dc).args(["export", "--scope", "migration", "-o"]).arg(&moved).assert().success();
    let report = json_of(&mut migrate(&s, &moved, &s.mappings));
    assert_eq!(report["source"]["base_url"], "https://jira.new.example.com");
    assert_eq!(report["overwrote_cloud_changes"], false);
    // The same installation as Jira Server before its upgrade (same server id, its old URL, the
    // server id typed in lower case).
    let server = other_source(&s, "server", &DC_ID.to_lowercase(), "https://jira-old.example.com");
    migrate(&s, &server, &s.mappings).assert().success();
    assert_eq!(status(&s.cloud)["runs"], 3);
}

#[test]
fn a_rolled_back_site_says_so_and_a_reset_lets_another_server_migrate_onto_it() {
    let s = scene();
    let first = json_of(&mut migrate(&s, &s.archive, &s.mappings));
    // A reset is refused while the site holds what a migration wrote; the message says how back.
    let backup = first["safety_backup"].as_str().unwrap();
    refused(
        on(&s.cloud).args(["migration", "reset", "--yes"]),
        &["still holds Ativo configuration migrated from server id", backup],
    );
    // Rolled back by importing the safety backup of the first run: the site is empty again.
    on(&s.cloud).args(["import", "--yes", backup]).assert().success();
    let st = status(&s.cloud);
    assert_eq!(st["status"], "ROLLED_BACK");
    assert_eq!(pending_codes(&st), ["migration.rolled-back", "admins.not-set"]);
    // Setting the admins does not complete a migration that is not there any more.
    on(&s.cloud).args(["admins", "set", "--user", ACCOUNT]).assert().success();
    assert_eq!(status(&s.cloud)["status"], "ROLLED_BACK");
    // Another server is refused, and the message points at the reset.
    let archive = other_source(&s, "datacenter", "PRODUCTION-ID", "https://jira.prod.example.com");
    refused(&mut migrate(&s, &archive, &s.mappings), &["server id PRODUCTION-ID", "migration reset"]);
    // The reset needs a confirmation; a script says --yes.
    let before = log_len(&s.cloud);
    fails(
        on(&s.cloud).args(["migration", "reset"]),
        2,
        &["forget the 1 migration run(s) from server id", "re-run with --yes"],
    );
    assert_eq!(log_len(&s.cloud), before);
    let reset = json_of(
        on(&s.cloud)
            .args(["--format", "json", "migration", "reset", "--yes"])
            .arg("--safety-dir")
            .arg(s.dir.path().join("reset-safety")),
    );
    assert_eq!(reset["reset"], true);
    assert_eq!(reset["runs_cleared"], 1);
    assert_eq!(reset["status"], "NOT_MIGRATED");
    assert!(Path::new(reset["safety_backup"].as_str().unwrap()).exists());
    let log = json_of(on(&s.cloud).args(["--format", "json", "log"]));
    let entry = log.as_array().unwrap().last().unwrap();
    assert_eq!(entry["kind"], "migration-reset");
    assert_eq!(entry["detail"]["previous_source"]["server_id"], DC_ID);
    // Now another server migrates onto the site.
    migrate(&s, &archive, &s.mappings).assert().success();
    let st = status(&s.cloud);
    assert_eq!(st["last_run"]["detail"]["source"]["server_id"], "PRODUCTION-ID");
    assert_eq!(st["runs"], 1);
    assert!(st["reset"]["id"].is_number());
    // A reset with nothing migrated since is a no-op that writes nothing.
    let other = s.dir.path().join("fresh-cloud.db");
    init(&other, "cloud", CLOUD_ID, CLOUD_URL, None);
    let n = log_len(&other);
    assert_eq!(json_of(on(&other).args(["--format", "json", "migration", "reset"]))["reset"], false);
    assert_eq!(log_len(&other), n);
}

#[test]
fn the_same_server_migrates_again_onto_a_rolled_back_site_without_overwriting_anything() {
    let s = scene();
    let first = json_of(&mut migrate(&s, &s.archive, &s.mappings));
    on(&s.cloud).args(["import", "--yes", first["safety_backup"].as_str().unwrap()]).assert().success();
    let report = json_of(&mut migrate(&s, &s.archive, &s.mappings));
    assert_eq!(report["overwrote_cloud_changes"], false, "an empty site has nothing to overwrite");
    assert_eq!(status(&s.cloud)["status"], "INCOMPLETE");
}

#[test]
fn two_migrations_prepared_at_once_the_loser_says_another_migration_held_the_lock() {
    use ativo_backup::ops::migrate::{self as m, AllowUnmapped, MappingsSource};
    let s = scene();
    let location = ativo_backup::store::Location::Sqlite(s.cloud.clone());
    let options = m::MigrateOptions {
        input: ativo_backup::ops::Input::File(s.archive.clone()),
        mappings: vec![MappingsSource::parse(s.mappings.to_str().unwrap()).unwrap()],
        mappings_limits: Default::default(),
        limits: Default::default(),
        safety_dir: s.dir.path().join("safety"),
        overwrite_cloud_changes: false,
        allow_unmapped: AllowUnmapped::default(),
        progress: ativo_backup::progress::silent(),
    };
    // Both check before either writes, as two processes started together do; then one takes
    // the write lock first and the other gets it after.
    let mut a = ativo_backup::store::open(&location).unwrap();
    let mut b = ativo_backup::store::open(&location).unwrap();
    let checked_a = m::check(a.as_mut(), &options).unwrap();
    let checked_b = m::check(b.as_mut(), &options).unwrap();
    m::apply(a.as_mut(), &options, checked_a).unwrap();
    let after_a = digest(&s.cloud);
    let err = m::apply(b.as_mut(), &options, checked_b).unwrap_err().to_string();
    assert!(err.contains("another migration (log entry #2"), "{err}");
    assert!(err.contains("held the store's write lock") && err.contains("nothing was written by this run"), "{err}");
    assert!(!err.contains("changing Ativo on the cloud"), "{err}");
    assert_eq!(digest(&s.cloud), after_a);
    assert_eq!(status(&s.cloud)["runs"], 1);
}

#[test]
fn the_operations_log_stores_absolute_paths() {
    let s = scene();
    let work = s.dir.path();
    // A whole document without jira:issue, and jira:issue as a flat object of its own.
    write_json(&work.join("m.json"), &fill(&s.skeleton, &[ISSUE]));
    let issues: serde_json::Map<String, Value> =
        ids(&s.skeleton, ISSUE).iter().map(|id| (id.clone(), json!(cloud_of(id)))).collect();
    write_json(&work.join("m-issues.json"), &Value::Object(issues));
    on(&s.cloud)
        .current_dir(work)
        .args(["migrate", "--yes", "ativo-migration.json.zst", "--mappings", "m.json", "--mappings"])
        .arg(format!("{ISSUE}=m-issues.json"))
        .args(["--safety-dir", "safety"])
        .assert()
        .success();
    let detail = &status(&s.cloud)["last_run"]["detail"];
    let path = |v: &Value| Path::new(v.as_str().unwrap()).to_path_buf();
    assert_eq!(path(&detail["input"]), work.join("ativo-migration.json.zst"));
    assert_eq!(
        detail["mappings"],
        json!([work.join("m.json"), format!("{ISSUE}={}", work.join("m-issues.json").display())])
    );
    assert!(path(&detail["safety_backup"]).starts_with(work.join("safety")));
    // Import and export log absolute paths too.
    let full = work.join("full.json.zst");
    on(&s.cloud).arg("export").arg("-o").arg(&full).assert().success();
    on(&s.cloud).current_dir(work).args(["export", "-o", "relative.json.zst"]).assert().success();
    on(&s.cloud)
        .current_dir(work)
        .args(["import", "--yes", "relative.json.zst", "--safety-dir", "safety"])
        .assert()
        .success();
    let log = json_of(on(&s.cloud).args(["--format", "json", "log"]));
    let log = log.as_array().unwrap();
    let export = log.iter().rev().find(|op| op.get("kind") == Some(&json!("export"))).unwrap();
    assert_eq!(path(&export["detail"]["path"]), work.join("relative.json.zst"));
    let import = log.last().unwrap();
    assert_eq!(path(&import["detail"]["input"]), work.join("relative.json.zst"));
    assert!(path(&import["detail"]["safety_backup"]).is_absolute());
}

#[test]
fn an_unusable_mappings_file_is_a_usage_error_naming_file_and_pointer() {
    let s = scene();
    let before = (digest(&s.cloud), log_len(&s.cloud));
    let bad = s.dir.path().join("bad.json");
    for (text, expected) in [
        ("{not json", "not JSON"),
        (r#"{"jira/classic:project": {"10000": true}}"#, "at /jira~1classic:project/10000: the cloud id is a boolean"),
        (r#"{"jira:filter": ["10200"]}"#, "at /jira:filter: namespace \"jira:filter\" is an array"),
        (
            r#"{"jira:filter": {"10200": "c10200"}}"#,
            "at /jira:filter/10200: the cloud id \"c10200\" is not a positive integer",
        ),
    ] {
        std::fs::write(&bad, text).unwrap();
        fails(&mut migrate(&s, &s.archive, &bad), 2, &["bad.json", expected]);
    }
    fails(&mut migrate(&s, &s.archive, &s.dir.path().join("missing.json")), 2, &["cannot read mappings file"]);
    assert_eq!((digest(&s.cloud), log_len(&s.cloud)), before);
}

#[test]
fn without_yes_and_without_a_terminal_nothing_is_written() {
    let s = scene();
    let before = digest(&s.cloud);
    let out = on(&s.cloud).arg("migrate").arg(&s.archive).arg("--mappings").arg(&s.mappings).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("re-run with --yes"));
    assert_eq!(digest(&s.cloud), before);
    assert_eq!(status(&s.cloud)["status"], "NOT_MIGRATED");
}

#[test]
fn admins_set_on_a_cloud_site_takes_account_ids_and_refuses_other_user_names_with_a_hint() {
    let s = scene();
    let before = digest(&s.cloud);
    for (user, says) in [
        ("JIRAUSER10000", "Server / Data Center user key"),
        ("admin", "not an Atlassian account id"),
        ("jane.doe@example.com", "e-mail address"),
        ("557058:f1a2", "not an Atlassian account id"),
    ] {
        fails(on(&s.cloud).args(["admins", "set", "--user", user]), 2, &[says, "profile URL"]);
    }
    fails(on(&s.cloud).args(["admins", "set"]), 2, &["at least one --user or --group"]);
    assert_eq!(digest(&s.cloud), before);
    for user in [
        ACCOUNT,
        "5b10ac8d82e05b22cc7d4ef5",
        "qm:a880ec68-3b77-4ab0-9f3c-d1c1a0f6e9a1:5a9e1c1b-7e0e-4b8e-9a3c-2b1f0c4e5d6f",
    ] {
        on(&s.cloud).args(["admins", "set", "--user", user]).assert().success();
    }
    // A Data Center store takes user keys.
    on(&s.dc).args(["admins", "set", "--user", "JIRAUSER10000"]).assert().success();
}

#[test]
fn references_are_grouped_and_counted_for_people_and_for_machines() {
    let s = scene();
    let out = bin().args(["migration", "references"]).arg(&s.archive).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for part in [
        "jira/classic:project",
        "(required before migrate)",
        "system fields (same id on cloud",
        "labels",
        "supplier groups (kept by name, no mapping needed): suppliers-acme",
        "unmapped: refused for a team whose board is mapped",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
    let report = json_of(bin().args(["--format", "json", "migration", "references"]).arg(&s.archive));
    assert_eq!(report["report_version"], 1);
    assert_eq!(report["required"], json!([PROJECT, BOARD]));
    assert_eq!(report["skeleton"], s.skeleton);
    let sprints = report["namespaces"].as_array().unwrap().iter().find(|n| n["namespace"] == SPRINT).unwrap();
    assert_eq!(sprints["ids"], ids(&s.skeleton, SPRINT).len());
    assert_eq!(sprints["required"], false);
    let projects = report["namespaces"].as_array().unwrap().iter().find(|n| n["namespace"] == PROJECT).unwrap();
    assert_eq!(projects["required"], true);
    // The report is not a mappings file, and says how to get one.
    let file = s.dir.path().join("report.json");
    write_json(&file, &report);
    fails(&mut migrate(&s, &s.archive, &file), 2, &["--skeleton"]);
}
