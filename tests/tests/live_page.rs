//! The live page and its snapshot on a real endpoint, with a real HTTP client: what each
//! kind of authentication lets in, the policy headers, the snapshot's values beside a
//! scrape, and the routes that do not exist unless the page is enabled.

use std::time::Duration;

use keychain_metrics::config::{MetricsConfig, UiConfig};
use keychain_metrics::server::MetricsServer;
use keychain_metrics::{Metrics, Op, Status};
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::StatusCode;

const PASSWORD: &str = "live-pw";

async fn start(config: &MetricsConfig) -> (MetricsServer, String) {
    let metrics = Metrics::new();
    metrics.record_operation(Op::Sign, "pkcs8", Status::Success, Duration::from_millis(2));
    metrics.record_operation(Op::Sign, "pkcs8", Status::Error, Duration::from_millis(40));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = MetricsServer::start_on(listener, config, metrics).unwrap();
    let base = format!("http://{}", server.local_addr());
    (server, base)
}

fn with_users() -> MetricsConfig {
    let mut config = MetricsConfig::default();
    config.ui = UiConfig::at("/");
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    config.basic_auth_users.insert("viewer".into(), hash);
    config
}

#[tokio::test]
async fn basic_auth_guards_the_page_its_assets_and_the_snapshot() {
    let (server, base) = start(&with_users()).await;
    let client = reqwest::Client::new();
    for path in [
        "/",
        "/keychain-ui.js",
        "/keychain-ui.css",
        "/api/v1/snapshot",
    ] {
        let refused = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(
            refused.headers()[WWW_AUTHENTICATE],
            "Basic realm=\"metrics\""
        );
        // Never a credential in the URL.
        let in_url = client
            .get(format!(
                "{base}{path}?token=x&access_token=x&user=viewer&password={PASSWORD}"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(in_url.status(), StatusCode::UNAUTHORIZED, "{path}");
        let admitted = client
            .get(format!("{base}{path}"))
            .basic_auth("viewer", Some(PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(admitted.status(), StatusCode::OK, "{path}");
        let csp = admitted.headers()[CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(
            csp.starts_with("default-src 'none'; script-src 'self';"),
            "{csp}"
        );
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_snapshot_agrees_with_a_scrape() {
    let (server, base) = start(&with_users()).await;
    let client = reqwest::Client::new();
    let get = |path: &str| {
        client
            .get(format!("{base}{path}"))
            .basic_auth("viewer", Some(PASSWORD))
            .send()
    };
    let snapshot = get("/api/v1/snapshot").await.unwrap();
    assert_eq!(snapshot.headers()[CONTENT_TYPE], "application/json");
    let json: serde_json::Value = serde_json::from_slice(&snapshot.bytes().await.unwrap()).unwrap();
    let family = |contract: &str| {
        json["families"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["contract"] == contract)
            .unwrap_or_else(|| panic!("no {contract} in {json}"))
            .clone()
    };
    let ops = family("operations_total");
    assert_eq!(ops["name"], "keychain_operations_total");
    assert_eq!(
        ops["series"],
        serde_json::json!([
            {"labels": {"backend": "pkcs8", "operation": "sign", "status": "success"}, "value": 1},
            {"labels": {"backend": "pkcs8", "operation": "sign", "status": "error"}, "value": 1},
        ])
    );
    let durations = &family("operation_duration_seconds");
    let series = &durations["series"][0];
    assert_eq!(series["count"], 2);
    assert_eq!(series["sum"], 0.042);
    // Default buckets .001 .005 .01 .025 .05 …: 2 ms in the second, 40 ms in the fifth.
    assert_eq!(durations["bounds"][1], 0.005);
    assert_eq!(
        series["counts"],
        serde_json::json!([0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    );
    assert_eq!(json["omitted_series"], 0);
    let scrape = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(scrape.contains(
        "keychain_operation_duration_seconds_bucket{backend=\"pkcs8\",operation=\"sign\",le=\"0.05\"} 2\n"
    ));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn with_only_a_token_the_page_says_why_and_scripts_still_read() {
    let mut config = MetricsConfig::default();
    config.ui = UiConfig::at("/live");
    config.bearer_token = Some("tok-0123456789".into());
    let (server, base) = start(&config).await;
    let client = reqwest::Client::new();
    let page = client.get(format!("{base}/live")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(page.headers()[WWW_AUTHENTICATE], "Bearer realm=\"metrics\"");
    assert!(page.headers().contains_key(CONTENT_SECURITY_POLICY));
    let text = page.text().await.unwrap();
    assert!(
        text.starts_with("401: this page needs basic_auth_users"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1);
    let script = client
        .get(format!("{base}/keychain-ui.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::UNAUTHORIZED);
    // A script with the token reads the snapshot; without it, a plain refusal.
    let snapshot = client
        .get(format!("{base}/api/v1/snapshot"))
        .bearer_auth("tok-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(snapshot.status(), StatusCode::OK);
    let refused = client
        .get(format!("{base}/api/v1/snapshot"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.text().await.unwrap(), "unauthorized\n");
    // The token in the URL is not a token.
    let in_url = client
        .get(format!(
            "{base}/api/v1/snapshot?access_token=tok-0123456789"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(in_url.status(), StatusCode::UNAUTHORIZED);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_the_page_enabled_its_routes_do_not_exist() {
    let (server, base) = start(&MetricsConfig::default()).await;
    for path in ["/", "/keychain-ui.js", "/api/v1/snapshot"] {
        let response = reqwest::get(format!("{base}{path}")).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn gzip_when_asked_and_head_answers_without_a_body() {
    let mut config = MetricsConfig::default();
    config.ui = UiConfig::at("/");
    let (server, base) = start(&config).await;
    // Built without reqwest's `gzip`: it neither asks for gzip nor unpacks it.
    let client = reqwest::Client::new();
    let plain = client.get(format!("{base}/")).send().await.unwrap();
    let size = plain.bytes().await.unwrap().len();
    let gzipped = client
        .get(format!("{base}/"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    let packed = gzipped.bytes().await.unwrap();
    assert_eq!(&packed[..2], &[0x1f, 0x8b]);
    assert!(packed.len() < size / 2, "{} of {size}", packed.len());
    let head = client
        .head(format!("{base}/api/v1/snapshot"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.bytes().await.unwrap().is_empty());
    server.shutdown().await.unwrap();
}
