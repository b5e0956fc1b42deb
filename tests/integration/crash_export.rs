//! Issue 5, "an export never leaves a partial file": the real binary exports a store and is killed
//! with SIGKILL at delays spread uniformly (stratified, with jitter) over the measured length of
//! an unkilled export, in both encodings, half of the time over an existing archive at the
//! destination. After each kill the destination holds nothing (or the archive that was there
//! before) or the whole new archive, which reads back valid with the store's content digest;
//! nothing else appears in the directory but `.ativo-tmp-*` temporary files. Those are the only
//! litter a kill can leave: the tool never removes them itself (another export may be writing
//! one), and never takes them for archives (checked here with `export --dir --keep 1`, which
//! rotates archives in that directory). The store stays whole and unlocked.
//!
//! `ATIVO_CRASH_TRIALS=N` runs N trials instead of 100.

use crate::crash_common;

use std::path::Path;
use std::time::{Duration, Instant};

use ativo_backup::archive::Encoding;
use crash_common::*;
use rand::SeedableRng;

struct Trial {
    /// The destination held the new archive.
    written: bool,
    /// A temporary file was left.
    litter: bool,
}

fn export(location: &str, out: &Path) -> std::process::Command {
    let mut cmd = cli();
    cmd.args(["--store", location, "--quiet", "export", "-o"])
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}

fn trial(
    backend: &Sqlite,
    dir: &Path,
    delay: Duration,
    json: bool,
    before: Option<&(std::path::PathBuf, String)>,
    new: &str,
) -> Result<Trial, String> {
    let location = backend.fresh(dir);
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let name = if json { "backup.json" } else { "backup.json.zst" };
    let dest = out_dir.join(name);
    if let Some((path, _)) = before {
        std::fs::copy(path, &dest).unwrap();
    }
    let killed = kill_after(export(&location, &dest).spawn().unwrap(), delay);
    if let Some(status) = killed.finished.filter(|s| !s.success()) {
        return Err(format!("the export failed on its own: {status}"));
    }
    let mut litter = false;
    for entry in entries(&out_dir) {
        if entry.starts_with(".ativo-tmp-") {
            litter = true;
        } else if entry != name {
            return Err(format!("unexpected file {entry} in the destination directory"));
        }
    }
    let written = match archive_digest(&dest) {
        Ok(digest) if digest == new => true,
        Ok(digest) if before.is_some_and(|(_, old)| *old == digest) => false,
        Ok(digest) => return Err(format!("the destination holds another configuration: {digest}")),
        Err(_) if !dest.exists() && before.is_none() => false,
        Err(e) => return Err(format!("the destination is not a whole archive: {e}")),
    };
    backend.write_lock_free(&location)?;
    backend.integrity(&location)?;
    if killed.finished.is_some() && !written {
        return Err("a finished export left no archive".into());
    }
    if !litter {
        std::fs::remove_dir_all(dir).ok();
    }
    Ok(Trial { written, litter })
}

#[test]
fn export_killed_at_any_point_leaves_nothing_or_a_whole_archive() {
    let tmp = tempfile::TempDir::new().unwrap();
    let dir = tmp.path();
    let n = trials(100);

    let fill = dir.join("fill.json.zst");
    let new = write_archive(&fill, slice_config(0..30), Encoding::Zstd);
    let backend = Sqlite::template(dir, Some(&fill));
    let old_archive = dir.join("old.json");
    let old = write_archive(&old_archive, slice_config(30..40), Encoding::Json);
    let before = (old_archive, old);

    // The median of four unkilled exports, two at a time as the trials run.
    let mut times = parallel(4, 2, |i| {
        let location = backend.fresh(&dir.join(format!("measure-{i}")));
        let dest = dir.join(format!("measure-{i}/out.json.zst"));
        let started = Instant::now();
        assert!(export(&location, &dest).status().unwrap().success());
        let took = started.elapsed();
        assert_eq!(archive_digest(&dest).unwrap(), new);
        took
    });
    times.sort();
    let unkilled = times[2];

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed());
    let delays = spread(n, unkilled.mul_f64(1.1), &mut rng);
    let started = Instant::now();
    let results = parallel(n, 2, |i| {
        // Trials alternate encodings, and every other pair writes over an existing archive.
        let existing = (i / 2) % 2 == 1;
        let out =
            trial(&backend, &dir.join(format!("trial-{i}")), delays[i], i % 2 == 1, existing.then_some(&before), &new);
        (delays[i], out)
    });
    let mut failures = Vec::new();
    let (mut written, mut litter) = (0, 0);
    for (delay, result) in results {
        match result {
            Ok(t) => {
                written += usize::from(t.written);
                litter += usize::from(t.litter);
            }
            Err(e) => failures.push(format!("kill after {delay:?}: {e}")),
        }
    }
    eprintln!(
        "crash_export: {n} trials over an unkilled export of {unkilled:?}, in {:?}: {written} left the new archive, {} nothing or the previous one, {litter} a temporary file",
        started.elapsed(),
        n - written
    );
    assert!(failures.is_empty(), "{} of {n} trials left a partial archive:\n{}", failures.len(), failures.join("\n"));
    assert!(written > 0 && written < n, "the kills did not cover the run: {written} of {n} wrote the archive");
    assert!(litter > 0, "no kill landed while the temporary file existed");

    // Litter is never taken for an archive: rotating to one archive keeps the temporary files
    // (they are not ours to judge) and counts only real archives.
    let rotate = dir.join("rotate");
    std::fs::create_dir_all(&rotate).unwrap();
    let mut kept = 0;
    for i in 0..n {
        for name in entries(&dir.join(format!("trial-{i}/out"))) {
            if name.starts_with(".ativo-tmp-") {
                std::fs::rename(dir.join(format!("trial-{i}/out/{name}")), rotate.join(&name)).unwrap();
                kept += 1;
            }
        }
    }
    let location = backend.fresh(&dir.join("rotate-store"));
    for _ in 0..2 {
        let out =
            run(cli().args(["--store", &location, "--quiet", "export", "--dir"]).arg(&rotate).args(["--keep", "1"]));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::thread::sleep(Duration::from_millis(1100));
    }
    let names = entries(&rotate);
    assert_eq!(names.iter().filter(|n| n.starts_with(".ativo-tmp-")).count(), kept, "{names:?}");
    assert_eq!(names.iter().filter(|n| n.starts_with("ativo-")).count(), 1, "{names:?}");
}
