//! Pass 1: the header and the configuration outside the PIs (the skeleton), read from the two
//! ends of the document where the writer's layout allows, else from the whole document.

use super::*;

/// Pass 1's result: the header's bytes, the data without its PIs, and a fingerprint of all the
/// bytes outside the PIs, which every later pass over the file must see again.
#[derive(Debug)]
pub struct Skeleton {
    pub(super) raw_header: Vec<u8>,
    pub(super) data: Configuration,
    pub(super) fingerprint: Vec<u8>,
}

impl Skeleton {
    /// The archive's data without its PIs (canonical order, as read).
    pub fn data(&self) -> &Configuration {
        &self.data
    }
}

pub(super) struct PassOne {
    pub(super) raw_header: Vec<u8>,
    pub(super) data: Configuration,
    pub(super) fingerprint: Fingerprint,
}

/// Parses a value from `raw`, whose UTF-8 is checked once for all its strings (serde_json checks
/// each string of a byte slice on its own, which costs more than the one pass).
pub(super) fn parse<T: DeserializeOwned>(raw: &[u8]) -> Step<T> {
    Ok(serde_json::from_str(std::str::from_utf8(raw).map_err(|_| give_up("not valid UTF-8"))?)?)
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
pub(super) fn pass_one<R: Read>(reader: R, limits: &Limits) -> Step<Skeleton> {
    skeleton_of(Scanner::new(decoded(reader, limits, Checks::SizeOnly)?, PASS_ONE_MAX_VALUE))
}

pub(super) fn skeleton_of<R: Read>(mut scanner: Scanner<R>) -> Step<Skeleton> {
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
/// with the PIs cut out is then read as [`pass_one()`] reads a whole one: the skeleton is the
/// same, because pass 1 takes nothing from the PIs. Where the cut is wrong (a forged
/// document), pass 2 sees other bytes than this skeleton's and gives up.
///
/// Gives up on anything else (pretty-printed JSON, more than [`ENDS_MAX`] bytes or
/// [`ENDS_FRAMES`] frames at either end): [`pass_one()`] then reads the whole document.
pub(super) fn pass_one_ends(read_at: frames::ReadAt) -> Step<Skeleton> {
    let mut first = [0u8; 4];
    if !frames::exact_at(read_at, &mut first, 0)? {
        return Err(give_up("the file is too short for an archive"));
    }
    let zstd = first == sniff::ZSTD_MAGIC || (first[0] & 0xF0 == 0x50 && first[1..4] == [0x2A, 0x4D, 0x18]);
    let (mut head, tail) = if zstd { zstd_ends(read_at)? } else { json_ends(read_at)? };
    // The first end of the PI array in what was decompressed of the end (the reference writer
    // starts a frame there, SPEC.md 2.1): a valid document holds the sequence once, and a
    // forged one makes pass 2 see other bytes than this skeleton's.
    let tail_start = memchr::memmem::find(&tail, END_OF_PIS)
        .ok_or_else(|| give_up("the end of the PI array is not in the last frames"))?;
    let head_end = memchr::memmem::find(&head, START_OF_PIS)
        .ok_or_else(|| give_up("the start of the PI array is not in the first frames"))?
        + START_OF_PIS.len();
    head.truncate(head_end);
    head.extend_from_slice(&tail[tail_start..]);
    skeleton_of(Scanner::new(io::Cursor::new(head), PASS_ONE_MAX_VALUE))
}

/// The decompressed start of a zstd archive up to [`START_OF_PIS`], and its end from the last
/// [`END_OF_PIS`] (both found in what is returned).
pub(super) fn zstd_ends(read_at: frames::ReadAt) -> Step<(Vec<u8>, Vec<u8>)> {
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
        return Err(give_up("the start of the PI array is not in the first frames"));
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
    Err(give_up("the end of the PI array is not in the last frames"))
}

/// [`zstd_ends`] for plain JSON: the bytes at both ends, read in growing pieces.
pub(super) fn json_ends(read_at: frames::ReadAt) -> Step<(Vec<u8>, Vec<u8>)> {
    let mut head = Vec::new();
    while memchr::memmem::find(&head, START_OF_PIS).is_none() {
        let at = head.len();
        if at >= ENDS_MAX {
            return Err(give_up("the start of the PI array is not in the first 16 MiB"));
        }
        head.resize(at + CHUNK, 0);
        let n = read_at(&mut head[at..], at as u64)?;
        head.truncate(at + n);
        if n == 0 {
            return Err(give_up("the document ends early"));
        }
    }
    // The length, found by doubling then halving towards the end.
    let (mut known, mut past) = (head.len() as u64, 2 * head.len() as u64);
    while read_at(&mut [0u8], past - 1)? == 1 {
        known = past;
        // A source that never ends (a custom `Source`) gives up here, at 2^63 bytes.
        past = past.checked_mul(2).ok_or_else(|| give_up("the file does not end"))?;
    }
    while past - known > 1 {
        let middle = known + (past - known) / 2;
        if read_at(&mut [0u8], middle - 1)? == 1 { known = middle } else { past = middle }
    }
    let len = known;
    let mut want = CHUNK as u64;
    loop {
        let start = len.saturating_sub(want);
        let mut tail =
            vec![0u8; usize::try_from(len - start).map_err(|_| give_up("the end of the file is too large to hold"))?];
        if !frames::exact_at(read_at, &mut tail, start)? {
            return Err(give_up("the document ends early"));
        }
        if memchr::memmem::find(&tail, END_OF_PIS).is_some() {
            return Ok((head, tail));
        }
        if start == 0 || want >= ENDS_MAX as u64 {
            return Err(give_up("the end of the PI array is not in the last 16 MiB"));
        }
        want *= 2;
    }
}
