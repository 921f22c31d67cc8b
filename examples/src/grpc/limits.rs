//! Per-method limits for the gRPC API. tonic sets one message limit per service, so the
//! service is served twice behind one name: every method with the REST API's 64 KiB
//! limit, Restore with the archive's 64 MiB. A Restore waits for its turn (one at a
//! time, see [`Backends::restore_turn`]) before its message is read, and its keys are
//! counted on the wire as the message arrives: past [`MAX_ARCHIVE_KEYS`] it is refused
//! before prost allocates them (an empty entry is 2 bytes on the wire, 48 in memory).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tonic::codegen::{BoxFuture, Service, StdError};
use tonic::server::NamedService;
use tonic::Status;

use super::Service as Keystore;
use crate::keystore::MAX_ARCHIVE_KEYS;
use crate::pb::keychain_server::{KeychainServer, SERVICE_NAME};
use crate::rest::{ARCHIVE_LIMIT, BODY_LIMIT};
use crate::Backends;

const RESTORE_PATH: &str = "/keychain.v1.Keychain/Restore";

/// The Keychain service with a limit per method; add it to a tonic server.
#[derive(Clone)]
pub struct Keychain {
    methods: KeychainServer<Keystore>,
    restore: KeychainServer<Keystore>,
    backends: Backends,
}

impl Keychain {
    /// The service over `backends`.
    pub fn new(backends: Backends) -> Self {
        let server = || KeychainServer::new(Keystore(backends.clone()));
        Keychain {
            methods: server().max_decoding_message_size(BODY_LIMIT),
            restore: server().max_decoding_message_size(ARCHIVE_LIMIT),
            backends,
        }
    }
}

impl NamedService for Keychain {
    const NAME: &'static str = SERVICE_NAME;
}

type Request = http::Request<tonic::body::Body>;
type Response = http::Response<tonic::body::Body>;

impl Service<Request> for Keychain {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if request.uri().path() != RESTORE_PATH {
            return self.methods.call(request);
        }
        let (backends, mut restore) = (self.backends.clone(), self.restore.clone());
        Box::pin(async move {
            let Some(_turn) = backends.restore_turn().await else {
                let busy = Status::unavailable("another restore is in progress; retry later");
                return Ok(busy.into_http());
            };
            let counted = request.map(|body| tonic::body::Body::new(Counted::new(body)));
            restore.call(counted).await
        })
    }
}

pin_project! {
    /// A Restore request's body, its archive's keys counted as it passes.
    struct Counted<B> {
        #[pin]
        inner: B,
        keys: KeyCount,
    }
}

impl<B> Counted<B> {
    fn new(inner: B) -> Self {
        Counted {
            inner,
            keys: KeyCount::default(),
        }
    }
}

impl<B> Body for Counted<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<StdError>,
{
    type Data = Bytes;
    type Error = StdError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StdError>>> {
        let this = self.project();
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        Poll::Ready(frame.map(|frame| {
            let frame = frame.map_err(Into::into)?;
            if let Some(data) = frame.data_ref() {
                if this.keys.feed(data) > MAX_ARCHIVE_KEYS {
                    let why = format!("an archive holds at most {MAX_ARCHIVE_KEYS} keys");
                    return Err(Status::invalid_argument(why).into());
                }
            }
            Ok(frame)
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Counts the `keys` entries (field 2, length-delimited) of the `BackupArchive`
/// messages in a gRPC request body, chunk by chunk, without keeping any of it. Groups
/// (of unknown fields; prost refuses them elsewhere) are read as if their fields were
/// the archive's: that can only count too many, never too few.
#[derive(Default)]
struct KeyCount {
    keys: usize,
    state: State,
}

enum State {
    /// A message's 5-byte prefix: compression flag, then its length (big-endian).
    Prefix { got: u8, len: u32 },
    /// Inside a message with `left` bytes to go.
    Message { left: u64, at: Part },
    /// A compressed message: tonic refuses it, this does not read it.
    Off,
}

impl Default for State {
    fn default() -> Self {
        State::Prefix { got: 0, len: 0 }
    }
}

/// Where in a field.
enum Part {
    Tag(Varint),
    Varint(Varint),
    /// A length-delimited field's length; `key` for the archive's keys.
    Length {
        length: Varint,
        key: bool,
    },
    Skip(u64),
}

/// A varint read a byte at a time.
#[derive(Default)]
struct Varint {
    value: u64,
    shift: u32,
}

impl Varint {
    /// Takes the next byte; the value once it was the last.
    fn push(&mut self, byte: u8) -> Option<u64> {
        if self.shift < 64 {
            self.value |= u64::from(byte & 0x7f) << self.shift;
        }
        self.shift = self.shift.saturating_add(7);
        (byte & 0x80 == 0).then(|| std::mem::take(self).value)
    }
}

impl KeyCount {
    /// Reads the next bytes of the body; the keys counted so far.
    fn feed(&mut self, mut data: &[u8]) -> usize {
        while let Some(&byte) = data.first() {
            match &mut self.state {
                State::Off => break,
                State::Prefix { got, len } => {
                    data = &data[1..];
                    if *got == 0 && byte != 0 {
                        self.state = State::Off;
                        continue;
                    }
                    if *got > 0 {
                        *len = (*len << 8) | u32::from(byte);
                    }
                    *got += 1;
                    if *got == 5 {
                        let left = u64::from(*len);
                        let at = Part::Tag(Varint::default());
                        self.state = State::Message { left, at };
                    }
                }
                // The message's end (where a field may start): the next one's prefix.
                State::Message { left: 0, .. } => self.state = State::default(),
                State::Message {
                    left,
                    at: Part::Skip(n),
                } => {
                    let k = (*n).min(*left).min(data.len() as u64);
                    (*n, *left, data) = (*n - k, *left - k, &data[k as usize..]);
                    if *n == 0 {
                        self.state = State::Message {
                            left: *left,
                            at: Part::Tag(Varint::default()),
                        };
                    }
                }
                State::Message { left, at } => {
                    (*left, data) = (*left - 1, &data[1..]);
                    let next = match at {
                        Part::Tag(tag) => tag.push(byte).map(|tag| match tag & 7 {
                            0 => Part::Varint(Varint::default()),
                            1 => Part::Skip(8),
                            2 => Part::Length {
                                length: Varint::default(),
                                key: tag >> 3 == 2,
                            },
                            5 => Part::Skip(4),
                            _ => Part::Tag(Varint::default()), // a group's start or end
                        }),
                        Part::Varint(value) => {
                            value.push(byte).map(|_| Part::Tag(Varint::default()))
                        }
                        Part::Length { length, key } => length.push(byte).map(|n| {
                            self.keys += usize::from(*key);
                            match n {
                                0 => Part::Tag(Varint::default()),
                                n => Part::Skip(n),
                            }
                        }),
                        Part::Skip(_) => unreachable!("matched above"),
                    };
                    if let Some(next) = next {
                        *at = next;
                    }
                }
            }
        }
        self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::{BackupArchive, BackupKey};
    use prost::Message;

    /// A gRPC request body: the prefix, then the message.
    fn framed(archive: &BackupArchive) -> Vec<u8> {
        let message = archive.encode_to_vec();
        let mut body = vec![0];
        body.extend((message.len() as u32).to_be_bytes());
        body.extend(message);
        body
    }

    fn archive(keys: usize, pem: &str) -> BackupArchive {
        BackupArchive {
            backend: "pkcs8".into(),
            keys: (0..keys)
                .map(|i| BackupKey {
                    id: if i % 3 == 0 {
                        String::new()
                    } else {
                        format!("k{i}")
                    },
                    pem: pem.to_owned(),
                })
                .collect(),
        }
    }

    #[test]
    fn counts_the_keys_however_the_body_is_cut() {
        for (keys, pem) in [
            (0, ""),
            (1, ""),
            (5, "x"),
            (300, ""),
            (40, &"p".repeat(300)),
        ] {
            let body = framed(&archive(keys, pem));
            for chunk in [1, 2, 3, 7, 64, body.len().max(1)] {
                let mut count = KeyCount::default();
                let mut seen = 0;
                for piece in body.chunks(chunk) {
                    seen = count.feed(piece);
                }
                assert_eq!(
                    seen,
                    keys,
                    "{keys} keys of {} bytes, in chunks of {chunk}",
                    pem.len()
                );
            }
        }
        // Two messages in one body: both counted.
        let mut two = framed(&archive(3, "a"));
        two.extend(framed(&archive(4, "")));
        assert_eq!(KeyCount::default().feed(&two), 7);
    }

    #[test]
    fn other_fields_and_wire_types_are_skipped_not_counted() {
        // backend (1, bytes), an unknown varint (3), fixed64 (4), fixed32 (5), then 2 keys.
        let mut message = vec![0x0a, 3, b'a', b'b', b'c'];
        message.extend([0x18, 0x96, 0x01]);
        message.extend([0x21, 1, 2, 3, 4, 5, 6, 7, 8]);
        message.extend([0x2d, 1, 2, 3, 4]);
        message.extend([0x12, 0, 0x12, 2, 0x0a, 0]);
        let mut body = vec![0];
        body.extend((message.len() as u32).to_be_bytes());
        body.extend(&message);
        assert_eq!(KeyCount::default().feed(&body), 2);
        // A compressed message is not read (tonic refuses it).
        body[0] = 1;
        assert_eq!(KeyCount::default().feed(&body), 0);
    }
}
