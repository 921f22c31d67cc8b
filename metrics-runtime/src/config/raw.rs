//! The configuration as written: loosely typed YAML (or any serde format), turned into
//! a [`MetricsConfig`](crate::config::MetricsConfig) by its checks, so an error names the
//! field and the value instead of a deserializer's type.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::duration::{parse_duration, RawDuration};
use crate::config::invalid;
use std::path::PathBuf;

use crate::config::native::{native, NativeFields, RawNative};
use crate::config::{web, ConfigError, MetricsConfig, NativeHistograms};

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
pub(super) struct RawMetrics {
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
    created_samples: Option<bool>,
    native_histograms: Option<RawNatives>,
    #[cfg(feature = "otlp")]
    otlp: Option<super::RawOtlp>,
    #[cfg(feature = "recorder")]
    recorder: Option<super::recorder::RawRecorder>,
    ui: Option<super::ui::RawUi>,
}

/// `native_histograms:`: a switch for all three, or one entry per family.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "true, false, or a map of operation, http and grpc"
)]
enum RawNatives {
    All(bool),
    Each(Box<RawEach>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEach {
    operation: Option<RawNative>,
    http: Option<RawNative>,
    grpc: Option<RawNative>,
}

macro_rules! native_fields {
    ($family:literal) => {
        NativeFields {
            schema: concat!("metrics.native_histograms.", $family, ".schema"),
            bucket_factor: concat!("metrics.native_histograms.", $family, ".bucket_factor"),
            zero_threshold: concat!("metrics.native_histograms.", $family, ".zero_threshold"),
            max_buckets: concat!("metrics.native_histograms.", $family, ".max_buckets"),
            min_reset_duration: concat!(
                "metrics.native_histograms.",
                $family,
                ".min_reset_duration"
            ),
            max_zero_threshold: concat!(
                "metrics.native_histograms.",
                $family,
                ".max_zero_threshold"
            ),
        }
    };
}

/// The `metrics:` block of a document (empty when it has none) and the Go server's
/// `server.host`, if it has one.
pub(super) fn parse(text: &str) -> Result<(RawMetrics, Option<String>), ConfigError> {
    let raw = if text.trim().is_empty() {
        RawFile::default()
    } else {
        parse_raw(text)?
    };
    let server_host = match raw.server {
        Some(RawServer::Host { host }) => Some(host),
        _ => None,
    };
    Ok((raw.metrics.unwrap_or_default(), server_host))
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

impl RawMetrics {
    /// The configuration this block gives, checked; `server_host` is the Go
    /// server's `server.host`, if the document has one.
    pub(super) fn into_config(
        self,
        server_host: Option<String>,
    ) -> Result<MetricsConfig, ConfigError> {
        let raw = self;
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
                Some(d) => parse_duration(d, "metrics.collector_interval")?,
                None => defaults.collector_interval,
            },
            openmetrics: match (raw.openmetrics, raw.exemplars, raw.created_samples) {
                (Some(false), Some(true), _) => {
                    return Err(invalid(
                        "metrics.openmetrics",
                        false,
                        "exemplars: true needs OpenMetrics, the only format that carries \
                         exemplars; leave openmetrics out or set it to true",
                    ))
                }
                (Some(false), _, Some(true)) => {
                    return Err(invalid(
                        "metrics.openmetrics",
                        false,
                        "created_samples: true needs OpenMetrics, the only text format \
                         with _created samples; leave openmetrics out or set it to true",
                    ))
                }
                (om, _, _) => om.unwrap_or(defaults.openmetrics),
            },
            exemplars: raw.exemplars.unwrap_or(defaults.exemplars),
            created_samples: raw.created_samples.unwrap_or(defaults.created_samples),
            native_histograms: match raw.native_histograms {
                Some(RawNatives::All(true)) => NativeHistograms::all(),
                None | Some(RawNatives::All(false)) => NativeHistograms::default(),
                Some(RawNatives::Each(each)) => NativeHistograms {
                    operation: native(each.operation, native_fields!("operation"))?,
                    http: native(each.http, native_fields!("http"))?,
                    grpc: native(each.grpc, native_fields!("grpc"))?,
                },
            },
            #[cfg(feature = "otlp")]
            otlp: raw.otlp.map(super::RawOtlp::read).transpose()?,
            #[cfg(feature = "recorder")]
            recorder: raw.recorder.unwrap_or_default().read()?,
            ui: raw.ui.unwrap_or_default().read(),
        };
        config.validate()?;
        Ok(config)
    }
}
