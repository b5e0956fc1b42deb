//! A zstd bomb is refused in bounded memory: under 64 MiB of extra peak RSS (SPEC.md, "Limits").
//!
//! Alone in its own test binary so that no other test's allocations move the process's peak RSS,
//! which is reset (Linux `/proc/self/clear_refs`) after the inputs are built and read back after
//! each refusal.

use std::io::Write;

use ativo_backup::archive::{self, Limits};
use ativo_backup::error::ArchiveError;

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Extra peak RSS, in MiB, while `run` runs.
fn peak_growth_mib(run: impl FnOnce()) -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").expect("resetting the peak RSS needs Linux >= 4.0");
    let before = status_kib("VmRSS:");
    assert!(status_kib("VmHWM:") <= before + 1024, "the peak was not reset");
    run();
    (status_kib("VmHWM:").saturating_sub(before)) / 1024
}

#[test]
fn zstd_bombs_are_refused_in_bounded_memory() {
    // 256 MiB of one string, and 256 MiB of spaces in a frame with the largest window we accept,
    // neither declaring its size.
    let mut strings = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    strings.write_all(br#"{"format":""#).unwrap();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..256 {
        strings.write_all(&chunk).unwrap();
    }
    let strings = strings.finish().unwrap();
    let mut spaces = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    spaces.window_log(archive::MAX_WINDOW_LOG).unwrap();
    spaces.write_all(b"{").unwrap();
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..256 {
        spaces.write_all(&chunk).unwrap();
    }
    let spaces = spaces.finish().unwrap();
    drop(chunk);

    let grown = peak_growth_mib(|| {
        let err = archive::read(&strings[..], &Limits::default()).unwrap_err();
        assert!(matches!(err, ArchiveError::Malformed { .. }), "{err:?}");
    });
    assert!(grown < 64, "the string bomb took {grown} MiB");

    let limits = Limits { max_size: 64 << 20, ..Limits::default() };
    let grown = peak_growth_mib(|| {
        let err = archive::read(&spaces[..], &limits).unwrap_err();
        assert!(matches!(err, ArchiveError::TooLarge { .. }), "{err:?}");
    });
    assert!(grown < 64, "the space bomb took {grown} MiB");
}
