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
