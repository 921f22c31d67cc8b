//! [`OtlpConfig`]: where and how an OTLP exporter pushes, from YAML (`metrics.otlp`), the
//! builder methods, and the standard OpenTelemetry environment variables.
//!
//! Precedence, per field: what the configuration or the builder sets, then the
//! metrics-specific variable (`OTEL_EXPORTER_OTLP_METRICS_*`), then the general one
//! (`OTEL_EXPORTER_OTLP_*`), then the default. `OTEL_SERVICE_NAME` wins over a
//! `service.name` in `OTEL_RESOURCE_ATTRIBUTES`; a configured `resource` entry wins
//! over both.

mod raw;
mod resolve;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::exposition::otlp::Temporality;
pub(crate) use raw::RawOtlp;
pub(crate) use resolve::{parse_headers, Push};

/// The transport to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// `POST …/v1/metrics` with a protobuf body (port 4318). The default.
    #[default]
    HttpProtobuf,
    /// The `MetricsService/Export` call over HTTP/2 (port 4317).
    Grpc,
}

/// Compression of the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// gzip: a push of 180 series shrinks about tenfold. The default.
    #[default]
    Gzip,
    /// None.
    None,
}

/// TLS to the collector: its CA (else the system's roots), and a client certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct OtlpTls {
    /// PEM certificates the collector's certificate must chain to.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain), with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
}

/// An OTLP exporter's settings. Every field is optional: an unset one comes from the
/// environment or its default: per field, what is set here, then the metrics-specific
/// `OTEL_EXPORTER_OTLP_METRICS_*` variable, then the general `OTEL_EXPORTER_OTLP_*`, then
/// the default (see [pushing with OTLP](crate::guide::otlp)).
///
/// ```
/// use std::time::Duration;
/// use keychain_metrics::config::{OtlpConfig, OtlpProtocol, Temporality};
///
/// let config = OtlpConfig::default()
///     .endpoint("http://collector:4317")
///     .protocol(OtlpProtocol::Grpc)
///     .interval(Duration::from_secs(15))
///     .temporality(Temporality::Delta)
///     .header("authorization", "Bearer s3cret")
///     .service_name("kms");
/// assert_eq!(config.interval, Some(Duration::from_secs(15)));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct OtlpConfig {
    /// The collector's URL. For HTTP, a URL without a path gains `/v1/metrics`; for
    /// gRPC, the path is ignored. Default `http://localhost:4318/v1/metrics` (HTTP) or
    /// `http://localhost:4317` (gRPC); `https://` uses TLS.
    pub endpoint: Option<String>,
    /// HTTP with protobuf (default) or gRPC.
    pub protocol: Option<OtlpProtocol>,
    /// Time between exports. Default 60 s.
    pub interval: Option<Duration>,
    /// Time allowed for one export attempt, and for the last one at shutdown. Default
    /// 10 s.
    pub timeout: Option<Duration>,
    /// Cumulative (default) or delta.
    pub temporality: Option<Temporality>,
    /// Headers sent with every export (e.g. `authorization`).
    pub headers: BTreeMap<String, String>,
    /// A file of more headers, `name=value` per line or comma, read before every
    /// export, so a rotated token is used without a restart.
    pub headers_file: Option<PathBuf>,
    /// Resource attributes, beside `service.name` (default `keychain`, which becomes
    /// Prometheus' `job`) and `service.instance.id` (default `host:pid`, which becomes
    /// `instance`).
    pub resource: BTreeMap<String, String>,
    /// gzip (default) or none.
    pub compression: Option<Compression>,
    /// TLS settings for an `https://` endpoint.
    pub tls: Option<OtlpTls>,
}

impl OtlpConfig {
    /// Settings with nothing set, if the environment asks for OTLP: `OTEL_METRICS_EXPORTER`
    /// lists `otlp`, or an OTLP endpoint variable is set (and `OTEL_METRICS_EXPORTER` is
    /// not `none`).
    pub fn from_env() -> Option<Self> {
        Self::from_env_with(&|name| std::env::var(name).ok())
    }

    pub(crate) fn from_env_with(env: &dyn Fn(&str) -> Option<String>) -> Option<Self> {
        let exporters = env("OTEL_METRICS_EXPORTER").unwrap_or_default();
        let listed = |name: &str| exporters.split(',').any(|e| e.trim() == name);
        let endpoint = env("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
            .or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"))
            .is_some_and(|e| !e.trim().is_empty());
        let wanted = listed("otlp") || (endpoint && !listed("none"));
        wanted.then(OtlpConfig::default)
    }

    /// Sets [`OtlpConfig::endpoint`].
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }
    /// Sets [`OtlpConfig::protocol`].
    pub fn protocol(mut self, protocol: OtlpProtocol) -> Self {
        self.protocol = Some(protocol);
        self
    }
    /// Sets [`OtlpConfig::interval`].
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }
    /// Sets [`OtlpConfig::timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// Sets [`OtlpConfig::temporality`].
    pub fn temporality(mut self, temporality: Temporality) -> Self {
        self.temporality = Some(temporality);
        self
    }
    /// Adds a header to [`OtlpConfig::headers`].
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }
    /// Sets [`OtlpConfig::headers_file`].
    pub fn headers_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.headers_file = Some(path.into());
        self
    }
    /// Adds a resource attribute.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource.insert(key.into(), value.into());
        self
    }
    /// Sets `service.name`, which Prometheus' receiver makes the `job` label.
    pub fn service_name(self, name: impl Into<String>) -> Self {
        self.resource_attribute("service.name", name)
    }
    /// Sets [`OtlpConfig::compression`].
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = Some(compression);
        self
    }
    /// Sets [`OtlpConfig::tls`].
    pub fn tls(mut self, tls: OtlpTls) -> Self {
        self.tls = Some(tls);
        self
    }
}
