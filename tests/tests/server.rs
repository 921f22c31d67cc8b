//! The metrics server with a real HTTP client: negotiation, gzip, auth, errors, shutdown.

use std::io::Read;
use std::time::{Duration, Instant};

use keychain_metrics::config::MetricsConfig;
use keychain_metrics::server::{MetricsServer, ServerError};
use keychain_metrics::{
    Metrics, Op, Status, OPENMETRICS_CONTENT_TYPE, PROTOBUF_CONTENT_TYPE, TEXT_CONTENT_TYPE,
};

async fn start(config: MetricsConfig) -> (MetricsServer, Metrics, String) {
    let metrics = Metrics::new();
    metrics.record_operation(Op::Sign, "pkcs8", Status::Success, Duration::from_millis(2));
    let (server, url) = serve(&config, &metrics).await;
    (server, metrics, url)
}

/// Serves `metrics` with `config` on an ephemeral loopback port; returns the URL too.
async fn serve(config: &MetricsConfig, metrics: &Metrics) -> (MetricsServer, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = MetricsServer::start_on(listener, config, metrics.clone()).unwrap();
    let url = format!("http://{}{}", server.local_addr(), config.path);
    (server, url)
}

fn client() -> reqwest::Client {
    // No automatic decompression: the test checks the raw gzip body.
    reqwest::Client::builder().build().unwrap()
}

const OPS_LINE: &str =
    r#"keychain_operations_total{backend="pkcs8",operation="sign",status="success"} 1"#;

/// The `Accept` header Prometheus 2.42 sends when scraping.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// What an OpenMetrics 1.0.0 answer says it is: the format, and how names that are not
/// legacy would be escaped (Prometheus' default, as the scraper named none).
fn openmetrics_answer() -> String {
    format!("{OPENMETRICS_CONTENT_TYPE}; escaping=underscores")
}

/// A bucket line as the Go package wrote it, which Go-era queries select.
const GO_BUCKET: &str =
    r#"keychain_operation_duration_seconds_bucket{backend="pkcs8",operation="sign",le="1"} 1"#;

#[tokio::test]
async fn text_by_default_even_to_prometheus() {
    let (_server, metrics, url) = start(MetricsConfig::default()).await;
    for accept in [
        None,
        Some(PROMETHEUS_ACCEPT),
        Some("text/plain;version=0.0.4"),
    ] {
        let mut request = client().get(&url);
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            TEXT_CONTENT_TYPE,
            "{accept:?}"
        );
        let body = response.text().await.unwrap();
        assert_eq!(body, metrics.encode_text());
        assert!(body.contains(OPS_LINE));
        assert!(body.contains(GO_BUCKET), "{body}");
    }
}

/// The `Accept` header Prometheus 3.14 sends by default (scrape/scrape.go, acceptHeader,
/// with DefaultScrapeProtocols and UTF-8 name validation).
const PROMETHEUS_3_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

#[tokio::test]
async fn prometheus_3_gets_the_text_version_and_escaping_it_asked_for() {
    let (_server, metrics, url) = start(MetricsConfig::default()).await;
    let response = client()
        .get(&url)
        .header("accept", PROMETHEUS_3_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
    );
    // Every name is a legacy one: the 1.0.0 body is the 0.0.4 body.
    assert_eq!(response.text().await.unwrap(), metrics.encode_text());
}

#[tokio::test]
async fn openmetrics_when_offered_and_asked() {
    let config = MetricsConfig::from_yaml("metrics: { openmetrics: true }").unwrap();
    assert!(config.openmetrics);
    let (_server, _metrics, url) = start(config).await;
    let om = client()
        .get(&url)
        .header("accept", PROMETHEUS_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(om.headers()["content-type"], &*openmetrics_answer());
    let body = om.text().await.unwrap();
    assert!(body.contains("# TYPE keychain_operations counter\n"));
    assert!(body.contains(OPS_LINE));
    assert!(body.contains(&GO_BUCKET.replace(r#"le="1""#, r#"le="1.0""#)));
    assert!(body.ends_with("# EOF\n"));

    let text = client()
        .get(&url)
        .header("accept", "text/plain;version=0.0.4")
        .send()
        .await
        .unwrap();
    assert_eq!(text.headers()["content-type"], TEXT_CONTENT_TYPE);
}

#[tokio::test]
async fn an_instance_with_exemplars_serves_them_in_openmetrics() {
    let config = MetricsConfig::from_yaml("metrics: { exemplars: true }").unwrap();
    assert!(config.exemplars && !config.openmetrics);
    let metrics = config.metrics_builder().build().unwrap();
    let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let context = keychain_metrics::trace::TraceContext::from_traceparent(trace).unwrap();
    {
        let _entered = context.enter();
        metrics.record_operation(Op::Sign, "pkcs8", Status::Success, Duration::from_millis(2));
    }
    let (_server, url) = serve(&config, &metrics).await;
    let om = client()
        .get(&url)
        .header("accept", PROMETHEUS_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(om.headers()["content-type"], &*openmetrics_answer());
    let body = om.text().await.unwrap();
    let bucket = r#"keychain_operation_duration_seconds_bucket{backend="pkcs8",operation="sign",le="0.005"} 1 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736",span_id="00f067aa0ba902b7"} 0.002 "#;
    assert!(body.contains(bucket), "{body}");
    // A scraper that asks for text gets text, without exemplars.
    let text = client().get(&url).send().await.unwrap();
    assert_eq!(text.headers()["content-type"], TEXT_CONTENT_TYPE);
    assert!(!text.text().await.unwrap().contains(" # {"));
}

#[test]
fn exemplars_with_openmetrics_off_is_a_config_error() {
    let e = MetricsConfig::from_yaml("metrics: { exemplars: true, openmetrics: false }")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("metrics.openmetrics: false: exemplars: true needs OpenMetrics"),
        "{e}"
    );
    let both = MetricsConfig::from_yaml("metrics: { exemplars: true, openmetrics: true }");
    assert!(both.unwrap().exemplars);
}

/// The `Accept` header Prometheus 2.42 sends with `--enable-feature=native-histograms`.
const PROMETHEUS_NATIVE_ACCEPT: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Length-delimited families, decoded by the `prometheus` crate's own schema (another
/// protobuf implementation than the one that wrote them).
fn decode_delimited(bytes: &[u8]) -> Vec<prometheus::proto::MetricFamily> {
    let mut input = protobuf::CodedInputStream::from_bytes(bytes);
    let mut out = Vec::new();
    while !input.eof().unwrap() {
        out.push(input.read_message().unwrap());
    }
    out
}

#[tokio::test]
async fn protobuf_to_prometheus_with_native_histograms() {
    let (_server, metrics, url) = start(MetricsConfig::default()).await;
    metrics.record_operation(Op::Sign, "pkcs8", Status::Error, Duration::from_millis(20));
    for gzip in [false, true] {
        let mut request = client()
            .get(&url)
            .header("accept", PROMETHEUS_NATIVE_ACCEPT);
        if gzip {
            request = request.header("accept-encoding", "gzip");
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], PROTOBUF_CONTENT_TYPE);
        let raw = response.bytes().await.unwrap();
        let body = if gzip {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        } else {
            raw.to_vec()
        };
        let mut direct = Vec::new();
        metrics.encode_protobuf(&mut direct);
        assert_eq!(body, direct);
        let families = decode_delimited(&body);
        let ops = families
            .iter()
            .find(|f| f.name() == "keychain_operations_total")
            .unwrap();
        let values: Vec<(String, f64)> = ops
            .get_metric()
            .iter()
            .map(|m| {
                let status = m.get_label().iter().find(|l| l.name() == "status").unwrap();
                (status.value().to_owned(), m.get_counter().value())
            })
            .collect();
        assert_eq!(values, [("success".into(), 1.0), ("error".into(), 1.0)]);
        let h = families
            .iter()
            .find(|f| f.name() == "keychain_operation_duration_seconds")
            .unwrap()
            .get_metric()[0]
            .get_histogram();
        assert_eq!(h.get_sample_count(), 2);
        assert!((h.get_sample_sum() - 0.022).abs() < 1e-12);
        let le_5ms = h
            .get_bucket()
            .iter()
            .find(|b| b.upper_bound() == 0.005)
            .unwrap();
        assert_eq!(le_5ms.cumulative_count(), 1);
    }
}

#[tokio::test]
async fn gzip_when_accepted() {
    let (_server, metrics, url) = start(MetricsConfig::default()).await;
    let response = client()
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let compressed = response.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, metrics.encode_text());
    assert!(compressed.len() < text.len());
    // Refused in any case: parameter names are case-insensitive.
    for refused in ["gzip;q=0, br", "gzip;Q=0, br", "GZip ; Q = 0.0"] {
        let plain = client()
            .get(&url)
            .header("accept-encoding", refused)
            .send()
            .await
            .unwrap();
        assert!(
            plain.headers().get("content-encoding").is_none(),
            "{refused}"
        );
        assert_eq!(plain.text().await.unwrap(), metrics.encode_text());
    }
}

#[tokio::test]
async fn other_paths_are_404_other_methods_405() {
    let (_server, _, url) = start(MetricsConfig::default()).await;
    let base = url.trim_end_matches("/metrics");
    for path in ["/", "/metrics/", "/metricsx", "/other"] {
        let r = client().get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = client().post(&url).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, HEAD");
}

#[tokio::test]
async fn bearer_token_is_required_when_configured() {
    let mut config = MetricsConfig::default();
    config.bearer_token = Some("s3cret".into());
    let (_server, _, url) = start(config).await;
    let none = client().get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(
        none.headers()["www-authenticate"],
        "Bearer realm=\"metrics\""
    );
    let wrong = client()
        .get(&url)
        .bearer_auth("s3creT")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let longer = client()
        .get(&url)
        .bearer_auth("s3cret-and-more")
        .send()
        .await
        .unwrap();
    assert_eq!(longer.status(), 401);
    let right = client()
        .get(&url)
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    assert!(right.text().await.unwrap().contains(OPS_LINE));
}

/// The status of a scrape presenting `token` (none if `None`).
async fn status_with(url: &str, token: Option<&str>) -> u16 {
    let mut request = client().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_token_file_is_required_and_rotated_without_a_restart() {
    let dir = std::env::temp_dir().join(format!("km-server-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, "first-secret\n").unwrap();
    let yaml = format!(
        "metrics: {{ bearer_token_file: {:?} }}",
        file.display().to_string()
    );
    let config = MetricsConfig::from_yaml(&yaml).unwrap();
    assert_eq!(config.bearer_token_file.as_deref(), Some(file.as_path()));
    let (_server, _, url) = start(config).await;
    assert_eq!(status_with(&url, None).await, 401);
    assert_eq!(status_with(&url, Some("first-secret")).await, 200);
    assert_eq!(status_with(&url, Some("first-secre")).await, 401);
    // Rotated the way secret managers do: a new file renamed over the old one.
    let next = dir.join("token.next");
    std::fs::write(&next, "second-secret-rotated\n").unwrap();
    std::fs::rename(&next, &file).unwrap();
    assert_eq!(status_with(&url, Some("first-secret")).await, 401);
    assert_eq!(status_with(&url, Some("second-secret-rotated")).await, 200);
    // Deleted, emptied, invalid or not a regular file: the token is revoked, and nobody
    // is admitted (never everybody) until a valid one is back.
    let revoked = |why: &'static str| {
        let url = url.clone();
        async move {
            assert_eq!(
                status_with(&url, Some("second-secret-rotated")).await,
                401,
                "{why}"
            );
            assert_eq!(status_with(&url, None).await, 401, "{why}");
            assert_eq!(status_with(&url, Some("")).await, 401, "{why}");
        }
    };
    std::fs::remove_file(&file).unwrap();
    revoked("deleted").await;
    std::fs::write(&file, "third-secret").unwrap();
    assert_eq!(status_with(&url, Some("third-secret")).await, 200);
    std::fs::write(&file, "").unwrap();
    revoked("emptied").await;
    std::fs::write(&file, "two words\n").unwrap();
    revoked("invalid").await;
    std::fs::remove_file(&file).unwrap();
    let fifo = std::process::Command::new("mkfifo")
        .arg(&file)
        .status()
        .unwrap();
    assert!(fifo.success());
    // A FIFO would hang the reader, waiting for a writer; it is refused at once.
    let answered = tokio::time::timeout(Duration::from_secs(5), revoked("a FIFO")).await;
    assert!(answered.is_ok(), "a request hung on the FIFO");
    std::fs::remove_file(&file).unwrap();
    std::fs::write(&file, vec![b'x'; 2 * 1024 * 1024]).unwrap();
    revoked("2 MiB").await;
    std::fs::write(&file, "fourth-secret\n").unwrap();
    assert_eq!(status_with(&url, Some("fourth-secret")).await, 200);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_bad_token_file_fails_the_start_and_names_it() {
    let missing = std::env::temp_dir().join(format!("km-no-such-token-{}", std::process::id()));
    let mut config = MetricsConfig::default();
    config.bearer_token_file = Some(missing.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = MetricsServer::start_on(listener, &config, Metrics::new())
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(&format!("cannot read {}", missing.display())),
        "{error}"
    );
    let both = MetricsConfig::from_yaml("metrics: { bearer_token: a, bearer_token_file: /run/t }")
        .unwrap_err()
        .to_string();
    assert_eq!(
        both,
        "metrics.bearer_token_file: \"/run/t\": give bearer_token or bearer_token_file, not both"
    );
}

#[tokio::test]
async fn a_taken_port_is_a_returned_error() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = MetricsConfig::default();
    config.port = taken.local_addr().unwrap().port();
    let error = MetricsServer::start(&config, Metrics::new())
        .await
        .unwrap_err();
    assert!(matches!(error, ServerError::Bind { .. }));
    assert!(
        error
            .to_string()
            .starts_with(&format!("cannot listen on 127.0.0.1:{}", config.port)),
        "{error}"
    );
}

#[tokio::test]
async fn an_invalid_config_is_refused() {
    let mut config = MetricsConfig::default();
    config.path = "metrics".into();
    let error = MetricsServer::start(&config, Metrics::new())
        .await
        .unwrap_err();
    assert!(matches!(error, ServerError::Config(_)));
    assert!(error.to_string().starts_with("metrics.path: \"metrics\""));
}

#[tokio::test]
async fn shutdown_is_quick_and_frees_the_port() {
    let (server, _, url) = start(MetricsConfig::default()).await;
    let addr = server.local_addr();
    // A keep-alive connection from an earlier scrape must not hold the shutdown up.
    let client = client();
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    let started = Instant::now();
    server.shutdown().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    // Nothing answers any more, not even on the kept-alive connection…
    let late = tokio::time::timeout(Duration::from_secs(5), client.get(&url).send()).await;
    assert!(matches!(late, Ok(Err(_))), "{late:?}");
    // …and the port can be bound again.
    let again = tokio::net::TcpListener::bind(addr).await;
    assert!(again.is_ok(), "the port is still taken: {again:?}");
}

#[tokio::test]
async fn start_binds_the_configured_port() {
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = MetricsConfig::default();
    config.port = free;
    let server = MetricsServer::start(&config, Metrics::new()).await.unwrap();
    assert_eq!(server.local_addr().port(), free);
    let r = client()
        .get(format!("http://127.0.0.1:{free}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.shutdown().await.unwrap();
}

#[test]
fn created_samples_with_openmetrics_off_is_a_config_error() {
    let e = MetricsConfig::from_yaml("metrics: { created_samples: true, openmetrics: false }")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("metrics.openmetrics: false: created_samples: true needs OpenMetrics"),
        "{e}"
    );
    let config = MetricsConfig::from_yaml("metrics: { created_samples: true }").unwrap();
    assert!(config.created_samples && !config.openmetrics);
}

#[tokio::test]
async fn created_samples_offer_openmetrics_with_each_start() {
    let config = MetricsConfig::from_yaml("metrics: { created_samples: true }").unwrap();
    let metrics = config.metrics_builder().build().unwrap();
    metrics.record_operation(Op::Sign, "pkcs8", Status::Success, Duration::from_millis(2));
    let (_server, url) = serve(&config, &metrics).await;
    let om = client()
        .get(&url)
        .header("accept", PROMETHEUS_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(om.headers()["content-type"], &*openmetrics_answer());
    let body = om.text().await.unwrap();
    let created =
        r#"keychain_operations_created{backend="pkcs8",operation="sign",status="success"} "#;
    assert!(body.contains(created), "{body}");
    // Text scrapers see no `_created` samples.
    let text = client().get(&url).send().await.unwrap();
    assert!(!text.text().await.unwrap().contains("_created"));
}
