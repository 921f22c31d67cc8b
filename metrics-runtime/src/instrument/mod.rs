//! The attribute's runtime half: support for the code `#[instrument_op]` generates,
//! exported as `__private`. Not a public API: names and signatures change without
//! notice.

pub(crate) mod clock;
#[cfg(feature = "tracing")]
mod traced;

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::contract::cardinality::{clip, OVERFLOW};
use crate::contract::labels::Status;
use crate::contract::operation::Operation;
use crate::{ErrorType, Metrics, OperationHandle};
use clock::nanos_since;
#[cfg(feature = "tracing")]
pub use traced::Traced;
#[cfg(feature = "tracing")]
pub use tracing;

/// Without the `tracing` feature, `span` in the attribute cannot open a span.
#[cfg(not(feature = "tracing"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __km_traced {
    ($target:expr, $name:literal) => {
        ::core::compile_error!(
            "`span` in #[instrument_op] opens a `tracing` span: enable the `tracing` \
             feature of keychain-metrics"
        )
    };
}

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
        for slot in &self.handles {
            let handle = match slot.get() {
                Some(handle) => handle,
                // A free slot: take it, unless another instance just did.
                None => slot.get_or_init(|| metrics.operation((self.op)(), self.backend)),
            };
            if handle.metrics().same(metrics) {
                return SiteTarget::Handle(handle);
            }
        }
        SiteTarget::Labels(Labels::new(metrics, (self.op)(), self.backend))
    }
}

/// What an [`InstanceSite`] records through: a remembered handle, or a lookup.
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
    fn record(&self, status: Status, nanos: u64, error_type: Option<&str>) {
        OperationHandle::record(self, status, Duration::from_nanos(nanos));
        if let Some(e) = error_type {
            self.record_error(e);
        }
    }
}

/// `metrics = …` or a non-literal `backend = …`: looked up per call. Both are copied at
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

/// How a call ended, as far as the metrics care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `Ok` or a non-`Result` value.
    Success,
    /// `Err`, with its label.
    Error(&'static str),
}

/// One instrumented call in progress. Records on [`Span::finish`]; dropped unfinished it
/// records a panic (while unwinding) or a cancellation (a dropped future).
pub struct Span<T: Target> {
    target: T,
    /// Clock reading at the start; `None` when recording was disabled at the start or
    /// the outcome is already recorded.
    start: Option<u64>,
}

impl<T: Target> Span<T> {
    /// Starts timing, unless recording is disabled (then the span does nothing at all).
    #[inline]
    pub fn start(target: T) -> Self {
        let start = target.enabled().then(clock::now);
        Span { target, start }
    }

    /// Enters the target's `tracing` span, if it has one, until the guard drops.
    #[inline]
    pub fn enter(&self) -> T::Entered<'_> {
        self.target.enter()
    }

    /// Records the outcome; `forced` (`error_type = "…"`) replaces an error's own label.
    #[inline]
    pub fn finish(&mut self, outcome: Outcome, forced: Option<&'static str>) {
        if let Some(start) = self.start.take() {
            let nanos = nanos_since(start);
            match outcome {
                Outcome::Success => self.target.record(Status::Success, nanos, None),
                Outcome::Error(label) => {
                    self.target
                        .record(Status::Error, nanos, Some(forced.unwrap_or(label)))
                }
            }
        }
    }

    /// Records a panic, if the span is still open.
    fn panicked(&mut self) {
        if let Some(start) = self.start.take() {
            let nanos = nanos_since(start);
            self.target.record(Status::Error, nanos, Some("panic"));
        }
    }
}

impl<T: Target> Drop for Span<T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(start) = self.start.take() {
            let nanos = nanos_since(start);
            if std::thread::panicking() {
                self.target.record(Status::Error, nanos, Some("panic"));
            } else {
                self.target.record(Status::Cancelled, nanos, None);
            }
        }
    }
}

/// Polls an instrumented body and records a panic while it unwinds out of `poll`: a
/// panicking future's state is dropped only later (if at all), when the span could no
/// longer tell a panic from a cancellation.
pub struct Guarded<'a, T: Target, F> {
    span: &'a mut Span<T>,
    inner: Pin<&'a mut F>,
}

impl<'a, T: Target, F: Future> Guarded<'a, T, F> {
    /// Wraps the pinned body.
    #[inline]
    pub fn new(span: &'a mut Span<T>, inner: Pin<&'a mut F>) -> Self {
        Guarded { span, inner }
    }
}

impl<T: Target, F: Future> Future for Guarded<'_, T, F> {
    type Output = F::Output;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        /// Dropped only while unwinding: the normal path forgets it.
        struct OnUnwind<'s, T: Target>(&'s mut Span<T>);
        impl<T: Target> Drop for OnUnwind<'_, T> {
            fn drop(&mut self) {
                self.0.panicked();
            }
        }
        let this = &mut *self;
        let on_unwind = OnUnwind(this.span);
        let entered = on_unwind.0.enter();
        let poll = this.inner.as_mut().poll(cx);
        drop(entered);
        std::mem::forget(on_unwind);
        poll
    }
}

/// Pins an async block's output type, so `?` inside it infers like in the function.
#[inline(always)]
pub fn typed_future<R, F: std::future::Future<Output = R>>(f: F) -> F {
    f
}

/// Runs a sync body. Called as `call::<R>(…)` with the function's return type, so the
/// closure's signature is known before its body is checked: `return`, `?` and the tail
/// coerce to `R` exactly as in the function.
#[inline(always)]
pub fn call<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// The error label of a type that is not a `Result`: never used, only named.
pub struct NoError;

impl ErrorType for NoError {
    fn error_type(&self) -> &'static str {
        "error"
    }
}

/// Chosen by method resolution for a `Result`: its error, if any. (Autoref
/// specialisation: this impl's receiver is `&Result`, the fallback's `&&T`.)
pub trait ResultKind<E> {
    /// The error, if this is an `Err`.
    fn __km_err(&self) -> Option<&E>;
}

impl<T, E> ResultKind<E> for Result<T, E> {
    #[inline(always)]
    fn __km_err(&self) -> Option<&E> {
        self.as_ref().err()
    }
}

/// The fallback for every other type: never an error.
pub trait OtherKind {
    /// Always `None`.
    fn __km_err(&self) -> Option<&NoError>;
}

impl<T: ?Sized> OtherKind for &T {
    #[inline(always)]
    fn __km_err(&self) -> Option<&NoError> {
        None
    }
}

/// Chosen for errors that implement [`ErrorType`].
pub trait LabelKind {
    /// The error's label.
    fn __km_label(&self) -> &'static str;
}

impl<E: ErrorType + ?Sized> LabelKind for &E {
    #[inline(always)]
    fn __km_label(&self) -> &'static str {
        (**self).error_type()
    }
}

/// The fallback for errors without [`ErrorType`]: `error`.
pub trait DefaultLabel {
    /// Always `error`.
    fn __km_label(&self) -> &'static str;
}

impl<E: ?Sized> DefaultLabel for &&E {
    #[inline(always)]
    fn __km_label(&self) -> &'static str {
        "error"
    }
}
