//! Resets of a series whose native histogram may restart rather than lose resolution
//! (`min_reset_duration`).
//!
//! Each stripe has one writer at a time, so no thread may clear another's stripe. A
//! reset therefore counts epochs: the series' epoch goes up by one, and every stripe
//! records which epoch its cells belong to. A scrape adds up only the stripes of the
//! current epoch; a writer that finds its stripe of an older epoch clears it (inside its
//! sequence) before it records. So a reset takes effect at once for readers, without
//! touching another thread's cells, and the series restarts at zero with one new start.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch: a series' start, and the time of its resets.
pub(crate) fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The epoch and the time of the last reset of one series.
pub(crate) struct Resets {
    epoch: AtomicU64,
    /// When the series was created or last reset, in Unix nanoseconds.
    at: AtomicU64,
    /// Nanoseconds that must pass between resets.
    after: u64,
}

impl Resets {
    /// A series created now that may reset once `after` nanoseconds have passed.
    pub(crate) fn new(after: u64) -> Self {
        Resets {
            epoch: AtomicU64::new(0),
            at: AtomicU64::new(unix_nanos()),
            after,
        }
    }

    /// The current epoch. Acquire: a reader that sees a new epoch sees the stripe
    /// cleared by the reset that made it.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Whether enough time has passed since the last reset for another.
    pub(crate) fn due(&self) -> bool {
        unix_nanos().saturating_sub(self.at.load(Ordering::Relaxed)) >= self.after
    }

    /// Starts a reset from epoch `from` (the caller's stripe's); returns the epoch the
    /// stripe must now belong to: the new one, or, if another stripe reset first, that
    /// one's.
    pub(crate) fn begin(&self, from: u64) -> u64 {
        match self
            .epoch
            .compare_exchange(from, from + 1, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                self.at.store(unix_nanos(), Ordering::Relaxed);
                from + 1
            }
            Err(current) => current,
        }
    }

    /// When the series last reset, in Unix nanoseconds, if it ever did.
    pub(crate) fn last(&self) -> Option<u64> {
        (self.epoch.load(Ordering::Acquire) > 0).then(|| self.at.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_moves_the_epoch_once() {
        let r = Resets::new(0);
        assert!(r.due());
        assert_eq!(r.last(), None);
        assert_eq!(r.begin(0), 1);
        // A second stripe that saw epoch 0 joins the reset already made.
        assert_eq!(r.begin(0), 1);
        assert_eq!(r.epoch(), 1);
        assert!(r.last().is_some_and(|t| t > 1_600_000_000_000_000_000));
        assert!(!Resets::new(3_600_000_000_000).due());
    }
}
