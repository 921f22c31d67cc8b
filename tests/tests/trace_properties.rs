//! `traceparent` as a hostile client sends it: any string is read without a panic, and
//! only a well-formed, sampled, non-zero header gives a context, whose ids are exactly the
//! header's and show up unchanged in an exemplar of a strictly parsed exposition.

mod common;

use keychain_metrics::trace::TraceContext;
use keychain_metrics::{Metrics, Op, Status};
use proptest::prelude::*;

/// Headers near the valid shape (hex of both cases, dashes, flags) and anything at all.
fn header() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-fA-F]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}",
        "00-[0-9a-f-]{30,34}-[0-9a-f]{14,18}-0[0-3]",
        "[ \t]{0,2}00-[0-9a-f]{32}-[0-9a-f]{16}-01(-[ -~]{0,20})?[ \t]{0,2}",
        any::<String>(),
    ]
}

/// What a correct reader gives for `h`, written from the W3C recommendation.
fn expected(h: &str) -> Option<(String, String)> {
    let h = h.trim_matches([' ', '\t']);
    let parts: Vec<&str> = h.split('-').collect();
    if parts.len() < 4 || parts[0].len() != 2 || parts[1].len() != 32 || parts[2].len() != 16 {
        return None;
    }
    let lower_hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let (version, trace, span) = (parts[0], parts[1], parts[2]);
    let flags = &parts[3][..parts[3].len().min(2)];
    let well_formed =
        [version, trace, span, flags].iter().all(|p| lower_hex(p)) && flags.len() == 2;
    let exact = parts.len() == 4 && parts[3].len() == 2;
    let later = version != "00" && parts[3].len() == 2;
    if !well_formed || version == "ff" || !(exact || later) {
        return None;
    }
    let sampled = u8::from_str_radix(flags, 16).ok()? & 1 == 1;
    let zero = |s: &str| s.bytes().all(|b| b == b'0');
    (sampled && !zero(trace) && !zero(span)).then(|| (trace.to_owned(), span.to_owned()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_header_is_read_as_the_recommendation_says(h in header()) {
        let got = TraceContext::from_traceparent(&h).map(|c| (c.trace_id_hex(), c.span_id_hex()));
        prop_assert_eq!(got, expected(&h), "{:?}", h);
    }

    #[test]
    fn a_context_read_from_a_header_is_the_exemplar_exposed(h in header()) {
        let Some(context) = TraceContext::from_traceparent(&h) else { return Ok(()) };
        let m = Metrics::builder().exemplars(true).build().unwrap();
        {
            let _entered = context.enter();
            m.record_operation(Op::Get, "pkcs8", Status::Success, std::time::Duration::from_millis(3));
        }
        let om = m.encode_openmetrics();
        let traces = common::exemplar_traces(&om, "keychain_operation_duration_seconds_bucket", &[]);
        prop_assert_eq!(traces, vec![context.trace_id_hex()]);
    }
}
