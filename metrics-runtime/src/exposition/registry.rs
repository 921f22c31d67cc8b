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

use crate::contract::buckets::Buckets;
use crate::contract::{self, Kind};
use crate::store::families::exposed::{cumulative, Value};
use crate::store::families::Head;
use crate::store::Store;

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
/// the registry lives inside the store, and a strong one would be a cycle.
pub(crate) struct Bridge {
    store: Weak<Store>,
    descs: Vec<Desc>,
}

impl Bridge {
    pub(crate) fn new(store: &Arc<Store>) -> prometheus::Result<Self> {
        let const_labels: HashMap<String, String> = store.const_labels.iter().cloned().collect();
        let descs = contract::ALL
            .iter()
            .map(|spec| {
                Desc::new(
                    store.name(spec).to_owned(),
                    spec.help.into(),
                    spec.labels.iter().map(|l| l.to_string()).collect(),
                    const_labels.clone(),
                )
            })
            .collect::<prometheus::Result<_>>()?;
        Ok(Bridge {
            store: Arc::downgrade(store),
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
        match self.store.upgrade() {
            Some(store) => families(&store),
            None => Vec::new(),
        }
    }
}

/// Every family with series, as protobufs.
fn families(store: &Store) -> Vec<MetricFamily> {
    let mut families = Vec::new();
    store.each_listed(&mut |listed| {
        let mut parts: Vec<MetricFamily> = listed.heads().iter().map(family).collect();
        listed.family.visit(None, &mut |sample| {
            let mut labels = Vec::new();
            store.sample_labels(listed, &sample, &mut |name, value| {
                let mut pair = LabelPair::default();
                pair.set_name(name.into());
                pair.set_value(value.into());
                labels.push(pair);
            });
            let mut m = proto::Metric::from_label(labels);
            match (sample.value, listed.buckets) {
                (Value::Counter(n), _) => m.set_counter(counter(n as f64)),
                (Value::Gauge(n), _) => m.set_gauge(gauge(n as f64)),
                (Value::Float(v), _) => m.set_gauge(gauge(v)),
                (Value::Histogram(cells, _), Some(buckets)) => {
                    m.set_histogram(histogram(buckets, cells))
                }
                (Value::Histogram(..), None) => return,
            }
            parts[listed.part(sample.part)].mut_metric().push(m);
        });
        families.extend(parts);
    });
    families.retain(|mf| !mf.get_metric().is_empty());
    families
}

fn family(head: &Head<'_>) -> MetricFamily {
    let mut mf = MetricFamily::default();
    mf.set_name(head.name.into());
    mf.set_help(head.help.into());
    mf.set_field_type(match head.kind {
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
    let totals: Vec<u64> = cumulative(&cells[..buckets.len()]).collect();
    let list = totals
        .iter()
        .zip(buckets.seconds())
        .map(|(n, bound)| {
            let mut b = proto::Bucket::default();
            b.set_upper_bound(*bound);
            b.set_cumulative_count(*n);
            b
        })
        .collect();
    h.set_bucket(list);
    h.set_sample_count(totals.last().copied().unwrap_or(0));
    h.set_sample_sum(buckets.sum_nanos(cells) as f64 / 1e9);
    h
}
