//! What is recorded: the metric families, their labels, bucket bounds and the caps on
//! label values. Everything else reads this; it reads nothing but [`crate::render`].
//!
//! Every family is declared once, in [`for_each_family!`]. That one table generates the
//! [`Spec`]s here (names, types, help texts, label names), the store's fields and their
//! construction, and the list the exposition and the `prometheus` bridge walk: a family
//! that is declared is stored and exposed, and nothing has to be kept in step by hand.

pub(crate) mod buckets;
pub(crate) mod cardinality;
pub(crate) mod error_type;
pub(crate) mod labels;
#[cfg(feature = "recorder")]
pub(crate) mod named;
pub(crate) mod native;
pub(crate) mod operation;
pub(crate) mod operation_rule;

use labels::*;

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// One metric family; its full name is `{namespace}_{suffix}`.
#[derive(Debug)]
pub(crate) struct Spec {
    /// Position in [`ALL`], so per-instance data (the full names) is an array lookup.
    pub(crate) id: usize,
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

/// The table of every family, in exposition order, handed to the macro `$generate`.
///
/// Each entry is one storage (a field of the store) and the one or two families it is
/// exposed as. `storage` says how its series are kept:
///
/// - `Operations`: an operation's status counts and duration histogram in one cell
///   array, exposed as two families that always agree;
/// - `Counter`, `Histogram(buckets)`: counters, and histograms over the instance's
///   `operation`, `http` or `grpc` bucket bounds;
/// - `SetGauge`: gauges that are set; `DeltaGauge`: gauges moved by deltas;
/// - `InFlight`: the in-flight gauge, one fixed series per [`Protocol`], always exposed.
///
/// `caps` gives, for each label in order, the cap that bounds its values (`operation`,
/// whose 15 built-ins are always admitted, `backend`, `error_type`, `grpc_method`,
/// `route`), or `-` for a closed set of values.
macro_rules! for_each_family {
    ($generate:ident) => {
        $generate! {
            operations: Operations(operation), caps [operation, backend] => [
                OPERATIONS = ("operations_total", Counter,
                    "Keychain operations, by operation, backend and outcome.",
                    [LABEL_OPERATION, LABEL_BACKEND, LABEL_STATUS]),
                OPERATION_DURATION = ("operation_duration_seconds", Histogram,
                    "Duration of keychain operations in seconds.",
                    [LABEL_OPERATION, LABEL_BACKEND]),
            ];
            errors: Counter, caps [operation, backend, error_type] => [
                ERRORS = ("errors_total", Counter,
                    "Failed keychain operations, by operation, backend and error type.",
                    [LABEL_OPERATION, LABEL_BACKEND, LABEL_ERROR_TYPE]),
            ];
            http_requests: Counter, caps [-, -] => [
                HTTP_REQUESTS = ("http_requests_total", Counter,
                    "HTTP requests served, by method and status code.",
                    [LABEL_METHOD, LABEL_STATUS_CODE]),
            ];
            http_durations: Histogram(http), caps [-] => [
                HTTP_DURATION = ("http_request_duration_seconds", Histogram,
                    "Duration of HTTP requests in seconds.",
                    [LABEL_METHOD]),
            ];
            grpc_requests: Counter, caps [grpc_method, -] => [
                GRPC_REQUESTS = ("grpc_requests_total", Counter,
                    "gRPC calls served, by method and status code.",
                    [LABEL_METHOD, LABEL_STATUS_CODE]),
            ];
            grpc_durations: Histogram(grpc), caps [grpc_method] => [
                GRPC_DURATION = ("grpc_request_duration_seconds", Histogram,
                    "Duration of gRPC calls in seconds.",
                    [LABEL_METHOD]),
            ];
            active: InFlight, caps [-] => [
                ACTIVE_CONNECTIONS = ("active_connections", Gauge,
                    "Requests or connections in flight, by protocol.",
                    [LABEL_PROTOCOL]),
            ];
            keys: SetGauge, caps [backend] => [
                KEYS = ("keys_total", Gauge, "Keys held, by backend.", [LABEL_BACKEND]),
            ];
            certs: SetGauge, caps [backend] => [
                CERTS = ("certs_total", Gauge, "Certificates held, by backend.", [LABEL_BACKEND]),
            ];
            healthy: SetGauge, caps [backend] => [
                BACKEND_HEALTHY = ("backend_healthy", Gauge,
                    "Whether a backend passed its last health check (1) or not (0).",
                    [LABEL_BACKEND]),
            ];
            // Beyond the Go package's contract: new metrics, never new labels on its own.
            http_routes: Counter, caps [-, route, -] => [
                HTTP_ROUTE_REQUESTS = ("http_route_requests_total", Counter,
                    "HTTP requests served, by method, matched route template and status code.",
                    [LABEL_METHOD, LABEL_ROUTE, LABEL_STATUS_CODE]),
            ];
            http_route_durations: Histogram(http), caps [-, route] => [
                HTTP_ROUTE_DURATION = ("http_route_request_duration_seconds", Histogram,
                    "Duration of HTTP requests in seconds, by method and matched route template.",
                    [LABEL_METHOD, LABEL_ROUTE]),
            ];
            grpc_received: Counter, caps [grpc_method] => [
                GRPC_RECEIVED = ("grpc_messages_received_total", Counter,
                    "gRPC request messages received, by method.",
                    [LABEL_METHOD]),
            ];
            grpc_sent: Counter, caps [grpc_method] => [
                GRPC_SENT = ("grpc_messages_sent_total", Counter,
                    "gRPC response messages sent, by method.",
                    [LABEL_METHOD]),
            ];
            grpc_calls: Counter, caps [grpc_method, -] => [
                GRPC_CALLS = ("grpc_calls_total", Counter,
                    "gRPC calls by method and call type as observed: unary, client_streaming, \
server_streaming or bidi_streaming.",
                    [LABEL_METHOD, LABEL_CALL_TYPE]),
            ];
            tcp_open: DeltaGauge, caps [-] => [
                TCP_OPEN = ("tcp_connections", Gauge,
                    "Open transport (TCP) connections, by protocol.",
                    [LABEL_PROTOCOL]),
            ];
            tcp_accepted: Counter, caps [-] => [
                TCP_ACCEPTED = ("tcp_connections_accepted_total", Counter,
                    "Transport (TCP) connections accepted, by protocol.",
                    [LABEL_PROTOCOL]),
            ];
        }
    };
}
pub(crate) use for_each_family;

/// The contract's half of the table: a `Spec` per family and [`ALL`].
macro_rules! specs {
    ($(
        $field:ident : $storage:ident $(($buckets:ident))?, caps [$($cap:tt),*] => [
            $($spec:ident = ($suffix:literal, $kind:ident, $help:literal, [$($label:ident),*])),+ $(,)?
        ];
    )*) => {
        /// Positions of the families in [`ALL`].
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        enum Id { $($($spec,)+)* }

        $($(
            pub(crate) static $spec: Spec = Spec {
                id: Id::$spec as usize,
                suffix: $suffix,
                kind: Kind::$kind,
                help: $help,
                labels: &[$($label),*],
            };
        )+)*

        /// Every family, in exposition order.
        pub(crate) static ALL: &[&Spec] = &[$($(&$spec,)+)*];
    };
}
for_each_family!(specs);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positions_and_names_are_unique() {
        for (i, spec) in ALL.iter().enumerate() {
            assert_eq!(spec.id, i, "{}", spec.suffix);
        }
        let mut suffixes: Vec<_> = ALL.iter().map(|s| s.suffix).collect();
        suffixes.sort_unstable();
        suffixes.dedup();
        assert_eq!(suffixes.len(), ALL.len());
        assert_eq!(ALL.len(), 18);
    }

    #[test]
    fn counters_end_in_total_and_durations_in_seconds() {
        for spec in ALL {
            match spec.kind {
                Kind::Counter => assert!(spec.suffix.ends_with("_total"), "{}", spec.suffix),
                Kind::Histogram => assert!(spec.suffix.ends_with("_seconds"), "{}", spec.suffix),
                Kind::Gauge => {}
            }
        }
    }
}
