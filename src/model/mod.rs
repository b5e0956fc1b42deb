//! The Ativo Programs configuration: every entity the archive carries, as serde + schemars types.
//!
//! This module owns the *shape* of the configuration and nothing else: no I/O, no digests, no
//! store. [`validate`] holds the semantic rules over a whole [`Configuration`], [`canonical`] the
//! one true byte form of it.
//!
//! # Serialized names are the format
//!
//! Every serialized name here is part of SPEC.md: renaming a field is a format change and needs a
//! `format_version` bump. Two conventions make the archive deterministic and let the writer emit
//! RFC 8785 (JCS) canonical JSON straight from these types, without re-sorting anything:
//!
//! * **fields are declared in the code-point order of their serialized names**, because serde
//!   writes them in declaration order (checked against an independent canonicaliser in tests);
//! * **every member is required, except `Option`s, which are omitted when absent and never
//!   `null`** (see [`non_null`]), so that decoding and re-encoding a document gives back the exact
//!   canonical bytes an independent script computes from the raw JSON.
//!
//! Jira object ids are strings (as Jira's REST API gives most of them): they are opaque to us,
//! differ per instance, and must survive any JSON tool without float rounding.

pub mod canonical;
pub mod validate;

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// The whole configuration of one Ativo Programs installation: the archive's `data` member.
///
/// Entity lists are kept in key order (see [`Configuration::sort`]); the admins are absent in a
/// migration-scoped archive, because a cloud site has other users and groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Configuration {
    /// Who may administer Ativo Programs. Present in `full` archives, absent in `migration` ones.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub admins: Option<Admins>,
    /// PI cadences, shared by programs, in `key` order.
    pub periods: Vec<Period>,
    /// Program increments (program x period), in `key` order.
    pub pis: Vec<Pi>,
    /// Programs (agile release trains), in `key` order.
    pub programs: Vec<Program>,
    /// App-wide settings.
    pub settings: Settings,
    /// Teams, in `key` order.
    pub teams: Vec<Team>,
}

/// Ativo Programs administrators: Jira users and groups.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Admins {
    /// Admin groups, in (`name`, `group_id`) order.
    pub groups: Vec<AdminGroup>,
    /// Admin users, in (`user_key`, `account_id`) order.
    pub users: Vec<AdminUser>,
}

/// A Jira user named as an Ativo admin. Server/Data Center identify users by user key, cloud by
/// account id; at least one of the two is present.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminUser {
    /// Cloud account id (cloud sites).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub account_id: Option<String>,
    /// Server/Data Center user key.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub user_key: Option<String>,
}

/// A Jira group named as an Ativo admin group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminGroup {
    /// Cloud group id (cloud sites); server groups are identified by name alone.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub group_id: Option<String>,
    /// Group name.
    pub name: String,
}

/// App settings (Jira > Settings > Manage apps > Ativo Programs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Jira issue link type ids that count as dependencies, sorted.
    pub dependency_link_type_ids: Vec<String>,
    /// Jira issue type ids that are features, sorted.
    pub feature_issue_type_ids: Vec<String>,
    /// Whether Ativo shares its custom fields with other projects.
    pub field_sharing: bool,
    /// Whether Jira Service Management tickets are included.
    pub include_jsm_tickets: bool,
    /// The Jira custom field holding story points, e.g. `customfield_10016`.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub story_points_field: Option<String>,
    /// Jira group names whose members are suppliers, sorted.
    pub supplier_groups: Vec<String>,
}

/// Metadata of a REST API token. Never a secret and never restored: the archive lists them in its
/// header so that an admin knows which tokens to create again after a restore.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    /// When the token was created, RFC 3339 UTC.
    pub created_at: String,
    /// Who created it (user key or account id).
    pub created_by: String,
    /// The token's name.
    pub name: String,
}

/// Kind of team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TeamType {
    /// Work comes from a Jira board (`board`).
    Board,
    /// Work comes from a scope filter (`scope`).
    Custom,
}

/// How a team plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TeamMode {
    /// Sprints; only SCRUM teams have sprint mappings.
    Scrum,
    /// Continuous flow.
    Kanban,
}

/// Unit of a team's estimates and capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Estimation {
    /// Story points.
    StoryPoints,
    /// Person days.
    ManDays,
    /// Number of issues.
    IssueCount,
}

/// A team. Its `key` is embedded in Jira custom-field values, so it is kept exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Team {
    /// Archived teams are kept but hidden.
    pub archived: bool,
    /// Jira board id (BOARD teams).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub board: Option<String>,
    /// Estimation unit.
    pub estimation: Estimation,
    /// Unique team key; Ativo suggests up to 10 upper-case letters and digits.
    pub key: String,
    /// Planning mode.
    pub mode: TeamMode,
    /// Display name.
    pub name: String,
    /// Scope filter (CUSTOM teams).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub scope: Option<ScopeFilter>,
    /// BOARD or CUSTOM.
    #[serde(rename = "type")]
    pub kind: TeamType,
}

/// Which issues a team, a program or a PI looks at: a Jira saved filter, or a manual filter.
///
/// Serialized externally tagged (`{"jira_filter": {...}}` / `{"manual": {...}}`) so that the
/// serialized form is canonical JSON by construction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ScopeFilter {
    /// A Jira saved filter.
    JiraFilter {
        /// Jira filter id.
        filter_id: String,
    },
    /// A list of projects plus field filters.
    Manual {
        /// Field filters, all of which apply.
        fields: Vec<FieldFilter>,
        /// Jira projects, in the order the admin chose.
        projects: Vec<ProjectRef>,
    },
}

/// A Jira project, by id and key (the key is for humans and for migration reports).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectRef {
    /// Jira project id.
    pub id: String,
    /// Jira project key.
    pub key: String,
}

/// Operator of a field filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FilterOperator {
    /// The field's value is one of the listed options or values.
    In,
}

/// A condition on a Jira field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldFilter {
    /// Jira field id, e.g. `customfield_10100` or `labels`.
    pub field_id: String,
    /// Always IN in this version.
    pub operator: FilterOperator,
    /// Option ids (select fields).
    pub option_ids: Vec<String>,
    /// Literal values (text, labels).
    pub values: Vec<String>,
}

/// What the features of a program are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FeatureMode {
    /// Features are Jira epics.
    Epics,
    /// Features are issues of the feature issue types in the settings.
    IssueTypes,
}

/// How a program finds its epics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EpicMode {
    /// Epics are the issues the epic filter selects.
    Filter,
    /// Epics are the parents of the teams' issues.
    TeamIssues,
}

/// A program's feature scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeatureScope {
    /// Which epics belong to the program.
    pub epic_filter: ScopeFilter,
    /// How epics are found.
    pub epic_mode: EpicMode,
    /// An extra filter on the features.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub issue_filter: Option<ScopeFilter>,
    /// What features are.
    pub mode: FeatureMode,
}

/// A program (agile release train).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Program {
    /// Archived programs are kept but hidden.
    pub archived: bool,
    /// Feature scope.
    pub feature_scope: FeatureScope,
    /// Unique program key; embedded in Jira field values.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Team keys, in the program's order.
    pub teams: Vec<String>,
}

/// A PI cadence: a sequence of sprints that programs plan in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// Archived periods are kept but hidden.
    pub archived: bool,
    /// Unique period key, e.g. `2024Q4`; embedded in Jira field values.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Sprints, in `index` order, indexes 1..n.
    pub sprints: Vec<Sprint>,
}

/// One sprint of a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sprint {
    /// Whether the sprint is over.
    pub completed: bool,
    /// Last day, inclusive.
    #[serde(deserialize_with = "strict_date")]
    pub end: NaiveDate,
    /// 1-based position in the period.
    pub index: u32,
    /// Optional display name.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub name: Option<String>,
    /// First day.
    #[serde(deserialize_with = "strict_date")]
    pub start: NaiveDate,
}

/// How a PI decides which features it contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FeatureInclusion {
    /// Features are added by hand.
    Manual,
    /// Features are the issues of `feature_filter`.
    JiraFilter,
    /// Features are those whose Jira Plans dates fall in the PI.
    JiraPlansDates,
}

/// A program increment: one program in one period, with its plans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pi {
    /// Capacity per team and sprint, in (`team`, `sprint`) order.
    pub capacity: Vec<Capacity>,
    /// Feature filter (for JIRA_FILTER inclusion, optional otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub feature_filter: Option<ScopeFilter>,
    /// How features are included.
    pub feature_inclusion: FeatureInclusion,
    /// `<program>-<period>`; embedded in Jira field values.
    pub key: String,
    /// Milestones, in (`order`, `name`) order.
    pub milestones: Vec<Milestone>,
    /// Whether objectives are mapped to epics.
    pub objective_epic_mapping: bool,
    /// Objectives, program level first, then per team, each in `order`.
    pub objectives: Vec<Objective>,
    /// Period key.
    pub period: String,
    /// Program key.
    pub program: String,
    /// Jira sprint per team and sprint index, in (`team`, `sprint`) order. SCRUM teams only.
    pub sprint_mappings: Vec<SprintMapping>,
    /// Team override, in order; absent means the program's teams.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub teams: Option<Vec<String>>,
}

/// A team's capacity in one sprint of a PI, in the team's estimation unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    /// Sprint index in the period.
    pub sprint: u32,
    /// Team key.
    pub team: String,
    /// Capacity, finite and >= 0 (a semantic rule, `capacity.value`); fractions allowed.
    pub value: f64,
}

/// Which Jira sprint a SCRUM team uses for one sprint of a PI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SprintMapping {
    /// Jira sprint id.
    pub jira_sprint_id: String,
    /// Sprint index in the period.
    pub sprint: u32,
    /// Team key.
    pub team: String,
}

/// Level of a PI objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ObjectiveLevel {
    /// A program objective (no team).
    Program,
    /// A team objective (names its team).
    Team,
}

/// A PI objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    /// Delivered business value, typically 1..10.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub business_value_delivered: Option<u32>,
    /// Planned business value, typically 1..10.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub business_value_planned: Option<u32>,
    /// Committed (as opposed to uncommitted/stretch).
    pub committed: bool,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub description: Option<String>,
    /// Mapped Jira epics.
    pub epics: Vec<IssueRef>,
    /// PROGRAM or TEAM.
    pub level: ObjectiveLevel,
    /// Position among the objectives of the same level and team.
    pub order: u32,
    /// Team key, for TEAM objectives only.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub team: Option<String>,
    /// Title.
    pub title: String,
}

/// A Jira issue, by id and key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueRef {
    /// Jira issue id.
    pub id: String,
    /// Jira issue key.
    pub key: String,
}

/// A PI milestone, on a date or at a sprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Milestone {
    /// The date (exactly one of `date` and `sprint`).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "strict_date_present")]
    pub date: Option<NaiveDate>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub description: Option<String>,
    /// Free classification, e.g. `release`.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub kind: Option<String>,
    /// Name.
    pub name: String,
    /// Position in the PI.
    pub order: u32,
    /// The sprint index (exactly one of `date` and `sprint`).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub sprint: Option<u32>,
    /// Team key, for a team milestone.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub team: Option<String>,
}

/// Deserializes an optional member that, when present, must not be `null`.
///
/// Absent and `null` would decode to the same `None`, and re-encoding would then drop a `null`
/// that an independent digest computation still sees; refusing `null` keeps the content digest
/// of a decoded archive equal to the digest of its raw JSON.
pub fn non_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Deserializes a date written exactly `YYYY-MM-DD`.
///
/// chrono alone also accepts `2024-1-5`, `+2024-01-05` and surrounding spaces, and would re-encode
/// them as `2024-01-05`: the content digest of the decoded data would then differ from the digest
/// an independent script computes over the raw text. Accepting only the canonical spelling keeps
/// the two equal; a date that does not exist (`2024-02-30`) is refused too.
pub fn strict_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
    use serde::de::Error as _;
    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    let well_formed = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    if !well_formed {
        return Err(D::Error::custom(format!("date {text:?} is not written YYYY-MM-DD")));
    }
    // The shape is checked above, so the three numbers parse; chrono says whether the day exists
    // (faster than its format parser, which this ran through for every milestone before).
    let number = |range: std::ops::Range<usize>| text[range].parse::<u32>().ok();
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    year.zip(month)
        .zip(day)
        .and_then(|((year, month), day)| NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day))
        .ok_or_else(|| D::Error::custom(format!("date {text:?} does not exist")))
}

/// [`strict_date`] for an optional member that, when present, must not be `null`.
pub fn strict_date_present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<NaiveDate>, D::Error> {
    strict_date(deserializer).map(Some)
}

/// Number of entities of each kind, as recorded in an archive header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    /// Admin groups.
    pub admin_groups: u64,
    /// Admin users.
    pub admin_users: u64,
    /// Capacity entries.
    pub capacity: u64,
    /// Milestones.
    pub milestones: u64,
    /// PI objectives.
    pub objectives: u64,
    /// Periods.
    pub periods: u64,
    /// PIs.
    pub pis: u64,
    /// Programs.
    pub programs: u64,
    /// Sprint mappings.
    pub sprint_mappings: u64,
    /// Sprints of all periods.
    pub sprints: u64,
    /// Teams.
    pub teams: u64,
}

impl std::ops::AddAssign for Counts {
    /// Adds the counts of another part of the same configuration.
    fn add_assign(&mut self, other: Counts) {
        self.admin_groups += other.admin_groups;
        self.admin_users += other.admin_users;
        self.capacity += other.capacity;
        self.milestones += other.milestones;
        self.objectives += other.objectives;
        self.periods += other.periods;
        self.pis += other.pis;
        self.programs += other.programs;
        self.sprint_mappings += other.sprint_mappings;
        self.sprints += other.sprints;
        self.teams += other.teams;
    }
}

impl Counts {
    /// Adds one PI and its children (for readers and writers that see one PI at a time).
    pub fn add_pi(&mut self, pi: &Pi) {
        self.pis += 1;
        self.capacity += pi.capacity.len() as u64;
        self.milestones += pi.milestones.len() as u64;
        self.objectives += pi.objectives.len() as u64;
        self.sprint_mappings += pi.sprint_mappings.len() as u64;
    }
}

impl Configuration {
    /// An empty configuration, as a freshly installed app has it (with an empty admin list).
    pub fn empty() -> Self {
        Configuration {
            admins: Some(Admins::default()),
            periods: Vec::new(),
            pis: Vec::new(),
            programs: Vec::new(),
            settings: Settings::default(),
            teams: Vec::new(),
        }
    }

    /// Counts the entities of each kind.
    pub fn counts(&self) -> Counts {
        let sum = |f: fn(&Pi) -> usize| self.pis.iter().map(f).sum::<usize>() as u64;
        Counts {
            admin_groups: self.admins.as_ref().map_or(0, |a| a.groups.len() as u64),
            admin_users: self.admins.as_ref().map_or(0, |a| a.users.len() as u64),
            capacity: sum(|p| p.capacity.len()),
            milestones: sum(|p| p.milestones.len()),
            objectives: sum(|p| p.objectives.len()),
            periods: self.periods.len() as u64,
            pis: self.pis.len() as u64,
            programs: self.programs.len() as u64,
            sprint_mappings: sum(|p| p.sprint_mappings.len()),
            sprints: self.periods.iter().map(|p| p.sprints.len()).sum::<usize>() as u64,
            teams: self.teams.len() as u64,
        }
    }

    /// The number of rows a store holds for this configuration: every entity, plus every element of the
    /// relational lists (program-team links, PI team overrides, objective epics, settings lists).
    /// This is the size measure the `large` and `huge` samples are tuned to, and the one the
    /// PostgreSQL store uses to choose its bulk path.
    pub fn row_count(&self) -> u64 {
        let len = |n: usize| n as u64;
        let admins = self.admins.as_ref().map_or(0, |a| len(a.groups.len() + a.users.len()));
        let programs: u64 = self.programs.iter().map(|p| 1 + len(p.teams.len())).sum();
        let periods: u64 = self.periods.iter().map(|p| 1 + len(p.sprints.len())).sum();
        let s = &self.settings;
        let settings =
            len(s.dependency_link_type_ids.len() + s.feature_issue_type_ids.len() + s.supplier_groups.len()) + 1;
        let pis: u64 = self.pis.iter().map(Pi::row_count).sum();
        admins + programs + periods + settings + len(self.teams.len()) + pis
    }

    /// Puts every list whose order carries no meaning into its canonical order (SPEC.md,
    /// "Entity order"). Lists whose order is meaningful (a program's teams, a PI's team override,
    /// a manual filter's projects) are left alone.
    pub fn sort(&mut self) {
        if let Some(admins) = &mut self.admins {
            admins.groups.sort_by(|a, b| (&a.name, &a.group_id).cmp(&(&b.name, &b.group_id)));
            admins.users.sort_by(|a, b| (&a.user_key, &a.account_id).cmp(&(&b.user_key, &b.account_id)));
        }
        let s = &mut self.settings;
        s.dependency_link_type_ids.sort();
        s.feature_issue_type_ids.sort();
        s.supplier_groups.sort();
        self.teams.sort_by(|a, b| a.key.cmp(&b.key));
        self.programs.sort_by(|a, b| a.key.cmp(&b.key));
        self.periods.sort_by(|a, b| a.key.cmp(&b.key));
        for period in &mut self.periods {
            period.sprints.sort_by_key(|s| s.index);
        }
        self.pis.sort_by(|a, b| a.key.cmp(&b.key));
        for pi in &mut self.pis {
            pi.sort_children();
        }
    }
}

/// The canonical position of an objective: program objectives first, then per team, by `order`.
pub(crate) fn objective_order(o: &Objective) -> (ObjectiveLevel, Option<&str>, u32) {
    (o.level, o.team.as_deref(), o.order)
}

impl Pi {
    /// The key a PI of `program` in `period` must have.
    pub fn key_for(program: &str, period: &str) -> String {
        format!("{program}-{period}")
    }

    /// Puts the PI's capacity, sprint mappings, objectives and milestones into canonical order
    /// (part of [`Configuration::sort`], usable on one PI at a time when streaming).
    pub fn sort_children(&mut self) {
        self.capacity.sort_by(|a, b| (&a.team, a.sprint).cmp(&(&b.team, b.sprint)));
        self.sprint_mappings.sort_by(|a, b| (&a.team, a.sprint).cmp(&(&b.team, b.sprint)));
        self.objectives.sort_by(|a, b| objective_order(a).cmp(&objective_order(b)));
        self.milestones.sort_by(|a, b| (a.order, &a.name).cmp(&(b.order, &b.name)));
    }

    /// The rows a store holds for this PI (see [`Configuration::row_count`]): the PI, its
    /// children, its team override's elements and its objectives' epics.
    pub fn row_count(&self) -> u64 {
        let overrides = self.teams.as_ref().map_or(0, Vec::len);
        let epics: usize = self.objectives.iter().map(|o| o.epics.len()).sum();
        (1 + self.capacity.len()
            + self.sprint_mappings.len()
            + self.objectives.len()
            + self.milestones.len()
            + overrides
            + epics) as u64
    }

    /// The PI's teams: its override if it has one, else its program's teams.
    pub fn effective_teams<'a>(&'a self, program: Option<&'a Program>) -> &'a [String] {
        match (&self.teams, program) {
            (Some(teams), _) => teams,
            (None, Some(p)) => &p.teams,
            (None, None) => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sprint(start: &str) -> Result<Sprint, serde_json::Error> {
        serde_json::from_str(&format!(r#"{{"completed":false,"end":"2024-01-14","index":1,"start":{start:?}}}"#))
    }

    #[test]
    fn dates_are_accepted_only_as_existing_yyyy_mm_dd() {
        assert!(sprint("2024-01-05").is_ok());
        assert!(sprint("2024-02-29").is_ok());
        for bad in
            ["2024-1-5", "+2024-01-05", " 2024-01-05", "2024-01-05 ", "2024/01/05", "2023-02-29", "2024-13-01", ""]
        {
            let err = sprint(bad).unwrap_err().to_string();
            assert!(err.contains("date"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn optional_members_refuse_null() {
        let err = serde_json::from_str::<AdminUser>(r#"{"account_id":null}"#).unwrap_err().to_string();
        assert!(err.contains("invalid type: null"), "{err}");
    }
}
