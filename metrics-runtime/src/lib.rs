//! Prometheus instrumentation for keychain services.
//!
//! `keychain-metrics` records what a keychain service does (key generation, signing,
//! encryption across backends such as `pkcs8`, `pkcs11`, `tpm2`) under the metric names
//! of the Go package it succeeds, so existing dashboards and alerts keep working.
//!
//! - [`Metrics`] owns the series and a [`prometheus::Registry`]; build one per test with
//!   [`Metrics::new`], or use the process-wide [`Metrics::global`].
//! - [`Metrics::operation`] resolves an (operation, backend) pair once; recording through
//!   the [`OperationHandle`] is a few plain stores into this thread's cells.
//! - [`Metrics::encode_text`] and [`Metrics::encode_openmetrics`] render the exposition.
//!
//! ```
//! use std::time::Duration;
//! use keychain_metrics::{Metrics, Op, Protocol, Status};
//!
//! let metrics = Metrics::new();
//! let generate = metrics.operation(Op::Generate, "pkcs8");
//! generate.record(Status::Success, Duration::from_millis(5));
//! metrics.record_error(Op::Sign, "tpm2", "key_not_found");
//! let _in_flight = metrics.track_connection(Protocol::Grpc);
//!
//! let text = metrics.encode_text();
//! assert!(text.contains(r#"keychain_operation_duration_seconds_bucket{backend="pkcs8",operation="generate",le="0.005"} 1"#));
//! assert!(text.contains(r#"keychain_errors_total{backend="tpm2",error_type="key_not_found",operation="sign"} 1"#));
//! assert!(text.contains(r#"keychain_active_connections{protocol="grpc"} 1"#));
//! ```
//!
//! # What a scrape sees
//! Each series is recorded and read whole: a scrape never sees a histogram whose buckets,
//! `_count` and `_sum` disagree, and an operation's status counter and its duration
//! histogram always describe the same recordings. See the `stripe` module for how.

mod bridge;
mod buckets;
mod builder;
mod cap;
mod clock;
mod connection;
mod contract;
mod error_type;
mod exposition;
mod family;
mod foreign;
mod global;
mod handle;
mod labels;
mod lease;
mod metrics;
#[doc(hidden)]
pub mod __private {
    //! Support for generated code; not a public API.
    pub use crate::private::*;
}
mod private;
mod render;
mod series;
mod stripe;

pub use buckets::{DEFAULT_BUCKETS, MAX_BUCKETS, OPERATION_BUCKETS};
pub use builder::{BuildError, MetricsBuilder};
pub use cap::{DEFAULT_MAX_LABEL_VALUES, MAX_LABEL_LEN, OVERFLOW};
pub use connection::{ConnectionGuard, OwnedConnectionGuard};
pub use error_type::ErrorType;
pub use exposition::{Format, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE};
pub use global::GlobalAlreadySet;
pub use handle::OperationHandle;
pub use labels::{
    GrpcCode, HttpMethod, Op, Protocol, Status, UnknownLabelValue, LABEL_BACKEND, LABEL_ERROR_TYPE,
    LABEL_METHOD, LABEL_OPERATION, LABEL_PROTOCOL, LABEL_STATUS, LABEL_STATUS_CODE,
};
pub use metrics::Metrics;

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

#[doc(no_inline)]
#[allow(unused_imports)] // the macros land with the macro issue
pub use keychain_metrics_macros::*;
#[doc(no_inline)]
pub use prometheus;
