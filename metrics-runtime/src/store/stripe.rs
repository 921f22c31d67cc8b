//! Striped cells: the storage under every counter, gauge delta and histogram.
//!
//! A series is a fixed number of `u64` cells (for an operation: three status counts,
//! the histogram buckets and the duration sum in nanoseconds), followed, for a histogram
//! with native buckets, by their part (see [`crate::store::native`]). The cells are kept once
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
use crate::store::native::{self, NativeCells, NativeSnapshot};

/// Most cells a series may have: an operation's 3 status counts, [`MAX_BUCKETS`]
/// buckets, `+Inf` and the sum. Bounds the stack buffer a scrape reads into.
pub(crate) const MAX_CELLS: usize = 3 + MAX_BUCKETS + 2;

const PER_LINE: usize = 16;

/// 128 bytes: two cache lines, so the adjacent-line prefetcher cannot make two
/// threads' stripes share a line either.
#[repr(align(128))]
struct Line([AtomicU64; PER_LINE]);

const _: () = assert!(std::mem::size_of::<Line>() == PER_LINE * 8);

impl Line {
    fn new() -> Self {
        Line(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

/// One copy of a series' cells, preceded by its sequence number and followed by its
/// native part (see [`crate::store::native`]), which the same sequence covers.
struct Stripe {
    lines: Box<[Line]>,
}

/// Where the native part of a series' stripes is: after its `len` classic cells.
#[derive(Clone, Copy)]
struct Native {
    len: usize,
    span: usize,
}

impl Native {
    #[inline(always)]
    fn of(self, stripe: &Stripe) -> NativeCells<'_> {
        // After the sequence and the classic cells.
        NativeCells::at(&stripe.flat()[1 + self.len..], self.span)
    }
}

/// Write access to one stripe, handed to the closure of [`StripedCells::write`].
pub(crate) struct StripeWriter<'a>(&'a Stripe, Option<Native>);

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
        if let Some(native) = self.1 {
            if !native.of(self.0).try_observe(index) {
                observe_cold(self.0, native, index.unwrap_or_default());
            }
        }
    }
}

/// Out of line, taking what it needs in registers, so the recording path stays short.
#[cold]
#[inline(never)]
fn observe_cold(stripe: &Stripe, native: Native, index: i32) {
    native.of(stripe).observe_cold(index);
}

impl Stripe {
    fn new(cells: usize, native: Option<(Native, u32)>) -> Self {
        let extra = native.map_or(0, |(n, _)| native::cells_for(n.span));
        let lines = (1 + cells + extra).div_ceil(PER_LINE);
        let stripe = Stripe {
            lines: (0..lines).map(|_| Line::new()).collect(),
        };
        if let Some((n, coarse)) = native {
            n.of(&stripe).init(coarse);
        }
        stripe
    }

    #[inline(always)]
    fn seq(&self) -> &AtomicU64 {
        &self.lines[0].0[0]
    }

    /// Every cell, the sequence first, as one slice.
    #[inline(always)]
    fn flat(&self) -> &[AtomicU64] {
        // SAFETY: `Line` is `repr(align(128))` around `[AtomicU64; 16]`: 128 bytes with
        // no padding, so `lines` is `PER_LINE * len` contiguous, initialised cells,
        // borrowed for as long as `self`.
        unsafe {
            std::slice::from_raw_parts(
                self.lines.as_ptr().cast::<AtomicU64>(),
                self.lines.len() * PER_LINE,
            )
        }
    }

    #[inline(always)]
    fn cell(&self, i: usize) -> &AtomicU64 {
        let slot = i + 1;
        &self.lines[slot / PER_LINE].0[slot % PER_LINE]
    }

    /// Opens a write as the stripe's sole owner (the lease holder); returns what to
    /// pass to [`end`].
    #[inline(always)]
    fn begin_owned(&self) -> (&AtomicU64, u64) {
        let seq = self.seq();
        let s = seq.load(Ordering::Relaxed);
        seq.store(s.wrapping_add(1), Ordering::Relaxed);
        // Orders the odd sequence before the cell stores (pairs with the reader's
        // acquire fence): a reader that sees any new cell value re-reads a changed sequence.
        fence(Ordering::Release);
        (seq, s)
    }

    /// Opens a write as one of possibly many writers: the odd sequence doubles as a lock.
    #[inline]
    fn begin_shared(&self) -> (&AtomicU64, u64) {
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
        (seq, s)
    }

    /// Adds a consistent snapshot of this stripe's cells into `out` (wrapping), and of
    /// its native buckets into `native`.
    fn read_into(&self, out: &mut [u64], mut native: Option<(Native, &mut NativeSnapshot)>) {
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
                if let Some((n, snapshot)) = native.as_mut() {
                    snapshot.stage(&n.of(self));
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
        if let Some((_, snapshot)) = native {
            snapshot.commit();
        }
    }
}

/// Closes a write opened at even sequence `s` of `seq`: publishes the cells.
#[inline(always)]
fn end((seq, s): (&AtomicU64, u64)) {
    seq.store(s.wrapping_add(2), Ordering::Release);
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
    /// Where each stripe keeps its native part, if the series has one, and the
    /// halvings a new stripe starts with.
    native: Option<(Native, u32)>,
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
        let native = native.map(|l| {
            let span = l.max_buckets();
            (Native { len, span }, l.coarse())
        });
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

    /// Applies one recording. `f` must only call [`StripeWriter::add`] and
    /// [`StripeWriter::native`], and must not panic.
    #[inline]
    pub(crate) fn write(&self, f: impl FnOnce(&StripeWriter<'_>)) {
        // One call of `f` for both kinds of stripe, so that it is inlined.
        let (stripe, open) = match lease::current().and_then(|i| self.owned.get(i)) {
            Some(slot) => {
                let stripe = slot.get_or_init(|| Stripe::new(self.len, self.native));
                (stripe, stripe.begin_owned())
            }
            None => (&self.shared, self.shared.begin_shared()),
        };
        f(&StripeWriter(stripe, self.native.map(|n| n.0)));
        end(open);
    }

    /// Adds `n` to the only cell of a one-cell series (counters, in-flight gauges). One
    /// store is atomic by itself, so the lease holder skips the sequence number.
    #[inline]
    pub(crate) fn add_single(&self, n: u64) {
        debug_assert_eq!(self.len, 1);
        match lease::current().and_then(|i| self.owned.get(i)) {
            Some(slot) => StripeWriter(slot.get_or_init(|| Stripe::new(1, None)), None).add(0, n),
            None => {
                let open = self.shared.begin_shared();
                StripeWriter(&self.shared, None).add(0, n);
                end(open);
            }
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
        let Some(((layout, snapshot), (at, _))) = native.zip(self.native) else {
            self.shared.read_into(out, None);
            for stripe in self.owned.iter().filter_map(OnceLock::get) {
                stripe.read_into(out, None);
            }
            return;
        };
        snapshot.clear();
        self.shared.read_into(out, Some((at, &mut *snapshot)));
        for stripe in self.owned.iter().filter_map(OnceLock::get) {
            stripe.read_into(out, Some((at, &mut *snapshot)));
        }
        snapshot.finish(layout);
    }

    /// Bytes this series currently occupies on the heap (without native chunks).
    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        let stripe = std::mem::size_of::<Line>() * self.shared.lines.len();
        let allocated = self.owned.iter().filter(|s| s.get().is_some()).count();
        std::mem::size_of_val(&*self.owned) + stripe * (1 + allocated)
    }
}

impl Drop for StripedCells {
    fn drop(&mut self) {
        if let Some((at, _)) = self.native {
            for stripe in
                std::iter::once(&self.shared).chain(self.owned.iter().filter_map(OnceLock::get))
            {
                // SAFETY: `&mut self`: no recording or scrape holds a view of these
                // stripes, and they are dropped right after.
                unsafe { at.of(stripe).free() };
            }
        }
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
    fn native_buckets_are_read_with_the_cells_they_go_with() {
        use crate::contract::native::NativeHistogram;
        // Sixteen buckets, so that spreading durations move and halve the windows
        // while the reader reads.
        let layout = NativeLayout::new(&NativeHistogram::default().max_buckets(16)).unwrap();
        let cells = StripedCells::with_native(1, Some(&layout));
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let writers: Vec<_> = (0..3u64)
                .map(|t| {
                    let (cells, layout) = (&cells, &layout);
                    s.spawn(move || {
                        for i in 0..20_000u64 {
                            let nanos = (i * 7919 + t) % 5_000_000_000;
                            let index = layout.fine_index(nanos);
                            cells.write(|w| {
                                w.add(0, 1);
                                w.native(index);
                            });
                        }
                    })
                })
                .collect();
            let (cells, layout, done) = (&cells, &layout, &done);
            let reader = s.spawn(move || {
                let (mut out, mut snapshot) = ([0u64; 1], NativeSnapshot::default());
                let mut reads = 0;
                while !done.load(Ordering::Relaxed) || reads == 0 {
                    cells.read_with(&mut out, Some((layout, &mut snapshot)));
                    assert_eq!(snapshot.count(), out[0], "native and classic counts agree");
                    reads += 1;
                }
                reads
            });
            for w in writers {
                w.join().unwrap();
            }
            done.store(true, Ordering::Relaxed);
            assert!(reader.join().unwrap() > 0);
        });
        let (mut out, mut snapshot) = ([0u64; 1], NativeSnapshot::default());
        cells.read_with(&mut out, Some((&layout, &mut snapshot)));
        assert_eq!((out[0], snapshot.count()), (60_000, 60_000));
        let span = snapshot.buckets.last().unwrap().0 - snapshot.buckets[0].0;
        assert!(span < 16, "{snapshot:?}");
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
