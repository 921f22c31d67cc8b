//! The metrics endpoint's protections with real clients over loopback: HTTPS and mutual
//! TLS (a rustls client), certificate rotation, basic authentication, plain HTTP to the
//! TLS port, slow and idle clients, the connection and scrape bounds, unread bodies.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use keychain_metrics::config::{ClientAuth, MetricsConfig, TlsServerConfig, TlsVersion};
use keychain_metrics::server::MetricsServer;
use keychain_metrics::{Metrics, Op, Status};
use keychain_metrics_examples::certs;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

const OPS_LINE: &str =
    r#"keychain_operations_total{backend="pkcs8",operation="sign",status="success"} 1"#;

/// A directory of this test's own, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("km-sec-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start(config: &MetricsConfig) -> MetricsServer {
    let metrics = Metrics::new();
    metrics.record_operation(Op::Sign, "pkcs8", Status::Success, Duration::from_millis(2));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    MetricsServer::start_on(listener, config, metrics).unwrap()
}

fn tls_config(files: &certs::CertFiles, policy: ClientAuth) -> MetricsConfig {
    let mut tls = TlsServerConfig::new(&files.server_cert, &files.server_key);
    if policy.verifies() {
        tls.client_ca_file = Some(files.ca.clone());
    }
    tls.client_auth_type = policy;
    let mut config = MetricsConfig::default();
    config.tls_server_config = Some(tls);
    config
}

/// How a test client connects.
struct Client {
    ca: PathBuf,
    identity: Option<(PathBuf, PathBuf)>,
    versions: &'static [&'static rustls::SupportedProtocolVersion],
}

impl Client {
    fn trusting(ca: &Path) -> Self {
        Client {
            ca: ca.to_owned(),
            identity: None,
            versions: rustls::DEFAULT_VERSIONS,
        }
    }

    fn with_identity(mut self, cert: &Path, key: &Path) -> Self {
        self.identity = Some((cert.to_owned(), key.to_owned()));
        self
    }

    /// `GET /metrics` over HTTPS: the status and body, or why it failed.
    async fn get(&self, server: &MetricsServer) -> Result<(u16, String), String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&self.ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(self.versions)
            .unwrap()
            .with_root_certificates(roots);
        let config = match &self.identity {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    CertificateDer::pem_file_iter(cert)
                        .unwrap()
                        .map(Result::unwrap)
                        .collect(),
                    PrivateKeyDer::from_pem_file(key).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(server.local_addr())
            .await
            .map_err(|e| e.to_string())?;
        let name = ServerName::try_from("localhost").unwrap();
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        let request = http::Request::get("/metrics")
            .header("host", "localhost")
            .body(Empty::<bytes::Bytes>::new())
            .unwrap();
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok((
            status,
            String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        ))
    }
}

#[tokio::test]
async fn https_serves_the_exposition() {
    let dir = Dir::new("https");
    let files = certs::write(&dir.0).unwrap();
    let server = start(&tls_config(&files, ClientAuth::NoClientCert)).await;
    assert_eq!(server.scheme(), "https");
    let (status, body) = Client::trusting(&files.ca).get(&server).await.unwrap();
    assert_eq!(status, 200);
    assert!(body.lines().any(|l| l == OPS_LINE), "{body}");
    // A client that trusts another CA refuses the server.
    let other = certs::write(&dir.0.join("other")).unwrap();
    let e = Client::trusting(&other.ca).get(&server).await.unwrap_err();
    assert!(e.starts_with("handshake:"), "{e}");
}

#[tokio::test]
async fn mutual_tls_requires_a_certificate_of_the_client_ca() {
    let dir = Dir::new("mtls");
    let files = certs::write(&dir.0).unwrap();
    let other = certs::write(&dir.0.join("other")).unwrap();
    let server = start(&tls_config(&files, ClientAuth::RequireAndVerifyClientCert)).await;
    let client = Client::trusting(&files.ca);
    assert!(client.get(&server).await.is_err(), "no client certificate");
    let stranger = Client::trusting(&files.ca).with_identity(&other.client_cert, &other.client_key);
    assert!(
        stranger.get(&server).await.is_err(),
        "a certificate of another CA"
    );
    let prometheus = client.with_identity(&files.client_cert, &files.client_key);
    let (status, body) = prometheus.get(&server).await.unwrap();
    assert_eq!(status, 200);
    assert!(body.lines().any(|l| l == OPS_LINE), "{body}");
}

#[tokio::test]
async fn verify_if_given_admits_none_but_not_a_stranger() {
    let dir = Dir::new("ifgiven");
    let files = certs::write(&dir.0).unwrap();
    let other = certs::write(&dir.0.join("other")).unwrap();
    let server = start(&tls_config(&files, ClientAuth::VerifyClientCertIfGiven)).await;
    assert_eq!(
        Client::trusting(&files.ca).get(&server).await.unwrap().0,
        200
    );
    let own = Client::trusting(&files.ca).with_identity(&files.client_cert, &files.client_key);
    assert_eq!(own.get(&server).await.unwrap().0, 200);
    let stranger = Client::trusting(&files.ca).with_identity(&other.client_cert, &other.client_key);
    assert!(stranger.get(&server).await.is_err());
}

static TLS12_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
static TLS13_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

#[tokio::test]
async fn min_version_tls13_refuses_a_tls12_client() {
    let dir = Dir::new("tls13");
    let files = certs::write(&dir.0).unwrap();
    let mut config = tls_config(&files, ClientAuth::NoClientCert);
    if let Some(tls) = &mut config.tls_server_config {
        tls.min_version = TlsVersion::Tls13;
    }
    let server = start(&config).await;
    let mut old = Client::trusting(&files.ca);
    old.versions = TLS12_ONLY;
    assert!(old
        .get(&server)
        .await
        .unwrap_err()
        .starts_with("handshake:"));
    let mut new = Client::trusting(&files.ca);
    new.versions = TLS13_ONLY;
    assert_eq!(new.get(&server).await.unwrap().0, 200);
    // The default (TLS12) still speaks 1.2.
    let server = start(&tls_config(&files, ClientAuth::NoClientCert)).await;
    assert_eq!(old.get(&server).await.unwrap().0, 200);
}

#[tokio::test]
async fn a_rotated_certificate_is_served_without_a_restart() {
    let dir = Dir::new("rotate");
    let files = certs::write(&dir.0).unwrap();
    let server = start(&tls_config(&files, ClientAuth::NoClientCert)).await;
    let before = Client::trusting(&files.ca);
    assert_eq!(before.get(&server).await.unwrap().0, 200);
    // A renewal from another CA, each file renamed into place as cert managers do:
    // between the two renames the key does not match, and the old pair stays served.
    let renewed = certs::write(&dir.0.join("renewed")).unwrap();
    std::fs::rename(&renewed.server_key, &files.server_key).unwrap();
    assert_eq!(
        before.get(&server).await.unwrap().0,
        200,
        "half-rotated: the old pair"
    );
    std::fs::rename(&renewed.server_cert, &files.server_cert).unwrap();
    let after = Client::trusting(&renewed.ca);
    assert_eq!(after.get(&server).await.unwrap().0, 200);
    assert!(
        before.get(&server).await.is_err(),
        "the old certificate is no longer served"
    );
}

#[tokio::test]
async fn plain_http_to_the_tls_port_is_told_to_use_https() {
    let dir = Dir::new("plain");
    let files = certs::write(&dir.0).unwrap();
    let server = start(&tls_config(&files, ClientAuth::RequireAndVerifyClientCert)).await;
    let response = reqwest::get(format!("http://{}/metrics", server.local_addr()))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(
        response.text().await.unwrap(),
        "Client sent an HTTP request to an HTTPS server.\n"
    );
}

#[tokio::test]
async fn bad_tls_files_fail_the_start_and_name_the_field() {
    let dir = Dir::new("badfiles");
    let files = certs::write(&dir.0).unwrap();
    let other = certs::write(&dir.0.join("other")).unwrap();
    let error = |config: &MetricsConfig| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let rt = tokio::runtime::Handle::current();
        let _guard = rt.enter();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        MetricsServer::start_on(listener, config, Metrics::new())
            .unwrap_err()
            .to_string()
    };
    let mut config = tls_config(&files, ClientAuth::NoClientCert);
    let tls = config.tls_server_config.as_mut().unwrap();
    tls.key_file = other.server_key.clone();
    let e = error(&config);
    assert!(
        e.starts_with(&format!(
            "metrics.tls_server_config.key_file: {}: cannot serve it with {}",
            other.server_key.display(),
            files.server_cert.display()
        )),
        "{e}"
    );
    let tls = config.tls_server_config.as_mut().unwrap();
    tls.key_file = files.server_key.clone();
    tls.cert_file = dir.0.join("missing.crt");
    assert!(error(&config).starts_with(&format!(
        "cannot read {}",
        dir.0.join("missing.crt").display()
    )));
    std::fs::write(dir.0.join("empty.crt"), "not a certificate\n").unwrap();
    config.tls_server_config.as_mut().unwrap().cert_file = dir.0.join("empty.crt");
    assert_eq!(
        error(&config),
        format!(
            "metrics.tls_server_config.cert_file: {}: holds no PEM certificate",
            dir.0.join("empty.crt").display()
        )
    );
    let yaml =
        "metrics: { tls_server_config: { cert_file: a.crt, key_file: a.key, min_version: TLS11 } }";
    assert_eq!(
        MetricsConfig::from_yaml(yaml).unwrap_err().to_string(),
        "metrics.tls_server_config.min_version: \"TLS11\": not supported: TLS 1.0 and 1.1 are broken; use TLS12 or TLS13"
    );
    let yaml = "metrics: { tls_server_config: { cert_file: a.crt, key_file: a.key, client_auth_type: RequireAnyClientCert, client_ca_file: ca.crt } }";
    assert!(MetricsConfig::from_yaml(yaml)
        .unwrap_err()
        .to_string()
        .starts_with(
            "metrics.tls_server_config.client_auth_type: \"RequireAnyClientCert\": not supported"
        ));
}

#[test]
fn tls_config_reads_the_exporter_toolkit_shape() {
    let yaml = "metrics:\n  tls_server_config:\n    cert_file: /etc/m.crt\n    key_file: /etc/m.key\n    client_ca_file: /etc/ca.crt\n    min_version: TLS13\n";
    let config = MetricsConfig::from_yaml(yaml).unwrap();
    let tls = config.tls_server_config.unwrap();
    assert_eq!(tls.cert_file, Path::new("/etc/m.crt"));
    assert_eq!(tls.key_file, Path::new("/etc/m.key"));
    assert_eq!(
        tls.client_ca_file.as_deref(),
        Some(Path::new("/etc/ca.crt"))
    );
    // A client CA alone means mutual TLS, as in the exporter toolkit.
    assert_eq!(tls.client_auth_type, ClientAuth::RequireAndVerifyClientCert);
    assert_eq!(tls.min_version, TlsVersion::Tls13);
    let e = MetricsConfig::from_yaml("metrics: { tls_server_config: { cert_file: a.crt } }")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "metrics.tls_server_config.key_file: (missing): must name a PEM file"
    );
    let e = MetricsConfig::from_yaml(
        "metrics: { tls_server_config: { cert_file: a, key_file: b, cipher_suites: [x] } }",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("metrics.tls_server_config.cipher_suites: unknown field `cipher_suites`"),
        "{e}"
    );
}

fn basic_config(cost: u32) -> MetricsConfig {
    let mut config = MetricsConfig::default();
    let hash = bcrypt::hash("scrape-pw", cost).unwrap();
    config.basic_auth_users = [("prometheus".to_owned(), hash)].into();
    config
}

#[tokio::test]
async fn basic_auth_admits_only_configured_users() {
    let server = start(&basic_config(4)).await;
    let url = format!("http://{}/metrics", server.local_addr());
    let client = reqwest::Client::new();
    let status = |user: Option<(&str, &str)>| {
        let mut request = client.get(&url);
        if let Some((u, p)) = user {
            request = request.basic_auth(u, Some(p));
        }
        async move { request.send().await.unwrap() }
    };
    let ok = status(Some(("prometheus", "scrape-pw"))).await;
    assert_eq!(ok.status().as_u16(), 200);
    assert!(ok.text().await.unwrap().lines().any(|l| l == OPS_LINE));
    for refused in [
        Some(("prometheus", "scrape-PW")),
        Some(("grafana", "scrape-pw")),
        None,
    ] {
        // Each verification that fails starts a back-off (100 ms at first): wait it out.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let response = status(refused).await;
        assert_eq!(response.status().as_u16(), 401, "{refused:?}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Basic realm=\"metrics\""
        );
    }
    let bad = MetricsConfig::from_yaml("metrics: { basic_auth_users: { prometheus: hunter2 } }")
        .unwrap_err()
        .to_string();
    assert_eq!(
        bad,
        "metrics.basic_auth_users: \"prometheus\": the value must be a bcrypt hash, e.g. from `htpasswd -nBC 10 user`"
    );
}

/// Reads until the peer closes; `None` if it is still open after `limit`.
fn closed_within(stream: &mut std::net::TcpStream, limit: Duration) -> Option<Vec<u8>> {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut got = Vec::new();
    match stream.read_to_end(&mut got) {
        Ok(_) => Some(got),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Some(got),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_request_is_cut_after_the_header_timeout() {
    let server = start(&MetricsConfig::default()).await;
    let addr = server.local_addr();
    let took = tokio::task::spawn_blocking(move || {
        let mut slow = std::net::TcpStream::connect(addr).unwrap();
        slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        let started = Instant::now();
        let got = closed_within(&mut slow, Duration::from_secs(30));
        (got, started.elapsed())
    })
    .await
    .unwrap();
    let (got, elapsed) = took;
    assert!(got.is_some(), "still open after 30 s");
    assert!(elapsed >= Duration::from_secs(9), "cut after {elapsed:?}");
    // A whole request is still answered.
    let ok = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_bound_the_idlest_connection_makes_room() {
    let server = start(&MetricsConfig::default()).await;
    let addr = server.local_addr();
    let (mut held, answer) = tokio::task::spawn_blocking(move || {
        // 256 connections that send nothing fill the bound (as stuck clients would).
        let mut held = vec![std::net::TcpStream::connect(addr).unwrap()];
        std::thread::sleep(Duration::from_millis(100)); // the first is the idlest
        held.extend((1..256).map(|_| std::net::TcpStream::connect(addr).unwrap()));
        std::thread::sleep(Duration::from_millis(300));
        // Another client still gets its answer…
        let mut scraper = std::net::TcpStream::connect(addr).unwrap();
        scraper
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let answer = closed_within(&mut scraper, Duration::from_secs(5)).unwrap_or_default();
        (held, String::from_utf8_lossy(&answer).into_owned())
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
    assert!(answer.contains(OPS_LINE), "{answer}");
    // …because the first connection, the idlest, was closed for it.
    let first = closed_within(&mut held[0], Duration::from_secs(2));
    assert_eq!(
        first,
        Some(Vec::new()),
        "the idlest connection is still open"
    );
}

/// Sends pipelined scrapes and never reads the answers, until a write fails: the time
/// from the start to that failure, or `None` if the server still holds the connection
/// after `limit`.
fn pipeline_until_cut(addr: std::net::SocketAddr, limit: Duration) -> Option<Duration> {
    let mut stuck = std::net::TcpStream::connect(addr).unwrap();
    stuck
        .set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let requests = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(64);
    let started = Instant::now();
    while started.elapsed() < limit {
        match stuck.write(&requests) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(started.elapsed()), // reset or broken: closed by the server
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_cut_after_the_write_timeout() {
    let server = start(&MetricsConfig::default()).await;
    let addr = server.local_addr();
    let cut =
        tokio::task::spawn_blocking(move || pipeline_until_cut(addr, Duration::from_secs(40)))
            .await
            .unwrap();
    // Its answers fill the socket buffers within a second or so; then 10 s of no progress.
    let cut = cut.expect("still held after 40 s");
    assert!(cut >= Duration::from_secs(10), "cut after {cut:?}");
    let ok = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_closes_its_connection() {
    let server = start(&basic_config(4)).await;
    let addr = server.local_addr();
    let answer = tokio::task::spawn_blocking(move || {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        // 100 pipelined requests without credentials: one answer, then the close.
        let requests = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(100);
        let _ = c.write_all(&requests);
        closed_within(&mut c, Duration::from_secs(5)).unwrap_or_default()
    })
    .await
    .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
    assert!(
        answer.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
        "{answer}"
    );
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_connections_that_never_finish() {
    let server = start(&MetricsConfig::default()).await;
    let addr = server.local_addr();
    let stuck =
        tokio::task::spawn_blocking(move || pipeline_until_cut(addr, Duration::from_secs(8)));
    tokio::time::sleep(Duration::from_secs(2)).await; // the connection is stuck by now
    let started = Instant::now();
    server.shutdown().await.unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "shutdown took {took:?}");
    // Cut by the shutdown (about 2 s in), not by the write timeout (10 s in).
    let cut = stuck
        .await
        .unwrap()
        .expect("the connection outlived the shutdown");
    assert!(cut < Duration::from_secs(5), "cut after {cut:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_refused_cheaply_and_a_verified_scraper_never_waits() {
    // Cost 12: each verification takes long enough for the whole flood to arrive.
    let server = start(&basic_config(12)).await;
    let url = format!("http://{}/metrics", server.local_addr());
    let client = reqwest::Client::new();
    let scrape = |user: &str, password: &str| {
        let request = client.get(&url).basic_auth(user, Some(password));
        async move { request.send().await.unwrap() }
    };
    assert_eq!(
        scrape("prometheus", "scrape-pw").await.status().as_u16(),
        200
    );
    // A flood of hang-ups: each sends a bad password, then closes at once.
    let addr = server.local_addr();
    tokio::task::spawn_blocking(move || {
        for _ in 0..50 {
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            let _ = c.write_all(
                b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic Og==\r\n\r\n",
            );
        }
    })
    .await
    .unwrap();
    // And concurrent wrong passwords, for known and unknown users.
    let flood: Vec<_> = (0..12)
        .map(|i| {
            let user = if i % 2 == 0 { "prometheus" } else { "nobody" };
            tokio::spawn(scrape(user, "wrong"))
        })
        .collect();
    // The verified scraper is answered, not held back by the back-off.
    assert_eq!(
        scrape("prometheus", "scrape-pw").await.status().as_u16(),
        200
    );
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for attempt in flood {
        let response = attempt.await.unwrap();
        let status = response.status().as_u16();
        if status != 401 {
            assert_eq!(response.headers()["retry-after"], "1", "{status}");
        }
        *by_status.entry(status).or_default() += 1;
    }
    // Two verifications run at once, and the hang-ups' own ones start the back-off:
    // at most two of these ran bcrypt (a 401); the others were refused without it.
    // (a `503` would be the bound on scrapes in progress, which the cheap refusals
    // rarely meet).
    assert!(
        by_status.get(&401).copied().unwrap_or(0) <= 2,
        "{by_status:?}"
    );
    assert!(
        by_status.get(&429).copied().unwrap_or(0) >= 10 - by_status.get(&503).copied().unwrap_or(0),
        "{by_status:?}"
    );
    assert!(
        by_status.keys().all(|s| [401, 429, 503].contains(s)),
        "{by_status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_is_never_read() {
    let server = start(&MetricsConfig::default()).await;
    let addr = server.local_addr();
    let answers = tokio::task::spawn_blocking(move || {
        ["POST", "GET"].map(|method| {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            let head = format!(
                "{method} /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).unwrap();
            let started = Instant::now();
            let got = closed_within(&mut stream, Duration::from_secs(5)).unwrap_or_default();
            (
                String::from_utf8_lossy(&got).into_owned(),
                started.elapsed(),
            )
        })
    })
    .await
    .unwrap();
    let [(post, post_took), (get, get_took)] = answers;
    assert!(
        post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{post}"
    );
    assert!(
        get.starts_with("HTTP/1.1 200 OK\r\n") && get.contains(OPS_LINE),
        "{get}"
    );
    // Answered and closed without waiting for the 100 MB.
    assert!(post_took < Duration::from_secs(4) && get_took < Duration::from_secs(4));
}
