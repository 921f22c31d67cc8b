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

mod web;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::contract::native::{NativeHistogram, NativeLayout};
use crate::facade::builder::MetricsBuilder;
use crate::facade::Metrics;
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
    /// The native histograms of the duration families.
    pub native_histograms: NativeHistograms,
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
            native_histograms: NativeHistograms::default(),
        }
    }
}

/// A configuration that could not be read or is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not YAML, or not a mapping (the message has the line and column).
    Syntax(String),
    /// A value has the wrong type, or a key is unknown.
    Field {
        /// Where, e.g. `metrics.port`.
        field: String,
        /// What is wrong, with the line and column.
        message: String,
    },
    /// A field has an invalid value.
    Invalid {
        /// The field, e.g. `metrics.port`.
        field: &'static str,
        /// The value as given (a token is never shown).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The file could not be read.
    Io {
        /// The file.
        path: String,
        /// The OS error.
        error: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Syntax(message) => write!(f, "invalid metrics configuration: {message}"),
            ConfigError::Field { field, message } => write!(f, "{field}: {message}"),
            ConfigError::Invalid {
                field,
                value,
                reason,
            } => write!(f, "{field}: {value}: {reason}"),
            ConfigError::Io { path, error } => write!(f, "cannot read {path}: {error}"),
        }
    }
}

impl std::error::Error for ConfigError {}

fn invalid(field: &'static str, value: impl fmt::Display, reason: &'static str) -> ConfigError {
    ConfigError::Invalid {
        field,
        value: value.to_string(),
        reason,
    }
}

/// The largest file [`read_file`] takes: a configuration, a token, a certificate chain
/// or a CA bundle is far smaller.
pub(crate) const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A file's bytes, or a [`ConfigError::Io`] naming it: the configuration file, and the
/// token, certificate and key files the server reads (again when they change). Only a
/// regular file of at most [`MAX_FILE_BYTES`] is read, and it is opened without
/// blocking, so a FIFO or a device put in its place fails at once instead of hanging
/// the thread that reads it.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, ConfigError> {
    use std::io::Read as _;

    let error = |error: String| ConfigError::Io {
        path: path.display().to_string(),
        error,
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // Opening a FIFO for reading waits for a writer; this does not.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path).map_err(|e| error(e.to_string()))?;
    let meta = file.metadata().map_err(|e| error(e.to_string()))?;
    if !meta.is_file() {
        return Err(error("not a regular file".into()));
    }
    let too_large = || error(format!("larger than {} KiB", MAX_FILE_BYTES / 1024));
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| error(e.to_string()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large()); // it grew while read
    }
    Ok(bytes)
}

/// A bearer token as `field` gives it: not empty, printable ASCII without spaces. The
/// token itself is never part of the error.
pub(crate) fn check_token(field: &'static str, token: &str) -> Result<(), ConfigError> {
    if token.trim().is_empty() {
        return Err(invalid(
            field,
            "(empty)",
            "must not be empty; omit it to disable authentication",
        ));
    }
    if token.chars().any(|c| !c.is_ascii_graphic()) {
        return Err(invalid(
            field,
            "(hidden)",
            "must be printable ASCII without spaces",
        ));
    }
    Ok(())
}

/// The file as written: loosely typed, so that range and format errors can name the
/// field and the value instead of a deserializer's type error.
#[derive(Deserialize, Default)]
struct RawFile {
    #[serde(default)]
    metrics: Option<RawMetrics>,
    /// The Go server's block; only its `host` is read.
    #[serde(default)]
    server: Option<RawServer>,
}

/// A `server:` block with a string `host`; any other shape belongs to someone else
/// and is ignored, as before this was read.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawServer {
    Host { host: String },
    Other(serde::de::IgnoredAny),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    enabled: Option<bool>,
    port: Option<i64>,
    path: Option<String>,
    address: Option<String>,
    bearer_token: Option<String>,
    bearer_token_file: Option<String>,
    basic_auth_users: Option<BTreeMap<String, String>>,
    tls_server_config: Option<web::RawTls>,
    collector_interval: Option<RawDuration>,
    openmetrics: Option<bool>,
    exemplars: Option<bool>,
    native_histograms: Option<RawNatives>,
}

/// `native_histograms:`: a switch for all three, or one entry per family.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "true, false, or a map of operation, http and grpc"
)]
enum RawNatives {
    All(bool),
    Each(RawEach),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEach {
    operation: Option<RawNative>,
    http: Option<RawNative>,
    grpc: Option<RawNative>,
}

/// One family's native histogram: a switch, or its settings.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "true, false, or a map of schema or bucket_factor, zero_threshold and max_buckets"
)]
enum RawNative {
    On(bool),
    Settings(RawNativeSettings),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNativeSettings {
    schema: Option<i64>,
    bucket_factor: Option<f64>,
    zero_threshold: Option<f64>,
    max_buckets: Option<i64>,
}

/// The field names of one family's settings, for errors.
struct NativeFields {
    schema: &'static str,
    bucket_factor: &'static str,
    zero_threshold: &'static str,
    max_buckets: &'static str,
}

macro_rules! native_fields {
    ($family:literal) => {
        NativeFields {
            schema: concat!("metrics.native_histograms.", $family, ".schema"),
            bucket_factor: concat!("metrics.native_histograms.", $family, ".bucket_factor"),
            zero_threshold: concat!("metrics.native_histograms.", $family, ".zero_threshold"),
            max_buckets: concat!("metrics.native_histograms.", $family, ".max_buckets"),
        }
    };
}

fn native(raw: Option<RawNative>, f: NativeFields) -> Result<Option<NativeHistogram>, ConfigError> {
    let s = match raw {
        Some(RawNative::On(true)) => return Ok(Some(NativeHistogram::default())),
        None | Some(RawNative::On(false)) => return Ok(None),
        Some(RawNative::Settings(s)) => s,
    };
    let mut n = NativeHistogram::default();
    match (s.schema, s.bucket_factor) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                f.bucket_factor,
                "(with schema)",
                "give schema or bucket_factor, not both",
            ))
        }
        (Some(schema), None) => {
            n = n.schema(i8::try_from(schema).unwrap_or(i8::MAX));
            check(&n, f.schema, schema, "must be between -4 and 8")?;
        }
        (None, Some(factor)) => {
            n = n.bucket_factor(factor);
            check(&n, f.bucket_factor, factor, "must be above 1")?;
        }
        (None, None) => {}
    }
    if let Some(z) = s.zero_threshold {
        n = n.zero_threshold(z);
        check(
            &n,
            f.zero_threshold,
            z,
            "must be a duration of 0 s up to 1 hour",
        )?;
    }
    if let Some(m) = s.max_buckets {
        n = n.max_buckets(u32::try_from(m).unwrap_or(0));
        check(&n, f.max_buckets, m, "must be between 8 and 4096")?;
    }
    Ok(Some(n))
}

/// Fails with `field`, `value` and `reason` if `n` is not valid.
fn check(
    n: &NativeHistogram,
    field: &'static str,
    value: impl fmt::Display,
    reason: &'static str,
) -> Result<(), ConfigError> {
    NativeLayout::new(n)
        .map(drop)
        .map_err(|_| invalid(field, value, reason))
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
        let raw = RawMetrics::deserialize(deserializer)?;
        MetricsConfig::from_raw(raw, None).map_err(|e| {
            let message = e.to_string();
            let within = message.strip_prefix("metrics.").unwrap_or(&message);
            serde::de::Error::custom(within)
        })
    }
}

#[derive(Deserialize)]
#[serde(untagged, expecting = "seconds, or a number with ms, s, m or h")]
enum RawDuration {
    Seconds(f64),
    Text(String),
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
        let raw = if text.trim().is_empty() {
            RawFile::default()
        } else {
            parse_raw(text)?
        };
        let server_host = match raw.server {
            Some(RawServer::Host { host }) => Some(host),
            _ => None,
        };
        MetricsConfig::from_raw(raw.metrics.unwrap_or_default(), server_host)
    }

    /// The configuration of a `metrics:` block, checked; `server_host` is the Go
    /// server's `server.host`, if the document has one.
    fn from_raw(raw: RawMetrics, server_host: Option<String>) -> Result<Self, ConfigError> {
        let defaults = MetricsConfig::default();
        let config = MetricsConfig {
            enabled: raw.enabled.unwrap_or(defaults.enabled),
            address: match (raw.address, server_host) {
                (Some(a), _) => a.trim().parse().map_err(|_| {
                    invalid("metrics.address", format!("{a:?}"), "not an IP address")
                })?,
                (None, Some(host)) => match host.trim() {
                    "localhost" => defaults.address,
                    h => h.parse().map_err(|_| {
                        invalid(
                            "server.host",
                            format!("{host:?}"),
                            "not an IP address: set metrics.address to the address to serve metrics on",
                        )
                    })?,
                },
                (None, None) => defaults.address,
            },
            port: match raw.port {
                Some(p) => u16::try_from(p)
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| invalid("metrics.port", p, "must be between 1 and 65535"))?,
                None => defaults.port,
            },
            path: raw.path.unwrap_or(defaults.path),
            bearer_token: raw.bearer_token,
            bearer_token_file: raw.bearer_token_file.map(PathBuf::from),
            basic_auth_users: raw.basic_auth_users.unwrap_or_default(),
            tls_server_config: raw.tls_server_config.map(web::RawTls::read).transpose()?,
            collector_interval: match raw.collector_interval {
                Some(d) => parse_duration(d)?,
                None => defaults.collector_interval,
            },
            openmetrics: match (raw.openmetrics, raw.exemplars) {
                (Some(false), Some(true)) => {
                    return Err(invalid(
                        "metrics.openmetrics",
                        false,
                        "exemplars: true needs OpenMetrics, the only format that carries \
                         exemplars; leave openmetrics out or set it to true",
                    ))
                }
                (om, _) => om.unwrap_or(defaults.openmetrics),
            },
            exemplars: raw.exemplars.unwrap_or(defaults.exemplars),
            native_histograms: match raw.native_histograms {
                Some(RawNatives::All(true)) => NativeHistograms::all(),
                None | Some(RawNatives::All(false)) => NativeHistograms::default(),
                Some(RawNatives::Each(each)) => NativeHistograms {
                    operation: native(each.operation, native_fields!("operation"))?,
                    http: native(each.http, native_fields!("http"))?,
                    grpc: native(each.grpc, native_fields!("grpc"))?,
                },
            },
        };
        config.validate()?;
        Ok(config)
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
        if self
            .path
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
        {
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
        Metrics::builder()
            .operation_native(n.operation)
            .http_native(n.http)
            .grpc_native(n.grpc)
            .exemplars(self.exemplars)
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

/// Parses the document, keeping the path of the value a type error is about, so the
/// error can name the field (`metrics.port`) and not only a line and column.
fn parse_raw(text: &str) -> Result<RawFile, ConfigError> {
    let mut path = String::new();
    // A tag on a field name (`!x port: 1`) would be dropped without a word, and two keys
    // that differ only by such a tag would meet as a duplicate field with no location.
    let options = serde_saphyr::options! { reject_tagged_field_names: true };
    serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        let mut track = serde_path_to_error::Track::new();
        RawFile::deserialize(serde_path_to_error::Deserializer::new(de, &mut track))
            .inspect_err(|_| path = track.path().to_string())
    })
    .map_err(|e| {
        // Without the source snippet: it could show a bearer token.
        let message = match e.without_snippet() {
            serde_saphyr::Error::DuplicateMappingKey { key, location } => {
                let key = key.as_deref().unwrap_or("a key");
                at(&format!("{key} is given twice"), location)
            }
            serde_saphyr::Error::TaggedStructFieldName { tag, location } => at(
                &format!("a field name cannot carry a tag ({tag})"),
                location,
            ),
            e => {
                let message = e.to_string();
                match message.strip_prefix("error: ") {
                    Some(rest) => rest.to_owned(),
                    None => message,
                }
            }
        };
        // An unknown key is `?` in the path; the error names it, so the map is the field.
        let field = path.trim_end_matches('?').trim_end_matches('.');
        if field.is_empty() {
            ConfigError::Syntax(message)
        } else {
            ConfigError::Field {
                field: field.to_owned(),
                message,
            }
        }
    })
}

/// `message at line L, column C`, the way the parser says where.
fn at(message: &str, location: &serde_saphyr::Location) -> String {
    format!(
        "{message} at line {}, column {}",
        location.line(),
        location.column()
    )
}

/// `30`, `2.5`, `"30s"`, `"500ms"`, `"2m"`, `"1h"`.
fn parse_duration(raw: RawDuration) -> Result<Duration, ConfigError> {
    const FIELD: &str = "metrics.collector_interval";
    let (seconds, shown) = match raw {
        RawDuration::Seconds(s) => (s, s.to_string()),
        RawDuration::Text(text) => {
            let t = text.trim();
            let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
                (n, 1e-3)
            } else if let Some(n) = t.strip_suffix('s') {
                (n, 1.0)
            } else if let Some(n) = t.strip_suffix('m') {
                (n, 60.0)
            } else if let Some(n) = t.strip_suffix('h') {
                (n, 3600.0)
            } else {
                (t, 1.0)
            };
            let n: f64 = number.trim().parse().map_err(|_| {
                invalid(
                    FIELD,
                    format!("{text:?}"),
                    "not a duration: use seconds or a number with ms, s, m or h",
                )
            })?;
            (n * scale, format!("{text:?}"))
        }
    };
    if seconds.is_nan() || seconds < 0.0 {
        return Err(invalid(FIELD, shown, "must be greater than zero"));
    }
    if seconds == 0.0 {
        return Err(invalid(FIELD, shown, "must be greater than zero"));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| invalid(FIELD, shown, "too large"))
}
