//! Pushing with OTLP (feature `otlp`): [`Metrics::push_otlp`] starts an exporter that
//! sends every family of the instance (the contract's and your registry's) to an
//! OpenTelemetry collector, or to Prometheus' OTLP receiver, on an interval, while
//! `/metrics` keeps serving the same store.
//!
//! ```no_run
//! use std::time::Duration;
//! use keychain_metrics::config::OtlpConfig;
//! use keychain_metrics::Metrics;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let metrics = Metrics::new();
//! let config = OtlpConfig::default()
//!     .endpoint("http://collector:4318")
//!     .interval(Duration::from_secs(15));
//! let exporter = metrics.push_otlp(&config)?;
//! // … serve …
//! exporter.shutdown().await; // a last export, bounded by the timeout
//! # Ok(())
//! # }
//! ```
//!
//! One export is in flight at a time, and it holds one request body. An attempt that
//! fails with a retryable answer (HTTP 429, 502, 503, 504; gRPC `UNAVAILABLE`,
//! `RESOURCE_EXHAUSTED` and the other codes the specification lists; no answer within
//! the timeout) is retried with a doubling backoff from one second, or after the
//! `Retry-After` the collector gave, until the next export is due. In delta
//! temporality, an export that never got through is folded into the next. Reading the
//! store is what a scrape does: recording pays nothing for the push.

mod tls;
mod transport;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::{ConfigError, OtlpConfig, Push};
use crate::exposition::otlp::{encode, Deltas, Request};
use crate::facade::Metrics;
use crate::store::Store;
use transport::{Outcome, Transport};

/// The first wait before a retry; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A running exporter. [`OtlpExporter::shutdown`] makes a last export and stops it;
/// dropping it stops it without one.
#[derive(Debug)]
pub struct OtlpExporter {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    counts: Arc<Counts>,
}

/// How the exports went so far.
#[derive(Debug, Default)]
struct Counts {
    accepted: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
}

/// How an exporter's exports went, from [`OtlpExporter::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct OtlpStats {
    /// Exports the collector took.
    pub accepted: u64,
    /// Exports given up (refused, or still failing when the next was due); in delta
    /// temporality their changes went with the next one.
    pub failed: u64,
    /// Attempts repeated after a retryable failure.
    pub retries: u64,
}

impl Metrics {
    /// Starts pushing this instance to an OTLP collector, as `config` and the `OTEL_*`
    /// environment variables say (see [`OtlpConfig`]). Call it within a Tokio runtime.
    ///
    /// # Errors
    ///
    /// A setting or variable that is invalid, or a TLS file that cannot be used, named
    /// in the error; or no Tokio runtime.
    pub fn push_otlp(&self, config: &OtlpConfig) -> Result<OtlpExporter, ConfigError> {
        let push = config.resolve(&|name| std::env::var(name).ok())?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ConfigError::Field {
            field: "metrics.otlp".into(),
            message: "push_otlp needs a Tokio runtime: call it from within one".into(),
        })?;
        let transport = Transport::new(push.clone())?;
        let (stop, stopped) = oneshot::channel();
        let counts = Arc::new(Counts::default());
        let exporter = Exporter {
            store: Arc::clone(&self.store),
            push,
            transport,
            deltas: Deltas::default(),
            body: Vec::new(),
            counts: Arc::clone(&counts),
        };
        let task = runtime.spawn(exporter.run(stopped));
        Ok(OtlpExporter {
            stop: Some(stop),
            task: Some(task),
            counts,
        })
    }
}

impl Metrics {
    /// Writes everything this instance holds as one cumulative OTLP
    /// `ExportMetricsServiceRequest` (protobuf) into `out`, cleared first: for a transport
    /// of your own. `resource` gives the resource attributes, e.g. `service.name`.
    ///
    /// ```
    /// use keychain_metrics::{Metrics, Op, Status};
    ///
    /// let metrics = Metrics::new();
    /// metrics.record_operation(Op::Sign, "tpm2", Status::Success, std::time::Duration::from_millis(2));
    /// let mut request = Vec::new();
    /// metrics.encode_otlp(&[("service.name".into(), "kms".into())], &mut request);
    /// assert!(request.windows(19).any(|w| w == b"keychain_operations"));
    /// ```
    pub fn encode_otlp(&self, resource: &[(String, String)], out: &mut Vec<u8>) {
        let request = Request {
            resource,
            temporality: crate::config::Temporality::Cumulative,
        };
        encode(&self.store, &request, &mut Deltas::default(), out);
    }
}

impl OtlpExporter {
    /// Makes a last export (within the configured timeout, retries included) and stops.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// How the exports went so far.
    pub fn stats(&self) -> OtlpStats {
        OtlpStats {
            accepted: self.counts.accepted.load(Ordering::Relaxed),
            failed: self.counts.failed.load(Ordering::Relaxed),
            retries: self.counts.retries.load(Ordering::Relaxed),
        }
    }
}

impl Drop for OtlpExporter {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The exporter's task and what it keeps between exports.
struct Exporter {
    store: Arc<Store>,
    push: Push,
    transport: Transport,
    deltas: Deltas,
    body: Vec<u8>,
    counts: Arc<Counts>,
}

impl Exporter {
    async fn run(mut self, mut stopped: oneshot::Receiver<()>) {
        let interval = self.push.interval;
        let mut due = Instant::now() + interval;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = &mut stopped => break,
            }
            due = (due + interval).max(Instant::now());
            if !self.export(due, Some(&mut stopped)).await {
                break;
            }
        }
        // The last export: all of it, retries included, within one timeout.
        let deadline = Instant::now() + self.push.timeout;
        let _ = tokio::time::timeout_at(deadline, self.export(deadline, None)).await;
    }

    /// One export, retried until `deadline`. Returns `false` if stopped meanwhile.
    async fn export(
        &mut self,
        deadline: Instant,
        mut stopped: Option<&mut oneshot::Receiver<()>>,
    ) -> bool {
        let request = Request {
            resource: &self.push.resource,
            temporality: self.push.temporality,
        };
        encode(&self.store, &request, &mut self.deltas, &mut self.body);
        let prepared = match self.transport.prepare(&self.body) {
            Ok(prepared) => prepared,
            Err(reason) => {
                eprintln!(
                    "keychain-metrics: OTLP export to {} not sent: {reason}",
                    self.push.url
                );
                self.deltas.abandon();
                self.counts.failed.fetch_add(1, Ordering::Relaxed);
                return true;
            }
        };
        let mut backoff = FIRST_BACKOFF;
        let mut running = true;
        let accepted = loop {
            match self.transport.send(&prepared).await {
                Outcome::Accepted => break true,
                Outcome::Refused(reason) => {
                    eprintln!(
                        "keychain-metrics: OTLP export to {} refused: {reason}",
                        self.push.url
                    );
                    break false;
                }
                Outcome::Retry(after, reason) => {
                    let wait = after.unwrap_or(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    if Instant::now() + wait >= deadline {
                        eprintln!(
                            "keychain-metrics: OTLP export to {} failed: {reason}",
                            self.push.url
                        );
                        break false;
                    }
                    self.counts.retries.fetch_add(1, Ordering::Relaxed);
                    match stopped.as_deref_mut() {
                        Some(stop) => tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = stop => { running = false; break false; }
                        },
                        None => tokio::time::sleep(wait).await,
                    }
                }
            }
        };
        if accepted {
            self.deltas.commit();
            self.counts.accepted.fetch_add(1, Ordering::Relaxed);
        } else {
            self.deltas.abandon();
            self.counts.failed.fetch_add(1, Ordering::Relaxed);
        }
        running
    }
}
