//! Selective restore (`import --only`): the selected entities end as the backup has them, every
//! other entity stays byte for byte as the store has it, and a result that breaks a rule is
//! refused with the selectors that would complete it. Against a SQLite file and, with the
//! `pg-tests` feature (`pg_*`), a real PostgreSQL server.

use std::path::Path;

use ativo_backup::archive::{self, Limits};
use ativo_backup::error::Error;
use ativo_backup::model::canonical::to_canonical_vec;
use ativo_backup::model::validate::validate;
use ativo_backup::model::{Configuration, Team};
use ativo_backup::ops::diff::Plan;
use ativo_backup::ops::select::{Selection, Selector};
use ativo_backup::ops::{self, Input, import};
use ativo_backup::sample::{self, SampleSize};

use crate::import_stream::{Backend, Setup};

const SOLO: &str = "SOLO";

/// Monday's configuration, with a team only one program has, and Thursday's: that program, its
/// PIs and the team deleted by mistake, and the changes everybody else made since (a team
/// renamed, a capacity cell of another program's PI, a setting, a new team, an admin removed).
/// Returns both and the deleted program's key.
fn week() -> (Configuration, Configuration, String) {
    let (mut monday, _) = sample::generate(SampleSize::Demo);
    let program = monday.programs[0].key.clone();
    let solo = Team { key: SOLO.into(), name: "Solo team".into(), ..monday.teams[0].clone() };
    monday.teams.push(solo);
    monday.programs[0].teams.push(SOLO.into());
    monday.sort();

    let mut thursday = monday.clone();
    thursday.programs.retain(|p| p.key != program);
    thursday.pis.retain(|p| p.program != program);
    thursday.teams.retain(|t| t.key != SOLO);
    let renamed = thursday.teams.len() - 1;
    thursday.teams[renamed].name.push_str(" (renamed Thursday)");
    let other = thursday.pis.iter_mut().find(|p| !p.capacity.is_empty()).expect("a PI with capacity");
    other.capacity[0].value += 1.5;
    thursday.settings.field_sharing = !thursday.settings.field_sharing;
    thursday.teams.push(Team { key: "NEWT".into(), name: "New team".into(), ..thursday.teams[0].clone() });
    if let Some(admins) = &mut thursday.admins {
        admins.users.pop();
    }
    thursday.sort();
    for config in [&monday, &thursday] {
        let errors: Vec<_> = validate(config).into_iter().filter(|f| f.is_error()).collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
    (monday, thursday, program)
}

fn selection(selectors: &[&str]) -> Selection {
    Selection::parse(selectors).unwrap().unwrap()
}

fn with_only(s: &Setup, archive: &Path, selectors: &[&str]) -> import::ImportOptions {
    import::ImportOptions { only: Some(selection(selectors)), ..s.options(archive) }
}

/// Every entity of `config` with its selector and its canonical bytes.
fn entities(config: &Configuration) -> Vec<(Selector, Vec<u8>)> {
    let mut out = vec![
        (Selector::Settings, to_canonical_vec(&config.settings)),
        (Selector::Admins, to_canonical_vec(&config.admins)),
    ];
    out.extend(config.teams.iter().map(|t| (Selector::Team(t.key.clone()), to_canonical_vec(t))));
    out.extend(config.programs.iter().map(|p| (Selector::Program(p.key.clone()), to_canonical_vec(p))));
    out.extend(config.periods.iter().map(|p| (Selector::Period(p.key.clone()), to_canonical_vec(p))));
    out.extend(config.pis.iter().map(|p| (Selector::Pi(p.key.clone()), to_canonical_vec(p))));
    out
}

/// The entities `before` and `after` do not both hold with the same canonical bytes.
fn changed(before: &Configuration, after: &Configuration) -> Vec<Selector> {
    let (a, b) = (entities(before), entities(after));
    let mut out: Vec<Selector> = a.iter().filter(|e| !b.contains(e)).map(|e| e.0.clone()).collect();
    out.extend(b.iter().filter(|e| !a.contains(e)).map(|e| e.0.clone()));
    out.sort();
    out.dedup();
    out
}

fn kind<'a>(plan: &'a Plan, name: &str) -> &'a ops::diff::KindChange {
    plan.kinds.iter().find(|k| k.kind == name).unwrap()
}

fn read(path: &Path) -> archive::Archive {
    ops::read_archive(&Input::File(path.to_path_buf()), &Limits::default()).unwrap()
}

fn a_deleted_program_comes_back_and_every_other_change_stays(backend: Backend) {
    let (monday, thursday, program) = week();
    let mut s = Setup::new(backend);
    s.put(&monday);
    let backup = s.export("monday.json.zst");
    s.put(&thursday);
    let before = s.config();

    let options = with_only(&s, &backup, &[&format!("program:{program}"), "team:SOLO"]);
    let checked = import::check(s.store.as_mut(), &options).unwrap();
    let report = import::apply(s.store.as_mut(), &options, checked).unwrap();
    let after = s.config();

    // Only the program, its PIs and the team changed; all else is byte-identical.
    let program_pis: Vec<Selector> =
        monday.pis.iter().filter(|p| p.program == program).map(|p| Selector::Pi(p.key.clone())).collect();
    let mut expected = vec![Selector::Team(SOLO.into()), Selector::Program(program.clone())];
    expected.extend(program_pis.iter().cloned());
    expected.sort();
    assert_eq!(changed(&before, &after), expected);
    // And they are exactly Monday's.
    let monday_entities = entities(&monday);
    for e in entities(&after).into_iter().filter(|e| expected.contains(&e.0)) {
        assert!(monday_entities.contains(&e), "{} differs from the backup", e.0);
    }

    assert_eq!(report.only, vec!["team:SOLO".to_string(), format!("program:{program}")], "in the fixed order");
    assert_eq!(kind(&report.plan, "programs").added, 1);
    assert_eq!(kind(&report.plan, "pis").added, program_pis.len());
    assert_eq!(kind(&report.plan, "teams").added, 1);
    for k in &report.plan.kinds {
        assert_eq!((k.removed, k.changed), (0, 0), "{}: a restore of deleted things only adds", k.kind);
    }
    assert_eq!(report.content_digest_after, archive::content_digest(&after));
    assert_eq!(report.content_digest_before, archive::content_digest(&before));
    let safety = read(Path::new(report.safety_backup.as_deref().unwrap()));
    assert_eq!(safety.data, before, "the safety backup holds the whole store as it was");
    let log = ops::log::recent(s.store.as_mut(), Some(1)).unwrap();
    assert_eq!(log[0].detail["only"], serde_json::json!(report.only), "the log records the selectors");
    assert_eq!(log[0].content_digest.as_deref(), Some(report.content_digest_after.as_str()));
}

fn an_incomplete_selection_is_refused_with_the_selectors_that_complete_it(backend: Backend) {
    let (monday, thursday, program) = week();
    let mut s = Setup::new(backend);
    s.put(&monday);
    let backup = s.export("monday.json.zst");
    s.put(&thursday);

    let options = with_only(&s, &backup, &[&format!("program:{program}")]);
    let err = import::check(s.store.as_mut(), &options).unwrap_err();
    assert_eq!(err.exit_code(), 3);
    let Error::Invalid { context, findings } = &err else { panic!("{err}") };
    assert!(context.contains("add --only team:SOLO to complete the selection"), "{context}");
    let missing = findings.iter().find(|f| f.is_error()).unwrap();
    assert!(missing.message.contains(SOLO) && missing.hint.contains("--only team:SOLO"), "{missing:?}");
    assert_eq!(s.config(), thursday, "a refused import changes nothing");
    assert!(!s.dir.path().join("safety").exists(), "nor writes a safety backup");
}

fn removing_what_the_store_still_uses_names_its_users(backend: Backend) {
    let (monday, mut thursday, program) = week();
    let mut s = Setup::new(backend);
    s.put(&monday);
    let backup = s.export("monday.json.zst");
    // Since Monday, another program took on the new team.
    let other = thursday.programs.iter_mut().find(|p| p.key != program).unwrap();
    other.teams.push("NEWT".into());
    let other = other.key.clone();
    s.put(&thursday);

    // Restoring the team as the backup has it (absent) would leave that program's list dangling.
    let options = with_only(&s, &backup, &["team:NEWT"]);
    let err = import::check(s.store.as_mut(), &options).unwrap_err();
    let Error::Invalid { context, .. } = &err else { panic!("{err}") };
    assert!(context.contains(&format!("add --only program:{other} to complete")), "{context}");
    assert_eq!(s.config(), thursday);

    // --allow-invalid lets the rule pass, but the store's own foreign keys cannot hold a program
    // listing a missing team: the transaction fails (exit 7) and nothing changes.
    let options = import::ImportOptions { allow_invalid: true, ..with_only(&s, &backup, &["team:NEWT"]) };
    let checked = import::check(s.store.as_mut(), &options).unwrap();
    assert_eq!(checked.findings.iter().filter(|f| f.is_error()).count(), 1);
    let err = import::apply(s.store.as_mut(), &options, checked).unwrap_err();
    assert_eq!(err.exit_code(), 7, "{err}");
    assert_eq!(s.config(), thursday);
}

fn each_selector_restores_its_entity_only(backend: Backend) {
    let (monday, thursday, _) = week();
    let mut s = Setup::new(backend);
    s.put(&monday);
    let backup = s.export("monday.json.zst");
    let edited_pi = thursday.pis.iter().find(|p| !monday.pis.contains(p)).unwrap().key.clone();
    let cases: Vec<(Vec<String>, Vec<Selector>)> = vec![
        (vec![format!("pi:{edited_pi}")], vec![Selector::Pi(edited_pi.clone())]),
        (vec!["settings".into()], vec![Selector::Settings]),
        (vec!["admins".into()], vec![Selector::Admins]),
        // Only the store has it: restoring it as the backup has it removes it.
        (vec!["team:NEWT".into()], vec![Selector::Team("NEWT".into())]),
        (vec!["settings".into(), "admins".into()], vec![Selector::Settings, Selector::Admins]),
    ];
    for (selectors, expected) in cases {
        s.put(&thursday);
        let before = s.config();
        let words: Vec<&str> = selectors.iter().map(String::as_str).collect();
        let options = with_only(&s, &backup, &words);
        let checked = import::check(s.store.as_mut(), &options).unwrap();
        import::apply(s.store.as_mut(), &options, checked).unwrap();
        let after = s.config();
        assert_eq!(changed(&before, &after), expected, "{selectors:?}");
        let monday_entities = entities(&monday);
        for e in entities(&after).into_iter().filter(|e| expected.contains(&e.0)) {
            assert!(monday_entities.contains(&e), "{selectors:?}: {} differs from the backup", e.0);
        }
    }
}

fn a_selector_naming_nothing_is_a_usage_error(backend: Backend) {
    let (monday, _, _) = week();
    let mut s = Setup::new(backend);
    s.put(&monday);
    let backup = s.export("monday.json.zst");
    for bad in ["program:NOPE", "pi:NOPE-2026", "team:nope", "period:P9"] {
        let options = with_only(&s, &backup, &[bad]);
        let err = import::check(s.store.as_mut(), &options).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{bad}: {err}");
        assert!(err.to_string().contains(bad), "{err}");
    }
    assert_eq!(s.config(), monday);
}

fn a_store_changed_after_the_check_is_merged_again_under_the_lock(backend: Backend) {
    let (monday, thursday, program) = week();
    let mut s = Setup::new(backend);
    s.put(&monday);
    let backup = s.export("monday.json.zst");
    s.put(&thursday);
    let options = with_only(&s, &backup, &[&format!("program:{program}"), "team:SOLO"]);
    let checked = import::check(s.store.as_mut(), &options).unwrap();
    // Someone renames another team between the check and the write.
    let mut friday = thursday.clone();
    friday.teams[0].name.push_str(" (renamed Friday)");
    s.put(&friday);
    let report = import::apply(s.store.as_mut(), &options, checked).unwrap();
    let after = s.config();
    assert_eq!(after.teams.iter().find(|t| t.key == friday.teams[0].key), Some(&friday.teams[0]));
    assert!(after.programs.iter().any(|p| p.key == program));
    assert_eq!(report.content_digest_after, archive::content_digest(&after));
    assert_eq!(read(Path::new(report.safety_backup.as_deref().unwrap())).data, friday);
}

fn diff_only_previews_the_selective_import(backend: Backend) {
    let (monday, thursday, program) = week();
    let mut s = Setup::new(backend);
    s.put(&monday);
    let backup = s.export("monday.json.zst");
    s.put(&thursday);
    let only = ["team:SOLO".to_string(), format!("program:{program}")];
    let words: Vec<&str> = only.iter().map(String::as_str).collect();
    let options = with_only(&s, &backup, &words);
    let checked = import::check(s.store.as_mut(), &options).unwrap();
    let preview = ops::diff::diff(
        &ops::diff::Side::parse(&s.store.location()).unwrap(),
        &ops::diff::Side::Archive(Input::File(backup.clone())),
        &Limits::default(),
        Some(&selection(&words)),
    )
    .unwrap();
    assert_eq!(preview.plan, checked.plan, "diff --only shows the plan import --only makes");
    assert_eq!(preview.only, only);
}

#[test]
fn sqlite_a_deleted_program_comes_back_and_every_other_change_stays() {
    a_deleted_program_comes_back_and_every_other_change_stays(Backend::Sqlite);
}

#[test]
fn sqlite_an_incomplete_selection_is_refused_with_the_selectors_that_complete_it() {
    an_incomplete_selection_is_refused_with_the_selectors_that_complete_it(Backend::Sqlite);
}

#[test]
fn sqlite_removing_what_the_store_still_uses_names_its_users() {
    removing_what_the_store_still_uses_names_its_users(Backend::Sqlite);
}

#[test]
fn sqlite_each_selector_restores_its_entity_only() {
    each_selector_restores_its_entity_only(Backend::Sqlite);
}

#[test]
fn sqlite_a_selector_naming_nothing_is_a_usage_error() {
    a_selector_naming_nothing_is_a_usage_error(Backend::Sqlite);
}

#[test]
fn sqlite_a_store_changed_after_the_check_is_merged_again_under_the_lock() {
    a_store_changed_after_the_check_is_merged_again_under_the_lock(Backend::Sqlite);
}

#[test]
fn sqlite_diff_only_previews_the_selective_import() {
    diff_only_previews_the_selective_import(Backend::Sqlite);
}

#[cfg(feature = "pg-tests")]
#[test]
fn pg_a_deleted_program_comes_back_and_every_other_change_stays() {
    a_deleted_program_comes_back_and_every_other_change_stays(Backend::Postgres);
}

#[cfg(feature = "pg-tests")]
#[test]
fn pg_an_incomplete_selection_is_refused_with_the_selectors_that_complete_it() {
    an_incomplete_selection_is_refused_with_the_selectors_that_complete_it(Backend::Postgres);
}

#[cfg(feature = "pg-tests")]
#[test]
fn pg_each_selector_restores_its_entity_only() {
    each_selector_restores_its_entity_only(Backend::Postgres);
}

#[cfg(feature = "pg-tests")]
#[test]
fn pg_a_store_changed_after_the_check_is_merged_again_under_the_lock() {
    a_store_changed_after_the_check_is_merged_again_under_the_lock(Backend::Postgres);
}

mod cli {
    //! The same through the real binary: exit codes, the refusal's hint, the log, `diff --only`.

    use super::*;
    use crate::commands::{digest, json_of, on};
    use predicates::prelude::*;

    /// A SQLite store holding Thursday's configuration, Monday's backup, and the deleted program.
    fn thursday() -> (Setup, std::path::PathBuf, std::path::PathBuf, String) {
        let (monday, thursday, program) = week();
        let mut s = Setup::new(Backend::Sqlite);
        s.put(&monday);
        let backup = s.export("monday.json.zst");
        s.put(&thursday);
        let store = s.dir.path().join("store.db");
        (s, store, backup, program)
    }

    #[test]
    fn a_refused_selection_names_the_selectors_that_complete_it_and_the_completed_one_restores() {
        let (s, store, backup, program) = thursday();
        let before = digest(&store);
        let only = format!("program:{program}");
        on(&store)
            .args(["import", "--yes", "--only", &only])
            .arg(&backup)
            .assert()
            .code(3)
            .stderr(predicate::str::contains("add --only team:SOLO to complete the selection"));
        assert_eq!(digest(&store), before, "the store is untouched");
        on(&store)
            .args(["import", "--yes", "--only", &only, "--only", "team:SOLO"])
            .arg(&backup)
            .assert()
            .success()
            .stdout(predicate::str::contains(format!("--only team:SOLO --only {only}")));
        let log = json_of(on(&store).args(["--format", "json", "log", "--limit", "1"]));
        assert_eq!(log[0]["detail"]["only"], serde_json::json!(["team:SOLO", only]));
        on(&store)
            .args(["log", "--limit", "1"])
            .assert()
            .success()
            .stdout(predicate::str::contains("--only team:SOLO"));
        drop(s);
    }

    #[test]
    fn bad_selectors_and_keys_nobody_has_are_usage_errors_with_the_store_untouched() {
        let (s, store, backup, _) = thursday();
        let before = digest(&store);
        for (only, says) in [
            ("teams:PUMA", "is not a selector"),
            ("program", "is not a selector"),
            ("team:NOPE", "neither the archive nor the store has"),
            ("pi:NOPE-2026", "neither the archive nor the store has"),
        ] {
            on(&store)
                .args(["import", "--yes", "--only", only])
                .arg(&backup)
                .assert()
                .code(2)
                .stderr(predicate::str::contains(says));
        }
        assert_eq!(digest(&store), before);
        drop(s);
    }

    #[test]
    fn only_is_refused_for_migration_archives_and_by_migrate() {
        let (s, store, _, program) = thursday();
        let migration = s.dir.path().join("migration.json.zst");
        on(&store).args(["export", "--scope", "migration", "-o"]).arg(&migration).assert().success();
        let only = format!("program:{program}");
        on(&store)
            .args(["import", "--yes", "--only", &only])
            .arg(&migration)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("migration archive"));
        on(&store)
            .args(["migrate", "--mappings", "m.json", "--only", &only])
            .arg(&migration)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("migrate has no --only"));
        drop(s);
    }

    #[test]
    fn diff_only_shows_just_the_selected_changes() {
        let (s, store, backup, program) = thursday();
        let only = format!("program:{program}");
        let full = json_of(on(&store).args(["--format", "json", "diff"]).arg(&backup));
        let part =
            json_of(on(&store).args(["--format", "json", "diff", "--only", &only, "--only", "team:SOLO"]).arg(&backup));
        let count = |report: &serde_json::Value, kind: &str, what: &str| {
            report["plan"]["kinds"].as_array().unwrap().iter().find(|k| k["kind"] == kind).unwrap()[what]
                .as_u64()
                .unwrap()
        };
        assert!(count(&full, "teams", "changed") > 0, "the full diff shows Thursday's renames");
        assert_eq!(count(&part, "teams", "changed"), 0, "the selective one does not");
        assert_eq!(count(&part, "programs", "added"), 1);
        assert_eq!(part["only"], serde_json::json!(["team:SOLO", only]));
        let dry = json_of(
            on(&store)
                .args(["--format", "json", "import", "--dry-run", "--only", &only, "--only", "team:SOLO"])
                .arg(&backup),
        );
        assert_eq!(dry["plan"], part["plan"], "the preview is the plan of the import");
        drop(s);
    }
}
