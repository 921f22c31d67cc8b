//! Prometheus instrumentation for keychain services.
//!
//! `keychain-metrics` records what a keychain service does (key generation, signing,
//! encryption across backends such as `pkcs8`, `pkcs11`, `tpm2`) under the metric names
//! of the Go package it succeeds, so existing dashboards and alerts keep working.
//!
//! - [`macro@instrument_op`] times a function and records its outcome;
//!   [`derive@ErrorType`] turns an error enum into `error_type` label values.
//! - [`Metrics`] owns the series and a [`prometheus::Registry`]; build one per test with
//!   [`Metrics::new`], or use the process-wide [`Metrics::global`].
//! - [`Metrics::operation`] resolves an (operation, backend) pair once; recording through
//!   the [`OperationHandle`] is a few plain stores into this thread's cells.
//! - [`Metrics::encode_text`] and [`Metrics::encode_openmetrics`] render the exposition.
//! - [`trace`]: observations made in a sampled trace (an incoming `traceparent`, a
//!   `tracing` span's OpenTelemetry context) become exemplars, for an instance built with
//!   [`MetricsBuilder::exemplars`]; `span` in the attribute opens a `tracing` span per call.
//!
//! The [`guide`] has a chapter per concern: [instrumenting](guide::instrumenting), the
//! [layers](guide::layers), the [endpoint and its security](guide::endpoint), every
//! [configuration](guide::configuration) field with its default and error, the
//! [metric contract](guide::metric_contract), [traces and
//! exemplars](guide::traces_and_exemplars), [native histograms](guide::native_histograms),
//! [Prometheus 2 and 3](guide::prometheus), [OTLP](guide::otlp), the [`metrics`
//! facade](guide::metrics_facade), [alerts](guide::alerts_and_fleet),
//! [reliability](guide::reliability) and [performance](guide::performance).
//!
//! # Features
//!
//! On by default, and light (`http` and `tower`'s traits): `http` and `grpc`, the tower
//! layers. Everything that brings tokio, axum, flate2 or a YAML parser is opt-in:
//! `collector` (the resource collector), `config` (`config::MetricsConfig`, from YAML
//! or nested in a service's serde configuration), `server` (the metrics endpoint,
//! `server::MetricsServer`, with `config` and `axum`), `axum` (route labels and a
//! connection-tracking listener), `tls` (HTTPS and client certificates for the
//! endpoint, with rustls), `tonic` (a connection-tracking incoming stream for tonic),
//! `tracing` (`span` in [`macro@instrument_op`]) and `opentelemetry`
//! (`trace::ExemplarLayer`). A service with the endpoint and the collector asks for
//! `features = ["server", "collector"]`.
//!
//! `prometheus` (0.14) is a public dependency: [`Metrics::registry`] is a
//! [`prometheus::Registry`] for your own metrics, and the crate is re-exported as
//! `keychain_metrics::prometheus`, so a major release of it is a major release of this
//! crate.
//!
//! # Instrumenting a keystore
//!
//! ```
//! use keychain_metrics::{instrument_op, ErrorType, Metrics};
//!
//! #[derive(Debug, ErrorType)]
//! enum KeyError {
//!     KeyNotFound,                 // error_type="key_not_found"
//!     #[error_type("bad_params")]
//!     InvalidParams(String),       // error_type="bad_params"
//!     #[error_type(transparent)]
//!     Io(std::io::Error),          // error_type from the io::Error's kind
//! }
//!
//! struct Pkcs8Store {
//!     keys: Vec<String>,
//! }
//!
//! impl Pkcs8Store {
//!     #[instrument_op(Get, backend = "pkcs8")]
//!     fn get(&self, i: usize) -> Result<&str, KeyError> {
//!         self.keys.get(i).map(String::as_str).ok_or(KeyError::KeyNotFound)
//!     }
//!
//!     #[instrument_op(Generate, backend = "pkcs8")]
//!     async fn generate(&mut self, name: &str) -> Result<usize, KeyError> {
//!         if name.is_empty() {
//!             return Err(KeyError::InvalidParams("empty name".into()));
//!         }
//!         self.keys.push(name.to_owned());
//!         Ok(self.keys.len())
//!     }
//! }
//!
//! let store = Pkcs8Store { keys: vec!["a".into()] };
//! assert!(store.get(7).is_err());
//! let text = Metrics::global().encode_text();
//! assert!(text.contains(r#"keychain_operations_total{backend="pkcs8",operation="get",status="error"} 1"#));
//! assert!(text.contains(r#"keychain_errors_total{backend="pkcs8",error_type="key_not_found",operation="get"} 1"#));
//! ```
//!
//! The first argument is one of the 15 [`Op`] variants (a typo is a compile error that
//! suggests the nearest one), a string literal naming an operation of your own
//! (`"unwrap_key"`, checked at compile time), or a variant of your enum deriving
//! [`Operation`](derive@Operation); see [`Operation`](struct@Operation). On an `impl` block,
//! `#[instrument_op(backend = …)]` instruments every method, each named after itself.
//! `backend = "literal"` resolves the series once per call site
//! (the fast path); `backend = expr` takes any `AsRef<str>` expression, evaluated per
//! call. `metrics = expr` records into that instance (`Metrics`, `&Metrics` or
//! `Arc<Metrics>`) instead of [`Metrics::global`], which is how tests stay isolated;
//! `error_type = "label"` labels every error of the function so; `span` (feature
//! `tracing`) runs each call in a `tracing` span with the same labels (see [`trace`]).
//!
//! Outcomes: `Ok` and non-`Result` values are `success`. `Err(e)` is `error`, counted in
//! `keychain_errors_total` under `e`'s [`ErrorType`] label, or `error` if its type has
//! none. Whether the return type is a `Result` is decided by the type checker, not by
//! its spelling, so `io::Result<T>`, `anyhow::Result<T>` and your own aliases work. A
//! panic is `error` with `error_type="panic"`, and then propagates unchanged. An async
//! call is timed from its first poll to its completion; dropped in between, it is
//! `cancelled`; dropped before its first poll, it records nothing.
//!
//! # Recording into a test instance
//!
//! ```
//! use keychain_metrics::{instrument_op, Metrics};
//!
//! struct Store {
//!     metrics: Metrics,
//! }
//!
//! impl Store {
//!     #[instrument_op(Sign, backend = "tpm2", metrics = self.metrics)]
//!     fn sign(&self, data: &[u8]) -> Vec<u8> {
//!         data.iter().rev().copied().collect()
//!     }
//! }
//!
//! let store = Store { metrics: Metrics::new() };
//! store.sign(b"abc");
//! assert!(store.metrics.encode_text().contains(
//!     r#"keychain_operations_total{backend="tpm2",operation="sign",status="success"} 1"#
//! ));
//! ```
//!
//! # What the attribute expands to
//!
//! For `#[instrument_op(Generate, backend = "pkcs8")] async fn generate(&self, p: &Params)
//! -> Result<KeyId, KeyError> { body }`, in outline (internal names are hygienic and
//! cannot clash with yours):
//!
//! ```text
//! async fn generate(&self, p: &Params) -> Result<KeyId, KeyError> {
//!     let mut span = Span::start({
//!         static SITE: CallSite = CallSite::new(|| Op::Generate.into(), "pkcs8");
//!         SITE.handle()                      // resolved on the first call, then a load
//!     });                                    // reads the clock unless disabled
//!     let inner = pin!(async move {           // `return` and `?` end here
//!         // never taken; makes the declared type the block's, so every return
//!         // site coerces to it as in the function (`&Vec<u8>` to `&[u8]`, …)
//!         if let Some(r) = None::<Result<KeyId, KeyError>> { return r; }
//!         body
//!     });
//!     let ret: Result<KeyId, KeyError> = Guarded::new(&mut span, inner).await;
//!     span.finish(match (&ret).err() {        // by trait resolution, not spelling
//!         None => Outcome::Success,
//!         Some(e) => Outcome::Error(e.error_type()),  // or "error" without ErrorType
//!     }, None);
//!     ret
//! }
//! ```
//!
//! `Guarded` records a panic while it unwinds out of `poll`; dropping `span` unfinished
//! records the cancellation. A sync function gets the same with the body in a closure
//! whose return type is given (`call::<R>(move || body)`) and no `Guarded`: its span is
//! dropped by the unwinding itself. A method that
//! `#[async_trait]` has already rewritten is recognised by its `Box::pin(async move …)`
//! body, and the future is instrumented rather than its construction.
//!
//! # What a scrape sees
//! Each series is recorded and read whole: a scrape never sees a histogram whose buckets,
//! `_count` and `_sum` disagree, and an operation's status counter and its duration
//! histogram always describe the same recordings. See [`architecture`] for how.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod alloc;
mod clock;
#[cfg(feature = "collector")]
pub mod collector;
#[cfg(feature = "config")]
pub mod config;
mod contract;
mod exposition;
mod facade;
mod instrument;
#[cfg(feature = "http")]
mod layers;
#[cfg(feature = "otlp")]
mod otlp;
#[cfg(feature = "recorder")]
mod recorder;
mod render;
#[cfg(feature = "server")]
pub mod server;
mod store;
#[cfg(test)]
mod testing;
pub mod trace;

#[doc(hidden)]
pub mod __private {
    //! Support for generated code; not a public API.
    pub use crate::instrument::*;
}

#[cfg(feature = "grpc")]
pub use layers::grpc;
#[cfg(feature = "http")]
pub use layers::http;
#[cfg(all(feature = "http", any(feature = "axum", feature = "tonic")))]
pub use layers::listener;

pub use contract::buckets::{DEFAULT_BUCKETS, MAX_BUCKETS, OPERATION_BUCKETS};
pub use contract::cardinality::{DEFAULT_MAX_LABEL_VALUES, MAX_LABEL_LEN, OVERFLOW};
pub use contract::error_type::ErrorType;
pub use contract::labels::{
    GrpcCode, HttpMethod, Op, Protocol, Status, UnknownLabelValue, LABEL_BACKEND, LABEL_CALL_TYPE,
    LABEL_ERROR_TYPE, LABEL_METHOD, LABEL_OPERATION, LABEL_PROTOCOL, LABEL_ROUTE, LABEL_STATUS,
    LABEL_STATUS_CODE,
};
#[cfg(feature = "recorder")]
pub use contract::named::{RecorderConfig, DEFAULT_MAX_LABEL_SETS};
pub use contract::native::{NativeHistogram, MAX_NATIVE_BUCKETS, MAX_SCHEMA, MIN_SCHEMA};
pub use contract::operation::{Operation, MAX_OPERATION_LEN};
pub use exposition::{
    Format, TextFormat, OPENMETRICS_CONTENT_TYPE, PROTOBUF_CONTENT_TYPE, TEXT_CONTENT_TYPE,
};
pub use facade::builder::{BuildError, MetricsBuilder};
pub use facade::connection::{ConnectionGuard, OwnedConnectionGuard};
pub use facade::global::GlobalAlreadySet;
pub use facade::handle::OperationHandle;
pub use facade::Metrics;
#[cfg(feature = "otlp")]
pub use otlp::{OtlpExporter, OtlpStats};
#[cfg(feature = "recorder")]
pub use recorder::{MetricsRecorder, RecorderInstalled};

/// The architecture notes (`ARCHITECTURE.md`): the module map, the data path, and
/// where to add a family, a layer or a format.
#[doc = include_str!("../ARCHITECTURE.md")]
pub mod architecture {}

/// Link targets of the guide's chapters in these docs. A chapter names another as
/// `[label][chapter]` and defines the label for GitHub (`[chapter]: chapter.md`) at its
/// end; these definitions come first, and the first definition of a label wins.
macro_rules! guide_links {
    () => {
        "[instrumenting]: crate::guide::instrumenting\n\
         [layers]: crate::guide::layers\n\
         [endpoint]: crate::guide::endpoint\n\
         [configuration]: crate::guide::configuration\n\
         [metric-contract]: crate::guide::metric_contract\n\
         [traces]: crate::guide::traces_and_exemplars\n\
         [native-histograms]: crate::guide::native_histograms\n\
         [prometheus]: crate::guide::prometheus\n\
         [alerts]: crate::guide::alerts_and_fleet\n\
         [reliability]: crate::guide::reliability\n\
         [performance]: crate::guide::performance\n\
         [migrating]: crate::guide::migrating_from_go\n\
         [example-server]: crate::guide::example_server\n\
         [otlp]: crate::guide::otlp\n\
         [metrics-facade]: crate::guide::metrics_facade\n\
         [live-page]: crate::guide::live_page\n\
         [architecture]: crate::architecture\n\n"
    };
}

pub mod guide {
    //! The guide, one chapter per concern (the files of `docs/` in the repository). Their
    //! Rust examples run as doctests.
    //!
    //! | chapter | what it answers |
    //! |---|---|
    //! | [`instrumenting`] | the attribute, the derive, operations of your own, whole `impl` blocks, recording by hand |
    //! | [`layers`] | one line per server: requests, durations, in-flight requests, connections |
    //! | [`endpoint`] | serving `/metrics`, negotiation, TLS and auth, what protects it, the resource collector |
    //! | [`configuration`] | every field and builder setting, its default, and the error a bad value gets |
    //! | [`metric_contract`] | the families, labels and label values, bounds, what a scrape is guaranteed to see |
    //! | [`traces_and_exemplars`] | from a slow panel to the slow call |
    //! | [`native_histograms`] | exponential buckets beside the classic ones: settings, accuracy, cost |
    //! | [`prometheus`] | what Prometheus 2 and 3 ask for and get |
    //! | [`otlp`] | pushing the same metrics to an OpenTelemetry collector or Prometheus' OTLP receiver |
    //! | [`metrics_facade`] | `counter!`, `gauge!`, `histogram!` of the service and its crates, on the same endpoint |
    //! | [`live_page`] | a page on the metrics port: operations, latency heatmap, errors, slowest calls; its JSON snapshot |
    //! | [`alerts_and_fleet`] | PromQL, recording rules, tested SLO alerts, a fleet on VictoriaMetrics |
    //! | [`reliability`] | the end-to-end proof, fuzzing, crash safety, attacks, soak |
    //! | [`performance`] | one table per area, beside the `prometheus` crate and `autometrics` |
    //! | [`migrating_from_go`] | every identifier of the Go package and what changed |
    //! | [`example_server`] | the instrumented keystore of the repository and its tools |
    //! | [`architecture`](crate::architecture) | the module map, the data path, where to add things |

    // A chapter whose examples need a feature is left out of the doctests of a build
    // without it (`cargo test -p keychain-metrics --doc` has the default features only);
    // the documentation always has it.
    macro_rules! chapters {
        ($($name:ident = $file:literal $(if $feature:literal)?),* $(,)?) => {$(
            #[doc = concat!(guide_links!(), include_str!(concat!("../docs/", $file)))]
            #[cfg(any(not(doctest) $(, feature = $feature)?))]
            pub mod $name {}
        )*};
    }

    chapters! {
        instrumenting = "instrumenting.md",
        layers = "layers.md",
        endpoint = "endpoint.md",
        configuration = "configuration.md",
        metric_contract = "metric-contract.md",
        traces_and_exemplars = "traces-and-exemplars.md",
        native_histograms = "native-histograms.md",
        prometheus = "prometheus.md",
        otlp = "otlp.md" if "otlp",
        metrics_facade = "metrics-facade.md" if "recorder",
        live_page = "live-page.md" if "ui",
        alerts_and_fleet = "alerts-and-fleet.md",
        reliability = "reliability.md",
        performance = "performance.md",
        migrating_from_go = "migrating-from-go.md",
        example_server = "example-server.md",
    }
}

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// The crate's own README (the one crates.io shows), its example run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadmeDoctests;

pub use keychain_metrics_macros::{instrument_op, ErrorType, Operation};
#[doc(no_inline)]
pub use prometheus;
