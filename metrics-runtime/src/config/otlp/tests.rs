use std::collections::HashMap;
use std::time::Duration;

use super::*;
use crate::config::{ConfigError, MetricsConfig};

/// An environment of the given variables only.
fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| vars.get(name).cloned()
}

fn resolve(config: &OtlpConfig, vars: &[(&str, &str)]) -> Result<Push, ConfigError> {
    config.resolve(&env(vars))
}

fn resource<'a>(push: &'a Push, key: &str) -> Option<&'a str> {
    push.resource
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[test]
fn defaults_without_settings_or_variables() {
    let push = resolve(&OtlpConfig::default(), &[]).unwrap();
    assert_eq!(push.url, "http://localhost:4318/v1/metrics");
    assert_eq!(push.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(
        (push.interval, push.timeout),
        (Duration::from_secs(60), Duration::from_secs(10))
    );
    assert_eq!(push.temporality, Temporality::Cumulative);
    assert!(push.gzip);
    assert_eq!(resource(&push, "service.name"), Some("keychain"));
    let instance = resource(&push, "service.instance.id").unwrap();
    assert!(
        instance.ends_with(&format!(":{}", std::process::id())),
        "{instance}"
    );
    let grpc = resolve(&OtlpConfig::default().protocol(OtlpProtocol::Grpc), &[]).unwrap();
    assert_eq!(grpc.url, "http://localhost:4317/");
}

#[test]
fn the_variables_of_the_specification() {
    let push = resolve(
        &OtlpConfig::default(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318/"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "15000"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                "LowMemory",
            ),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer%20a,x-tenant=one",
            ),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-tenant=two"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=vault,deployment.environment=prod",
            ),
            ("OTEL_SERVICE_NAME", "kms"),
        ],
    )
    .unwrap();
    // The general endpoint gains the signal's path.
    assert_eq!(push.url, "https://collector:4318/v1/metrics");
    assert_eq!(
        (push.timeout, push.interval),
        (Duration::from_millis(2500), Duration::from_secs(15))
    );
    assert_eq!(push.temporality, Temporality::Delta);
    assert!(!push.gzip);
    // The metrics-specific header replaces the general one of the same name.
    assert_eq!(
        push.headers,
        [
            ("authorization".to_string(), "Bearer a".to_string()),
            ("x-tenant".into(), "two".into())
        ]
    );
    // OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES.
    assert_eq!(resource(&push, "service.name"), Some("kms"));
    assert_eq!(resource(&push, "deployment.environment"), Some("prod"));
}

#[test]
fn settings_win_over_variables_and_the_specific_endpoint_is_used_as_it_is() {
    let vars = [
        (
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "http://a:4318/custom",
        ),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://b:4318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_SERVICE_NAME", "kms"),
    ];
    let from_env = resolve(
        &OtlpConfig::default().protocol(OtlpProtocol::HttpProtobuf),
        &vars,
    )
    .unwrap();
    assert_eq!(from_env.url, "http://a:4318/custom");
    let set = OtlpConfig::default()
        .endpoint("http://c:4317")
        .service_name("vault")
        .interval(Duration::from_secs(5));
    let push = resolve(&set, &vars).unwrap();
    assert_eq!(
        push.protocol,
        OtlpProtocol::Grpc,
        "from the variable: not set"
    );
    assert_eq!(push.url, "http://c:4317/");
    assert_eq!(resource(&push, "service.name"), Some("vault"));
    assert_eq!(push.interval, Duration::from_secs(5));
}

#[test]
fn the_environment_decides_whether_to_push() {
    assert_eq!(OtlpConfig::from_env_with(&env(&[])), None);
    assert!(
        OtlpConfig::from_env_with(&env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]))
            .is_some()
    );
    assert!(
        OtlpConfig::from_env_with(&env(&[("OTEL_METRICS_EXPORTER", "prometheus,otlp")])).is_some()
    );
    let off = [
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
    ];
    assert_eq!(OtlpConfig::from_env_with(&env(&off)), None);
}

#[test]
fn bad_values_name_their_variable_or_field() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")], "OTEL_EXPORTER_OTLP_PROTOCOL: \"http/json\": must be http/protobuf or grpc"),
        (&[("OTEL_EXPORTER_OTLP_TIMEOUT", "10s")], "OTEL_EXPORTER_OTLP_TIMEOUT: \"10s\": must be a whole number of milliseconds above 0"),
        (&[("OTEL_METRIC_EXPORT_INTERVAL", "0")], "OTEL_METRIC_EXPORT_INTERVAL: \"0\""),
        (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")], "OTEL_EXPORTER_OTLP_ENDPOINT: \"collector:4318\": must be an http:// or https:// URL with a host"),
        (&[("OTEL_EXPORTER_OTLP_HEADERS", "novalue")], "OTEL_EXPORTER_OTLP_HEADERS: \"(hidden)\": each entry must be key=value"),
        (&[("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "sometimes")], "must be cumulative, delta or lowmemory"),
        (&[("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/c.pem")], "metrics.otlp.tls: cert_file or key_file: give both"),
    ];
    for (vars, message) in cases {
        let e = resolve(&OtlpConfig::default(), vars)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(message) || e.contains(message),
            "{vars:?}: {e}"
        );
    }
    let e = resolve(&OtlpConfig::default().interval(Duration::ZERO), &[]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "metrics.otlp.interval: 0: must be greater than zero"
    );
}

#[test]
fn the_yaml_block() {
    let config = MetricsConfig::from_yaml(
        "metrics:\n  otlp:\n    endpoint: http://collector:4317\n    protocol: grpc\n    interval: 15s\n    \
         timeout: 2s\n    temporality: delta\n    headers: { authorization: Bearer x }\n    \
         resource: { deployment.environment: prod }\n    compression: none\n    \
         tls: { ca_file: /ca.pem }\n",
    )
    .unwrap();
    let otlp = config.otlp.unwrap();
    assert_eq!(otlp.protocol, Some(OtlpProtocol::Grpc));
    assert_eq!(
        (otlp.interval, otlp.timeout),
        (Some(Duration::from_secs(15)), Some(Duration::from_secs(2)))
    );
    assert_eq!(otlp.temporality, Some(Temporality::Delta));
    assert_eq!(otlp.compression, Some(Compression::None));
    assert_eq!(otlp.tls.unwrap().ca_file, Some("/ca.pem".into()));
    assert_eq!(MetricsConfig::from_yaml("metrics: {}").unwrap().otlp, None);
    for (yaml, error) in [
        (
            "metrics: { otlp: { protocol: http/json } }",
            "metrics.otlp.protocol: \"http/json\": must be http/protobuf or grpc",
        ),
        (
            "metrics: { otlp: { interval: soon } }",
            "metrics.otlp.interval: \"soon\": not a duration",
        ),
        (
            "metrics: { otlp: { endpoint: collector } }",
            "metrics.otlp.endpoint: \"collector\": must be an http:// or https:// URL with a host",
        ),
        (
            "metrics: { otlp: { temporality: both } }",
            "metrics.otlp.temporality: \"both\": must be cumulative or delta",
        ),
        (
            "metrics: { otlp: { headers: { \"bad name\": x } } }",
            "metrics.otlp.headers: \"bad name\": not a valid HTTP header name",
        ),
        (
            "metrics: { otlp: { endpoints: x } }",
            "metrics.otlp.endpoints: unknown field `endpoints`",
        ),
    ] {
        let e = MetricsConfig::from_yaml(yaml).unwrap_err().to_string();
        assert!(e.starts_with(error), "{yaml}: {e}");
    }
}
