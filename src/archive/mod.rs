//! The archive format (SPEC.md): types of the document, sealing (digests and counts), and
//! encoding/decoding over `Read`/`Write` only; this module never opens a path.
//!
//! A document is `{"format": "ativo-backup", "format_version": 1, "header": {...}, "data": {...}}`,
//! written as zstd frames (default) or plain JSON. [`read`] judges in the layers of SPEC.md 9.1:
//! the first bytes (`sniff.rs`) and the first zstd frame's declared size and window; the bytes
//! (zstd, the size cap) and the text (`text.rs`: syntax, the nesting, token and entity limits),
//! both over the whole input whatever the parser found (`guard.rs`); the top level (format,
//! repeated members, version; `document.rs`); the strict shape of every member; the integrity
//! digest, the content digest (`digest.rs`) and the header's counts. Semantic rules and the host check are the operations' business. The JSON Schema is
//! generated from the same types ([`schema()`]).

mod digest;
mod document;
mod frames;
pub(crate) mod guard;
mod reader;
mod schema;
mod sha_pair;
mod sniff;
pub mod stream;
mod text;
mod verified;
mod writer;

use std::io::{self, BufReader, Read, Write};

use chrono::{DateTime, SubsecRound as _, Utc};
use schemars::JsonSchema;
use serde::de::DeserializeSeed as _;
use serde::{Deserialize, Serialize};

use self::document::{DocumentSeed, TopLevel, Versioned};
use self::guard::{Fault, Guard};
pub use self::reader::{Input, Reader, Verified, check_semantics, read_input, read_valid, refuse_invalid, waivable};
pub use self::schema::{SCHEMA_FILE, SCHEMA_ID, schema};
pub use self::sniff::{FrameHeader, Layout, MAX_WINDOW_LOG, ZSTD_MAGIC};
use self::text::{Position, TextFault};
pub use self::verified::{Written, verify_json, write_json};
pub use self::writer::{DataStream, FRAME_CONTENT, Spooled, spool};
use crate::error::ArchiveError;
use crate::host::{Deployment, HostIdentity};
use crate::model::canonical::{Measure, write_canonical_measured};
use crate::model::{ApiToken, Configuration, Counts};

/// Value of the `format` member.
pub const FORMAT: &str = "ativo-backup";
/// The format version this build writes, and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
/// The oldest format version this build reads: it reads every version from this one to
/// [`FORMAT_VERSION`] (SPEC.md section 8; versions start at 1).
pub const OLDEST_FORMAT_VERSION: u32 = 1;
/// Value of `header.tool.name` in archives this crate writes.
pub const TOOL_NAME: &str = "ativo-backup";
/// zstd compression level of written archives: fast, and a window of 2 MiB at most.
pub const ZSTD_LEVEL: i32 = 3;

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
    #[schemars(length(min = 71, max = 71), regex(pattern = r"^sha256:[0-9a-f]{64}"))]
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
    #[schemars(length(min = 71, max = 71), regex(pattern = r"^sha256:[0-9a-f]{64}"))]
    pub content_digest: String,
    /// Entities per kind in `data`.
    pub counts: Counts,
    /// When the archive was written, RFC 3339 UTC with whole seconds (`2026-11-25T19:00:00Z`),
    /// exactly so written (SPEC.md 3.2).
    #[serde(deserialize_with = "strict_created_at")]
    #[schemars(
        length(min = 20, max = 20),
        regex(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
    )]
    pub created_at: DateTime<Utc>,
    /// `sha256:<hex>` of the canonical document without this member: covers everything else.
    #[schemars(length(min = 71, max = 71), regex(pattern = r"^sha256:[0-9a-f]{64}"))]
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

/// Limits against hostile input (SPEC.md, "Limits"): the reader refuses a document over any of
/// them, and a writer must keep within them the archives it means to be read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum decompressed document size in bytes.
    pub max_size: u64,
    /// Maximum nesting depth of arrays and objects.
    pub max_depth: usize,
    /// Maximum length of one string or number token, in bytes as written (a string's escaped
    /// form between its quotes).
    pub max_string: usize,
    /// Maximum size of one entity (the header, the admins, the settings, one team, program,
    /// period or PI): the length in bytes of its canonical form (RFC 8785). What bounds the
    /// memory a reader needs for one value, whatever the archive's size.
    pub max_entity: u64,
}

/// The default [`Limits::max_entity`]: 8 MiB.
pub const MAX_ENTITY: u64 = 8 << 20;

impl Default for Limits {
    fn default() -> Self {
        Limits { max_size: 4 << 30, max_depth: 32, max_string: 1 << 20, max_entity: MAX_ENTITY }
    }
}

impl Limits {
    /// The canonical size of one entity as [`Limits::max_entity`] measures it, for a writer that
    /// checks its entities before it writes them (`model::canonical` writes that form).
    pub fn entity_size<T: Serialize + ?Sized>(entity: &T) -> u64 {
        let mut count = ByteCount(0);
        // Counting cannot fail; a type whose serialization fails counts what was written.
        let _ = crate::model::canonical::write_canonical(&mut count, entity);
        count.0
    }
}

/// The entities of an archive being written that the default [`Limits`] refuse (SPEC.md
/// section 7). Such an archive is written all the same, as a backup is never refused for its
/// content; the notes tell the admin which reader options take it (`--max-entity`,
/// `--max-string`).
#[derive(Debug, Default)]
pub struct OverLimits {
    /// The first few, described (entity, JSON pointer, measure).
    shown: Vec<(String, String, Measure)>,
    /// How many in all.
    count: u64,
    /// The largest entity and the longest string seen over the limits.
    needed: Measure,
}

impl OverLimits {
    /// Entities described one by one; the rest are counted.
    const SHOWN: usize = 5;

    /// Measures `entity` (canonical form, its longest string) and notes it when over the limits.
    pub(crate) fn measure<T: Serialize + ?Sized>(&mut self, entity: &T, describe: impl FnOnce() -> (String, String)) {
        // Writing into a sink fails only if serialization does, which the model's types never do.
        let measure = write_canonical_measured(io::sink(), entity).unwrap_or_default();
        self.note(measure, describe);
    }

    /// Measures the entities of `config` outside its PIs (the admins only `with_admins`).
    pub(crate) fn around_pis(config: &Configuration, with_admins: bool) -> Self {
        let mut over = OverLimits::default();
        if let Some(admins) = config.admins.as_ref().filter(|_| with_admins) {
            over.measure(admins, || ("the admins".into(), "/data/admins".into()));
        }
        over.measure(&config.settings, || ("the settings".into(), "/data/settings".into()));
        for (i, t) in config.teams.iter().enumerate() {
            over.measure(t, || (format!("team {:?}", t.key), format!("/data/teams/{i}")));
        }
        for (i, p) in config.programs.iter().enumerate() {
            over.measure(p, || (format!("program {:?}", p.key), format!("/data/programs/{i}")));
        }
        for (i, p) in config.periods.iter().enumerate() {
            over.measure(p, || (format!("period {:?}", p.key), format!("/data/periods/{i}")));
        }
        over
    }

    /// Notes PI number `index` measured as it was written, when over the limits.
    pub(crate) fn note_pi(&mut self, index: u64, key: &str, measure: Measure) {
        self.note(measure, || (format!("PI {key:?}"), format!("/data/pis/{index}")));
    }

    /// The notes (`OverLimits::notes`) of a whole configuration (the admins only `with_admins`).
    pub fn of(config: &Configuration, with_admins: bool) -> Vec<String> {
        let mut over = OverLimits::around_pis(config, with_admins);
        for (i, pi) in config.pis.iter().enumerate() {
            over.measure(pi, || (format!("PI {:?}", pi.key), format!("/data/pis/{i}")));
        }
        over.notes()
    }

    /// Notes an entity measured as it was written, when over the limits.
    pub(crate) fn note(&mut self, measure: Measure, describe: impl FnOnce() -> (String, String)) {
        let limits = Limits::default();
        if measure.size <= limits.max_entity && measure.longest_string <= limits.max_string as u64 {
            return;
        }
        self.count += 1;
        self.needed.size = self.needed.size.max(measure.size);
        self.needed.longest_string = self.needed.longest_string.max(measure.longest_string);
        if self.shown.len() < Self::SHOWN {
            let (entity, pointer) = describe();
            self.shown.push((entity, pointer, measure));
        }
    }

    /// Adds what `other` noted.
    pub(crate) fn merge(&mut self, other: OverLimits) {
        self.count += other.count;
        self.needed.size = self.needed.size.max(other.needed.size);
        self.needed.longest_string = self.needed.longest_string.max(other.needed.longest_string);
        self.shown.extend(other.shown);
        self.shown.truncate(Self::SHOWN);
    }

    /// One line per entity shown, and one that says what a reader needs.
    pub(crate) fn notes(&self) -> Vec<String> {
        if self.count == 0 {
            return Vec::new();
        }
        let limits = Limits::default();
        let mut notes: Vec<String> = self
            .shown
            .iter()
            .map(|(entity, pointer, m)| {
                let mut over = Vec::new();
                if m.size > limits.max_entity {
                    over.push(format!(
                        "is {} bytes in canonical form (the entity limit is {})",
                        m.size, limits.max_entity
                    ));
                }
                if m.longest_string > limits.max_string as u64 {
                    over.push(format!(
                        "holds a string of {} bytes as written (the string limit is {})",
                        m.longest_string, limits.max_string
                    ));
                }
                format!("{entity} ({pointer}) {}", over.join(" and "))
            })
            .collect();
        if self.count > self.shown.len() as u64 {
            notes.push(format!("{} more entities are over the limits", self.count - self.shown.len() as u64));
        }
        let mut options = Vec::new();
        if self.needed.size > limits.max_entity {
            options.push(format!("--max-entity {}", self.needed.size));
        }
        if self.needed.longest_string > limits.max_string as u64 {
            options.push(format!("--max-string {}", self.needed.longest_string));
        }
        notes.push(format!(
            "the archive is complete, but readers refuse it under the default limits of SPEC.md section 7: read it with {}",
            options.join(" ")
        ));
        notes
    }
}

/// Builds the header of `data` exported from `source`: counts, both digests, the time (truncated
/// to seconds) and this tool. `data` is put into canonical order first, and so are `api_tokens`.
pub fn seal(
    mut data: Configuration,
    source: &HostIdentity,
    scope: Scope,
    api_tokens: Vec<ApiToken>,
    created_at: DateTime<Utc>,
) -> Archive {
    data.sort();
    let mut header = Header::unsealed(source, scope, created_at, data.counts(), api_tokens);
    seal_header(&mut header, digest::hash_data(&data));
    Archive { header, data }
}

/// Completes `header` for the data whose digests are `digests`: the content digest, then the
/// integrity digest over the canonical header and data (SPEC.md section 5). The one place where
/// a header is sealed, for the archive in memory ([`seal`]) and the streamed one ([`spool`]).
pub(crate) fn seal_header(header: &mut Header, digests: digest::DataDigests) {
    header.content_digest.clone_from(&digests.content);
    header.integrity_digest = String::new();
    // A header is strings, integers and a timestamp: turning it into a value and canonicalising
    // it cannot fail. Were it to, the empty header bytes would give a digest that `read` refuses,
    // never a silently wrong archive.
    let canonical = serde_json::to_value(&*header).and_then(digest::canonical_header).unwrap_or_default();
    header.integrity_digest = digests.integrity(u64::from(FORMAT_VERSION), &canonical);
}

impl Header {
    /// The header of data exported from `source` now, digests not yet computed ([`seal_header`]).
    pub(crate) fn unsealed(
        source: &HostIdentity,
        scope: Scope,
        created_at: DateTime<Utc>,
        counts: Counts,
        mut api_tokens: Vec<ApiToken>,
    ) -> Header {
        api_tokens.sort();
        Header {
            api_tokens,
            content_digest: String::new(),
            counts,
            created_at: created_at.trunc_subsecs(0),
            integrity_digest: String::new(),
            scope,
            source: SourceHost::from(source),
            tool: Tool { name: TOOL_NAME.into(), version: env!("CARGO_PKG_VERSION").into() },
        }
    }
}

/// The document up to its data, as written: `{"format":...,"format_version":1,"header":{...},"data":`.
pub(crate) fn document_prefix(header: &Header) -> Vec<u8> {
    let mut prefix = format!(r#"{{"format":"{FORMAT}","format_version":{FORMAT_VERSION},"header":"#).into_bytes();
    prefix.extend(crate::model::canonical::to_canonical_vec(header));
    prefix.extend_from_slice(br#","data":"#);
    prefix
}

/// `sha256:<hex>` of the canonical JSON of `data` (the content digest).
///
/// Lists are hashed in the order they are in: call [`Configuration::sort`] first (as [`seal`]
/// does) to get the digest an archive of `data` would carry.
pub fn content_digest(data: &Configuration) -> String {
    digest::hash_data(data).content
}

/// [`content_digest`] of a configuration that arrives in pieces, as `Store::stream_snapshot`
/// hands it over: the part without PIs first, then each PI in key order. The result equals
/// [`content_digest`] of the whole, without ever holding it.
pub struct ContentDigester {
    hasher: digest::DataHasher,
    tail: Vec<u8>,
    pis: u64,
}

impl std::fmt::Debug for ContentDigester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentDigester").field("pis", &self.pis).finish_non_exhaustive()
    }
}

impl ContentDigester {
    /// Starts with everything but the PIs (`config.pis` is ignored).
    pub fn new(config: &Configuration) -> Self {
        let (head, tail) = crate::model::canonical::data_around_pis(config, true);
        let mut hasher = digest::DataHasher::new();
        hasher.bytes(&head);
        ContentDigester { hasher, tail, pis: 0 }
    }

    /// The next PI, in key order.
    pub fn pi(&mut self, pi: &crate::model::Pi) {
        if self.pis > 0 {
            self.hasher.bytes(b",");
        }
        self.hasher.canonical(pi);
        self.pis += 1;
    }

    /// The content digest.
    pub fn finish(mut self) -> String {
        self.hasher.bytes(&self.tail);
        self.hasher.finish().content
    }
}

/// The document as written: members in the order readers like best (`header` before `data`).
/// Also the type the JSON Schema is generated from, so that the two cannot drift apart.
#[derive(Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Document<'a> {
    /// Always "ativo-backup".
    #[schemars(schema_with = "schema::format_schema")]
    format: &'static str,
    /// The format version of the document; this schema describes version 1.
    #[schemars(schema_with = "schema::format_version_schema")]
    format_version: u32,
    /// Where, when and by what the archive was written, with its counts and digests.
    header: &'a Header,
    /// The configuration.
    data: &'a Configuration,
}

impl<'a> Document<'a> {
    fn of(archive: &'a Archive) -> Self {
        Document { format: FORMAT, format_version: FORMAT_VERSION, header: &archive.header, data: &archive.data }
    }
}

/// JSON cannot carry NaN or infinities (serde_json would write `null`, which no reader accepts).
fn check_finite(data: &Configuration) -> Result<(), ArchiveError> {
    for (i, pi) in data.pis.iter().enumerate() {
        for (j, capacity) in pi.capacity.iter().enumerate() {
            if !capacity.value.is_finite() {
                return Err(ArchiveError::Malformed {
                    pointer: format!("/data/pis/{i}/capacity/{j}/value"),
                    message: format!(
                        "capacity {} of pi {} is not a finite number; JSON cannot carry it",
                        capacity.value, pi.key
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Counts the bytes written to it: the content size pledged in the zstd frame header.
struct ByteCount(u64);

impl Write for ByteCount {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0 += bytes.len() as u64;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes `archive` to `writer` in `encoding`, streaming (no document tree is built).
///
/// [`Encoding::Json`] is pretty-printed (2 spaces, trailing newline); [`Encoding::Zstd`] is compact
/// JSON with canonical numbers in one zstd frame at level [`ZSTD_LEVEL`], with the content size in
/// the frame header (the document is serialized twice: once to count, once to compress) and a
/// content checksum. The digests are not recomputed: `archive` comes from [`seal`] or [`read`].
///
/// # Errors
///
/// [`ArchiveError::Io`] when the writer fails; [`ArchiveError::Malformed`] when a capacity is
/// not a finite number.
pub fn write<W: Write>(archive: &Archive, writer: W, encoding: Encoding) -> Result<(), ArchiveError> {
    check_finite(&archive.data)?;
    match encoding {
        Encoding::Json => {
            write_json(archive, writer)?;
        }
        // The frames the streaming export writes (`writer::DataFrames`), the header as given.
        Encoding::Zstd => {
            let mut frames = writer::DataFrames::new(writer, false)?;
            frames.own_frames(&document_prefix(&archive.header))?;
            let (head, tail) = crate::model::canonical::data_around_pis(&archive.data, true);
            frames.own_frames(&head)?;
            for pi in &archive.data.pis {
                frames.pi(pi)?;
            }
            frames.own_frames(&tail)?;
            frames.own_frames(b"}")?;
            frames.finish()?.flush()?;
        }
    }
    Ok(())
}

/// Reads and checks an archive (see the module docs for the order of checks).
///
/// # Errors
///
/// Every [`ArchiveError`] but `Io` names what is wrong and where; see [`ArchiveError::exit_code`].
/// In particular: [`ArchiveError::NotAnArchive`] for other data; [`ArchiveError::Integrity`] for
/// corrupt or truncated input and digest mismatches; [`ArchiveError::TooLarge`] over
/// `limits.max_size`; [`ArchiveError::Malformed`] for schema errors and for the nesting, token
/// and entity limits; [`ArchiveError::UnsupportedVersion`]; [`ArchiveError::CountsMismatch`].
pub fn read<R: Read>(reader: R, limits: &Limits) -> Result<Archive, ArchiveError> {
    let top = parse(reader, limits, false)?;
    let header = parse_header(&top.header)?;
    let Some(data) = top.data else {
        return Err(ArchiveError::Malformed { pointer: String::new(), message: "missing member `data`".into() });
    };
    verify_digests(top.version, &top.header, &header, &data)?;
    verify_counts(&header.counts, &data.counts())?;
    Ok(Archive { header, data: data.upgrade() })
}

/// Says which encoding the first bytes of `reader` announce (SPEC.md, "Telling them apart"),
/// with the first zstd frame's header when there is one. Consumes up to 18 bytes (more when a JSON
/// text starts with whitespace).
///
/// # Errors
///
/// As [`read`] for the first bytes: [`ArchiveError::NotAnArchive`] (empty input, other data, a
/// byte order mark), [`ArchiveError::Integrity`] (1 to 3 bytes of zstd magic),
/// [`ArchiveError::Io`].
pub fn sniff_layout<R: Read>(mut reader: R) -> Result<Layout, ArchiveError> {
    sniff::sniff(&mut reader, u64::MAX).map(|sniffed| sniffed.layout)
}

/// Reads the format version and the header only, for a quick look (`inspect`).
///
/// When the header comes before `data` (as every writer puts it), reading stops right after it;
/// otherwise `data` is skipped without being decoded. Nothing is verified beyond the header's
/// shape and the version: no digest, no counts. Use [`read`] to check an archive.
///
/// # Errors
///
/// As [`read`], for the parts that are read.
pub fn read_header<R: Read>(reader: R, limits: &Limits) -> Result<(u64, Header), ArchiveError> {
    let top = parse(reader, limits, true)?;
    Ok((top.version, parse_header(&top.header)?))
}

/// Sniffs, decompresses and parses the top level of a document under `limits`.
fn parse<R: Read>(mut reader: R, limits: &Limits, header_only: bool) -> Result<TopLevel, ArchiveError> {
    let sniffed = sniff::sniff(&mut reader, limits.max_size)?;
    let input = guard::Source(io::Cursor::new(sniffed.head).chain(reader));
    match sniffed.layout {
        Layout::Json => parse_guarded(Guard::new(input, limits, sniffed.at), header_only),
        Layout::Zstd(frame) => {
            if let Some(frame) = frame {
                check_frame(&frame, limits)?;
            }
            let mut decoder = zstd::stream::read::Decoder::new(input)?;
            decoder.window_log_max(MAX_WINDOW_LOG)?;
            parse_guarded(Guard::new(guard::Decompressed(decoder), limits, Position::START), header_only)
        }
    }
}

/// Refuses a first frame whose header alone shows that it is over the limits.
fn check_frame(frame: &FrameHeader, limits: &Limits) -> Result<(), ArchiveError> {
    if frame.content_size.is_some_and(|size| size > limits.max_size) {
        return Err(ArchiveError::TooLarge { limit: limits.max_size });
    }
    if frame.window_size > 1 << MAX_WINDOW_LOG {
        return Err(window_too_large(Some(frame.window_size)));
    }
    Ok(())
}

fn window_too_large(size: Option<u64>) -> ArchiveError {
    let size = size.map(|s| format!(" of {s} bytes")).unwrap_or_default();
    ArchiveError::Integrity(format!(
        "a zstd frame needs a window{size}, more than the {} bytes this reader allows (SPEC.md, \"Limits\"); if the archive was recompressed by hand, use zstd -19 or lower without --long",
        1u64 << MAX_WINDOW_LOG
    ))
}

/// Parses the document through `guard`, then judges it layer by layer (SPEC.md 9): the bytes
/// (read to the end, whatever the parser found), the text (checked to its end, or to its first
/// fault), the top level, the schema. So the verdict depends on the bytes alone, never on where
/// the parser happened to be when a buffer ended.
fn parse_guarded<G: Read>(mut guard: Guard<G>, header_only: bool) -> Result<TopLevel, ArchiveError> {
    let mut verdict = None;
    let mut stopped = None;
    let typed = {
        let mut json = serde_json::Deserializer::from_reader(BufReader::with_capacity(64 * 1024, &mut guard));
        let mut track = serde_path_to_error::Track::new();
        let seed = DocumentSeed { header_only, verdict: &mut verdict, stopped: &mut stopped };
        match seed.deserialize(serde_path_to_error::Deserializer::new(&mut json, &mut track)) {
            // Reading on to the end checks that nothing follows the document.
            Ok(top) => json.end().map(|()| top).map_err(|e| (e, None)),
            Err(e) => Err((e, Some(track.path()))),
        }
    };
    if header_only && let Some(top) = stopped {
        return Ok(top);
    }
    let outcome = guard.finish();
    if let Some(fault) = outcome.bytes {
        return Err(bytes_error(fault));
    }
    if let Some(fault) = outcome.text {
        return Err(text_error(fault));
    }
    if let Some(error) = document::judge_top_level(&outcome.top) {
        return Err(error);
    }
    typed.map_err(|(error, path)| verdict.unwrap_or_else(|| classify(error, path.as_ref())))
}

/// The error for a fault of the bytes: the caller's reader, zstd, the size cap.
fn bytes_error(fault: Fault) -> ArchiveError {
    match fault {
        Fault::Source(e) => ArchiveError::Io(e),
        Fault::Zstd(e) => {
            let text = e.to_string();
            if text.contains("too much memory") || text.contains("indowLog") {
                window_too_large(None)
            } else if e.kind() == io::ErrorKind::UnexpectedEof {
                ArchiveError::Integrity("the zstd data ends inside a frame (truncated)".into())
            } else {
                ArchiveError::Integrity(format!("the zstd data is corrupt: {text}"))
            }
        }
        Fault::TooLarge { limit } => ArchiveError::TooLarge { limit },
        Fault::Text => ArchiveError::Integrity("the input could not be read to its end".into()),
    }
}

/// The error for a fault of the text.
fn text_error(fault: TextFault) -> ArchiveError {
    match fault {
        TextFault::NotAnArchive(why) => ArchiveError::NotAnArchive(why),
        fault @ TextFault::EndsEarly { .. } => ArchiveError::Integrity(fault.to_string()),
        fault @ (TextFault::TooDeep { .. } | TextFault::TokenTooLong { .. } | TextFault::EntityTooLarge { .. }) => {
            // The two limits a store's own content can reach have an option to raise them.
            let option = match fault {
                TextFault::TokenTooLong { .. } => "; raise it with --max-string if the archive is trusted",
                TextFault::EntityTooLarge { .. } => "; raise it with --max-entity if the archive is trusted",
                _ => "",
            };
            ArchiveError::Malformed {
                pointer: fault.pointer().to_owned(),
                message: format!("{fault} (SPEC.md, \"Limits\"{option})"),
            }
        }
        fault @ TextFault::Syntax { .. } => {
            ArchiveError::Malformed { pointer: fault.pointer().to_owned(), message: fault.to_string() }
        }
    }
}

/// Turns a parser error into the archive error it stands for, once the layers below found
/// nothing: a schema error. (A syntax error or an early end is the text checker's to find
/// first; should the parser see one the checker did not, it is still no valid archive.)
fn classify(error: serde_json::Error, path: Option<&serde_path_to_error::Path>) -> ArchiveError {
    let pointer = path.map(|p| document::pointer("", p)).unwrap_or_default();
    ArchiveError::Malformed { pointer, message: error.to_string() }
}

/// Deserializes `header.created_at`, written exactly `YYYY-MM-DDTHH:MM:SSZ` (SPEC.md 3.2).
///
/// chrono alone also accepts a lower-case `t` or `z`, a space for the `T`, offsets, fractions and
/// a leap second at any minute; the digest covers the text as written, so accepting other
/// spellings would only let two readers disagree on what is valid.
fn strict_created_at<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    use serde::de::Error as _;
    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    let shape = b"dddd-dd-ddTdd:dd:ddZ";
    let well_formed = text.len() == shape.len()
        && text.bytes().zip(shape).all(|(b, &s)| if s == b'd' { b.is_ascii_digit() } else { b == s });
    let parsed = well_formed
        .then(|| chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%SZ").ok())
        .flatten()
        // A leap second (`:60`) is refused: the writer's clock never shows one.
        .filter(|t| chrono::Timelike::second(t) < 60 && chrono::Timelike::nanosecond(t) == 0);
    parsed
        .map(|t| t.and_utc())
        .ok_or_else(|| D::Error::custom(format!("created_at {text:?} is not a UTC time written YYYY-MM-DDTHH:MM:SSZ")))
}

/// Checks that a digest member is `sha256:` and 64 lower-case hexadecimal digits.
fn check_digest(pointer: &str, value: &str) -> Result<(), ArchiveError> {
    let hex = value.strip_prefix("sha256:").unwrap_or_default();
    if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Ok(());
    }
    Err(ArchiveError::Malformed {
        pointer: pointer.into(),
        message: format!("{:?} is not sha256: and 64 lower-case hexadecimal digits", text::shorten(value)),
    })
}

/// The typed header, from the raw header text; errors point into `/header`.
fn parse_header(raw: &serde_json::value::RawValue) -> Result<Header, ArchiveError> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    let header: Header = serde_path_to_error::deserialize(&mut de).map_err(|e| ArchiveError::Malformed {
        pointer: document::pointer("/header", e.path()),
        message: e.inner().to_string(),
    })?;
    // The schema's patterns, in member order.
    check_digest("/header/content_digest", &header.content_digest)?;
    check_digest("/header/integrity_digest", &header.integrity_digest)?;
    check_digest("/header/source/fingerprint", &header.source.fingerprint)?;
    if let Ok(serde_json::Value::Object(counts)) = serde_json::to_value(header.counts) {
        for (kind, count) in counts {
            if count.as_u64().is_some_and(|n| n > schema::MAX_COUNT) {
                return Err(ArchiveError::Malformed {
                    pointer: format!("/header/counts/{kind}"),
                    message: format!("{count} is larger than {} (2^53 - 1), the largest count", schema::MAX_COUNT),
                });
            }
        }
    }
    Ok(header)
}

/// Decodes `data` that came before `format_version` and was kept as raw text.
fn decode_raw_data(version: u64, raw: &serde_json::value::RawValue) -> Result<Versioned, ArchiveError> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    let mut track = serde_path_to_error::Track::new();
    let result = document::DataSeed(version).deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track));
    result.map_err(|e| ArchiveError::Malformed {
        pointer: document::pointer("/data", &track.path()),
        message: e.to_string(),
    })
}

/// Checks the integrity digest (over the header as written), then the content digest.
fn verify_digests(
    version: u64,
    raw_header: &serde_json::value::RawValue,
    header: &Header,
    data: &Versioned,
) -> Result<(), ArchiveError> {
    let canonical = serde_json::from_str(raw_header.get()).and_then(digest::canonical_header).map_err(|e| {
        ArchiveError::Malformed { pointer: "/header".into(), message: format!("cannot canonicalise the header: {e}") }
    })?;
    let digests = data.digests();
    let content = digests.content.clone();
    let integrity = digests.integrity(version, &canonical);
    if integrity != header.integrity_digest {
        return Err(ArchiveError::Integrity(format!(
            "/header/integrity_digest says {}, the document hashes to {integrity}",
            header.integrity_digest
        )));
    }
    if content != header.content_digest {
        return Err(ArchiveError::Integrity(format!(
            "/header/content_digest says {}, the data hashes to {content}",
            header.content_digest
        )));
    }
    Ok(())
}

/// Checks the header's counts against the data, kind by kind in member order.
fn verify_counts(claimed: &Counts, actual: &Counts) -> Result<(), ArchiveError> {
    let (c, a) = (claimed, actual);
    let kinds = [
        ("admin_groups", c.admin_groups, a.admin_groups),
        ("admin_users", c.admin_users, a.admin_users),
        ("capacity", c.capacity, a.capacity),
        ("milestones", c.milestones, a.milestones),
        ("objectives", c.objectives, a.objectives),
        ("periods", c.periods, a.periods),
        ("pis", c.pis, a.pis),
        ("programs", c.programs, a.programs),
        ("sprint_mappings", c.sprint_mappings, a.sprint_mappings),
        ("sprints", c.sprints, a.sprints),
        ("teams", c.teams, a.teams),
    ];
    match kinds.into_iter().find(|(_, claimed, actual)| claimed != actual) {
        Some((kind, claimed, actual)) => Err(ArchiveError::CountsMismatch { kind: kind.into(), claimed, actual }),
        None => Ok(()),
    }
}
