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
    pub(crate) data: Option<Data>,
}

/// `data`, decoded on the fly or kept raw because it came before `format_version`.
pub(crate) enum Data {
    Decoded(Box<Versioned>),
    Raw(Box<RawValue>),
}

/// Where an error that is not a plain schema error is recorded (see the module docs).
pub(crate) type Verdict = Option<ArchiveError>;

/// The top-level seed: `header_only` stops as soon as format, version and header are known.
pub(crate) struct DocumentSeed<'v> {
    pub(crate) header_only: bool,
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

/// Refuses version 0 and versions newer than this build.
pub(crate) fn check_version(version: u64) -> Result<(), ArchiveError> {
    if version == 0 {
        return Err(ArchiveError::Malformed {
            pointer: "/format_version".into(),
            message: "format version 0 does not exist; versions start at 1".into(),
        });
    }
    if version > u64::from(FORMAT_VERSION) {
        return Err(ArchiveError::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
    }
    Ok(())
}

fn shorten(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 { format!("{}...", text.chars().take(60).collect::<String>()) } else { text }
}

impl DocumentSeed<'_> {
    fn fail<E: de::Error>(self, error: ArchiveError) -> E {
        let message = error.to_string();
        *self.verdict = Some(error);
        E::custom(message)
    }
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
        let mut data: Option<Option<Data>> = None;
        let mut unknown: Option<ArchiveError> = None;
        let mut seen: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if matches!(key.as_str(), "format" | "format_version" | "header" | "data") {
                if seen.contains(&key) {
                    return Err(self.fail(ArchiveError::Malformed {
                        pointer: format!("/{key}"),
                        message: format!("duplicate member `{key}`"),
                    }));
                }
                seen.push(key.clone());
            }
            match key.as_str() {
                "format" => {
                    let value: serde_json::Value = map.next_value()?;
                    if value.as_str() != Some(FORMAT) {
                        return Err(self.fail(ArchiveError::NotAnArchive(format!(
                            "its `format` member is {}, not \"{FORMAT}\"",
                            shorten(&value)
                        ))));
                    }
                    format_ok = true;
                    if let Some(v) = version
                        && let Err(e) = check_version(v)
                    {
                        return Err(self.fail(e));
                    }
                }
                "format_version" => {
                    let value: serde_json::Value = map.next_value()?;
                    let Some(v) = value.as_u64() else {
                        return Err(self.fail(ArchiveError::Malformed {
                            pointer: "/format_version".into(),
                            message: format!("must be a positive integer, found {}", shorten(&value)),
                        }));
                    };
                    // Without a valid `format` we do not know yet whether this is our version
                    // number at all; it is judged once `format` has been seen.
                    if format_ok && let Err(e) = check_version(v) {
                        return Err(self.fail(e));
                    }
                    version = Some(v);
                }
                "header" => header = Some(map.next_value()?),
                "data" => {
                    data = Some(if self.header_only {
                        map.next_value::<IgnoredAny>()?;
                        None
                    } else if let (true, Some(v)) = (format_ok, version) {
                        Some(Data::Decoded(Box::new(map.next_value_seed(DataSeed(v))?)))
                    } else {
                        Some(Data::Raw(map.next_value()?))
                    });
                }
                other => {
                    let pointer = format!("/{}", escape_token(other));
                    let message = format!(
                        "unknown member `{}`; a document has exactly format, format_version, header and data",
                        other.chars().take(60).collect::<String>()
                    );
                    let error = ArchiveError::Malformed { pointer, message };
                    if format_ok {
                        return Err(self.fail(error));
                    }
                    // Maybe not an archive at all: `format` decides, so keep looking for it.
                    unknown.get_or_insert(error);
                    map.next_value::<IgnoredAny>()?;
                }
            }
            if self.header_only
                && format_ok
                && let Some(v) = version
                && header.is_some()
                && let Some(h) = header.take()
            {
                *self.stopped = Some(TopLevel { version: v, header: h, data: None });
                return Err(de::Error::custom(STOPPED));
            }
        }
        if !format_ok {
            return Err(self.fail(ArchiveError::NotAnArchive("it is a JSON object without a `format` member".into())));
        }
        let missing = |name: &str| ArchiveError::Malformed {
            pointer: String::new(),
            message: format!("missing member `{name}`"),
        };
        let Some(version) = version else { return Err(self.fail(missing("format_version"))) };
        if let Err(e) = check_version(version) {
            return Err(self.fail(e));
        }
        if let Some(error) = unknown {
            return Err(self.fail(error));
        }
        let Some(header) = header else { return Err(self.fail(missing("header"))) };
        let Some(data) = data else { return Err(self.fail(missing("data"))) };
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
