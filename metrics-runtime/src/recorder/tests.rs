//! The recorder's native buckets, decoded with the protobuf schema's own messages, and
//! its names under each escaping a scraper may negotiate.

use metrics::{histogram, with_local_recorder};

use crate::exposition::escaping::Escaping;
use crate::exposition::protobuf::tests::{decode, family};
use crate::{Format, Metrics, NativeHistogram, RecorderConfig};

#[test]
fn values_at_or_below_zero_count_in_the_zero_bucket() {
    let metrics = Metrics::builder()
        .recorder(
            RecorderConfig::default()
                .buckets("*", [-1.0, 0.0, 1.0])
                .native(Some(NativeHistogram::default().schema(0))),
        )
        .build()
        .unwrap();
    with_local_recorder(&metrics.recorder(), || {
        for v in [-5.0, -0.5, 0.0, 0.75, 3.0, 3.5, 1e12] {
            histogram!("delta").record(v);
        }
    });
    let mut body = Vec::new();
    metrics.encode(Format::Protobuf, &mut body);
    let all = decode(&body);
    let h = family(&all, "delta").metric[0].histogram.clone().unwrap();
    assert_eq!(h.schema(), 0);
    assert_eq!(h.sample_count(), 7);
    assert_eq!(h.zero_count(), 3);
    assert_eq!(h.sample_sum(), 1e12 - 5.0 - 0.5 + 0.75 + 3.0 + 3.5);
    // Schema 0: 0.75 in bucket 0, (0.5, 1]; 3 and 3.5 in bucket 2, (2, 4]; 10^12 in
    // bucket 40, (2^39, 2^40].
    let spans: Vec<(i32, u32)> = h
        .positive_span
        .iter()
        .map(|s| (s.offset(), s.length()))
        .collect();
    assert_eq!(spans, [(0, 1), (1, 1), (37, 1)]);
    assert_eq!(h.positive_delta, [1, 1, -1]);
    // The classic buckets ride along.
    let classic: Vec<u64> = h.bucket.iter().map(|b| b.cumulative_count()).collect();
    assert_eq!(classic, [1, 3, 4]);
}

/// An instance with a facade counter and histogram whose names are not legacy, and an
/// operation of the contract.
fn utf8_names() -> Metrics {
    let metrics = Metrics::new();
    metrics.record_operation(
        crate::Op::Sign,
        "pkcs8",
        crate::Status::Success,
        std::time::Duration::from_millis(2),
    );
    with_local_recorder(&metrics.recorder(), || {
        metrics::describe_histogram!("pkcs8.fsync", metrics::Unit::Seconds, "fsync.");
        metrics::counter!("http.requests", "method" => "GET").increment(1);
        histogram!("pkcs8.fsync").record(0.002);
    });
    metrics
}

fn text(metrics: &Metrics, format: crate::TextFormat, escaping: Escaping) -> String {
    let mut out = String::new();
    crate::exposition::encode_escaped(&metrics.store, format, escaping, &mut out);
    out
}

#[test]
fn names_follow_the_negotiated_escaping() {
    use crate::TextFormat::{OpenMetrics, Text};
    let m = utf8_names();
    let legacy = text(&m, Text, Escaping::Underscores);
    assert!(legacy.contains(
        "# HELP http_requests_total http.requests\n\
         # TYPE http_requests_total counter\n\
         http_requests_total{method=\"GET\"} 1\n"
    ));
    assert!(legacy.contains("\npkcs8_fsync_seconds_bucket{le=\"0.005\"} 1\n"));
    let utf8 = text(&m, Text, Escaping::AllowUtf8);
    assert!(
        utf8.contains(
            "# HELP \"http.requests_total\" http.requests\n\
         # TYPE \"http.requests_total\" counter\n\
         {\"http.requests_total\",method=\"GET\"} 1\n"
        ),
        "{utf8}"
    );
    assert!(utf8.contains("\n{\"pkcs8.fsync_seconds_bucket\",le=\"0.005\"} 1\n"));
    assert!(
        utf8.contains("\n{\"pkcs8.fsync_seconds_count\"} 1\n"),
        "{utf8}"
    );
    // Legacy names stay as they are, unquoted.
    assert!(utf8.contains("\nkeychain_operations_total{backend=\"pkcs8\","));
    let om = text(&m, OpenMetrics, Escaping::AllowUtf8);
    assert!(
        om.contains(
            "# HELP \"http.requests\" http.requests\n\
         # TYPE \"http.requests\" counter\n\
         {\"http.requests_total\",method=\"GET\"} 1\n"
        ),
        "{om}"
    );
    // `dots` escapes every name, suffixes included; `values` only those not legacy.
    let dots = text(&m, Text, Escaping::Dots);
    assert!(
        dots.contains("\nhttp_dot_requests__total{method=\"GET\"} 1\n"),
        "{dots}"
    );
    assert!(dots.contains("\npkcs8_dot_fsync__seconds__bucket{le=\"0.005\"} 1\n"));
    assert!(dots.contains("\nkeychain__operations__total{backend=\"pkcs8\","));
    let values = text(&m, Text, Escaping::Values);
    assert!(
        values.contains("\nU__http_2e_requests__total{method=\"GET\"} 1\n"),
        "{values}"
    );
    assert!(values.contains("\nkeychain_operations_total{backend=\"pkcs8\","));
}
