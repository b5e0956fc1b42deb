//! Store conformance suite: what every backend must do, written once against the [`Backend`]
//! trait below and run against SQLite files in temporary directories and, with the `pg-tests`
//! feature, against PostgreSQL (a fresh database per fixture, on the server named by
//! `ATIVO_TEST_PG`; those tests are named `pg_*`).
//!
//! PostgreSQL-specific checks live in `store_postgres.rs`. SQLite-specific checks (a file that is not a database, a missing directory, tampering past
//! CHECK constraints) sit at the end, under "SQLite only". Configurations are built by hand so
//! that every optional member appears both ways; this suite does not depend on the sample
//! generator.

use crate::archive_common::host;
use std::any::Any;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ativo_backup::Error;
use ativo_backup::error::StoreError;
use ativo_backup::host::{Deployment, HostIdentity};
use ativo_backup::model::*;
use ativo_backup::store::{self, Location, OpenOptions, Operation, Snapshot, Store};
use chrono::{NaiveDate, TimeZone, Utc};

// ---------------------------------------------------------------------------------------------
// The backend interface of the suite

/// A location where no store exists yet; dropping it cleans up.
struct Fixture {
    location: Location,
    _guard: Box<dyn Any>,
}

trait Backend {
    /// A fresh location with no store.
    fn fresh(&self) -> Fixture;
    /// Whether anything exists at the location (a file, a schema).
    fn exists(&self, location: &Location) -> bool;
    /// Runs SQL on a connection of its own, committed.
    fn execute_raw(&self, location: &Location, sql: &str);
    /// Begins a write transaction on a connection of its own, runs `sql` in it and keeps it
    /// open, uncommitted, until the returned guard is dropped (then it rolls back).
    fn hold_write(&self, location: &Location, sql: &str) -> Box<dyn Any>;
}

fn quick() -> OpenOptions {
    OpenOptions { lock_timeout: Duration::from_millis(300) }
}

fn create(b: &dyn Backend) -> (Fixture, Box<dyn Store>) {
    let f = b.fresh();
    let s = store::create_with(&f.location, &host(), &quick()).unwrap();
    (f, s)
}

fn op(kind: &str, detail: serde_json::Value) -> Operation {
    Operation {
        id: 0,
        at: Utc.with_ymd_and_hms(2024, 5, 17, 9, 30, 0).unwrap() + chrono::Duration::nanoseconds(123_456_789),
        kind: kind.into(),
        os_user: "jira-admin".to_owned(),
        archive_digest: Some("sha256:aa".to_owned()),
        content_digest: None,
        outcome: "ok".into(),
        detail,
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn s(v: &str) -> String {
    v.to_owned()
}

fn manual(projects: &[(&str, &str)], fields: Vec<FieldFilter>) -> ScopeFilter {
    ScopeFilter::Manual {
        fields,
        projects: projects.iter().map(|(id, key)| ProjectRef { id: s(id), key: s(key) }).collect(),
    }
}

fn team(key: &str, kind: TeamType, mode: TeamMode, estimation: Estimation) -> Team {
    Team { archived: false, board: None, estimation, key: s(key), mode, name: format!("Team {key}"), scope: None, kind }
}

fn objective(level: ObjectiveLevel, team: Option<&str>, order: u32, title: &str) -> Objective {
    Objective {
        business_value_delivered: None,
        business_value_planned: None,
        committed: false,
        description: None,
        epics: Vec::new(),
        level,
        order,
        team: team.map(s),
        title: s(title),
    }
}

fn milestone(order: u32, name: &str) -> Milestone {
    Milestone { date: None, description: None, kind: None, name: s(name), order, sprint: Some(1), team: None }
}

/// Floats that a careless store would round: decimal fractions, tiny, huge, subnormal.
const FLOATS: [f64; 7] = [0.1, 1e-7, -0.0, 3.0, 1e300, 5e-324, 2.5];

/// A configuration with every kind of entity, every optional member both present and absent,
/// lists given out of canonical order, ties in canonical order, unicode and empty strings.
fn rich() -> Configuration {
    let mut lion = team("LION", TeamType::Board, TeamMode::Scrum, Estimation::StoryPoints);
    lion.board = Some(s("12"));
    let mut giraffe = team("ŽIRAFA", TeamType::Custom, TeamMode::Kanban, Estimation::ManDays);
    giraffe.archived = true;
    giraffe.name = s("Žirafa 🦒 «équipe»");
    giraffe.scope = Some(manual(
        &[("10002", "ZEBRA"), ("10001", "ALPHA")],
        vec![
            FieldFilter {
                field_id: s("labels"),
                operator: FilterOperator::In,
                option_ids: vec![],
                values: vec![s("b"), s("a"), s("")],
            },
            FieldFilter {
                field_id: s("customfield_10100"),
                operator: FilterOperator::In,
                option_ids: vec![s("3"), s("1")],
                values: vec![],
            },
        ],
    ));
    let mut tiger = team("TIGER", TeamType::Custom, TeamMode::Scrum, Estimation::IssueCount);
    tiger.scope = Some(ScopeFilter::JiraFilter { filter_id: s("10400") });
    let mut empty = team("E", TeamType::Board, TeamMode::Kanban, Estimation::StoryPoints);
    empty.name = s("");

    let programs = vec![
        Program {
            archived: true,
            feature_scope: FeatureScope {
                epic_filter: ScopeFilter::JiraFilter { filter_id: s("1") },
                epic_mode: EpicMode::TeamIssues,
                issue_filter: None,
                mode: FeatureMode::IssueTypes,
            },
            key: s("PGRM2"),
            name: s("Second"),
            teams: vec![],
        },
        Program {
            archived: false,
            feature_scope: FeatureScope {
                epic_filter: manual(&[], vec![]),
                epic_mode: EpicMode::Filter,
                issue_filter: Some(ScopeFilter::JiraFilter { filter_id: s("10001") }),
                mode: FeatureMode::Epics,
            },
            key: s("PGRM1"),
            name: s("First ART"),
            teams: vec![s("TIGER"), s("LION"), s("ŽIRAFA")],
        },
    ];

    let periods = vec![
        Period { archived: true, key: s("2024Q2"), name: s("Q2"), sprints: vec![] },
        Period {
            archived: false,
            key: s("2024Q1"),
            name: s("2024 Q1"),
            sprints: vec![
                Sprint {
                    completed: false,
                    end: date(2024, 2, 13),
                    index: 3,
                    name: Some(s("")),
                    start: date(2024, 1, 31),
                },
                Sprint {
                    completed: true,
                    end: date(2024, 1, 16),
                    index: 1,
                    name: Some(s("S1")),
                    start: date(2024, 1, 3),
                },
                Sprint { completed: true, end: date(2024, 1, 30), index: 2, name: None, start: date(2024, 1, 17) },
            ],
        },
    ];

    let mut capacity: Vec<Capacity> = FLOATS
        .iter()
        .enumerate()
        .map(|(i, v)| Capacity { sprint: 3 - (i as u32 % 3), team: s(if i < 3 { "TIGER" } else { "LION" }), value: *v })
        .collect();
    capacity.truncate(6);
    capacity.push(Capacity { sprint: 1, team: s("ŽIRAFA"), value: FLOATS[6] });

    let mut committed = objective(ObjectiveLevel::Team, Some("LION"), 2, "Ship it");
    committed.committed = true;
    committed.business_value_planned = Some(10);
    committed.business_value_delivered = Some(0);
    committed.description = Some(s(""));
    committed.epics = vec![IssueRef { id: s("20002"), key: s("ART-2") }, IssueRef { id: s("20001"), key: s("ART-1") }];
    let objectives = vec![
        committed,
        objective(ObjectiveLevel::Team, Some("LION"), 1, "Learn"),
        // Two program objectives with the same order: canonical sort keeps their given order.
        objective(ObjectiveLevel::Program, None, 1, "Tie B"),
        objective(ObjectiveLevel::Program, None, 1, "Tie A"),
        objective(ObjectiveLevel::Program, None, 0, "First"),
    ];

    let mut on_date = milestone(2, "Release");
    on_date.sprint = None;
    on_date.date = Some(date(2024, 2, 1));
    on_date.kind = Some(s("release"));
    on_date.description = Some(s("Big one ✓"));
    on_date.team = Some(s("TIGER"));
    let mut tie_one = milestone(1, "Demo");
    tie_one.description = Some(s("one"));
    let mut tie_two = milestone(1, "Demo");
    tie_two.description = Some(s("two"));
    let milestones = vec![on_date, tie_two, tie_one, milestone(0, "Kick-off")];

    let pis = vec![
        Pi {
            capacity: vec![],
            feature_filter: Some(ScopeFilter::JiraFilter { filter_id: s("555") }),
            feature_inclusion: FeatureInclusion::JiraFilter,
            key: s("PGRM2-2024Q1"),
            milestones: vec![],
            objective_epic_mapping: false,
            objectives: vec![],
            period: s("2024Q1"),
            program: s("PGRM2"),
            sprint_mappings: vec![],
            teams: Some(vec![s("ŽIRAFA"), s("LION")]),
        },
        Pi {
            capacity,
            feature_filter: Some(manual(
                &[("1", "A")],
                vec![FieldFilter {
                    field_id: s("f"),
                    operator: FilterOperator::In,
                    option_ids: vec![s("9")],
                    values: vec![],
                }],
            )),
            feature_inclusion: FeatureInclusion::Manual,
            key: s("PGRM1-2024Q1"),
            milestones,
            objective_epic_mapping: true,
            objectives,
            period: s("2024Q1"),
            program: s("PGRM1"),
            sprint_mappings: vec![
                SprintMapping { jira_sprint_id: s("502"), sprint: 2, team: s("TIGER") },
                SprintMapping { jira_sprint_id: s("501"), sprint: 1, team: s("TIGER") },
                SprintMapping { jira_sprint_id: s("401"), sprint: 1, team: s("LION") },
            ],
            teams: None,
        },
        Pi {
            capacity: vec![],
            feature_filter: None,
            feature_inclusion: FeatureInclusion::JiraPlansDates,
            key: s("PGRM1-2024Q2"),
            milestones: vec![],
            objective_epic_mapping: false,
            objectives: vec![],
            period: s("2024Q2"),
            program: s("PGRM1"),
            sprint_mappings: vec![],
            // An override with no teams: not the same as no override.
            teams: Some(vec![]),
        },
    ];

    Configuration {
        admins: Some(Admins {
            groups: vec![
                AdminGroup { group_id: None, name: s("jira-administrators") },
                AdminGroup { group_id: Some(s("9f1c-…")), name: s("ativo-admins") },
            ],
            users: vec![
                AdminUser { account_id: Some(s("5b10a2844c20165700ede21g")), user_key: None },
                AdminUser { account_id: None, user_key: Some(s("JIRAUSER10100")) },
                AdminUser { account_id: Some(s("x")), user_key: Some(s("admin")) },
            ],
        }),
        periods,
        pis,
        programs,
        settings: Settings {
            dependency_link_type_ids: vec![s("10003"), s("10001")],
            feature_issue_type_ids: vec![s("10000")],
            field_sharing: true,
            include_jsm_tickets: false,
            story_points_field: Some(s("")),
            supplier_groups: vec![s("zulieferer"), s("Ärzte"), s("")],
        },
        teams: vec![tiger, lion, giraffe, empty],
    }
}

fn sorted(mut c: Configuration) -> Configuration {
    c.sort();
    c
}

fn write(st: &mut dyn Store, c: &Configuration) -> ativo_backup::Result<()> {
    let c = c.clone();
    st.replace(&mut |_| Ok((c.clone(), op("import", serde_json::json!({ "test": true })))))
}

fn capacity_bits(c: &Configuration) -> Vec<u64> {
    c.pis.iter().flat_map(|p| p.capacity.iter().map(|c| c.value.to_bits())).collect()
}

// ---------------------------------------------------------------------------------------------
// The suite

fn open_never_creates_a_store_and_create_never_overwrites_one(b: &dyn Backend) {
    let f = b.fresh();
    let err = store::open_with(&f.location, &quick()).err().expect("open must not create a store");
    assert!(matches!(err, Error::Store(StoreError::Missing(_))), "{err}");
    assert_eq!(err.exit_code(), 7);
    assert!(!b.exists(&f.location), "open created something");

    let mut st = store::create_with(&f.location, &host(), &quick()).unwrap();
    assert_eq!(st.host().unwrap(), store::HostRecord { identity: host(), aliases: vec![] });
    assert_eq!(st.snapshot().unwrap(), Snapshot { config: Configuration::empty(), api_tokens: vec![] });
    let ops = st.operations().unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].kind, "init");
    assert_eq!(ops[0].outcome, "ok");
    drop(st);

    let mut again = store::open_with(&f.location, &quick()).unwrap();
    assert_eq!(again.host().unwrap().identity, host());
    let err = store::create_with(&f.location, &host(), &quick()).err().expect("create twice");
    assert!(matches!(err, Error::Store(StoreError::AlreadyExists(_))), "{err}");
    assert_eq!(again.snapshot().unwrap().config, Configuration::empty(), "a refused create changed the store");
}

fn what_is_written_reads_back_exactly(b: &dyn Backend) {
    let (f, mut st) = create(b);
    let c = rich();
    write(st.as_mut(), &c).unwrap();
    let expected = sorted(c.clone());
    let got = st.snapshot().unwrap().config;
    assert_eq!(got, expected);
    assert_eq!(capacity_bits(&got), capacity_bits(&expected), "floats must round-trip bit for bit");
    // Absent vs empty team override, and the ties, survived.
    let pi = |k: &str| got.pis.iter().find(|p| p.key == k).unwrap();
    assert_eq!(pi("PGRM1-2024Q1").teams, None);
    assert_eq!(pi("PGRM1-2024Q2").teams, Some(vec![]));
    let titles: Vec<&str> = pi("PGRM1-2024Q1").objectives.iter().map(|o| o.title.as_str()).collect();
    assert_eq!(titles, ["First", "Tie B", "Tie A", "Learn", "Ship it"]);

    // Through a new connection, too.
    drop(st);
    let mut st = store::open_with(&f.location, &quick()).unwrap();
    assert_eq!(st.snapshot().unwrap().config, expected);

    // A migration-scoped configuration has no admins at all: not the same as none.
    let mut no_admins = rich();
    no_admins.admins = None;
    write(st.as_mut(), &no_admins).unwrap();
    assert_eq!(st.snapshot().unwrap().config, sorted(no_admins));
    // And back to empty.
    write(st.as_mut(), &Configuration::empty()).unwrap();
    assert_eq!(st.snapshot().unwrap().config, Configuration::empty());
}

fn a_replace_plans_on_the_current_configuration_and_is_logged(b: &dyn Backend) {
    let (_f, mut st) = create(b);
    write(st.as_mut(), &rich()).unwrap();
    let mut seen = None;
    st.replace(&mut |snap| {
        seen = Some(snap.config.clone());
        Ok((Configuration::empty(), op("import", serde_json::json!({ "safety_backup": "/tmp/x.json.zst" }))))
    })
    .unwrap();
    assert_eq!(seen, Some(sorted(rich())));
    let ops = st.operations().unwrap();
    assert_eq!(ops.iter().map(|o| o.kind.as_str()).collect::<Vec<_>>(), ["init", "import", "import"]);
    assert_eq!(ops[2].detail["safety_backup"], "/tmp/x.json.zst");
}

fn a_replace_that_fails_changes_and_logs_nothing(b: &dyn Backend) {
    let (_f, mut st) = create(b);
    write(st.as_mut(), &rich()).unwrap();
    st.set_api_tokens(&[ApiToken { created_at: s("2024-01-01T00:00:00Z"), created_by: s("admin"), name: s("ci") }])
        .unwrap();
    let before = st.snapshot().unwrap();
    let ops_before = st.operations().unwrap();

    // The plan refuses.
    let err = st.replace(&mut |_| Err(Error::Usage(s("refused by the plan")))).unwrap_err();
    assert!(matches!(err, Error::Usage(_)), "{err}");
    assert_eq!(st.snapshot().unwrap(), before);

    // Inserts fail part-way: each configuration breaks a foreign key or a constraint late,
    // after many rows were written.
    let mut dangling_team = rich();
    dangling_team.programs[1].teams.push(s("NO-SUCH-TEAM"));
    let mut dangling_program = rich();
    dangling_program.pis[0].program = s("NO-SUCH-PROGRAM");
    let mut dangling_milestone_team = rich();
    dangling_milestone_team.pis[1].milestones[0].team = Some(s("GHOST"));
    let mut nan = rich();
    nan.pis[1].capacity[0].value = f64::NAN;
    let mut duplicate_key = rich();
    duplicate_key.teams.push(team("LION", TeamType::Board, TeamMode::Scrum, Estimation::StoryPoints));
    for (name, bad) in [
        ("dangling program team", dangling_team),
        ("dangling pi program", dangling_program),
        ("dangling milestone team", dangling_milestone_team),
        ("NaN capacity", nan),
        ("duplicate team key", duplicate_key),
    ] {
        let err = write(st.as_mut(), &bad).expect_err(name);
        assert!(matches!(err, Error::Store(StoreError::Backend { .. })), "{name}: {err}");
        assert_eq!(err.exit_code(), 7);
        assert_eq!(st.snapshot().unwrap(), before, "{name}: store changed");
    }
    assert_eq!(st.operations().unwrap(), ops_before, "a failed replace was logged");
}

fn the_write_lock_is_exclusive_and_a_busy_store_is_reported(b: &dyn Backend) {
    let (f, mut first) = create(b);
    write(first.as_mut(), &rich()).unwrap();
    let mut second = store::open_with(&f.location, &quick()).unwrap();
    let mut reader = store::open_with(&f.location, &quick()).unwrap();

    let mut inner = None;
    first
        .replace(&mut |_| {
            // `first` holds the write lock now: another writer waits, then gives up.
            let started = Instant::now();
            let err = write(second.as_mut(), &Configuration::empty()).unwrap_err();
            let waited = started.elapsed();
            inner = Some((err, waited));
            // Readers are not blocked and see the committed state.
            assert_eq!(reader.snapshot().unwrap().config, sorted(rich()));
            Ok((Configuration::empty(), op("import", serde_json::json!({}))))
        })
        .unwrap();
    let (err, waited) = inner.unwrap();
    match &err {
        Error::Store(StoreError::Locked { waited_ms, .. }) => {
            assert!(*waited_ms >= 250, "gave up after {waited_ms} ms, before the 300 ms timeout");
        }
        other => panic!("expected Locked, got {other}"),
    }
    assert_eq!(err.exit_code(), 7);
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    assert_eq!(second.snapshot().unwrap().config, Configuration::empty());

    // An outside transaction holding the write lock, too.
    let guard = b.hold_write(&f.location, "DELETE FROM settings_supplier_group");
    let err = write(second.as_mut(), &rich()).unwrap_err();
    assert!(matches!(err, Error::Store(StoreError::Locked { .. })), "{err}");
    drop(guard);
    write(second.as_mut(), &rich()).unwrap();
}

fn readers_see_a_consistent_snapshot(b: &dyn Backend) {
    let (f, mut st) = create(b);
    write(st.as_mut(), &rich()).unwrap();
    let guard = b.hold_write(&f.location, "DELETE FROM capacity");
    // The writer's uncommitted delete is invisible, and the reader does not wait for it.
    let started = Instant::now();
    assert_eq!(st.snapshot().unwrap().config, sorted(rich()));
    assert!(started.elapsed() < Duration::from_millis(250), "the reader waited for the writer");
    drop(guard);
    assert_eq!(st.snapshot().unwrap().config, sorted(rich()));
}

/// A row that breaks a rule the schema cannot state (here: override teams of a PI that says it
/// has none) fails the read in the middle of a table, naming the table; the store is not
/// changed, and the same connection reads on once the row is mended (a PostgreSQL read stops
/// taking rows mid-stream there).
fn a_row_edited_outside_fails_the_read_and_the_store_reads_on(b: &dyn Backend) {
    let (f, mut st) = create(b);
    write(st.as_mut(), &rich()).unwrap();
    b.execute_raw(&f.location, "UPDATE pi SET has_team_override = (1 = 0) WHERE pi_key = 'PGRM2-2024Q1'");
    let err = st.snapshot().unwrap_err().to_string();
    assert!(err.contains("table pi_team") && err.contains("has_team_override = false"), "{err}");
    let err = st.stream_snapshot(&mut ativo_backup::sink::Collect::default()).unwrap_err().to_string();
    assert!(err.contains("table pi_team"), "{err}");
    b.execute_raw(&f.location, "UPDATE pi SET has_team_override = (1 = 1) WHERE pi_key = 'PGRM2-2024Q1'");
    assert_eq!(st.snapshot().unwrap().config, sorted(rich()));
}

fn a_changed_host_identity_keeps_the_old_one_as_an_alias_when_asked(b: &dyn Backend) {
    let (_f, mut st) = create(b);
    let old = host();
    let new = HostIdentity::new(Deployment::Datacenter, &old.server_id, "https://jira.new.example.com").unwrap();
    let newer = HostIdentity::new(Deployment::Datacenter, &old.server_id, "https://jira3.example.com").unwrap();

    st.set_identity(&new, true).unwrap();
    assert_eq!(st.host().unwrap(), store::HostRecord { identity: new.clone(), aliases: vec![old.clone()] });
    // Keeping again adds no duplicate; not keeping adds nothing.
    st.set_identity(&new, true).unwrap();
    assert_eq!(st.host().unwrap().aliases, vec![old.clone()]);
    st.set_identity(&newer, false).unwrap();
    assert_eq!(st.host().unwrap(), store::HostRecord { identity: newer.clone(), aliases: vec![old.clone()] });
    // Going back to an alias makes it the identity, no longer an alias.
    st.set_identity(&old, true).unwrap();
    assert_eq!(st.host().unwrap(), store::HostRecord { identity: old.clone(), aliases: vec![newer.clone()] });

    let ops = st.operations().unwrap();
    assert_eq!(ops.iter().filter(|o| o.kind == "host-change").count(), 4);
    assert_eq!(ops.last().unwrap().detail["previous"]["base_url"], "https://jira3.example.com");
    // The configuration is untouched.
    assert_eq!(st.snapshot().unwrap().config, Configuration::empty());
}

fn the_operations_log_keeps_every_entry_exactly_and_in_order(b: &dyn Backend) {
    let (_f, mut st) = create(b);
    let detail = serde_json::json!({ "unmapped": ["a", "b"], "nested": { "n": 1, "ü": null } });
    let mut logged = vec![op("export", detail.clone()), op("import", serde_json::json!([])), op("admins-set", detail)];
    logged[1].outcome = "failed: digest mismatch".into();
    logged[1].archive_digest = None;
    logged[1].content_digest = Some(s("sha256:bb"));
    logged[2].at = Utc.with_ymd_and_hms(2001, 1, 1, 0, 0, 0).unwrap();
    for o in &logged {
        st.record(o).unwrap();
    }
    let ops = st.operations().unwrap();
    assert_eq!(ops.len(), 4);
    assert_eq!(ops[0].kind, "init");
    for (got, want) in ops[1..].iter().zip(&logged) {
        assert_eq!(Operation { id: 0, ..got.clone() }, *want, "logged in order, exactly");
    }
    assert!(ops.windows(2).all(|w| w[0].id < w[1].id), "ids increase: {ops:?}");
}

fn api_tokens_are_kept_sorted_and_survive_a_replace(b: &dyn Backend) {
    let (_f, mut st) = create(b);
    let t = |name: &str| ApiToken { created_at: s("2024-03-01T12:00:00Z"), created_by: s("JIRAUSER1"), name: s(name) };
    st.set_api_tokens(&[t("zeta"), t("Älpha"), t("ci")]).unwrap();
    write(st.as_mut(), &rich()).unwrap();
    let snap = st.snapshot().unwrap();
    assert_eq!(snap.api_tokens, vec![t("ci"), t("zeta"), t("Älpha")], "sorted, and kept by replace");
    st.set_api_tokens(&[]).unwrap();
    assert!(st.snapshot().unwrap().api_tokens.is_empty());
    assert_eq!(st.snapshot().unwrap().config, sorted(rich()));
}

fn a_store_with_a_newer_schema_is_refused(b: &dyn Backend) {
    let (f, st) = create(b);
    drop(st);
    b.execute_raw(
        &f.location,
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', '2099-01-01T00:00:00Z')",
    );
    let err = store::open_with(&f.location, &quick()).err().expect("a newer schema must be refused");
    match &err {
        Error::Store(StoreError::NotInitialised { why, .. }) => {
            assert!(why.contains("999") && why.contains("newer"), "{why}")
        }
        other => panic!("expected NotInitialised, got {other}"),
    }
    assert_eq!(err.exit_code(), 7);
}

// ---------------------------------------------------------------------------------------------
// SQLite

struct Sqlite;

impl Sqlite {
    fn path(location: &Location) -> PathBuf {
        match location {
            Location::Sqlite(p) => p.clone(),
            Location::Postgres(_) => unreachable!(),
        }
    }

    fn connect(location: &Location) -> rusqlite::Connection {
        let c =
            rusqlite::Connection::open_with_flags(Self::path(location), rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
                .unwrap();
        c.busy_timeout(Duration::from_secs(5)).unwrap();
        c
    }
}

impl Backend for Sqlite {
    fn fresh(&self) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::Sqlite(dir.path().join("ativo.db"));
        Fixture { location, _guard: Box::new(dir) }
    }

    fn exists(&self, location: &Location) -> bool {
        Self::path(location).exists()
    }

    fn execute_raw(&self, location: &Location, sql: &str) {
        Self::connect(location).execute_batch(sql).unwrap();
    }

    fn hold_write(&self, location: &Location, sql: &str) -> Box<dyn Any> {
        let c = Self::connect(location);
        c.execute_batch("BEGIN IMMEDIATE").unwrap();
        c.execute_batch(sql).unwrap();
        // Dropping the connection with the transaction open rolls it back.
        Box::new(c)
    }
}

macro_rules! conformance {
    ($backend:expr, $($name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                super::$name(&$backend);
            }
        )+
    };
}

mod sqlite {
    use super::Sqlite;
    conformance!(
        Sqlite,
        open_never_creates_a_store_and_create_never_overwrites_one,
        what_is_written_reads_back_exactly,
        a_replace_plans_on_the_current_configuration_and_is_logged,
        a_replace_that_fails_changes_and_logs_nothing,
        the_write_lock_is_exclusive_and_a_busy_store_is_reported,
        readers_see_a_consistent_snapshot,
        a_row_edited_outside_fails_the_read_and_the_store_reads_on,
        a_changed_host_identity_keeps_the_old_one_as_an_alias_when_asked,
        the_operations_log_keeps_every_entry_exactly_and_in_order,
        api_tokens_are_kept_sorted_and_survive_a_replace,
        a_store_with_a_newer_schema_is_refused,
    );
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: the same suite, one database per fixture

#[cfg(feature = "pg-tests")]
use crate::pg_support;

#[cfg(feature = "pg-tests")]
struct Pg;

#[cfg(feature = "pg-tests")]
impl Pg {
    /// The connection as a URI (the test server trusts its users: no password is needed).
    fn url(location: &Location) -> String {
        match location {
            Location::Postgres(_) => location.describe(),
            Location::Sqlite(_) => unreachable!(),
        }
    }
}

#[cfg(feature = "pg-tests")]
impl Backend for Pg {
    fn fresh(&self) -> Fixture {
        let db = pg_support::TestDb::new();
        Fixture { location: db.location(), _guard: Box::new(db) }
    }

    fn exists(&self, location: &Location) -> bool {
        let mut c = pg_support::connect(&Self::url(location));
        let n: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
                &[],
            )
            .unwrap()
            .get(0);
        n > 0
    }

    fn execute_raw(&self, location: &Location, sql: &str) {
        pg_support::connect(&Self::url(location)).batch_execute(sql).unwrap();
    }

    fn hold_write(&self, location: &Location, sql: &str) -> Box<dyn Any> {
        let mut c = pg_support::connect(&Self::url(location));
        c.batch_execute("BEGIN").unwrap();
        // The store's write lock is the advisory lock every writer takes (SQLite's equivalent
        // is BEGIN IMMEDIATE); row locks alone would not conflict with a replace of an empty
        // store.
        let lock =
            format!("SELECT pg_advisory_xact_lock({}, {})", store::POSTGRES_LOCK_CLASS, store::POSTGRES_LOCK_OBJECT);
        c.batch_execute(&lock).unwrap();
        c.batch_execute(sql).unwrap();
        // Dropping the client closes the connection: the server rolls the transaction back.
        Box::new(c)
    }
}

#[cfg(feature = "pg-tests")]
mod pg {
    use super::Pg;

    /// `pg_`-prefixed names, so that `cargo test --features pg-tests -- pg_` selects them.
    macro_rules! pg_conformance {
        ($($test:ident => $name:ident),+ $(,)?) => {
            $(
                #[test]
                fn $test() {
                    super::$name(&Pg);
                }
            )+
        };
    }

    pg_conformance!(
        pg_open_never_creates_a_store_and_create_never_overwrites_one => open_never_creates_a_store_and_create_never_overwrites_one,
        pg_what_is_written_reads_back_exactly => what_is_written_reads_back_exactly,
        pg_a_replace_plans_on_the_current_configuration_and_is_logged => a_replace_plans_on_the_current_configuration_and_is_logged,
        pg_a_replace_that_fails_changes_and_logs_nothing => a_replace_that_fails_changes_and_logs_nothing,
        pg_a_row_edited_outside_fails_the_read_and_the_store_reads_on => a_row_edited_outside_fails_the_read_and_the_store_reads_on,
        pg_the_write_lock_is_exclusive_and_a_busy_store_is_reported => the_write_lock_is_exclusive_and_a_busy_store_is_reported,
        pg_readers_see_a_consistent_snapshot => readers_see_a_consistent_snapshot,
        pg_a_changed_host_identity_keeps_the_old_one_as_an_alias_when_asked => a_changed_host_identity_keeps_the_old_one_as_an_alias_when_asked,
        pg_the_operations_log_keeps_every_entry_exactly_and_in_order => the_operations_log_keeps_every_entry_exactly_and_in_order,
        pg_api_tokens_are_kept_sorted_and_survive_a_replace => api_tokens_are_kept_sorted_and_survive_a_replace,
        pg_a_store_with_a_newer_schema_is_refused => a_store_with_a_newer_schema_is_refused,
    );
}

// ---- SQLite only

fn store_err(location: &Location) -> StoreError {
    match store::open_with(location, &quick()).err().expect("open must fail") {
        Error::Store(e) => e,
        other => panic!("expected a store error, got {other}"),
    }
}

#[test]
fn sqlite_files_that_are_not_stores_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, b"this is not a database, it is a plain text file that is long enough....").unwrap();
    let e = store_err(&Location::Sqlite(garbage));
    assert!(matches!(&e, StoreError::NotInitialised { why, .. } if why.contains("not a SQLite database")), "{e}");

    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other).unwrap().execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
    let e = store_err(&Location::Sqlite(other));
    assert!(
        matches!(&e, StoreError::NotInitialised { why, .. } if why.contains("without ativo-backup's tables")),
        "{e}"
    );

    let e = store_err(&Location::Sqlite(dir.path().to_owned()));
    assert!(matches!(e, StoreError::NotInitialised { .. }), "{e}");

    // An empty file (what `touch` makes) is not a store either, and stays untouched.
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let e = store_err(&Location::Sqlite(empty.clone()));
    assert!(matches!(e, StoreError::NotInitialised { .. }), "{e}");
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);
}

#[test]
fn sqlite_create_needs_the_directory_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let location = Location::Sqlite(dir.path().join("no-such-dir").join("ativo.db"));
    let err = store::create_with(&location, &host(), &quick()).err().unwrap();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!dir.path().join("no-such-dir").exists());

    let location = Location::Sqlite(dir.path().join("ativo.db"));
    drop(store::create_with(&location, &host(), &quick()).unwrap());
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("ativo.db-")) // WAL and shared-memory files of the store
        .collect();
    assert_eq!(names, ["ativo.db"], "temporary files left behind");
}

#[test]
fn sqlite_store_is_in_wal_mode_with_foreign_keys() {
    let f = Sqlite.fresh();
    drop(store::create_with(&f.location, &host(), &quick()).unwrap());
    let c = Sqlite::connect(&f.location);
    let mode: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let id: i64 = c.query_row("PRAGMA application_id", [], |r| r.get(0)).unwrap();
    assert_eq!(id, 0x4154_564f);
    let fks: i64 = c.query_row("SELECT COUNT(*) FROM pragma_foreign_key_list('capacity')", [], |r| r.get(0)).unwrap();
    assert_eq!(fks, 2, "capacity references pi and team");
}

#[test]
fn sqlite_tampered_values_are_errors_not_panics() {
    let tamper = |sql: &str, table: &str, column: &str| {
        let (f, mut st) = create(&Sqlite);
        write(st.as_mut(), &rich()).unwrap();
        // Get past the CHECK constraints and types, as a hand edit with another tool could.
        Sqlite.execute_raw(&f.location, &format!("PRAGMA ignore_check_constraints = ON; {sql}"));
        let err = st.snapshot().unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Store(StoreError::Backend { .. })), "{msg}");
        assert!(msg.contains(&format!("table {table}, column {column}")), "{msg}");
    };
    tamper("UPDATE team SET mode = 'FOO' WHERE team_key = 'LION'", "team", "mode");
    tamper("UPDATE team SET archived = 7", "team", "archived");
    // Rows of a store from before schema version 2, whose triggers refuse this now.
    tamper("DROP TRIGGER sprint_dates_update; UPDATE sprint SET start_date = '2024-13-01'", "sprint", "start_date");
    tamper("UPDATE objective SET ord = -1", "objective", "ord");

    let (f, mut st) = create(&Sqlite);
    Sqlite.execute_raw(&f.location, "PRAGMA ignore_check_constraints = ON; UPDATE operation_log SET detail = 'nope'");
    let msg = st.operations().unwrap_err().to_string();
    assert!(msg.contains("table operation_log, column detail"), "{msg}");
}

// ---- timing (not asserted): cargo test --release --test integration -- --ignored --nocapture store_conformance::

/// A synthetic configuration of about 200k rows: 50 programs x 20 periods = 1000 PIs, each with
/// 10 teams, 6 sprints of capacity and mappings, 20 objectives with 2 epics each, 5 milestones.
fn synthetic() -> Configuration {
    let mut c = Configuration::empty();
    let team_key = |i: usize| format!("T{i:04}");
    c.teams = (0..500).map(|i| team(&team_key(i), TeamType::Board, TeamMode::Scrum, Estimation::StoryPoints)).collect();
    c.programs = (0..50)
        .map(|p| Program {
            archived: false,
            feature_scope: FeatureScope {
                epic_filter: manual(&[("1", "A"), ("2", "B")], vec![]),
                epic_mode: EpicMode::Filter,
                issue_filter: None,
                mode: FeatureMode::Epics,
            },
            key: format!("P{p:02}"),
            name: format!("Program {p}"),
            teams: (0..10).map(|t| team_key(p * 10 + t)).collect(),
        })
        .collect();
    c.periods = (0..20)
        .map(|q| Period {
            archived: false,
            key: format!("Q{q:02}"),
            name: format!("Q{q}"),
            sprints: (1..=6)
                .map(|i| Sprint {
                    completed: false,
                    end: date(2020, 1, 1) + chrono::Days::new(q * 100 + i * 14 + 13),
                    index: i as u32,
                    name: None,
                    start: date(2020, 1, 1) + chrono::Days::new(q * 100 + i * 14),
                })
                .collect(),
        })
        .collect();
    for program in &c.programs {
        for period in &c.periods {
            let mut pi = Pi {
                capacity: vec![],
                feature_filter: None,
                feature_inclusion: FeatureInclusion::Manual,
                key: Pi::key_for(&program.key, &period.key),
                milestones: (0..5).map(|m| milestone(m, &format!("M{m}"))).collect(),
                objective_epic_mapping: true,
                objectives: vec![],
                period: period.key.clone(),
                program: program.key.clone(),
                sprint_mappings: vec![],
                teams: Some(program.teams.clone()),
            };
            for t in &program.teams {
                for sp in 1..=6 {
                    pi.capacity.push(Capacity { sprint: sp, team: t.clone(), value: f64::from(sp) * 1.5 });
                    pi.sprint_mappings.push(SprintMapping {
                        jira_sprint_id: format!("{sp}00"),
                        sprint: sp,
                        team: t.clone(),
                    });
                }
                for o in 0..2 {
                    let mut obj = objective(ObjectiveLevel::Team, Some(t), o, "Objective title of some length");
                    obj.epics = vec![IssueRef { id: s("1"), key: s("E-1") }, IssueRef { id: s("2"), key: s("E-2") }];
                    pi.objectives.push(obj);
                }
            }
            c.pis.push(pi);
        }
    }
    c.sort();
    c
}

#[test]
#[ignore = "timing; run in release with --ignored --nocapture"]
fn timing_replace_and_snapshot_of_200k_rows() {
    let c = synthetic();
    let counts = c.counts();
    let rows = counts.teams
        + counts.programs
        + counts.periods
        + counts.sprints
        + counts.pis
        + counts.capacity
        + counts.sprint_mappings
        + counts.objectives * 3 // objectives, their 2 epics
        + counts.milestones
        + counts.pis * 10 // pi_team
        + counts.programs * 13; // program_team, epic filter and its projects
    let (_f, mut st) = create(&Sqlite);
    for round in 1..=2 {
        let started = Instant::now();
        write(st.as_mut(), &c).unwrap();
        let replaced = started.elapsed();
        let started = Instant::now();
        let got = st.snapshot().unwrap().config;
        let read = started.elapsed();
        assert_eq!(got, c);
        eprintln!("round {round}: {rows} rows: replace {replaced:?}, snapshot {read:?}");
    }
}
