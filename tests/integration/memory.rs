//! Peak resident memory, as the tests that bound it measure it: a child's own high-water mark
//! (`VmHWM`), and this process's growth while a closure runs (for a test run alone, see
//! `alone.rs`). Linux only (`/proc`).

use std::process::{Command, Stdio};
use std::time::Duration;

/// The `VmHWM:`-style field of a `/proc/PID/status` text, in KiB.
fn field_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `cmd` and returns its exit code (or the signal that ended it), its stderr and its peak
/// resident memory in KiB.
///
/// The peak is the child's own `VmHWM` from `/proc/PID/status`, polled every 2 ms while it runs:
/// a high-water mark, so any earlier peak is seen by a later poll; only a spike in the last
/// milliseconds before exit could be missed. (`ru_maxrss` from `wait4` is no use here: it keeps
/// the high-water mark of the image the child was forked from, i.e. of this test process.)
pub fn run_measured(cmd: &mut Command) -> (Result<i32, String>, String, u64) {
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
        text
    });
    let mut peak = 0;
    let status = loop {
        if let Some(hwm) = std::fs::read_to_string(&status_file).ok().and_then(|s| field_kib(&s, "VmHWM:")) {
            peak = peak.max(hwm);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    (crate::crash_common::code(&status), reader.join().unwrap(), peak)
}

fn own_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    field_kib(&status, field).unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// This process's extra peak RSS, in MiB, while `run` runs: the peak is reset first (Linux
/// `/proc/self/clear_refs`). Only meaningful in a test run alone (`alone::in_own_process`).
pub fn own_peak_growth_mib(run: impl FnOnce()) -> u64 {
    let peak_before_reset = own_kib("VmHWM:");
    std::fs::write("/proc/self/clear_refs", "5").expect("resetting the peak RSS needs Linux >= 4.0");
    // The reset sets the peak to the resident size of that moment. Memory freed after it (the
    // allocator returning pages late, another thread) can only lower the resident size, so the
    // baseline is the peak just after the reset, both fields read at once; and the reset worked
    // if that peak is near the resident size or below the peak before.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name| field_kib(&status, name).unwrap_or_else(|| panic!("no {name} in /proc/self/status"));
    let (peak, resident) = (field("VmHWM:"), field("VmRSS:"));
    assert!(peak <= resident + 1024 || peak < peak_before_reset, "the peak was not reset");
    run();
    (own_kib("VmHWM:").saturating_sub(peak)) / 1024
}
