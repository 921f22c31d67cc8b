//! The contract's families as a `prometheus` [`Collector`], so `registry().gather()` and
//! any `prometheus` encoder see them beside the user's own metrics.
//!
//! Our own exposition does not go through this: it writes the families from their cells
//! and gathers the registry only for the user's metrics. While it does, a thread-local
//! flag makes this collector return nothing, so nothing is converted or written twice.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, LabelPair, MetricFamily, MetricType};

use crate::buckets::Buckets;
use crate::contract::{self, Kind, Spec};
use crate::metrics::Inner;
use crate::series::TimedSeries;
use crate::stripe::MAX_CELLS;
use crate::visit::Value;

thread_local! {
    static SUPPRESS: Cell<bool> = const { Cell::new(false) };
}

/// `registry.gather()` without the contract's families (the user's metrics only).
pub(crate) fn gather_others(registry: &prometheus::Registry) -> Vec<MetricFamily> {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            SUPPRESS.set(false);
        }
    }
    SUPPRESS.set(true);
    let _reset = Reset;
    registry.gather()
}

/// The collector registered in every instance's registry. It holds a weak reference:
/// the registry lives inside the instance, and a strong one would be a cycle.
pub(crate) struct Bridge {
    inner: Weak<Inner>,
    descs: Vec<Desc>,
}

impl Bridge {
    pub(crate) fn new(inner: &Arc<Inner>) -> prometheus::Result<Self> {
        let const_labels: HashMap<String, String> = inner.const_labels.iter().cloned().collect();
        let descs = contract::ALL
            .iter()
            .zip(&inner.names)
            .map(|(spec, name)| {
                Desc::new(
                    name.clone(),
                    spec.help.into(),
                    spec.labels.iter().map(|l| l.to_string()).collect(),
                    const_labels.clone(),
                )
            })
            .collect::<prometheus::Result<_>>()?;
        Ok(Bridge {
            inner: Arc::downgrade(inner),
            descs,
        })
    }
}

impl Collector for Bridge {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        if SUPPRESS.get() {
            return Vec::new();
        }
        match self.inner.upgrade() {
            Some(inner) => Protos { inner: &inner }.families(),
            None => Vec::new(),
        }
    }
}

struct Protos<'a> {
    inner: &'a Inner,
}

impl Protos<'_> {
    fn families(&self) -> Vec<MetricFamily> {
        let inner = self.inner;
        let mut families = Vec::new();
        let mut counters = family(&contract::OPERATIONS, inner.name(&contract::OPERATIONS));
        let mut histograms = family(
            &contract::OPERATION_DURATION,
            inner.name(&contract::OPERATION_DURATION),
        );
        let mut cells = [0u64; MAX_CELLS];
        inner.operations.series(|all| {
            for series in all {
                series.cells.read(&mut cells);
                for (status, n) in TimedSeries::exposed_statuses(&cells) {
                    let mut m =
                        self.metric(&contract::OPERATIONS, &series.values, Some(status.as_str()));
                    m.set_counter(counter(n as f64));
                    counters.mut_metric().push(m);
                }
                let mut m = self.metric(&contract::OPERATION_DURATION, &series.values, None);
                m.set_histogram(histogram(
                    &inner.op_buckets,
                    &cells[series.statuses..series.cells.len()],
                ));
                histograms.mut_metric().push(m);
            }
        });
        families.extend([counters, histograms]);
        for listed in inner.listing() {
            let mut mf = family(listed.spec, listed.name);
            listed.family.visit(&mut |sample| {
                let mut m = self.metric(listed.spec, sample.values, None);
                match (sample.value, listed.buckets) {
                    (Value::Counter(n), _) => m.set_counter(counter(n as f64)),
                    (Value::Gauge(n), _) => m.set_gauge(gauge(n as f64)),
                    (Value::Histogram(cells), Some(buckets)) => {
                        m.set_histogram(histogram(buckets, cells))
                    }
                    (Value::Histogram(_), None) => return,
                }
                mf.mut_metric().push(m);
            });
            families.push(mf);
        }
        families.retain(|mf| !mf.get_metric().is_empty());
        families
    }

    /// A metric with the series' labels (plus `status`, if given) and the constant
    /// labels, sorted by name.
    fn metric(&self, spec: &Spec, values: &[Box<str>], status: Option<&str>) -> proto::Metric {
        let mut pairs: Vec<(&str, &str)> = spec
            .labels
            .iter()
            .copied()
            .zip(values.iter().map(|v| &**v).chain(status))
            .collect();
        pairs.extend(
            self.inner
                .const_labels
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str())),
        );
        pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let labels = pairs
            .into_iter()
            .map(|(name, value)| {
                let mut pair = LabelPair::default();
                pair.set_name(name.into());
                pair.set_value(value.into());
                pair
            })
            .collect();
        proto::Metric::from_label(labels)
    }
}

fn family(spec: &Spec, name: &str) -> MetricFamily {
    let mut mf = MetricFamily::default();
    mf.set_name(name.into());
    mf.set_help(spec.help.into());
    mf.set_field_type(match spec.kind {
        Kind::Counter => MetricType::COUNTER,
        Kind::Gauge => MetricType::GAUGE,
        Kind::Histogram => MetricType::HISTOGRAM,
    });
    mf
}

fn counter(value: f64) -> proto::Counter {
    let mut c = proto::Counter::default();
    c.set_value(value);
    c
}

fn gauge(value: f64) -> proto::Gauge {
    let mut g = proto::Gauge::default();
    g.set_value(value);
    g
}

/// `cells`: bucket counts (not cumulative, `+Inf` last) and the sum in ns.
fn histogram(buckets: &Buckets, cells: &[u64]) -> proto::Histogram {
    let mut h = proto::Histogram::default();
    let mut cumulative = 0u64;
    let mut list = Vec::with_capacity(buckets.seconds().len());
    for (count, bound) in cells.iter().zip(buckets.seconds()) {
        cumulative = cumulative.wrapping_add(*count);
        let mut b = proto::Bucket::default();
        b.set_upper_bound(*bound);
        b.set_cumulative_count(cumulative);
        list.push(b);
    }
    cumulative = cumulative.wrapping_add(cells[buckets.len() - 1]);
    h.set_bucket(list);
    h.set_sample_count(cumulative);
    h.set_sample_sum(cells[buckets.len()] as f64 / 1e9);
    h
}
