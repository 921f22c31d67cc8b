//! Attacks a running keychain server on loopback and says, as numbers, whether it held:
//! the end-to-end check of `tests/e2e/attack.sh`.
//!
//! While a scraper with the right password scrapes every second and a client signs with
//! a pkcs8 key 40 times a second, it runs three attacks at once: a flood of hang-up
//! requests with a bad password to the metrics port, 300 never-reading pipelined
//! connections to it, and two 64 MiB restores over gRPC. It then opens never-reading
//! connections to all three ports, sends the server SIGINT and times its exit. It passes
//! when scrapes succeed (at least 99 % within 2 s), the signing p99 stays within 3× its
//! quiet value, the server's RSS stays below 256 MB and it is gone within 10 s.

mod attacks;
mod probes;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;

use attacks::Stuck;

/// Attacks a keychain server (loopback only) and checks that it holds.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The server's process id (for its RSS and the SIGINT).
    #[arg(long)]
    pid: i32,
    /// Its metrics port.
    #[arg(long)]
    metrics: u16,
    /// Its REST port.
    #[arg(long)]
    rest: u16,
    /// Its gRPC port.
    #[arg(long)]
    grpc: u16,
    /// The scraper's basic-auth user and password, `user:password`.
    #[arg(long)]
    scraper: String,
    /// Seconds of quiet load before the attacks, for the baseline.
    #[arg(long, default_value_t = 10)]
    quiet: u64,
    /// Seconds of attack.
    #[arg(long, default_value_t = 20)]
    attack: u64,
    /// Hang-up logins a second.
    #[arg(long, default_value_t = 400)]
    flood_rate: u32,
    /// Leaves out attacks, to see what each costs: `flood`, `stuck`, `restores`.
    #[arg(long)]
    skip: Vec<String>,
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    match run(&args).await {
        Ok(failures) if failures.is_empty() => println!("attack: 1 passed, 0 failed"),
        Ok(failures) => {
            for f in &failures {
                println!("attack: FAIL: {f}");
            }
            println!("attack: 0 passed, 1 failed");
            std::process::exit(1);
        }
        Err(e) => {
            println!("attack: FAIL: {e}\nattack: 0 passed, 1 failed");
            std::process::exit(1);
        }
    }
}

async fn run(args: &Args) -> Result<Vec<String>, String> {
    let (user, password) = args
        .scraper
        .split_once(':')
        .ok_or("--scraper is user:password")?;
    let rest = format!("http://127.0.0.1:{}", args.rest);
    let signer = probes::Signer::new(&rest).await?;
    let large = attacks::large_archive();
    let rss = probes::Rss::watch(args.pid);

    // Quiet: the baseline.
    let quiet_until = Instant::now() + Duration::from_secs(args.quiet);
    let scrapes = tokio::spawn(probes::scrape(
        format!("http://127.0.0.1:{}/metrics", args.metrics),
        (user.to_owned(), password.to_owned()),
        quiet_until + Duration::from_secs(args.attack),
    ));
    let quiet = signer.sign_until(quiet_until).await;
    let quiet_rss = rss.max();

    // The attacks, with the same scraping and signing going on. They run on threads of
    // their own at a lower priority, as if from another machine: what is measured is
    // what they cost the server, not what the attacker's own work costs the cores the
    // two share here.
    let attacker = attacks::runtime().map_err(|e| format!("cannot start the attacker: {e}"))?;
    let until = Instant::now() + Duration::from_secs(args.attack);
    let metrics = loopback(args.metrics);
    let on = |attack: &str| !args.skip.iter().any(|s| s == attack);
    let (rate, stuck_count) = (args.flood_rate, if on("stuck") { 300 } else { 0 });
    let flood = attacker.spawn(attacks::login_flood(metrics, rate, until, on("flood")));
    let stuck = attacker.spawn(attacks::stuck(
        metrics,
        Stuck::Http("/metrics"),
        stuck_count,
    ));
    let restores = attacker.spawn({
        let grpc = format!("http://127.0.0.1:{}", args.grpc);
        let on = on("restores");
        async move {
            match on {
                true => attacks::restores(&grpc, large).await,
                false => Ok([(tonic::Code::InvalidArgument, Duration::ZERO); 2]),
            }
        }
    });
    let attacked = signer.sign_until(until).await;
    let flooded = flood.await.map_err(|e| e.to_string())?;
    let held = stuck.await.map_err(|e| e.to_string())?;
    let [(tiny, tiny_took), (large, large_took)] = restores.await.map_err(|e| e.to_string())??;
    let scrapes = scrapes.await.map_err(|e| e.to_string())?;
    attacker.shutdown_background();

    // Shutdown with stuck clients on every port.
    let mut stuck_at_exit = attacks::stuck(metrics, Stuck::Http("/metrics"), 100).await;
    let health = "/v1/memory/health";
    stuck_at_exit.extend(attacks::stuck(loopback(args.rest), Stuck::Http(health), 100).await);
    stuck_at_exit.extend(attacks::stuck(loopback(args.grpc), Stuck::Silent, 100).await);
    let exited = probes::interrupt(args.pid, Duration::from_secs(15)).await;
    let peak_rss = rss.max();
    drop(stuck_at_exit);

    let quiet_p99 = probes::p99(&quiet);
    let attacked_p99 = probes::p99(&attacked);
    let scraped_ok = scrapes
        .iter()
        .filter(|s| s.is_some_and(|d| d <= Duration::from_secs(2)));
    let share = scraped_ok.count() as f64 / scrapes.len().max(1) as f64;
    println!(
        "attack: quiet: {} signs, p99 {quiet_p99:?}, RSS {} MB",
        quiet.len(),
        quiet_rss >> 20
    );
    println!(
        "attack: {flooded} hang-up bad logins, {} never-reading connections; 64 MiB restores \
         answered {tiny:?} in {tiny_took:.2?} (33 M empty keys), {large:?} in {large_took:.2?} \
         (191 k bogus keys)",
        held.len()
    );
    println!(
        "attack: under attack: {} signs, p99 {attacked_p99:?} ({:.2}× quiet); {}/{} scrapes within 2 s ({:.1} %); peak RSS {} MB",
        attacked.len(),
        attacked_p99.as_secs_f64() / quiet_p99.as_secs_f64().max(1e-9),
        (share * scrapes.len() as f64).round(),
        scrapes.len(),
        100.0 * share,
        peak_rss >> 20
    );
    match exited {
        Some(took) => println!("attack: gone {took:?} after SIGINT, 300 stuck connections open"),
        None => println!("attack: still running 15 s after SIGINT"),
    }

    let mut failures = Vec::new();
    if share < 0.99 {
        failures.push(format!(
            "only {:.1} % of scrapes succeeded within 2 s",
            100.0 * share
        ));
    }
    if attacked.len() < quiet.len() / 2 || attacked_p99 > 3 * quiet_p99 {
        failures.push(format!(
            "signing p99 went from {quiet_p99:?} to {attacked_p99:?}"
        ));
    }
    if peak_rss >= 256 << 20 {
        failures.push(format!("RSS reached {} MB", peak_rss >> 20));
    }
    if exited.is_none_or(|took| took > Duration::from_secs(10)) {
        failures.push(format!("not gone within 10 s of SIGINT ({exited:?})"));
    }
    if [tiny, large] != [tonic::Code::InvalidArgument; 2] {
        failures.push(format!(
            "the restores were answered {tiny:?} and {large:?}, not refused"
        ));
    }
    if (on("flood") && flooded == 0) || (on("stuck") && held.is_empty()) {
        failures.push("the attacks did not reach the server".into());
    }
    Ok(failures)
}
