use keychain_metrics::instrument_op;

// A user operation is a label value in lower snake_case.
#[instrument_op("Unwrap-Key", backend = "pkcs11")]
fn unwrap() {}

#[instrument_op("", backend = "pkcs11")]
fn empty() {}

fn main() {}
