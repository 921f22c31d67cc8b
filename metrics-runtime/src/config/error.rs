//! [`ConfigError`]: what is wrong with a configuration, naming the field and the value
//! (never a secret).

use std::fmt;

/// A configuration that could not be read or is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not YAML, or not a mapping (the message has the line and column).
    Syntax(String),
    /// A value has the wrong type, or a key is unknown.
    Field {
        /// Where, e.g. `metrics.port`.
        field: String,
        /// What is wrong, with the line and column.
        message: String,
    },
    /// A field has an invalid value.
    Invalid {
        /// The field, e.g. `metrics.port`.
        field: &'static str,
        /// The value as given (a token is never shown).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The file could not be read.
    Io {
        /// The file.
        path: String,
        /// The OS error.
        error: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Syntax(message) => write!(f, "invalid metrics configuration: {message}"),
            ConfigError::Field { field, message } => write!(f, "{field}: {message}"),
            ConfigError::Invalid {
                field,
                value,
                reason,
            } => write!(f, "{field}: {value}: {reason}"),
            ConfigError::Io { path, error } => write!(f, "cannot read {path}: {error}"),
        }
    }
}

impl std::error::Error for ConfigError {}

pub(crate) fn invalid(
    field: &'static str,
    value: impl fmt::Display,
    reason: &'static str,
) -> ConfigError {
    ConfigError::Invalid {
        field,
        value: value.to_string(),
        reason,
    }
}

/// A bearer token as `field` gives it: not empty, printable ASCII without spaces. The
/// token itself is never part of the error.
pub(crate) fn check_token(field: &'static str, token: &str) -> Result<(), ConfigError> {
    if token.trim().is_empty() {
        return Err(invalid(
            field,
            "(empty)",
            "must not be empty; omit it to disable authentication",
        ));
    }
    if token.chars().any(|c| !c.is_ascii_graphic()) {
        return Err(invalid(
            field,
            "(hidden)",
            "must be printable ASCII without spaces",
        ));
    }
    Ok(())
}
