//! Rewrites a configuration through ID mappings, and says what it could not map.
//!
//! The rule behind every choice (SPEC.md, 11.3): a server-side id is never left where a cloud id
//! belongs, because on the cloud site it would name another object or none; and an unmapped
//! reference never *widens* what Ativo selects. So an unmapped object is dropped from a list
//! (narrowing: a sprint mapping, an epic, an option, a link or issue type), or the scope filter
//! that needs it selects nothing until an admin picks the cloud object (a saved filter, a custom
//! field). Supplier groups are not touched: a group name means the same group on the cloud site.
//! Unmapped projects, boards and sprints of mapped boards are collected too, but the operation
//! refuses to write with them: they moved with their Jira project, so a missing mapping means
//! missing mappings (a page not given), not a missing object.

use serde::{Deserialize, Serialize};

use super::mappings::Mappings;
use super::{
    BOARD, CUSTOM_FIELD, CUSTOM_FIELD_OPTION, FILTER, ISSUE, ISSUE_LINK_TYPE, ISSUE_TYPE, PROJECT, SPRINT,
    is_custom_field,
};
use crate::model::{Configuration, FieldFilter, IssueRef, ProjectRef, ScopeFilter};

/// What happened to an unmapped reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Treatment {
    /// A project, a board, or a sprint of a mapped board: the migration refuses to run.
    Refused,
    /// Removed (a sprint mapping, an epic of an objective, an option of a field filter, a link
    /// type or an issue type of the settings).
    Dropped,
    /// The scope filter it was part of now selects nothing (an empty manual filter).
    ScopeEmptied,
    /// Unset (the story points field).
    Cleared,
}

impl Treatment {
    /// Whether this treatment loses something the configuration had (and so needs consent).
    pub fn loses(self) -> bool {
        matches!(self, Treatment::Dropped | Treatment::ScopeEmptied | Treatment::Cleared)
    }
}

/// One use of a server-side id that has no mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unmapped {
    /// The mapping namespace.
    pub namespace: &'static str,
    /// The server-side id.
    pub id: String,
    /// A human name where the configuration has one (project or issue key, the team of a board
    /// or of a sprint mapping).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// What the rewrite did with it.
    pub treatment: Treatment,
    /// Where, in the archive (`/data/...`).
    pub pointer: String,
}

/// A rewritten configuration (canonical order, admins untouched) and what could not be mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct Rewritten {
    /// The configuration with cloud ids.
    pub config: Configuration,
    /// Every unmapped use, in the order met.
    pub unmapped: Vec<Unmapped>,
    /// How many uses were rewritten to a cloud id.
    pub rewritten: u64,
}

impl Rewritten {
    /// The unmapped uses that stop a migration (projects, boards, sprints of mapped boards).
    pub fn refusing(&self) -> impl Iterator<Item = &Unmapped> {
        self.unmapped.iter().filter(|u| u.treatment == Treatment::Refused)
    }
}

/// Rewrites every Jira id of `config` through `mappings` (admins excluded: they are left as
/// they are for the caller to replace). The result is in canonical order.
pub fn rewrite(config: &Configuration, mappings: &Mappings) -> Rewritten {
    let mut r = Rewriter { mappings, unmapped: Vec::new(), rewritten: 0 };
    // The boards of BOARD teams that are mapped: their sprints moved with them, so a sprint
    // mapping of such a team that has no mapping is refused like a board.
    let mapped_boards: std::collections::HashMap<&str, &str> = config
        .teams
        .iter()
        .filter_map(|t| t.board.as_deref().filter(|b| mappings.get(BOARD, b).is_some()).map(|b| (t.key.as_str(), b)))
        .collect();
    let mut out = config.clone();
    for (i, team) in out.teams.iter_mut().enumerate() {
        if let Some(board) = &team.board {
            let pointer = format!("/data/teams/{i}/board");
            team.board = Some(r.map_or(BOARD, board, Some(&team.key), Treatment::Refused, pointer));
        }
        if let Some(scope) = &team.scope {
            team.scope = Some(r.scope(scope, &format!("/data/teams/{i}/scope")));
        }
    }
    for (i, program) in out.programs.iter_mut().enumerate() {
        let base = format!("/data/programs/{i}/feature_scope");
        let fs = &mut program.feature_scope;
        fs.epic_filter = r.scope(&fs.epic_filter, &format!("{base}/epic_filter"));
        if let Some(filter) = &fs.issue_filter {
            fs.issue_filter = Some(r.scope(filter, &format!("{base}/issue_filter")));
        }
    }
    for (i, pi) in out.pis.iter_mut().enumerate() {
        if let Some(filter) = &pi.feature_filter {
            pi.feature_filter = Some(r.scope(filter, &format!("/data/pis/{i}/feature_filter")));
        }
        for (j, objective) in pi.objectives.iter_mut().enumerate() {
            let mut epics: Vec<IssueRef> = Vec::with_capacity(objective.epics.len());
            for (k, epic) in objective.epics.iter().enumerate() {
                let pointer = format!("/data/pis/{i}/objectives/{j}/epics/{k}/id");
                // The issue key is kept: JCMA keeps project keys, so issue keys survive; the id
                // is what Ativo resolves.
                if let Some(id) = r.lookup(ISSUE, &epic.id, Some(&epic.key), Treatment::Dropped, pointer)
                    && !epics.iter().any(|e| e.id == id)
                {
                    epics.push(IssueRef { id, key: epic.key.clone() });
                }
            }
            objective.epics = epics;
        }
        let mut mappings = Vec::with_capacity(pi.sprint_mappings.len());
        for (j, mapping) in pi.sprint_mappings.iter().enumerate() {
            let pointer = format!("/data/pis/{i}/sprint_mappings/{j}/jira_sprint_id");
            let (treatment, label) = match mapped_boards.get(mapping.team.as_str()) {
                Some(board) => (Treatment::Refused, format!("team {}, board {board}", mapping.team)),
                None => (Treatment::Dropped, format!("team {}", mapping.team)),
            };
            if let Some(id) = r.lookup(SPRINT, &mapping.jira_sprint_id, Some(&label), treatment, pointer) {
                mappings.push(crate::model::SprintMapping { jira_sprint_id: id, ..mapping.clone() });
            }
        }
        pi.sprint_mappings = mappings;
    }
    let s = &mut out.settings;
    s.dependency_link_type_ids = r.list(ISSUE_LINK_TYPE, &s.dependency_link_type_ids, "dependency_link_type_ids");
    s.feature_issue_type_ids = r.list(ISSUE_TYPE, &s.feature_issue_type_ids, "feature_issue_type_ids");
    if let Some(field) = &s.story_points_field {
        let pointer = "/data/settings/story_points_field".to_owned();
        s.story_points_field = if is_custom_field(field) {
            r.lookup(CUSTOM_FIELD, field, None, Treatment::Cleared, pointer)
        } else {
            Some(field.clone())
        };
    }
    out.sort();
    Rewritten { config: out, unmapped: r.unmapped, rewritten: r.rewritten }
}

struct Rewriter<'a> {
    mappings: &'a Mappings,
    unmapped: Vec<Unmapped>,
    rewritten: u64,
}

impl Rewriter<'_> {
    /// The cloud id, or `None` after recording the unmapped use with `treatment`.
    fn lookup(
        &mut self,
        namespace: &'static str,
        id: &str,
        label: Option<&str>,
        treatment: Treatment,
        pointer: String,
    ) -> Option<String> {
        match self.mappings.get(namespace, id) {
            Some(cloud) => {
                self.rewritten += 1;
                Some(cloud)
            }
            None => {
                let label = label.map(str::to_owned);
                self.unmapped.push(Unmapped { namespace, id: id.to_owned(), label, treatment, pointer });
                None
            }
        }
    }

    /// The cloud id, or the server id itself (for refused projects and boards, which are never
    /// written).
    fn map_or(&mut self, ns: &'static str, id: &str, label: Option<&str>, t: Treatment, pointer: String) -> String {
        self.lookup(ns, id, label, t, pointer).unwrap_or_else(|| id.to_owned())
    }

    /// A settings list: mapped ids, unmapped ones dropped, duplicates (two server ids that map to
    /// one cloud id) removed.
    fn list(&mut self, namespace: &'static str, ids: &[String], member: &str) -> Vec<String> {
        let mut out = Vec::with_capacity(ids.len());
        for (k, id) in ids.iter().enumerate() {
            let pointer = format!("/data/settings/{member}/{k}");
            if let Some(cloud) = self.lookup(namespace, id, None, Treatment::Dropped, pointer)
                && !out.contains(&cloud)
            {
                out.push(cloud);
            }
        }
        out
    }

    fn scope(&mut self, scope: &ScopeFilter, base: &str) -> ScopeFilter {
        let nothing = || ScopeFilter::Manual { fields: Vec::new(), projects: Vec::new() };
        match scope {
            ScopeFilter::JiraFilter { filter_id } => {
                let pointer = format!("{base}/jira_filter/filter_id");
                match self.lookup(FILTER, filter_id, None, Treatment::ScopeEmptied, pointer) {
                    Some(filter_id) => ScopeFilter::JiraFilter { filter_id },
                    None => nothing(),
                }
            }
            ScopeFilter::Manual { fields, projects } => {
                let mut emptied = false;
                let mut new_projects: Vec<ProjectRef> = Vec::with_capacity(projects.len());
                for (k, project) in projects.iter().enumerate() {
                    let pointer = format!("{base}/manual/projects/{k}/id");
                    let id = self.map_or(PROJECT, &project.id, Some(&project.key), Treatment::Refused, pointer);
                    if !new_projects.iter().any(|p| p.id == id) {
                        new_projects.push(ProjectRef { id, key: project.key.clone() });
                    }
                }
                let mut new_fields = Vec::with_capacity(fields.len());
                for (k, field) in fields.iter().enumerate() {
                    let field_base = format!("{base}/manual/fields/{k}");
                    let field_id = if is_custom_field(&field.field_id) {
                        let pointer = format!("{field_base}/field_id");
                        match self.lookup(CUSTOM_FIELD, &field.field_id, None, Treatment::ScopeEmptied, pointer) {
                            Some(id) => id,
                            None => {
                                emptied = true;
                                field.field_id.clone()
                            }
                        }
                    } else {
                        field.field_id.clone()
                    };
                    let first_dropped = self.unmapped.len();
                    let mut option_ids: Vec<String> = Vec::with_capacity(field.option_ids.len());
                    for (m, option) in field.option_ids.iter().enumerate() {
                        let pointer = format!("{field_base}/option_ids/{m}");
                        if let Some(id) = self.lookup(CUSTOM_FIELD_OPTION, option, None, Treatment::Dropped, pointer)
                            && !option_ids.contains(&id)
                        {
                            option_ids.push(id);
                        }
                    }
                    // Dropping options narrows a filter, until none is left: then the filter
                    // would match nothing *and* be invalid, so the whole scope selects nothing.
                    if option_ids.is_empty() && field.values.is_empty() && !field.option_ids.is_empty() {
                        emptied = true;
                        for u in &mut self.unmapped[first_dropped..] {
                            u.treatment = Treatment::ScopeEmptied;
                        }
                    }
                    new_fields.push(FieldFilter { field_id, option_ids, ..field.clone() });
                }
                if emptied {
                    // Projects stay checked (and refused when unmapped) even in an emptied scope.
                    nothing()
                } else {
                    ScopeFilter::Manual { fields: new_fields, projects: new_projects }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::migration::references::References;
    use crate::sample::{SampleSize, generate};

    /// The cloud id the tests give a server id: `9` and its number, or `customfield_9...`.
    fn cloud_of(id: &str) -> String {
        match id.strip_prefix("customfield_") {
            Some(n) => format!("customfield_9{n}"),
            None => format!("9{id}"),
        }
    }

    /// Maps every referenced id of `config` to [`cloud_of`] it, except in the `skip` namespaces.
    fn mappings_for(config: &Configuration, skip: &[&str]) -> Mappings {
        let refs = References::of(config);
        let pairs: Vec<(String, String, String)> = refs
            .namespaces
            .iter()
            .filter(|(ns, _)| !skip.contains(ns))
            .flat_map(|(ns, ids)| ids.keys().map(move |id| (ns.to_string(), id.clone(), cloud_of(id))))
            .collect();
        Mappings::from_pairs(pairs.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())))
    }

    #[test]
    fn fully_mapped_leaves_no_server_id_and_no_unmapped() {
        let (config, _) = generate(SampleSize::Demo);
        let r = rewrite(&config, &mappings_for(&config, &[]));
        assert!(r.unmapped.is_empty(), "{:?}", r.unmapped);
        let before = References::of(&config);
        let after = References::of(&r.config);
        let total: usize =
            before.namespaces.values().map(|ids| ids.values().map(|i| i.pointers.len()).sum::<usize>()).sum();
        assert_eq!(r.rewritten, total as u64);
        for (ns, ids) in &after.namespaces {
            let expected: BTreeSet<String> = before.namespaces[ns].keys().map(|id| cloud_of(id)).collect();
            assert_eq!(ids.keys().cloned().collect::<BTreeSet<_>>(), expected, "{ns} was not rewritten");
        }
        // Keys are never touched.
        let keys = |c: &Configuration| c.teams.iter().map(|t| t.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&config), keys(&r.config));
        assert!(crate::model::validate::validate(&r.config).iter().all(|f| !f.is_error()));
    }

    #[test]
    fn unmapped_sprints_of_mapped_boards_refuse_and_the_others_are_dropped() {
        let (mut config, _) = generate(SampleSize::Demo);
        let r = rewrite(&config, &mappings_for(&config, &[SPRINT]));
        let sprints = References::of(&config).count(SPRINT);
        let reported: BTreeSet<_> = r.unmapped.iter().map(|u| (u.namespace, u.treatment, u.id.clone())).collect();
        assert_eq!(reported.len(), sprints);
        // The sprints of a team with a (mapped) board moved with it: refused; the others dropped.
        let boards: BTreeSet<&str> =
            config.teams.iter().filter(|t| t.board.is_some()).map(|t| t.key.as_str()).collect();
        for u in &r.unmapped {
            let team = config.pis.iter().flat_map(|p| &p.sprint_mappings).find(|m| m.jira_sprint_id == u.id).unwrap();
            let expected = if boards.contains(team.team.as_str()) { Treatment::Refused } else { Treatment::Dropped };
            assert_eq!((u.namespace, u.treatment), (SPRINT, expected), "{u:?}");
        }
        assert!(r.refusing().count() > 0 && r.unmapped.iter().any(|u| u.treatment == Treatment::Dropped));
        assert!(r.refusing().all(|u| u.label.as_deref().is_some_and(|l| l.contains(", board "))));
        // A team without a board (CUSTOM) has no board its sprints moved with: dropped.
        for team in &mut config.teams {
            team.board = None;
        }
        let r = rewrite(&config, &mappings_for(&config, &[SPRINT]));
        assert!(r.unmapped.iter().all(|u| u.treatment == Treatment::Dropped));
        assert!(r.config.pis.iter().all(|p| p.sprint_mappings.is_empty()));
        assert_eq!(r.refusing().count(), 0);
    }

    #[test]
    fn unmapped_projects_and_boards_refuse() {
        let (config, _) = generate(SampleSize::Demo);
        let r = rewrite(&config, &mappings_for(&config, &[PROJECT, BOARD]));
        let refusing: BTreeSet<_> = r.refusing().map(|u| u.namespace).collect();
        assert_eq!(refusing, BTreeSet::from([PROJECT, BOARD]));
        assert!(r.refusing().filter(|u| u.namespace == PROJECT).all(|u| u.label.is_some()));
    }

    #[test]
    fn unmapped_filters_and_fields_empty_their_scope_and_never_keep_the_server_id() {
        let (config, _) = generate(SampleSize::Demo);
        let r = rewrite(&config, &mappings_for(&config, &[FILTER, CUSTOM_FIELD]));
        let after = References::of(&r.config);
        assert_eq!(after.count(FILTER), 0);
        assert_eq!(after.count(CUSTOM_FIELD), 0);
        assert!(r.unmapped.iter().any(|u| u.treatment == Treatment::ScopeEmptied));
        assert!(r.unmapped.iter().any(|u| u.treatment == Treatment::Cleared), "story points field");
        assert_eq!(r.config.settings.story_points_field, None);
        assert!(crate::model::validate::validate(&r.config).iter().all(|f| !f.is_error()));
    }

    #[test]
    fn supplier_groups_are_kept_by_name_whatever_the_mappings_say() {
        let (config, _) = generate(SampleSize::Demo);
        let refs = References::of(&config);
        let mut doc = serde_json::Map::new();
        for (ns, ids) in &refs.namespaces {
            let ids = ids.keys().map(|id| (id.clone(), serde_json::Value::String(cloud_of(id)))).collect();
            doc.insert((*ns).to_owned(), serde_json::Value::Object(ids));
        }
        let groups = config.settings.supplier_groups.iter().flat_map(|g| {
            [(format!("identity:group:name/{g}"), serde_json::json!("1d2e-uuid")), (g.clone(), serde_json::json!("x"))]
        });
        doc.insert("identity:group".into(), serde_json::Value::Object(groups.collect()));
        let m = Mappings::parse(serde_json::Value::Object(doc).to_string().as_bytes(), "m").unwrap();
        let r = rewrite(&config, &m);
        assert_eq!(r.config.settings.supplier_groups, config.settings.supplier_groups);
        assert!(r.unmapped.is_empty(), "{:?}", r.unmapped);
        assert_eq!(m.ignored_namespaces()[0].namespace, "identity:group");
    }

    #[test]
    fn a_field_filter_left_without_options_empties_its_scope_and_partial_options_narrow() {
        let field = |options: &[&str]| FieldFilter {
            field_id: "labels".into(),
            operator: crate::model::FilterOperator::In,
            option_ids: options.iter().map(|o| o.to_string()).collect(),
            values: Vec::new(),
        };
        let scope = ScopeFilter::Manual { fields: vec![field(&["1", "2"])], projects: Vec::new() };
        let m = Mappings::from_pairs([(CUSTOM_FIELD_OPTION, "1", "c1")]);
        let mut r = Rewriter { mappings: &m, unmapped: Vec::new(), rewritten: 0 };
        let narrowed = r.scope(&scope, "/x");
        assert_eq!(narrowed, ScopeFilter::Manual { fields: vec![field(&["c1"])], projects: Vec::new() });
        assert_eq!(r.unmapped[0].treatment, Treatment::Dropped);
        let none = Mappings::default();
        let mut r = Rewriter { mappings: &none, unmapped: Vec::new(), rewritten: 0 };
        let emptied = r.scope(&scope, "/x");
        assert_eq!(emptied, ScopeFilter::Manual { fields: Vec::new(), projects: Vec::new() });
        assert!(
            r.unmapped.iter().all(|u| u.treatment == Treatment::ScopeEmptied && u.namespace == CUSTOM_FIELD_OPTION)
        );
        assert_eq!(r.unmapped.len(), 2);
    }

    #[test]
    fn options_mapped_to_one_cloud_option_are_not_repeated() {
        let (mut config, _) = generate(SampleSize::Demo);
        config.settings.feature_issue_type_ids = vec!["1".into(), "2".into()];
        let m = Mappings::from_pairs([(ISSUE_TYPE, "1", "9"), (ISSUE_TYPE, "2", "9")]);
        let r = rewrite(&config, &m);
        assert_eq!(r.config.settings.feature_issue_type_ids, vec!["9".to_owned()]);
    }
}
