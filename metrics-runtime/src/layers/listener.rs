//! Counting transport connections, as distinct from requests in flight: wrap what the
//! server accepts from.
//!
//! - axum: `axum::serve(TrackedListener::new(tcp_listener, metrics, Protocol::Http), app)`.
//! - tonic: `Server::builder().add_service(svc).serve_with_incoming(TrackedIncoming::new(
//!   tcp_listener, metrics, Protocol::Grpc))`.
//!
//! Each accepted connection counts once in `keychain_tcp_connections_accepted_total` and
//! in `keychain_tcp_connections` until it closes (its IO object is dropped).
//!
//! `.write_timeout(limit)` on either fails a write that makes no progress for `limit`,
//! which closes the connection: a client that never reads its answers (pipelining
//! requests, or not taking a response) otherwise holds it, and its buffers, for ever.
//! Off by default; the example server sets 10 s.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::stall::StallTimer;
use crate::contract::labels::Protocol;
use crate::contract::{TCP_ACCEPTED, TCP_OPEN};
use crate::store::families::series::CounterSeries;
use crate::Metrics;

/// Holds one open connection in the gauge; made while recording is enabled, it always
/// decrements on drop.
struct Open(Option<Arc<CounterSeries>>);

impl Drop for Open {
    fn drop(&mut self) {
        if let Some(series) = &self.0 {
            series.add(1u64.wrapping_neg());
        }
    }
}

fn open(metrics: &Metrics, protocol: Protocol) -> Open {
    let store = &*metrics.store;
    if !store.enabled() {
        return Open(None);
    }
    let protocol = protocol.as_str();
    store.add(&TCP_ACCEPTED, &store.families.tcp_accepted, [protocol], 1);
    let series = store
        .families
        .tcp_open
        .0
        .get_or_create([protocol], |v| store.counter(&TCP_OPEN, v));
    series.add(1);
    Open(Some(series))
}

pin_project! {
    /// An accepted connection, counted until dropped. Reads and writes pass through;
    /// with a write timeout, a write that waits longer fails.
    pub struct TrackedIo<T> {
        #[pin]
        inner: T,
        open: Open,
        stall: StallTimer,
    }
}

impl<T> TrackedIo<T> {
    /// Counts `io` as an open connection of `protocol` until the returned value drops.
    pub fn new(io: T, metrics: &Metrics, protocol: Protocol) -> Self {
        TrackedIo {
            inner: io,
            open: open(metrics, protocol),
            stall: StallTimer::default(),
        }
    }

    /// Fails a write, flush or shutdown that makes no progress for `limit`.
    pub fn write_timeout(mut self, limit: Option<Duration>) -> Self {
        self.stall = StallTimer::new(limit);
        self
    }

    /// The wrapped connection.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl<T: AsyncRead> AsyncRead for TrackedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().inner.poll_read(cx, buf)
    }
}

impl<T: AsyncWrite> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let outcome = this.inner.poll_write(cx, buf);
        this.stall.check(cx, outcome)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        let outcome = this.inner.poll_flush(cx);
        this.stall.check(cx, outcome)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        let outcome = this.inner.poll_shutdown(cx);
        this.stall.check(cx, outcome)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let outcome = this.inner.poll_write_vectored(cx, bufs);
        this.stall.check(cx, outcome)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// An axum [`Listener`](axum::serve::Listener) that counts the connections it accepts.
#[cfg(feature = "axum")]
pub struct TrackedListener<L> {
    inner: L,
    metrics: Metrics,
    protocol: Protocol,
    write_timeout: Option<Duration>,
}

#[cfg(feature = "axum")]
impl<L> TrackedListener<L> {
    /// Wraps `listener` (e.g. a `tokio::net::TcpListener`).
    pub fn new(listener: L, metrics: Metrics, protocol: Protocol) -> Self {
        TrackedListener {
            inner: listener,
            metrics,
            protocol,
            write_timeout: None,
        }
    }

    /// Closes a connection whose writes make no progress for `limit` (see the
    /// [module docs](self)).
    pub fn write_timeout(mut self, limit: Duration) -> Self {
        self.write_timeout = Some(limit);
        self
    }
}

#[cfg(feature = "axum")]
impl<L: axum::serve::Listener> axum::serve::Listener for TrackedListener<L> {
    type Io = TrackedIo<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = self.inner.accept().await;
        let io = TrackedIo::new(io, &self.metrics, self.protocol);
        (io.write_timeout(self.write_timeout), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A stream of accepted, counted TCP connections for tonic's `serve_with_incoming`.
/// Sets `TCP_NODELAY` on each, as gRPC wants. When accepting fails (out of file
/// descriptors, most often), it waits [`ACCEPT_BACKOFF`] before trying again instead
/// of handing the error to tonic, which would try again at once and spin a core while
/// the descriptors stay exhausted.
#[cfg(feature = "tonic")]
pub struct TrackedIncoming {
    listener: tokio::net::TcpListener,
    metrics: Metrics,
    protocol: Protocol,
    write_timeout: Option<Duration>,
    backoff: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// How long [`TrackedIncoming`] waits after a failed accept.
#[cfg(feature = "tonic")]
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

#[cfg(feature = "tonic")]
impl TrackedIncoming {
    /// Accepts from `listener`.
    pub fn new(listener: tokio::net::TcpListener, metrics: Metrics, protocol: Protocol) -> Self {
        TrackedIncoming {
            listener,
            metrics,
            protocol,
            write_timeout: None,
            backoff: None,
        }
    }

    /// Closes a connection whose writes make no progress for `limit` (see the
    /// [module docs](self)).
    pub fn write_timeout(mut self, limit: Duration) -> Self {
        self.write_timeout = Some(limit);
        self
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }
}

#[cfg(feature = "tonic")]
impl futures_core::Stream for TrackedIncoming {
    type Item = io::Result<TrackedIo<tokio::net::TcpStream>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(backoff) = &mut this.backoff {
                std::task::ready!(std::future::Future::poll(backoff.as_mut(), cx));
                this.backoff = None;
            }
            match std::task::ready!(this.listener.poll_accept(cx)) {
                Ok((stream, _)) => {
                    // Without it, Nagle's algorithm and delayed ACKs add up to 40 ms per
                    // message. A connection reset already fails here: drop it.
                    if stream.set_nodelay(true).is_err() {
                        continue;
                    }
                    let io = TrackedIo::new(stream, &this.metrics, this.protocol);
                    return Poll::Ready(Some(Ok(io.write_timeout(this.write_timeout))));
                }
                Err(_) => {
                    this.backoff = Some(Box::pin(tokio::time::sleep(ACCEPT_BACKOFF)));
                }
            }
        }
    }
}

#[cfg(feature = "tonic")]
impl<T: tonic::transport::server::Connected> tonic::transport::server::Connected for TrackedIo<T> {
    type ConnectInfo = T::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}
