//! The operations: `XxxOptions` in, `XxxReport` out (serializable, so the CLI renders them as
//! text or JSON and tests assert on data). Operations work on any [`Store`](crate::store::Store)
//! and never print; the binary renders.

pub mod admins;
pub mod diff;
pub mod export;
pub mod import;
pub mod init;
pub mod inspect;
pub mod migrate;
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
    let archive = read_archive_with(input, limits, progress)?;
    progress.phase("checking semantics", None);
    let findings = check_semantics(&archive);
    if findings.iter().any(|f| f.is_error()) {
        return Err(Error::Invalid { context: input.to_string(), findings });
    }
    Ok((archive, findings))
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
        crate::store::Location::Sqlite(path) => crate::atomic_file::parent_dir(path).join("ativo-safety-backups"),
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

/// `dir/name`, or `dir/<stem>-2.<ext>`, `-3`, ... when that is taken: two archives written in
/// the same second must not replace each other. `name` ends in `.json.zst` or `.json`.
pub fn unused_path(dir: &Path, name: &str) -> PathBuf {
    let (stem, ext) = name
        .strip_suffix(".json.zst")
        .map(|stem| (stem, ".json.zst"))
        .or_else(|| name.strip_suffix(".json").map(|stem| (stem, ".json")))
        .unwrap_or((name, ""));
    let mut path = dir.join(name);
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = dir.join(format!("{stem}-{n}{ext}"));
    }
    path
}
