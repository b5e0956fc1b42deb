//! `diff` and the plan of `import --dry-run`: what replacing configuration A by B changes, per
//! entity kind (added / removed / changed), by natural key.
//!
//! Entities are compared by their natural keys (team key, `PI/team/sprint` for capacity, ...)
//! because those are what admins and Jira field values know them by. A PI counts as changed
//! only for its own fields; changes to its capacity, objectives and the like show under those
//! kinds, so one edited capacity cell does not make the whole PI look rewritten.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use serde::Serialize;

use super::Input;
use crate::archive::{self, Limits};
use crate::error::Result;
use crate::model::{Configuration, FeatureInclusion, Objective, Pi, ScopeFilter};
use crate::store::{self, Location};

/// One side of a diff: an archive, or a store's current configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    /// An archive file (or `-` for stdin).
    Archive(Input),
    /// A store.
    Store(Location),
}

impl Side {
    /// A PostgreSQL connection string (a `postgres://` URI or a libpq keyword/value string), a
    /// `sqlite:` location, or an existing SQLite file is a store; anything else an archive.
    ///
    /// # Errors
    ///
    /// [`crate::error::StoreError::BadLocation`] for an unusable store location.
    pub fn parse(s: &str) -> Result<Self> {
        use crate::store::conninfo::{Kind, kind_of};
        let looks_like_store = matches!(kind_of(s), Kind::Uri | Kind::KeywordValue | Kind::UnknownKeyword)
            || s.to_ascii_lowercase().starts_with("sqlite:")
            || is_sqlite_file(Path::new(s));
        if looks_like_store { Ok(Side::Store(Location::parse(s)?)) } else { Ok(Side::Archive(Input::parse(s))) }
    }

    fn describe(&self) -> String {
        match self {
            Side::Archive(input) => input.to_string(),
            Side::Store(Location::Sqlite(p)) => format!("sqlite:{}", p.display()),
            Side::Store(location @ Location::Postgres(_)) => location.describe(),
        }
    }

    fn load(&self, limits: &Limits) -> Result<Configuration> {
        match self {
            Side::Archive(input) => Ok(crate::archive::read_valid(input, limits, &crate::progress::silent())?.0.data),
            Side::Store(location) => Ok(store::open(location)?.snapshot()?.config),
        }
    }
}

fn is_sqlite_file(path: &Path) -> bool {
    let mut magic = [0u8; 16];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && &magic == b"SQLite format 3\0"
}

/// What `diff` reports.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    /// A.
    pub from: String,
    /// B.
    pub to: String,
    /// Content digest of A.
    pub from_digest: String,
    /// Content digest of B; with `--only`, of A with the selection restored from B.
    pub to_digest: String,
    /// The selectors of `--only`, when given.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub only: Vec<String>,
    /// What importing B over A changes.
    pub plan: Plan,
}

/// Compares two sides; with `only`, A with what `import --only` would restore from B (the
/// preview of a selective import).
///
/// # Errors
///
/// Any error reading either side (archive errors, semantic errors, store errors);
/// [`crate::Error::Usage`] for a selector naming a key neither side has.
pub fn diff(from: &Side, to: &Side, limits: &Limits, only: Option<&super::select::Selection>) -> Result<DiffReport> {
    let a = from.load(limits)?;
    let mut b = to.load(limits)?;
    if let Some(selection) = only {
        b = super::select::restored(selection, &a, &b)?;
    }
    Ok(DiffReport {
        from: from.describe(),
        to: to.describe(),
        from_digest: archive::content_digest(&a),
        to_digest: archive::content_digest(&b),
        only: only.map(super::select::Selection::names).unwrap_or_default(),
        plan: plan(&a, &b),
    })
}

/// How many example keys each list of a [`KindChange`] keeps.
pub const MAX_KEYS: usize = 20;

/// Changes of one entity kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KindChange {
    /// Entity kind, e.g. `teams`, `capacity`.
    pub kind: &'static str,
    /// Number added.
    pub added: usize,
    /// Number removed.
    pub removed: usize,
    /// Number changed.
    pub changed: usize,
    /// Number unchanged.
    pub unchanged: usize,
    /// Up to [`MAX_KEYS`] keys of added entities.
    pub added_keys: Vec<String>,
    /// Up to [`MAX_KEYS`] keys of removed entities.
    pub removed_keys: Vec<String>,
    /// Up to [`MAX_KEYS`] keys of changed entities.
    pub changed_keys: Vec<String>,
}

/// The changes from one configuration to another.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// One entry per entity kind, in a fixed order.
    pub kinds: Vec<KindChange>,
}

impl Plan {
    /// Whether the two configurations are equal.
    pub fn is_empty(&self) -> bool {
        self.kinds.iter().all(|k| k.added + k.removed + k.changed == 0)
    }
}

/// Computes the plan of replacing `from` by `to`.
pub fn plan(from: &Configuration, to: &Configuration) -> Plan {
    let mut planner = Planner::new(from, to);
    let from_pis: BTreeMap<&str, &Pi> = from.pis.iter().map(|p| (p.key.as_str(), p)).collect();
    let to_pis: BTreeMap<&str, &Pi> = to.pis.iter().map(|p| (p.key.as_str(), p)).collect();
    let keys: std::collections::BTreeSet<&str> = from_pis.keys().chain(to_pis.keys()).copied().collect();
    for key in keys {
        planner.pi(from_pis.get(key).copied(), to_pis.get(key).copied());
    }
    planner.finish()
}

/// The kinds whose keys start with a PI's key, in [`Plan`] order after the others.
const PI_KINDS: [&str; 5] = ["pis", "capacity", "sprint_mappings", "objectives", "milestones"];

/// A [`Plan`] computed piece by piece: the small parts of both configurations at once, then the
/// PIs one key at a time, so that an import can plan while it streams both sides (the store's
/// PIs and the archive's, both in key order) without holding either.
///
/// PI-level entities are compared within their PI (their keys start with it); the example keys
/// are the [`MAX_KEYS`] smallest of each list in string order, as if all keys had been sorted.
#[derive(Debug)]
pub struct Planner {
    kinds: Vec<Tally>,
}

/// One kind's counts and its smallest example keys so far.
#[derive(Debug)]
struct Tally {
    change: KindChange,
    added: BTreeSet<String>,
    removed: BTreeSet<String>,
    changed: BTreeSet<String>,
}

/// Adds `key` to `set`, keeping only the [`MAX_KEYS`] smallest.
fn keep(set: &mut BTreeSet<String>, key: String) {
    if set.len() < MAX_KEYS || set.last().is_some_and(|last| key < *last) {
        set.insert(key);
        if set.len() > MAX_KEYS {
            set.pop_last();
        }
    }
}

impl Tally {
    fn new(kind: &'static str) -> Self {
        Tally {
            change: KindChange { kind, ..KindChange::default() },
            added: BTreeSet::new(),
            removed: BTreeSet::new(),
            changed: BTreeSet::new(),
        }
    }

    /// Compares one group of entities by their canonical JSON, keyed (keys unique within the
    /// group, else the last wins).
    fn compare(&mut self, from: Entries, to: Entries) {
        self.compare_keyed(from.into_iter(), to.into_iter(), "", String::clone);
    }

    /// Compares one group of entities as values, keyed (keys unique within the group, else the
    /// last wins): `render` makes an entity's key string from its key within the group, for the
    /// added, removed and changed ones only, and only while it may be among the [`MAX_KEYS`]
    /// kept: every string `render` makes starts with `prefix`, so once a set is full of keys
    /// below `prefix` nothing is rendered for it (an import into an empty store adds every
    /// entity, and formatting each one's key was a tenth of its check).
    fn compare_keyed<K: Ord, T: PartialEq>(
        &mut self,
        from: impl Iterator<Item = (K, T)>,
        to: impl Iterator<Item = (K, T)>,
        prefix: &str,
        render: impl Fn(&K) -> String,
    ) {
        let from: BTreeMap<K, T> = from.collect();
        let to: BTreeMap<K, T> = to.collect();
        let change = &mut self.change;
        let keep_rendered = |set: &mut BTreeSet<String>, key: &K| {
            let full_below = set.len() >= MAX_KEYS && set.last().is_some_and(|last| prefix >= last.as_str());
            if !full_below {
                keep(set, render(key));
            }
        };
        for (key, value) in &to {
            match from.get(key) {
                None => {
                    change.added += 1;
                    keep_rendered(&mut self.added, key);
                }
                Some(old) if old != value => {
                    change.changed += 1;
                    keep_rendered(&mut self.changed, key);
                }
                Some(_) => change.unchanged += 1,
            }
        }
        for key in from.keys().filter(|k| !to.contains_key(*k)) {
            change.removed += 1;
            keep_rendered(&mut self.removed, key);
        }
    }

    fn finish(self) -> KindChange {
        KindChange {
            added_keys: self.added.into_iter().collect(),
            removed_keys: self.removed.into_iter().collect(),
            changed_keys: self.changed.into_iter().collect(),
            ..self.change
        }
    }
}

/// The entries of one kind of one configuration's small part.
type Entries = Vec<(String, String)>;

/// Lists one kind's entries of a configuration.
type EntriesOf = fn(&Configuration) -> Entries;

impl Planner {
    /// Compares everything but the PIs (`from.pis` and `to.pis` are ignored).
    pub fn new(from: &Configuration, to: &Configuration) -> Self {
        let small: [(&'static str, EntriesOf); 7] = [
            ("settings", |c| vec![("settings".to_owned(), json(&c.settings))]),
            ("admin_users", |c| {
                c.admins
                    .iter()
                    .flat_map(|a| &a.users)
                    .map(|u| {
                        let key = format!(
                            "{}|{}",
                            u.user_key.as_deref().unwrap_or(""),
                            u.account_id.as_deref().unwrap_or("")
                        );
                        (key, json(u))
                    })
                    .collect()
            }),
            ("admin_groups", |c| c.admins.iter().flat_map(|a| &a.groups).map(|g| (g.name.clone(), json(g))).collect()),
            ("teams", |c| c.teams.iter().map(|t| (t.key.clone(), json(t))).collect()),
            ("programs", |c| c.programs.iter().map(|p| (p.key.clone(), json(p))).collect()),
            ("periods", |c| {
                c.periods
                    .iter()
                    .map(|p| (p.key.clone(), serde_json::json!([p.archived, p.name, p.sprints.len()]).to_string()))
                    .collect()
            }),
            ("sprints", |c| {
                c.periods
                    .iter()
                    .flat_map(|p| p.sprints.iter().map(move |s| (format!("{}/{}", p.key, s.index), json(s))))
                    .collect()
            }),
        ];
        let mut kinds = Vec::with_capacity(small.len() + PI_KINDS.len());
        for (kind, entries) in small {
            let mut tally = Tally::new(kind);
            tally.compare(entries(from), entries(to));
            kinds.push(tally);
        }
        kinds.extend(PI_KINDS.iter().map(|kind| Tally::new(kind)));
        Planner { kinds }
    }

    /// Compares one PI key: the PI as `from` has it and as `to` has it (`None` where a side has
    /// no PI of that key).
    ///
    /// Entities are compared as typed values (`==`), which for the model's types is equality of
    /// their canonical JSON (the comparison [`Planner::new`] makes for the small parts); key
    /// strings are only made for entities that are added, removed or changed. Why: an import
    /// compares every entity of the two sides, and serializing each one dominated the plan.
    pub fn pi(&mut self, from: Option<&Pi>, to: Option<&Pi>) {
        let first = self.kinds.len() - PI_KINDS.len();
        let [pis, capacity, mappings, objectives, milestones] = &mut self.kinds[first..] else {
            return;
        };
        let Some(key) = from.or(to).map(|p| p.key.as_str()) else { return };
        pis.compare_keyed(
            from.into_iter().map(|p| ((), pi_own_fields(p))),
            to.into_iter().map(|p| ((), pi_own_fields(p))),
            key,
            |_| key.to_owned(),
        );
        let team_sprint = |&(team, sprint): &(&str, u32)| format!("{key}/{team}/{sprint}");
        capacity.compare_keyed(
            from.into_iter().flat_map(|p| &p.capacity).map(|x| ((x.team.as_str(), x.sprint), x)),
            to.into_iter().flat_map(|p| &p.capacity).map(|x| ((x.team.as_str(), x.sprint), x)),
            key,
            team_sprint,
        );
        mappings.compare_keyed(
            from.into_iter().flat_map(|p| &p.sprint_mappings).map(|x| ((x.team.as_str(), x.sprint), x)),
            to.into_iter().flat_map(|p| &p.sprint_mappings).map(|x| ((x.team.as_str(), x.sprint), x)),
            key,
            team_sprint,
        );
        objectives.compare_keyed(
            from.into_iter().flat_map(|p| &p.objectives).map(|o| (objective_key(o), o)),
            to.into_iter().flat_map(|p| &p.objectives).map(|o| (objective_key(o), o)),
            key,
            team_sprint,
        );
        milestones.compare_keyed(
            from.into_iter().flat_map(|p| &p.milestones).map(|m| ((m.order, m.name.as_str()), m)),
            to.into_iter().flat_map(|p| &p.milestones).map(|m| ((m.order, m.name.as_str()), m)),
            key,
            |&(order, name): &(u32, &str)| format!("{key}/{order}/{name}"),
        );
    }

    /// The plan.
    pub fn finish(self) -> Plan {
        Plan { kinds: self.kinds.into_iter().map(Tally::finish).collect() }
    }
}

/// An objective's key within its PI: its team (`-` for a program objective) and order.
fn objective_key(o: &Objective) -> (&str, u32) {
    (o.team.as_deref().unwrap_or("-"), o.order)
}

/// A PI's own fields, without its child lists.
#[allow(clippy::type_complexity)]
fn pi_own_fields(pi: &Pi) -> (&Option<ScopeFilter>, FeatureInclusion, bool, &str, &str, &Option<Vec<String>>) {
    (&pi.feature_filter, pi.feature_inclusion, pi.objective_epic_mapping, &pi.period, &pi.program, &pi.teams)
}

fn json<T: Serialize>(value: &T) -> String {
    String::from_utf8(crate::model::canonical::to_canonical_vec(value)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Estimation, Team, TeamMode, TeamType};

    fn team(key: &str, name: &str) -> Team {
        Team {
            archived: false,
            board: Some("1".into()),
            estimation: Estimation::StoryPoints,
            key: key.into(),
            mode: TeamMode::Scrum,
            name: name.into(),
            scope: None,
            kind: TeamType::Board,
        }
    }

    // The plan as computed before the streaming import: every entity of both sides in one map
    // per kind. The planner must give the same plan.
    fn reference_pi_own_fields(pi: &Pi) -> String {
        serde_json::json!([
            pi.feature_filter,
            pi.feature_inclusion,
            pi.objective_epic_mapping,
            pi.period,
            pi.program,
            pi.teams
        ])
        .to_string()
    }

    fn reference_plan(from: &Configuration, to: &Configuration) -> Plan {
        let mut kinds = Vec::new();
        let settings = |c: &Configuration| vec![("settings".to_owned(), json(&c.settings))];
        kinds.push(compare("settings", settings(from), settings(to)));
        let users = |c: &Configuration| {
            c.admins
                .iter()
                .flat_map(|a| &a.users)
                .map(|u| {
                    (
                        format!("{}|{}", u.user_key.as_deref().unwrap_or(""), u.account_id.as_deref().unwrap_or("")),
                        json(u),
                    )
                })
                .collect()
        };
        kinds.push(compare("admin_users", users(from), users(to)));
        let groups =
            |c: &Configuration| c.admins.iter().flat_map(|a| &a.groups).map(|g| (g.name.clone(), json(g))).collect();
        kinds.push(compare("admin_groups", groups(from), groups(to)));
        let teams = |c: &Configuration| c.teams.iter().map(|t| (t.key.clone(), json(t))).collect();
        kinds.push(compare("teams", teams(from), teams(to)));
        let programs = |c: &Configuration| c.programs.iter().map(|p| (p.key.clone(), json(p))).collect();
        kinds.push(compare("programs", programs(from), programs(to)));
        let periods = |c: &Configuration| {
            c.periods
                .iter()
                .map(|p| (p.key.clone(), serde_json::json!([p.archived, p.name, p.sprints.len()]).to_string()))
                .collect()
        };
        kinds.push(compare("periods", periods(from), periods(to)));
        let sprints = |c: &Configuration| {
            c.periods
                .iter()
                .flat_map(|p| p.sprints.iter().map(move |s| (format!("{}/{}", p.key, s.index), json(s))))
                .collect()
        };
        kinds.push(compare("sprints", sprints(from), sprints(to)));
        let pis = |c: &Configuration| c.pis.iter().map(|p| (p.key.clone(), reference_pi_own_fields(p))).collect();
        kinds.push(compare("pis", pis(from), pis(to)));
        let capacity = |c: &Configuration| {
            c.pis
                .iter()
                .flat_map(|p| p.capacity.iter().map(move |x| (format!("{}/{}/{}", p.key, x.team, x.sprint), json(x))))
                .collect()
        };
        kinds.push(compare("capacity", capacity(from), capacity(to)));
        let mappings = |c: &Configuration| {
            c.pis
                .iter()
                .flat_map(|p| {
                    p.sprint_mappings.iter().map(move |x| (format!("{}/{}/{}", p.key, x.team, x.sprint), json(x)))
                })
                .collect()
        };
        kinds.push(compare("sprint_mappings", mappings(from), mappings(to)));
        let objectives = |c: &Configuration| {
            c.pis
                .iter()
                .flat_map(|p| {
                    p.objectives.iter().map(move |o| {
                        let team = o.team.as_deref().unwrap_or("-");
                        (format!("{}/{}/{}", p.key, team, o.order), json(o))
                    })
                })
                .collect()
        };
        kinds.push(compare("objectives", objectives(from), objectives(to)));
        let milestones = |c: &Configuration| {
            c.pis
                .iter()
                .flat_map(|p| p.milestones.iter().map(move |m| (format!("{}/{}/{}", p.key, m.order, m.name), json(m))))
                .collect()
        };
        kinds.push(compare("milestones", milestones(from), milestones(to)));
        Plan { kinds }
    }

    fn compare(kind: &'static str, from: Vec<(String, String)>, to: Vec<(String, String)>) -> KindChange {
        let from: BTreeMap<String, String> = from.into_iter().collect();
        let to: BTreeMap<String, String> = to.into_iter().collect();
        let mut change = KindChange { kind, ..KindChange::default() };
        let keep = |list: &mut Vec<String>, key: &str| {
            if list.len() < MAX_KEYS {
                list.push(key.to_owned());
            }
        };
        for (key, value) in &to {
            match from.get(key) {
                None => {
                    change.added += 1;
                    keep(&mut change.added_keys, key);
                }
                Some(old) if old != value => {
                    change.changed += 1;
                    keep(&mut change.changed_keys, key);
                }
                Some(_) => change.unchanged += 1,
            }
        }
        for key in from.keys().filter(|k| !to.contains_key(*k)) {
            change.removed += 1;
            keep(&mut change.removed_keys, key);
        }
        change
    }

    #[test]
    fn the_planner_gives_the_plan_of_whole_maps() {
        let (base, _) = crate::sample::generate(crate::sample::SampleSize::Demo);
        let mut edited = base.clone();
        // Every kind of change: removed and added PIs, edited children, a changed team.
        edited.pis.remove(0);
        let mut extra = edited.pis[0].clone();
        extra.key = format!("{}-copy", extra.key);
        edited.pis.push(extra);
        if let Some(c) = edited.pis[1].capacity.first_mut() {
            c.value += 1.0;
        }
        edited.pis[2].objectives.pop();
        if let Some(o) = edited.pis[3].objectives.first_mut() {
            o.title.push_str(" (edited)");
        }
        edited.pis[3].feature_inclusion = match edited.pis[3].feature_inclusion {
            FeatureInclusion::Manual => FeatureInclusion::JiraPlansDates,
            _ => FeatureInclusion::Manual,
        };
        edited.pis[2].milestones.clear();
        edited.teams[0].name.push_str(" (renamed)");
        edited.sort();
        for (a, b) in [(&base, &edited), (&edited, &base), (&base, &base), (&Configuration::empty(), &base)] {
            let expected = reference_plan(a, b);
            assert_eq!(plan(a, b), expected);
        }
        let p = plan(&base, &edited);
        assert!(p.kinds.iter().any(|k| k.kind == "capacity" && k.changed == 1 && k.added > 0 && k.removed > 0));
        assert!(p.kinds.iter().any(|k| k.kind == "objectives" && k.changed == 1));
        assert!(p.kinds.iter().any(|k| k.kind == "pis" && k.changed == 1));
        let many = plan(&Configuration::empty(), &base);
        assert!(many.kinds.iter().any(|k| k.added > MAX_KEYS && k.added_keys.len() == MAX_KEYS));
    }

    #[test]
    fn plan_names_added_removed_and_changed_keys() {
        let mut a = Configuration::empty();
        a.teams = vec![team("A", "a"), team("B", "b")];
        let mut b = Configuration::empty();
        b.teams = vec![team("B", "b2"), team("C", "c")];
        let plan = plan(&a, &b);
        let teams = plan.kinds.iter().find(|k| k.kind == "teams").unwrap();
        assert_eq!((teams.added, teams.removed, teams.changed, teams.unchanged), (1, 1, 1, 0));
        assert_eq!(teams.added_keys, ["C"]);
        assert_eq!(teams.removed_keys, ["A"]);
        assert_eq!(teams.changed_keys, ["B"]);
        assert!(!plan.is_empty());
    }

    #[test]
    fn equal_configurations_give_an_empty_plan() {
        let mut a = Configuration::empty();
        a.teams = vec![team("A", "a")];
        assert!(plan(&a, &a.clone()).is_empty());
    }
}
