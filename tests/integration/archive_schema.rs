//! Schema drift and schema strictness: the committed schema/ativo-backup.v1.schema.json equals
//! `archive::schema()`, a JSON Schema validator accepts what we write against it, and it refuses
//! what the reader refuses (unknown members, `null` optional members, unknown enum values).
//!
//! Regenerate the committed file after a model change (which also bumps the format version):
//! `UPDATE_SCHEMA=1 cargo test --test integration archive_schema::`.

use crate::archive_common;

use std::path::PathBuf;

use archive_common::*;
use ativo_backup::archive::{self, Encoding, SCHEMA_FILE};
use serde_json::Value;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(SCHEMA_FILE)
}

fn generated() -> String {
    let mut text = serde_json::to_string_pretty(&archive::schema()).unwrap();
    text.push('\n');
    text
}

#[test]
fn the_committed_schema_is_the_generated_one() {
    crate::golden::reproduce(
        &committed_path(),
        generated().as_bytes(),
        "UPDATE_SCHEMA",
        "it must be archive::schema(): if the model change is intended (and the format version bumped), \
         regenerate it with `UPDATE_SCHEMA=1 cargo test --test integration archive_schema::` and commit it",
    );
}

#[test]
fn the_schema_is_identified_and_never_allows_null() {
    let schema = archive::schema();
    assert_eq!(schema["$id"], "https://schemas.ativo.io/ativo-backup/v1.json");
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(schema["properties"]["format"]["const"], "ativo-backup");
    assert_eq!(schema["properties"]["format_version"]["const"], 1);
    assert!(!generated().contains("\"null\""), "an optional member allows null");
}

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(committed_path()).unwrap()).unwrap();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

/// The written zstd archive, decompressed and parsed, as `zstd -dc` would give it to a validator.
fn written_document() -> Value {
    let bytes = encode(&sealed(), Encoding::Zstd);
    serde_json::from_slice(&zstd::decode_all(&bytes[..]).unwrap()).unwrap()
}

fn errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator.iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path)).collect()
}

#[test]
fn a_written_archive_is_valid_against_the_committed_schema() {
    let validator = validator();
    let doc = written_document();
    assert_eq!(errors(&validator, &doc), Vec::<String>::new());
    // The migration scope (no admins) too.
    let mut config = config();
    config.admins = None;
    let migration = archive::seal(config, &host(), archive::Scope::Migration, vec![], created_at());
    assert!(validator.is_valid(&json_doc(&migration)));
}

#[test]
fn the_schema_refuses_what_the_reader_refuses() {
    let validator = validator();
    let base = written_document();
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit); 7] = [
        ("unknown top-level member", |d| d["extra"] = 1.into()),
        ("unknown member in a team", |d| d["data"]["teams"][0]["colour"] = "red".into()),
        ("null optional member", |d| d["data"]["teams"][0]["board"] = Value::Null),
        ("null optional object", |d| d["data"]["admins"] = Value::Null),
        ("wrong enum value", |d| d["data"]["teams"][0]["mode"] = "SCRUMBAN".into()),
        ("newer format version", |d| d["format_version"] = 2.into()),
        ("missing header member", |d| {
            d["header"].as_object_mut().unwrap().remove("counts");
        }),
    ];
    for (what, edit) in cases {
        let mut doc = base.clone();
        edit(&mut doc);
        assert!(!validator.is_valid(&doc), "the schema accepts a document with a {what}");
        // And the reader refuses it too.
        let result = decode(serde_json::to_string(&doc).unwrap().as_bytes());
        assert!(result.is_err(), "the reader accepts a document with a {what}");
    }
}
