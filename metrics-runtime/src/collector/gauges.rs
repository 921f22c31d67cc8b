//! The metrics a running collector owns in the registry: its gauges, registered as one
//! bundle, and the collectors that read at scrape time (uptime, the process metrics).

use std::sync::Arc;

use prometheus::core::Collector;
use prometheus::{Gauge, IntCounterVec, IntGauge, Opts};

use crate::collector::{process, CollectorError};
use crate::Metrics;

/// The gauges a running collector owns in the registry.
pub(super) struct Gauges {
    pub(super) rss: Option<IntGauge>,
    pub(super) threads: Option<IntGauge>,
    pub(super) heap: Option<IntGauge>,
    pub(super) workers: IntGauge,
    pub(super) alive_tasks: IntGauge,
    pub(super) global_queue: IntGauge,
    pub(super) stats_errors: IntCounterVec,
    /// Everything above, registered as one collector: registering and unregistering
    /// are single steps, so a collector restarted right after a drop never finds half
    /// of its predecessor's metrics still there.
    pub(super) bundle: Arc<Bundle>,
}

/// Several collectors as one.
pub(super) struct Bundle(Vec<Box<dyn Collector>>);

/// A handle on the bundle for the registry, which wants an owned collector to register
/// and one with the same descriptors to unregister.
struct Shared(Arc<Bundle>);

impl Collector for Shared {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.0 .0.iter().flat_map(|c| c.desc()).collect()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.0 .0.iter().flat_map(|c| c.collect()).collect()
    }
}

impl Gauges {
    pub(super) fn register(metrics: &Metrics) -> Result<Self, CollectorError> {
        let ns = &metrics.store.namespace;
        let gauge = |name: &str, help: &str| -> Result<IntGauge, CollectorError> {
            IntGauge::with_opts(opts(metrics, &format!("{ns}_{name}"), help))
                .map_err(|_| CollectorError::AlreadyRunning)
        };
        let linux = process::read().is_some();
        let uptime = Gauge::with_opts(opts(
            metrics,
            &format!("{ns}_server_uptime_seconds"),
            "Seconds since the metrics instance was built at server start.",
        ))
        .map_err(|_| CollectorError::AlreadyRunning)?;
        let rss = linux
            .then(|| {
                gauge(
                    "memory_sys_bytes",
                    "Resident memory obtained from the OS, in bytes.",
                )
            })
            .transpose()?;
        let threads = linux
            .then(|| gauge("threads", "OS threads of the process."))
            .transpose()?;
        let heap = crate::alloc::live_bytes()
            .map(|_| {
                gauge(
                    "memory_alloc_bytes",
                    "Live heap bytes, counted by the global allocator.",
                )
            })
            .transpose()?;
        let workers = gauge("tokio_workers", "Worker threads of the tokio runtime.")?;
        let alive_tasks = gauge("tokio_alive_tasks", "Tasks alive in the tokio runtime.")?;
        let global_queue = gauge(
            "tokio_global_queue_depth",
            "Tasks waiting in the tokio runtime's global queue.",
        )?;
        let stats_errors = IntCounterVec::new(
            opts(
                metrics,
                &format!("{ns}_backend_stats_errors_total"),
                "Backend key or certificate counts that could not be read; the gauges keep their last value.",
            ),
            &["backend"],
        )
        .map_err(|_| CollectorError::AlreadyRunning)?;
        let mut all: Vec<Box<dyn Collector>> = vec![
            Box::new(Uptime {
                gauge: uptime,
                metrics: Arc::downgrade(&metrics.store),
            }),
            Box::new(workers.clone()),
            Box::new(alive_tasks.clone()),
            Box::new(global_queue.clone()),
            Box::new(stats_errors.clone()),
        ];
        all.extend(
            [&rss, &threads, &heap]
                .into_iter()
                .flatten()
                .map(|g| Box::new(g.clone()) as Box<dyn Collector>),
        );
        #[cfg(target_os = "linux")]
        all.push(Box::new(WhileEnabled {
            inner: prometheus::process_collector::ProcessCollector::for_self(),
            metrics: Arc::downgrade(&metrics.store),
            last: std::sync::Mutex::new(Vec::new()),
        }));
        let bundle = Arc::new(Bundle(all));
        metrics
            .registry()
            .register(Box::new(Shared(Arc::clone(&bundle))))
            .map_err(|_| CollectorError::AlreadyRunning)?;
        Ok(Gauges {
            rss,
            threads,
            heap,
            workers,
            alive_tasks,
            global_queue,
            stats_errors,
            bundle,
        })
    }

    pub(super) fn unregister(&self, metrics: &Metrics) {
        let _ = metrics
            .registry()
            .unregister(Box::new(Shared(Arc::clone(&self.bundle))));
    }
}

/// `…_server_uptime_seconds`, computed when scraped: set on the interval, it would lag
/// by up to one (30 s by default). Held still while recording is disabled.
struct Uptime {
    gauge: Gauge,
    metrics: std::sync::Weak<crate::store::Store>,
}

impl Collector for Uptime {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        if let Some(store) = self.metrics.upgrade().filter(|m| m.enabled()) {
            self.gauge.set(store.created.elapsed().as_secs_f64());
        }
        self.gauge.collect()
    }
}

/// A collector that reads at scrape time (the process metrics), held still while
/// recording is disabled: it then returns what it last returned while enabled. The
/// reference is weak because the registry that holds this lives in the instance.
struct WhileEnabled<C> {
    inner: C,
    metrics: std::sync::Weak<crate::store::Store>,
    last: std::sync::Mutex<Vec<prometheus::proto::MetricFamily>>,
}

impl<C: Collector> Collector for WhileEnabled<C> {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.inner.desc()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let enabled = self.metrics.upgrade().is_some_and(|m| m.enabled());
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if enabled {
            *last = self.inner.collect();
        }
        last.clone()
    }
}

fn opts(metrics: &Metrics, name: &str, help: &str) -> Opts {
    Opts::new(name, help).const_labels(metrics.store.const_labels.iter().cloned().collect())
}
