//! The YAML config: the seed's shape loads, every invalid case names its field and value.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use keychain_metrics::config::{ConfigError, MetricsConfig};

fn error(yaml: &str) -> String {
    MetricsConfig::from_yaml(yaml).unwrap_err().to_string()
}

#[test]
fn the_go_packages_shape_loads() {
    let c = MetricsConfig::from_yaml("metrics:\n  enabled: true\n  port: 9090\n  path: /metrics\n")
        .unwrap();
    assert_eq!(c, MetricsConfig::default());
}

#[test]
fn a_full_config_loads() {
    let c = MetricsConfig::from_yaml(
        "server: { rest: 127.0.0.1:8080 }   # other sections are ignored
metrics:
  enabled: false
  port: 9464
  path: /internal/metrics
  address: \"::1\"
  bearer_token: s3cret-token
  collector_interval: 500ms
",
    )
    .unwrap();
    assert!(!c.enabled);
    assert_eq!(c.port, 9464);
    assert_eq!(c.path, "/internal/metrics");
    assert_eq!(c.address, IpAddr::V6(Ipv6Addr::LOCALHOST));
    assert_eq!(c.bearer_token.as_deref(), Some("s3cret-token"));
    assert_eq!(c.collector_interval, Duration::from_millis(500));
    assert_eq!(c.socket_addr().to_string(), "[::1]:9464");
}

#[test]
fn empty_or_absent_section_gives_defaults() {
    assert_eq!(
        MetricsConfig::from_yaml("").unwrap(),
        MetricsConfig::default()
    );
    assert_eq!(
        MetricsConfig::from_yaml("other: 1\n").unwrap(),
        MetricsConfig::default()
    );
    let d = MetricsConfig::default();
    assert_eq!(d.address, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(d.collector_interval, Duration::from_secs(30));
}

#[test]
fn a_go_config_serves_metrics_on_server_host() {
    // The Go server listened for metrics on server.host; so does a reused Go config.
    let go = "server:\n  host: 0.0.0.0\n  port: 8443\nmetrics:\n  enabled: true\n  port: 9090\n";
    let c = MetricsConfig::from_yaml(go).unwrap();
    assert_eq!(c.address, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    assert!(!c.is_loopback_only());
    // metrics.address wins; localhost and a missing host keep the loopback default.
    let both = "server: { host: 0.0.0.0 }\nmetrics: { address: 10.0.0.5 }\n";
    assert_eq!(
        MetricsConfig::from_yaml(both).unwrap().address.to_string(),
        "10.0.0.5"
    );
    for yaml in [
        "server: { host: localhost }",
        "server: { port: 1 }",
        "server: 7",
    ] {
        let c = MetricsConfig::from_yaml(yaml).unwrap();
        assert_eq!(c.address, IpAddr::V4(Ipv4Addr::LOCALHOST), "{yaml}");
        assert!(c.is_loopback_only());
    }
    assert_eq!(
        error("server: { host: keychain.internal }"),
        "server.host: \"keychain.internal\": not an IP address: set metrics.address \
         to the address to serve metrics on"
    );
}

#[test]
fn intervals_in_every_spelling() {
    for (text, expected) in [
        ("15", Duration::from_secs(15)),
        ("2.5", Duration::from_millis(2500)),
        ("\"30s\"", Duration::from_secs(30)),
        ("1m", Duration::from_secs(60)),
        ("1h", Duration::from_secs(3600)),
        ("250ms", Duration::from_millis(250)),
    ] {
        let c = MetricsConfig::from_yaml(&format!("metrics: {{ collector_interval: {text} }}"))
            .unwrap();
        assert_eq!(c.collector_interval, expected, "{text}");
    }
}

#[test]
fn each_invalid_value_names_field_and_value() {
    assert_eq!(
        error("metrics: { port: 70000 }"),
        "metrics.port: 70000: must be between 1 and 65535"
    );
    assert_eq!(
        error("metrics: { port: 0 }"),
        "metrics.port: 0: must be between 1 and 65535"
    );
    assert_eq!(
        error("metrics: { port: -1 }"),
        "metrics.port: -1: must be between 1 and 65535"
    );
    assert_eq!(
        error("metrics: { path: metrics }"),
        "metrics.path: \"metrics\": must start with / and name a path other than /, e.g. /metrics"
    );
    assert_eq!(
        error("metrics: { path: / }"),
        "metrics.path: \"/\": must start with / and name a path other than /, e.g. /metrics"
    );
    assert!(error("metrics: { path: \"/a b\" }")
        .starts_with("metrics.path: \"/a b\": must be a plain URL path"));
    assert_eq!(
        error("metrics: { address: localhost:1 }"),
        "metrics.address: \"localhost:1\": not an IP address"
    );
    assert_eq!(
        error("metrics: { address: 999.1.1.1 }"),
        "metrics.address: \"999.1.1.1\": not an IP address"
    );
    assert_eq!(
        error("metrics: { collector_interval: 0 }"),
        "metrics.collector_interval: 0: must be greater than zero"
    );
    assert_eq!(
        error("metrics: { collector_interval: 0s }"),
        "metrics.collector_interval: \"0s\": must be greater than zero"
    );
    assert_eq!(
        error("metrics: { collector_interval: -5 }"),
        "metrics.collector_interval: -5: must be greater than zero"
    );
    assert_eq!(
        error("metrics: { collector_interval: soon }"),
        "metrics.collector_interval: \"soon\": not a duration: use seconds or a number with ms, s, m or h"
    );
    assert_eq!(
        error("metrics: { bearer_token: \"\" }"),
        "metrics.bearer_token: (empty): must not be empty; omit it to disable authentication"
    );
    // The token is never echoed.
    let e = error("metrics: { bearer_token: \"has space\" }");
    assert_eq!(
        e,
        "metrics.bearer_token: (hidden): must be printable ASCII without spaces"
    );
}

#[test]
fn syntax_and_type_errors_say_where() {
    // Type errors name the field, and never show the source line (it could hold a token).
    let e = MetricsConfig::from_yaml("metrics: { port: [1, 2] }").unwrap_err();
    assert!(
        matches!(&e, ConfigError::Field { field, .. } if field == "metrics.port"),
        "{e:?}"
    );
    assert_eq!(
        error("metrics:\n  bearer_token: [s3cret]\n"),
        "metrics.bearer_token: expected string scalar at line 2, column 17"
    );
    assert_eq!(
        error("metrics: { collector_interval: [1] }"),
        "metrics.collector_interval: seconds, or a number with ms, s, m or h at line 1, column 32"
    );
    assert_eq!(
        MetricsConfig::from_yaml_bytes(b"metrics:\n  path: /m\xff\n").unwrap_err(),
        ConfigError::Syntax("line 2: not UTF-8 (byte 19)".into())
    );
    let e = error("metrics: { prot: 9090 }");
    assert!(e.contains("prot"), "{e}");
    assert_eq!(
        error("metrics:\n  enabled: maybe\n"),
        "metrics.enabled: invalid boolean at line 2, column 12"
    );
    assert_eq!(
        error("metrics: [unclosed"),
        "metrics: expected mapping start at line 1, column 10"
    );
    let e = error("[unclosed");
    assert!(e.starts_with("invalid metrics configuration: "), "{e}");
    assert!(e.contains("line 1"), "{e}");
}

#[test]
fn files_are_read_and_missing_files_named() {
    let dir = std::env::temp_dir().join(format!("km-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("metrics.yaml");
    std::fs::write(&file, "metrics:\n  port: 9191\n").unwrap();
    assert_eq!(MetricsConfig::from_yaml_file(&file).unwrap().port, 9191);
    let missing = dir.join("nope.yaml");
    let e = MetricsConfig::from_yaml_file(&missing)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!("cannot read {}", missing.display())),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn native_histograms_per_family() {
    use keychain_metrics::NativeHistogram;
    let c = MetricsConfig::from_yaml(
        "metrics:
  native_histograms:
    operation: { schema: 5, zero_threshold: 0.00001, max_buckets: 64 }
    http: { bucket_factor: 1.1 }
    grpc: false
",
    )
    .unwrap();
    let n = &c.native_histograms;
    assert_eq!(
        n.operation,
        Some(
            NativeHistogram::default()
                .schema(5)
                .zero_threshold(0.00001)
                .max_buckets(64)
        )
    );
    assert_eq!(n.http, Some(NativeHistogram::default().schema(3)));
    assert_eq!(n.grpc, None);
    // A family left out has none; `true` is the defaults, for one family or all.
    let d = MetricsConfig::from_yaml("metrics: { native_histograms: { grpc: true } }").unwrap();
    assert_eq!(
        (d.native_histograms.operation, d.native_histograms.grpc),
        (None, Some(NativeHistogram::default()))
    );
    let all = MetricsConfig::from_yaml("metrics: { native_histograms: true }").unwrap();
    assert_eq!(
        all.native_histograms,
        keychain_metrics::config::NativeHistograms::all()
    );
    assert_eq!(MetricsConfig::default().native_histograms.http, None);
    let off = MetricsConfig::from_yaml("metrics: { native_histograms: false }").unwrap();
    assert_eq!(
        (
            off.native_histograms.operation,
            off.native_histograms.http,
            off.native_histograms.grpc
        ),
        (None, None, None)
    );
    // The builder takes them: a gRPC histogram without native buckets builds.
    c.metrics_builder().build().unwrap();
}

#[test]
fn bad_native_histogram_settings_name_the_field() {
    let err = |yaml: &str| MetricsConfig::from_yaml(yaml).unwrap_err().to_string();
    assert_eq!(
        err("metrics: { native_histograms: { operation: { schema: 9 } } }"),
        "metrics.native_histograms.operation.schema: 9: must be between -4 and 8"
    );
    assert_eq!(
        err("metrics: { native_histograms: { http: { bucket_factor: 0.5 } } }"),
        "metrics.native_histograms.http.bucket_factor: 0.5: must be above 1"
    );
    assert_eq!(
        err("metrics: { native_histograms: { grpc: { max_buckets: 100000 } } }"),
        "metrics.native_histograms.grpc.max_buckets: 100000: must be between 8 and 4096"
    );
    assert_eq!(
        err("metrics: { native_histograms: { grpc: { zero_threshold: -1 } } }"),
        "metrics.native_histograms.grpc.zero_threshold: -1: must be a duration of 0 s up to 1 hour"
    );
    assert!(err("metrics: { native_histograms: { rpc: true } }")
        .starts_with("metrics.native_histograms"),);
    assert_eq!(
        err("metrics: { native_histograms: { http: { zero_threshold: 0.01, max_zero_threshold: 0.001 } } }"),
        "metrics.native_histograms.http.max_zero_threshold: 0.001: must be 0 (never widen) or a duration from zero_threshold up to 1 hour"
    );
    assert_eq!(
        err("metrics: { native_histograms: { http: { min_reset_duration: soon } } }"),
        "metrics.native_histograms.http.min_reset_duration: \"soon\": not a duration: use seconds or a number with ms, s, m or h"
    );
}

#[test]
fn native_histograms_that_recover() {
    use keychain_metrics::NativeHistogram;
    let c = MetricsConfig::from_yaml(
        "metrics: { native_histograms: { operation: { min_reset_duration: 1h, max_zero_threshold: 0.0001 } } }",
    )
    .unwrap();
    assert_eq!(
        c.native_histograms.operation,
        Some(
            NativeHistogram::default()
                .min_reset_duration(std::time::Duration::from_secs(3600))
                .max_zero_threshold(0.0001)
        )
    );
    c.metrics_builder().build().unwrap();
}

#[test]
fn duplicate_and_tagged_keys_say_where() {
    assert_eq!(
        MetricsConfig::from_yaml("metrics: {}\nmetrics: {}\n").unwrap_err(),
        ConfigError::Syntax("metrics is given twice at line 2, column 1".into())
    );
    assert_eq!(
        error("metrics:\n  port: 1\n  \"port\": 2\n"),
        "metrics: port is given twice at line 3, column 3"
    );
    // A tag on a field name would be dropped silently; two keys that differ only by
    // one were a duplicate field with no location (found by the config fuzz target).
    assert_eq!(
        MetricsConfig::from_yaml("metrics: !m\n!pa metrics: !m path:\n").unwrap_err(),
        ConfigError::Syntax("a field name cannot carry a tag (!pa) at line 2, column 5".into())
    );
    assert_eq!(
        error("metrics: {port: 1, !x port: 2}"),
        "metrics: a field name cannot carry a tag (!x) at line 1, column 23"
    );
    // The standard string tag is a plain field name.
    assert_eq!(
        MetricsConfig::from_yaml("metrics: {!!str port: 9100}")
            .unwrap()
            .port,
        9100
    );
}

/// A service's own configuration, with the metrics block nested under its own name.
#[derive(serde::Deserialize, Debug)]
#[allow(dead_code)]
struct Service {
    name: String,
    #[serde(default)]
    telemetry: MetricsConfig,
}

#[test]
fn the_block_nests_in_a_services_own_configuration_in_any_format() {
    let json = r#"{"name": "kms", "telemetry": {"port": 9464, "collector_interval": "2s", "native_histograms": {"grpc": true}}}"#;
    let from_json: Service = serde_json::from_str(json).unwrap();
    let yaml = "name: kms\ntelemetry:\n  port: 9464\n  collector_interval: 2s\n  native_histograms: { grpc: true }\n";
    let from_yaml = MetricsConfig::from_yaml(&yaml.replace("telemetry", "metrics")).unwrap();
    assert_eq!(from_json.telemetry, from_yaml);
    assert_eq!(from_json.telemetry.port, 9464);
    assert_eq!(
        from_json.telemetry.collector_interval,
        Duration::from_secs(2)
    );
    // Left out, the block takes the defaults.
    let bare: Service = serde_json::from_str(r#"{"name": "kms"}"#).unwrap();
    assert_eq!(bare.telemetry, MetricsConfig::default());
}

#[test]
fn a_nested_block_is_checked_and_its_errors_name_the_field() {
    let e = |json: &str| {
        serde_json::from_str::<Service>(json)
            .unwrap_err()
            .to_string()
    };
    let port = e(r#"{"name": "kms", "telemetry": {"port": 70000}}"#);
    assert!(
        port.starts_with("port: 70000: must be between 1 and 65535"),
        "{port}"
    );
    let schema =
        e(r#"{"name": "kms", "telemetry": {"native_histograms": {"operation": {"schema": 9}}}}"#);
    assert!(
        schema.starts_with("native_histograms.operation.schema: 9: must be between -4 and 8"),
        "{schema}"
    );
    let unknown = e(r#"{"name": "kms", "telemetry": {"prot": 1}}"#);
    assert!(unknown.starts_with("unknown field `prot`"), "{unknown}");
    let token = e(r#"{"name": "kms", "telemetry": {"bearer_token": "s3cret token"}}"#);
    assert!(
        token.starts_with("bearer_token: (hidden): must be printable ASCII"),
        "{token}"
    );
    assert!(
        !token.contains("s3cret"),
        "a token is never echoed: {token}"
    );
}
