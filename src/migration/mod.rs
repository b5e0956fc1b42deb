//! Server / Data Center to cloud migration, pure logic: which Jira objects a configuration refers
//! to ([`references`]), the ID mappings that say what each became on the cloud site
//! ([`mappings`]), and the rewrite of a configuration through them ([`rewrite`]).
//!
//! Numeric ids of Jira objects differ per instance, so a configuration that moves to a cloud site
//! must have every such id replaced by the cloud object's id. Atlassian's Cloud Migration Assistant
//! (JCMA) hands apps these ID mappings per *namespace*; here they come in a file of the same shape
//! (SPEC.md, section 11). This module never reads a file or a store: the operation
//! (`crate::ops::migrate`) does the I/O, the checks against the cloud store and the log.
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
/// Groups (supplier groups in the settings), by group name.
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
/// board that is not mapped yet means the Jira migration of that project has not happened.
pub const REQUIRED: [&str; 2] = [PROJECT, BOARD];

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
