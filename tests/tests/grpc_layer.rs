//! The gRPC layer on a real tonic server, driven by a real tonic client over loopback.

mod common;

use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use keychain_metrics::grpc::GrpcMetricsLayer;
use keychain_metrics::listener::TrackedIncoming;
use keychain_metrics::{Metrics, Protocol};
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status, Streaming};

#[allow(unreachable_pub)] // generated
mod pb {
    tonic::include_proto!("keychain.test.v1");
}

use pb::keys_client::KeysClient;
use pb::keys_server::{Keys, KeysServer};
use pb::{GetRequest, Key, ListRequest, UploadReply};

const GET: &str = "/keychain.test.v1.Keys/Get";
const LIST: &str = "/keychain.test.v1.Keys/List";
const UPLOAD: &str = "/keychain.test.v1.Keys/Upload";
const ECHO: &str = "/keychain.test.v1.Keys/Echo";

struct Service;

type KeyStream = Pin<Box<dyn Stream<Item = Result<Key, Status>> + Send>>;

fn key(i: u32) -> Key {
    Key {
        id: format!("k{i}"),
        material: vec![7; 32],
    }
}

#[tonic::async_trait]
impl Keys for Service {
    async fn get(&self, request: Request<GetRequest>) -> Result<Response<Key>, Status> {
        if request.get_ref().id.is_empty() {
            return Err(Status::not_found("no such key"));
        }
        Ok(Response::new(key(0)))
    }

    type ListStream = KeyStream;

    async fn list(&self, request: Request<ListRequest>) -> Result<Response<KeyStream>, Status> {
        let ListRequest {
            count,
            fail,
            delay_ms,
        } = request.into_inner();
        let keys = futures_util::stream::iter(0..count).then(move |i| async move {
            tokio::time::sleep(Duration::from_millis(u64::from(delay_ms))).await;
            Ok(key(i))
        });
        let end = futures_util::stream::iter(fail.then(|| Err(Status::data_loss("disk gone"))));
        Ok(Response::new(Box::pin(keys.chain(end))))
    }

    async fn upload(
        &self,
        request: Request<Streaming<Key>>,
    ) -> Result<Response<UploadReply>, Status> {
        let mut stream = request.into_inner();
        let mut received = 0;
        while stream.message().await?.is_some() {
            received += 1;
        }
        Ok(Response::new(UploadReply { received }))
    }

    type EchoStream = KeyStream;

    async fn echo(&self, request: Request<Streaming<Key>>) -> Result<Response<KeyStream>, Status> {
        Ok(Response::new(Box::pin(request.into_inner())))
    }
}

/// Serves the test service behind the layer on a loopback port; returns a client.
async fn serve(m: &Metrics) -> (KeysClient<Channel>, Channel) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = TrackedIncoming::new(listener, m.clone(), Protocol::Grpc);
    let layer = GrpcMetricsLayer::new(m.clone());
    tokio::spawn(async move {
        Server::builder()
            .layer(layer)
            .add_service(KeysServer::new(Service))
            .serve_with_incoming(incoming)
            .await
            .unwrap()
    });
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (KeysClient::new(channel.clone()), channel)
}

fn calls(m: &Metrics, method: &str, code: &str) -> f64 {
    common::value(
        &m.encode_text(),
        "keychain_grpc_requests_total",
        &[("method", method), ("status_code", code)],
    )
    .unwrap_or(0.0)
}

fn value(m: &Metrics, name: &str, labels: &[(&str, &str)]) -> f64 {
    common::value(&m.encode_text(), name, labels).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_ok_and_not_found() {
    let m = Metrics::new();
    let (mut client, _) = serve(&m).await;
    for _ in 0..3 {
        client.get(GetRequest { id: "k".into() }).await.unwrap();
    }
    let err = client
        .get(GetRequest { id: String::new() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    common::eventually("4 calls", || {
        calls(&m, GET, "OK") == 3.0 && calls(&m, GET, "NotFound") == 1.0
    })
    .await;
    assert_eq!(
        value(
            &m,
            "keychain_grpc_request_duration_seconds_count",
            &[("method", GET)]
        ),
        4.0
    );
    assert_eq!(
        value(
            &m,
            "keychain_grpc_calls_total",
            &[("method", GET), ("call_type", "unary")]
        ),
        4.0
    );
    assert_eq!(
        value(
            &m,
            "keychain_grpc_messages_received_total",
            &[("method", GET)]
        ),
        4.0
    );
    // NotFound is trailers-only: no response message.
    assert_eq!(
        value(&m, "keychain_grpc_messages_sent_total", &[("method", GET)]),
        3.0
    );
    common::eventually("in-flight back to 0", || {
        common::in_flight(&m, "grpc") == 0.0
    })
    .await;
    assert_eq!(
        value(
            &m,
            "keychain_tcp_connections_accepted_total",
            &[("protocol", "grpc")]
        ),
        1.0
    );
    assert_eq!(
        value(&m, "keychain_tcp_connections", &[("protocol", "grpc")]),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_fails_in_its_trailers_records_that_code() {
    let m = Metrics::new();
    let (mut client, _) = serve(&m).await;
    let mut stream = client
        .list(ListRequest {
            count: 3,
            fail: true,
            delay_ms: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut got = 0;
    let error = loop {
        match stream.message().await {
            Ok(Some(_)) => got += 1,
            Ok(None) => panic!("the stream should fail"),
            Err(status) => break status,
        }
    };
    assert_eq!((got, error.code()), (3, tonic::Code::DataLoss));
    common::eventually("the DataLoss call", || calls(&m, LIST, "DataLoss") == 1.0).await;
    assert_eq!(calls(&m, LIST, "OK"), 0.0);
    assert_eq!(
        value(&m, "keychain_grpc_messages_sent_total", &[("method", LIST)]),
        3.0
    );
    assert_eq!(
        value(
            &m,
            "keychain_grpc_calls_total",
            &[("method", LIST), ("call_type", "server_streaming")]
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_the_client_cancels_midway_is_canceled_and_released() {
    let m = Metrics::new();
    let (mut client, _) = serve(&m).await;
    let mut stream = client
        .list(ListRequest {
            count: 1000,
            fail: false,
            delay_ms: 20,
        })
        .await
        .unwrap()
        .into_inner();
    stream.message().await.unwrap().unwrap();
    stream.message().await.unwrap().unwrap();
    assert_eq!(common::in_flight(&m, "grpc"), 1.0);
    drop(stream); // the client resets the HTTP/2 stream
    common::eventually("the canceled call", || calls(&m, LIST, "Canceled") == 1.0).await;
    common::eventually("in-flight back to 0", || {
        common::in_flight(&m, "grpc") == 0.0
    })
    .await;
    // Timed to the cancellation: at least the two 20 ms messages.
    let sum = value(
        &m,
        "keychain_grpc_request_duration_seconds_sum",
        &[("method", LIST)],
    );
    assert!(sum >= 0.040, "{sum}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_streaming_and_bidirectional_calls_count_messages() {
    let m = Metrics::new();
    let (mut client, _) = serve(&m).await;
    let reply = client
        .upload(futures_util::stream::iter((0..4).map(key)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.received, 4);
    let echoed: Vec<Key> = client
        .echo(futures_util::stream::iter((0..3).map(key)))
        .await
        .unwrap()
        .into_inner()
        .map(|k| k.unwrap())
        .collect()
        .await;
    assert_eq!(echoed.len(), 3);
    common::eventually("both calls", || {
        calls(&m, UPLOAD, "OK") == 1.0 && calls(&m, ECHO, "OK") == 1.0
    })
    .await;
    assert_eq!(
        value(
            &m,
            "keychain_grpc_messages_received_total",
            &[("method", UPLOAD)]
        ),
        4.0
    );
    assert_eq!(
        value(
            &m,
            "keychain_grpc_messages_sent_total",
            &[("method", UPLOAD)]
        ),
        1.0
    );
    assert_eq!(
        value(
            &m,
            "keychain_grpc_calls_total",
            &[("method", UPLOAD), ("call_type", "client_streaming")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &m,
            "keychain_grpc_messages_received_total",
            &[("method", ECHO)]
        ),
        3.0
    );
    assert_eq!(
        value(&m, "keychain_grpc_messages_sent_total", &[("method", ECHO)]),
        3.0
    );
    assert_eq!(
        value(
            &m,
            "keychain_grpc_calls_total",
            &[("method", ECHO), ("call_type", "bidi_streaming")]
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_fold_into_one_value() {
    let m = Metrics::new();
    let (mut client, channel) = serve(&m).await;
    client.get(GetRequest { id: "k".into() }).await.unwrap();
    let mut raw = tonic::client::Grpc::new(channel);
    for i in 0..200 {
        raw.ready().await.unwrap();
        let path =
            http::uri::PathAndQuery::try_from(format!("/scan.Random{i}/Method{}", i * 7)).unwrap();
        let codec = tonic_prost::ProstCodec::<GetRequest, Key>::default();
        let status = raw
            .unary(Request::new(GetRequest { id: "x".into() }), path, codec)
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unimplemented);
    }
    common::eventually("200 unknown calls", || {
        calls(&m, "other", "Unimplemented") == 200.0
    })
    .await;
    let text = m.encode_text();
    let methods: std::collections::BTreeSet<String> = common::parse(&text)
        .into_iter()
        .filter(|s| s.name == "keychain_grpc_requests_total")
        .map(|s| s.labels["method"].clone())
        .collect();
    assert_eq!(methods.into_iter().collect::<Vec<_>>(), [GET, "other"]);
}
