//! One stripe: a copy of a series' cells in whole cache lines, preceded by its sequence
//! number and followed by its native part, and the writer a recording gets for it. How
//! a series keeps several stripes and adds them up is [`super::striped`].

use std::alloc::{alloc_zeroed, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::contract::buckets::MAX_BUCKETS;
use crate::contract::native::NativeLimits;
use crate::store::cells::native::{self, NativeCells, NativeSnapshot};
use crate::store::cells::reset::Resets;
use crate::store::cells::seqlock;

/// Most cells a series may have: an operation's 3 status counts, [`MAX_BUCKETS`]
/// buckets, `+Inf` and the sum. Bounds the stack buffer a scrape reads into.
pub(crate) const MAX_CELLS: usize = 3 + MAX_BUCKETS + 2;

/// The low 32 bits: the part of a wide sum its low cell keeps.
#[cfg(feature = "recorder")]
const LOW: u64 = (1 << 32) - 1;

/// Cells per 64-byte cache line: a stripe takes whole lines, so none of its lines holds
/// anything another thread writes.
const PER_LINE: usize = 8;

/// Where a stripe starts: a 128-byte boundary, so two stripes (two writers) never share
/// the pair of lines that the adjacent-line prefetcher fetches together. A stripe's size
/// is counted in 64-byte lines, not in pairs: an operation series (17 cells with the
/// sequence) takes 192 bytes instead of 256, and the rest of its last pair may hold
/// something that is not a stripe.
const ALIGN: usize = 128;

/// The layout of a stripe of `cells` cells, the sequence included.
fn layout(cells: usize) -> Layout {
    let bytes = cells.div_ceil(PER_LINE) * PER_LINE * std::mem::size_of::<AtomicU64>();
    // A stripe holds at most `MAX_CELLS` and a native part: far from `isize::MAX`.
    Layout::from_size_align(bytes, ALIGN).expect("a stripe's size fits in a layout")
}

/// One copy of a series' cells, preceded by its sequence number and followed by its
/// native part (see [`crate::store::cells::native`]), which the same sequence covers:
/// one allocation of whole lines, owned by the stripe.
pub(super) struct Stripe {
    cells: NonNull<AtomicU64>,
    /// Cells allocated, a whole number of lines.
    len: usize,
}

// SAFETY: a `Stripe` owns its allocation of `AtomicU64`s, which are `Send` and `Sync`.
unsafe impl Send for Stripe {}
// SAFETY: as above; every access goes through `&AtomicU64`.
unsafe impl Sync for Stripe {}

impl Drop for Stripe {
    fn drop(&mut self) {
        // SAFETY: allocated in `Stripe::new` with this layout, and freed only here.
        unsafe { dealloc(self.cells.as_ptr().cast(), layout(self.len)) }
    }
}

/// Where the native part of a series' stripes is (after its `len` classic cells) and how
/// many buckets its window spans: all the recording path needs, kept small.
#[derive(Clone, Copy)]
pub(super) struct Native {
    pub(super) len: usize,
    pub(super) span: usize,
}

/// The rest, for the cold path: the halvings a new stripe starts with, what it may do
/// before halving again, and the series' resets if it may reset. Boxed by the series
/// (a pointer where there are no native buckets: most series).
pub(super) struct NativeRules {
    pub(super) coarse: u32,
    pub(super) limits: NativeLimits,
    pub(super) resets: Option<Resets>,
}

impl Native {
    #[inline(always)]
    pub(super) fn of(self, stripe: &Stripe) -> NativeCells<'_> {
        // After the sequence and the classic cells.
        NativeCells::at(&stripe.flat()[1 + self.len..], self.span)
    }
}

/// Write access to one stripe, handed to the closure of `StripedCells::write`: the
/// stripe, its native part, and the series' rules for it (a plain address: the
/// recording path tests nothing to pass it on).
pub(crate) struct StripeWriter<'a>(
    pub(super) &'a Stripe,
    pub(super) Option<Native>,
    pub(super) &'a Option<Box<NativeRules>>,
    /// The stripe's cells after the sequence, found once per recording rather than once
    /// per cell: the atomic stores between would make the compiler look them up again.
    &'a [AtomicU64],
);

impl<'a> StripeWriter<'a> {
    /// The writer of `stripe`, with its native part and the series' rules for it.
    #[inline(always)]
    pub(super) fn new(
        stripe: &'a Stripe,
        native: Option<Native>,
        rules: &'a Option<Box<NativeRules>>,
    ) -> Self {
        StripeWriter(stripe, native, rules, stripe.cells())
    }

    /// Adds `n` (wrapping) to cell `i`. The writer is exclusive, so load and store suffice.
    /// A cell past the stripe is a bug of the caller's, caught by tests; a recording
    /// never panics for it, and without a call to a panic the recording path needs no
    /// stack frame.
    #[inline(always)]
    pub(crate) fn add(&self, i: usize, n: u64) {
        debug_assert!(i < self.3.len(), "cell {i} of {}", self.3.len());
        if let Some(cell) = self.3.get(i) {
            cell.store(
                cell.load(Ordering::Relaxed).wrapping_add(n),
                Ordering::Relaxed,
            );
        }
    }

    /// Adds the signed fixed-point `n` to the sum in cells `i` (low 32 bits) and
    /// `i + 1` (the rest), carrying so the low cell stays below 2^32 (see
    /// `Buckets::sum_nanos`).
    #[cfg(feature = "recorder")]
    #[inline(always)]
    pub(crate) fn add_wide(&self, i: usize, n: i128) {
        // As in `add`: cells past the stripe are a caller's bug, skipped, not a panic.
        debug_assert!(i + 1 < self.3.len(), "cells {i}.. of {}", self.3.len());
        let Some([low, high]) = self.3.get(i..i + 2) else {
            return;
        };
        let sum = low.load(Ordering::Relaxed) + (n as u64 & LOW);
        low.store(sum & LOW, Ordering::Relaxed);
        let carry = ((n >> 32) as u64).wrapping_add(sum >> 32);
        high.store(
            high.load(Ordering::Relaxed).wrapping_add(carry),
            Ordering::Relaxed,
        );
    }

    /// Counts one observation in the native bucket `index` (`None`: the zero bucket).
    /// It may reset the series (clearing this stripe), so it comes before the classic
    /// cells of the same recording are added.
    #[inline(always)]
    pub(crate) fn native(&self, index: Option<i32>) {
        if let Some(native) = self.1 {
            if !native.of(self.0).try_observe(index) {
                observe_cold(self.0, native, self.2, index.unwrap_or_default());
            }
        }
    }
}

/// Out of line, taking what it needs in registers, so the recording path stays short.
#[cold]
#[inline(never)]
fn observe_cold(stripe: &Stripe, native: Native, rules: &Option<Box<NativeRules>>, index: i32) {
    let Some(rules) = rules else { return };
    let due = || rules.resets.as_ref().is_some_and(Resets::due);
    if native.of(stripe).observe_cold(index, rules.limits, &due) {
        return;
    }
    // The buckets overflow and the series is due a reset: it restarts here, this
    // observation its first.
    if let Some(resets) = &rules.resets {
        let epoch = resets.begin(native.of(stripe).epoch());
        stripe.clear(native, rules.coarse, epoch);
        native
            .of(stripe)
            .observe_cold(index, rules.limits, &|| false);
    }
}

impl Stripe {
    /// A stripe of `cells` cells and, with `native`, its native part. Its epoch is the
    /// first: a stripe made after a reset catches up at its first write.
    pub(super) fn new(cells: usize, native: Option<Native>, coarse: u32) -> Self {
        let extra = native.map_or(0, |n| native::cells_for(n.span));
        let layout = layout(1 + cells + extra);
        // SAFETY: the layout has a non-zero size (the sequence at least). Zeroed bytes
        // are valid `AtomicU64`s of value 0.
        let cells = unsafe { alloc_zeroed(layout) }.cast::<AtomicU64>();
        let Some(cells) = NonNull::new(cells) else {
            handle_alloc_error(layout)
        };
        let stripe = Stripe {
            cells,
            len: layout.size() / std::mem::size_of::<AtomicU64>(),
        };
        if let Some(n) = native {
            n.of(&stripe).clear(coarse, 0);
        }
        stripe
    }

    /// Empties every cell, classic and native, as of `epoch`: a reset. Only the
    /// stripe's current writer may call this, inside its sequence.
    pub(super) fn clear(&self, native: Native, coarse: u32, epoch: u64) {
        for i in 0..native.len {
            self.cell(i).store(0, Ordering::Relaxed);
        }
        native.of(self).clear(coarse, epoch);
    }

    /// Clears this stripe if it belongs to an epoch before the series' current one.
    /// Only the stripe's current writer may call this, inside its sequence.
    #[inline]
    pub(super) fn catch_up(&self, native: Native, coarse: u32, resets: &Resets) {
        let epoch = resets.epoch();
        if native.of(self).epoch() != epoch {
            self.clear(native, coarse, epoch);
        }
    }

    #[inline(always)]
    pub(super) fn seq(&self) -> &AtomicU64 {
        // SAFETY: a stripe has one line at least (`Stripe::new`), so its first cell
        // exists and lives as long as `self`. Without a bounds test: this is on every
        // recording's path.
        unsafe { self.cells.as_ref() }
    }

    /// Every cell after the sequence.
    #[inline(always)]
    pub(super) fn cells(&self) -> &[AtomicU64] {
        // SAFETY: `len` ≥ 1 initialised cells from `cells` (see `seq`), living as long
        // as `self`; the slice is the ones after the first.
        unsafe { std::slice::from_raw_parts(self.cells.as_ptr().add(1), self.len - 1) }
    }

    /// Bytes this stripe occupies on the heap.
    #[cfg(test)]
    pub(super) fn heap_bytes(&self) -> usize {
        layout(self.len).size()
    }

    /// Every cell, the sequence first, as one slice.
    #[inline(always)]
    pub(super) fn flat(&self) -> &[AtomicU64] {
        // SAFETY: `cells` is an allocation of `len` initialised cells that lives as
        // long as `self`.
        unsafe { std::slice::from_raw_parts(self.cells.as_ptr(), self.len) }
    }

    #[inline(always)]
    pub(super) fn cell(&self, i: usize) -> &AtomicU64 {
        &self.cells()[i]
    }

    /// Adds a consistent snapshot of this stripe's cells into `out` (wrapping), and of
    /// its native buckets into `snapshot`; nothing if `epoch` is given and the stripe
    /// belongs to another (it was reset away, and its writer has not cleared it yet).
    /// `tmp` is scratch of `out`'s length at least, given by the caller so that a series'
    /// stripes share one (zeroing 69 cells per stripe was 4 % of a scrape).
    pub(super) fn read_into(
        &self,
        out: &mut [u64],
        tmp: &mut [u64],
        native: Option<Native>,
        mut snapshot: Option<&mut NativeSnapshot>,
        epoch: Option<u64>,
    ) {
        let tmp = &mut tmp[..out.len()];
        let cells = &self.cells()[..out.len()];
        let mut current = true;
        seqlock::read(self.seq(), || {
            for (t, cell) in tmp.iter_mut().zip(cells) {
                *t = cell.load(Ordering::Relaxed);
            }
            if let Some(n) = native {
                current = epoch.is_none_or(|e| n.of(self).epoch() == e);
                if let Some(snapshot) = snapshot.as_mut() {
                    n.of(self).stage(snapshot);
                }
            }
        });
        if let Some(snapshot) = snapshot {
            if current {
                snapshot.commit();
            } else {
                snapshot.discard();
            }
        }
        if current {
            for (o, t) in out.iter_mut().zip(tmp.iter()) {
                *o = o.wrapping_add(*t);
            }
        }
    }
}
