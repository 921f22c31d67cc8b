//! The storages beyond a plain [`Family`]: the operations (two families in one cell
//! array), the in-flight gauge and the gauges moved by deltas. How each is read for a
//! scrape is in [`super::exposed`].

use std::sync::Arc;

use crate::contract::cardinality::LabelCap;
use crate::store::families::family::Family;
use crate::store::families::series::{CounterSeries, TimedSeries};

/// The operations: per (operation, backend), the status counts and the duration
/// histogram in one cell array, exposed as two families.
pub(crate) struct Operations(pub(crate) Family<TimedSeries, 2>);

impl Operations {
    pub(crate) fn new(caps: [Option<Arc<LabelCap>>; 2]) -> Self {
        Operations(Family::new(caps))
    }
}

impl std::ops::Deref for Operations {
    type Target = Family<TimedSeries, 2>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// The in-flight gauge: one delta-moved series per protocol, always exposed.
pub(crate) struct ProtocolGauges(pub(crate) Vec<CounterSeries>);

impl ProtocolGauges {
    /// Empty until the store creates the series, which needs the constant labels.
    pub(crate) fn new(_caps: [Option<Arc<LabelCap>>; 1]) -> Self {
        ProtocolGauges(Vec::new())
    }
}

/// Gauges moved by deltas, kept in a family (open TCP connections, by protocol).
pub(crate) struct DeltaGauges<const N: usize>(pub(crate) Family<CounterSeries, N>);

impl<const N: usize> DeltaGauges<N> {
    pub(crate) fn new(caps: [Option<Arc<LabelCap>>; N]) -> Self {
        DeltaGauges(Family::new(caps))
    }
}
