//! `export`: a consistent snapshot of the store, sealed, written atomically and verified by
//! reading it back before success is reported.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use chrono::{DateTime, SubsecRound as _, Utc};
use serde::Serialize;

use crate::archive::{self, Encoding, Limits, Scope};
use crate::atomic_file::write_atomically;
use crate::error::{ArchiveError, Error, Result};
use crate::host::HostIdentity;
use crate::model::Counts;
use crate::progress::SharedProgress;
use crate::store::{Operation, Store};

/// Where an export goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// This file (replaced atomically if it exists).
    File(PathBuf),
    /// A file with the default name (`ativo-<host>-<UTC time>.json.zst`) in this directory.
    Dir(PathBuf),
    /// Standard output (the archive is still verified first, through a temporary file).
    Stdout,
}

/// What to export and how.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Destination.
    pub output: Output,
    /// zstd or plain JSON; `None` picks by the file name (`.json` is plain, anything else zstd).
    pub encoding: Option<Encoding>,
    /// `full`, or `migration` (without the admins).
    pub scope: Scope,
    /// With [`Output::Dir`]: keep only the newest N archives of this host written there.
    pub keep: Option<usize>,
    /// Progress receiver.
    pub progress: SharedProgress,
}

/// What an export did.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// The file written, or `-` for standard output.
    pub path: String,
    /// How it is encoded.
    pub encoding: Encoding,
    /// Its size in bytes.
    pub bytes: u64,
    /// Scope of the archive.
    pub scope: Scope,
    /// Entities per kind.
    pub counts: Counts,
    /// Digest of the configuration.
    pub content_digest: String,
    /// Digest of the whole archive.
    pub integrity_digest: String,
    /// The source host's fingerprint.
    pub fingerprint: String,
    /// Older archives removed by `keep`.
    pub removed: Vec<String>,
    /// Things that went wrong after the archive was safely written (it is still good).
    pub warnings: Vec<String>,
}

/// Exports the store's configuration.
///
/// # Errors
///
/// [`Error::Store`] when the store cannot be read, [`Error::File`] when the archive cannot be
/// written (nothing is left at the destination then), [`Error::Archive`] if the written archive
/// does not read back identically (a failing disk or a bug; nothing is left either).
pub fn export(store: &mut dyn Store, options: &ExportOptions) -> Result<ExportReport> {
    let host = store.host()?.identity;
    let created_at = Utc::now().trunc_subsecs(0);
    let (path, encoding) = match &options.output {
        Output::File(p) => (p.clone(), options.encoding.unwrap_or_else(|| encoding_for(p))),
        Output::Dir(dir) => {
            let encoding = options.encoding.unwrap_or(Encoding::Zstd);
            let name = super::archive_file_name("ativo", &host.base_url, created_at, encoding);
            (super::unused_path(dir, &name), encoding)
        }
        Output::Stdout => {
            (std::env::temp_dir().join("ativo-export-stdout"), options.encoding.unwrap_or(Encoding::Zstd))
        }
    };
    let (header, bytes) = match encoding {
        // The default: streamed from the store into the archive in bounded memory.
        Encoding::Zstd => {
            options.progress.phase("reading the store and writing the archive", None);
            let scope = options.scope;
            let feed = |stream: &mut archive::DataStream<'_>| -> Result<()> {
                // Both callbacks write to the one stream, one after the other.
                let stream = std::cell::RefCell::new(stream);
                store.stream_snapshot(&mut |config, tokens| Ok(stream.borrow_mut().start(config, tokens)?), &mut |pi| {
                    Ok(stream.borrow_mut().pi(std::borrow::Cow::Owned(pi))?)
                })
            };
            match &options.output {
                Output::Stdout => write_streamed_to_stdout(&host, scope, created_at, feed)?,
                _ => write_streamed_file(&path, &host, scope, created_at, feed)?,
            }
        }
        // Plain JSON is pretty-printed for review; it is built from a snapshot in memory.
        Encoding::Json => {
            options.progress.phase("reading the store", None);
            let snapshot = store.snapshot()?;
            options.progress.phase("writing and verifying the archive", None);
            let mut data = snapshot.config;
            if options.scope == Scope::Migration {
                data.admins = None;
            }
            let sealed = archive::seal_counted(data, &host, options.scope, snapshot.api_tokens, created_at);
            let bytes = match &options.output {
                Output::Stdout => write_verified_to_stdout(&sealed, encoding)?,
                _ => write_archive_file(&path, &sealed, encoding)?,
            };
            (sealed.archive.header, bytes)
        }
    };
    options.progress.finish();
    let removed = match (&options.output, options.keep) {
        (Output::Dir(dir), Some(keep)) => rotate(dir, &host, keep)?,
        _ => Vec::new(),
    };
    let report = ExportReport {
        path: if options.output == Output::Stdout { "-".into() } else { path.display().to_string() },
        encoding,
        bytes,
        scope: options.scope,
        counts: header.counts,
        content_digest: header.content_digest.clone(),
        integrity_digest: header.integrity_digest.clone(),
        fingerprint: header.source.fingerprint.clone(),
        removed: removed.iter().map(|p| p.display().to_string()).collect(),
        warnings: Vec::new(),
    };
    let logged = store.record(&Operation {
        id: 0,
        at: Utc::now(),
        kind: "export".into(),
        os_user: crate::store::current_os_user(),
        archive_digest: Some(report.integrity_digest.clone()),
        content_digest: Some(report.content_digest.clone()),
        outcome: "ok".into(),
        // The log names the archive by its absolute path: the command's directory is forgotten.
        detail: serde_json::json!({
            "path": if report.path == "-" { report.path.clone() } else { super::absolute(&path).display().to_string() },
            "bytes": bytes,
            "scope": options.scope,
        }),
    });
    // The archive is written, verified and in place: failing the command now (say, because an
    // import holds the store's write lock longer than the wait) would tell a backup script that
    // there is no backup when there is one. The missing log entry is reported instead.
    let mut report = report;
    if let Err(e) = logged {
        report.warnings.push(format!("the archive is complete, but the operations log entry was not written: {e}"));
    }
    Ok(report)
}

/// Removes all but the newest `keep` archives of `host` in `dir`, and returns what it removed.
///
/// Only files this tool names for this host (`ativo-<host>-<YYYYMMDDTHHMMSSZ>.json.zst` or
/// `.json`, with a `-<n>` suffix when several were written in one second) *and* whose header
/// names this host's fingerprint are candidates: other files, other hosts' archives, and files
/// that merely look like ours are never touched. Newest is by the UTC time in the name, which
/// sorts as text, then by the suffix.
///
/// # Errors
///
/// [`Error::File`] when the directory cannot be listed or a file cannot be removed.
pub fn rotate(dir: &std::path::Path, host: &crate::host::HostIdentity, keep: usize) -> Result<Vec<PathBuf>> {
    let prefix = format!("ativo-{}-", super::host_slug(&host.base_url));
    let fingerprint = host.fingerprint();
    let entries = std::fs::read_dir(dir).map_err(|source| Error::File {
        action: "cannot list",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut ours: Vec<((String, u32), PathBuf)> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".json.zst").or_else(|| rest.strip_suffix(".json")))
        else {
            continue;
        };
        // `<stamp>` or `<stamp>-<n>` (see `unused_path`).
        let (stamp, n) = match stem.split_once('-') {
            Some((stamp, n)) => (stamp, n.parse::<u32>().ok()),
            None => (stem, Some(1)),
        };
        let Some(n) = n else { continue };
        let is_stamp = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").is_ok();
        if is_stamp && header_fingerprint(&entry.path()).as_deref() == Some(fingerprint.as_str()) {
            ours.push(((stamp.to_owned(), n), entry.path()));
        }
    }
    ours.sort();
    let excess = ours.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for (_, path) in ours.into_iter().take(excess) {
        std::fs::remove_file(&path).map_err(|source| Error::File {
            action: "cannot remove",
            path: path.clone(),
            source,
        })?;
        removed.push(path);
    }
    Ok(removed)
}

/// The source fingerprint in an archive's header, if it is a readable archive.
fn header_fingerprint(path: &std::path::Path) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    // The header comes first in archives we write: no need to decode the data to know the host.
    archive::read_header(std::io::BufReader::new(file), &Limits::default()).ok().map(|(_, h)| h.source.fingerprint)
}

/// `.json` means plain JSON; everything else is zstd.
pub fn encoding_for(path: &std::path::Path) -> Encoding {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) { Encoding::Json } else { Encoding::Zstd }
}

/// Writes `sealed` to `path` atomically and verifies it by reading it back: the file must
/// decompress to exactly the document bytes written (same length, same SHA-256; see
/// [`archive::verify_written`] for why that is the archive as sealed). Returns the file size.
///
/// # Errors
///
/// As [`export`]; nothing is left at `path` on error.
pub fn write_archive_file(path: &std::path::Path, sealed: &archive::Sealed, encoding: Encoding) -> Result<u64> {
    // Filled by the writing closure, read by the verifying one.
    let written = std::cell::Cell::new(None);
    write_atomically(
        path,
        |file| {
            let mut out = BufWriter::with_capacity(1 << 20, file);
            // A failing write (disk full, file-size limit) names the destination, not just errno.
            let sealed_written = archive::write_sealed(sealed, &mut out, encoding).map_err(|e| match e {
                crate::error::ArchiveError::Io(source) => {
                    Error::File { action: "cannot write", path: path.to_path_buf(), source }
                }
                other => other.into(),
            })?;
            written.set(Some(sealed_written));
            out.flush().map_err(|source| Error::File { action: "cannot write", path: path.to_path_buf(), source })
        },
        |file| {
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            verify_same(written.get().as_ref(), encoding, std::io::BufReader::with_capacity(1 << 16, file))?;
            Ok(len)
        },
    )
}

/// A failed write of the archive names the destination, not just errno.
fn write_error(path: &std::path::Path) -> impl Fn(ArchiveError) -> Error + '_ {
    move |e| match e {
        ArchiveError::Io(source) => Error::File { action: "cannot write", path: path.to_path_buf(), source },
        other => other.into(),
    }
}

/// Streams an archive into `path` atomically and verifies it by reading it back (see
/// [`archive::spool`] and [`archive::Spooled::verify`]): `feed` hands the configuration to the
/// [`archive::DataStream`]. The compressed data wait in a temporary file beside `path` until the
/// header is known. Returns the header and the file size.
///
/// # Errors
///
/// Any error of `feed` (a store that cannot be read); [`Error::File`] when the archive cannot be
/// written; [`Error::Archive`] when it does not read back as written. Nothing is left at `path`
/// on error.
pub fn write_streamed_file<'a>(
    path: &std::path::Path,
    host: &HostIdentity,
    scope: Scope,
    created_at: DateTime<Utc>,
    feed: impl FnOnce(&mut archive::DataStream<'a>) -> Result<()>,
) -> Result<(archive::Header, u64)> {
    let spooled = std::cell::RefCell::new(None);
    let bytes = write_atomically(
        path,
        |file| {
            let dir = crate::atomic_file::parent_dir(path);
            let mut done = archive::spool(&dir, host, scope, created_at, feed).map_err(|e| match e {
                Error::Archive(ArchiveError::Io(source)) => {
                    Error::File { action: "cannot write", path: path.to_path_buf(), source }
                }
                other => other,
            })?;
            let mut out = BufWriter::with_capacity(1 << 20, file);
            done.write_to(&mut out).map_err(write_error(path))?;
            out.flush().map_err(|source| Error::File { action: "cannot write", path: path.to_path_buf(), source })?;
            *spooled.borrow_mut() = Some(done);
            Ok(())
        },
        |file| {
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            let spooled = spooled.borrow();
            let spooled = spooled.as_ref().ok_or_else(not_written)?;
            spooled.verify(&mut *file)?;
            Ok(len)
        },
    )?;
    let header = spooled.into_inner().ok_or_else(not_written)?.header;
    Ok((header, bytes))
}

fn not_written() -> Error {
    ArchiveError::Integrity("the archive was not written, so it cannot be verified".into()).into()
}

/// [`write_streamed_file`] for standard output: the archive is written and verified in a
/// temporary file first, so that nothing unverified reaches the pipe.
fn write_streamed_to_stdout<'a>(
    host: &HostIdentity,
    scope: Scope,
    created_at: DateTime<Utc>,
    feed: impl FnOnce(&mut archive::DataStream<'a>) -> Result<()>,
) -> Result<(archive::Header, u64)> {
    let dir = std::env::temp_dir();
    let tmp_error =
        |source| Error::File { action: "cannot use a temporary file in", path: std::env::temp_dir(), source };
    let mut spooled = archive::spool(&dir, host, scope, created_at, feed)?;
    let mut tmp = tempfile::tempfile_in(&dir).map_err(tmp_error)?;
    {
        let mut out = BufWriter::with_capacity(1 << 20, &mut tmp);
        spooled.write_to(&mut out)?;
        out.flush().map_err(tmp_error)?;
    }
    use std::io::{Seek, SeekFrom};
    tmp.seek(SeekFrom::Start(0)).map_err(tmp_error)?;
    spooled.verify(&mut tmp)?;
    tmp.seek(SeekFrom::Start(0)).map_err(tmp_error)?;
    let stdout_error = |source| Error::File { action: "cannot write", path: PathBuf::from("<stdout>"), source };
    let mut stdout = std::io::stdout().lock();
    let bytes = std::io::copy(&mut tmp, &mut stdout).map_err(stdout_error)?;
    stdout.flush().map_err(stdout_error)?;
    Ok((spooled.header, bytes))
}

fn write_verified_to_stdout(sealed: &archive::Sealed, encoding: Encoding) -> Result<u64> {
    let tmp_error =
        |source| Error::File { action: "cannot use a temporary file in", path: std::env::temp_dir(), source };
    let mut tmp = tempfile::tempfile().map_err(tmp_error)?;
    let written = {
        let mut out = BufWriter::with_capacity(1 << 20, &mut tmp);
        let written = archive::write_sealed(sealed, &mut out, encoding)?;
        out.flush().map_err(tmp_error)?;
        written
    };
    use std::io::{Seek, SeekFrom};
    tmp.seek(SeekFrom::Start(0)).map_err(tmp_error)?;
    verify_same(Some(&written), encoding, std::io::BufReader::with_capacity(1 << 16, &mut tmp))?;
    tmp.seek(SeekFrom::Start(0)).map_err(tmp_error)?;
    let stdout_error = |source| Error::File { action: "cannot write", path: PathBuf::from("<stdout>"), source };
    let mut stdout = std::io::stdout().lock();
    let bytes = std::io::copy(&mut tmp, &mut stdout).map_err(stdout_error)?;
    stdout.flush().map_err(stdout_error)?;
    Ok(bytes)
}

fn verify_same(written: Option<&archive::Written>, encoding: Encoding, reader: impl std::io::Read) -> Result<()> {
    let written = written.ok_or_else(|| {
        crate::error::ArchiveError::Integrity("the archive was not written, so it cannot be verified".into())
    })?;
    Ok(archive::verify_written(reader, encoding, written)?)
}
