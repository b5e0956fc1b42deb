//! Issue 3, Server / Data Center to cloud migration, through the real binary: the documented
//! flow end to end, every refusal (exit 8, cloud store untouched), re-runs and idempotence, no
//! server-side id left where a mapping exists, and the admins never carried over.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::{Value, json};
use tempfile::TempDir;

const DC_ID: &str = "B8E7-9F2A-3C4D-5E6F";
const DC_URL: &str = "https://jira.example.com";
const CLOUD_ID: &str = "a1b2c3d4-cloud";
const CLOUD_URL: &str = "https://acme.atlassian.net";

fn bin() -> Command {
    let mut cmd = Command::cargo_bin("ativo-backup").unwrap();
    cmd.env_remove("ATIVO_STORE");
    cmd
}

fn on(store: &Path) -> Command {
    let mut cmd = bin();
    cmd.arg("--store").arg(store);
    cmd
}

fn init(store: &Path, deployment: &str, id: &str, url: &str, sample: bool) {
    let mut cmd = on(store);
    cmd.args(["init", "--deployment", deployment, "--server-id", id, "--base-url", url]);
    if sample {
        cmd.args(["--sample", "demo"]);
    }
    cmd.assert().success();
}

fn json_of(cmd: &mut Command) -> Value {
    let out = cmd.output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

/// The content digest of what a store holds (admins included).
fn digest(store: &Path) -> String {
    let v = json_of(on(store).args(["--format", "json", "diff"]).arg(store).arg(store));
    v["from_digest"].as_str().unwrap().to_owned()
}

/// The whole scene: a Data Center store with the demo sample, its migration archive, the
/// mappings skeleton filled with `c<id>` for every id, and an empty cloud store.
struct Scene {
    dir: TempDir,
    dc: PathBuf,
    archive: PathBuf,
    skeleton: Value,
    mappings: PathBuf,
    cloud: PathBuf,
}

fn scene() -> Scene {
    let dir = TempDir::new().unwrap();
    let dc = dir.path().join("dc.db");
    init(&dc, "datacenter", DC_ID, DC_URL, true);
    let archive = dir.path().join("ativo-migration.json.zst");
    on(&dc).args(["export", "--scope", "migration", "-o"]).arg(&archive).assert().success();
    let skeleton = json_of(bin().args(["migration", "references", "--format", "json"]).arg(&archive));
    let mappings = dir.path().join("mappings.json");
    write_mappings(&mappings, &fill(&skeleton, &[]));
    let cloud = dir.path().join("cloud.db");
    init(&cloud, "cloud", CLOUD_ID, CLOUD_URL, false);
    Scene { dir, dc, archive, skeleton, mappings, cloud }
}

/// The skeleton with every id mapped to `c<id>`, except the namespaces in `skip`.
fn fill(skeleton: &Value, skip: &[&str]) -> Value {
    let mut out = serde_json::Map::new();
    for (ns, ids) in skeleton.as_object().unwrap() {
        if skip.contains(&ns.as_str()) {
            continue;
        }
        let ids = ids.as_object().unwrap().keys().map(|id| (id.clone(), json!(format!("c{id}")))).collect();
        out.insert(ns.clone(), Value::Object(ids));
    }
    Value::Object(out)
}

fn write_mappings(path: &Path, mappings: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(mappings).unwrap()).unwrap();
}

fn migrate(s: &Scene, archive: &Path, mappings: &Path) -> Command {
    let mut cmd = on(&s.cloud);
    cmd.args(["--format", "json", "migrate", "--yes"])
        .arg(archive)
        .arg("--mappings")
        .arg(mappings)
        .arg("--safety-dir")
        .arg(s.dir.path().join("safety"));
    cmd
}

fn status(store: &Path) -> Value {
    json_of(on(store).args(["--format", "json", "migration", "status"]))
}

/// Runs `cmd`, expects exit 8 and a message containing every part; returns stderr.
fn refused(cmd: &mut Command, parts: &[&str]) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(8), "{stderr}");
    assert!(stderr.contains("migration refused"), "{stderr}");
    for part in parts {
        assert!(stderr.contains(part), "{part:?} missing from: {stderr}");
    }
    stderr
}

/// Every string at a Jira-id position of an archive's `data`, found by member name, independently
/// of the tool's own reference walker.
fn ids_in_data(data: &Value) -> Vec<String> {
    fn walk(v: &Value, parent: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        (
                            "board" | "filter_id" | "jira_sprint_id" | "field_id" | "story_points_field",
                            Value::String(s),
                        ) => out.push(s.clone()),
                        ("id", Value::String(s)) if matches!(parent, "projects" | "epics") => out.push(s.clone()),
                        (
                            "option_ids" | "dependency_link_type_ids" | "feature_issue_type_ids" | "supplier_groups",
                            Value::Array(items),
                        ) => out.extend(items.iter().filter_map(|i| i.as_str().map(str::to_owned))),
                        _ => walk(v, k, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, parent, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(data, "", &mut out);
    out
}

fn exported_data(store: &Path, dir: &Path) -> Value {
    let path = dir.join(format!("export-{}.json", std::process::id()));
    on(store).arg("export").arg("-o").arg(&path).assert().success();
    let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    std::fs::remove_file(&path).unwrap();
    doc["data"].clone()
}

#[test]
fn the_documented_flow_ends_complete_with_every_id_rewritten_and_no_admin_carried_over() {
    let s = scene();
    assert_eq!(status(&s.cloud)["status"], "NOT_MIGRATED");
    let skeleton = s.skeleton.as_object().unwrap();
    for ns in ["jira/classic:project", "jira:filter", "jira/classic/software:sprint", "jira:issue"] {
        assert!(skeleton[ns].as_object().unwrap().values().all(Value::is_null), "{ns}");
    }
    assert!(!skeleton.contains_key("identity:user"), "no migrated member refers to a user");

    let report = json_of(&mut migrate(&s, &s.archive, &s.mappings));
    assert_eq!(report["status"], "INCOMPLETE");
    assert!(report["next_step"].as_str().unwrap().contains("admins set --user ACCOUNT_ID --group NAME"));
    assert_eq!(report["unmapped"], json!([]));
    assert!(Path::new(report["safety_backup"].as_str().unwrap()).exists());
    assert_eq!(report["content_digest_after"].as_str().unwrap(), digest(&s.cloud));

    let st = status(&s.cloud);
    assert_eq!(st["status"], "INCOMPLETE");
    assert_eq!(st["last_run"]["detail"]["source"]["base_url"], DC_URL);
    assert!(st["pending"][0].as_str().unwrap().contains("admins set"));

    // No server-side id is left anywhere a mapping exists: every id is a cloud one.
    let data = exported_data(&s.cloud, s.dir.path());
    let server_ids: BTreeSet<String> =
        skeleton.values().flat_map(|ids| ids.as_object().unwrap().keys().cloned()).collect();
    let ids = ids_in_data(&data);
    assert!(ids.len() > 300, "the scan found {} ids", ids.len());
    for id in &ids {
        assert!(id.starts_with('c') || id == "labels", "server id {id} left in the cloud configuration");
        assert!(!server_ids.contains(id) || id.starts_with('c'), "{id}");
    }
    // The keys embedded in Jira field values are kept exactly.
    let dc_data = exported_data(&s.dc, s.dir.path());
    let keys = |d: &Value, kind: &str| -> Vec<Value> {
        d[kind].as_array().unwrap().iter().map(|e| e["key"].clone()).collect()
    };
    for kind in ["teams", "programs", "periods", "pis"] {
        assert_eq!(keys(&data, kind), keys(&dc_data, kind), "{kind}");
    }
    // The admins were not carried over: the cloud has none until they are set.
    assert_eq!(data["admins"], json!({ "groups": [], "users": [] }));
    assert_eq!(dc_data["admins"]["users"].as_array().unwrap().len(), 3);

    let set = json_of(on(&s.cloud).args([
        "--format",
        "json",
        "admins",
        "set",
        "--user",
        "557058:f1a2b3c4",
        "--group",
        "ativo-admins",
    ]));
    assert_eq!(set["migration_status"], "COMPLETE");
    let st = status(&s.cloud);
    assert_eq!(st["status"], "COMPLETE");
    assert!(st["pending"].as_array().unwrap().is_empty(), "{st}");
    let shown = json_of(on(&s.cloud).args(["--format", "json", "admins", "show"]));
    assert_eq!(shown["admins"]["users"], json!([{ "account_id": "557058:f1a2b3c4" }]));
}

#[test]
fn the_same_archive_and_mappings_twice_give_the_same_cloud_digest_and_the_admins_survive() {
    let s = scene();
    migrate(&s, &s.archive, &s.mappings).assert().success();
    on(&s.cloud).args(["admins", "set", "--user", "557058:a", "--group", "ativo-admins"]).assert().success();
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
    on(&s.cloud).args(["admins", "set", "--user", "557058:cloud-admin"]).assert().success();
    let report = json_of(&mut migrate(&s, &full, &s.mappings));
    assert_eq!(report["admins_left_behind"], json!({ "users": 3, "groups": 2 }));
    let data = exported_data(&s.cloud, s.dir.path());
    assert_eq!(data["admins"], json!({ "groups": [], "users": [{ "account_id": "557058:cloud-admin" }] }));
}

#[test]
fn a_missing_sprint_mapping_is_reported_and_dropped_never_guessed() {
    let s = scene();
    let partial = s.dir.path().join("partial.json");
    write_mappings(&partial, &json!({ "mappings": fill(&s.skeleton, &["jira/classic/software:sprint"]) }));
    let report = json_of(&mut migrate(&s, &s.archive, &partial));
    let sprints: Vec<&String> = s.skeleton["jira/classic/software:sprint"].as_object().unwrap().keys().collect();
    let unmapped = report["unmapped_summary"]["jira/classic/software:sprint"].as_array().unwrap();
    assert_eq!(unmapped.len(), sprints.len());
    assert!(report["unmapped"].as_array().unwrap().iter().all(|u| u["treatment"] == "dropped"));
    assert_eq!(report["counts"]["sprint_mappings"], 0);
    let st = status(&s.cloud);
    assert!(st["pending"].as_array().unwrap().iter().any(|p| p.as_str().unwrap().contains("had no mapping")), "{st}");
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
    init(&other, "cloud", "other-cloud", "https://other.atlassian.net", true);
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
    write_mappings(&partial, &fill(&s.skeleton, &["jira/classic:project"]));
    let before = digest(&s.cloud);
    let projects = s.skeleton["jira/classic:project"].as_object().unwrap();
    let stderr = refused(
        &mut migrate(&s, &s.archive, &partial),
        &[
            "Jira project(s) used by the configuration have no mapping",
            "after all Jira projects used in Ativo are migrated",
            "run it again afterwards",
        ],
    );
    for id in projects.keys() {
        assert!(stderr.contains(&format!("(id {id})")), "project {id} not listed: {stderr}");
    }
    assert!(stderr.contains("RET (id "), "project keys are named: {stderr}");
    assert_eq!(digest(&s.cloud), before);
    assert_eq!(status(&s.cloud)["status"], "NOT_MIGRATED");
}

#[test]
fn refused_when_the_cloud_changed_since_the_last_run_unless_overwriting() {
    let s = scene();
    migrate(&s, &s.archive, &s.mappings).assert().success();
    // Someone edits Ativo on the cloud: rename a team.
    {
        let location = ativo_backup::store::Location::Sqlite(s.cloud.clone());
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
    let changed = digest(&s.cloud);
    assert!(status(&s.cloud)["changed_since_last_run"].as_bool().unwrap());
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
    init(&busy, "cloud", CLOUD_ID, CLOUD_URL, true);
    let before = digest(&busy);
    let mut cmd = on(&busy);
    cmd.arg("migrate").arg(&s.archive).arg("--mappings").arg(&s.mappings).arg("--yes");
    refused(&mut cmd, &["already holds Ativo configuration that no migration wrote", "Do not run a migration"]);
    assert_eq!(digest(&busy), before);
}

#[test]
fn refused_when_the_site_holds_configuration_from_another_server() {
    let s = scene();
    migrate(&s, &s.archive, &s.mappings).assert().success();
    let other = s.dir.path().join("other-dc.db");
    init(&other, "server", "OTHER-SERVER", "https://jira.other.example.com", true);
    let archive = s.dir.path().join("other.json.zst");
    on(&other).args(["export", "--scope", "migration", "-o"]).arg(&archive).assert().success();
    let before = digest(&s.cloud);
    // Even --overwrite-cloud-changes does not merge two servers into one site.
    refused(
        migrate(&s, &archive, &s.mappings).arg("--overwrite-cloud-changes"),
        &["migrated from another server", DC_URL, "https://jira.other.example.com", "OTHER-SERVER"],
    );
    assert_eq!(digest(&s.cloud), before);
}

#[test]
fn an_unusable_mappings_file_is_a_usage_error_naming_file_and_pointer() {
    let s = scene();
    let before = digest(&s.cloud);
    let bad = s.dir.path().join("bad.json");
    for (text, expected) in [
        ("{not json", "not JSON"),
        (
            r#"{"jira/classic:project": {"10000": 20000}}"#,
            "at /jira~1classic:project/10000: the cloud id 20000 is not a string",
        ),
        (r#"{"jira:filter": ["10200"]}"#, "at /jira:filter:"),
    ] {
        std::fs::write(&bad, text).unwrap();
        let out = migrate(&s, &s.archive, &bad).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("bad.json") && stderr.contains(expected), "{expected:?}: {stderr}");
    }
    let out = migrate(&s, &s.archive, &s.dir.path().join("missing.json")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read mappings file"));
    assert_eq!(digest(&s.cloud), before);
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
fn admins_set_refuses_server_user_keys_on_cloud_and_empty_lists() {
    let s = scene();
    let before = digest(&s.cloud);
    on(&s.cloud).args(["admins", "set", "--user", "JIRAUSER10000"]).assert().code(2);
    on(&s.cloud).args(["admins", "set"]).assert().code(2);
    assert_eq!(digest(&s.cloud), before);
}

#[test]
fn references_are_grouped_and_counted_for_people() {
    let s = scene();
    let out = bin().args(["migration", "references"]).arg(&s.archive).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for part in ["jira/classic:project", "(required before migrate)", "system fields (same id on cloud", "labels"] {
        assert!(text.contains(part), "{part}: {text}");
    }
}
