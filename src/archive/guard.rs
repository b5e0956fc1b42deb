//! The byte-level defences of the reader, as a `Read` adapter between the decompressor and the
//! JSON parser: the decompressed-size cap, and the text checker (`text.rs`: syntax, nesting,
//! token and entity limits) over every byte that passes; plus the tagging that tells which layer
//! an I/O error came from.
//!
//! Why on the byte stream: serde_json buffers a whole string (or a whole long number) before
//! handing it to a visitor, and recursion depth is only bounded by its own fixed limit of 128. A
//! 4 GiB string inside a 4 MiB zstd frame would otherwise be held in memory before any typed
//! check could refuse it.
//!
//! The guard also makes the verdict independent of how much is decoded at a time (SPEC.md 9):
//! it records the first fault of the bytes (the source, zstd, the size cap) and the first fault
//! of the text, and [`Guard::finish`] reads on to the end of the input after the parser stopped,
//! so that a fault of an earlier layer is found wherever it is in the file.

use std::fmt;
use std::io::{self, Read};

use super::text::{Position, TextChecker, TextFault, TextLimits, TopLevel};

/// What went wrong below the JSON parser.
#[derive(Debug)]
pub(crate) enum Fault {
    /// The caller's reader failed.
    Source(io::Error),
    /// The zstd decoder refused its input (corrupt, truncated, checksum, window too large).
    Zstd(io::Error),
    /// More bytes than the size cap.
    TooLarge { limit: u64 },
    /// The text checker found a fault (see [`Guard::finish`] for which).
    Text,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Source(e) => write!(f, "{e}"),
            Fault::Zstd(e) => write!(f, "zstd: {e}"),
            Fault::TooLarge { limit } => write!(f, "more than {limit} bytes"),
            Fault::Text => f.write_str("the text of the document is at fault"),
        }
    }
}

impl std::error::Error for Fault {}

impl Fault {
    fn into_io(self) -> io::Error {
        io::Error::other(self)
    }

    /// The fault carried by `err`, or `err` itself when no layer of ours raised it.
    pub(crate) fn take(err: io::Error) -> Result<Fault, io::Error> {
        if err.get_ref().is_some_and(|inner| inner.is::<Fault>()) {
            match err.into_inner().map(|inner| inner.downcast::<Fault>()) {
                Some(Ok(fault)) => Ok(*fault),
                // Unreachable after the `is` check above; keep the error rather than panic.
                Some(Err(inner)) => Err(io::Error::other(inner)),
                None => Err(io::Error::other("i/o error without detail")),
            }
        } else {
            Err(err)
        }
    }
}

/// Tags every error of the caller's reader as [`Fault::Source`], so that it is reported as an I/O
/// error (exit 1) and not mistaken for a corrupt archive.
pub(crate) struct Source<R>(pub(crate) R);

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Fault::Source(e).into_io()),
                Ok(n) => return Ok(n),
            }
        }
    }
}

/// Tags every error the zstd decoder raises itself as [`Fault::Zstd`]; faults from below pass.
pub(crate) struct Decompressed<R>(pub(crate) R);

impl<R: Read> Read for Decompressed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| match Fault::take(e) {
            Ok(fault) => fault.into_io(),
            Err(e) => Fault::Zstd(e).into_io(),
        })
    }
}

/// What [`Guard::finish`] found, layer by layer (SPEC.md 9).
pub(crate) struct Outcome {
    /// The first fault of the bytes: the caller's reader, zstd, or the size cap.
    pub(crate) bytes: Option<Fault>,
    /// The first fault of the text, when the bytes had none (or none before it).
    pub(crate) text: Option<TextFault>,
    /// The top-level members, complete when there is no fault above.
    pub(crate) top: TopLevel,
}

/// The size cap and the text checker over the document's bytes.
pub(crate) struct Guard<R> {
    inner: R,
    max_size: u64,
    /// Bytes passed so far (the offset of the next byte).
    offset: u64,
    /// `None` when only the size cap is checked.
    text: Option<TextChecker>,
    /// The first fault of the bytes; nothing is read after it.
    bytes: Option<Fault>,
    /// Whether the input has ended.
    ended: bool,
}

impl<R: Read> Guard<R> {
    /// A guard over `inner`, whose first byte is at `at` in the document (leading whitespace
    /// already consumed by the sniffer counts towards the size cap).
    pub(crate) fn new(inner: R, limits: &super::Limits, at: Position) -> Self {
        let text =
            TextLimits { max_depth: limits.max_depth, max_token: limits.max_string, max_entity: limits.max_entity };
        Guard {
            inner,
            max_size: limits.max_size,
            offset: at.offset,
            text: Some(TextChecker::new(text, at)),
            bytes: None,
            ended: false,
        }
    }

    /// A guard that only enforces the size cap, for a reader that checks the text in another
    /// way (the streaming reader: see `stream.rs`, "Limits").
    pub(crate) fn size_only(inner: R, limits: &super::Limits, offset: u64) -> Self {
        let at = Position { offset, line: 1, column: offset + 1 };
        Guard { text: None, ..Guard::new(inner, limits, at) }
    }

    /// Reads from the inner reader under the size cap; records a fault of the bytes.
    fn pull(&mut self, buf: &mut [u8]) -> Result<usize, ()> {
        if self.bytes.is_some() || self.ended {
            return if self.bytes.is_some() { Err(()) } else { Ok(0) };
        }
        // Never ask for more than one byte past the cap: reading that byte proves the excess
        // without decompressing a whole buffer beyond it.
        let room = self.max_size.saturating_sub(self.offset).saturating_add(1);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = loop {
            match self.inner.read(&mut buf[..want]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.bytes = Some(Fault::take(e).unwrap_or_else(Fault::Source));
                    return Err(());
                }
                Ok(n) => break n,
            }
        };
        if self.offset + n as u64 > self.max_size {
            self.bytes = Some(Fault::TooLarge { limit: self.max_size });
            return Err(());
        }
        self.offset += n as u64;
        if n == 0 {
            self.ended = true;
        }
        Ok(n)
    }

    /// Whether the text checker has found a fault.
    fn text_failed(&self) -> bool {
        self.text.as_ref().is_some_and(|t| t.fault().is_some())
    }

    /// Reads on to the end of the input after the parser stopped, and says what each layer found:
    /// the bytes are read to the end (or to their first fault), and the text checked on as far
    /// as it is whole. Nothing is kept of what is read here.
    pub(crate) fn finish(mut self) -> Outcome {
        let mut buf = vec![0u8; 64 * 1024];
        while !self.ended && self.bytes.is_none() {
            let Ok(n) = self.pull(&mut buf) else { break };
            if let Some(text) = &mut self.text {
                if n == 0 {
                    text.end();
                } else {
                    text.feed(&buf[..n]);
                }
            }
        }
        let (text, top) = match self.text {
            // A fault of the text after a fault of the bytes is not one: the text there is
            // not the document's.
            Some(checker) if self.bytes.is_none() => (checker.fault().cloned(), checker.top_level().clone()),
            _ => (None, TopLevel::default()),
        };
        Outcome { bytes: self.bytes, text, top }
    }
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.text_failed() {
            return Err(Fault::Text.into_io());
        }
        let n = match self.pull(buf) {
            Ok(n) => n,
            Err(()) => {
                return Err(match &self.bytes {
                    Some(Fault::TooLarge { limit }) => Fault::TooLarge { limit: *limit },
                    _ => Fault::Text,
                }
                .into_io());
            }
        };
        if let Some(text) = &mut self.text {
            let whole = if n == 0 { text.end().is_none() } else { text.feed(&buf[..n]) };
            if !whole {
                return Err(Fault::Text.into_io());
            }
        }
        Ok(n)
    }
}

/// Whether every string and number in `bytes` (which starts outside any string) is within the
/// token limit, measured as the text checker measures it: bytes as written between the quotes,
/// or of the number.
pub(crate) fn tokens_within(bytes: &[u8], max_token: usize) -> bool {
    let (mut in_string, mut escaped, mut len) = (false, false, 0usize);
    let mut i = 0;
    while i < bytes.len() {
        if in_string {
            if escaped {
                escaped = false;
                len += 1;
                i += 1;
            } else {
                match memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                    None => {
                        len += bytes.len() - i;
                        i = bytes.len();
                    }
                    Some(run) => {
                        len += run;
                        i += run;
                        if bytes[i] == b'"' {
                            in_string = false;
                        } else {
                            escaped = true;
                            len += 1;
                        }
                        i += 1;
                    }
                }
            }
            if len > max_token {
                return false;
            }
            continue;
        }
        match bytes[i] {
            b'"' => {
                in_string = true;
                len = 0;
            }
            b'-' | b'+' | b'.' | b'0'..=b'9' | b'e' | b'E' => {
                let run = bytes[i..]
                    .iter()
                    .take_while(|&&b| matches!(b, b'-' | b'+' | b'.' | b'0'..=b'9' | b'e' | b'E'))
                    .count();
                if run > max_token {
                    return false;
                }
                i += run;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::Limits;

    fn start() -> Position {
        Position { offset: 0, line: 1, column: 1 }
    }

    /// Reads `input` through a guard `chunk` bytes at a time, as a parser would, then finishes.
    fn run(input: &[u8], limits: Limits, chunk: usize) -> (Option<String>, Option<TextFault>) {
        let mut guard = Guard::new(input, &limits, start());
        let mut buf = vec![0u8; chunk];
        loop {
            match guard.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let outcome = guard.finish();
        (outcome.bytes.map(|f| f.to_string()), outcome.text)
    }

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        let limits = Limits { max_depth: 2, ..Limits::default() };
        assert_eq!(run(br#"{"a":[1,"[[[{{{"]}"#, limits, 1).1, None);
        assert!(
            matches!(run(br#"{"a":[[1]]}"#, limits, 1).1, Some(TextFault::TooDeep { limit: 2, at, pointer }) if at.offset == 6 && pointer == "/a/0")
        );
        // Siblings do not add up.
        assert_eq!(run(br#"{"a":[],"b":[],"c":{"a":1},"d":[]}"#, limits, 3).1, None);
    }

    #[test]
    fn tokens_are_measured_in_bytes_as_written_and_escaped_quotes_do_not_end_them() {
        let limits = Limits { max_string: 4, ..Limits::default() };
        assert_eq!(run(br#"{"abcd":"\"\\","a":1234}"#, limits, 1).1, None);
        assert!(matches!(run(br#"{"a":"abcde"}"#, limits, 1).1, Some(TextFault::TokenTooLong { what: "string", .. })));
        // `\"` does not close the string: 5 bytes.
        assert!(matches!(run(br#"{"a":"ab\"c"}"#, limits, 7).1, Some(TextFault::TokenTooLong { .. })));
        assert!(matches!(run(br#"{"a":12345}"#, limits, 2).1, Some(TextFault::TokenTooLong { what: "number", .. })));
        assert!(tokens_within(br#"{"ab":"abcd","\"\\":1234}"#, 4));
        assert!(!tokens_within(br#"["abcde"]"#, 4));
        assert!(!tokens_within(br#"["ab\"c"]"#, 4));
        assert!(!tokens_within(br#"[1.5e10]"#, 4));
        assert!(tokens_within(br#"[[[[[[["x"]]]]]]]"#, 1));
    }

    #[test]
    fn the_size_cap_is_exact_and_beats_the_text() {
        let limits = Limits { max_size: 8, ..Limits::default() };
        assert_eq!(run(b"{\"a\":12}", limits, 1), (None, None));
        assert_eq!(run(b"{\"a\":123}", limits, 3).0.as_deref(), Some("more than 8 bytes"));
        // A fault of the text before the cap: the cap still decides.
        assert_eq!(run(b"{\"a\":x23}", limits, 64), (Some("more than 8 bytes".into()), None));
        let read = |input: &[u8], offset| {
            let mut out = Vec::new();
            Guard::size_only(input, &Limits { max_depth: 1, ..limits }, offset).read_to_end(&mut out).map(|_| out)
        };
        assert_eq!(read(b"[[2]", 0).unwrap(), b"[[2]");
        assert!(read(b"[[2]12345", 1).is_err());
    }

    #[test]
    fn the_verdict_does_not_depend_on_how_much_is_read_at_a_time() {
        let limits = Limits { max_string: 6, max_depth: 3, max_entity: 30, ..Limits::default() };
        let cases: [&[u8]; 12] = [
            br#"{"header":{"x":"abcdef"}}"#,
            br#"{"a":"abcdefg"}"#,
            br#"{"a":[[[1]]]}"#,
            br#"{"a":1e400}"#,
            br#"{"a":"\ud800x"}"#,
            br#"{"a":tru}"#,
            br#"{"a":1e"#,
            br#"{"a":"\u00e9\u00e9"} x"#,
            br#"{"data":{"pis":[{"k":"abcdef"},{"k":"abcdef","l":"abcdef","m":1}]}}"#,
            b"{\"a\":\"\xC3\x28\"}",
            b"{\"a\":\"\xE2\x82",
            b"  \n [1]",
        ];
        for case in cases {
            let expected = run(case, limits, 1);
            for chunk in [2, 3, 7, 64] {
                assert_eq!(run(case, limits, chunk), expected, "{}", String::from_utf8_lossy(case));
            }
        }
    }
}
