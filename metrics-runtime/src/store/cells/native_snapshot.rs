//! A series' native histogram as a scrape reads it: each stripe's buckets, staged and
//! committed inside its sequence, then summed at the coarsest schema among them, with
//! the widest zero bucket among them.

use crate::contract::native::{reduce, NativeLayout, MIN_SCHEMA};

/// Halves the resolution of `counts` (ascending `(index, count)`, merged) until their
/// indexes span at most `span`; returns the halvings.
pub(super) fn fit(counts: &mut Vec<(i64, u64)>, span: usize) -> u32 {
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
pub(super) struct StripeRead {
    pub(super) zero: u64,
    pub(super) shift: u32,
    /// The highest fine index its zero bucket holds, once widened.
    pub(super) zero_limit: Option<i64>,
    pub(super) counts: Vec<(i64, u64)>,
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
    /// The widest zero bucket of the stripes read so far, as the highest fine index.
    zero_limit: Option<i64>,
    /// The stripe being read, kept by [`NativeSnapshot::commit`] once its sequence
    /// shows no write overlapped the read.
    pub(super) staged: StripeRead,
}

impl NativeSnapshot {
    /// Starts a snapshot, reusing this one's buffers.
    pub(crate) fn clear(&mut self) {
        self.zero_count = 0;
        self.buckets.clear();
        self.parts.clear();
        self.zero_limit = None;
    }

    /// Adds the stripe last staged.
    pub(crate) fn commit(&mut self) {
        let stripe = &self.staged;
        self.zero_count = self.zero_count.wrapping_add(stripe.zero);
        self.parts
            .extend(stripe.counts.iter().map(|&(i, n)| (stripe.shift, i, n)));
        self.zero_limit = self.zero_limit.max(stripe.zero_limit);
        self.discard();
    }

    /// Forgets the stripe last staged: it belongs to an epoch before a reset.
    pub(crate) fn discard(&mut self) {
        self.staged.counts.clear();
        self.staged.zero = 0;
        self.staged.zero_limit = None;
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
        self.zero_threshold = layout.zero_threshold();
        if let Some(limit) = self.zero_limit {
            // Buckets wholly inside the widest zero bucket among the stripes join it; one
            // that straddles its threshold keeps what it holds, all above its own.
            let inside = |c: &(i64, u64)| c.0 << coarsest <= limit;
            let folded: u64 = counts.iter().filter(|c| inside(c)).map(|c| c.1).sum();
            counts.retain(|c| !inside(c));
            self.zero_count = self.zero_count.wrapping_add(folded);
            self.zero_threshold = layout.widened_zero_threshold(limit);
        }
        let shift = coarsest + fit(&mut counts, layout.max_buckets());
        // At schema -4 all of u64 nanoseconds spans 5 buckets, below the least maximum
        // of 8: no histogram is ever halved past Prometheus' lowest schema.
        let schema = layout.fine_schema() - shift as i32;
        debug_assert!(schema >= i32::from(MIN_SCHEMA));
        self.schema = schema as i8;
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
