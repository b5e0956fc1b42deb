//! `export`: a consistent snapshot of the store, sealed, written to its destination and verified
//! by reading it back before success is reported. Where and how the file is written (atomic
//! replacement, devices, links, never over the store, rotation) is `crate::destination`'s.

use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SubsecRound as _, Utc};
use serde::Serialize;

use crate::archive::{self, Encoding, Limits, Scope};
use crate::destination::{self, Delivered, Protected};
use crate::error::{ArchiveError, Error, Result};
use crate::host::HostIdentity;
use crate::model::validate::{Finding, PiFindings, Validator, validate};
use crate::model::{ApiToken, Configuration, Counts, Pi};
use crate::progress::SharedProgress;
use crate::sink::{Observer, Tee};
use crate::store::{Operation, OperationKind, Outcome, Store};

/// Where an export goes (see [`crate::destination::Target`]).
pub use crate::destination::Target as Output;

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
    /// The file written (a symbolic link's target), or `-` for standard output.
    pub path: String,
    /// How it is encoded.
    pub encoding: Encoding,
    /// Its size in bytes.
    pub bytes: u64,
    /// Whether the destination itself was read back to verify it (not possible for standard
    /// output, a device or a FIFO: the archive was verified in a temporary file before it was
    /// copied there).
    pub read_back: bool,
    /// Whether the archive went to standard output (`-`, or a path that is the same file), where
    /// nothing else may then be printed.
    pub to_stdout: bool,
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
    /// The semantic findings of the configuration exported (SPEC.md section 10). A backup is
    /// never refused for its content: errors here are reported, the archive is written, and
    /// `import --allow-invalid` restores it.
    pub findings: Vec<Finding>,
    /// What the admin should know, the archive being good all the same: a destination that
    /// could not be read back, files rotation left alone, a log entry that was not written.
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
    let protected = Protected::files(&store.location(), &store.files());
    let created_at = Utc::now().trunc_subsecs(0);
    let encoding = match &options.output {
        Output::File(p) => options.encoding.unwrap_or_else(|| encoding_for(p)),
        Output::Dir(_) | Output::Stdout => options.encoding.unwrap_or(Encoding::Zstd),
    };
    let name = super::archive_file_name("ativo", &host.base_url, created_at, encoding);
    let ((delivered, header), findings) = match encoding {
        // The default: streamed from the store into the archive in bounded memory.
        Encoding::Zstd => {
            options.progress.phase("reading the store and writing the archive", None);
            // The configuration is checked as it streams by, the PIs one at a time against the
            // rest (model::validate::Validator), so that its findings come with the archive.
            let skeleton = std::cell::OnceCell::new();
            let mut checker = Checker {
                scope: options.scope,
                skeleton: &skeleton,
                validator: None,
                findings: PiFindings::default(),
                keys: Vec::new(),
            };
            let written =
                write_streamed(&options.output, &name, &protected, &host, options.scope, created_at, |stream| {
                    store.stream_snapshot(&mut Tee { observer: &mut checker, sink: stream })
                })?;
            (written, checker.finish())
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
            let sealed = archive::seal(data, &host, options.scope, snapshot.api_tokens, created_at);
            let shown = shown_path(&options.output, &name);
            let (mut delivered, ()) = destination::deliver(
                &options.output,
                &name,
                &protected,
                |file, _| archive::write_json(&sealed, file).map_err(write_error(&shown)),
                |file, written| Ok(archive::verify_json(BufReader::with_capacity(1 << 16, file), written)?),
            )
            .map(|(delivered, _)| (delivered, ()))?;
            delivered.notes.extend(archive::OverLimits::of(&sealed.data, true));
            let findings = validate(&sealed.data);
            ((delivered, sealed.header), findings)
        }
    };
    options.progress.finish();
    let mut warnings = delivered.notes.clone();
    let removed = match (&options.output, options.keep) {
        (Output::Dir(dir), Some(keep)) => {
            let rotation = destination::rotate(dir, &host, keep, delivered.file_id, Utc::now(), verified_header)?;
            warnings.extend(rotation.warnings);
            rotation.removed
        }
        _ => Vec::new(),
    };
    let report = ExportReport {
        path: delivered.path.clone(),
        encoding,
        bytes: delivered.bytes,
        read_back: delivered.read_back,
        to_stdout: delivered.to_stdout,
        scope: options.scope,
        counts: header.counts,
        content_digest: header.content_digest.clone(),
        integrity_digest: header.integrity_digest.clone(),
        fingerprint: header.source.fingerprint.clone(),
        removed,
        warnings,
        findings,
    };
    let logged = store.record(&Operation {
        id: 0,
        at: Utc::now(),
        kind: OperationKind::Export,
        os_user: crate::store::current_os_user(),
        archive_digest: Some(report.integrity_digest.clone()),
        content_digest: Some(report.content_digest.clone()),
        outcome: Outcome::Ok,
        // The log names the archive by its absolute path: the command's directory is forgotten.
        detail: serde_json::json!({
            "path": if report.to_stdout && report.path == "-" { report.path.clone() } else { super::absolute(Path::new(&report.path)).display().to_string() },
            "bytes": report.bytes,
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

/// Checks the configuration an export streams (SPEC.md section 10), a PI at a time against
/// the rest, as the archive will hold it (a migration archive without the admins).
struct Checker<'a> {
    scope: Scope,
    skeleton: &'a std::cell::OnceCell<Configuration>,
    validator: Option<Validator<'a>>,
    findings: PiFindings,
    keys: Vec<String>,
}

impl Checker<'_> {
    fn finish(self) -> Vec<Finding> {
        match self.validator {
            Some(validator) => validator.finish(self.findings, self.keys.iter().map(String::as_str)),
            None => Vec::new(),
        }
    }
}

impl<'a> Observer for &mut Checker<'a> {
    fn start(&mut self, config: &Configuration, _: &[ApiToken]) -> Result<()> {
        let mut written = config.clone();
        if self.scope == Scope::Migration {
            written.admins = None;
        }
        let skeleton: &'a std::cell::OnceCell<Configuration> = self.skeleton;
        self.validator = Some(Validator::new(skeleton.get_or_init(|| written)));
        Ok(())
    }

    fn pi(&mut self, pi: &Pi) -> Result<()> {
        if let Some(validator) = &self.validator {
            validator.check_pi(self.keys.len(), pi, &mut self.findings);
            self.keys.push(pi.key.clone());
        }
        Ok(())
    }
}

/// The header of the archive in `file`, once the archive has verified (integrity, digests,
/// counts): what rotation orders and matches archives by.
fn verified_header(file: std::fs::File, path: &Path) -> Result<archive::Header> {
    let input = archive::Input::File(path.to_path_buf());
    Ok(archive::Reader::open_file(file, &input, &Limits::default(), &crate::progress::silent())?.verify()?.header)
}

/// The destination as messages name it before it is written.
fn shown_path(output: &Output, name: &str) -> PathBuf {
    match output {
        Output::File(path) => path.clone(),
        Output::Dir(dir) => dir.join(name),
        Output::Stdout => PathBuf::from("<stdout>"),
    }
}

/// `.json` means plain JSON; everything else is zstd.
pub fn encoding_for(path: &std::path::Path) -> Encoding {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) { Encoding::Json } else { Encoding::Zstd }
}

/// A failed write of the archive names the destination, not just errno.
fn write_error(path: &Path) -> impl Fn(ArchiveError) -> Error + '_ {
    move |e| match e {
        ArchiveError::Io(source) => Error::File { action: "cannot write", path: path.to_path_buf(), source },
        other => other.into(),
    }
}

/// Streams an archive to `output` (see [`archive::spool`] and [`archive::Spooled::verify`]):
/// `feed` hands the configuration to the [`archive::DataStream`]. The compressed data wait in a
/// temporary file on the destination's file system until the header is known. Returns how the
/// archive was delivered and its header.
///
/// # Errors
///
/// Any error of `feed` (a store that cannot be read); those of [`destination::deliver`]; an
/// [`Error::Archive`] when the archive does not read back as written. Nothing is left at the
/// destination on error.
pub fn write_streamed<'a>(
    output: &Output,
    name: &str,
    protected: &Protected,
    host: &HostIdentity,
    scope: Scope,
    created_at: DateTime<Utc>,
    feed: impl FnOnce(&mut archive::DataStream<'a>) -> Result<()>,
) -> Result<(Delivered, archive::Header)> {
    let shown = shown_path(output, name);
    let (mut delivered, spooled) = destination::deliver(
        output,
        name,
        protected,
        |file, scratch| {
            let mut spooled = archive::spool(scratch, host, scope, created_at, feed).map_err(|e| match e {
                Error::Archive(ArchiveError::Io(source)) => {
                    Error::File { action: "cannot write", path: shown.clone(), source }
                }
                other => other,
            })?;
            let mut out = BufWriter::with_capacity(1 << 20, file);
            spooled.write_to(&mut out).map_err(write_error(&shown))?;
            out.flush().map_err(|source| Error::File { action: "cannot write", path: shown.clone(), source })?;
            Ok(spooled)
        },
        |file, spooled| Ok(spooled.verify(&mut *file)?),
    )?;
    delivered.notes.extend(spooled.over_limits);
    Ok((delivered, spooled.header))
}
