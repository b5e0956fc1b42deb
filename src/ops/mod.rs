//! The operations: `XxxOptions` in, `XxxReport` out (serializable, so the CLI renders them as
//! text or JSON and tests assert on data). Operations work on any [`Store`](crate::store::Store)
//! and never print; the binary renders.

pub mod admins;
pub mod diff;
pub mod export;
pub mod host;
pub mod import;
pub mod init;
pub mod inspect;
pub mod log;
pub mod migrate;
pub mod safety;
pub mod select;
pub mod validate;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::archive;

pub use crate::archive::Input;

/// `path` made absolute against the current directory (symbolic links are not resolved, so it
/// names the file as the user did), for the operations log and reports. A path that cannot be
/// made absolute (no current directory) is kept as given.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// What kind of file `meta` describes, for messages ("a directory", "a fifo", ...).
pub(crate) fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a fifo (named pipe)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else if meta.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

pub use crate::archive::{check_semantics, read_input as read_archive, refuse_invalid, waivable};

/// The stable finding code of text that the store cannot hold (SPEC.md, section 9).
pub const UNSTORABLE_TEXT: &str = "store.unstorable-text";

/// The first string (or member name) of `value`, serialized as in the archive, that holds the
/// NUL character, as an error finding whose pointer is `base` followed by the string's path;
/// `None` when there is none. For stores that cannot hold it
/// ([`Store::refuses_nul_in_text`](crate::store::Store::refuses_nul_in_text)): checked before
/// anything is locked or written, so that such an archive is an invalid one (exit 3), not a
/// store failure after the safety backup.
pub(crate) fn nul_in_text(value: &impl Serialize, base: &str, store: &str) -> Option<crate::model::validate::Finding> {
    // Serializing escapes a NUL as \u0000: the formatter notes that escape and writes nothing,
    // so the common case costs no text (the plan of a large import serialized every PI before).
    // Only a value with a NUL is walked, to find where.
    let found = std::cell::Cell::new(false);
    value.serialize(&mut serde_json::Serializer::with_formatter(std::io::sink(), NulSpotter(&found))).ok()?;
    if !found.get() {
        return None;
    }
    let tree = serde_json::to_value(value).ok()?;
    let mut pointer = base.to_owned();
    find_nul(&tree, &mut pointer).then(|| crate::model::validate::Finding {
        severity: crate::model::validate::Severity::Error,
        code: UNSTORABLE_TEXT,
        pointer: pointer.clone(),
        message: format!("the text at {pointer} holds the NUL character (\\u0000), which store {store} cannot hold"),
        hint: "remove the character from the archive (it is never meaningful in Ativo configuration), or restore into a SQLite store, which keeps it".into(),
    })
}

/// A JSON formatter that writes nothing and records whether a string or member name held a
/// NUL (which serializing escapes as `\u0000`).
struct NulSpotter<'a>(&'a std::cell::Cell<bool>);

impl serde_json::ser::Formatter for NulSpotter<'_> {
    fn write_char_escape<W: ?Sized + std::io::Write>(
        &mut self,
        _: &mut W,
        escape: serde_json::ser::CharEscape,
    ) -> std::io::Result<()> {
        if matches!(escape, serde_json::ser::CharEscape::AsciiControl(0)) {
            self.0.set(true);
        }
        Ok(())
    }
}

/// Whether `value` holds a NUL in a string or member name; `pointer` then ends at it.
fn find_nul(value: &serde_json::Value, pointer: &mut String) -> bool {
    use serde_json::Value;
    let push = |pointer: &mut String, token: &str| {
        pointer.push('/');
        pointer.push_str(&token.replace('~', "~0").replace('/', "~1"));
    };
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
            let len = pointer.len();
            push(pointer, &i.to_string());
            let found = find_nul(item, pointer);
            if !found {
                pointer.truncate(len);
            }
            found
        }),
        Value::Object(members) => members.iter().any(|(key, item)| {
            let len = pointer.len();
            push(pointer, key);
            let found = key.contains('\0') || find_nul(item, pointer);
            if !found {
                pointer.truncate(len);
            }
            found
        }),
        _ => false,
    }
}

/// A safe file-name fragment for a host: its base URL's host and path, other characters as `-`.
pub fn host_slug(base_url: &str) -> String {
    let without_scheme = base_url.split_once("://").map_or(base_url, |(_, rest)| rest);
    let slug: String =
        without_scheme.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' }).collect();
    slug.trim_matches('-').to_ascii_lowercase()
}

/// Where safety backups of a store go unless the caller says otherwise: beside a SQLite file,
/// or under the current directory for a server database.
pub fn default_safety_dir(location: &crate::store::Location) -> PathBuf {
    match location {
        crate::store::Location::Sqlite(path) => crate::destination::parent_dir(path).join("ativo-safety-backups"),
        crate::store::Location::Postgres(_) => PathBuf::from("ativo-safety-backups"),
    }
}

/// File name `<prefix>-<host>-<UTC time>.json.zst` (or `.json`).
pub fn archive_file_name(
    prefix: &str,
    base_url: &str,
    at: chrono::DateTime<chrono::Utc>,
    encoding: archive::Encoding,
) -> String {
    let ext = match encoding {
        archive::Encoding::Zstd => "json.zst",
        archive::Encoding::Json => "json",
    };
    format!("{prefix}-{}-{}.{ext}", host_slug(base_url), at.format("%Y%m%dT%H%M%SZ"))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_is_found_with_its_pointer_and_escaped_lookalikes_are_not() {
        let value = serde_json::json!({ "teams": [{ "key": "A", "name": "x" }, { "key": "B", "name": "Lion\u{0}s" }], "a/b": { "c~d": "\u{0}" } });
        let f = nul_in_text(&value, "/data", "s").unwrap();
        assert_eq!(f.pointer, "/data/a~1b/c~0d");
        assert_eq!(f.code, UNSTORABLE_TEXT);
        let value = serde_json::json!({ "teams": [{ "name": "x" }, { "name": "Lion\u{0}s" }] });
        assert_eq!(nul_in_text(&value, "/data", "s").unwrap().pointer, "/data/teams/1/name");
        // A backslash followed by u0000 is text, not a NUL.
        assert!(nul_in_text(&serde_json::json!({ "t": "\\u0000" }), "", "s").is_none());
        assert!(nul_in_text(&serde_json::json!({ "t": "plain" }), "", "s").is_none());
    }
}
