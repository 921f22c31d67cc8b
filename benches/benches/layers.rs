//! The HTTP and gRPC layers: their cost per request in process, and the loopback
//! throughput of the same server with and without them, side by side in one run.
//!
//! `cargo bench -p keychain-metrics-benches --bench layers`

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{HeaderMap, Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use keychain_metrics::grpc::GrpcMetricsLayer;
use keychain_metrics::http::HttpMetricsLayer;
use keychain_metrics::Metrics;
use tower::{Layer, Service};

#[allow(unreachable_pub)] // generated
mod pb {
    tonic::include_proto!("keychain.test.v1");
}

/// Polls a future that is ready at once.
fn now<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("in-process services are ready at once"),
    }
}

/// Reads a body that is ready at once to its end, as hyper would.
fn drain<B: Body + Unpin>(mut body: B) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    let mut frames = 0;
    while let Poll::Ready(Some(Ok(_))) = std::pin::Pin::new(&mut body).poll_frame(&mut cx) {
        frames += 1;
    }
    frames
}

/// One request through `service`, ready at once, its response body read to the end;
/// returns the body's frames.
fn serve<S, B>(service: &mut S, request: Request<Full<Bytes>>) -> usize
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: Body + Unpin,
{
    drain(now(service.call(black_box(request))).unwrap().into_body())
}

async fn ok(_: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

/// One gRPC response: a 5-byte-prefixed message, then `grpc-status: 0` in the trailers.
async fn grpc_ok<B>(_: Request<B>) -> Result<Response<GrpcBody>, Infallible> {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    let message = Bytes::from_static(&[0, 0, 0, 0, 2, 8, 1]);
    let body =
        Full::new(message).with_trailers(std::future::ready(Some(Ok::<_, Infallible>(trailers))));
    let mut response = Response::new(body);
    response.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/grpc"),
    );
    Ok(response)
}

type GrpcBody = http_body_util::combinators::WithTrailers<
    Full<Bytes>,
    std::future::Ready<Option<Result<HeaderMap, Infallible>>>,
>;

fn http_request() -> Request<Full<Bytes>> {
    Request::get("/keys/1")
        .body(Full::default())
        .unwrap_or_default()
}

fn grpc_request() -> Request<Full<Bytes>> {
    Request::post("/keychain.test.v1.Keys/Get")
        .header("content-type", "application/grpc")
        .body(Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])))
        .unwrap_or_default()
}

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// `request` with a sampled W3C `traceparent`.
fn traced(mut request: Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    request
        .headers_mut()
        .insert("traceparent", http::HeaderValue::from_static(TRACEPARENT));
    request
}

/// The layers of an instance that keeps exemplars, without a trace and with a
/// `traceparent` on every request; beside them the same traced request through an
/// instance without exemplars, which ignores the header (building the request with it
/// is in every figure).
fn with_exemplars(c: &mut Criterion) {
    let plain = Metrics::new();
    let kept = Metrics::builder().exemplars(true).build().expect("valid");
    let cases = [
        ("plain_traceparent", &plain, true),
        ("exemplars_no_trace", &kept, false),
        ("exemplars_traceparent", &kept, true),
    ];
    let mut g = c.benchmark_group("layer/http");
    for (name, metrics, trace) in cases {
        let mut layered = HttpMetricsLayer::new(metrics.clone()).layer(tower::service_fn(ok));
        g.bench_function(name, |b| {
            b.iter(|| {
                let request = if trace {
                    traced(http_request())
                } else {
                    http_request()
                };
                serve(&mut layered, request)
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("layer/grpc");
    for (name, metrics, trace) in cases {
        let mut layered = GrpcMetricsLayer::new(metrics.clone()).layer(tower::service_fn(grpc_ok));
        g.bench_function(name, |b| {
            b.iter(|| {
                let request = if trace {
                    traced(grpc_request())
                } else {
                    grpc_request()
                };
                serve(&mut layered, request)
            })
        });
    }
    g.finish();
}

fn in_process(c: &mut Criterion) {
    let metrics = Metrics::new();
    let mut g = c.benchmark_group("layer/http");
    let mut bare = tower::service_fn(ok);
    g.bench_function("bare", |b| b.iter(|| serve(&mut bare, http_request())));
    let mut layered = HttpMetricsLayer::new(metrics.clone()).layer(tower::service_fn(ok));
    g.bench_function("with_layer", |b| {
        b.iter(|| serve(&mut layered, http_request()))
    });
    g.bench_function("added", |b| {
        b.iter_custom(|iters| {
            added(
                iters,
                || serve(&mut bare, http_request()),
                || serve(&mut layered, http_request()),
            )
        })
    });
    g.finish();

    let mut g = c.benchmark_group("layer/grpc");
    let mut bare = tower::service_fn(grpc_ok::<Full<Bytes>>);
    g.bench_function("bare", |b| b.iter(|| serve(&mut bare, grpc_request())));
    // With the global instance too, as the attribute's users and the example server have
    // it: a call holds it by a 'static reference rather than a reference-counted clone.
    for (name, instance) in [
        ("with_layer", metrics.clone()),
        ("with_layer_global", Metrics::global().clone()),
    ] {
        let mut layered = GrpcMetricsLayer::new(instance).layer(tower::service_fn(grpc_ok));
        g.bench_function(name, |b| b.iter(|| serve(&mut layered, grpc_request())));
    }
    // What the layer adds, measured as one figure: on this shared machine the bare
    // service alone moved 474–716 ns between runs, more than the layer costs.
    let mut layered = GrpcMetricsLayer::new(metrics.clone()).layer(tower::service_fn(grpc_ok));
    g.bench_function("added", |b| {
        b.iter_custom(|iters| {
            added(
                iters,
                || serve(&mut bare, grpc_request()),
                || serve(&mut layered, grpc_request()),
            )
        })
    });
    // The same through tonic's generated server, which is what a tonic service puts
    // behind the layer: a boxed future and body, the message decoded and encoded.
    let mut bare = pb::keys_server::KeysServer::new(Keys);
    let mut layered =
        GrpcMetricsLayer::new(metrics.clone()).layer(pb::keys_server::KeysServer::new(Keys));
    g.bench_function("added_tonic", |b| {
        b.iter_custom(|iters| {
            added(
                iters,
                || serve(&mut bare, grpc_request()),
                || serve(&mut layered, grpc_request()),
            )
        })
    });
    g.finish();
}

/// The time `layered` takes beyond `bare`, per call in `iters` calls of each: the two
/// run in turn in blocks of 16, each block timed, so that the machine's drift falls on
/// both alike.
fn added<T>(iters: u64, mut bare: impl FnMut() -> T, mut layered: impl FnMut() -> T) -> Duration {
    const BLOCK: u64 = 16;
    let (mut spent_bare, mut spent_layered) = (Duration::ZERO, Duration::ZERO);
    let mut left = iters;
    while left > 0 {
        let n = left.min(BLOCK);
        let start = Instant::now();
        (0..n).for_each(|_| drop(black_box(bare())));
        spent_bare += start.elapsed();
        let start = Instant::now();
        (0..n).for_each(|_| drop(black_box(layered())));
        spent_layered += start.elapsed();
        left -= n;
    }
    spent_layered.saturating_sub(spent_bare)
}

/// Requests per batch in the loopback benches, sent over `CONCURRENCY` connections.
const BATCH: usize = 200;
const CONCURRENCY: usize = 8;

/// Each sample alternates a batch on the bare server with a batch on the layered one
/// and times only its own, so drift on this shared machine (client and server share its
/// two cores) falls on both sides alike.
fn loopback(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let metrics = Metrics::new();
    let app = || axum::Router::new().route("/keys/{id}", axum::routing::get(|| async { "key" }));
    let bare = rt.block_on(serve_http(app()));
    let layered = rt.block_on(serve_http(
        app().layer(HttpMetricsLayer::new(metrics.clone())),
    ));
    let client = reqwest::Client::new();
    let mut g = c.benchmark_group("loopback/http");
    g.throughput(criterion::Throughput::Elements(BATCH as u64));
    for (name, timed, other) in [("bare", &bare, &layered), ("with_layer", &layered, &bare)] {
        g.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                alternate(
                    iters,
                    || http_batch(&client, timed),
                    || http_batch(&client, other),
                )
            });
        });
    }
    g.finish();

    let bare = rt.block_on(serve_grpc(None));
    let layered = rt.block_on(serve_grpc(Some(GrpcMetricsLayer::new(metrics.clone()))));
    let mut g = c.benchmark_group("loopback/grpc");
    g.throughput(criterion::Throughput::Elements(BATCH as u64));
    for (name, timed, other) in [("bare", &bare, &layered), ("with_layer", &layered, &bare)] {
        g.bench_function(name, |b| {
            b.to_async(&rt)
                .iter_custom(|iters| alternate(iters, || grpc_batch(timed), || grpc_batch(other)));
        });
    }
    g.finish();
}

/// Runs `timed` and `other` in turn `iters` times; returns the time spent in `timed`.
async fn alternate<F, G>(iters: u64, timed: impl Fn() -> F, other: impl Fn() -> G) -> Duration
where
    F: Future<Output = ()>,
    G: Future<Output = ()>,
{
    let mut spent = Duration::ZERO;
    for _ in 0..iters {
        other().await;
        let start = std::time::Instant::now();
        timed().await;
        spent += start.elapsed();
    }
    spent
}

async fn serve_http(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/keys/1")
}

async fn http_batch(client: &reqwest::Client, url: &str) {
    let tasks = (0..CONCURRENCY).map(|_| async {
        for _ in 0..BATCH / CONCURRENCY {
            let body = client
                .get(url)
                .send()
                .await
                .expect("response")
                .bytes()
                .await;
            black_box(body.expect("body"));
        }
    });
    futures_util::future::join_all(tasks).await;
}

struct Keys;

#[tonic::async_trait]
impl pb::keys_server::Keys for Keys {
    async fn get(
        &self,
        _: tonic::Request<pb::GetRequest>,
    ) -> Result<tonic::Response<pb::Key>, tonic::Status> {
        Ok(tonic::Response::new(pb::Key::default()))
    }
    type ListStream = futures_util::stream::Empty<Result<pb::Key, tonic::Status>>;
    async fn list(
        &self,
        _: tonic::Request<pb::ListRequest>,
    ) -> Result<tonic::Response<Self::ListStream>, tonic::Status> {
        Ok(tonic::Response::new(futures_util::stream::empty()))
    }
    async fn upload(
        &self,
        _: tonic::Request<tonic::Streaming<pb::Key>>,
    ) -> Result<tonic::Response<pb::UploadReply>, tonic::Status> {
        Ok(tonic::Response::new(pb::UploadReply::default()))
    }
    type EchoStream = futures_util::stream::Empty<Result<pb::Key, tonic::Status>>;
    async fn echo(
        &self,
        _: tonic::Request<tonic::Streaming<pb::Key>>,
    ) -> Result<tonic::Response<Self::EchoStream>, tonic::Status> {
        Ok(tonic::Response::new(futures_util::stream::empty()))
    }
}

async fn serve_grpc(layer: Option<GrpcMetricsLayer>) -> tonic::transport::Channel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("bound");
    let incoming = tokio_stream_listener(listener);
    let service = pb::keys_server::KeysServer::new(Keys);
    tokio::spawn(async move {
        let mut builder = tonic::transport::Server::builder();
        match layer {
            Some(layer) => {
                builder
                    .layer(layer)
                    .add_service(service)
                    .serve_with_incoming(incoming)
                    .await
            }
            None => {
                builder
                    .add_service(service)
                    .serve_with_incoming(incoming)
                    .await
            }
        }
    });
    tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("a valid URI")
        .connect()
        .await
        .expect("connected")
}

/// The same accept loop for both servers: counted connections, with a disabled instance.
fn tokio_stream_listener(
    listener: tokio::net::TcpListener,
) -> keychain_metrics::listener::TrackedIncoming {
    let off = Metrics::new();
    off.disable();
    keychain_metrics::listener::TrackedIncoming::new(
        listener,
        off,
        keychain_metrics::Protocol::Grpc,
    )
}

async fn grpc_batch(channel: &tonic::transport::Channel) {
    let tasks = (0..CONCURRENCY).map(|_| {
        let mut client = pb::keys_client::KeysClient::new(channel.clone());
        async move {
            for _ in 0..BATCH / CONCURRENCY {
                let key = client
                    .get(pb::GetRequest { id: "k".into() })
                    .await
                    .expect("a key");
                black_box(key);
            }
        }
    });
    futures_util::future::join_all(tasks).await;
}

// criterion_group! generates an undocumented `benches` function.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group! {
        name = benches;
        config = keychain_metrics_benches::criterion(4);
        targets = in_process, with_exemplars, loopback
    }
}
criterion_main!(group::benches);
