//! The `tracing` side: entering a span makes its OpenTelemetry context the thread's
//! current [`TraceContext`], so observations inside it keep its trace id.

use std::cell::RefCell;

use opentelemetry::trace::TraceContextExt;
use tracing_core::span::Id;
use tracing_core::Subscriber;
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

use super::{replace, TraceContext};

/// A `tracing_subscriber` layer that follows the OpenTelemetry context of the entered
/// span: while a span whose context is sampled is entered, it is the thread's current
/// [`TraceContext`] and observations get its ids as exemplars; inside a span whose trace
/// is not sampled, none (its trace is not recorded, so an exemplar could not lead to it).
/// Without an OpenTelemetry context, the current one is left as it is.
///
/// It reads the context `tracing-opentelemetry` activates on entering a span (its
/// default), so add it *after* that layer:
///
/// ```
/// # use tracing_subscriber::layer::SubscriberExt;
/// use keychain_metrics::trace::ExemplarLayer;
///
/// # let tracer = opentelemetry::trace::noop::NoopTracer::new();
/// let subscriber = tracing_subscriber::registry()
///     .with(tracing_opentelemetry::layer().with_tracer(tracer))
///     .with(ExemplarLayer::new());
/// # drop(subscriber);
/// ```
///
/// A context set by hand or by a layer from `traceparent` is replaced while such a span
/// is entered and restored when it is left.
#[derive(Debug, Default, Clone, Copy)]
pub struct ExemplarLayer {
    _private: (),
}

impl ExemplarLayer {
    /// The layer.
    pub fn new() -> Self {
        ExemplarLayer::default()
    }
}

thread_local! {
    /// The entered spans of this thread, each with the context it replaced.
    static ENTERED: RefCell<Vec<(Id, Option<TraceContext>)>> = const { RefCell::new(Vec::new()) };
}

/// What the span context OpenTelemetry holds as current on this thread makes current:
/// its ids if sampled, nothing if not sampled; `None` (leave it) if there is none.
fn otel_current() -> Option<Option<TraceContext>> {
    opentelemetry::Context::map_current(|cx| {
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid().then(|| {
            sc.is_sampled()
                .then(|| TraceContext::new(sc.trace_id().to_bytes(), sc.span_id().to_bytes()))
                .flatten()
        })
    })
}

impl<S: Subscriber> Layer<S> for ExemplarLayer {
    fn on_enter(&self, id: &Id, _ctx: Context<'_, S>) {
        let previous = match otel_current() {
            Some(context) => replace(context),
            None => TraceContext::current(),
        };
        let _ = ENTERED.try_with(|e| {
            if let Ok(mut entered) = e.try_borrow_mut() {
                entered.push((id.clone(), previous));
            }
        });
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        let _ = ENTERED.try_with(|e| {
            if let Ok(mut entered) = e.try_borrow_mut() {
                // Spans are left in the order they were entered, but not always.
                if let Some(at) = entered.iter().rposition(|(entered, _)| entered == id) {
                    let (_, previous) = entered.remove(at);
                    if at == entered.len() {
                        replace(previous);
                    } else if let Some(next) = entered.get_mut(at) {
                        // A span entered later is still in: it restores what this one
                        // replaced.
                        next.1 = previous;
                    }
                }
            }
        });
    }
}
