//! The snapshot's JSON, exactly; its bound; hostile label values.

use std::time::Duration;

use super::{encode, MAX_SERIES};
use crate::trace::TraceContext;
use crate::{Metrics, NativeHistogram, Op, Status};

fn snapshot(m: &Metrics) -> String {
    let mut out = String::new();
    encode(&m.store, 1_796_193_661_899, &mut out);
    out
}

#[test]
fn one_operation_a_gauge_and_a_user_counter_exactly() {
    let m = Metrics::builder()
        .operation_buckets([0.5, 1.0])
        .build()
        .unwrap();
    m.record_operation(
        Op::Sign,
        "pkcs11",
        Status::Success,
        Duration::from_millis(750),
    );
    m.record_operation(
        Op::Sign,
        "pkcs11",
        Status::Success,
        Duration::from_millis(250),
    );
    m.set_keys_total("pkcs11", 3);
    let jobs = prometheus::IntCounter::new("app_jobs_total", "Jobs.").unwrap();
    m.registry().register(Box::new(jobs.clone())).unwrap();
    jobs.inc_by(4);
    let expected = concat!(
        r#"{"version":1,"time_ms":1796193661899,"exemplars":false,"families":["#,
        r#"{"name":"keychain_operations_total","type":"counter","help":"Keychain operations, by operation, backend and outcome.","source":"contract","contract":"operations_total","series":["#,
        r#"{"labels":{"backend":"pkcs11","operation":"sign","status":"success"},"value":2},"#,
        r#"{"labels":{"backend":"pkcs11","operation":"sign","status":"error"},"value":0}]},"#,
        r#"{"name":"keychain_operation_duration_seconds","type":"histogram","help":"Duration of keychain operations in seconds.","source":"contract","contract":"operation_duration_seconds","bounds":[0.5,1],"series":["#,
        r#"{"labels":{"backend":"pkcs11","operation":"sign"},"count":2,"sum":1,"counts":[1,1,0]}]},"#,
        r#"{"name":"keychain_active_connections","type":"gauge","help":"Requests or connections in flight, by protocol.","source":"contract","contract":"active_connections","series":["#,
        r#"{"labels":{"protocol":"http"},"value":0},{"labels":{"protocol":"grpc"},"value":0},"#,
        r#"{"labels":{"protocol":"quic"},"value":0},{"labels":{"protocol":"mcp"},"value":0}]},"#,
        r#"{"name":"keychain_keys_total","type":"gauge","help":"Keys held, by backend.","source":"contract","contract":"keys_total","series":["#,
        r#"{"labels":{"backend":"pkcs11"},"value":3}]},"#,
        r#"{"name":"app_jobs_total","type":"counter","help":"Jobs.","source":"registry","series":["#,
        r#"{"labels":{},"value":4}]}"#,
        r#"],"omitted_series":0}"#,
    );
    assert_eq!(snapshot(&m), expected);
}

#[test]
fn native_buckets_and_exemplars_of_a_traced_call() {
    let m = Metrics::builder()
        .operation_buckets([0.01, 0.1])
        .operation_native(Some(NativeHistogram::default().schema(0)))
        .exemplars(true)
        .build()
        .unwrap();
    let trace = TraceContext::new([0xab; 16], [0xcd; 8]).unwrap();
    {
        let _in = trace.enter();
        m.record_operation(
            Op::Encrypt,
            "tpm2",
            Status::Success,
            Duration::from_millis(3),
        );
    }
    m.record_operation(
        Op::Encrypt,
        "tpm2",
        Status::Success,
        Duration::from_millis(50),
    );
    let json = snapshot(&m);
    assert!(json.starts_with(r#"{"version":1,"time_ms":1796193661899,"exemplars":true,"#));
    // 3 ms is in (2^-9, 2^-8] = bucket -8 of schema 0; 50 ms in (2^-5, 2^-4] = -4.
    let histogram = concat!(
        r#"{"labels":{"backend":"tpm2","operation":"encrypt"},"count":2,"sum":0.053,"#,
        r#""counts":[1,1,0],"native":{"schema":0,"zero_threshold":0,"zero_count":0,"#,
        r#""buckets":[[-8,1],[-4,1]]},"exemplars":[{"bucket":0,"#,
        r#""trace_id":"abababababababababababababababab","span_id":"cdcdcdcdcdcdcdcd","#,
        r#""value":0.003,"time_ms":"#,
    );
    assert!(json.contains(histogram), "{json}");
    let at = json.find(histogram).unwrap() + histogram.len();
    let time: u64 = json[at..at + 13].parse().unwrap();
    let now = crate::clock::coarse_unix_ms();
    assert!(now.abs_diff(time) < 60_000, "{time} vs {now}");
    assert!(json[at + 13..].starts_with("}]}"), "{json}");
}

#[test]
fn hostile_label_values_stay_inside_their_strings() {
    let m = Metrics::new();
    let hostile = "a\"b\\c\nd</script><&\u{1}\u{2028}";
    m.set_keys_total(hostile, 1);
    let json = snapshot(&m);
    let expected = r#"{"labels":{"backend":"a\"b\\c\nd\u003c/script\u003e\u003c\u0026\u0001\u2028"},"value":1}"#;
    assert!(json.contains(expected), "{json}");
    assert!(!json.contains('<') && !json.contains('\u{2028}'));
}

#[test]
fn at_most_max_series_and_the_rest_counted() {
    let m = Metrics::new();
    let gauge =
        prometheus::IntGaugeVec::new(prometheus::Opts::new("app_shards", "Shards."), &["shard"])
            .unwrap();
    m.registry().register(Box::new(gauge.clone())).unwrap();
    for i in 0..MAX_SERIES + 5 {
        gauge.with_label_values(&[&i.to_string()]).set(1);
    }
    let json = snapshot(&m);
    // The four in-flight gauges come first, so 4 + 5 of the user's are left out.
    assert!(
        json.ends_with(r#"],"omitted_series":9}"#),
        "{}",
        &json[json.len() - 80..]
    );
    assert_eq!(json.matches(r#"{"labels":"#).count(), MAX_SERIES);
}

#[test]
fn numbers_json_cannot_hold_are_strings() {
    let mut out = String::new();
    for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e-7, -0.5, 2.0] {
        super::push_number(&mut out, v);
        out.push(' ');
    }
    assert_eq!(out, r#""NaN" "+Inf" "-Inf" 1e-7 -0.5 2 "#);
}
