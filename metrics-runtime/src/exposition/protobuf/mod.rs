//! The protobuf exposition: length-delimited `io.prometheus.client.MetricFamily`
//! messages, which Prometheus asks for when its native histograms are enabled. It is
//! the only format that carries native histograms; each duration histogram holds its
//! classic buckets and its native ones, read from one snapshot.
//!
//! The messages ([`messages`]) are generated from `proto/metrics.proto` and committed;
//! the user's own `prometheus` metrics follow in that crate's encoding of the same
//! schema.

#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic, missing_docs)]
mod messages;

use prometheus::Encoder as _;
use prost::Message as _;

use crate::contract::buckets::Buckets;
use crate::contract::{Kind, Spec};
use crate::exposition::registry;
use crate::store::families::Listed;
use crate::store::native::NativeSnapshot;
use crate::store::read::{cumulative, Sample, Value};
use crate::store::Store;
use messages::{
    Bucket, BucketSpan, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};

/// `Content-Type` of the protobuf exposition.
pub const PROTOBUF_CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// Appends the protobuf exposition of `store` to `out`.
pub(crate) fn encode(store: &Store, out: &mut Vec<u8>) {
    for listed in store.families.listing(&store.buckets) {
        storage(store, &listed, out);
    }
    let encoder = prometheus::ProtobufEncoder::new();
    for family in registry::gather_others(&store.registry) {
        // Writing to a Vec fails only for a family without metrics, which has nothing
        // to say.
        let _ = encoder.encode(std::slice::from_ref(&family), out);
    }
}

/// Every family of one storage that has series, one message each.
fn storage(store: &Store, listed: &Listed<'_>, out: &mut Vec<u8>) {
    let mut families: Vec<MetricFamily> = listed
        .specs
        .iter()
        .map(|spec| MetricFamily {
            name: Some(store.name(spec).to_owned()),
            help: Some(spec.help.to_owned()),
            r#type: Some(metric_type(spec.kind) as i32),
            metric: Vec::new(),
        })
        .collect();
    let native = listed.buckets.and_then(Buckets::native);
    listed.family.visit(native, &mut |sample| {
        let part = sample.part.min(families.len() - 1);
        let metric = metric(store, listed.specs[part], listed.buckets, &sample);
        families[part].metric.push(metric);
    });
    for family in families.iter().filter(|f| !f.metric.is_empty()) {
        // Encoding into a Vec cannot fail: it grows as needed.
        let _ = family.encode_length_delimited(out);
    }
}

fn metric_type(kind: Kind) -> MetricType {
    match kind {
        Kind::Counter => MetricType::Counter,
        Kind::Gauge => MetricType::Gauge,
        Kind::Histogram => MetricType::Histogram,
    }
}

fn metric(store: &Store, spec: &Spec, buckets: Option<&Buckets>, sample: &Sample<'_>) -> Metric {
    let values = sample.values.iter().map(|v| &**v).chain(sample.last);
    let label = store
        .label_pairs(spec, values)
        .into_iter()
        .map(|(name, value)| LabelPair {
            name: Some(name.to_owned()),
            value: Some(value.to_owned()),
        })
        .collect();
    let mut metric = Metric {
        label,
        ..Metric::default()
    };
    match (&sample.value, buckets) {
        (Value::Counter(n), _) => {
            metric.counter = Some(Counter {
                value: Some(*n as f64),
            })
        }
        (Value::Gauge(n), _) => {
            metric.gauge = Some(Gauge {
                value: Some(*n as f64),
            })
        }
        (Value::Histogram(cells, native), Some(buckets)) => {
            metric.histogram = Some(histogram(buckets, cells, *native));
        }
        (Value::Histogram(..), None) => {}
    }
    metric
}

/// `cells`: bucket counts (not cumulative, `+Inf` last), then the sum in nanoseconds.
fn histogram(buckets: &Buckets, cells: &[u64], native: Option<&NativeSnapshot>) -> Histogram {
    let counts = &cells[..buckets.len()];
    let mut total = 0;
    let bucket = cumulative(counts)
        .zip(buckets.seconds().iter().map(Some).chain([None]))
        .filter_map(|(n, bound)| {
            total = n;
            // The +Inf bucket is the count.
            bound.map(|&b| Bucket {
                cumulative_count: Some(n),
                upper_bound: Some(b),
            })
        })
        .collect();
    let mut h = Histogram {
        sample_count: Some(total),
        sample_sum: Some(cells[buckets.len()] as f64 / 1e9),
        bucket,
        ..Histogram::default()
    };
    if let Some(native) = native {
        h.schema = Some(i32::from(native.schema));
        h.zero_threshold = Some(native.zero_threshold);
        h.zero_count = Some(native.zero_count);
        (h.positive_span, h.positive_delta) = spans(&native.buckets);
        if h.positive_span.is_empty() {
            // No observation yet: an empty span marks the histogram as native.
            h.positive_span.push(BucketSpan {
                offset: Some(0),
                length: Some(0),
            });
        }
    }
    h
}

/// Runs of consecutive indexes and each count's delta from the one before.
fn spans(buckets: &[(i32, u64)]) -> (Vec<BucketSpan>, Vec<i64>) {
    let mut spans: Vec<BucketSpan> = Vec::new();
    let mut deltas = Vec::with_capacity(buckets.len());
    let (mut last_index, mut last_count) = (None::<i32>, 0u64);
    for &(index, count) in buckets {
        match (last_index, spans.last_mut()) {
            (Some(prev), Some(span)) if index == prev + 1 => {
                span.length = Some(span.length.unwrap_or(0) + 1);
            }
            (prev, _) => spans.push(BucketSpan {
                offset: Some(prev.map_or(index, |p| index - p - 1)),
                length: Some(1),
            }),
        }
        deltas.push(count.wrapping_sub(last_count) as i64);
        (last_index, last_count) = (Some(index), count);
    }
    (spans, deltas)
}

#[cfg(test)]
mod tests;
