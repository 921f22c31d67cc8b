//! The protobuf exposition, decoded back with the same schema.

use std::time::Duration;

use prost::Message as _;

use super::for_each_span;
use super::messages::{BucketSpan, MetricFamily, MetricType};
use crate::{Metrics, NativeHistogram, Op, Status};

pub(crate) fn decode(bytes: &[u8]) -> Vec<MetricFamily> {
    let mut rest = bytes;
    let mut out = Vec::new();
    while !rest.is_empty() {
        out.push(MetricFamily::decode_length_delimited(&mut rest).expect("a delimited family"));
    }
    out
}

pub(crate) fn family<'a>(all: &'a [MetricFamily], name: &str) -> &'a MetricFamily {
    all.iter()
        .find(|f| f.name() == name)
        .unwrap_or_else(|| panic!("no family {name}"))
}

fn span(offset: i32, length: u32) -> BucketSpan {
    BucketSpan {
        offset: Some(offset),
        length: Some(length),
    }
}

#[test]
fn spans_of_sparse_buckets() {
    let spans = |b: &[(i32, u64)]| {
        let mut out = Vec::new();
        for_each_span(b, |o, l| out.push(span(o, l)));
        out
    };
    assert_eq!(spans(&[]), vec![]);
    let b = [(-3, 2), (-2, 5), (0, 1), (4, 1), (5, 3)];
    assert_eq!(spans(&b), vec![span(-3, 2), span(1, 1), span(3, 2)]);
}

#[test]
fn an_operation_as_classic_and_native_histogram() {
    let m = Metrics::builder()
        .operation_buckets([0.5, 1.0])
        .operation_native(Some(NativeHistogram::default()))
        .build()
        .unwrap();
    for ms in [750, 1000, 1000, 1500] {
        m.record_operation(
            Op::Sign,
            "pkcs11",
            Status::Success,
            Duration::from_millis(ms),
        );
    }
    let mut bytes = Vec::new();
    m.encode_protobuf(&mut bytes);
    let all = decode(&bytes);

    let ops = family(&all, "keychain_operations_total");
    assert_eq!(ops.r#type(), MetricType::Counter);
    let success = &ops.metric[0];
    let labels: Vec<(&str, &str)> = success
        .label
        .iter()
        .map(|l| (l.name(), l.value()))
        .collect();
    assert_eq!(
        labels,
        [
            ("backend", "pkcs11"),
            ("operation", "sign"),
            ("status", "success")
        ]
    );
    assert_eq!(success.counter.as_ref().unwrap().value(), 4.0);

    let durations = family(&all, "keychain_operation_duration_seconds");
    assert_eq!(durations.r#type(), MetricType::Histogram);
    assert_eq!(
        durations.help(),
        "Duration of keychain operations in seconds."
    );
    let h = durations.metric[0].histogram.as_ref().unwrap();
    assert_eq!(h.sample_count(), 4);
    assert_eq!(h.sample_sum(), 4.25);
    let classic: Vec<(f64, u64)> = h
        .bucket
        .iter()
        .map(|b| (b.upper_bound(), b.cumulative_count()))
        .collect();
    assert_eq!(classic, [(0.5, 0), (1.0, 3)]);
    // Schema 3: 0.75 s is bucket ceil(8·log2 0.75) = -3; 1 s is 0; 1.5 s is 5.
    assert_eq!(h.schema(), 3);
    assert_eq!(h.zero_threshold(), 0.0);
    assert_eq!(h.zero_count(), 0);
    assert_eq!(h.positive_span, [span(-3, 1), span(2, 1), span(4, 1)]);
    assert_eq!(h.positive_delta, [1, 1, -1]);
}

#[test]
fn a_histogram_without_observations_still_reads_as_native() {
    let m = Metrics::builder()
        .operation_native(Some(NativeHistogram::default()))
        .build()
        .unwrap();
    let _handle = m.operation(Op::Verify, "tpm2");
    let mut bytes = Vec::new();
    m.encode_protobuf(&mut bytes);
    let all = decode(&bytes);
    let h = family(&all, "keychain_operation_duration_seconds").metric[0]
        .histogram
        .clone()
        .unwrap();
    assert_eq!(h.sample_count(), 0);
    assert_eq!(h.positive_span, [span(0, 0)]);
    assert!(h.positive_delta.is_empty());
}

#[test]
fn native_buckets_are_set_per_family_and_off_by_default() {
    let m = Metrics::builder()
        .http_native(Some(
            NativeHistogram::default().schema(0).zero_threshold(0.001),
        ))
        .build()
        .unwrap();
    m.record_operation(Op::Sign, "pkcs8", Status::Success, Duration::from_millis(3));
    m.record_http_request("GET", 200, Duration::from_micros(500));
    m.record_http_request("GET", 200, Duration::from_millis(3));
    let mut bytes = Vec::new();
    m.encode_protobuf(&mut bytes);
    let all = decode(&bytes);
    let op = family(&all, "keychain_operation_duration_seconds").metric[0]
        .histogram
        .clone()
        .unwrap();
    assert_eq!((op.schema, op.positive_span.len()), (None, 0));
    let http = family(&all, "keychain_http_request_duration_seconds").metric[0]
        .histogram
        .clone()
        .unwrap();
    // 0.5 ms is in the zero bucket; 3 ms is bucket ceil(log2 0.003) = -8 at schema 0.
    assert_eq!((http.schema(), http.zero_threshold()), (0, 0.001));
    assert_eq!(http.zero_count(), 1);
    assert_eq!(http.positive_span, [span(-8, 1)]);
    assert_eq!(http.sample_count(), 2);
}

#[test]
fn every_family_and_the_users_own_are_encoded() {
    let m = Metrics::new();
    let mine = prometheus::IntCounter::new("app_restarts_total", "Restarts.").unwrap();
    m.registry().register(Box::new(mine.clone())).unwrap();
    mine.inc_by(2);
    m.set_keys_total("pkcs8", 7);
    m.record_error(Op::Sign, "pkcs8", "timeout");
    let mut bytes = Vec::new();
    m.encode_protobuf(&mut bytes);
    let all = decode(&bytes);
    let names: Vec<&str> = all.iter().map(|f| f.name()).collect();
    assert_eq!(
        names,
        [
            "keychain_errors_total",
            "keychain_active_connections",
            "keychain_keys_total",
            "app_restarts_total",
        ]
    );
    assert_eq!(
        family(&all, "keychain_keys_total").metric[0]
            .gauge
            .unwrap()
            .value(),
        7.0
    );
    assert_eq!(
        family(&all, "app_restarts_total").metric[0]
            .counter
            .as_ref()
            .unwrap()
            .value(),
        2.0
    );
    assert_eq!(family(&all, "keychain_active_connections").metric.len(), 4);
}

#[test]
fn exemplars_ride_on_the_classic_buckets_and_the_error_counter() {
    use super::messages::Exemplar;
    use crate::trace::TraceContext;

    let m = Metrics::builder()
        .operation_buckets([0.5, 1.0])
        .operation_native(Some(NativeHistogram::default()))
        .exemplars(true)
        .build()
        .unwrap();
    let trace =
        TraceContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .unwrap();
    let sign = m.operation(Op::Sign, "pkcs11");
    let before = std::time::SystemTime::now();
    sign.record(Status::Success, Duration::from_millis(100)); // no trace: no exemplar
    {
        let _in = trace.enter();
        sign.record(Status::Success, Duration::from_millis(750));
        sign.record(Status::Error, Duration::from_secs(3));
        sign.record_error("timeout");
    }
    let after = std::time::SystemTime::now();
    let mut bytes = Vec::new();
    m.encode_protobuf(&mut bytes);
    let all = decode(&bytes);

    let unix_ms = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
    };
    let check = |e: &Exemplar, value: f64| {
        let labels: Vec<(&str, &str)> = e.label.iter().map(|l| (l.name(), l.value())).collect();
        assert_eq!(
            labels,
            [
                ("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"),
                ("span_id", "00f067aa0ba902b7")
            ]
        );
        assert_eq!(e.value(), value);
        let ts = e.timestamp.unwrap();
        assert_eq!(ts.nanos % 1_000_000, 0, "whole milliseconds");
        let ms = ts.seconds * 1000 + i64::from(ts.nanos / 1_000_000);
        // The coarse clock may be a kernel tick (at most 10 ms) behind.
        assert!(
            (unix_ms(before) - 10..=unix_ms(after)).contains(&ms),
            "{ms}"
        );
    };

    let h = family(&all, "keychain_operation_duration_seconds").metric[0]
        .histogram
        .clone()
        .unwrap();
    assert_eq!(h.sample_count(), 3);
    // The +Inf bucket, otherwise left out, is written to carry its exemplar.
    let buckets: Vec<(f64, u64, Option<f64>)> = h
        .bucket
        .iter()
        .map(|b| {
            (
                b.upper_bound(),
                b.cumulative_count(),
                b.exemplar.as_ref().map(Exemplar::value),
            )
        })
        .collect();
    assert_eq!(
        buckets,
        [
            (0.5, 1, None),
            (1.0, 2, Some(0.75)),
            (f64::INFINITY, 3, Some(3.0))
        ]
    );
    check(h.bucket[1].exemplar.as_ref().unwrap(), 0.75);
    check(h.bucket[2].exemplar.as_ref().unwrap(), 3.0);
    // The histogram's own list, which Prometheus 3 reads for the native histogram: the
    // same exemplars, each with its timestamp.
    let own: Vec<f64> = h.exemplars.iter().map(Exemplar::value).collect();
    assert_eq!(own, [0.75, 3.0]);
    for (e, value) in h.exemplars.iter().zip([0.75, 3.0]) {
        check(e, value);
    }
    // The native buckets of the same observations: 0.1 s, 0.75 s and 3 s, one each.
    let native: u32 = h.positive_span.iter().map(|s| s.length()).sum();
    assert_eq!((native, h.positive_delta.len()), (3, 3));

    let errors = family(&all, "keychain_errors_total").metric[0]
        .counter
        .clone()
        .unwrap();
    assert_eq!(errors.value(), 1.0);
    check(errors.exemplar.as_ref().unwrap(), 1.0);
    let ops = family(&all, "keychain_operations_total");
    assert!(ops
        .metric
        .iter()
        .all(|s| s.counter.as_ref().unwrap().exemplar.is_none()));
}

/// Decodes spans and deltas back into `(index, count)` pairs.
pub(crate) fn buckets_of(spans: &[BucketSpan], deltas: &[i64]) -> Vec<(i32, u64)> {
    let mut out = Vec::new();
    let (mut index, mut count, mut d) = (0i32, 0i64, deltas.iter());
    for (k, span) in spans.iter().enumerate() {
        index = if k == 0 {
            span.offset()
        } else {
            index + 1 + span.offset()
        };
        for j in 0..span.length() {
            count += d.next().expect("a delta per bucket");
            out.push((index + j as i32, count as u64));
        }
        index += span.length() as i32 - 1;
    }
    assert!(d.next().is_none(), "no delta left over");
    out
}

#[test]
fn native_buckets_equal_a_count_by_definition() {
    use crate::contract::native::{reduce, NativeLayout};
    use std::collections::BTreeMap;
    // A small generator (xorshift), so that every run checks the same cases.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for case in 0..40 {
        let schema = (next() % 13) as i8 - 4;
        let max_buckets = 8 + (next() % 200) as u32;
        let native = NativeHistogram::default()
            .schema(schema)
            .max_buckets(max_buckets)
            .zero_threshold(if case % 4 == 0 { 1e-6 } else { 0.0 });
        let m = Metrics::builder()
            .operation_native(Some(native))
            .build()
            .unwrap();
        // Log-uniform durations over a range that grows with the case: 1 ns to 100 s.
        let octaves = 1 + case % 37;
        let low = next() % 20;
        let durations: Vec<u64> = (0..2000)
            .map(|_| (1u64 << (low + next() % octaves)) + next() % 1000)
            .collect();
        for &n in &durations {
            m.record_operation(Op::Sign, "pkcs8", Status::Success, Duration::from_nanos(n));
        }
        let mut bytes = Vec::new();
        m.encode_protobuf(&mut bytes);
        let h = family(&decode(&bytes), "keychain_operation_duration_seconds").metric[0]
            .histogram
            .clone()
            .unwrap();
        let layout = NativeLayout::new(&native).unwrap();
        let shift = (i32::from(schema) - h.schema()) as u32;
        let mut want = BTreeMap::new();
        let mut zero = 0;
        for &n in &durations {
            match layout.index(n) {
                Some(i) => *want.entry(reduce(i, shift)).or_insert(0u64) += 1,
                None => zero += 1,
            }
        }
        let got = buckets_of(&h.positive_span, &h.positive_delta);
        let want: Vec<(i32, u64)> = want.into_iter().collect();
        assert_eq!(got, want, "case {case}: schema {schema}, max {max_buckets}");
        assert_eq!(h.zero_count(), zero);
        assert_eq!(h.sample_count(), 2000);
        let spread = got.last().map_or(0, |b| b.0 - got[0].0 + 1);
        assert!(spread <= max_buckets as i32, "case {case}: spans {spread}");
        assert!(h.schema() >= -4 && h.schema() <= i32::from(schema));
    }
}

#[test]
fn counters_and_histograms_carry_their_start() {
    let unix_nanos = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64
    };
    let m = Metrics::new();
    let before = unix_nanos();
    m.record_operation(
        Op::Sign,
        "pkcs11",
        Status::Success,
        Duration::from_millis(2),
    );
    m.record_error(Op::Sign, "pkcs11", "timeout");
    let after = unix_nanos();
    std::thread::sleep(Duration::from_millis(5));
    m.record_operation(Op::Sign, "pkcs11", Status::Error, Duration::from_millis(2));
    m.set_keys_total("pkcs11", 3);
    let mut bytes = Vec::new();
    m.encode_protobuf(&mut bytes);
    let all = decode(&bytes);
    let nanos = |t: &prost_types::Timestamp| t.seconds * 1_000_000_000 + i64::from(t.nanos);
    let started = |t: Option<&prost_types::Timestamp>| {
        let t = nanos(t.expect("a created_timestamp"));
        assert!((before..=after).contains(&t), "{before} <= {t} <= {after}");
        t
    };
    // Both status counters and the histogram of one series share its start: when the
    // series was created, not when each status was first counted.
    let ops = &family(&all, "keychain_operations_total").metric;
    let starts: Vec<i64> = ops
        .iter()
        .map(|s| started(s.counter.as_ref().unwrap().created_timestamp.as_ref()))
        .collect();
    assert_eq!(starts.len(), 2);
    assert!(starts.iter().all(|&t| t == starts[0]));
    let h = &family(&all, "keychain_operation_duration_seconds").metric[0];
    assert_eq!(
        started(h.histogram.as_ref().unwrap().created_timestamp.as_ref()),
        starts[0]
    );
    let errors = &family(&all, "keychain_errors_total").metric[0];
    started(errors.counter.as_ref().unwrap().created_timestamp.as_ref());
    // Gauges have no start.
    let keys = &family(&all, "keychain_keys_total").metric[0];
    assert_eq!(keys.gauge.as_ref().unwrap().value(), 3.0);
    assert!(keys.counter.is_none());
}
