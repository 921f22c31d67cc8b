//! The server's configuration: the metrics block plus the REST and gRPC addresses.

use std::net::SocketAddr;

use keychain_metrics::config::{ConfigError, MetricsConfig};
use serde::Deserialize;

/// The default configuration, embedded in the binary.
pub const DEFAULT: &str = "\
metrics:
  enabled: true
  port: 9090
  path: /metrics
  native_histograms: true
  exemplars: true
  created_samples: true
  ui:
    enabled: true
    path: /
  recorder:
    buckets:
      keychain_pkcs8_fsync: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25]
rest:
  address: 127.0.0.1:8080
grpc:
  address: 127.0.0.1:50051
";

/// What the server listens on.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The metrics endpoint.
    pub metrics: MetricsConfig,
    /// The REST API's address.
    pub rest: SocketAddr,
    /// The gRPC API's address.
    pub grpc: SocketAddr,
}

#[derive(Deserialize)]
struct Raw {
    rest: Option<Listen>,
    grpc: Option<Listen>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Listen {
    address: String,
}

fn address(
    field: &'static str,
    listen: Option<Listen>,
    default: &str,
) -> Result<SocketAddr, ConfigError> {
    let text = listen.map_or_else(|| default.to_owned(), |l| l.address);
    text.parse().map_err(|_| ConfigError::Invalid {
        field,
        value: format!("{text:?}"),
        reason: "not an address like 127.0.0.1:8080",
    })
}

impl ServerConfig {
    /// Parses YAML; absent sections take the defaults.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let metrics = MetricsConfig::from_yaml(text)?;
        let raw: Raw = serde_saphyr::from_str(text)
            .map_err(|e| ConfigError::Syntax(e.without_snippet().to_string()))?;
        Ok(ServerConfig {
            metrics,
            rest: address("rest.address", raw.rest, "127.0.0.1:8080")?,
            grpc: address("grpc.address", raw.grpc, "127.0.0.1:50051")?,
        })
    }
}
