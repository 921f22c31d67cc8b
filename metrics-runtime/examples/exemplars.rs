//! Exemplars from an incoming W3C `traceparent`: a request's trace becomes the exemplar
//! of the operations recorded while serving it, shown in the OpenMetrics exposition.
//!
//! `cargo run --example exemplars`

use std::time::Duration;

use keychain_metrics::trace::TraceContext;
use keychain_metrics::{Metrics, Op, Status};

fn main() {
    let metrics = Metrics::builder()
        .exemplars(true)
        .build()
        .expect("the default buckets and names are valid");
    let sign = metrics.operation(Op::Sign, "pkcs11");

    // Outside a trace: counted, no exemplar.
    sign.record(Status::Success, Duration::from_millis(3));

    // What the HTTP and gRPC layers do for a request with this header.
    let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    if let Some(trace) = TraceContext::from_traceparent(header) {
        let _entered = trace.enter();
        sign.record(Status::Success, Duration::from_millis(240));
        sign.record(Status::Error, Duration::from_secs(2));
        sign.record_error("timeout");
    }

    for line in metrics.encode_openmetrics().lines() {
        if line.contains(" # {") {
            println!("{line}");
        }
    }
}
