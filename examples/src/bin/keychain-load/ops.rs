//! Each keychain operation as one call over REST or gRPC (whichever the call is made
//! over), timed and tallied, returning what a later step of the mix needs.

use std::time::Instant;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use keychain_metrics_examples::pb;
use reqwest::Method;
use serde_json::{json, Value};

use crate::call::Call;
use crate::Rng;

/// Times one gRPC call of `method` with `message`, in a trace of its own, and tallies
/// it under `op`: its answer if it succeeded.
macro_rules! grpc {
    ($call:expr, $op:literal, $method:ident($message:expr)) => {{
        let (request, trace) = crate::call::traced($message);
        let started = Instant::now();
        let result = $call.grpc.$method(request).await;
        $call.done($op, started, result, trace)
    }};
}

/// A string field of a JSON answer.
fn text(answer: Option<Value>, field: &str) -> Option<String> {
    answer.and_then(|v| v[field].as_str().map(str::to_owned))
}

/// A base64 field of a JSON answer, decoded.
fn bytes(answer: Option<Value>, field: &str) -> Option<Vec<u8>> {
    answer.and_then(|v| v[field].as_str().and_then(|s| B64.decode(s).ok()))
}

fn key_ref(backend: &str, id: String) -> pb::KeyRef {
    pb::KeyRef {
        backend: backend.into(),
        id,
    }
}

fn backend_ref(backend: &str) -> pb::BackendRef {
    pb::BackendRef {
        backend: backend.into(),
    }
}

impl Call<'_> {
    /// Generates a key of `kind`; its id, now known, if the server made it.
    pub(crate) async fn generate(
        &mut self,
        backend: &'static str,
        kind: &'static str,
    ) -> Option<String> {
        let id = if self.over_grpc {
            let request = pb::GenerateRequest {
                backend: backend.into(),
                kind: kind.into(),
            };
            grpc!(self, "generate", generate(request)).map(|k| k.id)
        } else {
            let body = json!({ "kind": kind });
            let path = format!("/v1/{backend}/keys");
            text(
                self.rest("generate", Method::POST, &path, Some(body)).await,
                "id",
            )
        };
        if let Some(id) = &id {
            self.created(backend, kind, id.clone());
        }
        id
    }

    /// Imports `pem` (a key of `kind`); the new id if the server took it.
    pub(crate) async fn import(
        &mut self,
        backend: &'static str,
        kind: &'static str,
        pem: String,
    ) -> Option<String> {
        let id = if self.over_grpc {
            let request = pb::ImportRequest {
                backend: backend.into(),
                pem,
            };
            grpc!(self, "import", import(request)).map(|k| k.id)
        } else {
            let body = json!({ "pem": pem });
            let path = format!("/v1/{backend}/import");
            text(
                self.rest("import", Method::POST, &path, Some(body)).await,
                "id",
            )
        };
        if let Some(id) = &id {
            self.created(backend, kind, id.clone());
        }
        id
    }

    /// Stores `pem` (a key of `kind`) under `id`.
    pub(crate) async fn store(
        &mut self,
        backend: &'static str,
        kind: &'static str,
        id: String,
        pem: String,
    ) {
        let stored = if self.over_grpc {
            let request = pb::StoreRequest {
                backend: backend.into(),
                id: id.clone(),
                pem,
            };
            grpc!(self, "store", store(request)).is_some()
        } else {
            let body = json!({ "pem": pem });
            let path = format!("/v1/{backend}/keys/{id}");
            self.rest("store", Method::PUT, &path, Some(body))
                .await
                .is_some()
        };
        if stored {
            self.created(backend, kind, id);
        }
    }

    /// Deletes a known key of `kind`, if there is one.
    pub(crate) async fn delete(
        &mut self,
        backend: &'static str,
        kind: &'static str,
        rng: &mut Rng,
    ) {
        let Some(id) = self.known(backend, kind, rng) else {
            return;
        };
        self.forget(backend, kind, &id);
        if self.over_grpc {
            grpc!(self, "delete", delete(key_ref(backend, id)));
        } else {
            let path = format!("/v1/{backend}/keys/{id}");
            self.rest("delete", Method::DELETE, &path, None).await;
        }
    }

    /// Looks a key up.
    pub(crate) async fn get(&mut self, backend: &'static str, id: String) {
        if self.over_grpc {
            grpc!(self, "get", get(key_ref(backend, id)));
        } else {
            let path = format!("/v1/{backend}/keys/{id}");
            self.rest("get", Method::GET, &path, None).await;
        }
    }

    /// Signs `data`; the signature if the server made one.
    pub(crate) async fn sign(
        &mut self,
        backend: &'static str,
        id: &str,
        data: &[u8],
    ) -> Option<Vec<u8>> {
        if self.over_grpc {
            let request = pb::SignRequest {
                backend: backend.into(),
                id: id.into(),
                data: data.to_vec(),
            };
            grpc!(self, "sign", sign(request)).map(|s| s.signature)
        } else {
            let body = json!({ "data": B64.encode(data) });
            let path = format!("/v1/{backend}/keys/{id}/sign");
            bytes(
                self.rest("sign", Method::POST, &path, Some(body)).await,
                "signature",
            )
        }
    }

    /// Verifies `signature` over `data`.
    pub(crate) async fn verify(
        &mut self,
        backend: &'static str,
        id: String,
        data: Vec<u8>,
        signature: Vec<u8>,
    ) {
        if self.over_grpc {
            let request = pb::VerifyRequest {
                backend: backend.into(),
                id,
                data,
                signature,
            };
            grpc!(self, "verify", verify(request));
        } else {
            let body = json!({ "data": B64.encode(&data), "signature": B64.encode(&signature) });
            let path = format!("/v1/{backend}/keys/{id}/verify");
            self.rest("verify", Method::POST, &path, Some(body)).await;
        }
    }

    /// Encrypts (`op` = `encrypt`) or decrypts (`decrypt`) `data`; the result if any.
    pub(crate) async fn crypt(
        &mut self,
        op: &'static str,
        backend: &'static str,
        id: &str,
        data: Vec<u8>,
    ) -> Option<Vec<u8>> {
        if self.over_grpc {
            let request = pb::CryptRequest {
                backend: backend.into(),
                id: id.into(),
                data,
            };
            let answer = if op == "encrypt" {
                grpc!(self, "encrypt", encrypt(request))
            } else {
                grpc!(self, "decrypt", decrypt(request))
            };
            answer.map(|c| c.data)
        } else {
            let body = json!({ "data": B64.encode(&data) });
            let path = format!("/v1/{backend}/keys/{id}/{op}");
            bytes(self.rest(op, Method::POST, &path, Some(body)).await, "data")
        }
    }

    /// Exports a key; its PEM if the server gave it.
    pub(crate) async fn export(&mut self, backend: &'static str, id: String) -> Option<String> {
        if self.over_grpc {
            grpc!(self, "export", export(key_ref(backend, id))).map(|p| p.pem)
        } else {
            let path = format!("/v1/{backend}/keys/{id}/export");
            text(self.rest("export", Method::GET, &path, None).await, "pem")
        }
    }

    /// Lists a backend's keys (over gRPC, a server stream read to its end).
    pub(crate) async fn list(&mut self, backend: &'static str) {
        if !self.over_grpc {
            let path = format!("/v1/{backend}/keys");
            self.rest("list", Method::GET, &path, None).await;
            return;
        }
        let (request, trace) = crate::call::traced(backend_ref(backend));
        let started = Instant::now();
        let result = match self.grpc.list(request).await {
            Ok(response) => {
                let mut stream = response.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(_)) => {}
                        Ok(None) => break Ok(tonic::Response::new(())),
                        Err(status) => break Err(status),
                    }
                }
            }
            Err(status) => Err(status),
        };
        self.done("list", started, result, trace);
    }

    /// Rotates a key.
    pub(crate) async fn rotate(&mut self, backend: &'static str, id: String) {
        if self.over_grpc {
            grpc!(self, "rotate", rotate(key_ref(backend, id)));
        } else {
            let path = format!("/v1/{backend}/keys/{id}/rotate");
            self.rest("rotate", Method::POST, &path, None).await;
        }
    }

    /// Backs a backend up and, when `restore`, restores what it got: the key set goes
    /// back to the backup's.
    pub(crate) async fn backup(&mut self, backend: &'static str, restore: bool) {
        if self.over_grpc {
            let archive = grpc!(self, "backup", backup(backend_ref(backend)));
            let Some(archive) = archive.filter(|_| restore) else {
                return;
            };
            let keys = archive
                .keys
                .iter()
                .map(|k| (k.id.clone(), k.pem.clone()))
                .collect();
            if grpc!(self, "restore", restore(archive)).is_some() {
                self.restored(backend, keys);
            }
        } else {
            let path = format!("/v1/{backend}/backup");
            let archive = self.rest("backup", Method::POST, &path, None).await;
            let Some(archive) = archive.filter(|_| restore) else {
                return;
            };
            let keys = serde_json::from_value(archive["keys"].clone()).unwrap_or_default();
            let path = format!("/v1/{backend}/restore");
            if self
                .rest("restore", Method::POST, &path, Some(archive))
                .await
                .is_some()
            {
                self.restored(backend, keys);
            }
        }
    }

    /// Checks a backend's health.
    pub(crate) async fn health_check(&mut self, backend: &'static str) {
        if self.over_grpc {
            grpc!(self, "health_check", health_check(backend_ref(backend)));
        } else {
            let path = format!("/v1/{backend}/health");
            self.rest("health_check", Method::GET, &path, None).await;
        }
    }
}
