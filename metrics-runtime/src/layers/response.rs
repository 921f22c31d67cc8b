//! What the HTTP and gRPC layers share: a response future and a response body that
//! report one request's lifecycle to an [`Exchange`].
//!
//! The request is timed from its arrival until its response body ends, or until the
//! future or the body is dropped (a client that went away, an aborted stream), or until
//! a panic unwinds through either. The exchange is told exactly once.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Buf;
use http::{HeaderMap, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::store::Store;
use crate::trace::{self, TraceContext, TRACEPARENT};

/// How a request ended (`#[non_exhaustive]`: a way to end may be added).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum End {
    /// The response body ended normally.
    Complete,
    /// The response body was dropped before its end.
    Aborted,
    /// The service or the body returned an error.
    Failed,
    /// The response future was dropped before it produced a response.
    NoResponse,
    /// A panic unwound through the future or the body.
    Panicked,
}

/// One request's observer, told what happens and then how it ended. Public only so that
/// the layers' future and body types can name it; this module is private, so the trait
/// is sealed.
pub trait Exchange {
    /// The response head.
    fn head(&mut self, status: StatusCode, headers: &HeaderMap);
    /// A data frame of the response body.
    fn data<D: Buf>(&mut self, _data: &D) {}
    /// The response trailers.
    fn trailers(&mut self, _trailers: &HeaderMap) {}
    /// The end; called exactly once.
    fn end(self, end: End);
    /// The trace the request is served in: current while the service's future is polled.
    fn trace(&self) -> Option<TraceContext>;
}

/// `traceparent`, ready to look up (a `&str` key would be parsed on every request).
static TRACEPARENT_HEADER: http::HeaderName = http::HeaderName::from_static(TRACEPARENT);

/// The trace a request is served in, for an instance that keeps exemplars: the thread's
/// current one, or else the request's sampled `traceparent`.
pub(crate) fn request_trace(store: &Store, headers: &HeaderMap) -> Option<TraceContext> {
    if !store.exemplars {
        return None;
    }
    TraceContext::current().or_else(|| {
        let header = headers.get(&TRACEPARENT_HEADER)?.to_str().ok()?;
        TraceContext::from_traceparent(header)
    })
}

/// Ends the exchange if a panic unwinds past it while polling.
struct OnUnwind<'a, X: Exchange>(&'a mut Option<X>);

impl<X: Exchange> Drop for OnUnwind<'_, X> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(x) = self.0.take() {
                x.end(End::Panicked);
            }
        }
    }
}

pin_project! {
    /// The response future of the metrics layers.
    pub struct ResponseFuture<F, X: Exchange> {
        #[pin]
        inner: F,
        exchange: Option<X>,
    }

    impl<F, X: Exchange> PinnedDrop for ResponseFuture<F, X> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(x) = this.project().exchange.take() {
                x.end(End::NoResponse);
            }
        }
    }
}

impl<F, X: Exchange> ResponseFuture<F, X> {
    /// `exchange` is `None` when recording was disabled as the request arrived.
    pub(crate) fn new(inner: F, exchange: Option<X>) -> Self {
        ResponseFuture { inner, exchange }
    }
}

impl<F, B, E, X> Future for ResponseFuture<F, X>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
    X: Exchange,
{
    type Output = Result<Response<MeteredBody<B, X>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = trace::enter(this.exchange.as_ref().and_then(X::trace));
        let guard = OnUnwind(this.exchange);
        let result = std::task::ready!(this.inner.poll(cx));
        let exchange = guard.0.take();
        Poll::Ready(match result {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                let exchange = exchange.and_then(|mut x| {
                    x.head(parts.status, &parts.headers);
                    // hyper never polls a body that is already at its end.
                    if body.is_end_stream() {
                        x.end(End::Complete);
                        None
                    } else {
                        Some(x)
                    }
                });
                Ok(Response::from_parts(
                    parts,
                    MeteredBody {
                        inner: body,
                        exchange,
                    },
                ))
            }
            Err(e) => {
                if let Some(x) = exchange {
                    x.end(End::Failed);
                }
                Err(e)
            }
        })
    }
}

pin_project! {
    /// A response body that reports its frames and its end to the metrics layer.
    pub struct MeteredBody<B, X: Exchange> {
        #[pin]
        inner: B,
        exchange: Option<X>,
    }

    impl<B, X: Exchange> PinnedDrop for MeteredBody<B, X> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(x) = this.project().exchange.take() {
                x.end(End::Aborted);
            }
        }
    }
}

impl<B: Body, X: Exchange> Body for MeteredBody<B, X> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let guard = OnUnwind(this.exchange);
        let polled = std::task::ready!(this.inner.as_mut().poll_frame(cx));
        let slot = &mut *guard.0;
        let Some(x) = slot.as_mut() else {
            return Poll::Ready(polled);
        };
        let end = match &polled {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    x.data(data);
                } else if let Some(trailers) = frame.trailers_ref() {
                    x.trailers(trailers);
                }
                this.inner.is_end_stream().then_some(End::Complete)
            }
            Some(Err(_)) => Some(End::Failed),
            None => Some(End::Complete),
        };
        if let Some(end) = end {
            if let Some(x) = slot.take() {
                x.end(end);
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
