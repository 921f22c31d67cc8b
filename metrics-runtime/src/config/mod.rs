//! [`MetricsConfig`]: where and how the metrics are served, from YAML in the Go
//! package's shape.
//!
//! ```yaml
//! metrics:
//!   enabled: true
//!   port: 9090
//!   path: /metrics
//!   address: 127.0.0.1        # default: server.host if given, else 127.0.0.1
//!   bearer_token: s3cret       # optional; scrapers then send `Authorization: Bearer s3cret`
//!   bearer_token_file: /run/secrets/metrics-token   # or: the token in a file, re-read when it changes
//!   basic_auth_users: { prometheus: $2y$10$… }     # or: user → bcrypt hash
//!   tls_server_config: { cert_file: metrics.crt, key_file: metrics.key }   # HTTPS; see below
//!   collector_interval: 30s    # default 30s; a number is seconds; also ms, m, h
//!   openmetrics: false         # default false; see below
//!   exemplars: false           # default false; true keeps exemplars and offers OpenMetrics
//!   native_histograms:         # default: none (classic buckets only)
//!     operation: { schema: 3, zero_threshold: 0, max_buckets: 160 }
//!     http: { bucket_factor: 1.1 }   # instead of schema: the coarsest schema this fine
//!     grpc: true               # NativeHistogram's defaults
//!   recorder:                  # the `metrics` facade's metrics (feature `recorder`)
//!     buckets:                 # bounds in the metric's unit, by name as the code spells it
//!       pkcs8.fsync: [0.0005, 0.001, 0.005, 0.02, 0.1]
//!       "*_bytes": [1024, 65536, 1048576]   # also `prefix*` and `*` (every other)
//!     max_label_sets: 1000     # default 1000 per name; later ones fold into `other`
//!     native: false            # or true, or settings as in native_histograms
//!   ui: { enabled: false, path: / }   # the live page (feature `ui`); see UiConfig
//! ```
//!
//! `native_histograms: true` turns all three on with the defaults, `false` (or leaving
//! it out) none; in the per-family form, a family left out has none. Native buckets
//! reach only scrapers that ask for the protobuf format
//! (Prometheus with `--enable-feature=native-histograms`); apply them with
//! [`MetricsConfig::metrics_builder`].
//!
//! `openmetrics: false` (the default) serves the text format 0.0.4 to every scraper,
//! as the Go package did: Prometheus 2.x stores bucket bounds as a target spells them,
//! and queries written for the Go package select `le="1"`, which the OpenMetrics
//! spelling (`le="1.0"`) would not match. `openmetrics: true` offers OpenMetrics to
//! scrapers that rank it first (Prometheus does); update such queries before you switch.
//! `exemplars: true` keeps exemplars (see [`MetricsBuilder::exemplars`]), which only
//! OpenMetrics carries, so it offers OpenMetrics too; with `openmetrics: false` given as
//! well it is an error.
//!
//! `tls_server_config` and `basic_auth_users` take the shape of the web configuration
//! Prometheus exporters share; see [`TlsServerConfig`].
//!
//! Other top-level keys are ignored, so this block can live in a larger server config.
//! One is read: with no `metrics.address`, the metrics listen on `server.host`, as the
//! Go server did, so a Go-era configuration reused as it is serves where it did before
//! (an IP address or `localhost`; a host name is an error that names the field).
//! Every field is optional. A bad value is an error that names the field and the value.

pub(crate) mod duration;
pub(crate) mod error;
mod file;
mod native;
#[cfg(feature = "otlp")]
mod otlp;
mod raw;
#[cfg(feature = "recorder")]
mod recorder;
mod ui;
mod web;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::contract::native::NativeHistogram;
use crate::facade::builder::MetricsBuilder;
use crate::facade::Metrics;
pub use error::ConfigError;
pub(crate) use error::{check_token, invalid};
pub(crate) use file::read_file;
#[cfg(any(feature = "tls", feature = "otlp"))]
pub(crate) use file::{file_error, pem_certificates, pem_private_key};
#[cfg(feature = "otlp")]
pub(crate) use otlp::{parse_headers, Push, RawOtlp};
#[cfg(feature = "otlp")]
pub use otlp::{Compression, OtlpConfig, OtlpProtocol, OtlpTls, Temporality};
pub use ui::{UiConfig, SNAPSHOT_PATH};
pub use web::{ClientAuth, TlsServerConfig, TlsVersion};

/// The metrics endpoint's configuration; see the [module docs](self).
///
/// Fields are added as the endpoint grows, so it is `#[non_exhaustive]`: start from
/// [`MetricsConfig::default`] (or YAML) and set fields.
///
/// ```
/// use keychain_metrics::config::MetricsConfig;
///
/// let mut config = MetricsConfig::default();
/// config.port = 9464;
/// config.bearer_token_file = Some("/run/secrets/metrics-token".into());
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// Whether to serve and record metrics at all.
    pub enabled: bool,
    /// Address to listen on.
    pub address: IpAddr,
    /// Port to listen on.
    pub port: u16,
    /// Path of the exposition, e.g. `/metrics`.
    pub path: String,
    /// If set, scrapes must carry `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// A file holding the token instead (a secret should not sit in the main
    /// configuration): read when the server starts and again whenever the file
    /// changes, so a rotated token is served without a restart. One trailing line
    /// break is ignored. Not together with `bearer_token`.
    pub bearer_token_file: Option<PathBuf>,
    /// Users who may scrape with HTTP basic authentication: name → bcrypt hash. A
    /// scrape is admitted with a valid token or a valid user; with neither configured,
    /// by anyone.
    pub basic_auth_users: BTreeMap<String, String>,
    /// HTTPS, and optionally client certificates (feature `tls`).
    pub tls_server_config: Option<TlsServerConfig>,
    /// How often the resource collector runs.
    pub collector_interval: Duration,
    /// Whether to serve OpenMetrics to scrapers that prefer it; when `false` (the
    /// default), every scrape gets the text format 0.0.4 and its Go-era `le` spellings.
    pub openmetrics: bool,
    /// Whether to keep exemplars of traced observations (see
    /// [`MetricsBuilder::exemplars`]); OpenMetrics is then offered whatever
    /// `openmetrics` says.
    pub exemplars: bool,
    /// Whether OpenMetrics carries `_created` samples, each counter's and histogram's
    /// start (see [`MetricsBuilder::created_samples`]); OpenMetrics is then offered
    /// whatever `openmetrics` says.
    pub created_samples: bool,
    /// The native histograms of the duration families.
    pub native_histograms: NativeHistograms,
    /// Pushing to an OpenTelemetry collector (feature `otlp`): `Some` when the YAML
    /// has a `metrics.otlp` block. See [`OtlpConfig`] and [`OtlpConfig::from_env`].
    #[cfg(feature = "otlp")]
    pub otlp: Option<OtlpConfig>,
    /// How the `metrics` facade's metrics are kept (feature `recorder`): bucket bounds
    /// by name, native histograms, the cap on label sets; applied by
    /// [`MetricsConfig::metrics_builder`].
    #[cfg(feature = "recorder")]
    pub recorder: crate::RecorderConfig,
    /// The live page and its JSON snapshot on the metrics port (feature `ui`); off by
    /// default. See [`UiConfig`].
    pub ui: UiConfig,
}

/// The native histogram of each duration family; `None` keeps classic buckets only.
/// `#[non_exhaustive]` (a family may be added): start from
/// [`NativeHistograms::default`] or [`NativeHistograms::all`] and set fields.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct NativeHistograms {
    /// `*_operation_duration_seconds`.
    pub operation: Option<NativeHistogram>,
    /// `*_http_request_duration_seconds` and the per-route durations.
    pub http: Option<NativeHistogram>,
    /// `*_grpc_request_duration_seconds`.
    pub grpc: Option<NativeHistogram>,
}

impl NativeHistograms {
    /// All three families with [`NativeHistogram::default`].
    pub fn all() -> Self {
        let on = Some(NativeHistogram::default());
        NativeHistograms {
            operation: on,
            http: on,
            grpc: on,
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 9090,
            path: "/metrics".into(),
            bearer_token: None,
            bearer_token_file: None,
            basic_auth_users: BTreeMap::new(),
            tls_server_config: None,
            collector_interval: Duration::from_secs(30),
            openmetrics: false,
            exemplars: false,
            created_samples: false,
            native_histograms: NativeHistograms::default(),
            #[cfg(feature = "otlp")]
            otlp: None,
            #[cfg(feature = "recorder")]
            recorder: crate::RecorderConfig::default(),
            ui: UiConfig::default(),
        }
    }
}

/// The `metrics:` block as a field of a service's own configuration, in any format serde
/// reads (TOML, YAML, JSON, environment): the same fields, defaults and checks as
/// [`MetricsConfig::from_yaml`], unknown fields refused. A check's error names the field
/// within the block (`port: 70000: must be between 1 and 65535`); the deserializer says
/// where the block is. `server.host` is not read: the block stands alone.
///
/// ```
/// use keychain_metrics::config::MetricsConfig;
///
/// #[derive(Debug, serde::Deserialize)]
/// struct Service {
///     name: String,
///     telemetry: MetricsConfig,
/// }
///
/// let text = "name: kms\ntelemetry: { port: 9464, exemplars: true }";
/// let service: Service = serde_saphyr::from_str(text)?;
/// assert_eq!((service.telemetry.port, service.telemetry.exemplars), (9464, true));
/// let bad = serde_saphyr::from_str::<Service>("name: kms\ntelemetry: { port: 0 }");
/// assert!(bad.unwrap_err().to_string().contains("port: 0: must be between 1 and 65535"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<'de> Deserialize<'de> for MetricsConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = raw::RawMetrics::deserialize(deserializer)?;
        raw.into_config(None).map_err(|e| {
            let message = e.to_string();
            let within = message.strip_prefix("metrics.").unwrap_or(&message);
            serde::de::Error::custom(within)
        })
    }
}

/// A URL path as written, nothing else: no spaces, control characters, query or fragment.
fn is_plain_path(path: &str) -> bool {
    !path
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
}

impl MetricsConfig {
    /// Reads the `metrics:` block of a YAML document; absent fields take their defaults.
    ///
    /// ```
    /// use keychain_metrics::config::MetricsConfig;
    ///
    /// let config = MetricsConfig::from_yaml("metrics: { port: 9464 }")?;
    /// assert_eq!(config.port, 9464);
    /// let error = MetricsConfig::from_yaml("metrics: { port: http }").unwrap_err();
    /// assert!(error.to_string().starts_with("metrics.port: "));
    /// # Ok::<(), keychain_metrics::config::ConfigError>(())
    /// ```
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let (metrics, server_host) = raw::parse(text)?;
        metrics.into_config(server_host)
    }

    /// [`MetricsConfig::from_yaml`] for bytes, e.g. a file's: text that is not UTF-8 is
    /// a [`ConfigError::Syntax`] that says where.
    pub fn from_yaml_bytes(bytes: &[u8]) -> Result<Self, ConfigError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => MetricsConfig::from_yaml(text),
            Err(e) => {
                let at = e.valid_up_to();
                let line = 1 + bytes[..at].iter().filter(|b| **b == b'\n').count();
                Err(ConfigError::Syntax(format!(
                    "line {line}: not UTF-8 (byte {at})"
                )))
            }
        }
    }

    /// Reads a YAML file; see [`MetricsConfig::from_yaml`].
    pub fn from_yaml_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        MetricsConfig::from_yaml_bytes(&read_file(path.as_ref())?)
    }

    /// Checks the fields that the types do not: the path, the token, the users, the TLS
    /// policy, the interval. The files named are read when the server starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.port == 0 {
            return Err(invalid("metrics.port", 0, "must be between 1 and 65535"));
        }
        if !self.path.starts_with('/') || self.path == "/" {
            return Err(invalid(
                "metrics.path",
                format!("{:?}", self.path),
                "must start with / and name a path other than /, e.g. /metrics",
            ));
        }
        if !is_plain_path(&self.path) {
            return Err(invalid(
                "metrics.path",
                format!("{:?}", self.path),
                "must be a plain URL path: no spaces, control characters, ? or #",
            ));
        }
        if let Some(token) = &self.bearer_token {
            check_token("metrics.bearer_token", token)?;
        }
        if let Some(file) = &self.bearer_token_file {
            if self.bearer_token.is_some() {
                return Err(invalid(
                    "metrics.bearer_token_file",
                    format!("{:?}", file.display().to_string()),
                    "give bearer_token or bearer_token_file, not both",
                ));
            }
            if file.as_os_str().is_empty() {
                return Err(invalid(
                    "metrics.bearer_token_file",
                    "\"\"",
                    "must name a file; omit it to disable authentication",
                ));
            }
        }
        web::check_users(&self.basic_auth_users)?;
        if let Some(tls) = &self.tls_server_config {
            web::check_tls(tls)?;
        }
        self.ui.check(&self.path)?;
        if self.collector_interval.is_zero() {
            return Err(invalid(
                "metrics.collector_interval",
                "0",
                "must be greater than zero",
            ));
        }
        Ok(())
    }

    /// A [`Metrics`] builder with this configuration's native histograms and exemplars;
    /// set the rest (namespace, buckets, labels) on it, then build.
    ///
    /// ```
    /// use keychain_metrics::config::MetricsConfig;
    ///
    /// let config = MetricsConfig::from_yaml("metrics: { native_histograms: { grpc: true } }")?;
    /// let metrics = config.metrics_builder().namespace("vault").build()?;
    /// # let _ = metrics;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn metrics_builder(&self) -> MetricsBuilder {
        let n = &self.native_histograms;
        let builder = Metrics::builder()
            .operation_native(n.operation)
            .http_native(n.http)
            .grpc_native(n.grpc)
            .exemplars(self.exemplars)
            .created_samples(self.created_samples);
        #[cfg(feature = "recorder")]
        let builder = builder.recorder(self.recorder.clone());
        builder
    }

    /// The address to listen on.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }

    /// Whether only this host can reach the endpoint (a loopback address, the
    /// default): a Prometheus elsewhere cannot scrape it. Worth saying at start-up.
    pub fn is_loopback_only(&self) -> bool {
        self.address.is_loopback()
    }
}
