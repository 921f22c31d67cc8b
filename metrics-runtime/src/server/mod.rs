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
//! It serves `GET` (and `HEAD`) of the configured path: the text format 0.0.4, or, with
//! [`MetricsConfig::openmetrics`] set or an instance that keeps exemplars, OpenMetrics 1.0
//! (with the exemplars) when the scraper's `Accept` ranks it higher (Prometheus does),
//! gzipped when `Accept-Encoding` allows. Other paths get `404`, other methods `405`;
//! with a bearer token configured, a scrape without it gets `401` (the token is
//! compared in constant time). A bind failure is an error returned by
//! [`MetricsServer::start`]. [`MetricsServer::shutdown`] stops accepting, lets scrapes in
//! progress finish, and returns within one second, after which the port is free.

mod negotiate;
mod token;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{ConfigError, MetricsConfig};
use crate::Metrics;
use token::{Token, TokenFile};

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
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

struct Endpoint {
    metrics: Metrics,
    path: String,
    token: Token,
    openmetrics: bool,
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
        let token = match (&config.bearer_token, &config.bearer_token_file) {
            (Some(token), _) => Token::Fixed(token.clone()),
            (None, Some(file)) => Token::File(TokenFile::load(file).map_err(ServerError::Config)?),
            (None, None) => Token::None,
        };
        let endpoint = Arc::new(Endpoint {
            // Exemplars exist only in OpenMetrics.
            openmetrics: config.openmetrics || config.exemplars || metrics.store.exemplars,
            metrics,
            path: config.path.clone(),
            token,
        });
        let app = Router::new().fallback(serve).with_state(endpoint);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        Ok(MetricsServer {
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets scrapes in progress finish for up to one second, then
    /// closes everything. The port is free when this returns.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
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

async fn serve(State(endpoint): State<Arc<Endpoint>>, request: Request) -> Response {
    if request.uri().path() != endpoint.path {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
            "method not allowed\n",
        )
            .into_response();
    }
    let headers = request.headers();
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !endpoint.token.admits(presented) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")],
            "unauthorized\n",
        )
            .into_response();
    }
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let format = negotiate::format(text(header::ACCEPT), endpoint.openmetrics);
    let gzip = negotiate::gzip(text(header::ACCEPT_ENCODING));
    let exposition = match format {
        negotiate::Body::Text(format) => {
            let mut text = String::new();
            endpoint.metrics.encode_into(format, &mut text);
            text.into_bytes()
        }
        negotiate::Body::Protobuf => {
            let mut bytes = Vec::new();
            endpoint.metrics.encode_protobuf(&mut bytes);
            bytes
        }
    };
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, format.content_type())
        .header(header::VARY, "Accept, Accept-Encoding");
    let body = if gzip {
        response = response.header(header::CONTENT_ENCODING, "gzip");
        gzipped(&exposition)
    } else {
        exposition
    };
    response
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn gzipped(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}
