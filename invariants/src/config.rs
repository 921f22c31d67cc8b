//! Hostile configuration: any bytes given to the config loader give either a config that
//! passes its own validation or an error that says where: a field (`metrics.port`) or,
//! when the text is not a YAML mapping at all, a line.

use keychain_metrics::config::{ConfigError, MetricsConfig};

use crate::Violation;

/// The fields an invalid value can be reported for.
const FIELDS: [&str; 8] = [
    "metrics.enabled",
    "metrics.address",
    "metrics.port",
    "metrics.path",
    "metrics.bearer_token",
    "metrics.collector_interval",
    "metrics.openmetrics",
    "server.host",
];

/// Loads `bytes` as a configuration file and checks the outcome.
pub fn check(bytes: &[u8]) -> Result<(), Violation> {
    match MetricsConfig::from_yaml_bytes(bytes) {
        Ok(config) => config
            .validate()
            .map_err(|e| format!("accepted a config that does not validate: {e}")),
        Err(e) => check_error(&e),
    }
}

fn check_error(e: &ConfigError) -> Result<(), Violation> {
    let shown = e.to_string();
    let fine = match e {
        ConfigError::Invalid { field, .. } => {
            FIELDS.contains(field) && shown.starts_with(&format!("{field}: "))
        }
        ConfigError::Field { field, message } => {
            !field.is_empty()
                && !message.is_empty()
                && shown.starts_with(&format!("{field}: "))
                && message.contains("line ")
        }
        ConfigError::Syntax(message) => message.contains("line "),
        // Not a file: nothing to read.
        _ => false,
    };
    if fine {
        Ok(())
    } else {
        Err(format!("an error that does not say where: {e:?}"))
    }
}
