//! Exemplars: the latest traced observation of each bucket (or of a counter), with its
//! trace and when it was made.
//!
//! A series of an instance that keeps exemplars holds an [`Exemplars`] of a fixed width;
//! its slots are allocated by the first traced observation, so a series that never
//! sees a trace costs one pointer. A traced observation replaces the slot's exemplar
//! under the slot's lock, or gives up if another thread holds it (the other one is just
//! as recent); a scrape copies each slot under its lock.

use std::sync::{Mutex, OnceLock, PoisonError};

use crate::store::cells::reset::unix_nanos;
use crate::trace::TraceContext;

/// One kept observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exemplar {
    pub(crate) trace: TraceContext,
    /// The observed value: nanoseconds for a duration, the increment for a counter.
    pub(crate) value: u64,
    /// When it was observed, in milliseconds since the Unix epoch.
    pub(crate) unix_ms: u64,
}

/// The exemplar slots of one series.
pub(crate) struct Exemplars {
    width: usize,
    slots: OnceLock<Box<[Mutex<Option<Exemplar>>]>>,
}

impl Exemplars {
    /// Slots for `width` buckets (1 for a counter), allocated when first written.
    pub(crate) fn new(width: usize) -> Box<Self> {
        Box::new(Exemplars {
            width,
            slots: OnceLock::new(),
        })
    }

    /// Keeps an observation of `value` in slot `index`, made now in `trace`.
    #[cold]
    #[inline(never)]
    pub(crate) fn offer(&self, index: usize, trace: TraceContext, value: u64) {
        let slots = self
            .slots
            .get_or_init(|| (0..self.width).map(|_| Mutex::new(None)).collect());
        let Some(slot) = slots.get(index) else { return };
        if let Ok(mut slot) = slot.try_lock() {
            *slot = Some(Exemplar {
                trace,
                value,
                unix_ms: unix_nanos() / 1_000_000,
            });
        }
    }

    /// The exemplar of slot `index`, if one was kept.
    pub(crate) fn get(&self, index: usize) -> Option<Exemplar> {
        let slot = self.slots.get()?.get(index)?;
        *slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Offers an observation to `exemplars` if the series keeps them and the thread is in a
/// trace: the recording paths' one branch when neither holds.
#[inline(always)]
pub(crate) fn offer(exemplars: &Option<Box<Exemplars>>, index: usize, value: u64) {
    if let Some(exemplars) = exemplars {
        if let Some(trace) = TraceContext::current() {
            exemplars.offer(index, trace, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_observation_of_each_slot_is_kept() {
        let a = TraceContext::new([1; 16], [2; 8]).unwrap();
        let b = TraceContext::new([3; 16], [4; 8]).unwrap();
        let e = Exemplars::new(3);
        assert_eq!(e.get(0), None);
        e.offer(0, a, 10);
        e.offer(2, a, 30);
        e.offer(2, b, 31);
        e.offer(7, b, 99); // past the width: ignored
        assert_eq!(e.get(0).map(|x| (x.trace, x.value)), Some((a, 10)));
        assert_eq!(e.get(1), None);
        assert_eq!(e.get(2).map(|x| (x.trace, x.value)), Some((b, 31)));
        assert!(e.get(2).unwrap().unix_ms > 1_600_000_000_000);
    }

    #[test]
    fn nothing_is_allocated_or_kept_without_a_trace() {
        let e = Some(Exemplars::new(2));
        offer(&e, 0, 5);
        assert!(e.as_ref().unwrap().slots.get().is_none());
        let t = TraceContext::new([5; 16], [6; 8]).unwrap();
        let _entered = t.enter();
        offer(&None, 0, 7); // a series without exemplars: nothing to do
        offer(&e, 1, 8);
        assert_eq!(e.as_ref().unwrap().get(0), None);
        assert_eq!(
            e.as_ref().unwrap().get(1).map(|x| (x.trace, x.value)),
            Some((t, 8))
        );
    }
}
