//! The attacks, each bounded in count and time and aimed at loopback only.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use keychain_metrics_examples::keystore::MAX_ARCHIVE_KEYS;
use keychain_metrics_examples::pb::{self, keychain_client::KeychainClient};
use keychain_metrics_examples::rest::ARCHIVE_LIMIT;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A runtime for the attacks: one thread, at nice 10.
pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .on_thread_start(|| {
            // SAFETY: gettid and setpriority take no pointers; this thread lowers its own
            // priority (a failure leaves it as it was).
            unsafe {
                let tid = libc::gettid() as libc::id_t;
                libc::setpriority(libc::PRIO_PROCESS, tid, 10);
            }
        })
        .build()
}

/// Connects, sends a scrape with a bad password (`:` in base64: an empty user, so the
/// decoy hash) and hangs up at once, `per_second` times a second until `until`. The
/// number sent.
pub(crate) async fn login_flood(
    metrics: SocketAddr,
    per_second: u32,
    until: Instant,
    on: bool,
) -> u64 {
    const REQUEST: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic Og==\r\n\r\n";
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / per_second);
    let mut sent = 0;
    while on && Instant::now() < until {
        ticks.tick().await;
        if let Ok(mut c) = TcpStream::connect(metrics).await {
            if c.write_all(REQUEST).await.is_ok() {
                sent += 1;
            }
        } // dropped: closed before any answer
    }
    sent
}

/// What a never-reading client sends to each port: requests pipelined back to back.
pub(crate) enum Stuck {
    /// HTTP/1.1 requests to `path`.
    Http(&'static str),
    /// Nothing at all (a gRPC client that never sends its preface).
    Silent,
}

/// `count` connections to `addr` that send their requests until the socket is full
/// (or for at most a second each) and then never read: held until dropped.
pub(crate) async fn stuck(addr: SocketAddr, what: Stuck, count: usize) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(count);
    for _ in 0..count {
        let Ok(mut c) = TcpStream::connect(addr).await else {
            continue;
        };
        if let Stuck::Http(path) = what {
            let requests = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").repeat(64);
            let deadline = Instant::now() + Duration::from_secs(1);
            while Instant::now() < deadline {
                let wrote = tokio::time::timeout(
                    Duration::from_millis(50),
                    c.write_all(requests.as_bytes()),
                );
                if !matches!(wrote.await, Ok(Ok(()))) {
                    break; // full (or cut): it is stuck now
                }
            }
        }
        held.push(c);
    }
    held
}

/// An archive of about 64 MiB of as many keys as a restore takes, each a 328-byte
/// bogus PEM; built before the attack, so that building it is not measured.
pub(crate) fn large_archive() -> pb::BackupArchive {
    let keys = (ARCHIVE_LIMIT - 1024) / 350; // 344 bytes each on the wire
    assert!(keys <= MAX_ARCHIVE_KEYS);
    let bogus = "-----BEGIN PRIVATE KEY-----\n".to_owned() + &"A".repeat(300);
    pb::BackupArchive {
        backend: "memory".into(),
        keys: (0..keys)
            .map(|i| pb::BackupKey {
                id: format!("{i:08}"),
                pem: bogus.clone(),
            })
            .collect(),
    }
}

/// Two restores of about 64 MiB over gRPC. One of 33 million empty entries, 2 bytes
/// each on the wire and 48 in memory once decoded (1.6 GB): refused as its keys are
/// counted. Then `large` ([`large_archive`]): read whole, then refused as invalid.
/// Their gRPC codes and times.
pub(crate) async fn restores(
    grpc: &str,
    large: pb::BackupArchive,
) -> Result<[(tonic::Code, Duration); 2], String> {
    let channel = tonic::transport::Channel::from_shared(grpc.to_owned())
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("cannot reach {grpc}: {e}"))?;
    let code = |result: Result<_, tonic::Status>, started: Instant| {
        let code = result.map_or_else(|s: tonic::Status| s.code(), |()| tonic::Code::Ok);
        (code, started.elapsed())
    };
    let started = Instant::now();
    let mut raw = tonic::client::Grpc::new(channel.clone());
    raw.ready().await.map_err(|e| e.to_string())?;
    let tiny = raw
        .unary(
            tonic::Request::new(EmptyEntries(ARCHIVE_LIMIT / 2 - 16)),
            http::uri::PathAndQuery::from_static("/keychain.v1.Keychain/Restore"),
            tonic_prost::ProstCodec::<EmptyEntries, pb::RestoreResponse>::default(),
        )
        .await;
    let tiny = code(tiny.map(|_| ()), started);
    let started = Instant::now();
    let large = KeychainClient::new(channel)
        .max_encoding_message_size(ARCHIVE_LIMIT)
        .restore(large)
        .await;
    Ok([tiny, code(large.map(|_| ()), started)])
}

/// A `BackupArchive` of this many empty `keys` entries, encoded as it goes rather than
/// built: the attack must not cost the attacker what it would cost the server.
#[derive(Debug, Default, Clone, PartialEq)]
struct EmptyEntries(usize);

impl prost::Message for EmptyEntries {
    fn encode_raw(&self, buf: &mut impl bytes::BufMut) {
        const BLOCK: usize = 4096;
        let entries = [0x12u8, 0x00].repeat(BLOCK); // field 2, length-delimited, empty
        for _ in 0..self.0 / BLOCK {
            buf.put_slice(&entries);
        }
        buf.put_slice(&entries[..2 * (self.0 % BLOCK)]);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: prost::encoding::WireType,
        buf: &mut impl bytes::Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        prost::encoding::skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        2 * self.0
    }

    fn clear(&mut self) {
        self.0 = 0;
    }
}
