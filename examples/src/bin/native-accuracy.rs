//! Records a known latency distribution and serves it, so that a real Prometheus can
//! compute quantiles from the native and the classic histogram and the end-to-end check
//! can compare both with the true quantiles.
//!
//! `native-accuracy --port 9500 --truth truth.json [--samples 100000]` records
//! log-normal durations (median 20 ms, σ = 1: from about 1 ms to half a second) as
//! `sign` operations of backend `lognormal`, writes the true quantiles to the truth
//! file, and serves `/metrics` until interrupted.

use std::time::Duration;

use clap::Parser;
use keychain_metrics::config::{MetricsConfig, NativeHistograms};
use keychain_metrics::server::MetricsServer;
use keychain_metrics::{Op, Status};

#[derive(Parser)]
struct Args {
    /// Port of the metrics endpoint (on 127.0.0.1).
    #[arg(long)]
    port: u16,
    /// Where to write the true quantiles, as JSON.
    #[arg(long)]
    truth: std::path::PathBuf,
    /// How many durations to record.
    #[arg(long, default_value_t = 100_000)]
    samples: usize,
}

/// The quantiles the end-to-end check asks Prometheus for.
const QUANTILES: [f64; 5] = [0.5, 0.75, 0.9, 0.99, 0.999];

/// A small, seeded generator (xorshift64*): the same durations on every run.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        (bits as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A standard normal, by Box–Muller.
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut config = MetricsConfig::default();
    config.port = args.port;
    config.native_histograms = NativeHistograms::all();
    let metrics = config.metrics_builder().build()?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut nanos: Vec<u64> = (0..args.samples)
        .map(|_| (20e6 * rng.normal().exp()).round().max(1.0) as u64)
        .collect();
    for &n in &nanos {
        let d = Duration::from_nanos(n);
        metrics.record_operation(Op::Sign, "lognormal", Status::Success, d);
    }
    nanos.sort_unstable();
    // The q-quantile as Prometheus defines it from counts: the smallest value with at
    // least q·n observations at or below it.
    let truth: Vec<(f64, f64)> = QUANTILES
        .iter()
        .map(|&q| {
            let rank = ((q * nanos.len() as f64).ceil() as usize).clamp(1, nanos.len());
            (q, nanos[rank - 1] as f64 / 1e9)
        })
        .collect();
    let relative_error = keychain_metrics::NativeHistogram::default().relative_error();
    let json = serde_json::json!({ "quantiles": truth, "relative_error": relative_error });
    std::fs::write(&args.truth, json.to_string())?;
    let server = MetricsServer::start(&config, metrics).await?;
    tokio::signal::ctrl_c().await?;
    server.shutdown().await?;
    Ok(())
}
