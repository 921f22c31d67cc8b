//! A map of shared values read without a lock: the table under every family's series
//! and under the `metrics` recorder's handles.
//!
//! A lookup hashes in place and compares with what each entry keeps: nothing allocates
//! and nothing is written, so threads finding the same entry do not contend for a lock
//! word's cache line (a read lock's counter did: 65–220 ns per call on two threads). A
//! miss inserts under the write lock. Entries are never removed, which keeps the
//! lock-free table simple (see [`Table`]); they are kept in insertion order.

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

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
            // SAFETY: a non-null slot points into an `Arc` that `Index::entries` holds
            // until the map drops; see `Map::find`.
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

/// Slots of a map's first table.
const FIRST_TABLE: usize = 8;

/// Shared values found by a hash and an equality, without a lock.
pub(crate) struct Map<S> {
    /// The current table, one of `index.tables`.
    table: AtomicPtr<Table<S>>,
    index: RwLock<Index<S>>,
}

/// What the write lock guards.
struct Index<S> {
    /// Every entry, in insertion order; owns them for the lock-free table.
    entries: Vec<Arc<S>>,
    /// Every table published, the current one last. Boxed: readers hold pointers to
    /// them, which must not move when the vector grows.
    #[allow(clippy::vec_box)]
    tables: Vec<Box<Table<S>>>,
}

impl<S> Map<S> {
    pub(crate) fn new() -> Self {
        let first = Box::new(Table::new(FIRST_TABLE));
        Map {
            table: AtomicPtr::new(std::ptr::from_ref(&*first).cast_mut()),
            index: RwLock::new(Index {
                entries: Vec::new(),
                tables: vec![first],
            }),
        }
    }

    /// The entry with `hash` that `eq` accepts in the current table, without a lock
    /// (so possibly missing one inserted a moment ago).
    #[inline]
    pub(crate) fn find(&self, hash: u64, eq: impl Fn(&S) -> bool) -> Option<&S> {
        // SAFETY: the table pointer is always one of `index.tables`, which are freed
        // only when the map drops; an entry found in it is owned by `index.entries`
        // for as long. Both outlive `&self`.
        let table = unsafe { &*self.table.load(Ordering::Acquire) };
        let entry = table.find(hash, eq)?;
        // SAFETY: see above.
        Some(unsafe { &*entry })
    }

    /// Whether an entry exists, ordered after every insert by the lock.
    #[cfg(feature = "grpc")]
    pub(crate) fn find_locked(&self, hash: u64, eq: impl Fn(&S) -> bool) -> bool {
        let _index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        self.find(hash, eq).is_some()
    }

    /// The entry with `hash` that `eq` accepts, inserted from `make` under the write
    /// lock if there is none.
    pub(crate) fn get_or_insert(
        &self,
        hash: u64,
        eq: impl Fn(&S) -> bool,
        make: impl FnOnce() -> S,
    ) -> Arc<S> {
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        // Under the lock the current table holds every entry.
        if let Some(entry) = self.find(hash, &eq) {
            return Self::shared(entry);
        }
        let Index { entries, tables } = &mut *index;
        let entry = Arc::new(make());
        entries.push(Arc::clone(&entry));
        let current = tables.last().expect("a map always has a table");
        if 2 * entries.len() <= current.capacity() {
            current.insert(hash, Arc::as_ptr(&entry));
        } else {
            // The hashes move with the entries: nothing is hashed again.
            let bigger = Box::new(Table::new(2 * current.capacity()));
            for (hash, entry) in current.entries() {
                bigger.insert(hash, entry);
            }
            bigger.insert(hash, Arc::as_ptr(&entry));
            let at = std::ptr::from_ref(&*bigger).cast_mut();
            tables.push(bigger);
            self.table.store(at, Ordering::Release);
        }
        entry
    }

    /// Another `Arc` of an entry found in the table.
    pub(crate) fn shared(entry: &S) -> Arc<S> {
        let entry = std::ptr::from_ref(entry);
        // SAFETY: the tables hold `Arc::as_ptr` (the pointer `Arc::into_raw` gives) of
        // `Arc`s that `index.entries` keeps alive for as long as the map, so the
        // count is at least one while we add ours.
        unsafe {
            Arc::increment_strong_count(entry);
            Arc::from_raw(entry)
        }
    }

    /// Calls `f` with every entry, in insertion order, under the read lock.
    pub(crate) fn series<R>(&self, f: impl FnOnce(&[Arc<S>]) -> R) -> R {
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        f(&index.entries)
    }

    /// How many tables were published, and the current one's capacity.
    #[cfg(test)]
    pub(crate) fn capacities(&self) -> (usize, usize) {
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        let last = index.tables.last().map_or(0, |t| t.capacity());
        (index.tables.len(), last)
    }
}
