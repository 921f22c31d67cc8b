//! The OTLP exporter against real receivers in this process: an HTTP one (axum) and a
//! gRPC one (tonic, built on `opentelemetry-proto`'s collector service), each decoding
//! with OpenTelemetry's generated messages, and receivers that fail or misbehave.

use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use keychain_metrics::config::{OtlpConfig, OtlpProtocol, Temporality};
use keychain_metrics::trace::TraceContext;
use keychain_metrics::{Metrics, Op, Status};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use prost::Message as _;

/// What a receiver got, and how it answers.
#[derive(Default)]
struct Receiver {
    requests: Mutex<Vec<ExportMetricsServiceRequest>>,
    /// Answers with this status (and `Retry-After: 0`) while it counts down.
    failures: AtomicUsize,
    failure: Mutex<Option<StatusCode>>,
    headers: Mutex<Vec<HeaderMap>>,
}

impl Receiver {
    fn received(&self) -> Vec<ExportMetricsServiceRequest> {
        self.requests.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<ExportMetricsServiceRequest> {
        for _ in 0..500 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("fewer than {n} requests arrived");
    }

    fn failing(&self, times: usize, status: StatusCode) {
        *self.failure.lock().unwrap() = Some(status);
        self.failures.store(times, Ordering::SeqCst);
    }

    fn take_failure(&self) -> Option<StatusCode> {
        self.failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .ok()
            .and_then(|_| *self.failure.lock().unwrap())
    }
}

async fn http_receiver() -> (SocketAddr, Arc<Receiver>) {
    let receiver = Arc::new(Receiver::default());
    let state = Arc::clone(&receiver);
    let app = axum::Router::new().route(
        "/v1/metrics",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let state = Arc::clone(&state);
            async move {
                if let Some(status) = state.take_failure() {
                    return (status, [("retry-after", "0")], Vec::new()).into_response();
                }
                assert_eq!(headers["content-type"], "application/x-protobuf");
                let mut bytes = Vec::new();
                match headers.get("content-encoding").map(|v| v.to_str().unwrap()) {
                    Some("gzip") => {
                        flate2::read::GzDecoder::new(&body[..])
                            .read_to_end(&mut bytes)
                            .unwrap();
                    }
                    None => bytes = body.to_vec(),
                    Some(other) => panic!("encoding {other}"),
                }
                let request =
                    ExportMetricsServiceRequest::decode(&bytes[..]).expect("a valid request");
                state.requests.lock().unwrap().push(request);
                state.headers.lock().unwrap().push(headers);
                let answer = ExportMetricsServiceResponse::default().encode_to_vec();
                (
                    StatusCode::OK,
                    [("content-type", "application/x-protobuf")],
                    answer,
                )
                    .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, receiver)
}

struct GrpcReceiver(Arc<Receiver>);

#[tonic::async_trait]
impl MetricsService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        if self.0.take_failure().is_some() {
            return Err(tonic::Status::unavailable("try later"));
        }
        self.0.requests.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

async fn grpc_receiver() -> (SocketAddr, Arc<Receiver>) {
    let receiver = Arc::new(Receiver::default());
    let service = MetricsServiceServer::new(GrpcReceiver(Arc::clone(&receiver)))
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );
    (addr, receiver)
}

fn metric<'a>(
    r: &'a ExportMetricsServiceRequest,
    name: &str,
) -> &'a opentelemetry_proto::tonic::metrics::v1::Metric {
    r.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

/// The successful signs a request reports.
fn signs(r: &ExportMetricsServiceRequest) -> i64 {
    let Some(Data::Sum(sum)) = &metric(r, "keychain_operations").data else {
        panic!("not a sum")
    };
    sum.data_points
        .iter()
        .filter(|p| {
            p.attributes.iter().any(|kv| {
                kv.key == "status" && matches!(&kv.value.as_ref().unwrap().value, Some(Any::StringValue(s)) if s == "success")
            })
        })
        .map(|p| match p.value {
            Some(Number::AsInt(n)) => n,
            _ => panic!("not an integer"),
        })
        .sum()
}

fn scraped_signs(m: &Metrics) -> i64 {
    let text = m.encode_text();
    let line = text
        .lines()
        .find(|l| l.starts_with("keychain_operations_total{") && l.contains("status=\"success\""))
        .expect("a success line");
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

fn config(addr: SocketAddr) -> OtlpConfig {
    OtlpConfig::default()
        .endpoint(format!("http://{addr}"))
        .interval(Duration::from_millis(100))
        .timeout(Duration::from_secs(2))
        .service_name("keychain")
        .resource_attribute("service.instance.id", "test:1")
}

#[tokio::test]
async fn http_pushes_what_a_scrape_shows_with_the_trace_of_each_exemplar() {
    let (addr, receiver) = http_receiver().await;
    let m = Metrics::builder().exemplars(true).build().unwrap();
    let sign = m.operation(Op::Sign, "pkcs11");
    let trace =
        TraceContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .unwrap();
    for _ in 0..6 {
        sign.record(Status::Success, Duration::from_millis(4));
    }
    {
        let _in = trace.enter();
        sign.record(Status::Success, Duration::from_millis(40));
    }
    let exporter = m
        .push_otlp(&config(addr).header("authorization", "Bearer t0k"))
        .unwrap();
    let got = receiver.wait_for(1).await;
    exporter.shutdown().await;
    assert_eq!(signs(&got[0]), 7);
    assert_eq!(signs(&got[0]), scraped_signs(&m));
    assert_eq!(
        receiver.headers.lock().unwrap()[0]["authorization"],
        "Bearer t0k"
    );
    let resource = &got[0].resource_metrics[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes;
    assert!(resource.iter().any(|kv| kv.key == "service.instance.id"
        && matches!(&kv.value.as_ref().unwrap().value, Some(Any::StringValue(s)) if s == "test:1")));
    let Some(Data::Histogram(h)) = &metric(&got[0], "keychain_operation_duration").data else {
        panic!()
    };
    let exemplars = &h.data_points[0].exemplars;
    assert_eq!(exemplars.len(), 1);
    assert_eq!(exemplars[0].trace_id, trace.trace_id().to_vec());
    assert_eq!(exemplars[0].span_id, trace.span_id().to_vec());
}

#[tokio::test]
async fn grpc_pushes_to_a_tonic_collector() {
    let (addr, receiver) = grpc_receiver().await;
    let m = Metrics::new();
    m.record_operation(
        Op::Encrypt,
        "tpm2",
        Status::Success,
        Duration::from_millis(2),
    );
    let exporter = m
        .push_otlp(&config(addr).protocol(OtlpProtocol::Grpc))
        .unwrap();
    let got = receiver.wait_for(1).await;
    let Some(Data::Sum(sum)) = &metric(&got[0], "keychain_operations").data else {
        panic!()
    };
    assert_eq!(signs(&got[0]), 1);
    assert_eq!(
        sum.data_points.len(),
        2,
        "success and error, as the scrape shows"
    );
    // After three UNAVAILABLE answers, exports get through again.
    receiver.failing(3, StatusCode::SERVICE_UNAVAILABLE);
    let before = got.len();
    receiver.wait_for(before + 1).await;
    exporter.shutdown().await;
    assert_eq!(receiver.failures.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn retried_and_refused_exports_lose_nothing_in_delta() {
    let (addr, receiver) = http_receiver().await;
    let m = Metrics::new();
    let sign = m.operation(Op::Sign, "pkcs11");
    // 503 three times, then 200: retried within one export.
    receiver.failing(3, StatusCode::SERVICE_UNAVAILABLE);
    for _ in 0..3 {
        sign.record(Status::Success, Duration::from_millis(1));
    }
    let exporter = m
        .push_otlp(&config(addr).temporality(Temporality::Delta))
        .unwrap();
    receiver.wait_for(1).await;
    // A refusal (400) is not retried: its change goes with the next export.
    receiver.failing(1, StatusCode::BAD_REQUEST);
    for _ in 0..5 {
        sign.record(Status::Success, Duration::from_millis(1));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    for _ in 0..2 {
        sign.record(Status::Success, Duration::from_millis(1));
    }
    exporter.shutdown().await;
    let got = receiver.received();
    let total: i64 = got.iter().map(signs).sum();
    assert_eq!(
        (total, scraped_signs(&m)),
        (10, 10),
        "nothing lost, nothing twice"
    );
}

#[tokio::test]
async fn shutdown_with_the_collector_down_waits_at_most_the_timeout() {
    // A receiver that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let m = Metrics::new();
    let config = config(addr)
        .interval(Duration::from_secs(3600))
        .timeout(Duration::from_millis(300));
    let exporter = m.push_otlp(&config).unwrap();
    let started = std::time::Instant::now();
    // Generous beside the 300 ms: shared machines are slow, an unbounded wait is not.
    tokio::time::timeout(Duration::from_secs(5), exporter.shutdown())
        .await
        .expect("shutdown is bounded by the timeout");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "it did try"
    );
}

#[tokio::test]
async fn a_hostile_collector_neither_blocks_recording_nor_stops_the_exporter() {
    // Huge answers, sent slowly, then hang-ups, then a good receiver on the same port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&served);
    let hostile = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let n = count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0; 64 * 1024];
                let _ = socket.read(&mut buf).await;
                if n.is_multiple_of(2) {
                    let _ = socket
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000000\r\n\r\n")
                        .await;
                    for _ in 0..1000 {
                        if socket.write_all(&[b'x'; 16 * 1024]).await.is_err() {
                            break;
                        }
                    }
                }
                // Odd: hang up at once.
            });
        }
    });
    let m = Metrics::new();
    let sign = m.operation(Op::Sign, "pkcs11");
    let exporter = m
        .push_otlp(&config(addr).timeout(Duration::from_millis(500)))
        .unwrap();
    // Recording goes on meanwhile, at its usual pace.
    for _ in 0..200_000 {
        sign.record(Status::Success, Duration::from_micros(5));
    }
    while served.load(Ordering::SeqCst) < 4 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    hostile.abort();
    let stats = exporter.stats();
    assert!(
        stats.retries + stats.failed + stats.accepted >= 2,
        "{stats:?}"
    );
    exporter.shutdown().await;
    assert_eq!(scraped_signs(&m), 200_000);
}

/// A directory of this test's own, removed when dropped.
struct Dir(std::path::PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An HTTPS receiver that requires a client certificate signed by `files.ca`.
async fn https_receiver(
    files: &keychain_metrics_examples::certs::CertFiles,
) -> (SocketAddr, Arc<Receiver>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&files.ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(&provider),
    )
    .build()
    .unwrap();
    let certs = CertificateDer::pem_file_iter(&files.server_cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&files.server_key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let receiver = Arc::new(Receiver::default());
    let state = Arc::clone(&receiver);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, state) = (acceptor.clone(), Arc::clone(&state));
            tokio::spawn(async move {
                // A client without a certificate the CA signed fails here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let state = Arc::clone(&state);
                        async move {
                            use http_body_util::BodyExt as _;
                            let gzipped = request.collect().await?.to_bytes();
                            let mut bytes = Vec::new();
                            flate2::read::GzDecoder::new(&gzipped[..])
                                .read_to_end(&mut bytes)
                                .unwrap();
                            let decoded = ExportMetricsServiceRequest::decode(&bytes[..])
                                .expect("a valid request");
                            state.requests.lock().unwrap().push(decoded);
                            Ok::<_, hyper::Error>(hyper::Response::new(http_body_util::Full::new(
                                Bytes::new(),
                            )))
                        }
                    },
                );
                let io = hyper_util::rt::TokioIo::new(tls);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    (addr, receiver)
}

#[tokio::test]
async fn https_with_a_client_certificate_and_a_private_ca() {
    use keychain_metrics::config::OtlpTls;

    let dir = Dir(std::env::temp_dir().join(format!("km-otlp-tls-{}", std::process::id())));
    let files = keychain_metrics_examples::certs::write(&dir.0).unwrap();
    let (addr, receiver) = https_receiver(&files).await;
    let m = Metrics::new();
    m.record_operation(
        Op::Sign,
        "pkcs11",
        Status::Success,
        Duration::from_millis(3),
    );
    let endpoint = format!("https://localhost:{}", addr.port());

    // The collector's CA and a certificate it signed: the push arrives.
    let mut tls = OtlpTls::default();
    tls.ca_file = Some(files.ca.clone());
    tls.cert_file = Some(files.client_cert.clone());
    tls.key_file = Some(files.client_key.clone());
    let exporter = m
        .push_otlp(&config(addr).endpoint(&endpoint).tls(tls.clone()))
        .unwrap();
    let got = receiver.wait_for(1).await;
    exporter.shutdown().await;
    assert_eq!(signs(&got[0]), 1);

    // Without the client certificate the collector refuses the handshake; without its
    // CA the exporter refuses the collector: nothing arrives, and both are counted.
    let before = receiver.received().len();
    let mut anonymous = tls.clone();
    anonymous.cert_file = None;
    anonymous.key_file = None;
    let mut untrusting = tls;
    untrusting.ca_file = None;
    for tls in [anonymous, untrusting] {
        let exporter = m
            .push_otlp(
                &config(addr)
                    .endpoint(&endpoint)
                    .timeout(Duration::from_millis(300))
                    .tls(tls),
            )
            .unwrap();
        tokio::time::sleep(Duration::from_millis(350)).await;
        let stats = exporter.stats();
        exporter.shutdown().await;
        assert_eq!(stats.accepted, 0, "{stats:?}");
        assert!(stats.failed >= 1, "{stats:?}");
    }
    assert_eq!(receiver.received().len(), before);

    // A TLS file that cannot be used fails the start, naming its field.
    let mut bad = OtlpTls::default();
    bad.ca_file = Some(files.client_key.clone());
    let e = m
        .push_otlp(&config(addr).endpoint(&endpoint).tls(bad))
        .unwrap_err();
    assert!(
        e.to_string().starts_with("metrics.otlp.tls.ca_file: "),
        "{e}"
    );
}
