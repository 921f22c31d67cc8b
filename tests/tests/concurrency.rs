//! Exact totals under contention, and scrapes that never see a torn series.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use keychain_metrics::{Metrics, Op, Status};

const PER_THREAD: u64 = 1_000_000;

#[test]
fn two_threads_a_million_each_through_one_handle() {
    let m = Metrics::new();
    let h = m.operation(Op::Sign, "pkcs8");
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..PER_THREAD {
                    h.record(Status::Success, Duration::from_micros(1500));
                }
            });
        }
    });
    let text = m.encode_text();
    let total = 2 * PER_THREAD;
    assert_eq!(
        common::value(&text, "keychain_operations_total", &[("status", "success")]),
        Some(total as f64)
    );
    assert_eq!(
        common::value(
            &text,
            "keychain_operation_duration_seconds_bucket",
            &[("le", "0.005")]
        ),
        Some(total as f64)
    );
    assert_eq!(
        common::value(
            &text,
            "keychain_operation_duration_seconds_bucket",
            &[("le", "0.001")]
        ),
        Some(0.0)
    );
    // 2,000,000 × 1.5 ms = 3000 s exactly: the sum is kept in integer nanoseconds.
    assert_eq!(
        common::value(&text, "keychain_operation_duration_seconds_sum", &[]),
        Some(3000.0)
    );
}

#[test]
fn two_threads_a_million_each_by_label_values() {
    let m = Metrics::new();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..PER_THREAD {
                    m.record_error(Op::Decrypt, "tpm2", "bad_tag");
                }
            });
        }
    });
    let text = m.encode_text();
    assert_eq!(
        common::value(&text, "keychain_errors_total", &[]),
        Some((2 * PER_THREAD) as f64)
    );
}

#[test]
fn many_short_lived_threads_keep_every_count() {
    // More threads over time than there are stripe leases: leases are reused.
    let m = Metrics::new();
    let h = m.operation(Op::List, "memory");
    for _ in 0..50 {
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        h.record(Status::Success, Duration::from_millis(1));
                    }
                });
            }
        });
    }
    let text = m.encode_text();
    assert_eq!(
        common::value(&text, "keychain_operations_total", &[("status", "success")]),
        Some(400_000.0)
    );
}

#[test]
fn more_live_threads_than_leases_share_a_stripe_correctly() {
    let m = Metrics::new();
    let h = m.operation(Op::Store, "memory");
    let threads = 300; // above the lease pool of any machine up to 64 cores
    let barrier = std::sync::Barrier::new(threads);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                barrier.wait();
                for _ in 0..1000 {
                    h.record(Status::Success, Duration::from_millis(2));
                }
                barrier.wait();
            });
        }
    });
    let text = m.encode_text();
    assert_eq!(
        common::value(&text, "keychain_operation_duration_seconds_count", &[]),
        Some(300_000.0)
    );
}

/// Checks one scrape of a histogram observed only with `d`: buckets rise, `+Inf` equals
/// `_count`, `_sum` is exactly `_count × d`, and the status counter equals `_count`.
fn check_consistent(text: &str, d: Duration) -> u64 {
    let samples = common::parse(text);
    let buckets: Vec<f64> = samples
        .iter()
        .filter(|s| s.name == "keychain_operation_duration_seconds_bucket")
        .map(|s| s.value)
        .collect();
    if buckets.is_empty() {
        return 0;
    }
    assert!(
        buckets.windows(2).all(|w| w[0] <= w[1]),
        "buckets decrease: {buckets:?}"
    );
    let get = |name: &str| {
        samples
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.value)
            .unwrap()
    };
    let count = get("keychain_operation_duration_seconds_count");
    let sum = get("keychain_operation_duration_seconds_sum");
    let ok = get("keychain_operations_total");
    assert_eq!(*buckets.last().unwrap(), count, "+Inf != _count");
    assert_eq!(ok, count, "status counter and histogram disagree");
    let expected_ns = count as u128 * d.as_nanos();
    assert_eq!(
        (sum * 1e9).round() as u128,
        expected_ns,
        "_sum does not belong to _count"
    );
    count as u64
}

#[test]
fn concurrent_scrapes_see_whole_recordings_only() {
    let m = Metrics::new();
    let h = m.operation(Op::Sign, "pkcs8");
    let d = Duration::from_micros(2_500);
    let stop = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_secs(2);
    let (scrapes, recorded) = std::thread::scope(|s| {
        let observers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        h.record(Status::Success, d);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut scrapes = 0;
        let mut last = 0;
        let mut buf = String::new();
        while Instant::now() < deadline {
            buf.clear();
            m.encode_into(keychain_metrics::TextFormat::Text, &mut buf);
            let count = check_consistent(&buf, d);
            assert!(count >= last, "count went backwards");
            last = count;
            scrapes += 1;
        }
        stop.store(true, Ordering::Relaxed);
        let recorded: u64 = observers.into_iter().map(|o| o.join().unwrap()).sum();
        (scrapes, recorded)
    });
    assert!(scrapes > 10, "only {scrapes} scrapes");
    let final_count = check_consistent(&m.encode_text(), d);
    assert_eq!(final_count, recorded);
}
