//! What the attack measures: a scraper, a signing client, the server's RSS and exit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

/// Scrapes `url` every second until `until`, with basic auth, as Prometheus does
/// (one kept-alive connection, a 2 s timeout): each scrape's time, `None` if it failed.
pub(crate) async fn scrape(
    url: String,
    (user, password): (String, String),
    until: Instant,
) -> Vec<Option<Duration>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("a client with a timeout");
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    let mut scrapes = Vec::new();
    while Instant::now() < until {
        ticks.tick().await;
        let started = Instant::now();
        let answer = client
            .get(&url)
            .basic_auth(&user, Some(&password))
            .send()
            .await;
        let ok = match answer {
            Ok(r) if r.status() == 200 => r
                .text()
                .await
                .is_ok_and(|t| t.contains("keychain_operations_total")),
            _ => false,
        };
        scrapes.push(ok.then(|| started.elapsed()));
    }
    scrapes
}

/// Signs with a pkcs8 key over REST.
pub(crate) struct Signer {
    client: reqwest::Client,
    url: String,
}

impl Signer {
    /// Generates the key it signs with.
    pub(crate) async fn new(rest: &str) -> Result<Self, String> {
        let client = reqwest::Client::new();
        let key: Value = client
            .post(format!("{rest}/v1/pkcs8/keys"))
            .json(&json!({ "kind": "ecdsa_p256" }))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("cannot generate a key at {rest}: {e}"))?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let id = key["id"].as_str().ok_or("no key id")?;
        Ok(Signer {
            url: format!("{rest}/v1/pkcs8/keys/{id}/sign"),
            client,
        })
    }

    /// Signs 40 times a second until `until`: each successful call's time.
    pub(crate) async fn sign_until(&self, until: Instant) -> Vec<Duration> {
        let data = base64::engine::general_purpose::STANDARD.encode(b"attack");
        let mut ticks = tokio::time::interval(Duration::from_millis(25));
        let mut times = Vec::new();
        while Instant::now() < until {
            ticks.tick().await;
            let started = Instant::now();
            let signed = self
                .client
                .post(&self.url)
                .json(&json!({ "data": data }))
                .send()
                .await;
            if signed.is_ok_and(|r| r.status() == 200) {
                times.push(started.elapsed());
            }
        }
        times
    }
}

/// The 99th percentile.
pub(crate) fn p99(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted
        .get(sorted.len() * 99 / 100)
        .copied()
        .unwrap_or_default()
}

/// The peak resident set of a process, sampled every 50 ms.
pub(crate) struct Rss(Arc<AtomicU64>);

impl Rss {
    pub(crate) fn watch(pid: i32) -> Self {
        let peak = Arc::new(AtomicU64::new(0));
        let sampler = Arc::clone(&peak);
        tokio::spawn(async move {
            while let Some(rss) = resident_bytes(pid) {
                sampler.fetch_max(rss, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        Rss(peak)
    }

    pub(crate) fn max(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

fn resident_bytes(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    Some(
        kb.trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()?
            * 1024,
    )
}

/// Whether `pid` still runs (a zombie, waiting for its parent, does not).
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(") ")
                .map(|(_, rest)| !rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Sends SIGINT and waits up to `limit` for the process to end: how long it took.
pub(crate) async fn interrupt(pid: i32, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    // SAFETY: kill only sends a signal; the pid is the server this run was given.
    if unsafe { libc::kill(pid, libc::SIGINT) } != 0 {
        return None;
    }
    while started.elapsed() < limit {
        if !running(pid) {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}
