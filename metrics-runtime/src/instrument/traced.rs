//! `span` in `#[instrument_op(…)]`: the call runs in a `tracing` span that carries the
//! metric's labels, `operation` and `backend` from the start, `status` and `error_type`
//! once the call ends, so logs, traces and metrics agree.

use super::Target;
use crate::contract::labels::Status;

/// A target whose calls run in a `tracing` span.
pub struct Traced<T: Target> {
    target: T,
    span: tracing::Span,
}

impl<T: Target> Traced<T> {
    /// `target` with the `span` its calls run in.
    #[inline]
    pub fn new(target: T, span: tracing::Span) -> Self {
        Traced { target, span }
    }
}

impl<T: Target> Target for Traced<T> {
    type Entered<'a>
        = tracing::span::Entered<'a>
    where
        Self: 'a;

    #[inline]
    fn enter(&self) -> tracing::span::Entered<'_> {
        self.span.enter()
    }

    fn labels(&self) -> (&str, &str) {
        self.target.labels()
    }

    #[inline]
    fn enabled(&self) -> bool {
        self.target.enabled()
    }

    #[inline]
    fn exemplars(&self) -> bool {
        self.target.exemplars()
    }

    fn record(&self, status: Status, nanos: u64, error_type: Option<&str>) {
        self.span.record("status", status.as_str());
        if let Some(e) = error_type {
            self.span.record("error_type", e);
        }
        // Recorded in the span, so that an exemplar names it; entering a span runs
        // every subscriber layer (hundreds of instructions), so only when one is kept.
        let _entered = self.target.exemplars().then(|| self.span.enter());
        self.target.record(status, nanos, error_type);
    }
}

/// The span of one call: named after the function, at `INFO`, in the caller's module.
#[doc(hidden)]
#[macro_export]
macro_rules! __km_traced {
    ($target:expr, $name:literal) => {{
        let target = $target;
        let (operation, backend) = $crate::__private::Target::labels(&target);
        let span = $crate::__private::tracing::info_span!(
            $name,
            operation,
            backend,
            status = $crate::__private::tracing::field::Empty,
            error_type = $crate::__private::tracing::field::Empty,
        );
        $crate::__private::Traced::new(target, span)
    }};
}
