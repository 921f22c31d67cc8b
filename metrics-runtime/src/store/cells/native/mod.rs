//! The native buckets of one stripe, and their sum over the stripes of a series.
//!
//! A stripe keeps a window of at most `max_buckets` consecutive bucket counts, allocated
//! sixteen (one 128-byte line) at a time as observations reach them, so a histogram
//! whose latencies span two powers of two holds two or three lines, not the whole
//! window. The window's first index and the halvings applied so far are cells of their
//! own. Everything here is written by the stripe's writer inside its sequence (see
//! [`crate::store::cells::stripe`]) and read by a scrape inside the same sequence as the
//! classic cells: the zero bucket and the native buckets always add up to the count.
//!
//! An observation outside the window moves the window when the buckets in use and the
//! new one fit in it. Otherwise, as the layout's limits allow: the series resets (the
//! caller's part, see [`crate::store::cells::reset`]), or the zero bucket widens over
//! the lowest buckets, or the stripe's schema drops by one, merging pairs, until they
//! fit. Lines are freed only with the series, so a reader never follows a pointer to
//! freed memory; a window move only rewrites counts (under the sequence).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::contract::native::{reduce, NativeLimits, NO_ZERO_LIMIT};
pub(crate) use crate::store::cells::native_snapshot::NativeSnapshot;
use crate::store::cells::native_snapshot::{fit, StripeRead};

const PER_CHUNK: usize = 16;

#[repr(align(128))]
struct Chunk([AtomicU64; PER_CHUNK]);

/// Cells of the native part of a stripe whose window spans `span` buckets: the zero
/// count, the window's first index twice (see [`FAST_OFFSET`]), the halvings, the
/// zero bucket's reach, the epoch, and one pointer per chunk.
pub(crate) const fn cells_for(span: usize) -> usize {
    HEADER + span.div_ceil(PER_CHUNK)
}

const ZERO: usize = 0;
/// The window's first index while the stripe is at the fine schema; once it has halved,
/// [`UNREACHABLE`], so that the recording path needs neither the halvings nor a reduction
/// to know it must take the slower one.
const FAST_OFFSET: usize = 1;
const SHIFT: usize = 2;
const OFFSET: usize = 3;
/// The highest fine index the zero bucket holds once it has widened, else
/// [`NO_ZERO_LIMIT`].
const ZERO_LIMIT: usize = 4;
/// Which of the series' epochs these cells belong to (see [`crate::store::cells::reset`]).
const EPOCH: usize = 5;
const HEADER: usize = 6;

/// A window offset no index reaches (indexes are within ±2^20).
const UNREACHABLE: i64 = i64::MIN / 2;

/// The native buckets of one stripe: a run of `cells_for(span)` cells after its
/// classic cells.
///
/// The chunk pointers are kept in `AtomicU64` cells (with exposed provenance) so that
/// the whole native part lives in the stripe's lines: one allocation per stripe, and no
/// pointer more on the recording path than the classic cells take.
pub(crate) struct NativeCells<'a> {
    header: &'a [AtomicU64; HEADER],
    chunks: &'a [AtomicU64],
    span: usize,
}

impl<'a> NativeCells<'a> {
    /// The native part at the start of `run`, which must hold `cells_for(span)` cells
    /// (the stripe allocated them).
    #[inline(always)]
    pub(crate) fn at(run: &'a [AtomicU64], span: usize) -> Self {
        let (header, chunks) = run
            .split_first_chunk::<HEADER>()
            .expect("a stripe holds its native header");
        NativeCells {
            header,
            chunks,
            span,
        }
    }

    #[inline(always)]
    fn header(&self, k: usize) -> &'a AtomicU64 {
        &self.header[k]
    }

    /// Sets the halvings a new stripe starts with (the layout's, for negative schemas).
    pub(crate) fn init(&self, shift: u32) {
        self.set_window(shift, 0);
        self.header(ZERO_LIMIT)
            .store(NO_ZERO_LIMIT as u64, Ordering::Relaxed);
    }

    /// Empties the buckets and the zero bucket, back to the starting schema, as of
    /// `epoch`. Only the stripe's current writer may call this, inside its sequence.
    pub(crate) fn clear(&self, shift: u32, epoch: u64) {
        for start in (0..self.span).step_by(PER_CHUNK) {
            for n in self
                .chunk(start, Ordering::Relaxed)
                .iter()
                .flat_map(|c| &c.0)
            {
                n.store(0, Ordering::Relaxed);
            }
        }
        self.header(ZERO).store(0, Ordering::Relaxed);
        self.init(shift);
        self.header(EPOCH).store(epoch, Ordering::Relaxed);
    }

    /// The epoch these cells belong to.
    pub(crate) fn epoch(&self) -> u64 {
        self.header(EPOCH).load(Ordering::Relaxed)
    }

    fn zero_limit(&self) -> i64 {
        self.header(ZERO_LIMIT).load(Ordering::Relaxed) as i64
    }

    /// Records the window's schema and first index.
    fn set_window(&self, shift: u32, offset: i64) {
        self.header(SHIFT)
            .store(u64::from(shift), Ordering::Relaxed);
        self.header(OFFSET).store(offset as u64, Ordering::Relaxed);
        let fast = if shift == 0 { offset } else { UNREACHABLE };
        self.header(FAST_OFFSET)
            .store(fast as u64, Ordering::Relaxed);
    }

    /// The chunk of window position `rel` (below `span`), if allocated.
    #[inline(always)]
    fn chunk(&self, rel: usize, order: Ordering) -> Option<&'a Chunk> {
        debug_assert!(rel < self.span);
        // SAFETY: `rel < span`, and `at` took `chunks` from a run of `cells_for(span)`
        // cells or more, so `rel / PER_CHUNK < span.div_ceil(PER_CHUNK) <= chunks.len()`.
        let addr = unsafe { self.chunks.get_unchecked(rel / PER_CHUNK) }.load(order);
        // SAFETY: a non-zero address came from `Box::into_raw` in `chunk_at` (its
        // provenance exposed there) and stays allocated until `free`, whose caller
        // promises that no view of these cells is used afterwards.
        (addr != 0).then(|| unsafe { &*std::ptr::with_exposed_provenance::<Chunk>(addr as usize) })
    }

    /// Adds one observation at `index` of the layout's fine schema (`None`: the zero
    /// bucket) if its chunk exists; returns whether it did, else the caller calls
    /// [`NativeCells::observe_cold`]. Only the stripe's current writer may call this.
    #[inline(always)]
    pub(crate) fn try_observe(&self, index: Option<i32>) -> bool {
        let Some(index) = index else {
            bump(self.header(ZERO), 1);
            return true;
        };
        let offset = self.header(FAST_OFFSET).load(Ordering::Relaxed) as i64;
        self.count_at(i64::from(index).wrapping_sub(offset) as u64)
    }

    /// Counts one observation at window position `rel` if it is inside the window and
    /// its chunk exists; returns whether it did.
    #[inline(always)]
    fn count_at(&self, rel: u64) -> bool {
        if rel < self.span as u64 {
            if let Some(chunk) = self.chunk(rel as usize, Ordering::Relaxed) {
                bump(&chunk.0[rel as usize % PER_CHUNK], 1);
                return true;
            }
        }
        false
    }

    /// Adds one observation; see [`NativeCells::try_observe`]. Never resets.
    #[cfg(test)]
    fn observe(&self, index: Option<i32>, limits: NativeLimits) {
        if !self.try_observe(index) {
            self.observe_cold(index.unwrap_or(0), limits, &|| false);
        }
    }

    /// The chunk holding window position `rel`, allocated if needed.
    fn chunk_at(&self, rel: usize) -> &'a Chunk {
        if let Some(chunk) = self.chunk(rel, Ordering::Relaxed) {
            return chunk;
        }
        let p = Box::into_raw(Box::new(Chunk(std::array::from_fn(|_| AtomicU64::new(0)))));
        // Release: a reader that sees the address sees the zeroed counts.
        self.chunks[rel / PER_CHUNK].store(p.expose_provenance() as u64, Ordering::Release);
        // SAFETY: just allocated; freed only by `free`.
        unsafe { &*p }
    }

    /// What [`NativeCells::try_observe`] left: an index the widened zero bucket holds, a
    /// stripe at a lower schema, a first observation in a chunk, or one outside the
    /// window (never the zero bucket of the layout). Returns `false`, changing nothing,
    /// when the buckets would overflow and `reset_due` says the series should restart:
    /// the caller resets it and observes again.
    pub(crate) fn observe_cold(
        &self,
        index: i32,
        limits: NativeLimits,
        reset_due: &dyn Fn() -> bool,
    ) -> bool {
        if i64::from(index) <= self.zero_limit() {
            bump(self.header(ZERO), 1);
            return true;
        }
        let shift = self.header(SHIFT).load(Ordering::Relaxed) as u32;
        let offset = self.header(OFFSET).load(Ordering::Relaxed) as i64;
        let at = i64::from(reduce(index, shift));
        if shift > 0 && self.count_at(at.wrapping_sub(offset) as u64) {
            return true;
        }
        self.observe_new(index, shift, offset, limits, reset_due)
    }

    /// The lowest window offset at `shift`: at the fine schema, where the recording path
    /// places indexes without asking the zero bucket, the window starts above it.
    fn floor(&self, shift: u32) -> i64 {
        let limit = self.zero_limit();
        if shift == 0 && limit != NO_ZERO_LIMIT {
            limit + 1
        } else {
            i64::MIN / 4
        }
    }

    /// A first observation in a chunk, or one outside the window.
    #[cold]
    #[inline(never)]
    fn observe_new(
        &self,
        index: i32,
        shift: u32,
        offset: i64,
        limits: NativeLimits,
        reset_due: &dyn Fn() -> bool,
    ) -> bool {
        let mut used = Vec::new();
        self.for_each_count(offset, |i, n| used.push((i, n)));
        let at = i64::from(reduce(index, shift));
        let offset = if used.is_empty() {
            // First observation: centre the window on it.
            let offset = (at - (self.span / 2) as i64).max(self.floor(shift));
            self.set_window(shift, offset);
            offset
        } else {
            offset
        };
        let rel = (at - offset) as u64;
        if rel < self.span as u64 {
            bump(&self.chunk_at(rel as usize).0[rel as usize % PER_CHUNK], 1);
            return true;
        }
        if limits.reset_after_ns > 0 && reset_due() {
            return false;
        }
        used.push((at, 1));
        used.sort_unstable_by_key(|&(i, _)| i);
        // Widen the zero bucket over the lowest buckets while they do not fit.
        let mut zero = 0u64;
        let mut limit = self.zero_limit();
        let spans = |used: &[(i64, u64)]| {
            used.len() > 1 && (used[used.len() - 1].0 - used[0].0) as usize >= self.span
        };
        while spans(&used) && (used[0].0 << shift) <= limits.max_zero {
            limit = used[0].0 << shift;
            zero = zero.wrapping_add(used[0].1);
            used.remove(0);
        }
        if zero > 0 {
            bump(self.header(ZERO), zero);
            self.header(ZERO_LIMIT)
                .store(limit as u64, Ordering::Relaxed);
        }
        let shift = shift + fit(&mut used, self.span);
        // Rewrite the counts into a window centred on the buckets in use.
        let (lo, hi) = (used[0].0, used[used.len() - 1].0);
        let offset = (lo - ((self.span as i64 - (hi - lo + 1)) / 2)).max(self.floor(shift));
        for rel in (0..self.span).step_by(PER_CHUNK) {
            for n in self.chunk(rel, Ordering::Relaxed).iter().flat_map(|c| &c.0) {
                n.store(0, Ordering::Relaxed);
            }
        }
        for (i, n) in used {
            let rel = (i - offset) as usize;
            self.chunk_at(rel).0[rel % PER_CHUNK].store(n, Ordering::Relaxed);
        }
        self.set_window(shift, offset);
        true
    }

    /// Calls `f(index, count)` for every non-zero count, ascending, with the window at
    /// `offset`.
    fn for_each_count(&self, offset: i64, mut f: impl FnMut(i64, u64)) {
        for start in (0..self.span).step_by(PER_CHUNK) {
            let Some(chunk) = self.chunk(start, Ordering::Acquire) else {
                continue;
            };
            for (k, n) in chunk.0.iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    f(offset + (start + k) as i64, n);
                }
            }
        }
    }

    /// Reads this stripe's buckets into `snapshot`, to be committed or read again.
    pub(crate) fn stage(&self, snapshot: &mut NativeSnapshot) {
        self.read(&mut snapshot.staged);
    }

    fn read(&self, out: &mut StripeRead) {
        out.counts.clear();
        out.zero = self.header(ZERO).load(Ordering::Relaxed);
        out.shift = self.header(SHIFT).load(Ordering::Relaxed) as u32;
        out.zero_limit = Some(self.zero_limit()).filter(|&z| z != NO_ZERO_LIMIT);
        let offset = self.header(OFFSET).load(Ordering::Relaxed) as i64;
        let counts = &mut out.counts;
        self.for_each_count(offset, |i, n| counts.push((i, n)));
    }

    /// Frees the chunks.
    ///
    /// # Safety
    ///
    /// No view of these cells (this one or another `NativeCells` over the same run) may
    /// be used afterwards: the caller drops the stripe they live in.
    pub(crate) unsafe fn free(&self) {
        for start in (0..self.span).step_by(PER_CHUNK) {
            let cell = &self.chunks[start / PER_CHUNK];
            let addr = cell.swap(0, Ordering::Relaxed);
            if addr != 0 {
                // SAFETY: from `Box::into_raw` in `chunk_at`, freed once (the address is
                // cleared), and by the caller's promise nothing reads it afterwards.
                drop(unsafe {
                    Box::from_raw(std::ptr::with_exposed_provenance_mut::<Chunk>(
                        addr as usize,
                    ))
                });
            }
        }
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

#[cfg(test)]
mod tests;
