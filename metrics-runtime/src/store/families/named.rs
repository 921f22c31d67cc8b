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
//! one series whose own label values read `other`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::contract::buckets::Buckets;
use crate::contract::cardinality::OVERFLOW;
use crate::contract::named::{self, NamedRules};
use crate::contract::native::NativeLayout;
use crate::contract::Kind;
use crate::render;
use crate::store::cells::native::NativeSnapshot;
use crate::store::cells::stripe::MAX_CELLS;
use crate::store::families::exposed::{Exposed, Sample, Value};
use crate::store::families::series::{CounterSeries, TimedSeries};
use crate::store::families::{Head, Listed};

/// Label names and values, sorted by name.
pub(crate) type Pairs = Box<[(Box<str>, Box<str>)]>;

/// One series of a named family: its labels, constant ones included, and its cells.
pub(crate) struct Named<T> {
    pub(crate) pairs: Pairs,
    /// The label list as the text formats write it.
    pub(crate) labels: Box<str>,
    pub(crate) series: T,
    /// The instance's switch: the facade's handles record only while it is on.
    on: Arc<AtomicBool>,
}

impl<T> Named<T> {
    /// Whether the instance records.
    #[inline]
    pub(crate) fn on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }
}

/// A gauge of any value: an `f64`'s bits.
#[derive(Default)]
pub(crate) struct FloatGauge(AtomicU64);

impl FloatGauge {
    #[inline]
    pub(crate) fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Adds `delta` (negative to decrement): a compare-and-swap loop, as an `f64` has
    /// no atomic add.
    #[inline]
    pub(crate) fn add(&self, delta: f64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + delta).to_bits())
            });
    }

    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// A series kind a named family can keep, and how it is made.
pub(crate) trait Stored: Sized {
    const KIND: Kind;
    fn list(kept: &mut Kept) -> Option<&mut Vec<Arc<Named<Self>>>>;
    fn make(family: &NamedFamily) -> Self;
}

/// A family's series, of its one kind.
pub(crate) enum Kept {
    Counters(Vec<Arc<Named<CounterSeries>>>),
    Gauges(Vec<Arc<Named<FloatGauge>>>),
    Histograms(Vec<Arc<Named<TimedSeries>>>),
}

impl Stored for CounterSeries {
    const KIND: Kind = Kind::Counter;
    fn list(kept: &mut Kept) -> Option<&mut Vec<Arc<Named<Self>>>> {
        match kept {
            Kept::Counters(list) => Some(list),
            _ => None,
        }
    }
    fn make(family: &NamedFamily) -> Self {
        CounterSeries::new(&[], "".into()).with_exemplar(family.exemplars)
    }
}

impl Stored for FloatGauge {
    const KIND: Kind = Kind::Gauge;
    fn list(kept: &mut Kept) -> Option<&mut Vec<Arc<Named<Self>>>> {
        match kept {
            Kept::Gauges(list) => Some(list),
            _ => None,
        }
    }
    fn make(_: &NamedFamily) -> Self {
        FloatGauge::default()
    }
}

impl Stored for TimedSeries {
    const KIND: Kind = Kind::Histogram;
    fn list(kept: &mut Kept) -> Option<&mut Vec<Arc<Named<Self>>>> {
        match kept {
            Kept::Histograms(list) => Some(list),
            _ => None,
        }
    }
    fn make(family: &NamedFamily) -> Self {
        let buckets = family
            .buckets
            .as_ref()
            .expect("a histogram family has buckets");
        TimedSeries::new(buckets, &[], "".into(), Box::default(), family.exemplars)
    }
}

/// What finding a series gave: one of the family's own label sets, or the overflow
/// series a new label set past the cap folds into.
pub(crate) enum Found<T> {
    Own(Arc<Named<T>>),
    Folded(Arc<Named<T>>),
}

struct Series {
    kept: Kept,
    /// Position in `kept` of each label set (constant labels included).
    by_pairs: HashMap<Pairs, usize>,
    /// Label sets of the family's own, not counting the overflow series.
    own: usize,
}

/// One family named at run time.
pub(crate) struct NamedFamily {
    /// The name as exposed (`http_requests_total`).
    pub(crate) name: Box<str>,
    pub(crate) kind: Kind,
    help: RwLock<Box<str>>,
    /// The unit suffix the name was given (`seconds`), if any.
    unit: Option<&'static str>,
    /// A histogram's bounds (and native layout).
    pub(crate) buckets: Option<Buckets>,
    exemplars: bool,
    cap: usize,
    series: Mutex<Series>,
    on: Arc<AtomicBool>,
}

impl NamedFamily {
    /// The series of `own` labels (as [`named::own_labels`] gives them), created if
    /// new; past the cap, the overflow series.
    pub(crate) fn series<T: Stored>(
        &self,
        own: &[(Box<str>, Box<str>)],
        const_labels: &[(String, String)],
    ) -> Option<Found<T>> {
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let pairs = named::with_const(own, const_labels);
        if let Some(&at) = series.by_pairs.get(&pairs) {
            return Some(Found::Own(Arc::clone(&T::list(&mut series.kept)?[at])));
        }
        if series.own < self.cap {
            series.own += 1;
            return Some(Found::Own(self.insert(&mut series, pairs)?));
        }
        let folded: Vec<(Box<str>, Box<str>)> = own
            .iter()
            .map(|(n, _)| (n.clone(), OVERFLOW.into()))
            .collect();
        let pairs = named::with_const(&folded, const_labels);
        let found = match series.by_pairs.get(&pairs) {
            Some(&at) => Arc::clone(&T::list(&mut series.kept)?[at]),
            None => self.insert(&mut series, pairs)?,
        };
        Some(Found::Folded(found))
    }

    fn insert<T: Stored>(&self, series: &mut Series, pairs: Pairs) -> Option<Arc<Named<T>>> {
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (&**n, &**v)).collect();
        let new = Arc::new(Named {
            labels: render::label_list(&refs),
            series: T::make(self),
            pairs: pairs.clone(),
            on: Arc::clone(&self.on),
        });
        let list = T::list(&mut series.kept)?;
        series.by_pairs.insert(pairs, list.len());
        list.push(Arc::clone(&new));
        Some(new)
    }

    /// Replaces the help text.
    pub(crate) fn set_help(&self, help: &str) {
        *self.help.write().unwrap_or_else(PoisonError::into_inner) = help.into();
    }
}

/// What a family reads when it is scraped: its series, under its lock (which only
/// registration takes otherwise; recording goes through the series' `Arc`s).
impl Exposed for NamedFamily {
    fn visit(&self, native: Option<&NativeLayout>, f: &mut dyn FnMut(Sample<'_>)) {
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        fn sample<'a, T>(n: &'a Named<T>, value: Value<'a>) -> Sample<'a> {
            Sample {
                part: 0,
                labels: &n.labels,
                values: &[],
                last: None,
                pairs: Some(&n.pairs),
                value,
                exemplars: None,
                created: None,
            }
        }
        match &series.kept {
            Kept::Counters(list) => {
                for n in list {
                    f(Sample {
                        exemplars: n.series.exemplar.as_deref(),
                        created: Some(n.series.created),
                        ..sample(n, Value::Counter(n.series.value()))
                    });
                }
            }
            Kept::Gauges(list) => {
                for n in list {
                    f(sample(n, Value::Float(n.series.get())));
                }
            }
            Kept::Histograms(list) => {
                let mut cells = [0u64; MAX_CELLS];
                let mut snapshot = NativeSnapshot::default();
                for n in list {
                    let s = &n.series;
                    s.cells
                        .read_with(&mut cells, native.map(|l| (l, &mut snapshot)));
                    let native = native.filter(|_| s.cells.has_native()).map(|_| &snapshot);
                    f(Sample {
                        exemplars: s.exemplars.as_deref(),
                        created: Some(s.start()),
                        ..sample(n, Value::Histogram(&cells[..s.cells.len()], native))
                    });
                }
            }
        }
    }
}

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
    pub(crate) fn new(rules: NamedRules) -> Self {
        NamedFamilies {
            rules,
            registry: RwLock::default(),
        }
    }

    /// The family `name` (as the code spells it) of `kind`, created if new. Refused if
    /// its exposed name would clash with a family of `taken` (the contract's) or with
    /// another named one.
    pub(crate) fn family(
        &self,
        name: &str,
        kind: Kind,
        taken: &[(&str, Kind)],
        exemplars: bool,
        on: &Arc<AtomicBool>,
    ) -> Result<Arc<NamedFamily>, Refused> {
        let key = (kind, Box::<str>::from(name));
        if let Some(&at) = self.read().by_code.get(&key) {
            return Ok(Arc::clone(&self.read().list[at]));
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
            let first = registry.refused.insert(key.clone());
            Err(Refused { message, first })
        };
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
        let named = registry.list.iter().map(|f| (&*f.name, f.kind));
        if let Some(other) = taken
            .iter()
            .copied()
            .chain(named)
            .find(|&other| named::clash((&exposed, kind), other))
        {
            let message = format!(
                "{name:?} as a {} would be exposed as {exposed:?}, which clashes with the {} {:?}",
                kind.as_str(),
                other.1.as_str(),
                other.0
            );
            return refuse(&mut registry, message);
        }
        let family = Arc::new(NamedFamily {
            name: exposed.as_str().into(),
            kind,
            help: RwLock::new(help.into()),
            unit,
            buckets: (kind == Kind::Histogram).then(|| self.rules.buckets(name).clone()),
            exemplars,
            cap: self.rules.max_label_sets,
            series: Mutex::new(Series {
                kept: match kind {
                    Kind::Counter => Kept::Counters(Vec::new()),
                    Kind::Gauge => Kept::Gauges(Vec::new()),
                    Kind::Histogram => Kept::Histograms(Vec::new()),
                },
                by_pairs: HashMap::new(),
                own: 0,
            }),
            on: Arc::clone(on),
        });
        let at = registry.list.len();
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
            if unit != family.unit
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
            let help = family.help.read().unwrap_or_else(PoisonError::into_inner);
            let head = Head {
                name: &family.name,
                kind: family.kind,
                help: &help,
            };
            f(&Listed::named(head, &**family, family.buckets.as_ref()));
        }
    }
}
