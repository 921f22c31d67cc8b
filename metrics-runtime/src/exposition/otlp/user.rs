//! The user's own `prometheus` metrics as OTLP metrics: counters as monotonic Sums,
//! gauges and untyped metrics as Gauges, histograms as Histograms, summaries as
//! Summaries. A counter named without `_total` is sent as it is, and Prometheus'
//! receiver adds the suffix: the one name that differs from the scrape's.

use prometheus::proto::{LabelPair, Metric, MetricFamily, MetricType};

use super::delta::Totals;
use super::points::Attributes;
use super::{otlp_name, Data, Temporality, Writer};
use crate::contract::Kind;
use crate::exposition::wire::bytes_field;

struct Labels<'a>(&'a [LabelPair]);

impl Attributes for Labels<'_> {
    fn for_each(&self, f: &mut dyn FnMut(&str, &str)) {
        for l in self.0 {
            f(l.name(), l.value());
        }
    }
}

/// A series' identity for the delta state: its label pairs, joined.
fn key(m: &Metric) -> String {
    let mut key = String::new();
    for l in m.get_label() {
        key.push_str(l.name());
        key.push('\0');
        key.push_str(l.value());
        key.push('\0');
    }
    key
}

/// Appends every user family. The `prometheus` crate keeps no start times: its series
/// start at `born`, the instance's creation.
pub(super) fn families(w: &mut Writer<'_>, families: &[MetricFamily], born: u64) {
    for mf in families {
        let (kind, data) = match mf.get_field_type() {
            MetricType::COUNTER => (Kind::Counter, Data::Sum),
            MetricType::HISTOGRAM => (Kind::Histogram, Data::Histogram),
            MetricType::SUMMARY => (Kind::Gauge, Data::Summary),
            _ => (Kind::Gauge, Data::Gauge),
        };
        w.points[0].clear();
        for m in mf.get_metric() {
            point(w, mf, data, m, born);
            bytes_field(&mut w.points[0], 1, w.point.bytes());
        }
        let (name, unit) = otlp_name(mf.name(), kind);
        w.metric(0, name, mf.help(), unit, data);
    }
}

fn point(w: &mut Writer<'_>, mf: &MetricFamily, data: Data, m: &Metric, born: u64) {
    let (now, delta) = (w.now, w.temporality == Temporality::Delta);
    let attributes = Labels(m.get_label());
    let family = mf.name();
    match data {
        Data::Sum => {
            let c = m.get_counter();
            let start = born;
            let (start, value) = if delta {
                let labels = key(m);
                w.deltas
                    .key(family, &labels, start, now, Totals::Float(c.value()))
                    .float(start, c.value())
            } else {
                (start, c.value())
            };
            w.point.double(&attributes, Some(start), now, value);
        }
        Data::Histogram => {
            let h = m.get_histogram();
            let start = born;
            // Per-bucket counts, the count and the sum, as floats for the delta state.
            let mut values = Vec::with_capacity(h.get_bucket().len() + 3);
            let mut bounds = Vec::with_capacity(h.get_bucket().len());
            let mut below = 0u64;
            for b in h.get_bucket() {
                if b.upper_bound() == f64::INFINITY {
                    continue;
                }
                bounds.push(b.upper_bound());
                values.push(b.cumulative_count().saturating_sub(below) as f64);
                below = b.cumulative_count();
            }
            values.push(h.sample_count().saturating_sub(below) as f64);
            values.extend([h.sample_count() as f64, h.sample_sum()]);
            let (start, values) = if delta {
                w.deltas
                    .key(
                        family,
                        &key(m),
                        start,
                        now,
                        Totals::Floats(values.clone().into()),
                    )
                    .floats(start, &values)
            } else {
                (start, values)
            };
            let [.., count, sum] = values[..] else { return };
            let counts = values[..values.len() - 2].iter().map(|&n| n as u64);
            w.point.float_histogram(
                &attributes,
                start,
                now,
                (count as u64, sum),
                counts,
                &bounds,
            );
        }
        Data::Summary => {
            let s = m.get_summary();
            let start = born;
            let quantiles: Vec<_> = s
                .get_quantile()
                .iter()
                .map(|q| (q.quantile(), q.value()))
                .collect();
            w.point.summary(
                &attributes,
                start,
                now,
                (s.sample_count(), s.sample_sum()),
                &quantiles,
            );
        }
        Data::Gauge | Data::Exponential => {
            let v = match mf.get_field_type() {
                MetricType::GAUGE => m.get_gauge().value(),
                _ => m.untyped.value(),
            };
            w.point.double(&attributes, None, now, v);
        }
    }
}
