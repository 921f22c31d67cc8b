//! Hostile label values, as properties: whatever strings arrive as backend, error type,
//! HTTP method or gRPC path (by the API or through the layers), both expositions parse back (with the strict reader) to
//! exactly the counts recorded, and no label passes its cap. The invariant lives in
//! `keychain_metrics_invariants::labels`; `fuzz/` drives the same check with libFuzzer.

use keychain_metrics_invariants::labels::{check, decode, Record, Slot, CAP};
use proptest::prelude::*;

/// Strings heavy in what the format must escape, plus any Unicode, plus long ones.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        "[\"\\\\\n{},= a-z]{0,40}",
        any::<String>(),
        "[a\"\\\\\n]{250,300}",
        Just("other".to_owned()),
        "GET|HEAD|POST|PUT|DELETE|CONNECT|OPTIONS|TRACE|PATCH|get|Get|PROPFIND",
        "/[a-z.]{1,12}/[A-Za-z]{1,8}",
        "/[!-~]{0,30}",
        "[A-Z!#$%&'*+.^_`|~-]{1,12}",
    ]
}

fn record() -> impl Strategy<Value = Record> {
    let slot = prop_oneof![
        Just(Slot::Backend),
        Just(Slot::ErrorType),
        Just(Slot::HttpMethod),
        Just(Slot::GrpcPath),
        Just(Slot::LayerMethod),
        Just(Slot::LayerPath),
    ];
    (slot, hostile()).prop_map(|(slot, value)| Record { slot, value })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_values_parse_back_within_the_caps(records in proptest::collection::vec(record(), 0..40)) {
        if let Err(violation) = check(&records) {
            prop_assert!(false, "{}", violation);
        }
    }

    #[test]
    fn any_bytes_as_the_fuzzer_sends_them(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Err(violation) = check(&decode(&data)) {
            prop_assert!(false, "{}", violation);
        }
    }
}

/// Values reach the layers as a client sends them; what no server would pass on is
/// skipped, and the rest is checked like any other value.
#[test]
fn layer_values_are_recorded_unless_no_server_would_pass_them() {
    let record = |slot, value: &str| Record {
        slot,
        value: value.to_owned(),
    };
    let records = [
        record(Slot::LayerMethod, "PROPFIND"),
        record(Slot::LayerMethod, "GET"),
        record(Slot::LayerMethod, "GE T"),
        record(Slot::LayerPath, "/keychain.v1.Keychain/Sign"),
        record(Slot::LayerPath, "/a/b?x=1"),
        record(Slot::LayerPath, "/a b"),
        record(Slot::LayerPath, "http://host/a"),
    ];
    assert_eq!(check(&records).unwrap(), 4);
}

/// The check is not vacuous: it tells a value past the cap from one within it.
#[test]
fn the_model_counts_values_past_the_cap_as_other() {
    let records: Vec<Record> = (0..CAP + 3)
        .map(|i| Record {
            slot: Slot::Backend,
            value: format!("b\"{i}\n"),
        })
        .collect();
    check(&records).unwrap();
    let m = keychain_metrics::Metrics::builder()
        .max_label_values(CAP)
        .build()
        .unwrap();
    for r in &records {
        m.record_operation(
            keychain_metrics::Op::Sign,
            &r.value,
            keychain_metrics::Status::Success,
            std::time::Duration::from_millis(1),
        );
    }
    let text = m.encode_text();
    assert!(text.contains(
        "keychain_operations_total{backend=\"other\",operation=\"sign\",status=\"success\"} 3\n"
    ));
    assert!(text.contains(
        "keychain_operations_total{backend=\"b\\\"0\\n\",operation=\"sign\",status=\"success\"} 1\n"
    ));
}
