//! Families named at run time: the `metrics` facade's counters, gauges and histograms.
//!
//! The contract's families are known at compile time; these arrive with a name, a kind
//! and label names the first time a call site registers them. Each family keeps its
//! series in creation order for the exposition, and finds them by their labels only
//! when one is registered: the recorder hands out each series' `Arc` and recording goes
//! through it, into the same cells as the contract's (a counter's lanes, a histogram's
//! stripes under their sequence numbers), so a scrape reads them the same way.
//!
//! A family holds at most `max_label_sets` label sets of its own; later ones fold into
//! one series whose own label values read `other`. An instance holds at most
//! [`MAX_FAMILIES`] names, so names made from input cannot grow it without bound either.

mod family;
mod series;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, PoisonError, RwLock};

use crate::contract::named::{self, NamedRules, MAX_FAMILIES};
use crate::contract::Kind;
use crate::store::families::{Head, Listed};
pub(crate) use family::{Found, NamedFamily};
pub(crate) use series::{FloatGauge, Named, Stored};

/// Why a name was not registered; `first` the first time for this name, so the
/// refusal is logged once.
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) message: String,
    pub(crate) first: bool,
}

/// What `describe_*` said of a name before (or after) it was first used.
struct Description {
    unit: Option<&'static str>,
    help: Box<str>,
}

#[derive(Default)]
struct Registry {
    /// Every family, in creation order: the exposition's order.
    list: Vec<Arc<NamedFamily>>,
    /// By exposed name.
    by_name: HashMap<Box<str>, usize>,
    /// By kind and name as the code spells it.
    by_code: HashMap<(Kind, Box<str>), usize>,
    /// Every name a family writes (family and sample names), the contract's included,
    /// to that family's name and kind: a clash is a lookup.
    written: HashMap<String, (Box<str>, Kind)>,
    descriptions: HashMap<(Kind, Box<str>), Description>,
    /// Names already refused once (logged).
    refused: HashSet<(Kind, Box<str>)>,
}

/// Every family named at run time, and the rules they are made by.
pub(crate) struct NamedFamilies {
    pub(crate) rules: NamedRules,
    registry: RwLock<Registry>,
}

impl NamedFamilies {
    /// The registry, with the names the families of `taken` (the contract's) write
    /// already taken.
    pub(crate) fn new(rules: NamedRules, taken: &[(&str, Kind)]) -> Self {
        let mut registry = Registry::default();
        for &(name, kind) in taken {
            let owner = (Box::<str>::from(name), kind);
            let names = named::written(name, kind).into_iter();
            registry.written.extend(names.map(|n| (n, owner.clone())));
        }
        NamedFamilies {
            rules,
            registry: RwLock::new(registry),
        }
    }

    /// The family `name` (as the code spells it) of `kind`, created if new. Refused if
    /// a name it would write is one a family of the contract or another named one writes.
    pub(crate) fn family(
        &self,
        name: &str,
        kind: Kind,
        exemplars: bool,
        on: &Arc<AtomicBool>,
    ) -> Result<Arc<NamedFamily>, Refused> {
        let key = (kind, Box::<str>::from(name));
        if let Some(family) = {
            let registry = self.read();
            let at = registry.by_code.get(&key);
            at.map(|&at| Arc::clone(&registry.list[at]))
        } {
            return Ok(family);
        }
        let mut registry = self
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(&at) = registry.by_code.get(&key) {
            return Ok(Arc::clone(&registry.list[at]));
        }
        // Undescribed, the help text is the name as the code spells it.
        let (unit, help) = registry
            .descriptions
            .get(&key)
            .map_or((None, name), |d| (d.unit, &*d.help));
        let refuse = |registry: &mut Registry, message: String| {
            // Past the bound, refusals are no longer remembered, nor logged.
            let first =
                registry.refused.len() < MAX_FAMILIES && registry.refused.insert(key.clone());
            Err(Refused { message, first })
        };
        if registry.list.len() >= MAX_FAMILIES {
            let message = format!("{name:?}: the recorder holds {MAX_FAMILIES} names already");
            return refuse(&mut registry, message);
        }
        let Some(exposed) = named::exposed_name(name, kind, unit) else {
            return refuse(&mut registry, "an empty metric name".into());
        };
        if let Some(&at) = registry.by_name.get(&*exposed) {
            let other = Arc::clone(&registry.list[at]);
            if other.kind == kind {
                // Another spelling of the same name (`a.b`, `a_b`): one family.
                registry.by_code.insert(key, at);
                return Ok(other);
            }
        }
        // Every name the family would write, against every name already written.
        let mine = named::written(&exposed, kind);
        if let Some(other) = mine.iter().find_map(|n| registry.written.get(n.as_str())) {
            let message = format!(
                "{name:?} as a {} would be exposed as {exposed:?}, which clashes with the {} {:?}",
                kind.as_str(),
                other.1.as_str(),
                &*other.0
            );
            return refuse(&mut registry, message);
        }
        let family = Arc::new(NamedFamily::new(
            (
                exposed.as_str().into(),
                named::utf8_name(name, kind, unit).map(Into::into),
            ),
            kind,
            help,
            unit,
            (kind == Kind::Histogram).then(|| self.rules.buckets(name).clone()),
            (exemplars, self.rules.max_label_sets),
            Arc::clone(on),
        ));
        let at = registry.list.len();
        let owner = (family.name.clone(), kind);
        registry
            .written
            .extend(mine.into_iter().map(|n| (n, owner.clone())));
        registry.list.push(Arc::clone(&family));
        registry.by_name.insert(exposed.into(), at);
        registry.by_code.insert(key, at);
        Ok(family)
    }

    /// Notes the unit and help of `name`: for a family made later, or now for one that
    /// exists. A unit that would rename an existing family is refused (its help is
    /// taken); the error says why.
    pub(crate) fn describe(
        &self,
        name: &str,
        kind: Kind,
        unit: Option<&'static str>,
        help: &str,
    ) -> Result<(), String> {
        let key = (kind, Box::<str>::from(name));
        let mut registry = self
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(&at) = registry.by_code.get(&key) {
            let family = &registry.list[at];
            family.set_help(help);
            if unit != family.unit()
                && named::exposed_name(name, kind, unit).as_deref() != Some(&family.name)
            {
                return Err(format!(
                    "the unit of {name:?} is described after its first use, which named it \
                     {:?}; kept that name",
                    family.name
                ));
            }
            return Ok(());
        }
        if registry.descriptions.len() >= MAX_FAMILIES && !registry.descriptions.contains_key(&key)
        {
            return Err(format!(
                "{name:?}: {MAX_FAMILIES} names described already; ignored"
            ));
        }
        registry.descriptions.insert(
            key,
            Description {
                unit,
                help: help.into(),
            },
        );
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Calls `f` with each family, in creation order.
    pub(crate) fn each_listed(&self, f: &mut dyn FnMut(&Listed<'_>)) {
        let list = self.read().list.clone();
        for family in &list {
            let help = family.help();
            let head = Head {
                name: &family.name,
                utf8: family.utf8.as_deref(),
                kind: family.kind,
                help: &help,
            };
            f(&Listed::named(head, &**family, family.buckets.as_ref()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RecorderConfig;

    fn families() -> (NamedFamilies, Arc<AtomicBool>) {
        let rules = NamedRules::new(&RecorderConfig::default()).unwrap();
        let taken = [("keychain_operations_total", Kind::Counter)];
        (
            NamedFamilies::new(rules, &taken),
            Arc::new(AtomicBool::new(true)),
        )
    }

    #[test]
    fn names_are_bounded_and_each_refusal_is_logged_once() {
        let (named, on) = families();
        for i in 0..MAX_FAMILIES {
            let name = format!("n{i}");
            assert!(named.family(&name, Kind::Counter, false, &on).is_ok());
        }
        let refused = named.family("one_more", Kind::Gauge, false, &on);
        let refused = refused.err().unwrap();
        assert!(refused.first, "{}", refused.message);
        assert!(refused.message.contains("10000 names already"));
        let again = named.family("one_more", Kind::Gauge, false, &on);
        assert!(!again.err().unwrap().first);
        // Those that exist are still found.
        assert!(named.family("n7", Kind::Counter, false, &on).is_ok());
    }

    #[test]
    fn a_clash_names_both_families() {
        let (named, on) = families();
        let err = named
            .family("keychain_operations", Kind::Counter, false, &on)
            .err()
            .unwrap();
        assert_eq!(
            err.message,
            "\"keychain_operations\" as a counter would be exposed as \
             \"keychain_operations_total\", which clashes with the counter \
             \"keychain_operations_total\""
        );
        named.family("depth", Kind::Histogram, false, &on).unwrap();
        let err = named
            .family("depth_bucket", Kind::Gauge, false, &on)
            .err()
            .unwrap();
        assert!(
            err.message.ends_with("the histogram \"depth\""),
            "{}",
            err.message
        );
    }
}
