//! The canonical form the digests are computed over: the model's own streaming writer gives
//! exactly RFC 8785 (JCS) bytes, as the independent `serde_json_canonicalizer` computes them from
//! the raw JSON an archive holds; and write/read round-trips arbitrary small configurations.

use crate::archive_common;

use archive_common::*;
use ativo_backup::archive::{self, Encoding, Scope};
use ativo_backup::model::canonical::to_canonical_vec;
use ativo_backup::model::*;
use chrono::NaiveDate;
use proptest::prelude::*;

/// JCS of the `data` member as it appears in the written file (pretty JSON), by the independent
/// canonicaliser: what a third-party script would hash.
fn jcs_of_written_data(archive: &archive::Archive) -> Vec<u8> {
    let doc = json_doc(archive);
    serde_json_canonicalizer::to_vec(&doc["data"]).unwrap()
}

#[test]
fn canonical_data_equals_an_independent_jcs_of_the_written_json() {
    let mut config = config();
    // Floats ECMAScript and Rust print differently, optional members absent and present.
    let values = [5.0, 0.1 + 0.2, 1e21, 1e-7, 123.456, 0.0, 1e300, 4.35];
    config.pis[0].capacity = values
        .iter()
        .enumerate()
        .map(|(i, &value)| Capacity { sprint: i as u32 + 1, team: "LION".into(), value })
        .collect();
    config.settings.story_points_field = None;
    let sealed = archive::seal(config, &host(), Scope::Full, tokens(), created_at());
    let ours = to_canonical_vec(&sealed.data);
    let text = String::from_utf8(ours.clone()).unwrap();
    assert!(text.contains(r#""value":1e+21"#) && text.contains(r#""value":0.30000000000000004"#), "{text}");
    assert!(text.contains(r#"\u0001"#) && text.contains("ünïcødé") && text.contains("\u{2028}"), "{text}");
    assert_eq!(ours, jcs_of_written_data(&sealed));
    assert_eq!(ours, serde_json_canonicalizer::to_vec(&sealed.data).unwrap());
    let digest = {
        use sha2::Digest;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&ours)))
    };
    assert_eq!(sealed.header.content_digest, digest);
}

fn text() -> impl Strategy<Value = String> {
    // Any characters, control characters and astral ones included.
    proptest::string::string_regex("(?s).{0,8}").unwrap()
}

fn key() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[A-Z0-9]{1,6}").unwrap()
}

fn capacity_value() -> impl Strategy<Value = f64> {
    prop_oneof![0.0f64..1e6, (0u32..100).prop_map(f64::from), 1e-10f64..1e-5, 1e20f64..1e25, Just(0.1 + 0.2)]
}

fn date() -> impl Strategy<Value = NaiveDate> {
    (0i64..20_000).prop_map(|d| NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + chrono::Duration::days(d))
}

fn filter() -> impl Strategy<Value = ScopeFilter> {
    prop_oneof![
        text().prop_map(|filter_id| ScopeFilter::JiraFilter { filter_id }),
        (proptest::collection::vec((text(), text(), text()), 0..2), proptest::collection::vec((text(), key()), 0..2))
            .prop_map(|(fields, projects)| ScopeFilter::Manual {
                fields: fields
                    .into_iter()
                    .map(|(field_id, option, value)| FieldFilter {
                        field_id,
                        operator: FilterOperator::In,
                        option_ids: vec![option],
                        values: vec![value],
                    })
                    .collect(),
                projects: projects.into_iter().map(|(id, key)| ProjectRef { id, key }).collect(),
            }),
    ]
}

fn team() -> impl Strategy<Value = Team> {
    (key(), text(), any::<bool>(), proptest::option::of(text()), proptest::option::of(filter()), 0u8..6).prop_map(
        |(key, name, archived, board, scope, flavour)| Team {
            archived,
            board,
            estimation: [Estimation::StoryPoints, Estimation::ManDays, Estimation::IssueCount]
                [usize::from(flavour % 3)],
            key,
            mode: if flavour % 2 == 0 { TeamMode::Scrum } else { TeamMode::Kanban },
            name,
            scope,
            kind: if flavour < 3 { TeamType::Board } else { TeamType::Custom },
        },
    )
}

fn period() -> impl Strategy<Value = Period> {
    (key(), text(), any::<bool>(), proptest::collection::vec((date(), date(), proptest::option::of(text())), 0..3))
        .prop_map(|(key, name, archived, sprints)| Period {
            archived,
            key,
            name,
            sprints: sprints
                .into_iter()
                .enumerate()
                .map(|(i, (start, end, name))| Sprint { completed: i == 0, end, index: i as u32 + 1, name, start })
                .collect(),
        })
}

fn pi() -> impl Strategy<Value = Pi> {
    let capacity = proptest::collection::vec((1u32..5, key(), capacity_value()), 0..3);
    let objective = (
        proptest::option::of(any::<u32>()),
        proptest::option::of(0u32..11),
        any::<bool>(),
        proptest::option::of(text()),
        proptest::option::of(key()),
        any::<u32>(),
        text(),
    )
        .prop_map(|(delivered, planned, committed, description, team, order, title)| Objective {
            business_value_delivered: delivered,
            business_value_planned: planned,
            committed,
            description,
            epics: vec![IssueRef { id: "1".into(), key: "A-1".into() }],
            level: if team.is_some() { ObjectiveLevel::Team } else { ObjectiveLevel::Program },
            order,
            team,
            title,
        });
    let milestone = (
        proptest::option::of(date()),
        proptest::option::of(text()),
        text(),
        any::<u32>(),
        proptest::option::of(1u32..5),
    )
        .prop_map(|(date, kind, name, order, sprint)| Milestone {
            date,
            description: None,
            kind,
            name,
            order,
            sprint,
            team: None,
        });
    (
        key(),
        key(),
        capacity,
        proptest::collection::vec(objective, 0..3),
        proptest::collection::vec(milestone, 0..3),
        proptest::option::of(filter()),
        proptest::option::of(proptest::collection::vec(key(), 0..3)),
    )
        .prop_map(|(program, period, capacity, objectives, milestones, feature_filter, teams)| Pi {
            capacity: capacity.into_iter().map(|(sprint, team, value)| Capacity { sprint, team, value }).collect(),
            feature_filter,
            feature_inclusion: FeatureInclusion::Manual,
            key: Pi::key_for(&program, &period),
            milestones,
            objective_epic_mapping: false,
            objectives,
            period,
            program,
            sprint_mappings: vec![SprintMapping { jira_sprint_id: "7".into(), sprint: 1, team: "T".into() }],
            teams,
        })
}

fn configuration() -> impl Strategy<Value = Configuration> {
    (
        proptest::collection::vec(team(), 0..3),
        proptest::collection::vec(period(), 0..3),
        proptest::collection::vec(pi(), 0..2),
        proptest::option::of(proptest::collection::vec((text(), proptest::option::of(text())), 0..3)),
        proptest::option::of(text()),
        proptest::collection::vec(text(), 0..3),
    )
        .prop_map(|(teams, periods, pis, admins, story_points_field, supplier_groups)| Configuration {
            admins: admins.map(|groups| Admins {
                groups: groups.into_iter().map(|(name, group_id)| AdminGroup { group_id, name }).collect(),
                users: vec![AdminUser { account_id: Some("5b10a2844c20165700ede21g".into()), user_key: None }],
            }),
            periods,
            pis,
            programs: vec![],
            settings: Settings {
                dependency_link_type_ids: vec!["10001".into()],
                feature_issue_type_ids: vec![],
                field_sharing: false,
                include_jsm_tickets: true,
                story_points_field,
                supplier_groups,
            },
            teams,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn canonical_bytes_equal_independent_jcs(config in configuration()) {
        let ours = to_canonical_vec(&config);
        prop_assert_eq!(&ours, &serde_json_canonicalizer::to_vec(&config).unwrap());
        let sealed = archive::seal(config, &host(), Scope::Full, vec![], created_at());
        prop_assert_eq!(to_canonical_vec(&sealed.data), jcs_of_written_data(&sealed));
    }

    #[test]
    fn write_then_read_gives_the_archive_back(config in configuration()) {
        let sealed = archive::seal(config, &host(), Scope::Full, vec![], created_at());
        for encoding in [Encoding::Zstd, Encoding::Json] {
            match decode(&encode(&sealed, encoding)) {
                Ok(back) => prop_assert_eq!(&back, &sealed),
                Err(e) => prop_assert!(false, "{:?}: {}", encoding, e),
            }
        }
    }
}
