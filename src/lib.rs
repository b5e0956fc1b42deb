//! ativo-backup: backup, restore, validation and cloud migration of Ativo Programs configuration.
//!
//! # A short tour
//!
//! * [`model`]: the configuration (teams, programs, periods, PIs with capacity, sprint mappings,
//!   objectives and milestones, settings, admins) as serde + schemars types, and the semantic
//!   rules over it ([`model::validate`]). No I/O.
//! * [`archive`]: the archive format of SPEC.md: sealing (counts, content and integrity digests),
//!   writing and reading over `Read`/`Write`, limits against hostile input, the JSON Schema.
//! * [`host`]: which Jira installation a store belongs to, and its fingerprint.
//! * [`destination`]: where written archives go (atomic replacement, devices and FIFOs written
//!   into, links followed, never over the store) and the rotation of a backup directory.
//! * [`store`]: the [`store::Store`] trait and its SQLite and PostgreSQL backends.
//! * [`ops`]: the operations behind the CLI (`init`, `export`, `import`, `validate`, `inspect`,
//!   `diff`, `migrate`, `admins`): options in, a serializable report out; they never print.
//! * [`migration`]: Jira references, ID mappings and the rewrite for a cloud migration.
//! * [`error`]: the error types and the one mapping to the documented exit codes.
//!
//! The binary `ativo-backup` (in `src/bin`) only parses arguments and renders reports.
//!
//! # Example
//!
//! Seal a configuration, write it as zstd-compressed JSON and read it back with every check:
//!
//! ```
//! use ativo_backup::archive::{self, Encoding, Limits, Scope};
//! use ativo_backup::host::{Deployment, HostIdentity};
//! use ativo_backup::model::Configuration;
//!
//! let host = HostIdentity::new(Deployment::Datacenter, "B8E7-9F2A", "https://jira.example.com/")?;
//! let sealed = archive::seal(Configuration::empty(), &host, Scope::Full, Vec::new(), chrono::Utc::now());
//! let mut bytes = Vec::new();
//! archive::write(&sealed, &mut bytes, Encoding::Zstd)?;
//! let back = archive::read(bytes.as_slice(), &Limits::default())?;
//! assert_eq!(back.header.content_digest, sealed.header.content_digest);
//! assert_eq!(back.header.source.identity(), host);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod archive;
pub mod destination;
pub mod error;
pub mod host;
pub mod migration;
pub mod model;
pub mod ops;
pub mod progress;
pub mod sample;
pub mod sink;
pub mod store;

pub use error::{Error, Result};
