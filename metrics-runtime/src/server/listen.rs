//! The endpoint's connections: accepted up to a bound, TLS when configured (a plain
//! HTTP request to the TLS port is answered that it must use HTTPS), then HTTP/1.1 with
//! a header-read timeout and a write-stall timeout ([`progress`](super::progress)), so
//! slow, half-open and never-reading clients are cut instead of held. At the bound, the
//! connection that has moved no bytes for the longest is closed to make room: a crowd of
//! idle or stuck connections cannot lock a scraper out. Every connection is a task of
//! the server's own, so that shutdown ends them all.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};
use tokio::task::{Id, JoinSet};

use super::progress::{Activity, Progress};
use super::{respond, Endpoint, SHUTDOWN_GRACE};

/// How long a client has to send its request's headers (or its TLS handshake); also
/// how long a kept-alive connection may stay idle.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections held at once; beyond them, the idlest is closed. Prometheus holds one
/// per target and replica.
const MAX_CONNECTIONS: usize = 256;
/// The most a client may send as request line and headers.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// An open connection, as the accept loop sees it.
struct Open {
    activity: Arc<Activity>,
    close: Arc<Notify>,
}

/// Accepts until `shutdown`, then lets requests in progress finish for the grace time
/// and ends the connections still open.
pub(crate) async fn serve(
    listener: TcpListener,
    endpoint: Arc<Endpoint>,
    mut shutdown: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let epoch = Instant::now();
    let mut tasks = JoinSet::new();
    let mut open = HashMap::<Id, Open>::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of descriptors or a connection reset before it was accepted: the
                // listener is fine; wait a little rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            Some(ended) = tasks.join_next_with_id() => {
                open.remove(&ended.map_or_else(|e| e.id(), |(id, ())| id));
                continue;
            }
            _ = &mut shutdown => break,
        };
        if open.len() >= MAX_CONNECTIONS {
            let idlest = open.iter().min_by_key(|(_, c)| c.activity.last());
            if let Some(id) = idlest.map(|(id, _)| *id) {
                if let Some(evicted) = open.remove(&id) {
                    evicted.close.notify_one();
                }
            }
        }
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new(epoch));
        let close = Arc::new(Notify::new());
        let task = tasks.spawn({
            let (endpoint, watcher) = (Arc::clone(&endpoint), graceful.watcher());
            let (activity, close) = (Arc::clone(&activity), Arc::clone(&close));
            async move {
                tokio::select! {
                    () = connection(stream, activity, endpoint, watcher) => {}
                    () = close.notified() => {}
                }
            }
        });
        open.insert(task.id(), Open { activity, close });
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
    // Connections that did not finish in time: a client that never reads, for one.
    tasks.shutdown().await;
    Ok(())
}

async fn connection(
    stream: TcpStream,
    activity: Arc<Activity>,
    endpoint: Arc<Endpoint>,
    watcher: Watcher,
) {
    #[cfg(feature = "tls")]
    if let Some(tls) = &endpoint.tls {
        if let Some(stream) = tls_stream(stream, activity, tls).await {
            http(stream, endpoint, watcher).await;
        }
        return;
    }
    http(Progress::new(stream, activity), endpoint, watcher).await;
}

/// The answer to plain HTTP on the TLS port, as Go's servers give it.
#[cfg(feature = "tls")]
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\n\
Connection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// The handshake, within the header-read timeout; `None` if it fails or the client
/// speaks plain HTTP (answered with a 400).
#[cfg(feature = "tls")]
async fn tls_stream(
    stream: TcpStream,
    activity: Arc<Activity>,
    tls: &super::tls::Tls,
) -> Option<tokio_rustls::server::TlsStream<Progress<TcpStream>>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut first = [0u8; 1];
    match tokio::time::timeout(HEADER_READ_TIMEOUT, stream.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        _ => return None,
    }
    // Every TLS connection opens with a handshake record (type 22).
    if first[0] != 0x16 {
        // Answered, then the request read and dropped (a bounded amount, for a second):
        // closing with it unread would reset the connection and lose the answer.
        let mut stream = stream;
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            stream.write_all(PLAIN_HTTP_ANSWER).await?;
            stream.shutdown().await?;
            let mut sink = [0u8; 4096];
            let mut left = MAX_HEADER_BYTES;
            while left > 0 {
                match stream.read(&mut sink).await? {
                    0 => break,
                    n => left = left.saturating_sub(n),
                }
            }
            Ok::<_, std::io::Error>(())
        })
        .await;
        return None;
    }
    let acceptor = tls.acceptor()?;
    let stream = Progress::new(stream, activity);
    match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        _ => None,
    }
}

async fn http<I>(io: I, endpoint: Arc<Endpoint>, watcher: Watcher)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let endpoint = Arc::clone(&endpoint);
        async move { Ok::<_, Infallible>(respond(&endpoint, request).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES)
        .serve_connection(TokioIo::new(io), service);
    let _ = watcher.watch(connection).await;
}
