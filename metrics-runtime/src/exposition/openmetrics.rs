//! OpenMetrics 1.0 text: canonical floats (`le="1.0"`), counter families named without
//! the `_total` their samples carry, quotes escaped in HELP, `unknown` for metrics
//! without a type, and `# EOF` at the end.

use crate::contract::buckets::Buckets;
use crate::contract::Kind;
use crate::exposition::syntax::Syntax;
use crate::render;

/// OpenMetrics' spellings.
pub(crate) struct OpenMetrics;

impl Syntax for OpenMetrics {
    const CANONICAL_FLOATS: bool = true;
    const EXEMPLARS: bool = true;
    const CREATED_SAMPLES: bool = true;
    const UNTYPED: &'static str = "unknown";
    const COUNTERS_END_IN_TOTAL: bool = true;

    fn family_name(name: &str, kind: Kind) -> &str {
        match kind {
            Kind::Counter => name.strip_suffix("_total").unwrap_or(name),
            _ => name,
        }
    }

    fn push_help(out: &mut String, help: &str) {
        // The grammar treats HELP like a label value.
        render::push_help(out, help, true);
    }

    fn le(buckets: &Buckets) -> &[Box<str>] {
        buckets.le_openmetrics()
    }

    fn finish(out: &mut String) {
        out.push_str("# EOF\n");
    }
}
