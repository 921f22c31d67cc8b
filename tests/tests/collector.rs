//! The resource collector: real process readings, backend gauges that follow a test
//! backend, timeouts, stopping, and the interval under tokio's paused time.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use keychain_metrics::collector::{
    BackendStats, CollectorError, HealthCheck, ResourceCollector, StatsError,
};
use keychain_metrics::Metrics;
use tokio_util::sync::CancellationToken;

/// A backend whose numbers the test changes.
#[derive(Default)]
struct TestBackend {
    name: &'static str,
    keys: AtomicU64,
    certs: AtomicU64,
    healthy: AtomicBool,
    hang: AtomicBool,
    fail_counts: AtomicBool,
    polls: AtomicU64,
}

impl TestBackend {
    fn new(name: &'static str) -> Arc<Self> {
        Arc::new(TestBackend {
            name,
            healthy: AtomicBool::new(true),
            ..TestBackend::default()
        })
    }
}

impl BackendStats for TestBackend {
    fn name(&self) -> &str {
        self.name
    }
    fn key_count(&self) -> Result<u64, StatsError> {
        if self.fail_counts.load(Ordering::SeqCst) {
            return Err("token unreachable".into());
        }
        Ok(self.keys.load(Ordering::SeqCst))
    }
    fn cert_count(&self) -> Result<u64, StatsError> {
        Ok(self.certs.load(Ordering::SeqCst))
    }
    fn health_check(&self) -> HealthCheck<'_> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if self.hang.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            if self.healthy.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err("device not ready".into())
            }
        })
    }
}

fn value(m: &Metrics, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    common::value(&m.encode_text(), name, labels)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_and_runtime_gauges_are_true() {
    let m = Metrics::new();
    let collector = ResourceCollector::new(m.clone())
        .interval(Duration::from_millis(50))
        .start()
        .unwrap();
    common::eventually("the first collection", || {
        value(&m, "keychain_threads", &[]).is_some_and(|t| t >= 2.0)
    })
    .await;
    let rss = value(&m, "keychain_memory_sys_bytes", &[]).unwrap();
    assert!(rss > 1_000_000.0, "{rss}");
    assert_eq!(value(&m, "keychain_tokio_workers", &[]), Some(2.0));
    assert!(value(&m, "keychain_tokio_alive_tasks", &[]).unwrap() >= 1.0);
    assert!(value(&m, "keychain_tokio_global_queue_depth", &[]).is_some());
    // The prometheus crate's standard process metrics.
    assert!(value(&m, "process_resident_memory_bytes", &[]).unwrap() > 0.0);
    assert!(value(&m, "process_open_fds", &[]).unwrap() > 0.0);
    assert!(value(&m, "process_max_fds", &[]).unwrap() > 0.0);
    assert!(value(&m, "process_start_time_seconds", &[]).unwrap() > 1.6e9);
    assert!(value(&m, "process_cpu_seconds_total", &[]).is_some());
    // No counting allocator in this binary: no live-heap metric, not a fake 0.
    assert!(!m.encode_text().contains("keychain_memory_alloc_bytes"));
    let first = value(&m, "keychain_server_uptime_seconds", &[]).unwrap();
    common::eventually("uptime to grow", || {
        value(&m, "keychain_server_uptime_seconds", &[]).unwrap() > first + 0.1
    })
    .await;
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_gauges_follow_the_backend() {
    let m = Metrics::new();
    let backend = TestBackend::new("pkcs8");
    backend.keys.store(3, Ordering::SeqCst);
    backend.certs.store(1, Ordering::SeqCst);
    let collector = ResourceCollector::new(m.clone())
        .interval(Duration::from_millis(20))
        .backend(backend.clone())
        .start()
        .unwrap();
    let gauge = |name: &str| value(&m, name, &[("backend", "pkcs8")]);
    common::eventually("3 keys", || gauge("keychain_keys_total") == Some(3.0)).await;
    assert_eq!(gauge("keychain_certs_total"), Some(1.0));
    assert_eq!(gauge("keychain_backend_healthy"), Some(1.0));
    backend.keys.store(2, Ordering::SeqCst);
    backend.healthy.store(false, Ordering::SeqCst);
    common::eventually("2 keys, unhealthy", || {
        gauge("keychain_keys_total") == Some(2.0) && gauge("keychain_backend_healthy") == Some(0.0)
    })
    .await;
    backend.healthy.store(true, Ordering::SeqCst);
    common::eventually("healthy again", || {
        gauge("keychain_backend_healthy") == Some(1.0)
    })
    .await;
    // A count that cannot be read keeps the last value and is counted as an error.
    backend.fail_counts.store(true, Ordering::SeqCst);
    backend.keys.store(99, Ordering::SeqCst);
    common::eventually("a stats error", || {
        value(
            &m,
            "keychain_backend_stats_errors_total",
            &[("backend", "pkcs8")],
        )
        .is_some_and(|n| n >= 1.0)
    })
    .await;
    assert_eq!(gauge("keychain_keys_total"), Some(2.0));
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_health_check_times_out_to_unhealthy() {
    let m = Metrics::new();
    let stuck = TestBackend::new("tpm2");
    stuck.hang.store(true, Ordering::SeqCst);
    stuck.keys.store(5, Ordering::SeqCst);
    let fine = TestBackend::new("memory");
    let collector = ResourceCollector::new(m.clone())
        .interval(Duration::from_millis(20))
        .health_timeout(Duration::from_millis(50))
        .backend(stuck.clone())
        .backend(fine.clone())
        .start()
        .unwrap();
    common::eventually("tpm2 unhealthy", || {
        value(&m, "keychain_backend_healthy", &[("backend", "tpm2")]) == Some(0.0)
    })
    .await;
    assert_eq!(
        value(&m, "keychain_backend_healthy", &[("backend", "memory")]),
        Some(1.0)
    );
    assert_eq!(
        value(&m, "keychain_keys_total", &[("backend", "tpm2")]),
        Some(5.0)
    );
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_means_nothing_is_recorded() {
    let m = Metrics::new();
    let backend = TestBackend::new("pkcs11");
    backend.fail_counts.store(true, Ordering::SeqCst);
    let collector = ResourceCollector::new(m.clone())
        .interval(Duration::from_millis(10))
        .backend(backend.clone())
        .start()
        .unwrap();
    let errors = || {
        value(
            &m,
            "keychain_backend_stats_errors_total",
            &[("backend", "pkcs11")],
        )
        .unwrap_or(0.0)
    };
    common::eventually("two collections", || errors() >= 2.0).await;
    m.disable();
    // Let a collection that had already started finish.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = m.encode_text();
    let polls = backend.polls.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Thirty intervals later: no poll, and not one value changed, the uptime, the
    // thread and tokio gauges, the stats errors and the process metrics included.
    assert_eq!(backend.polls.load(Ordering::SeqCst), polls);
    assert_eq!(m.encode_text(), before);
    assert!(before.contains("process_cpu_seconds_total"), "{before}");

    m.enable();
    let uptime = value(&m, "keychain_server_uptime_seconds", &[]).unwrap();
    let stuck = errors();
    common::eventually("collections to resume", || {
        backend.polls.load(Ordering::SeqCst) > polls
            && errors() > stuck
            && value(&m, "keychain_server_uptime_seconds", &[]).unwrap() > uptime
    })
    .await;
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stops_on_cancel_and_on_drop_and_unregisters() {
    let m = Metrics::new();
    let token = CancellationToken::new();
    let collector = ResourceCollector::new(m.clone())
        .interval(Duration::from_millis(10))
        .cancel_on(&token)
        .start()
        .unwrap();
    common::eventually("running", || {
        m.encode_text().contains("keychain_tokio_workers")
    })
    .await;
    // A second collector on the same instance is refused while the first runs.
    let second = ResourceCollector::new(m.clone()).start().unwrap_err();
    assert_eq!(second, CollectorError::AlreadyRunning);
    token.cancel();
    common::eventually("stopped by the token", || !collector.is_running()).await;
    assert!(!m.encode_text().contains("keychain_tokio_workers"));

    let collector = ResourceCollector::new(m.clone())
        .interval(Duration::from_millis(10))
        .start()
        .unwrap();
    common::eventually("running again", || {
        m.encode_text().contains("keychain_tokio_workers")
    })
    .await;
    drop(collector);
    common::eventually("stopped by the drop", || {
        !m.encode_text().contains("keychain_tokio_workers")
    })
    .await;
    // And restartable.
    let collector = ResourceCollector::new(m.clone()).start().unwrap();
    collector.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_interval_is_honoured() {
    let m = Metrics::new();
    let backend = TestBackend::new("pkcs11");
    let polls = || backend.polls.load(Ordering::SeqCst);
    let collector = ResourceCollector::new(m.clone())
        .interval(Duration::from_secs(10))
        .backend(backend.clone())
        .start()
        .unwrap();
    // Lets the collector run what is due now: blocking-pool reads finish in real time,
    // so this waits (in real time, up to 2 s) for the expected poll count.
    async fn settle_until(what: &str, f: impl Fn() -> bool) {
        for _ in 0..2000 {
            if f() {
                return;
            }
            tokio::task::yield_now().await;
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("{what}");
    }
    settle_until("collects at once", || polls() == 1).await;
    tokio::time::advance(Duration::from_secs(9)).await;
    for _ in 0..100 {
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(polls(), 1, "not before the interval");
    tokio::time::advance(Duration::from_secs(1)).await;
    settle_until("the second collection at 10 s", || polls() == 2).await;
    for expected in 3..=5 {
        tokio::time::advance(Duration::from_secs(10)).await;
        settle_until("one collection per interval", || polls() == expected).await;
    }
    // Nothing extra in between.
    assert_eq!(polls(), 5);
    collector.stop().await;
}

#[test]
fn invalid_settings_are_errors() {
    let no_runtime = ResourceCollector::new(Metrics::new()).start().unwrap_err();
    assert_eq!(
        no_runtime.to_string(),
        "the collector must be started from within a tokio runtime"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let zero = ResourceCollector::new(Metrics::new())
            .interval(Duration::ZERO)
            .start()
            .unwrap_err();
        assert_eq!(zero, CollectorError::ZeroInterval);
        assert_eq!(
            zero.to_string(),
            "collector interval: 0: must be greater than zero"
        );
        let zero = ResourceCollector::new(Metrics::new())
            .health_timeout(Duration::ZERO)
            .start()
            .unwrap_err();
        assert_eq!(zero, CollectorError::ZeroHealthTimeout);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_means_the_first_reading_is_in_and_uptime_is_read_when_scraped() {
    let m = Metrics::new();
    let backend = TestBackend::new("pkcs11");
    backend.keys.store(7, Ordering::SeqCst);
    let collector = ResourceCollector::new(m.clone())
        .interval(Duration::from_secs(3600))
        .backend(backend.clone())
        .start()
        .unwrap();
    collector.ready().await;
    // No waiting beyond ready(): what a scrape right after start-up sees.
    let labels = [("backend", "pkcs11")];
    assert_eq!(value(&m, "keychain_backend_healthy", &labels), Some(1.0));
    assert_eq!(value(&m, "keychain_keys_total", &labels), Some(7.0));
    assert!(value(&m, "keychain_memory_sys_bytes", &[]).is_some_and(|b| b > 0.0));
    // Uptime moves between two scrapes although the next reading is an hour away.
    let first = value(&m, "keychain_server_uptime_seconds", &[]).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = value(&m, "keychain_server_uptime_seconds", &[]).unwrap();
    assert!(second - first >= 1.0, "{first} then {second}");
    assert_eq!(backend.polls.load(Ordering::SeqCst), 1);
    // A stopped collector is ready too: nothing to wait for.
    let handle = ResourceCollector::new(Metrics::new()).start().unwrap();
    handle.token().cancel();
    handle.ready().await;
    collector.stop().await;
}
