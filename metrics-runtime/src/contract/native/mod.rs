//! Native histograms: Prometheus' sparse exponential buckets, kept beside the classic
//! buckets of the three duration families.
//!
//! At schema `s`, bucket `i` holds the observations in `(2^((i-1)/2^s), 2^(i/2^s)]`
//! seconds: every power of two is a boundary and is split into `2^s` buckets, each
//! `2^(2^-s)` times as wide as the one below. Observations at or below the zero
//! threshold count in the zero bucket. When the buckets of a histogram would span more
//! than its maximum bucket count, as client_golang does: first, if the histogram has
//! gone `min_reset_duration` without a reset, it resets (counts restart at zero, at the
//! fine schema); else, up to `max_zero_threshold`, the zero bucket widens over the
//! lowest buckets; else its schema drops by one (pairs of buckets merge) until they fit.
//! With neither setting, the schema never rises again while the process runs.
//!
//! Durations arrive as integer nanoseconds. Since `index(2v) = index(v) + 2^s`, where an
//! observation falls within its power of two of nanoseconds decides the rest: its
//! leading zeros give the octave, and a table of the `2^s` boundaries inside one octave,
//! indexed by the top bits after the leading one, finds its bucket with one load and
//! one compare. No floating point on the recording path.

mod layout;

use std::fmt;
use std::time::Duration;

pub(crate) use layout::{reduce, NativeLayout, NativeLimits, NO_ZERO_LIMIT};

/// Lowest schema Prometheus accepts: each bucket spans a factor of 2^16.
pub const MIN_SCHEMA: i8 = -4;
/// Highest schema Prometheus accepts: 256 buckets per power of two.
pub const MAX_SCHEMA: i8 = 8;

/// Settings of the native histogram of one duration family.
///
/// ```
/// use keychain_metrics::NativeHistogram;
///
/// // Buckets at most 5 % wide (schema 4), durations up to 10 µs in the zero bucket,
/// // at most 100 buckets.
/// let native = NativeHistogram::default()
///     .bucket_factor(1.05)
///     .zero_threshold(10e-6)
///     .max_buckets(100);
/// assert_eq!(native.get_schema(), 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct NativeHistogram {
    schema: i8,
    zero_threshold: f64,
    max_buckets: u32,
    min_reset_duration: Duration,
    max_zero_threshold: f64,
}

impl Default for NativeHistogram {
    /// Schema 3 (each bucket 9.05 % wider than the one below, so any quantile is known
    /// within 9.05 %), a zero bucket for zero durations only, and at most 160 buckets:
    /// twenty powers of two at schema 3, from 1 µs to 1 s.
    fn default() -> Self {
        NativeHistogram {
            schema: 3,
            zero_threshold: 0.0,
            max_buckets: 160,
            min_reset_duration: Duration::ZERO,
            max_zero_threshold: 0.0,
        }
    }
}

impl NativeHistogram {
    /// Sets the schema: each power of two is split into `2^schema` buckets
    /// ([`MIN_SCHEMA`]` ..= `[`MAX_SCHEMA`]).
    pub fn schema(mut self, schema: i8) -> Self {
        self.schema = schema;
        self
    }

    /// Sets the schema from the largest acceptable ratio between two neighbouring
    /// bucket bounds: the coarsest schema whose factor `2^(2^-schema)` does not exceed
    /// `factor` (as client_golang's `NativeHistogramBucketFactor`), or the finest if
    /// none is that fine. A factor at or below 1, or not a number, selects no valid
    /// schema and fails validation.
    pub fn bucket_factor(mut self, factor: f64) -> Self {
        self.schema = if factor > 1.0 {
            (MIN_SCHEMA..=MAX_SCHEMA)
                .find(|&s| growth(s) <= factor)
                .unwrap_or(MAX_SCHEMA)
        } else {
            MAX_SCHEMA + 1
        };
        self
    }

    /// Sets the zero threshold in seconds: durations at or below it count in the zero
    /// bucket rather than in a bucket of their own.
    pub fn zero_threshold(mut self, seconds: f64) -> Self {
        self.zero_threshold = seconds;
        self
    }

    /// Sets the most buckets one histogram spans (at least 8). Beyond it, the schema
    /// drops by one, halving the resolution, until the buckets fit.
    pub fn max_buckets(mut self, buckets: u32) -> Self {
        self.max_buckets = buckets;
        self
    }

    /// Sets how long a histogram must have gone without a reset before one that would
    /// need more than `max_buckets` resets instead of losing resolution (client_golang's
    /// `NativeHistogramMinResetDuration`; zero, the default, never resets). A reset
    /// restarts the whole series at zero: for an operation, its status counters too,
    /// which share its cells, with one new start timestamp; `rate()` reads it as a
    /// counter reset. So a long-running server recovers its resolution after a burst of
    /// outliers, at the price of a reset at most this often.
    pub fn min_reset_duration(mut self, duration: Duration) -> Self {
        self.min_reset_duration = duration;
        self
    }

    /// Sets how far the zero bucket may widen, in seconds, before the schema drops:
    /// when the buckets would span more than `max_buckets`, the lowest ones merge into
    /// the zero bucket as long as its threshold stays at or below this
    /// (client_golang's `NativeHistogramMaxZeroThreshold`; zero, the default, never
    /// widens). The zero threshold then rises to a bucket bound, and stays there.
    pub fn max_zero_threshold(mut self, seconds: f64) -> Self {
        self.max_zero_threshold = seconds;
        self
    }

    /// The schema.
    pub fn get_schema(&self) -> i8 {
        self.schema
    }

    /// The zero threshold in seconds.
    pub fn get_zero_threshold(&self) -> f64 {
        self.zero_threshold
    }

    /// The most buckets one histogram spans.
    pub fn get_max_buckets(&self) -> u32 {
        self.max_buckets
    }

    /// How long a histogram goes without a reset before one may replace a loss of
    /// resolution (zero: never).
    pub fn get_min_reset_duration(&self) -> Duration {
        self.min_reset_duration
    }

    /// How far, in seconds, the zero bucket may widen before the schema drops (zero:
    /// never).
    pub fn get_max_zero_threshold(&self) -> f64 {
        self.max_zero_threshold
    }

    /// The largest relative error of a quantile read from buckets of this schema
    /// (`2^(2^-schema) - 1`): 9.05 % at schema 3.
    pub fn relative_error(&self) -> f64 {
        growth(self.schema) - 1.0
    }
}

/// The ratio between neighbouring bounds at `schema`.
fn growth(schema: i8) -> f64 {
    2f64.powf(2f64.powi(-i32::from(schema)))
}

/// Most buckets a native histogram may span: bounds its memory.
pub const MAX_NATIVE_BUCKETS: u32 = 4096;

/// Why native-histogram settings were refused; the builder adds the field name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NativeError {
    Schema(i8),
    ZeroThreshold(f64),
    MaxBuckets(u32),
    MaxZeroThreshold(f64),
}

impl fmt::Display for NativeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NativeError::Schema(s) => write!(
                f,
                "schema {s} is outside {MIN_SCHEMA}..={MAX_SCHEMA} (a bucket factor must \
                 be above 1)"
            ),
            NativeError::ZeroThreshold(z) => write!(
                f,
                "zero threshold {z} is not a duration of 0 s up to 1 hour"
            ),
            NativeError::MaxBuckets(n) => {
                write!(f, "max buckets {n} is outside 8..={MAX_NATIVE_BUCKETS}")
            }
            NativeError::MaxZeroThreshold(z) => write!(
                f,
                "max zero threshold {z} is not 0 (never widen) or a duration from the \
                 zero threshold up to 1 hour"
            ),
        }
    }
}
