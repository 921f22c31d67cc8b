//! The typed label values of the metric contract and the label names.
//!
//! Every label whose values come from a closed set is an enum here, so recording never
//! hashes or validates those values, and a typo is a compile error rather than a new series.

use std::fmt;
use std::str::FromStr;

/// Label name `operation`.
pub const LABEL_OPERATION: &str = "operation";
/// Label name `backend`.
pub const LABEL_BACKEND: &str = "backend";
/// Label name `status`.
pub const LABEL_STATUS: &str = "status";
/// Label name `error_type`.
pub const LABEL_ERROR_TYPE: &str = "error_type";
/// Label name `protocol`.
pub const LABEL_PROTOCOL: &str = "protocol";
/// Label name `method` (HTTP method or gRPC method path).
pub const LABEL_METHOD: &str = "method";
/// Label name `status_code` (HTTP status digits or gRPC code name).
pub const LABEL_STATUS_CODE: &str = "status_code";

/// Label name `route` (matched route template; beyond the contract).
pub const LABEL_ROUTE: &str = "route";
/// Label name `call_type` (gRPC call shape; beyond the contract).
pub const LABEL_CALL_TYPE: &str = "call_type";

/// Label names that our metrics use; constant labels may not reuse them.
pub(crate) const RESERVED_LABELS: [&str; 10] = [
    LABEL_ROUTE,
    LABEL_CALL_TYPE,
    LABEL_OPERATION,
    LABEL_BACKEND,
    LABEL_STATUS,
    LABEL_ERROR_TYPE,
    LABEL_PROTOCOL,
    LABEL_METHOD,
    LABEL_STATUS_CODE,
    "le",
];

/// Error returned by the `FromStr` implementations of the label enums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLabelValue {
    /// Which label was being parsed, e.g. `operation`.
    pub label: &'static str,
    /// The rejected input.
    pub value: String,
}

impl fmt::Display for UnknownLabelValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} value {:?}", self.label, self.value)
    }
}

impl std::error::Error for UnknownLabelValue {}

/// Declares a label enum with its wire values, `as_str`, `ALL`, `Display` and `FromStr`.
macro_rules! label_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $label:expr, { $( $(#[$vmeta:meta])* $variant:ident => $value:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The label value exactly as it appears in the exposition.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $value),+ }
            }

            /// Dense index of this value, `0..ALL.len()`.
            #[allow(dead_code)] // not every enum is stored densely
            pub(crate) const fn index(self) -> usize {
                self as usize
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownLabelValue;

            /// Parses the exposition value (`"generate"`), not the Rust name.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($value => Ok($name::$variant),)+
                    _ => Err(UnknownLabelValue { label: $label, value: s.to_owned() }),
                }
            }
        }
    };
}

impl Op {
    /// The label values of the 15 built-ins.
    pub(crate) const NAMES: [&'static str; 15] = {
        let mut names = [""; 15];
        let mut i = 0;
        while i < 15 {
            names[i] = Op::ALL[i].as_str();
            i += 1;
        }
        names
    };
}

label_enum! {
    /// A built-in keychain operation: the 15 `operation` label values of the Go
    /// package. A service's own operations are [`Operation`](struct@crate::Operation)s too.
    Op, LABEL_OPERATION, {
        /// Key generation.
        Generate => "generate",
        /// Key storage.
        Store => "store",
        /// Key retrieval.
        Get => "get",
        /// Key deletion.
        Delete => "delete",
        /// Key listing.
        List => "list",
        /// Signing.
        Sign => "sign",
        /// Signature verification.
        Verify => "verify",
        /// Encryption.
        Encrypt => "encrypt",
        /// Decryption.
        Decrypt => "decrypt",
        /// Key export.
        Export => "export",
        /// Key import.
        Import => "import",
        /// Key rotation.
        Rotate => "rotate",
        /// Backup.
        Backup => "backup",
        /// Restore.
        Restore => "restore",
        /// Health check.
        HealthCheck => "health_check",
    }
}

label_enum! {
    /// The outcome of an operation: the `status` label.
    Status, LABEL_STATUS, {
        /// Completed with `Ok` or a non-`Result` value.
        Success => "success",
        /// Completed with `Err`, or panicked.
        Error => "error",
        /// An instrumented future was dropped after it started and before it completed.
        Cancelled => "cancelled",
    }
}

label_enum! {
    /// A server protocol: the `protocol` label of `keychain_active_connections`. More
    /// may come, so matches need a wildcard arm.
    #[non_exhaustive]
    Protocol, LABEL_PROTOCOL, {
        /// HTTP / REST.
        Http => "http",
        /// gRPC.
        Grpc => "grpc",
        /// QUIC / HTTP3.
        Quic => "quic",
        /// MCP JSON-RPC.
        Mcp => "mcp",
    }
}

label_enum! {
    /// An HTTP method as a label value: the nine standard methods, everything else `OTHER`.
    ///
    /// A client can send any token as a method; folding the rest into one value keeps a
    /// scanner from creating series.
    HttpMethod, LABEL_METHOD, {
        /// `GET`
        Get => "GET",
        /// `HEAD`
        Head => "HEAD",
        /// `POST`
        Post => "POST",
        /// `PUT`
        Put => "PUT",
        /// `DELETE`
        Delete => "DELETE",
        /// `CONNECT`
        Connect => "CONNECT",
        /// `OPTIONS`
        Options => "OPTIONS",
        /// `TRACE`
        Trace => "TRACE",
        /// `PATCH`
        Patch => "PATCH",
        /// Any non-standard method.
        Other => "OTHER",
    }
}

impl HttpMethod {
    /// Maps a request method to its label; methods outside the standard nine become
    /// [`HttpMethod::Other`]. Matching is case-sensitive, as methods are (RFC 9110 §9.1).
    pub fn from_method(method: &str) -> Self {
        method.parse().unwrap_or(HttpMethod::Other)
    }
}

label_enum! {
    /// A gRPC status code as a label value: the code's canonical name.
    GrpcCode, LABEL_STATUS_CODE, {
        /// 0
        Ok => "OK",
        /// 1
        Cancelled => "Canceled",
        /// 2
        Unknown => "Unknown",
        /// 3
        InvalidArgument => "InvalidArgument",
        /// 4
        DeadlineExceeded => "DeadlineExceeded",
        /// 5
        NotFound => "NotFound",
        /// 6
        AlreadyExists => "AlreadyExists",
        /// 7
        PermissionDenied => "PermissionDenied",
        /// 8
        ResourceExhausted => "ResourceExhausted",
        /// 9
        FailedPrecondition => "FailedPrecondition",
        /// 10
        Aborted => "Aborted",
        /// 11
        OutOfRange => "OutOfRange",
        /// 12
        Unimplemented => "Unimplemented",
        /// 13
        Internal => "Internal",
        /// 14
        Unavailable => "Unavailable",
        /// 15
        DataLoss => "DataLoss",
        /// 16
        Unauthenticated => "Unauthenticated",
    }
}

impl GrpcCode {
    /// The code for its numeric value (`grpc-status` header); values outside 0..=16 are
    /// `Unknown`, as the gRPC spec prescribes for unrecognised codes.
    pub fn from_i32(code: i32) -> Self {
        usize::try_from(code)
            .ok()
            .and_then(|i| GrpcCode::ALL.get(i).copied())
            .unwrap_or(GrpcCode::Unknown)
    }

    /// The numeric value of the code.
    pub const fn as_i32(self) -> i32 {
        self as i32
    }
}

/// The `status_code` label of an HTTP status: its digits, or `other` outside 100–999.
pub(crate) fn http_code_label(status_code: u16, digits: &mut itoa::Buffer) -> &str {
    if (100..=999).contains(&status_code) {
        digits.format(status_code)
    } else {
        super::cardinality::OVERFLOW
    }
}
