//! A metric family: the series of one metric, found by their label values.
//!
//! Lookups build a key from the label values in a stack buffer and hash it once; a hit
//! takes the read lock only, and no lookup allocates. A miss admits the bounded labels
//! through their caps and creates the series under the write lock. Series are kept in
//! creation order, which is the order of the exposition.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use crate::cap::{clip, LabelCap, MAX_LABEL_LEN};

/// Most labels a family keys on.
const MAX_KEY_LABELS: usize = 3;
const KEY_CAP: usize = MAX_KEY_LABELS * (MAX_LABEL_LEN + 1);

/// Label values joined by `0xFF`, a byte that UTF-8 never contains.
struct Key {
    buf: [u8; KEY_CAP],
    len: usize,
}

impl Key {
    fn new(values: &[&str]) -> Self {
        debug_assert!(values.len() <= MAX_KEY_LABELS);
        let mut key = Key {
            buf: [0; KEY_CAP],
            len: 0,
        };
        for value in values {
            // `clip` bounds every value, so the buffer cannot overflow.
            let value = clip(value).as_bytes();
            key.buf[key.len..key.len + value.len()].copy_from_slice(value);
            key.buf[key.len + value.len()] = 0xFF;
            key.len += value.len() + 1;
        }
        key
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

struct Index<S> {
    by_key: HashMap<Box<[u8]>, usize, foldhash::fast::RandomState>,
    series: Vec<Arc<S>>,
}

/// The series of one metric, keyed by `N` label values.
pub(crate) struct Family<S, const N: usize> {
    /// For each label position, the cap that bounds it, or `None` for closed sets.
    caps: [Option<Arc<LabelCap>>; N],
    index: RwLock<Index<S>>,
}

impl<S, const N: usize> Family<S, N> {
    pub(crate) fn new(caps: [Option<Arc<LabelCap>>; N]) -> Self {
        const { assert!(N <= MAX_KEY_LABELS) };
        Family {
            caps,
            index: RwLock::new(Index {
                by_key: HashMap::default(),
                series: Vec::new(),
            }),
        }
    }

    fn find(&self, key: &Key) -> Option<Arc<S>> {
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        index
            .by_key
            .get(key.bytes())
            .map(|&i| Arc::clone(&index.series[i]))
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
        let key = Key::new(&values);
        {
            let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(&i) = index.by_key.get(key.bytes()) {
                return f(&index.series[i]);
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
        let key = Key::new(&values);
        if let Some(series) = self.find(&key) {
            return series;
        }
        let mut admitted = values;
        for (value, cap) in admitted.iter_mut().zip(&self.caps) {
            if let Some(cap) = cap {
                *value = cap.admit(value);
            }
        }
        let key = Key::new(&admitted);
        if let Some(series) = self.find(&key) {
            return series;
        }
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(&i) = index.by_key.get(key.bytes()) {
            return Arc::clone(&index.series[i]);
        }
        let series = Arc::new(make(&admitted));
        let position = index.series.len();
        index.series.push(Arc::clone(&series));
        index.by_key.insert(key.bytes().into(), position);
        series
    }

    /// Calls `f` with every series, in creation order, under the read lock.
    pub(crate) fn series<R>(&self, f: impl FnOnce(&[Arc<S>]) -> R) -> R {
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        f(&index.series)
    }
}

impl<const N: usize> Family<crate::series::CounterSeries, N> {
    /// Every counter's label values and current value, in creation order.
    pub(crate) fn snapshot_counters(&self) -> Vec<(crate::series::Values, u64)> {
        self.series(|all| all.iter().map(|s| (s.values.clone(), s.value())).collect())
    }
}
