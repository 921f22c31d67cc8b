//! The REST API (axum) over the keystore. Bodies are JSON, binary fields base64.

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::Listener;
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use keychain_metrics::http::HttpMetricsLayer;
use keychain_metrics::Metrics;
use serde::Deserialize;
use serde_json::json;
use std::future::Future;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;

use crate::keystore::{Archive, KeyError, KeyKind};
use crate::Backends;

/// How long a client has to send a request's headers; also how long a kept-alive
/// connection may stay idle.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Requests larger than this are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Restore takes what Backup gives, a whole key set: its own, larger limit (about
/// 200,000 keys), the same as the gRPC API's limit for Restore.
pub const ARCHIVE_LIMIT: usize = 64 * 1024 * 1024;

/// The router, instrumented (no metrics layer without `metrics`: the server's `--bare`
/// baseline). Each route's body limit is enforced by
/// `RequestBodyLimitLayer`: a request whose `Content-Length` announces more is answered
/// 413 at once, without waiting for a body that may never come, and a body streamed
/// past the limit is cut there (413 too).
pub fn router(backends: Backends, metrics: Option<Metrics>) -> Router {
    let archive = Router::new()
        .route("/v1/{backend}/restore", post(restore))
        .layer(RequestBodyLimitLayer::new(ARCHIVE_LIMIT))
        .route_layer(axum::middleware::from_fn_with_state(
            backends.clone(),
            restore_turn,
        ));
    let app = Router::new()
        .route("/v1/{backend}/health", get(health))
        .route("/v1/{backend}/keys", post(generate).get(list))
        .route(
            "/v1/{backend}/keys/{id}",
            get(get_key).put(store).delete(delete),
        )
        .route("/v1/{backend}/keys/{id}/sign", post(sign))
        .route("/v1/{backend}/keys/{id}/verify", post(verify))
        .route("/v1/{backend}/keys/{id}/encrypt", post(encrypt))
        .route("/v1/{backend}/keys/{id}/decrypt", post(decrypt))
        .route("/v1/{backend}/keys/{id}/export", get(export))
        .route("/v1/{backend}/keys/{id}/rotate", post(rotate))
        .route("/v1/{backend}/import", post(import))
        .route("/v1/{backend}/backup", post(backup))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .merge(archive)
        .with_state(backends)
        // The limits above replace axum's own (2 MiB, checked only as a body is read).
        .layer(DefaultBodyLimit::disable())
        .layer(CatchPanicLayer::new());
    match metrics {
        Some(metrics) => app.layer(HttpMetricsLayer::new(metrics).with_route_label()),
        None => app,
    }
}

/// Restores take turns (see [`Backends::restore_turn`]): the turn is taken before the
/// archive is read and held until the answer; none within the wait is a `503`.
async fn restore_turn(
    State(b): State<Backends>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match b.restore_turn().await {
        Some(_turn) => next.run(request).await,
        None => {
            let busy = json!({ "error": "another restore is in progress; retry later" });
            (StatusCode::SERVICE_UNAVAILABLE, Json(busy)).into_response()
        }
    }
}

/// Serves `app` on `listener` until `stop`, then waits for the requests in progress (the
/// caller bounds that wait). HTTP/1.1, as REST clients speak it, with what `axum::serve`
/// lacks: hyper's header-read timeout ([`HEADER_READ_TIMEOUT`]), without which a client
/// that sends its headers slowly, or nothing at all, holds its connection for ever.
/// (`axum::serve` also offers HTTP/2 without TLS, and its protocol detection waits for
/// a first byte with no timeout at all.)
pub async fn serve<L: Listener>(mut listener: L, app: Router, stop: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let mut stop = std::pin::pin!(stop);
    loop {
        let (io, _) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = builder.serve_connection(TokioIo::new(io), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// A keystore error as an HTTP answer.
struct ApiError(KeyError);

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            KeyError::NotFound => StatusCode::NOT_FOUND,
            KeyError::AlreadyExists => StatusCode::CONFLICT,
            KeyError::InvalidParams(_) | KeyError::InvalidKey(_) | KeyError::Decryption => {
                StatusCode::BAD_REQUEST
            }
            KeyError::WrongKeyType(_) => StatusCode::UNPROCESSABLE_ENTITY,
            KeyError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(json!({ "error": self.0.to_string() }))).into_response()
    }
}

type Result<T> = std::result::Result<T, ApiError>;

fn decode(field: &str, text: &str) -> std::result::Result<Vec<u8>, KeyError> {
    B64.decode(text)
        .map_err(|_| KeyError::InvalidParams(format!("{field} is not base64")))
}

#[derive(Deserialize)]
struct GenerateBody {
    kind: String,
}

#[derive(Deserialize)]
struct PemBody {
    pem: String,
}

#[derive(Deserialize)]
struct DataBody {
    data: String,
}

#[derive(Deserialize)]
struct VerifyBody {
    data: String,
    signature: String,
}

async fn health(
    State(b): State<Backends>,
    Path(backend): Path<String>,
) -> Result<Json<serde_json::Value>> {
    b.run(&backend, |s| s.health_check()).await?;
    Ok(Json(json!({ "status": "ok" })))
}

async fn generate(
    State(b): State<Backends>,
    Path(backend): Path<String>,
    Json(body): Json<GenerateBody>,
) -> Result<impl IntoResponse> {
    let kind = KeyKind::parse(&body.kind)?;
    let info = b.run(&backend, move |s| s.generate(kind)).await?;
    Ok((StatusCode::CREATED, Json(info)))
}

async fn list(State(b): State<Backends>, Path(backend): Path<String>) -> Result<impl IntoResponse> {
    Ok(Json(b.run(&backend, |s| s.list()).await?))
}

async fn get_key(
    State(b): State<Backends>,
    Path((backend, id)): Path<(String, String)>,
) -> Result<impl IntoResponse> {
    Ok(Json(b.run(&backend, move |s| s.get(&id)).await?))
}

async fn store(
    State(b): State<Backends>,
    Path((backend, id)): Path<(String, String)>,
    Json(body): Json<PemBody>,
) -> Result<impl IntoResponse> {
    let info = b.run(&backend, move |s| s.store(&id, &body.pem)).await?;
    Ok((StatusCode::CREATED, Json(info)))
}

async fn delete(
    State(b): State<Backends>,
    Path((backend, id)): Path<(String, String)>,
) -> Result<impl IntoResponse> {
    b.run(&backend, move |s| s.delete(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn sign(
    State(b): State<Backends>,
    Path((backend, id)): Path<(String, String)>,
    Json(body): Json<DataBody>,
) -> Result<impl IntoResponse> {
    let data = decode("data", &body.data)?;
    let signature = b.run(&backend, move |s| s.sign(&id, &data)).await?;
    Ok(Json(json!({ "signature": B64.encode(signature) })))
}

async fn verify(
    State(b): State<Backends>,
    Path((backend, id)): Path<(String, String)>,
    Json(body): Json<VerifyBody>,
) -> Result<impl IntoResponse> {
    let (data, signature) = (
        decode("data", &body.data)?,
        decode("signature", &body.signature)?,
    );
    let valid = b
        .run(&backend, move |s| s.verify(&id, &data, &signature))
        .await?;
    Ok(Json(json!({ "valid": valid })))
}

async fn encrypt(
    State(b): State<Backends>,
    Path((backend, id)): Path<(String, String)>,
    Json(body): Json<DataBody>,
) -> Result<impl IntoResponse> {
    let data = decode("data", &body.data)?;
    let out = b.run(&backend, move |s| s.encrypt(&id, &data)).await?;
    Ok(Json(json!({ "data": B64.encode(out) })))
}

async fn decrypt(
    State(b): State<Backends>,
    Path((backend, id)): Path<(String, String)>,
    Json(body): Json<DataBody>,
) -> Result<impl IntoResponse> {
    let data = decode("data", &body.data)?;
    let out = b.run(&backend, move |s| s.decrypt(&id, &data)).await?;
    Ok(Json(json!({ "data": B64.encode(out) })))
}

async fn export(
    State(b): State<Backends>,
    Path((backend, id)): Path<(String, String)>,
) -> Result<impl IntoResponse> {
    let pem = b.run(&backend, move |s| s.export(&id)).await?;
    Ok(Json(json!({ "pem": pem })))
}

async fn rotate(
    State(b): State<Backends>,
    Path((backend, id)): Path<(String, String)>,
) -> Result<impl IntoResponse> {
    Ok(Json(b.run(&backend, move |s| s.rotate(&id)).await?))
}

async fn import(
    State(b): State<Backends>,
    Path(backend): Path<String>,
    Json(body): Json<PemBody>,
) -> Result<impl IntoResponse> {
    let info = b.run(&backend, move |s| s.import(&body.pem)).await?;
    Ok((StatusCode::CREATED, Json(info)))
}

async fn backup(
    State(b): State<Backends>,
    Path(backend): Path<String>,
) -> Result<impl IntoResponse> {
    Ok(Json(b.run(&backend, |s| s.backup()).await?))
}

async fn restore(
    State(b): State<Backends>,
    Path(backend): Path<String>,
    Json(archive): Json<Archive>,
) -> Result<impl IntoResponse> {
    let restored = b.run(&backend, move |s| s.restore(&archive)).await?;
    Ok(Json(json!({ "restored": restored })))
}
