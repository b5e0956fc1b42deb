//! Configuration to rows: [`ConfigWriter`] and the sinks a backend is handed.

use super::*;

/// Inserts the rows of one scope filter's lists (projects, fields, their options and values),
/// each kind after the previous one, for the filters of one [`ConfigWriter`] step.
pub(super) fn write_filters(filters: &[(i64, &ScopeFilter)], sink: &mut dyn RowSink) -> Result<(), StoreError> {
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

pub(super) fn filter_id(id: Option<i64>) -> Value<'static> {
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
    pub(super) sink: &'s mut dyn RowSink,
    /// The last scope-filter id assigned.
    pub(super) last_filter: i64,
    pub(super) batch: Vec<Pi>,
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
    pub(super) fn write_pis(&mut self, pis: &[Pi]) -> Result<(), StoreError> {
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

/// A [`ConfigSink`] over a [`RowSink`]: what a backend hands to [`crate::store::Replacement::write`].
pub(crate) struct RowsOut<'s> {
    pub(super) sink: Option<&'s mut dyn RowSink>,
    pub(super) writer: Option<ConfigWriter<'s>>,
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

pub(super) fn not_started() -> crate::error::Error {
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
