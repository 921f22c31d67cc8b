//! Hostile configuration, as properties: any bytes or YAML-shaped text give a config that
//! validates or an error that names a field or a line (`keychain_metrics_invariants::
//! config`, also fuzzed in `fuzz/`); and any valid configuration is read back exactly.

use std::time::Duration;

use keychain_metrics::config::MetricsConfig;
use keychain_metrics_invariants::config::check;
use proptest::prelude::*;

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "enabled|port|path|address|bearer_token|collector_interval",
        "[a-z_]{1,12}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        "true|false|yes|no|~|null|''|\"\"",
        "-?[0-9]{1,25}(\\.[0-9]{0,5})?(e[0-9]{1,4})?(ms|s|m|h|d)?",
        "/[ -~]{0,20}",
        "\"[ -~\\\\\n\t]{0,30}\"",
        "\\[[0-9, ]{0,10}\\]|\\{[a-z: 0-9,]{0,12}\\}",
        "[0-9.:a-f\\[\\]]{0,40}",
        "&a [*a]|!!binary aGk=|!custom 5|<<: *x",
    ]
}

fn document() -> impl Strategy<Value = String> {
    let field = (key(), value()).prop_map(|(k, v)| format!("  {k}: {v}\n"));
    (
        "metrics:\n|metrics: |other: 1\nmetrics:\n|",
        proptest::collection::vec(field, 0..8),
    )
        .prop_map(|(head, fields)| format!("{head}{}", fields.concat()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn yaml_shaped_text_is_a_config_or_an_error_that_says_where(text in document()) {
        if let Err(violation) = check(text.as_bytes()) {
            prop_assert!(false, "{}\n{}", violation, text);
        }
    }

    #[test]
    fn any_bytes_are_a_config_or_an_error_that_says_where(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Err(violation) = check(&data) {
            prop_assert!(false, "{}", violation);
        }
    }

    #[test]
    fn valid_configs_are_read_back_exactly(
        enabled in any::<bool>(),
        port in 1u16..,
        path in "/[a-z0-9_/-]{1,20}",
        millis in 1u64..10_000_000,
        token in proptest::option::of("[!-~]{1,40}"),
    ) {
        let token_line = token
            .as_ref()
            .map(|t| format!("  bearer_token: '{}'\n", t.replace('\'', "''")))
            .unwrap_or_default();
        let text = format!(
            "metrics:\n  enabled: {enabled}\n  port: {port}\n  path: {path}\n  collector_interval: {millis}ms\n{token_line}"
        );
        let config = MetricsConfig::from_yaml(&text);
        prop_assert!(config.is_ok(), "{:?}\n{}", config, text);
        let config = config.unwrap();
        prop_assert_eq!(config.enabled, enabled);
        prop_assert_eq!(config.port, port);
        prop_assert_eq!(&config.path, &path);
        prop_assert_eq!(config.collector_interval, Duration::from_millis(millis));
        prop_assert_eq!(config.bearer_token, token);
    }
}
