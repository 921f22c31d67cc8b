//! Connection guards: in-flight counts that always balance.

use std::fmt;

use crate::contract::labels::Protocol;
use crate::facade::Metrics;
use crate::store::families::series::CounterSeries;
use crate::store::Store;

impl Metrics {
    /// Counts a connection or request in flight until the guard drops:
    /// `keychain_active_connections{protocol}`. The guard borrows this instance; use
    /// [`Metrics::track_connection_owned`] to move it into a `'static` task.
    ///
    /// A guard created while recording is disabled does nothing; one created while it
    /// is enabled decrements on drop exactly once, whatever the switch did meanwhile.
    pub fn track_connection(&self, protocol: Protocol) -> ConnectionGuard<'_> {
        ConnectionGuard::new(&self.store, protocol)
    }

    /// Like [`Metrics::track_connection`], holding a clone of this instance.
    pub fn track_connection_owned(&self, protocol: Protocol) -> OwnedConnectionGuard {
        OwnedConnectionGuard::new(self, protocol)
    }
}

/// Counts one connection or request in flight for a protocol until dropped; from
/// [`Metrics::track_connection`].
///
/// The decision is made once, at creation: a guard made while recording is enabled
/// increments now and decrements on drop exactly once, even if recording was disabled
/// in between; a guard made while disabled does neither. So the gauge never drifts.
///
/// ```
/// use keychain_metrics::{Metrics, Protocol};
///
/// let metrics = Metrics::new();
/// {
///     let _conn = metrics.track_connection(Protocol::Quic);
///     assert!(metrics.encode_text().contains(r#"keychain_active_connections{protocol="quic"} 1"#));
/// }
/// assert!(metrics.encode_text().contains(r#"keychain_active_connections{protocol="quic"} 0"#));
/// ```
#[must_use = "the connection is counted only while the guard is alive"]
pub struct ConnectionGuard<'a> {
    series: Option<&'a CounterSeries>,
}

impl<'a> ConnectionGuard<'a> {
    pub(crate) fn new(store: &'a Store, protocol: Protocol) -> Self {
        let series = store
            .enabled()
            .then(|| &store.families.active.0[protocol.index()]);
        if let Some(series) = series {
            series.add(1);
        }
        ConnectionGuard { series }
    }
}

impl Drop for ConnectionGuard<'_> {
    fn drop(&mut self) {
        if let Some(series) = self.series {
            series.add(1u64.wrapping_neg());
        }
    }
}

impl fmt::Debug for ConnectionGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionGuard")
            .field("counted", &self.series.is_some())
            .finish()
    }
}

/// A [`ConnectionGuard`] that owns a clone of its [`Metrics`], for `'static` tasks;
/// from [`Metrics::track_connection_owned`]. Same balance guarantee.
///
/// For the [global instance](Metrics::global), which lives as long as the process, it
/// holds a `'static` reference instead of a clone: no shared reference count is touched
/// per request, a cache line every core would otherwise pass around.
#[must_use = "the connection is counted only while the guard is alive"]
pub struct OwnedConnectionGuard {
    counted: Counted,
    protocol: Protocol,
}

/// Whether a guard counts, and the instance it counts in.
enum Counted {
    No,
    Global(&'static Metrics),
    Held(Metrics),
}

impl OwnedConnectionGuard {
    pub(crate) fn new(metrics: &Metrics, protocol: Protocol) -> Self {
        let counted = match metrics.is_enabled() {
            false => Counted::No,
            true => match metrics.as_global() {
                Some(global) => Counted::Global(global),
                None => Counted::Held(metrics.clone()),
            },
        };
        let guard = OwnedConnectionGuard { counted, protocol };
        if let Some(m) = guard.metrics() {
            m.store.families.active.0[protocol.index()].add(1);
        }
        guard
    }

    /// The instance, if the guard counts (recording was enabled when it was made).
    pub(crate) fn metrics(&self) -> Option<&Metrics> {
        match &self.counted {
            Counted::No => None,
            Counted::Global(m) => Some(m),
            Counted::Held(m) => Some(m),
        }
    }

    /// The protocol this guard counts for.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }
}

impl Drop for OwnedConnectionGuard {
    fn drop(&mut self) {
        if let Some(m) = self.metrics() {
            m.store.families.active.0[self.protocol.index()].add(1u64.wrapping_neg());
        }
    }
}

impl fmt::Debug for OwnedConnectionGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedConnectionGuard")
            .field("protocol", &self.protocol)
            .field("counted", &self.metrics().is_some())
            .finish()
    }
}
