-- ativo-backup store, schema version 1 (SQLite).
--
-- Column lists and row mapping live in src/store/relational.rs; a PostgreSQL twin of this file
-- must define the same tables and columns. Conventions:
--   * STRICT tables: SQLite enforces the declared types, so a hand edit cannot slip text into
--     an integer column.
--   * booleans are INTEGER 0/1 with a CHECK; u32 members are INTEGER with a range CHECK;
--     dates are TEXT 'YYYY-MM-DD'; capacity is an IEEE double, bit for bit (see capacity.value).
--   * natural keys are primary keys and foreign-key targets; the default BINARY collation gives
--     code-point order, which is the canonical order of keys.
--   * lists whose order matters carry a 0-based `position`.
--   * tables with composite keys are WITHOUT ROWID: one B-tree per table instead of two, which
--     halves the work of a bulk insert.
-- Constraints hold only what every valid configuration meets (see SPEC.md semantic rules and the
-- model's docs); membership rules (a capacity team belongs to the PI's teams...) stay semantic.

CREATE TABLE host_identity (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    deployment  TEXT NOT NULL CHECK (deployment IN ('server', 'datacenter', 'cloud')),
    server_id   TEXT NOT NULL,
    base_url    TEXT NOT NULL
) STRICT;

CREATE TABLE host_alias (
    position    INTEGER PRIMARY KEY CHECK (position >= 0),
    deployment  TEXT NOT NULL CHECK (deployment IN ('server', 'datacenter', 'cloud')),
    server_id   TEXT NOT NULL,
    base_url    TEXT NOT NULL,
    UNIQUE (deployment, server_id, base_url)
) STRICT;

CREATE TABLE api_token (
    position    INTEGER PRIMARY KEY CHECK (position >= 0),
    name        TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;

CREATE TABLE operation_log (
    id              INTEGER PRIMARY KEY,
    at              TEXT NOT NULL,
    kind            TEXT NOT NULL,
    os_user         TEXT NOT NULL,
    archive_digest  TEXT,
    content_digest  TEXT,
    outcome         TEXT NOT NULL,
    detail          TEXT NOT NULL CHECK (json_valid(detail))
) STRICT;

-- ---- the configuration

CREATE TABLE settings (
    id                   INTEGER PRIMARY KEY CHECK (id = 1),
    field_sharing        INTEGER NOT NULL CHECK (field_sharing IN (0, 1)),
    include_jsm_tickets  INTEGER NOT NULL CHECK (include_jsm_tickets IN (0, 1)),
    story_points_field   TEXT
) STRICT;

CREATE TABLE settings_dependency_link_type (
    position      INTEGER PRIMARY KEY CHECK (position >= 0),
    link_type_id  TEXT NOT NULL
) STRICT;

CREATE TABLE settings_feature_issue_type (
    position       INTEGER PRIMARY KEY CHECK (position >= 0),
    issue_type_id  TEXT NOT NULL
) STRICT;

CREATE TABLE settings_supplier_group (
    position    INTEGER PRIMARY KEY CHECK (position >= 0),
    group_name  TEXT NOT NULL
) STRICT;

-- One row when the configuration has admins (possibly none of them): a migration-scoped
-- configuration has no admins at all, which is not the same as an empty list.
CREATE TABLE admins (
    id  INTEGER PRIMARY KEY CHECK (id = 1)
) STRICT;

CREATE TABLE admin_user (
    position    INTEGER PRIMARY KEY CHECK (position >= 0),
    admins_id   INTEGER NOT NULL REFERENCES admins (id),
    user_key    TEXT,
    account_id  TEXT,
    CHECK (user_key IS NOT NULL OR account_id IS NOT NULL)
) STRICT;

CREATE TABLE admin_group (
    position    INTEGER PRIMARY KEY CHECK (position >= 0),
    admins_id   INTEGER NOT NULL REFERENCES admins (id),
    group_name  TEXT NOT NULL,
    group_id    TEXT
) STRICT;

-- Scope filters of teams, programs (epic filter, issue filter) and PIs (feature filter).
CREATE TABLE scope_filter (
    filter_id       INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('jira_filter', 'manual')),
    jira_filter_id  TEXT,
    CHECK ((kind = 'jira_filter') = (jira_filter_id IS NOT NULL))
) STRICT;

CREATE TABLE scope_filter_project (
    filter_id    INTEGER NOT NULL REFERENCES scope_filter (filter_id),
    position     INTEGER NOT NULL CHECK (position >= 0),
    project_id   TEXT NOT NULL,
    project_key  TEXT NOT NULL,
    PRIMARY KEY (filter_id, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE scope_filter_field (
    filter_id  INTEGER NOT NULL REFERENCES scope_filter (filter_id),
    position   INTEGER NOT NULL CHECK (position >= 0),
    field_id   TEXT NOT NULL,
    operator   TEXT NOT NULL CHECK (operator IN ('IN')),
    PRIMARY KEY (filter_id, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE scope_filter_field_option (
    filter_id       INTEGER NOT NULL,
    field_position  INTEGER NOT NULL,
    position        INTEGER NOT NULL CHECK (position >= 0),
    option_id       TEXT NOT NULL,
    PRIMARY KEY (filter_id, field_position, position),
    FOREIGN KEY (filter_id, field_position) REFERENCES scope_filter_field (filter_id, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE scope_filter_field_value (
    filter_id       INTEGER NOT NULL,
    field_position  INTEGER NOT NULL,
    position        INTEGER NOT NULL CHECK (position >= 0),
    value           TEXT NOT NULL,
    PRIMARY KEY (filter_id, field_position, position),
    FOREIGN KEY (filter_id, field_position) REFERENCES scope_filter_field (filter_id, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE team (
    team_key         TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('BOARD', 'CUSTOM')),
    board_id         TEXT,
    mode             TEXT NOT NULL CHECK (mode IN ('SCRUM', 'KANBAN')),
    estimation       TEXT NOT NULL CHECK (estimation IN ('STORY_POINTS', 'MAN_DAYS', 'ISSUE_COUNT')),
    scope_filter_id  INTEGER UNIQUE REFERENCES scope_filter (filter_id),
    archived         INTEGER NOT NULL CHECK (archived IN (0, 1))
) STRICT, WITHOUT ROWID;

CREATE TABLE program (
    program_key      TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    feature_mode     TEXT NOT NULL CHECK (feature_mode IN ('EPICS', 'ISSUE_TYPES')),
    epic_mode        TEXT NOT NULL CHECK (epic_mode IN ('FILTER', 'TEAM_ISSUES')),
    epic_filter_id   INTEGER NOT NULL UNIQUE REFERENCES scope_filter (filter_id),
    issue_filter_id  INTEGER UNIQUE REFERENCES scope_filter (filter_id),
    archived         INTEGER NOT NULL CHECK (archived IN (0, 1))
) STRICT, WITHOUT ROWID;

CREATE TABLE program_team (
    program_key  TEXT NOT NULL REFERENCES program (program_key),
    position     INTEGER NOT NULL CHECK (position >= 0),
    team_key     TEXT NOT NULL REFERENCES team (team_key),
    PRIMARY KEY (program_key, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE period (
    period_key  TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    archived    INTEGER NOT NULL CHECK (archived IN (0, 1))
) STRICT, WITHOUT ROWID;

CREATE TABLE sprint (
    period_key    TEXT NOT NULL REFERENCES period (period_key),
    sprint_index  INTEGER NOT NULL CHECK (sprint_index BETWEEN 0 AND 4294967295),
    start_date    TEXT NOT NULL,
    end_date      TEXT NOT NULL,
    name          TEXT,
    completed     INTEGER NOT NULL CHECK (completed IN (0, 1)),
    PRIMARY KEY (period_key, sprint_index)
) STRICT, WITHOUT ROWID;

CREATE TABLE pi (
    pi_key                  TEXT PRIMARY KEY,
    program_key             TEXT NOT NULL REFERENCES program (program_key),
    period_key              TEXT NOT NULL REFERENCES period (period_key),
    feature_inclusion       TEXT NOT NULL CHECK (feature_inclusion IN ('MANUAL', 'JIRA_FILTER', 'JIRA_PLANS_DATES')),
    feature_filter_id       INTEGER UNIQUE REFERENCES scope_filter (filter_id),
    objective_epic_mapping  INTEGER NOT NULL CHECK (objective_epic_mapping IN (0, 1)),
    -- 0: the PI uses its program's teams; 1: it uses its pi_team rows, possibly none.
    has_team_override       INTEGER NOT NULL CHECK (has_team_override IN (0, 1)),
    UNIQUE (program_key, period_key)
) STRICT, WITHOUT ROWID;

CREATE TABLE pi_team (
    pi_key    TEXT NOT NULL REFERENCES pi (pi_key),
    position  INTEGER NOT NULL CHECK (position >= 0),
    team_key  TEXT NOT NULL REFERENCES team (team_key),
    PRIMARY KEY (pi_key, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE sprint_mapping (
    pi_key          TEXT NOT NULL REFERENCES pi (pi_key),
    team_key        TEXT NOT NULL REFERENCES team (team_key),
    sprint_index    INTEGER NOT NULL CHECK (sprint_index BETWEEN 0 AND 4294967295),
    jira_sprint_id  TEXT NOT NULL,
    PRIMARY KEY (pi_key, team_key, sprint_index)
) STRICT, WITHOUT ROWID;

CREATE TABLE capacity (
    pi_key        TEXT NOT NULL REFERENCES pi (pi_key),
    team_key      TEXT NOT NULL REFERENCES team (team_key),
    sprint_index  INTEGER NOT NULL CHECK (sprint_index BETWEEN 0 AND 4294967295),
    -- ANY, not REAL: REAL affinity stores integral doubles as integers on disk and turns -0.0
    -- into 0.0 on the way back; ANY keeps the 8 bytes as given, and the CHECK keeps it a double.
    value         ANY NOT NULL CHECK (typeof(value) = 'real' AND value >= 0),
    PRIMARY KEY (pi_key, team_key, sprint_index)
) STRICT, WITHOUT ROWID;

CREATE TABLE objective (
    pi_key                    TEXT NOT NULL REFERENCES pi (pi_key),
    position                  INTEGER NOT NULL CHECK (position >= 0),
    level                     TEXT NOT NULL CHECK (level IN ('PROGRAM', 'TEAM')),
    team_key                  TEXT REFERENCES team (team_key),
    ord                       INTEGER NOT NULL CHECK (ord BETWEEN 0 AND 4294967295),
    title                     TEXT NOT NULL,
    description               TEXT,
    committed                 INTEGER NOT NULL CHECK (committed IN (0, 1)),
    business_value_planned    INTEGER CHECK (business_value_planned BETWEEN 0 AND 4294967295),
    business_value_delivered  INTEGER CHECK (business_value_delivered BETWEEN 0 AND 4294967295),
    CHECK ((level = 'TEAM') = (team_key IS NOT NULL)),
    PRIMARY KEY (pi_key, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE objective_epic (
    pi_key              TEXT NOT NULL,
    objective_position  INTEGER NOT NULL,
    position            INTEGER NOT NULL CHECK (position >= 0),
    issue_id            TEXT NOT NULL,
    issue_key           TEXT NOT NULL,
    PRIMARY KEY (pi_key, objective_position, position),
    FOREIGN KEY (pi_key, objective_position) REFERENCES objective (pi_key, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE milestone (
    pi_key        TEXT NOT NULL REFERENCES pi (pi_key),
    position      INTEGER NOT NULL CHECK (position >= 0),
    name          TEXT NOT NULL,
    ord           INTEGER NOT NULL CHECK (ord BETWEEN 0 AND 4294967295),
    on_date       TEXT,
    sprint_index  INTEGER CHECK (sprint_index BETWEEN 0 AND 4294967295),
    team_key      TEXT REFERENCES team (team_key),
    description   TEXT,
    kind          TEXT,
    CHECK ((on_date IS NULL) <> (sprint_index IS NULL)),
    PRIMARY KEY (pi_key, position)
) STRICT, WITHOUT ROWID;
