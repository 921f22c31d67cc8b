//! Striped cells: the storage under every counter, gauge delta and histogram.
//!
//! A series is a fixed number of `u64` cells (for an operation: three status counts,
//! the histogram buckets and the duration sum in nanoseconds), followed, for a histogram
//! with native buckets, by their part (see [`crate::store::cells::native`]). The cells are kept in
//! several stripes and a scrape adds them up: a private stripe ("lane") for each of the
//! first few leased threads that write the series (see [`crate::store::cells::lanes`] and
//! [`crate::store::cells::lease`]), and a shared stripe for every other thread. When writers
//! keep meeting on the shared stripe, every lease gets a private stripe of that series:
//! memory goes where contention is, as in `java.util.concurrent.atomic.LongAdder`.
//!
//! Each stripe carries a sequence number, a seqlock with a single writer at a time (see
//! [`crate::store::cells::seqlock`], model-checked with `loom`): the writer makes it odd,
//! updates the cells and makes it even again; a reader retries until it has read all
//! cells between two equal even values. So a scrape sees every recording
//! whole or not at all: a histogram's buckets, count and sum (and an operation's status
//! count) always describe the same set of observations.
//!
//! The owner of a private stripe is its only writer and uses plain loads and stores: no
//! locked instruction, no cache line shared with another writer. The shared stripe admits
//! one writer at a time by taking the sequence from even to odd with a compare-exchange.
//!
//! A series whose native histogram may reset counts epochs ([`crate::store::cells::reset`]):
//! a scrape adds up the stripes of the current epoch only, and a writer clears its stripe
//! of an older one before it records.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::contract::native::NativeLayout;
use crate::store::cells::lanes::{Owners, LANES};
use crate::store::cells::lease::{self, Id, NO_ID};
use crate::store::cells::native::NativeSnapshot;
use crate::store::cells::reset::Resets;
use crate::store::cells::seqlock::{self, Open};
use crate::store::cells::stripe::{Native, NativeRules, Stripe, StripeWriter, MAX_CELLS};

/// A series' lane that this thread owns and is at home in, for one classic recording.
pub(crate) struct Home<'a>(&'a Stripe);

impl Home<'_> {
    /// Applies one recording to a series without native buckets, as
    /// [`StripedCells::write_classic`] would.
    #[inline(always)]
    pub(crate) fn write(self, f: impl FnOnce(&StripeWriter<'_>)) {
        let open = seqlock::begin_owned(self.0.seq());
        f(&StripeWriter::new(self.0, None, &None));
        open.end();
    }
}

/// Contended acquisitions of a series' shared stripe after which every lease gets its
/// own stripe of that series: a series that many threads write at once is worth a slot
/// per lease; one that many threads touch now and then is not.
const CONTENDED: u32 = 64;

/// The cells of one series: a shared stripe, up to [`LANES`] private ones for the first
/// leased threads that write it, and, once the shared stripe proves contended, one per
/// lease (as a `LongAdder` adds cells where contention appears).
pub(crate) struct StripedCells {
    len: usize,
    /// Where each stripe keeps its native part, if the series has one…
    native: Option<Native>,
    /// …and what it may do before halving, the epochs of a series that may reset.
    rules: Option<Box<NativeRules>>,
    owners: Owners,
    lanes: [OnceLock<Stripe>; LANES],
    shared: Stripe,
    /// Contended acquisitions of `shared`, up to [`CONTENDED`].
    contended: AtomicU32,
    /// A stripe per lease, indexed by lease, once `contended` reached [`CONTENDED`].
    per_lease: OnceLock<Box<[OnceLock<Stripe>]>>,
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
        let (native, rules) = native
            .map(|l| {
                let native = Native {
                    len,
                    span: l.max_buckets(),
                };
                let limits = l.limits();
                let rules = Box::new(NativeRules {
                    coarse: l.coarse(),
                    limits,
                    resets: (limits.reset_after_ns > 0).then(|| Resets::new(limits.reset_after_ns)),
                });
                (native, rules)
            })
            .unzip();
        let coarse = rules.as_ref().map_or(0, |r| r.coarse);
        StripedCells {
            len,
            native,
            rules,
            owners: Owners::default(),
            lanes: Default::default(),
            shared: Stripe::new(len, native, coarse),
            contended: AtomicU32::new(0),
            per_lease: OnceLock::new(),
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

    /// When the series last reset, in Unix nanoseconds, if it ever did: its start since.
    pub(crate) fn last_reset(&self) -> Option<u64> {
        self.resets().and_then(Resets::last)
    }

    /// The epochs, if the series may reset.
    fn resets(&self) -> Option<&Resets> {
        self.rules.as_ref().and_then(|r| r.resets.as_ref())
    }

    /// The halvings a new stripe starts with.
    fn coarse(&self) -> u32 {
        self.rules.as_ref().map_or(0, |r| r.coarse)
    }

    /// The stripe this thread writes alone, if it has one.
    #[inline(always)]
    fn own(&self) -> Option<&Stripe> {
        self.own_as(lease::id())
    }

    /// The stripe the thread with lease `id` writes alone, if it has one.
    #[inline(always)]
    fn own_as(&self, id: Id) -> Option<&Stripe> {
        match self.owners.at_home(id) {
            Some(lane) => self.lanes[lane].get(),
            None => self.own_elsewhere(id),
        }
    }

    /// For a thread not at home: its lane elsewhere, its per-lease stripe, a lane still
    /// free, or none. Takes a lease from the pool on a thread's first recording.
    #[inline(never)]
    fn own_elsewhere(&self, id: Id) -> Option<&Stripe> {
        let lease = match id {
            NO_ID => lease::current()?,
            id => usize::from(id) - 1,
        };
        let id = lease::id_of(lease);
        if let Some(lane) = self.owners.find(id) {
            return self.lanes[lane].get();
        }
        let new = || Stripe::new(self.len, self.native, self.coarse());
        if let Some(per_lease) = self.per_lease.get() {
            return per_lease.get(lease).map(|slot| slot.get_or_init(new));
        }
        let lane = self.owners.claim(id)?;
        Some(self.lanes[lane].get_or_init(new))
    }

    /// Counts a contended acquisition of the shared stripe; the last one allowed gives
    /// every lease its own stripe from the next recording on.
    #[cold]
    #[inline(never)]
    fn contended(&self) {
        if self.contended.fetch_add(1, Ordering::Relaxed) + 1 == CONTENDED {
            self.per_lease
                .get_or_init(|| (0..lease::capacity()).map(|_| OnceLock::new()).collect());
        }
    }

    /// Opens the shared stripe, noting contention when a lease holder had to wait. Out of
    /// line: a thread with a lane of its own never comes here, and its path stays short.
    #[inline(never)]
    fn begin_shared(&self) -> Open<'_, AtomicU64> {
        let (open, waited) = seqlock::begin_shared(self.shared.seq());
        if waited && self.contended.load(Ordering::Relaxed) < CONTENDED {
            self.contended();
        }
        open
    }

    /// Applies one recording. `f` must only call [`StripeWriter::add`] and
    /// [`StripeWriter::native`], and must not panic.
    #[inline]
    pub(crate) fn write(&self, f: impl FnOnce(&StripeWriter<'_>)) {
        self.write_in(self.own(), true, f);
    }

    /// As [`StripedCells::write`], for a series without native buckets (the caller
    /// knows): no epoch to catch up with, so nothing to test for it.
    #[inline]
    pub(crate) fn write_classic(&self, f: impl FnOnce(&StripeWriter<'_>)) {
        debug_assert!(self.native.is_none());
        self.write_in(self.own(), false, f);
    }

    /// This thread's own lane, if it is at home there (see [`Owners::at_home`]): the
    /// recording path's one test. A caller that gets `None` goes out of line to
    /// [`StripedCells::write_classic`], so that the common path calls nothing and needs
    /// no stack frame.
    #[inline(always)]
    pub(crate) fn home(&self) -> Option<Home<'_>> {
        let lane = self.owners.at_home(lease::id())?;
        self.lanes[lane].get().map(Home)
    }

    /// Applies one recording to `own`, a stripe this thread writes alone, or else to the
    /// shared stripe; with `native`, after clearing a stripe of an older epoch.
    #[inline(always)]
    fn write_in(&self, own: Option<&Stripe>, native: bool, f: impl FnOnce(&StripeWriter<'_>)) {
        // One call of `f` for both kinds of stripe, so that it is inlined.
        let (stripe, open) = match own {
            Some(stripe) => (stripe, seqlock::begin_owned(stripe.seq())),
            None => (&self.shared, self.begin_shared()),
        };
        if let (true, Some(layout), Some(rules)) = (native, self.native, &self.rules) {
            if let Some(resets) = &rules.resets {
                stripe.catch_up(layout, rules.coarse, resets);
            }
        }
        f(&StripeWriter::new(stripe, self.native, &self.rules));
        open.end();
    }

    /// Adds `n` to the only cell of a one-cell series (counters, in-flight gauges). One
    /// store is atomic by itself, so the lane's owner skips the sequence number.
    #[inline(always)]
    pub(crate) fn add_single(&self, n: u64) {
        debug_assert_eq!(self.len, 1);
        match self.own() {
            Some(stripe) => StripeWriter::new(stripe, None, &None).add(0, n),
            None => {
                let open = self.begin_shared();
                StripeWriter::new(&self.shared, None, &None).add(0, n);
                open.end();
            }
        }
    }

    /// Every stripe that exists.
    fn stripes(&self) -> impl Iterator<Item = &Stripe> {
        let per_lease = self.per_lease.get().map(|p| &p[..]).unwrap_or_default();
        std::iter::once(&self.shared)
            .chain(self.lanes.iter().filter_map(OnceLock::get))
            .chain(per_lease.iter().filter_map(OnceLock::get))
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
        let (layout, mut snapshot) = native.unzip();
        let mut tmp = [0u64; MAX_CELLS];
        loop {
            // With resets, the epoch read before and after: a reset in between reads again.
            let epoch = self.resets().map(Resets::epoch);
            out.fill(0);
            if let Some(snapshot) = snapshot.as_mut().filter(|_| self.native.is_some()) {
                snapshot.clear();
            }
            for stripe in self.stripes() {
                let snapshot = snapshot.as_deref_mut().filter(|_| self.native.is_some());
                stripe.read_into(out, &mut tmp, self.native, snapshot, epoch);
            }
            if epoch == self.resets().map(Resets::epoch) {
                break;
            }
        }
        if let (Some(layout), Some(snapshot)) = (layout, snapshot) {
            if self.native.is_some() {
                snapshot.finish(layout);
            }
        }
    }

    /// Bytes this series currently occupies on the heap (without native chunks).
    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        let per_lease = self
            .per_lease
            .get()
            .map_or(0, |p| std::mem::size_of_val(&**p));
        per_lease + self.stripes().map(Stripe::heap_bytes).sum::<usize>()
    }
}

impl Drop for StripedCells {
    fn drop(&mut self) {
        if let Some(at) = self.native {
            for stripe in self.stripes() {
                // SAFETY: `&mut self`: no recording or scrape holds a view of these
                // stripes, and they are dropped right after.
                unsafe { at.of(stripe).free() };
            }
        }
    }
}

#[cfg(test)]
mod tests;
