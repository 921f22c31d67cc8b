//! Names the expansion introduces cannot collide with the user's: a function whose
//! arguments, locals and items are named like every internal name still compiles and
//! records correctly.
#![allow(non_upper_case_globals, non_snake_case, clippy::let_and_return)]

mod common;

use keychain_metrics::{instrument_op, Metrics};

#[derive(Debug)]
struct E;

#[instrument_op(Get, backend = "hygiene", metrics = __km_metrics)]
fn collide(__km_metrics: &Metrics, __km_span: u32, __km_ret: u32) -> Result<u32, E> {
    static __KM_SITE: u32 = 1;
    let __km_inner = __km_span + __km_ret + __KM_SITE;
    let __km_e = __km_inner;
    let __km_outcome = __km_e;
    if __km_outcome == 0 {
        return Err(E);
    }
    Ok(__km_outcome)
}

#[instrument_op(Get, backend = "hygiene-async", metrics = __km_metrics)]
async fn collide_async(__km_metrics: &Metrics, __km_span: u32, __km_inner: u32) -> Result<u32, E> {
    let __km_ret = __km_span + __km_inner;
    Ok(__km_ret)
}

#[instrument_op(Get, backend = "hygiene-site")]
fn collide_site(__KM_SITE: u32) -> u32 {
    __KM_SITE
}

#[test]
fn user_names_like_the_internal_ones() {
    let m = Metrics::new();
    assert_eq!(collide(&m, 1, 2).unwrap(), 4);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(collide_async(&m, 1, 2)).unwrap(), 3);
    assert_eq!(collide_site(9), 9);
    let text = m.encode_text();
    assert_eq!(
        common::value(
            &text,
            "keychain_operations_total",
            &[("backend", "hygiene"), ("status", "success")]
        ),
        Some(1.0)
    );
    assert_eq!(
        common::value(
            &text,
            "keychain_operations_total",
            &[("backend", "hygiene-async"), ("status", "success")]
        ),
        Some(1.0)
    );
}
