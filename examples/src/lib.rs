//! The example keychain service: a real keystore with two backends, a REST and a gRPC
//! API over it, all instrumented with keychain-metrics. The binaries are
//! `keychain-server` and `keychain-load`.

pub mod certs;
pub mod config;
pub mod grpc;
pub mod keystore;
pub mod memory;
pub mod rest;
pub mod telemetry;

use std::sync::Arc;

use keychain_metrics::trace::TraceContext;
use keystore::{KeyError, KeyStore};

/// The generated gRPC code.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    tonic::include_proto!("keychain.v1");
}

/// The service's backends.
#[derive(Clone)]
pub struct Backends {
    /// PKCS#8 PEM files.
    pub pkcs8: Arc<KeyStore>,
    /// Memory.
    pub memory: Arc<KeyStore>,
}

impl Backends {
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
