//! Delta temporality: the changes add up to the totals, whatever failed between.

use std::time::Duration;

use super::*;

#[test]
fn deltas_add_up_to_the_totals_and_a_failed_export_is_folded_in() {
    let m = Metrics::new();
    let sign = m.operation(Op::Sign, "pkcs11");
    let mut deltas = Deltas::default();
    let mut sent_calls = 0;
    let mut sent_buckets = vec![0u64; crate::OPERATION_BUCKETS.len() + 1];
    let calls = |r: &ExportMetricsServiceRequest| -> (i64, u64, i32) {
        let ops = metric(r, "keychain_operations");
        let Some(Data::Sum(s)) = &ops.data else {
            panic!()
        };
        let p = number(ops, &[("status", "success")]);
        (int(p), p.start_time_unix_nano, s.aggregation_temporality)
    };
    let mut last_time = 0;
    for (round, (n, accepted)) in [(3, true), (2, false), (4, true), (0, true), (1, true)]
        .into_iter()
        .enumerate()
    {
        for _ in 0..n {
            sign.record(
                Status::Success,
                Duration::from_millis(20 * (round as u64 + 1)),
            );
        }
        let r = push(&m, Temporality::Delta, &mut deltas);
        let (delta, start, temporality) = calls(&r);
        assert_eq!(temporality, DELTA);
        let Some(Data::Histogram(h)) = &metric(&r, "keychain_operation_duration").data else {
            panic!()
        };
        assert_eq!(h.aggregation_temporality, DELTA);
        if accepted {
            // Each change starts where the last accepted one ended.
            if last_time > 0 {
                assert_eq!(start, last_time, "round {round}");
            }
            last_time =
                number(metric(&r, "keychain_operations"), &[("status", "success")]).time_unix_nano;
            sent_calls += delta;
            for (total, n) in sent_buckets.iter_mut().zip(&h.data_points[0].bucket_counts) {
                *total += n;
            }
            deltas.commit();
        } else {
            deltas.abandon();
        }
        assert_eq!(
            deltas.len(),
            3,
            "the counter, the histogram and the other status"
        );
    }
    let total = cumulative(&m);
    let scraped = int(number(
        metric(&total, "keychain_operations"),
        &[("status", "success")],
    ));
    assert_eq!(
        (sent_calls, scraped),
        (10, 10),
        "nothing lost, nothing twice"
    );
    let Some(Data::Histogram(h)) = &metric(&total, "keychain_operation_duration").data else {
        panic!()
    };
    assert_eq!(sent_buckets, h.data_points[0].bucket_counts);
}

#[test]
fn native_deltas_add_up_across_a_coarser_schema() {
    let m = Metrics::builder()
        .operation_native(Some(NativeHistogram::default().max_buckets(8)))
        .build()
        .unwrap();
    let sign = m.operation(Op::Sign, "pkcs11");
    let mut deltas = Deltas::default();
    let mut sent: std::collections::BTreeMap<i32, u64> = Default::default();
    let mut count = 0;
    let mut scales = Vec::new();
    // Each round widens the range, so the schema drops between exports.
    for round in 0..4u32 {
        for k in 0..5u64 {
            sign.record(
                Status::Success,
                Duration::from_micros((k + 1) * 10u64.pow(round + 1)),
            );
        }
        let r = push(&m, Temporality::Delta, &mut deltas);
        let Some(Data::ExponentialHistogram(h)) = &metric(&r, "keychain_operation_duration").data
        else {
            panic!()
        };
        let p = &h.data_points[0];
        scales.push(p.scale);
        // Bring what was sent to this scale, then add the change.
        let shift = |i: i32, from: i32| i >> (from - p.scale);
        let last = *scales.iter().rev().nth(1).unwrap_or(&p.scale);
        sent = sent
            .into_iter()
            .fold(Default::default(), |mut acc, (i, n)| {
                *acc.entry(shift(i, last)).or_default() += n;
                acc
            });
        let positive = p.positive.as_ref().unwrap();
        for (i, n) in positive.bucket_counts.iter().enumerate() {
            *sent.entry(positive.offset + i as i32).or_default() += n;
        }
        count += p.count;
        deltas.commit();
    }
    assert!(
        scales.first() > scales.last(),
        "the schema dropped: {scales:?}"
    );
    let total = cumulative(&m);
    let Some(Data::ExponentialHistogram(h)) = &metric(&total, "keychain_operation_duration").data
    else {
        panic!()
    };
    let p = &h.data_points[0];
    assert_eq!(count, p.count);
    let positive = p.positive.as_ref().unwrap();
    let expected: std::collections::BTreeMap<i32, u64> = positive
        .bucket_counts
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, n)| (positive.offset + i as i32, *n))
        .collect();
    sent.retain(|_, n| *n > 0);
    assert_eq!(sent, expected);
}
