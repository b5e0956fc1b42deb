//! The store: where one host's Ativo configuration lives. One [`Store`] trait, one file per
//! backend (SQLite embedded by default, PostgreSQL for Data Center); operations never know which.
//!
//! Both backends hold the configuration in real relational tables with keys and foreign keys,
//! the host identity (with accepted aliases), REST API token metadata and an operations log.
//! This file owns the public API (locations, the trait, options, the log entry types); the
//! table mapping shared by the backends is in `relational.rs`, the SQLite backend in
//! `sqlite.rs` with its DDL under `sql/sqlite/`, the PostgreSQL backend in `postgres.rs` with
//! its DDL under `sql/postgres/`. What gets written, and when, is decided by the operations
//! (`crate::ops`), never here.

pub mod conninfo;
mod pg_client;
mod postgres;
mod relational;
mod sqlite;

pub use conninfo::PgConnection;

pub use postgres::{
    BULK_ROWS as POSTGRES_BULK_ROWS, LOCK_CLASS as POSTGRES_LOCK_CLASS, LOCK_OBJECT as POSTGRES_LOCK_OBJECT,
};

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::{Result, StoreError};
use crate::host::HostIdentity;
use crate::model::{ApiToken, Configuration};
use crate::sink::{Collect, ConfigSink};

/// Where a store is, parsed from `--store` / `ATIVO_STORE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite database file (`PATH` or `sqlite:PATH`).
    Sqlite(PathBuf),
    /// A PostgreSQL connection: a URI or keyword/value string resolved as libpq resolves it,
    /// with the `PG*` environment and the password file (see [`PgConnection`]).
    Postgres(Box<PgConnection>),
}

impl Location {
    /// Parses a store location: a `postgres://` or `postgresql://` URI or a libpq keyword/value
    /// string is a PostgreSQL connection (resolved in the process's environment), `sqlite:PATH`
    /// and anything else a SQLite path. What decides is [`conninfo::kind_of`]: a string that
    /// starts with a word and `=` is a connection string, and refused when the word is not a
    /// libpq keyword, so that a mistyped connection string never becomes a file.
    ///
    /// # Errors
    ///
    /// [`StoreError::BadLocation`] for an empty string, an unknown URL scheme, or a connection
    /// string that is not valid or asks for what this build does not do; its message never
    /// repeats the string, which may hold a password.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        if s.trim().is_empty() {
            return Err(StoreError::BadLocation("it is empty".to_owned()));
        }
        let empty_path = || StoreError::BadLocation("sqlite: is not followed by a path".to_owned());
        match conninfo::kind_of(s) {
            conninfo::Kind::Uri | conninfo::Kind::KeywordValue => {
                return Ok(Location::Postgres(Box::new(PgConnection::parse(s)?)));
            }
            conninfo::Kind::UnknownKeyword => {
                return Err(StoreError::BadLocation(
                    "it starts like a keyword=value connection string, but its first keyword is not one libpq knows (host, port, dbname, user...); a file whose name starts so is given as ./NAME or sqlite:NAME".to_owned(),
                ));
            }
            conninfo::Kind::Path => {}
        }
        if let Some((scheme, _)) = s.split_once("://") {
            if scheme.eq_ignore_ascii_case("sqlite") {
                // `sqlite:///abs/path` and `sqlite://rel/path`, as some tools write them.
                let path = &s["sqlite://".len()..];
                return if path.is_empty() { Err(empty_path()) } else { Ok(Location::Sqlite(PathBuf::from(path))) };
            }
            // A `scheme://` we do not know is a typo or an unsupported database, not a file
            // name anyone means; a path with "://" in it can still be given as sqlite:PATH.
            return Err(StoreError::BadLocation(
                "its URL scheme is neither postgres://, postgresql:// nor sqlite://".to_owned(),
            ));
        }
        if let Some(path) = s.strip_prefix("sqlite:") {
            return if path.is_empty() { Err(empty_path()) } else { Ok(Location::Sqlite(PathBuf::from(path))) };
        }
        Ok(Location::Sqlite(PathBuf::from(s)))
    }

    /// How the store is shown everywhere (messages, `host`, `log`, reports, the operations log):
    /// a SQLite path as it is, a PostgreSQL connection as [`PgConnection::describe`] gives it,
    /// never with a password.
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(path) => path.display().to_string(),
            Location::Postgres(connection) => connection.describe(),
        }
    }
}

/// How to open or create a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOptions {
    /// How long a writer waits for another writer's lock before [`StoreError::Locked`].
    pub lock_timeout: Duration,
}

impl OpenOptions {
    /// The default lock timeout: long enough for a normal import of someone else to finish.
    pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

    /// Defaults, with the lock timeout taken from `ATIVO_LOCK_TIMEOUT_MS` when it is set.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when `ATIVO_LOCK_TIMEOUT_MS` is set but not a number of milliseconds.
    pub fn from_env() -> Result<Self, StoreError> {
        match std::env::var("ATIVO_LOCK_TIMEOUT_MS") {
            Err(_) => Ok(Self::default()),
            Ok(v) => v.trim().parse::<u64>().map(|ms| OpenOptions { lock_timeout: Duration::from_millis(ms) }).map_err(
                |_| StoreError::Backend {
                    location: "ATIVO_LOCK_TIMEOUT_MS".to_owned(),
                    action: "reading the lock timeout".to_owned(),
                    message: format!("{v:?} is not a whole number of milliseconds; unset it or give e.g. 10000"),
                },
            ),
        }
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { lock_timeout: Self::DEFAULT_LOCK_TIMEOUT }
    }
}

/// The OS user running this process, for the operations log: the name of the real user id in
/// the user database (`getpwuid`), or `uid <N>` when it has none. Never `$USER`, which anyone can
/// set to anything (`sudo` keeps the caller's, a cron job may have none).
#[cfg(unix)]
pub fn current_os_user() -> String {
    let uid = nix::unistd::getuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) => user.name,
        _ => format!("uid {uid}"),
    }
}

/// The OS user running this process, for the operations log (`USERNAME`: Windows has no uid).
#[cfg(not(unix))]
pub fn current_os_user() -> String {
    std::env::var("USERNAME").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| "unknown".to_owned())
}

/// The `init` log entry of a new store.
fn init_operation(host: &HostIdentity) -> Operation {
    Operation {
        id: 0,
        at: Utc::now(),
        kind: OperationKind::Init,
        os_user: current_os_user(),
        archive_digest: None,
        content_digest: None,
        outcome: Outcome::Ok,
        detail: serde_json::json!({ "host": host, "fingerprint": host.fingerprint() }),
    }
}

/// The `host-change` log entry.
fn host_change_operation(before: &HostIdentity, after: &HostIdentity, kept_as_alias: bool) -> Operation {
    Operation {
        id: 0,
        at: Utc::now(),
        kind: OperationKind::HostChange,
        os_user: current_os_user(),
        archive_digest: None,
        content_digest: None,
        outcome: Outcome::Ok,
        detail: serde_json::json!({
            "previous": before,
            "previous_fingerprint": before.fingerprint(),
            "new": after,
            "new_fingerprint": after.fingerprint(),
            "previous_kept_as_alias": kept_as_alias,
        }),
    }
}

/// The host identity of a store, with the identities it also accepts archives from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostRecord {
    /// The store's own identity.
    pub identity: HostIdentity,
    /// Earlier identities that the admin declared acceptable (after a base-URL change).
    pub aliases: Vec<HostIdentity>,
}

/// One entry of the operations log. Its `id` is assigned by the store: the value given to
/// [`Store::record`] or returned by a [`Plan`] is ignored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Operation {
    /// Sequence number, assigned by the store.
    pub id: i64,
    /// When (UTC).
    pub at: DateTime<Utc>,
    /// What was done.
    pub kind: OperationKind,
    /// The OS user that ran it.
    pub os_user: String,
    /// Integrity digest of the archive written or read, if any.
    pub archive_digest: Option<String>,
    /// Content digest of the configuration the store holds afterwards.
    pub content_digest: Option<String>,
    /// `ok`, or what went wrong.
    pub outcome: Outcome,
    /// Operation-specific details (safety backup path, source host, unmapped references...).
    pub detail: serde_json::Value,
}

/// Declares a string-valued enum kept in the operations log: known values as variants, anything
/// else (written by a newer version) kept as it is, so that a log always reads back.
macro_rules! log_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this version does not know, as the log holds it.
            Other(String),
        }

        impl $name {
            /// The value as the log stores it.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Other(text) => text,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                match text {
                    $($text => $name::$variant,)*
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

log_enum! {
    /// What an operations log entry records.
    OperationKind {
        /// The store was created.
        Init = "init",
        /// `init --sample` filled it.
        Sample = "sample",
        /// The host identity changed (`host set-base-url`, `host set-deployment`).
        HostChange = "host-change",
        /// An archive was written.
        Export = "export",
        /// An archive replaced the configuration.
        Import = "import",
        /// A migration archive replaced a cloud site's configuration.
        Migrate = "migrate",
        /// The admins of a migrated cloud site were set.
        AdminsSet = "admins-set",
        /// A migration was rolled back (`migration reset`).
        MigrationReset = "migration-reset",
        /// The demo's simulated mistake.
        DemoMistake = "demo-mistake",
    }
}

log_enum! {
    /// How an operation ended.
    Outcome {
        /// It did what it logged.
        Ok = "ok",
    }
}

/// What a store holds, read in one consistent snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The configuration, in canonical order.
    pub config: Configuration,
    /// REST API token metadata.
    pub api_tokens: Vec<ApiToken>,
}

/// Decides, under the store's write lock and given what the store holds now, what to write and
/// how to log it. Returning an error aborts the write with nothing changed.
pub type Plan<'a> = dyn FnMut(&Snapshot) -> Result<(Configuration, Operation)> + 'a;

/// Streams what a store holds now into a sink, as [`Store::stream_snapshot`] does, inside the
/// transaction of a [`Store::replace_streamed`].
pub type ReadCurrent<'a> = dyn FnMut(&mut dyn ConfigSink) -> Result<()> + 'a;

/// A replacement of the whole configuration that never needs all of it in memory, run by
/// [`Store::replace_streamed`] in one transaction under the store's write lock.
///
/// Why: a streaming import reads the current configuration once for its safety backup (and its
/// plan) and then writes the archive's PIs as it reads them from the file, so neither side is
/// ever held whole. Returning an error from either step aborts with nothing changed.
pub trait Replacement {
    /// Called under the write lock before anything changes. `current` streams what the store
    /// holds now; it may be called more than once and sees the same data each time. Returns the
    /// log entry recorded in the same transaction and the number of rows the new configuration
    /// has ([`Configuration::row_count`]; a hint for the bulk path of a backend).
    ///
    /// # Errors
    ///
    /// Any error, which aborts the replacement.
    fn prepare(&mut self, current: &mut ReadCurrent<'_>) -> Result<(Operation, u64)>;
    /// Writes the new configuration into the emptied tables, as a stream into `out` (the
    /// token metadata given to its `start` is not written: it is the host's, not the
    /// configuration's).
    ///
    /// # Errors
    ///
    /// Any error, which rolls the transaction back.
    fn write(&mut self, out: &mut dyn ConfigSink) -> Result<()>;
}

/// The whole snapshot `read` streams, collected.
///
/// # Errors
///
/// Any error of `read`.
pub fn collect(read: &mut ReadCurrent<'_>) -> Result<Snapshot> {
    let mut collect = Collect::default();
    read(&mut collect)?;
    let (config, api_tokens) = collect.into_parts()?;
    Ok(Snapshot { config, api_tokens })
}

/// [`Store::replace`] as a [`Replacement`]: reads the current snapshot whole, lets the plan
/// decide, and writes what it returns.
struct Whole<'p, 'q> {
    plan: &'p mut Plan<'q>,
    new: Option<Configuration>,
}

impl Replacement for Whole<'_, '_> {
    fn prepare(&mut self, current: &mut ReadCurrent<'_>) -> Result<(Operation, u64)> {
        let snapshot = collect(current)?;
        let (mut config, op) = (self.plan)(&snapshot)?;
        config.sort();
        let rows = config.row_count();
        self.new = Some(config);
        Ok((op, rows))
    }

    fn write(&mut self, out: &mut dyn ConfigSink) -> Result<()> {
        let config = self.new.take().ok_or_else(|| {
            crate::error::Error::Internal("the replacement was written before it was prepared".into())
        })?;
        crate::sink::feed(&config, &[], out)
    }
}

/// A store backend.
pub trait Store {
    /// Human description of the location, passwords removed.
    fn location(&self) -> String;
    /// The local files the store consists of, which no archive may ever be written over: a
    /// SQLite database and its `-wal`, `-shm` and `-journal` files (whether they exist now or
    /// not); none for a server database.
    fn files(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    /// Whether text holding the NUL character (U+0000) cannot be stored: PostgreSQL's text
    /// types cannot hold it, SQLite keeps it. Operations check what they are about to write
    /// against this before they take the lock or write a safety backup.
    fn refuses_nul_in_text(&self) -> bool {
        false
    }
    /// The host identity and aliases.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot be read.
    fn host(&mut self) -> Result<HostRecord>;
    /// Changes the base URL, optionally keeping the previous identity as an accepted alias.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot be written.
    fn set_identity(&mut self, identity: &HostIdentity, keep_previous_as_alias: bool) -> Result<()>;
    /// Reads the configuration and token metadata in one consistent snapshot.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot be read.
    fn snapshot(&mut self) -> Result<Snapshot>;
    /// Streams the same consistent snapshot as [`Store::snapshot`] into `sink` without holding
    /// all of it (the configuration in canonical order, the PIs in key order). The export
    /// streams an archive this way in memory that does not grow with the store.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot be read; any error of `sink`, which ends the read.
    fn stream_snapshot(&mut self, sink: &mut dyn ConfigSink) -> Result<()>;
    /// Replaces the whole configuration in one transaction under the store's write lock. `plan`
    /// sees the current snapshot (read under the lock) and returns the configuration to write
    /// and the log entry recorded in the same transaction.
    ///
    /// # Errors
    ///
    /// [`StoreError::Locked`] when the lock is not had in time; any error of `plan`; other
    /// [`StoreError`]s when writing fails. In every case nothing is changed.
    fn replace(&mut self, plan: &mut Plan<'_>) -> Result<()> {
        self.replace_streamed(&mut Whole { plan, new: None })
    }
    /// Replaces the whole configuration in one transaction under the store's write lock, as
    /// `replacement` decides and writes it (see [`Replacement`]), without holding either
    /// configuration whole.
    ///
    /// # Errors
    ///
    /// [`StoreError::Locked`] when the lock is not had in time; any error of `replacement`; other
    /// [`StoreError`]s when writing fails. In every case nothing is changed.
    fn replace_streamed(&mut self, replacement: &mut dyn Replacement) -> Result<()>;
    /// Replaces the REST API token metadata (used by `init --sample`).
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot be written.
    fn set_api_tokens(&mut self, tokens: &[ApiToken]) -> Result<()>;
    /// Appends an entry to the operations log on its own.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot be written.
    fn record(&mut self, op: &Operation) -> Result<()>;
    /// The operations log, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot be read.
    fn operations(&mut self) -> Result<Vec<Operation>>;
}

/// Opens an existing store; never creates one.
///
/// # Errors
///
/// [`StoreError::Missing`] when there is none (PostgreSQL: the database holds none of the
/// store's tables); [`StoreError::NotInitialised`] when the location holds something else;
/// [`StoreError::Backend`] for connection problems (refused, authentication failed, no such
/// database), named by host, port, database and user, never by password.
pub fn open(location: &Location) -> Result<Box<dyn Store>> {
    open_with(location, &OpenOptions::from_env()?)
}

/// [`open`] with explicit options.
///
/// # Errors
///
/// As [`open`]; also [`StoreError::NotInitialised`] when the store's schema is newer than this
/// build knows.
pub fn open_with(location: &Location, options: &OpenOptions) -> Result<Box<dyn Store>> {
    match location {
        Location::Sqlite(path) => Ok(Box::new(sqlite::SqliteStore::open(path, options)?)),
        Location::Postgres(connection) => Ok(Box::new(postgres::PostgresStore::open(connection, options)?)),
    }
}

/// Creates a new store for `host` with an empty configuration.
///
/// # Errors
///
/// [`StoreError::AlreadyExists`] when there is one already; [`StoreError::Backend`] otherwise.
pub fn create(location: &Location, host: &HostIdentity) -> Result<Box<dyn Store>> {
    create_with(location, host, &OpenOptions::from_env()?)
}

/// [`create`] with explicit options. A SQLite store is built in a temporary file beside the
/// target and renamed into place when complete; its directory must exist. A PostgreSQL store
/// is created in an existing database (made by its admin), in one transaction.
///
/// # Errors
///
/// As [`create`].
pub fn create_with(location: &Location, host: &HostIdentity, options: &OpenOptions) -> Result<Box<dyn Store>> {
    match location {
        Location::Sqlite(path) => Ok(Box::new(sqlite::SqliteStore::create(path, host, options)?)),
        Location::Postgres(connection) => Ok(Box::new(postgres::PostgresStore::create(connection, host, options)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_parsed() {
        let sqlite = |p: &str| Location::Sqlite(PathBuf::from(p));
        assert_eq!(Location::parse("ativo.db").unwrap(), sqlite("ativo.db"));
        assert_eq!(Location::parse("sqlite:/var/ativo.db").unwrap(), sqlite("/var/ativo.db"));
        assert_eq!(Location::parse("sqlite:///var/ativo.db").unwrap(), sqlite("/var/ativo.db"));
        assert_eq!(Location::parse("./x:y.db").unwrap(), sqlite("./x:y.db"));
        assert_eq!(Location::parse("./host=x.db").unwrap(), sqlite("./host=x.db"));
        assert_eq!(Location::parse("sqlite:host=x.db").unwrap(), sqlite("host=x.db"));
        for conn in ["postgres://u@h/db", "postgresql://u:p@h:5432/db", "POSTGRES://h/db", "host=h user=u dbname=db"] {
            assert!(matches!(Location::parse(conn), Ok(Location::Postgres(_))), "{conn}");
        }
        for bad in ["", "  ", "sqlite:", "sqlite://", "mysql://h/db", "hots=h password=Sentinel-Pw"] {
            match Location::parse(bad) {
                Err(StoreError::BadLocation(why)) => assert!(!why.contains("Sentinel"), "{why}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn passwords_are_not_described() {
        for s in ["postgres://ativo:s3cret@db.example.com/jira", "host=db.example.com password=s3cret dbname=jira"] {
            let loc = Location::parse(s).unwrap();
            assert!(!format!("{} {loc:?}", loc.describe()).contains("s3cret"), "{}", loc.describe());
        }
    }
}
