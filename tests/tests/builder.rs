//! A bad configuration gets an error that names the field and the value.

use keychain_metrics::{BuildError, Metrics, MAX_BUCKETS};

fn message(builder: keychain_metrics::MetricsBuilder) -> String {
    builder.build().unwrap_err().to_string()
}

#[test]
fn namespace_must_be_a_metric_name() {
    assert_eq!(
        message(Metrics::builder().namespace("")),
        r#"namespace: "" is not a valid metric name prefix (non-empty, [a-zA-Z_][a-zA-Z0-9_]*)"#
    );
    assert!(message(Metrics::builder().namespace("9lives")).starts_with(r#"namespace: "9lives""#));
    assert!(
        message(Metrics::builder().namespace("key-chain")).starts_with(r#"namespace: "key-chain""#)
    );
    assert!(Metrics::builder().namespace("_kc2").build().is_ok());
}

#[test]
fn buckets_must_be_sorted_positive_finite_and_few() {
    assert_eq!(
        message(Metrics::builder().operation_buckets([0.1, 0.05])),
        "operation_buckets: [0.1, 0.05]: bounds must increase strictly (at nanosecond resolution): 0.05 follows 0.1"
    );
    assert_eq!(
        message(Metrics::builder().http_buckets(Vec::new())),
        "http_buckets: []: no bucket bounds given"
    );
    assert!(
        message(Metrics::builder().grpc_buckets([0.1, f64::INFINITY]))
            .starts_with("grpc_buckets: [0.1, inf]: bound inf is not a finite duration")
    );
    assert!(message(Metrics::builder().grpc_buckets([f64::NAN]))
        .starts_with("grpc_buckets: [NaN]: bound NaN"));
    assert!(message(Metrics::builder().operation_buckets([-1.0]))
        .starts_with("operation_buckets: [-1.0]: bound -1"));
    assert!(message(Metrics::builder().operation_buckets([0.0, 1.0]))
        .starts_with("operation_buckets: [0.0, 1.0]: bound 0"));
    assert!(message(Metrics::builder().operation_buckets([0.1, 0.1])).contains("increase strictly"));
    assert!(
        message(Metrics::builder().operation_buckets([1e-10, 2e-10])).contains("increase strictly")
    );
    let many: Vec<f64> = (1..=MAX_BUCKETS + 1).map(|i| i as f64).collect();
    assert!(message(Metrics::builder().operation_buckets(many))
        .ends_with("65 bucket bounds given, at most 64 allowed"));
}

#[test]
fn const_labels_are_checked() {
    assert_eq!(
        message(Metrics::builder().const_label("backend", "x")),
        r#"const_label "backend": reserved: the contract uses this label name"#
    );
    assert!(
        message(Metrics::builder().const_label("__name", "x")).contains("not a valid label name")
    );
    assert!(message(Metrics::builder().const_label("a-b", "x")).contains("not a valid label name"));
    assert_eq!(
        message(
            Metrics::builder()
                .const_label("region", "a")
                .const_label("region", "b")
        ),
        r#"const_label "region": given twice"#
    );
    assert!(
        message(Metrics::builder().const_label("region", "x".repeat(300))).contains("300 bytes")
    );
}

#[test]
fn zero_label_cap_is_refused() {
    assert_eq!(
        Metrics::builder().max_label_values(0).build().unwrap_err(),
        BuildError::ZeroMaxLabelValues
    );
    assert_eq!(
        message(Metrics::builder().max_label_values(0)),
        "max_label_values: 0: must be at least 1"
    );
}

#[test]
fn const_labels_join_every_series_sorted() {
    let m = Metrics::builder()
        .const_label("zone", "b")
        .const_label("app", "kc\"1")
        .build()
        .unwrap();
    m.record_error(keychain_metrics::Op::Get, "pkcs8", "x");
    let text = m.encode_text();
    assert!(text.contains(
        r#"keychain_errors_total{app="kc\"1",backend="pkcs8",error_type="x",operation="get",zone="b"} 1"#
    ));
    assert!(text.contains(r#"keychain_active_connections{app="kc\"1",protocol="http",zone="b"} 0"#));
}
