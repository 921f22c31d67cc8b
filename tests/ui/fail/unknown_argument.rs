use keychain_metrics::instrument_op;

#[instrument_op(Generate, backend = "pkcs8", backnd = "x")]
fn generate() {}

fn main() {}
