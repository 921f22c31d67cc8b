//! The mixes of calls the load generator makes.

use keychain_metrics_examples::keystore::{Key, KeyKind};

use crate::call::Call;
use crate::{Rng, KINDS};

/// Generate or Import (of a key made here), half and half.
pub(crate) async fn writes(call: &mut Call<'_>, rng: &mut Rng) {
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

/// One step of the full mix: one or two calls, on a backend picked at random. Shares
/// of the steps, in percent: generate 10, get 12 (a fifth of them of keys that do not
/// exist), sign then verify 20, encrypt then decrypt 18, export then import or store
/// 8, list 10, rotate 7, delete 5, backup (then restore, three times in ten) 3,
/// health check 7. With `--max-keys`, a step that would create a key past it deletes
/// one instead.
pub(crate) async fn full(call: &mut Call<'_>, rng: &mut Rng) {
    let backend = rng.pick(&call.plan.backends);
    match rng.next() % 100 {
        0..=9 => {
            let kind = rng.pick(&KINDS);
            if call.at_cap(backend, kind) {
                call.delete(backend, kind, rng).await;
            } else {
                call.generate(backend, kind).await;
            }
        }
        10..=21 => get(call, backend, rng).await,
        22..=41 => {
            let signer = rng.pick(&["ecdsa_p256", "ed25519"]);
            let Some(id) = call.key(backend, signer, rng).await else {
                return;
            };
            let data = format!("message {}", rng.next()).into_bytes();
            if let Some(signature) = call.sign(backend, &id, &data).await {
                call.verify(backend, id, data, signature).await;
            }
        }
        42..=59 => {
            let Some(id) = call.key(backend, "aes256_gcm", rng).await else {
                return;
            };
            let data = vec![7u8; (rng.next() % 512) as usize];
            if let Some(sealed) = call.crypt("encrypt", backend, &id, data).await {
                call.crypt("decrypt", backend, &id, sealed).await;
            }
        }
        60..=67 => {
            let kind = rng.pick(&KINDS);
            let Some(id) = call.key(backend, kind, rng).await else {
                return;
            };
            let Some(pem) = call.export(backend, id).await else {
                return;
            };
            if call.at_cap(backend, kind) {
                call.delete(backend, kind, rng).await;
            } else if rng.chance(0.5) {
                call.import(backend, kind, pem).await;
            } else {
                let copy = format!("copy-{:x}", rng.next());
                call.store(backend, kind, copy, pem).await;
            }
        }
        68..=77 => call.list(backend).await,
        78..=84 => {
            if let Some(id) = call.key(backend, rng.pick(&KINDS), rng).await {
                call.rotate(backend, id).await;
            }
        }
        85..=89 => call.delete(backend, rng.pick(&KINDS), rng).await,
        90..=92 => {
            let restore = rng.chance(0.3);
            call.backup(backend, restore).await;
        }
        _ => call.health_check(backend).await,
    }
}

/// One step of the cheap mix, the calls a keystore serves most and where
/// instrumentation is the largest share of the work: health checks 25, gets 25 (a fifth
/// of keys that do not exist), encryptions 25 and signatures 25, in percent. Keys are
/// generated only when none of a kind is known yet.
pub(crate) async fn reads(call: &mut Call<'_>, rng: &mut Rng) {
    let backend = rng.pick(&call.plan.backends);
    match rng.next() % 4 {
        0 => call.health_check(backend).await,
        1 => get(call, backend, rng).await,
        2 => {
            if let Some(id) = call.key(backend, "aes256_gcm", rng).await {
                let data = vec![7u8; (rng.next() % 512) as usize];
                call.crypt("encrypt", backend, &id, data).await;
            }
        }
        _ => {
            if let Some(id) = call.key(backend, "ed25519", rng).await {
                let data = format!("message {}", rng.next()).into_bytes();
                call.sign(backend, &id, &data).await;
            }
        }
    }
}

/// A get of a known key of any kind, or one time in five of a key that does not exist.
async fn get(call: &mut Call<'_>, backend: &'static str, rng: &mut Rng) {
    let id = if rng.chance(0.2) {
        Some(format!("missing-{:x}", rng.next()))
    } else {
        call.key(backend, rng.pick(&KINDS), rng).await
    };
    if let Some(id) = id {
        call.get(backend, id).await;
    }
}
