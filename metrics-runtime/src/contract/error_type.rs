//! [`ErrorType`]: how an error becomes an `error_type` label value.

/// An error that names its `error_type` label value.
///
/// Derive it with `#[derive(ErrorType)]`: each enum variant becomes its name in
/// snake_case (`KeyNotFound` → `key_not_found`), `#[error_type("custom")]` overrides a
/// variant or a struct, and `#[error_type(transparent)]` on a one-field variant asks
/// the inner error. Errors returned by an `#[instrument_op]` function that do not
/// implement it are labelled `error`.
///
/// ```
/// use keychain_metrics::ErrorType;
///
/// #[derive(Debug, ErrorType)]
/// enum KeyError {
///     KeyNotFound,
///     #[error_type("bad_params")]
///     InvalidParams(String),
///     #[error_type(transparent)]
///     Io(std::io::Error),
/// }
///
/// assert_eq!(KeyError::KeyNotFound.error_type(), "key_not_found");
/// assert_eq!(KeyError::InvalidParams("x".into()).error_type(), "bad_params");
/// let io = std::io::Error::from(std::io::ErrorKind::TimedOut);
/// assert_eq!(KeyError::Io(io).error_type(), "timed_out");
/// ```
pub trait ErrorType {
    /// The label value; a short, bounded, snake_case name, never data from the error.
    fn error_type(&self) -> &'static str;
}

impl<E: ErrorType + ?Sized> ErrorType for &E {
    fn error_type(&self) -> &'static str {
        (**self).error_type()
    }
}

impl<E: ErrorType + ?Sized> ErrorType for Box<E> {
    fn error_type(&self) -> &'static str {
        (**self).error_type()
    }
}

/// `std::io::Error` by its kind, in snake_case: `not_found`, `timed_out`, …
impl ErrorType for std::io::Error {
    fn error_type(&self) -> &'static str {
        self.kind().error_type()
    }
}

impl ErrorType for std::io::ErrorKind {
    fn error_type(&self) -> &'static str {
        use std::io::ErrorKind::*;
        match self {
            NotFound => "not_found",
            PermissionDenied => "permission_denied",
            ConnectionRefused => "connection_refused",
            ConnectionReset => "connection_reset",
            HostUnreachable => "host_unreachable",
            NetworkUnreachable => "network_unreachable",
            ConnectionAborted => "connection_aborted",
            NotConnected => "not_connected",
            AddrInUse => "addr_in_use",
            AddrNotAvailable => "addr_not_available",
            NetworkDown => "network_down",
            BrokenPipe => "broken_pipe",
            AlreadyExists => "already_exists",
            WouldBlock => "would_block",
            NotADirectory => "not_a_directory",
            IsADirectory => "is_a_directory",
            DirectoryNotEmpty => "directory_not_empty",
            ReadOnlyFilesystem => "read_only_filesystem",
            StaleNetworkFileHandle => "stale_network_file_handle",
            InvalidInput => "invalid_input",
            InvalidData => "invalid_data",
            TimedOut => "timed_out",
            WriteZero => "write_zero",
            StorageFull => "storage_full",
            NotSeekable => "not_seekable",
            FileTooLarge => "file_too_large",
            ResourceBusy => "resource_busy",
            ExecutableFileBusy => "executable_file_busy",
            Deadlock => "deadlock",
            CrossesDevices => "crosses_devices",
            TooManyLinks => "too_many_links",
            InvalidFilename => "invalid_filename",
            ArgumentListTooLong => "argument_list_too_long",
            Interrupted => "interrupted",
            Unsupported => "unsupported",
            UnexpectedEof => "unexpected_eof",
            OutOfMemory => "out_of_memory",
            _ => "other",
        }
    }
}
