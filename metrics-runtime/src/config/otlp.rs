//! [`OtlpConfig`]: where and how an OTLP exporter pushes, from YAML (`metrics.otlp`), the
//! builder methods, and the standard OpenTelemetry environment variables.
//!
//! Precedence, per field: what the configuration or the builder sets, then the
//! metrics-specific variable (`OTEL_EXPORTER_OTLP_METRICS_*`), then the general one
//! (`OTEL_EXPORTER_OTLP_*`), then the default. `OTEL_SERVICE_NAME` wins over a
//! `service.name` in `OTEL_RESOURCE_ATTRIBUTES`; a configured `resource` entry wins
//! over both.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::error::{invalid, ConfigError};
use super::raw::{parse_duration, RawDuration};
pub use crate::exposition::otlp::Temporality;

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
/// environment or its default (see the [module docs](self)).
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

    /// The settings in force: these, then the environment, then the defaults.
    pub(crate) fn resolve(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Push, ConfigError> {
        // The metrics-specific variable, then the general one.
        let var = |suffix: &str| -> Option<(String, String)> {
            [
                format!("OTEL_EXPORTER_OTLP_METRICS_{suffix}"),
                format!("OTEL_EXPORTER_OTLP_{suffix}"),
            ]
            .into_iter()
            .find_map(|name| {
                env(&name)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (name, v))
            })
        };
        let protocol = match (self.protocol, var("PROTOCOL")) {
            (Some(p), _) => p,
            (None, Some((name, v))) => match v.trim() {
                "http/protobuf" => OtlpProtocol::HttpProtobuf,
                "grpc" => OtlpProtocol::Grpc,
                _ => {
                    return Err(env_invalid(
                        name,
                        v,
                        "must be http/protobuf or grpc (http/json is not supported)",
                    ))
                }
            },
            (None, None) => OtlpProtocol::default(),
        };
        let grpc = protocol == OtlpProtocol::Grpc;
        let url = match (
            &self.endpoint,
            env("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"),
            env("OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Some(e), _, _) => endpoint("metrics.otlp.endpoint", e, grpc, true)?,
            (None, Some(e), _) if !e.trim().is_empty() => {
                endpoint("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", &e, grpc, false)?
            }
            (None, _, Some(e)) if !e.trim().is_empty() => {
                endpoint("OTEL_EXPORTER_OTLP_ENDPOINT", &e, grpc, true)?
            }
            _ if grpc => "http://localhost:4317".parse().expect("a valid URL"),
            _ => "http://localhost:4318/v1/metrics"
                .parse()
                .expect("a valid URL"),
        };
        let millis = |suffix: &str, default: Duration| -> Result<Duration, ConfigError> {
            match var(suffix) {
                None => Ok(default),
                Some((name, v)) => match v.trim().parse::<u64>() {
                    Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
                    _ => Err(env_invalid(
                        name,
                        v,
                        "must be a whole number of milliseconds above 0",
                    )),
                },
            }
        };
        let timeout = match self.timeout {
            Some(t) => positive("metrics.otlp.timeout", t)?,
            None => millis("TIMEOUT", Duration::from_secs(10))?,
        };
        let interval = match (self.interval, env("OTEL_METRIC_EXPORT_INTERVAL")) {
            (Some(i), _) => positive("metrics.otlp.interval", i)?,
            (None, Some(v)) => match v.trim().parse::<u64>() {
                Ok(ms) if ms > 0 => Duration::from_millis(ms),
                _ => {
                    return Err(env_invalid(
                        "OTEL_METRIC_EXPORT_INTERVAL".into(),
                        v,
                        "must be a whole number of milliseconds above 0",
                    ))
                }
            },
            (None, None) => Duration::from_secs(60),
        };
        let temporality = match (
            self.temporality,
            env("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"),
        ) {
            (Some(t), _) => t,
            (None, Some(v)) => match v.trim().to_ascii_lowercase().as_str() {
                "cumulative" => Temporality::Cumulative,
                // Low memory: delta for counters and histograms, which is all that delta
                // changes here.
                "delta" | "lowmemory" => Temporality::Delta,
                _ => {
                    return Err(env_invalid(
                        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE".into(),
                        v,
                        "must be cumulative, delta or lowmemory",
                    ))
                }
            },
            (None, None) => Temporality::Cumulative,
        };
        let compression = match (self.compression, var("COMPRESSION")) {
            (Some(c), _) => c,
            (None, Some((name, v))) => match v.trim() {
                "gzip" => Compression::Gzip,
                "none" => Compression::None,
                _ => return Err(env_invalid(name, v, "must be gzip or none")),
            },
            (None, None) => Compression::default(),
        };
        let mut headers = Vec::new();
        for name in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
        ] {
            if let Some(v) = env(name) {
                // Later (more specific) headers replace earlier ones of the same name.
                for (k, v) in parse_headers(&v)
                    .map_err(|reason| env_invalid(name.into(), "(hidden)".into(), reason))?
                {
                    headers.retain(|(n, _): &(String, String)| !n.eq_ignore_ascii_case(&k));
                    headers.push((k, v));
                }
            }
        }
        for (k, v) in &self.headers {
            check_header("metrics.otlp.headers", k, v)?;
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(k));
            headers.push((k.clone(), v.clone()));
        }
        let mut resource: BTreeMap<String, String> = BTreeMap::new();
        resource.insert("service.name".into(), "keychain".into());
        resource.insert("service.instance.id".into(), default_instance());
        if let Some(v) = env("OTEL_RESOURCE_ATTRIBUTES") {
            for (k, v) in parse_pairs(&v).map_err(|reason| {
                env_invalid("OTEL_RESOURCE_ATTRIBUTES".into(), v.clone(), reason)
            })? {
                resource.insert(k, v);
            }
        }
        if let Some(name) = env("OTEL_SERVICE_NAME").filter(|n| !n.trim().is_empty()) {
            resource.insert("service.name".into(), name.trim().to_owned());
        }
        resource.extend(self.resource.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut tls = self.tls.clone().unwrap_or_default();
        for (slot, suffix) in [
            (&mut tls.ca_file, "CERTIFICATE"),
            (&mut tls.cert_file, "CLIENT_CERTIFICATE"),
            (&mut tls.key_file, "CLIENT_KEY"),
        ] {
            if slot.is_none() {
                *slot = var(suffix).map(|(_, v)| PathBuf::from(v));
            }
        }
        if tls.cert_file.is_some() != tls.key_file.is_some() {
            return Err(invalid(
                "metrics.otlp.tls",
                "cert_file or key_file",
                "give both the client certificate and its key, or neither",
            ));
        }
        Ok(Push {
            url,
            protocol,
            interval,
            timeout,
            temporality,
            headers,
            headers_file: self.headers_file.clone(),
            resource: resource.into_iter().collect(),
            gzip: compression == Compression::Gzip,
            tls,
        })
    }
}

/// The settings in force, resolved.
#[derive(Debug, Clone)]
pub(crate) struct Push {
    pub(crate) url: http::Uri,
    pub(crate) protocol: OtlpProtocol,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) temporality: Temporality,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) headers_file: Option<PathBuf>,
    pub(crate) resource: Vec<(String, String)>,
    pub(crate) gzip: bool,
    pub(crate) tls: OtlpTls,
}

fn env_invalid(name: String, value: String, reason: &'static str) -> ConfigError {
    ConfigError::Field {
        field: name,
        message: format!("{value:?}: {reason}"),
    }
}

fn positive(field: &'static str, d: Duration) -> Result<Duration, ConfigError> {
    if d.is_zero() {
        return Err(invalid(field, "0", "must be greater than zero"));
    }
    Ok(d)
}

/// An endpoint URL; `append` adds `/v1/metrics` to an HTTP URL without a path.
fn endpoint(field: &str, text: &str, grpc: bool, append: bool) -> Result<http::Uri, ConfigError> {
    let bad = |reason: &str| ConfigError::Field {
        field: field.to_owned(),
        message: format!("{text:?}: {reason}"),
    };
    let uri: http::Uri = text.trim().parse().map_err(|_| bad("not a URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(bad("must be an http:// or https:// URL with a host"));
    }
    if grpc || !append || !matches!(uri.path(), "" | "/") {
        return Ok(uri);
    }
    let base = text.trim().trim_end_matches('/');
    format!("{base}/v1/metrics")
        .parse()
        .map_err(|_| bad("not a URL"))
}

/// `host:pid`: unique among the processes of a host at any one time.
fn default_instance() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// `k=v,k2=v2`, values percent-decoded, as the OpenTelemetry variables write them.
pub(crate) fn parse_pairs(text: &str) -> Result<Vec<(String, String)>, &'static str> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').ok_or("each entry must be key=value")?;
            let k = k.trim();
            if k.is_empty() {
                return Err("a key is empty");
            }
            Ok((
                k.to_owned(),
                percent_decode(v.trim()).ok_or("a value has a bad %-escape")?,
            ))
        })
        .collect()
}

/// Headers as [`parse_pairs`] reads them, each a valid HTTP header.
pub(crate) fn parse_headers(text: &str) -> Result<Vec<(String, String)>, &'static str> {
    let pairs = parse_pairs(text)?;
    for (k, v) in &pairs {
        if http::HeaderName::try_from(k.as_str()).is_err()
            || http::HeaderValue::try_from(v.as_str()).is_err()
        {
            return Err("not a valid HTTP header name and value");
        }
    }
    Ok(pairs)
}

fn check_header(field: &'static str, name: &str, value: &str) -> Result<(), ConfigError> {
    if http::HeaderName::try_from(name).is_err() {
        return Err(invalid(
            field,
            format!("{name:?}"),
            "not a valid HTTP header name",
        ));
    }
    if http::HeaderValue::try_from(value).is_err() {
        return Err(invalid(
            field,
            format!("{name:?}"),
            "its value is not a valid HTTP header value",
        ));
    }
    Ok(())
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `metrics.otlp:` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOtlp {
    endpoint: Option<String>,
    protocol: Option<String>,
    interval: Option<RawDuration>,
    timeout: Option<RawDuration>,
    temporality: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    headers_file: Option<String>,
    #[serde(default)]
    resource: BTreeMap<String, String>,
    compression: Option<String>,
    tls: Option<RawOtlpTls>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOtlpTls {
    ca_file: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
}

impl RawOtlp {
    pub(super) fn read(self) -> Result<OtlpConfig, ConfigError> {
        let config = OtlpConfig {
            endpoint: self.endpoint,
            protocol: match self.protocol.as_deref().map(str::trim) {
                None => None,
                Some("http/protobuf") => Some(OtlpProtocol::HttpProtobuf),
                Some("grpc") => Some(OtlpProtocol::Grpc),
                Some(p) => {
                    return Err(invalid(
                        "metrics.otlp.protocol",
                        format!("{p:?}"),
                        "must be http/protobuf or grpc",
                    ))
                }
            },
            interval: self
                .interval
                .map(|d| parse_duration(d, "metrics.otlp.interval"))
                .transpose()?,
            timeout: self
                .timeout
                .map(|d| parse_duration(d, "metrics.otlp.timeout"))
                .transpose()?,
            temporality: match self.temporality.as_deref().map(str::trim) {
                None => None,
                Some("cumulative") => Some(Temporality::Cumulative),
                Some("delta") => Some(Temporality::Delta),
                Some(t) => {
                    return Err(invalid(
                        "metrics.otlp.temporality",
                        format!("{t:?}"),
                        "must be cumulative or delta",
                    ))
                }
            },
            headers: self.headers,
            headers_file: self.headers_file.map(PathBuf::from),
            resource: self.resource,
            compression: match self.compression.as_deref().map(str::trim) {
                None => None,
                Some("gzip") => Some(Compression::Gzip),
                Some("none") => Some(Compression::None),
                Some(c) => {
                    return Err(invalid(
                        "metrics.otlp.compression",
                        format!("{c:?}"),
                        "must be gzip or none",
                    ))
                }
            },
            tls: self.tls.map(|t| OtlpTls {
                ca_file: t.ca_file.map(PathBuf::from),
                cert_file: t.cert_file.map(PathBuf::from),
                key_file: t.key_file.map(PathBuf::from),
            }),
        };
        // Check what can be checked without the environment.
        if let Some(e) = &config.endpoint {
            endpoint("metrics.otlp.endpoint", e, false, true)?;
        }
        for (k, v) in &config.headers {
            check_header("metrics.otlp.headers", k, v)?;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests;
