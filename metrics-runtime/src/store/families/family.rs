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
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::contract::cardinality::{clip, LabelCap};
use crate::store::families::series::Labelled;

/// An open-addressing table of series, read without locks. Only the holder of the
/// family's write lock inserts, and a slot, once filled, never changes: a reader that
/// sees a slot's series (acquire) sees its hash too. When the table fills to half, the
/// writer publishes a table twice the size; old tables stay allocated until the family
/// drops, because a reader may still be probing one (together at most the size of the
/// newest, so no reclamation scheme is needed). A reader on an old table may miss a
/// series created since, and then finds it under the lock.
struct Table<S> {
    hashes: Box<[AtomicU64]>,
    series: Box<[AtomicPtr<S>]>,
}

impl<S> Table<S> {
    fn new(capacity: usize) -> Self {
        debug_assert!(capacity.is_power_of_two());
        Table {
            hashes: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            series: (0..capacity)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
        }
    }

    fn capacity(&self) -> usize {
        self.series.len()
    }

    /// The slots to probe for `hash`, in order.
    fn probe(&self, hash: u64) -> impl Iterator<Item = usize> {
        let mask = self.capacity() - 1;
        let start = hash as usize & mask;
        (0..self.capacity()).map(move |i| (start + i) & mask)
    }

    /// The series with `hash` that `eq` accepts. The pointer is to a series the family
    /// keeps alive as long as itself.
    fn find(&self, hash: u64, eq: impl Fn(&S) -> bool) -> Option<*const S> {
        for slot in self.probe(hash) {
            let series = self.series[slot].load(Ordering::Acquire);
            if series.is_null() {
                return None;
            }
            // SAFETY: a non-null slot points into an `Arc` that `Index::series` holds
            // until the family drops; see `Family::lookup`.
            if self.hashes[slot].load(Ordering::Relaxed) == hash && eq(unsafe { &*series }) {
                return Some(series);
            }
        }
        None
    }

    /// Every filled slot's hash and series: only under the family's write lock, when no
    /// slot is being filled.
    fn entries(&self) -> impl Iterator<Item = (u64, *const S)> + '_ {
        self.series
            .iter()
            .zip(&self.hashes)
            .filter_map(|(series, hash)| {
                let series = series.load(Ordering::Relaxed);
                (!series.is_null()).then(|| (hash.load(Ordering::Relaxed), series.cast_const()))
            })
    }

    /// Fills the first free slot for `hash`: only under the family's write lock, and
    /// only while at most half the slots are filled.
    fn insert(&self, hash: u64, series: *const S) {
        for slot in self.probe(hash) {
            if self.series[slot].load(Ordering::Relaxed).is_null() {
                self.hashes[slot].store(hash, Ordering::Relaxed);
                self.series[slot].store(series.cast_mut(), Ordering::Release);
                return;
            }
        }
        unreachable!("a table is never more than half full");
    }
}

/// What the write lock guards.
struct Index<S> {
    /// Every series, in creation order; owns them for the lock-free table.
    series: Vec<Arc<S>>,
    /// Every table published, the current one last. Boxed: readers hold pointers to
    /// them, which must not move when the vector grows.
    #[allow(clippy::vec_box)]
    tables: Vec<Box<Table<S>>>,
}

/// Slots of a family's first table.
const FIRST_TABLE: usize = 8;

/// The series of one metric, keyed by `N` label values.
pub(crate) struct Family<S, const N: usize> {
    /// For each label position, the cap that bounds it, or `None` for closed sets.
    caps: [Option<Arc<LabelCap>>; N],
    hasher: foldhash::fast::RandomState,
    /// The current table, one of `index.tables`.
    table: AtomicPtr<Table<S>>,
    index: RwLock<Index<S>>,
}

impl<S: Labelled, const N: usize> Family<S, N> {
    pub(crate) fn new(caps: [Option<Arc<LabelCap>>; N]) -> Self {
        let first = Box::new(Table::new(FIRST_TABLE));
        Family {
            caps,
            hasher: foldhash::fast::RandomState::default(),
            table: AtomicPtr::new(std::ptr::from_ref(&*first).cast_mut()),
            index: RwLock::new(Index {
                series: Vec::new(),
                tables: vec![first],
            }),
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
        // SAFETY: the table pointer is always one of `index.tables`, which are freed
        // only when the family drops; a series found in it is owned by
        // `index.series` for as long. Both outlive `&self`.
        let table = unsafe { &*self.table.load(Ordering::Acquire) };
        let series = table.find(hash, |s| Self::same(s, values))?;
        // SAFETY: see above.
        Some(unsafe { &*series })
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
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        // Under the lock the current table holds every series.
        if let Some(series) = self.lookup(hash, &admitted) {
            return Self::shared(series);
        }
        let Index {
            series: all,
            tables,
        } = &mut *index;
        let series = Arc::new(make(&admitted));
        all.push(Arc::clone(&series));
        let current = tables.last().expect("a family always has a table");
        if 2 * all.len() <= current.capacity() {
            current.insert(hash, Arc::as_ptr(&series));
        } else {
            // The hashes move with the series: no label value is hashed again.
            let bigger = Box::new(Table::new(2 * current.capacity()));
            for (hash, series) in current.entries() {
                bigger.insert(hash, series);
            }
            bigger.insert(hash, Arc::as_ptr(&series));
            let at = std::ptr::from_ref(&*bigger).cast_mut();
            tables.push(bigger);
            self.table.store(at, Ordering::Release);
        }
        series
    }

    /// Another `Arc` of a series found in the table.
    fn shared(series: &S) -> Arc<S> {
        let series = std::ptr::from_ref(series);
        // SAFETY: the tables hold `Arc::as_ptr` (the pointer `Arc::into_raw` gives) of
        // `Arc`s that `index.series` keeps alive for as long as the family, so the
        // count is at least one while we add ours.
        unsafe {
            Arc::increment_strong_count(series);
            Arc::from_raw(series)
        }
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
        let _index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        self.find(values).is_some()
    }

    /// Calls `f` with every series, in creation order, under the read lock.
    pub(crate) fn series<R>(&self, f: impl FnOnce(&[Arc<S>]) -> R) -> R {
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        f(&index.series)
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
        let index = family.index.read().unwrap();
        // 8, 16, …, 4096: at most half full.
        assert_eq!(index.tables.len(), 10);
        assert_eq!(index.tables.last().unwrap().capacity(), 4_096);
        drop(index);
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
