//! The protobuf exposition: length-delimited `io.prometheus.client.MetricFamily`
//! messages, which Prometheus asks for when its native histograms are enabled. It is
//! the only format that carries native histograms; a duration histogram that keeps them
//! holds its classic buckets and its native ones, read from one snapshot. Exemplars
//! ride on the classic buckets and the counters, as in client_golang: Prometheus reads
//! a bucket's exemplar for the native histogram of the same series as well.
//!
//! The wire format is written by hand ([`wire`]) against `proto/metrics.proto`; the
//! messages prost generates from that file (`messages`, committed, tests only) decode
//! it in the tests. The user's own `prometheus` metrics follow in that crate's encoding
//! of the same schema.

#[cfg(test)]
#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]
pub(crate) mod messages;

use prometheus::Encoder as _;

use crate::contract::buckets::Buckets;
use crate::contract::Kind;
use crate::exposition::registry;
use crate::exposition::wire::{
    bytes_field, double_field, len_field_len, len_prefix, uint_field, uint_field_len, varint,
    varint_len, zigzag, DOUBLE_FIELD_LEN,
};
use crate::store::cells::native::NativeSnapshot;
use crate::store::families::exemplars::{Exemplar, Exemplars};
use crate::store::families::exposed::{cumulative, Sample, Value};
use crate::store::families::Listed;
use crate::store::Store;
use crate::trace::hex;

/// `MetricType` values.
fn metric_type(kind: Kind) -> u64 {
    match kind {
        Kind::Counter => 0,
        Kind::Gauge => 1,
        Kind::Histogram => 4,
    }
}

/// Appends the protobuf exposition of `store` to `out`.
///
/// Written by hand against the schema in `proto/metrics.proto` (the tests decode it with
/// messages prost generates from that file): building prost messages took five times
/// as long as the text exposition, mostly in per-label allocations; this writes the
/// bytes straight from the series, as the text writer does.
pub(crate) fn encode(store: &Store, out: &mut Vec<u8>) {
    let mut w = Writer::default();
    store.each_listed(&mut |listed| w.storage(store, listed, out));
    let encoder = prometheus::ProtobufEncoder::new();
    for family in registry::gather_others(&store.registry) {
        // Writing to a Vec fails only for a family without metrics, which has nothing
        // to say.
        let _ = encoder.encode(std::slice::from_ref(&family), out);
    }
}

/// Buffers reused across the families of one scrape.
#[derive(Default)]
struct Writer {
    /// Each part's `Metric` fields (field 4 of its `MetricFamily`).
    bodies: [Vec<u8>; 2],
    metric: Vec<u8>,
    histogram: Vec<u8>,
}

impl Writer {
    /// Every family of one storage that has series, one message each.
    fn storage(&mut self, store: &Store, listed: &Listed<'_>, out: &mut Vec<u8>) {
        for body in &mut self.bodies {
            body.clear();
        }
        let native = listed.buckets.and_then(Buckets::native);
        let Writer {
            bodies,
            metric,
            histogram,
        } = self;
        listed.family.visit(native, &mut |sample| {
            let part = listed.part(sample.part);
            metric.clear();
            labels(metric, store, listed, &sample);
            match (&sample.value, listed.buckets) {
                (Value::Counter(n), _) => {
                    counter(metric, *n as f64, sample.exemplars, sample.created)
                }
                (Value::Gauge(n), _) => gauge(metric, *n as f64),
                (Value::Float(v), _) => gauge(metric, *v),
                (Value::Histogram(cells, native), Some(buckets)) => {
                    histogram.clear();
                    write_histogram(
                        histogram,
                        buckets,
                        cells,
                        *native,
                        sample.exemplars,
                        sample.created,
                    );
                    bytes_field(metric, 7, histogram);
                }
                (Value::Histogram(..), None) => {}
            }
            bytes_field(&mut bodies[part], 4, metric);
        });
        for (part, head) in listed.heads().iter().enumerate() {
            let body = &self.bodies[part];
            if body.is_empty() {
                continue;
            }
            let (name, help) = (head.name, head.help);
            let kind = metric_type(head.kind);
            let len = len_field_len(name.len())
                + len_field_len(help.len())
                + uint_field_len(kind)
                + body.len();
            varint(out, len as u64);
            bytes_field(out, 1, name.as_bytes());
            bytes_field(out, 2, help.as_bytes());
            uint_field(out, 3, kind);
            out.extend_from_slice(body);
        }
    }
}

/// The `LabelPair`s of a sample (field 1 of `Metric`), in the store's label order.
fn labels(out: &mut Vec<u8>, store: &Store, listed: &Listed<'_>, sample: &Sample<'_>) {
    store.sample_labels(listed, sample, &mut |name, value| {
        label_pair(out, name.as_bytes(), value.as_bytes());
    });
}

/// Bytes of a `LabelPair` field (field 1 of `Metric` and of `Exemplar`), tag included.
fn label_pair_len(name: usize, value: usize) -> usize {
    len_field_len(len_field_len(name) + len_field_len(value))
}

fn label_pair(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    len_prefix(
        out,
        1,
        len_field_len(name.len()) + len_field_len(value.len()),
    );
    bytes_field(out, 1, name);
    bytes_field(out, 2, value);
}

/// A `Gauge` (field 2 of `Metric`): one double.
fn gauge(out: &mut Vec<u8>, value: f64) {
    len_prefix(out, 2, DOUBLE_FIELD_LEN);
    double_field(out, 1, value);
}

/// A `Counter` (field 3 of `Metric`): its value, the exemplar kept, if any (the
/// increment it was traced with), and its start (`created_timestamp`).
fn counter(out: &mut Vec<u8>, value: f64, exemplars: Option<&Exemplars>, created: Option<u64>) {
    let exemplar = exemplars
        .and_then(|e| e.get(0))
        .map(|e| ExemplarField::new(e, e.value as f64));
    let created = created.map(Timestamp::from_unix_nanos);
    len_prefix(
        out,
        3,
        DOUBLE_FIELD_LEN
            + exemplar.as_ref().map_or(0, ExemplarField::len)
            + created.as_ref().map_or(0, Timestamp::len),
    );
    double_field(out, 1, value);
    if let Some(exemplar) = exemplar {
        exemplar.write(out, 2);
    }
    if let Some(created) = created {
        created.write(out, 3);
    }
}

/// A `google.protobuf.Timestamp` whose size is known before its container is written.
struct Timestamp {
    seconds: u64,
    nanos: u64,
    /// Bytes of the message.
    body: usize,
}

impl Timestamp {
    fn new(seconds: u64, nanos: u64) -> Self {
        let body = uint_field_len(seconds) + uint_field_len(nanos);
        Timestamp {
            seconds,
            nanos,
            body,
        }
    }

    fn from_unix_nanos(nanos: u64) -> Self {
        Timestamp::new(nanos / 1_000_000_000, nanos % 1_000_000_000)
    }

    /// Bytes of the field, tag and length included.
    fn len(&self) -> usize {
        len_field_len(self.body)
    }

    fn write(&self, out: &mut Vec<u8>, field: u8) {
        len_prefix(out, field, self.body);
        uint_field(out, 1, self.seconds);
        uint_field(out, 2, self.nanos);
    }
}

/// An `Exemplar` message whose size is known before its container is written.
struct ExemplarField {
    exemplar: Exemplar,
    value: f64,
    timestamp: Timestamp,
    /// Bytes of the whole `Exemplar`.
    body: usize,
}

impl ExemplarField {
    /// The labels that name the trace and its span.
    const TRACE_ID: &'static str = "trace_id";
    const SPAN_ID: &'static str = "span_id";

    fn new(exemplar: Exemplar, value: f64) -> Self {
        let timestamp =
            Timestamp::new(exemplar.unix_ms / 1000, exemplar.unix_ms % 1000 * 1_000_000);
        // Ids are written in hex: two digits per byte.
        let body = label_pair_len(Self::TRACE_ID.len(), 32)
            + label_pair_len(Self::SPAN_ID.len(), 16)
            + DOUBLE_FIELD_LEN
            + timestamp.len();
        ExemplarField {
            exemplar,
            value,
            timestamp,
            body,
        }
    }

    /// Bytes of the field, tag and length included.
    fn len(&self) -> usize {
        len_field_len(self.body)
    }

    fn write(&self, out: &mut Vec<u8>, field: u8) {
        len_prefix(out, field, self.body);
        let trace = &self.exemplar.trace;
        let mut digits = [0; 32];
        for (name, id) in [
            (Self::TRACE_ID, &trace.trace_id()[..]),
            (Self::SPAN_ID, &trace.span_id()[..]),
        ] {
            let digits = &mut digits[..2 * id.len()];
            for (d, h) in digits.iter_mut().zip(hex(id)) {
                *d = h;
            }
            label_pair(out, name.as_bytes(), digits);
        }
        double_field(out, 2, self.value);
        self.timestamp.write(out, 3);
    }
}

/// A `Histogram` message. `cells`: bucket counts (not cumulative, `+Inf` last), then
/// the sum in nanoseconds; `exemplars`, one per bucket, if the series keeps them;
/// `created`, the series' start. With native buckets, the exemplars are also the
/// histogram's own list (field 16), which Prometheus 3 reads for native histograms: the
/// latest of each classic bucket, so a bounded, recent set spread over the range, each
/// with its timestamp.
fn write_histogram(
    out: &mut Vec<u8>,
    buckets: &Buckets,
    cells: &[u64],
    native: Option<&NativeSnapshot>,
    exemplars: Option<&Exemplars>,
    created: Option<u64>,
) {
    let counts = &cells[..buckets.len()];
    let total = cumulative(counts).last().unwrap_or(0);
    uint_field(out, 1, total);
    double_field(out, 2, buckets.sum_nanos(cells) as f64 / 1e9);
    // The +Inf bucket is the count: left out, as the schema allows, unless it holds an
    // exemplar.
    match exemplars {
        None => {
            for (n, &bound) in cumulative(counts).zip(buckets.seconds()) {
                bucket(out, n, bound, None);
            }
        }
        Some(exemplars) => {
            let exemplar = |i| {
                let e = exemplars.get(i)?;
                Some(ExemplarField::new(e, e.value as f64 / 1e9))
            };
            for (i, (n, &bound)) in cumulative(counts).zip(buckets.seconds()).enumerate() {
                bucket(out, n, bound, exemplar(i).as_ref());
            }
            if let Some(e) = exemplar(buckets.len() - 1) {
                bucket(out, total, f64::INFINITY, Some(&e));
            }
        }
    }
    if let Some(created) = created {
        Timestamp::from_unix_nanos(created).write(out, 15);
    }
    let Some(native) = native else { return };
    if let Some(exemplars) = exemplars {
        for i in 0..buckets.len() {
            if let Some(e) = exemplars.get(i) {
                ExemplarField::new(e, e.value as f64 / 1e9).write(out, 16);
            }
        }
    }
    uint_field(out, 5, zigzag(i64::from(native.schema)));
    double_field(out, 6, native.zero_threshold);
    uint_field(out, 7, native.zero_count);
    let mut any = false;
    for_each_span(&native.buckets, |offset, length| {
        any = true;
        let offset = zigzag(i64::from(offset));
        len_prefix(
            out,
            12,
            uint_field_len(offset) + uint_field_len(u64::from(length)),
        );
        uint_field(out, 1, offset);
        uint_field(out, 2, u64::from(length));
    });
    if !any {
        // No observation yet: an empty span marks the histogram as native.
        len_prefix(out, 12, 4);
        uint_field(out, 1, 0);
        uint_field(out, 2, 0);
        return;
    }
    let deltas = || {
        let mut last = 0u64;
        native.buckets.iter().map(move |&(_, n)| {
            let d = zigzag(n.wrapping_sub(last) as i64);
            last = n;
            d
        })
    };
    len_prefix(out, 13, deltas().map(varint_len).sum());
    for d in deltas() {
        varint(out, d);
    }
}

/// A `Bucket` (field 3 of `Histogram`). Inlined: a call per bucket cost 5 % of a scrape.
#[inline(always)]
fn bucket(out: &mut Vec<u8>, cumulative: u64, bound: f64, exemplar: Option<&ExemplarField>) {
    len_prefix(
        out,
        3,
        uint_field_len(cumulative) + DOUBLE_FIELD_LEN + exemplar.map_or(0, ExemplarField::len),
    );
    uint_field(out, 1, cumulative);
    double_field(out, 2, bound);
    if let Some(exemplar) = exemplar {
        exemplar.write(out, 3);
    }
}

/// Calls `f(offset, length)` for each run of consecutive indexes: the first offset is
/// the first index, each later one the gap after the previous run.
fn for_each_span(buckets: &[(i32, u64)], mut f: impl FnMut(i32, u32)) {
    let mut run: Option<(i32, u32)> = None;
    let mut end = 0;
    for &(index, _) in buckets {
        match run {
            Some((_, ref mut length)) if index == end + 1 => *length += 1,
            _ => {
                if let Some((offset, length)) = run {
                    f(offset, length);
                }
                let offset = match run {
                    None => index,
                    Some(_) => index - end - 1,
                };
                run = Some((offset, 1));
            }
        }
        end = index;
    }
    if let Some((offset, length)) = run {
        f(offset, length);
    }
}

#[cfg(test)]
pub(crate) mod tests;
