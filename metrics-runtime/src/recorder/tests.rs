//! The recorder's native buckets, decoded with the protobuf schema's own messages.

use metrics::{histogram, with_local_recorder};

use crate::exposition::protobuf::tests::{decode, family};
use crate::{Format, Metrics, NativeHistogram, RecorderConfig};

#[test]
fn values_at_or_below_zero_count_in_the_zero_bucket() {
    let metrics = Metrics::builder()
        .recorder(
            RecorderConfig::default()
                .buckets("*", [-1.0, 0.0, 1.0])
                .native(Some(NativeHistogram::default().schema(0))),
        )
        .build()
        .unwrap();
    with_local_recorder(&metrics.recorder(), || {
        for v in [-5.0, -0.5, 0.0, 0.75, 3.0, 3.5, 1e12] {
            histogram!("delta").record(v);
        }
    });
    let mut body = Vec::new();
    metrics.encode(Format::Protobuf, &mut body);
    let all = decode(&body);
    let h = family(&all, "delta").metric[0].histogram.clone().unwrap();
    assert_eq!(h.schema(), 0);
    assert_eq!(h.sample_count(), 7);
    assert_eq!(h.zero_count(), 3);
    assert_eq!(h.sample_sum(), 1e12 - 5.0 - 0.5 + 0.75 + 3.0 + 3.5);
    // Schema 0: 0.75 in bucket 0, (0.5, 1]; 3 and 3.5 in bucket 2, (2, 4]; 10^12 in
    // bucket 40, (2^39, 2^40].
    let spans: Vec<(i32, u32)> = h
        .positive_span
        .iter()
        .map(|s| (s.offset(), s.length()))
        .collect();
    assert_eq!(spans, [(0, 1), (1, 1), (37, 1)]);
    assert_eq!(h.positive_delta, [1, 1, -1]);
    // The classic buckets ride along.
    let classic: Vec<u64> = h.bucket.iter().map(|b| b.cumulative_count()).collect();
    assert_eq!(classic, [1, 3, 4]);
}
