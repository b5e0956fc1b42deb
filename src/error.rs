//! Error types of every layer, and the one place where an error becomes an exit code.
//!
//! Each layer has its own `thiserror` enum ([`HostError`], [`ArchiveError`], [`StoreError`]);
//! [`Error`] gathers them for the operations. [`Error::exit_code`] is the only mapping from an
//! error to the exit codes documented in SPEC.md and the README, so the CLI and the docs cannot
//! drift apart silently. Messages are lower-case, name the value, file or JSON pointer involved,
//! and say what to do next.

use std::path::PathBuf;

use crate::model::validate::Finding;

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The documented exit codes (SPEC.md, "Exit codes").
pub mod exit {
    /// Success; warnings allowed.
    pub const OK: u8 = 0;
    /// Unexpected error, or an I/O error outside the store (an output file that cannot be written).
    pub const UNEXPECTED: u8 = 1;
    /// Usage error: bad arguments, or a confirmation that was needed and not given.
    pub const USAGE: u8 = 2;
    /// Invalid archive: not an archive, schema errors, or semantic errors.
    pub const INVALID: u8 = 3;
    /// The archive comes from another host.
    pub const OTHER_HOST: u8 = 4;
    /// Integrity failure: corrupt, truncated, digest mismatch, over the size cap.
    pub const INTEGRITY: u8 = 5;
    /// The archive's format version is newer than this tool reads.
    pub const UNSUPPORTED_VERSION: u8 = 6;
    /// Store problem: missing, not initialised, locked, write failed.
    pub const STORE: u8 = 7;
    /// A migration precondition refused the run.
    pub const MIGRATION_REFUSED: u8 = 8;
}

/// A host identity that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The base URL is unusable.
    #[error("base url {url:?} is not usable: {why}; give the URL users open Jira with, e.g. https://jira.example.com")]
    BaseUrl {
        /// As given.
        url: String,
        /// Why.
        why: String,
    },
    /// The server id is unusable.
    #[error(
        "server id {0:?} is not usable: it must be 1 to 256 characters without control or invisible format characters (Jira: Administration > System > System info)"
    )]
    ServerId(String),
    /// Unknown deployment name.
    #[error("deployment {0:?} is unknown: use server, datacenter or cloud")]
    Deployment(String),
}

/// An archive that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The input is neither zstd nor JSON, or not an ativo-backup document.
    #[error("not an ativo-backup archive: {0}")]
    NotAnArchive(String),
    /// The document does not match the format (schema level): a JSON pointer and what is wrong.
    #[error("invalid archive at {}: {message}", if pointer.is_empty() { "/" } else { pointer.as_str() })]
    Malformed {
        /// JSON pointer into the document (`""` for the whole document).
        pointer: String,
        /// What is wrong.
        message: String,
    },
    /// The header's counts do not match the data.
    #[error("invalid archive at /header/counts/{kind}: the header says {claimed}, the data holds {actual}")]
    CountsMismatch {
        /// Entity kind.
        kind: String,
        /// Count in the header.
        claimed: u64,
        /// Count in the data.
        actual: u64,
    },
    /// Corrupt, truncated, or a digest does not match.
    #[error("integrity check failed: {0}; the archive is damaged, use another copy")]
    Integrity(String),
    /// Decompressed size over the cap.
    #[error(
        "archive is larger than the {limit}-byte limit once decompressed; refused before reading further (raise it with --max-size if the archive is trusted)"
    )]
    TooLarge {
        /// The cap in bytes.
        limit: u64,
    },
    /// Written by a newer tool.
    #[error(
        "archive format version {found} is newer than this tool reads (up to {supported}); upgrade ativo-backup to read it"
    )]
    UnsupportedVersion {
        /// Version in the archive, as written (`2`, `2.0`, `1e30`).
        found: String,
        /// Newest version this build reads.
        supported: u32,
    },
    /// Reading or writing the underlying stream failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl ArchiveError {
    /// The documented exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            ArchiveError::NotAnArchive(_) | ArchiveError::Malformed { .. } | ArchiveError::CountsMismatch { .. } => {
                exit::INVALID
            }
            ArchiveError::Integrity(_) | ArchiveError::TooLarge { .. } => exit::INTEGRITY,
            ArchiveError::UnsupportedVersion { .. } => exit::UNSUPPORTED_VERSION,
            ArchiveError::Io(_) => exit::UNEXPECTED,
        }
    }
}

/// A store that cannot be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No store at that location.
    #[error(
        "no store at {0}; create one with `ativo-backup init --server-id ID --base-url URL` or point --store / ATIVO_STORE at an existing one"
    )]
    Missing(String),
    /// A store already exists where `init` was asked to create one.
    #[error("a store already exists at {0}; `init` never overwrites one (use `import` to replace its configuration)")]
    AlreadyExists(String),
    /// The location is not a store of ours, or its schema is from a newer tool.
    #[error("{location} is not a usable ativo store: {why}")]
    NotInitialised {
        /// Where.
        location: String,
        /// Why.
        why: String,
    },
    /// Another process holds the store's lock for longer than the wait allows.
    #[error(
        "store {location} is busy: another process holds its lock (an import, a migration, or another program using the database); waited {waited_ms} ms (ATIVO_LOCK_TIMEOUT_MS); try again when it has finished"
    )]
    Locked {
        /// Where.
        location: String,
        /// How long we waited.
        waited_ms: u64,
    },
    /// Another session held a lock on a table of the store (an `ALTER TABLE` during an upgrade,
    /// `VACUUM FULL`, `REINDEX`, a stuck session) for longer than the wait
    /// (`ATIVO_LOCK_TIMEOUT_MS`); nothing was changed.
    #[error(
        "store {location}: {waited_for} is locked by {holder}; waited {waited_ms} ms (ATIVO_LOCK_TIMEOUT_MS); nothing was changed, try again when that session has finished"
    )]
    LockTimeout {
        /// Where.
        location: String,
        /// What was waited for (`table team`).
        waited_for: String,
        /// Who holds it, when the server tells (`pid 1234, application_name "psql", ...`).
        holder: String,
        /// How long we waited.
        waited_ms: u64,
    },
    /// The location string cannot be understood, or asks for what this build does not do. The
    /// field says why; it never holds the location itself, which may hold a password.
    #[error(
        "the store location (--store / ATIVO_STORE, not repeated here) is not usable: {0}; give a file path, sqlite:PATH, a postgres://user@host:port/db URI or a keyword=value connection string such as 'host=db user=ativo dbname=jira'"
    )]
    BadLocation(String),
    /// Any other database error, with what we were doing.
    #[error("store {location}: {action} failed: {message}")]
    Backend {
        /// Where (passwords removed).
        location: String,
        /// What we were doing.
        action: String,
        /// The database's message.
        message: String,
    },
}

/// The crate's top-level error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad host identity.
    #[error(transparent)]
    Host(#[from] HostError),
    /// An unreadable or unwritable archive.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// A store problem.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The configuration breaks semantic rules; the findings say where.
    #[error("{} semantic error(s) in {context}, first at {}: {}", count_errors(findings), first_error(findings).map_or("", |f| f.pointer.as_str()), first_error(findings).map_or("", |f| f.message.as_str()))]
    Invalid {
        /// What was checked (a file name, "the store").
        context: String,
        /// All findings, warnings included.
        findings: Vec<Finding>,
    },
    /// The archive was exported from another host.
    #[error("archive was exported from {archive}, this store is {store}; {hint}")]
    OtherHost {
        /// The archive's source host, described.
        archive: String,
        /// The store's host, described.
        store: String,
        /// What to do: depends on how the two differ (see `ops::import::other_host`).
        hint: String,
    },
    /// A migration precondition failed.
    #[error("migration refused: {reason}; {hint}")]
    MigrationRefused {
        /// What failed.
        reason: String,
        /// What to do.
        hint: String,
    },
    /// Bad usage, or a confirmation was needed and not given.
    #[error("{0}")]
    Usage(String),
    /// A broken invariant of this program (a bug): never the user's input.
    #[error("internal error: {0}; this is a bug in ativo-backup, please report it with this message")]
    Internal(String),
    /// A file outside the store could not be read or written.
    #[error("{action} {path}: {source}")]
    File {
        /// What we were doing ("cannot write", "cannot read").
        action: &'static str,
        /// Which file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

fn count_errors(findings: &[Finding]) -> usize {
    findings.iter().filter(|f| f.is_error()).count()
}

fn first_error(findings: &[Finding]) -> Option<&Finding> {
    findings.iter().find(|f| f.is_error())
}

impl Error {
    /// The documented exit code for this error (SPEC.md, "Exit codes").
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Host(_) | Error::Usage(_) => exit::USAGE,
            Error::Archive(e) => e.exit_code(),
            // A location that cannot be used is a mistake in the call, not a problem of a store.
            Error::Store(StoreError::BadLocation(_)) => exit::USAGE,
            Error::Store(_) => exit::STORE,
            Error::Invalid { .. } => exit::INVALID,
            Error::OtherHost { .. } => exit::OTHER_HOST,
            Error::MigrationRefused { .. } => exit::MIGRATION_REFUSED,
            Error::File { .. } | Error::Internal(_) => exit::UNEXPECTED,
        }
    }
}
