//! One request through the HTTP or the gRPC layer, in process: the inner services answer
//! at once, so no runtime is needed, and the response body is read to its end as a
//! server would, which is when the layers record.

use std::convert::Infallible;
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use keychain_metrics::grpc::GrpcMetricsLayer;
use keychain_metrics::http::HttpMetricsLayer;
use keychain_metrics::Metrics;
use tower::{Layer, Service};

use crate::Violation;

/// A `GET /` with `method` through [`HttpMetricsLayer`], answered 200.
pub fn http(metrics: &Metrics, method: Method) -> Result<(), Violation> {
    let mut service = HttpMetricsLayer::new(metrics.clone()).layer(tower::service_fn(
        |_: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        },
    ));
    let request = Request::builder()
        .method(method)
        .uri("/")
        .body(Full::default())
        .map_err(|e| e.to_string())?;
    match now(service.call(request))? {
        Ok(response) => drain(response.into_body()),
        Err(never) => match never {},
    }
}

/// A unary gRPC call to `uri` through [`GrpcMetricsLayer`], answered `OK`.
pub fn grpc(metrics: &Metrics, uri: Uri) -> Result<(), Violation> {
    let mut service =
        GrpcMetricsLayer::new(metrics.clone()).layer(tower::service_fn(|_: Request<_>| async {
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
            let body = Full::new(Bytes::from_static(&[0, 0, 0, 0, 2, 8, 1]))
                .with_trailers(std::future::ready(Some(Ok::<_, Infallible>(trailers))));
            let mut response = Response::new(body);
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/grpc"),
            );
            Ok::<_, Infallible>(response)
        }));
    let request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .body(Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])))
        .map_err(|e| e.to_string())?;
    match now(service.call(request))? {
        Ok(response) => drain(response.into_body()),
        Err(never) => match never {},
    }
}

/// Polls a future that must be ready at once.
fn now<F: Future>(future: F) -> Result<F::Output, Violation> {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Ok(output),
        Poll::Pending => Err("an in-process call was not ready at once".into()),
    }
}

/// Reads a body that is ready at once to its end.
fn drain<B: Body + Unpin>(mut body: B) -> Result<(), Violation> {
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(_))) => {}
            Poll::Ready(None) => return Ok(()),
            Poll::Ready(Some(Err(_))) => return Err("a response body failed".into()),
            Poll::Pending => return Err("a response body was not ready at once".into()),
        }
    }
}
