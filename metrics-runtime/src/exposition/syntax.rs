//! [`Syntax`]: what the two text formats spell differently.

use crate::contract::buckets::Buckets;
use crate::contract::Kind;

/// What a text-based format spells its own way. The writer is generic over it, so
/// each format's choices are made at compile time.
pub(crate) trait Syntax {
    /// Whether floats always show a fraction (`1.0`) rather than none (`1`).
    const CANONICAL_FLOATS: bool;
    /// Whether samples carry exemplars (` # {trace_id="…"} value timestamp`).
    const EXEMPLARS: bool;
    /// Whether counters and histograms may carry `_created` samples (their start).
    const CREATED_SAMPLES: bool;
    /// The type name of a metric without one.
    const UNTYPED: &'static str;
    /// Whether a counter's samples must end in `_total` (the user's may not).
    const COUNTERS_END_IN_TOTAL: bool;
    /// The family name in `# HELP` / `# TYPE` of a family whose samples are `name`.
    fn family_name(name: &str, kind: Kind) -> &str;
    /// Appends a HELP text, escaped.
    fn push_help(out: &mut String, help: &str);
    /// The rendered `le` values of `buckets`, `+Inf` last.
    fn le(buckets: &Buckets) -> &[Box<str>];
    /// Writes what ends an exposition.
    fn finish(out: &mut String);
}
