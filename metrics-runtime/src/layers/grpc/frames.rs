//! Counting gRPC messages in a byte stream: each message is a 5-byte prefix (a
//! compression flag and a big-endian `u32` length) followed by that many bytes.

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
}

impl MessageCounter {
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) {
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
