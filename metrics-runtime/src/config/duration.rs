//! Durations as the configuration writes them: seconds, or a number with a unit.

use std::time::Duration;

use serde::Deserialize;

use super::error::{invalid, ConfigError};

#[derive(Deserialize)]
#[serde(untagged, expecting = "seconds, or a number with ms, s, m or h")]
pub(crate) enum RawDuration {
    Seconds(f64),
    Text(String),
}

/// `30`, `2.5`, `"30s"`, `"500ms"`, `"2m"`, `"1h"`, for `field`.
pub(crate) fn parse_duration(
    raw: RawDuration,
    field: &'static str,
) -> Result<Duration, ConfigError> {
    let (seconds, shown) = match raw {
        RawDuration::Seconds(s) => (s, s.to_string()),
        RawDuration::Text(text) => {
            let t = text.trim();
            let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
                (n, 1e-3)
            } else if let Some(n) = t.strip_suffix('s') {
                (n, 1.0)
            } else if let Some(n) = t.strip_suffix('m') {
                (n, 60.0)
            } else if let Some(n) = t.strip_suffix('h') {
                (n, 3600.0)
            } else {
                (t, 1.0)
            };
            let n: f64 = number.trim().parse().map_err(|_| {
                invalid(
                    field,
                    format!("{text:?}"),
                    "not a duration: use seconds or a number with ms, s, m or h",
                )
            })?;
            (n * scale, format!("{text:?}"))
        }
    };
    if seconds.is_nan() || seconds < 0.0 {
        return Err(invalid(field, shown, "must be greater than zero"));
    }
    if seconds == 0.0 {
        return Err(invalid(field, shown, "must be greater than zero"));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| invalid(field, shown, "too large"))
}
