//! One call of the mix, over REST or gRPC, timed and tallied, and the key ids it learns.

use std::io::Write;
use std::time::Instant;

use keychain_metrics_examples::keystore::Key;
use keychain_metrics_examples::pb::{self, keychain_client::KeychainClient};
use serde_json::{json, Value};
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

    /// Whether creating another key of `kind` would pass `--max-keys`.
    pub fn at_cap(&self, backend: &'static str, kind: &'static str) -> bool {
        self.target.keys.lock().is_ok_and(|keys| {
            keys.get(&(backend, kind))
                .is_some_and(|ids| ids.len() >= self.plan.max_keys)
        })
    }

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

    pub async fn generate(&mut self, backend: &'static str, kind: &'static str) -> Option<String> {
        let id = if self.over_grpc {
            let started = Instant::now();
            let r = self
                .grpc
                .generate(pb::GenerateRequest {
                    backend: backend.into(),
                    kind: kind.into(),
                })
                .await;
            self.done("generate", started, r).map(|k| k.id)
        } else {
            let path = format!("/v1/{backend}/keys");
            let answer = self
                .rest(
                    "generate",
                    reqwest::Method::POST,
                    &path,
                    Some(json!({ "kind": kind })),
                )
                .await;
            answer.and_then(|v| v["id"].as_str().map(str::to_owned))
        };
        if let Some(id) = &id {
            self.created(backend, kind, id.clone());
        }
        id
    }

    /// Imports `pem` (a key of `kind`); the new id if the server took it.
    pub async fn import(
        &mut self,
        backend: &'static str,
        kind: &'static str,
        pem: String,
    ) -> Option<String> {
        let id = if self.over_grpc {
            let started = Instant::now();
            let r = self
                .grpc
                .import(pb::ImportRequest {
                    backend: backend.into(),
                    pem,
                })
                .await;
            self.done("import", started, r).map(|k| k.id)
        } else {
            let path = format!("/v1/{backend}/import");
            let body = Some(json!({ "pem": pem }));
            let answer = self
                .rest("import", reqwest::Method::POST, &path, body)
                .await;
            answer.and_then(|v| v["id"].as_str().map(str::to_owned))
        };
        if let Some(id) = &id {
            self.created(backend, kind, id.clone());
        }
        id
    }

    /// Stores `pem` (a key of `kind`) under `id`.
    pub async fn store(
        &mut self,
        backend: &'static str,
        kind: &'static str,
        id: String,
        pem: String,
    ) {
        let stored = if self.over_grpc {
            let started = Instant::now();
            let r = self
                .grpc
                .store(pb::StoreRequest {
                    backend: backend.into(),
                    id: id.clone(),
                    pem,
                })
                .await;
            self.done("store", started, r).is_some()
        } else {
            let path = format!("/v1/{backend}/keys/{id}");
            let body = Some(json!({ "pem": pem }));
            let answer = self.rest("store", reqwest::Method::PUT, &path, body).await;
            answer.is_some()
        };
        if stored {
            self.created(backend, kind, id);
        }
    }

    /// Deletes a known key of `kind`, if there is one.
    pub async fn delete(&mut self, backend: &'static str, kind: &'static str, rng: &mut Rng) {
        let Some(id) = self.known(backend, kind, rng) else {
            return;
        };
        if let Ok(mut keys) = self.target.keys.lock() {
            if let Some(ids) = keys.get_mut(&(backend, kind)) {
                ids.retain(|k| *k != id);
            }
        }
        if self.over_grpc {
            let started = Instant::now();
            let r = self
                .grpc
                .delete(pb::KeyRef {
                    backend: backend.into(),
                    id,
                })
                .await;
            self.done("delete", started, r);
        } else {
            let path = format!("/v1/{backend}/keys/{id}");
            self.rest("delete", reqwest::Method::DELETE, &path, None)
                .await;
        }
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
