//! gRPC instrumentation: a tower layer for tonic servers, or any gRPC-over-HTTP/2 service.
//!
//! ```ignore
//! tonic::transport::Server::builder()
//!     .layer(GrpcMetricsLayer::new(metrics.clone()))
//!     .add_service(KeychainServer::new(service))
//!     .serve(addr)
//!     .await?;
//! ```
//!
//! Per call it records `keychain_grpc_requests_total{method,status_code}` and
//! `keychain_grpc_request_duration_seconds{method}`, with the method as the full path
//! (`/package.Service/Method`) and the status as its code name (`OK`, `NotFound`, …),
//! and counts the call in `keychain_active_connections{protocol="grpc"}` while it runs.
//! Unary and streaming calls alike are timed to the end of the response stream.
//!
//! - The status is read from the trailers at the end of the body, or from the headers of
//!   a trailers-only response. A response body dropped before its trailers is
//!   `Canceled`; a non-200 HTTP response is mapped as the gRPC spec says.
//! - A path the server does not serve (answered `Unimplemented` and never answered
//!   otherwise) is recorded as `other`, and distinct paths are capped, so a client
//!   cannot create series.
//! - Beyond the contract: `keychain_grpc_messages_received_total{method}` and
//!   `keychain_grpc_messages_sent_total{method}` count the length-prefixed messages in
//!   each direction, and `keychain_grpc_calls_total{method,call_type}` tells unary calls
//!   from streaming ones as observed: `client_streaming` if more than one request
//!   message arrived, `server_streaming` if more than one response message left,
//!   `bidi_streaming` if both. A streaming method that sent at most one message in each
//!   direction is indistinguishable from a unary one on the wire, and counts as `unary`.

mod frames;
mod status;

use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Buf;
use http::uri::PathAndQuery;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::clock;
use crate::contract::cardinality::OVERFLOW;
use crate::contract::labels::{GrpcCode, Protocol};
use crate::facade::connection::OwnedConnectionGuard;
use crate::layers::response::{request_trace, End, Exchange};
pub use crate::layers::response::{MeteredBody, ResponseFuture};
use crate::store::caches::grpc::GrpcMethod;
use crate::store::Store;
use crate::trace::{self, TraceContext};
use crate::Metrics;
use frames::MessageCounter;

/// The layer; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct GrpcMetricsLayer {
    metrics: Metrics,
}

impl GrpcMetricsLayer {
    /// A layer recording into `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        GrpcMetricsLayer { metrics }
    }
}

impl Default for GrpcMetricsLayer {
    /// A layer recording into [`Metrics::global`].
    fn default() -> Self {
        GrpcMetricsLayer::new(Metrics::global().clone())
    }
}

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service of [`GrpcMetricsLayer`].
#[derive(Debug, Clone)]
pub struct GrpcMetricsService<S> {
    inner: S,
    metrics: Metrics,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for GrpcMetricsService<S>
where
    S: Service<Request<CountingBody<ReqB>>, Response = Response<ResB>>,
    ResB: Body,
{
    type Response = Response<MeteredBody<ResB, GrpcExchange>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, GrpcExchange>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        if !self.metrics.is_enabled() {
            let request = request.map(|body| CountingBody::new(body, None));
            return ResponseFuture::new(self.inner.call(request), None);
        }
        let in_flight = self.metrics.track_connection_owned(Protocol::Grpc);
        let cached = in_flight
            .metrics()
            .and_then(|m| m.store.grpc_methods.find([request.uri().path()]));
        let method = match cached {
            Some(method) => Method::Cached(NonNull::from(method)),
            // Boxed: the exchange moves with the response, and this is the rare case.
            None => Method::Path(request.uri().path_and_query().cloned().map(Box::new)),
        };
        let received = received::fresh();
        let trace = request_trace(&self.metrics.store, request.headers());
        let exchange = GrpcExchange {
            method,
            trace,
            start: clock::now(),
            http_status: StatusCode::OK,
            header_code: None,
            trailer_code: None,
            sent: MessageCounter::default(),
            received: Arc::clone(&received),
            in_flight,
        };
        let request = request.map(|body| CountingBody::new(body, Some(received)));
        let _entered = trace::enter(trace);
        ResponseFuture::new(self.inner.call(request), Some(exchange))
    }
}

/// The count of a call's request messages, shared by its request body and its
/// exchange. Each thread keeps the last one it finished with, so that in the usual
/// case (the request body gone before the response ends) a call allocates nothing.
mod received {
    use std::cell::Cell;
    use std::sync::atomic::{fence, AtomicU64, Ordering};
    use std::sync::Arc;

    thread_local! {
        static SPARE: Cell<Option<Arc<AtomicU64>>> = const { Cell::new(None) };
    }

    /// A count at zero that nothing else holds.
    pub(super) fn fresh() -> Arc<AtomicU64> {
        if let Some(spare) = SPARE.try_with(Cell::take).ok().flatten() {
            // No `Weak` of these counts is ever made, so one strong reference means
            // nothing else holds it: a load, where `Arc::get_mut` takes a lock (a
            // read-modify-write on every call).
            if Arc::strong_count(&spare) == 1 {
                // The last other holder's writes happen before its release decrement.
                fence(Ordering::Acquire);
                spare.store(0, Ordering::Relaxed);
                return spare;
            }
        }
        Arc::new(AtomicU64::new(0))
    }

    /// Keeps `count` for this thread's next call.
    pub(super) fn recycle(count: Arc<AtomicU64>) {
        let _ = SPARE.try_with(|spare| spare.set(Some(count)));
    }
}

pin_project! {
    /// A request body that counts the gRPC messages it carries.
    pub struct CountingBody<B> {
        #[pin]
        inner: B,
        counter: MessageCounter,
        total: Option<Arc<AtomicU64>>,
    }
}

impl<B> CountingBody<B> {
    fn new(inner: B, total: Option<Arc<AtomicU64>>) -> Self {
        CountingBody {
            inner,
            counter: MessageCounter::default(),
            total,
        }
    }
}

impl<B: Body> Body for CountingBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = std::task::ready!(this.inner.poll_frame(cx));
        if let (Some(total), Some(Ok(frame))) = (this.total.as_ref(), &polled) {
            if let Some(data) = frame.data_ref() {
                this.counter.feed_buf(data);
                total.store(this.counter.messages, Ordering::Relaxed);
            }
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One gRPC call in flight.
pub struct GrpcExchange {
    method: Method,
    trace: Option<TraceContext>,
    start: u64,
    http_status: StatusCode,
    header_code: Option<GrpcCode>,
    trailer_code: Option<GrpcCode>,
    sent: MessageCounter,
    received: Arc<AtomicU64>,
    /// Holds the instance (when it counts) that `method`'s entry lives in.
    in_flight: OwnedConnectionGuard,
}

// SAFETY: `Method::Cached` points to a `GrpcMethod`, which is `Send + Sync`, owned by
// the store that `in_flight` keeps alive; nothing else in the exchange is shared.
unsafe impl Send for GrpcExchange {}
// SAFETY: as above; `&GrpcExchange` reads the entry only through `&`.
unsafe impl Sync for GrpcExchange {}

/// The method of a call: its entry in the method cache, or, for a method not seen
/// before, its path.
enum Method {
    /// An entry of the store that `GrpcExchange::in_flight` keeps alive; series are never
    /// removed, so it lives as long as that store.
    Cached(NonNull<GrpcMethod>),
    Path(Option<Box<PathAndQuery>>),
}

impl Exchange for GrpcExchange {
    fn head(&mut self, status: StatusCode, headers: &HeaderMap) {
        self.http_status = status;
        self.header_code = status::grpc_status(headers);
    }

    fn data<D: Buf>(&mut self, data: &D) {
        self.sent.feed_buf(data);
    }

    fn trailers(&mut self, trailers: &HeaderMap) {
        self.trailer_code = status::grpc_status(trailers);
    }

    fn trace(&self) -> Option<TraceContext> {
        self.trace
    }

    fn end(self, end: End) {
        let code = self.trailer_code.or(self.header_code).unwrap_or_else(|| {
            if self.http_status != StatusCode::OK {
                return status::from_http(self.http_status);
            }
            match end {
                End::Aborted | End::NoResponse => GrpcCode::Cancelled,
                End::Panicked => GrpcCode::Internal,
                End::Complete | End::Failed => GrpcCode::Unknown,
            }
        });
        let Some(metrics) = self.in_flight.metrics() else {
            return;
        };
        let store = &metrics.store;
        let nanos = clock::nanos_since(self.start);
        // The body may end outside the service's polls: the recordings happen in the trace.
        let _entered = trace::enter(self.trace);
        let received = self.received.load(Ordering::Relaxed);
        let sent = self.sent.messages;
        match &self.method {
            Method::Cached(method) => {
                // SAFETY: see `Method::Cached`; `in_flight` is alive here.
                let method = unsafe { method.as_ref() };
                store.record_grpc_method(method, code, nanos, received, sent);
            }
            Method::Path(path) => {
                let path = path.as_deref().map_or("", PathAndQuery::path);
                record_call(store, path, code, nanos, received, sent);
            }
        }
        received::recycle(self.received);
    }
}

/// One gRPC call to a method not in the cache yet: finds or makes its entry and records
/// through it. A path answered `Unimplemented` that has never been answered otherwise
/// is recorded as `other`: a client cannot create series by calling paths the server
/// does not serve.
fn record_call(store: &Store, path: &str, code: GrpcCode, nanos: u64, received: u64, sent: u64) {
    let f = &store.families;
    let path = if code == GrpcCode::Unimplemented && !f.grpc_durations.contains([path]) {
        OVERFLOW
    } else {
        path
    };
    let method = store
        .grpc_methods
        .get_or_create([path], |v| store.new_grpc_method(v));
    store.record_grpc_method(&method, code, nanos, received, sent);
}
