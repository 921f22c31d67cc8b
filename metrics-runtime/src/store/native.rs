//! The native buckets of one stripe, and their sum over the stripes of a series.
//!
//! A stripe keeps a window of at most `max_buckets` consecutive bucket counts, allocated
//! sixteen (one 128-byte line) at a time as observations reach them, so a histogram
//! whose latencies span two powers of two holds two or three lines, not the whole
//! window. The window's first index and the halvings applied so far are cells of their
//! own. Everything here is written by the stripe's writer inside its sequence (see
//! [`crate::store::stripe`]) and read by a scrape inside the same sequence as the
//! classic cells: the zero bucket and the native buckets always add up to the count.
//!
//! An observation outside the window moves the window when the buckets in use and the
//! new one fit in it; otherwise the stripe's schema drops by one, merging pairs, until
//! they fit. Lines are freed only with the series, so a reader never follows a pointer
//! to freed memory; a window move only rewrites counts (under the sequence).

use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::contract::native::{reduce, NativeLayout, MIN_SCHEMA};

const PER_CHUNK: usize = 16;

#[repr(align(128))]
struct Chunk([AtomicU64; PER_CHUNK]);

/// The native buckets of one stripe.
pub(crate) struct NativeCells {
    /// Counts at or below the zero threshold.
    zero: AtomicU64,
    /// Halvings of the configured schema applied in this stripe.
    shift: AtomicU64,
    /// Index (at this stripe's schema) of the window's first count, as `i64` bits.
    offset: AtomicU64,
    /// The window, `max_buckets` counts rounded up to whole chunks; null until used.
    chunks: Box<[AtomicPtr<Chunk>]>,
    span: usize,
}

impl Drop for NativeCells {
    fn drop(&mut self) {
        for c in self.chunks.iter_mut() {
            let p = *c.get_mut();
            if !p.is_null() {
                // SAFETY: every non-null pointer came from `Box::into_raw` in `chunk_at`
                // and is dropped only here, once, with exclusive access.
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }
}

impl NativeCells {
    /// Cells for a window of `span` buckets.
    pub(crate) fn new(span: usize) -> Self {
        NativeCells {
            zero: AtomicU64::new(0),
            shift: AtomicU64::new(0),
            offset: AtomicU64::new(0),
            chunks: (0..span.div_ceil(PER_CHUNK))
                .map(|_| AtomicPtr::new(ptr::null_mut()))
                .collect(),
            span,
        }
    }

    /// Adds one observation. Only the stripe's current writer may call this.
    #[inline(always)]
    pub(crate) fn observe(&self, index: Option<i32>) {
        let Some(index) = index else {
            bump(&self.zero, 1);
            return;
        };
        let shift = self.shift.load(Ordering::Relaxed) as u32;
        let at = i64::from(reduce(index, shift));
        let rel = at.wrapping_sub(self.offset.load(Ordering::Relaxed) as i64) as u64;
        if rel < self.span as u64 {
            let chunk = self.chunks[rel as usize / PER_CHUNK].load(Ordering::Relaxed);
            if !chunk.is_null() {
                // SAFETY: a non-null chunk stays allocated until `self` is dropped.
                bump(unsafe { &(*chunk).0[rel as usize % PER_CHUNK] }, 1);
                return;
            }
        }
        self.observe_cold(index);
    }

    /// The chunk holding window position `rel`, allocated if needed.
    fn chunk_at(&self, rel: usize) -> &Chunk {
        let slot = &self.chunks[rel / PER_CHUNK];
        let mut p = slot.load(Ordering::Relaxed);
        if p.is_null() {
            p = Box::into_raw(Box::new(Chunk(std::array::from_fn(|_| AtomicU64::new(0)))));
            // Release: a reader that sees the pointer sees the zeroed counts.
            slot.store(p, Ordering::Release);
        }
        // SAFETY: non-null, and allocated until `self` is dropped.
        unsafe { &*p }
    }

    /// A first observation in a chunk, or one outside the window.
    #[cold]
    #[inline(never)]
    fn observe_cold(&self, index: i32) {
        let shift = self.shift.load(Ordering::Relaxed) as u32;
        let offset = self.offset.load(Ordering::Relaxed) as i64;
        let mut used = Vec::new();
        self.for_each_count(offset, |i, n| used.push((i, n)));
        let at = i64::from(reduce(index, shift));
        let offset = if used.is_empty() {
            // First observation: centre the window on it.
            let offset = at - (self.span / 2) as i64;
            self.offset.store(offset as u64, Ordering::Relaxed);
            offset
        } else {
            offset
        };
        let rel = (at - offset) as u64;
        if rel < self.span as u64 {
            bump(&self.chunk_at(rel as usize).0[rel as usize % PER_CHUNK], 1);
            return;
        }
        used.push((at, 1));
        let shift = shift + fit(&mut used, self.span);
        // Rewrite the counts into a window centred on the buckets in use.
        let (lo, hi) = (used[0].0, used[used.len() - 1].0);
        let offset = lo - ((self.span as i64 - (hi - lo + 1)) / 2);
        for c in self.chunks.iter() {
            let p = c.load(Ordering::Relaxed);
            if !p.is_null() {
                // SAFETY: allocated until `self` is dropped.
                for n in unsafe { &(*p).0 } {
                    n.store(0, Ordering::Relaxed);
                }
            }
        }
        for (i, n) in used {
            let rel = (i - offset) as usize;
            self.chunk_at(rel).0[rel % PER_CHUNK].store(n, Ordering::Relaxed);
        }
        self.shift.store(u64::from(shift), Ordering::Relaxed);
        self.offset.store(offset as u64, Ordering::Relaxed);
    }

    /// Calls `f(index, count)` for every non-zero count, ascending, with the window at
    /// `offset`.
    fn for_each_count(&self, offset: i64, mut f: impl FnMut(i64, u64)) {
        for (c, slot) in self.chunks.iter().enumerate() {
            let p = slot.load(Ordering::Acquire);
            if p.is_null() {
                continue;
            }
            // SAFETY: allocated until `self` is dropped.
            for (k, n) in unsafe { &(*p).0 }.iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    f(offset + (c * PER_CHUNK + k) as i64, n);
                }
            }
        }
    }

    /// Reads this stripe into `out`.
    fn read(&self, out: &mut StripeRead) {
        out.counts.clear();
        out.zero = self.zero.load(Ordering::Relaxed);
        out.shift = self.shift.load(Ordering::Relaxed) as u32;
        let offset = self.offset.load(Ordering::Relaxed) as i64;
        let counts = &mut out.counts;
        self.for_each_count(offset, |i, n| counts.push((i, n)));
    }
}

/// Adds to a cell whose only writer is the caller.
#[inline(always)]
fn bump(cell: &AtomicU64, n: u64) {
    cell.store(
        cell.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// Halves the resolution of `counts` (ascending `(index, count)`, merged) until their
/// indexes span at most `span`; returns the halvings.
fn fit(counts: &mut Vec<(i64, u64)>, span: usize) -> u32 {
    counts.sort_unstable_by_key(|&(i, _)| i);
    merge(counts);
    let mut shift = 0;
    while counts.len() > 1 && (counts[counts.len() - 1].0 - counts[0].0) as usize >= span {
        for c in counts.iter_mut() {
            c.0 = i64::from(reduce(c.0 as i32, 1));
        }
        merge(counts);
        shift += 1;
    }
    shift
}

/// Merges neighbours with equal indexes in a sorted list.
fn merge(counts: &mut Vec<(i64, u64)>) {
    counts.dedup_by(|next, kept| {
        let same = next.0 == kept.0;
        if same {
            kept.1 = kept.1.wrapping_add(next.1);
        }
        same
    });
}

/// One stripe's native buckets as read.
#[derive(Debug, Default, Clone, PartialEq)]
struct StripeRead {
    zero: u64,
    shift: u32,
    counts: Vec<(i64, u64)>,
}

/// A series' native histogram: its stripes summed at one schema.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct NativeSnapshot {
    /// The schema of `buckets`.
    pub(crate) schema: i8,
    pub(crate) zero_threshold: f64,
    pub(crate) zero_count: u64,
    /// `(index, count)` of the non-empty buckets, ascending.
    pub(crate) buckets: Vec<(i32, u64)>,
    /// Halvings of the stripes read so far, and their counts at their own schemas.
    parts: Vec<(u32, i64, u64)>,
    /// The stripe being read, kept by [`NativeSnapshot::commit`] once its sequence
    /// shows no write overlapped the read.
    staged: StripeRead,
}

impl NativeSnapshot {
    /// Starts a snapshot, reusing this one's buffers.
    pub(crate) fn clear(&mut self) {
        self.zero_count = 0;
        self.buckets.clear();
        self.parts.clear();
    }

    /// Reads one stripe's buckets, to be committed or read again.
    pub(crate) fn stage(&mut self, cells: &NativeCells) {
        cells.read(&mut self.staged);
    }

    /// Adds the stripe last staged.
    pub(crate) fn commit(&mut self) {
        let stripe = &self.staged;
        self.zero_count = self.zero_count.wrapping_add(stripe.zero);
        self.parts
            .extend(stripe.counts.iter().map(|&(i, n)| (stripe.shift, i, n)));
        self.staged.counts.clear();
        self.staged.zero = 0;
    }

    /// Brings every stripe to the coarsest schema among them, then halves further while
    /// the buckets span more than the layout allows (stopping at the lowest schema).
    pub(crate) fn finish(&mut self, layout: &NativeLayout) {
        let coarsest = self.parts.iter().map(|p| p.0).max().unwrap_or(0);
        let mut counts: Vec<(i64, u64)> = self
            .parts
            .iter()
            .map(|&(shift, i, n)| (i64::from(reduce(i as i32, coarsest - shift)), n))
            .collect();
        let shift = coarsest + fit(&mut counts, layout.max_buckets());
        // At schema -4 all of u64 nanoseconds spans 5 buckets, below the least maximum
        // of 8: no histogram is ever halved past Prometheus' lowest schema.
        let schema = i32::from(layout.schema()) - shift as i32;
        debug_assert!(schema >= i32::from(MIN_SCHEMA));
        self.schema = schema as i8;
        self.zero_threshold = layout.zero_threshold();
        self.buckets.clear();
        self.buckets
            .extend(counts.iter().map(|&(i, n)| (i as i32, n)));
    }

    /// Observations in the zero bucket and the others.
    #[cfg(test)]
    pub(crate) fn count(&self) -> u64 {
        self.zero_count + self.buckets.iter().map(|b| b.1).sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::native::NativeHistogram;

    fn layout(schema: i8, max: u32) -> NativeLayout {
        NativeLayout::new(&NativeHistogram::default().schema(schema).max_buckets(max)).unwrap()
    }

    fn snapshot(layout: &NativeLayout, cells: &[&NativeCells]) -> NativeSnapshot {
        let mut out = NativeSnapshot::default();
        for c in cells {
            out.stage(c);
            out.commit();
        }
        out.finish(layout);
        out
    }

    #[test]
    fn observations_land_in_their_buckets() {
        let l = layout(3, 160);
        let cells = NativeCells::new(l.max_buckets());
        for nanos in [0, 1_000_000_000, 1_000_000_000, 1_500_000_000, 3_000_000] {
            cells.observe(l.index(nanos));
        }
        let s = snapshot(&l, &[&cells]);
        assert_eq!(s.schema, 3);
        assert_eq!(s.zero_count, 1);
        assert_eq!(s.buckets, vec![(-67, 1), (0, 2), (5, 1)]);
        assert_eq!(s.count(), 5);
    }

    #[test]
    fn lines_are_allocated_as_used() {
        let l = layout(3, 160);
        let cells = NativeCells::new(l.max_buckets());
        let used = |c: &NativeCells| {
            c.chunks
                .iter()
                .filter(|p| !p.load(Ordering::Relaxed).is_null())
                .count()
        };
        assert_eq!(used(&cells), 0);
        // 1 ms to 1.9 ms: eight buckets at schema 3, in one or two lines.
        for us in (1000..1900).step_by(50) {
            cells.observe(l.index(us * 1000));
        }
        assert!(used(&cells) <= 2, "{}", used(&cells));
        // Over twenty powers of two the window fills: at most ten lines.
        for octave in 0..20 {
            cells.observe(l.index(1000 << octave));
        }
        assert!(used(&cells) <= 10);
    }

    #[test]
    fn too_wide_a_spread_halves_the_resolution() {
        // 16 buckets of schema 3 are two powers of two; 1 ms and 1 s are ten apart.
        let l = layout(3, 16);
        let cells = NativeCells::new(l.max_buckets());
        cells.observe(l.index(1_000_000));
        cells.observe(l.index(1_000_000_000));
        let s = snapshot(&l, &[&cells]);
        // Schema 3 → 0 spans -9..=0 (10 buckets); 1 → 18 > 16, so three halvings.
        assert_eq!(s.schema, 0);
        assert_eq!(s.buckets, vec![(-9, 1), (0, 1)]);
        // Later observations keep the lower schema.
        cells.observe(l.index(1_500_000_000));
        let s = snapshot(&l, &[&cells]);
        assert_eq!((s.schema, s.buckets), (0, vec![(-9, 1), (0, 1), (1, 1)]));
    }

    #[test]
    fn the_window_moves_when_the_buckets_fit() {
        let l = layout(3, 16);
        let cells = NativeCells::new(l.max_buckets());
        cells.observe(l.index(1_000_000));
        // Eight powers of two higher, alone: the window moves; the old bucket stays.
        for _ in 0..3 {
            cells.observe(l.index(1_000_000 << 1));
        }
        let s = snapshot(&l, &[&cells]);
        assert_eq!(s.schema, 3);
        assert_eq!(s.count(), 4);
        assert_eq!(s.buckets.len(), 2);
    }

    #[test]
    fn stripes_at_different_schemas_sum_at_the_coarsest() {
        let l = layout(3, 16);
        let (a, b) = (NativeCells::new(16), NativeCells::new(16));
        a.observe(l.index(1_000_000));
        a.observe(l.index(1_000_000_000)); // a drops to schema 0
        b.observe(l.index(1_000_000_000));
        b.observe(l.index(1_100_000_000)); // b stays at 3: buckets 0 and 2
        let s = snapshot(&l, &[&a, &b]);
        assert_eq!(s.schema, 0);
        assert_eq!(s.buckets, vec![(-9, 1), (0, 2), (1, 1)]);
    }

    #[test]
    fn extremes_stay_within_the_lowest_schema() {
        let l = layout(-4, 8);
        let cells = NativeCells::new(l.max_buckets());
        cells.observe(l.index(1));
        cells.observe(l.index(u64::MAX));
        let s = snapshot(&l, &[&cells]);
        assert_eq!(s.schema, -4);
        assert_eq!(s.count(), 2);
    }
}
