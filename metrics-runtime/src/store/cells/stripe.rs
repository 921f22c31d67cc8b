//! One stripe: a copy of a series' cells in 128-byte lines, preceded by its sequence
//! number and followed by its native part, and the writer a recording gets for it. How
//! a series keeps several stripes and adds them up is [`super::striped`].

use std::sync::atomic::{AtomicU64, Ordering};

use crate::contract::buckets::MAX_BUCKETS;
use crate::store::cells::native::{self, NativeCells, NativeSnapshot};
use crate::store::cells::seqlock;

/// Most cells a series may have: an operation's 3 status counts, [`MAX_BUCKETS`]
/// buckets, `+Inf` and the sum. Bounds the stack buffer a scrape reads into.
pub(crate) const MAX_CELLS: usize = 3 + MAX_BUCKETS + 2;

const PER_LINE: usize = 16;

/// 128 bytes: two cache lines, so the adjacent-line prefetcher cannot make two
/// threads' stripes share a line either.
#[repr(align(128))]
pub(super) struct Line([AtomicU64; PER_LINE]);

const _: () = assert!(std::mem::size_of::<Line>() == PER_LINE * 8);

impl Line {
    fn new() -> Self {
        Line(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

/// One copy of a series' cells, preceded by its sequence number and followed by its
/// native part (see [`crate::store::cells::native`]), which the same sequence covers.
pub(super) struct Stripe {
    pub(super) lines: Box<[Line]>,
}

/// Where the native part of a series' stripes is: after its `len` classic cells.
#[derive(Clone, Copy)]
pub(super) struct Native {
    pub(super) len: usize,
    pub(super) span: usize,
}

impl Native {
    #[inline(always)]
    pub(super) fn of(self, stripe: &Stripe) -> NativeCells<'_> {
        // After the sequence and the classic cells.
        NativeCells::at(&stripe.flat()[1 + self.len..], self.span)
    }
}

/// Write access to one stripe, handed to the closure of [`StripedCells::write`].
pub(crate) struct StripeWriter<'a>(pub(super) &'a Stripe, pub(super) Option<Native>);

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
    pub(super) fn new(cells: usize, native: Option<(Native, u32)>) -> Self {
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
    pub(super) fn seq(&self) -> &AtomicU64 {
        &self.lines[0].0[0]
    }

    /// Every cell, the sequence first, as one slice.
    #[inline(always)]
    pub(super) fn flat(&self) -> &[AtomicU64] {
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
    pub(super) fn cell(&self, i: usize) -> &AtomicU64 {
        let slot = i + 1;
        &self.lines[slot / PER_LINE].0[slot % PER_LINE]
    }

    /// Adds a consistent snapshot of this stripe's cells into `out` (wrapping), and of
    /// its native buckets into `native`.
    pub(super) fn read_into(
        &self,
        out: &mut [u64],
        mut native: Option<(Native, &mut NativeSnapshot)>,
    ) {
        let mut tmp = [0u64; MAX_CELLS];
        let tmp = &mut tmp[..out.len()];
        seqlock::read(self.seq(), || {
            for (i, t) in tmp.iter_mut().enumerate() {
                *t = self.cell(i).load(Ordering::Relaxed);
            }
            if let Some((n, snapshot)) = native.as_mut() {
                n.of(self).stage(snapshot);
            }
        });
        for (o, t) in out.iter_mut().zip(tmp.iter()) {
            *o = o.wrapping_add(*t);
        }
        if let Some((_, snapshot)) = native {
            snapshot.commit();
        }
    }
}
