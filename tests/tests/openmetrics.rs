//! The OpenMetrics exposition: family names, canonical `le`, and `# EOF`.

use std::time::Duration;

use keychain_metrics::{Metrics, Op, Status};

#[test]
fn openmetrics_exposition_of_one_operation() {
    let m = Metrics::builder()
        .operation_buckets([0.5, 1.0])
        .build()
        .unwrap();
    m.record_operation(
        Op::Generate,
        "pkcs8",
        Status::Success,
        Duration::from_millis(750),
    );
    m.set_keys_total("pkcs8", 2);
    let expected = "\
# HELP keychain_operations Keychain operations, by operation, backend and outcome.
# TYPE keychain_operations counter
keychain_operations_total{backend=\"pkcs8\",operation=\"generate\",status=\"success\"} 1
keychain_operations_total{backend=\"pkcs8\",operation=\"generate\",status=\"error\"} 0
# HELP keychain_operation_duration_seconds Duration of keychain operations in seconds.
# TYPE keychain_operation_duration_seconds histogram
keychain_operation_duration_seconds_bucket{backend=\"pkcs8\",operation=\"generate\",le=\"0.5\"} 0
keychain_operation_duration_seconds_bucket{backend=\"pkcs8\",operation=\"generate\",le=\"1.0\"} 1
keychain_operation_duration_seconds_bucket{backend=\"pkcs8\",operation=\"generate\",le=\"+Inf\"} 1
keychain_operation_duration_seconds_sum{backend=\"pkcs8\",operation=\"generate\"} 0.75
keychain_operation_duration_seconds_count{backend=\"pkcs8\",operation=\"generate\"} 1
# HELP keychain_active_connections Requests or connections in flight, by protocol.
# TYPE keychain_active_connections gauge
keychain_active_connections{protocol=\"http\"} 0
keychain_active_connections{protocol=\"grpc\"} 0
keychain_active_connections{protocol=\"quic\"} 0
keychain_active_connections{protocol=\"mcp\"} 0
# HELP keychain_keys_total Keys held, by backend.
# TYPE keychain_keys_total gauge
keychain_keys_total{backend=\"pkcs8\"} 2
# EOF
";
    assert_eq!(m.encode_openmetrics(), expected);
}

#[test]
fn user_counters_get_the_total_suffix_in_openmetrics() {
    let m = Metrics::new();
    let plain = prometheus::IntCounter::new("app_restarts", "Restarts.").unwrap();
    let suffixed = prometheus::IntCounter::new("app_jobs_total", "Jobs \"done\".").unwrap();
    m.registry().register(Box::new(plain.clone())).unwrap();
    m.registry().register(Box::new(suffixed.clone())).unwrap();
    plain.inc();
    suffixed.inc_by(3);
    let om = m.encode_openmetrics();
    assert!(
        om.contains("# TYPE app_restarts counter\napp_restarts_total 1\n"),
        "{om}"
    );
    assert!(
        om.contains(
            "# HELP app_jobs Jobs \\\"done\\\".\n# TYPE app_jobs counter\napp_jobs_total 3\n"
        ),
        "{om}"
    );
    assert!(om.ends_with("# EOF\n"));
    assert_eq!(om.matches("# EOF").count(), 1);
    let text = m.encode_text();
    assert!(
        text.contains("# TYPE app_restarts counter\napp_restarts 1\n"),
        "{text}"
    );
}
