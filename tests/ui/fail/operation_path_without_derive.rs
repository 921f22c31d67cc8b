use keychain_metrics::instrument_op;

enum KmsOp {
    Wrap,
}

// An enum that does not derive `Operation`, and a typo in a variant of one that does.
#[instrument_op(KmsOp::Wrap, backend = "pkcs11")]
fn wrap() {}

#[derive(keychain_metrics::Operation)]
enum Derived {
    Unwrap,
}

#[instrument_op(Derived::Unwarp, backend = "pkcs11")]
fn unwrap() {}

fn main() {
    let _ = Derived::Unwrap;
}
