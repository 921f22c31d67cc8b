//! Properties of hostile label values: any string survives the exposition and parses
//! back to itself (or to `other` past the length limit), and series stay within caps.

mod common;

use keychain_metrics::{Metrics, Op, MAX_LABEL_LEN, OVERFLOW};
use proptest::prelude::*;

/// Strings heavy in what the format must escape, plus any Unicode.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        "[\"\\\\\n{},= a-z]{0,40}",
        any::<String>(),
        "[a\"\\\\\n]{250,300}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn label_values_round_trip(backend in hostile(), error_type in hostile()) {
        let m = Metrics::new();
        m.record_error(Op::Sign, &backend, &error_type);
        let expect = |v: &str| if v.len() > MAX_LABEL_LEN { OVERFLOW.to_owned() } else { v.to_owned() };
        for text in [m.encode_text(), m.encode_openmetrics()] {
            let samples = common::parse(&text);
            let errors: Vec<_> = samples.iter().filter(|s| s.name == "keychain_errors_total").collect();
            prop_assert_eq!(errors.len(), 1);
            prop_assert_eq!(&errors[0].labels["backend"], &expect(&backend));
            prop_assert_eq!(&errors[0].labels["error_type"], &expect(&error_type));
            prop_assert_eq!(errors[0].value, 1.0);
            // Every line is a comment or one whole sample: no value leaked a line break.
            prop_assert!(text.lines().all(|l| l.starts_with('#') || l.starts_with("keychain_")));
        }
    }

    #[test]
    fn series_stay_within_the_cap(values in proptest::collection::vec(hostile(), 1..60)) {
        let m = Metrics::builder().max_label_values(5).build().unwrap();
        for v in &values {
            m.record_error(Op::Get, "pkcs8", v);
        }
        let text = m.encode_text();
        let samples = common::parse(&text);
        let errors: Vec<_> = samples.iter().filter(|s| s.name == "keychain_errors_total").collect();
        prop_assert!(errors.len() <= 6, "{} series", errors.len());
        let total: f64 = errors.iter().map(|s| s.value).sum();
        prop_assert_eq!(total, values.len() as f64);
    }
}
