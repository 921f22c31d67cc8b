//! The `metrics` facade's recorder: each kind in each format, exact totals from many
//! threads, the cap on label sets, refused names, isolation of local recorders.

use std::collections::BTreeMap;

use keychain_metrics::{Metrics, NativeHistogram, RecorderConfig};
use keychain_metrics_invariants::exposition::{self, Format};
use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
    with_local_recorder, Unit,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use prometheus::proto::MetricType;
use prost::Message as _;

/// An instance with a constant label, and one recording of each kind.
fn recorded() -> Metrics {
    let metrics = Metrics::builder()
        .const_label("region", "eu")
        .recorder(RecorderConfig::default().buckets("pkcs8.fsync", [0.001, 0.01, 0.1]))
        .build()
        .unwrap();
    with_local_recorder(&metrics.recorder(), || {
        describe_counter!("cache.hits", "Cache hits.");
        describe_gauge!("hsm.sessions", "Open HSM sessions.");
        describe_histogram!("pkcs8.fsync", Unit::Seconds, "fsync of a key file.");
        counter!("cache.hits", "cache" => "keys").increment(3);
        gauge!("hsm.sessions").set(2.5);
        histogram!("pkcs8.fsync").record(0.002);
        histogram!("pkcs8.fsync").record(0.25);
    });
    metrics
}

const TEXT: &str = r#"# HELP cache_hits_total Cache hits.
# TYPE cache_hits_total counter
cache_hits_total{cache="keys",region="eu"} 3
# HELP hsm_sessions Open HSM sessions.
# TYPE hsm_sessions gauge
hsm_sessions{region="eu"} 2.5
# HELP pkcs8_fsync_seconds fsync of a key file.
# TYPE pkcs8_fsync_seconds histogram
pkcs8_fsync_seconds_bucket{region="eu",le="0.001"} 0
pkcs8_fsync_seconds_bucket{region="eu",le="0.01"} 1
pkcs8_fsync_seconds_bucket{region="eu",le="0.1"} 1
pkcs8_fsync_seconds_bucket{region="eu",le="+Inf"} 2
pkcs8_fsync_seconds_sum{region="eu"} 0.252
pkcs8_fsync_seconds_count{region="eu"} 2
"#;

const OPENMETRICS: &str = r#"# HELP cache_hits Cache hits.
# TYPE cache_hits counter
cache_hits_total{cache="keys",region="eu"} 3
# HELP hsm_sessions Open HSM sessions.
# TYPE hsm_sessions gauge
hsm_sessions{region="eu"} 2.5
# HELP pkcs8_fsync_seconds fsync of a key file.
# TYPE pkcs8_fsync_seconds histogram
pkcs8_fsync_seconds_bucket{region="eu",le="0.001"} 0
pkcs8_fsync_seconds_bucket{region="eu",le="0.01"} 1
pkcs8_fsync_seconds_bucket{region="eu",le="0.1"} 1
pkcs8_fsync_seconds_bucket{region="eu",le="+Inf"} 2
pkcs8_fsync_seconds_sum{region="eu"} 0.252
pkcs8_fsync_seconds_count{region="eu"} 2
# EOF
"#;

#[test]
fn each_kind_in_both_text_formats_after_the_contract() {
    let metrics = recorded();
    let text = metrics.encode_text();
    assert!(text.ends_with(TEXT), "{text}");
    exposition::parse(&text, Format::Text).unwrap();
    let om = metrics.encode_openmetrics();
    assert!(om.ends_with(OPENMETRICS), "{om}");
    exposition::parse(&om, Format::OpenMetrics).unwrap();
}

/// Labels of a `prometheus` metric, as a map.
fn labels(m: &prometheus::proto::Metric) -> BTreeMap<&str, &str> {
    m.get_label()
        .iter()
        .map(|l| (l.name(), l.value()))
        .collect()
}

#[test]
fn each_kind_in_protobuf_and_in_gather() {
    let metrics = recorded();
    let mut body = Vec::new();
    metrics.encode(keychain_metrics::Format::Protobuf, &mut body);
    let mut input = protobuf::CodedInputStream::from_bytes(&body);
    let mut decoded: Vec<prometheus::proto::MetricFamily> = Vec::new();
    while !input.eof().unwrap() {
        decoded.push(input.read_message().unwrap());
    }
    for families in [decoded, metrics.registry().gather()] {
        let find = |name: &str| {
            families
                .iter()
                .find(|f| f.name() == name)
                .unwrap_or_else(|| panic!("no {name}"))
        };
        let hits = find("cache_hits_total");
        assert_eq!(hits.get_field_type(), MetricType::COUNTER);
        assert_eq!(hits.help(), "Cache hits.");
        let m = &hits.get_metric()[0];
        assert_eq!(labels(m), [("cache", "keys"), ("region", "eu")].into());
        assert_eq!(m.get_counter().value(), 3.0);
        let sessions = find("hsm_sessions");
        assert_eq!(sessions.get_field_type(), MetricType::GAUGE);
        assert_eq!(sessions.get_metric()[0].get_gauge().value(), 2.5);
        let fsync = find("pkcs8_fsync_seconds");
        let h = fsync.get_metric()[0].get_histogram();
        assert_eq!(h.get_sample_count(), 2);
        assert!((h.get_sample_sum() - 0.252).abs() < 1e-12);
        let buckets: Vec<(f64, u64)> = h
            .get_bucket()
            .iter()
            .map(|b| (b.upper_bound(), b.cumulative_count()))
            .collect();
        assert_eq!(buckets, [(0.001, 0), (0.01, 1), (0.1, 1)]);
    }
}

#[test]
fn each_kind_in_the_otlp_request() {
    let metrics = recorded();
    let mut body = Vec::new();
    metrics.encode_otlp(&[], &mut body);
    let request = ExportMetricsServiceRequest::decode(&body[..]).unwrap();
    let all = &request.resource_metrics[0].scope_metrics[0].metrics;
    let find = |name: &str| all.iter().find(|m| m.name == name).unwrap();
    let Some(Data::Sum(hits)) = &find("cache_hits").data else {
        panic!("not a sum")
    };
    assert!(hits.is_monotonic);
    assert_eq!(hits.data_points[0].value, Some(Number::AsInt(3)));
    assert_eq!(hits.data_points[0].attributes.len(), 2);
    let Some(Data::Gauge(sessions)) = &find("hsm_sessions").data else {
        panic!("not a gauge")
    };
    assert_eq!(sessions.data_points[0].value, Some(Number::AsDouble(2.5)));
    let fsync = find("pkcs8_fsync");
    assert_eq!(fsync.unit, "s");
    let Some(Data::Histogram(h)) = &fsync.data else {
        panic!("not a histogram")
    };
    let point = &h.data_points[0];
    assert_eq!(point.count, 2);
    assert_eq!(point.bucket_counts, [0, 1, 0, 1]);
    assert_eq!(point.explicit_bounds, [0.001, 0.01, 0.1]);
    assert!((point.sum.unwrap() - 0.252).abs() < 1e-12);
}

#[test]
fn four_threads_through_the_macros_give_exact_totals() {
    let metrics = Metrics::new();
    let recorder = metrics.recorder();
    std::thread::scope(|s| {
        for t in 0..4 {
            let recorder = &recorder;
            s.spawn(move || {
                with_local_recorder(recorder, || {
                    let handle = counter!("jobs", "worker" => "all");
                    for i in 0..50_000 {
                        if i % 2 == 0 {
                            handle.increment(1);
                        } else {
                            counter!("jobs", "worker" => "all").increment(1);
                        }
                        histogram!("job.size").record(0.25 * f64::from(t + 1));
                        gauge!("queue").increment(1.0);
                    }
                });
            });
        }
    });
    let text = metrics.encode_text();
    let samples = exposition::parse(&text, Format::Text).unwrap();
    let one = |name: &str| samples.iter().find(|s| s.name == name).unwrap().value;
    assert_eq!(one("jobs_total"), 200_000.0);
    assert_eq!(one("job_size_count"), 200_000.0);
    // 50,000 × (0.25 + 0.5 + 0.75 + 1.0), exact in the fixed-point sum.
    assert_eq!(one("job_size_sum"), 125_000.0);
    assert_eq!(one("queue"), 200_000.0);
    let le = exposition::series(&samples, "job_size_bucket", &["le"]);
    assert_eq!(le[&vec!["0.25".to_string()]], 50_000.0);
    assert_eq!(le[&vec!["0.5".to_string()]], 100_000.0);
    assert_eq!(le[&vec!["1".to_string()]], 200_000.0);
}

#[test]
fn label_sets_past_the_cap_fold_into_other_and_are_counted() {
    let metrics = Metrics::builder()
        .recorder(RecorderConfig::default().max_label_sets(100))
        .build()
        .unwrap();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    with_local_recorder(&metrics.recorder(), || {
        for _ in 0..10_000 {
            // xorshift: 10,000 distinct random label values.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            counter!("requests", "client" => format!("{state:x}")).increment(1);
            gauge!("last", "client" => format!("{state:x}")).set(1.0);
        }
    });
    let text = metrics.encode_text();
    let samples = exposition::parse(&text, Format::Text).unwrap();
    let requests = exposition::series(&samples, "requests_total", &["client"]);
    assert_eq!(requests.len(), 101);
    assert_eq!(requests[&vec!["other".to_string()]], 9_900.0);
    assert_eq!(requests.values().sum::<f64>(), 10_000.0);
    assert_eq!(exposition::series(&samples, "last", &["client"]).len(), 101);
    let folded = exposition::series(&samples, "keychain_recorder_folded_total", &["metric"]);
    assert_eq!(
        folded,
        [
            (vec!["requests_total".to_string()], 9_900.0),
            (vec!["last".to_string()], 9_900.0)
        ]
        .into()
    );
}

#[test]
fn hostile_label_values_are_escaped_or_cut() {
    let metrics = Metrics::new();
    let long = "x".repeat(10_000);
    with_local_recorder(&metrics.recorder(), || {
        counter!("evil", "v" => "a\"b\\c\nd").increment(1);
        counter!("evil", "v" => long.clone()).increment(1);
        counter!("evil", "__name__" => "x", "le" => "y", "ü-ber" => "z").increment(1);
    });
    let text = metrics.encode_text();
    assert!(
        text.contains("evil_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("evil_total{v=\"other\"} 1\n"), "{text}");
    assert!(
        text.contains("evil_total{_ber=\"z\",_name__=\"x\",le=\"y\"} 1\n"),
        "{text}"
    );
    exposition::parse(&text, Format::Text).unwrap();
    exposition::parse(&metrics.encode_openmetrics(), Format::OpenMetrics).unwrap();
}

#[test]
fn clashing_names_are_refused_and_never_malform_the_exposition() {
    let metrics = Metrics::new();
    with_local_recorder(&metrics.recorder(), || {
        // The contract's own family.
        counter!("keychain_operations_total").increment(5);
        // The same name under two types; the first wins.
        gauge!("pool").set(3.0);
        counter!("pool").increment(1);
        // A gauge that a histogram's `_count` would collide with.
        histogram!("wait").record(1.0);
        gauge!("wait_count").set(9.0);
        // Two spellings of one name and kind: one family.
        counter!("a.b").increment(1);
        counter!("a_b").increment(1);
    });
    let text = metrics.encode_text();
    let samples = exposition::parse(&text, Format::Text).unwrap();
    let names: Vec<&str> = samples.iter().map(|s| s.name.as_str()).collect();
    assert!(!names.contains(&"keychain_operations_total"), "{text}");
    assert!(!names.contains(&"pool_total") && !names.contains(&"wait_count_total"));
    assert_eq!(samples.iter().filter(|s| s.name == "wait_count").count(), 1);
    let one = |name: &str| samples.iter().find(|s| s.name == name).unwrap().value;
    assert_eq!(one("pool"), 3.0);
    assert_eq!(one("wait_count"), 1.0); // the histogram's
    assert_eq!(one("a_b_total"), 2.0);
    exposition::parse(&metrics.encode_openmetrics(), Format::OpenMetrics).unwrap();
}

#[test]
fn a_unit_described_late_does_not_rename_a_family() {
    let metrics = Metrics::new();
    with_local_recorder(&metrics.recorder(), || {
        histogram!("late").record(1.0);
        describe_histogram!("late", Unit::Seconds, "Described after use.");
        describe_counter!("read", Unit::Bytes, "Bytes read.");
        counter!("read").increment(10);
        describe_gauge!(
            "ratio",
            Unit::Percent,
            "No suffix: values are not converted."
        );
        gauge!("ratio").set(50.0);
    });
    let text = metrics.encode_text();
    assert!(
        text.contains("# HELP late Described after use.\n"),
        "{text}"
    );
    assert!(text.contains("late_count 1\n"));
    assert!(text.contains("# TYPE read_bytes_total counter\nread_bytes_total 10\n"));
    assert!(text.contains("ratio 50\n"));
}

#[test]
fn negative_values_and_sums_past_u64_nanos() {
    let metrics = Metrics::builder()
        .recorder(
            RecorderConfig::default()
                .buckets("*", [-1.0, 0.0, 1.0])
                .native(Some(NativeHistogram::default().schema(0))),
        )
        .build()
        .unwrap();
    with_local_recorder(&metrics.recorder(), || {
        for v in [-5.0, -0.5, 0.0, 0.75, 3.0, 1e12] {
            histogram!("delta").record(v);
        }
    });
    let text = metrics.encode_text();
    for line in [
        "delta_bucket{le=\"-1\"} 1\n",
        "delta_bucket{le=\"0\"} 3\n",
        "delta_bucket{le=\"1\"} 4\n",
        "delta_bucket{le=\"+Inf\"} 6\n",
        "delta_sum 999999999998.25\n",
        "delta_count 6\n",
    ] {
        assert!(text.contains(line), "{line}in {text}");
    }
    // The native buckets beside them: `recorder::tests` in the runtime decodes them.
}

#[test]
fn local_recorders_of_parallel_instances_stay_apart() {
    let instances: Vec<Metrics> = (0..4).map(|_| Metrics::new()).collect();
    std::thread::scope(|s| {
        for (i, metrics) in instances.iter().enumerate() {
            s.spawn(move || {
                with_local_recorder(&metrics.recorder(), || {
                    counter!("mine").increment(i as u64 + 1);
                });
            });
        }
    });
    for (i, metrics) in instances.iter().enumerate() {
        let text = metrics.encode_text();
        assert!(
            text.contains(&format!("\nmine_total {}\n", i + 1)),
            "{text}"
        );
    }
}

#[test]
fn a_disabled_instance_records_nothing_and_its_handles_resume() {
    let metrics = Metrics::new();
    let recorder = metrics.recorder();
    let kept = with_local_recorder(&recorder, || counter!("kept"));
    kept.increment(1);
    metrics.disable();
    kept.increment(10);
    let registered_off = with_local_recorder(&recorder, || {
        counter!("off").increment(1);
        histogram!("off_h").record(1.0);
        gauge!("off_g").set(1.0);
        counter!("off")
    });
    metrics.enable();
    kept.increment(100);
    registered_off.increment(1000);
    let text = metrics.encode_text();
    assert!(text.contains("\nkept_total 101\n"), "{text}");
    // Registered while off: nothing recorded then, and the handle works once on.
    assert!(text.contains("\noff_total 1000\n"), "{text}");
    assert!(text.contains("\noff_h_count 0\n") && text.contains("\noff_g 0\n"));
}

#[test]
fn traced_observations_become_exemplars() {
    use keychain_metrics::trace::TraceContext;
    let metrics = Metrics::builder().exemplars(true).build().unwrap();
    let trace = TraceContext::new([0xab; 16], [0xcd; 8]).unwrap();
    with_local_recorder(&metrics.recorder(), || {
        histogram!("wait").record(0.2); // outside a trace: none
        let _in = trace.enter();
        histogram!("wait").record(0.03);
        counter!("retries").increment(2);
    });
    let om = metrics.encode_openmetrics();
    let samples = exposition::parse(&om, Format::OpenMetrics).unwrap();
    let with: Vec<(&str, f64, f64)> = samples
        .iter()
        .filter_map(|s| {
            let e = s.exemplar.as_ref()?;
            assert_eq!(e.labels["trace_id"], "ab".repeat(16));
            assert_eq!(e.labels["span_id"], "cd".repeat(8));
            let le = s.labels.get("le").map_or(f64::NAN, |l| l.parse().unwrap());
            Some((s.name.as_str(), le, e.value))
        })
        .collect();
    assert_eq!(with.len(), 2, "{om}");
    // In creation order: the histogram's bucket (0.03 in le="0.05"), the counter.
    assert_eq!(with[0], ("wait_bucket", 0.05, 0.03));
    assert_eq!((with[1].0, with[1].2), ("retries_total", 2.0));
}
