//! The sequence protocol of a stripe, apart from where its cells are, so that the same
//! code runs on the recording path and under `loom`'s model checker.
//!
//! A stripe's sequence number is even when no write is under way. A writer makes it odd,
//! updates the cells with relaxed stores and makes it even again with a release store; a
//! release fence after the odd store keeps the cell stores from being seen before it. A
//! reader loads the sequence (acquire), loads the cells (relaxed), fences (acquire) and
//! loads the sequence again: if it saw any cell store of a write, the fences order that
//! write's odd store before the second load, so equal even values mean no write
//! overlapped the read. The owner of a private stripe is its only writer and opens a
//! write with a plain store; writers of the shared stripe open one by taking the
//! sequence from even to odd with a compare-exchange, which makes it a lock.
//!
//! `cargo test` checks the protocol as it runs on this machine (x86 orders more than
//! the protocol needs); `RUSTFLAGS="--cfg loom" cargo test -p keychain-metrics --lib
//! --release seqlock` explores every interleaving and every weak-memory outcome the
//! C++/Rust memory model allows (ARM servers), with `loom`.

use std::sync::atomic::Ordering;

/// The atomic word the protocol runs on: `std`'s, or `loom`'s when model checking.
pub(crate) trait Word {
    fn load(&self, order: Ordering) -> u64;
    fn store(&self, value: u64, order: Ordering);
    fn compare_exchange_weak(
        &self,
        current: u64,
        new: u64,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u64, u64>;
    /// A memory fence of this word's kind.
    fn fence(order: Ordering);
    /// Waits a little before the next attempt.
    fn pause(spins: &mut u32);
}

impl Word for std::sync::atomic::AtomicU64 {
    #[inline(always)]
    fn load(&self, order: Ordering) -> u64 {
        std::sync::atomic::AtomicU64::load(self, order)
    }

    #[inline(always)]
    fn store(&self, value: u64, order: Ordering) {
        std::sync::atomic::AtomicU64::store(self, value, order);
    }

    #[inline(always)]
    fn compare_exchange_weak(
        &self,
        current: u64,
        new: u64,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u64, u64> {
        std::sync::atomic::AtomicU64::compare_exchange_weak(self, current, new, success, failure)
    }

    #[inline(always)]
    fn fence(order: Ordering) {
        std::sync::atomic::fence(order);
    }

    /// Spins briefly, then yields: a writer holds a stripe for nanoseconds unless it was
    /// preempted, in which case spinning only delays it.
    fn pause(spins: &mut u32) {
        *spins += 1;
        if *spins < 64 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// A write in progress, opened at even sequence `at`; [`Open::end`] publishes it.
#[must_use = "a write must be ended, or the stripe stays locked"]
pub(crate) struct Open<'a, W: Word> {
    seq: &'a W,
    at: u64,
}

impl<W: Word> Open<'_, W> {
    /// Publishes the write: the sequence is even again, two past where it was.
    #[inline(always)]
    pub(crate) fn end(self) {
        self.seq.store(self.at.wrapping_add(2), Ordering::Release);
    }
}

/// Opens a write as the stripe's only writer.
#[inline(always)]
pub(crate) fn begin_owned<W: Word>(seq: &W) -> Open<'_, W> {
    let at = seq.load(Ordering::Relaxed);
    seq.store(at.wrapping_add(1), Ordering::Relaxed);
    // Orders the odd sequence before the cell stores (pairs with the reader's acquire
    // fence): a reader that sees any new cell value re-reads a changed sequence.
    W::fence(Ordering::Release);
    Open { seq, at }
}

/// Opens a write as one of possibly many writers; also says whether it had to wait for
/// another one.
#[inline]
pub(crate) fn begin_shared<W: Word>(seq: &W) -> (Open<'_, W>, bool) {
    let mut spins = 0u32;
    // Guess the even value the lock is free at; a failed exchange says the latest value
    // (a relaxed load could keep returning a stale one, on paper).
    let mut at = seq.load(Ordering::Relaxed).wrapping_add(1) & !1;
    loop {
        match seq.compare_exchange_weak(at, at + 1, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => break,
            Err(now) => {
                if now & 1 == 1 {
                    W::pause(&mut spins);
                }
                at = now.wrapping_add(1) & !1;
            }
        }
    }
    W::fence(Ordering::Release);
    (Open { seq, at }, spins > 0)
}

/// Opens a write if no other is under way and none slips in first: one attempt, for
/// writers that would rather give up than wait (an exemplar: the other writer's is just
/// as recent).
#[inline]
pub(crate) fn try_begin<W: Word>(seq: &W) -> Option<Open<'_, W>> {
    let at = seq.load(Ordering::Relaxed);
    if at & 1 == 1 {
        return None;
    }
    seq.compare_exchange_weak(at, at + 1, Ordering::Acquire, Ordering::Relaxed)
        .ok()?;
    W::fence(Ordering::Release);
    Some(Open { seq, at })
}

/// Runs `snapshot`, which loads the cells (relaxed), until it ran while no write was
/// under way; what it loaded last is then one consistent state.
#[inline]
pub(crate) fn read<W: Word>(seq: &W, mut snapshot: impl FnMut()) {
    let mut spins = 0u32;
    loop {
        let before = seq.load(Ordering::Acquire);
        if before & 1 == 0 {
            snapshot();
            W::fence(Ordering::Acquire);
            if seq.load(Ordering::Relaxed) == before {
                return;
            }
        }
        W::pause(&mut spins);
    }
}

#[cfg(all(test, loom))]
mod model {
    //! The protocol under `loom`: two cells written together must always be read
    //! together, and no increment may be lost.
    use super::*;
    use loom::sync::atomic::AtomicU64;
    use loom::sync::Arc;
    use loom::thread;

    impl Word for AtomicU64 {
        fn load(&self, order: Ordering) -> u64 {
            AtomicU64::load(self, order)
        }
        fn store(&self, value: u64, order: Ordering) {
            AtomicU64::store(self, value, order);
        }
        fn compare_exchange_weak(
            &self,
            current: u64,
            new: u64,
            success: Ordering,
            failure: Ordering,
        ) -> Result<u64, u64> {
            // Strong: loom would explore a weak exchange failing spuriously forever; a
            // spurious failure only makes the writer try again.
            AtomicU64::compare_exchange(self, current, new, success, failure)
        }
        fn fence(order: Ordering) {
            loom::sync::atomic::fence(order);
        }
        fn pause(_: &mut u32) {
            thread::yield_now();
        }
    }

    /// A stripe of two cells: say, a histogram's count and its sum.
    #[derive(Default)]
    struct Stripe {
        seq: AtomicU64,
        count: AtomicU64,
        sum: AtomicU64,
    }

    impl Stripe {
        /// One recording of `value`, as `StripeWriter::add` does it: load and store.
        fn record(&self, value: u64) {
            for (cell, n) in [(&self.count, 1), (&self.sum, value)] {
                cell.store(cell.load(Ordering::Relaxed) + n, Ordering::Relaxed);
            }
        }

        fn read(&self) -> (u64, u64) {
            let mut seen = (0, 0);
            read(&self.seq, || {
                seen = (
                    self.count.load(Ordering::Relaxed),
                    self.sum.load(Ordering::Relaxed),
                )
            });
            seen
        }
    }

    /// Reads are whole recordings: the sum is ten times the count.
    fn whole(stripe: &Stripe) -> u64 {
        let (count, sum) = stripe.read();
        assert_eq!(sum, 10 * count, "a torn read");
        count
    }

    /// A thread that reads while the others write. Every actor is a spawned thread:
    /// loom explores the interleavings of spawned threads with one another.
    fn reader(stripe: &Arc<Stripe>) -> thread::JoinHandle<()> {
        let stripe = Arc::clone(stripe);
        thread::spawn(move || {
            whole(&stripe);
        })
    }

    /// Every interleaving with up to three preemptions (loom's advice: two or three
    /// find most bugs), and every outcome of the weak memory model in each; the retry
    /// loops make the unbounded search too large.
    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(f);
    }

    #[test]
    fn the_owner_s_writes_are_never_read_in_part() {
        model(|| {
            let stripe = Arc::new(Stripe::default());
            let writer = {
                let stripe = Arc::clone(&stripe);
                thread::spawn(move || {
                    for _ in 0..2 {
                        let open = begin_owned(&stripe.seq);
                        stripe.record(10);
                        open.end();
                    }
                })
            };
            let reader = reader(&stripe);
            writer.join().unwrap();
            reader.join().unwrap();
            assert_eq!(whole(&stripe), 2);
        });
    }

    /// A write through the shared stripe's lock.
    fn shared_writer(stripe: &Arc<Stripe>) -> thread::JoinHandle<()> {
        let stripe = Arc::clone(stripe);
        thread::spawn(move || {
            let (open, _) = begin_shared(&stripe.seq);
            stripe.record(10);
            open.end();
        })
    }

    #[test]
    fn shared_writers_lose_no_recording() {
        model(|| {
            let stripe = Arc::new(Stripe::default());
            let writers = [shared_writer(&stripe), shared_writer(&stripe)];
            for w in writers {
                w.join().unwrap();
            }
            assert_eq!(whole(&stripe), 2);
        });
    }

    #[test]
    fn a_shared_write_is_never_read_in_part() {
        model(|| {
            let stripe = Arc::new(Stripe::default());
            let (writer, reader) = (shared_writer(&stripe), reader(&stripe));
            writer.join().unwrap();
            reader.join().unwrap();
            assert_eq!(whole(&stripe), 1);
        });
    }
}
