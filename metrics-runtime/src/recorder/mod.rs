//! The `metrics` facade's recorder: `counter!`, `gauge!` and `histogram!`, from the
//! service or any crate it uses, recorded into this instance and served on every
//! format beside the contract.
//!
//! A registration (what each macro call does) finds its handle in a lock-free map keyed
//! by the facade's `Key` (its precomputed hash, then the name and labels compared): no
//! lock, no allocation, one reference count. A first registration names the family
//! (`contract::named`), admits the label set through the family's cap and caches the
//! handle; a label set past the cap is not cached, so hostile values cannot grow the
//! map. Recording is the store's: a counter's private lane, a histogram's stripe.

mod handles;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};

use crate::contract::named::own_labels;
use crate::contract::Kind;
use crate::facade::Metrics;
use crate::store::families::named::{Found, Named, NamedFamily, Stored};
use crate::store::families::series::CounterSeries;
use crate::store::families::table::Map;
use handles::{Folded, HistogramHandle};

/// A `metrics` facade recorder that records into a [`Metrics`] instance (feature
/// `recorder`). Get one from [`Metrics::recorder`]; install it with
/// [`Metrics::install_recorder`], or use it for one scope with
/// `metrics::with_local_recorder`.
///
/// ```
/// use keychain_metrics::Metrics;
///
/// let metrics = Metrics::new();
/// let recorder = metrics.recorder();
/// metrics::with_local_recorder(&recorder, || {
///     metrics::describe_histogram!("pkcs8.fsync", metrics::Unit::Seconds, "fsync of a key file.");
///     metrics::counter!("cache.hits", "cache" => "keys").increment(3);
///     metrics::gauge!("hsm.sessions").set(4.0);
///     metrics::histogram!("pkcs8.fsync").record(0.002);
/// });
/// let text = metrics.encode_text();
/// assert!(text.contains("cache_hits_total{cache=\"keys\"} 3\n"));
/// assert!(text.contains("hsm_sessions 4\n"));
/// assert!(text.contains("pkcs8_fsync_seconds_bucket{le=\"0.005\"} 1\n"));
/// ```
#[derive(Clone)]
pub struct MetricsRecorder {
    metrics: Metrics,
    cache: Arc<Cache>,
}

impl std::fmt::Debug for MetricsRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsRecorder").finish_non_exhaustive()
    }
}

/// A handle already registered under a key.
struct Cached<H> {
    key: Key,
    handle: H,
}

/// The handles registered so far, by key.
struct Cache {
    counters: Map<Cached<Counter>>,
    gauges: Map<Cached<Gauge>>,
    histograms: Map<Cached<Histogram>>,
}

/// A global `metrics` recorder was already installed (by
/// [`Metrics::install_recorder`] or another exporter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecorderInstalled;

impl std::fmt::Display for RecorderInstalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "a global `metrics` recorder is already installed; it can be set once per process",
        )
    }
}

impl std::error::Error for RecorderInstalled {}

impl Metrics {
    /// A `metrics` facade recorder for this instance (feature `recorder`): counters
    /// (exposed with `_total`), gauges and histograms, with their labels, in every
    /// format and in [`Metrics::registry`]'s `gather()`. Recorders of one instance
    /// share its families; each keeps its own cache of handles.
    pub fn recorder(&self) -> MetricsRecorder {
        let folded = format!("{}_recorder_folded_total", self.store.namespace);
        // Describing cannot fail before the first use.
        let _ = self.store.named.describe(
            &folded,
            Kind::Counter,
            None,
            "Recordings of metrics facade series folded into their name's overflow series \
             (label values `other`) because the name reached its cap on label sets.",
        );
        MetricsRecorder {
            metrics: self.clone(),
            cache: Arc::new(Cache {
                counters: Map::new(),
                gauges: Map::new(),
                histograms: Map::new(),
            }),
        }
    }

    /// Installs [`Metrics::recorder`] as the process's global `metrics` recorder, so
    /// every `counter!`, `gauge!` and `histogram!` lands here.
    pub fn install_recorder(&self) -> Result<(), RecorderInstalled> {
        metrics::set_global_recorder(self.recorder()).map_err(|_| RecorderInstalled)
    }
}

/// The Prometheus suffix of a unit the facade names: only seconds and bytes, the base
/// units; values are not converted, so other units add none.
fn suffix(unit: Option<Unit>) -> Option<&'static str> {
    match unit {
        Some(Unit::Seconds) => Some("seconds"),
        Some(Unit::Bytes) => Some("bytes"),
        _ => None,
    }
}

/// What a first registration found: the family and the series; for an overflow
/// series, `overflow` and the counter of its folded recordings (if that could be had).
struct Resolved<T> {
    family: Arc<NamedFamily>,
    series: Arc<Named<T>>,
    overflow: bool,
    folded: Option<Arc<Named<CounterSeries>>>,
}

impl MetricsRecorder {
    fn describe(&self, key: KeyName, kind: Kind, unit: Option<Unit>, help: SharedString) {
        let named = &self.metrics.store.named;
        if let Err(message) = named.describe(key.as_str(), kind, suffix(unit), &help) {
            eprintln!("keychain-metrics: metrics facade: {message}");
        }
    }

    /// The series of `key`, its family created (or refused) first.
    #[cold]
    #[inline(never)]
    fn resolve<T: Stored>(&self, key: &Key) -> Option<Resolved<T>> {
        let store = &self.metrics.store;
        let family = match store.named_family(key.name(), T::KIND) {
            Ok(family) => family,
            Err(refused) => {
                if refused.first {
                    eprintln!(
                        "keychain-metrics: metrics facade: refused: {}; its recordings are dropped",
                        refused.message
                    );
                }
                return None;
            }
        };
        let labels = key.labels().map(|l| (l.key(), l.value()));
        let own = own_labels(labels, T::KIND, &store.const_labels);
        let (series, overflow) = match family.series::<T>(&own, &store.const_labels)? {
            Found::Own(series) => (series, false),
            Found::Folded(series) => (series, true),
        };
        let folded = overflow.then(|| self.folded(&family.name)).flatten();
        Some(Resolved {
            family,
            series,
            overflow,
            folded,
        })
    }

    /// The series that counts the folded recordings of the family `name`.
    fn folded(&self, name: &str) -> Option<Arc<Named<CounterSeries>>> {
        let store = &self.metrics.store;
        let family = format!("{}_recorder_folded_total", store.namespace);
        let family = store.named_family(&family, Kind::Counter).ok()?;
        let own = own_labels(
            [("metric", name)].into_iter(),
            Kind::Counter,
            &store.const_labels,
        );
        match family.series::<CounterSeries>(&own, &store.const_labels)? {
            Found::Own(series) | Found::Folded(series) => Some(series),
        }
    }

    /// The handle of `key` in `map`: made by `make` from what a first registration
    /// found (`noop` when nothing), and cached if it is one of the family's own label
    /// sets; an overflow series' handle never is, so hostile values cannot grow the map.
    #[inline]
    fn handle<H: Clone, T: Stored>(
        &self,
        map: &Map<Cached<H>>,
        key: &Key,
        make: impl FnOnce(Resolved<T>) -> Option<H>,
        noop: fn() -> H,
    ) -> H {
        // Registered whether or not the instance records: a handle checks the switch
        // itself, so one kept from a disabled time records once recording resumes.
        let hash = key.get_hash();
        if let Some(cached) = map.find(hash, |c| c.key == *key) {
            return cached.handle.clone();
        }
        let Some(resolved) = self.resolve::<T>(key) else {
            return noop();
        };
        let overflow = resolved.overflow;
        let Some(handle) = make(resolved) else {
            return noop();
        };
        if overflow {
            return handle;
        }
        let cached = map.get_or_insert(
            hash,
            |c| c.key == *key,
            || Cached {
                key: key.clone(),
                handle,
            },
        );
        cached.handle.clone()
    }
}

impl metrics::Recorder for MetricsRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, Kind::Counter, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, Kind::Gauge, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, Kind::Histogram, unit, description);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let make = |r: Resolved<_>| {
            Some(match r.folded {
                None => Counter::from_arc(r.series),
                Some(folded) => Counter::from_arc(Arc::new(Folded {
                    handle: r.series,
                    folded,
                })),
            })
        };
        self.handle(&self.cache.counters, key, make, Counter::noop)
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let make = |r: Resolved<_>| {
            Some(match r.folded {
                None => Gauge::from_arc(r.series),
                Some(folded) => Gauge::from_arc(Arc::new(Folded {
                    handle: r.series,
                    folded,
                })),
            })
        };
        self.handle(&self.cache.gauges, key, make, Gauge::noop)
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let make = |r: Resolved<_>| {
            let handle = HistogramHandle::new(&r.family, r.series)?;
            Some(match r.folded {
                None => Histogram::from_arc(Arc::new(handle)),
                Some(folded) => Histogram::from_arc(Arc::new(Folded { handle, folded })),
            })
        };
        self.handle(&self.cache.histograms, key, make, Histogram::noop)
    }
}
