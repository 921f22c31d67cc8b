//! [`ResourceCollector`]: process, runtime and backend gauges, kept true on an interval.
//!
//! ```no_run
//! # async fn run(metrics: keychain_metrics::Metrics) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use keychain_metrics::collector::ResourceCollector;
//!
//! let collector = ResourceCollector::new(metrics)
//!     .interval(Duration::from_secs(15))
//!     .start()?;            // collects at once, then every 15 s, on the current runtime
//! collector.ready().await;  // the first reading is in: serve /metrics from here on
//! // …
//! collector.stop().await;   // or cancel its token, or drop it
//! # Ok(()) }
//! ```
//!
//! Started, it registers in the instance's registry and keeps true:
//! `keychain_server_uptime_seconds` (since the instance was built, computed when
//! scraped),
//! `keychain_memory_sys_bytes` (resident set), `keychain_threads`,
//! `keychain_memory_alloc_bytes` (live heap, only when a
//! [`CountingAllocator`](crate::alloc::CountingAllocator) is the global allocator: no
//! source, no metric), the tokio runtime's `keychain_tokio_workers`,
//! `keychain_tokio_alive_tasks` and `keychain_tokio_global_queue_depth`, the `prometheus`
//! crate's standard `process_*` metrics (CPU seconds, resident and virtual memory, open
//! and max fds, start time, threads), and for each [`BackendStats`] the contract's key,
//! cert and health gauges. Stopped, it unregisters them again. File reads and backend
//! counts run on tokio's blocking pool, so the collector never blocks the runtime.
//!
//! Until its first reading is in, the gauges read zero and the backends have no series:
//! a scrape then would show an alert built on `absent()` a gap at every restart. So a
//! service waits for [`CollectorHandle::ready`] before it serves the endpoint.
//!
//! While recording is disabled ([`Metrics::disable`]) it records nothing: no reading,
//! no backend poll, and the `process_*` metrics show their values from the last scrape
//! before the switch, like every other series.

mod backend;
mod gauges;
mod process;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use backend::{BackendStats, HealthCheck, StatsError};
use gauges::Gauges;

use crate::store::families::series::saturating_i64;
use crate::Metrics;

/// Configures and starts a collector; see the [module docs](self).
pub struct ResourceCollector {
    metrics: Metrics,
    interval: Duration,
    health_timeout: Duration,
    backends: Vec<Arc<dyn BackendStats>>,
    cancel: CancellationToken,
}

/// Why a collector could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CollectorError {
    /// The interval is zero.
    ZeroInterval,
    /// The health-check timeout is zero.
    ZeroHealthTimeout,
    /// Not called from within a tokio runtime.
    NoRuntime,
    /// A collector already runs for this instance (its gauges are registered).
    AlreadyRunning,
}

impl std::fmt::Display for CollectorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CollectorError::ZeroInterval => "collector interval: 0: must be greater than zero",
            CollectorError::ZeroHealthTimeout => {
                "collector health timeout: 0: must be greater than zero"
            }
            CollectorError::NoRuntime => {
                "the collector must be started from within a tokio runtime"
            }
            CollectorError::AlreadyRunning => {
                "a resource collector already runs for this Metrics instance"
            }
        })
    }
}

impl std::error::Error for CollectorError {}

impl ResourceCollector {
    /// A collector for `metrics`: every 30 s, health checks bounded by 5 s.
    pub fn new(metrics: Metrics) -> Self {
        ResourceCollector {
            metrics,
            interval: Duration::from_secs(30),
            health_timeout: Duration::from_secs(5),
            backends: Vec::new(),
            cancel: CancellationToken::new(),
        }
    }

    /// How often to collect (must not be zero).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// How long a backend's health check may take before it counts as unhealthy.
    pub fn health_timeout(mut self, timeout: Duration) -> Self {
        self.health_timeout = timeout;
        self
    }

    /// Polls `backend` each interval.
    pub fn backend(mut self, backend: Arc<dyn BackendStats>) -> Self {
        self.backends.push(backend);
        self
    }

    /// Stops when `token` is cancelled (as well as on [`CollectorHandle::stop`] or drop).
    pub fn cancel_on(mut self, token: &CancellationToken) -> Self {
        self.cancel = token.child_token();
        self
    }

    /// Registers the gauges and starts collecting: at once, then every interval.
    pub fn start(self) -> Result<CollectorHandle, CollectorError> {
        if self.interval.is_zero() {
            return Err(CollectorError::ZeroInterval);
        }
        if self.health_timeout.is_zero() {
            return Err(CollectorError::ZeroHealthTimeout);
        }
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| CollectorError::NoRuntime)?;
        let gauges = Gauges::register(&self.metrics)?;
        let token = self.cancel.clone();
        let state = State {
            metrics: self.metrics,
            gauges,
            backends: self.backends,
            health_timeout: self.health_timeout,
            runtime: runtime.clone(),
        };
        let interval = self.interval;
        let (read, first) = watch::channel(false);
        let task = runtime.spawn(run(state, interval, token.clone(), read));
        Ok(CollectorHandle {
            token,
            task: Some(task),
            first,
        })
    }
}

/// A running collector. Stops on [`CollectorHandle::stop`], when its token is cancelled,
/// or when dropped.
#[derive(Debug)]
pub struct CollectorHandle {
    token: CancellationToken,
    task: Option<JoinHandle<()>>,
    /// Whether the first reading is in.
    first: watch::Receiver<bool>,
}

impl CollectorHandle {
    /// Waits until the first reading (process, runtime, every backend's health and
    /// counts, each bounded by its health timeout) is in the registry, or the collector
    /// has stopped.
    pub async fn ready(&self) {
        let _ = self.first.clone().wait_for(|read| *read).await;
    }

    /// Stops the collector and waits until it has unregistered its gauges.
    pub async fn stop(mut self) {
        self.token.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// The token whose cancellation stops the collector.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Whether the collector's task is still running.
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for CollectorHandle {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

async fn run(
    state: State,
    interval: Duration,
    token: CancellationToken,
    read: watch::Sender<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = token.cancelled() => break,
            _ = ticker.tick() => {
                tokio::select! {
                    biased;
                    _ = token.cancelled() => break,
                    _ = state.collect() => read.send_replace(true),
                };
            }
        }
    }
    state.gauges.unregister(&state.metrics);
}

struct State {
    metrics: Metrics,
    gauges: Gauges,
    backends: Vec<Arc<dyn BackendStats>>,
    health_timeout: Duration,
    runtime: tokio::runtime::Handle,
}

impl State {
    async fn collect(&self) {
        if !self.metrics.is_enabled() {
            return;
        }
        let g = &self.gauges;
        let readings =
            tokio::task::spawn_blocking(|| (process::read(), crate::alloc::live_bytes())).await;
        if let Ok((status, heap)) = readings {
            if let (Some(status), Some(rss), Some(threads)) = (status, &g.rss, &g.threads) {
                rss.set(saturating_i64(status.resident_bytes));
                threads.set(saturating_i64(status.threads));
            }
            if let (Some(bytes), Some(gauge)) = (heap, &g.heap) {
                gauge.set(saturating_i64(bytes));
            }
        }
        let runtime = self.runtime.metrics();
        g.workers.set(saturating_i64(runtime.num_workers() as u64));
        g.alive_tasks
            .set(saturating_i64(runtime.num_alive_tasks() as u64));
        g.global_queue
            .set(saturating_i64(runtime.global_queue_depth() as u64));
        let polls = self.backends.iter().map(|b| self.poll(Arc::clone(b)));
        futures_join_all(polls).await;
    }

    async fn poll(&self, backend: Arc<dyn BackendStats>) {
        let healthy = matches!(
            tokio::time::timeout(self.health_timeout, backend.health_check()).await,
            Ok(Ok(()))
        );
        let name = backend.name().to_owned();
        self.metrics.set_backend_healthy(&name, healthy);
        let counts = tokio::task::spawn_blocking({
            let backend = Arc::clone(&backend);
            move || (backend.key_count(), backend.cert_count())
        })
        .await;
        let (keys, certs) = match counts {
            Ok(counts) => counts,
            Err(panicked) => (
                Err(panicked.to_string().into()),
                Err("count panicked".into()),
            ),
        };
        for (count, set) in [
            (keys, Metrics::set_keys_total as fn(&Metrics, &str, u64)),
            (certs, Metrics::set_certs_total),
        ] {
            match count {
                Ok(n) => set(&self.metrics, &name, n),
                Err(_) => self
                    .gauges
                    .stats_errors
                    .with_label_values(&[name.as_str()])
                    .inc(),
            }
        }
    }
}

/// Runs the polls concurrently, so one slow backend does not delay the others.
async fn futures_join_all<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        pinned.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if pinned.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}
