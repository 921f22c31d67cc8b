//! The attribute's runtime half: support for the code `#[instrument_op]` generates,
//! exported as `__private`. Not a public API: names and signatures change without
//! notice.

mod target;
#[cfg(feature = "tracing")]
mod traced;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::clock::{self, nanos_since};
use crate::contract::labels::Status;
use crate::ErrorType;
pub use target::{BackendSite, CallSite, InstanceSite, Labels, SiteTarget, Target};
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
