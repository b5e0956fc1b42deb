//! The byte-level defences of the reader: the decompressed-size cap and the nesting and string
//! limits (SPEC.md, "Limits"), as `Read` adapters that sit between the decompressor and the JSON
//! parser, plus the tagging that lets [`super::read`] tell which layer an I/O error came from.
//!
//! Why on the byte stream: serde_json buffers a whole string before handing it to a visitor, and
//! recursion depth is only bounded by its own fixed limit of 128. A 4 GiB string inside a 4 MiB
//! zstd frame would otherwise be held in memory before any typed check could refuse it. The guard
//! is a small state machine (inside a string or not, after a backslash or not) that needs no
//! buffering and never looks back; it does not validate JSON, the parser does that afterwards.
//!
//! Errors travel through serde_json as `io::Error`s, so each layer wraps its own in a [`Fault`]
//! that [`Fault::take`] recovers on the other side.

use std::fmt;
use std::io::{self, Read};

/// What went wrong below the JSON parser.
#[derive(Debug)]
pub(crate) enum Fault {
    /// The caller's reader failed.
    Source(io::Error),
    /// The zstd decoder refused its input (corrupt, truncated, checksum, window too large).
    Zstd(io::Error),
    /// More bytes than the size cap.
    TooLarge { limit: u64 },
    /// Arrays and objects nested deeper than the limit.
    TooDeep { limit: usize, offset: u64 },
    /// One string longer than the limit.
    StringTooLong { limit: usize, offset: u64 },
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Source(e) => write!(f, "{e}"),
            Fault::Zstd(e) => write!(f, "zstd: {e}"),
            Fault::TooLarge { limit } => write!(f, "more than {limit} bytes"),
            Fault::TooDeep { limit, offset } => {
                write!(f, "arrays and objects nested deeper than {limit} levels, at byte {offset} of the document")
            }
            Fault::StringTooLong { limit, offset } => {
                write!(f, "a string longer than {limit} bytes, starting at byte {offset} of the document")
            }
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

/// The size cap, the nesting limit and the string limit over the document's bytes.
pub(crate) struct Guard<R> {
    inner: R,
    max_size: u64,
    max_depth: usize,
    max_string: usize,
    /// Bytes passed so far (the offset of the next byte).
    offset: u64,
    depth: usize,
    in_string: bool,
    escaped: bool,
    string_len: usize,
    string_start: u64,
    /// Whether the nesting and string limits are checked, or only the size cap.
    scans: bool,
}

impl<R: Read> Guard<R> {
    /// A guard over `inner`, whose first byte is at `offset` in the document (leading whitespace
    /// already consumed by the sniffer counts towards the size cap).
    pub(crate) fn new(inner: R, limits: &super::Limits, offset: u64) -> Self {
        Guard {
            inner,
            max_size: limits.max_size,
            max_depth: limits.max_depth,
            max_string: limits.max_string,
            offset,
            depth: 0,
            in_string: false,
            escaped: false,
            string_len: 0,
            string_start: 0,
            scans: true,
        }
    }

    /// A guard that only enforces the size cap, for a reader that checks the nesting and string
    /// limits in another way (the streaming reader: see `stream.rs`, "Limits").
    pub(crate) fn size_only(inner: R, limits: &super::Limits, offset: u64) -> Self {
        Guard { scans: false, ..Guard::new(inner, limits, offset) }
    }

    /// Advances the state machine over `bytes`. Inside a string it jumps to the next quote or
    /// backslash with `memchr` (strings are most of a document's bytes); outside, it looks at
    /// each byte. Lengths are checked per run rather than per byte: the error names the string's
    /// start and the limit only, so where in the run the limit was crossed does not show.
    fn scan(&mut self, bytes: &[u8]) -> Result<(), Fault> {
        let mut i = 0;
        while i < bytes.len() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    self.string_len += 1;
                    i += 1;
                } else {
                    match memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                        None => {
                            self.string_len += bytes.len() - i;
                            i = bytes.len();
                        }
                        Some(run) => {
                            self.string_len += run;
                            i += run;
                            if bytes[i] == b'"' {
                                self.in_string = false;
                            } else {
                                self.escaped = true;
                                self.string_len += 1;
                            }
                            i += 1;
                        }
                    }
                }
                if self.string_len > self.max_string {
                    return Err(Fault::StringTooLong { limit: self.max_string, offset: self.string_start });
                }
            } else {
                let b = bytes[i];
                match b {
                    b'"' => {
                        self.in_string = true;
                        self.string_len = 0;
                        self.string_start = self.offset + i as u64;
                    }
                    b'[' | b'{' => {
                        self.depth += 1;
                        if self.depth > self.max_depth {
                            return Err(Fault::TooDeep { limit: self.max_depth, offset: self.offset + i as u64 });
                        }
                    }
                    // Unbalanced closers are the parser's business; saturate rather than wrap.
                    b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                    _ => {}
                }
                i += 1;
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Never ask for more than one byte past the cap: reading that byte proves the excess
        // without decompressing a whole buffer beyond it.
        let room = self.max_size.saturating_sub(self.offset).saturating_add(1);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if self.offset + n as u64 > self.max_size {
            return Err(Fault::TooLarge { limit: self.max_size }.into_io());
        }
        if self.scans {
            self.scan(&buf[..n]).map_err(Fault::into_io)?;
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// Whether every string in `bytes` (which starts outside any string) is within the string limit,
/// measured as the guard measures it.
pub(crate) fn strings_within(bytes: &[u8], max_string: usize) -> bool {
    let limits = super::Limits { max_depth: usize::MAX, max_string, max_size: u64::MAX };
    Guard::new(io::empty(), &limits, 0).scan(bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::Limits;

    fn run(input: &[u8], limits: Limits) -> Result<Vec<u8>, Fault> {
        let mut out = Vec::new();
        let mut guard = Guard::new(input, &limits, 0);
        // One byte at a time too, so that state carried across reads is exercised.
        let mut byte = [0u8; 1];
        loop {
            match guard.read(&mut byte) {
                Ok(0) => return Ok(out),
                Ok(_) => out.push(byte[0]),
                Err(e) => return Err(Fault::take(e).unwrap()),
            }
        }
    }

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        let limits = Limits { max_depth: 2, ..Limits::default() };
        assert!(run(br#"{"a":[1,"[[[{{{"]}"#, limits).is_ok());
        assert!(matches!(run(br#"{"a":[[1]]}"#, limits), Err(Fault::TooDeep { limit: 2, offset: 6 })));
        // Siblings do not add up.
        assert!(run(br#"[[],[],{"a":1},[]]"#, limits).is_ok());
    }

    #[test]
    fn strings_are_measured_in_escaped_bytes_and_escaped_quotes_do_not_end_them() {
        let limits = Limits { max_string: 4, ..Limits::default() };
        assert!(run(br#"["abcd","\"\\"]"#, limits).is_ok());
        assert!(matches!(run(br#"["abcde"]"#, limits), Err(Fault::StringTooLong { limit: 4, offset: 1 })));
        // `\"` does not close the string: 5 bytes.
        assert!(matches!(run(br#"["ab\"c"]"#, limits), Err(Fault::StringTooLong { .. })));
    }

    #[test]
    fn whole_buffers_and_single_bytes_give_the_same_verdicts() {
        let whole = |input: &[u8], limits: Limits| {
            let mut guard = Guard::new(input, &limits, 0);
            let mut out = Vec::new();
            guard.read_to_end(&mut out).map(|_| out).map_err(|e| Fault::take(e).unwrap().to_string())
        };
        let limits = Limits { max_string: 4, max_depth: 2, ..Limits::default() };
        let cases: [&[u8]; 7] = [
            br#"["abcd","\"\\"]"#,
            br#"["abcde"]"#,
            br#"["ab\"c"]"#,
            br#"{"a":[1,"[[[{{{"]}"#,
            br#"{"a":[[1]]}"#,
            br#"["ab\\",[["x"]]]"#,
            br#"{"k":"\u00e9\u00e9"}"#,
        ];
        for case in cases {
            let single = run(case, limits).map_err(|f| f.to_string());
            assert_eq!(whole(case, limits), single, "{}", String::from_utf8_lossy(case));
        }
    }

    #[test]
    fn the_size_cap_is_exact() {
        let limits = Limits { max_size: 4, ..Limits::default() };
        assert_eq!(run(b"[12]", limits).unwrap(), b"[12]");
        assert!(matches!(run(b"[123]", limits), Err(Fault::TooLarge { limit: 4 })));
        // The size-only guard: the same cap, counted from the same offset, and nothing else.
        let read = |input: &[u8], offset| {
            let mut out = Vec::new();
            Guard::size_only(input, &Limits { max_depth: 1, ..limits }, offset).read_to_end(&mut out).map(|_| out)
        };
        assert_eq!(read(b"[[2]", 0).unwrap(), b"[[2]");
        assert!(read(b"[[2]", 1).is_err());
        assert!(read(b"[123]", 0).is_err());
    }

    #[test]
    fn strings_within_measures_as_the_guard_does() {
        assert!(strings_within(br#"{"ab":"abcd","\"\\":1}"#, 4));
        assert!(!strings_within(br#"["abcde"]"#, 4));
        assert!(!strings_within(br#"["ab\"c"]"#, 4));
        assert!(strings_within(br#"[[[[[[["x"]]]]]]]"#, 1));
    }
}
