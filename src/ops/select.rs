//! Selective restore (`import --only`, `diff --only`): which entities a selection names, and the
//! configuration that restoring only those from an archive over a store leaves.
//!
//! Entity by entity (README, "Restoring part of a backup"): a selected entity ends as the archive
//! has it (replaced, added, or removed when only the store has it); everything else stays as the
//! store has it, byte for byte. A PI is selected by `pi:KEY`, or by `program:KEY` of the program
//! it belongs to on either side, so a program comes back with every PI it had and without those
//! it gained since. The result is checked as a whole against SPEC.md section 10; a refusal's hints
//! name the selectors that would complete it.
//!
//! Both sides are streams of PIs in key order (the archive, and the store spooled to an archive
//! or its safety backup), merged by key: neither is held whole.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use crate::archive::ContentDigester;
use crate::error::{Error, Result};
use crate::model::validate::{Finding, PiFindings, Validator};
use crate::model::{Configuration, Pi};
use crate::ops::diff::{Plan, Planner};

/// One `--only` selector.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Selector {
    /// `settings`: the app-wide settings.
    Settings,
    /// `admins`: the admin users and groups.
    Admins,
    /// `team:KEY`: the team with its scope (programs' team lists belong to the programs).
    Team(String),
    /// `program:KEY`: the program and every PI of it, with their children.
    Program(String),
    /// `period:KEY`: the period and its sprints (not the PIs in it).
    Period(String),
    /// `pi:KEY`: one PI with its capacity, sprint mappings, objectives and milestones.
    Pi(String),
}

impl std::str::FromStr for Selector {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::Usage(format!(
                "--only {s:?} is not a selector: use team:KEY, program:KEY, period:KEY, pi:KEY, settings or admins"
            ))
        };
        match s {
            "settings" => return Ok(Selector::Settings),
            "admins" => return Ok(Selector::Admins),
            _ => {}
        }
        let (kind, key) = s.split_once(':').ok_or_else(bad)?;
        if key.is_empty() {
            return Err(bad());
        }
        let key = key.to_owned();
        Ok(match kind {
            "team" => Selector::Team(key),
            "program" => Selector::Program(key),
            "period" => Selector::Period(key),
            "pi" => Selector::Pi(key),
            _ => return Err(bad()),
        })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Settings => f.write_str("settings"),
            Selector::Admins => f.write_str("admins"),
            Selector::Team(k) => write!(f, "team:{k}"),
            Selector::Program(k) => write!(f, "program:{k}"),
            Selector::Period(k) => write!(f, "period:{k}"),
            Selector::Pi(k) => write!(f, "pi:{k}"),
        }
    }
}

/// The entities an `--only` list selects. A selector given twice counts once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    teams: BTreeSet<String>,
    programs: BTreeSet<String>,
    periods: BTreeSet<String>,
    pis: BTreeSet<String>,
    settings: bool,
    admins: bool,
}

impl Selection {
    /// The selection of `--only` arguments; `None` when there are none (a full restore).
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] (exit 2) for an argument that is not a selector.
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Option<Selection>> {
        if args.is_empty() {
            return Ok(None);
        }
        let mut selection = Selection::default();
        for arg in args {
            match arg.as_ref().parse::<Selector>()? {
                Selector::Settings => selection.settings = true,
                Selector::Admins => selection.admins = true,
                Selector::Team(k) => _ = selection.teams.insert(k),
                Selector::Program(k) => _ = selection.programs.insert(k),
                Selector::Period(k) => _ = selection.periods.insert(k),
                Selector::Pi(k) => _ = selection.pis.insert(k),
            }
        }
        Ok(Some(selection))
    }

    /// The selectors, in a fixed order (settings, admins, teams, programs, periods, PIs), as
    /// the operations log records them.
    pub fn selectors(&self) -> Vec<Selector> {
        let mut out = Vec::new();
        out.extend(self.settings.then_some(Selector::Settings));
        out.extend(self.admins.then_some(Selector::Admins));
        out.extend(self.teams.iter().cloned().map(Selector::Team));
        out.extend(self.programs.iter().cloned().map(Selector::Program));
        out.extend(self.periods.iter().cloned().map(Selector::Period));
        out.extend(self.pis.iter().cloned().map(Selector::Pi));
        out
    }

    /// The selectors as text (`program:PGM1`), for reports and the log.
    pub fn names(&self) -> Vec<String> {
        self.selectors().iter().map(ToString::to_string).collect()
    }

    /// Whether `pi` (from either side) is selected: by its key, or by its program.
    pub fn selects_pi(&self, pi: &Pi) -> bool {
        self.pis.contains(&pi.key) || self.programs.contains(&pi.program)
    }

    /// The configuration outside the PIs after restoring the selection from `archive` over
    /// `current` (both without their PIs), in canonical order.
    pub fn skeleton(&self, current: &Configuration, archive: &Configuration) -> Configuration {
        fn pick<T: Clone>(
            current: &[T],
            archive: &[T],
            selected: &BTreeSet<String>,
            key: impl Fn(&T) -> &String,
        ) -> Vec<T> {
            let mut out: Vec<T> = current
                .iter()
                .filter(|e| !selected.contains(key(e)))
                .chain(archive.iter().filter(|e| selected.contains(key(e))))
                .cloned()
                .collect();
            out.sort_by(|a, b| key(a).cmp(key(b)));
            out
        }
        Configuration {
            admins: if self.admins { archive.admins.clone() } else { current.admins.clone() },
            periods: pick(&current.periods, &archive.periods, &self.periods, |p| &p.key),
            pis: Vec::new(),
            programs: pick(&current.programs, &archive.programs, &self.programs, |p| &p.key),
            settings: if self.settings { archive.settings.clone() } else { current.settings.clone() },
            teams: pick(&current.teams, &archive.teams, &self.teams, |t| &t.key),
        }
    }

    /// Refuses selectors whose key neither side has: a typing mistake must not pass for an
    /// entity restored as absent. `pis_seen` are the selected PI keys met on either side.
    fn check_keys(&self, current: &Configuration, archive: &Configuration, pis_seen: &BTreeSet<String>) -> Result<()> {
        fn missing<'a, T>(
            selected: &'a BTreeSet<String>,
            sides: [&'a [T]; 2],
            key: impl Fn(&T) -> &String,
            kind: &str,
        ) -> Vec<String> {
            let known = |k: &String| sides.iter().any(|list| list.iter().any(|e| key(e) == k));
            selected.iter().filter(|k| !known(k)).map(|k| format!("{kind}:{k}")).collect()
        }
        let mut unknown = missing(&self.teams, [&current.teams, &archive.teams], |t| &t.key, "team");
        unknown.extend(missing(&self.programs, [&current.programs, &archive.programs], |p| &p.key, "program"));
        unknown.extend(missing(&self.periods, [&current.periods, &archive.periods], |p| &p.key, "period"));
        unknown.extend(self.pis.iter().filter(|k| !pis_seen.contains(*k)).map(|k| format!("pi:{k}")));
        if unknown.is_empty() {
            return Ok(());
        }
        Err(Error::Usage(format!(
            "--only {}: neither the archive nor the store has {}; check the key (`ativo-backup inspect` and `diff` show them)",
            unknown.join(", --only "),
            if unknown.len() == 1 { "it" } else { "them" }
        )))
    }
}

/// One PI key of either side, or both.
#[derive(Debug)]
pub struct Pair {
    /// The store's PI.
    pub current: Option<Pi>,
    /// The archive's PI.
    pub archive: Option<Pi>,
    /// Whether the selection takes the archive's side.
    pub selected: bool,
}

impl Pair {
    /// The PI the result has under this key, if any.
    pub fn result(&self) -> Option<&Pi> {
        if self.selected { self.archive.as_ref() } else { self.current.as_ref() }
    }

    /// [`Pair::result`], taken.
    pub fn into_result(self) -> Option<Pi> {
        if self.selected { self.archive } else { self.current }
    }
}

/// Walks the PIs of both sides in key order, pairing equal keys, and hands each pair to `each`.
///
/// # Errors
///
/// Any error of `each`.
pub fn pair_pis(
    selection: &Selection,
    current: &mut dyn Iterator<Item = Pi>,
    archive: &mut dyn Iterator<Item = Pi>,
    mut each: impl FnMut(Pair) -> Result<()>,
) -> Result<()> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let (mut current, mut archive) = (current.peekable(), archive.peekable());
    loop {
        let order = match (current.peek(), archive.peek()) {
            (None, None) => return Ok(()),
            (Some(_), None) => Less,
            (None, Some(_)) => Greater,
            (Some(c), Some(a)) => c.key.cmp(&a.key),
        };
        let (c, a) = match order {
            Less => (current.next(), None),
            Greater => (None, archive.next()),
            Equal => (current.next(), archive.next()),
        };
        let selected = c.iter().chain(a.iter()).any(|pi| selection.selects_pi(pi));
        each(Pair { current: c, archive: a, selected })?;
    }
}

/// What restoring a selection would do, checked.
#[derive(Debug)]
pub struct Outcome {
    /// The changes to the store (only the selected entities change).
    pub plan: Plan,
    /// The content digest of the result.
    pub content_digest_after: String,
    /// The rows of the result ([`Configuration::row_count`]).
    pub rows: u64,
    /// The result's findings (SPEC.md section 10), the hints completed with the selectors that
    /// would mend them.
    pub findings: Vec<Finding>,
    /// The selectors that would complete an incomplete result.
    pub completions: BTreeSet<Selector>,
}

/// Computes and checks the result of restoring `selection`: `current` and `archive` are both
/// sides without their PIs, `current_pis` and `archive_pis` their PIs in key order; `nul` looks
/// in a result PI (and its index) for text the store cannot hold, and finds none in a store that
/// holds any text.
///
/// # Errors
///
/// [`Error::Usage`] (exit 2) for a selector naming a key neither side has; the first error of
/// `nul` as [`Error::Invalid`].
pub fn check(
    selection: &Selection,
    current: &Configuration,
    current_pis: &mut dyn Iterator<Item = Pi>,
    archive: &Configuration,
    archive_pis: &mut dyn Iterator<Item = Pi>,
    nul: &dyn Fn(&Pi, usize) -> Option<Finding>,
) -> Result<Outcome> {
    let result = selection.skeleton(current, archive);
    let validator = Validator::new(&result);
    let mut planner = Planner::new(current, &result);
    let mut digest = ContentDigester::new(&result);
    let lookup = Lookup::new(&result, archive);
    let mut rows = result.row_count();
    let mut pi_findings = PiFindings::default();
    let mut keys: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut pi_completions: HashMap<usize, Vec<Selector>> = HashMap::new();
    let mut unstorable = None;
    pair_pis(selection, current_pis, archive_pis, |pair| {
        for pi in pair.current.iter().chain(pair.archive.iter()) {
            if selection.pis.contains(&pi.key) {
                seen.insert(pi.key.clone());
            }
        }
        planner.pi(pair.current.as_ref(), pair.result());
        let Some(pi) = pair.result() else { return Ok(()) };
        let i = keys.len();
        let mut found = PiFindings::default();
        validator.check_pi(i, pi, &mut found);
        if found.has_errors() {
            pi_completions.insert(i, lookup.completions_of_pi(selection, &pair, pi));
        }
        pi_findings.append(found);
        if unstorable.is_none() {
            unstorable = nul(pi, i);
        }
        digest.pi(pi);
        rows += pi.row_count();
        keys.push(pi.key.clone());
        Ok(())
    })?;
    selection.check_keys(current, archive, &seen)?;
    if let Some(finding) = unstorable {
        return Err(Error::Invalid { context: "the restored configuration".into(), findings: vec![finding] });
    }
    let mut findings = validator.finish(pi_findings, keys.iter().map(String::as_str));
    let mut completions = BTreeSet::new();
    for finding in findings.iter_mut().filter(|f| f.is_error()) {
        let wanted = match entity_of(&finding.pointer) {
            Some(("pis", i)) => pi_completions.get(&i).cloned().unwrap_or_default(),
            Some((list, i)) => lookup.completions_of(selection, current, list, i),
            None => Vec::new(),
        };
        if !wanted.is_empty() {
            let words: Vec<String> = wanted.iter().map(|s| format!("--only {s}")).collect();
            finding.hint = format!("{}; or complete the selection: add {}", finding.hint, words.join(" "));
        }
        completions.extend(wanted);
    }
    Ok(Outcome { plan: planner.finish(), content_digest_after: digest.finish(), rows, findings, completions })
}

/// `(list, index)` of the entity a finding's pointer is in: `/data/pis/3/capacity/0` is
/// `("pis", 3)`, `/data/settings/...` `("settings", 0)`.
fn entity_of(pointer: &str) -> Option<(&str, usize)> {
    let mut parts = pointer.strip_prefix("/data/")?.split('/');
    let list = parts.next()?;
    match list {
        "settings" | "admins" => Some((list, 0)),
        _ => Some((list, parts.next()?.parse().ok()?)),
    }
}

/// The result's and the archive's teams, programs and periods by key, to tell which selectors
/// would bring the result closer to the archive.
struct Lookup<'a> {
    result: &'a Configuration,
    archive: &'a Configuration,
    teams: HashMap<&'a str, (Option<&'a crate::model::Team>, Option<&'a crate::model::Team>)>,
    programs: HashMap<&'a str, (Option<&'a crate::model::Program>, Option<&'a crate::model::Program>)>,
    periods: HashMap<&'a str, (Option<&'a crate::model::Period>, Option<&'a crate::model::Period>)>,
}

impl<'a> Lookup<'a> {
    fn new(result: &'a Configuration, archive: &'a Configuration) -> Self {
        fn both<'a, T>(
            result: &'a [T],
            archive: &'a [T],
            key: impl Fn(&'a T) -> &'a str,
        ) -> HashMap<&'a str, (Option<&'a T>, Option<&'a T>)> {
            let mut map: HashMap<&str, (Option<&T>, Option<&T>)> = HashMap::new();
            for e in result {
                map.entry(key(e)).or_default().0 = Some(e);
            }
            for e in archive {
                map.entry(key(e)).or_default().1 = Some(e);
            }
            map
        }
        Lookup {
            result,
            archive,
            teams: both(&result.teams, &archive.teams, |t| t.key.as_str()),
            programs: both(&result.programs, &archive.programs, |p| p.key.as_str()),
            periods: both(&result.periods, &archive.periods, |p| p.key.as_str()),
        }
    }

    /// The selectors of what `pi` (selected, so the archive's) refers to where the result
    /// differs from the archive: restoring them too gives the PI the world it was backed up in.
    fn referred(&self, selection: &Selection, pi: &Pi) -> Vec<Selector> {
        let mut out = BTreeSet::new();
        if !selection.programs.contains(&pi.program) && differs(self.programs.get(pi.program.as_str())) {
            out.insert(Selector::Program(pi.program.clone()));
        }
        if !selection.periods.contains(&pi.period) && differs(self.periods.get(pi.period.as_str())) {
            out.insert(Selector::Period(pi.period.clone()));
        }
        let teams = pi.teams.iter().flatten().map(String::as_str).chain(pi.capacity.iter().map(|c| c.team.as_str()));
        let teams = teams
            .chain(pi.sprint_mappings.iter().map(|m| m.team.as_str()))
            .chain(pi.objectives.iter().filter_map(|o| o.team.as_deref()))
            .chain(pi.milestones.iter().filter_map(|m| m.team.as_deref()));
        for team in teams {
            if !selection.teams.contains(team) && differs(self.teams.get(team)) {
                out.insert(Selector::Team(team.to_owned()));
            }
        }
        out.into_iter().collect()
    }

    /// The selectors that would mend an error in the result's PI `pi`.
    fn completions_of_pi(&self, selection: &Selection, pair: &Pair, pi: &Pi) -> Vec<Selector> {
        if pair.selected {
            self.referred(selection, pi)
        } else if pair.archive.as_ref().is_some_and(|a| Some(a) != pair.current.as_ref()) {
            // The store's own PI breaks a rule next to what was restored: the archive's version
            // of it fitted the archive's world.
            vec![Selector::Pi(pi.key.clone())]
        } else {
            Vec::new()
        }
    }

    /// The selectors that would mend an error in entity `i` of the result's `list`.
    fn completions_of(&self, selection: &Selection, current: &Configuration, list: &str, i: usize) -> Vec<Selector> {
        let result = self.result;
        match list {
            "teams" => result.teams.get(i).map_or_else(Vec::new, |t| {
                let own = !selection.teams.contains(&t.key) && differs(self.teams.get(t.key.as_str()));
                own.then(|| Selector::Team(t.key.clone())).into_iter().collect()
            }),
            "periods" => result.periods.get(i).map_or_else(Vec::new, |p| {
                let own = !selection.periods.contains(&p.key) && differs(self.periods.get(p.key.as_str()));
                own.then(|| Selector::Period(p.key.clone())).into_iter().collect()
            }),
            "programs" => result.programs.get(i).map_or_else(Vec::new, |p| {
                if selection.programs.contains(&p.key) {
                    let teams = p.teams.iter().filter(|t| !selection.teams.contains(*t));
                    teams.filter(|t| differs(self.teams.get(t.as_str()))).cloned().map(Selector::Team).collect()
                } else if differs(self.programs.get(p.key.as_str())) {
                    vec![Selector::Program(p.key.clone())]
                } else {
                    Vec::new()
                }
            }),
            "settings" if !selection.settings && current.settings != self.archive.settings => vec![Selector::Settings],
            "admins" if !selection.admins && current.admins != self.archive.admins => vec![Selector::Admins],
            _ => Vec::new(),
        }
    }
}

/// Whether the archive has the entity and the result has it otherwise (or not at all).
fn differs<T: PartialEq>(sides: Option<&(Option<&T>, Option<&T>)>) -> bool {
    matches!(sides, Some((result, Some(archive))) if *result != Some(*archive))
}

/// The configuration that restoring `selection` from `archive` over `current` leaves, both
/// whole in memory (`diff --only`).
pub fn restored(selection: &Selection, current: &Configuration, archive: &Configuration) -> Result<Configuration> {
    let mut result = selection.skeleton(current, archive);
    pair_pis(selection, &mut current.pis.iter().cloned(), &mut archive.pis.iter().cloned(), |pair| {
        result.pis.extend(pair.into_result());
        Ok(())
    })?;
    let seen = current.pis.iter().chain(&archive.pis).map(|p| p.key.clone()).collect();
    selection.check_keys(current, archive, &seen)?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse_and_print_back() {
        for s in ["team:PUMA", "program:PGM-1", "period:2026Q1", "pi:PGM-1-2026Q1", "settings", "admins"] {
            let parsed: Selector = s.parse().expect(s);
            assert_eq!(parsed.to_string(), s);
        }
        for bad in ["team", "team:", "teams:PUMA", "PUMA", "program", ""] {
            assert!(matches!(bad.parse::<Selector>(), Err(Error::Usage(_))), "{bad:?} parsed");
        }
    }

    #[test]
    fn a_selector_given_twice_counts_once_and_none_means_everything() {
        assert_eq!(Selection::parse::<&str>(&[]).expect("empty"), None);
        let twice = Selection::parse(&["team:A", "team:A", "settings"]).expect("parse").expect("some");
        assert_eq!(twice.names(), ["settings", "team:A"]);
    }

    #[test]
    fn a_program_selects_its_pis_on_either_side() {
        let (archive, _) = crate::sample::generate(crate::sample::SampleSize::Demo);
        let program = archive.pis[0].program.clone();
        let mut current = archive.clone();
        // Since the backup, PI 0 moved to another program and the program gained a PI.
        current.pis[0].program = "OTHER".into();
        let mut gained = current.pis[1].clone();
        gained.key = "ZZ-GAINED".into();
        gained.program.clone_from(&program);
        current.pis.push(gained);
        let selection = Selection::parse(&[format!("program:{program}")]).expect("parse").expect("some");
        let mut result = Vec::new();
        pair_pis(&selection, &mut current.pis.clone().into_iter(), &mut archive.pis.clone().into_iter(), |pair| {
            result.extend(pair.into_result());
            Ok(())
        })
        .expect("pairs");
        let expected: Vec<Pi> = archive.pis.iter().filter(|p| p.program == program).cloned().collect();
        let restored: Vec<Pi> = result.iter().filter(|p| p.program == program).cloned().collect();
        assert_eq!(restored, expected, "exactly the program's PIs of the backup");
        assert!(!result.iter().any(|p| p.key == "ZZ-GAINED"), "the PI gained since is removed");
        let others: Vec<&Pi> =
            current.pis.iter().filter(|p| p.program != program && p.key != current.pis[0].key).collect();
        assert!(others.iter().all(|p| result.contains(p)), "the other programs' PIs stay as the store has them");
    }

    #[test]
    fn pointers_name_their_entity() {
        assert_eq!(entity_of("/data/pis/12/capacity/0/team"), Some(("pis", 12)));
        assert_eq!(entity_of("/data/programs/3"), Some(("programs", 3)));
        assert_eq!(entity_of("/data/settings/story_points_field"), Some(("settings", 0)));
        assert_eq!(entity_of("/header/api_tokens/1"), None);
    }
}
