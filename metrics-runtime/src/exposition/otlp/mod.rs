//! OTLP: an instance's families as one `ExportMetricsServiceRequest`
//! (`opentelemetry/proto/collector/metrics/v1`), the body an exporter pushes.
//!
//! Written by hand like the protobuf exposition, from the same listing and snapshots, so
//! a push reads the store as a scrape does and recording pays nothing for it. Counters
//! become monotonic Sums, gauges Gauges, histograms Histograms with the same bounds or,
//! when they keep native buckets, ExponentialHistograms; exemplars ride on the points
//! with their trace and span ids. Each family is sent under its base name and unit
//! ([`otlp_name`]), which Prometheus' OTLP receiver turns back into the name `/metrics`
//! serves. The user's `prometheus` metrics follow ([`user`]).

mod delta;
mod points;
#[cfg(test)]
mod tests;
mod user;

pub(crate) use delta::Deltas;

use std::borrow::Cow;

use crate::contract::buckets::{nanos, Buckets};
use crate::contract::Kind;
use crate::exposition::registry;
use crate::exposition::wire::{bytes_field, len_field_len, len_prefix, uint_field, uint_field_len};
use crate::store::cells::reset::unix_nanos;
use crate::store::families::exposed::{Sample, Value};
use crate::store::families::Listed;
use crate::store::Store;
use delta::Totals;
use points::{Attributes, Point};

/// How counters and histograms are reported: their totals since the series started,
/// or what changed since the last export that reached the collector.
///
/// Gauges are gauges either way; summaries (from the user's registry) are always
/// cumulative, as OTLP defines them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Temporality {
    /// Totals since each series' start (its creation, or its last reset): what
    /// Prometheus stores. The default.
    #[default]
    Cumulative,
    /// Changes since the previous successful export. An export that fails is folded
    /// into the next one, so nothing is lost or counted twice.
    Delta,
}

/// What one request says beyond the store's numbers.
pub(crate) struct Request<'a> {
    /// Resource attributes (`service.name` and the rest), in order.
    pub(crate) resource: &'a [(String, String)],
    pub(crate) temporality: Temporality,
}

/// `AggregationTemporality` values.
const DELTA: u64 = 1;
const CUMULATIVE: u64 = 2;

/// The instrumentation scope: this crate.
const SCOPE_NAME: &str = env!("CARGO_PKG_NAME");
const SCOPE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Writes the request for everything `store` holds now into `out` (cleared first). In
/// delta temporality, `deltas` gives what the last successful export sent and keeps
/// this one's totals pending until [`Deltas::commit`] or [`Deltas::abandon`].
pub(crate) fn encode(store: &Store, request: &Request<'_>, deltas: &mut Deltas, out: &mut Vec<u8>) {
    let now = unix_nanos();
    let mut w = Writer {
        now,
        temporality: request.temporality,
        deltas,
        metrics: Vec::new(),
        points: [Vec::new(), Vec::new()],
        point: Point::default(),
    };
    store.each_listed(&mut |listed| w.storage(store, listed));
    // The user's metrics carry no start: they count from the instance's creation.
    let born = now.saturating_sub(nanos(store.created.elapsed()));
    user::families(&mut w, &registry::gather_others(&store.registry), born);
    w.finish(request.resource, out);
}

/// The base name and unit a family is sent under: a counter's `_total` and a known unit
/// suffix come off (`keychain_operations`, ``; `keychain_operation_duration`, `s`), and
/// Prometheus' receiver puts them back (`UnderscoreEscapingWithSuffixes`).
pub(crate) fn otlp_name(name: &str, kind: Kind) -> (&str, &'static str) {
    let mut base = name;
    if kind == Kind::Counter {
        base = strip(base, "_total");
    }
    for (suffix, unit) in [("_seconds", "s"), ("_bytes", "By")] {
        let stripped = strip(base, suffix);
        if stripped.len() != base.len() {
            return (stripped, unit);
        }
    }
    (base, "")
}

/// `name` without `suffix`, unless nothing would be left.
fn strip<'a>(name: &'a str, suffix: &str) -> &'a str {
    match name.strip_suffix(suffix) {
        Some(base) if !base.is_empty() => base,
        _ => name,
    }
}

/// Buffers reused across the families of one request.
pub(crate) struct Writer<'d> {
    now: u64,
    temporality: Temporality,
    deltas: &'d mut Deltas,
    /// The `Metric` fields written so far (field 2 of `ScopeMetrics`).
    metrics: Vec<u8>,
    /// Each part's data points (field 1 of its Sum, Gauge or Histogram).
    points: [Vec<u8>; 2],
    point: Point,
}

/// The OTLP data type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Data {
    Gauge,
    Sum,
    Histogram,
    Exponential,
    Summary,
}

impl Data {
    /// The `Metric` field that holds it.
    fn field(self) -> u8 {
        match self {
            Data::Gauge => 5,
            Data::Sum => 7,
            Data::Histogram => 9,
            Data::Exponential => 10,
            Data::Summary => 11,
        }
    }
}

impl Writer<'_> {
    /// Every family of one storage that has series.
    fn storage(&mut self, store: &Store, listed: &Listed<'_>) {
        for points in &mut self.points {
            points.clear();
        }
        let native = listed.buckets.and_then(Buckets::native);
        let Writer {
            now,
            temporality,
            deltas,
            points,
            point,
            ..
        } = self;
        listed.family.visit(native, &mut |sample| {
            let part = listed.part(sample.part);
            let family = listed.heads()[part].name;
            let attributes = SampleLabels {
                store,
                listed,
                sample: &sample,
            };
            let start = sample.created.unwrap_or(*now);
            let delta = *temporality == Temporality::Delta;
            let labels = sample.labels;
            match (&sample.value, listed.buckets) {
                (Value::Counter(n), _) => {
                    let exemplar = sample.exemplars.and_then(|e| e.get(0));
                    let exemplar = exemplar.map(|e| (e, e.value as f64));
                    let (start, value) = if delta {
                        let sent = deltas.key(family, labels, start, *now, Totals::Int(*n));
                        sent.int(start, *n)
                    } else {
                        (start, *n)
                    };
                    point.number(&attributes, Some(start), *now, value as i64, exemplar);
                }
                (Value::Gauge(n), _) => point.number(&attributes, None, *now, *n, None),
                (Value::Float(v), _) => point.double(&attributes, None, *now, *v),
                (Value::Histogram(cells, None), Some(buckets)) => {
                    let (start, cells) = if delta {
                        let sent =
                            deltas.key(family, labels, start, *now, Totals::Cells((*cells).into()));
                        sent.cells(start, cells)
                    } else {
                        (start, Cow::Borrowed(*cells))
                    };
                    point.histogram(&attributes, start, *now, buckets, &cells, sample.exemplars);
                }
                (Value::Histogram(cells, Some(native)), Some(buckets)) => {
                    let sum = buckets.sum_nanos(cells);
                    let (start, native, sum) = if delta {
                        let sent =
                            deltas.key(family, labels, start, *now, Totals::native(native, sum));
                        sent.native(start, native, sum)
                    } else {
                        (start, Cow::Borrowed(*native), sum)
                    };
                    point.exponential(
                        &attributes,
                        start,
                        *now,
                        &native,
                        sum,
                        buckets,
                        sample.exemplars,
                    );
                }
                (Value::Histogram(..), None) => return,
            }
            bytes_field(&mut points[part], 1, point.bytes());
        });
        for (part, head) in listed.heads().iter().enumerate() {
            let data = match head.kind {
                Kind::Counter => Data::Sum,
                Kind::Gauge => Data::Gauge,
                Kind::Histogram if native.is_some() => Data::Exponential,
                Kind::Histogram => Data::Histogram,
            };
            let (name, unit) = otlp_name(head.name, head.kind);
            self.metric(part, name, head.help, unit, data);
        }
    }

    /// One `Metric` of `data` with the points written into `points[part]`, unless there
    /// are none.
    pub(crate) fn metric(&mut self, part: usize, name: &str, help: &str, unit: &str, data: Data) {
        let points = &self.points[part];
        if points.is_empty() {
            return;
        }
        let temporality = match self.temporality {
            Temporality::Delta
                if matches!(data, Data::Sum | Data::Histogram | Data::Exponential) =>
            {
                DELTA
            }
            _ => CUMULATIVE,
        };
        let extra = match data {
            Data::Gauge | Data::Summary => 0,
            Data::Sum => 2 * uint_field_len(1),
            Data::Histogram | Data::Exponential => uint_field_len(temporality),
        };
        let body = points.len() + extra;
        let len = len_field_len(name.len())
            + len_field_len(help.len())
            + if unit.is_empty() {
                0
            } else {
                len_field_len(unit.len())
            }
            + len_field_len(body);
        let out = &mut self.metrics;
        len_prefix(out, 2, len);
        bytes_field(out, 1, name.as_bytes());
        bytes_field(out, 2, help.as_bytes());
        if !unit.is_empty() {
            bytes_field(out, 3, unit.as_bytes());
        }
        len_prefix(out, data.field(), body);
        out.extend_from_slice(points);
        match data {
            Data::Gauge | Data::Summary => {}
            Data::Sum => {
                uint_field(out, 2, temporality);
                uint_field(out, 3, 1); // is_monotonic
            }
            Data::Histogram | Data::Exponential => uint_field(out, 2, temporality),
        }
    }

    /// The request: one resource, one scope, every metric written.
    fn finish(self, resource: &[(String, String)], out: &mut Vec<u8>) {
        out.clear();
        let attributes: usize = resource
            .iter()
            .map(|(k, v)| len_field_len(points::key_value_len(k.len(), v.len())))
            .sum();
        let scope = len_field_len(SCOPE_NAME.len()) + len_field_len(SCOPE_VERSION.len());
        let scope_metrics = len_field_len(scope) + self.metrics.len();
        let resource_metrics = len_field_len(attributes) + len_field_len(scope_metrics);
        len_prefix(out, 1, resource_metrics);
        len_prefix(out, 1, attributes);
        for (k, v) in resource {
            points::key_value(out, 1, k.as_bytes(), v.as_bytes());
        }
        len_prefix(out, 2, scope_metrics);
        len_prefix(out, 1, scope);
        bytes_field(out, 1, SCOPE_NAME.as_bytes());
        bytes_field(out, 2, SCOPE_VERSION.as_bytes());
        out.extend_from_slice(&self.metrics);
    }
}

/// A sample's labels, as the store orders them, as attributes.
struct SampleLabels<'a> {
    store: &'a Store,
    listed: &'a Listed<'a>,
    sample: &'a Sample<'a>,
}

impl Attributes for SampleLabels<'_> {
    fn for_each(&self, f: &mut dyn FnMut(&str, &str)) {
        self.store.sample_labels(self.listed, self.sample, f);
    }
}
