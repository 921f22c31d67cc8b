//! Recordings from more threads than a series has lanes: the threads at home in a lane,
//! the ones that find theirs elsewhere and the ones on the shared stripe all land, on
//! both the classic and the native path.

use std::time::Duration;

use crate::{Metrics, NativeHistogram, Op, Status};

const THREADS: u64 = 12;
const PER_THREAD: u64 = 600;
/// One duration below each of three bounds: 1 ms, 5 ms and 50 ms.
const DURATIONS: [Duration; 3] = [
    Duration::from_micros(800),
    Duration::from_millis(3),
    Duration::from_millis(40),
];

fn value(text: &str, series: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .to_owned()
}

#[test]
fn every_recording_lands_from_more_threads_than_lanes() {
    for native in [None, Some(NativeHistogram::default())] {
        let m = Metrics::builder()
            .operation_native(native)
            .build()
            .expect("valid");
        let handle = m.operation(Op::Sign, "tpm2");
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (m, handle) = (&m, &handle);
                s.spawn(move || {
                    for i in 0..PER_THREAD {
                        let d = DURATIONS[(i % 3) as usize];
                        // Half the threads through the handle, half by label values.
                        if t % 2 == 0 {
                            handle.record(Status::Success, d);
                        } else {
                            m.record_operation(Op::Sign, "tpm2", Status::Error, d);
                        }
                    }
                });
            }
        });
        let text = m.encode_text();
        let labels = r#"backend="tpm2",operation="sign""#;
        let each = THREADS / 2 * PER_THREAD;
        let name = "keychain_operations_total";
        for status in ["success", "error"] {
            let series = format!(r#"{name}{{{labels},status="{status}"}}"#);
            assert_eq!(value(&text, &series), each.to_string(), "{native:?}");
        }
        let name = "keychain_operation_duration_seconds";
        let third = THREADS * PER_THREAD / 3;
        for (le, n) in [("0.001", third), ("0.005", 2 * third), ("0.05", 3 * third)] {
            let series = format!(r#"{name}_bucket{{{labels},le="{le}"}}"#);
            assert_eq!(value(&text, &series), n.to_string(), "{native:?} le={le}");
        }
        let series = format!("{name}_count{{{labels}}}");
        assert_eq!(value(&text, &series), (3 * third).to_string());
        // 2,400 times 800 µs + 3 ms + 40 ms, exactly: the sum is kept in nanoseconds.
        assert_eq!(third, 2_400);
        let series = format!("{name}_sum{{{labels}}}");
        assert_eq!(value(&text, &series), "105.12");
    }
}
