//! The store's half of the family table ([`crate::contract::for_each_family!`]): one
//! field per declared storage, its construction with the caps the table names, and
//! the list of every family with what it takes to expose it.
//!
//! One [`family::Family`] holds the [`series`] of one metric; [`exposed`] reads every
//! storage for a scrape; [`storage`] has the storages beyond a plain family; [`exemplars`] keeps each bucket's latest traced observation.

pub(crate) mod exemplars;
pub(crate) mod exposed;
pub(crate) mod family;
pub(crate) mod series;
pub(crate) mod storage;

use std::sync::Arc;

use crate::contract::buckets::Buckets;
use crate::contract::cardinality::LabelCap;
use crate::contract::labels::Op;
use crate::contract::{for_each_family, Spec};
use crate::contract::{
    ACTIVE_CONNECTIONS, BACKEND_HEALTHY, CERTS, ERRORS, GRPC_CALLS, GRPC_DURATION, GRPC_RECEIVED,
    GRPC_REQUESTS, GRPC_SENT, HTTP_DURATION, HTTP_REQUESTS, HTTP_ROUTE_DURATION,
    HTTP_ROUTE_REQUESTS, KEYS, OPERATIONS, OPERATION_DURATION, TCP_ACCEPTED, TCP_OPEN,
};
use crate::store::families::exposed::Exposed;
use crate::store::families::family::Family;
use crate::store::families::series::{CounterSeries, GaugeSeries, TimedSeries};
use crate::store::families::storage::{DeltaGauges, Operations, ProtocolGauges};

/// The caps of the bounded labels, shared by every family that has the label.
pub(crate) struct Caps {
    pub(crate) operation: Arc<LabelCap>,
    pub(crate) backend: Arc<LabelCap>,
    pub(crate) error_type: Arc<LabelCap>,
    pub(crate) grpc_method: Arc<LabelCap>,
    pub(crate) route: Arc<LabelCap>,
}

impl Caps {
    pub(crate) fn new(limit: usize) -> Self {
        let cap = || Arc::new(LabelCap::new(limit));
        Caps {
            operation: Arc::new(LabelCap::with_exempt(limit, &Op::NAMES)),
            backend: cap(),
            error_type: cap(),
            grpc_method: cap(),
            route: cap(),
        }
    }
}

/// The bucket bounds of the instance, by the names the table uses.
pub(crate) struct BucketSets {
    pub(crate) operation: Buckets,
    pub(crate) http: Buckets,
    pub(crate) grpc: Buckets,
}

/// A storage and the families it is exposed as.
pub(crate) struct Listed<'a> {
    /// One spec per part the storage's samples belong to (two for operations).
    pub(crate) specs: &'static [&'static Spec],
    pub(crate) family: &'a dyn Exposed,
    /// For histograms, their bucket bounds.
    pub(crate) buckets: Option<&'a Buckets>,
}

/// The storage type of each `storage` word of the table, for `N` labels.
macro_rules! storage_type {
    (Operations, $n:expr) => { Operations };
    (Counter, $n:expr) => { Family<CounterSeries, { $n }> };
    (Histogram, $n:expr) => { Family<TimedSeries, { $n }> };
    (SetGauge, $n:expr) => { Family<GaugeSeries, { $n }> };
    (DeltaGauge, $n:expr) => { DeltaGauges<{ $n }> };
    (InFlight, $n:expr) => { ProtocolGauges };
}

macro_rules! cap {
    ($caps:ident, -) => {
        None
    };
    ($caps:ident, $name:ident) => {
        Some(Arc::clone(&$caps.$name))
    };
}

macro_rules! one {
    ($t:tt) => {
        1
    };
}

macro_rules! buckets_of {
    ($sets:ident) => {
        None
    };
    ($sets:ident, $name:ident) => {
        Some(&$sets.$name)
    };
}

macro_rules! families {
    ($(
        $field:ident : $storage:ident $(($buckets:ident))?, caps [$($cap:tt),*] => [
            $($spec:ident = ($suffix:literal, $kind:ident, $help:literal, [$($label:ident),*])),+ $(,)?
        ];
    )*) => {
        /// Every storage of the contract, one field per entry of the table.
        pub(crate) struct Families {
            $(pub(crate) $field: storage_type!($storage, 0 $(+ one!($cap))*),)*
        }

        impl Families {
            pub(crate) fn new(caps: &Caps) -> Self {
                Families {
                    $($field: <storage_type!($storage, 0 $(+ one!($cap))*)>::new([$(cap!(caps, $cap)),*]),)*
                }
            }

            /// Every storage with its families, in exposition order.
            pub(crate) fn listing<'a>(&'a self, sets: &'a BucketSets) -> impl Iterator<Item = Listed<'a>> {
                [$(
                    Listed {
                        specs: { static SPECS: &[&Spec] = &[$(&$spec),+]; SPECS },
                        family: &self.$field,
                        buckets: buckets_of!(sets $(, $buckets)?),
                    },
                )*]
                .into_iter()
            }
        }
    };
}
for_each_family!(families);
