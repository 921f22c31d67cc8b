//! A counting global allocator: the source of `keychain_memory_alloc_bytes`.
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: keychain_metrics::alloc::CountingAllocator<std::alloc::System> =
//!     keychain_metrics::alloc::CountingAllocator::new(std::alloc::System);
//! ```
//!
//! It forwards every call to the allocator it wraps and adds the size of each
//! allocation to, and subtracts it from, a counter. The counter is striped over 64
//! cache-padded cells (a thread keeps one), so threads allocating at once do not fight
//! over one cache line; reading the live total adds the cells up. The cost is one
//! uncontended atomic add per allocation and per free; the
//! [performance](crate::guide::performance) chapter has the measured figure. Without it installed, the collector exposes no live-heap metric at all rather
//! than a made-up 0.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

const STRIPES: usize = 64;

#[repr(align(128))]
struct Padded(AtomicI64);

static LIVE: [Padded; STRIPES] = [const { Padded(AtomicI64::new(0)) }; STRIPES];
static NEXT: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// This thread's cell; const-initialised and without a destructor, so reading it
    /// never allocates, which an allocator must not do.
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

#[inline]
fn stripe() -> &'static AtomicI64 {
    let index = STRIPE
        .try_with(|s| {
            let mut i = s.get();
            if i == usize::MAX {
                i = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
                s.set(i);
            }
            i
        })
        .unwrap_or(0);
    &LIVE[index].0
}

#[inline]
fn add(bytes: usize) {
    stripe().fetch_add(bytes as i64, Ordering::Relaxed);
}

/// Counts a successful allocation of `bytes`; passes the pointer through.
#[inline]
fn allocated(ptr: *mut u8, bytes: usize) -> *mut u8 {
    if !ptr.is_null() {
        add(bytes);
        if !INSTALLED.load(Ordering::Relaxed) {
            INSTALLED.store(true, Ordering::Relaxed);
        }
    }
    ptr
}

#[inline]
fn sub(bytes: usize) {
    stripe().fetch_sub(bytes as i64, Ordering::Relaxed);
}

/// Wraps a [`GlobalAlloc`] and counts the bytes it has live; see the [module docs](self).
#[derive(Debug, Default)]
pub struct CountingAllocator<A> {
    inner: A,
}

impl<A> CountingAllocator<A> {
    /// Wraps `inner`, e.g. [`std::alloc::System`].
    pub const fn new(inner: A) -> Self {
        CountingAllocator { inner }
    }
}

/// Bytes currently allocated through a [`CountingAllocator`], or `None` if none is the
/// global allocator (nothing has been allocated through one).
pub fn live_bytes() -> Option<u64> {
    if !INSTALLED.load(Ordering::Relaxed) {
        return None;
    }
    let total: i64 = LIVE.iter().map(|c| c.0.load(Ordering::Relaxed)).sum();
    // Cells are read one after another while threads allocate: clamp the rare negative.
    Some(total.max(0) as u64)
}

// SAFETY: every method forwards to `inner` with the caller's arguments unchanged and
// returns its result; the bookkeeping touches only atomics and a const thread-local,
// and never allocates.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAllocator<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, which we pass on.
        allocated(unsafe { self.inner.alloc(layout) }, layout.size())
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        allocated(unsafe { self.inner.alloc_zeroed(layout) }, layout.size())
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller passes a block this allocator returned, with its layout.
        unsafe { self.inner.dealloc(ptr, layout) };
        sub(layout.size());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `realloc`'s contract, which we pass on.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            add(new_size);
            sub(layout.size());
        }
        new
    }
}
