//! The HTTP layer on a real axum server, driven by a real HTTP client over loopback.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use keychain_metrics::http::HttpMetricsLayer;
use keychain_metrics::listener::TrackedListener;
use keychain_metrics::{Metrics, Protocol};
use tower_http::catch_panic::CatchPanicLayer;

fn app() -> Router {
    Router::new()
        .route(
            "/keys/{id}",
            get(|| async { "key" }).delete(|| async { StatusCode::NO_CONTENT }),
        )
        .route("/keys", post(|| async { (StatusCode::CREATED, "made") }))
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/panic",
            get(|| async {
                if true {
                    panic!("handler panicked");
                }
                "unreachable"
            }),
        )
        .route(
            "/stream",
            get(|| async {
                // An endless body, one chunk every 10 ms.
                let chunks = futures_util::stream::unfold(0u64, |n| async move {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    Some((
                        Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'x'; 1024])),
                        n + 1,
                    ))
                });
                Body::from_stream(chunks)
            }),
        )
}

/// Serves `router` on a loopback port with connection tracking; returns its base URL.
async fn serve(router: Router, metrics: &Metrics) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = TrackedListener::new(listener, metrics.clone(), Protocol::Http);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

fn requests(m: &Metrics, method: &str, code: &str) -> f64 {
    common::value(
        &m.encode_text(),
        "keychain_http_requests_total",
        &[("method", method), ("status_code", code)],
    )
    .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_each_status_exactly() {
    let m = Metrics::new();
    let base = serve(app().layer(HttpMetricsLayer::new(m.clone())), &m).await;
    let client = reqwest::Client::new();
    for _ in 0..5 {
        assert_eq!(
            client
                .get(format!("{base}/keys/1"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    for _ in 0..3 {
        assert_eq!(
            client
                .post(format!("{base}/keys"))
                .send()
                .await
                .unwrap()
                .status(),
            201
        );
    }
    for _ in 0..2 {
        assert_eq!(
            client
                .get(format!("{base}/missing"))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
    }
    assert_eq!(
        client
            .delete(format!("{base}/keys/1"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    // Unrouted: axum's fallback 404 goes through the layer too.
    assert_eq!(
        client
            .get(format!("{base}/nowhere"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    common::eventually("11 requests recorded", || {
        common::value(
            &m.encode_text(),
            "keychain_http_request_duration_seconds_count",
            &[("method", "GET")],
        ) == Some(8.0)
    })
    .await;
    assert_eq!(requests(&m, "GET", "200"), 5.0);
    assert_eq!(requests(&m, "POST", "201"), 3.0);
    assert_eq!(requests(&m, "GET", "404"), 3.0);
    assert_eq!(requests(&m, "DELETE", "204"), 1.0);
    common::eventually("in-flight back to 0", || {
        common::in_flight(&m, "http") == 0.0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_counts_transport_connections_not_requests() {
    let m = Metrics::new();
    let base = serve(app().layer(HttpMetricsLayer::new(m.clone())), &m).await;
    let addr = base.trim_start_matches("http://").to_owned();
    let tcp = |name: &'static str| {
        let m = m.clone();
        move || common::value(&m.encode_text(), name, &[("protocol", "http")])
    };
    let open = tcp("keychain_tcp_connections");
    let accepted = tcp("keychain_tcp_connections_accepted_total");
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    common::eventually("3 open connections", || {
        open() == Some(3.0) && accepted() == Some(3.0)
    })
    .await;
    // Connections without a request are not requests in flight.
    assert_eq!(common::in_flight(&m, "http"), 0.0);
    sockets.truncate(1);
    common::eventually("1 open connection", || open() == Some(1.0)).await;
    assert_eq!(accepted(), Some(3.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_body_dropped_midway_is_recorded_and_released() {
    let m = Metrics::new();
    let base = serve(app().layer(HttpMetricsLayer::new(m.clone())), &m).await;
    let client = reqwest::Client::new();
    let mut response = client.get(format!("{base}/stream")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().unwrap();
    assert!(!first.is_empty());
    assert_eq!(common::in_flight(&m, "http"), 1.0);
    drop(response);
    drop(client); // closes the connection
    common::eventually("the aborted response to be recorded", || {
        requests(&m, "GET", "200") == 1.0
    })
    .await;
    common::eventually("in-flight back to 0", || {
        common::in_flight(&m, "http") == 0.0
    })
    .await;
    common::eventually("the connection to close", || {
        common::value(
            &m.encode_text(),
            "keychain_tcp_connections",
            &[("protocol", "http")],
        ) == Some(0.0)
    })
    .await;
    // Timed until the drop, not just to the head: at least one 10 ms chunk.
    let sum = common::value(
        &m.encode_text(),
        "keychain_http_request_duration_seconds_sum",
        &[],
    )
    .unwrap();
    assert!(sum >= 0.010, "{sum}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_is_a_500_with_catch_panic() {
    let m = Metrics::new();
    let router = app()
        .layer(CatchPanicLayer::new())
        .layer(HttpMetricsLayer::new(m.clone()));
    let base = serve(router, &m).await;
    let response = reqwest::get(format!("{base}/panic")).await.unwrap();
    assert_eq!(response.status(), 500);
    common::eventually("the 500", || requests(&m, "GET", "500") == 1.0).await;
    common::eventually("in-flight back to 0", || {
        common::in_flight(&m, "http") == 0.0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_without_catch_panic_is_counted_and_released() {
    let m = Metrics::new();
    let base = serve(app().layer(HttpMetricsLayer::new(m.clone())), &m).await;
    // hyper drops the connection: the client sees an error, not a response.
    assert!(reqwest::get(format!("{base}/panic")).await.is_err());
    common::eventually("the panic recorded as 500", || {
        requests(&m, "GET", "500") == 1.0
    })
    .await;
    common::eventually("in-flight back to 0", || {
        common::in_flight(&m, "http") == 0.0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_labels_and_hostile_methods_and_paths_stay_bounded() {
    let m = Metrics::new();
    let router = app().layer(HttpMetricsLayer::new(m.clone()).with_route_label());
    let base = serve(router, &m).await;
    let client = reqwest::Client::new();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let methods = ["GET", "POST", "PUT", "BREW", "PROPFIND", "X-RANDOM", "get"];
    for _ in 0..1000 {
        let method =
            reqwest::Method::from_bytes(methods[(next() % 7) as usize].as_bytes()).unwrap();
        let path = format!("/{:x}/{:x}", next(), next());
        let response = client
            .request(method, format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error());
    }
    client.get(format!("{base}/keys/7")).send().await.unwrap();
    client.get(format!("{base}/keys/8")).send().await.unwrap();
    common::eventually("all 1002 requests", || {
        common::parse(&m.encode_text())
            .iter()
            .filter(|s| s.name == "keychain_http_requests_total")
            .map(|s| s.value)
            .sum::<f64>()
            == 1002.0
    })
    .await;
    let text = m.encode_text();
    // Methods: GET, POST, PUT and OTHER at most; codes: 404 and 405 at most.
    assert!(common::count_series(&text, "keychain_http_requests_total") <= 8);
    let routes: std::collections::BTreeSet<String> = common::parse(&text)
        .into_iter()
        .filter(|s| s.name == "keychain_http_route_requests_total")
        .map(|s| s.labels["route"].clone())
        .collect();
    assert_eq!(
        routes.into_iter().collect::<Vec<_>>(),
        ["/keys/{id}", "unmatched"]
    );
    assert_eq!(
        common::value(
            &text,
            "keychain_http_route_requests_total",
            &[("route", "/keys/{id}"), ("status_code", "200")]
        ),
        Some(2.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_layer_records_nothing_and_still_serves() {
    let m = Metrics::new();
    m.disable();
    let base = serve(app().layer(HttpMetricsLayer::new(m.clone())), &m).await;
    assert_eq!(
        reqwest::get(format!("{base}/keys/1"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "key"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!m.encode_text().contains("keychain_http_requests_total"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_timeout_cuts_a_client_that_never_reads() {
    use std::io::{Read, Write};

    let m = Metrics::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = TrackedListener::new(listener, m.clone(), Protocol::Http)
        .write_timeout(Duration::from_millis(500));
    // An endless body, as fast as the socket takes it.
    let endless = get(|| async {
        let chunk = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
        let chunks =
            futures_util::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
        Body::from_stream(chunks)
    });
    let router = Router::new()
        .route("/endless", endless)
        .layer(HttpMetricsLayer::new(m.clone()));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let drained = tokio::task::spawn_blocking(move || {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        // Not read for 3 s: the body fills the socket buffers and the writes stall.
        std::thread::sleep(Duration::from_secs(3));
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let started = std::time::Instant::now();
        let mut total = 0;
        let mut buf = vec![0; 64 * 1024];
        while started.elapsed() < Duration::from_secs(15) {
            match c.read(&mut buf) {
                Ok(0) | Err(_) => return Some(total), // the end (or a reset)
                Ok(n) => total += n,
            }
        }
        None // still streaming
    })
    .await
    .unwrap();
    // What was buffered arrives, then the end: the server gave up on the connection.
    let drained = drained.expect("still streaming 15 s later");
    assert!(drained > 0);
    common::eventually("the connection counted closed", || {
        common::value(
            &m.encode_text(),
            "keychain_tcp_connections",
            &[("protocol", "http")],
        ) == Some(0.0)
    })
    .await;
}
