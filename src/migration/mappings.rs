//! The ID mappings file: `{"<namespace>": {"<server id>": "<cloud id>" | null}}`, optionally
//! wrapped in a top-level `{"mappings": ...}` member as JCMA returns them (SPEC.md, 11.2).
//!
//! Parsing is strict about the shape, because a mistake here would put wrong ids into the cloud
//! configuration: every error names the file and the JSON pointer. `null` means "not mapped yet"
//! (the skeleton that `migration references --format json` prints), so a half-filled skeleton is
//! a valid file. Namespaces this tool does not use are kept and reported, not refused: a file
//! straight from JCMA carries many.

use std::collections::BTreeMap;

use super::{CUSTOM_FIELD, CUSTOM_FIELD_PREFIX, NAMESPACES, pointer_token};
use crate::error::{Error, Result};

/// The longest id accepted on either side; Jira ids are far shorter, so a longer one is a mistake.
const MAX_ID_LEN: usize = 1024;

/// Parsed ID mappings: namespace -> server id -> cloud id (`None`: not mapped yet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mappings {
    namespaces: BTreeMap<String, BTreeMap<String, Option<String>>>,
}

impl Mappings {
    /// Parses a mappings document; `source` names it in error messages.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] (exit 2) naming `source` and the JSON pointer when the text is not JSON,
    /// not an object of objects, or a cloud id is not a non-empty string or `null`.
    pub fn parse(text: &[u8], source: &str) -> Result<Self> {
        let bad = |pointer: &str, what: &str| {
            Error::Usage(format!(
                "mappings file {source} at {}: {what}; the file is {{\"<namespace>\": {{\"<server id>\": \"<cloud id>\"}}}} as `ativo-backup migration references ARCHIVE --format json` prints it (SPEC.md, 11.2)",
                if pointer.is_empty() { "/" } else { pointer }
            ))
        };
        let value: serde_json::Value = serde_json::from_slice(text).map_err(|e| bad("", &format!("not JSON ({e})")))?;
        let serde_json::Value::Object(mut top) = value else {
            return Err(bad("", "the document is not a JSON object"));
        };
        let (prefix, object) = match top.remove("mappings") {
            Some(inner) if top.is_empty() => match inner {
                serde_json::Value::Object(inner) => ("/mappings", inner),
                _ => return Err(bad("/mappings", "`mappings` is not an object")),
            },
            Some(_) => return Err(bad("/mappings", "a `mappings` wrapper must be the only top-level member")),
            None => ("", top),
        };
        let mut namespaces = BTreeMap::new();
        for (namespace, ids) in object {
            let ns_pointer = format!("{prefix}/{}", pointer_token(&namespace));
            let serde_json::Value::Object(ids) = ids else {
                return Err(bad(
                    &ns_pointer,
                    &format!("namespace {namespace:?} is not an object of server id -> cloud id"),
                ));
            };
            let mut map = BTreeMap::new();
            for (server_id, cloud_id) in ids {
                let pointer = format!("{ns_pointer}/{}", pointer_token(&server_id));
                if server_id.trim().is_empty() || server_id.len() > MAX_ID_LEN {
                    return Err(bad(&pointer, "a server id is empty or longer than 1024 bytes"));
                }
                let cloud_id = match cloud_id {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) if !s.trim().is_empty() && s.len() <= MAX_ID_LEN => Some(s),
                    serde_json::Value::String(_) => {
                        return Err(bad(
                            &pointer,
                            "the cloud id is empty or longer than 1024 bytes; use null for \"not mapped yet\"",
                        ));
                    }
                    other => {
                        return Err(bad(
                            &pointer,
                            &format!(
                                "the cloud id {other} is not a string; write ids as strings, e.g. \"10042\", or null"
                            ),
                        ));
                    }
                };
                map.insert(server_id, cloud_id);
            }
            namespaces.insert(namespace, map);
        }
        Ok(Mappings { namespaces })
    }

    /// Builds mappings from literal pairs (tests, library users).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>) -> Self {
        let mut namespaces: BTreeMap<String, BTreeMap<String, Option<String>>> = BTreeMap::new();
        for (namespace, server, cloud) in pairs {
            namespaces.entry(namespace.to_owned()).or_default().insert(server.to_owned(), Some(cloud.to_owned()));
        }
        Mappings { namespaces }
    }

    /// The cloud id of `server_id` in `namespace`, if it is mapped.
    ///
    /// Custom fields are looked up as written (`customfield_10100`) and, failing that, by their
    /// number (`10100`, as JCMA keys them); a numeric cloud id gets the `customfield_` prefix
    /// back, so that the configuration keeps Jira's field id form.
    pub fn get(&self, namespace: &str, server_id: &str) -> Option<String> {
        let ids = self.namespaces.get(namespace)?;
        if namespace == CUSTOM_FIELD {
            let number = server_id.strip_prefix(CUSTOM_FIELD_PREFIX).unwrap_or(server_id);
            let cloud = ids.get(server_id).or_else(|| ids.get(number))?.as_deref()?;
            return Some(if cloud.bytes().all(|b| b.is_ascii_digit()) {
                format!("{CUSTOM_FIELD_PREFIX}{cloud}")
            } else {
                cloud.to_owned()
            });
        }
        ids.get(server_id)?.clone()
    }

    /// Namespaces in the file that this tool does not use (reported, not refused).
    pub fn unknown_namespaces(&self) -> Vec<String> {
        self.namespaces.keys().filter(|ns| !NAMESPACES.contains(&ns.as_str())).cloned().collect()
    }

    /// The number of server ids with a cloud id, over all namespaces.
    pub fn mapped_count(&self) -> usize {
        self.namespaces.values().flat_map(BTreeMap::values).filter(|v| v.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::{FILTER, PROJECT};

    fn usage(text: &str) -> String {
        match Mappings::parse(text.as_bytes(), "m.json") {
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
        assert_eq!(a, b);
        assert_eq!(a.get(PROJECT, "10000").as_deref(), Some("20000"));
        assert_eq!(a.get(PROJECT, "10001"), None);
        assert_eq!(a.get(FILTER, "10000"), None);
        assert_eq!(a.mapped_count(), 1);
    }

    #[test]
    fn custom_fields_are_found_by_number_and_keep_their_prefix() {
        let m = Mappings::from_pairs([(CUSTOM_FIELD, "10100", "10342"), (CUSTOM_FIELD, "customfield_10016", "x")]);
        assert_eq!(m.get(CUSTOM_FIELD, "customfield_10100").as_deref(), Some("customfield_10342"));
        assert_eq!(m.get(CUSTOM_FIELD, "customfield_10016").as_deref(), Some("x"));
    }

    #[test]
    fn bad_files_name_the_file_and_the_pointer() {
        assert!(usage("not json").contains("m.json at /: not JSON"));
        assert!(usage("[]").contains("not a JSON object"));
        assert!(usage(r#"{"jira/classic:project": []}"#).contains("at /jira~1classic:project:"));
        let message = usage(r#"{"jira/classic:project": {"10000": 20000}}"#);
        assert!(message.contains("at /jira~1classic:project/10000: the cloud id 20000 is not a string"), "{message}");
        assert!(usage(r#"{"mappings": {}, "x": {}}"#).contains("only top-level member"));
        assert!(usage(r#"{"jira:filter": {"1": " "}}"#).contains("empty"));
    }

    #[test]
    fn unknown_namespaces_are_reported() {
        let m = Mappings::parse(br#"{"jira:comment": {"1": "2"}, "jira:filter": {}}"#, "m").unwrap();
        assert_eq!(m.unknown_namespaces(), vec!["jira:comment".to_owned()]);
    }
}
