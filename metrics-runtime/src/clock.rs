//! The clock of instrumented calls and of the layers: the CPU's timestamp counter where
//! it is invariant.
//!
//! An `std::time::Instant::now()` + `elapsed()` pair costs 63 ns on this project's VM,
//! a raw TSC pair 37–43 ns (`quanta`); a call site reads the clock twice, so this is most
//! of the attribute's cost. `quanta` calibrates the counter against the OS clock once and
//! falls back to the OS clock where the TSC is not invariant.

use std::sync::OnceLock;

fn clock() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// A raw timestamp, meaningful only to [`nanos_since`].
#[inline]
pub(crate) fn now() -> u64 {
    clock().raw()
}

/// Nanoseconds from `start` until now.
#[inline]
pub(crate) fn nanos_since(start: u64) -> u64 {
    let clock = clock();
    clock.delta_as_nanos(start, clock.raw())
}

/// Milliseconds since the Unix epoch from the coarse wall clock: the time the kernel
/// last stamped at its tick (1–10 ms old, 4 ms at the common 250 Hz), read without the
/// counter and its scaling. An exemplar's time: milliseconds are its unit, a few of
/// them are within what it means. Elsewhere the precise clock.
#[inline]
pub(crate) fn coarse_unix_ms() -> u64 {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; the call writes only it.
        if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) } == 0 {
            return (ts.tv_sec as u64) * 1_000 + (ts.tv_nsec as u64) / 1_000_000;
        }
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
