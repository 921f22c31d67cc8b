//! Histogram bucket bounds, held as integer nanoseconds.
//!
//! Every histogram of the contract observes a duration. Keeping the bounds and the sum in
//! nanoseconds makes bucket placement exact (a duration of exactly 5 ms lands in
//! `le="0.005"`, which floating-point seconds cannot promise) and lets the sum be a plain
//! integer cell instead of a compare-and-swap loop on an `f64`.

use crate::contract::native::NativeLayout;
use crate::render;

/// The operation histogram's bounds of the contract, in seconds.
pub const OPERATION_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Prometheus' default bounds, used by the HTTP and gRPC histograms, in seconds.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Most finite bounds a histogram may have (the `+Inf` bucket comes on top).
pub const MAX_BUCKETS: usize = 64;

/// Validated bucket bounds with their rendered `le` values.
#[derive(Debug, Clone)]
pub(crate) struct Buckets {
    /// Upper bounds in nanoseconds, strictly increasing, then `u64::MAX` for `+Inf`,
    /// which [`Buckets::index`] relies on to stop.
    bounds_ns: Box<[u64]>,
    /// Upper bounds in seconds, as given.
    seconds: Box<[f64]>,
    /// `le` values in the text format: `0.005`, `1`, `+Inf`.
    le_text: Box<[Box<str>]>,
    /// `le` values in OpenMetrics, whose canonical floats keep a fraction: `1.0`.
    le_openmetrics: Box<[Box<str>]>,
    /// The native histogram kept beside the classic buckets, if any.
    native: Option<NativeLayout>,
    /// Bounds of a histogram of any values (the `metrics` facade's), not of durations:
    /// placed by comparing floats, and the sum kept in two cells (see
    /// [`Buckets::sum_nanos`]).
    values: bool,
}

/// Why a bucket list was refused; the builder wraps it with the field name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BucketsError {
    Empty,
    TooMany(usize),
    NotFinitePositive(f64),
    #[cfg_attr(not(feature = "recorder"), allow(dead_code))]
    NotFinite(f64),
    NotIncreasing(f64, f64),
}

impl std::fmt::Display for BucketsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BucketsError::Empty => f.write_str("no bucket bounds given"),
            BucketsError::TooMany(n) => {
                write!(f, "{n} bucket bounds given, at most {MAX_BUCKETS} allowed")
            }
            BucketsError::NotFinitePositive(v) => write!(
                f,
                "bound {v} is not a finite duration above 0 s and below 500 years \
                 (+Inf is implicit)"
            ),
            BucketsError::NotFinite(v) => write!(f, "bound {v} is not finite (+Inf is implicit)"),
            BucketsError::NotIncreasing(a, b) => write!(
                f,
                "bounds must increase strictly (at nanosecond resolution): {b} follows {a}"
            ),
        }
    }
}

impl Buckets {
    /// Validates bounds given in seconds.
    pub(crate) fn new(seconds: &[f64]) -> Result<Self, BucketsError> {
        if seconds.is_empty() {
            return Err(BucketsError::Empty);
        }
        if seconds.len() > MAX_BUCKETS {
            return Err(BucketsError::TooMany(seconds.len()));
        }
        // 500 years in seconds stays well inside u64 nanoseconds.
        const MAX_SECONDS: f64 = 500.0 * 365.0 * 86_400.0;
        let mut bounds_ns = Vec::with_capacity(seconds.len() + 1);
        for (i, &s) in seconds.iter().enumerate() {
            if !(s.is_finite() && s > 0.0 && s < MAX_SECONDS) {
                return Err(BucketsError::NotFinitePositive(s));
            }
            let ns = (s * 1e9).round() as u64;
            if i > 0 && ns <= bounds_ns[i - 1] {
                return Err(BucketsError::NotIncreasing(seconds[i - 1], s));
            }
            bounds_ns.push(ns);
        }
        // Every duration meets it: below 500 years, a bound is far from `u64::MAX`.
        bounds_ns.push(u64::MAX);
        Ok(Buckets {
            bounds_ns: bounds_ns.into(),
            seconds: seconds.into(),
            le_text: le(seconds, false),
            le_openmetrics: le(seconds, true),
            native: None,
            values: false,
        })
    }

    /// Validates the bounds of a histogram of any values, in the metric's own unit:
    /// finite and strictly increasing, of either sign.
    #[cfg(feature = "recorder")]
    pub(crate) fn for_values(bounds: &[f64]) -> Result<Self, BucketsError> {
        if bounds.is_empty() {
            return Err(BucketsError::Empty);
        }
        if bounds.len() > MAX_BUCKETS {
            return Err(BucketsError::TooMany(bounds.len()));
        }
        for (i, &b) in bounds.iter().enumerate() {
            if !b.is_finite() {
                return Err(BucketsError::NotFinite(b));
            }
            if i > 0 && b <= bounds[i - 1] {
                return Err(BucketsError::NotIncreasing(bounds[i - 1], b));
            }
        }
        Ok(Buckets {
            // Unused: values are placed by `value_index`.
            bounds_ns: Box::new([u64::MAX]),
            seconds: bounds.into(),
            le_text: le(bounds, false),
            le_openmetrics: le(bounds, true),
            native: None,
            values: true,
        })
    }

    /// Index of the bucket a value falls into, compared as given with the bounds
    /// (`len() - 1` is `+Inf`; NaN too, as Prometheus' clients place it).
    #[cfg(feature = "recorder")]
    #[inline]
    pub(crate) fn value_index(&self, v: f64) -> usize {
        self.seconds
            .iter()
            .position(|&bound| v <= bound)
            .unwrap_or(self.seconds.len())
    }

    /// Cells after the buckets that hold the sum: one for durations (nanoseconds), two
    /// for any values (see [`Buckets::sum_nanos`]).
    #[inline]
    pub(crate) fn sum_cells(&self) -> usize {
        1 + usize::from(self.values)
    }

    /// The sum of a histogram's cells (bucket counts, then the sum cells), in
    /// billionths of the unit (nanoseconds for durations).
    ///
    /// A duration sum is one cell of nanoseconds. A sum of any values, negative ones
    /// and sums past 2^64 billionths (18 GB of bytes) included, is a signed 96-bit
    /// fixed-point number in two cells, `high · 2^32 + low`: each stripe's writer keeps
    /// `low` below 2^32 by carrying into `high`, so adding the stripes' cells, and
    /// subtracting two readings cell by cell (OTLP's deltas), stay plain wrapping
    /// arithmetic on `u64`s.
    pub(crate) fn sum_nanos(&self, cells: &[u64]) -> i128 {
        let at = self.len();
        match self.values {
            false => i128::from(cells[at]),
            true => (i128::from(cells[at + 1] as i64) << 32) + i128::from(cells[at] as i64),
        }
    }

    /// These bounds with a native histogram beside them (or none).
    pub(crate) fn with_native(mut self, native: Option<NativeLayout>) -> Self {
        self.native = native;
        self
    }

    /// The native histogram's layout, if the family keeps one.
    #[inline]
    pub(crate) fn native(&self) -> Option<&NativeLayout> {
        self.native.as_ref()
    }

    /// Number of buckets including `+Inf`.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.seconds.len() + 1
    }

    /// Index of the bucket that `nanos` falls into (`len() - 1` is `+Inf`).
    ///
    /// A linear scan: durations cluster in the low buckets, where it stops after a
    /// compare or two, predictably; a binary search always pays every step. It needs no
    /// end test: the last bound, `+Inf`'s, is `u64::MAX`, which every duration meets.
    #[inline]
    pub(crate) fn index(&self, nanos: u64) -> usize {
        let mut i = 0;
        // SAFETY: `bounds_ns` ends with `u64::MAX` (both constructors push it), so the
        // scan stops at its last index at the latest: `i` stays in bounds.
        while nanos > unsafe { *self.bounds_ns.get_unchecked(i) } {
            i += 1;
        }
        i
    }

    /// Finite upper bounds in seconds.
    pub(crate) fn seconds(&self) -> &[f64] {
        &self.seconds
    }

    /// `le` values including `+Inf`, as the text format spells them (`1`).
    pub(crate) fn le_text(&self) -> &[Box<str>] {
        &self.le_text
    }

    /// `le` values including `+Inf`, as OpenMetrics spells them (`1.0`).
    pub(crate) fn le_openmetrics(&self) -> &[Box<str>] {
        &self.le_openmetrics
    }
}

/// The `le` values of `bounds`, `+Inf` last: without a fraction for integral floats
/// (`1`, the text format) or, when `canonical`, with one (`1.0`, OpenMetrics).
fn le(bounds: &[f64], canonical: bool) -> Box<[Box<str>]> {
    bounds
        .iter()
        .map(|&b| {
            let mut out = String::new();
            render::push_f64(&mut out, b, canonical);
            out.into_boxed_str()
        })
        .chain(std::iter::once("+Inf".into()))
        .collect()
}

/// A value in billionths of its unit, for native buckets and exemplars: 0 for zero,
/// negative values and NaN, saturating at `u64::MAX`.
#[cfg(feature = "recorder")]
#[inline]
pub(crate) fn value_nanos(v: f64) -> u64 {
    // `as` saturates and maps NaN to 0.
    (v * 1e9) as u64
}

/// A value in billionths of its unit, rounded, as the signed fixed-point number a sum
/// of values keeps (see [`Buckets::sum_nanos`]); 0 for NaN and infinities.
#[cfg(feature = "recorder")]
#[inline]
pub(crate) fn signed_nanos(v: f64) -> i128 {
    let n = v * 1e9;
    // Rounded half away from zero by truncating n ± 0.5: one conversion instruction
    // (`round` is a library call without SSE4.1, and so is a conversion to `i128`).
    let rounded = n + 0.5f64.copysign(n);
    if rounded.abs() < 9.2e18 {
        rounded as i64 as i128
    } else {
        huge_nanos(n)
    }
}

/// [`signed_nanos`] past `i64`, or not finite: out of line, since converting to `i128`
/// is a library call, which would give every recording a stack frame.
#[cfg(feature = "recorder")]
#[cold]
#[inline(never)]
fn huge_nanos(n: f64) -> i128 {
    if n.is_finite() {
        n as i128
    } else {
        0
    }
}

/// A duration in nanoseconds, saturating at `u64::MAX` (584 years).
#[inline]
pub(crate) fn nanos(d: std::time::Duration) -> u64 {
    // In `u64` throughout: `as_nanos` widens to `u128` and narrows back.
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_lands_in_the_first_bucket_whose_bound_it_does_not_pass() {
        let b = Buckets::new(&[0.001, 0.01, 1.0]).expect("valid");
        assert_eq!(b.len(), 4);
        for (nanos, index) in [
            (0, 0),
            (1_000_000, 0),
            (1_000_001, 1),
            (10_000_000, 1),
            (999_999_999, 2),
            (1_000_000_000, 2),
            (1_000_000_001, 3),
            (u64::MAX - 1, 3),
            (u64::MAX, 3),
        ] {
            assert_eq!(b.index(nanos), index, "{nanos} ns");
        }
        let one = Buckets::new(&[0.5]).expect("valid");
        assert_eq!(
            [0, 500_000_000, 500_000_001, u64::MAX].map(|n| one.index(n)),
            [0, 0, 1, 1]
        );
    }
}
