//! Hostile REST requests: any body (and a choice of hostile path segments and content
//! types) sent to the example keychain's router gets a 2xx or a 4xx answer, never a 5xx
//! or a panic, and the metrics it leaves agree with what happened: one HTTP request
//! under its method and status, at most one operation and only the route's, its
//! histogram and error counts in step, nothing left in flight.
//!
//! Each case runs against fresh memory-backed `pkcs8` and `memory` stores holding one key
//! of each type (ids `ec`, `ed`, `aes`), so a case's outcome does not depend on the ones
//! before it.

use std::sync::OnceLock;

use axum::body::Body;
use http::{header, Method, Request};
use http_body_util::BodyExt;
use keychain_metrics::Metrics;
use keychain_metrics_examples::keystore::{Key, KeyKind, KeyStore, MemoryStorage, Storage};
use keychain_metrics_examples::{rest, Backends};
use tower::ServiceExt;

use crate::exposition::{self, series, Format};
use crate::Violation;

/// Every route: method, path (`{b}` backend, `{id}` key id), operation label.
pub const ROUTES: [(Method, &str, &str); 15] = [
    (Method::GET, "/v1/{b}/health", "health_check"),
    (Method::POST, "/v1/{b}/keys", "generate"),
    (Method::GET, "/v1/{b}/keys", "list"),
    (Method::GET, "/v1/{b}/keys/{id}", "get"),
    (Method::PUT, "/v1/{b}/keys/{id}", "store"),
    (Method::DELETE, "/v1/{b}/keys/{id}", "delete"),
    (Method::POST, "/v1/{b}/keys/{id}/sign", "sign"),
    (Method::POST, "/v1/{b}/keys/{id}/verify", "verify"),
    (Method::POST, "/v1/{b}/keys/{id}/encrypt", "encrypt"),
    (Method::POST, "/v1/{b}/keys/{id}/decrypt", "decrypt"),
    (Method::GET, "/v1/{b}/keys/{id}/export", "export"),
    (Method::POST, "/v1/{b}/keys/{id}/rotate", "rotate"),
    (Method::POST, "/v1/{b}/import", "import"),
    (Method::POST, "/v1/{b}/backup", "backup"),
    (Method::POST, "/v1/{b}/restore", "restore"),
];

/// Backend path segments: the two real ones, then hostile ones (percent-encoded).
pub const BACKENDS: [&str; 5] = ["pkcs8", "memory", "tpm2", "%2E%2E", "a%00b"];

/// Key id path segments: the seeded keys, a missing one, then hostile ones.
pub const IDS: [&str; 8] = [
    "ec",
    "ed",
    "aes",
    "missing",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "%2E%2E",
    "a%20b",
    "%C3%28",
];

/// `Content-Type` headers: JSON, none, not JSON, JSON with a parameter.
pub const CONTENT_TYPES: [Option<&str>; 4] = [
    Some("application/json"),
    None,
    Some("text/plain"),
    Some("application/json; charset=utf-8"),
];

/// One request: indexes into the tables above (taken modulo their lengths) and a body.
#[derive(Debug, Clone, Default)]
pub struct Case {
    /// Index into [`ROUTES`].
    pub route: usize,
    /// Index into [`BACKENDS`].
    pub backend: usize,
    /// Index into [`IDS`].
    pub id: usize,
    /// Index into [`CONTENT_TYPES`].
    pub content_type: usize,
    /// The request body.
    pub body: Vec<u8>,
}

/// Reads fuzzer bytes: route, backend, id and content-type bytes, then the body.
pub fn decode(data: &[u8]) -> Case {
    let byte = |i: usize| usize::from(data.get(i).copied().unwrap_or(0));
    Case {
        route: byte(0),
        backend: byte(1),
        id: byte(2),
        content_type: byte(3),
        body: data.get(4..).unwrap_or_default().to_vec(),
    }
}

thread_local! {
    static RUNTIME: Option<tokio::runtime::Runtime> =
        tokio::runtime::Builder::new_current_thread().enable_all().build().ok();
}

/// Sends the case to a fresh router and checks the answer and the metrics; returns the
/// answer's status code.
pub fn check(case: &Case) -> Result<u16, Violation> {
    RUNTIME.with(|rt| match rt {
        Some(rt) => rt.block_on(send(case)),
        None => Err("cannot start a tokio runtime".into()),
    })
}

async fn send(case: &Case) -> Result<u16, Violation> {
    let (method, path, op) = &ROUTES[case.route % ROUTES.len()];
    let backend = BACKENDS[case.backend % BACKENDS.len()];
    let uri = path
        .replace("{b}", backend)
        .replace("{id}", IDS[case.id % IDS.len()]);
    let mut request = Request::builder().method(method.clone()).uri(&uri);
    if let Some(content_type) = CONTENT_TYPES[case.content_type % CONTENT_TYPES.len()] {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let request = request
        .body(Body::from(case.body.clone()))
        .map_err(|e| format!("cannot build {uri}: {e}"))?;

    let metrics = Metrics::new();
    let app = rest::router(fresh_backends(&metrics)?, Some(metrics.clone()));
    let response = match app.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    let answer = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{method} {uri}: body failed: {e}"))?
        .to_bytes();
    let what = || {
        format!(
            "{method} {uri} -> {status} {}",
            String::from_utf8_lossy(&answer)
        )
    };
    if !(status.is_success() || status.is_client_error()) {
        return Err(format!("neither 2xx nor 4xx: {}", what()));
    }

    let text = metrics.encode_text();
    let samples = exposition::parse(&text, Format::Text)?;
    let sum = |name: &str| -> f64 {
        samples
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.value)
            .sum()
    };
    let fail = |e: String| -> Result<u16, Violation> { Err(format!("{e}; {}", what())) };

    let http = series(
        &samples,
        "keychain_http_requests_total",
        &["method", "status_code"],
    );
    let want = [(vec![method.to_string(), status.as_str().to_owned()], 1.0)].into();
    if http != want {
        return fail(format!("HTTP requests {http:?}"));
    }
    if sum("keychain_http_route_requests_total") != 1.0 {
        return fail("route requests do not add up to 1".into());
    }
    if sum("keychain_active_connections") != 0.0 {
        return fail("a request left in flight".into());
    }

    let operations: Vec<_> = samples
        .iter()
        .filter(|s| s.name == "keychain_operations_total" && s.value > 0.0)
        .collect();
    let ops = sum("keychain_operations_total");
    if ops > 1.0 || operations.iter().any(|s| s.labels["operation"] != *op) {
        return fail(format!("operations other than one {op}: {operations:?}"));
    }
    if sum("keychain_operation_duration_seconds_count") != ops {
        return fail("operation histogram and counter disagree".into());
    }
    let failed = operations
        .iter()
        .filter(|s| s.labels["status"] == "error")
        .count() as f64;
    if sum("keychain_errors_total") != failed {
        return fail(format!(
            "errors_total is not the {failed} failed operations"
        ));
    }
    let succeeded = operations
        .iter()
        .any(|s| s.labels["status"] == "success" && s.labels["backend"] == backend);
    if status.is_success() != succeeded {
        return fail(format!(
            "status and operation outcome disagree: {operations:?}"
        ));
    }
    Ok(status.as_u16())
}

/// Both backends in memory, each holding one key of each type.
fn fresh_backends(metrics: &Metrics) -> Result<Backends, Violation> {
    static KEYS: OnceLock<Result<Vec<(&str, String)>, String>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        [
            ("ec", KeyKind::EcdsaP256),
            ("ed", KeyKind::Ed25519),
            ("aes", KeyKind::Aes256Gcm),
        ]
        .into_iter()
        .map(|(id, kind)| Ok((id, Key::generate(kind).to_pem().map_err(|e| e.to_string())?)))
        .collect()
    });
    let keys = keys.as_ref().map_err(Clone::clone)?;
    let store = |name: &'static str| -> Result<_, Violation> {
        let storage = MemoryStorage::default();
        for (id, pem) in keys {
            storage.put(id, pem).map_err(|e| e.to_string())?;
        }
        Ok(KeyStore::new(name, storage, metrics.clone()))
    };
    Ok(Backends::new(store("pkcs8")?, store("memory")?))
}
