//! The process-wide instance: installable once, before first use. (One test per
//! binary: the global instance is per process.)

use std::time::Duration;

use keychain_metrics::{Metrics, Op, Status};

#[test]
fn install_once_then_global_is_that_instance() {
    let mine = Metrics::builder().namespace("installed").build().unwrap();
    Metrics::install_global(mine.clone()).unwrap();
    Metrics::global().record_operation(Op::Backup, "pkcs8", Status::Success, Duration::ZERO);
    assert!(mine.encode_text().contains(
        r#"installed_operations_total{backend="pkcs8",operation="backup",status="success"} 1"#
    ));
    let err = Metrics::install_global(Metrics::new()).unwrap_err();
    assert!(err.to_string().contains("already initialised"));
    assert!(std::ptr::eq(Metrics::global(), Metrics::global()));
}
