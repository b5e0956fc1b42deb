//! Issue 5, corruption sweep: single-byte changes at over 1,000 positions spread over the whole
//! file, and truncations at hundreds of lengths, of real archives (the demo fixture, zstd and
//! plain JSON), decoded in-process through `archive::read` plus the semantic check, every one
//! under `catch_unwind`; then a sample through the real binary (`validate`, and `import` into a
//! store that must stay untouched).
//!
//! What counts as refused, per SPEC.md §2.3 and §9: for zstd, exit 5 everywhere, except in the
//! four magic bytes, where the input stops being recognisable as zstd (exit 3, "not an archive",
//! or 5 when it still starts like a truncated magic). For plain JSON, a change gives a syntax or
//! schema error (3), a digest mismatch (5) or a newer version (6). A change is *harmless* only if
//! the archive still decodes to exactly the same header and data (a space turned into another
//! whitespace byte between tokens): nothing is lost, so it is not counted as accepted. Anything
//! else that decodes is a failure, and so is any panic. Truncations are 5 ("truncated"), except
//! the empty input (3) and a cut of plain JSON's trailing line feed only (the same document).

use crate::crash_common;

use std::panic::AssertUnwindSafe;
use std::path::Path;

use ativo_backup::archive::{self, Archive, Limits};
use crash_common::*;
use rand::{Rng, SeedableRng};

/// What decoding one input gave.
#[derive(Debug, PartialEq)]
enum Verdict {
    Refused(u8),
    Same,
    Accepted,
    Panicked,
}

fn decode(bytes: &[u8], original: &Archive) -> Verdict {
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let archive = archive::read(bytes, &Limits::default()).map_err(|e| e.exit_code())?;
        if ativo_backup::ops::check_semantics(&archive).iter().any(|f| f.is_error()) {
            return Err(3);
        }
        Ok(archive)
    }));
    match result {
        Err(_) => Verdict::Panicked,
        Ok(Err(code)) => Verdict::Refused(code),
        Ok(Ok(a)) if a == *original => Verdict::Same,
        Ok(Ok(_)) => Verdict::Accepted,
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)).unwrap()
}

/// Flips one byte (XOR with a random non-zero value) at `count` positions spread over the file
/// (stratified, with jitter, plus the first and last bytes) and checks every verdict.
fn sweep(name: &str, count: usize, allowed: impl Fn(usize, &Verdict) -> bool + Sync) -> (usize, usize) {
    let bytes = fixture(name);
    let original = archive::read(&bytes[..], &Limits::default()).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed());
    let len = bytes.len();
    let mut plan: Vec<(usize, u8)> = (0..count)
        .map(|i| (((i as f64 + rng.random::<f64>()) * len as f64 / count as f64) as usize, rng.random_range(1..=255)))
        .collect();
    plan.extend([(0, 0x01), (len - 1, 0x80)]);
    let verdicts = parallel(plan.len(), 2, |i| {
        let (at, xor) = plan[i];
        let mut mutated = bytes.clone();
        mutated[at] ^= xor;
        decode(&mutated, &original)
    });
    let mut same = 0;
    let mut bad = Vec::new();
    for (&(at, xor), verdict) in plan.iter().zip(&verdicts) {
        same += usize::from(*verdict == Verdict::Same);
        if !allowed(at, verdict) {
            bad.push(format!("byte {at} ^ {xor:#04x}: {verdict:?}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{name}: {} of {} changes not refused as documented:\n{}",
        bad.len(),
        plan.len(),
        bad.join("\n")
    );
    eprintln!(
        "corruption {name}: {} single-byte changes over {len} bytes, all refused ({same} harmless whitespace)",
        plan.len()
    );
    (plan.len(), same)
}

fn truncations(name: &str, count: usize) -> usize {
    let bytes = fixture(name);
    let original = archive::read(&bytes[..], &Limits::default()).unwrap();
    let len = bytes.len();
    // Every length up to 64 (the headers), then `count` more spread over the rest.
    let mut cuts: Vec<usize> = (0..64.min(len)).collect();
    cuts.extend((0..count).map(|i| 64 + i * (len - 64) / count));
    cuts.push(len - 1);
    let verdicts = parallel(cuts.len(), 2, |i| decode(&bytes[..cuts[i]], &original));
    let bad: Vec<String> = cuts
        .iter()
        .zip(&verdicts)
        .filter(|(cut, v)| {
            // Cutting only the trailing line feed of plain JSON leaves the same document.
            let harmless = bytes[**cut..].iter().all(u8::is_ascii_whitespace) && **v == Verdict::Same;
            !harmless && **v != Verdict::Refused(if **cut == 0 { 3 } else { 5 })
        })
        .map(|(cut, v)| format!("cut at {cut}: {v:?}"))
        .collect();
    assert!(
        bad.is_empty(),
        "{name}: {} of {} truncations not refused with 5:\n{}",
        bad.len(),
        cuts.len(),
        bad.join("\n")
    );
    eprintln!("corruption {name}: {} truncations, all refused", cuts.len());
    cuts.len()
}

#[test]
fn single_byte_changes_to_a_zstd_archive_are_refused_with_5() {
    sweep("good-demo.json.zst", 1200, |at, v| match v {
        Verdict::Refused(5) => true,
        Verdict::Refused(3) => at < 4,
        _ => false,
    });
}

#[test]
fn single_byte_changes_to_a_json_archive_are_refused_or_change_nothing() {
    let (tried, same) = sweep("good-demo.json", 1500, |_, v| matches!(v, Verdict::Refused(3 | 5 | 6) | Verdict::Same));
    assert!(same < tried / 2, "most changes were harmless: the sweep does not reach the content");
}

#[test]
fn truncated_archives_are_refused_with_5() {
    truncations("good-demo.json.zst", 400);
    truncations("good-demo.json", 400);
}

#[test]
fn corrupt_archives_through_the_binary_are_refused_and_leave_the_store_untouched() {
    let tmp = tempfile::TempDir::new().unwrap();
    let backend = Sqlite::template(tmp.path(), None);
    let store = backend.fresh(&tmp.path().join("store"));
    let before = store_digest(&store).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed());
    for name in ["good-demo.json.zst", "good-demo.json"] {
        let bytes = fixture(name);
        for k in 0..12 {
            let mut mutated = bytes.clone();
            let at = if k == 0 { mutated.len() / 2 } else { rng.random_range(4..mutated.len()) };
            // A letter or digit in a JSON string or number changed to another, never whitespace.
            mutated[at] = if mutated[at] == b'7' { b'3' } else { b'7' };
            let file = tmp.path().join(format!("{k}-{name}"));
            std::fs::write(&file, &mutated).unwrap();
            let original = archive::read(&bytes[..], &Limits::default()).unwrap();
            let expected = match decode(&mutated, &original) {
                Verdict::Refused(code) => i32::from(code),
                other => panic!("{name} byte {at}: {other:?}"),
            };
            for command in ["validate", "import"] {
                let mut cmd = cli();
                cmd.args(["--store", &store, command]).arg(&file);
                if command == "import" {
                    cmd.args(["--yes", "--safety-dir"]).arg(tmp.path().join("safety"));
                }
                let out = run(&mut cmd);
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert_eq!(code(&out.status), Ok(expected), "{command} {name} byte {at}: {stderr}");
                assert!(!stderr.contains("panicked"), "{stderr}");
            }
        }
    }
    assert_eq!(store_digest(&store).unwrap(), before);
    assert_eq!(imports_logged(&store).unwrap(), 0);
    assert!(entries(&tmp.path().join("safety")).is_empty());
}
