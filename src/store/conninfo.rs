//! PostgreSQL connection strings as libpq reads them, and the one description of a connection
//! that anything printed, logged or written uses. This file owns which strings are connection
//! strings, the libpq environment (`PGHOST`...), the password file (`PGPASSFILE`, `~/.pgpass`)
//! and what a password may never reach; connecting and everything after is `postgres.rs`'s.
//!
//! # What libpq does, and what we do
//!
//! Admins write connection strings the way psql and pg_dump taught them, so this follows libpq's
//! documentation (PostgreSQL 15, "Connection Strings", "Parameter Key Words", "Environment
//! Variables", "The Password File"):
//!
//! * **URIs**, `postgresql://[user[:password]@][host][:port][,...][/dbname][?param=value&...]`
//!   (also `postgres://`): percent-encoding anywhere, several `host[:port]` separated by commas,
//!   IPv6 addresses in brackets, a percent-encoded socket directory as the host, and every
//!   parameter keyword in the query. The split follows libpq's order: the user info ends at the
//!   first `@` if it comes before the first `/`. Unlike libpq, a URI with more than one `@` that
//!   is not percent-encoded, or one in the database name, is refused: libpq would take the rest
//!   of an unencoded password for the host name and print it in its errors.
//! * **Keyword/value strings**, `host=db port=5432 user=ativo password='it''s' dbname=jira`:
//!   `keyword = value` pairs separated by whitespace, values in single quotes when they hold
//!   spaces, `\'` and `\\` escapes. The last value of a keyword given twice wins.
//! * **The environment**: a keyword not given takes its `PG*` variable when that is set
//!   (`PGHOST`, `PGHOSTADDR`, `PGPORT`, `PGDATABASE`, `PGUSER`, `PGPASSWORD`, `PGPASSFILE`,
//!   `PGSSLMODE`, `PGAPPNAME`, `PGCONNECT_TIMEOUT`, `PGOPTIONS`, ... see [`KEYWORDS`]), so that
//!   `--store postgres://` with only the environment set works, as `psql` does.
//! * **The password file**: when no password is given, the first line of `passfile` /
//!   `PGPASSFILE` / `~/.pgpass` whose `hostname:port:database:username` match (`*` matches
//!   anything, `\:` and `\\` escape) gives it. As libpq does, the file is ignored when it is not
//!   a plain file or when its group or others have any access (it must be `chmod 0600`); the
//!   reason is told when connecting then fails. The host name matched is the host, or
//!   `localhost` for a connection through the default socket directory.
//!
//! The values themselves (ports, timeouts, host lists, the enumerations) are then read by the
//! `postgres` crate's own parser, which the final keyword/value string is handed to. Its URI
//! grammar is not used: it splits the user info at the first `@` anywhere in the string, and
//! knows neither the environment, the password file, nor some keywords (`keepalives_count`,
//! `passfile`, `fallback_application_name`).
//!
//! What this build does not do, and says so rather than quietly do something else: TLS
//! (`sslmode=require`, `verify-ca`, `verify-full`, `requiressl=1`, `sslnegotiation=direct` and
//! `sslrootcert=system` are refused: the password and the configuration would cross the
//! network in clear text; `prefer` and `allow` connect without TLS, as a libpq built without
//! TLS does), GSSAPI encryption (`gssencmode=require`), connection service files (`service`),
//! `requirepeer`, `require_auth`, `replication`, and `target_session_attrs` other than `any`,
//! `read-write` and `read-only`. Settings that only matter with TLS or GSSAPI (`sslcert`,
//! `sslrootcert`, `krbsrvname`...) are accepted and have no effect.
//!
//! Two departures keep every wait bounded and the tool identifiable: `connect_timeout` absent,
//! zero or negative (libpq: wait forever) is [`DEFAULT_CONNECT_TIMEOUT`]; `application_name`
//! absent is `fallback_application_name`, else `ativo-backup` (shown in `pg_stat_activity`).
//!
//! # Path or connection string
//!
//! `Location::parse` (in `mod.rs`) asks [`kind_of`]: a `postgres://` or `postgresql://` prefix
//! (any case) is a URI; a string whose first non-blank characters are a word of letters and
//! underscores followed by `=` is a keyword/value string when that word is a libpq keyword, and
//! refused otherwise (a mistyped keyword must not become a SQLite file named after a password);
//! anything else is a path. A file whose name starts like `host=...` is given as `./host=...`
//! or `sqlite:host=...`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use crate::error::StoreError;

/// How long connecting may take when the connection string does not say (`connect_timeout`): a
/// server that does not answer must not hang an admin's shell or a cron job forever.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `application_name` when neither it nor `fallback_application_name` is given: a DBA sees
/// it in `pg_stat_activity` and in our own messages about who holds a lock.
pub const DEFAULT_APPLICATION_NAME: &str = "ativo-backup";

/// What this build does with a libpq keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// Handed to the `postgres` crate.
    Pass,
    /// Handed to the `postgres` crate under another name.
    PassAs(&'static str),
    /// Read here (password file, TLS and encoding checks, the application name).
    Own,
    /// Matters only with TLS or GSSAPI, which this build does not use: accepted, no effect.
    Inert,
    /// Refused: doing without it would quietly change what the admin asked for.
    Unsupported(&'static str),
}

/// Every keyword libpq 15/16 knows, its environment variable, and what we do with it.
pub const KEYWORDS: &[(&str, Option<&str>)] = &[
    ("host", Some("PGHOST")),
    ("hostaddr", Some("PGHOSTADDR")),
    ("port", Some("PGPORT")),
    ("dbname", Some("PGDATABASE")),
    ("user", Some("PGUSER")),
    ("password", Some("PGPASSWORD")),
    ("passfile", Some("PGPASSFILE")),
    ("channel_binding", Some("PGCHANNELBINDING")),
    ("connect_timeout", Some("PGCONNECT_TIMEOUT")),
    ("client_encoding", Some("PGCLIENTENCODING")),
    ("options", Some("PGOPTIONS")),
    ("application_name", Some("PGAPPNAME")),
    ("fallback_application_name", None),
    ("keepalives", None),
    ("keepalives_idle", None),
    ("keepalives_interval", None),
    ("keepalives_count", None),
    ("tcp_user_timeout", None),
    ("replication", None),
    ("gssencmode", Some("PGGSSENCMODE")),
    ("sslmode", Some("PGSSLMODE")),
    ("requiressl", Some("PGREQUIRESSL")),
    ("sslnegotiation", Some("PGSSLNEGOTIATION")),
    ("sslcompression", Some("PGSSLCOMPRESSION")),
    ("sslcert", Some("PGSSLCERT")),
    ("sslkey", Some("PGSSLKEY")),
    ("sslpassword", None),
    ("sslcertmode", Some("PGSSLCERTMODE")),
    ("sslrootcert", Some("PGSSLROOTCERT")),
    ("sslcrl", Some("PGSSLCRL")),
    ("sslcrldir", Some("PGSSLCRLDIR")),
    ("sslsni", Some("PGSSLSNI")),
    ("requirepeer", Some("PGREQUIREPEER")),
    ("require_auth", Some("PGREQUIREAUTH")),
    ("ssl_min_protocol_version", Some("PGSSLMINPROTOCOLVERSION")),
    ("ssl_max_protocol_version", Some("PGSSLMAXPROTOCOLVERSION")),
    ("krbsrvname", Some("PGKRBSRVNAME")),
    ("gsslib", Some("PGGSSLIB")),
    ("gssdelegation", Some("PGGSSDELEGATION")),
    ("service", Some("PGSERVICE")),
    ("target_session_attrs", Some("PGTARGETSESSIONATTRS")),
    ("load_balance_hosts", Some("PGLOADBALANCEHOSTS")),
];

fn use_of(keyword: &str) -> Option<Use> {
    Some(match keyword {
        "host"
        | "hostaddr"
        | "port"
        | "dbname"
        | "user"
        | "password"
        | "options"
        | "application_name"
        | "connect_timeout"
        | "keepalives"
        | "keepalives_idle"
        | "keepalives_interval"
        | "tcp_user_timeout"
        | "target_session_attrs"
        | "channel_binding"
        | "load_balance_hosts" => Use::Pass,
        "keepalives_count" => Use::PassAs("keepalives_retries"),
        "passfile"
        | "fallback_application_name"
        | "sslmode"
        | "requiressl"
        | "sslnegotiation"
        | "client_encoding"
        | "gssencmode"
        | "sslrootcert" => Use::Own,
        "sslcompression"
        | "sslcert"
        | "sslkey"
        | "sslpassword"
        | "sslcertmode"
        | "sslcrl"
        | "sslcrldir"
        | "sslsni"
        | "ssl_min_protocol_version"
        | "ssl_max_protocol_version"
        | "krbsrvname"
        | "gsslib"
        | "gssdelegation" => Use::Inert,
        "service" => Use::Unsupported(
            "connection service files are not read by ativo-backup; give the service's host, port, dbname and user instead",
        ),
        "requirepeer" => {
            Use::Unsupported("ativo-backup cannot check the server process's user on a socket; leave requirepeer out")
        }
        "require_auth" => Use::Unsupported(
            "ativo-backup cannot restrict the authentication methods; leave require_auth out (channel_binding=require is supported)",
        ),
        "replication" => Use::Unsupported("ativo-backup needs a normal connection, not a replication one"),
        _ => return None,
    })
}

/// What kind of store location a string is (see the module docs, "Path or connection string").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `postgres://` or `postgresql://`.
    Uri,
    /// `keyword=value ...` with a libpq keyword first.
    KeywordValue,
    /// Starts like a keyword/value string, with a word that is not a libpq keyword.
    UnknownKeyword,
    /// Anything else: a path.
    Path,
}

/// Tells a connection string from a path (see the module docs).
pub fn kind_of(s: &str) -> Kind {
    let lower = s.trim_start().to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        return Kind::Uri;
    }
    let trimmed = s.trim_start();
    let word_len = trimmed.bytes().take_while(|b| b.is_ascii_alphabetic() || *b == b'_').count();
    if word_len == 0 || !trimmed[word_len..].trim_start_matches([' ', '\t']).starts_with('=') {
        return Kind::Path;
    }
    if use_of(&trimmed[..word_len]).is_some() { Kind::KeywordValue } else { Kind::UnknownKeyword }
}

/// Where the password of a connection came from: said in messages, never the password itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordFrom {
    /// The connection string.
    ConnectionString,
    /// `PGPASSWORD`.
    Environment,
    /// A line of this password file.
    File(PathBuf),
}

/// A PostgreSQL connection, resolved as libpq would resolve it (see the module docs): the
/// string, then the environment, then the password file. Its `Debug` and [`describe`] never
/// show the password.
///
/// [`describe`]: PgConnection::describe
#[derive(Clone)]
pub struct PgConnection {
    /// The final settings by libpq keyword, password included.
    settings: BTreeMap<String, String>,
    /// Where the password came from, if there is one.
    password_from: Option<PasswordFrom>,
    /// What someone reading a connection failure should also know (an ignored password file).
    notes: Vec<String>,
    /// The settings as the `postgres` crate takes them.
    config: tokio_postgres::Config,
}

impl PartialEq for PgConnection {
    fn eq(&self, other: &Self) -> bool {
        self.settings == other.settings && self.password_from == other.password_from
    }
}

impl Eq for PgConnection {}

impl std::fmt::Debug for PgConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConnection")
            .field("describe", &self.describe())
            .field("password_from", &self.password_from)
            .finish()
    }
}

/// The environment a connection string is resolved in: `PG*` variables and `HOME`.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process's environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn bad(why: impl Into<String>) -> StoreError {
    StoreError::BadLocation(why.into())
}

impl PgConnection {
    /// Parses a URI or keyword/value string and resolves it in the process's environment.
    ///
    /// # Errors
    ///
    /// [`StoreError::BadLocation`] when it is not a valid connection string, or asks for what
    /// this build does not do (TLS...); the message names the keyword, never a value.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        Self::parse_in(s, &process_env)
    }

    /// [`PgConnection::parse`] in the environment `env` (for tests, and callers with their own).
    ///
    /// # Errors
    ///
    /// As [`PgConnection::parse`].
    pub fn parse_in(s: &str, env: Env<'_>) -> Result<Self, StoreError> {
        let given = match kind_of(s) {
            Kind::Uri => uri_pairs(s.trim())?,
            Kind::KeywordValue => keyword_value_pairs(s)?,
            Kind::UnknownKeyword | Kind::Path => {
                return Err(bad("it is neither a postgres:// URI nor a keyword=value connection string"));
            }
        };
        let mut settings = BTreeMap::new();
        for (keyword, value) in given {
            if use_of(&keyword).is_none() {
                return Err(bad(format!("`{}` is not a libpq connection keyword", printable_keyword(&keyword))));
            }
            // An empty value means the default, as in libpq.
            if value.is_empty() {
                settings.remove(&keyword);
            } else {
                settings.insert(keyword, value);
            }
        }
        let mut password_from = settings.contains_key("password").then_some(PasswordFrom::ConnectionString);
        for (keyword, var) in KEYWORDS {
            if let Some(var) = var
                && !settings.contains_key(*keyword)
                && let Some(value) = env(var).filter(|v| !v.is_empty())
            {
                if *keyword == "password" {
                    password_from = Some(PasswordFrom::Environment);
                }
                settings.insert((*keyword).to_owned(), value);
            }
        }
        refuse_what_needs_tls(&settings)?;
        for (keyword, value) in &settings {
            if let Some(Use::Unsupported(why)) = use_of(keyword) {
                return Err(bad(format!("`{keyword}` is set: {why}")));
            }
            if keyword == "target_session_attrs" && !matches!(value.as_str(), "any" | "read-write" | "read-only") {
                return Err(bad(
                    "target_session_attrs supports any, read-write and read-only here (not primary, standby or prefer-standby)",
                ));
            }
            if keyword == "client_encoding"
                && !matches!(value.to_ascii_lowercase().replace('-', "").as_str(), "utf8" | "unicode" | "auto")
            {
                return Err(bad("client_encoding must be UTF8 (ativo-backup reads and writes UTF-8 text only)"));
            }
        }
        let mut notes = Vec::new();
        if !settings.contains_key("password")
            && let Some((password, file)) = password_from_file(&settings, env, &mut notes)
        {
            settings.insert("password".to_owned(), password);
            password_from = Some(PasswordFrom::File(file));
        }
        let config = to_config(&settings)?;
        Ok(PgConnection { settings, password_from, notes, config })
    }

    /// The connection as `postgres://user@host:port,host:port/dbname`, with `?options=...` when
    /// options are set (a schema in the search path tells one store from another): a valid URI
    /// without the password, and the only way a connection is ever shown. Every part is
    /// percent-encoded outside letters, digits and `-._~`, so no control character and no
    /// separator of the form is ever printed raw.
    pub fn describe(&self) -> String {
        let mut text = String::from("postgres://");
        text.push_str(&enc(&self.user()));
        text.push('@');
        let hosts: Vec<String> = self
            .targets()
            .iter()
            .map(|(host, port)| {
                let host = if host.contains(':') && !host.starts_with('/') { format!("[{host}]") } else { enc(host) };
                format!("{host}:{port}")
            })
            .collect();
        text.push_str(&hosts.join(","));
        text.push('/');
        text.push_str(&enc(&self.dbname()));
        if let Some(options) = self.settings.get("options") {
            text.push_str("?options=");
            text.push_str(&enc(options));
        }
        text
    }

    /// The user name: given, or the OS user, as libpq does.
    pub fn user(&self) -> String {
        self.settings
            .get("user")
            .cloned()
            .unwrap_or_else(|| self.config.get_user().map_or_else(crate::store::current_os_user, str::to_owned))
    }

    /// The database name: given, or the user name, as the server does.
    pub fn dbname(&self) -> String {
        self.settings.get("dbname").cloned().unwrap_or_else(|| self.user())
    }

    /// Every `(host, port)` tried in order: a host name, an address or a socket directory.
    pub fn targets(&self) -> Vec<(String, u16)> {
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(dir) => dir.display().to_string(),
            })
            .collect();
        let hosts = if hosts.is_empty() {
            self.config.get_hostaddrs().iter().map(ToString::to_string).collect()
        } else {
            hosts
        };
        let ports = self.config.get_ports();
        hosts
            .into_iter()
            .enumerate()
            .map(|(i, h)| (h, ports.get(i).or_else(|| ports.first()).copied().unwrap_or(5432)))
            .collect()
    }

    /// The password, if any: for scrubbing it from what a server or library says.
    pub(crate) fn password(&self) -> Option<&str> {
        self.settings.get("password").map(String::as_str)
    }

    /// Where the password came from.
    pub fn password_from(&self) -> Option<&PasswordFrom> {
        self.password_from.as_ref()
    }

    /// What a connection failure should also tell (an ignored password file and why).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The settings as the `postgres` crate takes them.
    pub(crate) fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }
}

/// A keyword for a message: only letters, digits and underscores, at most 40 of them.
fn printable_keyword(keyword: &str) -> String {
    if keyword.len() <= 40 && keyword.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        keyword.to_owned()
    } else {
        "(a keyword that is not shown)".to_owned()
    }
}

/// Percent-encodes everything but letters, digits and `-._~`.
fn enc(s: &str) -> String {
    const PART: &AsciiSet = &CONTROLS
        .add(b' ')
        .add(b'!')
        .add(b'"')
        .add(b'#')
        .add(b'$')
        .add(b'%')
        .add(b'&')
        .add(b'\'')
        .add(b'(')
        .add(b')')
        .add(b'*')
        .add(b'+')
        .add(b',')
        .add(b'/')
        .add(b':')
        .add(b';')
        .add(b'<')
        .add(b'=')
        .add(b'>')
        .add(b'?')
        .add(b'@')
        .add(b'[')
        .add(b'\\')
        .add(b']')
        .add(b'^')
        .add(b'`')
        .add(b'{')
        .add(b'|')
        .add(b'}');
    utf8_percent_encode(s, PART).to_string()
}

/// Percent-decodes one part of a URI; `what` names it in the error.
fn dec(s: &str, what: &str) -> Result<String, StoreError> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| bad(format!("the {what} of the postgres URI is not UTF-8 once percent-decoded")))
}

/// The keyword/value pairs of a libpq URI, in libpq's order of precedence (later wins).
fn uri_pairs(s: &str) -> Result<Vec<(String, String)>, StoreError> {
    let rest = s.split_once("://").map_or("", |(_, rest)| rest);
    let unencoded_at = rest.matches('@').count();
    if unencoded_at > 1 {
        return Err(bad(
            "the postgres URI has more than one '@': percent-encode '@' as %40 in the user name, the password and parameter values",
        ));
    }
    let mut pairs = Vec::new();
    // libpq: the user info runs to the first '@', when that comes before the first '/'.
    let rest = match rest.find(['@', '/']) {
        Some(i) if rest.as_bytes()[i] == b'@' => {
            let (user, password) = match rest[..i].split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (&rest[..i], None),
            };
            pairs.push(("user".to_owned(), dec(user, "user name")?));
            if let Some(p) = password {
                pairs.push(("password".to_owned(), dec(p, "password")?));
            }
            &rest[i + 1..]
        }
        _ => rest,
    };
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (hostspec, rest) = rest.split_at(host_end);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.contains('@') {
        return Err(bad(
            "the database name in the postgres URI holds an '@': write it as %40 (if a password holds '/' or '@', percent-encode them there)",
        ));
    }
    if !hostspec.is_empty() {
        let (mut hosts, mut ports) = (Vec::new(), Vec::new());
        for chunk in hostspec.split(',') {
            let (host, port) = if let Some(inner) = chunk.strip_prefix('[') {
                let (addr, after) = inner
                    .split_once(']')
                    .ok_or_else(|| bad("an IPv6 address in the postgres URI lacks its closing ']'"))?;
                let port = match after {
                    "" => None,
                    p => Some(p.strip_prefix(':').ok_or_else(|| bad("unexpected text after an IPv6 address"))?),
                };
                (addr.to_owned(), port)
            } else {
                match chunk.split_once(':') {
                    Some((h, p)) => (dec(h, "host")?, Some(p)),
                    None => (dec(chunk, "host")?, None),
                }
            };
            hosts.push(host);
            ports.push(port.map(|p| dec(p, "port")).transpose()?.unwrap_or_default());
        }
        if hosts.iter().any(|h| !h.is_empty()) {
            pairs.push(("host".to_owned(), hosts.join(",")));
        }
        if ports.iter().any(|p| !p.is_empty()) {
            pairs.push(("port".to_owned(), ports.join(",")));
        }
    }
    if let Some(db) = path.strip_prefix('/')
        && !db.is_empty()
    {
        pairs.push(("dbname".to_owned(), dec(db, "database name")?));
    }
    for param in query.into_iter().flat_map(|q| q.split('&')).filter(|p| !p.is_empty()) {
        let (key, value) = param
            .split_once('=')
            .ok_or_else(|| bad("a parameter of the postgres URI has no '=' (write name=value)"))?;
        pairs.push((dec(key, "parameter name")?, dec(value, "parameter value")?));
    }
    Ok(pairs)
}

/// The pairs of a keyword/value string (libpq's grammar; see the module docs).
fn keyword_value_pairs(s: &str) -> Result<Vec<(String, String)>, StoreError> {
    let mut pairs = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut keyword = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            keyword.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(bad(format!(
                "`{}` in the connection string is not followed by '=' (write keyword=value, quote values with spaces: 'a b')",
                printable_keyword(&keyword)
            )));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => {
                        return Err(bad(format!(
                            "the quoted value of `{}` in the connection string has no closing quote",
                            printable_keyword(&keyword)
                        )));
                    }
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((keyword, value));
    }
}

/// Refuses settings that ask for an encrypted connection (see the module docs).
fn refuse_what_needs_tls(settings: &BTreeMap<String, String>) -> Result<(), StoreError> {
    let why = "this build of ativo-backup connects to PostgreSQL without TLS and will not send the password and the configuration in clear text when encryption was asked for; use sslmode=prefer or disable on a trusted network or through the server's socket directory (host=/var/run/postgresql), or an SSH tunnel";
    let sslmode = settings.get("sslmode").map(String::as_str);
    match sslmode {
        None | Some("disable" | "allow" | "prefer") => {}
        Some("require" | "verify-ca" | "verify-full") => {
            return Err(bad(format!("sslmode={} asks for TLS: {why}", sslmode.unwrap_or_default())));
        }
        Some(_) => return Err(bad("sslmode must be disable, allow, prefer, require, verify-ca or verify-full")),
    }
    if sslmode.is_none() && settings.get("requiressl").is_some_and(|v| v.trim() == "1") {
        return Err(bad(format!("requiressl=1 asks for TLS: {why}")));
    }
    if sslmode.is_none() && settings.get("sslrootcert").is_some_and(|v| v == "system") {
        return Err(bad(format!("sslrootcert=system makes libpq verify the server's certificate: {why}")));
    }
    match settings.get("sslnegotiation").map(String::as_str) {
        None | Some("postgres") => {}
        Some("direct") => return Err(bad(format!("sslnegotiation=direct asks for TLS: {why}"))),
        Some(_) => return Err(bad("sslnegotiation must be postgres or direct")),
    }
    match settings.get("gssencmode").map(String::as_str) {
        None | Some("disable" | "prefer") => Ok(()),
        Some("require") => Err(bad(
            "gssencmode=require asks for GSSAPI encryption, which this build of ativo-backup does not do; use gssencmode=prefer or disable",
        )),
        Some(_) => Err(bad("gssencmode must be disable, prefer or require")),
    }
}

/// The settings as a `tokio_postgres::Config`: the keywords the crate knows, quoted into one
/// keyword/value string for its parser, then the defaults that keep waits bounded.
fn to_config(settings: &BTreeMap<String, String>) -> Result<tokio_postgres::Config, StoreError> {
    let mut text = String::new();
    for (keyword, value) in settings {
        let name = match use_of(keyword) {
            Some(Use::Pass) => keyword.as_str(),
            Some(Use::PassAs(name)) => name,
            _ => continue,
        };
        {
            let quoted = value.replace('\\', "\\\\").replace('\'', "\\'");
            text.push_str(&format!("{name}='{quoted}' "));
        }
    }
    let mut config: tokio_postgres::Config = text.parse().map_err(|e: tokio_postgres::Error| {
        // The crate's messages name the option, never its value ("invalid value for option
        // `port`"); the cause holds what is wrong.
        let cause = std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default();
        bad(format!("{e}: {cause}"))
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name(
            settings.get("fallback_application_name").map_or(DEFAULT_APPLICATION_NAME, String::as_str),
        );
    }
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        let port = config.get_ports().first().copied().unwrap_or(5432);
        match default_socket_dir(port) {
            Some(dir) => config.host_path(dir),
            None => config.host("localhost"),
        };
    }
    Ok(config)
}

/// Where libpq builds look for the server's socket by default (Debian's and upstream's), if
/// one holds the socket of `port`; else a connection without a host goes to `localhost`.
fn default_socket_dir(port: u16) -> Option<&'static Path> {
    ["/var/run/postgresql", "/run/postgresql", "/tmp"]
        .into_iter()
        .map(Path::new)
        .find(|dir| cfg!(unix) && dir.join(format!(".s.PGSQL.{port}")).exists())
}

/// The password for the connection from the password file, with the file it came from; notes
/// why a file was ignored.
fn password_from_file(
    settings: &BTreeMap<String, String>,
    env: Env<'_>,
    notes: &mut Vec<String>,
) -> Option<(String, PathBuf)> {
    let file = match settings.get("passfile") {
        Some(f) => PathBuf::from(f),
        None => PathBuf::from(env("HOME").filter(|h| !h.is_empty())?).join(".pgpass"),
    };
    let meta = std::fs::metadata(&file).ok()?;
    if !meta.is_file() {
        notes.push(format!("password file {} is not a plain file and was ignored", file.display()));
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            notes.push(format!(
                "password file {} was ignored because its group or others have access; permissions should be u=rw (chmod 0600), as libpq requires",
                file.display()
            ));
            return None;
        }
    }
    let text = std::fs::read_to_string(&file).ok()?;
    let user = settings.get("user").cloned().unwrap_or_else(crate::store::current_os_user);
    let dbname = settings.get("dbname").cloned().unwrap_or_else(|| user.clone());
    let first = |key: &str| settings.get(key).and_then(|v| v.split(',').next()).filter(|v| !v.is_empty());
    let port = first("port").unwrap_or("5432").to_owned();
    let host = match first("host").or_else(|| first("hostaddr")) {
        Some(h) if h.starts_with('/') && default_socket_dir(port.parse().unwrap_or(5432)) != Some(Path::new(h)) => {
            h.to_owned()
        }
        Some(h) if !h.starts_with('/') => h.to_owned(),
        _ => "localhost".to_owned(),
    };
    text.lines().find_map(|line| {
        if line.starts_with('#') {
            return None;
        }
        let fields = pgpass_fields(line.trim_end_matches('\r'));
        let [h, p, d, u, password] = fields.as_slice() else { return None };
        let matches = |field: &str, value: &str| field == "*" || field == value;
        (matches(h, &host) && matches(p, &port) && matches(d, &dbname) && matches(u, &user))
            .then(|| (password.clone(), file.clone()))
    })
}

/// The fields of a password file line: `:` separates, `\` escapes the next character. The
/// password ends at its first unescaped `:`, as in libpq.
fn pgpass_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut().into_iter().for_each(|f| f.extend(chars.next())),
            ':' => fields.push(String::new()),
            c => fields.last_mut().into_iter().for_each(|f| f.push(c)),
        }
    }
    fields.truncate(5);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(s: &str) -> PgConnection {
        PgConnection::parse_in(s, &no_env).unwrap()
    }

    fn refused(s: &str) -> String {
        match PgConnection::parse_in(s, &no_env) {
            Err(StoreError::BadLocation(why)) => why,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn uris_and_keyword_value_strings_give_the_same_connection() {
        let uri =
            parse("postgresql://ativo:s%40cret%3Aw@db.example.com:5433/jira?application_name=node1&connect_timeout=5");
        let kv = parse(
            "host=db.example.com port=5433 user=ativo password='s@cret:w' dbname=jira application_name=node1 connect_timeout=5",
        );
        assert_eq!(uri, kv);
        assert_eq!(uri.password(), Some("s@cret:w"));
        assert_eq!(uri.describe(), "postgres://ativo@db.example.com:5433/jira");
        assert_eq!(uri.config().get_application_name(), Some("node1"));
        assert_eq!(uri.config().get_connect_timeout(), Some(&Duration::from_secs(5)));
        assert_eq!(uri.password_from(), Some(&PasswordFrom::ConnectionString));
    }

    #[test]
    fn every_part_of_a_uri_is_read_as_libpq_reads_it() {
        let c = parse(
            "postgres://u@h1:5432,[::1]:5434,h3/db%20x?password=p&keepalives_count=3&options=-csearch_path%3Dativo",
        );
        assert_eq!(c.targets(), [("h1".into(), 5432), ("::1".into(), 5434), ("h3".into(), 5432)]);
        assert_eq!(c.dbname(), "db x");
        assert_eq!(c.password(), Some("p"));
        assert_eq!(c.config().get_keepalives_retries(), Some(3));
        assert_eq!(c.describe(), "postgres://u@h1:5432,[::1]:5434,h3:5432/db%20x?options=-csearch_path%3Dativo");
        let socket = parse("postgresql://%2Fvar%2Frun%2Fpostgresql:5433/jira");
        assert_eq!(socket.targets(), [("/var/run/postgresql".into(), 5433)]);
        assert_eq!(
            socket.describe(),
            format!("postgres://{}@%2Fvar%2Frun%2Fpostgresql:5433/jira", enc(&socket.user()))
        );
        // The query overrides the authority, the last value wins, an empty value is the default.
        let c = parse("postgres://a@h/db?user=b&port=1&port=2&dbname=");
        assert_eq!((c.user(), c.targets()[0].1, c.dbname()), ("b".into(), 2, "b".into()));
        // Upper-case schemes, as before.
        assert_eq!(parse("POSTGRES://u@h/d").describe(), "postgres://u@h:5432/d");
    }

    #[test]
    fn a_password_is_never_described_nor_debugged() {
        for s in [
            "postgres://u:Sentinel-Pw@h/db",
            "postgres://u@h/db?password=Sentinel-Pw",
            "host=h user=u password=Sentinel-Pw dbname=db",
            "host=h user=u password='Sentinel-Pw' dbname=db",
        ] {
            let c = parse(s);
            assert_eq!(c.password(), Some("Sentinel-Pw"), "{s}");
            let shown = format!("{} {c:?}", c.describe());
            assert!(!shown.contains("Sentinel"), "{s}: {shown}");
        }
    }

    #[test]
    fn an_unencoded_at_in_the_password_is_refused_without_echoing_it() {
        for s in
            ["postgres://u:Sentinel@Pw@h/db", "postgres://u:Sen/tinel@h/db", "postgres://u:Sentinel@h/db?password=a@b"]
        {
            let why = refused(s);
            assert!(why.contains("%40") && !why.contains("Sentinel") && !why.contains("tinel"), "{s}: {why}");
        }
        // One '@' in a parameter after a path is libpq's reading too: no user info.
        assert_eq!(
            parse("postgres://h/db?application_name=me@node1").config().get_application_name(),
            Some("me@node1")
        );
    }

    #[test]
    fn keyword_value_strings_follow_libpqs_grammar() {
        let c = parse(r"  host = h  user=u password='it\'s a \\ pw' dbname=d\ b port=5433  ");
        assert_eq!(c.password(), Some(r"it's a \ pw"));
        assert_eq!(c.dbname(), "d b");
        assert_eq!(c.targets(), [("h".into(), 5433)]);
        for (s, says) in [
            ("host=h user", "`user` in the connection string is not followed by '='"),
            ("host=h password='Sentinel", "no closing quote"),
            ("host=h Sentinel-Pw=x", "not a libpq connection keyword"),
            ("host=h port=Sentinel", "invalid value for option `port`"),
        ] {
            let why = refused(s);
            assert!(why.contains(says) && !why.contains("Sentinel-"), "{s}: {why}");
        }
    }

    #[test]
    fn paths_and_connection_strings_are_told_apart() {
        assert_eq!(kind_of("postgres://h/db"), Kind::Uri);
        assert_eq!(kind_of("PostgreSQL://h/db"), Kind::Uri);
        assert_eq!(kind_of("host=db user=ativo password=x"), Kind::KeywordValue);
        assert_eq!(kind_of(" dbname = jira"), Kind::KeywordValue);
        assert_eq!(kind_of("hots=db user=ativo password=x"), Kind::UnknownKeyword);
        for path in ["ativo.db", "./host=x.db", "/var/a=b.db", "my store.db", "C:\\ativo.db", "x:y.db"] {
            assert_eq!(kind_of(path), Kind::Path, "{path}");
        }
    }

    #[test]
    fn the_environment_fills_in_what_the_string_leaves_out() {
        let env = |k: &str| {
            Some(
                match k {
                    "PGHOST" => "envhost",
                    "PGPORT" => "6543",
                    "PGUSER" => "envuser",
                    "PGDATABASE" => "envdb",
                    "PGPASSWORD" => "Sentinel-Env",
                    "PGAPPNAME" => "cron",
                    "PGCONNECT_TIMEOUT" => "7",
                    "PGSSLMODE" => "prefer",
                    "PGOPTIONS" => "-csearch_path=ativo",
                    _ => return None,
                }
                .to_owned(),
            )
        };
        let c = PgConnection::parse_in("postgres://", &env).unwrap();
        assert_eq!(c.describe(), "postgres://envuser@envhost:6543/envdb?options=-csearch_path%3Dativo");
        assert_eq!(c.password(), Some("Sentinel-Env"));
        assert_eq!(c.password_from(), Some(&PasswordFrom::Environment));
        assert_eq!(c.config().get_application_name(), Some("cron"));
        assert_eq!(c.config().get_connect_timeout(), Some(&Duration::from_secs(7)));
        // What the string says wins over the environment.
        let c = PgConnection::parse_in("host=h port=1 user=u password=p dbname=d", &env).unwrap();
        assert_eq!(c.describe(), "postgres://u@h:1/d?options=-csearch_path%3Dativo");
        assert_eq!(c.password_from(), Some(&PasswordFrom::ConnectionString));
        let tls = |k: &str| (k == "PGSSLMODE").then(|| "require".to_owned());
        let why = match PgConnection::parse_in("postgres://h/db", &tls) {
            Err(StoreError::BadLocation(why)) => why,
            other => panic!("{other:?}"),
        };
        assert!(why.contains("sslmode=require") && why.contains("without TLS"), "{why}");
    }

    #[test]
    fn defaults_keep_every_wait_bounded_and_name_the_tool() {
        let c = parse("postgres://u@h/db?connect_timeout=0");
        assert_eq!(c.config().get_connect_timeout(), Some(&DEFAULT_CONNECT_TIMEOUT));
        assert_eq!(c.config().get_application_name(), Some(DEFAULT_APPLICATION_NAME));
        let c = parse("postgres://u@h/db?fallback_application_name=nightly");
        assert_eq!(c.config().get_application_name(), Some("nightly"));
        assert!(!parse("dbname=x").targets().is_empty(), "a host is always chosen");
    }

    #[test]
    fn what_this_build_cannot_do_is_refused_by_name() {
        for (s, says) in [
            ("postgres://h/db?sslmode=verify-full", "sslmode=verify-full asks for TLS"),
            ("host=h sslmode=require", "sslmode=require asks for TLS"),
            ("host=h requiressl=1", "requiressl=1"),
            ("host=h sslrootcert=system", "sslrootcert=system"),
            ("host=h sslnegotiation=direct", "sslnegotiation=direct"),
            ("host=h gssencmode=require", "gssencmode=require"),
            ("host=h sslmode=bogus", "sslmode must be"),
            ("host=h service=prod", "`service` is set"),
            ("host=h requirepeer=postgres", "`requirepeer` is set"),
            ("host=h target_session_attrs=standby", "target_session_attrs"),
            ("host=h client_encoding=LATIN1", "client_encoding must be UTF8"),
        ] {
            assert!(refused(s).contains(says), "{s}: {}", refused(s));
        }
        for ok in ["host=h sslmode=prefer sslrootcert=/etc/ca.pem", "host=h sslmode=disable client_encoding=UTF8"] {
            parse(ok);
        }
    }

    #[test]
    fn the_password_file_is_read_as_libpq_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(
            &file,
            "# comment\nother:*:*:*:no\ndb.example.com:5433:jira:ativo:first\\:pw\n*:*:*:ativo:Sentinel-File\n",
        )
        .unwrap();
        let env_file = file.display().to_string();
        let env = |k: &str| (k == "PGPASSFILE").then(|| env_file.clone());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let c = PgConnection::parse_in("postgres://ativo@db.example.com:5433/jira", &env).unwrap();
        assert_eq!(c.password(), Some("first:pw"));
        assert_eq!(c.password_from(), Some(&PasswordFrom::File(file.clone())));
        let c = PgConnection::parse_in("host=elsewhere user=ativo", &env).unwrap();
        assert_eq!(c.password(), Some("Sentinel-File"));
        assert!(!format!("{} {c:?}", c.describe()).contains("Sentinel"));
        // A password in the string is never replaced by the file's.
        let c = PgConnection::parse_in("host=elsewhere user=ativo password=given", &env).unwrap();
        assert_eq!(c.password(), Some("given"));
        // No line for this user: no password.
        assert_eq!(PgConnection::parse_in("host=db user=someone", &env).unwrap().password(), None);
        // passfile in the string, and ~/.pgpass through HOME.
        let pass = format!("host=elsewhere user=ativo passfile={}", file.display());
        assert_eq!(parse(&pass).password(), Some("Sentinel-File"));
        std::fs::copy(&file, dir.path().join(".pgpass")).unwrap();
        let home = dir.path().display().to_string();
        let env = |k: &str| (k == "HOME").then(|| home.clone());
        assert_eq!(PgConnection::parse_in("host=x user=ativo", &env).unwrap().password(), Some("Sentinel-File"));

        #[cfg(unix)]
        {
            // libpq's permission rule: group or others may not have any access.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
            let c = parse(&pass);
            assert_eq!(c.password(), None);
            assert!(c.notes().iter().any(|n| n.contains("chmod 0600")), "{:?}", c.notes());
        }
    }

    #[test]
    fn password_file_lines_split_on_unescaped_colons() {
        assert_eq!(pgpass_fields(r"h:5432:d:u:p\:w\\x"), ["h", "5432", "d", "u", r"p:w\x"]);
        assert_eq!(pgpass_fields("h:5432:d:u:p:w"), ["h", "5432", "d", "u", "p"]);
        assert_eq!(pgpass_fields("h:5432:d").len(), 3);
    }
}
