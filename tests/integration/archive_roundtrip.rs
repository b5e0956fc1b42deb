//! Round trips: what `write` writes, `read` reads back equal, in both encodings; sealing is
//! deterministic; the layout is what SPEC.md says (zstd frame with size and checksum, pretty JSON).

use crate::archive_common;

use archive_common::*;
use ativo_backup::archive::{self, Encoding, FORMAT_VERSION, Limits, Scope};

#[test]
fn both_encodings_round_trip() {
    let sealed = sealed();
    for encoding in [Encoding::Zstd, Encoding::Json] {
        let bytes = encode(&sealed, encoding);
        let back = decode(&bytes).unwrap_or_else(|e| panic!("{encoding:?}: {e}"));
        assert_eq!(back, sealed, "{encoding:?}");
    }
}

#[test]
fn sealing_sorts_counts_and_truncates_the_time() {
    let sealed = sealed();
    let mut sorted = config();
    sorted.sort();
    assert_eq!(sealed.data, sorted);
    assert_eq!(sealed.header.counts, sorted.counts());
    assert_eq!(sealed.header.counts.sprints, 3);
    assert_eq!(sealed.header.created_at.to_rfc3339(), "2026-11-25T19:00:00+00:00");
    assert_eq!(sealed.header.tool.name, "ativo-backup");
    assert_eq!(sealed.header.tool.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(sealed.header.api_tokens[0].name, "etl", "tokens sorted by creation time");
    assert_eq!(sealed.header.content_digest, archive::content_digest(&sorted));
    assert_eq!(sealed.header.source.fingerprint, host().fingerprint());
}

#[test]
fn the_same_configuration_gives_the_same_bytes_and_digest() {
    let a = sealed();
    let mut shuffled = config();
    shuffled.teams.reverse();
    shuffled.periods.reverse();
    let later = created_at() + chrono::Duration::days(3);
    let b = archive::seal(shuffled, &host(), Scope::Full, vec![], later);
    assert_eq!(a.header.content_digest, b.header.content_digest);
    assert_ne!(a.header.integrity_digest, b.header.integrity_digest, "the header differs");
    let data_bytes = |x: &archive::Archive| ativo_backup::model::canonical::to_canonical_vec(&x.data);
    assert_eq!(data_bytes(&a), data_bytes(&b));
    // And writing twice gives identical files.
    assert_eq!(encode(&a, Encoding::Zstd), encode(&a, Encoding::Zstd));
    assert_eq!(encode(&a, Encoding::Json), encode(&a, Encoding::Json));
}

#[test]
fn zstd_output_is_standard_frames_each_with_its_size_and_checksum() {
    let sealed = sealed();
    let bytes = encode(&sealed, Encoding::Zstd);
    let plain = zstd::decode_all(&bytes[..]).unwrap();
    // The layout export writes (SPEC.md 2.1): the document up to `"data":` in a frame of its
    // own, the data around the PIs in frames of their own, the closing brace last; each frame
    // declares its content size and carries a checksum.
    let mut rest = &bytes[..];
    let mut contents = Vec::new();
    while !rest.is_empty() {
        assert_eq!(rest[..4], archive::ZSTD_MAGIC);
        let size = zstd::zstd_safe::find_frame_compressed_size(rest).unwrap();
        let content = zstd::decode_all(&rest[..size]).unwrap();
        match archive::sniff_layout(rest).unwrap() {
            archive::Layout::Zstd(Some(frame)) => {
                assert_eq!(frame.content_size, Some(content.len() as u64));
                assert!(frame.checksum);
            }
            other => panic!("{other:?}"),
        }
        contents.push(content);
        rest = &rest[size..];
    }
    assert!(contents.len() >= 4, "{} frames", contents.len());
    assert!(contents[0].starts_with(br#"{"format":"ativo-backup","format_version":1,"header":{"#));
    assert!(contents[0].ends_with(br#","data":"#));
    assert_eq!(contents.last().unwrap(), b"}");
    assert_eq!(contents.concat(), plain);
    assert_eq!(archive::sniff_layout(&encode(&sealed, Encoding::Json)[..]).unwrap(), archive::Layout::Json);
}

#[test]
fn json_output_is_pretty_with_a_trailing_newline() {
    let bytes = encode(&sealed(), Encoding::Json);
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with("{\n  \"format\": \"ativo-backup\",\n  \"format_version\": 1,\n  \"header\": {\n"));
    assert!(text.ends_with("}\n") && !text.ends_with("\n\n"));
}

#[test]
fn a_document_with_members_in_another_order_is_read() {
    // data before format_version: buffered raw and decoded afterwards.
    let sealed = sealed();
    let doc = json_doc(&sealed);
    let reordered =
        format!(r#"{{"data":{},"header":{},"format_version":1,"format":"ativo-backup"}}"#, doc["data"], doc["header"]);
    assert_eq!(decode(reordered.as_bytes()).unwrap(), sealed);
    // read_header works either way.
    let (version, header) = archive::read_header(reordered.as_bytes(), &Limits::default()).unwrap();
    assert_eq!((version, &header), (u64::from(FORMAT_VERSION), &sealed.header));
}

#[test]
fn read_header_stops_after_the_header() {
    let sealed = sealed();
    let mut bytes = encode(&sealed, Encoding::Json);
    // Cut the file in the middle of `data`: a full read fails, the header is still readable.
    let cut = String::from_utf8(bytes.clone()).unwrap().find("\"data\"").unwrap() + 40;
    bytes.truncate(cut);
    assert!(decode(&bytes).is_err());
    let (version, header) = archive::read_header(&bytes[..], &Limits::default()).unwrap();
    assert_eq!(version, 1);
    assert_eq!(header, sealed.header);
}

#[test]
fn a_migration_archive_without_admins_round_trips() {
    let mut config = config();
    config.admins = None;
    let sealed = archive::seal(config, &host(), Scope::Migration, vec![], created_at());
    assert_eq!(sealed.header.counts.admin_users, 0);
    let back = decode(&encode(&sealed, Encoding::Zstd)).unwrap();
    assert_eq!(back, sealed);
    assert!(!String::from_utf8(encode(&sealed, Encoding::Json)).unwrap().contains("admins"));
}

#[test]
fn a_non_finite_capacity_is_refused_on_writing() {
    let mut sealed = sealed();
    sealed.data.pis[0].capacity[1].value = f64::NAN;
    let err = archive::write(&sealed, Vec::new(), Encoding::Zstd).unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(err.to_string().contains("/data/pis/0/capacity/1/value"), "{err}");
}
