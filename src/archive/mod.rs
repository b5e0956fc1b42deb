//! The archive format (SPEC.md): types of the document, sealing (digests and counts), and
//! encoding/decoding over `Read`/`Write` only; this module never opens a path.
//!
//! A document is `{"format": "ativo-backup", "format_version": 1, "header": {...}, "data": {...}}`,
//! written as zstd frames (default) or plain JSON. [`read`] checks, in this order: the magic
//! bytes, the size cap while decompressing, the format and its version (newer: refused), the
//! strict shape of every member, both digests, and the header's counts. Semantic rules and the
//! host check are the operations' business (`crate::ops`).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ArchiveError;
use crate::host::{Deployment, HostIdentity};
use crate::model::{ApiToken, Configuration, Counts};

/// Value of the `format` member.
pub const FORMAT: &str = "ativo-backup";
/// The format version this build writes, and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// What an archive holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Everything, admins included: a same-host backup.
    Full,
    /// Everything but the admins: input for a cloud migration.
    Migration,
}

/// The host an archive was exported from, as recorded in its header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceHost {
    /// Normalised base URL.
    pub base_url: String,
    /// server, datacenter or cloud.
    pub deployment: Deployment,
    /// Host fingerprint, `sha256:<hex>`, recomputable from the other three members.
    pub fingerprint: String,
    /// Jira server id (cloud: cloud id).
    pub server_id: String,
}

impl SourceHost {
    /// The identity these members describe.
    pub fn identity(&self) -> HostIdentity {
        HostIdentity { base_url: self.base_url.clone(), deployment: self.deployment, server_id: self.server_id.clone() }
    }
}

impl From<&HostIdentity> for SourceHost {
    fn from(host: &HostIdentity) -> Self {
        SourceHost {
            base_url: host.base_url.clone(),
            deployment: host.deployment,
            fingerprint: host.fingerprint(),
            server_id: host.server_id.clone(),
        }
    }
}

/// The tool that wrote an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// Always `ativo-backup` for archives we write; informative.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// The archive header: where, when, what, and the digests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// REST API token metadata of the source (informative; never restored).
    pub api_tokens: Vec<ApiToken>,
    /// `sha256:<hex>` of the canonical `data`: identifies the configuration itself.
    pub content_digest: String,
    /// Entities per kind in `data`.
    pub counts: Counts,
    /// When the archive was written, RFC 3339 UTC with seconds (`2026-11-25T19:00:00Z`).
    pub created_at: DateTime<Utc>,
    /// `sha256:<hex>` of the canonical document without this member: covers everything else.
    pub integrity_digest: String,
    /// full or migration.
    pub scope: Scope,
    /// The host the archive was exported from.
    pub source: SourceHost,
    /// The writer.
    pub tool: Tool,
}

/// A decoded (or about to be encoded) archive.
#[derive(Debug, Clone, PartialEq)]
pub struct Archive {
    /// The header.
    pub header: Header,
    /// The configuration.
    pub data: Configuration,
}

/// How an archive is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// zstd-compressed JSON (`.json.zst`), the default.
    Zstd,
    /// Plain, pretty-printed JSON (`.json`), for review in git.
    Json,
}

/// Limits against hostile input (SPEC.md, "Limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum decompressed document size in bytes.
    pub max_size: u64,
    /// Maximum nesting depth of arrays and objects.
    pub max_depth: usize,
    /// Maximum length of one JSON string, in bytes (escaped form).
    pub max_string: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_size: 4 << 30, max_depth: 32, max_string: 1 << 20 }
    }
}

/// Builds the header of `data` exported from `source`: counts, both digests, the time (truncated
/// to seconds) and this tool. `data` is put into canonical order first.
pub fn seal(
    mut data: Configuration,
    source: &HostIdentity,
    scope: Scope,
    api_tokens: Vec<ApiToken>,
    created_at: DateTime<Utc>,
) -> Archive {
    let _ = (&mut data, source, scope, api_tokens, created_at);
    unimplemented!("archive::seal")
}

/// `sha256:<hex>` of the canonical JSON of `data` (the content digest).
pub fn content_digest(data: &Configuration) -> String {
    let _ = data;
    unimplemented!("archive::content_digest")
}

/// Writes `archive` to `writer` in `encoding`.
///
/// # Errors
///
/// [`ArchiveError::Io`] when the writer fails.
pub fn write<W: std::io::Write>(archive: &Archive, writer: W, encoding: Encoding) -> Result<(), ArchiveError> {
    let _ = (archive, writer, encoding);
    unimplemented!("archive::write")
}

/// Reads and checks an archive (see the module docs for the order of checks).
///
/// # Errors
///
/// Every [`ArchiveError`] but `Io` names what is wrong and where; see [`ArchiveError::exit_code`].
pub fn read<R: std::io::Read>(reader: R, limits: &Limits) -> Result<Archive, ArchiveError> {
    let _ = (reader, limits);
    unimplemented!("archive::read")
}

/// The JSON Schema (draft 2020-12) of the current format version.
pub fn schema() -> serde_json::Value {
    unimplemented!("archive::schema")
}
