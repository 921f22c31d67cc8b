//! Where an instrumented call records: the [`Target`] a [`Span`](super::Span) records
//! into, and the call sites that resolve it (the global instance's handle, a remembered
//! instance's or (instance, backend) pair's handle, or a lookup by label values per
//! call).

use std::sync::OnceLock;
use std::time::Duration;

use crate::contract::cardinality::{clip, OVERFLOW};
use crate::contract::labels::Status;
use crate::contract::operation::Operation;
use crate::{Metrics, OperationHandle};

/// One call site with a literal backend, recording into [`Metrics::global`]: the handle
/// is resolved on the first call and kept in the site's `static`.
pub struct CallSite {
    /// The operation, computed on the first call (a derived enum's conversion is not
    /// `const`).
    op: fn() -> Operation,
    backend: &'static str,
    handle: OnceLock<OperationHandle>,
}

impl CallSite {
    /// A call site; nothing is resolved until the first call.
    pub const fn new(op: fn() -> Operation, backend: &'static str) -> Self {
        CallSite {
            op,
            backend,
            handle: OnceLock::new(),
        }
    }

    /// The site's handle, the target of its spans.
    #[inline]
    pub fn handle(&'static self) -> &'static OperationHandle {
        self.handle
            .get_or_init(|| Metrics::global().operation((self.op)(), self.backend))
    }
}

/// Instances an [`InstanceSite`] remembers.
const SITE_INSTANCES: usize = 4;

/// One call site with a literal backend and `metrics = expr`: the handle of each of the
/// first four instances seen there is kept in the site's `static`, so a
/// call compares the instance with the remembered ones instead of looking the series up
/// and copying the instance (a shared reference count that two threads would fight
/// over). A remembered instance stays alive for the rest of the process; calls with
/// further instances take the lookup path.
pub struct InstanceSite {
    op: fn() -> Operation,
    backend: &'static str,
    handles: [OnceLock<OperationHandle>; SITE_INSTANCES],
}

impl InstanceSite {
    /// A call site; nothing is resolved until the first call.
    pub const fn new(op: fn() -> Operation, backend: &'static str) -> Self {
        InstanceSite {
            op,
            backend,
            handles: [const { OnceLock::new() }; SITE_INSTANCES],
        }
    }

    /// The target of a span recording into `metrics`.
    #[inline]
    pub fn target(&'static self, metrics: &Metrics) -> SiteTarget {
        let make = || metrics.operation((self.op)(), self.backend);
        match remembered(&self.handles, make, |h| h.metrics().same(metrics)) {
            Some(handle) => SiteTarget::Handle(handle),
            None => SiteTarget::Labels(Labels::new(metrics, (self.op)(), self.backend)),
        }
    }
}

/// The first of a site's `slots` that `fits`, filling free slots with `make` on the way;
/// `None` once every slot holds something else. A slot another thread fills first is
/// checked like any other.
#[inline]
fn remembered<T>(
    slots: &'static [OnceLock<T>],
    make: impl Fn() -> T,
    fits: impl Fn(&T) -> bool,
) -> Option<&'static T> {
    slots
        .iter()
        .map(|slot| slot.get().unwrap_or_else(|| slot.get_or_init(&make)))
        .find(|value| fits(value))
}

/// (Instance, backend) pairs a [`BackendSite`] remembers.
const SITE_BACKENDS: usize = 8;

/// One call site whose backend is an expression (`backend = self.backend`), with or
/// without `metrics = expr`: the handle of each of the first eight (instance, backend)
/// pairs seen there is kept in the site's `static`, keyed by the backend as given, so a
/// call compares the instance and a short string instead of hashing the labels, looking
/// the series up and copying the instance (a shared reference count) every time. Further
/// pairs take the lookup path, so a backend computed from input cannot grow the site.
pub struct BackendSite {
    op: fn() -> Operation,
    handles: [OnceLock<(Box<str>, OperationHandle)>; SITE_BACKENDS],
}

impl BackendSite {
    /// A call site; nothing is resolved until the first call.
    pub const fn new(op: fn() -> Operation) -> Self {
        BackendSite {
            op,
            handles: [const { OnceLock::new() }; SITE_BACKENDS],
        }
    }

    /// The target of a span recording into `metrics` under `backend`.
    #[inline]
    pub fn target<B: AsRef<str> + ?Sized>(
        &'static self,
        metrics: &Metrics,
        backend: &B,
    ) -> SiteTarget {
        let backend = backend.as_ref();
        let make = || (backend.into(), metrics.operation((self.op)(), backend));
        let fits = |(key, handle): &(Box<str>, OperationHandle)| {
            **key == *backend && handle.metrics().same(metrics)
        };
        match remembered(&self.handles, make, fits) {
            Some((_, handle)) => SiteTarget::Handle(handle),
            None => SiteTarget::Labels(Labels::new(metrics, (self.op)(), backend)),
        }
    }
}

/// What an [`InstanceSite`] or a [`BackendSite`] records through: a remembered handle,
/// or a lookup.
pub enum SiteTarget {
    /// One of the site's handles.
    Handle(&'static OperationHandle),
    /// An instance the site does not remember.
    Labels(Labels),
}

impl Target for SiteTarget {
    type Entered<'a> = ();

    #[inline]
    fn enter(&self) {}

    fn labels(&self) -> (&str, &str) {
        match self {
            SiteTarget::Handle(h) => Target::labels(h),
            SiteTarget::Labels(l) => l.labels(),
        }
    }

    #[inline]
    fn enabled(&self) -> bool {
        match self {
            SiteTarget::Handle(h) => Target::enabled(h),
            SiteTarget::Labels(l) => l.enabled(),
        }
    }

    #[inline]
    fn exemplars(&self) -> bool {
        match self {
            SiteTarget::Handle(h) => Target::exemplars(h),
            SiteTarget::Labels(l) => l.exemplars(),
        }
    }

    #[inline]
    fn record(&self, status: Status, nanos: u64, error_type: Option<&str>) {
        match self {
            SiteTarget::Handle(h) => Target::record(h, status, nanos, error_type),
            SiteTarget::Labels(l) => l.record(status, nanos, error_type),
        }
    }
}

/// Where a span records.
pub trait Target {
    /// What [`Target::enter`] returns: `()` but for a `tracing` span's target.
    type Entered<'a>
    where
        Self: 'a;
    /// Entered while the body runs (each poll of an async body).
    fn enter(&self) -> Self::Entered<'_>;
    /// The operation and backend label values.
    fn labels(&self) -> (&str, &str);
    /// Whether to time this call at all.
    fn enabled(&self) -> bool;
    /// Whether the instance keeps exemplars (so a recording must know its trace).
    fn exemplars(&self) -> bool;
    /// Records the call.
    fn record(&self, status: Status, nanos: u64, error_type: Option<&str>);
}

/// A call site's handle: the fast path, a pointer wide.
impl Target for &'static OperationHandle {
    type Entered<'a> = ();

    #[inline]
    fn enter(&self) {}

    fn labels(&self) -> (&str, &str) {
        (self.operation(), self.backend())
    }

    #[inline]
    fn enabled(&self) -> bool {
        self.metrics().is_enabled()
    }

    #[inline]
    fn exemplars(&self) -> bool {
        self.metrics().store.exemplars
    }

    #[inline]
    fn record(&self, status: Status, nanos: u64, error_type: Option<&str>) {
        OperationHandle::record(self, status, Duration::from_nanos(nanos));
        if let Some(e) = error_type {
            self.record_error(e);
        }
    }
}

/// An instance or a backend that its site does not remember: looked up per call. Both are copied at
/// the start, so that no borrow of `self` outlives the start of the call; the instance
/// is `None` when recording was disabled then.
pub struct Labels {
    metrics: Option<Metrics>,
    op: Operation,
    backend: Backend,
}

impl Labels {
    /// An instance and label values.
    #[inline]
    pub fn new<B: AsRef<str> + ?Sized>(metrics: &Metrics, op: Operation, backend: &B) -> Self {
        Labels {
            metrics: metrics.is_enabled().then(|| metrics.clone()),
            op,
            backend: Backend::new(backend.as_ref()),
        }
    }
}

impl Target for Labels {
    type Entered<'a> = ();

    #[inline]
    fn enter(&self) {}

    fn labels(&self) -> (&str, &str) {
        (self.op.as_str(), self.backend.as_str())
    }

    #[inline]
    fn enabled(&self) -> bool {
        self.metrics.is_some()
    }

    #[inline]
    fn exemplars(&self) -> bool {
        self.metrics.as_ref().is_some_and(|m| m.store.exemplars)
    }

    fn record(&self, status: Status, nanos: u64, error_type: Option<&str>) {
        if let Some(metrics) = &self.metrics {
            let duration = Duration::from_nanos(nanos);
            let backend = self.backend.as_str();
            metrics.record_operation(self.op, backend, status, duration);
            if let Some(e) = error_type {
                metrics.record_error(self.op, backend, e);
            }
        }
    }
}

/// A backend name copied at the start of a call: inline when short (as backend names
/// are), on the heap otherwise, and `other` past the label length limit.
enum Backend {
    /// Up to [`INLINE`] bytes.
    Inline([u8; INLINE], u8),
    /// Longer names.
    Heap(Box<str>),
}

/// Longest backend name kept inline.
const INLINE: usize = 48;

impl Backend {
    fn new(name: &str) -> Self {
        let name = clip(name);
        match u8::try_from(name.len()) {
            Ok(len) if name.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..name.len()].copy_from_slice(name.as_bytes());
                Backend::Inline(bytes, len)
            }
            _ => Backend::Heap(name.into()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // A whole `&str` was copied, so this is valid UTF-8.
            Backend::Inline(bytes, len) => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or(OVERFLOW)
            }
            Backend::Heap(name) => name,
        }
    }
}
