//! Which trace an observation belongs to: the exemplars' source.
//!
//! A thread has at most one current [`TraceContext`]. Recording reads it (one
//! thread-local load); where it is set, the duration histograms and
//! `keychain_errors_total` keep the observation as an exemplar `{trace_id, span_id}` of
//! the bucket or counter it landed in, when the instance keeps exemplars
//! ([`MetricsBuilder::exemplars`](crate::MetricsBuilder::exemplars)). It is set:
//!
//! - by the HTTP and gRPC layers while they serve a request that carries a sampled W3C
//!   `traceparent` header and arrived without a current context: the layer's own
//!   histogram and every instrumented call polled inside the request get its trace id;
//! - by `ExemplarLayer` (feature `opentelemetry`) while a `tracing` span whose
//!   OpenTelemetry context is sampled is entered;
//! - by hand, with [`TraceContext::enter`] or [`TraceContext::scope`].
//!
//! ```
//! use keychain_metrics::trace::TraceContext;
//!
//! let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
//! let context = TraceContext::from_traceparent(header).expect("sampled");
//! assert_eq!(context.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! {
//!     let _entered = context.enter();
//!     assert_eq!(TraceContext::current(), Some(context));
//! }
//! assert_eq!(TraceContext::current(), None);
//! ```
//!
//! The context follows the thread, not the task: a future polled inside a request's
//! scope sees it, a task spawned from there does not (wrap it with
//! [`TraceContext::scope`]).

#[cfg(feature = "opentelemetry")]
mod otel;

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

#[cfg(feature = "opentelemetry")]
pub use otel::ExemplarLayer;

/// The name of the W3C trace-context request header.
pub const TRACEPARENT: &str = "traceparent";

/// A sampled trace and the span within it: what an exemplar names.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: [u8; 16],
    span_id: [u8; 8],
}

thread_local! {
    static CURRENT: Cell<Option<TraceContext>> = const { Cell::new(None) };
}

impl TraceContext {
    /// A context from its ids; `None` if either is all zeros (invalid in W3C trace
    /// context and OpenTelemetry alike).
    pub fn new(trace_id: [u8; 16], span_id: [u8; 8]) -> Option<Self> {
        (trace_id != [0; 16] && span_id != [0; 8]).then_some(TraceContext { trace_id, span_id })
    }

    /// The context of a W3C `traceparent` header value
    /// (`00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`), if it is well formed,
    /// valid and sampled (flag `01`). A later version's header is read by its first four
    /// fields, as the W3C recommendation asks; version `ff` is invalid.
    pub fn from_traceparent(header: &str) -> Option<Self> {
        let b = header.trim_matches([' ', '\t']).as_bytes();
        if b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        let version = hex_byte(&b[0..2])?;
        if version == 0xff || (version == 0 && b.len() != 55) || (b.len() > 55 && b[55] != b'-') {
            return None;
        }
        let flags = hex_byte(&b[53..55])?;
        if flags & 1 == 0 {
            return None;
        }
        let (mut trace_id, mut span_id) = ([0u8; 16], [0u8; 8]);
        if !decode_hex(&b[3..35], &mut trace_id) || !decode_hex(&b[36..52], &mut span_id) {
            return None;
        }
        TraceContext::new(trace_id, span_id)
    }

    /// The trace id.
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The span id.
    pub fn span_id(&self) -> [u8; 8] {
        self.span_id
    }

    /// The trace id in lower-case hex, as exemplars and trace UIs show it.
    pub fn trace_id_hex(&self) -> String {
        let mut out = String::with_capacity(32);
        push_hex(&mut out, &self.trace_id);
        out
    }

    /// The span id in lower-case hex.
    pub fn span_id_hex(&self) -> String {
        let mut out = String::with_capacity(16);
        push_hex(&mut out, &self.span_id);
        out
    }

    /// This thread's current context.
    #[inline]
    pub fn current() -> Option<TraceContext> {
        CURRENT.try_with(Cell::get).ok().flatten()
    }

    /// Whether this thread has a current context: the recording path's test, which
    /// copies nothing out.
    #[inline(always)]
    pub(crate) fn in_trace() -> bool {
        CURRENT.try_with(|c| c.get().is_some()).unwrap_or(false)
    }

    /// Makes this the thread's current context until the guard is dropped, which
    /// restores the one before.
    pub fn enter(self) -> Entered {
        Entered {
            previous: replace(Some(self)),
            _not_send: PhantomData,
        }
    }

    /// `future`, polled with this as the current context.
    pub fn scope<F: Future>(self, future: F) -> Scoped<F> {
        Scoped {
            context: Some(self),
            inner: future,
        }
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceContext")
            .field("trace_id", &self.trace_id_hex())
            .field("span_id", &self.span_id_hex())
            .finish()
    }
}

/// Sets the current context, returning the one before.
#[inline]
fn replace(context: Option<TraceContext>) -> Option<TraceContext> {
    CURRENT.try_with(|c| c.replace(context)).ok().flatten()
}

/// The guard of [`TraceContext::enter`].
#[must_use = "the context is current only while the guard lives"]
pub struct Entered {
    previous: Option<TraceContext>,
    /// The guard restores this thread's state: it must be dropped on the same thread.
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for Entered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entered").finish_non_exhaustive()
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        replace(self.previous);
    }
}

/// Enters `context` if there is one: what the layers do around each poll.
#[inline]
pub(crate) fn enter(context: Option<TraceContext>) -> Option<Entered> {
    context.map(TraceContext::enter)
}

pin_project_lite::pin_project! {
    /// A future polled with a context current; see [`TraceContext::scope`].
    #[derive(Debug)]
    pub struct Scoped<F> {
        context: Option<TraceContext>,
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = enter(*this.context);
        this.inner.poll(cx)
    }
}

/// Each byte's value as a lower-case hex digit, or 16 for any other byte (the
/// recommendation allows lower case only).
const HEX_VALUE: [u8; 256] = {
    let mut table = [16u8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    while i < 16 {
        table[b'a' as usize + i - 10] = i as u8;
        i += 1;
    }
    table
};

/// Fills `out` from twice as many hex digits; `false` if any is not one. A table and
/// one check at the end: a layer parses a `traceparent` on every traced request, and a
/// branch per digit made that 550 instructions.
fn decode_hex(digits: &[u8], out: &mut [u8]) -> bool {
    let mut seen = 0u8;
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let (high, low) = (
            HEX_VALUE[usize::from(pair[0])],
            HEX_VALUE[usize::from(pair[1])],
        );
        seen |= high | low;
        *byte = (high << 4) | (low & 15);
    }
    seen < 16 && digits.len() == 2 * out.len()
}

/// The byte of two lower-case hex digits, by the same table as the ids.
fn hex_byte(two: &[u8]) -> Option<u8> {
    let mut byte = [0u8];
    decode_hex(two, &mut byte).then_some(byte[0])
}

/// The lower-case hex digits of `bytes`, two per byte, as ASCII.
pub(crate) fn hex(bytes: &[u8]) -> impl Iterator<Item = u8> + '_ {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
}

pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    out.extend(hex(bytes).map(char::from));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_byte_that_is_not_a_lower_case_hex_digit_is_refused_in_either_id() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let ctx = TraceContext::from_traceparent(good).unwrap();
        assert_eq!(ctx.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ctx.span_id_hex(), "00f067aa0ba902b7");
        let positions = (3..35).chain(36..52);
        for at in positions {
            for bad in [b'A', b'F', b'g', b'G', b'-', b' ', b'/', b':', b'`', 0xff] {
                let mut header = good.as_bytes().to_vec();
                header[at] = bad;
                let header = String::from_utf8_lossy(&header);
                assert_eq!(TraceContext::from_traceparent(&header), None, "{header}");
            }
        }
    }

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_sampled_traceparent_gives_its_ids() {
        let c = TraceContext::from_traceparent(VALID).unwrap();
        assert_eq!(c.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(c.span_id_hex(), "00f067aa0ba902b7");
        assert_eq!(c.span_id(), [0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
    }

    #[test]
    fn unsampled_malformed_and_invalid_headers_give_none() {
        for bad in [
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", // not sampled
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01", // zero trace id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // zero span id
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // version ff
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", // upper case
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0B", // upper-case flags
            "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // upper-case version
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", // v00 with more
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", // misplaced dash
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",    // short
            "",
            "0é-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::from_traceparent(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_later_version_is_read_by_its_first_fields() {
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-whatever";
        let c = TraceContext::from_traceparent(later).unwrap();
        assert_eq!(c.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let glued = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03whatever";
        assert_eq!(TraceContext::from_traceparent(glued), None);
    }

    #[test]
    fn entering_nests_and_restores() {
        let a = TraceContext::new([1; 16], [1; 8]).unwrap();
        let b = TraceContext::new([2; 16], [2; 8]).unwrap();
        assert_eq!(TraceContext::current(), None);
        let outer = a.enter();
        {
            let _inner = b.enter();
            assert_eq!(TraceContext::current(), Some(b));
        }
        assert_eq!(TraceContext::current(), Some(a));
        drop(outer);
        assert_eq!(TraceContext::current(), None);
    }

    #[test]
    fn a_scoped_future_sees_its_context_only_while_polled() {
        let a = TraceContext::new([3; 16], [4; 8]).unwrap();
        let seen = poll_once(a.scope(async { TraceContext::current() }));
        assert_eq!(seen, Some(a));
        assert_eq!(TraceContext::current(), None);
    }

    /// Polls a future that never waits.
    fn poll_once<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the future waited"),
        }
    }
}
