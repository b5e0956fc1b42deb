//! PostgreSQL fixtures shared by the tests that run against a real server (`store_conformance`,
//! `store_postgres`, `import_stream`, `crash_import_pg`): the admin connection named by
//! `ATIVO_TEST_PG`, and a database per test that is dropped when the test ends, also when it
//! fails. What the tests check is theirs; this file only provides and cleans up databases.
//!
//! A server that was promised (the `pg-tests` feature is on) and is missing fails the test with
//! a message saying how to start it: these tests never skip.

// Each test module uses a different part of this module.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use ativo_backup::store::Location;
use postgres::{Client, NoTls};

/// The admin URL: a superuser (or a user with CREATEDB) on the test server.
pub fn admin_url() -> String {
    std::env::var("ATIVO_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A connection to `url`, or a failure that says what to do.
pub fn connect(url: &str) -> Client {
    Client::connect(url, NoTls).unwrap_or_else(|e| {
        panic!(
            "the PostgreSQL tests need a server at {url} (ATIVO_TEST_PG): {e}; start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` (DEVELOPERS.md), or run `cargo test` without --features pg-tests"
        )
    })
}

/// The URL of database `db` on the admin URL's server, as the admin user.
pub fn url_for(db: &str) -> String {
    let mut url = url::Url::parse(&admin_url()).expect("ATIVO_TEST_PG is not a URL");
    url.set_path(db);
    url.to_string()
}

/// A database of its own for one test, dropped (forcibly, whoever is still connected) on drop.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("ativo_test_{}_{}_{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        connect(&admin_url()).batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let url = url_for(&name);
        TestDb { name, url }
    }

    pub fn location(&self) -> Location {
        Location::parse(&self.url).expect("a test database URL")
    }

    pub fn client(&self) -> Client {
        connect(&self.url)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Never panic here: this also runs while a failed test unwinds.
        if let Ok(mut admin) = Client::connect(&admin_url(), NoTls) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}
