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

/// Edits a store may receive from outside this tool, most breaking a semantic rule. `:text`,
/// `:date` and `:value` are bound to a generated text, date-like text and double; the edits that
/// use the last two may be refused by the store's schema (a date that does not exist, a capacity
/// that is not a finite non-negative number), and then leave the store as it was.
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
    "INSERT INTO team VALUES ('BAD KEY', :text, 'CUSTOM', NULL, 'SCRUM', 'STORY_POINTS', NULL, 0)",
    // teams dropped from the programs: capacity and objectives of teams outside their PI
    "DELETE FROM program_team WHERE position = 0",
    // business values far outside 1..10
    "UPDATE objective SET business_value_planned = 4000000000",
    // milestones on sprints the period does not have
    "UPDATE milestone SET sprint_index = 99 WHERE sprint_index IS NOT NULL",
    // generated text (any Unicode, control characters, NUL) in names and descriptions
    "UPDATE team SET name = :text WHERE team_key = (SELECT MIN(team_key) FROM team)",
    "UPDATE objective SET description = :text",
    // capacity values JSON writes in unusual forms
    "UPDATE capacity SET value = -0.0 WHERE sprint_index = 1",
    "UPDATE capacity SET value = 1e300 WHERE sprint_index = 2",
    // generated dates and capacity values: what the schema lets in must round-trip
    "UPDATE sprint SET end_date = :date WHERE sprint_index = 3",
    "UPDATE milestone SET on_date = :date WHERE on_date IS NOT NULL",
    "UPDATE capacity SET value = :value WHERE sprint_index = 3",
];

/// Applies `edits`; an edit the schema refuses (a constraint) changes nothing and is skipped.
fn edit(store: &Path, edits: &[usize], text: &str, date: &str, value: f64) {
    let conn = rusqlite::Connection::open(store).unwrap();
    conn.pragma_update(None, "foreign_keys", true).unwrap();
    let all: [(&str, &dyn rusqlite::ToSql); 3] = [(":text", &text), (":date", &date), (":value", &value)];
    for &i in edits {
        let sql = EDITS[i];
        let params: Vec<_> = all.iter().copied().filter(|(name, _)| sql.contains(name)).collect();
        match conn.execute(sql, params.as_slice()) {
            Ok(_) => {}
            Err(e)
                if e.to_string().contains("constraint failed") && (sql.contains(":date") || sql.contains(":value")) => {
            }
            Err(e) => panic!("{sql}: {e}"),
        }
    }
}

/// Values that version 1 of the store's schema let in, and that no archive can carry: each is
/// refused now, with the store unchanged.
const REFUSED: &[&str] = &[
    "UPDATE sprint SET end_date = '2026-02-30' WHERE sprint_index = 1",
    "UPDATE sprint SET start_date = '1 March' WHERE sprint_index = 1",
    "UPDATE sprint SET start_date = '2026-3-01' WHERE sprint_index = 1",
    "UPDATE milestone SET on_date = '2023-02-29' WHERE on_date IS NOT NULL",
    "UPDATE milestone SET on_date = '2026-04-01T00:00:00Z' WHERE on_date IS NOT NULL",
    "UPDATE capacity SET value = 9e999 WHERE sprint_index = 1",
    "INSERT INTO sprint SELECT period_key, 77, '2026-01-01', '2026-13-01', NULL, 0 FROM period LIMIT 1",
];

fn paths(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (dir.join("edited.db"), dir.join("fresh.db"), dir.join("safety"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_backup_of_an_invalid_store_restores_exactly(
        edits in proptest::sample::subsequence((0..EDITS.len()).collect::<Vec<_>>(), 1..=6),
        text in "\\PC{0,40}|[\\x00-\\x1f\\u{202e}a-z]{1,40}",
        date in "[0-9]{4}-(0[0-9]|1[0-3])-(0[0-9]|[1-3][0-9])|\\PC{0,12}",
        value in proptest::num::f64::ANY,
    ) {
        let dir = TempDir::new().unwrap();
        let (edited, fresh, safety) = paths(dir.path());
        init(&edited, true);
        let clean = dir.path().join("clean.json.zst");
        bin().arg("--store").arg(&edited).arg("export").arg("-o").arg(&clean).assert().success();
        edit(&edited, &edits, &text, &date, value);
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
    edit(&edited, &[0, 2], "x", "2026-01-01", 1.0);
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

#[test]
fn the_store_refuses_dates_and_capacities_no_archive_can_carry() {
    let dir = TempDir::new().unwrap();
    let (store, _, _) = paths(dir.path());
    init(&store, true);
    let before = digest(&store);
    let conn = rusqlite::Connection::open(&store).unwrap();
    for sql in REFUSED {
        let error = conn.execute(sql, []).expect_err(sql).to_string();
        assert!(error.contains("constraint failed"), "{sql}: {error}");
    }
    drop(conn);
    assert_eq!(digest(&store), before, "a refused edit leaves the store as it was");
    bin().arg("--store").arg(&store).arg("export").arg("-o").arg(dir.path().join("a.json.zst")).assert().success();
}

#[test]
fn a_store_of_schema_version_1_gets_the_new_constraints_when_opened() {
    let dir = TempDir::new().unwrap();
    let (store, _, _) = paths(dir.path());
    init(&store, true);
    // Version 1 as an older build left it: no triggers, one migration recorded.
    let conn = rusqlite::Connection::open(&store).unwrap();
    let triggers: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'trigger'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(triggers.len(), 6, "{triggers:?}");
    for name in &triggers {
        conn.execute_batch(&format!("DROP TRIGGER {name}")).unwrap();
    }
    conn.execute("DELETE FROM schema_migrations WHERE version = 2", []).unwrap();
    conn.execute(REFUSED[0], []).unwrap();
    conn.execute("UPDATE sprint SET end_date = '2026-03-01' WHERE sprint_index = 1", []).unwrap();
    drop(conn);
    // Any command that opens the store migrates it.
    digest(&store);
    let conn = rusqlite::Connection::open(&store).unwrap();
    let version: i64 = conn.query_row("SELECT MAX(version) FROM schema_migrations", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 2);
    assert!(conn.execute(REFUSED[0], []).is_err(), "the migrated store refuses a date that does not exist");
}

/// Runs `args` on `store` with JSON output; returns the exit code and the report.
fn run_json(store: &Path, args: &[&std::ffi::OsStr]) -> (i32, serde_json::Value) {
    let out = bin().arg("--store").arg(store).args(["--format", "json"]).args(args).output().unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), report)
}

#[test]
fn an_archive_over_the_default_limits_is_written_reported_and_read_with_raised_limits() {
    let dir = TempDir::new().unwrap();
    let (edited, fresh, safety) = paths(dir.path());
    init(&edited, true);
    // A text over the 1 MiB string limit, and a PI over the 8 MiB entity limit: nine objective
    // descriptions of a million bytes each (each under the string limit).
    let conn = rusqlite::Connection::open(&edited).unwrap();
    let pi: String = conn.query_row("SELECT MIN(pi_key) FROM pi", [], |r| r.get(0)).unwrap();
    let team: String = conn.query_row("SELECT MIN(team_key) FROM team", [], |r| r.get(0)).unwrap();
    conn.execute("UPDATE team SET name = ?1 WHERE team_key = ?2", [&"n".repeat(1_500_000), &team]).unwrap();
    conn.execute("DELETE FROM objective_epic WHERE pi_key = ?1", [&pi]).unwrap();
    conn.execute("DELETE FROM objective WHERE pi_key = ?1", [&pi]).unwrap();
    for position in 0..9 {
        conn.execute(
            "INSERT INTO objective VALUES (?1, ?2, 'PROGRAM', NULL, ?2, 'o', ?3, 0, NULL, NULL)",
            rusqlite::params![pi, position, "d".repeat(1_000_000)],
        )
        .unwrap();
    }
    drop(conn);
    let expected = digest(&edited);

    // Written and verified, exit 0; the report names both entities and the options to read it.
    let archive = dir.path().join("big.json.zst");
    let (code, report) = run_json(&edited, &["export".as_ref(), "-o".as_ref(), archive.as_os_str()]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["content_digest"].as_str(), Some(expected.as_str()));
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains(&format!("team {team:?}").replace('"', "\\\"")), "{warnings}");
    assert!(warnings.contains("/data/pis/0"), "{warnings}");
    assert!(warnings.contains("--max-string 1500000"), "{warnings}");
    assert!(warnings.contains("--max-entity"), "{warnings}");

    // Refused under the default limits, with the option named; read with raised ones.
    let (code, report) = run_json(&edited, &["validate".as_ref(), archive.as_os_str()]);
    assert_eq!(code, 3, "{report}");
    assert!(report.to_string().contains("--max-"), "{report}");
    let raised = ["--max-string", "2000000", "--max-entity", "20000000"].map(std::ffi::OsStr::new);
    let (code, report) = run_json(&edited, &[&["validate".as_ref(), archive.as_os_str()][..], &raised].concat());
    assert_eq!(code, 0, "{report}");
    init(&fresh, false);
    let import = [
        &["import".as_ref(), "--yes".as_ref(), "--safety-dir".as_ref(), safety.as_os_str()][..],
        &raised,
        &[archive.as_os_str()],
    ]
    .concat();
    let (code, report) = run_json(&fresh, &import);
    assert_eq!(code, 0, "{report}");
    assert_eq!(digest(&fresh), expected);

    // The safety backup of such a store says the same, so that the undo can be read back.
    let empty_store = dir.path().join("empty.db");
    init(&empty_store, false);
    let empty = dir.path().join("empty.json.zst");
    bin().arg("--store").arg(&empty_store).arg("export").arg("-o").arg(&empty).assert().success();
    let (code, report) = run_json(&fresh, &[&import[..import.len() - 1], &[empty.as_os_str()]].concat());
    assert_eq!(code, 0, "{report}");
    assert!(report["safety_backup_notes"].to_string().contains("--max-entity"), "{report}");
}
