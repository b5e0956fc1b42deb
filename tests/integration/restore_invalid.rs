//! Every archive the tool writes can be restored by it, on its host (issue 14, item 3), even when
//! the store held a configuration that breaks the semantic rules of SPEC.md section 10: the app
//! writes the database too, an admin may edit it, a later version may be stricter.
//!
//! Property: for store contents written with SQL (not through the model) that the store's own
//! schema accepts, `export` succeeds (listing the findings), and `import --allow-invalid` of that
//! archive into a fresh store of the same host gives the same content digest; so does the safety
//! backup written when a clean archive is imported over such a store. The real binary runs
//! against real SQLite files.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use tempfile::TempDir;

use crate::commands::{self, bin, digest};

const SERVER_ID: &str = "B8E7";
const BASE_URL: &str = "https://jira.example.com";

fn init(store: &Path, sample: bool) {
    commands::init(store, SERVER_ID, BASE_URL, sample.then_some("demo"));
}

fn import(store: &Path, archive: &Path, safety: &Path) -> serde_json::Value {
    let out = bin()
        .arg("--store")
        .arg(store)
        .args(["--format", "json", "import", "--yes", "--allow-invalid", "--safety-dir"])
        .arg(safety)
        .arg(archive)
        .output()
        .unwrap();
    assert!(out.status.success(), "import of {}: {}", archive.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Edits a store may receive from outside this tool, each accepted by the store's schema and
/// most breaking a semantic rule; `?1` is bound to a generated text.
const EDITS: &[&str] = &[
    // sprint.dates: a sprint that ends before it starts
    "UPDATE sprint SET end_date = '2000-01-01' WHERE sprint_index = 2",
    // sprints that overlap
    "UPDATE sprint SET start_date = (SELECT s.start_date FROM sprint s WHERE s.period_key = sprint.period_key AND s.sprint_index = 1)",
    // objectives sharing an order
    "UPDATE objective SET ord = 0",
    // a sprint numbered 0, leaving capacity and mappings on a missing sprint
    "UPDATE sprint SET sprint_index = 0 WHERE sprint_index = 1",
    // sprint mappings of teams that are now KANBAN
    "UPDATE team SET mode = 'KANBAN'",
    // BOARD teams without a board
    "UPDATE team SET board_id = NULL WHERE kind = 'BOARD'",
    // a team key with whitespace, a CUSTOM team without scope, and a generated name
    "INSERT INTO team VALUES ('BAD KEY', ?1, 'CUSTOM', NULL, 'SCRUM', 'STORY_POINTS', NULL, 0)",
    // teams dropped from the programs: capacity and objectives of teams outside their PI
    "DELETE FROM program_team WHERE position = 0",
    // business values far outside 1..10
    "UPDATE objective SET business_value_planned = 4000000000",
    // milestones on sprints the period does not have
    "UPDATE milestone SET sprint_index = 99 WHERE sprint_index IS NOT NULL",
    // generated text (any Unicode, control characters, NUL) in names and descriptions
    "UPDATE team SET name = ?1 WHERE team_key = (SELECT MIN(team_key) FROM team)",
    "UPDATE objective SET description = ?1",
    // capacity values JSON writes in unusual forms
    "UPDATE capacity SET value = -0.0 WHERE sprint_index = 1",
    "UPDATE capacity SET value = 1e300 WHERE sprint_index = 2",
];

fn edit(store: &Path, edits: &[usize], text: &str) {
    let conn = rusqlite::Connection::open(store).unwrap();
    conn.pragma_update(None, "foreign_keys", true).unwrap();
    for &i in edits {
        let sql = EDITS[i];
        let result = if sql.contains("?1") { conn.execute(sql, [text]) } else { conn.execute(sql, []) };
        result.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

fn paths(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (dir.join("edited.db"), dir.join("fresh.db"), dir.join("safety"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_backup_of_an_invalid_store_restores_exactly(
        edits in proptest::sample::subsequence((0..EDITS.len()).collect::<Vec<_>>(), 1..=6),
        text in "\\PC{0,40}|[\\x00-\\x1f\\u{202e}a-z]{1,40}",
    ) {
        let dir = TempDir::new().unwrap();
        let (edited, fresh, safety) = paths(dir.path());
        init(&edited, true);
        let clean = dir.path().join("clean.json.zst");
        bin().arg("--store").arg(&edited).arg("export").arg("-o").arg(&clean).assert().success();
        edit(&edited, &edits, &text);
        let expected = digest(&edited);

        // The export is never refused for its content.
        let archive = dir.path().join("edited.json.zst");
        let out = bin().arg("--store").arg(&edited).args(["--format", "json", "export", "-o"]).arg(&archive).output().unwrap();
        prop_assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        prop_assert_eq!(report["content_digest"].as_str(), Some(expected.as_str()));

        // It restores into a fresh store of the same host, exactly.
        init(&fresh, false);
        let imported = import(&fresh, &archive, &safety);
        prop_assert_eq!(imported["content_digest_after"].as_str(), Some(expected.as_str()));
        prop_assert_eq!(digest(&fresh), expected.clone());

        // The safety backup of the edited store, written when a clean archive replaces it,
        // restores exactly too: the undo of an import is never lost.
        let replaced = import(&edited, &clean, &safety);
        let backup = PathBuf::from(replaced["safety_backup"].as_str().unwrap());
        let undone = dir.path().join("undone.db");
        init(&undone, false);
        import(&undone, &backup, &dir.path().join("safety-2"));
        prop_assert_eq!(digest(&undone), expected);
    }
}

#[test]
fn allow_invalid_never_waives_the_host_or_the_integrity() {
    let dir = TempDir::new().unwrap();
    let (edited, _, safety) = paths(dir.path());
    init(&edited, true);
    edit(&edited, &[0, 2], "x");
    let archive = dir.path().join("a.json.zst");
    bin().arg("--store").arg(&edited).arg("export").arg("-o").arg(&archive).assert().success();
    // Without the option the semantic errors refuse it (3); with it, another host is still 4.
    bin().arg("--store").arg(&edited).arg("import").arg("--yes").arg(&archive).assert().code(3);
    let other = dir.path().join("other.db");
    bin().arg("--store").arg(&other).args(["init", "--server-id", "OTHER", "--base-url", BASE_URL]).assert().success();
    bin()
        .arg("--store")
        .arg(&other)
        .args(["import", "--yes", "--allow-invalid", "--safety-dir"])
        .arg(&safety)
        .arg(&archive)
        .assert()
        .code(4);
    // A flipped byte is an integrity failure (5) whatever the option says.
    let mut bytes = std::fs::read(&archive).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    let damaged = dir.path().join("damaged.json.zst");
    std::fs::write(&damaged, bytes).unwrap();
    bin()
        .arg("--store")
        .arg(&edited)
        .args(["import", "--yes", "--allow-invalid", "--safety-dir"])
        .arg(&safety)
        .arg(&damaged)
        .assert()
        .code(5);
}
