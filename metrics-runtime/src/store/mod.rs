//! How it is kept: the state of one instance and the recordings that land in it.
//!
//! A [`Store`] holds the switch, the instance's names, constant labels and bucket
//! bounds, and one storage per entry of the contract's family table. It has three
//! rooms, each using only the ones before it:
//!
//! - [`cells`]: concurrency. A series keeps its numbers in
//!   [`cells::striped::StripedCells`]: a private stripe for each of the first few leased
//!   threads that write it ([`cells::lanes`], [`cells::lease`]) and a shared one, each
//!   under a sequence number ([`cells::seqlock`]), with native buckets ([`cells::native`]).
//! - [`families`]: metric series and families. [`families::Families`] holds a
//!   [`families::family::Family`] of series per table entry, found by their label
//!   values without a lock; a scrape reads them through [`families::exposed::Exposed`].
//! - [`caches`]: the layers' series, resolved once per HTTP method and gRPC path.
//!
//! The recording methods here are the only writers: the facade, the handles and the
//! layers all call them, so a recording lands the same way whoever makes it.

pub(crate) mod caches;
pub(crate) mod cells;
pub(crate) mod families;
mod listing;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::contract::buckets::Buckets;
use crate::contract::labels::{http_code_label, GrpcCode, HttpMethod, Protocol, Status};
use crate::contract::operation::Operation;
use crate::contract::{self, Spec};
use crate::render;
use caches::http::HttpCache;
use families::family::Family;
use families::series::{CounterSeries, GaugeSeries, TimedSeries};
use families::{BucketSets, Caps, Families};

/// The state of one instance; [`crate::Metrics`] is a shared handle on it.
pub(crate) struct Store {
    /// The switch, read inline on every recording…
    enabled: AtomicBool,
    /// …and a copy the facade recorder's series share, each checking it itself.
    #[cfg(feature = "recorder")]
    facade_on: Arc<AtomicBool>,
    /// The metric name prefix.
    #[cfg_attr(not(feature = "collector"), allow(dead_code))]
    pub(crate) namespace: String,
    /// When the instance was built: the start of `keychain_server_uptime_seconds`.
    #[cfg_attr(not(feature = "collector"), allow(dead_code))]
    pub(crate) created: Instant,
    /// Full names, indexed by [`Spec::id`].
    names: Box<[String]>,
    /// Each family's label order, indexed by [`Spec::id`]: see [`Store::label_order`].
    label_orders: Box<[Box<[LabelSource]>]>,
    pub(crate) const_labels: Vec<(String, String)>,
    pub(crate) buckets: BucketSets,
    pub(crate) families: Families,
    /// Whether the duration histograms and the error counters keep exemplars.
    pub(crate) exemplars: bool,
    /// Whether OpenMetrics carries `_created` samples.
    pub(crate) created_samples: bool,
    http_cache: HttpCache,
    /// The gRPC series by method, for the layer.
    #[cfg(feature = "grpc")]
    pub(crate) grpc_methods: Family<caches::grpc::GrpcMethod, 1>,
    /// The user's metrics, and the contract's as a collector (see `exposition::registry`).
    pub(crate) registry: prometheus::Registry,
    /// The families the `metrics` facade names at run time.
    #[cfg(feature = "recorder")]
    pub(crate) named: families::named::NamedFamilies,
}

/// What the builder hands over; everything in it is validated.
pub(crate) struct Parts {
    pub(crate) namespace: String,
    pub(crate) const_labels: Vec<(String, String)>,
    pub(crate) buckets: BucketSets,
    pub(crate) max_label_values: usize,
    pub(crate) exemplars: bool,
    pub(crate) created_samples: bool,
    #[cfg(feature = "recorder")]
    pub(crate) named: crate::contract::named::NamedRules,
}

/// Where a label of a series comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LabelSource {
    /// The series' value under the spec's label at this position.
    Own(usize),
    /// The constant label at this position.
    Const(usize),
}

impl Store {
    pub(crate) fn new(parts: Parts) -> Self {
        let caps = Caps::new(parts.max_label_values);
        let names: Box<[String]> = contract::ALL
            .iter()
            .map(|spec| spec.name(&parts.namespace))
            .collect();
        #[cfg(feature = "recorder")]
        let named = {
            let taken: Vec<(&str, contract::Kind)> = contract::ALL
                .iter()
                .map(|spec| (&*names[spec.id], spec.kind))
                .collect();
            families::named::NamedFamilies::new(parts.named, &taken)
        };
        let mut store = Store {
            enabled: AtomicBool::new(true),
            #[cfg(feature = "recorder")]
            facade_on: Arc::new(AtomicBool::new(true)),
            names,
            label_orders: contract::ALL
                .iter()
                .map(|spec| label_order(spec, &parts.const_labels))
                .collect(),
            namespace: parts.namespace,
            created: Instant::now(),
            const_labels: parts.const_labels,
            buckets: parts.buckets,
            families: Families::new(&caps),
            exemplars: parts.exemplars,
            created_samples: parts.created_samples,
            http_cache: HttpCache::new(),
            #[cfg(feature = "grpc")]
            grpc_methods: Family::new([Some(Arc::clone(&caps.grpc_method))]),
            registry: prometheus::Registry::new(),
            #[cfg(feature = "recorder")]
            named,
        };
        // The in-flight gauge exposes every protocol from the start.
        store.families.active.0 = Protocol::ALL
            .iter()
            .map(|p| store.counter(&contract::ACTIVE_CONNECTIONS, &[p.as_str()]))
            .collect();
        store
    }

    /// The full name of a family.
    pub(crate) fn name(&self, spec: &Spec) -> &str {
        &self.names[spec.id]
    }

    /// The family the `metrics` facade names `name` (as the code spells it), of `kind`;
    /// refused if it would clash with a family of the contract or another facade one
    /// (the registry holds the contract's names from the start).
    #[cfg(feature = "recorder")]
    pub(crate) fn named_family(
        &self,
        name: &str,
        kind: contract::Kind,
    ) -> Result<Arc<families::named::NamedFamily>, families::named::Refused> {
        self.named
            .family(name, kind, self.exemplars, &self.facade_on)
    }

    #[inline]
    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    pub(crate) fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
        #[cfg(feature = "recorder")]
        self.facade_on.store(on, Ordering::Relaxed);
    }

    /// The order in which every series of `spec` lists its labels: its own and the
    /// constant ones, sorted by name. Decided once per instance; the text formats render
    /// it into each series' label list, the protobuf writer and the bridge follow it.
    pub(crate) fn label_order(&self, spec: &Spec) -> &[LabelSource] {
        &self.label_orders[spec.id]
    }

    /// The rendered label list of a series of `spec`.
    fn spec_labels(&self, spec: &Spec, values: &[&str]) -> Box<str> {
        render::label_list(&self.label_pairs(spec, values.iter().copied()))
    }

    /// A counter (or delta-moved gauge) series of `spec`.
    pub(crate) fn counter(&self, spec: &Spec, values: &[&str]) -> CounterSeries {
        CounterSeries::new(values, self.spec_labels(spec, values))
    }

    /// A histogram series of `spec`, without status cells.
    pub(crate) fn histogram(&self, spec: &Spec, buckets: &Buckets, values: &[&str]) -> TimedSeries {
        let labels = self.spec_labels(spec, values);
        TimedSeries::new(buckets, values, labels, None, self.exemplars)
    }

    /// An operation series: the duration histogram and a counter per status.
    pub(crate) fn new_operation(&self, [op, backend]: &[&str; 2]) -> TimedSeries {
        let labels = self.spec_labels(&contract::OPERATION_DURATION, &[op, backend]);
        TimedSeries::new(
            &self.buckets.operation,
            &[op, backend],
            labels,
            Some(self.status_at(op, backend)),
            self.exemplars,
        )
    }

    /// Where the status pair goes in the label list of the operation series of
    /// (`op`, `backend`): after the pairs that sort before it. The counter's labels are
    /// the histogram's and `status`, in the same order.
    fn status_at(&self, op: &str, backend: &str) -> usize {
        let spec = &contract::OPERATIONS;
        // `status` is the counter's last label of its own, the one the histogram lacks.
        let status = LabelSource::Own(spec.labels.len() - 1);
        let before = self
            .label_order(spec)
            .iter()
            .position(|&source| source == status)
            .unwrap_or_default();
        // Without a value for `status`, the pairs are those of the histogram.
        let pairs = self.label_pairs(spec, [op, backend]);
        render::label_list(&pairs[..before]).len()
    }

    /// The operation series of (`op`, `backend`), created if needed.
    pub(crate) fn operation(&self, op: Operation, backend: &str) -> Arc<TimedSeries> {
        self.families
            .operations
            .get_or_create([op.as_str(), backend], |v| self.new_operation(v))
    }

    /// The error counter of (`op`, `backend`, `error_type`), created if needed.
    pub(crate) fn error(&self, op: &str, backend: &str, error_type: &str) -> Arc<CounterSeries> {
        self.families
            .errors
            .get_or_create([op, backend, error_type], |v| self.new_error(v))
    }

    /// An error counter series, which keeps an exemplar if the instance does.
    fn new_error(&self, values: &[&str; 3]) -> CounterSeries {
        self.counter(&contract::ERRORS, values)
            .with_exemplar(self.exemplars)
    }

    /// One operation, looked up by its label values.
    pub(crate) fn record_operation(
        &self,
        op: Operation,
        backend: &str,
        status: Status,
        nanos: u64,
    ) {
        if self.enabled() {
            self.families.operations.with(
                [op.as_str(), backend],
                |v| self.new_operation(v),
                |s| s.record(&self.buckets.operation, Some(status), nanos),
            );
        }
    }

    /// One error, looked up by its label values.
    pub(crate) fn record_error(&self, op: Operation, backend: &str, error_type: &str) {
        if self.enabled() {
            self.families.errors.with(
                [op.as_str(), backend, error_type],
                |v| self.new_error(v),
                |s| s.add_observed(1),
            );
        }
    }

    /// One HTTP request: the counter of its method and status code (cached per method
    /// for the first few codes) and the duration of its method (cached).
    pub(crate) fn record_http(&self, method: HttpMethod, status_code: u16, nanos: u64) {
        if !self.enabled() {
            return;
        }
        match self.http_cache.counter(method, status_code) {
            Some(series) => series.add(1),
            None => {
                let mut digits = itoa::Buffer::new();
                let code = http_code_label(status_code, &mut digits);
                let series = self
                    .families
                    .http_requests
                    .get_or_create([method.as_str(), code], |v| {
                        self.counter(&contract::HTTP_REQUESTS, v)
                    });
                series.add(1);
                self.http_cache.remember(method, status_code, series);
            }
        }
        let durations = self.http_cache.duration(method, || {
            self.families
                .http_durations
                .get_or_create([method.as_str()], |v| {
                    self.histogram(&contract::HTTP_DURATION, &self.buckets.http, v)
                })
        });
        durations.record(&self.buckets.http, None, nanos);
    }

    /// One gRPC call by its method path.
    pub(crate) fn record_grpc(&self, path: &str, code: GrpcCode, nanos: u64) {
        if !self.enabled() {
            return;
        }
        self.families.grpc_requests.with(
            [path, code.as_str()],
            |v| self.counter(&contract::GRPC_REQUESTS, v),
            |s| s.add(1),
        );
        self.families.grpc_durations.with(
            [path],
            |v| self.histogram(&contract::GRPC_DURATION, &self.buckets.grpc, v),
            |s| s.record(&self.buckets.grpc, None, nanos),
        );
    }

    /// Adds `n` to the counter (or delta-moved gauge) of `values` in `family` of `spec`.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn add<const N: usize>(
        &self,
        spec: &Spec,
        family: &Family<CounterSeries, N>,
        values: [&str; N],
        n: u64,
    ) {
        if self.enabled() {
            family.with(values, |v| self.counter(spec, v), |s| s.add(n));
        }
    }

    /// Observes `nanos` in the histogram of `values` in `family` of `spec`.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn observe<const N: usize>(
        &self,
        spec: &Spec,
        family: &Family<TimedSeries, N>,
        buckets: &Buckets,
        values: [&str; N],
        nanos: u64,
    ) {
        if self.enabled() {
            family.with(
                values,
                |v| self.histogram(spec, buckets, v),
                |s| s.record(buckets, None, nanos),
            );
        }
    }

    /// Sets the gauge of `values` in `family` of `spec`.
    pub(crate) fn set<const N: usize>(
        &self,
        spec: &Spec,
        family: &Family<GaugeSeries, N>,
        values: [&str; N],
        value: i64,
    ) {
        if self.enabled() {
            family.with(
                values,
                |v| GaugeSeries::new(v, self.spec_labels(spec, v)),
                |g| g.set(value),
            );
        }
    }
}

/// The labels of `spec`'s series and the constant labels, sorted by name (the builder
/// keeps constant label names apart from the contract's).
fn label_order(spec: &Spec, const_labels: &[(String, String)]) -> Box<[LabelSource]> {
    let name = |source: &LabelSource| match *source {
        LabelSource::Own(i) => spec.labels[i],
        LabelSource::Const(j) => const_labels[j].0.as_str(),
    };
    let mut order: Vec<LabelSource> = (0..spec.labels.len())
        .map(LabelSource::Own)
        .chain((0..const_labels.len()).map(LabelSource::Const))
        .collect();
    order.sort_by(|a, b| name(a).cmp(name(b)));
    order.into()
}

#[cfg(feature = "grpc")]
impl Store {
    /// The entry of `path` (as admitted) for the method cache.
    pub(crate) fn new_grpc_method(&self, [path]: &[&str; 1]) -> caches::grpc::GrpcMethod {
        let f = &self.families;
        let counter = |spec, family: &Family<CounterSeries, 1>| {
            family.get_or_create([path], |v| self.counter(spec, v))
        };
        caches::grpc::GrpcMethod {
            values: families::series::values_of(&[path]),
            duration: f.grpc_durations.get_or_create([path], |v| {
                self.histogram(&contract::GRPC_DURATION, &self.buckets.grpc, v)
            }),
            received: counter(&contract::GRPC_RECEIVED, &f.grpc_received),
            sent: counter(&contract::GRPC_SENT, &f.grpc_sent),
            calls: Default::default(),
            codes: Default::default(),
        }
    }

    /// One call of `method`: its request counter for `code`, its duration, its message
    /// counts and its call type, the series a lookup by path in each family would find.
    pub(crate) fn record_grpc_method(
        &self,
        method: &caches::grpc::GrpcMethod,
        code: GrpcCode,
        nanos: u64,
        received: u64,
        sent: u64,
    ) {
        if !self.enabled() {
            return;
        }
        let f = &self.families;
        let path = &*method.values[0];
        method.codes[code.index()]
            .get_or_init(|| {
                f.grpc_requests.get_or_create([path, code.as_str()], |v| {
                    self.counter(&contract::GRPC_REQUESTS, v)
                })
            })
            .add(1);
        method.duration.record(&self.buckets.grpc, None, nanos);
        method.received.add(received);
        method.sent.add(sent);
        let call_type = caches::grpc::CallType::observed(received, sent);
        method.calls[call_type as usize]
            .get_or_init(|| {
                f.grpc_calls.get_or_create([path, call_type.as_str()], |v| {
                    self.counter(&contract::GRPC_CALLS, v)
                })
            })
            .add(1);
    }
}
