//! `metrics.otlp:` as the YAML writes it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::resolve::{check_header, endpoint};
use super::{Compression, OtlpConfig, OtlpProtocol, OtlpTls, Temporality};
use crate::config::duration::{parse_duration, RawDuration};
use crate::config::error::{invalid, ConfigError};

/// `metrics.otlp:` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOtlp {
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
    pub(crate) fn read(self) -> Result<OtlpConfig, ConfigError> {
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
