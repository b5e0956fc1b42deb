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

mod pass_one;
mod pass_two;
mod scanner;

pub use self::pass_one::Skeleton;
use self::pass_one::*;
use self::pass_two::*;
use self::scanner::*;

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

/// Why the fast path gave up; the caller runs [`super::read`] for the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallBack(pub String);

impl std::fmt::Display for FallBack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn give_up(why: impl Into<String>) -> FallBack {
    FallBack(why.into())
}

type Step<T> = Result<T, FallBack>;

impl From<io::Error> for FallBack {
    fn from(e: io::Error) -> Self {
        FallBack(format!("reading failed: {e}"))
    }
}

impl From<serde_json::Error> for FallBack {
    fn from(e: serde_json::Error) -> Self {
        FallBack(format!("a value does not parse: {e}"))
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
pub fn validate(source: &(impl Source + ?Sized), limits: &Limits) -> Result<Streamed, FallBack> {
    let skeleton = read_skeleton(source, limits)?;
    check(source.open()?, limits, &skeleton)
}

/// Pass 2 on its own, after [`read_skeleton`], for a caller that has no use for the PIs: as
/// [`check_pis`] with a consumer that drops them, without handing them over.
pub fn check<R: Read + Send>(reader: R, limits: &Limits, skeleton: &Skeleton) -> Result<Streamed, FallBack> {
    pipeline(reader, limits, skeleton, false, |_| ()).0
}

/// Pass 1 on its own: the header and the small parts of `data`, for a caller that then runs
/// [`check_pis`] (once or several times) over the same file: the two ends of the document where
/// that does, else the whole document. An error: use [`super::read`].
pub fn read_skeleton(source: &(impl Source + ?Sized), limits: &Limits) -> Result<Skeleton, FallBack> {
    let read_at = |buf: &mut [u8], offset: u64| source.read_at(buf, offset);
    if let Ok(skeleton) = pass_one_ends(&read_at) {
        return Ok(skeleton);
    }
    pass_one(source.open()?, limits)
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
) -> (Result<Streamed, FallBack>, T) {
    pipeline(reader, limits, skeleton, true, consume)
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
    let sniffed = sniff::sniff(&mut reader, limits.max_size)
        .map_err(|_| give_up("the first bytes are not those of an archive within the limits"))?;
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
                super::check_frame(&frame, limits).map_err(|_| give_up("the first frame is over a limit"))?;
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
    fn pass_one_reads_a_bounded_number_of_frames_at_each_end() {
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
