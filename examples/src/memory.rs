//! The example server's memory release policy.
//!
//! glibc's allocator keeps what threads free in their arenas for reuse. After a storm
//! of connections (each with its buffers and task) the live heap is back to a few MB,
//! but the resident set stays at its peak: 8,000 half-sent requests took it from 19 MB
//! to 176 MB for good. Every [`CHECK_EVERY`], when the anonymous resident set exceeds
//! the live heap by more than [`SLACK`], `malloc_trim(0)` returns the arenas' free pages to the
//! kernel (measured: 179 MB back to 21 MB). In steady state it never runs: the check is
//! two reads, of `/proc/self/statm` and of the counting allocator.
//!
//! jemalloc with background purging would do the same, but it is a C library to build
//! for every build of the example; glibc needs none.

use std::time::Duration;

/// How often the resident set is compared with the live heap.
pub const CHECK_EVERY: Duration = Duration::from_secs(10);
/// Free memory the allocator may keep before it is asked to release it.
pub const SLACK: u64 = 16 << 20;

/// Runs the policy on the current tokio runtime until it shuts down; does nothing off
/// glibc or without the counting allocator (no live heap to compare with).
pub fn spawn_release_policy() {
    if keychain_metrics::alloc::live_bytes().is_none() {
        return;
    }
    tokio::spawn(async {
        let mut every = tokio::time::interval(CHECK_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let live = keychain_metrics::alloc::live_bytes().unwrap_or(0);
            if resident_bytes().is_some_and(|rss| rss > live + SLACK) {
                release();
            }
        }
    });
}

/// The anonymous resident set (resident less file-backed pages, such as the binary's),
/// from `/proc/self/statm` (pages): what the heap's free memory can inflate.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let mut fields = statm.split_whitespace().skip(1);
    let resident: u64 = fields.next()?.parse().ok()?;
    let shared: u64 = fields.next()?.parse().ok()?;
    Some(resident.saturating_sub(shared) * page_size())
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions; it reads a constant of the system.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn page_size() -> u64 {
    4096
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release() {
    // SAFETY: malloc_trim only returns free memory of the allocator's own arenas to the
    // kernel; it takes each arena's lock and touches no memory in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release() {}
