//! Per-thread stripe leases.
//!
//! Each recording thread leases a small integer, unique among the threads alive at the
//! same time. Index `i` names stripe `i` of every series, so the holder of a lease is the
//! only writer of those stripes and can update them with plain loads and stores instead
//! of locked read-modify-write instructions. A lease returns to the pool when its thread
//! exits and is handed to the next new thread: the stripe's counts are cumulative, so the
//! new owner simply continues from them. The pool's mutex orders the old owner's last
//! writes before the new owner's first.
//!
//! Threads beyond the pool size get no lease and write through each series' shared,
//! locked stripe instead: slower, still correct.

use std::sync::{Mutex, OnceLock, PoisonError};

struct Pool {
    next: usize,
    free: Vec<usize>,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    next: 0,
    free: Vec::new(),
});

/// Number of leases: four per core, at least 8 and at most 256. Stripes are allocated
/// lazily, so unused leases cost a pointer-sized slot per series, not a stripe.
pub(crate) fn capacity() -> usize {
    static CAPACITY: OnceLock<usize> = OnceLock::new();
    *CAPACITY.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        (cores * 4).clamp(8, 256)
    })
}

struct Lease(Option<usize>);

impl Lease {
    fn acquire() -> Self {
        let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = pool.free.pop() {
            return Lease(Some(index));
        }
        if pool.next < capacity() {
            pool.next += 1;
            return Lease(Some(pool.next - 1));
        }
        Lease(None)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(index) = self.0 {
            POOL.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .free
                .push(index);
        }
    }
}

thread_local! {
    static LEASE: Lease = Lease::acquire();
}

/// This thread's stripe index, or `None` when the pool is exhausted or the thread is
/// being torn down (its lease may already be back in the pool).
#[inline]
pub(crate) fn current() -> Option<usize> {
    LEASE.try_with(|lease| lease.0).ok().flatten()
}
