//! Streaming validation of an archive file: the same verdict as [`super::read`] followed by
//! `model::validate`, in flat memory and several times faster, for archives as the writer lays
//! them out.
//!
//! Why: [`super::read`] builds the whole typed tree (hundreds of MB for the largest
//! configurations) through serde_json's byte-at-a-time `IoRead`. Here a small structural scanner
//! splits the decompressed document into its top-level members and, inside `data`, into array
//! elements; each element is parsed from a slice (serde_json's fast path, from a `&str` whose
//! UTF-8 was checked once for many elements) into the same model type, so the strictness
//! (unknown members, nulls, dates) is the model's own.
//!
//! Two passes over the file, because PIs come before the programs and teams they are checked
//! against (canonical member order):
//! 1. the header and the small parts of `data` (admins, periods, programs, settings, teams) into a
//!    skeleton [`Configuration`] with no PIs. Only the two ends of the document are read, until
//!    the start and the end of the PI array are in sight: for zstd, the frames there are found
//!    by their headers and decompressed (`frames.rs`; the reference writer gives the data around
//!    the PIs frames of their own, SPEC.md 2.1), for plain JSON the bytes there are read. Where
//!    that does not work (pretty-printed JSON, more than 16 MiB or 64 frames at an end), the whole
//!    document is read and the PIs skipped (a compact PI array by searching for what follows it,
//!    anything else element by element). Pass 1 only prepares: it holds at most 16 MiB at either
//!    end, or, reading the whole document, checks the size cap alone (and zstd's window limit)
//!    and holds no value over 4 MiB; everything it took is read again by pass 2 and compared;
//! 2. the whole document again, as a pipeline ([`check_pis`]): one thread decompresses, walks the
//!    document and cuts the PI array into runs of PIs (a compact array at the bytes between two
//!    PIs, `},{"capacity":`, any other element by element); one thread hashes the runs for the
//!    content and integrity digests (both at once, `sha_pair.rs`) over the PIs' bytes as they
//!    are in the file; one thread per core (up to four) parses, counts and checks them
//!    ([`Validator::check_pi`], each run's findings kept apart and put back in PI order),
//!    checks that each PI's bytes are its canonical form, without which those digests would not
//!    be the full reader's (`model::canonical::is_canonical_form`), and hands them on in
//!    document order to an import, or drops them. Only the PIs' keys are kept.
//!
//! Pass 2 also fingerprints the non-PI bytes and compares them with pass 1's, so that a file that
//! changes between the passes is not judged from two different documents.
//!
//! # Limits
//!
//! The size cap is enforced on the bytes as they are decompressed, in both passes. The nesting,
//! token and entity limits are checked without the guard's scan of every byte: every value is
//! parsed into a model type that refuses unknown members, so nothing nests deeper than the model
//! does (`MODEL_DEPTH`, checked against the JSON Schema by a test); a string or number longer
//! than the limit can only be in a value longer than the limit, whose tokens are then measured;
//! a PI's canonical size is its text once that is known to be its canonical form (measured
//! otherwise), and the entities outside the PIs are measured after pass 2. With a nesting limit
//! below the model's depth, pass 2 reads through the full guard instead.
//!
//! Anything unusual makes the fast path give up ([`None`]) rather than judge: a member out of the
//! writer's order, an escaped member name, a version other than the current one, any parse error,
//! limit, I/O error, digest or count mismatch. The caller then runs [`super::read`], which gives
//! the exact error messages and exit codes. So this path only ever accepts documents the slow
//! path accepts, and for those it computes the same header, digests, counts and findings.

use std::io::{self, Read};
use std::ops::Range;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use serde::Deserialize as _;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};

use super::digest::DataHasher;
use super::frames;
use super::guard::{self, Guard};
use super::sniff::{self, Layout, MAX_WINDOW_LOG};
use super::{FORMAT, FORMAT_VERSION, Header, Limits};
use crate::model::canonical::{data_around_pis, is_canonical_form};
use crate::model::validate::{Finding, PiFindings, Validator};
use crate::model::{Configuration, Counts, Pi};

/// What the fast path found in a valid (readable) archive.
#[derive(Debug)]
pub struct Streamed {
    /// The header, as [`super::read`] decodes it.
    pub header: Header,
    /// Whether `data` has an `admins` member (the scope rule needs it).
    pub has_admins: bool,
    /// `model::validate` of the whole configuration, in document order.
    pub findings: Vec<Finding>,
}

/// The fast path gave up; the caller runs [`super::read`] for the verdict.
#[derive(Debug)]
struct FallBack;

type Step<T> = Result<T, FallBack>;

impl From<io::Error> for FallBack {
    fn from(_: io::Error) -> Self {
        FallBack
    }
}

impl From<serde_json::Error> for FallBack {
    fn from(_: serde_json::Error) -> Self {
        FallBack
    }
}

/// An archive file as the fast path reads it: in passes from the first byte, and (pass 1) at
/// any offset. A regular file is one ([`FileSource`]), and so is a byte slice; a pipe is not:
/// it cannot be read twice.
pub trait Source {
    /// The reader of one pass.
    type Reader<'s>: Read + Send
    where
        Self: 's;

    /// A pass from the first byte.
    ///
    /// # Errors
    ///
    /// When the archive cannot be read (the fast path then gives up).
    fn open(&self) -> io::Result<Self::Reader<'_>>;

    /// Reads the bytes at `offset` into `buf`, as `pread` does: fewer than asked only at the end.
    ///
    /// # Errors
    ///
    /// When the archive cannot be read (the fast path then gives up).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl Source for [u8] {
    type Reader<'s> = &'s [u8];

    fn open(&self) -> io::Result<&[u8]> {
        Ok(self)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let rest = usize::try_from(offset).ok().and_then(|at| self.get(at..)).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }
}

/// A regular file as a [`Source`]; each pass goes through `wrap` (a progress reader, say).
pub struct FileSource<W> {
    file: std::fs::File,
    wrap: W,
}

impl<W, R> FileSource<W>
where
    W: Fn(std::fs::File) -> R,
    R: Read + Send,
{
    /// `file`, read in passes through `wrap`.
    pub fn new(file: std::fs::File, wrap: W) -> Self {
        FileSource { file, wrap }
    }
}

impl<W, R> Source for FileSource<W>
where
    W: Fn(std::fs::File) -> R,
    R: Read + Send,
{
    type Reader<'s>
        = R
    where
        Self: 's;

    fn open(&self) -> io::Result<R> {
        let mut file = self.file.try_clone()?;
        io::Seek::rewind(&mut file)?;
        Ok((self.wrap)(file))
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        #[cfg(unix)]
        return std::os::unix::fs::FileExt::read_at(&self.file, buf, offset);
        #[cfg(windows)]
        return std::os::windows::fs::FileExt::seek_read(&self.file, buf, offset);
        // Elsewhere pass 1 reads the whole document instead.
        #[cfg(not(any(unix, windows)))]
        return Err(io::Error::from(io::ErrorKind::Unsupported));
    }
}

/// Validates the archive in `source` (pass 1, then pass 2).
///
/// `None` means "no verdict here": run [`super::read`] and `model::validate` instead. `Some` is
/// the verdict of that slow path for an archive it reads successfully.
pub fn validate(source: &(impl Source + ?Sized), limits: &Limits) -> Option<Streamed> {
    let skeleton = read_skeleton(source, limits)?;
    check(source.open().ok()?, limits, &skeleton)
}

/// Pass 2 on its own, after [`read_skeleton`], for a caller that has no use for the PIs: as
/// [`check_pis`] with a consumer that drops them, without handing them over.
pub fn check<R: Read + Send>(reader: R, limits: &Limits, skeleton: &Skeleton) -> Option<Streamed> {
    pipeline(reader, limits, skeleton, false, |_| ()).0
}

/// Pass 1 on its own: the header and the small parts of `data`, for a caller that then runs
/// [`check_pis`] (once or several times) over the same file: the two ends of the document where
/// that does, else the whole document. `None`: use [`super::read`].
pub fn read_skeleton(source: &(impl Source + ?Sized), limits: &Limits) -> Option<Skeleton> {
    let read_at = |buf: &mut [u8], offset: u64| source.read_at(buf, offset);
    if let Ok(skeleton) = pass_one_ends(&read_at) {
        return Some(skeleton);
    }
    pass_one(source.open().ok()?, limits).ok()
}

/// PIs travel between the stages of pass 2 in runs of this many (fewer hand-overs)...
const PI_RUN: usize = 32;

/// ... or of this many bytes, whichever comes first (a few large PIs make a run too). Below the
/// default string limit, so that the strings of a run need not be measured (see "Limits").
const RUN_BYTES: usize = 512 << 10;

/// How many runs may wait for each stage.
const QUEUE: usize = 4;

/// Pass 2 over `reader`, handing every PI (parsed, and checked as in [`validate`]) to `consume`
/// on this thread, in document order, as soon as it is read.
///
/// Returns the verdict of pass 2 (as [`validate`]'s: `None` when the fast path gives up, the
/// file changed since pass 1, or `consume` stopped early) and what `consume` returned. A caller
/// must not rely on what `consume` saw unless the verdict is `Some`: only then were the PIs
/// exactly those of the document pass 1 read, with the header's digests and counts.
///
/// Why a pipeline (see the module documentation): an import consumes the PIs into the store (or
/// compares them with the store's), which is the slow part, and each stage runs beside the
/// others.
pub fn check_pis<R: Read + Send, T>(
    reader: R,
    limits: &Limits,
    skeleton: &Skeleton,
    consume: impl FnOnce(&mut dyn Iterator<Item = Pi>) -> T,
) -> (Option<Streamed>, T) {
    pipeline(reader, limits, skeleton, true, consume)
}

/// How many threads parse and check PIs in pass 2.
///
/// One per core: the reading and hashing stages are shorter than parsing and checking, and the
/// threads share the cores (huge, two cores: three checkers were no faster than two, one was
/// 15 % slower).
fn checkers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get).clamp(1, 4)
}

/// Pass 2 (see the module documentation); `consume` gets the PIs in document order on this
/// thread (none unless `hand_over`), and its result is returned beside the verdict.
fn pipeline<R: Read + Send, T>(
    reader: R,
    limits: &Limits,
    skeleton: &Skeleton,
    hand_over: bool,
    consume: impl FnOnce(&mut dyn Iterator<Item = Pi>) -> T,
) -> (Option<Streamed>, T) {
    let validator = Validator::new(&skeleton.data);
    let validator = &validator;
    std::thread::scope(|scope| {
        let n = checkers();
        let (hash_tx, hash_rx) = sync_channel::<Arc<Run>>(QUEUE);
        let mut run_txs = Vec::with_capacity(n);
        let mut out_rxs = Vec::with_capacity(n);
        let mut checking = Vec::with_capacity(n);
        for _ in 0..n {
            let (run_tx, run_rx) = sync_channel::<Arc<Run>>(QUEUE);
            let (out_tx, out_rx) = sync_channel::<Vec<Pi>>(QUEUE);
            run_txs.push(run_tx);
            out_rxs.push(out_rx);
            let out = hand_over.then_some(out_tx);
            checking.push(scope.spawn(move || check_runs(validator, run_rx, out, limits)));
        }
        let sinks = Sinks { hasher: hash_tx, checkers: run_txs, sent: 0 };
        let reading = scope.spawn(move || pass_two(reader, limits, skeleton, sinks));
        let hashing = scope.spawn(move || hash_runs(skeleton, hash_rx));
        // Without `hand_over` the checkers hold no senders, and this iterator ends at once.
        let consumed = consume(&mut InOrder::new(out_rxs));
        let read = reading.join().ok().and_then(Result::ok);
        let hashed = hashing.join().ok().and_then(Result::ok);
        let mut checked = Vec::new();
        let mut all_checked = true;
        for handle in checking {
            match handle.join().ok().and_then(Result::ok) {
                Some(runs) => checked.extend(runs),
                None => all_checked = false,
            }
        }
        let verdict = match (read, hashed, all_checked) {
            (Some(()), Some(hashed), true) if skeleton_within(skeleton, limits.max_entity) => {
                verdict(skeleton, validator, hashed, checked).ok()
            }
            _ => None,
        };
        (verdict, consumed)
    })
}

/// A run of consecutive PIs, as the reading stage of pass 2 hands them to the hashing stage and
/// to one checking stage.
struct Run {
    /// Position in `/data/pis` of the run's first PI.
    first: usize,
    /// The buffer `region` is in.
    bytes: Vec<u8>,
    /// The PIs' bytes in `bytes`: for a compact array exactly as in the file, commas between
    /// PIs included; otherwise each PI's bytes, one after the other.
    region: Range<usize>,
    /// Where in `region` (counted from its start) each PI is.
    spans: Vec<Range<usize>>,
    /// Whether `region` is a stretch of a compact PI array.
    compact: bool,
    /// Where `bytes` goes when the run is dropped, to be read into again (see [`Pool`]).
    pool: Option<SyncSender<Vec<u8>>>,
}

impl Run {
    fn loose(first: usize) -> Self {
        Run { first, bytes: Vec::new(), region: 0..0, spans: Vec::with_capacity(PI_RUN), compact: false, pool: None }
    }

    /// Adds a PI to a loose run.
    fn push(&mut self, raw: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(raw);
        self.spans.push(start..self.bytes.len());
        self.region = 0..self.bytes.len();
    }

    fn is_full(&self) -> bool {
        self.spans.len() >= PI_RUN || self.region.len() >= RUN_BYTES
    }

    fn text(&self) -> &[u8] {
        &self.bytes[self.region.clone()]
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // A buffer that a large PI made grow is freed rather than kept, so that the pool holds
        // buffers of the usual size only. A full pool (or a reading stage that is gone) only
        // means this buffer is freed too.
        if let Some(pool) = &self.pool
            && self.bytes.capacity() <= 2 * POOL_BUFFER
        {
            let _ = pool.try_send(std::mem::take(&mut self.bytes));
        }
    }
}

/// The size of a buffer from the [`Pool`]: a run and a read.
const POOL_BUFFER: usize = RUN_BYTES + 2 * CHUNK;

/// Buffers that runs of a compact PI array leave behind, for the reading stage to decompress
/// into again: memory that is used again costs nothing, while the kernel clears every fresh
/// page it hands out (a tenth of the reading stage's time before).
struct Pool {
    give: SyncSender<Vec<u8>>,
    take: Receiver<Vec<u8>>,
}

impl Pool {
    fn new() -> Self {
        // As many as can be in flight: a run waiting for or being hashed, and for or being
        // checked, on each checker.
        let (give, take) = sync_channel(4 * QUEUE);
        Pool { give, take }
    }

    /// A buffer from the pool, or a new one large enough for a run and a read: a buffer that
    /// grows as it fills is copied each time it does.
    fn buffer(&self) -> Vec<u8> {
        self.take.try_recv().unwrap_or_else(|_| vec![0; POOL_BUFFER])
    }
}

/// Where the reading stage sends runs: every run to the hasher, and to the checkers in turn
/// (run `k` to checker `k % n`, where [`InOrder`] expects it).
struct Sinks {
    hasher: SyncSender<Arc<Run>>,
    checkers: Vec<SyncSender<Arc<Run>>>,
    sent: usize,
}

impl Sinks {
    /// A failed send means a stage stopped (it gave up, or the consumer did).
    fn send(&mut self, run: Run) -> Step<()> {
        if run.spans.is_empty() {
            return Ok(());
        }
        let run = Arc::new(run);
        self.hasher.send(Arc::clone(&run)).map_err(|_| FallBack)?;
        let checker = &self.checkers[self.sent % self.checkers.len()];
        self.sent += 1;
        checker.send(run).map_err(|_| FallBack)
    }
}

/// The PIs of the checkers' runs in document order: run `k` comes from checker `k % n`.
struct InOrder {
    sources: Vec<Receiver<Vec<Pi>>>,
    next: usize,
    current: std::vec::IntoIter<Pi>,
    done: bool,
}

impl InOrder {
    fn new(sources: Vec<Receiver<Vec<Pi>>>) -> Self {
        InOrder { sources, next: 0, current: Vec::new().into_iter(), done: false }
    }
}

impl Iterator for InOrder {
    type Item = Pi;

    fn next(&mut self) -> Option<Pi> {
        loop {
            if let Some(pi) = self.current.next() {
                return Some(pi);
            }
            if self.done {
                return None;
            }
            // A closed source: its checker finished (the end of the PIs) or gave up (then the
            // verdict is `None` and what was consumed does not count).
            match self.sources[self.next % self.sources.len()].recv() {
                Ok(pis) => {
                    self.current = pis.into_iter();
                    self.next += 1;
                }
                Err(_) => self.done = true,
            }
        }
    }
}

/// What a checking stage found in one run.
struct CheckedRun {
    first: usize,
    counts: Counts,
    findings: PiFindings,
    keys: Vec<String>,
}

/// A checking stage: parses each PI of each run, counts and checks it, and hands the run's PIs
/// to `out` or drops them.
fn check_runs(
    validator: &Validator,
    runs: Receiver<Arc<Run>>,
    out: Option<SyncSender<Vec<Pi>>>,
    limits: &Limits,
) -> Step<Vec<CheckedRun>> {
    let max_string = limits.max_string;
    let mut checked = Vec::new();
    let mut reused: Option<Pi> = None;
    for run in runs {
        // One UTF-8 check for the run; the parser then takes `&str`s and checks no string again.
        let text = std::str::from_utf8(run.text()).map_err(|_| FallBack)?;
        if text.len() > max_string && !guard::tokens_within(text.as_bytes(), max_string) {
            return Err(FallBack);
        }
        let mut this = CheckedRun {
            first: run.first,
            counts: Counts::default(),
            findings: PiFindings::default(),
            keys: Vec::with_capacity(run.spans.len()),
        };
        let mut pis = Vec::with_capacity(if out.is_some() { run.spans.len() } else { 0 });
        for (k, span) in run.spans.iter().enumerate() {
            let text = text.get(span.clone()).ok_or(FallBack)?;
            // PIs that are only checked are parsed into the same value again and again: its
            // strings and lists are filled anew, not allocated (serde's `deserialize_in_place`,
            // which gives the value a fresh parse gives; on an error it is not used).
            let pi: &Pi = match (&out, &mut reused) {
                (None, Some(place)) => {
                    let mut json = serde_json::Deserializer::from_str(text);
                    Pi::deserialize_in_place(&mut json, place)?;
                    json.end()?;
                    place
                }
                (None, empty) => empty.insert(serde_json::from_str(text)?),
                (Some(_), _) => {
                    pis.push(serde_json::from_str(text)?);
                    pis.last().ok_or(FallBack)?
                }
            };
            // The hashing stage hashes the PI's bytes as they are in the file (see "Hashing" in
            // `hash_runs`): that is the full reader's digest only if they are the PI's canonical
            // form, so anything else gives up (a PI with a line break, from a pretty-printed
            // archive, is hashed in canonical form there instead).
            let rehashed = !run.compact && memchr::memchr(b'\n', text.as_bytes()).is_some();
            if !rehashed && !is_canonical_form(pi, text.as_bytes()) {
                return Err(FallBack);
            }
            // The entity limit (SPEC.md 7) is on the canonical form: the text itself, once it
            // is known to be that form; measured otherwise.
            let size = if rehashed { Limits::entity_size(pi) } else { text.len() as u64 };
            if size > limits.max_entity {
                return Err(FallBack);
            }
            this.counts.add_pi(pi);
            validator.check_pi(run.first + k, pi, &mut this.findings);
            this.keys.push(pi.key.clone());
        }
        drop(run);
        if let Some(out) = &out {
            out.send(pis).map_err(|_| FallBack)?;
        }
        checked.push(this);
    }
    Ok(checked)
}

/// What the hashing stage of pass 2 found: the digests of the data.
struct Hashed {
    content: String,
    integrity: String,
}

/// The hashing stage of pass 2.
///
/// # Hashing
///
/// The digests are computed over the canonical data around the PIs (made from pass 1's
/// skeleton) and the PIs' bytes **as they are in the file**, not re-serialized, unless a PI
/// holds a line break (pretty-printed `.json` archives: those PIs are parsed here and hashed in
/// canonical form). Those bytes give the full reader's digests only if they are the PIs'
/// canonical form, and the file is what says what the digests are: a tool that writes `10.0` or
/// a space and hashes its own output makes a file whose digests match its bytes but not the
/// canonical form, which the full reader refuses. So the checking stage compares each PI with
/// its canonical form (`check_runs`), and any other PI makes the fast path give up; for the files
/// the writer makes, that comparison costs a fraction of serializing every PI again.
fn hash_runs(skeleton: &Skeleton, runs: Receiver<Arc<Run>>) -> Step<Hashed> {
    let raw_header = serde_json::from_slice::<Box<serde_json::value::RawValue>>(&skeleton.raw_header)?;
    let canonical_header =
        serde_json::from_str(raw_header.get()).and_then(super::digest::canonical_header).map_err(|_| FallBack)?;
    let (head, tail) = data_around_pis(&skeleton.data, true);
    let mut hasher = DataHasher::new();
    hasher.bytes(&head);
    let mut first = true;
    for run in runs {
        if run.compact {
            if !first {
                hasher.bytes(b",");
            }
            hasher.bytes(run.text());
            first = false;
            continue;
        }
        for span in &run.spans {
            if !first {
                hasher.bytes(b",");
            }
            first = false;
            let raw = &run.text()[span.clone()];
            // A line break outside a string is never canonical, and inside one it would be
            // escaped: a PI with one comes from a pretty-printed archive (see "Hashing").
            if memchr::memchr(b'\n', raw).is_some() {
                hasher.canonical(&parse::<Pi>(raw)?);
            } else {
                hasher.bytes(raw);
            }
        }
    }
    hasher.bytes(&tail);
    let digests = hasher.finish();
    let content = digests.content.clone();
    let integrity = digests.integrity(u64::from(FORMAT_VERSION), &canonical_header);
    Ok(Hashed { content, integrity })
}

/// Whether every entity outside the PIs (the header, the admins, the settings, each team,
/// program and period) is within the entity limit, measured on its canonical form as the full
/// reader measures it (SPEC.md 7); otherwise the full reader gives the verdict.
fn skeleton_within(skeleton: &Skeleton, max_entity: u64) -> bool {
    let data = &skeleton.data;
    let header = serde_json::from_slice::<serde_json::Value>(&skeleton.raw_header)
        .ok()
        .and_then(|header| serde_json_canonicalizer::to_vec(&header).ok())
        .map(|canonical| canonical.len() as u64);
    let within = |size: u64| size <= max_entity;
    header.is_some_and(within)
        && data.admins.as_ref().is_none_or(|admins| within(Limits::entity_size(admins)))
        && within(Limits::entity_size(&data.settings))
        && data.teams.iter().all(|team| within(Limits::entity_size(team)))
        && data.programs.iter().all(|program| within(Limits::entity_size(program)))
        && data.periods.iter().all(|period| within(Limits::entity_size(period)))
}

/// Compares what pass 2 computed with the header pass 1 read, and puts the checkers' findings
/// together in PI order.
fn verdict(skeleton: &Skeleton, validator: &Validator, hashed: Hashed, mut runs: Vec<CheckedRun>) -> Step<Streamed> {
    let raw_header = serde_json::from_slice::<Box<serde_json::value::RawValue>>(&skeleton.raw_header)?;
    let header = super::parse_header(&raw_header).map_err(|_| FallBack)?;
    runs.sort_by_key(|run| run.first);
    let mut counts = skeleton.data.counts();
    let mut findings = PiFindings::default();
    // Sized from what was read, never from the header's counts, which a forged file may inflate.
    let mut keys = Vec::with_capacity(runs.iter().map(|run| run.keys.len()).sum());
    for run in runs {
        if run.first != keys.len() {
            return Err(FallBack);
        }
        counts += run.counts;
        findings.append(run.findings);
        keys.extend(run.keys);
    }
    if hashed.integrity != header.integrity_digest || hashed.content != header.content_digest || counts != header.counts
    {
        return Err(FallBack);
    }
    let findings = validator.finish(findings, keys.iter().map(String::as_str));
    Ok(Streamed { header, has_admins: skeleton.data.admins.is_some(), findings })
}

/// How the document bytes are checked on their way in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Checks {
    /// Exactly as [`super::read`] does: the size cap, the nesting and the string limits.
    Guard,
    /// Only the size cap (pass 1, which only prepares, and pass 2 when the nesting limit is at
    /// least the model's depth: see "Limits" in the module documentation).
    SizeOnly,
}

/// How deep values that parse into the model types can nest: `{"data": {"programs": [{
/// "feature_scope": {"epic_filter": {"manual": {"fields": [{"option_ids": [...]}]}}}}]}}`, the
/// document itself counted. A test computes it from the JSON Schema.
pub(crate) const MODEL_DEPTH: usize = 10;

/// The document bytes of `reader`, decompressed (zstd's own checks and window limit always
/// apply) and checked as `checks` says.
fn decoded<'r, R: Read + 'r>(mut reader: R, limits: &Limits, checks: Checks) -> Step<Box<dyn Read + 'r>> {
    let sniffed = sniff::sniff(&mut reader, limits.max_size).map_err(|_| FallBack)?;
    let input = guard::Source(io::Cursor::new(sniffed.head).chain(reader));
    let guarded = |inner: Box<dyn Read + 'r>, at: super::text::Position| -> Box<dyn Read + 'r> {
        match checks {
            Checks::Guard => Box::new(Guard::new(inner, limits, at)),
            Checks::SizeOnly => Box::new(Guard::size_only(inner, limits, at.offset)),
        }
    };
    match sniffed.layout {
        Layout::Json => Ok(guarded(Box::new(input), sniffed.at)),
        Layout::Zstd(frame) => {
            if let Some(frame) = frame {
                super::check_frame(&frame, limits).map_err(|_| FallBack)?;
            }
            let mut decoder = zstd::stream::read::Decoder::new(input)?;
            decoder.window_log_max(MAX_WINDOW_LOG)?;
            Ok(guarded(Box::new(guard::Decompressed(decoder)), super::text::Position::START))
        }
    }
}

/// The largest single value pass 1 holds (a header, the admins, a period, a program, the
/// settings, a team: kilobytes, the admins of a very large site perhaps a MiB). Its reader has
/// no guard, so this bounds its memory on hostile input (a nesting or string bomb is then
/// refused by the full reader, guarded); a larger value only means the full reader runs.
const PASS_ONE_MAX_VALUE: usize = 4 << 20;

/// The largest single value pass 2 holds: a PI (kilobytes; a PI of a very large program
/// perhaps a MiB). A larger one only means the full reader runs.
const PASS_TWO_MAX_VALUE: usize = 16 << 20;

/// What starts the PI array in the writer's compact layout (a header holds no such member).
const START_OF_PIS: &[u8] = b"\"pis\":[";

/// What ends the PI array in the writer's compact layout: the next member of `data`.
const END_OF_PIS: &[u8] = b"],\"programs\":[";

/// What is between two PIs in the writer's compact layout: `capacity` is a PI's first member.
const BETWEEN_PIS: &[u8] = b"},{\"capacity\":";

// `compact_pis` searches for both from the same offset.
const _: () = assert!(BETWEEN_PIS.len() == END_OF_PIS.len());

/// The most pass 1 decompresses at either end of a zstd archive before it reads the whole
/// document instead.
const ENDS_MAX: usize = 16 << 20;

/// The most frames pass 1 decompresses at either end (the reference writer's archives need two
/// at each; a file of many tiny frames is read whole instead).
const ENDS_FRAMES: usize = 64;

/// How much is read from the decompressor at a time.
const CHUNK: usize = 256 * 1024;

/// A window over the document: `buf[start..end]` is read and not yet consumed. It holds at most
/// one value being looked at (a run of PIs, for [`Scanner::compact_pis`]) plus a read, so memory
/// stays flat whatever the document's size.
struct Scanner<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// The largest value it holds before giving up.
    max_value: usize,
}

/// Whether `token` is the member name `name`, written without escapes.
fn is_name(token: &[u8], name: &str) -> bool {
    token.len() == name.len() + 2
        && token[0] == b'"'
        && token[token.len() - 1] == b'"'
        && &token[1..token.len() - 1] == name.as_bytes()
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<R: Read> Scanner<R> {
    fn new(inner: R, max_value: usize) -> Self {
        Scanner { inner, buf: Vec::new(), start: 0, end: 0, eof: false, max_value }
    }

    /// Reads more bytes after `end`, moving the unconsumed ones to the front first. False at the end.
    fn fill(&mut self) -> Step<bool> {
        if self.eof {
            return Ok(false);
        }
        // The unconsumed bytes move to the front only once at least as many were consumed before
        // them, so that a value that grows over several reads is not moved on every read.
        if self.start > 0 && self.start >= self.end - self.start {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end - self.start >= self.max_value {
            return Err(FallBack);
        }
        if self.buf.len() - self.end < CHUNK {
            self.buf.resize(self.end + CHUNK, 0);
        }
        // A read at a time: a run is cut once every whole PI read so far is in it (see
        // `compact_pis`), so larger reads would make larger runs.
        let n = loop {
            match self.inner.read(&mut self.buf[self.end..self.end + CHUNK]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        self.end += n;
        Ok(true)
    }

    /// Skips JSON whitespace; the next byte, not consumed, or `None` at the end of the document.
    fn peek(&mut self) -> Step<Option<u8>> {
        loop {
            match self.buf[self.start..self.end].iter().position(|&b| !is_space(b)) {
                Some(i) => {
                    self.start += i;
                    return Ok(Some(self.buf[self.start]));
                }
                None => {
                    self.start = self.end;
                    if !self.fill()? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Consumes `byte` (after whitespace), or gives up.
    fn expect(&mut self, byte: u8) -> Step<()> {
        if self.peek()? != Some(byte) {
            return Err(FallBack);
        }
        self.start += 1;
        Ok(())
    }

    /// Consumes the next value and returns its bytes. Only its extent is found here (strings,
    /// escapes, brackets); whether it is valid JSON is the parser's business, on the slice.
    fn value(&mut self) -> Step<&[u8]> {
        let len = self.extent()?;
        let at = self.start;
        self.start += len;
        Ok(&self.buf[at..at + len])
    }

    /// The length of the value starting at the next significant byte, with all of it in `buf`.
    fn extent(&mut self) -> Step<usize> {
        let first = self.peek()?.ok_or(FallBack)?;
        // A number or literal ends at the first delimiter; the parser checks what is inside.
        let scalar = !matches!(first, b'{' | b'[' | b'"');
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        let mut scanned = 0;
        loop {
            let bytes = &self.buf[self.start + scanned..self.end];
            let mut k = 0;
            while k < bytes.len() {
                if in_string {
                    if escaped {
                        escaped = false;
                        k += 1;
                        continue;
                    }
                    match memchr::memchr2(b'"', b'\\', &bytes[k..]) {
                        None => k = bytes.len(),
                        Some(run) => {
                            k += run;
                            if bytes[k] == b'"' {
                                in_string = false;
                                if depth == 0 {
                                    return Ok(scanned + k + 1);
                                }
                            } else {
                                escaped = true;
                            }
                            k += 1;
                        }
                    }
                    continue;
                }
                let b = bytes[k];
                if scalar {
                    if is_space(b) || matches!(b, b',' | b'}' | b']' | b':') {
                        return Ok(scanned + k);
                    }
                } else {
                    match b {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                return Ok(scanned + k + 1);
                            }
                        }
                        _ => {}
                    }
                }
                k += 1;
            }
            scanned += bytes.len();
            if !self.fill()? {
                // A scalar may end the input; anything else is cut short.
                return if scalar && scanned > 0 { Ok(scanned) } else { Err(FallBack) };
            }
        }
    }

    /// Consumes the member name `"name"` and its colon; the name must be written without escapes.
    fn key(&mut self, name: &str) -> Step<()> {
        if !is_name(self.value()?, name) {
            return Err(FallBack);
        }
        self.expect(b':')
    }

    /// Whether the array that is next (gives up if none is) starts `[{`, with nothing between: the
    /// writer's compact layout. Consumes nothing.
    fn at_compact_array(&mut self) -> Step<bool> {
        if self.peek()? != Some(b'[') {
            return Err(FallBack);
        }
        while self.end - self.start < 2 {
            if !self.fill()? {
                return Err(FallBack);
            }
        }
        Ok(self.buf[self.start + 1] == b'{')
    }

    /// Skips an array written compactly (`[{` with nothing between) up to and including its
    /// closing bracket, found as the first `end` (which starts with `]`) after it: in valid JSON
    /// that sequence cannot occur inside a string (its quote would be escaped). Consumes nothing
    /// and returns false for any other array. Only pass 1 skips, and pass 2 checks what it
    /// read: a wrong end only makes the two passes disagree, and the fast path give up.
    fn skip_compact_array(&mut self, end: &[u8]) -> Step<bool> {
        if !self.at_compact_array()? {
            return Ok(false);
        }
        let finder = memchr::memmem::Finder::new(end);
        loop {
            if let Some(at) = finder.find(&self.buf[self.start..self.end]) {
                self.start += at + 1;
                return Ok(true);
            }
            // Keep what could be the start of `end`, drop the rest.
            self.start = self.end - (end.len() - 1).min(self.end - self.start);
            if !self.fill()? {
                return Err(FallBack);
            }
        }
    }

    /// Cuts a PI array written compactly (`[{` with nothing between) into [`Run`]s, at the bytes
    /// between two PIs ([`BETWEEN_PIS`]), up to its closing bracket ([`END_OF_PIS`], which
    /// starts with it), and consumes it. Consumes nothing and returns false for an array written
    /// otherwise (or an empty one).
    ///
    /// In valid JSON neither sequence can occur inside a string (its quotes would be escaped).
    /// Where one occurs elsewhere (a forged document), a piece is not one whole JSON value, so
    /// it does not parse as a PI and the fast path gives up: pieces that all parse are the
    /// array's elements, because JSON's grammar splits a list of values in one way only.
    ///
    /// A run is handed over in the buffer it was decompressed into (the scanner goes on in one
    /// from `pool`, with the part of the next PI already read): only the last run is copied.
    fn compact_pis(&mut self, pool: &Pool, mut each: impl FnMut(Run) -> Step<()>) -> Step<bool> {
        if !self.at_compact_array()? {
            return Ok(false);
        }
        self.start += 1;
        let between = memchr::memmem::Finder::new(BETWEEN_PIS);
        let end = memchr::memmem::Finder::new(END_OF_PIS);
        // The run being cut starts at `start`; offsets below count from there.
        let mut first = 0;
        let mut spans = Vec::with_capacity(PI_RUN);
        // Where the PI being cut starts, and how far the window was searched for its end.
        let mut pi = 0;
        let mut searched = 0;
        loop {
            let window = &self.buf[self.start..self.end];
            if let Some(at) = between.find(&window[searched..]) {
                // The PI ends with the separator's brace; the next one starts after its comma.
                let pi_end = searched + at + 1;
                spans.push(pi..pi_end);
                pi = pi_end + 1;
                searched = pi;
                continue;
            }
            // Both sequences have the same length, so what was searched for the one was for the
            // other too.
            if let Some(at) = end.find(&window[searched..]) {
                let pi_end = searched + at;
                spans.push(pi..pi_end);
                // The last run is copied: the scanner goes on in this buffer.
                let bytes = window[..pi_end].to_vec();
                let region = 0..bytes.len();
                self.start += pi_end + 1;
                each(Run { first, bytes, region, spans, compact: true, pool: None })?;
                return Ok(true);
            }
            // Every whole PI in the window is cut; a full run is handed over, what follows it (a
            // part of the next PI) goes to the front of a buffer from the pool.
            let run_end = spans.last().map_or(0, |span| span.end);
            if spans.len() >= PI_RUN || run_end >= RUN_BYTES {
                let spans = std::mem::replace(&mut spans, Vec::with_capacity(PI_RUN));
                let count = spans.len();
                let bytes = std::mem::replace(&mut self.buf, pool.buffer());
                let rest = self.start + pi..self.end;
                if self.buf.len() < rest.len() + CHUNK {
                    self.buf.resize(rest.len() + CHUNK, 0);
                }
                self.buf[..rest.len()].copy_from_slice(&bytes[rest.clone()]);
                let region = self.start..self.start + run_end;
                (self.start, self.end, pi) = (0, rest.len(), 0);
                each(Run { first, bytes, region, spans, compact: true, pool: Some(pool.give.clone()) })?;
                first += count;
            }
            searched = (self.end - self.start).saturating_sub(BETWEEN_PIS.len() - 1).max(pi);
            if !self.fill()? {
                return Err(FallBack);
            }
        }
    }

    /// Walks an array, handing each element's bytes to `each`.
    fn array(&mut self, mut each: impl FnMut(&[u8]) -> Step<()>) -> Step<()> {
        self.expect(b'[')?;
        if self.peek()? == Some(b']') {
            self.start += 1;
            return Ok(());
        }
        loop {
            each(self.value()?)?;
            match self.peek()? {
                Some(b',') => self.start += 1,
                Some(b']') => {
                    self.start += 1;
                    return Ok(());
                }
                _ => return Err(FallBack),
            }
        }
    }
}

/// A part of `data` other than the PIs, as handed to a [`Visit`].
#[derive(Clone, Copy)]
enum Part {
    Admins,
    Period,
    Program,
    Settings,
    Team,
}

/// What a pass does with the pieces the walk finds.
trait Visit {
    fn header(&mut self, raw: &[u8]) -> Step<()>;
    fn part(&mut self, part: Part, raw: &[u8]) -> Step<()>;
    /// Goes over the PI array, whose `[` is next.
    fn pis<R: Read>(&mut self, scanner: &mut Scanner<R>) -> Step<()>;
}

/// Walks the document in the writer's layout: `{"format", "format_version", "header", "data"}`,
/// `data` as `{"admins"?, "periods", "pis", "programs", "settings", "teams"}`, then the end of
/// input. Any other layout gives up.
fn walk<R: Read>(scanner: &mut Scanner<R>, visit: &mut impl Visit) -> Step<()> {
    scanner.expect(b'{')?;
    scanner.key("format")?;
    // Exactly as the writer writes it: any other spelling (escapes) goes to the full reader,
    // which also measures that string against the limit.
    let format = scanner.value()?;
    if format.strip_prefix(b"\"").and_then(|f| f.strip_suffix(b"\"")) != Some(FORMAT.as_bytes()) {
        return Err(FallBack);
    }
    scanner.expect(b',')?;
    scanner.key("format_version")?;
    // Older versions go through their upgrade steps, newer ones are refused: the slow path's.
    if serde_json::from_slice::<u64>(scanner.value()?)? != u64::from(FORMAT_VERSION) {
        return Err(FallBack);
    }
    scanner.expect(b',')?;
    scanner.key("header")?;
    visit.header(scanner.value()?)?;
    scanner.expect(b',')?;
    scanner.key("data")?;
    scanner.expect(b'{')?;
    // `admins` is optional (absent in migration archives), so the first name decides.
    let first = scanner.value()?;
    if is_name(first, "admins") {
        scanner.expect(b':')?;
        visit.part(Part::Admins, scanner.value()?)?;
        scanner.expect(b',')?;
        scanner.key("periods")?;
    } else if is_name(first, "periods") {
        scanner.expect(b':')?;
    } else {
        return Err(FallBack);
    }
    scanner.array(|raw| visit.part(Part::Period, raw))?;
    scanner.expect(b',')?;
    scanner.key("pis")?;
    visit.pis(scanner)?;
    scanner.expect(b',')?;
    scanner.key("programs")?;
    scanner.array(|raw| visit.part(Part::Program, raw))?;
    scanner.expect(b',')?;
    scanner.key("settings")?;
    visit.part(Part::Settings, scanner.value()?)?;
    scanner.expect(b',')?;
    scanner.key("teams")?;
    scanner.array(|raw| visit.part(Part::Team, raw))?;
    scanner.expect(b'}')?;
    scanner.expect(b'}')?;
    // Reading to the end checks that nothing follows and, for zstd, the content checksum.
    match scanner.peek()? {
        None => Ok(()),
        Some(_) => Err(FallBack),
    }
}

/// Hashes the bytes of everything but the PIs, with their kinds and lengths: pass 2 must see the
/// same document as pass 1.
#[derive(Default)]
struct Fingerprint(Sha256);

impl Fingerprint {
    fn add(&mut self, tag: u8, raw: &[u8]) {
        self.0.update([tag]);
        self.0.update((raw.len() as u64).to_le_bytes());
        self.0.update(raw);
    }

    fn finish(self) -> Vec<u8> {
        self.0.finalize().to_vec()
    }
}

/// Pass 1's result: the header's bytes, the data without its PIs, and a fingerprint of all the
/// bytes outside the PIs, which every later pass over the file must see again.
#[derive(Debug)]
pub struct Skeleton {
    raw_header: Vec<u8>,
    data: Configuration,
    fingerprint: Vec<u8>,
}

impl Skeleton {
    /// The archive's data without its PIs (canonical order, as read).
    pub fn data(&self) -> &Configuration {
        &self.data
    }
}

struct PassOne {
    raw_header: Vec<u8>,
    data: Configuration,
    fingerprint: Fingerprint,
}

/// Parses a value from `raw`, whose UTF-8 is checked once for all its strings (serde_json checks
/// each string of a byte slice on its own, which costs more than the one pass).
fn parse<T: DeserializeOwned>(raw: &[u8]) -> Step<T> {
    Ok(serde_json::from_str(std::str::from_utf8(raw).map_err(|_| FallBack)?)?)
}

impl Visit for PassOne {
    fn header(&mut self, raw: &[u8]) -> Step<()> {
        self.fingerprint.add(0, raw);
        self.raw_header = raw.to_vec();
        Ok(())
    }

    fn part(&mut self, part: Part, raw: &[u8]) -> Step<()> {
        self.fingerprint.add(part as u8 + 1, raw);
        let data = &mut self.data;
        match part {
            Part::Admins => data.admins = Some(parse(raw)?),
            Part::Period => data.periods.push(parse(raw)?),
            Part::Program => data.programs.push(parse(raw)?),
            Part::Settings => data.settings = parse(raw)?,
            Part::Team => data.teams.push(parse(raw)?),
        }
        Ok(())
    }

    /// The PIs are skipped: a compact array by searching for its end, any other element by element.
    fn pis<R: Read>(&mut self, scanner: &mut Scanner<R>) -> Step<()> {
        if !scanner.skip_compact_array(END_OF_PIS)? {
            scanner.array(|_| Ok(()))?;
        }
        Ok(())
    }
}

/// Pass 1 over the whole document.
fn pass_one<R: Read>(reader: R, limits: &Limits) -> Step<Skeleton> {
    skeleton_of(Scanner::new(decoded(reader, limits, Checks::SizeOnly)?, PASS_ONE_MAX_VALUE))
}

fn skeleton_of<R: Read>(mut scanner: Scanner<R>) -> Step<Skeleton> {
    let mut data = Configuration::empty();
    data.admins = None;
    let mut pass = PassOne { raw_header: Vec::new(), data, fingerprint: Fingerprint::default() };
    walk(&mut scanner, &mut pass)?;
    Ok(Skeleton { raw_header: pass.raw_header, data: pass.data, fingerprint: pass.fingerprint.finish() })
}

/// Pass 1 over the two ends of the document: from the start until the PI array starts
/// ([`START_OF_PIS`]), and from the end back until it ends ([`END_OF_PIS`]). For a
/// zstd archive of several frames, as the writer makes them, only the frames at the two ends
/// are read and decompressed (`frames.rs`); for plain JSON, only the bytes there. The document
/// with the PIs cut out is then read as [`pass_one`] reads a whole one: the skeleton is the
/// same, because pass 1 takes nothing from the PIs. Where the cut is wrong (a forged
/// document), pass 2 sees other bytes than this skeleton's and gives up.
///
/// Gives up on anything else (pretty-printed JSON, more than [`ENDS_MAX`] bytes or
/// [`ENDS_FRAMES`] frames at either end): [`pass_one`] then reads the whole document.
fn pass_one_ends(read_at: frames::ReadAt) -> Step<Skeleton> {
    let mut first = [0u8; 4];
    if !frames::exact_at(read_at, &mut first, 0)? {
        return Err(FallBack);
    }
    let zstd = first == sniff::ZSTD_MAGIC || (first[0] & 0xF0 == 0x50 && first[1..4] == [0x2A, 0x4D, 0x18]);
    let (mut head, tail) = if zstd { zstd_ends(read_at)? } else { json_ends(read_at)? };
    // The first end of the PI array in what was decompressed of the end (the reference writer
    // starts a frame there, SPEC.md 2.1): a valid document holds the sequence once, and a
    // forged one makes pass 2 see other bytes than this skeleton's.
    let tail_start = memchr::memmem::find(&tail, END_OF_PIS).ok_or(FallBack)?;
    let head_end = memchr::memmem::find(&head, START_OF_PIS).ok_or(FallBack)? + START_OF_PIS.len();
    head.truncate(head_end);
    head.extend_from_slice(&tail[tail_start..]);
    skeleton_of(Scanner::new(io::Cursor::new(head), PASS_ONE_MAX_VALUE))
}

/// The decompressed start of a zstd archive up to [`START_OF_PIS`], and its end from the last
/// [`END_OF_PIS`] (both found in what is returned).
fn zstd_ends(read_at: frames::ReadAt) -> Step<(Vec<u8>, Vec<u8>)> {
    let frame_ranges = frames::zstd_frames(read_at)?;
    // Each search looks only at what was added since the last one (and at the bytes a match
    // found now could start in), so that many small frames cost no more than a few large ones.
    let overlap = START_OF_PIS.len() - 1;
    let mut head = Vec::new();
    let mut searched = 0usize;
    let mut found = false;
    for range in frame_ranges.iter().take(ENDS_FRAMES) {
        let frame = frames::read_range(read_at, range, ENDS_MAX)?;
        found = frames::decompress_until(&frame, &mut head, ENDS_MAX, |head| {
            let from = searched.saturating_sub(overlap);
            searched = head.len();
            memchr::memmem::find(&head[from..], START_OF_PIS).is_some()
        })?;
        if found {
            break;
        }
    }
    if !found {
        return Err(FallBack);
    }
    // The end: frames from the last back, each searched with the first bytes of the one after.
    let overlap = END_OF_PIS.len() - 1;
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut len = 0;
    for range in frame_ranges.iter().rev().take(ENDS_FRAMES) {
        let part = frames::decompress(&frames::read_range(read_at, range, ENDS_MAX)?, ENDS_MAX - len)?;
        let after = parts.last().map_or(&[][..], |later| &later[..later.len().min(overlap)]);
        let seam = [&part[part.len().saturating_sub(overlap)..], after].concat();
        let ends_here =
            memchr::memmem::find(&part, END_OF_PIS).is_some() || memchr::memmem::find(&seam, END_OF_PIS).is_some();
        len += part.len();
        parts.push(part);
        if ends_here {
            parts.reverse();
            return Ok((head, parts.concat()));
        }
        if len >= ENDS_MAX {
            break;
        }
    }
    Err(FallBack)
}

/// [`zstd_ends`] for plain JSON: the bytes at both ends, read in growing pieces.
fn json_ends(read_at: frames::ReadAt) -> Step<(Vec<u8>, Vec<u8>)> {
    let mut head = Vec::new();
    while memchr::memmem::find(&head, START_OF_PIS).is_none() {
        let at = head.len();
        if at >= ENDS_MAX {
            return Err(FallBack);
        }
        head.resize(at + CHUNK, 0);
        let n = read_at(&mut head[at..], at as u64)?;
        head.truncate(at + n);
        if n == 0 {
            return Err(FallBack);
        }
    }
    // The length, found by doubling then halving towards the end.
    let (mut known, mut past) = (head.len() as u64, 2 * head.len() as u64);
    while read_at(&mut [0u8], past - 1)? == 1 {
        known = past;
        // A source that never ends (a custom `Source`) gives up here, at 2^63 bytes.
        past = past.checked_mul(2).ok_or(FallBack)?;
    }
    while past - known > 1 {
        let middle = known + (past - known) / 2;
        if read_at(&mut [0u8], middle - 1)? == 1 { known = middle } else { past = middle }
    }
    let len = known;
    let mut want = CHUNK as u64;
    loop {
        let start = len.saturating_sub(want);
        let mut tail = vec![0u8; usize::try_from(len - start).map_err(|_| FallBack)?];
        if !frames::exact_at(read_at, &mut tail, start)? {
            return Err(FallBack);
        }
        if memchr::memmem::find(&tail, END_OF_PIS).is_some() {
            return Ok((head, tail));
        }
        if start == 0 || want >= ENDS_MAX as u64 {
            return Err(FallBack);
        }
        want *= 2;
    }
}

/// The reading stage of pass 2: fingerprints the bytes outside the PIs, measures their strings
/// (see "Limits"), and cuts the PIs into runs for the other stages.
struct PassTwo<'a> {
    raw_header: &'a [u8],
    max_string: usize,
    fingerprint: Fingerprint,
    sinks: Sinks,
    pool: Pool,
}

impl PassTwo<'_> {
    fn non_pi(&mut self, tag: u8, raw: &[u8]) -> Step<()> {
        self.fingerprint.add(tag, raw);
        if raw.len() > self.max_string && !guard::tokens_within(raw, self.max_string) {
            return Err(FallBack);
        }
        Ok(())
    }
}

impl Visit for PassTwo<'_> {
    fn header(&mut self, raw: &[u8]) -> Step<()> {
        if raw != self.raw_header {
            return Err(FallBack);
        }
        self.non_pi(0, raw)
    }

    fn part(&mut self, part: Part, raw: &[u8]) -> Step<()> {
        self.non_pi(part as u8 + 1, raw)
    }

    fn pis<R: Read>(&mut self, scanner: &mut Scanner<R>) -> Step<()> {
        if scanner.compact_pis(&self.pool, |run| self.sinks.send(run))? {
            return Ok(());
        }
        let mut run = Run::loose(0);
        scanner.array(|raw| {
            run.push(raw);
            if run.is_full() {
                let next = Run::loose(run.first + run.spans.len());
                self.sinks.send(std::mem::replace(&mut run, next))?;
            }
            Ok(())
        })?;
        self.sinks.send(run)
    }
}

fn pass_two<R: Read>(reader: R, limits: &Limits, skeleton: &Skeleton, sinks: Sinks) -> Step<()> {
    // Without the guard's scan the model's types bound the nesting (see "Limits"), unless the
    // limit is tighter than the model.
    let checks = if limits.max_depth >= MODEL_DEPTH { Checks::SizeOnly } else { Checks::Guard };
    let mut pass = PassTwo {
        raw_header: &skeleton.raw_header,
        max_string: limits.max_string,
        fingerprint: Fingerprint::default(),
        sinks,
        pool: Pool::new(),
    };
    let mut scanner = Scanner::new(decoded(reader, limits, checks)?, PASS_TWO_MAX_VALUE);
    walk(&mut scanner, &mut pass)?;
    // The other stages' input ends here, so that they finish beside the comparison below.
    drop(pass.sinks);
    if pass.fingerprint.finish() != skeleton.fingerprint {
        return Err(FallBack);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The deepest nesting of a document that matches the schema, the document itself counted:
    /// what a document whose every value parsed into the model types can reach.
    fn depth(schema: &serde_json::Value, node: &serde_json::Value) -> usize {
        if let Some(target) = node.get("$ref").and_then(|r| r.as_str()) {
            let name = target.rsplit('/').next().unwrap_or_default();
            return depth(schema, &schema["$defs"][name]);
        }
        let mut deepest = 0;
        for key in ["oneOf", "anyOf", "allOf"] {
            for option in node.get(key).and_then(|o| o.as_array()).into_iter().flatten() {
                deepest = deepest.max(depth(schema, option));
            }
        }
        let types: Vec<&str> = match node.get("type") {
            Some(serde_json::Value::String(t)) => vec![t.as_str()],
            Some(serde_json::Value::Array(ts)) => ts.iter().filter_map(|t| t.as_str()).collect(),
            _ => Vec::new(),
        };
        if types.contains(&"object") {
            assert_eq!(node.get("additionalProperties"), Some(&serde_json::Value::Bool(false)), "{node}");
            let members = node.get("properties").and_then(|p| p.as_object());
            let inner = members.into_iter().flatten().map(|(_, m)| depth(schema, m)).max().unwrap_or(0);
            deepest = deepest.max(1 + inner);
        }
        if types.contains(&"array") {
            deepest = deepest.max(1 + node.get("items").map_or(0, |items| depth(schema, items)));
        }
        // Anything with no type at all would admit any nesting: the model has no such value.
        let described = ["type", "$ref", "oneOf", "anyOf", "allOf", "enum", "const"];
        assert!(described.iter().any(|key| node.get(key).is_some()), "an untyped value in the schema: {node}");
        deepest
    }

    /// `check_runs` parses PIs into one reused value: after any PI, parsing another in place
    /// must give exactly what a fresh parse gives (members absent now but present before
    /// included).
    #[test]
    fn a_pi_parsed_in_place_is_the_pi_a_fresh_parse_gives() {
        let (config, _) = crate::sample::generate(crate::sample::SampleSize::Demo);
        let mut pis: Vec<Pi> = config.pis.clone();
        let mut bare = pis[0].clone();
        bare.feature_filter = None;
        bare.teams = None;
        bare.capacity.clear();
        bare.objectives.truncate(1);
        for objective in &mut bare.objectives {
            (objective.description, objective.business_value_planned, objective.team) = (None, None, None);
        }
        for milestone in &mut bare.milestones {
            (milestone.date, milestone.description, milestone.kind, milestone.team) = (None, None, None, None);
        }
        let mut full = pis[1].clone();
        full.teams = Some(vec!["A".into(), "B".into()]);
        full.feature_filter = Some(crate::model::ScopeFilter::JiraFilter { filter_id: "1".into() });
        pis.extend([bare.clone(), full, bare]);
        let texts: Vec<String> =
            pis.iter().map(|pi| String::from_utf8(crate::model::canonical::to_canonical_vec(pi)).unwrap()).collect();
        for first in &texts {
            for next in &texts {
                let mut place: Pi = serde_json::from_str(first).unwrap();
                let mut json = serde_json::Deserializer::from_str(next);
                Pi::deserialize_in_place(&mut json, &mut place).unwrap();
                json.end().unwrap();
                assert_eq!(place, serde_json::from_str::<Pi>(next).unwrap());
            }
        }
    }

    /// Issue 6 review: a file of many tiny frames made pass 1 search and copy what it had
    /// decompressed again for every frame (minutes for half a MB). The frames at each end are
    /// now bounded, and each search looks at new bytes only.
    #[test]
    fn issue6_pass_one_reads_a_bounded_number_of_frames_at_each_end() {
        let frames_of = |pieces: &[&[u8]]| -> Vec<u8> {
            pieces.iter().flat_map(|piece| zstd::bulk::compress(piece, 3).unwrap()).collect()
        };
        let read_at = |file: &[u8]| {
            let file = file.to_vec();
            move |buf: &mut [u8], offset: u64| <[u8] as Source>::read_at(&file, buf, offset)
        };
        let filler = vec![&b"x"[..]; ENDS_FRAMES];
        let found = |pieces: &[&[u8]]| zstd_ends(&read_at(&frames_of(pieces))).is_ok();
        // The start of the PI array in the last frame the head may read, or just after it.
        let mut head: Vec<&[u8]> = filler[..ENDS_FRAMES - 1].to_vec();
        head.extend([START_OF_PIS, END_OF_PIS]);
        assert!(found(&head));
        head.insert(0, b"x");
        assert!(!found(&head));
        // The same for the end, and a sequence cut across two frames is still found.
        let mut tail: Vec<&[u8]> = vec![START_OF_PIS, END_OF_PIS];
        tail.extend(&filler[..ENDS_FRAMES - 1]);
        assert!(found(&tail));
        tail.push(b"x");
        assert!(!found(&tail));
        let (first, second) = END_OF_PIS.split_at(5);
        assert!(found(&[START_OF_PIS, first, second, b"x"]));
    }

    #[test]
    fn the_model_depth_is_that_of_the_schema() {
        let schema = crate::archive::schema();
        assert_eq!(depth(&schema, &schema), MODEL_DEPTH);
    }
}
