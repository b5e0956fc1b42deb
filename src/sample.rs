//! Deterministic sample configurations for `init --sample demo|large|huge`.
//!
//! This module owns the generated data: a small, realistic company (`demo`) for trying the tool
//! out, and two bulk shapes (`large`, `huge`) for benchmarks and limit tests. Every sample is
//! valid ([`crate::model::validate::validate`] finds no error), already in canonical order
//! ([`Configuration::sort`] changes nothing) and identical on every run and machine: randomness
//! comes from ChaCha8 with fixed seeds, dates from a fixed reference day rather than the clock,
//! and no output is ever produced by iterating a hash map. Storing the samples is the store's
//! business, not this module's.
//!
//! Jira ids are numeric strings from per-kind counters (boards, filters, sprints, projects,
//! issues), as a real instance hands them out, so that two objects of one kind never share an id.

use chrono::{Datelike, Days, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::{
    AdminGroup, AdminUser, Admins, ApiToken, Capacity, Configuration, EpicMode, Estimation, FeatureInclusion,
    FeatureMode, FeatureScope, FieldFilter, FilterOperator, IssueRef, Milestone, Objective, ObjectiveLevel, Period, Pi,
    Program, ProjectRef, ScopeFilter, Settings, Sprint, SprintMapping, Team, TeamMode, TeamType,
};

/// Size of a generated sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleSize {
    /// A small realistic company.
    Demo,
    /// About 50 programs, 500 teams, 20 periods.
    Large,
    /// About ten times large.
    Huge,
}

/// Generates the sample configuration (valid, in canonical order) and token metadata.
pub fn generate(size: SampleSize) -> (Configuration, Vec<ApiToken>) {
    let config = match size {
        SampleSize::Demo => demo(),
        SampleSize::Large => bulk(50, 0x004c_4152_4745),
        SampleSize::Huge => bulk(500, 0x4855_4745),
    };
    (config, api_tokens())
}

/// "Today" for every sample: sprints that ended before it are completed, objectives of PIs that
/// ended before it have a delivered business value. Fixed, so that samples never change.
fn reference_day() -> NaiveDate {
    day(2026, 5, 4)
}

fn day(year: i32, month: u32, dom: u32) -> NaiveDate {
    // Only ever called with literal, valid dates; MIN keeps this total without a panic path.
    NaiveDate::from_ymd_opt(year, month, dom).unwrap_or(NaiveDate::MIN)
}

const ANIMALS: [&str; 31] = [
    "BISON", "COBRA", "CRANE", "DINGO", "EAGLE", "FALCON", "GECKO", "HERON", "HYENA", "IBIS", "KOALA", "LEMUR", "LION",
    "LYNX", "MOOSE", "NEWT", "ORCA", "OTTER", "PANDA", "PUMA", "QUAIL", "RAVEN", "SEAL", "SHARK", "SWAN", "TAPIR",
    "TIGER", "VIPER", "WOLF", "YAK", "ZEBRA",
];
const COLOURS: [&str; 12] =
    ["Amber", "Azure", "Coral", "Crimson", "Emerald", "Golden", "Indigo", "Jade", "Ochre", "Ruby", "Silver", "Teal"];
const DOMAINS: [&str; 12] = [
    "Payments",
    "Retail",
    "Devices",
    "Logistics",
    "Identity",
    "Search",
    "Billing",
    "Partners",
    "Mobile",
    "Data",
    "Insurance",
    "Travel",
];
const VERBS: [&str; 8] = ["Deliver", "Launch", "Improve", "Automate", "Migrate", "Harden", "Pilot", "Simplify"];
const OBJECTS: [&str; 12] = [
    "checkout v2",
    "the onboarding flow",
    "payment retries",
    "search relevance",
    "the release pipeline",
    "mobile login",
    "reporting dashboards",
    "fraud scoring",
    "the partner API",
    "invoice exports",
    "observability",
    "accessibility",
];

/// The generator's state: the random stream and the Jira id counters.
struct Gen {
    rng: ChaCha8Rng,
    next_board: u64,
    next_filter: u64,
    next_sprint: u64,
    next_issue: u64,
    next_project: u64,
}

impl Gen {
    fn new(seed: u64) -> Self {
        Gen {
            rng: ChaCha8Rng::seed_from_u64(seed),
            next_board: 11,
            next_filter: 10_200,
            next_sprint: 101,
            next_issue: 10_500,
            next_project: 10_000,
        }
    }

    fn id(counter: &mut u64) -> String {
        let id = *counter;
        *counter += 1;
        id.to_string()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// A number in `low..=high`.
    fn between(&mut self, low: u32, high: u32) -> u32 {
        self.rng.random_range(low..=high)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        // Sampling a u32 keeps the stream identical on 32- and 64-bit targets.
        let i = self.rng.random_range(0..items.len() as u32) as usize;
        &items[i]
    }

    fn project(&mut self, key: &str) -> ProjectRef {
        ProjectRef { id: Gen::id(&mut self.next_project), key: key.to_string() }
    }

    fn team(&mut self, key: String, name: String, kind: TeamType, mode: TeamMode, estimation: Estimation) -> Team {
        let (board, scope) = match kind {
            TeamType::Board => (Some(Gen::id(&mut self.next_board)), None),
            TeamType::Custom if self.chance(0.5) => {
                (None, Some(ScopeFilter::JiraFilter { filter_id: Gen::id(&mut self.next_filter) }))
            }
            TeamType::Custom => {
                let project = self.project(&format!("C{}", key.chars().take(6).collect::<String>()));
                let fields = vec![FieldFilter {
                    field_id: "labels".to_string(),
                    operator: FilterOperator::In,
                    option_ids: Vec::new(),
                    values: vec![key.to_lowercase()],
                }];
                (None, Some(ScopeFilter::Manual { fields, projects: vec![project] }))
            }
        };
        Team { archived: false, board, estimation, key, mode, name, scope, kind }
    }

    /// A team with random traits in realistic proportions: mostly BOARD and SCRUM teams that
    /// estimate in story points.
    fn random_team(&mut self, key: String, name: String) -> Team {
        let kind = if self.chance(0.75) { TeamType::Board } else { TeamType::Custom };
        let mode = if self.chance(0.7) { TeamMode::Scrum } else { TeamMode::Kanban };
        let estimation = match self.between(1, 20) {
            1..=12 => Estimation::StoryPoints,
            13..=17 => Estimation::ManDays,
            _ => Estimation::IssueCount,
        };
        self.team(key, name, kind, mode, estimation)
    }

    fn program(&mut self, key: &str, name: String, teams: Vec<String>, project: &ProjectRef) -> Program {
        let epic_filter = if self.chance(0.6) {
            ScopeFilter::JiraFilter { filter_id: Gen::id(&mut self.next_filter) }
        } else {
            ScopeFilter::Manual { fields: Vec::new(), projects: vec![project.clone()] }
        };
        let issue_filter = self.chance(0.3).then(|| ScopeFilter::Manual {
            fields: vec![FieldFilter {
                field_id: "customfield_10100".to_string(),
                operator: FilterOperator::In,
                option_ids: vec![Gen::id(&mut self.next_filter)],
                values: Vec::new(),
            }],
            projects: Vec::new(),
        });
        let feature_scope = FeatureScope {
            epic_filter,
            epic_mode: if self.chance(0.7) { EpicMode::Filter } else { EpicMode::TeamIssues },
            issue_filter,
            mode: if self.chance(0.8) { FeatureMode::Epics } else { FeatureMode::IssueTypes },
        };
        Program { archived: false, feature_scope, key: key.to_string(), name, teams }
    }

    /// A PI of `program` in `period` with the given effective teams, fully planned: capacity for
    /// every team and sprint, Jira sprints for the SCRUM teams, objectives, milestones.
    fn pi(&mut self, program: &Program, project: &ProjectRef, period: &Period, teams: &[&Team]) -> Pi {
        let mut teams = teams.to_vec();
        // Capacity, mappings and team objectives are in team-key order (canonical order).
        teams.sort_by(|a, b| a.key.cmp(&b.key));
        let over = period.sprints.last().is_some_and(|s| s.end < reference_day());

        let mut capacity = Vec::with_capacity(teams.len() * period.sprints.len());
        let mut sprint_mappings = Vec::new();
        for team in &teams {
            for sprint in &period.sprints {
                let value = match team.estimation {
                    Estimation::StoryPoints => f64::from(self.between(18, 45)),
                    // Person days come in halves.
                    Estimation::ManDays => f64::from(self.between(30, 90)) / 2.0,
                    Estimation::IssueCount => f64::from(self.between(6, 25)),
                };
                capacity.push(Capacity { sprint: sprint.index, team: team.key.clone(), value });
            }
            if team.mode == TeamMode::Scrum {
                for sprint in &period.sprints {
                    sprint_mappings.push(SprintMapping {
                        jira_sprint_id: Gen::id(&mut self.next_sprint),
                        sprint: sprint.index,
                        team: team.key.clone(),
                    });
                }
            }
        }

        let objective_epic_mapping = self.chance(0.8);
        let mut objectives = Vec::new();
        let owners = std::iter::once(None).chain(teams.iter().map(|t| Some(t.key.as_str())));
        for owner in owners {
            for order in 1..=self.between(2, 4) {
                objectives.push(self.objective(owner, order, over, objective_epic_mapping, project));
            }
        }

        let feature_inclusion = match self.between(1, 3) {
            1 => FeatureInclusion::Manual,
            2 => FeatureInclusion::JiraFilter,
            _ => FeatureInclusion::JiraPlansDates,
        };
        let feature_filter = (feature_inclusion == FeatureInclusion::JiraFilter)
            .then(|| ScopeFilter::JiraFilter { filter_id: Gen::id(&mut self.next_filter) });

        Pi {
            capacity,
            feature_filter,
            feature_inclusion,
            key: Pi::key_for(&program.key, &period.key),
            milestones: self.milestones(period, &teams),
            objective_epic_mapping,
            objectives,
            period: period.key.clone(),
            program: program.key.clone(),
            sprint_mappings,
            teams: None,
        }
    }

    fn objective(
        &mut self,
        team: Option<&str>,
        order: u32,
        over: bool,
        with_epics: bool,
        project: &ProjectRef,
    ) -> Objective {
        let committed = self.chance(0.75);
        let planned = self.between(1, 10);
        let delivered = over.then(|| planned.saturating_sub(self.between(0, 3)).max(1));
        let epic_count = if with_epics { self.between(0, 3) } else { 0 };
        let epics = (0..epic_count)
            .map(|_| {
                let id = Gen::id(&mut self.next_issue);
                let number = self.between(1, 4000);
                IssueRef { id, key: format!("{}-{number}", project.key) }
            })
            .collect();
        let title = format!("{} {}", self.pick(&VERBS), self.pick(&OBJECTS));
        let description = self.chance(0.3).then(|| format!("{title}, measured at the system demo."));
        Objective {
            business_value_delivered: delivered,
            business_value_planned: Some(planned),
            committed,
            description,
            epics,
            level: if team.is_some() { ObjectiveLevel::Team } else { ObjectiveLevel::Program },
            order,
            team: team.map(str::to_string),
            title,
        }
    }

    /// Up to five milestones, in `order`: planning and I&A always, the others usually; some on a
    /// date within the period, some at a sprint, one for a team.
    fn milestones(&mut self, period: &Period, teams: &[&Team]) -> Vec<Milestone> {
        let (Some(first), Some(last)) = (period.sprints.first(), period.sprints.last()) else {
            return Vec::new();
        };
        let n = last.index;
        let mut out = Vec::new();
        let mut add = |order: u32, name: &str, kind: &str, date: Option<NaiveDate>, sprint: Option<u32>, team| {
            out.push(Milestone {
                date,
                description: None,
                kind: Some(kind.to_string()),
                name: name.to_string(),
                order,
                sprint,
                team,
            });
        };
        add(1, "PI planning", "planning", Some(first.start), None, None);
        if self.chance(0.8) {
            add(2, "System demo", "demo", None, Some((n / 2).max(1)), None);
        }
        if self.chance(0.8) && !teams.is_empty() {
            let team = self.pick(teams).key.clone();
            add(3, "Feature freeze", "freeze", None, Some(n.saturating_sub(1).max(1)), Some(team));
        }
        if self.chance(0.8) {
            add(4, "Release", "release", Some(last.end), None, None);
        }
        add(5, "Inspect & Adapt", "review", None, Some(n), None);
        out
    }
}

/// A period of `count` sprints of `length` days starting on `start`. Sprints that ended before
/// the reference day are completed; periods that ended two years before it are archived.
fn period(key: String, name: String, start: NaiveDate, count: u32, length: u64) -> Period {
    let today = reference_day();
    let sprints: Vec<Sprint> = (1..=count)
        .map(|index| {
            let sprint_start = start + Days::new(u64::from(index - 1) * length);
            let end = sprint_start + Days::new(length - 1);
            Sprint { completed: end < today, end, index, name: Some(format!("{key}.{index}")), start: sprint_start }
        })
        .collect();
    let archived = sprints.last().is_some_and(|s| s.end + Days::new(730) < today);
    Period { archived, key, name, sprints }
}

/// A quarterly period `<year>Q<q>`: six two-week sprints from the quarter's first Monday (12
/// weeks; the 13th is left for innovation and planning).
fn quarter(year: i32, q: u32) -> Period {
    let start = first_monday(day(year, 3 * (q - 1) + 1, 1));
    period(format!("{year}Q{q}"), format!("{year} Q{q}"), start, 6, 14)
}

fn first_monday(from: NaiveDate) -> NaiveDate {
    let offset = (7 - from.weekday().num_days_from_monday()) % 7;
    from + Days::new(u64::from(offset))
}

fn settings() -> Settings {
    Settings {
        dependency_link_type_ids: vec!["10000".to_string(), "10003".to_string()],
        feature_issue_type_ids: vec!["10100".to_string(), "10101".to_string()],
        field_sharing: true,
        include_jsm_tickets: false,
        story_points_field: Some("customfield_10016".to_string()),
        supplier_groups: vec!["suppliers-acme".to_string(), "suppliers-globex".to_string()],
    }
}

fn admins() -> Admins {
    let user = |key: &str| AdminUser { account_id: None, user_key: Some(key.to_string()) };
    Admins {
        groups: vec![
            AdminGroup { group_id: None, name: "ativo-admins".to_string() },
            AdminGroup { group_id: None, name: "jira-administrators".to_string() },
        ],
        users: vec![user("JIRAUSER10000"), user("JIRAUSER10105"), user("JIRAUSER10342")],
    }
}

fn api_tokens() -> Vec<ApiToken> {
    vec![
        ApiToken {
            created_at: "2026-01-15T09:30:00Z".to_string(),
            created_by: "JIRAUSER10000".to_string(),
            name: "nightly-export".to_string(),
        },
        ApiToken {
            created_at: "2026-03-02T14:05:00Z".to_string(),
            created_by: "JIRAUSER10105".to_string(),
            name: "portfolio-report".to_string(),
        },
    ]
}

/// A small company: three ARTs, eleven teams (one archived), quarterly PIs for two ARTs and a
/// half-year cadence for the hardware ART, one override.
fn demo() -> Configuration {
    use Estimation::{IssueCount, ManDays, StoryPoints};
    use TeamMode::{Kanban, Scrum};
    use TeamType::{Board, Custom};

    let mut g = Gen::new(0x4445_4d4f);
    let specs = [
        ("BISON", Board, Scrum, StoryPoints),
        ("EAGLE", Board, Scrum, StoryPoints),
        ("FALCON", Custom, Kanban, IssueCount),
        ("HERON", Board, Scrum, ManDays),
        ("LION", Board, Scrum, StoryPoints),
        ("LYNX", Custom, Scrum, ManDays),
        ("OTTER", Board, Kanban, IssueCount),
        ("PANDA", Board, Scrum, StoryPoints),
        ("TIGER", Custom, Kanban, ManDays),
        ("WOLF", Board, Scrum, StoryPoints),
        ("YAK", Board, Kanban, StoryPoints),
    ];
    let mut teams: Vec<Team> = specs
        .iter()
        .map(|&(key, kind, mode, estimation)| {
            let name = format!("Team {}{}", &key[..1], key[1..].to_lowercase());
            g.team(key.to_string(), name, kind, mode, estimation)
        })
        .collect();
    if let Some(yak) = teams.iter_mut().find(|t| t.key == "YAK") {
        yak.archived = true;
    }

    // The last 2025 PI is over and its period archived, as admins do once the I&A is done.
    let mut last_year = quarter(2025, 4);
    last_year.archived = true;
    let quarters: Vec<Period> = std::iter::once(last_year).chain((1..=4).map(|q| quarter(2026, q))).collect();
    let halves: Vec<Period> = [(1, "2026H1"), (7, "2026H2")]
        .into_iter()
        .map(|(month, key)| {
            let name = format!("Hardware {key}");
            period(key.to_string(), name, first_monday(day(2026, month, 1)), 8, 21)
        })
        .collect();

    let arts = [
        ("DEVICES", "Devices ART", "DEV", vec!["WOLF", "BISON", "LYNX"], &halves),
        ("PAYMENTS", "Payments ART", "PAY", vec!["LION", "TIGER", "EAGLE", "OTTER"], &quarters),
        ("RETAIL", "Retail ART", "RET", vec!["FALCON", "HERON", "PANDA"], &quarters),
    ];
    let mut programs = Vec::new();
    let mut pis = Vec::new();
    for (key, name, project_key, members, periods) in arts {
        let project = g.project(project_key);
        let members: Vec<String> = members.into_iter().map(str::to_string).collect();
        let program = g.program(key, name.to_string(), members, &project);
        for period in periods.iter() {
            let mut effective: Vec<String> = program.teams.clone();
            // Retail borrows the Otter team for its second 2026 PI: the one team override.
            let borrow = program.key == "RETAIL" && period.key == "2026Q2";
            if borrow {
                effective.push("OTTER".to_string());
            }
            let refs: Vec<&Team> = effective.iter().filter_map(|k| teams.iter().find(|t| &t.key == k)).collect();
            let mut pi = g.pi(&program, &project, period, &refs);
            if borrow {
                pi.teams = Some(effective);
            }
            pis.push(pi);
        }
        programs.push(program);
    }
    pis.sort_by(|a, b| a.key.cmp(&b.key));
    teams.sort_by(|a, b| a.key.cmp(&b.key));
    let mut periods: Vec<Period> = quarters.into_iter().chain(halves).collect();
    periods.sort_by(|a, b| a.key.cmp(&b.key));

    Configuration { admins: Some(admins()), periods, pis, programs, settings: settings(), teams }
}

/// `programs` programs of 8 to 12 teams each, PIs for each program in each of twenty quarterly
/// periods (2022Q1..2026Q4), one PI in ten with a team override.
fn bulk(program_count: usize, seed: u64) -> Configuration {
    let mut g = Gen::new(seed);
    let periods: Vec<Period> = (2022..=2026).flat_map(|year| (1..=4).map(move |q| quarter(year, q))).collect();
    let width = program_count.to_string().len().max(3);

    let mut teams: Vec<Team> = Vec::with_capacity(program_count * 10);
    // Per program: its key, project and the indexes of its teams in `teams`.
    let mut plan: Vec<(String, ProjectRef, Vec<usize>)> = Vec::with_capacity(program_count);
    for p in 0..program_count {
        let key = format!("PGRM{:0width$}", p + 1);
        let project = g.project(&project_key(p));
        let size = g.between(8, 12) as usize;
        let members: Vec<usize> = (0..size)
            .map(|_| {
                let n = teams.len();
                let animal = ANIMALS[n % ANIMALS.len()];
                let team_key = format!("{animal}{}", n / ANIMALS.len() + 1);
                let name = format!("{} {}{}", g.pick(&COLOURS), &animal[..1], animal[1..].to_lowercase());
                teams.push(g.random_team(team_key, name));
                n
            })
            .collect();
        plan.push((key, project, members));
    }

    let mut programs = Vec::with_capacity(program_count);
    let mut pis = Vec::with_capacity(program_count * periods.len());
    for (p, (key, project, members)) in plan.iter().enumerate() {
        let name = format!("{} ART {}", DOMAINS[p % DOMAINS.len()], p / DOMAINS.len() + 1);
        let member_keys = members.iter().map(|&i| teams[i].key.clone()).collect();
        let mut program = g.program(key, name, member_keys, project);
        program.archived = g.chance(0.04);
        for period in &periods {
            let mut effective: Vec<usize> = members.clone();
            let overridden = g.chance(0.1);
            if overridden {
                // Either a team sits the PI out, or one is borrowed from the next program.
                if g.chance(0.5) && effective.len() > 1 {
                    let out = g.between(0, effective.len() as u32 - 1) as usize;
                    effective.remove(out);
                } else if let Some(&borrowed) = plan.get((p + 1) % plan.len()).and_then(|(_, _, m)| m.first())
                    && !effective.contains(&borrowed)
                {
                    effective.push(borrowed);
                }
            }
            let refs: Vec<&Team> = effective.iter().map(|&i| &teams[i]).collect();
            let mut pi = g.pi(&program, project, period, &refs);
            if overridden {
                pi.teams = Some(refs.iter().map(|t| t.key.clone()).collect());
            }
            pis.push(pi);
        }
        programs.push(program);
    }
    // Program keys are zero-padded and periods generated in key order, so programs and PIs are
    // already in key order; teams are not (LION10 < LION2).
    teams.sort_by(|a, b| a.key.cmp(&b.key));

    Configuration { admins: Some(admins()), periods, pis, programs, settings: settings(), teams }
}

/// A Jira-looking project key for program `p`: two or three letters, `PA`, `PB`, ..., `QAA`.
fn project_key(p: usize) -> String {
    let letter = |i: usize| char::from(b'A' + (i % 26) as u8);
    if p < 26 * 26 {
        format!("P{}{}", letter(p / 26), letter(p))
    } else {
        format!("Q{}{}{}", letter(p / 676), letter(p / 26), letter(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters_start_on_a_monday_and_fit_in_the_quarter() {
        let q = quarter(2026, 1);
        assert_eq!(q.sprints[0].start, day(2026, 1, 5));
        assert_eq!(q.sprints[5].end, day(2026, 3, 29));
        assert_eq!(quarter(2026, 2).sprints[0].start, day(2026, 4, 6));
    }

    #[test]
    fn project_keys_are_distinct() {
        let keys: std::collections::BTreeSet<String> = (0..5000).map(project_key).collect();
        assert_eq!(keys.len(), 5000);
    }
}
