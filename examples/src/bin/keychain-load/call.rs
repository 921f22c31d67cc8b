//! One call of the mix, over REST or gRPC, timed and tallied, and the key ids it learns.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use keychain_metrics_examples::keystore::Key;
use keychain_metrics_examples::pb::keychain_client::KeychainClient;
use serde_json::Value;
use tonic::transport::Channel;

use crate::report::Tally;
use crate::{Plan, Rng, Target};

/// One call's context: the worker's clients and what it tallies into.
pub(crate) struct Call<'a> {
    pub plan: &'a Plan,
    pub target: &'a Target,
    pub http: &'a reqwest::Client,
    pub grpc: &'a mut KeychainClient<Channel>,
    pub tally: &'a Tally,
    pub over_grpc: bool,
}

impl Call<'_> {
    /// Makes one call, records it, and returns its JSON answer when it succeeded.
    pub(crate) async fn rest(
        &mut self,
        op: &'static str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Option<Value> {
        let (traceparent, trace) = traceparent();
        let started = Instant::now();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.target.rest))
            .header("traceparent", traceparent);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = match request.send().await {
            Ok(r) if r.status().is_success() => {
                Some(r.json::<Value>().await.unwrap_or(Value::Null))
            }
            _ => None,
        };
        let took = started.elapsed();
        self.tally
            .record(&self.target.name, op, answer.is_some(), took, trace);
        answer
    }

    /// Records a gRPC call in `trace` that started at `started`; its message if it
    /// succeeded.
    pub(crate) fn done<T>(
        &self,
        op: &'static str,
        started: Instant,
        result: Result<tonic::Response<T>, tonic::Status>,
        trace: [u8; 16],
    ) -> Option<T> {
        let took = started.elapsed();
        self.tally
            .record(&self.target.name, op, result.is_ok(), took, trace);
        result.ok().map(tonic::Response::into_inner)
    }

    /// A key the server acknowledged creating: known from now on, and logged.
    pub(crate) fn created(&self, backend: &'static str, kind: &'static str, id: String) {
        if let Some(log) = &self.plan.acknowledged {
            if let Ok(mut file) = log.lock() {
                // One write per line, so a killed run leaves whole lines.
                let _ = file.write_all(format!("{backend} {id}\n").as_bytes());
            }
        }
        if let Ok(mut keys) = self.target.keys.lock() {
            keys.entry((backend, kind)).or_default().push(id);
        }
    }

    /// A Restore of `keys` (id, PEM) succeeded: the backend holds exactly those now, so
    /// they are the ones known (keys deleted since the backup are back, keys created
    /// since are gone), and `--max-keys` keeps bounding what the server holds.
    pub(crate) fn restored(&self, backend: &'static str, keys: Vec<(String, String)>) {
        let Ok(mut known) = self.target.keys.lock() else {
            return;
        };
        known.retain(|(b, _), _| *b != backend);
        for (id, pem) in keys {
            if let Ok(key) = Key::from_pem(&pem) {
                known
                    .entry((backend, key.kind().name()))
                    .or_default()
                    .push(id);
            }
        }
    }

    /// A key about to be deleted: no longer known.
    pub(crate) fn forget(&self, backend: &'static str, kind: &'static str, id: &str) {
        if let Ok(mut keys) = self.target.keys.lock() {
            if let Some(ids) = keys.get_mut(&(backend, kind)) {
                ids.retain(|k| k != id);
            }
        }
    }

    /// Whether creating another key of `kind` would pass `--max-keys`.
    pub(crate) fn at_cap(&self, backend: &'static str, kind: &'static str) -> bool {
        self.target.keys.lock().is_ok_and(|keys| {
            keys.get(&(backend, kind))
                .is_some_and(|ids| ids.len() >= self.plan.max_keys)
        })
    }

    /// A known key of `kind`, at random.
    pub(crate) fn known(
        &self,
        backend: &'static str,
        kind: &'static str,
        rng: &mut Rng,
    ) -> Option<String> {
        let keys = self.target.keys.lock().ok()?;
        let ids = keys.get(&(backend, kind))?;
        (!ids.is_empty()).then(|| ids[(rng.next() % ids.len() as u64) as usize].clone())
    }

    /// A key of `kind`, generating one if none is known yet.
    pub(crate) async fn key(
        &mut self,
        backend: &'static str,
        kind: &'static str,
        rng: &mut Rng,
    ) -> Option<String> {
        match self.known(backend, kind, rng) {
            Some(id) => Some(id),
            None => self.generate(backend, kind).await,
        }
    }
}

/// A fresh sampled W3C `traceparent` for one call, and its trace id: every call is a
/// trace of its own, which the server's exemplars and spans then name.
pub(crate) fn traceparent() -> (String, [u8; 16]) {
    static SEED: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        now ^ u64::from(std::process::id()).rotate_left(32)
    });
    let n = NEXT.fetch_add(3, Ordering::Relaxed);
    let (high, low, span) = (mix(seed, n), mix(seed, n + 1), mix(seed, n + 2));
    let mut trace = [0u8; 16];
    trace[..8].copy_from_slice(&high.to_be_bytes());
    trace[8..].copy_from_slice(&low.to_be_bytes());
    let header = format!("00-{high:016x}{low:016x}-{:016x}-01", span | 1);
    (header, trace)
}

/// SplitMix64 of `seed + n`: distinct inputs give distinct, well-spread outputs.
fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `message` as a gRPC request carrying a fresh `traceparent`, and its trace id.
pub(crate) fn traced<T>(message: T) -> (tonic::Request<T>, [u8; 16]) {
    let (header, trace) = traceparent();
    let mut request = tonic::Request::new(message);
    if let Ok(value) = header.parse() {
        request.metadata_mut().insert("traceparent", value);
    }
    (request, trace)
}
