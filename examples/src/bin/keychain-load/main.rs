//! Drives a mix of REST and gRPC calls, failing ones included, against keychain servers,
//! then prints calls, errors and latency percentiles per operation.
//!
//! `keychain-load --target a=http://127.0.0.1:8080,http://127.0.0.1:50051 --requests 2000`;
//! with no `--target`, the server that `keychain-server` starts with no arguments.
//!
//! `--mix writes --acknowledged FILE` drives only Generate and Import and logs every key
//! the server acknowledged (the crash test); `--max-keys N` holds the key set steady by
//! deleting where it would create past N (the soak).

mod call;
mod mix;
mod ops;
mod report;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use keychain_metrics_examples::pb::keychain_client::KeychainClient;
use tonic::transport::Channel;

use call::Call;
use report::{report, Tally};

/// Load for keychain servers.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// `name=REST_URL,GRPC_URL`; repeat for several servers. The default is the server
    /// that `keychain-server` starts with no arguments (its metrics address as the name).
    #[arg(long = "target", default_value = DEFAULT_TARGET)]
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
    /// Writes the trace id of every call (each sends a sampled W3C `traceparent`) and
    /// the slowest calls' as JSON: `{"sent": [...], "slowest": [...]}`.
    #[arg(long)]
    traces: Option<PathBuf>,
    /// Hides the progress bar.
    #[arg(long)]
    quiet: bool,
    /// Which calls to make.
    #[arg(long, value_enum, default_value_t = Mix::Full)]
    mix: Mix,
    /// Only this backend (default: both).
    #[arg(long, value_parser = ["pkcs8", "memory"])]
    backend: Option<String>,
    /// At most this many known keys per backend and key type: a step that would create
    /// one past it deletes one instead, so the key set stays steady.
    #[arg(long)]
    max_keys: Option<usize>,
    /// Appends `backend id` to this file for every key creation the server
    /// acknowledged, as soon as it does.
    #[arg(long)]
    acknowledged: Option<PathBuf>,
}

/// `keychain-server`'s default listeners: metrics, REST and gRPC.
const DEFAULT_TARGET: &str = "127.0.0.1:9090=http://127.0.0.1:8080,http://127.0.0.1:50051";

/// The calls a run makes.
#[derive(Clone, Copy, ValueEnum)]
enum Mix {
    /// Every operation over both APIs, a share of them failing on purpose.
    Full,
    /// Generate and Import only (keys made here), for crash tests.
    Writes,
    /// Health checks, gets, encryptions and signatures: the cheap calls, where
    /// instrumentation is the largest share of a call's work (benches/overhead.sh).
    Reads,
}

/// What every worker follows.
struct Plan {
    backends: Vec<&'static str>,
    max_keys: usize,
    /// Where acknowledged creations are logged.
    acknowledged: Option<Mutex<File>>,
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
            // Backups of large key sets pass tonic's default 4 MiB.
            grpc: KeychainClient::new(channel)
                .max_decoding_message_size(keychain_metrics_examples::rest::ARCHIVE_LIMIT),
            keys: Mutex::default(),
        }));
    }
    let plan = Arc::new(Plan {
        backends: match &args.backend {
            Some(b) => BACKENDS.iter().copied().filter(|x| x == b).collect(),
            None => BACKENDS.to_vec(),
        },
        max_keys: args.max_keys.unwrap_or(usize::MAX),
        acknowledged: match &args.acknowledged {
            Some(path) => Some(Mutex::new(
                File::options()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("cannot open {}: {e}", path.display()))?,
            )),
            None => None,
        },
    });
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
        let (plan, http, tally, issued, bar) = (
            Arc::clone(&plan),
            http.clone(),
            Arc::clone(&tally),
            Arc::clone(&issued),
            bar.clone(),
        );
        let (requests, grpc_share, mix) = (args.requests, args.grpc_share, args.mix);
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
                    plan: &plan,
                    target: &target,
                    http: &http,
                    grpc: &mut grpc,
                    tally: &tally,
                    over_grpc,
                };
                match mix {
                    Mix::Full => mix::full(&mut call, &mut rng).await,
                    Mix::Writes => mix::writes(&mut call, &mut rng).await,
                    Mix::Reads => mix::reads(&mut call, &mut rng).await,
                }
            }
        }));
    }
    for w in workers {
        w.await?;
    }
    bar.finish_and_clear();
    report(&tally, started.elapsed(), args.summary.as_deref())?;
    report::slowest(&tally, args.traces.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use keychain_metrics_examples::config::{ServerConfig, DEFAULT};

    #[test]
    fn no_arguments_target_the_default_server() {
        let args = Args::try_parse_from(["keychain-load"]).unwrap();
        assert_eq!(args.targets, [DEFAULT_TARGET]);
        let server = ServerConfig::from_yaml(DEFAULT).unwrap();
        let expected = format!(
            "{}=http://{},http://{}",
            server.metrics.socket_addr(),
            server.rest,
            server.grpc
        );
        assert_eq!(DEFAULT_TARGET, expected);
    }

    #[test]
    fn given_targets_replace_the_default() {
        let args =
            Args::try_parse_from(["keychain-load", "--target", "a=http://x,http://y"]).unwrap();
        assert_eq!(args.targets, ["a=http://x,http://y"]);
    }
}
