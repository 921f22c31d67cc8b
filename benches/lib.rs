//! Shared set-up of the benchmarks: the same metrics built with keychain-metrics and
//! with the `prometheus` crate directly, so each bench compares like with like.

use std::time::{Duration, Instant};

use keychain_metrics::{Metrics, Op, Status};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

/// The contract's operation buckets.
pub const OPERATION_BUCKETS: [f64; 12] = keychain_metrics::OPERATION_BUCKETS;

/// The contract's operation metrics built on the `prometheus` crate, as the Go package
/// builds them on client_golang.
pub struct PromContract {
    /// The registry holding them.
    pub registry: Registry,
    /// `keychain_operations_total{operation,backend,status}`.
    pub operations: IntCounterVec,
    /// `keychain_operation_duration_seconds{operation,backend}`.
    pub durations: HistogramVec,
    /// `keychain_errors_total{operation,backend,error_type}`.
    pub errors: IntCounterVec,
    /// `keychain_http_requests_total{method,status_code}`.
    pub http_requests: IntCounterVec,
    /// `keychain_http_request_duration_seconds{method}`.
    pub http_durations: HistogramVec,
    /// `keychain_active_connections{protocol}`.
    pub active: IntGaugeVec,
}

impl PromContract {
    /// Builds and registers the metrics.
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let operations = IntCounterVec::new(
            Opts::new("keychain_operations_total", "Keychain operations."),
            &["operation", "backend", "status"],
        )?;
        let durations = HistogramVec::new(
            HistogramOpts::new("keychain_operation_duration_seconds", "Duration.")
                .buckets(OPERATION_BUCKETS.to_vec()),
            &["operation", "backend"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new("keychain_errors_total", "Errors."),
            &["operation", "backend", "error_type"],
        )?;
        let http_requests = IntCounterVec::new(
            Opts::new("keychain_http_requests_total", "HTTP requests."),
            &["method", "status_code"],
        )?;
        let http_durations = HistogramVec::new(
            HistogramOpts::new("keychain_http_request_duration_seconds", "HTTP duration."),
            &["method"],
        )?;
        let active = IntGaugeVec::new(
            Opts::new("keychain_active_connections", "In flight."),
            &["protocol"],
        )?;
        registry.register(Box::new(operations.clone()))?;
        registry.register(Box::new(durations.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_durations.clone()))?;
        registry.register(Box::new(active.clone()))?;
        Ok(PromContract {
            registry,
            operations,
            durations,
            errors,
            http_requests,
            http_durations,
            active,
        })
    }
}

/// Backends used by the encoding data sets.
pub const BACKENDS: [&str; 4] = ["pkcs8", "pkcs11", "tpm2", "awskms"];

/// The 180-series set: every operation × 4 backends × 3 statuses of the operation
/// counter (180 counter series), plus the 60 duration histograms they imply.
pub fn fill_contract(ours: &Metrics, theirs: &PromContract) {
    for (i, op) in Op::ALL.iter().enumerate() {
        for backend in BACKENDS {
            for status in Status::ALL {
                let d = Duration::from_micros(137 * (i as u64 + 1));
                ours.record_operation(*op, backend, *status, d);
                theirs
                    .operations
                    .with_label_values(&[op.as_str(), backend, status.as_str()])
                    .inc();
                theirs
                    .durations
                    .with_label_values(&[op.as_str(), backend])
                    .observe(d.as_secs_f64());
            }
        }
    }
}

/// The 1,000-series set: 10 operations × 4 backends × 25 error types of the error counter.
pub fn fill_errors(ours: &Metrics, theirs: &PromContract) {
    for op in &Op::ALL[..10] {
        for backend in BACKENDS {
            for e in 0..25 {
                let error_type = format!("error_{e}");
                ours.record_error(*op, backend, &error_type);
                theirs
                    .errors
                    .with_label_values(&[op.as_str(), backend, &error_type])
                    .inc();
            }
        }
    }
}

/// The criterion settings every bench here uses: a 1 s warm-up, then `seconds` of
/// measurement per function.
pub fn criterion(seconds: u64) -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(seconds))
}

/// Runs `f` `iters` times on each of two threads started together; returns the longer
/// thread's time, so the figure is the per-thread cost per call.
pub fn two_threads<R>(iters: u64, f: impl Fn() -> R + Sync) -> Duration {
    let barrier = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        let run = || {
            barrier.wait();
            let start = Instant::now();
            for _ in 0..iters {
                std::hint::black_box(f());
            }
            start.elapsed()
        };
        let (a, b) = (s.spawn(run), s.spawn(run));
        match (a.join(), b.join()) {
            (Ok(a), Ok(b)) => a.max(b),
            _ => Duration::ZERO,
        }
    })
}
