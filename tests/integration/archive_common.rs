//! Shared by the archive tests: a small, hand-built, valid configuration that touches every kind
//! of entity (and floats, absent and present optional members, unicode and control characters),
//! a host, and helpers to seal, write and re-read archives.
#![allow(dead_code)]

use ativo_backup::archive::{self, Archive, Encoding, Limits, Scope};
use ativo_backup::host::{Deployment, HostIdentity};
use ativo_backup::model::*;
use chrono::{DateTime, NaiveDate, Utc};

pub fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

pub fn host() -> HostIdentity {
    HostIdentity::new(Deployment::Datacenter, "B8E7-9F2A-3C4D-5E6F", "https://jira.example.com").unwrap()
}

pub fn created_at() -> DateTime<Utc> {
    "2026-11-25T19:00:00.789Z".parse().unwrap()
}

fn manual(project: &str) -> ScopeFilter {
    ScopeFilter::Manual {
        fields: vec![FieldFilter {
            field_id: "customfield_10100".into(),
            operator: FilterOperator::In,
            option_ids: vec!["10001".into()],
            values: vec!["blue \"sky\"".into()],
        }],
        projects: vec![ProjectRef { id: "10000".into(), key: project.into() }],
    }
}

/// A valid configuration, deliberately *not* in canonical order (seal sorts it).
pub fn config() -> Configuration {
    let sprint = |index: u32, start: &str, end: &str| Sprint {
        completed: index == 1,
        end: date(end),
        index,
        name: (index == 2).then(|| format!("Sprint {index} ✓")),
        start: date(start),
    };
    let team = |key: &str, kind: TeamType, mode: TeamMode| Team {
        archived: false,
        board: (kind == TeamType::Board).then(|| "42".to_string()),
        estimation: Estimation::StoryPoints,
        key: key.into(),
        mode,
        name: format!("Team {key} – ünïcødé\t\u{1}"),
        scope: (kind == TeamType::Custom).then(|| manual("ABC")),
        kind,
    };
    let pi = |program: &str, period: &str| Pi {
        capacity: vec![
            Capacity { sprint: 2, team: "LION".into(), value: 12.5 },
            Capacity { sprint: 1, team: "LION".into(), value: 10.0 },
            Capacity { sprint: 1, team: "EAGLE".into(), value: 0.1 + 0.2 },
        ],
        feature_filter: Some(ScopeFilter::JiraFilter { filter_id: "10200".into() }),
        feature_inclusion: FeatureInclusion::JiraFilter,
        key: Pi::key_for(program, period),
        milestones: vec![
            Milestone {
                date: None,
                description: None,
                kind: None,
                name: "Demo".into(),
                order: 2,
                sprint: Some(2),
                team: None,
            },
            Milestone {
                date: Some(date("2024-01-10")),
                description: Some("line 1\nline 2 \u{7f} \u{2028}".into()),
                kind: Some("release".into()),
                name: "Go live".into(),
                order: 1,
                sprint: None,
                team: Some("LION".into()),
            },
        ],
        objective_epic_mapping: true,
        objectives: vec![
            Objective {
                business_value_delivered: None,
                business_value_planned: Some(8),
                committed: true,
                description: None,
                epics: vec![IssueRef { id: "20001".into(), key: "ABC-1".into() }],
                level: ObjectiveLevel::Team,
                order: 1,
                team: Some("LION".into()),
                title: "Ship the lion".into(),
            },
            Objective {
                business_value_delivered: Some(5),
                business_value_planned: Some(10),
                committed: false,
                description: Some("😀 emoji".into()),
                epics: vec![],
                level: ObjectiveLevel::Program,
                order: 1,
                team: None,
                title: "Program goal".into(),
            },
        ],
        period: period.into(),
        program: program.into(),
        sprint_mappings: vec![
            SprintMapping { jira_sprint_id: "302".into(), sprint: 2, team: "LION".into() },
            SprintMapping { jira_sprint_id: "301".into(), sprint: 1, team: "LION".into() },
        ],
        teams: None,
    };
    Configuration {
        admins: Some(Admins {
            groups: vec![
                AdminGroup { group_id: None, name: "jira-administrators".into() },
                AdminGroup { group_id: None, name: "ativo-admins".into() },
            ],
            users: vec![AdminUser { account_id: None, user_key: Some("JIRAUSER10000".into()) }],
        }),
        periods: vec![
            Period {
                archived: false,
                key: "2024Q2".into(),
                name: "Q2".into(),
                sprints: vec![sprint(1, "2024-04-01", "2024-04-14")],
            },
            Period {
                archived: true,
                key: "2024Q1".into(),
                name: "Q1".into(),
                sprints: vec![sprint(2, "2024-01-15", "2024-01-28"), sprint(1, "2024-01-01", "2024-01-14")],
            },
        ],
        pis: vec![pi("PGRM1", "2024Q1")],
        programs: vec![Program {
            archived: false,
            feature_scope: FeatureScope {
                epic_filter: manual("ABC"),
                epic_mode: EpicMode::Filter,
                issue_filter: None,
                mode: FeatureMode::Epics,
            },
            key: "PGRM1".into(),
            name: "Program one".into(),
            teams: vec!["LION".into(), "EAGLE".into()],
        }],
        settings: Settings {
            dependency_link_type_ids: vec!["10003".into(), "10001".into()],
            feature_issue_type_ids: vec!["10000".into()],
            field_sharing: true,
            include_jsm_tickets: false,
            story_points_field: Some("customfield_10016".into()),
            supplier_groups: vec![],
        },
        teams: vec![team("LION", TeamType::Board, TeamMode::Scrum), team("EAGLE", TeamType::Custom, TeamMode::Kanban)],
    }
}

pub fn tokens() -> Vec<ApiToken> {
    vec![
        ApiToken { created_at: "2025-02-01T10:00:00Z".into(), created_by: "JIRAUSER10000".into(), name: "ci".into() },
        ApiToken { created_at: "2025-01-01T10:00:00Z".into(), created_by: "JIRAUSER10000".into(), name: "etl".into() },
    ]
}

pub fn sealed() -> Archive {
    archive::seal(config(), &host(), Scope::Full, tokens(), created_at())
}

pub fn encode(archive: &Archive, encoding: Encoding) -> Vec<u8> {
    let mut out = Vec::new();
    archive::write(archive, &mut out, encoding).unwrap();
    out
}

pub fn decode(bytes: &[u8]) -> Result<Archive, ativo_backup::error::ArchiveError> {
    archive::read(bytes, &Limits::default())
}

/// Seals the (edited) document again: recomputes both digests over a JSON value, the way an
/// independent tool would, so that only the defect under test remains.
pub fn reseal(doc: &mut serde_json::Value) {
    use sha2::{Digest, Sha256};
    let hash = |v: &serde_json::Value| {
        format!("sha256:{}", hex::encode(Sha256::digest(serde_json_canonicalizer::to_vec(v).unwrap())))
    };
    doc["header"]["content_digest"] = hash(&doc["data"]).into();
    let mut without = doc.clone();
    without["header"].as_object_mut().unwrap().remove("integrity_digest");
    doc["header"]["integrity_digest"] = hash(&without).into();
}

/// [`reseal`], by value.
pub fn resealed(mut doc: serde_json::Value) -> serde_json::Value {
    reseal(&mut doc);
    doc
}

pub fn json_doc(archive: &Archive) -> serde_json::Value {
    serde_json::from_slice(&encode(archive, Encoding::Json)).unwrap()
}

pub fn exit_code(result: Result<Archive, ativo_backup::error::ArchiveError>) -> u8 {
    result.map(|_| 0).unwrap_or_else(|e| e.exit_code())
}
