//! The server's traces: `tracing` spans exported through OpenTelemetry to a file of JSON
//! lines, a span per REST request and gRPC call continuing the caller's W3C trace, and
//! [`ExemplarLayer`] so that the metrics' exemplars name these spans.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use axum::extract::Request;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use keychain_metrics::trace::ExemplarLayer;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use serde_json::json;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

use crate::private;

/// Installs the process's `tracing` subscriber, exporting spans to `path` (appended;
/// created 0600; never through a symbolic link, see [`private::append`]). Keep the
/// provider and call [`SdkTracerProvider::shutdown`] at exit to flush.
pub fn init(path: &Path) -> Result<SdkTracerProvider, String> {
    let file = private::append(path)
        .map_err(|e| format!("cannot open the span file {}: {e}", path.display()))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(SpanFile(Mutex::new(BufWriter::new(file))))
        .build();
    // INFO and above: the server's request and keystore spans, not its libraries' own.
    let subscriber = tracing_subscriber::registry()
        .with(LevelFilter::INFO)
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("keychain-server")))
        .with(ExemplarLayer::new());
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|_| "a tracing subscriber was installed before start-up".to_owned())?;
    Ok(provider)
}

/// Writes each finished span as one JSON line.
#[derive(Debug)]
struct SpanFile(Mutex<BufWriter<File>>);

impl SpanExporter for SpanFile {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut out = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for span in batch {
            let nanos =
                |t: std::time::SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            let attributes: serde_json::Map<String, serde_json::Value> = span
                .attributes
                .iter()
                .map(|kv| (kv.key.to_string(), kv.value.to_string().into()))
                .collect();
            let line = json!({
                "trace_id": span.span_context.trace_id().to_string(),
                "span_id": span.span_context.span_id().to_string(),
                "parent_span_id": span.parent_span_id.to_string(),
                "name": span.name,
                "start_unix_nanos": nanos(span.start_time),
                "end_unix_nanos": nanos(span.end_time),
                "attributes": attributes,
            });
            // A span lost to a full disk is not worth failing the export for the rest.
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
        Ok(())
    }
}

/// The W3C trace context of `headers` as an OpenTelemetry parent.
fn remote_parent(headers: &HeaderMap) -> opentelemetry::Context {
    struct Headers<'a>(&'a HeaderMap);
    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key)?.to_str().ok()
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }
    TraceContextPropagator::new().extract(&Headers(headers))
}

/// The span of one request, a child of the caller's span when it sent `traceparent`.
fn request_span(name: &'static str, headers: &HeaderMap, path: &str) -> tracing::Span {
    let span = match name {
        "grpc" => tracing::info_span!("grpc", rpc.method = path),
        _ => tracing::info_span!("http", url.path = path),
    };
    // Fails only without an OpenTelemetry layer, when there is nothing to continue.
    let _ = span.set_parent(remote_parent(headers));
    span
}

/// axum middleware: each REST request runs in its span.
pub async fn http_span(request: Request, next: Next) -> Response {
    let span = request_span("http", request.headers(), request.uri().path());
    next.run(request).instrument(span).await
}

/// tonic's `trace_fn`: each gRPC call runs in its span.
pub fn grpc_span(request: &axum::http::Request<()>) -> tracing::Span {
    request_span("grpc", request.headers(), request.uri().path())
}
