//! Command-line arguments (clap). The library carries no clap types: this file turns arguments
//! into the library's options, nothing else.

use std::path::PathBuf;
use std::sync::LazyLock;

use ativo_backup::archive::{FORMAT_VERSION, OLDEST_FORMAT_VERSION};
use clap::{Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  ativo-backup demo                                   # sample store, backup, validate, restore
  ativo-backup init --server-id B8E7-9F2A --base-url https://jira.example.com
  ativo-backup --store /var/atlassian/ativo.db export -o backup.json.zst
  ativo-backup import backup.json.zst --dry-run
  ativo-backup validate --format github backups/*.json.zst
  ativo-backup diff backup-monday.json.zst backup-friday.json.zst
  ativo-backup --store cloud.db migrate ativo-migration.json.zst --mappings mappings.json
  PGPASSFILE=~/.pgpass ativo-backup --store 'host=db.example.com user=ativo dbname=jira' export

Exit codes: 0 ok, 1 unexpected, 2 usage, 3 invalid archive, 4 other host, 5 integrity,
6 newer format, 7 store problem, 8 migration refused.";

/// The commit the binary was built from (build.rs): a full object name, or `unknown` when it
/// was built outside a git checkout and without the commit `cargo package` records.
const BUILD_COMMIT: &str = env!("ATIVO_BUILD_COMMIT");

/// `-V`: the version and the commit, short (as `ripgrep -V`).
static SHORT_VERSION: LazyLock<String> = LazyLock::new(|| match BUILD_COMMIT.get(..12) {
    Some(short) if BUILD_COMMIT != "unknown" => format!("{} ({short})", env!("CARGO_PKG_VERSION")),
    _ => format!("{} (commit unknown)", env!("CARGO_PKG_VERSION")),
});

/// `--version`: the version, the whole commit, and the archive format versions this build
/// writes and reads, so that an admin can tell from the binary alone which archives it takes.
static LONG_VERSION: LazyLock<String> = LazyLock::new(|| {
    let reads = if OLDEST_FORMAT_VERSION == FORMAT_VERSION {
        format!("version {FORMAT_VERSION}")
    } else {
        format!("versions {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION}")
    };
    format!(
        "{}\ncommit: {BUILD_COMMIT}\narchive format: writes version {FORMAT_VERSION}, reads {reads}",
        env!("CARGO_PKG_VERSION")
    )
});

/// Back up, restore, validate and migrate Ativo Programs configuration.
///
/// The store is the app's configuration database: a SQLite file (the embedded default) or the
/// PostgreSQL database of a Data Center cluster. Archives are versioned, digest-protected
/// JSON, zstd-compressed by default, and are restored only on the host they came from.
#[derive(Debug, Parser)]
#[command(
    name = "ativo-backup",
    version = SHORT_VERSION.as_str(),
    long_version = LONG_VERSION.as_str(),
    after_help = EXAMPLES,
    max_term_width = 100
)]
pub struct Cli {
    /// Store: a SQLite path (or sqlite:PATH), or a PostgreSQL connection string as libpq takes
    /// it: a postgres:// URI or 'host=... dbname=...', with the PG* environment and ~/.pgpass
    /// [default: ./ativo.db].
    #[arg(long, global = true, env = "ATIVO_STORE", value_name = "PATH|URL", hide_env_values = true)]
    pub store: Option<String>,

    /// Output format: human text, JSON for machines, or GitHub annotations (validate only).
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Print nothing but errors (and the archive itself with `export -o -`).
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more: every finding, every changed key.
    #[arg(long, short, global = true)]
    pub verbose: bool,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Text for people.
    Human,
    /// One JSON document on stdout.
    Json,
    /// GitHub Actions workflow commands (`::error file=...::`), for `validate`.
    Github,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a store for a host (never overwrites one).
    #[command(
        after_help = "Examples:\n  ativo-backup init --server-id B8E7-9F2A-3C4D-5E6F --base-url https://jira.example.com\n  ativo-backup --store demo.db init --server-id DEMO --base-url https://jira.example.com --sample demo"
    )]
    Init(InitArgs),
    /// Show the store's host identity and fingerprint, or record a change of base URL or deployment.
    #[command(
        after_help = "Examples:\n  ativo-backup host\n  ativo-backup host set-base-url https://jira.new.example.com --keep-alias\n  ativo-backup host set-deployment datacenter --keep-alias"
    )]
    Host {
        /// What to do (default: show).
        #[command(subcommand)]
        action: Option<HostAction>,
    },
    /// Write an archive of the whole configuration (verified before success is reported).
    #[command(
        after_help = "Examples:\n  ativo-backup export                         # ./ativo-<host>-<UTC time>.json.zst\n  ativo-backup export --dir /backups/ativo --keep 14   # nightly, keeps the newest 14\n  ativo-backup export -o backup.json           # plain JSON, for review in git\n  ativo-backup export -o - | ssh backup-host 'cat > ativo.json.zst'"
    )]
    Export(ExportArgs),
    /// Replace ALL configuration (or with --only, part of it) with an archive of the same host, after every check and a safety backup.
    #[command(
        after_help = "Examples:\n  ativo-backup import backup.json.zst --dry-run   # what would change\n  ativo-backup import backup.json.zst --yes       # restore without asking\n  ativo-backup import backup.json.zst --yes --allow-invalid   # a backup of a store that broke a semantic rule\n  ativo-backup import backup.json.zst --only program:PGM1 --dry-run   # restore one program, keep all else\n  ativo-backup import backup.json.zst --only program:PGM1 --only team:PUMA --yes\n\nSelectors for --only: team:KEY, program:KEY (with its PIs), period:KEY (with its sprints), pi:KEY,\nsettings, admins. README, \"Restoring part of a backup\"."
    )]
    Import(ImportArgs),
    /// Check archives without any store (integrity, version, schema, semantics).
    #[command(
        after_help = "Examples:\n  ativo-backup validate backup.json.zst\n  ativo-backup validate --format json a.json.zst b.json.zst\n  ativo-backup validate --format github --strict backups/*.json.zst\n\nThe exit code is the highest of all files' codes."
    )]
    Validate(ValidateArgs),
    /// Show an archive's header, counts and digests.
    #[command(
        after_help = "Examples:\n  ativo-backup inspect backup.json.zst\n  ativo-backup inspect --format json backup.json.zst | jq .header.counts"
    )]
    Inspect(InspectArgs),
    /// Show what importing B over A would change (A, B: archives or stores; A defaults to --store).
    #[command(
        after_help = "Examples:\n  ativo-backup diff backup.json.zst               # the store vs the archive\n  ativo-backup diff monday.json.zst friday.json.zst\n  ativo-backup diff sqlite:ativo.db backup.json\n  ativo-backup diff backup.json.zst --only program:PGM1   # the preview of import --only"
    )]
    Diff(DiffArgs),
    /// Print the archive's JSON Schema (draft 2020-12).
    #[command(after_help = "Example:\n  ativo-backup schema > ativo-backup.v1.schema.json")]
    Schema,
    /// List the Jira objects an archive refers to, show a cloud store's migration status, or reset it.
    #[command(
        after_help = "Examples:\n  ativo-backup migration references ativo-migration.json.zst          # grouped and counted\n  ativo-backup migration references ativo-migration.json.zst --skeleton > mappings.json\n  ativo-backup --store cloud.db migration status\n  ativo-backup --store cloud.db migration reset     # after a rollback, before migrating another server"
    )]
    Migration {
        /// What to do.
        #[command(subcommand)]
        action: MigrationAction,
    },
    /// Migrate a Server / Data Center archive onto a cloud site, through ID mappings (all but the admins).
    #[command(
        after_help = "Examples:\n  ativo-backup --store dc.db export --scope migration -o ativo-migration.json.zst\n  ativo-backup migration references ativo-migration.json.zst --skeleton > mappings.json\n  # fill in the cloud ids, then:\n  ativo-backup --store cloud.db migrate ativo-migration.json.zst --mappings mappings.json --dry-run\n  ativo-backup --store cloud.db migrate ativo-migration.json.zst --mappings mappings.json\n  # or the pages Atlassian's mapping endpoint returns, one namespace each:\n  ativo-backup --store cloud.db migrate ativo-migration.json.zst --mappings mappings.json \\\n      --mappings jira/classic/software:sprint=sprints-1.json --mappings jira/classic/software:sprint=sprints-2.json \\\n      --mappings jira:issue=issues.jsonl --allow-unmapped jira:issue\n  ativo-backup --store cloud.db admins set --user 557058:f1a2b3c4-d5e6-47a8-9b0c-1d2e3f4a5b6c --group ativo-admins\n\nRefused with exit 8, the cloud store untouched, when: the store is not a cloud site; the archive\nis from a cloud site; a project, a board or a sprint of a mapped board has no mapping; the\nsite holds configuration migrated from another Jira server (another server id: see\n`migration reset`); the cloud configuration changed since the last run (unless\n--overwrite-cloud-changes); references would be dropped that no --allow-unmapped accepts.\nUnusable mappings are exit 2. --dry-run shows the totals and writes nothing."
    )]
    Migrate(MigrateArgs),
    /// Show or set the Ativo admins (on a migrated cloud site, setting them completes the migration).
    #[command(
        after_help = "Examples:\n  ativo-backup --store cloud.db admins show\n  ativo-backup --store cloud.db admins set --user 557058:f1a2b3c4-d5e6-47a8-9b0c-1d2e3f4a5b6c --group ativo-admins --group jira-admins"
    )]
    Admins {
        /// What to do.
        #[command(subcommand)]
        action: AdminsAction,
    },
    /// Show the store's operations log: what was exported, imported or migrated, when, by whom.
    #[command(after_help = "Examples:\n  ativo-backup log\n  ativo-backup log --limit 5 --format json")]
    Log {
        /// Show only the newest N entries.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Print shell completions.
    #[command(
        after_help = "Examples:\n  ativo-backup completions bash > /etc/bash_completion.d/ativo-backup\n  ativo-backup completions zsh > \"${fpath[1]}/_ativo-backup\"\n  ativo-backup completions fish > ~/.config/fish/completions/ativo-backup.fish"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write every page (one per command) into a directory.
    #[command(
        after_help = "Examples:\n  ativo-backup man > /usr/local/share/man/man1/ativo-backup.1\n  ativo-backup man --dir /usr/local/share/man/man1   # ativo-backup.1, ativo-backup-import.1, ..."
    )]
    Man {
        /// Write ativo-backup.1 and a page per command (ativo-backup-import.1, ...) into DIR,
        /// which must exist, instead of printing the main page.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Try everything on a sample: create a store, back it up, validate, break it, restore it.
    #[command(after_help = "Example:\n  ativo-backup demo --dir /tmp/ativo-demo")]
    Demo(DemoArgs),
}

/// `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Jira server id (Administration > System > System info); on cloud, the cloud id.
    #[arg(long, value_name = "ID")]
    pub server_id: String,
    /// The base URL users open Jira with.
    #[arg(long, value_name = "URL")]
    pub base_url: String,
    /// Kind of Jira.
    #[arg(long, value_enum, default_value_t = DeploymentArg::Datacenter)]
    pub deployment: DeploymentArg,
    /// Fill the new store with generated configuration.
    #[arg(long, value_enum)]
    pub sample: Option<SampleArg>,
}

/// Deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeploymentArg {
    /// Jira Server.
    Server,
    /// Jira Data Center.
    Datacenter,
    /// Jira Cloud.
    Cloud,
}

/// Sample sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SampleArg {
    /// A small realistic company.
    Demo,
    /// ~50 programs, 500 teams, 20 periods (150k-200k rows).
    Large,
    /// About ten times large.
    Huge,
}

/// `host` actions.
#[derive(Debug, Subcommand)]
pub enum HostAction {
    /// Show the identity, fingerprint and accepted aliases.
    Show,
    /// Record a new base URL (after a legitimate move of Jira).
    SetBaseUrl {
        /// The new base URL.
        url: String,
        /// Keep accepting archives exported under the current identity.
        #[arg(long)]
        keep_alias: bool,
    },
    /// Record that Jira Server was upgraded to Data Center (or back); the server id stays. Cloud
    /// is not a deployment to change to: that is `migrate`.
    #[command(
        after_help = "Example:\n  ativo-backup host set-deployment datacenter --keep-alias   # after the upgrade, old backups still restore"
    )]
    SetDeployment {
        /// The deployment the installation is now.
        #[arg(value_enum)]
        deployment: OnPremises,
        /// Keep accepting archives exported under the current identity.
        #[arg(long)]
        keep_alias: bool,
    },
}

/// Deployments an installation can change between without a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnPremises {
    /// Jira Server.
    Server,
    /// Jira Data Center.
    Datacenter,
}

/// Archive encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EncodingArg {
    /// zstd-compressed JSON.
    Zstd,
    /// Plain JSON.
    Json,
}

/// Archive scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScopeArg {
    /// Everything (a backup).
    Full,
    /// Everything but the admins (input for a cloud migration).
    Migration,
}

/// `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output file, or - for stdout [default: ./ativo-<host>-<UTC time>.json.zst].
    #[arg(short, long, value_name = "FILE|-", conflicts_with = "dir")]
    pub output: Option<String>,
    /// Write a timestamped archive into this directory (for scheduled backups).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// With --dir: keep only the newest N archives of this host that ativo-backup wrote there.
    #[arg(long, value_name = "N", requires = "dir", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: Option<u32>,
    /// Encoding [default: from the file name: .json is plain JSON, anything else zstd].
    #[arg(long, value_enum)]
    pub encoding: Option<EncodingArg>,
    /// What the archive holds.
    #[arg(long, value_enum, default_value_t = ScopeArg::Full)]
    pub scope: ScopeArg,
}

/// Limits shared by the commands that read archives.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Refuse archives larger than this many bytes once decompressed.
    #[arg(long, value_name = "BYTES", default_value_t = ativo_backup::archive::Limits::default().max_size)]
    pub max_size: u64,
    /// Refuse a string (or number) longer than this many bytes as written. `export` says when an
    /// archive needs more (a store text over the default).
    #[arg(long, value_name = "BYTES", default_value_t = ativo_backup::archive::Limits::default().max_string)]
    pub max_string: usize,
    /// Refuse an entity (a team, program, period, PI, the settings, the admins, the header) whose
    /// canonical form is longer than this many bytes. `export` says when an archive needs more.
    #[arg(long, value_name = "BYTES", default_value_t = ativo_backup::archive::Limits::default().max_entity)]
    pub max_entity: u64,
}

impl LimitArgs {
    /// The reader limits these options give.
    pub fn limits(&self) -> ativo_backup::archive::Limits {
        ativo_backup::archive::Limits {
            max_size: self.max_size,
            max_string: self.max_string,
            max_entity: self.max_entity,
            ..ativo_backup::archive::Limits::default()
        }
    }
}

/// `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The archive, or - for stdin.
    #[arg(value_name = "FILE|-")]
    pub file: String,
    /// Check everything and show what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Where the safety backup goes [default: ativo-safety-backups/ beside a SQLite store, else in the current directory].
    #[arg(long, value_name = "DIR")]
    pub safety_dir: Option<PathBuf>,
    /// Restore even if the configuration breaks semantic rules (they are shown first): for a
    /// backup of a store that held such a configuration. Integrity, version, schema, host and
    /// scope are never waived.
    #[arg(long)]
    pub allow_invalid: bool,
    /// Restore only this entity, keeping everything else in the store as it is (repeatable):
    /// team:KEY, program:KEY (with its PIs), period:KEY (with its sprints), pi:KEY, settings,
    /// admins.
    #[arg(long, value_name = "SELECTOR")]
    pub only: Vec<String>,
    /// Limits.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Archives (- for stdin).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// Treat warnings as failures (exit 3).
    #[arg(long)]
    pub strict: bool,
    /// Limits.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The archive, or - for stdin.
    #[arg(value_name = "FILE|-")]
    pub file: String,
    /// Limits.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// A then B; with only one, A is the --store store.
    #[arg(required = true, num_args = 1..=2, value_name = "A|B")]
    pub sides: Vec<String>,
    /// Compare only this entity, as `import --only` would restore it (repeatable).
    #[arg(long, value_name = "SELECTOR")]
    pub only: Vec<String>,
    /// Limits.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory for the demo's store and archives [default: a new directory under the system temp dir].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `migration` actions.
#[derive(Debug, Subcommand)]
pub enum MigrationAction {
    /// Every Jira object the archive's configuration refers to, by mapping namespace, counted;
    /// with --skeleton, the mappings skeleton to fill in for `migrate --mappings`.
    #[command(
        after_help = "Examples:\n  ativo-backup migration references ativo-migration.json.zst\n  ativo-backup migration references ativo-migration.json.zst --skeleton > mappings.json\n  ativo-backup migration references ativo-migration.json.zst --format json | jq .namespaces"
    )]
    References {
        /// The archive, or - for stdin.
        #[arg(value_name = "FILE|-")]
        file: String,
        /// Print only the mappings skeleton, {"<namespace>": {"<server id>": null}}, to fill in.
        #[arg(long)]
        skeleton: bool,
        /// Limits.
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// NOT_MIGRATED, INCOMPLETE, COMPLETE or ROLLED_BACK; the last run and what is pending.
    #[command(
        after_help = "Examples:\n  ativo-backup --store cloud.db migration status\n  ativo-backup --store cloud.db migration status --format json | jq -r .status"
    )]
    Status,
    /// Forget the migrations of a site that no longer holds what they wrote (rolled back), so that
    /// another Jira server can be migrated onto it. Asks first; writes a safety backup; logged.
    #[command(
        after_help = "Examples:\n  ativo-backup --store cloud.db import ativo-safety-backups/safety-acme.atlassian.net-20261125T190000Z.json.zst --yes\n  ativo-backup --store cloud.db migration reset --yes\n\nRefused with exit 8 while the site still holds configuration a migration wrote."
    )]
    Reset {
        /// Do not ask for confirmation (required when stdin is not a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
        /// Where the safety backup goes [default: as for import].
        #[arg(long, value_name = "DIR")]
        safety_dir: Option<PathBuf>,
    },
}

/// `migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The archive (`export --scope migration` of the Server / Data Center store), or - for stdin.
    #[arg(value_name = "FILE|-")]
    pub file: String,
    /// Not for migrations (hidden): accepted only to refuse it with a message that says why.
    #[arg(long, hide = true, value_name = "SELECTOR")]
    pub only: Vec<String>,
    /// ID mappings (repeatable): FILE is {"<namespace>": {"<server id>": "<cloud id>"}} as
    /// `migration references --skeleton` prints it; NAMESPACE=FILE holds one namespace: a flat
    /// object, pages of Atlassian's mapping endpoint ({"meta", "items"}, several per file allowed)
    /// or Forge results ({"results"}). - is stdin.
    #[arg(long, value_name = "[NAMESPACE=]FILE", required = true)]
    pub mappings: Vec<String>,
    /// Accept that unmapped references of NAMESPACE are dropped (repeatable; `all` for every
    /// namespace but the required ones).
    #[arg(long, value_name = "NAMESPACE|all")]
    pub allow_unmapped: Vec<String>,
    /// Check everything and show the totals and what would be dropped; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Run even though Ativo's configuration on the cloud changed since the last run (the changes are overwritten).
    #[arg(long)]
    pub overwrite_cloud_changes: bool,
    /// Where the safety backup of the cloud configuration goes [default: as for import].
    #[arg(long, value_name = "DIR")]
    pub safety_dir: Option<PathBuf>,
    /// Refuse a mappings file larger than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = ativo_backup::migration::mappings::MappingsLimits::DEFAULT_MAX_SIZE)]
    pub mappings_max_size: u64,
    /// Limits.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `admins` actions.
#[derive(Debug, Subcommand)]
pub enum AdminsAction {
    /// Show the admins.
    Show,
    /// Replace the admins (users: account ids on cloud, user keys on Server / Data Center).
    #[command(
        after_help = "Examples:\n  ativo-backup --store cloud.db admins set --user 557058:f1a2b3c4-d5e6-47a8-9b0c-1d2e3f4a5b6c --group ativo-admins\n  ativo-backup admins set --group jira-administrators\n\nOn a cloud site a user is an Atlassian account id (557058:<uuid>, 24 letters and digits, or\nqm:...), found at the end of the user's profile URL; user keys, user names and e-mail\naddresses are refused."
    )]
    Set {
        /// An admin user (repeatable): account id on cloud, user key on Server / Data Center.
        #[arg(long = "user", value_name = "ID")]
        users: Vec<String>,
        /// An admin group by name (repeatable).
        #[arg(long = "group", value_name = "NAME")]
        groups: Vec<String>,
    },
}
