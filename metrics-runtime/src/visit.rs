//! One way to read every family: the exposition and the `prometheus` bridge both walk
//! the series through [`Exposed`], so a family is declared once and served by both.

use crate::buckets::Buckets;
use crate::contract::Spec;
use crate::family::Family;
use crate::series::{CounterSeries, GaugeSeries, Labelled, TimedSeries};
use crate::stripe::MAX_CELLS;

/// The current value of one series.
pub(crate) enum Value<'a> {
    Counter(u64),
    Gauge(i64),
    /// Bucket counts (not cumulative, `+Inf` last), then the sum in nanoseconds.
    Histogram(&'a [u64]),
}

/// One series as read now.
pub(crate) struct Sample<'a> {
    /// The rendered label list, constant labels included.
    pub(crate) labels: &'a str,
    /// The series' own label values, in the order of the family's label names.
    pub(crate) values: &'a [Box<str>],
    pub(crate) value: Value<'a>,
}

/// A family that can be read series by series.
pub(crate) trait Exposed {
    fn visit(&self, f: &mut dyn FnMut(Sample<'_>));
}

/// Visits every series of a family, reading each one's value with `value`.
fn each<S: Labelled, const N: usize>(
    family: &Family<S, N>,
    f: &mut dyn FnMut(Sample<'_>),
    labels: impl Fn(&S) -> &str,
    value: impl Fn(&S) -> Value<'static>,
) {
    family.series(|all| {
        for s in all {
            f(Sample {
                labels: labels(s),
                values: s.values(),
                value: value(s),
            });
        }
    });
}

impl<const N: usize> Exposed for Family<CounterSeries, N> {
    fn visit(&self, f: &mut dyn FnMut(Sample<'_>)) {
        each(self, f, |s| &s.labels, |s| Value::Counter(s.value()));
    }
}

impl<const N: usize> Exposed for Family<GaugeSeries, N> {
    fn visit(&self, f: &mut dyn FnMut(Sample<'_>)) {
        each(self, f, |s| &s.labels, |s| Value::Gauge(s.get()));
    }
}

/// Histograms without status cells (the HTTP and gRPC durations).
impl<const N: usize> Exposed for Family<TimedSeries, N> {
    fn visit(&self, f: &mut dyn FnMut(Sample<'_>)) {
        let mut cells = [0u64; MAX_CELLS];
        self.series(|all| {
            for s in all {
                s.cells.read(&mut cells);
                f(Sample {
                    labels: &s.labels,
                    values: &s.values,
                    value: Value::Histogram(&cells[s.statuses..s.cells.len()]),
                });
            }
        });
    }
}

/// The in-flight gauge: one delta-moved series per protocol, always exposed.
pub(crate) struct ProtocolGauges(pub(crate) Vec<CounterSeries>);

impl Exposed for ProtocolGauges {
    fn visit(&self, f: &mut dyn FnMut(Sample<'_>)) {
        for s in &self.0 {
            f(Sample {
                labels: &s.labels,
                values: &s.values,
                value: Value::Gauge(s.value() as i64),
            });
        }
    }
}

/// Gauges moved by deltas, kept in a family (open TCP connections, by protocol).
pub(crate) struct DeltaGauges<const N: usize>(pub(crate) Family<CounterSeries, N>);

impl<const N: usize> Exposed for DeltaGauges<N> {
    fn visit(&self, f: &mut dyn FnMut(Sample<'_>)) {
        each(
            &self.0,
            f,
            |s| &s.labels,
            |s| Value::Gauge(s.value() as i64),
        );
    }
}

/// A family with what it takes to expose it.
pub(crate) struct Listed<'a> {
    pub(crate) spec: &'static Spec,
    pub(crate) name: &'a str,
    pub(crate) family: &'a dyn Exposed,
    /// For histograms, their bucket bounds.
    pub(crate) buckets: Option<&'a Buckets>,
}
