//! [`OperationHandle`]: one (operation, backend) pair, resolved once.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::contract::buckets::nanos;
use crate::contract::labels::Status;
use crate::contract::operation::Operation;
use crate::facade::Metrics;
use crate::store::families::series::{CounterSeries, TimedSeries};

/// Error series this handle remembers; a call site rarely fails in more ways.
const ERROR_SLOTS: usize = 4;

struct ErrorSlot {
    error_type: Box<str>,
    series: Arc<CounterSeries>,
}

/// A pre-resolved (operation, backend) series, from [`Metrics::operation`].
///
/// [`OperationHandle::record`] is a relaxed load of the enabled switch and a handful of
/// plain stores into this thread's cells: no hashing, no lock, no allocation, no shared
/// cache line. The `#[instrument_op]` attribute keeps one per call site in a `static`.
///
/// ```
/// use std::time::Duration;
/// use keychain_metrics::{Metrics, Op, Status};
///
/// let metrics = Metrics::new();
/// let sign = metrics.operation(Op::Sign, "pkcs11");
/// sign.record(Status::Success, Duration::from_micros(250));
/// sign.record(Status::Error, Duration::from_millis(2));
/// sign.record_error("key_not_found");
/// let text = metrics.encode_text();
/// assert!(text.contains(r#"keychain_errors_total{backend="pkcs11",error_type="key_not_found",operation="sign"} 1"#));
/// ```
pub struct OperationHandle {
    metrics: Metrics,
    series: Arc<TimedSeries>,
    /// The backend as admitted (possibly folded into `other`).
    backend: Box<str>,
    errors: [OnceLock<ErrorSlot>; ERROR_SLOTS],
}

impl fmt::Debug for OperationHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperationHandle")
            .field("operation", &self.operation())
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl OperationHandle {
    pub(crate) fn new(metrics: Metrics, series: Arc<TimedSeries>) -> Self {
        let backend = series.values[1].clone();
        OperationHandle {
            metrics,
            series,
            backend,
            errors: Default::default(),
        }
    }

    /// The operation label value as recorded: the operation given, or `other` if it
    /// was past the cap.
    pub fn operation(&self) -> &str {
        &self.series.values[0]
    }

    /// The backend label value as recorded: the name given, or `other` if it was past
    /// the cap or too long.
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// The instance this handle records into.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Records one completed operation with its outcome and duration.
    #[inline]
    pub fn record(&self, status: Status, duration: Duration) {
        let store = &*self.metrics.store;
        if store.enabled() {
            self.series
                .record(&store.buckets.operation, Some(status), nanos(duration));
        }
    }

    /// Counts one error of this operation under `error_type`. The handle remembers the
    /// series of the first few error types it sees, so repeated failures skip the lookup.
    #[inline]
    pub fn record_error(&self, error_type: &str) {
        let store = &*self.metrics.store;
        if !store.enabled() {
            return;
        }
        for slot in &self.errors {
            match slot.get() {
                Some(s) if same(&s.error_type, error_type) => return s.series.add_observed(1),
                Some(_) => continue,
                None => break,
            }
        }
        let series = store.error(self.operation(), &self.backend, error_type);
        series.add_observed(1);
        if let Some(free) = self.errors.iter().find(|s| s.get().is_none()) {
            // Losing this race to another thread only means one more lookup later.
            let _ = free.set(ErrorSlot {
                error_type: error_type.into(),
                series,
            });
        }
    }
}

impl Metrics {
    /// A pre-resolved handle for one (operation, backend) pair: recording through it
    /// touches only this thread's cells, with no hashing, locking or allocation.
    ///
    /// `op` is an [`Op`](crate::Op), a `&'static str` or an enum deriving
    /// [`Operation`](derive@crate::Operation); see [`Metrics::record_operation`].
    pub fn operation(&self, op: impl Into<Operation>, backend: &str) -> OperationHandle {
        OperationHandle::new(self.clone(), self.store.operation(op.into(), backend))
    }
}

/// String equality with a pointer shortcut: error types are usually the same literal.
#[inline]
fn same(a: &str, b: &str) -> bool {
    (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
}
