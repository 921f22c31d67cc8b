//! What was sent and how it went: the tally, the percentile table and the JSON summary.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

/// Calls, errors and latencies of one operation.
pub(crate) type Counts = (u64, u64, Vec<Duration>);

/// One call's trace: how long it took, where it went, and its trace id.
pub(crate) type Traced = (Duration, String, &'static str, [u8; 16]);

/// What was sent and how it went.
#[derive(Default)]
pub(crate) struct Tally {
    /// By (target, operation).
    pub calls: Mutex<BTreeMap<(String, &'static str), Counts>>,
    /// Every call's trace.
    pub traces: Mutex<Vec<Traced>>,
}

impl Tally {
    pub(crate) fn record(
        &self,
        target: &str,
        op: &'static str,
        ok: bool,
        took: Duration,
        trace: [u8; 16],
    ) {
        if let Ok(mut calls) = self.calls.lock() {
            let entry = calls.entry((target.to_owned(), op)).or_default();
            entry.0 += 1;
            entry.1 += u64::from(!ok);
            entry.2.push(took);
        }
        if let Ok(mut traces) = self.traces.lock() {
            traces.push((took, target.to_owned(), op, trace));
        }
    }
}

/// How many of the slowest calls are listed with their trace ids.
const SLOWEST: usize = 10;

fn hex(trace: &[u8; 16]) -> String {
    trace.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lists the slowest calls with their trace ids (the ones to look up in the server's
/// spans, or in an exemplar) and writes every trace id sent to `path`, if given.
pub(crate) fn slowest(
    tally: &Tally,
    path: Option<&std::path::Path>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut traces = tally.traces.lock().map_err(|_| "tally poisoned")?.clone();
    traces.sort_by_key(|t| std::cmp::Reverse(t.0));
    println!("slowest calls:");
    let mut slowest = Vec::new();
    for (took, target, op, trace) in traces.iter().take(SLOWEST) {
        let ms = took.as_secs_f64() * 1000.0;
        println!("  {ms:>9.2} ms  {op:<14} {target}  trace_id={}", hex(trace));
        slowest
            .push(json!({ "target": target, "operation": op, "ms": ms, "trace_id": hex(trace) }));
    }
    if let Some(path) = path {
        let sent: Vec<String> = traces.iter().map(|t| hex(&t.3)).collect();
        let all = json!({ "sent": sent, "slowest": slowest });
        std::fs::write(path, serde_json::to_string(&all)?)?;
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

pub(crate) fn report(
    tally: &Tally,
    elapsed: Duration,
    summary: Option<&std::path::Path>,
) -> Result<(), Box<dyn std::error::Error>> {
    let calls = tally.calls.lock().map_err(|_| "tally poisoned")?;
    let mut per_op: BTreeMap<&str, Counts> = BTreeMap::new();
    let mut json_summary: BTreeMap<&str, BTreeMap<&str, Value>> = BTreeMap::new();
    for ((target, op), (n, errors, latencies)) in calls.iter() {
        let entry = per_op.entry(op).or_default();
        entry.0 += n;
        entry.1 += errors;
        entry.2.extend(latencies);
        json_summary
            .entry(target)
            .or_default()
            .insert(op, json!({ "calls": n, "errors": errors }));
    }
    let total: u64 = per_op.values().map(|v| v.0).sum();
    let total_errors: u64 = per_op.values().map(|v| v.1).sum();
    let mut all: Vec<Duration> = per_op.values().flat_map(|v| v.2.iter().copied()).collect();
    all.sort();
    println!(
        "{:<14} {:>8} {:>8} {:>9} {:>9} {:>9}",
        "operation", "calls", "errors", "p50 ms", "p95 ms", "p99 ms"
    );
    for (op, (n, errors, latencies)) in &mut per_op {
        latencies.sort();
        println!(
            "{:<14} {:>8} {:>8} {:>9.2} {:>9.2} {:>9.2}",
            op,
            n,
            errors,
            percentile(latencies, 0.5),
            percentile(latencies, 0.95),
            percentile(latencies, 0.99)
        );
    }
    println!(
        "{:<14} {:>8} {:>8} {:>9.2} {:>9.2} {:>9.2}",
        "(all)",
        total,
        total_errors,
        percentile(&all, 0.5),
        percentile(&all, 0.95),
        percentile(&all, 0.99)
    );
    println!(
        "{total} calls in {:.2} s: {:.0} calls/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    if let Some(path) = summary {
        std::fs::write(path, serde_json::to_string_pretty(&json_summary)?)?;
    }
    Ok(())
}
