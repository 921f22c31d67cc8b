//! `TrackedIncoming` when the process is out of file descriptors: it waits and tries
//! again instead of handing tonic an error it would retry at once, spinning a core.
//! In a test binary of its own, as it lowers the process' descriptor limit.

mod common;

use std::time::Duration;

use futures_util::StreamExt;
use keychain_metrics::listener::{TrackedIncoming, ACCEPT_BACKOFF};
use keychain_metrics::{Metrics, Protocol};

fn set_descriptor_limit(limit: u64) {
    let rlimit = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit.max(4096),
    };
    // SAFETY: setrlimit reads the struct it is given, which lives across the call.
    let status = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) };
    assert_eq!(status, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

#[tokio::test]
async fn out_of_descriptors_it_backs_off_then_accepts() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = Metrics::new();
    let mut incoming = TrackedIncoming::new(listener, metrics.clone(), Protocol::Grpc);
    set_descriptor_limit(64);
    // Clients take every descriptor left; their connections wait in the backlog.
    let mut clients = Vec::new();
    loop {
        match std::net::TcpStream::connect(addr) {
            Ok(client) => clients.push(client),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break,
            Err(e) => panic!("connect: {e}"),
        }
    }
    assert!(clients.len() > 10, "{} clients", clients.len());
    // Out of descriptors, the stream yields no error: it waits.
    let out = tokio::time::timeout(10 * ACCEPT_BACKOFF, incoming.next()).await;
    if let Ok(item) = out {
        let error = item.and_then(Result::err);
        panic!("yielded while out of descriptors: {error:?}");
    }
    // Descriptors back: a waiting connection is accepted and counted.
    clients.truncate(clients.len() - 4);
    let next = tokio::time::timeout(Duration::from_secs(2), incoming.next()).await;
    let Ok(Some(Ok(_conn))) = next else {
        panic!("not accepted once descriptors were back");
    };
    let open = common::value(
        &metrics.encode_text(),
        "keychain_tcp_connections",
        &[("protocol", "grpc")],
    );
    assert_eq!(open, Some(1.0));
}
