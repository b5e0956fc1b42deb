//! Semantic validation of a whole configuration: findings, never errors.
//!
//! This module owns the semantic rules a valid configuration meets beyond its JSON shape: keys
//! (well formed, unique per kind), references (every team, program and period a value names
//! exists, and PI children name teams of their PI), sprint numbering and dates, scope filters,
//! settings, admins, and the canonical order of every list that [`Configuration::sort`] orders.
//! SPEC.md, section 10 "Semantic rules", lists every code with its
//! severity and rule; the codes are stable, tools match on them.
//!
//! Findings are data (`severity`, stable `code`, JSON `pointer`, `message`, `hint`); only the
//! caller decides that errors mean failure. Warnings (team key shape, business value outside
//! 1..10, ...) never fail an operation. Whether admins are present at all depends on the archive's
//! scope, which is the archive layer's business, not this module's.
//!
//! Pointers are relative to the document root (`/data/teams/3/key`) and are built from serialized
//! member names and array indexes only, so no segment ever needs RFC 6901 escaping. Findings come
//! in document order: the model declares members in serialized-name order, so ordering pointers
//! segment by segment (indexes numerically) is exactly the order in which a reader meets them.
//!
//! Validation is linear in the size of the configuration (hash lookups, one pass per list), so
//! the largest configurations (a few hundred thousand rows) validate in well under a second.

use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::Serialize;

use super::{
    Admins, Configuration, FeatureInclusion, ObjectiveLevel, Period, Pi, Program, ScopeFilter, Settings, Team,
    TeamMode, TeamType, objective_order,
};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Breaks a rule: the archive is invalid.
    Error,
    /// Unusual but accepted.
    Warning,
}

/// One problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Stable code, e.g. `team.duplicate-key` (SPEC.md lists them all).
    pub code: &'static str,
    /// JSON pointer to the offending value, relative to the document root (`/data/...`).
    pub pointer: String,
    /// What is wrong, naming the values involved.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl Finding {
    /// Whether this finding makes the configuration invalid.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Longest key accepted, in characters. Keys end up in Jira field values such as
/// `PGRM1-2024Q1-TEAMLION`, which have to stay well below Jira's 255-character text limit.
pub const MAX_KEY_CHARS: usize = 64;

/// Longest team key that matches Ativo's own advice (`team.key-shape`).
const SUGGESTED_TEAM_KEY_CHARS: usize = 10;

/// Checks every semantic rule of SPEC.md over `config`; pointers are prefixed with `/data`.
///
/// The findings are in document order; an empty list means valid and unremarkable.
pub fn validate(config: &Configuration) -> Vec<Finding> {
    let validator = Validator::new(config);
    let mut pis = PiFindings::default();
    for (i, pi) in config.pis.iter().enumerate() {
        validator.check_pi(i, pi, &mut pis);
    }
    validator.finish(pis, config.pis.iter().map(|p| p.key.as_str()))
}

/// [`validate`] in pieces, for a reader that never holds all PIs at once (the streaming
/// validation of `archive::stream`): the skeleton (everything but the PIs) is given up front,
/// PIs one at a time, and their findings and keys at the end. The findings are exactly those of
/// [`validate`] over the skeleton with the PIs put back, in the same order.
///
/// Checking a PI only reads the validator, so several threads may check PIs at once, each into
/// a [`PiFindings`] of its own; appended in PI order, those are what one thread would have
/// collected.
pub struct Validator<'a> {
    skeleton: &'a Configuration,
    index: Index<'a>,
}

/// The findings of [`Validator::check_pi`], in the order the PIs were checked.
#[derive(Default)]
pub struct PiFindings(Findings);

impl PiFindings {
    /// Appends the findings of PIs that come after those already here.
    pub fn append(&mut self, mut later: PiFindings) {
        self.0.0.append(&mut later.0.0);
    }

    /// Whether any of these findings is an error.
    pub fn has_errors(&self) -> bool {
        self.0.0.iter().any(Finding::is_error)
    }
}

impl<'a> Validator<'a> {
    /// A validator of the configuration `skeleton` describes; its own `pis` are ignored.
    pub fn new(skeleton: &'a Configuration) -> Self {
        Validator { skeleton, index: Index::new(skeleton) }
    }

    /// Checks PI number `i` (its position in `/data/pis`) against the skeleton, into `out`.
    pub fn check_pi(&self, i: usize, pi: &Pi, out: &mut PiFindings) {
        check_pi(&mut out.0, i, pi, &self.index);
    }

    /// The findings, in document order, given those of every PI (in PI order) and the keys of
    /// all PIs in document order.
    pub fn finish<'k>(&self, pis: PiFindings, pi_keys: impl Iterator<Item = &'k str>) -> Vec<Finding> {
        let config = self.skeleton;
        // Emitted in the order `validate` always used, so that findings on the same pointer
        // (a key check and a per-PI check on `/data/pis/3/key`) keep their order in the stable sort.
        let mut out = Findings::default();
        if let Some(admins) = &config.admins {
            check_admins(&mut out, admins);
        }
        check_periods(&mut out, &config.periods);
        check_keys(&mut out, &PIS, pi_keys);
        out.0.extend(pis.0.0);
        check_programs(&mut out, &config.programs, &self.index);
        check_settings(&mut out, &config.settings);
        check_teams(&mut out, &config.teams);
        out.into_document_order()
    }
}

/// Findings as they are collected; sorted into document order at the end, so that each check
/// can run in whatever order its lookups need.
#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn error(&mut self, code: &'static str, pointer: String, message: String, hint: impl Into<String>) {
        self.push(Severity::Error, code, pointer, message, hint.into());
    }

    fn warning(&mut self, code: &'static str, pointer: String, message: String, hint: impl Into<String>) {
        self.push(Severity::Warning, code, pointer, message, hint.into());
    }

    fn push(&mut self, severity: Severity, code: &'static str, pointer: String, message: String, hint: String) {
        self.0.push(Finding { severity, code, pointer, message, hint });
    }

    fn into_document_order(mut self) -> Vec<Finding> {
        // Stable: findings on the same pointer keep the order in which the checks emitted them.
        self.0.sort_by(|a, b| document_order(&a.pointer, &b.pointer));
        self.0
    }
}

/// Orders two pointers as a reader meets them: segment by segment, array indexes numerically,
/// member names by code point (the order in which the model serializes them), parents first.
fn document_order(a: &str, b: &str) -> Ordering {
    let (mut xs, mut ys) = (a.split('/'), b.split('/'));
    loop {
        let ord = match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => match (x.parse::<u64>(), y.parse::<u64>()) {
                (Ok(m), Ok(n)) => m.cmp(&n),
                _ => x.cmp(y),
            },
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
}

/// What the reference checks look up: entities by key (first occurrence wins when a key is
/// duplicated; the duplicate itself is reported by the key check).
struct Index<'a> {
    teams: HashMap<&'a str, &'a Team>,
    programs: HashMap<&'a str, &'a Program>,
    /// The teams of each program in `programs`, built once rather than once per PI.
    program_teams: HashMap<&'a str, TeamSet<'a>>,
    periods: HashMap<&'a str, PeriodInfo>,
}

/// The facts about a period that PI children are checked against.
struct PeriodInfo {
    /// The sprint indexes, sorted and without repeats (a handful: searched, not hashed).
    sprints: Vec<u32>,
    /// First and last day of the period (earliest start, latest end), if it has sprints.
    span: Option<(NaiveDate, NaiveDate)>,
}

impl<'a> Index<'a> {
    fn new(config: &'a Configuration) -> Self {
        let mut teams = HashMap::with_capacity(config.teams.len());
        for team in &config.teams {
            teams.entry(team.key.as_str()).or_insert(team);
        }
        let mut programs = HashMap::with_capacity(config.programs.len());
        for program in &config.programs {
            programs.entry(program.key.as_str()).or_insert(program);
        }
        let mut periods = HashMap::with_capacity(config.periods.len());
        for period in &config.periods {
            periods.entry(period.key.as_str()).or_insert_with(|| PeriodInfo::new(period));
        }
        let program_teams = programs.iter().map(|(&key, &program)| (key, TeamSet::of(&program.teams))).collect();
        Index { teams, programs, program_teams, periods }
    }
}

impl PeriodInfo {
    fn new(period: &Period) -> Self {
        let mut sprints: Vec<u32> = period.sprints.iter().map(|s| s.index).collect();
        sprints.sort_unstable();
        sprints.dedup();
        let first = period.sprints.iter().map(|s| s.start).min();
        let last = period.sprints.iter().map(|s| s.end).max();
        PeriodInfo { sprints, span: first.zip(last) }
    }
}

/// Why a key is unusable, if it is.
fn key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        Some("is empty")
    } else if key.chars().any(char::is_whitespace) {
        Some("contains whitespace")
    } else if key.chars().count() > MAX_KEY_CHARS {
        Some("is longer than 64 characters")
    } else {
        None
    }
}

/// Codes and words for one kind of keyed entity.
struct KeyedKind {
    /// Member of `/data` holding the list.
    list: &'static str,
    /// What one entity is called in messages.
    noun: &'static str,
    invalid: &'static str,
    duplicate: &'static str,
}

const TEAMS: KeyedKind =
    KeyedKind { list: "teams", noun: "team", invalid: "team.key-invalid", duplicate: "team.duplicate-key" };
const PROGRAMS: KeyedKind =
    KeyedKind { list: "programs", noun: "program", invalid: "program.key-invalid", duplicate: "program.duplicate-key" };
const PERIODS: KeyedKind =
    KeyedKind { list: "periods", noun: "period", invalid: "period.key-invalid", duplicate: "period.duplicate-key" };
const PIS: KeyedKind = KeyedKind { list: "pis", noun: "PI", invalid: "pi.key-invalid", duplicate: "pi.duplicate-key" };

/// Checks that the keys of one kind are well formed and unique, and that the list is in key order.
fn check_keys<'a>(out: &mut Findings, kind: &KeyedKind, keys: impl Iterator<Item = &'a str>) {
    let KeyedKind { list, noun, .. } = kind;
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut previous: Option<&str> = None;
    let mut unsorted_reported = false;
    for (i, key) in keys.enumerate() {
        let pointer = format!("/data/{list}/{i}/key");
        if let Some(problem) = key_problem(key) {
            out.error(
                kind.invalid,
                pointer.clone(),
                format!("{noun} key {key:?} {problem}"),
                format!("give the {noun} a key of 1 to {MAX_KEY_CHARS} characters without whitespace"),
            );
        }
        match seen.entry(key) {
            Entry::Occupied(first) => out.error(
                kind.duplicate,
                pointer,
                format!("{noun} key {key:?} is used by /data/{list}/{} and /data/{list}/{i}", first.get()),
                format!("give each {noun} its own key, keeping the one that Jira issues already carry"),
            ),
            Entry::Vacant(slot) => {
                slot.insert(i);
            }
        }
        if let Some(prev) = previous
            && key < prev
            && !unsorted_reported
        {
            unsorted_reported = true;
            out.error(
                "order.unsorted",
                format!("/data/{list}/{i}"),
                format!("{list} are not in key order: {key:?} comes after {prev:?}"),
                format!("sort {list} by key (code-point order); archives keep canonical order so that equal configurations give equal bytes"),
            );
        }
        previous = Some(key);
    }
}

/// Reports the first element of `list` that sorts before its predecessor by `key` (one finding
/// per list: the rest of the list tells nothing new). Equal neighbours are not unsorted; where the
/// sort key must be unique, a duplicate check of its own reports them.
fn check_order<'a, T, K: Ord>(
    out: &mut Findings,
    pointer: &str,
    what: &str,
    by: &str,
    list: &'a [T],
    key: impl Fn(&'a T) -> K,
    show: impl Fn(&T) -> String,
) -> bool {
    let unsorted = list.windows(2).position(|pair| key(&pair[1]) < key(&pair[0]));
    let Some(i) = unsorted else { return true };
    {
        let (prev, cur) = (&list[i], &list[i + 1]);
        out.error(
            "order.unsorted",
            format!("{pointer}/{}", i + 1),
            format!("{what} are not in canonical order: {} comes after {}", show(cur), show(prev)),
            format!("sort {what} by {by}; archives keep canonical order so that equal configurations give equal bytes"),
        );
    }
    false
}

/// Finds, for each element of a list in turn, the first earlier element with the same key. In a
/// list sorted by that key (the normal case, which [`check_order`] tells) equal keys are
/// neighbours, so the start of the current run is the answer and no map is allocated or hashed.
enum FirstSeen<K> {
    Sorted(Option<(K, usize)>),
    Hashed(HashMap<K, usize>),
}

impl<K: Eq + std::hash::Hash> FirstSeen<K> {
    fn new(sorted: bool, len: usize) -> Self {
        if sorted { FirstSeen::Sorted(None) } else { FirstSeen::Hashed(HashMap::with_capacity(len)) }
    }

    /// Element `j` has `key`: the index of the first element with that key, if it is not `j`.
    fn see(&mut self, j: usize, key: K) -> Option<usize> {
        match self {
            FirstSeen::Sorted(run) => match run {
                Some((current, start)) if *current == key => Some(*start),
                _ => {
                    *run = Some((key, j));
                    None
                }
            },
            FirstSeen::Hashed(map) => match map.entry(key) {
                Entry::Occupied(first) => Some(*first.get()),
                Entry::Vacant(slot) => {
                    slot.insert(j);
                    None
                }
            },
        }
    }
}

fn check_admins(out: &mut Findings, admins: &Admins) {
    // The canonical order is (name, group id), as `Configuration::sort` applies it.
    check_order(
        out,
        "/data/admins/groups",
        "admin groups",
        "(name, group_id)",
        &admins.groups,
        |g| (g.name.as_str(), g.group_id.as_deref()),
        |g| format!("group {:?}", g.name),
    );
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, group) in admins.groups.iter().enumerate() {
        let pointer = format!("/data/admins/groups/{i}/name");
        if group.name.trim().is_empty() {
            out.error(
                "admin.group-name-empty",
                pointer.clone(),
                "admin group has an empty name".to_string(),
                "give the group's Jira name, or remove the entry",
            );
        }
        match names.entry(group.name.as_str()) {
            Entry::Occupied(first) => out.error(
                "admin.duplicate-group",
                pointer,
                format!(
                    "admin group {:?} is listed at /data/admins/groups/{} and /data/admins/groups/{i}",
                    group.name,
                    first.get()
                ),
                "list each admin group once",
            ),
            Entry::Vacant(slot) => {
                slot.insert(i);
            }
        }
    }

    check_order(
        out,
        "/data/admins/users",
        "admin users",
        "(user_key, account_id)",
        &admins.users,
        |u| (u.user_key.as_deref(), u.account_id.as_deref()),
        |u| format!("user {}", user_label(u.user_key.as_deref(), u.account_id.as_deref())),
    );
    let mut users: HashMap<(Option<&str>, Option<&str>), usize> = HashMap::new();
    for (i, user) in admins.users.iter().enumerate() {
        let pointer = format!("/data/admins/users/{i}");
        let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        if !present(&user.user_key) && !present(&user.account_id) {
            out.error(
                "admin.user-unidentified",
                pointer.clone(),
                "admin user has neither a user key nor an account id".to_string(),
                "give the user's user_key (Server/Data Center) or account_id (cloud), or remove the entry",
            );
        }
        match users.entry((user.user_key.as_deref(), user.account_id.as_deref())) {
            Entry::Occupied(first) => out.error(
                "admin.duplicate-user",
                pointer,
                format!(
                    "admin user {} is listed at /data/admins/users/{} and /data/admins/users/{i}",
                    user_label(user.user_key.as_deref(), user.account_id.as_deref()),
                    first.get()
                ),
                "list each admin user once",
            ),
            Entry::Vacant(slot) => {
                slot.insert(i);
            }
        }
    }
}

fn user_label(user_key: Option<&str>, account_id: Option<&str>) -> String {
    match (user_key, account_id) {
        (Some(k), _) => format!("{k:?}"),
        (None, Some(a)) => format!("{a:?}"),
        (None, None) => "(unidentified)".to_string(),
    }
}

fn check_periods(out: &mut Findings, periods: &[Period]) {
    check_keys(out, &PERIODS, periods.iter().map(|p| p.key.as_str()));
    for (i, period) in periods.iter().enumerate() {
        let pointer = format!("/data/periods/{i}");
        let key = &period.key;
        if period.sprints.is_empty() {
            out.warning(
                "period.no-sprints",
                format!("{pointer}/sprints"),
                format!("period {key:?} has no sprints"),
                "add the period's sprints; PIs in a period without sprints cannot hold capacity or mappings",
            );
        }
        check_order(
            out,
            &format!("{pointer}/sprints"),
            &format!("sprints of period {key:?}"),
            "index",
            &period.sprints,
            |s| s.index,
            |s| format!("sprint {}", s.index),
        );
        let misnumbered = period.sprints.iter().enumerate().find(|(j, s)| u64::from(s.index) != *j as u64 + 1);
        if let Some((j, sprint)) = misnumbered {
            out.error(
                "period.sprint-index",
                format!("{pointer}/sprints/{j}/index"),
                format!("sprint number {} of period {key:?} has index {}", j + 1, sprint.index),
                "number the sprints of a period 1, 2, 3, ... without gaps or repeats",
            );
        }
        for (j, sprint) in period.sprints.iter().enumerate() {
            if sprint.start > sprint.end {
                out.error(
                    "period.sprint-dates",
                    format!("{pointer}/sprints/{j}/start"),
                    format!(
                        "sprint {} of period {key:?} starts on {} after it ends on {}",
                        sprint.index, sprint.start, sprint.end
                    ),
                    "give the sprint a start date on or before its end date",
                );
            }
        }
        for (j, pair) in period.sprints.windows(2).enumerate() {
            let (prev, cur) = (&pair[0], &pair[1]);
            if cur.start <= prev.end {
                out.error(
                    "period.sprint-overlap",
                    format!("{pointer}/sprints/{}/start", j + 1),
                    format!(
                        "sprint {} of period {key:?} starts on {}, before sprint {} ends on {}",
                        cur.index, cur.start, prev.index, prev.end
                    ),
                    "make each sprint start after the previous one ends",
                );
            }
        }
    }
}

fn check_teams(out: &mut Findings, teams: &[Team]) {
    check_keys(out, &TEAMS, teams.iter().map(|t| t.key.as_str()));
    for (i, team) in teams.iter().enumerate() {
        let pointer = format!("/data/teams/{i}");
        let key = &team.key;
        match team.kind {
            TeamType::Board => {
                match team.board.as_deref() {
                    None => out.error(
                        "team.board-missing",
                        pointer.clone(),
                        format!("BOARD team {key:?} has no board"),
                        "set the team's Jira board id, or make it a CUSTOM team with a scope",
                    ),
                    Some(board) if board.trim().is_empty() => out.error(
                        "team.board-missing",
                        format!("{pointer}/board"),
                        format!("BOARD team {key:?} has an empty board id"),
                        "set the team's Jira board id, or make it a CUSTOM team with a scope",
                    ),
                    Some(_) => {}
                }
                if team.scope.is_some() {
                    out.warning(
                        "team.scope-on-board",
                        format!("{pointer}/scope"),
                        format!("BOARD team {key:?} has a scope, which Ativo ignores for BOARD teams"),
                        "remove the scope, or make the team CUSTOM",
                    );
                }
            }
            TeamType::Custom => {
                if team.scope.is_none() {
                    out.error(
                        "team.scope-missing",
                        pointer.clone(),
                        format!("CUSTOM team {key:?} has no scope"),
                        "give the team a scope filter (a Jira filter or projects), or make it a BOARD team",
                    );
                }
                if team.board.is_some() {
                    out.warning(
                        "team.board-on-custom",
                        format!("{pointer}/board"),
                        format!("CUSTOM team {key:?} has a board, which Ativo ignores for CUSTOM teams"),
                        "remove the board, or make the team BOARD",
                    );
                }
            }
        }
        let suggested =
            key.len() <= SUGGESTED_TEAM_KEY_CHARS && key.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if key_problem(key).is_none() && !suggested {
            out.warning(
                "team.key-shape",
                format!("{pointer}/key"),
                format!("team key {key:?} is not 1 to 10 upper-case letters and digits, as Ativo suggests"),
                "keep it if Jira issues already carry it; choose such a key for new teams",
            );
        }
        if let Some(scope) = &team.scope {
            check_scope(out, &format!("{pointer}/scope"), scope);
        }
    }
}

fn check_programs(out: &mut Findings, programs: &[Program], index: &Index) {
    check_keys(out, &PROGRAMS, programs.iter().map(|p| p.key.as_str()));
    for (i, program) in programs.iter().enumerate() {
        let pointer = format!("/data/programs/{i}");
        let scope = &program.feature_scope;
        check_scope(out, &format!("{pointer}/feature_scope/epic_filter"), &scope.epic_filter);
        if let Some(filter) = &scope.issue_filter {
            check_scope(out, &format!("{pointer}/feature_scope/issue_filter"), filter);
        }
        check_team_list(
            out,
            &format!("{pointer}/teams"),
            &format!("program {:?}", program.key),
            &program.teams,
            index,
            ("program.unknown-team", "program.duplicate-team"),
        );
    }
}

/// Checks an ordered list of team keys (a program's teams, a PI's override): each resolves,
/// none repeats.
fn check_team_list(
    out: &mut Findings,
    pointer: &str,
    owner: &str,
    teams: &[String],
    index: &Index,
    (unknown, duplicate): (&'static str, &'static str),
) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (j, team) in teams.iter().enumerate() {
        if !index.teams.contains_key(team.as_str()) {
            out.error(
                unknown,
                format!("{pointer}/{j}"),
                format!("{owner} lists team {team:?}, which does not exist"),
                "add the team, or remove it from the list",
            );
        }
        match seen.entry(team.as_str()) {
            Entry::Occupied(first) => out.error(
                duplicate,
                format!("{pointer}/{j}"),
                format!("{owner} lists team {team:?} twice, at {pointer}/{} and {pointer}/{j}", first.get()),
                "list each team once",
            ),
            Entry::Vacant(slot) => {
                slot.insert(j);
            }
        }
    }
}

/// The per-PI rules: references to program, period and teams, the key, the feature filter and
/// the PI's children. The uniqueness and order of PI keys are [`check_keys`]'s, over all PIs.
fn check_pi(out: &mut Findings, i: usize, pi: &Pi, index: &Index) {
    let pointer = format!("/data/pis/{i}");
    let key = &pi.key;
    let program = index.programs.get(pi.program.as_str()).copied();
    let period = index.periods.get(pi.period.as_str());
    if program.is_none() {
        out.error(
            "pi.unknown-program",
            format!("{pointer}/program"),
            format!("PI {key:?} belongs to program {:?}, which does not exist", pi.program),
            "add the program, or remove the PI",
        );
    }
    if period.is_none() {
        out.error(
            "pi.unknown-period",
            format!("{pointer}/period"),
            format!("PI {key:?} is in period {:?}, which does not exist", pi.period),
            "add the period, or remove the PI",
        );
    }
    // `<program>-<period>`, compared without building it.
    let key_matches = key.len() == pi.program.len() + 1 + pi.period.len()
        && key.starts_with(pi.program.as_str())
        && key.as_bytes().get(pi.program.len()) == Some(&b'-')
        && key.ends_with(pi.period.as_str());
    if !key_matches {
        let expected = Pi::key_for(&pi.program, &pi.period);
        out.error(
            "pi.key-mismatch",
            format!("{pointer}/key"),
            format!("PI of program {:?} in period {:?} has key {key:?}", pi.program, pi.period),
            format!("a PI's key is <program>-<period>: use {expected:?}"),
        );
    }
    if pi.feature_inclusion == FeatureInclusion::JiraFilter && pi.feature_filter.is_none() {
        out.error(
            "pi.feature-filter-missing",
            pointer.clone(),
            format!("PI {key:?} includes features by Jira filter but has no feature_filter"),
            "set the PI's feature filter, or choose another feature inclusion",
        );
    }
    if let Some(filter) = &pi.feature_filter {
        check_scope(out, &format!("{pointer}/feature_filter"), filter);
    }
    if let Some(teams) = &pi.teams {
        check_team_list(
            out,
            &format!("{pointer}/teams"),
            &format!("PI {key:?}"),
            teams,
            index,
            ("pi.unknown-team", "pi.duplicate-team"),
        );
    }
    // The PI's teams are only known when it has an override or its program exists; otherwise
    // the unknown program is the finding, and every child would only repeat it.
    let pi_teams = match (&pi.teams, program) {
        (Some(teams), _) => Some(TeamSet::of(teams)),
        (None, Some(program)) => index.program_teams.get(program.key.as_str()).map(TeamSet::borrowed),
        (None, None) => None,
    };
    let ctx = PiContext {
        pointer: &pointer,
        key,
        index,
        teams: pi_teams,
        period,
        period_key: &pi.period,
        last_team: Cell::new(None),
    };
    check_capacity(out, &ctx, pi);
    check_milestones(out, &ctx, pi);
    check_objectives(out, &ctx, pi);
    check_sprint_mappings(out, &ctx, pi);
}

/// A set of team keys that answers `contains` exactly: a short list is scanned (cheaper than
/// hashing, and no allocation per PI), a long one hashed.
enum TeamSet<'a> {
    Few(&'a [String]),
    Many(HashSet<&'a str>),
    Shared(&'a TeamSet<'a>),
}

impl<'a> TeamSet<'a> {
    /// Lists up to this long are scanned.
    const SCAN: usize = 16;

    fn of(teams: &'a [String]) -> Self {
        if teams.len() <= Self::SCAN {
            TeamSet::Few(teams)
        } else {
            TeamSet::Many(teams.iter().map(String::as_str).collect())
        }
    }

    fn borrowed(set: &'a TeamSet<'a>) -> Self {
        TeamSet::Shared(set)
    }

    fn contains(&self, team: &str) -> bool {
        match self {
            TeamSet::Few(teams) => teams.iter().any(|t| t == team),
            TeamSet::Many(set) => set.contains(team),
            TeamSet::Shared(set) => set.contains(team),
        }
    }
}

/// What the children of one PI are checked against.
struct PiContext<'a> {
    pointer: &'a str,
    key: &'a str,
    index: &'a Index<'a>,
    /// The PI's effective teams, when they are known.
    teams: Option<TeamSet<'a>>,
    period: Option<&'a PeriodInfo>,
    period_key: &'a str,
    /// The team [`PiContext::team`] found last, and whether it is one of the PI's teams: the
    /// rows of a list come grouped by team, so most rows ask for the team the previous one did.
    last_team: Cell<Option<(&'a Team, bool)>>,
}

impl<'a> PiContext<'a> {
    /// Checks that a child's team exists and is one of the PI's teams; returns the team if it
    /// exists. The pointer is only built when there is a finding: this runs for every row.
    fn team(
        &self,
        out: &mut Findings,
        pointer: impl FnOnce() -> String,
        what: &str,
        team: &str,
        (unknown, not_in_pi): (&'static str, &'static str),
    ) -> Option<&'a Team> {
        let cached = self.last_team.get().filter(|(known, _)| known.key == team);
        let (found, in_pi) = match cached {
            Some((known, in_pi)) => (Some(known), in_pi),
            None => {
                let found = self.index.teams.get(team).copied();
                let in_pi = self.teams.as_ref().is_none_or(|teams| teams.contains(team));
                if let Some(known) = found {
                    self.last_team.set(Some((known, in_pi)));
                }
                (found, in_pi)
            }
        };
        if found.is_none() {
            out.error(
                unknown,
                pointer(),
                format!("{what} of PI {:?} names team {team:?}, which does not exist", self.key),
                format!("add the team, or remove the {what}"),
            );
        } else if !in_pi {
            out.error(
                not_in_pi,
                pointer(),
                format!("{what} of PI {:?} names team {team:?}, which is not one of the PI's teams", self.key),
                format!("add the team to the program (or to the PI's team override), or remove the {what}"),
            );
        }
        found
    }

    /// Checks that a sprint index exists in the PI's period (when the period is known).
    fn sprint(
        &self,
        out: &mut Findings,
        pointer: impl FnOnce() -> String,
        what: &str,
        sprint: u32,
        code: &'static str,
    ) {
        if let Some(period) = self.period
            && period.sprints.binary_search(&sprint).is_err()
        {
            out.error(
                code,
                pointer(),
                format!(
                    "{what} of PI {:?} refers to sprint {sprint}, which period {:?} does not have",
                    self.key, self.period_key
                ),
                format!("use a sprint of period {:?}, or remove the {what}", self.period_key),
            );
        }
    }
}

fn check_capacity(out: &mut Findings, ctx: &PiContext, pi: &Pi) {
    let pointer = format!("{}/capacity", ctx.pointer);
    let sorted = check_order(
        out,
        &pointer,
        &format!("capacity of PI {:?}", ctx.key),
        "(team, sprint)",
        &pi.capacity,
        |c| (c.team.as_str(), c.sprint),
        |c| format!("({:?}, sprint {})", c.team, c.sprint),
    );
    let mut seen: FirstSeen<(&str, u32)> = FirstSeen::new(sorted, pi.capacity.len());
    for (j, entry) in pi.capacity.iter().enumerate() {
        let here = || format!("{pointer}/{j}");
        ctx.team(
            out,
            || format!("{}/team", here()),
            "capacity",
            &entry.team,
            ("capacity.unknown-team", "capacity.team-not-in-pi"),
        );
        ctx.sprint(out, || format!("{}/sprint", here()), "capacity", entry.sprint, "capacity.unknown-sprint");
        if !entry.value.is_finite() || entry.value < 0.0 {
            out.error(
                "capacity.value",
                format!("{}/value", here()),
                format!(
                    "capacity of team {:?} in sprint {} of PI {:?} is {}",
                    entry.team, entry.sprint, ctx.key, entry.value
                ),
                "capacity is a finite number >= 0 in the team's estimation unit",
            );
        }
        if let Some(first) = seen.see(j, (entry.team.as_str(), entry.sprint)) {
            out.error(
                "capacity.duplicate",
                here(),
                format!(
                    "PI {:?} has two capacity entries for team {:?} in sprint {}: {pointer}/{} and {pointer}/{j}",
                    ctx.key, entry.team, entry.sprint, first
                ),
                "keep one capacity entry per team and sprint",
            );
        }
    }
}

fn check_sprint_mappings(out: &mut Findings, ctx: &PiContext, pi: &Pi) {
    let pointer = format!("{}/sprint_mappings", ctx.pointer);
    let sorted = check_order(
        out,
        &pointer,
        &format!("sprint mappings of PI {:?}", ctx.key),
        "(team, sprint)",
        &pi.sprint_mappings,
        |m| (m.team.as_str(), m.sprint),
        |m| format!("({:?}, sprint {})", m.team, m.sprint),
    );
    // The same Jira sprint id may appear for several teams: teams that share a board share its
    // sprints, so that is not checked.
    let mut seen: FirstSeen<(&str, u32)> = FirstSeen::new(sorted, pi.sprint_mappings.len());
    for (j, mapping) in pi.sprint_mappings.iter().enumerate() {
        let here = || format!("{pointer}/{j}");
        let team = ctx.team(
            out,
            || format!("{}/team", here()),
            "sprint mapping",
            &mapping.team,
            ("mapping.unknown-team", "mapping.team-not-in-pi"),
        );
        if let Some(team) = team
            && team.mode != TeamMode::Scrum
        {
            out.error(
                "mapping.not-scrum",
                format!("{}/team", here()),
                format!(
                    "PI {:?} maps a Jira sprint for KANBAN team {:?}; only SCRUM teams have sprints",
                    ctx.key, team.key
                ),
                "remove the mapping, or make the team SCRUM",
            );
        }
        ctx.sprint(out, || format!("{}/sprint", here()), "sprint mapping", mapping.sprint, "mapping.unknown-sprint");
        if mapping.jira_sprint_id.trim().is_empty() {
            out.error(
                "mapping.sprint-id-empty",
                format!("{}/jira_sprint_id", here()),
                format!(
                    "sprint mapping of team {:?} in sprint {} of PI {:?} has an empty Jira sprint id",
                    mapping.team, mapping.sprint, ctx.key
                ),
                "set the Jira sprint id, or remove the mapping",
            );
        }
        if let Some(first) = seen.see(j, (mapping.team.as_str(), mapping.sprint)) {
            out.error(
                "mapping.duplicate",
                here(),
                format!(
                    "PI {:?} maps team {:?} in sprint {} twice: {pointer}/{} and {pointer}/{j}",
                    ctx.key, mapping.team, mapping.sprint, first
                ),
                "keep one sprint mapping per team and sprint",
            );
        }
    }
}

fn check_objectives(out: &mut Findings, ctx: &PiContext, pi: &Pi) {
    let pointer = format!("{}/objectives", ctx.pointer);
    let sorted = check_order(
        out,
        &pointer,
        &format!("objectives of PI {:?}", ctx.key),
        "(level, team, order)",
        &pi.objectives,
        objective_order,
        |o| format!("{:?}", o.title),
    );
    let mut seen: FirstSeen<(ObjectiveLevel, Option<&str>, u32)> = FirstSeen::new(sorted, pi.objectives.len());
    for (j, objective) in pi.objectives.iter().enumerate() {
        let here = || format!("{pointer}/{j}");
        let title = &objective.title;
        for (field, value) in [
            ("business_value_delivered", objective.business_value_delivered),
            ("business_value_planned", objective.business_value_planned),
        ] {
            if let Some(value) = value
                && !(1..=10).contains(&value)
            {
                out.warning(
                    "objective.business-value",
                    format!("{}/{field}", here()),
                    format!("objective {title:?} of PI {:?} has {field} {value}, outside the usual 1..10", ctx.key),
                    "business values are usually 1 to 10; check the value",
                );
            }
        }
        match (objective.level, objective.team.as_deref()) {
            (ObjectiveLevel::Team, None) => out.error(
                "objective.team-missing",
                here(),
                format!("TEAM objective {title:?} of PI {:?} names no team", ctx.key),
                "name the objective's team, or make it a PROGRAM objective",
            ),
            (ObjectiveLevel::Team, Some(team)) => {
                ctx.team(
                    out,
                    || format!("{}/team", here()),
                    "objective",
                    team,
                    ("objective.unknown-team", "objective.team-not-in-pi"),
                );
            }
            (ObjectiveLevel::Program, Some(team)) => out.error(
                "objective.team-on-program",
                format!("{}/team", here()),
                format!("PROGRAM objective {title:?} of PI {:?} names team {team:?}", ctx.key),
                "remove the team, or make it a TEAM objective",
            ),
            (ObjectiveLevel::Program, None) => {}
        }
        if let Some(first) = seen.see(j, objective_order(objective)) {
            out.error(
                "objective.duplicate-order",
                format!("{}/order", here()),
                format!(
                    "objectives {pointer}/{} and {pointer}/{j} of PI {:?} share level, team and order {}",
                    first, ctx.key, objective.order
                ),
                "give each objective of a level and team its own order",
            );
        }
        if title.trim().is_empty() {
            out.error(
                "objective.title-empty",
                format!("{}/title", here()),
                format!("objective {} of PI {:?} has an empty title", here(), ctx.key),
                "give the objective a title",
            );
        }
    }
}

fn check_milestones(out: &mut Findings, ctx: &PiContext, pi: &Pi) {
    let pointer = format!("{}/milestones", ctx.pointer);
    let sorted = check_order(
        out,
        &pointer,
        &format!("milestones of PI {:?}", ctx.key),
        "(order, name)",
        &pi.milestones,
        |m| (m.order, m.name.as_str()),
        |m| format!("{:?} (order {})", m.name, m.order),
    );
    let mut seen: FirstSeen<(u32, &str)> = FirstSeen::new(sorted, pi.milestones.len());
    for (j, milestone) in pi.milestones.iter().enumerate() {
        let here = || format!("{pointer}/{j}");
        let name = &milestone.name;
        match (milestone.date, milestone.sprint) {
            (Some(_), Some(_)) | (None, None) => out.error(
                "milestone.date-or-sprint",
                here(),
                format!("milestone {name:?} of PI {:?} must have exactly one of a date and a sprint", ctx.key),
                "keep either the date or the sprint",
            ),
            _ => {}
        }
        if let (Some(date), Some((first, last))) = (milestone.date, ctx.period.and_then(|p| p.span))
            && (date < first || date > last)
        {
            out.warning(
                "milestone.date-outside-period",
                format!("{}/date", here()),
                format!(
                    "milestone {name:?} of PI {:?} is on {date}, outside period {:?} ({first} to {last})",
                    ctx.key, ctx.period_key
                ),
                "check the date; a milestone usually falls within its PI",
            );
        }
        if name.trim().is_empty() {
            out.error(
                "milestone.name-empty",
                format!("{}/name", here()),
                format!("milestone {} of PI {:?} has an empty name", here(), ctx.key),
                "give the milestone a name",
            );
        }
        if let Some(first) = seen.see(j, (milestone.order, name.as_str())) {
            out.error(
                "milestone.duplicate",
                here(),
                format!(
                    "PI {:?} has milestone {name:?} with order {} twice: {pointer}/{} and {pointer}/{j}",
                    ctx.key, milestone.order, first
                ),
                "remove the copy, or give it another order or name",
            );
        }
        if let Some(sprint) = milestone.sprint {
            ctx.sprint(out, || format!("{}/sprint", here()), "milestone", sprint, "milestone.unknown-sprint");
        }
        if let Some(team) = &milestone.team {
            ctx.team(
                out,
                || format!("{}/team", here()),
                "milestone",
                team,
                ("milestone.unknown-team", "milestone.team-not-in-pi"),
            );
        }
    }
}

fn check_settings(out: &mut Findings, settings: &Settings) {
    if let Some(field) = &settings.story_points_field
        && field.trim().is_empty()
    {
        out.error(
            "settings.story-points-field-empty",
            "/data/settings/story_points_field".to_string(),
            "the story points field is set but empty".to_string(),
            "set a Jira field id such as \"customfield_10016\", or leave the member out",
        );
    }
    let lists = [
        ("dependency_link_type_ids", &settings.dependency_link_type_ids),
        ("feature_issue_type_ids", &settings.feature_issue_type_ids),
        ("supplier_groups", &settings.supplier_groups),
    ];
    for (name, list) in lists {
        let pointer = format!("/data/settings/{name}");
        check_order(out, &pointer, name, "code-point order", list, |s| s.as_str(), |s| format!("{s:?}"));
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(list.len());
        for (j, value) in list.iter().enumerate() {
            match seen.entry(value.as_str()) {
                Entry::Occupied(first) => out.error(
                    "settings.duplicate-value",
                    format!("{pointer}/{j}"),
                    format!("{name} lists {value:?} twice, at {pointer}/{} and {pointer}/{j}", first.get()),
                    "list each value once",
                ),
                Entry::Vacant(slot) => {
                    slot.insert(j);
                }
            }
        }
    }
}

/// Checks a scope filter at `pointer` (a team's scope, a program's epic or issue filter, a PI's
/// feature filter).
fn check_scope(out: &mut Findings, pointer: &str, scope: &ScopeFilter) {
    match scope {
        ScopeFilter::JiraFilter { filter_id } => {
            if filter_id.trim().is_empty() {
                out.error(
                    "scope.filter-id-empty",
                    format!("{pointer}/jira_filter/filter_id"),
                    "Jira filter scope has an empty filter id".to_string(),
                    "set the id of the Jira saved filter",
                );
            }
        }
        ScopeFilter::Manual { fields, projects } => {
            if fields.is_empty() && projects.is_empty() {
                out.warning(
                    "scope.empty",
                    format!("{pointer}/manual"),
                    "manual scope names no project and no field filter".to_string(),
                    "add the projects (or field filters) the scope is meant to cover",
                );
            }
            for (j, field) in fields.iter().enumerate() {
                if field.field_id.trim().is_empty() {
                    out.error(
                        "scope.field-id-empty",
                        format!("{pointer}/manual/fields/{j}/field_id"),
                        "field filter has an empty field id".to_string(),
                        "set the Jira field id, e.g. \"labels\" or \"customfield_10100\"",
                    );
                }
                if field.option_ids.is_empty() && field.values.is_empty() {
                    out.error(
                        "scope.field-filter-empty",
                        format!("{pointer}/manual/fields/{j}"),
                        format!(
                            "field filter on {:?} lists no option id and no value, so it matches nothing",
                            field.field_id
                        ),
                        "add the option ids or values to match, or remove the field filter",
                    );
                }
            }
            let mut seen: HashMap<&str, usize> = HashMap::with_capacity(projects.len());
            for (j, project) in projects.iter().enumerate() {
                match seen.entry(project.id.as_str()) {
                    Entry::Occupied(first) => out.error(
                        "scope.duplicate-project",
                        format!("{pointer}/manual/projects/{j}"),
                        format!(
                            "project {} ({:?}) is listed twice, at {pointer}/manual/projects/{} and {pointer}/manual/projects/{j}",
                            project.id,
                            project.key,
                            first.get()
                        ),
                        "list each project once",
                    ),
                    Entry::Vacant(slot) => {
                        slot.insert(j);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
