//! One way to read every storage: the exposition and the `prometheus` bridge both walk
//! the series through [`Exposed`], so a family is declared once and served by both.

use std::cell::{Cell, RefCell};

use crate::contract;
use crate::contract::native::NativeLayout;
use crate::store::cells::native::NativeSnapshot;
use crate::store::cells::stripe::MAX_CELLS;
use crate::store::families::exemplars::Exemplars;
use crate::store::families::family::Family;
use crate::store::families::series::{CounterSeries, GaugeSeries, Labelled, TimedSeries};
use crate::store::families::storage::{DeltaGauges, Operations, ProtocolGauges};

/// The current value of one series.
pub(crate) enum Value<'a> {
    Counter(u64),
    Gauge(i64),
    /// A gauge of any value (the `metrics` facade's).
    #[cfg_attr(not(feature = "recorder"), allow(dead_code))]
    Float(f64),
    /// Bucket counts (not cumulative, `+Inf` last), then the sum in nanoseconds; and the
    /// native buckets of the same observations, when asked for and kept.
    Histogram(&'a [u64], Option<&'a NativeSnapshot>),
}

/// Running totals of non-cumulative bucket counts: what `_bucket` samples show; the
/// last is the count of observations.
pub(crate) fn cumulative(counts: &[u64]) -> impl Iterator<Item = u64> + '_ {
    counts.iter().scan(0u64, |total, n| {
        *total = total.wrapping_add(*n);
        Some(*total)
    })
}

/// One series as read now.
pub(crate) struct Sample<'a> {
    /// Which of the storage's families (its `specs`) this sample belongs to.
    pub(crate) part: usize,
    /// The rendered label list, constant labels included.
    pub(crate) labels: &'a str,
    /// The series' own label values, in the order of the family's label names…
    pub(crate) values: &'a [Box<str>],
    /// …and the value of its last label when the series does not keep it (`status`).
    pub(crate) last: Option<&'static str>,
    /// A series named at run time carries its label names with the values, constant
    /// labels included, in order: the family has no spec to name them.
    pub(crate) pairs: Option<&'a [(Box<str>, Box<str>)]>,
    pub(crate) value: Value<'a>,
    /// The series' exemplars, if it keeps them: one per bucket of a histogram, one for
    /// a counter.
    pub(crate) exemplars: Option<&'a Exemplars>,
    /// A counter's or histogram's start: when the series was created, in nanoseconds
    /// since the Unix epoch.
    pub(crate) created: Option<u64>,
}

/// A storage that can be read series by series, each of its parts in turn.
pub(crate) trait Exposed {
    /// Calls `f` with every sample; histograms that keep native buckets of layout
    /// `native` carry them (only the protobuf exposition asks).
    fn visit(&self, native: Option<&NativeLayout>, f: &mut dyn FnMut(Sample<'_>));
}

/// A sample of part 0 with the series' own labels.
fn sample<'a, S: Labelled>(series: &'a S, labels: &'a str, value: Value<'a>) -> Sample<'a> {
    Sample {
        part: 0,
        labels,
        values: series.values(),
        last: None,
        pairs: None,
        value,
        exemplars: None,
        created: None,
    }
}

impl<const N: usize> Exposed for Family<CounterSeries, N> {
    fn visit(&self, _: Option<&NativeLayout>, f: &mut dyn FnMut(Sample<'_>)) {
        self.series(|all| {
            for s in all {
                f(Sample {
                    exemplars: s.exemplar.as_deref(),
                    created: Some(s.created),
                    ..sample(&**s, &s.labels, Value::Counter(s.value()))
                });
            }
        });
    }
}

impl<const N: usize> Exposed for Family<GaugeSeries, N> {
    fn visit(&self, _: Option<&NativeLayout>, f: &mut dyn FnMut(Sample<'_>)) {
        self.series(|all| {
            for s in all {
                f(sample(&**s, &s.labels, Value::Gauge(s.get())));
            }
        });
    }
}

/// Histograms without status cells (the HTTP and gRPC durations).
impl<const N: usize> Exposed for Family<TimedSeries, N> {
    fn visit(&self, native: Option<&NativeLayout>, f: &mut dyn FnMut(Sample<'_>)) {
        let mut cells = [0u64; MAX_CELLS];
        let mut snapshot = NativeSnapshot::default();
        self.series(|all| {
            for s in all {
                s.cells
                    .read_with(&mut cells, native.map(|n| (n, &mut snapshot)));
                let native = native.filter(|_| s.cells.has_native()).map(|_| &snapshot);
                let histogram = Value::Histogram(&cells[s.statuses..s.cells.len()], native);
                f(Sample {
                    exemplars: s.exemplars.as_deref(),
                    created: Some(s.start()),
                    ..sample(&**s, &s.labels, histogram)
                });
            }
        });
    }
}

thread_local! {
    /// Snapshot buffer of the operations, reused across scrapes on this thread.
    static SCRATCH: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
    /// The status counters' label lists are written here, reused across scrapes.
    static LABELS: Cell<String> = const { Cell::new(String::new()) };
}

impl Operations {
    /// The counter (part 0) and the histogram (part 1) from one snapshot of each series:
    /// both families describe the same set of recordings.
    fn visit_with(
        &self,
        scratch: &mut Vec<u64>,
        native: Option<&NativeLayout>,
        f: &mut dyn FnMut(Sample<'_>),
    ) {
        self.0.series(|all| {
            let Some(first) = all.first() else { return };
            let width = first.cells.len();
            scratch.clear();
            scratch.resize(width * all.len(), 0);
            let native = native.filter(|_| first.cells.has_native());
            let mut natives = Vec::new();
            natives.resize_with(native.map_or(0, |_| all.len()), NativeSnapshot::default);
            for (i, (series, cells)) in all.iter().zip(scratch.chunks_exact_mut(width)).enumerate()
            {
                series
                    .cells
                    .read_with(cells, native.zip(natives.get_mut(i)));
            }
            let status_name = contract::OPERATIONS.labels[contract::OPERATIONS.labels.len() - 1];
            let mut labels = LABELS.try_with(Cell::take).unwrap_or_default();
            for (s, cells) in all.iter().zip(scratch.chunks_exact(width)) {
                for (status, n) in TimedSeries::exposed_statuses(cells) {
                    s.status_labels(status_name, status, &mut labels);
                    f(Sample {
                        part: 0,
                        labels: &labels,
                        values: &s.values,
                        last: Some(status.as_str()),
                        pairs: None,
                        value: Value::Counter(n),
                        exemplars: None,
                        created: Some(s.start()),
                    });
                }
            }
            let _ = LABELS.try_with(|l| l.set(labels));
            for (i, (s, cells)) in all.iter().zip(scratch.chunks_exact(width)).enumerate() {
                let histogram = Value::Histogram(&cells[s.statuses..], natives.get(i));
                f(Sample {
                    part: 1,
                    exemplars: s.exemplars.as_deref(),
                    created: Some(s.start()),
                    ..sample(&**s, &s.labels, histogram)
                });
            }
        });
    }
}

impl Exposed for Operations {
    fn visit(&self, native: Option<&NativeLayout>, f: &mut dyn FnMut(Sample<'_>)) {
        let done = SCRATCH.try_with(|s| {
            s.try_borrow_mut()
                .map(|mut scratch| self.visit_with(&mut scratch, native, f))
                .is_ok()
        });
        if done != Ok(true) {
            // Thread teardown or re-entrance: use a fresh buffer.
            self.visit_with(&mut Vec::new(), native, f);
        }
    }
}

impl Exposed for ProtocolGauges {
    fn visit(&self, _: Option<&NativeLayout>, f: &mut dyn FnMut(Sample<'_>)) {
        for s in &self.0 {
            f(sample(s, &s.labels, Value::Gauge(s.value() as i64)));
        }
    }
}

impl<const N: usize> Exposed for DeltaGauges<N> {
    fn visit(&self, _: Option<&NativeLayout>, f: &mut dyn FnMut(Sample<'_>)) {
        self.0.series(|all| {
            for s in all {
                f(sample(&**s, &s.labels, Value::Gauge(s.value() as i64)));
            }
        });
    }
}
