//! The export's write path for zstd archives: the configuration streams from the store into
//! the archive, in memory that does not grow with its size.
//!
//! The header must come before `data` (SPEC.md 3.1) but holds the digests and counts of `data`,
//! which are only known once `data` has been produced. So the archive is made in two steps:
//!
//! 1. [`spool`]: the caller feeds the configuration piece by piece into a [`DataStream`] (the
//!    small part first, then one PI at a time, as [`crate::store::Store::stream_snapshot`] reads
//!    them). A second thread writes the canonical bytes of `data` once: it serializes the PIs
//!    (handed over in batches), hashes the bytes for both digests, and compresses them into zstd
//!    frames of at most [`FRAME_CONTENT`] bytes each, in an anonymous temporary file (the
//!    *spool*, next to the destination; it holds compressed bytes only and disappears with its
//!    handle). Reading the store and writing the archive so run side by side, and nothing holds
//!    more than a few batches of PIs and one frame at a time.
//! 2. [`Spooled::write_to`]: one frame with the document up to `"data":` (its header now
//!    complete), the spooled frames copied as they are, and one frame with the closing `}`. The
//!    parts of `data` before and after the PIs are frames of their own among the spooled ones,
//!    so that the streaming reader decompresses little to find them.
//!    SPEC.md 2.1 describes this layout; `zstd -dc` and every conforming reader see one document.
//!
//! [`Spooled::verify`] then reads the written file back and checks that it holds exactly the
//! bytes that were produced: the first and last frames byte for byte, the spooled frames by the
//! SHA-256 of the compressed bytes, computed as the compressor produced them (before they went
//! to the spool). A failing disk, a short write, a truncated or reordered file fails it. Reading
//! back compressed bytes instead of decompressing them costs a hundredth of the time; that zstd
//! gives back what it was given (each frame also carries a checksum of its content) is zstd's
//! contract, and the tests decode every kind of archive the writer makes.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

use super::OverLimits;
use super::digest::{self, DataDigests};
use super::{Header, Limits, Scope, ZSTD_LEVEL, document_prefix, seal_header};
use crate::error::ArchiveError;
use crate::host::HostIdentity;
use crate::model::canonical::{Measure, data_around_pis, write_canonical, write_canonical_measured};
use crate::model::{ApiToken, Configuration, Counts, Pi};

/// Uncompressed bytes per spooled zstd frame. Each frame declares its content size and stays
/// far below the 16 MiB window limit of SPEC.md 2.1; frames this large cost nothing measurable in
/// compression ratio (level 3 looks back 2 MiB at most anyway).
pub const FRAME_CONTENT: usize = 4 << 20;
/// PIs handed to the writing thread at a time: enough that the channel costs nothing per PI.
const PI_BATCH: usize = 32;
/// Batches in flight between the two threads: bounds the pipeline's memory.
const IN_FLIGHT: usize = 4;

/// Receives the configuration, in canonical order, and hands it to the thread that writes the
/// canonical bytes of `data`.
///
/// Call [`DataStream::start`] once with everything but the PIs, then [`DataStream::pi`] for each
/// PI in key order (each with its children in canonical order, see
/// [`crate::model::Pi::sort_children`]).
pub struct DataStream<'a> {
    tx: SyncSender<Piece<'a>>,
    /// PIs waiting to be handed over.
    batch: Vec<Cow<'a, Pi>>,
    scope: Scope,
    counts: Counts,
    api_tokens: Vec<ApiToken>,
    /// The canonical bytes after the last PI (`],"programs":...}`), made by `start`.
    tail: Option<Vec<u8>>,
    /// The key of the last PI, to refuse PIs out of order.
    last_pi: Option<String>,
    /// Entities outside the PIs over the default reader limits.
    over_limits: OverLimits,
}

/// What the writing thread gets: canonical bytes, or PIs to serialize (in this order).
enum Piece<'a> {
    Bytes(Vec<u8>),
    Pis(Vec<Cow<'a, Pi>>),
}

impl<'a> DataStream<'a> {
    /// Writes the beginning of `data` from `config` (its `pis` are ignored) and remembers the rest.
    /// With [`Scope::Migration`] the admins are left out.
    ///
    /// # Errors
    ///
    /// [`ArchiveError::Io`] when the writing thread stopped; [`ArchiveError::Malformed`] when
    /// called twice.
    pub fn start(&mut self, config: &Configuration, api_tokens: &[ApiToken]) -> Result<(), ArchiveError> {
        if self.tail.is_some() {
            return Err(malformed("", "the configuration was started twice"));
        }
        let admins = if self.scope == Scope::Full { config.admins.as_ref() } else { None };
        self.counts = Counts {
            admin_groups: admins.map_or(0, |a| a.groups.len() as u64),
            admin_users: admins.map_or(0, |a| a.users.len() as u64),
            periods: config.periods.len() as u64,
            sprints: config.periods.iter().map(|p| p.sprints.len() as u64).sum(),
            programs: config.programs.len() as u64,
            teams: config.teams.len() as u64,
            ..Counts::default()
        };
        self.over_limits = OverLimits::around_pis(config, self.scope == Scope::Full);
        let (head, tail) = data_around_pis(config, self.scope == Scope::Full);
        self.send(Piece::Bytes(head))?;
        self.tail = Some(tail);
        self.api_tokens = api_tokens.to_vec();
        Ok(())
    }

    /// Takes one PI: owned (as read from a store) or borrowed (from a configuration in memory).
    ///
    /// # Errors
    ///
    /// [`ArchiveError::Io`] when the writing thread stopped; [`ArchiveError::Malformed`] before
    /// `start`, for a PI out of key order, or for a capacity that is not a finite number (JSON
    /// cannot carry it).
    pub fn pi(&mut self, pi: Cow<'a, Pi>) -> Result<(), ArchiveError> {
        if self.tail.is_none() {
            return Err(malformed("/data/pis", "a PI came before the rest of the configuration"));
        }
        let index = self.counts.pis;
        if let Some(last) = &self.last_pi
            && pi.key.as_str() <= last.as_str()
        {
            return Err(malformed(
                &format!("/data/pis/{index}"),
                &format!("PI {:?} came after PI {last:?}: PIs must come in key order", pi.key),
            ));
        }
        for (j, capacity) in pi.capacity.iter().enumerate() {
            if !capacity.value.is_finite() {
                return Err(malformed(
                    &format!("/data/pis/{index}/capacity/{j}/value"),
                    &format!(
                        "capacity {} of pi {} is not a finite number; JSON cannot carry it",
                        capacity.value, pi.key
                    ),
                ));
            }
        }
        self.counts.add_pi(&pi);
        self.last_pi = Some(pi.key.clone());
        self.batch.push(pi);
        if self.batch.len() == PI_BATCH {
            let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(PI_BATCH));
            self.send(Piece::Pis(batch))?;
        }
        Ok(())
    }

    /// Hands over the last PIs and the rest of `data`.
    fn finish(&mut self) -> Result<(), ArchiveError> {
        let tail = self.tail.take().ok_or_else(|| malformed("", "the configuration was never started"))?;
        let batch = std::mem::take(&mut self.batch);
        self.send(Piece::Pis(batch))?;
        self.send(Piece::Bytes(tail))
    }

    fn send(&self, piece: Piece<'a>) -> Result<(), ArchiveError> {
        // The writing thread hung up: it failed, and its error is the one reported (see `spool`).
        self.tx
            .send(piece)
            .map_err(|_| ArchiveError::Io(io::Error::new(io::ErrorKind::BrokenPipe, "the writer stopped")))
    }
}

impl crate::sink::ConfigSink for DataStream<'_> {
    fn start(&mut self, config: &Configuration, api_tokens: &[ApiToken]) -> crate::error::Result<()> {
        Ok(DataStream::start(self, config, api_tokens)?)
    }

    fn pi(&mut self, pi: Pi) -> crate::error::Result<()> {
        Ok(DataStream::pi(self, Cow::Owned(pi))?)
    }
}

fn malformed(pointer: &str, message: &str) -> ArchiveError {
    ArchiveError::Malformed { pointer: pointer.to_owned(), message: message.to_owned() }
}

/// An archive whose `data` is spooled and whose header is complete: ready to be written.
#[derive(Debug)]
pub struct Spooled {
    /// The header, digests and counts included.
    pub header: Header,
    /// The first frame: `{"format":...,"format_version":1,"header":HEADER,"data":`.
    first: Vec<u8>,
    /// The compressed frames of `data`.
    spool: File,
    /// Their length and SHA-256.
    spool_len: u64,
    spool_sha256: [u8; 32],
    /// The last frame: `}`.
    last: Vec<u8>,
    /// Entities over the default reader limits: the archive is complete, and these notes say
    /// how to read it.
    pub over_limits: Vec<String>,
}

/// Streams `data` through `feed` into a spool file created in `spool_dir`, and seals the header.
///
/// `feed` gets a [`DataStream`]; it must call `start` once and then `pi` for every PI in key
/// order. `created_at` is truncated to whole seconds.
///
/// # Errors
///
/// Any error of `feed`; [`ArchiveError::Io`] when the spool cannot be created or written;
/// [`ArchiveError::Malformed`] when `feed` never started the configuration.
pub fn spool<'a, E: From<ArchiveError>>(
    spool_dir: &Path,
    source: &HostIdentity,
    scope: Scope,
    created_at: DateTime<Utc>,
    feed: impl FnOnce(&mut DataStream<'a>) -> Result<(), E>,
) -> Result<Spooled, E> {
    let spool = tempfile::tempfile_in(spool_dir).map_err(ArchiveError::Io)?;
    let (tx, rx) = sync_channel::<Piece<'a>>(IN_FLIGHT);
    let (fed, written, stream) = std::thread::scope(|scope_| {
        let writer = scope_.spawn(move || write_data(rx, spool));
        let mut stream = DataStream {
            tx,
            batch: Vec::with_capacity(PI_BATCH),
            scope,
            counts: Counts::default(),
            api_tokens: Vec::new(),
            tail: None,
            last_pi: None,
            over_limits: OverLimits::default(),
        };
        let fed = feed(&mut stream).and_then(|()| stream.finish().map_err(E::from));
        // Hanging up tells the writing thread that `data` is complete (or abandoned).
        let DataStream { tx, counts, api_tokens, over_limits, .. } = stream;
        drop(tx);
        let written = writer.join().unwrap_or_else(|_| Err(io::Error::other("the archive writer panicked")));
        (fed, written, (counts, api_tokens, over_limits))
    });
    // When both failed, the writer's error is the cause: the feeder only saw it hang up.
    let mut written = written.map_err(ArchiveError::Io)?;
    fed?;
    let (counts, api_tokens, mut over_limits) = stream;
    over_limits.merge(std::mem::take(&mut written.over_limits));
    let mut header = Header::unsealed(source, scope, created_at, counts, api_tokens);
    seal_header(&mut header, written.digests);
    let first = own_frames(&document_prefix(&header)).map_err(ArchiveError::Io)?;
    let last = own_frames(b"}").map_err(ArchiveError::Io)?;
    Ok(Spooled {
        header,
        first,
        spool: written.spool,
        spool_len: written.len,
        spool_sha256: written.sha256,
        last,
        over_limits: over_limits.notes(),
    })
}

/// What the writing thread made.
struct WrittenData {
    digests: DataDigests,
    spool: File,
    /// Length and SHA-256 of the compressed frames in `spool`.
    len: u64,
    sha256: [u8; 32],
    /// PIs over the default reader limits.
    over_limits: OverLimits,
}

/// The writing thread: serializes `data` from the pieces it receives into frames in the spool.
fn write_data(rx: Receiver<Piece<'_>>, spool: File) -> io::Result<WrittenData> {
    let mut data = DataFrames::new(BufWriter::with_capacity(1 << 20, spool), true)?;
    for piece in rx {
        match piece {
            Piece::Bytes(bytes) => data.own_frames(&bytes)?,
            Piece::Pis(batch) => {
                for pi in &batch {
                    data.pi(pi)?;
                }
            }
        }
    }
    data.out.flush()?;
    data.out.get_mut().end_frame()?;
    let DataFrames { out, over_limits, .. } = data;
    let Frames { hasher, out, out_hash, out_len, .. } = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    let spool = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    let digests = hasher.ok_or_else(|| io::Error::other("the data was not hashed"))?.finish();
    Ok(WrittenData { digests, spool, len: out_len, sha256: out_hash.finalize().into(), over_limits })
}

/// The layout of SPEC.md 2.1 as the reference writer cuts it: the document's parts outside
/// the PIs in frames of their own, so that a reader finds the configuration without the PIs by
/// decompressing the frames at the two ends only (`stream.rs`, pass 1), and the PIs in frames
/// of at most [`FRAME_CONTENT`] bytes. Used by the streaming export ([`spool`]) and by
/// [`super::write`], so that both write the same bytes.
pub(crate) struct DataFrames<W: Write> {
    /// serde_json writes many tiny slices: they are gathered before they are cut into frames.
    out: BufWriter<Frames<W>>,
    pis: u64,
    over_limits: OverLimits,
}

impl<W: Write> DataFrames<W> {
    /// Frames into `out`; `digests` hashes the bytes for the content and integrity digests.
    pub(crate) fn new(out: W, digests: bool) -> io::Result<Self> {
        let frames = Frames {
            content: Vec::with_capacity(FRAME_CONTENT),
            content_total: 0,
            hasher: digests.then(digest::DataHasher::new),
            compressor: frame_compressor()?,
            compressed: Vec::with_capacity(zstd::zstd_safe::compress_bound(FRAME_CONTENT)),
            out,
            out_hash: Sha256::new(),
            out_len: 0,
        };
        Ok(DataFrames { out: BufWriter::with_capacity(1 << 16, frames), pis: 0, over_limits: OverLimits::default() })
    }

    /// `bytes` in frames of their own.
    pub(crate) fn own_frames(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_mut().end_frame()?;
        self.out.write_all(bytes)?;
        self.out.flush()?;
        self.out.get_mut().end_frame()
    }

    /// The next PI of the array, measured as it is written.
    pub(crate) fn pi(&mut self, pi: &Pi) -> io::Result<()> {
        if self.pis > 0 {
            self.out.write_all(b",")?;
        }
        // The size comes from the bytes written; only a PI larger than the string limit can hold
        // a string over it, and only such a (rare) PI is measured again for its longest string.
        let before = self.written();
        write_canonical(&mut self.out, pi)?;
        let size = self.written() - before;
        let longest_string = if size > Limits::default().max_string as u64 {
            write_canonical_measured(io::sink(), pi)?.longest_string
        } else {
            0
        };
        self.over_limits.note_pi(self.pis, &pi.key, Measure { size, longest_string });
        self.pis += 1;
        Ok(())
    }

    /// Bytes of content written so far, those still buffered included.
    fn written(&self) -> u64 {
        self.out.get_ref().content_total + self.out.buffer().len() as u64
    }

    /// Ends the last frame; returns the output.
    pub(crate) fn finish(self) -> io::Result<W> {
        let mut frames = self.out.into_inner().map_err(io::IntoInnerError::into_error)?;
        frames.end_frame()?;
        Ok(frames.out)
    }
}

/// Cuts the bytes written to it into frames of [`FRAME_CONTENT`] bytes: each frame's content is
/// hashed for the digests, compressed, hashed again as compressed bytes, and appended to `out`.
struct Frames<W> {
    content: Vec<u8>,
    /// Bytes of content taken in all.
    content_total: u64,
    hasher: Option<digest::DataHasher>,
    compressor: zstd::bulk::Compressor<'static>,
    compressed: Vec<u8>,
    out: W,
    out_hash: Sha256,
    out_len: u64,
}

impl<W: Write> Frames<W> {
    fn end_frame(&mut self) -> io::Result<()> {
        if self.content.is_empty() {
            return Ok(());
        }
        if let Some(hasher) = &mut self.hasher {
            hasher.bytes(&self.content);
        }
        self.compressed.clear();
        self.compressor.compress_to_buffer(&self.content, &mut self.compressed)?;
        self.out.write_all(&self.compressed)?;
        self.out_hash.update(&self.compressed);
        self.out_len += self.compressed.len() as u64;
        self.content.clear();
        Ok(())
    }
}

impl<W: Write> Write for Frames<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let take = bytes.len().min(FRAME_CONTENT - self.content.len());
        self.content.extend_from_slice(&bytes[..take]);
        self.content_total += take as u64;
        if self.content.len() == FRAME_CONTENT {
            self.end_frame()?;
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `bytes` compressed as [`DataFrames::own_frames`] does.
fn own_frames(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut frames = DataFrames::new(Vec::new(), false)?;
    frames.own_frames(bytes)?;
    frames.finish()
}

/// A compressor for self-contained frames: level [`ZSTD_LEVEL`], content size and checksum.
fn frame_compressor() -> io::Result<zstd::bulk::Compressor<'static>> {
    let mut compressor = zstd::bulk::Compressor::new(ZSTD_LEVEL)?;
    compressor.include_checksum(true)?;
    compressor.include_contentsize(true)?;
    Ok(compressor)
}

impl Spooled {
    /// Writes the archive: the first frame, the spooled `data` frames and the last frame.
    /// Returns the number of bytes written.
    ///
    /// # Errors
    ///
    /// [`ArchiveError::Io`] when reading the spool or writing fails.
    pub fn write_to(&mut self, out: &mut impl Write) -> Result<u64, ArchiveError> {
        out.write_all(&self.first)?;
        self.spool.seek(SeekFrom::Start(0))?;
        let copied = io::copy(&mut self.spool, out)?;
        out.write_all(&self.last)?;
        Ok(self.first.len() as u64 + copied + self.last.len() as u64)
    }

    /// Checks that `reader` holds exactly the bytes [`Spooled::write_to`] wrote (see the module
    /// docs). Streaming, in bounded memory.
    ///
    /// # Errors
    ///
    /// [`ArchiveError::Integrity`] when the bytes differ or the file is shorter or longer;
    /// [`ArchiveError::Io`] when reading fails.
    pub fn verify(&self, reader: impl Read) -> Result<(), ArchiveError> {
        let mut reader = BufReader::with_capacity(1 << 16, reader);
        let differs =
            || ArchiveError::Integrity("the archive just written does not read back as written (failing disk?)".into());
        let mut first = vec![0; self.first.len()];
        read_or_differs(&mut reader, &mut first, differs)?;
        if first != self.first {
            return Err(differs());
        }
        let mut hashing = HashingSink(Sha256::new());
        let copied = io::copy(&mut (&mut reader).take(self.spool_len), &mut hashing)?;
        let sha256: [u8; 32] = hashing.0.finalize().into();
        if copied != self.spool_len || sha256 != self.spool_sha256 {
            return Err(differs());
        }
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest)?;
        if rest != self.last {
            return Err(differs());
        }
        Ok(())
    }
}

fn read_or_differs(
    reader: &mut impl Read,
    buf: &mut [u8],
    differs: impl Fn() -> ArchiveError,
) -> Result<(), ArchiveError> {
    match reader.read_exact(buf) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(differs()),
        other => Ok(other?),
    }
}

/// Hashes what is written to it.
struct HashingSink(Sha256);

impl Write for HashingSink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{Encoding, Limits, MAX_WINDOW_LOG, read, seal, write};
    use crate::host::Deployment;
    use crate::sample::{SampleSize, generate};

    fn host() -> HostIdentity {
        HostIdentity::new(Deployment::Server, "SID", "https://jira.example.com").unwrap()
    }

    fn streamed(config: &Configuration, tokens: &[ApiToken], scope: Scope, at: DateTime<Utc>) -> (Spooled, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let mut spooled = spool::<ArchiveError>(dir.path(), &host(), scope, at, |stream| {
            stream.start(config, tokens)?;
            config.pis.iter().try_for_each(|pi| stream.pi(Cow::Borrowed(pi)))
        })
        .unwrap();
        let mut bytes = Vec::new();
        spooled.write_to(&mut bytes).unwrap();
        (spooled, bytes)
    }

    #[test]
    fn the_streamed_archive_holds_the_same_document_as_the_reference_writer() {
        let at = Utc::now();
        for size in [SampleSize::Demo, SampleSize::Large] {
            let (mut config, tokens) = generate(size);
            config.sort();
            for scope in [Scope::Full, Scope::Migration] {
                let (spooled, bytes) = streamed(&config, &tokens, scope, at);
                let mut data = config.clone();
                if scope == Scope::Migration {
                    data.admins = None;
                }
                let sealed = seal(data, &host(), scope, tokens.clone(), at);
                assert_eq!(spooled.header, sealed.header, "{size:?} {scope:?}");
                let mut reference = Vec::new();
                write(&sealed, &mut reference, Encoding::Zstd).unwrap();
                let document = zstd::decode_all(&bytes[..]).unwrap();
                assert_eq!(document, zstd::decode_all(&reference[..]).unwrap(), "{size:?} {scope:?}");
                assert_eq!(read(&bytes[..], &Limits::default()).unwrap(), sealed);
                spooled.verify(&bytes[..]).unwrap();
            }
        }
    }

    #[test]
    fn data_is_split_into_frames_of_bounded_size_with_sizes_and_checksums() {
        let (mut config, tokens) = generate(SampleSize::Large);
        config.sort();
        let (_, bytes) = streamed(&config, &tokens, Scope::Full, Utc::now());
        let mut rest = &bytes[..];
        let mut frames = Vec::new();
        while !rest.is_empty() {
            let size = zstd::zstd_safe::find_frame_compressed_size(rest).unwrap();
            let content = zstd::zstd_safe::get_frame_content_size(rest).unwrap().unwrap();
            assert!(content <= FRAME_CONTENT as u64);
            let header = crate::archive::sniff::frame_header(rest).unwrap();
            assert!(header.checksum && header.window_size <= 1 << MAX_WINDOW_LOG);
            frames.push(zstd::decode_all(&rest[..size]).unwrap());
            rest = &rest[size..];
        }
        // 12 MB of JSON: prefix, the data before the PIs, at least three frames of PIs, the data
        // after them, closing brace.
        assert!(frames.len() >= 7, "{} frames", frames.len());
        assert!(frames[0].ends_with(br#","data":"#));
        assert!(frames[1].starts_with(br#"{"admins":"#) && frames[1].ends_with(br#","pis":["#));
        let tail = &frames[frames.len() - 2];
        assert!(tail.starts_with(br#"],"programs":"#) && tail.ends_with(b"]}"), "the data after the PIs");
        assert_eq!(frames[frames.len() - 1], b"}");
    }

    #[test]
    fn a_changed_or_truncated_file_fails_verification() {
        let (config, tokens) = generate(SampleSize::Demo);
        let (spooled, bytes) = streamed(&config, &tokens, Scope::Full, Utc::now());
        let truncated = &bytes[..bytes.len() - 10];
        assert!(matches!(spooled.verify(truncated), Err(ArchiveError::Integrity(_))));
        let mut flipped = bytes.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x40;
        assert!(matches!(spooled.verify(&flipped[..]), Err(ArchiveError::Integrity(_))));
        let mut longer = bytes.clone();
        longer.extend(zstd::encode_all(&b" "[..], 3).unwrap());
        assert!(matches!(spooled.verify(&longer[..]), Err(ArchiveError::Integrity(_))));
    }

    #[test]
    fn pis_out_of_order_and_non_finite_capacity_are_refused() {
        let (mut config, tokens) = generate(SampleSize::Demo);
        config.sort();
        let dir = tempfile::tempdir().unwrap();
        let unordered = spool::<ArchiveError>(dir.path(), &host(), Scope::Full, Utc::now(), |stream| {
            stream.start(&config, &tokens)?;
            config.pis.iter().rev().try_for_each(|pi| stream.pi(Cow::Borrowed(pi)))
        });
        assert!(matches!(unordered, Err(ArchiveError::Malformed { .. })));
        let mut pi = config.pis[0].clone();
        pi.capacity[0].value = f64::NAN;
        let nan = spool::<ArchiveError>(dir.path(), &host(), Scope::Full, Utc::now(), |stream| {
            stream.start(&config, &tokens)?;
            stream.pi(Cow::Borrowed(&pi))
        });
        assert!(
            matches!(nan, Err(ArchiveError::Malformed { pointer, .. }) if pointer == "/data/pis/0/capacity/0/value")
        );
        let never_started = spool::<ArchiveError>(dir.path(), &host(), Scope::Full, Utc::now(), |_| Ok(()));
        assert!(matches!(never_started, Err(ArchiveError::Malformed { .. })));
    }
}
