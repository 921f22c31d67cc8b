//! Hostile label values are escaped, and bounded labels cannot grow without limit.

mod common;

use std::time::Duration;

use keychain_metrics::{GrpcCode, Metrics, Op, Status, MAX_LABEL_LEN};

#[test]
fn quotes_backslashes_and_newlines_are_escaped() {
    let m = Metrics::new();
    let nasty = "a\"b\\c\nd}e,f=\"g";
    m.record_operation(Op::Get, nasty, Status::Success, Duration::from_millis(1));
    m.record_error(Op::Get, nasty, "x\ny");
    let text = m.encode_text();
    assert!(text.contains(
        r#"keychain_operations_total{backend="a\"b\\c\nd}e,f=\"g",operation="get",status="success"} 1"#
    ));
    assert!(text.contains(r#"error_type="x\ny""#));
    // Every line is still one sample or one comment, and the values parse back intact.
    let samples = common::parse(&text);
    let op = samples
        .iter()
        .find(|s| s.name == "keychain_operations_total" && s.labels["status"] == "success")
        .unwrap();
    assert_eq!(op.labels["backend"], nasty);
}

#[test]
fn backends_past_the_cap_fold_into_other() {
    let m = Metrics::builder().max_label_values(3).build().unwrap();
    for i in 0..1000 {
        m.record_operation(
            Op::Get,
            &format!("key-{i}"),
            Status::Success,
            Duration::from_millis(1),
        );
    }
    let text = m.encode_text();
    let backends: Vec<String> = common::parse(&text)
        .into_iter()
        .filter(|s| s.name == "keychain_operations_total" && s.labels["status"] == "success")
        .map(|s| format!("{}={}", s.labels["backend"], s.value))
        .collect();
    assert_eq!(backends, ["key-0=1", "key-1=1", "key-2=1", "other=997"]);
}

#[test]
fn error_types_past_the_cap_fold_into_other() {
    let m = Metrics::builder().max_label_values(2).build().unwrap();
    let h = m.operation(Op::Sign, "pkcs8");
    for i in 0..50 {
        h.record_error(&format!("e{i}"));
    }
    let text = m.encode_text();
    assert_eq!(
        common::value(&text, "keychain_errors_total", &[("error_type", "e0")]),
        Some(1.0)
    );
    assert_eq!(
        common::value(&text, "keychain_errors_total", &[("error_type", "e1")]),
        Some(1.0)
    );
    assert_eq!(
        common::value(&text, "keychain_errors_total", &[("error_type", "other")]),
        Some(48.0)
    );
    assert_eq!(common::count_series(&text, "keychain_errors_total"), 3);
}

#[test]
fn overlong_values_fold_without_taking_a_slot() {
    let m = Metrics::builder().max_label_values(1).build().unwrap();
    let huge = "k".repeat(MAX_LABEL_LEN + 1);
    m.set_keys_total(&huge, 5);
    m.set_keys_total("pkcs8", 7);
    let text = m.encode_text();
    assert_eq!(
        common::value(&text, "keychain_keys_total", &[("backend", "other")]),
        Some(5.0)
    );
    assert_eq!(
        common::value(&text, "keychain_keys_total", &[("backend", "pkcs8")]),
        Some(7.0)
    );
    assert!(
        text.len() < 4096,
        "the huge value leaked into the exposition"
    );
    let at_limit = "k".repeat(MAX_LABEL_LEN);
    let m = Metrics::new();
    m.set_keys_total(&at_limit, 1);
    assert_eq!(
        common::value(
            &m.encode_text(),
            "keychain_keys_total",
            &[("backend", &at_limit)]
        ),
        Some(1.0)
    );
}

#[test]
fn random_grpc_paths_leave_a_bounded_series_count() {
    let m = Metrics::builder().max_label_values(10).build().unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..5000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let path: String = (0..(seed % 40))
            .map(|i| char::from_u32(((seed >> (i % 60)) % 0x2FF) as u32 + 1).unwrap_or('?'))
            .collect();
        m.record_grpc_request(&path, GrpcCode::Unimplemented, Duration::from_millis(1));
        m.record_http_request(&path, 404, Duration::from_millis(1));
    }
    let text = m.encode_text();
    assert!(common::count_series(&text, "keychain_grpc_requests_total") <= 11);
    assert_eq!(
        common::count_series(&text, "keychain_http_requests_total"),
        1
    );
    let total: f64 = common::parse(&text)
        .iter()
        .filter(|s| s.name == "keychain_grpc_requests_total")
        .map(|s| s.value)
        .sum();
    assert_eq!(total, 5000.0, "folding must not lose counts");
}

#[test]
fn empty_label_values_are_kept() {
    let m = Metrics::new();
    m.record_error(Op::Get, "", "");
    assert!(m
        .encode_text()
        .contains(r#"keychain_errors_total{backend="",error_type="",operation="get"} 1"#));
}
