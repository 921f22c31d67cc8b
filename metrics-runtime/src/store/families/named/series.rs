//! What a family named at run time keeps per label set: its labels with its cells
//! ([`Named`]), and the kinds of series it may keep ([`Stored`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::contract::buckets::Buckets;
use crate::contract::Kind;
use crate::store::families::series::{CounterSeries, TimedSeries};

/// Label names and values, sorted by name.
pub(crate) type Pairs = Box<[(Box<str>, Box<str>)]>;

/// One series of a named family: its labels, constant ones included, and its cells.
pub(crate) struct Named<T> {
    pub(crate) pairs: Pairs,
    /// The label list as the text formats write it.
    pub(crate) labels: Box<str>,
    pub(crate) series: T,
    /// The instance's switch: the facade's handles record only while it is on.
    pub(super) on: Arc<AtomicBool>,
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
    /// A new series, of a family with `buckets` (a histogram needs them) that keeps
    /// exemplars or not.
    fn make(buckets: Option<&Buckets>, exemplars: bool) -> Option<Self>;
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
    fn make(_: Option<&Buckets>, exemplars: bool) -> Option<Self> {
        Some(CounterSeries::new(&[], "".into()).with_exemplar(exemplars))
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
    fn make(_: Option<&Buckets>, _: bool) -> Option<Self> {
        Some(FloatGauge::default())
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
    fn make(buckets: Option<&Buckets>, exemplars: bool) -> Option<Self> {
        Some(TimedSeries::new(buckets?, &[], "".into(), None, exemplars))
    }
}
