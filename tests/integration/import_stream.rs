//! Issue 6: the streaming import (an archive file as `export` writes it is checked, planned and
//! written in passes over the file, never held whole). These tests pin down what that path must
//! keep from the whole-document path: the same plan and digests, the safety backup of exactly
//! what was replaced, a plan made again when the store changed after the check, and no import
//! at all when the file changed after the check. Each runs against a SQLite file and, with the
//! `pg-tests` feature (`pg_*`), against a real PostgreSQL server.

use crate::archive_common::host;
use std::path::{Path, PathBuf};

use ativo_backup::archive::{self, Limits};
use ativo_backup::error::{ArchiveError, Error};
use ativo_backup::model::Configuration;
use ativo_backup::ops::{self, Input, diff, export, import};
use ativo_backup::sample::{self, SampleSize};
use ativo_backup::store::{self, Location, OpenOptions, Operation, Store};

#[cfg(feature = "pg-tests")]
use crate::pg_support;

pub(crate) struct Setup {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) store: Box<dyn Store>,
    /// Keeps a PostgreSQL test database until the test ends.
    _db: Option<Box<dyn std::any::Any>>,
}

/// Which backend a test runs against.
#[derive(Clone, Copy)]
pub(crate) enum Backend {
    Sqlite,
    #[cfg(feature = "pg-tests")]
    Postgres,
}

impl Setup {
    pub(crate) fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (location, db): (Location, Option<Box<dyn std::any::Any>>) = match backend {
            Backend::Sqlite => (Location::Sqlite(dir.path().join("store.db")), None),
            #[cfg(feature = "pg-tests")]
            Backend::Postgres => {
                let db = pg_support::TestDb::new();
                (db.location(), Some(Box::new(db)))
            }
        };
        let store = store::create_with(&location, &host(), &OpenOptions::default()).unwrap();
        Setup { dir, store, _db: db }
    }

    pub(crate) fn put(&mut self, config: &Configuration) {
        let mut config = config.clone();
        config.sort();
        self.store
            .replace(&mut |_| {
                let op = Operation {
                    id: 0,
                    at: chrono::Utc::now(),
                    kind: "test".into(),
                    os_user: "test".into(),
                    archive_digest: None,
                    content_digest: None,
                    outcome: "ok".into(),
                    detail: serde_json::Value::Null,
                };
                Ok((config.clone(), op))
            })
            .unwrap();
    }

    pub(crate) fn export(&mut self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        let options = export::ExportOptions {
            output: export::Output::File(path.clone()),
            encoding: None,
            scope: archive::Scope::Full,
            keep: None,
            progress: ativo_backup::progress::silent(),
        };
        export::export(self.store.as_mut(), &options).unwrap();
        path
    }

    pub(crate) fn options(&self, archive: &Path) -> import::ImportOptions {
        import::ImportOptions {
            allow_invalid: false,
            input: Input::File(archive.to_path_buf()),
            limits: Limits::default(),
            safety_dir: self.dir.path().join("safety"),
            only: None,
            progress: ativo_backup::progress::silent(),
        }
    }

    pub(crate) fn config(&mut self) -> Configuration {
        self.store.snapshot().unwrap().config
    }
}

/// The demo sample, and an edit of it touching every PI-level kind, the teams and the PI list.
fn two_configurations() -> (Configuration, Configuration) {
    let (base, _) = sample::generate(SampleSize::Demo);
    let mut edited = base.clone();
    edited.pis.remove(0);
    if let Some(c) = edited.pis[0].capacity.first_mut() {
        c.value += 2.5;
    }
    edited.pis[1].objectives.pop();
    edited.pis[1].milestones.clear();
    edited.teams[0].name.push_str(" (renamed)");
    (base, edited)
}

fn read(path: &Path) -> archive::Archive {
    ops::read_archive(&Input::File(path.to_path_buf()), &Limits::default()).unwrap()
}

fn the_streamed_import_plans_writes_and_backs_up_as_the_whole_document_path(backend: Backend) {
    let (base, edited) = two_configurations();
    let mut s = Setup::new(backend);
    s.put(&base);
    let archive_path = s.export("base.json.zst");
    s.put(&edited);
    let replaced = s.config();

    let options = s.options(&archive_path);
    let checked = import::check(s.store.as_mut(), &options).unwrap();
    let whole = read(&archive_path);
    let expected = diff::plan(&replaced, &whole.data);
    assert!(!expected.is_empty());
    assert_eq!(checked.plan, expected, "the merge of the two streams must give the plan of the whole maps");
    assert_eq!(checked.content_digest_before, archive::content_digest(&replaced));

    let report = import::apply(s.store.as_mut(), &options, checked).unwrap();
    assert_eq!(report.plan, expected);
    assert_eq!(s.config(), whole.data, "the store holds exactly the archive's configuration");
    assert_eq!(archive::content_digest(&s.config()), whole.header.content_digest);
    let backup = read(Path::new(report.safety_backup.as_deref().unwrap()));
    assert_eq!(backup.data, replaced, "the safety backup holds what was replaced");
    assert_eq!(backup.header.content_digest, report.content_digest_before);
}

fn a_store_changed_after_the_check_is_planned_again_under_the_lock(backend: Backend) {
    let (base, edited) = two_configurations();
    let mut s = Setup::new(backend);
    s.put(&base);
    let archive_path = s.export("base.json.zst");
    s.put(&edited);
    let options = s.options(&archive_path);
    let checked = import::check(s.store.as_mut(), &options).unwrap();

    // Someone changes the store between the check (and its confirmation) and the import.
    s.put(&Configuration::empty());
    let now = s.config();
    let report = import::apply(s.store.as_mut(), &options, checked).unwrap();
    assert_eq!(report.plan, diff::plan(&now, &read(&archive_path).data));
    assert_eq!(report.content_digest_before, archive::content_digest(&now));
    assert_eq!(s.config(), base_sorted(&base));
}

fn base_sorted(c: &Configuration) -> Configuration {
    let mut c = c.clone();
    c.sort();
    c
}

fn an_archive_replaced_after_the_check_is_not_imported(backend: Backend) {
    let (base, edited) = two_configurations();
    let mut s = Setup::new(backend);
    s.put(&base);
    let archive_path = s.export("base.json.zst");
    s.put(&edited);
    let other = s.export("edited.json.zst");
    s.put(&Configuration::empty());
    let before = s.config();
    let options = s.options(&archive_path);

    // A valid archive of the same host, with other content, takes the checked file's place by
    // rename: the import reads the file it opened and checked, never the newcomer.
    let checked = import::check(s.store.as_mut(), &options).unwrap();
    let base_copy = s.dir.path().join("base-copy.json.zst");
    std::fs::copy(&archive_path, &base_copy).unwrap();
    let renamed = s.dir.path().join("renamed.json.zst");
    std::fs::copy(&other, &renamed).unwrap();
    std::fs::rename(&renamed, &archive_path).unwrap();
    let report = import::apply(s.store.as_mut(), &options, checked).unwrap();
    assert_eq!(s.config(), base_sorted(&base), "the checked archive was imported");
    assert_eq!(report.content_digest_after, archive::content_digest(&base_sorted(&base)));

    // The checked file itself is overwritten in place: the import fails, nothing changes.
    s.put(&Configuration::empty());
    let log_before = s.store.operations().unwrap().len();
    let options = s.options(&other);
    let checked = import::check(s.store.as_mut(), &options).unwrap();
    std::fs::write(&other, std::fs::read(&base_copy).unwrap()).unwrap();
    let err = import::apply(s.store.as_mut(), &options, checked).unwrap_err();
    match &err {
        Error::Archive(ArchiveError::Integrity(message)) => {
            assert!(message.contains("changed") && message.contains("edited.json.zst"), "{message}")
        }
        other => panic!("expected an integrity error, got {other:?}"),
    }
    assert_eq!(err.exit_code(), 5);
    assert_eq!(s.config(), before, "nothing was imported");
    assert_eq!(s.store.operations().unwrap().len(), log_before, "nothing was logged as imported");
}

#[test]
fn sqlite_the_streamed_import_plans_writes_and_backs_up_as_the_whole_document_path() {
    the_streamed_import_plans_writes_and_backs_up_as_the_whole_document_path(Backend::Sqlite);
}

#[test]
fn sqlite_a_store_changed_after_the_check_is_planned_again_under_the_lock() {
    a_store_changed_after_the_check_is_planned_again_under_the_lock(Backend::Sqlite);
}

#[test]
fn sqlite_an_archive_replaced_after_the_check_is_not_imported() {
    an_archive_replaced_after_the_check_is_not_imported(Backend::Sqlite);
}

// The same against a real PostgreSQL server (`--features pg-tests`, run by `.ci/run`).

#[cfg(feature = "pg-tests")]
#[test]
fn pg_the_streamed_import_plans_writes_and_backs_up_as_the_whole_document_path() {
    the_streamed_import_plans_writes_and_backs_up_as_the_whole_document_path(Backend::Postgres);
}

#[cfg(feature = "pg-tests")]
#[test]
fn pg_a_store_changed_after_the_check_is_planned_again_under_the_lock() {
    a_store_changed_after_the_check_is_planned_again_under_the_lock(Backend::Postgres);
}

#[cfg(feature = "pg-tests")]
#[test]
fn pg_an_archive_replaced_after_the_check_is_not_imported() {
    an_archive_replaced_after_the_check_is_not_imported(Backend::Postgres);
}
