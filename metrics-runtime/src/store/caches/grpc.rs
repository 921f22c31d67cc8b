//! Shortcuts to the gRPC series of a method: a call to a method seen before finds all of
//! them with one lookup of its path, instead of one per family (five), and records into
//! them directly. The status-code counters and the call types are resolved on first use.
//! Entries are keyed by the path as admitted through the method cap the gRPC families
//! share, so they are bounded as those families are.

use std::sync::{Arc, OnceLock};

use crate::contract::labels::GrpcCode;
use crate::store::families::series::{CounterSeries, Labelled, TimedSeries, Values};

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
    pub(crate) values: Values,
    pub(crate) duration: Arc<TimedSeries>,
    pub(crate) received: Arc<CounterSeries>,
    pub(crate) sent: Arc<CounterSeries>,
    pub(crate) calls: [OnceLock<Arc<CounterSeries>>; 4],
    pub(crate) codes: [OnceLock<Arc<CounterSeries>>; GrpcCode::ALL.len()],
}

impl Labelled for GrpcMethod {
    fn values(&self) -> &[Box<str>] {
        &self.values
    }
}
