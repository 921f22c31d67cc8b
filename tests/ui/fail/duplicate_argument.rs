use keychain_metrics::instrument_op;

#[instrument_op(Generate, backend = "pkcs8", backend = "tpm2")]
fn generate() {}

fn main() {}
