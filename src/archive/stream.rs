//! Streaming validation of an archive file: the same verdict as [`super::read`] followed by
//! `model::validate`, in flat memory and several times faster, for archives as the writer lays
//! them out.
//!
//! Why: [`super::read`] builds the whole typed tree (hundreds of MB for the largest
//! configurations) through serde_json's byte-at-a-time `IoRead`. Here a small structural scanner
//! splits the decompressed document into its top-level members and, inside `data`, into array
//! elements; each element is parsed from a slice (serde_json's fast `SliceRead`) into the same
//! model type, so the strictness (unknown members, nulls, dates) is the model's own. The bytes go
//! through the same sniffing, zstd checks and `Guard` (size cap, nesting and string limits).
//!
//! Two passes over the file, because PIs come before the programs and teams they are checked
//! against (canonical member order):
//! 1. the header and the small parts of `data` (admins, periods, programs, settings, teams) into a
//!    skeleton [`Configuration`] with no PIs; PIs are only skipped over (a compact PI array by
//!    searching for what follows it, anything else element by element). Pass 1 only prepares:
//!    it reads without the guard (the size cap and zstd's window limit still apply, and no value
//!    over 4 MiB is held), because everything it took is read again, guarded, by pass 2;
//! 2. every PI's bytes hashed as they are (with the canonical skeleton's parts around them, so
//!    that the content and integrity digests are computed over exactly the bytes `digest.rs`
//!    hashes when the file is canonical, as the writer makes it), then parsed, counted, checked
//!    by [`Validator::check_pi`] and handed on or dropped; only its key is kept. Reading and
//!    hashing run on one thread, parsing and checking on another, and an import's use of the
//!    PIs on a third ([`check_pis`]).
//!
//! Pass 2 also fingerprints the non-PI bytes and compares them with pass 1's, so that a file that
//! changes between the passes is not judged from two different documents.
//!
//! Anything unusual makes the fast path give up ([`None`]) rather than judge: a member out of the
//! writer's order, an escaped member name, a version other than the current one, any parse error,
//! limit, I/O error, digest or count mismatch. The caller then runs [`super::read`], which gives
//! the exact error messages and exit codes. So this path only ever accepts documents the slow
//! path accepts, and for those it computes the same header, digests, counts and findings.

use std::io::{self, Read};

use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};

use super::digest::DataHasher;
use super::guard::{self, Guard};
use super::sniff::{self, Layout, MAX_WINDOW_LOG};
use super::{FORMAT, FORMAT_VERSION, Header, Limits};
use crate::model::canonical::data_around_pis;
use crate::model::validate::{Finding, Validator};
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

/// Validates the archive `open` gives (called twice: once per pass, each time from the start).
///
/// `None` means "no verdict here": run [`super::read`] and `model::validate` instead. `Some` is
/// the verdict of that slow path for an archive it reads successfully.
pub fn validate<R: Read + Send>(mut open: impl FnMut() -> io::Result<R>, limits: &Limits) -> Option<Streamed> {
    let skeleton = pass_one(open().ok()?, limits).ok()?;
    let reader = open().ok()?;
    // As `check_pis` without a consumer: parsing and checking on this thread, each PI dropped
    // where it was made.
    std::thread::scope(|scope| {
        let (raw_tx, raw_rx) = std::sync::mpsc::sync_channel::<Vec<Vec<u8>>>(QUEUE);
        let reading = scope.spawn(|| pass_two(reader, limits, &skeleton, raw_tx));
        let checked = check_parsed(&skeleton.data, raw_rx, None).ok();
        let read = reading.join().ok().and_then(Result::ok);
        verdict(&skeleton, read?, checked?).ok()
    })
}

/// Pass 1 on its own: the header and the small parts of `data`, for a caller that then runs
/// [`check_pis`] (once or several times) over the same file. `None`: use [`super::read`].
pub fn read_skeleton<R: Read>(reader: R, limits: &Limits) -> Option<Skeleton> {
    pass_one(reader, limits).ok()
}

/// PIs travel between the stages of [`check_pis`] in batches of this many (fewer hand-overs).
const PI_BATCH: usize = 32;

/// How many batches may wait between two stages.
const QUEUE: usize = 8;

/// Pass 2 over `reader`, handing every PI (parsed, and checked as in [`validate`]) to `consume`
/// on this thread, in document order, as soon as it is read.
///
/// Returns the verdict of pass 2 (as [`validate`]'s: `None` when the fast path gives up, the
/// file changed since pass 1, or `consume` stopped early) and what `consume` returned. A caller
/// must not rely on what `consume` saw unless the verdict is `Some`: only then were the PIs
/// exactly those of the document pass 1 read, with the header's digests and counts.
///
/// Why a pipeline of three threads: an import consumes the PIs into the store (or compares them
/// with the store's), which is the slow part, and each stage runs beside the others: one thread
/// decompresses, scans and hashes (the PIs' bytes as they are in the file when they are
/// compact, see pass 2 in the module documentation), a second parses and checks, and this one
/// consumes. ([`validate`] has no consumer: it parses and checks on its own thread.)
pub fn check_pis<R: Read + Send, T>(
    reader: R,
    limits: &Limits,
    skeleton: &Skeleton,
    consume: impl FnOnce(&mut dyn Iterator<Item = Pi>) -> T,
) -> (Option<Streamed>, T) {
    std::thread::scope(|scope| {
        let (raw_tx, raw_rx) = std::sync::mpsc::sync_channel::<Vec<Vec<u8>>>(QUEUE);
        let (pi_tx, pi_rx) = std::sync::mpsc::sync_channel::<Vec<Pi>>(QUEUE);
        let reading = scope.spawn(move || pass_two(reader, limits, skeleton, raw_tx));
        let checking = scope.spawn(move || check_parsed(&skeleton.data, raw_rx, Some(pi_tx)));
        let consumed = consume(&mut pi_rx.iter().flatten());
        // Unblocks the other stages if `consume` stopped early; the verdict is then `None`.
        drop(pi_rx);
        let read = reading.join().ok().and_then(Result::ok);
        let checked = checking.join().ok().and_then(Result::ok);
        let verdict = match (read, checked) {
            (Some(read), Some(checked)) => verdict(skeleton, read, checked).ok(),
            _ => None,
        };
        (verdict, consumed)
    })
}

/// What the reading stage of pass 2 found: the digests of the bytes it hashed.
struct Read2 {
    content: String,
    integrity: String,
}

/// What the checking stage of pass 2 found.
struct Checked2 {
    counts: Counts,
    findings: Vec<Finding>,
}

/// Parses each PI, counts and checks it, and passes it on to `out` (the second stage of
/// [`check_pis`]) or drops it.
fn check_parsed(
    skeleton: &Configuration,
    raw: std::sync::mpsc::Receiver<Vec<Vec<u8>>>,
    out: Option<std::sync::mpsc::SyncSender<Vec<Pi>>>,
) -> Step<Checked2> {
    let mut validator = Validator::new(skeleton);
    let mut counts = skeleton.counts();
    let mut keys: Vec<String> = Vec::new();
    for batch in raw {
        let mut pis = Vec::with_capacity(batch.len());
        for bytes in &batch {
            let pi: Pi = parse(bytes)?;
            counts.add_pi(&pi);
            validator.check_pi(keys.len(), &pi);
            keys.push(pi.key.clone());
            pis.push(pi);
        }
        if let Some(out) = &out {
            out.send(pis).map_err(|_| FallBack)?;
        }
    }
    drop(out);
    let findings = validator.finish(keys.iter().map(String::as_str));
    Ok(Checked2 { counts, findings })
}

/// Compares what pass 2 computed with the header pass 1 read.
fn verdict(skeleton: &Skeleton, read: Read2, checked: Checked2) -> Step<Streamed> {
    let raw_header = serde_json::from_slice::<Box<serde_json::value::RawValue>>(&skeleton.raw_header)?;
    let header = super::parse_header(&raw_header).map_err(|_| FallBack)?;
    if read.integrity != header.integrity_digest
        || read.content != header.content_digest
        || checked.counts != header.counts
    {
        return Err(FallBack);
    }
    Ok(Streamed { header, has_admins: skeleton.data.admins.is_some(), findings: checked.findings })
}

/// How the document bytes are checked on their way in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Checks {
    /// Exactly as [`super::read`] does (pass 2, which judges).
    Guard,
    /// Only the size cap (pass 1, which only prepares: whatever it reads is read again, guarded,
    /// by pass 2 and compared through the fingerprint).
    SizeOnly,
}

/// The document bytes of `reader`, decompressed (zstd's own checks and window limit always
/// apply) and checked as `checks` says.
fn decoded<'r, R: Read + 'r>(mut reader: R, limits: &Limits, checks: Checks) -> Step<Box<dyn Read + 'r>> {
    let sniffed = sniff::sniff(&mut reader, limits.max_size).map_err(|_| FallBack)?;
    let input = guard::Source(io::Cursor::new(sniffed.head).chain(reader));
    // One byte over the cap is enough to be sure the document is over it: pass 2 then refuses.
    let cap = limits.max_size.saturating_add(1);
    match sniffed.layout {
        Layout::Json if checks == Checks::Guard => Ok(Box::new(Guard::new(input, limits, sniffed.skipped))),
        Layout::Json => Ok(Box::new(input.take(cap))),
        Layout::Zstd(frame) => {
            if let Some(frame) = frame {
                super::check_frame(&frame, limits).map_err(|_| FallBack)?;
            }
            let mut decoder = zstd::stream::read::Decoder::new(input)?;
            decoder.window_log_max(MAX_WINDOW_LOG)?;
            let decompressed = guard::Decompressed(decoder);
            match checks {
                Checks::Guard => Ok(Box::new(Guard::new(decompressed, limits, 0))),
                Checks::SizeOnly => Ok(Box::new(decompressed.take(cap))),
            }
        }
    }
}

/// The largest single value pass 1 holds (a header, the admins, a period, a program, the
/// settings, a team: kilobytes, the admins of a very large site perhaps a MiB). Its reader has
/// no guard, so this bounds its memory on hostile input (a nesting or string bomb is then
/// refused by the full reader, guarded); a larger value only means the full reader runs.
const PASS_ONE_MAX_VALUE: usize = 4 << 20;

/// What ends the PI array in the writer's compact layout: the next member of `data`.
const END_OF_PIS: &[u8] = b"],\"programs\":[";

/// How much is read from the decompressor at a time.
const CHUNK: usize = 256 * 1024;

/// A window over the document: `buf[start..end]` is read and not yet consumed. It holds at most
/// one value being looked at plus a chunk, so memory stays flat whatever the document's size
/// (one array element must fit; the largest is a PI, kilobytes).
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
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end >= self.max_value {
            return Err(FallBack);
        }
        if self.buf.len() - self.end < CHUNK {
            self.buf.resize(self.end + CHUNK, 0);
        }
        let n = loop {
            match self.inner.read(&mut self.buf[self.end..]) {
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

    /// Skips an array written compactly (`[{` with nothing between) up to and including its
    /// closing bracket, found as the first `end` (which starts with `]`) after it: in valid JSON
    /// that sequence cannot occur inside a string (its quote would be escaped). Consumes nothing
    /// and returns false for any other array. Only pass 1 skips, and pass 2 checks what it
    /// read: a wrong end only makes the two passes disagree, and the fast path give up.
    fn skip_compact_array(&mut self, end: &[u8]) -> Step<bool> {
        if self.peek()? != Some(b'[') {
            return Err(FallBack);
        }
        while self.end - self.start < 2 {
            if !self.fill()? {
                return Err(FallBack);
            }
        }
        if self.buf[self.start + 1] != b'{' {
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
    fn pis_start(&mut self) {}
    /// Whether the PIs may be skipped without looking at them (when written compactly).
    fn skips_pis(&self) -> bool {
        false
    }
    fn pi(&mut self, raw: &[u8]) -> Step<()>;
    fn pis_end(&mut self) {}
}

/// Walks the document in the writer's layout: `{"format", "format_version", "header", "data"}`,
/// `data` as `{"admins"?, "periods", "pis", "programs", "settings", "teams"}`, then the end of
/// input. Any other layout gives up.
fn walk<R: Read>(scanner: &mut Scanner<R>, visit: &mut impl Visit) -> Step<()> {
    scanner.expect(b'{')?;
    scanner.key("format")?;
    if serde_json::from_slice::<String>(scanner.value()?)? != FORMAT {
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
    visit.pis_start();
    if !(visit.skips_pis() && scanner.skip_compact_array(END_OF_PIS)?) {
        scanner.array(|raw| visit.pi(raw))?;
    }
    visit.pis_end();
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

fn parse<T: DeserializeOwned>(raw: &[u8]) -> Step<T> {
    Ok(serde_json::from_slice(raw)?)
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

    fn skips_pis(&self) -> bool {
        true
    }

    fn pi(&mut self, _raw: &[u8]) -> Step<()> {
        Ok(())
    }
}

fn pass_one<R: Read>(reader: R, limits: &Limits) -> Step<Skeleton> {
    let mut scanner = Scanner::new(decoded(reader, limits, Checks::SizeOnly)?, PASS_ONE_MAX_VALUE);
    let mut data = Configuration::empty();
    data.admins = None;
    let mut pass = PassOne { raw_header: Vec::new(), data, fingerprint: Fingerprint::default() };
    walk(&mut scanner, &mut pass)?;
    Ok(Skeleton { raw_header: pass.raw_header, data: pass.data, fingerprint: pass.fingerprint.finish() })
}

/// The reading stage of pass 2: fingerprints the bytes outside the PIs and hashes the data.
///
/// # Hashing
///
/// The digests are computed over the canonical data around the PIs (made from pass 1's
/// skeleton) and each PI's bytes **as they are in the file**, not re-serialized, unless they
/// hold a line break (pretty-printed `.json` archives: those PIs are parsed here too and hashed
/// in canonical form). That is sound: the result equals the header's digests (which are over
/// the canonical form) only if the bytes hashed are the canonical form of the data, so a file
/// whose PIs are written any other way fails the comparison and goes to the full reader, while
/// for the files the writer compresses (canonical, compact) it saves serializing every PI
/// again.
struct PassTwo<'a> {
    skeleton: &'a Configuration,
    raw_header: &'a [u8],
    hasher: DataHasher,
    fingerprint: Fingerprint,
    pis: usize,
    batch: Vec<Vec<u8>>,
    /// The canonical data after the last PI, made with the part before the first.
    tail: Vec<u8>,
    /// To the checking stage; a failed send means it stopped (it gave up, or the consumer did).
    out: std::sync::mpsc::SyncSender<Vec<Vec<u8>>>,
}

impl PassTwo<'_> {
    fn send(&mut self) -> Step<()> {
        let batch = std::mem::take(&mut self.batch);
        self.out.send(batch).map_err(|_| FallBack)
    }
}

impl Visit for PassTwo<'_> {
    fn header(&mut self, raw: &[u8]) -> Step<()> {
        self.fingerprint.add(0, raw);
        if raw != self.raw_header {
            return Err(FallBack);
        }
        Ok(())
    }

    fn part(&mut self, part: Part, raw: &[u8]) -> Step<()> {
        self.fingerprint.add(part as u8 + 1, raw);
        Ok(())
    }

    /// The canonical data up to the first PI: `{"admins":...,"periods":[...],"pis":[`, as
    /// `model::canonical` writes a `Configuration` (admins omitted when absent).
    fn pis_start(&mut self) {
        let (head, tail) = data_around_pis(self.skeleton, true);
        self.hasher.bytes(&head);
        self.tail = tail;
    }

    fn pi(&mut self, raw: &[u8]) -> Step<()> {
        if self.pis > 0 {
            self.hasher.bytes(b",");
        }
        // A line break outside a string is never canonical, and inside one it would be escaped:
        // a PI with one comes from a pretty-printed (`.json`) archive and is hashed in canonical
        // form; any other PI as it is (see "Hashing").
        if memchr::memchr(b'\n', raw).is_some() {
            self.hasher.canonical(&parse::<Pi>(raw)?);
        } else {
            self.hasher.bytes(raw);
        }
        self.pis += 1;
        self.batch.push(raw.to_vec());
        if self.batch.len() >= PI_BATCH {
            self.send()?;
        }
        Ok(())
    }

    /// The rest of the canonical data: `],"programs":[...],"settings":{...},"teams":[...]}`.
    fn pis_end(&mut self) {
        self.hasher.bytes(&self.tail);
    }
}

fn pass_two<R: Read>(
    reader: R,
    limits: &Limits,
    skeleton: &Skeleton,
    out: std::sync::mpsc::SyncSender<Vec<Vec<u8>>>,
) -> Step<Read2> {
    let raw_header = serde_json::from_slice::<Box<serde_json::value::RawValue>>(&skeleton.raw_header)?;
    let canonical_header =
        serde_json::from_str(raw_header.get()).and_then(super::digest::canonical_header).map_err(|_| FallBack)?;
    let mut pass = PassTwo {
        skeleton: &skeleton.data,
        raw_header: &skeleton.raw_header,
        hasher: DataHasher::new(),
        fingerprint: Fingerprint::default(),
        pis: 0,
        batch: Vec::new(),
        tail: Vec::new(),
        out,
    };
    let mut scanner = Scanner::new(decoded(reader, limits, Checks::Guard)?, usize::MAX);
    walk(&mut scanner, &mut pass)?;
    if !pass.batch.is_empty() {
        pass.send()?;
    }
    let PassTwo { hasher, fingerprint, out, .. } = pass;
    // The checking stage's input ends here, so that it finishes beside the checks below.
    drop(out);
    if fingerprint.finish() != skeleton.fingerprint {
        return Err(FallBack);
    }
    let digests = hasher.finish();
    let content = digests.content.clone();
    let integrity = digests.integrity(u64::from(FORMAT_VERSION), &canonical_header);
    Ok(Read2 { content, integrity })
}
