//! The structural scanner: splits the decompressed document into its top-level members and,
//! inside `data`, into array elements, without building values.

use super::*;

/// How much is read from the decompressor at a time.
pub(super) const CHUNK: usize = 256 * 1024;

/// A window over the document: `buf[start..end]` is read and not yet consumed. It holds at most
/// one value being looked at (a run of PIs, for [`Scanner::compact_pis`]) plus a read, so memory
/// stays flat whatever the document's size.
pub(super) struct Scanner<R> {
    pub(super) inner: R,
    pub(super) buf: Vec<u8>,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) eof: bool,
    /// The largest value it holds before giving up.
    pub(super) max_value: usize,
}

/// Whether `token` is the member name `name`, written without escapes.
pub(super) fn is_name(token: &[u8], name: &str) -> bool {
    token.len() == name.len() + 2
        && token[0] == b'"'
        && token[token.len() - 1] == b'"'
        && &token[1..token.len() - 1] == name.as_bytes()
}

pub(super) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<R: Read> Scanner<R> {
    pub(super) fn new(inner: R, max_value: usize) -> Self {
        Scanner { inner, buf: Vec::new(), start: 0, end: 0, eof: false, max_value }
    }

    /// Reads more bytes after `end`, moving the unconsumed ones to the front first. False at the end.
    pub(super) fn fill(&mut self) -> Step<bool> {
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
            return Err(give_up("a value outside the PIs is over 4 MiB"));
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
    pub(super) fn peek(&mut self) -> Step<Option<u8>> {
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
    pub(super) fn expect(&mut self, byte: u8) -> Step<()> {
        if self.peek()? != Some(byte) {
            return Err(give_up(format!("{:?} is not where the writer puts it", char::from(byte))));
        }
        self.start += 1;
        Ok(())
    }

    /// Consumes the next value and returns its bytes. Only its extent is found here (strings,
    /// escapes, brackets); whether it is valid JSON is the parser's business, on the slice.
    pub(super) fn value(&mut self) -> Step<&[u8]> {
        let len = self.extent()?;
        let at = self.start;
        self.start += len;
        Ok(&self.buf[at..at + len])
    }

    /// The length of the value starting at the next significant byte, with all of it in `buf`.
    pub(super) fn extent(&mut self) -> Step<usize> {
        let first = self.peek()?.ok_or_else(|| give_up("the document ends early"))?;
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
                return if scalar && scanned > 0 { Ok(scanned) } else { Err(give_up("the document ends early")) };
            }
        }
    }

    /// Consumes the member name `"name"` and its colon; the name must be written without escapes.
    pub(super) fn key(&mut self, name: &str) -> Step<()> {
        if !is_name(self.value()?, name) {
            return Err(give_up(format!("member `{name}` is not where the writer puts it")));
        }
        self.expect(b':')
    }

    /// Whether the array that is next (gives up if none is) starts `[{`, with nothing between: the
    /// writer's compact layout. Consumes nothing.
    pub(super) fn at_compact_array(&mut self) -> Step<bool> {
        if self.peek()? != Some(b'[') {
            return Err(give_up("`pis` is not an array"));
        }
        while self.end - self.start < 2 {
            if !self.fill()? {
                return Err(give_up("the document ends early"));
            }
        }
        Ok(self.buf[self.start + 1] == b'{')
    }

    /// Skips an array written compactly (`[{` with nothing between) up to and including its
    /// closing bracket, found as the first `end` (which starts with `]`) after it: in valid JSON
    /// that sequence cannot occur inside a string (its quote would be escaped). Consumes nothing
    /// and returns false for any other array. Only pass 1 skips, and pass 2 checks what it
    /// read: a wrong end only makes the two passes disagree, and the fast path give up.
    pub(super) fn skip_compact_array(&mut self, end: &[u8]) -> Step<bool> {
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
                return Err(give_up("the document ends early"));
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
    pub(super) fn compact_pis(&mut self, pool: &Pool, mut each: impl FnMut(Run) -> Step<()>) -> Step<bool> {
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
                return Err(give_up("the document ends early"));
            }
        }
    }

    /// Walks an array, handing each element's bytes to `each`.
    pub(super) fn array(&mut self, mut each: impl FnMut(&[u8]) -> Step<()>) -> Step<()> {
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
                _ => return Err(give_up("the PIs are not separated as the writer separates them")),
            }
        }
    }
}

/// A part of `data` other than the PIs, as handed to a [`Visit`].
#[derive(Clone, Copy)]
pub(super) enum Part {
    Admins,
    Period,
    Program,
    Settings,
    Team,
}

/// What a pass does with the pieces the walk finds.
pub(super) trait Visit {
    fn header(&mut self, raw: &[u8]) -> Step<()>;
    fn part(&mut self, part: Part, raw: &[u8]) -> Step<()>;
    /// Goes over the PI array, whose `[` is next.
    fn pis<R: Read>(&mut self, scanner: &mut Scanner<R>) -> Step<()>;
}

/// Walks the document in the writer's layout: `{"format", "format_version", "header", "data"}`,
/// `data` as `{"admins"?, "periods", "pis", "programs", "settings", "teams"}`, then the end of
/// input. Any other layout gives up.
pub(super) fn walk<R: Read>(scanner: &mut Scanner<R>, visit: &mut impl Visit) -> Step<()> {
    scanner.expect(b'{')?;
    scanner.key("format")?;
    // Exactly as the writer writes it: any other spelling (escapes) goes to the full reader,
    // which also measures that string against the limit.
    let format = scanner.value()?;
    if format.strip_prefix(b"\"").and_then(|f| f.strip_suffix(b"\"")) != Some(FORMAT.as_bytes()) {
        return Err(give_up("`format` is not \"ativo-backup\""));
    }
    scanner.expect(b',')?;
    scanner.key("format_version")?;
    // Older versions go through their upgrade steps, newer ones are refused: the slow path's.
    if serde_json::from_slice::<u64>(scanner.value()?)? != u64::from(FORMAT_VERSION) {
        return Err(give_up("the format version is not this build's (the full reader upgrades or refuses it)"));
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
        return Err(give_up("`data` does not begin with `admins` or `periods`"));
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
        Some(_) => Err(give_up("something follows the document")),
    }
}

/// Hashes the bytes of everything but the PIs, with their kinds and lengths: pass 2 must see the
/// same document as pass 1.
#[derive(Default)]
pub(super) struct Fingerprint(Sha256);

impl Fingerprint {
    pub(super) fn add(&mut self, tag: u8, raw: &[u8]) {
        self.0.update([tag]);
        self.0.update((raw.len() as u64).to_le_bytes());
        self.0.update(raw);
    }

    pub(super) fn finish(self) -> Vec<u8> {
        self.0.finalize().to_vec()
    }
}
