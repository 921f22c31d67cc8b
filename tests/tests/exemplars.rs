//! Exemplars end to end inside the process: a `traceparent` through real axum and tonic
//! servers, the OpenTelemetry context of `tracing` spans, and the attribute's own spans.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::routing::get;
use axum::Router;
use keychain_metrics::grpc::GrpcMetricsLayer;
use keychain_metrics::http::HttpMetricsLayer;
use keychain_metrics::trace::{ExemplarLayer, TraceContext};
use keychain_metrics::{instrument_op, Metrics};
use tonic::transport::{Channel, Server};

#[allow(unreachable_pub)] // generated
mod pb {
    tonic::include_proto!("keychain.test.v1");
}

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

fn with_exemplars() -> Metrics {
    Metrics::builder().exemplars(true).build().unwrap()
}

/// A keystore call the handlers make, recorded into the handler's instance.
struct Keystore {
    metrics: Metrics,
}

impl Keystore {
    #[instrument_op(Sign, backend = "pkcs11", metrics = self.metrics)]
    async fn sign(&self, fail: bool) -> Result<u8, std::io::Error> {
        tokio::task::yield_now().await;
        if fail {
            return Err(std::io::Error::from(std::io::ErrorKind::TimedOut));
        }
        Ok(7)
    }
}

async fn serve_http(m: &Metrics) -> String {
    let store = Arc::new(Keystore { metrics: m.clone() });
    let app = Router::new()
        .route(
            "/sign",
            get(move || async move { format!("{:?}", store.sign(false).await) }),
        )
        .layer(HttpMetricsLayer::new(m.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Waits until `n` GET requests are recorded (the layer records as the body ends).
async fn http_requests_recorded(m: &Metrics, n: f64) {
    common::eventually("the requests recorded", || {
        common::value(
            &m.encode_text(),
            "keychain_http_request_duration_seconds_count",
            &[("method", "GET")],
        ) == Some(n)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traceparent_through_axum_is_the_exemplar_of_the_request_and_its_calls() {
    let m = with_exemplars();
    let url = serve_http(&m).await;
    let client = reqwest::Client::new();
    client.get(format!("{url}/sign")).send().await.unwrap();
    let answer = client
        .get(format!("{url}/sign"))
        .header("traceparent", TRACEPARENT)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.text().await.unwrap(), "Ok(7)");
    http_requests_recorded(&m, 2.0).await;
    let om = m.encode_openmetrics();
    let http = [("method", "GET")];
    let name = "keychain_http_request_duration_seconds_bucket";
    assert_eq!(common::exemplar_traces(&om, name, &http), [TRACE], "{om}");
    let op = [("operation", "sign"), ("backend", "pkcs11")];
    let name = "keychain_operation_duration_seconds_bucket";
    assert_eq!(common::exemplar_traces(&om, name, &op), [TRACE], "{om}");
    // The header's span id is the exemplar's, and the exposition parses as OpenMetrics.
    assert!(om.contains(",span_id=\"b7ad6b7169203331\"} "), "{om}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_without_exemplars_ignores_traceparent() {
    let m = Metrics::new();
    let url = serve_http(&m).await;
    let answer = reqwest::Client::new()
        .get(format!("{url}/sign"))
        .header("traceparent", TRACEPARENT)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.text().await.unwrap(), "Ok(7)");
    http_requests_recorded(&m, 1.0).await;
    assert!(!m.encode_openmetrics().contains(" # {"));
}

struct Keys;

#[tonic::async_trait]
impl pb::keys_server::Keys for Keys {
    async fn get(
        &self,
        request: tonic::Request<pb::GetRequest>,
    ) -> Result<tonic::Response<pb::Key>, tonic::Status> {
        // The handler sees the caller's trace as the current context.
        let seen = TraceContext::current().map(|t| t.trace_id_hex());
        Ok(tonic::Response::new(pb::Key {
            id: seen.unwrap_or_default(),
            material: request.into_inner().id.into_bytes(),
        }))
    }

    type ListStream = futures_util::stream::Empty<Result<pb::Key, tonic::Status>>;

    async fn list(
        &self,
        _: tonic::Request<pb::ListRequest>,
    ) -> Result<tonic::Response<Self::ListStream>, tonic::Status> {
        Ok(tonic::Response::new(futures_util::stream::empty()))
    }

    async fn upload(
        &self,
        _: tonic::Request<tonic::Streaming<pb::Key>>,
    ) -> Result<tonic::Response<pb::UploadReply>, tonic::Status> {
        Ok(tonic::Response::new(pb::UploadReply { received: 0 }))
    }

    type EchoStream = futures_util::stream::Empty<Result<pb::Key, tonic::Status>>;

    async fn echo(
        &self,
        _: tonic::Request<tonic::Streaming<pb::Key>>,
    ) -> Result<tonic::Response<Self::EchoStream>, tonic::Status> {
        Ok(tonic::Response::new(futures_util::stream::empty()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traceparent_through_tonic_is_the_exemplar_of_the_call() {
    let m = with_exemplars();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let layer = GrpcMetricsLayer::new(m.clone());
    tokio::spawn(async move {
        Server::builder()
            .layer(layer)
            .add_service(pb::keys_server::KeysServer::new(Keys))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap()
    });
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = pb::keys_client::KeysClient::new(channel);
    let untraced = client.get(pb::GetRequest { id: "a".into() }).await.unwrap();
    assert_eq!(untraced.get_ref().id, "");
    let mut request = tonic::Request::new(pb::GetRequest { id: "b".into() });
    request
        .metadata_mut()
        .insert("traceparent", TRACEPARENT.parse().unwrap());
    let traced = client.get(request).await.unwrap();
    assert_eq!(traced.get_ref().id, TRACE);
    let method = [("method", "/keychain.test.v1.Keys/Get")];
    common::eventually("both calls recorded", || {
        common::value(
            &m.encode_text(),
            "keychain_grpc_request_duration_seconds_count",
            &method,
        ) == Some(2.0)
    })
    .await;
    let om = m.encode_openmetrics();
    let name = "keychain_grpc_request_duration_seconds_bucket";
    assert_eq!(common::exemplar_traces(&om, name, &method), [TRACE], "{om}");
}

/// The fields of every span opened, by span name, as last recorded.
#[derive(Clone, Default)]
struct Fields(Arc<Mutex<BTreeMap<String, BTreeMap<String, String>>>>);

struct Visitor<'a>(&'a mut BTreeMap<String, String>);

impl tracing::field::Visit for Visitor<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
}

impl<S> tracing_subscriber::Layer<S> for Fields
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut all = self.0.lock().unwrap();
        let fields = all.entry(attrs.metadata().name().into()).or_default();
        attrs.record(&mut Visitor(fields));
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let name = ctx.span(id).unwrap().name();
        let mut all = self.0.lock().unwrap();
        values.record(&mut Visitor(all.entry(name.into()).or_default()));
    }
}

struct Hsm {
    metrics: Metrics,
}

impl Hsm {
    #[instrument_op(Decrypt, backend = "tpm2", metrics = self.metrics, span)]
    fn decrypt(&self, ok: bool) -> Result<(), std::io::Error> {
        // The body runs inside the span.
        assert_eq!(
            tracing::Span::current().metadata().map(|m| m.name()),
            Some("decrypt")
        );
        if ok {
            Ok(())
        } else {
            Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
        }
    }

    #[instrument_op(Verify, backend = "tpm2", metrics = self.metrics, span)]
    async fn verify(&self) -> u8 {
        tokio::task::yield_now().await;
        assert_eq!(
            tracing::Span::current().metadata().map(|m| m.name()),
            Some("verify")
        );
        1
    }
}

#[test]
fn span_opens_a_tracing_span_with_the_metric_labels() {
    use tracing_subscriber::layer::SubscriberExt;

    let fields = Fields::default();
    let subscriber = tracing_subscriber::registry().with(fields.clone());
    let hsm = Hsm {
        metrics: Metrics::new(),
    };
    tracing::subscriber::with_default(subscriber, || {
        hsm.decrypt(false).unwrap_err();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(runtime.block_on(hsm.verify()), 1);
    });
    let all = fields.0.lock().unwrap();
    let decrypt: Vec<(&str, &str)> = all["decrypt"]
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        decrypt,
        [
            ("backend", "tpm2"),
            ("error_type", "permission_denied"),
            ("operation", "decrypt"),
            ("status", "error"),
        ]
    );
    assert_eq!(all["verify"]["status"], "success");
    assert!(!all["verify"].contains_key("error_type"));
    // The metrics are recorded as without the span.
    let text = hsm.metrics.encode_text();
    assert_eq!(
        common::value(
            &text,
            "keychain_errors_total",
            &[
                ("operation", "decrypt"),
                ("error_type", "permission_denied")
            ]
        ),
        Some(1.0)
    );
}

#[test]
fn exemplar_layer_follows_the_opentelemetry_context_of_tracing_spans() {
    use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::layer::SubscriberExt;

    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .with(ExemplarLayer::new());
    let hsm = Hsm {
        metrics: with_exemplars(),
    };
    let (trace, inner) = tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!("request");
        let trace = request.context().span().span_context().trace_id();
        let inner = request.in_scope(|| {
            hsm.decrypt(true).unwrap();
            TraceContext::current()
        });
        assert_eq!(TraceContext::current(), None, "left with the span");
        (trace, inner)
    });
    let trace = format!("{trace}");
    assert_eq!(inner.map(|t| t.trace_id_hex()), Some(trace.clone()));
    let om = hsm.metrics.encode_openmetrics();
    let name = "keychain_operation_duration_seconds_bucket";
    let op = [("operation", "decrypt")];
    assert_eq!(common::exemplar_traces(&om, name, &op), [trace], "{om}");
    // The exemplar names the attribute's own span, a child of the request's.
    assert!(!om.contains(&format!("span_id=\"{}\"", inner.unwrap().span_id_hex())));
}

#[test]
fn exemplar_layer_keeps_nothing_in_an_unsampled_trace_and_leaves_spans_without_one() {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
    use tracing_subscriber::layer::SubscriberExt;

    let outer = TraceContext::new([9; 16], [9; 8]).unwrap();
    let unsampled = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOff)
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(unsampled.tracer("test")))
        .with(ExemplarLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        let _entered = outer.enter();
        let inside = tracing::info_span!("request").in_scope(TraceContext::current);
        assert_eq!(inside, None, "an unsampled trace is not an exemplar");
        assert_eq!(TraceContext::current(), Some(outer), "restored on leaving");
    });
    // No OpenTelemetry layer: spans have no context, the current one stays.
    let subscriber = tracing_subscriber::registry().with(ExemplarLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        let _entered = outer.enter();
        let inside = tracing::info_span!("request").in_scope(TraceContext::current);
        assert_eq!(inside, Some(outer));
    });
}
