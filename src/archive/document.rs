//! The top level of a document and the explicit version dispatch (SPEC.md, "Versioning").
//!
//! A custom visitor walks the top-level object member by member, so that `format` and
//! `format_version` are known before `data` is decoded: a newer version is refused before its
//! data is touched, and each version's data is decoded by that version's own types
//! ([`decode_data`]), then brought to the current model by explicit upgrade steps
//! ([`Versioned::upgrade`]). A writer puts `data` last, but a reader accepts any order: `data`
//! seen before the version is kept as raw JSON text and decoded afterwards. `header` is always
//! kept raw as well: the integrity digest covers it as written, not as re-encoded.
//!
//! Errors found here that are not schema errors (not an archive, newer version) are passed out
//! through a side channel ([`Verdict`]), because serde only carries strings.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::{FORMAT, FORMAT_VERSION};
use crate::error::ArchiveError;
use crate::model::{Configuration, Counts};

/// The data of an archive, in the model of the version it was written in.
#[derive(Debug)]
pub(crate) enum Versioned {
    /// Format version 1: the current model.
    V1(Configuration),
}

impl Versioned {
    /// The upgrade step table: each arm brings one version's data to the current model. Version 1
    /// is the current model, so its step is the identity. A version 2 would add `V2(...)` here,
    /// move the version 1 types to `archive/v1.rs`, and make this arm `v1_to_v2(c)`.
    pub(crate) fn upgrade(self) -> Configuration {
        match self {
            Versioned::V1(config) => config,
        }
    }

    /// Entity counts, in the terms of the version the archive was written in.
    pub(crate) fn counts(&self) -> Counts {
        match self {
            Versioned::V1(config) => config.counts(),
        }
    }

    /// The digests of the data as written (digests are checked before any upgrade).
    pub(crate) fn digests(&self) -> super::digest::DataDigests {
        match self {
            Versioned::V1(config) => super::digest::hash_data(config),
        }
    }
}

/// Decodes the `data` member of a document of `version`; the one place where versions fork.
pub(crate) fn decode_data<'de, D: Deserializer<'de>>(version: u64, de: D) -> Result<Versioned, D::Error> {
    match version {
        1 => Configuration::deserialize(de).map(Versioned::V1),
        other => Err(de::Error::custom(format!("no decoder for format version {other}"))),
    }
}

/// What the top level of a document held.
pub(crate) struct TopLevel {
    pub(crate) version: u64,
    pub(crate) header: Box<RawValue>,
    /// `None` when only the header was asked for.
    pub(crate) data: Option<Versioned>,
}

/// Where errors that are not plain serde errors are recorded (see the module docs).
pub(crate) type Verdict = Option<ArchiveError>;

/// The top-level seed: `header_only` stops as soon as format, version and header are known.
///
/// It reads the members in document order and decodes `header` and `data` with the types of the
/// document's version. The top level itself (format, duplicate, unknown and missing members, the
/// version) is judged from the text checker's summary of it ([`judge_top_level`]), which sees
/// every member even when decoding stopped early; what this seed finds about the top level only
/// decides what it decodes, and serves `header_only` reads.
pub(crate) struct DocumentSeed<'v> {
    pub(crate) header_only: bool,
    /// The first schema error in document order (the decoder of `data` stops at its first one;
    /// one in the header, which is decoded whole first, comes before any in a later `data`).
    pub(crate) verdict: &'v mut Verdict,
    /// Set when `header_only` stopped early; the deserializer then returns an error to unwind.
    pub(crate) stopped: &'v mut Option<TopLevel>,
}

/// The message of the error that unwinds a header-only read; never shown.
pub(crate) const STOPPED: &str = "stopped after the header";

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_> {
    type Value = TopLevel;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<TopLevel, D::Error> {
        de.deserialize_map(self)
    }
}

/// Decodes `data` of the given format version (see [`decode_data`]).
pub(crate) struct DataSeed(pub(crate) u64);

impl<'de> DeserializeSeed<'de> for DataSeed {
    type Value = Versioned;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Versioned, D::Error> {
        decode_data(self.0, de)
    }
}

/// Records `error` (unless an earlier one is) and returns the serde error that unwinds the parse.
fn stop<E: de::Error>(verdict: &mut Verdict, error: ArchiveError) -> E {
    let message = error.to_string();
    verdict.get_or_insert(error);
    E::custom(message)
}

/// The format version a `format_version` value names (SPEC.md 8): an integer written as
/// integers are in this format, digits without sign, fraction or exponent, whatever its size.
/// `numeral` is the number as written.
///
/// # Errors
///
/// [`ArchiveError::Malformed`] for any other number and for 0;
/// [`ArchiveError::UnsupportedVersion`] for a version newer than this build reads.
pub(crate) fn judge_version(numeral: &str) -> Result<u64, ArchiveError> {
    let integer = !numeral.is_empty()
        && numeral.bytes().all(|b| b.is_ascii_digit())
        && (numeral == "0" || !numeral.starts_with('0'));
    if !integer {
        return Err(ArchiveError::Malformed {
            pointer: "/format_version".into(),
            message: format!(
                "must be a non-negative integer written without sign, fraction or exponent, found {}",
                super::text::shorten(numeral)
            ),
        });
    }
    if numeral == "0" {
        return Err(ArchiveError::Malformed {
            pointer: "/format_version".into(),
            message: "format version 0 does not exist; versions start at 1".into(),
        });
    }
    match numeral.parse::<u64>() {
        Ok(v) if v <= u64::from(FORMAT_VERSION) => Ok(v),
        // Any larger integer, even beyond 64 bits, is a version this build does not know yet.
        _ => Err(ArchiveError::UnsupportedVersion { found: super::text::shorten(numeral), supported: FORMAT_VERSION }),
    }
}

/// Judges the top level of a document from the text checker's summary of its members, in the
/// order of SPEC.md 9: is it an archive at all (`format`), a member twice, the version, an
/// unknown member, a missing one.
pub(crate) fn judge_top_level(top: &super::text::TopLevel) -> Option<ArchiveError> {
    if top.seen[0] == 0 {
        return Some(ArchiveError::NotAnArchive("it is a JSON object without a `format` member".into()));
    }
    if let Some(bad) = &top.bad_format {
        return Some(ArchiveError::NotAnArchive(format!("its `format` member is {bad}, not \"{FORMAT}\"")));
    }
    if let Some(k) = top.repeated {
        let name = super::text::TOP_LEVEL_NAMES[k];
        return Some(ArchiveError::Malformed {
            pointer: format!("/{name}"),
            message: format!("duplicate member `{name}`"),
        });
    }
    let missing =
        |name: &str| ArchiveError::Malformed { pointer: String::new(), message: format!("missing member `{name}`") };
    match &top.version {
        None => return Some(missing("format_version")),
        Some(Err(value)) => {
            return Some(ArchiveError::Malformed {
                pointer: "/format_version".into(),
                message: format!("must be a non-negative integer, found {value}"),
            });
        }
        Some(Ok(numeral)) => {
            if let Err(e) = judge_version(numeral) {
                return Some(e);
            }
        }
    }
    if let Some(name) = &top.unknown {
        return Some(ArchiveError::Malformed {
            pointer: format!("/{}", escape_token(name)),
            message: format!("unknown member `{name}`; a document has exactly format, format_version, header and data"),
        });
    }
    if top.seen[2] == 0 {
        return Some(missing("header"));
    }
    if top.seen[3] == 0 {
        return Some(missing("data"));
    }
    None
}

impl<'de> Visitor<'de> for DocumentSeed<'_> {
    type Value = TopLevel;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an ativo-backup document (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopLevel, A::Error> {
        let mut format_ok = false;
        let mut version: Option<u64> = None;
        let mut header: Option<Box<RawValue>> = None;
        let mut data: Option<Versioned> = None;
        let mut raw_data: Option<Box<RawValue>> = None;
        // Whether a schema error was found in the header, which then comes first.
        let mut header_failed = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "format" => {
                    let value: serde_json::Value = map.next_value()?;
                    format_ok = value.as_str() == Some(FORMAT);
                }
                "format_version" => {
                    let value: serde_json::Value = map.next_value()?;
                    let numeral = match &value {
                        serde_json::Value::Number(n) => n.to_string(),
                        _ => String::new(),
                    };
                    match judge_version(&numeral) {
                        Ok(v) if version.is_none() => version = Some(v),
                        Ok(_) => {}
                        // The summary of the top level reports it; nothing more is decoded.
                        Err(e) => return Err(stop(self.verdict, e)),
                    }
                }
                "header" if header.is_none() => {
                    let raw: Box<RawValue> = map.next_value()?;
                    // Decoded at once, so that an error in it is found before any in a later
                    // `data` (document order).
                    if let Err(e) = super::parse_header(&raw) {
                        if self.header_only {
                            return Err(stop(self.verdict, e));
                        }
                        self.verdict.get_or_insert(e);
                        header_failed = true;
                    }
                    header = Some(raw);
                }
                "data" if data.is_none() && raw_data.is_none() => {
                    if self.header_only || header_failed {
                        map.next_value::<IgnoredAny>()?;
                    } else if let (true, Some(v)) = (format_ok, version) {
                        data = Some(map.next_value_seed(DataSeed(v))?);
                    } else {
                        // Before the version: kept as text and decoded once the version is known.
                        raw_data = Some(map.next_value()?);
                    }
                }
                // Unknown and repeated members: the summary of the top level reports them.
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            if self.header_only
                && format_ok
                && let Some(v) = version
                && let Some(h) = header.take()
            {
                *self.stopped = Some(TopLevel { version: v, header: h, data: None });
                return Err(de::Error::custom(STOPPED));
            }
        }
        let (true, Some(version), Some(header)) = (format_ok, version, header) else {
            // The summary of the top level says what is missing.
            let incomplete = ArchiveError::Malformed { pointer: String::new(), message: "incomplete top level".into() };
            return Err(stop(self.verdict, incomplete));
        };
        if let Some(raw) = raw_data {
            // `data` came before the header, so an error in it comes first.
            match super::decode_raw_data(version, &raw) {
                Ok(decoded) => data = Some(decoded),
                Err(e) => {
                    *self.verdict = Some(e);
                    return Err(de::Error::custom("data"));
                }
            }
        }
        if header_failed {
            return Err(de::Error::custom("header"));
        }
        Ok(TopLevel { version, header, data })
    }
}

/// Escapes one reference token of a JSON pointer (RFC 6901, 3).
pub(crate) fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// The RFC 6901 JSON pointer of a serde_path_to_error path, under `prefix` (e.g. `/data`).
pub(crate) fn pointer(prefix: &str, path: &serde_path_to_error::Path) -> String {
    let mut out = prefix.to_owned();
    for segment in path {
        match segment {
            serde_path_to_error::Segment::Seq { index } => out.push_str(&format!("/{index}")),
            serde_path_to_error::Segment::Map { key } => {
                out.push('/');
                out.push_str(&escape_token(key));
            }
            // Externally tagged enums (scope filters) name their variant as a member.
            serde_path_to_error::Segment::Enum { variant } => {
                out.push('/');
                out.push_str(&escape_token(variant));
            }
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_escape_tilde_and_slash() {
        assert_eq!(escape_token("a/b~c"), "a~1b~0c");
        let err = serde_path_to_error::deserialize::<_, std::collections::BTreeMap<String, Vec<u32>>>(
            &mut serde_json::Deserializer::from_str(r#"{"x/y": [1, "two"]}"#),
        )
        .unwrap_err();
        assert_eq!(pointer("/data", err.path()), "/data/x~1y/1");
    }
}
