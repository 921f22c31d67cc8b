//! [`BackendStats`]: what a keystore backend tells the collector about itself.

use std::future::Future;
use std::pin::Pin;

/// An error reading a backend's stats.
pub type StatsError = Box<dyn std::error::Error + Send + Sync>;

/// The future of [`BackendStats::health_check`].
pub type HealthCheck<'a> = Pin<Box<dyn Future<Output = Result<(), StatsError>> + Send + 'a>>;

/// A keystore backend as the collector sees it. The collector polls every registered
/// backend each interval and keeps `keychain_keys_total`, `keychain_certs_total` and
/// `keychain_backend_healthy` true.
///
/// The counts may do blocking I/O (listing a directory, asking a token): the collector
/// calls them on tokio's blocking pool. The health check is async and bounded by the
/// collector's health timeout; failing or timing out sets `keychain_backend_healthy` to
/// 0. When a count cannot be read, its gauge keeps the last value read and
/// `keychain_backend_stats_errors_total{backend}` counts the failure, so a stale
/// number is visible as such.
///
/// ```
/// use keychain_metrics::collector::{BackendStats, HealthCheck, StatsError};
///
/// struct Memory { keys: std::sync::Mutex<Vec<String>> }
///
/// impl BackendStats for Memory {
///     fn name(&self) -> &str { "memory" }
///     fn key_count(&self) -> Result<u64, StatsError> {
///         Ok(self.keys.lock().map_err(|_| "poisoned")?.len() as u64)
///     }
///     fn cert_count(&self) -> Result<u64, StatsError> { Ok(0) }
///     fn health_check(&self) -> HealthCheck<'_> { Box::pin(async { Ok(()) }) }
/// }
/// ```
pub trait BackendStats: Send + Sync + 'static {
    /// The `backend` label value, e.g. `pkcs8`.
    fn name(&self) -> &str;
    /// Keys currently held.
    fn key_count(&self) -> Result<u64, StatsError>;
    /// Certificates currently held.
    fn cert_count(&self) -> Result<u64, StatsError>;
    /// Whether the backend can serve requests now.
    fn health_check(&self) -> HealthCheck<'_>;
}
