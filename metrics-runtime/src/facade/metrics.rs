//! [`Metrics`]: a shared handle on one store. Each method says what is recorded and
//! hands the work to the store; the builder, handles, connection guards and the global
//! instance add their own methods in their files.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::contract::buckets::nanos;
use crate::contract::labels::{GrpcCode, HttpMethod, Status};
use crate::contract::operation::Operation;
use crate::contract::{BACKEND_HEALTHY, CERTS, KEYS};
use crate::exposition::{self, Format, TextFormat};
use crate::store::families::series::saturating_i64;
use crate::store::Store;

/// The metrics of one keychain service: the contract's series, the switch that enables
/// recording, and a [`prometheus::Registry`] for metrics of your own.
///
/// Cloning is cheap and shares the instance. Tests build their own with
/// [`Metrics::new`] and run in parallel; the `#[instrument_op]` attribute records into
/// [`Metrics::global`] unless told otherwise.
///
/// ```
/// use std::time::Duration;
/// use keychain_metrics::{Metrics, Op, Status};
///
/// let metrics = Metrics::new();
/// metrics.record_operation(Op::Generate, "pkcs8", Status::Success, Duration::from_millis(3));
/// assert!(metrics.encode_text().contains(
///     r#"keychain_operations_total{backend="pkcs8",operation="generate",status="success"} 1"#
/// ));
/// ```
#[derive(Clone)]
pub struct Metrics {
    pub(crate) store: Arc<Store>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field(
                "operations_metric",
                &self.store.name(&crate::contract::OPERATIONS),
            )
            .field("enabled", &self.is_enabled())
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// The registry that holds the contract's metrics. Register your own collectors here
    /// and they are served beside ours by [`Metrics::encode_text`] and the metrics endpoint;
    /// `registry().gather()` returns ours and yours.
    pub fn registry(&self) -> &prometheus::Registry {
        &self.store.registry
    }

    /// Resumes recording.
    pub fn enable(&self) {
        self.store.set_enabled(true);
    }

    /// Stops recording: until [`Metrics::enable`], every recording call, handle and new
    /// connection guard does nothing. Values recorded so far are still exposed.
    pub fn disable(&self) {
        self.store.set_enabled(false);
    }

    /// Whether recording is on.
    pub fn is_enabled(&self) -> bool {
        self.store.enabled()
    }

    /// Whether `self` and `other` are the same instance (clones of one another).
    pub(crate) fn same(&self, other: &Metrics) -> bool {
        Arc::ptr_eq(&self.store, &other.store)
    }

    /// Records one operation: `keychain_operations_total{operation,backend,status}` and
    /// `keychain_operation_duration_seconds{operation,backend}`. Looks the series up by
    /// label values; prefer [`Metrics::operation`] on hot paths.
    ///
    /// `op` is an [`Op`](crate::Op), a `&'static str` (`"unwrap_key"`; an invalid name
    /// is recorded as `other`) or an enum deriving [`Operation`](derive@crate::Operation).
    pub fn record_operation(
        &self,
        op: impl Into<Operation>,
        backend: &str,
        status: Status,
        duration: Duration,
    ) {
        self.store
            .record_operation(op.into(), backend, status, nanos(duration));
    }

    /// Counts one error: `keychain_errors_total{operation,backend,error_type}`.
    pub fn record_error(&self, op: impl Into<Operation>, backend: &str, error_type: &str) {
        self.store.record_error(op.into(), backend, error_type);
    }

    /// Records one HTTP request. `method` outside the nine standard methods is recorded
    /// as `OTHER`; a status code outside `100..=999` as `other`.
    pub fn record_http_request(&self, method: &str, status_code: u16, duration: Duration) {
        self.record_http(HttpMethod::from_method(method), status_code, duration);
    }

    /// [`Metrics::record_http_request`] with the method already classified.
    pub fn record_http(&self, method: HttpMethod, status_code: u16, duration: Duration) {
        self.store.record_http(method, status_code, nanos(duration));
    }

    /// Records one gRPC call by its full method path (`/package.Service/Method`).
    /// Distinct paths are capped; see
    /// [`MetricsBuilder::max_label_values`](crate::MetricsBuilder::max_label_values).
    pub fn record_grpc_request(&self, method_path: &str, code: GrpcCode, duration: Duration) {
        self.store.record_grpc(method_path, code, nanos(duration));
    }

    /// Sets `keychain_keys_total{backend}`.
    pub fn set_keys_total(&self, backend: &str, keys: u64) {
        let s = &self.store;
        s.set(&KEYS, &s.families.keys, [backend], saturating_i64(keys));
    }

    /// Sets `keychain_certs_total{backend}`.
    pub fn set_certs_total(&self, backend: &str, certs: u64) {
        let s = &self.store;
        s.set(&CERTS, &s.families.certs, [backend], saturating_i64(certs));
    }

    /// Sets `keychain_backend_healthy{backend}` to 1 or 0.
    pub fn set_backend_healthy(&self, backend: &str, healthy: bool) {
        let s = &self.store;
        s.set(
            &BACKEND_HEALTHY,
            &s.families.healthy,
            [backend],
            i64::from(healthy),
        );
    }

    /// The exposition in the Prometheus text format 0.0.4: the contract's metrics, then
    /// those registered in [`Metrics::registry`].
    pub fn encode_text(&self) -> String {
        let mut out = String::new();
        self.encode_into(TextFormat::Text, &mut out);
        out
    }

    /// The exposition in OpenMetrics 1.0 text, ending in `# EOF`.
    pub fn encode_openmetrics(&self) -> String {
        let mut out = String::new();
        self.encode_into(TextFormat::OpenMetrics, &mut out);
        out
    }

    /// Appends the exposition in a text `format` to `out`. With a reused `out` (cleared
    /// by the caller) and no metrics of your own registered, this does not allocate once
    /// the buffer has grown to size. [`Metrics::encode`] writes any format as bytes.
    pub fn encode_into(&self, format: TextFormat, out: &mut String) {
        exposition::encode(&self.store, format, out);
    }

    /// Appends the exposition in `format`, text or protobuf, to `out`: what an endpoint
    /// sends under [`Format::content_type`]. A text format reuses `out`'s allocation
    /// when `out` holds UTF-8 (an empty buffer does).
    pub fn encode(&self, format: Format, out: &mut Vec<u8>) {
        exposition::encode_bytes(&self.store, format, out);
    }

    /// Appends the protobuf exposition to `out`: length-delimited
    /// `io.prometheus.client.MetricFamily` messages
    /// ([`PROTOBUF_CONTENT_TYPE`](crate::PROTOBUF_CONTENT_TYPE)), the duration
    /// histograms with their native buckets beside the classic ones.
    pub fn encode_protobuf(&self, out: &mut Vec<u8>) {
        exposition::protobuf::encode(&self.store, out);
    }
}
