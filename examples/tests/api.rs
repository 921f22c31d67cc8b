//! The example server's APIs over loopback: bad requests get clear 4xx or gRPC errors
//! and never crash the server; a backup restores exactly the same key set.

use futures_util::StreamExt;
use keychain_metrics::Metrics;
use keychain_metrics_examples::keystore::{Archive, KeyKind, KeyStore, MAX_ARCHIVE_KEYS};
use keychain_metrics_examples::pb::keychain_client::KeychainClient;
use keychain_metrics_examples::pb::{self};
use keychain_metrics_examples::{grpc, rest, Backends};
use serde_json::Value;

struct Server {
    rest: String,
    grpc: KeychainClient<tonic::transport::Channel>,
    metrics: Metrics,
    backends: Backends,
    dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start() -> Server {
    let dir = std::env::temp_dir().join(format!(
        "keychain-api-{}-{:x}",
        std::process::id(),
        rand_id()
    ));
    let metrics = Metrics::new();
    let backends = Backends::new(
        KeyStore::pkcs8(&dir, metrics.clone()).unwrap(),
        KeyStore::memory(metrics.clone()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rest_addr = listener.local_addr().unwrap();
    let app = rest::router(backends.clone(), Some(metrics.clone()));
    tokio::spawn(rest::serve(listener, app, std::future::pending()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc_addr = listener.local_addr().unwrap();
    let incoming = keychain_metrics::listener::TrackedIncoming::new(
        listener,
        metrics.clone(),
        keychain_metrics::Protocol::Grpc,
    );
    let service = grpc::server(backends.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );
    let channel = tonic::transport::Channel::from_shared(format!("http://{grpc_addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    Server {
        rest: format!("http://{rest_addr}"),
        grpc: KeychainClient::new(channel).max_decoding_message_size(rest::ARCHIVE_LIMIT),
        metrics,
        backends,
        dir: TempDir(dir),
    }
}

fn rand_id() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

async fn post(url: &str, body: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rest_requests_are_4xx_and_the_server_keeps_serving() {
    let s = start().await;
    let keys = format!("{}/v1/pkcs8/keys", s.rest);
    // Malformed JSON, a missing field, an unknown key type, an unknown backend.
    assert_eq!(post(&keys, "{not json").await.0, 400);
    assert_eq!(post(&keys, "{}").await.0, 422);
    let (status, body) = post(&keys, r#"{"kind":"rsa"}"#).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("unknown key type"));
    assert_eq!(
        post(&format!("{}/v1/hsm/keys", s.rest), r#"{"kind":"ed25519"}"#)
            .await
            .0,
        400
    );
    // An unknown key, a hostile id.
    let missing = reqwest::get(format!("{keys}/nope")).await.unwrap();
    assert_eq!(missing.status(), 404);
    let traversal = reqwest::get(format!("{keys}/..%2F..%2Fetc%2Fpasswd"))
        .await
        .unwrap();
    assert_eq!(traversal.status(), 400);
    // The wrong key type for the operation.
    let (status, key) = post(&keys, r#"{"kind":"ed25519"}"#).await;
    assert_eq!(status, 201);
    let id = key["id"].as_str().unwrap();
    let (status, body) = post(&format!("{keys}/{id}/encrypt"), r#"{"data":"aGk="}"#).await;
    assert_eq!(status, 422);
    assert!(body["error"].as_str().unwrap().contains("wrong key type"));
    // Not base64; an oversized payload.
    assert_eq!(
        post(&format!("{keys}/{id}/sign"), r#"{"data":"***"}"#)
            .await
            .0,
        400
    );
    let huge = format!(r#"{{"data":"{}"}}"#, "A".repeat(rest::BODY_LIMIT + 1));
    assert_eq!(post(&format!("{keys}/{id}/sign"), &huge).await.0, 413);
    // Still serving, and the errors were recorded by type.
    let (status, signature) = post(&format!("{keys}/{id}/sign"), r#"{"data":"aGk="}"#).await;
    assert_eq!(status, 200);
    assert!(signature["signature"].is_string());
    let ops = s.metrics.encode_text();
    assert!(ops.contains(r#"keychain_errors_total{backend="pkcs8",error_type="wrong_key_type",operation="encrypt"} 1"#), "{ops}");
    assert!(ops.contains(
        r#"keychain_errors_total{backend="pkcs8",error_type="not_found",operation="get"} 1"#
    ));
    let http = s.metrics.encode_text();
    assert!(http.contains(r#"keychain_http_requests_total{method="POST",status_code="413"} 1"#));
}

/// Writes `head` (a request without its body) over a fresh connection and returns what
/// the server answers within 2 s.
async fn answer_to_head(rest: &str, head: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = rest.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0; 4096];
    let read = tokio::time::timeout(std::time::Duration::from_secs(2), stream.read(&mut answer));
    let n = read.await.expect("an answer within 2 s").unwrap();
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announced_oversized_body_is_refused_at_once() {
    let s = start().await;
    // 100 MB announced, none sent: 413 without waiting for it, on either limit.
    for (path, announced) in [
        ("/v1/memory/keys", 100_000_000u64),
        ("/v1/memory/restore", 100_000_000),
        ("/v1/memory/keys", rest::BODY_LIMIT as u64 + 1),
    ] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
             content-length: {announced}\r\n\r\n"
        );
        let answer = answer_to_head(&s.rest, &head).await;
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "{path} {announced}: {answer}"
        );
    }
    // A body within its limit is read (this empty archive is refused, but not as too large).
    let head = "POST /v1/memory/restore HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                content-length: 2\r\n\r\n{}";
    let answer = answer_to_head(&s.rest, head).await;
    assert!(!answer.starts_with("HTTP/1.1 413"), "{answer}");
    let http = s.metrics.encode_text();
    assert!(
        http.contains(r#"keychain_http_requests_total{method="POST",status_code="413"} 3"#),
        "{http}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_grpc_requests_get_the_right_codes() {
    let mut s = start().await;
    let err = s
        .grpc
        .get(pb::KeyRef {
            backend: "memory".into(),
            id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let err = s
        .grpc
        .generate(pb::GenerateRequest {
            backend: "pkcs8".into(),
            kind: "rsa".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let key = s
        .grpc
        .generate(pb::GenerateRequest {
            backend: "memory".into(),
            kind: "aes256_gcm".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let err = s
        .grpc
        .sign(pb::SignRequest {
            backend: "memory".into(),
            id: key.id.clone(),
            data: b"x".to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    let err = s
        .grpc
        .decrypt(pb::CryptRequest {
            backend: "memory".into(),
            id: key.id,
            data: vec![0; 40],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let err = s
        .grpc
        .import(pb::ImportRequest {
            backend: "memory".into(),
            pem: "-----BEGIN NONSENSE".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_round_trips_over_grpc_including_a_streamed_list() {
    let mut s = start().await;
    let b = || "pkcs8".to_string();
    let signer = s
        .grpc
        .generate(pb::GenerateRequest {
            backend: b(),
            kind: "ecdsa_p256".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let aes = s
        .grpc
        .generate(pb::GenerateRequest {
            backend: b(),
            kind: "aes256_gcm".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let sig = s
        .grpc
        .sign(pb::SignRequest {
            backend: b(),
            id: signer.id.clone(),
            data: b"m".to_vec(),
        })
        .await
        .unwrap()
        .into_inner();
    let ok = s
        .grpc
        .verify(pb::VerifyRequest {
            backend: b(),
            id: signer.id.clone(),
            data: b"m".to_vec(),
            signature: sig.signature.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.valid);
    let bad = s
        .grpc
        .verify(pb::VerifyRequest {
            backend: b(),
            id: signer.id.clone(),
            data: b"other".to_vec(),
            signature: sig.signature,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!bad.valid);
    let sealed = s
        .grpc
        .encrypt(pb::CryptRequest {
            backend: b(),
            id: aes.id.clone(),
            data: b"secret".to_vec(),
        })
        .await
        .unwrap()
        .into_inner();
    let opened = s
        .grpc
        .decrypt(pb::CryptRequest {
            backend: b(),
            id: aes.id.clone(),
            data: sealed.data,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(opened.data, b"secret");
    let pem = s
        .grpc
        .export(pb::KeyRef {
            backend: b(),
            id: signer.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let copy = s
        .grpc
        .import(pb::ImportRequest {
            backend: b(),
            pem: pem.pem.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    s.grpc
        .store(pb::StoreRequest {
            backend: b(),
            id: "stored".into(),
            pem: pem.pem,
        })
        .await
        .unwrap();
    s.grpc
        .rotate(pb::KeyRef {
            backend: b(),
            id: signer.id.clone(),
        })
        .await
        .unwrap();
    s.grpc
        .delete(pb::KeyRef {
            backend: b(),
            id: copy.id,
        })
        .await
        .unwrap();
    s.grpc
        .health_check(pb::BackendRef { backend: b() })
        .await
        .unwrap();
    let mut stream = s
        .grpc
        .list(pb::BackendRef { backend: b() })
        .await
        .unwrap()
        .into_inner();
    let mut listed = Vec::new();
    while let Some(k) = stream.message().await.unwrap() {
        listed.push(k.id);
    }
    assert_eq!(listed.len(), 3);
    // Backup, change the key set, restore: exactly the same set again.
    let archive = s
        .grpc
        .backup(pb::BackendRef { backend: b() })
        .await
        .unwrap()
        .into_inner();
    s.grpc
        .generate(pb::GenerateRequest {
            backend: b(),
            kind: "ed25519".into(),
        })
        .await
        .unwrap();
    s.grpc
        .delete(pb::KeyRef {
            backend: b(),
            id: "stored".into(),
        })
        .await
        .unwrap();
    let restored = s.grpc.restore(archive.clone()).await.unwrap().into_inner();
    assert_eq!(restored.restored, 3);
    let again = s
        .grpc
        .backup(pb::BackendRef { backend: b() })
        .await
        .unwrap()
        .into_inner();
    let set = |a: &pb::BackupArchive| {
        a.keys
            .iter()
            .map(|k| (k.id.clone(), k.pem.clone()))
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(set(&again), set(&archive));
    let text = s.metrics.encode_text();
    assert!(
        text.contains(
            r#"keychain_operations_total{backend="pkcs8",operation="restore",status="success"} 1"#
        ),
        "{text}"
    );
}

/// A backup is larger than an ordinary request (and than tonic's default 4 MiB message):
/// Restore still takes it back, over both APIs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_larger_than_a_request_restore_over_rest_and_grpc() {
    let s = start().await;
    let (status, key) = post(
        &format!("{}/v1/memory/keys", s.rest),
        r#"{"kind":"aes256_gcm"}"#,
    )
    .await;
    assert_eq!(status, 201);
    let pem = reqwest::get(format!(
        "{}/v1/memory/keys/{}/export",
        s.rest,
        key["id"].as_str().unwrap()
    ))
    .await
    .unwrap()
    .json::<Value>()
    .await
    .unwrap()["pem"]
        .clone();
    // AES keys: the smallest PEM and the cheapest to parse, so the test stays quick.
    let keys = 36_000;
    let archive = serde_json::json!({
        "keys": (0..keys).map(|i| serde_json::json!([format!("k{i}"), pem])).collect::<Vec<_>>()
    })
    .to_string();
    assert!(archive.len() > 5 << 20, "{} bytes", archive.len());
    let (status, restored) = post(&format!("{}/v1/memory/restore", s.rest), &archive).await;
    assert_eq!(
        (status, restored),
        (200, serde_json::json!({ "restored": keys }))
    );

    let mut grpc = s.grpc.clone();
    let backup = grpc
        .backup(pb::BackendRef {
            backend: "memory".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(backup.keys.len(), keys);
    let restored = grpc.restore(backup).await.unwrap().into_inner();
    assert_eq!(restored.restored as usize, keys);
}

#[test]
fn pem_files_parse_back_and_writes_leave_no_temporaries() {
    let dir = std::env::temp_dir().join(format!("keychain-files-{}", std::process::id()));
    let store = KeyStore::pkcs8(&dir, Metrics::new()).unwrap();
    for kind in [KeyKind::EcdsaP256, KeyKind::Ed25519, KeyKind::Aes256Gcm] {
        store.generate(kind).unwrap();
    }
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 3);
    for file in files {
        let pem = std::fs::read_to_string(&file).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{file:?}");
        keychain_metrics_examples::keystore::Key::from_pem(&pem).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_limits_are_per_method_and_a_restore_of_too_many_keys_is_refused() {
    let s = start().await;
    let mut grpc = s.grpc.clone();
    let key = grpc
        .generate(pb::GenerateRequest {
            backend: "memory".into(),
            kind: "ed25519".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let sign = |size: usize| pb::SignRequest {
        backend: "memory".into(),
        id: key.id.clone(),
        data: vec![7; size],
    };
    assert!(grpc.sign(sign(60 * 1024)).await.is_ok());
    // 64 KiB for every method but Restore (it was 64 MiB for all).
    let e = grpc.sign(sign(100 * 1024)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::OutOfRange, "{e}");
    // Restore takes large archives, but not one of more keys than real archives hold:
    // 200,001 empty entries are 400 KB on the wire and would be 10 MB decoded.
    let many = pb::BackupArchive {
        backend: "memory".into(),
        keys: vec![pb::BackupKey::default(); MAX_ARCHIVE_KEYS + 1],
    };
    let e = grpc.restore(many).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e}");
    assert_eq!(e.message(), "an archive holds at most 200000 keys");
    // The server goes on, the key set untouched.
    let listed: Vec<_> = grpc
        .list(pb::BackendRef {
            backend: "memory".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(listed.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_restore_of_too_many_keys_is_refused() {
    let s = start().await;
    let pairs = vec![serde_json::json!(["", ""]); MAX_ARCHIVE_KEYS + 1];
    let archive = serde_json::json!({ "keys": pairs }).to_string();
    let r = reqwest::Client::new()
        .post(format!("{}/v1/memory/restore", s.rest))
        .header("content-type", "application/json")
        .body(archive)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("an archive holds at most 200000 keys"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restores_take_turns_over_both_apis() {
    let s = start().await;
    let turn = s.backends.restore_turn().await.unwrap();
    let url = format!("{}/v1/memory/restore", s.rest);
    let rest = tokio::spawn(async move { post(&url, r#"{"keys":[]}"#).await });
    let mut grpc = s.grpc.clone();
    let grpc = tokio::spawn(async move {
        let archive = pb::BackupArchive {
            backend: "memory".into(),
            keys: vec![],
        };
        grpc.restore(archive).await.map(|r| r.into_inner().restored)
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !rest.is_finished() && !grpc.is_finished(),
        "a restore ran out of turn"
    );
    drop(turn);
    let (rest, grpc) = (rest.await.unwrap(), grpc.await.unwrap());
    assert_eq!(rest, (200, serde_json::json!({ "restored": 0 })));
    assert_eq!(grpc.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_key_file_is_skipped_and_counted_not_fatal_to_list() {
    let s = start().await;
    for _ in 0..2 {
        post(
            &format!("{}/v1/pkcs8/keys", s.rest),
            r#"{"kind":"ed25519"}"#,
        )
        .await;
    }
    std::fs::write(s.dir.0.join("garbage.pem"), "not a key").unwrap();
    std::fs::write(
        s.dir.0.join("cut.pem"),
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAw",
    )
    .unwrap();
    let listed = reqwest::get(format!("{}/v1/pkcs8/keys", s.rest))
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    assert_eq!(listed.json::<Vec<Value>>().await.unwrap().len(), 2);
    let text = s.metrics.encode_text();
    assert!(
        text.lines()
            .any(|l| l == r#"keychain_keys_skipped_total{backend="pkcs8"} 2"#),
        "{text}"
    );
}

#[test]
fn concurrent_writes_of_one_key_never_corrupt_it() {
    let dir = keychain_metrics_examples::private::fresh_dir("keychain-race").unwrap();
    let store = KeyStore::pkcs8(dir.join("keys"), Metrics::new()).unwrap();
    // A P-256 key is longer than an Ed25519 one: a short write over a long one used to
    // leave the long one's tail.
    let p256 = store.generate(KeyKind::EcdsaP256).unwrap();
    let ed = store.generate(KeyKind::Ed25519).unwrap();
    let pem = |id: &str| store.export(id).unwrap();
    let archives = [
        Archive {
            keys: vec![("same".into(), pem(&p256.id))],
        },
        Archive {
            keys: vec![("same".into(), pem(&ed.id))],
        },
    ];
    std::thread::scope(|scope| {
        for t in 0..6 {
            let (store, archive) = (&store, &archives[t % 2]);
            scope.spawn(move || {
                for _ in 0..15 {
                    store.restore(archive).unwrap();
                    let _ = store.rotate("same");
                }
            });
        }
    });
    let keys = store.list().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].id, "same");
    store.sign("same", b"data").unwrap();
    let files = std::fs::read_dir(dir.join("keys")).unwrap().count();
    assert_eq!(files, 1, "temporary files left behind");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_client_that_sends_its_headers_slowly_or_not_at_all_is_cut() {
    use std::io::{Read, Write};

    let s = start().await;
    let addr = s.rest.trim_start_matches("http://").to_owned();
    let cut = tokio::task::spawn_blocking(move || {
        let silent = std::net::TcpStream::connect(&addr).unwrap();
        let mut slow = std::net::TcpStream::connect(&addr).unwrap();
        slow.write_all(b"GET /v1/memory/health HTTP/1.1\r\n")
            .unwrap();
        let started = std::time::Instant::now();
        [silent, slow].map(|mut c| {
            c.set_read_timeout(Some(std::time::Duration::from_secs(30)))
                .unwrap();
            let mut rest = Vec::new();
            let closed = c.read_to_end(&mut rest).is_ok();
            (closed, started.elapsed())
        })
    })
    .await
    .unwrap();
    for (closed, after) in cut {
        assert!(closed, "still open after {after:?}");
        assert!(after >= rest::HEADER_READ_TIMEOUT, "cut after {after:?}");
    }
    // A whole request is still answered.
    let ok = reqwest::get(format!("{}/v1/memory/health", s.rest))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}
