//! The `prometheus` registry holds the contract's metrics, serves the user's own beside
//! them, and the `prometheus` crate's own encoder agrees with ours.

mod common;

use std::time::Duration;

use keychain_metrics::{GrpcCode, Metrics, Op, Protocol, Status};
use prometheus::{Encoder, TextEncoder};

fn populate(m: &Metrics) {
    m.record_operation(
        Op::Generate,
        "pkcs8",
        Status::Success,
        Duration::from_millis(3),
    );
    m.record_operation(
        Op::Generate,
        "pkcs8",
        Status::Cancelled,
        Duration::from_millis(70),
    );
    m.record_operation(Op::Sign, "tpm2", Status::Error, Duration::from_secs(3));
    m.record_error(Op::Sign, "tpm2", "device \"busy\"");
    m.record_http_request("GET", 200, Duration::from_millis(12));
    m.record_grpc_request(
        "/k.v1.K/Get",
        GrpcCode::NotFound,
        Duration::from_micros(900),
    );
    m.set_keys_total("pkcs8", 15);
    m.set_certs_total("pkcs8", 8);
    m.set_backend_healthy("tpm2", false);
}

#[test]
fn text_encoder_of_gather_matches_our_exposition() {
    let m = Metrics::builder()
        .const_label("region", "eu")
        .build()
        .unwrap();
    populate(&m);
    let _guard = m.track_connection(Protocol::Http);
    let mut theirs = Vec::new();
    TextEncoder::new()
        .encode(&m.registry().gather(), &mut theirs)
        .unwrap();
    let theirs = String::from_utf8(theirs).unwrap();
    let sort = |mut v: Vec<common::Sample>| {
        v.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
        v
    };
    let ours = sort(common::parse(&m.encode_text()));
    let theirs = sort(common::parse(&theirs));
    // operations 3 + 2 lines, 2 operation histograms of 12 + 3 lines, 1 error, HTTP and
    // gRPC 1 + (11 + 3) each, 4 connection gauges, 3 backend gauges.
    assert_eq!(ours.len(), 5 + 2 * 15 + 1 + 2 * 15 + 4 + 3);
    assert_eq!(ours, theirs);
}

#[test]
fn user_metrics_are_served_beside_ours() {
    let m = Metrics::new();
    let queue = prometheus::IntGauge::new("keychain_queue_depth", "Jobs waiting.").unwrap();
    m.registry().register(Box::new(queue.clone())).unwrap();
    queue.set(4);
    m.record_operation(Op::Get, "memory", Status::Success, Duration::ZERO);
    let text = m.encode_text();
    assert!(text.contains("# TYPE keychain_queue_depth gauge\nkeychain_queue_depth 4\n"));
    assert_eq!(
        text.matches("# TYPE keychain_operations_total counter")
            .count(),
        1
    );
}

#[test]
fn registering_a_contract_name_twice_is_refused() {
    let m = Metrics::new();
    let clash = prometheus::IntCounter::new("keychain_operations_total", "Clash.").unwrap();
    assert!(m.registry().register(Box::new(clash)).is_err());
}

#[test]
fn gather_after_the_instance_is_dropped_is_empty() {
    let m = Metrics::new();
    populate(&m);
    let registry = m.registry().clone();
    drop(m);
    assert!(registry.gather().is_empty());
}
