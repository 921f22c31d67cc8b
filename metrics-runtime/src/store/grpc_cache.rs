//! Shortcuts to the gRPC series of a method: a call to a method seen before finds all of
//! them with one lookup of its path, instead of one per family (five), and records into
//! them directly. The status-code counters and the call types are resolved on first use.
//! Entries are keyed by the path as admitted through the method cap the gRPC families
//! share, so they are bounded as those families are.

use std::sync::{Arc, OnceLock};

use crate::contract::labels::GrpcCode;
use crate::contract::{GRPC_CALLS, GRPC_DURATION, GRPC_RECEIVED, GRPC_REQUESTS, GRPC_SENT};
use crate::store::series::{values_of, CounterSeries, Labelled, TimedSeries, Values};
use crate::store::Store;

/// How a call used its method, as observed: by the messages in each direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallType {
    Unary,
    ClientStreaming,
    ServerStreaming,
    BidiStreaming,
}

impl CallType {
    /// More than one request message makes a call client-streaming, more than one
    /// response message server-streaming.
    pub(crate) fn observed(received: u64, sent: u64) -> Self {
        match (received > 1, sent > 1) {
            (false, false) => CallType::Unary,
            (true, false) => CallType::ClientStreaming,
            (false, true) => CallType::ServerStreaming,
            (true, true) => CallType::BidiStreaming,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CallType::Unary => "unary",
            CallType::ClientStreaming => "client_streaming",
            CallType::ServerStreaming => "server_streaming",
            CallType::BidiStreaming => "bidi_streaming",
        }
    }
}

/// Every series of one method.
pub(crate) struct GrpcMethod {
    values: Values,
    duration: Arc<TimedSeries>,
    received: Arc<CounterSeries>,
    sent: Arc<CounterSeries>,
    calls: [OnceLock<Arc<CounterSeries>>; 4],
    codes: [OnceLock<Arc<CounterSeries>>; GrpcCode::ALL.len()],
}

impl Labelled for GrpcMethod {
    fn values(&self) -> &[Box<str>] {
        &self.values
    }
}

impl Store {
    /// The entry of `path` (as admitted) for the method cache.
    pub(crate) fn new_grpc_method(&self, [path]: &[&str; 1]) -> GrpcMethod {
        let f = &self.families;
        let counter = |spec, family: &crate::store::family::Family<CounterSeries, 1>| {
            family.get_or_create([path], |v| self.counter(spec, v))
        };
        GrpcMethod {
            values: values_of(&[path]),
            duration: f.grpc_durations.get_or_create([path], |v| {
                self.histogram(&GRPC_DURATION, &self.buckets.grpc, v)
            }),
            received: counter(&GRPC_RECEIVED, &f.grpc_received),
            sent: counter(&GRPC_SENT, &f.grpc_sent),
            calls: Default::default(),
            codes: Default::default(),
        }
    }

    /// One call of `method`: its request counter for `code`, its duration, its message
    /// counts and its call type, the series a lookup by path in each family would find.
    pub(crate) fn record_grpc_method(
        &self,
        method: &GrpcMethod,
        code: GrpcCode,
        nanos: u64,
        received: u64,
        sent: u64,
    ) {
        if !self.enabled() {
            return;
        }
        let f = &self.families;
        let path = &*method.values[0];
        method.codes[code.index()]
            .get_or_init(|| {
                f.grpc_requests
                    .get_or_create([path, code.as_str()], |v| self.counter(&GRPC_REQUESTS, v))
            })
            .add(1);
        method.duration.record(&self.buckets.grpc, None, nanos);
        method.received.add(received);
        method.sent.add(sent);
        let call_type = CallType::observed(received, sent);
        method.calls[call_type as usize]
            .get_or_init(|| {
                f.grpc_calls
                    .get_or_create([path, call_type.as_str()], |v| self.counter(&GRPC_CALLS, v))
            })
            .add(1);
    }
}
