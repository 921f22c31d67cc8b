//! The keystore's error: each variant is an `error_type` label value.

use std::fmt;

use keychain_metrics::ErrorType;

/// Why a keystore operation failed.
#[derive(Debug, ErrorType)]
pub enum KeyError {
    /// No key with that id.
    NotFound,
    /// A key with that id exists already.
    AlreadyExists,
    /// A request field is invalid.
    InvalidParams(String),
    /// The key cannot do this (e.g. encrypting with a signing key).
    WrongKeyType(&'static str),
    /// Not a PKCS#8 PEM key of a supported type.
    InvalidKey(String),
    /// Decryption failed: wrong key or tampered ciphertext.
    #[error_type("decryption_failed")]
    Decryption,
    /// The storage failed.
    #[error_type(transparent)]
    Io(std::io::Error),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::NotFound => f.write_str("no such key"),
            KeyError::AlreadyExists => f.write_str("a key with this id exists"),
            KeyError::InvalidParams(what) => write!(f, "invalid request: {what}"),
            KeyError::WrongKeyType(what) => write!(f, "wrong key type: {what}"),
            KeyError::InvalidKey(what) => write!(f, "invalid key: {what}"),
            KeyError::Decryption => f.write_str("decryption failed"),
            KeyError::Io(e) => write!(f, "storage error: {e}"),
        }
    }
}

impl std::error::Error for KeyError {}

impl From<std::io::Error> for KeyError {
    fn from(e: std::io::Error) -> Self {
        KeyError::Io(e)
    }
}
