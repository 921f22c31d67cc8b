//! A service's own operations, given every way: a string literal, a derived enum, a
//! method's name on an instrumented impl block, a runtime string; and their cap.

mod common;

use std::time::Duration;

use keychain_metrics::{instrument_op, ErrorType, Metrics, Op, Operation, Status};

#[derive(Debug, ErrorType)]
enum HsmError {
    Locked,
}

#[derive(Debug, Clone, Copy, keychain_metrics::Operation)]
enum KmsOp {
    WrapKey,
    UnwrapKey,
    #[operation("rng")]
    Random,
    Sign,
}

fn lines(m: &Metrics, prefix: &str) -> Vec<String> {
    let mut found: Vec<String> = m
        .encode_text()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect();
    found.sort();
    found
}

fn ops(m: &Metrics) -> Vec<String> {
    lines(m, "keychain_operations_total{")
}

struct Hsm {
    metrics: Metrics,
}

impl Hsm {
    #[instrument_op("unwrap_key", backend = "pkcs11", metrics = self.metrics)]
    fn unwrap(&self, fail: bool) -> Result<u8, HsmError> {
        if fail {
            return Err(HsmError::Locked);
        }
        Ok(1)
    }

    #[instrument_op("sign", backend = "pkcs11", metrics = self.metrics)]
    fn sign_by_literal(&self) {}

    #[instrument_op(KmsOp::WrapKey, backend = "pkcs11", metrics = self.metrics)]
    async fn wrap(&self) -> Result<(), HsmError> {
        Ok(())
    }

    #[instrument_op(KmsOp::Random, backend = "pkcs11", metrics = self.metrics)]
    fn random(&self) -> u64 {
        4
    }
}

#[test]
fn literal_and_derived_operations_record_their_names() {
    let hsm = Hsm {
        metrics: Metrics::new(),
    };
    hsm.unwrap(false).unwrap();
    hsm.unwrap(true).unwrap_err();
    hsm.sign_by_literal();
    common::now(hsm.wrap()).unwrap();
    assert_eq!(hsm.random(), 4);
    assert_eq!(
        ops(&hsm.metrics),
        [
            r#"keychain_operations_total{backend="pkcs11",operation="rng",status="error"} 0"#,
            r#"keychain_operations_total{backend="pkcs11",operation="rng",status="success"} 1"#,
            r#"keychain_operations_total{backend="pkcs11",operation="sign",status="error"} 0"#,
            r#"keychain_operations_total{backend="pkcs11",operation="sign",status="success"} 1"#,
            r#"keychain_operations_total{backend="pkcs11",operation="unwrap_key",status="error"} 1"#,
            r#"keychain_operations_total{backend="pkcs11",operation="unwrap_key",status="success"} 1"#,
            r#"keychain_operations_total{backend="pkcs11",operation="wrap_key",status="error"} 0"#,
            r#"keychain_operations_total{backend="pkcs11",operation="wrap_key",status="success"} 1"#,
        ]
    );
    assert_eq!(
        lines(&hsm.metrics, "keychain_errors_total{"),
        [r#"keychain_errors_total{backend="pkcs11",error_type="locked",operation="unwrap_key"} 1"#]
    );
    assert!(hsm.metrics.encode_text().contains(
        r#"keychain_operation_duration_seconds_count{backend="pkcs11",operation="unwrap_key"} 2"#
    ));
}

#[test]
fn the_derive_maps_variants_and_built_in_spellings() {
    assert_eq!(Operation::from(KmsOp::WrapKey).as_str(), "wrap_key");
    assert_eq!(Operation::from(KmsOp::UnwrapKey).as_str(), "unwrap_key");
    assert_eq!(Operation::from(KmsOp::Random).as_str(), "rng");
    assert_eq!(Operation::from(KmsOp::Sign), Op::Sign);
    assert_eq!(Operation::from(&KmsOp::Sign), Op::Sign);
}

#[test]
fn the_global_fast_path_takes_user_operations() {
    #[instrument_op("attest", backend = "tpm2-global-test")]
    fn attest() -> u8 {
        7
    }
    #[instrument_op(KmsOp::UnwrapKey, backend = "tpm2-global-test")]
    fn unwrap() {}
    attest();
    attest();
    unwrap();
    let text = Metrics::global().encode_text();
    for line in [
        r#"keychain_operations_total{backend="tpm2-global-test",operation="attest",status="success"} 2"#,
        r#"keychain_operations_total{backend="tpm2-global-test",operation="unwrap_key",status="success"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line}");
    }
}

#[test]
fn runtime_strings_handles_and_errors() {
    let m = Metrics::new();
    let d = Duration::from_millis(2);
    m.record_operation("attest", "tpm2", Status::Success, d);
    m.record_operation("generate", "tpm2", Status::Success, d);
    m.record_operation(KmsOp::WrapKey, "tpm2", Status::Error, d);
    m.record_error(KmsOp::WrapKey, "tpm2", "locked");
    m.record_operation("Not A Label", "tpm2", Status::Success, d);
    let handle = m.operation("derive", "tpm2");
    handle.record(Status::Success, d);
    handle.record(Status::Error, d);
    handle.record_error("bad_input");
    assert_eq!(handle.operation(), "derive");
    assert_eq!(
        ops(&m),
        [
            r#"keychain_operations_total{backend="tpm2",operation="attest",status="error"} 0"#,
            r#"keychain_operations_total{backend="tpm2",operation="attest",status="success"} 1"#,
            r#"keychain_operations_total{backend="tpm2",operation="derive",status="error"} 1"#,
            r#"keychain_operations_total{backend="tpm2",operation="derive",status="success"} 1"#,
            r#"keychain_operations_total{backend="tpm2",operation="generate",status="error"} 0"#,
            r#"keychain_operations_total{backend="tpm2",operation="generate",status="success"} 1"#,
            r#"keychain_operations_total{backend="tpm2",operation="other",status="error"} 0"#,
            r#"keychain_operations_total{backend="tpm2",operation="other",status="success"} 1"#,
            r#"keychain_operations_total{backend="tpm2",operation="wrap_key",status="error"} 1"#,
            r#"keychain_operations_total{backend="tpm2",operation="wrap_key",status="success"} 0"#,
        ]
    );
    assert_eq!(
        lines(&m, "keychain_errors_total{"),
        [
            r#"keychain_errors_total{backend="tpm2",error_type="bad_input",operation="derive"} 1"#,
            r#"keychain_errors_total{backend="tpm2",error_type="locked",operation="wrap_key"} 1"#,
        ]
    );
}

#[test]
fn user_operations_are_capped_and_built_ins_always_admitted() {
    let m = Metrics::builder().max_label_values(2).build().unwrap();
    let d = Duration::from_millis(1);
    for op in ["op_a", "op_b", "op_c", "op_d"] {
        m.record_operation(op, "hsm", Status::Success, d);
    }
    for op in Op::ALL {
        m.record_operation(*op, "hsm", Status::Success, d);
    }
    let text = m.encode_text();
    let success = |op: &str| {
        text.lines()
            .find(|l| {
                l.starts_with(&format!(
                    r#"keychain_operations_total{{backend="hsm",operation="{op}",status="success"}}"#
                ))
            })
            .map(|l| l.rsplit(' ').next().unwrap_or("").to_owned())
    };
    assert_eq!(success("op_a").as_deref(), Some("1"));
    assert_eq!(success("op_b").as_deref(), Some("1"));
    assert_eq!(success("op_c"), None);
    assert_eq!(success("other").as_deref(), Some("2"));
    for op in Op::ALL {
        assert_eq!(success(op.as_str()).as_deref(), Some("1"), "{op}");
    }
}

/// A keystore instrumented as a whole.
struct Pkcs11 {
    metrics: Metrics,
    locked: bool,
}

#[instrument_op(backend = "pkcs11", metrics = self.metrics)]
impl Pkcs11 {
    // `sign` is the built-in Sign.
    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, HsmError> {
        if self.locked {
            return Err(HsmError::Locked);
        }
        Ok(data.to_vec())
    }

    // Any other name is an operation of its own.
    async fn unwrap_key(&self) -> Result<u8, HsmError> {
        Ok(3)
    }

    // Its own attribute replaces what it names and inherits the rest.
    #[instrument_op(Verify)]
    fn check(&self) -> bool {
        true
    }

    #[instrument_op("attest", backend = "tpm2")]
    fn quote(&self) -> u8 {
        9
    }

    #[instrument_op(skip)]
    fn helper(&self) -> u8 {
        1
    }

    const LIMIT: u8 = 3;
}

#[test]
fn a_whole_impl_is_instrumented_method_by_method() {
    let store = Pkcs11 {
        metrics: Metrics::new(),
        locked: false,
    };
    assert_eq!(store.sign(b"x").unwrap(), b"x");
    assert_eq!(common::now(store.unwrap_key()).unwrap(), 3);
    assert!(store.check());
    assert_eq!(store.quote(), 9);
    assert_eq!(store.helper() + Pkcs11::LIMIT, 4);
    let locked = Pkcs11 {
        metrics: store.metrics.clone(),
        locked: true,
    };
    locked.sign(b"x").unwrap_err();
    assert_eq!(
        ops(&store.metrics),
        [
            r#"keychain_operations_total{backend="pkcs11",operation="sign",status="error"} 1"#,
            r#"keychain_operations_total{backend="pkcs11",operation="sign",status="success"} 1"#,
            r#"keychain_operations_total{backend="pkcs11",operation="unwrap_key",status="error"} 0"#,
            r#"keychain_operations_total{backend="pkcs11",operation="unwrap_key",status="success"} 1"#,
            r#"keychain_operations_total{backend="pkcs11",operation="verify",status="error"} 0"#,
            r#"keychain_operations_total{backend="pkcs11",operation="verify",status="success"} 1"#,
            r#"keychain_operations_total{backend="tpm2",operation="attest",status="error"} 0"#,
            r#"keychain_operations_total{backend="tpm2",operation="attest",status="success"} 1"#,
        ]
    );
    assert!(!store.metrics.encode_text().contains("helper"));
}

#[async_trait::async_trait]
trait Keystore {
    async fn get(&self, id: &str) -> Result<String, HsmError>;
    async fn derive(&self) -> u8;
}

struct Before(Metrics);
struct After(Metrics);

// `#[async_trait]` first, then the block attribute: it sees rewritten methods.
#[async_trait::async_trait]
#[instrument_op(backend = "before", metrics = self.0)]
impl Keystore for Before {
    async fn get(&self, id: &str) -> Result<String, HsmError> {
        Ok(id.to_owned())
    }

    async fn derive(&self) -> u8 {
        5
    }
}

// The block attribute first: `#[async_trait]` rewrites the instrumented methods.
#[instrument_op(backend = "after", metrics = self.0)]
#[async_trait::async_trait]
impl Keystore for After {
    async fn get(&self, id: &str) -> Result<String, HsmError> {
        if id.is_empty() {
            return Err(HsmError::Locked);
        }
        Ok(id.to_owned())
    }

    async fn derive(&self) -> u8 {
        6
    }
}

#[test]
fn async_trait_impls_in_either_order() {
    let m = Metrics::new();
    let before = Before(m.clone());
    let after = After(m.clone());
    assert_eq!(common::now(before.get("k")).unwrap(), "k");
    assert_eq!(common::now(before.derive()), 5);
    assert_eq!(common::now(after.get("k")).unwrap(), "k");
    common::now(after.get("")).unwrap_err();
    assert_eq!(common::now(after.derive()), 6);
    assert_eq!(
        ops(&m),
        [
            r#"keychain_operations_total{backend="after",operation="derive",status="error"} 0"#,
            r#"keychain_operations_total{backend="after",operation="derive",status="success"} 1"#,
            r#"keychain_operations_total{backend="after",operation="get",status="error"} 1"#,
            r#"keychain_operations_total{backend="after",operation="get",status="success"} 1"#,
            r#"keychain_operations_total{backend="before",operation="derive",status="error"} 0"#,
            r#"keychain_operations_total{backend="before",operation="derive",status="success"} 1"#,
            r#"keychain_operations_total{backend="before",operation="get",status="error"} 0"#,
            r#"keychain_operations_total{backend="before",operation="get",status="success"} 1"#,
        ]
    );
}
