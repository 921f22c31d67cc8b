//! Striped cells: the storage under every counter, gauge delta and histogram.
//!
//! A series is a fixed number of `u64` cells (for an operation: three status counts,
//! the histogram buckets and the duration sum in nanoseconds). The cells are kept once
//! per leased thread (see [`crate::store::lease`]) plus once in a shared stripe for threads
//! without a lease; a scrape adds the stripes up.
//!
//! Each stripe carries a sequence number, a seqlock with a single writer at a time: the
//! writer makes it odd, updates the cells and makes it even again; a reader retries until
//! it has read all cells between two equal even values. So a scrape sees every recording
//! whole or not at all: a histogram's buckets, count and sum (and an operation's status
//! count) always describe the same set of observations.
//!
//! The owner of a leased stripe is its only writer and uses plain loads and stores: no
//! locked instruction, no cache line shared with another writer. The shared stripe admits
//! one writer at a time by taking the sequence from even to odd with a compare-exchange.

use std::hint::spin_loop;
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::contract::buckets::MAX_BUCKETS;
use crate::contract::native::NativeLayout;
use crate::store::lease;
use crate::store::native::{NativeCells, NativeSnapshot};

/// Most cells a series may have: an operation's 3 status counts, [`MAX_BUCKETS`]
/// buckets, `+Inf` and the sum. Bounds the stack buffer a scrape reads into.
pub(crate) const MAX_CELLS: usize = 3 + MAX_BUCKETS + 2;

const PER_LINE: usize = 16;

/// 128 bytes: two cache lines, so the adjacent-line prefetcher cannot make two
/// threads' stripes share a line either.
#[repr(align(128))]
struct Line([AtomicU64; PER_LINE]);

impl Line {
    fn new() -> Self {
        Line(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

/// One copy of a series' cells, preceded by its sequence number, and of its native
/// buckets, which the same sequence covers.
struct Stripe {
    lines: Box<[Line]>,
    native: Option<NativeCells>,
}

/// Write access to one stripe, handed to the closure of [`StripedCells::write`].
pub(crate) struct StripeWriter<'a>(&'a Stripe);

impl StripeWriter<'_> {
    /// Adds `n` (wrapping) to cell `i`. The writer is exclusive, so load and store suffice.
    #[inline(always)]
    pub(crate) fn add(&self, i: usize, n: u64) {
        let cell = self.0.cell(i);
        cell.store(
            cell.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// Counts one observation in the native bucket `index` (`None`: the zero bucket).
    #[inline(always)]
    pub(crate) fn native(&self, index: Option<i32>) {
        if let Some(native) = &self.0.native {
            native.observe(index);
        }
    }
}

impl Stripe {
    fn new(cells: usize, native: Option<usize>) -> Self {
        let lines = (cells + 1).div_ceil(PER_LINE);
        Stripe {
            lines: (0..lines).map(|_| Line::new()).collect(),
            native: native.map(NativeCells::new),
        }
    }

    #[inline(always)]
    fn seq(&self) -> &AtomicU64 {
        &self.lines[0].0[0]
    }

    #[inline(always)]
    fn cell(&self, i: usize) -> &AtomicU64 {
        let slot = i + 1;
        &self.lines[slot / PER_LINE].0[slot % PER_LINE]
    }

    /// Writes as the stripe's sole owner (the lease holder).
    #[inline(always)]
    fn write_owned(&self, f: impl FnOnce(&StripeWriter<'_>)) {
        let seq = self.seq();
        let s = seq.load(Ordering::Relaxed);
        seq.store(s.wrapping_add(1), Ordering::Relaxed);
        // Orders the odd sequence before the cell stores (pairs with the reader's
        // acquire fence): a reader that sees any new cell value re-reads a changed sequence.
        fence(Ordering::Release);
        f(&StripeWriter(self));
        seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// Writes as one of possibly many writers: the odd sequence doubles as a lock.
    #[inline]
    fn write_shared(&self, f: impl FnOnce(&StripeWriter<'_>)) {
        let seq = self.seq();
        let mut spins = 0u32;
        let s = loop {
            let s = seq.load(Ordering::Relaxed);
            if s & 1 == 0
                && seq
                    .compare_exchange_weak(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                break s;
            }
            backoff(&mut spins);
        };
        fence(Ordering::Release);
        f(&StripeWriter(self));
        seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// Adds a consistent snapshot of this stripe's cells into `out` (wrapping), and of
    /// its native buckets into `native`.
    fn read_into(&self, out: &mut [u64], mut native: Option<&mut NativeSnapshot>) {
        let mut tmp = [0u64; MAX_CELLS];
        let tmp = &mut tmp[..out.len()];
        let seq = self.seq();
        let mut spins = 0u32;
        loop {
            let before = seq.load(Ordering::Acquire);
            if before & 1 == 0 {
                for (i, t) in tmp.iter_mut().enumerate() {
                    *t = self.cell(i).load(Ordering::Relaxed);
                }
                if let (Some(snapshot), Some(cells)) = (native.as_deref_mut(), &self.native) {
                    snapshot.stage(cells);
                }
                fence(Ordering::Acquire);
                if seq.load(Ordering::Relaxed) == before {
                    break;
                }
            }
            backoff(&mut spins);
        }
        for (o, t) in out.iter_mut().zip(tmp.iter()) {
            *o = o.wrapping_add(*t);
        }
        if let Some(snapshot) = native {
            snapshot.commit();
        }
    }
}

/// Spins briefly, then yields: a writer holds a stripe for nanoseconds unless it was
/// preempted, in which case spinning only delays it.
fn backoff(spins: &mut u32) {
    *spins += 1;
    if *spins < 64 {
        spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// The cells of one series, striped per leased thread.
pub(crate) struct StripedCells {
    len: usize,
    /// The native window of each stripe, if the series keeps native buckets.
    native: Option<usize>,
    owned: Box<[OnceLock<Stripe>]>,
    shared: Stripe,
}

impl StripedCells {
    /// A series of `len` cells, all zero. `len` must not exceed [`MAX_CELLS`]; the
    /// builder's validation guarantees it.
    pub(crate) fn new(len: usize) -> Self {
        Self::with_native(len, None)
    }

    /// A series of `len` cells and, with `native`, native buckets of that layout.
    pub(crate) fn with_native(len: usize, native: Option<&NativeLayout>) -> Self {
        assert!(len <= MAX_CELLS, "series of {len} cells exceeds MAX_CELLS");
        let native = native.map(NativeLayout::max_buckets);
        StripedCells {
            len,
            native,
            owned: (0..lease::capacity()).map(|_| OnceLock::new()).collect(),
            shared: Stripe::new(len, native),
        }
    }

    /// Number of cells.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether the stripes keep native buckets.
    pub(crate) fn has_native(&self) -> bool {
        self.native.is_some()
    }

    /// Applies one recording. `f` must only call [`StripeWriter::add`] and must not panic.
    #[inline]
    pub(crate) fn write(&self, f: impl FnOnce(&StripeWriter<'_>)) {
        match lease::current().and_then(|i| self.owned.get(i)) {
            Some(slot) => slot
                .get_or_init(|| Stripe::new(self.len, self.native))
                .write_owned(f),
            None => self.shared.write_shared(f),
        }
    }

    /// Adds `n` to the only cell of a one-cell series (counters, in-flight gauges). One
    /// store is atomic by itself, so the lease holder skips the sequence number.
    #[inline]
    pub(crate) fn add_single(&self, n: u64) {
        debug_assert_eq!(self.len, 1);
        match lease::current().and_then(|i| self.owned.get(i)) {
            Some(slot) => StripeWriter(slot.get_or_init(|| Stripe::new(1, None))).add(0, n),
            None => self.shared.write_shared(|w| w.add(0, n)),
        }
    }

    /// Sums a consistent snapshot of every stripe into `out[..len]`, which is zeroed first.
    /// Each stripe is read atomically; recordings that land in different stripes while
    /// the scrape runs may or may not be included, but never in part.
    pub(crate) fn read(&self, out: &mut [u64]) {
        self.read_with(out, None);
    }

    /// As [`StripedCells::read`], and sums the native buckets into `native` when given
    /// its layout: the same snapshot of each stripe holds both.
    pub(crate) fn read_with(
        &self,
        out: &mut [u64],
        native: Option<(&NativeLayout, &mut NativeSnapshot)>,
    ) {
        let out = &mut out[..self.len];
        out.fill(0);
        let (layout, mut native) = match native.filter(|_| self.native.is_some()) {
            Some((layout, snapshot)) => {
                snapshot.clear();
                (Some(layout), Some(snapshot))
            }
            None => (None, None),
        };
        self.shared.read_into(out, native.as_deref_mut());
        for stripe in self.owned.iter().filter_map(OnceLock::get) {
            stripe.read_into(out, native.as_deref_mut());
        }
        if let (Some(layout), Some(snapshot)) = (layout, native) {
            snapshot.finish(layout);
        }
    }

    /// Bytes this series currently occupies on the heap.
    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        let stripe = std::mem::size_of::<Line>() * self.shared.lines.len();
        let allocated = self.owned.iter().filter(|s| s.get().is_some()).count();
        std::mem::size_of_val(&*self.owned) + stripe * (1 + allocated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_from_many_threads_sum_up() {
        let cells = StripedCells::new(3);
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let cells = &cells;
                s.spawn(move || {
                    for _ in 0..1000 {
                        cells.write(|w| {
                            w.add(0, 1);
                            w.add(2, t);
                        });
                    }
                });
            }
        });
        let mut out = [0u64; 3];
        cells.read(&mut out);
        assert_eq!(out, [4000, 0, 6000]);
    }

    #[test]
    fn wrapping_deltas_read_as_signed_sums() {
        let cells = StripedCells::new(1);
        cells.write(|w| w.add(0, 1u64.wrapping_neg()));
        let mut out = [0u64; 1];
        cells.read(&mut out);
        assert_eq!(out[0] as i64, -1);
    }

    #[test]
    fn an_operation_series_costs_one_stripe_per_writing_thread() {
        // 3 statuses + 13 buckets + sum = 17 cells + sequence = 18 u64: two 128-byte
        // lines per stripe, plus one 24-byte slot per lease.
        let cells = StripedCells::new(17);
        let slots = lease::capacity() * std::mem::size_of::<OnceLock<Stripe>>();
        assert_eq!(cells.heap_bytes(), slots + 256);
        cells.write(|w| w.add(0, 1));
        assert_eq!(cells.heap_bytes(), slots + 2 * 256);
    }
}
