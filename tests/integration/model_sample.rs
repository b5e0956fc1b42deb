//! The generated samples (`init --sample`): deterministic, valid, in canonical order, and of the
//! sizes the benchmarks and limit tests rely on.

use std::time::Instant;

use ativo_backup::model::canonical::to_canonical_vec;
use ativo_backup::model::validate::validate;
use ativo_backup::model::{Configuration, TeamMode, TeamType};
use ativo_backup::sample::{SampleSize, generate};

/// Asserts what every sample promises: no validation error, canonical order, deterministic.
fn check_sample(size: SampleSize) -> Configuration {
    let started = Instant::now();
    let (config, tokens) = generate(size);
    let elapsed = started.elapsed();
    let started = Instant::now();
    let findings = validate(&config);
    let validated = started.elapsed();
    let errors: Vec<_> = findings.into_iter().filter(|f| f.is_error()).take(10).collect();
    assert!(errors.is_empty(), "{size:?} has errors: {errors:#?}");

    let mut sorted = config.clone();
    sorted.sort();
    assert!(sorted == config, "{size:?} is not in canonical order");

    let (again, tokens_again) = generate(size);
    assert!(again == config && tokens_again == tokens, "{size:?} differs between two runs");
    assert_eq!(to_canonical_vec(&again), to_canonical_vec(&config));

    eprintln!(
        "{size:?}: {:?}, {} rows, generated in {elapsed:?}, validated in {validated:?}",
        config.counts(),
        config.row_count()
    );
    config
}

#[test]
fn demo_is_a_small_realistic_company() {
    let config = check_sample(SampleSize::Demo);
    // The demo is meant to be read: no warnings either.
    assert_eq!(validate(&config), vec![]);
    let counts = config.counts();
    assert_eq!(counts.programs, 3);
    assert!((10..=12).contains(&counts.teams), "{counts:?}");
    assert!(
        config.teams.iter().any(|t| t.kind == TeamType::Board)
            && config.teams.iter().any(|t| t.kind == TeamType::Custom)
    );
    assert!(config.teams.iter().any(|t| t.mode == TeamMode::Kanban));
    assert!(config.periods.iter().any(|p| p.archived) && config.periods.iter().any(|p| !p.archived));
    assert!(config.pis.iter().any(|p| p.teams.is_some()), "the demo shows a team override");
    assert!(counts.capacity > 0 && counts.sprint_mappings > 0 && counts.objectives > 0 && counts.milestones > 0);
    let milestones = config.pis.iter().flat_map(|p| &p.milestones);
    assert!(milestones.clone().any(|m| m.date.is_some()) && milestones.clone().any(|m| m.sprint.is_some()));
    assert!(config.settings.story_points_field.is_some());
    let admins = config.admins.as_ref().unwrap();
    assert!((2..=3).contains(&admins.users.len()) && (1..=2).contains(&admins.groups.len()));
    let (_, tokens) = generate(SampleSize::Demo);
    assert_eq!(tokens.len(), 2);
    for token in &tokens {
        assert!(chrono::DateTime::parse_from_rfc3339(&token.created_at).is_ok() && token.created_at.ends_with('Z'));
    }
}

#[test]
fn large_has_the_size_of_a_big_installation() {
    let config = check_sample(SampleSize::Large);
    let counts = config.counts();
    assert!((45..=55).contains(&counts.programs), "{counts:?}");
    assert!((450..=550).contains(&counts.teams), "{counts:?}");
    assert_eq!(counts.periods, 20);
    let rows = config.row_count();
    assert!((150_000..=200_000).contains(&rows), "{rows} rows");
}

#[test]
#[ignore = "generates ~1.8M rows; run with --release --ignored"]
fn huge_is_ten_times_large() {
    let config = check_sample(SampleSize::Huge);
    let counts = config.counts();
    assert!((4500..=5500).contains(&counts.teams), "{counts:?}");
    let rows = config.row_count();
    assert!((1_500_000..=2_000_000).contains(&rows), "{rows} rows");
}
