//! The layers' series, resolved once per protocol key: by HTTP method and status code
//! ([`http`]) and by gRPC path ([`grpc`]), so a request records without a lookup.

#[cfg(feature = "grpc")]
pub(crate) mod grpc;
pub(crate) mod http;
