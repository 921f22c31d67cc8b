//! OTLP data points: `NumberDataPoint`, `HistogramDataPoint`,
//! `ExponentialHistogramDataPoint` and `SummaryDataPoint`, their attributes and
//! exemplars. Each is written into one reused buffer, then copied into its metric.

use crate::contract::buckets::Buckets;
use crate::exposition::wire::{
    bytes_field, double_field, fixed64_field, len_field_len, len_prefix, uint_field,
    uint_field_len, varint, varint_len, zigzag, FIXED64_FIELD_LEN,
};
use crate::store::cells::native::NativeSnapshot;
use crate::store::families::exemplars::{Exemplar, Exemplars};

/// A series' labels, given as attribute key and value pairs.
pub(crate) trait Attributes {
    fn for_each(&self, f: &mut dyn FnMut(&str, &str));
}

/// Bytes of a `KeyValue` with a string value, without its own tag and length.
pub(crate) fn key_value_len(key: usize, value: usize) -> usize {
    len_field_len(key) + len_field_len(len_field_len(value))
}

/// A `KeyValue` whose value is an `AnyValue` string, as field `field`.
pub(crate) fn key_value(out: &mut Vec<u8>, field: u8, key: &[u8], value: &[u8]) {
    len_prefix(out, field, key_value_len(key.len(), value.len()));
    bytes_field(out, 1, key);
    len_prefix(out, 2, len_field_len(value.len()));
    bytes_field(out, 1, value);
}

/// Bytes of an `Exemplar` with a double value, a time, a span and a trace id.
const EXEMPLAR_LEN: usize = 2 * FIXED64_FIELD_LEN + (2 + 8) + (2 + 16);

/// An `Exemplar` as field `field`: `value` in the point's unit.
fn exemplar(out: &mut Vec<u8>, field: u8, e: &Exemplar, value: f64) {
    len_prefix(out, field, EXEMPLAR_LEN);
    fixed64_field(out, 2, e.unix_ms.saturating_mul(1_000_000));
    double_field(out, 3, value);
    bytes_field(out, 4, &e.trace.span_id());
    bytes_field(out, 5, &e.trace.trace_id());
}

/// The exemplars of a duration histogram's buckets, in seconds.
fn bucket_exemplars(out: &mut Vec<u8>, field: u8, width: usize, exemplars: Option<&Exemplars>) {
    let Some(exemplars) = exemplars else { return };
    for i in 0..width {
        if let Some(e) = exemplars.get(i) {
            exemplar(out, field, &e, e.value as f64 / 1e9);
        }
    }
}

/// One data point at a time.
#[derive(Default)]
pub(crate) struct Point(Vec<u8>);

impl Point {
    /// The point written last.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Clears the buffer and writes the attributes as field `field`.
    fn start(&mut self, field: u8, attributes: &dyn Attributes) -> &mut Vec<u8> {
        let out = &mut self.0;
        out.clear();
        attributes.for_each(&mut |k, v| key_value(out, field, k.as_bytes(), v.as_bytes()));
        out
    }

    /// A `NumberDataPoint` with an integer value (a contract counter or gauge).
    pub(crate) fn number(
        &mut self,
        attributes: &dyn Attributes,
        start: Option<u64>,
        time: u64,
        value: i64,
        exemplar_kept: Option<(Exemplar, f64)>,
    ) {
        let out = self.start(7, attributes);
        if let Some(start) = start {
            fixed64_field(out, 2, start);
        }
        fixed64_field(out, 3, time);
        fixed64_field(out, 6, value as u64); // as_int
        if let Some((e, value)) = exemplar_kept {
            exemplar(out, 5, &e, value);
        }
    }

    /// A `NumberDataPoint` with a double value (a user counter or gauge).
    pub(crate) fn double(
        &mut self,
        attributes: &dyn Attributes,
        start: Option<u64>,
        time: u64,
        value: f64,
    ) {
        let out = self.start(7, attributes);
        if let Some(start) = start {
            fixed64_field(out, 2, start);
        }
        fixed64_field(out, 3, time);
        double_field(out, 4, value); // as_double
    }

    /// A `HistogramDataPoint` from a classic histogram's cells: bucket counts (not
    /// cumulative, `+Inf` last), then the sum in nanoseconds.
    pub(crate) fn histogram(
        &mut self,
        attributes: &dyn Attributes,
        start: u64,
        time: u64,
        buckets: &Buckets,
        cells: &[u64],
        exemplars: Option<&Exemplars>,
    ) {
        let out = self.start(9, attributes);
        let counts = &cells[..buckets.len()];
        let count = counts.iter().fold(0u64, |a, &n| a.wrapping_add(n));
        fixed64_field(out, 2, start);
        fixed64_field(out, 3, time);
        fixed64_field(out, 4, count);
        double_field(out, 5, buckets.sum_nanos(cells) as f64 / 1e9);
        packed_fixed64(out, 6, counts.iter().copied());
        packed_doubles(out, 7, buckets.seconds());
        bucket_exemplars(out, 8, buckets.len(), exemplars);
    }

    /// A `HistogramDataPoint` of a user histogram: `counts` per bucket (not cumulative,
    /// one more than `bounds`).
    pub(crate) fn float_histogram(
        &mut self,
        attributes: &dyn Attributes,
        start: u64,
        time: u64,
        (count, sum): (u64, f64),
        counts: impl Iterator<Item = u64> + Clone,
        bounds: &[f64],
    ) {
        let out = self.start(9, attributes);
        fixed64_field(out, 2, start);
        fixed64_field(out, 3, time);
        fixed64_field(out, 4, count);
        double_field(out, 5, sum);
        packed_fixed64(out, 6, counts);
        packed_doubles(out, 7, bounds);
    }

    /// An `ExponentialHistogramDataPoint` from a native histogram; `sum` in nanoseconds.
    /// OTLP's bucket `i` covers `(base^i, base^(i+1)]`, Prometheus' `(base^(i-1),
    /// base^i]`: offsets are one less.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn exponential(
        &mut self,
        attributes: &dyn Attributes,
        start: u64,
        time: u64,
        native: &NativeSnapshot,
        sum: i128,
        buckets: &Buckets,
        exemplars: Option<&Exemplars>,
    ) {
        let out = self.start(1, attributes);
        let count = native
            .buckets
            .iter()
            .fold(native.zero_count, |a, b| a.wrapping_add(b.1));
        fixed64_field(out, 2, start);
        fixed64_field(out, 3, time);
        fixed64_field(out, 4, count);
        double_field(out, 5, sum as f64 / 1e9);
        uint_field(out, 6, zigzag(i64::from(native.schema)));
        fixed64_field(out, 7, native.zero_count);
        if let (Some(first), Some(last)) = (native.buckets.first(), native.buckets.last()) {
            // Dense counts from the first non-empty bucket to the last.
            let dense = || {
                let mut next = native.buckets.iter().peekable();
                (first.0..=last.0).map(move |i| next.next_if(|b| b.0 == i).map_or(0, |b| b.1))
            };
            let offset = zigzag(i64::from(first.0) - 1);
            let counts: usize = dense().map(varint_len).sum();
            len_prefix(out, 8, uint_field_len(offset) + len_field_len(counts));
            uint_field(out, 1, offset);
            len_prefix(out, 2, counts);
            for n in dense() {
                varint(out, n);
            }
        }
        bucket_exemplars(out, 11, buckets.len(), exemplars);
        double_field(out, 14, native.zero_threshold);
    }

    /// A `SummaryDataPoint` of a user summary.
    pub(crate) fn summary(
        &mut self,
        attributes: &dyn Attributes,
        start: u64,
        time: u64,
        (count, sum): (u64, f64),
        quantiles: &[(f64, f64)],
    ) {
        let out = self.start(7, attributes);
        fixed64_field(out, 2, start);
        fixed64_field(out, 3, time);
        fixed64_field(out, 4, count);
        double_field(out, 5, sum);
        for &(q, v) in quantiles {
            len_prefix(out, 6, 2 * FIXED64_FIELD_LEN);
            double_field(out, 1, q);
            double_field(out, 2, v);
        }
    }
}

fn packed_fixed64(out: &mut Vec<u8>, field: u8, values: impl Iterator<Item = u64> + Clone) {
    len_prefix(out, field, 8 * values.clone().count());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn packed_doubles(out: &mut Vec<u8>, field: u8, values: &[f64]) {
    len_prefix(out, field, 8 * values.len());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}
