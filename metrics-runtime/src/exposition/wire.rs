//! The protobuf wire format, as far as the protobuf exposition and the OTLP request
//! need it: varints, tags, fixed-width and length-delimited fields whose length is known
//! before they are written.

/// Wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;

/// Bytes `v` takes as a varint.
pub(crate) fn varint_len(v: u64) -> usize {
    // One byte per 7 bits, at least one.
    ((64 - (v | 1).leading_zeros()) as usize).div_ceil(7)
}

pub(crate) fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn tag(out: &mut Vec<u8>, field: u8, wire: u8) {
    // One byte for fields below 16, which the `*_len` functions assume; two for the
    // histogram's exemplars (16), which are written into a buffer measured afterwards.
    varint(out, u64::from(field) << 3 | u64::from(wire));
}

/// ZigZag, for `sint32` and `sint64`.
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(crate) fn uint_field(out: &mut Vec<u8>, field: u8, v: u64) {
    tag(out, field, VARINT);
    varint(out, v);
}

pub(crate) fn uint_field_len(v: u64) -> usize {
    1 + varint_len(v)
}

pub(crate) fn double_field(out: &mut Vec<u8>, field: u8, v: f64) {
    tag(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) const DOUBLE_FIELD_LEN: usize = 9;

/// A `fixed64` (or, as its bits, an `sfixed64`) field.
#[cfg(feature = "otlp")]
pub(crate) fn fixed64_field(out: &mut Vec<u8>, field: u8, v: u64) {
    tag(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

/// Bytes of a `fixed64`, `sfixed64` or `double` field.
#[cfg(feature = "otlp")]
pub(crate) const FIXED64_FIELD_LEN: usize = 9;

/// The tag and length of a length-delimited field; its `len` bytes follow.
pub(crate) fn len_prefix(out: &mut Vec<u8>, field: u8, len: usize) {
    tag(out, field, LEN);
    varint(out, len as u64);
}

/// Bytes of a length-delimited field of `len` bytes, tag and length included.
pub(crate) fn len_field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

pub(crate) fn bytes_field(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    len_prefix(out, field, bytes.len());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag() {
        for (v, bytes) in [
            (0u64, &[0u8][..]),
            (1, &[1]),
            (127, &[0x7f]),
            (128, &[0x80, 1]),
            (300, &[0xac, 2]),
            (
                u64::MAX,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1],
            ),
        ] {
            let mut out = Vec::new();
            varint(&mut out, v);
            assert_eq!(out, bytes, "{v}");
            assert_eq!(varint_len(v), bytes.len(), "{v}");
        }
        assert_eq!([0, -1, 1, -2, 2].map(zigzag), [0, 1, 2, 3, 4]);
        assert_eq!(zigzag(i64::MIN), u64::MAX);
    }
}
