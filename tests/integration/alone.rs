//! Runs a test alone, in a child process of this test binary: for the tests that measure the
//! process itself (its peak memory), which other tests running beside them in the one test
//! binary would disturb.

use std::process::Command;

/// Set in the child to the name of the test it runs alone.
const ALONE: &str = "ATIVO_TEST_ALONE";

/// Runs `body` for the test at `path` (`concat!(module_path!(), "::test_name")`) in a child
/// process that runs that test only, on one thread; the parent passes once the child passed.
/// In that child, runs `body` itself.
pub fn in_own_process(path: &str, body: impl FnOnce()) {
    // libtest names tests by their path without the crate's name.
    let name = path.split_once("::").map_or(path, |(_, rest)| rest);
    if std::env::var(ALONE).as_deref() == Ok(name) {
        body();
        return;
    }
    let exe = std::env::current_exe().expect("the path of the test binary");
    let out = Command::new(exe)
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(ALONE, name)
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name}, run alone, failed:\n{stdout}\n{stderr}");
    // A filter that matched nothing would pass too: the child must have run exactly this test.
    assert!(stdout.contains("test result: ok. 1 passed"), "{name} did not run alone:\n{stdout}");
    eprint!("{stderr}");
}
