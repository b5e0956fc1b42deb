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

mod reader;
mod tables;
mod writer;

pub(crate) use self::reader::*;
pub(crate) use self::tables::*;
pub(crate) use self::writer::*;

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
