//! The writers of the committed fixtures (`fixtures/`, `fixtures/hostile/`,
//! `fixtures/conformance/`): archives of the test host sealed at a fixed time, the small
//! configuration most fixtures start from, the pretty-printed JSON they are stored as, and the
//! check that a committed file holds what the code writes (or its rewrite, when asked).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ativo_backup::archive::{self, Archive, Scope};
use ativo_backup::model::Configuration;
use ativo_backup::sample::{SampleSize, generate};
use chrono::{TimeZone, Utc};
use serde_json::Value;

use crate::archive_common::host;

/// `fixtures/` (`sub` empty) or a directory under it.
pub fn dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(sub)
}

/// `config` sealed for the test host with the demo sample's API tokens, at a fixed time, as the
/// reference writer seals it: the same bytes on every run.
pub fn seal(config: Configuration) -> Archive {
    let (_, tokens) = generate(SampleSize::Demo);
    let at = Utc.with_ymd_and_hms(2026, 1, 15, 9, 30, 0).unwrap();
    archive::seal(config, &host(), Scope::Full, tokens, at)
}

/// The demo sample cut to its first program, that program's teams and its first PI: every kind
/// of entity, valid, in a few KiB of JSON.
pub fn small_config() -> Configuration {
    let (mut config, _) = generate(SampleSize::Demo);
    config.programs.truncate(1);
    let program = config.programs[0].clone();
    config.teams.retain(|t| program.teams.contains(&t.key));
    config.pis.retain(|pi| pi.program == program.key);
    config.pis.truncate(1);
    let period = config.pis[0].period.clone();
    config.periods.retain(|p| p.key == period);
    config
}

/// `doc` as the fixtures store JSON: pretty-printed, with a final newline.
pub fn pretty_text(doc: &Value) -> String {
    serde_json::to_string_pretty(doc).unwrap() + "\n"
}

/// [`pretty_text`], as bytes.
pub fn pretty(doc: &Value) -> Vec<u8> {
    pretty_text(doc).into_bytes()
}

/// Checks that the committed file at `path` holds `bytes`, what the code writes now; with the
/// environment variable `update` set, writes them there first. `regenerate` says how to.
///
/// The rewrite replaces the file in one rename, so that the tests reading the committed file
/// while it runs (they share the process) see the old or the new bytes, never a part.
pub fn reproduce(path: &Path, bytes: &[u8], update: &str, regenerate: &str) {
    if std::env::var_os(update).is_some() {
        use std::os::unix::fs::PermissionsExt as _;
        let mut file = tempfile::NamedTempFile::new_in(path.parent().unwrap()).unwrap();
        std::io::Write::write_all(&mut file, bytes).unwrap();
        // A temporary file is private (0600); committed files are readable by all.
        file.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).unwrap();
        file.persist(path).unwrap();
    }
    let committed = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}; {regenerate}", path.display()));
    assert!(committed == bytes, "{} differs from what the code writes now; {regenerate}", path.display());
}
