//! The metric contract: names, types, help texts and label names, in one table.
//!
//! The exposition and the `prometheus` bridge both read this table, so the names a
//! dashboard queries are written down exactly once.

use crate::labels::*;

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric family of the contract; its full name is `{namespace}_{suffix}`.
pub(crate) struct Spec {
    pub(crate) suffix: &'static str,
    pub(crate) kind: Kind,
    pub(crate) help: &'static str,
    pub(crate) labels: &'static [&'static str],
}

impl Spec {
    pub(crate) fn name(&self, namespace: &str) -> String {
        format!("{namespace}_{}", self.suffix)
    }
}

pub(crate) static OPERATIONS: Spec = Spec {
    suffix: "operations_total",
    kind: Kind::Counter,
    help: "Keychain operations, by operation, backend and outcome.",
    labels: &[LABEL_OPERATION, LABEL_BACKEND, LABEL_STATUS],
};
pub(crate) static OPERATION_DURATION: Spec = Spec {
    suffix: "operation_duration_seconds",
    kind: Kind::Histogram,
    help: "Duration of keychain operations in seconds.",
    labels: &[LABEL_OPERATION, LABEL_BACKEND],
};
pub(crate) static ERRORS: Spec = Spec {
    suffix: "errors_total",
    kind: Kind::Counter,
    help: "Failed keychain operations, by operation, backend and error type.",
    labels: &[LABEL_OPERATION, LABEL_BACKEND, LABEL_ERROR_TYPE],
};
pub(crate) static HTTP_REQUESTS: Spec = Spec {
    suffix: "http_requests_total",
    kind: Kind::Counter,
    help: "HTTP requests served, by method and status code.",
    labels: &[LABEL_METHOD, LABEL_STATUS_CODE],
};
pub(crate) static HTTP_DURATION: Spec = Spec {
    suffix: "http_request_duration_seconds",
    kind: Kind::Histogram,
    help: "Duration of HTTP requests in seconds.",
    labels: &[LABEL_METHOD],
};
pub(crate) static GRPC_REQUESTS: Spec = Spec {
    suffix: "grpc_requests_total",
    kind: Kind::Counter,
    help: "gRPC calls served, by method and status code.",
    labels: &[LABEL_METHOD, LABEL_STATUS_CODE],
};
pub(crate) static GRPC_DURATION: Spec = Spec {
    suffix: "grpc_request_duration_seconds",
    kind: Kind::Histogram,
    help: "Duration of gRPC calls in seconds.",
    labels: &[LABEL_METHOD],
};
pub(crate) static ACTIVE_CONNECTIONS: Spec = Spec {
    suffix: "active_connections",
    kind: Kind::Gauge,
    help: "Requests or connections in flight, by protocol.",
    labels: &[LABEL_PROTOCOL],
};
pub(crate) static KEYS: Spec = Spec {
    suffix: "keys_total",
    kind: Kind::Gauge,
    help: "Keys held, by backend.",
    labels: &[LABEL_BACKEND],
};
pub(crate) static CERTS: Spec = Spec {
    suffix: "certs_total",
    kind: Kind::Gauge,
    help: "Certificates held, by backend.",
    labels: &[LABEL_BACKEND],
};
pub(crate) static BACKEND_HEALTHY: Spec = Spec {
    suffix: "backend_healthy",
    kind: Kind::Gauge,
    help: "Whether a backend passed its last health check (1) or not (0).",
    labels: &[LABEL_BACKEND],
};

// Beyond the Go package's contract: new metrics, never new labels on contract metrics.

pub(crate) static HTTP_ROUTE_REQUESTS: Spec = Spec {
    suffix: "http_route_requests_total",
    kind: Kind::Counter,
    help: "HTTP requests served, by method, matched route template and status code.",
    labels: &[LABEL_METHOD, LABEL_ROUTE, LABEL_STATUS_CODE],
};
pub(crate) static HTTP_ROUTE_DURATION: Spec = Spec {
    suffix: "http_route_request_duration_seconds",
    kind: Kind::Histogram,
    help: "Duration of HTTP requests in seconds, by method and matched route template.",
    labels: &[LABEL_METHOD, LABEL_ROUTE],
};
pub(crate) static GRPC_RECEIVED: Spec = Spec {
    suffix: "grpc_messages_received_total",
    kind: Kind::Counter,
    help: "gRPC request messages received, by method.",
    labels: &[LABEL_METHOD],
};
pub(crate) static GRPC_SENT: Spec = Spec {
    suffix: "grpc_messages_sent_total",
    kind: Kind::Counter,
    help: "gRPC response messages sent, by method.",
    labels: &[LABEL_METHOD],
};
pub(crate) static GRPC_CALLS: Spec = Spec {
    suffix: "grpc_calls_total",
    kind: Kind::Counter,
    help: "gRPC calls by method and call type as observed: unary, client_streaming, \
           server_streaming or bidi_streaming.",
    labels: &[LABEL_METHOD, LABEL_CALL_TYPE],
};
pub(crate) static TCP_OPEN: Spec = Spec {
    suffix: "tcp_connections",
    kind: Kind::Gauge,
    help: "Open transport (TCP) connections, by protocol.",
    labels: &[LABEL_PROTOCOL],
};
pub(crate) static TCP_ACCEPTED: Spec = Spec {
    suffix: "tcp_connections_accepted_total",
    kind: Kind::Counter,
    help: "Transport (TCP) connections accepted, by protocol.",
    labels: &[LABEL_PROTOCOL],
};

/// Every family, in exposition order.
pub(crate) static ALL: [&Spec; 18] = [
    &OPERATIONS,
    &OPERATION_DURATION,
    &ERRORS,
    &HTTP_REQUESTS,
    &HTTP_DURATION,
    &GRPC_REQUESTS,
    &GRPC_DURATION,
    &ACTIVE_CONNECTIONS,
    &KEYS,
    &CERTS,
    &BACKEND_HEALTHY,
    &HTTP_ROUTE_REQUESTS,
    &HTTP_ROUTE_DURATION,
    &GRPC_RECEIVED,
    &GRPC_SENT,
    &GRPC_CALLS,
    &TCP_OPEN,
    &TCP_ACCEPTED,
];
