//! [`MetricsServer`]: the exposition over HTTP, with a lifecycle.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use keychain_metrics::{config::MetricsConfig, server::MetricsServer, Metrics};
//!
//! let config = MetricsConfig::from_yaml("metrics: { port: 9090, path: /metrics }")?;
//! let server = MetricsServer::start(&config, Metrics::global().clone()).await?;
//! println!("metrics on http://{}{}", server.local_addr(), config.path);
//! // …
//! server.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! It serves `GET` (and `HEAD`) of the configured path: the text format (0.0.4, or 1.0.0
//! to a scraper that ranks it higher, as Prometheus 3 does), or, with
//! [`MetricsConfig::openmetrics`] set or an instance that keeps exemplars or writes
//! `_created` samples, OpenMetrics 1.0 when the scraper's `Accept` ranks it higher
//! (Prometheus does); protobuf when ranked first; gzipped when `Accept-Encoding` allows.
//! The `Content-Type` names the version and, for the 1.0.0 formats, the `escaping` the
//! scraper asked for. With `metrics.ui` enabled (feature `ui`), the live page, its script
//! and style sheet, and its JSON snapshot, `/api/v1/snapshot`, each behind the same
//! authentication (see the [live page chapter](crate::guide::live_page)). Other paths get
//! `404`, other methods `405`.
//! A bind failure is an error returned by [`MetricsServer::start`].
//! [`MetricsServer::shutdown`] stops accepting, lets scrapes in progress finish for a
//! second, then ends every connection still open, and returns; the port is free then.
//!
//! # What protects it
//!
//! - **Who may read**: with a bearer token (`bearer_token`, or `bearer_token_file`, read
//!   again when it changes; deleted, emptied or invalid, it admits nobody until it is
//!   valid again) or `basic_auth_users` (bcrypt hashes) configured, a scrape without a
//!   valid one gets `401`; secrets are compared in constant time. bcrypt runs at most
//!   twice at once, and after a failure new credentials wait a back-off (`429`), while
//!   a user's last verified password passes at once.
//! - **In transit** (feature `tls`): `tls_server_config` serves HTTPS with rustls, TLS 1.2
//!   or 1.3, and with a client CA requires (or verifies if given) a client certificate.
//!   The certificate, key and CA are read again when they change on disk, so a renewed
//!   certificate is served without a restart. Plain HTTP to the TLS port gets a `400`
//!   that says to use HTTPS.
//! - **Bad clients**: a client gets 10 s to send its request's headers (and its TLS
//!   handshake), at most 16 KiB of them, and 10 s for each write of an answer to make
//!   progress; then the connection is closed. At most 256 connections are held (at the
//!   bound the idlest is closed for a new one), at most 8 scrapes are answered at once
//!   (more get `503` with `Retry-After: 1`), and a request's body is never read.
//!   Watched files must be regular files of at most 1 MiB, opened without blocking.

mod auth;
mod listen;
mod negotiate;
mod progress;
#[cfg(feature = "tls")]
mod tls;
mod token;
#[cfg(feature = "ui")]
mod ui;
mod verifier;
mod watched;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle;

use crate::config::{ConfigError, MetricsConfig};
use crate::Metrics;
use auth::{Auth, Verdict};

/// Scrapes answered at once; more get `503`. Encoding is CPU work on the runtime's
/// threads, so a crowd of scrapers must not take them all.
const MAX_CONCURRENT_SCRAPES: usize = 8;

/// How long [`MetricsServer::shutdown`] waits for scrapes in progress.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Why the server could not start or stop cleanly.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is invalid.
    Config(ConfigError),
    /// The address could not be bound (in use, not local, not permitted).
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        error: std::io::Error,
    },
    /// The server task failed or panicked.
    Serve(String),
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerError::Config(e) => e.fmt(f),
            ServerError::Bind { addr, error } => write!(f, "cannot listen on {addr}: {error}"),
            ServerError::Serve(e) => write!(f, "metrics server failed: {e}"),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Config(e) => Some(e),
            ServerError::Bind { error, .. } => Some(error),
            ServerError::Serve(_) => None,
        }
    }
}

/// A running metrics endpoint; see the [module docs](self). Dropping it stops the
/// server at once; [`MetricsServer::shutdown`] stops it gracefully.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    tls: bool,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

struct Endpoint {
    metrics: Metrics,
    path: String,
    auth: Auth,
    openmetrics: bool,
    scrapes: Semaphore,
    #[cfg(feature = "tls")]
    tls: Option<tls::Tls>,
    /// The live page, when `metrics.ui` enables it.
    #[cfg(feature = "ui")]
    ui: Option<ui::Ui>,
}

/// What a request's path names.
#[derive(Clone, Copy)]
enum Route {
    Exposition,
    #[cfg(feature = "ui")]
    Ui(ui::Route),
}

impl Endpoint {
    fn route(&self, path: &str) -> Option<Route> {
        if path == self.path {
            return Some(Route::Exposition);
        }
        #[cfg(feature = "ui")]
        if let Some(route) = self.ui.as_ref().and_then(|ui| ui.route(path)) {
            return Some(Route::Ui(route));
        }
        None
    }
}

impl MetricsServer {
    /// Validates `config`, binds its address and serves on the current tokio runtime.
    pub async fn start(config: &MetricsConfig, metrics: Metrics) -> Result<Self, ServerError> {
        config.validate().map_err(ServerError::Config)?;
        let addr = config.socket_addr();
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|error| ServerError::Bind { addr, error })?;
        Self::start_on(listener, config, metrics)
    }

    /// Serves on a listener bound by the caller (any port, including an ephemeral one);
    /// the config's address and port are not used.
    pub fn start_on(
        listener: tokio::net::TcpListener,
        config: &MetricsConfig,
        metrics: Metrics,
    ) -> Result<Self, ServerError> {
        config.validate().map_err(ServerError::Config)?;
        let addr = listener.local_addr().map_err(|error| ServerError::Bind {
            addr: config.socket_addr(),
            error,
        })?;
        let endpoint = Arc::new(Endpoint {
            // Exemplars exist only in OpenMetrics.
            openmetrics: config.openmetrics
                || config.exemplars
                || config.created_samples
                || metrics.store.exemplars
                || metrics.store.created_samples,
            metrics,
            path: config.path.clone(),
            auth: Auth::new(config).map_err(ServerError::Config)?,
            scrapes: Semaphore::new(MAX_CONCURRENT_SCRAPES),
            #[cfg(feature = "tls")]
            tls: match &config.tls_server_config {
                Some(settings) => Some(tls::Tls::new(settings).map_err(ServerError::Config)?),
                None => None,
            },
            #[cfg(feature = "ui")]
            ui: config.ui.enabled.then(|| ui::Ui::new(&config.ui)),
        });
        #[cfg(not(feature = "ui"))]
        if config.ui.enabled {
            return Err(ServerError::Config(ConfigError::Field {
                field: "metrics.ui.enabled".into(),
                message: "this build of keychain-metrics has no live page: enable its `ui` feature"
                    .into(),
            }));
        }
        #[cfg(not(feature = "tls"))]
        if config.tls_server_config.is_some() {
            return Err(ServerError::Config(ConfigError::Field {
                field: "metrics.tls_server_config".into(),
                message: "this build of keychain-metrics has no TLS: enable its `tls` feature"
                    .into(),
            }));
        }
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(listen::serve(listener, Arc::clone(&endpoint), rx));
        let tls = config.tls_server_config.is_some();
        Ok(MetricsServer {
            addr,
            tls,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https` with `tls_server_config`, else `http`: the scheme scrapers must use.
    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// Stops accepting, lets scrapes in progress finish for up to one second, then
    /// ends every connection still open (a client that never reads, say). The port is
    /// free and no connection task is left when this returns.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        // The task ends the connections left after the grace time; a margin for that.
        let limit = SHUTDOWN_GRACE + Duration::from_millis(200);
        match tokio::time::timeout(limit, &mut task).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(ServerError::Serve(e.to_string())),
            Ok(Err(e)) => Err(ServerError::Serve(e.to_string())),
            Err(_) => {
                task.abort();
                let _ = task.await;
                Ok(())
            }
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

type Reply = Response<Full<Bytes>>;

/// An error answer, after which the connection is closed: a client without a valid
/// request gets one answer per connection, so pipelining bad requests on one (never
/// reading the answers) costs it a connection each, not the server a stream of work.
fn reply(status: StatusCode, text: &'static str) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// An answer that asks the client to come back in a second.
fn retry_later(status: StatusCode, text: &'static str) -> Reply {
    let mut response = reply(status, text);
    let retry = HeaderValue::from_static("1");
    response.headers_mut().insert(header::RETRY_AFTER, retry);
    response
}

/// One request; its body, if any, is never read.
async fn respond<B>(endpoint: &Endpoint, request: Request<B>) -> Reply {
    let Some(route) = endpoint.route(request.uri().path()) else {
        return reply(StatusCode::NOT_FOUND, "not found\n");
    };
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = reply(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        let allow = HeaderValue::from_static("GET, HEAD");
        response.headers_mut().insert(header::ALLOW, allow);
        return response;
    }
    // Taken before authentication: requests being verified or encoded are bounded together.
    let Ok(_slot) = endpoint.scrapes.try_acquire() else {
        return retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many scrapes at once\n",
        );
    };
    let headers = request.headers();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    match endpoint.auth.admits(authorization).await {
        Verdict::Admit => {}
        #[cfg(feature = "ui")]
        Verdict::Refuse
            if matches!(route, Route::Ui(r) if r.is_for_browsers())
                && !endpoint.auth.admits_browsers() =>
        {
            return ui::token_only(endpoint.auth.challenge());
        }
        Verdict::Refuse => {
            let mut response = reply(StatusCode::UNAUTHORIZED, "unauthorized\n");
            let challenge = HeaderValue::from_static(endpoint.auth.challenge());
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
            return response;
        }
        Verdict::Busy => {
            let text = "too many failed logins at once; retry later\n";
            return retry_later(StatusCode::TOO_MANY_REQUESTS, text);
        }
    }
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let gzip = negotiate::gzip(text(header::ACCEPT_ENCODING));
    match route {
        Route::Exposition => {}
        #[cfg(feature = "ui")]
        Route::Ui(route) => {
            if let Some(ui) = &endpoint.ui {
                return ui.answer(route, &endpoint.metrics, gzip);
            }
        }
    }
    let answer = negotiate::negotiate(text(header::ACCEPT), endpoint.openmetrics);
    let mut exposition = Vec::new();
    // Names that are not legacy (the `metrics` facade's) as the scraper's escaping says.
    crate::exposition::encode_bytes_escaped(
        &endpoint.metrics.store,
        answer.format,
        answer.escaping(),
        &mut exposition,
    );
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, &*answer.content_type())
        .header(header::VARY, "Accept, Accept-Encoding");
    let body = if gzip {
        response = response.header(header::CONTENT_ENCODING, "gzip");
        crate::exposition::gzip(&exposition)
    } else {
        exposition
    };
    response
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| reply(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"))
}
