//! The instrumented keychain server: REST, gRPC and the metrics endpoint.
//!
//! `cargo run -p keychain-metrics-examples --bin keychain-server` serves REST on
//! 127.0.0.1:8080, gRPC on 127.0.0.1:50051 and metrics on 127.0.0.1:9090/metrics.

use std::path::PathBuf;

use clap::Parser;
use keychain_metrics::collector::ResourceCollector;
use keychain_metrics::config::OtlpConfig;
use keychain_metrics::grpc::GrpcMetricsLayer;
use keychain_metrics::listener::{TrackedIncoming, TrackedListener};
use keychain_metrics::server::MetricsServer;
use keychain_metrics::{Metrics, Protocol};
use keychain_metrics_examples::config::{ServerConfig, DEFAULT};
use keychain_metrics_examples::keystore::{self, KeyStore};
use keychain_metrics_examples::{grpc, private, rest, telemetry, Backends};

#[global_allocator]
static ALLOC: keychain_metrics::alloc::CountingAllocator<std::alloc::System> =
    keychain_metrics::alloc::CountingAllocator::new(std::alloc::System);

/// A client whose socket takes nothing for this long is cut: one that never reads its
/// answers would otherwise hold its connection and buffers until shutdown.
const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// An instrumented keychain server.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// YAML configuration (the metrics block, plus rest.address and grpc.address).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Overrides the REST port.
    #[arg(long)]
    rest_port: Option<u16>,
    /// Overrides the gRPC port.
    #[arg(long)]
    grpc_port: Option<u16>,
    /// Overrides the metrics port.
    #[arg(long)]
    metrics_port: Option<u16>,
    /// Where the pkcs8 backend keeps its key files: created 0700 if missing, refused if
    /// another user owns it or may enter it (default: `keys` in a new private temporary
    /// directory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Where finished spans are appended as JSON lines, 0600, never through a symbolic
    /// link (default: `spans.jsonl` in that new temporary directory).
    #[arg(long)]
    spans: Option<PathBuf>,
    /// The baseline of `benches/overhead.sh`: no telemetry at all. Metrics disabled and
    /// not served, no HTTP or gRPC metrics layer, no request spans and no span exporter,
    /// no collector, no `metrics` facade recorder. What remains is the attribute's check
    /// of a disabled instance (about a nanosecond a call) and the listeners' connection
    /// count (per connection, not per request), kept for their write timeout.
    #[arg(long)]
    bare: bool,
    /// Request spans and their exporter left out, metrics as configured: beside `--bare`,
    /// what tells the metrics' own cost from the spans' (`benches/overhead.sh`).
    #[arg(long)]
    no_spans: bool,
}

fn main() {
    // Keystore work (crypto, fsync) runs on a small blocking pool whose threads stay:
    // more threads would not make the cores faster, and threads that come and go make
    // glibc create allocator arenas as the run goes on, so RSS would creep up although
    // the live heap does not (tests/e2e/soak.sh measures both).
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads((4 * cores).max(8))
        .thread_keep_alive(std::time::Duration::from_secs(3600))
        .build();
    let result = match runtime {
        Ok(runtime) => {
            let result = runtime.block_on(run(Args::parse()));
            // Blocking jobs still running (a large restore, a bcrypt verification)
            // would otherwise keep the process alive after `run` returned.
            runtime.shutdown_timeout(std::time::Duration::from_secs(1));
            result
        }
        Err(e) => Err(e.into()),
    };
    if let Err(e) = result {
        eprintln!("keychain-server: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let text = match &args.config {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        None => DEFAULT.to_owned(),
    };
    let mut config = ServerConfig::from_yaml(&text)?;
    if let Some(p) = args.rest_port {
        config.rest.set_port(p);
    }
    if let Some(p) = args.grpc_port {
        config.grpc.set_port(p);
    }
    if let Some(p) = args.metrics_port {
        config.metrics.port = p;
    }
    // Created fresh when needed: a name in /tmp that another local user could guess,
    // and make first, is never used.
    let fresh = match (&args.data_dir, &args.spans) {
        (Some(_), Some(_)) => None,
        _ => Some(private::fresh_dir("keychain-server")?),
    };
    let data_dir = args
        .data_dir
        .or_else(|| fresh.as_ref().map(|dir| dir.join("keys")))
        .ok_or("no data directory")?;
    let spans = args
        .spans
        .or_else(|| fresh.as_ref().map(|dir| dir.join("spans.jsonl")))
        .ok_or("no span file")?;
    let spans_on = !(args.bare || args.no_spans);
    let tracer = match spans_on {
        true => Some(telemetry::init(&spans)?),
        false => None,
    };

    // Built from the configuration (native histograms on by default) and installed as
    // the instance the attribute records into.
    let metrics = config.metrics.metrics_builder().build()?;
    Metrics::install_global(metrics.clone())
        .map_err(|_| "the global metrics instance was in use before start-up")?;
    if args.bare {
        config.metrics.enabled = false;
    }
    if !config.metrics.enabled {
        metrics.disable();
    }
    // The storage's own metrics, and any dependency's, through the `metrics` facade.
    if !args.bare {
        metrics
            .install_recorder()
            .map_err(|_| "a metrics recorder was installed before start-up")?;
    }
    keystore::describe_metrics();
    metrics::describe_counter!(
        "keychain_restored_keys",
        "Keys written by restores, by backend."
    );
    let backends = Backends::new(
        KeyStore::pkcs8(&data_dir, metrics.clone())?,
        KeyStore::memory(metrics.clone()),
    );

    // The first reading before the endpoint serves: a scrape right after a restart
    // sees every backend's series and true gauges, never a gap for absent() alerts.
    let collector = match args.bare {
        true => None,
        false => Some(
            ResourceCollector::new(metrics.clone())
                .interval(config.metrics.collector_interval)
                .backend(backends.pkcs8.clone())
                .backend(backends.memory.clone())
                .start()?,
        ),
    };
    if let Some(collector) = &collector {
        collector.ready().await;
    }
    // Pushes as well when the configuration or the OTEL_* variables say where.
    let otlp = match config.metrics.otlp.clone().or_else(OtlpConfig::from_env) {
        Some(otlp) => Some(metrics.push_otlp(&otlp)?),
        None => None,
    };
    if otlp.is_some() {
        println!("keychain-server: pushing metrics with OTLP");
    }
    let metrics_server = if config.metrics.enabled {
        Some(MetricsServer::start(&config.metrics, metrics.clone()).await?)
    } else {
        None
    };

    let rest_listener = tokio::net::TcpListener::bind(config.rest)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.rest))?;
    let grpc_listener = tokio::net::TcpListener::bind(config.grpc)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.grpc))?;
    println!(
        "keychain-server: REST on http://{}",
        rest_listener.local_addr()?
    );
    println!(
        "keychain-server: gRPC on http://{}",
        grpc_listener.local_addr()?
    );
    if let Some(server) = &metrics_server {
        println!(
            "keychain-server: metrics on {}://{}{}",
            server.scheme(),
            server.local_addr(),
            config.metrics.path
        );
        if config.metrics.ui.enabled {
            println!(
                "keychain-server: live page on {}://{}{}",
                server.scheme(),
                server.local_addr(),
                config.metrics.ui.path
            );
        }
        if config.metrics.is_loopback_only() {
            eprintln!(
                "keychain-server: note: metrics listen on loopback only; a Prometheus on \
                 another host cannot scrape them (set metrics.address, e.g. 0.0.0.0)"
            );
        }
    }
    println!("keychain-server: pkcs8 keys in {}", data_dir.display());
    if args.bare {
        println!("keychain-server: bare: no metrics, spans or collector (the baseline)");
    } else if spans_on {
        println!("keychain-server: spans in {}", spans.display());
    }

    // RSS back near its baseline after a storm of connections; see the module.
    keychain_metrics_examples::memory::spawn_release_policy();

    let shutdown = tokio_util::sync::CancellationToken::new();
    // The request's span is entered around the metrics layer, which then sees its trace.
    let app = match (args.bare, spans_on) {
        (true, _) => rest::router(backends.clone(), None),
        (false, false) => rest::router(backends.clone(), Some(metrics.clone())),
        (false, true) => rest::router(backends.clone(), Some(metrics.clone()))
            .layer(axum::middleware::from_fn(telemetry::http_span)),
    };
    let rest_task = tokio::spawn({
        let listener = TrackedListener::new(rest_listener, metrics.clone(), Protocol::Http)
            .write_timeout(WRITE_TIMEOUT);
        let stop = shutdown.clone();
        rest::serve(listener, app, stop.cancelled_owned())
    });
    let grpc_task = tokio::spawn({
        let incoming = TrackedIncoming::new(grpc_listener, metrics.clone(), Protocol::Grpc)
            .write_timeout(WRITE_TIMEOUT);
        let service = grpc::server(backends.clone());
        let stop = shutdown.clone();
        let bare = args.bare;
        async move {
            // Two servers of two types: the layer changes the response body's type.
            let mut builder = tonic::transport::Server::builder();
            if bare {
                return builder
                    .add_service(service)
                    .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
                    .await;
            }
            if spans_on {
                builder = builder.trace_fn(telemetry::grpc_span);
            }
            builder
                .layer(GrpcMetricsLayer::new(metrics.clone()))
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
                .await
        }
    });

    tokio::signal::ctrl_c().await?;
    println!("keychain-server: shutting down");
    shutdown.cancel();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        let _ = rest_task.await;
        let _ = grpc_task.await;
    })
    .await;
    if let Some(collector) = collector {
        collector.stop().await;
    }
    if let Some(otlp) = otlp {
        otlp.shutdown().await; // a last push, within its timeout
    }
    if let Some(server) = metrics_server {
        server.shutdown().await?;
    }
    // Flushes the spans still buffered.
    if let Some(tracer) = tracer {
        let _ = tracer.shutdown();
    }
    Ok(())
}
