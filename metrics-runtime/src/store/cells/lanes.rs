//! Which leases own a series' private stripes.
//!
//! A series has [`LANES`] private stripes ("lanes"). The first leased threads to write
//! it each claim one, for good, preferring the lane of their lease's number modulo
//! [`LANES`] (its home): on every recording, a thread compares its id with the owner of
//! its home lane, one load and one compare, and looks further only when that is not
//! its own. A series so costs memory for the threads that wrote it, at most [`LANES`]
//! of them, instead of a slot per possible lease. Later threads share the series' locked
//! stripe until it proves contended (see [`crate::store::cells::striped`]).
//!
//! A lane is never given back: a lease outlives its thread (the next thread to take it
//! continues its counts), so its lanes stay its own.

use std::sync::atomic::{AtomicU16, Ordering};

use crate::store::cells::lease::Id;

/// Private stripes per series. Four keep an operation series' worst case (every lane
/// taken, plus the shared stripe) within 1.2× the `prometheus` crate's memory per series
/// (1.08× at most, `benches/benches/scaling.rs`).
pub(crate) const LANES: usize = 4;

/// The owners of a series' lanes: a lease [`Id`] each, 0 for a free lane.
#[derive(Default)]
pub(crate) struct Owners([AtomicU16; LANES]);

/// The lane a lease prefers.
#[inline(always)]
fn home(id: Id) -> usize {
    usize::from(id.wrapping_sub(1)) % LANES
}

impl Owners {
    /// The home lane of `id`, if `id` owns it: the recording path's test. For
    /// [`crate::store::cells::lease::NO_ID`] it is `None`.
    #[inline(always)]
    pub(crate) fn at_home(&self, id: Id) -> Option<usize> {
        let home = home(id);
        // Relaxed: a thread only looks for its own claim, which it made itself, or a
        // claim of a previous holder of its lease, ordered before by the pool's mutex.
        (self.0[home].load(Ordering::Relaxed) == id).then_some(home)
    }

    /// The lane `id` owns, if any.
    pub(crate) fn find(&self, id: Id) -> Option<usize> {
        (0..LANES).find(|&lane| self.0[lane].load(Ordering::Relaxed) == id)
    }

    /// Claims a free lane for `id`, which owns none yet: its home if free, else the
    /// first free one; `None` when all are taken.
    pub(crate) fn claim(&self, id: Id) -> Option<usize> {
        let home = home(id);
        (0..LANES).map(|i| (home + i) % LANES).find(|&lane| {
            self.0[lane]
                .compare_exchange(0, id, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::cells::lease::{id_of, NO_ID};

    #[test]
    fn leases_claim_their_home_lane_first_then_any_free_one() {
        let owners = Owners::default();
        // 5 and 9 share home 1; 2 is at home; 4095 finds its home (3) free.
        for (lease, lane) in [(5, 1), (9, 2), (2, 3), (4095, 0)] {
            let id = id_of(lease);
            assert_eq!(owners.find(id), None);
            assert_eq!(owners.claim(id), Some(lane), "{lease}");
            assert_eq!(owners.find(id), Some(lane));
            let home = lane == lease % LANES;
            assert_eq!(owners.at_home(id), home.then_some(lane), "{lease}");
        }
        assert_eq!(owners.claim(id_of(1)), None);
        // Every owner still finds its own lane, and no one else's.
        for (lease, lane) in [(5, 1), (9, 2), (2, 3), (4095, 0)] {
            assert_eq!(owners.find(id_of(lease)), Some(lane));
        }
        for other in [0, 1, 3, 4, 6, 4094].map(id_of).into_iter().chain([NO_ID]) {
            assert_eq!(owners.find(other), None, "{other}");
            assert_eq!(owners.at_home(other), None, "{other}");
        }
    }

    #[test]
    fn racing_claims_take_distinct_lanes() {
        let owners = Owners::default();
        let lanes: Vec<Option<usize>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|lease| {
                    let owners = &owners;
                    s.spawn(move || owners.claim(id_of(lease)))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut taken: Vec<usize> = lanes.iter().flatten().copied().collect();
        taken.sort_unstable();
        assert_eq!(taken, [0, 1, 2, 3]);
        for (lease, lane) in lanes.iter().enumerate() {
            assert_eq!(owners.find(id_of(lease)), *lane);
        }
    }
}
