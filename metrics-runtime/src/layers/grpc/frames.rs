//! Counting gRPC messages in a byte stream: each message is a 5-byte prefix (a
//! compression flag and a big-endian `u32` length) followed by that many bytes.

use std::io::IoSlice;

use bytes::Buf;

/// A message counter fed with the body's bytes as they pass, in any chunking.
#[derive(Debug, Default, Clone)]
pub(crate) struct MessageCounter {
    /// Messages whose prefix has been seen.
    pub(crate) messages: u64,
    /// Payload bytes of the current message still to come (a length is a `u32`).
    payload_left: u32,
    prefix: [u8; 5],
    /// Bytes of the current prefix seen so far (0..5).
    prefix_len: u8,
    /// Bytes passed that could not be seen, outside a payload: where the next prefix
    /// starts is unknown, so counting stops rather than reading payload as prefixes.
    lost: bool,
}

/// The slices of a data frame read without consuming it, at most this many.
const SLICES: usize = 16;

impl MessageCounter {
    /// Feeds a data frame without consuming it. A `Buf` shows its bytes as slices; one
    /// of more than [`SLICES`] slices, or one that shows only its first (the default
    /// `chunks_vectored`), has bytes this cannot see: see [`MessageCounter::pass_unseen`].
    pub(crate) fn feed_buf<D: Buf>(&mut self, data: &D) {
        // Most frames are one chunk (`Bytes`): no array of slices to fill for them.
        let first = data.chunk();
        if first.len() == data.remaining() {
            return self.feed(first);
        }
        let mut slices = [IoSlice::new(&[]); SLICES];
        let n = data.chunks_vectored(&mut slices);
        let mut seen = 0;
        for slice in &slices[..n] {
            self.feed(slice);
            seen += slice.len();
        }
        self.pass_unseen(data.remaining().saturating_sub(seen));
    }

    /// `n` bytes went by unseen: still in step if they lie within the current payload.
    fn pass_unseen(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        match u32::try_from(n) {
            Ok(n) if self.prefix_len == 0 && n <= self.payload_left => self.payload_left -= n,
            _ => self.lost = true,
        }
    }

    pub(crate) fn feed(&mut self, mut bytes: &[u8]) {
        if self.lost {
            return;
        }
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let skip = usize::try_from(self.payload_left)
                    .map_or(bytes.len(), |left| left.min(bytes.len()));
                bytes = &bytes[skip..];
                // `skip` is at most `payload_left`, a `u32`.
                self.payload_left -= skip as u32;
                continue;
            }
            // A whole prefix in view, the usual case: read in place.
            if self.prefix_len == 0 {
                if let Some(([_, a, b, c, d], rest)) = bytes.split_first_chunk::<5>() {
                    self.payload_left = u32::from_be_bytes([*a, *b, *c, *d]);
                    self.messages += 1;
                    bytes = rest;
                    continue;
                }
            }
            let have = usize::from(self.prefix_len);
            let take = (5 - have).min(bytes.len());
            self.prefix[have..have + take].copy_from_slice(&bytes[..take]);
            self.prefix_len += take as u8;
            bytes = &bytes[take..];
            if self.prefix_len == 5 {
                let [_, a, b, c, d] = self.prefix;
                self.payload_left = u32::from_be_bytes([a, b, c, d]);
                self.prefix_len = 0;
                self.messages += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: u32) -> Vec<u8> {
        let mut v = vec![0];
        v.extend_from_slice(&len.to_be_bytes());
        v.extend(std::iter::repeat_n(7u8, len as usize));
        v
    }

    #[test]
    fn counts_messages_in_any_chunking() {
        let stream: Vec<u8> = [frame(3), frame(0), frame(300), frame(1)].concat();
        for chunk in [1, 2, 4, 5, 6, 7, 64, 1000] {
            let mut c = MessageCounter::default();
            for part in stream.chunks(chunk) {
                c.feed(part);
            }
            assert_eq!(c.messages, 4, "chunk size {chunk}");
        }
    }

    /// A `Buf` of many chunks, showing at most `shown` of them as slices at a time
    /// (`1` is what `Buf`'s default `chunks_vectored` does).
    struct Pieces {
        chunks: std::collections::VecDeque<Vec<u8>>,
        shown: usize,
    }

    impl Pieces {
        fn new(bytes: &[u8], piece: usize, shown: usize) -> Self {
            let chunks = bytes.chunks(piece).map(<[u8]>::to_vec).collect();
            Pieces { chunks, shown }
        }
    }

    impl Buf for Pieces {
        fn remaining(&self) -> usize {
            self.chunks.iter().map(Vec::len).sum()
        }
        fn chunk(&self) -> &[u8] {
            self.chunks.front().map_or(&[], Vec::as_slice)
        }
        fn advance(&mut self, mut n: usize) {
            while n > 0 {
                let front = self.chunks.front_mut().expect("in range");
                let k = n.min(front.len());
                front.drain(..k);
                n -= k;
                if front.is_empty() {
                    self.chunks.pop_front();
                }
            }
        }
        fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
            let n = dst.len().min(self.shown).min(self.chunks.len());
            for (slot, chunk) in dst.iter_mut().zip(&self.chunks).take(n) {
                *slot = IoSlice::new(chunk);
            }
            n
        }
    }

    #[test]
    fn a_frame_of_more_slices_than_shown_stays_in_step_or_stops() {
        // Twenty messages in twenty slices: sixteen are seen; the four after them pass
        // unseen outside a payload, so counting stops instead of reading payload bytes
        // as prefixes.
        let twenty: Vec<u8> = (0..20).flat_map(|_| frame(3)).collect();
        for shown in [SLICES, 1] {
            let mut c = MessageCounter::default();
            c.feed_buf(&Pieces::new(&twenty, 8, shown));
            assert_eq!(c.messages, shown.min(SLICES) as u64, "shown {shown}");
            c.feed(&frame(1));
            assert_eq!(
                c.messages,
                shown.min(SLICES) as u64,
                "stopped, shown {shown}"
            );
        }
        // One large message in twenty slices: the unseen bytes are all payload, so the
        // counter stays in step and counts the next message.
        let large = frame(1_000);
        for shown in [SLICES, 1] {
            let mut c = MessageCounter::default();
            c.feed_buf(&Pieces::new(&large, 51, shown));
            assert_eq!(c.messages, 1);
            c.feed_buf(&bytes::Bytes::from([frame(2), frame(0)].concat()));
            assert_eq!(c.messages, 3, "shown {shown}");
        }
    }

    #[test]
    fn a_message_spanning_chunks_counts_once() {
        let mut c = MessageCounter::default();
        let f = frame(10);
        c.feed(&f[..3]);
        assert_eq!(c.messages, 0);
        c.feed(&f[3..8]);
        assert_eq!(c.messages, 1);
        c.feed(&f[8..]);
        c.feed(&frame(2));
        assert_eq!(c.messages, 2);
    }
}
