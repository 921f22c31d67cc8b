//! The settings in force: an [`OtlpConfig`], then the environment, then the defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::{Compression, OtlpConfig, OtlpProtocol, OtlpTls, Temporality};
use crate::config::error::{invalid, ConfigError};

impl OtlpConfig {
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
        let timeout = match (self.timeout, var("TIMEOUT")) {
            (Some(t), _) => positive("metrics.otlp.timeout", t)?,
            (None, Some((name, v))) => millis(name, v)?,
            (None, None) => Duration::from_secs(10),
        };
        let interval = match (self.interval, env("OTEL_METRIC_EXPORT_INTERVAL")) {
            (Some(i), _) => positive("metrics.otlp.interval", i)?,
            (None, Some(v)) => millis("OTEL_METRIC_EXPORT_INTERVAL".into(), v)?,
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

/// A variable's whole number of milliseconds, above 0.
fn millis(name: String, value: String) -> Result<Duration, ConfigError> {
    match value.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(env_invalid(
            name,
            value,
            "must be a whole number of milliseconds above 0",
        )),
    }
}

fn positive(field: &'static str, d: Duration) -> Result<Duration, ConfigError> {
    if d.is_zero() {
        return Err(invalid(field, "0", "must be greater than zero"));
    }
    Ok(d)
}

/// An endpoint URL; `append` adds `/v1/metrics` to an HTTP URL without a path.
pub(super) fn endpoint(
    field: &str,
    text: &str,
    grpc: bool,
    append: bool,
) -> Result<http::Uri, ConfigError> {
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

pub(super) fn check_header(
    field: &'static str,
    name: &str,
    value: &str,
) -> Result<(), ConfigError> {
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
