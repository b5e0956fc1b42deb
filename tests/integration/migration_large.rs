//! A migration of the `large` sample with realistic multi-page mappings (issue 20): 42,504 sprint
//! mappings and about 40,000 epics, as Atlassian's mapping endpoint returns them, at most 1,200
//! items a page. With the first page only, nothing is written and the message says what is
//! missing; with every page, the configuration arrives whole, every id rewritten.

use crate::migration_common;

use std::collections::BTreeSet;

use migration_common::*;
use serde_json::{Value, json};

/// Atlassian's page size limit for `GET /mapping/{transferId}/page`.
const PAGE: usize = 1200;

#[test]
fn the_large_sample_migrates_whole_from_every_page_and_not_at_all_from_the_first_page_only() {
    let started = std::time::Instant::now();
    let s = scene_of("large");
    let prepared = started.elapsed();
    let sprint_pages = rest_pages(&s.skeleton, SPRINT, PAGE);
    let issue_pages = rest_pages(&s.skeleton, ISSUE, PAGE);
    assert!(sprint_pages.len() >= 30 && issue_pages.len() >= 30, "{} {}", sprint_pages.len(), issue_pages.len());
    let dir = s.dir.path();
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    // Everything else in one whole document; boards as Forge results.
    let rest = write("rest.json", fill(&s.skeleton, &[SPRINT, ISSUE, BOARD]).to_string());
    let boards = ids(&s.skeleton, BOARD);
    let forge =
        json!({ "results": boards.iter().map(|id| json!({ "key": id, "value": cloud_of(id) })).collect::<Vec<_>>() });
    let boards = format!("{BOARD}={}", write("boards.json", forge.to_string()));

    // The first page only (what a script that ignores hasNext fetches): refused, nothing written.
    let before = (digest(&s.cloud), log_len(&s.cloud));
    let first_sprints = format!("{SPRINT}={}", write("sprints-first.json", sprint_pages[0].to_string()));
    let first_issues = format!("{ISSUE}={}", write("issues-first.json", issue_pages[0].to_string()));
    fails(
        &mut migrate_with(&s, &s.archive, &[&rest, &boards, &first_sprints, &first_issues]),
        2,
        &["the pages of jira/classic/software:sprint are incomplete", "lastEntity"],
    );
    // The same first pages with their `meta` stripped: the sprints of mapped boards are refused,
    // and a dry run shows the totals.
    let flat = |page: &Value| page["items"].to_string();
    let flat_sprints = format!("{SPRINT}={}", write("sprints-flat.json", flat(&sprint_pages[0])));
    let flat_issues = format!("{ISSUE}={}", write("issues-flat.json", flat(&issue_pages[0])));
    refused(
        migrate_with(&s, &s.archive, &[&rest, &boards, &flat_sprints, &flat_issues]).arg("--dry-run"),
        &["sprint(s) of mapped boards have no mapping", "give every page of jira/classic/software:sprint"],
    );
    assert_eq!((digest(&s.cloud), log_len(&s.cloud)), before);

    // Every page (the dry run above checked the same way): sprints in three files of concatenated pages, issues as JSON lines.
    let mut args = vec![rest.clone(), boards.clone()];
    for (n, chunk) in sprint_pages.chunks(sprint_pages.len().div_ceil(3)).enumerate() {
        let text: String = chunk.iter().map(Value::to_string).collect();
        args.push(format!("{SPRINT}={}", write(&format!("sprints-{n}.json"), text)));
    }
    args.push(format!("{ISSUE}={}", write("issues.jsonl", lines(&issue_pages))));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let migrate_started = std::time::Instant::now();
    let report = json_of(&mut migrate_with(&s, &s.archive, &args));
    let migrate_took = migrate_started.elapsed();
    assert_eq!(report["status"], "INCOMPLETE");
    assert_eq!(report["unmapped"], json!([]));
    for t in report["totals"].as_array().unwrap() {
        assert_eq!(t["unmapped"], 0, "{t}");
    }
    let sprint_total = report["totals"].as_array().unwrap().iter().find(|t| t["namespace"] == SPRINT).unwrap();
    assert_eq!(sprint_total["ids"], ids(&s.skeleton, SPRINT).len());
    let documents: u32 =
        report["mappings"].as_array().unwrap().iter().map(|m| m["documents"].as_u64().unwrap() as u32).sum();
    assert_eq!(documents as usize, sprint_pages.len() + issue_pages.len() + 2);

    // The configuration arrived whole: the same counts as the source, every id a cloud one.
    let data = exported_data(&s.cloud, dir);
    let dc = exported_data(&s.dc, dir);
    let count = |d: &Value, f: &dyn Fn(&Value) -> usize| d["pis"].as_array().unwrap().iter().map(f).sum::<usize>();
    let mappings = |pi: &Value| pi["sprint_mappings"].as_array().unwrap().len();
    let epics = |pi: &Value| {
        pi["objectives"].as_array().unwrap().iter().map(|o| o["epics"].as_array().unwrap().len()).sum::<usize>()
    };
    assert_eq!(count(&data, &mappings), count(&dc, &mappings));
    assert_eq!(count(&data, &mappings), 42_504);
    assert_eq!(count(&data, &epics), count(&dc, &epics));
    let cloud_ids: BTreeSet<String> = s
        .skeleton
        .as_object()
        .unwrap()
        .values()
        .flat_map(|ids| ids.as_object().unwrap().keys().map(|id| cloud_of(id)))
        .collect();
    for id in ids_in_data(&data) {
        assert!(cloud_ids.contains(&id) || id == "labels", "server id {id} left in the cloud configuration");
    }
    eprintln!("large sample: scene {prepared:?}, migrate {migrate_took:?}, whole test {:?}", started.elapsed());
}
