//! The one way to read an archive: [`Reader`] verifies it and hands over its configuration,
//! choosing how to read it by itself, so that no operation has to.
//!
//! A regular file is read in streaming passes ([`super::stream`]): the configuration outside the
//! PIs first, then the PIs as often as the caller needs them, every pass verified again, in
//! memory that does not grow with the configuration. Standard input (or any pipe) is copied into
//! an unnamed temporary file first, so that it streams too. An archive the streaming reader does
//! not take (an older format version, a layout other than the writer's, anything wrong with it)
//! is read whole by [`super::read`], which also gives the exact error; why it was not streamed is
//! kept ([`Reader::fallback`]).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek as _};
use std::path::PathBuf;

use serde::Serialize;

use super::stream::{self, FileSource, Skeleton};
use super::{Archive, Header, Limits, Scope};
use crate::error::{ArchiveError, Error, Result};
use crate::model::validate::{Finding, Severity};
use crate::model::{Configuration, Pi};
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
            Input::File(path) => std::path::absolute(path).unwrap_or_else(|_| path.clone()).display().to_string(),
        }
    }

    /// Opens the input for reading.
    ///
    /// # Errors
    ///
    /// [`Error::File`] when the file cannot be opened.
    pub fn open(&self) -> Result<Box<dyn Read>> {
        match self {
            Input::Stdin => Ok(Box::new(io::stdin().lock())),
            Input::File(path) => {
                File::open(path).map(|f| Box::new(f) as Box<dyn Read>).map_err(|source| self.error(source))
            }
        }
    }

    /// A failure to read the input, as [`Error::File`].
    fn error(&self, source: io::Error) -> Error {
        Error::File { action: "cannot read", path: PathBuf::from(self.to_string()), source }
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

/// An archive that read back whole and verified: its header, and the findings of the semantic
/// rules (SPEC.md section 10) with the header's own rules ([`check_semantics`]).
#[derive(Debug, Clone)]
pub struct Verified {
    /// The header.
    pub header: Header,
    /// Errors and warnings, in document order.
    pub findings: Vec<Finding>,
}

impl Verified {
    /// The findings, when they allow going on: no error, or with `allow_invalid` only errors
    /// that [`waivable`] says may be waived.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] naming `context`, with all the findings, otherwise.
    pub fn accept(&self, context: &str, allow_invalid: bool) -> Result<Vec<Finding>> {
        refuse_invalid(context, self.findings.clone(), allow_invalid)
    }
}

/// How the configuration is held.
#[derive(Debug)]
enum Body {
    /// In a regular file, read in streaming passes; only the small part is held.
    Streamed { file: File, skeleton: Box<Skeleton> },
    /// Read whole: the configuration without its PIs, the PIs, and the verdict.
    Whole { skeleton: Box<Configuration>, pis: Vec<Pi>, verified: Box<Verified> },
}

/// Reads and verifies one archive (see the module documentation).
#[derive(Debug)]
pub struct Reader {
    input: Input,
    limits: Limits,
    progress: SharedProgress,
    body: Body,
    /// Why the streaming reader did not take the archive.
    fallback: Option<String>,
    /// Whether a pass has verified the archive: a later pass that does not is a changed file.
    verified_once: bool,
}

impl Reader {
    /// Opens `input` and reads the configuration outside the PIs (the whole archive when it
    /// cannot be streamed).
    ///
    /// # Errors
    ///
    /// [`Error::File`] when the input cannot be read; [`Error::Archive`] for anything wrong in
    /// the archive (exit 3, 5 or 6).
    pub fn open(input: &Input, limits: &Limits, progress: &SharedProgress) -> Result<Reader> {
        let file = match input {
            Input::File(path) => File::open(path).map_err(|e| input.error(e))?,
            Input::Stdin => spool(&mut io::stdin().lock(), limits).map_err(|e| match e {
                Error::Archive(ArchiveError::Io(source)) => input.error(source),
                other => other,
            })?,
        };
        Reader::open_file(file, input, limits, progress)
    }

    /// [`Reader::open`] of a file already open, named `input` in messages.
    ///
    /// # Errors
    ///
    /// As [`Reader::open`].
    pub fn open_file(file: File, input: &Input, limits: &Limits, progress: &SharedProgress) -> Result<Reader> {
        let meta = file.metadata().map_err(|e| input.error(e))?;
        // A FIFO or a device given by name cannot be read twice either.
        let file = if meta.is_file() { file } else { spool(&mut &file, limits)? };
        let source = source(&file, input, progress, "reading")?;
        let (body, fallback) = match stream::read_skeleton(&source, limits) {
            Ok(skeleton) => (Body::Streamed { file, skeleton: Box::new(skeleton) }, None),
            Err(why) => (read_whole(&file, input, limits, progress)?, Some(why.0)),
        };
        let verified_once = matches!(body, Body::Whole { .. });
        Ok(Reader { input: input.clone(), limits: *limits, progress: progress.clone(), body, fallback, verified_once })
    }

    /// The configuration outside the PIs (its `pis` are empty).
    pub fn data(&self) -> &Configuration {
        match &self.body {
            Body::Streamed { skeleton, .. } => skeleton.data(),
            Body::Whole { skeleton, .. } => skeleton,
        }
    }

    /// Why the archive is read whole rather than streamed, if it is (`--verbose` shows it).
    pub fn fallback(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// The input.
    pub fn input(&self) -> &Input {
        &self.input
    }

    /// Verifies the archive, reading it through once without handing the PIs over.
    ///
    /// # Errors
    ///
    /// As [`Reader::open`]; for a later call, [`Error::Archive`] when the file changed.
    pub fn verify(&mut self) -> Result<Verified> {
        self.run("checking", false, |_| Ok(())).map(|(verified, ())| verified)
    }

    /// One pass over the PIs: `consume` gets them in key order, parsed, as the archive is
    /// verified beside it. Its result counts only with the archive's verdict: when the streaming
    /// reader gives up on the first pass, the archive is read whole and `consume` runs again
    /// over those PIs.
    ///
    /// # Errors
    ///
    /// As [`Reader::verify`], and any error of `consume`.
    pub fn pass<T>(
        &mut self,
        phase: &str,
        consume: impl FnMut(&mut dyn Iterator<Item = Pi>) -> Result<T>,
    ) -> Result<(Verified, T)> {
        self.run(phase, true, consume)
    }

    /// The whole archive in memory, verified: for the operations that need all of it at once
    /// (`diff`, `inspect`, `migrate`).
    ///
    /// # Errors
    ///
    /// As [`Reader::verify`].
    pub fn read_all(mut self) -> Result<(Archive, Vec<Finding>)> {
        let (verified, pis) = self.pass("reading", |pis| Ok(pis.collect::<Vec<Pi>>()))?;
        let mut data = self.data().clone();
        data.pis = pis;
        Ok((Archive { header: verified.header, data }, verified.findings))
    }

    fn run<T>(
        &mut self,
        phase: &str,
        hand_over: bool,
        mut consume: impl FnMut(&mut dyn Iterator<Item = Pi>) -> Result<T>,
    ) -> Result<(Verified, T)> {
        let (verdict, consumed) = match &self.body {
            Body::Whole { pis, verified, .. } => {
                return Ok((Verified::clone(verified), consume(&mut pis.iter().cloned())?));
            }
            Body::Streamed { file, skeleton } => {
                let source = source(file, &self.input, &self.progress, phase)?;
                let reader = stream::Source::open(&source).map_err(|e| self.input.error(e))?;
                if hand_over {
                    stream::check_pis(reader, &self.limits, skeleton, &mut consume)
                } else {
                    (stream::check(reader, &self.limits, skeleton), consume(&mut std::iter::empty()))
                }
            }
        };
        match verdict {
            Ok(streamed) => {
                self.verified_once = true;
                let findings = with_header_rules(streamed.findings, &streamed.header, streamed.has_admins);
                Ok((Verified { header: streamed.header, findings }, consumed?))
            }
            Err(_) if self.verified_once => Err(changed(&self.input)),
            Err(why) => {
                // The first pass over the PIs found what the first over the rest could not.
                if let Body::Streamed { file, .. } = &self.body {
                    self.body = read_whole(file, &self.input, &self.limits, &self.progress)?;
                }
                self.fallback = Some(why.0);
                self.verified_once = true;
                self.run(phase, hand_over, consume)
            }
        }
    }
}

/// `file` as the streaming reader's source; each pass reports its bytes as `phase`.
fn source(
    file: &File,
    input: &Input,
    progress: &SharedProgress,
    phase: &str,
) -> Result<FileSource<impl Fn(File) -> BufReader<ProgressReader<File>> + use<>>> {
    let len = file.metadata().map(|m| m.len()).ok();
    let (progress, label) = (progress.clone(), format!("{phase} {input}"));
    // A clone of the handle shares the open file: every pass reads the file that was opened.
    let handle = file.try_clone().map_err(|e| input.error(e))?;
    Ok(FileSource::new(handle, move |file| {
        progress.phase(&label, len);
        BufReader::with_capacity(1 << 16, ProgressReader::new(file, progress.clone()))
    }))
}

/// Reads the archive in `file` whole, after the streaming reader gave up on it.
fn read_whole(file: &File, input: &Input, limits: &Limits, progress: &SharedProgress) -> Result<Body> {
    progress.phase(&format!("reading {input} whole"), file.metadata().map(|m| m.len()).ok());
    let mut file = file.try_clone().map_err(|e| input.error(e))?;
    file.rewind().map_err(|e| input.error(e))?;
    let reader = BufReader::with_capacity(1 << 16, ProgressReader::new(file, progress.clone()));
    let mut archive = super::read(reader, limits).map_err(|e| match e {
        // A read that fails (a device error) is about the file, not the archive.
        ArchiveError::Io(source) => input.error(source),
        other => other.into(),
    })?;
    progress.phase("checking semantics", None);
    let findings = check_semantics(&archive);
    // Handed over in key order, as the streaming reader does for a valid archive (the order
    // rules are semantic: an archive let through by --allow-invalid may break them).
    archive.data.sort();
    let pis = std::mem::take(&mut archive.data.pis);
    let verified = Box::new(Verified { header: archive.header, findings });
    Ok(Body::Whole { skeleton: Box::new(archive.data), pis, verified })
}

/// Reads the whole archive in `input` and checks it (integrity, version, shape, counts), not its
/// semantics: what `inspect` shows.
///
/// # Errors
///
/// As [`Reader::open`].
pub fn read_input(input: &Input, limits: &Limits) -> Result<Archive> {
    Ok(Reader::open(input, limits, &crate::progress::silent())?.read_all()?.0)
}

/// Reads the whole archive in `input` and checks everything, its semantics included: what
/// `diff` and `migrate` need.
///
/// # Errors
///
/// As [`Reader::open`], and [`Error::Invalid`] when a semantic rule is broken.
pub fn read_valid(input: &Input, limits: &Limits, progress: &SharedProgress) -> Result<(Archive, Vec<Finding>)> {
    let (archive, findings) = Reader::open(input, limits, progress)?.read_all()?;
    let findings = refuse_invalid(&input.to_string(), findings, false)?;
    Ok((archive, findings))
}

/// Copies a pipe into an unnamed temporary file, so that it can be read in passes; at most the
/// size cap, as a compressed archive is never larger than its document.
fn spool(from: &mut impl Read, limits: &Limits) -> Result<File> {
    let mut file = tempfile::tempfile().map_err(ArchiveError::Io)?;
    let copied = io::copy(&mut from.take(limits.max_size.saturating_add(1)), &mut file).map_err(ArchiveError::Io)?;
    if copied > limits.max_size {
        return Err(ArchiveError::TooLarge { limit: limits.max_size }.into());
    }
    file.rewind().map_err(ArchiveError::Io)?;
    Ok(file)
}

/// The archive file no longer reads as it did when it was checked.
fn changed(input: &Input) -> Error {
    Error::Archive(ArchiveError::Integrity(format!(
        "{input} changed or became unreadable after it was checked; nothing was written (check it and run again)"
    )))
}

/// Whether a finding is one that `--allow-invalid` waives: an error of the configuration's
/// semantic rules (SPEC.md section 10). The header rules (`archive.*`: the scope and its admins,
/// the recorded fingerprint) guard the scope and the host, which are never waived.
pub fn waivable(finding: &Finding) -> bool {
    !finding.code.starts_with("archive.")
}

/// `findings` back when they allow going on: no error at all, or, with `allow_invalid`, only
/// errors that [`waivable`] says may be waived.
///
/// # Errors
///
/// [`Error::Invalid`] naming `context` with all the findings otherwise.
pub fn refuse_invalid(context: &str, findings: Vec<Finding>, allow_invalid: bool) -> Result<Vec<Finding>> {
    let refused = |f: &Finding| f.is_error() && !(allow_invalid && waivable(f));
    if findings.iter().any(refused) {
        return Err(Error::Invalid { context: context.to_owned(), findings });
    }
    Ok(findings)
}

/// Semantic findings of a decoded archive: the model's rules, plus the header rules that need
/// the data (the scope and the admins, the recorded fingerprint and the host it describes).
pub fn check_semantics(archive: &Archive) -> Vec<Finding> {
    let findings = crate::model::validate::validate(&archive.data);
    with_header_rules(findings, &archive.header, archive.data.admins.is_some())
}

/// Appends the header rules to the model's `findings` (see [`check_semantics`]); `has_admins`
/// says whether `data` has an `admins` member.
fn with_header_rules(mut findings: Vec<Finding>, header: &Header, has_admins: bool) -> Vec<Finding> {
    let scope = match (header.scope, has_admins) {
        (Scope::Full, false) => Some((
            "/data",
            "a full archive has no admins member",
            "a full archive lists the admins (possibly none); an archive without them has scope \"migration\"",
        )),
        (Scope::Migration, true) => Some((
            "/data/admins",
            "a migration archive carries admins",
            "migration archives never carry admins: cloud sites set their own",
        )),
        _ => None,
    };
    if let Some((pointer, message, hint)) = scope {
        findings.push(error("archive.scope-admins", pointer.into(), message.into(), hint));
    }
    // SPEC.md 4.2: the token list has a canonical order too (its entries may repeat).
    let tokens = &header.api_tokens;
    if let Some(i) = tokens.windows(2).position(|pair| pair[1] < pair[0]) {
        findings.push(error(
            "order.unsorted",
            format!("/header/api_tokens/{}", i + 1),
            format!("api tokens are not in canonical order: {:?} comes after {:?}", tokens[i + 1].name, tokens[i].name),
            "sort api_tokens by (created_at, created_by, name); archives keep canonical order",
        ));
    }
    let recomputed = header.source.identity().fingerprint();
    if recomputed != header.source.fingerprint {
        findings.push(error(
            "archive.fingerprint",
            "/header/source/fingerprint".into(),
            format!(
                "the recorded fingerprint {} does not match its host fields, which give {recomputed}",
                header.source.fingerprint
            ),
            "the header was edited by hand; use an archive as the tool wrote it",
        ));
    }
    findings
}

fn error(code: &'static str, pointer: String, message: String, hint: &str) -> Finding {
    Finding { severity: Severity::Error, code, pointer, message, hint: hint.into() }
}
