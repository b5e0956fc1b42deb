//! Shared by the migration tests: the real binary on a Data Center store with a generated sample,
//! its migration archive and mappings skeleton, an empty cloud store, and the cloud ids the tests
//! give every server id (numeric, as Jira Cloud's are).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use assert_cmd::Command;
use serde_json::{Value, json};
use tempfile::TempDir;

pub use crate::commands::{bin, digest, init_as as init, json_of, on};

pub const DC_ID: &str = "B8E7-9F2A-3C4D-5E6F";
pub const DC_URL: &str = "https://jira.example.com";
pub const CLOUD_ID: &str = "a1b2c3d4-cloud";
pub const CLOUD_URL: &str = "https://acme.atlassian.net";
/// An account id of the documented `557058:<uuid>` shape.
pub const ACCOUNT: &str = "557058:f1a2b3c4-d5e6-47a8-9b0c-1d2e3f4a5b6c";

pub const PROJECT: &str = "jira/classic:project";
pub const BOARD: &str = "jira/classic/software:rapidView";
pub const SPRINT: &str = "jira/classic/software:sprint";
pub const FILTER: &str = "jira:filter";
pub const ISSUE: &str = "jira:issue";
pub const CUSTOM_FIELD: &str = "jira/classic:customField";

/// The number of entries in a store's operations log.
pub fn log_len(store: &Path) -> usize {
    json_of(on(store).args(["--format", "json", "log"])).as_array().unwrap().len()
}

/// The cloud id the tests give a server id: `9` and the id, or `customfield_9...` for a field.
pub fn cloud_of(id: &str) -> String {
    match id.strip_prefix("customfield_") {
        Some(n) => format!("customfield_9{n}"),
        None => format!("9{id}"),
    }
}

/// The whole scene: a Data Center store with a sample, its migration archive, the mappings
/// skeleton filled with [`cloud_of`] every id, and an empty cloud store.
pub struct Scene {
    pub dir: TempDir,
    pub dc: PathBuf,
    pub archive: PathBuf,
    pub skeleton: Value,
    pub mappings: PathBuf,
    pub cloud: PathBuf,
}

pub fn scene() -> Scene {
    scene_of("demo")
}

pub fn scene_of(sample: &str) -> Scene {
    let dir = TempDir::new().unwrap();
    let dc = dir.path().join("dc.db");
    init(&dc, "datacenter", DC_ID, DC_URL, Some(sample));
    let archive = dir.path().join("ativo-migration.json.zst");
    on(&dc).args(["export", "--scope", "migration", "-o"]).arg(&archive).assert().success();
    let skeleton = json_of(bin().args(["migration", "references", "--skeleton"]).arg(&archive));
    let mappings = dir.path().join("mappings.json");
    write_json(&mappings, &fill(&skeleton, &[]));
    let cloud = dir.path().join("cloud.db");
    init(&cloud, "cloud", CLOUD_ID, CLOUD_URL, None);
    Scene { dir, dc, archive, skeleton, mappings, cloud }
}

/// The ids of one namespace of the skeleton, in the order written.
pub fn ids(skeleton: &Value, namespace: &str) -> Vec<String> {
    skeleton[namespace].as_object().map(|ids| ids.keys().cloned().collect()).unwrap_or_default()
}

/// The skeleton with every id mapped to [`cloud_of`] it, except the namespaces in `skip`.
pub fn fill(skeleton: &Value, skip: &[&str]) -> Value {
    let mut out = serde_json::Map::new();
    for (ns, ids) in skeleton.as_object().unwrap() {
        if skip.contains(&ns.as_str()) {
            continue;
        }
        let ids = ids.as_object().unwrap().keys().map(|id| (id.clone(), json!(cloud_of(id)))).collect();
        out.insert(ns.clone(), Value::Object(ids));
    }
    Value::Object(out)
}

pub fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

/// `migrate --format json --yes ARCHIVE --mappings M...` on the scene's cloud store.
pub fn migrate_with(s: &Scene, archive: &Path, mappings: &[&str]) -> Command {
    let mut cmd = on(&s.cloud);
    cmd.args(["--format", "json", "migrate", "--yes"]).arg(archive);
    for m in mappings {
        cmd.arg("--mappings").arg(m);
    }
    cmd.arg("--safety-dir").arg(s.dir.path().join("safety"));
    cmd
}

pub fn migrate(s: &Scene, archive: &Path, mappings: &Path) -> Command {
    migrate_with(s, archive, &[mappings.to_str().unwrap()])
}

pub fn status(store: &Path) -> Value {
    json_of(on(store).args(["--format", "json", "migration", "status"]))
}

/// The codes of a status report's pending items.
pub fn pending_codes(status: &Value) -> Vec<String> {
    status["pending"].as_array().unwrap().iter().map(|p| p["code"].as_str().unwrap().to_owned()).collect()
}

/// Runs `cmd`, expects exit `code` and stderr containing every part; returns stderr.
pub fn fails(cmd: &mut Command, code: i32, parts: &[&str]) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    for part in parts {
        assert!(stderr.contains(part), "{part:?} missing from: {stderr}");
    }
    stderr
}

/// Runs `cmd`, expects exit 8 and a message containing every part; returns stderr.
pub fn refused(cmd: &mut Command, parts: &[&str]) -> String {
    let stderr = fails(cmd, 8, parts);
    assert!(stderr.contains("migration refused"), "{stderr}");
    stderr
}

/// Every string at a Jira-id position of an archive's `data`, found by member name, independently
/// of the tool's own reference walker (supplier groups aside: they are names).
pub fn ids_in_data(data: &Value) -> Vec<String> {
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
                        ("option_ids" | "dependency_link_type_ids" | "feature_issue_type_ids", Value::Array(items)) => {
                            out.extend(items.iter().filter_map(|i| i.as_str().map(str::to_owned)))
                        }
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

/// The `data` of a plain JSON export of `store`.
pub fn exported_data(store: &Path, dir: &Path) -> Value {
    // Unique within the process too: tests of one binary may share a directory.
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("export-{}-{n}.json", std::process::id()));
    on(store).arg("export").arg("-o").arg(&path).assert().success();
    let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    std::fs::remove_file(&path).unwrap();
    doc["data"].clone()
}

/// REST pages (`{"meta", "items"}`) of `namespace`'s ids, `size` items a page, each mapped to
/// [`cloud_of`] it, as Atlassian's `GET /mapping/{transferId}/page` returns them.
pub fn rest_pages(skeleton: &Value, namespace: &str, size: usize) -> Vec<Value> {
    let all = ids(skeleton, namespace);
    let chunks: Vec<&[String]> = all.chunks(size).collect();
    let count = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(n, ids)| {
            let has_next = n + 1 < count;
            let items: serde_json::Map<String, Value> = ids.iter().map(|id| (id.clone(), json!(cloud_of(id)))).collect();
            json!({
                "meta": { "pageSize": size, "hasNext": has_next, "lastEntity": if has_next { json!(ids.last()) } else { Value::Null } },
                "items": items,
            })
        })
        .collect()
}

/// JSON lines: one compact document a line.
pub fn lines(docs: &[Value]) -> String {
    docs.iter().map(|d| format!("{d}\n")).collect()
}
