//! The frames of a zstd archive (RFC 8878, 3.1) as they are in the file, read without
//! decompressing them, so that the streaming reader can decompress the two ends of a document
//! (its header and the configuration around the PIs) and skip the middle.
//!
//! Why: the writer cuts the document into frames of [`super::FRAME_CONTENT`] bytes (SPEC.md 2.1),
//! and zstd frames are independent of each other. Walking the frames only reads the block headers
//! (3 bytes per block of at most 128 KiB), which costs a read of the compressed file, a tenth of
//! the document's size; decompressing every frame to find the end of the PIs cost as much as a
//! whole `zstd -dc`.
//!
//! Nothing here judges an archive: a frame this walker does not understand (a reserved block
//! type, a dictionary, a truncated file) only makes the caller decompress everything instead,
//! and the full reader reports what is wrong.

use std::io::{self, Read};
use std::ops::Range;

use super::sniff::{self, MAX_WINDOW_LOG, ZSTD_MAGIC};

/// Reads bytes at an offset, as `pread` does: fewer than asked only at the end of the input.
pub(crate) type ReadAt<'a> = &'a dyn Fn(&mut [u8], u64) -> io::Result<usize>;

/// The most frame and block headers [`zstd_frames`] reads before it gives up (about one per
/// 128 KiB of a writer's archive: this is 12 GiB of JSON).
const MAX_BLOCKS: usize = 100_000;

fn malformed(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Fills `buf` from `offset`; false when the input ends right at `offset`, an error when it ends
/// inside `buf`.
pub(crate) fn exact_at(read_at: ReadAt, buf: &mut [u8], offset: u64) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Where the zstd frames of the input are, in order; skippable frames (RFC 8878, 3.1.2), which
/// hold nothing of the document, are left out. Only the frame and block headers are read: a few
/// bytes per block of up to 128 KiB. Anything but a sequence of whole frames is an error.
pub(crate) fn zstd_frames(read_at: ReadAt) -> io::Result<Vec<Range<u64>>> {
    let mut frames = Vec::new();
    let mut at = 0u64;
    let mut blocks = 0;
    loop {
        let mut magic = [0u8; 4];
        if !exact_at(read_at, &mut magic, at)? {
            return Ok(frames);
        }
        // Each frame and block header read counts, so that a file of tiny frames is not walked
        // for ever.
        blocks += 1;
        if blocks > MAX_BLOCKS {
            return Err(malformed("more frames and blocks than this reader walks"));
        }
        if magic[0] & 0xF0 == 0x50 && magic[1..4] == [0x2A, 0x4D, 0x18] {
            let mut size = [0u8; 4];
            if !exact_at(read_at, &mut size, at + 4)? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let size = u64::from(u32::from_le_bytes(size));
            // Whole, as every frame must be: its last byte is there.
            if size > 0 && !exact_at(read_at, &mut [0u8], at + 8 + size - 1)? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            at += 8 + size;
            continue;
        }
        if magic != ZSTD_MAGIC {
            return Err(malformed("not a zstd frame"));
        }
        // Frame header (3.1.1.1): descriptor, window descriptor unless single-segment,
        // dictionary id, content size; `sniff` reads the values.
        let mut header = [0u8; 18];
        header[..4].copy_from_slice(&magic);
        if !exact_at(read_at, &mut header[4..5], at + 4)? {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let descriptor = header[4];
        if descriptor & 0x08 != 0 {
            return Err(malformed("reserved bit set in a frame header"));
        }
        if descriptor & 0x03 != 0 {
            return Err(malformed("a frame that needs a dictionary"));
        }
        let single_segment = descriptor & 0x20 != 0;
        let size_len = match descriptor >> 6 {
            0 if single_segment => 1,
            0 => 0,
            1 => 2,
            2 => 4,
            _ => 8,
        };
        let header_len = 5 + usize::from(!single_segment) + size_len;
        if !exact_at(read_at, &mut header[5..header_len], at + 5)? {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let parsed = sniff::frame_header(&header[..header_len]).ok_or_else(|| malformed("incomplete frame header"))?;
        if parsed.window_size > 1 << MAX_WINDOW_LOG {
            return Err(malformed("a frame window over the limit"));
        }
        // Blocks (3.1.1.2): a 3-byte little-endian header each (last-block bit, type, size).
        let mut end = at + header_len as u64;
        loop {
            blocks += 1;
            if blocks > MAX_BLOCKS {
                return Err(malformed("more blocks than this reader walks"));
            }
            let mut block = [0u8; 3];
            if !exact_at(read_at, &mut block, end)? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let block = u32::from(block[0]) | u32::from(block[1]) << 8 | u32::from(block[2]) << 16;
            let content = match (block >> 1) & 0x03 {
                0 | 2 => u64::from(block >> 3), // raw and compressed blocks: that many bytes follow
                1 => 1,                         // RLE: one byte, repeated
                _ => return Err(malformed("reserved block type")),
            };
            end += 3 + content;
            if block & 1 == 1 {
                break;
            }
        }
        if parsed.checksum {
            end += 4;
        }
        // The frame must be whole: its last byte is there.
        if !exact_at(read_at, &mut [0u8], end - 1)? {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        frames.push(at..end);
        at = end;
    }
}

/// The bytes of `range`.
pub(crate) fn read_range(read_at: ReadAt, range: &Range<u64>, max_len: usize) -> io::Result<Vec<u8>> {
    let len = usize::try_from(range.end - range.start).ok().filter(|&n| n <= max_len);
    let mut bytes = vec![0u8; len.ok_or_else(|| malformed("a frame over the length this reader holds"))?];
    if !exact_at(read_at, &mut bytes, range.start)? {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(bytes)
}

/// Decompresses the start of one zstd frame, onto the end of `out`, until `enough` says so (given
/// all of `out`) or the frame ends; whether `enough` said so. More than `max_len` bytes in `out`
/// is an error.
pub(crate) fn decompress_until(
    frame: &[u8],
    out: &mut Vec<u8>,
    max_len: usize,
    mut enough: impl FnMut(&[u8]) -> bool,
) -> io::Result<bool> {
    let mut decoder = zstd::stream::read::Decoder::with_buffer(frame)?.single_frame();
    decoder.window_log_max(MAX_WINDOW_LOG)?;
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let n = match decoder.read(&mut chunk) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => other?,
        };
        if n == 0 {
            return Ok(false);
        }
        if out.len() + n > max_len {
            return Err(malformed("a frame over the length this reader holds"));
        }
        out.extend_from_slice(&chunk[..n]);
        if enough(out) {
            return Ok(true);
        }
    }
}

/// Decompresses one zstd frame, refusing more than `max_len` bytes of content (an error).
pub(crate) fn decompress(frame: &[u8], max_len: usize) -> io::Result<Vec<u8>> {
    let declared = sniff::frame_header(frame).and_then(|h| h.content_size).and_then(|n| usize::try_from(n).ok());
    let mut out = Vec::with_capacity(declared.unwrap_or(0).min(max_len));
    let mut decoder = zstd::stream::read::Decoder::with_buffer(frame)?.single_frame();
    decoder.window_log_max(MAX_WINDOW_LOG)?;
    decoder.take(max_len as u64 + 1).read_to_end(&mut out)?;
    if out.len() > max_len {
        return Err(malformed("a frame over the length this reader holds"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(input: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        let read_at = |buf: &mut [u8], offset: u64| -> io::Result<usize> {
            let rest = input.get(offset as usize..).unwrap_or_default();
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            Ok(n)
        };
        let frames = zstd_frames(&read_at)?;
        frames.iter().map(|range| read_range(&read_at, range, usize::MAX)).collect()
    }

    /// Frames of every kind the zstd library writes: with and without a declared size and a
    /// checksum, raw (incompressible), RLE and compressed blocks, more than one block, and a
    /// skippable frame between them.
    #[test]
    fn frames_are_cut_where_the_zstd_library_says_they_end() {
        let text: Vec<u8> = (0..400_000u32).flat_map(|i| format!("{{\"n\":{}}},", i % 977).into_bytes()).collect();
        let noise: Vec<u8> = (0..300_000u64).map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8).collect();
        let same = vec![b'x'; 500_000];
        let mut parts = Vec::new();
        for (n, content) in [&text[..], &noise[..], &same[..], b"}"].into_iter().enumerate() {
            let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
            encoder.include_checksum(n % 2 == 0).unwrap();
            if n < 2 {
                encoder.set_pledged_src_size(Some(content.len() as u64)).unwrap();
            }
            io::Write::write_all(&mut encoder, content).unwrap();
            parts.push(encoder.finish().unwrap());
        }
        let skippable = [&[0x5Au8, 0x2A, 0x4D, 0x18, 3, 0, 0, 0][..], b"abc"].concat();
        let file = [parts[0].clone(), skippable, parts[1].clone(), parts[2].clone(), parts[3].clone()].concat();
        let frames = of(&file).unwrap();
        assert_eq!(frames, parts);
        for part in &parts {
            assert_eq!(zstd::zstd_safe::find_frame_compressed_size(part), Ok(part.len()));
        }
        let decompressed: Vec<u8> = frames.iter().flat_map(|f| decompress(f, 8 << 20).unwrap()).collect();
        assert_eq!(decompressed, [&text[..], &noise[..], &same[..], b"}"].concat());
        assert!(decompress(&frames[0], 1000).is_err(), "over the length");
        let mut start = b"<".to_vec();
        assert!(decompress_until(&frames[0], &mut start, 8 << 20, |out| out.len() > 100_000).unwrap());
        assert!(start.len() > 100_000 && start.len() < 200_000 && text.starts_with(&start[1..]));
        let mut all = Vec::new();
        assert!(!decompress_until(&frames[0], &mut all, 8 << 20, |_| false).unwrap());
        assert_eq!(all, text);
        assert!(decompress_until(&frames[0], &mut Vec::new(), 1000, |_| false).is_err());
    }

    #[test]
    fn truncated_and_foreign_input_is_an_error_not_a_frame() {
        let frame = zstd::bulk::compress(&vec![7u8; 10_000], 3).unwrap();
        for cut in 1..frame.len() {
            assert!(of(&frame[..cut]).is_err(), "cut at {cut}");
        }
        assert!(of(b"{\"format\"").is_err());
        assert_eq!(of(b"").unwrap().len(), 0);
        // A skippable frame cut short is not whole either.
        assert!(of(&[0x50u8, 0x2A, 0x4D, 0x18, 9, 0, 0, 0, 1, 2]).is_err());
        // A file of empty skippable frames is walked only so far.
        let empty_skippable = [0x50u8, 0x2A, 0x4D, 0x18, 0, 0, 0, 0];
        assert!(of(&empty_skippable.repeat(MAX_BLOCKS + 1)).is_err());
        assert_eq!(of(&empty_skippable.repeat(10)).unwrap().len(), 0);
    }
}
