//! A zstd bomb is refused in bounded memory: under 64 MiB of extra peak RSS (SPEC.md, "Limits").
//!
//! The test runs alone in a child process (`alone::in_own_process`) so that no other test's
//! allocations move the process's peak RSS, which is reset (Linux `/proc/self/clear_refs`) after
//! the inputs are built and read back after each refusal.

use std::io::Write;

use ativo_backup::archive::{self, Limits};
use ativo_backup::error::ArchiveError;

use crate::memory::own_peak_growth_mib;

#[test]
fn zstd_bombs_are_refused_in_bounded_memory() {
    crate::alone::in_own_process(concat!(module_path!(), "::zstd_bombs_are_refused_in_bounded_memory"), bombs);
}

fn bombs() {
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

    let grown = own_peak_growth_mib(|| {
        let err = archive::read(&strings[..], &Limits::default()).unwrap_err();
        assert!(matches!(err, ArchiveError::Malformed { .. }), "{err:?}");
    });
    assert!(grown < 64, "the string bomb took {grown} MiB");

    let limits = Limits { max_size: 64 << 20, ..Limits::default() };
    let grown = own_peak_growth_mib(|| {
        let err = archive::read(&spaces[..], &limits).unwrap_err();
        assert!(matches!(err, ArchiveError::TooLarge { .. }), "{err:?}");
    });
    assert!(grown < 64, "the space bomb took {grown} MiB");
}
