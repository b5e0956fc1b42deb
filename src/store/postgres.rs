//! The PostgreSQL backend, for Data Center clusters whose nodes share one database. This file
//! owns connecting (timeouts, lock waits, what a password may never reach; the connection
//! string itself is `conninfo.rs`'s), schema migrations, transactions and the cluster-wide
//! write lock, the bulk-insert mechanics (`COPY`), and the mapping of PostgreSQL errors to
//! [`StoreError`]. What the tables hold and how a
//! configuration maps to rows is `relational.rs`'s business; the DDL lives in
//! `sql/postgres/*.sql`. Creating the database itself is the database admin's job, not ours.
//!
//! # Concurrency
//!
//! * Every write transaction (import, host change, token list, log entry) first takes the
//!   transaction-level advisory lock [`LOCK_CLASS`]`/`[`LOCK_OBJECT`] with
//!   `pg_advisory_xact_lock`, waiting at most the lock timeout. A writer that does not get it in
//!   time gets [`StoreError::Locked`]. The lock
//!   belongs to the transaction: COMMIT, ROLLBACK, a dropped connection or a killed client
//!   (the server aborts the transaction when the socket closes) all release it, so it can never
//!   go stale.
//! * A replace runs in READ COMMITTED under that lock: every statement after the lock sees what
//!   the previous writer committed (a REPEATABLE READ snapshot would be taken by the lock's
//!   own SELECT, before the wait, and be stale).
//! * Every statement of a session, readers' too, waits at most the lock timeout for any lock
//!   (`SET lock_timeout` when connecting, which PostgreSQL applies to advisory locks, table
//!   locks and the row locks a DELETE may wait for): an `ALTER TABLE` during a Jira upgrade, a
//!   `VACUUM FULL` or a stuck session holding a table makes a command fail with
//!   [`StoreError::LockTimeout`] naming the table and the holder's pid and application name,
//!   never wait without end.
//! * Reads (`snapshot`, `host`, `operations`) run in one REPEATABLE READ READ ONLY transaction:
//!   one MVCC snapshot for every table, so a reader sees the configuration before an import or
//!   after it, never a mix, and never waits for a writer of rows (only for a table lock, as
//!   above).
//! * The replace deletes with `DELETE`, not `TRUNCATE`: TRUNCATE is not MVCC-safe (a snapshot
//!   taken before it would see empty tables afterwards).
//!
//! # Bulk writes
//!
//! Rows go in with `COPY ... FROM STDIN`. PostgreSQL checks a foreign key once per inserted row
//! (a trigger and a query each), which costs several times the insert itself, and inserts
//! every row into every index of its table one by one, several times slower than building the
//! indexes afterwards (BENCHMARKS.md, "PostgreSQL"). For a large configuration ([`BULK_ROWS`] rows or
//! more) written by the owner of the tables, the replace therefore locks the configuration
//! tables (ACCESS EXCLUSIVE, in the order readers read them, so a reader and the writer cannot
//! deadlock), drops their foreign keys, deletes the old rows, drops their primary keys, unique
//! constraints and indexes, copies, and makes the same objects again from their definitions:
//! each index is built from all rows at once (a primary or unique key checking every row), and
//! each foreign key checks every row in one set-based query, as `pg_restore` does. Only what
//! comes back exactly as it was is dropped (see `suspend_foreign_keys` and `suspend_indexes`);
//! the rest stays and checks rows one by one. All of it is one transaction: nobody else ever sees
//! the tables without their keys, a failed check rolls everything back, and a reader that
//! started earlier still sees the old rows (DELETE is MVCC-safe, and an index built in the
//! transaction holds the rows it deleted, unchecked, for such readers). The price: readers wait
//! while such an import writes (about a second for the large sample). Smaller configurations,
//! and users that may only read and write rows, take the row-checked path, which never blocks
//! readers.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::Duration;

use tokio_postgres::error::{DbError, SqlState};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::pg_client::{Client, ConnectError, Transaction};

use super::conninfo::{PasswordFrom, PgConnection};
use super::relational::{self, KeyRange, Migration, RowRef, RowSink, RowSource, Table, Value};
use super::{HostRecord, OpenOptions, Operation, Replacement, Snapshot, Store};
use crate::error::{Error, Result, StoreError};
use crate::host::HostIdentity;
use crate::model::{ApiToken, Configuration, Pi};
use crate::sink::ConfigSink;

/// This build's schema migrations, oldest first. Versions are shared with every backend.
const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "init", sql: include_str!("sql/postgres/0001_init.sql") },
    Migration {
        version: 2,
        name: "dates and finite capacity",
        sql: include_str!("sql/postgres/0002_dates_and_finite_capacity.sql"),
    },
];

/// Records which migrations ran; created with the store, before the first migration.
const SCHEMA_MIGRATIONS_DDL: &str = "CREATE TABLE schema_migrations (
    version     BIGINT PRIMARY KEY,
    name        TEXT NOT NULL,
    applied_at  TEXT NOT NULL
)";

/// First key of the write lock, `pg_advisory_xact_lock(LOCK_CLASS, LOCK_OBJECT)`: "ATVO" in
/// ASCII, the same number as the SQLite files' `application_id`. It shows in `pg_locks` as
/// `locktype = 'advisory'`, `classid = 1096046159`, `objid = 1`. Advisory locks are per database.
pub const LOCK_CLASS: i32 = 0x4154_564f;
/// Second key of the write lock.
pub const LOCK_OBJECT: i32 = 1;

/// From this many rows on, a replace by the tables' owner checks foreign keys once per key
/// instead of once per row (see "Bulk writes" above). Below it the per-row checks cost less
/// than dropping and adding the keys, and readers are never blocked.
pub const BULK_ROWS: u64 = 20_000;

/// Rows of one table are sent in `COPY` batches of about this many bytes.
const COPY_BATCH_BYTES: usize = 1 << 20;

/// How many such batches may wait for the thread that sends them (see [`write_piped`]).
const PIPE_CHUNKS: usize = 3;

/// Every table the store creates, to tell "no store here" from "someone else's tables".
const OWN_TABLES: [&str; 5] = ["schema_migrations", "host_identity", "operation_log", "team", "capacity"];

/// The newest schema version this build knows.
fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// What every error message needs: where (password removed), how long a lock wait lasts, and
/// the password itself so that it can be scrubbed from anything a server or library says.
#[derive(Clone)]
struct Ctx {
    location: String,
    lock_timeout: Duration,
    secret: Option<String>,
}

impl Ctx {
    /// `message` with the password, if any, replaced by `***`.
    fn scrub(&self, message: String) -> String {
        match &self.secret {
            Some(p) if !p.is_empty() => message.replace(p.as_str(), "***"),
            _ => message,
        }
    }

    fn backend(&self, action: &str, message: String) -> StoreError {
        StoreError::Backend { location: self.location.clone(), action: action.to_owned(), message: self.scrub(message) }
    }

    fn waited_ms(&self) -> u64 {
        u64::try_from(self.lock_timeout.as_millis()).unwrap_or(u64::MAX)
    }

    /// A closure mapping errors of one action.
    fn on<'a>(&'a self, action: &'a str) -> impl Fn(tokio_postgres::Error) -> StoreError + 'a {
        move |e| self.error(action, &e)
    }

    /// Maps a PostgreSQL error to a [`StoreError`] that says where, what we were doing, and
    /// what to do about it.
    fn error(&self, action: &str, e: &tokio_postgres::Error) -> StoreError {
        let Some(db) = e.as_db_error() else {
            // No answer from the server: the connection broke (server stopped, network, killed
            // backend). The server rolls back a transaction whose connection is gone.
            let hint = if action.starts_with("committing") {
                "the connection was lost while committing, so the change may or may not have been applied; check with `ativo-backup diff` and the operations log"
            } else {
                "the connection to the server was lost; the server rolls back an unfinished transaction, so nothing was written; check the server and try again"
            };
            return self.backend(action, format!("{}; {hint}", with_causes(e)));
        };
        let code = db.code();
        if *code == SqlState::LOCK_NOT_AVAILABLE {
            // Who held it is looked up once the transaction is gone (`PostgresStore::explained`).
            return StoreError::LockTimeout {
                location: self.location.clone(),
                waited_for: "a table of the store".to_owned(),
                holder: "another session".to_owned(),
                waited_ms: self.waited_ms(),
            };
        }
        let text = describe_db_error(db);
        let hint = if code.code().starts_with("23") {
            "the data breaks a rule of the store's schema (a reference to a missing team, a duplicate key...), nothing was changed"
        } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            "the database user lacks a privilege: `init` needs CREATE on the schema, every other command SELECT, INSERT, UPDATE and DELETE on the store's tables (README, \"Data Center: PostgreSQL\")"
        } else if *code == SqlState::READ_ONLY_SQL_TRANSACTION {
            "the server accepts no writes (a standby?); point --store at the primary"
        } else if code.code().starts_with("57") || code.code().starts_with("08") {
            "the server ended the connection; it rolls back an unfinished transaction, so nothing was written; check the server and try again"
        } else if *code == SqlState::T_R_DEADLOCK_DETECTED {
            "another session locked the store's tables in another order and the server broke the deadlock by ending this transaction; nothing was written, try again"
        } else if *code == SqlState::UNDEFINED_TABLE {
            "a table of the store is missing; was it dropped by hand? restore the store from a backup into a fresh database"
        } else {
            "nothing was changed"
        };
        self.backend(action, format!("{text}; {hint}"))
    }
}

/// An error without a server answer, with its causes: the client library's own message ("error
/// connecting to server") says nothing of why ("connection refused") without them.
fn with_causes(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// The server's message with its detail and hint, and the constraint it names.
fn describe_db_error(db: &DbError) -> String {
    let mut text = format!("{} ({})", db.message(), db.code().code());
    if let Some(c) = db.constraint() {
        text.push_str(&format!(", constraint {c}"));
    }
    if let Some(d) = db.detail() {
        text.push_str(&format!(": {d}"));
    }
    if let Some(h) = db.hint() {
        text.push_str(&format!(" (server hint: {h})"));
    }
    text
}

/// `host:port/database as user ...` of a connection, for messages about connecting.
fn target(connection: &PgConnection) -> String {
    let hosts: Vec<String> = connection.targets().iter().map(|(h, p)| format!("{h}:{p}")).collect();
    format!("{}/{} as user {}", hosts.join(","), connection.dbname(), connection.user())
}

/// Connects. The password never reaches a message: errors name the host, port, database and
/// user only, and anything the server or library says is scrubbed of it.
fn connect(connection: &PgConnection, options: &OpenOptions) -> Result<(Client, Ctx), StoreError> {
    let ctx = Ctx {
        location: connection.describe(),
        lock_timeout: options.lock_timeout,
        secret: connection.password().map(str::to_owned),
    };
    let target = target(connection);
    let client = Client::connect(connection.config()).map_err(|e| {
        let action = format!("connecting to {target}");
        let e = match e {
            ConnectError::Postgres(e) => e,
            ConnectError::Runtime(e) => {
                return ctx.backend(&action, format!("{e}; the operating system refused an event queue for the connection"));
            }
        };
        let mut message = match e.as_db_error() {
            Some(db) if *db.code() == SqlState::INVALID_CATALOG_NAME => format!(
                "{}; the database must exist before `ativo-backup init` (a database admin creates it: CREATE DATABASE ... OWNER ...)",
                db.message()
            ),
            Some(db)
                if *db.code() == SqlState::INVALID_PASSWORD
                    || *db.code() == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
            {
                let from = match connection.password_from() {
                    None => "no password was given (connection string, PGPASSWORD or a password file)".to_owned(),
                    Some(PasswordFrom::ConnectionString) => "the password came from the connection string".to_owned(),
                    Some(PasswordFrom::Environment) => "the password came from PGPASSWORD".to_owned(),
                    Some(PasswordFrom::File(f)) => format!("the password came from {}", f.display()),
                };
                format!(
                    "authentication failed: {}; {from}; check the user and password and the server's pg_hba.conf",
                    db.message()
                )
            }
            Some(db) => format!("{}; check the server and the connection string", describe_db_error(db)),
            None => format!(
                "{}; check that the server is running and reachable at that host and port (this build connects without TLS, see the README)",
                with_causes(&e)
            ),
        };
        for note in connection.notes() {
            message.push_str("; note: ");
            message.push_str(note);
        }
        ctx.backend(&action, message)
    })?;
    let mut client = client;
    // Every statement of every command, readers included, waits at most this long for a lock
    // (as pg_dump --lock-wait-timeout does): the store's write lock, a table that an ALTER
    // TABLE, VACUUM FULL or REINDEX holds, a row another node is editing. PostgreSQL takes 0
    // for "wait forever", so the shortest wait is 1 ms.
    let ms = ctx.lock_timeout.as_millis().clamp(1, i32::MAX as u128);
    client.batch_execute(&format!("SET lock_timeout = {ms}")).map_err(ctx.on("setting the lock timeout"))?;
    Ok((client, ctx))
}

/// A store in a PostgreSQL database.
pub(crate) struct PostgresStore {
    client: Client,
    ctx: Ctx,
}

impl ToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Value::Null => Ok(IsNull::Yes),
            Value::Bool(b) => b.to_sql(ty, out),
            Value::Int(n) => n.to_sql(ty, out),
            Value::Real(x) => x.to_sql(ty, out),
            Value::Text(s) => s.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        // Every column of the store is one of these (integers are all BIGINT); a value of the
        // wrong kind for its column is refused by the inner `to_sql`.
        matches!(*ty, Type::BOOL | Type::INT8 | Type::FLOAT8 | Type::TEXT | Type::VARCHAR)
    }

    to_sql_checked!();
}

/// The error for a NUL character, which PostgreSQL's text types cannot hold.
fn nul_error(ctx: &Ctx, table: &str, column: &str) -> StoreError {
    ctx.backend(
        &format!("inserting into table {table}"),
        format!(
            "postgresql cannot store the nul character (\\u0000) in table {table}, column {column}; remove it from the archive or keep this configuration in a SQLite store; nothing was written"
        ),
    )
}

/// Appends `s` escaped for `COPY ... FROM STDIN` text format.
fn push_copy_text(buf: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            _ => buf.push(b),
        }
    }
}

/// One `COPY` of rows of one table, text format, for [`copy_chunks`].
struct Chunk {
    table: &'static Table,
    rows: Vec<u8>,
}

/// Where a [`Sink`] sends its rows: straight into the transaction, one `COPY` after the other
/// on the caller's thread, or through a bounded channel to [`copy_chunks`] on a thread of its
/// own, which sends one chunk while the caller encodes the next.
enum Target<'t, 'c> {
    Direct { tx: &'t mut Transaction<'c>, statements: CopyStatements },
    Piped { chunks: SyncSender<Chunk>, spare: Receiver<Vec<u8>> },
}

/// The prepared `COPY ... FROM STDIN` of each table: each is parsed by the server once per
/// transaction, not once per batch.
type CopyStatements = HashMap<&'static str, tokio_postgres::Statement>;

/// Inserts rows with `COPY ... FROM STDIN` (text format): rows arrive grouped by table, so each
/// table's rows are encoded into one buffer and sent in one `COPY` per table and batch (and per
/// [`COPY_BATCH_BYTES`]). Call [`Sink::finish`] after the last row: a `COPY` is sent when the
/// table changes or the buffer is full, so the last batch is still waiting.
struct Sink<'t, 'c> {
    target: Target<'t, 'c>,
    ctx: &'t Ctx,
    table: Option<&'static Table>,
    buf: Vec<u8>,
}

impl<'t, 'c> Sink<'t, 'c> {
    fn new(tx: &'t mut Transaction<'c>, ctx: &'t Ctx) -> Self {
        Sink { target: Target::Direct { tx, statements: HashMap::new() }, ctx, table: None, buf: Vec::new() }
    }

    /// A sink whose `COPY`s [`copy_chunks`] runs on another thread; `spare` gives back the
    /// buffers it has sent.
    fn piped(chunks: SyncSender<Chunk>, spare: Receiver<Vec<u8>>, ctx: &'t Ctx) -> Self {
        Sink { target: Target::Piped { chunks, spare }, ctx, table: None, buf: Vec::new() }
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        let Some(table) = self.table else { return Ok(()) };
        if self.buf.is_empty() {
            return Ok(());
        }
        match &mut self.target {
            Target::Direct { tx, statements } => {
                copy_rows(tx, self.ctx, statements, table, &self.buf)?;
                self.buf.clear();
            }
            Target::Piped { chunks, spare } => {
                let next = spare.try_recv().unwrap_or_default();
                let rows = std::mem::replace(&mut self.buf, next);
                // The other side stops at its first error, which the caller reports instead.
                chunks.send(Chunk { table, rows }).map_err(|_| {
                    self.ctx.backend(
                        &format!("inserting into table {}", table.name),
                        "the thread writing to the server stopped".to_owned(),
                    )
                })?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(), StoreError> {
        self.flush()
    }
}

/// Runs one `COPY ... FROM STDIN` of `rows` (text format) into `table`.
fn copy_rows(
    tx: &mut Transaction<'_>,
    ctx: &Ctx,
    statements: &mut CopyStatements,
    table: &'static Table,
    rows: &[u8],
) -> Result<(), StoreError> {
    let action = format!("inserting into table {}", table.name);
    let statement = match statements.entry(table.name) {
        Entry::Occupied(e) => e.into_mut(),
        Entry::Vacant(e) => {
            let sql = format!("COPY {} ({}) FROM STDIN", table.name, table.columns.join(", "));
            e.insert(tx.prepare(&sql).map_err(ctx.on(&action))?)
        }
    };
    // A broken connection fails here too, with the library's word for it; the server's own
    // error, if any, comes with the end of the COPY.
    tx.copy_in(statement, rows).map_err(ctx.on(&action))?;
    Ok(())
}

/// The other end of [`Sink::piped`]: runs a `COPY` for each chunk until the channel closes or
/// one fails, and hands the emptied buffers back. Returns the first error.
fn copy_chunks(
    tx: &mut Transaction<'_>,
    ctx: &Ctx,
    chunks: Receiver<Chunk>,
    spare: SyncSender<Vec<u8>>,
) -> Result<(), StoreError> {
    let mut statements = HashMap::new();
    for Chunk { table, mut rows } in chunks {
        copy_rows(tx, ctx, &mut statements, table, &rows)?;
        rows.clear();
        // A full return channel only means the sink has spares enough.
        let _ = spare.try_send(rows);
    }
    Ok(())
}

/// Writes what `write` puts into its sink through a [`Sink::piped`], the `COPY`s running on a
/// second thread: the server inserts one chunk while this thread reads and encodes the next,
/// instead of the two taking turns. At most [`PIPE_CHUNKS`] chunks wait between them, so
/// memory stays bounded. The first error wins: one of the `COPY`s (the writing side then stops
/// at its next chunk), or one of `write` (the chunks sent before it are still copied, and the
/// caller rolls the transaction back).
fn write_piped(
    tx: &mut Transaction<'_>,
    ctx: &Ctx,
    write: &mut dyn FnMut(&mut Sink<'_, '_>) -> Result<()>,
) -> Result<()> {
    std::thread::scope(|scope| {
        let (chunks, received) = std::sync::mpsc::sync_channel(PIPE_CHUNKS);
        let (spare_back, spare) = std::sync::mpsc::sync_channel(PIPE_CHUNKS + 1);
        let copier = scope.spawn(move || copy_chunks(tx, ctx, received, spare_back));
        let mut sink = Sink::piped(chunks, spare, ctx);
        // Either way `sink` is gone afterwards, which closes the channel and ends the copier.
        let written = match write(&mut sink) {
            Ok(()) => sink.finish().map_err(Error::from),
            Err(e) => {
                drop(sink);
                Err(e)
            }
        };
        let copied = copier.join().unwrap_or_else(|_| {
            Err(ctx.backend("inserting rows", "the thread writing to the server panicked".to_owned()))
        });
        copied?;
        written
    })
}

impl RowSink for Sink<'_, '_> {
    fn insert(&mut self, table: &'static Table, row: &[Value<'_>]) -> Result<(), StoreError> {
        if self.table.is_none_or(|t| t.name != table.name) {
            self.flush()?;
            self.table = Some(table);
        }
        let start = self.buf.len();
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                self.buf.push(b'\t');
            }
            match *v {
                Value::Null => self.buf.extend_from_slice(b"\\N"),
                Value::Bool(b) => self.buf.push(if b { b't' } else { b'f' }),
                // Formatted straight into the buffer (writing to a Vec cannot fail).
                Value::Int(n) => {
                    let _ = write!(self.buf, "{n}");
                }
                // `{:?}` is Rust's shortest representation that parses back to the same double
                // (`-0.0`, `1e300`, `5e-324`); PostgreSQL parses it correctly rounded, so the
                // bits survive. NaN and infinities are spelled so that PostgreSQL reads them
                // (and the capacity CHECK refuses NaN).
                Value::Real(x) => {
                    if x.is_nan() {
                        self.buf.extend_from_slice(b"NaN");
                    } else if x.is_infinite() {
                        self.buf.extend_from_slice(if x > 0.0 { b"Infinity" } else { b"-Infinity" });
                    } else {
                        let _ = write!(self.buf, "{x:?}");
                    }
                }
                Value::Text(s) => {
                    if s.contains('\0') {
                        self.buf.truncate(start);
                        let column = table.columns.get(i).copied().unwrap_or("?");
                        return Err(nul_error(self.ctx, table.name, column));
                    }
                    push_copy_text(&mut self.buf, s);
                }
            }
        }
        self.buf.push(b'\n');
        if self.buf.len() >= COPY_BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }
}

/// Reads rows with the shared `SELECT`s, each run as `COPY (SELECT ...) TO STDOUT` in binary
/// format and decoded here: the server sends the same values as for a query, and the client
/// reads each row in place from one buffer instead of making a row object per row (the profile
/// of an export showed the reading thread's time in the client library's row handling).
struct Source<'t, 'c> {
    tx: &'t mut Transaction<'c>,
    ctx: &'t Ctx,
    /// The column types of each `SELECT` (by its text: two `Table`s may read one table), from
    /// the statement prepared once per transaction: binary `COPY` output does not name them,
    /// and the getters check them.
    types: HashMap<String, Vec<Type>>,
}

impl<'t, 'c> Source<'t, 'c> {
    fn new(tx: &'t mut Transaction<'c>, ctx: &'t Ctx) -> Self {
        Source { tx, ctx, types: HashMap::new() }
    }
}

/// A string literal for `s` that reads the same whatever `standard_conforming_strings` says
/// (`COPY` takes no parameters, so key bounds go into its query as literals).
fn quote_literal(s: &str) -> String {
    format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// The start of a binary `COPY` stream: signature, flags, header extension length.
const COPY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
const COPY_HEADER_LEN: usize = COPY_SIGNATURE.len() + 8;

/// What [`parse_tuple`] found at the start of its input.
enum Tuple {
    /// A row of this many bytes; its fields are in the `fields` argument.
    Row(usize),
    /// The trailer: no rows follow.
    End,
    /// More bytes are needed.
    Incomplete,
    Bad(&'static str),
}

/// Parses one tuple of a binary `COPY` stream: a 16-bit field count, then per field a 32-bit
/// length (-1 for NULL) and the bytes. Fills `fields` with (offset, length) pairs.
fn parse_tuple(data: &[u8], fields: &mut Vec<(usize, i32)>) -> Tuple {
    let Some(count) = data.get(..2) else { return Tuple::Incomplete };
    let count = i16::from_be_bytes([count[0], count[1]]);
    if count == -1 {
        return Tuple::End;
    }
    if count < 0 {
        return Tuple::Bad("a negative field count");
    }
    fields.clear();
    let mut at = 2;
    for _ in 0..count {
        let Some(len) = data.get(at..at + 4) else { return Tuple::Incomplete };
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        at += 4;
        if len == -1 {
            fields.push((at, -1));
            continue;
        }
        let Ok(n) = usize::try_from(len) else { return Tuple::Bad("a negative field length") };
        if data.len() < at + n {
            return Tuple::Incomplete;
        }
        fields.push((at, len));
        at += n;
    }
    Tuple::Row(at)
}

/// What [`CopyDecoder`] hands each row to: its bytes, and each field's offset in them and
/// length (-1 for NULL).
type OnRow<'a, E> = dyn FnMut(&[u8], &[(usize, i32)]) -> Result<(), E> + 'a;

/// Decodes a binary `COPY` stream as it arrives, message by message: the header, then each
/// row straight from its message, until the trailer. A row (or the header) that a message
/// leaves unfinished is kept and continued with the next; PostgreSQL sends one row per message,
/// but nothing in the protocol promises it.
#[derive(Default)]
struct CopyDecoder {
    /// What the last message left unfinished.
    partial: Vec<u8>,
    header: bool,
    /// The trailer came; anything after it is not read.
    ended: bool,
    fields: Vec<(usize, i32)>,
}

impl CopyDecoder {
    /// Decodes what `message` completes, handing each row (its bytes and its fields' offsets
    /// and lengths) to `row`; `cut` makes the error for a malformed stream.
    fn feed<E>(&mut self, message: &[u8], cut: &impl Fn(&str) -> E, row: &mut OnRow<'_, E>) -> Result<(), E> {
        if self.ended {
            return Ok(());
        }
        if self.partial.is_empty() {
            let used = self.decode(message, cut, row)?;
            self.partial.extend_from_slice(&message[used..]);
        } else {
            let mut partial = std::mem::take(&mut self.partial);
            partial.extend_from_slice(message);
            let used = self.decode(&partial, cut, row)?;
            partial.drain(..used);
            self.partial = partial;
        }
        Ok(())
    }

    /// Decodes the complete parts of `data`; how many bytes they were.
    fn decode<E>(&mut self, data: &[u8], cut: &impl Fn(&str) -> E, row: &mut OnRow<'_, E>) -> Result<usize, E> {
        let mut at = 0;
        while !self.ended {
            let rest = &data[at..];
            if !self.header {
                if rest.len() < COPY_HEADER_LEN {
                    break;
                }
                if !rest.starts_with(COPY_SIGNATURE) {
                    return Err(cut("has no signature"));
                }
                let n = &rest[COPY_SIGNATURE.len() + 4..COPY_HEADER_LEN];
                let extension = u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize;
                if rest.len() < COPY_HEADER_LEN.saturating_add(extension) {
                    break;
                }
                at += COPY_HEADER_LEN + extension;
                self.header = true;
                continue;
            }
            match parse_tuple(rest, &mut self.fields) {
                Tuple::Row(n) => {
                    row(&rest[..n], &self.fields)?;
                    at += n;
                }
                Tuple::End => self.ended = true,
                Tuple::Bad(what) => return Err(cut(&format!("has {what}"))),
                Tuple::Incomplete => break,
            }
        }
        Ok(at)
    }
}

/// One row of a binary `COPY`, in place in the buffer it arrived in.
struct CopyRow<'r> {
    data: &'r [u8],
    fields: &'r [(usize, i32)],
    types: &'r [Type],
    table: &'static Table,
    ctx: &'r Ctx,
}

impl<'r> CopyRow<'r> {
    fn type_of(&self, i: usize) -> Result<&Type, StoreError> {
        self.types.get(i).ok_or_else(|| self.bad(i, "is missing from the result"))
    }

    /// The field's bytes, `None` for NULL.
    fn field(&self, i: usize) -> Result<Option<&'r [u8]>, StoreError> {
        let &(at, len) = self.fields.get(i).ok_or_else(|| self.bad(i, "is missing from the result"))?;
        let Ok(len) = usize::try_from(len) else { return Ok(None) };
        self.data.get(at..at + len).map(Some).ok_or_else(|| self.bad(i, "is cut short"))
    }

    /// The field as `N` big-endian bytes, `None` for NULL.
    fn fixed<const N: usize>(&self, i: usize) -> Result<Option<[u8; N]>, StoreError> {
        match self.field(i)? {
            None => Ok(None),
            Some(bytes) => {
                bytes.try_into().map(Some).map_err(|_| self.bad(i, &format!("has {} bytes, not {N}", bytes.len())))
            }
        }
    }
}

impl RowRef for CopyRow<'_> {
    fn str(&self, i: usize) -> Result<&str, StoreError> {
        self.opt_str(i)?.ok_or_else(|| self.bad(i, "is NULL"))
    }

    fn opt_str(&self, i: usize) -> Result<Option<&str>, StoreError> {
        match *self.type_of(i)? {
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => match self.field(i)? {
                None => Ok(None),
                Some(bytes) => std::str::from_utf8(bytes).map(Some).map_err(|e| self.bad(i, &e.to_string())),
            },
            ref other => Err(self.bad(i, &format!("holds type {other}, not text"))),
        }
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        // The store's columns are BIGINT; smaller integer types are read too, in case an admin
        // recreated a table by hand with them.
        match *self.type_of(i)? {
            Type::INT8 => Ok(self.fixed(i)?.map(i64::from_be_bytes)),
            Type::INT4 => Ok(self.fixed(i)?.map(|b| i64::from(i32::from_be_bytes(b)))),
            Type::INT2 => Ok(self.fixed(i)?.map(|b| i64::from(i16::from_be_bytes(b)))),
            ref other => Err(self.bad(i, &format!("holds type {other}, not an integer"))),
        }
    }

    fn real(&self, i: usize) -> Result<f64, StoreError> {
        let value = match *self.type_of(i)? {
            Type::FLOAT8 => self.fixed(i)?.map(f64::from_be_bytes),
            ref other => return Err(self.bad(i, &format!("holds type {other}, not double precision"))),
        };
        value.ok_or_else(|| self.bad(i, "is NULL"))
    }

    fn bool(&self, i: usize) -> Result<bool, StoreError> {
        let value = match *self.type_of(i)? {
            Type::BOOL => self.fixed::<1>(i)?.map(|[b]| b != 0),
            ref other => return Err(self.bad(i, &format!("holds type {other}, not boolean"))),
        };
        value.ok_or_else(|| self.bad(i, "is NULL"))
    }

    fn bad(&self, i: usize, problem: &str) -> StoreError {
        bad_column(self.ctx, self.table, i, problem)
    }
}

/// An error about column `i` of a row of `table`: the store holds something ativo-backup never
/// writes.
fn bad_column(ctx: &Ctx, table: &Table, i: usize, problem: &str) -> StoreError {
    let column = table.columns.get(i).copied().unwrap_or("?");
    ctx.backend(
        "reading the store",
        format!(
            "table {}, column {column}: {problem}; the store was changed outside ativo-backup, restore it from a backup",
            table.name
        ),
    )
}

impl RowSource for Source<'_, '_> {
    fn rows_in(
        &mut self,
        table: &'static Table,
        range: KeyRange<'_>,
        each: &mut dyn FnMut(&dyn RowRef) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let Source { tx, ctx, types } = self;
        let ctx: &Ctx = ctx;
        let action = format!("reading table {}", table.name);
        let types = match types.entry(table.select_sql()) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let statement = tx.prepare(e.key()).map_err(ctx.on(&action))?;
                e.insert(statement.columns().iter().map(|c| c.type_().clone()).collect())
            }
        };
        let bounds: Vec<&str> = range.after.iter().chain(range.upto.iter()).copied().collect();
        let select = table.select_range_sql(
            |i| bounds.get(i - 1).map_or_else(String::new, |b| quote_literal(b)),
            range.after.is_some(),
            range.upto.is_some(),
        );
        let cut = |what: &str| ctx.backend(&action, format!("the server's binary COPY output {what}"));
        // Rows are decoded as the messages arrive (the server sends on meanwhile).
        let mut decoder = CopyDecoder::default();
        let sql = format!("COPY ({select}) TO STDOUT (FORMAT binary)");
        tx.copy_out_each(&sql, |message| {
            decoder.feed(message, &cut, &mut |data, fields| {
                if fields.len() != table.columns.len() {
                    return Err(cut("has rows with another number of columns"));
                }
                each(&CopyRow { data, fields, types, table, ctx })
            })
        })
        .map_err(ctx.on(&action))??;
        // The COPY has ended, and with it came the server's word that it succeeded.
        if !decoder.ended {
            return Err(cut("ends before its trailer"));
        }
        Ok(())
    }
}

/// Which of the store's tables exist in the connection's search path.
fn existing_tables(tx: &mut Transaction<'_>, ctx: &Ctx) -> Result<Vec<String>, StoreError> {
    let names: Vec<&str> = OWN_TABLES.to_vec();
    let rows = tx
        .query(
            "SELECT name FROM unnest($1::text[]) AS name WHERE to_regclass(quote_ident(name)) IS NOT NULL",
            &[&names],
        )
        .map_err(ctx.on("looking for the store's tables"))?;
    rows.iter()
        .map(|r| r.try_get::<_, String>(0).map_err(|e| ctx.error("looking for the store's tables", &e)))
        .collect()
}

/// The schema version of the store in this database, or why there is none.
fn schema_version(tx: &mut Transaction<'_>, ctx: &Ctx) -> Result<i64, StoreError> {
    let tables = existing_tables(tx, ctx)?;
    if tables.is_empty() {
        // The database exists but holds no store: what `init` is for.
        return Err(StoreError::Missing(ctx.location.clone()));
    }
    if !tables.iter().any(|t| t == "schema_migrations") {
        return Err(StoreError::NotInitialised {
            location: ctx.location.clone(),
            why: format!(
                "it has tables named like ativo-backup's ({}) but no schema_migrations table; they belong to something else: give ativo-backup a database or schema of its own",
                tables.join(", ")
            ),
        });
    }
    let version: Option<i64> = tx
        .query_one("SELECT MAX(version) FROM schema_migrations", &[])
        .and_then(|r| r.try_get(0))
        .map_err(ctx.on("reading the schema version"))?;
    version.ok_or_else(|| StoreError::NotInitialised {
        location: ctx.location.clone(),
        why: "its schema_migrations table is empty; create the store again in an empty database".to_owned(),
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

/// Applies `MIGRATIONS` newer than `from` in the transaction, recording each.
fn apply_migrations(tx: &mut Transaction<'_>, ctx: &Ctx, from: i64) -> Result<(), StoreError> {
    for m in MIGRATIONS.iter().filter(|m| m.version > from) {
        let action = format!("applying schema migration {} ({})", m.version, m.name);
        tx.batch_execute(m.sql).map_err(ctx.on(&action))?;
        let at = relational::timestamp(&chrono::Utc::now());
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &at],
        )
        .map_err(ctx.on(&action))?;
    }
    Ok(())
}

/// Passes a stream on, counting the rows of its PIs (the choice of the bulk path needs them).
struct CountRows<'s> {
    sink: &'s mut dyn ConfigSink,
    pi_rows: u64,
}

impl ConfigSink for CountRows<'_> {
    fn start(&mut self, config: &Configuration, api_tokens: &[ApiToken]) -> Result<()> {
        self.sink.start(config, api_tokens)
    }

    fn pi(&mut self, pi: Pi) -> Result<()> {
        self.pi_rows += pi.row_count();
        self.sink.pi(pi)
    }

    fn finish(&mut self) -> Result<()> {
        self.sink.finish()
    }
}

/// Begins a write transaction and takes the write lock, waiting at most the lock timeout.
fn begin_write<'c>(client: &'c mut Client, ctx: &Ctx, action: &str) -> Result<Transaction<'c>, StoreError> {
    let mut tx = client.transaction().map_err(ctx.on(action))?;
    // The session's lock_timeout (set when connecting) bounds the wait.
    tx.execute("SELECT pg_advisory_xact_lock($1, $2)", &[&LOCK_CLASS, &LOCK_OBJECT]).map_err(|e| {
        if e.as_db_error().is_some_and(|db| *db.code() == SqlState::LOCK_NOT_AVAILABLE) {
            StoreError::Locked { location: ctx.location.clone(), waited_ms: ctx.waited_ms() }
        } else {
            ctx.error(action, &e)
        }
    })?;
    Ok(tx)
}

/// Every query of this store reads a table in its primary key's order, whole or in ranges of PI
/// keys (`relational::Table::select_range_sql`). PostgreSQL's default costs (a random page read
/// priced at four sequential ones) make the planner answer a range with a bitmap scan and a
/// sort, which takes several times the server time of walking the primary key (BENCHMARKS.md,
/// "PostgreSQL"). Without sorts the planner walks the index, which hands the rows over in order.
/// `SET LOCAL` ends with the transaction: other sessions, and the server's settings, are never
/// touched. A replace reads the store with it and sets it back before it writes: the rest of a
/// replace was slower with it (measured in BENCHMARKS.md); the checks of the foreign keys that a
/// bulk write adds back are queries, planned with the transaction's settings.
const INDEX_ORDER: &str = "SET LOCAL enable_sort = off";
/// Undoes [`INDEX_ORDER`] for the rest of a transaction.
const ANY_ORDER: &str = "SET LOCAL enable_sort TO DEFAULT";

/// Before a bulk write makes its keys and indexes again: at least 64 MB for each sort or hash
/// of the foreign-key checks (`work_mem`, 4 MB by default) and 256 MB for each index build
/// (`maintenance_work_mem`, 64 MB by default), for this transaction only; a server set higher
/// keeps its own. With the defaults the checks' hash joins spill to disk in batches
/// (BENCHMARKS.md, "PostgreSQL").
const BULK_MEMORY: &str = "SELECT set_config(name, setting, true)
    FROM (VALUES ('work_mem', '64MB'), ('maintenance_work_mem', '256MB')) AS v (name, setting)
    WHERE pg_size_bytes(current_setting(name)) < pg_size_bytes(setting)";

/// Begins a read transaction: one snapshot for every table, never waiting for a writer.
fn begin_read<'c>(client: &'c mut Client, ctx: &Ctx) -> Result<Transaction<'c>, StoreError> {
    let mut tx = client.read_transaction().map_err(ctx.on("reading the store"))?;
    tx.batch_execute(INDEX_ORDER).map_err(ctx.on("reading the store"))?;
    Ok(tx)
}

fn commit(tx: Transaction<'_>, ctx: &Ctx, action: &str) -> Result<(), StoreError> {
    tx.commit().map_err(ctx.on(&format!("committing ({action})")))
}

/// Whether the connected user owns every configuration table (ALTER TABLE needs it).
fn owns_config_tables(tx: &mut Transaction<'_>, ctx: &Ctx) -> Result<bool, StoreError> {
    let names = config_table_names();
    let owned: Option<bool> = tx
        .query_one(
            "SELECT bool_and(pg_has_role(current_user, c.relowner, 'USAGE'))
             FROM unnest($1::text[]) AS n JOIN pg_class c ON c.oid = to_regclass(quote_ident(n))",
            &[&names],
        )
        .and_then(|r| r.try_get(0))
        .map_err(ctx.on("checking who owns the store's tables"))?;
    Ok(owned.unwrap_or(false))
}

/// The configuration tables, resolved through the connection's search path, for the catalog
/// queries of a bulk write (`$1` is [`config_table_names`]).
const CONFIG_TABLE_OIDS: &str = "t AS (SELECT to_regclass(quote_ident(n)) AS oid FROM unnest($1::text[]) AS n)";

/// The names of the configuration tables, in the order readers read them.
fn config_table_names() -> Vec<&'static str> {
    relational::CONFIG_TABLES.iter().map(|t| t.name).collect()
}

/// Each of `rows` is a pair of statements (drop an object, make it again): runs the drops in
/// one batch and returns the statements that make the objects again, in `rows`' order.
fn drop_all(
    tx: &mut Transaction<'_>,
    ctx: &Ctx,
    rows: &[tokio_postgres::Row],
    what: &str,
) -> Result<Vec<String>, StoreError> {
    let reading = format!("reading the {what} of the store's tables");
    let err = ctx.on(&reading);
    let mut drop = String::new();
    let mut make = Vec::with_capacity(rows.len());
    for r in rows {
        let d: String = r.try_get(0).map_err(&err)?;
        drop.push_str(&d);
        drop.push_str(";\n");
        make.push(r.try_get(1).map_err(&err)?);
    }
    tx.batch_execute(&drop).map_err(ctx.on(&format!("dropping the {what} for a bulk write")))?;
    Ok(make)
}

/// Locks the configuration tables and drops their foreign keys; returns the statements that add
/// the same keys back. See "Bulk writes" in the module docs. A foreign key is left in place
/// (and checks rows one by one) when adding it back would not give it back as it was: it has a
/// comment, or it is `NOT VALID` (added back so, it would not check the new rows at all).
fn suspend_foreign_keys(tx: &mut Transaction<'_>, ctx: &Ctx) -> Result<Vec<String>, StoreError> {
    let action = "locking the configuration tables for a bulk write";
    let names = config_table_names();
    // One statement, tables in the order readers read them: a reader holding some of them
    // never waits for one that this writer already holds.
    tx.batch_execute(&format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", names.join(", "))).map_err(ctx.on(action))?;
    let rows = tx
        .query(
            &format!(
                "WITH {CONFIG_TABLE_OIDS}
                 SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname),
                        format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid))
                 FROM pg_constraint c
                 WHERE c.contype = 'f' AND c.conrelid IN (SELECT oid FROM t) AND c.convalidated
                   AND NOT EXISTS (SELECT 1 FROM pg_description d
                                   WHERE d.classoid = 'pg_constraint'::regclass AND d.objoid = c.oid)
                 ORDER BY c.conrelid::regclass::text, c.conname"
            ),
            &[&names],
        )
        .map_err(ctx.on("reading the foreign keys of the store's tables"))?;
    drop_all(tx, ctx, &rows, "foreign keys")
}

/// Drops the primary keys, unique constraints and other indexes of the configuration tables
/// that can be made again exactly as they are, and returns the statements that make them
/// again. Runs after [`suspend_foreign_keys`] and after the old rows were deleted: a table that
/// a publication replicates needs its replica identity (by default its primary key) for the
/// `DELETE`.
///
/// An index is dropped only if it is valid, in the database's default tablespace (made again
/// with `default_tablespace` reset, as `pg_dump` does), without storage parameters or a
/// comment, neither the table's replica identity nor its `CLUSTER` index, and if nothing but
/// the index itself depends on it or on its constraint: no foreign key left in place or of a
/// table outside the store, no view that relies on a primary key. Any other index stays and is
/// kept up to date row by row.
fn suspend_indexes(tx: &mut Transaction<'_>, ctx: &Ctx) -> Result<Vec<String>, StoreError> {
    let names = config_table_names();
    // A constraint's index goes with its constraint, any other index on its own.
    let rows = tx
        .query(
            &format!(
                "WITH {CONFIG_TABLE_OIDS},
                 droppable AS (
                     SELECT x.indexrelid, x.indrelid, k.oid AS constraint_oid, k.conname
                     FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                     LEFT JOIN pg_constraint k ON k.conindid = x.indexrelid AND k.conrelid = x.indrelid
                     WHERE x.indrelid IN (SELECT oid FROM t)
                       AND x.indisvalid AND NOT x.indisreplident AND NOT x.indisclustered
                       AND i.reltablespace = 0 AND i.reloptions IS NULL
                       AND (k.oid IS NULL OR k.contype IN ('p', 'u'))
                       AND NOT EXISTS (SELECT 1 FROM pg_description d
                                       WHERE (d.classoid = 'pg_class'::regclass AND d.objoid = x.indexrelid)
                                          OR (d.classoid = 'pg_constraint'::regclass AND d.objoid = k.oid))
                       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                       WHERE ((d.refclassid = 'pg_class'::regclass AND d.refobjid = x.indexrelid)
                                           OR (d.refclassid = 'pg_constraint'::regclass AND d.refobjid = k.oid))
                                         AND NOT (d.classid = 'pg_class'::regclass AND d.objid = x.indexrelid)))
                 SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', indrelid::regclass, conname),
                        format('ALTER TABLE %s ADD CONSTRAINT %I %s', indrelid::regclass, conname, pg_get_constraintdef(constraint_oid))
                 FROM droppable WHERE constraint_oid IS NOT NULL
                 UNION ALL
                 SELECT format('DROP INDEX %s', indexrelid::regclass), pg_get_indexdef(indexrelid)
                 FROM droppable WHERE constraint_oid IS NULL
                 ORDER BY 1"
            ),
            &[&names],
        )
        .map_err(ctx.on("reading the keys and indexes of the store's tables"))?;
    let mut make = drop_all(tx, ctx, &rows, "keys and indexes")?;
    if !make.is_empty() {
        make.insert(0, "SET LOCAL default_tablespace = ''".to_owned());
    }
    Ok(make)
}

fn read_snapshot(tx: &mut Transaction<'_>, ctx: &Ctx) -> Result<Snapshot> {
    let mut src = Source::new(tx, ctx);
    let config = relational::read_configuration(&mut src)?;
    let api_tokens = relational::read_api_tokens(&mut src)?;
    Ok(Snapshot { config, api_tokens })
}

fn read_host(tx: &mut Transaction<'_>, ctx: &Ctx) -> Result<HostRecord, StoreError> {
    relational::read_host_record(&mut Source::new(tx, ctx), &ctx.location)
}

fn insert_operation(tx: &mut Transaction<'_>, ctx: &Ctx, op: &Operation) -> Result<(), StoreError> {
    let action = "recording the operation";
    let detail = serde_json::to_string(&op.detail).map_err(|e| ctx.backend(action, e.to_string()))?;
    let at = relational::timestamp(&op.at);
    let table = &relational::OPERATION_LOG;
    let values = relational::operation_values(op, &at, &detail);
    for (v, column) in values.iter().zip(&table.columns[1..]) {
        if let Value::Text(s) = v
            && s.contains('\0')
        {
            return Err(nul_error(ctx, table.name, column));
        }
    }
    // `id` is left out: the identity column assigns the next one.
    let sql =
        format!("INSERT INTO {} ({}) VALUES ($1, $2, $3, $4, $5, $6, $7)", table.name, table.columns[1..].join(", "));
    let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
    tx.execute(&sql, &params).map_err(ctx.on(action))?;
    Ok(())
}

impl PostgresStore {
    /// Opens the store in an existing database, applying pending migrations of older schema
    /// versions; never creates tables.
    pub(crate) fn open(connection: &PgConnection, options: &OpenOptions) -> Result<Self, StoreError> {
        let (mut client, ctx) = connect(connection, options)?;
        let location = ctx.location.as_str();
        let read = |client: &mut Client| {
            let mut tx = begin_read(client, &ctx)?;
            let version = schema_version(&mut tx, &ctx)?;
            commit(tx, &ctx, "reading the schema version")?;
            Ok(version)
        };
        let version = read(&mut client).map_err(|e| with_lock_holder(&mut client, e))?;
        if version > latest_version() {
            return Err(newer_schema(location, version));
        }
        if version < latest_version() {
            let action = "upgrading the schema";
            let mut tx = begin_write(&mut client, &ctx, action)?;
            // Another node may have upgraded it while we waited for the lock.
            let version = schema_version(&mut tx, &ctx)?;
            if version > latest_version() {
                return Err(newer_schema(location, version));
            }
            apply_migrations(&mut tx, &ctx, version)?;
            commit(tx, &ctx, action)?;
        }
        Ok(PostgresStore { client, ctx })
    }

    /// Creates the store's tables in an existing database, in one transaction under the write
    /// lock: a failure leaves the database as it was, and two nodes running `init` at once get
    /// one store and one [`StoreError::AlreadyExists`].
    pub(crate) fn create(
        connection: &PgConnection,
        host: &HostIdentity,
        options: &OpenOptions,
    ) -> Result<Self, StoreError> {
        let (mut client, ctx) = connect(connection, options)?;
        let location = ctx.location.clone();
        let action = "creating the store";
        {
            let mut tx = begin_write(&mut client, &ctx, action)?;
            let tables = existing_tables(&mut tx, &ctx)?;
            if tables.iter().any(|t| t == "schema_migrations") {
                return Err(StoreError::AlreadyExists(location));
            }
            if !tables.is_empty() {
                return Err(ctx.backend(
                    action,
                    format!(
                        "the database already has tables named like ativo-backup's ({}) that are not an ativo store; give ativo-backup a database of its own, or a schema of its own with ?options=-csearch_path%3Dativo in the URL",
                        tables.join(", ")
                    ),
                ));
            }
            tx.batch_execute(SCHEMA_MIGRATIONS_DDL).map_err(ctx.on(action))?;
            apply_migrations(&mut tx, &ctx, 0)?;
            let mut sink = Sink::new(&mut tx, &ctx);
            sink.insert(&relational::HOST_IDENTITY, &relational::host_row(1, host))?;
            relational::write_configuration(&Configuration::empty(), &mut sink)?;
            sink.finish()?;
            insert_operation(&mut tx, &ctx, &super::init_operation(host))?;
            commit(tx, &ctx, action)?;
        }
        Ok(PostgresStore { client, ctx })
    }
}

impl PostgresStore {
    /// `result`, with a lock timeout told by which table and who held it: the statement that
    /// timed out is gone with its transaction by now, so the server is asked who holds locks
    /// on the store's tables.
    fn explained<T>(&mut self, result: Result<T>) -> Result<T> {
        match result {
            Err(Error::Store(timeout @ StoreError::LockTimeout { .. })) => {
                Err(Error::Store(with_lock_holder(&mut self.client, timeout)))
            }
            other => other,
        }
    }
}

/// Every table of the store, for the lock holder's query.
fn store_table_names() -> Vec<&'static str> {
    let mut names = config_table_names();
    names.extend(OWN_TABLES);
    names.extend([relational::HOST_ALIAS.name, relational::API_TOKEN.name]);
    names.sort_unstable();
    names.dedup();
    names
}

/// `timeout` naming the table and the session that holds the strongest lock another session
/// holds on a table of the store (an ACCESS EXCLUSIVE lock first: it blocks even readers; row
/// locks last), as `pg_locks` and `pg_stat_activity` tell; unchanged when the server cannot
/// tell (the holder is gone already, or this user may not see it).
fn with_lock_holder(client: &mut Client, timeout: StoreError) -> StoreError {
    let StoreError::LockTimeout { location, waited_ms, waited_for, holder } = timeout else { return timeout };
    let names = store_table_names();
    let row = client.query_opt(
        "WITH t AS (SELECT to_regclass(quote_ident(n)) AS oid FROM unnest($1::text[]) AS n)
         SELECT l.relation::regclass::text, l.mode, l.pid, coalesce(a.application_name, ''),
                coalesce(a.usename::text, ''), coalesce(to_char(a.xact_start, 'YYYY-MM-DD HH24:MI:SS TZ'), '')
         FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.granted AND l.locktype = 'relation' AND l.pid <> pg_backend_pid()
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND l.relation IN (SELECT oid FROM t)
         ORDER BY array_position(ARRAY['AccessExclusiveLock', 'ExclusiveLock', 'ShareRowExclusiveLock', 'ShareLock',
                                       'ShareUpdateExclusiveLock', 'RowExclusiveLock', 'RowShareLock', 'AccessShareLock'],
                                 l.mode::text), 1, 3
         LIMIT 1",
        &[&names],
    );
    let Ok(Some(row)) = row else { return StoreError::LockTimeout { location, waited_ms, waited_for, holder } };
    let text = |i: usize| row.try_get::<_, String>(i).unwrap_or_default();
    let pid: i32 = row.try_get(2).unwrap_or_default();
    let (table, mode, application, user, since) = (text(0), text(1), text(3), text(4), text(5));
    let mut holder = format!("the session with pid {pid}");
    // Debug quoting escapes control characters: the name is chosen by whoever connected.
    holder.push_str(&format!(" (application_name {application:?}"));
    if !user.is_empty() {
        holder.push_str(&format!(", user {user:?}"));
    }
    holder.push_str(&format!(", {mode}"));
    if !since.is_empty() {
        holder.push_str(&format!(", in a transaction since {since}"));
    }
    holder.push(')');
    StoreError::LockTimeout { location, waited_ms, waited_for: format!("table {table}"), holder }
}

/// The operations of [`Store`], before [`PostgresStore::explained`].
impl PostgresStore {
    fn host_inner(&mut self) -> Result<HostRecord> {
        let ctx = &self.ctx;
        let mut tx = begin_read(&mut self.client, ctx)?;
        let host = read_host(&mut tx, ctx)?;
        commit(tx, ctx, "reading the host identity")?;
        Ok(host)
    }

    fn set_identity_inner(&mut self, identity: &HostIdentity, keep_previous_as_alias: bool) -> Result<()> {
        let action = "changing the host identity";
        let ctx = &self.ctx;
        let mut tx = begin_write(&mut self.client, ctx, action)?;
        let before = read_host(&mut tx, ctx)?;
        let mut aliases = before.aliases.clone();
        if keep_previous_as_alias && !aliases.contains(&before.identity) {
            aliases.push(before.identity.clone());
        }
        // The store's own identity is never also one of its aliases.
        aliases.retain(|a| a != identity);
        tx.batch_execute(&relational::HOST_ALIAS.delete_sql()).map_err(ctx.on(action))?;
        tx.batch_execute(&relational::HOST_IDENTITY.delete_sql()).map_err(ctx.on(action))?;
        let mut sink = Sink::new(&mut tx, ctx);
        sink.insert(&relational::HOST_IDENTITY, &relational::host_row(1, identity))?;
        for (i, a) in aliases.iter().enumerate() {
            sink.insert(&relational::HOST_ALIAS, &relational::host_row(i as i64, a))?;
        }
        sink.finish()?;
        let op = super::host_change_operation(&before.identity, identity, keep_previous_as_alias);
        insert_operation(&mut tx, ctx, &op)?;
        commit(tx, ctx, action)?;
        Ok(())
    }

    fn snapshot_inner(&mut self) -> Result<Snapshot> {
        let ctx = &self.ctx;
        let mut tx = begin_read(&mut self.client, ctx)?;
        let snapshot = read_snapshot(&mut tx, ctx)?;
        commit(tx, ctx, "reading the store")?;
        Ok(snapshot)
    }

    fn stream_snapshot_inner(&mut self, sink: &mut dyn ConfigSink) -> Result<()> {
        let ctx = &self.ctx;
        let mut tx = begin_read(&mut self.client, ctx)?;
        let mut src = Source::new(&mut tx, ctx);
        let api_tokens = relational::read_api_tokens(&mut src)?;
        relational::stream_configuration(&mut src, &api_tokens, sink)?;
        commit(tx, ctx, "reading the store")?;
        Ok(())
    }

    fn replace_streamed_inner(&mut self, replacement: &mut dyn Replacement) -> Result<()> {
        let action = "replacing the configuration";
        let ctx = &self.ctx;
        let mut tx = begin_write(&mut self.client, ctx, action)?;
        // Read under the write lock: what the replacement sees is what gets replaced. On any
        // error below, dropping `tx` rolls everything back (and a dead client's transaction is
        // rolled back by the server). The rows read are counted for the choice of the bulk path.
        let mut current_rows = 0u64;
        tx.batch_execute(INDEX_ORDER).map_err(ctx.on(action))?;
        let (op, new_rows) = replacement.prepare(&mut |sink| {
            let mut src = Source::new(&mut tx, ctx);
            let api_tokens = relational::read_api_tokens(&mut src)?;
            let mut counted = CountRows { sink, pi_rows: 0 };
            let skeleton = relational::stream_configuration(&mut src, &api_tokens, &mut counted)?;
            current_rows = skeleton.row_count() + counted.pi_rows;
            Ok(())
        })?;
        tx.batch_execute(ANY_ORDER).map_err(ctx.on(action))?;
        let bulk = new_rows + current_rows >= BULK_ROWS && owns_config_tables(&mut tx, ctx)?;
        let foreign_keys = if bulk { suspend_foreign_keys(&mut tx, ctx)? } else { Vec::new() };
        for table in relational::CONFIG_TABLES.iter().rev() {
            tx.batch_execute(&table.delete_sql()).map_err(ctx.on(&format!("emptying table {}", table.name)))?;
        }
        let mut restore = if bulk { suspend_indexes(&mut tx, ctx)? } else { Vec::new() };
        restore.extend(foreign_keys);
        if !restore.is_empty() {
            restore.insert(0, BULK_MEMORY.to_owned());
        }
        write_piped(&mut tx, ctx, &mut |sink| {
            let mut out = relational::RowsOut::new(sink);
            replacement.write(&mut out)?;
            out.finish()
        })?;
        for statement in &restore {
            // Builds an index from all rows at once, or checks every row against a key at once;
            // a violation rolls everything back.
            tx.batch_execute(statement).map_err(ctx.on("making the keys and indexes again, which checks every row"))?;
        }
        insert_operation(&mut tx, ctx, &op)?;
        commit(tx, ctx, action)?;
        Ok(())
    }

    fn set_api_tokens_inner(&mut self, tokens: &[ApiToken]) -> Result<()> {
        let action = "replacing the api token list";
        let ctx = &self.ctx;
        let mut tx = begin_write(&mut self.client, ctx, action)?;
        tx.batch_execute(&relational::API_TOKEN.delete_sql()).map_err(ctx.on(action))?;
        let mut sink = Sink::new(&mut tx, ctx);
        relational::write_api_tokens(tokens, &mut sink)?;
        sink.finish()?;
        commit(tx, ctx, action)?;
        Ok(())
    }

    fn record_inner(&mut self, op: &Operation) -> Result<()> {
        let action = "recording the operation";
        let ctx = &self.ctx;
        let mut tx = begin_write(&mut self.client, ctx, action)?;
        insert_operation(&mut tx, ctx, op)?;
        commit(tx, ctx, action)?;
        Ok(())
    }

    fn operations_inner(&mut self) -> Result<Vec<Operation>> {
        let ctx = &self.ctx;
        let mut tx = begin_read(&mut self.client, ctx)?;
        let mut ops = Vec::new();
        Source::new(&mut tx, ctx).rows(&relational::OPERATION_LOG, &mut |r| {
            ops.push(relational::read_operation(r)?);
            Ok(())
        })?;
        commit(tx, ctx, "reading the operations log")?;
        Ok(ops)
    }
}

impl Store for PostgresStore {
    fn location(&self) -> String {
        self.ctx.location.clone()
    }

    fn refuses_nul_in_text(&self) -> bool {
        true
    }

    fn host(&mut self) -> Result<HostRecord> {
        let result = self.host_inner();
        self.explained(result)
    }

    fn set_identity(&mut self, identity: &HostIdentity, keep_previous_as_alias: bool) -> Result<()> {
        let result = self.set_identity_inner(identity, keep_previous_as_alias);
        self.explained(result)
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        let result = self.snapshot_inner();
        self.explained(result)
    }

    fn stream_snapshot(&mut self, sink: &mut dyn ConfigSink) -> Result<()> {
        let result = self.stream_snapshot_inner(sink);
        self.explained(result)
    }

    fn replace_streamed(&mut self, replacement: &mut dyn Replacement) -> Result<()> {
        let result = self.replace_streamed_inner(replacement);
        self.explained(result)
    }

    fn set_api_tokens(&mut self, tokens: &[ApiToken]) -> Result<()> {
        let result = self.set_api_tokens_inner(tokens);
        self.explained(result)
    }

    fn record(&mut self, op: &Operation) -> Result<()> {
        let result = self.record_inner(op);
        self.explained(result)
    }

    fn operations(&mut self) -> Result<Vec<Operation>> {
        let result = self.operations_inner();
        self.explained(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_what_copy_would_misread() {
        let mut buf = Vec::new();
        push_copy_text(&mut buf, "a\\b\tc\nd\re ✓");
        assert_eq!(buf, b"a\\\\b\\tc\\nd\\re \xe2\x9c\x93");
    }

    /// A binary COPY stream: the header (with a 3-byte extension area), `rows`, the trailer.
    fn copy_stream(rows: &[Vec<Option<&[u8]>>]) -> Vec<u8> {
        let mut out = COPY_SIGNATURE.to_vec();
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&3u32.to_be_bytes());
        out.extend_from_slice(b"ext");
        for row in rows {
            out.extend_from_slice(&i16::try_from(row.len()).unwrap().to_be_bytes());
            for field in row {
                match field {
                    None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                    Some(bytes) => {
                        out.extend_from_slice(&i32::try_from(bytes.len()).unwrap().to_be_bytes());
                        out.extend_from_slice(bytes);
                    }
                }
            }
        }
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out
    }

    /// Each row's fields (`None` for NULL), and whether the trailer came.
    type Decoded = (Vec<Vec<Option<Vec<u8>>>>, bool);

    /// Feeds `messages` to a decoder, one after the other.
    fn decode_all(messages: &[&[u8]]) -> Result<Decoded, String> {
        let mut decoder = CopyDecoder::default();
        let mut rows = Vec::new();
        let cut = |what: &str| what.to_owned();
        for message in messages {
            decoder.feed(message, &cut, &mut |data, fields| {
                rows.push(
                    fields
                        .iter()
                        .map(|&(at, len)| usize::try_from(len).ok().map(|n| data[at..at + n].to_vec()))
                        .collect(),
                );
                Ok(())
            })?;
        }
        Ok((rows, decoder.ended))
    }

    #[test]
    fn a_binary_copy_decodes_the_same_however_its_messages_are_cut() {
        let rows: Vec<Vec<Option<&[u8]>>> = vec![
            vec![Some(b"PI-1"), None, Some(b"")],
            vec![Some(b"PI-2"), Some(b"\x00\xff tab\t"), Some(b"x")],
            vec![Some(b"PI-3"), None, None],
        ];
        let stream = copy_stream(&rows);
        let expected: Vec<Vec<Option<Vec<u8>>>> =
            rows.iter().map(|r| r.iter().map(|f| f.map(<[u8]>::to_vec)).collect()).collect();
        assert_eq!(decode_all(&[&stream]).unwrap(), (expected.clone(), true));
        // Cut in two at every byte, and in three around every row boundary and inside fields.
        for i in 0..=stream.len() {
            assert_eq!(decode_all(&[&stream[..i], &stream[i..]]).unwrap(), (expected.clone(), true), "cut at {i}");
            for j in i..=stream.len() {
                let parts: [&[u8]; 3] = [&stream[..i], &stream[i..j], &stream[j..]];
                assert_eq!(decode_all(&parts).unwrap(), (expected.clone(), true), "cut at {i} and {j}");
            }
        }
        // One byte per message.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(decode_all(&bytes).unwrap(), (expected.clone(), true));
        // Anything after the trailer is not read.
        let mut trailing = stream.clone();
        trailing.extend_from_slice(b"junk");
        assert_eq!(decode_all(&[&trailing, b"more"]).unwrap(), (expected, true));
    }

    #[test]
    fn a_malformed_binary_copy_is_refused_and_a_cut_one_never_ends() {
        let stream = copy_stream(&[vec![Some(b"PI-1")]]);
        let mut unsigned = stream.clone();
        unsigned[0] = b'X';
        assert_eq!(decode_all(&[&unsigned]).unwrap_err(), "has no signature");
        let mut negative = stream.clone();
        let first_row = COPY_HEADER_LEN + 3;
        negative[first_row..first_row + 2].copy_from_slice(&(-2i16).to_be_bytes());
        assert_eq!(decode_all(&[&negative]).unwrap_err(), "has a negative field count");
        let mut bad_length = stream.clone();
        bad_length[first_row + 2..first_row + 6].copy_from_slice(&(-5i32).to_be_bytes());
        assert_eq!(decode_all(&[&bad_length]).unwrap_err(), "has a negative field length");
        // Without its trailer, or cut inside a row, the stream has not ended.
        let (rows, ended) = decode_all(&[&stream[..stream.len() - 2]]).unwrap();
        assert_eq!((rows.len(), ended), (1, false));
        let (rows, ended) = decode_all(&[&stream[..stream.len() - 4]]).unwrap();
        assert_eq!((rows.len(), ended), (0, false));
    }

    #[test]
    fn connect_targets_name_host_port_database_and_user_only() {
        let connection = PgConnection::parse("postgres://ativo:s3cret@db.example.com:5433/jira").unwrap();
        assert_eq!(target(&connection), "db.example.com:5433/jira as user ativo");
    }
}
