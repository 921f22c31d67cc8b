//! Per-thread leases.
//!
//! Each recording thread leases a small integer, unique among the threads alive at the
//! same time. A lease owns the private stripes it claimed (see [`crate::store::cells::lanes`]),
//! so its holder is their only writer and updates them with plain loads and stores
//! instead of locked read-modify-write instructions. A lease returns to the pool when its
//! thread exits and is handed to the next new thread: the stripes' counts are
//! cumulative, so the new owner simply continues from them. The pool's mutex orders the
//! old owner's last writes before the new owner's first.
//!
//! Threads beyond the pool size get no lease and write through each series' shared,
//! locked stripe instead: slower, still correct.

use std::cell::Cell;
use std::sync::{Mutex, OnceLock, PoisonError};

struct Pool {
    next: usize,
    free: Vec<usize>,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    next: 0,
    free: Vec::new(),
});

/// Number of leases: four per core, at least 8 and at most 256, unless
/// [`STRIPES_VARIABLE`] says otherwise. A series costs nothing per lease until it is
/// contended; then a slot per lease, and a stripe per lease that writes it.
pub(crate) fn capacity() -> usize {
    static CAPACITY: OnceLock<usize> = OnceLock::new();
    *CAPACITY.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let setting = std::env::var(STRIPES_VARIABLE).ok();
        capacity_from(cores, setting.as_deref())
    })
}

/// The environment variable that sets the number of leases, read once, before the first
/// series is created: for benchmarks and tests that emulate a many-core host's stripes
/// on a small machine (`KEYCHAIN_METRICS_STRIPES=256`).
pub(crate) const STRIPES_VARIABLE: &str = "KEYCHAIN_METRICS_STRIPES";

/// Most leases the setting may ask for.
const MAX_STRIPES: usize = 4096;

/// The lease count for `cores` and the variable's value: a number from 1 to 4096, or
/// else (absent, not a number, out of range) the default.
fn capacity_from(cores: usize, setting: Option<&str>) -> usize {
    setting
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| (1..=MAX_STRIPES).contains(n))
        .unwrap_or_else(|| (cores * 4).clamp(8, 256))
}

fn acquire() -> Option<usize> {
    let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    // The lowest free lease: the threads alive at a time keep small, distinct numbers,
    // so they find their home lanes free (see `crate::store::cells::lanes`). Threads start
    // rarely; a scan of at most 4,096 numbers is cheap beside one.
    let lowest = (0..pool.free.len()).min_by_key(|&i| pool.free[i]);
    if let Some(at) = lowest {
        return Some(pool.free.swap_remove(at));
    }
    if pool.next < capacity() {
        pool.next += 1;
        return Some(pool.next - 1);
    }
    None
}

/// A thread's lease as lanes know it (see [`crate::store::cells::lanes`]): the lease number
/// plus one, so that no lease is 0, a free lane.
pub(crate) type Id = u16;

/// The id of lease `lease`: leases are fewer than 4,097.
pub(crate) fn id_of(lease: usize) -> Id {
    debug_assert!(lease < MAX_STRIPES);
    lease as Id + 1
}

/// [`id`] of a thread without a lease: not asked yet, none left, or exiting. No lane is
/// ever owned by it.
pub(crate) const NO_ID: Id = Id::MAX;

const _: () = assert!(MAX_STRIPES < NO_ID as usize);

thread_local! {
    /// This thread's [`Id`], or [`NO_ID`]. Const-initialised and without a destructor,
    /// so reading it is a plain thread-local load, valid even during thread teardown.
    static ID: Cell<Id> = const { Cell::new(NO_ID) };
    /// Whether the thread has asked the pool for a lease.
    static ASKED: Cell<bool> = const { Cell::new(false) };
    /// Gives the lease back when the thread exits.
    static RETURN: Return = const { Return(Cell::new(None)) };
}

struct Return(Cell<Option<usize>>);

impl Drop for Return {
    fn drop(&mut self) {
        ID.set(NO_ID);
        ASKED.set(true);
        if let Some(index) = self.0.take() {
            POOL.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .free
                .push(index);
        }
    }
}

/// This thread's lease id, [`NO_ID`] until it asked for one with [`current`]: one
/// thread-local load, for the recording path.
#[inline(always)]
pub(crate) fn id() -> Id {
    ID.get()
}

/// This thread's lease, taken from the pool on the first call; `None` when the pool is
/// exhausted or the thread is being torn down (its lease may already be back).
pub(crate) fn current() -> Option<usize> {
    match ID.get() {
        NO_ID if !ASKED.get() => first_lease(),
        NO_ID => None,
        id => Some(usize::from(id) - 1),
    }
}

#[cold]
fn first_lease() -> Option<usize> {
    ASKED.set(true);
    // Register the return before taking a lease, so a lease is never taken by a thread
    // that can no longer give it back.
    let leased = RETURN
        .try_with(|r| {
            let index = acquire();
            r.0.set(index);
            index
        })
        .ok()
        .flatten();
    if let Some(lease) = leased {
        ID.set(id_of(lease));
    }
    leased
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stripes_variable_sets_the_lease_count() {
        assert_eq!(capacity_from(2, None), 8);
        assert_eq!(capacity_from(16, None), 64);
        assert_eq!(capacity_from(128, None), 256);
        assert_eq!(capacity_from(2, Some("256")), 256);
        assert_eq!(capacity_from(2, Some(" 1 ")), 1);
        // Nonsense falls back to the default rather than failing a service's start.
        for bad in ["0", "4097", "-3", "many", ""] {
            assert_eq!(capacity_from(2, Some(bad)), 8, "{bad:?}");
        }
    }
}
