//! [`NativeLayout`]: validated settings, with the tables that place a duration in its
//! bucket using integer operations only, and what a histogram may do before its schema
//! drops.

use crate::contract::native::{
    NativeError, NativeHistogram, MAX_NATIVE_BUCKETS, MAX_SCHEMA, MIN_SCHEMA,
};

/// Validated settings with the tables that place a duration in its bucket.
#[derive(Debug, Clone)]
pub(crate) struct NativeLayout {
    zero_threshold: f64,
    zero_threshold_ns: u64,
    max_buckets: usize,
    /// What a histogram may do rather than drop its schema.
    limits: NativeLimits,
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
            min_reset_duration,
            max_zero_threshold,
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
        if !(max_zero_threshold == 0.0
            || max_zero_threshold.is_finite()
                && (zero_threshold..=3600.0).contains(&max_zero_threshold))
        {
            return Err(NativeError::MaxZeroThreshold(max_zero_threshold));
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
            limits: NativeLimits {
                max_zero: NO_ZERO_LIMIT,
                reset_after_ns: u64::try_from(min_reset_duration.as_nanos()).unwrap_or(u64::MAX),
            },
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
        if max_zero_threshold > zero_threshold {
            // The highest fine bucket whose upper bound is within the maximum.
            let limit = (max_zero_threshold.log2() * per_octave as f64).floor();
            layout.limits.max_zero = (limit as i64).clamp(-(1 << 20), 1 << 20);
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

    /// What a histogram may do rather than drop its schema.
    pub(crate) fn limits(&self) -> NativeLimits {
        self.limits
    }

    /// The zero threshold in seconds once the zero bucket holds every fine index up to
    /// `zero_limit` ([`NO_ZERO_LIMIT`]: as configured).
    pub(crate) fn widened_zero_threshold(&self, zero_limit: i64) -> f64 {
        if zero_limit == NO_ZERO_LIMIT {
            return self.zero_threshold;
        }
        let bound = 2f64.powf(zero_limit as f64 / f64::from(1u32 << self.fine));
        bound.max(self.zero_threshold)
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

    /// [`NativeLayout::fine_index`] of a value in any unit (the `metrics` facade's), as
    /// billionths of it up to 2^64 of them (1.8·10^10 units); above, from its
    /// logarithm. Zero, negative values, NaN and infinities go to the zero bucket.
    #[cfg(feature = "recorder")]
    #[inline]
    pub(crate) fn value_index(&self, v: f64) -> Option<i32> {
        const TWO_TO_64: f64 = 18_446_744_073_709_551_616.0;
        let nanos = v * 1e9;
        if nanos < TWO_TO_64 {
            // `as` maps NaN and values below zero to 0: the zero bucket.
            return self.fine_index(nanos as u64);
        }
        v.is_finite()
            .then(|| (v.log2() * f64::from(1u32 << self.fine)).ceil() as i32)
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
    #[cfg_attr(not(any(test, feature = "otlp")), allow(dead_code))]
    pub(crate) fn upper_bound(schema: i8, index: i32) -> f64 {
        2f64.powf(f64::from(index) * 2f64.powi(-i32::from(schema)))
    }
}

/// A fine index no zero bucket reaches: the zero bucket has not widened.
pub(crate) const NO_ZERO_LIMIT: i64 = i64::MIN / 2;

/// What a histogram may do before its schema drops, in the units its cells use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NativeLimits {
    /// The highest fine index the zero bucket may widen over ([`NO_ZERO_LIMIT`]: never).
    pub(crate) max_zero: i64,
    /// Nanoseconds without a reset after which a reset replaces a loss of resolution
    /// (0: never).
    pub(crate) reset_after_ns: u64,
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
