//! Exemplars: the latest traced observation of each bucket (or of a counter), with its
//! trace and when it was made.
//!
//! A series of an instance that keeps exemplars holds an [`Exemplars`] of a fixed width;
//! its slots are allocated by the first traced observation, so a series that never
//! sees a trace costs one pointer. A traced observation replaces its slot's exemplar
//! under the slot's sequence number (the stripes' protocol, [`seqlock`]), or gives up if
//! another thread is writing it (that one is just as recent): one compare-exchange and
//! plain stores, where a mutex took a second atomic to unlock. The time is the coarse
//! wall clock ([`crate::clock::coarse_unix_ms`]): exemplars need milliseconds, and the
//! precise clock was a third of a traced observation's cost. A scrape reads each slot
//! between two equal sequence numbers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::clock::coarse_unix_ms;
use crate::store::cells::seqlock;
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

/// One slot: its sequence number (0 while it has never been written) and the exemplar
/// as five words (trace id, span id, value, time).
#[derive(Default)]
struct Slot {
    seq: AtomicU64,
    words: [AtomicU64; 5],
}

impl Slot {
    fn write(&self, trace: TraceContext, value: u64) {
        let Some(open) = seqlock::try_begin(&self.seq) else {
            return;
        };
        let (id, span) = (trace.trace_id(), trace.span_id());
        let [a, b] = [&id[..8], &id[8..]].map(|half| {
            let mut word = [0u8; 8];
            word.copy_from_slice(half);
            u64::from_ne_bytes(word)
        });
        let words = [a, b, u64::from_ne_bytes(span), value, coarse_unix_ms()];
        for (cell, word) in self.words.iter().zip(words) {
            cell.store(word, Ordering::Relaxed);
        }
        open.end();
    }

    fn read(&self) -> Option<Exemplar> {
        let mut words = [0u64; 5];
        seqlock::read(&self.seq, || {
            for (word, cell) in words.iter_mut().zip(&self.words) {
                *word = cell.load(Ordering::Relaxed);
            }
        });
        if self.seq.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&words[0].to_ne_bytes());
        id[8..].copy_from_slice(&words[1].to_ne_bytes());
        Some(Exemplar {
            trace: TraceContext::new(id, words[2].to_ne_bytes())?,
            value: words[3],
            unix_ms: words[4],
        })
    }
}

/// The exemplar slots of one series.
pub(crate) struct Exemplars {
    width: usize,
    slots: OnceLock<Box<[Slot]>>,
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
            .get_or_init(|| (0..self.width).map(|_| Slot::default()).collect());
        if let Some(slot) = slots.get(index) {
            slot.write(trace, value);
        }
    }

    /// The exemplar of slot `index`, if one was kept.
    pub(crate) fn get(&self, index: usize) -> Option<Exemplar> {
        self.slots.get()?.get(index)?.read()
    }
}

/// Offers an observation to `exemplars` if the series keeps them and the thread is in a
/// trace: the recording paths' one branch when neither holds. The trace is read again
/// out of line, so that the call takes its arguments in registers and can be the
/// recording's last jump rather than a call that needs a stack frame.
#[inline(always)]
pub(crate) fn offer(exemplars: &Option<Box<Exemplars>>, index: usize, value: u64) {
    if let Some(exemplars) = exemplars {
        if TraceContext::in_trace() {
            exemplars.offer_current(index, value);
        }
    }
}

impl Exemplars {
    #[cold]
    #[inline(never)]
    fn offer_current(&self, index: usize, value: u64) {
        if let Some(trace) = TraceContext::current() {
            self.offer(index, trace, value);
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
