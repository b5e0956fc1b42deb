//! Which Jira objects a configuration refers to, by mapping namespace, with where each is used.
//!
//! This is the one list of reference *sites* in the model (a team's board, a scope filter's
//! projects, a PI's sprint mappings, ...). The rewrite (`rewrite.rs`) visits the same sites; a
//! test checks that nothing the rewrite maps is missed here and the other way round. The admins
//! are not listed: they are never migrated (SPEC.md, section 11). Supplier groups are listed
//! apart, like system fields: they are kept by name and need no mapping.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{
    BOARD, CUSTOM_FIELD, CUSTOM_FIELD_OPTION, FILTER, ISSUE, ISSUE_LINK_TYPE, ISSUE_TYPE, PROJECT, SPRINT, id_order,
    is_custom_field,
};
use crate::model::{Configuration, ScopeFilter};

/// One referenced Jira object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reference {
    /// The server-side id.
    pub id: String,
    /// A human name where the configuration has one (a project or an issue key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Where it is used: JSON pointers into the archive (`/data/teams/3/board`).
    pub pointers: Vec<String>,
}

/// Every referenced object, by namespace then id (both in code-point order).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct References {
    /// Namespace -> server id -> reference.
    pub namespaces: BTreeMap<&'static str, BTreeMap<String, Reference>>,
    /// Jira system field ids used (`labels`, ...): the same on cloud, so not to be mapped.
    pub system_fields: BTreeSet<String>,
    /// Supplier group names: kept by name, so not to be mapped (SPEC.md, 11.1).
    pub groups: BTreeSet<String>,
}

impl References {
    /// Collects the references of `config` (admins excluded).
    pub fn of(config: &Configuration) -> Self {
        let mut refs = References::default();
        for (i, team) in config.teams.iter().enumerate() {
            if let Some(board) = &team.board {
                refs.add(BOARD, board, None, format!("/data/teams/{i}/board"));
            }
            if let Some(scope) = &team.scope {
                refs.scope(scope, &format!("/data/teams/{i}/scope"));
            }
        }
        for (i, program) in config.programs.iter().enumerate() {
            let base = format!("/data/programs/{i}/feature_scope");
            refs.scope(&program.feature_scope.epic_filter, &format!("{base}/epic_filter"));
            if let Some(filter) = &program.feature_scope.issue_filter {
                refs.scope(filter, &format!("{base}/issue_filter"));
            }
        }
        for (i, pi) in config.pis.iter().enumerate() {
            if let Some(filter) = &pi.feature_filter {
                refs.scope(filter, &format!("/data/pis/{i}/feature_filter"));
            }
            for (j, objective) in pi.objectives.iter().enumerate() {
                for (k, epic) in objective.epics.iter().enumerate() {
                    let pointer = format!("/data/pis/{i}/objectives/{j}/epics/{k}/id");
                    refs.add(ISSUE, &epic.id, Some(&epic.key), pointer);
                }
            }
            for (j, mapping) in pi.sprint_mappings.iter().enumerate() {
                refs.add(
                    SPRINT,
                    &mapping.jira_sprint_id,
                    None,
                    format!("/data/pis/{i}/sprint_mappings/{j}/jira_sprint_id"),
                );
            }
        }
        let s = &config.settings;
        for (k, id) in s.dependency_link_type_ids.iter().enumerate() {
            refs.add(ISSUE_LINK_TYPE, id, None, format!("/data/settings/dependency_link_type_ids/{k}"));
        }
        for (k, id) in s.feature_issue_type_ids.iter().enumerate() {
            refs.add(ISSUE_TYPE, id, None, format!("/data/settings/feature_issue_type_ids/{k}"));
        }
        if let Some(field) = &s.story_points_field {
            refs.field(field, "/data/settings/story_points_field".into());
        }
        refs.groups.extend(s.supplier_groups.iter().cloned());
        refs
    }

    fn add(&mut self, namespace: &'static str, id: &str, label: Option<&str>, pointer: String) {
        let entry = self.namespaces.entry(namespace).or_default().entry(id.to_owned()).or_insert_with(|| Reference {
            id: id.to_owned(),
            label: None,
            pointers: Vec::new(),
        });
        if entry.label.is_none() {
            entry.label = label.map(str::to_owned);
        }
        entry.pointers.push(pointer);
    }

    fn field(&mut self, field_id: &str, pointer: String) {
        if is_custom_field(field_id) {
            self.add(CUSTOM_FIELD, field_id, None, pointer);
        } else {
            self.system_fields.insert(field_id.to_owned());
        }
    }

    fn scope(&mut self, scope: &ScopeFilter, base: &str) {
        match scope {
            ScopeFilter::JiraFilter { filter_id } => {
                self.add(FILTER, filter_id, None, format!("{base}/jira_filter/filter_id"));
            }
            ScopeFilter::Manual { fields, projects } => {
                for (k, field) in fields.iter().enumerate() {
                    self.field(&field.field_id, format!("{base}/manual/fields/{k}/field_id"));
                    for (m, option) in field.option_ids.iter().enumerate() {
                        self.add(CUSTOM_FIELD_OPTION, option, None, format!("{base}/manual/fields/{k}/option_ids/{m}"));
                    }
                }
                for (k, project) in projects.iter().enumerate() {
                    self.add(PROJECT, &project.id, Some(&project.key), format!("{base}/manual/projects/{k}/id"));
                }
            }
        }
    }

    /// The number of distinct objects referenced in `namespace`.
    pub fn count(&self, namespace: &str) -> usize {
        self.namespaces.get(namespace).map_or(0, BTreeMap::len)
    }

    /// The number of uses (JSON pointers) of the objects referenced in `namespace`.
    pub fn uses(&self, namespace: &str) -> usize {
        self.namespaces.get(namespace).map_or(0, |ids| ids.values().map(|r| r.pointers.len()).sum())
    }

    /// The ids of `namespace` in [`id_order`] (numbers by value).
    pub fn ids_in_order(&self, namespace: &str) -> Vec<&Reference> {
        let mut ids: Vec<&Reference> = self.namespaces.get(namespace).map(|m| m.values().collect()).unwrap_or_default();
        ids.sort_by(|a, b| id_order(&a.id, &b.id));
        ids
    }

    /// The mappings skeleton: `{"<namespace>": {"<server id>": null}}`, the `--mappings` format
    /// with every cloud id still to be filled in; namespaces in code-point order, ids in
    /// [`id_order`].
    pub fn skeleton(&self) -> Skeleton<'_> {
        Skeleton(self)
    }
}

/// The mappings skeleton of some [`References`], serialized as `{"<namespace>": {"<server id>":
/// null}}` with the ids in numeric order (a `serde_json::Value` would sort them as strings).
#[derive(Debug, Clone, Copy)]
pub struct Skeleton<'r>(&'r References);

impl Serialize for Skeleton<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Ids<'a>(Vec<&'a Reference>);
        impl Serialize for Ids<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(self.0.len()))?;
                for r in &self.0 {
                    map.serialize_entry(&r.id, &())?;
                }
                map.end()
            }
        }
        let mut map = serializer.serialize_map(Some(self.0.namespaces.len()))?;
        for namespace in self.0.namespaces.keys() {
            map.serialize_entry(namespace, &Ids(self.0.ids_in_order(namespace)))?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{SampleSize, generate};

    #[test]
    fn the_demo_sample_refers_to_every_namespace_but_users_and_groups() {
        let (config, _) = generate(SampleSize::Demo);
        let refs = References::of(&config);
        for ns in super::super::NAMESPACES {
            let expected = !super::super::NOT_APPLIED.contains(&ns);
            assert_eq!(refs.count(ns) > 0, expected, "{ns}: {:?}", refs.namespaces.keys());
        }
        assert!(refs.system_fields.contains("labels"));
        assert_eq!(refs.groups.len(), config.settings.supplier_groups.len());
        let projects = &refs.namespaces[PROJECT];
        assert!(projects.values().all(|p| p.label.is_some() && !p.pointers.is_empty()));
    }

    #[test]
    fn the_skeleton_has_null_for_every_id_in_order() {
        let (config, _) = generate(SampleSize::Demo);
        let refs = References::of(&config);
        let text = serde_json::to_string(&refs.skeleton()).unwrap();
        let skeleton: serde_json::Value = serde_json::from_str(&text).unwrap();
        let sprints = skeleton[SPRINT].as_object().unwrap();
        assert_eq!(sprints.len(), refs.count(SPRINT));
        assert!(sprints.values().all(serde_json::Value::is_null));
        let keys: Vec<_> = skeleton.as_object().unwrap().keys().cloned().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        // Ids in numeric order, as written (a Value would have re-sorted them as strings).
        let written: Vec<u64> = {
            let start = text.find(SPRINT).unwrap();
            let body = &text[start..text[start..].find('}').unwrap() + start];
            body.split('"').filter_map(|part| part.parse().ok()).collect()
        };
        assert!(written.len() == refs.count(SPRINT) && written.windows(2).all(|w| w[0] < w[1]), "{written:?}");
    }
}
