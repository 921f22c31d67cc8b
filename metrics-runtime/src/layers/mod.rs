//! How requests feed it: tower layers for HTTP ([`http`]) and gRPC ([`grpc`]), which
//! share a response future and body that see each request to its end ([`response`]),
//! and listeners that count transport connections ([`listener`]) and can time out writes
//! that a client never reads (`stall`, which the metrics endpoint uses too). The layers hold the
//! protocol's policy (status-code labels, the `Unimplemented` rule, call types) and
//! record through the store.

#[cfg(feature = "grpc")]
pub mod grpc;
pub mod http;
#[cfg(any(feature = "axum", feature = "tonic"))]
pub mod listener;
pub(crate) mod response;
#[cfg(any(feature = "axum", feature = "tonic", feature = "server"))]
pub(crate) mod stall;
