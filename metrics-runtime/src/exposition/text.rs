//! The Prometheus text format 0.0.4: integral floats without a fraction (`le="1"`),
//! counters named with their `_total`, metrics without a type `untyped`.

use crate::contract::buckets::Buckets;
use crate::contract::Kind;
use crate::exposition::syntax::Syntax;
use crate::render;

/// The text format's spellings.
pub(crate) struct Text;

impl Syntax for Text {
    const CANONICAL_FLOATS: bool = false;
    const EXEMPLARS: bool = false;
    const CREATED_SAMPLES: bool = false;
    const UNTYPED: &'static str = "untyped";
    const COUNTERS_END_IN_TOTAL: bool = false;

    fn family_name(name: &str, _kind: Kind) -> &str {
        name
    }

    fn push_help(out: &mut String, help: &str) {
        render::push_help(out, help, false);
    }

    fn le(buckets: &Buckets) -> &[Box<str>] {
        buckets.le_text()
    }

    fn finish(_out: &mut String) {}
}
