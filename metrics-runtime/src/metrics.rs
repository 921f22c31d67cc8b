//! [`Metrics`]: the instance that owns the registry and every series of the contract.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::buckets::{nanos, Buckets};
use crate::builder::MetricsBuilder;
use crate::cap::LabelCap;
use crate::connection::{ConnectionGuard, OwnedConnectionGuard};
use crate::contract::{self, Spec};
use crate::exposition::{self, Format};
use crate::family::Family;
use crate::handle::OperationHandle;
use crate::http_cache::HttpCache;
use crate::labels::*;
use crate::render;
use crate::series::{CounterSeries, GaugeSeries, TimedSeries};
use crate::visit::{DeltaGauges, Exposed, Listed, ProtocolGauges};

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
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) enabled: AtomicBool,
    /// The metric name prefix.
    #[cfg_attr(not(feature = "collector"), allow(dead_code))]
    pub(crate) namespace: String,
    /// When the instance was built: the start of `keychain_server_uptime_seconds`.
    #[cfg_attr(not(feature = "collector"), allow(dead_code))]
    pub(crate) created: std::time::Instant,
    /// Full names, parallel to [`contract::ALL`].
    pub(crate) names: Vec<String>,
    pub(crate) const_labels: Vec<(String, String)>,
    pub(crate) op_buckets: Buckets,
    pub(crate) http_buckets: Buckets,
    pub(crate) grpc_buckets: Buckets,
    pub(crate) operations: Family<TimedSeries, 2>,
    pub(crate) errors: Family<CounterSeries, 3>,
    pub(crate) http_requests: Family<CounterSeries, 2>,
    pub(crate) http_durations: Family<TimedSeries, 1>,
    pub(crate) grpc_requests: Family<CounterSeries, 2>,
    pub(crate) grpc_durations: Family<TimedSeries, 1>,
    /// In-flight gauges, indexed by [`Protocol`].
    pub(crate) active: ProtocolGauges,
    pub(crate) keys: Family<GaugeSeries, 1>,
    pub(crate) certs: Family<GaugeSeries, 1>,
    pub(crate) healthy: Family<GaugeSeries, 1>,
    pub(crate) http_routes: Family<CounterSeries, 3>,
    pub(crate) http_route_durations: Family<TimedSeries, 2>,
    pub(crate) grpc_received: Family<CounterSeries, 1>,
    pub(crate) grpc_sent: Family<CounterSeries, 1>,
    pub(crate) grpc_calls: Family<CounterSeries, 2>,
    pub(crate) tcp_open: DeltaGauges<1>,
    pub(crate) tcp_accepted: Family<CounterSeries, 1>,
    pub(crate) http_cache: HttpCache,
    pub(crate) registry: prometheus::Registry,
}

/// What the builder hands over; everything in it is validated.
pub(crate) struct Parts {
    pub(crate) namespace: String,
    pub(crate) const_labels: Vec<(String, String)>,
    pub(crate) op_buckets: Buckets,
    pub(crate) http_buckets: Buckets,
    pub(crate) grpc_buckets: Buckets,
    pub(crate) max_label_values: usize,
}

impl Inner {
    pub(crate) fn new(parts: Parts) -> Self {
        let backends = Arc::new(LabelCap::new(parts.max_label_values));
        let error_types = Arc::new(LabelCap::new(parts.max_label_values));
        let grpc_methods = Arc::new(LabelCap::new(parts.max_label_values));
        let routes = Arc::new(LabelCap::new(parts.max_label_values));
        let b = || Some(Arc::clone(&backends));
        let g = || Some(Arc::clone(&grpc_methods));
        let mut inner = Inner {
            enabled: AtomicBool::new(true),
            namespace: parts.namespace.clone(),
            created: std::time::Instant::now(),
            names: contract::ALL
                .iter()
                .map(|spec| spec.name(&parts.namespace))
                .collect(),
            const_labels: parts.const_labels,
            op_buckets: parts.op_buckets,
            http_buckets: parts.http_buckets,
            grpc_buckets: parts.grpc_buckets,
            operations: Family::new([None, b()]),
            errors: Family::new([None, b(), Some(error_types)]),
            http_requests: Family::new([None, None]),
            http_durations: Family::new([None]),
            grpc_requests: Family::new([g(), None]),
            grpc_durations: Family::new([g()]),
            active: ProtocolGauges(Vec::new()),
            keys: Family::new([b()]),
            certs: Family::new([b()]),
            healthy: Family::new([b()]),
            http_routes: Family::new([None, Some(Arc::clone(&routes)), None]),
            http_route_durations: Family::new([None, Some(routes)]),
            grpc_received: Family::new([g()]),
            grpc_sent: Family::new([g()]),
            grpc_calls: Family::new([g(), None]),
            tcp_open: DeltaGauges(Family::new([None])),
            tcp_accepted: Family::new([None]),
            http_cache: HttpCache::new(),
            registry: prometheus::Registry::new(),
        };
        inner.active.0 = Protocol::ALL
            .iter()
            .map(|p| inner.counter(&contract::ACTIVE_CONNECTIONS, &[p.as_str()]))
            .collect();
        inner
    }

    /// The full name of a family of [`contract::ALL`].
    pub(crate) fn name(&self, spec: &Spec) -> &str {
        let i = contract::ALL
            .iter()
            .position(|s| std::ptr::eq(*s, spec))
            .unwrap_or_else(|| unreachable!("every spec is listed in contract::ALL"));
        &self.names[i]
    }

    /// Every family but the operations (which are written from one snapshot of their
    /// shared cells), in exposition order.
    pub(crate) fn listing(&self) -> [Listed<'_>; 16] {
        let http = Some(&self.http_buckets);
        let grpc = Some(&self.grpc_buckets);
        [
            self.listed(&contract::ERRORS, &self.errors, None),
            self.listed(&contract::HTTP_REQUESTS, &self.http_requests, None),
            self.listed(&contract::HTTP_DURATION, &self.http_durations, http),
            self.listed(&contract::GRPC_REQUESTS, &self.grpc_requests, None),
            self.listed(&contract::GRPC_DURATION, &self.grpc_durations, grpc),
            self.listed(&contract::ACTIVE_CONNECTIONS, &self.active, None),
            self.listed(&contract::KEYS, &self.keys, None),
            self.listed(&contract::CERTS, &self.certs, None),
            self.listed(&contract::BACKEND_HEALTHY, &self.healthy, None),
            self.listed(&contract::HTTP_ROUTE_REQUESTS, &self.http_routes, None),
            self.listed(
                &contract::HTTP_ROUTE_DURATION,
                &self.http_route_durations,
                http,
            ),
            self.listed(&contract::GRPC_RECEIVED, &self.grpc_received, None),
            self.listed(&contract::GRPC_SENT, &self.grpc_sent, None),
            self.listed(&contract::GRPC_CALLS, &self.grpc_calls, None),
            self.listed(&contract::TCP_OPEN, &self.tcp_open, None),
            self.listed(&contract::TCP_ACCEPTED, &self.tcp_accepted, None),
        ]
    }

    fn listed<'a>(
        &'a self,
        spec: &'static Spec,
        family: &'a dyn Exposed,
        buckets: Option<&'a Buckets>,
    ) -> Listed<'a> {
        Listed {
            spec,
            name: self.name(spec),
            family,
            buckets,
        }
    }

    #[inline]
    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Renders a series' label list: its own pairs plus the constant labels, sorted.
    pub(crate) fn labels(&self, pairs: &[(&str, &str)]) -> Box<str> {
        let mut all: Vec<(&str, &str)> = pairs.to_vec();
        all.extend(
            self.const_labels
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str())),
        );
        render::label_list(&mut all)
    }

    /// The label list of a series of `spec`: `values` under the spec's label names.
    fn spec_labels(&self, spec: &Spec, values: &[&str]) -> Box<str> {
        let pairs: Vec<(&str, &str)> = spec
            .labels
            .iter()
            .copied()
            .zip(values.iter().copied())
            .collect();
        self.labels(&pairs)
    }

    /// A counter (or delta-moved gauge) series of `spec`.
    pub(crate) fn counter(&self, spec: &Spec, values: &[&str]) -> CounterSeries {
        CounterSeries::new(values, self.spec_labels(spec, values))
    }

    /// A histogram series of `spec`, without status cells.
    fn histogram(&self, spec: &Spec, buckets: &Buckets, values: &[&str]) -> TimedSeries {
        TimedSeries::new(buckets, values, self.spec_labels(spec, values), [].into())
    }

    /// An operation series: the duration histogram and a counter per status.
    pub(crate) fn new_operation(&self, [op, backend]: &[&str; 2]) -> TimedSeries {
        let status_labels = Status::ALL
            .iter()
            .map(|s| self.spec_labels(&contract::OPERATIONS, &[op, backend, s.as_str()]))
            .collect();
        let labels = self.spec_labels(&contract::OPERATION_DURATION, &[op, backend]);
        TimedSeries::new(&self.op_buckets, &[op, backend], labels, status_labels)
    }

    pub(crate) fn new_error(&self, values: &[&str; 3]) -> CounterSeries {
        self.counter(&contract::ERRORS, values)
    }

    fn set_gauge(&self, spec: &Spec, family: &Family<GaugeSeries, 1>, backend: &str, value: i64) {
        if self.enabled() {
            family.with(
                [backend],
                |v| GaugeSeries::new(v, self.spec_labels(spec, v)),
                |g| g.set(value),
            );
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("operations_metric", &self.inner.names[0])
            .field("enabled", &self.is_enabled())
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// An isolated instance with the contract's defaults: namespace `keychain`, the
    /// contract's buckets, no constant labels, at most
    /// [`DEFAULT_MAX_LABEL_VALUES`](crate::DEFAULT_MAX_LABEL_VALUES) values per bounded label.
    pub fn new() -> Self {
        MetricsBuilder::default()
            .build()
            .unwrap_or_else(|e| unreachable!("the default configuration is valid: {e}"))
    }

    /// A builder for namespace, buckets, constant labels and label caps.
    pub fn builder() -> MetricsBuilder {
        MetricsBuilder::default()
    }

    /// The registry that holds the contract's metrics. Register your own collectors here
    /// and they are served beside ours by [`Metrics::encode_text`] and the metrics endpoint;
    /// `registry().gather()` returns ours and yours.
    pub fn registry(&self) -> &prometheus::Registry {
        &self.inner.registry
    }

    /// Resumes recording.
    pub fn enable(&self) {
        self.inner.enabled.store(true, Ordering::Relaxed);
    }

    /// Stops recording: until [`Metrics::enable`], every recording call, handle and new
    /// connection guard does nothing. Values recorded so far are still exposed.
    pub fn disable(&self) {
        self.inner.enabled.store(false, Ordering::Relaxed);
    }

    /// Whether recording is on.
    pub fn is_enabled(&self) -> bool {
        self.inner.enabled()
    }

    /// A pre-resolved handle for one (operation, backend) pair: recording through it
    /// touches only this thread's cells, with no hashing, locking or allocation.
    pub fn operation(&self, op: Op, backend: &str) -> OperationHandle {
        let inner = &self.inner;
        let series = inner
            .operations
            .get_or_create([op.as_str(), backend], |v| inner.new_operation(v));
        OperationHandle::new(self.clone(), op, series)
    }

    /// Records one operation: `keychain_operations_total{operation,backend,status}` and
    /// `keychain_operation_duration_seconds{operation,backend}`. Looks the series up by
    /// label values; prefer [`Metrics::operation`] on hot paths.
    pub fn record_operation(&self, op: Op, backend: &str, status: Status, duration: Duration) {
        let inner = &*self.inner;
        if inner.enabled() {
            inner.operations.with(
                [op.as_str(), backend],
                |v| inner.new_operation(v),
                |s| s.record(&inner.op_buckets, Some(status), nanos(duration)),
            );
        }
    }

    /// Counts one error: `keychain_errors_total{operation,backend,error_type}`.
    pub fn record_error(&self, op: Op, backend: &str, error_type: &str) {
        let inner = &*self.inner;
        if inner.enabled() {
            inner.errors.with(
                [op.as_str(), backend, error_type],
                |v| inner.new_error(v),
                |s| s.add(1),
            );
        }
    }

    /// Records one HTTP request. `method` outside the nine standard methods is recorded
    /// as `OTHER`; a status code outside `100..=999` as `other`.
    pub fn record_http_request(&self, method: &str, status_code: u16, duration: Duration) {
        self.record_http(HttpMethod::from_method(method), status_code, duration);
    }

    /// [`Metrics::record_http_request`] with the method already classified.
    pub fn record_http(&self, method: HttpMethod, status_code: u16, duration: Duration) {
        let inner = &*self.inner;
        if !inner.enabled() {
            return;
        }
        let counter = match inner.http_cache.counter(method, status_code) {
            Some(series) => series,
            None => {
                let mut digits = itoa::Buffer::new();
                let code = http_code_label(status_code, &mut digits);
                let series = inner
                    .http_requests
                    .get_or_create([method.as_str(), code], |v| {
                        inner.counter(&contract::HTTP_REQUESTS, v)
                    });
                series.add(1);
                inner.http_cache.remember(method, status_code, series);
                return self.record_http_duration(method, duration);
            }
        };
        counter.add(1);
        self.record_http_duration(method, duration);
    }

    fn record_http_duration(&self, method: HttpMethod, duration: Duration) {
        let inner = &*self.inner;
        let series = inner.http_cache.duration(method, || {
            inner.http_durations.get_or_create([method.as_str()], |v| {
                inner.histogram(&contract::HTTP_DURATION, &inner.http_buckets, v)
            })
        });
        series.record(&inner.http_buckets, None, nanos(duration));
    }

    /// Records one gRPC call by its full method path (`/package.Service/Method`).
    /// Distinct paths are capped; see [`MetricsBuilder::max_label_values`].
    pub fn record_grpc_request(&self, method_path: &str, code: GrpcCode, duration: Duration) {
        let inner = &*self.inner;
        if !inner.enabled() {
            return;
        }
        inner.grpc_requests.with(
            [method_path, code.as_str()],
            |v| inner.counter(&contract::GRPC_REQUESTS, v),
            |s| s.add(1),
        );
        inner.grpc_durations.with(
            [method_path],
            |v| inner.histogram(&contract::GRPC_DURATION, &inner.grpc_buckets, v),
            |s| s.record(&inner.grpc_buckets, None, nanos(duration)),
        );
    }

    /// One gRPC call as the layer saw it: the contract's counter and histogram, and the
    /// message counts and call type beyond it. A path answered `Unimplemented` that has
    /// never been answered otherwise is recorded as `other`: a client cannot create
    /// series by calling paths the server does not serve.
    #[cfg(feature = "grpc")]
    pub(crate) fn record_grpc_call(
        &self,
        path: &str,
        code: GrpcCode,
        duration: Duration,
        received: u64,
        sent: u64,
    ) {
        let inner = &*self.inner;
        if !inner.enabled() {
            return;
        }
        let path = if code == GrpcCode::Unimplemented && !inner.grpc_durations.contains([path]) {
            crate::cap::OVERFLOW
        } else {
            path
        };
        self.record_grpc_request(path, code, duration);
        let call_type = match (received > 1, sent > 1) {
            (false, false) => "unary",
            (true, false) => "client_streaming",
            (false, true) => "server_streaming",
            (true, true) => "bidi_streaming",
        };
        inner.grpc_received.with(
            [path],
            |v| inner.counter(&contract::GRPC_RECEIVED, v),
            |s| s.add(received),
        );
        inner.grpc_sent.with(
            [path],
            |v| inner.counter(&contract::GRPC_SENT, v),
            |s| s.add(sent),
        );
        inner.grpc_calls.with(
            [path, call_type],
            |v| inner.counter(&contract::GRPC_CALLS, v),
            |s| s.add(1),
        );
    }

    /// One HTTP request under its matched route template.
    #[cfg(feature = "axum")]
    pub(crate) fn record_http_route(
        &self,
        method: HttpMethod,
        route: &str,
        status_code: u16,
        duration: Duration,
    ) {
        let inner = &*self.inner;
        if !inner.enabled() {
            return;
        }
        let mut digits = itoa::Buffer::new();
        let code = http_code_label(status_code, &mut digits);
        let method = method.as_str();
        inner.http_routes.with(
            [method, route, code],
            |v| inner.counter(&contract::HTTP_ROUTE_REQUESTS, v),
            |s| s.add(1),
        );
        inner.http_route_durations.with(
            [method, route],
            |v| inner.histogram(&contract::HTTP_ROUTE_DURATION, &inner.http_buckets, v),
            |s| s.record(&inner.http_buckets, None, nanos(duration)),
        );
    }

    /// Counts a connection or request in flight until the guard drops:
    /// `keychain_active_connections{protocol}`. The guard borrows this instance; use
    /// [`Metrics::track_connection_owned`] to move it into a `'static` task.
    ///
    /// A guard created while recording is disabled does nothing; one created while it
    /// is enabled decrements on drop exactly once, whatever the switch did meanwhile.
    pub fn track_connection(&self, protocol: Protocol) -> ConnectionGuard<'_> {
        ConnectionGuard::new(&self.inner, protocol)
    }

    /// Like [`Metrics::track_connection`], holding a clone of this instance.
    pub fn track_connection_owned(&self, protocol: Protocol) -> OwnedConnectionGuard {
        OwnedConnectionGuard::new(self, protocol)
    }

    /// Sets `keychain_keys_total{backend}`.
    pub fn set_keys_total(&self, backend: &str, keys: u64) {
        let inner = &*self.inner;
        inner.set_gauge(&contract::KEYS, &inner.keys, backend, saturating_i64(keys));
    }

    /// Sets `keychain_certs_total{backend}`.
    pub fn set_certs_total(&self, backend: &str, certs: u64) {
        let inner = &*self.inner;
        inner.set_gauge(
            &contract::CERTS,
            &inner.certs,
            backend,
            saturating_i64(certs),
        );
    }

    /// Sets `keychain_backend_healthy{backend}` to 1 or 0.
    pub fn set_backend_healthy(&self, backend: &str, healthy: bool) {
        let inner = &*self.inner;
        inner.set_gauge(
            &contract::BACKEND_HEALTHY,
            &inner.healthy,
            backend,
            i64::from(healthy),
        );
    }

    /// The exposition in the Prometheus text format 0.0.4: the contract's metrics, then
    /// those registered in [`Metrics::registry`].
    pub fn encode_text(&self) -> String {
        let mut out = String::new();
        self.encode_into(Format::Text, &mut out);
        out
    }

    /// The exposition in OpenMetrics 1.0 text, ending in `# EOF`.
    pub fn encode_openmetrics(&self) -> String {
        let mut out = String::new();
        self.encode_into(Format::OpenMetrics, &mut out);
        out
    }

    /// Appends the exposition in `format` to `out`. With a reused `out` (cleared by the
    /// caller) and no metrics of your own registered, this does not allocate once the
    /// buffer has grown to size.
    pub fn encode_into(&self, format: Format, out: &mut String) {
        exposition::encode(&self.inner, format, out);
    }
}

/// The `status_code` label of an HTTP status: its digits, or `other` outside 100–999.
fn http_code_label(status_code: u16, digits: &mut itoa::Buffer) -> &str {
    if (100..=999).contains(&status_code) {
        digits.format(status_code)
    } else {
        crate::cap::OVERFLOW
    }
}

fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
