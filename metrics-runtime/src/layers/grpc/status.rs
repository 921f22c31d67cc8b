//! Where a gRPC call's status comes from: `grpc-status` in the trailers, or in the
//! headers of a trailers-only response, or else the HTTP status.

use http::{HeaderMap, HeaderName, StatusCode};

use crate::contract::labels::GrpcCode;

/// A ready `HeaderName`: a `&str` key is parsed and validated on every lookup, which was
/// 400 instructions a call, the layer's largest single cost.
static GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

/// Header blocks up to this size are searched by comparing names, which costs less than
/// hashing one: a response head or a trailer block holds a handful.
const SCANNED: usize = 8;

/// The `grpc-status` of a header map, if present (`Unknown` if it does not parse).
pub(crate) fn grpc_status(headers: &HeaderMap) -> Option<GrpcCode> {
    let value = match headers.len() <= SCANNED {
        true => headers
            .iter()
            .find_map(|(name, value)| is_grpc_status(name).then_some(value)),
        false => headers.get(&GRPC_STATUS),
    }?;
    // Codes are one or two digits: read those directly (a general parse was about half
    // of this function's cost), anything else as the spec allows.
    let code = match *value.as_bytes() {
        [d @ b'0'..=b'9'] => Some(i32::from(d - b'0')),
        [t @ b'1'..=b'9', u @ b'0'..=b'9'] => Some(i32::from(t - b'0') * 10 + i32::from(u - b'0')),
        _ => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<i32>().ok()),
    };
    Some(code.map_or(GrpcCode::Unknown, GrpcCode::from_i32))
}

/// Whether `name` is `grpc-status`, compared as an 11-byte array: inline loads, where
/// `HeaderName`'s own equality calls `memcmp`.
fn is_grpc_status(name: &HeaderName) -> bool {
    <&[u8; 11]>::try_from(name.as_str().as_bytes()).is_ok_and(|n| n == b"grpc-status")
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
        // Names of the same length, and a standard one, are not it.
        h.insert("grpc-statux", "5".parse().unwrap());
        h.insert("content-type", "application/grpc".parse().unwrap());
        assert_eq!(grpc_status(&h), None);
        h.insert("grpc-status", "5".parse().unwrap());
        assert_eq!(grpc_status(&h), Some(GrpcCode::NotFound));
        h.insert("grpc-status", "nope".parse().unwrap());
        assert_eq!(grpc_status(&h), Some(GrpcCode::Unknown));
        h.insert("grpc-status", "42".parse().unwrap());
        assert_eq!(grpc_status(&h), Some(GrpcCode::Unknown));
        // The one- and two-digit fast path and the general parse agree.
        for (value, code) in [
            ("0", GrpcCode::Ok),
            ("16", GrpcCode::Unauthenticated),
            ("10", GrpcCode::Aborted),
            ("07", GrpcCode::PermissionDenied),
            (" 7", GrpcCode::PermissionDenied),
            ("99", GrpcCode::Unknown),
            ("-1", GrpcCode::Unknown),
            ("1a", GrpcCode::Unknown),
        ] {
            h.insert("grpc-status", value.parse().unwrap());
            assert_eq!(grpc_status(&h), Some(code), "{value:?}");
        }
        // Found by comparing names in a small block and by hashing in a large one.
        for extra in [0, SCANNED] {
            let mut h = HeaderMap::new();
            for i in 0..extra {
                h.insert(
                    HeaderName::try_from(format!("x-{i}")).unwrap(),
                    "1".parse().unwrap(),
                );
            }
            h.insert("grpc-status", " 14 ".parse().unwrap());
            assert_eq!(h.len() > SCANNED, extra > 0);
            assert_eq!(grpc_status(&h), Some(GrpcCode::Unavailable));
        }
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
