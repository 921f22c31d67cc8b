//! One native histogram's settings as YAML writes them (a switch, or the fields of
//! `NativeHistogram`), and their checks: for the contract's duration families and for
//! the `metrics` facade's histograms alike.

use std::fmt;

use serde::Deserialize;

use crate::config::duration::{parse_duration, RawDuration};
use crate::config::{invalid, ConfigError};
use crate::contract::native::{NativeHistogram, NativeLayout};

/// One family's native histogram: a switch, or its settings.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "true, false, or a map of schema or bucket_factor, zero_threshold, max_buckets, min_reset_duration and max_zero_threshold"
)]
pub(super) enum RawNative {
    On(bool),
    Settings(RawNativeSettings),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNativeSettings {
    schema: Option<i64>,
    bucket_factor: Option<f64>,
    zero_threshold: Option<f64>,
    max_buckets: Option<i64>,
    min_reset_duration: Option<RawDuration>,
    max_zero_threshold: Option<f64>,
}

/// The field names of one family's settings, for errors.
pub(super) struct NativeFields {
    pub(super) schema: &'static str,
    pub(super) bucket_factor: &'static str,
    pub(super) zero_threshold: &'static str,
    pub(super) max_buckets: &'static str,
    pub(super) min_reset_duration: &'static str,
    pub(super) max_zero_threshold: &'static str,
}

pub(super) fn native(
    raw: Option<RawNative>,
    f: NativeFields,
) -> Result<Option<NativeHistogram>, ConfigError> {
    let s = match raw {
        Some(RawNative::On(true)) => return Ok(Some(NativeHistogram::default())),
        None | Some(RawNative::On(false)) => return Ok(None),
        Some(RawNative::Settings(s)) => s,
    };
    let mut n = NativeHistogram::default();
    match (s.schema, s.bucket_factor) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                f.bucket_factor,
                "(with schema)",
                "give schema or bucket_factor, not both",
            ))
        }
        (Some(schema), None) => {
            n = n.schema(i8::try_from(schema).unwrap_or(i8::MAX));
            check(&n, f.schema, schema, "must be between -4 and 8")?;
        }
        (None, Some(factor)) => {
            n = n.bucket_factor(factor);
            check(&n, f.bucket_factor, factor, "must be above 1")?;
        }
        (None, None) => {}
    }
    if let Some(z) = s.zero_threshold {
        n = n.zero_threshold(z);
        check(
            &n,
            f.zero_threshold,
            z,
            "must be a duration of 0 s up to 1 hour",
        )?;
    }
    if let Some(m) = s.max_buckets {
        n = n.max_buckets(u32::try_from(m).unwrap_or(0));
        check(&n, f.max_buckets, m, "must be between 8 and 4096")?;
    }
    if let Some(d) = s.min_reset_duration {
        n = n.min_reset_duration(parse_duration(d, f.min_reset_duration)?);
    }
    if let Some(z) = s.max_zero_threshold {
        n = n.max_zero_threshold(z);
        check(
            &n,
            f.max_zero_threshold,
            z,
            "must be 0 (never widen) or a duration from zero_threshold up to 1 hour",
        )?;
    }
    Ok(Some(n))
}

/// Fails with `field`, `value` and `reason` if `n` is not valid.
fn check(
    n: &NativeHistogram,
    field: &'static str,
    value: impl fmt::Display,
    reason: &'static str,
) -> Result<(), ConfigError> {
    NativeLayout::new(n)
        .map(drop)
        .map_err(|_| invalid(field, value, reason))
}
