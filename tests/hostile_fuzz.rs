//! Issue 5: the inputs the fuzzer found worth keeping (`fixtures/fuzz/`, see `fuzz/README.md`),
//! replayed through the normal build as the fuzz target runs them: `archive::read` with the
//! target's limits and, when an input decodes, the semantic check. None may panic, and every
//! refusal carries an archive exit code (3, 5 or 6).

use std::path::Path;

use ativo_backup::archive::{self, Limits};

#[test]
fn issue5_fuzz_regression_inputs_are_refused_or_read_without_a_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fuzz");
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    assert!(names.len() >= 10, "fixtures/fuzz holds only {} inputs", names.len());
    let limits = Limits { max_size: 8 << 20, ..Limits::default() };
    let (mut refused, mut read) = (0, 0);
    for path in &names {
        let bytes = std::fs::read(path).unwrap();
        let outcome = std::panic::catch_unwind(|| match archive::read(&bytes[..], &limits) {
            Ok(a) => {
                ativo_backup::ops::check_semantics(&a);
                Ok(())
            }
            Err(e) => Err(e.exit_code()),
        });
        match outcome {
            Ok(Ok(())) => read += 1,
            Ok(Err(3 | 5 | 6)) => refused += 1,
            Ok(Err(code)) => panic!("{}: exit code {code}", path.display()),
            Err(_) => panic!("{}: panicked", path.display()),
        }
    }
    eprintln!("fuzz regressions: {} inputs, {refused} refused, {read} read", names.len());
}
