//! One export attempt: a connection to the collector (TLS for `https://`), the request
//! over HTTP/1.1 or gRPC (HTTP/2), and what its answer means for retrying.
//!
//! A connection per attempt: an export runs once per interval, and a fresh connection
//! cannot inherit a stuck one. The answer's body is read up to [`MAX_ANSWER`] bytes,
//! so a hostile collector cannot make the exporter hold more.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::{read_file, ConfigError, OtlpProtocol, Push};

/// Bytes of an answer read at most: a partial-success message or an error text.
const MAX_ANSWER: usize = 64 * 1024;

/// The gRPC method of the metrics service.
const GRPC_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// How an attempt ended.
#[derive(Debug, PartialEq)]
pub(crate) enum Outcome {
    /// The collector took it.
    Accepted,
    /// Try again, after the time the collector asked for, if it did.
    Retry(Option<Duration>, String),
    /// The collector refused it for good (a bad request, an auth failure).
    Refused(String),
}

/// What every attempt reuses: the request's URI, the endpoint's parts and the TLS client.
pub(crate) struct Transport {
    push: Push,
    uri: http::Uri,
    host: String,
    port: u16,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
}

impl Transport {
    /// Reads the TLS files now, so a bad one fails the start with its name.
    pub(crate) fn new(push: Push) -> Result<Self, ConfigError> {
        let https = push.url.scheme_str() == Some("https");
        let host = push
            .url
            .host()
            .unwrap_or("localhost")
            .trim_matches(['[', ']'])
            .to_owned();
        let port = push.url.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = if https {
            let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|_| {
                ConfigError::Field {
                    field: "metrics.otlp.endpoint".into(),
                    message: format!("{host:?}: not a host name TLS can verify"),
                }
            })?;
            Some((super::tls::connector(&push)?, name))
        } else {
            None
        };
        let mut uri = push.url.clone().into_parts();
        if push.protocol == OtlpProtocol::Grpc {
            uri.path_and_query = Some(http::uri::PathAndQuery::from_static(GRPC_PATH));
        }
        let uri = http::Uri::from_parts(uri).map_err(|e| ConfigError::Field {
            field: "metrics.otlp.endpoint".into(),
            message: format!("{}: {e}", push.url),
        })?;
        Ok(Transport {
            push,
            uri,
            host,
            port,
            tls,
        })
    }

    /// One attempt, within the configured timeout.
    pub(crate) async fn send(&self, request: &Prepared) -> Outcome {
        match tokio::time::timeout(self.push.timeout, self.attempt(request)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Retry(None, format!("no answer within {:?}", self.push.timeout)),
        }
    }

    async fn attempt(&self, request: &Prepared) -> Outcome {
        let tcp = match TcpStream::connect((self.host.as_str(), self.port)).await {
            Ok(tcp) => tcp,
            Err(e) => return Outcome::Retry(None, format!("cannot connect: {e}")),
        };
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => self.exchange(tcp, request).await,
            Some((connector, name)) => match connector.connect(name.clone(), tcp).await {
                Ok(tls) => self.exchange(tls, request).await,
                Err(e) => Outcome::Retry(None, format!("TLS handshake failed: {e}")),
            },
        }
    }

    async fn exchange<S>(&self, io: S, prepared: &Prepared) -> Outcome
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut request = Request::new(Full::new(prepared.body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = prepared.headers.clone();
        let io = TokioIo::new(io);
        let response = match self.push.protocol {
            OtlpProtocol::Grpc => {
                let (mut sender, connection) =
                    match hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await {
                        Ok(parts) => parts,
                        Err(e) => {
                            return Outcome::Retry(None, format!("HTTP/2 handshake failed: {e}"))
                        }
                    };
                tokio::spawn(connection);
                sender.send_request(request).await
            }
            _ => {
                let (mut sender, connection) = match hyper::client::conn::http1::handshake(io).await
                {
                    Ok(parts) => parts,
                    Err(e) => return Outcome::Retry(None, format!("HTTP handshake failed: {e}")),
                };
                tokio::spawn(connection);
                sender.send_request(request).await
            }
        };
        let response = match response {
            Ok(response) => response,
            Err(e) => return Outcome::Retry(None, format!("request failed: {e}")),
        };
        let (head, body) = response.into_parts();
        let retry_after = head
            .headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(3600)));
        // Read (a bounded part of) the answer: gRPC's status may be in its trailers.
        let collected = Limited::new(body, MAX_ANSWER).collect().await.ok();
        let trailers = collected.as_ref().and_then(|c| c.trailers()).cloned();
        let text = collected
            .map(|c| {
                String::from_utf8_lossy(&c.to_bytes())
                    .chars()
                    .take(200)
                    .collect::<String>()
            })
            .unwrap_or_default();
        match self.push.protocol {
            OtlpProtocol::Grpc => {
                let trailers = trailers.as_ref();
                let status = head
                    .headers
                    .get("grpc-status")
                    .or_else(|| trailers.and_then(|t| t.get("grpc-status")))
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u32>().ok());
                let message = head
                    .headers
                    .get("grpc-message")
                    .or_else(|| trailers.and_then(|t| t.get("grpc-message")))
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                grpc_outcome(head.status, status, message)
            }
            _ => http_outcome(head.status, retry_after, text),
        }
    }

    /// The request of one export, made once for all its attempts: the body compressed
    /// (and framed, for gRPC) and the headers, the headers file's read now.
    pub(crate) fn prepare(&self, message: &[u8]) -> Result<Prepared, String> {
        let push = &self.push;
        let mut headers = HeaderMap::new();
        let mut set = |name: &'static str, value: &'static str| {
            headers.insert(name, HeaderValue::from_static(value));
        };
        set(
            "user-agent",
            concat!("keychain-metrics/", env!("CARGO_PKG_VERSION")),
        );
        let payload = if push.gzip {
            Bytes::from(crate::exposition::gzip(message))
        } else {
            Bytes::copy_from_slice(message)
        };
        let body = match push.protocol {
            OtlpProtocol::Grpc => {
                set("content-type", "application/grpc");
                set("te", "trailers");
                if push.gzip {
                    set("grpc-encoding", "gzip");
                }
                // The length-prefixed message: a compressed flag, then 4 bytes of length.
                let mut framed = Vec::with_capacity(5 + payload.len());
                framed.push(u8::from(push.gzip));
                framed.extend_from_slice(&(payload.len() as u32).to_be_bytes());
                framed.extend_from_slice(&payload);
                Bytes::from(framed)
            }
            _ => {
                set("content-type", "application/x-protobuf");
                if push.gzip {
                    set("content-encoding", "gzip");
                }
                payload
            }
        };
        let file_headers = match &push.headers_file {
            None => Vec::new(),
            Some(path) => {
                let text = read_file(path).map_err(|e| e.to_string())?;
                crate::config::parse_headers(&String::from_utf8_lossy(&text)).map_err(|reason| {
                    format!("metrics.otlp.headers_file {}: {reason}", path.display())
                })?
            }
        };
        for (name, value) in push.headers.iter().chain(&file_headers) {
            // Checked when configured or read; a bad one is skipped, never sent half.
            if let (Ok(n), Ok(v)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) {
                headers.insert(n, v);
            }
        }
        Ok(Prepared { body, headers })
    }
}

/// One export's request, sent as it is by each attempt.
pub(crate) struct Prepared {
    body: Bytes,
    headers: HeaderMap,
}

/// OTLP/HTTP: 2xx takes it; 429, 502, 503 and 504 are worth retrying.
pub(crate) fn http_outcome(
    status: StatusCode,
    retry_after: Option<Duration>,
    text: String,
) -> Outcome {
    match status.as_u16() {
        200..=299 => Outcome::Accepted,
        429 | 502 | 503 | 504 => Outcome::Retry(retry_after, format!("{status}")),
        _ => Outcome::Refused(format!("{status}: {text}")),
    }
}

/// OTLP/gRPC: the status codes the specification calls retryable.
pub(crate) fn grpc_outcome(http: StatusCode, status: Option<u32>, message: String) -> Outcome {
    match status {
        Some(0) => Outcome::Accepted,
        // CANCELLED, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, OUT_OF_RANGE,
        // UNAVAILABLE, DATA_LOSS.
        Some(code @ (1 | 4 | 8 | 10 | 11 | 14 | 15)) => {
            Outcome::Retry(None, format!("gRPC status {code}: {message}"))
        }
        Some(code) => Outcome::Refused(format!("gRPC status {code}: {message}")),
        None if http.is_success() => Outcome::Retry(None, "no gRPC status".into()),
        None => http_outcome(http, None, String::new()),
    }
}
