//! The store: where one host's Ativo configuration lives. One [`Store`] trait, one file per
//! backend (SQLite embedded by default, PostgreSQL for Data Center); operations never know which.
//!
//! Both backends hold the configuration in real relational tables with keys and foreign keys,
//! the host identity (with accepted aliases), REST API token metadata and an operations log.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::{Result, StoreError};
use crate::host::HostIdentity;
use crate::model::{ApiToken, Configuration};

/// Where a store is, parsed from `--store` / `ATIVO_STORE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite database file (`PATH` or `sqlite:PATH`).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl Location {
    /// Parses a store location.
    ///
    /// # Errors
    ///
    /// [`StoreError::BadLocation`] for an empty string or an unknown URL scheme.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        let _ = s;
        unimplemented!()
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

/// One entry of the operations log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Operation {
    /// Sequence number, assigned by the store.
    pub id: i64,
    /// When (UTC).
    pub at: DateTime<Utc>,
    /// `init`, `export`, `import`, `migrate`, `admins-set`, `host-change`.
    pub kind: String,
    /// The OS user that ran it.
    pub os_user: String,
    /// Integrity digest of the archive written or read, if any.
    pub archive_digest: Option<String>,
    /// Content digest of the configuration the store holds afterwards.
    pub content_digest: Option<String>,
    /// `ok`, or what went wrong.
    pub outcome: String,
    /// Operation-specific details (safety backup path, source host, unmapped references...).
    pub detail: serde_json::Value,
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

/// A store backend.
pub trait Store {
    /// Human description of the location, passwords removed.
    fn location(&self) -> String;
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
    /// Replaces the whole configuration in one transaction under the store's write lock. `plan`
    /// sees the current snapshot (read under the lock) and returns the configuration to write
    /// and the log entry recorded in the same transaction.
    ///
    /// # Errors
    ///
    /// [`StoreError::Locked`] when the lock is not had in time; any error of `plan`; other
    /// [`StoreError`]s when writing fails. In every case nothing is changed.
    fn replace(&mut self, plan: &mut Plan<'_>) -> Result<()>;
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
/// [`StoreError::Missing`] when there is none; [`StoreError::NotInitialised`] when the location
/// holds something else; [`StoreError::Backend`] for connection problems.
pub fn open(location: &Location) -> Result<Box<dyn Store>> {
    let _ = location;
    unimplemented!()
}

/// Creates a new store for `host` with an empty configuration.
///
/// # Errors
///
/// [`StoreError::AlreadyExists`] when there is one already; [`StoreError::Backend`] otherwise.
pub fn create(location: &Location, host: &HostIdentity) -> Result<Box<dyn Store>> {
    let _ = (location, host);
    unimplemented!()
}
