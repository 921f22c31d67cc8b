//! Bounded label values: a cap on the distinct values one label may take.
//!
//! Backend names, error types and gRPC method paths are strings. A bug that puts a key id
//! into one of them, or a client that sends random paths, must not grow memory without
//! bound: the first `limit` distinct values are admitted, later ones (and any value longer
//! than [`MAX_LABEL_LEN`] bytes) are recorded under [`OVERFLOW`].

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

/// The label value that absorbs values past the cap.
pub const OVERFLOW: &str = "other";

/// Longest label value kept as given, in bytes; longer values become [`OVERFLOW`].
pub const MAX_LABEL_LEN: usize = 256;

/// Default cap on the distinct values of each bounded label.
pub const DEFAULT_MAX_LABEL_VALUES: usize = 200;

/// Admission control for the values of one label name.
pub(crate) struct LabelCap {
    limit: usize,
    /// Values always admitted and not counted (the built-in operations).
    exempt: &'static [&'static str],
    seen: Mutex<HashSet<Box<str>>>,
}

impl LabelCap {
    pub(crate) fn new(limit: usize) -> Self {
        LabelCap {
            limit,
            exempt: &[],
            seen: Mutex::new(HashSet::new()),
        }
    }

    /// A cap that admits `exempt` always, without counting them against `limit`.
    pub(crate) fn with_exempt(limit: usize, exempt: &'static [&'static str]) -> Self {
        LabelCap {
            exempt,
            ..LabelCap::new(limit)
        }
    }

    /// The value to record under: `value` itself if it is short enough and already
    /// admitted or there is room, [`OVERFLOW`] otherwise. Called only when a new series
    /// is about to be created, never on the recording fast path.
    pub(crate) fn admit<'a>(&self, value: &'a str) -> &'a str {
        if value == OVERFLOW || self.exempt.contains(&value) {
            return value;
        }
        if value.len() > MAX_LABEL_LEN {
            return OVERFLOW;
        }
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.contains(value) {
            return value;
        }
        if seen.len() < self.limit {
            seen.insert(value.into());
            return value;
        }
        OVERFLOW
    }
}

/// Folds an over-long value at once, so that a lookup key always fits its buffer.
#[inline]
pub(crate) fn clip(value: &str) -> &str {
    if value.len() > MAX_LABEL_LEN {
        OVERFLOW
    } else {
        value
    }
}
