//! The fast path: a literal backend records into `Metrics::global()` through a per-call-
//! site handle. Tests here share the global instance, so each uses its own backend name.

mod common;

use keychain_metrics::{instrument_op, Metrics};

fn ops(backend: &str, status: &str) -> f64 {
    common::value(
        &Metrics::global().encode_text(),
        "keychain_operations_total",
        &[("backend", backend), ("status", status)],
    )
    .unwrap_or(0.0)
}

#[instrument_op(Generate, backend = "global-sync")]
fn generate(fail: bool) -> Result<u32, std::io::Error> {
    if fail {
        return Err(std::io::ErrorKind::PermissionDenied.into());
    }
    Ok(7)
}

#[instrument_op(Sign, backend = "global-async")]
async fn sign(x: u8) -> u8 {
    x
}

#[test]
fn call_site_handle_records_into_the_global_instance() {
    for _ in 0..3 {
        generate(false).unwrap();
    }
    generate(true).unwrap_err();
    assert_eq!(ops("global-sync", "success"), 3.0);
    assert_eq!(ops("global-sync", "error"), 1.0);
    let text = Metrics::global().encode_text();
    assert_eq!(
        common::value(
            &text,
            "keychain_errors_total",
            &[
                ("backend", "global-sync"),
                ("error_type", "permission_denied")
            ]
        ),
        Some(1.0)
    );
}

#[test]
fn call_site_handle_from_many_threads() {
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                for i in 0..1000 {
                    assert_eq!(rt.block_on(sign(i as u8)), i as u8);
                }
            });
        }
    });
    assert_eq!(ops("global-async", "success"), 4000.0);
}
