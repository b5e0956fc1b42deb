//! Fuzz target: any bytes through the archive reader and, when they decode, the semantic check,
//! as `validate` and `import` run them. Nothing may panic, hang or allocate without bound; every
//! input either decodes or is refused with an error whose exit code is one SPEC.md documents for
//! archives (3, 5, 6; 1 is an I/O error, impossible over a byte slice).
#![no_main]

use ativo_backup::archive::{self, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    // Small limits so that the fuzzer reaches them instead of spending its time below them.
    let limits = Limits { max_size: 8 << 20, ..Limits::default() };
    match archive::read(bytes, &limits) {
        Ok(archive) => {
            let _ = ativo_backup::ops::check_semantics(&archive);
        }
        Err(e) => assert!(matches!(e.exit_code(), 3 | 5 | 6), "exit code {} for {e}", e.exit_code()),
    }
});
