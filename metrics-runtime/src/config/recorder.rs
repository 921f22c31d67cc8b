//! `metrics.recorder`: the `metrics` facade's bucket bounds, native histograms and cap,
//! as written, and the [`RecorderConfig`] they give, checked.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::native::{native, NativeFields, RawNative};
use crate::config::{invalid, ConfigError};
use crate::contract::named::NamedRules;
use crate::RecorderConfig;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRecorder {
    /// Pattern → bounds. A map has no order: patterns of equal length tie in the
    /// order of their spelling.
    buckets: Option<BTreeMap<String, Vec<f64>>>,
    max_label_sets: Option<i64>,
    native: Option<RawNative>,
}

const NATIVE: NativeFields = NativeFields {
    schema: "metrics.recorder.native.schema",
    bucket_factor: "metrics.recorder.native.bucket_factor",
    zero_threshold: "metrics.recorder.native.zero_threshold",
    max_buckets: "metrics.recorder.native.max_buckets",
    min_reset_duration: "metrics.recorder.native.min_reset_duration",
    max_zero_threshold: "metrics.recorder.native.max_zero_threshold",
};

impl RawRecorder {
    pub(super) fn read(self) -> Result<RecorderConfig, ConfigError> {
        let mut config = RecorderConfig::default().native(native(self.native, NATIVE)?);
        if let Some(limit) = self.max_label_sets {
            let limit = usize::try_from(limit)
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    invalid(
                        "metrics.recorder.max_label_sets",
                        limit,
                        "must be at least 1",
                    )
                })?;
            config = config.max_label_sets(limit);
        }
        for (pattern, bounds) in self.buckets.unwrap_or_default() {
            config = config.buckets(pattern, bounds);
        }
        // The same checks as the builder's, named as the YAML spells the field.
        NamedRules::new(&config).map_err(|(field, message)| ConfigError::Field {
            field: format!("metrics.recorder.{field}"),
            message,
        })?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::MetricsConfig;

    fn error(yaml: &str) -> String {
        MetricsConfig::from_yaml(yaml).unwrap_err().to_string()
    }

    #[test]
    fn buckets_cap_and_native_from_yaml() {
        let config = MetricsConfig::from_yaml(
            "metrics:\n  recorder:\n    buckets:\n      pkcs8.fsync: [0.001, 0.01]\n      \
             '*_bytes': [1024, 65536]\n    max_label_sets: 50\n    native: { schema: 2 }\n",
        )
        .unwrap();
        let expected = crate::RecorderConfig::default()
            .native(Some(crate::NativeHistogram::default().schema(2)))
            .max_label_sets(50)
            .buckets("*_bytes", [1024.0, 65536.0])
            .buckets("pkcs8.fsync", [0.001, 0.01]);
        assert_eq!(config.recorder, expected);
        assert!(config.metrics_builder().build().is_ok());
    }

    #[test]
    fn a_bad_field_is_named_with_its_value() {
        assert_eq!(
            error("metrics: { recorder: { max_label_sets: 0 } }"),
            "metrics.recorder.max_label_sets: 0: must be at least 1"
        );
        let e = error("metrics: { recorder: { buckets: { x: [2, 1] } } }");
        assert!(
            e.starts_with(r#"metrics.recorder.buckets["x"]: [2.0, 1.0]: bounds must increase"#),
            "{e}"
        );
        let e = error("metrics: { recorder: { buckets: { 'a*b*': [1] } } }");
        assert!(
            e.starts_with(r#"metrics.recorder.buckets["a*b*"]: a pattern is"#),
            "{e}"
        );
        let e = error("metrics: { recorder: { native: { schema: 9 } } }");
        assert!(e.starts_with("metrics.recorder.native.schema: 9:"), "{e}");
        let e = error("metrics: { recorder: { bukets: {} } }");
        assert!(e.contains("bukets"), "{e}");
    }
}
