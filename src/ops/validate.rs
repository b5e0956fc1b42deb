//! `validate`: checks archives without any store, for CI. Each file gets a [`FileReport`]; the
//! exit code of a run is the highest of its files' codes.

use serde::Serialize;

use super::Input;
use crate::archive::{Limits, Scope};
use crate::error::{Error, exit};
use crate::model::Counts;
use crate::model::validate::{Finding, Severity};
use crate::progress::SharedProgress;

/// Version of the JSON report format of `validate --format json` (SPEC.md).
pub const REPORT_VERSION: u32 = 1;

/// What to validate.
#[derive(Debug, Clone)]
pub struct ValidateOptions {
    /// The archives.
    pub inputs: Vec<Input>,
    /// Limits against hostile input.
    pub limits: Limits,
    /// Treat warnings as failures.
    pub strict: bool,
    /// Progress receiver.
    pub progress: SharedProgress,
}

/// The result for one archive.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The file.
    pub file: String,
    /// Whether it passed.
    pub ok: bool,
    /// The exit code this file alone gives.
    pub exit_code: u8,
    /// Format version, when it could be read.
    pub format_version: Option<u32>,
    /// Scope, when it could be read.
    pub scope: Option<Scope>,
    /// Counts, when the archive could be read.
    pub counts: Option<Counts>,
    /// Content digest, when the archive could be read.
    pub content_digest: Option<String>,
    /// Source host fingerprint, when the archive could be read.
    pub fingerprint: Option<String>,
    /// Findings: semantic findings, or one finding describing why the archive cannot be read.
    pub findings: Vec<Finding>,
    /// Why the archive was read whole rather than streamed, when it was (an older format
    /// version, a layout other than the writer's); informative.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_whole: Option<String>,
}

/// The result of a validate run.
#[derive(Debug, Clone, Serialize)]
pub struct ValidateReport {
    /// [`REPORT_VERSION`].
    pub report_version: u32,
    /// The highest exit code of all files.
    pub exit_code: u8,
    /// One per input, in order.
    pub files: Vec<FileReport>,
}

/// Validates every input.
pub fn validate(options: &ValidateOptions) -> ValidateReport {
    let files: Vec<FileReport> = options.inputs.iter().map(|input| validate_one(input, options)).collect();
    options.progress.finish();
    let exit_code = files.iter().map(|f| f.exit_code).max().unwrap_or(exit::OK);
    ValidateReport { report_version: REPORT_VERSION, exit_code, files }
}

fn validate_one(input: &Input, options: &ValidateOptions) -> FileReport {
    let mut report = FileReport {
        file: input.to_string(),
        ok: false,
        exit_code: exit::OK,
        format_version: None,
        scope: None,
        counts: None,
        content_digest: None,
        fingerprint: None,
        findings: Vec::new(),
        read_whole: None,
    };
    let verdict = crate::archive::Reader::open(input, &options.limits, &options.progress).and_then(|mut reader| {
        let verified = reader.verify()?;
        Ok((verified, reader.fallback().map(str::to_owned)))
    });
    match verdict {
        Err(error) => {
            report.exit_code = error.exit_code();
            report.findings.push(error_finding(&error));
        }
        Ok((crate::archive::Verified { header, findings }, fallback)) => {
            report.read_whole = fallback;
            report.format_version = Some(crate::archive::FORMAT_VERSION);
            report.scope = Some(header.scope);
            report.counts = Some(header.counts);
            report.content_digest = Some(header.content_digest);
            report.fingerprint = Some(header.source.fingerprint);
            report.findings = findings;
            let failing = |f: &Finding| f.is_error() || (options.strict && f.severity == Severity::Warning);
            if report.findings.iter().any(failing) {
                report.exit_code = exit::INVALID;
            }
        }
    }
    report.ok = report.exit_code == exit::OK;
    report
}

/// An error that stops an archive from being read, as a finding with a stable code.
fn error_finding(error: &Error) -> Finding {
    use crate::error::ArchiveError as A;
    let (code, pointer, hint) = match error {
        Error::Archive(A::NotAnArchive(_)) => {
            ("archive.not-an-archive", String::new(), "give a .json.zst or .json file written by ativo-backup export")
        }
        Error::Archive(A::Malformed { pointer, .. }) => (
            "archive.schema",
            pointer.clone(),
            "the document does not match the format; compare it with `ativo-backup schema`",
        ),
        Error::Archive(A::CountsMismatch { kind, .. }) => (
            "archive.counts",
            format!("/header/counts/{kind}"),
            "the header's counts were edited; use an archive as the tool wrote it",
        ),
        Error::Archive(A::Integrity(_)) => {
            ("archive.integrity", String::new(), "the archive is damaged or was edited; use another copy")
        }
        Error::Archive(A::TooLarge { .. }) => {
            ("archive.too-large", String::new(), "raise --max-size if the archive is trusted")
        }
        Error::Archive(A::UnsupportedVersion { .. }) => {
            ("archive.version", "/format_version".into(), "upgrade ativo-backup")
        }
        Error::File { .. } => ("file.unreadable", String::new(), "check the path and its permissions"),
        _ => ("archive.error", String::new(), "this is a bug in ativo-backup: please report it with the message"),
    };
    Finding { severity: Severity::Error, code, pointer, message: error.to_string(), hint: hint.into() }
}
