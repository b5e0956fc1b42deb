//! `demo`: the whole life of a backup on a generated sample, narrated step by step, so that a
//! new user sees a verified backup and a restore with one command.

use std::path::PathBuf;

use ativo_backup::archive::{Limits, Scope};
use ativo_backup::error::{Error, Result};
use ativo_backup::host::{Deployment, HostIdentity};
use ativo_backup::ops::{self, Input};
use ativo_backup::progress::silent;
use ativo_backup::sample::SampleSize;
use ativo_backup::store::{self, Location, Operation, OperationKind, Outcome};

use crate::args::Format;

/// Runs the demo in `dir` (a new temporary directory by default, kept afterwards).
pub fn run(dir: Option<PathBuf>, format: Format) -> Result<()> {
    let dir = match dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir).map_err(|source| Error::File {
                action: "cannot create",
                path: dir.clone(),
                source,
            })?;
            dir
        }
        None => tempfile::Builder::new()
            .prefix("ativo-demo-")
            .tempdir()
            .map_err(|source| Error::File {
                action: "cannot create a directory in",
                path: std::env::temp_dir(),
                source,
            })?
            .keep(),
    };
    let mut steps: Vec<String> = Vec::new();
    let mut say = |line: String| {
        if format == Format::Human {
            println!("{line}");
        }
        steps.push(line);
    };

    let location = Location::Sqlite(dir.join("ativo.db"));
    let host = HostIdentity::new(Deployment::Datacenter, "DEMO-0000-0000-0001", "https://jira.demo.example.com")?;
    let init = ops::init::init(&ops::init::InitOptions {
        location: location.clone(),
        host: host.clone(),
        sample: Some(SampleSize::Demo),
    })?;
    say(format!(
        "1. created the store {} for {} with the demo sample: {} teams, {} programs, {} PIs",
        init.store, host.base_url, init.counts.teams, init.counts.programs, init.counts.pis
    ));

    let mut store = store::open(&location)?;
    let archive_path = dir.join("backup.json.zst");
    let export = ops::export::export(
        store.as_mut(),
        &ops::export::ExportOptions {
            output: ops::export::Output::File(archive_path.clone()),
            encoding: None,
            scope: Scope::Full,
            keep: None,
            progress: silent(),
        },
    )?;
    say(format!(
        "2. exported {} ({} bytes), read back and verified; content digest {}",
        export.path, export.bytes, export.content_digest
    ));

    let validation = ops::validate::validate(&ops::validate::ValidateOptions {
        inputs: vec![Input::File(archive_path.clone())],
        limits: Limits::default(),
        strict: false,
        progress: silent(),
    });
    if validation.exit_code != 0 {
        return Err(Error::Internal(format!("the demo archive failed validation: {:?}", validation.files)));
    }
    say("3. validated the archive without any store: integrity, version, schema and semantics ok".into());

    // Something goes wrong: a program and its PIs are deleted by mistake, while somebody else
    // renames a team, a change that must survive the restore.
    let backed_up = store.snapshot()?.config;
    let lost = backed_up.programs.first().map(|p| p.key.clone()).unwrap_or_default();
    let renamed = backed_up.teams.last().map(|t| t.key.clone()).unwrap_or_default();
    let new_name = format!("{} (renamed after the backup)", backed_up.teams.last().map_or("team", |t| t.name.as_str()));
    let rename = |config: &mut ativo_backup::model::Configuration| {
        for team in config.teams.iter_mut().filter(|t| t.key == renamed) {
            team.name.clone_from(&new_name);
        }
    };
    store.replace(&mut |current| {
        let mut broken = current.config.clone();
        broken.programs.retain(|p| p.key != lost);
        broken.pis.retain(|p| p.program != lost);
        rename(&mut broken);
        let op = Operation {
            id: 0,
            at: chrono::Utc::now(),
            kind: OperationKind::DemoMistake,
            os_user: ativo_backup::store::current_os_user(),
            archive_digest: None,
            content_digest: None,
            outcome: Outcome::Ok,
            detail: serde_json::json!({ "deleted_program": lost, "renamed_team": renamed }),
        };
        Ok((broken, op))
    })?;
    say(format!(
        "4. simulated a mistake: deleted program {lost} and its PIs from the store; meanwhile team {renamed} was renamed"
    ));

    let options = ops::import::ImportOptions {
        allow_invalid: false,
        input: Input::File(archive_path),
        limits: Limits::default(),
        safety_dir: ops::default_safety_dir(&location),
        only: ops::select::Selection::parse(&[format!("program:{lost}")])?,
        progress: silent(),
    };
    let checked = ops::import::check(store.as_mut(), &options)?;
    let import = ops::import::apply(store.as_mut(), &options, checked)?;
    let restored: Vec<String> =
        import.plan.kinds.iter().filter(|k| k.added > 0).map(|k| format!("{} {}", k.added, k.kind)).collect();
    say(format!(
        "5. restored only program {lost} from the backup (`import --only program:{lost}`, same host, checked first): brought back {}; safety backup of the whole store before at {}",
        restored.join(", "),
        import.safety_backup.as_deref().unwrap_or("-")
    ));

    // Both survive: the store is the backup with the later rename, nothing else.
    let mut expected = backed_up;
    rename(&mut expected);
    let after = ativo_backup::archive::content_digest(&store.snapshot()?.config);
    if after != ativo_backup::archive::content_digest(&expected) {
        return Err(Error::Internal(format!(
            "the restored store's content digest {after} is not the backup's with the later rename"
        )));
    }
    say(format!(
        "6. program {lost} and its PIs are back as backed up, and team {renamed} keeps its new name \"{new_name}\": content digest {after}"
    ));
    say(format!(
        "everything is in {}; try `ativo-backup --store {} host`",
        dir.display(),
        dir.join("ativo.db").display()
    ));
    if format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "dir": dir, "steps": steps })).unwrap_or_default()
        );
    }
    Ok(())
}
