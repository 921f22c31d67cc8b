//! The mixes of calls the load generator makes.

use std::time::Instant;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use keychain_metrics_examples::pb;
use serde_json::json;

use crate::call::Call;
use keychain_metrics_examples::keystore::{Key, KeyKind};

use crate::{Rng, KINDS};

/// Generate or Import (of a key made here), half and half.
pub async fn writes(call: &mut Call<'_>, rng: &mut Rng) {
    let backend = rng.pick(&call.plan.backends);
    let kind = rng.pick(&KINDS);
    if rng.chance(0.5) {
        call.generate(backend, kind).await;
        return;
    }
    let pem = KeyKind::parse(kind).and_then(|k| Key::generate(k).to_pem());
    if let Ok(pem) = pem {
        call.import(backend, kind, pem).await;
    }
}

/// One step of the full mix: one or two calls.
pub async fn full(call: &mut Call<'_>, rng: &mut Rng) {
    let backend = rng.pick(&call.plan.backends);
    let roll = rng.next() % 100;
    let p = |path: String| path;
    match roll {
        0..=9 => {
            let kind = rng.pick(&KINDS);
            if call.at_cap(backend, kind) {
                call.delete(backend, kind, rng).await;
            } else {
                call.generate(backend, kind).await;
            }
        }
        10..=21 => {
            // A fifth of the lookups are of keys that do not exist: NotFound.
            let id = if rng.chance(0.2) {
                Some(format!("missing-{:x}", rng.next()))
            } else {
                call.key(backend, rng.pick(&KINDS), rng).await
            };
            let Some(id) = id else { return };
            if call.over_grpc {
                let started = Instant::now();
                let r = call
                    .grpc
                    .get(pb::KeyRef {
                        backend: backend.into(),
                        id,
                    })
                    .await;
                call.done("get", started, r);
            } else {
                call.rest(
                    "get",
                    reqwest::Method::GET,
                    &p(format!("/v1/{backend}/keys/{id}")),
                    None,
                )
                .await;
            }
        }
        22..=41 => {
            let Some(id) = call
                .key(backend, rng.pick(&["ecdsa_p256", "ed25519"]), rng)
                .await
            else {
                return;
            };
            let data = format!("message {}", rng.next()).into_bytes();
            let signature = if call.over_grpc {
                let started = Instant::now();
                let r = call
                    .grpc
                    .sign(pb::SignRequest {
                        backend: backend.into(),
                        id: id.clone(),
                        data: data.clone(),
                    })
                    .await;
                call.done("sign", started, r).map(|s| s.signature)
            } else {
                let body = json!({ "data": B64.encode(&data) });
                let answer = call
                    .rest(
                        "sign",
                        reqwest::Method::POST,
                        &p(format!("/v1/{backend}/keys/{id}/sign")),
                        Some(body),
                    )
                    .await;
                answer.and_then(|v| v["signature"].as_str().and_then(|s| B64.decode(s).ok()))
            };
            let Some(signature) = signature else { return };
            if call.over_grpc {
                let started = Instant::now();
                let r = call
                    .grpc
                    .verify(pb::VerifyRequest {
                        backend: backend.into(),
                        id,
                        data,
                        signature,
                    })
                    .await;
                call.done("verify", started, r);
            } else {
                let body =
                    json!({ "data": B64.encode(&data), "signature": B64.encode(&signature) });
                call.rest(
                    "verify",
                    reqwest::Method::POST,
                    &p(format!("/v1/{backend}/keys/{id}/verify")),
                    Some(body),
                )
                .await;
            }
        }
        42..=59 => {
            let Some(id) = call.key(backend, "aes256_gcm", rng).await else {
                return;
            };
            let data = vec![7u8; (rng.next() % 512) as usize];
            let sealed = if call.over_grpc {
                let started = Instant::now();
                let r = call
                    .grpc
                    .encrypt(pb::CryptRequest {
                        backend: backend.into(),
                        id: id.clone(),
                        data,
                    })
                    .await;
                call.done("encrypt", started, r).map(|c| c.data)
            } else {
                let body = json!({ "data": B64.encode(&data) });
                let answer = call
                    .rest(
                        "encrypt",
                        reqwest::Method::POST,
                        &p(format!("/v1/{backend}/keys/{id}/encrypt")),
                        Some(body),
                    )
                    .await;
                answer.and_then(|v| v["data"].as_str().and_then(|s| B64.decode(s).ok()))
            };
            let Some(sealed) = sealed else { return };
            if call.over_grpc {
                let started = Instant::now();
                let r = call
                    .grpc
                    .decrypt(pb::CryptRequest {
                        backend: backend.into(),
                        id,
                        data: sealed,
                    })
                    .await;
                call.done("decrypt", started, r);
            } else {
                let body = json!({ "data": B64.encode(&sealed) });
                call.rest(
                    "decrypt",
                    reqwest::Method::POST,
                    &p(format!("/v1/{backend}/keys/{id}/decrypt")),
                    Some(body),
                )
                .await;
            }
        }
        60..=67 => {
            let kind = rng.pick(&KINDS);
            let Some(id) = call.key(backend, kind, rng).await else {
                return;
            };
            let pem = if call.over_grpc {
                let started = Instant::now();
                let r = call
                    .grpc
                    .export(pb::KeyRef {
                        backend: backend.into(),
                        id,
                    })
                    .await;
                call.done("export", started, r).map(|p| p.pem)
            } else {
                let answer = call
                    .rest(
                        "export",
                        reqwest::Method::GET,
                        &p(format!("/v1/{backend}/keys/{id}/export")),
                        None,
                    )
                    .await;
                answer.and_then(|v| v["pem"].as_str().map(str::to_owned))
            };
            let Some(pem) = pem else { return };
            if call.at_cap(backend, kind) {
                call.delete(backend, kind, rng).await;
            } else if rng.chance(0.5) {
                call.import(backend, kind, pem).await;
            } else {
                let copy = format!("copy-{:x}", rng.next());
                call.store(backend, kind, copy, pem).await;
            }
        }
        68..=77 => {
            if call.over_grpc {
                let started = Instant::now();
                let result = match call
                    .grpc
                    .list(pb::BackendRef {
                        backend: backend.into(),
                    })
                    .await
                {
                    Ok(response) => {
                        let mut stream = response.into_inner();
                        let mut outcome = Ok(());
                        loop {
                            match stream.message().await {
                                Ok(Some(_)) => {}
                                Ok(None) => break,
                                Err(status) => {
                                    outcome = Err(status);
                                    break;
                                }
                            }
                        }
                        outcome.map(tonic::Response::new)
                    }
                    Err(status) => Err(status),
                };
                call.done("list", started, result);
            } else {
                call.rest(
                    "list",
                    reqwest::Method::GET,
                    &p(format!("/v1/{backend}/keys")),
                    None,
                )
                .await;
            }
        }
        78..=84 => {
            let Some(id) = call.key(backend, rng.pick(&KINDS), rng).await else {
                return;
            };
            if call.over_grpc {
                let started = Instant::now();
                let r = call
                    .grpc
                    .rotate(pb::KeyRef {
                        backend: backend.into(),
                        id,
                    })
                    .await;
                call.done("rotate", started, r);
            } else {
                call.rest(
                    "rotate",
                    reqwest::Method::POST,
                    &p(format!("/v1/{backend}/keys/{id}/rotate")),
                    None,
                )
                .await;
            }
        }
        85..=89 => {
            call.delete(backend, rng.pick(&KINDS), rng).await;
        }
        90..=92 => {
            if call.over_grpc {
                let started = Instant::now();
                let r = call
                    .grpc
                    .backup(pb::BackendRef {
                        backend: backend.into(),
                    })
                    .await;
                let archive = call.done("backup", started, r);
                // Restoring what was just backed up: the key set goes back to it.
                if let Some(archive) = archive.filter(|_| rng.chance(0.3)) {
                    let keys: Vec<_> = archive
                        .keys
                        .iter()
                        .map(|k| (k.id.clone(), k.pem.clone()))
                        .collect();
                    let started = Instant::now();
                    let r = call.grpc.restore(archive).await;
                    if call.done("restore", started, r).is_some() {
                        call.restored(backend, keys);
                    }
                }
            } else {
                let archive = call
                    .rest(
                        "backup",
                        reqwest::Method::POST,
                        &p(format!("/v1/{backend}/backup")),
                        None,
                    )
                    .await;
                if let Some(archive) = archive.filter(|_| rng.chance(0.3)) {
                    let keys = serde_json::from_value(archive["keys"].clone()).unwrap_or_default();
                    let answer = call
                        .rest(
                            "restore",
                            reqwest::Method::POST,
                            &p(format!("/v1/{backend}/restore")),
                            Some(archive),
                        )
                        .await;
                    if answer.is_some() {
                        call.restored(backend, keys);
                    }
                }
            }
        }
        _ => {
            if call.over_grpc {
                let started = Instant::now();
                let r = call
                    .grpc
                    .health_check(pb::BackendRef {
                        backend: backend.into(),
                    })
                    .await;
                call.done("health_check", started, r);
            } else {
                call.rest(
                    "health_check",
                    reqwest::Method::GET,
                    &p(format!("/v1/{backend}/health")),
                    None,
                )
                .await;
            }
        }
    }
}
