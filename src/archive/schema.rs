//! The JSON Schema (draft 2020-12) of the document, generated from the very types that write it
//! ([`super::Document`] and the model), and committed as `schema/ativo-backup.v1.schema.json`;
//! `tests/integration/archive_schema.rs` fails when the two differ.
//!
//! Optional members are "absent or a value", never `null`, matching the reader, which refuses
//! `null` (`model::non_null`). schemars 1.x always lets an `Option` be `null` (its 0.8 settings
//! `option_nullable` / `option_add_null_type` are gone), so [`forbid_null`] takes `null` back out
//! of every optional member after generation.

use schemars::generate::SchemaSettings;
use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value};

use super::{FORMAT, FORMAT_VERSION};

/// `$id` of the schema: an identifier, not necessarily a fetchable URL.
pub const SCHEMA_ID: &str = "https://schemas.ativo.io/ativo-backup/v1.json";

/// Where the schema of the current version is committed, relative to the repository root.
pub const SCHEMA_FILE: &str = "schema/ativo-backup.v1.schema.json";

pub(crate) fn format_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "const": FORMAT })
}

pub(crate) fn format_version_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "integer", "const": FORMAT_VERSION })
}

/// The JSON Schema (draft 2020-12) of the current format version.
pub fn schema() -> serde_json::Value {
    let settings = SchemaSettings::draft2020_12();
    let mut schema = settings.into_generator().into_root_schema_for::<super::Document<'static>>().to_value();
    forbid_null(&mut schema);
    standard_formats(&mut schema);
    let Value::Object(root) = &mut schema else { return schema };
    root.insert("$id".into(), SCHEMA_ID.into());
    root.insert("title".into(), format!("ativo-backup archive, format version {FORMAT_VERSION}").into());
    root.insert(
        "description".into(),
        "A backup of the configuration of the Jira app Ativo Programs, as written by ativo-backup (SPEC.md). \
         Validate the decompressed document (`zstd -dc archive.json.zst`). The schema checks the shape only: \
         digests, counts and semantic rules are checked by `ativo-backup validate`."
            .into(),
    );
    schema
}

/// The largest count a header may hold: 2^53 - 1, the largest integer every JSON tool (and
/// JavaScript's numbers) holds exactly, so that every validator compares it the same way.
pub const MAX_COUNT: u64 = (1 << 53) - 1;

/// Replaces the formats schemars writes for Rust's number types (`uint32`, `uint64`, `double`),
/// which no JSON Schema vocabulary defines (ajv refuses to load a schema with them in strict
/// mode), by the ranges they stand for. Every range is checked by the reader too.
fn standard_formats(value: &mut Value) {
    match value {
        Value::Object(object) => {
            let range = match object.get("format").and_then(Value::as_str) {
                Some("uint32") => Some((0.into(), u32::MAX.into())),
                Some("uint64") => Some((0.into(), MAX_COUNT.into())),
                Some("double") => Some(((-f64::MAX).into(), f64::MAX.into())),
                _ => None,
            };
            if let Some((min, max)) = range {
                object.remove("format");
                // A semantic rule may ask for more (an index from 1): the schema says the type.
                object.insert("minimum".into(), min);
                object.insert("maximum".into(), max);
            }
            object.values_mut().for_each(standard_formats);
        }
        Value::Array(items) => items.iter_mut().for_each(standard_formats),
        _ => {}
    }
}

/// Removes `null` from the schema of every member that is not required (the model's `Option`s:
/// absent or a value). No member of the format is both required and nullable.
fn forbid_null(value: &mut Value) {
    match value {
        Value::Object(object) => {
            let required: Vec<String> = object
                .get("required")
                .and_then(Value::as_array)
                .map(|names| names.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            if let Some(Value::Object(properties)) = object.get_mut("properties") {
                for (name, member) in properties.iter_mut() {
                    if !required.contains(name)
                        && let Value::Object(member) = member
                    {
                        strip_null(member);
                    }
                }
            }
            object.values_mut().for_each(forbid_null);
        }
        Value::Array(items) => items.iter_mut().for_each(forbid_null),
        _ => {}
    }
}

fn strip_null(member: &mut Map<String, Value>) {
    if let Some(Value::Array(types)) = member.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            member.insert("type".into(), only);
        }
    }
    let null = serde_json::json!({ "type": "null" });
    if let Some(Value::Array(choices)) = member.get_mut("anyOf") {
        choices.retain(|c| *c != null);
        if let [Value::Object(only)] = choices.as_slice() {
            let only = only.clone();
            member.remove("anyOf");
            for (k, v) in only {
                member.entry(k).or_insert(v);
            }
        }
    }
}
