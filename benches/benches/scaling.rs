//! Cost as the work grows: series ∈ {300, 3,000, 30,000} × recording threads ∈ {1, 8,
//! 64}, with 256 stripes (`KEYCHAIN_METRICS_STRIPES`, as a 64-core host would have),
//! beside the `prometheus` crate holding the same series. For each point it prints the
//! heap bytes per series (counting allocator) and measures a text scrape.
//!
//! `cargo bench -p keychain-metrics-benches --bench scaling`
//!
//! Series are 15 operations × N backends × 2 families (the status counter, one series
//! per status recorded, and the duration histogram). Every thread records every
//! (operation, backend) once, through the label path, so each thread that touches a
//! series has written it, as tokio workers serving mixed traffic do.

use std::alloc::System;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use keychain_metrics::alloc::{live_bytes, CountingAllocator};
use keychain_metrics::{Metrics, Op, Status, TextFormat};
use keychain_metrics_benches::PromContract;
use prometheus::{Encoder, TextEncoder};

#[global_allocator]
static ALLOCATOR: CountingAllocator<System> = CountingAllocator::new(System);

const SERIES: [usize; 3] = [300, 3_000, 30_000];
const THREADS: [usize; 3] = [1, 8, 64];
const D: Duration = Duration::from_micros(1_500);

fn backends(series: usize) -> Vec<String> {
    (0..series / (Op::ALL.len() * 2))
        .map(|b| format!("backend_{b}"))
        .collect()
}

/// Records every (operation, backend) once on each of `threads` threads.
fn fill(threads: usize, backends: &[String], f: &(dyn Fn(Op, &str) + Sync)) {
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for op in Op::ALL {
                    for b in backends {
                        f(*op, b);
                    }
                }
            });
        }
    });
}

/// Heap bytes `build` leaves behind, per series.
fn bytes_per_series<T>(series: usize, build: impl FnOnce() -> T) -> (T, f64) {
    let before = live_bytes().unwrap_or(0);
    let built = build();
    let after = live_bytes().unwrap_or(0);
    (built, after.saturating_sub(before) as f64 / series as f64)
}

fn grid(c: &mut Criterion) {
    // Before the first series: the stripes of a 64-core host.
    std::env::set_var("KEYCHAIN_METRICS_STRIPES", "256");
    let mut g = c.benchmark_group("scrape_text");
    g.sample_size(10);
    for series in SERIES {
        let names = backends(series);
        for threads in THREADS {
            let (ours, ours_bytes) = bytes_per_series(series, || {
                let m = Metrics::builder()
                    .max_label_values(names.len() + 1)
                    .build()
                    .expect("valid");
                fill(threads, &names, &|op, b| {
                    m.record_operation(op, b, Status::Success, D)
                });
                m
            });
            let (theirs, their_bytes) = bytes_per_series(series, || {
                let p = PromContract::new().expect("valid");
                fill(threads, &names, &|op, b| {
                    p.operations
                        .with_label_values(&[op.as_str(), b, "success"])
                        .inc();
                    p.durations
                        .with_label_values(&[op.as_str(), b])
                        .observe(D.as_secs_f64());
                });
                p
            });
            eprintln!(
                "grid: {series} series, {threads} threads: keychain {ours_bytes:.0} B/series, \
                 prometheus {their_bytes:.0} B/series ({:.2}×)",
                ours_bytes / their_bytes
            );
            let point = format!("{series}_series/{threads}_threads");
            let mut text = String::new();
            g.bench_function(BenchmarkId::new("keychain", &point), |b| {
                b.iter(|| {
                    text.clear();
                    ours.encode_into(TextFormat::Text, &mut text);
                    black_box(text.len())
                })
            });
            let encoder = TextEncoder::new();
            let mut bytes = Vec::new();
            g.bench_function(BenchmarkId::new("prometheus", &point), |b| {
                b.iter(|| {
                    bytes.clear();
                    let families = theirs.registry.gather();
                    let _ = encoder.encode(&families, &mut bytes);
                    black_box(bytes.len())
                })
            });
        }
    }
    g.finish();
}

/// A scrape of 100,000 series, beside the grid's 30,000 on one thread: the time and the
/// bytes per series should stay as they were (linear), the label cap raised to fit.
fn large(c: &mut Criterion) {
    std::env::set_var("KEYCHAIN_METRICS_STRIPES", "256");
    let mut g = c.benchmark_group("scrape_text_large");
    g.sample_size(10);
    let series = 100_000;
    let names = backends(series);
    let (ours, ours_bytes) = bytes_per_series(series, || {
        let m = Metrics::builder()
            .max_label_values(names.len() + 1)
            .build()
            .expect("valid");
        fill(1, &names, &|op, b| {
            m.record_operation(op, b, Status::Success, D)
        });
        m
    });
    let mut text = String::new();
    ours.encode_into(TextFormat::Text, &mut text);
    eprintln!(
        "large: {series} series: keychain {ours_bytes:.0} B/series, {} bytes of text",
        text.len()
    );
    g.bench_function(
        BenchmarkId::new("keychain", "100000_series/1_threads"),
        |b| {
            b.iter(|| {
                text.clear();
                ours.encode_into(TextFormat::Text, &mut text);
                black_box(text.len())
            })
        },
    );
    g.finish();
}

// criterion_group! generates an undocumented `benches` function.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group! {
        name = benches;
        config = keychain_metrics_benches::criterion(2);
        targets = grid, large
    }
}
criterion_main!(group::benches);
