//! The tables of the configuration, with their columns and canonical order.

use super::*;

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
