//! The recording paths and a reused-buffer scrape allocate nothing once warm.
//! A counting global allocator counts allocations per thread, so tests stay parallel.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use keychain_metrics::{Format, Metrics, Op, Protocol, Status, TextFormat};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to `System` unchanged; the thread-local counter is
// const-initialised and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.get();
    f();
    ALLOCATIONS.get() - before
}

#[test]
fn the_counter_counts() {
    assert_eq!(allocations(|| drop(vec![1u8; 16])), 1);
}

#[test]
fn handle_record_allocates_nothing() {
    let m = Metrics::builder()
        .operation_native(Some(keychain_metrics::NativeHistogram::default()))
        .build()
        .unwrap();
    let h = m.operation(Op::Sign, "pkcs8");
    let record_all = || {
        for i in 0..10_000u64 {
            h.record(Status::Success, Duration::from_nanos(i * 1000));
            h.record(Status::Error, Duration::from_nanos(i));
        }
    };
    // The first pass leases a stripe and allocates the native buckets' lines as
    // durations reach them (a line holds sixteen buckets; at most ten per stripe), and
    // moves or halves its window as the spread grows from 1 ns to 10 ms…
    assert!(allocations(record_all) > 0);
    // …after which the same durations allocate nothing.
    assert_eq!(allocations(record_all), 0);
    let classic_only = Metrics::new();
    let h = classic_only.operation(Op::Sign, "pkcs8");
    h.record(Status::Success, Duration::from_millis(1)); // leases a stripe
    let n = allocations(|| {
        for i in 0..10_000u64 {
            h.record(Status::Success, Duration::from_nanos(i * 1000));
            h.record(Status::Error, Duration::from_nanos(i));
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn handle_record_error_allocates_nothing_once_cached() {
    let m = Metrics::new();
    let h = m.operation(Op::Decrypt, "pkcs11");
    h.record_error("bad_padding");
    let n = allocations(|| {
        for _ in 0..10_000 {
            h.record_error("bad_padding");
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn label_value_paths_allocate_nothing_for_existing_series() {
    let m = Metrics::new();
    let warm = |m: &Metrics| {
        m.record_operation(Op::Get, "pkcs8", Status::Success, Duration::from_millis(1));
        m.record_error(Op::Get, "pkcs8", "key_not_found");
        m.record_http_request("GET", 200, Duration::from_millis(1));
        m.record_grpc_request(
            "/a.B/C",
            keychain_metrics::GrpcCode::Ok,
            Duration::from_millis(1),
        );
        m.set_keys_total("pkcs8", 1);
    };
    warm(&m);
    let n = allocations(|| {
        for _ in 0..1000 {
            warm(&m);
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn connection_guards_allocate_nothing() {
    let m = Metrics::new();
    drop(m.track_connection(Protocol::Http));
    drop(m.track_connection_owned(Protocol::Grpc));
    let n = allocations(|| {
        for _ in 0..10_000 {
            drop(m.track_connection(Protocol::Http));
            drop(m.track_connection_owned(Protocol::Grpc));
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn scraping_into_a_reused_buffer_allocates_nothing() {
    let m = Metrics::new();
    for op in Op::ALL {
        for backend in ["pkcs8", "pkcs11", "tpm2"] {
            m.record_operation(*op, backend, Status::Success, Duration::from_millis(3));
            m.record_error(*op, backend, "timeout");
        }
    }
    m.record_http_request("GET", 200, Duration::from_millis(1));
    m.set_backend_healthy("pkcs8", true);
    let mut buf = String::new();
    for format in [TextFormat::Text, TextFormat::OpenMetrics] {
        m.encode_into(format, &mut buf); // grows the buffer and the snapshot scratch
        let n = allocations(|| {
            for _ in 0..10 {
                buf.clear();
                m.encode_into(format, &mut buf);
            }
        });
        assert_eq!(n, 0, "{format:?}");
    }
    // The byte entry point writes the text formats into the caller's own allocation.
    let mut bytes = Vec::new();
    for format in [Format::Text, Format::OpenMetrics] {
        m.encode(format, &mut bytes);
        let n = allocations(|| {
            for _ in 0..10 {
                bytes.clear();
                m.encode(format, &mut bytes);
            }
        });
        assert_eq!(n, 0, "{format:?}");
    }
}

mod layers {
    use std::convert::Infallible;
    use std::task::{Context, Poll, Waker};

    use bytes::Bytes;
    use http_body_util::Full;
    use keychain_metrics::http::HttpMetricsLayer;
    use keychain_metrics::Metrics;
    use tower::{Layer, Service};

    fn drain<B: http_body::Body + Unpin>(mut body: B) {
        let mut cx = Context::from_waker(Waker::noop());
        while let Poll::Ready(Some(Ok(_))) = std::pin::Pin::new(&mut body).poll_frame(&mut cx) {}
    }

    async fn ok(_: http::Request<()>) -> Result<http::Response<Full<Bytes>>, Infallible> {
        Ok(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
    }

    /// Allocations of `n` requests through `service`, request construction included.
    fn per_request<S, B>(service: &mut S, n: u64) -> u64
    where
        S: Service<http::Request<()>, Response = http::Response<B>, Error = Infallible>,
        B: http_body::Body + Unpin,
    {
        super::allocations(|| {
            for _ in 0..n {
                let request = http::Request::get("/keys/1").body(()).unwrap();
                drain(
                    super::common::now(service.call(request))
                        .unwrap()
                        .into_body(),
                );
            }
        })
    }

    #[test]
    fn the_http_layer_allocates_nothing_per_request() {
        // Without native buckets (the default), whose lines are allocated as durations
        // (here: the machine's noise) first reach them; `handle_record_allocates_nothing`
        // covers those.
        let metrics = Metrics::new();
        let mut bare = tower::service_fn(ok);
        let mut layered = HttpMetricsLayer::new(metrics.clone()).layer(tower::service_fn(ok));
        per_request(&mut layered, 1); // resolves the series
        let (bare, layered) = (per_request(&mut bare, 100), per_request(&mut layered, 100));
        assert_eq!(layered, bare, "the layer added allocations");
        let text = metrics.encode_text();
        assert!(
            text.contains(r#"keychain_http_requests_total{method="GET",status_code="200"} 101"#)
        );
    }

    /// A unary gRPC answer: one message, then `grpc-status: 0` in the trailers.
    async fn grpc_ok<B>(_: http::Request<B>) -> Result<http::Response<GrpcBody>, Infallible> {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        let message = Bytes::from_static(&[0, 0, 0, 0, 2, 8, 1]);
        let body = http_body_util::BodyExt::with_trailers(
            Full::new(message),
            std::future::ready(Some(Ok::<_, Infallible>(trailers))),
        );
        Ok(http::Response::new(body))
    }

    type GrpcBody = http_body_util::combinators::WithTrailers<
        Full<Bytes>,
        std::future::Ready<Option<Result<http::HeaderMap, Infallible>>>,
    >;

    /// Allocations of `n` unary calls through `service`, request construction included:
    /// the request body is read, as a server would, before the answer ends.
    fn per_call<S, B>(service: &mut S, n: u64) -> u64
    where
        S: Service<http::Request<Full<Bytes>>, Response = http::Response<B>, Error = Infallible>,
        B: http_body::Body + Unpin,
    {
        super::allocations(|| {
            for _ in 0..n {
                let request = http::Request::post("/keychain.v1.Keys/Get")
                    .body(Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])))
                    .unwrap();
                drain(
                    super::common::now(service.call(request))
                        .unwrap()
                        .into_body(),
                );
            }
        })
    }

    #[test]
    fn the_grpc_layer_allocates_nothing_per_call() {
        use keychain_metrics::grpc::GrpcMetricsLayer;
        let metrics = Metrics::new();
        let mut bare = tower::service_fn(grpc_ok::<Full<Bytes>>);
        let mut layered = GrpcMetricsLayer::new(metrics.clone()).layer(tower::service_fn(grpc_ok));
        // The first call resolves the method's series, the second finds them cached.
        per_call(&mut layered, 2);
        let (bare, layered) = (per_call(&mut bare, 100), per_call(&mut layered, 100));
        assert_eq!(layered, bare, "the layer added allocations");
        let text = metrics.encode_text();
        for line in [
            r#"keychain_grpc_requests_total{method="/keychain.v1.Keys/Get",status_code="OK"} 102"#,
            r#"keychain_grpc_messages_sent_total{method="/keychain.v1.Keys/Get"} 102"#,
            r#"keychain_grpc_calls_total{call_type="unary",method="/keychain.v1.Keys/Get"} 102"#,
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }
}
