//! Drives a mix of REST and gRPC calls, failing ones included, against keychain servers,
//! then prints calls, errors and latency percentiles per operation.
//!
//! `keychain-load --target a=http://127.0.0.1:8080,http://127.0.0.1:50051 --requests 2000`

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use keychain_metrics_examples::pb::{self, keychain_client::KeychainClient};
use serde_json::{json, Value};
use tonic::transport::Channel;

/// Load for keychain servers.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// `name=REST_URL,GRPC_URL`; repeat for several servers.
    #[arg(long = "target", required = true)]
    targets: Vec<String>,
    /// Steps of the mix, each one or two calls (ignored with --duration).
    #[arg(long, default_value_t = 1000)]
    requests: u64,
    /// Run for this many seconds instead.
    #[arg(long)]
    duration: Option<f64>,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Share of calls made over gRPC (the rest over REST).
    #[arg(long, default_value_t = 0.5)]
    grpc_share: f64,
    /// Writes the calls made, per target and operation, as JSON.
    #[arg(long)]
    summary: Option<PathBuf>,
    /// Hides the progress bar.
    #[arg(long)]
    quiet: bool,
}

const BACKENDS: [&str; 2] = ["pkcs8", "memory"];
const KINDS: [&str; 3] = ["ecdsa_p256", "ed25519", "aes256_gcm"];

/// One server.
struct Target {
    name: String,
    rest: String,
    grpc: KeychainClient<Channel>,
    /// Known key ids per backend and kind.
    keys: Mutex<BTreeMap<(&'static str, &'static str), Vec<String>>>,
}

/// Calls, errors and latencies of one operation.
type Counts = (u64, u64, Vec<Duration>);

/// What was sent and how it went.
#[derive(Default)]
struct Tally {
    /// By (target, operation).
    calls: Mutex<BTreeMap<(String, &'static str), Counts>>,
}

impl Tally {
    fn record(&self, target: &str, op: &'static str, ok: bool, took: Duration) {
        if let Ok(mut calls) = self.calls.lock() {
            let entry = calls.entry((target.to_owned(), op)).or_default();
            entry.0 += 1;
            entry.1 += u64::from(!ok);
            entry.2.push(took);
        }
    }
}

/// A tiny xorshift generator: the mix does not need more.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 10_000) as f64 / 10_000.0 < p
    }
}

#[tokio::main]
async fn main() {
    if let Err(e) = run(Args::parse()).await {
        eprintln!("keychain-load: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut targets = Vec::new();
    for spec in &args.targets {
        let (name, urls) = spec
            .split_once('=')
            .ok_or("a target is name=REST_URL,GRPC_URL")?;
        let (rest, grpc) = urls
            .split_once(',')
            .ok_or("a target is name=REST_URL,GRPC_URL")?;
        let channel = Channel::from_shared(grpc.to_owned())?.connect().await?;
        targets.push(Arc::new(Target {
            name: name.to_owned(),
            rest: rest.trim_end_matches('/').to_owned(),
            grpc: KeychainClient::new(channel),
            keys: Mutex::default(),
        }));
    }
    let http = reqwest::Client::new();
    let tally = Arc::new(Tally::default());
    let issued = Arc::new(AtomicU64::new(0));
    let deadline = args
        .duration
        .map(|s| Instant::now() + Duration::from_secs_f64(s));
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else if let Some(s) = args.duration {
        ProgressBar::new((s * 1000.0) as u64)
    } else {
        ProgressBar::new(args.requests)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..args.concurrency.max(1) {
        let target = Arc::clone(&targets[w % targets.len()]);
        let (http, tally, issued, bar) = (
            http.clone(),
            Arc::clone(&tally),
            Arc::clone(&issued),
            bar.clone(),
        );
        let (requests, grpc_share) = (args.requests, args.grpc_share);
        workers.push(tokio::spawn(async move {
            let mut rng =
                Rng(0x9e37_79b9_7f4a_7c15 ^ (w as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
            let mut grpc = target.grpc.clone();
            loop {
                match deadline {
                    Some(d) if Instant::now() >= d => break,
                    Some(_) => bar.set_position(started.elapsed().as_millis() as u64),
                    None => {
                        if issued.fetch_add(1, Ordering::Relaxed) >= requests {
                            break;
                        }
                        bar.inc(1);
                    }
                }
                let over_grpc = rng.chance(grpc_share);
                let mut call = Call {
                    target: &target,
                    http: &http,
                    grpc: &mut grpc,
                    tally: &tally,
                    over_grpc,
                };
                step(&mut call, &mut rng).await;
            }
        }));
    }
    for w in workers {
        w.await?;
    }
    bar.finish_and_clear();
    report(&tally, started.elapsed(), args.summary.as_deref())
}

struct Call<'a> {
    target: &'a Target,
    http: &'a reqwest::Client,
    grpc: &'a mut KeychainClient<Channel>,
    tally: &'a Tally,
    over_grpc: bool,
}

impl Call<'_> {
    /// Makes one call, records it, and returns its JSON answer when it succeeded.
    async fn rest(
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

    fn done<T>(
        &self,
        op: &'static str,
        started: Instant,
        result: Result<tonic::Response<T>, tonic::Status>,
    ) -> Option<T> {
        self.tally
            .record(&self.target.name, op, result.is_ok(), started.elapsed());
        result.ok().map(tonic::Response::into_inner)
    }

    fn remember(&self, backend: &'static str, kind: &'static str, id: String) {
        if let Ok(mut keys) = self.target.keys.lock() {
            keys.entry((backend, kind)).or_default().push(id);
        }
    }

    fn known(&self, backend: &'static str, kind: &'static str, rng: &mut Rng) -> Option<String> {
        let keys = self.target.keys.lock().ok()?;
        let ids = keys.get(&(backend, kind))?;
        (!ids.is_empty()).then(|| ids[(rng.next() % ids.len() as u64) as usize].clone())
    }

    async fn generate(&mut self, backend: &'static str, kind: &'static str) -> Option<String> {
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
            self.remember(backend, kind, id.clone());
        }
        id
    }

    /// A key of `kind`, generating one if none is known yet.
    async fn key(
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

/// One step of the mix: one or two calls.
async fn step(call: &mut Call<'_>, rng: &mut Rng) {
    let backend = rng.pick(&BACKENDS);
    let roll = rng.next() % 100;
    let p = |path: String| path;
    match roll {
        0..=9 => {
            call.generate(backend, rng.pick(&KINDS)).await;
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
            let Some(id) = call.key(backend, rng.pick(&KINDS), rng).await else {
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
            let copy = format!("copy-{:x}", rng.next());
            if rng.chance(0.5) {
                if call.over_grpc {
                    let started = Instant::now();
                    let r = call
                        .grpc
                        .import(pb::ImportRequest {
                            backend: backend.into(),
                            pem,
                        })
                        .await;
                    call.done("import", started, r);
                } else {
                    call.rest(
                        "import",
                        reqwest::Method::POST,
                        &p(format!("/v1/{backend}/import")),
                        Some(json!({ "pem": pem })),
                    )
                    .await;
                }
            } else if call.over_grpc {
                let started = Instant::now();
                let r = call
                    .grpc
                    .store(pb::StoreRequest {
                        backend: backend.into(),
                        id: copy,
                        pem,
                    })
                    .await;
                call.done("store", started, r);
            } else {
                call.rest(
                    "store",
                    reqwest::Method::PUT,
                    &p(format!("/v1/{backend}/keys/{copy}")),
                    Some(json!({ "pem": pem })),
                )
                .await;
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
            let kind = rng.pick(&KINDS);
            let Some(id) = call.known(backend, kind, rng) else {
                return;
            };
            if let Ok(mut keys) = call.target.keys.lock() {
                if let Some(ids) = keys.get_mut(&(backend, kind)) {
                    ids.retain(|k| *k != id);
                }
            }
            if call.over_grpc {
                let started = Instant::now();
                let r = call
                    .grpc
                    .delete(pb::KeyRef {
                        backend: backend.into(),
                        id,
                    })
                    .await;
                call.done("delete", started, r);
            } else {
                call.rest(
                    "delete",
                    reqwest::Method::DELETE,
                    &p(format!("/v1/{backend}/keys/{id}")),
                    None,
                )
                .await;
            }
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
                // Restoring what was just backed up: the key set stays as it is.
                if let Some(archive) = archive.filter(|_| rng.chance(0.3)) {
                    let started = Instant::now();
                    let r = call.grpc.restore(archive).await;
                    call.done("restore", started, r);
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
                    call.rest(
                        "restore",
                        reqwest::Method::POST,
                        &p(format!("/v1/{backend}/restore")),
                        Some(archive),
                    )
                    .await;
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

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(
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
        "{total} calls in {:.2} s: {:.0} calls/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    if let Some(path) = summary {
        std::fs::write(path, serde_json::to_string_pretty(&json_summary)?)?;
    }
    Ok(())
}
