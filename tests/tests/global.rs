//! The process-wide instance: installable once, before first use. (One test per
//! binary: the global instance is per process.)

use std::time::Duration;

use keychain_metrics::{Metrics, Op, Protocol, Status};

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
    // A guard of the global instance (the layers' in-flight count) holds it by a
    // 'static reference rather than a clone; it counts and uncounts the same.
    let grpc = r#"installed_active_connections{protocol="grpc"} "#;
    let guard = mine.track_connection_owned(Protocol::Grpc);
    drop(mine);
    assert!(Metrics::global()
        .encode_text()
        .contains(&format!("{grpc}1\n")));
    drop(guard);
    assert!(Metrics::global()
        .encode_text()
        .contains(&format!("{grpc}0\n")));
}
