//! The `ativo-backup` binary: parses arguments, runs one library operation, renders its report
//! as text or JSON, and turns errors into the documented exit codes.

mod args;
mod bars;
mod demo;
mod render;

/// mimalloc instead of the system allocator: reading an archive allocates and frees millions of
/// small strings and vectors, across threads (the streaming reader parses on one thread, the
/// store writes on another), where glibc's arenas spend their time in locking and consolidation
/// (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use args::{AdminsAction, Cli, Command, Format, HostAction, MigrationAction};
use ativo_backup::archive::{Encoding, Scope};
use ativo_backup::error::{Error, Result, exit};
use ativo_backup::host::{Deployment, HostIdentity};
use ativo_backup::ops::{self, Input};
use ativo_backup::sample::SampleSize;
use ativo_backup::store::{self, Location};

fn main() -> ExitCode {
    restore_default_sigpipe();
    ignore_file_size_signal();
    no_transparent_huge_pages();
    forget_empty_store_variable();
    let cli = Cli::parse();
    let format = cli.format;
    let verbose = cli.verbose;
    render::set_quiet(cli.quiet);
    render::set_verbose(cli.verbose);
    let started = std::time::Instant::now();
    let result = run(cli);
    if verbose {
        eprintln!("took {:.3} s", started.elapsed().as_secs_f64());
    }
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            render::error(&error, format);
            ExitCode::from(error.exit_code())
        }
    }
}

/// `ATIVO_STORE=` (set but empty, as a service file or `env` leaves it) means "not set", so the
/// default store applies, as an empty `PGHOST` means the default host to libpq.
fn forget_empty_store_variable() {
    if std::env::var_os("ATIVO_STORE").is_some_and(|v| v.to_string_lossy().trim().is_empty()) {
        // SAFETY: called first thing in main, before any other thread exists, so nothing reads
        // the environment concurrently.
        unsafe { std::env::remove_var("ATIVO_STORE") };
    }
}

/// Past a file-size limit (`ulimit -f`, RLIMIT_FSIZE), the kernel sends SIGXFSZ, whose default
/// action kills the process mid-write with no message and leaves its temporary file behind.
/// Ignored, the write fails with EFBIG instead, which every writer reports as a clear error
/// (exit 1 for an output file, 7 for the store) after removing what it started.
fn ignore_file_size_signal() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_IGN installs no handler.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// Transparent huge pages off for this process (Linux). mimalloc asks for them, and the kernel
/// then clears 2 MiB at the first touch of any byte in a fresh region: the buffers a streaming
/// pass touches once cost tens of milliseconds of page clearing, and the peak RSS doubles
/// (BENCHMARKS.md, "Transparent huge pages off").
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and only sets a flag of this process; a
    // kernel without it returns an error, which changes nothing and is ignored.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Lets `ativo-backup ... | head` end quietly, as other Unix tools do.
///
/// Rust ignores SIGPIPE, so a write to a closed pipe returns an error and `println!` panics
/// ("failed printing to stdout: Broken pipe"). With the default action restored, the process ends
/// by the signal instead, which shells treat as the normal end of a pipeline.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any other thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn run(cli: Cli) -> Result<u8> {
    let location = || Location::parse(cli.store.as_deref().unwrap_or("ativo.db")).map_err(Error::from);
    if cli.format == Format::Github && !matches!(cli.command, Command::Validate(_)) {
        return Err(Error::Usage("--format github is only for `validate`; use human or json".into()));
    }
    let format = cli.format;
    let progress = bars::for_run(cli.quiet);
    match cli.command {
        Command::Init(a) => {
            let deployment = match a.deployment {
                args::DeploymentArg::Server => Deployment::Server,
                args::DeploymentArg::Datacenter => Deployment::Datacenter,
                args::DeploymentArg::Cloud => Deployment::Cloud,
            };
            let host = HostIdentity::new(deployment, &a.server_id, &a.base_url)?;
            let sample = a.sample.map(|s| match s {
                args::SampleArg::Demo => SampleSize::Demo,
                args::SampleArg::Large => SampleSize::Large,
                args::SampleArg::Huge => SampleSize::Huge,
            });
            let report = ops::init::init(&ops::init::InitOptions { location: location()?, host, sample })?;
            render::init(&report, format);
        }
        Command::Host { action } => {
            let mut store = store::open(&location()?)?;
            let host = match action {
                Some(HostAction::SetBaseUrl { url, keep_alias }) => {
                    ops::host::set_base_url(store.as_mut(), &url, keep_alias)?
                }
                Some(HostAction::SetDeployment { deployment, keep_alias }) => {
                    let deployment = match deployment {
                        args::OnPremises::Server => Deployment::Server,
                        args::OnPremises::Datacenter => Deployment::Datacenter,
                    };
                    ops::host::set_deployment(store.as_mut(), deployment, keep_alias)?
                }
                None | Some(HostAction::Show) => store.host()?,
            };
            render::host(&host, &store.location(), format);
        }
        Command::Export(a) => {
            let output = match (a.output.as_deref(), a.dir) {
                (_, Some(dir)) => ops::export::Output::Dir(dir),
                (None, None) => ops::export::Output::Dir(".".into()),
                (Some("-"), None) => ops::export::Output::Stdout,
                (Some(path), None) => ops::export::Output::File(path.into()),
            };
            let encoding = a.encoding.map(|e| match e {
                args::EncodingArg::Zstd => Encoding::Zstd,
                args::EncodingArg::Json => Encoding::Json,
            });
            let scope = match a.scope {
                args::ScopeArg::Full => Scope::Full,
                args::ScopeArg::Migration => Scope::Migration,
            };
            let mut store = store::open(&location()?)?;
            let report = ops::export::export(
                store.as_mut(),
                &ops::export::ExportOptions { output, encoding, scope, keep: a.keep.map(|k| k as usize), progress },
            )?;
            render::export(&report, format);
        }
        Command::Import(a) => {
            let location = location()?;
            let options = ops::import::ImportOptions {
                allow_invalid: a.allow_invalid,
                input: Input::parse(&a.file),
                limits: a.limits.limits(),
                safety_dir: a.safety_dir.unwrap_or_else(|| ops::default_safety_dir(&location)),
                only: ops::select::Selection::parse(&a.only)?,
                progress,
            };
            let mut store = store::open(&location)?;
            let checked = ops::import::check(store.as_mut(), &options)?;
            if a.dry_run {
                options.progress.finish();
                let report = ops::import::dry_run_report(&options, checked)?;
                render::import(&report, format);
                return Ok(exit::OK);
            }
            options.progress.finish();
            if !a.yes {
                confirm(&store.location(), &options, &checked.plan)?;
            }
            let report = ops::import::apply(store.as_mut(), &options, checked)?;
            render::import(&report, format);
        }
        Command::Validate(a) => {
            let options = ops::validate::ValidateOptions {
                inputs: a.files.iter().map(|f| Input::parse(f)).collect(),
                limits: a.limits.limits(),
                strict: a.strict,
                progress,
            };
            let report = ops::validate::validate(&options);
            render::validate(&report, format);
            return Ok(report.exit_code);
        }
        Command::Inspect(a) => {
            let report = ops::inspect::inspect(&Input::parse(&a.file), &a.limits.limits())?;
            render::inspect(&report, format);
        }
        Command::Diff(a) => {
            let limits = a.limits.limits();
            let (from, to) = match a.sides.as_slice() {
                [b] => (ops::diff::Side::Store(location()?), ops::diff::Side::parse(b)?),
                [a, b] => (ops::diff::Side::parse(a)?, ops::diff::Side::parse(b)?),
                _ => return Err(Error::Usage("diff takes one or two arguments".into())),
            };
            let only = ops::select::Selection::parse(&a.only)?;
            let report = ops::diff::diff(&from, &to, &limits, only.as_ref())?;
            render::diff(&report, format);
        }
        Command::Schema => {
            let schema = ativo_backup::archive::schema();
            println!("{}", serde_json::to_string_pretty(&schema).unwrap_or_default());
        }
        Command::Log { limit } => {
            let mut store = store::open(&location()?)?;
            render::log(&ops::log::recent(store.as_mut(), limit)?, format);
        }
        Command::Migration { action: MigrationAction::References { file, skeleton, limits: l } } => {
            let options = ops::migrate::ReferencesOptions { input: Input::parse(&file), limits: l.limits(), progress };
            let report = ops::migrate::references(&options)?;
            if skeleton {
                render::skeleton(&report);
            } else {
                render::references(&report, format);
            }
        }
        Command::Migration { action: MigrationAction::Status } => {
            let mut store = store::open(&location()?)?;
            let report = ops::migrate::status(store.as_mut())?;
            render::migration_status(&report, format);
        }
        Command::Migration { action: MigrationAction::Reset { yes, safety_dir } } => {
            let location = location()?;
            let safety_dir = safety_dir.unwrap_or_else(|| ops::default_safety_dir(&location));
            let mut store = store::open(&location)?;
            let plan = ops::migrate::reset_check(store.as_mut())?;
            if plan.runs > 0 && !yes {
                confirm_reset(&store.location(), &plan)?;
            }
            let report = ops::migrate::reset(store.as_mut(), &safety_dir, plan)?;
            render::migration_reset(&report, format);
        }
        Command::Migrate(a) => {
            if !a.only.is_empty() {
                return Err(Error::Usage(
                    "migrate has no --only: a migration moves the whole configuration onto the cloud site, and every run overwrites all of it (README, \"Migrating to Jira Cloud\"); --only is for `import` of a backup on the host it came from".into(),
                ));
            }
            let location = location()?;
            let options = ops::migrate::MigrateOptions {
                input: Input::parse(&a.file),
                mappings: a.mappings.iter().map(|m| ops::migrate::MappingsSource::parse(m)).collect::<Result<_>>()?,
                mappings_limits: ativo_backup::migration::mappings::MappingsLimits {
                    max_size: a.mappings_max_size,
                    ..Default::default()
                },
                limits: a.limits.limits(),
                safety_dir: a.safety_dir.unwrap_or_else(|| ops::default_safety_dir(&location)),
                overwrite_cloud_changes: a.overwrite_cloud_changes,
                allow_unmapped: ops::migrate::AllowUnmapped::parse(&a.allow_unmapped)?,
                progress,
            };
            let mut store = store::open(&location)?;
            let checked = ops::migrate::check(store.as_mut(), &options)?;
            options.progress.finish();
            let consent = ops::migrate::consent(&checked);
            if a.dry_run {
                let refusal = consent.as_ref().err();
                let report = ops::migrate::dry_run_report(store.as_mut(), &options, checked, refusal)?;
                render::migrate(&report, format);
                return Ok(refusal.map_or(exit::OK, Error::exit_code));
            }
            consent?;
            if !a.yes {
                confirm_migration(&store.location(), &options.input, &checked)?;
            }
            let report = ops::migrate::apply(store.as_mut(), &options, checked)?;
            render::migrate(&report, format);
        }
        Command::Admins { action } => {
            let mut store = store::open(&location()?)?;
            match action {
                AdminsAction::Show => render::admins(&ops::admins::show(store.as_mut())?, format),
                AdminsAction::Set { users, groups } => {
                    let report = ops::admins::set(store.as_mut(), &ops::admins::SetAdminsOptions { users, groups })?;
                    render::admins_set(&report, format);
                }
            }
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "ativo-backup", &mut std::io::stdout());
        }
        Command::Man { dir: None } => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()).map_err(|source| Error::File {
                action: "cannot write",
                path: "<stdout>".into(),
                source,
            })?;
        }
        Command::Man { dir: Some(dir) } => write_man_pages(&dir)?,
        Command::Demo(a) => demo::run(a.dir, format)?,
    }
    Ok(exit::OK)
}

/// Writes the main man page and one per command (`ativo-backup-import.1`, ...), which the main
/// page names, into `dir`, each as the tool writes any file (`ativo_backup::destination`: replaced
/// atomically, verified, a device or a link handled as for an export); new pages get mode 0644.
fn write_man_pages(dir: &std::path::Path) -> Result<()> {
    fn pages(cmd: clap::Command, out: &mut Vec<clap_mangen::Man>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            pages(sub.clone(), out);
        }
        out.push(clap_mangen::Man::new(cmd));
    }
    if !dir.is_dir() {
        return Err(Error::Usage(format!("man --dir {}: not a directory; give an existing directory", dir.display())));
    }
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut all = Vec::new();
    pages(cmd, &mut all);
    for page in all {
        let name = page.get_filename();
        let mut roff = Vec::new();
        page.render(&mut roff).map_err(|source| Error::File {
            action: "cannot render",
            path: name.clone().into(),
            source,
        })?;
        let io = |path: &std::path::Path| {
            let path = path.to_path_buf();
            move |source| Error::File { action: "cannot write", path, source }
        };
        let path = dir.join(&name);
        if path.is_dir() {
            return Err(Error::Usage(format!(
                "{} is a directory, not a man page: move it away or choose another --dir",
                path.display()
            )));
        }
        let new = std::fs::symlink_metadata(&path).is_err();
        let target = ativo_backup::destination::Target::File(path.clone());
        ativo_backup::destination::deliver(
            &target,
            &name,
            &ativo_backup::destination::Protected::none(),
            |file, _| std::io::Write::write_all(file, &roff).map_err(io(&dir.join(&name))),
            |file, ()| {
                let mut back = Vec::new();
                std::io::Read::read_to_end(file, &mut back).map_err(io(&dir.join(&name)))?;
                if back == roff {
                    Ok(())
                } else {
                    Err(Error::Internal(format!("{} does not read back as written", dir.join(&name).display())))
                }
            },
        )?;
        // A new file is private (0600) like an archive; a man page is for every user.
        if new {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).map_err(io(&path))?;
        }
    }
    Ok(())
}

/// Asks before an import overwrites the store; refuses (exit 2) when nobody can answer.
fn confirm(store: &str, options: &ops::import::ImportOptions, plan: &ops::diff::Plan) -> Result<()> {
    let input = &options.input;
    let question = match &options.only {
        None => format!("replace ALL Ativo configuration in {store} with {input}?"),
        Some(selection) => format!(
            "restore {} in {store} from {input}, keeping everything else as it is?",
            selection.names().join(", ")
        ),
    };
    ask(&question, "re-run with --yes (see the plan with --dry-run)", || render::plan_to_stderr(plan), "import")
}

/// Asks before a migration overwrites the cloud configuration; refuses (exit 2) when nobody can
/// answer.
fn confirm_migration(store: &str, input: &Input, checked: &ops::migrate::Checked) -> Result<()> {
    ask(
        &format!(
            "replace ALL Ativo configuration (admins aside) of cloud site {} in {store} with {input} from {}?",
            checked.target.base_url, checked.header.source.base_url
        ),
        "re-run with --yes",
        || render::migration_plan_to_stderr(checked),
        "migration",
    )
}

/// Asks before a reset forgets the migrations of a site; refuses (exit 2) when nobody can answer.
fn confirm_reset(store: &str, plan: &ops::migrate::ResetPlan) -> Result<()> {
    let source = plan
        .last
        .as_ref()
        .map_or_else(String::new, |(_, d)| format!(" from server id {} ({})", d.source.server_id, d.source.base_url));
    ask(
        &format!(
            "forget the {} migration run(s){source} of {store}, so that another Jira server can be migrated onto it?",
            plan.runs
        ),
        "re-run with --yes",
        || {},
        "reset",
    )
}

/// Shows what would change and asks `question` on the terminal. When stdin is not a terminal
/// nobody can answer, so it refuses rather than guess: a script must say `--yes`.
fn ask(question: &str, without_terminal: &str, show_changes: impl FnOnce(), what: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(format!(
            "{question} refused: stdin is not a terminal, so nobody can confirm; {without_terminal}"
        )));
    }
    show_changes();
    eprint!("{question} a safety backup is written first. [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).map_err(|source| Error::File {
        action: "cannot read the answer from",
        path: "<stdin>".into(),
        source,
    })?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES") {
        Ok(())
    } else {
        Err(Error::Usage(format!("{what} cancelled; nothing was changed")))
    }
}
