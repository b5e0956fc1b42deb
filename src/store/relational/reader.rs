//! Rows to configuration: the reads in canonical order, whole or streamed a batch of PIs at a time.

use super::*;

/// Finds the parent of child rows by key. Children arrive grouped by parent key (they are read
/// `ORDER BY parent_key, ...`), so the last hit answers almost every lookup without hashing.
pub(super) struct KeyIndex {
    pub(super) map: HashMap<String, usize>,
    pub(super) last: Option<(String, usize)>,
}

impl KeyIndex {
    pub(super) fn new<'a>(keys: impl Iterator<Item = &'a str>) -> Self {
        KeyIndex { map: keys.enumerate().map(|(i, k)| (k.to_owned(), i)).collect(), last: None }
    }

    pub(super) fn find(&mut self, key: &str) -> Option<usize> {
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
    pub(super) fn parent(&mut self, row: &dyn RowRef, column: usize, parent_table: &str) -> Result<usize, StoreError> {
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
pub(super) const PI_BATCH: usize = 256;

/// The keys of all PIs, in key order: the batch boundaries of [`stream_configuration`].
pub(super) const PI_KEYS: Table = Table { name: "pi", columns: &["pi_key"], order_by: "pi_key" };

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
pub(super) type TakeFilter<'f> = dyn FnMut(&dyn RowRef, usize) -> Result<Option<ScopeFilter>, StoreError> + 'f;

/// Reads the PIs whose keys are in `range`, with their children, each in canonical order.
pub(super) fn read_pi_batch(
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

pub(super) fn read_scope_filters(src: &mut dyn RowSource) -> Result<HashMap<i64, ScopeFilter>, StoreError> {
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
    pub(super) fn manual<'f>(
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
