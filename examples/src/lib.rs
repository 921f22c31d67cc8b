//! The example keychain service: a real keystore with two backends, a REST and a gRPC
//! API over it, all instrumented with keychain-metrics. The binaries are
//! `keychain-server` and `keychain-load`.

pub mod certs;
pub mod config;
pub mod grpc;
pub mod keystore;
pub mod memory;
pub mod private;
pub mod rest;
pub mod telemetry;

use std::sync::Arc;
use std::time::Duration;

use keychain_metrics::trace::TraceContext;
use keystore::{KeyError, KeyStore};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The generated gRPC code.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    tonic::include_proto!("keychain.v1");
}

/// Restores run one at a time, over both APIs: each holds a whole archive (up to 64 MiB
/// and [`MAX_ARCHIVE_KEYS`](keystore::MAX_ARCHIVE_KEYS) keys) in memory.
const RESTORES_AT_ONCE: usize = 1;

/// How long a restore waits for its turn before it is refused.
pub const RESTORE_WAIT: Duration = Duration::from_secs(30);

/// The service's backends.
#[derive(Clone)]
pub struct Backends {
    /// PKCS#8 PEM files.
    pub pkcs8: Arc<KeyStore>,
    /// Memory.
    pub memory: Arc<KeyStore>,
    restores: Arc<Semaphore>,
}

impl Backends {
    /// The two backends.
    pub fn new(pkcs8: Arc<KeyStore>, memory: Arc<KeyStore>) -> Self {
        Backends {
            pkcs8,
            memory,
            restores: Arc::new(Semaphore::new(RESTORES_AT_ONCE)),
        }
    }

    /// A restore's turn, to hold while its archive is read and restored; `None` if none
    /// came within [`RESTORE_WAIT`]. Taken before the archive is read: a restore
    /// waiting for its turn holds no archive.
    pub async fn restore_turn(&self) -> Option<OwnedSemaphorePermit> {
        let turn = Arc::clone(&self.restores).acquire_owned();
        tokio::time::timeout(RESTORE_WAIT, turn).await.ok()?.ok()
    }

    /// The backend called `name`.
    pub fn get(&self, name: &str) -> Result<Arc<KeyStore>, KeyError> {
        match name {
            "pkcs8" => Ok(Arc::clone(&self.pkcs8)),
            "memory" => Ok(Arc::clone(&self.memory)),
            other => Err(KeyError::InvalidParams(format!(
                "unknown backend {other:?}: use pkcs8 or memory"
            ))),
        }
    }

    /// Runs a keystore operation on the blocking pool: keys are files and crypto is CPU.
    /// The request's span and trace go with it, as they do not follow a thread change.
    pub async fn run<T: Send + 'static>(
        &self,
        backend: &str,
        op: impl FnOnce(&KeyStore) -> Result<T, KeyError> + Send + 'static,
    ) -> Result<T, KeyError> {
        let store = self.get(backend)?;
        let trace = TraceContext::current();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _trace = trace.map(TraceContext::enter);
            span.in_scope(|| op(&store))
        })
        .await
        .unwrap_or_else(|e| Err(KeyError::Io(std::io::Error::other(e.to_string()))))
    }
}
