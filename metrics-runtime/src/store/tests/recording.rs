//! Each recording call produces exactly the exposition lines of the contract.

use std::time::Duration;

use crate::{GrpcCode, Metrics, Op, Protocol, Status};

fn lines(metrics: &Metrics, prefix: &str) -> Vec<String> {
    metrics
        .encode_text()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn record_operation_writes_counter_and_histogram() {
    let m = Metrics::new();
    m.record_operation(
        Op::Generate,
        "pkcs8",
        Status::Success,
        Duration::from_millis(3),
    );
    assert_eq!(
        lines(&m, "keychain_operations_total"),
        [
            r#"keychain_operations_total{backend="pkcs8",operation="generate",status="success"} 1"#,
            r#"keychain_operations_total{backend="pkcs8",operation="generate",status="error"} 0"#,
        ]
    );
    let bucket = |le: &str| {
        format!(
            r#"keychain_operation_duration_seconds_bucket{{backend="pkcs8",operation="generate",le="{le}"}}"#
        )
    };
    let expected: Vec<String> = [
        ("0.001", 0),
        ("0.005", 1),
        ("0.01", 1),
        ("0.025", 1),
        ("0.05", 1),
        ("0.1", 1),
        ("0.25", 1),
        ("0.5", 1),
        ("1", 1),
        ("2.5", 1),
        ("5", 1),
        ("10", 1),
        ("+Inf", 1),
    ]
    .iter()
    .map(|(le, n)| format!("{} {n}", bucket(le)))
    .chain([
        r#"keychain_operation_duration_seconds_sum{backend="pkcs8",operation="generate"} 0.003"#
            .into(),
        r#"keychain_operation_duration_seconds_count{backend="pkcs8",operation="generate"} 1"#
            .into(),
    ])
    .collect();
    assert_eq!(lines(&m, "keychain_operation_duration_seconds"), expected);
}

#[test]
fn cancelled_appears_once_it_happens() {
    let m = Metrics::new();
    let h = m.operation(Op::Sign, "tpm2");
    h.record(Status::Success, Duration::from_millis(1));
    assert!(!m.encode_text().contains("cancelled"));
    h.record(Status::Cancelled, Duration::from_millis(7));
    assert_eq!(
        lines(&m, "keychain_operations_total"),
        [
            r#"keychain_operations_total{backend="tpm2",operation="sign",status="success"} 1"#,
            r#"keychain_operations_total{backend="tpm2",operation="sign",status="error"} 0"#,
            r#"keychain_operations_total{backend="tpm2",operation="sign",status="cancelled"} 1"#,
        ]
    );
    assert_eq!(
        lines(&m, "keychain_operation_duration_seconds_count"),
        [r#"keychain_operation_duration_seconds_count{backend="tpm2",operation="sign"} 2"#]
    );
}

#[test]
fn handle_and_label_path_share_a_series() {
    let m = Metrics::new();
    let h = m.operation(Op::Encrypt, "awskms");
    h.record(Status::Success, Duration::from_millis(2));
    m.record_operation(
        Op::Encrypt,
        "awskms",
        Status::Success,
        Duration::from_millis(2),
    );
    let text = m.encode_text();
    let v = crate::testing::value(
        &text,
        "keychain_operations_total",
        &[
            ("operation", "encrypt"),
            ("backend", "awskms"),
            ("status", "success"),
        ],
    );
    assert_eq!(v, Some(2.0));
    assert_eq!(
        crate::testing::value(
            &text,
            "keychain_operation_duration_seconds_sum",
            &[("backend", "awskms")]
        ),
        Some(0.004)
    );
}

#[test]
fn record_error_counts_by_error_type() {
    let m = Metrics::new();
    m.record_error(Op::Get, "pkcs11", "key_not_found");
    m.record_error(Op::Get, "pkcs11", "key_not_found");
    m.record_error(Op::Get, "pkcs11", "timeout");
    assert_eq!(
        lines(&m, "keychain_errors_total"),
        [
            r#"keychain_errors_total{backend="pkcs11",error_type="key_not_found",operation="get"} 2"#,
            r#"keychain_errors_total{backend="pkcs11",error_type="timeout",operation="get"} 1"#,
        ]
    );
}

#[test]
fn handle_error_cache_counts_every_type_past_its_slots() {
    let m = Metrics::new();
    let h = m.operation(Op::Import, "pkcs8");
    let types = ["a", "b", "c", "d", "e", "f"];
    for _ in 0..3 {
        for t in types {
            h.record_error(t);
        }
    }
    let text = m.encode_text();
    for t in types {
        assert_eq!(
            crate::testing::value(&text, "keychain_errors_total", &[("error_type", t)]),
            Some(3.0),
            "{t}"
        );
    }
}

#[test]
fn record_http_request_classifies_method_and_code() {
    let m = Metrics::new();
    m.record_http_request("GET", 200, Duration::from_millis(20));
    m.record_http_request("GET", 200, Duration::from_millis(20));
    m.record_http_request("BREW", 418, Duration::from_millis(1));
    m.record_http_request("get", 404, Duration::from_millis(1));
    m.record_http_request("POST", 42, Duration::from_millis(1));
    assert_eq!(
        lines(&m, "keychain_http_requests_total"),
        [
            r#"keychain_http_requests_total{method="GET",status_code="200"} 2"#,
            r#"keychain_http_requests_total{method="OTHER",status_code="418"} 1"#,
            r#"keychain_http_requests_total{method="OTHER",status_code="404"} 1"#,
            r#"keychain_http_requests_total{method="POST",status_code="other"} 1"#,
        ]
    );
    assert_eq!(
        lines(
            &m,
            "keychain_http_request_duration_seconds_bucket{method=\"GET\",le=\"0.025\"}"
        ),
        [r#"keychain_http_request_duration_seconds_bucket{method="GET",le="0.025"} 2"#]
    );
    assert_eq!(
        lines(
            &m,
            "keychain_http_request_duration_seconds_bucket{method=\"GET\",le=\"0.01\"}"
        ),
        [r#"keychain_http_request_duration_seconds_bucket{method="GET",le="0.01"} 0"#]
    );
}

#[test]
fn record_grpc_request_uses_code_names() {
    let m = Metrics::new();
    let path = "/keychain.v1.KeychainService/Generate";
    m.record_grpc_request(path, GrpcCode::Ok, Duration::from_millis(50));
    m.record_grpc_request(path, GrpcCode::from_i32(5), Duration::from_millis(1));
    m.record_grpc_request(path, GrpcCode::from_i32(99), Duration::from_millis(1));
    assert_eq!(
        lines(&m, "keychain_grpc_requests_total"),
        [
            r#"keychain_grpc_requests_total{method="/keychain.v1.KeychainService/Generate",status_code="OK"} 1"#,
            r#"keychain_grpc_requests_total{method="/keychain.v1.KeychainService/Generate",status_code="NotFound"} 1"#,
            r#"keychain_grpc_requests_total{method="/keychain.v1.KeychainService/Generate",status_code="Unknown"} 1"#,
        ]
    );
    assert_eq!(
        lines(&m, "keychain_grpc_request_duration_seconds_count"),
        [
            r#"keychain_grpc_request_duration_seconds_count{method="/keychain.v1.KeychainService/Generate"} 3"#
        ]
    );
}

#[test]
fn backend_gauges_are_set() {
    let m = Metrics::new();
    m.set_keys_total("pkcs8", 15);
    m.set_keys_total("pkcs8", 14);
    m.set_certs_total("pkcs8", 8);
    m.set_backend_healthy("pkcs8", true);
    m.set_backend_healthy("tpm2", false);
    assert_eq!(
        lines(&m, "keychain_keys_total{"),
        [r#"keychain_keys_total{backend="pkcs8"} 14"#]
    );
    assert_eq!(
        lines(&m, "keychain_certs_total{"),
        [r#"keychain_certs_total{backend="pkcs8"} 8"#]
    );
    assert_eq!(
        lines(&m, "keychain_backend_healthy{"),
        [
            r#"keychain_backend_healthy{backend="pkcs8"} 1"#,
            r#"keychain_backend_healthy{backend="tpm2"} 0"#,
        ]
    );
}

#[test]
fn connection_guards_count_in_flight() {
    let m = Metrics::new();
    let a = m.track_connection(Protocol::Http);
    let b = m.track_connection(Protocol::Http);
    let c = m.track_connection_owned(Protocol::Mcp);
    let text = m.encode_text();
    assert_eq!(
        crate::testing::value(
            &text,
            "keychain_active_connections",
            &[("protocol", "http")]
        ),
        Some(2.0)
    );
    assert_eq!(
        crate::testing::value(&text, "keychain_active_connections", &[("protocol", "mcp")]),
        Some(1.0)
    );
    assert_eq!(
        crate::testing::value(
            &text,
            "keychain_active_connections",
            &[("protocol", "grpc")]
        ),
        Some(0.0)
    );
    drop((a, b, c));
    assert_eq!(
        lines(&m, "keychain_active_connections{"),
        [
            r#"keychain_active_connections{protocol="http"} 0"#,
            r#"keychain_active_connections{protocol="grpc"} 0"#,
            r#"keychain_active_connections{protocol="quic"} 0"#,
            r#"keychain_active_connections{protocol="mcp"} 0"#,
        ]
    );
}

#[test]
fn owned_guard_moves_across_threads() {
    let m = Metrics::new();
    let guard = m.track_connection_owned(Protocol::Grpc);
    std::thread::spawn(move || drop(guard)).join().unwrap();
    assert_eq!(
        crate::testing::value(
            &m.encode_text(),
            "keychain_active_connections",
            &[("protocol", "grpc")]
        ),
        Some(0.0)
    );
}

#[test]
fn instances_are_isolated() {
    let a = Metrics::new();
    let b = Metrics::new();
    a.record_operation(Op::List, "memory", Status::Success, Duration::ZERO);
    assert!(b
        .encode_text()
        .lines()
        .all(|l| !l.contains("operation=\"list\"")));
}

#[test]
fn empty_instance_exposes_only_the_connection_gauge() {
    let text = Metrics::new().encode_text();
    let families: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
    assert_eq!(families, ["# TYPE keychain_active_connections gauge"]);
}

#[test]
fn labels_parse_back_from_their_enums() {
    for op in Op::ALL {
        assert_eq!(op.as_str().parse::<Op>(), Ok(*op));
    }
    assert_eq!(Op::HealthCheck.as_str(), "health_check");
    assert_eq!(Op::ALL.len(), 15);
    let err = "genrate".parse::<Op>().unwrap_err();
    assert_eq!(err.to_string(), r#"unknown operation value "genrate""#);
    assert_eq!("cancelled".parse::<Status>(), Ok(Status::Cancelled));
    assert_eq!("mcp".parse::<Protocol>(), Ok(Protocol::Mcp));
    assert_eq!(GrpcCode::from_i32(16).as_str(), "Unauthenticated");
    assert_eq!(GrpcCode::from_i32(-1), GrpcCode::Unknown);
}

#[test]
fn status_takes_its_sorted_place_among_constant_labels() {
    // `app` sorts first, `region` between `operation` and `status`, `zone` last.
    let m = Metrics::builder()
        .const_label("zone", "z\"1")
        .const_label("app", "kc")
        .const_label("region", "eu")
        .build()
        .expect("valid");
    m.record_operation(
        Op::Sign,
        "tpm2",
        Status::Cancelled,
        Duration::from_millis(1),
    );
    assert_eq!(
        lines(&m, "keychain_operations_total"),
        [
            r#"keychain_operations_total{app="kc",backend="tpm2",operation="sign",region="eu",status="success",zone="z\"1"} 0"#,
            r#"keychain_operations_total{app="kc",backend="tpm2",operation="sign",region="eu",status="error",zone="z\"1"} 0"#,
            r#"keychain_operations_total{app="kc",backend="tpm2",operation="sign",region="eu",status="cancelled",zone="z\"1"} 1"#,
        ]
    );
    // Only a label after `status`, and only one before it.
    for (name, expected) in [
        (
            "zz",
            r#"keychain_operations_total{backend="tpm2",operation="sign",status="success",zz="v"} 1"#,
        ),
        (
            "aa",
            r#"keychain_operations_total{aa="v",backend="tpm2",operation="sign",status="success"} 1"#,
        ),
    ] {
        let m = Metrics::builder()
            .const_label(name, "v")
            .build()
            .expect("valid");
        m.record_operation(Op::Sign, "tpm2", Status::Success, Duration::from_millis(1));
        assert_eq!(lines(&m, "keychain_operations_total")[0], expected);
    }
}
