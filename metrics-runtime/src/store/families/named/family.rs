//! One family named at run time: its head, its bounds, its series by label set, the
//! cap on them, and how a scrape reads it.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::contract::buckets::Buckets;
use crate::contract::cardinality::OVERFLOW;
use crate::contract::named;
use crate::contract::native::NativeLayout;
use crate::contract::Kind;
use crate::render;
use crate::store::cells::native::NativeSnapshot;
use crate::store::cells::stripe::MAX_CELLS;
use crate::store::families::exposed::{Exposed, Sample, Value};
use crate::store::families::named::series::{Kept, Named, Pairs, Stored};

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
    /// The name as exposed (`http_requests_total`)…
    pub(crate) name: Box<str>,
    /// …and in UTF-8 (`http.requests_total`) if that is not the same.
    pub(crate) utf8: Option<Box<str>>,
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
    /// A family without series: its name as exposed (legacy, and in UTF-8 if that
    /// differs); `(exemplars, cap)`: whether its series keep exemplars, and how many
    /// label sets it holds.
    pub(crate) fn new(
        (name, utf8): (Box<str>, Option<Box<str>>),
        kind: Kind,
        help: &str,
        unit: Option<&'static str>,
        buckets: Option<Buckets>,
        (exemplars, cap): (bool, usize),
        on: Arc<AtomicBool>,
    ) -> Self {
        NamedFamily {
            name,
            utf8,
            kind,
            help: RwLock::new(help.into()),
            unit,
            buckets,
            exemplars,
            cap,
            series: Mutex::new(Series {
                kept: match kind {
                    Kind::Counter => Kept::Counters(Vec::new()),
                    Kind::Gauge => Kept::Gauges(Vec::new()),
                    Kind::Histogram => Kept::Histograms(Vec::new()),
                },
                by_pairs: HashMap::new(),
                own: 0,
            }),
            on,
        }
    }

    /// The help text, read-locked while the scrape writes it.
    pub(crate) fn help(&self) -> std::sync::RwLockReadGuard<'_, Box<str>> {
        self.help.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The unit suffix the name was given, if any.
    pub(crate) fn unit(&self) -> Option<&'static str> {
        self.unit
    }

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
            let new = self.insert(&mut series, pairs)?;
            series.own += 1;
            return Some(Found::Own(new));
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
            series: T::make(self.buckets.as_ref(), self.exemplars)?,
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
