//! What a `metrics` handle records into: the store's series, through the facade's
//! `CounterFn`, `GaugeFn` and `HistogramFn`, and the overflow series that count each
//! folded recording as well.

use std::sync::{Arc, Mutex, PoisonError};

use metrics::{CounterFn, GaugeFn, HistogramFn};

use crate::contract::buckets::Buckets;
use crate::store::families::named::{FloatGauge, Named, NamedFamily};
use crate::store::families::series::{CounterSeries, TimedSeries};

/// Serialises `absolute`, which reads a counter and adds the difference: rare (a
/// counter mirrored from elsewhere), so one lock for all.
static ABSOLUTE: Mutex<()> = Mutex::new(());

impl CounterFn for Named<CounterSeries> {
    #[inline]
    fn increment(&self, value: u64) {
        if self.on() {
            self.series.add_observed(value);
        }
    }

    /// Raises the counter to `value`; a counter never goes down, so a lower value
    /// changes nothing.
    fn absolute(&self, value: u64) {
        if !self.on() {
            return;
        }
        let _one = ABSOLUTE.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.series.value();
        if value > now {
            self.series.add(value - now);
        }
    }
}

impl GaugeFn for Named<FloatGauge> {
    #[inline]
    fn increment(&self, value: f64) {
        if self.on() {
            self.series.add(value);
        }
    }

    #[inline]
    fn decrement(&self, value: f64) {
        if self.on() {
            self.series.add(-value);
        }
    }

    #[inline]
    fn set(&self, value: f64) {
        if self.on() {
            self.series.set(value);
        }
    }
}

/// A histogram series and its family's bounds, which place a value: a copy, so that a
/// recording reads them without going through the family.
pub(crate) struct HistogramHandle {
    buckets: Buckets,
    series: Arc<Named<TimedSeries>>,
}

impl HistogramHandle {
    /// The handle of `series`, of a histogram `family`.
    pub(crate) fn new(family: &NamedFamily, series: Arc<Named<TimedSeries>>) -> Option<Self> {
        let buckets = family.buckets.clone()?;
        Some(HistogramHandle { buckets, series })
    }
}

impl HistogramFn for HistogramHandle {
    #[inline]
    fn record(&self, value: f64) {
        if self.series.on() {
            self.series.series.record_value(&self.buckets, value);
        }
    }
}

/// A handle on an overflow series, which also counts each recording in
/// `keychain_recorder_folded_total{metric=…}`.
pub(crate) struct Folded<H> {
    pub(crate) handle: H,
    pub(crate) folded: Arc<Named<CounterSeries>>,
}

impl<H> Folded<H> {
    fn count(&self) {
        if self.folded.on() {
            self.folded.series.add(1);
        }
    }
}

impl<H: CounterFn> CounterFn for Folded<H> {
    fn increment(&self, value: u64) {
        self.handle.increment(value);
        self.count();
    }

    fn absolute(&self, value: u64) {
        self.handle.absolute(value);
        self.count();
    }
}

impl<H: GaugeFn> GaugeFn for Folded<H> {
    fn increment(&self, value: f64) {
        self.handle.increment(value);
        self.count();
    }

    fn decrement(&self, value: f64) {
        self.handle.decrement(value);
        self.count();
    }

    fn set(&self, value: f64) {
        self.handle.set(value);
        self.count();
    }
}

impl<H: HistogramFn> HistogramFn for Folded<H> {
    fn record(&self, value: f64) {
        self.handle.record(value);
        self.count();
    }
}
