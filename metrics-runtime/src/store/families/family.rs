//! A metric family: the series of one metric, found by their label values.
//!
//! A lookup hashes the label values in place and compares them with the values each
//! series keeps: no key is built, nothing allocates, and nothing is written: the table
//! of series is read without a lock, so threads looking up the same series do not
//! contend for a lock word's cache line (a read lock's counter did: 65–220 ns per call
//! on two threads). A miss admits the bounded labels through their caps and creates the
//! series under the write lock. Series are never removed, which keeps the lock-free
//! table simple (see [`Table`]). They are kept in creation order, the order of the
//! exposition.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use crate::contract::cardinality::{clip, LabelCap};
use crate::store::families::series::Labelled;
use crate::store::families::table::Map;

/// The series of one metric, keyed by `N` label values.
pub(crate) struct Family<S, const N: usize> {
    /// For each label position, the cap that bounds it, or `None` for closed sets.
    caps: [Option<Arc<LabelCap>>; N],
    hasher: foldhash::fast::RandomState,
    map: Map<S>,
}

impl<S: Labelled, const N: usize> Family<S, N> {
    pub(crate) fn new(caps: [Option<Arc<LabelCap>>; N]) -> Self {
        Family {
            caps,
            hasher: foldhash::fast::RandomState::default(),
            map: Map::new(),
        }
    }

    fn hash<'v>(&self, values: impl IntoIterator<Item = &'v str>) -> u64 {
        let mut h = self.hasher.build_hasher();
        for value in values {
            h.write(value.as_bytes());
            // 0xFF never occurs in UTF-8: ("ab", "c") and ("a", "bc") hash apart.
            h.write_u8(0xFF);
        }
        h.finish()
    }

    fn same(series: &S, values: &[&str; N]) -> bool {
        let have = series.values();
        have.iter().zip(values).all(|(a, b)| **a == **b)
    }

    /// The series of `values` in the current table, without a lock.
    #[inline]
    fn lookup(&self, hash: u64, values: &[&str; N]) -> Option<&S> {
        self.map.find(hash, |s| Self::same(s, values))
    }

    /// Runs `f` on the series of `values`, creating it with `make` (given the admitted
    /// values) if it does not exist. A hit takes no lock and touches no reference count.
    #[inline]
    pub(crate) fn with<R>(
        &self,
        values: [&str; N],
        make: impl FnOnce(&[&str; N]) -> S,
        f: impl FnOnce(&S) -> R,
    ) -> R {
        let values = values.map(clip);
        if let Some(series) = self.lookup(self.hash(values), &values) {
            return f(series);
        }
        f(&self.get_or_create(values, make))
    }

    /// The series of `values`, created with `make` if needed (values past a cap fold).
    pub(crate) fn get_or_create(
        &self,
        values: [&str; N],
        make: impl FnOnce(&[&str; N]) -> S,
    ) -> Arc<S> {
        let mut admitted = values.map(clip);
        if let Some(series) = self.lookup(self.hash(admitted), &admitted) {
            return Self::shared(series);
        }
        for (value, cap) in admitted.iter_mut().zip(&self.caps) {
            if let Some(cap) = cap {
                *value = cap.admit(value);
            }
        }
        let hash = self.hash(admitted);
        self.map
            .get_or_insert(hash, |s| Self::same(s, &admitted), || make(&admitted))
    }

    /// Another `Arc` of a series found in the table.
    fn shared(series: &S) -> Arc<S> {
        Map::shared(series)
    }

    /// The series of `values` if it exists, found without a lock (so possibly missing
    /// one created a moment ago).
    #[cfg(feature = "grpc")]
    #[inline]
    pub(crate) fn find(&self, values: [&str; N]) -> Option<&S> {
        let values = values.map(clip);
        self.lookup(self.hash(values), &values)
    }

    /// Whether a series for `values` exists (never creates one).
    #[cfg(feature = "grpc")]
    pub(crate) fn contains(&self, values: [&str; N]) -> bool {
        if self.find(values).is_some() {
            return true;
        }
        // A reader may be on an older table; the lock orders it after every insert.
        let values = values.map(clip);
        self.map
            .find_locked(self.hash(values), |s| Self::same(s, &values))
    }

    /// Calls `f` with every series, in creation order, under the read lock.
    pub(crate) fn series<R>(&self, f: impl FnOnce(&[Arc<S>]) -> R) -> R {
        self.map.series(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::families::series::CounterSeries;

    fn family() -> Family<CounterSeries, 2> {
        Family::new([None, None])
    }

    fn make(v: &[&str; 2]) -> CounterSeries {
        CounterSeries::new(v, "".into())
    }

    #[test]
    fn racing_threads_create_each_series_once_and_find_it_while_tables_grow() {
        let family = family();
        let names: Vec<String> = (0..2_000).map(|i| format!("b{i}")).collect();
        std::thread::scope(|s| {
            for t in 0..4 {
                let (family, names) = (&family, &names);
                s.spawn(move || {
                    // Each thread walks the names from a different start, so creations
                    // race with lookups on tables that are being replaced.
                    for i in 0..names.len() {
                        let name = &names[(i + t * 500) % names.len()];
                        family.with(["op", name], make, |s| s.add(1));
                    }
                });
            }
        });
        family.series(|all| {
            assert_eq!(all.len(), 2_000);
            for s in all {
                assert_eq!(s.value(), 4, "{:?}", s.values);
            }
        });
        // 8, 16, …, 4096: at most half full.
        assert_eq!(family.map.capacities(), (10, 4_096));
        for name in &names {
            let found = family.with(["op", name], |_| unreachable!(), |s| s as *const _);
            let again = family.get_or_create(["op", name], |_| unreachable!());
            assert_eq!(found, Arc::as_ptr(&again));
        }
    }

    #[test]
    fn label_values_are_compared_not_only_hashed() {
        let family = family();
        family.with(["ab", "c"], make, |s| s.add(1));
        family.with(["a", "bc"], make, |s| s.add(2));
        assert_eq!(family.with(["ab", "c"], make, |s| s.value()), 1);
        assert_eq!(family.with(["a", "bc"], make, |s| s.value()), 2);
        family.series(|all| assert_eq!(all.len(), 2));
    }
}
