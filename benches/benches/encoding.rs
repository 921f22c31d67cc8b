//! Rendering the exposition, keychain-metrics beside `prometheus::TextEncoder` and
//! `ProtobufEncoder` on the same series (ours in protobuf with native buckets too). Both write into a reused buffer; the `prometheus` side includes
//! `gather()`, which its encoder needs.
//!
//! `cargo bench -p keychain-metrics-benches --bench encoding`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use keychain_metrics::{Metrics, NativeHistogram, TextFormat};
use keychain_metrics_benches::{fill_contract, fill_errors, PromContract};
use prometheus::{Encoder, TextEncoder};

fn encode(c: &mut Criterion, name: &str, fill: fn(&Metrics, &PromContract)) {
    // Native histograms on, so that the protobuf scrape carries them.
    let ours = Metrics::builder()
        .operation_native(Some(NativeHistogram::default()))
        .build()
        .expect("valid");
    let theirs = PromContract::new().expect("valid metrics");
    fill(&ours, &theirs);
    let mut g = c.benchmark_group(name);
    let mut text = String::new();
    g.bench_function("keychain/text", |b| {
        b.iter(|| {
            text.clear();
            ours.encode_into(TextFormat::Text, &mut text);
            black_box(text.len())
        })
    });
    g.bench_function("keychain/openmetrics", |b| {
        b.iter(|| {
            text.clear();
            ours.encode_into(TextFormat::OpenMetrics, &mut text);
            black_box(text.len())
        })
    });
    let mut bytes = Vec::new();
    g.bench_function("keychain/protobuf", |b| {
        b.iter(|| {
            bytes.clear();
            ours.encode_protobuf(&mut bytes);
            black_box(bytes.len())
        })
    });
    // The same series as an OTLP push request (goal: at most twice the protobuf scrape).
    let resource = [("service.name".to_owned(), "keychain".to_owned())];
    g.bench_function("keychain/otlp", |b| {
        b.iter(|| {
            ours.encode_otlp(&resource, &mut bytes);
            black_box(bytes.len())
        })
    });
    // The live page's JSON snapshot of the same series.
    g.bench_function("keychain/snapshot_json", |b| {
        b.iter(|| {
            text.clear();
            ours.encode_snapshot(&mut text);
            black_box(text.len())
        })
    });
    let encoder = TextEncoder::new();
    g.bench_function("prometheus/text", |b| {
        b.iter(|| {
            bytes.clear();
            let families = theirs.registry.gather();
            let _ = encoder.encode(&families, &mut bytes);
            black_box(bytes.len())
        })
    });
    let protobuf = prometheus::ProtobufEncoder::new();
    g.bench_function("prometheus/protobuf", |b| {
        b.iter(|| {
            bytes.clear();
            let families = theirs.registry.gather();
            let _ = protobuf.encode(&families, &mut bytes);
            black_box(bytes.len())
        })
    });
    g.finish();
}

fn contract_180(c: &mut Criterion) {
    encode(c, "encode_180_operation_series", fill_contract);
}

fn errors_1000(c: &mut Criterion) {
    encode(c, "encode_1000_series", fill_errors);
}

// criterion_group! generates an undocumented `benches` function.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group! {
        name = benches;
        config = keychain_metrics_benches::criterion(3);
        targets = contract_180, errors_1000
    }
}
criterion_main!(group::benches);
