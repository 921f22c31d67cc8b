//! Recording costs, keychain-metrics beside the `prometheus` crate doing the same work.
//!
//! `cargo bench -p keychain-metrics-benches --bench recording`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use keychain_metrics::{Metrics, NativeHistogram, Op, Protocol, Status};
use keychain_metrics_benches::{two_threads, PromContract};

const D: Duration = Duration::from_micros(1_500);

/// An operation by label values, ours.
#[inline]
fn ours_by_labels(ours: &Metrics) {
    ours.record_operation(
        black_box(Op::Sign),
        black_box("pkcs8"),
        Status::Success,
        black_box(D),
    )
}

/// An operation by label values, the `prometheus` crate's: counter and histogram.
#[inline]
fn theirs_by_labels(theirs: &PromContract) {
    theirs
        .operations
        .with_label_values(&[black_box("sign"), black_box("pkcs8"), "success"])
        .inc();
    theirs
        .durations
        .with_label_values(&[black_box("sign"), black_box("pkcs8")])
        .observe(black_box(D).as_secs_f64());
}

/// An error by label values, ours.
#[inline]
fn ours_error_by_labels(ours: &Metrics) {
    ours.record_error(
        black_box(Op::Sign),
        black_box("pkcs8"),
        black_box("timeout"),
    )
}

fn record_operation(c: &mut Criterion) {
    let ours = Metrics::new();
    let theirs = PromContract::new().expect("valid metrics");
    let mut g = c.benchmark_group("record_operation");
    g.bench_function("keychain/by_labels", |b| b.iter(|| ours_by_labels(&ours)));
    g.bench_function("prometheus/by_labels", |b| {
        b.iter(|| theirs_by_labels(&theirs))
    });
    let handle = ours.operation(Op::Sign, "pkcs8");
    g.bench_function("keychain/handle", |b| {
        b.iter(|| handle.record(Status::Success, black_box(D)))
    });
    // The same with native buckets beside the classic ones: what they cost.
    let native = Metrics::builder()
        .operation_native(Some(NativeHistogram::default()))
        .build()
        .expect("valid");
    let native = native.operation(Op::Sign, "pkcs8");
    g.bench_function("keychain/handle_native", |b| {
        b.iter(|| native.record(Status::Success, black_box(D)))
    });
    // Durations that move between buckets (100 µs to 200 ms), without and with.
    let varied: Vec<Duration> = (0..64u64)
        .map(|i| Duration::from_micros(100 + i * i * i * 3 / 4))
        .collect();
    for (name, h) in [
        ("keychain/handle_varied", &handle),
        ("keychain/handle_varied_native", &native),
    ] {
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) & 63;
                h.record(Status::Success, black_box(varied[i]))
            })
        });
    }
    // A service's own operation: the same series shape, so the same cost.
    let user = ours.operation("unwrap_key", "pkcs8");
    g.bench_function("keychain/handle_user_op", |b| {
        b.iter(|| user.record(Status::Success, black_box(D)))
    });
    g.bench_function("keychain/by_labels_user_op", |b| {
        b.iter(|| {
            ours.record_operation(
                black_box("unwrap_key"),
                black_box("pkcs8"),
                Status::Success,
                black_box(D),
            )
        })
    });
    let counter = theirs
        .operations
        .with_label_values(&["sign", "pkcs8", "success"]);
    let histogram = theirs.durations.with_label_values(&["sign", "pkcs8"]);
    g.bench_function("prometheus/handle", |b| {
        b.iter(|| {
            counter.inc();
            histogram.observe(black_box(D).as_secs_f64());
        })
    });
    g.finish();
}

/// What exemplars cost: outside a trace (the price every user pays once they are on) and
/// inside one (a clock read, the slot's lock and a copy of the ids).
fn exemplars(c: &mut Criterion) {
    use keychain_metrics::trace::TraceContext;

    let plain = Metrics::new();
    let kept = Metrics::builder().exemplars(true).build().expect("valid");
    let plain_handle = plain.operation(Op::Sign, "pkcs8");
    let kept_handle = kept.operation(Op::Sign, "pkcs8");
    let trace =
        TraceContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .expect("valid");
    let mut g = c.benchmark_group("exemplars");
    g.bench_function("off/no_trace", |b| {
        b.iter(|| plain_handle.record(Status::Success, black_box(D)))
    });
    g.bench_function("on/no_trace", |b| {
        b.iter(|| kept_handle.record(Status::Success, black_box(D)))
    });
    {
        let _entered = trace.enter();
        g.bench_function("off/in_trace", |b| {
            b.iter(|| plain_handle.record(Status::Success, black_box(D)))
        });
        g.bench_function("on/in_trace", |b| {
            b.iter(|| kept_handle.record(Status::Success, black_box(D)))
        });
        g.bench_function("on/in_trace_error", |b| {
            b.iter(|| kept_handle.record_error(black_box("timeout")))
        });
    }
    g.bench_function("enter_and_leave", |b| {
        b.iter(|| drop(black_box(trace).enter()))
    });
    g.bench_function("parse_traceparent", |b| {
        b.iter(|| {
            TraceContext::from_traceparent(black_box(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ))
        })
    });
    g.finish();
}

fn record_error(c: &mut Criterion) {
    let ours = Metrics::new();
    let theirs = PromContract::new().expect("valid metrics");
    let mut g = c.benchmark_group("record_error");
    g.bench_function("keychain/by_labels", |b| {
        b.iter(|| ours_error_by_labels(&ours))
    });
    let handle = ours.operation(Op::Sign, "pkcs8");
    g.bench_function("keychain/handle", |b| {
        b.iter(|| handle.record_error(black_box("timeout")))
    });
    g.bench_function("prometheus/by_labels", |b| {
        b.iter(|| {
            theirs
                .errors
                .with_label_values(&[black_box("sign"), black_box("pkcs8"), black_box("timeout")])
                .inc()
        })
    });
    let counter = theirs
        .errors
        .with_label_values(&["sign", "pkcs8", "timeout"]);
    g.bench_function("prometheus/handle", |b| b.iter(|| counter.inc()));
    g.finish();
}

fn connection_guard(c: &mut Criterion) {
    let ours = Metrics::new();
    let theirs = PromContract::new().expect("valid metrics");
    let mut g = c.benchmark_group("connection_guard");
    g.bench_function("keychain/borrowed", |b| {
        b.iter(|| drop(ours.track_connection(black_box(Protocol::Http))))
    });
    g.bench_function("keychain/owned", |b| {
        b.iter(|| drop(ours.track_connection_owned(black_box(Protocol::Http))))
    });
    let gauge = theirs.active.with_label_values(&["http"]);
    g.bench_function("prometheus/inc_dec", |b| {
        b.iter(|| {
            gauge.inc();
            black_box(&gauge).dec();
        })
    });
    g.finish();
}

fn record_http_request(c: &mut Criterion) {
    let ours = Metrics::new();
    let theirs = PromContract::new().expect("valid metrics");
    let mut g = c.benchmark_group("record_http_request");
    g.bench_function("keychain", |b| {
        b.iter(|| ours.record_http_request(black_box("GET"), black_box(200), black_box(D)))
    });
    g.bench_function("prometheus", |b| {
        b.iter(|| {
            let code = black_box(200u16).to_string();
            theirs
                .http_requests
                .with_label_values(&[black_box("GET"), &code])
                .inc();
            theirs
                .http_durations
                .with_label_values(&[black_box("GET")])
                .observe(black_box(D).as_secs_f64());
        })
    });
    g.finish();
}

/// The counting allocator's cost: an allocation and its free of 64 bytes, through the
/// system allocator directly and through the wrapper.
fn allocator(c: &mut Criterion) {
    use keychain_metrics::alloc::CountingAllocator;
    use std::alloc::{GlobalAlloc, Layout, System};
    static COUNTING: CountingAllocator<System> = CountingAllocator::new(System);
    let layout = Layout::from_size_align(64, 8).unwrap_or(Layout::new::<[u64; 8]>());
    let mut g = c.benchmark_group("allocator");
    g.bench_function("system", |b| {
        b.iter(|| {
            // SAFETY: a non-zero layout, freed with the same layout.
            unsafe {
                let p = System.alloc(black_box(layout));
                System.dealloc(black_box(p), layout);
            }
        })
    });
    g.bench_function("counting", |b| {
        b.iter(|| {
            // SAFETY: as above.
            unsafe {
                let p = COUNTING.alloc(black_box(layout));
                COUNTING.dealloc(black_box(p), layout);
            }
        })
    });
    g.finish();
}

/// Two threads recording into the same series: time per operation per thread.
fn contended(c: &mut Criterion) {
    let ours = Metrics::new();
    let theirs = PromContract::new().expect("valid metrics");
    let handle = ours.operation(Op::Sign, "pkcs8");
    let counter = theirs
        .operations
        .with_label_values(&["sign", "pkcs8", "success"]);
    let histogram = theirs.durations.with_label_values(&["sign", "pkcs8"]);
    let mut g = c.benchmark_group("two_threads_one_series");
    g.bench_function("keychain/handle", |b| {
        b.iter_custom(|iters| two_threads(iters, || handle.record(Status::Success, black_box(D))))
    });
    g.bench_function("prometheus/handle", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                counter.inc();
                histogram.observe(black_box(D).as_secs_f64());
            })
        })
    });
    // The by-label paths: a lookup of the series on every call.
    g.bench_function("keychain/by_labels", |b| {
        b.iter_custom(|iters| two_threads(iters, || ours_by_labels(&ours)))
    });
    g.bench_function("prometheus/by_labels", |b| {
        b.iter_custom(|iters| two_threads(iters, || theirs_by_labels(&theirs)))
    });
    g.bench_function("keychain/error_by_labels", |b| {
        b.iter_custom(|iters| two_threads(iters, || ours_error_by_labels(&ours)))
    });
    g.finish();
}

// criterion_group! generates an undocumented `benches` function.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group! {
        name = benches;
        config = keychain_metrics_benches::criterion(3);
        targets = record_operation, exemplars, record_error, connection_guard, record_http_request, contended, allocator
    }
}
criterion_main!(group::benches);
