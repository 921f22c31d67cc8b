//! Records a few operations into an isolated instance and prints the exposition.
//!
//! `cargo run --example quickstart [-- --openmetrics]`

use std::time::Duration;

use keychain_metrics::{GrpcCode, Metrics, Op, Protocol, Status};

fn main() {
    let metrics = Metrics::new();

    let generate = metrics.operation(Op::Generate, "pkcs8");
    generate.record(Status::Success, Duration::from_micros(850));
    generate.record(Status::Success, Duration::from_millis(4));
    generate.record(Status::Error, Duration::from_millis(12));
    generate.record_error("invalid_params");

    metrics.record_operation(Op::Sign, "tpm2", Status::Success, Duration::from_millis(30));
    metrics.record_http_request("POST", 201, Duration::from_millis(6));
    metrics.record_grpc_request(
        "/keychain.v1.KeychainService/Sign",
        GrpcCode::Ok,
        Duration::from_millis(31),
    );
    metrics.set_keys_total("pkcs8", 15);
    metrics.set_certs_total("pkcs8", 8);
    metrics.set_backend_healthy("pkcs8", true);
    let _in_flight = metrics.track_connection(Protocol::Http);

    let openmetrics = std::env::args().any(|a| a == "--openmetrics");
    if openmetrics {
        print!("{}", metrics.encode_openmetrics());
    } else {
        print!("{}", metrics.encode_text());
    }
}
