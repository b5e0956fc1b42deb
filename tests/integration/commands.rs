//! Command builders for the real binary (`assert_cmd`), shared by the tests that drive it: a
//! clean environment, a store initialised for a host, JSON output read back, the content digest
//! of a store as the binary reports it. The crash tests spawn and kill the binary with
//! `std::process` instead (`crash_common::cli`).
#![allow(dead_code)]

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

/// The binary with no store and no lock timeout from the environment.
pub fn bin() -> Command {
    let mut cmd = Command::cargo_bin("ativo-backup").unwrap();
    cmd.env_remove("ATIVO_STORE").env_remove("ATIVO_LOCK_TIMEOUT_MS");
    cmd
}

/// The binary on `store` (`--store`).
pub fn on(store: &Path) -> Command {
    let mut cmd = bin();
    cmd.arg("--store").arg(store);
    cmd
}

/// `init` of `store` for a Data Center host, with `sample` (`demo`, `large`...) when given.
pub fn init(store: &Path, server_id: &str, base_url: &str, sample: Option<&str>) {
    init_as(store, "datacenter", server_id, base_url, sample);
}

/// `init` of `store` for a host of `deployment` (`datacenter`, `server`, `cloud`).
pub fn init_as(store: &Path, deployment: &str, server_id: &str, base_url: &str, sample: Option<&str>) {
    let mut cmd = on(store);
    cmd.args(["init", "--deployment", deployment, "--server-id", server_id, "--base-url", base_url]);
    if let Some(sample) = sample {
        cmd.args(["--sample", sample]);
    }
    cmd.assert().success();
}

/// Runs `cmd` and parses its standard output as JSON.
pub fn json_of(cmd: &mut Command) -> Value {
    let out = cmd.output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

/// The content digest of what a store holds (admins included), as `diff` reports it.
pub fn digest(store: &Path) -> String {
    let out = on(store).args(["--format", "json", "diff"]).arg(store).arg(store).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["from_digest"].as_str().unwrap().to_owned()
}

/// Names of the entries of `dir`, which must exist, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}
