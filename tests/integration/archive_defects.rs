//! One defect per test, each with the error and exit code SPEC.md gives it: truncation, bit
//! flips, digest mismatches, versions, strictness (unknown, null, duplicate members), things that
//! are not archives, limits (zstd bombs, nesting, long strings), lying counts, failing readers.

use crate::archive_common;

use std::io::{self, Read, Write};

use archive_common::*;
use ativo_backup::archive::{self, Encoding, Limits};
use ativo_backup::error::ArchiveError;
use serde_json::Value;

fn json_bytes() -> Vec<u8> {
    encode(&sealed(), Encoding::Json)
}

fn zstd_bytes() -> Vec<u8> {
    encode(&sealed(), Encoding::Zstd)
}

fn compact(doc: &Value) -> Vec<u8> {
    serde_json::to_vec(doc).unwrap()
}

#[track_caller]
fn assert_fails(bytes: &[u8], code: u8, needle: &str) -> ArchiveError {
    let err = decode(bytes).expect_err("the defect was accepted");
    let text = err.to_string();
    assert_eq!(err.exit_code(), code, "wrong exit code for: {text}");
    assert!(text.contains(needle), "message {text:?} does not mention {needle:?}");
    err
}

#[track_caller]
fn assert_malformed_at(bytes: &[u8], expected_pointer: &str, needle: &str) {
    match assert_fails(bytes, 3, needle) {
        ArchiveError::Malformed { pointer, .. } => assert_eq!(pointer, expected_pointer),
        other => panic!("expected a schema error, got {other:?}"),
    }
}

#[test]
fn truncated_zstd_archives_are_integrity_failures() {
    let bytes = zstd_bytes();
    let len = bytes.len();
    for cut in [1, 3, 4, 10, 30, len / 2, len - 5, len - 1] {
        let err = decode(&bytes[..cut]).expect_err("truncated archive accepted");
        assert_eq!(err.exit_code(), 5, "cut at {cut} of {len}: {err}");
        assert!(err.to_string().contains("truncated"), "cut at {cut}: {err}");
    }
}

#[test]
fn truncated_json_archives_are_integrity_failures() {
    let bytes = json_bytes();
    let len = bytes.len();
    for cut in [1, 2, 40, len / 2, len - 2] {
        let err = decode(&bytes[..cut]).expect_err("truncated archive accepted");
        assert_eq!(err.exit_code(), 5, "cut at {cut} of {len}: {err}");
        assert!(err.to_string().contains("truncated"), "cut at {cut}: {err}");
    }
}

#[test]
fn empty_input_is_not_an_archive() {
    assert_fails(b"", 3, "empty");
}

#[test]
fn bit_flips_in_the_zstd_payload_are_integrity_failures() {
    let bytes = zstd_bytes();
    for at in (20..bytes.len()).step_by(37).chain([bytes.len() - 1]) {
        for bit in [0x01, 0x80] {
            let mut flipped = bytes.clone();
            flipped[at] ^= bit;
            let err = decode(&flipped).expect_err("bit flip accepted");
            assert_eq!(err.exit_code(), 5, "flip {bit:#x} at {at}: {err}");
        }
    }
}

#[test]
fn an_edited_value_breaks_the_integrity_digest() {
    let text = String::from_utf8(json_bytes()).unwrap();
    let edited = text.replace("\"Program one\"", "\"Program 1\"");
    assert_ne!(text, edited);
    assert_fails(edited.as_bytes(), 5, "/header/integrity_digest");
}

#[test]
fn an_edited_scope_breaks_the_integrity_digest() {
    let mut doc = json_doc(&sealed());
    doc["header"]["scope"] = "migration".into();
    assert_fails(&compact(&doc), 5, "/header/integrity_digest");
}

/// Issue 16: `created_at` is written exactly `YYYY-MM-DDTHH:MM:SSZ`; any other spelling of the
/// same instant (an offset, lower-case letters) and a leap second are schema errors (3), not
/// normalised and not left to the digest.
#[test]
fn a_created_at_spelled_otherwise_is_a_schema_error_not_normalised() {
    let text = String::from_utf8(json_bytes()).unwrap();
    for other in ["2026-11-25T19:00:00+00:00", "2026-11-25t19:00:00z", "2026-11-25 19:00:00Z", "2016-12-31T23:59:60Z"] {
        let edited = text.replace("2026-11-25T19:00:00Z", other);
        assert_ne!(text, edited);
        assert_fails(edited.as_bytes(), 3, "YYYY-MM-DDTHH:MM:SSZ");
    }
}

#[test]
fn a_wrong_content_digest_with_a_fresh_integrity_digest_is_caught() {
    let mut doc = json_doc(&sealed());
    reseal(&mut doc);
    doc["header"]["content_digest"] = format!("sha256:{}", "0".repeat(64)).into();
    // Recompute the integrity digest only, over the wrong content digest.
    let mut without = doc.clone();
    without["header"].as_object_mut().unwrap().remove("integrity_digest");
    let integrity = sha256(&serde_json_canonicalizer::to_vec(&without).unwrap());
    doc["header"]["integrity_digest"] = integrity.into();
    assert_fails(&compact(&doc), 5, "/header/content_digest");
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

#[test]
fn reseal_reproduces_our_digests() {
    // The helper the other tests use to re-seal edited documents agrees with the writer.
    let mut doc = json_doc(&sealed());
    let original = doc.clone();
    reseal(&mut doc);
    assert_eq!(doc, original);
}

#[test]
fn a_newer_format_version_is_refused_with_6() {
    let mut doc = json_doc(&sealed());
    doc["format_version"] = 2.into();
    // Even with data the reader could not understand.
    doc["data"] = serde_json::json!({"whatever": "v2 holds"});
    assert_fails(&compact(&doc), 6, "format version 2 is newer");
    // And when format_version comes after data.
    let text =
        format!(r#"{{"data":{},"header":{},"format":"ativo-backup","format_version":7}}"#, doc["data"], doc["header"]);
    assert_fails(text.as_bytes(), 6, "format version 7");
}

#[test]
fn bad_format_versions_are_schema_errors() {
    for bad in [Value::from(0), Value::from("1"), Value::from(1.5), Value::from(-1), Value::Null] {
        let mut doc = json_doc(&sealed());
        doc["format_version"] = bad.clone();
        assert_malformed_at(&compact(&doc), "/format_version", "format");
    }
    let mut doc = json_doc(&sealed());
    doc.as_object_mut().unwrap().remove("format_version");
    assert_malformed_at(&compact(&doc), "", "missing member `format_version`");
}

#[test]
fn another_format_is_not_an_archive() {
    let mut doc = json_doc(&sealed());
    doc["format"] = "other-backup".into();
    assert_fails(&compact(&doc), 3, "not \"ativo-backup\"");
    doc.as_object_mut().unwrap().remove("format");
    assert_fails(&compact(&doc), 3, "without a `format` member");
    assert_fails(br#"{"foo": 1, "bar": [1, 2]}"#, 3, "not an ativo-backup archive");
}

#[test]
fn unknown_members_are_schema_errors_with_a_pointer() {
    let mut doc = json_doc(&sealed());
    doc["data"]["teams"][1]["colour"] = "red".into();
    assert_malformed_at(&compact(&doc), "/data/teams/1/colour", "unknown field `colour`");

    let mut doc = json_doc(&sealed());
    doc["header"]["source"]["node"] = "n1".into();
    assert_malformed_at(&compact(&doc), "/header/source/node", "unknown field `node`");

    let mut doc = json_doc(&sealed());
    doc["extra"] = true.into();
    assert_malformed_at(&compact(&doc), "/extra", "unknown member `extra`");

    let mut doc = json_doc(&sealed());
    doc["data"]["pis"][0]["feature_filter"]["jira_filter"]["jql"] = "x".into();
    assert_malformed_at(&compact(&doc), "/data/pis/0/feature_filter/jira_filter/jql", "unknown field `jql`");
}

#[test]
fn null_optional_members_are_schema_errors() {
    let mut doc = json_doc(&sealed());
    doc["data"]["teams"][1]["board"] = Value::Null;
    assert_malformed_at(&compact(&doc), "/data/teams/1/board", "null");
    let mut doc = json_doc(&sealed());
    doc["data"]["admins"] = Value::Null;
    assert_malformed_at(&compact(&doc), "/data/admins", "null");
}

#[test]
fn integers_written_as_floats_are_schema_errors() {
    let mut doc = json_doc(&sealed());
    doc["data"]["periods"][0]["sprints"][0]["index"] = 1.0.into();
    assert_malformed_at(&compact(&doc), "/data/periods/0/sprints/0/index", "floating point");
}

#[test]
fn wrong_enum_values_are_schema_errors() {
    let mut doc = json_doc(&sealed());
    doc["data"]["teams"][0]["mode"] = "SCRUMBAN".into();
    assert_malformed_at(&compact(&doc), "/data/teams/0/mode", "SCRUMBAN");
}

#[test]
fn duplicate_members_are_schema_errors() {
    let text = String::from_utf8(compact(&json_doc(&sealed()))).unwrap();
    let top = text.replacen(r#"{"data":"#, r#"{"format":"ativo-backup","data":"#, 1);
    assert_ne!(top, text);
    assert_malformed_at(top.as_bytes(), "/format", "duplicate member `format`");

    let nested =
        text.replacen(r#"{"archived":false,"board":"42""#, r#"{"archived":false,"archived":false,"board":"42""#, 1);
    assert_ne!(nested, text);
    assert_fails(nested.as_bytes(), 3, "duplicate field `archived`");

    let header = text.replacen(r#""scope":"full""#, r#""scope":"full","scope":"full""#, 1);
    assert_ne!(header, text);
    assert_fails(header.as_bytes(), 3, "duplicate field `scope`");
}

#[test]
fn things_that_are_not_archives_say_what_they_look_like() {
    assert_fails(b"hello world", 3, "68 65 6c 6c 6f");
    assert_fails(b"PK\x03\x04\x14\x00", 3, "zip");
    assert_fails(b"\x1f\x8b\x08\x00", 3, "gzip");
    assert_fails(b"[1, 2]", 3, "JSON array");
    assert_fails(b"\xEF\xBB\xBF{}", 3, "byte order mark");
    assert_fails(b"  \n ", 3, "whitespace");
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = json_bytes();
    bytes.extend_from_slice(b"{}");
    assert_fails(&bytes, 3, "trailing characters");
    let mut bytes = zstd_bytes();
    bytes.extend_from_slice(b"garbage!");
    assert_fails(&bytes, 5, "zstd");
}

#[test]
fn syntax_errors_are_schema_errors_with_line_and_column() {
    let text = String::from_utf8(json_bytes()).unwrap();
    let broken = text.replacen("\"format_version\": 1,", "\"format_version\": 1,,", 1);
    assert_fails(broken.as_bytes(), 3, "line 3 column");
}

#[test]
fn counts_that_lie_are_refused_even_with_fresh_digests() {
    let mut doc = json_doc(&sealed());
    doc["header"]["counts"]["teams"] = 3.into();
    reseal(&mut doc);
    let err = assert_fails(&compact(&doc), 3, "/header/counts/teams");
    assert!(matches!(err, ArchiveError::CountsMismatch { claimed: 3, actual: 2, .. }), "{err:?}");
}

#[test]
fn deep_nesting_is_refused_by_the_limit() {
    let mut text = String::from(r#"{"format":"ativo-backup","format_version":1,"header":{"api_tokens":"#);
    text.push_str(&"[".repeat(40));
    assert_fails(text.as_bytes(), 3, "nested deeper than 32");
    let limits = Limits { max_depth: 4, ..Limits::default() };
    let err = archive::read(&json_bytes()[..], &limits).unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");
}

#[test]
fn long_strings_are_refused_by_the_limit() {
    let mut doc = json_doc(&sealed());
    doc["data"]["teams"][0]["name"] = "x".repeat((1 << 20) + 1).into();
    assert_fails(&compact(&doc), 3, "string longer than 1048576 bytes");
    doc["data"]["teams"][0]["name"] = "x".repeat(1 << 20).into();
    reseal(&mut doc);
    assert!(decode(&compact(&doc)).is_ok(), "a string of exactly the limit is accepted");
}

#[test]
fn a_string_bomb_is_refused_early() {
    // 2 GiB of one string in a few KiB of zstd.
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    encoder.write_all(br#"{"format":""#).unwrap();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..2048 {
        encoder.write_all(&chunk).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    let started = std::time::Instant::now();
    assert_fails(&bomb, 3, "string longer than");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

fn spaces_frame(size: usize, declare: bool) -> Vec<u8> {
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    if declare {
        encoder.set_pledged_src_size(Some(size as u64)).unwrap();
    }
    encoder.write_all(&vec![b' '; size]).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn a_frame_declaring_too_much_content_is_refused_before_decompressing() {
    let limits = Limits { max_size: 16 << 20, ..Limits::default() };
    let mut bomb = spaces_frame(32 << 20, true);
    // Make it start like a document: the refusal must come from the frame header alone.
    bomb.truncate(64);
    let err = archive::read(&bomb[..], &limits).unwrap_err();
    assert!(matches!(err, ArchiveError::TooLarge { limit } if limit == 16 << 20), "{err:?}");
    assert_eq!(err.exit_code(), 5);

    // A hand-made header declaring 5 GiB, against the default 4 GiB cap.
    let mut header = archive::ZSTD_MAGIC.to_vec();
    header.push(0b1110_0000); // 8-byte content size, single segment
    header.extend_from_slice(&(5u64 << 30).to_le_bytes());
    header.extend_from_slice(&[0; 16]);
    let err = decode(&header).unwrap_err();
    assert!(matches!(err, ArchiveError::TooLarge { .. }), "{err:?}");
}

#[test]
fn frames_without_declared_sizes_are_stopped_at_the_cap() {
    // `{` then 1 MiB frames of spaces, none declaring its size: only the running count stops it.
    let limits = Limits { max_size: 16 << 20, ..Limits::default() };
    let mut bomb = zstd::bulk::compress(b"{", 1).unwrap();
    let frame = spaces_frame(1 << 20, false);
    for _ in 0..64 {
        bomb.extend_from_slice(&frame);
    }
    let err = archive::read(&bomb[..], &limits).unwrap_err();
    assert!(matches!(err, ArchiveError::TooLarge { .. }), "{err:?}");
    // Whitespace counts too, in plain JSON.
    let mut plain = b"{".to_vec();
    plain.resize((16 << 20) + 10, b' ');
    let err = archive::read(&plain[..], &limits).unwrap_err();
    assert!(matches!(err, ArchiveError::TooLarge { .. }), "{err:?}");
    let mut leading = vec![b' '; (16 << 20) + 10];
    leading.push(b'{');
    let err = archive::read(&leading[..], &limits).unwrap_err();
    assert!(matches!(err, ArchiveError::TooLarge { .. }), "{err:?}");
}

#[test]
fn a_frame_demanding_a_huge_window_is_refused() {
    // Hand-made header: window descriptor exponent 20 (1 GiB), no content size.
    let mut header = archive::ZSTD_MAGIC.to_vec();
    header.extend_from_slice(&[0b0000_0100, 20 << 3, 0, 0, 0, 0]);
    let err = decode(&header).unwrap_err();
    assert_eq!(err.exit_code(), 5);
    assert!(err.to_string().contains("window of 1073741824 bytes"), "{err}");

    // A real second frame with a 128 MiB window, behind an innocent first frame.
    let mut bytes = zstd::bulk::compress(br#"{"format":"ativo-backup","#, 3).unwrap();
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    encoder.window_log(27).unwrap();
    encoder.write_all(&vec![b' '; 4096]).unwrap();
    bytes.extend(encoder.finish().unwrap());
    let err = decode(&bytes).unwrap_err();
    assert_eq!(err.exit_code(), 5);
    assert!(err.to_string().contains("window"), "{err}");
}

struct FailingReader {
    inner: io::Cursor<Vec<u8>>,
    fail_after: u64,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.inner.position() >= self.fail_after {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "disk on fire"));
        }
        let room = (self.fail_after - self.inner.position()) as usize;
        let n = buf.len().min(room);
        self.inner.read(&mut buf[..n])
    }
}

#[test]
fn a_failing_reader_is_an_io_error_not_a_corrupt_archive() {
    for bytes in [zstd_bytes(), json_bytes()] {
        let reader = FailingReader { fail_after: bytes.len() as u64 / 2, inner: io::Cursor::new(bytes) };
        let err = archive::read(reader, &Limits::default()).unwrap_err();
        assert!(matches!(&err, ArchiveError::Io(e) if e.to_string().contains("disk on fire")), "{err:?}");
        assert_eq!(err.exit_code(), 1);
    }
}
