use keychain_metrics::instrument_op;

#[instrument_op(Frobnicate, backend = "pkcs8")]
fn frobnicate() {}

fn main() {}
