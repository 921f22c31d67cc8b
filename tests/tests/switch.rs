//! Disabling is real: nothing is recorded, and connection guards always balance.

mod common;

use std::time::Duration;

use keychain_metrics::{GrpcCode, Metrics, Op, Protocol, Status};

fn record_everything(m: &Metrics) {
    m.record_operation(
        Op::Generate,
        "pkcs8",
        Status::Success,
        Duration::from_millis(1),
    );
    m.operation(Op::Sign, "pkcs8")
        .record(Status::Error, Duration::from_millis(1));
    m.operation(Op::Sign, "pkcs8").record_error("bad");
    m.record_error(Op::Get, "pkcs8", "key_not_found");
    m.record_http_request("GET", 200, Duration::from_millis(1));
    m.record_grpc_request("/a.B/C", GrpcCode::Ok, Duration::from_millis(1));
    m.set_keys_total("pkcs8", 3);
    m.set_certs_total("pkcs8", 3);
    m.set_backend_healthy("pkcs8", true);
}

#[test]
fn disabled_records_nothing() {
    let m = Metrics::new();
    let handle = m.operation(Op::Verify, "pkcs8");
    m.disable();
    assert!(!m.is_enabled());
    record_everything(&m);
    handle.record(Status::Success, Duration::from_millis(1));
    handle.record_error("x");
    let _guard = m.track_connection(Protocol::Http);
    let text = m.encode_text();
    let samples = common::parse(&text);
    assert!(
        samples.iter().all(|s| s.value == 0.0),
        "disabled instance recorded: {text}"
    );
    assert!(!text.contains("keychain_errors_total"));
    assert!(!text.contains("keychain_keys_total"));
}

#[test]
fn enable_resumes() {
    let m = Metrics::new();
    m.disable();
    record_everything(&m);
    m.enable();
    record_everything(&m);
    let text = m.encode_text();
    assert_eq!(
        common::value(
            &text,
            "keychain_operations_total",
            &[("operation", "generate"), ("status", "success")]
        ),
        Some(1.0)
    );
    assert_eq!(
        common::value(&text, "keychain_http_requests_total", &[]),
        Some(1.0)
    );
}

#[test]
fn guard_made_while_enabled_decrements_after_disable() {
    let m = Metrics::new();
    let guard = m.track_connection(Protocol::Grpc);
    m.disable();
    drop(guard);
    m.enable();
    let text = m.encode_text();
    assert_eq!(
        common::value(
            &text,
            "keychain_active_connections",
            &[("protocol", "grpc")]
        ),
        Some(0.0)
    );
}

#[test]
fn guard_made_while_disabled_never_decrements() {
    let m = Metrics::new();
    m.disable();
    let guard = m.track_connection_owned(Protocol::Quic);
    m.enable();
    drop(guard);
    let text = m.encode_text();
    assert_eq!(
        common::value(
            &text,
            "keychain_active_connections",
            &[("protocol", "quic")]
        ),
        Some(0.0)
    );
}

#[test]
fn guards_balance_while_another_thread_toggles() {
    let m = Metrics::new();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                m.disable();
                std::thread::yield_now();
                m.enable();
            }
        });
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    for i in 0..200_000 {
                        let g = m.track_connection(Protocol::Http);
                        if i % 7 == 0 {
                            std::thread::yield_now();
                        }
                        drop(g);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let text = m.encode_text();
    assert_eq!(
        common::value(
            &text,
            "keychain_active_connections",
            &[("protocol", "http")]
        ),
        Some(0.0)
    );
}
