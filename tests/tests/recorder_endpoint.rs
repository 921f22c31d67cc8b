//! A crate that knows only the `metrics` facade, served by our endpoint once the
//! instance is the global recorder. Its own test binary: a process has one global
//! recorder.

use keychain_metrics::config::MetricsConfig;
use keychain_metrics::server::MetricsServer;
use keychain_metrics::{Metrics, RecorderInstalled, TEXT_CONTENT_TYPE};

#[tokio::test]
async fn a_crate_that_knows_only_metrics_is_served_by_our_endpoint() {
    let metrics = Metrics::new();
    metrics.install_recorder().unwrap();
    assert_eq!(metrics.install_recorder(), Err(RecorderInstalled));

    facade_user::KeyCache::describe();
    let mut cache = facade_user::KeyCache::default();
    cache.put("k1", vec![0; 300]);
    cache.put("k2", vec![0; 5_000]);
    for id in ["k1", "k3", "k1", "k2"] {
        cache.get(id);
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = MetricsConfig::default();
    let server = MetricsServer::start_on(listener, &config, metrics.clone()).unwrap();
    let url = format!("http://{}{}", server.local_addr(), config.path);
    let response = reqwest::Client::new().get(&url).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], TEXT_CONTENT_TYPE);
    let body = response.text().await.unwrap();
    for block in [
        "# HELP key_cache_lookups_total Key cache lookups, by result.\n\
         # TYPE key_cache_lookups_total counter\n\
         key_cache_lookups_total{result=\"hit\"} 3\n\
         key_cache_lookups_total{result=\"miss\"} 1\n",
        "# TYPE key_cache_entries gauge\nkey_cache_entries 2\n",
        "# HELP key_cache_value_size_bytes Size of the values stored.\n",
        "key_cache_value_size_bytes_bucket{le=\"+Inf\"} 2\n\
         key_cache_value_size_bytes_sum 5300\n\
         key_cache_value_size_bytes_count 2\n",
    ] {
        assert!(body.contains(block), "{block}not in {body}");
    }
    server.shutdown().await.unwrap();
}

/// Prometheus 3 asks for UTF-8 names; Prometheus 2 and older scrapers get legacy ones.
#[tokio::test]
async fn utf8_names_to_scrapers_that_negotiate_them() {
    let metrics = Metrics::new();
    metrics::with_local_recorder(&metrics.recorder(), || {
        metrics::counter!("http.requests", "method" => "GET").increment(2);
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = MetricsConfig::default();
    let server = MetricsServer::start_on(listener, &config, metrics.clone()).unwrap();
    let url = format!("http://{}{}", server.local_addr(), config.path);
    for (accept, content_type, line) in [
        (
            "text/plain;version=1.0.0;escaping=allow-utf-8",
            "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
            "{\"http.requests_total\",method=\"GET\"} 2\n",
        ),
        (
            "text/plain;version=1.0.0;escaping=underscores",
            "text/plain; version=1.0.0; charset=utf-8; escaping=underscores",
            "\nhttp_requests_total{method=\"GET\"} 2\n",
        ),
        (
            "text/plain;version=0.0.4",
            TEXT_CONTENT_TYPE,
            "\nhttp_requests_total{method=\"GET\"} 2\n",
        ),
    ] {
        let response = reqwest::Client::new()
            .get(&url)
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-type"], content_type);
        let body = response.text().await.unwrap();
        assert!(body.contains(line), "{accept}: {body}");
    }
    server.shutdown().await.unwrap();
}
