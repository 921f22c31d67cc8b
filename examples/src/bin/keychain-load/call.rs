//! One call of the mix, over REST or gRPC, timed and tallied, and the key ids it learns.

use std::io::Write;
use std::time::Instant;

use keychain_metrics_examples::keystore::Key;
use keychain_metrics_examples::pb::keychain_client::KeychainClient;
use serde_json::Value;
use tonic::transport::Channel;

use crate::report::Tally;
use crate::{Plan, Rng, Target};

/// One call's context: the worker's clients and what it tallies into.
pub struct Call<'a> {
    pub plan: &'a Plan,
    pub target: &'a Target,
    pub http: &'a reqwest::Client,
    pub grpc: &'a mut KeychainClient<Channel>,
    pub tally: &'a Tally,
    pub over_grpc: bool,
}

impl Call<'_> {
    /// Makes one call, records it, and returns its JSON answer when it succeeded.
    pub async fn rest(
        &mut self,
        op: &'static str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Option<Value> {
        let started = Instant::now();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.target.rest));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = match request.send().await {
            Ok(r) if r.status().is_success() => {
                Some(r.json::<Value>().await.unwrap_or(Value::Null))
            }
            _ => None,
        };
        self.tally
            .record(&self.target.name, op, answer.is_some(), started.elapsed());
        answer
    }

    /// Records a gRPC call that started at `started`; its message if it succeeded.
    pub fn done<T>(
        &self,
        op: &'static str,
        started: Instant,
        result: Result<tonic::Response<T>, tonic::Status>,
    ) -> Option<T> {
        self.tally
            .record(&self.target.name, op, result.is_ok(), started.elapsed());
        result.ok().map(tonic::Response::into_inner)
    }

    /// A key the server acknowledged creating: known from now on, and logged.
    pub fn created(&self, backend: &'static str, kind: &'static str, id: String) {
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
    pub fn restored(&self, backend: &'static str, keys: Vec<(String, String)>) {
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
    pub fn forget(&self, backend: &'static str, kind: &'static str, id: &str) {
        if let Ok(mut keys) = self.target.keys.lock() {
            if let Some(ids) = keys.get_mut(&(backend, kind)) {
                ids.retain(|k| k != id);
            }
        }
    }

    /// Whether creating another key of `kind` would pass `--max-keys`.
    pub fn at_cap(&self, backend: &'static str, kind: &'static str) -> bool {
        self.target.keys.lock().is_ok_and(|keys| {
            keys.get(&(backend, kind))
                .is_some_and(|ids| ids.len() >= self.plan.max_keys)
        })
    }

    /// A known key of `kind`, at random.
    pub fn known(
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
    pub async fn key(
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
