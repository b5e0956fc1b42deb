//! Byte layout (SPEC.md, "Byte layout"): telling zstd from JSON from anything else by the first
//! bytes, and reading the first zstd frame header so that a frame declaring too much content, or
//! too large a window, is refused before anything is decompressed.
//!
//! Everything here looks at a few leading bytes only; decompression and parsing are
//! [`super::read`]'s business.

use std::io::{self, Read};

use super::text::Position;
use crate::error::ArchiveError;

/// Magic number of a zstd frame (RFC 8878, 3.1.1), as it appears in the file.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// Largest zstd window this reader accepts: 2^24 bytes (16 MiB). zstd levels up to 19 use at
/// most 8 MiB; a larger window is either `--ultra`/`--long` or a frame built to make the reader
/// allocate, and the window is what a decoder must hold in memory.
pub const MAX_WINDOW_LOG: u32 = 24;

/// Longest zstd frame header: magic (4), descriptor (1), window (1), dictionary id (4), size (8).
const HEAD_LEN: usize = 18;

/// The encoding the first bytes announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// zstd frames; the first frame's header when it is a regular frame whose header is complete.
    Zstd(Option<FrameHeader>),
    /// A JSON text starting with `{`.
    Json,
}

/// The parts of a zstd frame header (RFC 8878, 3.1.1.1) that matter before decompressing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Window size in bytes (for single-segment frames, the content size).
    pub window_size: u64,
    /// Decompressed size of the frame, when the header declares it.
    pub content_size: Option<u64>,
    /// Whether the frame ends with a content checksum.
    pub checksum: bool,
}

/// Result of [`sniff`]: the layout, and the bytes consumed to learn it (to be read again).
pub(crate) struct Sniffed {
    pub(crate) layout: Layout,
    pub(crate) head: Vec<u8>,
    /// Where the first byte of `head` is in the document: after the leading JSON whitespace
    /// dropped from `head`, which still counts towards the size cap.
    pub(crate) at: Position,
}

fn is_json_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn read_some<R: Read>(reader: &mut R, buf: &mut Vec<u8>, want: usize) -> io::Result<()> {
    let start = buf.len();
    buf.resize(start + want, 0);
    let mut filled = start;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                buf.truncate(filled);
                return Err(e);
            }
        }
    }
    buf.truncate(filled);
    Ok(())
}

/// Reads the first bytes of `reader` and says what they are.
pub(crate) fn sniff<R: Read>(reader: &mut R, max_size: u64) -> Result<Sniffed, ArchiveError> {
    let mut head = Vec::with_capacity(HEAD_LEN);
    read_some(reader, &mut head, HEAD_LEN)?;
    if head.is_empty() {
        return Err(ArchiveError::NotAnArchive("the input is empty".into()));
    }
    if head.starts_with(&ZSTD_MAGIC) {
        let layout = Layout::Zstd(frame_header(&head));
        return Ok(Sniffed { layout, head, at: Position::START });
    }
    if head.len() < ZSTD_MAGIC.len() && ZSTD_MAGIC.starts_with(&head) {
        return Err(ArchiveError::Integrity(format!(
            "the input is {} byte(s) long and ends inside the zstd magic number (truncated)",
            head.len()
        )));
    }
    if is_skippable(&head) {
        return Ok(Sniffed { layout: Layout::Zstd(None), head, at: Position::START });
    }
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(ArchiveError::NotAnArchive(
            "the input starts with a UTF-8 byte order mark; a JSON archive must not have one (RFC 8259, 8.1): remove it"
                .into(),
        ));
    }
    // Leading whitespace may be longer than the head: drop it (JSON ignores it) until the first
    // significant byte, counting it towards the size cap.
    let mut skipped = 0u64;
    let mut at = Position::START;
    let mut skip = |bytes: &[u8]| {
        for &b in bytes {
            at = at.after(b);
        }
    };
    loop {
        let spaces = head.iter().take_while(|&&b| is_json_space(b)).count();
        if spaces < head.len() {
            skip(&head[..spaces]);
            head.drain(..spaces);
            skipped += spaces as u64;
            break;
        }
        skipped += head.len() as u64;
        skip(&head);
        head.clear();
        if skipped > max_size {
            return Err(ArchiveError::TooLarge { limit: max_size });
        }
        read_some(reader, &mut head, 8192)?;
        if head.is_empty() {
            return Err(ArchiveError::NotAnArchive(format!("the input is {skipped} byte(s) of whitespace only")));
        }
    }
    if head.first() == Some(&b'{') {
        return Ok(Sniffed { layout: Layout::Json, head, at });
    }
    Err(ArchiveError::NotAnArchive(describe(&head, skipped)))
}

/// Skippable frame magic: 0x184D2A50..=0x184D2A5F, little-endian (RFC 8878, 3.1.2).
fn is_skippable(head: &[u8]) -> bool {
    head.len() >= 4 && head[0] & 0xF0 == 0x50 && head[1..4] == [0x2A, 0x4D, 0x18]
}

/// What the first bytes of a non-archive look like, for the error message.
fn describe(head: &[u8], skipped: u64) -> String {
    let shown = &head[..head.len().min(8)];
    let hex: Vec<String> = shown.iter().map(|b| format!("{b:02x}")).collect();
    let text: String = shown.iter().map(|&b| if b.is_ascii_graphic() || b == b' ' { b as char } else { '.' }).collect();
    let kind = match head {
        [0x1F, 0x8B, ..] => ", gzip data (ativo-backup archives are zstd or plain JSON)",
        [b'P', b'K', 3, 4, ..] => ", a zip file",
        [b'[', ..] => ", a JSON array (an archive is a JSON object)",
        [b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n', ..] => {
            ", JSON but not an object (an archive is a JSON object)"
        }
        _ => "",
    };
    let after = if skipped > 0 { format!(" after {skipped} byte(s) of whitespace") } else { String::new() };
    format!(
        "the input starts{after} with bytes {} (\"{text}\"){kind}; expected zstd data (28 b5 2f fd) or a JSON object",
        hex.join(" ")
    )
}

/// Parses the header of the zstd frame at the start of `head`, if it is complete there.
pub(crate) fn frame_header(head: &[u8]) -> Option<FrameHeader> {
    if !head.starts_with(&ZSTD_MAGIC) {
        return None;
    }
    let descriptor = *head.get(4)?;
    let size_flag = descriptor >> 6;
    let single_segment = descriptor & 0x20 != 0;
    let checksum = descriptor & 0x04 != 0;
    let dict_id_len = [0usize, 1, 2, 4][usize::from(descriptor & 0x03)];
    let mut pos = 5;
    let mut window_size = None;
    if !single_segment {
        let wd = *head.get(pos)?;
        pos += 1;
        let log = 10 + u32::from(wd >> 3);
        let base = 1u64 << log;
        window_size = Some(base + (base / 8) * u64::from(wd & 0x07));
    }
    pos += dict_id_len;
    let size_len = match size_flag {
        0 if single_segment => 1,
        0 => 0,
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let content_size = if size_len == 0 {
        None
    } else {
        let bytes = head.get(pos..pos + size_len)?;
        let value = bytes.iter().rev().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        Some(if size_len == 2 { value + 256 } else { value })
    };
    // A single-segment frame has no window descriptor: its window is its content.
    let window_size = window_size.or(content_size)?;
    Some(FrameHeader { window_size, content_size, checksum })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniff_bytes(bytes: &[u8]) -> Result<Layout, ArchiveError> {
        sniff(&mut &bytes[..], 1 << 20).map(|s| s.layout)
    }

    #[test]
    fn frame_headers_of_real_frames_are_read() {
        let data = vec![b'x'; 5000];
        let frame = zstd::bulk::compress(&data, 3).unwrap();
        let header = frame_header(&frame).unwrap();
        assert_eq!(header.content_size, Some(5000));
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        encoder.include_checksum(true).unwrap();
        std::io::Write::write_all(&mut encoder, &data).unwrap();
        let streamed = encoder.finish().unwrap();
        let header = frame_header(&streamed).unwrap();
        assert_eq!(header.content_size, None);
        assert!(header.checksum);
        assert!(header.window_size >= 1024);
    }

    #[test]
    fn layouts_are_told_apart_by_their_first_bytes() {
        assert!(matches!(sniff_bytes(&ZSTD_MAGIC), Ok(Layout::Zstd(None))));
        assert!(matches!(sniff_bytes(&[0x50, 0x2A, 0x4D, 0x18, 0, 0, 0, 0]), Ok(Layout::Zstd(None))));
        assert!(matches!(sniff_bytes(b" \r\n\t{"), Ok(Layout::Json)));
        let long_space = [vec![b' '; 20_000], b"{}".to_vec()].concat();
        assert!(matches!(sniff_bytes(&long_space), Ok(Layout::Json)));
        assert!(matches!(sniff_bytes(b""), Err(ArchiveError::NotAnArchive(_))));
        assert!(matches!(sniff_bytes(b"   "), Err(ArchiveError::NotAnArchive(_))));
        assert!(matches!(sniff_bytes(&[0x28, 0xB5]), Err(ArchiveError::Integrity(_))));
        assert!(
            matches!(sniff_bytes(b"\xEF\xBB\xBF{}"), Err(ArchiveError::NotAnArchive(m)) if m.contains("byte order mark"))
        );
        assert!(
            matches!(sniff_bytes(b"PK\x03\x04rest"), Err(ArchiveError::NotAnArchive(m)) if m.contains("50 4b 03 04") && m.contains("zip"))
        );
        assert!(matches!(sniff_bytes(b"[1]"), Err(ArchiveError::NotAnArchive(m)) if m.contains("JSON array")));
    }
}
