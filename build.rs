//! Records the commit the binary is built from, for `ativo-backup --version`
//! (`ATIVO_BUILD_COMMIT`: the full object name, or `unknown`).
//!
//! From a git checkout it asks `git`; from a crate tarball (`cargo package`), which has no `.git`,
//! it reads the commit cargo wrote into `.cargo_vcs_info.json`; otherwise the commit is `unknown`.
//! It runs again only when HEAD or the ref HEAD points to moves (never on a mere source edit), so it
//! costs one `git` call per commit, not per build.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    println!("cargo:rerun-if-changed=build.rs");
    let commit =
        from_git(&manifest_dir).or_else(|| from_cargo_vcs_info(&manifest_dir)).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=ATIVO_BUILD_COMMIT={commit}");
}

/// The commit of HEAD, when the crate's directory is the top of a git work tree (not a
/// directory inside another project's repository, as a vendored copy would be). Tells cargo
/// to run again when HEAD or its ref changes.
fn from_git(manifest_dir: &Path) -> Option<String> {
    let lines =
        git(manifest_dir, &["rev-parse", "--show-toplevel", "--git-path", "HEAD", "--git-path", "packed-refs"])?;
    let [top, head_file, packed_refs] = lines.as_slice() else { return None };
    if std::fs::canonicalize(top).ok()? != std::fs::canonicalize(manifest_dir).ok()? {
        return None;
    }
    let commit = git(manifest_dir, &["rev-parse", "--verify", "--quiet", "HEAD"])?.into_iter().next()?;
    if !is_commit(&commit) {
        return None;
    }
    // HEAD names the branch (or, detached, the commit itself): watched for checkouts.
    watch(&manifest_dir.join(head_file));
    // The branch's ref moves at every commit. It is a file of its own ("loose") or a line in
    // packed-refs; a packed ref becomes loose at the next commit, which changes its directory.
    if let Some(name) = git(manifest_dir, &["symbolic-ref", "-q", "HEAD"]).and_then(|l| l.into_iter().next()) {
        let loose = git(manifest_dir, &["rev-parse", "--git-path", &name]).and_then(|l| l.into_iter().next());
        if let Some(loose) = loose.map(|p| manifest_dir.join(p)) {
            if loose.is_file() {
                watch(&loose);
            } else if let Some(dir) = loose.parent() {
                watch(dir);
            }
        }
        watch(&manifest_dir.join(packed_refs));
    }
    Some(commit)
}

/// The commit `cargo package` recorded in the tarball (`{"git": {"sha1": "..."}, ...}`).
fn from_cargo_vcs_info(manifest_dir: &Path) -> Option<String> {
    let path = manifest_dir.join(".cargo_vcs_info.json");
    watch(&path);
    let text = std::fs::read_to_string(&path).ok()?;
    let after = &text[text.find("\"sha1\"")? + "\"sha1\"".len()..];
    let value = &after[after.find('"')? + 1..];
    let commit = &value[..value.find('"')?];
    is_commit(commit).then(|| commit.to_owned())
}

/// Runs `git -C DIR ARGS`; its lines of output when it succeeds.
fn git(dir: &Path, args: &[&str]) -> Option<Vec<String>> {
    let output = Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    Some(String::from_utf8(output.stdout).ok()?.lines().map(str::to_owned).collect())
}

/// An object name: 40 hex digits (SHA-1), or 64 in a SHA-256 repository.
fn is_commit(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Tells cargo to run this script again when PATH changes; only for paths that exist, since
/// cargo runs the script at every build for a path that does not.
fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
