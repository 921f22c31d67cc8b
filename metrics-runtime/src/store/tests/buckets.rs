//! Bucket placement is exact at the bounds, and custom bucket sets are honoured.

use std::time::Duration;

use crate::{Metrics, Op, Status};

fn bucket(text: &str, le: &str) -> f64 {
    crate::testing::value(
        text,
        "keychain_operation_duration_seconds_bucket",
        &[("le", le)],
    )
    .unwrap()
}

#[test]
fn a_duration_equal_to_a_bound_lands_in_that_bucket() {
    let m = Metrics::new();
    m.record_operation(
        Op::Sign,
        "pkcs8",
        Status::Success,
        Duration::from_secs_f64(0.005),
    );
    let text = m.encode_text();
    assert_eq!(bucket(&text, "0.001"), 0.0);
    assert_eq!(bucket(&text, "0.005"), 1.0);
    assert_eq!(bucket(&text, "0.01"), 1.0);
}

#[test]
fn one_nanosecond_above_a_bound_lands_in_the_next() {
    let m = Metrics::new();
    m.record_operation(
        Op::Sign,
        "pkcs8",
        Status::Success,
        Duration::from_nanos(5_000_001),
    );
    let text = m.encode_text();
    assert_eq!(bucket(&text, "0.005"), 0.0);
    assert_eq!(bucket(&text, "0.01"), 1.0);
    assert_eq!(
        crate::testing::value(&text, "keychain_operation_duration_seconds_sum", &[]),
        Some(0.005000001)
    );
}

#[test]
fn durations_beyond_the_last_bound_count_only_in_inf() {
    let m = Metrics::new();
    m.record_operation(
        Op::Backup,
        "pkcs8",
        Status::Success,
        Duration::from_secs(11),
    );
    m.record_operation(Op::Backup, "pkcs8", Status::Success, Duration::MAX);
    let text = m.encode_text();
    assert_eq!(bucket(&text, "10"), 0.0);
    assert_eq!(bucket(&text, "+Inf"), 2.0);
}

#[test]
fn zero_duration_lands_in_the_first_bucket() {
    let m = Metrics::new();
    m.record_operation(Op::Get, "memory", Status::Success, Duration::ZERO);
    let text = m.encode_text();
    assert_eq!(bucket(&text, "0.001"), 1.0);
    assert_eq!(
        crate::testing::value(&text, "keychain_operation_duration_seconds_sum", &[]),
        Some(0.0)
    );
}

#[test]
fn custom_buckets_and_namespace() {
    let m = Metrics::builder()
        .namespace("vault")
        .operation_buckets([0.5, 2.0])
        .http_buckets([1.0])
        .build()
        .unwrap();
    m.record_operation(
        Op::Rotate,
        "pkcs11",
        Status::Success,
        Duration::from_secs(1),
    );
    m.record_http_request("GET", 200, Duration::from_millis(10));
    let text = m.encode_text();
    let buckets: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("vault_operation_duration_seconds_bucket"))
        .collect();
    assert_eq!(
        buckets,
        [
            r#"vault_operation_duration_seconds_bucket{backend="pkcs11",operation="rotate",le="0.5"} 0"#,
            r#"vault_operation_duration_seconds_bucket{backend="pkcs11",operation="rotate",le="2"} 1"#,
            r#"vault_operation_duration_seconds_bucket{backend="pkcs11",operation="rotate",le="+Inf"} 1"#,
        ]
    );
    assert!(text.contains(r#"vault_http_request_duration_seconds_bucket{method="GET",le="1"} 1"#));
    assert!(!text.contains("keychain_"));
}
