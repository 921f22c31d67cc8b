//! Hostile label values: whatever strings arrive as backend, error type, HTTP method or
//! gRPC path (through the recording API, and through the HTTP and gRPC layers as a
//! client would send them), both expositions parse back to exactly the values recorded
//! (values past the cap or longer than [`MAX_LABEL_LEN`] counted under [`OVERFLOW`]),
//! every count is kept, no label takes more than [`CAP`] + 1 values, and nothing is
//! left in flight.

use std::collections::BTreeMap;
use std::time::Duration;

use keychain_metrics::{GrpcCode, Metrics, Op, Status, MAX_LABEL_LEN, OVERFLOW};

use crate::exposition::{self, series, series_where, Format};
use crate::layered;
use crate::Violation;

/// The cap on distinct values per label in these checks: small, so inputs reach it.
pub const CAP: usize = 4;

/// The backend that error records are made under.
const ERROR_BACKEND: &str = "pkcs8";

/// The nine methods that keep their name; any other is `OTHER` (RFC 9110, case-sensitive).
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// Where a value goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// `backend` of an operation.
    Backend,
    /// `error_type` of an error.
    ErrorType,
    /// `method` of an HTTP request.
    HttpMethod,
    /// `method` (the path) of a gRPC call.
    GrpcPath,
    /// A request method through the HTTP layer (skipped if not a valid method token:
    /// no HTTP server would pass it on).
    LayerMethod,
    /// A request path through the gRPC layer (skipped if not a valid URI path).
    LayerPath,
}

/// One recording.
#[derive(Debug, Clone)]
pub struct Record {
    /// Which label gets the value.
    pub slot: Slot,
    /// The value.
    pub value: String,
}

/// Reads fuzzer bytes as records: a slot byte, a length byte, that many bytes (as UTF-8,
/// invalid sequences replaced: the API takes `&str` and the layers see valid tokens and
/// paths only), repeated; at most 64 records.
pub fn decode(mut data: &[u8]) -> Vec<Record> {
    let mut records = Vec::new();
    while let [slot, len, rest @ ..] = data {
        let stretch = *len == u8::MAX;
        let len = usize::from(*len).min(rest.len());
        let slot = match slot % 6 {
            0 => Slot::Backend,
            1 => Slot::ErrorType,
            2 => Slot::HttpMethod,
            3 => Slot::GrpcPath,
            4 => Slot::LayerMethod,
            _ => Slot::LayerPath,
        };
        // A length of 255 stretches the value past MAX_LABEL_LEN.
        let mut value = String::from_utf8_lossy(&rest[..len]).into_owned();
        if stretch {
            value = value.repeat(2);
        }
        records.push(Record { slot, value });
        data = &rest[len..];
        if records.len() == 64 {
            break;
        }
    }
    records
}

/// Records `records` into a fresh instance and checks both expositions against a model
/// of what they must say; returns how many were recorded (the rest were skipped: no
/// server would pass them to a layer).
pub fn check(records: &[Record]) -> Result<usize, Violation> {
    let metrics = Metrics::builder()
        .max_label_values(CAP)
        .build()
        .map_err(|e| e.to_string())?;
    let mut model = Model::default();
    let mut recorded = 0;
    let took = Duration::from_micros(250);
    for r in records {
        let v = r.value.as_str();
        recorded += 1;
        match r.slot {
            Slot::Backend => {
                metrics.record_operation(Op::Sign, v, Status::Success, took);
                let b = model.backends.admit(v);
                *model.operations.entry(vec![b]).or_default() += 1.0;
            }
            Slot::ErrorType => {
                metrics.record_error(Op::Get, ERROR_BACKEND, v);
                let b = model.backends.admit(ERROR_BACKEND);
                let e = model.error_types.admit(v);
                *model.errors.entry(vec![b, e]).or_default() += 1.0;
            }
            Slot::HttpMethod => {
                metrics.record_http_request(v, 200, took);
                model.http_request(v);
            }
            Slot::GrpcPath => {
                metrics.record_grpc_request(v, GrpcCode::Ok, took);
                model.grpc_call(v);
            }
            Slot::LayerMethod => {
                let Ok(method) = http::Method::from_bytes(v.as_bytes()) else {
                    recorded -= 1;
                    continue;
                };
                layered::http(&metrics, method)?;
                model.http_request(v);
            }
            Slot::LayerPath => {
                let uri = match http::Uri::try_from(v) {
                    Ok(uri) if uri.scheme().is_none() && v.starts_with('/') => uri,
                    _ => {
                        recorded -= 1;
                        continue;
                    }
                };
                model.grpc_call(uri.path());
                layered::grpc(&metrics, uri)?;
            }
        }
    }
    for format in [Format::Text, Format::OpenMetrics] {
        let text = match format {
            Format::Text => metrics.encode_text(),
            Format::OpenMetrics => metrics.encode_openmetrics(),
        };
        let samples = exposition::parse(&text, format).map_err(|e| format!("{format:?}: {e}"))?;
        model
            .compare(&samples)
            .map_err(|e| format!("{format:?}: {e}"))?;
    }
    Ok(recorded)
}

/// The first [`CAP`] distinct values of a label, as the runtime documents it.
#[derive(Default)]
struct Cap(Vec<String>);

impl Cap {
    fn admit(&mut self, v: &str) -> String {
        if v == OVERFLOW || self.0.iter().any(|seen| seen == v) {
            return v.to_owned();
        }
        if v.len() > MAX_LABEL_LEN || self.0.len() == CAP {
            return OVERFLOW.to_owned();
        }
        self.0.push(v.to_owned());
        v.to_owned()
    }
}

type Counts = BTreeMap<Vec<String>, f64>;

#[derive(Default)]
struct Model {
    backends: Cap,
    error_types: Cap,
    grpc_paths: Cap,
    /// `sign` successes by backend.
    operations: Counts,
    /// `get` errors by backend and error type.
    errors: Counts,
    /// Status 200 requests by method.
    http: Counts,
    /// `OK` calls by path.
    grpc: Counts,
}

impl Model {
    /// A request with `method` answered 200.
    fn http_request(&mut self, method: &str) {
        let m = if METHODS.contains(&method) {
            method
        } else {
            "OTHER"
        };
        *self.http.entry(vec![m.to_owned()]).or_default() += 1.0;
    }

    /// A call of `path` answered `OK`.
    fn grpc_call(&mut self, path: &str) {
        let p = self.grpc_paths.admit(path);
        *self.grpc.entry(vec![p]).or_default() += 1.0;
    }

    fn compare(&self, samples: &[exposition::Sample]) -> Result<(), Violation> {
        let only = |name: &str, labels: &[&str], fixed: &[(&str, &str)]| {
            series_where(samples, name, labels, fixed)
        };
        let expect = |what: &str, got: Counts, want: &Counts| {
            if got == *want {
                Ok(())
            } else {
                Err(format!("{what}: exposed {got:?}, recorded {want:?}"))
            }
        };
        let ops = only(
            "keychain_operations_total",
            &["backend"],
            &[("operation", "sign"), ("status", "success")],
        );
        expect("operations", ops, &self.operations)?;
        let durations = only(
            "keychain_operation_duration_seconds_count",
            &["backend"],
            &[("operation", "sign")],
        );
        expect("operation durations", durations, &self.operations)?;
        let errors = series(samples, "keychain_errors_total", &["backend", "error_type"]);
        expect("errors", errors, &self.errors)?;
        let http = only(
            "keychain_http_requests_total",
            &["method"],
            &[("status_code", "200")],
        );
        expect("HTTP requests", http, &self.http)?;
        let grpc = only(
            "keychain_grpc_requests_total",
            &["method"],
            &[("status_code", "OK")],
        );
        expect("gRPC calls", grpc, &self.grpc)?;
        let grpc_durations = series(
            samples,
            "keychain_grpc_request_duration_seconds_count",
            &["method"],
        );
        expect("gRPC durations", grpc_durations, &self.grpc)?;
        let in_flight: f64 = series(samples, "keychain_active_connections", &["protocol"])
            .values()
            .sum();
        if in_flight != 0.0 {
            return Err(format!("{in_flight} requests left in flight"));
        }
        for (label, values) in [
            ("backend", self.operations.len()),
            ("error_type", self.errors.len()),
            ("gRPC method", self.grpc.len()),
        ] {
            if values > CAP + 1 {
                return Err(format!("{values} {label} values past the cap of {CAP}"));
            }
        }
        Ok(())
    }
}
