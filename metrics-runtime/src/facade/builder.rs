//! [`MetricsBuilder`]: namespace, buckets, constant labels and label caps, validated.

use std::fmt;
use std::sync::Arc;

use crate::contract::buckets::{Buckets, BucketsError, DEFAULT_BUCKETS, OPERATION_BUCKETS};
use crate::contract::cardinality::{DEFAULT_MAX_LABEL_VALUES, MAX_LABEL_LEN};
use crate::contract::labels::RESERVED_LABELS;
use crate::contract::native::{NativeHistogram, NativeLayout};
use crate::exposition::registry::Bridge;
use crate::facade::Metrics;
use crate::store::families::BucketSets;
use crate::store::{Parts, Store};

/// Configures a [`Metrics`] instance. Every setter is checked by [`MetricsBuilder::build`].
///
/// ```
/// use keychain_metrics::Metrics;
///
/// let metrics = Metrics::builder()
///     .namespace("vault")
///     .operation_buckets([0.0005, 0.001, 0.01, 0.1, 1.0])
///     .const_label("region", "eu-west-1")
///     .build()?;
/// # Ok::<(), keychain_metrics::BuildError>(())
/// ```
#[derive(Debug, Clone)]
pub struct MetricsBuilder {
    namespace: String,
    operation_buckets: Vec<f64>,
    http_buckets: Vec<f64>,
    grpc_buckets: Vec<f64>,
    operation_native: Option<NativeHistogram>,
    http_native: Option<NativeHistogram>,
    grpc_native: Option<NativeHistogram>,
    exemplars: bool,
    created_samples: bool,
    const_labels: Vec<(String, String)>,
    max_label_values: usize,
    #[cfg(feature = "recorder")]
    recorder: crate::contract::named::RecorderConfig,
}

impl Default for MetricsBuilder {
    fn default() -> Self {
        MetricsBuilder {
            namespace: "keychain".into(),
            operation_buckets: OPERATION_BUCKETS.to_vec(),
            http_buckets: DEFAULT_BUCKETS.to_vec(),
            grpc_buckets: DEFAULT_BUCKETS.to_vec(),
            operation_native: None,
            http_native: None,
            grpc_native: None,
            exemplars: false,
            created_samples: false,
            const_labels: Vec::new(),
            max_label_values: DEFAULT_MAX_LABEL_VALUES,
            #[cfg(feature = "recorder")]
            recorder: Default::default(),
        }
    }
}

/// A configuration that [`MetricsBuilder::build`] refused; the message names the field
/// and the value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum BuildError {
    /// The namespace is empty or not `[a-zA-Z_][a-zA-Z0-9_]*`.
    InvalidNamespace(String),
    /// A bucket list is empty, too long, unsorted, or holds a bound that is not a
    /// positive finite number of seconds.
    InvalidBuckets {
        /// `operation_buckets`, `http_buckets` or `grpc_buckets`.
        field: &'static str,
        /// The list as given.
        value: Vec<f64>,
        /// What is wrong with it.
        reason: String,
    },
    /// A constant label has an invalid or reserved name, a duplicate name, or a value
    /// longer than [`MAX_LABEL_LEN`](crate::MAX_LABEL_LEN) bytes.
    InvalidConstLabel {
        /// The label name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Native-histogram settings with a schema, zero threshold or bucket count out of
    /// range.
    InvalidNativeHistogram {
        /// `operation_native`, `http_native` or `grpc_native`.
        field: &'static str,
        /// The settings as given.
        value: NativeHistogram,
        /// What is wrong with them.
        reason: String,
    },
    /// `max_label_values` is zero.
    ZeroMaxLabelValues,
    /// The `metrics` facade's settings (`RecorderConfig`, feature `recorder`): a bucket
    /// pattern or its bounds, the native histogram, or a zero `max_label_sets`.
    InvalidRecorder {
        /// The field: `recorder.buckets["*_bytes"]`, `recorder.max_label_sets`, ….
        field: String,
        /// What is wrong with it, with the value.
        reason: String,
    },
    /// The `prometheus` registry refused the contract's descriptors.
    Registry(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::InvalidNamespace(ns) => write!(
                f,
                "namespace: {ns:?} is not a valid metric name prefix \
                 (non-empty, [a-zA-Z_][a-zA-Z0-9_]*)"
            ),
            BuildError::InvalidBuckets {
                field,
                value,
                reason,
            } => write!(f, "{field}: {value:?}: {reason}"),
            BuildError::InvalidConstLabel { name, reason } => {
                write!(f, "const_label {name:?}: {reason}")
            }
            BuildError::InvalidNativeHistogram { field, reason, .. } => {
                write!(f, "{field}: {reason}")
            }
            BuildError::ZeroMaxLabelValues => {
                f.write_str("max_label_values: 0: must be at least 1")
            }
            BuildError::InvalidRecorder { field, reason } => write!(f, "{field}: {reason}"),
            BuildError::Registry(e) => write!(f, "registry: {e}"),
        }
    }
}

impl std::error::Error for BuildError {}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn buckets(field: &'static str, value: &[f64]) -> Result<Buckets, BuildError> {
    Buckets::new(value).map_err(|e: BucketsError| BuildError::InvalidBuckets {
        field,
        value: value.to_vec(),
        reason: e.to_string(),
    })
}

/// Classic bounds with the native histogram beside them, if any.
fn layout(
    field: &'static str,
    bounds: &[f64],
    native_field: &'static str,
    native: Option<NativeHistogram>,
) -> Result<Buckets, BuildError> {
    let native = native
        .map(|n| {
            NativeLayout::new(&n).map_err(|e| BuildError::InvalidNativeHistogram {
                field: native_field,
                value: n,
                reason: e.to_string(),
            })
        })
        .transpose()?;
    Ok(buckets(field, bounds)?.with_native(native))
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
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl MetricsBuilder {
    /// The prefix of every metric name (default `keychain`).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Bucket bounds in seconds for `*_operation_duration_seconds`
    /// (default `.001 .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10`). Strictly increasing,
    /// positive, finite, at most [`MAX_BUCKETS`](crate::MAX_BUCKETS); `+Inf` is implicit.
    pub fn operation_buckets(mut self, bounds: impl Into<Vec<f64>>) -> Self {
        self.operation_buckets = bounds.into();
        self
    }

    /// Bucket bounds in seconds for `*_http_request_duration_seconds` (default:
    /// Prometheus' `.005 … 10`).
    pub fn http_buckets(mut self, bounds: impl Into<Vec<f64>>) -> Self {
        self.http_buckets = bounds.into();
        self
    }

    /// Bucket bounds in seconds for `*_grpc_request_duration_seconds` (default:
    /// Prometheus' `.005 … 10`).
    pub fn grpc_buckets(mut self, bounds: impl Into<Vec<f64>>) -> Self {
        self.grpc_buckets = bounds.into();
        self
    }

    /// Keeps a native histogram beside the classic buckets of
    /// `*_operation_duration_seconds` (default `None`: classic buckets only; try
    /// `Some(NativeHistogram::default())`). Native buckets are served only to scrapers
    /// that ask for the protobuf format; text and OpenMetrics output are unchanged. They
    /// cost about 3 ns per recording on top of the classic buckets' 7 ns (see
    /// [performance](crate::guide::performance)), which is why they are opt-in, as in
    /// client_golang.
    pub fn operation_native(mut self, native: Option<NativeHistogram>) -> Self {
        self.operation_native = native;
        self
    }

    /// As [`MetricsBuilder::operation_native`], for the HTTP request durations (by
    /// method, and by route).
    pub fn http_native(mut self, native: Option<NativeHistogram>) -> Self {
        self.http_native = native;
        self
    }

    /// As [`MetricsBuilder::operation_native`], for the gRPC request durations.
    pub fn grpc_native(mut self, native: Option<NativeHistogram>) -> Self {
        self.grpc_native = native;
        self
    }

    /// Keeps exemplars (default `false`): an observation made in a sampled trace (see
    /// [`trace`](crate::trace)) becomes the exemplar `{trace_id, span_id}` of the bucket
    /// it lands in, in the operation, HTTP and gRPC duration histograms, and of its
    /// `keychain_errors_total` counter; the latest per bucket is kept. Exemplars are
    /// exposed in OpenMetrics and in protobuf (on the classic buckets, which Prometheus
    /// also reads for a native histogram), never in text 0.0.4, so `MetricsServer` then
    /// offers OpenMetrics to scrapers that rank it first, whatever `openmetrics` says: on
    /// Prometheus 2.x, bucket bounds are then stored as `le="1.0"` (see
    /// [Prometheus 2 and 3](crate::guide::prometheus) on `le` spellings).
    ///
    /// The HTTP and gRPC layers read an incoming `traceparent` header only then.
    /// Outside a trace the cost is one thread-local load per recording.
    pub fn exemplars(mut self, on: bool) -> Self {
        self.exemplars = on;
        self
    }

    /// Writes `_created` samples in OpenMetrics (default `false`, as in client_golang):
    /// each counter and histogram series' start, when it was created, so that a
    /// Prometheus that ingests start timestamps (3.x) knows where a `rate()` begins.
    /// `MetricsServer` then offers OpenMetrics to scrapers that rank it first, as with
    /// [`MetricsBuilder::exemplars`]. The protobuf exposition always carries the start
    /// (`created_timestamp`); text 0.0.4 never does. A Prometheus that does not ingest
    /// start timestamps (2.x) stores `_created` samples as series of their own.
    pub fn created_samples(mut self, on: bool) -> Self {
        self.created_samples = on;
        self
    }

    /// A label added to every series of the contract, e.g. `region`. The name must be a
    /// valid label name, must not start with `__` and must not be one of the contract's
    /// label names.
    pub fn const_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.const_labels.push((name.into(), value.into()));
        self
    }

    /// The most distinct values each bounded label (`backend`, `error_type`, gRPC
    /// `method`) takes before further values are recorded as `other`
    /// (default [`DEFAULT_MAX_LABEL_VALUES`](crate::DEFAULT_MAX_LABEL_VALUES)).
    pub fn max_label_values(mut self, limit: usize) -> Self {
        self.max_label_values = limit;
        self
    }

    /// How the `metrics` facade's metrics are kept (feature `recorder`): bucket bounds
    /// per name, native histograms, the cap on label sets. See
    /// [`Metrics::recorder`](crate::Metrics::recorder).
    #[cfg(feature = "recorder")]
    pub fn recorder(mut self, config: crate::RecorderConfig) -> Self {
        self.recorder = config;
        self
    }

    /// Validates the configuration and builds the instance.
    pub fn build(self) -> Result<Metrics, BuildError> {
        if !is_name(&self.namespace) {
            return Err(BuildError::InvalidNamespace(self.namespace));
        }
        if self.max_label_values == 0 {
            return Err(BuildError::ZeroMaxLabelValues);
        }
        for (i, (name, value)) in self.const_labels.iter().enumerate() {
            let reason = if !is_name(name) || name.starts_with("__") {
                "not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)".into()
            } else if RESERVED_LABELS.contains(&name.as_str()) {
                "reserved: the contract uses this label name".into()
            } else if self.const_labels[..i].iter().any(|(n, _)| n == name) {
                "given twice".into()
            } else if value.len() > MAX_LABEL_LEN {
                format!(
                    "value is {} bytes, at most {MAX_LABEL_LEN} allowed",
                    value.len()
                )
            } else {
                continue;
            };
            return Err(BuildError::InvalidConstLabel {
                name: name.clone(),
                reason,
            });
        }
        #[cfg(feature = "recorder")]
        let named = crate::contract::named::NamedRules::new(&self.recorder).map_err(
            |(field, reason)| BuildError::InvalidRecorder {
                field: format!("recorder.{field}"),
                reason,
            },
        )?;
        let parts = Parts {
            #[cfg(feature = "recorder")]
            named,
            buckets: BucketSets {
                operation: layout(
                    "operation_buckets",
                    &self.operation_buckets,
                    "operation_native",
                    self.operation_native,
                )?,
                http: layout(
                    "http_buckets",
                    &self.http_buckets,
                    "http_native",
                    self.http_native,
                )?,
                grpc: layout(
                    "grpc_buckets",
                    &self.grpc_buckets,
                    "grpc_native",
                    self.grpc_native,
                )?,
            },
            namespace: self.namespace,
            const_labels: self.const_labels,
            max_label_values: self.max_label_values,
            exemplars: self.exemplars,
            created_samples: self.created_samples,
        };
        let store = Arc::new(Store::new(parts));
        let bridge = Bridge::new(&store).map_err(|e| BuildError::Registry(e.to_string()))?;
        store
            .registry
            .register(Box::new(bridge))
            .map_err(|e| BuildError::Registry(e.to_string()))?;
        Ok(Metrics { store })
    }
}
