//! The SQLite backend: one database file holds one host's store. This file owns the connection,
//! its settings, schema migrations, transactions and locking, and the mapping of SQLite errors to
//! [`StoreError`]; what the tables hold and how a configuration maps to rows is
//! `relational.rs`'s business, and the DDL lives in `sql/sqlite/*.sql`.
//!
//! # Concurrency and durability
//!
//! * `journal_mode = WAL`: a reader (an export, a `diff`) sees the last committed state in one
//!   consistent snapshot while an import writes, and never waits for it; the writer never waits
//!   for readers either. The mode is recorded in the file, so every later connection uses it.
//! * `synchronous = FULL`: a commit returns only once the WAL is on disk. A restore is rare and
//!   must survive a power cut once reported done; the cost is one extra fsync per transaction.
//! * Writers take SQLite's write lock with `BEGIN IMMEDIATE` before reading what they will
//!   replace; a second writer waits up to the lock timeout (`busy_timeout`) and then gets
//!   [`StoreError::Locked`]. The lock is a file lock held by the process: when a process dies
//!   (even by `kill -9`) the operating system releases it, and the next connection rolls back
//!   the dead writer's uncommitted WAL frames, so a killed import leaves no stale lock and no
//!   partial configuration.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{CachedStatement, Connection, ErrorCode, OpenFlags, ToSql, Transaction, TransactionBehavior};

use super::relational::{self, KeyRange, Migration, RowRef, RowSink, RowSource, Table, Value};
use super::{HostRecord, OpenOptions, Operation, Replacement, Snapshot, Store};
use crate::error::{Result, StoreError};
use crate::host::HostIdentity;
use crate::model::{ApiToken, Configuration};
use crate::sink::ConfigSink;

/// This build's schema migrations, oldest first. Versions are shared with every backend.
const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "init", sql: include_str!("sql/sqlite/0001_init.sql") },
    Migration {
        version: 2,
        name: "dates and finite capacity",
        sql: include_str!("sql/sqlite/0002_dates_and_finite_capacity.sql"),
    },
];

/// `PRAGMA application_id` of our files ("ATVO"), so that `file(1)` and curious admins can tell
/// an ativo store from another SQLite database.
const APPLICATION_ID: i32 = 0x4154_564f;

/// Records which migrations ran; created with the store, before the first migration.
const SCHEMA_MIGRATIONS_DDL: &str = "CREATE TABLE schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    applied_at  TEXT NOT NULL
) STRICT";

/// The newest schema version this build knows.
fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// A store in a SQLite file.
pub(crate) struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

fn location_of(path: &Path) -> String {
    path.display().to_string()
}

thread_local! {
    /// When the current transaction (or the opening of the store) began on this thread. A lock
    /// held by another process surfaces as SQLITE_BUSY from whichever statement first needed it,
    /// after the busy handler waited; this says how long the wait really was.
    static STARTED: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

/// Marks the start of a transaction or of opening the store (see [`STARTED`]).
fn mark_start() {
    STARTED.with(|s| s.set(Some(Instant::now())));
}

/// Maps a SQLite error to a [`StoreError`] that says where and what we were doing.
fn sqlite_error(location: &str, action: &str, e: rusqlite::Error, waited: Duration) -> StoreError {
    let backend =
        |message: String| StoreError::Backend { location: location.to_owned(), action: action.to_owned(), message };
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            let since_start = STARTED.with(std::cell::Cell::get).map_or(Duration::ZERO, |t| t.elapsed());
            StoreError::Locked {
                location: location.to_owned(),
                waited_ms: u64::try_from(waited.max(since_start).as_millis()).unwrap_or(u64::MAX),
            }
        }
        Some(ErrorCode::ReadOnly) => backend(format!(
            "the store is read-only ({e}); the file and its directory must be writable by this user (SQLite keeps its -wal and -shm files beside the database)"
        )),
        Some(ErrorCode::NotADatabase) => StoreError::NotInitialised {
            location: location.to_owned(),
            why: "the file is not a SQLite database; point --store at a store made by `ativo-backup init`".to_owned(),
        },
        Some(ErrorCode::DiskFull) => backend(format!("the disk is full ({e}); free some space and try again")),
        // A write that failed with EFBIG (a file-size limit) or EIO surfaces as a bare "disk I/O
        // error": say what usually causes it. The transaction was rolled back either way.
        Some(ErrorCode::SystemIoFailure) => backend(format!(
            "{e}: a write to the store or its -wal/-shm files failed (a full disk, a file-size limit such as `ulimit -f`, or a failing disk); nothing was changed"
        )),
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            backend(format!("{e}; check that the file and its directory exist and are readable and writable"))
        }
        Some(ErrorCode::ConstraintViolation) => backend(format!(
            "{e}; the data breaks a rule of the store's schema (a reference to a missing team, a duplicate key...), nothing was changed"
        )),
        _ => backend(e.to_string()),
    }
}

/// A closure mapping rusqlite errors for one action without a lock wait.
fn on<'a>(location: &'a str, action: &'a str) -> impl Fn(rusqlite::Error) -> StoreError + 'a {
    move |e| sqlite_error(location, action, e, Duration::ZERO)
}

impl ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use rusqlite::types::Value as V;
        Ok(match *self {
            Value::Null => ToSqlOutput::Owned(V::Null),
            Value::Bool(b) => ToSqlOutput::Owned(V::Integer(i64::from(b))),
            Value::Int(n) => ToSqlOutput::Owned(V::Integer(n)),
            Value::Real(x) => ToSqlOutput::Owned(V::Real(x)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

/// Inserts rows with one cached prepared statement per table; rows arrive grouped by table, so
/// each statement is prepared once per transaction and reused for every row.
struct Sink<'c> {
    tx: &'c Connection,
    location: &'c str,
    current: Option<(&'static str, CachedStatement<'c>)>,
}

impl<'c> Sink<'c> {
    fn new(tx: &'c Connection, location: &'c str) -> Self {
        Sink { tx, location, current: None }
    }
}

impl RowSink for Sink<'_> {
    fn insert(&mut self, table: &'static Table, row: &[Value<'_>]) -> Result<(), StoreError> {
        let action = || format!("inserting into table {}", table.name);
        let stale = self.current.as_ref().is_none_or(|(name, _)| *name != table.name);
        if stale {
            // Drop the previous statement first: it goes back to the connection's cache.
            self.current = None;
            let stmt = self
                .tx
                .prepare_cached(&table.insert_sql(|i| format!("?{i}")))
                .map_err(|e| sqlite_error(self.location, &action(), e, Duration::ZERO))?;
            self.current = Some((table.name, stmt));
        }
        if let Some((_, stmt)) = &mut self.current {
            stmt.execute(rusqlite::params_from_iter(row.iter()))
                .map_err(|e| sqlite_error(self.location, &action(), e, Duration::ZERO))?;
        }
        Ok(())
    }
}

/// Reads rows with the shared `SELECT`s.
struct Source<'c> {
    conn: &'c Connection,
    location: &'c str,
}

struct Row<'r> {
    row: &'r rusqlite::Row<'r>,
    table: &'static Table,
    location: &'r str,
}

impl Row<'_> {
    fn value(&self, i: usize) -> Result<ValueRef<'_>, StoreError> {
        self.row.get_ref(i).map_err(|e| self.bad(i, &e.to_string()))
    }
}

impl RowRef for Row<'_> {
    fn str(&self, i: usize) -> Result<&str, StoreError> {
        match self.value(i)? {
            ValueRef::Text(bytes) => {
                std::str::from_utf8(bytes).map_err(|e| self.bad(i, &format!("is not UTF-8 ({e})")))
            }
            ValueRef::Null => Err(self.bad(i, "is NULL")),
            other => Err(self.bad(i, &format!("holds {:?}, not text", other.data_type()))),
        }
    }

    fn opt_str(&self, i: usize) -> Result<Option<&str>, StoreError> {
        match self.value(i)? {
            ValueRef::Null => Ok(None),
            _ => self.str(i).map(Some),
        }
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.value(i)? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(n) => Ok(Some(n)),
            other => Err(self.bad(i, &format!("holds {:?}, not an integer", other.data_type()))),
        }
    }

    fn real(&self, i: usize) -> Result<f64, StoreError> {
        match self.value(i)? {
            ValueRef::Real(x) => Ok(x),
            ValueRef::Null => Err(self.bad(i, "is NULL")),
            other => Err(self.bad(i, &format!("holds {:?}, not a real", other.data_type()))),
        }
    }

    fn bool(&self, i: usize) -> Result<bool, StoreError> {
        match self.int(i)? {
            0 => Ok(false),
            1 => Ok(true),
            n => Err(self.bad(i, &format!("holds {n}, not a boolean 0 or 1"))),
        }
    }

    fn bad(&self, i: usize, problem: &str) -> StoreError {
        let column = self.table.columns.get(i).copied().unwrap_or("?");
        StoreError::Backend {
            location: self.location.to_owned(),
            action: "reading the store".to_owned(),
            message: format!(
                "table {}, column {column}: {problem}; the store was changed outside ativo-backup, restore it from a backup",
                self.table.name
            ),
        }
    }
}

impl RowSource for Source<'_> {
    fn rows_in(
        &mut self,
        table: &'static Table,
        range: KeyRange<'_>,
        each: &mut dyn FnMut(&dyn RowRef) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let action = format!("reading table {}", table.name);
        let err = on(self.location, &action);
        let sql = table.select_range_sql(|i| format!("?{i}"), range.after.is_some(), range.upto.is_some());
        let mut stmt = self.conn.prepare_cached(&sql).map_err(&err)?;
        let bounds: Vec<&str> = range.after.into_iter().chain(range.upto).collect();
        let mut rows = stmt.query(rusqlite::params_from_iter(bounds)).map_err(&err)?;
        while let Some(row) = rows.next().map_err(&err)? {
            each(&Row { row, table, location: self.location })?;
        }
        Ok(())
    }
}

/// Sets the per-connection settings (see the module docs for why).
fn configure(conn: &Connection, location: &str, lock_timeout: Duration) -> Result<(), StoreError> {
    let err = on(location, "configuring the connection");
    conn.busy_timeout(lock_timeout).map_err(&err)?;
    conn.pragma_update(None, "foreign_keys", true).map_err(&err)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(&err)?;
    // Room for every table's INSERT and SELECT, so bulk work never re-prepares a statement.
    conn.set_prepared_statement_cache_capacity(2 * relational::CONFIG_TABLES.len() + 16);
    Ok(())
}

/// Applies `MIGRATIONS` newer than `from` in one transaction, recording each.
fn apply_migrations(tx: &Transaction<'_>, location: &str, from: i64) -> Result<(), StoreError> {
    for m in MIGRATIONS.iter().filter(|m| m.version > from) {
        let action = format!("applying schema migration {} ({})", m.version, m.name);
        tx.execute_batch(m.sql).map_err(on(location, &action))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![m.version, m.name, relational::timestamp(&chrono::Utc::now())],
        )
        .map_err(on(location, &action))?;
    }
    Ok(())
}

/// The schema version of an opened database, or why it is not one of our stores.
fn schema_version(conn: &Connection, location: &str) -> Result<i64, StoreError> {
    let err = on(location, "reading the schema version");
    let has_table: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations')",
            [],
            |r| r.get(0),
        )
        .map_err(&err)?;
    if !has_table {
        return Err(StoreError::NotInitialised {
            location: location.to_owned(),
            why: "it is a SQLite database without ativo-backup's tables; create a store with `ativo-backup init`"
                .to_owned(),
        });
    }
    let version: Option<i64> =
        conn.query_row("SELECT MAX(version) FROM schema_migrations", [], |r| r.get(0)).map_err(&err)?;
    version.ok_or_else(|| StoreError::NotInitialised {
        location: location.to_owned(),
        why: "its schema_migrations table is empty (an interrupted init?); create the store again".to_owned(),
    })
}

fn newer_schema(location: &str, version: i64) -> StoreError {
    StoreError::NotInitialised {
        location: location.to_owned(),
        why: format!(
            "its schema version {version} is newer than this build of ativo-backup knows ({}); use a newer ativo-backup",
            latest_version()
        ),
    }
}

/// Why `init` refuses `path`, which exists: a store already, or something else that it never
/// overwrites (a directory, an archive, another program's database).
fn existing(path: &Path, meta: &std::fs::Metadata, location: String) -> StoreError {
    let not_a_store = |what: &str| StoreError::NotInitialised {
        location: location.clone(),
        why: format!(
            "it exists and is {what}, not an ativo store; `init` never overwrites a file: choose another path, or move it away first"
        ),
    };
    if !meta.is_file() {
        return not_a_store("not a regular file");
    }
    let mut magic = [0u8; 16];
    let is_sqlite = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok_and(|()| &magic == b"SQLite format 3\0");
    if !is_sqlite {
        return not_a_store("not a SQLite database");
    }
    // Read-only: looking must not change another program's database (not even its journal mode).
    let has_our_tables =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .and_then(|conn| {
                conn.query_row(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations')",
                    [],
                    |r| r.get::<_, bool>(0),
                )
            })
            .unwrap_or(false);
    if has_our_tables {
        StoreError::AlreadyExists(location)
    } else {
        not_a_store("a SQLite database without ativo-backup's tables")
    }
}

impl SqliteStore {
    /// Opens an existing store, applying pending migrations of older schema versions.
    pub(crate) fn open(path: &Path, options: &OpenOptions) -> Result<Self, StoreError> {
        let location = location_of(path);
        mark_start();
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StoreError::Missing(location)),
            Err(e) => {
                return Err(StoreError::Backend {
                    location,
                    action: "opening the store".to_owned(),
                    message: e.to_string(),
                });
            }
            Ok(m) if !m.is_file() => {
                return Err(StoreError::NotInitialised { location, why: "it is not a regular file".to_owned() });
            }
            Ok(_) => {}
        }
        // No SQLITE_OPEN_CREATE: opening never creates a store, even if the file vanished since.
        // No SQLITE_OPEN_URI: a path is a path, even with `?` or `#` in it.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| match e.sqlite_error_code() {
            Some(ErrorCode::CannotOpen) if !path.exists() => StoreError::Missing(location.clone()),
            _ => sqlite_error(&location, "opening the store", e, Duration::ZERO),
        })?;
        configure(&conn, &location, options.lock_timeout)?;
        let mut store = SqliteStore { conn, path: path.to_owned() };

        let version = schema_version(&store.conn, &location)?;
        if version > latest_version() {
            return Err(newer_schema(&location, version));
        }
        // WAL is recorded in the file; switching needs a write, so a read-only store that is not
        // in WAL yet stays as it is and can still be read.
        match store.conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Ok(_) => {}
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::ReadOnly) => {}
            Err(e) => return Err(sqlite_error(&location, "switching to WAL mode", e, Duration::ZERO)),
        }
        // A store this process may not write is read as it is: the later migrations add
        // constraints only, so an older schema reads the same (and no write would succeed).
        let writable = !store.conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false);
        if version < latest_version() && writable {
            let (tx, _) = store.begin_write("upgrading the schema")?;
            // Another process may have upgraded it while we waited for the lock.
            let version = schema_version(&tx, &location)?;
            if version > latest_version() {
                return Err(newer_schema(&location, version));
            }
            apply_migrations(&tx, &location, version)?;
            tx.commit().map_err(on(&location, "upgrading the schema"))?;
        }
        Ok(store)
    }

    /// Creates a store: builds it in a temporary file beside `path` and renames it into place
    /// only when complete, so a failure (or a kill) never leaves a half-made store at `path`.
    pub(crate) fn create(path: &Path, host: &HostIdentity, options: &OpenOptions) -> Result<Self, StoreError> {
        let location = location_of(path);
        if let Ok(meta) = path.symlink_metadata() {
            return Err(existing(path, &meta, location));
        }
        let io_err = |action: &str, e: std::io::Error| {
            let message = match e.kind() {
                std::io::ErrorKind::PermissionDenied => {
                    format!("{e}; the store's directory must be writable by this user")
                }
                _ => e.to_string(),
            };
            StoreError::Backend { location: location.clone(), action: action.to_owned(), message }
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(StoreError::Backend {
                location: location.clone(),
                action: "creating the store".to_owned(),
                message: format!("directory {} does not exist; create it first", dir.display()),
            });
        }
        let name = path.file_name().map_or_else(|| "ativo.db".into(), |n| n.to_string_lossy().into_owned());
        // The temporary file is created with mode 0600 on Unix and keeps it: the store names
        // Jira admins, so only its owner reads it unless an admin decides otherwise.
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| io_err("creating a temporary file for the store", e))?
            .into_temp_path();

        {
            let mut conn =
                Connection::open_with_flags(&tmp, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                    .map_err(on(&location, "creating the store"))?;
            configure(&conn, &location, options.lock_timeout)?;
            conn.pragma_update(None, "application_id", APPLICATION_ID).map_err(on(&location, "creating the store"))?;
            let tx = conn.transaction().map_err(on(&location, "creating the store"))?;
            tx.execute_batch(SCHEMA_MIGRATIONS_DDL).map_err(on(&location, "creating the store"))?;
            apply_migrations(&tx, &location, 0)?;
            let mut sink = Sink::new(&tx, &location);
            sink.insert(&relational::HOST_IDENTITY, &relational::host_row(1, host))?;
            relational::write_configuration(&Configuration::empty(), &mut sink)?;
            drop(sink);
            insert_operation(&tx, &location, &super::init_operation(host))?;
            tx.commit().map_err(on(&location, "creating the store"))?;
            // Closing here (rollback journal mode, fsynced commit) leaves a complete file.
            conn.close().map_err(|(_, e)| sqlite_error(&location, "creating the store", e, Duration::ZERO))?;
        }
        // Never replaces a file that appeared meanwhile (link + unlink / renameat2 NOREPLACE).
        tmp.persist_noclobber(path).map_err(|e| match e.error.kind() {
            std::io::ErrorKind::AlreadyExists => StoreError::AlreadyExists(location.clone()),
            _ => io_err("moving the new store into place", e.error),
        })?;
        #[cfg(unix)]
        if let Ok(d) = std::fs::File::open(dir) {
            // Makes the new directory entry durable; failure here loses nothing already promised.
            let _ = d.sync_all();
        }
        Self::open(path, options)
    }

    fn location_str(&self) -> String {
        location_of(&self.path)
    }

    /// Begins a write transaction, waiting for the write lock up to the lock timeout.
    fn begin_write(&mut self, action: &str) -> Result<(Transaction<'_>, String), StoreError> {
        let location = location_of(&self.path);
        mark_start();
        let started = Instant::now();
        match self.conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => Ok((tx, location)),
            Err(e) => Err(sqlite_error(&location, action, e, started.elapsed())),
        }
    }

    fn begin_read(&mut self) -> Result<(Transaction<'_>, String), StoreError> {
        let location = location_of(&self.path);
        // DEFERRED: the read snapshot starts at the first SELECT and holds until the end; in
        // WAL mode it never waits for a writer (but waits, up to the lock timeout, for another
        // program holding the database exclusively).
        mark_start();
        match self.conn.transaction_with_behavior(TransactionBehavior::Deferred) {
            Ok(tx) => Ok((tx, location)),
            Err(e) => Err(sqlite_error(&location, "reading the store", e, Duration::ZERO)),
        }
    }
}

fn read_snapshot(conn: &Connection, location: &str) -> Result<Snapshot> {
    let mut src = Source { conn, location };
    let config = relational::read_configuration(&mut src)?;
    let api_tokens = relational::read_api_tokens(&mut src)?;
    Ok(Snapshot { config, api_tokens })
}

fn read_host(conn: &Connection, location: &str) -> Result<HostRecord, StoreError> {
    relational::read_host_record(&mut Source { conn, location }, location)
}

fn insert_operation(conn: &Connection, location: &str, op: &Operation) -> Result<(), StoreError> {
    let err = on(location, "recording the operation");
    let detail = serde_json::to_string(&op.detail).map_err(|e| StoreError::Backend {
        location: location.to_owned(),
        action: "recording the operation".to_owned(),
        message: e.to_string(),
    })?;
    let at = relational::timestamp(&op.at);
    let table = &relational::OPERATION_LOG;
    // `id` is left out: SQLite assigns the next one.
    let sql =
        format!("INSERT INTO {} ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", table.name, table.columns[1..].join(", "));
    let mut stmt = conn.prepare_cached(&sql).map_err(&err)?;
    stmt.execute(rusqlite::params_from_iter(relational::operation_values(op, &at, &detail).iter())).map_err(&err)?;
    Ok(())
}

impl Store for SqliteStore {
    fn location(&self) -> String {
        self.location_str()
    }

    fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.path.clone()];
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut name = self.path.clone().into_os_string();
            name.push(suffix);
            files.push(PathBuf::from(name));
        }
        files
    }

    fn host(&mut self) -> Result<HostRecord> {
        let (tx, location) = self.begin_read()?;
        let host = read_host(&tx, &location)?;
        tx.finish().map_err(on(&location, "reading the host identity"))?;
        Ok(host)
    }

    fn set_identity(&mut self, identity: &HostIdentity, keep_previous_as_alias: bool) -> Result<()> {
        let action = "changing the host identity";
        let (tx, location) = self.begin_write(action)?;
        let before = read_host(&tx, &location)?;
        let mut aliases = before.aliases.clone();
        if keep_previous_as_alias && !aliases.contains(&before.identity) {
            aliases.push(before.identity.clone());
        }
        // The store's own identity is never also one of its aliases.
        aliases.retain(|a| a != identity);
        let err = on(&location, action);
        tx.execute(&relational::HOST_ALIAS.delete_sql(), []).map_err(&err)?;
        tx.execute(&relational::HOST_IDENTITY.delete_sql(), []).map_err(&err)?;
        let mut sink = Sink::new(&tx, &location);
        sink.insert(&relational::HOST_IDENTITY, &relational::host_row(1, identity))?;
        for (i, a) in aliases.iter().enumerate() {
            sink.insert(&relational::HOST_ALIAS, &relational::host_row(i as i64, a))?;
        }
        drop(sink);
        let op = super::host_change_operation(&before.identity, identity, keep_previous_as_alias);
        insert_operation(&tx, &location, &op)?;
        tx.commit().map_err(&err)?;
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        let (tx, location) = self.begin_read()?;
        let snapshot = read_snapshot(&tx, &location)?;
        tx.finish().map_err(on(&location, "reading the store"))?;
        Ok(snapshot)
    }

    fn stream_snapshot(&mut self, sink: &mut dyn ConfigSink) -> Result<()> {
        let (tx, location) = self.begin_read()?;
        let mut src = Source { conn: &tx, location: &location };
        let api_tokens = relational::read_api_tokens(&mut src)?;
        relational::stream_configuration(&mut src, &api_tokens, sink)?;
        tx.finish().map_err(on(&location, "reading the store"))?;
        Ok(())
    }

    fn replace_streamed(&mut self, replacement: &mut dyn Replacement) -> Result<()> {
        let action = "replacing the configuration";
        let (tx, location) = self.begin_write(action)?;
        // Read under the write lock: what the replacement sees is what gets replaced. On any
        // error below, dropping `tx` rolls everything back.
        let (op, _rows) = replacement.prepare(&mut |sink| {
            let mut src = Source { conn: &tx, location: &location };
            let api_tokens = relational::read_api_tokens(&mut src)?;
            relational::stream_configuration(&mut src, &api_tokens, sink)?;
            Ok(())
        })?;
        let err = on(&location, action);
        for table in relational::CONFIG_TABLES.iter().rev() {
            tx.execute(&table.delete_sql(), []).map_err(on(&location, &format!("emptying table {}", table.name)))?;
        }
        let mut sink = Sink::new(&tx, &location);
        let mut out = relational::RowsOut::new(&mut sink);
        replacement.write(&mut out)?;
        out.finish()?;
        drop(sink);
        insert_operation(&tx, &location, &op)?;
        tx.commit().map_err(&err)?;
        Ok(())
    }

    fn set_api_tokens(&mut self, tokens: &[ApiToken]) -> Result<()> {
        let action = "replacing the api token list";
        let (tx, location) = self.begin_write(action)?;
        tx.execute(&relational::API_TOKEN.delete_sql(), []).map_err(on(&location, action))?;
        let mut sink = Sink::new(&tx, &location);
        relational::write_api_tokens(tokens, &mut sink)?;
        drop(sink);
        tx.commit().map_err(on(&location, action))?;
        Ok(())
    }

    fn record(&mut self, op: &Operation) -> Result<()> {
        let (tx, location) = self.begin_write("recording the operation")?;
        insert_operation(&tx, &location, op)?;
        tx.commit().map_err(on(&location, "recording the operation"))?;
        Ok(())
    }

    fn operations(&mut self) -> Result<Vec<Operation>> {
        let (tx, location) = self.begin_read()?;
        let mut ops = Vec::new();
        Source { conn: &tx, location: &location }.rows(&relational::OPERATION_LOG, &mut |r| {
            ops.push(relational::read_operation(r)?);
            Ok(())
        })?;
        tx.finish().map_err(on(&location, "reading the operations log"))?;
        Ok(ops)
    }
}
