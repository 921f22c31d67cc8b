//! The whole overhead of `#[instrument_op]` (clock reads included) beside autometrics'
//! `#[autometrics]` on the same empty functions, in the same run.
//!
//! `cargo bench -p keychain-metrics-benches --bench macros`

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};

use autometrics::autometrics;
use criterion::{criterion_group, criterion_main, Criterion};
use keychain_metrics::{instrument_op, Metrics};
use keychain_metrics_benches::two_threads;

#[inline(never)]
fn plain_sync(x: u64) -> u64 {
    black_box(x)
}

#[inline(never)]
#[instrument_op(Sign, backend = "pkcs8")]
fn instrumented_sync(x: u64) -> u64 {
    black_box(x)
}

#[inline(never)]
#[instrument_op("unwrap_key", backend = "pkcs8")]
fn instrumented_user_op(x: u64) -> u64 {
    black_box(x)
}

/// An instance of its own, as a component holding injected metrics would have.
static INJECTED: LazyLock<Metrics> = LazyLock::new(Metrics::new);

#[inline(never)]
#[instrument_op(Sign, backend = "pkcs8", metrics = *INJECTED)]
fn instrumented_injected(x: u64) -> u64 {
    black_box(x)
}

/// A component that holds its instance, the usual shape of `metrics = self.metrics`.
struct Component {
    metrics: Metrics,
}

impl Component {
    #[inline(never)]
    #[instrument_op(Sign, backend = "pkcs8", metrics = self.metrics)]
    fn sign(&self, x: u64) -> u64 {
        black_box(x)
    }
}

#[inline(never)]
#[autometrics]
fn autometrics_sync(x: u64) -> u64 {
    black_box(x)
}

#[inline(never)]
async fn plain_async(x: u64) -> u64 {
    black_box(x)
}

#[inline(never)]
#[instrument_op(Sign, backend = "pkcs8")]
async fn instrumented_async(x: u64) -> u64 {
    black_box(x)
}

#[inline(never)]
#[autometrics]
async fn autometrics_async(x: u64) -> u64 {
    black_box(x)
}

#[inline(never)]
#[instrument_op(Sign, backend = "pkcs8")]
fn instrumented_result(x: u64) -> Result<u64, std::io::Error> {
    Ok(black_box(x))
}

#[inline(never)]
#[autometrics]
fn autometrics_result(x: u64) -> Result<u64, std::io::Error> {
    Ok(black_box(x))
}

/// Polls a future that completes on its first poll.
fn run<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("the benchmarked functions never wait"),
    }
}

fn sync_fns(c: &mut Criterion) {
    let mut g = c.benchmark_group("macro/sync");
    g.bench_function("plain", |b| b.iter(|| plain_sync(black_box(1))));
    g.bench_function("instrument_op", |b| {
        b.iter(|| instrumented_sync(black_box(1)))
    });
    g.bench_function("instrument_op/user_op", |b| {
        b.iter(|| instrumented_user_op(black_box(1)))
    });
    g.bench_function("instrument_op/injected", |b| {
        b.iter(|| instrumented_injected(black_box(1)))
    });
    let component = Component {
        metrics: Metrics::new(),
    };
    g.bench_function("instrument_op/self_metrics", |b| {
        b.iter(|| component.sign(black_box(1)))
    });
    g.bench_function("autometrics", |b| b.iter(|| autometrics_sync(black_box(1))));
    g.bench_function("instrument_op/result", |b| {
        b.iter(|| instrumented_result(black_box(1)))
    });
    g.bench_function("autometrics/result", |b| {
        b.iter(|| autometrics_result(black_box(1)))
    });
    g.finish();
}

/// The attribute on two threads calling the same function at once: time per call per
/// thread.
fn on_two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("macro/two_threads");
    g.bench_function("instrument_op", |b| {
        b.iter_custom(|iters| two_threads(iters, || instrumented_sync(black_box(1))))
    });
    let component = Component {
        metrics: Metrics::new(),
    };
    g.bench_function("instrument_op/self_metrics", |b| {
        b.iter_custom(|iters| two_threads(iters, || component.sign(black_box(1))))
    });
    g.finish();
}

fn async_fns(c: &mut Criterion) {
    let mut g = c.benchmark_group("macro/async");
    g.bench_function("plain", |b| b.iter(|| run(plain_async(black_box(1)))));
    g.bench_function("instrument_op", |b| {
        b.iter(|| run(instrumented_async(black_box(1))))
    });
    g.bench_function("autometrics", |b| {
        b.iter(|| run(autometrics_async(black_box(1))))
    });
    g.finish();
}

fn disabled(c: &mut Criterion) {
    let mut g = c.benchmark_group("macro/disabled");
    Metrics::global().disable();
    g.bench_function("instrument_op/sync", |b| {
        b.iter(|| instrumented_sync(black_box(1)))
    });
    g.bench_function("instrument_op/async", |b| {
        b.iter(|| run(instrumented_async(black_box(1))))
    });
    Metrics::global().enable();
    g.finish();
}

// criterion_group! generates an undocumented `benches` function.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group! {
        name = benches;
        config = keychain_metrics_benches::criterion(3);
        targets = sync_fns, on_two_threads, async_fns, disabled
    }
}
criterion_main!(group::benches);
