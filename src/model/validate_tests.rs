//! The tests of `validate.rs`: one or more per rule of SPEC.md section 10.

use super::*;
use crate::model::{
    AdminGroup, AdminUser, Capacity, Estimation, FeatureScope, FieldFilter, FilterOperator, Milestone, Objective,
    ProjectRef, Sprint, SprintMapping,
};
use crate::model::{EpicMode, FeatureMode};

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn team(key: &str, kind: TeamType, mode: TeamMode) -> Team {
    Team {
        archived: false,
        board: (kind == TeamType::Board).then(|| "12".to_string()),
        estimation: Estimation::StoryPoints,
        key: key.to_string(),
        mode,
        name: format!("Team {key}"),
        scope: (kind == TeamType::Custom).then(manual_scope),
        kind,
    }
}

fn manual_scope() -> ScopeFilter {
    ScopeFilter::Manual {
        fields: vec![FieldFilter {
            field_id: "labels".to_string(),
            operator: FilterOperator::In,
            option_ids: vec![],
            values: vec!["payments".to_string()],
        }],
        projects: vec![ProjectRef { id: "10000".to_string(), key: "PAY".to_string() }],
    }
}

fn objective(level: ObjectiveLevel, team: Option<&str>, order: u32, title: &str) -> Objective {
    Objective {
        business_value_delivered: None,
        business_value_planned: Some(8),
        committed: true,
        description: None,
        epics: vec![],
        level,
        order,
        team: team.map(str::to_string),
        title: title.to_string(),
    }
}

fn milestone(order: u32, name: &str, date: Option<&str>, sprint: Option<u32>, team: Option<&str>) -> Milestone {
    Milestone {
        date: date.map(|d| d.parse().unwrap()),
        description: None,
        kind: None,
        name: name.to_string(),
        order,
        sprint,
        team: team.map(str::to_string),
    }
}

fn capacity(team: &str, sprint: u32, value: f64) -> Capacity {
    Capacity { sprint, team: team.to_string(), value }
}

fn mapping(team: &str, sprint: u32, id: &str) -> SprintMapping {
    SprintMapping { jira_sprint_id: id.to_string(), sprint, team: team.to_string() }
}

/// A small configuration that meets every rule: two teams (LION: BOARD/SCRUM, TIGER:
/// CUSTOM/KANBAN, listed TIGER first in the program), one program, one two-sprint period, one PI.
fn valid() -> Configuration {
    Configuration {
        admins: Some(Admins {
            groups: vec![AdminGroup { group_id: None, name: "jira-administrators".to_string() }],
            users: vec![AdminUser { account_id: None, user_key: Some("JIRAUSER10000".to_string()) }],
        }),
        periods: vec![Period {
            archived: false,
            key: "2026Q1".to_string(),
            name: "2026 Q1".to_string(),
            sprints: vec![
                Sprint { completed: true, end: date("2026-01-18"), index: 1, name: None, start: date("2026-01-05") },
                Sprint { completed: false, end: date("2026-02-01"), index: 2, name: None, start: date("2026-01-19") },
            ],
        }],
        pis: vec![Pi {
            capacity: vec![
                capacity("LION", 1, 30.0),
                capacity("LION", 2, 32.5),
                capacity("TIGER", 1, 10.0),
                capacity("TIGER", 2, 0.0),
            ],
            feature_filter: None,
            feature_inclusion: FeatureInclusion::Manual,
            key: "PGRM1-2026Q1".to_string(),
            milestones: vec![
                milestone(1, "PI planning", Some("2026-01-05"), None, None),
                milestone(2, "Demo", None, Some(2), Some("LION")),
            ],
            objective_epic_mapping: false,
            objectives: vec![
                objective(ObjectiveLevel::Program, None, 1, "Launch checkout v2"),
                objective(ObjectiveLevel::Team, Some("LION"), 1, "Ship the new cart"),
                objective(ObjectiveLevel::Team, Some("TIGER"), 1, "Support the launch"),
            ],
            period: "2026Q1".to_string(),
            program: "PGRM1".to_string(),
            sprint_mappings: vec![mapping("LION", 1, "501"), mapping("LION", 2, "502")],
            teams: None,
        }],
        programs: vec![Program {
            archived: false,
            feature_scope: FeatureScope {
                epic_filter: ScopeFilter::JiraFilter { filter_id: "10200".to_string() },
                epic_mode: EpicMode::Filter,
                issue_filter: None,
                mode: FeatureMode::Epics,
            },
            key: "PGRM1".to_string(),
            name: "Payments ART".to_string(),
            teams: vec!["TIGER".to_string(), "LION".to_string()],
        }],
        settings: Settings {
            dependency_link_type_ids: vec!["10000".to_string(), "10001".to_string()],
            feature_issue_type_ids: vec!["10100".to_string()],
            field_sharing: true,
            include_jsm_tickets: false,
            story_points_field: Some("customfield_10016".to_string()),
            supplier_groups: vec!["suppliers".to_string()],
        },
        teams: vec![team("LION", TeamType::Board, TeamMode::Scrum), team("TIGER", TeamType::Custom, TeamMode::Kanban)],
    }
}

fn found(config: &Configuration) -> Vec<(&'static str, String)> {
    validate(config).into_iter().map(|f| (f.code, f.pointer)).collect()
}

/// Applies `change` to the valid baseline and asserts the exact findings (code, pointer).
fn expect(change: impl FnOnce(&mut Configuration), expected: &[(&str, &str)]) {
    let mut config = valid();
    change(&mut config);
    let got = found(&config);
    let expected: Vec<(&str, String)> = expected.iter().map(|(c, p)| (*c, p.to_string())).collect();
    assert_eq!(got, expected);
}

fn admins(c: &mut Configuration) -> &mut Admins {
    c.admins.as_mut().unwrap()
}

fn pi(c: &mut Configuration) -> &mut Pi {
    &mut c.pis[0]
}

#[test]
fn the_baseline_is_valid_and_unremarkable() {
    assert_eq!(validate(&valid()), vec![]);
    let mut sorted = valid();
    sorted.sort();
    assert_eq!(sorted, valid(), "the baseline must be in canonical order");
}

#[test]
fn an_empty_configuration_is_valid() {
    assert_eq!(validate(&Configuration::empty()), vec![]);
}

#[test]
fn keys_must_be_well_formed() {
    expect(
        |c| c.teams.insert(0, team("", TeamType::Board, TeamMode::Scrum)),
        &[("team.key-invalid", "/data/teams/0/key")],
    );
    expect(
        |c| c.programs[0].key = "PGRM 1".into(),
        &[("pi.unknown-program", "/data/pis/0/program"), ("program.key-invalid", "/data/programs/0/key")],
    );
    expect(
        |c| c.periods[0].key = "Q".repeat(65),
        &[("period.key-invalid", "/data/periods/0/key"), ("pi.unknown-period", "/data/pis/0/period")],
    );
    expect(
        |c| pi(c).key = "\tX".into(),
        &[("pi.key-invalid", "/data/pis/0/key"), ("pi.key-mismatch", "/data/pis/0/key")],
    );
    // 64 characters is still a key: only the PI's now dangling reference is reported.
    expect(|c| c.periods[0].key = "Q".repeat(64), &[("pi.unknown-period", "/data/pis/0/period")]);
}

#[test]
fn keys_are_unique_per_kind_and_the_message_names_both_places() {
    let mut config = valid();
    config.teams.push(team("TIGER", TeamType::Board, TeamMode::Scrum));
    let findings = validate(&config);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!((findings[0].code, findings[0].pointer.as_str()), ("team.duplicate-key", "/data/teams/2/key"));
    assert_eq!(findings[0].message, "team key \"TIGER\" is used by /data/teams/1 and /data/teams/2");
    assert!(findings[0].is_error());

    expect(|c| c.programs.push(c.programs[0].clone()), &[("program.duplicate-key", "/data/programs/1/key")]);
    expect(|c| c.periods.push(c.periods[0].clone()), &[("period.duplicate-key", "/data/periods/1/key")]);
    expect(|c| c.pis.push(c.pis[0].clone()), &[("pi.duplicate-key", "/data/pis/1/key")]);
}

#[test]
fn unsorted_lists_give_one_finding_at_the_first_misplaced_element() {
    expect(
        |c| {
            c.teams.reverse();
            c.teams.push(team("ZEBRA", TeamType::Board, TeamMode::Kanban));
            c.teams.push(team("APE", TeamType::Board, TeamMode::Kanban));
        },
        &[("order.unsorted", "/data/teams/1")],
    );
    expect(
        |c| {
            let mut second = c.periods[0].clone();
            second.key = "2025Q4".into();
            c.periods.push(second);
        },
        &[("order.unsorted", "/data/periods/1")],
    );
    expect(|c| pi(c).capacity.swap(1, 2), &[("order.unsorted", "/data/pis/0/capacity/2")]);
    expect(|c| pi(c).sprint_mappings.swap(0, 1), &[("order.unsorted", "/data/pis/0/sprint_mappings/1")]);
    expect(|c| pi(c).objectives.swap(0, 2), &[("order.unsorted", "/data/pis/0/objectives/1")]);
    expect(|c| pi(c).milestones.swap(0, 1), &[("order.unsorted", "/data/pis/0/milestones/1")]);
    expect(
        |c| c.settings.dependency_link_type_ids.reverse(),
        &[("order.unsorted", "/data/settings/dependency_link_type_ids/1")],
    );
    expect(
        |c| {
            let admins = c.admins.as_mut().unwrap();
            admins.groups.insert(0, AdminGroup { group_id: None, name: "zz-admins".into() });
            admins.users.push(AdminUser { account_id: Some("5b10a2844c20165700ede21g".into()), user_key: None });
        },
        &[("order.unsorted", "/data/admins/groups/1"), ("order.unsorted", "/data/admins/users/1")],
    );
}

#[test]
fn every_unsorted_list_is_what_sort_would_change() {
    // Shuffle every list the sort orders, then check that validation flags exactly the lists
    // that `Configuration::sort` changes: the two definitions of canonical order agree.
    let mut config = valid();
    config.pis[0].objectives.reverse();
    config.pis[0].milestones.reverse();
    config.settings.feature_issue_type_ids.push("0".into());
    let unsorted: Vec<String> =
        validate(&config).into_iter().filter(|f| f.code == "order.unsorted").map(|f| f.pointer).collect();
    assert_eq!(unsorted.len(), 3, "{unsorted:?}");
    config.sort();
    assert_eq!(validate(&config), vec![]);
}

#[test]
fn team_rules() {
    expect(|c| c.teams[0].board = None, &[("team.board-missing", "/data/teams/0")]);
    expect(|c| c.teams[0].board = Some(" ".into()), &[("team.board-missing", "/data/teams/0/board")]);
    expect(|c| c.teams[0].scope = Some(manual_scope()), &[("team.scope-on-board", "/data/teams/0/scope")]);
    expect(|c| c.teams[1].scope = None, &[("team.scope-missing", "/data/teams/1")]);
    expect(|c| c.teams[1].board = Some("7".into()), &[("team.board-on-custom", "/data/teams/1/board")]);
    expect(
        |c| {
            c.teams.push(team("lynx", TeamType::Board, TeamMode::Kanban));
            c.teams.push(team("o", TeamType::Board, TeamMode::Kanban));
            c.teams.push(team("p12345678901", TeamType::Board, TeamMode::Kanban));
        },
        &[
            ("team.key-shape", "/data/teams/2/key"),
            ("team.key-shape", "/data/teams/3/key"),
            ("team.key-shape", "/data/teams/4/key"),
        ],
    );
    let mut config = valid();
    config.teams.push(team("TIGER-TEAM", TeamType::Board, TeamMode::Kanban));
    let findings = validate(&config);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!((findings[0].code, findings[0].severity), ("team.key-shape", Severity::Warning));
}

#[test]
fn program_rules() {
    expect(|c| c.programs[0].teams.push("PUMA".into()), &[("program.unknown-team", "/data/programs/0/teams/2")]);
    expect(|c| c.programs[0].teams.push("LION".into()), &[("program.duplicate-team", "/data/programs/0/teams/2")]);
}

#[test]
fn period_rules() {
    expect(
        |c| c.periods[0].sprints.clear(),
        &[
            ("period.no-sprints", "/data/periods/0/sprints"),
            ("capacity.unknown-sprint", "/data/pis/0/capacity/0/sprint"),
            ("capacity.unknown-sprint", "/data/pis/0/capacity/1/sprint"),
            ("capacity.unknown-sprint", "/data/pis/0/capacity/2/sprint"),
            ("capacity.unknown-sprint", "/data/pis/0/capacity/3/sprint"),
            ("milestone.unknown-sprint", "/data/pis/0/milestones/1/sprint"),
            ("mapping.unknown-sprint", "/data/pis/0/sprint_mappings/0/sprint"),
            ("mapping.unknown-sprint", "/data/pis/0/sprint_mappings/1/sprint"),
        ],
    );
    expect(
        |c| {
            let mut third = c.periods[0].sprints[1].clone();
            third.index = 4;
            third.start = date("2026-02-02");
            third.end = date("2026-02-15");
            c.periods[0].sprints.push(third);
        },
        &[("period.sprint-index", "/data/periods/0/sprints/2/index")],
    );
    expect(
        |c| c.periods[0].sprints[1].end = date("2026-01-10"),
        &[("period.sprint-dates", "/data/periods/0/sprints/1/start")],
    );
    expect(
        |c| c.periods[0].sprints[1].start = date("2026-01-18"),
        &[("period.sprint-overlap", "/data/periods/0/sprints/1/start")],
    );
}

#[test]
fn pi_rules() {
    expect(
        |c| {
            pi(c).program = "PGRM2".into();
            pi(c).key = "PGRM2-2026Q1".into();
        },
        // Without a program the PI's teams are unknown: its children are not flagged again.
        &[("pi.unknown-program", "/data/pis/0/program")],
    );
    expect(
        |c| {
            pi(c).period = "2026Q2".into();
            pi(c).key = "PGRM1-2026Q2".into();
        },
        &[("pi.unknown-period", "/data/pis/0/period")],
    );
    let mut config = valid();
    config.pis[0].key = "PGRM1-Q1".into();
    let findings = validate(&config);
    assert_eq!(found(&config), vec![("pi.key-mismatch", "/data/pis/0/key".to_string())]);
    assert!(findings[0].hint.contains("\"PGRM1-2026Q1\""), "{}", findings[0].hint);

    expect(|c| pi(c).feature_inclusion = FeatureInclusion::JiraFilter, &[("pi.feature-filter-missing", "/data/pis/0")]);
    expect(
        |c| pi(c).teams = Some(vec!["LION".into(), "PUMA".into(), "LION".into(), "TIGER".into()]),
        &[("pi.unknown-team", "/data/pis/0/teams/1"), ("pi.duplicate-team", "/data/pis/0/teams/2")],
    );
    // An override need not be a subset of the program's teams, but the children must follow it.
    expect(
        |c| {
            c.teams.insert(1, team("OTTER", TeamType::Board, TeamMode::Scrum));
            pi(c).teams = Some(vec!["LION".into(), "OTTER".into()]);
        },
        &[
            ("capacity.team-not-in-pi", "/data/pis/0/capacity/2/team"),
            ("capacity.team-not-in-pi", "/data/pis/0/capacity/3/team"),
            ("objective.team-not-in-pi", "/data/pis/0/objectives/2/team"),
        ],
    );
}

#[test]
fn capacity_rules() {
    expect(
        |c| pi(c).capacity.push(capacity("WOLF", 1, 1.0)),
        &[("capacity.unknown-team", "/data/pis/0/capacity/4/team")],
    );
    expect(
        |c| {
            c.teams.push(team("WOLF", TeamType::Board, TeamMode::Scrum));
            pi(c).capacity.push(capacity("WOLF", 1, 1.0));
        },
        &[("capacity.team-not-in-pi", "/data/pis/0/capacity/4/team")],
    );
    expect(|c| pi(c).capacity[3].sprint = 3, &[("capacity.unknown-sprint", "/data/pis/0/capacity/3/sprint")]);
    expect(|c| pi(c).capacity[0].value = -1.0, &[("capacity.value", "/data/pis/0/capacity/0/value")]);
    expect(|c| pi(c).capacity[0].value = f64::NAN, &[("capacity.value", "/data/pis/0/capacity/0/value")]);
    expect(|c| pi(c).capacity[0].value = f64::INFINITY, &[("capacity.value", "/data/pis/0/capacity/0/value")]);
    expect(|c| pi(c).capacity.insert(1, capacity("LION", 1, 3.0)), &[("capacity.duplicate", "/data/pis/0/capacity/1")]);
}

#[test]
fn sprint_mapping_rules() {
    expect(
        |c| pi(c).sprint_mappings.push(mapping("TIGER", 1, "9")),
        &[("mapping.not-scrum", "/data/pis/0/sprint_mappings/2/team")],
    );
    expect(
        |c| pi(c).sprint_mappings.push(mapping("WOLF", 1, "9")),
        &[("mapping.unknown-team", "/data/pis/0/sprint_mappings/2/team")],
    );
    expect(
        |c| {
            c.teams.push(team("WOLF", TeamType::Board, TeamMode::Scrum));
            pi(c).sprint_mappings.push(mapping("WOLF", 1, "9"));
        },
        &[("mapping.team-not-in-pi", "/data/pis/0/sprint_mappings/2/team")],
    );
    expect(
        |c| pi(c).sprint_mappings[1].sprint = 3,
        &[("mapping.unknown-sprint", "/data/pis/0/sprint_mappings/1/sprint")],
    );
    expect(
        |c| pi(c).sprint_mappings[1].jira_sprint_id = String::new(),
        &[("mapping.sprint-id-empty", "/data/pis/0/sprint_mappings/1/jira_sprint_id")],
    );
    expect(
        |c| pi(c).sprint_mappings.insert(1, mapping("LION", 1, "777")),
        &[("mapping.duplicate", "/data/pis/0/sprint_mappings/1")],
    );
    // Two SCRUM teams on one board share that board's Jira sprints.
    expect(
        |c| {
            c.teams.push(team("WOLF", TeamType::Board, TeamMode::Scrum));
            c.programs[0].teams.push("WOLF".into());
            pi(c).sprint_mappings.push(mapping("WOLF", 1, "501"));
        },
        &[],
    );
}

#[test]
fn objective_rules() {
    expect(|c| pi(c).objectives[1].team = None, &[("objective.team-missing", "/data/pis/0/objectives/1")]);
    expect(
        |c| pi(c).objectives[0].team = Some("LION".into()),
        &[("objective.team-on-program", "/data/pis/0/objectives/0/team")],
    );
    expect(
        |c| pi(c).objectives[2].team = Some("WOLF".into()),
        &[("objective.unknown-team", "/data/pis/0/objectives/2/team")],
    );
    expect(
        |c| {
            c.teams.push(team("WOLF", TeamType::Board, TeamMode::Scrum));
            pi(c).objectives[2].team = Some("WOLF".into());
        },
        &[("objective.team-not-in-pi", "/data/pis/0/objectives/2/team")],
    );
    expect(
        |c| {
            let copy = pi(c).objectives[1].clone();
            pi(c).objectives.insert(2, copy);
        },
        &[("objective.duplicate-order", "/data/pis/0/objectives/2/order")],
    );
    expect(|c| pi(c).objectives[0].title = " ".into(), &[("objective.title-empty", "/data/pis/0/objectives/0/title")]);
    expect(
        |c| {
            pi(c).objectives[0].business_value_planned = Some(0);
            pi(c).objectives[0].business_value_delivered = Some(11);
            pi(c).objectives[1].business_value_planned = Some(10);
            pi(c).objectives[1].business_value_delivered = Some(1);
        },
        &[
            ("objective.business-value", "/data/pis/0/objectives/0/business_value_delivered"),
            ("objective.business-value", "/data/pis/0/objectives/0/business_value_planned"),
        ],
    );
}

#[test]
fn milestone_rules() {
    expect(|c| pi(c).milestones[0].sprint = Some(1), &[("milestone.date-or-sprint", "/data/pis/0/milestones/0")]);
    expect(|c| pi(c).milestones[1].sprint = None, &[("milestone.date-or-sprint", "/data/pis/0/milestones/1")]);
    expect(
        |c| pi(c).milestones[1].sprint = Some(9),
        &[("milestone.unknown-sprint", "/data/pis/0/milestones/1/sprint")],
    );
    expect(
        |c| pi(c).milestones[0].date = Some(date("2026-02-02")),
        &[("milestone.date-outside-period", "/data/pis/0/milestones/0/date")],
    );
    expect(|c| pi(c).milestones[0].date = Some(date("2026-02-01")), &[]);
    expect(
        |c| pi(c).milestones[1].team = Some("WOLF".into()),
        &[("milestone.unknown-team", "/data/pis/0/milestones/1/team")],
    );
    expect(
        |c| {
            c.teams.push(team("WOLF", TeamType::Board, TeamMode::Scrum));
            pi(c).milestones[1].team = Some("WOLF".into());
        },
        &[("milestone.team-not-in-pi", "/data/pis/0/milestones/1/team")],
    );
    expect(|c| pi(c).milestones[0].name = String::new(), &[("milestone.name-empty", "/data/pis/0/milestones/0/name")]);
    expect(
        |c| {
            let copy = pi(c).milestones[1].clone();
            pi(c).milestones.push(copy);
        },
        &[("milestone.duplicate", "/data/pis/0/milestones/2")],
    );
}

#[test]
fn settings_rules() {
    expect(
        |c| c.settings.story_points_field = Some(String::new()),
        &[("settings.story-points-field-empty", "/data/settings/story_points_field")],
    );
    expect(
        |c| c.settings.supplier_groups.push("suppliers".into()),
        &[("settings.duplicate-value", "/data/settings/supplier_groups/1")],
    );
}

#[test]
fn admin_rules() {
    expect(
        |c| admins(c).users.insert(0, AdminUser { account_id: None, user_key: Some(String::new()) }),
        &[("admin.user-unidentified", "/data/admins/users/0")],
    );
    expect(
        |c| {
            let copy = admins(c).users[0].clone();
            admins(c).users.push(copy);
        },
        &[("admin.duplicate-user", "/data/admins/users/1")],
    );
    expect(
        |c| admins(c).groups.push(AdminGroup { group_id: Some("a1".into()), name: "jira-administrators".into() }),
        &[("admin.duplicate-group", "/data/admins/groups/1/name")],
    );
    expect(|c| admins(c).groups[0].name = String::new(), &[("admin.group-name-empty", "/data/admins/groups/0/name")]);
    // Absent admins (a migration archive) are the archive layer's concern.
    expect(|c| c.admins = None, &[]);
}

#[test]
fn scope_rules() {
    expect(
        |c| c.programs[0].feature_scope.epic_filter = ScopeFilter::JiraFilter { filter_id: String::new() },
        &[("scope.filter-id-empty", "/data/programs/0/feature_scope/epic_filter/jira_filter/filter_id")],
    );
    expect(
        |c| c.programs[0].feature_scope.issue_filter = Some(ScopeFilter::Manual { fields: vec![], projects: vec![] }),
        &[("scope.empty", "/data/programs/0/feature_scope/issue_filter/manual")],
    );
    expect(
        |c| {
            if let Some(ScopeFilter::Manual { fields, projects }) = &mut c.teams[1].scope {
                fields[0].values.clear();
                fields.push(FieldFilter {
                    field_id: String::new(),
                    operator: FilterOperator::In,
                    option_ids: vec!["1".into()],
                    values: vec![],
                });
                projects.push(projects[0].clone());
            }
        },
        &[
            ("scope.field-filter-empty", "/data/teams/1/scope/manual/fields/0"),
            ("scope.field-id-empty", "/data/teams/1/scope/manual/fields/1/field_id"),
            ("scope.duplicate-project", "/data/teams/1/scope/manual/projects/1"),
        ],
    );
    expect(
        |c| {
            pi(c).feature_inclusion = FeatureInclusion::JiraFilter;
            pi(c).feature_filter = Some(ScopeFilter::JiraFilter { filter_id: " ".into() });
        },
        &[("scope.filter-id-empty", "/data/pis/0/feature_filter/jira_filter/filter_id")],
    );
}

#[test]
fn findings_come_in_document_order() {
    let mut config = valid();
    config.teams[0].board = None; // /data/teams/0
    config.settings.story_points_field = Some(String::new()); // /data/settings/...
    config.pis[0].capacity[2].value = -1.0; // /data/pis/0/capacity/2/value
    config.pis[0].capacity[1].value = -1.0; // /data/pis/0/capacity/1/value
    config.admins.as_mut().unwrap().users[0].user_key = None; // /data/admins/users/0
    let pointers: Vec<String> = validate(&config).into_iter().map(|f| f.pointer).collect();
    assert_eq!(
        pointers,
        [
            "/data/admins/users/0",
            "/data/pis/0/capacity/1/value",
            "/data/pis/0/capacity/2/value",
            "/data/settings/story_points_field",
            "/data/teams/0",
        ]
    );
    assert_eq!(document_order("/data/pis/10", "/data/pis/9"), Ordering::Greater);
    assert_eq!(document_order("/data/pis/1", "/data/pis/1/key"), Ordering::Less);
}

#[test]
fn messages_and_hints_name_the_values() {
    let mut config = valid();
    config.pis[0].capacity[0].team = "WOLF".into();
    let findings = validate(&config);
    let f = findings.iter().find(|f| f.code == "capacity.unknown-team").unwrap();
    assert!(f.message.contains("\"WOLF\"") && f.message.contains("\"PGRM1-2026Q1\""), "{}", f.message);
    assert!(!f.hint.is_empty());
    for f in &findings {
        assert!(
            f.message.chars().next().is_some_and(|c| !c.is_uppercase() || f.message.starts_with("PI ")),
            "{}",
            f.message
        );
    }
}

/// The quoted `area.rule` literals in `text`: the codes a piece of source uses.
fn code_literals(text: &str) -> std::collections::BTreeSet<&str> {
    let mut codes = std::collections::BTreeSet::new();
    for (i, _) in text.match_indices('"') {
        let rest = &text[i + 1..];
        let end = rest.find(|c: char| !(c.is_ascii_lowercase() || c == '.' || c == '-')).unwrap_or(0);
        let code = &rest[..end];
        let parts: Vec<&str> = code.split('.').collect();
        if rest[end..].starts_with('"') && parts.len() == 2 && parts.iter().all(|p| !p.is_empty()) {
            codes.insert(code);
        }
    }
    codes
}

#[test]
fn the_rules_table_lists_exactly_the_codes_in_use_and_each_has_a_test() {
    let code = include_str!("validate.rs").split("#[cfg(test)]").next().unwrap_or_default();
    let tests = include_str!("validate_tests.rs");
    let used = code_literals(code);
    assert!(used.len() > 50, "{used:?}");
    let spec = include_str!("../../SPEC.md");
    let section = spec.split("## 10. Semantic rules").nth(1).unwrap().split("\n## ").next().unwrap();
    // The `archive.*` codes are header rules checked by the operations, not by this module.
    let documented: std::collections::BTreeSet<&str> = section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|line| line.split('`').next())
        .filter(|code| !code.starts_with("archive."))
        .collect();
    assert_eq!(used, documented, "SPEC.md section 10 and the validator disagree");
    let tested = code_literals(tests);
    let untested: Vec<&&str> = used.iter().filter(|c| !tested.contains(*c)).collect();
    assert!(untested.is_empty(), "codes without a test: {untested:?}");
}
