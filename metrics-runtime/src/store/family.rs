//! A metric family: the series of one metric, found by their label values.
//!
//! A lookup hashes the label values in place and compares them with the values each
//! series keeps: no key is built, nothing allocates. A hit takes the read lock only. A
//! miss admits the bounded labels through their caps and creates the series under the
//! write lock. Series are kept in creation order, which is the order of the exposition.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, PoisonError, RwLock};

use hashbrown::HashTable;

use crate::contract::cardinality::{clip, LabelCap};
use crate::store::series::Labelled;

struct Index<S> {
    /// Positions in `series`, hashed by label values.
    table: HashTable<usize>,
    series: Vec<Arc<S>>,
}

/// The series of one metric, keyed by `N` label values.
pub(crate) struct Family<S, const N: usize> {
    /// For each label position, the cap that bounds it, or `None` for closed sets.
    caps: [Option<Arc<LabelCap>>; N],
    hasher: foldhash::fast::RandomState,
    index: RwLock<Index<S>>,
}

impl<S: Labelled, const N: usize> Family<S, N> {
    pub(crate) fn new(caps: [Option<Arc<LabelCap>>; N]) -> Self {
        Family {
            caps,
            hasher: foldhash::fast::RandomState::default(),
            index: RwLock::new(Index {
                table: HashTable::new(),
                series: Vec::new(),
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

    fn find<'a>(index: &'a Index<S>, hash: u64, values: &[&str; N]) -> Option<&'a Arc<S>> {
        let eq = |&i: &usize| {
            let have = index.series[i].values();
            have.iter().zip(values).all(|(a, b)| **a == **b)
        };
        index.table.find(hash, eq).map(|&i| &index.series[i])
    }

    /// Runs `f` on the series of `values`, creating it with `make` (given the admitted
    /// values) if it does not exist. A hit runs `f` under the read lock, with no
    /// reference-count traffic.
    #[inline]
    pub(crate) fn with<R>(
        &self,
        values: [&str; N],
        make: impl FnOnce(&[&str; N]) -> S,
        f: impl FnOnce(&S) -> R,
    ) -> R {
        let values = values.map(clip);
        let hash = self.hash(values);
        {
            let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(series) = Self::find(&index, hash, &values) {
                return f(series);
            }
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
        {
            let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(series) = Self::find(&index, self.hash(admitted), &admitted) {
                return Arc::clone(series);
            }
        }
        for (value, cap) in admitted.iter_mut().zip(&self.caps) {
            if let Some(cap) = cap {
                *value = cap.admit(value);
            }
        }
        let hash = self.hash(admitted);
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(series) = Self::find(&index, hash, &admitted) {
            return Arc::clone(series);
        }
        let series = Arc::new(make(&admitted));
        let position = index.series.len();
        index.series.push(Arc::clone(&series));
        let Index { table, series: all } = &mut *index;
        table.insert_unique(hash, position, |&i| {
            self.hash(all[i].values().iter().map(|v| &**v))
        });
        series
    }

    /// Whether a series for `values` exists (never creates one).
    #[cfg(feature = "grpc")]
    pub(crate) fn contains(&self, values: [&str; N]) -> bool {
        let values = values.map(clip);
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        Self::find(&index, self.hash(values), &values).is_some()
    }

    /// Calls `f` with every series, in creation order, under the read lock.
    pub(crate) fn series<R>(&self, f: impl FnOnce(&[Arc<S>]) -> R) -> R {
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        f(&index.series)
    }
}
