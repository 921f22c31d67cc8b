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
