//! The backend-neutral half of the relational store: which tables hold the configuration, which
//! columns they have, in which order rows are inserted and deleted, how a [`Configuration`] becomes
//! rows and rows become a [`Configuration`] again, and the `SELECT`s that give canonical order.
//!
//! A backend (`sqlite.rs`, later `postgres.rs`) owns only connections, transactions, locking, DDL
//! (its migration files) and the bulk-insert mechanics: it implements [`RowSink`] and
//! [`RowSource`] and calls [`ConfigWriter`] (through [`RowsOut`] or [`write_configuration`]) /
//! [`read_configuration`]. Rows reach a [`RowSink`] grouped by table within each step of the
//! writer (everything but the PIs, then each batch of PIs), tables in [`CONFIG_TABLES`] order
//! (parents first), so a backend may batch them (PostgreSQL `COPY`, SQLite cached prepared
//! statements).
//!
//! # Conventions both backends' DDL follow
//!
//! * Natural keys (`team_key`, `program_key`, `period_key`, `pi_key`) are primary keys and the
//!   targets of foreign keys. Canonical order of key-ordered entities comes from `ORDER BY key`,
//!   which needs code-point order: SQLite's default `BINARY` collation compares UTF-8 bytes (the
//!   same order as Rust's `str`); PostgreSQL key columns must be declared `COLLATE "C"`.
//! * Lists whose order matters, or whose canonical sort can leave ties (objectives, milestones),
//!   carry an explicit 0-based `position`; the writer numbers rows in the order of the sorted
//!   configuration, so reading `ORDER BY position` gives back exactly what was written.
//! * Booleans are [`Value::Bool`]: `INTEGER` 0/1 with a `CHECK` in SQLite, `BOOLEAN` in PostgreSQL.
//!   `u32` members are `INTEGER`/`BIGINT` with a range `CHECK`; dates are `TEXT` `YYYY-MM-DD`;
//!   capacity is a double (`REAL` / `DOUBLE PRECISION`), so it round-trips bit-exactly.
//! * Scope filters live in one `scope_filter` table with surrogate ids that the writer assigns
//!   (1, 2, ... in a fixed traversal), so no sequence is needed and ids are deterministic.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use crate::error::StoreError;
use crate::host::{Deployment, HostIdentity};
use crate::model::{
    AdminGroup, AdminUser, Admins, ApiToken, Capacity, Configuration, EpicMode, Estimation, FeatureInclusion,
    FeatureMode, FeatureScope, FieldFilter, FilterOperator, IssueRef, Milestone, Objective, ObjectiveLevel, Period, Pi,
    Program, ProjectRef, ScopeFilter, Settings, Sprint, SprintMapping, Team, TeamMode, TeamType,
};

use super::Operation;
use crate::sink::ConfigSink;

/// One value of a row, borrowed from the configuration being written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Real(f64),
    Text(&'a str),
}

fn opt_text(v: &Option<String>) -> Value<'_> {
    v.as_deref().map_or(Value::Null, Value::Text)
}

fn opt_u32(v: Option<u32>) -> Value<'static> {
    v.map_or(Value::Null, |n| Value::Int(i64::from(n)))
}

fn int(n: u32) -> Value<'static> {
    Value::Int(i64::from(n))
}

fn pos(i: usize) -> Value<'static> {
    // A list longer than i64::MAX cannot exist in memory.
    Value::Int(i as i64)
}

/// A table: its name, its columns in the order rows carry them, and the `ORDER BY` that gives
/// canonical order when it is read back.
#[derive(Debug)]
pub(crate) struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    pub order_by: &'static str,
}

impl Table {
    /// `SELECT <columns> FROM <name> ORDER BY <order_by>`: portable SQL.
    pub fn select_sql(&self) -> String {
        format!("SELECT {} FROM {} ORDER BY {}", self.columns.join(", "), self.name, self.order_by)
    }

    /// [`Self::select_sql`] restricted to rows whose first column (a PI key, for the tables that
    /// [`stream_configuration`] reads in batches) is in a key range: `> lower` when `lower`,
    /// `<= upper` when `upper`; placeholders as in [`Self::insert_sql`], lower bound first.
    pub fn select_range_sql(&self, placeholder: impl Fn(usize) -> String, lower: bool, upper: bool) -> String {
        let column = self.columns[0];
        let mut conditions = Vec::new();
        if lower {
            conditions.push(format!("{column} > {}", placeholder(1)));
        }
        if upper {
            conditions.push(format!("{column} <= {}", placeholder(conditions.len() + 1)));
        }
        if conditions.is_empty() {
            return self.select_sql();
        }
        let filter = conditions.join(" AND ");
        format!("SELECT {} FROM {} WHERE {filter} ORDER BY {}", self.columns.join(", "), self.name, self.order_by)
    }

    /// `INSERT INTO <name> (<columns>) VALUES (<placeholders>)`, placeholders in the backend's
    /// syntax (`?1` for SQLite, `$1` for PostgreSQL); `placeholder` gets 1-based indexes.
    pub fn insert_sql(&self, placeholder: impl Fn(usize) -> String) -> String {
        let marks: Vec<String> = (1..=self.columns.len()).map(placeholder).collect();
        format!("INSERT INTO {} ({}) VALUES ({})", self.name, self.columns.join(", "), marks.join(", "))
    }

    /// `DELETE FROM <name>`.
    pub fn delete_sql(&self) -> String {
        format!("DELETE FROM {}", self.name)
    }
}

macro_rules! table {
    ($ident:ident, $name:literal, [$($col:literal),+ $(,)?], $order:literal) => {
        pub(crate) const $ident: Table = Table { name: $name, columns: &[$($col),+], order_by: $order };
    };
}

// Host, tokens and the log: not part of the configuration, never touched by `replace`.
table!(HOST_IDENTITY, "host_identity", ["id", "deployment", "server_id", "base_url"], "id");
table!(HOST_ALIAS, "host_alias", ["position", "deployment", "server_id", "base_url"], "position");
table!(API_TOKEN, "api_token", ["position", "name", "created_by", "created_at"], "position");
table!(
    OPERATION_LOG,
    "operation_log",
    ["id", "at", "kind", "os_user", "archive_digest", "content_digest", "outcome", "detail"],
    "id"
);

// The configuration, parents before children.
table!(SETTINGS, "settings", ["id", "field_sharing", "include_jsm_tickets", "story_points_field"], "id");
table!(SETTINGS_DEPENDENCY_LINK_TYPE, "settings_dependency_link_type", ["position", "link_type_id"], "position");
table!(SETTINGS_FEATURE_ISSUE_TYPE, "settings_feature_issue_type", ["position", "issue_type_id"], "position");
table!(SETTINGS_SUPPLIER_GROUP, "settings_supplier_group", ["position", "group_name"], "position");
table!(ADMINS, "admins", ["id"], "id");
table!(ADMIN_USER, "admin_user", ["position", "admins_id", "user_key", "account_id"], "position");
table!(ADMIN_GROUP, "admin_group", ["position", "admins_id", "group_name", "group_id"], "position");
table!(SCOPE_FILTER, "scope_filter", ["filter_id", "kind", "jira_filter_id"], "filter_id");
table!(
    SCOPE_FILTER_PROJECT,
    "scope_filter_project",
    ["filter_id", "position", "project_id", "project_key"],
    "filter_id, position"
);
table!(
    SCOPE_FILTER_FIELD,
    "scope_filter_field",
    ["filter_id", "position", "field_id", "operator"],
    "filter_id, position"
);
table!(
    SCOPE_FILTER_FIELD_OPTION,
    "scope_filter_field_option",
    ["filter_id", "field_position", "position", "option_id"],
    "filter_id, field_position, position"
);
table!(
    SCOPE_FILTER_FIELD_VALUE,
    "scope_filter_field_value",
    ["filter_id", "field_position", "position", "value"],
    "filter_id, field_position, position"
);
table!(
    TEAM,
    "team",
    ["team_key", "name", "kind", "board_id", "mode", "estimation", "scope_filter_id", "archived"],
    "team_key"
);
table!(
    PROGRAM,
    "program",
    ["program_key", "name", "feature_mode", "epic_mode", "epic_filter_id", "issue_filter_id", "archived"],
    "program_key"
);
table!(PROGRAM_TEAM, "program_team", ["program_key", "position", "team_key"], "program_key, position");
table!(PERIOD, "period", ["period_key", "name", "archived"], "period_key");
table!(
    SPRINT,
    "sprint",
    ["period_key", "sprint_index", "start_date", "end_date", "name", "completed"],
    "period_key, sprint_index"
);
table!(
    PI,
    "pi",
    [
        "pi_key",
        "program_key",
        "period_key",
        "feature_inclusion",
        "feature_filter_id",
        "objective_epic_mapping",
        "has_team_override"
    ],
    "pi_key"
);
table!(PI_TEAM, "pi_team", ["pi_key", "position", "team_key"], "pi_key, position");
table!(
    SPRINT_MAPPING,
    "sprint_mapping",
    ["pi_key", "team_key", "sprint_index", "jira_sprint_id"],
    "pi_key, team_key, sprint_index"
);
table!(CAPACITY, "capacity", ["pi_key", "team_key", "sprint_index", "value"], "pi_key, team_key, sprint_index");
table!(
    OBJECTIVE,
    "objective",
    [
        "pi_key",
        "position",
        "level",
        "team_key",
        "ord",
        "title",
        "description",
        "committed",
        "business_value_planned",
        "business_value_delivered"
    ],
    "pi_key, position"
);
table!(
    OBJECTIVE_EPIC,
    "objective_epic",
    ["pi_key", "objective_position", "position", "issue_id", "issue_key"],
    "pi_key, objective_position, position"
);
table!(
    MILESTONE,
    "milestone",
    ["pi_key", "position", "name", "ord", "on_date", "sprint_index", "team_key", "description", "kind"],
    "pi_key, position"
);

/// The configuration's tables in insert order (every foreign key points backwards in this list);
/// delete in reverse order, so that each parent's foreign-key check finds its children gone.
pub(crate) const CONFIG_TABLES: [&Table; 24] = [
    &SETTINGS,
    &SETTINGS_DEPENDENCY_LINK_TYPE,
    &SETTINGS_FEATURE_ISSUE_TYPE,
    &SETTINGS_SUPPLIER_GROUP,
    &ADMINS,
    &ADMIN_USER,
    &ADMIN_GROUP,
    &SCOPE_FILTER,
    &SCOPE_FILTER_PROJECT,
    &SCOPE_FILTER_FIELD,
    &SCOPE_FILTER_FIELD_OPTION,
    &SCOPE_FILTER_FIELD_VALUE,
    &TEAM,
    &PROGRAM,
    &PROGRAM_TEAM,
    &PERIOD,
    &SPRINT,
    &PI,
    &PI_TEAM,
    &SPRINT_MAPPING,
    &CAPACITY,
    &OBJECTIVE,
    &OBJECTIVE_EPIC,
    &MILESTONE,
];

/// Receives rows to insert. Rows arrive grouped by table, tables in [`CONFIG_TABLES`] order.
pub(crate) trait RowSink {
    /// Inserts one row of `table`; `row` has one value per column of `table.columns`.
    fn insert(&mut self, table: &'static Table, row: &[Value<'_>]) -> Result<(), StoreError>;
}

/// One row being read. Getters name the table and column in their errors, so that a store
/// changed outside ativo-backup gives a message, never a panic.
pub(crate) trait RowRef {
    /// The column's text, borrowed; an error for NULL or another type.
    fn str(&self, i: usize) -> Result<&str, StoreError>;
    /// The column's text or NULL.
    fn opt_str(&self, i: usize) -> Result<Option<&str>, StoreError>;
    /// The column's integer or NULL.
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    /// The column's double; an error for NULL or another type.
    fn real(&self, i: usize) -> Result<f64, StoreError>;
    /// The column's boolean; an error for NULL, another type or (SQLite) an integer not 0/1.
    fn bool(&self, i: usize) -> Result<bool, StoreError>;
    /// An error about column `i` of this row: the store holds something ativo-backup never writes.
    fn bad(&self, i: usize, problem: &str) -> StoreError;

    /// The column's integer; an error for NULL or another type.
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.opt_int(i)?.ok_or_else(|| self.bad(i, "is NULL"))
    }
    /// The column's text, owned.
    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.str(i).map(str::to_owned)
    }
    /// The column's text or NULL, owned.
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.opt_str(i)?.map(str::to_owned))
    }
    /// The column as a `u32`.
    fn u32(&self, i: usize) -> Result<u32, StoreError> {
        let n = self.int(i)?;
        u32::try_from(n).map_err(|_| self.bad(i, &format!("{n} is out of range 0..=4294967295")))
    }
    /// The column as an optional `u32`.
    fn opt_u32(&self, i: usize) -> Result<Option<u32>, StoreError> {
        match self.opt_int(i)? {
            None => Ok(None),
            Some(n) => u32::try_from(n).map(Some).map_err(|_| self.bad(i, &format!("{n} is out of range"))),
        }
    }
    /// The column as a `YYYY-MM-DD` date.
    fn date(&self, i: usize) -> Result<NaiveDate, StoreError> {
        let s = self.str(i)?;
        NaiveDate::from_str(s).map_err(|e| self.bad(i, &format!("{s:?} is not a YYYY-MM-DD date ({e})")))
    }
    /// The column as an optional date.
    fn opt_date(&self, i: usize) -> Result<Option<NaiveDate>, StoreError> {
        match self.opt_str(i)? {
            None => Ok(None),
            Some(_) => self.date(i).map(Some),
        }
    }
}

/// Column `i` of `r` as one of an enum's names.
fn pick<T: Copy>(r: &dyn RowRef, i: usize, names: &[(&str, T)]) -> Result<T, StoreError> {
    let s = r.str(i)?;
    names.iter().find(|(n, _)| *n == s).map(|(_, v)| *v).ok_or_else(|| {
        let known: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
        r.bad(i, &format!("{s:?} is not one of {}", known.join(", ")))
    })
}

/// Reads rows of a table in its `ORDER BY` order.
pub(crate) trait RowSource {
    /// Calls `each` for every row of `table`, in [`Table::select_sql`] order.
    fn rows(
        &mut self,
        table: &'static Table,
        each: &mut dyn FnMut(&dyn RowRef) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // An open range is `select_sql`'s query.
        self.rows_in(table, KeyRange { after: None, upto: None }, each)
    }

    /// Calls `each` for the rows of `table` whose first column is in `range` (see
    /// [`Table::select_range_sql`]), in [`Table::select_sql`] order.
    fn rows_in(
        &mut self,
        table: &'static Table,
        range: KeyRange<'_>,
        each: &mut dyn FnMut(&dyn RowRef) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// A range of keys, `(after, upto]`; an absent bound is open.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyRange<'a> {
    /// Exclusive lower bound.
    pub after: Option<&'a str>,
    /// Inclusive upper bound.
    pub upto: Option<&'a str>,
}

// ---- enums: the names are the serialized names of the model, so the store reads like an archive.

const TEAM_TYPES: [(&str, TeamType); 2] = [("BOARD", TeamType::Board), ("CUSTOM", TeamType::Custom)];
const TEAM_MODES: [(&str, TeamMode); 2] = [("SCRUM", TeamMode::Scrum), ("KANBAN", TeamMode::Kanban)];
const ESTIMATIONS: [(&str, Estimation); 3] = [
    ("STORY_POINTS", Estimation::StoryPoints),
    ("MAN_DAYS", Estimation::ManDays),
    ("ISSUE_COUNT", Estimation::IssueCount),
];
const FEATURE_MODES: [(&str, FeatureMode); 2] =
    [("EPICS", FeatureMode::Epics), ("ISSUE_TYPES", FeatureMode::IssueTypes)];
const EPIC_MODES: [(&str, EpicMode); 2] = [("FILTER", EpicMode::Filter), ("TEAM_ISSUES", EpicMode::TeamIssues)];
const FEATURE_INCLUSIONS: [(&str, FeatureInclusion); 3] = [
    ("MANUAL", FeatureInclusion::Manual),
    ("JIRA_FILTER", FeatureInclusion::JiraFilter),
    ("JIRA_PLANS_DATES", FeatureInclusion::JiraPlansDates),
];
const OBJECTIVE_LEVELS: [(&str, ObjectiveLevel); 2] =
    [("PROGRAM", ObjectiveLevel::Program), ("TEAM", ObjectiveLevel::Team)];
const OPERATORS: [(&str, FilterOperator); 1] = [("IN", FilterOperator::In)];
const DEPLOYMENTS: [(&str, Deployment); 3] =
    [("server", Deployment::Server), ("datacenter", Deployment::Datacenter), ("cloud", Deployment::Cloud)];

fn name_of<T: PartialEq + Copy>(names: &[(&'static str, T)], v: T) -> &'static str {
    // Every variant is listed above; the fallback cannot be reached.
    names.iter().find(|(_, x)| *x == v).map_or("", |(n, _)| n)
}

/// The text form of an enum value, for errors and tests.
pub(crate) fn deployment_name(d: Deployment) -> &'static str {
    name_of(&DEPLOYMENTS, d)
}

const SCOPE_JIRA_FILTER: &str = "jira_filter";
const SCOPE_MANUAL: &str = "manual";

/// Inserts the rows of one scope filter's lists (projects, fields, their options and values),
/// each kind after the previous one, for the filters of one [`ConfigWriter`] step.
fn write_filters(filters: &[(i64, &ScopeFilter)], sink: &mut dyn RowSink) -> Result<(), StoreError> {
    use Value::{Int, Text};
    for (id, f) in filters {
        match f {
            ScopeFilter::JiraFilter { filter_id } => {
                sink.insert(&SCOPE_FILTER, &[Int(*id), Text(SCOPE_JIRA_FILTER), Text(filter_id)])?
            }
            ScopeFilter::Manual { .. } => sink.insert(&SCOPE_FILTER, &[Int(*id), Text(SCOPE_MANUAL), Value::Null])?,
        }
    }
    let manual = || {
        filters.iter().filter_map(|(id, f)| match f {
            ScopeFilter::Manual { fields, projects } => Some((Int(*id), fields, projects)),
            ScopeFilter::JiraFilter { .. } => None,
        })
    };
    for (id, _, projects) in manual() {
        for (i, p) in projects.iter().enumerate() {
            sink.insert(&SCOPE_FILTER_PROJECT, &[id, pos(i), Text(&p.id), Text(&p.key)])?;
        }
    }
    for (id, fields, _) in manual() {
        for (i, f) in fields.iter().enumerate() {
            sink.insert(&SCOPE_FILTER_FIELD, &[id, pos(i), Text(&f.field_id), Text(name_of(&OPERATORS, f.operator))])?;
        }
    }
    for (id, fields, _) in manual() {
        for (fi, f) in fields.iter().enumerate() {
            for (i, o) in f.option_ids.iter().enumerate() {
                sink.insert(&SCOPE_FILTER_FIELD_OPTION, &[id, pos(fi), pos(i), Text(o)])?;
            }
        }
    }
    for (id, fields, _) in manual() {
        for (fi, f) in fields.iter().enumerate() {
            for (i, v) in f.values.iter().enumerate() {
                sink.insert(&SCOPE_FILTER_FIELD_VALUE, &[id, pos(fi), pos(i), Text(v)])?;
            }
        }
    }
    Ok(())
}

fn filter_id(id: Option<i64>) -> Value<'static> {
    id.map_or(Value::Null, Value::Int)
}

/// Writes a configuration as rows: [`ConfigWriter::start`] writes everything but the PIs, then
/// the PIs follow in batches of [`PI_BATCH`], each batch's rows grouped by table in
/// [`CONFIG_TABLES`] order (its PIs' feature filters, the PI rows, then each child table).
///
/// Why batches: a streaming import hands the PIs over one at a time as it reads them from the
/// archive, and the store must not hold them all; grouping a batch's rows by table keeps what the
/// backends rely on (one prepared statement or one `COPY` per table and batch, parents before
/// children). Scope-filter ids are assigned in one fixed traversal, as they are written: team
/// scopes, then per program its epic and issue filters, then the PIs' feature filters in order.
/// The input must be in canonical order ([`Configuration::sort`]): positions are numbered as
/// given.
pub(crate) struct ConfigWriter<'s> {
    sink: &'s mut dyn RowSink,
    /// The last scope-filter id assigned.
    last_filter: i64,
    batch: Vec<Pi>,
}

impl<'s> ConfigWriter<'s> {
    /// Writes everything in `c` but its PIs (which are ignored here).
    pub fn start<'c>(c: &'c Configuration, sink: &'s mut dyn RowSink) -> Result<Self, StoreError> {
        use Value::{Bool, Int, Text};

        let s = &c.settings;
        sink.insert(
            &SETTINGS,
            &[Int(1), Bool(s.field_sharing), Bool(s.include_jsm_tickets), opt_text(&s.story_points_field)],
        )?;
        for (i, v) in s.dependency_link_type_ids.iter().enumerate() {
            sink.insert(&SETTINGS_DEPENDENCY_LINK_TYPE, &[pos(i), Text(v)])?;
        }
        for (i, v) in s.feature_issue_type_ids.iter().enumerate() {
            sink.insert(&SETTINGS_FEATURE_ISSUE_TYPE, &[pos(i), Text(v)])?;
        }
        for (i, v) in s.supplier_groups.iter().enumerate() {
            sink.insert(&SETTINGS_SUPPLIER_GROUP, &[pos(i), Text(v)])?;
        }

        if let Some(admins) = &c.admins {
            // The row's presence is what tells `Some(empty)` from `None` (a migration-scoped store).
            sink.insert(&ADMINS, &[Int(1)])?;
            for (i, u) in admins.users.iter().enumerate() {
                sink.insert(&ADMIN_USER, &[pos(i), Int(1), opt_text(&u.user_key), opt_text(&u.account_id)])?;
            }
            for (i, g) in admins.groups.iter().enumerate() {
                sink.insert(&ADMIN_GROUP, &[pos(i), Int(1), Text(&g.name), opt_text(&g.group_id)])?;
            }
        }

        let mut filters: Vec<(i64, &'c ScopeFilter)> = Vec::new();
        let mut next = |f: &'c ScopeFilter| {
            let id = filters.len() as i64 + 1;
            filters.push((id, f));
            id
        };
        let team_ids: Vec<Option<i64>> = c.teams.iter().map(|t| t.scope.as_ref().map(&mut next)).collect();
        let program_ids: Vec<(i64, Option<i64>)> = c
            .programs
            .iter()
            .map(|p| (next(&p.feature_scope.epic_filter), p.feature_scope.issue_filter.as_ref().map(&mut next)))
            .collect();
        write_filters(&filters, sink)?;

        for (t, scope) in c.teams.iter().zip(&team_ids) {
            sink.insert(
                &TEAM,
                &[
                    Text(&t.key),
                    Text(&t.name),
                    Text(name_of(&TEAM_TYPES, t.kind)),
                    opt_text(&t.board),
                    Text(name_of(&TEAM_MODES, t.mode)),
                    Text(name_of(&ESTIMATIONS, t.estimation)),
                    filter_id(*scope),
                    Bool(t.archived),
                ],
            )?;
        }
        for (p, (epic, issue)) in c.programs.iter().zip(&program_ids) {
            let fs = &p.feature_scope;
            sink.insert(
                &PROGRAM,
                &[
                    Text(&p.key),
                    Text(&p.name),
                    Text(name_of(&FEATURE_MODES, fs.mode)),
                    Text(name_of(&EPIC_MODES, fs.epic_mode)),
                    Int(*epic),
                    filter_id(*issue),
                    Bool(p.archived),
                ],
            )?;
        }
        for p in &c.programs {
            for (i, team) in p.teams.iter().enumerate() {
                sink.insert(&PROGRAM_TEAM, &[Text(&p.key), pos(i), Text(team)])?;
            }
        }
        for p in &c.periods {
            sink.insert(&PERIOD, &[Text(&p.key), Text(&p.name), Bool(p.archived)])?;
        }
        for p in &c.periods {
            for s in &p.sprints {
                let (start, end) = (s.start.to_string(), s.end.to_string());
                sink.insert(
                    &SPRINT,
                    &[Text(&p.key), int(s.index), Text(&start), Text(&end), opt_text(&s.name), Bool(s.completed)],
                )?;
            }
        }
        let last_filter = filters.len() as i64;
        Ok(ConfigWriter { sink, last_filter, batch: Vec::new() })
    }

    /// Adds the next PI (in key order); its rows are written with its batch.
    pub fn pi(&mut self, pi: Pi) -> Result<(), StoreError> {
        self.batch.push(pi);
        if self.batch.len() >= PI_BATCH {
            let batch = std::mem::take(&mut self.batch);
            self.write_pis(&batch)?;
        }
        Ok(())
    }

    /// Writes the last batch.
    pub fn finish(mut self) -> Result<(), StoreError> {
        let batch = std::mem::take(&mut self.batch);
        self.write_pis(&batch)
    }

    /// Writes the rows of `pis`, grouped by table.
    fn write_pis(&mut self, pis: &[Pi]) -> Result<(), StoreError> {
        use Value::{Bool, Real, Text};
        let sink = &mut *self.sink;
        let mut filters: Vec<(i64, &ScopeFilter)> = Vec::new();
        let mut ids: Vec<Option<i64>> = Vec::with_capacity(pis.len());
        for p in pis {
            ids.push(p.feature_filter.as_ref().map(|f| {
                self.last_filter += 1;
                filters.push((self.last_filter, f));
                self.last_filter
            }));
        }
        write_filters(&filters, sink)?;
        for (p, feature_filter) in pis.iter().zip(&ids) {
            sink.insert(
                &PI,
                &[
                    Text(&p.key),
                    Text(&p.program),
                    Text(&p.period),
                    Text(name_of(&FEATURE_INCLUSIONS, p.feature_inclusion)),
                    filter_id(*feature_filter),
                    Bool(p.objective_epic_mapping),
                    // Tells "no override" (the program's teams) from an override with no teams.
                    Bool(p.teams.is_some()),
                ],
            )?;
        }
        for p in pis {
            for (i, team) in p.teams.iter().flatten().enumerate() {
                sink.insert(&PI_TEAM, &[Text(&p.key), pos(i), Text(team)])?;
            }
        }
        for p in pis {
            for m in &p.sprint_mappings {
                sink.insert(&SPRINT_MAPPING, &[Text(&p.key), Text(&m.team), int(m.sprint), Text(&m.jira_sprint_id)])?;
            }
        }
        for p in pis {
            for cap in &p.capacity {
                sink.insert(&CAPACITY, &[Text(&p.key), Text(&cap.team), int(cap.sprint), Real(cap.value)])?;
            }
        }
        for p in pis {
            for (i, o) in p.objectives.iter().enumerate() {
                sink.insert(
                    &OBJECTIVE,
                    &[
                        Text(&p.key),
                        pos(i),
                        Text(name_of(&OBJECTIVE_LEVELS, o.level)),
                        opt_text(&o.team),
                        int(o.order),
                        Text(&o.title),
                        opt_text(&o.description),
                        Bool(o.committed),
                        opt_u32(o.business_value_planned),
                        opt_u32(o.business_value_delivered),
                    ],
                )?;
            }
        }
        for p in pis {
            for (oi, o) in p.objectives.iter().enumerate() {
                for (i, e) in o.epics.iter().enumerate() {
                    sink.insert(&OBJECTIVE_EPIC, &[Text(&p.key), pos(oi), pos(i), Text(&e.id), Text(&e.key)])?;
                }
            }
        }
        for p in pis {
            for (i, m) in p.milestones.iter().enumerate() {
                let date = m.date.map(|d| d.to_string());
                sink.insert(
                    &MILESTONE,
                    &[
                        Text(&p.key),
                        pos(i),
                        Text(&m.name),
                        int(m.order),
                        opt_text(&date),
                        opt_u32(m.sprint),
                        opt_text(&m.team),
                        opt_text(&m.description),
                        opt_text(&m.kind),
                    ],
                )?;
            }
        }
        Ok(())
    }
}

/// A [`ConfigSink`] over a [`RowSink`]: what a backend hands to [`super::Replacement::write`].
pub(crate) struct RowsOut<'s> {
    sink: Option<&'s mut dyn RowSink>,
    writer: Option<ConfigWriter<'s>>,
}

impl<'s> RowsOut<'s> {
    pub fn new(sink: &'s mut dyn RowSink) -> Self {
        RowsOut { sink: Some(sink), writer: None }
    }

    /// Writes the last batch of PIs.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when writing fails; a replacement that never started is refused, so that
    /// an empty write never passes for a configuration.
    pub fn finish(self) -> crate::error::Result<()> {
        match self.writer {
            Some(writer) => Ok(writer.finish()?),
            None => Err(not_started()),
        }
    }
}

fn not_started() -> crate::error::Error {
    crate::error::Error::Internal("the new configuration was written without its start".into())
}

impl ConfigSink for RowsOut<'_> {
    fn start(&mut self, config: &Configuration, _: &[ApiToken]) -> crate::error::Result<()> {
        let sink = self.sink.take().ok_or_else(not_started)?;
        self.writer = Some(ConfigWriter::start(config, sink)?);
        Ok(())
    }

    fn pi(&mut self, pi: Pi) -> crate::error::Result<()> {
        Ok(self.writer.as_mut().ok_or_else(not_started)?.pi(pi)?)
    }
}

/// Writes every row of `c` into `sink` ([`ConfigWriter`] over the whole configuration, PIs
/// borrowed). `c` must already be in canonical order ([`Configuration::sort`]).
pub(crate) fn write_configuration(c: &Configuration, sink: &mut dyn RowSink) -> Result<(), StoreError> {
    let mut writer = ConfigWriter::start(c, sink)?;
    for batch in c.pis.chunks(PI_BATCH) {
        writer.write_pis(batch)?;
    }
    Ok(())
}

/// Finds the parent of child rows by key. Children arrive grouped by parent key (they are read
/// `ORDER BY parent_key, ...`), so the last hit answers almost every lookup without hashing.
struct KeyIndex {
    map: HashMap<String, usize>,
    last: Option<(String, usize)>,
}

impl KeyIndex {
    fn new<'a>(keys: impl Iterator<Item = &'a str>) -> Self {
        KeyIndex { map: keys.enumerate().map(|(i, k)| (k.to_owned(), i)).collect(), last: None }
    }

    fn find(&mut self, key: &str) -> Option<usize> {
        if let Some((k, i)) = &self.last
            && k == key
        {
            return Some(*i);
        }
        let i = *self.map.get(key)?;
        self.last = Some((key.to_owned(), i));
        Some(i)
    }

    /// The parent's index, or an error naming the child row's column.
    fn parent(&mut self, row: &dyn RowRef, column: usize, parent_table: &str) -> Result<usize, StoreError> {
        let key = row.str(column)?;
        self.find(key).ok_or_else(|| row.bad(column, &format!("{key:?} names no row of table {parent_table}")))
    }
}

/// Reads the whole configuration, in canonical order. Call it inside one read transaction.
pub(crate) fn read_configuration(src: &mut dyn RowSource) -> crate::error::Result<Configuration> {
    let mut collect = crate::sink::Collect::default();
    stream_configuration(src, &[], &mut collect)?;
    Ok(collect.into_parts()?.0)
}

/// PIs read per batch by [`stream_configuration`]: enough that the per-batch queries cost
/// nothing per row, few enough that a batch with all its children is a few MiB at most.
const PI_BATCH: usize = 256;

/// The keys of all PIs, in key order: the batch boundaries of [`stream_configuration`].
const PI_KEYS: Table = Table { name: "pi", columns: &["pi_key"], order_by: "pi_key" };

/// Streams the configuration into `sink` without holding all of it: everything but the PIs (the
/// small part: settings, admins, teams, programs, periods, in canonical order) with
/// `api_tokens`, then the PIs, each complete with its children and in canonical order, in key
/// order; returns the small part. Call it inside one read transaction.
///
/// Why: PIs and their children (capacity, sprint mappings, objectives, milestones) are almost
/// all of a large configuration, so an export that streams them into the archive writer runs in
/// memory that does not grow with the store. They are read in batches of [`PI_BATCH`] PIs by key
/// range (`(after, upto]`, the first batch open below and the last open above, so that every row
/// is read exactly once whatever the keys).
pub(crate) fn stream_configuration(
    src: &mut dyn RowSource,
    api_tokens: &[ApiToken],
    sink: &mut dyn ConfigSink,
) -> crate::error::Result<Configuration> {
    let mut settings: Option<Settings> = None;
    src.rows(&SETTINGS, &mut |r| {
        settings = Some(Settings {
            dependency_link_type_ids: Vec::new(),
            feature_issue_type_ids: Vec::new(),
            field_sharing: r.bool(1)?,
            include_jsm_tickets: r.bool(2)?,
            story_points_field: r.opt_text(3)?,
            supplier_groups: Vec::new(),
        });
        Ok(())
    })?;
    let mut settings = settings.unwrap_or_default();
    src.rows(&SETTINGS_DEPENDENCY_LINK_TYPE, &mut |r| {
        settings.dependency_link_type_ids.push(r.text(1)?);
        Ok(())
    })?;
    src.rows(&SETTINGS_FEATURE_ISSUE_TYPE, &mut |r| {
        settings.feature_issue_type_ids.push(r.text(1)?);
        Ok(())
    })?;
    src.rows(&SETTINGS_SUPPLIER_GROUP, &mut |r| {
        settings.supplier_groups.push(r.text(1)?);
        Ok(())
    })?;

    let mut admins: Option<Admins> = None;
    src.rows(&ADMINS, &mut |_| {
        admins = Some(Admins::default());
        Ok(())
    })?;
    let mut users = Vec::new();
    src.rows(&ADMIN_USER, &mut |r| {
        users.push(AdminUser { account_id: r.opt_text(3)?, user_key: r.opt_text(2)? });
        Ok(())
    })?;
    let mut groups = Vec::new();
    src.rows(&ADMIN_GROUP, &mut |r| {
        groups.push(AdminGroup { group_id: r.opt_text(3)?, name: r.text(2)? });
        Ok(())
    })?;
    if let Some(a) = &mut admins {
        a.users = users;
        a.groups = groups;
    }
    // Without an `admins` row, the foreign keys of admin_user/admin_group allow no rows either.

    let mut filters = read_scope_filters(src)?;
    let mut take_filter = |r: &dyn RowRef, column: usize| -> Result<Option<ScopeFilter>, StoreError> {
        match r.opt_int(column)? {
            None => Ok(None),
            Some(id) => filters
                .remove(&id)
                .map(Some)
                .ok_or_else(|| r.bad(column, &format!("scope filter {id} is missing or used twice"))),
        }
    };

    let mut teams = Vec::new();
    src.rows(&TEAM, &mut |r| {
        teams.push(Team {
            archived: r.bool(7)?,
            board: r.opt_text(3)?,
            estimation: pick(r, 5, &ESTIMATIONS)?,
            key: r.text(0)?,
            mode: pick(r, 4, &TEAM_MODES)?,
            name: r.text(1)?,
            scope: take_filter(r, 6)?,
            kind: pick(r, 2, &TEAM_TYPES)?,
        });
        Ok(())
    })?;

    let mut programs = Vec::new();
    src.rows(&PROGRAM, &mut |r| {
        let epic_filter = take_filter(r, 4)?.ok_or_else(|| r.bad(4, "is NULL"))?;
        programs.push(Program {
            archived: r.bool(6)?,
            feature_scope: FeatureScope {
                epic_filter,
                epic_mode: pick(r, 3, &EPIC_MODES)?,
                issue_filter: take_filter(r, 5)?,
                mode: pick(r, 2, &FEATURE_MODES)?,
            },
            key: r.text(0)?,
            name: r.text(1)?,
            teams: Vec::new(),
        });
        Ok(())
    })?;
    let mut index = KeyIndex::new(programs.iter().map(|p| p.key.as_str()));
    src.rows(&PROGRAM_TEAM, &mut |r| {
        let i = index.parent(r, 0, PROGRAM.name)?;
        programs[i].teams.push(r.text(2)?);
        Ok(())
    })?;

    let mut periods = Vec::new();
    src.rows(&PERIOD, &mut |r| {
        periods.push(Period { archived: r.bool(2)?, key: r.text(0)?, name: r.text(1)?, sprints: Vec::new() });
        Ok(())
    })?;
    let mut index = KeyIndex::new(periods.iter().map(|p| p.key.as_str()));
    src.rows(&SPRINT, &mut |r| {
        let i = index.parent(r, 0, PERIOD.name)?;
        periods[i].sprints.push(Sprint {
            completed: r.bool(5)?,
            end: r.date(3)?,
            index: r.u32(1)?,
            name: r.opt_text(4)?,
            start: r.date(2)?,
        });
        Ok(())
    })?;

    let mut config = Configuration { admins, periods, pis: Vec::new(), programs, settings, teams };
    // The rows were written in canonical order and read back in it, so this changes nothing for a
    // store that only ativo-backup wrote; for one edited by hand it still makes the promise true.
    // Sorting is stable and sorted input costs a linear pass. (PIs come in key order from the
    // queries, and each batch sorts its PIs' children.)
    config.sort();
    sink.start(&config, api_tokens)?;

    let mut keys: Vec<String> = Vec::new();
    src.rows(&PI_KEYS, &mut |r| {
        keys.push(r.text(0)?);
        Ok(())
    })?;
    let bounds: Vec<&str> = keys.iter().skip(PI_BATCH - 1).step_by(PI_BATCH).map(String::as_str).collect();
    let batches = bounds.len() + 1;
    for b in 0..batches {
        let range = KeyRange { after: if b == 0 { None } else { Some(bounds[b - 1]) }, upto: bounds.get(b).copied() };
        for pi in read_pi_batch(src, range, &mut take_filter)? {
            sink.pi(pi)?;
        }
    }
    sink.finish()?;
    Ok(config)
}

/// Takes the scope filter that column `usize` of a row names (each filter belongs to one row).
type TakeFilter<'f> = dyn FnMut(&dyn RowRef, usize) -> Result<Option<ScopeFilter>, StoreError> + 'f;

/// Reads the PIs whose keys are in `range`, with their children, each in canonical order.
fn read_pi_batch(
    src: &mut dyn RowSource,
    range: KeyRange<'_>,
    take_filter: &mut TakeFilter<'_>,
) -> Result<Vec<Pi>, StoreError> {
    let mut pis = Vec::new();
    src.rows_in(&PI, range, &mut |r| {
        pis.push(Pi {
            capacity: Vec::new(),
            feature_filter: take_filter(r, 4)?,
            feature_inclusion: pick(r, 3, &FEATURE_INCLUSIONS)?,
            key: r.text(0)?,
            milestones: Vec::new(),
            objective_epic_mapping: r.bool(5)?,
            objectives: Vec::new(),
            period: r.text(2)?,
            program: r.text(1)?,
            sprint_mappings: Vec::new(),
            teams: if r.bool(6)? { Some(Vec::new()) } else { None },
        });
        Ok(())
    })?;
    let mut index = KeyIndex::new(pis.iter().map(|p| p.key.as_str()));
    src.rows_in(&PI_TEAM, range, &mut |r| {
        let i = index.parent(r, 0, PI.name)?;
        match &mut pis[i].teams {
            Some(teams) => {
                teams.push(r.text(2)?);
                Ok(())
            }
            None => Err(r.bad(0, "has override teams but its pi says has_team_override = false")),
        }
    })?;
    src.rows_in(&SPRINT_MAPPING, range, &mut |r| {
        let i = index.parent(r, 0, PI.name)?;
        pis[i].sprint_mappings.push(SprintMapping { jira_sprint_id: r.text(3)?, sprint: r.u32(2)?, team: r.text(1)? });
        Ok(())
    })?;
    src.rows_in(&CAPACITY, range, &mut |r| {
        let i = index.parent(r, 0, PI.name)?;
        pis[i].capacity.push(Capacity { sprint: r.u32(2)?, team: r.text(1)?, value: r.real(3)? });
        Ok(())
    })?;
    // (pi index, objective position) -> index in that PI's objectives, for the epics.
    let mut objective_at: HashMap<(usize, i64), usize> = HashMap::new();
    src.rows_in(&OBJECTIVE, range, &mut |r| {
        let i = index.parent(r, 0, PI.name)?;
        objective_at.insert((i, r.int(1)?), pis[i].objectives.len());
        pis[i].objectives.push(Objective {
            business_value_delivered: r.opt_u32(9)?,
            business_value_planned: r.opt_u32(8)?,
            committed: r.bool(7)?,
            description: r.opt_text(6)?,
            epics: Vec::new(),
            level: pick(r, 2, &OBJECTIVE_LEVELS)?,
            order: r.u32(4)?,
            team: r.opt_text(3)?,
            title: r.text(5)?,
        });
        Ok(())
    })?;
    src.rows_in(&OBJECTIVE_EPIC, range, &mut |r| {
        let i = index.parent(r, 0, PI.name)?;
        let o = *objective_at.get(&(i, r.int(1)?)).ok_or_else(|| r.bad(1, "names no objective of its pi"))?;
        pis[i].objectives[o].epics.push(IssueRef { id: r.text(3)?, key: r.text(4)? });
        Ok(())
    })?;
    src.rows_in(&MILESTONE, range, &mut |r| {
        let i = index.parent(r, 0, PI.name)?;
        pis[i].milestones.push(Milestone {
            date: r.opt_date(4)?,
            description: r.opt_text(7)?,
            kind: r.opt_text(8)?,
            name: r.text(2)?,
            order: r.u32(3)?,
            sprint: r.opt_u32(5)?,
            team: r.opt_text(6)?,
        });
        Ok(())
    })?;
    for pi in &mut pis {
        pi.sort_children();
    }
    Ok(pis)
}

fn read_scope_filters(src: &mut dyn RowSource) -> Result<HashMap<i64, ScopeFilter>, StoreError> {
    let mut filters: HashMap<i64, ScopeFilter> = HashMap::new();
    src.rows(&SCOPE_FILTER, &mut |r| {
        let id = r.int(0)?;
        let kind = r.str(1)?;
        let filter = match kind {
            SCOPE_JIRA_FILTER => ScopeFilter::JiraFilter { filter_id: r.text(2)? },
            SCOPE_MANUAL => ScopeFilter::Manual { fields: Vec::new(), projects: Vec::new() },
            other => return Err(r.bad(1, &format!("{other:?} is not one of jira_filter, manual"))),
        };
        filters.insert(id, filter);
        Ok(())
    })?;
    fn manual<'f>(
        filters: &'f mut HashMap<i64, ScopeFilter>,
        r: &dyn RowRef,
    ) -> Result<(&'f mut Vec<FieldFilter>, &'f mut Vec<ProjectRef>), StoreError> {
        let id = r.int(0)?;
        match filters.get_mut(&id) {
            Some(ScopeFilter::Manual { fields, projects }) => Ok((fields, projects)),
            Some(ScopeFilter::JiraFilter { .. }) => Err(r.bad(0, &format!("scope filter {id} is a jira_filter"))),
            None => Err(r.bad(0, &format!("scope filter {id} does not exist"))),
        }
    }
    src.rows(&SCOPE_FILTER_PROJECT, &mut |r| {
        let (_, projects) = manual(&mut filters, r)?;
        projects.push(ProjectRef { id: r.text(2)?, key: r.text(3)? });
        Ok(())
    })?;
    // (filter id, field position) -> index in that filter's fields.
    let mut field_at: HashMap<(i64, i64), usize> = HashMap::new();
    src.rows(&SCOPE_FILTER_FIELD, &mut |r| {
        let (fields, _) = manual(&mut filters, r)?;
        field_at.insert((r.int(0)?, r.int(1)?), fields.len());
        fields.push(FieldFilter {
            field_id: r.text(2)?,
            operator: pick(r, 3, &OPERATORS)?,
            option_ids: Vec::new(),
            values: Vec::new(),
        });
        Ok(())
    })?;
    let field = |filters: &mut HashMap<i64, ScopeFilter>, r: &dyn RowRef| -> Result<usize, StoreError> {
        let _ = manual(filters, r)?;
        field_at.get(&(r.int(0)?, r.int(1)?)).copied().ok_or_else(|| r.bad(1, "names no field of its scope filter"))
    };
    src.rows(&SCOPE_FILTER_FIELD_OPTION, &mut |r| {
        let i = field(&mut filters, r)?;
        let (fields, _) = manual(&mut filters, r)?;
        fields[i].option_ids.push(r.text(3)?);
        Ok(())
    })?;
    src.rows(&SCOPE_FILTER_FIELD_VALUE, &mut |r| {
        let i = field(&mut filters, r)?;
        let (fields, _) = manual(&mut filters, r)?;
        fields[i].values.push(r.text(3)?);
        Ok(())
    })?;
    Ok(filters)
}

// ---- host, tokens, log

/// The row of one host identity (`host_identity` with id 1, or a `host_alias` at `position`).
pub(crate) fn host_row(first: i64, h: &HostIdentity) -> [Value<'_>; 4] {
    [Value::Int(first), Value::Text(deployment_name(h.deployment)), Value::Text(&h.server_id), Value::Text(&h.base_url)]
}

/// Reads a host identity from a [`HOST_IDENTITY`] or [`HOST_ALIAS`] row.
pub(crate) fn read_host(r: &dyn RowRef) -> Result<HostIdentity, StoreError> {
    Ok(HostIdentity { base_url: r.text(3)?, deployment: pick(r, 1, &DEPLOYMENTS)?, server_id: r.text(2)? })
}

/// The host identity and the accepted aliases of a store.
///
/// # Errors
///
/// [`StoreError::NotInitialised`] naming `location` when the identity row is missing; any error
/// of `src`.
pub(crate) fn read_host_record(src: &mut dyn RowSource, location: &str) -> Result<super::HostRecord, StoreError> {
    let mut identity = None;
    src.rows(&HOST_IDENTITY, &mut |r| {
        identity = Some(read_host(r)?);
        Ok(())
    })?;
    let mut aliases = Vec::new();
    src.rows(&HOST_ALIAS, &mut |r| {
        aliases.push(read_host(r)?);
        Ok(())
    })?;
    let identity = identity.ok_or_else(|| StoreError::NotInitialised {
        location: location.to_owned(),
        why: "it has no host identity (table host_identity is empty); create the store again".to_owned(),
    })?;
    Ok(super::HostRecord { identity, aliases })
}

/// Writes token metadata, sorted so that the store's order does not depend on who wrote it.
pub(crate) fn write_api_tokens(tokens: &[ApiToken], sink: &mut dyn RowSink) -> Result<(), StoreError> {
    let mut sorted: Vec<&ApiToken> = tokens.iter().collect();
    sorted.sort();
    for (i, t) in sorted.into_iter().enumerate() {
        sink.insert(
            &API_TOKEN,
            &[pos(i), Value::Text(&t.name), Value::Text(&t.created_by), Value::Text(&t.created_at)],
        )?;
    }
    Ok(())
}

/// Reads the token metadata.
pub(crate) fn read_api_tokens(src: &mut dyn RowSource) -> Result<Vec<ApiToken>, StoreError> {
    let mut tokens = Vec::new();
    src.rows(&API_TOKEN, &mut |r| {
        tokens.push(ApiToken { created_at: r.text(3)?, created_by: r.text(2)?, name: r.text(1)? });
        Ok(())
    })?;
    Ok(tokens)
}

/// The text an operation's time is stored as: RFC 3339 UTC with as many fraction digits as it
/// has, so that it reads back equal, and sorts as text in time order for equal digit counts.
pub(crate) fn timestamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The values of an [`OPERATION_LOG`] row without its `id`, which the store assigns. `detail`
/// is the operation's detail as JSON text.
pub(crate) fn operation_values<'a>(op: &'a Operation, at: &'a str, detail: &'a str) -> [Value<'a>; 7] {
    [
        Value::Text(at),
        Value::Text(op.kind.as_str()),
        Value::Text(&op.os_user),
        opt_text(&op.archive_digest),
        opt_text(&op.content_digest),
        Value::Text(op.outcome.as_str()),
        Value::Text(detail),
    ]
}

/// Reads an operation from an [`OPERATION_LOG`] row.
pub(crate) fn read_operation(r: &dyn RowRef) -> Result<Operation, StoreError> {
    let at_text = r.str(1)?;
    let at = DateTime::parse_from_rfc3339(at_text)
        .map_err(|e| r.bad(1, &format!("{at_text:?} is not an RFC 3339 time ({e})")))?
        .with_timezone(&Utc);
    let detail_text = r.str(7)?;
    let detail = serde_json::from_str(detail_text).map_err(|e| r.bad(7, &format!("does not hold valid JSON ({e})")))?;
    Ok(Operation {
        id: r.int(0)?,
        at,
        kind: r.str(2)?.into(),
        os_user: r.text(3)?,
        archive_digest: r.opt_text(4)?,
        content_digest: r.opt_text(5)?,
        outcome: r.str(6)?.into(),
        detail,
    })
}

/// A schema migration: its version (the same numbering for every backend, so that a version
/// means the same tables everywhere), a name, and the backend's SQL.
#[derive(Debug)]
pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_tables_are_unique_and_parents_come_first() {
        let names: Vec<&str> = CONFIG_TABLES.iter().map(|t| t.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        assert_eq!(names.first(), Some(&"settings"));
    }

    #[test]
    fn sql_is_built_from_the_column_list() {
        assert_eq!(
            PROGRAM_TEAM.select_sql(),
            "SELECT program_key, position, team_key FROM program_team ORDER BY program_key, position"
        );
        assert_eq!(
            PROGRAM_TEAM.insert_sql(|i| format!("${i}")),
            "INSERT INTO program_team (program_key, position, team_key) VALUES ($1, $2, $3)"
        );
    }
}
