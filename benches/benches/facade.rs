//! The `metrics` facade: the same `counter!` and `histogram!` calls recorded by our
//! recorder and by metrics-exporter-prometheus, side by side in one run.
//!
//! `cargo bench -p keychain-metrics-benches --bench facade`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use keychain_metrics::{Metrics, Op, Status};
use keychain_metrics_benches::two_threads;
use metrics::{counter, histogram, with_local_recorder, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};

fn theirs() -> PrometheusRecorder {
    PrometheusBuilder::new().build_recorder()
}

/// Both recorders, named as the benchmark ids spell them.
fn both() -> [(&'static str, Box<dyn Recorder + Sync>); 2] {
    [
        ("keychain", Box::new(Metrics::new().recorder())),
        ("exporter", Box::new(theirs())),
    ]
}

fn counter_handle(c: &mut Criterion) {
    let mut g = c.benchmark_group("facade_counter");
    for (name, recorder) in both() {
        let handle = with_local_recorder(&*recorder, || counter!("requests", "k" => "v"));
        g.bench_function(format!("{name}/handle"), |b| {
            b.iter(|| handle.increment(black_box(1)))
        });
        // The macro's lookup on every call, as most code writes it.
        g.bench_function(format!("{name}/macro"), |b| {
            with_local_recorder(&*recorder, || {
                b.iter(|| counter!("requests", "k" => "v").increment(black_box(1)))
            })
        });
        // The macro with a label value known only at run time.
        let value = String::from("pkcs8");
        g.bench_function(format!("{name}/macro_dynamic_label"), |b| {
            with_local_recorder(&*recorder, || {
                b.iter(|| counter!("requests", "backend" => value.clone()).increment(1))
            })
        });
        g.bench_function(format!("{name}/handle_two_threads"), |b| {
            b.iter_custom(|iters| two_threads(iters, || handle.increment(black_box(1))))
        });
    }
    g.finish();
}

fn histogram_handle(c: &mut Criterion) {
    let mut g = c.benchmark_group("facade_histogram");
    for (name, recorder) in both() {
        let handle = with_local_recorder(&*recorder, || histogram!("latency", "k" => "v"));
        g.bench_function(format!("{name}/handle"), |b| {
            b.iter(|| handle.record(black_box(0.0015)))
        });
    }
    // Our own operation handle, the contract's recording path, for comparison.
    let ours = Metrics::new().operation(Op::Sign, "pkcs8");
    let d = Duration::from_micros(1_500);
    g.bench_function("keychain/operation_handle", |b| {
        b.iter(|| ours.record(Status::Success, black_box(d)))
    });
    g.finish();
}

/// 1,000 series: 500 counters and 500 histograms, 10 names × 50 label values each.
fn record_series(recorder: &dyn Recorder) {
    with_local_recorder(recorder, || {
        for name in 0..5 {
            for v in 0..100 {
                let v = format!("v{v}");
                counter!(format!("requests_{name}"), "k" => v.clone()).increment(v.len() as u64);
                histogram!(format!("latency_{name}"), "k" => v).record(0.003);
            }
        }
    });
}

fn scrape(c: &mut Criterion) {
    let mut g = c.benchmark_group("facade_scrape_1000_series");
    let ours = Metrics::new();
    record_series(&ours.recorder());
    let mut out = String::new();
    g.bench_function("keychain/text", |b| {
        b.iter(|| {
            out.clear();
            ours.encode_into(keychain_metrics::TextFormat::Text, &mut out);
            black_box(out.len())
        })
    });
    let recorder = theirs();
    let handle = recorder.handle();
    record_series(&recorder);
    g.bench_function("exporter/render", |b| {
        b.iter(|| black_box(handle.render().len()))
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
        targets = counter_handle, histogram_handle, scrape
    }
}
criterion_main!(group::benches);
