//! PostgreSQL-specific behaviour, against a real server (the `pg-tests` feature, server named by
//! `ATIVO_TEST_PG`, one database per test): concurrent imports by two processes, a reader during
//! an import, SIGKILL of an import holding the lock, the server ending the connection
//! mid-import, connection and authentication failures, NUL characters, the schema itself, and
//! round trips through the real binary between SQLite and PostgreSQL. What every backend must
//! do is `store_conformance.rs`'s business.
//!
//! Every test name contains `pg_`. The connection-refused test needs no server and runs in a
//! plain `cargo test` too.

use std::net::TcpListener;
use std::process::Command;

use ativo_backup::Error;
use ativo_backup::error::StoreError;
use ativo_backup::store::{self, Location, OpenOptions};

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ativo-backup"));
    cmd.env_remove("ATIVO_STORE").env_remove("ATIVO_LOCK_TIMEOUT_MS");
    cmd
}

/// A port on 127.0.0.1 with nothing listening (bound, then released).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

const PASSWORD: &str = "Sup3r-Secret-Pw";

#[test]
fn pg_connection_refused_is_exit_7_naming_the_target_without_the_password() {
    let port = closed_port();
    let url = format!("postgres://ativo:{PASSWORD}@127.0.0.1:{port}/jira");
    let out = bin().args(["--store", &url, "host"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}/jira")), "{stderr}");
    assert!(stderr.to_lowercase().contains("refused"), "{stderr}");
    assert!(!stderr.contains(PASSWORD) && !String::from_utf8_lossy(&out.stdout).contains(PASSWORD), "{stderr}");

    // The library says the same, as a store error.
    let options = OpenOptions { lock_timeout: std::time::Duration::from_millis(100) };
    let err = store::open_with(&Location::parse(&url).unwrap(), &options).err().unwrap();
    assert!(matches!(err, Error::Store(StoreError::Backend { .. })), "{err}");
    assert!(!format!("{err} {err:?}").contains(PASSWORD), "{err:?}");
}

#[cfg(feature = "pg-tests")]
mod server {
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    use ativo_backup::Error;
    use ativo_backup::archive::{self, Limits};
    use ativo_backup::error::StoreError;
    use ativo_backup::host::{Deployment, HostIdentity};
    use ativo_backup::model::Configuration;
    use ativo_backup::sample::{self, SampleSize};
    use ativo_backup::store::{self, Location, OpenOptions, Operation};

    use super::{PASSWORD, bin};
    use crate::archive_common::host;
    use crate::pg_support::{self, TestDb};

    const SERVER_ID: &str = "B8E7-9F2A-3C4D-5E6F";
    const BASE_URL: &str = "https://jira.example.com";

    fn run(cmd: &mut Command) -> (i32, String) {
        let out = cmd.output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    }

    fn ok(cmd: &mut Command) -> String {
        let (code, text) = run(cmd);
        assert_eq!(code, 0, "{cmd:?}: {text}");
        text
    }

    fn init(store: &str, sample: Option<&str>) {
        let mut cmd = bin();
        cmd.args(["--store", store, "init", "--server-id", SERVER_ID, "--base-url", BASE_URL]);
        if let Some(s) = sample {
            cmd.args(["--sample", s]);
        }
        ok(&mut cmd);
    }

    fn export(store: &str, out: &Path) {
        ok(bin().args(["--store", store, "export", "-o"]).arg(out));
    }

    fn import_cmd(store: &str, archive: &Path, safety: &Path) -> Command {
        let mut cmd = bin();
        cmd.args(["--store", store, "import"]).arg(archive).arg("--yes").arg("--safety-dir").arg(safety);
        cmd
    }

    fn archive_digest(path: &Path) -> String {
        let file = std::fs::File::open(path).unwrap();
        archive::read(file, &Limits::default()).unwrap().header.content_digest
    }

    fn store_digest(location: &Location) -> String {
        let mut st = store::open(location).unwrap();
        archive::content_digest(&st.snapshot().unwrap().config)
    }

    fn operations(location: &Location) -> Vec<Operation> {
        store::open(location).unwrap().operations().unwrap()
    }

    /// The demo and large samples of the test host as archives, made once per test process
    /// (through SQLite stores, so they do not depend on the backend under test).
    fn archives() -> &'static (PathBuf, PathBuf) {
        static ARCHIVES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
        ARCHIVES.get_or_init(|| {
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("pg-archives-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let mut made = Vec::new();
            for sample in ["demo", "large"] {
                let db = dir.join(format!("{sample}.db"));
                let _ = std::fs::remove_file(&db);
                let db = db.display().to_string();
                init(&db, Some(sample));
                let out = dir.join(format!("{sample}.json.zst"));
                export(&db, &out);
                made.push(out);
            }
            (made[0].clone(), made[1].clone())
        })
    }

    /// A PostgreSQL store of the test host holding the demo sample.
    fn demo_store() -> (TestDb, tempfile::TempDir) {
        let db = TestDb::new();
        let safety = tempfile::tempdir().unwrap();
        init(&db.url, None);
        ok(&mut import_cmd(&db.url, &archives().0, safety.path()));
        (db, safety)
    }

    /// The backend pid holding the store's write lock in `db`, with its last statement.
    fn lock_holder(admin: &mut postgres::Client, db: &str) -> Option<(i32, String)> {
        admin
            .query_opt(
                "SELECT a.pid, a.query FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                 WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = $1 AND l.objid::bigint = $2
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = $3)",
                &[&i64::from(store::POSTGRES_LOCK_CLASS), &i64::from(store::POSTGRES_LOCK_OBJECT), &db],
            )
            .unwrap()
            .map(|r| (r.get(0), r.get(1)))
    }

    /// Waits until `child` holds the write lock of `db` and is writing (its last statement is a
    /// DELETE or COPY of the replace); returns the backend pid. Fails if the child ends first.
    fn wait_until_writing(child: &mut Child, db: &str) -> i32 {
        let mut admin = pg_support::connect(&pg_support::admin_url());
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some((pid, query)) = lock_holder(&mut admin, db)
                && (query.starts_with("COPY") || query.starts_with("DELETE"))
            {
                return pid;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the import ended ({status}) before it was seen writing under the lock");
            }
            assert!(Instant::now() < deadline, "the import was never seen writing under the lock");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn spawn(cmd: &mut Command) -> Child {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    }

    fn finish(child: Child) -> (i32, String) {
        let out = child.wait_with_output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    }

    // ---- connecting

    #[test]
    fn pg_authentication_failure_is_exit_7_without_the_password() {
        let db = TestDb::new();
        let mut url = url::Url::parse(&db.url).unwrap();
        url.set_username("ativo_no_such_role").unwrap();
        url.set_password(Some(PASSWORD)).unwrap();
        let (code, text) = run(bin().args(["--store", url.as_str(), "host"]));
        assert_eq!(code, 7, "{text}");
        assert!(text.contains("authentication failed") && text.contains("ativo_no_such_role"), "{text}");
        assert!(text.contains(&db.name), "names the database: {text}");
        assert!(!text.contains(PASSWORD), "{text}");
    }

    #[test]
    fn pg_no_such_database_is_exit_7_and_says_who_creates_it() {
        let mut url = url::Url::parse(&pg_support::url_for("ativo_no_such_database")).unwrap();
        url.set_password(Some(PASSWORD)).unwrap();
        for args in [&["host"][..], &["init", "--server-id", SERVER_ID, "--base-url", BASE_URL][..]] {
            let (code, text) = run(bin().args(["--store", url.as_str()]).args(args));
            assert_eq!(code, 7, "{text}");
            assert!(text.contains("\"ativo_no_such_database\" does not exist"), "{text}");
            assert!(text.contains("CREATE DATABASE"), "{text}");
            assert!(!text.contains(PASSWORD), "{text}");
        }
    }

    #[test]
    fn pg_tables_of_someone_else_are_neither_opened_nor_overwritten() {
        let db = TestDb::new();
        db.client().batch_execute("CREATE TABLE team (id INTEGER PRIMARY KEY); INSERT INTO team VALUES (42)").unwrap();
        let (code, text) = run(bin().args(["--store", &db.url, "host"]));
        assert_eq!(code, 7, "{text}");
        assert!(text.contains("not a usable ativo store") && text.contains("team"), "{text}");
        let (code, text) =
            run(bin().args(["--store", &db.url, "init", "--server-id", SERVER_ID, "--base-url", BASE_URL]));
        assert_eq!(code, 7, "{text}");
        assert!(text.contains("database of its own"), "{text}");
        let tables: Vec<String> = db
            .client()
            .query("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(tables, ["team"], "a refused init left tables behind");
    }

    #[test]
    fn pg_the_store_lives_in_the_schema_the_url_selects() {
        let db = TestDb::new();
        db.client().batch_execute("CREATE SCHEMA ativo").unwrap();
        let url = format!("{}?options=-csearch_path%3Dativo", db.url);
        init(&url, Some("demo"));
        let mut c = db.client();
        let mut count = |schema: &str| -> i64 {
            c.query_one("SELECT count(*) FROM pg_tables WHERE schemaname = $1", &[&schema]).unwrap().get(0)
        };
        assert_eq!(count("public"), 0);
        assert!(count("ativo") > 20);
        ok(bin().args(["--store", &url, "host"]));
        // Without the option the store is not found: the public schema holds none.
        assert_eq!(run(bin().args(["--store", &db.url, "host"])).0, 7);
    }

    // ---- the schema

    #[test]
    fn pg_schema_has_foreign_keys_c_collated_keys_and_a_migration_record() {
        let db = TestDb::new();
        drop(store::create(&db.location(), &host()).unwrap());
        let mut c = db.client();
        let fks: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = 'capacity'::regclass",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(fks, 2, "capacity references pi and team");
        let collations: Vec<String> = c
            .query(
                "SELECT DISTINCT co.collname::text FROM information_schema.columns ic
                 JOIN pg_attribute a ON a.attrelid = (ic.table_schema || '.' || ic.table_name)::regclass AND a.attname = ic.column_name
                 JOIN pg_collation co ON co.oid = a.attcollation
                 WHERE ic.table_schema = 'public' AND ic.column_name IN ('team_key', 'program_key', 'period_key', 'pi_key')",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(collations, ["C"], "every key column sorts by code point");
        let versions: Vec<i64> =
            c.query("SELECT version FROM schema_migrations", &[]).unwrap().iter().map(|r| r.get(0)).collect();
        assert_eq!(versions, [1, 2]);
    }

    #[test]
    fn pg_schema_refuses_dates_and_capacities_no_archive_can_carry() {
        let (db, _dir) = demo_store();
        let before = store_digest(&db.location());
        let mut c = db.client();
        for sql in [
            "UPDATE sprint SET end_date = '2026-02-30' WHERE sprint_index = 1",
            "UPDATE sprint SET start_date = '1 March' WHERE sprint_index = 1",
            "UPDATE milestone SET on_date = '2023-02-29' WHERE on_date IS NOT NULL",
            "UPDATE capacity SET value = 'Infinity' WHERE sprint_index = 1",
        ] {
            let error = c.execute(sql, &[]).expect_err(sql);
            assert_eq!(error.code(), Some(&postgres::error::SqlState::CHECK_VIOLATION), "{sql}: {error}");
        }
        // Year 0000 exists in SPEC.md's calendar (not in PostgreSQL's date type).
        c.execute("UPDATE sprint SET end_date = '0000-02-29' WHERE sprint_index = 1", &[]).unwrap();
        c.execute("UPDATE sprint SET end_date = '2024-02-29' WHERE sprint_index = 1", &[]).unwrap();
        assert_ne!(store_digest(&db.location()), before, "a valid edit goes through");
    }

    fn import_op() -> Operation {
        Operation {
            id: 0,
            at: chrono::Utc::now(),
            kind: "import".into(),
            os_user: "test".to_owned(),
            archive_digest: None,
            content_digest: None,
            outcome: "ok".into(),
            detail: serde_json::json!({}),
        }
    }

    #[test]
    fn pg_nul_characters_are_refused_naming_table_and_column_and_nothing_is_written() {
        let db = TestDb::new();
        let mut st = store::create(&db.location(), &host()).unwrap();
        let (demo, _) = sample::generate(SampleSize::Demo);
        st.replace(&mut |_| Ok((demo.clone(), import_op()))).unwrap();
        let before = st.snapshot().unwrap();
        let ops_before = st.operations().unwrap();

        let mut bad = demo.clone();
        bad.teams[0].name = "Lion\u{0}s".to_owned();
        let err = st.replace(&mut |_| Ok((bad.clone(), import_op()))).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Store(StoreError::Backend { .. })), "{msg}");
        assert!(msg.contains("cannot store the nul character") && msg.contains("table team, column name"), "{msg}");
        assert_eq!(err.exit_code(), 7);
        assert_eq!(st.snapshot().unwrap(), before, "the store changed");
        assert_eq!(st.operations().unwrap(), ops_before, "a refused replace was logged");

        // In the operations log, too (a NUL in the detail JSON is escaped, not refused).
        let mut op = import_op();
        op.os_user = "a\u{0}b".to_owned();
        let msg = st.record(&op).unwrap_err().to_string();
        assert!(msg.contains("table operation_log, column os_user"), "{msg}");
        let mut op = import_op();
        op.detail = serde_json::json!({ "text": "a\u{0}b" });
        st.record(&op).unwrap();
        assert_eq!(st.operations().unwrap().last().unwrap().detail, op.detail);
    }

    fn foreign_keys(db: &TestDb) -> Vec<String> {
        let mut c = db.client();
        let rows = c
            .query(
                "SELECT conrelid::regclass::text || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
                 WHERE contype = 'f' ORDER BY 1",
                &[],
            )
            .unwrap();
        rows.iter().map(|r| r.get(0)).collect()
    }

    /// Every constraint and index of the database, with its name, definition, tablespace,
    /// storage parameters, flags and comment, and every table's replica identity: what a bulk
    /// replace drops and makes again.
    fn keys_and_indexes(db: &TestDb) -> Vec<String> {
        let mut c = db.client();
        let rows = c
            .query(
                "SELECT format('constraint %s %s %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid),
                               convalidated, coalesce(obj_description(oid, 'pg_constraint'), '-'))
                 FROM pg_constraint WHERE connamespace = 'public'::regnamespace
                 UNION ALL
                 SELECT format('index %s %s %s %s %s %s %s %s', i.oid::regclass, pg_get_indexdef(i.oid), i.reltablespace,
                               coalesce(i.reloptions::text, '-'), x.indisvalid, x.indisreplident, x.indisclustered,
                               coalesce(obj_description(i.oid, 'pg_class'), '-'))
                 FROM pg_class i JOIN pg_index x ON x.indexrelid = i.oid WHERE i.relnamespace = 'public'::regnamespace
                 UNION ALL
                 SELECT format('table %s %s', oid::regclass, relreplident)
                 FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace
                 ORDER BY 1",
                &[],
            )
            .unwrap();
        rows.iter().map(|r| r.get(0)).collect()
    }

    #[test]
    fn pg_bulk_replace_checks_every_foreign_key_and_keeps_them() {
        let db = TestDb::new();
        let mut st = store::create(&db.location(), &host()).unwrap();
        let keys = foreign_keys(&db);
        assert!(keys.len() > 20, "{keys:?}");
        let schema = keys_and_indexes(&db);
        assert!(schema.iter().any(|k| k.starts_with("index capacity_pkey ")), "{schema:?}");
        let (large, _) = sample::generate(SampleSize::Large);
        assert!(large.row_count() >= store::POSTGRES_BULK_ROWS, "the large sample takes the bulk path");
        st.replace(&mut |_| Ok((large.clone(), import_op()))).unwrap();
        assert_eq!(foreign_keys(&db), keys, "the bulk path changed the foreign keys");
        assert_eq!(keys_and_indexes(&db), schema, "the bulk path changed the keys or indexes");
        let before = st.snapshot().unwrap();

        // The same configuration again: every key it writes is also a key of a row it deletes
        // in the same transaction, and the rebuilt primary keys must not take them for
        // duplicates.
        st.replace(&mut |_| Ok((large.clone(), import_op()))).unwrap();
        assert_eq!(st.snapshot().unwrap(), before);
        assert_eq!(keys_and_indexes(&db), schema);

        // A dangling reference deep in the data: the re-added key finds it, nothing is written.
        let mut bad = large.clone();
        let last = bad.pis.len() - 1;
        bad.pis[last].capacity[0].team = "NO-SUCH-TEAM".to_owned();
        let err = st.replace(&mut |_| Ok((bad.clone(), import_op()))).unwrap_err();
        assert!(matches!(err, Error::Store(StoreError::Backend { .. })), "{err}");
        assert!(err.to_string().contains("foreign key"), "{err}");
        assert_eq!(foreign_keys(&db), keys);
        assert_eq!(keys_and_indexes(&db), schema);
        assert_eq!(st.snapshot().unwrap(), before, "the store changed");

        // Two rows with one primary key (a writer that is not ours could hand them over): the
        // rebuilt primary key finds them, nothing is written.
        let mut twice = large.clone();
        let pi = twice.pis.iter_mut().find(|p| !p.capacity.is_empty()).unwrap();
        let first = pi.capacity[0].clone();
        pi.capacity.push(first);
        let err = st.replace(&mut |_| Ok((twice.clone(), import_op()))).unwrap_err();
        assert!(err.to_string().contains("capacity_pkey"), "{err}");
        assert_eq!(keys_and_indexes(&db), schema);
        assert_eq!(st.snapshot().unwrap(), before, "the store changed");

        // And the keys still hold afterwards, for writers that are not ativo-backup.
        let mut c = db.client();
        let e = c.batch_execute("INSERT INTO capacity VALUES ('NO-SUCH-PI', 'NO-SUCH-TEAM', 1, 1.0)").unwrap_err();
        assert!(e.as_db_error().is_some_and(|d| d.code().code() == "23503"), "{e}");
        let e = c
            .batch_execute(&format!(
                "INSERT INTO capacity VALUES ('{}', '{}', {}, 1.0)",
                before.config.pis[0].key,
                before.config.pis[0].capacity[0].team,
                before.config.pis[0].capacity[0].sprint
            ))
            .unwrap_err();
        assert!(e.as_db_error().is_some_and(|d| d.code().code() == "23505"), "{e}");
    }

    /// What a bulk replace could not make again as it was, it leaves alone: an index with a
    /// comment or storage parameters, a primary key that a table outside the store references
    /// or a view relies on, a replica identity index, a `CLUSTER` index, a foreign key with a
    /// comment and one that is `NOT VALID`. All of it is there afterwards, and the replace works,
    /// also on tables that a publication replicates (their `DELETE` needs the replica identity).
    #[test]
    fn pg_bulk_replace_keeps_what_it_could_not_make_again_as_it_was() {
        let db = TestDb::new();
        let mut st = store::create(&db.location(), &host()).unwrap();
        db.client()
            .batch_execute(
                "COMMENT ON INDEX capacity_team_key IS 'kept by the admin';
                 ALTER INDEX pi_team_team_key SET (fillfactor = 70);
                 CREATE TABLE admin_notes (pi_key TEXT COLLATE \"C\" REFERENCES pi (pi_key), note TEXT);
                 CREATE VIEW team_summary AS SELECT t.team_key, t.name, count(c.*) AS capacity_rows
                     FROM team t LEFT JOIN capacity c ON c.team_key = t.team_key GROUP BY t.team_key;
                 ALTER TABLE period REPLICA IDENTITY USING INDEX period_pkey;
                 ALTER TABLE sprint_mapping CLUSTER ON sprint_mapping_pkey;
                 COMMENT ON CONSTRAINT capacity_pi_key_fkey ON capacity IS 'documented';
                 ALTER TABLE objective DROP CONSTRAINT objective_team_key_fkey;
                 ALTER TABLE objective ADD CONSTRAINT objective_team_key_fkey
                     FOREIGN KEY (team_key) REFERENCES team (team_key) NOT VALID;
                 CREATE PUBLICATION ativo_config FOR TABLE capacity, team, period, pi, objective;",
            )
            .unwrap();
        let schema = keys_and_indexes(&db);
        for kept in ["kept by the admin", "fillfactor=70", "documented", "period_pkey CREATE UNIQUE INDEX"] {
            assert!(schema.iter().any(|k| k.contains(kept)), "{kept}: {schema:?}");
        }
        let (large, _) = sample::generate(SampleSize::Large);
        st.replace(&mut |_| Ok((large.clone(), import_op()))).unwrap();
        assert_eq!(keys_and_indexes(&db), schema);
        st.replace(&mut |_| Ok((large.clone(), import_op()))).unwrap();
        assert_eq!(keys_and_indexes(&db), schema);
        let mut sorted = large.clone();
        sorted.sort();
        assert_eq!(st.snapshot().unwrap().config, sorted);
        // The NOT VALID key still checked the rows that were copied.
        let mut bad = large.clone();
        let objective = bad.pis.iter_mut().flat_map(|p| &mut p.objectives).find(|o| o.team.is_some()).unwrap();
        objective.team = Some("NO-SUCH-TEAM".to_owned());
        let err = st.replace(&mut |_| Ok((bad.clone(), import_op()))).unwrap_err();
        assert!(err.to_string().contains("objective_team_key_fkey"), "{err}");
        assert_eq!(st.snapshot().unwrap().config, sorted);
        assert_eq!(keys_and_indexes(&db), schema);
    }

    #[test]
    fn pg_row_locks_of_another_node_bound_the_wait_of_an_import() {
        let db = TestDb::new();
        let quick = OpenOptions { lock_timeout: Duration::from_millis(300) };
        let mut st = store::create_with(&db.location(), &host(), &quick).unwrap();
        let (demo, _) = sample::generate(SampleSize::Demo);
        st.replace(&mut |_| Ok((demo.clone(), import_op()))).unwrap();
        // A Jira node editing a team, without our advisory lock: the replace's DELETE waits for
        // its row lock no longer than the lock timeout.
        let mut node = db.client();
        node.batch_execute("SET application_name = 'jira-node-2'; BEGIN; SELECT * FROM team FOR UPDATE").unwrap();
        let node_pid: i32 = node.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
        let started = Instant::now();
        let err = st.replace(&mut |_| Ok((Configuration::empty(), import_op()))).unwrap_err();
        assert!(matches!(err, Error::Store(StoreError::LockTimeout { .. })), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        // The message names the table and the session holding it.
        let msg = err.to_string();
        assert!(msg.contains("table team") && msg.contains(&format!("pid {node_pid}")), "{msg}");
        assert!(msg.contains("\"jira-node-2\"") && msg.contains("waited 300 ms"), "{msg}");
        assert_eq!(err.exit_code(), 7);
        drop(node);
        assert_eq!(st.snapshot().unwrap().config, demo);
    }

    // ---- the binary: round trips

    #[test]
    fn pg_cli_round_trip_export_import_into_a_fresh_database_is_identical() {
        let (a, b) = (TestDb::new(), TestDb::new());
        let dir = tempfile::tempdir().unwrap();
        init(&a.url, Some("demo"));
        let first = dir.path().join("first.json.zst");
        export(&a.url, &first);
        init(&b.url, None);
        ok(&mut import_cmd(&b.url, &first, dir.path()));
        let second = dir.path().join("second.json.zst");
        export(&b.url, &second);
        assert_eq!(archive_digest(&first), archive_digest(&second));
        assert_eq!(store_digest(&a.location()), store_digest(&b.location()));
        assert_eq!(store_digest(&b.location()), archive_digest(&first));
    }

    #[test]
    fn pg_the_same_backup_round_trips_identically_through_sqlite_and_postgresql() {
        let (demo, large) = archives();
        let dir = tempfile::tempdir().unwrap();
        for original in [demo, large] {
            let pg = TestDb::new();
            init(&pg.url, None);
            ok(&mut import_cmd(&pg.url, original, dir.path()));
            let via_pg = dir.path().join("via-pg.json.zst");
            export(&pg.url, &via_pg);

            let sqlite = dir.path().join("back.db");
            let _ = std::fs::remove_file(&sqlite);
            let sqlite = sqlite.display().to_string();
            init(&sqlite, None);
            ok(&mut import_cmd(&sqlite, &via_pg, dir.path()));
            let via_both = dir.path().join("via-both.json.zst");
            export(&sqlite, &via_both);

            let digest = archive_digest(original);
            assert_eq!(archive_digest(&via_pg), digest, "sqlite -> postgresql changed {original:?}");
            assert_eq!(archive_digest(&via_both), digest, "postgresql -> sqlite changed {original:?}");
            assert_eq!(store_digest(&pg.location()), digest);
        }
    }

    // ---- concurrency and failures, through the real binary

    #[test]
    fn pg_two_processes_importing_at_once_are_serialised() {
        let (demo, large) = archives();
        let db = TestDb::new();
        let safety = tempfile::tempdir().unwrap();
        init(&db.url, None);
        let empty = store_digest(&db.location());
        let digests = [archive_digest(demo), archive_digest(large)];

        let children: Vec<Child> = [demo, large]
            .iter()
            .map(|a| spawn(import_cmd(&db.url, a, safety.path()).env("ATIVO_LOCK_TIMEOUT_MS", "120000")))
            .collect();
        let results: Vec<(i32, String)> = children.into_iter().map(finish).collect();
        for (code, text) in &results {
            assert!(*code == 0 || *code == 7, "exit {code}: {text}");
            if *code == 7 {
                assert!(text.contains("busy"), "{text}");
            }
        }
        let succeeded = results.iter().filter(|(c, _)| *c == 0).count();
        assert!(succeeded >= 1, "{results:?}");

        let finally = store_digest(&db.location());
        assert!(digests.contains(&finally), "the store holds a mix: {finally}");
        // The log tells one import after the other: each saw what the previous one left.
        let imports: Vec<Operation> = operations(&db.location()).into_iter().filter(|o| o.kind == "import").collect();
        assert_eq!(imports.len(), succeeded, "{imports:?}");
        let mut previous = empty;
        for op in &imports {
            assert_eq!(op.detail["content_digest_before"], previous.as_str(), "interleaved imports: {imports:?}");
            previous = op.content_digest.clone().unwrap();
        }
        assert_eq!(previous, finally);
    }

    #[test]
    fn pg_an_import_that_cannot_get_the_lock_exits_7_and_changes_nothing() {
        let (demo, large) = archives();
        let db = TestDb::new();
        let safety = tempfile::tempdir().unwrap();
        init(&db.url, None);
        ok(&mut import_cmd(&db.url, demo, safety.path()));
        let before = store_digest(&db.location());
        // Another node's import holds the lock.
        let mut node = db.client();
        node.batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({}, {})",
            store::POSTGRES_LOCK_CLASS,
            store::POSTGRES_LOCK_OBJECT
        ))
        .unwrap();
        let started = Instant::now();
        let (code, text) = run(import_cmd(&db.url, large, safety.path()).env("ATIVO_LOCK_TIMEOUT_MS", "500"));
        assert_eq!(code, 7, "{text}");
        assert!(text.contains("busy") && text.contains("waited 500 ms"), "{text}");
        assert!(started.elapsed() < Duration::from_secs(60), "{:?}", started.elapsed());
        drop(node);
        assert_eq!(store_digest(&db.location()), before);
    }

    #[test]
    fn pg_a_reader_during_an_import_sees_the_old_or_the_new_configuration() {
        let (demo, large) = archives();
        let (db, safety) = demo_store();
        let old = archive_digest(demo);
        let new = archive_digest(large);
        let mut admin = pg_support::connect(&pg_support::admin_url());
        let mut reader = store::open(&db.location()).unwrap();

        let mut child = spawn(&mut import_cmd(&db.url, large, safety.path()));
        let (mut seen, mut during) = (Vec::new(), 0);
        while child.try_wait().unwrap().is_none() {
            // Counted as during the import: a read that began while the import held the lock. It
            // may also end before the import commits (while the import reads and plans), or
            // after it (a large import locks the tables while it writes, and the read waits for
            // the commit, see the module docs of the PostgreSQL store); requiring the first made
            // this test depend on how long the import's planning takes.
            let locked_before = lock_holder(&mut admin, &db.name).is_some();
            let digest = archive::content_digest(&reader.snapshot().unwrap().config);
            assert!(digest == old || digest == new, "a reader saw a mix: {digest}");
            if locked_before {
                during += 1;
            }
            seen.push(digest);
        }
        let (code, text) = finish(child);
        assert_eq!(code, 0, "{text}");
        assert!(during > 0, "no snapshot was taken while the import held the lock ({} in all)", seen.len());
        assert_eq!(archive::content_digest(&reader.snapshot().unwrap().config), new);
    }

    #[test]
    fn pg_sigkill_of_an_import_holding_the_lock_leaves_the_store_whole_and_unlocked() {
        let (demo, large) = archives();
        let (db, safety) = demo_store();
        let (old, new) = (archive_digest(demo), archive_digest(large));

        let mut child = spawn(&mut import_cmd(&db.url, large, safety.path()));
        wait_until_writing(&mut child, &db.name);
        child.kill().unwrap(); // SIGKILL on Unix: no destructor, no ROLLBACK sent.
        let _ = child.wait();

        let after_kill = store_digest(&db.location());
        assert!(after_kill == old || after_kill == new, "the store holds a mix: {after_kill}");
        // The server aborted the dead client's transaction and released the lock: the next
        // import gets it at once rather than after the timeout.
        let started = Instant::now();
        ok(import_cmd(&db.url, large, safety.path()).env("ATIVO_LOCK_TIMEOUT_MS", "30000"));
        assert!(started.elapsed() < Duration::from_secs(25), "the lock was stale: {:?}", started.elapsed());
        assert_eq!(store_digest(&db.location()), new);
    }

    #[test]
    fn pg_server_ending_the_connection_mid_import_is_exit_7_and_the_store_is_unchanged() {
        let (demo, large) = archives();
        let (db, safety) = demo_store();
        let old = archive_digest(demo);
        let ops_before = operations(&db.location());
        let url = {
            let mut u = url::Url::parse(&db.url).unwrap();
            u.set_password(Some(PASSWORD)).unwrap(); // trust auth ignores it; it must not be echoed
            u.to_string()
        };

        let mut child = spawn(&mut import_cmd(&url, large, safety.path()));
        let pid = wait_until_writing(&mut child, &db.name);
        let mut admin = pg_support::connect(&pg_support::admin_url());
        let ended: bool = admin.query_one("SELECT pg_terminate_backend($1)", &[&pid]).unwrap().get(0);
        assert!(ended);
        let (code, text) = finish(child);
        assert_eq!(code, 7, "{text}");
        assert!(text.contains("nothing was written"), "{text}");
        assert!(!text.contains(PASSWORD), "{text}");
        assert_eq!(store_digest(&db.location()), old);
        assert_eq!(operations(&db.location()), ops_before, "a failed import was logged");
    }

    // ---- passwords, in every form libpq accepts, never printed (issue 15, item 1)

    const SENTINEL: &str = "Sentinel-7f3a9c";

    /// A command for the binary with no libpq variables of the test's own environment.
    fn bin_clean() -> Command {
        let mut cmd = bin();
        for var in ["PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGPASSFILE", "PGSSLMODE"] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// One way of giving the sentinel password: the `--store` value and the environment.
    struct Form {
        name: &'static str,
        store: String,
        env: Vec<(&'static str, String)>,
    }

    /// The sentinel password given in each form, for `port` and database `db` of the test server.
    fn forms(host: &str, port: u16, user: &str, db: &str, passfile: &Path) -> Vec<Form> {
        let plain = |name, store: String| Form { name, store, env: Vec::new() };
        vec![
            plain("uri userinfo", format!("postgres://{user}:{SENTINEL}@{host}:{port}/{db}")),
            plain(
                "uri query",
                format!("postgresql://{user}@{host}:{port}/{db}?password={SENTINEL}&application_name=x"),
            ),
            plain("keyword/value", format!("host={host} port={port} user={user} password={SENTINEL} dbname={db}")),
            plain(
                "keyword/value quoted",
                format!("host={host} port={port} user={user} password='{SENTINEL} x' dbname={db}"),
            ),
            Form {
                name: "PGPASSWORD",
                store: format!("postgres://{user}@{host}:{port}/{db}"),
                env: vec![("PGPASSWORD", SENTINEL.to_owned())],
            },
            Form {
                name: "environment only",
                store: "postgres://".to_owned(),
                env: vec![
                    ("PGHOST", host.to_owned()),
                    ("PGPORT", port.to_string()),
                    ("PGUSER", user.to_owned()),
                    ("PGDATABASE", db.to_owned()),
                    ("PGPASSWORD", SENTINEL.to_owned()),
                ],
            },
            Form {
                name: "password file",
                store: format!("host={host} port={port} user={user} dbname={db}"),
                env: vec![("PGPASSFILE", passfile.display().to_string())],
            },
        ]
    }

    fn server_parts() -> (String, u16, String) {
        let admin = url::Url::parse(&pg_support::admin_url()).unwrap();
        (admin.host_str().unwrap().to_owned(), admin.port().unwrap_or(5432), admin.username().to_owned())
    }

    /// Every text a run leaves: stdout and stderr, and every archive written (decompressed).
    fn leaked(out: &std::process::Output, dir: &Path) -> Vec<String> {
        let mut seen =
            vec![String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned()];
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let bytes = std::fs::read(&path).unwrap();
                seen.push(String::from_utf8_lossy(&bytes).into_owned());
                if let Ok(plain) = zstd::decode_all(bytes.as_slice()) {
                    seen.push(String::from_utf8_lossy(&plain).into_owned());
                }
            }
        }
        seen
    }

    #[test]
    fn pg_a_password_is_never_printed_logged_or_archived_in_any_form() {
        let (host, port, user) = server_parts();
        let dir = tempfile::tempdir().unwrap();
        let passfile = dir.path().join("pgpass");
        std::fs::write(&passfile, format!("{host}:*:*:{user}:{SENTINEL}\n")).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let closed = super::closed_port();
        let mut runs = 0;
        for (i, form) in forms(&host, port, &user, "DBNAME", &passfile).into_iter().enumerate() {
            let db = TestDb::new();
            let work = dir.path().join(format!("form-{i}"));
            std::fs::create_dir_all(&work).unwrap();
            let with = |store: &str, env: &[(&'static str, String)], args: &[&str]| {
                let mut cmd = bin_clean();
                cmd.current_dir(&work).args(["--store", store]).args(args).envs(env.iter().map(|(k, v)| (k, v)));
                cmd.output().unwrap()
            };
            let store = form.store.replace("DBNAME", &db.name);
            let env: Vec<(&'static str, String)> =
                form.env.iter().map(|(k, v)| (*k, v.replace("DBNAME", &db.name))).collect();
            let archive = work.join("backup.json.zst");
            let archive_arg = archive.display().to_string();
            let steps: Vec<(&str, Vec<&str>, i32)> = vec![
                ("init", vec!["init", "--server-id", SERVER_ID, "--base-url", BASE_URL, "--sample", "demo"], 0),
                ("host", vec!["host"], 0),
                ("host json", vec!["--format", "json", "host"], 0),
                ("export", vec!["--verbose", "export", "-o", &archive_arg], 0),
                ("import", vec!["--verbose", "import", &archive_arg, "--yes", "--safety-dir", "safety"], 0),
                ("import json", vec!["--format", "json", "import", &archive_arg, "--yes", "--safety-dir", "safety"], 0),
                ("log", vec!["--verbose", "log"], 0),
                ("log json", vec!["--format", "json", "log"], 0),
                ("diff", vec!["diff", &archive_arg], 0),
            ];
            for (step, args, code) in &steps {
                let out = with(&store, &env, args);
                assert_eq!(
                    out.status.code(),
                    Some(*code),
                    "{}, {step}: {}",
                    form.name,
                    String::from_utf8_lossy(&out.stderr)
                );
                for text in leaked(&out, &work) {
                    assert!(
                        !text.contains(SENTINEL),
                        "{}, {step}: the password was printed or written: {text}",
                        form.name
                    );
                }
                runs += 1;
            }
            // `host` names the store by host, port, database and user.
            let out = with(&store, &env, &["host"]);
            let shown = String::from_utf8_lossy(&out.stdout);
            assert!(shown.contains(&format!("postgres://{user}@{host}:{port}/{}", db.name)), "{}: {shown}", form.name);
            // The operations log rows, as the server holds them.
            let rows: Vec<String> = db
                .client()
                .query("SELECT operation_log::text FROM operation_log", &[])
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert!(rows.len() >= 3, "{rows:?}");
            assert!(rows.iter().all(|r| !r.contains(SENTINEL)), "{}: {rows:?}", form.name);

            // A failing connection and a missing database, in the same form.
            for (what, store, env, code) in [
                (
                    "refused",
                    store
                        .replace(&format!(":{port}"), &format!(":{closed}"))
                        .replace(&format!("port={port}"), &format!("port={closed}")),
                    env.iter()
                        .map(|(k, v)| (*k, if *k == "PGPORT" { closed.to_string() } else { v.clone() }))
                        .collect::<Vec<_>>(),
                    7,
                ),
                (
                    "no such database",
                    store.replace(&db.name, "ativo_no_such_db"),
                    env.iter().map(|(k, v)| (*k, v.replace(&db.name, "ativo_no_such_db"))).collect(),
                    7,
                ),
            ] {
                for args in [
                    &["host"][..],
                    &["--format", "json", "export", "-o", "x.json"][..],
                    &["init", "--server-id", SERVER_ID, "--base-url", BASE_URL][..],
                ] {
                    let out = with(&store, &env, args);
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    assert_eq!(out.status.code(), Some(code), "{}, {what}: {stderr}", form.name);
                    for text in leaked(&out, &work) {
                        assert!(!text.contains(SENTINEL), "{}, {what}: {text}", form.name);
                    }
                    runs += 1;
                }
            }
        }
        // An unencoded '@' in the password: refused as usage, nothing of it echoed.
        for store in [
            format!("postgres://{user}:p@{SENTINEL}@{host}:{port}/postgres"),
            format!("postgres://{user}:p/{SENTINEL}@{host}:{port}/postgres"),
            format!("hots={host} password={SENTINEL}"),
        ] {
            let work = dir.path().join("at");
            std::fs::create_dir_all(&work).unwrap();
            for args in [&["host"][..], &["init", "--server-id", SERVER_ID, "--base-url", BASE_URL][..]] {
                let out = bin_clean().current_dir(&work).args(["--store", &store]).args(args).output().unwrap();
                assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
                for text in leaked(&out, &work) {
                    assert!(!text.contains(SENTINEL) && !text.contains("7f3a9c"), "{text}");
                }
                assert!(
                    crate::commands::names(&work).is_empty(),
                    "a refused location created {:?}",
                    crate::commands::names(&work)
                );
                runs += 1;
            }
        }
        eprintln!("{runs} runs, 0 with the password in their output, archives or log rows");
    }

    // ---- every wait is bounded (issue 15, item 2)

    #[test]
    fn pg_a_table_held_by_another_session_is_exit_7_within_the_timeout_naming_it_and_its_holder() {
        let (demo, _) = archives();
        let (db, safety) = demo_store();
        let before = store_digest(&db.location());
        // Each command reads the table it is held out of; the timeout is 1 s.
        for (table, args) in [
            ("team", vec!["export", "-o", "-"]),
            ("team", vec!["import", demo.to_str().unwrap(), "--yes", "--safety-dir", safety.path().to_str().unwrap()]),
            ("team", vec!["diff", demo.to_str().unwrap()]),
            ("capacity", vec!["export", "-o", "-"]),
            ("operation_log", vec!["log"]),
            ("host_identity", vec!["host"]),
        ] {
            let mut holder = db.client();
            holder
                .batch_execute(&format!(
                    "SET application_name = 'jira-upgrade'; BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
                ))
                .unwrap();
            let pid: i32 = holder.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
            let started = Instant::now();
            let out =
                bin().args(["--store", &db.url]).args(&args).env("ATIVO_LOCK_TIMEOUT_MS", "1000").output().unwrap();
            let took = started.elapsed();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(7), "{args:?}: {stderr}");
            assert!(took < Duration::from_secs(4), "{args:?} took {took:?}: {stderr}");
            assert!(stderr.contains(&format!("table {table} is locked")), "{args:?}: {stderr}");
            assert!(
                stderr.contains(&format!("pid {pid}")) && stderr.contains("\"jira-upgrade\""),
                "{args:?}: {stderr}"
            );
            assert!(stderr.contains("AccessExclusiveLock") && stderr.contains("waited 1000 ms"), "{args:?}: {stderr}");
            eprintln!("{args:?} against {table}: exit 7 after {took:?}");
            drop(holder);
        }
        assert_eq!(store_digest(&db.location()), before);
    }

    // ---- text PostgreSQL cannot hold is refused before anything is written (issue 15, item 3)

    /// The demo sample with a NUL in team 0's name, sealed for `deployment` at `base_url`.
    fn archive_with_nul(path: &Path, deployment: Deployment, server_id: &str, base_url: &str, scope: archive::Scope) {
        let (mut config, tokens) = sample::generate(SampleSize::Demo);
        config.teams[0].name = "Lion\u{0}s".to_owned();
        if scope == archive::Scope::Migration {
            config.admins = None;
        }
        let host = HostIdentity::new(deployment, server_id, base_url).unwrap();
        let sealed = archive::seal(config, &host, scope, tokens, chrono::Utc::now());
        let mut out = Vec::new();
        archive::write(&sealed, &mut out, archive::Encoding::Zstd).unwrap();
        std::fs::write(path, out).unwrap();
    }

    #[test]
    fn pg_an_archive_with_a_nul_is_refused_before_the_lock_and_the_safety_backup_and_sqlite_keeps_it() {
        let (db, _) = demo_store();
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("nul.json.zst");
        archive_with_nul(&bad, Deployment::Datacenter, SERVER_ID, BASE_URL, archive::Scope::Full);
        let before = store_digest(&db.location());
        let ops_before = operations(&db.location());
        // Another node holds the write lock: the refusal must not wait for it.
        let mut node = db.client();
        node.batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({}, {})",
            store::POSTGRES_LOCK_CLASS,
            store::POSTGRES_LOCK_OBJECT
        ))
        .unwrap();
        let safety = dir.path().join("safety");
        let bad_arg = bad.display().to_string();
        // The streamed file, the whole document from stdin, and a dry run.
        for args in
            [vec!["import", &bad_arg, "--yes"], vec!["import", "-", "--yes"], vec!["import", &bad_arg, "--dry-run"]]
        {
            let started = Instant::now();
            let mut cmd = bin();
            cmd.args(["--store", &db.url])
                .args(&args)
                .arg("--safety-dir")
                .arg(&safety)
                .env("ATIVO_LOCK_TIMEOUT_MS", "20000");
            cmd.stdin(std::fs::File::open(&bad).unwrap());
            let (code, text) = run(&mut cmd);
            assert_eq!(code, 3, "{args:?}: {text}");
            assert!(text.contains("/data/teams/0/name") && text.contains("NUL"), "{args:?}: {text}");
            assert!(text.contains("SQLite"), "the hint: {text}");
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{args:?} waited for the lock: {:?}",
                started.elapsed()
            );
            assert!(!safety.exists(), "{args:?}: a safety backup was written");
        }
        // validate still accepts it: the archive is valid, only this store cannot hold it.
        ok(bin().args(["validate", &bad_arg]));
        drop(node);
        assert_eq!(store_digest(&db.location()), before);
        assert_eq!(operations(&db.location()), ops_before);

        // SQLite keeps the NUL, and the round trip is exact.
        let sqlite = dir.path().join("ativo.db").display().to_string();
        init(&sqlite, None);
        ok(&mut import_cmd(&sqlite, &bad, &safety));
        let back = dir.path().join("back.json.zst");
        export(&sqlite, &back);
        assert_eq!(archive_digest(&back), archive_digest(&bad));
        let file = std::fs::File::open(&back).unwrap();
        assert_eq!(archive::read(file, &Limits::default()).unwrap().data.teams[0].name, "Lion\u{0}s");
    }

    #[test]
    fn pg_a_migration_with_a_nul_onto_a_postgresql_cloud_store_is_refused_before_anything_is_written() {
        let db = TestDb::new();
        let dir = tempfile::tempdir().unwrap();
        ok(bin().args([
            "--store",
            &db.url,
            "init",
            "--deployment",
            "cloud",
            "--server-id",
            "a1b2c3d4-cloud",
            "--base-url",
            "https://acme.atlassian.net",
        ]));
        let bad = dir.path().join("nul.json.zst");
        archive_with_nul(&bad, Deployment::Datacenter, SERVER_ID, BASE_URL, archive::Scope::Migration);
        // Every reference mapped, as JCMA would (onto ids of the same shape: themselves).
        let skeleton = ok(bin().args(["migration", "references", "--skeleton"]).arg(&bad));
        let mut mappings: serde_json::Value = serde_json::from_str(&skeleton).unwrap();
        for ids in mappings.as_object_mut().unwrap().values_mut() {
            for (id, cloud) in ids.as_object_mut().unwrap().iter_mut() {
                *cloud = serde_json::json!(id);
            }
        }
        let mappings_file = dir.path().join("mappings.json");
        std::fs::write(&mappings_file, mappings.to_string()).unwrap();
        let before = store_digest(&db.location());
        let safety = dir.path().join("safety");
        let (code, text) = run(bin()
            .args(["--store", &db.url, "migrate"])
            .arg(&bad)
            .arg("--mappings")
            .arg(&mappings_file)
            .arg("--yes")
            .arg("--safety-dir")
            .arg(&safety));
        assert_eq!(code, 3, "{text}");
        assert!(text.contains("/data/teams/0/name"), "{text}");
        assert!(!safety.exists());
        assert_eq!(store_digest(&db.location()), before);
    }
}
