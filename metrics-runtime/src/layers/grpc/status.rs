//! Where a gRPC call's status comes from: `grpc-status` in the trailers, or in the
//! headers of a trailers-only response, or else the HTTP status.

use http::{HeaderMap, StatusCode};

use crate::contract::labels::GrpcCode;

/// The `grpc-status` of a header map, if present (`Unknown` if it does not parse).
pub(crate) fn grpc_status(headers: &HeaderMap) -> Option<GrpcCode> {
    let value = headers.get("grpc-status")?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<i32>().ok())
            .map_or(GrpcCode::Unknown, GrpcCode::from_i32),
    )
}

/// The gRPC code for a non-200 HTTP response, as the gRPC spec maps them.
pub(crate) fn from_http(status: StatusCode) -> GrpcCode {
    match status.as_u16() {
        400 => GrpcCode::Internal,
        401 => GrpcCode::Unauthenticated,
        403 => GrpcCode::PermissionDenied,
        404 => GrpcCode::Unimplemented,
        429 | 502 | 503 | 504 => GrpcCode::Unavailable,
        _ => GrpcCode::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_grpc_status() {
        let mut h = HeaderMap::new();
        assert_eq!(grpc_status(&h), None);
        h.insert("grpc-status", "5".parse().unwrap());
        assert_eq!(grpc_status(&h), Some(GrpcCode::NotFound));
        h.insert("grpc-status", "nope".parse().unwrap());
        assert_eq!(grpc_status(&h), Some(GrpcCode::Unknown));
        h.insert("grpc-status", "42".parse().unwrap());
        assert_eq!(grpc_status(&h), Some(GrpcCode::Unknown));
    }

    #[test]
    fn maps_http_statuses() {
        assert_eq!(from_http(StatusCode::NOT_FOUND), GrpcCode::Unimplemented);
        assert_eq!(
            from_http(StatusCode::SERVICE_UNAVAILABLE),
            GrpcCode::Unavailable
        );
        assert_eq!(from_http(StatusCode::IM_A_TEAPOT), GrpcCode::Unknown);
    }
}
