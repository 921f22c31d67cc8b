//! [`MetricsConfig`]: where and how the metrics are served, from YAML in the Go
//! package's shape.
//!
//! ```yaml
//! metrics:
//!   enabled: true
//!   port: 9090
//!   path: /metrics
//!   address: 127.0.0.1        # default 127.0.0.1
//!   bearer_token: s3cret       # optional; scrapers then send `Authorization: Bearer s3cret`
//!   collector_interval: 30s    # default 30s; a number is seconds; also ms, m, h
//! ```
//!
//! Other top-level keys are ignored, so this block can live in a larger server config.
//! Every field is optional. A bad value is an error that names the field and the value.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// The metrics endpoint's configuration; see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// How often the resource collector runs.
    pub collector_interval: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 9090,
            path: "/metrics".into(),
            bearer_token: None,
            collector_interval: Duration::from_secs(30),
        }
    }
}

/// A configuration that could not be read or is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not YAML of the expected shape (the message has the location).
    Syntax(String),
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

/// The file as written: loosely typed, so that range and format errors can name the
/// field and the value instead of a deserializer's type error.
#[derive(Deserialize, Default)]
struct RawFile {
    #[serde(default)]
    metrics: Option<RawMetrics>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    enabled: Option<bool>,
    port: Option<i64>,
    path: Option<String>,
    address: Option<String>,
    bearer_token: Option<String>,
    collector_interval: Option<RawDuration>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Seconds(f64),
    Text(String),
}

impl MetricsConfig {
    /// Reads the `metrics:` block of a YAML document; absent fields take their defaults.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let raw: RawFile = if text.trim().is_empty() {
            RawFile::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?
        };
        let raw = raw.metrics.unwrap_or_default();
        let defaults = MetricsConfig::default();
        let config = MetricsConfig {
            enabled: raw.enabled.unwrap_or(defaults.enabled),
            address: match raw.address {
                Some(a) => a.trim().parse().map_err(|_| {
                    invalid("metrics.address", format!("{a:?}"), "not an IP address")
                })?,
                None => defaults.address,
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
            collector_interval: match raw.collector_interval {
                Some(d) => parse_duration(d)?,
                None => defaults.collector_interval,
            },
        };
        config.validate()?;
        Ok(config)
    }

    /// Reads a YAML file; see [`MetricsConfig::from_yaml`].
    pub fn from_yaml_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
            path: path.display().to_string(),
            error: e.to_string(),
        })?;
        MetricsConfig::from_yaml(&text)
    }

    /// Checks the fields that the types do not: the path, the token, the interval.
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
            if token.trim().is_empty() {
                return Err(invalid(
                    "metrics.bearer_token",
                    "(empty)",
                    "must not be empty; omit it to disable authentication",
                ));
            }
            if token.chars().any(|c| !c.is_ascii_graphic()) {
                return Err(invalid(
                    "metrics.bearer_token",
                    "(hidden)",
                    "must be printable ASCII without spaces",
                ));
            }
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

    /// The address to listen on.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }
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
