//! Server / Data Center to cloud migration, pure logic: which Jira objects a configuration refers
//! to ([`references`]), the ID mappings that say what each became on the cloud site
//! ([`mappings`]), and the rewrite of a configuration through them ([`rewrite`]).
//!
//! Numeric ids of Jira objects differ per instance, so a configuration that moves to a cloud site
//! must have every such id replaced by the cloud object's id. Atlassian's Cloud Migration Assistant
//! (JCMA) hands apps these ID mappings per *namespace*; here they come in a file of the same shape
//! (SPEC.md, section 11). This module never opens a file or a store: the mappings are read from
//! any `Read` it is given, and the operation (`crate::ops::migrate`) opens the files, checks the
//! cloud store and writes the log.
//!
//! Natural keys (team, program, period and PI keys) are never rewritten: they are embedded in Jira
//! field values on migrated issues and must stay exactly as they are.

pub mod mappings;
pub mod references;
pub mod rewrite;

/// Jira projects (manual scope filters). Required: a migration refuses to run without them.
pub const PROJECT: &str = "jira/classic:project";
/// Jira Software boards (BOARD teams). Required: a BOARD team cannot exist without its board.
pub const BOARD: &str = "jira/classic/software:rapidView";
/// Jira Software sprints (sprint mappings of PIs).
pub const SPRINT: &str = "jira/classic/software:sprint";
/// Saved filters (scope filters of the `jira_filter` kind).
pub const FILTER: &str = "jira:filter";
/// Issues (epics mapped to PI objectives).
pub const ISSUE: &str = "jira:issue";
/// Custom fields (`customfield_NNNNN` in field filters and the story points field).
pub const CUSTOM_FIELD: &str = "jira/classic:customField";
/// Options of select custom fields (option ids in field filters).
pub const CUSTOM_FIELD_OPTION: &str = "jira/classic:customFieldOption";
/// Issue types (feature issue types in the settings).
pub const ISSUE_TYPE: &str = "jira/classic:issueType";
/// Issue link types (dependency link types in the settings).
pub const ISSUE_LINK_TYPE: &str = "jira:issueLinkType";
/// Groups. Ativo keeps supplier groups by *name*, and the mappings of this namespace give cloud
/// group *ids* (keyed `identity:group:name/<name>`), so they are read but never applied: a group
/// name means the same group on the cloud site (SPEC.md, 11.1).
pub const GROUP: &str = "identity:group";
/// Users. No migrated member refers to a user (the admins are never migrated); named so that a
/// mappings file straight from JCMA that carries it is not reported as unknown.
pub const USER: &str = "identity:user";

/// Every namespace this tool knows, in the order SPEC.md lists them.
pub const NAMESPACES: [&str; 11] = [
    PROJECT,
    BOARD,
    SPRINT,
    FILTER,
    ISSUE,
    CUSTOM_FIELD,
    CUSTOM_FIELD_OPTION,
    ISSUE_TYPE,
    ISSUE_LINK_TYPE,
    GROUP,
    USER,
];

/// Namespaces whose every referenced id must be mapped before a migration runs: a project or a
/// board that is not mapped yet means the Jira migration of that project has not happened. The
/// sprints of a mapped board are required too (see [`rewrite`]): they moved with the board, so a
/// missing one means a missing page of mappings, not a missing sprint.
pub const REQUIRED: [&str; 2] = [PROJECT, BOARD];

/// Namespaces whose mappings this tool reads but never applies (see [`GROUP`] and [`USER`]).
pub const NOT_APPLIED: [&str; 2] = [GROUP, USER];

/// Whether the cloud ids of `namespace` are Jira's numeric ids: a positive integer written in
/// decimal (projects, boards, sprints, filters, issues, options, issue and link types).
pub fn has_numeric_ids(namespace: &str) -> bool {
    matches!(namespace, PROJECT | BOARD | SPRINT | FILTER | ISSUE | CUSTOM_FIELD_OPTION | ISSUE_TYPE | ISSUE_LINK_TYPE)
}

/// The namespace of this tool named `name`, with the `'static` lifetime of [`NAMESPACES`].
pub fn known_namespace(name: &str) -> Option<&'static str> {
    NAMESPACES.iter().copied().find(|ns| *ns == name)
}

/// What one use of an id of `namespace` is, in words, for totals ("N of M sprint mappings").
pub fn uses_noun(namespace: &str) -> &'static str {
    match namespace {
        PROJECT => "project uses in scope filters",
        BOARD => "team boards",
        SPRINT => "sprint mappings",
        FILTER => "saved-filter scopes",
        ISSUE => "objective epics",
        CUSTOM_FIELD => "custom field uses",
        CUSTOM_FIELD_OPTION => "field filter options",
        ISSUE_TYPE => "feature issue types",
        ISSUE_LINK_TYPE => "dependency link types",
        _ => "uses",
    }
}

/// What happens to an id of `namespace` that has no mapping (SPEC.md, 11.1), in words.
pub fn if_unmapped(namespace: &str) -> &'static str {
    match namespace {
        PROJECT | BOARD => "refused: the migration does not run",
        SPRINT => {
            "refused for a team whose board is mapped (its sprints moved with it); otherwise the sprint mapping is dropped, with consent"
        }
        FILTER => "the scope filter selects nothing, with consent",
        ISSUE => "the epic is dropped from the objective, with consent",
        CUSTOM_FIELD => "a field filter's scope selects nothing, the story points field is unset; with consent",
        CUSTOM_FIELD_OPTION => "the option is dropped (a filter left with none selects nothing), with consent",
        ISSUE_TYPE | ISSUE_LINK_TYPE => "dropped from the settings, with consent",
        _ => "not applied",
    }
}

/// Orders Jira ids as people read them: numbers by value (`11` before `100`), then anything
/// else in code-point order. Reports and the log list ids this way.
pub fn id_order(a: &str, b: &str) -> std::cmp::Ordering {
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    match (numeric(a), numeric(b)) {
        (true, true) => {
            let (ta, tb) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
            ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb)).then_with(|| a.cmp(b))
        }
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

/// The prefix of custom field ids; other field ids (`labels`, `priority`, ...) are Jira system
/// fields, which have the same id on every instance and need no mapping.
pub const CUSTOM_FIELD_PREFIX: &str = "customfield_";

/// Whether `field_id` names a custom field (instance-specific) rather than a system field.
pub fn is_custom_field(field_id: &str) -> bool {
    field_id.starts_with(CUSTOM_FIELD_PREFIX)
}

/// Escapes one RFC 6901 JSON pointer token (namespaces contain `/`).
pub fn pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_ordered_by_number_then_by_code_point() {
        let mut ids = vec!["110", "11", "100", "b", "0012", "a", "9", "12"];
        ids.sort_by(|a, b| id_order(a, b));
        assert_eq!(ids, ["9", "11", "0012", "12", "100", "110", "a", "b"]);
    }
}
