//! The ID mappings: what each server-side Jira id became on the cloud site, read in the shapes
//! Atlassian's app migration platform hands them out (SPEC.md, 11.2).
//!
//! An input is either a *whole* document, `{"<namespace>": {"<server id>": "<cloud id>"}}` as
//! `migration references --skeleton` prints it, or the mappings of *one namespace* named on the
//! command line (`--mappings NAMESPACE=FILE`): a flat object `{"<server id>": "<cloud id>"}`, one
//! or more pages of the REST endpoint `GET /mapping/{transferId}/page` (`{"meta": {...},
//! "items": {...}}`), or the Forge form `{"results": [{"key", "value"}]}`. A file may hold several
//! JSON documents one after the other (JSON lines, or pages concatenated), may start with a UTF-8
//! byte order mark, and may write ids as JSON numbers.
//!
//! Reading is strict, because a mistake here puts wrong ids into the cloud configuration: every
//! error names the file and the JSON pointer, and nothing is resolved silently (a server id given
//! twice, a namespace given twice, `customfield_N` and `N` mapped differently, two projects or two
//! boards mapped onto one cloud id, a cloud id of the wrong shape, an incomplete set of pages).
//!
//! Memory: a mappings file can be far larger than the configuration (every issue of a site), so
//! it is parsed as it streams, through the archive's byte-level guard (size cap, nesting and
//! string limits), and only the ids that the configuration uses are kept ([`Wanted`]); the rest
//! are checked and counted, then forgotten. So memory follows the configuration, not the file.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io::{BufRead, BufReader, Read};

use serde::Serialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::references::References;
use super::{
    BOARD, CUSTOM_FIELD, CUSTOM_FIELD_PREFIX, NOT_APPLIED, PROJECT, has_numeric_ids, known_namespace, pointer_token,
};
use crate::archive::guard::{Fault, Guard};
use crate::error::{Error, Result};

/// The longest id accepted on either side; Jira ids are far shorter, so a longer one is a mistake.
const MAX_ID_LEN: usize = 1024;

/// The shapes, in one line, for the end of error messages.
const SHAPES_HINT: &str = "SPEC.md, 11.2 lists the accepted shapes";

/// Limits against a hostile or mistaken mappings input (SPEC.md, 11.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingsLimits {
    /// The most bytes one input may hold (a byte order mark included).
    pub max_size: u64,
    /// The deepest nesting of arrays and objects (the deepest shape needs 4).
    pub max_depth: usize,
    /// The longest string, member names included, in bytes of its escaped form.
    pub max_string: usize,
}

impl MappingsLimits {
    /// The default size cap: 1 GiB, room for every issue of a very large site in one file.
    pub const DEFAULT_MAX_SIZE: u64 = 1 << 30;
}

impl Default for MappingsLimits {
    fn default() -> Self {
        MappingsLimits { max_size: Self::DEFAULT_MAX_SIZE, max_depth: 16, max_string: 16 << 10 }
    }
}

/// How an input lays its mappings out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `{"<namespace>": {"<server id>": "<cloud id>"}}` (or wrapped in `{"mappings": ...}`).
    Whole,
    /// The mappings of one namespace: a flat object, REST pages or Forge results.
    Namespace(&'static str),
}

/// The server ids a configuration uses, per namespace: the only ones the reader keeps. Custom
/// fields are held by number (`customfield_10016` as `10016`), the form both spellings share.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    ids: HashMap<&'static str, HashSet<String>>,
}

impl Wanted {
    /// The ids `references` lists.
    pub fn of(references: &References) -> Self {
        let ids = references
            .namespaces
            .iter()
            .map(|(ns, ids)| (*ns, ids.keys().map(|id| server_key(ns, id).to_owned()).collect()))
            .collect();
        Wanted { ids }
    }

    fn contains(&self, namespace: &str, key: &str) -> bool {
        self.ids.get(namespace).is_some_and(|ids| ids.contains(key))
    }
}

/// A custom field's server id by number (`customfield_10016` -> `10016`); other ids as they are.
fn server_key<'s>(namespace: &str, id: &'s str) -> &'s str {
    if namespace == CUSTOM_FIELD
        && let Some(number) = id.strip_prefix(CUSTOM_FIELD_PREFIX)
        && is_positive_integer(number)
    {
        return number;
    }
    id
}

/// A positive integer written in decimal, as Jira's numeric ids are (fits a signed 64-bit id).
fn is_positive_integer(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('0')
        && s.bytes().all(|b| b.is_ascii_digit())
        && s.parse::<i64>().is_ok_and(|n| n > 0)
}

/// Where one mapping was read: which input, which JSON document of it, which JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    input: usize,
    document: u32,
    pointer: String,
}

/// One kept mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// The server id as written (`customfield_10016` or `10016`).
    key: String,
    /// The cloud id, normalised (`None`: not mapped yet).
    cloud: Option<String>,
    place: Place,
}

/// One page of a namespace: a REST page, or Forge results.
#[derive(Debug, Clone)]
struct PageInfo {
    /// `hasNext` (REST) or a non-null `nextCursor` (Forge).
    has_next: bool,
    /// `lastEntity` (REST) or `nextCursor` (Forge): where the next page starts.
    cursor: Option<String>,
    place: Place,
}

/// How a namespace was given so far.
#[derive(Debug, Clone)]
enum Given {
    /// As a member of a whole document, or as a flat object: complete in one place.
    Once(Place),
    /// As pages (REST or Forge), possibly several.
    Pages(Place),
}

/// One input as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappingsInput {
    /// The file (absolute path) or `<stdin>`.
    pub file: String,
    /// The namespace it was given for (`NAMESPACE=FILE`), or `None` for a whole document.
    pub namespace: Option<String>,
    /// JSON documents in it (pages, lines).
    pub documents: u32,
    /// Mappings in it, over every namespace.
    pub entries: u64,
}

/// A namespace of the inputs that is not applied to the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IgnoredNamespace {
    /// Its name.
    pub namespace: String,
    /// Its mappings.
    pub entries: u64,
    /// Why it is not applied.
    pub reason: String,
}

/// What the inputs held for one namespace this tool applies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NamespaceStats {
    /// Mappings read (server ids), `null` ones included.
    pub entries: u64,
    /// Those with a cloud id.
    pub mapped: u64,
    /// Those the configuration uses (kept).
    pub kept: u64,
}

/// Parsed ID mappings: for each namespace this tool applies, server id -> cloud id (`None`: not
/// mapped yet), restricted to the ids the configuration uses when a [`Wanted`] was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mappings {
    namespaces: BTreeMap<&'static str, HashMap<String, Option<String>>>,
    stats: BTreeMap<&'static str, NamespaceStats>,
    inputs: Vec<MappingsInput>,
    ignored: Vec<IgnoredNamespace>,
}

impl Mappings {
    /// Parses one whole document held in memory (tests, library users); every id is kept.
    ///
    /// # Errors
    ///
    /// As [`MappingsReader::read`] and [`MappingsReader::finish`].
    pub fn parse(text: &[u8], source: &str) -> Result<Self> {
        let mut reader = MappingsReader::new(None, MappingsLimits::default());
        reader.read(source, Layout::Whole, text)?;
        reader.finish()
    }

    /// Builds mappings from literal pairs (tests, library users). Custom field ids in either
    /// spelling; cloud ids are taken as given.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>) -> Self {
        let mut m = Mappings::default();
        for (namespace, server, cloud) in pairs {
            let Some(ns) = known_namespace(namespace) else { continue };
            let cloud = if ns == CUSTOM_FIELD && is_positive_integer(cloud) {
                format!("{CUSTOM_FIELD_PREFIX}{cloud}")
            } else {
                cloud.to_owned()
            };
            m.namespaces.entry(ns).or_default().insert(server_key(ns, server).to_owned(), Some(cloud));
        }
        m
    }

    /// The cloud id of `server_id` in `namespace`, if it is mapped.
    ///
    /// Custom fields are found in either spelling (`customfield_10100` or `10100`, as Atlassian
    /// keys them) and their cloud id is always `customfield_<number>`, Jira's field id form.
    pub fn get(&self, namespace: &str, server_id: &str) -> Option<String> {
        self.namespaces.get(namespace)?.get(server_key(namespace, server_id))?.clone()
    }

    /// Namespaces of the inputs that are not applied: unknown to this tool, or read but never
    /// applied ([`super::GROUP`], [`super::USER`]).
    pub fn ignored_namespaces(&self) -> &[IgnoredNamespace] {
        &self.ignored
    }

    /// The names of [`Mappings::ignored_namespaces`] that this tool does not know at all.
    pub fn unknown_namespaces(&self) -> Vec<String> {
        self.ignored.iter().filter(|i| known_namespace(&i.namespace).is_none()).map(|i| i.namespace.clone()).collect()
    }

    /// What the inputs held per applied namespace.
    pub fn stats(&self) -> &BTreeMap<&'static str, NamespaceStats> {
        &self.stats
    }

    /// The inputs read, in the order given.
    pub fn inputs(&self) -> &[MappingsInput] {
        &self.inputs
    }

    /// The number of kept server ids with a cloud id, over all namespaces.
    pub fn mapped_count(&self) -> usize {
        self.namespaces.values().flat_map(HashMap::values).filter(|v| v.is_some()).count()
    }
}

/// Reads mappings inputs one after the other, then checks what only the whole set can show
/// ([`MappingsReader::finish`]).
#[derive(Debug)]
pub struct MappingsReader<'w> {
    wanted: Option<&'w Wanted>,
    limits: MappingsLimits,
    inputs: Vec<MappingsInput>,
    entries: BTreeMap<&'static str, HashMap<String, Entry>>,
    stats: BTreeMap<&'static str, NamespaceStats>,
    given: HashMap<String, Given>,
    pages: BTreeMap<&'static str, Vec<PageInfo>>,
    ignored: BTreeMap<String, IgnoredNamespace>,
}

impl<'w> MappingsReader<'w> {
    /// A reader that keeps the ids of `wanted` only (every id when `None`).
    pub fn new(wanted: Option<&'w Wanted>, limits: MappingsLimits) -> Self {
        MappingsReader {
            wanted,
            limits,
            inputs: Vec::new(),
            entries: BTreeMap::new(),
            stats: BTreeMap::new(),
            given: HashMap::new(),
            pages: BTreeMap::new(),
            ignored: BTreeMap::new(),
        }
    }

    /// Reads one input named `name` (a file's absolute path, or `<stdin>`), laid out as `layout`.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] (exit 2) naming `name`, the JSON document when there are several, and
    /// the JSON pointer, when the input is empty, not JSON, over a limit, not of an accepted
    /// shape, or breaks a rule of SPEC.md 11.2; [`Error::File`] (exit 1) when reading it fails.
    pub fn read(&mut self, name: &str, layout: Layout, input: impl Read) -> Result<()> {
        let index = self.inputs.len();
        self.inputs.push(MappingsInput {
            file: name.to_owned(),
            namespace: match layout {
                Layout::Whole => None,
                Layout::Namespace(ns) => Some(ns.to_owned()),
            },
            documents: 0,
            entries: 0,
        });
        let limits = crate::archive::Limits {
            max_size: self.limits.max_size,
            max_depth: self.limits.max_depth,
            max_string: self.limits.max_string,
            ..crate::archive::Limits::default()
        };
        // The archive's guard for the size cap; its text checker knows the archive's document
        // (its top level, its entities), not a mappings file of several documents, so the nesting
        // and string limits are checked on the bytes by `ShapeLimits`.
        let shape = ShapeLimits::new(Guard::size_only(input, &limits, 0), limits.max_depth, limits.max_string);
        let mut bytes = BufReader::with_capacity(1 << 16, shape);
        let at_start = |reader: &Self, what: &str| reader.usage(index, 1, "", what);
        let head = bytes.fill_buf().map_err(|e| self.io_error(index, 1, e))?;
        if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
            bytes.consume(3);
        } else if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
            return Err(at_start(self, "the file is UTF-16; save it as UTF-8 (JSON is UTF-8, RFC 8259)"));
        }
        let mut document = 0u32;
        while next_document(&mut bytes).map_err(|e| self.io_error(index, document + 1, e))? {
            document += 1;
            self.inputs[index].documents = document;
            let mut doc = Doc { reader: self, input: index, document, layout, error: None };
            let mut de = serde_json::Deserializer::from_reader(&mut bytes);
            let outcome = DocumentSeed { doc: &mut doc }.deserialize(&mut de);
            if let Some(error) = doc.error {
                return Err(error);
            }
            if let Err(e) = outcome {
                return Err(self.json_error(index, document, e));
            }
        }
        if document == 0 {
            return Err(at_start(self, "the file is empty: it holds no JSON document"));
        }
        Ok(())
    }

    /// Ends the reading: checks the pages of each namespace and that no two projects or boards
    /// share a cloud id, and returns the mappings.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] (exit 2) naming the places involved.
    pub fn finish(self) -> Result<Mappings> {
        for (ns, pages) in &self.pages {
            self.check_pages(ns, pages)?;
        }
        for ns in [PROJECT, BOARD] {
            let Some(entries) = self.entries.get(ns) else { continue };
            let mut sorted: Vec<&Entry> = entries.values().filter(|e| e.cloud.is_some()).collect();
            sorted.sort_by(|a, b| super::id_order(&a.key, &b.key));
            let mut onto: HashMap<&str, &Entry> = HashMap::new();
            for entry in sorted {
                let Some(cloud) = entry.cloud.as_deref() else { continue };
                if let Some(first) = onto.insert(cloud, entry) {
                    let what = if ns == PROJECT { "projects" } else { "boards" };
                    return Err(Error::Usage(format!(
                        "mappings: {what} {} ({}) and {} ({}) of {ns} are both mapped onto cloud id {cloud:?}: two Jira {what} never become one, so one of the two mappings is wrong; {SHAPES_HINT}",
                        shown(&first.key),
                        self.place(&first.place),
                        shown(&entry.key),
                        self.place(&entry.place),
                    )));
                }
            }
        }
        let namespaces = self
            .entries
            .into_iter()
            .map(|(ns, entries)| (ns, entries.into_iter().map(|(key, e)| (key, e.cloud)).collect()))
            .collect();
        Ok(Mappings {
            namespaces,
            stats: self.stats,
            inputs: self.inputs,
            ignored: self.ignored.into_values().collect(),
        })
    }

    /// The pages of one namespace end with exactly one last page, and none is given twice.
    fn check_pages(&self, ns: &str, pages: &[PageInfo]) -> Result<()> {
        let mut cursors: HashMap<&str, &PageInfo> = HashMap::new();
        for page in pages.iter().filter(|p| p.has_next) {
            if let Some(cursor) = page.cursor.as_deref()
                && let Some(first) = cursors.insert(cursor, page)
            {
                return Err(Error::Usage(format!(
                    "mappings: two pages of {ns} end at the same entity {} ({} and {}): the same page is given twice; give each page once; {SHAPES_HINT}",
                    shown(cursor),
                    self.place(&first.place),
                    self.place(&page.place)
                )));
            }
        }
        let last: Vec<&PageInfo> = pages.iter().filter(|p| !p.has_next).collect();
        match last.as_slice() {
            [] => {
                let tail = pages.last().and_then(|p| p.cursor.as_deref());
                Err(Error::Usage(format!(
                    "mappings: the pages of {ns} are incomplete: every page given says there is a next one (hasNext: true, or a nextCursor){}; fetch the pages that follow until one says hasNext: false (GET /mapping/{{transferId}}/page?namespace={ns}&lastEntity=...) and give them all; {SHAPES_HINT}",
                    tail.map(|t| format!(", the last given ends at {}", shown(t))).unwrap_or_default()
                )))
            }
            [_] => Ok(()),
            [a, b, ..] => Err(Error::Usage(format!(
                "mappings: {ns} has more than one last page ({} and {} both say there is no next page): these pages come from two different fetches; give the pages of one fetch only; {SHAPES_HINT}",
                self.place(&a.place),
                self.place(&b.place)
            ))),
        }
    }

    /// `FILE`, `FILE document N`, then ` at POINTER` when there is one.
    fn place(&self, place: &Place) -> String {
        let mut s = self.input_name(place.input, place.document);
        if !place.pointer.is_empty() {
            s.push_str(" at ");
            s.push_str(&place.pointer);
        }
        s
    }

    fn input_name(&self, input: usize, document: u32) -> String {
        let name = self.inputs.get(input).map_or("?", |i| i.file.as_str());
        if document > 1 { format!("{name} (document {document})") } else { name.to_owned() }
    }

    fn usage(&self, input: usize, document: u32, pointer: &str, what: &str) -> Error {
        Error::Usage(format!(
            "mappings file {} at {}: {what}; {SHAPES_HINT}",
            self.input_name(input, document),
            if pointer.is_empty() { "/" } else { pointer }
        ))
    }

    fn io_error(&self, input: usize, document: u32, e: std::io::Error) -> Error {
        let name = self.input_name(input, document);
        if let Some(fault) = e.get_ref().and_then(|inner| inner.downcast_ref::<ShapeFault>()) {
            return Error::Usage(format!("mappings file {name} is not a mappings file: {fault}; {SHAPES_HINT}"));
        }
        match Fault::take(e) {
            Ok(Fault::TooLarge { limit }) => Error::Usage(format!(
                "mappings file {name} is larger than the {limit}-byte limit; refused before reading further (raise it with --mappings-max-size if the file is trusted)"
            )),
            Ok(fault @ Fault::Text) => {
                Error::Usage(format!("mappings file {name} is not a mappings file: {fault}; {SHAPES_HINT}"))
            }
            Ok(Fault::Source(source) | Fault::Zstd(source)) | Err(source) => {
                Error::File { action: "cannot read mappings file", path: name.into(), source }
            }
        }
    }

    fn json_error(&self, input: usize, document: u32, e: serde_json::Error) -> Error {
        if e.is_io() {
            return self.io_error(input, document, e.into());
        }
        let what = if e.is_eof() {
            format!("the document ends early, it is truncated ({e})")
        } else {
            format!("not JSON ({e})")
        };
        Error::Usage(format!("mappings file {}: {what}; {SHAPES_HINT}", self.input_name(input, document)))
    }

    /// Records that `namespace` is given at `place`, as pages or once; refuses a second giving.
    fn give(&mut self, namespace: &str, place: Place, as_pages: bool) -> std::result::Result<(), String> {
        match (self.given.get(namespace), as_pages) {
            (None, _) => {
                let given = if as_pages { Given::Pages(place) } else { Given::Once(place) };
                self.given.insert(namespace.to_owned(), given);
                Ok(())
            }
            (Some(Given::Pages(_)), true) => Ok(()),
            (Some(Given::Once(first) | Given::Pages(first)), _) => Err(format!(
                "namespace {namespace} is given twice (first in {}); give each namespace once: as one member of a whole document, as one flat object, or as one set of pages",
                self.place(first)
            )),
        }
    }

    /// One mapping `key` -> `value` of `namespace`, read at `place`.
    fn entry(
        &mut self,
        namespace: &Namespace,
        key: &str,
        value: CloudValue,
        place: Place,
    ) -> std::result::Result<(), String> {
        let input = place.input;
        let ns = match namespace {
            Namespace::Applied(ns) => *ns,
            Namespace::Ignored(name) => {
                if let CloudValue::Other(_) | CloudValue::Bool(_) = value {
                    return Err(format!("the value is {}, not an id", value.kind()));
                }
                if let Some(ignored) = self.ignored.get_mut(name) {
                    ignored.entries += 1;
                }
                self.inputs[input].entries += 1;
                return Ok(());
            }
        };
        check_server_id(key)?;
        let cloud = match value {
            CloudValue::Null => None,
            CloudValue::Text(s) => Some(cloud_id(ns, &s)?),
            CloudValue::Number(n) => Some(cloud_id(ns, &n.to_string())?),
            CloudValue::Bool(_) | CloudValue::Other(_) => {
                return Err(format!(
                    "the cloud id is {}; write it as a string (\"10042\") or a number, or null for \"not mapped yet\"",
                    value.kind()
                ));
            }
        };
        self.inputs[input].entries += 1;
        let stats = self.stats.entry(ns).or_default();
        stats.entries += 1;
        if cloud.is_some() {
            stats.mapped += 1;
        }
        let normal = server_key(ns, key);
        if self.wanted.is_some_and(|w| !w.contains(ns, normal)) {
            return Ok(());
        }
        stats.kept += 1;
        let first = self.entries.get(ns).and_then(|entries| entries.get(normal));
        match first {
            None => {
                let entry = Entry { key: key.to_owned(), cloud, place };
                self.entries.entry(ns).or_default().insert(normal.to_owned(), entry);
                Ok(())
            }
            Some(first) if first.key == key => Err(format!(
                "server id {} of {ns} is mapped twice (first in {}); a server id is mapped once",
                shown(key),
                self.place(&first.place)
            )),
            Some(first) if first.cloud != cloud => Err(format!(
                "{} and {} are one custom field, mapped differently ({} in {}, {} here)",
                shown(&first.key),
                shown(key),
                shown_cloud(&first.cloud),
                self.place(&first.place),
                shown_cloud(&cloud)
            )),
            // The same field in both spellings, mapped alike: one mapping.
            Some(_) => Ok(()),
        }
    }
}

/// Skips the whitespace before the next JSON document; `false` at the end of the input.
fn next_document(bytes: &mut impl BufRead) -> std::io::Result<bool> {
    loop {
        let buf = bytes.fill_buf()?;
        if buf.is_empty() {
            return Ok(false);
        }
        let blank = buf.iter().take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')).count();
        let more = blank < buf.len();
        bytes.consume(blank);
        if more {
            return Ok(true);
        }
    }
}

/// A server id: not blank, not too long, no control characters.
fn check_server_id(key: &str) -> std::result::Result<(), String> {
    if key.trim().is_empty() || key.len() > MAX_ID_LEN || key.chars().any(char::is_control) {
        return Err(format!(
            "the server id {} is blank, longer than {MAX_ID_LEN} bytes, or has control characters",
            shown(key)
        ));
    }
    Ok(())
}

/// The cloud id `s` of `namespace`, checked and normalised (a custom field as `customfield_N`).
fn cloud_id(namespace: &str, s: &str) -> std::result::Result<String, String> {
    if s.is_empty() || s.len() > MAX_ID_LEN || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "the cloud id {} is empty, longer than {MAX_ID_LEN} bytes, or has whitespace or control characters; use null for \"not mapped yet\"",
            shown(s)
        ));
    }
    if namespace == CUSTOM_FIELD {
        let number = s.strip_prefix(CUSTOM_FIELD_PREFIX).unwrap_or(s);
        if is_positive_integer(number) {
            return Ok(format!("{CUSTOM_FIELD_PREFIX}{number}"));
        }
        return Err(format!(
            "the cloud id {} is not a custom field id: a custom field is customfield_N or N, N a positive integer",
            shown(s)
        ));
    }
    if has_numeric_ids(namespace) && !is_positive_integer(s) {
        return Err(format!(
            "the cloud id {} is not a positive integer written in decimal, as the ids of {namespace} are on Jira Cloud",
            shown(s)
        ));
    }
    Ok(s.to_owned())
}

/// `s` quoted, control characters escaped: text from a file never drives the terminal.
fn shown(s: &str) -> String {
    format!("{s:?}")
}

fn shown_cloud(cloud: &Option<String>) -> String {
    cloud.as_deref().map_or_else(|| "null".to_owned(), shown)
}

/// A namespace as the reader treats it.
#[derive(Debug, Clone)]
enum Namespace {
    /// Applied to the configuration: checked, counted, kept when wanted.
    Applied(&'static str),
    /// Unknown to this tool, or never applied: counted, not kept.
    Ignored(String),
}

/// A cloud id as written in the file.
#[derive(Debug)]
enum CloudValue {
    Null,
    Bool(bool),
    Text(String),
    Number(u64),
    /// Anything else, named ("an object", "a negative number", ...).
    Other(&'static str),
}

impl CloudValue {
    /// What the value is, for messages.
    fn kind(&self) -> &'static str {
        match self {
            CloudValue::Null => "null",
            CloudValue::Bool(_) => "a boolean",
            CloudValue::Text(_) => "a string",
            CloudValue::Number(_) => "a number",
            CloudValue::Other(kind) => kind,
        }
    }
}

/// The parsing of one JSON document, with the reader it feeds.
struct Doc<'r, 'w> {
    reader: &'r mut MappingsReader<'w>,
    input: usize,
    document: u32,
    layout: Layout,
    /// The first error of ours; serde only carries a marker to stop the parse.
    error: Option<Error>,
}

impl Doc<'_, '_> {
    fn place(&self, pointer: String) -> Place {
        Place { input: self.input, document: self.document, pointer }
    }

    /// Records `what` at `pointer` as the error, and returns serde's marker to stop.
    fn fail<E: de::Error>(&mut self, pointer: &str, what: &str) -> E {
        if self.error.is_none() {
            self.error = Some(self.reader.usage(self.input, self.document, pointer, what));
        }
        E::custom("stopped by a mappings error")
    }

    fn namespace(&mut self, name: &str) -> Namespace {
        match known_namespace(name) {
            Some(ns) if !NOT_APPLIED.contains(&ns) => Namespace::Applied(ns),
            known => {
                let reason = match known {
                    Some(super::GROUP) => {
                        "not applied: Ativo keeps supplier groups by name, and a group name means the same group on the cloud site"
                    }
                    Some(_) => "not applied: no migrated member refers to a user",
                    None => "not used by Ativo",
                };
                self.reader.ignored.entry(name.to_owned()).or_insert_with(|| IgnoredNamespace {
                    namespace: name.to_owned(),
                    entries: 0,
                    reason: reason.to_owned(),
                });
                Namespace::Ignored(name.to_owned())
            }
        }
    }

    fn entry<E: de::Error>(
        &mut self,
        namespace: &Namespace,
        key: &str,
        value: CloudValue,
        pointer: String,
    ) -> std::result::Result<(), E> {
        let place = self.place(pointer);
        match self.reader.entry(namespace, key, value, place.clone()) {
            Ok(()) => Ok(()),
            Err(what) => Err(self.fail(&place.pointer, &what)),
        }
    }

    fn give<E: de::Error>(&mut self, namespace: &str, pointer: &str, as_pages: bool) -> std::result::Result<(), E> {
        let place = self.place(pointer.to_owned());
        match self.reader.give(namespace, place, as_pages) {
            Ok(()) => Ok(()),
            Err(what) => Err(self.fail(pointer, &what)),
        }
    }
}

/// Implements the `visit_*` methods of a visitor that wants an object, refusing everything else
/// through `$self.refuse(kind)`.
macro_rules! only_objects {
    () => {
        fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Self::Value, E> {
            self.refuse("a boolean")
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<Self::Value, E> {
            self.refuse("a number")
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<Self::Value, E> {
            self.refuse("a number")
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Self::Value, E> {
            self.refuse("a number")
        }
        fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<Self::Value, E> {
            self.refuse("a string")
        }
        fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            self.refuse("null")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> std::result::Result<Self::Value, A::Error> {
            self.refuse("an array")
        }
    };
}

/// A whole JSON document of an input.
struct DocumentSeed<'d, 'r, 'w> {
    doc: &'d mut Doc<'r, 'w>,
}

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, de: D) -> std::result::Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl DocumentSeed<'_, '_, '_> {
    fn refuse<E: de::Error>(self, kind: &str) -> std::result::Result<(), E> {
        let what = match self.doc.layout {
            Layout::Whole => format!(
                "the document is {kind}, not an object of namespaces {{\"<namespace>\": {{\"<server id>\": \"<cloud id>\"}}}}"
            ),
            Layout::Namespace(ns) => format!(
                "the document is {kind}, not the mappings of {ns} (a flat object, a page {{\"meta\", \"items\"}} or Forge results {{\"results\"}})"
            ),
        };
        Err(self.doc.fail("", &what))
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    only_objects!();

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let doc = self.doc;
        match doc.layout {
            Layout::Whole => {
                let mut first = true;
                let mut wrapped = false;
                while let Some(key) = map.next_key::<String>()? {
                    let pointer = format!("/{}", pointer_token(&key));
                    match key.as_str() {
                        "mappings" if first => {
                            wrapped = true;
                            map.next_value_seed(NamespacesSeed { doc: &mut *doc, prefix: "/mappings" })?;
                        }
                        _ if wrapped || key == "mappings" => {
                            return Err(doc.fail(&pointer, "a `mappings` wrapper must be the only top-level member"));
                        }
                        "meta" | "items" | "results" | "nextCursor" => {
                            return Err(doc.fail(
                                &pointer,
                                "this is a page of one namespace, not a whole document: name its namespace with --mappings NAMESPACE=FILE",
                            ));
                        }
                        // The members of the `migration references --format json` report.
                        "report_version" | "skeleton" | "input" | "source" | "scope" | "namespaces" | "required"
                        | "system_fields" | "supplier_groups" => {
                            return Err(doc.fail(
                                &pointer,
                                "this is the report of `migration references --format json`, not a mappings file: write the skeleton with `migration references ARCHIVE --skeleton`",
                            ));
                        }
                        _ => map.next_value_seed(NamespaceBodySeed { doc: &mut *doc, namespace: key, pointer })?,
                    }
                    first = false;
                }
                Ok(())
            }
            Layout::Namespace(ns) => {
                let Some(first) = map.next_key::<String>()? else {
                    // `{}`: a namespace with no mappings, given once.
                    return doc.give::<A::Error>(ns, "", false);
                };
                match first.as_str() {
                    "meta" | "items" => page(doc, ns, first, map),
                    "results" | "nextCursor" => forge(doc, ns, first, map),
                    "mappings" => Err(doc.fail(
                        "/mappings",
                        "this is a whole document ({\"mappings\": ...}), not the mappings of one namespace: give it as --mappings FILE",
                    )),
                    _ => {
                        doc.give::<A::Error>(ns, "", false)?;
                        let namespace = doc.namespace(ns);
                        let mut key = Some(first);
                        while let Some(k) = key {
                            let pointer = format!("/{}", pointer_token(&k));
                            let value = map.next_value_seed(CloudValueSeed)?;
                            if let CloudValue::Other("an object") = value
                                && known_namespace(&k).is_some()
                            {
                                return Err(doc.fail(
                                    &pointer,
                                    "this looks like a whole document (a namespace as a member), not the mappings of one namespace: give it as --mappings FILE",
                                ));
                            }
                            doc.entry::<A::Error>(&namespace, &k, value, pointer)?;
                            key = map.next_key::<String>()?;
                        }
                        Ok(())
                    }
                }
            }
        }
    }
}

/// A REST page: `{"meta": {"pageSize", "hasNext", "lastEntity"}, "items": {...}}`, its first
/// member name already read.
fn page<'de, A: MapAccess<'de>>(
    doc: &mut Doc<'_, '_>,
    ns: &'static str,
    first: String,
    mut map: A,
) -> std::result::Result<(), A::Error> {
    doc.give::<A::Error>(ns, "", true)?;
    let namespace = doc.namespace(ns);
    let mut meta: Option<Meta> = None;
    let mut items = false;
    let mut key = Some(first);
    while let Some(k) = key {
        match k.as_str() {
            "meta" if meta.is_none() => meta = Some(map.next_value_seed(MetaSeed { doc: &mut *doc })?),
            "items" if !items => {
                items = true;
                map.next_value_seed(FlatSeed { doc: &mut *doc, namespace: &namespace, prefix: "/items".into() })?;
            }
            "meta" | "items" => return Err(doc.fail(&format!("/{k}"), &format!("the page has two `{k}` members"))),
            _ => {
                return Err(doc.fail(
                    &format!("/{}", pointer_token(&k)),
                    &format!(
                        "a page has members `meta` and `items` only, not {}: an unknown member might change what the page means",
                        shown(&k)
                    ),
                ));
            }
        }
        key = map.next_key::<String>()?;
    }
    let Some(meta) = meta else { return Err(doc.fail("", "the page has `items` but no `meta`")) };
    if !items {
        return Err(doc.fail("", "the page has `meta` but no `items`"));
    }
    let place = doc.place(String::new());
    doc.reader.pages.entry(ns).or_default().push(PageInfo { has_next: meta.has_next, cursor: meta.last_entity, place });
    Ok(())
}

/// Forge results: `{"results": [{"key", "value"}], "nextCursor"?}`, the first member name read.
fn forge<'de, A: MapAccess<'de>>(
    doc: &mut Doc<'_, '_>,
    ns: &'static str,
    first: String,
    mut map: A,
) -> std::result::Result<(), A::Error> {
    doc.give::<A::Error>(ns, "", true)?;
    let namespace = doc.namespace(ns);
    let mut results = false;
    let mut cursor: Option<Option<String>> = None;
    let mut key = Some(first);
    while let Some(k) = key {
        match k.as_str() {
            "results" if !results => {
                results = true;
                map.next_value_seed(ResultsSeed { doc: &mut *doc, namespace: &namespace })?;
            }
            "nextCursor" if cursor.is_none() => {
                let value = map.next_value_seed(CloudValueSeed)?;
                cursor = Some(optional_text(doc, "/nextCursor", value)?);
            }
            "results" | "nextCursor" => {
                return Err(doc.fail(&format!("/{k}"), &format!("the results have two `{k}` members")));
            }
            _ => {
                return Err(doc.fail(
                    &format!("/{}", pointer_token(&k)),
                    &format!(
                        "Forge results have members `results` and `nextCursor` only, not {}: an unknown member might change what they mean",
                        shown(&k)
                    ),
                ));
            }
        }
        key = map.next_key::<String>()?;
    }
    if !results {
        return Err(doc.fail("", "the Forge results have no `results` member"));
    }
    let cursor = cursor.flatten();
    let place = doc.place(String::new());
    doc.reader.pages.entry(ns).or_default().push(PageInfo { has_next: cursor.is_some(), cursor, place });
    Ok(())
}

/// The namespaces of a whole document (the value of a `mappings` wrapper).
struct NamespacesSeed<'d, 'r, 'w> {
    doc: &'d mut Doc<'r, 'w>,
    prefix: &'static str,
}

impl<'de> DeserializeSeed<'de> for NamespacesSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, de: D) -> std::result::Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl NamespacesSeed<'_, '_, '_> {
    fn refuse<E: de::Error>(self, kind: &str) -> std::result::Result<(), E> {
        Err(self.doc.fail(self.prefix, &format!("`mappings` is {kind}, not an object of namespaces")))
    }
}

impl<'de> Visitor<'de> for NamespacesSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of namespaces")
    }

    only_objects!();

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            let pointer = format!("{}/{}", self.prefix, pointer_token(&key));
            map.next_value_seed(NamespaceBodySeed { doc: &mut *self.doc, namespace: key, pointer })?;
        }
        Ok(())
    }
}

/// One namespace member of a whole document: a flat object.
struct NamespaceBodySeed<'d, 'r, 'w> {
    doc: &'d mut Doc<'r, 'w>,
    namespace: String,
    pointer: String,
}

impl<'de> DeserializeSeed<'de> for NamespaceBodySeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, de: D) -> std::result::Result<(), D::Error> {
        let NamespaceBodySeed { doc, namespace, pointer } = self;
        doc.give::<D::Error>(&namespace, &pointer, false)?;
        let ns = doc.namespace(&namespace);
        de.deserialize_any(FlatSeed { doc, namespace: &ns, prefix: pointer })
    }
}

/// A flat object `{"<server id>": "<cloud id>"}` of one namespace, at `prefix`.
struct FlatSeed<'d, 'r, 'w, 'n> {
    doc: &'d mut Doc<'r, 'w>,
    namespace: &'n Namespace,
    prefix: String,
}

impl<'de> DeserializeSeed<'de> for FlatSeed<'_, '_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, de: D) -> std::result::Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl FlatSeed<'_, '_, '_, '_> {
    fn refuse<E: de::Error>(self, kind: &str) -> std::result::Result<(), E> {
        let name = match self.namespace {
            Namespace::Applied(ns) => (*ns).to_owned(),
            Namespace::Ignored(name) => name.clone(),
        };
        let what = if self.prefix.ends_with("/items") {
            format!("the page's items are {kind}, not an object of server id -> cloud id")
        } else {
            format!("namespace {} is {kind}, not an object of server id -> cloud id", shown(&name))
        };
        Err(self.doc.fail(&self.prefix, &what))
    }
}

impl<'de> Visitor<'de> for FlatSeed<'_, '_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of server id -> cloud id")
    }

    only_objects!();

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(CloudValueSeed)?;
            let pointer = format!("{}/{}", self.prefix, pointer_token(&key));
            self.doc.entry::<A::Error>(self.namespace, &key, value, pointer)?;
        }
        Ok(())
    }
}

/// A cloud id: a string, a positive whole number, or null; anything else is named.
struct CloudValueSeed;

impl<'de> DeserializeSeed<'de> for CloudValueSeed {
    type Value = CloudValue;
    fn deserialize<D: de::Deserializer<'de>>(self, de: D) -> std::result::Result<CloudValue, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CloudValueSeed {
    type Value = CloudValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a cloud id")
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<CloudValue, E> {
        Ok(CloudValue::Null)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<CloudValue, E> {
        Ok(CloudValue::Text(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<CloudValue, E> {
        Ok(CloudValue::Text(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<CloudValue, E> {
        Ok(CloudValue::Number(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<CloudValue, E> {
        Ok(u64::try_from(v).map_or(CloudValue::Other("a negative number"), CloudValue::Number))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<CloudValue, E> {
        Ok(CloudValue::Other("a number with a fraction or an exponent"))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<CloudValue, E> {
        Ok(CloudValue::Bool(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<CloudValue, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(CloudValue::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<CloudValue, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(CloudValue::Other("an object"))
    }
}

/// A REST page's `meta`.
struct Meta {
    has_next: bool,
    last_entity: Option<String>,
}

struct MetaSeed<'d, 'r, 'w> {
    doc: &'d mut Doc<'r, 'w>,
}

impl<'de> DeserializeSeed<'de> for MetaSeed<'_, '_, '_> {
    type Value = Meta;
    fn deserialize<D: de::Deserializer<'de>>(self, de: D) -> std::result::Result<Meta, D::Error> {
        de.deserialize_any(self)
    }
}

impl MetaSeed<'_, '_, '_> {
    fn refuse<E: de::Error>(self, kind: &str) -> std::result::Result<Meta, E> {
        Err(self.doc.fail("/meta", &format!("`meta` is {kind}, not an object")))
    }
}

impl<'de> Visitor<'de> for MetaSeed<'_, '_, '_> {
    type Value = Meta;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a page's meta")
    }

    only_objects!();

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Meta, A::Error> {
        let doc = self.doc;
        let mut has_next: Option<bool> = None;
        let mut last_entity: Option<Option<String>> = None;
        let mut page_size = false;
        while let Some(key) = map.next_key::<String>()? {
            let pointer = format!("/meta/{}", pointer_token(&key));
            match key.as_str() {
                "hasNext" if has_next.is_none() => match map.next_value_seed(CloudValueSeed)? {
                    CloudValue::Bool(b) => has_next = Some(b),
                    other => {
                        return Err(doc.fail(&pointer, &format!("`hasNext` is {}, not true or false", other.kind())));
                    }
                },
                "lastEntity" if last_entity.is_none() => {
                    let value = map.next_value_seed(CloudValueSeed)?;
                    last_entity = Some(optional_text(doc, &pointer, value)?);
                }
                "pageSize" if !page_size => {
                    page_size = true;
                    match map.next_value_seed(CloudValueSeed)? {
                        CloudValue::Number(n) if n > 0 => {}
                        other => {
                            return Err(doc.fail(
                                &pointer,
                                &format!("`pageSize` is {}, not a positive whole number", other.kind()),
                            ));
                        }
                    }
                }
                "hasNext" | "lastEntity" | "pageSize" => {
                    return Err(doc.fail(&pointer, &format!("`meta` has two `{key}` members")));
                }
                _ => {
                    return Err(doc.fail(
                        &pointer,
                        &format!(
                            "a page's meta has `pageSize`, `hasNext` and `lastEntity` only, not {}: an unknown member might change what the page means",
                            shown(&key)
                        ),
                    ));
                }
            }
        }
        let Some(has_next) = has_next else {
            return Err(doc.fail("/meta", "`meta` has no `hasNext`: it cannot say whether more pages follow"));
        };
        Ok(Meta { has_next, last_entity: last_entity.flatten() })
    }
}

/// A cursor (`lastEntity`, `nextCursor`): a string, a number or null.
fn optional_text<E: de::Error>(
    doc: &mut Doc<'_, '_>,
    pointer: &str,
    value: CloudValue,
) -> std::result::Result<Option<String>, E> {
    match value {
        CloudValue::Null => Ok(None),
        CloudValue::Text(s) => Ok(Some(s)),
        CloudValue::Number(n) => Ok(Some(n.to_string())),
        other => Err(doc.fail(pointer, &format!("the value is {}, not a string or null", other.kind()))),
    }
}

/// Forge's `results` array.
struct ResultsSeed<'d, 'r, 'w, 'n> {
    doc: &'d mut Doc<'r, 'w>,
    namespace: &'n Namespace,
}

impl<'de> DeserializeSeed<'de> for ResultsSeed<'_, '_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, de: D) -> std::result::Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ResultsSeed<'_, '_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of {\"key\", \"value\"}")
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> std::result::Result<(), A::Error> {
        Err(self.doc.fail("/results", "`results` is an object, not an array of {\"key\", \"value\"}"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        let mut index = 0usize;
        while let Some(pair) = seq.next_element_seed(PairSeed { doc: &mut *self.doc, index })? {
            let (key, value) = pair;
            self.doc.entry::<A::Error>(self.namespace, &key, value, format!("/results/{index}/value"))?;
            index += 1;
        }
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<(), E> {
        Err(self.doc.fail("/results", "`results` is a string, not an array of {\"key\", \"value\"}"))
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<(), E> {
        Err(self.doc.fail("/results", "`results` is null, not an array of {\"key\", \"value\"}"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<(), E> {
        Err(self.doc.fail("/results", "`results` is a number, not an array of {\"key\", \"value\"}"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<(), E> {
        Err(self.doc.fail("/results", "`results` is a boolean, not an array of {\"key\", \"value\"}"))
    }
}

/// One `{"key": ..., "value": ...}` of Forge results.
struct PairSeed<'d, 'r, 'w> {
    doc: &'d mut Doc<'r, 'w>,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for PairSeed<'_, '_, '_> {
    type Value = (String, CloudValue);
    fn deserialize<D: de::Deserializer<'de>>(self, de: D) -> std::result::Result<Self::Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl PairSeed<'_, '_, '_> {
    fn refuse<E: de::Error>(self, kind: &str) -> std::result::Result<(String, CloudValue), E> {
        let pointer = format!("/results/{}", self.index);
        Err(self.doc.fail(&pointer, &format!("the result is {kind}, not {{\"key\": ..., \"value\": ...}}")))
    }
}

impl<'de> Visitor<'de> for PairSeed<'_, '_, '_> {
    type Value = (String, CloudValue);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{\"key\", \"value\"}")
    }

    only_objects!();

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
        let base = format!("/results/{}", self.index);
        let mut key: Option<String> = None;
        let mut value: Option<CloudValue> = None;
        while let Some(member) = map.next_key::<String>()? {
            let pointer = format!("{base}/{}", pointer_token(&member));
            match member.as_str() {
                "key" if key.is_none() => match map.next_value_seed(CloudValueSeed)? {
                    CloudValue::Text(s) => key = Some(s),
                    CloudValue::Number(n) => key = Some(n.to_string()),
                    other => {
                        return Err(self.doc.fail(&pointer, &format!("the key is {}, not a server id", other.kind())));
                    }
                },
                "value" if value.is_none() => value = Some(map.next_value_seed(CloudValueSeed)?),
                "key" | "value" => {
                    return Err(self.doc.fail(&pointer, &format!("the result has two `{member}` members")));
                }
                _ => {
                    return Err(self.doc.fail(
                        &pointer,
                        &format!(
                            "a result has members `key` and `value` only, not {}: an unknown member might change what it means",
                            shown(&member)
                        ),
                    ));
                }
            }
        }
        match (key, value) {
            (Some(key), Some(value)) => Ok((key, value)),
            (None, _) => Err(self.doc.fail(&base, "the result has no `key`")),
            (Some(_), None) => Err(self.doc.fail(&base, "the result has no `value`")),
        }
    }
}

/// A nesting or string limit broken by a mappings file.
#[derive(Debug)]
enum ShapeFault {
    TooDeep(usize),
    StringTooLong(usize),
}

impl fmt::Display for ShapeFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShapeFault::TooDeep(max) => write!(f, "it is nested deeper than {max} levels"),
            ShapeFault::StringTooLong(max) => write!(f, "it holds a string longer than {max} bytes"),
        }
    }
}

impl std::error::Error for ShapeFault {}

/// The nesting and string limits of a stream of JSON documents, checked on the bytes as they
/// pass, before serde_json buffers a string or recurses: a mappings file cannot make the reader
/// hold a huge string or nest without end. Counts the bytes of a string as written between its
/// quotes, as the archive's limits do (SPEC.md 7).
struct ShapeLimits<R> {
    inner: R,
    max_depth: usize,
    max_string: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
    string_len: usize,
}

impl<R> ShapeLimits<R> {
    fn new(inner: R, max_depth: usize, max_string: usize) -> Self {
        ShapeLimits { inner, max_depth, max_string, depth: 0, in_string: false, escaped: false, string_len: 0 }
    }

    fn check(&mut self, bytes: &[u8]) -> Result<(), ShapeFault> {
        for &b in bytes {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'"' {
                    self.in_string = false;
                    continue;
                } else if b == b'\\' {
                    self.escaped = true;
                }
                self.string_len += 1;
                if self.string_len > self.max_string {
                    return Err(ShapeFault::StringTooLong(self.max_string));
                }
                continue;
            }
            match b {
                b'"' => {
                    self.in_string = true;
                    self.string_len = 0;
                }
                b'[' | b'{' => {
                    self.depth += 1;
                    if self.depth > self.max_depth {
                        return Err(ShapeFault::TooDeep(self.max_depth));
                    }
                }
                b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for ShapeLimits<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.check(&buf[..n]).map_err(std::io::Error::other)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::{FILTER, GROUP, ISSUE, SPRINT};

    fn usage(text: &str) -> String {
        match Mappings::parse(text.as_bytes(), "m.json") {
            Err(Error::Usage(message)) => message,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    fn one(ns: &'static str, text: &str) -> Result<Mappings> {
        let mut reader = MappingsReader::new(None, MappingsLimits::default());
        reader.read("p.json", Layout::Namespace(ns), text.as_bytes())?;
        reader.finish()
    }

    fn one_usage(ns: &'static str, text: &str) -> String {
        match one(ns, text) {
            Err(Error::Usage(message)) => message,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn plain_and_wrapped_files_parse_alike() {
        let plain = r#"{"jira/classic:project": {"10000": "20000", "10001": null}}"#;
        let wrapped = format!(r#"{{"mappings": {plain}}}"#);
        let a = Mappings::parse(plain.as_bytes(), "a").unwrap();
        let b = Mappings::parse(wrapped.as_bytes(), "b").unwrap();
        assert_eq!(a.namespaces, b.namespaces);
        assert_eq!(a.get(PROJECT, "10000").as_deref(), Some("20000"));
        assert_eq!(a.get(PROJECT, "10001"), None);
        assert_eq!(a.get(FILTER, "10000"), None);
        assert_eq!(a.mapped_count(), 1);
    }

    #[test]
    fn every_shape_atlassian_returns_gives_the_same_mappings() {
        let flat = one(ISSUE, r#"{"10000": "10152", "10001": 10153}"#).unwrap();
        let page = one(
            ISSUE,
            r#"{"meta": {"pageSize": 1200, "hasNext": false, "lastEntity": null}, "items": {"10000": "10152", "10001": "10153"}}"#,
        )
        .unwrap();
        let forge =
            one(ISSUE, r#"{"results": [{"key": "10000", "value": "10152"}, {"key": 10001, "value": 10153}]}"#).unwrap();
        let pages = one(
            ISSUE,
            "{\"meta\": {\"pageSize\": 1, \"hasNext\": true, \"lastEntity\": \"10000\"}, \"items\": {\"10000\": \"10152\"}}\n{\"meta\": {\"pageSize\": 1, \"hasNext\": false, \"lastEntity\": null}, \"items\": {\"10001\": \"10153\"}}\n",
        )
        .unwrap();
        let bom = one(ISSUE, "\u{feff}{\"10000\": \"10152\", \"10001\": \"10153\"}").unwrap();
        for m in [&page, &forge, &pages, &bom] {
            assert_eq!(m.namespaces, flat.namespaces);
        }
        assert_eq!(flat.get(ISSUE, "10001").as_deref(), Some("10153"));
        assert_eq!(pages.inputs()[0].documents, 2);
        assert_eq!(pages.inputs()[0].entries, 2);
    }

    #[test]
    fn custom_fields_are_found_by_number_and_keep_their_prefix() {
        let m = Mappings::parse(
            br#"{"jira/classic:customField": {"10100": "10342", "customfield_10016": "customfield_10020"}}"#,
            "m",
        )
        .unwrap();
        assert_eq!(m.get(CUSTOM_FIELD, "customfield_10100").as_deref(), Some("customfield_10342"));
        assert_eq!(m.get(CUSTOM_FIELD, "10016").as_deref(), Some("customfield_10020"));
        // Both spellings mapped alike are one mapping; mapped differently, refused.
        assert!(
            Mappings::parse(br#"{"jira/classic:customField": {"10100": "7", "customfield_10100": "7"}}"#, "m").is_ok()
        );
        let message = usage(r#"{"jira/classic:customField": {"customfield_10016": "7", "10016": "8"}}"#);
        assert!(message.contains("one custom field, mapped differently"), "{message}");
    }

    #[test]
    fn bad_files_name_the_file_and_the_pointer() {
        assert!(usage("not json").contains("m.json: not JSON"));
        assert!(usage("[]").contains("not an object of namespaces"));
        assert!(usage("").contains("empty"));
        assert!(usage(r#"{"jira/classic:project": []}"#).contains("at /jira~1classic:project:"));
        let message = usage(r#"{"jira/classic:project": {"10000": true}}"#);
        assert!(message.contains("at /jira~1classic:project/10000: the cloud id is a boolean"), "{message}");
        assert!(usage(r#"{"mappings": {}, "x": {}}"#).contains("only top-level member"));
        assert!(usage(r#"{"jira:filter": {"1": " "}}"#).contains("whitespace"));
        assert!(usage(r#"{"jira:filter": {"1": "abc"}}"#).contains("not a positive integer"));
        assert!(usage(r#"{"jira:filter": {"1": "0"}}"#).contains("not a positive integer"));
        assert!(usage(r#"{"jira:filter": {"1": -4}}"#).contains("a negative number"));
        assert!(usage(r#"{"jira:filter": {"1": 4.5}}"#).contains("fraction"));
        assert!(usage(r#"{"jira/classic:customField": {"1": "summary"}}"#).contains("not a custom field id"));
        assert!(usage(r#"{"meta": {}, "items": {}}"#).contains("--mappings NAMESPACE=FILE"));
        assert!(usage(r#"{"report_version": 1}"#).contains("--skeleton"));
        assert!(usage("{\"jira:filter\": {\"1\": \"2\"}").contains("truncated"));
    }

    #[test]
    fn repeats_are_refused_naming_both_places() {
        let message = usage(r#"{"jira:filter": {"1": "2", "1": "3"}}"#);
        assert!(
            message.contains("server id \"1\" of jira:filter is mapped twice (first in m.json at /jira:filter/1)"),
            "{message}"
        );
        let message = usage(r#"{"jira:filter": {"1": "2"}, "jira:filter": {"3": "4"}}"#);
        assert!(message.contains("namespace jira:filter is given twice"), "{message}");
        let message = usage("{\"jira:filter\": {\"1\": \"2\"}}\n{\"jira:filter\": {\"3\": \"4\"}}");
        assert!(message.contains("(document 2)") && message.contains("given twice"), "{message}");
        let message = usage(r#"{"jira/classic:project": {"1": "5", "2": "5"}}"#);
        assert!(message.contains("projects \"1\" (m.json at /jira~1classic:project/1) and \"2\""), "{message}");
        assert!(message.contains("both mapped onto cloud id \"5\""), "{message}");
        // Other namespaces may map two server objects onto one cloud object (merged types).
        assert!(Mappings::parse(br#"{"jira/classic:issueType": {"1": "5", "2": "5"}}"#, "m").is_ok());
    }

    #[test]
    fn pages_must_be_complete_and_given_once() {
        let first = r#"{"meta": {"pageSize": 1, "hasNext": true, "lastEntity": "1"}, "items": {"1": "2"}}"#;
        let last = r#"{"meta": {"pageSize": 1, "hasNext": false, "lastEntity": null}, "items": {"3": "4"}}"#;
        let message = one_usage(SPRINT, first);
        assert!(message.contains("the pages of jira/classic/software:sprint are incomplete"), "{message}");
        assert!(message.contains("ends at \"1\""), "{message}");
        assert!(one(SPRINT, &format!("{first}{last}")).is_ok());
        let message = one_usage(SPRINT, &format!("{first}\n{first}\n{last}"));
        assert!(message.contains("(document 2) at /items/1: server id \"1\" of jira/classic/software:sprint is mapped twice (first in p.json at /items/1)"), "{message}");
        // A page given twice is refused even when none of its ids is kept.
        let empty = r#"{"meta": {"pageSize": 1, "hasNext": true, "lastEntity": "1"}, "items": {}}"#;
        let message = one_usage(SPRINT, &format!("{first}\n{empty}\n{last}"));
        assert!(message.contains("two pages of jira/classic/software:sprint end at the same entity \"1\" (p.json and p.json (document 2))"), "{message}");
        let other_last = last.replace(r#""3": "4""#, r#""5": "6""#);
        let message = one_usage(SPRINT, &format!("{first}\n{last}\n{other_last}"));
        assert!(message.contains("more than one last page"), "{message}");
        let message = one_usage(SPRINT, r#"{"meta": {"pageSize": 1, "hasNext": "no"}, "items": {}}"#);
        assert!(message.contains("at /meta/hasNext: `hasNext` is a string"), "{message}");
        let message = one_usage(SPRINT, r#"{"meta": {"hasNext": false, "total": 3}, "items": {}}"#);
        assert!(message.contains("at /meta/total"), "{message}");
        let message = one_usage(SPRINT, r#"{"items": {}}"#);
        assert!(message.contains("no `meta`"), "{message}");
        let message = one_usage(SPRINT, r#"{"results": [{"key": "1", "value": "2", "deleted": true}]}"#);
        assert!(message.contains("at /results/0/deleted"), "{message}");
        // A flat object and pages of one namespace are two givings.
        let mut reader = MappingsReader::new(None, MappingsLimits::default());
        reader.read("a.json", Layout::Namespace(SPRINT), r#"{"1": "2"}"#.as_bytes()).unwrap();
        let err = reader.read("b.json", Layout::Namespace(SPRINT), last.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("given twice (first in a.json)"), "{err}");
    }

    #[test]
    fn only_wanted_ids_are_kept_but_every_id_is_checked() {
        let mut config = crate::model::Configuration::empty();
        config.settings.feature_issue_type_ids = vec!["10100".into()];
        let refs = References::of(&config);
        let wanted = Wanted::of(&refs);
        let mut reader = MappingsReader::new(Some(&wanted), MappingsLimits::default());
        reader
            .read("m", Layout::Whole, br#"{"jira/classic:issueType": {"10100": "1", "10101": "2"}}"#.as_slice())
            .unwrap();
        let m = reader.finish().unwrap();
        assert_eq!(m.mapped_count(), 1);
        assert_eq!(m.stats()[crate::migration::ISSUE_TYPE], NamespaceStats { entries: 2, mapped: 2, kept: 1 });
        let mut reader = MappingsReader::new(Some(&wanted), MappingsLimits::default());
        let err =
            reader.read("m", Layout::Whole, br#"{"jira/classic:issueType": {"10101": "x"}}"#.as_slice()).unwrap_err();
        assert!(err.to_string().contains("not a positive integer"), "{err}");
    }

    #[test]
    fn limits_are_enforced_on_the_bytes() {
        let limits = MappingsLimits { max_size: 64, ..MappingsLimits::default() };
        let mut reader = MappingsReader::new(None, limits);
        let big = format!(r#"{{"jira:filter": {{"1": "{}"}}}}"#, "2".repeat(100));
        let err = reader.read("big.json", Layout::Whole, big.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("larger than the 64-byte limit"), "{err}");
        let mut reader = MappingsReader::new(None, MappingsLimits::default());
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        let err = reader.read("deep.json", Layout::Whole, deep.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("nested deeper"), "{err}");
        let mut reader = MappingsReader::new(None, MappingsLimits::default());
        let err = reader.read("zero", Layout::Whole, std::io::repeat(0).take(1 << 20)).unwrap_err().to_string();
        assert!(err.contains("not JSON"), "{err}");
    }

    #[test]
    fn groups_and_unknown_namespaces_are_read_and_reported_but_not_applied() {
        let m = Mappings::parse(
            br#"{"identity:group": {"identity:group:name/suppliers-acme": "5f1c-uuid"}, "jira:comment": {"1": "2"}}"#,
            "m",
        )
        .unwrap();
        assert_eq!(m.get(GROUP, "suppliers-acme"), None);
        assert_eq!(m.unknown_namespaces(), vec!["jira:comment".to_owned()]);
        let ignored: Vec<_> = m.ignored_namespaces().iter().map(|i| (i.namespace.as_str(), i.entries)).collect();
        assert_eq!(ignored, [("identity:group", 1), ("jira:comment", 1)]);
    }
}
