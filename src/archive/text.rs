//! The text layer of a document (SPEC.md, sections 7 and 9): a streaming checker that reads the
//! decompressed bytes once, left to right, and finds the first fault of the JSON text in them,
//! with the limits of SPEC.md and a summary of the top-level members.
//!
//! Why a checker of our own beside serde_json: the reader's verdict must be a function of the
//! bytes alone (SPEC.md 9), so every fault of a layer must be found wherever it is, even after
//! the typed decoder has stopped at a fault of a later layer (an unknown member, a newer
//! version). serde_json cannot go on after an error; this checker can, and it holds nothing but
//! a few counters, a stack of at most `max_depth` containers and one token of at most
//! `max_token` bytes, whatever the document. It also enforces what serde_json does not:
//!
//! * the nesting depth, and the length of one string or number token, before the token is held
//!   (serde_json buffers a whole string, and a whole long number, before handing it over);
//! * the size of each entity (`/header`, `/data/admins`, `/data/settings`, each element of
//!   `/data/teams`, `/data/programs`, `/data/periods` and `/data/pis`), measured as the length
//!   of its canonical form (RFC 8785) as it streams past;
//! * strings that denote Unicode scalar values only (no lone surrogate escapes, I-JSON) and
//!   numbers that are finite once read as IEEE 754 doubles, wherever they are (serde_json checks
//!   neither in values it skips or keeps raw).
//!
//! It does not decode values: the typed layers (`document.rs`, the model) do that afterwards.

use std::fmt;

/// A fault of the text layer, with the byte offset in the document where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TextFault {
    /// The document does not start with `{` after optional whitespace (or is empty, or starts
    /// with a byte order mark): not an archive.
    NotAnArchive(String),
    /// Not well-formed JSON, or not a text this format allows (invalid UTF-8, a lone surrogate,
    /// a number out of the range of doubles, something after the document).
    Syntax { at: Position, pointer: String, message: String },
    /// Arrays and objects nested deeper than the limit.
    TooDeep { limit: usize, at: Position, pointer: String },
    /// One string or number longer than the limit (bytes as written).
    TokenTooLong { what: &'static str, limit: usize, start: Position, pointer: String },
    /// One entity whose canonical form is longer than the limit.
    EntityTooLarge { pointer: String, limit: u64, start: Position },
    /// The input ends before the document does.
    EndsEarly { at: Position },
}

/// Where a byte is: its offset in the document, and its line and column (both from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Position {
    pub(crate) offset: u64,
    pub(crate) line: u64,
    pub(crate) column: u64,
}

impl Position {
    /// The first byte of a document.
    pub(crate) const START: Position = Position { offset: 0, line: 1, column: 1 };

    /// The position of the byte after `b`, which is here.
    pub(crate) fn after(self, b: u8) -> Position {
        if b == b'\n' {
            Position { offset: self.offset + 1, line: self.line + 1, column: 1 }
        } else {
            Position { offset: self.offset + 1, column: self.column + 1, ..self }
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {} column {} (byte {})", self.line, self.column, self.offset)
    }
}

impl TextFault {
    /// The JSON pointer of the member or element where the fault is (`""` for the document).
    pub(crate) fn pointer(&self) -> &str {
        match self {
            TextFault::Syntax { pointer, .. }
            | TextFault::TooDeep { pointer, .. }
            | TextFault::TokenTooLong { pointer, .. }
            | TextFault::EntityTooLarge { pointer, .. } => pointer,
            TextFault::NotAnArchive(_) | TextFault::EndsEarly { .. } => "",
        }
    }
}

impl fmt::Display for TextFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextFault::NotAnArchive(why) => f.write_str(why),
            TextFault::Syntax { at, message, .. } => write!(f, "{message}, at {at}"),
            TextFault::TooDeep { limit, at, .. } => {
                write!(f, "arrays and objects nested deeper than {limit} levels, at {at}")
            }
            TextFault::TokenTooLong { what, limit, start, .. } => {
                write!(f, "a {what} longer than {limit} bytes, starting at {start}")
            }
            TextFault::EntityTooLarge { pointer, limit, start } => write!(
                f,
                "{pointer} is larger than the {limit}-byte limit of one entity (measured in its canonical form), starting at {start}"
            ),
            TextFault::EndsEarly { at } => write!(f, "the document ends early, at {at} (truncated)"),
        }
    }
}

/// The four members of a document, and the members of `data` that hold entities: what the
/// checker needs to know of member names (decoded, so that an escaped name is the same name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    Format,
    FormatVersion,
    Header,
    Data,
    Admins,
    Settings,
    Teams,
    Programs,
    Periods,
    Pis,
    Other,
}

impl Name {
    fn of(decoded: &[u8]) -> Name {
        match decoded {
            b"format" => Name::Format,
            b"format_version" => Name::FormatVersion,
            b"header" => Name::Header,
            b"data" => Name::Data,
            b"admins" => Name::Admins,
            b"settings" => Name::Settings,
            b"teams" => Name::Teams,
            b"programs" => Name::Programs,
            b"periods" => Name::Periods,
            b"pis" => Name::Pis,
            _ => Name::Other,
        }
    }

    fn top_level(self) -> Option<usize> {
        match self {
            Name::Format => Some(0),
            Name::FormatVersion => Some(1),
            Name::Header => Some(2),
            Name::Data => Some(3),
            _ => None,
        }
    }
}

/// The names of the four top-level members, in the order of [`Name::top_level`].
pub(crate) const TOP_LEVEL_NAMES: [&str; 4] = ["format", "format_version", "header", "data"];

/// What the document's top-level members are, as far as SPEC.md 9 needs it to judge the top
/// level (format, duplicates, version, unknown and missing members) without holding the members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TopLevel {
    /// How many times each of [`TOP_LEVEL_NAMES`] is a member name.
    pub(crate) seen: [u32; 4],
    /// The first second occurrence of one of the four names: the name's index.
    pub(crate) repeated: Option<usize>,
    /// The value of the first `format` member that is not the string "ativo-backup", as written
    /// (shortened).
    pub(crate) bad_format: Option<String>,
    /// The first `format_version` value: `Ok` with a number as written, `Err` with anything else
    /// as written (shortened).
    pub(crate) version: Option<Result<String, String>>,
    /// The first member name that is none of the four (decoded, shortened).
    pub(crate) unknown: Option<String>,
}

/// The limits the checker enforces (SPEC.md 7).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TextLimits {
    pub(crate) max_depth: usize,
    pub(crate) max_token: usize,
    pub(crate) max_entity: u64,
}

/// What the checker expects next, outside strings, numbers and literals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Whitespace or the `{` that starts the document.
    Start,
    /// A value.
    Value,
    /// A value or `]` (just after `[`).
    FirstValue,
    /// A member name or `}` (just after `{`).
    FirstKey,
    /// A member name (after a comma in an object).
    Key,
    Colon,
    /// A comma or the closer of the container (after a value).
    AfterValue,
    /// Whitespace only (after the document).
    End,
}

/// Where the checker is inside a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    None,
    Str,
    Num(Num),
    Lit { word: &'static [u8], at: usize },
}

/// States of the number grammar (RFC 8259, 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    E,
    ESign,
    Exp,
}

/// Inside a string: where an escape is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    Backslash,
    Hex { digits: u8, value: u32 },
}

/// The string being read.
#[derive(Debug, Clone, Copy)]
struct Str {
    key: bool,
    /// Bytes between the quotes, as written.
    len: usize,
    start: Position,
    escape: Escape,
    /// A high surrogate escape waiting for its low half.
    high: Option<u32>,
    /// A UTF-8 sequence in progress: continuation bytes still due, and the range of the next one.
    need: u8,
    lo: u8,
    hi: u8,
}

/// One open container, and where in it the reader is.
#[derive(Debug, Clone)]
struct Seg {
    object: bool,
    /// The current member's name (decoded, shortened), once it has been read.
    name: Vec<u8>,
    named: bool,
    /// Whether an element of the array has started, and which.
    started: bool,
    index: u64,
}

/// An entity being measured.
#[derive(Debug, Clone)]
struct Entity {
    /// The container depth at which its value started (it ends when a value ends there again).
    level: usize,
    len: u64,
    pointer: String,
    start: Position,
}

/// What the first-level value being read is captured for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Capture {
    None,
    Format,
    Version,
}

/// The longest member name or `format` value kept, decoded, to tell names apart.
const NAME_MAX: usize = 64;

/// The streaming checker (see the module documentation).
pub(crate) struct TextChecker {
    limits: TextLimits,
    pos: Position,
    expect: Expect,
    token: Token,
    /// Open containers, with where in each the reader is (for JSON pointers in messages).
    path: Vec<Seg>,
    string: Str,
    /// The number being read, as written.
    number: Vec<u8>,
    number_start: Position,
    /// Decoded bytes of the string being read, when it is a name or a captured value.
    decoded: Vec<u8>,
    decoded_over: bool,
    /// Member names at depth 1 and 2 (the latter only inside `data`).
    names: [Name; 2],
    /// Index of the element being read in an entity list (`/data/pis/N`).
    element: u64,
    entity: Option<Entity>,
    /// The first-level value being captured, with its first bytes as written.
    capture: Capture,
    raw: Vec<u8>,
    top: TopLevel,
    fault: Option<TextFault>,
    /// Leading whitespace (before the first significant byte).
    leading: u64,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The canonical (RFC 8785) length of a code point written as an escape or raw.
fn canonical_len(c: u32) -> u64 {
    match c {
        0x22 | 0x5C | 0x08 | 0x09 | 0x0A | 0x0C | 0x0D => 2,
        0..0x20 => 6,
        0x20..0x80 => 1,
        0x80..0x800 => 2,
        0x800..0x10000 => 3,
        _ => 4,
    }
}

fn push_utf8(out: &mut Vec<u8>, c: u32) {
    if let Some(ch) = char::from_u32(c) {
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
}

/// Shortens text for a message: at most 60 characters, then `...`.
pub(crate) fn shorten(text: &str) -> String {
    if text.chars().count() > 60 {
        format!("{}...", text.chars().take(60).collect::<String>())
    } else {
        text.to_owned()
    }
}

impl TextChecker {
    /// A checker of a document whose first byte is at `at` (leading whitespace that the
    /// sniffer already skipped counts towards offsets and lines: see `sniff.rs`).
    pub(crate) fn new(limits: TextLimits, at: Position) -> Self {
        TextChecker {
            limits,
            pos: at,
            expect: Expect::Start,
            token: Token::None,
            path: Vec::with_capacity(limits.max_depth.min(64)),
            string: Str {
                key: false,
                len: 0,
                start: Position::default(),
                escape: Escape::None,
                high: None,
                need: 0,
                lo: 0,
                hi: 0,
            },
            number: Vec::new(),
            number_start: Position::default(),
            decoded: Vec::new(),
            decoded_over: false,
            names: [Name::Other; 2],
            element: 0,
            entity: None,
            capture: Capture::None,
            raw: Vec::new(),
            top: TopLevel::default(),
            fault: None,
            leading: at.offset,
        }
    }

    /// The first fault found, if any.
    pub(crate) fn fault(&self) -> Option<&TextFault> {
        self.fault.as_ref()
    }

    /// What the top-level members are (complete once the whole document was fed).
    pub(crate) fn top_level(&self) -> &TopLevel {
        &self.top
    }

    /// Reads `bytes`; false once a fault is found (the fault is then kept and nothing more is
    /// read).
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> bool {
        if self.fault.is_some() {
            return false;
        }
        let mut i = 0;
        while i < bytes.len() {
            // Most bytes of a document are inside strings: a run of printable ASCII up to the
            // next quote or backslash is taken at once.
            if self.token == Token::Str
                && self.string.escape == Escape::None
                && self.string.need == 0
                && self.string.high.is_none()
            {
                let rest = &bytes[i..];
                let run = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
                let plain = rest[..run].iter().take_while(|&&b| (0x20..0x80).contains(&b)).count();
                if plain > 0 {
                    if !self.plain(&rest[..plain]) {
                        return false;
                    }
                    i += plain;
                    continue;
                }
            }
            if !self.byte(bytes[i]) {
                return false;
            }
            i += 1;
        }
        true
    }

    /// The input ended: a fault if the document is not complete (or never started).
    pub(crate) fn end(&mut self) -> Option<&TextFault> {
        if self.fault.is_none() {
            self.fault = match self.expect {
                Expect::End => None,
                Expect::Start if self.leading == 0 => Some(TextFault::NotAnArchive("the document is empty".into())),
                Expect::Start => Some(TextFault::NotAnArchive(format!(
                    "the document is {} byte(s) of whitespace only",
                    self.leading
                ))),
                _ => Some(TextFault::EndsEarly { at: self.pos }),
            };
        }
        self.fault.as_ref()
    }

    fn fail(&mut self, fault: TextFault) -> bool {
        self.fault = Some(fault);
        false
    }

    fn syntax(&mut self, message: impl Into<String>) -> bool {
        let at = self.pos;
        let pointer = self.pointer();
        self.fail(TextFault::Syntax { at, pointer, message: message.into() })
    }

    /// Moves past one byte.
    fn advance(&mut self, b: u8) {
        self.pos = self.pos.after(b);
        if self.capture != Capture::None && self.raw.len() < NAME_MAX + 4 {
            self.raw.push(b);
        }
    }

    /// Adds `n` bytes to the measure of the entity being read, if any.
    fn measure(&mut self, n: u64) -> bool {
        if let Some(entity) = &mut self.entity {
            entity.len += n;
            if entity.len > self.limits.max_entity {
                let (pointer, start) = (entity.pointer.clone(), entity.start);
                return self.fail(TextFault::EntityTooLarge { pointer, limit: self.limits.max_entity, start });
            }
        }
        true
    }

    fn in_object(&self) -> bool {
        self.path.last().is_some_and(|seg| seg.object)
    }

    /// The JSON pointer (RFC 6901) of where the reader is: the member or element being read.
    fn pointer(&self) -> String {
        let mut out = String::new();
        for seg in &self.path {
            if seg.object && seg.named {
                out.push('/');
                out.push_str(&String::from_utf8_lossy(&seg.name).replace('~', "~0").replace('/', "~1"));
            } else if !seg.object && seg.started {
                out.push_str(&format!("/{}", seg.index));
            }
        }
        out
    }

    /// Whether the decoded bytes of the current string are kept (names and captured values).
    fn keeps(&self) -> bool {
        self.string.key || self.capture != Capture::None
    }

    /// A run of printable ASCII bytes inside a string, none a quote or a backslash.
    fn plain(&mut self, run: &[u8]) -> bool {
        let room = self.limits.max_token.saturating_sub(self.string.len);
        if run.len() > room {
            // The byte that makes the string too long is where the fault is found.
            self.advance_run(&run[..room]);
            let start = self.string.start;
            let pointer = self.pointer();
            return self.fail(TextFault::TokenTooLong { what: "string", limit: self.limits.max_token, start, pointer });
        }
        self.string.len += run.len();
        if self.keeps() {
            self.keep(run);
        }
        if !self.measure_run(run) {
            return false;
        }
        self.advance_run(run);
        true
    }

    /// Measures a run byte by byte only when the limit is within it (so that the fault is found
    /// at the very byte); otherwise at once.
    fn measure_run(&mut self, run: &[u8]) -> bool {
        let Some(entity) = &self.entity else { return true };
        let room = self.limits.max_entity.saturating_sub(entity.len);
        if (run.len() as u64) <= room {
            return self.measure(run.len() as u64);
        }
        let before = usize::try_from(room).unwrap_or(usize::MAX);
        self.advance_run(&run[..before]);
        self.measure(room + 1)
    }

    fn advance_run(&mut self, run: &[u8]) {
        self.pos.offset += run.len() as u64;
        self.pos.column += run.len() as u64;
        if self.capture != Capture::None {
            let room = (NAME_MAX + 4).saturating_sub(self.raw.len());
            self.raw.extend_from_slice(&run[..run.len().min(room)]);
        }
    }

    /// Keeps decoded bytes of a name or a captured value (up to [`NAME_MAX`]).
    fn keep(&mut self, bytes: &[u8]) {
        let room = NAME_MAX.saturating_sub(self.decoded.len());
        if bytes.len() > room {
            self.decoded_over = true;
        }
        self.decoded.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn keep_char(&mut self, c: u32) {
        if self.keeps() {
            let mut buf = Vec::with_capacity(4);
            push_utf8(&mut buf, c);
            self.keep(&buf);
        }
    }

    fn byte(&mut self, b: u8) -> bool {
        let ok = match self.token {
            Token::Str => self.in_string(b),
            // Moves past its bytes itself: the byte that ends a number is read again.
            Token::Num(state) => return self.in_number(b, state),
            Token::Lit { word, at } => self.in_literal(b, word, at),
            Token::None => self.structural(b),
        };
        if ok {
            self.advance(b);
        }
        ok
    }

    /// A byte outside any token.
    fn structural(&mut self, b: u8) -> bool {
        if self.expect == Expect::Start {
            if is_space(b) {
                self.leading += 1;
                return true;
            }
            if b != b'{' {
                return self.not_an_archive(b);
            }
            return self.open(true);
        }
        if is_space(b) {
            return true;
        }
        match (self.expect, b) {
            (Expect::FirstValue, b']') => self.close(b),
            (Expect::Value | Expect::FirstValue, b'{') => self.value_start() && self.open(true),
            (Expect::Value | Expect::FirstValue, b'[') => self.value_start() && self.open(false),
            (Expect::Value | Expect::FirstValue, b'"') => self.value_start() && self.string_start(false),
            (Expect::Value | Expect::FirstValue, b'-' | b'0'..=b'9') => {
                if !self.value_start() {
                    return false;
                }
                self.number.clear();
                self.number.push(b);
                self.number_start = self.pos;
                self.token = Token::Num(match b {
                    b'-' => Num::Minus,
                    b'0' => Num::Zero,
                    _ => Num::Int,
                });
                true
            }
            (Expect::Value | Expect::FirstValue, b't') => self.value_start() && self.literal(b"true"),
            (Expect::Value | Expect::FirstValue, b'f') => self.value_start() && self.literal(b"false"),
            (Expect::Value | Expect::FirstValue, b'n') => self.value_start() && self.literal(b"null"),
            (Expect::FirstKey | Expect::Key, b'"') => self.string_start(true),
            (Expect::FirstKey, b'}') | (Expect::AfterValue, b'}' | b']') => self.close(b),
            (Expect::Colon, b':') => {
                self.expect = Expect::Value;
                self.measure(1)
            }
            (Expect::AfterValue, b',') => {
                if self.path.len() == 3 && self.entity.is_none() {
                    self.element += 1;
                }
                if let Some(seg) = self.path.last_mut() {
                    if seg.object {
                        seg.named = false;
                    } else {
                        seg.index += 1;
                    }
                }
                self.expect = if self.in_object() { Expect::Key } else { Expect::Value };
                self.measure(1)
            }
            (Expect::End, _) => {
                self.syntax(format!("trailing characters after the end of the document: {}", describe(b)))
            }
            (expect, _) => {
                let wanted = match expect {
                    Expect::Value => "a value",
                    Expect::FirstValue => "a value or `]`",
                    Expect::FirstKey => "a member name or `}`",
                    Expect::Key => "a member name",
                    Expect::Colon => "`:`",
                    _ if self.in_object() => "`,` or `}`",
                    _ => "`,` or `]`",
                };
                self.syntax(format!("expected {wanted}, found {}", describe(b)))
            }
        }
    }

    fn not_an_archive(&mut self, b: u8) -> bool {
        let kind = match b {
            0xEF => " (a UTF-8 byte order mark, which a document must not have: RFC 8259, 8.1)",
            b'[' => " (a JSON array)",
            b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => " (a JSON value that is not an object)",
            _ => "",
        };
        let after =
            if self.leading > 0 { format!(" after {} byte(s) of whitespace", self.leading) } else { String::new() };
        let message = format!("the document starts{after} with {}{kind}; an archive is a JSON object", describe(b));
        self.fail(TextFault::NotAnArchive(message))
    }

    /// A value starts at the current byte: entities and captures start here.
    fn value_start(&mut self) -> bool {
        if let Some(seg) = self.path.last_mut() {
            seg.started = true;
        }
        let level = self.path.len();
        if level == 1 {
            self.capture = match self.names[0] {
                Name::Format => Capture::Format,
                Name::FormatVersion => Capture::Version,
                _ => Capture::None,
            };
            self.raw.clear();
            self.decoded.clear();
            self.decoded_over = false;
        }
        if self.entity.is_none() {
            let list = |name: Name| match name {
                Name::Teams => Some("teams"),
                Name::Programs => Some("programs"),
                Name::Periods => Some("periods"),
                Name::Pis => Some("pis"),
                _ => None,
            };
            let pointer = match (level, self.names) {
                (1, [Name::Header, _]) => Some("/header".to_owned()),
                (2, [Name::Data, Name::Admins]) => Some("/data/admins".to_owned()),
                (2, [Name::Data, Name::Settings]) => Some("/data/settings".to_owned()),
                (3, [Name::Data, name]) if self.path[1].object && !self.path[2].object => {
                    list(name).map(|list| format!("/data/{list}/{}", self.element))
                }
                _ => None,
            };
            if let Some(pointer) = pointer {
                self.entity = Some(Entity { level, len: 0, pointer, start: self.pos });
            }
        }
        true
    }

    /// A value ended with the byte `last` (the closing quote or bracket, the last letter of a
    /// literal; `None` for a number, which ends before the byte after it).
    fn value_end(&mut self, last: Option<u8>) -> bool {
        let level = self.path.len();
        if self.entity.as_ref().is_some_and(|e| e.level == level) {
            self.entity = None;
        }
        if level == 1 && self.capture != Capture::None {
            if let Some(b) = last.filter(|_| self.raw.len() < NAME_MAX + 4) {
                self.raw.push(b);
            }
            match self.capture {
                Capture::Format => {
                    let ok = self.raw.first() == Some(&b'"') && !self.decoded_over && self.decoded == b"ativo-backup";
                    if !ok && self.top.bad_format.is_none() {
                        self.top.bad_format = Some(self.raw_text());
                    }
                }
                Capture::Version => {
                    if self.top.version.is_none() {
                        self.top.version = Some(if matches!(self.raw.first(), Some(b'-' | b'0'..=b'9')) {
                            Ok(String::from_utf8_lossy(&self.number).into_owned())
                        } else {
                            Err(self.raw_text())
                        });
                    }
                }
                Capture::None => {}
            }
            self.capture = Capture::None;
        }
        self.expect = if self.path.is_empty() { Expect::End } else { Expect::AfterValue };
        true
    }

    /// The captured value as written, shortened for a message.
    fn raw_text(&self) -> String {
        let text = String::from_utf8_lossy(&self.raw).into_owned();
        if self.raw.len() > NAME_MAX {
            format!("{}...", shorten(&text).trim_end_matches("..."))
        } else {
            shorten(&text)
        }
    }

    fn open(&mut self, object: bool) -> bool {
        if self.path.len() >= self.limits.max_depth {
            let (at, pointer) = (self.pos, self.pointer());
            return self.fail(TextFault::TooDeep { limit: self.limits.max_depth, at, pointer });
        }
        self.path.push(Seg { object, name: Vec::new(), named: false, started: false, index: 0 });
        if !object && self.path.len() == 3 {
            self.element = 0;
        }
        self.expect = if object { Expect::FirstKey } else { Expect::FirstValue };
        self.measure(1)
    }

    fn close(&mut self, b: u8) -> bool {
        let object = b == b'}';
        if self.path.last().map(|seg| seg.object) != Some(object) {
            let open = if object { "an array" } else { "an object" };
            return self.syntax(format!("{} where {open} is open", describe(b)));
        }
        self.path.pop();
        self.measure(1) && self.value_end(Some(b))
    }

    fn literal(&mut self, word: &'static [u8]) -> bool {
        self.token = Token::Lit { word, at: 1 };
        true
    }

    fn in_literal(&mut self, b: u8, word: &'static [u8], at: usize) -> bool {
        if word[at] != b {
            return self.syntax(format!("expected `{}`, found {}", String::from_utf8_lossy(word), describe(b)));
        }
        if at + 1 < word.len() {
            self.token = Token::Lit { word, at: at + 1 };
            return true;
        }
        self.token = Token::None;
        self.measure(word.len() as u64) && self.value_end(Some(b))
    }

    fn string_start(&mut self, key: bool) -> bool {
        self.token = Token::Str;
        self.string = Str { key, len: 0, start: self.pos, escape: Escape::None, high: None, need: 0, lo: 0, hi: 0 };
        if key {
            self.decoded.clear();
            self.decoded_over = false;
        }
        self.measure(2)
    }

    fn string_end(&mut self) -> bool {
        self.token = Token::None;
        if !self.string.key {
            return self.value_end(Some(b'"'));
        }
        self.expect = Expect::Colon;
        let name = if self.decoded_over { Name::Other } else { Name::of(&self.decoded) };
        if let Some(seg) = self.path.last_mut() {
            seg.name.clear();
            seg.name.extend_from_slice(&self.decoded);
            if self.decoded_over {
                seg.name.extend_from_slice(b"...");
            }
            seg.named = true;
        }
        let level = self.path.len();
        if level == 1 {
            self.names = [name, Name::Other];
            match name.top_level() {
                Some(k) => {
                    self.top.seen[k] += 1;
                    if self.top.seen[k] == 2 && self.top.repeated.is_none() {
                        self.top.repeated = Some(k);
                    }
                }
                None if self.top.unknown.is_none() => {
                    let text = shorten(&String::from_utf8_lossy(&self.decoded));
                    self.top.unknown =
                        Some(if self.decoded_over { format!("{}...", text.trim_end_matches("...")) } else { text });
                }
                None => {}
            }
        } else if level == 2 && self.names[0] == Name::Data && self.path[1].object {
            self.names[1] = name;
        }
        true
    }

    fn in_string(&mut self, b: u8) -> bool {
        let s = self.string;
        if b == b'"' && s.escape == Escape::None && s.need == 0 && s.high.is_none() {
            return self.string_end();
        }
        self.string.len += 1;
        if self.string.len > self.limits.max_token {
            let pointer = self.pointer();
            return self.fail(TextFault::TokenTooLong {
                what: "string",
                limit: self.limits.max_token,
                start: s.start,
                pointer,
            });
        }
        if s.need > 0 {
            if !(s.lo..=s.hi).contains(&b) {
                return self.syntax("invalid UTF-8 in a string");
            }
            self.string.need -= 1;
            (self.string.lo, self.string.hi) = (0x80, 0xBF);
            if self.keeps() {
                self.keep(&[b]);
            }
            return self.measure(1);
        }
        match s.escape {
            Escape::Backslash => {
                self.string.escape = Escape::None;
                if s.high.is_some() && b != b'u' {
                    return self.lone_surrogate();
                }
                let (c, n) = match b {
                    b'"' => (0x22, 2),
                    b'\\' => (0x5C, 2),
                    b'/' => (0x2F, 1),
                    b'b' => (0x08, 2),
                    b'f' => (0x0C, 2),
                    b'n' => (0x0A, 2),
                    b'r' => (0x0D, 2),
                    b't' => (0x09, 2),
                    b'u' => {
                        self.string.escape = Escape::Hex { digits: 0, value: 0 };
                        return true;
                    }
                    _ => return self.syntax(format!("invalid escape \\{} in a string", describe(b))),
                };
                self.keep_char(c);
                return self.measure(n);
            }
            Escape::Hex { digits, value } => {
                let Some(digit) = char::from(b).to_digit(16) else {
                    return self.syntax(format!("{} in a \\u escape, where a hexadecimal digit belongs", describe(b)));
                };
                let value = value << 4 | digit;
                if digits < 3 {
                    self.string.escape = Escape::Hex { digits: digits + 1, value };
                    return true;
                }
                self.string.escape = Escape::None;
                return self.code_unit(value);
            }
            Escape::None => {}
        }
        if s.high.is_some() && b != b'\\' {
            return self.lone_surrogate();
        }
        match b {
            b'\\' => {
                self.string.escape = Escape::Backslash;
                true
            }
            0..0x20 => {
                self.syntax(format!("a raw control character ({}) in a string, where it must be escaped", describe(b)))
            }
            0x20..0x80 => {
                if self.keeps() {
                    self.keep(&[b]);
                }
                self.measure(1)
            }
            _ => {
                let (need, lo, hi) = match b {
                    0xC2..=0xDF => (1, 0x80, 0xBF),
                    0xE0 => (2, 0xA0, 0xBF),
                    0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
                    0xED => (2, 0x80, 0x9F),
                    0xF0 => (3, 0x90, 0xBF),
                    0xF1..=0xF3 => (3, 0x80, 0xBF),
                    0xF4 => (3, 0x80, 0x8F),
                    _ => return self.syntax("invalid UTF-8 in a string"),
                };
                (self.string.need, self.string.lo, self.string.hi) = (need, lo, hi);
                if self.keeps() {
                    self.keep(&[b]);
                }
                self.measure(1)
            }
        }
    }

    fn lone_surrogate(&mut self) -> bool {
        self.syntax("a \\u escape of a high surrogate that no low surrogate escape follows (a lone surrogate)")
    }

    /// A `\uXXXX` escape ended with `value`.
    fn code_unit(&mut self, value: u32) -> bool {
        match (self.string.high.take(), value) {
            (Some(high), 0xDC00..=0xDFFF) => {
                self.keep_char(0x10000 + ((high - 0xD800) << 10) + (value - 0xDC00));
                self.measure(4)
            }
            (Some(_), _) => self.lone_surrogate(),
            (None, 0xD800..=0xDBFF) => {
                self.string.high = Some(value);
                true
            }
            (None, 0xDC00..=0xDFFF) => {
                self.syntax("a \\u escape of a low surrogate that no high surrogate escape precedes (a lone surrogate)")
            }
            (None, c) => {
                self.keep_char(c);
                self.measure(canonical_len(c))
            }
        }
    }

    /// A byte while a number is read. Moves past the byte itself: a byte that ends the number is
    /// read again, outside it.
    fn in_number(&mut self, b: u8, state: Num) -> bool {
        let next = match (state, b) {
            (Num::Minus, b'0') => Some(Num::Zero),
            (Num::Minus | Num::Int, b'0'..=b'9') => Some(Num::Int),
            (Num::Zero | Num::Int, b'.') => Some(Num::Dot),
            (Num::Dot | Num::Frac, b'0'..=b'9') => Some(Num::Frac),
            (Num::Zero | Num::Int | Num::Frac, b'e' | b'E') => Some(Num::E),
            (Num::E, b'+' | b'-') => Some(Num::ESign),
            (Num::E | Num::ESign | Num::Exp, b'0'..=b'9') => Some(Num::Exp),
            _ => None,
        };
        if let Some(next) = next {
            if self.number.len() >= self.limits.max_token {
                let start = self.number_start;
                let pointer = self.pointer();
                return self.fail(TextFault::TokenTooLong {
                    what: "number",
                    limit: self.limits.max_token,
                    start,
                    pointer,
                });
            }
            self.number.push(b);
            self.token = Token::Num(next);
            self.advance(b);
            return true;
        }
        match state {
            Num::Zero if b.is_ascii_digit() => self.syntax("a number with a leading zero"),
            Num::Zero | Num::Int | Num::Frac | Num::Exp => {
                self.token = Token::None;
                self.number_end() && self.byte(b)
            }
            _ => self.syntax(format!("{} in a number", describe(b))),
        }
    }

    fn number_end(&mut self) -> bool {
        let value = std::str::from_utf8(&self.number).ok().and_then(|text| text.parse::<f64>().ok());
        let Some(value) = value.filter(|v| v.is_finite()) else {
            let at = self.number_start;
            let number = shorten(&String::from_utf8_lossy(&self.number));
            let pointer = self.pointer();
            return self.fail(TextFault::Syntax {
                at,
                pointer,
                message: format!("number {number} is out of range (larger than any IEEE 754 double)"),
            });
        };
        let len = crate::model::canonical::canonical_number_len(value) as u64;
        self.measure(len) && self.value_end(None)
    }
}

/// A byte for a message: printable ASCII quoted, anything else in hexadecimal.
fn describe(b: u8) -> String {
    if b.is_ascii_graphic() { format!("`{}`", b as char) } else { format!("byte 0x{b:02x}") }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    fn limits() -> TextLimits {
        TextLimits { max_depth: 100, max_token: 1 << 20, max_entity: u64::MAX }
    }

    /// The verdict of the checker on `input`, fed in pieces of `chunk` bytes.
    fn check(input: &[u8], limits: TextLimits, chunk: usize) -> Option<TextFault> {
        let mut checker = TextChecker::new(limits, Position::START);
        for piece in input.chunks(chunk.max(1)) {
            if !checker.feed(piece) {
                break;
            }
        }
        checker.end().cloned()
    }

    fn next(seed: &mut u64) -> u32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (*seed >> 33) as u32
    }

    /// JSON text of `value` with strings escaped in every way JSON allows (chosen by `seed`), and
    /// numbers in several spellings of the same double: the same canonical form, other bytes.
    fn spelled(value: &Value, seed: &mut u64, out: &mut String) {
        match value {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => {
                let text = n.to_string();
                match next(seed) % 4 {
                    0 if !text.contains(['.', 'e', 'E']) => out.push_str(&format!("{text}.0")),
                    1 if !text.contains(['e', 'E']) => out.push_str(&format!("{text}e0")),
                    2 => out.push_str(&format!(" {text} ")),
                    _ => out.push_str(&text),
                }
            }
            Value::String(s) => string(s, seed, out),
            Value::Array(items) => {
                out.push('[');
                for (k, item) in items.iter().enumerate() {
                    if k > 0 {
                        out.push_str(if next(seed).is_multiple_of(3) { " ,\n " } else { "," });
                    }
                    spelled(item, seed, out);
                }
                out.push(']');
            }
            Value::Object(members) => {
                out.push_str(if next(seed).is_multiple_of(3) { "{ " } else { "{" });
                for (k, (name, item)) in members.iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    string(name, seed, out);
                    out.push_str(if next(seed).is_multiple_of(2) { ":" } else { " : " });
                    spelled(item, seed, out);
                }
                out.push('}');
            }
        }
    }

    fn string(s: &str, seed: &mut u64, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            let mut units = [0u16; 2];
            match (c, next(seed) % 3) {
                ('"', _) => out.push_str("\\\""),
                ('\\', _) => out.push_str("\\\\"),
                ('/', 0) => out.push_str("\\/"),
                ('\n', 1) => out.push_str("\\n"),
                (c, 0) | (c @ '\0'..='\x1f', _) => {
                    for unit in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{unit:04X}"));
                    }
                }
                (c, _) => out.push(c),
            }
        }
        out.push('"');
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<u32>().prop_map(Value::from),
            (-1e30f64..1e30).prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            "\\PC{0,6}".prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map("\\PC{0,5}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// The checker accepts exactly the texts serde_json parses into a value (which also
        /// refuses lone surrogates and numbers beyond doubles), whole or with one byte changed,
        /// added or removed, in whatever pieces they come.
        #[test]
        fn the_checker_accepts_what_serde_json_parses(
            members in prop::collection::vec(("\\PC{0,5}", value()), 0..4),
            seed in any::<u64>(),
            edit in any::<(u8, usize, u8)>(),
            chunk in 1usize..40,
        ) {
            let object = Value::Object(members.into_iter().collect());
            let mut text = String::new();
            let mut seed = seed;
            spelled(&object, &mut seed, &mut text);
            let whole = text.into_bytes();
            prop_assert_eq!(check(&whole, limits(), chunk), None, "{}", String::from_utf8_lossy(&whole));
            let mut edited = whole.clone();
            let at = edit.1 % (whole.len() + 1);
            match edit.0 % 3 {
                0 => edited.insert(at, edit.2),
                1 if at < edited.len() => { edited.remove(at); }
                _ if at < edited.len() => edited[at] = edit.2,
                _ => {}
            }
            let parses = serde_json::from_slice::<Value>(&edited).is_ok_and(|v| v.is_object());
            let checked = check(&edited, limits(), chunk);
            prop_assert_eq!(checked.is_none(), parses, "{:?}: {}", checked, String::from_utf8_lossy(&edited));
            prop_assert_eq!(check(&edited, limits(), 1), checked);
        }

        /// An entity's measure is the length of its canonical form (RFC 8785, as the independent
        /// `serde_json_canonicalizer` writes it), however it is spelled: at that limit it passes,
        /// one byte below it does not.
        #[test]
        fn an_entity_is_measured_by_its_canonical_form(value in value(), seed in any::<u64>()) {
            let canonical = serde_json_canonicalizer::to_vec(&value).unwrap().len() as u64;
            let mut seed = seed;
            for (pointer, wrap) in [("/header", "{\"header\":X}"), ("/data/pis/1", "{\"data\":{\"pis\":[1, X, 2]}}")] {
                // The elements around it are entities of length 1 too.
                if canonical < 2 && pointer == "/data/pis/1" {
                    continue;
                }
                let mut text = String::new();
                spelled(&value, &mut seed, &mut text);
                let document = wrap.replace('X', &text);
                let at = |max_entity| check(document.as_bytes(), TextLimits { max_entity, ..limits() }, 7);
                prop_assert_eq!(at(canonical), None, "{}", document);
                let over = at(canonical - 1);
                prop_assert!(
                    matches!(&over, Some(TextFault::EntityTooLarge { pointer: p, .. }) if p == pointer),
                    "{:?}: {}", over, document
                );
            }
        }
    }

    #[test]
    fn the_top_level_is_summed_up_whatever_the_spelling_of_its_names() {
        let mut checker = TextChecker::new(limits(), Position::START);
        let text = br#"{"f\u006frmat":"ativo-backup","x":1,"format_version":2.0,"data":{},"data":[],"format":"other"}"#;
        assert!(checker.feed(text));
        assert!(checker.end().is_none());
        let top = checker.top_level();
        assert_eq!(top.seen, [2, 1, 0, 2]);
        assert_eq!(top.repeated, Some(3));
        assert_eq!(top.bad_format.as_deref(), Some("\"other\""));
        assert_eq!(top.version, Some(Ok("2.0".into())));
        assert_eq!(top.unknown.as_deref(), Some("x"));
    }

    #[test]
    fn faults_are_found_where_they_are() {
        let fault = |text: &[u8]| check(text, limits(), 3);
        assert!(matches!(fault(b""), Some(TextFault::NotAnArchive(m)) if m.contains("empty")));
        assert!(matches!(fault(b" \n"), Some(TextFault::NotAnArchive(m)) if m.contains("whitespace only")));
        assert!(matches!(fault(b"\xEF\xBB\xBF{}"), Some(TextFault::NotAnArchive(m)) if m.contains("byte order mark")));
        assert!(matches!(fault(b"[1]"), Some(TextFault::NotAnArchive(m)) if m.contains("JSON array")));
        for cut in
            [&b"{\"a\":1e"[..], b"{\"a\":-", b"{\"a\":tr", b"{\"a\":\"ab", b"{\"a\":\"\\ud800", b"{\"a\":\"\xE2\x82"]
        {
            assert!(matches!(fault(cut), Some(TextFault::EndsEarly { .. })), "{}", String::from_utf8_lossy(cut));
        }
        for (bad, pointer) in [
            (&b"{\"a\":[1,1e400]}"[..], "/a/1"),
            (b"{\"a\":{\"b\":\"\\ud800x\"}}", "/a/b"),
            (b"{\"a\":\"\\udc00\"}", "/a"),
            (b"{\"a\":01}", "/a"),
            (b"{\"a\":1,}", ""),
            (b"{\"a\":\"\t\"}", "/a"),
            (b"{} {}", ""),
        ] {
            let found = fault(bad);
            assert!(
                matches!(&found, Some(TextFault::Syntax { pointer: p, .. }) if p == pointer),
                "{}: {found:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
