//! HTTP instrumentation: a tower layer for any axum or hyper service.
//!
//! ```no_run
//! # #[cfg(feature = "axum")] {
//! use axum::{routing::get, Router};
//! use keychain_metrics::{http::HttpMetricsLayer, Metrics};
//!
//! let app: Router = Router::new()
//!     .route("/keys/{id}", get(|| async { "key" }))
//!     .layer(HttpMetricsLayer::new(Metrics::global().clone()));
//! # }
//! ```
//!
//! Per request it records `keychain_http_requests_total{method,status_code}` and
//! `keychain_http_request_duration_seconds{method}`, timed from the request's arrival
//! until its response body has been sent in full or dropped, and counts it in
//! `keychain_active_connections{protocol="http"}` meanwhile. Methods outside the nine
//! standard ones are `OTHER`. A request whose response never came is recorded as `500`
//! if the service failed or panicked, and as `499` (client closed request) if the
//! response future was dropped, which is what hyper does when the client goes away.
//! A handler panic that tower-http's `CatchPanic` turns into a response is that `500`.

use std::task::{Context, Poll};

use http::{HeaderMap, Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use crate::clock;
use crate::contract::labels::{HttpMethod, Protocol};
use crate::facade::connection::OwnedConnectionGuard;
use crate::layers::response::{request_trace, End, Exchange};
pub use crate::layers::response::{MeteredBody, ResponseFuture};
use crate::trace::{self, TraceContext};
use crate::Metrics;
#[cfg(feature = "axum")]
use crate::{
    contract::labels::http_code_label,
    contract::{HTTP_ROUTE_DURATION, HTTP_ROUTE_REQUESTS},
    store::Store,
};

/// Status recorded for a request whose response future was dropped: nginx's "client
/// closed request".
const CLIENT_CLOSED: u16 = 499;

/// The layer; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct HttpMetricsLayer {
    metrics: Metrics,
    routes: bool,
}

impl HttpMetricsLayer {
    /// A layer recording into `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        HttpMetricsLayer {
            metrics,
            routes: false,
        }
    }

    /// Also records `keychain_http_route_requests_total{method,route,status_code}` and
    /// `keychain_http_route_request_duration_seconds{method,route}`, labelled with axum's
    /// `MatchedPath` (the route template, such as `/keys/{id}`). Requests that matched no
    /// route share the value `unmatched`, so scanners cannot create series. Add the
    /// layer with `Router::layer`, which runs it after routing.
    #[cfg(feature = "axum")]
    pub fn with_route_label(mut self) -> Self {
        self.routes = true;
        self
    }
}

impl Default for HttpMetricsLayer {
    /// A layer recording into [`Metrics::global`].
    fn default() -> Self {
        HttpMetricsLayer::new(Metrics::global().clone())
    }
}

impl<S> Layer<S> for HttpMetricsLayer {
    type Service = HttpMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpMetricsService {
            inner,
            metrics: self.metrics.clone(),
            routes: self.routes,
        }
    }
}

/// The service of [`HttpMetricsLayer`].
#[derive(Debug, Clone)]
pub struct HttpMetricsService<S> {
    inner: S,
    metrics: Metrics,
    routes: bool,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for HttpMetricsService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: http_body::Body,
{
    type Response = Response<MeteredBody<ResB, HttpExchange>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, HttpExchange>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let exchange = self.metrics.is_enabled().then(|| HttpExchange {
            method: HttpMethod::from_method(request.method().as_str()),
            route: self.routes.then(|| route_of(&request)),
            start: clock::now(),
            status: None,
            trace: request_trace(&self.metrics.store, request.headers()),
            in_flight: self.metrics.track_connection_owned(Protocol::Http),
        });
        let _entered = trace::enter(exchange.as_ref().and_then(|x| x.trace));
        ResponseFuture::new(self.inner.call(request), exchange)
    }
}

/// The matched route template, or `unmatched`.
#[cfg(feature = "axum")]
fn route_of<B>(request: &Request<B>) -> Route {
    request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .cloned()
}

#[cfg(not(feature = "axum"))]
fn route_of<B>(_request: &Request<B>) -> Route {}

#[cfg(feature = "axum")]
type Route = Option<axum::extract::MatchedPath>;
#[cfg(not(feature = "axum"))]
type Route = ();

/// One HTTP request in flight.
pub struct HttpExchange {
    method: HttpMethod,
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    route: Option<Route>,
    start: u64,
    status: Option<StatusCode>,
    trace: Option<TraceContext>,
    in_flight: OwnedConnectionGuard,
}

impl Exchange for HttpExchange {
    fn head(&mut self, status: StatusCode, _headers: &HeaderMap) {
        self.status = Some(status);
    }

    fn trace(&self) -> Option<TraceContext> {
        self.trace
    }

    fn end(self, end: End) {
        let code = match (self.status, end) {
            // The head was sent: an aborted body keeps its status.
            (Some(status), _) => status.as_u16(),
            (None, End::NoResponse) => CLIENT_CLOSED,
            (None, _) => 500,
        };
        let Some(metrics) = self.in_flight.metrics() else {
            return;
        };
        let nanos = clock::nanos_since(self.start);
        // The body may end outside the service's polls: the recordings happen in the trace.
        let _entered = trace::enter(self.trace);
        metrics.store.record_http(self.method, code, nanos);
        #[cfg(feature = "axum")]
        if let Some(route) = &self.route {
            let route = route.as_ref().map_or("unmatched", |r| r.as_str());
            record_route(&metrics.store, self.method, route, code, nanos);
        }
    }
}

/// One HTTP request under its matched route template.
#[cfg(feature = "axum")]
fn record_route(store: &Store, method: HttpMethod, route: &str, status_code: u16, nanos: u64) {
    let mut digits = itoa::Buffer::new();
    let code = http_code_label(status_code, &mut digits);
    let f = &store.families;
    let method = method.as_str();
    store.add(
        &HTTP_ROUTE_REQUESTS,
        &f.http_routes,
        [method, route, code],
        1,
    );
    let buckets = &store.buckets.http;
    store.observe(
        &HTTP_ROUTE_DURATION,
        &f.http_route_durations,
        buckets,
        [method, route],
        nanos,
    );
}
