//! The store's half of the family table ([`crate::contract::for_each_family!`]): one
//! field per declared storage, its construction with the caps the table names, and
//! the list of every family with what it takes to expose it.
//!
//! One [`family::Family`] holds the [`series`] of one metric; [`exposed`] reads every
//! storage for a scrape; [`storage`] has the storages beyond a plain family; [`exemplars`] keeps each bucket's latest traced observation.

pub(crate) mod exemplars;
pub(crate) mod exposed;
pub(crate) mod family;
#[cfg(feature = "recorder")]
pub(crate) mod named;
pub(crate) mod series;
pub(crate) mod storage;
pub(crate) mod table;

use std::sync::Arc;

use crate::contract::buckets::Buckets;
use crate::contract::cardinality::LabelCap;
use crate::contract::labels::Op;
use crate::contract::{for_each_family, Kind, Spec};
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

/// What a family's header says: its name, type and help.
#[derive(Clone, Copy)]
pub(crate) struct Head<'a> {
    /// The name as written to scrapers that read legacy names only.
    pub(crate) name: &'a str,
    /// The name in UTF-8 when it is not a legacy one (the `metrics` facade's
    /// `http.requests_total`), for scrapers that negotiate another escaping.
    pub(crate) utf8: Option<&'a str>,
    pub(crate) kind: Kind,
    pub(crate) help: &'a str,
}

/// A storage and the families it is exposed as.
pub(crate) struct Listed<'a> {
    /// One spec per part the storage's samples belong to (two for operations); none
    /// for a family named at run time, whose samples carry their label names.
    pub(crate) specs: &'static [&'static Spec],
    /// The header of each part (the first `parts`).
    heads: [Head<'a>; 2],
    parts: usize,
    pub(crate) family: &'a dyn Exposed,
    /// For histograms, their bucket bounds.
    pub(crate) buckets: Option<&'a Buckets>,
}

impl<'a> Listed<'a> {
    /// A storage of the contract, its families' full names indexed by [`Spec::id`].
    fn contract(
        specs: &'static [&'static Spec],
        names: &'a [String],
        family: &'a dyn Exposed,
        buckets: Option<&'a Buckets>,
    ) -> Self {
        let head = |spec: &Spec| Head {
            name: &names[spec.id],
            utf8: None,
            kind: spec.kind,
            help: spec.help,
        };
        let parts = specs.len().min(2);
        Listed {
            specs,
            heads: [head(specs[0]), head(specs[parts - 1])],
            parts,
            family,
            buckets,
        }
    }

    /// One family named at run time.
    #[cfg(feature = "recorder")]
    pub(crate) fn named(
        head: Head<'a>,
        family: &'a dyn Exposed,
        buckets: Option<&'a Buckets>,
    ) -> Self {
        Listed {
            specs: &[],
            heads: [head; 2],
            parts: 1,
            family,
            buckets,
        }
    }

    /// The header of each family, in part order.
    pub(crate) fn heads(&self) -> &[Head<'a>] {
        &self.heads[..self.parts]
    }

    /// The part a sample belongs to, bounded by the parts there are.
    pub(crate) fn part(&self, sample_part: usize) -> usize {
        sample_part.min(self.parts - 1)
    }
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

            /// Every storage with its families, in exposition order; `names` are the
            /// full names, indexed by [`Spec::id`].
            pub(crate) fn listing<'a>(
                &'a self,
                sets: &'a BucketSets,
                names: &'a [String],
            ) -> impl Iterator<Item = Listed<'a>> {
                [$(
                    Listed::contract(
                        { static SPECS: &[&Spec] = &[$(&$spec),+]; SPECS },
                        names,
                        &self.$field,
                        buckets_of!(sets $(, $buckets)?),
                    ),
                )*]
                .into_iter()
            }
        }
    };
}
for_each_family!(families);
