//! The OTLP request, decoded with OpenTelemetry's own generated messages
//! (`opentelemetry-proto`), against the scrape of the same instance.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::metrics::v1::{Metric, NumberDataPoint};
use prost::Message as _;

use super::{encode, otlp_name, Deltas, Request, Temporality};
use crate::contract::Kind;
use crate::exposition::protobuf::tests as scrape;
use crate::testing::value;
use crate::{Metrics, NativeHistogram, Op, Status};

const DELTA: i32 = 1;
const CUMULATIVE: i32 = 2;

fn resource() -> Vec<(String, String)> {
    vec![
        ("service.name".into(), "keychain".into()),
        ("service.instance.id".into(), "host:1".into()),
    ]
}

fn push(m: &Metrics, temporality: Temporality, deltas: &mut Deltas) -> ExportMetricsServiceRequest {
    let resource = resource();
    let request = Request {
        resource: &resource,
        temporality,
    };
    let mut out = Vec::new();
    encode(&m.store, &request, deltas, &mut out);
    ExportMetricsServiceRequest::decode(&out[..]).expect("a valid request")
}

fn cumulative(m: &Metrics) -> ExportMetricsServiceRequest {
    push(m, Temporality::Cumulative, &mut Deltas::default())
}

fn metric<'a>(r: &'a ExportMetricsServiceRequest, name: &str) -> &'a Metric {
    r.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no metric {name}"))
}

fn attribute<'a>(
    attributes: &'a [opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<&'a str> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match &kv.value.as_ref()?.value {
            Some(Any::StringValue(s)) => Some(s.as_str()),
            _ => None,
        })
}

/// The point of a Sum or Gauge whose attributes include `wanted`.
fn number<'a>(m: &'a Metric, wanted: &[(&str, &str)]) -> &'a NumberDataPoint {
    let points = match &m.data {
        Some(Data::Sum(s)) => &s.data_points,
        Some(Data::Gauge(g)) => &g.data_points,
        other => panic!("{}: not a number: {other:?}", m.name),
    };
    let found: Vec<_> = points
        .iter()
        .filter(|p| {
            wanted
                .iter()
                .all(|(k, v)| attribute(&p.attributes, k) == Some(v))
        })
        .collect();
    assert_eq!(found.len(), 1, "{} {wanted:?}", m.name);
    found[0]
}

fn int(p: &NumberDataPoint) -> i64 {
    match p.value {
        Some(Number::AsInt(n)) => n,
        other => panic!("not an integer: {other:?}"),
    }
}

#[test]
fn families_go_under_their_base_names_and_units() {
    assert_eq!(
        otlp_name("keychain_operations_total", Kind::Counter),
        ("keychain_operations", "")
    );
    assert_eq!(
        otlp_name("keychain_operation_duration_seconds", Kind::Histogram),
        ("keychain_operation_duration", "s")
    );
    assert_eq!(
        otlp_name("keychain_keys_total", Kind::Gauge),
        ("keychain_keys_total", "")
    );
    assert_eq!(
        otlp_name("process_resident_memory_bytes", Kind::Gauge),
        ("process_resident_memory", "By")
    );
    assert_eq!(otlp_name("jobs", Kind::Counter), ("jobs", ""));
    assert_eq!(otlp_name("_total", Kind::Counter), ("_total", ""));
    assert_eq!(otlp_name("seconds", Kind::Histogram), ("seconds", ""));
}

#[test]
fn values_resource_and_scope_match_the_scrape() {
    let m = Metrics::new();
    let sign = m.operation(Op::Sign, "pkcs11");
    for ms in [3, 30, 300] {
        sign.record(Status::Success, Duration::from_millis(ms));
    }
    sign.record(Status::Error, Duration::from_secs(2));
    sign.record_error("timeout");
    m.set_keys_total("pkcs11", 12);
    let r = cumulative(&m);
    let text = m.encode_text();

    let rm = &r.resource_metrics[0];
    let resource = &rm.resource.as_ref().unwrap().attributes;
    assert_eq!(attribute(resource, "service.name"), Some("keychain"));
    assert_eq!(attribute(resource, "service.instance.id"), Some("host:1"));
    let scope = rm.scope_metrics[0].scope.as_ref().unwrap();
    assert_eq!(
        (scope.name.as_str(), scope.version.as_str()),
        ("keychain-metrics", env!("CARGO_PKG_VERSION"))
    );

    let ops = metric(&r, "keychain_operations");
    let Some(Data::Sum(sum)) = &ops.data else {
        panic!("not a sum")
    };
    assert!(sum.is_monotonic);
    assert_eq!(sum.aggregation_temporality, CUMULATIVE);
    let labels = [("operation", "sign"), ("backend", "pkcs11")];
    for status in ["success", "error"] {
        let point = number(ops, &[labels[0], labels[1], ("status", status)]);
        let scraped = value(
            &text,
            "keychain_operations_total",
            &[labels[0], labels[1], ("status", status)],
        );
        assert_eq!(Some(int(point) as f64), scraped, "{status}");
        assert!(
            point.start_time_unix_nano > 0 && point.start_time_unix_nano <= point.time_unix_nano
        );
    }
    assert_eq!(
        int(number(
            metric(&r, "keychain_errors"),
            &[("error_type", "timeout")]
        )),
        1
    );
    assert_eq!(
        int(number(
            metric(&r, "keychain_keys_total"),
            &[("backend", "pkcs11")]
        )),
        12
    );
    assert_eq!(
        number(metric(&r, "keychain_keys_total"), &[]).start_time_unix_nano,
        0
    );

    let duration = metric(&r, "keychain_operation_duration");
    assert_eq!(duration.unit, "s");
    let Some(Data::Histogram(h)) = &duration.data else {
        panic!("not a histogram")
    };
    assert_eq!(h.aggregation_temporality, CUMULATIVE);
    let p = &h.data_points[0];
    assert_eq!(p.count, 4);
    assert!((p.sum.unwrap() - 2.333).abs() < 1e-9);
    assert_eq!(p.explicit_bounds, crate::OPERATION_BUCKETS.to_vec());
    assert_eq!(p.bucket_counts.len(), p.explicit_bounds.len() + 1);
    // Each bucket's count is the difference of the scrape's cumulative ones.
    let mut below = 0.0;
    for (bound, n) in p.explicit_bounds.iter().zip(&p.bucket_counts) {
        let mut le = String::new();
        crate::render::push_f64(&mut le, *bound, false);
        let cumulative = value(
            &text,
            "keychain_operation_duration_seconds_bucket",
            &[labels[0], ("le", &le)],
        )
        .unwrap();
        assert_eq!(*n as f64, cumulative - below, "le={le}");
        below = cumulative;
    }
    assert_eq!(p.bucket_counts.last(), Some(&0));
}

#[test]
fn the_users_registry_is_pushed_too() {
    let m = Metrics::new();
    let jobs = prometheus::IntCounter::new("jobs", "Jobs run.").unwrap();
    let queue = prometheus::Gauge::new("queue_bytes", "Queued bytes.").unwrap();
    let lat = prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new("lat_seconds", "Latency.").buckets(vec![0.1, 1.0]),
    )
    .unwrap();
    m.registry().register(Box::new(jobs.clone())).unwrap();
    m.registry().register(Box::new(queue.clone())).unwrap();
    m.registry().register(Box::new(lat.clone())).unwrap();
    jobs.inc_by(5);
    queue.set(2048.0);
    for v in [0.05, 0.5, 5.0] {
        lat.observe(v);
    }
    let r = cumulative(&m);
    let jobs = metric(&r, "jobs");
    assert!(matches!(&jobs.data, Some(Data::Sum(s)) if s.is_monotonic));
    assert_eq!(number(jobs, &[]).value, Some(Number::AsDouble(5.0)));
    let queue = metric(&r, "queue");
    assert_eq!(
        (queue.unit.as_str(), number(queue, &[]).value),
        ("By", Some(Number::AsDouble(2048.0)))
    );
    let lat = metric(&r, "lat");
    let Some(Data::Histogram(h)) = &lat.data else {
        panic!("not a histogram")
    };
    let p = &h.data_points[0];
    assert_eq!(
        (p.count, p.bucket_counts.clone(), p.explicit_bounds.clone()),
        (3, vec![1, 1, 1], vec![0.1, 1.0])
    );
    assert_eq!(lat.unit, "s");
}

/// Prometheus' receiver, `UnderscoreEscapingWithSuffixes` (otlptranslator's
/// `normalizeName`), for the units this crate sends.
fn prometheus_name(name: &str, unit: &str, monotonic_counter: bool) -> String {
    let mut tokens: Vec<&str> = name
        .split(|c: char| !c.is_ascii_alphanumeric() && c != ':')
        .filter(|t| !t.is_empty())
        .collect();
    let unit = match unit {
        "s" => "seconds",
        "By" => "bytes",
        "" => "",
        other => panic!("unit {other} not modelled"),
    };
    if !unit.is_empty() && !tokens.contains(&unit) {
        tokens.push(unit);
    }
    if monotonic_counter {
        tokens.retain(|t| *t != "total");
        tokens.push("total");
    }
    tokens.join("_")
}

#[test]
fn every_family_arrives_in_prometheus_under_the_scraped_name() {
    let m = Metrics::builder()
        .http_native(Some(NativeHistogram::default()))
        .build()
        .unwrap();
    crate::exposition::tests::record_every_family(&m);
    let jobs = prometheus::IntCounter::new("jobs_total", "Jobs run.").unwrap();
    m.registry().register(Box::new(jobs)).unwrap();
    let text = m.encode_text();
    let scraped: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let r = cumulative(&m);
    let metrics = &r.resource_metrics[0].scope_metrics[0].metrics;
    assert_eq!(
        metrics.len(),
        scraped.len(),
        "one OTLP metric per scraped family"
    );
    for metric in metrics {
        let counter = matches!(&metric.data, Some(Data::Sum(s)) if s.is_monotonic);
        let name = prometheus_name(&metric.name, &metric.unit, counter);
        assert!(
            scraped.contains(&name.as_str()),
            "{} ({}) arrives as {name}, not scraped",
            metric.name,
            metric.unit
        );
    }
}

#[test]
fn native_histograms_become_exponential_with_the_same_buckets() {
    use crate::trace::TraceContext;
    let m = Metrics::builder()
        .operation_native(Some(NativeHistogram::default()))
        .exemplars(true)
        .build()
        .unwrap();
    let sign = m.operation(Op::Sign, "pkcs11");
    let trace =
        TraceContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .unwrap();
    for us in [0, 1, 7, 90, 1_000, 1_000, 50_000, 2_000_000] {
        sign.record(Status::Success, Duration::from_micros(us));
    }
    {
        let _in = trace.enter();
        sign.record(Status::Success, Duration::from_millis(750));
    }
    let r = cumulative(&m);
    let Some(Data::ExponentialHistogram(h)) = &metric(&r, "keychain_operation_duration").data
    else {
        panic!("not exponential")
    };
    let p = &h.data_points[0];
    let mut body = Vec::new();
    crate::exposition::protobuf::encode(&m.store, &mut body);
    let families = scrape::decode(&body);
    let native = scrape::family(&families, "keychain_operation_duration_seconds").metric[0]
        .histogram
        .as_ref()
        .unwrap()
        .clone();
    assert_eq!(p.scale, native.schema());
    assert_eq!(p.zero_count, native.zero_count());
    assert_eq!(p.zero_threshold, native.zero_threshold());
    assert_eq!(p.count, 9);
    assert_eq!(p.count, native.sample_count());
    // OTLP bucket i is Prometheus' bucket i + 1.
    let positive = p.positive.as_ref().unwrap();
    let otlp: Vec<(i32, u64)> = positive
        .bucket_counts
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, n)| (positive.offset + i as i32 + 1, *n))
        .collect();
    assert_eq!(
        otlp,
        scrape::buckets_of(&native.positive_span, &native.positive_delta)
    );
    // The traced call's exemplar, with its ids as bytes and its value in seconds.
    assert_eq!(p.exemplars.len(), 1);
    let e = &p.exemplars[0];
    assert_eq!(
        (e.trace_id.as_slice(), e.span_id.as_slice()),
        (&trace.trace_id()[..], &trace.span_id()[..])
    );
    assert!(
        matches!(e.value, Some(opentelemetry_proto::tonic::metrics::v1::exemplar::Value::AsDouble(v)) if v == 0.75)
    );
    assert!(e.time_unix_nano > 0);
}

mod delta;
