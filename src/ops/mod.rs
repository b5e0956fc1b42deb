//! The operations: `XxxOptions` in, `XxxReport` out (serializable, so the CLI renders them as
//! text or JSON and tests assert on data). Operations work on any [`Store`](crate::store::Store)
//! and never print; the binary renders.

pub mod admins;
pub mod diff;
pub mod export;
pub mod host;
pub mod import;
pub mod init;
pub mod inspect;
pub mod migrate;
pub mod safety;
pub mod validate;

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::archive::{self, Archive, Limits};
use crate::error::{Error, Result};
use crate::progress::{ProgressReader, SharedProgress};

/// Where an archive comes from: a file, or standard input (`-`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum Input {
    /// A file path.
    File(PathBuf),
    /// Standard input.
    Stdin,
}

impl Input {
    /// `-` is standard input, anything else a path.
    pub fn parse(s: &str) -> Self {
        if s == "-" { Input::Stdin } else { Input::File(PathBuf::from(s)) }
    }

    /// The input as the operations log records it: a file as an absolute path (a relative one
    /// means nothing once the command's working directory is forgotten), or `<stdin>`.
    pub fn absolute(&self) -> String {
        match self {
            Input::Stdin => self.to_string(),
            Input::File(path) => absolute(path).display().to_string(),
        }
    }

    /// The size in bytes, when it is a regular file.
    pub fn size(&self) -> Option<u64> {
        match self {
            Input::Stdin => None,
            Input::File(path) => std::fs::metadata(path).ok().filter(|m| m.is_file()).map(|m| m.len()),
        }
    }

    /// Opens the input for reading.
    ///
    /// # Errors
    ///
    /// [`Error::File`] when the file cannot be opened.
    pub fn open(&self) -> Result<Box<dyn Read>> {
        match self {
            Input::Stdin => Ok(Box::new(std::io::stdin().lock())),
            Input::File(path) => File::open(path).map(|f| Box::new(f) as Box<dyn Read>).map_err(|source| Error::File {
                action: "cannot read",
                path: path.clone(),
                source,
            }),
        }
    }
}

impl std::fmt::Display for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Input::Stdin => f.write_str("<stdin>"),
            Input::File(p) => write!(f, "{}", p.display()),
        }
    }
}

impl From<Input> for String {
    fn from(input: Input) -> String {
        input.to_string()
    }
}

/// `path` made absolute against the current directory (symbolic links are not resolved, so it
/// names the file as the user did), for the operations log and reports. A path that cannot be
/// made absolute (no current directory) is kept as given.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// What kind of file `meta` describes, for messages ("a directory", "a fifo", ...).
pub(crate) fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a fifo (named pipe)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else if meta.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// Opens a regular file for one pass of the streaming reader (`archive::stream`), reporting the
/// bytes read as the phase `<phase> <path>`.
///
/// # Errors
///
/// When the file cannot be opened or is not a regular file (a pipe cannot be read twice).
pub(crate) fn open_pass(
    path: &Path,
    progress: &SharedProgress,
    phase: &str,
) -> std::io::Result<impl Read + Send + use<>> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    progress.phase(&format!("{phase} {}", path.display()), Some(meta.len()));
    let file = File::open(path)?;
    Ok(BufReader::with_capacity(1 << 16, ProgressReader::new(file, progress.clone())))
}

/// A regular file as the streaming reader's [`archive::stream::Source`]: its passes report the
/// bytes read as the phase `<phase> <path>`; pass 1 reads the ends of the file directly.
///
/// # Errors
///
/// When the file cannot be opened or is not a regular file (a pipe cannot be read twice).
pub(crate) fn file_source(
    path: &Path,
    progress: &SharedProgress,
    phase: &str,
) -> std::io::Result<archive::stream::FileSource<impl Fn(File) -> BufReader<ProgressReader<File>> + use<>>> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let (progress, label, len) = (progress.clone(), format!("{phase} {}", path.display()), meta.len());
    Ok(archive::stream::FileSource::new(file, move |file| {
        progress.phase(&label, Some(len));
        BufReader::with_capacity(1 << 16, ProgressReader::new(file, progress.clone()))
    }))
}

/// Reads and checks an archive from `input` (integrity, version, shape, counts; not semantics).
///
/// # Errors
///
/// [`Error::File`] when it cannot be opened, [`Error::Archive`] for anything wrong inside.
pub fn read_archive(input: &Input, limits: &Limits) -> Result<Archive> {
    read_archive_with(input, limits, &crate::progress::silent())
}

/// [`read_archive`], reporting the bytes read as the phase `reading <input>`.
///
/// # Errors
///
/// As [`read_archive`].
pub fn read_archive_with(input: &Input, limits: &Limits, progress: &SharedProgress) -> Result<Archive> {
    progress.phase(&format!("reading {input}"), input.size());
    let reader = ProgressReader::new(input.open()?, progress.clone());
    archive::read(BufReader::with_capacity(1 << 16, reader), limits).map_err(|e| match e {
        // A read that fails (a directory, a device error) is about the file, not the archive.
        crate::error::ArchiveError::Io(source) => {
            Error::File { action: "cannot read", path: PathBuf::from(input.to_string()), source }
        }
        other => other.into(),
    })
}

/// Reads an archive and checks its semantics: what every consumer of an archive needs.
///
/// # Errors
///
/// As [`read_archive`], plus [`Error::Invalid`] when a semantic rule is broken.
pub fn read_valid_archive(
    input: &Input,
    limits: &Limits,
    progress: &SharedProgress,
) -> Result<(Archive, Vec<crate::model::validate::Finding>)> {
    read_checked_archive(input, limits, progress, false)
}

/// [`read_valid_archive`], where `allow_invalid` lets semantic errors of the configuration
/// through (see [`refuse_invalid`]).
///
/// # Errors
///
/// As [`read_valid_archive`].
pub fn read_checked_archive(
    input: &Input,
    limits: &Limits,
    progress: &SharedProgress,
    allow_invalid: bool,
) -> Result<(Archive, Vec<crate::model::validate::Finding>)> {
    let archive = read_archive_with(input, limits, progress)?;
    progress.phase("checking semantics", None);
    let findings = refuse_invalid(&input.to_string(), check_semantics(&archive), allow_invalid)?;
    Ok((archive, findings))
}

/// Whether a finding is one that `--allow-invalid` waives: an error of the configuration's
/// semantic rules (SPEC.md section 10). The header rules (`archive.*`: the scope and its admins,
/// the recorded fingerprint) guard the scope and the host, which are never waived.
pub fn waivable(finding: &crate::model::validate::Finding) -> bool {
    !finding.code.starts_with("archive.")
}

/// `findings` back when they allow going on: no error at all, or, with `allow_invalid`, only
/// errors that [`waivable`] says may be waived.
///
/// # Errors
///
/// [`Error::Invalid`] naming `context` with all the findings otherwise.
pub fn refuse_invalid(
    context: &str,
    findings: Vec<crate::model::validate::Finding>,
    allow_invalid: bool,
) -> Result<Vec<crate::model::validate::Finding>> {
    let refused = |f: &crate::model::validate::Finding| f.is_error() && !(allow_invalid && waivable(f));
    if findings.iter().any(refused) {
        return Err(Error::Invalid { context: context.to_owned(), findings });
    }
    Ok(findings)
}

/// Semantic findings of a decoded archive: the model's rules, plus the header rules that need
/// the data (the scope and the admins, the recorded fingerprint and the host it describes).
pub fn check_semantics(archive: &Archive) -> Vec<crate::model::validate::Finding> {
    let findings = crate::model::validate::validate(&archive.data);
    with_header_rules(findings, &archive.header, archive.data.admins.is_some())
}

/// Appends the header rules to the model's `findings` (see [`check_semantics`]); `has_admins`
/// says whether `data` has an `admins` member.
pub(crate) fn with_header_rules(
    mut findings: Vec<crate::model::validate::Finding>,
    header: &archive::Header,
    has_admins: bool,
) -> Vec<crate::model::validate::Finding> {
    use crate::model::validate::{Finding, Severity};
    match (header.scope, has_admins) {
        (archive::Scope::Full, false) => findings.push(Finding {
            severity: Severity::Error,
            code: "archive.scope-admins",
            pointer: "/data".into(),
            message: "a full archive has no admins member".into(),
            hint: "a full archive lists the admins (possibly none); an archive without them has scope \"migration\""
                .into(),
        }),
        (archive::Scope::Migration, true) => findings.push(Finding {
            severity: Severity::Error,
            code: "archive.scope-admins",
            pointer: "/data/admins".into(),
            message: "a migration archive carries admins".into(),
            hint: "migration archives never carry admins: cloud sites set their own".into(),
        }),
        _ => {}
    }
    // SPEC.md 4.2: the token list has a canonical order too (its entries may repeat).
    let tokens = &header.api_tokens;
    if let Some(i) = tokens.windows(2).position(|pair| pair[1] < pair[0]) {
        findings.push(Finding {
            severity: Severity::Error,
            code: "order.unsorted",
            pointer: format!("/header/api_tokens/{}", i + 1),
            message: format!(
                "api tokens are not in canonical order: {:?} comes after {:?}",
                tokens[i + 1].name,
                tokens[i].name
            ),
            hint: "sort api_tokens by (created_at, created_by, name); archives keep canonical order".into(),
        });
    }
    let recomputed = header.source.identity().fingerprint();
    if recomputed != header.source.fingerprint {
        findings.push(Finding {
            severity: Severity::Error,
            code: "archive.fingerprint",
            pointer: "/header/source/fingerprint".into(),
            message: format!(
                "the recorded fingerprint {} does not match its host fields, which give {recomputed}",
                header.source.fingerprint
            ),
            hint: "the header was edited by hand; use an archive as the tool wrote it".into(),
        });
    }
    findings
}

/// The stable finding code of text that the store cannot hold (SPEC.md, section 9).
pub const UNSTORABLE_TEXT: &str = "store.unstorable-text";

/// The first string (or member name) of `value`, serialized as in the archive, that holds the
/// NUL character, as an error finding whose pointer is `base` followed by the string's path;
/// `None` when there is none. For stores that cannot hold it
/// ([`Store::refuses_nul_in_text`](crate::store::Store::refuses_nul_in_text)): checked before
/// anything is locked or written, so that such an archive is an invalid one (exit 3), not a
/// store failure after the safety backup.
pub(crate) fn nul_in_text(value: &impl Serialize, base: &str, store: &str) -> Option<crate::model::validate::Finding> {
    // The serialized text escapes a NUL as \u0000: without that sequence there is none. With it
    // (or a backslash followed by "u0000"), the value is walked to find where.
    let text = serde_json::to_string(value).ok()?;
    if !text.contains("\\u0000") {
        return None;
    }
    let tree = serde_json::to_value(value).ok()?;
    let mut pointer = base.to_owned();
    find_nul(&tree, &mut pointer).then(|| crate::model::validate::Finding {
        severity: crate::model::validate::Severity::Error,
        code: UNSTORABLE_TEXT,
        pointer: pointer.clone(),
        message: format!("the text at {pointer} holds the NUL character (\\u0000), which store {store} cannot hold"),
        hint: "remove the character from the archive (it is never meaningful in Ativo configuration), or restore into a SQLite store, which keeps it".into(),
    })
}

/// Whether `value` holds a NUL in a string or member name; `pointer` then ends at it.
fn find_nul(value: &serde_json::Value, pointer: &mut String) -> bool {
    use serde_json::Value;
    let push = |pointer: &mut String, token: &str| {
        pointer.push('/');
        pointer.push_str(&token.replace('~', "~0").replace('/', "~1"));
    };
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
            let len = pointer.len();
            push(pointer, &i.to_string());
            let found = find_nul(item, pointer);
            if !found {
                pointer.truncate(len);
            }
            found
        }),
        Value::Object(members) => members.iter().any(|(key, item)| {
            let len = pointer.len();
            push(pointer, key);
            let found = key.contains('\0') || find_nul(item, pointer);
            if !found {
                pointer.truncate(len);
            }
            found
        }),
        _ => false,
    }
}

/// A safe file-name fragment for a host: its base URL's host and path, other characters as `-`.
pub fn host_slug(base_url: &str) -> String {
    let without_scheme = base_url.split_once("://").map_or(base_url, |(_, rest)| rest);
    let slug: String =
        without_scheme.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' }).collect();
    slug.trim_matches('-').to_ascii_lowercase()
}

/// Where safety backups of a store go unless the caller says otherwise: beside a SQLite file,
/// or under the current directory for a server database.
pub fn default_safety_dir(location: &crate::store::Location) -> PathBuf {
    match location {
        crate::store::Location::Sqlite(path) => crate::destination::parent_dir(path).join("ativo-safety-backups"),
        crate::store::Location::Postgres(_) => PathBuf::from("ativo-safety-backups"),
    }
}

/// File name `<prefix>-<host>-<UTC time>.json.zst` (or `.json`).
pub fn archive_file_name(
    prefix: &str,
    base_url: &str,
    at: chrono::DateTime<chrono::Utc>,
    encoding: archive::Encoding,
) -> String {
    let ext = match encoding {
        archive::Encoding::Zstd => "json.zst",
        archive::Encoding::Json => "json",
    };
    format!("{prefix}-{}-{}.{ext}", host_slug(base_url), at.format("%Y%m%dT%H%M%SZ"))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_is_found_with_its_pointer_and_escaped_lookalikes_are_not() {
        let value = serde_json::json!({ "teams": [{ "key": "A", "name": "x" }, { "key": "B", "name": "Lion\u{0}s" }], "a/b": { "c~d": "\u{0}" } });
        let f = nul_in_text(&value, "/data", "s").unwrap();
        assert_eq!(f.pointer, "/data/a~1b/c~0d");
        assert_eq!(f.code, UNSTORABLE_TEXT);
        let value = serde_json::json!({ "teams": [{ "name": "x" }, { "name": "Lion\u{0}s" }] });
        assert_eq!(nul_in_text(&value, "/data", "s").unwrap().pointer, "/data/teams/1/name");
        // A backslash followed by u0000 is text, not a NUL.
        assert!(nul_in_text(&serde_json::json!({ "t": "\\u0000" }), "", "s").is_none());
        assert!(nul_in_text(&serde_json::json!({ "t": "plain" }), "", "s").is_none());
    }
}
