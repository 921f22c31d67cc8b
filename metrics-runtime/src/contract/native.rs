//! Native histograms: Prometheus' sparse exponential buckets, kept beside the classic
//! buckets of the three duration families.
//!
//! At schema `s`, bucket `i` holds the observations in `(2^((i-1)/2^s), 2^(i/2^s)]`
//! seconds: every power of two is a boundary and is split into `2^s` buckets, each
//! `2^(2^-s)` times as wide as the one below. Observations at or below the zero
//! threshold count in the zero bucket. When the buckets of a histogram would span more
//! than its maximum bucket count, its schema drops by one (pairs of buckets merge) until
//! they fit; it never rises again while the process runs.
//!
//! Durations arrive as integer nanoseconds. Since `index(2v) = index(v) + 2^s`, where an
//! observation falls within its power of two of nanoseconds decides the rest: its
//! leading zeros give the octave, and a table of the `2^s` boundaries inside one octave,
//! indexed by the top bits after the leading one, finds its bucket with one load and
//! one compare. No floating point on the recording path.

use std::fmt;

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
        }
    }
}

/// Validated settings with the tables that place a duration in its bucket.
#[derive(Debug, Clone)]
pub(crate) struct NativeLayout {
    zero_threshold: f64,
    zero_threshold_ns: u64,
    max_buckets: usize,
    /// The schema the tables resolve (`max(schema, 0)`)…
    fine: u32,
    /// …and the halvings from it to `schema` (`max(-schema, 0)`).
    coarse: u32,
    /// Where the bucket boundaries fall within one octave of nanoseconds, as 64-bit
    /// fractions (the bits after a value's leading one), ascending, then `u64::MAX`.
    /// Sized for the finest schema, so that a masked index needs no bounds check.
    bounds: Box<[u64; TABLE]>,
    /// By the top `fine + 1` bits of the fraction: how many of `bounds` lie below.
    below: Box<[u16; TABLE]>,
    /// `64 - (fine + 1)`: the shift that leaves those top bits.
    cell_shift: u32,
    /// By a value's leading zeros: the index of its octave's first bucket, so that
    /// one second is index 0.
    octave_base: [i32; 64],
}

/// Entries of both tables: `2^(MAX_SCHEMA + 1)`.
const TABLE: usize = 2 << MAX_SCHEMA;

/// A value's leading zeros and the 64 bits after its leading one (`nanos` > 0).
#[inline(always)]
fn normalize(nanos: u64) -> (u32, u64) {
    let zeros = nanos.leading_zeros();
    (zeros, (nanos << zeros) << 1)
}

impl NativeLayout {
    pub(crate) fn new(settings: &NativeHistogram) -> Result<Self, NativeError> {
        let &NativeHistogram {
            schema,
            zero_threshold,
            max_buckets,
        } = settings;
        if !(MIN_SCHEMA..=MAX_SCHEMA).contains(&schema) {
            return Err(NativeError::Schema(schema));
        }
        if !(zero_threshold.is_finite() && (0.0..=3600.0).contains(&zero_threshold)) {
            return Err(NativeError::ZeroThreshold(zero_threshold));
        }
        if !(8..=MAX_NATIVE_BUCKETS).contains(&max_buckets) {
            return Err(NativeError::MaxBuckets(max_buckets));
        }
        let fine = schema.max(0) as u32;
        let coarse = (-schema).max(0) as u32;
        let per_octave = 1usize << fine;
        // The boundaries 1e9 · 2^(k/2^fine) ns for k in 0..2^fine cover one octave;
        // k = 0 is one second, exact, so powers of two of seconds land on their bound.
        let mut bounds = Box::new([u64::MAX; TABLE]);
        for (k, b) in bounds.iter_mut().take(per_octave).enumerate() {
            let boundary = 1e9 * 2f64.powf(k as f64 / per_octave as f64);
            // The f64's 52 fraction bits, as the top of a 64-bit fraction.
            *b = (boundary.to_bits() & ((1 << 52) - 1)) << 12;
        }
        bounds[..per_octave].sort_unstable();
        let cell_shift = 64 - (fine + 1);
        let mut below = Box::new([0u16; TABLE]);
        for (cell, n) in below.iter_mut().take(2 << fine).enumerate() {
            let start = (cell as u64) << cell_shift;
            *n = bounds[..per_octave]
                .iter()
                .take_while(|&&b| b < start)
                .count() as u16;
        }
        let mut layout = NativeLayout {
            zero_threshold,
            zero_threshold_ns: (zero_threshold * 1e9).floor() as u64,
            max_buckets: max_buckets as usize,
            fine,
            coarse,
            bounds,
            below,
            cell_shift,
            octave_base: [0; 64],
        };
        let (zeros, fraction) = normalize(1_000_000_000);
        let origin = (63 - zeros as i32) * per_octave as i32 + layout.within(fraction) as i32;
        for (zeros, base) in layout.octave_base.iter_mut().enumerate() {
            *base = (63 - zeros as i32) * per_octave as i32 - origin;
        }
        Ok(layout)
    }

    /// The zero threshold in seconds.
    pub(crate) fn zero_threshold(&self) -> f64 {
        self.zero_threshold
    }

    /// The most buckets a histogram spans.
    pub(crate) fn max_buckets(&self) -> usize {
        self.max_buckets
    }

    /// How many of the octave's boundaries lie below `fraction`: one table load finds
    /// the cell, and a cell holds at most one boundary (they are at least
    /// `ln 2 / 2^fine` apart; a cell is `1 / 2^(fine + 1)` wide).
    #[inline(always)]
    fn within(&self, fraction: u64) -> usize {
        let cell = (fraction >> self.cell_shift) as usize;
        // `below` is at most 2^fine, where `bounds` holds u64::MAX.
        let below = usize::from(self.below[cell % TABLE]);
        below + usize::from(self.bounds[below % TABLE] < fraction)
    }

    /// Where `nanos` goes: `None` for the zero bucket, else the bucket index at the
    /// fine schema (`max(schema, 0)`); [`NativeLayout::coarse`] halvings from there give
    /// the configured schema. Integer operations only: the octave from the leading
    /// zeros, the place within it from the bits after the leading one.
    #[inline(always)]
    pub(crate) fn fine_index(&self, nanos: u64) -> Option<i32> {
        if nanos <= self.zero_threshold_ns {
            return None;
        }
        let (zeros, fraction) = normalize(nanos);
        Some(self.octave_base[zeros as usize % 64] + self.within(fraction) as i32)
    }

    /// The bucket index at the configured schema (`None`: the zero bucket).
    #[cfg(test)]
    pub(crate) fn index(&self, nanos: u64) -> Option<i32> {
        self.fine_index(nanos).map(|i| reduce(i, self.coarse))
    }

    /// The schema the tables resolve: the configured one, or 0 for negative schemas.
    pub(crate) fn fine_schema(&self) -> i32 {
        self.fine as i32
    }

    /// Halvings from the fine schema to the configured one.
    pub(crate) fn coarse(&self) -> u32 {
        self.coarse
    }

    /// The upper bound in seconds of bucket `index` at `schema`.
    #[cfg(test)]
    pub(crate) fn upper_bound(schema: i8, index: i32) -> f64 {
        2f64.powf(f64::from(index) * 2f64.powi(-i32::from(schema)))
    }
}

/// The index at `shift` schemas lower of bucket `index`: `ceil(index / 2^shift)`, since
/// bucket `i` of the coarser schema holds buckets `2i - 1` and `2i` of the finer.
#[inline(always)]
pub(crate) fn reduce(index: i32, shift: u32) -> i32 {
    // Branch-free; with `shift` 0 it adds 0 and shifts by 0.
    ((i64::from(index) + (1i64 << shift) - 1) >> shift) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(schema: i8) -> NativeLayout {
        NativeLayout::new(&NativeHistogram::default().schema(schema)).unwrap()
    }

    /// The index by definition, `ceil(log2(seconds) * 2^schema)`, away from boundaries.
    fn by_logarithm(schema: i8, nanos: u64) -> i32 {
        ((nanos as f64 / 1e9).log2() * 2f64.powi(i32::from(schema))).ceil() as i32
    }

    #[test]
    fn powers_of_two_of_seconds_are_upper_bounds() {
        for schema in MIN_SCHEMA..=MAX_SCHEMA {
            let l = layout(schema);
            let per = 1i32 << schema.max(0);
            assert_eq!(l.index(1_000_000_000), Some(0), "1 s at schema {schema}");
            assert_eq!(l.index(1_000_000_001), Some(1), "1 s + 1 ns at {schema}");
            assert_eq!(l.index(999_999_999), Some(0), "1 s - 1 ns at {schema}");
            // 2 s, 4 s and 0.5 s are bounds too: index n·2^s at schema s >= 0, and
            // that reduced for negative schemas.
            assert_eq!(l.index(2_000_000_000), Some(reduce(per, l.coarse())));
            assert_eq!(l.index(4_000_000_000), Some(reduce(2 * per, l.coarse())));
            assert_eq!(l.index(500_000_000), Some(reduce(-per, l.coarse())));
        }
    }

    #[test]
    fn known_values_at_several_schemas() {
        // 1.5 s: log2 = 0.585; ceil(0.585·8) = 5 at schema 3, ceil(0.585) = 1 at 0.
        assert_eq!(layout(3).index(1_500_000_000), Some(5));
        assert_eq!(layout(0).index(1_500_000_000), Some(1));
        // 3 ms: log2 = -8.38; schema 3: ceil(-67.06) = -67; schema 0: -8;
        // schema -2: ceil(-8.38 / 4) = -2.
        assert_eq!(layout(3).index(3_000_000), Some(-67));
        assert_eq!(layout(0).index(3_000_000), Some(-8));
        assert_eq!(layout(-2).index(3_000_000), Some(-2));
        // 100 µs at schema 8: log2 = -13.288; ceil(-3401.8) = -3401.
        assert_eq!(layout(8).index(100_000), Some(-3401));
        // 1 ns, the smallest duration: log2(1e-9) = -29.897.
        assert_eq!(layout(3).index(1), Some(-239));
        assert_eq!(layout(0).index(1), Some(-29));
    }

    #[test]
    fn agrees_with_the_logarithm_over_the_whole_range() {
        for schema in MIN_SCHEMA..=MAX_SCHEMA {
            let l = layout(schema);
            let mut nanos = 1u64;
            while nanos < u64::MAX / 3 {
                let want = by_logarithm(schema, nanos);
                let got = l.index(nanos).unwrap();
                // Values within float error of a boundary may fall on either side.
                let upper = NativeLayout::upper_bound(schema, got);
                let lower = NativeLayout::upper_bound(schema, got - 1);
                let s = nanos as f64 / 1e9;
                assert!(
                    want == got || (s / upper - 1.0).abs() < 1e-9 || (s / lower - 1.0).abs() < 1e-9,
                    "{nanos} ns at schema {schema}: {got}, by logarithm {want}"
                );
                nanos = nanos * 3 / 2 + 7;
            }
        }
    }

    #[test]
    fn every_bucket_holds_what_its_bounds_say() {
        let l = layout(3);
        for index in -100..100 {
            let upper = NativeLayout::upper_bound(3, index) * 1e9;
            let below = upper.floor() as u64;
            let above = upper.ceil() as u64 + 1;
            if below as f64 != upper {
                assert_eq!(l.index(below), Some(index), "just below bound {index}");
            }
            assert_eq!(l.index(above), Some(index + 1), "just above bound {index}");
        }
    }

    #[test]
    fn zero_bucket_and_extremes() {
        let l = layout(3);
        assert_eq!(l.index(0), None);
        assert_eq!(l.index(u64::MAX), Some(by_logarithm(3, u64::MAX)));
        let z = NativeLayout::new(&NativeHistogram::default().zero_threshold(1e-6)).unwrap();
        assert_eq!(z.index(1_000), None);
        assert_eq!(z.index(999), None);
        assert_eq!(z.index(1_001), Some(by_logarithm(3, 1_001)));
    }

    #[test]
    fn reducing_merges_pairs() {
        // Buckets -1 and 0 of schema s make bucket 0 of s - 1; 1 and 2 make 1.
        assert_eq!(
            [-2, -1, 0, 1, 2, 3].map(|i| reduce(i, 1)),
            [-1, 0, 0, 1, 1, 2]
        );
        assert_eq!(
            [-4, -3, 0, 1, 4, 5].map(|i| reduce(i, 2)),
            [-1, 0, 0, 1, 1, 2]
        );
        // Twice by one is once by two.
        for i in -50..50 {
            assert_eq!(reduce(reduce(i, 1), 1), reduce(i, 2));
        }
    }

    #[test]
    fn bucket_factor_and_validation() {
        assert_eq!(
            NativeHistogram::default().bucket_factor(1.1).get_schema(),
            3
        );
        assert_eq!(
            NativeHistogram::default().bucket_factor(2.0).get_schema(),
            0
        );
        assert_eq!(
            NativeHistogram::default()
                .bucket_factor(1.0001)
                .get_schema(),
            8
        );
        assert_eq!(
            NativeHistogram::default().bucket_factor(1e9).get_schema(),
            -4
        );
        let bad = |n: NativeHistogram| NativeLayout::new(&n).unwrap_err().to_string();
        assert!(bad(NativeHistogram::default().bucket_factor(1.0)).contains("schema 9"));
        assert!(bad(NativeHistogram::default().schema(-5)).contains("schema -5"));
        assert!(bad(NativeHistogram::default().zero_threshold(f64::NAN)).contains("NaN"));
        assert!(bad(NativeHistogram::default().max_buckets(4)).contains("max buckets 4"));
        let e = NativeHistogram::default().relative_error();
        assert!((e - 0.0905).abs() < 1e-4, "{e}");
    }
}
